//! A client that sends requests for 5 seconds and never reads its answers: the server must stop
//! reading from it once its per-connection queue is full (and say so once in its log), keep its
//! memory bounded, and go on serving everyone else. The server is a `ringkv serve` child process,
//! so the memory measured is the server's alone (the other tests share this test binary's process).

use crate::common;
use crate::support::serve;

use std::time::{Duration, Instant};

use common::*;
use ringkv::Response;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

/// Reads `key` through a new connection to `addr`.
async fn count(addr: &str, key: &str) -> Response {
    let mut stream = connect(addr).await;
    exchange(&mut stream, &frame(1, &get_body(key))).await.1
}

#[tokio::test]
async fn a_client_that_never_reads_leaves_the_server_bounded() {
    let server = serve::Server::in_memory(&["--nodes", "3"]);
    let addr = server.addr();
    let mut setup = connect(&addr).await;
    let (_, updated) = exchange(&mut setup, &frame(1, &update_body("canary", 3))).await;
    assert!(matches!(updated, Response::Updated { .. }), "{updated:?}");
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let flooder = socket.connect(addr.parse().unwrap()).await.unwrap();
    let local = flooder.local_addr().unwrap();
    let (_unread, mut write) = flooder.into_split();
    let rss_before = server.rss_kib();

    let mut batch = Vec::new();
    for id in 1..=256 {
        batch.extend(frame(id, &update_body("flood", 1)));
    }
    let end = Instant::now() + Duration::from_secs(5);
    let (mut sent, mut stalled) = (0usize, false);
    let mut probes = 0;
    while Instant::now() < end {
        let step = end.min(Instant::now() + Duration::from_millis(500));
        match tokio::time::timeout_at(step.into(), write.write_all(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            Ok(Err(e)) => panic!("the server dropped the slow client: {e}"),
            Err(_) => {
                stalled = true;
                // Meanwhile another client is served promptly.
                let started = Instant::now();
                let answer = count(&addr, "canary").await;
                assert_eq!(
                    answer,
                    Response::Count {
                        key: "canary".into(),
                        value: 3
                    }
                );
                assert!(started.elapsed() < Duration::from_secs(2));
                probes += 1;
            }
        }
    }
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    let warning = "per-connection queue full";
    server.wait_for_stderr(warning, Duration::from_secs(2));
    let text = server.stderr();
    let reports = text
        .lines()
        .filter(|l| l.contains(warning) && l.contains(&local.to_string()))
        .count();
    let applied = count(&addr, "flood").await;
    eprintln!("sent {sent} bytes, {applied:?} applied, stalled {stalled}, {probes} probes, rss +{grown_kib} KiB");
    assert!(
        stalled,
        "the server stopped reading, so the client's writes stalled"
    );
    assert!(probes > 0);
    assert_eq!(reports, 1, "the queue limit is reported once:\n{text}");
    assert!(
        grown_kib < 64 * 1024,
        "server memory grew by {grown_kib} KiB"
    );
    drop(write);
    assert_eq!(
        count(&addr, "canary").await,
        Response::Count {
            key: "canary".into(),
            value: 3
        }
    );
}
