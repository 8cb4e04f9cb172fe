//! Bulk work on a store: visiting every key in place, copying nothing (what a snapshot written
//! straight to a file needs: copies of every entry first would double the store in memory), and
//! making room for a load of many keys at once (a log replayed at start).

use super::Store;
use crate::counter::Counter;

impl Store {
    /// Calls `visit` with every key and its counter state, in no particular order, until it fails;
    /// returns its first error. A one-slot counter is built on the stack for the call; nothing is
    /// allocated.
    ///
    /// # Errors
    /// The first error `visit` returns (the keys after it are not visited).
    pub(crate) fn try_for_each<E>(
        &self,
        mut visit: impl FnMut(&str, &Counter) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        for item in self.single.iter() {
            let (replica, count) = item.value;
            visit(&item.key, &Counter::with_count(replica, count))?;
        }
        for item in self.multi.iter() {
            visit(&item.key, &item.value)?;
        }
        Ok(())
    }

    /// Makes room for about `additional` more keys of one slot, so that loading them does not
    /// grow (and rehash) the index step by step.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.single.reserve(additional, &self.hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_visited_once_with_its_state_and_an_error_stops_the_visit() {
        let mut store = Store::new();
        for i in 0..100 {
            store.increment(&format!("k{i}"), 1, i + 1).unwrap();
        }
        store.increment("k5", 2, 1).unwrap();
        store.increment("k6", 1, -10).unwrap();
        let mut seen = Vec::new();
        store
            .try_for_each(|key, counter| {
                assert_eq!(store.counter(key).as_ref(), Some(counter));
                seen.push(key.to_owned());
                Ok::<_, ()>(())
            })
            .unwrap();
        seen.sort();
        let mut want: Vec<String> = store.list().into_iter().map(|(k, _)| k).collect();
        want.sort();
        assert_eq!(seen, want);
        let mut calls = 0;
        let stopped = store.try_for_each(|_, _| {
            calls += 1;
            if calls == 3 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, calls), (Err("stop"), 3));
    }

    #[test]
    fn reserved_room_changes_nothing_but_the_room() {
        let mut store = Store::new();
        store.increment("a", 1, 2).unwrap();
        store.reserve(10_000);
        for i in 0..10_000 {
            store.increment(&format!("k{i}"), 1, 1).unwrap();
        }
        assert_eq!(
            (store.len(), store.get("a"), store.get("k9999")),
            (10_001, 2, 1)
        );
    }
}
