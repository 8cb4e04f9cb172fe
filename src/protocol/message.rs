//! Requests, responses and reports: the typed messages of ringkv, on the wire and inside the process.
//!
//! Variant order is part of the wire format (bincode writes the variant index): append new variants
//! at the end and never reorder.

use serde::{Deserialize, Serialize};

use std::net::SocketAddr;

use super::peer::{WireOp, WireReply};
use super::vote::{LayoutBallot, Vote};
use crate::auth::{Password, Role};
use crate::error::Error;
pub use crate::expire::{ExpireCond, ExpireOp, SetTtl};
pub use crate::layout::Layout;
pub use crate::replication::NodeState;
use crate::ring::NodeId;

/// A command for the cluster, as the REPL, the framed protocol and the embedding API send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read a counter. Tag 0.
    Get {
        /// The counter's key.
        key: String,
    },
    /// Add `amount` to a counter. Tag 1.
    Update {
        /// The counter's key.
        key: String,
        /// How much to add (negative: to take away); the result must stay in `i64`.
        amount: i64,
    },
    /// Every node and the first [`STATUS_KEYS_PER_NODE`] counters it holds. Tag 2.
    Status,
    /// Each node's share of the ring. Tag 3.
    Ring,
    /// Start a node on `port` (any free port if `None`). Tag 4.
    AddNode {
        /// The port to listen on.
        port: Option<u16>,
    },
    /// Stop the node on `port` after handing its keys to their new owners. Tag 5.
    RemoveNode {
        /// The node's port.
        port: u16,
    },
    /// Crash the node on `port`: no handoff. Tag 6.
    KillNode {
        /// The node's port.
        port: u16,
    },
    /// Make the node on `port` stop answering for `millis` milliseconds (like SIGSTOP). Tag 7.
    PauseNode {
        /// The node's port.
        port: u16,
        /// How long, in milliseconds.
        millis: u64,
    },
    /// One page of a node's keys in key order, for `status --all`. Tag 8.
    StatusPage {
        /// The node's port.
        port: u16,
        /// The keys it owns (primary copies), or its further replicas.
        owned: bool,
        /// Only keys greater than this one (the last key of the previous page).
        after: Option<String>,
        /// The most keys in the page (at most [`MAX_PAGE_KEYS`]).
        limit: u32,
    },
    /// A node-to-node call for the node listening on this port (see [`super::peer`]). Tag 9.
    NodeCall(WireOp),
    /// Like `RemoveNode`, even when fewer nodes than R would remain (`remove-node PORT --force`).
    /// Tag 10.
    RemoveNodeForce {
        /// The node's port.
        port: u16,
    },
    /// From a process that joins the cluster: add its nodes (copying them the keys they now
    /// replicate); answered with the new [`Layout`] once they are on the ring. Tag 11.
    Join {
        /// The joining process's membership address (the `HOST:PORT` of its node with the lowest port).
        process: SocketAddr,
        /// Its nodes: their ids and addresses.
        nodes: Vec<(NodeId, SocketAddr)>,
    },
    /// The layout this process holds (answered with [`Response::Layout`]). Tag 12.
    Layout,
    /// From the process that runs a membership change: while keys are copied (`moving`), the
    /// layout to also write to; then the layout in force. Answered with the receiver's layout.
    /// Tag 13.
    PushLayout {
        /// The new layout.
        layout: Layout,
        /// Whether keys are still being copied to it.
        moving: bool,
    },
    /// `remove-node HOST:PORT [--force]`: remove the node at this address, whichever process runs
    /// it (as `RemoveNode`, or `RemoveNodeForce` with `force`). Tag 14.
    RemoveNodeAt {
        /// The node's address.
        addr: SocketAddr,
        /// Even when fewer nodes than R would remain.
        force: bool,
    },
    /// The keys updated most over the last minute (`--hot-keys`), at most `limit` (capped at
    /// [`MAX_HOT_KEYS`]). Tag 15.
    HotKeys {
        /// How many keys to list.
        limit: u32,
    },
    /// Read a counter and whether it exists (answered by [`Response::Value`]). Tag 16.
    Read {
        /// The counter's key.
        key: String,
    },
    /// Log in as `user` (`default` for the `--requirepass-file` password); answered `Authed` or
    /// a `WrongPass` error. Tag 17.
    Auth {
        /// The user's name.
        user: String,
        /// Its password, in clear (use TLS beyond one host).
        password: Password,
    },
    /// Delete a counter (an observed reset: see `docs/COUNTERS.md`); answered by
    /// [`Response::Deleted`]. Tag 18.
    Delete {
        /// The counter's key.
        key: String,
    },
    /// Set a counter to `value` (a reset, then an increment); answered by [`Response::Replaced`].
    /// Tag 19.
    Set {
        /// The counter's key.
        key: String,
        /// Its new value.
        value: i64,
    },
    /// Set a counter to `value` only if it exists (`exists`) or only if it does not (`!exists`),
    /// as Redis's `SET ... XX` and `SET ... NX`; answered by [`Response::Replaced`]. Tag 20.
    SetIf {
        /// The counter's key.
        key: String,
        /// Its new value.
        value: i64,
        /// Whether the key must exist (`true`) or must not (`false`).
        exists: bool,
    },
    /// An expiry operation on a counter (`EXPIRE`, `PERSIST`, `TTL`... see [`ExpireOp`]);
    /// answered by [`Response::Expiry`]. Tag 21.
    Expire {
        /// The counter's key.
        key: String,
        /// What to do.
        op: ExpireOp,
    },
    /// Set a counter to `value` (as `Set`, or as `SetIf` with `exists`) and do `ttl` to its
    /// deadline (`SET ... EX`, `KEEPTTL`); answered by [`Response::Replaced`]. Tag 22.
    SetTtl {
        /// The counter's key.
        key: String,
        /// Its new value.
        value: i64,
        /// `None`: always; else whether the key must exist (`true`) or must not (`false`).
        exists: Option<bool>,
        /// What happens to its deadline.
        ttl: SetTtl,
    },
    /// Add `amount` to a counter exactly once per `token`: a retry with the same token within
    /// the dedup window (through any node) adds nothing and answers the current value (see
    /// `docs/COUNTERS.md`). Answered by [`Response::Updated`]. Tag 23.
    UpdateToken {
        /// The counter's key.
        key: String,
        /// How much to add (negative: to take away); the result must stay in `i64`.
        amount: i64,
        /// The idempotency token: 1 to 256 bytes the client picks, unique per update.
        token: Vec<u8>,
    },
    /// From a process that proposes the next layout: phase 1 of the majority agreement (see
    /// [`crate::agreement`]); answered by [`Response::Vote`] (`Promised` or a refusal). Tag 24.
    Prepare {
        /// The proposal's ballot (its epoch is the one voted on).
        ballot: LayoutBallot,
    },
    /// Phase 2: accept `layout` for the ballot's epoch under `ballot`; answered by
    /// [`Response::Vote`] (`Accepted` or a refusal). Tag 25.
    Accept {
        /// The ballot promised in phase 1.
        ballot: LayoutBallot,
        /// The proposed layout (its epoch is the ballot's).
        layout: Layout,
    },
    /// The proposal under `ballot` is called off (its copy failed): the acceptor forgets it, and
    /// a process writing to `layout`'s replicas stops; answered by [`Response::Vote`]
    /// (`Accepted`). Tag 26.
    CallOff {
        /// The ballot of the proposal called off.
        ballot: LayoutBallot,
        /// The layout it proposed.
        layout: Layout,
    },
}

/// The most keys one [`Request::HotKeys`] answer lists.
pub const MAX_HOT_KEYS: u32 = 100;

/// The most keys per node a `Status` answer lists; the rest are counted in [`NodeStatus::more`].
pub const STATUS_KEYS_PER_NODE: usize = 100;
/// The most keys one [`Request::StatusPage`] answer holds.
pub const MAX_PAGE_KEYS: u32 = 1000;

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// A counter's value (answer to `Get`). Tag 0.
    Count {
        /// The key read.
        key: String,
        /// Its value (0 for a key never updated).
        value: i64,
    },
    /// An update was applied (answer to `Update`). Tag 1.
    Updated {
        /// The key updated.
        key: String,
        /// Its value after the update.
        value: i64,
    },
    /// Answer to `Status`. Tag 2.
    Status(StatusReport),
    /// Answer to `Ring`. Tag 3.
    Ring(RingReport),
    /// A node was started (answer to `AddNode`). Tag 4.
    NodeAdded {
        /// The new node's port.
        port: u16,
        /// How many keys moved to it.
        keys_moved: u64,
    },
    /// A node was removed gracefully (answer to `RemoveNode`). Tag 5.
    NodeRemoved {
        /// The removed node's port.
        port: u16,
        /// How many keys it handed off.
        keys_moved: u64,
    },
    /// A node was crashed (answer to `KillNode`). Tag 6.
    NodeKilled {
        /// The killed node's port.
        port: u16,
        /// How many keys were lost with it.
        keys_lost: u64,
    },
    /// The request failed. Tag 7.
    Error(ErrorReply),
    /// A node was paused (answer to `PauseNode`). Tag 8.
    NodePaused {
        /// The paused node's port.
        port: u16,
        /// For how long, in milliseconds.
        millis: u64,
    },
    /// One page of a node's keys (answer to `StatusPage`). Tag 9.
    StatusPage(StatusPage),
    /// A node's answer to a `NodeCall`. Tag 10.
    NodeReply(std::result::Result<WireReply, ErrorReply>),
    /// The cluster's layout as the answering process holds it (answer to `Join`, `Layout` and
    /// `PushLayout`). Tag 11.
    Layout(Layout),
    /// The keys updated most over the last minute, most first (answer to `HotKeys`). Tag 12.
    HotKeys {
        /// Whether the server tracks them (`--hot-keys`); the list is empty when not.
        enabled: bool,
        /// The keys.
        keys: Vec<crate::hotkeys::HotKey>,
    },
    /// A counter's value, `None` if the key does not exist (answer to `Read`). Tag 13.
    Value {
        /// The key read.
        key: String,
        /// Its value, if it exists (was written and not deleted).
        value: Option<i64>,
    },
    /// The connection is now `user`, with `role` (answer to `Auth`). Tag 14.
    Authed {
        /// The user's name.
        user: String,
        /// What it may do.
        role: Role,
    },
    /// The counter was deleted (answer to `Delete`). Tag 15.
    Deleted {
        /// The key.
        key: String,
        /// Its value before, `None` if it did not exist (then nothing was written).
        old: Option<i64>,
    },
    /// The answer to `Set` and `SetIf`. Tag 16.
    Replaced {
        /// The key.
        key: String,
        /// Its value before, `None` if it did not exist.
        old: Option<i64>,
        /// Whether the value was set (always for `Set`; for `SetIf`, whether the condition held).
        done: bool,
    },
    /// The answer to `Expire`. Tag 17.
    Expiry {
        /// The key.
        key: String,
        /// The operation answered.
        op: ExpireOp,
        /// For `At` and `Persist`: 1 if done, 0 if not (no key, or the condition failed); for
        /// `Deadline`: the deadline in unix milliseconds, -1 without one, -2 for a missing key.
        answer: i64,
        /// The key's value before the operation, if it existed.
        value: Option<i64>,
    },
    /// An acceptor's answer to `Prepare`, `Accept` and `CallOff`. Tag 18.
    Vote(Vote),
}

/// One page of a node's keys: a page with fewer than the `limit` asked for is the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPage {
    /// The node's port.
    pub port: u16,
    /// Whether these are keys it owns (primary copies) or further replicas.
    pub owned: bool,
    /// The `(key, value)` pairs, sorted by key.
    pub entries: Vec<(String, i64)>,
}

/// What every node holds, and how replication is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// One entry per node, in the order the nodes joined.
    pub nodes: Vec<NodeStatus>,
    /// Copies of each key in force (R).
    pub replicas: u32,
    /// Acknowledgements per update (W).
    pub write_quorum: u32,
    /// Replicas per read (Q).
    pub read_quorum: u32,
    /// Stale replicas fixed by reads so far.
    pub read_repairs: u64,
    /// Stale replicas fixed by anti-entropy passes so far.
    pub anti_entropy_repairs: u64,
    /// Anti-entropy passes run so far.
    pub anti_entropy_passes: u64,
}

/// One node's state and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's port.
    pub port: u16,
    /// Whether it is serving.
    pub state: NodeState,
    /// The `(key, value)` pairs it holds as the key's primary (owner), sorted by key.
    pub counters: Vec<(String, i64)>,
    /// The `(key, value)` pairs it holds as a further replica, sorted by key.
    pub replicas: Vec<(String, i64)>,
    /// How many hinted writes it keeps for nodes that are down.
    pub hints: u64,
    /// How many keys it holds beyond those listed (a node lists at most
    /// [`STATUS_KEYS_PER_NODE`]; `StatusPage` requests give the rest).
    pub more: u64,
    /// Its `HOST:PORT` once the cluster's nodes live on more than one host (`None` while they
    /// share one: then it is named by its port).
    pub addr: Option<String>,
}

/// Each node's share of the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RingReport {
    /// Virtual nodes per physical node.
    pub vnodes: u32,
    /// One entry per node, in the order the nodes joined.
    pub nodes: Vec<NodeShare>,
}

/// One node's share of the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeShare {
    /// The node's port.
    pub port: u16,
    /// Whether it is serving.
    pub state: NodeState,
    /// The fraction of the ring it owns, `0.0..=1.0`.
    pub share: f64,
    /// How many keys it holds (primary copies and replicas).
    pub keys: u64,
    /// How many of them it holds as the key's primary (owner).
    pub primaries: u64,
    /// Its `HOST:PORT` once the cluster's nodes live on more than one host.
    pub addr: Option<String>,
    /// How many of its primary keys have a deadline (`INFO`'s `expires`).
    pub expiring: u64,
    /// The sum of those keys' times to live in milliseconds (`INFO`'s `avg_ttl` is the sum over
    /// the nodes divided by `expires`). Filled in within the server for `INFO` and not sent to
    /// clients: decoded as 0.
    #[serde(skip)]
    pub ttl_ms: u64,
}

/// A failed request: a machine-readable code and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A one-line explanation for people.
    pub message: String,
}

/// The kinds of failure a server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request is malformed or invalid. Tag 0.
    BadRequest,
    /// The request names a node that does not exist. Tag 1.
    NoSuchNode,
    /// The update would overflow the counter. Tag 2.
    Overflow,
    /// Not enough nodes can serve the request. Tag 3.
    Unavailable,
    /// The frame broke the protocol (magic, version, length, encoding). Tag 4.
    Protocol,
    /// Something failed inside the server. Tag 5.
    Internal,
    /// An update may or may not have been applied (timeout, or quorum missed after the replica
    /// took it): retrying may count it twice. Tag 6.
    Uncertain,
    /// The server wants an `Auth` request first. Tag 7.
    NoAuth,
    /// The user name and password do not match (or the user is disabled). Tag 8.
    WrongPass,
    /// The user's role does not allow this request. Tag 9.
    NoPerm,
}

impl From<&Error> for ErrorReply {
    fn from(e: &Error) -> Self {
        let code = match e {
            Error::Overflow => ErrorCode::Overflow,
            Error::NoSuchNode(_) => ErrorCode::NoSuchNode,
            Error::BadRequest(_) | Error::Bind { .. } => ErrorCode::BadRequest,
            Error::Unavailable(_) | Error::Shutdown | Error::Timeout(_) => ErrorCode::Unavailable,
            Error::Protocol(_) => ErrorCode::Protocol,
            Error::Server(_) | Error::Io(_) | Error::Storage(_) => ErrorCode::Internal,
            Error::Uncertain(_) => ErrorCode::Uncertain,
            Error::NoAuth(_) => ErrorCode::NoAuth,
            Error::WrongPass(_) => ErrorCode::WrongPass,
            Error::NoPerm(_) => ErrorCode::NoPerm,
        };
        ErrorReply {
            code,
            message: e.to_string(),
        }
    }
}

impl From<Error> for Response {
    fn from(e: Error) -> Self {
        Response::Error(ErrorReply::from(&e))
    }
}

impl From<ErrorReply> for Error {
    /// The typed error a server's answer stands for. The prefix the server's `Display` put in
    /// front of the message (`unavailable: `...) is taken off, so it is not printed twice.
    fn from(reply: ErrorReply) -> Self {
        let bare = |prefix: &str| {
            reply
                .message
                .strip_prefix(prefix)
                .unwrap_or(&reply.message)
                .to_owned()
        };
        match reply.code {
            ErrorCode::Overflow => Error::Overflow,
            ErrorCode::BadRequest => Error::BadRequest(reply.message),
            ErrorCode::Unavailable => Error::Unavailable(bare("unavailable: ")),
            ErrorCode::Protocol => Error::Protocol(bare("protocol error: ")),
            ErrorCode::Uncertain => Error::Uncertain(bare("outcome unknown: ")),
            ErrorCode::NoAuth => Error::NoAuth(bare("authentication required: ")),
            ErrorCode::WrongPass => Error::WrongPass(bare("authentication failed: ")),
            ErrorCode::NoPerm => Error::NoPerm(bare("permission denied: ")),
            ErrorCode::NoSuchNode | ErrorCode::Internal => Error::Server(reply.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_a_round_trip_without_a_doubled_prefix() {
        for e in [
            Error::Unavailable("only 1 of 3 replicas".into()),
            Error::Uncertain("update of 'a' timed out".into()),
            Error::Protocol("bad magic".into()),
            Error::BadRequest("usage: get KEY".into()),
            Error::Overflow,
            Error::NoAuth("send Auth first".into()),
            Error::WrongPass("invalid username-password pair".into()),
            Error::NoPerm("user bob has the read role".into()),
        ] {
            let back = Error::from(ErrorReply::from(&e));
            assert_eq!(back, e);
            assert_eq!(back.to_string(), e.to_string());
        }
    }
}
