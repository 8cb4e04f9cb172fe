//! Liveness and repair: nodes that time out are marked down and probed until they answer; crashed
//! nodes come back through their supervisor and are refilled; anti-entropy compares replicas.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;

use super::{Router, Stats};
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::counter::Counter;
use crate::replication::NodeState;
use crate::ring::{NodeId, Ring, TokenRange};
use crate::store::Entry;

/// How often nodes marked down (but not crashed) are probed.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// With nothing that may have left replicas apart, anti-entropy still runs every this many
/// intervals.
const IDLE_PASS_EVERY: u32 = 30;

/// Whether an anti-entropy pass is due. Replicas drift apart only through events: a node down,
/// paused, restarted or recovering, an update through the Router's path (hints, timeouts), a
/// direct request that failed on a replica or had to repair one, a membership change. Each of
/// them is noted; a pass is due when one came after the last completed pass, and every
/// [`IDLE_PASS_EVERY`] intervals regardless. Comparing 1,000,000 keys takes a node ~100 ms, so a
/// healthy cluster should not do it every interval.
#[derive(Debug)]
pub(crate) struct Drift {
    /// Events so far (starts at 1: a restored cluster may start with replicas apart).
    changes: u64,
    /// `changes` as of the start of the last completed pass.
    checked: u64,
    /// Intervals skipped since the last pass.
    idle: u32,
    /// The direct path's divergence count last seen.
    direct_seen: u64,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            changes: 1,
            checked: 0,
            idle: 0,
            direct_seen: 0,
        }
    }
}

impl Drift {
    /// Something may have left replicas apart.
    pub(crate) fn note(&mut self) {
        self.changes += 1;
    }

    /// Whether a pass is due now (`direct_diverged`: the direct path's count); if so, the
    /// `changes` a completed pass will have covered.
    fn due(&mut self, direct_diverged: u64) -> Option<u64> {
        if direct_diverged != self.direct_seen {
            self.direct_seen = direct_diverged;
            self.note();
        }
        if self.changes == self.checked && self.idle + 1 < IDLE_PASS_EVERY {
            self.idle += 1;
            return None;
        }
        self.idle = 0;
        Some(self.changes)
    }

    /// A pass that started when `changes` was `upto` completed.
    fn checked(&mut self, upto: u64) {
        self.checked = self.checked.max(upto);
    }
}

/// A node did not answer in time: mark it down.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeTimedOut(pub NodeId);

/// A crashed node listens again after its restart: refill it, then mark it up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeRestarted(pub NodeId);

/// A node answered again (or finished its refill).
#[derive(Message)]
#[rtype(result = "()")]
struct Recovered(NodeId);

/// Starts the probe and anti-entropy timers.
pub(super) fn start_timers(router: &Router, ctx: &mut Context<Router>) {
    ctx.run_interval(PROBE_EVERY, |act, ctx| act.probe_down(ctx));
    let every = router.config.anti_entropy_interval;
    if !every.is_zero() {
        ctx.run_interval(every, |act, ctx| {
            act.anti_entropy(ctx);
            // A sweep left incomplete is retried once every node is up again.
            if act.nodes.values().all(|n| n.state == NodeState::Up) {
                act.sweep(ctx);
            }
            act.collect(ctx);
            act.fold_idle(ctx);
        });
    }
}

impl Handler<NodeTimedOut> for Router {
    type Result = ();
    fn handle(&mut self, NodeTimedOut(id): NodeTimedOut, _: &mut Context<Self>) {
        if let Some(node) = self.nodes.get_mut(&id) {
            if node.state == NodeState::Up {
                tracing::warn!(port = node.port, "node timed out; marked down");
                node.state = NodeState::Down;
            }
        }
        self.publish();
    }
}

impl Handler<NodeRestarted> for Router {
    type Result = ();
    fn handle(&mut self, NodeRestarted(id): NodeRestarted, ctx: &mut Context<Self>) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        tracing::info!(port = node.port, "node restarted; refilling");
        node.crashed = false;
        node.state = NodeState::Recovering;
        self.publish();
        self.refill(id, true, ctx);
    }
}

impl Handler<Recovered> for Router {
    type Result = ();
    fn handle(&mut self, Recovered(id): Recovered, ctx: &mut Context<Self>) {
        if let Some(node) = self.nodes.get_mut(&id) {
            if node.state == NodeState::Recovering {
                node.state = NodeState::Up;
                tracing::info!(port = node.port, "node up");
                self.publish();
                self.anti_entropy(ctx);
                // Its log may hold copies the ring gave elsewhere while it was down.
                self.tidy.note();
                self.sweep(ctx);
            }
        }
    }
}

impl Router {
    /// Probes every node that is down but not crashed; one that answers is refilled with its hints.
    fn probe_down(&mut self, ctx: &mut Context<Self>) {
        let suspects: Vec<(NodeId, Recipient<NodeCall>)> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.state == NodeState::Down && !n.crashed)
            .map(|(&id, n)| (id, n.call.clone()))
            .collect();
        for (id, node) in suspects {
            let fut = async move { call(&node, NodeOp::Ping, PROBE_EVERY).await.is_ok() };
            ctx.spawn(
                actix::fut::wrap_future(fut).map(move |alive, act: &mut Router, ctx| {
                    let Some(node) = act.nodes.get_mut(&id) else {
                        return;
                    };
                    if alive && node.state == NodeState::Down && !node.crashed {
                        node.state = NodeState::Recovering;
                        act.publish();
                        act.refill(id, false, ctx);
                    }
                }),
            );
        }
    }

    /// Hands the hints kept for `id` back to it and, after a crash (`all`), copies in every key it
    /// replicates; then reports it recovered.
    fn refill(&mut self, id: NodeId, all: bool, ctx: &mut Context<Self>) {
        let Some(target) = self.recipient(id) else {
            return;
        };
        let sources = self.live_others(id);
        let (ring, r) = (self.ring.clone(), self.quorums().r);
        let timeout = self.config.request_timeout * 10;
        let me = self.address();
        ctx.spawn(actix::fut::wrap_future(async move {
            for source in &sources {
                let mut ops = vec![NodeOp::TakeHints(id)];
                if all {
                    ops.push(NodeOp::EntriesFor {
                        ring: ring.clone(),
                        replicas: r,
                        node: id,
                    });
                }
                for op in ops {
                    let hints = matches!(op, NodeOp::TakeHints(_));
                    if let Ok(NodeReply::Entries(entries)) = call(source, op, timeout).await {
                        hand_back(source, &target, id, entries, hints, timeout).await;
                    }
                }
            }
            me.do_send(Recovered(id));
        }));
    }

    /// One anti-entropy pass, if one is due ([`Drift`]): compare per-arc digests of the replicas
    /// that are up and merge the arcs that differ. Abandoned if the ring changes.
    pub(super) fn anti_entropy(&mut self, ctx: &mut Context<Self>) {
        let r = self.quorums().r;
        // While keys move, replicas differ by design (the copy is under way): no pass.
        if r < 2 || self.ring.len() < 2 || self.moving {
            return;
        }
        let Some(upto) = self.drift.due(self.direct.diverged()) else {
            return;
        };
        let up: BTreeMap<NodeId, Recipient<NodeCall>> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.state == NodeState::Up)
            .map(|(&id, n)| (id, n.call.clone()))
            .collect();
        let pass = Pass {
            ring: self.ring.clone(),
            r,
            up,
            stats: self.stats.clone(),
            epoch: self.stats.epoch.load(Ordering::SeqCst),
            timeout: self.config.request_timeout * 10,
        };
        ctx.spawn(
            actix::fut::wrap_future(pass.run())
                .map(move |_, act: &mut Router, _| act.drift.checked(upto)),
        );
    }
}

/// Merges `entries` read from `source` into `target` (node `id`). Hints (`hints`) were taken out
/// of `source`'s hint store, so they may be the only copy of acknowledged updates (the small side
/// of a partition): if the merge into `target` fails, they go back to `source` as hints for `id`,
/// to be handed over on its next refill. A copy of held keys (`!hints`) is still held by `source`.
async fn hand_back(
    source: &Recipient<NodeCall>,
    target: &Recipient<NodeCall>,
    id: NodeId,
    entries: Vec<Entry>,
    hints: bool,
    timeout: Duration,
) {
    let kept = hints.then(|| entries.clone());
    let merge = NodeOp::Merge {
        entries,
        hint_for: None,
    };
    if matches!(call(target, merge, timeout).await, Ok(NodeReply::Count(_))) {
        return;
    }
    let Some(entries) = kept else {
        return;
    };
    let count = entries.len();
    let back = NodeOp::Merge {
        entries,
        hint_for: Some(id),
    };
    if !matches!(call(source, back, timeout).await, Ok(NodeReply::Count(_))) {
        tracing::warn!(
            node = id,
            count,
            "hints could be neither handed over nor kept"
        );
    }
}

/// Keys an anti-entropy repair merges, or writes back in one call, before it yields the thread.
const SLICE_KEYS: usize = 4096;

/// One anti-entropy pass over a snapshot of the ring.
struct Pass {
    ring: Arc<Ring>,
    r: usize,
    up: BTreeMap<NodeId, Recipient<NodeCall>>,
    stats: Arc<Stats>,
    epoch: u64,
    timeout: Duration,
}

impl Pass {
    async fn run(self) {
        let digests = self.digests().await;
        if self.stale() {
            return;
        }
        let arcs = self.ring.arcs();
        // For each node, the arcs whose replicas disagree.
        let mut stale: BTreeMap<NodeId, Vec<TokenRange>> = BTreeMap::new();
        let mut differing: HashMap<usize, Vec<NodeId>> = HashMap::new();
        for (i, arc) in arcs.iter().enumerate() {
            let replicas: Vec<NodeId> = self
                .ring
                .preference_list_of_token(arc.end, self.r)
                .into_iter()
                .filter(|n| digests.contains_key(n))
                .collect();
            let seen: Vec<u64> = replicas
                .iter()
                .map(|n| digests[n].get(&i).copied().unwrap_or(0))
                .collect();
            if seen.windows(2).any(|w| w[0] != w[1]) {
                for &n in &replicas {
                    stale.entry(n).or_default().push(*arc);
                }
                differing.insert(i, replicas);
            }
        }
        if !differing.is_empty() {
            self.repair(stale, differing).await;
        }
        self.stats
            .anti_entropy_passes
            .fetch_add(1, Ordering::Relaxed);
    }

    async fn digests(&self) -> HashMap<NodeId, HashMap<usize, u64>> {
        let asks = self.up.iter().map(|(&id, node)| async move {
            match call(node, NodeOp::Digests(self.ring.clone()), self.timeout).await {
                Ok(NodeReply::Digests(d)) => Some((id, d)),
                _ => None,
            }
        });
        join_all(asks).await.into_iter().flatten().collect()
    }

    /// Whether the ring changed since the pass began: its view is stale then.
    fn stale(&self) -> bool {
        self.stats.epoch.load(Ordering::SeqCst) != self.epoch
    }

    /// Reads the differing arcs (by arc number, with their replicas) from every replica, merges
    /// per key, writes the merge back. The merging runs on the server's one thread in slices of
    /// [`SLICE_KEYS`], yielding between them: a replica that lost its keys (or the first pass
    /// after a ring change) makes this a merge of every key it holds, which done at once kept
    /// every connection waiting (130-170 ms per 700,000 keys, and more with a hash map's
    /// rehashes).
    async fn repair(
        &self,
        stale: BTreeMap<NodeId, Vec<TokenRange>>,
        differing: HashMap<usize, Vec<NodeId>>,
    ) {
        // A tree, not a hash map: no rehash of every key gathered so far as it grows (one of
        // 350,000 keys took 140 ms).
        let mut merged: BTreeMap<String, Counter> = BTreeMap::new();
        for (node, ranges) in &stale {
            let Some(call_to) = self.up.get(node) else {
                continue;
            };
            if let Ok(NodeReply::Entries(entries)) =
                call(call_to, NodeOp::Entries(Some(ranges.clone())), self.timeout).await
            {
                for (i, e) in entries.into_iter().enumerate() {
                    merged.entry(e.key).or_default().merge(&e.counter);
                    if i % SLICE_KEYS == SLICE_KEYS - 1 {
                        tokio::task::yield_now().await;
                    }
                }
            }
            if self.stale() {
                return;
            }
        }
        let mut sends: BTreeMap<NodeId, Vec<Entry>> = BTreeMap::new();
        for (i, (key, counter)) in merged.into_iter().enumerate() {
            let arc = self.ring.arc_of(crate::ring::key_token(key.as_bytes()));
            if let Some(replicas) = differing.get(&arc) {
                for &n in replicas {
                    sends.entry(n).or_default().push(Entry {
                        key: key.clone(),
                        counter: counter.clone(),
                    });
                }
            }
            if i % SLICE_KEYS == SLICE_KEYS - 1 {
                tokio::task::yield_now().await;
            }
        }
        if self.stale() {
            return;
        }
        for (node, entries) in sends {
            let Some(call_to) = self.up.get(&node) else {
                continue;
            };
            let mut rest = entries.into_iter();
            loop {
                let batch: Vec<Entry> = rest.by_ref().take(SLICE_KEYS).collect();
                if batch.is_empty() {
                    break;
                }
                let op = NodeOp::Merge {
                    entries: batch,
                    hint_for: None,
                };
                if let Ok(NodeReply::Count(changed)) = call(call_to, op, self.timeout).await {
                    self.stats
                        .anti_entropy_repairs
                        .fetch_add(changed as u64, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::actors::router::fake_node::{entries, fake};

    #[test]
    fn passes_follow_changes_and_idle_intervals() {
        let mut drift = Drift::default();
        let first = drift.due(0).expect("a fresh cluster checks once");
        drift.checked(first);
        assert_eq!(drift.due(0), None, "nothing happened since");
        drift.note();
        let second = drift.due(0).expect("a change makes a pass due");
        assert_eq!(drift.due(0), Some(second), "due until a pass completes");
        drift.checked(second);
        assert_eq!(drift.due(0), None);
        assert!(drift.due(1).is_some(), "the direct path saw replicas apart");
    }

    #[test]
    fn an_idle_cluster_still_checks_now_and_then() {
        let mut drift = Drift::default();
        let upto = drift.due(0).unwrap();
        drift.checked(upto);
        let skipped = (0..IDLE_PASS_EVERY * 2)
            .take_while(|_| drift.due(0).is_none())
            .count();
        assert_eq!(skipped as u32, IDLE_PASS_EVERY - 1);
    }

    #[actix_rt::test]
    async fn hints_that_cannot_be_handed_over_go_back_to_their_holder() {
        let (source, kept) = fake(false, vec![]);
        let (target, _) = fake(true, vec![]);
        let timeout = Duration::from_secs(5);
        hand_back(&source, &target, 7, entries(3), true, timeout).await;
        assert_eq!(
            kept.lock()
                .unwrap()
                .iter()
                .map(|(k, h)| (k.len(), *h))
                .collect::<Vec<_>>(),
            [(3, Some(7))],
            "kept as hints for node 7"
        );
        // A copy of held keys stays where it was: nothing to give back.
        hand_back(&source, &target, 7, entries(2), false, timeout).await;
        assert_eq!(kept.lock().unwrap().len(), 1);
    }

    #[actix_rt::test]
    async fn hints_handed_over_are_not_kept_twice() {
        let (source, kept) = fake(false, vec![]);
        let (target, got) = fake(false, vec![]);
        hand_back(
            &source,
            &target,
            7,
            entries(3),
            true,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(got.lock().unwrap()[0].0.len(), 3);
        assert_eq!(got.lock().unwrap()[0].1, None);
        assert!(kept.lock().unwrap().is_empty());
    }
}
