//! `status`, its pages and `ring`: reports gathered from every node, off the Router's context.
//!
//! A `status` lists the first [`STATUS_KEYS_PER_NODE`] keys of each node; the requests that arrive
//! while one is being gathered share its answer, so a burst of them (a client pipelining a
//! thousand) costs each node one scan at a time.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::{join, join_all, FutureExt, Shared};

use super::Router;
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply, Summary};
use crate::error::Error;
use crate::protocol::{
    NodeShare, NodeStatus, Response, RingReport, StatusPage, StatusReport, MAX_PAGE_KEYS,
    STATUS_KEYS_PER_NODE,
};
use crate::replication::NodeState;
use crate::ring::{NodeId, Ring};

/// The `status` answer being gathered, if any (see [`Router::shared_status`]).
#[derive(Default)]
pub(super) struct StatusFlight(Option<Shared<ResponseFuture<Response>>>);

impl Router {
    /// `status`, shared with every `status` that arrives while it is gathered: a burst of them
    /// (a client pipelining a thousand) costs each node one scan, not one per request.
    pub(super) fn shared_status(&mut self) -> ResponseFuture<Response> {
        let running = self.status_flight.0.as_ref().filter(|s| s.peek().is_none());
        let shared = match running {
            Some(shared) => shared.clone(),
            None => {
                let shared = self.status().shared();
                self.status_flight.0 = Some(shared.clone());
                shared
            }
        };
        Box::pin(shared)
    }

    fn status(&self) -> ResponseFuture<Response> {
        let ctx = self.ctx();
        let direct_repairs = self.direct.read_repairs();
        let ring = self.ring.clone();
        let q = self.quorums();
        let many = self.many_hosts();
        let mut nodes: Vec<(u16, NodeState, Recipient<NodeCall>, Option<String>)> = self
            .nodes
            .iter()
            .map(|(&id, n)| {
                let addr = self.shown_addr(n, many);
                (n.port, self.shown_state(id), n.call.clone(), addr)
            })
            .collect();
        by_address(&mut nodes, |(_, _, _, addr)| addr.as_deref());
        Box::pin(async move {
            let summaries = join_all(nodes.iter().map(|(_, state, node, _)| {
                let op = NodeOp::Summary {
                    ring: ring.clone(),
                    limit: STATUS_KEYS_PER_NODE,
                };
                async move {
                    if *state == NodeState::Down {
                        return Summary::default();
                    }
                    match call(node, op, ctx.timeout).await {
                        Ok(NodeReply::Summary(summary)) => summary,
                        _ => Summary::default(),
                    }
                }
            }))
            .await;
            let mut report = StatusReport {
                nodes: Vec::new(),
                replicas: q.r as u32,
                write_quorum: q.w as u32,
                read_quorum: q.q as u32,
                read_repairs: ctx.stats.read_repairs.load(Ordering::Relaxed) + direct_repairs,
                anti_entropy_repairs: ctx.stats.anti_entropy_repairs.load(Ordering::Relaxed),
                anti_entropy_passes: ctx.stats.anti_entropy_passes.load(Ordering::Relaxed),
            };
            for ((port, state, _, addr), summary) in nodes.iter().zip(summaries) {
                let listed = summary.counters.len() + summary.replicas.len();
                report.nodes.push(NodeStatus {
                    port: *port,
                    state: *state,
                    counters: summary.counters,
                    replicas: summary.replicas,
                    hints: summary.hints as u64,
                    more: summary.keys.saturating_sub(listed) as u64,
                    addr: addr.clone(),
                });
            }
            Response::Status(report)
        })
    }

    /// One page of a node's keys for `status --all`.
    pub(super) fn status_page(
        &self,
        port: u16,
        owned: bool,
        after: Option<String>,
        limit: u32,
    ) -> ResponseFuture<Response> {
        let timeout = self.config.request_timeout;
        let ring = self.ring.clone();
        let node = self.nodes.values().find(|n| n.port == port);
        let Some(node) = node.map(|n| n.call.clone()) else {
            let e = Error::NoSuchNode(port);
            return Box::pin(std::future::ready(Response::from(e)));
        };
        let op = NodeOp::Page {
            ring,
            owned,
            after,
            limit: limit.min(MAX_PAGE_KEYS) as usize,
        };
        Box::pin(async move {
            match call(&node, op, timeout).await {
                Ok(NodeReply::Page(entries)) => Response::StatusPage(StatusPage {
                    port,
                    owned,
                    entries,
                }),
                Ok(_) => Response::from(Error::Server("unexpected answer to a page".into())),
                Err(e) => Response::from(e),
            }
        })
    }

    /// Node `id`'s state as `status` and `ring` show it: `joining` or `leaving` while a change
    /// moves keys to or from it.
    fn shown_state(&self, id: NodeId) -> NodeState {
        let state = self.nodes.get(&id).map_or(NodeState::Down, |n| n.state);
        let on_next = self.next_ring.as_ref().map(|(next, _)| next.contains(id));
        state.shown(self.ring.contains(id), on_next)
    }

    /// Whether node `id` is on the ring in force or on the one a change moves keys to.
    fn on_a_ring(&self, id: NodeId) -> bool {
        self.ring.contains(id) || self.next_ring.as_ref().is_some_and(|(n, _)| n.contains(id))
    }

    pub(super) fn ring_report(&self) -> ResponseFuture<Response> {
        let timeout = self.config.request_timeout;
        let vnodes = self.ring.vnodes();
        let many = self.many_hosts();
        let mut nodes: Vec<_> = self
            .nodes
            .iter()
            .filter(|(&id, _)| self.peers.is_none() || self.on_a_ring(id))
            .map(|(&id, n)| {
                let addr = self.shown_addr(n, many);
                let state = self.shown_state(id);
                (n.port, state, self.ring.share(id), n.call.clone(), addr)
            })
            .collect();
        by_address(&mut nodes, |(_, _, _, _, addr)| addr.as_deref());
        let ring = self.ring.clone();
        Box::pin(async move {
            let asks = |op: fn(Arc<Ring>) -> NodeOp| {
                let calls = nodes
                    .iter()
                    .map(|(_, _, _, node, _)| call(node, op(ring.clone()), timeout));
                join_all(calls)
            };
            let (counts, ttls) = join(asks(NodeOp::KeyCount), asks(NodeOp::TtlSum)).await;
            let mut report = RingReport {
                vnodes,
                nodes: Vec::new(),
            };
            let answers = counts.into_iter().zip(ttls);
            for ((port, state, share, _, addr), (count, ttl)) in nodes.into_iter().zip(answers) {
                let (keys, primaries, expiring) = match count {
                    Ok(NodeReply::Counts(n, owned, exp)) => (n as u64, owned as u64, exp as u64),
                    _ => (0, 0, 0),
                };
                let ttl_ms = match ttl {
                    Ok(NodeReply::Count(ms)) => ms as u64,
                    _ => 0,
                };
                report.nodes.push(NodeShare {
                    port,
                    state,
                    share,
                    keys,
                    primaries,
                    addr,
                    expiring,
                    ttl_ms,
                });
            }
            Response::Ring(report)
        })
    }
}

/// Orders nodes named by address (a cluster on several hosts) by that address, host then port,
/// as people read them; nodes named by port alone keep their order (by node id, the order they
/// were started in on one host).
fn by_address<T>(nodes: &mut [T], addr: impl Fn(&T) -> Option<&str>) {
    let key = |node: &T| addr(node).and_then(|a| a.parse::<std::net::SocketAddr>().ok());
    if nodes.iter().all(|n| key(n).is_some()) {
        nodes.sort_by_key(|n| key(n));
    }
}
