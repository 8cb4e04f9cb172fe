//! `ringkv client --json`: every answer is one JSON object with the documented fields, errors
//! carry a code, and the exit status says whether the command was answered.

use crate::support::serve;

use std::process::Command;

use serde_json::Value;
use serve::Server;

/// `ringkv client --json --addr ADDR WORDS`: its exit code and its one line of JSON.
fn json(addr: &str, words: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--json", "--addr", addr])
        .args(words)
        .output()
        .expect("client runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let value = serde_json::from_str(&text).expect("valid JSON");
    (out.status.code().expect("an exit code"), value)
}

#[test]
fn every_answer_is_one_json_object() {
    let server = Server::in_memory(&["--nodes", "3"]);
    let addr = server.addr();
    let (code, updated) = json(&addr, &["update", "caf\u{e9}\"q", "5"]);
    assert_eq!(code, 0);
    assert_eq!(updated["ok"], true);
    assert_eq!(updated["type"], "updated");
    assert_eq!(
        updated["key"], "caf\u{e9}\"q",
        "the key as it is, JSON-escaped"
    );
    assert_eq!(updated["value"], 5);
    let (_, count) = json(&addr, &["get", "caf\u{e9}\"q"]);
    assert_eq!(
        (count["type"].as_str(), count["value"].as_u64()),
        (Some("count"), Some(5))
    );

    for words in [&["status"][..], &["status", "--all"]] {
        let (code, status) = json(&addr, words);
        assert_eq!((code, status["type"].as_str()), (0, Some("status")));
        let nodes = status["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3);
        let copies: usize = nodes
            .iter()
            .map(|n| {
                n["counters"].as_array().unwrap().len() + n["replicas"].as_array().unwrap().len()
            })
            .sum();
        assert_eq!(copies, 3, "R=3: three copies of the one key");
        assert_eq!(nodes[0]["state"], "up");
        assert_eq!(nodes[0]["more"], 0);
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["write_quorum"], 2);
    }
    let (_, ring) = json(&addr, &["ring"]);
    assert_eq!(ring["type"], "ring");
    let share: f64 = ring["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["share"].as_f64().unwrap())
        .sum();
    assert!(
        (share - 1.0).abs() < 1e-9,
        "the shares add up to the ring: {share}"
    );
    let victim = server.ports[2].to_string();
    let (_, paused) = json(&addr, &["pause-node", &victim, "0.1"]);
    assert_eq!(
        (paused["type"].as_str(), paused["millis"].as_u64()),
        (Some("node_paused"), Some(100))
    );
    let (_, help) = json(&addr, &["help"]);
    assert!(help["text"].as_str().unwrap().contains("status"));
}

#[test]
fn errors_have_a_code_and_exit_1() {
    let server = Server::in_memory(&["--nodes", "3"]);
    let addr = server.addr();
    for (words, code) in [
        (&["frobnicate"][..], "bad_request"),
        (&["kill-node", "1"], "no_such_node"),
        (&["update", "k", "9223372036854775807"], "ok"),
        (&["update", "k", "1"], "overflow"),
    ] {
        let (exit, value) = json(&addr, words);
        if code == "ok" {
            assert_eq!((exit, &value["ok"]), (0, &Value::Bool(true)));
            continue;
        }
        assert_eq!(exit, 1, "{words:?}");
        assert_eq!(value["ok"], false);
        assert_eq!(value["error"]["code"], code, "{words:?}: {value}");
        assert!(value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (exit, value) = json(&addr, &["get", "a"]);
    assert_eq!((exit, value["error"]["code"].as_str()), (1, Some("io")));
}
