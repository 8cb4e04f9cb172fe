//! `ringkv serve`: the cluster without a REPL, until SIGINT or SIGTERM.

use actix::prelude::*;
use anyhow::Context as _;
use ringkv::Cluster;

use super::ClusterArgs;

/// Starts the cluster, prints each node's port, and waits for a signal to shut down cleanly.
pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    let nodes = args.nodes_or(Some(3))?.unwrap_or(3);
    let resp = args.bind_resp()?;
    let system = System::new();
    system.block_on(async {
        let cluster = Cluster::start(args.config(nodes)).context("cannot start the cluster")?;
        for port in cluster.ports() {
            println!("Node listening on port {port}");
        }
        let resp = args.start_resp(resp, cluster.router())?;
        // Listen for the signals before saying so: a SIGTERM right after the line must be clean.
        let signal = shutdown_signal()?;
        println!("Serving; stop with Ctrl-C (SIGINT) or SIGTERM");
        signal.await;
        println!("Shutting down");
        if let Some(resp) = resp {
            resp.shutdown();
        }
        cluster.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Registers for SIGINT and SIGTERM now; the future ends when one arrives.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Ctrl-C; the future ends when it arrives.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
