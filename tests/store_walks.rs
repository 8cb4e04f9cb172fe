//! Property tests of the store's walks (copies and drops in bounded steps) and of the anti-entropy
//! digests it keeps up to date, under random changes made between steps.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use ringkv::counter::{Counter, ReplicaId};
use ringkv::ring::{key_token, Ring, Token, TokenRange};
use ringkv::store::{Entry, Store};

/// Enough keys that removals move items around; a long one and a hash-tagged one among them.
fn universe() -> Vec<String> {
    let mut keys: Vec<String> = (0..40).map(|i| format!("key:{i}")).collect();
    keys.push("a key that is longer than twenty-four bytes".to_owned());
    keys.push("{user:1}:hits".to_owned());
    keys
}

#[derive(Debug, Clone)]
enum Op {
    Increment(usize, ReplicaId, i64),
    Merge(usize, Vec<(ReplicaId, u64, u64)>),
    Remove(usize),
    TakeRanges(Token, Token),
    /// A step of the walk (or of the digests) with this budget.
    Step(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..universe().len();
    let slots = prop::collection::vec(
        (1u64..4, 0u64..8, prop_oneof![3 => Just(0u64), 1 => 0u64..4]),
        0..3,
    );
    prop_oneof![
        10 => (key.clone(), 1u64..4, -3i64..5).prop_map(|(k, r, a)| Op::Increment(k, r, a)),
        6 => (key.clone(), slots).prop_map(|(k, s)| Op::Merge(k, s)),
        4 => key.prop_map(Op::Remove),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Op::TakeRanges(a, b)),
        8 => (1usize..6).prop_map(Op::Step),
    ]
}

fn counter_of(slots: &[(ReplicaId, u64, u64)]) -> Counter {
    let mut counter = Counter::new();
    for &(replica, p, n) in slots {
        counter.merge(&Counter::with_parts(replica, p, n));
    }
    counter
}

/// Applies a change (not a step); returns the key it removed, if any.
fn apply(store: &mut Store, keys: &[String], op: &Op) -> Vec<String> {
    match op {
        Op::Increment(k, replica, amount) => {
            let _ = store.increment(&keys[*k], *replica, *amount);
            Vec::new()
        }
        Op::Merge(k, slots) => {
            store.merge(&Entry {
                key: keys[*k].clone(),
                counter: counter_of(slots),
            });
            Vec::new()
        }
        Op::Remove(k) => {
            store.remove(&keys[*k]);
            vec![keys[*k].clone()]
        }
        Op::TakeRanges(start, end) => {
            let range = TokenRange {
                start: *start,
                end: *end,
            };
            store
                .take_ranges(&[range])
                .into_iter()
                .map(|e| e.key)
                .collect()
        }
        Op::Step(_) => Vec::new(),
    }
}

fn filled(keys: &[String], n: usize) -> Store {
    let mut store = Store::new();
    for (i, key) in keys.iter().take(n).enumerate() {
        store.increment(key, 1 + (i as u64 % 3), 1).unwrap();
    }
    store
}

/// The digests reported once every key is counted.
fn report(
    store: &mut Store,
    ring: &Arc<Ring>,
    budget: usize,
) -> std::collections::HashMap<usize, u64> {
    for _ in 0..10_000 {
        if let Some(d) = store.digest_step(ring, budget) {
            return d;
        }
    }
    panic!("the digests never finished");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn kept_digests_equal_digests_from_scratch(
        start in 0usize..42, ops in prop::collection::vec(op(), 1..150)
    ) {
        let keys = universe();
        let ring = Arc::new(Ring::with_nodes(4, 1..=3));
        let mut store = filled(&keys, start);
        for op in &ops {
            match op {
                // A step of a report left unfinished, or a whole one checked against the truth.
                Op::Step(budget) if *budget < 3 => { store.digest_step(&ring, *budget); }
                Op::Step(budget) => {
                    let kept = report(&mut store, &ring, *budget);
                    prop_assert_eq!(kept, store.digests(|t| ring.arc_of(t)));
                }
                other => { apply(&mut store, &keys, other); }
            }
        }
        let kept = report(&mut store, &ring, 2);
        prop_assert_eq!(&kept, &store.digests(|t| ring.arc_of(t)));
        // The same states written in another order and never changed give the same digests.
        let mut fresh = Store::new();
        fresh.give(&store.entries_where(|_| true));
        prop_assert_eq!(kept, report(&mut fresh, &ring, 1000));
    }

    #[test]
    fn a_copy_walk_visits_every_key_held_throughout(
        start in 0usize..42, ops in prop::collection::vec(op(), 1..150)
    ) {
        let keys = universe();
        let mut store = filled(&keys, start);
        let at_start: HashSet<String> = store.list().into_iter().map(|(k, _)| k).collect();
        let mut gone: HashSet<String> = HashSet::new();
        let id = store.walk_start();
        let mut out = Vec::new();
        let mut done = false;
        for op in &ops {
            match op {
                Op::Step(budget) => done = store.walk_copy(id, *budget, |_| true, &mut out).unwrap(),
                other => gone.extend(apply(&mut store, &keys, other)),
            }
            if done { break; }
        }
        while !store.walk_copy(id, 3, |_| true, &mut out).unwrap() {}
        store.walk_end(id);
        let seen: HashSet<String> = out.into_iter().map(|e| e.key).collect();
        for key in at_start.difference(&gone) {
            prop_assert!(seen.contains(key), "{} held throughout but never visited", key);
        }
    }

    #[test]
    fn a_drop_walk_leaves_no_chosen_key_that_was_held_at_its_start(
        start in 0usize..42, ops in prop::collection::vec(op(), 1..150), pivot in any::<u64>()
    ) {
        let keys = universe();
        let mut store = filled(&keys, start);
        let chosen = |t: Token| t < pivot;
        let id = store.walk_start();
        let mut dropped = Vec::new();
        let mut written: HashSet<String> = HashSet::new();
        for op in &ops {
            match op {
                Op::Step(budget) => { store.walk_drop(id, *budget, chosen, &mut dropped); }
                Op::Increment(k, ..) | Op::Merge(k, _) => {
                    written.insert(keys[*k].clone());
                    apply(&mut store, &keys, op);
                }
                other => { apply(&mut store, &keys, other); }
            }
        }
        while !store.walk_drop(id, 4, chosen, &mut dropped).unwrap() {}
        store.walk_end(id);
        for (key, _) in store.list() {
            // A key written during the walk may come back after its visit; no other may stay.
            prop_assert!(!chosen(key_token(key.as_bytes())) || written.contains(&key), "{} kept", key);
        }
        prop_assert!(dropped.iter().all(|k| chosen(key_token(k.as_bytes()))));
    }
}
