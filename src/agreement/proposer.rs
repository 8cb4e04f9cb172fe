//! `Proposer`: one try of one process to have a layout chosen for the next ring epoch.

use std::collections::BTreeSet;

use super::acceptor::{Promise, Refusal};
use super::ballot::Ballot;
use super::majority;

/// One try, under one ballot, to get a value chosen by a majority of `voters` processes.
#[derive(Debug, Clone)]
pub struct Proposer<V, P> {
    ballot: Ballot<P>,
    voters: usize,
    own: V,
    /// The value sent in phase 2, once a majority promised.
    proposed: Option<V>,
    /// The highest-numbered proposal a promise reported as accepted.
    highest: Option<(Ballot<P>, V)>,
    promised: BTreeSet<P>,
    accepted: BTreeSet<P>,
    refused: BTreeSet<P>,
    /// The most telling refusal heard: a higher ballot, or a decided epoch.
    why: Option<Refusal<P>>,
    done: bool,
}

/// What a proposer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<V, P> {
    /// Nothing yet: more answers are needed.
    Wait,
    /// A majority promised: ask every voter to accept this value under the ballot (the
    /// proposer's own, or the accepted one it must carry on).
    Accept(V),
    /// A majority accepted the value: it is chosen for the epoch. `own` says whether it is the
    /// proposer's own value (else it finished another proposer's change).
    Chosen {
        /// The value chosen.
        value: V,
        /// Whether it is the value this proposer set out to propose.
        own: bool,
    },
    /// No majority can be had under this ballot: why (a refusal heard, if any), and how many
    /// voters said yes.
    Failed {
        /// A refusal heard from a voter (`None`: the voters did not answer).
        refusal: Option<Refusal<P>>,
        /// How many voters answered yes in the phase that failed.
        yes: usize,
        /// How many voters there are.
        voters: usize,
    },
}

impl<V: Clone + PartialEq, P: Copy + Ord> Proposer<V, P> {
    /// A try of `own` under `ballot`, among `voters` processes (the processes of the layout in
    /// force: the epoch before the ballot's).
    pub fn new(ballot: Ballot<P>, voters: usize, own: V) -> Self {
        Proposer {
            ballot,
            voters: voters.max(1),
            own,
            proposed: None,
            highest: None,
            promised: BTreeSet::new(),
            accepted: BTreeSet::new(),
            refused: BTreeSet::new(),
            why: None,
            done: false,
        }
    }

    /// The ballot of this try.
    pub fn ballot(&self) -> Ballot<P> {
        self.ballot
    }

    /// The value sent in phase 2, once a majority promised.
    pub fn proposed(&self) -> Option<&V> {
        self.proposed.as_ref()
    }

    /// A voter's promise (phase 1 answer).
    pub fn promised(&mut self, from: P, promise: Promise<V, P>) -> Step<V, P> {
        if self.done || self.proposed.is_some() || promise.ballot != self.ballot {
            return Step::Wait;
        }
        if let Some((b, v)) = promise.accepted {
            if self.highest.as_ref().is_none_or(|(h, _)| b > *h) {
                self.highest = Some((b, v));
            }
        }
        self.promised.insert(from);
        if self.promised.len() < majority(self.voters) {
            return Step::Wait;
        }
        let value = match &self.highest {
            Some((_, v)) => v.clone(),
            None => self.own.clone(),
        };
        self.proposed = Some(value.clone());
        self.refused.clear();
        Step::Accept(value)
    }

    /// A voter accepted the proposal (phase 2 answer).
    pub fn accepted(&mut self, from: P) -> Step<V, P> {
        let Some(value) = self.proposed.clone().filter(|_| !self.done) else {
            return Step::Wait;
        };
        self.accepted.insert(from);
        if self.accepted.len() < majority(self.voters) {
            return Step::Wait;
        }
        self.done = true;
        let own = value == self.own;
        Step::Chosen { value, own }
    }

    /// A voter refused (`Some`) or did not answer (`None`) in the phase under way.
    pub fn refused(&mut self, from: P, refusal: Option<Refusal<P>>) -> Step<V, P> {
        if self.done {
            return Step::Wait;
        }
        if let Some(r) = refusal {
            // A decided epoch says more than a higher ballot: the proposer must catch up.
            if !matches!(self.why, Some(Refusal::Decided(_))) {
                self.why = Some(r);
            }
        }
        let yes = match self.proposed {
            None => &self.promised,
            Some(_) => &self.accepted,
        };
        if yes.contains(&from) {
            return Step::Wait;
        }
        let yes = yes.len();
        self.refused.insert(from);
        if self.refused.len() > self.voters - majority(self.voters) {
            self.done = true;
            return Step::Failed {
                refusal: self.why,
                yes,
                voters: self.voters,
            };
        }
        Step::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::super::Acceptor;
    use super::*;

    fn b(counter: u64, process: u8) -> Ballot<u8> {
        Ballot {
            epoch: 2,
            counter,
            process,
        }
    }

    #[test]
    fn a_majority_of_three_chooses_the_proposers_value() {
        let mut acceptors: Vec<Acceptor<&str, u8>> = (0..3).map(|_| Acceptor::new(1)).collect();
        let mut p = Proposer::new(b(1, 0), 3, "x");
        assert_eq!(
            p.promised(0, acceptors[0].prepare(b(1, 0)).unwrap()),
            Step::Wait
        );
        let step = p.promised(1, acceptors[1].prepare(b(1, 0)).unwrap());
        assert_eq!(step, Step::Accept("x"));
        acceptors[0].accept(b(1, 0), "x").unwrap();
        assert_eq!(p.accepted(0), Step::Wait);
        assert_eq!(p.refused(2, None), Step::Wait);
        assert_eq!(
            p.accepted(1),
            Step::Chosen {
                value: "x",
                own: true
            }
        );
    }

    #[test]
    fn a_later_proposer_carries_an_accepted_value_on() {
        let mut acceptors: Vec<Acceptor<&str, u8>> = (0..3).map(|_| Acceptor::new(1)).collect();
        acceptors[0].accept(b(1, 0), "x").unwrap();
        let mut p = Proposer::new(b(2, 1), 3, "y");
        p.promised(1, acceptors[1].prepare(b(2, 1)).unwrap());
        let step = p.promised(0, acceptors[0].prepare(b(2, 1)).unwrap());
        assert_eq!(step, Step::Accept("x"));
        p.accepted(0);
        assert_eq!(
            p.accepted(1),
            Step::Chosen {
                value: "x",
                own: false
            }
        );
    }

    #[test]
    fn a_minority_cannot_choose_and_says_why() {
        let mut p: Proposer<&str, u8> = Proposer::new(b(1, 0), 3, "x");
        let mut a: Acceptor<&str, u8> = Acceptor::new(1);
        p.promised(0, a.prepare(b(1, 0)).unwrap());
        assert_eq!(p.refused(1, None), Step::Wait);
        assert_eq!(p.refused(1, None), Step::Wait);
        assert_eq!(
            p.refused(2, Some(Refusal::Promised(b(5, 2)))),
            Step::Failed {
                refusal: Some(Refusal::Promised(b(5, 2))),
                yes: 1,
                voters: 3
            }
        );
        assert_eq!(p.promised(1, a.prepare(b(1, 0)).unwrap()), Step::Wait);
    }
}
