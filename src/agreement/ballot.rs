//! `Ballot`: the number of one proposal for one ring epoch.

use serde::{Deserialize, Serialize};

/// A proposal's number: ordered by epoch, then counter, then the proposing process (so two
/// processes never make equal ballots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot<P> {
    /// The ring epoch the proposal is for.
    pub epoch: u64,
    /// Grows with each try of a proposer (past any ballot it has heard of).
    pub counter: u64,
    /// The proposing process.
    pub process: P,
}

impl<P: Copy + Ord> Ballot<P> {
    /// The first ballot of `process` for `epoch` that beats `seen` (the highest one it heard of).
    pub fn after(epoch: u64, process: P, seen: Option<Ballot<P>>) -> Ballot<P> {
        let counter = seen
            .filter(|s| s.epoch == epoch)
            .map_or(1, |s| s.counter.saturating_add(1));
        Ballot {
            epoch,
            counter,
            process,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_epoch_counter_process() {
        let b = |epoch, counter, process| Ballot {
            epoch,
            counter,
            process,
        };
        assert!(b(2, 1, 1) > b(1, 9, 9));
        assert!(b(2, 2, 1) > b(2, 1, 9));
        assert!(b(2, 2, 2) > b(2, 2, 1));
        assert_eq!(Ballot::after(2, 1, Some(b(2, 5, 3))), b(2, 6, 1));
        assert!(Ballot::after(2, 1, Some(b(2, 5, 3))) > b(2, 5, 3));
        assert_eq!(Ballot::after(3, 1, Some(b(2, 5, 3))), b(3, 1, 1));
        assert_eq!(Ballot::after(3, 1, None), b(3, 1, 1));
    }
}
