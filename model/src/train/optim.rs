//! AdamW with decoupled weight decay (Loshchilov & Hutter), on flat f32 buffers.
//!
//! Elementwise only, so parallel chunking cannot change a single bit of the result.

use std::sync::Mutex;

use candle_core::{CpuStorage, InplaceOp1, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::error::Result;
use crate::ops::simd::vectorized;

const CHUNK: usize = 1 << 14;
const FORMAT: &str = "llm-subnet/adamw/v1";

/// The scalars of one step's update.
#[derive(Clone, Copy)]
pub(crate) struct Update {
    pub(crate) b1: f32,
    pub(crate) b2: f32,
    pub(crate) eps: f32,
    pub(crate) step_size: f32,
    pub(crate) bc2_sqrt: f32,
    pub(crate) wd: f32,
}

vectorized! {
    pub(crate) fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], u: Update) {
        let Update { b1, b2, eps, step_size, bc2_sqrt, wd } = u;
        for ((p, m), (v, g)) in p.iter_mut().zip(m).zip(v.iter_mut().zip(g)) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let denom = v.sqrt() / bc2_sqrt + eps;
            *p -= wd * *p + step_size * *m / denom;
        }
    }
}

/// Every element of one parameter, in parallel chunks.
fn update_all(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], u: Update) {
    p.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| update(p, m, v, g, u));
}

/// One parameter's update as an in-place op on its CPU storage.
struct InPlace<'a> {
    /// The moments, taken by the one call candle makes.
    m: Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
    g: &'a [f32],
    u: Update,
}

impl InplaceOp1 for InPlace<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else { candle_core::bail!("adamw: f32 parameters expected") };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw: the parameter is not contiguous")
        };
        let mut moments = self.m.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (m, v) = &mut *moments;
        let p = &mut data[a..b];
        if p.len() != m.len() || p.len() != v.len() || p.len() != self.g.len() {
            candle_core::bail!(
                "adamw: {} values, {} and {} moments, {} gradients",
                p.len(),
                m.len(),
                v.len(),
                self.g.len()
            );
        }
        update_all(p, m, v, self.g, self.u);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 }
    }
}

/// Cloning copies the moments: a snapshot to go back to when a round is dropped.
#[derive(Clone)]
pub struct AdamW {
    cfg: AdamWConfig,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Weight decay applies to matrices only, not to norm gains.
    decay: Vec<bool>,
    step: u64,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig, vars: &[Var]) -> Self {
        Self {
            cfg,
            m: vars.iter().map(|v| vec![0.0; v.elem_count()]).collect(),
            v: vars.iter().map(|v| vec![0.0; v.elem_count()]).collect(),
            decay: vars.iter().map(|v| v.rank() >= 2).collect(),
            step: 0,
        }
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// Writes the moments (`m.{i}`, `v.{i}`) and the step count, so a restarted miner goes on
    /// with the same optimizer (and learning-rate schedule position) it stopped with.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let mut named: Vec<(String, &[f32])> = Vec::with_capacity(2 * self.m.len());
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            named.push((format!("m.{i}"), m));
            named.push((format!("v.{i}"), v));
        }
        crate::io::save_vectors(path, FORMAT, &[("step", self.step.to_string())], &named)
    }

    /// Replaces the moments and step count with those [`AdamW::save`] wrote for a model of
    /// the same shapes; checks every size, finiteness and that second moments are not negative.
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        let fail = |reason: String| crate::error::ModelError::Checkpoint { path: path.into(), reason };
        let mut expected = Vec::with_capacity(2 * self.m.len());
        for (i, m) in self.m.iter().enumerate() {
            expected.push((format!("m.{i}"), m.len()));
            expected.push((format!("v.{i}"), m.len()));
        }
        let (meta, vectors) = crate::io::load_vectors(path, FORMAT, &expected)?;
        let step =
            meta.get("step").and_then(|s| s.parse().ok()).ok_or_else(|| fail("no step count".into()))?;
        let (mut m, mut v) = (Vec::with_capacity(self.m.len()), Vec::with_capacity(self.m.len()));
        for (k, data) in vectors.into_iter().enumerate() {
            if k % 2 == 0 {
                m.push(data);
            } else {
                if let Some(p) = data.iter().position(|x| *x < 0.0) {
                    return Err(fail(format!("v.{} is negative at {p}", k / 2)));
                }
                v.push(data);
            }
        }
        (self.m, self.v, self.step) = (m, v, step);
        Ok(())
    }

    /// One update of every var from its gradient (same order and sizes as at construction):
    /// `theta -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta)`.
    pub fn step(&mut self, vars: &[Var], grads: &[Vec<f32>], lr: f64) -> Result<()> {
        let lengths = |i: usize| (vars[i].elem_count(), self.m[i].len(), self.v[i].len(), grads[i].len());
        if vars.len() != self.m.len() || grads.len() != self.m.len() {
            return Err(crate::error::ModelError::Train(format!(
                "adamw: {} parameters, {} gradients, state for {}",
                vars.len(),
                grads.len(),
                self.m.len()
            )));
        }
        if let Some(i) = (0..vars.len()).find(|&i| {
            let (p, m, v, g) = lengths(i);
            p != m || p != v || p != g
        }) {
            return Err(crate::error::ModelError::Train(format!(
                "adamw: parameter {i} has (values, m, v, gradient) lengths {:?}",
                lengths(i)
            )));
        }
        self.step += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        let step_size = (lr / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        for (i, var) in vars.iter().enumerate() {
            let wd = if self.decay[i] { (lr * c.weight_decay) as f32 } else { 0.0 };
            let u = Update { b1, b2, eps, step_size, bc2_sqrt, wd };
            let (m, v, g) = (&mut self.m[i], &mut self.v[i], &grads[i]);
            if var.device().is_cpu() && var.dtype() == candle_core::DType::F32 {
                // Straight into the variable's storage: no copy out and back in.
                var.as_tensor().inplace_op1(&InPlace { m: Mutex::new((m, v)), g, u })?;
                continue;
            }
            let mut theta = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            update_all(&mut theta, m, v, g, u);
            var.set(&Tensor::from_vec(theta, var.shape(), var.device())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::simd::tests::{at_level, bits, supported};
    use crate::ops::simd::Level;

    #[test]
    fn the_update_and_the_norm_give_the_same_bits_on_every_level() {
        let rng = |s: &str| crate::rng::PortableRng::from_hashed(s.as_bytes()).normal_vec(1003, 1.0);
        let (p0, g) = (rng("p"), rng("g"));
        let v0: Vec<f32> = rng("v").iter().map(|x| x * x).collect();
        let u = Update { b1: 0.9, b2: 0.95, eps: 1e-8, step_size: 3e-4, bc2_sqrt: 0.3, wd: 3e-5 };
        let run = || {
            let (mut p, mut m, mut v) = (p0.clone(), rng("m"), v0.clone());
            update(&mut p, &mut m, &mut v, &g, u);
            let norm = crate::train::trainer::sum_of_squares(&g).to_bits();
            (bits(&[p, m, v]), norm)
        };
        let want = at_level(Level::Base, run);
        for level in supported() {
            assert_eq!(at_level(level, run), want, "{level:?} differs from the baseline");
        }
    }

    #[test]
    fn mismatched_gradients_are_errors() {
        let var =
            Var::from_tensor(&Tensor::zeros(4, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap())
                .unwrap();
        let mut opt = AdamW::new(AdamWConfig::default(), std::slice::from_ref(&var));
        assert!(opt.step(std::slice::from_ref(&var), &[vec![0.0; 3]], 1e-3).is_err());
        assert!(opt.step(std::slice::from_ref(&var), &[], 1e-3).is_err());
        assert!(opt.step(std::slice::from_ref(&var), &[vec![0.5; 4]], 1e-3).is_ok());
    }
}
