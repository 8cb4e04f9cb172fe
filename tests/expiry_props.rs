//! The merge laws of counters with expiry state (`src/counter/expiry.rs`): commutative,
//! associative and idempotent on random states with slots, bases, deadline registers and fired
//! markers; and a model check that a key expired on one replica never comes back from replicas
//! that still held older counts, in any merge order, while increments after the expiry are kept.

use proptest::prelude::*;
use ringkv::counter::tokens::token_id;
use ringkv::counter::{now_ms, Counter, Expiry, Slot, Stamp};

/// A stamp from a small range, so that states share and order stamps often.
fn stamp() -> impl Strategy<Value = Stamp> {
    (0u64..6, 0u32..2).prop_map(|(ms, tie)| Stamp { ms, tie })
}

/// Any expiry state (deadlines far in the future: the laws do not depend on the clock).
fn expiry() -> impl Strategy<Value = Option<Expiry>> {
    let far = now_ms() + 1_000_000_000;
    let deadline = prop_oneof![Just(None), (0u64..3).prop_map(move |d| Some(far + d))];
    prop_oneof![
        1 => Just(None),
        3 => (stamp(), deadline, stamp()).prop_map(|(set, deadline, fired)| Some(Expiry {
            set,
            deadline,
            fired,
        })),
    ]
}

fn slots() -> impl Strategy<Value = Vec<Slot>> {
    let slot = (1u64..=4, 0u64..50, 0u64..50).prop_map(|(replica, p, n)| Slot { replica, p, n });
    prop::collection::vec(slot, 0..5)
}

/// Remembered tokens: a token from a small set (each with its own time), and its amount.
fn tokens() -> impl Strategy<Value = Vec<(u8, i64)>> {
    prop::collection::vec((0u8..4, -20i64..20), 0..3)
}

/// Remembers each of `tokens` in `c`.
fn remember(c: &mut Counter, tokens: &[(u8, i64)]) {
    for &(t, amount) in tokens {
        c.remember_token(token_id(&[t]), amount, 1 + u64::from(t))
            .unwrap();
    }
}

/// A state: slots, a base at most the slots (part by part), an expiry state, remembered tokens
/// (some of them observed by the reset).
fn state() -> impl Strategy<Value = Counter> {
    (
        slots(),
        any::<bool>(),
        slots(),
        expiry(),
        tokens(),
        tokens(),
    )
        .prop_map(|(before, reset, after, expiry, seen, unseen)| {
            let base = if reset { before.clone() } else { Vec::new() };
            let slots = before.into_iter().chain(after);
            let mut c = Counter::from_parts(slots, base, expiry);
            remember(&mut c, &seen);
            if reset && !seen.is_empty() {
                c.reset();
            }
            remember(&mut c, &unseen);
            c
        })
}

fn merged(x: &Counter, y: &Counter) -> Counter {
    let mut m = x.clone();
    m.merge(y);
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

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
    fn merge_reports_whether_it_changed(a in state(), b in state()) {
        let mut m = a.clone();
        let changed = m.merge(&b);
        prop_assert_eq!(changed, m != a);
    }

    /// Three replicas share a key with a deadline; each counts more before it (unseen by the
    /// others); one fires at the deadline and counts after it. In every merge order the result
    /// holds exactly the counts after the expiry.
    #[test]
    fn an_expired_key_never_comes_back(
        before in prop::collection::vec((0usize..3, 1i64..100), 0..12),
        tokened in prop::collection::vec((0usize..3, 0u8..8, -50i64..50), 0..6),
        after in prop::collection::vec(1i64..100, 0..4),
        order in prop::sample::subsequence(vec![0usize, 1, 2], 3).prop_shuffle(),
        incarnation in 1u64..4,
    ) {
        let now = now_ms();
        let mut common = Counter::with_count(1 << 32, 5);
        common.set_deadline(Stamp { ms: now - 10, tie: 1 }, Some(now - 1));
        let mut replicas = [common.clone(), common.clone(), common];
        // Counts applied before the deadline fired anywhere (e.g. a node whose clock is behind):
        // written straight into the slots, as a replica that had not fired would.
        for &(r, amount) in &before {
            let mut c = Counter::with_count(((r as u64 + 1) << 32) | incarnation, amount as u64);
            c.merge(&replicas[r]);
            replicas[r] = c;
        }
        // Tokened updates of the old life too (a token is remembered, not counted in a slot).
        for &(r, t, amount) in &tokened {
            replicas[r].remember_token(token_id(&[t]), amount, now - 5).unwrap();
        }
        replicas[0].fire_if_due_at(now);
        let mut total = 0;
        for &amount in &after {
            replicas[0].increment(1 << 32 | 9, amount).unwrap();
            total += amount;
        }
        let mut all = replicas[order[0]].clone();
        all.merge(&replicas[order[1]]);
        all.merge(&replicas[order[2]]);
        prop_assert_eq!(all.value(), total);
        prop_assert_eq!(all.present(), !after.is_empty());
        prop_assert_eq!(all.deadline(), None);
    }
}
