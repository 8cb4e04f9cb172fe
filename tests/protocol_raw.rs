//! Raw-bytes tests of the framed protocol: hand-built frames for every request type, answers read
//! and checked byte by byte where they are small, pipelining with client-chosen ids.

use crate::common;

use std::collections::HashMap;

use common::*;
use ringkv::actors::ServerLimits;
use ringkv::protocol::{NodeState, Response};
use tokio::io::AsyncWriteExt;

#[actix_rt::test]
async fn get_and_update_answer_exact_bytes() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    s.write_all(&frame(5, &get_body("a"))).await.unwrap();
    // Count { key: "a", value: 0 }: tag 0, "a", varint 0.
    assert_eq!(read_frame(&mut s).await, (5, vec![0, 1, b'a', 0]));
    s.write_all(&frame(6, &update_body("a", 7))).await.unwrap();
    // Updated { key: "a", value: 7 }: tag 1, "a", 7 as a zigzag varint (14).
    assert_eq!(read_frame(&mut s).await, (6, vec![1, 1, b'a', 14]));
    // 300 as a zigzag varint: 600 = 251 (u16 follows), then 600 little-endian.
    let mut body = vec![1];
    body.extend(string("a"));
    body.extend([251, 0x58, 0x02]);
    s.write_all(&frame(7, &body)).await.unwrap();
    assert_eq!(
        read_frame(&mut s).await,
        (7, vec![1, 1, b'a', 251, 0x66, 0x02])
    );
    // -8 (zigzag 15): 307 - 8 = 299 (zigzag 598 = 0x256).
    let mut body = vec![1];
    body.extend(string("a"));
    body.push(15);
    s.write_all(&frame(8, &body)).await.unwrap();
    assert_eq!(
        read_frame(&mut s).await,
        (8, vec![1, 1, b'a', 251, 0x56, 0x02])
    );
}

#[actix_rt::test]
async fn status_and_ring_report_every_node() {
    let cluster = cluster(ServerLimits::default());
    cluster.update("k", 2).await.unwrap();
    let mut s = connect(&addr(&cluster)).await;
    let (id, response) = exchange(&mut s, &frame(1, &[2])).await;
    assert_eq!(id, 1);
    let Response::Status(report) = response else {
        panic!("status answers a status report: {response:?}");
    };
    let mut ports: Vec<u16> = report.nodes.iter().map(|n| n.port).collect();
    ports.sort_unstable();
    let mut expected = cluster.ports().to_vec();
    expected.sort_unstable();
    assert_eq!(ports, expected);
    assert!(report.nodes.iter().all(|n| n.state == NodeState::Up));
    let held: Vec<_> = report
        .nodes
        .iter()
        .flat_map(|n| n.counters.clone())
        .collect();
    assert_eq!(held, vec![("k".to_string(), 2)]);

    let (id, response) = exchange(&mut s, &frame(2, &[3])).await;
    assert_eq!(id, 2);
    let Response::Ring(ring) = response else {
        panic!("ring answers a ring report: {response:?}");
    };
    assert_eq!(ring.nodes.len(), 3);
    let total: f64 = ring.nodes.iter().map(|n| n.share).sum();
    assert!((total - 1.0).abs() < 1e-6, "shares sum to 1: {total}");
}

#[actix_rt::test]
async fn admin_requests_add_remove_and_kill_nodes() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    // AddNode { port: None }: tag 4, Option None.
    let (_, added) = exchange(&mut s, &frame(1, &[4, 0])).await;
    let Response::NodeAdded { port: new_port, .. } = added else {
        panic!("add-node answers NodeAdded: {added:?}");
    };
    // RemoveNode { port }: tag 5, port as a varint (251, then u16 little-endian).
    let mut remove = vec![5, 251];
    remove.extend(new_port.to_le_bytes());
    let (_, removed) = exchange(&mut s, &frame(2, &remove)).await;
    assert!(
        matches!(removed, Response::NodeRemoved { port, .. } if port == new_port),
        "{removed:?}"
    );
    // KillNode { port }: tag 6, varint port: the last node, not the one we talk to.
    let victim = cluster.ports()[2];
    let mut kill = vec![6, 251];
    kill.extend(victim.to_le_bytes());
    let (_, killed) = exchange(&mut s, &frame(3, &kill)).await;
    assert!(
        matches!(killed, Response::NodeKilled { port, .. } if port == victim),
        "{killed:?}"
    );
    // PauseNode { port, millis }: tag 7, varint port, varint millis (10).
    let paused = cluster.ports()[1];
    let mut pause = vec![7, 251];
    pause.extend(paused.to_le_bytes());
    pause.push(10);
    let (_, answer) = exchange(&mut s, &frame(4, &pause)).await;
    let expected = Response::NodePaused {
        port: paused,
        millis: 10,
    };
    assert_eq!(answer, expected);
    // A port no node has: tag 7, ErrorReply { code: NoSuchNode (1), message }.
    s.write_all(&frame(5, &[6, 1])).await.unwrap();
    let (id, body) = read_frame(&mut s).await;
    assert_eq!(id, 5);
    assert_eq!(&body[..2], &[7, 1]);
}

#[actix_rt::test]
async fn add_node_on_a_chosen_port() {
    let cluster = cluster(ServerLimits::default());
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    // AddNode { port: Some(port) }: tag 4, Option Some (1), varint port.
    let mut body = vec![4, 1, 251];
    body.extend(port.to_le_bytes());
    let mut s = connect(&addr(&cluster)).await;
    let (_, added) = exchange(&mut s, &frame(1, &body)).await;
    assert!(
        matches!(added, Response::NodeAdded { port: p, .. } if p == port),
        "{added:?}"
    );
    let mut direct = connect(&format!("127.0.0.1:{port}")).await;
    let (_, answer) = exchange(&mut direct, &frame(2, &get_body("x"))).await;
    assert_eq!(
        answer,
        Response::Count {
            key: "x".into(),
            value: 0
        }
    );
}

#[actix_rt::test]
async fn pipelined_requests_are_matched_by_client_ids() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    let ids = [u64::MAX, 42, 7, 1 << 40];
    let mut batch = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        batch.extend(frame(*id, &update_body(&format!("p{i}"), i as u8 + 1)));
    }
    s.write_all(&batch).await.unwrap();
    let mut answers = HashMap::new();
    for _ in ids {
        let (id, response) = read_response(&mut s).await;
        answers.insert(id, response);
    }
    for (i, id) in ids.iter().enumerate() {
        let expected = Response::Updated {
            key: format!("p{i}"),
            value: i as i64 + 1,
        };
        assert_eq!(answers[id], expected);
    }
}

#[actix_rt::test]
async fn ten_thousand_pipelined_updates_give_the_exact_count() {
    const N: usize = 10_000;
    let cluster = cluster(ServerLimits::default());
    let s = connect(&addr(&cluster)).await;
    let (mut read, mut write) = s.into_split();
    let mut batch = Vec::with_capacity(N * 24);
    for id in 1..=N as u64 {
        batch.extend(frame(id, &update_body("hits", 1)));
    }
    let send = async move { write.write_all(&batch).await.unwrap() };
    let receive = async {
        let mut seen = vec![false; N + 1];
        let mut highest = 0;
        for _ in 0..N {
            let (id, body) = read_frame_half(&mut read).await;
            assert!(!seen[id as usize], "one answer per id");
            seen[id as usize] = true;
            let Ok(Response::Updated { value, .. }) = ringkv::protocol::codec::decode(&body) else {
                panic!("request {id} failed");
            };
            highest = highest.max(value);
        }
        highest
    };
    let ((), highest) = tokio::join!(send, receive);
    assert_eq!(highest, N as i64);
    assert_eq!(cluster.get("hits").await.unwrap(), N as i64);
}

/// [`read_frame`] for a read half.
async fn read_frame_half(read: &mut tokio::net::tcp::OwnedReadHalf) -> (u64, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let len = read.read_u32().await.unwrap() as usize;
    let mut rest = vec![0; len];
    read.read_exact(&mut rest).await.unwrap();
    let id = u64::from_be_bytes(rest[5..13].try_into().unwrap());
    (id, rest[13..].to_vec())
}

#[actix_rt::test]
async fn a_client_may_close_its_side_and_still_get_answers() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    let mut batch = frame(1, &update_body("half", 2));
    batch.extend(frame(2, &get_body("half")));
    s.write_all(&batch).await.unwrap();
    s.shutdown().await.unwrap();
    let mut answers = HashMap::new();
    for _ in 0..2 {
        let (id, response) = read_response(&mut s).await;
        answers.insert(id, response);
    }
    assert_eq!(
        answers[&1],
        Response::Updated {
            key: "half".into(),
            value: 2
        }
    );
    assert!(matches!(answers[&2], Response::Count { value, .. } if value == 2 || value == 0));
    expect_closed(&mut s).await;
}
