//! The run configuration (`docs/protocol.md`, section 1): one TOML file every peer of a run
//! shares, and its id.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::window::{Schedule, ScheduleError};

/// Largest configuration file read.
const MAX_FILE: u64 = 64 * 1024;

/// A run's configuration. Field order is part of the run id: append, never reorder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Bumped on any change to decode, aggregate, outer step or fingerprint.
    pub consensus_version: u32,
    /// The subnet the run trains on.
    pub netuid: u16,
    /// The shared model.
    pub model: ModelConfig,
    /// The training data.
    pub data: DataConfig,
    /// The window schedule.
    pub window: WindowConfig,
    /// Each miner's inner optimization within a window.
    pub inner: InnerConfig,
    /// The gradient codec.
    pub codec: CodecConfig,
    /// Error feedback.
    pub feedback: FeedbackConfig,
    /// The outer step every peer applies.
    pub outer: OuterConfig,
    /// How payloads are selected and combined.
    pub aggregate: AggregateConfig,
}

/// `[model]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A `model` preset name (`tiny`, `small`, ...).
    pub preset: String,
    /// Genesis weights: `Params::init(config, seed)`.
    pub seed: u64,
}

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The training dataset's `manifest.json` content hash, 64 lowercase hex digits.
    pub content_hash: String,
    /// Tokens per page.
    pub page_len: u32,
}

/// `[window]`, in blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// The run's first window: `S_first` is the genesis model, earlier windows are no part of
    /// the run (the owner sets it when the run starts, so nobody replays the chain's past).
    pub first: u64,
    /// `B`: blocks per window.
    pub blocks: u64,
    /// `a`: blocks after the commit deadline for approvals.
    pub approval_blocks: u64,
    /// Blocks before the commit deadline by which a commit must be submitted.
    pub commit_margin: u64,
}

/// `[inner]`: AdamW with a cosine schedule over the global step `w * H + h`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnerConfig {
    /// `H`: AdamW steps per window.
    pub steps: u32,
    /// Pages in one step's batch.
    pub pages_per_step: u32,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Linear warmup, in global steps.
    pub warmup_steps: u64,
    /// Global steps the cosine runs over.
    pub total_steps: u64,
    /// Decoupled weight decay (matrices only).
    pub weight_decay: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
}

/// `[codec]`: `model::codec::CodecParams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodecConfig {
    /// Largest chunk side for matrices.
    pub block: u16,
    /// Largest chunk length for vectors.
    pub chunk_1d: u32,
    /// Share of each chunk sent, parts per million.
    pub density_ppm: u32,
    /// Bits per sent value.
    pub value_bits: u8,
    /// DCT-II on each chunk before top-k.
    pub dct: bool,
}

/// `[feedback]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Error-feedback decay: `e = beta e + delta`.
    pub beta: f32,
}

/// The outer optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OuterKind {
    /// Plain SGD on the aggregated pseudo-gradient.
    Sgd,
    /// Nesterov momentum (DiLoCo).
    Nesterov,
}

/// `[outer]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuterConfig {
    /// Which optimizer.
    pub kind: OuterKind,
    /// Its learning rate.
    pub lr: f32,
    /// Nesterov momentum; must be 0 for `sgd`.
    pub momentum: f32,
}

/// `[aggregate]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// `K`: payloads in one update.
    pub k: u32,
    /// `R`: candidates ranked beyond `K`.
    pub reserve: u32,
    /// Per-tensor norm cap.
    pub clip_cap: f32,
    /// Multiple of the recent windows' clip thresholds.
    pub clip_history: f32,
}

/// The run id: `blake2_256` of the configuration's canonical JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId(pub [u8; 32]);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunId({self})")
    }
}

/// Why a configuration is refused.
#[allow(missing_docs)] // the fields are the message's
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {size} bytes, more than a run configuration's limit of {MAX_FILE}")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: String, key: &'static str, message: String },
    #[error("{path}: {source}")]
    Schedule {
        path: String,
        #[source]
        source: ScheduleError,
    },
    /// `context`: what this peer runs, whose id `theirs` is, and the first differing key if known.
    #[error("this peer runs {ours} ({context}")]
    Mismatch { ours: RunId, theirs: RunId, context: String },
}

impl RunConfig {
    /// Reads and checks a TOML file (size-capped before reading).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let io = |source| ConfigError::Io { path: shown.clone(), source };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_FILE {
            return Err(ConfigError::TooLarge { path: shown, size });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: RunConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.into(), message: e.to_string() })?;
        cfg.check(origin)?;
        Ok(cfg)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key, message: &str| {
            Err(ConfigError::Invalid { path: origin.into(), key, message: message.into() })
        };
        self.schedule().map_err(|source| ConfigError::Schedule { path: origin.into(), source })?;
        let hash = &self.data.content_hash;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return bad(
                "data.content_hash",
                "must be 64 lowercase hex digits (manifest.json's content hash)",
            );
        }
        if self.data.page_len == 0 {
            return bad("data.page_len", "must be at least 1");
        }
        let i = &self.inner;
        if i.steps == 0 || i.pages_per_step == 0 {
            return bad("inner", "steps and pages_per_step must be at least 1");
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(positive(i.lr) && i.min_lr.is_finite() && (0.0..=i.lr).contains(&i.min_lr)) {
            return bad("inner.lr", "lr must be positive and min_lr in [0, lr]");
        }
        if !(0.0..1.0).contains(&i.beta1) || !(0.0..1.0).contains(&i.beta2) || !positive(i.eps) {
            return bad("inner", "beta1 and beta2 must be in [0, 1), eps positive");
        }
        if !(i.weight_decay.is_finite() && i.weight_decay >= 0.0 && positive(i.grad_clip)) {
            return bad("inner", "weight_decay must be at least 0 and grad_clip positive");
        }
        let c = &self.codec;
        if c.block == 0 || c.chunk_1d == 0 || !(1..=8).contains(&c.value_bits) {
            return bad("codec", "block and chunk_1d must be at least 1, value_bits in 1..=8");
        }
        if c.density_ppm == 0 || c.density_ppm > 1_000_000 {
            return bad("codec.density_ppm", "must be in 1..=1000000");
        }
        if !(0.0..1.0).contains(&self.feedback.beta) {
            return bad("feedback.beta", "must be in [0, 1)");
        }
        let o = &self.outer;
        let positive = |x: f32| x.is_finite() && x > 0.0;
        if !positive(o.lr)
            || !(0.0..1.0).contains(&o.momentum)
            || (o.kind == OuterKind::Sgd && o.momentum != 0.0)
        {
            return bad("outer", "lr must be positive, momentum in [0, 1) and 0 for sgd");
        }
        let a = &self.aggregate;
        if a.k == 0 || !positive(a.clip_cap) || !positive(a.clip_history) {
            return bad("aggregate", "k must be at least 1, clip_cap and clip_history positive");
        }
        if (a.k as usize).saturating_add(a.reserve as usize) > crate::quorum::MAX_RANKED {
            return bad("aggregate", "k + reserve must be at most 256 (the approval bitmap's size)");
        }
        Ok(())
    }

    /// The window schedule.
    pub fn schedule(&self) -> Result<Schedule, ScheduleError> {
        let w = &self.window;
        Schedule::new(w.blocks, w.approval_blocks, w.commit_margin)
    }

    /// Struct fields in order, no whitespace, floats in shortest round-trip form: the bytes
    /// the run id hashes. TOML comments and layout do not enter it.
    pub fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a run configuration serializes")
    }

    /// The run id.
    pub fn run_id(&self) -> RunId {
        RunId(sp_crypto_hashing::blake2_256(&self.canonical_json()))
    }

    /// Refuses another peer's run id (`from` says whose), naming the first key that differs
    /// when that peer's configuration is known.
    pub fn ensure_same_run(
        &self,
        theirs: RunId,
        from: &str,
        their_config: Option<&RunConfig>,
    ) -> Result<(), ConfigError> {
        let ours = self.run_id();
        if ours == theirs {
            return Ok(());
        }
        let detail = their_config
            .and_then(|t| first_difference(self, t))
            .map_or_else(String::new, |(key, a, b)| format!(": {key} is {a} here and {b} there"));
        let context = format!(
            "preset {}, dataset {}) but {from} is on run {theirs}{detail}",
            self.model.preset,
            short(&self.data.content_hash)
        );
        Err(ConfigError::Mismatch { ours, theirs, context })
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The first leaf (dotted key, our value, their value) where two configurations differ.
fn first_difference(a: &RunConfig, b: &RunConfig) -> Option<(String, String, String)> {
    fn walk(prefix: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<(String, String, String)> {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => x.iter().find_map(|(k, va)| {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match y.get(k) {
                    Some(vb) => walk(&key, va, vb),
                    None => Some((key, va.to_string(), "missing".into())),
                }
            }),
            _ if a != b => Some((prefix.into(), a.to_string(), b.to_string())),
            _ => None,
        }
    }
    let (a, b) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    walk("", &a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = include_str!("../../../config/localnet-tiny.toml");
    const SMALL: &str = include_str!("../../../config/localnet-small.toml");

    #[test]
    fn the_shipped_configs_load_and_differ() {
        let tiny = RunConfig::parse(TINY, "tiny").unwrap();
        let small = RunConfig::parse(SMALL, "small").unwrap();
        assert_eq!(tiny.model.preset, "tiny");
        assert_eq!(small.model.preset, "small");
        assert_ne!(tiny.run_id(), small.run_id());
        let e =
            tiny.ensure_same_run(small.run_id(), "the subnet owner", Some(&small)).unwrap_err().to_string();
        assert!(
            e.contains("the subnet owner") && e.contains("model.preset is \"tiny\" here and \"small\" there"),
            "{e}"
        );
    }

    #[test]
    fn comments_and_layout_do_not_change_the_run_id_but_values_do() {
        let a = RunConfig::parse(TINY, "a").unwrap();
        let reflowed =
            TINY.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n\n");
        let b = RunConfig::parse(&reflowed, "b").unwrap();
        assert_eq!(a.run_id(), b.run_id());
        let mut c = a.clone();
        c.outer.lr *= 1.0000001;
        assert_ne!(a.run_id(), c.run_id());
        assert!(a.ensure_same_run(a.run_id(), "x", None).is_ok());
    }

    #[test]
    fn the_run_id_is_pinned() {
        // Peers on different machines and builds must agree on it; a change here is a new run.
        let tiny = RunConfig::parse(TINY, "tiny").unwrap();
        assert_eq!(tiny.canonical_json().first(), Some(&b'{'));
        let json = String::from_utf8(tiny.canonical_json()).unwrap();
        assert!(
            json.starts_with("{\"consensus_version\":1,\"netuid\":1,\"model\":{\"preset\":\"tiny\""),
            "{json}"
        );
        assert!(!json.contains(' '), "{json}");
        // Checked in: serde_json's float formatting or a field change moves it, and that is a
        // different run for every peer that has not upgraded.
        assert_eq!(
            tiny.run_id().to_string(),
            "121628cbeeee19e76cc4d4bdb9de03d4415a732c8426641aed91b24c4357ec7b"
        );
    }

    #[test]
    fn bad_configs_are_refused_with_the_key() {
        let cases = [
            ("blocks = 20", "blocks = 1", "window.blocks must be at least 2"),
            ("approval_blocks = 8", "approval_blocks = 0", "window.approval_blocks"),
            ("density_ppm = 15625", "density_ppm = 0", "codec.density_ppm"),
            ("beta = 0.95", "beta = 1.5", "feedback.beta"),
            ("k = 8", "k = 0", "aggregate"),
            ("lr = 1.0", "lr = -1.0", "outer"),
            ("page_len = 256", "page_len = 256\nextra = 1", "unknown field `extra`"),
        ];
        for (from, to, want) in cases {
            assert!(TINY.contains(from), "the tiny config has no {from:?}");
            let text = TINY.replacen(from, to, 1);
            let e = RunConfig::parse(&text, "cfg.toml").unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with("cfg.toml"), "{to:?}: {e}");
        }
        let text = TINY.replace(&RunConfig::parse(TINY, "t").unwrap().data.content_hash, "ABC");
        let e = RunConfig::parse(&text, "cfg.toml").unwrap_err().to_string();
        assert!(e.contains("data.content_hash"), "{e}");
    }

    #[test]
    fn oversized_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE as usize + 1]).unwrap();
        assert!(matches!(RunConfig::load(&big), Err(ConfigError::TooLarge { .. })));
        let e = RunConfig::load(&dir.path().join("none.toml")).unwrap_err().to_string();
        assert!(e.contains("none.toml"), "{e}");
    }
}
