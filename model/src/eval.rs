//! Evaluation without autograd: a model on plain tensors (no `Var`, so no op records a graph
//! for backward), loss per page, and the index overlap of two payloads that tells a copy from
//! independent work. Validators score payloads with these.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};

use crate::codec::Payload;
use crate::data::Dataset;
use crate::error::{ModelError, Result};
use crate::llama::Workspace;
use crate::params::{param_specs, ParamSpec};
use crate::{Llama, LlamaConfig};

/// A forward-only copy of a model's weights.
pub struct Evaluator {
    cfg: LlamaConfig,
    specs: Vec<ParamSpec>,
    model: Llama,
    /// One layer's activations and the logits, reused by every forward pass.
    workspace: Mutex<Workspace>,
}

impl Evaluator {
    /// A model with these weights (flat f32 per tensor, in spec order, as `Params::to_vecs`).
    pub fn new(cfg: &LlamaConfig, values: &[Vec<f32>]) -> Result<Self> {
        let specs = param_specs(cfg);
        let model = build(cfg, &specs, values)?;
        Ok(Self { cfg: cfg.clone(), specs, model, workspace: Default::default() })
    }

    /// Replaces the weights.
    pub fn set(&mut self, values: &[Vec<f32>]) -> Result<()> {
        self.model = build(&self.cfg, &self.specs, values)?;
        Ok(())
    }

    /// The next-token loss of each row of `inputs` predicting `targets` (both `[b, t]`, u32).
    pub fn row_losses(&self, inputs: &Tensor, targets: &Tensor) -> Result<Vec<f64>> {
        self.rows(inputs, targets)
    }

    /// The next-token loss of each page (mean over its tokens), `batch` pages per forward pass.
    pub fn page_losses(&self, data: &Dataset, pages: &[u64], batch: usize) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(pages.len());
        for chunk in pages.chunks(batch.max(1)) {
            let b = data.batch(chunk, &Device::Cpu)?;
            out.extend(self.rows(&b.inputs, &b.targets)?);
        }
        Ok(out)
    }
}

impl Evaluator {
    fn rows(&self, inputs: &Tensor, targets: &Tensor) -> Result<Vec<f64>> {
        if !self.model.has_fused_gradients() {
            return row_losses(&self.model, inputs, targets);
        }
        let (b, t) = inputs.dims2()?;
        let mut ws = self.workspace.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let per_token = self.model.token_losses(&mut ws, inputs, targets)?;
        Ok(page_means(&per_token, b, t))
    }
}

/// Each page's mean in token order, in f64.
fn page_means(per_token: &[f32], b: usize, t: usize) -> Vec<f64> {
    per_token.chunks(t).take(b).map(|page| page.iter().map(|&l| l as f64).sum::<f64>() / t as f64).collect()
}

fn build(cfg: &LlamaConfig, specs: &[ParamSpec], values: &[Vec<f32>]) -> Result<Llama> {
    let fits = values.len() == specs.len() && specs.iter().zip(values).all(|(s, v)| s.numel() == v.len());
    if !fits {
        return Err(ModelError::Train(format!(
            "{} value vectors do not fit the model's shapes",
            values.len()
        )));
    }
    let mut map = HashMap::with_capacity(specs.len());
    for (spec, v) in specs.iter().zip(values) {
        map.insert(spec.name.clone(), Tensor::from_slice(v, spec.shape.as_slice(), &Device::Cpu)?);
    }
    let vb = candle_nn::VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
    Ok(Llama::load(vb, cfg)?)
}

/// Mean cross-entropy of each row of `inputs` predicting `targets` (`[b, t]`).
fn row_losses(model: &Llama, inputs: &Tensor, targets: &Tensor) -> Result<Vec<f64>> {
    let (b, t) = inputs.dims2()?;
    if targets.dims2()? != (b, t) {
        return Err(ModelError::Train(format!(
            "inputs {:?} and targets {:?} differ",
            inputs.dims(),
            targets.dims()
        )));
    }
    let logits = model.forward(inputs)?.reshape((b * t, ()))?;
    let per_token = crate::ops::token_losses(&logits, &targets.flatten_all()?)?;
    Ok(page_means(&per_token, b, t))
}

/// The share of `a`'s sent positions that `b` sent too, over all tensors (0 when `a` sent
/// nothing). Independent miners on different pages share few top-k positions; a copy or a
/// replay shares nearly all.
pub fn index_overlap(a: &Payload, b: &Payload) -> f64 {
    let (mut shared, mut total) = (0usize, 0usize);
    for (ta, tb) in a.tensors.iter().zip(&b.tensors) {
        total += ta.positions.len();
        // Positions are ascending in both: a merge walk.
        let (mut i, mut j) = (0, 0);
        while i < ta.positions.len() && j < tb.positions.len() {
            match ta.positions[i].cmp(&tb.positions[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    if total == 0 {
        0.0
    } else {
        shared as f64 / total as f64
    }
}
