//! Pages of a store in key order: the first few keys after a cursor, without copying or sorting
//! the whole store.
//!
//! `status` shows a bounded number of keys per node and `status --all` walks a node's keys page by
//! page; both need "the `limit` smallest keys after `after`" of a store that is a hash table. One
//! pass keeps the best `limit` candidates in a max-heap and compares each key with the heap's
//! largest first, so a key is copied (and the caller's filter, which may hash the key onto the
//! ring, is asked) only when it would enter the page: about `limit * ln(n / limit)` times for `n`
//! keys in random order. Memory is `O(limit)` whatever the store's size.

use std::collections::BinaryHeap;

use super::Store;

/// The best candidates seen so far: at most `limit` `(key, value)` pairs, largest key on top.
struct Best {
    heap: BinaryHeap<(String, i64)>,
    limit: usize,
}

impl Best {
    fn new(limit: usize) -> Self {
        Best {
            heap: BinaryHeap::with_capacity(limit.min(4096)),
            limit,
        }
    }

    /// Whether `key` would enter the page if it passes the filter.
    fn wants(&self, key: &str) -> bool {
        if self.limit == 0 {
            return false;
        }
        self.heap.len() < self.limit || self.heap.peek().is_some_and(|(top, _)| key < top.as_str())
    }

    fn offer(&mut self, key: &str, value: i64) {
        if self.heap.len() == self.limit {
            self.heap.pop();
        }
        self.heap.push((key.to_owned(), value));
    }

    fn into_sorted(self) -> Vec<(String, i64)> {
        self.heap.into_sorted_vec()
    }
}

impl Store {
    /// The at most `limit` smallest `(key, value)` pairs of keys that exist (no tombstones) with a
    /// key greater than `after` (all keys
    /// if `None`) that pass `keep`, sorted by key. `keep` is asked only about keys that would enter
    /// the page, so it may be costly (a ring lookup). Takes one pass over the store.
    pub fn page(
        &self,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Vec<(String, i64)> {
        let mut best = Best::new(limit);
        let after_ok = |key: &str| after.is_none_or(|a| key > a);
        let mut consider = |key: &str, value: i64| {
            if after_ok(key) && best.wants(key) && keep(key) {
                best.offer(key, value);
            }
        };
        for item in self.single.iter() {
            consider(&item.key, super::up_value(item.value.1));
        }
        for item in self.multi.iter() {
            if let Some(value) = item.value.value_if_present() {
                consider(&item.key, value);
            }
        }
        best.into_sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keys: &[&str]) -> Store {
        let mut store = Store::new();
        for (i, key) in keys.iter().enumerate() {
            store.increment(key, 7, i as i64 + 1).unwrap();
        }
        store
    }

    fn keys(page: &[(String, i64)]) -> Vec<&str> {
        page.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn a_page_is_the_smallest_keys_after_the_cursor_in_order() {
        let store = store(&["d", "b", "e", "a", "c"]);
        assert_eq!(keys(&store.page(None, 2, |_| true)), ["a", "b"]);
        assert_eq!(keys(&store.page(Some("b"), 2, |_| true)), ["c", "d"]);
        assert_eq!(keys(&store.page(Some("d"), 2, |_| true)), ["e"]);
        assert!(store.page(Some("e"), 2, |_| true).is_empty());
        assert!(store.page(None, 0, |_| true).is_empty());
        assert_eq!(store.page(None, 9, |_| true)[0], ("a".to_owned(), 4));
    }

    #[test]
    fn the_filter_is_applied_and_pages_cover_every_kept_key_once() {
        let all: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let store = store(&refs);
        let even = |k: &str| k.len().is_multiple_of(2);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.page(after.as_deref(), 7, even);
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            seen.extend(page.into_iter().map(|(k, _)| k));
        }
        let mut expected: Vec<String> = all.into_iter().filter(|k| even(k)).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }
}
