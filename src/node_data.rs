//! One node's data: its store, its replica slot and its log, behind a lock that the node's actor
//! and the direct request path share.
//!
//! Plain data and no actors. Every change goes through [`NodeData`], which notes in a journal what
//! the log must record; [`NodeData::persist`] hands the journal to the log. [`SharedNode`] adds the
//! lock and a `ready` flag: a node that is paused, crashed or stopping is not ready, and the direct
//! path then leaves its keys to the Router, whose calls to the node time out as they should.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::counter::tokens::{Applied, TokenEntry, TokenId};
use crate::counter::{replica_id, same_owner, Counter, ReplicaId, Slot};
use crate::error::Result;
use crate::persist::record::Record;
use crate::persist::{Ack, NodeLog, Opened};
use crate::ring::NodeId;
use crate::store::{Entry, Store, WalkId};

/// A node's counters, hints, incarnation and log.
pub struct NodeData {
    id: NodeId,
    incarnation: u32,
    store: Store,
    /// The node's log, when the cluster has a data directory.
    log: Option<Arc<NodeLog>>,
    /// Records of the changes not yet handed to the log.
    journal: Vec<Record>,
    /// Per key, this node's own slot as it stood in the hints it handed over: a later hinted
    /// increment of the key counts on from there, never from nothing (which would lose the
    /// smaller of the two rounds at merge). A restart counts in a fresh incarnation, so this
    /// need not survive one.
    handed: HashMap<String, Counter>,
}

impl NodeData {
    /// Node `id`, starting from the state read from its log if `restored` is set (and logging to
    /// it), else empty and in memory only.
    pub fn new(id: NodeId, restored: Option<Opened>) -> Self {
        let (store, incarnation, log) = match restored {
            Some(o) => (o.store, o.incarnation, Some(o.log)),
            None => (Store::new(), 0, None),
        };
        NodeData {
            id,
            incarnation,
            store,
            log,
            journal: Vec::new(),
            handed: HashMap::new(),
        }
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The slot this node counts in now.
    pub fn replica(&self) -> ReplicaId {
        replica_id(self.id, self.incarnation)
    }

    /// The node's incarnation (bumped by every crash).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Makes room in the store's index for `additional` more keys (ahead of a copy).
    pub fn reserve(&mut self, additional: usize) {
        self.store.reserve(additional);
    }

    /// The store, to read.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One step of active expiry (see [`Store::expire_step`]) by the wall clock; returns how many
    /// keys expired.
    pub fn expire_step(&mut self, budget: usize) -> usize {
        let now = crate::counter::now_ms();
        self.store.tomb_step(budget, now);
        self.store.expire_step(budget, now)
    }

    /// Drops each of `entries` that is a tombstone held here exactly so (see
    /// [`Store::drop_tombstones`]); the log records each key dropped. Returns how many.
    pub fn drop_tombstones(&mut self, entries: &[Entry]) -> usize {
        let dropped = self.store.drop_tombstones(entries, self.replica());
        let count = dropped.len();
        self.journal.extend(dropped.into_iter().map(Record::Remove));
        count
    }

    /// At most `most` keys whose remembered tokens are due to fold ([`Store::fold_due_keys`]),
    /// visiting at most `budget` counters.
    pub fn fold_due_keys(&mut self, window_ms: u64, most: usize, budget: usize) -> Vec<String> {
        let now = crate::counter::now_ms();
        self.store.fold_due_keys(now, window_ms, most, budget)
    }

    /// The node's log, if it has one.
    pub fn log(&self) -> Option<&Arc<NodeLog>> {
        self.log.as_ref()
    }

    /// Adds `amount` (negative: takes it away) to `key` in this node's slot (in its hints for
    /// `hint_for` if set); returns the key's new state.
    ///
    /// # Errors
    /// Overflow (nothing changes), or the log failed earlier.
    pub fn increment(
        &mut self,
        key: &str,
        amount: i64,
        hint_for: Option<NodeId>,
    ) -> Result<Counter> {
        self.check_log()?;
        let me = self.replica();
        let counter = match hint_for {
            None => self.store.increment(key, me, amount)?,
            Some(node) => {
                let mut counter = self.store.hint(node, key).unwrap_or_default();
                if let Some(own) = self.handed.get(key) {
                    counter.merge(own);
                }
                counter.increment(self.store.slot_for(&counter, me), amount)?;
                let entry = Entry {
                    key: key.to_owned(),
                    counter: counter.clone(),
                };
                self.store.add_hint(node, &entry);
                counter
            }
        };
        self.note(key, &counter, hint_for);
        Ok(counter)
    }

    /// Merges replica states into the store (into the hints for `hint_for` if set); returns how
    /// many changed it.
    ///
    /// # Errors
    /// The log failed earlier.
    pub fn merge(&mut self, entries: Vec<Entry>, hint_for: Option<NodeId>) -> Result<usize> {
        self.check_log()?;
        let mut changed = 0;
        for entry in entries {
            match hint_for {
                None if !self.store.merge(&entry) => continue,
                None => {}
                Some(node) => self.store.add_hint(node, &entry),
            }
            changed += 1;
            if self.log.is_none() {
                continue;
            }
            let state = match hint_for {
                None => self.store.counter(&entry.key),
                Some(node) => self.store.hint(node, &entry.key),
            };
            if let Some(counter) = state {
                self.note(&entry.key, &counter, hint_for);
            }
        }
        Ok(changed)
    }

    /// Merges one replica state of `key` into the store; returns whether it changed.
    ///
    /// # Errors
    /// The log failed earlier.
    pub fn merge_one(&mut self, key: &str, counter: &Counter) -> Result<bool> {
        self.check_log()?;
        let changed = self.store.merge_counter(key, counter);
        if changed && self.log.is_some() {
            if let Some(state) = self.store.counter(key) {
                self.note(key, &state, None);
            }
        }
        Ok(changed)
    }

    /// Adds `amount` to `key` in this node's slot; returns the new value (as
    /// [`NodeData::increment`] without hints, building no counter state unless it is logged).
    ///
    /// # Errors
    /// Overflow (nothing changes), or the log failed earlier.
    pub fn increment_value(&mut self, key: &str, amount: i64) -> Result<i64> {
        if self.log.is_some() {
            return self.increment(key, amount, None).map(|c| c.value());
        }
        let me = self.replica();
        self.store.increment_value(key, me, amount)
    }

    /// Remembers a tokened update `(id, amount, now)` in `key`'s counter in place, unless that
    /// alone is not the update (an entry due to fold with a dedup window of `window_ms`, or
    /// expiry state): then `None` ([`Store::remember_in_place`]). Otherwise returns what it did
    /// and the token's entry as held now.
    ///
    /// # Errors
    /// Overflow (nothing changes), or the log failed earlier.
    pub fn remember_token(
        &mut self,
        key: &str,
        update: (TokenId, i64, u64),
        window_ms: u64,
    ) -> Option<Result<(Applied, TokenEntry)>> {
        if let Err(e) = self.check_log() {
            return Some(Err(e));
        }
        let done = self.store.remember_in_place(key, update, window_ms)?;
        if let Ok((applied, _)) = &done {
            if applied.fresh {
                self.note_state(key);
            }
        }
        Some(done)
    }

    /// Merges one token entry into `key`'s counter ([`Store::merge_token`]); returns whether it
    /// changed.
    ///
    /// # Errors
    /// The log failed earlier.
    pub fn merge_token(&mut self, key: &str, entry: TokenEntry) -> Result<bool> {
        self.check_log()?;
        let changed = self.store.merge_token(key, entry);
        if changed {
            self.note_state(key);
        }
        Ok(changed)
    }

    /// Notes `key`'s state for the log, if there is one.
    fn note_state(&mut self, key: &str) {
        if self.log.is_some() {
            if let Some(state) = self.store.counter(key) {
                self.note(key, &state, None);
            }
        }
    }

    /// The state of `key` (from the hints for `hint_for` if set).
    pub fn read(&self, key: &str, hint_for: Option<NodeId>) -> Option<Counter> {
        match hint_for {
            None => self.store.counter(key),
            Some(node) => self.store.hint(node, key),
        }
    }

    /// Removes and returns the hints kept for `node`.
    pub fn take_hints(&mut self, node: NodeId) -> Vec<Entry> {
        self.journal.push(Record::DropHints(node));
        let taken = self.store.take_hints(node);
        let me = self.replica();
        for entry in &taken {
            let own: Vec<Slot> = entry
                .counter
                .slots()
                .iter()
                .filter(|s| same_owner(s.replica, me))
                .copied()
                .collect();
            if !own.is_empty() {
                let kept = self.handed.entry(entry.key.clone()).or_default();
                kept.merge(&Counter::from_slots(own));
            }
        }
        taken
    }

    /// Drops the entries whose token fails `keep`; returns how many.
    pub fn retain(&mut self, keep: impl Fn(crate::ring::Token) -> bool) -> usize {
        let dropped = self.store.retain(keep);
        let count = dropped.len();
        self.journal.extend(dropped.into_iter().map(Record::Remove));
        count
    }

    /// Opens a walk over the store, for copies and drops in bounded steps ([`Store::walk_start`]).
    pub fn walk_start(&mut self) -> WalkId {
        self.store.walk_start()
    }

    /// Closes a walk.
    pub fn walk_end(&mut self, id: WalkId) {
        self.store.walk_end(id);
    }

    /// One step of a copy walk ([`Store::walk_copy`]).
    pub fn walk_copy(
        &mut self,
        id: WalkId,
        budget: usize,
        keep: impl Fn(crate::ring::Token) -> bool,
        out: &mut Vec<Entry>,
    ) -> Option<bool> {
        self.store.walk_copy(id, budget, keep, out)
    }

    /// One step of bringing the store's digests of `ring`'s arcs up to date
    /// ([`Store::digest_step`]): the digests once every key is counted.
    pub fn digest_step(
        &mut self,
        ring: &Arc<crate::ring::Ring>,
        budget: usize,
    ) -> Option<std::collections::HashMap<usize, u64>> {
        self.store.digest_step(ring, budget)
    }

    /// One step of a drop walk ([`Store::walk_drop`]); the log records each key dropped. Returns
    /// how many were dropped and whether the walk is done (`None`: the walk is not open).
    pub fn walk_drop(
        &mut self,
        id: WalkId,
        budget: usize,
        drop: impl Fn(crate::ring::Token) -> bool,
    ) -> Option<(usize, bool)> {
        let mut dropped = Vec::new();
        let done = self.store.walk_drop(id, budget, drop, &mut dropped);
        let count = dropped.len();
        self.journal.extend(dropped.into_iter().map(Record::Remove));
        done.map(|done| (count, done))
    }

    /// Drops each of `entries` whose token fails `keep` and whose state here is still exactly the
    /// entry's (a copy given to the key's replicas: anything that changed since is kept). Hints
    /// are never touched. Returns how many were dropped.
    pub fn drop_unchanged(
        &mut self,
        entries: &[Entry],
        keep: impl Fn(crate::ring::Token) -> bool,
    ) -> usize {
        let mut dropped = 0;
        for entry in entries {
            let token = crate::ring::key_token(entry.key.as_bytes());
            if keep(token) || self.store.counter(&entry.key).as_ref() != Some(&entry.counter) {
                continue;
            }
            if self.store.remove(&entry.key) {
                self.journal.push(Record::Remove(entry.key.clone()));
                dropped += 1;
            }
        }
        dropped
    }

    /// After a crash: the state read back from the log replaces memory, and what arrived since
    /// the crash is merged on top.
    pub fn restore(&mut self, store: Store, incarnation: u32) {
        let during = std::mem::replace(&mut self.store, store);
        self.store.give(&during.entries_where(|_| true));
        for (node, entry) in during.all_hints() {
            self.store.add_hint(node, &entry);
        }
        self.incarnation = incarnation;
    }

    /// A crash: memory is lost and later increments count in a fresh slot. Returns how many keys
    /// were held.
    pub fn crash(&mut self) -> usize {
        let held = self.store.len();
        self.store.clear();
        self.journal.clear();
        self.incarnation += 1;
        held
    }

    /// Notes a changed state for the log.
    fn note(&mut self, key: &str, counter: &Counter, hint_for: Option<NodeId>) {
        if self.log.is_none() {
            return;
        }
        let entry = Entry {
            key: key.to_owned(),
            counter: counter.clone(),
        };
        self.journal.push(match hint_for {
            None => Record::Put(entry),
            Some(node) => Record::Hint(node, entry),
        });
    }

    fn check_log(&self) -> Result<()> {
        self.log.as_ref().map_or(Ok(()), |log| log.check())
    }

    /// Hands the journal to the log; under `--fsync always` the caller must wait for the returned
    /// ack before answering.
    ///
    /// # Errors
    /// The log failed or is closed.
    pub fn persist(&mut self) -> Result<Option<Ack<()>>> {
        let Some(log) = &self.log else {
            self.journal.clear();
            return Ok(None);
        };
        if self.journal.is_empty() {
            return Ok(None);
        }
        let ack = log.append(&self.journal);
        self.journal.clear();
        log.compact_if_due(&self.store, self.incarnation)?;
        ack
    }
}

/// A node's data behind a lock, and whether the node answers now.
pub struct SharedNode {
    data: Mutex<NodeData>,
    ready: AtomicBool,
}

impl SharedNode {
    /// Shares `data`; the node counts as ready.
    pub fn new(data: NodeData) -> Arc<SharedNode> {
        Arc::new(SharedNode {
            data: Mutex::new(data),
            ready: AtomicBool::new(true),
        })
    }

    /// Locks the data. A panic while it was held does not make it unusable: every change to
    /// the store is complete when its method returns.
    pub fn lock(&self) -> MutexGuard<'_, NodeData> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the node answers requests now (not paused, crashed or stopping).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the node as answering or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loses_memory_and_starts_a_new_slot() {
        let mut node = NodeData::new(2, None);
        let before = node.replica();
        node.increment("a", 5, None).unwrap();
        assert_eq!(node.crash(), 1);
        assert_eq!(node.store().get("a"), 0);
        assert_ne!(node.replica(), before);
        let c = node.increment("a", 1, None).unwrap();
        assert_eq!(c, Counter::with_count(node.replica(), 1));
    }

    #[test]
    fn only_unchanged_copies_outside_keep_are_dropped() {
        let mut data = NodeData::new(1, None);
        data.increment("a", 1, None).unwrap();
        data.increment("b", 1, None).unwrap();
        data.increment("h", 1, Some(2)).unwrap();
        let copies: Vec<Entry> = data.store().entries_where(|_| true);
        data.increment("b", 1, None).unwrap();
        let a = crate::ring::key_token(b"a");
        assert_eq!(
            data.drop_unchanged(&copies, |t| t == a),
            0,
            "a kept, b changed"
        );
        assert_eq!(data.drop_unchanged(&copies, |_| false), 1, "a dropped");
        assert_eq!(data.store().get("a"), 0);
        assert_eq!(data.store().get("b"), 2);
        assert!(data.read("h", Some(2)).is_some(), "hints stay");
    }

    #[test]
    fn merge_one_reports_changes_only() {
        let mut a = NodeData::new(1, None);
        let c = a.increment("k", 3, None).unwrap();
        let mut b = NodeData::new(2, None);
        assert!(b.merge_one("k", &c).unwrap());
        assert!(!b.merge_one("k", &c).unwrap());
        assert_eq!(b.read("k", None).unwrap().value(), 3);
    }

    #[test]
    fn hinted_increments_stay_out_of_the_store() {
        let mut node = NodeData::new(1, None);
        node.increment("k", 2, Some(3)).unwrap();
        assert_eq!(node.store().get("k"), 0);
        assert_eq!(node.read("k", Some(3)).unwrap().value(), 2);
        assert_eq!(node.take_hints(3).len(), 1);
        assert_eq!(node.store().hint_count(), 0);
    }
}
