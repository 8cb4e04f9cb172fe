//! The keyspace commands over RESP: SCAN (every key once, MATCH, COUNT, TYPE, bad arguments),
//! KEYS, RANDOMKEY, TYPE, OBJECT ENCODING, FLUSHALL/FLUSHDB, FUNCTION FLUSH and SELECT, with
//! Redis's replies and error texts.

use crate::support::resp_server;

use std::collections::HashSet;

use resp_server::{exchange, Server};

fn scan_all(con: &mut redis::Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let (mut cursor, mut seen, mut pages) = (0u64, Vec::new(), 0);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg(extra)
            .query(con)
            .expect("SCAN");
        seen.extend(keys);
        pages += 1;
        assert!(pages < 100_000, "SCAN does not end");
        if next == 0 {
            return (seen, pages);
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_every_key_once() {
    let server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("INCR").arg(format!("key:{i}")).ignore();
    }
    pipe.query::<()>(&mut con).expect("10,000 INCRs");
    let (seen, pages) = scan_all(&mut con, &[]);
    assert_eq!(seen.len(), 10_000, "each key once");
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 10_000);
    assert!(pages > 100, "COUNT 10 by default: {pages} pages");
    let (big, pages) = scan_all(&mut con, &["COUNT", "1000"]);
    assert_eq!(big.len(), 10_000);
    assert!(pages < 100, "{pages} pages of about 1000");
    let (matched, _) = scan_all(&mut con, &["MATCH", "key:1?", "COUNT", "500"]);
    let mut matched: Vec<String> = matched;
    matched.sort();
    let want: Vec<String> = (10..20).map(|i| format!("key:{i}")).collect();
    assert_eq!(matched, want);
    assert_eq!(
        scan_all(&mut con, &["TYPE", "string", "COUNT", "5000"])
            .0
            .len(),
        10_000
    );
    assert!(scan_all(&mut con, &["TYPE", "hash", "COUNT", "5000"])
        .0
        .is_empty());
    let keys: Vec<String> = redis::cmd("KEYS").arg("key:99*").query(&mut con).unwrap();
    assert_eq!(keys.len(), 111, "key:99, key:990..999 and key:9900..9999");
    let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert_eq!(all.len(), 10_000);
}

#[test]
fn scan_and_keys_errors_read_like_redis() {
    let server = Server::start();
    let mut s = server.raw();
    exchange(&mut s, b"SCAN x\r\n", "-ERR invalid cursor\r\n");
    exchange(&mut s, b"SCAN 0 COUNT 0\r\n", "-ERR syntax error\r\n");
    exchange(
        &mut s,
        b"SCAN 0 COUNT x\r\n",
        "-ERR value is not an integer or out of range\r\n",
    );
    exchange(&mut s, b"SCAN 0 NOPE 1\r\n", "-ERR syntax error\r\n");
    exchange(&mut s, b"SCAN 0 MATCH\r\n", "-ERR syntax error\r\n");
    exchange(&mut s, b"SCAN 0\r\n", "*2\r\n$1\r\n0\r\n*0\r\n");
    exchange(&mut s, b"KEYS *\r\n", "*0\r\n");
    exchange(&mut s, b"RANDOMKEY\r\n", "$-1\r\n");
    exchange(
        &mut s,
        b"KEYS\r\n",
        "-ERR wrong number of arguments for 'keys' command\r\n",
    );
}

#[test]
fn type_object_randomkey_flush_function_select() {
    let server = Server::start();
    let mut s = server.raw();
    exchange(&mut s, b"INCRBY c 5\r\n", ":5\r\n");
    exchange(&mut s, b"TYPE c\r\n", "+string\r\n");
    exchange(&mut s, b"TYPE nope\r\n", "+none\r\n");
    exchange(&mut s, b"OBJECT ENCODING c\r\n", "$3\r\nint\r\n");
    exchange(&mut s, b"OBJECT ENCODING nope\r\n", "$-1\r\n");
    exchange(
        &mut s,
        b"OBJECT FOO c\r\n",
        "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
    );
    exchange(&mut s, b"RANDOMKEY\r\n", "$1\r\nc\r\n");
    exchange(&mut s, b"SELECT 0\r\n", "+OK\r\n");
    exchange(
        &mut s,
        b"SELECT 9\r\n",
        "-ERR SELECT is not allowed in cluster mode\r\n",
    );
    exchange(&mut s, b"FUNCTION FLUSH\r\n", "+OK\r\n");
    exchange(&mut s, b"FUNCTION FLUSH ASYNC\r\n", "+OK\r\n");
    exchange(&mut s, b"FLUSHALL NOPE\r\n", "-ERR syntax error\r\n");
    exchange(&mut s, b"FLUSHALL\r\n", "+OK\r\n");
    exchange(&mut s, b"GET c\r\n", "$-1\r\n");
    exchange(&mut s, b"DBSIZE\r\n", ":0\r\n");
    exchange(&mut s, b"INCR c\r\nFLUSHDB ASYNC\r\n", ":1\r\n+OK\r\n");
    exchange(&mut s, b"EXISTS c\r\nINCR c\r\n", ":0\r\n:1\r\n");
}
