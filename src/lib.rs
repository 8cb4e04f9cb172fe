//! ringkv: a distributed store of event counters on a consistent-hashing ring, built on actix.
//!
//! # Layout
//! Data flows down; nothing imports upward.
//! 1. [`ring`] — the consistent-hash ring: murmur3 tokens, virtual nodes, owners, ring diffs.
//! 2. [`counter`], [`store`], [`replication`], [`rebalance`] — a mergeable counter, a node's
//!    counters, the rules of R, W, Q and hinted writes, and which arcs move when the ring changes;
//!    [`expire`], the expiry operations on a merged counter state.
//!    Plain data. [`persist`] keeps them on disk: a locked data directory, one append-only log per
//!    node. [`node_data`] puts a node's store, slot and log behind a lock; [`direct`] serves reads
//!    and updates on them without actors while every replica is up.
//!    [`auth`] — users, roles and login checks (plain data).
//! 3. [`protocol`] — requests, responses and the framing codec (the only bincode user).
//!    [`command`] parses text lines into requests; [`render`] prints responses as text.
//! 4. [`actors`] — `NodeActor` (listener + the Router's calls), `Router` (ring, failures, moves),
//!    `Gateway` (direct path or Router), `RemoteNode` (a node in another process), `Repl`.
//!    [`membership`] — which processes of a cluster are alive (SWIM via foca): a plain core and
//!    one actor owning its UDP socket (not yet wired into the Router).
//!    [`tls`] — TLS for the client ports and the `Client` (rustls).
//! 5. Front doors — [`Cluster`] for embedding, [`Client`] for the framed protocol, and the `ringkv`
//!    binary (`src/main.rs`).

pub mod actors;
pub mod agreement;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod command;
pub mod counter;
pub mod direct;
mod error;
pub mod expire;
pub mod hashtag;
pub mod hotkeys;
pub mod http;
mod joining;
pub mod layout;
pub mod membership;
pub mod metrics;
pub mod node_data;
pub mod persist;
pub mod progress;
pub mod protocol;
pub mod quote;
pub mod rebalance;
pub mod render;
pub mod replication;
pub mod resp;
pub mod ring;
pub mod status_all;
pub mod store;
pub mod tls;

pub use client::Client;
pub use cluster::{Cluster, ClusterConfig};
pub use error::{Error, Result};
pub use protocol::{Request, Response};

/// The README's Rust examples, compiled as doc tests so they cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
