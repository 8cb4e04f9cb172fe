//! A RESP client that pipelines big MGETs and never reads: the connection stops reading once its
//! output buffer and byte budget are full, the server's memory stays bounded, and another client
//! keeps being answered. The server is a `ringkv serve` child process, so the memory measured is
//! the server's alone (the other tests share this test binary's process).

use crate::support::serve;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serve::Server;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

const KEYS: usize = 20_000;

fn key(i: usize) -> String {
    format!("key:{i:06}")
}

/// One `MGET` of every key, as RESP bytes.
fn mget_all() -> Vec<u8> {
    let mut out = format!("*{}\r\n$4\r\nMGET\r\n", KEYS + 1).into_bytes();
    for i in 0..KEYS {
        let k = key(i);
        out.extend(format!("${}\r\n{k}\r\n", k.len()).into_bytes());
    }
    out
}

#[test]
fn a_client_that_never_reads_its_mgets_stays_within_the_budget() {
    let server = Server::in_memory(&["--nodes", "3", "--resp-port", "0"]);
    let port = server.resp.expect("ringkv serve prints its RESP port");
    let url = format!("redis://127.0.0.1:{port}/");
    let mut conn = redis::Client::open(url)
        .expect("a valid URL")
        .get_connection()
        .expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("INCR").arg(key(i)).ignore();
    }
    pipe.query::<()>(&mut conn).expect("load");
    let rss_before = server.rss_kib();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let request = mget_all();
    let flood = runtime.spawn(async move {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("small buffer");
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut stream = socket.connect(addr).await.expect("connect");
        let until = Instant::now() + Duration::from_secs(5);
        let mut sent = 0;
        while Instant::now() < until && sent < 1_000 {
            let write = stream.write_all(&request);
            match tokio::time::timeout_at(until.into(), write).await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
        }
        (stream, sent)
    });

    // Meanwhile another client reads a counter, and is answered.
    let mut probe = std::net::TcpStream::connect(("127.0.0.1", port)).expect("probe");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(5) {
        let asked = Instant::now();
        probe.write_all(b"GET key:000007\r\n").expect("write");
        let mut reply = [0u8; 64];
        let n = probe.read(&mut reply).expect("answered within 5 s");
        assert_eq!(&reply[..n], b"$1\r\n1\r\n");
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (stream, sent) = runtime.block_on(flood).expect("flooder");
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    eprintln!("{sent} MGETs of {KEYS} keys sent, rss +{grown_kib} KiB, slowest probe {slowest:?}");
    assert!(sent < 1_000, "the server stopped reading the flooder");
    assert!(grown_kib < 48 * 1024, "memory grew by {grown_kib} KiB");
    assert!(
        slowest < Duration::from_secs(1),
        "a probe waited {slowest:?}"
    );
    drop(stream);
}
