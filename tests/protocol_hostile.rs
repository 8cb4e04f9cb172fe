//! Hostile and broken input on a node's port. After each, a second connection must still be served
//! and the counters must be unchanged: one bad client harms no other client and no data.

use crate::common;

use std::time::Duration;

use common::*;
use rand::{Rng, SeedableRng};
use ringkv::actors::ServerLimits;
use ringkv::protocol::{ErrorCode, ErrorReply, Response};
use ringkv::Cluster;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A cluster with `limits` holding `canary = 3`; returns it with its counters.
async fn seeded(limits: ServerLimits) -> (Cluster, Vec<(u16, String, i64)>) {
    let cluster = cluster(limits);
    cluster.update("canary", 3).await.expect("seed");
    let before = counters(&cluster).await;
    (cluster, before)
}

/// Reads the id-0 error a broken connection gets, then waits for the close; returns the reply.
async fn connection_error(s: &mut TcpStream) -> ErrorReply {
    let (id, response) = read_response(s).await;
    assert_eq!(id, 0, "connection-level errors carry id 0");
    expect_closed(s).await;
    match response {
        Response::Error(reply) => reply,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn random_garbage_gets_an_error_and_a_close() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    for seed in 0..20u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let garbage: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
        let mut s = connect(&addr(&cluster)).await;
        s.write_all(&garbage).await.unwrap();
        let reply = connection_error(&mut s).await;
        assert_eq!(reply.code, ErrorCode::Protocol, "seed {seed}: {reply:?}");
    }
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_4_gib_length_prefix_is_refused_at_once() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let reply = connection_error(&mut s).await;
    assert_eq!(reply.code, ErrorCode::Protocol);
    assert!(
        reply
            .message
            .contains("4294967295 bytes exceeds the maximum of 1048576"),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_frame_cut_off_then_closed_changes_nothing() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let whole = frame(1, &update_body("canary", 100));
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&whole[..whole.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap();
    expect_closed(&mut s).await;
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn an_unknown_variant_tag_is_answered_under_its_id() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut s = connect(&addr(&cluster)).await;
    let (id, response) = exchange(&mut s, &frame(11, &[9, 1, b'a'])).await;
    assert_eq!(id, 11);
    let Response::Error(reply) = response else {
        panic!("an error: {response:?}");
    };
    assert_eq!(reply.code, ErrorCode::Protocol, "{reply:?}");
    // The framing is intact, so the same connection goes on.
    let (id, response) = exchange(&mut s, &frame(12, &get_body("canary"))).await;
    assert_eq!(
        (id, response),
        (
            12,
            Response::Count {
                key: "canary".into(),
                value: 3
            }
        )
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_key_that_is_not_utf8_is_answered_under_its_id() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut s = connect(&addr(&cluster)).await;
    // Update { key: [ff fe], amount: 1 }: the key bytes are not UTF-8.
    let (id, response) = exchange(&mut s, &frame(13, &[1, 2, 0xff, 0xfe, 1])).await;
    assert_eq!(id, 13);
    assert!(
        matches!(&response, Response::Error(r) if r.code == ErrorCode::Protocol),
        "{response:?}"
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_length_shorter_than_the_header_is_refused() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&[0, 0, 0, 3, b'R', b'G', b'K', b'V', 1])
        .await
        .unwrap();
    let reply = connection_error(&mut s).await;
    assert!(
        reply.message.contains("shorter than the 13-byte header"),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn trailing_bytes_after_a_message_reject_it() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut body = update_body("canary", 50);
    body.push(0);
    let mut s = connect(&addr(&cluster)).await;
    let (id, response) = exchange(&mut s, &frame(21, &body)).await;
    assert_eq!(id, 21);
    let Response::Error(reply) = response else {
        panic!("an error: {response:?}");
    };
    assert_eq!(reply.code, ErrorCode::Protocol);
    assert!(
        reply.message.contains("1 trailing bytes"),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_wrong_magic_is_named_and_closed() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let log = Capture::default();
    let _guard = log.install();
    let mut s = connect(&addr(&cluster)).await;
    let peer = s.local_addr().unwrap().to_string();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = connection_error(&mut s).await;
    assert_eq!(log.count(&["bad magic", &peer]), 1, "{}", log.text());
    assert_eq!(reply.code, ErrorCode::Protocol);
    assert!(
        reply.message.contains("bad magic: expected [52, 47, 4b, 56]")
            // The first four bytes ("GET ") were read as the length prefix.
            && reply.message.contains("received [2f, 20, 48, 54]"),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn an_unsupported_version_is_named_and_closed() {
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let mut bytes = frame(1, &get_body("canary"));
    bytes[8] = 1;
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&bytes).await.unwrap();
    let reply = connection_error(&mut s).await;
    assert!(
        reply.message.contains(&format!(
            "unsupported protocol version: expected {}, received 1",
            ringkv::protocol::VERSION
        )),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_key_over_the_limit_is_a_bad_request_logged_once() {
    let log = Capture::default();
    let _guard = log.install();
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let key = "k".repeat(1025);
    // Update { key, amount: 1 }: the key length 1025 is the varint fb 01 04.
    let mut body = vec![1, 0xfb, 0x01, 0x04];
    body.extend(key.as_bytes());
    body.push(1);
    let mut s = connect(&addr(&cluster)).await;
    let peer = s.local_addr().unwrap().to_string();
    for id in [31, 32] {
        let (answered, response) = exchange(&mut s, &frame(id, &body)).await;
        assert_eq!(answered, id);
        let Response::Error(reply) = response else {
            panic!("an error: {response:?}");
        };
        assert_eq!(reply.code, ErrorCode::BadRequest);
        assert!(
            reply
                .message
                .contains("1025 bytes exceeds the maximum of 1024"),
            "{}",
            reply.message
        );
    }
    assert_eq!(log.count(&["invalid request", &peer]), 1, "{}", log.text());
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_frame_over_a_configured_maximum_is_refused() {
    let limits = ServerLimits {
        max_frame_len: 64,
        ..ServerLimits::default()
    };
    let (cluster, before) = seeded(limits).await;
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&frame(1, &update_body(&"x".repeat(60), 1)))
        .await
        .unwrap();
    let reply = connection_error(&mut s).await;
    assert!(
        reply.message.contains("exceeds the maximum of 64"),
        "{}",
        reply.message
    );
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn a_half_sent_frame_times_out_but_an_idle_connection_does_not() {
    let limits = ServerLimits {
        frame_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let (cluster, before) = seeded(limits).await;
    let mut idle = connect(&addr(&cluster)).await;
    let mut slow = connect(&addr(&cluster)).await;
    let whole = frame(1, &get_body("canary"));
    // A frame in two parts well within the timeout is fine.
    slow.write_all(&whole[..6]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.write_all(&whole[6..]).await.unwrap();
    assert_eq!(read_response(&mut slow).await.0, 1);
    // Half a frame, then silence: one error, then the close.
    let started = std::time::Instant::now();
    slow.write_all(&whole[..10]).await.unwrap();
    let reply = connection_error(&mut slow).await;
    assert!(reply.message.contains("timed out"), "{}", reply.message);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The idle connection outlived the timeout and still works.
    let (id, _) = exchange(&mut idle, &frame(2, &get_body("canary"))).await;
    assert_eq!(id, 2);
    still_healthy(&cluster, &before, "canary", 3).await;
}

#[actix_rt::test]
async fn connections_over_the_limit_are_refused_with_a_reason() {
    let limits = ServerLimits {
        max_connections: 2,
        ..ServerLimits::default()
    };
    let (cluster, before) = seeded(limits).await;
    let mut held = Vec::new();
    for id in 1..=2 {
        let mut s = connect(&addr(&cluster)).await;
        assert_eq!(
            exchange(&mut s, &frame(id, &get_body("canary"))).await.0,
            id
        );
        held.push(s);
    }
    let mut third = connect(&addr(&cluster)).await;
    let _ = third.write_all(&frame(3, &get_body("canary"))).await;
    let reply = connection_error(&mut third).await;
    assert_eq!(reply.code, ErrorCode::Unavailable);
    assert!(
        reply
            .message
            .contains("too many connections (the limit is 2)"),
        "{}",
        reply.message
    );
    // Another node has its own limit.
    let other = format!("127.0.0.1:{}", cluster.ports()[1]);
    let mut s = connect(&other).await;
    assert_eq!(exchange(&mut s, &frame(4, &get_body("canary"))).await.0, 4);
    // Once a connection leaves, a new one is served.
    held.pop();
    let served = async {
        loop {
            let mut s = connect(&addr(&cluster)).await;
            if s.write_all(&frame(5, &get_body("canary"))).await.is_ok() {
                if let (5, Response::Count { .. }) = read_response(&mut s).await {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, served)
        .await
        .expect("a freed slot is reused");
    assert_eq!(counters(&cluster).await, before);
}

#[actix_rt::test]
async fn a_thousand_connections_at_once_each_update() {
    // Both ends of every connection live in this process: 2,000 descriptors and some spare.
    let n = connections_the_fd_limit_allows(1000);
    let (cluster, before) = seeded(ServerLimits::default()).await;
    let address = addr(&cluster);
    let one = |i: u64| {
        let address = address.clone();
        async move {
            let mut s = connect(&address).await;
            exchange(&mut s, &frame(i + 1, &update_body("crowd", 1))).await
        }
    };
    let answers = futures::future::join_all((0..n).map(one)).await;
    for (i, (id, response)) in answers.into_iter().enumerate() {
        assert_eq!(id, i as u64 + 1);
        assert!(matches!(response, Response::Updated { .. }), "{response:?}");
    }
    assert_eq!(cluster.get("crowd").await.unwrap(), n as i64);
    let after = counters(&cluster).await;
    let others: Vec<_> = after
        .iter()
        .filter(|(_, k, _)| k != "crowd")
        .cloned()
        .collect();
    assert_eq!(others, before, "no other counter moved");
    still_healthy(&cluster, &after, "canary", 3).await;
}

/// The soft and hard limits on open files, from `/proc/self/limits` (`None` where that file does
/// not exist or says "unlimited").
fn fd_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line.split_whitespace().skip(3);
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// `wanted` if the open-file limit allows twice that many descriptors (both ends are in this
/// process). If not, the soft limit is raised toward the hard one with `prlimit` (no libc
/// needed); if that is still too low, fewer connections are used, and the test says so.
fn connections_the_fd_limit_allows(wanted: u64) -> u64 {
    let need = 2 * wanted + 200;
    if let Some((soft, hard)) = fd_limits().filter(|(soft, _)| *soft < need) {
        let target = need.min(hard).max(soft);
        let pid = std::process::id().to_string();
        let raised = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={target}:")])
            .status();
        eprintln!("open-file limit {soft} is below {need}; prlimit to {target}: {raised:?}");
    }
    match fd_limits() {
        Some((soft, _)) if soft < need => {
            let fewer = soft.saturating_sub(200) / 2;
            eprintln!("open-file limit is {soft}: using {fewer} connections instead of {wanted}");
            fewer.max(1)
        }
        _ => wanted,
    }
}
