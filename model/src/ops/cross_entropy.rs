//! Mean cross-entropy of logits `[n, v]` against target ids `[n]` (u32), as a scalar.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::exp::exp;
use super::simd::{self, vectorized};
use super::{f32_slice, fused, with_f32};

/// Keeps the forward pass's per-row log-sum-exp for the backward pass (one exp pass fewer).
#[derive(Default)]
struct CrossEntropy {
    lse: std::sync::Mutex<Vec<f32>>,
}

vectorized! {
    pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
        let max = simd::max(row);
        // libm's logf, not the platform's: glibc picks its `logf` per CPU at load time.
        max + libm::logf(simd::sum_by(row, |v| exp(v - max)))
    }
}

vectorized! {
    /// One row of dL/dlogits: `scale * (softmax(row) - onehot(target))`, the one-hot part
    /// left to the caller.
    pub(crate) fn softmax_grad_row(out: &mut [f32], row: &[f32], lse: f32, scale: f32) {
        for (o, x) in out.iter_mut().zip(row) {
            *o = exp(x - lse) * scale;
        }
    }
}

fn targets_of<'a>(s: &'a CpuStorage, l: &Layout, n: usize, v: usize) -> Result<&'a [u32]> {
    let data = s.as_slice::<u32>()?;
    let t = match l.contiguous_offsets() {
        Some((a, b)) => &data[a..b],
        None => candle_core::bail!("cross_entropy: targets must be contiguous"),
    };
    check_targets(t, n, v)?;
    Ok(t)
}

fn check_targets(t: &[u32], n: usize, v: usize) -> Result<()> {
    if t.len() != n {
        candle_core::bail!("cross_entropy: {} targets for {n} rows", t.len());
    }
    if let Some(bad) = t.iter().find(|&&id| id as usize >= v) {
        candle_core::bail!("cross_entropy: target id {bad} is outside the vocabulary of {v}");
    }
    Ok(())
}

vectorized! {
    fn softmax_grad_in_place(row: &mut [f32], lse: f32, scale: f32) {
        row.iter_mut().for_each(|x| *x = exp(*x - lse) * scale);
    }
}

/// The mean cross-entropy of `logits` (rows of `v`) against `targets`; then overwrites the
/// logits with `scale` times its gradient, which is what a training step needs next, without
/// a second logits-sized buffer.
pub(crate) fn loss_and_grad_in_place(
    logits: &mut [f32],
    v: usize,
    targets: &[u32],
    scale: f32,
) -> Result<f32> {
    let n = logits.len() / v.max(1);
    check_targets(targets, n, v)?;
    let (lse, mean) = lse_and_mean(logits, v, targets);
    let s = scale / n as f32;
    logits.par_chunks_mut(v).zip(targets.par_iter().zip(lse.par_iter())).for_each(|(row, (&t, &lse))| {
        softmax_grad_in_place(row, lse, s);
        row[t as usize] -= s;
    });
    Ok(mean)
}

/// Each row's log-sum-exp and the mean loss against `targets` (checked by the caller), summed
/// in row order so the loss does not depend on the thread count.
fn lse_and_mean(logits: &[f32], v: usize, targets: &[u32]) -> (Vec<f32>, f32) {
    let lse: Vec<f32> = logits.par_chunks(v).map(log_sum_exp).collect();
    let total: f32 =
        lse.iter().zip(logits.chunks(v)).zip(targets).map(|((l, row), &t)| l - row[t as usize]).sum();
    let mean = total / lse.len() as f32;
    (lse, mean)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let logits = f32_slice(s1, l1)?;
        let &[n, v] = l1.dims() else {
            candle_core::bail!("cross_entropy: logits must be [n, v], got {:?}", l1.dims())
        };
        let targets = targets_of(s2, l2, n, v)?;
        let (lse, mean) = lse_and_mean(logits, v, targets);
        if let Ok(mut cache) = self.lse.lock() {
            *cache = lse;
        }
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, v) = logits.dims2()?;
        let scale = g.to_scalar::<f32>()? / n as f32;
        let targets = targets.to_vec1::<u32>()?;
        let cached = self.lse.lock().map(|c| c.clone()).unwrap_or_default();
        let grad = with_f32(logits, |x| {
            let lse_rows: Vec<f32> =
                if cached.len() == n { cached } else { x.par_chunks(v).map(log_sum_exp).collect() };
            let mut out = vec![0f32; x.len()];
            out.par_chunks_mut(v)
                .zip(x.par_chunks(v))
                .zip(targets.par_iter().zip(lse_rows.par_iter()))
                .for_each(|((o, row), (&t, &lse))| {
                    softmax_grad_row(o, row, lse, scale);
                    o[t as usize] -= scale;
                });
            Ok(out)
        })?;
        Ok((Some(Tensor::from_vec(grad, (n, v), logits.device())?), None))
    }
}

/// The cross-entropy of each row of `logits: [n, v]` against its target, without autograd: what
/// evaluation needs, in one pass for the maximum and one for the exponentials per row (the
/// composed `log_softmax` and `gather` make six and allocate each step).
pub fn token_losses(logits: &Tensor, targets: &Tensor) -> Result<Vec<f32>> {
    if targets.dtype() != DType::U32 {
        candle_core::bail!("token_losses: targets must be u32, got {:?}", targets.dtype());
    }
    let (n, v) = logits.dims2()?;
    let logits = logits.to_dtype(DType::F32)?.to_device(&candle_core::Device::Cpu)?;
    let targets = targets.to_device(&candle_core::Device::Cpu)?.contiguous()?;
    let (ts, tl) = targets.storage_and_layout();
    let candle_core::Storage::Cpu(ts) = &*ts else {
        candle_core::bail!("token_losses: CPU targets expected")
    };
    let targets = targets_of(ts, tl, n, v)?;
    with_f32(&logits, |x| rows_token_losses(x, v, targets))
}

/// [`token_losses`] on a slice of rows of `v` logits.
pub(crate) fn rows_token_losses(logits: &[f32], v: usize, targets: &[u32]) -> Result<Vec<f32>> {
    check_targets(targets, logits.len() / v.max(1), v)?;
    Ok(logits
        .par_chunks(v)
        .zip(targets.par_iter())
        .map(|(row, &t)| log_sum_exp(row) - row[t as usize])
        .collect())
}

/// Mean cross-entropy; errors (never panics) on a target id outside the vocabulary.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if targets.dtype() != DType::U32 {
        candle_core::bail!("cross_entropy: targets must be u32, got {:?}", targets.dtype());
    }
    if fused(logits) {
        logits.contiguous()?.apply_op2(&targets.contiguous()?, CrossEntropy::default())
    } else {
        reference(logits, targets)
    }
}

/// The same loss from candle's composed ops.
pub fn reference(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if targets.dtype() != DType::U32 {
        candle_core::bail!("cross_entropy: targets must be u32, got {:?}", targets.dtype());
    }
    candle_nn::loss::cross_entropy(logits, targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;
    use candle_core::Device;

    #[test]
    fn token_losses_match_log_softmax() {
        let x = randn("logits", &[6, 11]);
        let t = Tensor::new(&[0u32, 3, 10, 5, 5, 1], &Device::Cpu).unwrap();
        let got = token_losses(x.as_tensor(), &t).unwrap();
        let logp = candle_nn::ops::log_softmax(x.as_tensor(), 1).unwrap();
        let want = logp.gather(&t.reshape((6, 1)).unwrap(), 1).unwrap().neg().unwrap();
        for (g, w) in got.iter().zip(want.flatten_all().unwrap().to_vec1::<f32>().unwrap()) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        let bad = Tensor::new(&[0u32, 3, 11, 5, 5, 1], &Device::Cpu).unwrap();
        assert!(token_losses(x.as_tensor(), &bad)
            .unwrap_err()
            .to_string()
            .contains("outside the vocabulary"));
    }

    #[test]
    fn matches_reference_forward_and_backward() {
        let x = randn("logits", &[6, 11]);
        let t = Tensor::new(&[0u32, 3, 10, 5, 5, 1], &Device::Cpu).unwrap();
        let y = cross_entropy(x.as_tensor(), &t).unwrap();
        let r = reference(x.as_tensor(), &t).unwrap();
        assert!(max_abs_diff(&y, &r) < 1e-5);
        let g1 = (y * 3.0).unwrap().backward().unwrap();
        let g2 = (r * 3.0).unwrap().backward().unwrap();
        let d = max_abs_diff(g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
        assert!(d < 1e-5, "grad diff {d}");
    }

    #[test]
    fn out_of_vocab_target_is_an_error() {
        let x = randn("logits", &[2, 4]);
        let t = Tensor::new(&[0u32, 4], &Device::Cpu).unwrap();
        let err = cross_entropy(x.as_tensor(), &t).unwrap_err().to_string();
        assert!(err.contains("outside the vocabulary"), "{err}");
    }
}
