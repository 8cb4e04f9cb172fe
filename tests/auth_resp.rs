//! Passwords and roles on the RESP port, as Redis 7 answers them: NOAUTH before AUTH, WRONGPASS
//! for a wrong pair, NOPERM above the role; AUTH, AUTH user pass and HELLO 3 AUTH; the `redis`
//! crate, redis-cli (`-a`, `--user`/`--pass`, `REDISCLI_AUTH`) and redis-benchmark `-a`; failed
//! logins slowed down per connection and refused per address.

use crate::support::resp_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use resp_server::{run, Server};
use ringkv::auth::{hash_password, parse_users, Access};
use ringkv::resp::RespLimits;

const ROOT_PASSWORD: &str = "s3cret";

/// The requirepass `default` user (admin), `reader` (read), `writer` (write), `boss` (admin).
fn access() -> Access {
    let mut text = String::new();
    for (name, role) in [("reader", "read"), ("writer", "write"), ("boss", "admin")] {
        let hash = hash_password(format!("{name}-pw").as_bytes()).expect("hash");
        text.push_str(&format!("{name} {role} {hash}\n"));
    }
    Access::new(Some(ROOT_PASSWORD), parse_users(&text).expect("users")).expect("access")
}

/// Writes `input` and reads what comes back: everything until the server is quiet for 150 ms
/// (waiting up to 5 s for the first byte).
fn ask(stream: &mut TcpStream, input: &[u8]) -> String {
    stream.write_all(input).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let quiet = Some(Duration::from_millis(150));
        stream.set_read_timeout(quiet).expect("timeout");
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn server() -> Server {
    Server::with_limits(RespLimits {
        access: access(),
        ..RespLimits::default()
    })
}

/// The reply of `words` as text: a value's debug form, or `CODE detail` for an error.
fn answer(con: &mut Connection, words: &[&str]) -> String {
    match run::<Value>(con, words) {
        Ok(value) => format!("{value:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn connect_as(server: &Server, user: &str, password: &str) -> Connection {
    let url = format!("redis://{user}:{password}@127.0.0.1:{}/", server.port);
    let client = redis::Client::open(url).expect("a valid URL");
    client.get_connection().expect("connect and AUTH")
}

const READS: &[&[&str]] = &[
    &["GET", "a"],
    &["MGET", "a", "b"],
    &["EXISTS", "a"],
    &["DBSIZE"],
    &["INFO", "keyspace"],
    &["PING"],
];
const WRITES: &[&[&str]] = &[&["INCR", "a"], &["INCRBY", "b", "2"]];
const ADMINS: &[&[&str]] = &[&["FLUSHALL"], &["FLUSHDB"]];

fn noperm(user: &str, words: &[&str]) -> String {
    let name = words[0].to_ascii_lowercase();
    format!("NOPERM User {user} has no permissions to run the '{name}' command")
}

#[test]
fn every_role_against_every_command_class() {
    let server = server();
    let allowed = |got: &str| !got.starts_with("NOPERM") && !got.starts_with("NOAUTH");
    for (user, password, reads, writes, admins) in [
        ("reader", "reader-pw", true, false, false),
        ("writer", "writer-pw", true, true, false),
        ("boss", "boss-pw", true, true, true),
        ("default", ROOT_PASSWORD, true, true, true),
    ] {
        let mut con = connect_as(&server, user, password);
        for (class, may) in [(READS, reads), (WRITES, writes), (ADMINS, admins)] {
            for words in class {
                let got = answer(&mut con, words);
                if may {
                    assert!(allowed(&got), "{user} {words:?}: {got}");
                } else {
                    assert_eq!(got, noperm(user, words), "{user} {words:?}");
                }
            }
        }
    }
    // The admins' FLUSHALL went through (after their INCRs), and a writer's INCR starts anew.
    let mut con = connect_as(&server, "reader", "reader-pw");
    let keys: i64 = run(&mut con, &["DBSIZE"]).expect("dbsize");
    assert_eq!(keys, 0, "FLUSHALL by an admin empties the store");
    let mut con = connect_as(&server, "writer", "writer-pw");
    let a: i64 = run(&mut con, &["INCR", "a"]).expect("incr");
    assert_eq!(a, 1);
}

#[test]
fn before_auth_only_auth_hello_and_quit_are_served() {
    let server = server();
    let mut raw = server.raw();
    let noauth = "-NOAUTH Authentication required.\r\n";
    for request in [
        "*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
        "*2\r\n$4\r\nINCR\r\n$1\r\na\r\n",
        "*1\r\n$4\r\nPING\r\n",
        "*1\r\n$8\r\nFLUSHALL\r\n",
        "*2\r\n$4\r\nNOPE\r\n$1\r\na\r\n",
    ] {
        assert_eq!(ask(&mut raw, request.as_bytes()), noauth, "{request:?}");
    }
    let hello = ask(&mut raw, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
    assert!(hello.starts_with("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option"), "{hello}");
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    for request in [
        "*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n",
        "*3\r\n$4\r\nAUTH\r\n$6\r\nreader\r\n$9\r\nwriter-pw\r\n",
        "*3\r\n$4\r\nAUTH\r\n$6\r\nnobody\r\n$9\r\nreader-pw\r\n",
    ] {
        assert_eq!(ask(&mut raw, request.as_bytes()), wrongpass, "{request:?}");
    }
    // Still not logged in after failures.
    assert_eq!(ask(&mut raw, b"*1\r\n$4\r\nPING\r\n"), noauth);
    let auth = ask(&mut raw, b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n");
    assert_eq!(auth, "+OK\r\n");
    assert_eq!(ask(&mut raw, b"*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
    assert_eq!(ask(&mut raw, b"*1\r\n$4\r\nQUIT\r\n"), "+OK\r\n");
}

#[test]
fn hello_3_auth_logs_in_and_switches_protocol() {
    let server = server();
    let mut raw = server.raw();
    let hello = "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$6\r\nwriter\r\n$9\r\nwriter-pw\r\n";
    let reply = ask(&mut raw, hello.as_bytes());
    assert!(reply.starts_with('%'), "a RESP3 map: {reply}");
    assert!(reply.contains("proto\r\n:3"), "{reply}");
    assert_eq!(ask(&mut raw, b"*2\r\n$4\r\nINCR\r\n$1\r\nh\r\n"), ":1\r\n");
    let flush = ask(&mut raw, b"*1\r\n$8\r\nFLUSHALL\r\n");
    assert_eq!(
        flush,
        "-NOPERM User writer has no permissions to run the 'flushall' command\r\n"
    );
    // A wrong HELLO AUTH changes nothing, not even the protocol.
    let mut other = server.raw();
    let bad = "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$6\r\nwriter\r\n$3\r\nbad\r\n";
    let reply = ask(&mut other, bad.as_bytes());
    assert_eq!(
        reply,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let get = ask(&mut other, b"*2\r\n$3\r\nGET\r\n$1\r\nh\r\n");
    assert_eq!(get, "-NOAUTH Authentication required.\r\n");
}

#[test]
fn pipelined_requests_after_auth_see_the_login() {
    let server = server();
    let mut raw = server.raw();
    let batch = "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n";
    raw.write_all(batch.as_bytes()).expect("write");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen != "+OK\r\n:1\r\n:2\r\n" && Instant::now() < deadline {
        seen.push_str(&ask(&mut raw, b""));
    }
    assert_eq!(seen, "+OK\r\n:1\r\n:2\r\n");
}

#[test]
fn failed_logins_are_slowed_then_refused_per_address() {
    let server = server();
    let mut con = server.raw();
    let wrong = b"*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n";
    let mut last = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let reply = ask(&mut con, wrong);
        assert!(reply.starts_with("-WRONGPASS"), "{reply}");
        last = started.elapsed();
    }
    assert!(
        last >= Duration::from_millis(150),
        "the 5th failure is held back: {last:?}"
    );
    // 20 failures from one address within a minute: even the right password is refused.
    for _ in 0..15 {
        let mut fresh = server.raw();
        let reply = ask(&mut fresh, wrong);
        assert!(reply.starts_with("-WRONGPASS"), "{reply}");
    }
    let mut fresh = server.raw();
    let reply = ask(&mut fresh, b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n");
    assert!(
        reply.starts_with("-ERR too many failed AUTH attempts"),
        "{reply}"
    );
}

/// Whether `tool` is on PATH; prints a skip note when it is not.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: {tool} is not installed (Debian: apt-get install redis-tools)");
    }
    found
}

fn redis_cli(server: &Server, args: &[&str], env: Option<(&str, &str)>) -> String {
    let mut command = Command::new("redis-cli");
    command.args(["-p", &server.port.to_string()]).args(args);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let out = command.output().expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn redis_cli_logs_in_every_way_it_can() {
    if !have("redis-cli") {
        return;
    }
    let server = server();
    assert_eq!(
        redis_cli(&server, &["incr", "c"], None),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        redis_cli(&server, &["-a", ROOT_PASSWORD, "incr", "c"], None),
        "1"
    );
    let user = ["--user", "writer", "--pass", "writer-pw", "incr", "c"];
    assert_eq!(redis_cli(&server, &user, None), "2");
    let env = Some(("REDISCLI_AUTH", ROOT_PASSWORD));
    assert_eq!(redis_cli(&server, &["get", "c"], env), "2");
    let reader = ["--user", "reader", "--pass", "reader-pw", "incr", "c"];
    assert_eq!(
        redis_cli(&server, &reader, None),
        "NOPERM User reader has no permissions to run the 'incr' command"
    );
    let wrong = redis_cli(&server, &["-a", "nope", "get", "c"], None);
    assert!(wrong.contains("NOAUTH"), "{wrong}");
}

#[test]
fn redis_benchmark_with_a_password() {
    if !have("redis-benchmark") {
        return;
    }
    let server = server();
    let port = server.port.to_string();
    let args = [
        "-p",
        &port,
        "-a",
        ROOT_PASSWORD,
        "-t",
        "incr",
        "-n",
        "5000",
        "-q",
    ];
    let out = Command::new("redis-benchmark")
        .args(args)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("INCR:") && l.contains("requests per second")),
        "{stdout}"
    );
    let mut con = connect_as(&server, "reader", "reader-pw");
    let total: i64 = run(&mut con, &["GET", "counter:__rand_int__"]).expect("get");
    assert_eq!(total, 5000);
}

#[test]
fn an_auth_then_a_half_close_still_gets_its_answer() {
    let server = server();
    let mut raw = server.raw();
    raw.write_all(b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n")
        .expect("write");
    raw.shutdown(std::net::Shutdown::Write).expect("half close");
    let mut got = String::new();
    let _ = raw.read_to_string(&mut got);
    assert_eq!(got, "+OK\r\n");
}
