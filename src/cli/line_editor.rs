//! The REPL on a terminal: line editing, history across sessions and Tab completion of command
//! words and node ports, with rustyline. From a pipe the plain line reader is used instead, so
//! piped output stays byte for byte what it was (no prompts, no escape codes).
//!
//! History lives in `$RINGKV_HISTORY`, else `$HOME/.ringkv_history`; a file that cannot be read
//! or written only loses the history, never the session.

use std::path::PathBuf;

use actix::Addr;
use ringkv::actors::{Exec, Router};
use ringkv::{Request, Response};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor, Helper, Highlighter, Hinter, Validator};

/// The REPL's command words, for completion.
const WORDS: &[&str] = &[
    "status",
    "get",
    "update",
    "ring",
    "add-node",
    "remove-node",
    "kill-node",
    "pause-node",
    "hot-keys",
    "help",
    "exit",
];
/// The commands whose first argument is a node's port.
const PORT_WORDS: &[&str] = &["remove-node", "kill-node", "pause-node"];

/// Completes command words, and node ports after the commands that take one.
#[derive(Helper, Highlighter, Hinter, Validator)]
pub struct Completion {
    router: Addr<Router>,
}

impl Completion {
    /// The ports of the cluster's nodes now (asked of the Router when Tab is pressed).
    fn ports(&self) -> Vec<String> {
        let asked = futures::executor::block_on(self.router.send(Exec(Request::Ring)));
        match asked {
            Ok(Response::Ring(report)) => report.nodes.iter().map(|n| n.port.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let earlier: Vec<&str> = before[..start].split_whitespace().collect();
        let candidates: Vec<String> = match earlier.as_slice() {
            [] => WORDS.iter().map(|w| format!("{w} ")).collect(),
            [command] if PORT_WORDS.contains(command) => self.ports(),
            _ => Vec::new(),
        };
        let matching = candidates.into_iter().filter(|c| c.starts_with(word));
        Ok((start, matching.collect()))
    }
}

/// A line editor on the terminal, with the history loaded.
pub struct LineEditor {
    editor: Editor<Completion, DefaultHistory>,
    history: Option<PathBuf>,
}

/// What the user did at the prompt.
pub enum Read {
    /// A line.
    Line(String),
    /// Ctrl-D, Ctrl-C or a terminal that went away: leave.
    End,
}

impl LineEditor {
    /// An editor completing with the cluster behind `router`; `None` if the terminal cannot
    /// be driven (the plain reader is used then).
    pub fn new(router: Addr<Router>) -> Option<LineEditor> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .build();
        let mut editor = Editor::with_config(config).ok()?;
        editor.set_helper(Some(Completion { router }));
        let history = history_file();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        Some(LineEditor { editor, history })
    }

    /// Reads one line after the prompt `> `, and keeps it in the history.
    pub fn read(&mut self) -> Read {
        match self.editor.readline("> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                    self.save();
                }
                Read::Line(line)
            }
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => Read::End,
            Err(e) => {
                say!("Error: cannot read input: {e}");
                Read::End
            }
        }
    }

    fn save(&mut self) {
        if let Some(path) = &self.history {
            let _ = self.editor.save_history(path);
        }
    }
}

fn history_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RINGKV_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ringkv_history"))
}
