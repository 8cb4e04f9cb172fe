//! Request-path benchmarks inside one actix `System` (one thread): one update through Router → Node
//! and back, 16 concurrent updates, the same update on the direct path (`Gateway`, R = 3 and R = 1),
//! and one update over the framed protocol on loopback (client and 3-node cluster on the same
//! thread).
//!
//! Run: `cargo bench --bench router`.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::future::join_all;
use ringkv::actors::gateway::{Order, Started};
use ringkv::actors::Exec;
use ringkv::{Client, Cluster, ClusterConfig, Request};

fn update(i: u64) -> Request {
    Request::Update {
        key: format!("key:{}", i % 1000),
        amount: 1,
    }
}

fn router(c: &mut Criterion) {
    let system = actix_rt::System::new();
    let config = ClusterConfig {
        nodes: 3,
        base_port: 0,
        ..ClusterConfig::default()
    };
    let Ok(cluster) = system.block_on(async { Cluster::start(config) }) else {
        eprintln!("cannot start a cluster; router benchmarks skipped");
        return;
    };
    let router = cluster.router();
    let mut group = c.benchmark_group("router");
    group.bench_function("update_roundtrip", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let started = Instant::now();
                for i in 0..iters {
                    let _ = router.send(Exec(update(i))).await;
                }
                started.elapsed()
            })
        })
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("update_x16_concurrent", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let started = Instant::now();
                for i in 0..iters {
                    join_all((0..16).map(|j| router.send(Exec(update(i * 16 + j))))).await;
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    direct(c, &system, &cluster, "direct/update_r3");
    let config = ClusterConfig {
        nodes: 3,
        base_port: 0,
        replication: ringkv::replication::ReplicationConfig {
            replicas: 1,
            ..Default::default()
        },
        ..ClusterConfig::default()
    };
    if let Ok(one) = system.block_on(async { Cluster::start(config) }) {
        direct(c, &system, &one, "direct/update_r1");
    }
    framed(c, &system, &cluster);
}

/// One update through the `Gateway`: served on the caller's task while every replica is up.
fn direct(c: &mut Criterion, system: &actix_rt::SystemRunner, cluster: &Cluster, name: &str) {
    let gateway = cluster.gateway();
    let order = Order::new();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let started = Instant::now();
                for i in 0..iters {
                    if let Started::Later(later) = gateway.start(update(i), &order) {
                        later.await;
                    }
                }
                started.elapsed()
            })
        })
    });
}

/// One update over TCP: client → node listener → Router → Node → back, all on this thread.
fn framed(c: &mut Criterion, system: &actix_rt::SystemRunner, cluster: &Cluster) {
    let addr = format!("127.0.0.1:{}", cluster.ports()[0]);
    let Ok(mut client) = system.block_on(Client::connect(&addr)) else {
        eprintln!("cannot connect to {addr}; framed benchmark skipped");
        return;
    };
    c.bench_function("framed/update_roundtrip_same_thread", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let started = Instant::now();
                for i in 0..iters {
                    let _ = client.request(&update(i)).await;
                }
                started.elapsed()
            })
        })
    });
}

criterion_group!(benches, router);
criterion_main!(benches);
