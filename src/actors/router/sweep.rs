//! The sweep: copies a node holds but no longer replicates are given to the key's replicas, then
//! dropped.
//!
//! Such copies stay behind when a ring change is cut short after the ring switched (the process
//! killed while the old replicas drop what they gave away), when a drop call failed, when a node
//! that was not up missed a change's drops, when an added node reuses the log of an add cut short,
//! or in a node's log read back after a restart. Each of these is noted ([`Tidy`]), and a sweep
//! follows: at start-up, at the end of a ring change, after a restarted node was refilled, and on
//! the anti-entropy timer (once every node is up) until one completes. Nothing noted, no sweep; on
//! a clean store a sweep costs one scan per node (about 90 ms per 750,000 keys). It is careful:
//! - it never runs while keys move, and each drop checks under the node's lock that no ring change
//!   began since the sweep started (the epoch), so a copy a move needs is never dropped;
//! - a node drops a key only if the node is not among the key's R replicas in the current ring,
//!   and only after every one of those replicas is up and acknowledged a merge of the copy, so no
//!   increment is lost;
//! - a copy that changed since it was read is kept (the next sweep looks again);
//! - hinted writes are never touched.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::Router;
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::rebalance::{replicated_arcs, ArcSet};
use crate::replication::NodeState;
use crate::ring::{key_token, NodeId, Ring};
use crate::store::Entry;

/// Entries per merge or drop call, so that a node never stops answering for long.
const BATCH: usize = 4096;

/// Whether copies nobody needs may exist: events that may leave them are noted; a sweep that
/// completes (nothing skipped, nothing failed, no ring change meanwhile) covers the events before
/// it started.
#[derive(Debug)]
pub(crate) struct Tidy {
    /// Events so far (starts at 1: a restored cluster may hold leftovers).
    events: u64,
    /// `events` as of the start of the last completed sweep.
    tidied: u64,
    /// A sweep is running.
    running: bool,
}

impl Default for Tidy {
    fn default() -> Self {
        Tidy {
            events: 1,
            tidied: 0,
            running: false,
        }
    }
}

impl Tidy {
    /// Something may have left copies nobody needs.
    pub(crate) fn note(&mut self) {
        self.events += 1;
    }

    /// Whether no copies nobody needs may exist (a sweep completed since the last event) and
    /// no sweep runs.
    pub(crate) fn clean(&self) -> bool {
        !self.running && self.events == self.tidied
    }

    /// Whether a sweep should start now; if so, marks it running and returns the events it covers.
    fn start(&mut self) -> Option<u64> {
        if self.running || self.events == self.tidied {
            return None;
        }
        self.running = true;
        Some(self.events)
    }

    /// The sweep that started at `upto` ended, completely or not.
    fn end(&mut self, upto: u64, complete: bool) {
        self.running = false;
        if complete {
            self.tidied = self.tidied.max(upto);
        }
    }
}

/// One sweep over a snapshot of the ring and of the nodes that are up.
struct Sweep {
    ring: Arc<Ring>,
    r: usize,
    up: BTreeMap<NodeId, Recipient<NodeCall>>,
    epoch: Arc<AtomicU64>,
    expected: u64,
    timeout: Duration,
}

impl Router {
    /// Starts a sweep if copies nobody needs may exist, unless keys are moving or one is running.
    pub(super) fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.moving || self.ring.is_empty() {
            return;
        }
        let Some(upto) = self.tidy.start() else {
            return;
        };
        let up = self
            .nodes
            .iter()
            .filter(|(_, n)| n.state == NodeState::Up && !n.crashed)
            .map(|(&id, n)| (id, n.call.clone()))
            .collect();
        let sweep = Sweep {
            ring: self.ring.clone(),
            r: self.quorums().r,
            up,
            epoch: self.stats.epoch.clone(),
            expected: self.stats.epoch.load(Ordering::SeqCst),
            timeout: self.config.request_timeout * 10,
        };
        let started = Instant::now();
        ctx.spawn(actix::fut::wrap_future(sweep.run()).map(
            move |(dropped, complete), act: &mut Router, _| {
                act.tidy.end(upto, complete);
                let took = started.elapsed();
                if dropped > 0 {
                    tracing::info!(dropped, "sweep: dropped copies no node needs in {took:?}");
                } else {
                    tracing::debug!("sweep: nothing to drop ({took:?})");
                }
            },
        ));
    }
}

impl Sweep {
    /// Sweeps every node that is up; returns how many copies were dropped, and whether the sweep
    /// was complete (every node up and answering, every copy given and dropped, no ring change).
    async fn run(self) -> (u64, bool) {
        let (mut dropped, mut complete) = (0, self.up.len() == self.ring.len());
        let arcs = replicated_arcs(&self.ring, self.r);
        for (&id, node) in &self.up {
            if self.stale() || !self.ring.contains(id) {
                continue;
            }
            let mine = arcs.get(&id).map_or(&[][..], Vec::as_slice);
            let keep = Arc::new(ArcSet::with_arcs(self.ring.clone(), mine));
            let op = NodeOp::EntriesOutside(keep.clone());
            let Ok(NodeReply::Entries(extra)) = call(node, op, self.timeout).await else {
                complete = false;
                continue;
            };
            if extra.is_empty() {
                continue;
            }
            let found = extra.len() as u64;
            let given = self.give(extra).await;
            let done = self.drop_given(node, given, keep).await;
            complete &= done == found;
            dropped += done;
        }
        (dropped, complete && !self.stale())
    }

    /// Whether a ring change began since the sweep started.
    fn stale(&self) -> bool {
        self.epoch.load(Ordering::SeqCst) != self.expected
    }

    /// Merges each entry into all of its key's replicas; returns the entries every replica
    /// acknowledged (a key with a replica that is not up, or did not answer, is left alone).
    async fn give(&self, entries: Vec<Entry>) -> Vec<Entry> {
        let mut given = vec![true; entries.len()];
        let mut per_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let replicas =
                (self.ring).preference_list_of_token(key_token(entry.key.as_bytes()), self.r);
            if replicas.iter().any(|n| !self.up.contains_key(n)) {
                given[i] = false;
                continue;
            }
            for n in replicas {
                per_node.entry(n).or_default().push(i);
            }
        }
        for (n, indexes) in per_node {
            let Some(target) = self.up.get(&n) else {
                continue;
            };
            for chunk in indexes.chunks(BATCH) {
                let batch = chunk.iter().map(|&i| entries[i].clone()).collect();
                let op = NodeOp::Merge {
                    entries: batch,
                    hint_for: None,
                };
                if self.stale() || call(target, op, self.timeout).await.is_err() {
                    chunk.iter().for_each(|&i| given[i] = false);
                }
            }
        }
        (entries.into_iter().zip(given))
            .filter_map(|(e, ok)| ok.then_some(e))
            .collect()
    }

    /// Has `node` drop the given entries (unless changed since, or a ring change began).
    async fn drop_given(
        &self,
        node: &Recipient<NodeCall>,
        given: Vec<Entry>,
        keep: Arc<ArcSet>,
    ) -> u64 {
        let mut dropped = 0;
        for chunk in given.chunks(BATCH) {
            let op = NodeOp::DropUnchanged {
                entries: chunk.to_vec(),
                keep: keep.clone(),
                epoch: self.epoch.clone(),
                expected: self.expected,
            };
            if let Ok(NodeReply::Count(n)) = call(node, op, self.timeout).await {
                dropped += n as u64;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_due_after_events_until_one_completes() {
        let mut tidy = Tidy::default();
        let first = tidy.start().expect("a fresh cluster sweeps once");
        assert_eq!(tidy.start(), None, "one at a time");
        tidy.end(first, false);
        let again = tidy.start().expect("an incomplete sweep is retried");
        tidy.note();
        tidy.end(again, true);
        let after = tidy
            .start()
            .expect("an event during the sweep needs another");
        tidy.end(after, true);
        assert_eq!(tidy.start(), None, "nothing since");
    }
}
