//! Running the majority agreement for one membership change: this process proposes the next
//! layout to the processes of the layout in force ([`crate::agreement`] is the logic, this file
//! carries its messages: `Prepare` and `Accept` to every voter at once, answers taken as they
//! come, so a majority decides without waiting for a process that does not answer).
//!
//! A proposal outbid by another process's ballot is tried again (a few times, after a random
//! pause, past the highest ballot heard of); one for an epoch already decided, or without a
//! majority answering, is refused.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use rand::Rng;

use super::announce::ask_any;
use crate::actors::change_lock::under_way;
use crate::actors::Votes;
use crate::agreement::{Ballot, Promise, Proposer, Refusal, Step};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::protocol::{LayoutBallot, Request, Response, Vote};

/// How many ballots a proposer tries before it gives way.
const TRIES: u32 = 4;

/// The voters on the next layout: the processes of the layout in force.
#[derive(Debug, Clone)]
pub(crate) struct Voters {
    /// This process's membership address (the ballots' process).
    pub me: SocketAddr,
    /// Every other voter, with the addresses of its nodes (any of them answers for it).
    pub others: Vec<(SocketAddr, Vec<SocketAddr>)>,
    /// This process's own acceptor.
    pub votes: Votes,
}

/// The layout a majority chose for the next epoch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Agreed {
    /// This process's own proposal, under this ballot.
    Own(LayoutBallot),
    /// Another proposer's, accepted before: this process must finish that change first.
    Other(LayoutBallot, Layout),
}

/// Why no layout was chosen.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The line for the user.
    pub error: Error,
    /// Whether this process is behind: the epoch is in force elsewhere already.
    pub behind: bool,
}

/// A round that chose nothing: the refusal heard (if any), yes votes, voters.
type Failed = (Option<Refusal<SocketAddr>>, usize, usize);

impl Voters {
    fn count(&self) -> usize {
        self.others.len() + 1
    }
}

/// Has a majority of `voters` choose the layout for `own.epoch`: `own`, or one accepted before.
///
/// # Errors
/// [`Refused`]: outbid every time, the epoch decided elsewhere, or no majority answering.
pub(crate) async fn agree(voters: &Voters, own: &Layout) -> std::result::Result<Agreed, Refused> {
    let mut seen = voters.votes.promised();
    let mut tries = 0;
    loop {
        tries += 1;
        let ballot = Ballot::after(own.epoch, voters.me, seen);
        let (refusal, yes, count) = match round(voters, ballot, own).await {
            Ok(agreed) => return Ok(agreed),
            Err(failed) => failed,
        };
        match refusal {
            Some(Refusal::Promised(b)) if tries < TRIES => {
                seen = seen.max(Some(b));
                let pause = rand::thread_rng().gen_range(20..200u64) * u64::from(tries);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Some(Refusal::Promised(b)) => {
                return Err(Refused {
                    error: under_way(b.epoch),
                    behind: false,
                })
            }
            Some(Refusal::Decided(epoch)) => {
                return Err(Refused {
                    error: under_way(epoch),
                    behind: true,
                })
            }
            None => {
                return Err(Refused {
                    error: no_majority(yes, count),
                    behind: false,
                })
            }
        }
    }
}

/// The refusal of a change that too few processes took part in.
fn no_majority(yes: usize, voters: usize) -> Error {
    Error::Unavailable(format!(
        "a membership change needs a majority of the cluster's {voters} processes and only {yes} \
         took part; try again when more of them can be reached"
    ))
}

/// One try under `ballot`: both phases.
async fn round(
    voters: &Voters,
    ballot: LayoutBallot,
    own: &Layout,
) -> std::result::Result<Agreed, Failed> {
    let mut proposer = Proposer::new(ballot, voters.count(), own.clone());
    let local = voters.votes.prepare(ballot).map(Response::Vote);
    let step = feed(&mut proposer, voters.me, local);
    let step = phase(voters, &mut proposer, step, &Request::Prepare { ballot }).await;
    let value = match step {
        Step::Accept(value) => value,
        other => return Err(failed(other, voters)),
    };
    let local = voters
        .votes
        .accept(ballot, value.clone())
        .map(Response::Vote);
    let step = feed(&mut proposer, voters.me, local);
    let request = Request::Accept {
        ballot,
        layout: value,
    };
    match phase(voters, &mut proposer, step, &request).await {
        Step::Chosen { own: true, .. } => Ok(Agreed::Own(ballot)),
        Step::Chosen { value, own: false } => Ok(Agreed::Other(ballot, value)),
        other => Err(failed(other, voters)),
    }
}

fn failed(step: Step<Layout, SocketAddr>, voters: &Voters) -> Failed {
    match step {
        Step::Failed {
            refusal,
            yes,
            voters,
        } => (refusal, yes, voters),
        _ => (None, 0, voters.count()),
    }
}

/// Sends `request` to every other voter and feeds their answers in as they come, until the
/// proposer takes a step (`step` is the one after this process's own vote).
async fn phase(
    voters: &Voters,
    proposer: &mut Proposer<Layout, SocketAddr>,
    step: Step<Layout, SocketAddr>,
    request: &Request,
) -> Step<Layout, SocketAddr> {
    if step != Step::Wait {
        return step;
    }
    let mut asks: FuturesUnordered<_> = voters
        .others
        .iter()
        .map(|(process, nodes)| async move { (*process, ask_any(nodes, request).await) })
        .collect();
    while let Some((from, answer)) = asks.next().await {
        let step = feed(proposer, from, answer);
        if step != Step::Wait {
            return step;
        }
    }
    Step::Wait
}

/// One voter's answer, as the proposer takes it.
fn feed(
    proposer: &mut Proposer<Layout, SocketAddr>,
    from: SocketAddr,
    answer: Result<Response>,
) -> Step<Layout, SocketAddr> {
    let ballot = proposer.ballot();
    match answer {
        Ok(Response::Vote(Vote::Promised {
            ballot: b,
            accepted,
        })) if b == ballot => proposer.promised(from, Promise { ballot, accepted }),
        Ok(Response::Vote(Vote::Accepted { ballot: b })) if b == ballot => proposer.accepted(from),
        Ok(Response::Vote(vote)) => proposer.refused(from, vote.refusal()),
        Ok(_) => proposer.refused(from, None),
        Err(e) => {
            tracing::debug!("{from} did not vote on ring epoch {}: {e}", ballot.epoch);
            proposer.refused(from, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(epoch: u64) -> Layout {
        Layout::empty(epoch)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_process_alone_chooses_its_own_layout() {
        let votes = Votes::default();
        let me = "127.0.0.1:5001".parse().unwrap();
        let voters = Voters {
            me,
            others: Vec::new(),
            votes: votes.clone(),
        };
        let agreed = block_on(agree(&voters, &layout(2))).unwrap();
        assert!(matches!(agreed, Agreed::Own(b) if b.epoch == 2 && b.process == me));
    }

    #[test]
    fn voters_that_cannot_be_reached_make_no_majority() {
        let voters = Voters {
            me: "127.0.0.1:5001".parse().unwrap(),
            // Port 1 on loopback: refused at once.
            others: ["127.0.0.1:1", "127.0.0.2:1"]
                .iter()
                .map(|a| (a.parse().unwrap(), vec![a.parse().unwrap()]))
                .collect(),
            votes: Votes::default(),
        };
        let refused = block_on(agree(&voters, &layout(2))).unwrap_err();
        assert!(!refused.behind);
        let line = refused.error.to_string();
        assert!(
            line.contains("needs a majority of the cluster's 3 processes"),
            "{line}"
        );
    }

    #[test]
    fn an_epoch_decided_here_is_refused_as_behind() {
        let votes = Votes::default();
        votes.learn(4);
        let voters = Voters {
            me: "127.0.0.1:5001".parse().unwrap(),
            others: Vec::new(),
            votes,
        };
        let refused = block_on(agree(&voters, &layout(3))).unwrap_err();
        assert!(refused.behind);
        assert!(refused.error.to_string().contains("ring epoch 4"));
    }
}
