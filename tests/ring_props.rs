//! Property tests of the consistent-hash ring and the mergeable counter (no actors, no I/O).

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use ringkv::counter::Counter;
use ringkv::ring::{key_token, NodeId, Ring, DEFAULT_VNODES};

/// A small ring: 1..12 distinct node ids, few vnodes so cases run fast.
fn ring_strategy() -> impl Strategy<Value = (BTreeSet<NodeId>, u32)> {
    (prop::collection::btree_set(1u32..1000, 1..12), 1u32..32)
}

fn keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9:]{1,12}", 1..200)
}

proptest! {
    #[test]
    fn every_key_has_exactly_one_owner_on_the_ring((nodes, vnodes) in ring_strategy(), keys in keys()) {
        let ring = Ring::with_nodes(vnodes, nodes.iter().copied());
        for key in &keys {
            let owner = ring.owner(key.as_bytes()).expect("non-empty ring has an owner");
            prop_assert!(nodes.contains(&owner));
            let owning: Vec<NodeId> = nodes
                .iter()
                .copied()
                .filter(|&n| ring.ranges_of(n).iter().any(|r| r.contains(key_token(key.as_bytes()))))
                .collect();
            prop_assert_eq!(owning, vec![owner]);
        }
    }

    #[test]
    fn preference_lists_are_distinct_nodes_led_by_the_owner(
        (nodes, vnodes) in ring_strategy(), keys in keys(), n in 1usize..6
    ) {
        let ring = Ring::with_nodes(vnodes, nodes.iter().copied());
        for key in &keys {
            let list = ring.preference_list(key.as_bytes(), n);
            prop_assert_eq!(list.len(), n.min(nodes.len()));
            let distinct: BTreeSet<_> = list.iter().collect();
            prop_assert_eq!(distinct.len(), list.len());
            prop_assert_eq!(list[0], ring.owner(key.as_bytes()).unwrap());
        }
    }

    #[test]
    fn a_ring_built_in_bulk_equals_one_built_node_by_node(
        (nodes, vnodes) in ring_strategy(), gone in prop::collection::vec(1u32..1000, 0..4)
    ) {
        let bulk = Ring::with_nodes(vnodes, nodes.iter().copied());
        let mut one_by_one = Ring::new(vnodes);
        for &n in nodes.iter().rev() {
            one_by_one.add_node(n);
        }
        prop_assert_eq!(&bulk, &one_by_one);
        // Taking nodes off again gives the ring built from the rest.
        let mut shrunk = bulk.clone();
        for &n in &gone {
            shrunk.remove_node(n);
        }
        let rest = nodes.iter().copied().filter(|n| !gone.contains(n));
        prop_assert_eq!(shrunk, Ring::with_nodes(vnodes, rest));
    }

    #[test]
    fn an_added_node_only_takes_keys((nodes, vnodes) in ring_strategy(), new in 1000u32..2000, keys in keys()) {
        let old = Ring::with_nodes(vnodes, nodes.iter().copied());
        let mut grown = old.clone();
        grown.add_node(new);
        for key in &keys {
            let (before, after) = (old.owner(key.as_bytes()), grown.owner(key.as_bytes()));
            prop_assert!(before == after || after == Some(new), "{key} moved {before:?} -> {after:?}");
        }
        for m in old.diff(&grown) {
            prop_assert_eq!(m.to, new);
        }
    }

    #[test]
    fn only_a_removed_nodes_keys_move((nodes, vnodes) in ring_strategy(), keys in keys(), pick in any::<prop::sample::Index>()) {
        prop_assume!(nodes.len() > 1);
        let gone = *pick.get(&nodes.iter().copied().collect::<Vec<_>>());
        let old = Ring::with_nodes(vnodes, nodes.iter().copied());
        let mut shrunk = old.clone();
        shrunk.remove_node(gone);
        for key in &keys {
            let (before, after) = (old.owner(key.as_bytes()), shrunk.owner(key.as_bytes()));
            prop_assert!(before == after || before == Some(gone));
        }
        for m in old.diff(&shrunk) {
            prop_assert_eq!(m.from, gone);
        }
    }

    #[test]
    fn diff_covers_exactly_the_keys_that_move((nodes, vnodes) in ring_strategy(), other in prop::collection::btree_set(1u32..1000, 1..12), keys in keys()) {
        let a = Ring::with_nodes(vnodes, nodes.iter().copied());
        let b = Ring::with_nodes(vnodes, other.iter().copied());
        let moves = a.diff(&b);
        for key in &keys {
            let t = key_token(key.as_bytes());
            let (from, to) = (a.owner_of_token(t).unwrap(), b.owner_of_token(t).unwrap());
            let hits: Vec<_> = moves.iter().filter(|m| m.range.contains(t)).collect();
            if from == to {
                prop_assert!(hits.is_empty());
            } else {
                prop_assert_eq!(hits.len(), 1);
                prop_assert_eq!((hits[0].from, hits[0].to), (from, to));
            }
        }
    }

    #[test]
    fn counter_merge_is_commutative_associative_idempotent(
        a in prop::collection::vec((0u64..5, 0i64..1000), 0..8),
        b in prop::collection::vec((0u64..5, 0i64..1000), 0..8),
        c in prop::collection::vec((0u64..5, 0i64..1000), 0..8),
    ) {
        let build = |ops: &[(u64, i64)]| {
            let mut counter = Counter::new();
            for &(r, n) in ops {
                counter.increment(r, n).unwrap();
            }
            counter
        };
        let (a, b, c) = (build(&a), build(&b), build(&c));
        let merged = |x: &Counter, y: &Counter| { let mut m = x.clone(); m.merge(y); m };
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert!(ab.value() >= a.value().max(b.value()));
    }

    #[test]
    fn increments_on_one_replica_sum_exactly(amounts in prop::collection::vec(0i64..1_000_000, 0..50)) {
        let mut counter = Counter::new();
        for &n in &amounts {
            counter.increment(1, n).unwrap();
        }
        prop_assert_eq!(counter.value(), amounts.iter().sum::<i64>());
        let mut copy = Counter::new();
        copy.merge(&counter);
        copy.merge(&counter);
        prop_assert_eq!(copy.value(), counter.value());
    }
}

#[test]
fn ten_nodes_default_vnodes_are_balanced_within_15_percent() {
    let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=10);
    let mut counts: HashMap<NodeId, usize> = HashMap::new();
    for i in 0..100_000 {
        *counts
            .entry(ring.owner(format!("key-{i}").as_bytes()).unwrap())
            .or_default() += 1;
    }
    let max = *counts.values().max().unwrap() as f64;
    let mean = 100_000.0 / 10.0;
    assert_eq!(counts.len(), 10);
    assert!(max <= 1.15 * mean, "largest node holds {max}, mean {mean}");
}

#[test]
fn adding_an_eleventh_node_moves_about_one_eleventh() {
    let old = Ring::with_nodes(DEFAULT_VNODES, 1..=10);
    let mut new = old.clone();
    new.add_node(11);
    let moved = (0..100_000)
        .filter(|i| {
            let k = format!("key-{i}");
            old.owner(k.as_bytes()) != new.owner(k.as_bytes())
        })
        .count() as f64;
    let ideal = 100_000.0 / 11.0;
    assert!(
        (moved - ideal).abs() <= 0.25 * ideal,
        "moved {moved}, ideal {ideal}"
    );
}

#[test]
fn the_seed_key_a_lands_on_the_first_of_three_nodes() {
    let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=3);
    assert_eq!(ring.owner(b"a"), Some(1));
}
