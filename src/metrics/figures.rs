//! A snapshot of one cluster's nodes (state, share, keys, hints, bytes, arcs) and its repair
//! counters, taken by the Router on each scrape and each dashboard refresh, and its encoding as
//! Prometheus families.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use serde::Serialize;

/// What a node is doing, as the dashboard and `ringkv_node_state` show it.
pub const STATES: [&str; 6] = ["up", "down", "paused", "recovering", "joining", "leaving"];

/// One arc of the ring `(start, end]`, as two decimal strings (JSON numbers lose u64 precision).
#[derive(Debug, Clone, Serialize)]
pub struct Arc64 {
    /// Exclusive lower bound, in decimal.
    pub start: String,
    /// Inclusive upper bound, in decimal.
    pub end: String,
    /// The fraction of the ring it covers.
    pub fraction: f64,
}

impl From<crate::ring::TokenRange> for Arc64 {
    fn from(range: crate::ring::TokenRange) -> Self {
        Arc64 {
            start: range.start.to_string(),
            end: range.end.to_string(),
            fraction: range.fraction(),
        }
    }
}

/// One node in a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFigures {
    /// The node's id.
    pub id: u32,
    /// Its port.
    pub port: u16,
    /// One of [`STATES`].
    pub state: &'static str,
    /// Its share of the ring, `0.0..=1.0`.
    pub share: f64,
    /// Keys it holds (primary copies and replicas).
    pub keys: u64,
    /// Hinted writes it keeps for nodes that are down.
    pub hints: u64,
    /// Bytes of its files in the data directory (0 in memory).
    pub bytes: u64,
    /// The arcs it owns as primary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arcs: Vec<Arc64>,
}

/// An arc that changes owner during a membership change.
#[derive(Debug, Clone, Serialize)]
pub struct MovingArc {
    /// The arc.
    pub arc: Arc64,
    /// The port of its owner before the change.
    pub from: u16,
    /// The port of its owner after it.
    pub to: u16,
}

/// A snapshot of one cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterFigures {
    /// Virtual nodes per node.
    pub vnodes: u32,
    /// Every node, in id order.
    pub nodes: Vec<NodeFigures>,
    /// Reads that found replicas apart and repaired them.
    pub read_repairs: u64,
    /// Anti-entropy passes run.
    pub anti_entropy_passes: u64,
    /// Keys anti-entropy repaired.
    pub anti_entropy_repairs: u64,
    /// During a membership change, the arcs that move (else empty).
    pub moving: Vec<MovingArc>,
    /// Whether a membership change is under way.
    pub changing: bool,
}

/// The Prometheus view of the latest snapshot (set just before each scrape is encoded).
#[derive(Debug, Default, Clone)]
pub struct FiguresCollector(pub Arc<Mutex<Option<ClusterFigures>>>);

type Labels = Vec<(&'static str, String)>;

fn port(n: &NodeFigures) -> Labels {
    vec![("port", n.port.to_string())]
}

/// Encodes one gauge family with a value per label set.
fn gauges(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: Vec<(Labels, i64)>,
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Encodes one gauge without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> std::fmt::Result {
    let metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// Encodes one counter without labels.
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

impl Collector for FiguresCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let snapshot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = snapshot.as_ref() else {
            return Ok(());
        };
        let per_node = |value: fn(&NodeFigures) -> u64| -> Vec<(Labels, i64)> {
            f.nodes.iter().map(|n| (port(n), value(n) as i64)).collect()
        };
        gauge(
            &mut enc,
            "nodes",
            "Nodes in the cluster.",
            f.nodes.len() as i64,
        )?;
        gauges(
            &mut enc,
            "node_keys",
            "Keys a node holds (primary copies and replicas).",
            per_node(|n| n.keys),
        )?;
        gauges(
            &mut enc,
            "node_bytes",
            "Bytes of a node's files in the data directory.",
            per_node(|n| n.bytes),
        )?;
        gauges(
            &mut enc,
            "hints_pending",
            "Hinted writes a node keeps for nodes that are down.",
            per_node(|n| n.hints),
        )?;
        let states = f
            .nodes
            .iter()
            .flat_map(|n| {
                STATES.iter().map(move |&s| {
                    let mut labels = port(n);
                    labels.push(("state", s.to_owned()));
                    (labels, (n.state == s) as i64)
                })
            })
            .collect();
        gauges(
            &mut enc,
            "node_state",
            "1 for the state a node is in (up, down, paused, recovering, joining, leaving).",
            states,
        )?;
        gauge(
            &mut enc,
            "membership_change_active",
            "1 while a membership change moves keys.",
            f.changing as i64,
        )?;
        counter(
            &mut enc,
            "read_repairs",
            "Reads that found replicas apart and repaired them.",
            f.read_repairs,
        )?;
        counter(
            &mut enc,
            "anti_entropy_passes",
            "Anti-entropy passes run.",
            f.anti_entropy_passes,
        )?;
        counter(
            &mut enc,
            "anti_entropy_keys_repaired",
            "Keys anti-entropy repaired.",
            f.anti_entropy_repairs,
        )
    }
}
