//! The layout of a cluster that spans processes: which nodes exist, where each listens, which
//! process runs it, and the ring version (epoch) they make together.
//!
//! Plain data. The ring is a pure function of the layout (its virtual node count and node ids),
//! so two processes that hold the same layout route alike. Every membership change makes a new
//! layout with the next epoch; a process keeps the highest epoch it has seen and ignores older
//! ones. A layout that arrives from the network is checked ([`Layout::check`]) before use.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ring::{NodeId, Ring};

/// The most nodes a layout from the network may name.
pub const MAX_MEMBERS: usize = 1000;
/// The most virtual nodes per node a layout from the network may ask for.
pub const MAX_VNODES: u32 = 4096;

/// Where one node lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node's own `HOST:PORT` (its framed-protocol port).
    pub addr: SocketAddr,
    /// The process that runs it, named by its membership address (the address of its node with
    /// the lowest port).
    pub process: SocketAddr,
}

/// Every node of a cluster and the ring version they form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The ring version: bumped by every membership change.
    pub epoch: u64,
    /// Virtual nodes per node.
    pub vnodes: u32,
    /// Copies of each key (R).
    pub replicas: u32,
    /// Every node, by id.
    pub members: BTreeMap<NodeId, Member>,
}

impl Layout {
    /// A layout of no members at `epoch` (8 vnodes, R=3): what the agreement's tests vote on.
    #[cfg(test)]
    pub(crate) fn empty(epoch: u64) -> Layout {
        Layout {
            epoch,
            vnodes: 8,
            replicas: 3,
            members: std::collections::BTreeMap::new(),
        }
    }

    /// The ring these members make.
    pub fn ring(&self) -> Ring {
        Ring::with_nodes(self.vnodes, self.members.keys().copied())
    }

    /// Every process that runs a node of this layout.
    pub fn processes(&self) -> BTreeSet<SocketAddr> {
        self.members.values().map(|m| m.process).collect()
    }

    /// The ids of the nodes that `process` runs.
    pub fn nodes_of(&self, process: SocketAddr) -> Vec<NodeId> {
        self.members
            .iter()
            .filter(|(_, m)| m.process == process)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Whether the nodes live on more than one host (then nodes are named `HOST:PORT`).
    pub fn many_hosts(&self) -> bool {
        let hosts: BTreeSet<_> = self.members.values().map(|m| m.addr.ip()).collect();
        hosts.len() > 1
    }

    /// This layout with `nodes` of `process` added, at the next epoch.
    ///
    /// # Errors
    /// [`Error::BadRequest`] if an id or an address is already taken.
    pub fn joined(&self, process: SocketAddr, nodes: &[(NodeId, SocketAddr)]) -> Result<Layout> {
        let mut next = self.clone();
        next.epoch += 1;
        for &(id, addr) in nodes {
            if next.members.contains_key(&id) {
                return Err(Error::BadRequest(format!("node id {id} is already taken")));
            }
            if next.members.values().any(|m| m.addr == addr) {
                return Err(Error::BadRequest(format!(
                    "a node already listens at {addr}"
                )));
            }
            next.members.insert(id, Member { addr, process });
        }
        Ok(next)
    }

    /// Checks a layout that came from the network: bounded sizes, addresses others can reach.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming what is out of bounds.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::BadRequest(format!("layout refused: {why}")));
        if self.members.len() > MAX_MEMBERS {
            return bad(format!("{} nodes", self.members.len()));
        }
        if self.vnodes == 0 || self.vnodes > MAX_VNODES {
            return bad(format!("{} virtual nodes per node", self.vnodes));
        }
        if self.replicas == 0 || self.replicas > 100 {
            return bad(format!("{} replicas", self.replicas));
        }
        for m in self.members.values() {
            if m.addr.ip().is_unspecified() || m.addr.port() == 0 {
                return bad(format!("node address {} cannot be reached", m.addr));
            }
        }
        Ok(())
    }
}

/// A fresh id for a node that joins an existing cluster: random, past the ids a cluster started
/// in one process hands out (1, 2, ...), and not in `taken`.
pub fn fresh_id(taken: &BTreeSet<NodeId>) -> NodeId {
    loop {
        let id = rand::random::<u32>() | 0x8000_0000;
        if !taken.contains(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn one() -> Layout {
        let p = addr("127.0.0.1:5001");
        let members = [(1, p), (2, addr("127.0.0.1:5002"))]
            .into_iter()
            .map(|(id, a)| {
                (
                    id,
                    Member {
                        addr: a,
                        process: p,
                    },
                )
            })
            .collect();
        Layout {
            epoch: 1,
            vnodes: 16,
            replicas: 3,
            members,
        }
    }

    #[test]
    fn joining_adds_nodes_at_the_next_epoch() {
        let p = addr("127.0.0.2:5001");
        let next = one().joined(p, &[(7, p)]).unwrap();
        assert_eq!(next.epoch, 2);
        assert_eq!(next.nodes_of(p), vec![7]);
        assert_eq!(next.processes().len(), 2);
        assert!(next.many_hosts());
        assert!(!one().many_hosts());
        assert_eq!(next.ring().len(), 3);
    }

    #[test]
    fn taken_ids_and_addresses_are_refused() {
        let p = addr("127.0.0.2:5001");
        assert!(one().joined(p, &[(1, p)]).is_err());
        assert!(one().joined(p, &[(9, addr("127.0.0.1:5002"))]).is_err());
    }

    #[test]
    fn hostile_layouts_are_refused() {
        let mut l = one();
        l.vnodes = 0;
        assert!(l.check().is_err());
        let mut l = one();
        l.members.insert(
            3,
            Member {
                addr: addr("0.0.0.0:5003"),
                process: addr("0.0.0.0:5003"),
            },
        );
        assert!(l.check().is_err());
        assert!(one().check().is_ok());
    }

    #[test]
    fn fresh_ids_avoid_the_taken_ones() {
        let taken: BTreeSet<NodeId> = (1..10).collect();
        let id = fresh_id(&taken);
        assert!(id >= 0x8000_0000 && !taken.contains(&id));
    }
}
