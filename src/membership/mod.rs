//! Membership and failure detection between processes (issue 12, slice 2), on `foca` (SWIM).
//!
//! Layered as the rest: [`MembershipCore`] is the logic, plain Rust with no actix and no sockets
//! (datagrams and due timers in, datagrams, timer requests and [`MemberEvent`]s out as values);
//! [`MembershipActor`] owns the UDP socket and the timers of one process and forwards events to
//! a `Recipient<MemberEvent>`; [`sim::SimNet`] is an in-memory network on a fake clock where
//! tests drop datagrams and cut links. A process is a [`ProcessId`]: its advertised address and
//! a generation, renewed when it learns it was declared down. Timings: [`MembershipConfig`].

mod actor;
mod config;
mod engine;
mod event;
mod identity;
pub mod sim;
mod wire;

pub use actor::{Halt, Join, Leave, MembersUp, MembershipActor};
pub use config::{MembershipConfig, MAX_PACKET};
pub use engine::{CoreTimer, Datagram, MembershipCore, Output};
pub use event::MemberEvent;
pub use identity::ProcessId;
pub use wire::{MAGIC, VERSION};
