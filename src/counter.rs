//! A signed counter that merges: the PN-Counter CRDT, one slot per replica.
//!
//! Every replica that counts a key owns one [`Slot`] of its counter, holding two grow-only parts:
//! `p`, the sum of the increments it applied, and `n`, the sum of the decrements. The counter's
//! value is `Σp − Σn` over all slots. A replica only ever raises the parts of its own slot, so two
//! states of the same counter never disagree about a part except by how far it has grown, and the
//! merge takes, slot by slot, the larger of each part.
//!
//! # Merge laws
//! For all counter states `a`, `b`, `c` (writing `a ⊔ b` for `a` merged with `b`):
//! - commutative: `a ⊔ b = b ⊔ a`;
//! - associative: `(a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)`;
//! - idempotent: `a ⊔ a = a`, so merging a state twice (a retried replication, a replayed log
//!   record) never counts anything twice;
//! - value of a merge: if `a` and `b` are states reached from a common state `o` by increments
//!   of disjoint replicas (the normal case: each replica counts only in its own slot), then
//!   `value(a ⊔ b) = value(a) + value(b) − value(o)`: every update is counted exactly once.
//!
//! `tests/counter_props.rs` checks all four on random states.
//!
//! # Range
//! Values are `i64`, as Redis's. An update whose result would leave `i64` (or whose slot part would
//! pass `u64::MAX`) is refused with [`Error::Overflow`] and changes nothing. Updates applied
//! concurrently on different replicas are each checked against the state their replica saw, so
//! their merge can in principle sum past `i64`: [`Counter::value`] then saturates at the bound
//! ([`Counter::exact_value`] has the true sum).
//!
//! # Reset and delete (observed reset)
//! A counter also keeps a *base*: per slot, the parts a reset observed. Its value is what was added
//! since, `Σ(p − n) − Σ(base.p − base.n)`, and a reset sets the base to the slots it sees. The base
//! only grows (a reset observes a state whose parts are at least the previous base's) and merges as
//! the slots do, part by part by the maximum, so the laws above hold for `(slots, base)` pairs too:
//! the merge is still commutative, associative and idempotent, and the base never exceeds the slots
//! of any state built from merges, increments and resets (`base ≤ slots`, part by part).
//!
//! - **delete** is a reset: the value becomes 0 and the key is *absent*. Absence is not a separate
//!   flag but follows from the state: a counter is [present](Counter::present) if it was never
//!   reset, or if some slot holds an update its base did not observe. So a replica that missed the
//!   delete cannot undo it (its slots are at most the observed ones: the merge keeps the base), and
//!   the delete cannot erase an update it never saw (that update's slot part exceeds the base).
//! - **add wins**: an increment concurrent with a delete survives it: the key is present with the
//!   value of the unobserved increments only.
//! - **set N** is a reset followed by an increment of N in a *fresh* slot that only this set ever
//!   writes ([`set_slot`]); `set 0` writes `(1, 1)` there (value 0, but an unobserved update, so the
//!   key is present). A set concurrent with an increment `d` gives `N + d`; two concurrent sets `N`
//!   and `M` give `N + M` (each is an increment the other did not observe).
//! - an update by 0 of an absent key records a *touch* (`p` and `n` of its slot each grow by 1), so
//!   the key is present again at the same value; of a present key it changes nothing (a delete
//!   concurrent with it then wins).

mod expiry;

use serde::{Deserialize, Serialize};

pub use self::expiry::{now_ms, Expiry, Stamp};
pub mod tokens;

use crate::error::{Error, Result};
use crate::ring::NodeId;

/// Names one replica's slot: the node id in the high 32 bits, the node's incarnation in the low 32.
/// A node that crashed and restarted counts in a fresh slot, so the counts it lost can never
/// shadow counts that survived on other replicas (merge takes the maximum per slot).
pub type ReplicaId = u64;

/// The slot id of `node` in its `incarnation`.
pub fn replica_id(node: NodeId, incarnation: u32) -> ReplicaId {
    (u64::from(node) << 32) | u64::from(incarnation)
}

/// The bits of a slot id that hold its *generation*: a node that collected tombstones counts the
/// keys it creates afterwards in a slot of its next generation, which no collected tombstone
/// holds (see `src/store/tombs.rs`). Incarnations below 2^16 leave these bits free.
pub const GENERATION_BITS: u64 = 0xFFFF_0000;

/// Whether two slot ids belong to the same node incarnation (whatever their generations).
pub fn same_owner(a: ReplicaId, b: ReplicaId) -> bool {
    (a ^ b) & !GENERATION_BITS == 0
}

/// `replica`'s slot id in generation `generation`.
pub fn with_generation(replica: ReplicaId, generation: u16) -> ReplicaId {
    (replica & !GENERATION_BITS) | (u64::from(generation) << 16)
}

/// One replica's part of a counter: what it added (`p`) and what it took away (`n`), both
/// grow-only. Serialized as the tuple `(replica, p, n)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slot {
    /// The replica that owns the slot.
    pub replica: ReplicaId,
    /// The sum of its increments.
    pub p: u64,
    /// The sum of its decrements (as a positive number).
    pub n: u64,
}

/// The slots of a counter: one inline (no heap block for a key written by one replica), more on
/// the heap. Serialized as a plain sequence, exactly as a `Vec` would be.
type Slots = smallvec::SmallVec<[Slot; 1]>;

/// A counter's state: its slots sorted by replica id, and the parts the last reset observed
/// (empty if it was never reset), sorted the same way, and the idempotency tokens it remembers
/// (none for a key never updated with one: see [`tokens`]). Its value is `Σp − Σn` over the slots
/// less the same over the base, plus the tokens' unobserved amounts. A counter given a TTL also
/// carries its [`Expiry`] (boxed: `None` costs only the pointer). Serialized as the fields in
/// this order: slots, base, expiry, tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    slots: Slots,
    base: Vec<Slot>,
    expiry: Option<Box<Expiry>>,
    tokens: Option<Box<tokens::Tokens>>,
    /// Not state: never compared, sent or logged (see [`expiry::DueHint`]).
    #[serde(skip)]
    due_after: expiry::DueHint,
}

/// The slot id a `set` writes its amount in: node 0 (never a node's id: a cluster numbers its nodes
/// from 1, joined nodes have the top bit set) and a random `nonce`. The caller picks a nonce the
/// counter does not hold yet (see [`Counter::set`]).
pub fn set_slot(nonce: u32) -> ReplicaId {
    replica_id(0, nonce)
}

/// Merges `theirs` into the slot of its replica in the sorted `slots`: each part becomes the
/// larger. Returns whether it changed, or where to insert `theirs` if its replica has no slot.
fn merge_found(slots: &mut [Slot], theirs: Slot) -> std::result::Result<bool, usize> {
    let at = slots.binary_search_by_key(&theirs.replica, |s| s.replica)?;
    let mine = &mut slots[at];
    let changed = theirs.p > mine.p || theirs.n > mine.n;
    mine.p = mine.p.max(theirs.p);
    mine.n = mine.n.max(theirs.n);
    Ok(changed)
}

/// Merges `theirs` into the sorted `slots`. Returns whether `slots` changed.
fn merge_into(slots: &mut Slots, theirs: Slot) -> bool {
    merge_found(slots, theirs).unwrap_or_else(|at| {
        slots.insert(at, theirs);
        true
    })
}

/// Merges `theirs` into the sorted `base`. Returns whether `base` changed.
fn merge_base(base: &mut Vec<Slot>, theirs: Slot) -> bool {
    merge_found(base, theirs).unwrap_or_else(|at| {
        base.insert(at, theirs);
        true
    })
}

/// `Σp − Σn` of `slots`.
fn sum(slots: &[Slot]) -> i128 {
    slots
        .iter()
        .map(|s| i128::from(s.p) - i128::from(s.n))
        .sum()
}

/// Clamps an exact sum into `i64`.
fn saturate(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Counter::default()
    }

    /// A counter whose single slot, owned by `replica`, has added `count` and taken nothing away.
    pub fn with_count(replica: ReplicaId, count: u64) -> Self {
        Counter::with_parts(replica, count, 0)
    }

    /// A counter whose single slot, owned by `replica`, holds the parts `p` and `n`.
    pub fn with_parts(replica: ReplicaId, p: u64, n: u64) -> Self {
        Counter {
            slots: smallvec::smallvec![Slot { replica, p, n }],
            base: Vec::new(),
            expiry: None,
            tokens: None,
            due_after: expiry::DueHint::default(),
        }
    }

    /// A counter with these slots (sorted by replica, the larger parts kept for a replica named
    /// twice).
    pub fn from_slots(slots: impl IntoIterator<Item = Slot>) -> Self {
        let mut counter = Counter::new();
        for slot in slots {
            counter.merge_slot(slot);
        }
        counter
    }

    /// A counter with these slots and this base (as old logs hold them).
    pub fn from_slots_and_base(
        slots: impl IntoIterator<Item = Slot>,
        base: impl IntoIterator<Item = Slot>,
    ) -> Self {
        let mut counter = Counter::from_slots(slots);
        for slot in base {
            merge_base(&mut counter.base, slot);
        }
        counter
    }

    /// The exact value: `Σp − Σn` over the slots, less the same over the base, plus the amounts
    /// of the remembered tokens no reset observed.
    pub fn exact_value(&self) -> i128 {
        sum(&self.slots) - sum(&self.base) + self.tokens_value()
    }

    /// The counter's value, saturated into `i64` (see the module docs on range).
    pub fn value(&self) -> i64 {
        saturate(self.exact_value())
    }

    /// The id of a slot of `replica`'s node incarnation, in any generation (the latest if
    /// several), if the counter holds one.
    pub fn own_slot(&self, replica: ReplicaId) -> Option<ReplicaId> {
        let mine = self
            .slots
            .iter()
            .rev()
            .find(|s| same_owner(s.replica, replica));
        mine.map(|s| s.replica)
    }

    /// The slots, sorted by replica id.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The parts the last reset observed, sorted by replica id (empty: never reset).
    pub fn base(&self) -> &[Slot] {
        &self.base
    }

    /// Whether the counter exists: it was never reset, or some slot holds an update the reset did
    /// not observe (see the module docs); and its deadline, if any, has not passed
    /// ([`Counter::due`]).
    pub fn present(&self) -> bool {
        let reset = !self.base.is_empty() || self.fired_once();
        (!reset || self.slots.iter().any(|s| self.unobserved(s)) || self.tokens_present())
            && !self.due()
    }

    /// A counter with these slots, base and expiry state (as a log of an older form holds them).
    pub fn from_parts(
        slots: impl IntoIterator<Item = Slot>,
        base: impl IntoIterator<Item = Slot>,
        expiry: Option<Expiry>,
    ) -> Self {
        let mut counter = Counter::from_slots(slots);
        for slot in base {
            merge_base(&mut counter.base, slot);
        }
        counter.expiry = expiry.filter(|e| *e != Expiry::default()).map(Box::new);
        counter
    }

    /// The value if the counter is [present](Counter::present).
    pub fn value_if_present(&self) -> Option<i64> {
        self.present().then(|| self.value())
    }

    /// Whether `slot` holds more than the base observed of it.
    fn unobserved(&self, slot: &Slot) -> bool {
        match self.base.binary_search_by_key(&slot.replica, |s| s.replica) {
            Ok(at) => slot.p > self.base[at].p || slot.n > self.base[at].n,
            Err(_) => slot.p > 0 || slot.n > 0,
        }
    }

    /// Resets the counter to 0 and absent, observing every slot it holds (a delete). A counter
    /// with no slot keeps an empty slot of replica 0 in its base, so that it reads as reset.
    pub fn reset(&mut self) {
        for &slot in &self.slots {
            merge_base(&mut self.base, slot);
        }
        self.tokens_observe();
        if self.base.is_empty() {
            // A reset that observed nothing still marks the counter reset: an empty slot of
            // replica 0, which adds nothing to the value.
            self.base.push(Slot::default());
        }
    }

    /// Resets the counter, then adds `value` in the fresh slot `slot` (see [`set_slot`]): the value
    /// becomes `value` and the key is present.
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the counter already holds `slot` (pick another nonce); nothing
    /// changes then.
    pub fn set(&mut self, slot: ReplicaId, value: i64) -> Result<()> {
        let taken = |slots: &[Slot]| slots.binary_search_by_key(&slot, |s| s.replica).is_ok();
        if taken(&self.slots) || taken(&self.base) {
            return Err(Error::BadRequest("the set's slot is taken".into()));
        }
        self.reset();
        let (p, n) = match value {
            0 => (1, 1),
            v if v > 0 => (v.unsigned_abs(), 0),
            v => (0, v.unsigned_abs()),
        };
        merge_into(
            &mut self.slots,
            Slot {
                replica: slot,
                p,
                n,
            },
        );
        Ok(())
    }

    /// `(replica, p)` if the counter has exactly one slot, never counted down, was never reset and
    /// has no expiry state:
    /// the compact form a store keeps for nearly every key.
    pub fn single_up(&self) -> Option<(ReplicaId, u64)> {
        if !self.base.is_empty() || self.expiry.is_some() || self.tokens.is_some() {
            return None;
        }
        match *self.slots.as_slice() {
            [Slot { replica, p, n: 0 }] => Some((replica, p)),
            _ => None,
        }
    }

    /// Adds `amount` (negative: takes it away) in `replica`'s slot and returns the new value.
    ///
    /// # Errors
    /// [`Error::Overflow`] if the value would leave `i64` or the slot's part would pass
    /// `u64::MAX`; the counter is then unchanged.
    pub fn increment(&mut self, replica: ReplicaId, amount: i64) -> Result<i64> {
        // A due counter fires first: the increment starts the key's next life, from 0.
        self.fire_if_due();
        if amount == 0 && !self.present() {
            return self.touch(replica);
        }
        let value = self.exact_value() + i128::from(amount);
        let value = i64::try_from(value).map_err(|_| Error::Overflow)?;
        let at = match self.slots.binary_search_by_key(&replica, |s| s.replica) {
            Ok(at) => at,
            Err(at) => {
                self.slots.insert(
                    at,
                    Slot {
                        replica,
                        ..Slot::default()
                    },
                );
                at
            }
        };
        let slot = &mut self.slots[at];
        let part = if amount >= 0 {
            &mut slot.p
        } else {
            &mut slot.n
        };
        match part.checked_add(amount.unsigned_abs()) {
            Some(sum) => *part = sum,
            None => {
                if slot.p == 0 && slot.n == 0 {
                    self.slots.remove(at);
                }
                return Err(Error::Overflow);
            }
        }
        Ok(value)
    }

    /// Records an update by 0 of an absent key in `replica`'s slot: `p` and `n` each grow by 1, so
    /// the value stays and the key is present. Returns the value.
    fn touch(&mut self, replica: ReplicaId) -> Result<i64> {
        let mut slot = self
            .slots
            .iter()
            .find(|s| s.replica == replica)
            .copied()
            .unwrap_or(Slot {
                replica,
                ..Slot::default()
            });
        slot.p = slot.p.checked_add(1).ok_or(Error::Overflow)?;
        slot.n = slot.n.checked_add(1).ok_or(Error::Overflow)?;
        merge_into(&mut self.slots, slot);
        Ok(self.value())
    }

    /// Merges one slot: each part becomes the larger of the two. Returns whether `self` changed.
    fn merge_slot(&mut self, theirs: Slot) -> bool {
        merge_into(&mut self.slots, theirs)
    }

    /// Merges `other` into `self`: in every slot and in the base, each part becomes the larger of
    /// the two (after the expiry rule of [`expiry`](self::expiry) observes a side that missed an
    /// expiry). Returns whether `self` changed.
    pub fn merge(&mut self, other: &Counter) -> bool {
        let (mut changed, observe_theirs) = self.merge_expiry(other);
        for &slot in &other.slots {
            changed |= self.merge_slot(slot);
        }
        for &slot in &other.base {
            changed |= merge_base(&mut self.base, slot);
        }
        changed |= self.tokens_merge(other, observe_theirs);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_and_decrements_add_up_per_slot() {
        let mut c = Counter::new();
        assert_eq!(c.increment(2, 3).unwrap(), 3);
        assert_eq!(c.increment(1, 4).unwrap(), 7);
        assert_eq!(c.increment(1, -10).unwrap(), -3);
        let parts: Vec<_> = c.slots().iter().map(|s| (s.replica, s.p, s.n)).collect();
        assert_eq!(parts, [(1, 4, 10), (2, 3, 0)]);
        assert_eq!(c.single_up(), None);
        assert_eq!(Counter::with_count(5, 2).single_up(), Some((5, 2)));
    }

    #[test]
    fn overflow_is_an_error_and_changes_nothing() {
        let mut c = Counter::with_count(1, i64::MAX as u64 - 1);
        assert!(matches!(c.increment(1, 2), Err(Error::Overflow)));
        assert_eq!(c.value(), i64::MAX - 1);
        assert_eq!(c.increment(1, 1).unwrap(), i64::MAX);
        let mut low = Counter::new();
        assert_eq!(low.increment(3, i64::MIN).unwrap(), i64::MIN);
        assert!(matches!(low.increment(4, -1), Err(Error::Overflow)));
        assert_eq!(
            low.slots().len(),
            1,
            "a refused update leaves no empty slot"
        );
        assert_eq!(low.increment(4, i64::MAX).unwrap(), -1);
    }

    #[test]
    fn a_full_part_is_an_overflow_even_when_the_value_fits() {
        let mut c = Counter::with_parts(1, u64::MAX, u64::MAX);
        assert_eq!(c.value(), 0);
        assert!(matches!(c.increment(1, 1), Err(Error::Overflow)));
        assert!(matches!(c.increment(1, -1), Err(Error::Overflow)));
        assert_eq!(c, Counter::with_parts(1, u64::MAX, u64::MAX));
    }

    #[test]
    fn merge_takes_the_maximum_of_each_part() {
        let mut a = Counter::with_parts(1, 5, 1);
        let mut b = Counter::with_parts(1, 3, 4);
        b.increment(2, -1).unwrap();
        assert!(a.merge(&b));
        assert_eq!(a.value(), 5 - 4 - 1);
        assert!(!a.merge(&b));
    }

    #[test]
    fn a_merged_sum_past_i64_saturates() {
        let mut a = Counter::with_count(1, i64::MAX as u64);
        a.merge(&Counter::with_count(2, 5));
        assert_eq!(a.value(), i64::MAX);
        assert_eq!(a.exact_value(), i128::from(i64::MAX) + 5);
    }
}
