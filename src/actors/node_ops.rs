//! The messages between the Router and a node: [`NodeCall`] carries a [`NodeOp`], answered by a
//! [`NodeReply`].

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::ring_guard::RingGuard;
use crate::counter::Counter;
use crate::error::Result;
use crate::rebalance::ArcSet;
use crate::ring::{NodeId, Ring, TokenRange};
use crate::store::Entry;

/// What the Router asks of a node. One message type, so a node is reached through one
/// `Recipient<NodeCall>`: a node in another process could stand behind the same interface.
#[derive(Debug, Clone)]
pub enum NodeOp {
    /// Add `amount` to `key` in this node's own slot (in its hints for `hint_for` if set).
    Increment {
        /// The key.
        key: String,
        /// How much to add (negative: to take away).
        amount: i64,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// The state of `key` (from the hints for `hint_for` if set).
    Read {
        /// The key.
        key: String,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// Merge replica states into the store (into the hints for `hint_for` if set).
    Merge {
        /// The states.
        entries: Vec<Entry>,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// Remove and return the hints kept for a node.
    TakeHints(NodeId),
    /// Copies of the entries in the given ranges (all if `None`).
    Entries(Option<Vec<TokenRange>>),
    /// Copies of the entries whose first `replicas` ring nodes include `node`.
    EntriesFor {
        /// The ring to judge by.
        ring: Arc<Ring>,
        /// R.
        replicas: usize,
        /// The node.
        node: NodeId,
    },
    /// Copies of the entries whose tokens lie on the given arcs.
    EntriesIn(Arc<ArcSet>),
    /// Drop the entries whose tokens lie on the given arcs (a ring change took them elsewhere).
    DropIn(Arc<ArcSet>),
    /// Copies of the entries whose tokens lie outside the given arcs (the arcs the node
    /// replicates): copies it holds but no longer replicates.
    EntriesOutside(Arc<ArcSet>),
    /// Drop each of the entries whose token lies outside `keep` and whose state here is unchanged,
    /// but only while `epoch` still reads `expected` (no ring change began since the sweep
    /// started). Hints are never dropped.
    DropUnchanged {
        /// The entries, as read by [`NodeOp::EntriesOutside`] and given to their replicas.
        entries: Vec<Entry>,
        /// The arcs the node replicates.
        keep: Arc<ArcSet>,
        /// The Router's ring-change counter.
        epoch: Arc<AtomicU64>,
        /// Its value when the sweep started.
        expected: u64,
    },
    /// A digest of the entries of each arc of the ring.
    Digests(Arc<Ring>),
    /// At most `most` tombstones this node has held unchanged for `grace_ms` (tombstone
    /// collection, `router/collect.rs`); refused while the node keeps hints (a hint may hold a
    /// state older than a delete).
    AgedTombstones {
        /// The grace period.
        grace_ms: u64,
        /// The most entries answered.
        most: usize,
    },
    /// For each entry: whether this node holds its key as a tombstone unchanged for `grace_ms`
    /// in exactly the entry's state (`Some(true)`), holds it otherwise (`Some(false)`), or not
    /// at all (`None`).
    CheckTombstones {
        /// The tombstones, as another replica holds them.
        entries: Vec<Entry>,
        /// The grace period.
        grace_ms: u64,
    },
    /// Drop each entry this node holds exactly so as a tombstone, but only while `guard` holds
    /// (no ring change began since the collection started).
    DropTombstones {
        /// The tombstones every replica agreed on.
        entries: Vec<Entry>,
        /// Checked under the node's data lock.
        guard: RingGuard,
    },
    /// At most `most` keys whose remembered tokens are due to fold for a dedup window of
    /// `window_ms` (the idle-token sweep), from a bounded visit of the node's counters.
    FoldDue {
        /// The dedup window.
        window_ms: u64,
        /// The most keys answered.
        most: usize,
    },
    /// `(key, value)` pairs, sorted, and the number of hints kept.
    Dump,
    /// The first keys in key order, for `status`: at most `limit` the node owns on `ring`, then
    /// its further replicas up to `limit` lines in all.
    Summary {
        /// The ring that tells owned keys from replicas.
        ring: Arc<Ring>,
        /// The most keys listed.
        limit: usize,
    },
    /// One page of `status --all`: at most `limit` keys after `after`, in key order, of those
    /// the node owns on `ring` (`owned`) or of its further replicas (`!owned`).
    Page {
        /// The ring that tells owned keys from replicas.
        ring: Arc<Ring>,
        /// Owned keys, or further replicas.
        owned: bool,
        /// The last key of the previous page.
        after: Option<String>,
        /// The most keys listed.
        limit: usize,
    },
    /// How many keys the node holds, and how many of them it owns on the given ring.
    KeyCount(Arc<Ring>),
    /// The sum, in milliseconds, of the times to live of the keys with a deadline the node owns
    /// on the given ring (`INFO`'s `avg_ttl`), as a [`NodeReply::Count`].
    TtlSum(Arc<Ring>),
    /// Make room in the node's index for this many more keys, ahead of a copy: growing it later
    /// would rehash every key it holds while holding its lock, in the middle of the copy, where
    /// updates to the node wait for it. Within one process only (a bound from another process
    /// would let it ask for any allocation).
    Reserve(usize),
    /// Answer at once (a liveness probe).
    Ping,
    /// Stop answering for a while.
    Pause(Duration),
    /// Crash: lose the memory, close the listener, stop (the supervisor may restart).
    Crash,
    /// Stop for good after a handoff.
    Stop,
}

/// A node's answer to a [`NodeOp`].
#[derive(Debug, Clone)]
pub enum NodeReply {
    /// Done, nothing to report.
    Done,
    /// A key's state (`None`: not held).
    State(Option<Counter>),
    /// How many entries changed or were dropped; how many keys are held.
    Count(usize),
    /// Entries.
    Entries(Vec<Entry>),
    /// Digest of each arc.
    Digests(HashMap<usize, u64>),
    /// Keys held, keys owned (primary copies), and owned keys with a deadline.
    Counts(usize, usize, usize),
    /// Sorted `(key, value)` pairs and the number of hints.
    Dump(Vec<(String, i64)>, usize),
    /// The answer to [`NodeOp::Summary`].
    Summary(Summary),
    /// Sorted `(key, value)` pairs: one page.
    Page(Vec<(String, i64)>),
    /// The answer to [`NodeOp::CheckTombstones`], one per entry.
    Checks(Vec<Option<bool>>),
    /// Keys.
    Keys(Vec<String>),
}

/// The first keys of a node, for `status`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Owned keys, sorted.
    pub counters: Vec<(String, i64)>,
    /// Further replicas, sorted.
    pub replicas: Vec<(String, i64)>,
    /// How many keys the node holds in all.
    pub keys: usize,
    /// How many hinted writes it keeps.
    pub hints: usize,
}

/// One call to a node.
#[derive(Message, Debug)]
#[rtype(result = "Result<NodeReply>")]
pub struct NodeCall(pub NodeOp);
