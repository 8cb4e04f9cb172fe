//! Property tests of the store: random sequences of operations against a plain `BTreeMap` model.
//!
//! The model keeps a full [`Counter`] per key and applies the counter's own rules, as the store
//! did before it was laid out for memory; after every step the store must agree with it on
//! `len`, `get`, `counter`, `list` and `entries_where`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use ringkv::counter::{Counter, ReplicaId};
use ringkv::ring::{key_token, Token, TokenRange};
use ringkv::store::{Entry, Store};
use ringkv::Error;

/// The keys the operations pick from: short ones (inline), long ones (on the heap), the empty key.
fn universe() -> Vec<String> {
    let mut keys: Vec<String> = (0..24).map(|i| format!("key:{i}")).collect();
    keys.push(String::new());
    keys.push("a key that is longer than twenty-four bytes".to_owned());
    keys.push("another key well past the inline limit".to_owned());
    keys.push("é€ unicode".to_owned());
    keys
}

#[derive(Debug, Clone)]
enum Op {
    Increment(usize, ReplicaId, i64),
    IncrementValue(usize, ReplicaId, i64),
    Merge(usize, Vec<(ReplicaId, u64, u64)>),
    Remove(usize),
    TakeRanges(Vec<(Token, Token)>),
    Retain(Token),
    TakeAll,
    Clear,
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..5,
        3 => -4i64..0,
        1 => Just(i64::MAX - 1),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

fn op(keys: usize) -> impl Strategy<Value = Op> {
    let key = 0..keys;
    let replica = 1u64..4;
    let slots = prop::collection::vec(
        (1u64..4, 0u64..8, prop_oneof![3 => Just(0u64), 1 => 0u64..4]),
        0..3,
    );
    prop_oneof![
        10 => (key.clone(), replica.clone(), amount()).prop_map(|(k, r, a)| Op::Increment(k, r, a)),
        10 => (key.clone(), replica, amount()).prop_map(|(k, r, a)| Op::IncrementValue(k, r, a)),
        8 => (key.clone(), slots).prop_map(|(k, s)| Op::Merge(k, s)),
        4 => key.prop_map(Op::Remove),
        1 => prop::collection::vec((any::<u64>(), any::<u64>()), 0..3).prop_map(Op::TakeRanges),
        1 => any::<u64>().prop_map(Op::Retain),
        1 => Just(Op::TakeAll),
        1 => Just(Op::Clear),
    ]
}

/// A counter from arbitrary slots, merged in one by one (so sorted, one per replica).
fn counter_of(slots: &[(ReplicaId, u64, u64)]) -> Counter {
    let mut counter = Counter::new();
    for &(replica, p, n) in slots {
        counter.merge(&Counter::with_parts(replica, p, n));
    }
    counter
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

fn model_entries(model: &BTreeMap<String, Counter>) -> Vec<Entry> {
    model
        .iter()
        .map(|(key, counter)| Entry {
            key: key.clone(),
            counter: counter.clone(),
        })
        .collect()
}

/// The model's increment: the counter's own, on a fresh counter for a new key.
fn model_increment(
    model: &mut BTreeMap<String, Counter>,
    key: &str,
    replica: ReplicaId,
    amount: i64,
) -> Result<Counter, ()> {
    let mut counter = model.get(key).cloned().unwrap_or_default();
    match counter.increment(replica, amount) {
        Ok(_) => {
            model.insert(key.to_owned(), counter.clone());
            Ok(counter)
        }
        Err(_) => Err(()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_store_agrees_with_a_btreemap_model(ops in prop::collection::vec(op(universe().len()), 1..120)) {
        let keys = universe();
        let mut store = Store::new();
        let mut model: BTreeMap<String, Counter> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Increment(k, replica, amount) => {
                    let got = store.increment(&keys[k], replica, amount);
                    let want = model_increment(&mut model, &keys[k], replica, amount);
                    match (got, want) {
                        (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
                        (Err(Error::Overflow), Err(())) => {}
                        (got, want) => prop_assert!(false, "increment: {:?} vs {:?}", got, want),
                    }
                }
                Op::IncrementValue(k, replica, amount) => {
                    let got = store.increment_value(&keys[k], replica, amount);
                    let want = model_increment(&mut model, &keys[k], replica, amount);
                    match (got, want) {
                        (Ok(got), Ok(want)) => prop_assert_eq!(got, want.value()),
                        (Err(Error::Overflow), Err(())) => {}
                        (got, want) => prop_assert!(false, "increment_value: {:?} vs {:?}", got, want),
                    }
                }
                Op::Merge(k, slots) => {
                    let entry = Entry { key: keys[k].clone(), counter: counter_of(&slots) };
                    let want = match model.get_mut(&entry.key) {
                        Some(counter) => counter.merge(&entry.counter),
                        None => {
                            model.insert(entry.key.clone(), entry.counter.clone());
                            true
                        }
                    };
                    prop_assert_eq!(store.merge(&entry), want);
                }
                Op::Remove(k) => {
                    prop_assert_eq!(store.remove(&keys[k]), model.remove(&keys[k]).is_some());
                }
                Op::TakeRanges(bounds) => {
                    let ranges: Vec<TokenRange> =
                        bounds.iter().map(|&(start, end)| TokenRange { start, end }).collect();
                    let inside = |key: &str| {
                        ranges.iter().any(|r| r.contains(key_token(key.as_bytes())))
                    };
                    let (taken, kept): (BTreeMap<_, _>, BTreeMap<_, _>) =
                        model.into_iter().partition(|(key, _)| inside(key));
                    model = kept;
                    prop_assert_eq!(sorted(store.take_ranges(&ranges)), model_entries(&taken));
                }
                Op::Retain(pivot) => {
                    let mut dropped = store.retain(|token| token < pivot);
                    dropped.sort();
                    let (kept, gone): (BTreeMap<_, _>, BTreeMap<_, _>) = model
                        .into_iter()
                        .partition(|(key, _)| key_token(key.as_bytes()) < pivot);
                    model = kept;
                    prop_assert_eq!(dropped, gone.into_keys().collect::<Vec<_>>());
                }
                Op::TakeAll => {
                    prop_assert_eq!(sorted(store.take_all()), model_entries(&model));
                    model.clear();
                }
                Op::Clear => {
                    store.clear();
                    model.clear();
                }
            }
            prop_assert_eq!(store.len(), model.len());
            prop_assert_eq!(store.is_empty(), model.is_empty());
            for key in &keys {
                let want = model.get(key);
                prop_assert_eq!(store.get(key), want.map_or(0, Counter::value));
                prop_assert_eq!(store.counter(key), want.cloned());
            }
            let list: Vec<(String, i64)> =
                model.iter().map(|(k, c)| (k.clone(), c.value())).collect();
            prop_assert_eq!(store.list(), list);
            prop_assert_eq!(sorted(store.entries_where(|_| true)), model_entries(&model));
        }
    }

    #[test]
    fn digests_do_not_depend_on_the_order_of_writes(
        writes in prop::collection::vec((0usize..28, 1u64..4, -4i64..5), 0..60),
    ) {
        let keys = universe();
        let mut forward = Store::new();
        let mut backward = Store::new();
        for &(k, replica, amount) in &writes {
            forward.increment(&keys[k], replica, amount).unwrap();
        }
        for &(k, replica, amount) in writes.iter().rev() {
            backward.increment(&keys[k], replica, amount).unwrap();
        }
        let arc_of = |token: Token| (token % 4) as usize;
        prop_assert_eq!(forward.digests(arc_of), backward.digests(arc_of));
    }
}

/// Many keys, so that items span several chunks and removals move items across them.
#[test]
fn thousands_of_keys_survive_removals_and_moves() {
    let mut store = Store::new();
    let n = 10_000i64;
    for i in 0..n {
        store.increment(&format!("key:{i}"), 1, i + 1).unwrap();
    }
    // Every third key gains a second slot (moves to the full counters).
    for i in (0..n).step_by(3) {
        store.increment(&format!("key:{i}"), 2, 1).unwrap();
    }
    for i in (0..n).step_by(2) {
        assert!(store.remove(&format!("key:{i}")));
    }
    assert_eq!(store.len(), (n / 2) as usize);
    for i in 0..n {
        let extra = i64::from(i % 3 == 0);
        let want = if i % 2 == 0 { 0 } else { i + 1 + extra };
        assert_eq!(store.get(&format!("key:{i}")), want, "key:{i}");
    }
    let half = TokenRange {
        start: 0,
        end: u64::MAX / 2,
    };
    let moved = store.take_ranges(&[half]);
    let mut other = Store::new();
    other.give(&moved);
    assert_eq!(store.len() + other.len(), (n / 2) as usize);
    for i in (1..n).step_by(2) {
        let key = format!("key:{i}");
        let extra = i64::from(i % 3 == 0);
        assert_eq!(store.get(&key) + other.get(&key), i + 1 + extra);
    }
}
