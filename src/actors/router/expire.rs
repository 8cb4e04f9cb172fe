//! `EXPIRE`, `PERSIST` and `TTL` (a [`Request::Expire`](crate::protocol::Request::Expire)),
//! coordinated off the Router's context as a delete is ([`super::resets`]): read the key from
//! every write target (at least Q answers, merged), apply the operation to the merged state
//! ([`crate::expire::apply`]), and merge what it writes into the targets until W hold it. A read
//! of the deadline, or an operation that changes nothing, writes nothing.

use actix::prelude::*;

use super::requests::Ctx;
use super::resets::{gather, spread};
use super::{InflightGuard, Router};
use crate::counter::now_ms;
use crate::error::Result;
use crate::expire::{apply, ExpireOp, Outcome};
use crate::protocol::Response;

impl Router {
    /// Runs `op` on `key`.
    pub(super) fn expire(&mut self, key: String, op: ExpireOp) -> ResponseFuture<Response> {
        self.drift.note();
        let planned = self.plan_update(&key);
        let q = self.quorums().q;
        let ctx = self.ctx();
        let guard = InflightGuard::new(&self.stats);
        Box::pin(async move {
            let result = match planned {
                Ok((targets, _, w)) => run(ctx, &key, op, targets, (q, w), guard).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(out) => Response::Expiry {
                    key,
                    op,
                    answer: out.answer,
                    value: out.value,
                },
                Err(e) => Response::from(e),
            }
        })
    }
}

/// Reads, applies, spreads.
async fn run(
    ctx: Ctx,
    key: &str,
    op: ExpireOp,
    targets: Vec<super::requests::Reach>,
    (q, w): (usize, usize),
    guard: InflightGuard,
) -> Result<Outcome> {
    let merged = gather(&ctx, key, &targets, q).await?;
    let mut out = apply(merged, op, now_ms());
    if let Some(state) = out.write.take() {
        spread(ctx, key, state, targets, w, guard).await?;
    }
    Ok(out)
}
