//! A node's counters: increment, read, list, merge replica state, take and give key ranges.
//!
//! Plain data, no actors and no I/O. Built for memory: a key costs about 48 bytes when its counter
//! has one slot that never counted down, as nearly every counter does (one replica counts a key
//! unless a node restarted or a write failed over). Such keys live in a `KeyMap` of
//! `(replica, count)`: 40 bytes per item with the key inline, plus the index. The other counters
//! (no slot, several, or a slot with decrements) live in a second `KeyMap` of full [`Counter`]s; a
//! key moves between the two when its shape changes.
//!
//! A key held here exists (as in Redis, a counter updated by 0 exists and reads 0) unless its
//! counter is a tombstone: deleted, and not written since ([`Counter::present`]). A tombstone is
//! held (in the full-counter map) so that a replica that missed the delete cannot bring the old
//! count back, but it is left out of reads, lists, pages and counts. A key not held reads 0.
//! The ring token of a key is not kept: it is recomputed (murmur3, ~25 ns) on the rare paths that
//! need it: key moves, repairs, digests.

mod bulk;
mod chunks;
mod cursor;
mod digest;
mod expiry;
mod keymap;
mod page;
mod tokened;
mod tombs;

use std::collections::HashMap;

use compact_str::CompactString;

use self::cursor::{Map, Walks};
use self::keymap::{hash_key, Hasher, Item, KeyMap};
use crate::counter::{same_owner, Counter, ReplicaId};
use crate::error::{Error, Result};
use crate::ring::{key_token, NodeId, Token, TokenRange};

pub use self::cursor::WalkId;

/// One key's state as it moves between nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Its counter state.
    pub counter: Counter,
}

/// The one slot of a counter that has exactly one and never counted down: `(replica, count)`.
type Slot = (ReplicaId, u64);

/// The counters held by one node, and the hints it keeps for nodes that are down.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Hashes every key, for both maps: a key is hashed once per call.
    hasher: Hasher,
    /// The keys whose counter has exactly one slot, with no decrement.
    single: KeyMap<Slot>,
    /// The other keys: counters with no slot (merged in empty), with several, or with decrements.
    multi: KeyMap<Counter>,
    hints: HashMap<NodeId, HashMap<String, Counter>>,
    /// The cursors of the walks under way ([`Store::walk_start`]).
    walks: Walks,
    /// The anti-entropy digests kept up to date, once asked for ([`Store::digest_step`]).
    digest: Option<Box<digest::Digests>>,
    /// Where the next active expiry step starts in `multi` ([`Store::expire_step`]).
    expire_next: usize,
    /// How long each tombstone has been unchanged, and the slot generation ([`tombs`]).
    tombs: tombs::Tombs,
}

/// Where a key is held: its item number in [`Store::single`] or in [`Store::multi`].
#[derive(Debug, Clone, Copy)]
enum At {
    Single(usize),
    Multi(usize),
}

/// The ring token of a stored key.
fn token_of(key: &str) -> Token {
    key_token(key.as_bytes())
}

/// The value of a one-slot counter that added `count` (saturated: a log written before counters
/// were signed may hold counts past `i64::MAX`).
fn up_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The entry of a one-slot item.
fn single_entry(item: Item<Slot>) -> Entry {
    let (replica, count) = item.value;
    Entry {
        key: item.key.into_string(),
        counter: Counter::with_count(replica, count),
    }
}

/// The entry of a full-counter item.
fn multi_entry(item: Item<Counter>) -> Entry {
    Entry {
        key: item.key.into_string(),
        counter: item.value,
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store::default()
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.single.len() + self.multi.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.single.is_empty() && self.multi.is_empty()
    }

    /// The hash of `key` for both maps.
    fn hash(&self, key: &str) -> u64 {
        hash_key(&self.hasher, key)
    }

    /// Where `key`, whose hash is `hash`, is held.
    fn find(&self, hash: u64, key: &str) -> Option<At> {
        if let Some(at) = self.single.find(hash, key) {
            return Some(At::Single(at));
        }
        if self.multi.is_empty() {
            return None;
        }
        self.multi.find(hash, key).map(At::Multi)
    }

    /// Adds a key that is not held, in the map its number of slots calls for.
    fn insert(&mut self, hash: u64, key: CompactString, counter: Counter) -> At {
        match counter.single_up() {
            Some(slot) => self.put_single(hash, key, slot),
            None => self.put_multi(hash, key, counter),
        }
    }

    /// Adds a one-slot key that is not held.
    fn put_single(&mut self, hash: u64, key: CompactString, slot: Slot) -> At {
        let at = self.single.insert(hash, key, slot, &self.hasher);
        self.digest_inserted(Map::Single, at);
        At::Single(at)
    }

    /// Adds a full-counter key that is not held.
    fn put_multi(&mut self, hash: u64, key: CompactString, counter: Counter) -> At {
        let at = self.multi.insert(hash, key, counter, &self.hasher);
        self.digest_inserted(Map::Multi, at);
        At::Multi(at)
    }

    /// Removes and returns the one-slot item at `at`, telling the walks under way.
    fn take_single(&mut self, at: usize) -> Item<Slot> {
        let single = &self.single;
        let last = || single.item(single.len() - 1).key.clone();
        self.walks.removing(Map::Single, at, single.len(), last);
        self.digest_removing(Map::Single, at, self.single.len());
        self.single.remove_at(at, &self.hasher)
    }

    /// Removes and returns the full-counter item at `at`, telling the walks under way.
    fn take_multi(&mut self, at: usize) -> Item<Counter> {
        let multi = &self.multi;
        let last = || multi.item(multi.len() - 1).key.clone();
        self.walks.removing(Map::Multi, at, multi.len(), last);
        self.digest_removing(Map::Multi, at, self.multi.len());
        self.multi.remove_at(at, &self.hasher)
    }

    /// Removes the item at `at` of `map`; returns its key.
    fn remove_item(&mut self, map: Map, at: usize) -> CompactString {
        match map {
            Map::Single => self.take_single(at).key,
            Map::Multi => self.take_multi(at).key,
        }
    }

    /// Moves the one-slot key at `at` to the full counters, as `counter` (which has gained a
    /// slot or a decrement); returns where the key is held now.
    fn promote(&mut self, hash: u64, at: usize, counter: Counter) -> At {
        let item = self.take_single(at);
        self.put_multi(hash, item.key, counter)
    }

    /// Moves the key at `at` in the full counters to the one-slot keys if its counter has one slot
    /// with no decrement (it had none before); returns where the key is held now.
    fn settle(&mut self, hash: u64, at: usize) -> At {
        if let Some(slot) = self.multi.item(at).value.single_up() {
            let item = self.take_multi(at);
            return self.put_single(hash, item.key, slot);
        }
        At::Multi(at)
    }

    /// The counter held at `at`.
    fn counter_at(&self, at: At) -> Counter {
        match at {
            At::Single(at) => {
                let (replica, count) = self.single.item(at).value;
                Counter::with_count(replica, count)
            }
            At::Multi(at) => self.multi.item(at).value.clone(),
        }
    }

    /// Adds `amount` to `key` in `replica`'s slot (the one the key holds of `replica`'s node
    /// incarnation, else a fresh one: [`Store::slot_for`]); returns where the key is held and its
    /// new value.
    fn add(&mut self, key: &str, replica: ReplicaId, amount: i64) -> Result<(At, i64)> {
        let hash = self.hash(key);
        let fresh = self.fresh_slot(replica);
        match self.find(hash, key) {
            Some(At::Single(at)) => {
                self.digest_touch(Map::Single, at);
                let slot = self.single.value_mut(at);
                if same_owner(slot.0, replica) && amount >= 0 {
                    let sum = slot.1.checked_add(amount as u64);
                    let value = sum.and_then(|s| i64::try_from(s).ok());
                    let value = value.ok_or(Error::Overflow)?;
                    slot.1 = value as u64;
                    return Ok((At::Single(at), value));
                }
                let own = if same_owner(slot.0, replica) {
                    slot.0
                } else {
                    fresh
                };
                let mut counter = Counter::with_count(slot.0, slot.1);
                let value = counter.increment(own, amount)?;
                Ok((self.promote(hash, at, counter), value))
            }
            Some(At::Multi(at)) => {
                self.digest_touch(Map::Multi, at);
                let counter = self.multi.value_mut(at);
                let own = counter.own_slot(replica).unwrap_or(fresh);
                let value = counter.increment(own, amount)?;
                Ok((self.settle(hash, at), value))
            }
            // A new key counted up is one slot, this node's slot of its current generation: no
            // counter to build (it is what the counter below would settle to).
            None if amount > 0 => Ok((
                self.put_single(hash, key.into(), (fresh, amount as u64)),
                amount,
            )),
            None => {
                let mut counter = Counter::new();
                let value = counter.increment(fresh, amount)?;
                Ok((self.insert(hash, key.into(), counter), value))
            }
        }
    }

    /// Adds `amount` (negative: takes it away) to `key` in `replica`'s slot and returns the key's
    /// new state. An amount of 0 creates the key.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would leave `i64`; nothing changes then.
    pub fn increment(&mut self, key: &str, replica: ReplicaId, amount: i64) -> Result<Counter> {
        let (at, _) = self.add(key, replica, amount)?;
        Ok(self.counter_at(at))
    }

    /// Adds `amount` to `key` in `replica`'s slot and returns the key's new value: as
    /// [`Store::increment`], without building the counter.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would leave `i64`; nothing changes then.
    pub fn increment_value(&mut self, key: &str, replica: ReplicaId, amount: i64) -> Result<i64> {
        self.add(key, replica, amount).map(|(_, value)| value)
    }

    /// The value of `key`, 0 if it is not held here.
    pub fn get(&self, key: &str) -> i64 {
        self.value_of(key).unwrap_or(0)
    }

    /// The value of `key` if it exists here (held, and not a tombstone), else `None`.
    pub fn value_of(&self, key: &str) -> Option<i64> {
        match self.find(self.hash(key), key)? {
            At::Single(at) => Some(up_value(self.single.item(at).value.1)),
            At::Multi(at) => self.multi.item(at).value.value_if_present(),
        }
    }

    /// The full counter state of `key`, if held.
    pub fn counter(&self, key: &str) -> Option<Counter> {
        self.find(self.hash(key), key).map(|at| self.counter_at(at))
    }

    /// Every `(key, value)` pair of a key that exists (no tombstone), sorted by key.
    pub fn list(&self) -> Vec<(String, i64)> {
        let single = self
            .single
            .iter()
            .map(|i| (i.key.to_string(), up_value(i.value.1)));
        let multi = self
            .multi
            .iter()
            .filter_map(|i| Some((i.key.to_string(), i.value.value_if_present()?)));
        let mut all: Vec<(String, i64)> = single.chain(multi).collect();
        all.sort_unstable();
        all
    }

    /// Merges a replica's state of `entry.key` into this store. Returns whether anything changed.
    pub fn merge(&mut self, entry: &Entry) -> bool {
        self.merge_counter(&entry.key, &entry.counter)
    }

    /// Merges a replica's state `theirs` of `key` into this store. Returns whether anything
    /// changed.
    pub fn merge_counter(&mut self, key: &str, theirs: &Counter) -> bool {
        let hash = self.hash(key);
        match self.find(hash, key) {
            Some(At::Single(at)) => {
                self.digest_touch(Map::Single, at);
                let slot = self.single.value_mut(at);
                if let Some((replica, count)) = theirs.single_up() {
                    if replica == slot.0 {
                        let changed = count > slot.1;
                        slot.1 = slot.1.max(count);
                        return changed;
                    }
                }
                let mut counter = Counter::with_count(slot.0, slot.1);
                if !counter.merge(theirs) {
                    return false;
                }
                match counter.single_up() {
                    // Only from a malformed entry (one replica twice): still one slot.
                    Some(one) => *slot = one,
                    None => {
                        self.promote(hash, at, counter);
                    }
                }
                true
            }
            Some(At::Multi(at)) => {
                self.digest_touch(Map::Multi, at);
                let changed = self.multi.value_mut(at).merge(theirs);
                self.settle(hash, at);
                changed
            }
            None => {
                match theirs.single_up() {
                    Some(slot) => self.put_single(hash, key.into(), slot),
                    None => self.put_multi(hash, key.into(), theirs.clone()),
                };
                true
            }
        }
    }

    /// Removes and returns every key whose token lies in one of `ranges`.
    pub fn take_ranges(&mut self, ranges: &[TokenRange]) -> Vec<Entry> {
        let moves = |key: &CompactString| {
            let token = token_of(key);
            ranges.iter().any(|r| r.contains(token))
        };
        self.walks.restart();
        self.digest_forget();
        let single = self.single.extract(|i| moves(&i.key), &self.hasher);
        let multi = self.multi.extract(|i| moves(&i.key), &self.hasher);
        let single = single.into_iter().map(single_entry);
        single.chain(multi.into_iter().map(multi_entry)).collect()
    }

    /// Removes and returns every key.
    pub fn take_all(&mut self) -> Vec<Entry> {
        self.walks.restart();
        self.digest_forget();
        let single = self.single.drain().map(single_entry);
        let multi = self.multi.drain().map(multi_entry);
        single.chain(multi).collect()
    }

    /// Merges every entry of `entries` into the store (see [`Store::merge`]).
    pub fn give(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.merge(entry);
        }
    }

    /// Merges every entry; returns how many changed the store.
    pub fn merge_all(&mut self, entries: &[Entry]) -> usize {
        entries.iter().filter(|e| self.merge(e)).count()
    }

    /// How many keys that exist (no tombstones) have a token that satisfies `keep` (copying
    /// nothing).
    pub fn count_where(&self, keep: impl Fn(Token) -> bool) -> usize {
        let single = self.single.iter().filter(|i| keep(token_of(&i.key)));
        let multi = self
            .multi
            .iter()
            .filter(|i| i.value.present() && keep(token_of(&i.key)));
        single.count() + multi.count()
    }

    /// Copies of the entries whose token satisfies `keep`.
    pub fn entries_where(&self, keep: impl Fn(Token) -> bool) -> Vec<Entry> {
        let single = self
            .single
            .iter()
            .filter(|i| keep(token_of(&i.key)))
            .map(|i| single_entry(i.clone()));
        let multi = self
            .multi
            .iter()
            .filter(|i| keep(token_of(&i.key)))
            .map(|i| multi_entry(i.clone()));
        single.chain(multi).collect()
    }

    /// Drops the entries whose token fails `keep`; returns the keys dropped.
    pub fn retain(&mut self, keep: impl Fn(Token) -> bool) -> Vec<String> {
        self.walks.restart();
        self.digest_forget();
        let single = self
            .single
            .extract(|i| !keep(token_of(&i.key)), &self.hasher);
        let multi = self
            .multi
            .extract(|i| !keep(token_of(&i.key)), &self.hasher);
        let single = single.into_iter().map(|i| i.key.into_string());
        single
            .chain(multi.into_iter().map(|i| i.key.into_string()))
            .collect()
    }

    /// Removes `key`; returns whether it was held.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.find(self.hash(key), key) {
            Some(At::Single(at)) => {
                self.take_single(at);
                true
            }
            Some(At::Multi(at)) => {
                self.take_multi(at);
                true
            }
            None => false,
        }
    }

    /// Copies of every hint, with the node each is kept for.
    pub fn all_hints(&self) -> Vec<(NodeId, Entry)> {
        self.hints
            .iter()
            .flat_map(|(&node, hints)| {
                hints.iter().map(move |(key, counter)| {
                    let entry = Entry {
                        key: key.clone(),
                        counter: counter.clone(),
                    };
                    (node, entry)
                })
            })
            .collect()
    }

    /// Keeps `entry` on behalf of `node`, which is down (a hinted write).
    pub fn add_hint(&mut self, node: NodeId, entry: &Entry) {
        let hints = self.hints.entry(node).or_default();
        match hints.get_mut(&entry.key) {
            Some(counter) => {
                counter.merge(&entry.counter);
            }
            None => {
                hints.insert(entry.key.clone(), entry.counter.clone());
            }
        }
    }

    /// The hinted state of `key` kept for `node`, if any.
    pub fn hint(&self, node: NodeId, key: &str) -> Option<Counter> {
        self.hints.get(&node).and_then(|h| h.get(key)).cloned()
    }

    /// Removes and returns the hints kept for `node`.
    pub fn take_hints(&mut self, node: NodeId) -> Vec<Entry> {
        self.hints
            .remove(&node)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, counter)| Entry { key, counter })
            .collect()
    }

    /// How many hints the store keeps, for all nodes together.
    pub fn hint_count(&self) -> usize {
        self.hints.values().map(HashMap::len).sum()
    }

    /// Drops every key and every hint (a crash loses memory), and frees their memory.
    pub fn clear(&mut self) {
        self.walks.restart();
        self.digest_forget();
        self.single = KeyMap::default();
        self.multi = KeyMap::default();
        self.hints.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_reads_zero() {
        assert_eq!(Store::new().get("nope"), 0);
        assert_eq!(Store::new().value_of("nope"), None);
    }

    #[test]
    fn an_update_by_zero_creates_the_key_and_a_decrement_moves_it() {
        let mut store = Store::new();
        assert_eq!(store.increment_value("z", 1, 0).unwrap(), 0);
        assert_eq!(store.value_of("z"), Some(0));
        assert_eq!(store.list(), vec![("z".to_owned(), 0)]);
        assert_eq!(store.increment_value("z", 1, -4).unwrap(), -4);
        assert_eq!((store.single.len(), store.multi.len()), (0, 1));
        assert_eq!(store.get("z"), -4);
        assert!(matches!(
            store.increment_value("z", 1, i64::MIN),
            Err(Error::Overflow)
        ));
        assert_eq!(store.get("z"), -4);
        store.increment_value("u", 1, i64::MAX).unwrap();
        assert!(matches!(
            store.increment_value("u", 1, 1),
            Err(Error::Overflow)
        ));
        assert_eq!(store.get("u"), i64::MAX);
    }

    #[test]
    fn a_counter_moves_between_the_maps_with_its_slots() {
        let mut store = Store::new();
        store.merge(&Entry {
            key: "k".into(),
            counter: Counter::new(),
        });
        assert_eq!((store.single.len(), store.multi.len()), (0, 1));
        assert_eq!(store.increment_value("k", 1, 2).unwrap(), 2);
        assert_eq!((store.single.len(), store.multi.len()), (1, 0));
        let slots = store.increment("k", 2, 3).unwrap();
        let parts: Vec<_> = slots.slots().iter().map(|s| (s.replica, s.p)).collect();
        assert_eq!(parts, [(1, 2), (2, 3)]);
        assert_eq!((store.single.len(), store.multi.len()), (0, 1));
        assert_eq!(store.get("k"), 5);
    }

    #[test]
    fn a_malformed_entry_with_one_replica_twice_still_merges() {
        let config = bincode::config::standard();
        let slots: Vec<(ReplicaId, u64, u64)> = vec![(2, 5, 0), (2, 7, 0)];
        let base: Vec<(ReplicaId, u64, u64)> = Vec::new();
        let (expiry, tokens): (Option<()>, Option<()>) = (None, None);
        let bytes = bincode::serde::encode_to_vec((&slots, &base, expiry, tokens), config).unwrap();
        let (counter, _): (Counter, _) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        let mut store = Store::new();
        store.increment("k", 1, 1).unwrap();
        store.increment("j", 2, 1).unwrap();
        let entry = |key: &str| Entry {
            key: key.into(),
            counter: counter.clone(),
        };
        assert!(store.merge(&entry("k")));
        assert!(store.merge(&entry("j")));
        assert_eq!((store.get("k"), store.get("j")), (8, 7));
        assert_eq!((store.single.len(), store.multi.len()), (1, 1));
        assert_eq!(store.counter("j"), Some(Counter::with_count(2, 7)));
    }

    #[test]
    fn take_then_give_keeps_counts() {
        let mut a = Store::new();
        for i in 0..100 {
            a.increment(&format!("k{i}"), 1, i + 1).unwrap();
        }
        a.increment("k7", 2, -3).unwrap();
        let half = TokenRange {
            start: 0,
            end: u64::MAX / 2,
        };
        let moved = a.take_ranges(&[half]);
        let mut b = Store::new();
        b.give(&moved);
        assert_eq!(a.len() + b.len(), 100);
        for i in 0..100i64 {
            let key = format!("k{i}");
            let expected = if i == 7 { i + 1 - 3 } else { i + 1 };
            assert_eq!(a.get(&key) + b.get(&key), expected);
        }
    }
}
