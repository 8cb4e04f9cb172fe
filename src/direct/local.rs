//! Updates and reads on the replicas of a key, as the direct path runs them on the caller's task:
//! every replica in this process is locked in turn; a replica in another process gets the
//! update's merge over its link ([`SharedLink`]), and the answer waits for the acks the write
//! quorum needs.

use std::time::Duration;

use smallvec::SmallVec;

use super::served::{Remote, Served};
use super::Replica;
use crate::actors::remote::SharedLink;
use crate::counter::Counter;
use crate::error::{Error, Result};
use crate::node_data::{NodeData, SharedNode};
use crate::persist::Ack;
use crate::protocol::peer::WireOp;
use crate::store::Entry;

/// Hands a node's journal to its log, keeping the ack to wait for.
fn persist(data: &mut NodeData, acks: &mut Vec<Ack<()>>) -> Result<()> {
    if let Some(ack) = data.persist()? {
        acks.push(ack);
    }
    Ok(())
}

/// The error of an update that reached fewer replicas than W.
fn too_few(key: &str, held: usize, w: usize) -> Error {
    Error::Uncertain(format!(
        "update of {} reached only {held} replicas; the write quorum is {w}: it may or may not be applied",
        crate::quote::in_message(key)
    ))
}

/// Increments at a replica in this process and merges its new state into the others; W must hold
/// it. Returns the answer and how many replicas hold the update or were sent it; `None` if no
/// replica in this process may coordinate and there are several (the Router coordinates those).
///
/// Only one of the first `r` (the current ring's replicas, not those a move adds) coordinates: a
/// replica the next ring adds may not hold the key yet, and an increment of its own slot from
/// nothing would lose to the older, larger value of that slot that other replicas hold.
pub(super) fn update(
    replicas: &[&Replica],
    r: usize,
    key: &str,
    amount: i64,
    w: usize,
    timeout: Duration,
) -> Option<(Result<Served>, usize)> {
    let current = &replicas[..r.min(replicas.len())];
    let Some(first) = current.iter().position(|r| r.local().is_some()) else {
        let [Replica::Remote(link)] = replicas else {
            return None;
        };
        return Some((forward(link, key, amount, timeout), 1));
    };
    let coordinator = replicas[first].local()?;
    let mut data = coordinator.lock();
    let mut acks = Vec::new();
    if replicas.len() == 1 {
        let served = data.increment_value(key, amount).and_then(|value| {
            persist(&mut data, &mut acks)?;
            Ok(Served {
                acks,
                ..Served::now(Some(value))
            })
        });
        return Some((served, 1));
    }
    let counter = match data.increment(key, amount, None) {
        Ok(counter) => counter,
        Err(e) => return Some((Err(e), replicas.len())),
    };
    if let Err(e) = persist(&mut data, &mut acks) {
        return Some((Err(e), 0));
    }
    drop(data);
    let others = replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != first)
        .map(|(_, r)| *r);
    Some(spread(others, key, counter, acks, w, timeout))
}

/// Merges `counter` (the coordinator's new state of `key`) into the other replicas.
fn spread<'a>(
    others: impl Iterator<Item = &'a Replica>,
    key: &str,
    counter: Counter,
    mut acks: Vec<Ack<()>>,
    w: usize,
    timeout: Duration,
) -> (Result<Served>, usize) {
    let mut held = 1;
    let mut waiting = SmallVec::new();
    for replica in others {
        match replica {
            Replica::Local(node) => {
                let mut data = node.lock();
                if data.merge_one(key, &counter).is_ok() && persist(&mut data, &mut acks).is_ok() {
                    held += 1;
                }
            }
            Replica::Remote(link) => {
                let entries = vec![Entry {
                    key: key.to_owned(),
                    counter: counter.clone(),
                }];
                let merge = WireOp::Merge {
                    entries,
                    hint_for: None,
                };
                waiting.extend(link.send(merge));
            }
        }
    }
    let sent = held + waiting.len();
    if sent < w {
        return (Err(too_few(key, held, w)), sent);
    }
    let need = w.saturating_sub(held);
    let remote = (need > 0).then(|| {
        Box::new(Remote::Acks {
            waiting,
            need,
            timeout,
        })
    });
    let served = Served {
        acks,
        remote,
        ..Served::now(Some(counter.value()))
    };
    (Ok(served), sent)
}

/// Sends the increment to the one replica of `key`, in another process.
fn forward(link: &SharedLink, key: &str, amount: i64, timeout: Duration) -> Result<Served> {
    let op = WireOp::Increment {
        key: key.to_owned(),
        amount,
        hint_for: None,
    };
    let reply = link
        .send(op)
        .ok_or_else(|| Error::Unavailable(format!("node at {} is unreachable", link.addr())))?;
    Ok(Served {
        remote: Some(Box::new(Remote::Forwarded { reply, timeout })),
        ..Served::now(Some(0))
    })
}

/// Merges every replica's state of `key`; writes the merge back to the replicas that were behind.
/// Returns the answer and how many replicas were repaired.
pub(super) fn read(replicas: &[&SharedNode], key: &str) -> (Result<Served>, u64) {
    if let [only] = replicas {
        let value = only.lock().store().value_of(key);
        return (Ok(Served::now(value)), 0);
    }
    let states: SmallVec<[Option<Counter>; 3]> = replicas
        .iter()
        .map(|node| node.lock().read(key, None))
        .collect();
    let mut merged = Counter::new();
    for state in states.iter().flatten() {
        merged.merge(state);
    }
    let mut repaired = 0;
    let exists = states.iter().any(Option::is_some);
    if exists {
        for (node, state) in replicas.iter().zip(&states) {
            if state.as_ref() != Some(&merged) {
                let mut data = node.lock();
                if data.merge_one(key, &merged).is_ok() {
                    repaired += 1;
                }
                // The read does not wait for the repair's log write; a failed one only means this
                // replica is still behind.
                let _ = data.persist();
            }
        }
    }
    let value = merged.value_if_present().filter(|_| exists);
    (Ok(Served::now(value)), repaired)
}
