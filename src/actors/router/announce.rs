//! What a membership change tells the other processes of a cluster of processes: first the
//! majority agreement on the next layout (`agree`), then, before the copy, that it is coming
//! (each promises it and writes to the next ring too); after the switch, that the new layout is
//! in force; or that the change is off.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use futures_util::future::join_all;

use super::agree::{agree, Agreed, Refused, Voters};
use crate::actors::change_lock::ChangeLock;
use crate::actors::remote::ask;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::protocol::{LayoutBallot, Request, Response};

use super::peers::ASK_TIMEOUT;

/// What a change announces to the other processes (see `membership::copy`).
pub(crate) struct Announce {
    /// The processes to tell, but this one, each with the addresses of its nodes (any of them
    /// answers for the process: its first may be the node being removed).
    pub to: Vec<(SocketAddr, Vec<SocketAddr>)>,
    /// Processes whose nodes are all down: one that cannot be reached does not stop the copy.
    pub down: BTreeSet<SocketAddr>,
    /// The layout the change makes.
    pub next: Layout,
    /// This process's own promise.
    pub lock: ChangeLock,
    /// Who votes on the next layout: the processes of the layout in force.
    pub voters: Voters,
    /// The ballot the next layout was chosen under, once a majority chose it.
    pub ballot: Option<LayoutBallot>,
}

impl Announce {
    /// Has a majority choose the next layout: this change's own, or one another proposer got
    /// accepted before (which must be finished first). Refused at once while this process has
    /// promised another process's change.
    ///
    /// # Errors
    /// [`Refused`]: another change under way, or no majority.
    pub async fn agree(&self) -> std::result::Result<Agreed, Refused> {
        if let Err(error) = self.lock.free() {
            return Err(Refused {
                error,
                behind: false,
            });
        }
        agree(&self.voters, &self.next).await
    }

    /// Holds this process's promise of the chosen layout, then has every other process promise
    /// it and write to the next ring too. A refusal, or a live process that does not answer,
    /// calls the change off.
    pub async fn moving(&self) -> Result<()> {
        self.lock.hold(&self.next);
        let request = Request::PushLayout {
            layout: self.next.clone(),
            moving: true,
        };
        let answers = join_all(self.to.iter().map(|(_, nodes)| ask_any(nodes, &request))).await;
        for ((to, _), answer) in self.to.iter().zip(answers) {
            match answer {
                Ok(_) => {}
                Err(_) if self.down.contains(to) => {}
                Err(e) => {
                    self.called_off().await;
                    return Err(Error::Unavailable(format!(
                        "the process at {to} did not take the change: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Tells every process the change is off (the copy failed): the voters forget its proposal,
    /// and those writing to its ring stop. Ends this process's promise.
    pub async fn called_off(&self) {
        if let Some(ballot) = self.ballot {
            self.voters.votes.call_off(ballot);
            let request = Request::CallOff {
                ballot,
                layout: self.next.clone(),
            };
            self.tell(&request).await;
        }
        self.lock.release(self.next.epoch);
    }

    /// Tells every process the new layout is in force, and ends this process's promise.
    pub async fn switched(&self) {
        let request = Request::PushLayout {
            layout: self.next.clone(),
            moving: false,
        };
        self.tell(&request).await;
        self.lock.release(self.next.epoch);
    }

    /// Sends `request` to every other process at once; one that does not answer is logged.
    async fn tell(&self, request: &Request) {
        let answers = join_all(self.to.iter().map(|(_, nodes)| ask_any(nodes, request))).await;
        for ((process, _), answer) in self.to.iter().zip(answers) {
            if let Err(e) = answer {
                tracing::warn!(
                    "cannot tell {process} of ring epoch {}: {e}",
                    self.next.epoch
                );
            }
        }
    }
}

/// Asks the nodes of one process in turn until one answers.
pub(super) async fn ask_any(nodes: &[SocketAddr], request: &Request) -> Result<Response> {
    let mut last = Error::Unavailable("the process has no nodes".into());
    for node in nodes {
        match ask(&node.to_string(), request, ASK_TIMEOUT).await {
            Ok(answer) => return Ok(answer),
            Err(e @ Error::Unavailable(_)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
