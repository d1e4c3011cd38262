//! What a running intake measures, in the Prometheus (OpenMetrics) text
//! format served at `GET /metrics`: submissions by outcome, receipts
//! logged, deletions, the custody log's round trips, and the accesses and
//! deletions recorded in the store.
//!
//! No metric has a tenant label: tenant pseudonyms, sample hashes and
//! analyst names never appear, so the endpoint can be scraped without a
//! tenant token.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::EventCounts;

/// What became of a submission that reached the intake's handler (an
/// unknown token, a rate limit or a full tenant are refused before it).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// `stored`: stored (new content or record) and its receipt logged.
    Stored,
    /// `unchanged`: already held, nothing new stored; a receipt logged.
    Unchanged,
    /// `refused`: malformed, too large, a document, or the wrong type (4xx).
    Refused,
    /// `log_unavailable`: the receipt could not be logged; what was
    /// stored is undone (502).
    LogUnavailable,
    /// `failed`: the intake failed (no keyholders, a store error; 5xx).
    Failed,
}

impl Outcome {
    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Unchanged => "unchanged",
            Outcome::Refused => "refused",
            Outcome::LogUnavailable => "log_unavailable",
            Outcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Outcome,
}

/// A call to the custody log.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Call {
    /// `add`: `POST /add` of a statement, until the log answers its index.
    Add,
    /// `prove`: from the index to an inclusion proof under a checkpoint
    /// that covers it.
    Prove,
}

impl EncodeLabelValue for Call {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(match self {
            Call::Add => "add",
            Call::Prove => "prove",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    call: Call,
}

/// An intake's metrics; cheap to update from any thread.
pub struct IntakeMetrics {
    registry: Registry,
    submissions: Family<OutcomeLabel, Counter>,
    receipts: Counter,
    deletions: Counter,
    log_seconds: Family<CallLabel, Histogram, fn() -> Histogram>,
    log_failures: Family<CallLabel, Counter>,
    store_accesses: Gauge,
    store_deletions: Gauge,
    store_pending: Gauge,
    store_up: Gauge,
}

impl Default for IntakeMetrics {
    fn default() -> Self {
        let submissions = Family::<OutcomeLabel, Counter>::default();
        let receipts = Counter::default();
        let deletions = Counter::default();
        // 1 ms .. about 33 s: a proof waits for the log's next witnessed
        // checkpoint.
        let log_seconds =
            Family::<CallLabel, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            });
        let log_failures = Family::<CallLabel, Counter>::default();
        let (store_accesses, store_deletions, store_pending, store_up): (
            Gauge,
            Gauge,
            Gauge,
            Gauge,
        ) = Default::default();
        let mut registry = Registry::with_prefix("vitrine_intake");
        registry.register(
            "submissions",
            "Submissions answered by this process, by outcome",
            submissions.clone(),
        );
        registry.register(
            "receipts_logged",
            "Receipts this process logged in the custody log",
            receipts.clone(),
        );
        registry.register(
            "deletions_logged",
            "Deletions (retention or request) this process logged",
            deletions.clone(),
        );
        registry.register(
            "custody_log_seconds",
            "Round trips to the custody log, by call",
            log_seconds.clone(),
        );
        registry.register(
            "custody_log_failures",
            "Calls to the custody log that failed, by call",
            log_failures.clone(),
        );
        registry.register(
            "store_accesses",
            "Vault accesses recorded in the store, by every process",
            store_accesses.clone(),
        );
        registry.register(
            "store_deletions",
            "Deletions recorded in the store, by every process",
            store_deletions.clone(),
        );
        registry.register(
            "store_events_pending",
            "Accesses and deletions recorded whose log index is not recorded",
            store_pending.clone(),
        );
        registry.register(
            "store_up",
            "Whether the store answered at the last scrape (1) or not (0)",
            store_up.clone(),
        );
        IntakeMetrics {
            registry,
            submissions,
            receipts,
            deletions,
            log_seconds,
            log_failures,
            store_accesses,
            store_deletions,
            store_pending,
            store_up,
        }
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl IntakeMetrics {
    /// Every metric in the OpenMetrics text format (what Prometheus
    /// scrapes), ending with `# EOF`, with the store's counts as `counts`
    /// says (`Err`: the store did not answer; the last counts stay).
    pub fn text<E>(&self, counts: Result<EventCounts, E>) -> String {
        match counts {
            Ok(c) => {
                self.store_accesses.set(gauge(c.accesses));
                self.store_deletions.set(gauge(c.deletions));
                self.store_pending.set(gauge(c.pending));
                self.store_up.set(1);
            }
            Err(_) => {
                self.store_up.set(0);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("invariant: writing to a String cannot fail");
        out
    }

    /// A submission answered.
    pub fn submission(&self, outcome: Outcome) {
        self.submissions
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A receipt logged.
    pub fn receipt_logged(&self) {
        self.receipts.inc();
    }

    /// A deletion logged.
    pub fn deletion_logged(&self) {
        self.deletions.inc();
    }

    /// A call to the custody log, how long it took, and whether it
    /// succeeded.
    pub fn log_call(&self, call: Call, took: Duration, ok: bool) {
        self.log_seconds
            .get_or_create(&CallLabel { call })
            .observe(took.as_secs_f64());
        if !ok {
            self.log_failures.get_or_create(&CallLabel { call }).inc();
        }
    }

    /// Runs `f`, a call to the custody log, and measures it.
    pub fn time<T, E>(&self, call: Call, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let start = std::time::Instant::now();
        let r = f();
        self.log_call(call, start.elapsed(), r.is_ok());
        r
    }
}
