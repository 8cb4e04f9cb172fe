//! Limits the server checks itself, sent as raw frames where the CLI would refuse first: a pause
//! over 24 h, `add-node` on a privileged port, more nodes than the maximum, `remove-node` below R
//! without force; and the one-line warning when `--replicas`/`--vnodes` differ from a data dir's.

use crate::common;
use crate::support::piped;
use crate::support::spawned;

use std::io::Write;
use std::process::Command;

use common::*;
use ringkv::actors::ServerLimits;
use ringkv::protocol::{ErrorCode, Response};
use ringkv::{Cluster, ClusterConfig};
use tokio::net::TcpStream;

/// A port as a bincode varint (ports of port-0 tests are over 250: 251, then u16 LE).
fn port_varint(port: u16) -> Vec<u8> {
    if port < 251 {
        vec![port as u8]
    } else {
        let mut out = vec![251];
        out.extend(port.to_le_bytes());
        out
    }
}

/// Sends `body` as one frame; expects a bad-request error whose message holds `needle`.
async fn refused(s: &mut TcpStream, body: &[u8], needle: &str) {
    let (_, response) = exchange(s, &frame(1, body)).await;
    let Response::Error(e) = response else {
        panic!("refused, not {response:?}");
    };
    assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
    assert!(e.message.contains(needle), "{}", e.message);
}

async fn node_count(cluster: &Cluster) -> usize {
    cluster.status().await.unwrap().nodes.len()
}

#[actix_rt::test]
async fn a_pause_over_a_day_is_refused() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    let port = port_varint(cluster.ports()[1]);
    // PauseNode { port, millis: u64::MAX }: tag 7, port, 253 then u64 LE.
    let mut body = vec![7];
    body.extend(&port);
    body.push(253);
    body.extend(u64::MAX.to_le_bytes());
    refused(
        &mut s,
        &body,
        "exceeds the maximum of 86400000 ms (24 hours)",
    )
    .await;
    // 86,400,001 ms: 252 then u32 LE.
    let mut body = vec![7];
    body.extend(&port);
    body.push(252);
    body.extend(86_400_001u32.to_le_bytes());
    refused(&mut s, &body, "24 hours").await;
    // The node was not paused: it answers at once.
    assert_eq!(cluster.get("a").await.unwrap(), 0);
}

#[actix_rt::test]
async fn add_node_refuses_privileged_ports() {
    let cluster = cluster(ServerLimits::default());
    let mut s = connect(&addr(&cluster)).await;
    for port in [1u8, 81] {
        // AddNode { port: Some(port) }: tag 4, 1 (Some), the port.
        refused(&mut s, &[4, 1, port], "privileged port").await;
    }
    // 1023: 251, then u16 LE.
    refused(&mut s, &[4, 1, 251, 0xff, 0x03], "privileged port").await;
    assert_eq!(node_count(&cluster).await, 3);
    // Port 0 (any free port) is fine.
    let (_, response) = exchange(&mut s, &frame(2, &[4, 1, 0])).await;
    assert!(
        matches!(response, Response::NodeAdded { .. }),
        "{response:?}"
    );
}

#[actix_rt::test]
async fn nodes_cannot_be_added_past_the_maximum() {
    let cluster = Cluster::start(ClusterConfig {
        nodes: 3,
        base_port: 0,
        max_nodes: 4,
        ..Default::default()
    })
    .unwrap();
    let mut s = connect(&addr(&cluster)).await;
    // AddNode { port: None }: tag 4, 0.
    let (_, response) = exchange(&mut s, &frame(1, &[4, 0])).await;
    assert!(
        matches!(response, Response::NodeAdded { .. }),
        "{response:?}"
    );
    refused(&mut s, &[4, 0], "the most it may have is 4").await;
    assert_eq!(node_count(&cluster).await, 4);
    let too_many = Cluster::start(ClusterConfig {
        nodes: 5,
        base_port: 0,
        max_nodes: 4,
        ..Default::default()
    });
    assert!(too_many.is_err());
    let over = Cluster::start(ClusterConfig {
        max_nodes: 1001,
        base_port: 0,
        ..Default::default()
    });
    assert!(over.is_err());
}

#[actix_rt::test]
async fn remove_node_below_r_needs_force() {
    // R=3 on 3 nodes: removing one would leave 2 copies of each key.
    let cluster = cluster(ServerLimits::default());
    cluster.update("a", 5).await.unwrap();
    let mut s = connect(&addr(&cluster)).await;
    let victim = cluster.ports()[2];
    // RemoveNode { port }: tag 5.
    let mut body = vec![5];
    body.extend(port_varint(victim));
    refused(&mut s, &body, &format!("remove-node {victim} --force")).await;
    assert_eq!(node_count(&cluster).await, 3);
    // RemoveNodeForce { port }: tag 10.
    let mut body = vec![10];
    body.extend(port_varint(victim));
    let (_, response) = exchange(&mut s, &frame(2, &body)).await;
    assert!(
        matches!(response, Response::NodeRemoved { port, .. } if port == victim),
        "{response:?}"
    );
    let status = cluster.status().await.unwrap();
    assert_eq!((status.nodes.len(), status.replicas), (2, 2));
    assert_eq!(cluster.get("a").await.unwrap(), 5);
    // The last node stays, force or not.
    cluster.remove_node_force(cluster.ports()[1]).await.unwrap();
    assert!(cluster.remove_node_force(cluster.ports()[0]).await.is_err());
}

#[test]
fn client_and_repl_carry_force() {
    let server = spawned::Spawned::start(
        &["serve", "--in-memory", "--nodes", "3", "--base-port", "0"],
        3,
    );
    let victim = server.ports[2].to_string();
    let (ok, _, err) = server.client(&["remove-node", &victim]);
    assert!(!ok);
    assert!(err.contains("--force"), "{err}");
    let (ok, out, err) = server.client(&["remove-node", &victim, "--force"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Node on port {victim} removed")),
        "{out}"
    );

    let mut repl = spawned::Spawned::start(
        &[
            "--in-memory",
            "--nodes",
            "2",
            "--base-port",
            "0",
            "--replicas",
            "2",
        ],
        2,
    );
    let victim = repl.ports[1];
    let input = format!("remove-node {victim}\nremove-node {victim} --force\nstatus\nexit\n");
    let mut stdin = repl.child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let text: Vec<String> = repl
        .lines
        .by_ref()
        .take(50)
        .map_while(|l| l.ok())
        .take_while(|l| !l.contains("Exiting..."))
        .collect();
    let text = text.join("\n");
    assert!(text.contains("--force' to keep only 1 copy"), "{text}");
    assert!(
        text.contains(&format!("Node on port {victim} removed")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Nodes running on ports: [{}]", repl.ports[0])),
        "{text}"
    );
}

#[test]
fn changed_replicas_and_vnodes_on_a_data_dir_get_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        command.args(["--data-dir", data, "--nodes", "1", "--base-port", "0"]);
        command.args(extra);
        let out = piped::run_piped(command, "exit\n");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = run(&["--replicas", "1", "--vnodes", "64"]);
    assert!(!first.contains("Warning"), "{first}");
    assert!(
        !run(&["--replicas", "1"]).contains("Warning"),
        "same values: no warning"
    );
    let changed = run(&["--replicas", "2", "--vnodes", "128"]);
    let warnings: Vec<&str> = changed.lines().filter(|l| l.contains("Warning")).collect();
    assert_eq!(warnings.len(), 1, "{changed}");
    assert!(
        warnings[0].contains("--replicas 2 and --vnodes 128 ignored")
            && warnings[0].contains("keeps --replicas 1 --vnodes 64"),
        "{changed}"
    );
}
