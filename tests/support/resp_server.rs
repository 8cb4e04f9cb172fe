//! A three-node cluster with a RESP listener on port 0, on an actix System in its own thread, for
//! the RESP tests; stopped when dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringkv::resp::RespLimits;
use ringkv::{Cluster, ClusterConfig};

/// The running server.
pub struct Server {
    /// The RESP port.
    pub port: u16,
    system: actix::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A server with the default limits.
    pub fn start() -> Server {
        Server::with_limits(RespLimits::default())
    }

    /// A server with `limits`.
    pub fn with_limits(limits: RespLimits) -> Server {
        let config = ClusterConfig {
            nodes: 3,
            base_port: 0,
            ..ClusterConfig::default()
        };
        Server::with_cluster(config, limits)
    }

    /// A server on a cluster started with `config`.
    pub fn with_cluster(config: ClusterConfig, limits: RespLimits) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix::System::new();
            system.block_on(async move {
                let cluster = Cluster::start(config).expect("cluster starts");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let resp = ringkv::resp::start(listener, cluster.gateway(), limits).expect("resp");
                tx.send((resp.port(), actix::System::current()))
                    .expect("send port");
            });
            let _ = system.run();
        });
        let (port, system) = rx.recv().expect("server started");
        Server {
            port,
            system,
            thread: Some(thread),
        }
    }

    /// A `redis` crate connection (RESP2).
    pub fn connect(&self) -> redis::Connection {
        self.connect_with("")
    }

    /// A `redis` crate connection; `query` is the URL's query string (e.g. `?protocol=resp3`).
    pub fn connect_with(&self, query: &str) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/{query}", self.port);
        let client = redis::Client::open(url).expect("a valid URL");
        client.get_connection().expect("connect")
    }

    /// A raw socket with a 5 s read timeout.
    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `input` and reads until `expected.len()` bytes came, the server closed, or 5 s passed.
pub fn exchange(stream: &mut TcpStream, input: &[u8], expected: &str) {
    stream.write_all(input).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while got.len() < expected.len() && start.elapsed() < Duration::from_secs(5) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let asked = String::from_utf8_lossy(&input[..input.len().min(200)]);
    assert_eq!(
        String::from_utf8_lossy(&got),
        expected,
        "the reply to {asked:?}"
    );
}

/// Sends the command `words` (its name, then its arguments) and reads the reply as `T`.
pub fn run<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    words: &[&str],
) -> Result<T, redis::RedisError> {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd.query(con)
}

/// Sends the command `words`, which must answer an integer.
pub fn int(con: &mut redis::Connection, words: &[&str]) -> i64 {
    run(con, words).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}
