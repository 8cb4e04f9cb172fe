//! Membership changes: `add-node`, `remove-node`, `kill-node`, and re-replication.
//!
//! Each runs atomically on the Router (the Router routes nothing else meanwhile) and first waits
//! until no update it coordinates is in flight. The direct path keeps serving: while keys are
//! copied, its updates also reach the replicas the new ring adds (see [`crate::direct`]). The keys
//! of each arc the new ring gives a node are copied from one live old replica ([`plan_moves`]),
//! in batches so the nodes keep answering; then the ring switches, and only after that do the
//! replicas the new ring drops delete their copies: every key keeps R copies at every moment.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::join_all;

use super::agree::Agreed;
use super::announce::Announce;
use super::{bind, NodeSeed, Router, Stats};
use crate::actors::change_lock::under_way;
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::protocol::{LayoutBallot, Response};
use crate::rebalance::{plan_moves, MovePlan};
use crate::replication::{write_targets, NodeState};
use crate::ring::{key_token, NodeId, Ring};
use crate::store::Entry;

/// Entries per merge call while copying, so that a node never stops answering for long: a
/// merge of 4,096 new keys took about 8 ms on the server's one thread, 1,024 about 2 ms.
const BATCH: usize = 1024;

/// What a ring change needs, copied out of the Router.
pub(super) struct Change {
    new: Arc<Ring>,
    replicas: usize,
    moves: MovePlan,
    /// Every node the Router knows.
    nodes: BTreeMap<NodeId, Recipient<NodeCall>>,
    /// Every node's state: keys meant for a down node go to a substitute as hints.
    states: BTreeMap<NodeId, NodeState>,
    /// A node whose hints everyone should hand over (it is leaving).
    leaving: Option<NodeId>,
    stats: Arc<Stats>,
    /// The direct path, whose merges to other processes must land before keys are copied.
    direct: Arc<crate::direct::Direct>,
    timeout: Duration,
    /// In a cluster of processes: what the other processes are told, before and after.
    pub(super) announce: Option<Announce>,
}

/// Keys received, per new replica.
type Moved = BTreeMap<NodeId, u64>;

fn fail(e: Error) -> ResponseActFuture<Router, Response> {
    Box::pin(actix::fut::ready(Response::from(e)))
}

impl Router {
    /// Binds the new node's port, starts it, copies to it the keys it now replicates, switches.
    pub(super) fn add_node(&mut self, port: Option<u16>) -> ResponseActFuture<Router, Response> {
        if let Err(e) = self.check_add(port) {
            return fail(e);
        }
        let listener = match self.bind_new(port) {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let id = match self.new_seed(listener).and_then(|s| self.spawn_node(s)) {
            Ok(id) => id,
            Err(e) => return fail(e),
        };
        let port = self.nodes[&id].port;
        let holds_keys = self.nodes[&id]
            .shared
            .as_ref()
            .is_some_and(|s| !s.lock().store().is_empty());
        if holds_keys {
            // A directory left by an add cut short before the ring switched: its copies are
            // kept (its counter slot may live on elsewhere) and swept after the change.
            self.tidy.note();
        }
        let mut new = (*self.ring).clone();
        new.add_node(id);
        let change = self.change(Arc::new(new), None);
        self.run_change(change, move |act, moved| {
            act.save_meta();
            Response::NodeAdded {
                port,
                keys_moved: moved.get(&id).copied().unwrap_or(0),
            }
        })
    }

    /// Copies the node's keys (and the hints kept for it) to their new replicas, switches the ring,
    /// then stops the node. Works for a down node too: the other replicas provide the copies.
    /// Refused when fewer nodes than R would remain, unless `force`.
    pub(super) fn remove_node(
        &mut self,
        port: u16,
        force: bool,
    ) -> ResponseActFuture<Router, Response> {
        match self.node_by_port(port) {
            Ok(id) => self.remove_node_id(id, port, force),
            Err(e) => fail(e),
        }
    }

    /// `remove-node HOST:PORT`: the node at `addr`, in this process or another.
    pub(super) fn remove_node_at(
        &mut self,
        addr: std::net::SocketAddr,
        force: bool,
    ) -> ResponseActFuture<Router, Response> {
        let found = self
            .nodes
            .iter()
            .find(|(_, n)| n.member.is_some_and(|m| m.addr == addr))
            .map(|(&id, _)| id);
        match found {
            Some(id) => self.remove_node_id(id, addr.port(), force),
            None if self.peers.is_none() && addr.ip().is_loopback() => {
                self.remove_node(addr.port(), force)
            }
            None => fail(Error::BadRequest(format!("no node listens at {addr}"))),
        }
    }

    /// Removes node `id` (listening on `port`): hands its keys off, switches, stops it.
    fn remove_node_id(
        &mut self,
        id: NodeId,
        port: u16,
        force: bool,
    ) -> ResponseActFuture<Router, Response> {
        if let Err(e) = self.check_remove(port, force) {
            return fail(e);
        }
        let mut new = (*self.ring).clone();
        new.remove_node(id);
        let change = self.change(Arc::new(new), Some(id));
        self.run_change(change, move |act, moved| {
            if let Some(node) = act.nodes.remove(&id) {
                // A node of another process is told to stop too: it is decommissioned.
                node.call.do_send(NodeCall(NodeOp::Stop));
                if node.shared.is_some() {
                    act.forget(id);
                } else {
                    act.save_meta();
                }
            }
            Response::NodeRemoved {
                port,
                keys_moved: moved.values().sum(),
            }
        })
    }

    /// Crashes the node. With restarts on, it stays on the ring as down and comes back after the
    /// back-off; without, its ranges are copied to new replicas at once.
    pub(super) fn kill_node(&mut self, port: u16) -> ResponseActFuture<Router, Response> {
        let id = match self.node_by_port(port) {
            Ok(id) => id,
            Err(e) => return fail(e),
        };
        let victim = self.nodes[&id].call.clone();
        let others = self.live_others(id);
        if let Some(node) = self.nodes.get_mut(&id) {
            node.state = NodeState::Down;
            node.crashed = true;
        }
        self.publish();
        let timeout = self.config.request_timeout;
        let restart = self.config.restart;
        let fut = async move { crash(victim, others, timeout).await };
        Box::pin(
            actix::fut::wrap_future(fut).then(move |lost, act: &mut Router, _| {
                // With a data directory, a node that comes back reloads its log: nothing is lost.
                let durable = restart && act.config.data.is_some();
                let response = Response::NodeKilled {
                    port,
                    keys_lost: if durable { 0 } else { lost },
                };
                if restart || act.nodes.len() == 1 {
                    return Box::pin(actix::fut::ready(response))
                        as ResponseActFuture<Router, Response>;
                }
                // No restart: re-replicate its ranges on the ring without it.
                let mut new = (*act.ring).clone();
                new.remove_node(id);
                let change = act.change(Arc::new(new), Some(id));
                act.run_change(change, move |act, _| {
                    act.nodes.remove(&id);
                    act.forget(id);
                    response
                })
            }),
        )
    }

    /// The listener for a new node: `port` if given, else the port after the highest one in use
    /// (or any free port when that is taken or the cluster runs on arbitrary ports).
    fn bind_new(&self, port: Option<u16>) -> Result<TcpListener> {
        if let Some(port) = port {
            return bind(&self.config.host, port);
        }
        let next = self.nodes.values().map(|n| n.port).max().unwrap_or(0);
        if self.config.sequential_ports && next > 0 && next < u16::MAX {
            if let Ok(listener) = bind(&self.config.host, next + 1) {
                return Ok(listener);
            }
        }
        bind(&self.config.host, 0)
    }

    /// Whether some node of the cluster lives in another process.
    fn spans_processes(&self) -> bool {
        let Some(peers) = &self.peers else {
            return false;
        };
        self.nodes
            .values()
            .any(|n| n.member.is_some_and(|m| m.process != peers.me))
    }

    /// A seed for a new node: the next id (once the cluster spans other processes a random one,
    /// as a join draws: two processes adding at once must not pick the same), and its fresh log
    /// if there is a data directory.
    fn new_seed(&self, listener: TcpListener) -> Result<NodeSeed> {
        let id = if self.spans_processes() {
            crate::layout::fresh_id(&self.nodes.keys().copied().collect())
        } else {
            self.next_id
        };
        let restored = match &self.config.data {
            Some(data) => Some(data.open_node(id)?),
            None => None,
        };
        Ok(NodeSeed {
            id,
            listener,
            restored,
        })
    }

    /// After a node's keys were handed off: deletes its directory, stores the membership.
    pub(super) fn forget(&self, id: NodeId) {
        if let Some(data) = &self.config.data {
            if let Err(e) = data.remove_node(id) {
                tracing::error!("node {id}: cannot delete its data: {e}");
            }
        }
        self.save_meta();
    }

    /// Plans the change to `new` and, in one process, starts it: the direct path begins writing
    /// to the new replicas too (in a cluster of processes, once a majority chose it).
    pub(super) fn change(&mut self, new: Arc<Ring>, leaving: Option<NodeId>) -> Change {
        let announce = self.announce(&new);
        self.stats.epoch.fetch_add(1, Ordering::SeqCst);
        if announce.is_none() {
            self.begin_move(&new);
        }
        let states = self.states();
        let replicas = self.config.replication.quorums(new.len()).r;
        let state = |n: NodeId| states.get(&n).copied().unwrap_or(NodeState::Down);
        let moves = plan_moves(&self.ring, &new, replicas, state);
        Change {
            new,
            replicas,
            moves,
            nodes: self
                .nodes
                .iter()
                .map(|(&id, n)| (id, n.call.clone()))
                .collect(),
            states,
            leaving,
            stats: self.stats.clone(),
            direct: self.direct.clone(),
            timeout: self.config.request_timeout,
            announce,
        }
    }

    /// Waits until the updates started so far have had every replica's answer: the Router's own
    /// (for a while, as a change does before its copy) and every call sent to other processes (for
    /// at most `within`, or the answer is an error). Another process's change calls it through its
    /// moving layout, before it copies keys.
    pub(super) fn writes_settled(
        &self,
        within: Duration,
    ) -> impl std::future::Future<Output = Result<()>> + 'static {
        let (stats, direct) = (self.stats.clone(), self.direct.clone());
        let timeout = self.config.request_timeout.min(within / 6);
        async move {
            quiesce(&stats, timeout).await;
            if direct.settle(within / 2).await {
                Ok(())
            } else {
                Err(unsettled())
            }
        }
    }

    /// Runs `change`: in a cluster of processes, first has a majority choose its layout (or
    /// finishes the one another proposer got chosen, then refuses this one); then
    /// [`Router::run_agreed`].
    pub(super) fn run_change(
        &mut self,
        mut change: Change,
        finish: impl FnOnce(&mut Router, &Moved) -> Response + 'static,
    ) -> ResponseActFuture<Router, Response> {
        let Some(announce) = change.announce.take() else {
            return self.run_agreed(change, finish);
        };
        let agreeing = async move { (announce.agree().await, announce) };
        Box::pin(actix::fut::wrap_future(agreeing).then(
            move |(agreed, mut announce), act: &mut Router, ctx| match agreed {
                Ok(Agreed::Own(ballot)) => {
                    announce.ballot = Some(ballot);
                    // From now on a push of this layout is answered at the gateway.
                    act.changes.hold(&announce.next);
                    act.begin_move(&change.new);
                    change.announce = Some(announce);
                    act.run_agreed(change, finish)
                }
                Ok(Agreed::Other(ballot, layout)) => act.finish_other(ballot, layout),
                Err(refused) => {
                    if refused.behind {
                        let others = act.alive_others();
                        act.catch_up_from(others, ctx);
                    }
                    fail(refused.error)
                }
            },
        ))
    }

    /// Finishes the change to `layout`, chosen under `ballot` for another proposer (which may
    /// have died): copies, switches, drops as for a change of its own; then answers that a
    /// change was under way. A proposer that pushed it here meanwhile is alive and runs it: then
    /// only the answer.
    fn finish_other(
        &mut self,
        ballot: LayoutBallot,
        layout: Layout,
    ) -> ResponseActFuture<Router, Response> {
        if !self.changes.take_over(&layout) {
            return fail(under_way(layout.epoch));
        }
        tracing::info!(
            "finishing the change to ring epoch {} that {} proposed first",
            layout.epoch,
            ballot.process
        );
        self.add_members(&layout);
        let leaving = self
            .ring
            .nodes()
            .find(|id| !layout.members.contains_key(id));
        let mut change = self.change(Arc::new(layout.ring()), leaving);
        let Some(announce) = change.announce.as_mut() else {
            return fail(Error::Server("no layout".into()));
        };
        announce.next = layout.clone();
        announce.ballot = Some(ballot);
        self.begin_move(&change.new);
        let epoch = layout.epoch;
        self.run_agreed(change, move |act, _| {
            act.install(&layout);
            Response::from(under_way(epoch))
        })
    }

    /// Copies the keys, switches to the new ring (`finish` then updates the Router and makes the
    /// answer), has the old replicas drop what they no longer hold, then starts a sweep.
    pub(super) fn run_agreed(
        &mut self,
        mut change: Change,
        finish: impl FnOnce(&mut Router, &Moved) -> Response + 'static,
    ) -> ResponseActFuture<Router, Response> {
        let drops: Vec<_> = change
            .moves
            .drops
            .iter()
            .filter_map(|(id, arcs)| Some((change.nodes.get(id)?.clone(), Arc::new(arcs.clone()))))
            .collect();
        let timeout = change.timeout * 10;
        // A node that is not up neither sends nor drops: it may keep copies the ring moved.
        let all_up = change.states.values().all(|&s| s == NodeState::Up);
        let announce = change.announce.take();
        Box::pin(actix::fut::wrap_future(copy(change, announce)).then(
            move |copied, act: &mut Router, ctx| {
                let (new, moved, announce) = match copied {
                    Ok(done) => done,
                    Err(e) => {
                        act.end_move();
                        if act.peers.is_some() {
                            // Another process may have finished the same change meanwhile.
                            let others = act.alive_others();
                            act.catch_up_from(others, ctx);
                        }
                        return Box::pin(actix::fut::ready(Response::from(e)))
                            as ResponseActFuture<Router, Response>;
                    }
                };
                act.ring = new;
                if let Some(peers) = act.peers.as_mut() {
                    peers.epoch += 1;
                    act.votes.learn(peers.epoch);
                }
                let response = finish(act, &moved);
                act.end_move();
                let dropped = async move {
                    // Every other process switches before any old copy goes.
                    if let Some(announce) = &announce {
                        announce.switched().await;
                    }
                    let started = Instant::now();
                    let mut all_dropped = true;
                    for (node, arcs) in drops {
                        all_dropped &= call(&node, NodeOp::DropIn(arcs), timeout).await.is_ok();
                    }
                    tracing::info!("ring change: old copies dropped in {:?}", started.elapsed());
                    all_dropped
                };
                Box::pin(actix::fut::wrap_future(dropped).map(
                    move |all_dropped, act: &mut Router, ctx| {
                        if !(all_dropped && all_up) {
                            act.tidy.note();
                        }
                        act.sweep(ctx);
                        response
                    },
                ))
            },
        ))
    }
}

/// Crashes `victim`; returns how many of its keys no other live node holds.
async fn crash(
    victim: Recipient<NodeCall>,
    others: Vec<Recipient<NodeCall>>,
    timeout: Duration,
) -> u64 {
    let mine = match call(&victim, NodeOp::Entries(None), timeout).await {
        Ok(NodeReply::Entries(e)) => e,
        _ => Vec::new(),
    };
    let _ = call(&victim, NodeOp::Crash, timeout).await;
    let mut elsewhere: HashSet<String> = HashSet::new();
    for reply in join_all(others.iter().map(|n| call(n, NodeOp::Dump, timeout))).await {
        if let Ok(NodeReply::Dump(list, _)) = reply {
            elsewhere.extend(list.into_iter().map(|(k, _)| k));
        }
    }
    mine.iter().filter(|e| !elsewhere.contains(&e.key)).count() as u64
}

/// Why a change cannot go on: an update acknowledged before it may still be on its way.
fn unsettled() -> Error {
    Error::Unavailable(
        "updates sent to other processes before the change are still unanswered: try again".into(),
    )
}

/// Waits until no update is in flight (bounded by a few request timeouts).
async fn quiesce(stats: &Stats, timeout: Duration) {
    let deadline = Instant::now() + timeout * 3;
    while stats.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Copies the keys of the plan (and the hints kept for a leaving node) to their new replicas,
/// once every other process writes to them too (`announce`). Returns the new ring, how many keys
/// each new replica received, and what to tell the other processes after the switch.
async fn copy(
    change: Change,
    announce: Option<Announce>,
) -> Result<(Arc<Ring>, Moved, Option<Announce>)> {
    if let Some(announce) = &announce {
        announce.moving().await?;
    }
    match copy_keys(change).await {
        Ok((ring, moved)) => Ok((ring, moved, announce)),
        Err(e) => {
            if let Some(announce) = &announce {
                announce.called_off().await;
            }
            Err(e)
        }
    }
}

/// Copies the keys of the plan (and the hints kept for a leaving node) to their new replicas.
async fn copy_keys(change: Change) -> Result<(Arc<Ring>, Moved)> {
    let started = Instant::now();
    quiesce(&change.stats, change.timeout).await;
    if !change.direct.settle(change.timeout * 10).await {
        return Err(unsettled());
    }
    let timeout = change.timeout * 10;
    let mut moved = Moved::new();
    // How many copies each node still receives (keys, not hints): the first of them makes room
    // for all, assuming the others are as large, so the node's index is not rehashed while
    // updates wait for it (a rehash of 250,000 keys took 14 ms).
    let mut to_come: BTreeMap<NodeId, usize> = BTreeMap::new();
    for c in change.moves.copies.iter().filter(|c| c.hint_for.is_none()) {
        *to_come.entry(c.target).or_default() += 1;
    }
    for c in &change.moves.copies {
        let (Some(source), Some(target)) =
            (change.nodes.get(&c.source), change.nodes.get(&c.target))
        else {
            continue;
        };
        let op = NodeOp::EntriesIn(Arc::new(c.arcs.clone()));
        let Ok(NodeReply::Entries(entries)) = call(source, op, timeout).await else {
            continue;
        };
        *moved.entry(c.hint_for.unwrap_or(c.target)).or_default() += entries.len() as u64;
        if c.hint_for.is_none() {
            if let Some(copies) = to_come.remove(&c.target) {
                // Best effort: a node in another process grows as the merges come.
                let room = NodeOp::Reserve(entries.len().saturating_mul(copies));
                let _ = call(target, room, timeout).await;
            }
        }
        send(target, entries, c.hint_for, timeout).await?;
    }
    if let Some(leaving) = change.leaving {
        hand_over_hints(&change, leaving).await?;
    }
    tracing::info!(
        keys = moved.values().sum::<u64>(),
        "ring change: keys copied in {:?}",
        started.elapsed()
    );
    Ok((change.new, moved))
}

/// Merges `entries` into `target`, [`BATCH`] at a time.
async fn send(
    target: &Recipient<NodeCall>,
    entries: Vec<Entry>,
    hint_for: Option<NodeId>,
    timeout: Duration,
) -> Result<()> {
    let mut rest = entries.into_iter();
    loop {
        let batch: Vec<Entry> = rest.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            return Ok(());
        }
        let op = NodeOp::Merge {
            entries: batch,
            hint_for,
        };
        call(target, op, timeout).await?;
    }
}

/// Moves the hints every live node keeps for the leaving node to the key's new replicas.
async fn hand_over_hints(change: &Change, leaving: NodeId) -> Result<()> {
    let handover = Handover {
        ring: &change.new,
        replicas: change.replicas,
        nodes: &change.nodes,
        states: &change.states,
        timeout: change.timeout * 10,
    };
    handover.run(leaving).await
}

/// What handing over a leaving node's hints needs to know: the new ring and who is up.
struct Handover<'a> {
    ring: &'a Ring,
    replicas: usize,
    nodes: &'a BTreeMap<NodeId, Recipient<NodeCall>>,
    states: &'a BTreeMap<NodeId, NodeState>,
    timeout: Duration,
}

impl Handover<'_> {
    fn state(&self, n: NodeId) -> NodeState {
        self.states.get(&n).copied().unwrap_or(NodeState::Down)
    }

    /// Takes each live holder's hints for `leaving` and sends them to the keys' new replicas.
    /// A hint whose new replica cannot take it goes back to its holder, as a hint for that
    /// replica, so nothing taken is lost; an error only if it can be neither sent nor kept.
    async fn run(&self, leaving: NodeId) -> Result<()> {
        let holders = self
            .nodes
            .iter()
            .filter(|(&id, _)| id != leaving && self.state(id) != NodeState::Down);
        for (_, holder) in holders {
            let take = NodeOp::TakeHints(leaving);
            let Ok(NodeReply::Entries(hints)) = call(holder, take, self.timeout).await else {
                continue;
            };
            for ((node, hint_for), entries) in self.destinations(hints) {
                self.deliver(holder, node, hint_for, entries).await?;
            }
        }
        Ok(())
    }

    /// Groups `hints` by new replica (and by whom that replica stands in for).
    fn destinations(&self, hints: Vec<Entry>) -> BTreeMap<(NodeId, Option<NodeId>), Vec<Entry>> {
        let mut sends: BTreeMap<(NodeId, Option<NodeId>), Vec<Entry>> = BTreeMap::new();
        for entry in hints {
            let token = key_token(entry.key.as_bytes());
            let targets = write_targets(self.ring, token, self.replicas, |n| self.state(n));
            for t in targets {
                sends
                    .entry((t.node, t.hint_for))
                    .or_default()
                    .push(entry.clone());
            }
        }
        sends
    }

    /// Sends `entries` to `node`; failing that, `holder` keeps them as hints for the replica.
    async fn deliver(
        &self,
        holder: &Recipient<NodeCall>,
        node: NodeId,
        hint_for: Option<NodeId>,
        entries: Vec<Entry>,
    ) -> Result<()> {
        if let Some(target) = self.nodes.get(&node) {
            if send(target, entries.clone(), hint_for, self.timeout)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        let owner = hint_for.unwrap_or(node);
        let count = entries.len();
        send(holder, entries, Some(owner), self.timeout)
            .await
            .inspect_err(|_| {
                tracing::warn!(
                    node = owner,
                    count,
                    "hints could be neither handed over nor kept"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::router::fake_node::{entries, fake, Merged};

    /// Node 3 leaves a ring of 1, 2, 3 (two replicas): every key's new replicas are 1 and 2.
    /// Node 1 holds ten hints for node 3; node 2 fails merges when `down` says so.
    async fn hand_over(down: bool) -> (Result<()>, Merged, Merged) {
        let (holder, kept) = fake(false, entries(10));
        let (other, got) = fake(down, vec![]);
        let (leaving, _) = fake(false, vec![]);
        let nodes = BTreeMap::from([(1, holder), (2, other), (3, leaving)]);
        let states = BTreeMap::from([(1, NodeState::Up), (2, NodeState::Up), (3, NodeState::Up)]);
        let handover = Handover {
            ring: &Ring::with_nodes(16, [1, 2]),
            replicas: 2,
            nodes: &nodes,
            states: &states,
            timeout: Duration::from_secs(5),
        };
        (handover.run(3).await, kept, got)
    }

    /// The keys merged with `hint_for`, sorted.
    fn keys(merged: &Merged, hint_for: Option<NodeId>) -> Vec<String> {
        let merged = merged.lock().unwrap();
        let mut keys: Vec<String> = merged
            .iter()
            .filter(|(_, h)| *h == hint_for)
            .flat_map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    fn all_keys() -> Vec<String> {
        let mut keys: Vec<String> = entries(10).into_iter().map(|e| e.key).collect();
        keys.sort();
        keys
    }

    #[actix_rt::test]
    async fn hints_for_a_leaving_node_reach_its_successors() {
        let (result, kept, got) = hand_over(false).await;
        assert!(result.is_ok());
        assert_eq!(keys(&kept, None), all_keys(), "the holder is a new replica");
        assert_eq!(keys(&got, None), all_keys());
        assert!(keys(&kept, Some(2)).is_empty(), "nothing kept back");
    }

    #[actix_rt::test]
    async fn hints_a_successor_cannot_take_stay_with_their_holder() {
        let (result, kept, got) = hand_over(true).await;
        assert!(result.is_ok(), "kept, so the change goes on: {result:?}");
        assert!(got.lock().unwrap().is_empty());
        assert_eq!(keys(&kept, None), all_keys());
        assert_eq!(
            keys(&kept, Some(2)),
            all_keys(),
            "taken hints are not lost: the holder keeps them for node 2"
        );
    }
}
