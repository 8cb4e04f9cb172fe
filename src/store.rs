//! A node's counters: increment, read, list, merge replica state, take and give key ranges.
//!
//! Plain data, no actors and no I/O. Keys are stored as `Box<str>` next to their counter and
//! nothing else, to keep a key small in memory; the ring token of a key is recomputed (murmur3,
//! ~25 ns) on the rare paths that need it: key moves, repairs, digests.

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

/// The counters held by one node, and the hints it keeps for nodes that are down.
#[derive(Debug, Clone, Default)]
pub struct Store {
    counters: HashMap<Box<str>, Counter>,
    hints: HashMap<NodeId, HashMap<String, Counter>>,
}

/// The ring token of a stored key.
fn token_of(key: &str) -> Token {
    key_token(key.as_bytes())
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
        if let Some(counter) = self.counters.get_mut(key) {
            counter.increment(replica, amount)?;
            return Ok(counter.clone());
        }
        let mut counter = Counter::new();
        counter.increment(replica, amount)?;
        self.counters.insert(key.into(), counter.clone());
        Ok(counter)
    }

    /// The value of `key`, 0 if it was never incremented here.
    pub fn get(&self, key: &str) -> u64 {
        self.counters.get(key).map_or(0, Counter::value)
    }

    /// The full counter state of `key`, if held.
    pub fn counter(&self, key: &str) -> Option<&Counter> {
        self.counters.get(key)
    }

    /// Every `(key, value)` pair, sorted by key.
    pub fn list(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .counters
            .iter()
            .map(|(k, c)| (k.to_string(), c.value()))
            .collect();
        all.sort_unstable();
        all
    }

    /// Merges a replica's state of `entry.key` into this store. Returns whether anything changed.
    pub fn merge(&mut self, entry: &Entry) -> bool {
        if let Some(counter) = self.counters.get_mut(entry.key.as_str()) {
            return counter.merge(&entry.counter);
        }
        self.counters
            .insert(entry.key.as_str().into(), entry.counter.clone());
        true
    }

    /// Removes and returns every key whose token lies in one of `ranges`.
    pub fn take_ranges(&mut self, ranges: &[TokenRange]) -> Vec<Entry> {
        let keys: Vec<Box<str>> = self
            .counters
            .keys()
            .filter(|k| ranges.iter().any(|r| r.contains(token_of(k))))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|key| {
                let counter = self.counters.remove(&key)?;
                Some(Entry {
                    key: key.into_string(),
                    counter,
                })
            })
            .collect()
    }

    /// Removes and returns every key.
    pub fn take_all(&mut self) -> Vec<Entry> {
        self.counters
            .drain()
            .map(|(key, counter)| Entry {
                key: key.into_string(),
                counter,
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
            .filter(|(k, _)| keep(token_of(k)))
            .map(|(key, c)| Entry {
                key: key.to_string(),
                counter: c.clone(),
            })
            .collect()
    }

    /// Drops the entries whose token fails `keep`; returns the keys dropped.
    pub fn retain(&mut self, keep: impl Fn(Token) -> bool) -> Vec<String> {
        let mut dropped = Vec::new();
        self.counters.retain(|key, _| {
            let kept = keep(token_of(key));
            if !kept {
                dropped.push(key.to_string());
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
        for (key, counter) in &self.counters {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            counter.slots().hash(&mut h);
            *out.entry(arc_of(token_of(key))).or_default() ^= h.finish();
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
