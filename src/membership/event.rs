//! What the membership layer tells the rest of the process.

use std::net::SocketAddr;

/// A change in which processes are alive, by advertised address. For one address the events
/// alternate, starting with `Up`: a process reported down is reported up again once it (or a
/// restarted process on the same address) is heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberEvent {
    /// The process advertising this address is alive (joined, or came back).
    Up(SocketAddr),
    /// The process advertising this address is declared down (dead, stopped, cut off, or left).
    Down(SocketAddr),
}

impl MemberEvent {
    /// The address the event is about.
    pub fn addr(&self) -> SocketAddr {
        match self {
            MemberEvent::Up(addr) | MemberEvent::Down(addr) => *addr,
        }
    }
}
