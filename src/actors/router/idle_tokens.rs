//! The idle-token sweep: the remembered tokens of keys whose tokened updates stopped are folded
//! by a bounded background step, so remembered-token memory is bounded over time, not only for
//! keys that keep taking tokened updates.
//!
//! On the anti-entropy timer each node that is up names at most [`MOST`] keys whose tokens are
//! due to fold (an entry older than twice the dedup window), from a bounded visit of its
//! counters. The Router then folds each key exactly as a tokened update's coordinator does
//! ([`crate::counter::tokens`]): it reads the key from its write targets and merges at least Q
//! answers (with `W + Q > R` that read holds every acknowledged entry, the condition a fold
//! needs), folds the merged state up to `now − 2 × window`, and merges the result into the
//! targets until W hold it. A fold changes neither the value nor whether the key exists, so a key
//! the step could not finish is simply folded again later.

use std::time::Instant;

use actix::prelude::*;
use futures_util::future::join_all;

use super::requests::{merge_until, Ctx, Reach};
use super::resets::gather_from;
use super::{InflightGuard, Router};
use crate::actors::node::{call, NodeOp, NodeReply};
use crate::counter::tokens::{now_ms, window_ms};
use crate::replication::NodeState;

/// The most keys one node names per step.
const MOST: usize = 256;

/// One key to fold: where it lives, and the quorums to fold it with.
struct Fold {
    key: String,
    targets: Vec<Reach>,
    /// The key's own replicas that are up ([`Router::fold_voters`]): Q answers must come from them.
    voters: Vec<crate::ring::NodeId>,
    q: usize,
    w: usize,
}

impl Router {
    /// Starts a step of the idle-token sweep unless one runs or keys move.
    pub(super) fn fold_idle(&mut self, ctx: &mut Context<Self>) {
        if self.folding || self.moving || self.ring.is_empty() {
            return;
        }
        let window = window_ms(self.config.dedup_window);
        let nodes: Vec<_> = (self.nodes.values())
            .filter(|n| n.state == NodeState::Up && !n.crashed && n.shared.is_some())
            .map(|n| n.call.clone())
            .collect();
        let timeout = self.config.request_timeout;
        self.folding = true;
        let ask = async move {
            let asks = nodes.iter().map(|node| async move {
                let op = NodeOp::FoldDue {
                    window_ms: window,
                    most: MOST,
                };
                match call(node, op, timeout).await {
                    Ok(NodeReply::Keys(keys)) => keys,
                    _ => Vec::new(),
                }
            });
            let mut keys: Vec<String> = join_all(asks).await.into_iter().flatten().collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        ctx.spawn(
            actix::fut::wrap_future(ask)
                .map(move |keys, act: &mut Router, ctx| act.fold_keys(keys, window, ctx)),
        );
    }

    /// Folds `keys` one after another, off the Router's context.
    fn fold_keys(&mut self, keys: Vec<String>, window: u64, ctx: &mut Context<Self>) {
        let q = self.quorums().q;
        let folds: Vec<Fold> = keys
            .into_iter()
            .filter_map(|key| {
                let (targets, _, w) = self.plan_update(&key).ok()?;
                let voters = self.fold_voters(&key);
                Some(Fold {
                    key,
                    targets,
                    voters,
                    q,
                    w,
                })
            })
            .collect();
        if folds.is_empty() {
            self.folding = false;
            return;
        }
        let rctx = self.ctx();
        let started = Instant::now();
        let run = async move {
            let mut folded = 0;
            for fold in folds {
                folded += usize::from(fold_one(&rctx, fold, window).await);
            }
            folded
        };
        ctx.spawn(
            actix::fut::wrap_future(run).map(move |folded, act: &mut Router, _| {
                act.folding = false;
                tracing::debug!(folded, "idle-token sweep in {:?}", started.elapsed());
            }),
        );
    }
}

/// Reads, folds and spreads one key; returns whether W targets took the folded state.
async fn fold_one(ctx: &Ctx, fold: Fold, window: u64) -> bool {
    let read = gather_from(ctx, &fold.key, &fold.targets, fold.q, &fold.voters).await;
    let Ok(read) = read else {
        return false;
    };
    // A read that leans on a stand-in's hints may miss entries acknowledged elsewhere.
    let (Some(mut state), true) = (read.state, read.voters >= fold.q) else {
        return false;
    };
    let now = now_ms();
    if !state.fold_due(now, window) {
        return false;
    }
    state.fold(now.saturating_sub(window.saturating_mul(2)));
    let (key, targets, w) = (fold.key, fold.targets, fold.w);
    let guard = InflightGuard::new(&ctx.stats);
    merge_until(ctx, &key, state, targets, 0, w, guard)
        .await
        .is_ok()
}
