//! `Figures`: a snapshot of the cluster for `/metrics`, `/api/*` and the dashboard: each node's
//! state, share, keys, hints, bytes on disk and arcs, the repair counters, and during a
//! membership change the arcs that move. Costs no walk over the keys.

use std::sync::atomic::Ordering;

use actix::prelude::*;

use super::{NodeInfo, Router};
use crate::metrics::figures::{Arc64, ClusterFigures, MovingArc, NodeFigures};
use crate::replication::NodeState;
use crate::ring::{NodeId, Ring};

/// Ask for a [`ClusterFigures`]; `arcs` adds each node's arcs (for `/api/ring`).
#[derive(Message)]
#[rtype(result = "ClusterFigures")]
pub struct Figures {
    /// Whether to list every node's arcs and the moving ones.
    pub arcs: bool,
}

impl Handler<Figures> for Router {
    type Result = MessageResult<Figures>;

    fn handle(&mut self, ask: Figures, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.figures(ask.arcs))
    }
}

impl Router {
    /// The cluster's figures now; `arcs` adds each node's arcs and, during a change, the moving
    /// ones.
    pub(crate) fn figures(&self, arcs: bool) -> ClusterFigures {
        let next = self.direct.next_ring();
        let nodes = self
            .nodes
            .iter()
            .map(|(&id, n)| self.node_figures(id, n, arcs, next.as_deref()))
            .collect();
        let moving = match (&next, arcs) {
            (Some(next), true) => self.moving_arcs(next),
            _ => Vec::new(),
        };
        ClusterFigures {
            vnodes: self.ring.vnodes(),
            nodes,
            read_repairs: self.stats.read_repairs.load(Ordering::Relaxed)
                + self.direct.read_repairs(),
            anti_entropy_passes: self.stats.anti_entropy_passes.load(Ordering::Relaxed),
            anti_entropy_repairs: self.stats.anti_entropy_repairs.load(Ordering::Relaxed),
            moving,
            changing: self.moving,
        }
    }

    fn node_figures(
        &self,
        id: NodeId,
        n: &NodeInfo,
        arcs: bool,
        next: Option<&Ring>,
    ) -> NodeFigures {
        // A node of another process is counted by its own process.
        let (keys, hints) = n.shared.as_ref().map_or((0, 0), |shared| {
            let data = shared.lock();
            (data.store().len() as u64, data.store().hint_count() as u64)
        });
        let paused = n.shared.as_ref().is_some_and(|s| !s.is_ready());
        let shown = n
            .state
            .shown(self.ring.contains(id), next.map(|r| r.contains(id)));
        let state = match shown {
            NodeState::Down => "down",
            NodeState::Recovering => "recovering",
            NodeState::Joining => "joining",
            NodeState::Leaving => "leaving",
            NodeState::Up if !n.crashed && paused => "paused",
            NodeState::Up => "up",
        };
        let bytes = self
            .config
            .data
            .as_ref()
            .map_or(0, |d| dir_bytes(&d.node_dir(id)));
        NodeFigures {
            id,
            port: n.port,
            state,
            share: self.ring.share(id),
            keys,
            hints,
            bytes,
            arcs: if arcs {
                self.ring
                    .ranges_of(id)
                    .into_iter()
                    .map(Arc64::from)
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn moving_arcs(&self, next: &Ring) -> Vec<MovingArc> {
        let port = |id| self.nodes.get(&id).map_or(0, |n| n.port);
        self.ring
            .diff(next)
            .into_iter()
            .map(|m| MovingArc {
                arc: m.range.into(),
                from: port(m.from),
                to: port(m.to),
            })
            .collect()
    }
}

/// The bytes of the files directly in `dir` (0 if it cannot be read).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
