//! `Standing`: whether this process may serve client reads and writes with the ring it holds.
//!
//! A process of a cluster of processes that may have missed ring changes (it starts on a data
//! directory that remembers a cluster, or it was on the small side of a partition and hears the
//! others again) is *catching up*: it asks the live processes for the newest layout before its
//! nodes serve reads and writes, so that it never routes with a ring the others left. A process
//! whose nodes the newest layout no longer names was *removed*: it refuses every read and write
//! with one line that says so. Node-to-node calls, layouts and reports are served in every
//! standing (the others need them to run changes and to catch up themselves).
//!
//! Shared by the Router (which learns layouts) and its gateways (which check it on every
//! request: one atomic load).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Error;
use crate::protocol::Request;

/// The value of a process that serves.
const SERVING: u64 = 0;
/// The value of a process that catches up.
const CATCHING_UP: u64 = 1;
/// Values from here on: removed, at ring epoch `value - REMOVED_AT`.
const REMOVED_AT: u64 = 2;

/// Where this process stands (shared by a Router and its gateways).
#[derive(Debug, Clone, Default)]
pub struct Standing(Arc<AtomicU64>);

/// What [`Standing::now`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stand {
    /// Serving reads and writes.
    Serving,
    /// Asking the others for the newest layout: reads and writes are refused for now.
    CatchingUp,
    /// The newest layout (this ring epoch) has none of this process's nodes.
    Removed(u64),
}

impl Standing {
    /// Where the process stands now.
    pub fn now(&self) -> Stand {
        match self.0.load(Ordering::Acquire) {
            SERVING => Stand::Serving,
            CATCHING_UP => Stand::CatchingUp,
            n => Stand::Removed(n - REMOVED_AT),
        }
    }

    /// Reads and writes wait until [`Standing::caught_up`] (unless the process was removed).
    pub fn catching_up(&self) {
        let _ = self
            .0
            .compare_exchange(SERVING, CATCHING_UP, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The process holds the newest layout it could learn: it serves (unless it was removed).
    pub fn caught_up(&self) {
        let _ = self
            .0
            .compare_exchange(CATCHING_UP, SERVING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The layout at `epoch` has none of this process's nodes: it never serves again.
    pub fn removed(&self, epoch: u64) {
        self.0.store(
            epoch.saturating_add(REMOVED_AT).max(REMOVED_AT),
            Ordering::Release,
        );
    }

    /// The refusal of `request` in this standing, if it is a read or a write that may not run.
    #[inline]
    pub fn refuse(&self, request: &Request) -> Option<Error> {
        let stand = self.0.load(Ordering::Relaxed);
        if stand == SERVING || !is_data(request) {
            return None;
        }
        Some(match self.now() {
            Stand::Serving => return None,
            Stand::CatchingUp => catching_up_error(),
            Stand::Removed(epoch) => removed_error(epoch),
        })
    }
}

/// Whether `request` reads or writes counters (what a stale or removed process must not serve).
fn is_data(request: &Request) -> bool {
    matches!(
        request,
        Request::Get { .. }
            | Request::Read { .. }
            | Request::Update { .. }
            | Request::Delete { .. }
            | Request::Set { .. }
            | Request::SetIf { .. }
            | Request::Expire { .. }
            | Request::SetTtl { .. }
            | Request::UpdateToken { .. }
    )
}

/// The answer to a read or a write while the process catches up.
pub fn catching_up_error() -> Error {
    Error::Unavailable(
        "this process is catching up with the cluster's ring; try again in a moment".into(),
    )
}

/// The line a removed process says, and refuses reads and writes with.
pub fn removed_line(epoch: u64) -> String {
    format!(
        "this process's nodes were removed from the cluster (ring epoch {epoch}); start it with \
         a fresh --data-dir to join again"
    )
}

/// The answer to a read or a write once the process was removed.
pub fn removed_error(epoch: u64) -> Error {
    Error::Unavailable(removed_line(epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catching_up_refuses_data_until_caught_up_and_removal_sticks() {
        let s = Standing::default();
        let get = Request::Get { key: "k".into() };
        assert!(s.refuse(&get).is_none());
        s.catching_up();
        assert_eq!(s.now(), Stand::CatchingUp);
        assert!(s.refuse(&get).unwrap().to_string().contains("catching up"));
        assert!(s.refuse(&Request::Layout).is_none());
        s.caught_up();
        assert!(s.refuse(&get).is_none());
        s.removed(7);
        assert_eq!(s.now(), Stand::Removed(7));
        s.caught_up();
        s.catching_up();
        assert_eq!(s.now(), Stand::Removed(7));
        let e = s.refuse(&get).unwrap().to_string();
        assert!(e.contains("removed from the cluster (ring epoch 7)"), "{e}");
    }
}
