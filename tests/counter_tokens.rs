//! Idempotency tokens in the counter (see `src/counter/tokens.rs`): the merge laws with tokens,
//! folds and resets; applying a token twice is applying it once; and a model check — random
//! interleavings across three replicas of plain increments, tokened updates retried through any
//! replica, quorum-style resets, gossip merges and folds end at the model's value and existence.
//! (Beside `tests/counter_props.rs`, whose laws and model this extends to tokens.)

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use ringkv::counter::tokens::token_id;
use ringkv::counter::{replica_id, Counter, Slot};

/// The dedup window of these tests, in milliseconds (times are small numbers here).
const W: u64 = 100;

/// The time token `t` is applied at in generated states: one time per token, as the laws need.
fn at_of(t: u8) -> u64 {
    1_000 + 60 * u64::from(t)
}

/// A state built by the operations a replica runs: slots, tokens applied (each at its time),
/// resets, then maybe a fold.
fn token_state() -> impl Strategy<Value = Counter> {
    let slot =
        (1u64..=4, 0u64..1000, 0u64..1000).prop_map(|(replica, p, n)| Slot { replica, p, n });
    let ops = prop::collection::vec((0u8..10, -50i64..50, 0u8..6), 0..10);
    (prop::collection::vec(slot, 0..4), ops, 0u64..1800).prop_map(|(slots, ops, fold)| {
        let mut c = Counter::from_slots(slots);
        for (t, amount, what) in ops {
            match what {
                0 => c.reset(),
                _ => {
                    let _ = c.apply_token(token_id(&[t]), amount, at_of(t), W);
                }
            }
        }
        c.fold(fold);
        c
    })
}

fn merged(x: &Counter, y: &Counter) -> Counter {
    let mut m = x.clone();
    m.merge(y);
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_with_tokens_is_commutative(a in token_state(), b in token_state()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_with_tokens_is_associative(a in token_state(), b in token_state(), c in token_state()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merge_with_tokens_is_idempotent(a in token_state(), b in token_state()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
        prop_assert!(!ab.clone().merge(&b), "merging what is held reports no change");
    }

    #[test]
    fn applying_a_token_twice_is_applying_it_once(
        a in token_state(), t in 100u8..120, amount in -50i64..50, later in 0..W,
    ) {
        let mut once = a.clone();
        let now = 3_000;
        let Ok(first) = once.apply_token(token_id(&[t]), amount, now, W) else {
            return Ok(());
        };
        prop_assert!(first.fresh);
        let mut twice = once.clone();
        let again = twice.apply_token(token_id(&[t]), amount, now + later, W).unwrap();
        prop_assert!(!again.fresh);
        prop_assert_eq!(again.value, first.value);
        prop_assert_eq!(&twice, &once);
        // Through another replica that never saw the first: the same entry, counted once.
        let mut other = a.clone();
        other.apply_token(token_id(&[t]), amount, now + later, W).unwrap();
        prop_assert_eq!(merged(&once, &other).exact_value(), once.exact_value());
    }

    #[test]
    fn a_fold_keeps_the_value_and_existence(a in token_state(), horizon in 0u64..3000) {
        let mut f = a.clone();
        f.fold(horizon);
        prop_assert_eq!(f.exact_value(), a.exact_value());
        prop_assert_eq!(f.present(), a.present());
        prop_assert_eq!(merged(&f, &a), f.clone(), "a fold only grows the state");
    }
}

/// What the three replicas should hold: every accepted event (plain increments, each by slot,
/// and tokens, each once) and which a reset observed.
#[derive(Default)]
struct Model {
    /// Plain events per slot, in order, and per replica how many of each it knows.
    events: HashMap<u64, Vec<i64>>,
    known: [HashMap<u64, usize>; 3],
    /// Per slot, how many events some reset observed.
    observed: HashMap<u64, usize>,
    /// Tokens: amount and first time; which each replica knows; which a reset observed.
    tokens: HashMap<u8, (i64, u64)>,
    known_tokens: [HashSet<u8>; 3],
    observed_tokens: HashSet<u8>,
    reset: bool,
}

impl Model {
    fn merge(&mut self, into: usize, from: usize) {
        for (slot, n) in self.known[from].clone() {
            let mine = self.known[into].entry(slot).or_default();
            *mine = (*mine).max(n);
        }
        let theirs = self.known_tokens[from].clone();
        self.known_tokens[into].extend(theirs);
    }

    fn reset(&mut self, at: usize) {
        self.reset = true;
        for (&slot, &n) in &self.known[at] {
            let seen = self.observed.entry(slot).or_default();
            *seen = (*seen).max(n);
        }
        self.observed_tokens
            .extend(self.known_tokens[at].iter().copied());
    }

    fn outcome(&self) -> (i128, bool) {
        let mut value = 0i128;
        let mut unseen = false;
        for (slot, events) in &self.events {
            let seen = self.observed.get(slot).copied().unwrap_or(0);
            value += events[seen..].iter().map(|&a| i128::from(a)).sum::<i128>();
            unseen |= events.len() > seen;
        }
        for (t, (amount, _)) in &self.tokens {
            if !self.observed_tokens.contains(t) {
                value += i128::from(*amount);
                unseen = true;
            }
        }
        (value, !self.reset || unseen)
    }
}

/// Merges replica `from` into `into`, in the counters and in the model.
fn gossip(replicas: &mut [Counter; 3], model: &mut Model, into: usize, from: usize) {
    let state = replicas[from].clone();
    replicas[into].merge(&state);
    model.merge(into, from);
}

/// A tokened update of `(t, amount)` coordinated at `a`, as the direct path runs it: unless a fold
/// is due, `a` remembers the token in its own state; else it reads `a` and `b` and applies the
/// token to the merge. Then both hold the result.
fn tokened(
    replicas: &mut [Counter; 3],
    model: &mut Model,
    (a, b): (usize, usize),
    (t, amount): (u8, i64),
    now: u64,
) -> Result<(), TestCaseError> {
    let applied = if replicas[a].fold_due(now, W) {
        gossip(replicas, model, a, b);
        replicas[a].apply_token(token_id(&[t]), amount, now, W)
    } else {
        replicas[a].remember_token(token_id(&[t]), amount, now)
    };
    prop_assert!(applied.is_ok());
    model.known_tokens[a].insert(t);
    gossip(replicas, model, b, a);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// R = 3, W = Q = 2. A tokened update coordinated at replica `at` reads `at` and the next
    /// replica (a quorum), applies the token (folding what is older than two windows) and writes
    /// both; a retry of a token (its amount fixed) within the window goes through any replica; a
    /// delete reads and writes two replicas the same way; plain increments count in the
    /// replica's own slot; replicas gossip in any order. Once all have merged, each holds the
    /// model's value and existence: every token counted once, whatever the retries and folds.
    #[test]
    fn three_replicas_with_token_retries_converge_on_the_model(
        steps in prop::collection::vec((0usize..3, 0usize..8, 0u8..8, -20i64..20), 0..120),
    ) {
        let mut replicas = [Counter::new(), Counter::new(), Counter::new()];
        let mut model = Model::default();
        for (i, (at, action, t, amount)) in steps.into_iter().enumerate() {
            let now = 10 * i as u64;
            let next = (at + 1) % 3;
            match action {
                0 | 1 => gossip(&mut replicas, &mut model, at, (at + 1 + action) % 3),
                2 => {
                    gossip(&mut replicas, &mut model, at, next);
                    replicas[at].reset();
                    model.reset(at);
                    gossip(&mut replicas, &mut model, next, at);
                }
                3 => {
                    let me = replica_id(at as u32 + 1, 0);
                    let grows = amount != 0 || !replicas[at].present();
                    if replicas[at].increment(me, amount).is_ok() && grows {
                        let events = model.events.entry(me).or_default();
                        events.push(amount);
                        model.known[at].insert(me, events.len());
                    }
                }
                _ => {
                    let (amount, first) = *model.tokens.get(&t).unwrap_or(&(amount, now));
                    if now > first + W {
                        continue; // Retries are promised within the window only.
                    }
                    model.tokens.entry(t).or_insert((amount, now));
                    if action == 7 {
                        // The first attempt reads a quorum but its write reaches one replica
                        // only (outcome unknown): the client retries through the other two.
                        let mut state = merged(&replicas[at], &replicas[next]);
                        prop_assert!(state.apply_token(token_id(&[t]), amount, now, W).is_ok());
                        replicas[at].merge(&state);
                        model.merge(at, next);
                        model.known_tokens[at].insert(t);
                        let (a, b) = (next, (next + 1) % 3);
                        tokened(&mut replicas, &mut model, (a, b), (t, amount), now + 5)?;
                    } else {
                        tokened(&mut replicas, &mut model, (at, next), (t, amount), now)?;
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
        let held = all.tokens().map_or(0, |t| t.entries().len());
        prop_assert!(held <= 8, "at most one entry per token");
    }
}

#[test]
fn memory_per_remembered_token() {
    // Bytes a key's counter holds for n remembered tokens: the first entry sits inline in the
    // tokens record (one heap block per key); more entries move to the heap, 40 bytes each, the
    // vector growing by doubling.
    let mut c = Counter::new();
    let n = 1024u64;
    for i in 0..n {
        c.apply_token(token_id(&i.to_le_bytes()), 1, 1_000 + i, 60_000)
            .unwrap();
    }
    let entries = c.tokens().unwrap().entries().len() as u64;
    assert_eq!(entries, n);
    let per = std::mem::size_of::<ringkv::counter::tokens::TokenEntry>();
    println!(
        "token memory: {per} bytes per remembered token past the first; a key that uses tokens \
         holds a {}-byte record (its first token inline) and an 8-byte pointer",
        std::mem::size_of::<ringkv::counter::tokens::Tokens>()
    );
    assert_eq!(per, 40);
    assert_eq!(std::mem::size_of::<ringkv::counter::tokens::Tokens>(), 56);
    assert_eq!(
        std::mem::size_of::<Counter>(),
        80,
        "docs/COUNTERS.md gives 104-byte items"
    );
    assert_eq!(c.value(), n as i64);
}
