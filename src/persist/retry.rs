//! The failed state of a log writer: when to try writing again (a back-off from 100 ms doubling
//! to 5 s), and what a retry must redo.

use std::time::{Duration, Instant};

/// The first wait after a failure.
const FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two retries.
const LONGEST: Duration = Duration::from_secs(5);

/// A writer that failed to write or sync its log, waiting to try again.
#[derive(Debug)]
pub(super) struct Failing {
    /// What failed first.
    pub why: String,
    /// When it failed first.
    pub since: Instant,
    /// How many retries failed since.
    pub retries: u32,
    /// A sync failed: the kernel may have dropped written bytes, so the retry rewrites the log.
    pub sync_lost: bool,
    delay: Duration,
    next: Instant,
}

impl Failing {
    /// A failure now, for `why`.
    pub fn new(why: String, sync_lost: bool) -> Self {
        let now = Instant::now();
        Failing {
            why,
            since: now,
            retries: 0,
            sync_lost,
            delay: FIRST,
            next: now + FIRST,
        }
    }

    /// Whether the next retry is due.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// The wait before the next retry.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// A retry failed too: wait twice as long (at most [`LONGEST`]).
    pub fn failed_again(&mut self, sync_lost: bool) {
        self.retries += 1;
        self.sync_lost |= sync_lost;
        self.delay = (self.delay * 2).min(LONGEST);
        self.next = Instant::now() + self.delay;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_five_seconds() {
        let mut failing = Failing::new("full".into(), false);
        assert!(!failing.due());
        let waits: Vec<u128> = (0..8)
            .map(|_| {
                failing.failed_again(false);
                failing.delay().as_millis()
            })
            .collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(failing.retries, 8);
    }
}
