//! Anti-entropy digests of a store, one per arc of a ring, kept up to date as keys change.
//!
//! The digest of an arc is the XOR of one 64-bit hash per key on it (of the key and its counter's
//! slots), so it does not depend on the order keys were written in and two replicas holding the
//! same states of an arc's keys have the same digest. Computing it from scratch touches every key
//! (a murmur3 of the key, a ring lookup, a hash: about 100 ms per million keys). Instead, once a
//! digest of some ring has been asked for, the store keeps [`Digests`] for that ring: each arc's
//! XOR over the *clean* keys, and one dirty bit per item. The first change of a clean key since
//! the last report takes its hash out of its arc and marks it dirty; later changes of a dirty key
//! cost one bit test. A report ([`Store::digest_step`]) puts the dirty keys' hashes back and
//! clears their bits, so a pass over a million unchanged keys costs a scan of the dirty bits.
//!
//! Items move (a removal puts the last item into the hole, a key moves between the store's two
//! maps): a removed clean item takes its hash out; a moved item takes its bit with it; an inserted
//! item is dirty. A wholesale change (`take_ranges`, `retain`, `take_all`, `clear`) drops the
//! digests; asking for another ring's digests starts afresh with every item dirty. Either way the
//! next report counts every key again, in steps of a bounded number of keys.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use super::cursor::Map;
use super::Store;
use crate::ring::{key_token, Ring, Token};

/// The ring token of `key` and a 64-bit hash of the whole key, from one murmur3 x64-128 when the
/// key has no hash tag (the token is its low half).
fn key_hashes(key: &str) -> (Token, u64) {
    let bytes = key.as_bytes();
    // Reading from an in-memory cursor cannot fail.
    let whole = murmur3::murmur3_x64_128(&mut Cursor::new(bytes), 0).unwrap_or(0);
    let token = if crate::hashtag::hashed_part(bytes).len() == bytes.len() {
        whole as u64
    } else {
        key_token(bytes)
    };
    (token, (whole >> 64) as u64)
}

/// The splitmix64 finalizer: every input bit reaches every output bit.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A key's token and its hash in a digest: the key's hash mixed with each `(replica, p, n)` slot.
pub(super) fn key_digest(
    key: &str,
    slots: impl IntoIterator<Item = (u64, u64, u64)>,
) -> (Token, u64) {
    let (token, mut h) = key_hashes(key);
    for (replica, p, n) in slots {
        h = mix(mix(mix(h ^ replica) ^ p) ^ n);
    }
    (token, h)
}

/// One bit per item of a map.
#[derive(Debug, Clone, Default)]
struct Bits {
    words: Vec<u64>,
    /// How many bits are set.
    set: usize,
}

impl Bits {
    /// The first `len` bits set.
    fn all(len: usize) -> Bits {
        let mut words = vec![u64::MAX; len / 64];
        if !len.is_multiple_of(64) {
            words.push((1u64 << (len % 64)) - 1);
        }
        Bits { words, set: len }
    }

    fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn put(&mut self, i: usize, on: bool) {
        if i / 64 >= self.words.len() {
            self.words.resize(i / 64 + 1, 0);
        }
        let (word, bit) = (&mut self.words[i / 64], 1u64 << (i % 64));
        match (*word & bit != 0, on) {
            (false, true) => self.set += 1,
            (true, false) => self.set -= 1,
            _ => return,
        }
        *word ^= bit;
    }

    /// Clears and returns at most `most` set bits, lowest first.
    fn take(&mut self, most: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for (w, word) in self.words.iter_mut().enumerate() {
            while *word != 0 && out.len() < most {
                let bit = word.trailing_zeros() as usize;
                *word &= *word - 1;
                out.push(w * 64 + bit);
            }
            if out.len() == most {
                break;
            }
        }
        self.set -= out.len();
        out
    }
}

/// The digests of one ring's arcs over the clean keys, and which keys are dirty.
#[derive(Debug, Clone)]
pub(super) struct Digests {
    ring: Arc<Ring>,
    arcs: Vec<u64>,
    single: Bits,
    multi: Bits,
}

impl Digests {
    fn bits(&mut self, map: Map) -> &mut Bits {
        match map {
            Map::Single => &mut self.single,
            Map::Multi => &mut self.multi,
        }
    }

    /// Toggles `hash` in the digest of the arc holding `token`.
    fn flip(&mut self, (token, hash): (Token, u64)) {
        if let Some(d) = self.arcs.get_mut(self.ring.arc_of(token)) {
            *d ^= hash;
        }
    }
}

/// Whether two rings have the same arcs.
fn same_ring(a: &Arc<Ring>, b: &Arc<Ring>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

impl Store {
    /// The token and digest hash of the item at `at` of `map`.
    pub(super) fn item_digest(&self, map: Map, at: usize) -> (Token, u64) {
        match map {
            Map::Single => {
                let item = self.single.item(at);
                let (replica, count) = item.value;
                key_digest(&item.key, [(replica, count, 0)])
            }
            Map::Multi => {
                let item = self.multi.item(at);
                let slots = item.value.slots().iter();
                // A reset's base counts too: marked with a replica no node uses as a slot.
                let base = item
                    .value
                    .base()
                    .iter()
                    .map(|s| (u64::MAX ^ s.replica, s.p, s.n));
                // So does an expiry state: a replica that missed an EXPIRE differs.
                let e = item.value.expiry();
                let expiry = item.value.has_expiry().then_some((
                    u64::MAX ^ e.set.ms ^ u64::from(e.set.tie),
                    e.deadline.map_or(u64::MAX, |d| d),
                    e.fired.ms ^ (u64::from(e.fired.tie) << 32),
                ));
                // So do remembered tokens: the horizon, then each entry, in id order.
                let tokens = item.value.tokens().into_iter().flat_map(|t| {
                    let horizon = std::iter::once((u64::MAX - 1, t.folded_until(), 0));
                    horizon.chain(t.entries().iter().map(|e| {
                        let flags = e.at | (u64::from(e.observed) << 63);
                        (e.id[0] ^ e.id[1].rotate_left(1), e.amount as u64, flags)
                    }))
                });
                let parts = slots.map(|s| (s.replica, s.p, s.n)).chain(base);
                key_digest(&item.key, parts.chain(expiry).chain(tokens))
            }
        }
    }

    /// Before the item at `at` of `map` changes: a clean item's hash leaves its arc's digest.
    pub(super) fn digest_touch(&mut self, map: Map, at: usize) {
        let Some(d) = self.digest.as_deref() else {
            return;
        };
        let clean = !match map {
            Map::Single => d.single.get(at),
            Map::Multi => d.multi.get(at),
        };
        if clean {
            let hash = self.item_digest(map, at);
            if let Some(d) = self.digest.as_deref_mut() {
                d.flip(hash);
                d.bits(map).put(at, true);
            }
        }
    }

    /// Before the item at `at` of `map` is removed: its hash leaves (if clean) and the last item,
    /// which moves to `at`, takes its bit along.
    pub(super) fn digest_removing(&mut self, map: Map, at: usize, len: usize) {
        self.digest_touch(map, at);
        if let Some(d) = self.digest.as_deref_mut() {
            let bits = d.bits(map);
            let last = len.saturating_sub(1);
            let moved = bits.get(last);
            bits.put(last, false);
            bits.put(at, moved && at != last);
        }
    }

    /// After an item was inserted at `at` of `map`: it is dirty (its hash is not in yet).
    pub(super) fn digest_inserted(&mut self, map: Map, at: usize) {
        if let Some(d) = self.digest.as_deref_mut() {
            d.bits(map).put(at, true);
        }
    }

    /// Every item may have moved: the digests are dropped.
    pub(super) fn digest_forget(&mut self) {
        self.digest = None;
    }

    /// Brings the digests of `ring`'s arcs up to date by at most `budget` dirty keys (all that
    /// are left if that is no more than `budget`). Returns each arc's digest (arcs in the ring's
    /// token order, zero ones left out) once every key is counted, else `None`: call again.
    pub fn digest_step(&mut self, ring: &Arc<Ring>, budget: usize) -> Option<HashMap<usize, u64>> {
        if !self
            .digest
            .as_ref()
            .is_some_and(|d| same_ring(&d.ring, ring))
        {
            self.digest = Some(Box::new(Digests {
                ring: ring.clone(),
                arcs: vec![0; ring.arcs().len()],
                single: Bits::all(self.single.len()),
                multi: Bits::all(self.multi.len()),
            }));
        }
        let d = self.digest.as_deref_mut()?;
        let dirty = d.single.set + d.multi.set;
        let most = if dirty <= budget { dirty } else { budget };
        let single = d.single.take(most);
        let multi = d.multi.take(most - single.len());
        let hashes: Vec<(Token, u64)> = (single.iter().map(|&i| self.item_digest(Map::Single, i)))
            .chain(multi.iter().map(|&i| self.item_digest(Map::Multi, i)))
            .collect();
        let d = self.digest.as_deref_mut()?;
        for hash in hashes {
            d.flip(hash);
        }
        (dirty <= budget).then(|| {
            let arcs = d.arcs.iter().copied().enumerate();
            arcs.filter(|&(_, x)| x != 0).collect()
        })
    }

    /// The digest of each arc computed from scratch over every key (`arc_of` maps a token to its
    /// arc): what [`Store::digest_step`] reports, the slow way.
    pub fn digests(&self, arc_of: impl Fn(Token) -> usize) -> HashMap<usize, u64> {
        let mut out: HashMap<usize, u64> = HashMap::new();
        let single = (0..self.single.len()).map(|i| self.item_digest(Map::Single, i));
        let multi = (0..self.multi.len()).map(|i| self.item_digest(Map::Multi, i));
        for (token, hash) in single.chain(multi) {
            *out.entry(arc_of(token)).or_default() ^= hash;
        }
        out.retain(|_, x| *x != 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_ring_token_with_or_without_a_hash_tag() {
        for key in ["a", "key:1", "{user:1}:hits", "{}x", "{a"] {
            assert_eq!(key_hashes(key).0, key_token(key.as_bytes()), "{key}");
        }
        assert_ne!(key_hashes("{u}:a").1, key_hashes("{u}:b").1);
    }

    #[test]
    fn bits_count_and_take_lowest_first() {
        let mut bits = Bits::all(130);
        assert_eq!(bits.set, 130);
        bits.put(5, false);
        bits.put(200, true);
        assert_eq!(bits.take(3), vec![0, 1, 2]);
        assert_eq!(bits.set, 127);
        let rest = bits.take(usize::MAX);
        assert_eq!((rest.len(), rest[2], *rest.last().unwrap()), (127, 6, 200));
        assert_eq!(bits.set, 0);
    }

    #[test]
    fn an_unchanged_store_reports_without_counting_again() {
        let ring = Arc::new(Ring::with_nodes(8, 1..=3));
        let mut store = Store::new();
        for i in 0..1000 {
            store.increment(&format!("k{i}"), 1, 1).unwrap();
        }
        let mut steps = 0;
        let first = loop {
            steps += 1;
            if let Some(d) = store.digest_step(&ring, 100) {
                break d;
            }
        };
        assert_eq!(
            steps, 10,
            "900 keys in 9 steps of 100, the last 100 at once"
        );
        assert_eq!(first, store.digests(|t| ring.arc_of(t)));
        assert_eq!(store.digest_step(&ring, 1), Some(first));
    }
}
