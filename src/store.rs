//! A node's counters: increment, read, list, merge replica state, take and give key ranges.
//!
//! Plain data, no actors and no I/O. Each entry remembers its key's ring token so that moving the
//! keys of a range never hashes them again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::counter::{Counter, ReplicaId};
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

/// The counters held by one node, and the hints it keeps for nodes that are down.
#[derive(Debug, Clone, Default)]
pub struct Store {
    counters: HashMap<String, Slot>,
    hints: HashMap<NodeId, HashMap<String, Counter>>,
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

    /// Adds `amount` to `key` in `replica`'s slot and returns the key's new state.
    ///
    /// # Errors
    /// [`crate::Error::Overflow`] if the value would pass `u64::MAX`; nothing changes then.
    pub fn increment(&mut self, key: &str, replica: ReplicaId, amount: u64) -> Result<Counter> {
        if let Some(slot) = self.counters.get_mut(key) {
            slot.counter.increment(replica, amount)?;
            return Ok(slot.counter.clone());
        }
        let mut counter = Counter::new();
        counter.increment(replica, amount)?;
        let token = key_token(key.as_bytes());
        self.counters.insert(
            key.to_owned(),
            Slot {
                token,
                counter: counter.clone(),
            },
        );
        Ok(counter)
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

    /// Merges every entry; returns how many changed the store.
    pub fn merge_all(&mut self, entries: &[Entry]) -> usize {
        entries.iter().filter(|e| self.merge(e)).count()
    }

    /// Copies of the entries whose token satisfies `keep`.
    pub fn entries_where(&self, keep: impl Fn(Token) -> bool) -> Vec<Entry> {
        self.counters
            .iter()
            .filter(|(_, s)| keep(s.token))
            .map(|(key, s)| Entry {
                key: key.clone(),
                counter: s.counter.clone(),
            })
            .collect()
    }

    /// Drops the entries whose token fails `keep`; returns the keys dropped.
    pub fn retain(&mut self, keep: impl Fn(Token) -> bool) -> Vec<String> {
        let mut dropped = Vec::new();
        self.counters.retain(|key, s| {
            let kept = keep(s.token);
            if !kept {
                dropped.push(key.clone());
            }
            kept
        });
        dropped
    }

    /// Removes `key`; returns whether it was held.
    pub fn remove(&mut self, key: &str) -> bool {
        self.counters.remove(key).is_some()
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

    /// An order-independent digest of the entries of each arc: `arc_of` maps a token to its arc.
    pub fn digests(&self, arc_of: impl Fn(Token) -> usize) -> HashMap<usize, u64> {
        let mut out: HashMap<usize, u64> = HashMap::new();
        for (key, slot) in &self.counters {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            slot.counter.slots().hash(&mut h);
            *out.entry(arc_of(slot.token)).or_default() ^= h.finish();
        }
        out
    }

    /// Drops every key and every hint (a crash loses memory).
    pub fn clear(&mut self) {
        self.counters.clear();
        self.hints.clear();
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
