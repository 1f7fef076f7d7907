//! Causal softmax over attention scores: `y[i, j] = softmax_j(scale * s[i, j])` for `j <= i`,
//! and 0 for `j > i`. The input is `[..., t, t]`; the mask and the scale are fused in.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::exp::exp;
use super::simd::{self, vectorized};
use super::{f32_slice, fused, with_f32};

vectorized! {
    /// In place: the first `n` entries of `row` become `softmax(scale * row[..n])`, the rest 0.
    pub(crate) fn softmax_row(row: &mut [f32], n: usize, scale: f32) {
        let (live, masked) = row.split_at_mut(n);
        let max = simd::max(live) * scale;
        let inv = 1.0 / simd::map_sum(live, |v| exp(v * scale - max));
        live.iter_mut().for_each(|v| *v *= inv);
        masked.fill(0.0);
    }
}

vectorized! {
    /// In place: `grad` (dL/dy of one row) becomes dL/dx of [`softmax_row`], given its output
    /// `y`: `scale * y * (grad - sum(grad * y))` on the first `n` entries, 0 after.
    pub(crate) fn softmax_row_backward(grad: &mut [f32], y: &[f32], n: usize, scale: f32) {
        let (live, masked) = grad.split_at_mut(n);
        let dot = simd::sum_by2(live, &y[..n], |a, b| a * b);
        for (g, y) in live.iter_mut().zip(&y[..n]) {
            *g = scale * y * (*g - dot);
        }
        masked.fill(0.0);
    }
}

struct CausalSoftmax {
    scale: f32,
    t: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let t = self.t;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(t).zip(x.par_chunks(t)).enumerate().for_each(|(row, (yr, xr))| {
            yr.copy_from_slice(xr);
            softmax_row(yr, row % t + 1, self.scale);
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let t = self.t;
        let gx = with_f32(y, |y| {
            with_f32(g, |g| {
                let mut gx = vec![0f32; y.len()];
                gx.par_chunks_mut(t).zip(y.par_chunks(t).zip(g.par_chunks(t))).enumerate().for_each(
                    |(row, (gr, (yr, ggr)))| {
                        gr.copy_from_slice(ggr);
                        softmax_row_backward(gr, yr, row % t + 1, self.scale);
                    },
                );
                Ok(gx)
            })
        })?;
        Ok(Some(Tensor::from_vec(gx, x.shape(), x.device())?))
    }
}

/// Causal softmax of `scores` (`[..., t, t]`) scaled by `scale`.
pub fn causal_softmax(scores: &Tensor, scale: f64) -> Result<Tensor> {
    let t = scores.dim(D::Minus1)?;
    if scores.dim(D::Minus2)? != t {
        candle_core::bail!("causal_softmax: scores must be square, got {:?}", scores.dims());
    }
    if fused(scores) {
        scores.contiguous()?.apply_op1(CausalSoftmax { scale: scale as f32, t })
    } else {
        reference(scores, scale)
    }
}

pub fn reference(scores: &Tensor, scale: f64) -> Result<Tensor> {
    let t = scores.dim(D::Minus1)?;
    let mask: Vec<u8> = (0..t * t).map(|k| u8::from(k % t > k / t)).collect();
    let mask = Tensor::from_vec(mask, (t, t), scores.device())?.broadcast_as(scores.shape())?;
    let neg = Tensor::new(f32::NEG_INFINITY, scores.device())?.broadcast_as(scores.shape())?;
    let masked = mask.where_cond(&neg, &(scores * scale)?)?;
    candle_nn::ops::softmax(&masked, D::Minus1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let s = randn("s", &[2, 3, 7, 7]);
        assert_matches_reference(
            &[&s],
            |t| causal_softmax(t[0], 0.37),
            |t| reference(t[0], 0.37),
            1e-6,
            1e-5,
        );
    }
}
