//! The library's one error type and its `Result` alias.

use thiserror::Error as ThisError;

/// Everything that can go wrong in ringkv's library.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum Error {
    /// An update would take a counter out of the signed 64-bit range (as Redis's, from
    /// `-9223372036854775808` to `9223372036854775807`).
    #[error("counter overflow: increment or decrement would leave the 64-bit signed range")]
    Overflow,
    /// A request named a node that is not in the cluster.
    #[error("no node on port {0}")]
    NoSuchNode(u16),
    /// A port could not be bound.
    #[error("cannot listen on port {port}: {reason}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// What the operating system said.
        reason: String,
    },
    /// The request is not valid (bad key, bad amount, bad command word...).
    #[error("{0}")]
    BadRequest(String),
    /// The cluster cannot serve the request right now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The peer spoke something other than ringkv's framed protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered with an error.
    #[error("server error: {0}")]
    Server(String),
    /// A network operation failed.
    #[error("connection error: {0}")]
    Io(String),
    /// A network operation took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An update may or may not have been applied (a replica timed out or the quorum was missed
    /// after the increment was taken).
    #[error("outcome unknown: {0}")]
    Uncertain(String),
    /// The data directory cannot be used, or a write to it failed (the update was not acknowledged).
    #[error("storage error: {0}")]
    Storage(String),
    /// The server wants the connection to authenticate first.
    #[error("authentication required: {0}")]
    NoAuth(String),
    /// A login failed: wrong user name or password, or too many failures lately.
    #[error("authentication failed: {0}")]
    WrongPass(String),
    /// The user's role does not allow the request.
    #[error("permission denied: {0}")]
    NoPerm(String),
    /// The actor system is shut down or an actor died.
    #[error("cluster is shut down")]
    Shutdown,
}

/// `Result` with ringkv's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<actix::MailboxError> for Error {
    fn from(_: actix::MailboxError) -> Self {
        Error::Shutdown
    }
}
