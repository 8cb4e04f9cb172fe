//! Deletes and sets across replicas: a replica that missed a delete (paused, or killed and back
//! from its log) does not bring the old value back, through read repair or anti-entropy; and the
//! embedding API's `delete` and `set`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringkv::protocol::StatusReport;
use ringkv::replication::{NodeState, ReplicationConfig};
use ringkv::{Cluster, ClusterConfig};

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

/// The values each key has on the nodes that list it.
fn copies(report: &StatusReport) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for node in &report.nodes {
        for (key, value) in node.counters.iter().chain(&node.replicas) {
            out.entry(key.clone()).or_default().push(*value);
        }
    }
    out
}

/// Polls `status` until every node is up and `done` holds of the report (or panics after 10 s).
async fn until(cluster: &Cluster, done: impl Fn(&StatusReport) -> bool) -> StatusReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = cluster.status_all().await.unwrap();
        if report.nodes.iter().all(|n| n.state == NodeState::Up) && done(&report) {
            return report;
        }
        assert!(Instant::now() < deadline, "never settled: {report:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes `gone` and sets `set` to 4 while one replica cannot hear, then checks that once it is
/// back every replica agrees and nothing came back.
async fn missed_delete_stays_deleted(cluster: &Cluster, missed: impl std::future::Future) {
    missed.await;
    assert_eq!(cluster.delete("gone").await.unwrap(), Some(5));
    assert_eq!(cluster.set("set", 4).await.unwrap(), Some(5));
    let report = until(cluster, |r| {
        let c = copies(r);
        !c.contains_key("gone") && c.get("set") == Some(&vec![4, 4, 4])
    })
    .await;
    assert_eq!(copies(&report)["kept"], vec![5, 5, 5]);
    // Anti-entropy has run since; reads repair too: still gone.
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cluster.get("gone").await.unwrap(), 0);
    let report = cluster.status_all().await.unwrap();
    assert!(!copies(&report).contains_key("gone"), "{report:?}");
    assert_eq!(cluster.delete("gone").await.unwrap(), None);
    assert_eq!(cluster.update("gone", 2).await.unwrap(), 2, "counts from 0");
}

async fn write_three(cluster: &Cluster) {
    for key in ["gone", "set", "kept"] {
        cluster.update(key, 5).await.unwrap();
    }
}

#[actix_rt::test]
async fn a_paused_replica_that_missed_a_delete_does_not_bring_it_back() {
    let cluster = Cluster::start(config(None)).unwrap();
    write_three(&cluster).await;
    let victim = cluster.ports()[1];
    let pause = cluster.pause_node(victim, Duration::from_millis(800));
    missed_delete_stays_deleted(&cluster, pause).await;
}

#[actix_rt::test]
async fn a_killed_replica_back_from_its_log_does_not_bring_a_delete_back() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(config(Some(dir.path()))).unwrap();
    write_three(&cluster).await;
    let victim = cluster.ports()[2];
    let kill = cluster.kill_node(victim);
    missed_delete_stays_deleted(&cluster, kill).await;
}

#[actix_rt::test]
async fn set_and_delete_answer_the_value_before() {
    let cluster = Cluster::start(config(None)).unwrap();
    assert_eq!(cluster.delete("k").await.unwrap(), None);
    assert_eq!(cluster.set("k", -7).await.unwrap(), None);
    assert_eq!(cluster.get("k").await.unwrap(), -7);
    assert_eq!(cluster.update("k", 10).await.unwrap(), 3);
    assert_eq!(cluster.set("k", 0).await.unwrap(), Some(3));
    assert_eq!(cluster.delete("k").await.unwrap(), Some(0));
    assert_eq!(cluster.get("k").await.unwrap(), 0);
}
