//! A node's TCP listener: accepts connections and runs one session task per connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use actix::Recipient;

use super::gateway::Gateway;
use super::node::NodeCall;
use super::remote::serve::NodeCalls;
use super::session;
use crate::auth::Access;
use crate::error::Result;
use crate::protocol::codec::{encode, write_frame};
use crate::protocol::{ErrorCode, ErrorReply, Response, MAX_FRAME_LEN};

/// Limits that protect a node from its clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// The longest frame accepted, in bytes after the length prefix.
    pub max_frame_len: usize,
    /// The most connections served at once; more are answered with an error and closed.
    pub max_connections: usize,
    /// The most requests of one connection in flight at once; past it the connection is not read.
    pub max_pending: usize,
    /// How long a frame may take to arrive once its first byte came.
    pub frame_timeout: Duration,
    /// The most bytes one connection's requests in flight and unwritten answers may hold.
    pub max_connection_bytes: usize,
    /// The most bytes all connections of the server together may hold (one budget for every
    /// node and port of the process).
    pub max_server_bytes: usize,
    /// Who may connect and what each user may do (open by default: no password).
    pub access: Access,
    /// The longest `pause-node` the Router accepts, in milliseconds (`--max-pause`).
    pub max_pause_millis: u64,
    /// The lowest port `add-node` accepts besides 0 and the cluster's own start ports
    /// (`--min-node-port`).
    pub min_node_port: u16,
    /// TLS on this port (`--tls-cert-file`...); `None`, the default, is plaintext.
    pub tls: Option<crate::tls::TlsServer>,
    /// The cluster secret (`--cluster-secret-file`): with it, only connections that prove it
    /// may make node-to-node calls; `None`, the default, leaves them to the admin role.
    pub cluster_secret: Option<crate::auth::cluster_secret::ClusterSecret>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_frame_len: MAX_FRAME_LEN,
            max_connections: 10_000,
            max_pending: 1024,
            frame_timeout: Duration::from_secs(10),
            max_connection_bytes: super::budget::CONNECTION_BYTES,
            max_server_bytes: super::budget::SERVER_BYTES,
            access: Access::open(),
            max_pause_millis: super::router::MAX_PAUSE_MILLIS,
            min_node_port: super::router::MIN_PORT,
            tls: None,
            cluster_secret: None,
        }
    }
}

/// Starts serving `listener` on the current runtime until `shutdown` is cancelled.
///
/// # Errors
/// The socket cannot be made non-blocking or registered with tokio.
pub fn start(
    listener: std::net::TcpListener,
    gateway: Gateway,
    limits: ServerLimits,
    node: Option<Recipient<NodeCall>>,
    shutdown: CancellationToken,
) -> Result<()> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(crate::error::Error::Shutdown);
    }
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    actix_rt::spawn(accept_loop(listener, gateway, limits, node, shutdown));
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Gateway,
    limits: ServerLimits,
    node: Option<Recipient<NodeCall>>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut warned_full = false;
    let mut warned_accept = false;
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            stream = accept(&listener, &mut warned_accept) => stream,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !warned_full {
                tracing::warn!(max = limits.max_connections, "connection limit reached");
                warned_full = true;
            }
            actix_rt::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        warned_full = false;
        let (gateway, limits, token) = (gateway.clone(), limits.clone(), shutdown.clone());
        let calls = NodeCalls::new(node.clone(), gateway.direct().settled_epoch());
        actix_rt::spawn(async move {
            let _open = crate::metrics::connection(crate::metrics::PortKind::Framed);
            session::run(stream, gateway, limits, calls, token).await;
            drop(permit);
        });
    }
}

/// The next connection, with `TCP_NODELAY` set. Accept errors (out of file descriptors, most
/// likely) are logged once per episode and retried after a short pause.
async fn accept(listener: &TcpListener, warned: &mut bool) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                *warned = false;
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(e) => {
                if !*warned {
                    tracing::warn!("accept failed: {e}");
                    *warned = true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Tells a connection over the limit why it is closed, then closes it without a reset: our side is
/// shut down and what the client already sent is read and dropped for a moment.
async fn refuse(mut stream: TcpStream, max: usize) {
    let reply = Response::Error(ErrorReply {
        code: ErrorCode::Unavailable,
        message: format!("too many connections (the limit is {max})"),
    });
    let Ok(body) = encode(&reply) else {
        return;
    };
    let mut frame = BytesMut::new();
    write_frame(0, &body, &mut frame);
    let linger = async {
        stream.write_all(&frame).await?;
        stream.shutdown().await?;
        let mut scrap = [0u8; 4096];
        while stream.read(&mut scrap).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), linger).await;
}
