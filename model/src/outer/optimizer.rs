//! The outer optimizer: SGD on the aggregated pseudo-gradient, optionally with (Nesterov)
//! momentum as in DiLoCo. Elementwise, so chunked parallelism cannot change a bit.

use rayon::prelude::*;

use crate::codec::CodecError;
use crate::error::Result;
use crate::params::Params;

const CHUNK: usize = 1 << 14;
const FORMAT: &str = "llm-subnet/outer-momentum/v1";

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OuterConfig {
    pub lr: f32,
    /// 0 disables momentum (plain SGD, SparseLoCo's choice: error feedback plays its role).
    pub momentum: f32,
    pub nesterov: bool,
}

impl OuterConfig {
    /// SparseLoCo: `theta -= lr * update`.
    pub fn sgd(lr: f32) -> Self {
        Self { lr, momentum: 0.0, nesterov: false }
    }

    /// DiLoCo's outer optimizer: Nesterov momentum.
    pub fn nesterov(lr: f32, momentum: f32) -> Self {
        Self { lr, momentum, nesterov: true }
    }
}

/// Outer optimizer state; every peer that follows the chain's updates holds the same one.
#[derive(Clone, Debug)]
pub struct OuterOptimizer {
    cfg: OuterConfig,
    momentum: Vec<Vec<f32>>,
}

impl OuterOptimizer {
    pub fn new(cfg: OuterConfig) -> Self {
        Self { cfg, momentum: Vec::new() }
    }

    /// `m = mu m + g`; `theta -= lr (g + mu m)` with Nesterov, `lr m` without, `lr g` if
    /// `mu = 0`. An update of other shapes than `theta` (or than the momentum) is refused and
    /// changes nothing.
    pub fn apply(&mut self, theta: &mut [Vec<f32>], update: &[Vec<f32>]) -> Result<(), CodecError> {
        crate::outer::feedback::same_shapes(theta, update)?;
        if !self.momentum.is_empty() {
            crate::outer::feedback::same_shapes(&self.momentum, update)?;
        }
        let OuterConfig { lr, momentum: mu, nesterov } = self.cfg;
        if mu == 0.0 {
            for (t, g) in theta.iter_mut().zip(update) {
                t.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(t, g)| {
                    t.iter_mut().zip(g).for_each(|(t, g)| *t -= lr * g);
                });
            }
            return Ok(());
        }
        if self.momentum.is_empty() {
            self.momentum = update.iter().map(|g| vec![0f32; g.len()]).collect();
        }
        for ((t, g), m) in theta.iter_mut().zip(update).zip(&mut self.momentum) {
            t.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(m.par_chunks_mut(CHUNK)).for_each(
                |((t, g), m)| {
                    for k in 0..t.len() {
                        m[k] = mu * m[k] + g[k];
                        let step = if nesterov { g[k] + mu * m[k] } else { m[k] };
                        t[k] -= lr * step;
                    }
                },
            );
        }
        Ok(())
    }

    /// Whether there is state to keep (momentum that has seen an update).
    pub fn has_state(&self) -> bool {
        !self.momentum.is_empty()
    }

    /// Writes the momentum (safetensors, `m.{index}`); consensus state with momentum on.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let named: Vec<(String, &[f32])> =
            self.momentum.iter().enumerate().map(|(i, m)| (format!("m.{i}"), m.as_slice())).collect();
        crate::io::save_vectors(path, FORMAT, &[], &named)
    }

    /// Reads a momentum written by [`OuterOptimizer::save`] for tensors of `sizes`.
    pub fn load(cfg: OuterConfig, path: &std::path::Path, sizes: &[usize]) -> Result<Self> {
        let expected: Vec<(String, usize)> =
            sizes.iter().enumerate().map(|(i, n)| (format!("m.{i}"), *n)).collect();
        let (_, momentum) = crate::io::load_vectors(path, FORMAT, &expected)?;
        Ok(Self { cfg, momentum })
    }

    /// [`OuterOptimizer::apply`] on a model's parameters.
    pub fn apply_to(&mut self, params: &Params, update: &[Vec<f32>]) -> Result<()> {
        let mut theta = params.to_vecs()?;
        self.apply(&mut theta, update)?;
        params.set_from_vecs(&theta)
    }
}
