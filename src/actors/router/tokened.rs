//! Tokened updates on the Router's path: read, apply the token, spread — as a reset does
//! (`resets.rs`), off the Router's context.
//!
//! The Router reads the key from every write target and merges the answers (at least Q of
//! them: with `W + Q > R` the merge holds every acknowledged tokened update, the condition a fold
//! needs, see [`crate::counter::tokens`]), applies the token to the merged state — nothing if it
//! is already remembered: the merged state is spread again, so a first attempt that reached
//! fewer than W replicas is now held by W — and merges the result into the targets until W hold
//! it. A retry whose read misses the first attempt writes the same token entry, which the merge
//! keeps once.

use actix::prelude::*;

use super::requests::{merge_until, Ctx, Reach};
use super::resets::gather;
use super::{InflightGuard, Router};
use crate::counter::tokens::{check_token, now_ms, token_id, window_ms, TokenId};
use crate::error::{Error, Result};
use crate::protocol::Response;
use crate::quote;

impl Router {
    /// Adds `amount` to `key` once per `token`.
    pub(super) fn update_token(
        &mut self,
        key: String,
        amount: i64,
        token: Vec<u8>,
    ) -> ResponseFuture<Response> {
        // As the Router's updates: hints, timeouts and partial writes may leave replicas apart.
        self.drift.note();
        let planned = check_token(&token).and_then(|_| self.plan_update(&key));
        let q = self.quorums().q;
        let tokened = (
            amount,
            token_id(&token),
            window_ms(self.config.dedup_window),
        );
        let ctx = self.ctx();
        let guard = InflightGuard::new(&self.stats);
        Box::pin(async move {
            let result = match planned {
                Ok((targets, _, w)) => run(ctx, &key, tokened, targets, (q, w), guard).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => Response::Updated { key, value },
                Err(e) => Response::from(e),
            }
        })
    }
}

/// Reads, applies, spreads. Returns the value after the update.
async fn run(
    ctx: Ctx,
    key: &str,
    (amount, id, window): (i64, TokenId, u64),
    targets: Vec<Reach>,
    (q, w): (usize, usize),
    guard: InflightGuard,
) -> Result<i64> {
    let mut state = gather(&ctx, key, &targets, q).await?.unwrap_or_default();
    let applied = state.apply_token(id, amount, now_ms(), window)?;
    merge_until(&ctx, key, state, targets, 0, w, guard)
        .await
        .map_err(|acks| {
            Error::Uncertain(format!(
                "update of {} reached only {acks} replicas; the write quorum is {w}: it may or may \
                 not be applied (retry it with the same token)",
                quote::in_message(key)
            ))
        })?;
    Ok(applied.value)
}
