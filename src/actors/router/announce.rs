//! What a membership change tells the other processes of a cluster of processes: before the copy,
//! that it is coming (each promises it and writes to the next ring too); after the switch, that
//! the new layout is in force; or that the change is off.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use crate::actors::change_lock::ChangeLock;
use crate::actors::remote::ask;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::protocol::{Request, Response};

use super::peers::ASK_TIMEOUT;

/// What a change announces to the other processes (see `membership::copy`).
pub(crate) struct Announce {
    /// The processes to tell, but this one, each with the addresses of its nodes (any of them
    /// answers for the process: its first may be the node being removed).
    pub to: Vec<(SocketAddr, Vec<SocketAddr>)>,
    /// Processes whose nodes are all down: one that cannot be reached does not stop the change.
    pub down: BTreeSet<SocketAddr>,
    /// The layout in force, to call a change off.
    pub current: Layout,
    /// The layout the change makes.
    pub next: Layout,
    /// This process's own promise.
    pub lock: ChangeLock,
}

impl Announce {
    /// Takes this process's promise, then every other's, and has them write to the next ring
    /// too. A refusal, or a live process that does not answer, calls the change off.
    pub async fn moving(&self) -> Result<()> {
        self.lock.promise(&self.next)?;
        let request = Request::PushLayout {
            layout: self.next.clone(),
            moving: true,
        };
        for (i, (to, nodes)) in self.to.iter().enumerate() {
            match ask_any(nodes, &request).await {
                Ok(_) => {}
                Err(_) if self.down.contains(to) => {}
                Err(e) => {
                    self.call_off(&self.to[..=i]).await;
                    return Err(Error::Unavailable(format!(
                        "the process at {to} did not take the change: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Tells every process the change is off (the copy failed), and ends this process's promise.
    pub async fn called_off(&self) {
        self.call_off(&self.to).await;
    }

    /// Tells `to` the change is off, and ends this process's promise.
    async fn call_off(&self, to: &[(SocketAddr, Vec<SocketAddr>)]) {
        self.tell(to, &self.current).await;
        self.lock.release(self.next.epoch);
    }

    /// Tells every process the new layout is in force, and ends this process's promise.
    pub async fn switched(&self) {
        self.tell(&self.to, &self.next).await;
        self.lock.release(self.next.epoch);
    }

    async fn tell(&self, to: &[(SocketAddr, Vec<SocketAddr>)], layout: &Layout) {
        let request = Request::PushLayout {
            layout: layout.clone(),
            moving: false,
        };
        for (process, nodes) in to {
            if let Err(e) = ask_any(nodes, &request).await {
                tracing::warn!("cannot tell {process} of ring epoch {}: {e}", layout.epoch);
            }
        }
    }
}

/// Asks the nodes of one process in turn until one answers.
async fn ask_any(nodes: &[SocketAddr], request: &Request) -> Result<Response> {
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
