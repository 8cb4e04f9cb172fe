//! `delete` and `set`: observed resets (see [`crate::counter`]), coordinated off the Router's
//! context.
//!
//! The Router reads the key's state from every write target and merges the answers (at least Q
//! of them), resets that merged state (and for a set adds the new value in a fresh slot), then
//! merges the result into the targets as an update's state is merged: it is acknowledged once W
//! targets hold it. The reset observes exactly what the read saw, so an update a replica counted
//! after the read is not erased (add wins), and a replica that missed the reset cannot undo it:
//! its state is at most the observed one, which the merge keeps.
//!
//! A delete of a key that does not exist (no answer holds it, or it is already deleted) writes
//! nothing. `SetIf` checks its condition against the merged read; like the read, this is not
//! atomic with updates on other coordinators (see `docs/COUNTERS.md`).
//!
//! A delete and a plain set also remove the key's deadline, a set with `KEEPTTL` keeps it and one
//! with `EX`... writes a new one ([`SetTtl`]), as Redis does.

use actix::prelude::*;
use futures_util::future::join_all;

use super::requests::{merge_until, Ctx, Reach};
use super::{InflightGuard, Router};
use crate::actors::node::{NodeOp, NodeReply};
use crate::counter::{now_ms, set_slot, Counter};
use crate::error::{Error, Result};
use crate::expire::{apply_set_ttl, SetTtl};
use crate::protocol::Response;
use crate::quote;
use crate::ring::NodeId;

/// How many nonces a set tries for its fresh slot before it gives up (each one is taken with
/// probability at most `slots / 2^32`). Nonces start at 1: nonce 0 is the tokens' fold slot.
const NONCE_TRIES: usize = 16;

/// What a reset does.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reset {
    /// Delete the key.
    Delete,
    /// Set it to the value, and do this to its deadline.
    Set(i64, SetTtl),
    /// Set it to the value if it exists (`true`) or if it does not (`false`).
    SetIf(i64, bool, SetTtl),
}

impl Router {
    /// Runs `how` on `key`.
    pub(super) fn reset(&mut self, key: String, how: Reset) -> ResponseFuture<Response> {
        // As the Router's updates: hints, timeouts and partial writes may leave replicas apart.
        self.drift.note();
        let planned = self.plan_update(&key);
        let q = self.quorums().q;
        let ctx = self.ctx();
        let guard = InflightGuard::new(&self.stats);
        Box::pin(async move {
            let result = match planned {
                Ok((targets, _, w)) => run(ctx, &key, how, targets, (q, w), guard).await,
                Err(e) => Err(e),
            };
            match result {
                Ok((old, done)) => answer(key, how, old, done),
                Err(e) => Response::from(e),
            }
        })
    }
}

/// The answer to `how` on `key`, whose value was `old`.
fn answer(key: String, how: Reset, old: Option<i64>, done: bool) -> Response {
    match how {
        Reset::Delete => Response::Deleted { key, old },
        Reset::Set(..) | Reset::SetIf(..) => Response::Replaced { key, old, done },
    }
}

/// Reads, resets, spreads. Returns the value before and whether anything was written.
async fn run(
    ctx: Ctx,
    key: &str,
    how: Reset,
    targets: Vec<Reach>,
    (q, w): (usize, usize),
    guard: InflightGuard,
) -> Result<(Option<i64>, bool)> {
    let merged = gather(&ctx, key, &targets, q).await?;
    let now = now_ms();
    let held = merged.is_some();
    let mut merged = merged.unwrap_or_default();
    // A deadline passed is a reset first (the key's old life ends), as on the replicas.
    merged.fire_if_due_at(now);
    let old = merged.value_if_present().filter(|_| held);
    let Some(next) = next_state(merged, old, how, now)? else {
        return Ok((old, false));
    };
    spread(ctx, key, next, targets, w, guard).await?;
    Ok((old, true))
}

/// The state `how` writes at `now` after reading `merged` (whose value is `old`), or `None` if it
/// writes nothing.
fn next_state(
    mut merged: Counter,
    old: Option<i64>,
    how: Reset,
    now: u64,
) -> Result<Option<Counter>> {
    let (value, ttl) = match how {
        Reset::Delete if old.is_none() => return Ok(None),
        Reset::Delete => {
            merged.reset();
            apply_set_ttl(&mut merged, SetTtl::Clear, now);
            return Ok(Some(merged));
        }
        Reset::SetIf(_, exists, _) if old.is_some() != exists => return Ok(None),
        Reset::Set(value, ttl) | Reset::SetIf(value, _, ttl) => (value, ttl),
    };
    for _ in 0..NONCE_TRIES {
        if merged
            .set(set_slot(rand::random::<u32>().max(1)), value)
            .is_ok()
        {
            apply_set_ttl(&mut merged, ttl, now);
            return Ok(Some(merged));
        }
    }
    Err(Error::Server("no free slot for a set".into()))
}

/// Reads `key` from every target and merges the answers (`None` if none holds the key); at
/// least `q` must answer.
pub(super) async fn gather(
    ctx: &Ctx,
    key: &str,
    targets: &[Reach],
    q: usize,
) -> Result<Option<Counter>> {
    Ok(gather_from(ctx, key, targets, q, &[]).await?.state)
}

/// What [`gather_from`] read.
pub(super) struct Gathered {
    /// The merge of every answer (`None` if none holds the key).
    pub(super) state: Option<Counter>,
    /// How many answers came from `voters` themselves (not from a stand-in's hints for one).
    pub(super) voters: usize,
}

/// As [`gather`], also counting the answers of `voters` (see [`Router::fold_voters`]).
///
/// [`Router::fold_voters`]: super::Router::fold_voters
pub(super) async fn gather_from(
    ctx: &Ctx,
    key: &str,
    targets: &[Reach],
    q: usize,
    voters: &[NodeId],
) -> Result<Gathered> {
    let answers = join_all(targets.iter().map(|reach| {
        let op = NodeOp::Read {
            key: key.to_owned(),
            hint_for: reach.target.hint_for,
        };
        ctx.call(reach, op)
    }))
    .await;
    let mut gathered = Gathered {
        state: None,
        voters: 0,
    };
    let mut answered = 0;
    for (reach, answer) in targets.iter().zip(answers) {
        let Ok(NodeReply::State(state)) = answer else {
            continue;
        };
        answered += 1;
        let target = reach.target;
        if target.hint_for.is_none() && voters.contains(&target.node) {
            gathered.voters += 1;
        }
        match (&mut gathered.state, state) {
            (Some(m), Some(state)) => {
                m.merge(&state);
            }
            (None, state) => gathered.state = state,
            (Some(_), None) => {}
        }
    }
    if answered < q.max(1) {
        return Err(Error::Unavailable(format!(
            "only {answered} replicas of {} answered; the read quorum is {q}",
            quote::in_message(key)
        )));
    }
    Ok(gathered)
}

/// Merges `counter` into every target until `w` hold it; the rest finish in the background.
pub(super) async fn spread(
    ctx: Ctx,
    key: &str,
    counter: Counter,
    targets: Vec<Reach>,
    w: usize,
    guard: InflightGuard,
) -> Result<()> {
    merge_until(&ctx, key, counter, targets, 0, w, guard)
        .await
        .map_err(|acks| {
            Error::Uncertain(format!(
                "reset of {} reached only {acks} replicas; the write quorum is {w}: it may or may \
                 not be applied",
                quote::in_message(key)
            ))
        })
}
