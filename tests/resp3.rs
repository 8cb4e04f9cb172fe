//! RESP3 after `HELLO 3`, byte for byte as Redis 7.0.15 answers (checked against redis-server
//! 7.0.15; the differences are in docs/RESP.md), back to RESP2 with `HELLO 2`, the AUTH error
//! texts, and the `redis` crate speaking RESP3 (`?protocol=resp3`).

use crate::support::resp_server;

use std::collections::HashMap;
use std::net::TcpStream;

use redis::Value;
use resp_server::{exchange, Server};

/// The request `words` in RESP (an array of bulk strings).
fn request(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// Sends the command written as `line` (words split on spaces) and checks the exact reply.
fn check(stream: &mut TcpStream, line: &str, expected: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    exchange(stream, &request(&words), expected);
}

/// HELLO's server map with `proto` and client `id`, as Redis 7 sends it (`kind`: `%7` or `*14`).
fn hello_reply(kind: &str, proto: u8, id: u64) -> String {
    format!(
        "{kind}\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n\
         $5\r\nproto\r\n:{proto}\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    )
}

/// The client id of a raw connection (CLIENT ID answers `:n` in both protocols).
fn client_id(stream: &mut TcpStream) -> u64 {
    use std::io::{Read, Write};
    stream.write_all(&request(&["CLIENT", "ID"])).unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.trim().trim_start_matches(':').parse().expect("an id")
}

#[test]
fn hello_3_answers_a_map_and_nulls_become_underscore() {
    let server = Server::start();
    let mut s = server.raw();
    let id = client_id(&mut s);
    check(&mut s, "HELLO 3", &hello_reply("%7", 3, id));
    check(&mut s, "GET nothing", "_\r\n");
    check(&mut s, "INCR a", ":1\r\n");
    check(&mut s, "GET a", "$1\r\n1\r\n");
    check(&mut s, "MGET a nothing", "*2\r\n$1\r\n1\r\n_\r\n");
    check(&mut s, "CLIENT GETNAME", "_\r\n");
    check(&mut s, "COMMAND INFO nosuch", "*1\r\n_\r\n");
    check(&mut s, "CONFIG GET save", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
    check(&mut s, "CONFIG GET nosuch", "%0\r\n");
    check(&mut s, "HELLO", &hello_reply("%7", 3, id));
    check(&mut s, "HELLO 2", &hello_reply("*14", 2, id));
    check(&mut s, "GET nothing", "$-1\r\n");
    check(&mut s, "CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
}

#[test]
fn info_and_client_info_are_verbatim_strings_in_resp3() {
    use std::io::{Read, Write};
    let server = Server::start();
    let mut s = server.raw();
    let id = client_id(&mut s);
    check(&mut s, "HELLO 3", &hello_reply("%7", 3, id));
    for (words, within) in [
        (&["INFO", "server"][..], "redis_version:7.0.0"),
        (&["CLIENT", "INFO"][..], " resp=3 "),
    ] {
        s.write_all(&request(words)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while !got.ends_with(b"\r\n") || got.len() < 16 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        let (len, body) = text.split_once("\r\n").expect("a length line");
        assert!(len.starts_with('='), "{words:?}: {text}");
        assert!(body.starts_with("txt:") && body.contains(within), "{text}");
        let len: usize = len[1..].parse().unwrap();
        assert_eq!(len + 2, body.len(), "the length counts txt: and the text");
    }
}

#[test]
fn hello_errors_and_auth_read_like_redis_7() {
    let server = Server::start();
    let mut s = server.raw();
    let id = client_id(&mut s);
    for (line, reply) in [
        ("HELLO 4", "-NOPROTO unsupported protocol version\r\n"),
        ("HELLO 1", "-NOPROTO unsupported protocol version\r\n"),
        (
            "HELLO x",
            "-ERR Protocol version is not an integer or out of range\r\n",
        ),
        (
            "HELLO 3 AUTH default",
            "-ERR Syntax error in HELLO option 'AUTH'\r\n",
        ),
        (
            "HELLO 3 SetName",
            "-ERR Syntax error in HELLO option 'SetName'\r\n",
        ),
        (
            "HELLO 3 setname a b",
            "-ERR Syntax error in HELLO option 'b'\r\n",
        ),
        (
            "HELLO 3 AUTH nobody x",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        ),
        (
            "AUTH x",
            "-ERR AUTH <password> called without any password configured for the default \
             user. Are you sure your configuration is correct?\r\n",
        ),
        (
            "AUTH nobody x",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        ),
        ("AUTH a b c", "-ERR syntax error\r\n"),
        // Redis's default user is `nopass`: any password is accepted.
        ("AUTH default x", "+OK\r\n"),
        // The failed HELLOs left the connection in RESP2.
        ("GET nothing", "$-1\r\n"),
    ] {
        check(&mut s, line, reply);
    }
    check(
        &mut s,
        "HELLO 3 AUTH default x SETNAME me",
        &hello_reply("%7", 3, id),
    );
    check(&mut s, "CLIENT GETNAME", "$2\r\nme\r\n");
}

#[test]
fn pipelined_replies_keep_the_protocol_of_their_request() {
    let server = Server::start();
    let mut s = server.raw();
    let id = client_id(&mut s);
    let mut input = request(&["GET", "nothing"]);
    input.extend(request(&["HELLO", "3"]));
    input.extend(request(&["GET", "nothing"]));
    input.extend(request(&["HELLO", "2"]));
    input.extend(request(&["GET", "nothing"]));
    let expected = format!(
        "$-1\r\n{}_\r\n{}$-1\r\n",
        hello_reply("%7", 3, id),
        hello_reply("*14", 2, id)
    );
    exchange(&mut s, &input, &expected);
}

#[test]
fn the_redis_crate_speaks_resp3() {
    let server = Server::start();
    let mut con = server.connect_with("?protocol=resp3");
    let n: i64 = redis::cmd("INCR").arg("a").query(&mut con).unwrap();
    assert_eq!(n, 1);
    let hello: Value = redis::cmd("HELLO").query(&mut con).unwrap();
    let Value::Map(pairs) = hello else {
        panic!("HELLO must answer a map in RESP3: {hello:?}");
    };
    let proto = pairs
        .iter()
        .find(|(k, _)| *k == Value::BulkString(b"proto".to_vec()));
    assert_eq!(proto.map(|(_, v)| v), Some(&Value::Int(3)));
    let (a, b, c): (i64, i64, Option<u64>) = redis::pipe()
        .cmd("INCR")
        .arg("a")
        .cmd("INCRBY")
        .arg("b")
        .arg(5)
        .cmd("GET")
        .arg("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b, c), (2, 5, None));
    let raw: Value = redis::cmd("GET").arg("missing").query(&mut con).unwrap();
    assert_eq!(raw, Value::Nil);
    let values: Vec<Option<u64>> = redis::cmd("MGET")
        .arg(&["a", "missing", "b"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, [Some(2), None, Some(5)]);
    let config: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    assert_eq!(config.get("port"), Some(&server.port.to_string()));
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.contains("redis_version:"), "{info}");
}
