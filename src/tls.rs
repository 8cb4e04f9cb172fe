//! TLS on the client ports (framed and RESP) and in the framed [`crate::Client`], with rustls
//! (through tokio-rustls, on the `ring` provider): certificates and keys from PEM files, a CA
//! that client certificates must chain to when one is given (mutual TLS), and the boxed stream
//! halves a session reads and writes whether TLS is on or not.

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{Error, Result};

/// The reading half of a connection, plain or TLS.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection, plain or TLS.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
/// A whole connection, plain or TLS (for clients).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn bad(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("{what} {}: {e}", path.display()))
}

/// The certificates in a PEM file.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let file = File::open(path).map_err(|e| bad("cannot read", path, e))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("cannot parse", path, e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", path, "expected PEM"));
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let file = File::open(path).map_err(|e| bad("cannot read", path, e))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| bad("cannot parse", path, e))?
        .ok_or_else(|| bad("no private key in", path, "expected PEM"))
}

fn roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| bad("bad CA certificate in", path, e))?;
    }
    Ok(roots)
}

/// A server's TLS settings: its certificate and key, and the CA its clients' certificates must
/// chain to, if any.
#[derive(Clone)]
pub struct TlsServer(TlsAcceptor);

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsServer")
    }
}

impl TlsServer {
    /// Loads `--tls-cert-file`, `--tls-key-file` and, for mutual TLS, `--tls-ca-cert-file`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming a file that cannot be read or does not fit.
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsServer> {
        let versions = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::BadRequest(format!("TLS: {e}")))?;
        let builder = match client_ca {
            None => versions.with_no_client_auth(),
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                        .build()
                        .map_err(|e| bad("cannot use the CA in", ca, e))?;
                versions.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| bad("the key does not fit the certificate", cert, e))?;
        Ok(TlsServer(TlsAcceptor::from(Arc::new(config))))
    }
}

/// The halves of an accepted connection: as is without `tls`, else after a TLS handshake.
/// A handshake that fails or takes over [`HANDSHAKE_TIMEOUT`] (a plaintext client on a TLS port)
/// gives `None`: the connection is closed without a word.
pub async fn accept(stream: TcpStream, tls: Option<&TlsServer>) -> Option<(Reader, Writer)> {
    let Some(tls) = tls else {
        let (read, write) = stream.into_split();
        return Some((Box::new(read), Box::new(write)));
    };
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.0.accept(stream)).await {
        Ok(Ok(stream)) => {
            let (read, write) = tokio::io::split(stream);
            Some((Box::new(read), Box::new(write)))
        }
        Ok(Err(e)) => {
            tracing::info!(?peer, "TLS handshake failed, connection closed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(?peer, "TLS handshake timed out, connection closed");
            None
        }
    }
}

/// A client's TLS settings: the CA the server's certificate must chain to, and a client
/// certificate for servers that ask for one.
#[derive(Clone)]
pub struct TlsClient(TlsConnector);

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Trusts the CA certificates in `ca` (PEM); presents `cert` and `key` when both are given.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming a file that cannot be read or does not fit.
    pub fn from_files(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<TlsClient> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::BadRequest(format!("TLS: {e}")))?
            .with_root_certificates(roots(ca)?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .map_err(|e| bad("the key does not fit the certificate", cert, e))?,
        };
        Ok(TlsClient(TlsConnector::from(Arc::new(config))))
    }

    /// Runs the handshake over `stream` for `addr` (`HOST:PORT`; HOST names the certificate).
    ///
    /// # Errors
    /// [`Error::Io`] when the handshake fails (an untrusted certificate, a plaintext server).
    pub async fn connect(&self, addr: &str, stream: TcpStream) -> Result<Box<dyn Io>> {
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::BadRequest(format!("'{host}' cannot name a TLS server: {e}")))?;
        let stream = self
            .0
            .connect(name, stream)
            .await
            .map_err(|e| Error::Io(format!("TLS handshake with {addr} failed: {e}")))?;
        Ok(Box::new(stream))
    }
}
