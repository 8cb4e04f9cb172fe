//! Durability through the embedding API: a killed node reloads its own log, a removed node's
//! directory goes only after its handoff, and a cluster restarted in a new actor system comes back
//! with its ring and counts.

use std::path::Path;
use std::time::{Duration, Instant};

use ringkv::persist::{read_meta, FsyncPolicy};
use ringkv::protocol::NodeShare;
use ringkv::replication::ReplicationConfig;
use ringkv::{Cluster, ClusterConfig};

fn config(dir: &Path, nodes: usize, restart: bool) -> ClusterConfig {
    ClusterConfig {
        nodes,
        base_port: 0,
        replication: ReplicationConfig {
            replicas: 1,
            ..Default::default()
        },
        restart,
        restart_backoff: Duration::from_millis(50),
        data_dir: Some(dir.to_owned()),
        fsync: FsyncPolicy::Always,
        ..Default::default()
    }
}

/// Every `(key, value)` the nodes hold, summed over nodes.
async fn held(cluster: &Cluster) -> i64 {
    let report = cluster.status_all().await.unwrap();
    report
        .nodes
        .iter()
        .flat_map(|n| n.counters.iter().map(|(_, v)| *v))
        .sum()
}

#[actix_rt::test]
async fn a_killed_node_reloads_its_own_log_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    // One node and one copy: nobody else could refill it.
    let cluster = Cluster::start(config(dir.path(), 1, true)).unwrap();
    for i in 0..100i64 {
        cluster.update(&format!("k{i}"), i + 1).await.unwrap();
    }
    // Its log keeps every key, so the kill reports none lost.
    assert_eq!(cluster.kill_node(cluster.ports()[0]).await.unwrap(), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while held(&cluster).await != 5050 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(held(&cluster).await, 5050);
    // It counts on in a new incarnation, on top of what it reloaded.
    assert_eq!(cluster.update("k0", 1).await.unwrap(), 2);
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn a_removed_node_s_directory_goes_after_its_handoff() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(config(dir.path(), 3, false)).unwrap();
    for i in 0..300i64 {
        cluster.update(&format!("k{i}"), 1).await.unwrap();
    }
    assert!(dir.path().join("node-3").exists());
    cluster.remove_node(cluster.ports()[2]).await.unwrap();
    assert!(!dir.path().join("node-3").exists());
    assert_eq!(held(&cluster).await, 300);
    let meta = read_meta(dir.path()).unwrap().unwrap();
    assert_eq!(meta.nodes.iter().map(|n| n.0).collect::<Vec<_>>(), [1, 2]);

    let (port, _) = cluster.add_node(None).await.unwrap();
    assert!(dir.path().join("node-4").exists());
    let meta = read_meta(dir.path()).unwrap().unwrap();
    assert_eq!(meta.nodes.last(), Some(&(4, port)));
    assert_eq!(held(&cluster).await, 300);
    cluster.shutdown().await;
}

#[test]
fn a_cluster_restarted_in_a_new_system_has_its_ring_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let before = actix_rt::System::new().block_on(async {
        let cluster = Cluster::start(config(dir.path(), 3, true)).unwrap();
        cluster.remove_node(cluster.ports()[0]).await.unwrap();
        cluster.add_node(None).await.unwrap();
        for i in 0..200i64 {
            cluster.update(&format!("k{i}"), i).await.unwrap();
        }
        let ring = cluster.ring().await.unwrap();
        cluster.shutdown().await;
        ring
    });
    actix_rt::System::new().block_on(async {
        let cluster = Cluster::start(config(dir.path(), 3, true)).unwrap();
        let after = cluster.ring().await.unwrap();
        // The same nodes own the same shares; only the ports are new (base port 0).
        let shares = |r: &ringkv::protocol::RingReport| -> Vec<_> {
            let no_port = |n: &NodeShare| NodeShare {
                addr: None,
                port: 0,
                ..n.clone()
            };
            r.nodes.iter().map(no_port).collect()
        };
        assert_eq!(shares(&after), shares(&before));
        for i in 0..200i64 {
            assert_eq!(cluster.get(&format!("k{i}")).await.unwrap(), i);
        }
        cluster.shutdown().await;
    });
}
