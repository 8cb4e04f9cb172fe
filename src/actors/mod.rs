//! The actor layer: thin actix wrappers around the ring and the stores.
//!
//! - [`NodeActor`] runs one node's TCP listener and applies the Router's calls to its
//!   [`crate::node_data::SharedNode`];
//! - [`Router`] owns the [`crate::ring::Ring`] and the node handles, routes requests and moves keys;
//! - [`Repl`] turns text lines into requests and prints the answers;
//! - `listener` and `session` serve the framed protocol on a node's port, one task per connection;
//! - [`RemoteNode`] stands in for a node in another process, speaking node calls over TCP;
//! - [`Gateway`] takes each request in: the direct path ([`crate::direct`]) when every replica is
//!   up, else a message to the Router.

pub mod budget;
pub mod change_lock;
mod gate;
pub mod gateway;
mod listener;
pub mod node;
mod node_ops;
mod node_scan;
pub mod remote;
mod repl;
pub mod ring_guard;
pub(crate) mod router;
mod session;
pub mod standing;
pub mod votes;

pub use budget::Budget;
pub use change_lock::ChangeLock;
pub use gateway::Gateway;
pub use listener::ServerLimits;
pub use node::{NodeActor, NodeCall, NodeOp, NodeReply};
pub use remote::RemoteNode;
pub use repl::{Line, Repl, ReplAction};
pub use ring_guard::RingGuard;
pub use router::{
    Exec, Figures, NodeSeed, Router, RouterConfig, Shutdown, MAX_NODES, MAX_PAUSE_MILLIS, MIN_PORT,
};
pub use standing::{Stand, Standing};
pub use votes::Votes;
