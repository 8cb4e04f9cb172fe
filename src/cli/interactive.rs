//! The interactive store: the seed's welcome, question and REPL, reading a terminal or a pipe.

use std::io::{BufRead, IsTerminal, Write};

use actix::prelude::*;
use anyhow::Context as _;
use ringkv::actors::{Line, Repl, ReplAction};
use ringkv::Cluster;

use super::line_editor::{LineEditor, Read};
use super::{shutdown_signal, ClusterArgs};

/// The first line the store prints.
const WELCOME: &str = "Welcome to Consistent Hashing based Distributed Key-Value Store";

/// Runs the interactive store until `exit` or the end of input.
pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    args.prepare_security()?;
    let tty = std::io::stdin().is_terminal();
    say!("{WELCOME}");
    // The seed's question is asked even when a data directory holds a cluster, so a session
    // typed (or piped) as the seed shows works the same the second time; the answer must then
    // match what is stored (the cluster refuses a different count with a clear message).
    let stored = args.stored_nodes()?;
    let nodes = match args.nodes {
        Some(n) => n as usize,
        None => match ask_nodes(tty)? {
            Some(n) => n,
            None => {
                say!("Exiting...");
                return Ok(());
            }
        },
    };
    if let (Some(n), Some(dir)) = (stored, args.data_dir()) {
        if n == nodes {
            say!("Restoring {n} nodes from {}", dir.display());
        }
    }
    args.warn_ignored()?;
    let resp = args.bind_resp()?;
    let system = System::new();
    let started = system.block_on(async {
        let cluster = Cluster::start(args.config(nodes))?;
        for port in cluster.ports() {
            say!("Node listening on port {port}");
        }
        args.start_resp(resp, cluster.gateway())?;
        // On a terminal the line editor prints the prompt; from a pipe there is none.
        let editor = if tty {
            LineEditor::new(cluster.router())
        } else {
            None
        };
        let repl = Repl::new(cluster.router(), tty && editor.is_none()).start();
        spawn_reader(repl, editor, System::current());
        // SIGTERM or Ctrl-C end the session like `exit`: the logs are synced before the process ends.
        if let Ok(signal) = shutdown_signal() {
            actix_rt::spawn(async move {
                signal.await;
                say!("Exiting...");
                System::current().stop();
            });
        }
        Ok::<_, ringkv::Error>(cluster)
    });
    let cluster = started.context("cannot start the cluster")?;
    system.run().context("the actor system failed")?;
    cluster.close_storage();
    Ok(())
}

/// Asks the seed's question until a number from 1 to 1000 comes; `None` at the end of input.
fn ask_nodes(tty: bool) -> anyhow::Result<Option<usize>> {
    let stdin = std::io::stdin();
    loop {
        say_raw!("Enter number of nodes to start: ");
        if tty {
            say_raw!("> ");
        }
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            say!("");
            return Ok(None);
        }
        if !tty {
            say!("");
        }
        match line.trim().parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => return Ok(Some(n)),
            _ => say!(
                "Error: expected a number of nodes from 1 to 1000, got '{}'",
                line.trim()
            ),
        }
    }
}

/// Reads stdin on a dedicated thread (through the line editor on a terminal) and feeds the REPL
/// one line at a time; stops the system on `exit` or at the end of input.
fn spawn_reader(repl: Addr<Repl>, mut editor: Option<LineEditor>, system: System) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            let line = match editor.as_mut().map(LineEditor::read) {
                Some(Read::Line(line)) => line,
                Some(Read::End) => "exit".to_owned(),
                None => match lines.next() {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => {
                        say!("Error: cannot read input: {e}");
                        continue;
                    }
                    None => "exit".to_owned(),
                },
            };
            match futures::executor::block_on(repl.send(Line(line))) {
                Ok(ReplAction::Continue) => {}
                Ok(ReplAction::Exit) | Err(_) => break,
            }
        }
        system.stop();
    });
}
