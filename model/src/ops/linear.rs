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
/// Each operand must be row- or column-contiguous (one of its strides is 1).
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
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    // Bounds: the last element each operand can touch must be in the slice.
    assert!((m - 1) * a_rs + (k - 1) * a_cs < a.len(), "sgemm: lhs out of bounds");
    assert!((k - 1) * b_rs + (n - 1) * b_cs < b.len(), "sgemm: rhs out of bounds");
    assert!(a_rs == 1 || a_cs == 1, "sgemm: lhs needs a unit stride");
    assert!(b_rs == 1 || b_cs == 1, "sgemm: rhs needs a unit stride");
    backend::sgemm(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, dst, threads);
}

/// OpenBLAS (Debian's `libopenblas-dev`): its AVX-512 kernels run about 1.4x faster than the
/// `gemm` crate here. OpenBLAS itself stays single-threaded (see [`init_blas`]); parallelism
/// comes from splitting the output rows over rayon, so only one thread pool ever spins and each
/// output row is computed by exactly one call.
#[cfg(feature = "openblas")]
mod backend {
    use rayon::prelude::*;
    use std::os::raw::c_int;

    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;
    const TRANS: c_int = 112;

    #[link(name = "openblas")]
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        fn cblas_sgemm(
            order: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
        fn openblas_set_num_threads(n: c_int);
    }

    pub fn init() {
        // SAFETY: plain setter of OpenBLAS's global thread count.
        unsafe { openblas_set_num_threads(1) }
    }

    /// (transpose flag, leading dimension) of an operand with row stride `rs`, column stride `cs`.
    fn layout(rs: usize, cs: usize, cols: usize) -> (c_int, c_int) {
        if cs == 1 {
            (NO_TRANS, rs.max(cols).max(1) as c_int)
        } else {
            (TRANS, cs as c_int)
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
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
        let (ta, lda) = layout(a_rs, a_cs, k);
        let (tb, ldb) = layout(b_rs, b_cs, n);
        let call = |row0: usize, rows: usize, out: &mut [f32]| {
            // SAFETY: the caller checked that every element the (m, n, k) problem touches lies
            // inside `a`, `b` and `dst`; a row block [row0, row0 + rows) only narrows `a` and
            // `dst`, and `out` is that block of `dst`, disjoint between blocks.
            unsafe {
                cblas_sgemm(
                    ROW_MAJOR,
                    ta,
                    tb,
                    rows as c_int,
                    n as c_int,
                    k as c_int,
                    1.0,
                    a.as_ptr().add(row0 * a_rs),
                    lda,
                    b.as_ptr(),
                    ldb,
                    0.0,
                    out.as_mut_ptr(),
                    n as c_int,
                )
            }
        };
        // Blocks of at least 64 rows; small problems run on the calling thread.
        let blocks = threads.min(m / 64).max(1);
        if blocks == 1 {
            return call(0, m, dst);
        }
        let per = m.div_ceil(blocks);
        dst.par_chunks_mut(per * n).enumerate().for_each(|(i, out)| call(i * per, out.len() / n, out));
    }
}

/// The pure-Rust `gemm` crate (what candle uses), when built without `openblas`.
#[cfg(not(feature = "openblas"))]
mod backend {
    pub fn init() {}

    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
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
        let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        // SAFETY: `sgemm_with` checked that every index the kernel forms is inside the slices;
        // `dst` is a fresh &mut and does not alias the inputs.
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
}

/// Prepares the GEMM backend; called by [`crate::init_threads`].
pub fn init_blas() {
    backend::init();
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
