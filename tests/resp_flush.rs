//! FLUSHALL leaves tombstones: a replica that was killed during the flush comes back from its log
//! with the old keys, and repair (hints, anti-entropy) removes them instead of bringing them
//! back; and FLUSHALL is refused while W nodes are down.

use std::time::{Duration, Instant};

use redis::Value;
use ringkv::protocol::StatusReport;
use ringkv::replication::{NodeState, ReplicationConfig};
use ringkv::resp::RespLimits;
use ringkv::{Cluster, ClusterConfig};

const KEYS: usize = 50;

fn config(data_dir: &std::path::Path, restart_backoff: Duration) -> ClusterConfig {
    ClusterConfig {
        nodes: 3,
        base_port: 0,
        replication: ReplicationConfig {
            replicas: 3,
            ..Default::default()
        },
        request_timeout: Duration::from_millis(300),
        restart_backoff,
        anti_entropy_interval: Duration::from_millis(200),
        data_dir: Some(data_dir.to_owned()),
        ..Default::default()
    }
}

/// Runs the command `words` on the RESP port, off the actix thread.
async fn redis(port: u16, words: &[&str]) -> redis::RedisResult<Value> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let url = format!("redis://127.0.0.1:{port}/");
        let mut con = redis::Client::open(url)?.get_connection()?;
        let mut cmd = redis::cmd(&words[0]);
        for w in &words[1..] {
            cmd.arg(w);
        }
        cmd.query(&mut con)
    })
    .await
    .expect("the client thread")
}

/// How many copies of any key the nodes hold.
fn copies(report: &StatusReport) -> usize {
    (report.nodes.iter())
        .map(|n| n.counters.len() + n.replicas.len())
        .sum()
}

/// Polls until every node is up and holds no key (or panics after 10 s).
async fn until_all_gone(cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = cluster.status_all().await.unwrap();
        if report.nodes.iter().all(|n| n.state == NodeState::Up) && copies(&report) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "keys stayed: {report:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(cluster: &Cluster) -> ringkv::resp::RespServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ringkv::resp::start(listener, cluster.gateway(), RespLimits::default()).unwrap()
}

#[actix_rt::test]
async fn a_replica_killed_during_flushall_does_not_bring_its_keys_back() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(config(dir.path(), Duration::from_millis(1500))).unwrap();
    let port = start(&cluster).port();
    for i in 0..KEYS {
        cluster.update(&format!("k{i}"), 5).await.unwrap();
    }
    let victim = cluster.ports()[2];
    cluster.kill_node(victim).await.unwrap();
    // The victim is down (its restart waits 1.5 s): it misses the flush, keeps the keys in its log.
    assert_eq!(redis(port, &["FLUSHALL"]).await.unwrap(), Value::Okay);
    let report = cluster.status_all().await.unwrap();
    let down = report.nodes.iter().find(|n| n.port == victim).unwrap();
    assert_ne!(down.state, NodeState::Up, "the victim missed the flush");
    until_all_gone(&cluster).await;
    assert_eq!(redis(port, &["DBSIZE"]).await.unwrap(), Value::Int(0));
    // Anti-entropy has run since; reads repair too: still gone.
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(redis(port, &["DBSIZE"]).await.unwrap(), Value::Int(0));
    let keys = redis(port, &["KEYS", "*"]).await.unwrap();
    assert_eq!(keys, Value::Array(vec![]));
    assert_eq!(redis(port, &["GET", "k7"]).await.unwrap(), Value::Nil);
    assert_eq!(cluster.get("k7").await.unwrap(), 0);
    assert_eq!(copies(&cluster.status_all().await.unwrap()), 0);
    assert_eq!(redis(port, &["INCR", "k7"]).await.unwrap(), Value::Int(1));
}

#[actix_rt::test]
async fn flushall_is_refused_while_w_nodes_are_down() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(config(dir.path(), Duration::from_secs(3))).unwrap();
    let port = start(&cluster).port();
    cluster.update("k", 1).await.unwrap();
    let ports = cluster.ports();
    cluster.kill_node(ports[1]).await.unwrap();
    cluster.kill_node(ports[2]).await.unwrap();
    let e = redis(port, &["FLUSHALL"]).await.expect_err("refused");
    let text = e.to_string();
    assert!(
        text.contains("FLUSHALL needs fewer than W=2 nodes down"),
        "{text}"
    );
}
