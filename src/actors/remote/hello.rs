//! The first bytes of a connection to a node port, on the serving end: a connection that opens
//! with the cluster secret's hello (`RGKS`, see [`crate::auth::cluster_secret`]) is a node of
//! another process, which must prove the secret before it may make node calls; any other
//! connection is a client, and the bytes read to tell them apart are kept for its first frame.
//!
//! As a frame length those four bytes would be over 1.3 GB, so no framed client starts that way.
//! With TLS on the port, all this happens inside the TLS session.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::actors::listener::ServerLimits;
use crate::auth::cluster_secret::{self, ClusterSecret, HELLO_LEN, MAGIC};
use crate::tls::{self, Reader, Writer, HANDSHAKE_TIMEOUT};

/// A connection past its greeting.
pub(crate) struct Opened {
    pub read: Reader,
    pub write: Writer,
    /// Bytes read already: the start of the client's first frame.
    pub input: BytesMut,
    /// Whether the other end proved the cluster secret.
    pub peer: bool,
}

/// Runs TLS (if the port has it), then tells a node from a client. `None`: the connection is
/// closed (a failed TLS handshake, a node with a wrong secret or none), with one log line.
pub(crate) async fn accept(
    stream: TcpStream,
    limits: &ServerLimits,
    from: Option<SocketAddr>,
) -> Option<Opened> {
    let (mut read, write) = tls::accept(stream, limits.tls.as_ref()).await?;
    let mut input = BytesMut::with_capacity(8 * 1024);
    if !opens_with_magic(&mut read, &mut input).await? {
        return Some(Opened {
            read,
            write,
            input,
            peer: false,
        });
    }
    let Some(secret) = &limits.cluster_secret else {
        tracing::warn!(
            peer = ?from,
            "refused a node that offers a cluster secret: this process has no \
             --cluster-secret-file; connection closed"
        );
        return None;
    };
    let proved = timeout(HANDSHAKE_TIMEOUT, handshake(read, write, input, secret)).await;
    match proved {
        Ok(Ok(opened)) => Some(opened),
        Ok(Err(e)) => {
            tracing::warn!(peer = ?from, "refused a node: {e}; connection closed");
            None
        }
        Err(_) => {
            tracing::warn!(peer = ?from, "refused a node: its cluster secret handshake timed out");
            None
        }
    }
}

/// Reads until `input` holds four bytes or stops looking like [`MAGIC`]; whether it is the
/// magic. `None` when the connection fails. The first read waits as long as the client likes
/// (an idle client), the rest of a partial magic at most [`HANDSHAKE_TIMEOUT`].
async fn opens_with_magic(read: &mut Reader, input: &mut BytesMut) -> Option<bool> {
    let first = read.read_buf(input).await.ok()?;
    if first == 0 {
        return Some(false);
    }
    let rest = async {
        while input.len() < MAGIC.len() && MAGIC.starts_with(input) {
            if read.read_buf(input).await.ok()? == 0 {
                break;
            }
        }
        Some(input.starts_with(&MAGIC))
    };
    timeout(HANDSHAKE_TIMEOUT, rest).await.ok()?
}

/// The rest of the hello, then the challenge–response.
async fn handshake(
    read: Reader,
    write: Writer,
    mut input: BytesMut,
    secret: &ClusterSecret,
) -> crate::Result<Opened> {
    let mut stream = tokio::io::join(read, write);
    while input.len() < HELLO_LEN {
        let n = stream
            .read_buf(&mut input)
            .await
            .map_err(|e| crate::Error::Io(format!("cluster secret handshake: {e}")))?;
        if n == 0 {
            return Err(crate::Error::Io(
                "the node closed the connection during its hello".into(),
            ));
        }
    }
    let hello = input.split_to(HELLO_LEN);
    cluster_secret::answer(&mut stream, secret, &hello).await?;
    let (read, write) = stream.into_inner();
    Ok(Opened {
        read,
        write,
        input,
        peer: true,
    })
}
