//! `NodeActor`: one node's counters and its TCP listener, started under an actix `Supervisor`.
//!
//! The actor only applies store operations sent by the [`Router`]; the listener it owns hands every
//! client request to the Router, which coordinates it.

use actix::prelude::*;
use tokio_util::sync::CancellationToken;

use super::listener::{self, ServerLimits};
use super::Router;
use crate::error::Result;
use crate::ring::{NodeId, TokenRange};
use crate::store::{Entry, Store};

/// One node of the cluster.
pub struct NodeActor {
    id: NodeId,
    port: u16,
    listener: Option<std::net::TcpListener>,
    router: Addr<Router>,
    limits: ServerLimits,
    store: Store,
    stopping: bool,
    shutdown: CancellationToken,
}

impl NodeActor {
    /// A node with id `id` serving clients on `listener` (already bound, so its port is known).
    pub fn new(
        id: NodeId,
        listener: std::net::TcpListener,
        router: Addr<Router>,
        limits: ServerLimits,
    ) -> Result<Self> {
        let port = listener.local_addr()?.port();
        Ok(NodeActor {
            id,
            port,
            listener: Some(listener),
            router,
            limits,
            store: Store::new(),
            stopping: false,
            shutdown: CancellationToken::new(),
        })
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The router's requests must never be reordered: their queue is bounded upstream.
        ctx.set_mailbox_capacity(usize::MAX);
        if self.stopping {
            // Stopped for good: the supervisor restarted us because an address is still alive.
            // Stay idle (no listener) until the last address is dropped; stopping again here would
            // make the supervisor restart us in a busy loop.
            return;
        }
        let Some(std_listener) = self.listener.take() else {
            tracing::warn!(port = self.port, "node restarted without a listener");
            return;
        };
        self.shutdown = CancellationToken::new();
        let router = self.router.clone();
        let limits = self.limits.clone();
        let token = self.shutdown.clone();
        match listener::start(std_listener, router, limits, token) {
            Ok(()) => tracing::debug!(port = self.port, id = self.id, "node started"),
            Err(e) => {
                tracing::error!(port = self.port, "cannot serve: {e}");
                ctx.stop();
            }
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.shutdown.cancel();
        tracing::debug!(port = self.port, "node stopped");
    }
}

impl Supervised for NodeActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shutdown.cancel();
    }
}

/// Add `amount` to `key`; answers the new value.
#[derive(Message)]
#[rtype(result = "Result<u64>")]
pub struct Increment {
    /// The key.
    pub key: String,
    /// How much to add.
    pub amount: u64,
}

impl Handler<Increment> for NodeActor {
    type Result = Result<u64>;
    fn handle(&mut self, msg: Increment, _: &mut Context<Self>) -> Result<u64> {
        self.store.increment(&msg.key, self.id, msg.amount)
    }
}

/// Read `key`'s value.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Read(pub String);

impl Handler<Read> for NodeActor {
    type Result = u64;
    fn handle(&mut self, msg: Read, _: &mut Context<Self>) -> u64 {
        self.store.get(&msg.0)
    }
}

/// Every `(key, value)` pair, sorted by key.
#[derive(Message)]
#[rtype(result = "Vec<(String, u64)>")]
pub struct Dump;

impl Handler<Dump> for NodeActor {
    type Result = MessageResult<Dump>;
    fn handle(&mut self, _: Dump, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.store.list())
    }
}

/// How many keys the node holds.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct KeyCount;

impl Handler<KeyCount> for NodeActor {
    type Result = usize;
    fn handle(&mut self, _: KeyCount, _: &mut Context<Self>) -> usize {
        self.store.len()
    }
}

/// Remove and return the keys of the given ranges (all keys if `None`).
#[derive(Message)]
#[rtype(result = "Vec<Entry>")]
pub struct Take(pub Option<Vec<TokenRange>>);

impl Handler<Take> for NodeActor {
    type Result = MessageResult<Take>;
    fn handle(&mut self, msg: Take, _: &mut Context<Self>) -> Self::Result {
        MessageResult(match msg.0 {
            Some(ranges) => self.store.take_ranges(&ranges),
            None => self.store.take_all(),
        })
    }
}

/// Merge the given entries into the node's store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Give(pub Vec<Entry>);

impl Handler<Give> for NodeActor {
    type Result = ();
    fn handle(&mut self, msg: Give, _: &mut Context<Self>) {
        self.store.give(&msg.0);
    }
}

/// Stop the node for good. With `crash`, its counters are dropped on the floor; answers how many
/// keys it still held.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Stop {
    /// Whether this is a crash (memory lost) rather than a clean stop after handoff.
    pub crash: bool,
}

impl Handler<Stop> for NodeActor {
    type Result = usize;
    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) -> usize {
        let held = self.store.len();
        if msg.crash {
            self.store.clear();
        }
        self.stopping = true;
        self.shutdown.cancel();
        ctx.stop();
        held
    }
}
