//! Pacing for long work on the server's one thread.
//!
//! `ringkv serve` runs every actor and connection on one thread. Long work that runs in steps
//! (a scan of a node's store, the batches of a copy) yields between steps, but a plain
//! [`tokio::task::yield_now`] only puts the task at the back of the local queue: the runtime
//! polls up to 61 queued tasks before it asks the operating system which sockets are ready, so
//! a chain of 1 ms steps kept every connection waiting for up to about 60 ms (and a chain of
//! 3 ms merges for about 180 ms: the largest update latency during `add-node` on a million keys,
//! BENCHMARKS.md). A [`Pace`] yields the usual way while its work has run less than [`SLICE`]
//! since it last let the thread go, and otherwise sleeps for a millisecond, which parks the task
//! on the timer: the runtime then runs out of queued work, polls the sockets and serves the
//! connections before the work goes on.

use std::time::{Duration, Instant};

/// How long paced work runs before it lets connections in.
pub const SLICE: Duration = Duration::from_millis(4);

/// The pace of one piece of long work.
#[derive(Debug)]
pub struct Pace {
    since: Instant,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new()
    }
}

impl Pace {
    /// Work that starts now.
    pub fn new() -> Self {
        Pace {
            since: Instant::now(),
        }
    }

    /// Yields between two steps of the work: a sleep of a millisecond once it has run for
    /// [`SLICE`], else a plain yield.
    pub async fn step(&mut self) {
        if self.since.elapsed() >= SLICE {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.since = Instant::now();
        } else {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn long_work_sleeps_once_its_slice_is_spent() {
        let mut pace = Pace::new();
        let start = Instant::now();
        pace.step().await;
        assert!(start.elapsed() < SLICE, "a fresh pace only yields");
        std::thread::sleep(SLICE);
        let before = Instant::now();
        pace.step().await;
        assert!(
            before.elapsed() >= Duration::from_millis(1),
            "a spent slice sleeps"
        );
        assert!(pace.since >= before, "and starts a new slice");
    }
}
