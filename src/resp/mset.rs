//! `MSET` and `MSETNX` with integer values, as Redis Cluster serves them.
//!
//! Every value is checked before anything is written (`ERR value is not an integer or out of
//! range` sets nothing). A key named twice takes its last value, as in Redis. Keys on different
//! replica sets get `CROSSSLOT`, as in a transaction (hash tags make keys share one). Each key is
//! then set as `SET key n` sets it (an observed reset plus the value; its deadline is removed).
//! `MSETNX` reads every key first and sets them all only if none exists: all or nothing, checked
//! on the read (as `SET ... NX`), not atomically with writers on other connections.

use super::commands::{error_of, value_of, Plan};
use super::reply::{self, Frame};
use super::task;
use super::txn::CROSSSLOT;
use super::writes::settable;
use crate::actors::gateway::{Gateway, Order};
use crate::actors::router::SameReplicas;
use crate::protocol::{Request, Response};
use crate::ring::{key_token, Token};
use bytes::Bytes;

/// Plans `name` (`mset` or `msetnx`) on `args` (the words after the name).
pub fn plan(name: &str, args: &[Bytes]) -> Plan {
    let nx = name == "msetnx";
    match pairs(name, args) {
        Ok(pairs) => task::plan(move |gateway, order, _| run(gateway, order, nx, pairs)),
        Err(frame) => Plan::Reply(frame),
    }
}

/// The keys and values of `args`, a key named twice once with its last value; or the error
/// reply (an odd number of words, a key ringkv cannot hold, a value that is not an integer).
fn pairs(name: &str, args: &[Bytes]) -> Result<Vec<(String, i64)>, Frame> {
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return Err(reply::wrong_arity(name));
    }
    let mut pairs: Vec<(String, i64)> = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks_exact(2) {
        let key = settable(&pair[0])?;
        let value = super::commands::parse_i64(&pair[1]).ok_or_else(reply::not_integer)?;
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(seen) => seen.1 = value,
            None => pairs.push((key, value)),
        }
    }
    Ok(pairs)
}

/// The distinct tokens of the keys.
fn tokens(pairs: &[(String, i64)]) -> Vec<Token> {
    let mut tokens: Vec<Token> = pairs.iter().map(|(k, _)| key_token(k.as_bytes())).collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

async fn run(gateway: Gateway, order: Order, nx: bool, pairs: Vec<(String, i64)>) -> Frame {
    let tokens = tokens(&pairs);
    if tokens.len() > 1 {
        match gateway.router().send(SameReplicas(tokens)).await {
            Ok(true) => {}
            Ok(false) => return reply::error(CROSSSLOT),
            Err(_) => return task::router_gone(),
        }
    }
    if nx {
        let reads = pairs
            .iter()
            .map(|(key, _)| Request::Read { key: key.clone() });
        for response in task::start_all(&gateway, &order, reads).await {
            match value_of(response) {
                Ok(None) => {}
                Ok(Some(_)) => return reply::int(0),
                Err(frame) => return frame,
            }
        }
    }
    let sets = (pairs.into_iter()).map(|(key, value)| Request::Set { key, value });
    for response in task::start_all(&gateway, &order, sets).await {
        if !matches!(response, Response::Replaced { .. }) {
            return error_of(Some(response));
        }
    }
    if nx {
        reply::int(1)
    } else {
        reply::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn error(args: &[&str]) -> String {
        match pairs("mset", &words(args)) {
            Err(Frame::Error(text)) => String::from_utf8_lossy(&text).into_owned(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn pairs_take_the_last_value_of_a_key() {
        let got = pairs("msetnx", &words(&["a", "1", "b", "-2", "a", "3"])).unwrap();
        assert_eq!(got, [("a".to_owned(), 3), ("b".to_owned(), -2)]);
    }

    #[test]
    fn bad_pairs_get_redis_errors() {
        assert_eq!(
            error(&["a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            error(&["a", "1", "b", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&["a", "1", "b", "1.5"]),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn tokens_are_distinct() {
        let pairs = [("{t}a".to_owned(), 1), ("{t}b".to_owned(), 2)];
        assert_eq!(tokens(&pairs).len(), 1);
    }
}
