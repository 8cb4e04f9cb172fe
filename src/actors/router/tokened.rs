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
use super::resets::gather_from;
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
        let voters = self.fold_voters(&key);
        let ctx = self.ctx();
        let guard = InflightGuard::new(&self.stats);
        Box::pin(async move {
            let result = match planned {
                Ok((targets, _, w)) => {
                    let reach = Reached { targets, voters };
                    run(ctx, &key, tokened, reach, (q, w), guard).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => Response::Updated { key, value },
                Err(e) => Response::from(e),
            }
        })
    }
}

/// Where a tokened update goes: its write targets, and the replicas whose answers may make the
/// read a fold needs ([`Router::fold_voters`]).
struct Reached {
    targets: Vec<Reach>,
    voters: Vec<crate::ring::NodeId>,
}

/// Reads, applies, spreads. Returns the value after the update.
///
/// The token's due entries are folded only when Q of the answers came from the key's own
/// replicas: a read that leans on a stand-in's hints (the small side of a partition) may miss
/// entries the other side acknowledged, and a fold on it would drop them everywhere. Without the
/// fold the token is remembered all the same; a later update or the idle-token sweep folds.
async fn run(
    ctx: Ctx,
    key: &str,
    (amount, id, window): (i64, TokenId, u64),
    Reached { targets, voters }: Reached,
    (q, w): (usize, usize),
    guard: InflightGuard,
) -> Result<i64> {
    let gathered = gather_from(&ctx, key, &targets, q, &voters).await?;
    let mut state = gathered.state.unwrap_or_default();
    let applied = if gathered.voters >= q {
        state.apply_token(id, amount, now_ms(), window)?
    } else {
        state.remember_token(id, amount, now_ms())?
    };
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
