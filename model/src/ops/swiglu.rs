//! SwiGLU gate: `y = silu(gate) * up`, `silu(x) = x * sigmoid(x)`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::vectorized;
use super::{f32_slice, fused, with_f32};

/// Elements per parallel task.
const CHUNK: usize = 4096;

/// `y = silu(a) * b`, in parallel chunks.
pub(crate) fn forward(y: &mut [f32], a: &[f32], b: &[f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| forward_chunk(y, a, b));
}

/// Overwrites `ga`, `gb` with dL/da and dL/db, given dL/dy `g`.
pub(crate) fn backward(ga: &mut [f32], gb: &mut [f32], a: &[f32], b: &[f32], g: &[f32]) {
    ga.par_chunks_mut(CHUNK)
        .zip(gb.par_chunks_mut(CHUNK))
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)).zip(g.par_chunks(CHUNK)))
        .for_each(|((ga, gb), ((a, b), g))| backward_chunk(ga, gb, a, b, g));
}

struct SwiGlu;

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + super::exp::exp(-x))
}

vectorized! {
    pub(crate) fn forward_chunk(y: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, a), b) in y.iter_mut().zip(a).zip(b) {
            *o = a * sigmoid(*a) * b;
        }
    }
}

vectorized! {
    /// dL/dgate and dL/dup of one chunk, given the inputs and dL/dy.
    pub(crate) fn backward_chunk(ga: &mut [f32], gb: &mut [f32], a: &[f32], b: &[f32], g: &[f32]) {
        for ((ga, gb), ((a, b), g)) in ga.iter_mut().zip(gb).zip(a.iter().zip(b).zip(g)) {
            let s = sigmoid(*a);
            *ga = g * b * s * (1.0 + a * (1.0 - s));
            *gb = g * (a * s);
        }
    }
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        if l1.dims() != l2.dims() {
            candle_core::bail!("swiglu: gate {:?} vs up {:?}", l1.dims(), l2.dims());
        }
        let mut y = vec![0f32; a.len()];
        forward(&mut y, a, b);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (ga, gb) = with_f32(gate, |a| {
            with_f32(up, |b| {
                with_f32(g, |g| {
                    let (mut ga, mut gb) = (vec![0f32; a.len()], vec![0f32; a.len()]);
                    backward(&mut ga, &mut gb, a, b, g);
                    Ok((ga, gb))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(ga, gate.shape(), gate.device())?),
            Some(Tensor::from_vec(gb, up.shape(), up.device())?),
        ))
    }
}

/// `silu(gate) * up`, elementwise; both inputs have the same shape.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if fused(gate) {
        gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
    } else {
        reference(gate, up)
    }
}

pub fn reference(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let (a, b) = (randn("a", &[4, 9000]), randn("b", &[4, 9000]));
        assert_matches_reference(&[&a, &b], |t| swiglu(t[0], t[1]), |t| reference(t[0], t[1]), 1e-5, 1e-4);
    }
}
