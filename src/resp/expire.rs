//! The expiry commands: `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (with `NX`, `XX`, `GT`, `LT`),
//! `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`, `PERSIST`, `GETEX`, `SETEX`, `PSETEX`, and the
//! expiry options of `SET`, with Redis 7's argument checks, error texts and replies.
//!
//! Relative times become deadlines (unix milliseconds) here, by this process's clock, as Redis
//! turns them into absolute times when it receives them; the cluster stores and merges deadlines
//! (see `src/counter/expiry.rs`).

use bytes::Bytes;
use smallvec::smallvec;

use super::commands::{key, parse_i64, value_reply, Requests, Responses};
use super::reply::{self, Frame};
use super::writes;
use crate::counter::now_ms;
use crate::expire::{ExpireCond, ExpireOp, SetTtl};
use crate::protocol::{Request, Response};

/// How the answer of an expiry command becomes its reply.
pub enum Finish {
    /// `EXPIRE`..., `PERSIST`: the integer 1 or 0.
    Flag,
    /// `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`: in milliseconds (`ms`), as a deadline
    /// (`abs`) or a time to live.
    Ttl {
        /// Milliseconds rather than seconds.
        ms: bool,
        /// The deadline rather than the time left.
        abs: bool,
    },
    /// `GETEX`: the value (nil if none).
    Value,
}

/// `ERR invalid expire time in 'NAME' command`.
fn invalid_time(name: &str) -> Frame {
    reply::err(&format!("invalid expire time in '{name}' command"))
}

/// The clock as Redis's `mstime()`: unix milliseconds.
fn now() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

/// The deadline of `EXPIRE`-family `when` (seconds if `seconds`, relative if `relative`), as
/// Redis 7 computes it: an overflow of the unit or of the addition is an invalid expire time.
fn expire_deadline(name: &str, when: i64, seconds: bool, relative: bool) -> Result<i64, Frame> {
    let when = if seconds {
        when.checked_mul(1000).ok_or_else(|| invalid_time(name))?
    } else {
        when
    };
    let base = if relative { now() } else { 0 };
    when.checked_add(base).ok_or_else(|| invalid_time(name))
}

/// The condition options of an `EXPIRE`-family command.
fn condition(options: &[Bytes]) -> Result<ExpireCond, Frame> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in options {
        match String::from_utf8_lossy(option)
            .to_ascii_uppercase()
            .as_str()
        {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            _ => {
                let text = String::from_utf8_lossy(option);
                return Err(reply::err(&format!("Unsupported option {text}")));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(reply::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(reply::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => ExpireCond::Nx,
        (_, _, true, _) => ExpireCond::Gt,
        (_, true, _, true) => ExpireCond::XxLt,
        (_, _, _, true) => ExpireCond::Lt,
        (_, true, ..) => ExpireCond::Xx,
        _ => ExpireCond::Always,
    })
}

/// One `Expire` request on the key `word` (a key that cannot exist answers at once: `missing`).
fn one(
    word: &[u8],
    op: ExpireOp,
    finish: Finish,
    missing: Frame,
) -> Result<(Requests, Finish), Frame> {
    match key(word) {
        Some(key) => Ok((smallvec![Request::Expire { key, op }], finish)),
        None => Err(missing),
    }
}

/// Plans `name` (lower case) on `args`, whose number the command table has checked.
pub fn plan(name: &str, args: &[Bytes]) -> Result<(Requests, Finish), Frame> {
    let ttl = |ms, abs| Finish::Ttl { ms, abs };
    match (name, args) {
        ("expire" | "pexpire" | "expireat" | "pexpireat", [word, when, options @ ..]) => {
            let when = parse_i64(when).ok_or_else(reply::not_integer)?;
            let seconds = matches!(name, "expire" | "expireat");
            let relative = matches!(name, "expire" | "pexpire");
            let at = expire_deadline(name, when, seconds, relative)?;
            let cond = condition(options)?;
            one(word, ExpireOp::At { at, cond }, Finish::Flag, reply::int(0))
        }
        ("ttl", [word]) => one(word, ExpireOp::Deadline, ttl(false, false), reply::int(-2)),
        ("pttl", [word]) => one(word, ExpireOp::Deadline, ttl(true, false), reply::int(-2)),
        ("expiretime", [word]) => one(word, ExpireOp::Deadline, ttl(false, true), reply::int(-2)),
        ("pexpiretime", [word]) => one(word, ExpireOp::Deadline, ttl(true, true), reply::int(-2)),
        ("persist", [word]) => one(word, ExpireOp::Persist, Finish::Flag, reply::int(0)),
        ("getex", [word, options @ ..]) => getex(word, options),
        _ => Err(reply::err("internal error: not an expiry command")),
    }
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`.
fn getex(word: &[u8], options: &[Bytes]) -> Result<(Requests, Finish), Frame> {
    let op = match options {
        [] => None,
        [persist] if persist.eq_ignore_ascii_case(b"persist") => Some(ExpireOp::Persist),
        [option, value] => match expiry_option(option, value, "getex")? {
            Some(at) => Some(ExpireOp::At {
                at,
                cond: ExpireCond::Always,
            }),
            None => return Err(reply::syntax()),
        },
        _ => return Err(reply::syntax()),
    };
    let Some(key) = key(word) else {
        return Err(reply::nil());
    };
    let request = match op {
        None => Request::Read { key },
        Some(op) => Request::Expire { key, op },
    };
    Ok((smallvec![request], Finish::Value))
}

/// The deadline of a `SET`/`GETEX` option `EX`, `PX`, `EXAT` or `PXAT` with `value` (Redis's
/// `getExpireMillisecondsOrReply`): `None` if `option` is not one of them.
pub fn expiry_option(option: &[u8], value: &[u8], name: &str) -> Result<Option<i64>, Frame> {
    let upper = String::from_utf8_lossy(option).to_ascii_uppercase();
    let (seconds, relative) = match upper.as_str() {
        "EX" => (true, true),
        "PX" => (false, true),
        "EXAT" => (true, false),
        "PXAT" => (false, false),
        _ => return Ok(None),
    };
    let when = parse_i64(value).ok_or_else(reply::not_integer)?;
    if when <= 0 || (seconds && when > i64::MAX / 1000) {
        return Err(invalid_time(name));
    }
    let at = expire_deadline(name, when, seconds, relative)?;
    if at <= 0 {
        return Err(invalid_time(name));
    }
    Ok(Some(at))
}

/// `SETEX key seconds value`, `PSETEX key milliseconds value`.
pub fn setex(name: &str, args: &[Bytes]) -> Result<(Requests, writes::Finish), Frame> {
    let [word, when, value] = args else {
        return Err(reply::wrong_arity(name));
    };
    let unit: &[u8] = if name == "setex" { b"EX" } else { b"PX" };
    let at = expiry_option(unit, when, name)?.ok_or_else(reply::syntax)?;
    let key = writes::settable(word)?;
    let value = parse_i64(value).ok_or_else(reply::not_integer)?;
    let request = Request::SetTtl {
        key,
        value,
        exists: None,
        ttl: SetTtl::At(at),
    };
    Ok((smallvec![request], writes::Finish::Set))
}

impl Finish {
    /// The reply from the answer; an error answer becomes the reply.
    pub fn reply(self, responses: Responses) -> Result<Frame, Frame> {
        let response = responses.into_iter().next();
        let (answer, value) = match response {
            Some(Response::Expiry { answer, value, .. }) => (answer, value),
            Some(Response::Value { value, .. }) => (0, value),
            other => return Err(super::commands::error_of(other)),
        };
        Ok(match self {
            Finish::Flag => reply::int(answer),
            Finish::Value => value_reply(value),
            Finish::Ttl { .. } if answer < 0 => reply::int(answer),
            Finish::Ttl { ms, abs } => {
                let left = if abs { answer } else { (answer - now()).max(0) };
                reply::int(if ms { left } else { (left + 500) / 1000 })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn error(name: &str, args: &[&str]) -> String {
        match plan(name, &words(args)) {
            Err(Frame::Error(text)) => String::from_utf8_lossy(&text).into_owned(),
            Err(other) => panic!("not an error: {other:?}"),
            Ok((requests, _)) => panic!("planned: {requests:?}"),
        }
    }

    #[test]
    fn expire_options_are_checked_as_redis_checks_them() {
        assert_eq!(
            error("expire", &["k", "10", "NX", "XX"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            error("expire", &["k", "10", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            error("expire", &["k", "10", "FOO"]),
            "ERR Unsupported option FOO"
        );
        assert_eq!(
            error("expire", &["k", "ten"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error("expire", &["k", "9223372036854775807"]),
            "ERR invalid expire time in 'expire' command"
        );
        assert_eq!(
            error("pexpire", &["k", "9223372036854775807"]),
            "ERR invalid expire time in 'pexpire' command"
        );
        assert_eq!(
            error("getex", &["k", "EX", "0"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            error("getex", &["k", "PERSIST", "EX", "1"]),
            "ERR syntax error"
        );
        let (requests, _) = plan("expire", &words(&["k", "-5", "xx", "gt"])).unwrap();
        assert!(matches!(
            requests[0],
            Request::Expire {
                op: ExpireOp::At {
                    cond: ExpireCond::Gt,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn ttl_rounds_as_redis() {
        let answer = |answer| {
            smallvec![Response::Expiry {
                key: "k".into(),
                op: ExpireOp::Deadline,
                answer,
                value: Some(1),
            }]
        };
        let ttl = Finish::Ttl {
            ms: false,
            abs: false,
        };
        assert_eq!(ttl.reply(answer(-2)), Ok(reply::int(-2)));
        let ttl = Finish::Ttl {
            ms: false,
            abs: true,
        };
        assert_eq!(ttl.reply(answer(1_499)), Ok(reply::int(1)));
        let ttl = Finish::Ttl {
            ms: false,
            abs: false,
        };
        let at = now() + 10_000;
        assert!(matches!(ttl.reply(answer(at)), Ok(f) if f == reply::int(10)));
    }
}
