//! Fused CPU kernels with hand-written backward passes: fewer graph nodes and temporaries than
//! composed candle ops, which is where a small model's CPU training time goes.
//!
//! candle 0.11's fused `rms_norm`, `softmax_last_dim` and `rope` record no backward op, so a
//! model built from them silently trains only `lm_head`. These ops are fused for speed *and*
//! differentiable. On a non-CPU device each op falls back to a composition of differentiable
//! candle ops (the `reference` functions, which the tests also use as ground truth).
//!
//! Kernels are parallel over rows only; every reduction runs in a fixed order, so results are
//! bitwise identical whatever the thread count. Their loops are compiled for the CPU's vector
//! width (`simd`) with the order of every sum written out, so that does not change a bit
//! either.

mod attention;
mod cross_entropy;
mod exp;
mod linear;
mod rms_norm;
mod rope;
pub(crate) mod simd;
mod softmax;
mod swiglu;

pub use attention::{attention, AttnShape};
pub use cross_entropy::{cross_entropy, token_losses};
pub use linear::linear;
pub use rms_norm::rms_norm;
pub use rope::{rope, RopeTables};
pub use softmax::causal_softmax;
pub use swiglu::swiglu;

use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};

/// The fused kernels on plain f32 slices, for the hand-written training step
/// ([`crate::Llama::loss_and_gradients`]); the ops above wrap the same functions.
pub(crate) mod slices {
    pub(crate) use super::attention::Attention;
    pub(crate) use super::cross_entropy::{loss_and_grad_in_place, rows_token_losses as token_losses};
    pub(crate) use super::rms_norm::{backward as rms_norm_backward, forward as rms_norm};
    pub(crate) use super::simd::add_assign;
    pub(crate) use super::swiglu::{backward as swiglu_backward, forward as swiglu};
    pub(crate) use super::{f32_slice, fused};
}

/// Reference (composed, slow) versions, used on non-CPU devices and by tests.
pub mod reference {
    pub use super::attention::reference as attention;
    pub use super::cross_entropy::reference as cross_entropy;
    pub use super::linear::reference as linear;
    pub use super::rms_norm::reference as rms_norm;
    pub use super::rope::reference as rope;
    pub use super::softmax::reference as causal_softmax;
    pub use super::swiglu::reference as swiglu;
}

/// The f32 data of a contiguous CPU storage.
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("fused op: input must be contiguous"),
    }
}

/// Runs `f` on a tensor's f32 values (made contiguous first). CPU only.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(f32_slice(cpu, layout)?),
        _ => bail!("fused op: CPU tensor expected"),
    }
}

/// Whether the fused CPU kernels apply to this tensor.
pub(crate) fn fused(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

/// Which implementation of the model's ops runs: a choice made per model
/// ([`crate::Llama::with_kernels`]), so that a test can run the ground truth next to the fast
/// path in the same thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// The fused kernels on f32 CPU tensors; the composed ops on anything else.
    #[default]
    Fused,
    /// The composed, differentiable candle ops everywhere: the ground truth of the tests.
    Reference,
}

impl Kernels {
    /// `x @ w^T`.
    pub fn linear(self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        match self {
            Self::Fused => linear(x, w),
            Self::Reference => reference::linear(x, w),
        }
    }

    /// RMSNorm of the last axis, scaled by `w`.
    pub fn rms_norm(self, x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
        match self {
            Self::Fused => rms_norm(x, w, eps),
            Self::Reference => reference::rms_norm(x, w, eps),
        }
    }

    /// Causal GQA attention with rotary embeddings (see [`attention`]).
    pub fn attention(
        self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        shape: AttnShape,
        tables: &RopeTables,
    ) -> Result<Tensor> {
        match self {
            Self::Fused => attention(q, k, v, shape, tables),
            Self::Reference => reference::attention(q, k, v, shape, tables),
        }
    }

    /// `silu(gate) * up`.
    pub fn swiglu(self, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        match self {
            Self::Fused => swiglu(gate, up),
            Self::Reference => reference::swiglu(gate, up),
        }
    }

    /// Mean cross-entropy of `logits: [n, vocab]` against u32 `targets: [n]`.
    pub fn cross_entropy(self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Self::Fused => cross_entropy(logits, targets),
            Self::Reference => reference::cross_entropy(logits, targets),
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use candle_core::{Device, Tensor, Var};

    /// `n` standard normal values drawn from `seed`.
    pub fn normal(seed: &str, n: usize) -> Vec<f32> {
        crate::rng::PortableRng::from_hashed(seed.as_bytes()).normal_vec(n, 1.0)
    }

    pub fn randn(seed: &str, shape: &[usize]) -> Var {
        let v = normal(seed, shape.iter().product());
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        max_abs_diff_of(&a, &b)
    }

    pub fn max_abs_diff_of(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Weighted sum with fixed random weights, so every output element matters for the gradient.
    pub fn probe_loss(y: &Tensor) -> Tensor {
        let w = randn("probe", y.dims());
        (y * w.as_tensor()).unwrap().sum_all().unwrap()
    }

    /// Asserts that a fused op and its reference agree on the output (within `tol`) and on the
    /// gradient of every input (within `grad_tol`).
    pub fn assert_matches_reference(
        inputs: &[&Var],
        fused: impl Fn(&[&Tensor]) -> candle_core::Result<Tensor>,
        reference: impl Fn(&[&Tensor]) -> candle_core::Result<Tensor>,
        tol: f32,
        grad_tol: f32,
    ) {
        let ts: Vec<&Tensor> = inputs.iter().map(|v| v.as_tensor()).collect();
        let (y, r) = (fused(&ts).unwrap(), reference(&ts).unwrap());
        let diff = max_abs_diff(&y, &r);
        assert!(diff < tol, "outputs differ by {diff}");
        let (g1, g2) = (probe_loss(&y).backward().unwrap(), probe_loss(&r).backward().unwrap());
        for (i, t) in ts.iter().enumerate() {
            let diff = max_abs_diff(g1.get(t).unwrap(), g2.get(t).unwrap());
            assert!(diff < grad_tol, "gradient of input {i} differs by {diff}");
        }
    }
}
