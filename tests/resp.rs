//! The RESP2 front door over real sockets: the `redis` crate as a client for every command,
//! pipelining, raw hostile bytes, and redis-cli / redis-benchmark when they are installed.
//! RESP3 is in `resp3.rs`, big MGETs in `resp_fanout.rs`, redis-py in `redis_py.rs`.

use crate::support::resp_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use redis::{Connection, Value};
use resp_server::{exchange, run, Server};
use ringkv::resp::RespLimits;

/// Runs a command written as one line of words separated by spaces; it must succeed.
fn q<T: redis::FromRedisValue>(con: &mut Connection, line: &str) -> T {
    let words: Vec<&str> = line.split_whitespace().collect();
    run(con, &words).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// The error text of a command that must fail: `CODE detail`.
fn error(con: &mut Connection, words: &[&str]) -> String {
    let e = run::<Value>(con, words).expect_err(&format!("{words:?} must fail"));
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = stream.read(&mut buf);
    assert!(matches!(read, Ok(0)), "the server must close: {read:?}");
}

#[test]
fn counters_incr_get_mget_exists_dbsize() {
    let server = Server::start();
    let mut con = server.connect();
    for (line, want) in [
        ("INCR a", 1),
        ("incr a", 2),
        ("INCRBY a 40", 42),
        ("INCRBY b 7", 7),
        ("INCRBY zero 0", 0),
        ("EXISTS a b a missing", 3),
        ("EXISTS zero", 1),
        ("DBSIZE", 3),
    ] {
        assert_eq!(q::<i64>(&mut con, line), want, "{line}");
    }
    assert_eq!(
        q::<Option<String>>(&mut con, "GET a").as_deref(),
        Some("42")
    );
    assert_eq!(q::<Option<String>>(&mut con, "GET missing"), None);
    assert_eq!(
        q::<Option<String>>(&mut con, "GET zero").as_deref(),
        Some("0")
    );
    let all: Vec<Option<u64>> = run(&mut con, &["MGET", "a", "missing", "b", ""]).unwrap();
    assert_eq!(all, [Some(42), None, Some(7), None]);
}

/// Commands that fail, and the start of the error each gets (`words | error`).
const ERRORS: &str = "\
INCR | ERR wrong number of arguments for 'incr' command
GET a b | ERR wrong number of arguments for 'get' command
INCRBY a x | ERR value is not an integer or out of range
INCRBY a 1.5 | ERR value is not an integer or out of range
INCRBY a 99999999999999999999 | ERR value is not an integer or out of range
DECRBY a x | ERR value is not an integer or out of range
DECRBY a -9223372036854775808 | ERR decrement would overflow
DECR | ERR wrong number of arguments for 'decr' command
SET a x | ERR value is not an integer or out of range
SET a 1 NX XX | ERR syntax error
DEL | ERR wrong number of arguments for 'del' command
SETNX a 1 | ERR ringkv counters are only counted up and down: SETNX
SETEX a 0 1 | ERR invalid expire time in 'setex' command
FOO x y | ERR unknown command 'FOO', with args beginning with: 'x' 'y' 
CLIENT NOPE | ERR unknown subcommand 'NOPE'. Try CLIENT HELP.
CLIENT SETNAME | ERR wrong number of arguments for 'client|setname' command
CONFIG SET save x | ERR CONFIG SET is not supported
HELLO 4 | NOPROTO unsupported protocol version
HELLO x | ERR Protocol version is not an integer or out of range
SELECT 1 | ERR SELECT is not allowed in cluster mode
AUTH secret | ERR AUTH <password> called without any password configured for the default user.
AUTH root secret | WRONGPASS invalid username-password pair or user is disabled.";

#[test]
fn errors_read_like_redis_and_the_connection_goes_on() {
    let server = Server::start();
    let mut con = server.connect();
    for case in ERRORS.lines() {
        let (line, want) = case.split_once(" | ").unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let got = error(&mut con, &words);
        assert!(got.starts_with(want), "{line}: got {got:?}, want {want:?}");
    }
    let got = error(&mut con, &["CLIENT", "SETNAME", "a b"]);
    assert!(
        got.starts_with("ERR Client names cannot contain spaces"),
        "{got}"
    );
    let got = error(&mut con, &["INCR", &"k".repeat(2000)]);
    assert!(
        got.starts_with("ERR key of 2000 bytes exceeds the maximum"),
        "{got}"
    );
    assert_eq!(q::<String>(&mut con, "PING"), "PONG");
}

#[test]
fn overflow_is_an_error_and_changes_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    let max = i64::MAX;
    assert_eq!(q::<i64>(&mut con, &format!("INCRBY big {max}")), max);
    let over = error(&mut con, &["INCR", "big"]);
    assert_eq!(over, "ERR increment or decrement would overflow");
    assert_eq!(q::<String>(&mut con, "GET big"), max.to_string());
    let over = error(&mut con, &["INCRBY", "big", &max.to_string()]);
    assert_eq!(over, "ERR increment or decrement would overflow");
    assert_eq!(q::<String>(&mut con, "GET big"), max.to_string());
}

#[test]
fn connection_and_server_commands() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(q::<String>(&mut con, "PING hi"), "hi");
    assert_eq!(run::<String>(&mut con, &["ECHO", "a b"]).unwrap(), "a b");
    assert_eq!(q::<String>(&mut con, "SELECT 0"), "OK");
    assert_eq!(q::<String>(&mut con, "AUTH default anything"), "OK");
    assert_eq!(
        q::<Vec<Value>>(&mut con, "HELLO 2 SETNAME tester").len(),
        14
    );
    assert_eq!(q::<String>(&mut con, "CLIENT GETNAME"), "tester");
    assert_eq!(q::<String>(&mut con, "CLIENT SETNAME me"), "OK");
    let info: String = q(&mut con, "CLIENT INFO");
    assert!(
        info.contains(" name=me ") && info.contains("laddr=127.0.0.1:"),
        "{info}"
    );
    assert!(q::<i64>(&mut con, "CLIENT ID") > 0);
    assert_eq!(q::<Vec<String>>(&mut con, "CONFIG GET save"), ["save", ""]);
    assert_eq!(
        q::<Vec<String>>(&mut con, "CONFIG GET appendonly"),
        ["appendonly", "no"]
    );
    let all: Vec<String> = q(&mut con, "CONFIG GET *");
    assert!(all.len() >= 4 && all.len().is_multiple_of(2));
    assert_eq!(q::<String>(&mut con, "QUIT"), "OK");
}

#[test]
fn info_and_command_describe_the_server() {
    let server = Server::start();
    let mut con = server.connect();
    for key in ["a", "b", "c"] {
        q::<i64>(&mut con, &format!("INCR {key}"));
    }
    let info: String = q(&mut con, "INFO");
    let port = format!("tcp_port:{}", server.port);
    let needles = [
        "# Server",
        "redis_version:",
        &port,
        "nodes:3",
        "db0:keys=3,",
    ];
    for needle in needles {
        assert!(info.contains(needle), "{needle} missing in {info}");
    }
    let keyspace: String = q(&mut con, "INFO keyspace");
    assert!(keyspace.starts_with("# Keyspace") && !keyspace.contains("# Server"));
    let count: usize = q(&mut con, "COMMAND COUNT");
    assert_eq!(q::<Vec<Value>>(&mut con, "COMMAND").len(), count);
    assert_eq!(q::<Vec<Value>>(&mut con, "COMMAND DOCS").len(), 2 * count);
    assert_eq!(q::<Vec<Value>>(&mut con, "COMMAND DOCS incr").len(), 2);
    let infos: Vec<Value> = q(&mut con, "COMMAND INFO get nope");
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1], Value::Nil);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    for _ in 0..500 {
        pipe.cmd("INCR").arg("p").cmd("GET").arg("p");
    }
    let answers: Vec<u64> = pipe.query(&mut con).unwrap();
    let want: Vec<u64> = (1..=500).flat_map(|i| [i, i]).collect();
    assert_eq!(answers, want);
    // One write with multibulk and inline requests mixed, an error in the middle.
    let mut raw = server.raw();
    let input =
        b"*2\r\n$4\r\nINCR\r\n$1\r\nq\r\nPING\r\nINCRBY q x\r\n*2\r\n$3\r\nGET\r\n$1\r\nq\r\n";
    let want = ":1\r\n+PONG\r\n-ERR value is not an integer or out of range\r\n$1\r\n1\r\n";
    exchange(&mut raw, input, want);
}

#[test]
fn hostile_input_gets_an_error_or_a_clean_close() {
    let server = Server::with_limits(small_limits());
    let mut garbage = server.raw();
    let want = "-ERR unknown command '\u{1}\u{2}garbage', with args beginning with: \r\n";
    exchange(&mut garbage, b"\x01\x02garbage\r\n", want);
    exchange(&mut garbage, b"PING\r\n", "+PONG\r\n");
    let hostile: &[(&[u8], &str)] = &[
        (b"*99999999\r\n", "invalid multibulk length"),
        (b"*1\r\n$5000\r\n", "invalid bulk length"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n*1\r\n", "expected '$', got '*'"),
        (b"PING \"open\r\n", "unbalanced quotes in request"),
        (&[b'x'; 2000], "too big inline request"),
    ];
    for (input, message) in hostile {
        let mut stream = server.raw();
        let want = format!("-ERR Protocol error: {message}\r\n");
        exchange(&mut stream, input, &want);
        assert_closed(&mut stream);
    }
    assert_eq!(q::<String>(&mut server.connect(), "PING"), "PONG");
}

fn small_limits() -> RespLimits {
    RespLimits {
        max_request_len: 4096,
        max_inline_len: 1024,
        ..RespLimits::default()
    }
}

#[test]
fn arguments_adding_up_past_the_limit_are_refused() {
    let server = Server::with_limits(small_limits());
    let mut big = server.raw();
    let mut input = b"*100\r\n".to_vec();
    for _ in 0..100 {
        input.extend_from_slice(b"$100\r\n");
        input.extend_from_slice(&[b'v'; 100]);
        input.extend_from_slice(b"\r\n");
    }
    let want = "-ERR Protocol error: request larger than the limit of 4096 bytes\r\n";
    exchange(&mut big, &input, want);
    assert_closed(&mut big);
    let mut con = server.connect();
    let echo: String = run(&mut con, &["ECHO", &"e".repeat(3000)]).unwrap();
    assert_eq!(echo.len(), 3000);
}

#[test]
fn random_bytes_never_hurt_the_server() {
    let server = Server::start();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..50 {
        let mut stream = server.raw();
        let bytes: Vec<u8> = (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let mut con = server.connect();
    assert_eq!(run::<String>(&mut con, &["PING"]).unwrap(), "PONG");
}

#[test]
fn limits_on_connections_and_slow_requests() {
    let limits = RespLimits {
        max_connections: 1,
        partial_timeout: Duration::from_millis(300),
        ..RespLimits::default()
    };
    let server = Server::with_limits(limits);
    let mut first = server.raw();
    exchange(&mut first, b"PING\r\n", "+PONG\r\n");
    let mut second = server.raw();
    exchange(&mut second, b"", "-ERR max number of clients reached\r\n");
    assert_closed(&mut second);
    let want = "-ERR Protocol error: timed out waiting for the rest of the request\r\n";
    exchange(&mut first, b"*1\r\n$4\r\nPI", want);
    assert_closed(&mut first);
    std::thread::sleep(Duration::from_millis(100));
    exchange(&mut server.raw(), b"PING\r\n", "+PONG\r\n");
}

/// A child process killed (and reaped) when the test ends, even by a panic.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_opens_the_resp_port_it_prints() {
    use std::io::BufRead;
    let args = "serve --in-memory --nodes 2 --base-port 0 --resp-port 0";
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(args.split(' '))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The pipe stays open until the end: a closed stdout would stop the server at its next line.
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let port = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let port = line.strip_prefix("RESP listening on port ")?;
        port.parse::<u16>().ok()
    });
    let port = port.expect("a 'RESP listening on port N' line");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    exchange(&mut stream, b"INCR a\r\nINCR a\r\n", ":1\r\n:2\r\n");
    drop(child);
    drop(lines);
}

/// Whether `tool` is on PATH; prints a skip note when it is not.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: {tool} is not installed (Debian: apt-get install redis-tools)");
    }
    found
}

#[test]
fn redis_cli_incr_twice_gives_2() {
    if !have("redis-cli") {
        return;
    }
    let server = Server::start();
    let port = server.port.to_string();
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = Command::new("redis-cli")
            .args(["-p", &port, "incr", "a"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        outputs.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    assert_eq!(outputs, ["1", "2"]);
    let out = Command::new("redis-cli")
        .args(["-p", &port, "get", "nope"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
}

#[test]
fn redis_benchmark_runs_without_errors() {
    if !have("redis-benchmark") {
        return;
    }
    let server = Server::start();
    let port = server.port.to_string();
    let args = ["-p", &port, "-t", "incr,ping", "-n", "20000", "-q"];
    let out = Command::new("redis-benchmark").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
    for test in ["PING_INLINE:", "PING_MBULK:", "INCR:"] {
        let line = stdout.lines().rfind(|l| l.starts_with(test));
        let line = line.unwrap_or_else(|| panic!("{test} missing in {stdout}"));
        assert!(line.contains("requests per second"), "{line}");
        println!("{line}");
    }
    let mut con = server.connect();
    let total: u64 = run(&mut con, &["GET", "counter:__rand_int__"]).unwrap();
    assert_eq!(total, 20000);
}
