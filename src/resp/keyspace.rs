//! The keyspace commands: `SCAN`, `KEYS`, `RANDOMKEY`, `TYPE`, `OBJECT ENCODING`,
//! `FLUSHALL`/`FLUSHDB` and `FUNCTION FLUSH`. Every ringkv key is a counter, which Redis calls a
//! string with the `int` encoding.
//!
//! A SCAN cursor is a position on the ring's 64-bit hash space (see
//! `actors::router::keyspace`): keys come in token order, so a cursor stays valid across
//! membership changes and a key present throughout a scan is returned.

use bytes::Bytes;

use super::commands::{key, parse_i64, value_of, Plan};
use super::glob;
use super::reply::{self, Frame};
use super::table::Spec;
use super::task;
use crate::actors::gateway::{Gateway, Order, Started};
use crate::actors::router::{FlushReady, ScanPage, ScanRange};
use crate::protocol::{Request, Response};

/// SCAN's COUNT when none is given (Redis's default).
const DEFAULT_COUNT: usize = 10;
/// The largest COUNT honoured (a bigger one is served as this).
const MAX_COUNT: usize = 100_000;
/// Keys per page while KEYS walks the ring.
const KEYS_PAGE: usize = 1000;
/// Keys per page while FLUSHALL walks the ring (each page costs every node a pass over its keys).
const FLUSH_PAGE: usize = 10_000;
/// Deletes in flight at once while FLUSHALL deletes a page.
const FLUSH_BATCH: usize = 512;

/// Plans a command of this module; `args` excludes the name, the arity is already checked.
pub fn plan(spec: &'static Spec, args: &[Bytes]) -> Plan {
    match spec.name {
        "scan" => scan(args),
        "keys" => {
            let pattern = args[0].clone();
            task::plan(move |gateway, _, _| keys(gateway, pattern))
        }
        "randomkey" => task::plan(|gateway, _, _| random_key(gateway)),
        "type" => read_key(&args[0], |value| {
            reply::simple(if value.is_none() { "none" } else { "string" })
        }),
        "object" => object(spec, args),
        "flushall" | "flushdb" => flush(args),
        _ => function(spec, args),
    }
}

/// Reads one key and answers `make(value)` (`None`: the key does not exist, or cannot).
fn read_key(word: &[u8], make: fn(Option<i64>) -> Frame) -> Plan {
    let Some(key) = key(word) else {
        return Plan::Reply(make(None));
    };
    task::plan(move |gateway: Gateway, order: Order, _| async move {
        let response = match gateway.start(Request::Read { key }, &order) {
            Started::Now(response) => response,
            Started::Later(later) => later.await,
        };
        value_of(response).map_or_else(|e| e, make)
    })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn scan(args: &[Bytes]) -> Plan {
    let cursor = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|c| c.parse::<u64>().ok());
    let Some(cursor) = cursor else {
        return Plan::Reply(reply::err("invalid cursor"));
    };
    let (mut pattern, mut count, mut only_strings) = (None, DEFAULT_COUNT, true);
    let mut options = args[1..].chunks(2);
    for option in options.by_ref() {
        let [name, value] = option else {
            return Plan::Reply(reply::syntax());
        };
        if name.eq_ignore_ascii_case(b"match") {
            pattern = Some(value.clone());
        } else if name.eq_ignore_ascii_case(b"count") {
            match parse_i64(value) {
                None => return Plan::Reply(reply::not_integer()),
                Some(n) if n < 1 => return Plan::Reply(reply::syntax()),
                Some(n) => count = (n as usize).min(MAX_COUNT),
            }
        } else if name.eq_ignore_ascii_case(b"type") {
            only_strings = value.eq_ignore_ascii_case(b"string");
        } else {
            return Plan::Reply(reply::syntax());
        }
    }
    task::plan(move |gateway, _, _| async move {
        let page = match page(&gateway, cursor, count).await {
            Ok(page) => page,
            Err(frame) => return frame,
        };
        let keys = (page.keys.into_iter())
            .filter(|_| only_strings)
            .filter(|(k, _)| {
                pattern
                    .as_ref()
                    .is_none_or(|p| glob::matches(p, k.as_bytes()))
            })
            .map(|(k, _)| reply::bulk(k))
            .collect();
        reply::array(vec![reply::bulk(page.next.to_string()), reply::array(keys)])
    })
}

/// One page of the ring's keys from `from` on.
async fn page(gateway: &Gateway, from: u64, count: usize) -> Result<ScanPage, Frame> {
    match gateway.router().send(ScanRange { from, count }).await {
        Ok(Ok(page)) => Ok(page),
        Ok(Err(e)) => Err(reply::err(&e.to_string())),
        Err(_) => Err(task::router_gone()),
    }
}

/// `KEYS pattern`: every key of the cluster that matches, walking the ring a page at a time.
async fn keys(gateway: Gateway, pattern: Bytes) -> Frame {
    let mut found = Vec::new();
    let mut cursor = 0;
    loop {
        let page = match page(&gateway, cursor, KEYS_PAGE).await {
            Ok(page) => page,
            Err(frame) => return frame,
        };
        let matching = page.keys.into_iter().map(|(k, _)| k);
        found.extend(matching.filter(|k| glob::matches(&pattern, k.as_bytes())));
        if page.next == 0 {
            return reply::array(found.into_iter().map(reply::bulk).collect());
        }
        cursor = page.next;
    }
}

/// `RANDOMKEY`: the first key at or after a random point of the ring (nil if there is none).
async fn random_key(gateway: Gateway) -> Frame {
    let from = crate::ring::key_token(&random_seed());
    for start in [from, 0] {
        match page(&gateway, start, 1).await {
            Ok(page) => {
                if let Some((key, _)) = page.keys.into_iter().next() {
                    return reply::bulk(key);
                }
            }
            Err(frame) => return frame,
        }
    }
    reply::nil()
}

/// Bytes that differ at every call (the time and a counter), hashed into a random token.
fn random_seed() -> [u8; 24] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 24];
    seed[..16].copy_from_slice(&nanos.to_le_bytes());
    seed[16..].copy_from_slice(&CALLS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    seed
}

/// `OBJECT ENCODING key`: `int` for a counter, nil for a missing key.
fn object(spec: &'static Spec, args: &[Bytes]) -> Plan {
    match super::admin::sub(spec, args) {
        Err(frame) => Plan::Reply(frame),
        Ok(_) => read_key(&args[1], |value| match value {
            None => reply::nil(),
            Some(_) => reply::bulk_str("int"),
        }),
    }
}

/// `FLUSHALL`/`FLUSHDB [ASYNC|SYNC]`: deletes every key of the cluster (one database, so both
/// are the same), done before the reply either way. Each key is deleted as `DEL` deletes it, so
/// its tombstone reaches a replica that was down (hints, anti-entropy) and its old copies do not
/// come back; refused while W or more nodes are down ([`FlushReady`]).
fn flush(args: &[Bytes]) -> Plan {
    if !flush_mode_ok(args) {
        return Plan::Reply(reply::syntax());
    }
    task::plan(|gateway, order, _| async move {
        match gateway.router().send(FlushReady).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return reply::err(&e.to_string()),
            Err(_) => return task::router_gone(),
        }
        flush_all(&gateway, &order)
            .await
            .map_or_else(|e| e, |()| reply::ok())
    })
}

/// Deletes the ring's keys a page at a time, [`FLUSH_BATCH`] deletes in flight at once.
async fn flush_all(gateway: &Gateway, order: &Order) -> Result<(), Frame> {
    let mut cursor = 0;
    loop {
        let page = page(gateway, cursor, FLUSH_PAGE).await?;
        let keys: Vec<String> = page.keys.into_iter().map(|(k, _)| k).collect();
        for batch in keys.chunks(FLUSH_BATCH) {
            let deletes = batch.iter().map(|key| Request::Delete { key: key.clone() });
            for response in task::start_all(gateway, order, deletes).await {
                if !matches!(response, Response::Deleted { .. }) {
                    return Err(super::commands::error_of(Some(response)));
                }
            }
        }
        if page.next == 0 {
            return Ok(());
        }
        cursor = page.next;
    }
}

fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args {
        [] => true,
        [mode] => mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync"),
        _ => false,
    }
}

/// `FUNCTION FLUSH [ASYNC|SYNC]` (ringkv has no functions: `OK`) and `FUNCTION LIST` (empty).
fn function(spec: &'static Spec, args: &[Bytes]) -> Plan {
    let sub = match super::admin::sub(spec, args) {
        Ok(sub) => sub,
        Err(frame) => return Plan::Reply(frame),
    };
    Plan::Reply(match sub.name {
        "function|flush" if flush_mode_ok(&args[1..]) => reply::ok(),
        "function|flush" => reply::syntax(),
        _ => reply::array(Vec::new()),
    })
}
