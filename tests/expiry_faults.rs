//! Expiring counters under faults: keys that expire while a replica is killed (and back from its
//! log) or paused, and keys that expire across a move (`add-node`): once the deadline has passed
//! no expired key reads again, from any replica, through read repair and anti-entropy; a new
//! increment counts from 0; a deadline that has not passed moves with its key.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringkv::protocol::{ExpireCond, ExpireOp, StatusReport};
use ringkv::replication::{NodeState, ReplicationConfig};
use ringkv::{Cluster, ClusterConfig, Request, Response};

const KEYS: usize = 20;

fn config(data_dir: Option<&std::path::Path>) -> ClusterConfig {
    ClusterConfig {
        nodes: 3,
        base_port: 0,
        replication: ReplicationConfig {
            replicas: 3,
            ..Default::default()
        },
        request_timeout: Duration::from_millis(300),
        restart_backoff: Duration::from_millis(200),
        anti_entropy_interval: Duration::from_millis(200),
        data_dir: data_dir.map(|d| d.to_owned()),
        ..Default::default()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every key each node lists (primary copies and replicas), with its values.
fn copies(report: &StatusReport) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for node in &report.nodes {
        for (key, value) in node.counters.iter().chain(&node.replicas) {
            out.entry(key.clone()).or_default().push(*value);
        }
    }
    out
}

async fn expire(cluster: &Cluster, key: &str, op: ExpireOp) -> i64 {
    let request = Request::Expire {
        key: key.into(),
        op,
    };
    match cluster.execute(request).await {
        Response::Expiry { answer, .. } => answer,
        other => panic!("expire {key}: {other:?}"),
    }
}

async fn read(cluster: &Cluster, key: &str) -> Option<i64> {
    match cluster.execute(Request::Read { key: key.into() }).await {
        Response::Value { value, .. } => value,
        other => panic!("read {key}: {other:?}"),
    }
}

async fn all_up(cluster: &Cluster) -> StatusReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = cluster.status_all().await.unwrap();
        if report.nodes.iter().all(|n| n.state == NodeState::Up) {
            return report;
        }
        assert!(Instant::now() < deadline, "never all up: {report:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `e0..e19` (5 each) and `kept` (5).
async fn write_keys(cluster: &Cluster) {
    for i in 0..KEYS {
        cluster.update(&format!("e{i}"), 5).await.unwrap();
    }
    cluster.update("kept", 5).await.unwrap();
}

/// Gives every `e` key the deadline `ms` from now (one deadline for all) and `kept` one an hour
/// away.
async fn expire_keys(cluster: &Cluster, ms: i64) -> i64 {
    let at = |at| ExpireOp::At {
        at,
        cond: ExpireCond::Always,
    };
    let deadline = now_ms() + ms;
    for i in 0..KEYS {
        assert_eq!(expire(cluster, &format!("e{i}"), at(deadline)).await, 1);
    }
    assert!(
        now_ms() < deadline,
        "the EXPIREs took too long for the test"
    );
    assert_eq!(expire(cluster, "kept", at(now_ms() + 3_600_000)).await, 1);
    deadline
}

/// Sleeps until `deadline` (unix ms) has passed by 100 ms.
async fn past(deadline: i64) {
    let left = (deadline + 100 - now_ms()).max(0) as u64;
    actix_rt::time::sleep(Duration::from_millis(left)).await;
}

/// After the deadline, with every node up, anti-entropy and reads run for a while: no `e` key is
/// listed or read by anyone, `kept` keeps its value and deadline on all three replicas, and an
/// increment of an expired key counts from 0.
async fn nothing_expired_comes_back(cluster: &Cluster) {
    for round in 0..6 {
        let report = all_up(cluster).await;
        let listed = copies(&report);
        for i in 0..KEYS {
            let key = format!("e{i}");
            assert!(
                !listed.contains_key(&key),
                "round {round}: {key} came back: {listed:?}"
            );
            assert_eq!(read(cluster, &key).await, None, "round {round}: {key}");
            assert_eq!(expire(cluster, &key, ExpireOp::Deadline).await, -2);
        }
        assert_eq!(listed.get("kept"), Some(&vec![5, 5, 5]), "round {round}");
        actix_rt::time::sleep(Duration::from_millis(150)).await;
    }
    let deadline = expire(cluster, "kept", ExpireOp::Deadline).await;
    assert!(
        deadline > now_ms() + 3_000_000,
        "kept's deadline: {deadline}"
    );
    assert_eq!(cluster.update("e0", 2).await.unwrap(), 2, "counts from 0");
    assert_eq!(
        expire(cluster, "e0", ExpireOp::Deadline).await,
        -1,
        "without a TTL"
    );
}

#[actix_rt::test]
async fn keys_expiring_while_a_replica_is_killed_do_not_come_back_from_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(config(Some(dir.path()))).unwrap();
    write_keys(&cluster).await;
    let victim = cluster.ports()[2];
    cluster.kill_node(victim).await.unwrap();
    // The victim missed the EXPIREs: it comes back from its log with the old states, no deadline.
    let deadline = expire_keys(&cluster, 1_000).await;
    past(deadline).await;
    nothing_expired_comes_back(&cluster).await;
}

#[actix_rt::test]
async fn keys_expiring_while_a_replica_is_paused_do_not_come_back() {
    let cluster = Cluster::start(config(None)).unwrap();
    write_keys(&cluster).await;
    let victim = cluster.ports()[1];
    let pause = cluster.pause_node(victim, Duration::from_millis(900));
    let expiring = async {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        let deadline = expire_keys(&cluster, 2_500).await;
        // More counts before the deadline, which the paused replica also misses.
        for i in 0..KEYS {
            cluster.update(&format!("e{i}"), 1).await.unwrap();
        }
        assert!(now_ms() < deadline, "the counts came after the deadline");
        deadline
    };
    let (paused, deadline) = futures_util::join!(pause, expiring);
    paused.unwrap();
    past(deadline).await;
    nothing_expired_comes_back(&cluster).await;
}

#[actix_rt::test]
async fn keys_expiring_across_a_move_do_not_come_back_and_deadlines_move() {
    let cluster = Cluster::start(config(None)).unwrap();
    write_keys(&cluster).await;
    let deadline = expire_keys(&cluster, 1_500).await;
    let (port, moved) = cluster.add_node(None).await.unwrap();
    assert!(moved > 0, "keys moved to {port}");
    past(deadline).await;
    nothing_expired_comes_back(&cluster).await;
    // And a key expiring after the move, on its new replicas.
    cluster.update("late", 3).await.unwrap();
    let at = ExpireOp::At {
        at: now_ms() + 300,
        cond: ExpireCond::Always,
    };
    assert_eq!(expire(&cluster, "late", at).await, 1);
    cluster.add_node(None).await.unwrap();
    past(now_ms() + 300).await;
    let report = all_up(&cluster).await;
    assert!(!copies(&report).contains_key("late"));
    assert_eq!(read(&cluster, "late").await, None);
}
