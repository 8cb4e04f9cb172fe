//! `NodeActor`: one node's TCP listener and the calls the Router makes to its data, started under
//! an actix `Supervisor`.
//!
//! The node's data (store, replica slot, log) is a [`SharedNode`], shared with the direct path. The
//! actor applies the operations the Router sends it as [`NodeCall`]s; its listener hands every
//! client request to the [`Gateway`]. Pausing, crashing or stopping marks the data not ready, so
//! the direct path leaves the node's keys to the Router. A crash wipes the store and stops the
//! actor; the supervisor restarts it, and after a back-off it listens again and tells the Router,
//! which refills it from the other replicas.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio_util::sync::CancellationToken;

use super::gateway::Gateway;
use super::listener::{self, ServerLimits};
use super::router::{bind, NodeRestarted};
use crate::error::{Error, Result};
use crate::node_data::SharedNode;
use crate::ring::{NodeId, Ring};
use crate::store::Entry;

pub use super::node_ops::{NodeCall, NodeOp, NodeReply, Summary};
use super::node_scan::Scan;

/// How often a node runs a step of active expiry ([`crate::store::Store::expire_step`]).
const EXPIRE_EVERY: Duration = Duration::from_millis(100);
/// Counters a step of active expiry visits: well under a millisecond under the node's lock.
const EXPIRE_BUDGET: usize = 4096;
/// Counters one search for tokens due to fold visits ([`NodeOp::FoldDue`]).
const FOLD_BUDGET: usize = 16_384;

/// How a node behaves after a crash.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The address to listen on again after a restart.
    pub host: String,
    /// Limits for its clients.
    pub limits: ServerLimits,
    /// Whether the supervisor brings it back after a crash.
    pub restart: bool,
    /// How long it stays down before listening again.
    pub restart_backoff: Duration,
}

/// One node of the cluster.
pub struct NodeActor {
    id: NodeId,
    port: u16,
    listener: Option<std::net::TcpListener>,
    gateway: Gateway,
    options: NodeOptions,
    /// The store, slot and log, shared with the direct request path.
    shared: Arc<SharedNode>,
    crashed: bool,
    stopping: bool,
    shutdown: CancellationToken,
}

impl NodeActor {
    /// A node serving clients on `listener` (already bound, so its port is known) with the data
    /// in `shared`; its sessions reach the cluster through `gateway`.
    ///
    /// # Errors
    /// The listener has no local address.
    pub fn new(
        listener: std::net::TcpListener,
        gateway: Gateway,
        options: NodeOptions,
        shared: Arc<SharedNode>,
    ) -> Result<Self> {
        let port = listener.local_addr()?.port();
        let id = shared.lock().id();
        Ok(NodeActor {
            id,
            port,
            listener: Some(listener),
            gateway,
            options,
            shared,
            crashed: false,
            stopping: false,
            shutdown: CancellationToken::new(),
        })
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&mut self, listener: std::net::TcpListener, me: Recipient<NodeCall>) -> Result<()> {
        self.shutdown = CancellationToken::new();
        let (gateway, limits) = (self.gateway.clone(), self.options.limits.clone());
        listener::start(listener, gateway, limits, Some(me), self.shutdown.clone())
    }

    /// After a crash: wait out the back-off, listen again, tell the Router.
    fn come_back(&mut self, ctx: &mut Context<Self>) {
        ctx.run_later(self.options.restart_backoff, |act, ctx| {
            let me = ctx.address().recipient();
            match bind(&act.options.host, act.port).and_then(|l| act.serve(l, me)) {
                Ok(()) => act.reload(ctx),
                Err(e) => {
                    tracing::warn!(port = act.port, "restart failed, retrying: {e}");
                    act.come_back(ctx);
                }
            }
        });
    }

    /// Reads the node's own log back (a crash lost only memory), then tells the Router, which
    /// refills it from the other replicas.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        let (log, incarnation) = {
            let data = self.shared.lock();
            (data.log().cloned(), data.incarnation())
        };
        let Some(log) = log else {
            self.back_up();
            return;
        };
        let ack = log.reload(incarnation);
        let fut = async move { ack?.await.map_err(|_| Error::Shutdown)? };
        ctx.wait(
            actix::fut::wrap_future(fut).map(|loaded, act: &mut NodeActor, _| {
                match loaded {
                    Ok((store, incarnation)) => act.shared.lock().restore(store, incarnation),
                    Err(e) => tracing::error!("node {}: cannot reload its log: {e}", act.id),
                }
                act.back_up();
            }),
        );
    }

    /// Answers again after a crash, and tells the Router.
    fn back_up(&mut self) {
        self.crashed = false;
        self.shared.set_ready(true);
        self.gateway.router().do_send(NodeRestarted(self.id));
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The Router's calls must never be reordered; their number is bounded upstream.
        ctx.set_mailbox_capacity(usize::MAX);
        if self.stopping || (self.crashed && !self.options.restart) {
            // Stopped for good: stay idle until the last address is dropped. Stopping again here
            // would make the supervisor restart us in a busy loop.
            return;
        }
        ctx.run_interval(EXPIRE_EVERY, |act, _| {
            act.shared.lock().expire_step(EXPIRE_BUDGET);
        });
        if self.crashed {
            self.come_back(ctx);
            return;
        }
        if let Some(listener) = self.listener.take() {
            if let Err(e) = self.serve(listener, ctx.address().recipient()) {
                tracing::error!(port = self.port, "cannot serve: {e}");
            }
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shutdown.cancel();
    }
}

impl Supervised for NodeActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.shutdown.cancel();
        tracing::info!(port = self.port, "node restarting");
    }
}

impl Handler<NodeCall> for NodeActor {
    type Result = ResponseFuture<Result<NodeReply>>;

    fn handle(&mut self, NodeCall(op): NodeCall, ctx: &mut Context<Self>) -> Self::Result {
        let op = match Scan::of(op) {
            Ok(scan) => return self.scan(scan, ctx),
            Err(op) => op,
        };
        let result = self.apply(op, ctx);
        let ack = self.shared.lock().persist();
        match (result, ack) {
            (Ok(reply), Ok(Some(ack))) => Box::pin(async move {
                ack.await
                    .map_err(|_| Error::Storage("the log writer stopped".into()))??;
                Ok(reply)
            }),
            (Ok(reply), Ok(None)) => Box::pin(std::future::ready(Ok(reply))),
            (Err(e), _) | (Ok(_), Err(e)) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

impl NodeActor {
    /// Runs a scan of the store in steps, handling no other call until it is done; answers once
    /// its log writes are done.
    fn scan(&mut self, scan: Scan, ctx: &mut Context<Self>) -> ResponseFuture<Result<NodeReply>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let run = scan.run(self.shared.clone());
        ctx.wait(actix::fut::wrap_future(async move {
            let _ = tx.send(run.await);
        }));
        Box::pin(async move {
            let (reply, acks) = rx.await.map_err(|_| Error::Shutdown)??;
            for ack in acks {
                ack.await
                    .map_err(|_| Error::Storage("the log writer stopped".into()))??;
            }
            Ok(reply)
        })
    }

    /// Applies one operation to the node's data (which notes what the log must record).
    fn apply(&mut self, op: NodeOp, ctx: &mut Context<Self>) -> Result<NodeReply> {
        let id = self.id;
        let mut data = self.shared.lock();
        Ok(match op {
            NodeOp::Increment {
                key,
                amount,
                hint_for,
            } => NodeReply::State(Some(data.increment(&key, amount, hint_for)?)),
            NodeOp::Merge { entries, hint_for } => NodeReply::Count(data.merge(entries, hint_for)?),
            NodeOp::Read { key, hint_for } => NodeReply::State(data.read(&key, hint_for)),
            NodeOp::TakeHints(node) => NodeReply::Entries(data.take_hints(node)),
            // Whole-store scans go in steps (`Handler::handle`) and never reach here.
            NodeOp::Entries(_)
            | NodeOp::EntriesFor { .. }
            | NodeOp::EntriesIn(_)
            | NodeOp::DropIn(_)
            | NodeOp::EntriesOutside(_)
            | NodeOp::Digests(_) => {
                return Err(Error::Unavailable("a scan outside its steps".into()))
            }
            NodeOp::DropUnchanged {
                entries,
                keep,
                epoch,
                expected,
            } => {
                // Checked under the data lock: a ring change bumps the epoch before the direct
                // path may write to new replicas, so none of its writes can be dropped here.
                if epoch.load(std::sync::atomic::Ordering::SeqCst) != expected {
                    return Ok(NodeReply::Count(0));
                }
                NodeReply::Count(data.drop_unchanged(&entries, |t| keep.contains(t)))
            }
            NodeOp::AgedTombstones { grace_ms, most } => {
                if data.store().hint_count() > 0 {
                    return Err(Error::Unavailable("the node keeps hints".into()));
                }
                let now = crate::counter::now_ms();
                NodeReply::Entries(data.store().aged_tombstones(now, grace_ms, most))
            }
            NodeOp::CheckTombstones { entries, grace_ms } => {
                let now = crate::counter::now_ms();
                let check = |e: &Entry| {
                    let held = data.store().tombstone_state(&e.key, now, grace_ms);
                    held.map(|(state, aged)| aged && state == e.counter)
                };
                NodeReply::Checks(entries.iter().map(check).collect())
            }
            NodeOp::DropTombstones { entries, guard } => {
                // Under the data lock, as `DropUnchanged`.
                if !guard.holds() {
                    return Ok(NodeReply::Count(0));
                }
                NodeReply::Count(data.drop_tombstones(&entries))
            }
            NodeOp::FoldDue { window_ms, most } => {
                NodeReply::Keys(data.fold_due_keys(window_ms, most, FOLD_BUDGET))
            }
            NodeOp::Dump => NodeReply::Dump(data.store().list(), data.store().hint_count()),
            NodeOp::Summary { ring, limit } => {
                NodeReply::Summary(summary(data.store(), &ring, id, limit))
            }
            NodeOp::Page {
                ring,
                owned,
                after,
                limit,
            } => {
                let owns = |key: &str| (ring.owner(key.as_bytes()) == Some(id)) == owned;
                NodeReply::Page(data.store().page(after.as_deref(), limit, owns))
            }
            NodeOp::KeyCount(ring) => {
                let owned = data
                    .store()
                    .count_where(|t| ring.owner_of_token(t) == Some(id));
                let now = crate::counter::now_ms();
                let (expiring, _) = data
                    .store()
                    .expiring_where(now, |t| ring.owner_of_token(t) == Some(id));
                NodeReply::Counts(data.store().len(), owned, expiring)
            }
            NodeOp::TtlSum(ring) => {
                let now = crate::counter::now_ms();
                let (_, ttl_ms) = data
                    .store()
                    .expiring_where(now, |t| ring.owner_of_token(t) == Some(id));
                NodeReply::Count(usize::try_from(ttl_ms).unwrap_or(usize::MAX))
            }
            NodeOp::Ping => NodeReply::Done,
            NodeOp::Reserve(additional) => {
                data.reserve(additional);
                NodeReply::Done
            }
            NodeOp::Pause(pause) => {
                drop(data);
                self.pause(pause, ctx);
                NodeReply::Done
            }
            NodeOp::Crash => {
                let held = data.crash();
                drop(data);
                self.crash(ctx);
                NodeReply::Count(held)
            }
            NodeOp::Stop => {
                let held = data.store().len();
                drop(data);
                self.stopping = true;
                self.shared.set_ready(false);
                self.shutdown.cancel();
                ctx.stop();
                NodeReply::Count(held)
            }
        })
    }

    /// Stops answering for `pause`: neither the Router's calls nor the direct path reach it.
    fn pause(&mut self, pause: Duration, ctx: &mut Context<Self>) {
        self.shared.set_ready(false);
        let sleep = actix::fut::wrap_future(tokio::time::sleep(pause));
        ctx.wait(sleep.map(|_, act: &mut NodeActor, _| {
            if !act.crashed && !act.stopping {
                act.shared.set_ready(true);
            }
        }));
    }

    fn crash(&mut self, ctx: &mut Context<Self>) {
        self.shared.set_ready(false);
        self.crashed = true;
        self.shutdown.cancel();
        ctx.stop();
    }
}

/// Sends `op` to a node and waits at most `timeout`.
///
/// # Errors
/// [`Error::Timeout`] past the timeout, [`Error::Shutdown`] if the node is gone, or the node's error.
pub async fn call(node: &Recipient<NodeCall>, op: NodeOp, timeout: Duration) -> Result<NodeReply> {
    node.send(NodeCall(op))
        .timeout(timeout)
        .await
        .map_err(|e| match e {
            MailboxError::Timeout => Error::Timeout("a node did not answer in time".into()),
            MailboxError::Closed => Error::Shutdown,
        })?
}

/// The first keys of `store` in key order: at most `limit` that `id` owns on `ring`, then further
/// replicas up to `limit` in all.
fn summary(store: &crate::store::Store, ring: &Ring, id: NodeId, limit: usize) -> Summary {
    let owned = |key: &str| ring.owner(key.as_bytes()) == Some(id);
    let counters = store.page(None, limit, owned);
    let replicas = store.page(None, limit - counters.len(), |key| !owned(key));
    Summary {
        counters,
        replicas,
        keys: store.live_len(),
        hints: store.hint_count(),
    }
}
