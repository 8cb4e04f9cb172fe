//! The process's metrics, rendered in the Prometheus text format for `/metrics`.
//!
//! One set per process ([`global`]), built on `prometheus-client`, named by Prometheus
//! conventions: the `ringkv_` prefix, `_total` counters, `_seconds` histograms, and labels of low
//! cardinality (an operation, an outcome, a port kind, a node's port). Hot paths call the small
//! functions here ([`request`], [`connection`], [`log_append`], [`fsync`]); each is an atomic add
//! or one histogram observation on a handle resolved when the metrics were built. The figures of
//! a cluster (keys, hints, bytes and state per node, repairs) are taken from its Router on each
//! scrape ([`render`]), so a scrape costs no walk over the keys.

pub mod figures;
mod hot;
pub mod requests;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub use figures::{ClusterFigures, FiguresCollector, NodeFigures};
use requests::RequestMetrics;

use crate::protocol::{Request, Response};

/// The kinds of port connections are counted by (the `port` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// A node's framed-protocol port.
    Framed = 0,
    /// The Redis-protocol port.
    Resp = 1,
    /// The HTTP port.
    Http = 2,
}

const PORT_KINDS: [&str; 3] = ["framed", "resp", "http"];

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    requests: RequestMetrics,
    connections_total: [Counter; 3],
    connections_open: [Gauge; 3],
    log_appends: Counter,
    log_bytes: Counter,
    fsync: Histogram,
    keys_moved: [Counter; 2],
    figures: FiguresCollector,
    /// One scrape at a time: the snapshot and the encoding go together.
    scrape: Mutex<()>,
}

/// The process's metrics, built on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::build)
}

fn by_label<
    M: Clone
        + Default
        + prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    const N: usize,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: [&'static str; N],
) -> [M; N] {
    let family = Family::<Vec<(&'static str, &'static str)>, M>::default();
    registry.register(name, help, family.clone());
    values.map(|v| family.get_or_create(&vec![(label, v)]).clone())
}

impl Metrics {
    fn build() -> Metrics {
        let mut registry = Registry::with_prefix("ringkv");
        let requests = RequestMetrics::register(&mut registry);
        let connections_total = by_label(
            &mut registry,
            "connections",
            "Connections accepted, by port kind",
            "port",
            PORT_KINDS,
        );
        let connections_open = by_label(
            &mut registry,
            "connections_open",
            "Connections open now, by port kind",
            "port",
            PORT_KINDS,
        );
        let keys_moved = by_label(
            &mut registry,
            "keys_moved",
            "Keys moved by membership changes, by change",
            "change",
            ["add_node", "remove_node"],
        );
        let log_appends = Counter::default();
        registry.register(
            "log_appends",
            "Batches of records appended to the nodes' logs",
            log_appends.clone(),
        );
        let log_bytes = Counter::default();
        registry.register(
            "log_appended_bytes",
            "Bytes appended to the nodes' logs",
            log_bytes.clone(),
        );
        let fsync = Histogram::new(exponential_buckets(1e-5, 4.0, 10));
        registry.register_with_unit(
            "fsync_duration",
            "Time one fsync of a node's log took",
            Unit::Seconds,
            fsync.clone(),
        );
        let figures = FiguresCollector::default();
        registry.register_collector(Box::new(figures.clone()));
        registry.register_collector(Box::new(hot::HotKeysCollector));
        Metrics {
            registry,
            requests,
            connections_total,
            connections_open,
            log_appends,
            log_bytes,
            fsync,
            keys_moved,
            figures,
            scrape: Mutex::new(()),
        }
    }
}

/// One request in this many has its latency measured (two clock reads and a histogram
/// observation); every request is counted.
pub const LATENCY_SAMPLE: u32 = 16;

thread_local! {
    static TICK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// When a request starts: the time now for one request in [`LATENCY_SAMPLE`] on this thread,
/// else `None` (its latency is not measured).
#[inline]
pub fn sample_start() -> Option<Instant> {
    TICK.with(|tick| {
        let n = tick.get().wrapping_add(1);
        tick.set(n);
        (n % LATENCY_SAMPLE == 0).then(Instant::now)
    })
}

/// Counts one answered request (`op` from [`requests::op_of`]) and, if it was sampled by
/// [`sample_start`], its latency.
#[inline]
pub fn request(op: usize, response: &Response, began: Option<Instant>) {
    global()
        .requests
        .record(op, response, began.map(|b| b.elapsed()));
}

/// How many reads and updates were answered so far: `(reads, updates)`.
pub fn reads_and_updates() -> (u64, u64) {
    let m = &global().requests;
    (m.total(0), m.total(1))
}

/// The `op` index of a request, for [`request`].
#[inline]
pub fn op_of(request: &Request) -> usize {
    requests::op_of(request)
}

/// Counts a connection opened on a port of `kind`; the guard counts it closed when dropped.
pub fn connection(kind: PortKind) -> ConnectionGuard {
    let m = global();
    m.connections_total[kind as usize].inc();
    m.connections_open[kind as usize].inc();
    ConnectionGuard(kind)
}

/// Counts its connection as closed when dropped.
#[derive(Debug)]
pub struct ConnectionGuard(PortKind);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        global().connections_open[self.0 as usize].dec();
    }
}

/// Counts one batch of `bytes` appended to a node's log.
pub fn log_append(bytes: usize) {
    let m = global();
    m.log_appends.inc();
    m.log_bytes.inc_by(bytes as u64);
}

/// Records one fsync that took `took`.
pub fn fsync(took: Duration) {
    global().fsync.observe(took.as_secs_f64());
}

/// Runs `sync` (one fsync) and records how long it took.
pub fn timed_fsync<T>(sync: impl FnOnce() -> T) -> T {
    let began = std::time::Instant::now();
    let done = sync();
    fsync(began.elapsed());
    done
}

/// Counts the keys an `add-node` or `remove-node` moved, from its answer.
pub fn moved(response: &Response) {
    let m = global();
    match response {
        Response::NodeAdded { keys_moved, .. } => m.keys_moved[0].inc_by(*keys_moved),
        Response::NodeRemoved { keys_moved, .. } => m.keys_moved[1].inc_by(*keys_moved),
        _ => 0,
    };
}

/// The Prometheus text of every metric, with `figures` as the cluster's current snapshot.
pub fn render(figures: ClusterFigures) -> String {
    let m = global();
    let _one = m.scrape.lock().unwrap_or_else(|p| p.into_inner());
    *m.figures.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(figures);
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &m.registry);
    out
}
