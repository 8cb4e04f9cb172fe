//! Reset and delete on the Redis port, with the `redis` crate: DEL, UNLINK, SET (integers, NX, XX,
//! GET, KEEPTTL; expiry in tests/resp_expire.rs), GETSET and GETDEL, their Redis 7 replies and errors, and a deleted
//! key leaving EXISTS, DBSIZE, KEYS and SCAN.

use crate::support::resp_server;

use redis::{Connection, Value};
use resp_server::{int, run, Server};

fn text(con: &mut Connection, words: &[&str]) -> Option<String> {
    run(con, words).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn error(con: &mut Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

#[test]
fn del_and_unlink_count_the_keys_that_existed() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(int(&mut con, &["INCRBY", "a", "5"]), 5);
    assert_eq!(int(&mut con, &["INCRBY", "b", "0"]), 0);
    assert_eq!(int(&mut con, &["DEL", "a", "b", "nokey", "a"]), 2);
    assert_eq!(text(&mut con, &["GET", "a"]), None);
    assert_eq!(text(&mut con, &["GET", "b"]), None);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b"]), 0);
    assert_eq!(int(&mut con, &["DEL", "a"]), 0, "already deleted");
    assert_eq!(int(&mut con, &["INCR", "a"]), 1, "counts again from 0");
    assert_eq!(int(&mut con, &["UNLINK", "a", "x"]), 1);
    assert_eq!(int(&mut con, &["INCRBY", "a", "0"]), 0);
    assert_eq!(text(&mut con, &["GET", "a"]).as_deref(), Some("0"));
    assert_eq!(
        int(&mut con, &["EXISTS", "a"]),
        1,
        "an update by 0 brings it back"
    );
}

#[test]
fn a_deleted_key_leaves_dbsize_keys_and_scan() {
    let server = Server::start();
    let mut con = server.connect();
    for key in ["k1", "k2", "k3"] {
        int(&mut con, &["INCR", key]);
    }
    assert_eq!(int(&mut con, &["DBSIZE"]), 3);
    assert_eq!(int(&mut con, &["DEL", "k2"]), 1);
    assert_eq!(int(&mut con, &["DBSIZE"]), 2);
    let mut keys: Vec<String> = run(&mut con, &["KEYS", "*"]).unwrap();
    keys.sort();
    assert_eq!(keys, ["k1", "k3"]);
    let (cursor, mut scanned): (String, Vec<String>) =
        run(&mut con, &["SCAN", "0", "COUNT", "100"]).unwrap();
    scanned.sort();
    assert_eq!(
        (cursor.as_str(), scanned),
        ("0", vec!["k1".into(), "k3".into()])
    );
}

#[test]
fn set_writes_an_integer_with_nx_xx_and_get() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(text(&mut con, &["SET", "k", "10"]).as_deref(), Some("OK"));
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("10"));
    assert_eq!(int(&mut con, &["INCR", "k"]), 11);
    assert_eq!(text(&mut con, &["SET", "k", "-3"]).as_deref(), Some("OK"));
    assert_eq!(int(&mut con, &["INCRBY", "k", "2"]), -1);
    assert_eq!(text(&mut con, &["SET", "k", "7", "NX"]), None, "exists");
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("-1"));
    assert_eq!(
        text(&mut con, &["SET", "n", "7", "XX"]),
        None,
        "does not exist"
    );
    assert_eq!(int(&mut con, &["EXISTS", "n"]), 0);
    assert_eq!(
        text(&mut con, &["SET", "n", "7", "nx"]).as_deref(),
        Some("OK")
    );
    assert_eq!(
        text(&mut con, &["SET", "n", "8", "XX", "GET"]).as_deref(),
        Some("7")
    );
    assert_eq!(text(&mut con, &["SET", "m", "1", "GET"]), None);
    assert_eq!(
        text(&mut con, &["SET", "m", "2", "NX", "GET"]).as_deref(),
        Some("1")
    );
    assert_eq!(text(&mut con, &["GET", "m"]).as_deref(), Some("1"));
    assert_eq!(
        text(&mut con, &["SET", "m", "0", "KEEPTTL"]).as_deref(),
        Some("OK")
    );
    assert_eq!(text(&mut con, &["GET", "m"]).as_deref(), Some("0"));
    let max = i64::MAX.to_string();
    assert_eq!(text(&mut con, &["SET", "big", &max]).as_deref(), Some("OK"));
    assert_eq!(
        error(&mut con, &["INCR", "big"]),
        "ERR increment or decrement would overflow"
    );
}

#[test]
fn getset_and_getdel_answer_the_value_before() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(text(&mut con, &["GETSET", "g", "4"]), None);
    assert_eq!(text(&mut con, &["GETSET", "g", "9"]).as_deref(), Some("4"));
    assert_eq!(text(&mut con, &["GETDEL", "g"]).as_deref(), Some("9"));
    assert_eq!(text(&mut con, &["GETDEL", "g"]), None);
    assert_eq!(text(&mut con, &["GET", "g"]), None);
}

#[test]
fn set_and_friends_refuse_what_redis_refuses() {
    let server = Server::start();
    let mut con = server.connect();
    let not_integer = "ERR value is not an integer or out of range";
    assert_eq!(error(&mut con, &["SET", "k", "abc"]), not_integer);
    assert_eq!(error(&mut con, &["SET", "k", "1.5"]), not_integer);
    assert_eq!(
        error(&mut con, &["SET", "k", "99999999999999999999"]),
        not_integer
    );
    assert_eq!(error(&mut con, &["GETSET", "k", "x"]), not_integer);
    assert_eq!(
        error(&mut con, &["SET", "k", "1", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SET", "k", "1", "WHAT"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SET", "k", "1", "PX"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SET", "k", "1", "EX", "-1"]),
        "ERR invalid expire time in 'set' command"
    );
    let arity = |c: &str| format!("ERR wrong number of arguments for '{c}' command");
    assert_eq!(error(&mut con, &["SET", "k"]), arity("set"));
    assert_eq!(error(&mut con, &["GETSET", "k"]), arity("getset"));
    assert_eq!(error(&mut con, &["GETDEL"]), arity("getdel"));
    assert_eq!(error(&mut con, &["UNLINK"]), arity("unlink"));
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0, "nothing was written");
}
