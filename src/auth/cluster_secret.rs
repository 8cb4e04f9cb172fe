//! The cluster secret (`--cluster-secret-file`, issue 15 part 4): a mutual challenge–response by
//! which both ends of a node-to-node connection prove they know the secret, which never crosses
//! the wire (HMAC-SHA256 over both ends' fresh nonces, compared in constant time).
//!
//! The calling end runs [`prove`] right after connecting (`actors/remote/dial.rs`, inside TLS
//! when the cluster has it), the serving end [`answer`] when a connection opens with [`MAGIC`]
//! (`actors/remote/hello.rs`; as a frame length those four bytes are over 1.3 GB, so no framed
//! client starts that way). Membership datagrams carry an HMAC under the same secret
//! ([`ClusterSecret::seal`], [`ClusterSecret::open`]).
//!
//! ```text
//! caller → server   "RGKS" | version 1 | nonce_c (32)
//! server → caller   nonce_s (32) | HMAC(secret, "ringkv server" | nonce_c | nonce_s)
//! caller → server   HMAC(secret, "ringkv caller" | nonce_s | nonce_c)
//! server → caller   1 (accepted) or 0 (refused)
//! ```

use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// The first bytes of a node-to-node handshake.
pub const MAGIC: [u8; 4] = *b"RGKS";
/// The handshake's version.
pub const VERSION: u8 = 1;
/// Bytes of the caller's hello: magic, version, nonce.
pub const HELLO_LEN: usize = 4 + 1 + NONCE;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

const NONCE: usize = 32;
const TAG: usize = 32;
/// Bytes of a membership datagram's tag ([`ClusterSecret::seal`]).
pub const SEAL_LEN: usize = TAG;
const SERVER: &[u8] = b"ringkv server";
const DATAGRAM: &[u8] = b"ringkv membership";
const CALLER: &[u8] = b"ringkv caller";

/// A cluster's shared secret. `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(***)")
    }
}

impl ClusterSecret {
    /// The secret `bytes`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] when it is shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: &[u8]) -> Result<ClusterSecret> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::BadRequest(format!(
                "the cluster secret must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -hex 32`)"
            )));
        }
        Ok(ClusterSecret(bytes.into()))
    }

    /// The secret on the first line of `path`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] when the file cannot be read or its first line is too short.
    pub fn from_file(path: &Path) -> Result<ClusterSecret> {
        let line = super::read_password(path)?;
        ClusterSecret::new(line.as_bytes())
            .map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))
    }

    /// The HMAC-SHA256 tag of one membership datagram's `bytes`.
    pub fn seal(&self, bytes: &[u8]) -> [u8; SEAL_LEN] {
        self.tag(DATAGRAM, bytes, &[])
    }

    /// Whether `tag` is the tag of `bytes` under this secret (compared in constant time).
    pub fn open(&self, bytes: &[u8], tag: &[u8]) -> bool {
        self.verify(DATAGRAM, bytes, &[], tag)
    }

    fn keyed(&self, label: &[u8], first: &[u8], second: &[u8]) -> Hmac<Sha256> {
        // An HMAC key may have any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        mac.update(first);
        mac.update(second);
        mac
    }

    fn tag(&self, label: &[u8], first: &[u8], second: &[u8]) -> [u8; TAG] {
        self.keyed(label, first, second)
            .finalize()
            .into_bytes()
            .into()
    }

    fn verify(&self, label: &[u8], first: &[u8], second: &[u8], tag: &[u8]) -> bool {
        self.keyed(label, first, second).verify_slice(tag).is_ok()
    }
}

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

fn io(e: std::io::Error) -> Error {
    Error::Io(format!("cluster secret handshake: {e}"))
}

/// The calling end: proves the secret to the node at the other end of `stream`, and checks that
/// it knows it too. Bound it with a timeout.
///
/// # Errors
/// [`Error::WrongPass`] when the peer does not know the secret or refuses ours; [`Error::Io`]
/// when the connection fails (a peer without a secret closes it).
pub async fn prove<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &ClusterSecret,
) -> Result<()> {
    let mine = nonce();
    let mut hello = Vec::with_capacity(HELLO_LEN);
    hello.extend_from_slice(&MAGIC);
    hello.push(VERSION);
    hello.extend_from_slice(&mine);
    stream.write_all(&hello).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut answer = [0u8; NONCE + TAG];
    stream.read_exact(&mut answer).await.map_err(io)?;
    let (theirs, tag) = answer.split_at(NONCE);
    if !secret.verify(SERVER, &mine, theirs, tag) {
        // A proof that cannot pass, so that the peer logs a wrong secret rather than a close.
        let _ = stream.write_all(&[0u8; TAG]).await;
        let _ = stream.flush().await;
        return Err(Error::WrongPass(
            "the peer does not know our cluster secret (another --cluster-secret-file?)".into(),
        ));
    }
    let proof = secret.tag(CALLER, theirs, &mine);
    stream.write_all(&proof).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut verdict = [0u8; 1];
    stream.read_exact(&mut verdict).await.map_err(io)?;
    match verdict {
        [1] => Ok(()),
        _ => Err(Error::WrongPass(
            "the peer refused our cluster secret".into(),
        )),
    }
}

/// The serving end, once the caller's `hello` ([`HELLO_LEN`] bytes starting with [`MAGIC`]) was
/// read: proves the secret to the caller and checks the caller's proof.
///
/// # Errors
/// [`Error::Protocol`] for a hello of another version; [`Error::WrongPass`] when the caller does
/// not know the secret; [`Error::Io`] when the connection fails.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &ClusterSecret,
    hello: &[u8],
) -> Result<()> {
    let theirs = match hello {
        [m0, m1, m2, m3, VERSION, rest @ ..]
            if [*m0, *m1, *m2, *m3] == MAGIC && rest.len() == NONCE =>
        {
            rest
        }
        _ => {
            return Err(Error::Protocol(
                "not a cluster secret handshake of version 1".into(),
            ))
        }
    };
    let mine = nonce();
    let mut answer = Vec::with_capacity(NONCE + TAG);
    answer.extend_from_slice(&mine);
    answer.extend_from_slice(&secret.tag(SERVER, theirs, &mine));
    stream.write_all(&answer).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut proof = [0u8; TAG];
    stream.read_exact(&mut proof).await.map_err(io)?;
    let right = secret.verify(CALLER, &mine, theirs, &proof);
    let told = stream.write_all(&[u8::from(right)]).await;
    if !right {
        return Err(Error::WrongPass(
            "the caller does not know our cluster secret (another --cluster-secret-file?)".into(),
        ));
    }
    told.map_err(io)?;
    stream.flush().await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// Runs a handshake between a caller with `ours` and a server with `theirs`; also returns
    /// the caller's hello as it crossed the wire.
    fn handshake(ours: &[u8], theirs: &[u8]) -> (Result<()>, Result<()>, Vec<u8>) {
        let (ours, theirs) = (
            ClusterSecret::new(ours).expect("secret"),
            ClusterSecret::new(theirs).expect("secret"),
        );
        block_on(async {
            let (mut caller, mut server) = tokio::io::duplex(1024);
            let serving = async {
                let mut hello = vec![0u8; HELLO_LEN];
                server.read_exact(&mut hello).await.map_err(io)?;
                let answered = answer(&mut server, &theirs, &hello).await;
                Ok::<_, Error>((answered, hello))
            };
            let proving = async move {
                let proved = prove(&mut caller, &ours).await;
                drop(caller); // as a link drops its connection when the handshake fails
                proved
            };
            let (proved, served) = tokio::join!(proving, serving);
            let (answered, hello) = served.expect("the hello arrives");
            (proved, answered, hello)
        })
    }

    #[test]
    fn the_same_secret_is_accepted_on_both_sides() {
        let secret = b"0123456789abcdef-the-cluster";
        let (proved, answered, hello) = handshake(secret, secret);
        proved.expect("the caller accepts the server");
        answered.expect("the server accepts the caller");
        assert_eq!(&hello[..4], b"RGKS");
        let wire = String::from_utf8_lossy(&hello);
        assert!(
            !wire.contains("0123456789abcdef"),
            "the secret never crosses the wire"
        );
    }

    #[test]
    fn a_wrong_secret_is_refused_on_both_sides() {
        let (proved, answered, _) = handshake(b"0123456789abcdef-one", b"0123456789abcdef-two");
        assert!(matches!(proved, Err(Error::WrongPass(_))), "{proved:?}");
        // The caller closes before sending a proof: the server's read of it fails.
        assert!(answered.is_err(), "{answered:?}");
    }

    #[test]
    fn short_secrets_and_other_hellos_are_refused() {
        assert!(ClusterSecret::new(b"short").is_err());
        let secret = ClusterSecret::new(b"0123456789abcdef").expect("secret");
        assert_eq!(format!("{secret:?}"), "ClusterSecret(***)");
        let refused = block_on(async {
            let (_caller, mut server) = tokio::io::duplex(64);
            answer(&mut server, &secret, b"RGKV\x03 not a hello").await
        });
        assert!(matches!(refused, Err(Error::Protocol(_))), "{refused:?}");
    }
}
