//! The server commands clients and Redis's test runner ask for: CLIENT LIST/KILL, COMMAND
//! COUNT/INFO/DOCS of the new commands, CONFIG GET, and INFO's memory and replication sections.

use crate::support::resp_server;

use std::io::Read;
use std::time::{Duration, Instant};

use resp_server::{exchange, Server};

fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, line: &str) -> T {
    let words: Vec<&str> = line.split(' ').collect();
    redis::cmd(words[0])
        .arg(&words[1..])
        .query(con)
        .expect(line)
}

#[test]
fn client_list_shows_every_connection_and_kill_closes_one() {
    let server = Server::start();
    let mut me = server.connect();
    let mut other = server.raw();
    exchange(&mut other, b"CLIENT SETNAME victim\r\n", "+OK\r\n");
    let _: () = q(&mut me, "CLIENT SETNAME boss");
    let list: String = q(&mut me, "CLIENT LIST");
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("name=victim") && list.contains("name=boss"),
        "{list}"
    );
    assert!(list
        .lines()
        .all(|l| l.starts_with("id=") && l.contains(" addr=127.0.0.1:")));
    let victim = list.lines().find(|l| l.contains("name=victim")).unwrap();
    let id = victim.split(' ').next().unwrap().trim_start_matches("id=");
    let mine: String = q(&mut me, "CLIENT LIST TYPE normal");
    assert_eq!(mine.lines().count(), 2);
    let killed: i64 = q(&mut me, &format!("CLIENT KILL ID {id}"));
    assert_eq!(killed, 1);
    let start = Instant::now();
    let mut buf = [0u8; 16];
    loop {
        match other.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => break,
            _ => assert!(start.elapsed() < Duration::from_secs(5), "not closed"),
        }
    }
    let list: String = q(&mut me, "CLIENT LIST");
    assert_eq!(list.lines().count(), 1, "{list}");
    // SKIPME yes by default: a connection does not kill itself by its own address.
    let addr = list
        .split(" addr=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let none: i64 = q(&mut me, &format!("CLIENT KILL ADDR {addr}"));
    assert_eq!(none, 0);
    let mut s = server.raw();
    exchange(
        &mut s,
        b"CLIENT KILL 1.2.3.4:5\r\n",
        "-ERR No such client\r\n",
    );
    exchange(
        &mut s,
        b"CLIENT KILL ID 0\r\n",
        "-ERR client-id should be greater than 0\r\n",
    );
    exchange(&mut s, b"CLIENT KILL FOO bar\r\n", "-ERR syntax error\r\n");
}

#[test]
fn command_config_and_info_answer_real_entries() {
    let server = Server::start();
    let mut con = server.connect();
    let count: usize = q(&mut con, "COMMAND COUNT");
    assert!(count >= 29, "{count} commands");
    let info: Vec<redis::Value> = q(&mut con, "COMMAND INFO scan multi nosuch");
    assert_eq!(info.len(), 3);
    assert!(matches!(info[2], redis::Value::Nil));
    let docs: redis::Value = q(&mut con, "COMMAND DOCS flushall");
    assert!(format!("{docs:?}").contains("Removes all keys"), "{docs:?}");
    let config: Vec<String> = q(&mut con, "CONFIG GET maxmemory* save appendonly databases");
    assert_eq!(
        config,
        [
            "save",
            "",
            "appendonly",
            "no",
            "databases",
            "1",
            "maxmemory",
            "0",
            "maxmemory-policy",
            "noeviction"
        ]
    );
    let _: i64 = q(&mut con, "INCR k");
    let text: String = q(&mut con, "INFO");
    for needle in [
        "# Memory\r\nused_memory:",
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n",
        "# Keyspace\r\ndb0:keys=1,",
        "connected_clients:1\r\n",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    let used: u64 = text
        .split("used_memory:")
        .nth(1)
        .and_then(|t| t.split("\r\n").next()?.parse().ok())
        .unwrap();
    assert!(used > 1_000_000, "used_memory {used}");
    let memory: String = q(&mut con, "INFO memory");
    assert!(memory.starts_with("# Memory\r\n") && !memory.contains("# Server"));
}

#[test]
fn time_answers_the_wall_clock_as_redis() {
    let server = Server::start();
    let mut con = server.connect();
    let (secs, micros): (u64, u32) = q(&mut con, "TIME");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2, "TIME said {secs}, the clock {now}");
    assert!(micros < 1_000_000);
    let mut s = server.raw();
    exchange(
        &mut s,
        b"TIME x\r\n",
        "-ERR wrong number of arguments for 'time' command\r\n",
    );
}
