//! `y = x @ w^T` for `x: [n, in]`, `w: [out, in]` (HF `nn.Linear`, no bias), as one graph node.
//!
//! candle's `x.matmul(&w.t())` records a transpose and a matmul; its backward produces a
//! transposed (strided) weight gradient that is copied again later. Here the backward writes
//! both gradients straight into their own layouts with one GEMM each:
//! `dx = dy @ w` and `dw = dy^T @ x`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{f32_slice, fused, with_f32};
use crate::gemm::{sgemm, MatRef};

struct Linear;

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (&[n, k], &[out, k2]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("linear: x {:?} and w {:?} must be 2-D", l1.dims(), l2.dims())
        };
        if k != k2 {
            candle_core::bail!("linear: x {:?} does not match w {:?}", l1.dims(), l2.dims());
        }
        let mut y = vec![0f32; n * out];
        let threads = candle_core::utils::get_num_threads();
        sgemm(n, out, k, MatRef::rows(x, k), MatRef::transposed(w, k), &mut y, threads);
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, k) = x.dims2()?;
        let (out, _) = w.dims2()?;
        let (gx, gw) = with_f32(x, |x| {
            with_f32(w, |w| {
                with_f32(g, |g| {
                    let threads = candle_core::utils::get_num_threads();
                    let mut gx = vec![0f32; n * k];
                    sgemm(n, k, out, MatRef::rows(g, out), MatRef::rows(w, k), &mut gx, threads);
                    let mut gw = vec![0f32; out * k];
                    sgemm(out, k, n, MatRef::transposed(g, out), MatRef::rows(x, k), &mut gw, threads);
                    Ok((gx, gw))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(gx, (n, k), x.device())?),
            Some(Tensor::from_vec(gw, (out, k), w.device())?),
        ))
    }
}

/// `x @ w^T` for `x: [n, in]`, `w: [out, in]`.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op2(&w.contiguous()?, Linear)
    } else {
        reference(x, w)
    }
}

pub fn reference(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.matmul(&w.t()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let (x, w) = (randn("x", &[37, 19]), randn("w", &[23, 19]));
        assert_matches_reference(&[&x, &w], |t| linear(t[0], t[1]), |t| reference(t[0], t[1]), 1e-4, 1e-4);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let x = randn("x", &[4, 5]);
        let w = randn("w", &[3, 6]);
        assert!(linear(x.as_tensor(), w.as_tensor()).is_err());
    }
}
