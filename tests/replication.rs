//! Replication through the embedding API: quorums, crashes and restarts, hints, pauses, re-replication.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringkv::protocol::StatusReport;
use ringkv::replication::{NodeState, ReplicationConfig};
use ringkv::{Cluster, ClusterConfig, Error};

fn config(nodes: usize, replicas: usize) -> ClusterConfig {
    ClusterConfig {
        nodes,
        base_port: 0,
        replication: ReplicationConfig {
            replicas,
            ..Default::default()
        },
        request_timeout: Duration::from_millis(300),
        restart_backoff: Duration::from_millis(200),
        anti_entropy_interval: Duration::from_millis(300),
        ..Default::default()
    }
}

/// How many nodes hold each key (primary or replica) and with which values.
fn copies(report: &StatusReport) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for node in &report.nodes {
        for (key, value) in node.counters.iter().chain(&node.replicas) {
            out.entry(key.clone()).or_default().push(*value);
        }
    }
    out
}

/// Polls `status` until every node is up (or panics after 10 s).
async fn until_all_up(cluster: &Cluster) -> StatusReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = cluster.status_all().await.unwrap();
        if report.nodes.iter().all(|n| n.state == NodeState::Up) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "nodes never came back: {report:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn every_key_has_r_copies() {
    let cluster = Cluster::start(config(5, 3)).unwrap();
    for i in 0..200 {
        cluster.update(&format!("k{i}"), 3).await.unwrap();
    }
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    let report = cluster.status_all().await.unwrap();
    assert_eq!(
        (report.replicas, report.write_quorum, report.read_quorum),
        (3, 2, 2)
    );
    let copies = copies(&report);
    assert_eq!(copies.len(), 200);
    assert!(copies.values().all(|v| v == &vec![3, 3, 3]), "{copies:?}");
    // Exactly one primary per key.
    let primaries: usize = report.nodes.iter().map(|n| n.counters.len()).sum();
    assert_eq!(primaries, 200);
}

#[actix_rt::test]
async fn a_crashed_node_loses_nothing_and_comes_back_refilled() {
    let cluster = Cluster::start(config(3, 3)).unwrap();
    for i in 0..100 {
        cluster.update(&format!("k{i}"), 1).await.unwrap();
    }
    let victim = cluster.ports()[1];
    assert_eq!(
        cluster.kill_node(victim).await.unwrap(),
        0,
        "no key is lost with R=3"
    );
    let down = cluster.status_all().await.unwrap();
    assert_eq!(down.nodes[1].state, NodeState::Down);
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", victim)).is_err(),
        "a crashed node's port is closed"
    );
    // Updates keep succeeding while W=2 of 3 nodes live.
    for i in 0..100 {
        cluster.update(&format!("k{i}"), 1).await.unwrap();
    }
    for i in 0..100 {
        assert_eq!(cluster.get(&format!("k{i}")).await.unwrap(), 2);
    }
    let report = until_all_up(&cluster).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", victim)).is_ok(),
        "the restarted node listens on its port again"
    );
    let refilled = &report.nodes[1];
    assert_eq!(
        refilled.counters.len() + refilled.replicas.len(),
        100,
        "refilled from replicas"
    );
    assert!(copies(&report).values().all(|v| v == &vec![2, 2, 2]));
}

#[actix_rt::test]
async fn with_a_node_down_writes_go_to_a_hinted_substitute() {
    let cluster = Cluster::start(ClusterConfig {
        restart: false,
        ..config(5, 3)
    })
    .unwrap();
    // Pause (not kill) so the node stays on the ring, marked down after one timeout.
    let victim = cluster.ports()[0];
    cluster
        .pause_node(victim, Duration::from_millis(1500))
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for i in 0..60 {
        outcomes.push(cluster.update(&format!("h{i}"), 1).await);
    }
    let unknown = outcomes
        .iter()
        .filter(|r| matches!(r, Err(Error::Uncertain(_))))
        .count();
    assert!(
        unknown <= 1,
        "only the first write to the paused node may time out: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(Error::Uncertain(_)))));
    let report = cluster.status_all().await.unwrap();
    assert_eq!(report.nodes[0].state, NodeState::Down);
    let hints: u64 = report.nodes.iter().map(|n| n.hints).sum();
    assert!(hints > 0, "substitutes keep hints: {report:?}");
    // After the pause the node is probed, gets its hints back, and is up again.
    let report = until_all_up(&cluster).await;
    assert_eq!(report.nodes.iter().map(|n| n.hints).sum::<u64>(), 0);
    for (i, outcome) in outcomes.iter().enumerate() {
        let v = cluster.get(&format!("h{i}")).await.unwrap();
        match outcome {
            Ok(_) => assert_eq!(v, 1, "acknowledged h{i}"),
            Err(_) => assert!(v <= 1, "h{i} = {v}"),
        }
    }
}

#[actix_rt::test]
async fn too_few_replicas_is_a_clear_failure() {
    let cluster = Cluster::start(ClusterConfig {
        restart: false,
        ..config(3, 3)
    })
    .unwrap();
    cluster.update("a", 1).await.unwrap();
    let [_, b, c] = [cluster.ports()[0], cluster.ports()[1], cluster.ports()[2]];
    cluster.pause_node(b, Duration::from_secs(3)).await.unwrap();
    cluster.pause_node(c, Duration::from_secs(3)).await.unwrap();
    // The first calls time out and mark the nodes down; then the quorum check refuses at once.
    let _ = cluster.update("a", 1).await;
    let _ = cluster.update("a", 1).await;
    match cluster.update("a", 1).await {
        Err(Error::Unavailable(msg)) => {
            assert!(
                msg.contains("only 1 of 3 replicas of 'a' are reachable; the write quorum is 2"),
                "{msg}"
            )
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(matches!(cluster.get("a").await, Err(Error::Unavailable(_))));
}

#[actix_rt::test]
async fn without_restart_a_crashed_nodes_ranges_get_new_replicas() {
    let cluster = Cluster::start(ClusterConfig {
        restart: false,
        ..config(4, 3)
    })
    .unwrap();
    for i in 0..200 {
        cluster.update(&format!("k{i}"), 1).await.unwrap();
    }
    cluster.kill_node(cluster.ports()[2]).await.unwrap();
    let report = cluster.status_all().await.unwrap();
    assert_eq!(report.nodes.len(), 3);
    let copies = copies(&report);
    assert_eq!(copies.len(), 200);
    assert!(copies.values().all(|v| v == &vec![1, 1, 1]), "{copies:?}");
}

#[actix_rt::test]
async fn membership_changes_keep_r_copies_and_every_count() {
    let cluster = Cluster::start(config(4, 3)).unwrap();
    for i in 0..300 {
        cluster.update(&format!("k{i}"), 2).await.unwrap();
    }
    let (added, _) = cluster.add_node(None).await.unwrap();
    let check = |report: &StatusReport| {
        let copies = copies(report);
        assert_eq!(copies.len(), 300);
        assert!(copies.values().all(|v| v == &vec![2, 2, 2]));
    };
    check(&cluster.status_all().await.unwrap());
    cluster.remove_node(cluster.ports()[0]).await.unwrap();
    check(&cluster.status_all().await.unwrap());
    cluster.remove_node(added).await.unwrap();
    check(&cluster.status_all().await.unwrap());
}

#[actix_rt::test]
async fn read_repair_fixes_a_replica_that_missed_writes() {
    let cluster = Cluster::start(ClusterConfig {
        anti_entropy_interval: Duration::ZERO,
        ..config(3, 3)
    })
    .unwrap();
    let victim = cluster.ports()[2];
    cluster
        .pause_node(victim, Duration::from_millis(700))
        .await
        .unwrap();
    for _ in 0..5 {
        let _ = cluster.update("r", 1).await;
    }
    until_all_up(&cluster).await;
    let value = cluster.get("r").await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    let report = cluster.status_all().await.unwrap();
    assert!(
        copies(&report)["r"].iter().all(|&v| v == value),
        "{report:?}"
    );
}
