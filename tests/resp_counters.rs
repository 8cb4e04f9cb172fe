//! Signed counters on the Redis port, with the `redis` crate: DECR, DECRBY, negative INCRBY,
//! existence of keys written with 0, and the overflow cases of Redis's `tests/unit/type/incr.tcl`.

use crate::support::resp_server;

use redis::{Connection, Value};
use resp_server::{int, run, Server};

fn get(con: &mut Connection, key: &str) -> Option<String> {
    run(con, &["GET", key]).unwrap()
}

fn error(con: &mut Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

#[test]
fn decr_decrby_and_negative_incrby_count_down() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["DECR", "novar"]), -1);
    assert_eq!(int(&mut con, &["DECR", "novar"]), -2);
    assert_eq!(int(&mut con, &["INCR", "novar"]), -1);
    assert_eq!(int(&mut con, &["DECRBY", "novar", "10"]), -11);
    assert_eq!(int(&mut con, &["INCRBY", "novar", "-4"]), -15);
    assert_eq!(int(&mut con, &["DECRBY", "novar", "-20"]), 5);
    assert_eq!(get(&mut con, "novar").as_deref(), Some("5"));
    assert_eq!(int(&mut con, &["DECRBY", "novar", "5"]), 0);
    assert_eq!(
        get(&mut con, "novar").as_deref(),
        Some("0"),
        "a counter at 0 exists"
    );
    assert_eq!(int(&mut con, &["EXISTS", "novar"]), 1);
    let all: Vec<Option<i64>> = run(&mut con, &["MGET", "novar", "nokey"]).unwrap();
    assert_eq!(all, [Some(0), None]);
}

#[test]
fn a_key_written_with_zero_exists() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(get(&mut con, "k"), None);
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(int(&mut con, &["INCRBY", "k", "0"]), 0);
    assert_eq!(get(&mut con, "k").as_deref(), Some("0"));
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 1);
    assert_eq!(int(&mut con, &["DBSIZE"]), 1);
    assert_eq!(int(&mut con, &["DECRBY", "j", "0"]), 0);
    assert_eq!(int(&mut con, &["DBSIZE"]), 2);
}

/// `incr.tcl`: "INCR over 32bit value", "INCRBY over 32bit value with over 32bit increment",
/// "DECRBY over 32bit value with over 32bit increment, negative res" (the values are set with
/// INCRBY here: SET is not a counter command yet).
#[test]
fn over_32_bit_values() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "a", "17179869184"]), 17179869184);
    assert_eq!(int(&mut con, &["INCR", "a"]), 17179869185);
    assert_eq!(int(&mut con, &["INCRBY", "b", "17179869184"]), 17179869184);
    assert_eq!(int(&mut con, &["INCRBY", "b", "17179869184"]), 34359738368);
    assert_eq!(int(&mut con, &["INCRBY", "c", "17179869184"]), 17179869184);
    assert_eq!(int(&mut con, &["DECRBY", "c", "17179869185"]), -1);
    assert_eq!(get(&mut con, "c").as_deref(), Some("-1"));
}

/// `incr.tcl`: "DECRBY negation overflow", and increments past either end of `i64`: an error,
/// and the value stays.
#[test]
fn overflow_is_refused_and_leaves_the_value() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "x", "0"]), 0);
    let e = error(&mut con, &["DECRBY", "x", "-9223372036854775808"]);
    assert_eq!(e, "ERR decrement would overflow");
    assert_eq!(get(&mut con, "x").as_deref(), Some("0"));

    let max = i64::MAX.to_string();
    assert_eq!(int(&mut con, &["INCRBY", "top", &max]), i64::MAX);
    let e = error(&mut con, &["INCR", "top"]);
    assert_eq!(e, "ERR increment or decrement would overflow");
    assert_eq!(get(&mut con, "top"), Some(max.clone()));
    let e = error(&mut con, &["INCRBY", "top", "1"]);
    assert_eq!(e, "ERR increment or decrement would overflow");
    assert_eq!(int(&mut con, &["DECR", "top"]), i64::MAX - 1);

    let min = i64::MIN.to_string();
    assert_eq!(int(&mut con, &["INCRBY", "low", &min]), i64::MIN);
    let e = error(&mut con, &["DECR", "low"]);
    assert_eq!(e, "ERR increment or decrement would overflow");
    let e = error(&mut con, &["DECRBY", "low", &max]);
    assert_eq!(e, "ERR increment or decrement would overflow");
    assert_eq!(get(&mut con, "low"), Some(min));
    let e = error(&mut con, &["INCRBY", "low", "9223372036854775808"]);
    assert_eq!(e, "ERR value is not an integer or out of range");
}
