//! The validator's Prometheus metrics, served on `GET /metrics` of its axon.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric, cheap to clone (they share their values).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Payloads fetched that passed their check.
    pub payloads_fetched: Counter,
    /// Payloads that scored nothing, by reason.
    pub payloads_rejected: Family<Labels, Counter>,
    /// Approval commitments that landed.
    pub approvals_committed: Counter,
    /// Windows scored.
    pub windows_scored: Counter,
    /// Seconds spent scoring.
    pub eval_seconds: Counter<f64, AtomicU64>,
    /// Loss of the global model on the last window's random pages.
    pub model_loss: Gauge<f64, AtomicU64>,
    /// Weight vectors that landed on chain.
    pub weights_set: Counter,
    /// Payload and checkpoint bytes served to other peers.
    pub bytes_served: Counter,
    /// Windows between the chain's head and this peer's model.
    pub sync_lag_windows: Gauge,
    /// The quorum's base differed from this peer's model.
    pub fingerprint_mismatches: Counter,
    /// Updates applied.
    pub updates_applied: Counter,
    /// Checkpoints saved to the archive.
    pub checkpoints_saved: Counter,
    /// Windows replayed from another validator's update log.
    pub caught_up: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `validator_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("validator");
        let m = Self {
            registry: Arc::new(Registry::default()),
            payloads_fetched: Counter::default(),
            payloads_rejected: Family::default(),
            approvals_committed: Counter::default(),
            windows_scored: Counter::default(),
            eval_seconds: Counter::default(),
            model_loss: Gauge::default(),
            weights_set: Counter::default(),
            bytes_served: Counter::default(),
            sync_lag_windows: Gauge::default(),
            fingerprint_mismatches: Counter::default(),
            updates_applied: Counter::default(),
            checkpoints_saved: Counter::default(),
            caught_up: Counter::default(),
        };
        r.register(
            "payloads_fetched",
            "Payloads fetched that passed their check",
            m.payloads_fetched.clone(),
        );
        r.register(
            "payloads_rejected",
            "Payloads that scored nothing, by reason",
            m.payloads_rejected.clone(),
        );
        r.register(
            "approvals_committed",
            "Approval commitments that landed on chain",
            m.approvals_committed.clone(),
        );
        r.register("windows_scored", "Windows whose payloads were scored", m.windows_scored.clone());
        r.register("eval_seconds", "Seconds spent scoring payloads", m.eval_seconds.clone());
        r.register(
            "model_loss",
            "Loss of the global model on the last scored window's random pages",
            m.model_loss.clone(),
        );
        r.register("weights_set", "Weight vectors that landed on chain", m.weights_set.clone());
        r.register("bytes_served", "Bytes served to other peers", m.bytes_served.clone());
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
        r.register("checkpoints_saved", "Checkpoints saved to the archive", m.checkpoints_saved.clone());
        r.register(
            "caught_up_windows",
            "Windows replayed from another validator's update log",
            m.caught_up.clone(),
        );
        Self { registry: Arc::new(r), ..m }
    }

    /// Counts a payload that scored nothing.
    pub fn rejected(&self, reason: &str) {
        self.payloads_rejected.get_or_create(&vec![("reason".into(), reason.into())]).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
