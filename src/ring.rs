//! The consistent-hash ring: murmur3 tokens, virtual nodes, owners, preference lists and ring diffs.
//!
//! Every physical node places `vnodes` tokens on a 64-bit circle; a key hashes to a token and is owned
//! by the first node token at or after it, wrapping around at the top. This module is plain data: no
//! actors, no I/O, so every property can be tested directly.

use std::collections::BTreeSet;
use std::io::Cursor;

mod lists;

pub use self::lists::PreferenceLists;

/// Identifies a physical node on the ring. Ids are small integers handed out by the router (1, 2, ...);
/// they do not depend on the node's port, so the same cluster builds the same ring on any ports.
pub type NodeId = u32;

/// A position on the ring.
pub type Token = u64;

/// The number of virtual nodes each physical node places on the ring unless told otherwise.
pub const DEFAULT_VNODES: u32 = 256;

/// The token of a key: the low 64 bits of murmur3 x64-128 (seed 0) of its hashed part, which
/// is the whole key unless it has a Redis Cluster hash tag (`{user:1}:hits` hashes by `user:1`,
/// see [`crate::hashtag`]).
pub fn key_token(key: &[u8]) -> Token {
    murmur(crate::hashtag::hashed_part(key))
}

/// The low 64 bits of murmur3 x64-128 (seed 0) of `bytes`.
fn murmur(bytes: &[u8]) -> Token {
    // Reading from an in-memory cursor cannot fail.
    murmur3::murmur3_x64_128(&mut Cursor::new(bytes), 0).unwrap_or(0) as u64
}

/// The token of virtual node `vnode` of node `node`: murmur3 of the text `n<id>v<vnode>`.
fn vnode_token(node: NodeId, vnode: u32) -> Token {
    let mut name = [0u8; 22];
    name[0] = b'n';
    let mut len = 1 + decimal(node, &mut name[1..]);
    name[len] = b'v';
    len += 1;
    len += decimal(vnode, &mut name[len..]);
    murmur(&name[..len])
}

/// Writes `n` in decimal at the start of `out` (which has room for 10 digits); returns the length.
fn decimal(mut n: u32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        out[i] = *d;
    }
    len
}

/// The tokens of `node`'s virtual nodes, sorted.
fn node_tokens(node: NodeId, vnodes: u32) -> Vec<(Token, NodeId)> {
    let mut tokens: Vec<(Token, NodeId)> =
        (0..vnodes).map(|v| (vnode_token(node, v), node)).collect();
    tokens.sort_unstable();
    tokens
}

/// A half-open arc of the ring: tokens `t` with `start < t <= end`, wrapping past `u64::MAX` when
/// `start >= end` (so `start == end` is the whole ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TokenRange {
    /// Exclusive lower bound.
    pub start: Token,
    /// Inclusive upper bound.
    pub end: Token,
}

impl TokenRange {
    /// Whether `token` lies on this arc.
    pub fn contains(&self, token: Token) -> bool {
        if self.start < self.end {
            token > self.start && token <= self.end
        } else {
            token > self.start || token <= self.end
        }
    }

    /// The fraction of the whole ring this arc covers, in `0.0..=1.0`.
    pub fn fraction(&self) -> f64 {
        let width = self.end.wrapping_sub(self.start);
        if width == 0 {
            1.0
        } else {
            width as f64 / 2f64.powi(64)
        }
    }
}

/// One arc of the ring whose owner differs between two rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeMove {
    /// The arc that moves.
    pub range: TokenRange,
    /// Its owner in the old ring.
    pub from: NodeId,
    /// Its owner in the new ring.
    pub to: NodeId,
}

/// The consistent-hash ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    vnodes: u32,
    nodes: BTreeSet<NodeId>,
    /// Sorted by token (then node id, so a token collision resolves the same way everywhere).
    tokens: Vec<(Token, NodeId)>,
    /// `index[b]` is the position of the first token whose top `index_bits` bits are `>= b`, so a
    /// lookup binary-searches only the few tokens of one bucket (`index` has `2^bits + 1` entries).
    index: Vec<u32>,
    index_bits: u32,
}

impl Ring {
    /// An empty ring whose nodes each get `vnodes` virtual nodes (at least 1).
    pub fn new(vnodes: u32) -> Self {
        Ring {
            vnodes: vnodes.max(1),
            nodes: BTreeSet::new(),
            tokens: Vec::new(),
            index: vec![0, 0],
            index_bits: 0,
        }
    }

    /// Rebuilds the bucket index of the sorted tokens: about one token per bucket.
    fn reindex(&mut self) {
        let bits = (usize::BITS - self.tokens.len().leading_zeros()).clamp(1, 20);
        let buckets = 1usize << bits;
        // One pass over the tokens: bucket `b` starts at the first token whose top bits are >= b.
        let mut index = vec![0u32; buckets + 1];
        let mut next = 0;
        for (i, &(token, _)) in self.tokens.iter().enumerate() {
            let b = (token >> (64 - bits)) as usize;
            while next <= b {
                index[next] = i as u32;
                next += 1;
            }
        }
        for slot in &mut index[next..] {
            *slot = self.tokens.len() as u32;
        }
        self.index = index;
        self.index_bits = bits;
    }

    /// A ring holding `nodes`: the same ring as adding them one by one, built with one sort and
    /// one index (`Ring::with_nodes(256, 1..=1000)` in tens of milliseconds).
    pub fn with_nodes(vnodes: u32, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        let mut ring = Ring::new(vnodes);
        for node in nodes {
            if ring.nodes.insert(node) {
                let vnodes = ring.vnodes;
                ring.tokens
                    .extend((0..vnodes).map(|v| (vnode_token(node, v), node)));
            }
        }
        ring.tokens.sort_unstable();
        ring.reindex();
        ring
    }

    /// Virtual nodes per physical node.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// The physical nodes, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().copied()
    }

    /// How many physical nodes the ring holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the ring holds no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `node` is on the ring.
    pub fn contains(&self, node: NodeId) -> bool {
        self.nodes.contains(&node)
    }

    /// Places `node`'s virtual nodes on the ring. Returns false if it was already there.
    pub fn add_node(&mut self, node: NodeId) -> bool {
        if !self.nodes.insert(node) {
            return false;
        }
        // Merge the node's sorted tokens in: no sort of the whole ring.
        let mine = node_tokens(node, self.vnodes);
        let old = std::mem::take(&mut self.tokens);
        self.tokens = merge_sorted(old, mine);
        self.reindex();
        true
    }

    /// Takes `node`'s virtual nodes off the ring. Returns false if it was not there.
    pub fn remove_node(&mut self, node: NodeId) -> bool {
        if !self.nodes.remove(&node) {
            return false;
        }
        self.tokens.retain(|&(_, n)| n != node);
        self.reindex();
        true
    }

    /// The index in `tokens` of the first virtual node at or after `token`, wrapping to 0.
    fn successor(&self, token: Token) -> usize {
        let (lo, hi) = if self.index_bits == 0 {
            (0, self.tokens.len())
        } else {
            let b = (token >> (64 - self.index_bits)) as usize;
            (self.index[b] as usize, self.index[b + 1] as usize)
        };
        let i = lo + self.tokens[lo..hi].partition_point(|&(t, _)| t < token);
        if i == self.tokens.len() {
            0
        } else {
            i
        }
    }

    /// The index of the arc (virtual node) that holds `token`; arcs are numbered in token order.
    /// Meaningless on an empty ring (0).
    pub fn arc_of(&self, token: Token) -> usize {
        if self.tokens.is_empty() {
            0
        } else {
            self.successor(token)
        }
    }

    /// Every arc of the ring, in token order (arc `i` ends at the `i`-th virtual node's token).
    pub fn arcs(&self) -> Vec<TokenRange> {
        let len = self.tokens.len();
        (0..len)
            .map(|i| TokenRange {
                start: self.tokens[(i + len - 1) % len].0,
                end: self.tokens[i].0,
            })
            .collect()
    }

    /// The node owning `token`, or `None` on an empty ring.
    pub fn owner_of_token(&self, token: Token) -> Option<NodeId> {
        if self.tokens.is_empty() {
            return None;
        }
        Some(self.tokens[self.successor(token)].1)
    }

    /// The node owning `key`, or `None` on an empty ring.
    pub fn owner(&self, key: &[u8]) -> Option<NodeId> {
        self.owner_of_token(key_token(key))
    }

    /// The first `n` distinct physical nodes met walking clockwise from `key`'s token (fewer if the
    /// ring holds fewer). The first is the key's owner.
    pub fn preference_list(&self, key: &[u8], n: usize) -> Vec<NodeId> {
        self.preference_list_of_token(key_token(key), n)
    }

    /// [`Ring::preference_list`] for a token.
    pub fn preference_list_of_token(&self, token: Token, n: usize) -> Vec<NodeId> {
        let want = n.min(self.nodes.len());
        let mut list = Vec::with_capacity(want);
        if want == 0 {
            return list;
        }
        let start = self.successor(token);
        for step in 0..self.tokens.len() {
            let node = self.tokens[(start + step) % self.tokens.len()].1;
            if !list.contains(&node) {
                list.push(node);
                if list.len() == want {
                    break;
                }
            }
        }
        list
    }

    /// The arcs `node` owns.
    pub fn ranges_of(&self, node: NodeId) -> Vec<TokenRange> {
        let len = self.tokens.len();
        (0..len)
            .filter(|&i| self.tokens[i].1 == node)
            .map(|i| TokenRange {
                start: self.tokens[(i + len - 1) % len].0,
                end: self.tokens[i].0,
            })
            .collect()
    }

    /// The fraction of the ring `node` owns, in `0.0..=1.0`.
    pub fn share(&self, node: NodeId) -> f64 {
        if self.nodes.len() == 1 && self.contains(node) {
            return 1.0;
        }
        self.ranges_of(node).iter().map(TokenRange::fraction).sum()
    }

    /// The arcs whose owner differs between `self` (old) and `new`, adjacent arcs with the same move
    /// merged. Arcs owned by nobody in either ring (an empty ring) are left out.
    pub fn diff(&self, new: &Ring) -> Vec<RangeMove> {
        let mut bounds: Vec<Token> = self
            .tokens
            .iter()
            .chain(new.tokens.iter())
            .map(|&(t, _)| t)
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut moves: Vec<RangeMove> = Vec::new();
        for (i, &end) in bounds.iter().enumerate() {
            let start = bounds[(i + bounds.len() - 1) % bounds.len()];
            let (Some(from), Some(to)) = (self.owner_of_token(end), new.owner_of_token(end)) else {
                continue;
            };
            if from == to {
                continue;
            }
            match moves.last_mut() {
                Some(last) if last.from == from && last.to == to && last.range.end == start => {
                    last.range.end = end;
                }
                _ => moves.push(RangeMove {
                    range: TokenRange { start, end },
                    from,
                    to,
                }),
            }
        }
        moves
    }
}

/// The tokens of two sorted lists, sorted.
fn merge_sorted(a: Vec<(Token, NodeId)>, b: Vec<(Token, NodeId)>) -> Vec<(Token, NodeId)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => return out,
        };
        out.extend(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ring_has_no_owner() {
        let ring = Ring::new(8);
        assert_eq!(ring.owner(b"a"), None);
        assert!(ring.preference_list(b"a", 3).is_empty());
    }

    #[test]
    fn single_node_owns_everything() {
        let ring = Ring::with_nodes(8, [7]);
        assert_eq!(ring.owner(b"anything"), Some(7));
        assert_eq!(ring.share(7), 1.0);
    }

    #[test]
    fn wrapping_range_contains_both_ends() {
        let r = TokenRange {
            start: u64::MAX - 5,
            end: 5,
        };
        assert!(r.contains(u64::MAX));
        assert!(r.contains(0));
        assert!(r.contains(5));
        assert!(!r.contains(6));
        assert!(!r.contains(u64::MAX - 5));
    }

    #[test]
    fn vnode_names_are_the_decimal_text() {
        for (node, vnode) in [(0, 0), (1, 9), (7, 10), (1000, 255), (u32::MAX, u32::MAX)] {
            let text = format!("n{node}v{vnode}");
            assert_eq!(vnode_token(node, vnode), murmur(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn shares_sum_to_one() {
        let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=5);
        let total: f64 = ring.nodes().map(|n| ring.share(n)).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }
}
