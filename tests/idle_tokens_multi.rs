//! The idle-token sweep across processes: two `ringkv serve` processes on 127.0.0.41–42 (two
//! nodes each, R = 3), a dedup window of 1 s. Keys take one tokened update each (and a retry of
//! it, counted once) and nothing more; the sweep of the process whose node names a key folds its
//! tokens on every replica, in both processes, within a few windows, and every key keeps its
//! value. Each node's state is read with a node call over the wire ([`RemoteNode`]).

use std::time::{Duration, Instant};

use ringkv::actors::{NodeCall, NodeOp, NodeReply, RemoteNode};

use crate::support::procs::{client, Proc};

const KEYS: usize = 10;

fn start(host: &str, port: u16, dir: &std::path::Path, join: Option<&str>) -> Proc {
    let extra: Vec<String> = ["--dedup-window", "1s", "--anti-entropy-interval", "200ms"]
        .map(String::from)
        .to_vec();
    Proc::try_start_with(host, port, dir, join, &extra).expect("the process serves")
}

/// How many token entries `nodes` remember for the test's keys, and how many copies of the keys
/// they hold.
fn remembered(
    sys: &actix_rt::SystemRunner,
    nodes: &[actix::Recipient<NodeCall>],
) -> (usize, usize) {
    sys.block_on(async {
        let (mut entries, mut copies) = (0, 0);
        for node in nodes {
            for i in 0..KEYS {
                let read = NodeOp::Read {
                    key: format!("tk{i}"),
                    hint_for: None,
                };
                match node.send(NodeCall(read)).await {
                    Ok(Ok(NodeReply::State(Some(counter)))) => {
                        copies += 1;
                        entries += counter.tokens().map_or(0, |t| t.entries().len());
                    }
                    Ok(Ok(NodeReply::State(None))) => {}
                    other => panic!("a node read failed: {other:?}"),
                }
            }
        }
        (entries, copies)
    })
}

#[test]
fn idle_tokens_fold_on_every_replica_across_processes() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = start("127.0.0.41", 0, dirs[0].path(), None);
    let port = first.ports[0];
    let second = start("127.0.0.42", port, dirs[1].path(), Some(&first.addrs()[0]));
    let addrs: Vec<String> = [&first, &second].iter().flat_map(|p| p.addrs()).collect();
    let via = &addrs[0];
    for i in 0..KEYS {
        let (key, token) = (format!("tk{i}"), format!("t-{i}"));
        for _ in 0..2 {
            let answer = client(via, &["update", &key, "3", "--token", &token]);
            assert_eq!(answer, "Update successful\n");
        }
    }
    let sys = actix_rt::System::new();
    let nodes: Vec<_> = sys.block_on(async { addrs.iter().map(RemoteNode::start_for).collect() });
    let (entries, copies) = remembered(&sys, &nodes);
    assert_eq!(copies, KEYS * 3, "every key on its three replicas");
    assert_eq!(entries, KEYS * 3, "one remembered token per copy at first");

    // Two windows later the sweep folds them; give it a few more.
    let deadline = Instant::now() + Duration::from_secs(20);
    while remembered(&sys, &nodes).0 > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(remembered(&sys, &nodes), (0, KEYS * 3), "every copy folded");
    for addr in &addrs {
        for i in 0..KEYS {
            let key = format!("tk{i}");
            assert_eq!(
                client(addr, &["get", &key]),
                format!("Count for {key}: 3\n"),
                "through {addr}"
            );
        }
    }
}
