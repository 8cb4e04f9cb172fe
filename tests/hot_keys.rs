//! The hot-keys sketch (Space-Saving): its guarantees under proptest, its one-minute window, and
//! `INFO hotkeys` / `hot-keys` against a running `ringkv serve --hot-keys`.

use crate::support::http;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringkv::hotkeys::{SpaceSaving, Windows, WINDOW};

fn stream() -> impl Strategy<Value = Vec<u8>> {
    // Skewed: small key numbers come far more often.
    prop::collection::vec(prop_oneof![4 => 0u8..4, 1 => 0u8..200], 1..2000)
}

proptest! {
    /// Every count is at least the true count and at most its noted overcount above it; every key
    /// updated more than n / capacity times is held; memory stays within the capacity.
    #[test]
    fn space_saving_bounds(keys in stream(), capacity in 1usize..40) {
        let mut sketch = SpaceSaving::new(capacity);
        let mut truth: HashMap<String, u64> = HashMap::new();
        for k in &keys {
            let key = format!("k{k}");
            sketch.add(&key, 1);
            *truth.entry(key).or_default() += 1;
        }
        let held: HashMap<&str, (u64, u64)> = sketch.entries().map(|(k, c, e)| (k, (c, e))).collect();
        prop_assert!(held.len() <= capacity);
        let total: u64 = held.values().map(|(c, _)| c).sum();
        prop_assert_eq!(total, keys.len() as u64, "counts add up to the stream's length");
        for (key, &(count, error)) in &held {
            let real = truth[*key];
            prop_assert!(count >= real, "{key}: {count} < true {real}");
            prop_assert!(count - error <= real, "{key}: {count} - {error} > true {real}");
        }
        let n = keys.len() as u64;
        for (key, &real) in &truth {
            if real * capacity as u64 > n {
                prop_assert!(held.contains_key(key.as_str()), "{key} ({real} of {n}) missing");
            }
        }
    }
}

#[test]
fn windows_forget_updates_older_than_a_minute() {
    let start = Instant::now();
    let mut windows = Windows::new(8, start);
    for _ in 0..50 {
        windows.add("old", 1, start);
    }
    let later = start + WINDOW * 3;
    for _ in 0..20 {
        windows.add("new", 1, later);
    }
    let top = windows.top(5, later);
    assert_eq!(top[0].key, "old");
    assert_eq!(top[0].updates, 50);
    assert_eq!(top[1].key, "new");
    let much_later = start + WINDOW * 7 + Duration::from_secs(1);
    let top = windows.top(5, much_later);
    assert_eq!(top.len(), 1, "the first window fell out: {top:?}");
    assert_eq!(top[0].key, "new");
    assert!((top[0].per_second - 20.0 / 60.0).abs() < 1e-9);
}

/// One RESP command over a raw socket; the whole first reply read.
fn resp(port: u16, words: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to RESP");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!("*{}\r\n", words.len());
    for w in words {
        request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    stream.write_all(request.as_bytes()).expect("send");
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn client(port: u16, words: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["client", "--addr", &format!("127.0.0.1:{port}")])
        .args(words)
        .output()
        .expect("ringkv client runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn hot_keys_show_in_info_client_json_and_metrics() {
    let server = http::HttpServe::start(&[
        "--nodes",
        "3",
        "--in-memory",
        "--resp-port",
        "0",
        "--hot-keys",
    ]);
    let port = server.resp.expect("RESP port");
    let mut pipeline = String::new();
    for (key, times) in [("hot", 300), ("warm", 40), ("cold", 3)] {
        for _ in 0..times {
            pipeline.push_str(&format!("*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n", key.len()));
        }
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(pipeline.as_bytes()).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while got.iter().filter(|&&b| b == b'\n').count() < 343 {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the server closed");
        got.extend_from_slice(&buf[..n]);
    }
    let info = resp(port, &["INFO", "hotkeys"]);
    assert!(
        info.contains("# Hotkeys\r\nhotkeys_enabled:1\r\n"),
        "{info}"
    );
    assert!(info.contains("hotkey_0:key=hot,"), "{info}");
    assert!(info.contains("updates=300\r\nhotkey_1:key=warm,"), "{info}");
    assert!(
        !resp(port, &["INFO"]).contains("Hotkeys"),
        "not in the default INFO"
    );

    let (ok, text) = client(server.nodes[0], &["hot-keys", "2"]);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("hot: ") && lines[0].ends_with("(300 in the last minute)"),
        "{text}"
    );
    assert!(lines[1].starts_with("warm: "), "{text}");
    let (ok, json) = client(server.nodes[1], &["--json", "hot-keys"]);
    assert!(ok, "{json}");
    let json: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON");
    assert_eq!(json["type"], "hot_keys");
    assert_eq!(json["enabled"], true);
    assert_eq!(json["keys"][0]["key"], "hot");
    assert_eq!(json["keys"][0]["updates"], 300);
    assert_eq!(json["keys"].as_array().map(Vec::len), Some(3));

    let (_, _, metrics) = server.get("/metrics");
    assert!(
        metrics.contains("ringkv_hot_key_updates_per_second{key=\"hot\"}"),
        "{metrics}"
    );
}

#[test]
fn without_the_flag_hot_keys_says_it_is_off() {
    let server = http::HttpServe::start(&["--nodes", "1", "--in-memory"]);
    let (ok, text) = client(server.nodes[0], &["hot-keys"]);
    assert!(ok);
    assert_eq!(text, "Hot keys are off (start with --hot-keys)\n");
    let (ok, _) = client(server.nodes[0], &["hot-keys", "0"]);
    assert!(!ok, "0 keys is refused");
}
