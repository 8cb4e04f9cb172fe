//! The counter updates of the Redis port: `INCR`, `INCRBY`, `DECR`, `DECRBY`, with Redis 7's
//! argument checks and error texts.
//!
//! Counters are signed 64-bit integers, as Redis's. A key exists once written — `INCRBY key 0`
//! creates it at 0 — so `GET` answers `"0"` for it and nil only for a key never written. An update
//! whose result would leave `i64` is refused with `ERR increment or decrement would overflow` and
//! leaves the counter as it was. `DECRBY key -9223372036854775808` is refused before it is sent,
//! as Redis refuses it (`ERR decrement would overflow`: the negation does not fit).
//!
//! `RINGKV.INCRBY key increment token` is `INCRBY` counted once per token: a repeat within the
//! dedup window adds nothing and answers the counter's current value.

use bytes::Bytes;

use super::commands::parse_i64;
use super::reply::{self, Frame};
use crate::command::check_key;
use crate::counter::tokens::{check_token, MAX_TOKEN};
use crate::protocol::Request;

/// The update request of one of `incr`, `incrby`, `decr`, `decrby` (lower case) on `args`, whose
/// number the command table has checked; or the error reply.
pub fn update(name: &str, args: &[Bytes]) -> Result<Request, Frame> {
    let amount = match (name, args) {
        ("incr", [_]) => 1,
        ("decr", [_]) => -1,
        ("incrby", [_, by]) => parse_i64(by).ok_or_else(reply::not_integer)?,
        ("decrby", [_, by]) => match parse_i64(by) {
            None => return Err(reply::not_integer()),
            Some(i64::MIN) => return Err(reply::err("decrement would overflow")),
            Some(by) => -by,
        },
        _ => return Err(reply::err("internal error: not a counter update")),
    };
    let key = args.first().ok_or_else(reply::syntax)?;
    add(key, amount)
}

/// The request that adds `amount` to the counter `word`, or the reply for a key ringkv cannot hold.
pub fn add(word: &[u8], amount: i64) -> Result<Request, Frame> {
    let Ok(key) = std::str::from_utf8(word) else {
        return Err(reply::err("ringkv keys must be UTF-8 text"));
    };
    check_key(key).map_err(|e| reply::err(&e.to_string()))?;
    Ok(Request::Update {
        key: key.to_owned(),
        amount,
    })
}

/// The request of `RINGKV.INCRBY key increment token` on `args` (the table checked there are
/// three): an update counted once per token (see `docs/COUNTERS.md`), or the error reply.
pub fn tokened(args: &[Bytes]) -> Result<Request, Frame> {
    let [key, by, token] = args else {
        return Err(reply::wrong_arity("ringkv.incrby"));
    };
    let amount = parse_i64(by).ok_or_else(reply::not_integer)?;
    if check_token(token).is_err() {
        return Err(reply::err(&format!(
            "the token must be 1 to {MAX_TOKEN} bytes"
        )));
    }
    match add(key, amount)? {
        Request::Update { key, amount } => Ok(Request::UpdateToken {
            key,
            amount,
            token: token.to_vec(),
        }),
        _ => Err(reply::err("internal error: not a counter update")),
    }
}

/// The reply to a refused update that would leave `i64`.
pub fn overflow() -> Frame {
    reply::err("increment or decrement would overflow")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn amount(name: &str, args: &[&str]) -> Result<i64, Frame> {
        match update(name, &words(args))? {
            Request::Update { amount, .. } => Ok(amount),
            other => panic!("not an update: {other:?}"),
        }
    }

    #[test]
    fn each_command_gives_its_amount() {
        assert_eq!(amount("incr", &["k"]), Ok(1));
        assert_eq!(amount("decr", &["k"]), Ok(-1));
        assert_eq!(amount("incrby", &["k", "-5"]), Ok(-5));
        assert_eq!(amount("incrby", &["k", "0"]), Ok(0));
        assert_eq!(amount("decrby", &["k", "17179869185"]), Ok(-17179869185));
        assert_eq!(amount("decrby", &["k", "-3"]), Ok(3));
        assert_eq!(
            amount("decrby", &["k", "9223372036854775807"]),
            Ok(-i64::MAX)
        );
    }

    #[test]
    fn bad_increments_get_redis_errors() {
        let text = |r: Result<i64, Frame>| match r {
            Err(Frame::Error(text)) => String::from_utf8_lossy(&text).into_owned(),
            other => panic!("not an error: {other:?}"),
        };
        assert_eq!(
            text(amount("decrby", &["k", "-9223372036854775808"])),
            "ERR decrement would overflow"
        );
        assert_eq!(
            text(amount("incrby", &["k", "1.5"])),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            text(amount("decrby", &["k", "9223372036854775808"])),
            "ERR value is not an integer or out of range"
        );
    }
}
