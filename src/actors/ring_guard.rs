//! The guard of a drop that must not act across a ring change (tombstone collection's last
//! step): a node checks it under its data lock and drops nothing if it fails.
//!
//! Within one process the guard is the Router's ring-change counter, read when the pass began:
//! every membership change bumps it before the direct path may write to a new replica. Across
//! processes that counter means nothing, so a drop sent to a node of another process carries the
//! agreed ring epoch the pass began under instead, and the receiving process compares it with
//! the epoch it has *settled* on ([`crate::direct::Direct::settled_epoch`]): the layout in
//! force, or 0 from the moment keys begin to move towards another one until the move ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What must still hold when a node applies a guarded drop.
#[derive(Debug, Clone)]
pub enum RingGuard {
    /// This process's ring-change counter still reads `expected`.
    Local {
        /// The Router's ring-change counter.
        epoch: Arc<AtomicU64>,
        /// Its value when the pass began.
        expected: u64,
    },
    /// The node's process has settled on the agreed ring epoch `epoch` (no move under way).
    Agreed {
        /// The ring epoch the pass began under.
        epoch: u64,
        /// The receiving process's settled epoch; `None` until the call arrives there (a guard
        /// without it holds nowhere).
        settled: Option<Arc<AtomicU64>>,
    },
}

impl RingGuard {
    /// Whether the drop may go ahead now.
    pub fn holds(&self) -> bool {
        match self {
            RingGuard::Local { epoch, expected } => epoch.load(Ordering::SeqCst) == *expected,
            RingGuard::Agreed {
                epoch,
                settled: Some(settled),
            } => *epoch != 0 && settled.load(Ordering::SeqCst) == *epoch,
            RingGuard::Agreed { settled: None, .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_fails_once_its_ring_moved() {
        let counter = Arc::new(AtomicU64::new(4));
        let local = RingGuard::Local {
            epoch: counter.clone(),
            expected: 4,
        };
        assert!(local.holds());
        counter.fetch_add(1, Ordering::SeqCst);
        assert!(!local.holds(), "a change began since the pass");

        let settled = Arc::new(AtomicU64::new(7));
        let agreed = |epoch, settled: Option<&Arc<AtomicU64>>| RingGuard::Agreed {
            epoch,
            settled: settled.cloned(),
        };
        assert!(agreed(7, Some(&settled)).holds());
        assert!(!agreed(6, Some(&settled)).holds(), "another epoch");
        assert!(!agreed(7, None).holds(), "not checked by a process");
        settled.store(0, Ordering::SeqCst);
        assert!(!agreed(7, Some(&settled)).holds(), "keys move");
        assert!(!agreed(0, Some(&settled)).holds(), "0 is no epoch");
    }
}
