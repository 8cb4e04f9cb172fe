//! Every arc's preference list at once, for the request path: a key's replicas are then one
//! token lookup and a slice, with no walk of the ring and no allocation per request.

use super::{NodeId, Ring, Token};

/// The first `n` distinct nodes of every arc of one ring, flat: arc `i`'s are
/// `ids[i * width..(i + 1) * width]`, where `width` is `n` or the ring's node count if smaller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceLists {
    ids: Vec<NodeId>,
    width: usize,
}

impl PreferenceLists {
    /// How many nodes each list holds: `n`, or fewer on a ring of fewer nodes (0 when empty).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The preference list of `token` on `ring`, the ring these lists were built from: the same
    /// nodes, in the same order, as [`Ring::preference_list_of_token`].
    pub fn of(&self, ring: &Ring, token: Token) -> &[NodeId] {
        if self.width == 0 {
            return &[];
        }
        let at = ring.successor(token) * self.width;
        &self.ids[at..at + self.width]
    }
}

impl Ring {
    /// The preference lists of `n` nodes of every arc (see [`PreferenceLists`]). Costs a walk of
    /// the ring per arc, so build it once per ring, not per request.
    pub fn preference_lists(&self, n: usize) -> PreferenceLists {
        let width = n.min(self.nodes.len());
        let len = self.tokens.len();
        let mut ids = Vec::with_capacity(len * width);
        if width > 0 {
            for start in 0..len {
                let list = ids.len();
                for step in 0..len {
                    let node = self.tokens[(start + step) % len].1;
                    if !ids[list..].contains(&node) {
                        ids.push(node);
                        if ids.len() - list == width {
                            break;
                        }
                    }
                }
            }
        }
        PreferenceLists { ids, width }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::key_token;

    #[test]
    fn every_list_is_the_walk_of_the_ring() {
        for (nodes, n) in [
            (1u32, 1usize),
            (1, 3),
            (2, 3),
            (3, 1),
            (3, 3),
            (7, 3),
            (7, 5),
        ] {
            let ring = Ring::with_nodes(16, 1..=nodes);
            let lists = ring.preference_lists(n);
            assert_eq!(lists.width(), n.min(nodes as usize));
            for i in 0..500 {
                let token = key_token(format!("key:{i}").as_bytes());
                let walked = ring.preference_list_of_token(token, n);
                assert_eq!(
                    lists.of(&ring, token),
                    walked.as_slice(),
                    "{nodes} nodes, n {n}"
                );
            }
            for &(token, _) in &ring.tokens {
                let walked = ring.preference_list_of_token(token, n);
                assert_eq!(lists.of(&ring, token), walked.as_slice());
            }
        }
    }

    #[test]
    fn an_empty_ring_has_empty_lists() {
        let ring = Ring::new(8);
        let lists = ring.preference_lists(3);
        assert_eq!(lists.width(), 0);
        assert!(lists.of(&ring, 42).is_empty());
    }
}
