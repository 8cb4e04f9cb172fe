//! `Acceptor`: one process's votes on the next ring epoch.

use serde::{Deserialize, Serialize};

use super::ballot::Ballot;

/// One process's side of the agreement: the epoch in force here, and for the next one the
/// highest ballot promised and the proposal accepted. Serializable, so that a process keeps its
/// promises across a restart (`crate::actors::Votes` writes it to the data directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptor<V, P> {
    /// The epoch of the layout in force here.
    decided: u64,
    /// The epoch voted on now (past `decided`).
    slot: u64,
    promised: Option<Ballot<P>>,
    /// Every proposal accepted for the epoch voted on and not called off, by rising ballot.
    accepted: Vec<(Ballot<P>, V)>,
}

/// A promise not to take part in any proposal for the ballot's epoch numbered below `ballot`,
/// with the proposal accepted so far for that epoch, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise<V, P> {
    /// The ballot promised.
    pub ballot: Ballot<P>,
    /// The highest-numbered proposal this process accepted for that epoch.
    pub accepted: Option<(Ballot<P>, V)>,
}

/// Why an acceptor refused a prepare or an accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<P> {
    /// The epoch asked about is in force here already (up to this epoch): the proposer is
    /// behind and must learn the layout in force.
    Decided(u64),
    /// A higher ballot was promised: another change for this epoch is under way.
    Promised(Ballot<P>),
}

impl<V: Clone + PartialEq, P: Copy + Ord> Acceptor<V, P> {
    /// An acceptor whose layout in force has `epoch`.
    pub fn new(epoch: u64) -> Self {
        Acceptor {
            decided: epoch,
            slot: epoch + 1,
            promised: None,
            accepted: Vec::new(),
        }
    }

    /// The epoch of the layout in force here.
    pub fn decided(&self) -> u64 {
        self.decided
    }

    /// The highest ballot promised for the epoch voted on now.
    pub fn promised(&self) -> Option<Ballot<P>> {
        self.promised
    }

    /// The proposal accepted for the epoch voted on now.
    pub fn accepted(&self) -> Option<&(Ballot<P>, V)> {
        self.accepted.last()
    }

    /// Phase 1: promises `ballot` unless its epoch is decided here or a higher ballot was
    /// promised. A ballot for a later epoch than the one voted on moves the vote there (the
    /// proposer knows the epochs between are decided).
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn prepare(&mut self, ballot: Ballot<P>) -> Result<Promise<V, P>, Refusal<P>> {
        self.check(ballot)?;
        self.promised = Some(ballot);
        Ok(Promise {
            ballot,
            accepted: self.accepted.last().cloned(),
        })
    }

    /// Phase 2: accepts `value` under `ballot` unless a higher ballot was promised (or the epoch
    /// is decided here).
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn accept(&mut self, ballot: Ballot<P>, value: V) -> Result<(), Refusal<P>> {
        self.check(ballot)?;
        self.promised = Some(ballot);
        match self.accepted.last_mut() {
            Some(last) if last.0 == ballot => last.1 = value,
            _ => self.accepted.push((ballot, value)),
        }
        Ok(())
    }

    /// The layout of `epoch` is in force here now: votes move to the epoch after it.
    pub fn learn(&mut self, epoch: u64) {
        if epoch <= self.decided {
            return;
        }
        self.decided = epoch;
        if self.slot <= epoch {
            self.slot = epoch + 1;
            self.promised = None;
            self.accepted.clear();
        }
    }

    /// Forgets the proposal accepted under `ballot`: its proposer called it off (the copy
    /// failed) and will never install it. Only that ballot's proposal goes; one accepted under
    /// an earlier ballot is reported again, since its own proposer may still install it.
    pub fn call_off(&mut self, ballot: Ballot<P>) {
        self.accepted.retain(|(b, _)| *b != ballot);
    }

    fn check(&mut self, ballot: Ballot<P>) -> Result<(), Refusal<P>> {
        if ballot.epoch <= self.decided {
            return Err(Refusal::Decided(self.decided));
        }
        if ballot.epoch > self.slot {
            self.slot = ballot.epoch;
            self.promised = None;
            self.accepted.clear();
        } else if ballot.epoch < self.slot {
            // An older epoch than the one voted on: it is decided (a proposer moved the vote on).
            return Err(Refusal::Decided(self.slot - 1));
        }
        match self.promised {
            Some(p) if p > ballot => Err(Refusal::Promised(p)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(epoch: u64, counter: u64, process: u8) -> Ballot<u8> {
        Ballot {
            epoch,
            counter,
            process,
        }
    }

    #[test]
    fn promises_hold_against_lower_ballots_and_report_what_was_accepted() {
        let mut a: Acceptor<&str, u8> = Acceptor::new(1);
        assert_eq!(a.prepare(b(2, 1, 1)).unwrap().accepted, None);
        a.accept(b(2, 1, 1), "x").unwrap();
        assert_eq!(a.prepare(b(2, 1, 0)), Err(Refusal::Promised(b(2, 1, 1))));
        assert_eq!(
            a.accept(b(2, 1, 0), "y"),
            Err(Refusal::Promised(b(2, 1, 1)))
        );
        let p = a.prepare(b(2, 2, 0)).unwrap();
        assert_eq!(p.accepted, Some((b(2, 1, 1), "x")));
        assert_eq!(
            a.accept(b(2, 1, 1), "x"),
            Err(Refusal::Promised(b(2, 2, 0)))
        );
    }

    #[test]
    fn decided_epochs_are_refused_and_learning_moves_the_vote_on() {
        let mut a: Acceptor<&str, u8> = Acceptor::new(3);
        assert_eq!(a.prepare(b(3, 1, 1)), Err(Refusal::Decided(3)));
        a.accept(b(4, 1, 1), "x").unwrap();
        a.learn(4);
        assert_eq!(a.decided(), 4);
        assert!(a.accepted().is_none());
        assert!(a.prepare(b(5, 1, 2)).is_ok());
        // A ballot for a later epoch moves the vote there; the older one is then refused.
        assert!(a.prepare(b(7, 1, 2)).is_ok());
        assert_eq!(a.prepare(b(5, 9, 2)), Err(Refusal::Decided(6)));
        a.learn(3);
        assert_eq!(a.decided(), 4);
    }

    #[test]
    fn a_called_off_proposal_is_forgotten_and_the_one_before_it_comes_back() {
        let mut a: Acceptor<&str, u8> = Acceptor::new(1);
        a.accept(b(2, 1, 1), "x").unwrap();
        a.call_off(b(2, 1, 2));
        assert_eq!(a.accepted(), Some(&(b(2, 1, 1), "x")));
        a.accept(b(2, 2, 2), "x").unwrap();
        a.call_off(b(2, 2, 2));
        assert_eq!(a.accepted(), Some(&(b(2, 1, 1), "x")));
        a.call_off(b(2, 1, 1));
        assert!(a.accepted().is_none());
    }
}
