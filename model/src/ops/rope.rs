//! Rotary position embeddings, HF LLaMA convention (`rotate_half`): for `i < d/2`,
//! `y_i = x_i cos - x_{i+d/2} sin` and `y_{i+d/2} = x_{i+d/2} cos + x_i sin`, with angle
//! `pos * theta^(-2i/d)`. Applied to `[b, t, h, d]` tensors straight out of the projections.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::vectorized;
use super::{f32_slice, fused};

/// cos/sin tables `[max_pos, d/2]`, computed with `libm` so every machine gets the same bits.
#[derive(Clone, Debug)]
pub struct RopeTables {
    cos: Arc<Vec<f32>>,
    sin: Arc<Vec<f32>>,
    half: usize,
    max_pos: usize,
}

impl RopeTables {
    pub fn new(head_dim: usize, max_pos: usize, theta: f64) -> Self {
        let half = head_dim / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(max_pos * half), Vec::with_capacity(max_pos * half));
        for p in 0..max_pos {
            for i in 0..half {
                let inv_freq = 1.0 / libm::pow(theta, (2 * i) as f64 / head_dim as f64);
                let a = p as f64 * inv_freq;
                cos.push(libm::cos(a) as f32);
                sin.push(libm::sin(a) as f32);
            }
        }
        Self { cos: Arc::new(cos), sin: Arc::new(sin), half, max_pos }
    }

    pub fn max_positions(&self) -> usize {
        self.max_pos
    }

    /// Rotates one `d`-vector `x` at position `pos` into `out`; `sign` -1 inverts.
    #[inline(always)]
    fn rotate(&self, x: &[f32], out: &mut [f32], pos: usize, sign: f32) {
        let half = self.half;
        let (c, sn) = (&self.cos[pos * half..][..half], &self.sin[pos * half..][..half]);
        let ((x1, x2), (o1, o2)) = (x.split_at(half), out.split_at_mut(half));
        for ((o1, o2), ((a, b), (c, s))) in
            o1.iter_mut().zip(&mut o2[..half]).zip(x1.iter().zip(&x2[..half]).zip(c.iter().zip(sn)))
        {
            let s = sign * s;
            *o1 = a * c - b * s;
            *o2 = b * c + a * s;
        }
    }

    /// Rotates one head's `[t, d]` rows in place by positions `0..t`; `sign` -1 inverts.
    pub(super) fn rotate_head(&self, x: &mut [f32], t: usize, sign: f32) {
        rotate_rows(self, x, t, sign)
    }

    pub(super) fn head_dim(&self) -> usize {
        2 * self.half
    }
}

vectorized! {
    pub(crate) fn rotate_rows(tables: &RopeTables, x: &mut [f32], t: usize, sign: f32) {
        let d = tables.head_dim();
        let mut tmp = vec![0f32; d];
        for (pos, row) in x.chunks_mut(d).take(t).enumerate() {
            tables.rotate(row, &mut tmp, pos, sign);
            row.copy_from_slice(&tmp);
        }
    }
}

vectorized! {
    /// One (b, t) position: `h` heads of `d` values.
    fn rotate_position(tables: &RopeTables, y: &mut [f32], x: &[f32], pos: usize, sign: f32) {
        let d = tables.head_dim();
        for (yh, xh) in y.chunks_mut(d).zip(x.chunks(d)) {
            tables.rotate(xh, yh, pos, sign);
        }
    }
}

struct Rope {
    tables: RopeTables,
    /// +1 for the forward rotation, -1 for its inverse (the backward pass).
    sign: f32,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let &[_, t, h, d] = l.dims() else {
            candle_core::bail!("rope: expected [b, t, h, d], got {:?}", l.dims())
        };
        let half = self.tables.half;
        if d != 2 * half || t > self.tables.max_pos {
            candle_core::bail!(
                "rope: input {:?} does not fit tables (d/2 {half}, max_pos {})",
                l.dims(),
                self.tables.max_pos
            );
        }
        let mut y = vec![0f32; x.len()];
        // One chunk per (b, t) position: h heads of d values.
        y.par_chunks_mut(h * d)
            .zip(x.par_chunks(h * d))
            .enumerate()
            .for_each(|(bt, (yp, xp))| rotate_position(&self.tables, yp, xp, bt % t, self.sign));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let inverse = Rope { tables: self.tables.clone(), sign: -self.sign };
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

/// Rotates `x` (`[b, t, h, d]`) by the positions `0..t`.
pub fn rope(x: &Tensor, tables: &RopeTables) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Rope { tables: tables.clone(), sign: 1.0 })
    } else {
        reference(x, tables)
    }
}

pub fn reference(x: &Tensor, tables: &RopeTables) -> Result<Tensor> {
    let (_, t, _, d) = x.dims4()?;
    let half = d / 2;
    let table = |v: &Arc<Vec<f32>>, dev: &Device| -> Result<Tensor> {
        let tt = Tensor::from_slice(&v[..t * half], (t, half), dev)?;
        Tensor::cat(&[&tt, &tt], 1)?.reshape((1, t, 1, d))
    };
    let (cos, sin) = (table(&tables.cos, x.device())?, table(&tables.sin, x.device())?);
    let x1 = x.narrow(3, 0, half)?;
    let x2 = x.narrow(3, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], 3)?;
    x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::*;

    #[test]
    fn matches_reference_forward_and_backward() {
        let tables = RopeTables::new(8, 16, 10_000.0);
        let x = randn("x", &[2, 5, 3, 8]);
        assert_matches_reference(&[&x], |t| rope(t[0], &tables), |t| reference(t[0], &tables), 1e-6, 1e-5);
    }

    #[test]
    fn rejects_too_long_input() {
        let tables = RopeTables::new(8, 4, 10_000.0);
        let x = randn("x", &[1, 5, 1, 8]);
        assert!(rope(x.as_tensor(), &tables).is_err());
    }
}
