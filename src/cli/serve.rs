//! `ringkv serve`: the cluster without a REPL, until SIGINT or SIGTERM.

use actix::prelude::*;
use anyhow::Context as _;
use ringkv::Cluster;

use super::{shutdown_signal, ClusterArgs};

/// Joins the cluster (or catches up with it) and starts failure detection. Without `--join`, a
/// failure to start failure detection is one warning line: the process still serves alone. A
/// process whose nodes were removed from the cluster meanwhile is an error: it does not serve.
pub(super) async fn connect(cluster: &Cluster, joining: bool) -> anyhow::Result<()> {
    let connected = cluster.connect().await;
    if let ringkv::actors::Stand::Removed(epoch) = cluster.gateway().standing().now() {
        anyhow::bail!("{}", ringkv::actors::standing::removed_line(epoch));
    }
    match connected {
        Ok(()) => {}
        Err(e) if joining => return Err(anyhow::anyhow!(e).context("cannot join the cluster")),
        Err(e) => eprintln!("warning: other processes cannot watch this one: {e}"),
    }
    if let ringkv::Response::Layout(layout) = cluster.execute(ringkv::Request::Layout).await {
        if layout.processes().len() > 1 {
            say!(
                "Joined the cluster: ring epoch {}, {} nodes in {} processes",
                layout.epoch,
                layout.members.len(),
                layout.processes().len()
            );
        }
    }
    Ok(())
}

/// Starts the cluster, prints each node's port, and waits for a signal to shut down cleanly.
pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    args.prepare_security()?;
    let nodes = args.nodes_or(Some(3))?.unwrap_or(3);
    args.warn_ignored()?;
    let resp = args.bind_resp()?;
    let http = args.bind_http()?;
    let system = System::new();
    system.block_on(async {
        // Listen for the signals before anything is announced: a SIGTERM sent as soon as the
        // first port is printed must still shut down cleanly.
        let signal = shutdown_signal()?;
        let config = args.serve_config(nodes);
        let joining = !config.join.is_empty();
        let cluster = Cluster::start(config).context("cannot start the cluster")?;
        for port in cluster.ports() {
            say!("Node listening on port {port}");
        }
        connect(&cluster, joining).await?;
        let resp = args.start_resp(resp, cluster.gateway())?;
        let http = args.start_http(http, &cluster)?;
        say!("Serving; stop with Ctrl-C (SIGINT) or SIGTERM");
        let standing = cluster.gateway().standing().clone();
        let removed = tokio::select! {
            () = signal => None,
            epoch = removed_from(standing) => Some(epoch),
        };
        say!("Shutting down");
        if let Some(resp) = resp {
            resp.shutdown();
        }
        if let Some(http) = http {
            http.shutdown();
        }
        cluster.shutdown().await;
        if let Some(epoch) = removed {
            anyhow::bail!("{}", ringkv::actors::standing::removed_line(epoch));
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Resolves (with the ring epoch) once the process learns that its nodes were removed from the
/// cluster: `serve` then stops and exits non-zero.
async fn removed_from(standing: ringkv::actors::Standing) -> u64 {
    loop {
        if let ringkv::actors::Stand::Removed(epoch) = standing.now() {
            return epoch;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
