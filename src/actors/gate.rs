//! The gate of a framed connection: before an `Auth` request only `Auth` is served when the
//! server has passwords; after it, each request's class is tested against the user's role with
//! one `&` (the mask is set once, at login).
//!
//! Node-to-node calls are a class of their own ([`NODE`]): on a port with a cluster secret only a
//! connection that passed the secret's handshake ([`Gate::peer`]) may make them, whatever user
//! logged in; without a secret they need the admin role, as any change to the cluster.

use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use crate::auth::{Access, Role, Verdict, ADMIN, ALL, NODE, READ, WRITE};
use crate::error::Error;
use crate::protocol::{ExpireOp, Request, Response};

/// The class of a framed request: [`READ`], [`WRITE`], [`ADMIN`] or [`NODE`]. `Auth` is [`READ`]
/// (it is answered before any class is checked).
pub fn request_class(request: &Request) -> u8 {
    match request {
        Request::Get { .. }
        | Request::Status
        | Request::Ring
        | Request::StatusPage { .. }
        | Request::Read { .. }
        | Request::HotKeys { .. }
        | Request::Layout
        | Request::Expire {
            op: ExpireOp::Deadline,
            ..
        }
        | Request::Auth { .. } => READ,
        Request::Update { .. }
        | Request::UpdateToken { .. }
        | Request::Delete { .. }
        | Request::Set { .. }
        | Request::SetIf { .. }
        | Request::SetTtl { .. }
        | Request::Expire { .. } => WRITE,
        Request::AddNode { .. }
        | Request::RemoveNode { .. }
        | Request::RemoveNodeForce { .. }
        | Request::RemoveNodeAt { .. }
        | Request::KillNode { .. }
        | Request::PauseNode { .. } => ADMIN,
        Request::Join { .. }
        | Request::PushLayout { .. }
        | Request::Prepare { .. }
        | Request::Accept { .. }
        | Request::CallOff { .. }
        | Request::NodeCall(_) => NODE,
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
        Request::Prepare { .. } | Request::Accept { .. } | Request::CallOff { .. } => {
            "a vote on the next ring"
        }
        Request::Update { .. } | Request::UpdateToken { .. } => "update",
        Request::Delete { .. } => "delete",
        Request::Set { .. } | Request::SetIf { .. } | Request::SetTtl { .. } => "set",
        Request::Expire { .. } => "expire",
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
    /// Whether node calls need the cluster secret's handshake (the port has a secret).
    secret: bool,
    /// The other end, for the one line that says a node call was refused.
    peer: Option<SocketAddr>,
    /// Whether that line was written for this connection.
    warned: Cell<bool>,
}

impl Gate {
    /// A connection's gate: open when `access` has no passwords, shut until `Auth` otherwise;
    /// with `secret`, node calls wait for [`Gate::peer`]. `peer` is the other end, for the log.
    pub fn new(access: Access, secret: bool, peer: Option<SocketAddr>) -> Gate {
        let mask = access.initial_mask();
        Gate {
            mask: mask | node_class(mask, secret),
            access,
            user: None,
            failures: 0,
            secret,
            peer,
            warned: Cell::new(false),
        }
    }

    /// The connection proved the cluster secret: a node of the cluster, which may run anything.
    pub fn peer(&mut self) {
        self.mask = ALL | NODE;
    }

    /// `None` when `request` may run, else the error to answer it with.
    #[inline]
    pub fn refuse(&self, request: &Request) -> Option<Response> {
        let class = request_class(request);
        if class & self.mask != 0 {
            return None;
        }
        if class == NODE && !self.warned.replace(true) {
            tracing::warn!(
                peer = ?self.peer,
                "refused a node-to-node call ({}) from a connection without the cluster secret",
                request_name(request)
            );
        }
        let e = match &self.user {
            _ if class == NODE && self.secret => Error::NoAuth(
                "node-to-node calls need the cluster secret (--cluster-secret-file), not a user"
                    .into(),
            ),
            None if class == NODE => Error::NoAuth(
                "this process has passwords and no cluster secret: no other process may call \
                 its nodes (start every process with the same --cluster-secret-file)"
                    .into(),
            ),
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
                self.mask = role.mask() | node_class(role.mask(), self.secret);
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

/// [`NODE`] for a connection that may make changes to the cluster when the port has no secret.
fn node_class(mask: u8, secret: bool) -> u8 {
    if !secret && mask & ADMIN != 0 {
        NODE
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::peer::WireOp;

    fn node_call() -> Request {
        Request::NodeCall(WireOp::TakeHints(1))
    }

    fn admin() -> Verdict {
        Verdict::Granted {
            user: "default".into(),
            role: Role::Admin,
        }
    }

    fn refused_code(gate: &Gate, request: &Request) -> Option<crate::protocol::ErrorCode> {
        match gate.refuse(request) {
            Some(Response::Error(e)) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn without_a_secret_node_calls_follow_the_admin_role() {
        let open = Gate::new(Access::open(), false, None);
        assert!(open.refuse(&node_call()).is_none(), "no password: open");
        let access = Access::new(Some("pw"), Default::default()).expect("access");
        let mut gate = Gate::new(access, false, None);
        assert!(gate.refuse(&node_call()).is_some(), "before a login");
        gate.settle(admin());
        assert!(gate.refuse(&node_call()).is_none(), "an admin may");
    }

    #[test]
    fn with_a_secret_only_a_proven_peer_makes_node_calls() {
        use crate::protocol::ErrorCode::NoAuth;
        let mut open = Gate::new(Access::open(), true, None);
        assert_eq!(
            refused_code(&open, &node_call()),
            Some(NoAuth),
            "no password either"
        );
        assert!(
            open.refuse(&Request::Status).is_none(),
            "clients are served"
        );
        open.peer();
        assert!(open.refuse(&node_call()).is_none(), "a peer may");
        let access = Access::new(Some("pw"), Default::default()).expect("access");
        let mut gate = Gate::new(access, true, None);
        gate.settle(admin());
        assert_eq!(
            refused_code(&gate, &node_call()),
            Some(NoAuth),
            "an admin may not"
        );
        assert!(
            gate.refuse(&Request::KillNode { port: 1 }).is_none(),
            "but may kill"
        );
        gate.peer();
        assert!(gate.refuse(&node_call()).is_none());
    }
}
