//! [`Access`]: who may use a server's client ports, and the check of one login attempt.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::limiter::{self, Limiter};
use super::role::{Role, ALL, NONE};
use super::secret::{self, Plain};
use super::users::{self, Proof, User, DEFAULT_USER};
use crate::error::{Error, Result};

/// Who may use a server's client ports (framed and RESP). The default is open: no password, every
/// connection may do everything, as before passwords existed. Cheap to clone.
#[derive(Clone, Default)]
pub struct Access(Option<Arc<Inner>>);

struct Inner {
    users: HashMap<String, User>,
    limiter: Limiter,
}

/// The outcome of one login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The pair is right: the connection is now this user, with this role.
    Granted {
        /// The user's name.
        user: String,
        /// What it may do.
        role: Role,
    },
    /// A wrong pair, an unknown user, or a disabled one.
    Denied,
    /// The source address failed too often lately: not even checked.
    Limited,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Access(open)"),
            Some(inner) => write!(f, "Access({} users)", inner.users.len()),
        }
    }
}

impl Access {
    /// No password: every connection may do everything.
    pub fn open() -> Access {
        Access(None)
    }

    /// Access for the `default` user's clear password (`requirepass`, all rights) and `users`
    /// (from a users file). Both `None`/empty is [`Access::open`].
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the users file also names `default` while a requirepass is given.
    pub fn new(requirepass: Option<&str>, mut users: HashMap<String, User>) -> Result<Access> {
        if let Some(password) = requirepass {
            if users.contains_key(DEFAULT_USER) {
                return Err(Error::BadRequest(
                    "the users file names 'default' and a requirepass is given too: keep one"
                        .into(),
                ));
            }
            let user = User {
                role: Role::Admin,
                proof: Proof::Plain(Plain::new(password.as_bytes())),
            };
            users.insert(DEFAULT_USER.to_owned(), user);
        }
        if users.is_empty() {
            return Ok(Access::open());
        }
        let limiter = Limiter::default();
        Ok(Access(Some(Arc::new(Inner { users, limiter }))))
    }

    /// Access from `--requirepass-file` and `--users-file`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming a file that cannot be read or parsed.
    pub fn from_files(requirepass: Option<&Path>, users: Option<&Path>) -> Result<Access> {
        let password = requirepass.map(users::read_password).transpose()?;
        let users = users
            .map(users::read_users)
            .transpose()?
            .unwrap_or_default();
        Access::new(password.as_deref(), users)
    }

    /// Whether connections must authenticate before anything else.
    pub fn required(&self) -> bool {
        self.0.is_some()
    }

    /// The command classes a new connection may run: all when open, none until it authenticates.
    pub fn initial_mask(&self) -> u8 {
        if self.required() {
            NONE
        } else {
            ALL
        }
    }

    /// Checks one login attempt of a connection from `peer` that already failed
    /// `connection_failures` times: the answer of a repeated failure is held back a little
    /// (`limiter::delay`), an address that failed too often lately is refused unchecked, and every
    /// failure is logged with the user's name and address (never the password). Slow hashes are
    /// verified on tokio's blocking threads.
    pub fn check(
        &self,
        user: String,
        password: Vec<u8>,
        peer: Option<IpAddr>,
        connection_failures: u32,
    ) -> impl Future<Output = Verdict> + Send + 'static {
        let inner = self.0.clone();
        async move {
            let Some(inner) = inner else {
                return Verdict::Granted {
                    user,
                    role: Role::Admin,
                };
            };
            if peer.is_some_and(|ip| inner.limiter.blocked(ip)) {
                tracing::warn!(?peer, user = %printable(&user), "AUTH refused: too many failures from this address");
                return Verdict::Limited;
            }
            let found = inner.users.get(&user).cloned();
            let right = match found.as_ref().map(|u| &u.proof) {
                Some(Proof::Plain(plain)) => plain.matches(&password),
                Some(Proof::Hash(phc)) => verify_off_thread(phc.clone(), password).await,
                // Spend the same time on an unknown user, so names cannot be told by timing.
                None => {
                    let _ = verify_off_thread(dummy_hash().to_owned(), password).await;
                    false
                }
            };
            if let (true, Some(found)) = (right, found) {
                return Verdict::Granted {
                    user,
                    role: found.role,
                };
            }
            let failures = peer.map_or(0, |ip| inner.limiter.failed(ip));
            tracing::warn!(?peer, user = %printable(&user), failures, "failed AUTH");
            tokio::time::sleep(limiter::delay(connection_failures + 1)).await;
            Verdict::Denied
        }
    }
}

async fn verify_off_thread(phc: String, password: Vec<u8>) -> bool {
    tokio::task::spawn_blocking(move || secret::verify(&phc, &password))
        .await
        .unwrap_or(false)
}

/// A hash to verify unknown users against.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| secret::hash(b"ringkv: no such user").unwrap_or_default())
}

/// A user name as it may be logged: at most 64 characters, control characters escaped.
fn printable(user: &str) -> String {
    let short: String = user.chars().take(64).collect();
    crate::quote::escape_controls(&short).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn open_access_grants_everything() {
        let access = Access::open();
        assert!(!access.required());
        assert_eq!(access.initial_mask(), ALL);
        assert_eq!(
            Access::new(None, HashMap::new())
                .expect("open")
                .initial_mask(),
            ALL
        );
    }

    #[test]
    fn requirepass_and_users_are_checked() {
        let hash = secret::hash(b"bob-pw").expect("hash");
        let users = users::parse_users(&format!("bob read {hash}")).expect("users");
        let access = Access::new(Some("s3cret"), users).expect("access");
        assert_eq!(access.initial_mask(), NONE);
        let check = |u: &str, p: &str| block_on(access.check(u.into(), p.into(), None, 0));
        let granted = |user: &str, role| Verdict::Granted {
            user: user.into(),
            role,
        };
        assert_eq!(check("default", "s3cret"), granted("default", Role::Admin));
        assert_eq!(check("bob", "bob-pw"), granted("bob", Role::Read));
        assert_eq!(check("default", "bob-pw"), Verdict::Denied);
        assert_eq!(check("bob", "s3cret"), Verdict::Denied);
        assert_eq!(check("carol", "bob-pw"), Verdict::Denied);
    }

    #[test]
    fn a_guessing_address_is_refused_unchecked() {
        let access = Access::new(Some("s3cret"), HashMap::new()).expect("access");
        let ip: IpAddr = [127, 0, 0, 7].into();
        for _ in 0..limiter::MAX_FAILURES_PER_ADDRESS {
            let v = block_on(access.check("default".into(), b"guess".to_vec(), Some(ip), 0));
            assert_eq!(v, Verdict::Denied);
        }
        let right = block_on(access.check("default".into(), b"s3cret".to_vec(), Some(ip), 0));
        assert_eq!(right, Verdict::Limited);
    }
}
