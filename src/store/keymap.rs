//! A hash map from string keys to values, laid out for memory rather than for generality.
//!
//! Items (key and value) sit densely in [`Chunks`], in no particular order; a hashbrown
//! [`HashTable`] of `u32` item numbers finds them by key. Against a `HashMap<Box<str>, V>` this
//! saves the empty buckets' worth of items (a power-of-two table at load factor 7/8 can be half
//! empty: here an empty bucket costs 5 bytes, not a whole item), the doubling waste of one big
//! array, and, with [`CompactString`], the heap block of every key up to 24 bytes.
//!
//! The index is split into [`SHARDS`] tables by six bits from the middle of the hash (bits the
//! tables use neither for buckets nor for control bytes). A table grows by doubling and rehashes
//! every key it holds at once; one table for a node's keys made that a stall of every connection
//! on the server's one thread (about 100 ms at 300,000 keys, during any load that adds keys).
//! Shards grow one at a time, each with 1/64 of the keys.
//!
//! The map keeps no hasher and no hashes: the caller hashes a key once per operation with the
//! store's [`Hasher`] and hands the hash in. The rare paths that must find an item's bucket without
//! its key at hand (growth of the table, removal, which moves the last item into the hole) hash the
//! item's key again; they take the hasher for that.

use std::hash::BuildHasher;

use compact_str::CompactString;
use hashbrown::HashTable;

use super::chunks::Chunks;

/// The keyed hasher of a store: foldhash with a random seed per process, so that keys chosen by a
/// client cannot be aimed at one bucket.
pub(crate) type Hasher = foldhash::fast::RandomState;

/// The hash of `key` under `hasher`; every hash a [`KeyMap`] sees must come from here.
pub(crate) fn hash_key(hasher: &Hasher, key: &str) -> u64 {
    hasher.hash_one(key)
}

/// One key and its value.
#[derive(Debug, Clone)]
pub(crate) struct Item<V> {
    /// The key: inline up to 24 bytes.
    pub(crate) key: CompactString,
    /// Its value.
    pub(crate) value: V,
}

/// A map from keys to `V`: dense items, and an index of item numbers. Item numbers are stable
/// until the next removal.
#[derive(Debug, Clone)]
pub(crate) struct KeyMap<V> {
    items: Chunks<Item<V>>,
    /// Held inline (2 KiB), so picking a shard costs no pointer to follow.
    index: [HashTable<u32>; SHARDS],
}

/// How many tables the index is split into.
pub(crate) const SHARDS: usize = 64;

/// The table of the index that holds the item whose key hashes to `hash`: bits 40 to 45, which
/// a table uses for neither its bucket (the low bits) nor its control byte (the top seven).
fn shard(hash: u64) -> usize {
    ((hash >> 40) as usize) & (SHARDS - 1)
}

fn empty_index() -> [HashTable<u32>; SHARDS] {
    std::array::from_fn(|_| HashTable::new())
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            items: Chunks::default(),
            index: empty_index(),
        }
    }
}

/// The item number of `at`, as the index stores it.
fn number(at: usize) -> u32 {
    u32::try_from(at).expect("a store holds fewer than 2^32 keys")
}

impl<V> KeyMap<V> {
    /// How many keys the map holds.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the map holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    /// The item at `at`.
    ///
    /// # Panics
    /// If `at` is not an item number (`at >= len`).
    pub(crate) fn item(&self, at: usize) -> &Item<V> {
        self.items.get(at).expect("item number in range")
    }

    /// The value at `at`, mutably.
    ///
    /// # Panics
    /// If `at` is not an item number (`at >= len`).
    pub(crate) fn value_mut(&mut self, at: usize) -> &mut V {
        &mut self.items.get_mut(at).expect("item number in range").value
    }

    /// The item number of `key`, whose hash is `hash`, if held.
    pub(crate) fn find(&self, hash: u64, key: &str) -> Option<usize> {
        let items = &self.items;
        self.index[shard(hash)]
            .find(hash, |&n| {
                items
                    .get(n as usize)
                    .is_some_and(|item| item.key.as_str() == key)
            })
            .map(|&n| n as usize)
    }

    /// Adds `key`, whose hash is `hash`, with `value`; returns its item number. The key must not
    /// be held already.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: CompactString,
        value: V,
        hasher: &Hasher,
    ) -> usize {
        debug_assert!(
            self.find(hash, &key).is_none(),
            "key {key:?} inserted twice"
        );
        let at = self.items.push(Item { key, value });
        let items = &self.items;
        self.index[shard(hash)].insert_unique(hash, number(at), |&n| {
            hash_key(hasher, &items.get(n as usize).expect("indexed item").key)
        });
        at
    }

    /// Removes and returns the item at `at`. The last item moves into its place: its number
    /// becomes `at`.
    ///
    /// # Panics
    /// If `at` is not an item number (`at >= len`).
    pub(crate) fn remove_at(&mut self, at: usize, hasher: &Hasher) -> Item<V> {
        let hash = hash_key(hasher, &self.item(at).key);
        let n = number(at);
        match self.index[shard(hash)].find_entry(hash, |&m| m == n) {
            Ok(bucket) => {
                bucket.remove();
            }
            Err(_) => panic!("item {at} missing from the index"),
        }
        let last = self.items.len() - 1;
        if at != last {
            let hash = hash_key(hasher, &self.item(last).key);
            let last_n = number(last);
            let moved = self.index[shard(hash)]
                .find_mut(hash, |&m| m == last_n)
                .expect("last item in the index");
            *moved = n;
        }
        self.items.swap_remove(at)
    }

    /// Makes room in the index for `additional` more keys without growing it.
    pub(crate) fn reserve(&mut self, additional: usize, hasher: &Hasher) {
        // Keys spread evenly over the shards; a little more each for the unevenness.
        let each = additional / SHARDS + additional / (SHARDS * 8) + 1;
        let items = &self.items;
        for table in &mut self.index {
            table.reserve(each, |&n| {
                hash_key(hasher, &items.get(n as usize).expect("indexed item").key)
            });
        }
    }

    /// The items, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Item<V>> + '_ {
        self.items.iter()
    }

    /// Removes and returns the items for which `take` is true.
    pub(crate) fn extract(
        &mut self,
        mut take: impl FnMut(&Item<V>) -> bool,
        hasher: &Hasher,
    ) -> Vec<Item<V>> {
        let mut taken = Vec::new();
        let mut at = 0;
        while at < self.items.len() {
            if take(self.item(at)) {
                // The last item moves to `at`: look at `at` again.
                taken.push(self.remove_at(at, hasher));
            } else {
                at += 1;
            }
        }
        if !taken.is_empty() {
            self.shrink(hasher);
        }
        taken
    }

    /// Removes and returns every item, and frees the map's memory.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Item<V>> {
        self.index = empty_index();
        self.items.drain()
    }

    /// Gives memory back after many removals: the index once it is mostly empty.
    fn shrink(&mut self, hasher: &Hasher) {
        let items = &self.items;
        for table in &mut self.index {
            if table.capacity() > 4 * table.len() + 64 {
                table.shrink_to_fit(|&n| {
                    hash_key(hasher, &items.get(n as usize).expect("indexed item").key)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_of_one_counter_slot_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Item<(u64, u64)>>(), 40);
    }

    #[test]
    fn insert_find_remove_keeps_numbers_consistent() {
        let hasher = Hasher::default();
        let mut map = KeyMap::default();
        let keys: Vec<String> = (0..5000).map(|i| format!("key:{i}")).collect();
        for (i, key) in keys.iter().enumerate() {
            let at = map.insert(hash_key(&hasher, key), key.into(), i, &hasher);
            assert_eq!(at, i);
        }
        let odd = map.extract(|item| item.value % 2 == 1, &hasher);
        assert_eq!((odd.len(), map.len()), (2500, 2500));
        for (i, key) in keys.iter().enumerate() {
            let found = map.find(hash_key(&hasher, key), key);
            match found {
                Some(at) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(map.item(at).value, i);
                }
                None => assert_eq!(i % 2, 1),
            }
        }
        let at = map.find(hash_key(&hasher, "key:0"), "key:0").unwrap();
        assert_eq!(map.remove_at(at, &hasher).value, 0);
        assert_eq!(map.find(hash_key(&hasher, "key:0"), "key:0"), None);
        assert_eq!(map.drain().count(), 2499);
        assert!(map.is_empty());
    }
}
