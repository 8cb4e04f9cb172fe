//! Tombstone collection, the store's part: how long each tombstone has been unchanged here, the
//! drop of the ones every replica agreed on, and the slot generation that keeps the increments
//! after a drop from being shadowed by a copy of the dropped tombstone.
//!
//! - **Ages.** [`Store::tomb_step`] visits the next counters of the full-form map (every
//!   tombstone lives there) in bounded steps, as active expiry does, and remembers for each
//!   tombstone the digest hash of its state and when it first saw that state. A tombstone is
//!   *aged* once it has been seen unchanged for the grace period; any change (a merge, an
//!   update) restarts its clock, and a key that is no longer a tombstone is forgotten. Entries of
//!   keys that were not visited in the last whole pass are dropped, so the clock holds only
//!   tombstones the store still holds; forgetting only ever delays a collection.
//! - **Drops.** [`Store::drop_tombstones`] drops a key only if its state here is still exactly the
//!   tombstone the Router agreed on (anything that changed since is kept).
//! - **Generations.** A dropped tombstone still has copies in flight for a while (anti-entropy,
//!   read repair, the replicas whose drop came later). It holds this node's slot with its old
//!   parts: an increment counted from nothing in that same slot would be shadowed by the copy
//!   (merge takes the larger part) and lost. So every drop moves the store to its next slot
//!   *generation* (bits 16 to 31 of the slot id, [`crate::counter::GENERATION_BITS`]): a key this
//!   node creates, or first counts in, afterwards counts in a slot no tombstone it dropped holds.
//!   Keys it already counts keep their slot (a counter's slot of this node is found in any
//!   generation, [`Counter::own_slot`]), so nothing else changes shape or size.

use std::collections::HashMap;

use compact_str::CompactString;

use super::cursor::Map;
use super::{Entry, Store};
use crate::counter::{with_generation, Counter, ReplicaId, GENERATION_BITS};

/// What the store last saw of one tombstone.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The digest hash of its state.
    hash: u64,
    /// When that state was first seen (ms since the epoch).
    since: u64,
    /// The pass of [`Store::tomb_step`] that last visited it.
    pass: u32,
}

/// The tombstone clock and the slot generation of a store.
#[derive(Debug, Clone, Default)]
pub(super) struct Tombs {
    seen: HashMap<CompactString, Seen>,
    /// Where the next step starts in the full-form map.
    next: usize,
    /// Whole passes over the full-form map so far.
    pass: u32,
    /// The slot generation keys created here count in.
    generation: u16,
    /// Where the next search for tokens due to fold starts ([`Store::fold_due_keys`]).
    fold_next: usize,
}

impl Store {
    /// Visits the next `budget` full-form counters (wrapping around) and updates the age of
    /// every tombstone among them (see the module docs).
    pub fn tomb_step(&mut self, budget: usize, now: u64) {
        let len = self.multi.len();
        if len == 0 {
            self.tombs.seen.clear();
            self.tombs.next = 0;
            return;
        }
        for _ in 0..budget.min(len) {
            if self.tombs.next >= len {
                self.tombs.next = 0;
                self.tombs.pass += 1;
                let pass = self.tombs.pass;
                self.tombs.seen.retain(|_, s| s.pass + 1 >= pass);
            }
            let at = self.tombs.next;
            self.tombs.next += 1;
            let item = self.multi.item(at);
            if item.value.present() {
                if !self.tombs.seen.is_empty() {
                    let key = item.key.clone();
                    self.tombs.seen.remove(&key);
                }
                continue;
            }
            let key = item.key.clone();
            let hash = self.item_digest(Map::Multi, at).1;
            let pass = self.tombs.pass;
            let seen = self.tombs.seen.entry(key).or_insert(Seen {
                hash,
                since: now,
                pass,
            });
            if seen.hash != hash {
                (seen.hash, seen.since) = (hash, now);
            }
            seen.pass = pass;
        }
    }

    /// Whether `key` is held here as a tombstone seen unchanged for `grace_ms` at `now`.
    fn aged(&self, key: &str, now: u64, grace_ms: u64) -> bool {
        let Some(seen) = self.tombs.seen.get(key) else {
            return false;
        };
        let Some(at) = self.multi.find(self.hash(key), key) else {
            return false;
        };
        now.saturating_sub(seen.since) >= grace_ms
            && !self.multi.item(at).value.present()
            && self.item_digest(Map::Multi, at).1 == seen.hash
    }

    /// At most `most` tombstones seen unchanged here for `grace_ms` at `now`.
    pub fn aged_tombstones(&self, now: u64, grace_ms: u64, most: usize) -> Vec<Entry> {
        let aged = self
            .tombs
            .seen
            .keys()
            .filter(|k| self.aged(k, now, grace_ms));
        aged.take(most)
            .filter_map(|key| {
                let counter = self.counter(key)?;
                Some(Entry {
                    key: key.to_string(),
                    counter,
                })
            })
            .collect()
    }

    /// The state of `key` here, if held, and whether it is a tombstone seen unchanged for
    /// `grace_ms` at `now`.
    pub fn tombstone_state(&self, key: &str, now: u64, grace_ms: u64) -> Option<(Counter, bool)> {
        let counter = self.counter(key)?;
        Some((counter, self.aged(key, now, grace_ms)))
    }

    /// Drops each of `entries` that is a tombstone held here exactly so, then moves to the next
    /// slot generation if it dropped any; returns the keys dropped. Drops nothing when `replica`
    /// (this node's slot) has no room for generations (an incarnation of 2^16 or more) or the
    /// generations ran out: a later increment could not count in a fresh slot then.
    pub fn drop_tombstones(&mut self, entries: &[Entry], replica: ReplicaId) -> Vec<String> {
        if replica & GENERATION_BITS != 0 || self.tombs.generation == u16::MAX {
            return Vec::new();
        }
        let mut dropped = Vec::new();
        for entry in entries {
            let same = self.counter(&entry.key).as_ref() == Some(&entry.counter);
            if same && !entry.counter.present() && self.remove(&entry.key) {
                self.tombs.seen.remove(entry.key.as_str());
                dropped.push(entry.key.clone());
            }
        }
        if !dropped.is_empty() {
            self.tombs.generation += 1;
        }
        dropped
    }

    /// The slot `replica`'s node counts a key in that holds no slot of it yet: its slot in the
    /// store's current generation.
    pub fn fresh_slot(&self, replica: ReplicaId) -> ReplicaId {
        if replica & GENERATION_BITS != 0 {
            return replica;
        }
        with_generation(replica, self.tombs.generation)
    }

    /// The slot `replica`'s node counts `counter` in: the one it holds of that node incarnation,
    /// else a fresh one.
    pub fn slot_for(&self, counter: &Counter, replica: ReplicaId) -> ReplicaId {
        counter
            .own_slot(replica)
            .unwrap_or_else(|| self.fresh_slot(replica))
    }

    /// How many tombstones the store holds.
    pub fn tombstones(&self) -> usize {
        self.multi.iter().filter(|i| !i.value.present()).count()
    }

    /// How many keys the store holds that are not deleted: [`Store::len`] less the tombstones
    /// (what `status` counts; a deleted key is not shown).
    pub fn live_len(&self) -> usize {
        self.len() - self.tombstones()
    }

    /// Visits the next `budget` full-form counters (wrapping around); returns at most `most` keys
    /// among them whose remembered tokens are due to fold at `now` ([`Counter::fold_due`]).
    pub fn fold_due_keys(
        &mut self,
        now: u64,
        window_ms: u64,
        most: usize,
        budget: usize,
    ) -> Vec<String> {
        let len = self.multi.len();
        let mut due = Vec::new();
        for _ in 0..budget.min(len) {
            if due.len() >= most {
                break;
            }
            let at = self.tombs.fold_next % len;
            self.tombs.fold_next = at + 1;
            let item = self.multi.item(at);
            if item.value.fold_due(now, window_ms) {
                due.push(item.key.to_string());
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::{replica_id, same_owner};

    const GRACE: u64 = 1_000;

    fn deleted(store: &mut Store, key: &str) {
        store.increment(key, replica_id(1, 0), 5).unwrap();
        let mut c = store.counter(key).unwrap();
        c.reset();
        store.merge_counter(key, &c);
    }

    #[test]
    fn a_tombstone_ages_while_unchanged_and_a_change_restarts_its_clock() {
        let mut store = Store::new();
        deleted(&mut store, "a");
        store.increment("live", replica_id(1, 0), -1).unwrap();
        store.tomb_step(100, 1_000);
        assert!(store.aged_tombstones(1_500, GRACE, 10).is_empty());
        store.tomb_step(100, 1_500);
        assert_eq!(store.aged_tombstones(2_000, GRACE, 10).len(), 1);
        assert_eq!(store.tombstones(), 1);
        assert_eq!(
            (store.len(), store.live_len()),
            (2, 1),
            "a tombstone is not a live key"
        );
        // A replica's merge that changes the tombstone (another delete's base) restarts it.
        let mut other = store.counter("a").unwrap();
        other.increment(replica_id(2, 0), 1).unwrap();
        other.reset();
        store.merge_counter("a", &other);
        store.tomb_step(100, 2_000);
        assert!(store.aged_tombstones(2_500, GRACE, 10).is_empty());
        assert_eq!(store.aged_tombstones(3_000, GRACE, 10).len(), 1);
        // An update makes the key exist: no tombstone, no age.
        store.increment("a", replica_id(1, 0), 1).unwrap();
        assert!(store.aged_tombstones(9_000, GRACE, 10).is_empty());
        store.tomb_step(100, 9_000);
        assert!(store.tombs.seen.is_empty());
    }

    #[test]
    fn a_drop_takes_only_the_agreed_state_and_moves_to_a_fresh_generation() {
        let mut store = Store::new();
        deleted(&mut store, "a");
        deleted(&mut store, "b");
        let me = replica_id(1, 0);
        let a = Entry {
            key: "a".into(),
            counter: store.counter("a").unwrap(),
        };
        let mut stale = a.clone();
        stale.key = "b".into();
        stale.counter.increment(replica_id(3, 0), 1).unwrap();
        stale.counter.reset();
        assert_eq!(store.drop_tombstones(&[a.clone(), stale], me), vec!["a"]);
        assert_eq!(store.tombstones(), 1, "b changed (or differs): kept");
        // The next key this node creates counts in a slot no dropped tombstone holds, so a copy
        // of the tombstone that arrives later cannot shadow it.
        let fresh = store.increment("a", me, 2).unwrap();
        let slot = fresh.slots()[0].replica;
        assert!(same_owner(slot, me) && slot != me);
        store.merge_counter("a", &a.counter);
        assert_eq!(
            store.value_of("a"),
            Some(2),
            "the late copy takes nothing away"
        );
        // A key it already counts stays in its slot.
        store.increment("old", me, 1).unwrap();
        let before = store.counter("old").unwrap();
        assert_eq!(before.slots().len(), 1);
        assert!(store
            .drop_tombstones(&[a], replica_id(1, 1 << 16))
            .is_empty());
    }

    #[test]
    fn fold_due_keys_are_found_in_bounded_steps() {
        let mut store = Store::new();
        let window = 1_000;
        for i in 0..10u8 {
            let mut c = Counter::new();
            c.remember_token(crate::counter::tokens::token_id(&[i]), 1, 10)
                .unwrap();
            store.merge_counter(&format!("t{i}"), &c);
        }
        assert!(store.fold_due_keys(1_000, window, 100, 100).is_empty());
        let mut found = Vec::new();
        for _ in 0..5 {
            found.extend(store.fold_due_keys(10_000, window, 100, 2));
        }
        found.sort();
        found.dedup();
        assert_eq!(found.len(), 10);
    }
}
