//! The PN counter's merge laws (see `src/counter.rs`), checked on random states with and without
//! resets, and model checks: random interleavings of increments, decrements and merges, and then
//! of resets (deletes) and sets too, across three replicas end at the model's value and existence.

use std::collections::HashMap;

use proptest::prelude::*;
use ringkv::counter::{replica_id, set_slot, Counter, ReplicaId, Slot};

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

/// An arbitrary state that may have been reset: a random base (the state a reset observed), then
/// random slots merged on top (what was counted since, or learned later).
fn reset_state() -> impl Strategy<Value = Counter> {
    (state(), any::<bool>(), state()).prop_map(|(before, reset, after)| {
        let mut c = before;
        if reset {
            c.reset();
        }
        c.merge(&after);
        c
    })
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
    fn merge_laws_hold_with_resets(a in reset_state(), b in reset_state(), c in reset_state()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
        let mut m = a.clone();
        prop_assert_eq!(m.merge(&b), m != a);
    }

    /// A replica that missed a delete cannot undo it, and the delete erases only what it saw.
    #[test]
    fn a_delete_survives_stale_states_and_keeps_unseen_updates(
        origin in updates(1..7),
        stale in updates(1..4),
        unseen in updates(4..7),
    ) {
        let mut o = Counter::new();
        apply(&mut o, &origin)?;
        let mut deleted = o.clone();
        deleted.reset();
        prop_assert!(!deleted.present());
        prop_assert_eq!(deleted.value(), 0);
        // A stale copy: `o` or any state before it merges in without bringing anything back.
        prop_assert!(!merged(&deleted, &o).present());
        prop_assert_eq!(merged(&deleted, &o).value(), 0);
        // Updates the delete did not see (another replica went on from `o`) are kept.
        let mut other = o.clone();
        let added = apply(&mut other, &unseen)?;
        let m = merged(&deleted, &other);
        prop_assert_eq!(m.exact_value(), added);
        prop_assert_eq!(m.present(), other.slots() != o.slots());
        let _ = stale;
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

/// The model of one key under resets: every update that grew a slot part is an event; a replica
/// knows a prefix of each slot's events; a reset observes what its replica knows.
#[derive(Default)]
struct Model {
    /// The events of each slot, in order: their amounts.
    events: HashMap<ReplicaId, Vec<i64>>,
    /// Per replica, how many events of each slot it knows.
    known: [HashMap<ReplicaId, usize>; 3],
    /// How many events of each slot some reset observed.
    observed: HashMap<ReplicaId, usize>,
    reset: bool,
}

impl Model {
    fn event(&mut self, at: usize, slot: ReplicaId, amount: i64) {
        let events = self.events.entry(slot).or_default();
        events.push(amount);
        self.known[at].insert(slot, events.len());
    }

    fn merge(&mut self, into: usize, from: usize) {
        for (slot, n) in self.known[from].clone() {
            let mine = self.known[into].entry(slot).or_default();
            *mine = (*mine).max(n);
        }
    }

    fn reset(&mut self, at: usize) {
        self.reset = true;
        for (&slot, &n) in &self.known[at] {
            let seen = self.observed.entry(slot).or_default();
            *seen = (*seen).max(n);
        }
    }

    /// The value and existence once every replica knows every event.
    fn outcome(&self) -> (i128, bool) {
        let mut value = 0i128;
        let mut unseen = false;
        for (slot, events) in &self.events {
            let seen = self.observed.get(slot).copied().unwrap_or(0);
            value += events[seen..].iter().map(|&a| i128::from(a)).sum::<i128>();
            unseen |= events.len() > seen;
        }
        (value, !self.reset || unseen)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Model check with deletes and sets: three replicas update their own slots, delete (reset)
    /// and set from their own views and merge in a random order. Once all have merged, each holds
    /// the model's value (the updates no reset observed) and exists as the model says.
    #[test]
    fn three_replicas_with_resets_converge_on_the_model(
        steps in prop::collection::vec((0usize..3, 0usize..7, -20i64..20), 0..80),
    ) {
        let mut replicas = [Counter::new(), Counter::new(), Counter::new()];
        let mut model = Model::default();
        for (i, (at, action, amount)) in steps.into_iter().enumerate() {
            let me = replica_id(at as u32 + 1, 0);
            match action {
                0 | 1 => {
                    let from = (at + 1 + action) % 3;
                    let state = replicas[from].clone();
                    replicas[at].merge(&state);
                    model.merge(at, from);
                }
                2 => {
                    replicas[at].reset();
                    model.reset(at);
                }
                3 => {
                    let slot = set_slot(1000 + i as u32);
                    replicas[at].set(slot, amount).unwrap();
                    model.reset(at);
                    model.event(at, slot, amount);
                }
                _ => {
                    let amount = if action == 4 { 0 } else { amount };
                    let grows = amount != 0 || !replicas[at].present();
                    if replicas[at].increment(me, amount).is_ok() && grows {
                        model.event(at, me, amount);
                    }
                }
            }
        }
        let all = replicas.iter().fold(Counter::new(), |m, r| merged(&m, r));
        let (value, present) = model.outcome();
        for r in &mut replicas {
            r.merge(&all);
            prop_assert_eq!(r.exact_value(), value);
            prop_assert_eq!(r.present(), present);
            prop_assert_eq!(&*r, &all);
        }
    }
}

#[test]
fn concurrent_delete_set_and_increment_give_what_the_docs_say() {
    let (a, b) = (replica_id(1, 0), replica_id(2, 0));
    let mut o = Counter::new();
    o.increment(a, 10).unwrap();
    // A delete and an increment of 3, concurrent: add wins, the key is present at 3.
    let (mut x, mut y) = (o.clone(), o.clone());
    x.reset();
    y.increment(b, 3).unwrap();
    let m = merged(&x, &y);
    assert_eq!((m.value(), m.present()), (3, true));
    // A set of 7 and an increment of 3, concurrent: 10.
    let (mut x, mut y) = (o.clone(), o.clone());
    x.set(set_slot(1), 7).unwrap();
    y.increment(a, 3).unwrap();
    assert_eq!(merged(&x, &y).value(), 10);
    // Two concurrent sets, of 7 and 5: 12. A later set observes both: 1.
    let (mut x, mut y) = (o.clone(), o.clone());
    x.set(set_slot(1), 7).unwrap();
    y.set(set_slot(2), 5).unwrap();
    let mut m = merged(&x, &y);
    assert_eq!(m.value(), 12);
    m.set(set_slot(3), 1).unwrap();
    assert_eq!(m.value(), 1);
    assert!(m.set(set_slot(3), 1).is_err(), "a slot is never set twice");
    // set 0 exists; an update by 0 brings a deleted key back at 0; deleting nothing is absent.
    let mut z = o.clone();
    z.set(set_slot(4), 0).unwrap();
    assert_eq!((z.value(), z.present()), (0, true));
    z.reset();
    assert!(!z.present());
    z.increment(a, 0).unwrap();
    assert_eq!((z.value(), z.present()), (0, true));
    let mut empty = Counter::new();
    empty.reset();
    assert!(!empty.present());
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
