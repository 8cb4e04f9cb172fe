//! Agreement on the next ring: single-decree Paxos, one instance per ring epoch.
//!
//! Plain Rust, no actors, no sockets: the actor layer carries the messages. Every process of a
//! cluster of processes is an [`Acceptor`]; the process that runs a membership change is a
//! [`Proposer`] for the epoch after the one in force. A proposal is numbered by a [`Ballot`]
//! `(epoch, counter, process)`, so competing proposals are ordered and a later one preempts an
//! earlier one. A change needs the promises of a majority of the processes of the layout in
//! force (not all), so a minority (the small side of a partition) cannot change the ring, and
//! two changes started at once cannot both be chosen for one epoch: any two majorities share a
//! process, and a proposer that hears of an accepted proposal must carry that one on instead of
//! its own. A proposer that dies after its layout was accepted leaves nobody waiting: the next
//! proposer finds the accepted layout, finishes it, and only then may propose its own.
//!
//! `tests/agreement_props.rs` runs acceptors and proposers over a simulated network that drops,
//! duplicates and reorders messages, and checks that no two different values are ever chosen for
//! one epoch.

mod acceptor;
mod ballot;
mod proposer;

pub use acceptor::{Acceptor, Promise, Refusal};
pub use ballot::Ballot;
pub use proposer::{Proposer, Step};

/// How many of `voters` make a majority.
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn majorities() {
        let m: Vec<usize> = (1..=6).map(super::majority).collect();
        assert_eq!(m, [1, 2, 2, 3, 3, 4]);
    }
}
