//! Expiring counters on the Redis port, with the `redis` crate: EXPIRE, PEXPIRE, EXPIREAT,
//! PEXPIREAT (NX, XX, GT, LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, SET with EX, PX, EXAT,
//! PXAT and KEEPTTL, SETEX, PSETEX and GETEX, with Redis 7's replies and error texts; a key that
//! expired reads as missing and counts again from 0; INFO's `expires`.

use crate::support::resp_server;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{Connection, Value};
use resp_server::{int, run, Server};

fn text(con: &mut Connection, words: &[&str]) -> Option<String> {
    run(con, words).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn error(con: &mut Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits (at most 5 s) until `key` reads as missing.
fn wait_gone(con: &mut Connection, key: &str) {
    let start = Instant::now();
    while text(con, &["GET", key]).is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{key} never expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn expire_ttl_and_persist_answer_as_redis() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["TTL", "missing"]), -2);
    assert_eq!(int(&mut con, &["PTTL", "missing"]), -2);
    assert_eq!(int(&mut con, &["EXPIRE", "missing", "10"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "missing"]), 0);
    assert_eq!(int(&mut con, &["INCR", "k"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 0, "no deadline to remove");
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), 100);
    let pttl = int(&mut con, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(int(&mut con, &["INCR", "k"]), 2, "INCR keeps the TTL");
    assert_eq!(int(&mut con, &["TTL", "k"]), 100);
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "50000"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), 50);
    let at = now_ms() / 1000 + 500;
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"]), at);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), at * 1000);
    let pat = now_ms() + 70_000;
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &pat.to_string()]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), pat);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"]), -1);
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("2"));
}

#[test]
fn a_zero_or_negative_expire_deletes_and_incr_starts_from_zero() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "a", "5"]), 5);
    assert_eq!(int(&mut con, &["EXPIRE", "a", "0"]), 1);
    assert_eq!(text(&mut con, &["GET", "a"]), None);
    assert_eq!(int(&mut con, &["EXISTS", "a"]), 0);
    assert_eq!(int(&mut con, &["TTL", "a"]), -2);
    assert_eq!(int(&mut con, &["INCR", "a"]), 1, "a new life from 0");
    assert_eq!(int(&mut con, &["TTL", "a"]), -1, "without the old TTL");
    assert_eq!(int(&mut con, &["INCRBY", "b", "3"]), 3);
    assert_eq!(int(&mut con, &["PEXPIRE", "b", "-100"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "b"]), 0);
    assert_eq!(int(&mut con, &["INCR", "c"]), 1);
    assert_eq!(int(&mut con, &["EXPIREAT", "c", "1"]), 1);
    assert_eq!(text(&mut con, &["GET", "c"]), None);
}

#[test]
fn a_key_expires_by_the_clock_and_counts_again_from_zero() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "r", "7"]), 7);
    assert_eq!(int(&mut con, &["PEXPIRE", "r", "150"]), 1);
    assert_eq!(text(&mut con, &["GET", "r"]).as_deref(), Some("7"));
    wait_gone(&mut con, "r");
    assert_eq!(int(&mut con, &["TTL", "r"]), -2);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert_eq!(
        int(&mut con, &["INCR", "r"]),
        1,
        "INCR after expiry starts at 0"
    );
    assert_eq!(int(&mut con, &["TTL", "r"]), -1);
    // The rate limiter: INCR, then EXPIRE.
    assert_eq!(int(&mut con, &["INCR", "rl"]), 1);
    assert_eq!(int(&mut con, &["PEXPIRE", "rl", "200"]), 1);
    assert_eq!(int(&mut con, &["INCR", "rl"]), 2);
    wait_gone(&mut con, "rl");
    assert_eq!(int(&mut con, &["INCR", "rl"]), 1);
}

#[test]
fn expire_conditions_nx_xx_gt_lt() {
    let server = Server::start();
    let mut con = server.connect();
    int(&mut con, &["INCR", "k"]);
    assert_eq!(
        int(&mut con, &["EXPIRE", "k", "100", "XX"]),
        0,
        "no TTL yet"
    );
    assert_eq!(
        int(&mut con, &["EXPIRE", "k", "100", "GT"]),
        0,
        "none is infinite"
    );
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "XX"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "300", "GT"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "50", "lt"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "60", "XX", "GT"]), 1);
    assert_eq!(int(&mut con, &["TTL", "k"]), 60);
    int(&mut con, &["PERSIST", "k"]);
    assert_eq!(
        int(&mut con, &["EXPIRE", "k", "10", "LT"]),
        1,
        "less than infinite"
    );
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    assert_eq!(error(&mut con, &["EXPIRE", "k", "10", "NX", "XX"]), nx);
    assert_eq!(error(&mut con, &["EXPIRE", "k", "10", "NX", "GT"]), nx);
    assert_eq!(
        error(&mut con, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "k", "10", "YY"]),
        "ERR Unsupported option YY"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "k", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        error(&mut con, &["PEXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "k"]),
        "ERR wrong number of arguments for 'expire' command"
    );
    assert_eq!(
        error(&mut con, &["TTL"]),
        "ERR wrong number of arguments for 'ttl' command"
    );
    assert_eq!(
        int(&mut con, &["TTL", "k"]),
        10,
        "the errors changed nothing"
    );
}

#[test]
fn set_with_expiry_options_and_keepttl() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(
        text(&mut con, &["SET", "s", "5", "EX", "100"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "s"]), 100);
    assert_eq!(int(&mut con, &["INCR", "s"]), 6, "INCR keeps the TTL");
    assert_eq!(int(&mut con, &["TTL", "s"]), 100);
    assert_eq!(
        text(&mut con, &["SET", "s", "1", "KEEPTTL"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "s"]), 100);
    assert_eq!(text(&mut con, &["SET", "s", "2"]).as_deref(), Some("OK"));
    assert_eq!(
        int(&mut con, &["TTL", "s"]),
        -1,
        "SET without KEEPTTL clears it"
    );
    assert_eq!(
        text(&mut con, &["SET", "s", "3", "PX", "20000"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "s"]), 20);
    let at = (now_ms() / 1000 + 300).to_string();
    assert_eq!(
        text(&mut con, &["SET", "s", "4", "EXAT", &at]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["EXPIRETIME", "s"]).to_string(), at);
    let pat = (now_ms() + 300_000).to_string();
    assert_eq!(
        text(&mut con, &["SET", "s", "9", "PXAT", &pat, "GET"]).as_deref(),
        Some("4")
    );
    assert_eq!(int(&mut con, &["PEXPIRETIME", "s"]).to_string(), pat);
    assert_eq!(text(&mut con, &["SET", "n", "1", "XX", "EX", "10"]), None);
    assert_eq!(int(&mut con, &["TTL", "n"]), -2);
    assert_eq!(
        text(&mut con, &["SET", "n", "1", "NX", "EX", "10"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "n"]), 10);
    assert_eq!(text(&mut con, &["DEL", "n"]), Some("1".into()));
    assert_eq!(int(&mut con, &["INCR", "n"]), 1);
    assert_eq!(
        int(&mut con, &["TTL", "n"]),
        -1,
        "DEL removed the deadline too"
    );
    let invalid = |c: &str| format!("ERR invalid expire time in '{c}' command");
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "EX", "0"]),
        invalid("set")
    );
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "PX", "-5"]),
        invalid("set")
    );
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "EX", "9223372036854775807"]),
        invalid("set")
    );
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "EX", "10", "KEEPTTL"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "EX", "10", "PX", "10"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SET", "s", "1", "EX", "ten"]),
        "ERR value is not an integer or out of range"
    );
    // SETEX and PSETEX.
    assert_eq!(
        text(&mut con, &["SETEX", "x", "30", "8"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "x"]), 30);
    assert_eq!(text(&mut con, &["GET", "x"]).as_deref(), Some("8"));
    assert_eq!(
        text(&mut con, &["PSETEX", "x", "40000", "9"]).as_deref(),
        Some("OK")
    );
    assert_eq!(int(&mut con, &["TTL", "x"]), 40);
    assert_eq!(error(&mut con, &["SETEX", "x", "0", "1"]), invalid("setex"));
    assert_eq!(
        error(&mut con, &["PSETEX", "x", "-1", "1"]),
        invalid("psetex")
    );
    assert_eq!(
        error(&mut con, &["SETEX", "x", "10", "a"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn getex_reads_and_changes_the_deadline() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(text(&mut con, &["GETEX", "g"]), None);
    assert_eq!(text(&mut con, &["GETEX", "g", "EX", "10"]), None);
    assert_eq!(int(&mut con, &["TTL", "g"]), -2, "nothing was created");
    int(&mut con, &["INCRBY", "g", "4"]);
    assert_eq!(text(&mut con, &["GETEX", "g"]).as_deref(), Some("4"));
    assert_eq!(int(&mut con, &["TTL", "g"]), -1);
    assert_eq!(
        text(&mut con, &["GETEX", "g", "EX", "100"]).as_deref(),
        Some("4")
    );
    assert_eq!(int(&mut con, &["TTL", "g"]), 100);
    assert_eq!(
        text(&mut con, &["GETEX", "g", "PX", "50000"]).as_deref(),
        Some("4")
    );
    assert_eq!(int(&mut con, &["TTL", "g"]), 50);
    assert_eq!(
        text(&mut con, &["GETEX", "g", "PERSIST"]).as_deref(),
        Some("4")
    );
    assert_eq!(int(&mut con, &["TTL", "g"]), -1);
    let at = (now_ms() / 1000 + 90).to_string();
    assert_eq!(
        text(&mut con, &["GETEX", "g", "EXAT", &at]).as_deref(),
        Some("4")
    );
    // EXAT is whole seconds: the deadline is 89 to 90 s away, and TTL rounds.
    let ttl = int(&mut con, &["TTL", "g"]);
    assert!((89..=90).contains(&ttl), "TTL {ttl}");
    assert_eq!(
        text(&mut con, &["GETEX", "g", "PXAT", "1"]).as_deref(),
        Some("4")
    );
    assert_eq!(
        text(&mut con, &["GET", "g"]),
        None,
        "a deadline passed deletes"
    );
    let invalid = "ERR invalid expire time in 'getex' command";
    assert_eq!(error(&mut con, &["GETEX", "g", "EX", "0"]), invalid);
    assert_eq!(error(&mut con, &["GETEX", "g", "EX", "-3"]), invalid);
    assert_eq!(error(&mut con, &["GETEX", "g", "EX"]), "ERR syntax error");
    assert_eq!(
        error(&mut con, &["GETEX", "g", "PERSIST", "EX", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["GETEX", "g", "FOO", "1"]),
        "ERR syntax error"
    );
}

#[test]
fn info_keyspace_counts_the_keys_with_a_deadline() {
    let server = Server::start();
    let mut con = server.connect();
    for key in ["a", "b", "c"] {
        int(&mut con, &["INCR", key]);
    }
    int(&mut con, &["EXPIRE", "a", "100"]);
    int(&mut con, &["EXPIRE", "b", "100"]);
    int(&mut con, &["PEXPIRE", "b", "50000"]);
    let info: String = run(&mut con, &["INFO", "keyspace"]).unwrap();
    assert!(info.contains("db0:keys=3,expires=2,avg_ttl="), "{info}");
    // Redis gives the average time to live of the keys with one, in milliseconds: (100 s + 50 s) / 2.
    let avg: u64 = info
        .split("avg_ttl=")
        .nth(1)
        .and_then(|rest| rest.trim_end().parse().ok())
        .expect("a number");
    assert!((70_000..=75_000).contains(&avg), "avg_ttl={avg}");
}

#[test]
fn expire_lt_xx_needs_a_ttl_as_in_redis() {
    // Redis's unit/expire "EXPIRE with LT and XX option on a key without ttl".
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "k", "3"]), 3);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "LT", "XX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "XX", "LT"]), 0);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "LT"]), 1, "LT alone");
    assert_eq!(int(&mut con, &["EXPIRE", "k", "300", "LT", "XX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "LT", "XX"]), 1);
    assert!((99..=100).contains(&int(&mut con, &["TTL", "k"])));
}
