//! The direct path: reads and updates served on the caller's own task, with no actor message, as
//! long as every replica of the key is up and answering.
//!
//! The Router publishes its view (ring, quorums, which nodes are up) into a [`Direct`] after every
//! change. A request whose replicas are all up and ready locks their [`SharedNode`]s one at a time
//! and is done: an update increments the first replica's slot and merges the new state into the
//! others; a read merges every replica's state and repairs the ones that were behind. Anything
//! else (a replica down, paused or recovering, a membership change under way, a bad key) is left
//! to the Router, whose slower path handles hints, timeouts and sloppy quorums.
//!
//! While a membership change moves keys, the Router publishes the next ring too
//! ([`Direct::publish_moving`]): updates then also reach the nodes that the next ring adds to a
//! key's replicas, so the copies made meanwhile miss nothing, and reads use the current ring. The
//! switch to the next ring is one publish: the write lock waits for the direct requests that are
//! running. [`Direct::close`] sends everything to the Router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use smallvec::SmallVec;

use crate::command::check_key;
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::node_data::{NodeData, SharedNode};
use crate::persist::Ack;
use crate::replication::Quorums;
use crate::ring::{key_token, NodeId, Ring};

/// The replicas of one key, in preference-list order (during a move, the next ring's new ones
/// after them).
type Replicas<'a> = SmallVec<[&'a SharedNode; 4]>;

/// A value served directly, and the log writes to wait for before answering (`--fsync always`).
pub struct Served {
    /// The new value (an update) or the merged value (a read; 0 for a key that does not exist).
    pub value: i64,
    /// Whether the key exists (always after an update).
    pub exists: bool,
    /// Acks of the log writes the answer must wait for; empty unless every write is synced.
    pub acks: Vec<Ack<()>>,
}

impl Served {
    /// A value with nothing to wait for.
    fn now(value: Option<i64>) -> Served {
        Served {
            value: value.unwrap_or(0),
            exists: value.is_some(),
            acks: Vec::new(),
        }
    }

    /// Waits until the log writes are on disk; answers the value.
    ///
    /// # Errors
    /// [`Error::Storage`] if a write failed or the log writer stopped.
    pub async fn synced(self) -> Result<i64> {
        for ack in self.acks {
            ack.await
                .map_err(|_| Error::Storage("the log writer stopped".into()))??;
        }
        Ok(self.value)
    }
}

/// One node as the direct path sees it.
struct Route {
    node: Arc<SharedNode>,
    up: bool,
}

/// The Router's view, as last published.
struct Routes {
    open: bool,
    ring: Arc<Ring>,
    quorums: Option<Quorums>,
    /// During a move: the next ring and its R. Updates reach its replicas too.
    next: Option<(Arc<Ring>, usize)>,
    /// Indexed by node id, for the small ids of nodes started in one process (1, 2, ...).
    nodes: Vec<Option<Route>>,
    /// Nodes with large ids (those that joined from another process: their ids are random).
    far: Vec<(NodeId, Route)>,
}

/// Ids below this are indexed directly; larger ones are looked up in [`Routes::far`].
const DENSE_IDS: usize = 4096;

impl Routes {
    fn route(&self, id: NodeId) -> Option<&Route> {
        match self.nodes.get(id as usize) {
            Some(route) => route.as_ref(),
            None => self.far.iter().find(|(n, _)| *n == id).map(|(_, r)| r),
        }
    }
}

/// The direct path of one cluster: the Router's published view, shared with every session.
pub struct Direct {
    routes: RwLock<Routes>,
    /// During a membership change: the cluster's figures when it began (the Router's mailbox is
    /// busy until it ends), for the dashboard and the REPL's progress line.
    move_view: std::sync::Mutex<Option<(std::time::Instant, crate::metrics::ClusterFigures)>>,
    read_repairs: AtomicU64,
    /// Direct requests that found or left replicas apart (a failed merge, a read repair).
    diverged: AtomicU64,
}

impl Default for Direct {
    fn default() -> Self {
        Direct::new()
    }
}

impl Direct {
    /// A closed direct path (everything goes to the Router until [`Direct::publish`]).
    pub fn new() -> Self {
        let routes = Routes {
            open: false,
            ring: Arc::new(Ring::new(crate::ring::DEFAULT_VNODES)),
            quorums: None,
            next: None,
            nodes: Vec::new(),
            far: Vec::new(),
        };
        Direct {
            routes: RwLock::new(routes),
            move_view: std::sync::Mutex::new(None),
            read_repairs: AtomicU64::new(0),
            diverged: AtomicU64::new(0),
        }
    }

    /// Opens the path with the Router's current view: the ring, the quorums, and each node with
    /// whether the Router counts it as up.
    pub fn publish(
        &self,
        ring: Arc<Ring>,
        quorums: Quorums,
        nodes: impl IntoIterator<Item = (NodeId, Arc<SharedNode>, bool)>,
    ) {
        self.set(ring, quorums, None, nodes);
    }

    /// Like [`Direct::publish`], while keys move to `next` (with `next_r` replicas): updates also
    /// reach the replicas `next` adds.
    pub fn publish_moving(
        &self,
        ring: Arc<Ring>,
        quorums: Quorums,
        next: (Arc<Ring>, usize),
        nodes: impl IntoIterator<Item = (NodeId, Arc<SharedNode>, bool)>,
    ) {
        self.set(ring, quorums, Some(next), nodes);
    }

    fn set(
        &self,
        ring: Arc<Ring>,
        quorums: Quorums,
        next: Option<(Arc<Ring>, usize)>,
        nodes: impl IntoIterator<Item = (NodeId, Arc<SharedNode>, bool)>,
    ) {
        let mut by_id: Vec<Option<Route>> = Vec::new();
        let mut far = Vec::new();
        for (id, node, up) in nodes {
            let i = id as usize;
            if i >= DENSE_IDS {
                far.push((id, Route { node, up }));
                continue;
            }
            if by_id.len() <= i {
                by_id.resize_with(i + 1, || None);
            }
            by_id[i] = Some(Route { node, up });
        }
        let nodes = by_id;
        *self.write() = Routes {
            open: true,
            ring,
            quorums: Some(quorums),
            next,
            nodes,
            far,
        };
    }

    /// Closes the path; returns once no direct request is running.
    pub fn close(&self) {
        self.write().open = false;
    }

    /// How many nodes the last published view has.
    pub fn node_count(&self) -> usize {
        let routes = self.read();
        routes.nodes.iter().flatten().count() + routes.far.len()
    }

    /// Notes the figures of a membership change that begins (`None`: it ended).
    pub fn set_move_view(&self, view: Option<crate::metrics::ClusterFigures>) {
        let view = view.map(|v| (std::time::Instant::now(), v));
        *self.move_view.lock().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// During a membership change: how long it has run, and the figures noted when it began with
    /// each node's key count as it is now.
    pub fn move_view(&self) -> Option<(std::time::Duration, crate::metrics::ClusterFigures)> {
        let (began, mut view) = self
            .move_view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let routes = self.read();
        for node in &mut view.nodes {
            if let Some(Some(route)) = routes.nodes.get(node.id as usize) {
                node.keys = route.node.lock().store().len() as u64;
            }
        }
        Some((began.elapsed(), view))
    }

    /// During a membership change, the ring keys move to (for the dashboard).
    pub fn next_ring(&self) -> Option<Arc<Ring>> {
        self.read().next.as_ref().map(|(ring, _)| ring.clone())
    }

    /// How many replicas direct reads have repaired.
    pub fn read_repairs(&self) -> u64 {
        self.read_repairs.load(Ordering::Relaxed)
    }

    /// How many direct requests found or left replicas apart: a merge that failed, a read that had
    /// to repair. Anti-entropy looks at it to know whether a pass is due.
    pub fn diverged(&self) -> u64 {
        self.diverged.load(Ordering::Relaxed)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `amount` to `key`: `None` if the Router must do it.
    pub fn update(&self, key: &str, amount: i64) -> Option<Result<Served>> {
        let routes = self.read();
        let (replicas, quorums) = replicas_of(&routes, key, true)?;
        let (served, held) = update(&replicas, key, amount, quorums.w);
        if held < replicas.len() {
            self.diverged.fetch_add(1, Ordering::Relaxed);
        }
        Some(served)
    }

    /// Reads `key`: `None` if the Router must do it.
    pub fn get(&self, key: &str) -> Option<Result<Served>> {
        let routes = self.read();
        let (replicas, _) = replicas_of(&routes, key, false)?;
        let (served, repaired) = read(&replicas, key);
        if repaired > 0 {
            self.read_repairs.fetch_add(repaired, Ordering::Relaxed);
            self.diverged.fetch_add(1, Ordering::Relaxed);
        }
        Some(served)
    }
}

/// The replicas of `key` if the path is open, the key valid, and every replica up and ready; for
/// an update during a move, the next ring's new replicas too.
fn replicas_of<'a>(routes: &'a Routes, key: &str, update: bool) -> Option<(Replicas<'a>, Quorums)> {
    let quorums = routes.quorums?;
    if !routes.open || check_key(key).is_err() {
        return None;
    }
    let usable = |id: NodeId| {
        let route = routes.route(id)?;
        (route.up && route.node.is_ready()).then_some(&*route.node)
    };
    let token = key_token(key.as_bytes());
    let mut replicas = Replicas::new();
    if quorums.r == 1 {
        replicas.push(usable(routes.ring.owner_of_token(token)?)?);
    } else {
        for id in routes.ring.preference_list_of_token(token, quorums.r) {
            replicas.push(usable(id)?);
        }
    }
    if replicas.len() != quorums.r {
        return None;
    }
    if let (true, Some((next, r))) = (update, &routes.next) {
        for id in next.preference_list_of_token(token, *r) {
            let node = usable(id)?;
            if !replicas.iter().any(|n| std::ptr::eq(*n, node)) {
                replicas.push(node);
            }
        }
    }
    Some((replicas, quorums))
}

/// Hands a node's journal to its log, keeping the ack to wait for.
fn persist(data: &mut NodeData, acks: &mut Vec<Ack<()>>) -> Result<()> {
    if let Some(ack) = data.persist()? {
        acks.push(ack);
    }
    Ok(())
}

/// Increments at the first replica, merges its new state into the others; W must hold it.
/// Returns the answer and how many replicas hold the update.
fn update(replicas: &[&SharedNode], key: &str, amount: i64, w: usize) -> (Result<Served>, usize) {
    let mut acks = Vec::new();
    let (first, others) = replicas.split_first().expect("a key has replicas");
    let mut data = first.lock();
    if others.is_empty() {
        let served = data.increment_value(key, amount).and_then(|value| {
            persist(&mut data, &mut acks)?;
            let exists = true;
            Ok(Served {
                value,
                exists,
                acks,
            })
        });
        return (served, 1);
    }
    let counter = match data.increment(key, amount, None) {
        Ok(counter) => counter,
        Err(e) => return (Err(e), replicas.len()),
    };
    if let Err(e) = persist(&mut data, &mut acks) {
        return (Err(e), 0);
    }
    drop(data);
    let mut held = 1;
    for node in others {
        let mut data = node.lock();
        if data.merge_one(key, &counter).is_ok() && persist(&mut data, &mut acks).is_ok() {
            held += 1;
        }
    }
    if held < w {
        let e = Error::Uncertain(format!(
            "update of {} reached only {held} replicas; the write quorum is {w}: it may or may not be applied",
            crate::quote::in_message(key)
        ));
        return (Err(e), held);
    }
    let served = Served {
        value: counter.value(),
        exists: true,
        acks,
    };
    (Ok(served), held)
}

/// Merges every replica's state of `key`; writes the merge back to the replicas that were behind.
/// Returns the answer and how many replicas were repaired.
fn read(replicas: &[&SharedNode], key: &str) -> (Result<Served>, u64) {
    if let [only] = replicas {
        let value = only.lock().store().value_of(key);
        return (Ok(Served::now(value)), 0);
    }
    let states: SmallVec<[Option<Counter>; 3]> = replicas
        .iter()
        .map(|node| node.lock().read(key, None))
        .collect();
    let mut merged = Counter::new();
    for state in states.iter().flatten() {
        merged.merge(state);
    }
    let mut repaired = 0;
    let exists = states.iter().any(Option::is_some);
    if exists {
        for (node, state) in replicas.iter().zip(&states) {
            if state.as_ref() != Some(&merged) {
                let mut data = node.lock();
                if data.merge_one(key, &merged).is_ok() {
                    repaired += 1;
                }
                // The read does not wait for the repair's log write; a failed one only means this
                // replica is still behind.
                let _ = data.persist();
            }
        }
    }
    let value = merged.value_if_present().filter(|_| exists);
    (Ok(Served::now(value)), repaired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::ReplicationConfig;

    fn cluster(nodes: u32, r: usize) -> (Direct, Vec<Arc<SharedNode>>) {
        let shared: Vec<_> = (1..=nodes)
            .map(|id| SharedNode::new(NodeData::new(id, None)))
            .collect();
        let direct = Direct::new();
        let ring = Arc::new(Ring::with_nodes(64, 1..=nodes));
        let config = ReplicationConfig {
            replicas: r,
            ..Default::default()
        };
        direct.publish(
            ring,
            config.quorums(nodes as usize),
            (1..=nodes).zip(shared.clone()).map(|(id, n)| (id, n, true)),
        );
        (direct, shared)
    }

    fn value(direct: &Direct, key: &str) -> i64 {
        direct.get(key).unwrap().unwrap().value
    }

    #[test]
    fn updates_reach_every_replica() {
        let (direct, nodes) = cluster(4, 3);
        for _ in 0..5 {
            direct.update("k", 2).unwrap().unwrap();
        }
        assert_eq!(value(&direct, "k"), 10);
        let holders = nodes.iter().filter(|n| n.lock().store().get("k") == 10);
        assert_eq!(holders.count(), 3);
    }

    #[test]
    fn one_replica_counts_once() {
        let (direct, nodes) = cluster(3, 1);
        direct.update("a", 7).unwrap().unwrap();
        let total: i64 = nodes.iter().map(|n| n.lock().store().get("a")).sum();
        assert_eq!(total, 7);
        assert_eq!(value(&direct, "a"), 7);
    }

    #[test]
    fn a_node_not_ready_sends_its_keys_to_the_router() {
        let (direct, nodes) = cluster(3, 3);
        nodes[1].set_ready(false);
        assert!(direct.update("k", 1).is_none());
        assert!(direct.get("k").is_none());
        nodes[1].set_ready(true);
        assert!(direct.update("k", 1).is_some());
    }

    #[test]
    fn closed_path_and_bad_keys_go_to_the_router() {
        let (direct, _) = cluster(3, 3);
        assert!(direct.update("", 1).is_none());
        direct.close();
        assert!(direct.update("k", 1).is_none());
        assert!(Direct::new().get("k").is_none());
    }

    #[test]
    fn reads_repair_replicas_that_are_behind() {
        let (direct, nodes) = cluster(3, 3);
        direct.update("k", 4).unwrap().unwrap();
        nodes[0].lock().crash();
        assert_eq!(value(&direct, "k"), 4);
        assert!(direct.read_repairs() >= 1);
        assert!(nodes.iter().all(|n| n.lock().store().get("k") == 4));
    }

    #[test]
    fn during_a_move_updates_reach_the_next_replicas_too() {
        let (direct, mut nodes) = cluster(3, 1);
        let fourth = SharedNode::new(NodeData::new(4, None));
        nodes.push(fourth.clone());
        let ring = Arc::new(Ring::with_nodes(64, 1..=3));
        let next = Arc::new(Ring::with_nodes(64, 1..=4));
        let quorums = ReplicationConfig {
            replicas: 1,
            ..Default::default()
        }
        .quorums(3);
        let all = (1..=4).zip(nodes.clone()).map(|(id, n)| (id, n, true));
        direct.publish_moving(ring.clone(), quorums, (next.clone(), 1), all);
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        for key in &keys {
            direct.update(key, 1).unwrap().unwrap();
        }
        for key in &keys {
            let owner = next.owner(key.as_bytes()).unwrap() as usize;
            assert_eq!(nodes[owner - 1].lock().store().get(key), 1, "{key}");
            assert_eq!(value(&direct, key), 1, "reads use the current ring");
        }
        assert!(!fourth.lock().store().is_empty());
    }

    #[test]
    fn overflow_is_refused() {
        let (direct, _) = cluster(3, 3);
        direct.update("k", i64::MAX).unwrap().unwrap();
        assert!(matches!(direct.update("k", 1), Some(Err(Error::Overflow))));
        assert_eq!(value(&direct, "k"), i64::MAX);
    }
}
