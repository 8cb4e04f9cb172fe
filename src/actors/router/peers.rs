//! A cluster that spans processes: joins, layouts pushed by the process that runs a change, and
//! what the membership layer reports.
//!
//! Every process runs its own Router over the same [`Layout`]: its own nodes are local actors,
//! the nodes of other processes [`RemoteNode`] stand-ins reached over TCP. A membership change is
//! run by one process (the one that got `Join`, `add-node` or `remove-node`) exactly as a change
//! in one process is, once a majority of the processes chose its layout (`agree`), with two
//! announcements around the copy (see `membership`): before it, every other process promises the
//! change ([`crate::actors::ChangeLock`]) and starts writing to the next ring's replicas too;
//! after the switch, every process installs the new layout. A process
//! that was away asks the others for their layout when it comes back and installs a newer one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::agree::Voters;
use super::announce::Announce;
use super::{NodeInfo, Router};
use crate::actors::change_lock::under_way;
use crate::actors::node::{NodeCall, NodeOp};
use crate::actors::remote::{RemoteNode, SharedLink};
use crate::error::{Error, Result};
use crate::layout::{Layout, Member};
use crate::persist::StoredPeers;
use crate::protocol::Response;
use crate::replication::NodeState;
use crate::ring::{NodeId, Ring};

/// How long one process may take to answer another about a layout.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How a Router takes part in a cluster of several processes.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The address other processes reach this process's nodes at (`--advertise`).
    pub advertise: IpAddr,
    /// The layout epoch restored from the data directory (0 for a new process).
    pub epoch: u64,
    /// The nodes of other processes, as the data directory remembers them.
    pub remote: Vec<(NodeId, Member)>,
    /// Whether this process is joining: its nodes stay off the ring until a layout names them.
    pub joining: bool,
}

/// The Router's part in a cluster of processes.
#[derive(Debug)]
pub(crate) struct Peers {
    /// This process's membership address (the `HOST:PORT` of its node with the lowest port).
    pub me: SocketAddr,
    /// The epoch of the layout in force.
    pub epoch: u64,
    /// The change another process runs now: the layout keys move to.
    pub moving: Option<Layout>,
    /// The processes the failure detector reports down now.
    pub down: BTreeSet<SocketAddr>,
}

impl Router {
    /// At start: gives local nodes their addresses (the process is named by its node with the
    /// lowest port) and starts stand-ins for remembered remote ones. Returns whether local nodes
    /// go on the ring now (not while joining).
    pub(super) fn start_peers(&mut self, config: &PeerConfig) -> bool {
        let Some(first) = self.nodes.values().map(|n| n.port).min() else {
            return true;
        };
        let me = SocketAddr::new(config.advertise, first);
        for node in self.nodes.values_mut() {
            node.member = Some(Member {
                addr: SocketAddr::new(config.advertise, node.port),
                process: me,
            });
        }
        for &(id, member) in &config.remote {
            self.add_remote(id, member);
        }
        self.votes.learn(config.epoch.max(1));
        self.peers = Some(Peers {
            me,
            epoch: config.epoch.max(1),
            moving: None,
            down: BTreeSet::new(),
        });
        if !config.joining && !config.remote.is_empty() {
            // It may have missed changes while it was away: no reads or writes until it asked.
            self.standing.catching_up();
        }
        !config.joining
    }

    /// What the data directory keeps so that this process rejoins after a restart.
    pub(super) fn stored_peers(&self) -> Option<StoredPeers> {
        let peers = self.peers.as_ref()?;
        let remote = self
            .nodes
            .iter()
            .filter(|(_, n)| n.shared.is_none())
            .filter_map(|(&id, n)| Some((id, n.member?)))
            .collect();
        Some(StoredPeers {
            advertise: peers.me.ip(),
            epoch: peers.epoch,
            remote,
        })
    }

    /// This process's membership address, if it takes part in a cluster of processes.
    pub fn process_addr(&self) -> Option<SocketAddr> {
        self.peers.as_ref().map(|p| p.me)
    }

    /// The layout in force (`None` for a cluster in one process).
    pub(super) fn layout(&self) -> Option<Layout> {
        let epoch = self.peers.as_ref()?.epoch;
        Some(self.layout_for(&self.ring, epoch))
    }

    /// The layout of the nodes on `ring`, at `epoch`.
    pub(super) fn layout_for(&self, ring: &Ring, epoch: u64) -> Layout {
        let members = ring
            .nodes()
            .filter_map(|id| Some((id, self.nodes.get(&id)?.member?)))
            .collect();
        Layout {
            epoch,
            vnodes: ring.vnodes(),
            replicas: self.config.replication.replicas as u32,
            members,
        }
    }

    /// Whether nodes are named by `HOST:PORT` (they live on more than one host).
    pub(super) fn many_hosts(&self) -> bool {
        let hosts: BTreeSet<_> = self
            .nodes
            .values()
            .filter_map(|n| Some(n.member?.addr.ip()))
            .collect();
        hosts.len() > 1
    }

    /// A node's `HOST:PORT` for reports, when nodes live on more than one host.
    pub(super) fn shown_addr(&self, node: &NodeInfo, many_hosts: bool) -> Option<String> {
        many_hosts.then(|| node.member.map(|m| m.addr.to_string()))?
    }

    /// What a change to `next` must announce (`None` in one process).
    pub(super) fn announce(&self, next: &Ring) -> Option<Announce> {
        let peers = self.peers.as_ref()?;
        let current = self.layout_for(&self.ring, peers.epoch);
        let next = self.layout_for(next, peers.epoch + 1);
        let mut to: BTreeMap<SocketAddr, Vec<SocketAddr>> = BTreeMap::new();
        for m in current.members.values().chain(next.members.values()) {
            let nodes = to.entry(m.process).or_default();
            if !nodes.contains(&m.addr) {
                nodes.push(m.addr);
            }
        }
        to.remove(&peers.me);
        let down = to
            .keys()
            .copied()
            .filter(|&p| self.process_down(p))
            .collect();
        let voting = current.processes();
        let voters = Voters {
            me: peers.me,
            others: to
                .iter()
                .filter(|(p, _)| voting.contains(p))
                .map(|(&p, nodes)| (p, nodes.clone()))
                .collect(),
            votes: self.votes.clone(),
        };
        Some(Announce {
            to: to.into_iter().collect(),
            down,
            next,
            lock: self.changes.clone(),
            voters,
            ballot: None,
        })
    }

    /// Whether every node of process `p` is down here.
    fn process_down(&self, p: SocketAddr) -> bool {
        self.nodes
            .values()
            .filter(|n| n.member.is_some_and(|m| m.process == p))
            .all(|n| n.state == NodeState::Down)
    }

    /// Starts a stand-in for a node of another process.
    pub(super) fn add_remote(&mut self, id: NodeId, member: Member) {
        let link = SharedLink::new(member.addr.to_string());
        let info = NodeInfo {
            port: member.addr.port(),
            call: RemoteNode::sharing(link.clone()).start().recipient(),
            shared: None,
            link: Some(link),
            member: Some(member),
            state: NodeState::Up,
            crashed: false,
        };
        self.nodes.insert(id, info);
        self.next_id = self.next_id.max(id.saturating_add(1));
    }

    /// `Join` from another process: puts its nodes on the ring as `add-node` does (copy, switch,
    /// drop), telling every other process. Answers the new layout.
    pub(super) fn join(
        &mut self,
        process: SocketAddr,
        nodes: Vec<(NodeId, SocketAddr)>,
    ) -> ResponseActFuture<Router, Response> {
        let next = match self.check_join(process, &nodes) {
            Ok(next) => next,
            Err(e) => return Box::pin(actix::fut::ready(Response::from(e))),
        };
        let ids: Vec<NodeId> = nodes.iter().map(|&(id, _)| id).collect();
        for (&id, &member) in &next.members {
            if ids.contains(&id) {
                self.add_remote(id, member);
            }
        }
        let ring = Arc::new(next.ring());
        let change = self.change(ring, None);
        tracing::info!("{process} joins with {} nodes", ids.len());
        let run = self.run_change(change, |act, _| {
            act.save_meta();
            act.layout().map_or_else(
                || Response::from(Error::Server("no layout".into())),
                Response::Layout,
            )
        });
        Box::pin(run.map(move |response, act: &mut Router, _| {
            if matches!(response, Response::Error(_)) {
                for id in &ids {
                    act.nodes.remove(id);
                }
            }
            response
        }))
    }

    /// The layout a join makes, if this process may run it.
    fn check_join(&self, process: SocketAddr, nodes: &[(NodeId, SocketAddr)]) -> Result<Layout> {
        let current = self.layout().ok_or_else(|| {
            Error::BadRequest(
                "this process does not take joins: start it with `ringkv serve`".into(),
            )
        })?;
        if let Some(pending) = self.changes.promised() {
            return Err(under_way(pending.epoch));
        }
        if nodes.is_empty() {
            return Err(Error::BadRequest(
                "a join must bring at least one node".into(),
            ));
        }
        if current.members.len() + nodes.len() > self.config.max_nodes {
            return Err(Error::BadRequest(format!(
                "the cluster may have at most {} nodes",
                self.config.max_nodes
            )));
        }
        let next = current.joined(process, nodes)?;
        next.check()?;
        Ok(next)
    }

    /// A layout from the process that runs a change: start writing to it (`moving`), or install
    /// it (a newer epoch; an older one, or the one in force, changes nothing). Answers this
    /// process's layout.
    pub(super) fn push_layout(&mut self, layout: Layout, moving: bool) -> Response {
        if let Err(e) = layout.check() {
            return Response::from(e);
        }
        let Some(epoch) = self.peers.as_ref().map(|p| p.epoch) else {
            return Response::from(Error::BadRequest(
                "this process is not part of a cluster of processes".into(),
            ));
        };
        if moving && layout.epoch > epoch {
            self.start_moving(&layout);
        } else if !moving && layout.epoch > epoch {
            self.install(&layout);
        }
        self.layout().map_or_else(
            || Response::from(Error::Server("no layout".into())),
            Response::Layout,
        )
    }

    /// Another process copies keys towards `layout`: write to its replicas too.
    fn start_moving(&mut self, layout: &Layout) {
        self.add_members(layout);
        let next = Arc::new(layout.ring());
        if let Some(p) = self.peers.as_mut() {
            p.moving = Some(layout.clone());
        }
        self.begin_move(&next);
    }

    /// The change to `layout` was called off (`CallOff`): if keys move to it here, back to the
    /// layout in force.
    pub(super) fn called_off_layout(&mut self, layout: &Layout) {
        let Some(p) = self.peers.as_mut() else { return };
        if p.moving.as_ref() == Some(layout) {
            self.called_off();
        }
    }

    /// The change under way was called off: back to the layout in force.
    fn called_off(&mut self) {
        let Some(p) = self.peers.as_mut() else { return };
        if let Some(off) = p.moving.take() {
            tracing::info!("membership change to ring epoch {} called off", off.epoch);
            self.changes.release(off.epoch);
            let on_ring: BTreeSet<NodeId> = self.ring.nodes().collect();
            let stale: Vec<NodeId> = off
                .members
                .keys()
                .filter(|id| !on_ring.contains(id))
                .copied()
                .collect();
            self.drop_nodes(&stale);
            self.end_move();
        }
    }

    /// Installs a newer layout: its nodes, its ring, its epoch.
    pub(super) fn install(&mut self, layout: &Layout) {
        // Passes begun on the ring in force are stale from here (a layout learnt while catching
        // up installs without a move of this process's own).
        self.stats.epoch.fetch_add(1, Ordering::SeqCst);
        self.add_members(layout);
        let gone: Vec<NodeId> = self
            .nodes
            .keys()
            .filter(|id| !layout.members.contains_key(id))
            .copied()
            .collect();
        self.drop_nodes(&gone);
        self.config.vnodes = layout.vnodes;
        self.config.replication.replicas = layout.replicas as usize;
        self.ring = Arc::new(layout.ring());
        if let Some(p) = self.peers.as_mut() {
            p.epoch = layout.epoch;
            p.moving = None;
        }
        self.changes.release(layout.epoch);
        self.votes.learn(layout.epoch);
        tracing::info!(
            "ring epoch {}: {} nodes in {} processes",
            layout.epoch,
            layout.members.len(),
            layout.processes().len()
        );
        self.end_move();
        self.save_meta();
        self.note_removal(layout);
    }

    /// Starts stand-ins for the nodes of `layout` this process does not know yet. A node known
    /// here under an id the layout gives to another address (a node left by a change refused
    /// here) is dropped first.
    pub(super) fn add_members(&mut self, layout: &Layout) {
        for (&id, &member) in &layout.members {
            let known = self.nodes.get(&id).map(|n| n.member);
            if known == Some(Some(member)) {
                continue;
            }
            if known.is_some() {
                self.drop_nodes(&[id]);
            }
            self.add_remote(id, member);
        }
    }

    /// Stops and forgets nodes that are no longer members.
    fn drop_nodes(&mut self, ids: &[NodeId]) {
        for id in ids {
            // A stand-in stops once dropped; a local node is told to stop.
            if let Some(node) = self.nodes.remove(id) {
                if node.shared.is_some() {
                    node.call.do_send(NodeCall(NodeOp::Stop));
                    tracing::warn!(port = node.port, "node removed from the cluster; stopped");
                    self.forget(*id);
                }
            }
        }
    }
}
