//! Tombstone collection: a deleted (or expired) key's tombstone is dropped from its replicas once
//! every replica has held it unchanged for the grace period (`--tombstone-grace`) and nothing
//! older than it can reach them again.
//!
//! A pass runs on the anti-entropy timer, only when the cluster is quiet enough to judge:
//! every node up and not crashed, on the ring; no ring change under way; no leftover copies
//! waiting for this process's sweep ([`super::sweep`]); in a cluster of processes, this process
//! serving and settled on the agreed ring epoch. Then, for at most [`BATCH`] keys:
//! 1. this process's nodes name the tombstones they have held unchanged for the grace period,
//!    and the pass keeps those whose first replica is one of them (so each key has one
//!    collecting process); every other node is asked too, for none, and refuses if it keeps
//!    hints (a hint may hold a state older than a delete): then the pass stops;
//! 2. every node, in every process, checks each candidate: each of the key's R replicas must
//!    hold it as a tombstone aged by its own clock, in exactly the same state, and every other
//!    node must not hold the key at all (no leftover or stale copy that could bring the count
//!    back);
//! 3. the agreed tombstones are dropped on their replicas, each only if still held exactly so,
//!    and only while no ring change began, checked under each node's lock
//!    ([`crate::actors::RingGuard`]: this process's ring-change counter for its own nodes, the
//!    agreed ring epoch for another process's).
//!
//! Why nothing older than the delete comes back: every replica held the tombstone for the grace
//! period (default 10 minutes, well past request retries, hint delivery and the back-off of a
//! restart), no node held another copy, and a replica that was down, paused or restarting stops
//! the pass until it is up and holds the tombstone for the grace period too. A replica whose
//! state changed meanwhile keeps it (it holds the delete's base, so it brings nothing back). A
//! copy of the tombstone still in flight after a drop is harmless: a node moves to a fresh slot
//! generation when it drops, so the increments after a drop count in slots no tombstone holds
//! (`src/store/tombs.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::Router;
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::actors::RingGuard;
use crate::replication::NodeState;
use crate::ring::{key_token, NodeId, Ring};
use crate::store::Entry;

/// The most tombstones one pass considers.
const BATCH: usize = 4096;

/// The default grace period (`--tombstone-grace`).
pub const DEFAULT_TOMBSTONE_GRACE: Duration = Duration::from_secs(600);

/// A node as a pass sees it: how to call it, and whether it is this process's own.
struct Peer {
    call: Recipient<NodeCall>,
    local: bool,
}

/// One pass over a snapshot of the ring and the nodes.
struct Collect {
    ring: Arc<Ring>,
    r: usize,
    nodes: BTreeMap<NodeId, Peer>,
    epoch: Arc<AtomicU64>,
    expected: u64,
    /// The agreed ring epoch (0 in a cluster of one process).
    agreed: u64,
    grace_ms: u64,
    timeout: Duration,
}

impl Router {
    /// Whether every node is up, not crashed and on the ring, with nothing moving, no leftover
    /// copies, and (with nodes in other processes) this process serving on a settled ring
    /// epoch: the only state a collection pass may start in.
    fn quiet(&self) -> bool {
        let all_in = self.nodes.iter().all(|(&id, n)| {
            n.state == NodeState::Up
                && !n.crashed
                && (n.shared.is_some() || n.link.is_some())
                && self.ring.contains(id)
        });
        let alone = self.nodes.values().all(|n| n.shared.is_some());
        let settled = alone
            || (self.peers.as_ref()).is_some_and(|p| p.moving.is_none() && p.epoch != 0)
                && self.standing.now() == crate::actors::Stand::Serving;
        all_in
            && settled
            && !self.moving
            && !self.ring.is_empty()
            && self.ring.len() == self.nodes.len()
            && self.tidy.clean()
    }

    /// Starts a collection pass if one may run (see the module docs).
    pub(super) fn collect(&mut self, ctx: &mut Context<Self>) {
        let grace = self.config.tombstone_grace;
        if grace.is_zero() || self.collecting || !self.quiet() {
            return;
        }
        let pass = Collect {
            ring: self.ring.clone(),
            r: self.quorums().r,
            nodes: (self.nodes.iter())
                .map(|(&id, n)| {
                    let peer = Peer {
                        call: n.call.clone(),
                        local: n.shared.is_some(),
                    };
                    (id, peer)
                })
                .collect(),
            epoch: self.stats.epoch.clone(),
            expected: self.stats.epoch.load(Ordering::SeqCst),
            agreed: self.peers.as_ref().map_or(0, |p| p.epoch),
            grace_ms: crate::counter::tokens::window_ms(grace),
            timeout: self.config.request_timeout * 10,
        };
        self.collecting = true;
        let started = Instant::now();
        ctx.spawn(
            actix::fut::wrap_future(pass.run()).map(move |dropped, act: &mut Router, _| {
                act.collecting = false;
                if dropped > 0 {
                    let took = started.elapsed();
                    tracing::info!(dropped, "collected tombstones in {took:?}");
                }
            }),
        );
    }
}

impl Collect {
    /// Runs the pass; returns how many copies were dropped.
    async fn run(self) -> usize {
        let Some(candidates) = self.candidates().await else {
            return 0;
        };
        if candidates.is_empty() {
            return 0;
        }
        let Some(agreed) = self.agreed(candidates).await else {
            return 0;
        };
        if self.stale() {
            return 0;
        }
        self.drop_agreed(agreed).await
    }

    /// Whether a ring change began since the pass started.
    fn stale(&self) -> bool {
        self.epoch.load(Ordering::SeqCst) != self.expected
    }

    /// What a drop on `peer` checks: this process's ring-change counter for its own nodes, the
    /// agreed ring epoch for another process's.
    fn guard(&self, peer: &Peer) -> RingGuard {
        if peer.local {
            RingGuard::Local {
                epoch: self.epoch.clone(),
                expected: self.expected,
            }
        } else {
            RingGuard::Agreed {
                epoch: self.agreed,
                settled: None,
            }
        }
    }

    /// The replicas of `key`.
    fn replicas(&self, key: &str) -> Vec<NodeId> {
        (self.ring).preference_list_of_token(key_token(key.as_bytes()), self.r)
    }

    /// Step 1: the aged tombstones this process's nodes name whose first replica is one of
    /// them (`None`: a node refused, keeping hints, or did not answer).
    async fn candidates(&self) -> Option<Vec<Entry>> {
        let locals = self.nodes.values().filter(|p| p.local).count();
        let most = (BATCH / locals.max(1)).max(1);
        let mut found: BTreeMap<String, Entry> = BTreeMap::new();
        for peer in self.nodes.values() {
            let op = NodeOp::AgedTombstones {
                grace_ms: self.grace_ms,
                most: if peer.local { most } else { 0 },
            };
            let Ok(NodeReply::Entries(entries)) = call(&peer.call, op, self.timeout).await else {
                return None;
            };
            for e in entries {
                found.entry(e.key.clone()).or_insert(e);
            }
        }
        let first_here = |e: &Entry| {
            let first = self.replicas(&e.key).first().copied();
            first.is_some_and(|id| self.nodes.get(&id).is_some_and(|p| p.local))
        };
        Some(found.into_values().filter(first_here).collect())
    }

    /// Step 2: the candidates every replica holds aged and alike, and no other node holds.
    async fn agreed(&self, entries: Vec<Entry>) -> Option<Vec<(Entry, Vec<NodeId>)>> {
        let replicas: Vec<Vec<NodeId>> = entries.iter().map(|e| self.replicas(&e.key)).collect();
        let mut ok = vec![true; entries.len()];
        for (&id, peer) in &self.nodes {
            let op = NodeOp::CheckTombstones {
                entries: entries.clone(),
                grace_ms: self.grace_ms,
            };
            let Ok(NodeReply::Checks(checks)) = call(&peer.call, op, self.timeout).await else {
                return None;
            };
            if checks.len() != entries.len() {
                return None;
            }
            for (i, check) in checks.into_iter().enumerate() {
                ok[i] &= agrees(replicas[i].contains(&id), check);
            }
        }
        let all = entries.into_iter().zip(replicas).zip(ok);
        Some(all.filter_map(|(e, ok)| ok.then_some(e)).collect())
    }

    /// Step 3: each replica drops the agreed tombstones it holds exactly so.
    async fn drop_agreed(&self, agreed: Vec<(Entry, Vec<NodeId>)>) -> usize {
        let mut per_node: BTreeMap<NodeId, Vec<Entry>> = BTreeMap::new();
        for (entry, replicas) in agreed {
            for n in replicas {
                per_node.entry(n).or_default().push(entry.clone());
            }
        }
        let mut dropped = 0;
        for (n, entries) in per_node {
            let Some(peer) = self.nodes.get(&n) else {
                continue;
            };
            let op = NodeOp::DropTombstones {
                entries,
                guard: self.guard(peer),
            };
            if let Ok(NodeReply::Count(count)) = call(&peer.call, op, self.timeout).await {
                dropped += count;
            }
        }
        dropped
    }
}

/// Whether a node's answer lets a tombstone go: a replica must hold it aged and alike
/// (`Some(true)`), any other node must not hold the key at all.
fn agrees(replica: bool, check: Option<bool>) -> bool {
    if replica {
        check == Some(true)
    } else {
        check.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aged_alike_replicas_and_no_other_copy_let_a_tombstone_go() {
        assert!(agrees(true, Some(true)));
        assert!(!agrees(true, Some(false)), "a replica that differs");
        assert!(!agrees(true, None), "a replica that never got the delete");
        assert!(agrees(false, None));
        assert!(!agrees(false, Some(true)), "a leftover copy elsewhere");
        assert!(!agrees(false, Some(false)));
    }
}
