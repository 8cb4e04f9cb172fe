//! A client that sends requests for 5 seconds and never reads its answers: the server must stop
//! reading from it once its per-connection queue is full (and say so once in its log), keep its
//! memory bounded, and go on serving everyone else. Alone in its own test binary so the process's
//! memory is not disturbed by other tests.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use ringkv::actors::ServerLimits;
use ringkv::Response;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[actix_rt::test]
async fn a_client_that_never_reads_leaves_the_server_bounded() {
    let log = Capture::default();
    // Everything (cluster and clients) runs on this test's thread.
    let _guard = log.install();

    let cluster = cluster(ServerLimits::default());
    cluster.update("canary", 3).await.unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let flooder = socket
        .connect(addr(&cluster).parse().unwrap())
        .await
        .unwrap();
    let local = flooder.local_addr().unwrap();
    let (_unread, mut write) = flooder.into_split();
    let rss_before = rss_kib();

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
                let mut other = connect(&addr(&cluster)).await;
                let started = Instant::now();
                let (_, answer) = exchange(&mut other, &frame(1, &get_body("canary"))).await;
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
    let grown_kib = rss_kib().saturating_sub(rss_before);
    let text = log.text();
    let reports = log.count(&["per-connection queue full", &local.to_string()]);
    let applied = cluster.get("flood").await.unwrap();
    eprintln!("sent {sent} bytes, {applied} applied, stalled {stalled}, {probes} probes, rss +{grown_kib} KiB");
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
    assert_eq!(cluster.get("canary").await.unwrap(), 3);
}
