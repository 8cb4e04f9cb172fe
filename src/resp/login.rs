//! RESP's login gate, as Redis 7 words it: `AUTH [user] password` and `HELLO protover AUTH user
//! password` log in; before that every command but AUTH, HELLO and QUIT gets
//! `-NOAUTH Authentication required.`; a wrong pair gets `-WRONGPASS invalid username-password
//! pair or user is disabled.`; a command above the user's role gets `-NOPERM User NAME has no
//! permissions to run the 'CMD' command`.
//!
//! Only servers with passwords go through it. A logged-in admin (or the requirepass `default`
//! user) pays a few byte compares per request; other roles one table lookup and one `&`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;

use super::reply::{self, Frame};
use super::table;
use crate::auth::{command_class, Access, Verdict, ALL, DEFAULT_USER, NONE, WRITE};

/// A login being checked, and what to do once it succeeds.
pub type Login = Pin<Box<dyn Future<Output = (Verdict, Then)>>>;

/// What a successful login goes on with.
pub enum Then {
    /// `AUTH`: answer `+OK`.
    Ok,
    /// `HELLO ... AUTH user password ...`: run this HELLO (its AUTH option taken out).
    Hello(Vec<Bytes>),
}

/// What the gate says about one request.
pub enum Gated {
    /// Run it.
    Pass,
    /// Answer this instead.
    Reply(Frame),
    /// Check this login first; start nothing after it until it is settled.
    Login(Login),
}

/// One connection's login state.
pub struct Guard {
    access: Access,
    /// The classes the connection may run.
    mask: u8,
    user: Option<String>,
    /// Failed logins on this connection.
    failures: u32,
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, \
     otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client \
     and select the RESP protocol version at the same time";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

impl Guard {
    /// The gate of a new connection to a server with `access`.
    pub fn new(access: Access) -> Guard {
        Guard {
            mask: access.initial_mask(),
            access,
            user: None,
            failures: 0,
        }
    }

    /// Whether requests go through [`Guard::gate`] at all (the server has passwords).
    #[inline]
    pub fn guarded(&self) -> bool {
        self.access.required()
    }

    /// Says whether `words` (name first, never empty) may run.
    pub fn gate(&self, words: &[Bytes], peer: Option<SocketAddr>) -> Gated {
        let Some((name, args)) = words.split_first() else {
            return Gated::Pass;
        };
        if name.eq_ignore_ascii_case(b"auth") {
            return match args {
                [password] => self.login(DEFAULT_USER.as_bytes(), password, peer, Then::Ok),
                [user, password] => self.login(user, password, peer, Then::Ok),
                [] => Gated::Reply(reply::wrong_arity("auth")),
                _ => Gated::Reply(reply::syntax()),
            };
        }
        if name.eq_ignore_ascii_case(b"hello") {
            return self.hello(words, peer);
        }
        if self.mask == ALL || name.eq_ignore_ascii_case(b"quit") {
            return Gated::Pass;
        }
        if self.mask == NONE {
            return Gated::Reply(reply::error(NOAUTH));
        }
        if classify(words) & self.mask != 0 {
            return Gated::Pass;
        }
        let shown = shown_name(words);
        let user = self.user.as_deref().unwrap_or(DEFAULT_USER);
        let text = format!("NOPERM User {user} has no permissions to run the '{shown}' command");
        Gated::Reply(reply::error(&text))
    }

    /// `HELLO [protover [AUTH user password] [SETNAME name]]`: logs in when it has AUTH; without
    /// it, only a connection already logged in may run it.
    fn hello(&self, words: &[Bytes], peer: Option<SocketAddr>) -> Gated {
        let mut at = 2;
        while let Some(option) = words.get(at) {
            let left = words.len() - at - 1;
            if option.eq_ignore_ascii_case(b"auth") && left >= 2 {
                let (user, password) = (&words[at + 1], &words[at + 2]);
                let mut rest = words.to_vec();
                rest.drain(at..at + 3);
                return self.login(user, password, peer, Then::Hello(rest));
            }
            at += if option.eq_ignore_ascii_case(b"setname") {
                2
            } else {
                1
            };
        }
        if self.mask == NONE {
            Gated::Reply(reply::error(NOAUTH_HELLO))
        } else {
            Gated::Pass
        }
    }

    fn login(&self, user: &[u8], password: &[u8], peer: Option<SocketAddr>, then: Then) -> Gated {
        let user = String::from_utf8_lossy(user).into_owned();
        let check = self
            .access
            .check(user, password.to_vec(), peer.map(|p| p.ip()), self.failures);
        Gated::Login(Box::pin(async move { (check.await, then) }))
    }

    /// Applies a login's verdict; `Err` is the error to answer. A failed login leaves the
    /// connection as it was.
    pub fn settle(&mut self, verdict: Verdict) -> Result<(), Frame> {
        match verdict {
            Verdict::Granted { user, role } => {
                self.mask = role.mask();
                self.user = Some(user);
                Ok(())
            }
            Verdict::Denied => {
                self.failures = self.failures.saturating_add(1);
                Err(reply::error(WRONGPASS))
            }
            Verdict::Limited => {
                self.failures = self.failures.saturating_add(1);
                Err(reply::err(
                    "too many failed AUTH attempts from this address; try again later",
                ))
            }
        }
    }
}

/// The class of a request. Allocates nothing: this runs for every request of a connection
/// whose role is not admin.
fn classify(words: &[Bytes]) -> u8 {
    let name = &words[0];
    if name.eq_ignore_ascii_case(b"incr") {
        return WRITE;
    }
    match spec_of(words) {
        Some(spec) => command_class(spec.name, spec.flags),
        None => command_class(&String::from_utf8_lossy(name).to_ascii_lowercase(), &[]),
    }
}

/// The request's name as Redis shows it in NOPERM (`config|set` for a subcommand).
fn shown_name(words: &[Bytes]) -> String {
    match spec_of(words) {
        Some(spec) => spec.name.to_owned(),
        None => String::from_utf8_lossy(&words[0]).to_ascii_lowercase(),
    }
}

/// The command table's entry for a request (its subcommand's, when it has one).
fn spec_of(words: &[Bytes]) -> Option<&'static table::Spec> {
    let spec = table::find(&words[0])?;
    Some(match words.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => spec.subcommand(sub).unwrap_or(spec),
        _ => spec,
    })
}

/// The verdict of the login in `login`, once it is checked.
pub async fn settled(login: &mut Option<Login>) -> Option<(Verdict, Then)> {
    match login {
        Some(login) => Some(login.await),
        None => None,
    }
}
