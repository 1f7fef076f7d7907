//! Codec parameters and how each tensor splits into chunks.
//!
//! A 2-D tensor `[rows, cols]` is cut into blocks of `br x bc`, where `br` is the largest
//! divisor of `rows` that is at most `block` (likewise `bc`); a 1-D tensor `[n]` into pieces
//! of the largest divisor of `n` at most `chunk_1d`. Higher ranks are read as
//! `[shape[0], rest]`. Chunks are numbered row-major over the block grid and elements
//! row-major inside a chunk; a *coefficient position* is `chunk * chunk_len + local`.

use super::error::CodecError;

/// How pseudo-gradients are compressed. Every peer of a subnet must use the same values: they
/// are written into each payload and checked on decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecParams {
    /// Largest chunk side for matrices (64: 64x64 = 4096-element chunks, 12-bit indices).
    pub block: u16,
    /// Largest chunk length for vectors.
    pub chunk_1d: u32,
    /// Share of each chunk's coefficients that is sent, in parts per million (rounded up to at
    /// least one per chunk). 15625 ppm = 1/64 = 64 of 4096.
    pub density_ppm: u32,
    /// Bits per sent value: one sign bit plus `value_bits - 1` bits of codebook level.
    pub value_bits: u8,
    /// Apply an orthonormal DCT-II to each chunk before top-k selection (on by default: it
    /// concentrates a chunk's energy, so the same `k` carries more of the update).
    pub dct: bool,
}

impl Default for CodecParams {
    fn default() -> Self {
        Self { block: 64, chunk_1d: 4096, density_ppm: 15_625, value_bits: 2, dct: true }
    }
}

impl CodecParams {
    pub fn validate(&self) -> Result<(), CodecError> {
        let bad = |m: String| Err(CodecError::Params(m));
        if !(1..=256).contains(&self.block) {
            return bad(format!("block {} is not in 1..=256", self.block));
        }
        if !(1..=65_536).contains(&self.chunk_1d) {
            return bad(format!("chunk_1d {} is not in 1..=65536", self.chunk_1d));
        }
        if !(1..=1_000_000).contains(&self.density_ppm) {
            return bad(format!("density {} ppm is not in 1..=1000000", self.density_ppm));
        }
        if !(1..=8).contains(&self.value_bits) {
            return bad(format!("value_bits {} is not in 1..=8", self.value_bits));
        }
        Ok(())
    }

    /// Codebook levels per tensor: `2^(value_bits - 1)` magnitudes.
    pub fn levels(&self) -> usize {
        1 << (self.value_bits - 1)
    }
}

/// The chunking of one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorLayout {
    pub rows: usize,
    pub cols: usize,
    /// Chunk height and width.
    pub br: usize,
    pub bc: usize,
    pub chunks: usize,
    /// Coefficients sent per chunk.
    pub k: usize,
    /// Bits per index inside a chunk: enough for `chunk_len - 1`.
    pub index_bits: u32,
}

fn largest_divisor_at_most(n: usize, max: usize) -> usize {
    (1..=max.min(n)).rev().find(|d| n.is_multiple_of(*d)).unwrap_or(1)
}

impl TensorLayout {
    pub fn new(shape: &[usize], p: &CodecParams) -> Result<Self, CodecError> {
        let numel: usize = shape.iter().product();
        if numel == 0 || numel > u32::MAX as usize {
            return Err(CodecError::Params(format!("tensor shape {shape:?} has {numel} elements")));
        }
        let (rows, cols, br, bc) = match shape.len() {
            0 | 1 => (1, numel, 1, largest_divisor_at_most(numel, p.chunk_1d as usize)),
            _ => {
                let (r, c) = (shape[0], numel / shape[0]);
                let b = p.block as usize;
                (r, c, largest_divisor_at_most(r, b), largest_divisor_at_most(c, b))
            }
        };
        let chunk_len = br * bc;
        let k = ((chunk_len as u64 * p.density_ppm as u64).div_ceil(1_000_000) as usize).clamp(1, chunk_len);
        let index_bits = usize::BITS - (chunk_len - 1).leading_zeros();
        Ok(Self { rows, cols, br, bc, chunks: numel / chunk_len, k, index_bits })
    }

    pub fn numel(&self) -> usize {
        self.rows * self.cols
    }

    pub fn chunk_len(&self) -> usize {
        self.br * self.bc
    }

    /// Values sent for this tensor.
    pub fn sent(&self) -> usize {
        self.chunks * self.k
    }

    /// Exact body size in bytes: per chunk, `k` indices then `k` value codes, bit-packed.
    pub fn body_bytes(&self, value_bits: u8) -> usize {
        (self.sent() * (self.index_bits as usize + value_bits as usize)).div_ceil(8)
    }

    /// Row-major offset in the tensor of element `local` of chunk `chunk`.
    pub fn offset(&self, chunk: usize, local: usize) -> usize {
        let blocks_per_row = self.cols / self.bc;
        let (bi, bj) = (chunk / blocks_per_row, chunk % blocks_per_row);
        let (i, j) = (local / self.bc, local % self.bc);
        (bi * self.br + i) * self.cols + bj * self.bc + j
    }

    /// Copies chunk `chunk` of the row-major `tensor` into `out` (`chunk_len` long).
    pub fn gather(&self, tensor: &[f32], chunk: usize, out: &mut [f32]) {
        let start = self.offset(chunk, 0);
        for (i, row) in out.chunks_exact_mut(self.bc).enumerate() {
            let at = start + i * self.cols;
            row.copy_from_slice(&tensor[at..at + self.bc]);
        }
    }

    /// Writes `chunk_vals` into chunk `chunk` of the row-major `tensor`.
    pub fn scatter(&self, chunk_vals: &[f32], chunk: usize, tensor: &mut [f32]) {
        let start = self.offset(chunk, 0);
        for (i, row) in chunk_vals.chunks_exact(self.bc).enumerate() {
            let at = start + i * self.cols;
            tensor[at..at + self.bc].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_the_largest_divisors() {
        let p = CodecParams::default();
        let l = TensorLayout::new(&[4096, 256], &p).unwrap();
        assert_eq!((l.br, l.bc, l.chunks, l.k, l.index_bits), (64, 64, 256, 64, 12));
        let l = TensorLayout::new(&[688, 256], &p).unwrap();
        assert_eq!((l.br, l.bc), (43, 64));
        let l = TensorLayout::new(&[256], &p).unwrap();
        assert_eq!((l.rows, l.cols, l.br, l.bc, l.chunks, l.k, l.index_bits), (1, 256, 1, 256, 1, 4, 8));
        let l = TensorLayout::new(&[7], &p).unwrap();
        assert_eq!((l.bc, l.k, l.index_bits), (7, 1, 3));
        assert!(TensorLayout::new(&[0, 4], &p).is_err());
    }

    #[test]
    fn gather_and_scatter_are_inverse() {
        let p = CodecParams { block: 4, ..Default::default() };
        let l = TensorLayout::new(&[8, 12], &p).unwrap();
        let t: Vec<f32> = (0..96).map(|x| x as f32).collect();
        let mut back = vec![0f32; 96];
        let mut buf = vec![0f32; l.chunk_len()];
        for c in 0..l.chunks {
            l.gather(&t, c, &mut buf);
            assert_eq!(buf[0] as usize, l.offset(c, 0));
            l.scatter(&buf, c, &mut back);
        }
        assert_eq!(t, back);
    }
}
