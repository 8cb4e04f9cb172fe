//! Requests, responses and reports: the typed messages of ringkv, on the wire and inside the process.
//!
//! Variant order is part of the wire format (bincode writes the variant index): append new variants
//! at the end and never reorder.

use serde::{Deserialize, Serialize};

use crate::error::Error;

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
        /// How much to add.
        amount: u64,
    },
    /// Every node and the counters it holds. Tag 2.
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
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// A counter's value (answer to `Get`). Tag 0.
    Count {
        /// The key read.
        key: String,
        /// Its value (0 for a key never updated).
        value: u64,
    },
    /// An update was applied (answer to `Update`). Tag 1.
    Updated {
        /// The key updated.
        key: String,
        /// Its value after the update.
        value: u64,
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
}

/// What every node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// One entry per node, in the order the nodes joined.
    pub nodes: Vec<NodeStatus>,
}

/// One node's state and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's port.
    pub port: u16,
    /// Whether it is serving.
    pub state: NodeState,
    /// Its `(key, value)` pairs, sorted by key.
    pub counters: Vec<(String, u64)>,
}

/// A node's life state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Serving requests. Tag 0.
    Up,
    /// Crashed or unreachable. Tag 1.
    Down,
    /// Restarted and being refilled. Tag 2.
    Recovering,
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
    /// The fraction of the ring it owns, `0.0..=1.0`.
    pub share: f64,
    /// How many keys it holds.
    pub keys: u64,
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
}

impl From<&Error> for ErrorReply {
    fn from(e: &Error) -> Self {
        let code = match e {
            Error::Overflow => ErrorCode::Overflow,
            Error::NoSuchNode(_) => ErrorCode::NoSuchNode,
            Error::BadRequest(_) | Error::Bind { .. } => ErrorCode::BadRequest,
            Error::Unavailable(_) | Error::Shutdown | Error::Timeout(_) => ErrorCode::Unavailable,
            Error::Protocol(_) => ErrorCode::Protocol,
            Error::Server(_) | Error::Io(_) => ErrorCode::Internal,
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
    fn from(reply: ErrorReply) -> Self {
        match reply.code {
            ErrorCode::Overflow => Error::Overflow,
            ErrorCode::BadRequest => Error::BadRequest(reply.message),
            ErrorCode::Unavailable => Error::Unavailable(reply.message),
            ErrorCode::Protocol => Error::Protocol(reply.message),
            ErrorCode::NoSuchNode | ErrorCode::Internal => Error::Server(reply.message),
        }
    }
}
