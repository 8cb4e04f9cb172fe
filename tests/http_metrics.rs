//! The HTTP port against a running `ringkv serve`: `/metrics` parsed by a Prometheus text
//! parser (`prometheus-parse`), every family there and moving as requests are made; `/api/*` as
//! JSON; a port in use is one clear line.

use crate::support::http;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use http::HttpServe;
use prometheus_parse::{Scrape, Value};

/// Sample name + sorted labels → value (counters, gauges, untyped) or count (histograms).
fn scrape(server: &HttpServe) -> HashMap<String, f64> {
    let (status, head, body) = server.get("/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let parsed = Scrape::parse(lines).expect("the Prometheus text format");
    let mut out = HashMap::new();
    for sample in parsed.samples {
        let mut labels: Vec<_> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let value = match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => continue,
        };
        out.insert(format!("{}{{{}}}", sample.metric, labels.join(",")), value);
    }
    out
}

fn value(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples.get(name).unwrap_or_else(|| {
        panic!(
            "{name} missing; have {:?}",
            samples.keys().collect::<Vec<_>>()
        )
    })
}

/// One RESP command over a raw socket; returns the first reply line.
fn resp(port: u16, words: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to RESP");
    let mut request = format!("*{}\r\n", words.len());
    for w in words {
        request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    stream.write_all(request.as_bytes()).expect("send");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn metrics_families_exist_and_move() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let server = HttpServe::start(&[
        "--nodes",
        "3",
        "--resp-port",
        "0",
        "--data-dir",
        dir_arg,
        "--fsync",
        "always",
    ]);
    let resp_port = server.resp.expect("RESP port");
    let before = scrape(&server);
    for family in [
        "ringkv_requests_total{op=update,outcome=ok}",
        "ringkv_requests_total{op=get,outcome=error}",
        "ringkv_request_duration_seconds{op=update}",
        "ringkv_request_duration_seconds{op=get}",
        "ringkv_connections_total{port=resp}",
        "ringkv_connections_open{port=http}",
        "ringkv_log_appends_total{}",
        "ringkv_log_appended_bytes_total{}",
        "ringkv_fsync_duration_seconds{}",
        "ringkv_keys_moved_total{change=add_node}",
        "ringkv_read_repairs_total{}",
        "ringkv_anti_entropy_passes_total{}",
        "ringkv_anti_entropy_keys_repaired_total{}",
        "ringkv_nodes{}",
        "ringkv_membership_change_active{}",
    ] {
        value(&before, family);
    }
    for &port in &server.nodes {
        for family in ["ringkv_node_keys", "ringkv_hints_pending"] {
            assert_eq!(
                value(&before, &format!("{family}{{port={port}}}")),
                0.0,
                "{family}"
            );
        }
        value(
            &before,
            &format!("ringkv_node_state{{port={port},state=up}}"),
        );
    }
    for i in 0..20 {
        assert!(resp(resp_port, &["INCR", &format!("k{i}")]).starts_with(':'));
    }
    assert!(resp(resp_port, &["GET", "k1"]).starts_with("$1"));
    let after = scrape(&server);
    let moved = |name: &str| value(&after, name) - value(&before, name);
    assert_eq!(moved("ringkv_requests_total{op=update,outcome=ok}"), 20.0);
    assert_eq!(moved("ringkv_requests_total{op=get,outcome=ok}"), 1.0);
    assert!(
        moved("ringkv_request_duration_seconds{op=update}") >= 1.0,
        "one in 16 timed"
    );
    assert_eq!(moved("ringkv_connections_total{port=resp}"), 21.0);
    assert!(moved("ringkv_log_appends_total{}") >= 20.0);
    assert!(moved("ringkv_log_appended_bytes_total{}") > 0.0);
    assert!(moved("ringkv_fsync_duration_seconds{}") >= 20.0);
    let keys: f64 = server
        .nodes
        .iter()
        .map(|p| value(&after, &format!("ringkv_node_keys{{port={p}}}")))
        .sum();
    assert_eq!(keys, 60.0, "20 keys, 3 copies each");
    for p in &server.nodes {
        let bytes = format!("ringkv_node_bytes{{port={p}}}");
        assert!(moved(&bytes) > 0.0, "node {p}'s log grew");
    }
    let added = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args([
            "client",
            "--addr",
            &format!("127.0.0.1:{}", server.nodes[0]),
        ])
        .arg("add-node")
        .output()
        .expect("ringkv client runs");
    assert!(added.status.success(), "{added:?}");
    let last = scrape(&server);
    let moved = |name: &str| value(&last, name) - value(&after, name);
    assert_eq!(moved("ringkv_requests_total{op=add_node,outcome=ok}"), 1.0);
    assert!(moved("ringkv_keys_moved_total{change=add_node}") > 0.0);
    assert_eq!(moved("ringkv_nodes{}"), 1.0);
    assert!(moved("ringkv_connections_total{port=framed}") >= 1.0);
}

#[test]
fn api_status_and_ring_are_json() {
    let server = HttpServe::start(&["--nodes", "4", "--in-memory"]);
    let (status, head, body) = server.get("/api/status");
    assert_eq!(status, 200);
    assert!(head.contains("application/json"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4);
    for node in nodes {
        assert_eq!(node["state"], "up");
        assert!(node["port"]
            .as_u64()
            .is_some_and(|p| server.nodes.contains(&(p as u16))));
        assert!(node["share"].as_f64().is_some_and(|s| s > 0.0 && s < 1.0));
    }
    let (_, _, body) = server.get("/api/ring");
    let ring: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ring["vnodes"], 256);
    let arcs: usize = ring["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["arcs"].as_array().map_or(0, Vec::len))
        .sum();
    assert!((4..=4 * 256).contains(&arcs), "{arcs} arcs");
    let (status, _, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<svg id=\"ring\""), "the dashboard page");
    assert_eq!(server.get("/nope").0, 404);
}

#[test]
fn an_http_port_in_use_is_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args([
            "serve",
            "--nodes",
            "1",
            "--base-port",
            "0",
            "--in-memory",
            "--http-port",
            &port,
        ])
        .output()
        .expect("ringkv runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&port) && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "no node started"
    );
}
