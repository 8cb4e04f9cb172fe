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
        println!("Serving; stop with Ctrl-C (SIGINT) or SIGTERM");
        wait_for_signal().await?;
        println!("Shutting down");
        if let Some(resp) = resp {
            resp.shutdown();
        }
        cluster.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
