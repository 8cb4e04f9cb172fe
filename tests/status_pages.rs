//! `status` on a store larger than a screen: at most 100 keys per node and `... and N more keys`,
//! while `status --all` (REPL and `ringkv client`) and `StatusPage` requests list every key once.

use crate::support::piped;
use crate::support::serve;

use std::collections::BTreeMap;
use std::process::Command;

use piped::run_piped;
use ringkv::protocol::{StatusPage, STATUS_KEYS_PER_NODE};
use ringkv::{Cluster, ClusterConfig, Request, Response};
use serve::Server;

const KEYS: usize = 250;

fn updates() -> String {
    (0..KEYS)
        .map(|i| format!("update k{i:03} {}\n", i + 1))
        .collect()
}

/// Runs the interactive store (3 nodes, R=3, free ports) with `input` on stdin; returns stdout.
fn repl(input: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command.args(["--in-memory", "--nodes", "3", "--base-port", "0"]);
    let out = run_piped(command, input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The lines of one `status` listing in `out`: from `Nodes running on ports` to the
/// `Replication:` line.
fn listing(out: &str) -> Vec<&str> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("Nodes running"))
        .expect("a status");
    let end = lines
        .iter()
        .position(|l| l.starts_with("Replication:"))
        .expect("the end");
    lines[start..=end].to_vec()
}

/// `key -> (value, copies)` over the key lines of a listing.
fn copies(lines: &[&str]) -> BTreeMap<String, (u64, usize)> {
    let mut seen: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for line in lines {
        let line = line.trim_end_matches(" (replica)");
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        let entry = seen.entry(key.to_owned()).or_insert((value, 0));
        assert_eq!(entry.0, value, "{key} has one value");
        entry.1 += 1;
    }
    seen
}

#[test]
fn status_is_bounded_and_status_all_lists_every_copy_once() {
    let out = repl(&format!("{}status\nstatus --all\n", updates()));
    let bounded = listing(&out);
    let more: Vec<&&str> = bounded
        .iter()
        .filter(|l| l.starts_with("... and "))
        .collect();
    assert_eq!(
        more.len(),
        3,
        "each node has more keys than it lists:\n{}",
        bounded.join("\n")
    );
    let listed = bounded.iter().filter(|l| l.starts_with('k')).count();
    assert_eq!(listed, 3 * STATUS_KEYS_PER_NODE);
    for line in more {
        let n: usize = line["... and ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            n,
            KEYS - STATUS_KEYS_PER_NODE,
            "R=3: every node holds every key"
        );
    }

    let all_start = out.rfind("Nodes running").expect("the second listing");
    let all = listing(&out[all_start..]);
    assert!(!all.iter().any(|l| l.starts_with("... and ")));
    let seen = copies(&all);
    assert_eq!(seen.len(), KEYS);
    for (i, (key, (value, copies))) in seen.iter().enumerate() {
        assert_eq!(key, &format!("k{i:03}"));
        assert_eq!(*value, i as u64 + 1);
        assert_eq!(*copies, 3, "{key}: one primary copy and two replicas");
    }
    let primaries = all
        .iter()
        .filter(|l| l.starts_with('k') && !l.ends_with("(replica)"));
    assert_eq!(primaries.count(), KEYS, "each key has one primary copy");
}

#[test]
fn a_small_store_prints_the_same_for_status_and_status_all() {
    let out = repl("update a\nupdate b 2\nstatus\nstatus --all\n");
    let first = listing(&out);
    let second_start = out.rfind("Nodes running").unwrap();
    let second = listing(&out[second_start..]);
    assert_eq!(first, second);
}

#[test]
fn ringkv_client_status_all_lists_every_key() {
    let server = Server::in_memory(&["--nodes", "2", "--replicas", "1"]);
    for i in 0..KEYS {
        server.client(&["update", &format!("k{i:03}"), "2"]);
    }
    let all = server.client(&["status", "--all"]);
    let keys: Vec<&str> = all.lines().filter(|l| l.starts_with('k')).collect();
    assert_eq!(keys.len(), KEYS, "{all}");
    assert!(keys.iter().all(|l| l.ends_with(": 2")));
    assert!(all.contains("Node on port"), "{all}");
}

#[actix_rt::test]
async fn pages_walk_a_node_in_key_order_and_bad_pages_are_errors() {
    let config = ClusterConfig {
        nodes: 1,
        base_port: 0,
        replication: ringkv::replication::ReplicationConfig {
            replicas: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let cluster = Cluster::start(config).expect("starts");
    for i in 0..KEYS {
        cluster
            .update(&format!("k{i:03}"), 1)
            .await
            .expect("update");
    }
    let port = cluster.ports()[0];
    let page = |after: Option<String>, limit| Request::StatusPage {
        port,
        owned: true,
        after,
        limit,
    };
    let Response::StatusPage(StatusPage { entries, .. }) = cluster.execute(page(None, 100)).await
    else {
        panic!("not a page")
    };
    assert_eq!(entries.len(), 100);
    assert_eq!(entries[0].0, "k000");
    let after = Some(entries[99].0.clone());
    let Response::StatusPage(next) = cluster.execute(page(after, 5000)).await else {
        panic!("not a page")
    };
    assert_eq!(next.entries.len(), KEYS - 100, "the rest, capped at 1,000");
    assert_eq!(next.entries[0].0, "k100");
    let replicas = Request::StatusPage {
        port,
        owned: false,
        after: None,
        limit: 10,
    };
    let Response::StatusPage(none) = cluster.execute(replicas).await else {
        panic!("not a page")
    };
    assert!(none.entries.is_empty(), "R=1: no further replicas");
    let missing = Request::StatusPage {
        port: port.wrapping_add(1000),
        owned: true,
        after: None,
        limit: 10,
    };
    match cluster.execute(missing).await {
        Response::Error(reply) => assert!(reply.message.contains("no node"), "{}", reply.message),
        other => panic!("not an error: {other:?}"),
    }
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn statuses_asked_at_once_all_get_the_same_whole_answer() {
    let config = ClusterConfig {
        nodes: 3,
        base_port: 0,
        ..Default::default()
    };
    let cluster = Cluster::start(config).expect("starts");
    for i in 0..KEYS {
        cluster
            .update(&format!("k{i:03}"), 1)
            .await
            .expect("update");
    }
    let answers =
        futures::future::join_all((0..64).map(|_| cluster.execute(Request::Status))).await;
    let Response::Status(first) = &answers[0] else {
        panic!("not a status: {:?}", answers[0])
    };
    for node in &first.nodes {
        let listed = node.counters.len() + node.replicas.len();
        assert_eq!(listed as u64 + node.more, KEYS as u64);
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "one answer for the burst"
    );
    cluster.update("k000", 1).await.expect("update");
    let Response::Status(later) = cluster.execute(Request::Status).await else {
        panic!("not a status")
    };
    let k000 = later
        .nodes
        .iter()
        .flat_map(|n| &n.counters)
        .find(|(k, _)| k == "k000");
    assert_eq!(
        k000.map(|(_, v)| *v),
        Some(2),
        "a later status is gathered anew"
    );
    cluster.shutdown().await;
}
