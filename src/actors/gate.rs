//! The gate of a framed connection: before an `Auth` request only `Auth` is served when the
//! server has passwords; after it, each request's class is tested against the user's role with
//! one `&` (the mask is set once, at login).

use std::future::Future;
use std::net::IpAddr;

use crate::auth::{Access, Role, Verdict, ADMIN, ALL, READ, WRITE};
use crate::error::Error;
use crate::protocol::{Request, Response};

/// The class of a framed request: [`READ`], [`WRITE`] or [`ADMIN`]. `Auth` is [`READ`] (it is
/// answered before any class is checked).
pub fn request_class(request: &Request) -> u8 {
    match request {
        Request::Get { .. }
        | Request::Status
        | Request::Ring
        | Request::StatusPage { .. }
        | Request::Read { .. }
        | Request::HotKeys { .. }
        | Request::Layout
        | Request::Auth { .. } => READ,
        Request::Update { .. }
        | Request::Delete { .. }
        | Request::Set { .. }
        | Request::SetIf { .. } => WRITE,
        Request::AddNode { .. }
        | Request::RemoveNode { .. }
        | Request::RemoveNodeForce { .. }
        | Request::RemoveNodeAt { .. }
        | Request::KillNode { .. }
        | Request::PauseNode { .. }
        | Request::Join { .. }
        | Request::PushLayout { .. }
        | Request::NodeCall(_) => ADMIN,
    }
}

/// A request's name in error messages: the REPL's word for it.
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Get { .. } | Request::Read { .. } => "get",
        Request::HotKeys { .. } => "hot-keys",
        Request::Layout => "layout",
        Request::Join { .. } => "a join",
        Request::PushLayout { .. } => "a layout push",
        Request::Update { .. } => "update",
        Request::Delete { .. } => "delete",
        Request::Set { .. } | Request::SetIf { .. } => "set",
        Request::Status => "status",
        Request::Ring => "ring",
        Request::StatusPage { .. } => "status --all",
        Request::Auth { .. } => "auth",
        Request::AddNode { .. } => "add-node",
        Request::RemoveNode { .. }
        | Request::RemoveNodeForce { .. }
        | Request::RemoveNodeAt { .. } => "remove-node",
        Request::KillNode { .. } => "kill-node",
        Request::PauseNode { .. } => "pause-node",
        Request::NodeCall(_) => "a node-to-node call",
    }
}

/// One connection's login state.
pub struct Gate {
    access: Access,
    /// The classes this connection may run: [`ALL`] when the server has no passwords.
    mask: u8,
    /// Who logged in, and as what.
    user: Option<(String, Role)>,
    /// Failed logins on this connection.
    failures: u32,
}

impl Gate {
    /// A connection's gate: open when `access` has no passwords, shut until `Auth` otherwise.
    pub fn new(access: Access) -> Gate {
        Gate {
            mask: access.initial_mask(),
            access,
            user: None,
            failures: 0,
        }
    }

    /// `None` when `request` may run, else the error to answer it with.
    #[inline]
    pub fn refuse(&self, request: &Request) -> Option<Response> {
        if self.mask == ALL || request_class(request) & self.mask != 0 {
            return None;
        }
        let e = match &self.user {
            None => Error::NoAuth("send an Auth request (user, password) first".into()),
            Some((user, role)) => Error::NoPerm(format!(
                "user {user} has the {role} role, which may not run {}",
                request_name(request)
            )),
        };
        Some(Response::from(e))
    }

    /// Checks a login from `peer`; give its verdict to [`Gate::settle`].
    pub fn login(
        &self,
        user: String,
        password: String,
        peer: Option<IpAddr>,
    ) -> impl Future<Output = Verdict> + Send + 'static {
        self.access
            .check(user, password.into_bytes(), peer, self.failures)
    }

    /// Applies a login's verdict and gives the answer to the `Auth` request. A failed login
    /// leaves the connection as it was.
    pub fn settle(&mut self, verdict: Verdict) -> Response {
        match verdict {
            Verdict::Granted { user, role } => {
                self.mask = role.mask();
                self.user = Some((user.clone(), role));
                Response::Authed { user, role }
            }
            Verdict::Denied => {
                self.failures = self.failures.saturating_add(1);
                let text = "invalid username-password pair or user is disabled";
                Response::from(Error::WrongPass(text.into()))
            }
            Verdict::Limited => {
                self.failures = self.failures.saturating_add(1);
                let text = "too many failed attempts from this address; try again later";
                Response::from(Error::WrongPass(text.into()))
            }
        }
    }
}
