//! `ChangeLock`: the promise a process makes to at most one membership change at a time.
//!
//! Which layout is the next one is agreed by a majority first ([`crate::agreement`], answered by
//! [`crate::actors::Votes`]); the lock then guards the copy. The process that runs the change (a
//! join, `add-node`, `remove-node`, or one it finishes for another proposer) holds its own lock
//! for the chosen layout ([`ChangeLock::hold`]), then asks every other process to take theirs
//! (`PushLayout` while `moving`). A process holding a promise for one layout refuses any other
//! layout of the same or a later epoch until that change ends (its final layout arrives, or it is
//! called off), and starts no change of its own meanwhile. The lock sits beside the Router, not
//! inside it, so a process that is busy running a change still answers at once: a push of the
//! layout it runs itself is answered there and then ([`ChangeLock::runs`]). A promise left by a
//! process that died in the middle of a change expires after [`PROMISE_FOR`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::layout::Layout;

/// How long a promise holds without its change ending.
pub const PROMISE_FOR: Duration = Duration::from_secs(60);

/// At most one membership change promised at a time (shared by a Router and its gateways).
#[derive(Debug, Clone, Default)]
pub struct ChangeLock(Arc<Mutex<Option<Held>>>);

/// A promised layout: since when, and whether this process runs its change itself.
#[derive(Debug)]
struct Held {
    layout: Layout,
    since: Instant,
    runs: bool,
}

impl ChangeLock {
    /// Promises `layout`: refused while another layout is promised and its promise holds.
    ///
    /// # Errors
    /// [`Error::Unavailable`] naming the change under way.
    pub fn promise(&self, layout: &Layout) -> Result<()> {
        let mut held = self.lock();
        if let Some(h) = &*held {
            if &h.layout != layout && h.since.elapsed() < PROMISE_FOR {
                return Err(under_way(h.layout.epoch));
            }
            if &h.layout == layout && h.runs {
                return Ok(());
            }
        }
        *held = Some(Held {
            layout: layout.clone(),
            since: Instant::now(),
            runs: false,
        });
        Ok(())
    }

    /// This process runs the change to `layout` (chosen by a majority): held whatever was
    /// promised before.
    pub fn hold(&self, layout: &Layout) {
        *self.lock() = Some(Held {
            layout: layout.clone(),
            since: Instant::now(),
            runs: true,
        });
    }

    /// Takes over the change to `layout`, which a majority chose for another proposer: held as
    /// this process's own, unless that proposer pushed it here already (it is alive and runs it:
    /// `false`, and nothing changes).
    pub fn take_over(&self, layout: &Layout) -> bool {
        let mut held = self.lock();
        if held
            .as_ref()
            .is_some_and(|h| &h.layout == layout && !h.runs)
        {
            return false;
        }
        *held = Some(Held {
            layout: layout.clone(),
            since: Instant::now(),
            runs: true,
        });
        true
    }

    /// Whether this process itself runs the change to `layout` now.
    pub fn runs(&self, layout: &Layout) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|h| h.runs && &h.layout == layout)
    }

    /// Refuses a change of this process's own while a promise to another holds.
    ///
    /// # Errors
    /// [`Error::Unavailable`] naming the change under way.
    pub fn free(&self) -> Result<()> {
        match &*self.lock() {
            Some(h) if h.since.elapsed() < PROMISE_FOR => Err(under_way(h.layout.epoch)),
            _ => Ok(()),
        }
    }

    /// Ends the promise of any change up to `epoch` (it finished, or was called off).
    pub fn release(&self, epoch: u64) {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|h| h.layout.epoch <= epoch) {
            *held = None;
        }
    }

    /// The layout promised now, if any.
    pub fn promised(&self) -> Option<Layout> {
        self.lock().as_ref().map(|h| h.layout.clone())
    }

    /// Ends the promise of exactly `layout` (its change was called off).
    pub fn release_layout(&self, layout: &Layout) {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|h| &h.layout == layout) {
            *held = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The refusal of a change while another one, to ring `epoch`, is promised.
pub fn under_way(epoch: u64) -> Error {
    Error::Unavailable(format!(
        "another membership change (to ring epoch {epoch}) is under way; try again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn layout(epoch: u64, vnodes: u32) -> Layout {
        Layout {
            epoch,
            vnodes,
            replicas: 3,
            members: BTreeMap::new(),
        }
    }

    #[test]
    fn one_change_at_a_time() {
        let lock = ChangeLock::default();
        lock.promise(&layout(2, 8)).unwrap();
        lock.promise(&layout(2, 8)).unwrap();
        assert!(lock.promise(&layout(2, 9)).is_err());
        assert!(lock.promise(&layout(3, 8)).is_err());
        lock.release(1);
        assert!(lock.promise(&layout(2, 9)).is_err());
        lock.release(2);
        assert!(lock.promised().is_none());
        lock.promise(&layout(2, 9)).unwrap();
        assert!(!lock.runs(&layout(2, 9)));
    }

    #[test]
    fn a_change_this_process_runs_is_held_and_answered_here() {
        let lock = ChangeLock::default();
        lock.free().unwrap();
        lock.promise(&layout(2, 8)).unwrap();
        assert!(lock.free().is_err());
        lock.hold(&layout(2, 9));
        assert!(lock.runs(&layout(2, 9)) && !lock.runs(&layout(2, 8)));
        lock.promise(&layout(2, 9)).unwrap();
        assert!(
            lock.runs(&layout(2, 9)),
            "a push of its own change keeps it its own"
        );
        assert!(lock.promise(&layout(2, 8)).is_err());
        lock.release_layout(&layout(2, 8));
        assert!(lock.promised().is_some());
        lock.release_layout(&layout(2, 9));
        assert!(lock.promised().is_none());
        assert!(lock.take_over(&layout(3, 8)) && lock.runs(&layout(3, 8)));
        lock.release(3);
        lock.promise(&layout(3, 8)).unwrap();
        assert!(
            !lock.take_over(&layout(3, 8)),
            "its proposer pushed it: it runs it"
        );
    }
}
