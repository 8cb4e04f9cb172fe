//! Failed logins: how many each source address had lately, so a guesser is slowed down and then
//! refused for a while. Bounded: at most [`MAX_ADDRESSES`] addresses are remembered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures one address may have within [`WINDOW`] before its attempts are refused unchecked.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The most addresses remembered; past it the oldest entries are dropped.
pub const MAX_ADDRESSES: usize = 10_000;
/// Failures one connection may have before each further one is answered late.
pub const FREE_FAILURES_PER_CONNECTION: u32 = 3;
/// The longest a failed attempt's answer is held back.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// The failures of each source address within the window.
#[derive(Debug, Default)]
pub struct Limiter {
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    /// Whether `addr` has failed too often lately to be checked at all.
    pub fn blocked(&self, addr: IpAddr) -> bool {
        let Ok(seen) = self.seen.lock() else {
            return false;
        };
        matches!(seen.get(&addr), Some(&(since, n))
            if since.elapsed() < WINDOW && n >= MAX_FAILURES_PER_ADDRESS)
    }

    /// Counts one failure of `addr`; returns its failures within the window.
    pub fn failed(&self, addr: IpAddr) -> u32 {
        let Ok(mut seen) = self.seen.lock() else {
            return 0;
        };
        if seen.len() >= MAX_ADDRESSES && !seen.contains_key(&addr) {
            seen.retain(|_, (since, _)| since.elapsed() < WINDOW);
            if seen.len() >= MAX_ADDRESSES {
                seen.clear();
            }
        }
        let entry = seen.entry(addr).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }
}

/// How long to hold back the answer to a connection's `failures`-th failed attempt: nothing for
/// the first few, then 100 ms doubling up to [`MAX_DELAY`].
pub fn delay(failures: u32) -> Duration {
    let Some(over) = failures.checked_sub(FREE_FAILURES_PER_CONNECTION + 1) else {
        return Duration::ZERO;
    };
    let millis = 100u64.saturating_mul(1u64 << over.min(10));
    Duration::from_millis(millis).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures() {
        let limiter = Limiter::default();
        let addr: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        for n in 1..=MAX_FAILURES_PER_ADDRESS {
            assert!(!limiter.blocked(addr));
            assert_eq!(limiter.failed(addr), n);
        }
        assert!(limiter.blocked(addr));
        assert!(!limiter.blocked(other));
    }

    #[test]
    fn a_connection_is_slowed_after_a_few_failures() {
        assert_eq!(delay(1), Duration::ZERO);
        assert_eq!(delay(FREE_FAILURES_PER_CONNECTION), Duration::ZERO);
        assert_eq!(
            delay(FREE_FAILURES_PER_CONNECTION + 1),
            Duration::from_millis(100)
        );
        assert_eq!(
            delay(FREE_FAILURES_PER_CONNECTION + 2),
            Duration::from_millis(200)
        );
        assert_eq!(delay(1000), MAX_DELAY);
    }
}
