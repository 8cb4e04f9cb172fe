//! How this process opens a connection to a node port of another process: TCP, then TLS
//! verified against the cluster's CA when the cluster speaks TLS, then the cluster secret's
//! challenge–response ([`crate::auth::cluster_secret::prove`]) when it has a secret. Node links
//! and one-off requests (joins, layouts) both dial here.
//!
//! The setting is one per process ([`NodeLinks::install`]), as a process has one set of node
//! ports: the [`Cluster`](crate::Cluster) that spans processes installs it when it starts, and
//! every stand-in the Router starts for a node elsewhere reads it when it connects.

use std::sync::RwLock;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::auth::cluster_secret::{prove, ClusterSecret};
use crate::error::{Error, Result};
use crate::tls::{Reader, TlsClient, Writer, HANDSHAKE_TIMEOUT};

/// How this process dials other processes' node ports. The default is plain TCP, no secret.
#[derive(Debug, Clone, Default)]
pub struct NodeLinks {
    /// The cluster secret to prove (`--cluster-secret-file`).
    pub secret: Option<ClusterSecret>,
    /// TLS towards other nodes: their certificates must chain to the cluster's CA, and this
    /// node presents its own (`--tls-*-file`).
    pub tls: Option<TlsClient>,
}

static LINKS: RwLock<Option<NodeLinks>> = RwLock::new(None);

impl NodeLinks {
    /// Makes `self` how this process dials node ports from now on.
    pub fn install(self) {
        *LINKS.write().unwrap_or_else(|p| p.into_inner()) = Some(self);
    }

    /// How this process dials node ports now.
    pub fn current() -> NodeLinks {
        LINKS
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

/// Connects to the node port at `addr` within `connect_timeout`, then runs TLS and the secret's
/// handshake as this process's [`NodeLinks`] say.
///
/// # Errors
/// [`Error::Unavailable`] when `addr` cannot be reached or its TLS handshake fails;
/// [`Error::WrongPass`] when the node does not take our secret or does not prove it knows it.
pub(crate) async fn dial(addr: &str, connect_timeout: Duration) -> Result<(Reader, Writer)> {
    let unreachable =
        |why: String| Error::Unavailable(format!("node at {addr} is unreachable: {why}"));
    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable("connect timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let links = NodeLinks::current();
    let secret = links.secret.as_ref();
    let handshakes = async {
        match &links.tls {
            None => {
                let mut stream = stream;
                prove_if(&mut stream, secret, addr).await?;
                let (read, write) = stream.into_split();
                Ok((Box::new(read) as Reader, Box::new(write) as Writer))
            }
            Some(tls) => {
                let mut stream = tls
                    .connect(addr, stream)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                prove_if(&mut stream, secret, addr).await?;
                let (read, write) = tokio::io::split(stream);
                Ok((Box::new(read) as Reader, Box::new(write) as Writer))
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshakes)
        .await
        .map_err(|_| unreachable("its handshake timed out".into()))?
}

/// Proves `secret` over `stream`, if there is one.
async fn prove_if<S>(stream: &mut S, secret: Option<&ClusterSecret>, addr: &str) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(secret) = secret else {
        return Ok(());
    };
    prove(stream, secret).await.map_err(|e| match e {
        Error::WrongPass(why) => Error::WrongPass(format!("node at {addr}: {why}")),
        other => Error::WrongPass(format!(
            "node at {addr} refused the cluster secret handshake (it has no \
             --cluster-secret-file, or another one): {other}"
        )),
    })
}
