//! The wire form of the majority agreement on the next ring (`crate::agreement`): a ballot names
//! a proposal for one ring epoch, and a [`Vote`] is an acceptor's answer to `Prepare`, `Accept`
//! or `CallOff` (request tags 24 to 26, `docs/PROTOCOL.md` section 10).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::agreement::{Ballot, Promise, Refusal};
use crate::layout::Layout;

/// A ballot of the agreement on layouts: its process is the proposer's membership address.
pub type LayoutBallot = Ballot<SocketAddr>;

/// An acceptor's answer to a proposer (response tag 18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vote {
    /// Phase 1 granted: no proposal below `ballot` for its epoch will be taken part in; the
    /// proposal accepted so far for that epoch, if any. Tag 0.
    Promised {
        /// The ballot promised.
        ballot: LayoutBallot,
        /// The highest-numbered proposal accepted for that epoch, if any.
        accepted: Option<(LayoutBallot, Layout)>,
    },
    /// Phase 2 granted: the layout is accepted under `ballot` (also the answer to `CallOff`).
    /// Tag 1.
    Accepted {
        /// The ballot.
        ballot: LayoutBallot,
    },
    /// A higher ballot was promised for that epoch: another change is under way. Tag 2.
    Outbid(LayoutBallot),
    /// The epoch asked about is in force there already (up to this epoch). Tag 3.
    Decided(u64),
}

impl Vote {
    /// The answer to a prepare.
    pub fn of_prepare(answer: Result<Promise<Layout, SocketAddr>, Refusal<SocketAddr>>) -> Vote {
        match answer {
            Ok(p) => Vote::Promised {
                ballot: p.ballot,
                accepted: p.accepted,
            },
            Err(r) => Vote::refused(r),
        }
    }

    /// The answer to an accept under `ballot`.
    pub fn of_accept(ballot: LayoutBallot, answer: Result<(), Refusal<SocketAddr>>) -> Vote {
        match answer {
            Ok(()) => Vote::Accepted { ballot },
            Err(r) => Vote::refused(r),
        }
    }

    fn refused(refusal: Refusal<SocketAddr>) -> Vote {
        match refusal {
            Refusal::Promised(b) => Vote::Outbid(b),
            Refusal::Decided(epoch) => Vote::Decided(epoch),
        }
    }

    /// The refusal this vote is, if it is one.
    pub fn refusal(&self) -> Option<Refusal<SocketAddr>> {
        match *self {
            Vote::Outbid(b) => Some(Refusal::Promised(b)),
            Vote::Decided(epoch) => Some(Refusal::Decided(epoch)),
            _ => None,
        }
    }
}
