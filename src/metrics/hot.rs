//! `ringkv_hot_key_updates_per_second{key}`: the [`METRICS_TOP`] keys updated most over the last
//! minute, when `--hot-keys` is on (a bounded label set: at most ten keys).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::hotkeys::{self, METRICS_TOP};

/// Encodes the top keys on each scrape.
#[derive(Debug)]
pub struct HotKeysCollector;

impl Collector for HotKeysCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        if !hotkeys::enabled() {
            return Ok(());
        }
        let mut metric = enc.encode_descriptor(
            "hot_key_updates_per_second",
            "Updates per second over the last minute of the keys updated most (--hot-keys).",
            None,
            MetricType::Gauge,
        )?;
        for key in hotkeys::top(METRICS_TOP) {
            let labels = vec![("key", key.key)];
            ConstGauge::new(key.per_second).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
