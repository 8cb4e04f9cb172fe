//! A `ringkv serve` SIGKILLed in the middle of `add-node` (after the ring switched, while the old
//! nodes drop what they gave away) leaves copies the old nodes no longer own. Restarted on its data
//! dir, the cluster drops them: every node holds exactly the keys it replicates, every count exact.

use crate::support::spawned;

use std::path::Path;
use std::time::{Duration, Instant};

use ringkv::ring::{key_token, Ring, DEFAULT_VNODES};
use ringkv::{Client, Request, Response};
use spawned::Spawned;

const KEYS: u64 = 200_000;

fn key(i: u64) -> String {
    format!("key:{i}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client(port: u16) -> Client {
    Client::connect_timeout(&format!("127.0.0.1:{port}"), Duration::from_secs(30))
        .await
        .unwrap()
}

/// Writes `i % 7 + 1` to every key, pipelined.
fn load(port: u16) {
    runtime().block_on(async {
        let mut c = client(port).await;
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2000) {
            let batch: Vec<Request> = chunk
                .iter()
                .map(|&i| Request::Update {
                    key: key(i),
                    amount: (i % 7 + 1) as i64,
                })
                .collect();
            for r in c.pipeline(&batch).await.unwrap() {
                assert!(matches!(r, Response::Updated { .. }), "{r:?}");
            }
        }
    });
}

/// Every key reads back what was written.
fn check_counts(port: u16) {
    runtime().block_on(async {
        let mut c = client(port).await;
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2000) {
            let batch: Vec<Request> = chunk
                .iter()
                .map(|&i| Request::Get { key: key(i) })
                .collect();
            for (&i, r) in chunk.iter().zip(c.pipeline(&batch).await.unwrap()) {
                assert_eq!(
                    r,
                    Response::Count {
                        key: key(i),
                        value: (i % 7 + 1) as i64
                    }
                );
            }
        }
    });
}

/// Each node's key count (by id) as `ring` reports it.
fn held(port: u16) -> Vec<u64> {
    runtime().block_on(async {
        let report = client(port).await.ring().await.unwrap();
        report.nodes.iter().map(|n| n.keys).collect()
    })
}

/// How many keys each of nodes 1..=n replicates with R = `r`.
fn owned(nodes: u64, r: usize) -> Vec<u64> {
    let ring = Ring::with_nodes(DEFAULT_VNODES, 1..=nodes as u32);
    let mut counts = vec![0; nodes as usize];
    for i in 0..KEYS {
        for n in ring.preference_list_of_token(key_token(key(i).as_bytes()), r) {
            counts[n as usize - 1] += 1;
        }
    }
    counts
}

/// Starts `add-node` and SIGKILLs the server as soon as the data dir stores the 4-node ring
/// (the ring switched; the old nodes are dropping their old copies).
fn kill_mid_add(server: &mut Spawned, dir: &Path) {
    let port = server.ports[0];
    let adder = std::thread::spawn(move || {
        runtime().block_on(async {
            let _ = client(port).await.add_node(None).await;
        })
    });
    let meta = dir.join("cluster.meta");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&meta).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("node 4 ")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    adder.join().unwrap();
}

fn run(replicas: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let r = replicas.to_string();
    let args = [
        "serve",
        "--data-dir",
        &data,
        "--base-port",
        "0",
        "--replicas",
        &r,
    ];
    let mut first = Spawned::start(&[&args[..], &["--nodes", "3"]].concat(), 3);
    load(first.ports[0]);
    // The log writer writes at least every second: let the last updates reach the files.
    std::thread::sleep(Duration::from_millis(1500));
    kill_mid_add(&mut first, dir.path());
    let text = std::fs::read_to_string(dir.path().join("cluster.meta")).unwrap();
    assert!(
        text.contains("node 4 "),
        "the ring switched before the kill: {text}"
    );

    let second = Spawned::start(&args, 4);
    let want = owned(4, replicas);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = held(second.ports[0]);
    while seen != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        seen = held(second.ports[0]);
    }
    assert_eq!(seen, want, "each node holds exactly the keys it replicates");
    assert_eq!(seen.iter().sum::<u64>(), KEYS * replicas as u64);
    check_counts(second.ports[1]);
}

#[test]
fn leftover_copies_go_after_a_kill_mid_add_node_r1() {
    run(1);
}

#[test]
fn leftover_copies_go_after_a_kill_mid_add_node_r3() {
    run(3);
}
