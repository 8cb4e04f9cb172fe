//! The direct path and the Router's path together: what goes where, and one connection's requests
//! staying in order across the two.

use std::time::Duration;

use ringkv::actors::gateway::{Order, Started};
use ringkv::replication::ReplicationConfig;
use ringkv::ring::{Ring, DEFAULT_VNODES};
use ringkv::{Cluster, ClusterConfig, Request, Response};

fn start(replicas: usize) -> Cluster {
    Cluster::start(ClusterConfig {
        nodes: 3,
        base_port: 0,
        replication: ReplicationConfig {
            replicas,
            ..Default::default()
        },
        restart: false,
        ..Default::default()
    })
    .expect("cluster starts on free ports")
}

/// A key whose only replica (R = 1) is node `id` of the three.
fn key_on(id: u32) -> String {
    let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=3);
    (0..)
        .map(|i| format!("key{i}"))
        .find(|k| ring.owner(k.as_bytes()) == Some(id))
        .expect("some key lands on every node")
}

fn update(key: &str) -> Request {
    Request::Update {
        key: key.into(),
        amount: 1,
    }
}

async fn answer(started: Started) -> Response {
    match started {
        Started::Now(response) => response,
        Started::Later(later) => later.await,
    }
}

#[actix_rt::test]
async fn a_paused_node_sends_its_keys_to_the_router_and_the_connection_keeps_its_order() {
    let cluster = start(1);
    let gateway = cluster.gateway();
    let (on_paused, elsewhere) = (key_on(1), key_on(2));
    let port = cluster.ports()[0];
    let paused = cluster
        .execute(Request::PauseNode { port, millis: 300 })
        .await;
    assert!(matches!(paused, Response::NodePaused { .. }), "{paused:?}");

    let order = Order::new();
    let first = gateway.start(update(&on_paused), &order);
    assert!(
        matches!(first, Started::Later(_)),
        "a paused node is not served directly"
    );
    let second = gateway.start(update(&elsewhere), &order);
    assert!(
        matches!(second, Started::Later(_)),
        "behind a request at the Router, the same connection waits its turn"
    );
    let other = gateway.start(update(&elsewhere), &Order::new());
    assert!(
        matches!(other, Started::Now(_)),
        "another connection is served directly"
    );

    assert!(matches!(
        answer(first).await,
        Response::Updated { value: 1, .. }
    ));
    assert!(matches!(
        answer(second).await,
        Response::Updated { value: 2, .. }
    ));
    let read = gateway.start(Request::Get { key: elsewhere }, &order);
    let Started::Now(Response::Count { value, .. }) = read else {
        panic!("once the Router answered, the connection is served directly again");
    };
    assert_eq!(value, 2);
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn direct_updates_reach_every_replica_and_reads_agree() {
    let cluster = start(3);
    for i in 0..200u64 {
        let key = format!("k{}", i % 20);
        let started = cluster.gateway().start(update(&key), &Order::new());
        assert!(matches!(started, Started::Now(_)), "all replicas are up");
    }
    let report = cluster.status_all().await.unwrap();
    for node in &report.nodes {
        let held = node.counters.iter().chain(&node.replicas);
        assert_eq!(
            held.clone().count(),
            20,
            "R = 3 of 3 nodes: every node holds every key"
        );
        assert!(held.map(|(_, v)| *v).all(|v| v == 10));
    }
    for i in 0..20 {
        assert_eq!(cluster.get(&format!("k{i}")).await.unwrap(), 10);
    }
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn admin_requests_still_go_through_the_router() {
    let cluster = start(1);
    let started = cluster.gateway().start(Request::Status, &Order::new());
    assert!(matches!(started, Started::Later(_)));
    let bad = cluster
        .gateway()
        .start(Request::Get { key: String::new() }, &Order::new());
    let response = tokio::time::timeout(Duration::from_secs(5), answer(bad))
        .await
        .unwrap();
    assert!(matches!(response, Response::Error(_)), "{response:?}");
    cluster.shutdown().await;
}
