//! The run configuration turned into the model's types: what every peer of the run computes
//! with. Built once at start-up; a configuration the model cannot use is refused here.

use crate::config::OuterKind;
use crate::{RunConfig, RunId, Schedule, Window};
use model::codec::{Codec, CodecParams};
use model::outer::{ClipRule, Expected, OuterConfig, OuterOptimizer};
use model::train::{AdamWConfig, LrSchedule, TrainConfig};
use model::LlamaConfig;

/// A run, ready to compute with.
pub struct Run {
    /// The configuration as loaded.
    pub config: RunConfig,
    /// Its id.
    pub id: RunId,
    /// The window clock.
    pub schedule: Schedule,
    /// The model preset.
    pub llama: LlamaConfig,
    /// The gradient codec for the model.
    pub codec: Codec,
    /// The inner optimizer.
    pub train: TrainConfig,
    /// The outer optimizer.
    pub outer: OuterConfig,
    /// Aggregation's clipping.
    pub clip: ClipRule,
}

impl Run {
    /// Resolves `config`; fails with what the model refuses.
    pub fn new(config: RunConfig) -> anyhow::Result<Self> {
        let llama = LlamaConfig::by_name(&config.model.preset)?;
        let c = &config.codec;
        let codec = Codec::for_model(
            &llama,
            CodecParams {
                block: c.block,
                chunk_1d: c.chunk_1d,
                density_ppm: c.density_ppm,
                value_bits: c.value_bits,
                dct: c.dct,
            },
        )?;
        let i = &config.inner;
        let train = TrainConfig {
            schedule: LrSchedule {
                peak: i.lr,
                min: i.min_lr,
                warmup_steps: i.warmup_steps,
                total_steps: i.total_steps,
            },
            adamw: AdamWConfig { beta1: i.beta1, beta2: i.beta2, eps: i.eps, weight_decay: i.weight_decay },
            grad_clip: i.grad_clip,
            precision: Default::default(),
        };
        let o = &config.outer;
        let outer = match o.kind {
            OuterKind::Sgd => OuterConfig::sgd(o.lr),
            OuterKind::Nesterov => OuterConfig::nesterov(o.lr, o.momentum),
        };
        let a = &config.aggregate;
        let clip = ClipRule { cap: a.clip_cap as f64, history: a.clip_history as f64 };
        Ok(Self {
            id: config.run_id(),
            schedule: config.schedule()?,
            llama,
            codec,
            train,
            outer,
            clip,
            config,
        })
    }

    /// The subnet.
    pub fn netuid(&self) -> u16 {
        self.config.netuid
    }

    /// `K`: payloads in one update.
    pub fn k(&self) -> usize {
        self.config.aggregate.k as usize
    }

    /// `K + R`: candidates ranked.
    pub fn ranked(&self) -> usize {
        (self.config.aggregate.k + self.config.aggregate.reserve) as usize
    }

    /// `H`: inner steps per window.
    pub fn inner_steps(&self) -> usize {
        self.config.inner.steps as usize
    }

    /// The global step the first inner step of `w` runs at, `(w - first) H` (it drives the
    /// inner LR).
    pub fn first_step(&self, w: Window) -> u64 {
        w.0.saturating_sub(self.config.window.first).saturating_mul(self.config.inner.steps as u64)
    }

    /// What every payload of `w` on `base` must carry.
    pub fn expected(&self, w: Window, base: [u8; 32]) -> Expected {
        Expected { netuid: self.netuid(), window: w.0, base, run_id: self.id.0 }
    }

    /// The first field of a payload header that is not what a payload of `w` by `hotkey` on
    /// `base` must say: (field, found, expected), in hex where binary. The codec's own fields
    /// are checked by decoding.
    pub fn header_mismatch(
        &self,
        h: &model::codec::Header,
        w: Window,
        base: [u8; 32],
        hotkey: &[u8; 32],
    ) -> Option<(&'static str, String, String)> {
        if h.run_id != self.id.0 {
            return Some(("run id", hex::encode(h.run_id), self.id.to_string()));
        }
        if h.netuid != self.netuid() {
            return Some(("netuid", h.netuid.to_string(), self.netuid().to_string()));
        }
        if h.window != w.0 {
            return Some(("window", h.window.to_string(), w.0.to_string()));
        }
        if &h.hotkey != hotkey {
            return Some(("hotkey", hex::encode(h.hotkey), hex::encode(hotkey)));
        }
        if h.base != base {
            return Some(("base model", hex::encode(h.base), hex::encode(base)));
        }
        None
    }

    /// A fresh outer optimizer.
    pub fn outer_optimizer(&self) -> OuterOptimizer {
        OuterOptimizer::new(self.outer)
    }
}
