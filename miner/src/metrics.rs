//! The miner's Prometheus metrics, served on `GET /metrics` of its axon.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every metric, cheap to clone (they share their values).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Windows whose inner round ran to the end.
    pub windows_trained: Counter,
    /// Windows skipped, by reason.
    pub windows_skipped: Family<Vec<(String, String)>, Counter>,
    /// Windows whose commitment landed.
    pub windows_committed: Counter,
    /// Mean loss of the last inner round.
    pub loss: Gauge<f64, AtomicU64>,
    /// Training throughput of the last inner round.
    pub tokens_per_second: Gauge<f64, AtomicU64>,
    /// Payload bytes served to other peers.
    pub bytes_served: Counter,
    /// Windows between the chain's head and this peer's model.
    pub sync_lag_windows: Gauge,
    /// The quorum's base differed from this peer's model.
    pub fingerprint_mismatches: Counter,
    /// Updates applied.
    pub updates_applied: Counter,
    /// Fetches that failed, by reason.
    pub fetch_failures: Family<Vec<(String, String)>, Counter>,
    /// Rounds trained on a predicted model, by outcome: confirmed, wrong, late.
    pub predictions: Family<Vec<(String, String)>, Counter>,
    /// Seconds spent per part of the window: predict, sync, train, compress, store, commit.
    pub phase_seconds: Family<Vec<(String, String)>, Counter<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `miner_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("miner");
        let m = Self {
            registry: Arc::new(Registry::default()),
            windows_trained: Counter::default(),
            windows_skipped: Family::default(),
            windows_committed: Counter::default(),
            loss: Gauge::default(),
            tokens_per_second: Gauge::default(),
            bytes_served: Counter::default(),
            sync_lag_windows: Gauge::default(),
            fingerprint_mismatches: Counter::default(),
            updates_applied: Counter::default(),
            fetch_failures: Family::default(),
            predictions: Family::default(),
            phase_seconds: Family::default(),
        };
        r.register("windows_trained", "Windows whose inner round ran to the end", m.windows_trained.clone());
        r.register("windows_skipped", "Windows skipped, by reason", m.windows_skipped.clone());
        r.register(
            "windows_committed",
            "Windows whose commitment landed on chain",
            m.windows_committed.clone(),
        );
        r.register("loss", "Mean training loss of the last inner round", m.loss.clone());
        r.register(
            "tokens_per_second",
            "Training throughput of the last inner round",
            m.tokens_per_second.clone(),
        );
        r.register("bytes_served", "Payload bytes served to other peers", m.bytes_served.clone());
        r.register(
            "sync_lag_windows",
            "Windows between the chain head and this peer's model",
            m.sync_lag_windows.clone(),
        );
        r.register(
            "fingerprint_mismatches",
            "Times the quorum's base differed from this peer's model",
            m.fingerprint_mismatches.clone(),
        );
        r.register("updates_applied", "Window updates applied to the model", m.updates_applied.clone());
        r.register("fetch_failures", "Payload fetches that failed, by reason", m.fetch_failures.clone());
        r.register(
            "predictions",
            "Rounds trained on a predicted model, by outcome (confirmed, wrong, late)",
            m.predictions.clone(),
        );
        r.register("phase_seconds", "Seconds spent per part of the window", m.phase_seconds.clone());
        Self { registry: Arc::new(r), ..m }
    }

    /// Adds `seconds` to a part of the window.
    pub fn phase(&self, phase: &str, seconds: f64) {
        self.phase_seconds.get_or_create(&vec![("phase".into(), phase.into())]).inc_by(seconds);
    }

    /// Counts a skipped window.
    pub fn skipped(&self, reason: &str) {
        self.windows_skipped.get_or_create(&vec![("reason".into(), reason.into())]).inc();
    }

    /// Counts a round trained on a predicted model.
    pub fn prediction(&self, outcome: &str) {
        self.predictions.get_or_create(&vec![("outcome".into(), outcome.into())]).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
