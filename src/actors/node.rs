//! `NodeActor`: one node's counters and its TCP listener, started under an actix `Supervisor`.
//!
//! The actor applies the store operations the [`Router`] sends it as [`NodeCall`]s; its listener
//! hands every client request to the Router, which coordinates it. A crash wipes the store and
//! stops the actor; the supervisor restarts it, and after a back-off it listens again and tells the
//! Router, which refills it from the other replicas.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio_util::sync::CancellationToken;

use super::listener::{self, ServerLimits};
use super::router::{bind, NodeRestarted};
use super::Router;
use crate::counter::replica_id;
use crate::error::{Error, Result};
use crate::persist::record::Record;
use crate::persist::{Ack, NodeLog, Opened};
use crate::ring::NodeId;
use crate::store::{Entry, Store};

pub use super::node_ops::{NodeCall, NodeOp, NodeReply};

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
    incarnation: u32,
    listener: Option<std::net::TcpListener>,
    router: Addr<Router>,
    options: NodeOptions,
    store: Store,
    crashed: bool,
    stopping: bool,
    shutdown: CancellationToken,
    /// The node's log, when the cluster has a data directory.
    log: Option<Arc<NodeLog>>,
    /// Records of the operation being handled, for the log.
    journal: Vec<Record>,
}

impl NodeActor {
    /// A node with id `id` serving clients on `listener` (already bound, so its port is known),
    /// starting from the state found in its log if `restored` is set (and logging to it).
    ///
    /// # Errors
    /// The listener has no local address.
    pub fn new(
        id: NodeId,
        listener: std::net::TcpListener,
        router: Addr<Router>,
        options: NodeOptions,
        restored: Option<Opened>,
    ) -> Result<Self> {
        let port = listener.local_addr()?.port();
        let (store, incarnation, log) = match restored {
            Some(o) => (o.store, o.incarnation, Some(o.log)),
            None => (Store::new(), 0, None),
        };
        Ok(NodeActor {
            id,
            port,
            incarnation,
            listener: Some(listener),
            router,
            options,
            store,
            crashed: false,
            stopping: false,
            shutdown: CancellationToken::new(),
            log,
            journal: Vec::new(),
        })
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&mut self, listener: std::net::TcpListener) -> Result<()> {
        self.shutdown = CancellationToken::new();
        let (router, limits) = (self.router.clone(), self.options.limits.clone());
        listener::start(listener, router, limits, self.shutdown.clone())
    }

    /// After a crash: wait out the back-off, listen again, tell the Router.
    fn come_back(&mut self, ctx: &mut Context<Self>) {
        ctx.run_later(self.options.restart_backoff, |act, ctx| {
            match bind(&act.options.host, act.port).and_then(|l| act.serve(l)) {
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
        let Some(log) = &self.log else {
            self.crashed = false;
            self.router.do_send(NodeRestarted(self.id));
            return;
        };
        let ack = log.reload(self.incarnation);
        let fut = async move { ack?.await.map_err(|_| Error::Shutdown)? };
        ctx.wait(
            actix::fut::wrap_future(fut).map(|loaded, act: &mut NodeActor, _| {
                match loaded {
                    Ok((store, incarnation)) => {
                        let during = std::mem::replace(&mut act.store, store);
                        act.store.give(&during.entries_where(|_| true));
                        for (node, entry) in during.all_hints() {
                            act.store.add_hint(node, &entry);
                        }
                        act.incarnation = incarnation;
                    }
                    Err(e) => tracing::error!("node {}: cannot reload its log: {e}", act.id),
                }
                act.crashed = false;
                act.router.do_send(NodeRestarted(act.id));
            }),
        );
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
        if self.crashed {
            self.come_back(ctx);
            return;
        }
        if let Some(listener) = self.listener.take() {
            if let Err(e) = self.serve(listener) {
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
        let result = self.apply(op, ctx);
        let ack = self.persist();
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
    /// Applies one operation to the store, noting in the journal what the log must record.
    fn apply(&mut self, op: NodeOp, ctx: &mut Context<Self>) -> Result<NodeReply> {
        Ok(match op {
            NodeOp::Increment {
                key,
                amount,
                hint_for,
            } => self.increment(key, amount, hint_for)?,
            NodeOp::Merge { entries, hint_for } => self.merge(entries, hint_for)?,
            NodeOp::Read { key, hint_for } => NodeReply::State(match hint_for {
                None => self.store.counter(&key),
                Some(node) => self.store.hint(node, &key),
            }),
            NodeOp::TakeHints(node) => {
                self.journal.push(Record::DropHints(node));
                NodeReply::Entries(self.store.take_hints(node))
            }
            NodeOp::Entries(None) => NodeReply::Entries(self.store.entries_where(|_| true)),
            NodeOp::Entries(Some(ranges)) => NodeReply::Entries(
                self.store
                    .entries_where(|t| ranges.iter().any(|r| r.contains(t))),
            ),
            NodeOp::EntriesFor {
                ring,
                replicas,
                node,
            } => NodeReply::Entries(
                self.store
                    .entries_where(|t| ring.preference_list_of_token(t, replicas).contains(&node)),
            ),
            NodeOp::Retain { ring, replicas } => {
                let id = self.id;
                let dropped = self
                    .store
                    .retain(|t| ring.preference_list_of_token(t, replicas).contains(&id));
                let count = dropped.len();
                self.journal.extend(dropped.into_iter().map(Record::Remove));
                NodeReply::Count(count)
            }
            NodeOp::Digests(ring) => NodeReply::Digests(self.store.digests(|t| ring.arc_of(t))),
            NodeOp::Dump => NodeReply::Dump(self.store.list(), self.store.hint_count()),
            NodeOp::KeyCount(ring) => {
                let id = self.id;
                let owned = self
                    .store
                    .entries_where(|t| ring.owner_of_token(t) == Some(id))
                    .len();
                NodeReply::Counts(self.store.len(), owned)
            }
            NodeOp::Ping => NodeReply::Done,
            NodeOp::Pause(pause) => {
                ctx.wait(actix::fut::wrap_future(tokio::time::sleep(pause)));
                NodeReply::Done
            }
            NodeOp::Crash => self.crash(ctx),
            NodeOp::Stop => {
                self.stopping = true;
                self.shutdown.cancel();
                ctx.stop();
                NodeReply::Count(self.store.len())
            }
        })
    }

    fn increment(
        &mut self,
        key: String,
        amount: u64,
        hint_for: Option<NodeId>,
    ) -> Result<NodeReply> {
        self.check_log()?;
        let me = replica_id(self.id, self.incarnation);
        let store = &mut self.store;
        let counter = match hint_for {
            None => store.increment(&key, me, amount)?,
            Some(node) => {
                let mut counter = store.hint(node, &key).unwrap_or_default();
                counter.increment(me, amount)?;
                let entry = Entry {
                    key: key.clone(),
                    counter: counter.clone(),
                };
                store.add_hint(node, &entry);
                counter
            }
        };
        if self.log.is_some() {
            let entry = Entry {
                key,
                counter: counter.clone(),
            };
            self.journal.push(match hint_for {
                None => Record::Put(entry),
                Some(node) => Record::Hint(node, entry),
            });
        }
        Ok(NodeReply::State(Some(counter)))
    }

    fn merge(&mut self, entries: Vec<Entry>, hint_for: Option<NodeId>) -> Result<NodeReply> {
        self.check_log()?;
        let logged = self.log.is_some();
        let mut changed = 0;
        for entry in entries {
            let state = match hint_for {
                None if self.store.merge(&entry) => self.store.counter(&entry.key),
                None => None,
                Some(node) => {
                    self.store.add_hint(node, &entry);
                    self.store.hint(node, &entry.key)
                }
            };
            let Some(counter) = state else { continue };
            changed += 1;
            if logged {
                let entry = Entry {
                    key: entry.key,
                    counter,
                };
                self.journal.push(match hint_for {
                    None => Record::Put(entry),
                    Some(node) => Record::Hint(node, entry),
                });
            }
        }
        Ok(NodeReply::Count(changed))
    }

    fn check_log(&self) -> Result<()> {
        self.log.as_ref().map_or(Ok(()), |log| log.check())
    }

    /// Hands the journal to the log; under `--fsync always` the answer waits for the returned ack.
    fn persist(&mut self) -> Result<Option<Ack<()>>> {
        let Some(log) = &self.log else {
            self.journal.clear();
            return Ok(None);
        };
        if self.journal.is_empty() {
            return Ok(None);
        }
        let ack = log.append(&self.journal);
        self.journal.clear();
        log.compact_if_due(&self.store, self.incarnation)?;
        ack
    }

    fn crash(&mut self, ctx: &mut Context<Self>) -> NodeReply {
        let held = self.store.len();
        self.store.clear();
        self.incarnation += 1;
        self.crashed = true;
        self.shutdown.cancel();
        ctx.stop();
        NodeReply::Count(held)
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
