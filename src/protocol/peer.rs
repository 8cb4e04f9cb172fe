//! Node-to-node messages: the calls a Router makes to a node ([`crate::actors::NodeOp`]) in a form
//! that crosses the wire, and their answers.
//!
//! A node in another process is reached through its own port: a [`Request::NodeCall`] carries one
//! [`WireOp`] for the node that listens there, answered by a [`Response::NodeReply`]. Rings
//! travel as a [`RingSpec`] (the ring is a pure function of its virtual node count and its node
//! ids, so the receiver rebuilds it, and keeps the last one it built), arc sets as the ring and
//! the arc numbers. Everything received is checked before use: a spec or an arc number out of
//! bounds is a `BadRequest`, never a panic or a huge allocation.
//!
//! [`Request::NodeCall`]: super::Request::NodeCall
//! [`Response::NodeReply`]: super::Response::NodeReply

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::ring::{NodeId, Ring, TokenRange};
use crate::store::Entry;

/// The most nodes a [`RingSpec`] may name.
pub const MAX_SPEC_NODES: usize = 1000;
/// The most virtual nodes per node a [`RingSpec`] may ask for.
pub const MAX_SPEC_VNODES: u32 = 4096;

/// A ring as it travels: its virtual nodes per node and its node ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingSpec {
    /// Virtual nodes per node.
    pub vnodes: u32,
    /// The node ids, sorted.
    pub nodes: Vec<NodeId>,
}

impl RingSpec {
    /// The spec of `ring`.
    pub fn of(ring: &Ring) -> Self {
        RingSpec {
            vnodes: ring.vnodes(),
            nodes: ring.nodes().collect(),
        }
    }

    /// Builds the ring, after checking the spec's bounds.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for too many nodes or virtual nodes.
    pub fn build(&self) -> Result<Ring> {
        if self.nodes.len() > MAX_SPEC_NODES || self.vnodes == 0 || self.vnodes > MAX_SPEC_VNODES {
            return Err(Error::BadRequest(format!(
                "ring of {} nodes with {} virtual nodes each is out of bounds",
                self.nodes.len(),
                self.vnodes
            )));
        }
        Ok(Ring::with_nodes(self.vnodes, self.nodes.iter().copied()))
    }
}

/// A node call as it travels (one per [`crate::actors::NodeOp`], in the same order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireOp {
    /// Add `amount` to `key` in the node's own slot (in its hints for `hint_for`). Tag 0.
    Increment {
        /// The key.
        key: String,
        /// How much to add.
        amount: i64,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// The state of `key`. Tag 1.
    Read {
        /// The key.
        key: String,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// Merge replica states. Tag 2.
    Merge {
        /// The states.
        entries: Vec<Entry>,
        /// The down replica this node stands in for, if any.
        hint_for: Option<NodeId>,
    },
    /// Remove and return the hints kept for a node. Tag 3.
    TakeHints(NodeId),
    /// Copies of the entries in the given ranges (all if `None`). Tag 4.
    Entries(Option<Vec<TokenRange>>),
    /// Copies of the entries whose first `replicas` ring nodes include `node`. Tag 5.
    EntriesFor {
        /// The ring to judge by.
        ring: RingSpec,
        /// R.
        replicas: u32,
        /// The node.
        node: NodeId,
    },
    /// Copies of the entries on the given arcs of `ring`. Tag 6.
    EntriesIn {
        /// The ring whose arcs are numbered.
        ring: RingSpec,
        /// Arc numbers, in the ring's token order.
        arcs: Vec<u32>,
    },
    /// Drop the entries on the given arcs of `ring`. Tag 7.
    DropIn {
        /// The ring whose arcs are numbered.
        ring: RingSpec,
        /// Arc numbers, in the ring's token order.
        arcs: Vec<u32>,
    },
    /// A digest of the entries of each arc of the ring. Tag 8.
    Digests(RingSpec),
    /// `(key, value)` pairs, sorted, and the number of hints kept. Tag 9.
    Dump,
    /// The first keys in key order, for `status`. Tag 10.
    Summary {
        /// The ring that tells owned keys from replicas.
        ring: RingSpec,
        /// The most keys listed.
        limit: u32,
    },
    /// One page of `status --all`. Tag 11.
    Page {
        /// The ring that tells owned keys from replicas.
        ring: RingSpec,
        /// Owned keys, or further replicas.
        owned: bool,
        /// The last key of the previous page.
        after: Option<String>,
        /// The most keys listed.
        limit: u32,
    },
    /// How many keys the node holds, and how many it owns on the ring. Tag 12.
    KeyCount(RingSpec),
    /// Answer at once. Tag 13.
    Ping,
    /// Stop answering for this many milliseconds. Tag 14.
    Pause(u64),
    /// Crash. Tag 15.
    Crash,
    /// Stop for good after a handoff. Tag 16.
    Stop,
    /// Copies of the entries outside the given arcs of `ring` (copies the node holds but no
    /// longer replicates). Tag 17.
    EntriesOutside {
        /// The ring whose arcs are numbered.
        ring: RingSpec,
        /// Arc numbers, in the ring's token order.
        arcs: Vec<u32>,
    },
    /// At most `most` tombstones the node has held unchanged for `grace_ms` (tombstone
    /// collection); refused while the node keeps hints. Tag 18.
    AgedTombstones {
        /// The grace period in milliseconds.
        grace_ms: u64,
        /// The most entries answered (at most [`MAX_AGED_TOMBSTONES`]; 0 asks only whether the
        /// node keeps hints).
        most: u32,
    },
    /// For each entry: whether the node holds its key as a tombstone aged and alike, otherwise,
    /// or not at all. Tag 19.
    CheckTombstones {
        /// The tombstones, as another replica holds them.
        entries: Vec<Entry>,
        /// The grace period in milliseconds.
        grace_ms: u64,
    },
    /// Drop each entry the node holds exactly so as a tombstone, only while its process has
    /// settled on ring epoch `epoch` (no move under way). Tag 20.
    DropTombstones {
        /// The tombstones every replica agreed on.
        entries: Vec<Entry>,
        /// The agreed ring epoch the collection began under.
        epoch: u64,
    },
    /// The sum of the times to live (ms) of the keys with a deadline the node owns on `ring`.
    /// Tag 21.
    TtlSum(RingSpec),
}

/// The most tombstones one [`WireOp::AgedTombstones`] may ask for.
pub const MAX_AGED_TOMBSTONES: u32 = 4096;

/// A node's answer as it travels (one per [`crate::actors::NodeReply`], in the same order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WireReply {
    /// Done. Tag 0.
    Done,
    /// A key's state. Tag 1.
    State(Option<Counter>),
    /// A count. Tag 2.
    Count(u64),
    /// Entries. Tag 3.
    Entries(Vec<Entry>),
    /// Digest of each arc. Tag 4.
    Digests(HashMap<u64, u64>),
    /// Keys held, keys owned, owned keys with a deadline. Tag 5.
    Counts(u64, u64, u64),
    /// Sorted pairs and the number of hints. Tag 6.
    Dump(Vec<(String, i64)>, u64),
    /// Owned keys, further replicas, keys held, hints. Tag 7.
    Summary(Vec<(String, i64)>, Vec<(String, i64)>, u64, u64),
    /// One page. Tag 8.
    Page(Vec<(String, i64)>),
    /// Per entry of a [`WireOp::CheckTombstones`]: held aged and alike, held otherwise, or
    /// not held. Tag 9.
    Checks(Vec<Option<bool>>),
}

/// Remembers the last ring built from a spec, so that a stream of calls with the same ring builds
/// it once.
#[derive(Debug, Default)]
pub struct RingCache {
    last: Option<(RingSpec, std::sync::Arc<Ring>)>,
}

impl RingCache {
    /// The ring of `spec`, built or remembered.
    ///
    /// # Errors
    /// As [`RingSpec::build`].
    pub fn ring(&mut self, spec: &RingSpec) -> Result<std::sync::Arc<Ring>> {
        if let Some((known, ring)) = &self.last {
            if known == spec {
                return Ok(ring.clone());
            }
        }
        let ring = std::sync::Arc::new(spec.build()?);
        self.last = Some((spec.clone(), ring.clone()));
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_rebuilds_the_same_ring() {
        let ring = Ring::with_nodes(16, [3, 1, 7]);
        let spec = RingSpec::of(&ring);
        assert_eq!(spec.nodes, vec![1, 3, 7]);
        assert_eq!(spec.build().unwrap(), ring);
        let mut cache = RingCache::default();
        let a = cache.ring(&spec).unwrap();
        let b = cache.ring(&spec).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b), "built once");
    }

    #[test]
    fn specs_out_of_bounds_are_refused() {
        for spec in [
            RingSpec {
                vnodes: u32::MAX,
                nodes: vec![1],
            },
            RingSpec {
                vnodes: 0,
                nodes: vec![1],
            },
            RingSpec {
                vnodes: 1,
                nodes: (0..2000).collect(),
            },
        ] {
            assert!(
                matches!(spec.build(), Err(Error::BadRequest(_))),
                "{spec:?}"
            );
        }
    }
}
