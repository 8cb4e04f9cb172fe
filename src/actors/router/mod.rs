//! `Router`: owns the ring and the node handles; routes, replicates, moves keys, supervises.
//!
//! It publishes its view (ring, quorums, node states) to the direct path ([`crate::direct`]) after
//! every change; reads and updates whose replicas are all up never reach it. The ones that do (a
//! replica down, paused or recovering) run off the Router's context (`requests`), each node call
//! bounded by the request timeout, so a slow node never blocks the Router's mailbox. Membership
//! changes (`membership`) run atomically for the Router's own requests while the direct path keeps
//! serving: they copy keys to their new replicas, switch the ring, then drop the copies nobody
//! needs. `health` marks nodes down and up, brings restarted nodes back, and runs anti-entropy when
//! replicas may have drifted apart. `sweep` drops the copies a node holds but no longer replicates
//! (left by a change cut short), once the key's replicas hold them. `limits` checks what a request
//! may ask: the longest pause, the ports and number of nodes, `remove-node` below R.

mod agree;
mod announce;
mod catch_up;
mod collect;
mod expire;
#[cfg(test)]
mod fake_node;
mod figures;
mod health;
mod idle_tokens;
mod keyspace;
mod limits;
mod membership;
mod peers;
mod reports;
mod requests;
mod resets;
mod sweep;
mod tokened;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::budget::Budget;
use super::change_lock::ChangeLock;
use super::gateway::Gateway;
use super::listener::ServerLimits;
use super::node::{call, NodeActor, NodeCall, NodeOp, NodeOptions};
use super::remote::SharedLink;
use super::standing::Standing;
use super::votes::Votes;
use crate::direct::{Direct, Replica};
use crate::error::{Error, Result};
use crate::layout::Member;
use crate::node_data::{NodeData, SharedNode};
use crate::persist::{ClusterMeta, DataDir, Opened};
use crate::protocol::{Request, Response, SetTtl};
use crate::replication::{NodeState, Quorums, ReplicationConfig};
use crate::ring::{NodeId, Ring};
use futures_util::future::join_all;

pub(crate) use catch_up::Learned;
pub use figures::Figures;
use health::Drift;
pub use health::NodeRestarted;
pub use keyspace::{FlushReady, SameReplicas, ScanPage, ScanRange};
pub use limits::{MAX_NODES, MAX_PAUSE_MILLIS, MIN_PORT};
use peers::Peers;
pub use peers::{PeerConfig, ASK_TIMEOUT};
use sweep::Tidy;

/// How the Router builds and watches nodes.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Virtual nodes per node.
    pub vnodes: u32,
    /// The address new nodes listen on.
    pub host: String,
    /// Limits every node's listener applies.
    pub limits: ServerLimits,
    /// Whether nodes use consecutive ports (5001, 5002, ...): `add-node` then takes the next one.
    pub sequential_ports: bool,
    /// R, W and Q.
    pub replication: ReplicationConfig,
    /// How long one node may take to answer before it is counted as failed (and marked down).
    pub request_timeout: Duration,
    /// Whether crashed nodes are restarted by their supervisor.
    pub restart: bool,
    /// How long a crashed node stays down before it restarts.
    pub restart_backoff: Duration,
    /// How often anti-entropy checks whether a pass is due, and runs it (zero: never).
    pub anti_entropy_interval: Duration,
    /// The data directory nodes log to (`None`: in memory only).
    pub data: Option<Arc<DataDir>>,
    /// The most nodes the cluster may have; `add-node` past it is refused.
    pub max_nodes: usize,
    /// How this Router takes part in a cluster of several processes (`None`: one process).
    pub peers: Option<PeerConfig>,
    /// How long a retried tokened update is recognised (`--dedup-window`; see
    /// [`crate::counter::tokens`]).
    pub dedup_window: Duration,
    /// How long every replica must have held a tombstone unchanged before it is collected
    /// (`--tombstone-grace`; zero: never; see `collect.rs`).
    pub tombstone_grace: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            vnodes: crate::ring::DEFAULT_VNODES,
            host: "127.0.0.1".into(),
            limits: ServerLimits::default(),
            sequential_ports: false,
            replication: ReplicationConfig::default(),
            request_timeout: Duration::from_secs(1),
            restart: true,
            restart_backoff: Duration::from_millis(500),
            anti_entropy_interval: Duration::from_secs(2),
            data: None,
            max_nodes: MAX_NODES,
            peers: None,
            dedup_window: crate::counter::tokens::DEFAULT_DEDUP_WINDOW,
            tombstone_grace: collect::DEFAULT_TOMBSTONE_GRACE,
        }
    }
}

/// A node to start: its id, its bound listener and, with a data directory, its opened log.
pub struct NodeSeed {
    /// The node's id.
    pub id: NodeId,
    /// Its listener, already bound.
    pub listener: TcpListener,
    /// Its log and the state read from it.
    pub restored: Option<Opened>,
}

impl NodeSeed {
    /// A node without a log.
    pub fn new(id: NodeId, listener: TcpListener) -> Self {
        NodeSeed {
            id,
            listener,
            restored: None,
        }
    }
}

/// Run one request; the answer is a [`Response`] (an error is `Response::Error`).
#[derive(Message)]
#[rtype(result = "Response")]
pub struct Exec(pub Request);

/// Stop every node cleanly (no crash: nothing is lost that a node keeps), then the Router.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Router {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let timeout = self.config.request_timeout;
        let nodes: Vec<_> = self.local_nodes().map(|n| n.call.clone()).collect();
        self.nodes.clear();
        let stops = async move {
            join_all(nodes.iter().map(|n| call(n, NodeOp::Stop, timeout))).await;
        };
        Box::pin(actix::fut::wrap_future(stops).map(|_, _, ctx: &mut Context<Self>| ctx.stop()))
    }
}

/// The Router's view of one node.
pub(crate) struct NodeInfo {
    pub port: u16,
    pub call: Recipient<NodeCall>,
    /// The node's data, for the direct path (`None` for a node in another process).
    pub shared: Option<Arc<SharedNode>>,
    /// The link to a node in another process, shared with the direct path.
    pub link: Option<Arc<SharedLink>>,
    /// Where it listens and which process runs it, once the cluster spans processes.
    pub member: Option<Member>,
    pub state: NodeState,
    /// Crashed and not yet restarted (so not probed by the health check).
    pub crashed: bool,
}

/// Counters shown by `status`, shared with the request futures.
#[derive(Default)]
pub(crate) struct Stats {
    pub read_repairs: AtomicU64,
    pub anti_entropy_repairs: AtomicU64,
    pub anti_entropy_passes: AtomicU64,
    /// Bumped by every membership change, so a background pass can tell its ring is stale.
    pub epoch: Arc<AtomicU64>,
    /// Updates whose replica writes have not all finished.
    pub inflight: AtomicUsize,
}

/// The coordinator of the cluster.
pub struct Router {
    config: RouterConfig,
    ring: Arc<Ring>,
    nodes: BTreeMap<NodeId, NodeInfo>,
    next_id: NodeId,
    stats: Arc<Stats>,
    me: Option<Addr<Router>>,
    /// The direct path this Router publishes its view into.
    direct: Arc<Direct>,
    /// The byte budget every connection of this cluster shares.
    budget: Budget,
    /// A membership change is under way: publishes wait for its end.
    moving: bool,
    /// While keys move: the ring they move to and its R (updates write to its replicas too).
    next_ring: Option<(Arc<Ring>, usize)>,
    /// Whether replicas may have drifted apart since the last anti-entropy pass.
    drift: Drift,
    /// The ports the cluster started with: `add-node` may reuse them even below 1024.
    start_ports: Vec<u16>,
    /// Whether copies nobody needs may exist, and whether a sweep runs ([`sweep`]).
    tidy: Tidy,
    /// The `status` being gathered now, which requests arriving meanwhile share.
    status_flight: reports::StatusFlight,
    /// Its part in a cluster of several processes, if any.
    peers: Option<Peers>,
    /// The membership change this process has promised to, if any.
    changes: ChangeLock,
    /// This process's acceptor in the agreement on the next ring.
    votes: Votes,
    /// Whether this process serves reads and writes (not while it catches up, never once removed).
    standing: Standing,
    /// A tombstone collection pass runs ([`collect`]).
    collecting: bool,
    /// A step of the idle-token sweep runs ([`idle_tokens`]).
    folding: bool,
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(usize::MAX);
        self.me = Some(ctx.address());
        health::start_timers(self, ctx);
        // Copies left behind by a ring change cut short (say, the process was killed).
        ctx.run_later(Duration::ZERO, |act, ctx| act.sweep(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for node in self.local_nodes() {
            node.call.do_send(NodeCall(NodeOp::Stop));
        }
    }
}

impl Router {
    /// Starts a Router with one node per listener (ids 1, 2, ... in listener order).
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the replication settings are invalid.
    pub fn start(config: RouterConfig, listeners: Vec<TcpListener>) -> Result<Gateway> {
        let seeds = (1..)
            .zip(listeners)
            .map(|(id, l)| NodeSeed::new(id, l))
            .collect();
        Router::start_with(config, seeds)
    }

    /// Starts a Router with the given nodes (ids and, if restored, their logged state); new nodes
    /// get ids past the highest. Returns the way in: the Router and its direct path.
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the replication settings are invalid.
    pub fn start_with(config: RouterConfig, seeds: Vec<NodeSeed>) -> Result<Gateway> {
        config.replication.validate()?;
        let next_id = seeds.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let direct = Arc::new(
            Direct::with_timeout(config.request_timeout).with_dedup_window(config.dedup_window),
        );
        let shared = direct.clone();
        let budget = Budget::new(config.limits.max_server_bytes);
        let budget_here = budget.clone();
        let changes = (ChangeLock::default(), Votes::open(config.data.as_deref())?);
        let changes_here = changes.0.clone();
        let votes_here = changes.1.clone();
        let standing = Standing::default();
        let standing_here = standing.clone();
        let router = Router::create(move |ctx| {
            let mut router = Router {
                ring: Arc::new(Ring::new(config.vnodes)),
                config,
                nodes: BTreeMap::new(),
                next_id,
                stats: Arc::default(),
                me: Some(ctx.address()),
                direct: shared,
                budget: budget_here,
                moving: false,
                next_ring: None,
                drift: Drift::default(),
                start_ports: Vec::new(),
                tidy: Tidy::default(),
                status_flight: reports::StatusFlight::default(),
                peers: None,
                changes: changes_here,
                votes: votes_here,
                standing: standing_here,
                collecting: false,
                folding: false,
            };
            let mut local = Vec::new();
            for seed in seeds {
                match router.spawn_node(seed) {
                    Ok(id) => local.push(id),
                    Err(e) => tracing::error!("cannot start node: {e}"),
                }
            }
            let on_ring = match router.config.peers.clone() {
                Some(peers) => router.start_peers(&peers),
                None => true,
            };
            let ids: Vec<NodeId> = router.nodes.keys().copied().collect();
            for id in ids {
                if on_ring || !local.contains(&id) {
                    Arc::make_mut(&mut router.ring).add_node(id);
                }
            }
            router.start_ports = router.nodes.values().map(|n| n.port).collect();
            router.publish();
            router
        });
        Ok(Gateway::new(router, direct, budget, changes, standing))
    }

    /// Starts a node under a supervisor (not yet on the ring).
    fn spawn_node(&mut self, seed: NodeSeed) -> Result<NodeId> {
        let id = seed.id;
        let options = NodeOptions {
            host: self.config.host.clone(),
            limits: self.config.limits.clone(),
            restart: self.config.restart,
            restart_backoff: self.config.restart_backoff,
        };
        let shared = SharedNode::new(NodeData::new(id, seed.restored));
        let node = NodeActor::new(seed.listener, self.gateway(), options, shared.clone())?;
        let port = node.port();
        let addr = Supervisor::start(move |_| node);
        self.next_id = self.next_id.max(id + 1);
        let info = NodeInfo {
            port,
            call: addr.recipient(),
            shared: Some(shared),
            link: None,
            // A node added to a cluster of processes is a member of this process.
            member: self.peers.as_ref().map(|p| Member {
                addr: std::net::SocketAddr::new(p.me.ip(), port),
                process: p.me,
            }),
            state: NodeState::Up,
            crashed: false,
        };
        self.nodes.insert(id, info);
        Ok(id)
    }

    /// The way into this cluster, for node listeners.
    fn gateway(&self) -> Gateway {
        Gateway::new(
            self.address(),
            self.direct.clone(),
            self.budget.clone(),
            (self.changes.clone(), self.votes.clone()),
            self.standing.clone(),
        )
    }

    /// Publishes the current ring and node states to the direct path (unless keys are moving).
    /// Every state change goes through here, so it also notes a possible drift of replicas.
    pub(crate) fn publish(&mut self) {
        self.drift.note();
        if self.moving {
            return;
        }
        self.direct
            .publish(self.ring.clone(), self.quorums(), self.routed_nodes());
        self.direct
            .settle_epoch(self.peers.as_ref().map_or(0, |p| p.epoch));
    }

    /// Every node with its data and whether the direct path may use it (up and not crashed).
    fn routed_nodes(&self) -> Vec<(NodeId, Replica, bool)> {
        let up = |n: &NodeInfo| n.state == NodeState::Up && !n.crashed;
        let replica = |n: &NodeInfo| match (&n.shared, &n.link) {
            (Some(data), _) => Some(Replica::Local(data.clone())),
            (None, Some(link)) => Some(Replica::Remote(link.clone())),
            (None, None) => None,
        };
        self.nodes
            .iter()
            .filter_map(|(&id, n)| Some((id, replica(n)?, up(n))))
            .collect()
    }

    /// The live nodes other than `id` (sources of copies for it).
    pub(crate) fn live_others(&self, id: NodeId) -> Vec<Recipient<NodeCall>> {
        self.nodes
            .iter()
            .filter(|(&n, info)| n != id && info.state != NodeState::Down)
            .map(|(_, info)| info.call.clone())
            .collect()
    }

    /// A membership change towards `next` starts: direct updates reach the replicas `next` adds
    /// as well, so the keys copied meanwhile miss nothing. Other publishes wait for its end.
    pub(crate) fn begin_move(&mut self, next: &Arc<Ring>) {
        self.moving = true;
        // Before the direct path may write to the next ring's replicas: background passes that
        // began on the old ring (a collection's drop, a sweep) find their guard broken.
        self.stats.epoch.fetch_add(1, Ordering::SeqCst);
        self.direct.settle_epoch(0);
        let next_r = self.config.replication.quorums(next.len()).r;
        self.next_ring = Some((next.clone(), next_r));
        self.direct.publish_moving(
            self.ring.clone(),
            self.quorums(),
            (next.clone(), next_r),
            self.routed_nodes(),
        );
        self.direct.set_move_view(Some(self.figures(true)));
    }

    /// The membership change is over: the direct path opens with the new view.
    pub(crate) fn end_move(&mut self) {
        self.direct.set_move_view(None);
        self.moving = false;
        self.next_ring = None;
        self.publish();
    }

    /// This process's own nodes.
    fn local_nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.shared.is_some())
    }

    /// This process's node listening on `port`.
    fn node_by_port(&self, port: u16) -> Result<NodeId> {
        self.nodes
            .iter()
            .find(|(_, n)| n.port == port && n.shared.is_some())
            .map(|(&id, _)| id)
            .ok_or(Error::NoSuchNode(port))
    }

    /// A snapshot of every node's state, for use inside futures.
    fn states(&self) -> BTreeMap<NodeId, NodeState> {
        self.nodes.iter().map(|(&id, n)| (id, n.state)).collect()
    }

    fn recipient(&self, id: NodeId) -> Option<Recipient<NodeCall>> {
        self.nodes.get(&id).map(|n| n.call.clone())
    }

    /// R, W and Q for the nodes on the ring now.
    fn quorums(&self) -> Quorums {
        self.config.replication.quorums(self.ring.len())
    }

    /// The membership as stored in the data directory.
    fn meta(&self) -> ClusterMeta {
        ClusterMeta {
            vnodes: self.config.vnodes,
            replicas: self.config.replication.replicas,
            next_id: self.next_id,
            nodes: self
                .local_nodes_by_id()
                .map(|(id, n)| (id, n.port))
                .collect(),
            peers: self.stored_peers(),
        }
    }

    /// This process's own nodes, by id.
    fn local_nodes_by_id(&self) -> impl Iterator<Item = (NodeId, &NodeInfo)> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.shared.is_some())
            .map(|(&id, n)| (id, n))
    }

    /// Stores the membership after a change (a failure is logged: the change already happened).
    fn save_meta(&self) {
        if let Some(data) = &self.config.data {
            if let Err(e) = data.save_meta(&self.meta()) {
                tracing::error!("cannot store the membership: {e}");
            }
        }
    }

    fn address(&self) -> Addr<Router> {
        self.me
            .clone()
            .expect("the Router knows its address once started")
    }
}

impl Handler<Exec> for Router {
    type Result = AtomicOrNot;

    fn handle(&mut self, Exec(request): Exec, _: &mut Context<Self>) -> AtomicOrNot {
        match request {
            Request::Get { key } => AtomicOrNot::Free(self.get(key)),
            Request::Read { key } => AtomicOrNot::Free(self.read_value(key)),
            Request::Update { key, amount } => {
                // The Router's path: hints, timeouts and partial writes may leave replicas apart.
                self.drift.note();
                AtomicOrNot::Free(self.update(key, amount))
            }
            Request::UpdateToken { key, amount, token } => {
                AtomicOrNot::Free(self.update_token(key, amount, token))
            }
            Request::Delete { key } => AtomicOrNot::Free(self.reset(key, resets::Reset::Delete)),
            Request::Set { key, value } => {
                AtomicOrNot::Free(self.reset(key, resets::Reset::Set(value, SetTtl::Clear)))
            }
            Request::SetIf { key, value, exists } => AtomicOrNot::Free(
                self.reset(key, resets::Reset::SetIf(value, exists, SetTtl::Clear)),
            ),
            Request::SetTtl {
                key,
                value,
                exists,
                ttl,
            } => {
                let how = match exists {
                    None => resets::Reset::Set(value, ttl),
                    Some(exists) => resets::Reset::SetIf(value, exists, ttl),
                };
                AtomicOrNot::Free(self.reset(key, how))
            }
            Request::Expire { key, op } => AtomicOrNot::Free(self.expire(key, op)),
            Request::Status => AtomicOrNot::Free(self.shared_status()),
            Request::Ring => AtomicOrNot::Free(self.ring_report()),
            Request::AddNode { port } => AtomicOrNot::Atomic(counted(self.add_node(port))),
            Request::RemoveNode { port } => {
                AtomicOrNot::Atomic(counted(self.remove_node(port, false)))
            }
            Request::RemoveNodeForce { port } => {
                AtomicOrNot::Atomic(counted(self.remove_node(port, true)))
            }
            Request::RemoveNodeAt { addr, force } => {
                AtomicOrNot::Atomic(counted(self.remove_node_at(addr, force)))
            }
            Request::KillNode { port } => AtomicOrNot::Atomic(self.kill_node(port)),
            Request::PauseNode { port, millis } => AtomicOrNot::Free(self.pause_node(port, millis)),
            Request::StatusPage {
                port,
                owned,
                after,
                limit,
            } => AtomicOrNot::Free(self.status_page(port, owned, after, limit)),
            Request::Join { process, nodes } => {
                AtomicOrNot::Atomic(counted(self.join(process, nodes)))
            }
            Request::Layout => {
                let answer = self.layout().map_or_else(
                    || {
                        Error::BadRequest(
                            "this process is not part of a cluster of processes".into(),
                        )
                        .into()
                    },
                    Response::Layout,
                );
                AtomicOrNot::Free(Box::pin(std::future::ready(answer)))
            }
            Request::PushLayout { layout, moving } => {
                let answer = self.push_layout(layout, moving);
                // A promise to write to the next ring holds for the updates already sent too.
                let within = peers::ASK_TIMEOUT.saturating_sub(Duration::from_secs(1));
                let settled = moving.then(|| self.writes_settled(within));
                AtomicOrNot::Free(Box::pin(async move {
                    match settled {
                        Some(settled) => match settled.await {
                            Ok(()) => answer,
                            Err(e) => Response::from(e),
                        },
                        None => answer,
                    }
                }))
            }
            Request::HotKeys { limit } => {
                let keys = crate::hotkeys::top(limit.min(crate::protocol::MAX_HOT_KEYS) as usize);
                let enabled = crate::hotkeys::enabled();
                let answer = Response::HotKeys { enabled, keys };
                AtomicOrNot::Free(Box::pin(std::future::ready(answer)))
            }
            Request::Auth { .. } => {
                let e = Error::BadRequest("Auth is answered by the connection's own port".into());
                AtomicOrNot::Free(Box::pin(std::future::ready(Response::from(e))))
            }
            Request::Prepare { .. } | Request::Accept { .. } => {
                let e = Error::BadRequest("a vote is answered by the gateway".into());
                AtomicOrNot::Free(Box::pin(std::future::ready(Response::from(e))))
            }
            Request::CallOff { ballot, layout } => {
                self.called_off_layout(&layout);
                let answer = Response::Vote(crate::protocol::Vote::Accepted { ballot });
                AtomicOrNot::Free(Box::pin(std::future::ready(answer)))
            }
            Request::NodeCall(_) => {
                let e = Error::BadRequest("a node call is answered by a node's own port".into());
                AtomicOrNot::Free(Box::pin(std::future::ready(Response::from(e))))
            }
        }
    }
}

/// Counts the keys a membership change moved in the metrics, from its answer.
fn counted(change: ResponseActFuture<Router, Response>) -> ResponseActFuture<Router, Response> {
    Box::pin(change.map(|response, _, _| {
        crate::metrics::moved(&response);
        response
    }))
}

/// Binds a listener on `host:port` (port 0: any free port).
///
/// # Errors
/// [`Error::Bind`] with the operating system's reason, e.g. the port is in use.
pub fn bind(host: &str, port: u16) -> Result<TcpListener> {
    TcpListener::bind((host, port)).map_err(|e| Error::Bind {
        port,
        reason: e.to_string(),
    })
}

/// A handler answer that either runs free (reads, updates) or blocks the mailbox until done
/// (membership changes).
pub enum AtomicOrNot {
    /// Runs concurrently with later messages, off the Router's context.
    Free(ResponseFuture<Response>),
    /// Runs alone: no other message is handled until it finishes.
    Atomic(ResponseActFuture<Router, Response>),
}

impl actix::dev::MessageResponse<Router, Exec> for AtomicOrNot {
    fn handle(self, ctx: &mut Context<Router>, tx: Option<actix::dev::OneshotSender<Response>>) {
        match self {
            AtomicOrNot::Free(fut) => {
                actix::dev::MessageResponse::<Router, Exec>::handle(fut, ctx, tx)
            }
            AtomicOrNot::Atomic(fut) => actix::dev::MessageResponse::<Router, Exec>::handle(
                AtomicResponse::new(fut),
                ctx,
                tx,
            ),
        }
    }
}

/// Decrements the in-flight update count when dropped.
pub(crate) struct InflightGuard(Arc<Stats>);

impl InflightGuard {
    pub fn new(stats: &Arc<Stats>) -> Self {
        stats.inflight.fetch_add(1, Ordering::SeqCst);
        InflightGuard(stats.clone())
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}
