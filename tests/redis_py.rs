//! The most used Redis client, redis-py 8, with its default settings (it sends `HELLO 3` on
//! connect), and ringkv's `HELLO 3` next to redis-server 7's. Each test skips with a note when
//! python3 with the redis module, or redis-server, is not installed (`.ci/install-deps.sh`
//! installs them).

use crate::support::resp_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use resp_server::Server;

#[test]
fn redis_py_8_connects_increments_pipelines_and_reads() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/redis_py_check.py");
    let server = Server::start();
    let run = Command::new("python3")
        .arg(&script)
        .arg(server.port.to_string())
        .output();
    let Ok(out) = run else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    println!("{stdout}");
    assert!(out.status.success(), "redis-py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// The pairs of a RESP3 map of strings and integers (`%n`, then `$len`/`:n`/`*0` items), as text.
fn map_pairs(reply: &str) -> Vec<(String, String)> {
    let mut lines = reply.split("\r\n").skip(1).filter(|l| !l.is_empty());
    let mut item = || {
        let line = lines.next()?;
        Some(if line.starts_with('$') {
            lines.next()?.to_owned()
        } else {
            line.to_owned()
        })
    };
    let mut pairs = Vec::new();
    while let (Some(k), Some(v)) = (item(), item()) {
        pairs.push((k, v));
    }
    pairs
}

/// Sends `HELLO 3` to `port` and returns the reply (read until it ends in the modules array).
fn hello_3(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"modules\r\n*0\r\n") && got.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// redis-server on a free loopback port, killed (by its PID) when dropped.
struct RedisServer(Child, u16);

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer(child, port);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(5) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn hello_3_answers_the_map_redis_server_7_answers() {
    let Some(redis) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (Debian: apt-get install redis-server)");
        return;
    };
    let server = Server::start();
    let theirs = map_pairs(&hello_3(redis.1));
    let ours = map_pairs(&hello_3(server.port));
    let names = |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect();
    let their_names: Vec<String> = names(&theirs);
    assert_eq!(names(&ours), their_names, "ours {ours:?}, Redis {theirs:?}");
    for ((name, our), (_, their)) in ours.iter().zip(&theirs) {
        match name.as_str() {
            // ringkv claims 7.0.0; the client id is the connection's own.
            "version" => assert!(our.starts_with("7.") && their.starts_with("7."), "{our}"),
            "id" => assert!(our.starts_with(':') && their.starts_with(':'), "{our}"),
            _ => assert_eq!(our, their, "{name}"),
        }
    }
}
