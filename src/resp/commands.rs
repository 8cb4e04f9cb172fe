//! One request → a [`Plan`]: a reply made on the spot, or the cluster [`Request`]s to run and how
//! their answers become the reply. No I/O and no actors here: `connection` runs the plans.
//!
//! Counters are signed 64-bit integers, as Redis's (see [`super::counters`]). A key exists once
//! written (`INCRBY key 0` too): `GET` answers `"0"` for it and nil for a key never written.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::{smallvec, SmallVec};

use super::admin::{self, Session};
use super::counters;
use super::fanout::{self, Fanout};
use super::info::{self, Stats};
use super::reply::{self, Frame};
use super::table;
use crate::command::check_key;
use crate::protocol::{ErrorCode, Request, Response};

/// The commands refused because ringkv's counters are integers.
const REFUSED: &[&str] = &["setnx", "incrbyfloat", "append", "setrange"];

/// The cluster requests of one RESP request (one for most commands).
pub type Requests = SmallVec<[Request; 1]>;
/// Their answers, in the same order.
pub type Responses = SmallVec<[Response; 1]>;

/// What to do with one request.
pub enum Plan {
    /// Send this reply.
    Reply(Frame),
    /// Send `+OK` and close the connection (QUIT).
    Quit,
    /// Run requests on the cluster, then build the reply with [`Ask::finish`].
    Ask(Ask),
    /// Read many keys a chunk at a time ([`Fanout::run`]).
    Fanout(Fanout),
    /// Run an async task to its reply (SCAN, EXEC...; see `task`).
    Task(super::task::Task),
}

/// Requests for the cluster and how their answers become one reply.
pub struct Ask {
    /// The requests, to run in this order; [`Ask::finish`] takes their answers in the same order.
    pub requests: Requests,
    finish: Finish,
}

enum Finish {
    Incr,
    Get,
    /// One flag per key of MGET: `false` for a key that cannot exist (not asked, nil).
    MGet(Vec<bool>),
    /// EXISTS: keys that cannot exist are not asked and count 0.
    Exists,
    DbSize,
    Info(Vec<&'static str>, Arc<Stats>),
    /// SET, GETSET, GETDEL, DEL, UNLINK, SETEX, PSETEX (see `writes`).
    Write(super::writes::Finish),
    /// EXPIRE, TTL, PERSIST, GETEX... (see `expire`).
    Expire(super::expire::Finish),
}

/// Plans the request `words` (name first; never empty).
pub fn plan(words: &[Bytes], session: &mut Session, stats: &Arc<Stats>) -> Plan {
    let Some((name, args)) = words.split_first() else {
        return Plan::Reply(reply::err("empty request"));
    };
    // The commands of the hot path, before the general lookup.
    if args.len() == 1 && session.multi.is_none() && name.eq_ignore_ascii_case(b"incr") {
        return incr(counters::add(&args[0], 1));
    }
    if let Some(plan) = super::txn::intercept(words, session, stats) {
        return plan;
    }
    let spec = match lookup(words) {
        Ok(spec) => spec,
        Err(frame) => return Plan::Reply(frame),
    };
    match spec.name {
        "incr" | "incrby" | "decr" | "decrby" => incr(counters::update(spec.name, args)),
        "ringkv.incrby" => incr(counters::tokened(args)),
        "set" | "getset" | "getdel" | "del" | "unlink" => {
            match super::writes::plan(spec.name, args) {
                Ok((requests, finish)) => ask(requests, Finish::Write(finish)),
                Err(frame) => Plan::Reply(frame),
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" | "ttl" | "pttl" | "expiretime"
        | "pexpiretime" | "persist" | "getex" => match super::expire::plan(spec.name, args) {
            Ok((requests, finish)) => ask(requests, Finish::Expire(finish)),
            Err(frame) => Plan::Reply(frame),
        },
        "setex" | "psetex" => match super::expire::setex(spec.name, args) {
            Ok((requests, finish)) => ask(requests, Finish::Write(finish)),
            Err(frame) => Plan::Reply(frame),
        },
        "mset" | "msetnx" => super::mset::plan(spec.name, args),
        "get" => match key(&args[0]) {
            Some(key) => ask(smallvec![Request::Read { key }], Finish::Get),
            None => Plan::Reply(reply::nil()),
        },
        "mget" if args.len() > fanout::CHUNK => Plan::Fanout(Fanout::new(args, fanout::Kind::MGet)),
        "exists" if args.len() > fanout::CHUNK => {
            Plan::Fanout(Fanout::new(args, fanout::Kind::Exists))
        }
        "mget" => reads(args, Finish::MGet),
        "exists" => reads(args, |_| Finish::Exists),
        "dbsize" => ask(smallvec![Request::Ring], Finish::DbSize),
        "info" => ask(
            smallvec![Request::Ring],
            Finish::Info(info::sections(args), stats.clone()),
        ),
        "quit" => Plan::Quit,
        "scan" | "keys" | "randomkey" | "type" | "object" | "flushall" | "flushdb" | "function" => {
            super::keyspace::plan(spec, args)
        }
        _ => Plan::Reply(admin::run(spec, args, session, stats)),
    }
}

/// The table entry of the request `words` (name first; never empty), or the error to answer:
/// a command refused because counters only grow, an unknown command, a wrong arity.
pub fn lookup(words: &[Bytes]) -> Result<&'static table::Spec, Frame> {
    let Some((name, args)) = words.split_first() else {
        return Err(reply::err("empty request"));
    };
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    if REFUSED.contains(&lower.as_str()) {
        return Err(reply::grow_only(&lower.to_ascii_uppercase()));
    }
    let Some(spec) = table::find(name) else {
        return Err(reply::unknown_command(name, args));
    };
    if !spec.arity_ok(words.len()) {
        return Err(reply::wrong_arity(spec.name));
    }
    Ok(spec)
}

fn ask(requests: Requests, finish: Finish) -> Plan {
    Plan::Ask(Ask { requests, finish })
}

/// A key that can exist: UTF-8, not empty, at most [`crate::command::MAX_KEY_LEN`] bytes.
pub fn key(word: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(word).ok()?;
    check_key(text).ok().map(|()| text.to_owned())
}

/// An update (see [`counters::update`]) and its integer reply.
fn incr(request: Result<Request, Frame>) -> Plan {
    match request {
        Ok(request) => ask(smallvec![request], Finish::Incr),
        Err(frame) => Plan::Reply(frame),
    }
}

/// MGET and EXISTS: one `Get` per key that can exist.
fn reads(words: &[Bytes], finish: fn(Vec<bool>) -> Finish) -> Plan {
    let keys: Vec<Option<String>> = words.iter().map(|w| key(w)).collect();
    let asked = keys.iter().map(Option::is_some).collect();
    let requests = keys
        .into_iter()
        .flatten()
        .map(|key| Request::Read { key })
        .collect();
    ask(requests, finish(asked))
}

impl Ask {
    /// Builds the reply from the answers to [`Ask::requests`], in order. An error answer becomes
    /// the reply.
    pub fn finish(self, responses: Responses) -> Frame {
        self.try_finish(responses).unwrap_or_else(|e| e)
    }

    fn try_finish(self, mut responses: Responses) -> Result<Frame, Frame> {
        if matches!(self.finish, Finish::Incr | Finish::Get) && responses.len() == 1 {
            // The common case, one INCR or GET: its answer without collecting (BENCHMARKS.md,
            // "Instructions per INCR": collecting one answer cost ~350 instructions).
            if let Some(response) = responses.pop() {
                let value = value_of(response)?;
                return Ok(match self.finish {
                    Finish::Incr => reply::int(value.unwrap_or(0)),
                    _ => value_reply(value),
                });
            }
        }
        if let Finish::Write(finish) = self.finish {
            return finish.reply(responses);
        }
        if let Finish::Expire(finish) = self.finish {
            return finish.reply(responses);
        }
        if let Finish::DbSize | Finish::Info(..) = self.finish {
            let ring = match responses.into_iter().next() {
                Some(Response::Ring(ring)) => ring,
                other => return Err(error_of(other)),
            };
            return Ok(match self.finish {
                Finish::Info(sections, stats) => {
                    reply::verbatim(info::render(&sections, &stats, &ring))
                }
                _ => reply::int(saturate(info::key_count(&ring))),
            });
        }
        let values = values(responses)?;
        Ok(match self.finish {
            Finish::Incr => reply::int(values.first().copied().flatten().unwrap_or(0)),
            Finish::Get => value_reply(values.first().copied().flatten()),
            Finish::MGet(asked) => {
                let mut values = values.into_iter();
                let items = asked
                    .iter()
                    .map(|&a| if a { values.next().flatten() } else { None });
                reply::array(items.map(value_reply).collect())
            }
            Finish::Exists => reply::int(values.iter().filter(|v| v.is_some()).count() as i64),
            Finish::DbSize | Finish::Info(..) | Finish::Write(_) | Finish::Expire(_) => {
                reply::err("internal error")
            }
        })
    }
}

/// The counter values in the answers, or the reply for the first error.
fn values(responses: Responses) -> Result<SmallVec<[Option<i64>; 1]>, Frame> {
    responses.into_iter().map(value_of).collect()
}

/// The counter value in an answer (`None` for a key that does not exist), or the reply for an
/// error.
pub fn value_of(response: Response) -> Result<Option<i64>, Frame> {
    match response {
        Response::Count { value, .. } | Response::Updated { value, .. } => Ok(Some(value)),
        Response::Value { value, .. } => Ok(value),
        other => Err(error_of(Some(other))),
    }
}

/// The reply for an error answer (or an unexpected one).
pub fn error_of(response: Option<Response>) -> Frame {
    match response {
        Some(Response::Error(e)) if e.code == ErrorCode::Overflow => counters::overflow(),
        Some(Response::Error(e)) => reply::err(&e.message),
        other => reply::err(&format!("internal error: unexpected answer {other:?}")),
    }
}

/// A counter as GET shows it: nil for a key that does not exist, else its decimal digits.
pub fn value_reply(value: Option<i64>) -> Frame {
    match value {
        None => reply::nil(),
        Some(v) => reply::bulk(v.to_string()),
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parses an integer as Redis does: optional `-`, digits, no leading zero, no `+`, no spaces.
pub fn parse_i64(word: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(word).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    valid.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-7"), Some(-7));
        assert_eq!(parse_i64(b"0"), Some(0));
        for bad in [
            "",
            "+1",
            "007",
            "-0",
            "1.5",
            " 1",
            "9223372036854775808",
            "x",
        ] {
            assert_eq!(parse_i64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn only_missing_keys_read_as_nil() {
        assert_eq!(value_reply(None), reply::nil());
        assert_eq!(value_reply(Some(0)), reply::bulk_str("0"));
        assert_eq!(value_reply(Some(-5)), reply::bulk_str("-5"));
    }
}
