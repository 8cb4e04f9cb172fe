//! A node's counters: increment, read, list, merge replica state, take and give key ranges.
//!
//! Plain data, no actors and no I/O. Each entry remembers its key's ring token so that moving the
//! keys of a range never hashes them again.

use std::collections::HashMap;

use crate::counter::Counter;
use crate::error::Result;
use crate::ring::{key_token, NodeId, Token, TokenRange};

/// One key's state as it moves between nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Its counter state.
    pub counter: Counter,
}

#[derive(Debug, Clone)]
struct Slot {
    token: Token,
    counter: Counter,
}

/// The counters held by one node.
#[derive(Debug, Clone, Default)]
pub struct Store {
    counters: HashMap<String, Slot>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store::default()
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.counters.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }

    /// Adds `amount` to `key` in `replica`'s slot and returns the key's new value.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would pass `u64::MAX`; nothing changes then.
    pub fn increment(&mut self, key: &str, replica: NodeId, amount: u64) -> Result<u64> {
        if let Some(slot) = self.counters.get_mut(key) {
            return slot.counter.increment(replica, amount);
        }
        let mut counter = Counter::new();
        let value = counter.increment(replica, amount)?;
        let token = key_token(key.as_bytes());
        self.counters
            .insert(key.to_owned(), Slot { token, counter });
        Ok(value)
    }

    /// The value of `key`, 0 if it was never incremented here.
    pub fn get(&self, key: &str) -> u64 {
        self.counters.get(key).map_or(0, |s| s.counter.value())
    }

    /// The full counter state of `key`, if held.
    pub fn counter(&self, key: &str) -> Option<&Counter> {
        self.counters.get(key).map(|s| &s.counter)
    }

    /// Every `(key, value)` pair, sorted by key.
    pub fn list(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .counters
            .iter()
            .map(|(k, s)| (k.clone(), s.counter.value()))
            .collect();
        all.sort_unstable();
        all
    }

    /// Merges a replica's state of `entry.key` into this store. Returns whether anything changed.
    pub fn merge(&mut self, entry: &Entry) -> bool {
        if let Some(slot) = self.counters.get_mut(&entry.key) {
            return slot.counter.merge(&entry.counter);
        }
        let token = key_token(entry.key.as_bytes());
        self.counters.insert(
            entry.key.clone(),
            Slot {
                token,
                counter: entry.counter.clone(),
            },
        );
        true
    }

    /// Removes and returns every key whose token lies in one of `ranges`.
    pub fn take_ranges(&mut self, ranges: &[TokenRange]) -> Vec<Entry> {
        let keys: Vec<String> = self
            .counters
            .iter()
            .filter(|(_, s)| ranges.iter().any(|r| r.contains(s.token)))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|key| {
                let slot = self.counters.remove(&key)?;
                Some(Entry {
                    key,
                    counter: slot.counter,
                })
            })
            .collect()
    }

    /// Removes and returns every key.
    pub fn take_all(&mut self) -> Vec<Entry> {
        self.counters
            .drain()
            .map(|(key, slot)| Entry {
                key,
                counter: slot.counter,
            })
            .collect()
    }

    /// Merges every entry of `entries` into the store (see [`Store::merge`]).
    pub fn give(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.merge(entry);
        }
    }

    /// Drops every key (a crash loses memory).
    pub fn clear(&mut self) {
        self.counters.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_reads_zero() {
        assert_eq!(Store::new().get("nope"), 0);
    }

    #[test]
    fn take_then_give_keeps_counts() {
        let mut a = Store::new();
        for i in 0..100 {
            a.increment(&format!("k{i}"), 1, i + 1).unwrap();
        }
        let half = TokenRange {
            start: 0,
            end: u64::MAX / 2,
        };
        let moved = a.take_ranges(&[half]);
        let mut b = Store::new();
        b.give(&moved);
        assert_eq!(a.len() + b.len(), 100);
        for i in 0..100u64 {
            let key = format!("k{i}");
            assert_eq!(a.get(&key) + b.get(&key), i + 1);
        }
    }
}
