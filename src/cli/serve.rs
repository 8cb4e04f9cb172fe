//! `ringkv serve`: the cluster without a REPL, until SIGINT or SIGTERM.

use actix::prelude::*;
use anyhow::Context as _;
use ringkv::Cluster;

use super::{shutdown_signal, ClusterArgs};

/// Starts the cluster, prints each node's port, and waits for a signal to shut down cleanly.
pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    args.prepare_security()?;
    let nodes = args.nodes_or(Some(3))?.unwrap_or(3);
    args.warn_ignored()?;
    let resp = args.bind_resp()?;
    let system = System::new();
    system.block_on(async {
        // Listen for the signals before anything is announced: a SIGTERM sent as soon as the
        // first port is printed must still shut down cleanly.
        let signal = shutdown_signal()?;
        let cluster = Cluster::start(args.config(nodes)).context("cannot start the cluster")?;
        for port in cluster.ports() {
            say!("Node listening on port {port}");
        }
        let resp = args.start_resp(resp, cluster.gateway())?;
        say!("Serving; stop with Ctrl-C (SIGINT) or SIGTERM");
        signal.await;
        say!("Shutting down");
        if let Some(resp) = resp {
            resp.shutdown();
        }
        cluster.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}
