//! The security flags: passwords and protected mode on the server side (`--requirepass-file`,
//! `--users-file`, `--protected-mode`), TLS and the cluster secret (`--cluster-secret-file`),
//! credentials on the client side (`--user`, `--password-file`, `RINGKV_PASSWORD`), and
//! `ringkv passwd`, which hashes a password for a users file. A password is never taken from the command line, where `ps` would show it.

use std::io::BufRead;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{bail, Context as _};
use clap::Args;
use ringkv::auth::cluster_secret::ClusterSecret;
use ringkv::auth::{self, Access};
use ringkv::client::Credentials;
use ringkv::tls::{TlsClient, TlsServer};

/// The environment variable a client's password may come from.
pub const PASSWORD_ENV: &str = "RINGKV_PASSWORD";

/// Who may use the client ports (framed and RESP).
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// A file whose first line is the `default` user's password (like Redis's `requirepass`;
    /// that user may do everything).
    #[arg(long)]
    requirepass_file: Option<PathBuf>,
    /// A users file: one `name role hash` line per user, role `read`, `write` or `admin`, hash
    /// from `ringkv passwd` (see docs/SECURITY.md).
    #[arg(long)]
    users_file: Option<PathBuf>,
    /// `no` lets the nodes listen on a non-loopback address without a password.
    #[arg(long, default_value = "yes", value_parser = ["yes", "no"])]
    protected_mode: String,
    /// TLS on every client port (framed and RESP): the server's certificate (PEM).
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The private key of `--tls-cert-file` (PEM).
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// With TLS, clients must present a certificate signed by this CA (PEM): mutual TLS. Between
    /// processes, each node verifies the others' certificates with it.
    #[arg(long, requires = "tls_cert_file")]
    tls_ca_cert_file: Option<PathBuf>,
    /// A file whose first line is the secret every process of the cluster shares (at least 16
    /// bytes, e.g. `openssl rand -hex 32`): node-to-node connections and membership datagrams
    /// must prove it (see docs/SECURITY.md).
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
    /// The access loaded by [`SecurityArgs::prepare`].
    #[arg(skip)]
    loaded: OnceLock<Access>,
    /// The TLS settings loaded by [`SecurityArgs::prepare`].
    #[arg(skip)]
    tls: OnceLock<TlsServer>,
    /// The TLS settings towards other nodes, loaded by [`SecurityArgs::prepare`].
    #[arg(skip)]
    node_tls: OnceLock<TlsClient>,
    /// The cluster secret loaded by [`SecurityArgs::prepare`].
    #[arg(skip)]
    secret: OnceLock<ClusterSecret>,
}

impl SecurityArgs {
    /// Reads the password files and applies protected mode for nodes bound to `bind`. Call it
    /// before anything listens.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or a non-loopback `bind` with no password in
    /// protected mode.
    pub fn prepare(&self, bind: &str) -> anyhow::Result<()> {
        let access =
            Access::from_files(self.requirepass_file.as_deref(), self.users_file.as_deref())?;
        if !access.required() && self.protected_mode == "yes" && !loopback(bind) {
            bail!(
                "protected mode: refusing to listen on {bind} with no password; add \
                 --requirepass-file FILE or --users-file FILE (or --protected-mode no)"
            );
        }
        let _ = self.loaded.set(access);
        if let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) {
            let tls = TlsServer::from_files(cert, key, self.tls_ca_cert_file.as_deref())?;
            let _ = self.tls.set(tls);
            if let Some(ca) = &self.tls_ca_cert_file {
                let _ = self
                    .node_tls
                    .set(TlsClient::from_files(ca, Some((cert, key)))?);
            }
        }
        if let Some(path) = &self.cluster_secret_file {
            let _ = self.secret.set(ClusterSecret::from_file(path)?);
        }
        Ok(())
    }

    /// The cluster secret [`SecurityArgs::prepare`] loaded, if one was given.
    pub fn cluster_secret(&self) -> Option<ClusterSecret> {
        self.secret.get().cloned()
    }

    /// TLS towards other processes' nodes: the CA verifies them, this node's certificate is its
    /// own (loaded by [`SecurityArgs::prepare`] when TLS has a CA).
    pub fn node_tls(&self) -> Option<TlsClient> {
        self.node_tls.get().cloned()
    }

    /// The TLS settings [`SecurityArgs::prepare`] loaded, if TLS was asked for.
    pub fn tls(&self) -> Option<TlsServer> {
        self.tls.get().cloned()
    }

    /// The access [`SecurityArgs::prepare`] loaded (open before it).
    pub fn access(&self) -> Access {
        self.loaded.get().cloned().unwrap_or_default()
    }
}

/// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
fn loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How a client logs in.
#[derive(Debug, Clone, Default, Args)]
pub struct CredentialArgs {
    /// The user to log in as (`default` when only a password is given).
    #[arg(long)]
    user: Option<String>,
    /// A file whose first line is the password (else the RINGKV_PASSWORD environment variable).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Speak TLS to the server.
    #[arg(long, requires = "cacert")]
    tls: bool,
    /// With --tls: the CA certificate (PEM) the server's certificate must chain to.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// With --tls: a client certificate (PEM), for servers that ask for one.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// With --tls: the private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
}

impl CredentialArgs {
    /// The TLS settings asked for with `--tls`, if any.
    ///
    /// # Errors
    /// A certificate or key file that cannot be read or used.
    pub fn tls(&self) -> anyhow::Result<Option<TlsClient>> {
        let (true, Some(ca)) = (self.tls, &self.cacert) else {
            return Ok(None);
        };
        let identity = self.cert.as_deref().zip(self.key.as_deref());
        Ok(Some(TlsClient::from_files(ca, identity)?))
    }

    /// The credentials asked for, if any: the password from `--password-file`, else from
    /// `RINGKV_PASSWORD`.
    ///
    /// # Errors
    /// An unreadable password file, or `--user` with no password.
    pub fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let password = match &self.password_file {
            Some(path) => Some(auth::read_password(path)?),
            None => std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
        };
        match (password, &self.user) {
            (None, None) => Ok(None),
            (None, Some(user)) => {
                bail!("--user {user} needs a password: --password-file FILE or {PASSWORD_ENV}")
            }
            (Some(password), user) => Ok(Some(Credentials::new(
                user.as_deref().unwrap_or(auth::DEFAULT_USER),
                &password,
            ))),
        }
    }
}

/// `ringkv passwd`: reads a password from the first line of stdin and prints its argon2id hash,
/// for a users file.
pub fn passwd() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on stdin (e.g. `printf '%s\\n' \"$PW\" | ringkv passwd`)");
    }
    let hash = auth::hash_password(password.as_bytes())?;
    say!("{hash}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn loopback_addresses_are_told_apart() {
        for host in ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"] {
            assert!(loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "10.0.0.1", "::", "example.com"] {
            assert!(!loopback(host), "{host}");
        }
    }
}
