//! `Repl`: turns one text line into a typed request, sends it to the Router, prints the answer.
//!
//! Lines come from a dedicated stdin thread (never read inside an actor), one at a time: the thread
//! waits for each line's [`ReplAction`] before reading the next, so answers and prompts never mix.

use std::io::Write;

use actix::prelude::*;

use super::{Exec, Router};
use crate::command::{parse, Command, HELP};
use crate::error::Error;
use crate::protocol::Request;
use crate::render::{render, render_answer};
use crate::status_all::status_all;

/// One line the user typed.
#[derive(Message)]
#[rtype(result = "ReplAction")]
pub struct Line(pub String);

/// What the line reader does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub enum ReplAction {
    /// Read the next line.
    Continue,
    /// Stop reading: the user said `exit`.
    Exit,
}

/// The interactive front door.
pub struct Repl {
    router: Addr<Router>,
    prompt: bool,
}

impl Repl {
    /// A REPL talking to `router`; with `prompt`, it prints `> ` before each line.
    pub fn new(router: Addr<Router>, prompt: bool) -> Self {
        Repl { router, prompt }
    }

    fn print(&self, text: &str) {
        crate::progress::clear();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        if self.prompt {
            let _ = write!(out, "> ");
        }
        let _ = out.flush();
    }

    /// `status --all`: prints each page as it arrives, then the prompt.
    fn status_all(&self) -> ResponseActFuture<Self, ReplAction> {
        let router = self.router.clone();
        let ask = move |request| {
            let sent = router.send(Exec(request));
            async move { sent.await.map_err(|_| Error::Shutdown) }
        };
        let emit = |text: &str| {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        };
        let walk = async move { status_all(ask, emit).await };
        Box::pin(fut::wrap_future(walk).map(|result, act: &mut Repl, _| {
            match result {
                Ok(()) => act.print_prompt(),
                Err(e) => act.print(&format!("Error: {e}")),
            }
            ReplAction::Continue
        }))
    }

    fn print_prompt(&self) {
        if self.prompt {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "> ");
            let _ = out.flush();
        }
    }
}

impl Actor for Repl {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if self.prompt {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "> ");
            let _ = out.flush();
        }
    }
}

impl Handler<Line> for Repl {
    type Result = ResponseActFuture<Self, ReplAction>;

    fn handle(&mut self, Line(line): Line, _: &mut Context<Self>) -> Self::Result {
        let request = match parse(&line) {
            Ok(None) => {
                if self.prompt {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "> ");
                    let _ = out.flush();
                }
                return Box::pin(fut::ready(ReplAction::Continue));
            }
            Ok(Some(Command::Exit)) => {
                let _ = writeln!(std::io::stdout(), "Exiting...");
                return Box::pin(fut::ready(ReplAction::Exit));
            }
            Ok(Some(Command::Help)) => {
                self.print(HELP);
                return Box::pin(fut::ready(ReplAction::Continue));
            }
            Ok(Some(Command::StatusAll)) => return self.status_all(),
            Ok(Some(Command::Request(request))) => request,
            Err(e) => {
                self.print(&format!("Error: {e}"));
                return Box::pin(fut::ready(ReplAction::Continue));
            }
        };
        // Kept to name a node removed by address as the user named it (small: no key, no data).
        let asked = matches!(request, Request::RemoveNodeAt { .. }).then(|| request.clone());
        let sent = self.router.send(Exec(request));
        Box::pin(
            fut::wrap_future(sent).map(move |answer, act: &mut Repl, _| {
                match answer {
                    Ok(response) => act.print(&match &asked {
                        Some(request) => render_answer(request, &response),
                        None => render(&response),
                    }),
                    Err(_) => act.print("Error: the cluster is shut down"),
                }
                ReplAction::Continue
            }),
        )
    }
}
