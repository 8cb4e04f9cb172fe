//! Hash tags through the REPL: on six nodes with two replicas, keys with one tag are held by
//! the same two nodes, while untagged keys spread (the REPL places keys with `ring::key_token`,
//! as every door does).

use crate::support::piped;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use piped::run_piped;

/// The ports holding each key, from `status` output (`Node on port P:` then `  key: n` lines).
fn holders(out: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut port = String::new();
    for line in out.lines() {
        let line = line.trim_start_matches("> ");
        if let Some(p) = line.strip_prefix("Node on port ") {
            port = p.trim_end_matches(':').to_owned();
        } else if let Some((key, _)) = line.trim().split_once(": ") {
            if key.contains(':') || key.starts_with('{') {
                map.entry(key.trim_matches('"').to_owned())
                    .or_default()
                    .insert(port.clone());
            }
        }
    }
    map
}

#[test]
fn tagged_keys_share_their_nodes_in_the_repl() {
    let mut input = String::new();
    for i in 0..30 {
        input.push_str(&format!("update {{user:1}}:c{i}\nupdate plain:c{i}\n"));
    }
    input.push_str("status\nexit\n");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command.args([
        "--in-memory",
        "--nodes",
        "6",
        "--base-port",
        "0",
        "--replicas",
        "2",
    ]);
    let out = run_piped(command, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let held = holders(&text);
    let tagged: BTreeSet<&BTreeSet<String>> = (held.iter())
        .filter(|(k, _)| k.starts_with("{user:1}"))
        .map(|(_, ports)| ports)
        .collect();
    assert_eq!(held.len(), 60, "every key listed once per holder:\n{text}");
    assert_eq!(tagged.len(), 1, "tagged keys on one replica set:\n{text}");
    assert_eq!(tagged.iter().next().unwrap().len(), 2);
    let plain: BTreeSet<&BTreeSet<String>> = (held.iter())
        .filter(|(k, _)| k.starts_with("plain:"))
        .map(|(_, ports)| ports)
        .collect();
    assert!(plain.len() > 3, "untagged keys spread: {plain:?}");
}
