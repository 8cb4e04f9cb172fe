//! A grow-only counter that merges: one slot per replica, merge takes the per-slot maximum.
//!
//! This is the G-Counter CRDT. Its merge is commutative, associative and idempotent, so replicas can
//! exchange states in any order, any number of times, and a count is never added twice.

use serde::{Deserialize, Serialize};

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

/// The slots of a counter: one inline (no heap block for a key written by one replica), more on
/// the heap. Serialized as a plain sequence, exactly as a `Vec` would be.
type Slots = smallvec::SmallVec<[(ReplicaId, u64); 1]>;

/// A counter's state: `(replica, count)` slots sorted by replica id. Its value is the slots' sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    slots: Slots,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Counter::default()
    }

    /// A counter whose single slot, owned by `replica`, holds `count`.
    pub fn with_count(replica: ReplicaId, count: u64) -> Self {
        Counter {
            slots: smallvec::smallvec![(replica, count)],
        }
    }

    /// The counter's value: the sum of its slots (saturating at `u64::MAX`).
    pub fn value(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |sum, &(_, n)| sum.saturating_add(n))
    }

    /// The slots, sorted by replica id.
    pub fn slots(&self) -> &[(ReplicaId, u64)] {
        &self.slots
    }

    /// Adds `amount` to `replica`'s slot and returns the new value.
    ///
    /// # Errors
    /// [`Error::Overflow`] if the value would pass `u64::MAX`; the counter is then unchanged.
    pub fn increment(&mut self, replica: ReplicaId, amount: u64) -> Result<u64> {
        let value = self.value().checked_add(amount).ok_or(Error::Overflow)?;
        match self.slots.binary_search_by_key(&replica, |&(r, _)| r) {
            Ok(i) => self.slots[i].1 += amount,
            Err(i) => self.slots.insert(i, (replica, amount)),
        }
        Ok(value)
    }

    /// Merges `other` into `self`: every slot becomes the larger of the two. Returns whether `self`
    /// changed.
    pub fn merge(&mut self, other: &Counter) -> bool {
        let mut changed = false;
        for &(replica, count) in &other.slots {
            match self.slots.binary_search_by_key(&replica, |&(r, _)| r) {
                Ok(i) if self.slots[i].1 < count => {
                    self.slots[i].1 = count;
                    changed = true;
                }
                Ok(_) => {}
                Err(i) => {
                    self.slots.insert(i, (replica, count));
                    changed = true;
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_add_up_per_slot() {
        let mut c = Counter::new();
        assert_eq!(c.increment(2, 3).unwrap(), 3);
        assert_eq!(c.increment(1, 4).unwrap(), 7);
        assert_eq!(c.slots(), &[(1, 4), (2, 3)]);
    }

    #[test]
    fn overflow_is_an_error_and_changes_nothing() {
        let mut c = Counter::with_count(1, u64::MAX - 1);
        assert!(matches!(c.increment(1, 2), Err(Error::Overflow)));
        assert_eq!(c.value(), u64::MAX - 1);
        assert_eq!(c.increment(1, 1).unwrap(), u64::MAX);
    }

    #[test]
    fn merge_takes_the_maximum() {
        let mut a = Counter::with_count(1, 5);
        let mut b = Counter::with_count(1, 3);
        b.increment(2, 1).unwrap();
        assert!(a.merge(&b));
        assert_eq!(a.value(), 6);
        assert!(!a.merge(&b));
    }
}
