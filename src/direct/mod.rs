//! The direct path: reads and updates served on the caller's own task, with no actor message, as
//! long as every replica of the key is up and answering.
//!
//! The Router publishes its view (ring, quorums, which nodes are up) into a [`Direct`] after every
//! change. A request whose replicas are all up and ready locks their [`SharedNode`]s one at a time
//! and is done: an update increments the first replica in this process in its own slot and merges
//! the new state into the others; a read merges every replica's state and repairs the ones that
//! were behind. A replica in another process gets the update's merge over its open link
//! ([`SharedLink`]), and the answer waits for as many acks as the write quorum still needs; an
//! update whose one replica (R = 1) is in another process is forwarded there. Anything else (a
//! replica down, paused or recovering, a link not open, a read with a replica elsewhere, a bad key)
//! is left to the Router, whose slower path handles hints, timeouts and sloppy quorums.
//!
//! While a membership change moves keys, the Router publishes the next ring too
//! ([`Direct::publish_moving`]): updates then also reach the nodes that the next ring adds to a
//! key's replicas, so the copies made meanwhile miss nothing, and reads use the current ring. The
//! switch to the next ring is one publish: the write lock waits for the direct requests that are
//! running. [`Direct::close`] sends everything to the Router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use std::time::Duration;

use smallvec::SmallVec;

mod local;
mod served;
mod tokened;

pub use self::served::Served;
use crate::actors::remote::SharedLink;
use crate::command::check_key;
use crate::counter::tokens::TokenId;
use crate::error::Result;
use crate::node_data::SharedNode;
use crate::replication::Quorums;
use crate::ring::{key_token, NodeId, PreferenceLists, Ring};

/// The replicas of one key, in preference-list order (during a move, the next ring's new ones
/// after them).
type Replicas<'a> = SmallVec<[&'a Replica; 4]>;

/// How long an update waits for the acks of replicas in other processes unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How the direct path reaches one node.
#[derive(Clone)]
pub enum Replica {
    /// A node in this process: its data.
    Local(Arc<SharedNode>),
    /// A node in another process: the link to it.
    Remote(Arc<SharedLink>),
}

impl Replica {
    /// The node's data, if it is in this process.
    fn local(&self) -> Option<&SharedNode> {
        match self {
            Replica::Local(node) => Some(node),
            Replica::Remote(_) => None,
        }
    }

    /// Whether it can take a direct request now: ready (local) or its link open (remote).
    fn usable(&self) -> bool {
        match self {
            Replica::Local(node) => node.is_ready(),
            Replica::Remote(link) => link.is_open(),
        }
    }
}

/// One node as the direct path sees it.
struct Route {
    node: Replica,
    up: bool,
}

/// The Router's view, as last published.
struct Routes {
    open: bool,
    ring: Arc<Ring>,
    quorums: Option<Quorums>,
    /// The preference list of R nodes of every arc of `ring` (R of `quorums`), built once per
    /// published ring: a key's replicas are a token lookup, with no walk of the ring.
    lists: Arc<PreferenceLists>,
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

    /// Node `id` if it can take a direct request now: up, and ready or its link open.
    fn usable(&self, id: NodeId) -> Option<&Replica> {
        let route = self.route(id)?;
        (route.up && route.node.usable()).then_some(&route.node)
    }

    /// The preference lists of `r` nodes of `ring`: these routes' own if they are of the same
    /// ring and R (a publish that only changes which nodes are up), else built anew.
    fn lists_for(&self, ring: &Arc<Ring>, r: usize) -> Arc<PreferenceLists> {
        let same_ring = Arc::ptr_eq(&self.ring, ring) || *self.ring == **ring;
        let same_r = self.quorums.is_some_and(|q| q.r == r);
        if same_ring && same_r {
            return self.lists.clone();
        }
        Arc::new(ring.preference_lists(r))
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
    /// How long an update waits for replicas in other processes.
    timeout: Duration,
    /// The dedup window of tokened updates, in milliseconds.
    dedup_window_ms: u64,
    /// The agreed ring epoch this process has settled on: the layout in force, 0 while keys
    /// move (and in a cluster of one process). See [`crate::actors::RingGuard`].
    settled: Arc<AtomicU64>,
}

impl Default for Direct {
    fn default() -> Self {
        Direct::new()
    }
}

impl Direct {
    /// A closed direct path (everything goes to the Router until [`Direct::publish`]).
    pub fn new() -> Self {
        Direct::with_timeout(DEFAULT_TIMEOUT)
    }

    /// A closed direct path whose updates wait at most `timeout` for other processes' acks.
    pub fn with_timeout(timeout: Duration) -> Self {
        let routes = Routes {
            open: false,
            ring: Arc::new(Ring::new(crate::ring::DEFAULT_VNODES)),
            quorums: None,
            lists: Arc::new(PreferenceLists::default()),
            next: None,
            nodes: Vec::new(),
            far: Vec::new(),
        };
        Direct {
            routes: RwLock::new(routes),
            move_view: std::sync::Mutex::new(None),
            read_repairs: AtomicU64::new(0),
            diverged: AtomicU64::new(0),
            timeout,
            dedup_window_ms: crate::counter::tokens::window_ms(
                crate::counter::tokens::DEFAULT_DEDUP_WINDOW,
            ),
            settled: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The agreed ring epoch this process has settled on, shared with the calls that check it
    /// ([`crate::actors::RingGuard::Agreed`]).
    pub fn settled_epoch(&self) -> Arc<AtomicU64> {
        self.settled.clone()
    }

    /// Records the ring epoch this process settled on (0: keys move, or no cluster of
    /// processes). The Router sets 0 before the path writes to a next ring's replicas.
    pub fn settle_epoch(&self, epoch: u64) {
        self.settled.store(epoch, Ordering::SeqCst);
    }

    /// The same path with tokened updates recognised for `window`.
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window_ms = crate::counter::tokens::window_ms(window);
        self
    }

    /// Opens the path with the Router's current view: the ring, the quorums, and each node with
    /// whether the Router counts it as up.
    pub fn publish(
        &self,
        ring: Arc<Ring>,
        quorums: Quorums,
        nodes: impl IntoIterator<Item = (NodeId, Replica, bool)>,
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
        nodes: impl IntoIterator<Item = (NodeId, Replica, bool)>,
    ) {
        self.set(ring, quorums, Some(next), nodes);
    }

    fn set(
        &self,
        ring: Arc<Ring>,
        quorums: Quorums,
        next: Option<(Arc<Ring>, usize)>,
        nodes: impl IntoIterator<Item = (NodeId, Replica, bool)>,
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
        let lists = self.read().lists_for(&ring, quorums.r);
        *self.write() = Routes {
            open: true,
            ring,
            quorums: Some(quorums),
            lists,
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
            let data = routes
                .nodes
                .get(node.id as usize)
                .and_then(|r| r.as_ref()?.node.local());
            if let Some(data) = data {
                node.keys = data.lock().store().len() as u64;
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

    /// Waits until every call sent so far to a node in another process has been answered (or
    /// failed), for at most `within`; says whether they all were. A membership change calls it
    /// once updates write to the next ring too: an update acknowledged before that may still have
    /// a merge on its way to the replica a copy is taken from, and the copy must not miss it.
    pub async fn settle(&self, within: Duration) -> bool {
        let marks: Vec<(Arc<SharedLink>, u64)> = {
            let routes = self.read();
            let all = routes
                .nodes
                .iter()
                .flatten()
                .chain(routes.far.iter().map(|(_, r)| r));
            all.filter_map(|route| match &route.node {
                Replica::Remote(link) => Some((link.clone(), link.mark()?)),
                Replica::Local(_) => None,
            })
            .collect()
        };
        let deadline = tokio::time::Instant::now() + within;
        while !marks.iter().all(|(link, mark)| link.settled(*mark)) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("calls to other processes still unanswered after {within:?}");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }

    /// Adds `amount` to `key`: `None` if the Router must do it.
    pub fn update(&self, key: &str, amount: i64) -> Option<Result<Served>> {
        let routes = self.read();
        let (replicas, quorums) = replicas_of(&routes, key, true)?;
        let (served, held) =
            local::update(&replicas, quorums.r, key, amount, quorums.w, self.timeout)?;
        if held < replicas.len() {
            self.diverged.fetch_add(1, Ordering::Relaxed);
        }
        Some(served)
    }

    /// Adds `amount` to `key` once per token `id` (see [`crate::counter::tokens`]): `None` if the
    /// Router must do it (a replica in another process, or anything [`Direct::update`] leaves).
    pub fn update_token(&self, key: &str, amount: i64, id: TokenId) -> Option<Result<Served>> {
        let routes = self.read();
        let (replicas, quorums) = replicas_of(&routes, key, true)?;
        let tokened = (amount, id, self.dedup_window_ms);
        let (served, held) = tokened::update(&replicas, key, tokened, quorums.w)?;
        if held < replicas.len() {
            self.diverged.fetch_add(1, Ordering::Relaxed);
        }
        Some(served)
    }

    /// Reads `key`: `None` if the Router must do it.
    pub fn get(&self, key: &str) -> Option<Result<Served>> {
        let routes = self.read();
        let (replicas, _) = replicas_of(&routes, key, false)?;
        let locals: SmallVec<[&SharedNode; 4]> =
            replicas.iter().map(|r| r.local()).collect::<Option<_>>()?;
        let (served, repaired) = local::read(&locals, key);
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
    let token = key_token(key.as_bytes());
    let list = routes.lists.of(&routes.ring, token);
    if list.len() != quorums.r {
        return None;
    }
    let mut replicas = Replicas::new();
    for &id in list {
        replicas.push(routes.usable(id)?);
    }
    if let (true, Some((next, r))) = (update, &routes.next) {
        for id in next.preference_list_of_token(token, *r) {
            let node = routes.usable(id)?;
            if !replicas.iter().any(|n| std::ptr::eq(*n, node)) {
                replicas.push(node);
            }
        }
    }
    Some((replicas, quorums))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::node_data::NodeData;
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
            (1..=nodes)
                .zip(shared.clone())
                .map(|(id, n)| (id, Replica::Local(n), true)),
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
        let all = (1..=4)
            .zip(nodes.clone())
            .map(|(id, n)| (id, Replica::Local(n), true));
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
