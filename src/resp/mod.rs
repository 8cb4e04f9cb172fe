//! The RESP front door: speak the Redis protocol, RESP2 and (after `HELLO 3`) RESP3, so
//! redis-cli, redis-benchmark and every Redis client with its default settings can read and
//! increment ringkv's counters.
//!
//! # Layout
//! Bytes flow down; nothing here reaches into the actors except `connection`.
//! - [`parse`] — bytes → one request (`Vec<Bytes>`), with limits: our own scan of the multibulk
//!   headers, and `inline` for bare lines such as `PING\r\n`.
//! - [`reply`] — reply frames and the error texts Redis uses; `encode` writes a frame in RESP2 or
//!   RESP3 (the connection's [`reply::Proto`]).
//! - `commands` — one request → a plan: a reply made on the spot, or the cluster
//!   [`Request`](crate::Request)s to run and how to turn their answers into a reply.
//!   `admin` (PING, HELLO, CLIENT, CONFIG...), `info` (INFO), `table` (the command table) and
//!   `describe` (COMMAND, COMMAND DOCS) serve it. `fanout` reads the keys of a big MGET or
//!   EXISTS a chunk at a time.
//! - `connection` — one socket: read, plan, ask the Router, answer in order (pipelining);
//!   `login` — AUTH, HELLO AUTH, NOAUTH and NOPERM when the server has passwords;
//!   `server` — the listener and the [`RespServer`] handle.
//!
//! Counters are signed 64-bit integers as in Redis, counted up and down (`counters`); a key exists
//! once written, at 0 too (see `docs/RESP.md` and `docs/COUNTERS.md`).

mod admin;
mod clients;
mod commands;
mod connection;
mod counters;
mod describe;
mod encode;
mod expire;
mod fanout;
mod glob;
mod info;
mod inline;
mod keyspace;
mod login;
mod mset;
pub mod parse;
pub mod reply;
mod server;
mod table;
mod table_expire;
mod table_more;
mod table_writes;
mod task;
mod txn;
mod writes;

use std::time::Duration;

pub use info::Stats;
pub use server::{start, RespServer};

/// Limits that protect the RESP listener from its clients.
#[derive(Debug, Clone)]
pub struct RespLimits {
    /// The largest request accepted, in bytes (headers and arguments together). Past it the client
    /// gets `-ERR Protocol error: ...` and the connection is closed.
    pub max_request_len: usize,
    /// The most arguments one request may carry (`*N` with N above it is refused).
    pub max_args: usize,
    /// The longest inline command line (a request not starting with `*`).
    pub max_inline_len: usize,
    /// The most connections served at once; more get `-ERR max number of clients reached`.
    pub max_connections: usize,
    /// The most requests of one connection in flight at once; past it the socket is not read.
    pub max_pending: usize,
    /// How long the cluster may take to answer one request before the client gets an error.
    pub request_timeout: Duration,
    /// How long the rest of a request may take to arrive once its first byte came.
    pub partial_timeout: Duration,
    /// The most bytes one connection's requests in flight and unwritten replies may hold (the
    /// server's budget, shared with the framed ports, is `ServerLimits::max_server_bytes`).
    pub max_connection_bytes: usize,
    /// Who may connect and what each user may do (open by default: no password). See `login`.
    pub access: crate::auth::Access,
    /// TLS on this port (`--tls-cert-file`...); `None`, the default, is plaintext.
    pub tls: Option<crate::tls::TlsServer>,
}

/// The default largest request: 1 MiB.
pub const DEFAULT_MAX_REQUEST_LEN: usize = 1024 * 1024;

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits {
            max_request_len: DEFAULT_MAX_REQUEST_LEN,
            max_args: 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_connections: 10_000,
            max_pending: 1024,
            request_timeout: Duration::from_secs(10),
            partial_timeout: Duration::from_secs(30),
            max_connection_bytes: crate::actors::budget::CONNECTION_BYTES,
            access: crate::auth::Access::open(),
            tls: None,
        }
    }
}
