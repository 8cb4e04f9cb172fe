//! The link to a node in another process, shared by its [`RemoteNode`](super::RemoteNode), which
//! opens and reopens it, and the direct path ([`crate::direct`]), which sends an update's merges
//! over it from the caller's own task, with no actor message on the way.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::link::Link;
use crate::error::Result;
use crate::protocol::peer::{WireOp, WireReply};

/// Where a call's answer arrives.
pub type Reply = oneshot::Receiver<Result<WireReply>>;

/// The link to one remote node, open or not.
pub struct SharedLink {
    addr: String,
    link: Mutex<Option<Link>>,
}

impl SharedLink {
    /// No link yet to the node at `addr` (`HOST:PORT`).
    pub fn new(addr: impl Into<String>) -> Arc<SharedLink> {
        Arc::new(SharedLink {
            addr: addr.into(),
            link: Mutex::new(None),
        })
    }

    /// The address of the node.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether a link is open (calls sent now will be written).
    pub fn is_open(&self) -> bool {
        self.lock().as_ref().is_some_and(Link::is_open)
    }

    /// Puts a newly opened link in place (`None`: the last attempt failed).
    pub(super) fn set(&self, link: Option<Link>) {
        *self.lock() = link;
    }

    /// Sends `op` if the link is open; `None` if it is not (nothing was sent).
    pub fn send(&self, op: WireOp) -> Option<Reply> {
        let guard = self.lock();
        let link = guard.as_ref().filter(|l| l.is_open())?;
        let (answer, reply) = oneshot::channel();
        link.send(op, answer);
        Some(reply)
    }

    /// A mark of the calls sent so far (`None`: no link is open, nothing is in flight).
    pub fn mark(&self) -> Option<u64> {
        self.lock().as_ref().map(Link::mark)
    }

    /// Whether every call sent before `mark` has been answered or failed (also when the link it
    /// was taken on has been replaced: its calls failed with it).
    pub fn settled(&self, mark: u64) -> bool {
        self.lock()
            .as_ref()
            .is_none_or(|l| !l.is_open() || l.settled(mark))
    }

    /// Ends the open link, failing its calls in flight (the next call opens a new one).
    pub fn close(&self, why: &str) {
        if let Some(link) = self.lock().take() {
            link.close(format!("node at {} closed: {why}", self.addr));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Link>> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }
}
