//! SCAN while nodes join and leave: a full scan started before, during or after `add-node` and
//! `remove-node` returns every key that exists throughout, each once (the cursor is a position
//! on the ring's hash space, which membership changes do not move).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringkv::resp::RespLimits;
use ringkv::{Cluster, ClusterConfig};

const KEYS: usize = 20_000;

/// Full scans (COUNT 50) until `stop`; each must hold every one of the `KEYS` keys, once.
fn scan_until(port: u16, stop: Arc<AtomicBool>, scans: Arc<AtomicUsize>) {
    let url = format!("redis://127.0.0.1:{port}/");
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("INCR").arg(format!("held:{i}")).ignore();
    }
    pipe.query::<()>(&mut con).expect("fill");
    scans.store(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let (mut cursor, mut seen, mut pages) = (0u64, Vec::new(), 0);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(50)
                .query(&mut con)
                .expect("SCAN");
            // Keys that come and go meanwhile, on other names.
            let _: i64 = redis::cmd("INCR")
                .arg(format!("churn:{pages}"))
                .query(&mut con)
                .unwrap();
            seen.extend(keys.into_iter().filter(|k| k.starts_with("held:")));
            pages += 1;
            assert!(pages < 100_000);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "a key came twice in one scan");
        assert_eq!(
            distinct.len(),
            KEYS,
            "a scan missed keys present throughout"
        );
        scans.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn scan_during_add_node_and_remove_node_misses_no_key() {
    let system = actix::System::new();
    system.block_on(async {
        let config = ClusterConfig {
            nodes: 4,
            base_port: 0,
            vnodes: 64,
            ..ClusterConfig::default()
        };
        let cluster = Cluster::start(config).expect("cluster");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let resp = ringkv::resp::start(listener, cluster.gateway(), RespLimits::default()).unwrap();
        let (stop, scans) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (port, s, n) = (resp.port(), stop.clone(), scans.clone());
        let scanner = std::thread::spawn(move || scan_until(port, s, n));
        let started = Instant::now();
        while scans.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let first = cluster.ports()[0];
        let (before, changes) = (scans.load(Ordering::SeqCst), Instant::now());
        let (added, _) = cluster.add_node(None).await.expect("add-node");
        let moved = cluster.remove_node(first).await.expect("remove-node");
        assert!(moved > 0);
        cluster.add_node(None).await.expect("add-node");
        cluster.remove_node(added).await.expect("remove-node");
        // Let scans run across the changes, then a few after them.
        let done = scans.load(Ordering::SeqCst);
        eprintln!(
            "membership changes took {:?}; scans finished meanwhile: {}",
            changes.elapsed(),
            done - before
        );
        while scans.load(Ordering::SeqCst) < done + 2 && !scanner.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::SeqCst);
        while !scanner.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        scanner.join().expect("every scan held every key");
        assert!(scans.load(Ordering::SeqCst) >= 3, "too few scans ran");
    });
}
