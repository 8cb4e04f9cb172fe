//! Tombstone collection over a real cluster: deleted keys' tombstones go to 0 on every replica
//! once all of them held them for the grace period, and a replica that was away during the deletes
//! (paused, or killed and back from its log with the old counts) brings no key back, before or
//! after the collection. A collection that dropped tombstones while a replica was away, or that
//! trusted one replica's age, would let that replica's old counts come back here.

use std::time::{Duration, Instant};

use ringkv::actors::Figures;
use ringkv::protocol::StatusReport;
use ringkv::replication::{NodeState, ReplicationConfig};
use ringkv::{Cluster, ClusterConfig};

const KEYS: usize = 200;

fn config(data_dir: Option<&std::path::Path>, backoff: Duration) -> ClusterConfig {
    ClusterConfig {
        nodes: 3,
        base_port: 0,
        replication: ReplicationConfig {
            replicas: 3,
            ..Default::default()
        },
        request_timeout: Duration::from_millis(300),
        restart_backoff: backoff,
        anti_entropy_interval: Duration::from_millis(200),
        data_dir: data_dir.map(|d| d.to_owned()),
        tombstone_grace: Duration::from_secs(1),
        ..Default::default()
    }
}

fn key(i: usize) -> String {
    format!("k{i}")
}

/// The keys listed anywhere, and the keys the nodes hold beyond the listed ones (tombstones
/// here: every node lists fewer than its page). `status` itself counts no tombstone: no node's
/// `... and N more keys` is ever above 0 here.
async fn listed_and_held(cluster: &Cluster, report: &StatusReport) -> (Vec<String>, u64) {
    let mut listed = Vec::new();
    for node in &report.nodes {
        assert_eq!(node.more, 0, "status counted a deleted key: {report:?}");
        for (k, _) in node.counters.iter().chain(&node.replicas) {
            listed.push(k.clone());
        }
    }
    let figures = cluster
        .router()
        .send(Figures { arcs: false })
        .await
        .unwrap();
    let held: u64 = figures.nodes.iter().map(|n| n.keys).sum();
    let beyond = held.saturating_sub(listed.len() as u64);
    (listed, beyond)
}

/// Checks that no deleted key is listed or reads other than 0.
async fn nothing_came_back(cluster: &Cluster, report: &StatusReport) {
    let (listed, _) = listed_and_held(cluster, report).await;
    assert!(
        listed.iter().all(|k| k == "kept"),
        "a deleted key came back: {listed:?}"
    );
    for i in (0..KEYS).step_by(17) {
        assert_eq!(cluster.get(&key(i)).await.unwrap(), 0, "{}", key(i));
    }
}

/// Writes the keys, takes one replica away with `away`, deletes every key, then waits (bounded)
/// until every node is up again and holds no tombstone, checking all along that nothing came back.
async fn deletes_are_collected_and_stay_deleted(cluster: &Cluster, away: impl std::future::Future) {
    for i in 0..KEYS {
        cluster.update(&key(i), 5).await.unwrap();
    }
    cluster.update("kept", 3).await.unwrap();
    away.await;
    for i in 0..KEYS {
        assert_eq!(cluster.delete(&key(i)).await.unwrap(), Some(5));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut held_at_start = None;
    loop {
        let report = cluster.status().await.unwrap();
        nothing_came_back(cluster, &report).await;
        let (_, held) = listed_and_held(cluster, &report).await;
        held_at_start.get_or_insert(held);
        let up = report.nodes.iter().all(|n| n.state == NodeState::Up);
        if up && held == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tombstones never collected: {held} held ({held_at_start:?} at first): {report:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held_at_start.unwrap() > 0,
        "the deletes left tombstones first"
    );
    // Anti-entropy and further passes since: still nothing back, and a key counts from 0.
    actix_rt::time::sleep(Duration::from_millis(1_000)).await;
    let report = cluster.status().await.unwrap();
    nothing_came_back(cluster, &report).await;
    assert_eq!(listed_and_held(cluster, &report).await.1, 0);
    assert_eq!(cluster.get("kept").await.unwrap(), 3);
    assert_eq!(cluster.update(&key(0), 2).await.unwrap(), 2);
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cluster.get(&key(0)).await.unwrap(), 2);
}

#[actix_rt::test]
async fn tombstones_are_collected_and_a_paused_replica_brings_nothing_back() {
    let cluster = Cluster::start(config(None, Duration::from_millis(200))).unwrap();
    let victim = cluster.ports()[1];
    // Paused for three grace periods: a collection that ignored it would drop meanwhile.
    let away = async {
        cluster
            .pause_node(victim, Duration::from_secs(3))
            .await
            .unwrap()
    };
    deletes_are_collected_and_stay_deleted(&cluster, away).await;
}

#[actix_rt::test]
async fn tombstones_are_collected_and_a_replica_back_from_its_log_brings_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    // Down for three grace periods, then back with its log's old counts.
    let cluster = Cluster::start(config(Some(dir.path()), Duration::from_secs(3))).unwrap();
    let victim = cluster.ports()[2];
    let away = async {
        cluster.kill_node(victim).await.unwrap();
    };
    deletes_are_collected_and_stay_deleted(&cluster, away).await;
}

/// The keys each node of a `ringkv serve` holds, tombstones included, from `/metrics`.
fn held_per_node(server: &crate::support::http::HttpServe) -> Vec<u64> {
    let (_, _, body) = server.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with("ringkv_node_keys{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// `ringkv serve` takes part in a cluster of processes even when alone (it always has a
/// membership address); while every node is its own it must collect tombstones as the embedded
/// cluster does (it used to keep them for ever).
#[test]
fn ringkv_serve_alone_collects_tombstones() {
    let args = [
        "--in-memory",
        "--nodes",
        "3",
        "--tombstone-grace",
        "1s",
        "--anti-entropy-interval",
        "200ms",
    ];
    let server = crate::support::http::HttpServe::start(&args);
    let addr = format!("127.0.0.1:{}", server.nodes[0]);
    let client = |words: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["client", "--addr", &addr])
            .args(words)
            .output()
            .expect("client runs");
        assert!(out.status.success(), "{words:?}: {out:?}");
    };
    for i in 0..3 {
        client(&["update", &key(i), "5"]);
        client(&["delete", &key(i)]);
    }
    client(&["update", "kept", "2"]);
    assert_eq!(
        held_per_node(&server),
        [4, 4, 4],
        "tombstones held at first"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while held_per_node(&server) != [1, 1, 1] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        held_per_node(&server),
        [1, 1, 1],
        "every tombstone collected"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &addr, "get", "kept"])
        .output()
        .expect("client runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Count for kept: 2\n");
}
