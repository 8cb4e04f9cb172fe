//! The PN counter's merge laws (see `src/counter.rs`), checked on random states, and a model check:
//! random interleavings of increments, decrements and merges across three replicas end at the
//! model's value.

use proptest::prelude::*;
use ringkv::counter::{Counter, ReplicaId, Slot};

/// An arbitrary state: up to six slots of replicas 1..=5, with any parts.
fn state() -> impl Strategy<Value = Counter> {
    let part = prop_oneof![6 => 0u64..1000, 1 => Just(u64::MAX), 1 => any::<u64>()];
    let slot = (1u64..=5, part.clone(), part).prop_map(|(replica, p, n)| Slot { replica, p, n });
    prop::collection::vec(slot, 0..6).prop_map(Counter::from_slots)
}

/// Updates `(replica, amount)`.
fn updates(replicas: std::ops::Range<u64>) -> impl Strategy<Value = Vec<(ReplicaId, i64)>> {
    let amount = prop_oneof![8 => -1000i64..1000, 1 => Just(i64::MAX), 1 => Just(i64::MIN)];
    prop::collection::vec((replicas, amount), 0..20)
}

fn merged(x: &Counter, y: &Counter) -> Counter {
    let mut m = x.clone();
    m.merge(y);
    m
}

/// Applies `updates` to `counter`; returns the sum of those accepted. A refused one must leave
/// the counter as it was.
fn apply(counter: &mut Counter, updates: &[(ReplicaId, i64)]) -> Result<i128, TestCaseError> {
    let mut sum = 0i128;
    for &(replica, amount) in updates {
        let before = counter.clone();
        match counter.increment(replica, amount) {
            Ok(value) => {
                sum += i128::from(amount);
                prop_assert_eq!(i128::from(value), counter.exact_value());
            }
            Err(_) => prop_assert_eq!(&*counter, &before),
        }
    }
    Ok(sum)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative(a in state(), b in state()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in state(), b in state(), c in state()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent(a in state(), b in state()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
        prop_assert_eq!(merged(&ab, &a), ab);
    }

    #[test]
    fn merge_reports_change_exactly(a in state(), b in state()) {
        let mut m = a.clone();
        let changed = m.merge(&b);
        prop_assert_eq!(changed, m != a);
    }

    /// Two replicas' states that grew from a common one by updates of disjoint replicas: their
    /// merge counts every update exactly once.
    #[test]
    fn value_of_a_merge_counts_every_update_once(
        origin in updates(1..7),
        left in updates(1..4),
        right in updates(4..7),
    ) {
        let mut o = Counter::new();
        apply(&mut o, &origin)?;
        let (mut a, mut b) = (o.clone(), o.clone());
        let added_a = apply(&mut a, &left)?;
        let added_b = apply(&mut b, &right)?;
        let m = merged(&a, &b);
        prop_assert_eq!(m.exact_value(), a.exact_value() + b.exact_value() - o.exact_value());
        prop_assert_eq!(m.exact_value(), o.exact_value() + added_a + added_b);
        prop_assert_eq!(m.value(), i64::try_from(m.exact_value()).unwrap_or(
            if m.exact_value() < 0 { i64::MIN } else { i64::MAX }
        ));
    }

    /// Model check: three replicas, each updating its own slot from its own view, merging with one
    /// another in a random order. Once all have merged, each holds the model's value: the sum of
    /// the updates that were accepted.
    #[test]
    fn three_replicas_converge_on_the_model(
        steps in prop::collection::vec((0usize..3, 0usize..4, -50i64..50), 0..80),
    ) {
        let mut replicas = [Counter::new(), Counter::new(), Counter::new()];
        let mut model = 0i128;
        for (at, action, amount) in steps {
            match action {
                // Merge another replica's state in (a replication, a repair, anti-entropy).
                0 => {
                    let from = replicas[(at + 1 + amount.unsigned_abs() as usize % 2) % 3].clone();
                    replicas[at].merge(&from);
                }
                _ => {
                    if replicas[at].increment(at as u64 + 1, amount).is_ok() {
                        model += i128::from(amount);
                    }
                }
            }
        }
        let all = replicas.iter().fold(Counter::new(), |m, r| merged(&m, r));
        for r in &mut replicas {
            r.merge(&all);
            prop_assert_eq!(r.exact_value(), model);
            prop_assert_eq!(&*r, &all);
        }
    }
}

#[test]
fn an_update_past_either_bound_changes_nothing() {
    let mut c = Counter::new();
    c.increment(1, i64::MAX).unwrap();
    assert!(c.increment(2, 1).is_err());
    assert_eq!(c.value(), i64::MAX);
    c.increment(2, -1).unwrap();
    assert_eq!(c.value(), i64::MAX - 1);
    let mut low = Counter::new();
    low.increment(1, -i64::MAX).unwrap();
    low.increment(1, -1).unwrap();
    assert_eq!(low.value(), i64::MIN);
    assert!(low.increment(3, -1).is_err());
    assert_eq!(low.value(), i64::MIN);
}
