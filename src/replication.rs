//! Replication rules: R, W and Q, node liveness, and which nodes a read or a write goes to.
//!
//! Plain data. Each key lives on the first R distinct nodes of its preference list. A write goes to
//! every replica that is up or recovering; for each replica that is down, a substitute further along
//! the ring keeps a hint (sloppy quorum). A read asks the replicas that are up and the substitutes.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ring::{NodeId, Ring, Token};

/// A node's life state, as the Router sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// Serving requests. Tag 0.
    Up,
    /// Crashed, paused past the timeout, or unreachable. Tag 1.
    Down,
    /// Restarted or back, and being refilled; takes writes, not yet counted for reads. Tag 2.
    Recovering,
    /// Reported only (`status`, `ring`): up, and being copied to by a join or `add-node` (on the
    /// ring being moved to, not yet on the ring in force). A Router never holds it. Tag 3.
    Joining,
    /// Reported only (`status`, `ring`): up, and being drained by `remove-node` (on the ring in
    /// force, not on the ring being moved to). A Router never holds it. Tag 4.
    Leaving,
}

impl NodeState {
    /// The state `status` and `ring` report for a node in `state`: `Joining` or `Leaving` while
    /// a membership change moves keys to `on_next` (whether the node is on the ring being moved
    /// to; `None` when no change is under way) and the node is up.
    pub fn shown(self, on_ring: bool, on_next: Option<bool>) -> NodeState {
        match (self, on_ring, on_next) {
            (NodeState::Up, false, Some(true)) => NodeState::Joining,
            (NodeState::Up, true, Some(false)) => NodeState::Leaving,
            (state, _, _) => state,
        }
    }
}

/// The replication factor and quorums asked for (capped by the number of nodes when used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// Copies of each key (R).
    pub replicas: usize,
    /// Acknowledgements an update waits for (W); `None`: a majority of R.
    pub write_quorum: Option<usize>,
    /// Replicas a read merges (Q); `None`: a majority of R.
    pub read_quorum: Option<usize>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replicas: 3,
            write_quorum: None,
            read_quorum: None,
        }
    }
}

/// R, W and Q in force for a cluster of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorums {
    /// Copies of each key.
    pub r: usize,
    /// Acknowledgements per update.
    pub w: usize,
    /// Replicas per read.
    pub q: usize,
}

impl ReplicationConfig {
    /// Checks that R ≥ 1 and 1 ≤ W, Q ≤ R.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.replicas == 0 {
            return Err(Error::BadRequest("--replicas must be at least 1".into()));
        }
        for (name, q) in [
            ("--write-quorum", self.write_quorum),
            ("--read-quorum", self.read_quorum),
        ] {
            if let Some(q) = q {
                if q == 0 || q > self.replicas {
                    return Err(Error::BadRequest(format!(
                        "{name} must be from 1 to the number of replicas ({}), got {q}",
                        self.replicas
                    )));
                }
            }
        }
        Ok(())
    }

    /// The quorums for `nodes` nodes: R is capped by the node count, W and Q by R.
    pub fn quorums(&self, nodes: usize) -> Quorums {
        let r = self.replicas.min(nodes).max(1);
        let majority = r / 2 + 1;
        Quorums {
            r,
            w: self.write_quorum.unwrap_or(majority).clamp(1, r),
            q: self.read_quorum.unwrap_or(majority).clamp(1, r),
        }
    }
}

/// One node a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The node to send to.
    pub node: NodeId,
    /// If set, `node` stands in for this replica, which is down, and keeps a hint for it.
    pub hint_for: Option<NodeId>,
}

/// The nodes an update of `token` goes to: each of the `r` replicas that is not down, and for each
/// replica that is down, the next node along the ring that is up and not already a target.
pub fn write_targets(
    ring: &Ring,
    token: Token,
    r: usize,
    state: impl Fn(NodeId) -> NodeState,
) -> Vec<Target> {
    let replicas = ring.preference_list_of_token(token, r);
    if replicas.iter().all(|&n| state(n) != NodeState::Down) {
        // The common case: no substitute needed, no walk past the first R nodes.
        return replicas
            .into_iter()
            .map(|node| Target {
                node,
                hint_for: None,
            })
            .collect();
    }
    let walk = ring.preference_list_of_token(token, ring.len());
    let mut spare = walk[replicas.len()..]
        .iter()
        .copied()
        .filter(|&n| state(n) == NodeState::Up);
    replicas
        .iter()
        .filter_map(|&node| match state(node) {
            NodeState::Down => spare.next().map(|sub| Target {
                node: sub,
                hint_for: Some(node),
            }),
            _ => Some(Target {
                node,
                hint_for: None,
            }),
        })
        .collect()
}

/// The nodes a read of `token` asks: the write targets without the recovering replicas.
pub fn read_targets(
    ring: &Ring,
    token: Token,
    r: usize,
    state: impl Fn(NodeId) -> NodeState,
) -> Vec<Target> {
    write_targets(ring, token, r, &state)
        .into_iter()
        .filter(|t| state(t.node) == NodeState::Up)
        .collect()
}

/// The target that applies an increment to its own slot: the first replica that is up, else the
/// first substitute that is up.
pub fn coordinator(targets: &[Target], state: impl Fn(NodeId) -> NodeState) -> Option<usize> {
    let up = |t: &Target| state(t.node) == NodeState::Up;
    targets
        .iter()
        .position(|t| t.hint_for.is_none() && up(t))
        .or_else(|| targets.iter().position(up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_nodes_show_joining_or_leaving_while_keys_move() {
        use NodeState::*;
        assert_eq!(Up.shown(false, Some(true)), Joining);
        assert_eq!(Up.shown(true, Some(false)), Leaving);
        assert_eq!(Up.shown(true, Some(true)), Up);
        assert_eq!(Up.shown(true, None), Up);
        assert_eq!(Down.shown(true, Some(false)), Down);
        assert_eq!(Recovering.shown(false, Some(true)), Recovering);
    }

    #[test]
    fn defaults_are_majorities_capped_by_the_cluster() {
        let cfg = ReplicationConfig::default();
        assert_eq!(cfg.quorums(5), Quorums { r: 3, w: 2, q: 2 });
        assert_eq!(cfg.quorums(1), Quorums { r: 1, w: 1, q: 1 });
        let cfg = ReplicationConfig {
            replicas: 5,
            write_quorum: Some(5),
            read_quorum: Some(1),
        };
        assert_eq!(cfg.quorums(3), Quorums { r: 3, w: 3, q: 1 });
        assert!(ReplicationConfig {
            replicas: 3,
            write_quorum: Some(4),
            read_quorum: None
        }
        .validate()
        .is_err());
    }

    #[test]
    fn a_down_replica_is_replaced_by_a_hinted_substitute() {
        let ring = Ring::with_nodes(16, 1..=5);
        let token = 12345;
        let walk = ring.preference_list_of_token(token, 5);
        let down = walk[1];
        let state = |n| {
            if n == down {
                NodeState::Down
            } else {
                NodeState::Up
            }
        };
        let targets = write_targets(&ring, token, 3, state);
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[0].node, walk[0]);
        assert_eq!(
            targets[1],
            Target {
                node: walk[3],
                hint_for: Some(down)
            }
        );
        assert_eq!(targets[2].node, walk[2]);
        assert_eq!(coordinator(&targets, state), Some(0));
    }

    #[test]
    fn recovering_replicas_take_writes_but_not_reads() {
        let ring = Ring::with_nodes(16, 1..=3);
        let walk = ring.preference_list_of_token(99, 3);
        let state = |n| {
            if n == walk[0] {
                NodeState::Recovering
            } else {
                NodeState::Up
            }
        };
        assert_eq!(write_targets(&ring, 99, 3, state).len(), 3);
        assert_eq!(read_targets(&ring, 99, 3, state).len(), 2);
        let targets = write_targets(&ring, 99, 3, state);
        assert_eq!(coordinator(&targets, state), Some(1));
    }
}
