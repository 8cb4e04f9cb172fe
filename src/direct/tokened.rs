//! Tokened updates on the direct path: when every replica of the key is in this process, the
//! update reads and merges all of them (the read a fold needs: see [`crate::counter::tokens`]),
//! applies the token to that merged state — nothing if a replica already remembers it — and merges
//! the result into every replica. Anything else is left to the Router.

use smallvec::SmallVec;

use super::served::Served;
use super::Replica;
use crate::counter::tokens::{now_ms, TokenId};
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::node_data::SharedNode;

/// The update of a tokened request: amount, token id, dedup window in milliseconds.
pub(super) type Tokened = (i64, TokenId, u64);

/// Applies `(amount, id, window)` to `key` on `replicas`, all in this process, W of which must
/// take it. Returns the answer and how many replicas hold it; `None` if a replica is elsewhere.
pub(super) fn update(
    replicas: &[&Replica],
    key: &str,
    (amount, id, window): Tokened,
    w: usize,
) -> Option<(Result<Served>, usize)> {
    let locals: SmallVec<[&SharedNode; 4]> =
        replicas.iter().map(|r| r.local()).collect::<Option<_>>()?;
    let mut merged = Counter::new();
    for node in &locals {
        if let Some(state) = node.lock().read(key, None) {
            merged.merge(&state);
        }
    }
    let applied = match merged.apply_token(id, amount, now_ms(), window) {
        Ok(applied) => applied,
        Err(e) => return Some((Err(e), replicas.len())),
    };
    let mut acks = Vec::new();
    let mut held = 0;
    for node in &locals {
        let mut data = node.lock();
        if data.merge_one(key, &merged).is_err() {
            continue;
        }
        match data.persist() {
            Ok(Some(ack)) => acks.push(ack),
            Ok(None) => {}
            Err(_) => continue,
        }
        held += 1;
    }
    if held < w {
        let why = Error::Uncertain(format!(
            "update of {} reached only {held} replicas; the write quorum is {w}: it may or may \
             not be applied (retry it with the same token)",
            crate::quote::in_message(key)
        ));
        return Some((Err(why), held));
    }
    let served = Served {
        acks,
        ..Served::now(Some(applied.value))
    };
    Some((Ok(served), held))
}
