//! Tokened updates on the direct path, when every replica of the key is in this process.
//!
//! The first of the key's current replicas coordinates. If no entry of the key is due to be
//! folded and the key has no expiry state, it remembers the token in its own state, in place —
//! nothing if it already does — and the token's entry alone (a delta of that state) is merged
//! into the other replicas: the entry is a function of the token, so a retry through another
//! coordinator that never saw the first attempt writes the same entry, which the merge keeps
//! once. Otherwise the update first reads and merges every replica (the read a fold needs: see
//! [`crate::counter::tokens`]), applies the token to that (firing a passed deadline first), and
//! merges the whole state into every replica, so a firing reaches them with the entry: an entry
//! of the key's next life merged alone into a replica that had not fired yet would be observed
//! by that replica's own firing later, and lost. Anything else is left to the Router.

use smallvec::SmallVec;

use super::served::Served;
use super::Replica;
use crate::counter::tokens::{now_ms, TokenId};
use crate::error::{Error, Result};
use crate::node_data::{NodeData, SharedNode};

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
    let now = now_ms();
    let in_place = locals[0]
        .lock()
        .remember_token(key, (id, amount, now), window);
    let result = match in_place {
        // The usual case: remembered in place, and the entry alone goes to the others.
        Some(Ok((applied, entry))) => spread(&locals, key, applied.value, w, |i, data| {
            if i > 0 {
                data.merge_token(key, entry)?;
            }
            Ok(())
        }),
        Some(Err(e)) => return Some(refused(e, replicas.len())),
        None => {
            let mut state = locals[0].lock().read(key, None).unwrap_or_default();
            for node in &locals[1..] {
                if let Some(theirs) = node.lock().read(key, None) {
                    state.merge(&theirs);
                }
            }
            match state.apply_token(id, amount, now, window) {
                Ok(applied) => spread(&locals, key, applied.value, w, |_, data| {
                    data.merge_one(key, &state).map(|_| ())
                }),
                Err(e) => return Some(refused(e, replicas.len())),
            }
        }
    };
    Some(result)
}

/// The answer to an update the coordinator refused: an overflow changes nothing anywhere; any
/// other error (its log failed) leaves no replica holding it.
fn refused(e: Error, replicas: usize) -> (Result<Served>, usize) {
    let held = if matches!(e, Error::Overflow) {
        replicas
    } else {
        0
    };
    (Err(e), held)
}

/// Applies `write` to every replica (`i` is its place, the coordinator first) and hands its log
/// the change; answers `value` once W hold it.
fn spread(
    locals: &[&SharedNode],
    key: &str,
    value: i64,
    w: usize,
    write: impl Fn(usize, &mut NodeData) -> Result<()>,
) -> (Result<Served>, usize) {
    let mut acks = Vec::new();
    let mut held = 0;
    for (i, node) in locals.iter().enumerate() {
        let mut data = node.lock();
        let done = write(i, &mut data).and_then(|_| data.persist());
        match done {
            Ok(Some(ack)) => acks.push(ack),
            Ok(None) => {}
            // The coordinator's own failure (its log: a full disk) is the answer, as for a plain
            // update; another replica's only counts against W.
            Err(e) if i == 0 => return (Err(e), 0),
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
        return (Err(why), held);
    }
    let served = Served {
        acks,
        ..Served::now(Some(value))
    };
    (Ok(served), held)
}
