//! Helpers shared by the protocol tests: an in-process cluster on free ports, hand-built frames and
//! raw reads. Frames here are built byte by byte, not with the crate's codec, so the tests check
//! the wire format itself.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringkv::actors::ServerLimits;
use ringkv::protocol::codec::decode;
use ringkv::{Cluster, ClusterConfig, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one answer.
pub const WAIT: Duration = Duration::from_secs(10);

/// Starts a 3-node cluster on free ports with `limits`; call inside an actix `System`.
pub fn cluster(limits: ServerLimits) -> Cluster {
    let config = ClusterConfig {
        nodes: 3,
        base_port: 0,
        limits,
        ..Default::default()
    };
    Cluster::start(config).expect("cluster starts")
}

/// `127.0.0.1:PORT` of the cluster's first node.
pub fn addr(cluster: &Cluster) -> String {
    format!("127.0.0.1:{}", cluster.ports()[0])
}

/// One frame built by hand: u32 BE length, `RGKV`, the protocol version, u64 BE id, body.
pub fn frame(id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + body.len());
    out.extend_from_slice(&(13 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(b"RGKV");
    out.push(ringkv::protocol::VERSION);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A bincode string: varint length (short form only: under 251 bytes) then the bytes.
pub fn string(s: &str) -> Vec<u8> {
    assert!(s.len() < 251, "helper handles short strings only");
    let mut out = vec![s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

/// The body of `update KEY AMOUNT` for a small amount (< 251).
pub fn update_body(key: &str, amount: u8) -> Vec<u8> {
    let mut body = vec![1];
    body.extend(string(key));
    // The amount is an i64: zigzag (2n for n >= 0), then a varint.
    let zigzag = u16::from(amount) * 2;
    match u8::try_from(zigzag) {
        Ok(z) if z < 251 => body.push(z),
        _ => {
            body.push(251);
            body.extend(zigzag.to_le_bytes());
        }
    }
    body
}

/// The body of `get KEY`.
pub fn get_body(key: &str) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(string(key));
    body
}

/// Connects a raw socket.
pub async fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads one whole frame; returns its header fields (version checked) and raw body.
pub async fn read_frame(stream: &mut TcpStream) -> (u64, Vec<u8>) {
    let read = async {
        let len = stream.read_u32().await.expect("length prefix") as usize;
        let mut rest = vec![0; len];
        stream.read_exact(&mut rest).await.expect("frame");
        assert_eq!(&rest[..4], b"RGKV", "magic");
        assert_eq!(rest[4], ringkv::protocol::VERSION, "version");
        let id = u64::from_be_bytes(rest[5..13].try_into().expect("8 bytes"));
        (id, rest[13..].to_vec())
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("an answer in time")
}

/// Reads one frame and decodes its body as a [`Response`].
pub async fn read_response(stream: &mut TcpStream) -> (u64, Response) {
    let (id, body) = read_frame(stream).await;
    (id, decode(&body).expect("a valid response"))
}

/// Sends `bytes` and reads one answer.
pub async fn exchange(stream: &mut TcpStream, bytes: &[u8]) -> (u64, Response) {
    stream.write_all(bytes).await.expect("write");
    read_response(stream).await
}

/// Waits until the server closes the connection (end of stream or reset), reading and dropping
/// anything before it.
pub async fn expect_closed(stream: &mut TcpStream) {
    let wait = async {
        let mut scrap = [0u8; 1024];
        while matches!(stream.read(&mut scrap).await, Ok(n) if n > 0) {}
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .expect("the server closes the connection");
}

/// Every `(port, key, value)` the cluster holds.
pub async fn counters(cluster: &Cluster) -> Vec<(u16, String, i64)> {
    let status = cluster.status_all().await.expect("status");
    status
        .nodes
        .into_iter()
        .flat_map(|n| n.counters.into_iter().map(move |(k, v)| (n.port, k, v)))
        .collect()
}

/// After hostile input: a second connection reads `key` and gets `expected`, and the counters
/// equal `before`.
pub async fn still_healthy(
    cluster: &Cluster,
    before: &[(u16, String, i64)],
    key: &str,
    expected: i64,
) {
    let mut good = connect(&addr(cluster)).await;
    let (id, response) = exchange(&mut good, &frame(99, &get_body(key))).await;
    assert_eq!(id, 99);
    assert_eq!(
        response,
        Response::Count {
            key: key.into(),
            value: expected
        }
    );
    assert_eq!(counters(cluster).await, before, "counters unchanged");
}

/// A log sink a test can read: install it with [`Capture::install`] on the test's thread (an
/// `actix_rt::test` runs the cluster on that same thread).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Routes this thread's `tracing` events (warnings and worse) here until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// How many logged lines contain every one of `parts`.
    pub fn count(&self, parts: &[&str]) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .count()
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
