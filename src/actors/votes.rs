//! `Votes`: this process's acceptor in the majority agreement on the next ring, shared by the
//! Router and its gateways so that a process busy running a change of its own still answers
//! another's `Prepare` and `Accept` at once (as it answers a layout push).
//!
//! The acceptor lives in memory only: a process that restarts forgets what it promised and
//! accepted for the epoch being voted on (see docs/CLUSTER.md, "What is promised").

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::agreement::Acceptor;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::protocol::{LayoutBallot, Vote};

/// One process's acceptor (cheap to clone: every clone is the same acceptor).
#[derive(Debug, Clone)]
pub struct Votes(Arc<Mutex<Acceptor<Layout, SocketAddr>>>);

impl Default for Votes {
    fn default() -> Self {
        Votes(Arc::new(Mutex::new(Acceptor::new(1))))
    }
}

impl Votes {
    /// Phase 1: promise `ballot`, or say why not.
    pub fn prepare(&self, ballot: LayoutBallot) -> Vote {
        Vote::of_prepare(self.lock().prepare(ballot))
    }

    /// Phase 2: accept `layout` under `ballot`, or say why not.
    ///
    /// # Errors
    /// [`Error::BadRequest`] if the layout is not for the ballot's epoch or is not valid.
    pub fn accept(&self, ballot: LayoutBallot, layout: Layout) -> Result<Vote> {
        if layout.epoch != ballot.epoch {
            return Err(Error::BadRequest(format!(
                "a layout of ring epoch {} proposed under a ballot for epoch {}",
                layout.epoch, ballot.epoch
            )));
        }
        layout.check()?;
        Ok(Vote::of_accept(ballot, self.lock().accept(ballot, layout)))
    }

    /// Forgets the proposal accepted under `ballot` (its proposer called it off).
    pub fn call_off(&self, ballot: LayoutBallot) -> Vote {
        self.lock().call_off(ballot);
        Vote::Accepted { ballot }
    }

    /// The layout of `epoch` is in force here: votes move to the next epoch.
    pub fn learn(&self, epoch: u64) {
        self.lock().learn(epoch);
    }

    /// The highest ballot promised for the epoch voted on now, if any.
    pub fn promised(&self) -> Option<LayoutBallot> {
        self.lock().promised()
    }

    fn lock(&self) -> MutexGuard<'_, Acceptor<Layout, SocketAddr>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(epoch: u64) -> Layout {
        Layout::empty(epoch)
    }

    fn ballot(epoch: u64, counter: u64) -> LayoutBallot {
        LayoutBallot {
            epoch,
            counter,
            process: "127.0.0.1:5001".parse().unwrap(),
        }
    }

    #[test]
    fn votes_answer_as_the_acceptor_does() {
        let votes = Votes::default();
        votes.learn(3);
        assert_eq!(votes.prepare(ballot(3, 1)), Vote::Decided(3));
        let promised = votes.prepare(ballot(4, 2));
        assert_eq!(
            promised,
            Vote::Promised {
                ballot: ballot(4, 2),
                accepted: None
            }
        );
        assert!(votes.accept(ballot(4, 2), layout(5)).is_err());
        assert_eq!(
            votes.accept(ballot(4, 1), layout(4)).unwrap(),
            Vote::Outbid(ballot(4, 2))
        );
        assert_eq!(
            votes.accept(ballot(4, 2), layout(4)).unwrap(),
            Vote::Accepted {
                ballot: ballot(4, 2)
            }
        );
        let again = votes.prepare(ballot(4, 3));
        let accepted = Some((ballot(4, 2), layout(4)));
        assert_eq!(
            again,
            Vote::Promised {
                ballot: ballot(4, 3),
                accepted
            }
        );
        votes.call_off(ballot(4, 2));
        assert_eq!(
            votes.prepare(ballot(4, 4)),
            Vote::Promised {
                ballot: ballot(4, 4),
                accepted: None
            }
        );
    }
}
