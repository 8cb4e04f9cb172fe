//! Walks over a store in bounded steps: a cursor over the items of both maps that survives the
//! changes made between steps.
//!
//! A copy or a drop of a node's arcs used to scan the whole store under its lock in one go (about
//! 100 ms per million keys, with every update of the node waiting). A [`WalkId`] names a cursor kept
//! in the store: each step visits at most a given number of items, and the caller lets other work
//! run between steps. Items live densely in [`super::chunks::Chunks`] and are visited by position,
//! first the one-slot map then the full counters. What changes between steps:
//! - an insert appends at the end of a map, past every cursor: it is visited later;
//! - a removal moves the map's last item into the hole. If the hole lies behind a cursor and the
//!   last item ahead of it, that item would never be visited: its key is noted in the walk's
//!   `missed` list, which the next step visits first (by key, in its current state);
//! - a key moving between the maps (a counter gaining or losing slots) is a removal and an insert;
//! - a wholesale change (`take_ranges`, `retain`, `take_all`, `clear`) restarts every walk from the
//!   start: visiting an item twice is harmless to a copy (merges are idempotent) and to a drop.
//!
//! So a walk visits every key held from its start to its end at least once, in the state it has
//! when visited.

use compact_str::CompactString;

use super::keymap::KeyMap;
use super::{Entry, Store};
use crate::ring::Token;

/// Names one walk of a store (see [`Store::walk_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkId(u64);

/// Which of the store's two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Map {
    Single,
    Multi,
}

/// One walk's cursor: the items before `single` and `multi` are visited.
#[derive(Debug, Clone)]
struct Walk {
    id: u64,
    single: usize,
    multi: usize,
    /// Keys moved from ahead of the cursor to behind it, to visit by key.
    missed: Vec<CompactString>,
}

impl Walk {
    fn pos(&mut self, map: Map) -> &mut usize {
        match map {
            Map::Single => &mut self.single,
            Map::Multi => &mut self.multi,
        }
    }
}

/// The open walks of a store.
#[derive(Debug, Clone, Default)]
pub(super) struct Walks {
    next: u64,
    open: Vec<Walk>,
}

impl Walks {
    /// Notes that the item at `at` of `map`, which holds `len` items, is being removed: the last
    /// item moves to `at`. `last_key` gives that item's key if a walk must note it.
    pub(super) fn removing(
        &mut self,
        map: Map,
        at: usize,
        len: usize,
        last_key: impl Fn() -> CompactString,
    ) {
        let last = len.saturating_sub(1);
        for walk in &mut self.open {
            let pos = *walk.pos(map);
            if at < pos && last >= pos && at != last {
                walk.missed.push(last_key());
            }
            *walk.pos(map) = pos.min(last);
        }
    }

    /// Every item may have moved: every walk starts again from the beginning.
    pub(super) fn restart(&mut self) {
        for walk in &mut self.open {
            walk.single = 0;
            walk.multi = 0;
            walk.missed.clear();
        }
    }

    fn get(&mut self, id: WalkId) -> Option<&mut Walk> {
        self.open.iter_mut().find(|w| w.id == id.0)
    }
}

/// The token of the item at `at` of `map`.
fn token_at<V>(map: &KeyMap<V>, at: usize) -> Token {
    super::token_of(&map.item(at).key)
}

impl Store {
    /// Opens a walk over every key held; end it with [`Store::walk_end`].
    pub fn walk_start(&mut self) -> WalkId {
        let id = self.walks.next;
        self.walks.next += 1;
        self.walks.open.push(Walk {
            id,
            single: 0,
            multi: 0,
            missed: Vec::new(),
        });
        WalkId(id)
    }

    /// Closes a walk (a walk not open is ignored).
    pub fn walk_end(&mut self, id: WalkId) {
        self.walks.open.retain(|w| w.id != id.0);
    }

    /// How many walks are open.
    pub fn walks_open(&self) -> usize {
        self.walks.open.len()
    }

    /// One step of walk `id`: visits at most `budget` items (and the keys it missed) and appends a
    /// copy of each whose token passes `keep` to `out`. Returns whether the walk has visited
    /// everything, or `None` if `id` is not open.
    pub fn walk_copy(
        &mut self,
        id: WalkId,
        budget: usize,
        keep: impl Fn(Token) -> bool,
        out: &mut Vec<Entry>,
    ) -> Option<bool> {
        let missed = std::mem::take(&mut self.walks.get(id)?.missed);
        for key in missed {
            if keep(super::token_of(&key)) {
                if let Some(counter) = self.counter(&key) {
                    out.push(Entry {
                        key: key.into_string(),
                        counter,
                    });
                }
            }
        }
        let walk = self.walks.get(id)?;
        let (mut single, mut multi) = (walk.single, walk.multi);
        let mut left = budget.max(1);
        while single < self.single.len() && left > 0 {
            if keep(token_at(&self.single, single)) {
                out.push(super::single_entry(self.single.item(single).clone()));
            }
            single += 1;
            left -= 1;
        }
        while multi < self.multi.len() && left > 0 {
            if keep(token_at(&self.multi, multi)) {
                out.push(super::multi_entry(self.multi.item(multi).clone()));
            }
            multi += 1;
            left -= 1;
        }
        let walk = self.walks.get(id)?;
        (walk.single, walk.multi) = (single, multi);
        Some(self.walk_done(id))
    }

    /// One step of walk `id`: visits at most `budget` items (and the keys it missed) and removes
    /// each whose token passes `drop`, appending its key to `out`. Returns whether the walk has
    /// visited everything, or `None` if `id` is not open.
    pub fn walk_drop(
        &mut self,
        id: WalkId,
        budget: usize,
        drop: impl Fn(Token) -> bool,
        out: &mut Vec<String>,
    ) -> Option<bool> {
        let missed = std::mem::take(&mut self.walks.get(id)?.missed);
        for key in missed {
            if drop(super::token_of(&key)) && self.remove(&key) {
                out.push(key.into_string());
            }
        }
        let mut left = budget.max(1);
        for map in [Map::Single, Map::Multi] {
            while left > 0 {
                let at = *self.walks.get(id)?.pos(map);
                let token = match map {
                    Map::Single if at < self.single.len() => token_at(&self.single, at),
                    Map::Multi if at < self.multi.len() => token_at(&self.multi, at),
                    _ => break,
                };
                left -= 1;
                if drop(token) {
                    // The last item moves to `at`, which stays the cursor: it is looked at next.
                    out.push(self.remove_item(map, at).into_string());
                } else {
                    *self.walks.get(id)?.pos(map) += 1;
                }
            }
        }
        Some(self.walk_done(id))
    }

    /// Whether walk `id` has visited every item and every key it missed.
    fn walk_done(&mut self, id: WalkId) -> bool {
        let (single, multi) = (self.single.len(), self.multi.len());
        self.walks
            .get(id)
            .is_none_or(|w| w.missed.is_empty() && w.single >= single && w.multi >= multi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize) -> Store {
        let mut store = Store::new();
        for i in 0..n {
            store.increment(&format!("k{i}"), 1, 1).unwrap();
        }
        store
    }

    #[test]
    fn a_copy_walk_visits_every_key_despite_removals_and_moves_between_steps() {
        let mut store = filled(10_000);
        let id = store.walk_start();
        let mut out = Vec::new();
        let mut steps = 0;
        while !store.walk_copy(id, 100, |_| true, &mut out).unwrap() {
            steps += 1;
            // Behind the cursor: removals move unvisited last items into visited holes; a second
            // replica's slot moves a key to the full counters.
            store.remove(&format!("k{}", steps * 7));
            store
                .increment(&format!("k{}", steps * 13 % 10_000), 2, 1)
                .unwrap();
        }
        store.walk_end(id);
        let seen: std::collections::HashSet<String> = out.into_iter().map(|e| e.key).collect();
        for (key, _) in store.list() {
            assert!(seen.contains(&key), "{key} was never visited");
        }
        assert_eq!(store.walks_open(), 0);
    }

    #[test]
    fn a_drop_walk_drops_exactly_the_chosen_keys() {
        let mut store = filled(5_000);
        store.increment("k3", 9, -1).unwrap();
        let half = |t: Token| t < u64::MAX / 2;
        let id = store.walk_start();
        let mut dropped = Vec::new();
        while !store.walk_drop(id, 64, half, &mut dropped).unwrap() {
            store.increment("new-key", 1, 1).unwrap();
        }
        store.walk_end(id);
        assert!(store
            .list()
            .iter()
            .all(|(k, _)| !half(super::super::token_of(k))));
        assert_eq!(store.len() + dropped.len(), 5_001);
    }
}
