//! Expiring counters: a wall-clock deadline carried with a counter's state, merged like the rest.
//!
//! A counter with a TTL holds an [`Expiry`]: a last-writer-wins register `set` (the stamp of the
//! `EXPIRE`, `PERSIST`, `SET` or `DEL` that wrote it) with its `deadline` (unix milliseconds, or
//! none), and `fired`, the stamp of the latest register whose deadline has passed. A counter without
//! one holds nothing (`None`, no memory beyond the pointer).
//!
//! - The deadline in force is `deadline` if `set > fired` (it has not fired yet), else none.
//! - A counter whose deadline in force has passed by the local clock is *due*: it reads as absent.
//! - *Firing* (before an increment of a due counter, or by the active expiry sweep) is a reset that
//!   observes every slot held, and sets `fired = set`. So an `INCR` after the deadline starts
//!   from 0 and the new key has no TTL, as in Redis.
//! - **Merge**: `set` and `fired` each take the larger stamp. A side whose `fired` is older than
//!   the merged `fired` has not seen that expiry: its slots are observed (added to the base) before
//!   the parts merge. A replica that held the key and missed the expiry (or fired later) therefore
//!   cannot bring the old counts back, while increments made after the firing (beyond a base that
//!   carries the same `fired`) survive.
//!
//! # Merge laws
//! With `observe(x)` adding `x`'s slots to its base, the merge of states `x₁ … xₖ` is: slots the
//! union (maximum per part), base the union of the bases and of `observe(xᵢ)` for each `xᵢ` whose
//! `fired` is below the largest, registers the largest. Which sides are observed depends only on
//! the largest `fired`, so the merge stays commutative, associative and idempotent
//! (`tests/expiry_props.rs`).
//!
//! # Clocks
//! Deadlines are wall-clock, as in Redis. A node decides "due" by its own clock, so with skew `δ`
//! between nodes a key reads absent up to `δ` early or late depending on which node answers, and an
//! increment a node applies within `δ` of the deadline may count into the old life of the key (and
//! vanish when another node's firing reaches it) or into the new one. See `docs/COUNTERS.md`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{merge_base, Counter, Slot};

/// When an expiry operation was made: its coordinator's wall clock in unix milliseconds, then a
/// random tie-breaker (two coordinators in the same millisecond). Ordered by both.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Stamp {
    /// Unix milliseconds.
    pub ms: u64,
    /// Breaks ties between stamps of the same millisecond.
    pub tie: u32,
}

/// A counter's expiry state (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Expiry {
    /// The stamp of the operation that wrote `deadline`.
    pub set: Stamp,
    /// The deadline it wrote, in unix milliseconds (`None`: no expiry).
    pub deadline: Option<u64>,
    /// The stamp of the latest register whose deadline fired (a reset).
    pub fired: Stamp,
}

impl Expiry {
    /// The deadline in force: written and not fired yet.
    pub fn in_force(&self) -> Option<u64> {
        self.deadline.filter(|_| self.set > self.fired)
    }

    /// Merges `other`: each register takes the larger (for one stamp, the larger deadline, so the
    /// merge is deterministic even for a malformed state).
    fn merge(&mut self, other: &Expiry) {
        if (other.set, other.deadline) > (self.set, self.deadline) {
            self.set = other.set;
            self.deadline = other.deadline;
        }
        self.fired = self.fired.max(other.fired);
    }
}

/// The wall clock in unix milliseconds (0 before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A lower bound on the time (unix ms) the counter's deadline in force can pass; 0 when not
/// known. An update of a key whose deadline is far off reads this, in the counter, instead of
/// its boxed [`Expiry`] (a cache miss per `INCR` of a key with a TTL). Set when a check found the
/// deadline; back to 0 whenever the expiry state changes in a way that could bring the deadline
/// earlier (a register written, a merge). It is not part of the state: every two hints compare
/// equal, and it is neither sent nor logged (a counter decoded from either starts at 0).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DueHint(u64);

impl PartialEq for DueHint {
    fn eq(&self, _: &DueHint) -> bool {
        true
    }
}

impl Eq for DueHint {}

impl Counter {
    /// The counter's expiry state (all zero if it never had one).
    pub fn expiry(&self) -> Expiry {
        self.expiry.as_deref().copied().unwrap_or_default()
    }

    /// Whether the counter carries any expiry state (a store keeps such a counter in full form).
    pub fn has_expiry(&self) -> bool {
        self.expiry.is_some()
    }

    /// The deadline in force, in unix milliseconds.
    pub fn deadline(&self) -> Option<u64> {
        self.expiry.as_ref().and_then(|e| e.in_force())
    }

    /// Whether the deadline in force has passed at `now`.
    pub fn due_at(&self, now: u64) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    /// Whether the deadline in force has passed by the wall clock (no clock read without one).
    pub fn due(&self) -> bool {
        if self.expiry.is_none() {
            return false;
        }
        let now = now_ms();
        now >= self.due_after.0 && self.due_at(now)
    }

    /// Whether an expiry has fired on this state (it then reads as reset).
    pub(super) fn fired_once(&self) -> bool {
        self.expiry
            .as_ref()
            .is_some_and(|e| e.fired != Stamp::default())
    }

    /// Fires the deadline in force if it has passed at `now`: a reset that observes every slot,
    /// and `fired = set`. Returns whether it fired.
    pub fn fire_if_due_at(&mut self, now: u64) -> bool {
        if !self.due_at(now) {
            return false;
        }
        self.reset();
        if let Some(e) = self.expiry.as_deref_mut() {
            e.fired = e.set;
        }
        true
    }

    /// [`Counter::fire_if_due_at`] by the wall clock; reads the expiry state only once the
    /// clock has reached the [`DueHint`].
    pub fn fire_if_due(&mut self) -> bool {
        if self.expiry.is_none() {
            return false;
        }
        let now = now_ms();
        if now < self.due_after.0 {
            return false;
        }
        let fired = self.fire_if_due_at(now);
        self.due_after = DueHint(self.deadline().unwrap_or(u64::MAX));
        fired
    }

    /// Writes the register: `deadline` (or none) as of `stamp`, which must be newer than any stamp
    /// the counter holds ([`Counter::next_stamp`]).
    pub fn set_deadline(&mut self, stamp: Stamp, deadline: Option<u64>) {
        let e = self.expiry.get_or_insert_with(Default::default);
        e.set = stamp;
        e.deadline = deadline;
        self.due_after = DueHint::default();
    }

    /// A stamp at `now` (or just after the newest one held) with a random tie-breaker.
    pub fn next_stamp(&self, now: u64) -> Stamp {
        let e = self.expiry();
        let held = e.set.max(e.fired).ms;
        Stamp {
            ms: now.max(held.saturating_add(1)),
            tie: rand::random(),
        }
    }

    /// Merges `other`'s expiry state into `self`'s; first observes the side whose `fired` is
    /// older than the merged one (it has not seen that expiry): its slots, and its remembered
    /// tokens. `self`'s are observed here; `other`'s slots too, and the answer's second part says
    /// whether `other`'s token entries must merge in observed ([`Counter::merge`] does it). Returns
    /// whether `self` changed, and that.
    pub(super) fn merge_expiry(&mut self, other: &Counter) -> (bool, bool) {
        let (Some(theirs), mine) = (other.expiry.as_deref(), self.expiry()) else {
            if self.fired_once() {
                return (observe(&mut self.base, &other.slots), true);
            }
            return (false, false);
        };
        let mut changed = false;
        let mut observe_theirs = false;
        if theirs.fired > mine.fired {
            let slots: Vec<Slot> = self.slots.to_vec();
            changed |= observe(&mut self.base, &slots);
            changed |= self.tokens_observe();
        } else if theirs.fired < mine.fired {
            changed |= observe(&mut self.base, &other.slots);
            observe_theirs = true;
        }
        let mut merged = mine;
        merged.merge(theirs);
        if merged != mine {
            self.expiry = Some(Box::new(merged));
            self.due_after = DueHint::default();
            changed = true;
        }
        (changed, observe_theirs)
    }
}

/// Adds `slots` to `base` (part by part by the maximum). Returns whether `base` changed.
fn observe(base: &mut Vec<Slot>, slots: &[Slot]) -> bool {
    let mut changed = false;
    for &slot in slots {
        changed |= merge_base(base, slot);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::{decode, encode};

    #[test]
    fn expiry_state_travels_in_the_wire_encoding() {
        let mut c = Counter::with_count(1 << 32, 3);
        c.set_deadline(Stamp { ms: 7, tie: 2 }, Some(u64::MAX - 1));
        let back: Counter = decode(&encode(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.deadline(), Some(u64::MAX - 1));
        let plain = Counter::with_count(1 << 32, 3);
        let bytes = encode(&plain).unwrap();
        assert_eq!(bytes.last(), Some(&0), "no expiry: one byte, `None`");
    }

    #[test]
    fn a_fired_state_observes_a_replica_that_missed_the_expiry() {
        let now = now_ms();
        let mut fired = Counter::with_count(1 << 32, 5);
        fired.set_deadline(
            Stamp {
                ms: now - 5,
                tie: 0,
            },
            Some(now - 1),
        );
        assert!(fired.fire_if_due_at(now));
        let missed = Counter::with_count(1 << 32, 9);
        let mut a = fired.clone();
        a.merge(&missed);
        let mut b = missed.clone();
        b.merge(&fired);
        assert_eq!(a, b);
        assert!(!a.present(), "the old counts do not come back");
        assert_eq!(a.increment(2 << 32, 2).unwrap(), 2);
    }

    #[test]
    fn a_fired_state_observes_the_tokens_of_a_replica_that_missed_the_expiry() {
        use crate::counter::tokens::token_id;
        let now = now_ms();
        let mut common = Counter::with_count(1 << 32, 5);
        common.set_deadline(
            Stamp {
                ms: now - 5,
                tie: 0,
            },
            Some(now - 1),
        );
        let mut missed = common.clone();
        missed.remember_token(token_id(b"old"), 7, now - 3).unwrap();
        let mut fired = common;
        assert!(fired.fire_if_due_at(now));
        for (mut a, b) in [(fired.clone(), &missed), (missed.clone(), &fired)] {
            a.merge(b);
            assert_eq!(a.value(), 0, "a token of the old life does not come back");
            assert!(!a.present());
        }
    }

    /// A key whose deadline passed but which no replica fired yet: a tokened update fires it
    /// first (as an increment does), so its entry starts the next life and survives both a merge
    /// with a replica that never fired and that replica's own firing later; a retry of a token
    /// counted in the old life adds nothing.
    #[test]
    fn a_tokened_update_after_the_deadline_starts_the_next_life() {
        use crate::counter::tokens::token_id;
        let now = now_ms();
        let mut old = Counter::with_count(1 << 32, 5);
        old.remember_token(token_id(b"before"), 4, now - 20)
            .unwrap();
        old.set_deadline(
            Stamp {
                ms: now - 10,
                tie: 0,
            },
            Some(now - 1),
        );
        let mut coordinator = old.clone();
        let fresh = coordinator
            .remember_token(token_id(b"after"), 3, now)
            .unwrap();
        assert!(fresh.fresh);
        assert_eq!(fresh.value, 3, "the old life's 9 expired first");
        let retry = coordinator
            .remember_token(token_id(b"before"), 4, now)
            .unwrap();
        assert!(!retry.fresh, "counted once, in the life that ended");
        assert_eq!(retry.value, 3);
        let mut unfired = old.clone();
        unfired.merge(&coordinator);
        assert_eq!(unfired.value(), 3);
        assert!(
            !unfired.fire_if_due_at(now + 1),
            "the merge carried the firing"
        );
        assert_eq!(unfired.value(), 3, "the next life's entry is kept");
        let mut applied = old;
        let again = applied
            .apply_token(token_id(b"after"), 3, now, 60_000)
            .unwrap();
        assert_eq!(
            (again.fresh, again.value),
            (true, 3),
            "apply_token fires too"
        );
    }

    /// The hint saves reading the expiry state while the deadline is far, and never hides one
    /// that a register or a merge brought nearer.
    #[test]
    fn the_due_hint_never_hides_a_nearer_deadline() {
        let now = now_ms();
        let mut c = Counter::with_count(1 << 32, 5);
        c.set_deadline(
            Stamp {
                ms: now - 10,
                tie: 0,
            },
            Some(now + 3_600_000),
        );
        assert!(!c.fire_if_due());
        assert_eq!(c.due_after.0, now + 3_600_000, "the deadline is remembered");
        c.set_deadline(
            Stamp {
                ms: now - 5,
                tie: 0,
            },
            Some(now - 1),
        );
        assert!(c.due(), "a register written resets the hint");
        assert!(c.fire_if_due());
        assert!(!c.present());

        let mut far = Counter::with_count(1 << 32, 5);
        far.set_deadline(
            Stamp {
                ms: now - 10,
                tie: 0,
            },
            Some(now + 3_600_000),
        );
        assert!(!far.fire_if_due());
        let mut near = far.clone();
        near.set_deadline(
            Stamp {
                ms: now - 5,
                tie: 1,
            },
            Some(now - 1),
        );
        far.merge(&near);
        assert!(
            far.fire_if_due(),
            "a merge that brings the deadline nearer resets it"
        );
        assert_eq!(far.value(), 0);
        let mut copy = far.clone();
        copy.due_after = DueHint(7);
        assert_eq!(copy, far, "the hint is not state");
    }
}
