//! The expiry operations (`EXPIRE` and its family, `PERSIST`, `TTL`, `SET ... EX`) on a merged
//! counter state: plain data, no actors. The Router reads a key from its replicas, merges the
//! answers, applies one [`ExpireOp`] here, and merges the state it returns into the replicas (see
//! `src/actors/router/expire.rs`). What a deadline does to a counter is [`crate::counter`]'s
//! (`src/counter/expiry.rs`).

use serde::{Deserialize, Serialize};

use crate::counter::Counter;

/// The condition of an `EXPIRE`, as Redis 7's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCond {
    /// No option: always.
    Always,
    /// `NX`: only if the key has no deadline.
    Nx,
    /// `XX`: only if it has one.
    Xx,
    /// `GT`: only if the new deadline is later than the one in force (none counts as infinite).
    Gt,
    /// `LT`: only if the new deadline is earlier (none counts as infinite).
    Lt,
    /// `XX LT` (or `LT XX`): only if the key has a deadline and the new one is earlier. (`XX GT`
    /// is [`ExpireCond::Gt`]: `GT` already refuses a key without a deadline.) Appended in
    /// protocol version 6.
    XxLt,
}

/// One expiry operation on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireOp {
    /// Give the key the deadline `at` (unix milliseconds; at or before now: delete it) if `cond`
    /// holds. Answers 1 if done, 0 if the key does not exist or the condition failed.
    At {
        /// The deadline, unix milliseconds (may be negative: in the past).
        at: i64,
        /// The condition.
        cond: ExpireCond,
    },
    /// Remove the key's deadline. Answers 1 if it had one, else 0.
    Persist,
    /// Read the deadline: answers it (unix milliseconds), -1 without one, -2 for a missing key.
    Deadline,
}

/// What a `SET` does to the key's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetTtl {
    /// Remove it (a plain `SET`, as in Redis).
    Clear,
    /// Keep it (`KEEPTTL`).
    Keep,
    /// Set it to this deadline, unix milliseconds (`EX`, `PX`, `EXAT`, `PXAT`).
    At(i64),
}

/// The outcome of an [`ExpireOp`] on a merged state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The answer (see [`ExpireOp`]).
    pub answer: i64,
    /// The key's value before, if it existed.
    pub value: Option<i64>,
    /// The state to merge into the replicas, if anything is written.
    pub write: Option<Counter>,
}

/// A deadline as stored: negative ones (before 1970) become 0, already passed.
fn stored(at: i64) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// Whether `cond` lets a new deadline `at` replace `current`.
fn allowed(cond: ExpireCond, current: Option<u64>, at: i64) -> bool {
    let at = i128::from(at);
    match (cond, current) {
        (ExpireCond::Always, _) => true,
        (ExpireCond::Nx, current) => current.is_none(),
        (ExpireCond::Xx, current) => current.is_some(),
        (ExpireCond::Gt, None) => false,
        (ExpireCond::Gt, Some(c)) => at > i128::from(c),
        (ExpireCond::Lt, None) => true,
        (ExpireCond::Lt | ExpireCond::XxLt, Some(c)) => at < i128::from(c),
        (ExpireCond::XxLt, None) => false,
    }
}

/// Applies `op` at `now` (unix milliseconds) to `merged`, the key's state merged from its
/// replicas (`None`: no replica holds it).
pub fn apply(merged: Option<Counter>, op: ExpireOp, now: u64) -> Outcome {
    let missing = if op == ExpireOp::Deadline { -2 } else { 0 };
    let Some(mut counter) = merged else {
        return Outcome {
            answer: missing,
            value: None,
            write: None,
        };
    };
    counter.fire_if_due_at(now);
    let value = counter.value_if_present();
    let nothing = |answer| Outcome {
        answer,
        value,
        write: None,
    };
    if value.is_none() {
        return nothing(missing);
    }
    let current = counter.deadline();
    match op {
        ExpireOp::Deadline => nothing(current.map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX))),
        ExpireOp::Persist if current.is_none() => nothing(0),
        ExpireOp::Persist => {
            counter.set_deadline(counter.next_stamp(now), None);
            wrote(counter, value)
        }
        ExpireOp::At { at, cond } if !allowed(cond, current, at) => nothing(0),
        ExpireOp::At { at, .. } => {
            set_deadline_at(&mut counter, Some(at), now);
            wrote(counter, value)
        }
    }
}

/// Writes `deadline` (or none) into `counter` at `now`; a deadline already passed fires at once
/// (the key is deleted, as Redis deletes it).
pub fn set_deadline_at(counter: &mut Counter, deadline: Option<i64>, now: u64) {
    counter.set_deadline(counter.next_stamp(now), deadline.map(stored));
    counter.fire_if_due_at(now);
}

/// Applies a `SET`'s `ttl` to `counter`, the state the set wrote (reset and new value), at `now`.
pub fn apply_set_ttl(counter: &mut Counter, ttl: SetTtl, now: u64) {
    match ttl {
        SetTtl::Keep => {}
        SetTtl::Clear if counter.deadline().is_none() => {}
        SetTtl::Clear => set_deadline_at(counter, None, now),
        SetTtl::At(at) => set_deadline_at(counter, Some(at), now),
    }
}

/// The outcome of a write: answer 1.
fn wrote(counter: Counter, value: Option<i64>) -> Outcome {
    Outcome {
        answer: 1,
        value,
        write: Some(counter),
    }
}

/// A key's time to live, as `TTL` tells it ([`Ttl::of`]): what
/// [`Cluster::ttl`](crate::Cluster::ttl) and [`Client::ttl`](crate::Client::ttl) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The key does not exist (`TTL` -2).
    Missing,
    /// The key exists and has no deadline (`TTL` -1).
    Persistent,
    /// The key expires after this much time (rounded down to the millisecond; zero once due).
    Left(std::time::Duration),
}

impl Ttl {
    /// The time to live of an [`ExpireOp::Deadline`] answer (`-2`, `-1` or a deadline in unix
    /// milliseconds), at `now_ms`.
    pub fn of(answer: i64, now_ms: u64) -> Ttl {
        match answer {
            -2 => Ttl::Missing,
            a if a < 0 => Ttl::Persistent,
            at => Ttl::Left(std::time::Duration::from_millis(
                stored(at).saturating_sub(now_ms),
            )),
        }
    }
}

impl ExpireOp {
    /// `EXPIRE`/`PEXPIRE` with no condition: a deadline `ttl` from now (on this machine's clock,
    /// as Redis's, see `docs/COUNTERS.md` on clock skew).
    pub fn after(ttl: std::time::Duration) -> ExpireOp {
        let now = crate::counter::now_ms();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let at = i64::try_from(now.saturating_add(ms)).unwrap_or(i64::MAX);
        ExpireOp::At {
            at,
            cond: ExpireCond::Always,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_ttl_reads_as_redis_says() {
        assert_eq!(Ttl::of(-2, 1_000), Ttl::Missing);
        assert_eq!(Ttl::of(-1, 1_000), Ttl::Persistent);
        assert_eq!(Ttl::of(61_000, 1_000), Ttl::Left(Duration::from_secs(60)));
        assert_eq!(
            Ttl::of(500, 1_000),
            Ttl::Left(Duration::ZERO),
            "due: zero, not negative"
        );
    }

    #[test]
    fn an_expire_after_a_duration_is_a_deadline_from_now() {
        let before = crate::counter::now_ms();
        let ExpireOp::At { at, cond } = ExpireOp::after(Duration::from_secs(60)) else {
            panic!("not a deadline");
        };
        assert_eq!(cond, ExpireCond::Always);
        let at = u64::try_from(at).unwrap();
        assert!(at >= before + 60_000 && at <= crate::counter::now_ms() + 60_000);
        let ExpireOp::At { at, .. } = ExpireOp::after(Duration::MAX) else {
            panic!("not a deadline");
        };
        assert_eq!(at, i64::MAX, "saturates");
    }

    use super::*;

    use crate::counter::now_ms;

    fn key() -> Option<Counter> {
        Some(Counter::with_count(1 << 32, 5))
    }

    fn at(at: i64, cond: ExpireCond) -> ExpireOp {
        ExpireOp::At { at, cond }
    }

    #[test]
    fn a_missing_key_answers_zero_and_minus_two() {
        let now = now_ms();
        assert_eq!(apply(None, ExpireOp::Deadline, now).answer, -2);
        assert_eq!(
            apply(None, at(now as i64 + 5, ExpireCond::Always), now).answer,
            0
        );
        assert_eq!(apply(None, ExpireOp::Persist, now).answer, 0);
    }

    #[test]
    fn conditions_follow_redis() {
        let now = now_ms();
        let later = now as i64 + 10_000;
        let out = apply(key(), at(later, ExpireCond::Always), now);
        assert_eq!(out.answer, 1);
        let with = out.write;
        assert_eq!(apply(with.clone(), ExpireOp::Deadline, now).answer, later);
        assert_eq!(apply(key(), at(later, ExpireCond::Gt), now).answer, 0);
        assert_eq!(apply(key(), at(later, ExpireCond::Lt), now).answer, 1);
        assert_eq!(apply(key(), at(later, ExpireCond::XxLt), now).answer, 0);
        let earlier = at(later - 1, ExpireCond::XxLt);
        assert_eq!(apply(with.clone(), earlier, now).answer, 1);
        assert_eq!(
            apply(with.clone(), at(later, ExpireCond::XxLt), now).answer,
            0
        );
        assert_eq!(apply(key(), at(later, ExpireCond::Xx), now).answer, 0);
        assert_eq!(
            apply(with.clone(), at(later, ExpireCond::Nx), now).answer,
            0
        );
        assert_eq!(
            apply(with.clone(), at(later + 1, ExpireCond::Gt), now).answer,
            1
        );
        assert_eq!(
            apply(with.clone(), at(later, ExpireCond::Gt), now).answer,
            0
        );
        assert_eq!(
            apply(with.clone(), at(later - 1, ExpireCond::Lt), now).answer,
            1
        );
        let persisted = apply(with, ExpireOp::Persist, now + 1);
        assert_eq!(persisted.answer, 1);
        assert_eq!(apply(persisted.write, ExpireOp::Deadline, now).answer, -1);
    }

    #[test]
    fn a_deadline_in_the_past_deletes() {
        let now = now_ms();
        let out = apply(key(), at(-5, ExpireCond::Always), now);
        assert_eq!((out.answer, out.value), (1, Some(5)));
        let gone = out.write.unwrap();
        assert!(!gone.present());
        let mut again = gone.clone();
        assert_eq!(
            again.increment(2 << 32, 1).unwrap(),
            1,
            "a new life starts at 0"
        );
        assert_eq!(again.deadline(), None);
    }
}
