//! In-process tests of the Router and its nodes through the embedding API (`Cluster`), with one
//! copy of each key (`--replicas 1`), the seed's model: replication has its own tests.

use ringkv::replication::ReplicationConfig;
use ringkv::{Cluster, ClusterConfig, Error};

fn start(nodes: usize) -> Cluster {
    Cluster::start(ClusterConfig {
        nodes,
        base_port: 0,
        replication: ReplicationConfig {
            replicas: 1,
            ..Default::default()
        },
        restart: false,
        ..Default::default()
    })
    .expect("cluster starts on free ports")
}

/// Sum of every node's counters in `status`, and the number of distinct keys seen.
async fn totals(cluster: &Cluster) -> (i64, usize) {
    let report = cluster.status_all().await.unwrap();
    let mut keys = std::collections::HashSet::new();
    let mut sum = 0;
    for node in &report.nodes {
        for (key, value) in &node.counters {
            assert!(keys.insert(key.clone()), "{key} held by two nodes");
            sum += value;
        }
    }
    (sum, keys.len())
}

#[actix_rt::test]
async fn updates_and_gets_across_nodes() {
    let cluster = start(3);
    for i in 0..300i64 {
        assert_eq!(
            cluster.update(&format!("k{i}"), i + 1).await.unwrap(),
            i + 1
        );
    }
    for i in 0..300i64 {
        assert_eq!(cluster.get(&format!("k{i}")).await.unwrap(), i + 1);
    }
    assert_eq!(cluster.get("never").await.unwrap(), 0);
    let report = cluster.status_all().await.unwrap();
    assert_eq!(report.nodes.len(), 3);
    assert!(
        report.nodes.iter().all(|n| !n.counters.is_empty()),
        "keys spread over all nodes"
    );
    assert_eq!(totals(&cluster).await, ((1..=300).sum(), 300));
}

#[actix_rt::test]
async fn overflow_is_an_error_and_changes_nothing() {
    let cluster = start(2);
    cluster.update("big", i64::MAX - 1).await.unwrap();
    assert_eq!(cluster.update("big", 2).await, Err(Error::Overflow));
    assert_eq!(cluster.get("big").await.unwrap(), i64::MAX - 1);
}

#[actix_rt::test]
async fn bad_keys_are_refused() {
    let cluster = start(1);
    assert!(matches!(
        cluster.update("", 1).await,
        Err(Error::BadRequest(_))
    ));
    let long = "x".repeat(ringkv::command::MAX_KEY_LEN + 1);
    assert!(matches!(
        cluster.get(&long).await,
        Err(Error::BadRequest(_))
    ));
}

#[actix_rt::test]
async fn add_node_moves_about_one_share_and_keeps_every_count() {
    let cluster = start(4);
    let n = 5000u64;
    for i in 0..n {
        cluster.update(&format!("key-{i}"), 2).await.unwrap();
    }
    let (port, moved) = cluster.add_node(None).await.unwrap();
    let ideal = n as f64 / 5.0;
    assert!(
        (moved as f64 - ideal).abs() < 0.35 * ideal,
        "moved {moved}, ideal {ideal}"
    );
    let report = cluster.ring().await.unwrap();
    let new = report.nodes.iter().find(|s| s.port == port).unwrap();
    assert_eq!(new.keys, moved);
    for i in 0..n {
        assert_eq!(cluster.get(&format!("key-{i}")).await.unwrap(), 2);
    }
    assert_eq!(totals(&cluster).await, (2 * n as i64, n as usize));
}

#[actix_rt::test]
async fn remove_node_hands_off_everything() {
    let cluster = start(3);
    for i in 0..1000u64 {
        cluster.update(&format!("key-{i}"), 1).await.unwrap();
    }
    let victim = cluster.ports()[1];
    let held = cluster.ring().await.unwrap().nodes[1].keys;
    assert_eq!(cluster.remove_node(victim).await.unwrap(), held);
    assert_eq!(totals(&cluster).await, (1000, 1000));
    assert_eq!(cluster.status_all().await.unwrap().nodes.len(), 2);
    assert!(matches!(
        cluster.remove_node(victim).await,
        Err(Error::Server(_))
    ));
    // Its port is closed.
    assert!(std::net::TcpStream::connect(("127.0.0.1", victim)).is_err());
}

#[actix_rt::test]
async fn the_last_node_cannot_be_removed() {
    let cluster = start(1);
    let port = cluster.ports()[0];
    assert!(matches!(
        cluster.remove_node(port).await,
        Err(Error::BadRequest(_))
    ));
}

#[actix_rt::test]
async fn kill_node_reports_what_was_lost() {
    let cluster = start(3);
    for i in 0..600u64 {
        cluster.update(&format!("key-{i}"), 1).await.unwrap();
    }
    let victim = cluster.ports()[0];
    let held = cluster.ring().await.unwrap().nodes[0].keys;
    assert!(held > 0);
    assert_eq!(cluster.kill_node(victim).await.unwrap(), held);
    assert_eq!(
        totals(&cluster).await,
        (600 - held as i64, 600 - held as usize)
    );
    // The survivors keep serving, new updates included.
    cluster.update("after", 1).await.unwrap();
    assert_eq!(cluster.get("after").await.unwrap(), 1);
}

#[actix_rt::test]
async fn eight_writers_during_membership_changes_end_with_exact_totals() {
    let cluster = start(3);
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let cluster = cluster.clone();
            actix_rt::spawn(async move {
                for i in 0..500u64 {
                    cluster
                        .update(&format!("w{w}-k{}", i % 50), 1)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut added = Vec::new();
    for _ in 0..3 {
        added.push(cluster.add_node(None).await.unwrap().0);
        actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for port in added.iter().take(2) {
        cluster.remove_node(*port).await.unwrap();
    }
    cluster.remove_node(cluster.ports()[0]).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(totals(&cluster).await, (8 * 500, 8 * 50));
    for w in 0..8 {
        for k in 0..50 {
            assert_eq!(cluster.get(&format!("w{w}-k{k}")).await.unwrap(), 10);
        }
    }
}

#[actix_rt::test]
async fn add_node_on_a_busy_port_is_a_clear_error() {
    let cluster = start(2);
    let taken = cluster.ports()[0];
    match cluster.add_node(Some(taken)).await {
        Err(Error::BadRequest(msg)) => assert!(msg.contains(&taken.to_string()), "{msg}"),
        other => panic!("expected a bind error, got {other:?}"),
    }
    assert_eq!(cluster.status_all().await.unwrap().nodes.len(), 2);
}

#[test]
fn a_port_in_use_at_start_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let system = actix::System::new();
    let result = system.block_on(async {
        Cluster::start(ClusterConfig {
            nodes: 2,
            base_port: port,
            ..Default::default()
        })
        .map(|_| ())
    });
    match result {
        Err(Error::Bind { port: p, reason }) => {
            assert_eq!(p, port);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}
