//! RMSNorm over the last dimension: `y = x / sqrt(mean(x^2) + eps) * w`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::simd::{self, vectorized};
use super::{f32_slice, fused, with_f32};

/// Rows per block when summing the weight gradient; blocks are added in order.
const GW_BLOCK_ROWS: usize = 32;

/// `y = rms_norm(x) * w` over rows of `w.len()`, in parallel over rows.
pub(crate) fn forward(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let d = w.len();
    y.par_chunks_mut(d).zip(x.par_chunks(d)).for_each(|(yr, xr)| forward_row(yr, xr, w, eps));
}

/// Overwrites `gx` with dL/dx and `gw` with dL/dw, given dL/dy `g`. The weight gradient is
/// summed over blocks of rows, blocks added in order, so it does not depend on the thread count.
pub(crate) fn backward(gx: &mut [f32], gw: &mut [f32], x: &[f32], w: &[f32], g: &[f32], eps: f32) {
    let d = w.len();
    gx.par_chunks_mut(d)
        .zip(x.par_chunks(d).zip(g.par_chunks(d)))
        .for_each(|(gxr, (xr, gr))| backward_row(gxr, xr, gr, w, eps));
    let partials: Vec<Vec<f32>> = x
        .par_chunks(d * GW_BLOCK_ROWS)
        .zip(g.par_chunks(d * GW_BLOCK_ROWS))
        .map(|(xb, gb)| {
            let mut acc = vec![0f32; d];
            weight_grad_block(&mut acc, xb, gb, eps);
            acc
        })
        .collect();
    gw.fill(0.0);
    for p in partials {
        simd::add_assign(gw, &p);
    }
}

struct RmsNorm {
    eps: f32,
}

#[inline(always)]
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ss = simd::sum_by(row, |v| v * v);
    1.0 / (ss / row.len() as f32 + eps).sqrt()
}

vectorized! {
    pub(crate) fn forward_row(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
        let r = inv_rms(x, eps);
        for ((o, xv), wv) in y.iter_mut().zip(x).zip(w) {
            *o = xv * r * wv;
        }
    }
}

vectorized! {
    /// dL/dx of one row, given dL/dy `g`.
    pub(crate) fn backward_row(gx: &mut [f32], x: &[f32], g: &[f32], w: &[f32], eps: f32) {
        let r = inv_rms(x, eps);
        let dot = simd::sum_by3(g, w, x, |g, w, x| g * w * x);
        let c = r * r * r * dot / w.len() as f32;
        for ((o, (g, w)), x) in gx.iter_mut().zip(g.iter().zip(w)).zip(x) {
            *o = r * g * w - x * c;
        }
    }
}

vectorized! {
    /// Adds this block of rows' share of dL/dw to `acc`, row after row.
    pub(crate) fn weight_grad_block(acc: &mut [f32], x: &[f32], g: &[f32], eps: f32) {
        let d = acc.len();
        for (xr, gr) in x.chunks(d).zip(g.chunks(d)) {
            let r = inv_rms(xr, eps);
            for ((a, g), x) in acc.iter_mut().zip(gr).zip(xr) {
                *a += g * x * r;
            }
        }
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let d = w.len();
        if l1.dims().last() != Some(&d) {
            candle_core::bail!("rms_norm: x {:?} vs weight {:?}", l1.dims(), l2.dims());
        }
        let mut y = vec![0f32; x.len()];
        forward(&mut y, x, w, self.eps);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let eps = self.eps;
        let (gx, gw) = with_f32(x, |x| {
            with_f32(w, |w| {
                with_f32(g, |g| {
                    let (mut gx, mut gw) = (vec![0f32; x.len()], vec![0f32; w.len()]);
                    backward(&mut gx, &mut gw, x, w, g, eps);
                    Ok((gx, gw))
                })
            })
        })?;
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}

/// RMSNorm of `x` (`[..., d]`) with gain `w` (`[d]`).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
    } else {
        reference(x, w, eps)
    }
}

pub fn reference(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let (x, w) = (randn("x", &[3, 5, 16]), randn("w", &[16]));
        assert_matches_reference(
            &[&x, &w],
            |t| rms_norm(t[0], t[1], 1e-5),
            |t| reference(t[0], t[1], 1e-5),
            1e-5,
            1e-4,
        );
    }
}
