//! `ChangeLock`: the promise a process makes to at most one membership change at a time.
//!
//! A process that runs a change (a join, `add-node`, `remove-node`) first takes its own lock for
//! the change's layout, then asks every other process to take theirs (`PushLayout` while
//! `moving`). A process holding a promise for one layout refuses any other layout of the same or
//! a later epoch until that change ends (its final layout arrives, or it is called off), so two
//! changes started at once in two processes cannot both proceed: each is refused by the other,
//! and the ring stays one. The lock sits beside the Router, not inside it, so a process that is
//! busy running its own change still answers at once. A promise left by a process that died in
//! the middle of a change expires after [`PROMISE_FOR`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::layout::Layout;

/// How long a promise holds without its change ending.
pub const PROMISE_FOR: Duration = Duration::from_secs(60);

/// At most one membership change promised at a time (shared by a Router and its gateways).
#[derive(Debug, Clone, Default)]
pub struct ChangeLock(Arc<Mutex<Option<(Layout, Instant)>>>);

impl ChangeLock {
    /// Promises `layout`: refused while another layout is promised and its promise holds.
    ///
    /// # Errors
    /// [`Error::Unavailable`] naming the change under way.
    pub fn promise(&self, layout: &Layout) -> Result<()> {
        let mut held = self.lock();
        if let Some((other, since)) = &*held {
            if other != layout && since.elapsed() < PROMISE_FOR {
                return Err(under_way(other.epoch));
            }
        }
        *held = Some((layout.clone(), Instant::now()));
        Ok(())
    }

    /// Ends the promise of any change up to `epoch` (it finished, or was called off).
    pub fn release(&self, epoch: u64) {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|(l, _)| l.epoch <= epoch) {
            *held = None;
        }
    }

    /// The layout promised now, if any.
    pub fn promised(&self) -> Option<Layout> {
        self.lock().as_ref().map(|(l, _)| l.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Layout, Instant)>> {
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
    }
}
