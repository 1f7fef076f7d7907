//! `y = x @ w^T` for `x: [n, in]`, `w: [out, in]` (HF `nn.Linear`, no bias), as one graph node.
//!
//! candle's `x.matmul(&w.t())` records a transpose and a matmul; its backward produces a
//! transposed (strided) weight gradient that is copied again later. Here the backward writes
//! both gradients straight into their own layouts with one GEMM each:
//! `dx = dy @ w` and `dw = dy^T @ x`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{f32_slice, fused, with_f32};

/// `dst[m, n] = a @ b` where element `(i, p)` of `a` is at `a[i * a_rs + p * a_cs]` and element
/// `(p, j)` of `b` at `b[p * b_rs + j * b_cs]`; `dst` is row-major and overwritten.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    dst: &mut [f32],
) {
    let threads = candle_core::utils::get_num_threads();
    sgemm_with(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, dst, threads);
}

/// [`sgemm`] on `threads` threads (1: on the calling thread, for use inside parallel tasks).
#[allow(clippy::too_many_arguments)]
pub(super) fn sgemm_with(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    dst: &mut [f32],
    threads: usize,
) {
    assert!(dst.len() == m * n, "sgemm: dst has {} elements, expected {m}x{n}", dst.len());
    // Bounds: the last element each operand can touch must be in the slice.
    if m > 0 && n > 0 && k > 0 {
        assert!((m - 1) * a_rs + (k - 1) * a_cs < a.len(), "sgemm: lhs out of bounds");
        assert!((k - 1) * b_rs + (n - 1) * b_cs < b.len(), "sgemm: rhs out of bounds");
    }
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the pointers come from live slices whose extents were checked above for every
    // index the kernel can form; dst does not alias the inputs (it is a fresh &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

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
        // b = w^T: element (p, j) is w[j, p].
        sgemm(n, out, k, x, k, 1, w, 1, k, &mut y);
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
                    let mut gx = vec![0f32; n * k];
                    sgemm(n, k, out, g, out, 1, w, k, 1, &mut gx);
                    let mut gw = vec![0f32; out * k];
                    // a = g^T: element (i, p) is g[p, i].
                    sgemm(out, k, n, g, 1, out, x, k, 1, &mut gw);
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
        let x = randn("x", &[37, 19]);
        let w = randn("w", &[23, 19]);
        let y = linear(x.as_tensor(), w.as_tensor()).unwrap();
        let r = reference(x.as_tensor(), w.as_tensor()).unwrap();
        assert!(max_abs_diff(&y, &r) < 1e-4);
        let g1 = probe_loss(&y).backward().unwrap();
        let g2 = probe_loss(&r).backward().unwrap();
        for v in [&x, &w] {
            let d = max_abs_diff(g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
            assert!(d < 1e-4, "grad diff {d}");
        }
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let x = randn("x", &[4, 5]);
        let w = randn("w", &[3, 6]);
        assert!(linear(x.as_tensor(), w.as_tensor()).is_err());
    }
}
