//! The commands that reset or delete a counter: `SET` (integers; `NX`, `XX`, `GET`, `KEEPTTL`),
//! `GETSET`, `GETDEL`, `DEL` and `UNLINK`, with Redis 7's argument checks and replies.
//!
//! A value that is not an integer is refused with `ERR value is not an integer or out of range`
//! (ringkv holds counters only). `EX`, `PX`, `EXAT`, `PXAT` give the key a deadline, `KEEPTTL`
//! keeps the one it has, and a `SET` without them removes it, as in Redis. `DEL` counts
//! the keys that existed. What a delete or a set concurrent with an increment gives is in
//! `docs/COUNTERS.md`: the increment is kept (add wins).

use bytes::Bytes;

use super::commands::{key, parse_i64, value_reply, Requests, Responses};
use super::reply::{self, Frame};
use crate::command::check_key;
use crate::protocol::{Request, Response, SetTtl};

/// How the answers of a write become its reply.
pub enum Finish {
    /// `DEL`, `UNLINK`: how many keys existed.
    Deleted,
    /// `GETSET`, `GETDEL`, `SET ... GET`: the value before (nil if none).
    Old,
    /// `SET`: `+OK`, or nil if its `NX`/`XX` condition failed.
    Set,
}

/// Plans `name` (lower case) on `args`, whose number the command table has checked: the requests
/// and how their answers become the reply, or the reply at once.
pub fn plan(name: &str, args: &[Bytes]) -> Result<(Requests, Finish), Frame> {
    match (name, args) {
        ("del" | "unlink", keys) => {
            // A key named twice is deleted (and counted) once, as in Redis.
            let mut keys: Vec<String> = keys.iter().filter_map(|w| key(w)).collect();
            keys.sort_unstable();
            keys.dedup();
            let requests = keys
                .into_iter()
                .map(|key| Request::Delete { key })
                .collect();
            Ok((requests, Finish::Deleted))
        }
        ("getdel", [word]) => match key(word) {
            Some(key) => Ok((Requests::from_elem(Request::Delete { key }, 1), Finish::Old)),
            None => Err(reply::nil()),
        },
        ("getset", [word, value]) => {
            let key = settable(word)?;
            let value = parse_i64(value).ok_or_else(reply::not_integer)?;
            Ok((
                Requests::from_elem(Request::Set { key, value }, 1),
                Finish::Old,
            ))
        }
        ("set", [word, value, options @ ..]) => set(word, value, options),
        _ => Err(reply::err("internal error: not a write")),
    }
}

/// A key SET may write, or the error reply.
pub(super) fn settable(word: &[u8]) -> Result<String, Frame> {
    let Ok(key) = std::str::from_utf8(word) else {
        return Err(reply::err("ringkv keys must be UTF-8 text"));
    };
    check_key(key).map_err(|e| reply::err(&e.to_string()))?;
    Ok(key.to_owned())
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
fn set(word: &[u8], value: &[u8], options: &[Bytes]) -> Result<(Requests, Finish), Frame> {
    let (mut only, mut get, mut ttl) = (None, false, None);
    let mut i = 0;
    while i < options.len() {
        let option = String::from_utf8_lossy(&options[i]).to_ascii_uppercase();
        match option.as_str() {
            "NX" | "XX" if only.is_some() => return Err(reply::syntax()),
            "NX" => only = Some(false),
            "XX" => only = Some(true),
            "GET" => get = true,
            "KEEPTTL" | "EX" | "PX" | "EXAT" | "PXAT" if ttl.is_some() => {
                return Err(reply::syntax())
            }
            "KEEPTTL" => ttl = Some(SetTtl::Keep),
            _ => {
                let Some(when) = options.get(i + 1) else {
                    return Err(reply::syntax());
                };
                match super::expire::expiry_option(&options[i], when, "set")? {
                    Some(at) => ttl = Some(SetTtl::At(at)),
                    None => return Err(reply::syntax()),
                }
                i += 1;
            }
        }
        i += 1;
    }
    let key = settable(word)?;
    let value = parse_i64(value).ok_or_else(reply::not_integer)?;
    let request = match (only, ttl) {
        (None, None) => Request::Set { key, value },
        (Some(exists), None) => Request::SetIf { key, value, exists },
        (exists, Some(ttl)) => Request::SetTtl {
            key,
            value,
            exists,
            ttl,
        },
    };
    let finish = if get { Finish::Old } else { Finish::Set };
    Ok((Requests::from_elem(request, 1), finish))
}

impl Finish {
    /// The reply from the answers, in order; an error answer becomes the reply.
    pub fn reply(self, responses: Responses) -> Result<Frame, Frame> {
        let mut existed = 0;
        let mut last = None;
        for response in responses {
            let (old, done) = match response {
                Response::Deleted { old, .. } => (old, true),
                Response::Replaced { old, done, .. } => (old, done),
                other => return Err(super::commands::error_of(Some(other))),
            };
            existed += i64::from(old.is_some());
            last = Some((old, done));
        }
        Ok(match (self, last) {
            (Finish::Deleted, _) => reply::int(existed),
            (Finish::Old, Some((old, _))) => value_reply(old),
            (Finish::Set, Some((_, true))) => reply::ok(),
            (Finish::Set, Some((_, false))) => reply::nil(),
            (_, None) => reply::err("internal error: no answer"),
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
    fn set_options_parse_like_redis() {
        let one = |args: &[&str]| plan("set", &words(args)).map(|(r, _)| r[0].clone());
        assert!(matches!(
            one(&["k", "-4"]),
            Ok(Request::Set { value: -4, .. })
        ));
        assert!(matches!(
            one(&["k", "1", "nx", "get"]),
            Ok(Request::SetIf { exists: false, .. })
        ));
        assert!(matches!(
            one(&["k", "1", "nx", "keepttl"]),
            Ok(Request::SetTtl {
                exists: Some(false),
                ttl: SetTtl::Keep,
                ..
            })
        ));
        assert!(matches!(
            one(&["k", "1", "PXAT", "5"]),
            Ok(Request::SetTtl {
                exists: None,
                ttl: SetTtl::At(5),
                ..
            })
        ));
        assert_eq!(
            error("set", &["k", "1", "EX", "5", "KEEPTTL"]),
            "ERR syntax error"
        );
        assert_eq!(
            error("set", &["k", "1", "EX", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert!(matches!(
            one(&["k", "1", "XX"]),
            Ok(Request::SetIf { exists: true, .. })
        ));
        assert_eq!(error("set", &["k", "1", "NX", "XX"]), "ERR syntax error");
        assert_eq!(error("set", &["k", "1", "BOGUS"]), "ERR syntax error");
        assert_eq!(error("set", &["k", "1", "EX"]), "ERR syntax error");
        assert_eq!(
            error("set", &["k", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error("getset", &["k", "1.5"]),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn replies_follow_redis() {
        let deleted = |old| Response::Deleted {
            key: "k".into(),
            old,
        };
        let answers: Responses = [deleted(Some(1)), deleted(None), deleted(Some(0))]
            .into_iter()
            .collect();
        assert_eq!(Finish::Deleted.reply(answers), Ok(reply::int(2)));
        assert_eq!(Finish::Deleted.reply(Responses::new()), Ok(reply::int(0)));
        let replaced = |old, done| {
            Responses::from_elem(
                Response::Replaced {
                    key: "k".into(),
                    old,
                    done,
                },
                1,
            )
        };
        assert_eq!(Finish::Set.reply(replaced(None, true)), Ok(reply::ok()));
        assert_eq!(
            Finish::Set.reply(replaced(Some(3), false)),
            Ok(reply::nil())
        );
        assert_eq!(
            Finish::Old.reply(replaced(Some(3), false)),
            Ok(reply::bulk_str("3"))
        );
    }
}
