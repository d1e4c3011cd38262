//! What a running log measures, in the Prometheus (OpenMetrics) text
//! format: entries and batches sequenced, batch sizes, the time from
//! `add` to a published checkpoint, witness round trips, failures.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A log's metrics; cheap to update from any thread.
pub struct LogMetrics {
    registry: Registry,
    pub(crate) entries: Counter,
    pub(crate) batches: Counter,
    pub(crate) batch_failures: Counter,
    pub(crate) batch_size: Histogram,
    pub(crate) add_latency: Histogram,
    pub(crate) witness_round_trip: Histogram,
    pub(crate) witness_failures: Counter,
    pub(crate) tree_size: Gauge,
    /// 1 while this process is the leader of several front ends.
    pub(crate) leader: Gauge,
    /// The leader epoch this process last saw.
    pub(crate) leader_epoch: Gauge,
    /// How often this process became the leader.
    pub(crate) takeovers: Counter,
}

impl Default for LogMetrics {
    fn default() -> Self {
        let entries = Counter::default();
        let batches = Counter::default();
        let batch_failures = Counter::default();
        // 1, 2, 4, ... 8192 entries.
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        // 1 ms .. about 16 s.
        let add_latency = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let witness_round_trip = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let witness_failures = Counter::default();
        let tree_size = Gauge::default();
        let mut registry = Registry::with_prefix("vitrine_log");
        registry.register(
            "entries",
            "Entries sequenced into a published checkpoint",
            entries.clone(),
        );
        registry.register("batches", "Batches published", batches.clone());
        registry.register(
            "batch_failures",
            "Batches that failed and were re-derived from storage",
            batch_failures.clone(),
        );
        registry.register(
            "batch_size",
            "New entries per published batch",
            batch_size.clone(),
        );
        registry.register(
            "add_latency_seconds",
            "From add to the published checkpoint that covers the entry",
            add_latency.clone(),
        );
        registry.register(
            "witness_round_trip_seconds",
            "Gathering a quorum of cosignatures for one checkpoint",
            witness_round_trip.clone(),
        );
        registry.register(
            "witness_failures",
            "Checkpoints the witnesses did not cosign to a quorum",
            witness_failures.clone(),
        );
        registry.register("tree_size", "Size of the published tree", tree_size.clone());
        LogMetrics {
            leader: Gauge::default(),
            leader_epoch: Gauge::default(),
            takeovers: Counter::default(),
            registry,
            entries,
            batches,
            batch_failures,
            batch_size,
            add_latency,
            witness_round_trip,
            witness_failures,
            tree_size,
        }
    }
}

impl LogMetrics {
    /// The metrics of one of several front ends ([`crate::Node`]): those of
    /// a log, plus whether this process leads (`vitrine_log_leader`), the
    /// leader epoch it knows, and how often it took over.
    pub fn for_cluster() -> Self {
        let mut metrics = Self::default();
        metrics.registry.register(
            "leader",
            "1 while this front end is the leader (sequences), 0 while it follows",
            metrics.leader.clone(),
        );
        metrics.registry.register(
            "leader_epoch",
            "The leader epoch this front end knows",
            metrics.leader_epoch.clone(),
        );
        metrics.registry.register(
            "takeovers",
            "Times this front end became the leader",
            metrics.takeovers.clone(),
        );
        metrics
    }

    /// Every metric in the OpenMetrics text format (what Prometheus
    /// scrapes), ending with `# EOF`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("invariant: writing to a String cannot fail");
        out
    }

    pub(crate) fn published(&self, new_entries: usize, size: u64) {
        self.entries.inc_by(new_entries as u64);
        self.batches.inc();
        self.batch_size.observe(new_entries as f64);
        self.tree_size.set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    pub(crate) fn witnesses(&self, took: Duration, ok: bool) {
        self.witness_round_trip.observe(took.as_secs_f64());
        if !ok {
            self.witness_failures.inc();
        }
    }
}
