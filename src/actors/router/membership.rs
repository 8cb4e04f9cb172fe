//! Membership changes: `add-node`, `remove-node`, `kill-node`, and re-replication.
//!
//! Each runs atomically on the Router (no request is routed meanwhile) and first waits until no
//! update is in flight. Keys are copied to the replicas the new ring adds before the ring switches,
//! and dropped from the replicas it removes only after: every key keeps R copies at every moment.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::join_all;

use super::{bind, NodeSeed, Router, Stats};
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::error::{Error, Result};
use crate::protocol::Response;
use crate::replication::{write_targets, NodeState};
use crate::ring::{NodeId, Ring};
use crate::store::Entry;

/// What a rebalance needs, copied out of the Router.
struct Plan {
    old: Arc<Ring>,
    new: Arc<Ring>,
    replicas: usize,
    /// Nodes whose stores are read (live nodes, the leaving one included).
    sources: Vec<(NodeId, Recipient<NodeCall>)>,
    /// Nodes that may receive keys and must drop what they no longer replicate.
    members: BTreeMap<NodeId, Recipient<NodeCall>>,
    /// Every node's state: keys meant for a down node go to a substitute as hints.
    states: BTreeMap<NodeId, NodeState>,
    /// A node whose hints everyone should hand over (it is leaving).
    leaving: Option<NodeId>,
    stats: Arc<Stats>,
    timeout: Duration,
}

fn fail(e: Error) -> ResponseActFuture<Router, Response> {
    Box::pin(actix::fut::ready(Response::from(e)))
}

impl Router {
    /// Binds the new node's port, starts it, copies to it the keys it now replicates, switches.
    pub(super) fn add_node(&mut self, port: Option<u16>) -> ResponseActFuture<Router, Response> {
        let listener = match self.bind_new(port) {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let id = match self.new_seed(listener).and_then(|s| self.spawn_node(s)) {
            Ok(id) => id,
            Err(e) => return fail(e),
        };
        let port = self.nodes[&id].port;
        let mut new = (*self.ring).clone();
        new.add_node(id);
        self.begin_move();
        let plan = self.plan(Arc::new(new), None);
        Box::pin(
            actix::fut::wrap_future(rebalance(plan)).map(move |moved, act: &mut Router, _| {
                let response = match moved {
                    Ok((ring, moved)) => {
                        act.ring = ring;
                        act.save_meta();
                        Response::NodeAdded {
                            port,
                            keys_moved: moved.get(&id).copied().unwrap_or(0),
                        }
                    }
                    Err(e) => Response::from(e),
                };
                act.end_move();
                response
            }),
        )
    }

    /// Copies the node's keys (and the hints kept for it) to their new replicas, switches the ring,
    /// then stops the node. Works for a down node too: the other replicas provide the copies.
    pub(super) fn remove_node(&mut self, port: u16) -> ResponseActFuture<Router, Response> {
        let id = match self.node_by_port(port) {
            Ok(id) => id,
            Err(e) => return fail(e),
        };
        if self.nodes.len() == 1 {
            return fail(Error::BadRequest(format!(
                "cannot remove the last node (port {port}): its keys would have nowhere to go"
            )));
        }
        let mut new = (*self.ring).clone();
        new.remove_node(id);
        self.begin_move();
        let plan = self.plan(Arc::new(new), Some(id));
        Box::pin(
            actix::fut::wrap_future(rebalance(plan)).map(move |moved, act: &mut Router, _| {
                let node = act.nodes.remove(&id);
                let response = match moved {
                    Ok((ring, moved)) => {
                        act.ring = ring;
                        if let Some(node) = node {
                            node.call.do_send(NodeCall(NodeOp::Stop));
                        }
                        act.forget(id);
                        Response::NodeRemoved {
                            port,
                            keys_moved: moved.values().sum(),
                        }
                    }
                    Err(e) => Response::from(e),
                };
                act.end_move();
                response
            }),
        )
    }

    /// Crashes the node. With restarts on, it stays on the ring as down and comes back after the
    /// back-off; without, its ranges are copied to new replicas at once.
    pub(super) fn kill_node(&mut self, port: u16) -> ResponseActFuture<Router, Response> {
        let id = match self.node_by_port(port) {
            Ok(id) => id,
            Err(e) => return fail(e),
        };
        let victim = self.nodes[&id].call.clone();
        let others: Vec<_> = self
            .nodes
            .iter()
            .filter(|(&n, info)| n != id && info.state != NodeState::Down)
            .map(|(_, info)| info.call.clone())
            .collect();
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
                act.begin_move();
                let plan = act.plan(Arc::new(new), Some(id));
                Box::pin(actix::fut::wrap_future(rebalance(plan)).map(
                    move |moved, act: &mut Router, _| {
                        act.nodes.remove(&id);
                        if let Ok((ring, _)) = moved {
                            act.ring = ring;
                            act.forget(id);
                        }
                        act.end_move();
                        response
                    },
                ))
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

    /// A seed for a new node: the next id, and its fresh log if there is a data directory.
    fn new_seed(&self, listener: TcpListener) -> Result<NodeSeed> {
        let id = self.next_id;
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
    fn forget(&self, id: NodeId) {
        if let Some(data) = &self.config.data {
            if let Err(e) = data.remove_node(id) {
                tracing::error!("node {id}: cannot delete its data: {e}");
            }
        }
        self.save_meta();
    }

    fn plan(&self, new: Arc<Ring>, leaving: Option<NodeId>) -> Plan {
        self.stats.epoch.fetch_add(1, Ordering::SeqCst);
        let live = |state: NodeState| state != NodeState::Down;
        Plan {
            old: self.ring.clone(),
            replicas: self.config.replication.quorums(new.len()).r,
            sources: self
                .nodes
                .iter()
                .filter(|(_, n)| live(n.state))
                .map(|(&id, n)| (id, n.call.clone()))
                .collect(),
            members: self
                .nodes
                .iter()
                .filter(|(&id, n)| new.contains(id) && live(n.state))
                .map(|(&id, n)| (id, n.call.clone()))
                .collect(),
            states: self.states(),
            new,
            leaving,
            stats: self.stats.clone(),
            timeout: self.config.request_timeout,
        }
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

/// Waits until no update is in flight (bounded by a few request timeouts).
async fn quiesce(stats: &Stats, timeout: Duration) {
    let deadline = Instant::now() + timeout * 3;
    while stats.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Copies every key to the replicas `new` gives it and `old` did not, then drops the copies no
/// longer needed. Returns the new ring and how many keys each node received.
async fn rebalance(plan: Plan) -> Result<(Arc<Ring>, BTreeMap<NodeId, u64>)> {
    quiesce(&plan.stats, plan.timeout).await;
    let mut entries: Vec<Entry> = Vec::new();
    for (_, node) in &plan.sources {
        if let Ok(NodeReply::Entries(e)) = call(node, NodeOp::Entries(None), plan.timeout).await {
            entries.extend(e);
        }
        if let Some(leaving) = plan.leaving {
            if let Ok(NodeReply::Entries(e)) =
                call(node, NodeOp::TakeHints(leaving), plan.timeout).await
            {
                entries.extend(e);
            }
        }
    }
    let state = |n: NodeId| plan.states.get(&n).copied().unwrap_or(NodeState::Down);
    let mut sends: BTreeMap<(NodeId, Option<NodeId>), Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        let token = crate::ring::key_token(entry.key.as_bytes());
        let old = plan.old.preference_list_of_token(token, plan.replicas);
        for t in write_targets(&plan.new, token, plan.replicas, state) {
            if !old.contains(&t.hint_for.unwrap_or(t.node)) {
                sends
                    .entry((t.node, t.hint_for))
                    .or_default()
                    .push(entry.clone());
            }
        }
    }
    let mut moved = BTreeMap::new();
    for ((node, hint_for), batch) in sends {
        let Some(target) = plan.members.get(&node) else {
            continue;
        };
        let keys: HashSet<&str> = batch.iter().map(|e| e.key.as_str()).collect();
        *moved.entry(hint_for.unwrap_or(node)).or_default() += keys.len() as u64;
        call(
            target,
            NodeOp::Merge {
                entries: batch,
                hint_for,
            },
            plan.timeout * 10,
        )
        .await?;
    }
    for node in plan.members.values() {
        let op = NodeOp::Retain {
            ring: plan.new.clone(),
            replicas: plan.replicas,
        };
        let _ = call(node, op, plan.timeout * 10).await;
    }
    Ok((plan.new, moved))
}
