//! One request → a [`Plan`]: a reply made on the spot, or the cluster [`Request`]s to run and how
//! their answers become the reply. No I/O and no actors here: `connection` runs the plans.
//!
//! Counters are ringkv's: grow-only `u64`s. A key exists once its counter is above 0, so a counter
//! at 0 reads as a missing key (`GET` → nil, `EXISTS` → 0), and `INCRBY key 0` only reads.

use std::sync::Arc;

use bytes::Bytes;
use smallvec::{smallvec, SmallVec};

use super::admin::{self, Session};
use super::fanout::{self, Fanout};
use super::info::{self, Stats};
use super::reply::{self, Frame};
use super::table;
use crate::command::check_key;
use crate::protocol::{ErrorCode, Request, Response};

/// The commands refused because ringkv's counters only grow.
const REFUSED: &[&str] = &[
    "decr",
    "decrby",
    "set",
    "setnx",
    "setex",
    "psetex",
    "mset",
    "msetnx",
    "getset",
    "getdel",
    "getex",
    "del",
    "unlink",
    "incrbyfloat",
    "append",
    "setrange",
];

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
}

/// Plans the request `words` (name first; never empty).
pub fn plan(words: &[Bytes], session: &mut Session, stats: &Arc<Stats>) -> Plan {
    let Some((name, args)) = words.split_first() else {
        return Plan::Reply(reply::err("empty request"));
    };
    // The commands of the hot path, before the general lookup.
    if args.len() == 1 && session.multi.is_none() && name.eq_ignore_ascii_case(b"incr") {
        return incr(&args[0], 1);
    }
    if let Some(plan) = super::txn::intercept(words, session, stats) {
        return plan;
    }
    let spec = match lookup(words) {
        Ok(spec) => spec,
        Err(frame) => return Plan::Reply(frame),
    };
    match spec.name {
        "incr" => incr(&args[0], 1),
        "incrby" => match parse_i64(&args[1]) {
            None => Plan::Reply(reply::not_integer()),
            Some(n) if n < 0 => Plan::Reply(reply::grow_only("a negative INCRBY increment")),
            Some(n) => incr(&args[0], n as u64),
        },
        "get" => match key(&args[0]) {
            Some(key) => ask(smallvec![Request::Get { key }], Finish::Get),
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

fn incr(word: &[u8], amount: u64) -> Plan {
    let Ok(key) = std::str::from_utf8(word) else {
        return Plan::Reply(reply::err("ringkv keys must be UTF-8 text"));
    };
    if let Err(e) = check_key(key) {
        return Plan::Reply(reply::err(&e.to_string()));
    }
    let key = key.to_owned();
    let request = if amount == 0 {
        Request::Get { key }
    } else {
        Request::Update { key, amount }
    };
    ask(smallvec![request], Finish::Incr)
}

/// MGET and EXISTS: one `Get` per key that can exist.
fn reads(words: &[Bytes], finish: fn(Vec<bool>) -> Finish) -> Plan {
    let keys: Vec<Option<String>> = words.iter().map(|w| key(w)).collect();
    let asked = keys.iter().map(Option::is_some).collect();
    let requests = keys
        .into_iter()
        .flatten()
        .map(|key| Request::Get { key })
        .collect();
    ask(requests, finish(asked))
}

impl Ask {
    /// Builds the reply from the answers to [`Ask::requests`], in order. An error answer becomes
    /// the reply.
    pub fn finish(self, responses: Responses) -> Frame {
        self.try_finish(responses).unwrap_or_else(|e| e)
    }

    fn try_finish(self, responses: Responses) -> Result<Frame, Frame> {
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
            Finish::Incr => incr_reply(values.first().copied().unwrap_or(0)),
            Finish::Get => value_reply(values.first().copied().unwrap_or(0)),
            Finish::MGet(asked) => {
                let mut values = values.into_iter();
                let items = asked
                    .iter()
                    .map(|&a| if a { values.next().unwrap_or(0) } else { 0 });
                reply::array(items.map(value_reply).collect())
            }
            Finish::Exists => reply::int(values.iter().filter(|&&v| v > 0).count() as i64),
            Finish::DbSize | Finish::Info(..) => reply::err("internal error"),
        })
    }
}

/// The counter values in the answers, or the reply for the first error.
fn values(responses: Responses) -> Result<SmallVec<[u64; 1]>, Frame> {
    responses.into_iter().map(value_of).collect()
}

/// The counter value in an answer, or the reply for an error.
pub fn value_of(response: Response) -> Result<u64, Frame> {
    match response {
        Response::Count { value, .. } | Response::Updated { value, .. } => Ok(value),
        other => Err(error_of(Some(other))),
    }
}

/// The reply for an error answer (or an unexpected one).
fn error_of(response: Option<Response>) -> Frame {
    match response {
        Some(Response::Error(e)) if e.code == ErrorCode::Overflow => {
            reply::err("increment or decrement would overflow")
        }
        Some(Response::Error(e)) => reply::err(&e.message),
        other => reply::err(&format!("internal error: unexpected answer {other:?}")),
    }
}

/// A counter as GET shows it: nil at 0, else its decimal digits.
fn value_reply(value: u64) -> Frame {
    match value {
        0 => reply::nil(),
        v => reply::bulk(v.to_string()),
    }
}

/// INCR's integer reply; RESP integers are signed, so a value past `i64::MAX` is an error (the
/// increment stays applied, GET reads it).
fn incr_reply(value: u64) -> Frame {
    match i64::try_from(value) {
        Ok(v) => reply::int(v),
        Err(_) => reply::err(&format!(
            "the counter is now {value}, past the largest RESP integer; read it with GET"
        )),
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
    fn counters_at_zero_read_as_missing() {
        assert_eq!(value_reply(0), reply::nil());
        assert_eq!(value_reply(5), reply::bulk_str("5"));
        assert_eq!(incr_reply(3), reply::int(3));
        assert!(matches!(incr_reply(u64::MAX), Frame::Error(_)));
    }
}
