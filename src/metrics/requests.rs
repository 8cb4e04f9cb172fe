//! Requests by operation and outcome, and their latency per operation.
//!
//! Every label set is resolved once, when the metrics are built: recording a request is an
//! atomic add and one histogram observation (an uncontended lock), with no lookup by label.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::protocol::{Request, Response};

/// The operations requests are counted by (the `op` label).
pub const OPS: [&str; 16] = [
    "get",
    "update",
    "status",
    "ring",
    "add_node",
    "remove_node",
    "kill_node",
    "pause_node",
    "status_page",
    "node_call",
    "hot_keys",
    "membership",
    "auth",
    "delete",
    "set",
    "expire",
];

/// The `op` label's index of `request`.
pub fn op_of(request: &Request) -> usize {
    match request {
        Request::Get { .. } | Request::Read { .. } => 0,
        Request::Update { .. } | Request::UpdateToken { .. } => 1,
        Request::Status => 2,
        Request::Ring => 3,
        Request::AddNode { .. } => 4,
        Request::RemoveNode { .. }
        | Request::RemoveNodeForce { .. }
        | Request::RemoveNodeAt { .. } => 5,
        Request::KillNode { .. } => 6,
        Request::PauseNode { .. } => 7,
        Request::StatusPage { .. } => 8,
        Request::NodeCall(_) => 9,
        Request::HotKeys { .. } => 10,
        Request::Join { .. }
        | Request::Layout
        | Request::PushLayout { .. }
        | Request::Prepare { .. }
        | Request::Accept { .. }
        | Request::CallOff { .. } => 11,
        Request::Auth { .. } => 12,
        Request::Delete { .. } => 13,
        Request::Set { .. } | Request::SetIf { .. } | Request::SetTtl { .. } => 14,
        Request::Expire { .. } => 15,
    }
}

/// Per-operation counters and latency histograms.
#[derive(Debug)]
pub struct RequestMetrics {
    /// `[op][0]` counts successes, `[op][1]` errors.
    counts: Vec<[Counter; 2]>,
    latency: Vec<Histogram>,
}

impl RequestMetrics {
    /// Builds the families and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> RequestMetrics {
        let requests = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        let latency =
            Family::<Vec<(&'static str, &'static str)>, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-6, 4.0, 12))
            });
        registry.register(
            "requests",
            "Requests answered, by operation and outcome (ok or error)",
            requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's start to its answer, by operation (one request in 16 is timed)",
            Unit::Seconds,
            latency.clone(),
        );
        let counts = OPS
            .iter()
            .map(|&op| {
                let of = |outcome| {
                    requests
                        .get_or_create(&vec![("op", op), ("outcome", outcome)])
                        .clone()
                };
                [of("ok"), of("error")]
            })
            .collect();
        let latency = OPS
            .iter()
            .map(|&op| latency.get_or_create(&vec![("op", op)]).clone())
            .collect();
        RequestMetrics { counts, latency }
    }

    /// How many requests of operation `op` were answered (ok and error).
    pub fn total(&self, op: usize) -> u64 {
        self.counts.get(op).map_or(0, |c| c[0].get() + c[1].get())
    }

    /// Counts one answered request of operation `op`, and its latency `took` if measured.
    pub fn record(&self, op: usize, response: &Response, took: Option<Duration>) {
        let failed = matches!(response, Response::Error(_)) as usize;
        if let Some(counts) = self.counts.get(op) {
            counts[failed].inc();
        }
        if let (Some(took), Some(latency)) = (took, self.latency.get(op)) {
            latency.observe(took.as_secs_f64());
        }
    }
}
