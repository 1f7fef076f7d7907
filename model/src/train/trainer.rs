//! One optimizer step over micro-batches: forward, backward, gradient accumulation, global
//! grad-norm clipping, AdamW with the scheduled learning rate.

use candle_core::Var;

use super::optim::{AdamW, AdamWConfig};
use super::schedule::LrSchedule;
use crate::config::LlamaConfig;
use crate::data::Batch;
use crate::error::{ModelError, Result};
use crate::gemm::Precision;
use crate::llama::{Llama, Workspace};
use crate::params::Params;

#[derive(Clone, Copy, Debug)]
pub struct TrainConfig {
    pub schedule: LrSchedule,
    pub adamw: AdamWConfig,
    /// Global L2 norm the gradient is clipped to; 0 disables clipping.
    pub grad_clip: f64,
    /// Precision of the step's matrix products (bf16: rounded operands, f32 sums; the
    /// weights, gradients and optimizer stay f32).
    pub precision: Precision,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub step: u64,
    /// Mean loss over the step's micro-batches.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub lr: f64,
    pub tokens: usize,
}

pub struct Trainer {
    model: Llama,
    /// Activations kept between steps by the hand-written backward pass.
    workspace: std::sync::Mutex<Workspace>,
    /// The step's gradient, one buffer per parameter, reused across steps.
    grads: Vec<Vec<f32>>,
    params: Params,
    opt: AdamW,
    cfg: TrainConfig,
}

impl Trainer {
    pub fn new(params: Params, model_cfg: &LlamaConfig, cfg: TrainConfig) -> Result<Self> {
        let model = Llama::load(params.var_builder(), model_cfg)?;
        if cfg.precision != Precision::F32 {
            cfg.precision.check_supported().map_err(|e| ModelError::Train(e.to_string()))?;
            if !model.has_fused_gradients() {
                return Err(ModelError::Train(format!(
                    "--precision {} needs the fused kernels on CPU f32 weights",
                    cfg.precision
                )));
            }
        }
        let opt = AdamW::new(cfg.adamw, params.vars());
        let workspace = std::sync::Mutex::new(Workspace::new(cfg.precision));
        Ok(Self { model, workspace, grads: Vec::new(), params, opt, cfg })
    }

    pub fn model(&self) -> &Llama {
        &self.model
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn into_params(self) -> Params {
        self.params
    }

    /// Saves the optimizer's state (moments and step count).
    pub fn save_optimizer(&self, path: &std::path::Path) -> Result<()> {
        self.opt.save(path)
    }

    /// The optimizer's state in memory (moments and step count).
    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }

    /// Puts back an optimizer state taken with [`Trainer::optimizer`] from this trainer, as
    /// if the rounds since had not run.
    pub fn set_optimizer(&mut self, opt: AdamW) {
        self.opt = opt;
    }

    /// Restores an optimizer state saved for a model of the same shapes.
    pub fn load_optimizer(&mut self, path: &std::path::Path) -> Result<()> {
        self.opt.load(path)
    }

    /// Gradients of the mean loss over `micro` (each micro-batch weighted equally), in
    /// parameter order, plus that mean loss. Fails if any parameter receives no gradient.
    pub fn gradients(&self, micro: &[Batch]) -> Result<(Vec<Vec<f32>>, f64)> {
        let mut acc: Vec<Vec<f32>> = self.params.vars().iter().map(|v| vec![0f32; v.elem_count()]).collect();
        let loss = self.gradients_into(micro, &mut acc)?;
        Ok((acc, loss))
    }

    /// [`Trainer::gradients`] into `acc` (one zeroed buffer per parameter; overwritten).
    fn gradients_into(&self, micro: &[Batch], acc: &mut [Vec<f32>]) -> Result<f64> {
        if micro.is_empty() {
            return Err(ModelError::Train("a step needs at least one micro-batch".into()));
        }
        let scale = 1.0 / micro.len() as f32;
        let vars: &[Var] = self.params.vars();
        let mut loss_sum = 0f64;
        if self.model.has_fused_gradients() {
            let mut ws = self.workspace.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (k, batch) in micro.iter().enumerate() {
                let l = self.model.loss_and_gradients(
                    &mut ws,
                    &batch.inputs,
                    &batch.targets,
                    scale,
                    acc,
                    k > 0,
                )? as f64;
                if !l.is_finite() {
                    return Err(ModelError::Train(format!("loss is {l}")));
                }
                loss_sum += l;
            }
            return Ok(loss_sum / micro.len() as f64);
        }
        acc.iter_mut().for_each(|buf| buf.fill(0.0));
        for batch in micro {
            let loss = self.model.loss(&batch.inputs, &batch.targets)?;
            let l = loss.to_scalar::<f32>()? as f64;
            if !l.is_finite() {
                return Err(ModelError::Train(format!("loss is {l}")));
            }
            loss_sum += l;
            let grads = loss.backward()?;
            for ((var, spec), buf) in vars.iter().zip(self.params.specs()).zip(acc.iter_mut()) {
                let g = grads.get(var.as_tensor()).ok_or_else(|| {
                    ModelError::Train(format!("parameter {} received no gradient", spec.name))
                })?;
                let g = g.flatten_all()?.to_vec1::<f32>()?;
                for (a, x) in buf.iter_mut().zip(g) {
                    *a += x * scale;
                }
            }
        }
        Ok(loss_sum / micro.len() as f64)
    }

    /// One optimizer step, its learning rate at the optimizer's own step count.
    pub fn step(&mut self, micro: &[Batch]) -> Result<StepStats> {
        let step = self.opt.steps_taken();
        self.step_at(micro, step)
    }

    /// One optimizer step with the learning rate of `schedule_step` (a run's global step
    /// `w H + h`, which a peer that joined late has not taken itself). `StepStats::step` is
    /// `schedule_step + 1`.
    pub fn step_at(&mut self, micro: &[Batch], schedule_step: u64) -> Result<StepStats> {
        // The gradient buffers live across steps (`gradients_into` overwrites them).
        let mut grads = std::mem::take(&mut self.grads);
        if grads.len() != self.params.vars().len() {
            grads = self.params.vars().iter().map(|v| vec![0f32; v.elem_count()]).collect();
        }
        let result = self.step_with(micro, schedule_step, &mut grads);
        self.grads = grads;
        result
    }

    fn step_with(
        &mut self,
        micro: &[Batch],
        schedule_step: u64,
        grads: &mut [Vec<f32>],
    ) -> Result<StepStats> {
        let loss = self.gradients_into(micro, grads)?;
        let norm = global_norm(grads);
        if !norm.is_finite() {
            return Err(ModelError::Train(format!("gradient norm is {norm}")));
        }
        if self.cfg.grad_clip > 0.0 && norm > self.cfg.grad_clip {
            let f = (self.cfg.grad_clip / norm) as f32;
            grads.iter_mut().flatten().for_each(|g| *g *= f);
        }
        let step = schedule_step;
        let lr = self.cfg.schedule.at(step);
        self.opt.step(self.params.vars(), grads, lr)?;
        Ok(StepStats {
            step: step + 1,
            loss,
            grad_norm: norm,
            lr,
            tokens: micro.iter().map(Batch::tokens).sum(),
        })
    }

    /// Mean loss over `batches` (each weighted equally).
    pub fn eval_loss(&self, batches: &[Batch]) -> Result<f64> {
        eval_loss(&self.model, batches)
    }
}

/// Mean loss of `model` over `batches`.
pub fn eval_loss(model: &Llama, batches: &[Batch]) -> Result<f64> {
    if batches.is_empty() {
        return Err(ModelError::Train("evaluation needs at least one batch".into()));
    }
    let mut sum = 0f64;
    for b in batches {
        sum += model.loss(&b.inputs.detach(), &b.targets)?.to_scalar::<f32>()? as f64;
    }
    Ok(sum / batches.len() as f64)
}

/// L2 norm over all gradients: squares summed in f64 over eight running partials per
/// parameter (added in a fixed order), parameters in order.
pub fn global_norm(grads: &[Vec<f32>]) -> f64 {
    grads.iter().map(|g| sum_of_squares(g)).sum::<f64>().sqrt()
}

crate::ops::simd::vectorized! {
    pub(crate) fn sum_of_squares(g: &[f32]) -> f64 {
        let mut acc = [0f64; 8];
        let mut chunks = g.chunks_exact(8);
        for c in &mut chunks {
            for l in 0..8 {
                acc[l] += c[l] as f64 * c[l] as f64;
            }
        }
        for (l, v) in chunks.remainder().iter().enumerate() {
            acc[l] += *v as f64 * *v as f64;
        }
        ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
    }
}
