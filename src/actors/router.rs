//! `Router`: owns the ring and the node handles; routes requests, moves keys on membership changes.
//!
//! Reads and updates are forwarded to the key's owner without waiting, so the Router's mailbox never
//! blocks on a node. Membership changes run atomically (`AtomicResponse`): no request is routed while
//! keys move, and since each node's mailbox is first-in first-out, every update sent before a move
//! reaches the old owner before the keys are taken from it. No increment is lost or applied twice.

use std::collections::BTreeMap;
use std::net::TcpListener;

use actix::prelude::*;
use futures_util::future::join_all;

use super::listener::ServerLimits;
use super::node::{Dump, Give, Increment, KeyCount, NodeActor, Read, Stop, Take};
use crate::command::check_key;
use crate::error::{Error, Result};
use crate::protocol::{NodeShare, NodeState, NodeStatus, Request, Response, RingReport, StatusReport};
use crate::ring::{NodeId, Ring};
use crate::store::Entry;

/// How the Router builds nodes.
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
}

/// Run one request; the answer is a [`Response`] (an error is `Response::Error`).
#[derive(Message)]
#[rtype(result = "Response")]
pub struct Exec(pub Request);

struct NodeHandle {
    port: u16,
    addr: Addr<NodeActor>,
}

/// The coordinator of the cluster.
pub struct Router {
    config: RouterConfig,
    ring: Ring,
    nodes: BTreeMap<NodeId, NodeHandle>,
    next_id: NodeId,
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(usize::MAX);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for node in self.nodes.values() {
            node.addr.do_send(Stop { crash: false });
        }
    }
}

impl Router {
    /// Starts a Router with one node per listener (ids 1, 2, ... in listener order).
    pub fn start(config: RouterConfig, listeners: Vec<TcpListener>) -> Addr<Router> {
        Router::create(move |ctx| {
            let mut router = Router {
                ring: Ring::new(config.vnodes),
                config,
                nodes: BTreeMap::new(),
                next_id: 1,
            };
            for listener in listeners {
                if let Err(e) = router.spawn_node(listener, ctx.address()) {
                    tracing::error!("cannot start node: {e}");
                }
            }
            router
        })
    }

    /// Starts a node on `listener` under a supervisor and puts it on the ring (without moving keys).
    fn spawn_node(&mut self, listener: TcpListener, me: Addr<Router>) -> Result<NodeId> {
        let id = self.next_id;
        let limits = self.config.limits.clone();
        let node = NodeActor::new(id, listener, me, limits)?;
        let port = node.port();
        let addr = Supervisor::start(move |_| node);
        self.next_id += 1;
        self.nodes.insert(id, NodeHandle { port, addr });
        self.ring.add_node(id);
        Ok(id)
    }

    fn node_by_port(&self, port: u16) -> Result<NodeId> {
        self.nodes
            .iter()
            .find(|(_, n)| n.port == port)
            .map(|(&id, _)| id)
            .ok_or(Error::NoSuchNode(port))
    }

    fn owner_addr(&self, key: &str) -> Result<Addr<NodeActor>> {
        check_key(key)?;
        self.ring
            .owner(key.as_bytes())
            .and_then(|id| self.nodes.get(&id))
            .map(|n| n.addr.clone())
            .ok_or_else(|| Error::Unavailable("no node is running".into()))
    }

    /// Nodes in the order they joined (id order), as `status` and `ring` list them.
    fn in_order(&self) -> Vec<(NodeId, u16, Addr<NodeActor>)> {
        self.nodes
            .iter()
            .map(|(&id, n)| (id, n.port, n.addr.clone()))
            .collect()
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
}

/// Boxed answer of a request that does not touch the Router's state once started. Every message
/// to a node must be sent before this is called (eagerly), so that node mailboxes keep the order in
/// which the Router routed.
fn respond<F>(fut: F) -> ResponseFuture<Response>
where
    F: std::future::Future<Output = Result<Response>> + 'static,
{
    Box::pin(async move { fut.await.unwrap_or_else(Response::from) })
}

impl Handler<Exec> for Router {
    type Result = AtomicOrNot;

    fn handle(&mut self, Exec(request): Exec, ctx: &mut Context<Self>) -> AtomicOrNot {
        match request {
            Request::Get { key } => AtomicOrNot::Free(self.get(key)),
            Request::Update { key, amount } => AtomicOrNot::Free(self.update(key, amount)),
            Request::Status => AtomicOrNot::Free(self.status()),
            Request::Ring => AtomicOrNot::Free(self.ring_report()),
            Request::AddNode { port } => AtomicOrNot::Atomic(self.add_node(port, ctx.address())),
            Request::RemoveNode { port } => AtomicOrNot::Atomic(self.remove_node(port)),
            Request::KillNode { port } => AtomicOrNot::Atomic(self.kill_node(port)),
        }
    }
}

impl Router {
    fn get(&self, key: String) -> ResponseFuture<Response> {
        let sent = self
            .owner_addr(&key)
            .map(|owner| owner.send(Read(key.clone())));
        respond(async move {
            let value = sent?.await?;
            Ok(Response::Count { key, value })
        })
    }

    fn update(&self, key: String, amount: u64) -> ResponseFuture<Response> {
        let sent = self.owner_addr(&key).map(|owner| {
            owner.send(Increment {
                key: key.clone(),
                amount,
            })
        });
        respond(async move {
            let value = sent?.await??;
            Ok(Response::Updated { key, value })
        })
    }

    fn status(&self) -> ResponseFuture<Response> {
        let nodes = self.in_order();
        let dumps = join_all(nodes.iter().map(|(_, _, addr)| addr.send(Dump)));
        respond(async move {
            let dumps = dumps.await;
            let mut report = StatusReport { nodes: Vec::new() };
            for ((_, port, _), dump) in nodes.iter().zip(dumps) {
                report.nodes.push(NodeStatus {
                    port: *port,
                    state: NodeState::Up,
                    counters: dump?,
                });
            }
            Ok(Response::Status(report))
        })
    }

    fn ring_report(&self) -> ResponseFuture<Response> {
        let nodes = self.in_order();
        let shares: Vec<f64> = nodes.iter().map(|&(id, _, _)| self.ring.share(id)).collect();
        let vnodes = self.ring.vnodes();
        let counts = join_all(nodes.iter().map(|(_, _, addr)| addr.send(KeyCount)));
        respond(async move {
            let counts = counts.await;
            let mut report = RingReport {
                vnodes,
                nodes: Vec::new(),
            };
            for (((_, port, _), share), keys) in nodes.iter().zip(shares).zip(counts) {
                report.nodes.push(NodeShare {
                    port: *port,
                    share,
                    keys: keys? as u64,
                });
            }
            Ok(Response::Ring(report))
        })
    }

    /// Binds the new node's port, starts it, moves to it the keys it now owns, then routes to it.
    fn add_node(&mut self, port: Option<u16>, me: Addr<Router>) -> ResponseActFuture<Router, Response> {
        let listener = match self.bind_new(port) {
            Ok(l) => l,
            Err(e) => return Box::pin(actix::fut::ready(Response::from(e))),
        };
        let old_ring = self.ring.clone();
        let id = match self.spawn_node(listener, me) {
            Ok(id) => id,
            Err(e) => return Box::pin(actix::fut::ready(Response::from(e))),
        };
        let port = self.nodes[&id].port;
        let new_node = self.nodes[&id].addr.clone();
        // Group the moving ranges by their old owner.
        let mut by_owner: BTreeMap<NodeId, Vec<_>> = BTreeMap::new();
        for m in old_ring.diff(&self.ring) {
            by_owner.entry(m.from).or_default().push(m.range);
        }
        let takes: Vec<_> = by_owner
            .into_iter()
            .filter_map(|(from, ranges)| self.nodes.get(&from).map(|n| n.addr.send(Take(Some(ranges)))))
            .collect();
        Box::pin(actix::fut::wrap_future(async move {
            let mut moved = 0u64;
            for take in takes {
                let entries = take.await.unwrap_or_default();
                moved += entries.len() as u64;
                let _ = new_node.send(Give(entries)).await;
            }
            Response::NodeAdded {
                port,
                keys_moved: moved,
            }
        }))
    }

    /// Takes every key of the node, gives each to its owner on the ring without the node, stops it.
    fn remove_node(&mut self, port: u16) -> ResponseActFuture<Router, Response> {
        let id = match self.node_by_port(port) {
            Ok(id) => id,
            Err(e) => return Box::pin(actix::fut::ready(Response::from(e))),
        };
        if self.nodes.len() == 1 {
            let e = Error::BadRequest(format!(
                "cannot remove the last node (port {port}): its keys would have nowhere to go"
            ));
            return Box::pin(actix::fut::ready(Response::from(e)));
        }
        let handle = self.nodes.remove(&id).map(|n| n.addr);
        self.ring.remove_node(id);
        let ring = self.ring.clone();
        let owners: BTreeMap<NodeId, Addr<NodeActor>> =
            self.nodes.iter().map(|(&id, n)| (id, n.addr.clone())).collect();
        Box::pin(actix::fut::wrap_future(async move {
            let Some(addr) = handle else {
                return Response::from(Error::NoSuchNode(port));
            };
            let entries = addr.send(Take(None)).await.unwrap_or_default();
            let moved = entries.len() as u64;
            for (owner, batch) in split_by_owner(&ring, entries) {
                if let Some(target) = owners.get(&owner) {
                    let _ = target.send(Give(batch)).await;
                }
            }
            let _ = addr.send(Stop { crash: false }).await;
            Response::NodeRemoved {
                port,
                keys_moved: moved,
            }
        }))
    }

    /// Crashes the node: it stops with whatever it held.
    fn kill_node(&mut self, port: u16) -> ResponseActFuture<Router, Response> {
        let id = match self.node_by_port(port) {
            Ok(id) => id,
            Err(e) => return Box::pin(actix::fut::ready(Response::from(e))),
        };
        let handle = self.nodes.remove(&id).map(|n| n.addr);
        self.ring.remove_node(id);
        Box::pin(actix::fut::wrap_future(async move {
            let lost = match handle {
                Some(addr) => addr.send(Stop { crash: true }).await.unwrap_or(0),
                None => 0,
            };
            Response::NodeKilled {
                port,
                keys_lost: lost as u64,
            }
        }))
    }
}

/// Groups entries by their owner on `ring`.
fn split_by_owner(ring: &Ring, entries: Vec<Entry>) -> BTreeMap<NodeId, Vec<Entry>> {
    let mut out: BTreeMap<NodeId, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        if let Some(owner) = ring.owner(entry.key.as_bytes()) {
            out.entry(owner).or_default().push(entry);
        }
    }
    out
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
            AtomicOrNot::Free(fut) => actix::dev::MessageResponse::<Router, Exec>::handle(fut, ctx, tx),
            AtomicOrNot::Atomic(fut) => {
                actix::dev::MessageResponse::<Router, Exec>::handle(AtomicResponse::new(fut), ctx, tx)
            }
        }
    }
}
