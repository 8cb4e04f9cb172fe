//! Who a process is to the membership protocol: its advertised address and a generation.
//!
//! The address is the `HOST:PORT` of the process's first node; its UDP membership socket uses the
//! same port. The generation tells two lives of one address apart: a restarted process starts with
//! a higher one, and a process that learns it was declared down renews itself with the next one,
//! so it comes back as a new identity that wins over its old, down self.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One life of one process: its advertised address plus a generation number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    addr: SocketAddr,
    generation: u64,
}

impl ProcessId {
    /// The identity of `addr` in its life `generation`.
    pub fn new(addr: SocketAddr, generation: u64) -> Self {
        Self { addr, generation }
    }

    /// A first identity for a process starting now: its generation is the wall clock in
    /// milliseconds, so a restart (a new process, even one started a millisecond later) wins over
    /// every earlier life unless the clock went backwards.
    pub fn starting_now(addr: SocketAddr) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self::new(addr, millis)
    }

    /// The advertised address (`HOST:PORT` of the process's first node and of its UDP socket).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Which life of the address this is; higher wins.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl foca::Identity for ProcessId {
    type Addr = SocketAddr;

    /// Rejoining after being declared down: the same address, the next generation.
    fn renew(&self) -> Option<Self> {
        self.generation
            .checked_add(1)
            .map(|generation| Self::new(self.addr, generation))
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 2], 5001))
    }

    #[test]
    fn renewing_keeps_the_address_and_wins() {
        let old = ProcessId::new(addr(), 7);
        let new = old.renew().expect("a generation below the maximum renews");
        assert_eq!(Identity::addr(&new), addr());
        assert_eq!(new.generation(), 8);
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
    }

    #[test]
    fn the_last_generation_cannot_renew() {
        assert_eq!(ProcessId::new(addr(), u64::MAX).renew(), None);
    }

    #[test]
    fn a_later_start_wins_over_an_earlier_life() {
        let earlier = ProcessId::new(addr(), 1_000);
        let now = ProcessId::starting_now(addr());
        assert!(now.win_addr_conflict(&earlier));
    }
}
