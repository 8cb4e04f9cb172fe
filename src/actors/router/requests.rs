//! Reads, updates and `pause-node`: coordinated off the Router's context.
//!
//! An update is applied by one replica (its own slot), whose new state is then merged into the other
//! targets; it is acknowledged once W targets hold it. A read merges the answers of at least Q
//! targets and writes the merged state back to any that were behind (read repair).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::health::NodeTimedOut;
use super::{InflightGuard, Router, Stats};
use crate::actors::node::{call, NodeCall, NodeOp, NodeReply};
use crate::command::check_key;
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::protocol::Response;
use crate::quote;
use crate::replication::{coordinator, read_targets, write_targets, NodeState, Target};
use crate::ring::{key_token, NodeId};
use crate::store::Entry;

/// A target with the means to reach it.
pub(super) struct Reach {
    pub(super) target: Target,
    call: Recipient<NodeCall>,
}

/// Everything a request future needs from the Router, copied out of it.
#[derive(Clone)]
pub(super) struct Ctx {
    me: Addr<Router>,
    pub(super) stats: Arc<Stats>,
    pub(super) timeout: Duration,
}

impl Ctx {
    /// Calls a node; a timeout, or a node that cannot be reached, marks it down.
    pub(super) async fn call(&self, reach: &Reach, op: NodeOp) -> Result<NodeReply> {
        let result = call(&reach.call, op, self.timeout).await;
        if let Err(Error::Timeout(_) | Error::Unavailable(_) | Error::Uncertain(_)) = result {
            self.me.do_send(NodeTimedOut(reach.target.node));
        }
        result
    }
}

/// Checks that `found` reachable replicas (of `r`) meet the `kind` quorum `need`.
fn enough(key: &str, found: usize, r: usize, need: usize, kind: &str) -> Result<()> {
    if found >= need && found > 0 {
        return Ok(());
    }
    Err(Error::Unavailable(format!(
        "only {found} of {r} replicas of {} are reachable; the {kind} quorum is {need}",
        quote::in_message(key)
    )))
}

fn unknown(key: &str, why: &str) -> Error {
    Error::Uncertain(format!(
        "update of {} {why}: it may or may not be applied",
        quote::in_message(key)
    ))
}

impl Router {
    pub(super) fn ctx(&self) -> Ctx {
        Ctx {
            me: self.address(),
            stats: self.stats.clone(),
            timeout: self.config.request_timeout,
        }
    }

    fn reach(&self, targets: Vec<Target>) -> Vec<Reach> {
        targets
            .into_iter()
            .filter_map(|target| {
                Some(Reach {
                    target,
                    call: self.recipient(target.node)?,
                })
            })
            .collect()
    }

    pub(super) fn update(&self, key: String, amount: i64) -> ResponseFuture<Response> {
        let planned = self.plan_update(&key);
        let ctx = self.ctx();
        let guard = InflightGuard::new(&self.stats);
        Box::pin(async move {
            let result = match planned {
                Ok((targets, first, w)) => {
                    replicate(ctx, key.clone(), amount, targets, first, w, guard).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => Response::Updated { key, value },
                Err(e) => Response::from(e),
            }
        })
    }

    /// A node's state (`Down` for one the Router does not know).
    fn node_state(&self, n: NodeId) -> NodeState {
        self.nodes.get(&n).map_or(NodeState::Down, |i| i.state)
    }

    /// The key's own replicas on the ring in force that are up: the nodes whose answers may make
    /// the quorum read a fold of its tokens needs ([`crate::counter::tokens`]). A stand-in's hints
    /// hold only what it took while a replica was away (on the small side of a partition its
    /// read would miss what the other side acknowledged), a recovering replica may still wait for
    /// its hints, and a replica a move adds may not hold the key yet.
    pub(super) fn fold_voters(&self, key: &str) -> Vec<NodeId> {
        let token = key_token(key.as_bytes());
        let mut voters = self.ring.preference_list_of_token(token, self.quorums().r);
        voters.retain(|&n| self.node_state(n) == NodeState::Up);
        voters
    }

    /// The targets of an update, the coordinator's index, and W.
    pub(super) fn plan_update(&self, key: &str) -> Result<(Vec<Reach>, usize, usize)> {
        check_key(key)?;
        let q = self.quorums();
        let state = |n: NodeId| self.node_state(n);
        let token = key_token(key.as_bytes());
        let mut targets = write_targets(&self.ring, token, q.r, state);
        enough(key, targets.len(), q.r, q.w, "write")?;
        if let Some((next, r)) = &self.next_ring {
            // While keys move, the next ring's new replicas get the update too (as on the direct
            // path), so a copy taken before it misses nothing.
            for node in next.preference_list_of_token(token, *r) {
                if state(node) == NodeState::Up && !targets.iter().any(|t| t.node == node) {
                    targets.push(Target {
                        node,
                        hint_for: None,
                    });
                }
            }
        }
        let first = coordinator(&targets, state).ok_or_else(|| {
            Error::Unavailable(format!("no replica of {} is up", quote::in_message(key)))
        })?;
        Ok((self.reach(targets), first, q.w))
    }

    pub(super) fn get(&self, key: String) -> ResponseFuture<Response> {
        self.read_with(key, |key, value| Response::Count {
            key,
            value: value.unwrap_or(0),
        })
    }

    /// A read that says whether the key exists.
    pub(super) fn read_value(&self, key: String) -> ResponseFuture<Response> {
        self.read_with(key, |key, value| Response::Value { key, value })
    }

    fn read_with(
        &self,
        key: String,
        make: fn(String, Option<i64>) -> Response,
    ) -> ResponseFuture<Response> {
        let planned = self.plan_read(&key);
        let ctx = self.ctx();
        Box::pin(async move {
            match planned {
                Ok((targets, q)) => match read(ctx, &key, targets, q).await {
                    Ok(value) => make(key, value),
                    Err(e) => Response::from(e),
                },
                Err(e) => Response::from(e),
            }
        })
    }

    fn plan_read(&self, key: &str) -> Result<(Vec<Reach>, usize)> {
        check_key(key)?;
        let q = self.quorums();
        let state = |n: NodeId| self.node_state(n);
        let targets = read_targets(&self.ring, key_token(key.as_bytes()), q.r, state);
        enough(key, targets.len(), q.r, q.q, "read")?;
        Ok((self.reach(targets), q.q))
    }

    pub(super) fn pause_node(&self, port: u16, millis: u64) -> ResponseFuture<Response> {
        let node = self
            .check_pause(millis)
            .and_then(|_| self.node_by_port(port))
            .and_then(|id| self.recipient(id).ok_or(Error::NoSuchNode(port)));
        Box::pin(async move {
            let node = match node {
                Ok(node) => node,
                Err(e) => return Response::from(e),
            };
            let op = NodeOp::Pause(Duration::from_millis(millis));
            match call(&node, op, Duration::from_secs(5)).await {
                Ok(_) => Response::NodePaused { port, millis },
                Err(e) => Response::from(e),
            }
        })
    }
}

/// Applies the increment at the coordinator, then merges its state into the other targets until W
/// hold it. The remaining merges finish in the background; the guard counts them as in flight.
async fn replicate(
    ctx: Ctx,
    key: String,
    amount: i64,
    mut targets: Vec<Reach>,
    first: usize,
    w: usize,
    guard: InflightGuard,
) -> Result<i64> {
    let coord = targets.remove(first);
    let op = NodeOp::Increment {
        key: key.clone(),
        amount,
        hint_for: coord.target.hint_for,
    };
    let counter = match ctx.call(&coord, op).await {
        Ok(NodeReply::State(Some(counter))) => counter,
        Ok(_) => return Err(Error::Server("a node gave a wrong answer".into())),
        Err(Error::Timeout(_)) => return Err(unknown(&key, "timed out")),
        Err(Error::Uncertain(_)) => return Err(unknown(&key, "lost the link to its coordinator")),
        Err(e) => return Err(e),
    };
    let value = counter.value();
    if targets.is_empty() {
        return Ok(value); // One replica (R = 1): nothing to merge, nothing left in flight.
    }
    match merge_until(&ctx, &key, counter, targets, 1, w, guard).await {
        Ok(()) => Ok(value),
        Err(acks) => {
            let why = format!("reached only {acks} replicas; the write quorum is {w}");
            Err(unknown(&key, &why))
        }
    }
}

/// Merges `counter` (the new state of `key`) into every target until `w` replicas hold it,
/// counting `held` that already do; the rest finish in the background, counted as in flight by
/// `guard`. `Err` says how many held it when no target was left to answer.
pub(super) async fn merge_until(
    ctx: &Ctx,
    key: &str,
    counter: Counter,
    targets: Vec<Reach>,
    held: usize,
    w: usize,
    guard: InflightGuard,
) -> std::result::Result<(), usize> {
    let entry = Entry {
        key: key.to_owned(),
        counter,
    };
    let mut pending: FuturesUnordered<_> = targets
        .into_iter()
        .map(|reach| {
            let (ctx, entries) = (ctx.clone(), vec![entry.clone()]);
            async move {
                let op = NodeOp::Merge {
                    entries,
                    hint_for: reach.target.hint_for,
                };
                ctx.call(&reach, op).await.is_ok()
            }
        })
        .collect();
    let mut acks = held;
    while acks < w {
        match pending.next().await {
            Some(true) => acks += 1,
            Some(false) => {}
            None => return Err(acks),
        }
    }
    actix_rt::spawn(async move {
        while pending.next().await.is_some() {}
        drop(guard);
    });
    Ok(())
}

/// Reads every target, merges at least Q answers, repairs the targets that were behind.
async fn read(ctx: Ctx, key: &str, targets: Vec<Reach>, q: usize) -> Result<Option<i64>> {
    let answers = join_all(targets.iter().map(|reach| {
        let op = NodeOp::Read {
            key: key.to_owned(),
            hint_for: reach.target.hint_for,
        };
        ctx.call(reach, op)
    }))
    .await;
    let mut merged = Counter::new();
    let mut exists = false;
    let mut states: Vec<(usize, Option<Counter>)> = Vec::new();
    for (i, answer) in answers.into_iter().enumerate() {
        if let Ok(NodeReply::State(state)) = answer {
            if let Some(c) = &state {
                merged.merge(c);
                exists = true;
            }
            states.push((i, state));
        }
    }
    if states.len() < q {
        return Err(Error::Unavailable(format!(
            "only {} replicas of {} answered; the read quorum is {q}",
            states.len(),
            quote::in_message(key)
        )));
    }
    let behind: Vec<usize> = states
        .into_iter()
        .filter(|(_, s)| s.as_ref() != Some(&merged) && exists)
        .map(|(i, _)| i)
        .collect();
    repair(&ctx, key, &targets, &behind, merged.clone());
    Ok(merged.value_if_present().filter(|_| exists))
}

/// Writes the merged state back to the targets that were behind, in the background.
fn repair(ctx: &Ctx, key: &str, targets: &[Reach], behind: &[usize], merged: Counter) {
    if behind.is_empty() {
        return;
    }
    ctx.stats
        .read_repairs
        .fetch_add(behind.len() as u64, Ordering::Relaxed);
    let entry = Entry {
        key: key.to_owned(),
        counter: merged,
    };
    let calls: Vec<_> = behind
        .iter()
        .map(|&i| (targets[i].call.clone(), targets[i].target.hint_for))
        .collect();
    let timeout = ctx.timeout;
    actix_rt::spawn(async move {
        for (node, hint_for) in calls {
            let op = NodeOp::Merge {
                entries: vec![entry.clone()],
                hint_for,
            };
            let _ = call(&node, op, timeout).await;
        }
    });
}
