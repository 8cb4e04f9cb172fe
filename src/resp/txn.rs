//! `MULTI`, `EXEC`, `DISCARD` (and `WATCH`, refused): a connection's transaction.
//!
//! After `MULTI` every command is checked (known, right arity) and queued (`+QUEUED`), not run;
//! `EXEC` runs the queue in order, on a connection that starts nothing else meanwhile, and
//! answers the array of their replies. As in Redis Cluster, the keys of one transaction must
//! share one replica set: a queued command whose keys do not (on the ring at the time it is
//! queued) gets `-CROSSSLOT Keys in request don't hash to the same slot`. Any error while
//! queueing discards the transaction: its `EXEC` answers `-EXECABORT` and runs nothing. Errors
//! while running (an overflow) are that command's reply, as in Redis, and the others still run.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::admin::Session;
use super::commands::{self, Plan};
use super::info::Stats;
use super::reply::{self, Frame};
use super::table::Spec;
use super::task;
use crate::actors::router::SameReplicas;
use crate::ring::{key_token, Token};

/// The error of a transaction whose keys do not share one replica set (Redis Cluster's text).
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Queue {
    commands: Vec<Vec<Bytes>>,
    /// The distinct tokens of the queued keys, in the order first seen.
    tokens: Vec<Token>,
    /// An error while queueing: EXEC aborts. Shared with the tasks that check replica sets.
    dirty: Rc<Cell<bool>>,
}

/// Handles the transaction commands, and every command while a transaction is open; `None`
/// lets the command run as usual.
pub fn intercept(words: &[Bytes], session: &mut Session, stats: &Arc<Stats>) -> Option<Plan> {
    let name = words.first()?;
    let is = |word: &str| name.eq_ignore_ascii_case(word.as_bytes());
    let reply = |frame| Some(Plan::Reply(frame));
    if is("multi") || is("exec") || is("discard") || is("watch") || is("unwatch") {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let arity_ok = match lower.as_str() {
            "watch" => words.len() >= 2,
            _ => words.len() == 1,
        };
        if !arity_ok {
            return reply(flag(session, reply::wrong_arity(&lower)));
        }
        return match lower.as_str() {
            "multi" if session.multi.is_some() => {
                reply(reply::err("MULTI calls can not be nested"))
            }
            "multi" => {
                session.multi = Some(Queue::default());
                reply(reply::ok())
            }
            "exec" => Some(exec(session, stats)),
            "discard" => match session.multi.take() {
                Some(_) => reply(reply::ok()),
                None => reply(reply::err("DISCARD without MULTI")),
            },
            "watch" if session.multi.is_some() => reply(flag(
                session,
                reply::err("WATCH inside MULTI is not allowed"),
            )),
            "watch" => reply(reply::err(
                "WATCH is not supported by ringkv (counters cannot be compared and set): \
                 use MULTI/EXEC alone",
            )),
            _ => reply(reply::ok()),
        };
    }
    if session.multi.is_none() || is("quit") {
        return None;
    }
    Some(queue(words, session))
}

/// Marks the open transaction (if any) as failed; gives `frame` back.
fn flag(session: &mut Session, frame: Frame) -> Frame {
    if let Some(queue) = &session.multi {
        queue.dirty.set(true);
    }
    frame
}

/// Queues one command of an open transaction, or answers its error and marks the transaction.
fn queue(words: &[Bytes], session: &mut Session) -> Plan {
    let spec = match commands::lookup(words) {
        Ok(spec) => spec,
        Err(frame) => return Plan::Reply(flag(session, frame)),
    };
    let Some(queue) = session.multi.as_mut() else {
        return Plan::Reply(reply::err("internal error: no transaction"));
    };
    queue.commands.push(words.to_vec());
    let before = queue.tokens.len();
    for key in keys(spec, words) {
        let token = key_token(key);
        if !queue.tokens.contains(&token) {
            queue.tokens.push(token);
        }
    }
    if queue.tokens.len() < 2 || queue.tokens.len() == before {
        return Plan::Reply(reply::simple("QUEUED"));
    }
    let (tokens, dirty) = (queue.tokens.clone(), queue.dirty.clone());
    task::plan(move |gateway, _, _| async move {
        match gateway.router().send(SameReplicas(tokens)).await {
            Ok(true) => reply::simple("QUEUED"),
            Ok(false) => {
                dirty.set(true);
                reply::error(CROSSSLOT)
            }
            Err(_) => {
                dirty.set(true);
                task::router_gone()
            }
        }
    })
}

/// The keys of a command, by its table entry's first key, last key and step (a container
/// command's by its subcommand's).
fn keys<'a>(spec: &'static Spec, words: &'a [Bytes]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let spec = match words.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => spec.subcommand(sub).unwrap_or(spec),
        _ => spec,
    };
    let (first, last, step) = spec.keys;
    let len = words.len() as i64;
    let last = if last < 0 {
        len + last
    } else {
        last.min(len - 1)
    };
    let step = step.max(1) as usize;
    let range = if first <= 0 || first > last {
        0..0
    } else {
        first as usize..last as usize + 1
    };
    range
        .step_by(step)
        .filter_map(move |i| words.get(i).map(|w| &w[..]))
}

/// EXEC: runs the queue in order, or aborts it.
fn exec(session: &mut Session, stats: &Arc<Stats>) -> Plan {
    let Some(queue) = session.multi.take() else {
        return Plan::Reply(reply::err("EXEC without MULTI"));
    };
    if queue.dirty.get() {
        return Plan::Reply(reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let plans: Vec<Plan> = (queue.commands.iter())
        .map(|words| commands::plan(words, session, stats))
        .collect();
    task::plan(move |gateway, order, proto| async move {
        let mut replies = Vec::with_capacity(plans.len());
        for plan in plans {
            replies.push(task::run(plan, &gateway, &order, proto).await);
        }
        reply::array(replies)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::table;

    fn words(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn keys_follow_the_table() {
        let w = words("mget a b c");
        let spec = table::find(b"mget").unwrap();
        let got: Vec<&[u8]> = keys(spec, &w).collect();
        assert_eq!(got, [&b"a"[..], b"b", b"c"]);
        let w = words("incrby k 5");
        let got: Vec<&[u8]> = keys(table::find(b"incrby").unwrap(), &w).collect();
        assert_eq!(got, [&b"k"[..]]);
        let w = words("ping");
        assert_eq!(keys(table::find(b"ping").unwrap(), &w).count(), 0);
    }
}
