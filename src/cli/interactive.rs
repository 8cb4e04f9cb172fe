//! The interactive store: the seed's welcome, question and REPL, reading a terminal or a pipe.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use actix::prelude::*;
use anyhow::Context as _;
use ringkv::actors::{Line, Repl, ReplAction};
use ringkv::direct::Direct;
use ringkv::Cluster;

use super::progress::Ticker;

use super::line_editor::{LineEditor, Read};
use super::{shutdown_signal, ClusterArgs};

/// The first line the store prints.
const WELCOME: &str = "Welcome to Consistent Hashing based Distributed Key-Value Store";

/// Runs the interactive store until `exit` or the end of input.
pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    args.prepare_security()?;
    let tty = std::io::stdin().is_terminal();
    say!("{WELCOME}");
    let Some(nodes) = node_count(args, tty)? else {
        say!("Exiting...");
        return Ok(());
    };
    args.warn_ignored()?;
    let resp = args.bind_resp()?;
    let http = args.bind_http()?;
    let system = System::new();
    let started = system.block_on(async {
        let config = args.config(nodes);
        let joining = !config.join.is_empty();
        let cluster = Cluster::start(config)?;
        for port in cluster.ports() {
            say!("Node listening on port {port}");
        }
        super::serve::connect(&cluster, joining).await?;
        args.start_resp(resp, cluster.gateway())?;
        let _http = args.start_http(http, &cluster)?;
        // On a terminal the line editor prints the prompt; from a pipe there is none.
        let editor = if tty {
            LineEditor::new(cluster.router())
        } else {
            None
        };
        let repl = Repl::new(cluster.router(), tty && editor.is_none()).start();
        // The progress line only where a person watches: stdin and stdout both a terminal.
        let watched = tty && std::io::stdout().is_terminal();
        let direct = watched.then(|| cluster.gateway().direct().clone());
        spawn_reader(repl, editor, direct, System::current());
        // SIGTERM or Ctrl-C end the session like `exit`: the logs are synced before the process ends.
        if let Ok(signal) = shutdown_signal() {
            actix_rt::spawn(async move {
                signal.await;
                say!("Exiting...");
                System::current().stop();
            });
        }
        Ok::<_, anyhow::Error>(cluster)
    });
    let cluster = started.context("cannot start the cluster")?;
    system.run().context("the actor system failed")?;
    cluster.close_storage();
    Ok(())
}

/// How many nodes to start: what the data directory holds (then the seed's question is not asked,
/// so a piped first command is not eaten as its answer), else `--nodes`, else the answer to the
/// question; `None` at the end of input.
fn node_count(args: &ClusterArgs, tty: bool) -> anyhow::Result<Option<usize>> {
    if let Some(n) = restored_nodes(args)? {
        return Ok(Some(n));
    }
    match args.nodes {
        Some(n) => Ok(Some(n as usize)),
        None => ask_nodes(tty),
    }
}

/// The number of nodes the data directory holds, if it holds a cluster: says `Restoring N nodes
/// from DIR`, and one warning line for a `--nodes` or `--base-port` that disagrees with it.
fn restored_nodes(args: &ClusterArgs) -> anyhow::Result<Option<usize>> {
    let (Some(dir), Some(n)) = (args.data_dir(), args.stored_nodes()?) else {
        return Ok(None);
    };
    say!("Restoring {n} nodes from {}", dir.display());
    let mut ignored = Vec::new();
    if let Some(asked) = args.nodes.filter(|&a| a as usize != n) {
        ignored.push(format!("--nodes {asked}"));
    }
    let ports = ringkv::persist::read_meta(&dir)?
        .map(|m| m.nodes.iter().map(|&(_, port)| port).collect::<Vec<_>>())
        .unwrap_or_default();
    let first = ports.iter().min().copied();
    if args.base_port != 0 && given("--base-port") && first != Some(args.base_port) {
        ignored.push(format!("--base-port {}", args.base_port));
    }
    if !ignored.is_empty() {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        eprintln!(
            "Warning: {} ignored: the data directory {} holds {n} nodes on ports {}, and those are restored",
            ignored.join(" and "),
            dir.display(),
            list.join(" ")
        );
    }
    Ok(Some(n))
}

/// Whether `flag` was given on the command line (clap cannot tell a default from a value given).
fn given(flag: &str) -> bool {
    std::env::args_os().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    })
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
/// one line at a time; stops the system on `exit` or at the end of input. With `direct` (on a
/// terminal), long `add-node`/`remove-node` moves show a progress line.
fn spawn_reader(
    repl: Addr<Repl>,
    mut editor: Option<LineEditor>,
    direct: Option<Arc<Direct>>,
    system: System,
) {
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
            let moves = matches!(
                line.split_whitespace().next(),
                Some("add-node" | "remove-node")
            );
            let ticker = direct.clone().filter(|_| moves).map(Ticker::start);
            let action = futures::executor::block_on(repl.send(Line(line)));
            if let Some(ticker) = ticker {
                ticker.stop();
            }
            match action {
                Ok(ReplAction::Continue) => {}
                Ok(ReplAction::Exit) | Err(_) => break,
            }
        }
        system.stop();
    });
}
