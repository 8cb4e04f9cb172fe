//! The RESP listener: accepts connections and serves each on its own task, under a connection
//! limit, until [`RespServer::shutdown`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::info::Stats;
use super::{connection, RespLimits};
use crate::actors::Gateway;
use crate::error::Result;

/// A running RESP listener.
#[derive(Debug, Clone)]
pub struct RespServer {
    port: u16,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
}

impl RespServer {
    /// The port it listens on (the real one when it was bound to port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its figures: clients connected, commands served...
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// Serves the Redis protocol on `listener`, starting every request through `gateway` (the direct
/// path when a key's replicas are all up, else the Router). Call it inside a running actix `System`
/// (e.g. after [`crate::Cluster::start`], with [`crate::Cluster::gateway`]).
///
/// ```no_run
/// use ringkv::resp::{self, RespLimits};
/// use ringkv::{Cluster, ClusterConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = actix::System::new();
/// system.block_on(async {
///     let cluster = Cluster::start(ClusterConfig { nodes: 3, base_port: 0, ..Default::default() })?;
///     let listener = std::net::TcpListener::bind("127.0.0.1:6379")?;
///     let server = resp::start(listener, cluster.gateway(), RespLimits::default())?;
///     println!("RESP listening on port {}", server.port());
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// system.run()?; // serves until System::current().stop()
/// # Ok(()) }
/// ```
///
/// # Errors
/// The socket cannot be made non-blocking or registered with tokio.
pub fn start(
    listener: std::net::TcpListener,
    gateway: Gateway,
    limits: RespLimits,
) -> Result<RespServer> {
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let listener = TcpListener::from_std(listener)?;
    let stats = Arc::new(Stats::new(port, limits.max_request_len));
    let shutdown = CancellationToken::new();
    let server = RespServer {
        port,
        stats: stats.clone(),
        shutdown: shutdown.clone(),
    };
    actix_rt::spawn(accept_loop(listener, gateway, limits, stats, shutdown));
    Ok(server)
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Gateway,
    limits: RespLimits,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("RESP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            actix_rt::spawn(refuse(stream));
            continue;
        };
        let (gateway, limits, stats, token) = (
            gateway.clone(),
            limits.clone(),
            stats.clone(),
            shutdown.clone(),
        );
        actix_rt::spawn(async move {
            let _open = crate::metrics::connection(crate::metrics::PortKind::Resp);
            connection::run(stream, gateway, limits, stats, token).await;
            drop(permit);
        });
    }
}

/// Tells a connection over the limit why it is closed, as Redis does, then closes it.
async fn refuse(mut stream: TcpStream) {
    let reply = b"-ERR max number of clients reached\r\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(reply)).await;
    let _ = stream.shutdown().await;
}
