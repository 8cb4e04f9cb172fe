//! Which keys move when the ring changes, planned per arc rather than per key.
//!
//! Plain data. The "fine" ring is the larger of the old and the new ring: its arcs split both, so
//! on each fine arc both rings give one preference list. A node that is in the new list of an arc
//! and not in the old one receives the arc's keys from one live old replica (a [`Transfer`]); a node
//! that is in the old list and not in the new one drops them once the new ring is in force. An
//! [`ArcSet`] tells in one ring lookup whether a key's token lies on one of the chosen arcs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::replication::{write_targets, NodeState};
use crate::ring::{NodeId, Ring, Token};

/// A set of arcs of one ring, tested with a single lookup per token.
#[derive(Debug, Clone)]
pub struct ArcSet {
    ring: Arc<Ring>,
    member: Vec<bool>,
}

impl ArcSet {
    /// No arc of `ring` yet.
    pub fn new(ring: Arc<Ring>) -> Self {
        let member = vec![false; ring.arcs().len()];
        ArcSet { ring, member }
    }

    /// The arcs of `ring` with the given indexes (those past the ring's arcs are ignored).
    pub fn with_arcs(ring: Arc<Ring>, arcs: &[usize]) -> Self {
        let mut set = ArcSet::new(ring);
        let len = set.member.len();
        for &i in arcs.iter().filter(|&&i| i < len) {
            set.insert(i);
        }
        set
    }

    /// Adds arc `i` (in the ring's token order).
    pub fn insert(&mut self, i: usize) {
        self.member[i] = true;
    }

    /// Whether `token` lies on one of the arcs.
    pub fn contains(&self, token: Token) -> bool {
        !self.member.is_empty() && self.member[self.ring.arc_of(token)]
    }

    /// How many arcs the set holds.
    pub fn len(&self) -> usize {
        self.member.iter().filter(|&&m| m).count()
    }

    /// Whether the set holds no arc.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ring whose arcs the set numbers.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// The numbers of the arcs in the set, ascending.
    pub fn numbers(&self) -> Vec<u32> {
        let numbered = self.member.iter().enumerate();
        numbered
            .filter(|(_, &m)| m)
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// The set of arcs `numbers` of `ring`; `None` if a number is not an arc of the ring.
    pub fn from_numbers(ring: Arc<Ring>, numbers: &[u32]) -> Option<Self> {
        let mut set = ArcSet::new(ring);
        for &i in numbers {
            let i = i as usize;
            if i >= set.member.len() {
                return None;
            }
            set.insert(i);
        }
        Some(set)
    }
}

/// For each node of `ring`, the arcs whose keys it replicates with `r` replicas (it is among the
/// first `r` nodes of their preference list), as arc indexes for [`ArcSet::with_arcs`]. One pass
/// over the arcs for all nodes.
pub fn replicated_arcs(ring: &Ring, r: usize) -> BTreeMap<NodeId, Vec<usize>> {
    let mut by_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    for (i, arc) in ring.arcs().iter().enumerate() {
        for node in ring.preference_list_of_token(arc.end, r) {
            by_node.entry(node).or_default().push(i);
        }
    }
    by_node
}

/// Keys to copy: those on `arcs`, from `source` to `target` (as hints for `hint_for` if set).
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The live old replica that sends them.
    pub source: NodeId,
    /// The node that receives them.
    pub target: NodeId,
    /// The down new replica `target` stands in for, if any.
    pub hint_for: Option<NodeId>,
    /// The arcs.
    pub arcs: ArcSet,
}

/// Everything a ring change moves.
#[derive(Debug, Clone, Default)]
pub struct MovePlan {
    /// Copies to make while the old ring is in force.
    pub copies: Vec<Transfer>,
    /// For each live node, the arcs whose keys it drops once the new ring is in force.
    pub drops: BTreeMap<NodeId, ArcSet>,
}

/// Plans the moves from `old` to `new` with `r` replicas; `state` tells which nodes are down
/// (a down node neither sends nor drops, and its new keys go to a substitute as hints).
pub fn plan_moves(
    old: &Arc<Ring>,
    new: &Arc<Ring>,
    r: usize,
    state: impl Fn(NodeId) -> NodeState,
) -> MovePlan {
    let fine = if new.vnodes() as usize * new.len() >= old.vnodes() as usize * old.len() {
        new.clone()
    } else {
        old.clone()
    };
    let live = |n: NodeId| state(n) != NodeState::Down;
    let mut copies: BTreeMap<(NodeId, NodeId, Option<NodeId>), ArcSet> = BTreeMap::new();
    let mut drops: BTreeMap<NodeId, ArcSet> = BTreeMap::new();
    for (i, arc) in fine.arcs().iter().enumerate() {
        let before = old.preference_list_of_token(arc.end, r);
        let after = new.preference_list_of_token(arc.end, r);
        // An up replica has everything; a recovering one may still be refilling.
        let source = (before.iter().copied())
            .find(|&n| state(n) == NodeState::Up)
            .or_else(|| before.iter().copied().find(|&n| live(n)));
        for t in write_targets(new, arc.end, r, &state) {
            let (Some(source), false) = (source, before.contains(&t.hint_for.unwrap_or(t.node)))
            else {
                continue;
            };
            copies
                .entry((source, t.node, t.hint_for))
                .or_insert_with(|| ArcSet::new(fine.clone()))
                .insert(i);
        }
        for &n in before.iter().filter(|&&n| live(n) && new.contains(n)) {
            if !after.contains(&n) {
                drops
                    .entry(n)
                    .or_insert_with(|| ArcSet::new(fine.clone()))
                    .insert(i);
            }
        }
    }
    let copies = copies
        .into_iter()
        .map(|((source, target, hint_for), arcs)| Transfer {
            source,
            target,
            hint_for,
            arcs,
        })
        .collect();
    MovePlan { copies, drops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::key_token;

    fn up(_: NodeId) -> NodeState {
        NodeState::Up
    }

    /// Applies a plan to a model (key -> holders) and checks every key ends on its new replicas.
    fn check(old: Ring, new: Ring, r: usize) {
        let (old, new) = (Arc::new(old), Arc::new(new));
        let plan = plan_moves(&old, &new, r, up);
        for i in 0..20_000 {
            let key = format!("key:{i}");
            let token = key_token(key.as_bytes());
            let mut holders = old.preference_list_of_token(token, r);
            for c in &plan.copies {
                if c.arcs.contains(token) {
                    assert!(holders.contains(&c.source), "{key}: copy from a non-holder");
                    assert!(!holders.contains(&c.target), "{key}: copy to a holder");
                    holders.push(c.target);
                }
            }
            for (n, arcs) in &plan.drops {
                if arcs.contains(token) {
                    holders.retain(|h| h != n);
                }
            }
            let mut want = new.preference_list_of_token(token, r);
            want.retain(|&n| old.contains(n) || new.contains(n));
            holders.retain(|&n| new.contains(n));
            holders.sort_unstable();
            want.sort_unstable();
            assert_eq!(holders, want, "{key}");
        }
    }

    #[test]
    fn adding_a_node_copies_exactly_what_it_gains() {
        for r in [1, 2, 3] {
            check(Ring::with_nodes(64, 1..=3), Ring::with_nodes(64, 1..=4), r);
        }
    }

    #[test]
    fn removing_a_node_copies_its_keys_elsewhere() {
        for r in [1, 3] {
            check(
                Ring::with_nodes(64, 1..=5),
                Ring::with_nodes(64, [1, 2, 4, 5]),
                r,
            );
        }
    }

    #[test]
    fn a_down_node_neither_sends_nor_drops_and_gets_hints() {
        let old = Arc::new(Ring::with_nodes(64, 1..=5));
        let new = Arc::new(Ring::with_nodes(64, [1, 2, 4, 5]));
        let down = |n: NodeId| {
            if n == 2 {
                NodeState::Down
            } else {
                NodeState::Up
            }
        };
        let plan = plan_moves(&old, &new, 3, down);
        assert!(plan.copies.iter().all(|c| c.source != 2 && c.target != 2));
        assert!(!plan.drops.contains_key(&2));
        assert!(plan.copies.iter().any(|c| c.hint_for == Some(2)));
    }

    #[test]
    fn replicated_arcs_agree_with_preference_lists() {
        let ring = Arc::new(Ring::with_nodes(32, 1..=4));
        for r in [1, 3] {
            let arcs = replicated_arcs(&ring, r);
            let sets: Vec<ArcSet> = (1..=4)
                .map(|n| ArcSet::with_arcs(ring.clone(), &arcs[&n]))
                .collect();
            for i in 0..2000 {
                let token = key_token(format!("k{i}").as_bytes());
                let prefs = ring.preference_list_of_token(token, r);
                for n in 1..=4u32 {
                    assert_eq!(sets[n as usize - 1].contains(token), prefs.contains(&n));
                }
            }
        }
    }

    #[test]
    fn arc_sets_answer_by_arc() {
        let ring = Arc::new(Ring::with_nodes(16, 1..=2));
        let mut set = ArcSet::new(ring.clone());
        assert!(set.is_empty());
        set.insert(3);
        let arcs = ring.arcs();
        assert!(set.contains(arcs[3].end));
        assert!(!set.contains(arcs[4].end));
        assert_eq!(set.len(), 1);
    }
}
