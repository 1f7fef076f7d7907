//! The gradient codec: what a miner sends instead of its dense pseudo-gradient.
//!
//! Each tensor is cut into chunks ([`layout`]), optionally DCT-transformed ([`dct`]); the
//! `k` largest-magnitude coefficients of each chunk are kept (ties to the lower index), their
//! values quantized against a per-tensor codebook ([`quant`]), and everything bit-packed into
//! payload format v1 ([`format`](mod@format)). Decoding treats the bytes as hostile.
//!
//! With the defaults (64x64 chunks, 64 values each, 12-bit indices, 2-bit values) a matrix
//! costs 14 bits per 64 elements instead of 2048: about 146x smaller than fp32.

pub mod bits;
pub mod dct;
pub mod error;
pub mod format;
pub mod layout;
pub mod quant;

use std::collections::HashMap;

use rayon::prelude::*;

pub use error::CodecError;
pub use format::{Header, Payload, SparseTensor};
pub use layout::{CodecParams, TensorLayout};

use dct::DctBasis;

/// The codec for one model: its tensors' layouts and the DCT bases they need.
#[derive(Debug)]
pub struct Codec {
    params: CodecParams,
    layouts: Vec<TensorLayout>,
    bases: HashMap<usize, DctBasis>,
}

impl Codec {
    /// A codec for tensors of `shapes` (the model's parameters, in their fixed order).
    pub fn new(shapes: &[Vec<usize>], params: CodecParams) -> Result<Self, CodecError> {
        params.validate()?;
        let layouts = shapes.iter().map(|s| TensorLayout::new(s, &params)).collect::<Result<Vec<_>, _>>()?;
        let mut bases = HashMap::new();
        if params.dct {
            for l in &layouts {
                for n in [l.br, l.bc] {
                    bases.entry(n).or_insert_with(|| DctBasis::new(n));
                }
            }
        }
        Ok(Self { params, layouts, bases })
    }

    /// A codec for the parameters of `cfg`.
    pub fn for_model(cfg: &crate::LlamaConfig, params: CodecParams) -> Result<Self, CodecError> {
        let shapes: Vec<Vec<usize>> = crate::params::param_specs(cfg).into_iter().map(|s| s.shape).collect();
        Self::new(&shapes, params)
    }

    pub fn params(&self) -> &CodecParams {
        &self.params
    }

    pub fn layouts(&self) -> &[TensorLayout] {
        &self.layouts
    }

    /// Bytes of the same tensors as dense fp32.
    pub fn dense_bytes(&self) -> usize {
        self.layouts.iter().map(|l| l.numel() * 4).sum()
    }

    /// The exact size of every payload (each carries every tensor).
    pub fn payload_bytes(&self) -> usize {
        format::len(&self.layouts, &self.params)
    }

    fn check_shapes(&self, tensors: &[Vec<f32>]) -> Result<(), CodecError> {
        let ok = tensors.len() == self.layouts.len()
            && tensors.iter().zip(&self.layouts).all(|(t, l)| t.len() == l.numel());
        if ok {
            Ok(())
        } else {
            Err(CodecError::Shapes { want: self.layouts.len(), got: tensors.len() })
        }
    }

    /// Top-k, quantized coefficients of every tensor. Inputs must be finite, and codebook
    /// levels at most [`format::MAX_LEVEL`].
    pub fn compress(&self, tensors: &[Vec<f32>]) -> Result<Vec<SparseTensor>, CodecError> {
        self.check_shapes(tensors)?;
        for (tensor, t) in tensors.iter().enumerate() {
            if let Some(position) = t.iter().position(|v| !v.is_finite()) {
                return Err(CodecError::NonFinite { tensor, position });
            }
        }
        let sent: Vec<SparseTensor> =
            tensors.iter().enumerate().map(|(i, t)| self.compress_tensor(i, t)).collect();
        if let Some(t) = sent.iter().find(|t| t.levels.iter().any(|l| *l > format::MAX_LEVEL)) {
            return Err(CodecError::ValueRange { tensor: t.index as usize, limit: format::MAX_LEVEL });
        }
        Ok(sent)
    }

    fn compress_tensor(&self, index: usize, tensor: &[f32]) -> SparseTensor {
        let l = &self.layouts[index];
        let n = l.chunk_len();
        let coeffs = self.to_coefficients(l, tensor);
        let picked: Vec<Vec<u32>> = coeffs
            .par_chunks(n)
            .enumerate()
            .map(|(chunk, c)| {
                let mut idx: Vec<u32> = (0..n as u32).collect();
                // Largest magnitude first, lower index first on ties: a total order, so the
                // selection is the same everywhere.
                let order =
                    |a: &u32, b: &u32| c[*b as usize].abs().total_cmp(&c[*a as usize].abs()).then(a.cmp(b));
                if l.k < n {
                    idx.select_nth_unstable_by(l.k - 1, order);
                }
                idx.truncate(l.k);
                idx.sort_unstable();
                idx.iter().map(|i| (chunk * n) as u32 + i).collect()
            })
            .collect();
        let positions: Vec<u32> = picked.into_iter().flatten().collect();
        let mut mags: Vec<f32> = positions.iter().map(|p| coeffs[*p as usize].abs()).collect();
        mags.sort_unstable_by(f32::total_cmp);
        let bits = self.params.value_bits;
        let levels = quant::fit_levels(&mags, self.params.levels());
        let codes = positions.iter().map(|p| quant::quantize(coeffs[*p as usize], &levels, bits)).collect();
        SparseTensor { index: index as u32, levels, positions, codes }
    }

    /// Chunk-major coefficients of a row-major tensor.
    fn to_coefficients(&self, l: &TensorLayout, tensor: &[f32]) -> Vec<f32> {
        let mut coeffs = vec![0f32; l.numel()];
        coeffs.par_chunks_mut(l.chunk_len()).enumerate().for_each_init(
            || vec![0f32; l.chunk_len()],
            |scratch, (chunk, out)| {
                l.gather(tensor, chunk, out);
                if self.params.dct {
                    dct::forward(out, &self.bases[&l.br], &self.bases[&l.bc], scratch);
                }
            },
        );
        coeffs
    }

    /// The row-major tensor whose chunk-major coefficients are `coeffs` (inverse DCT if used).
    pub fn from_coefficients(&self, index: usize, coeffs: &[f32]) -> Vec<f32> {
        let l = &self.layouts[index];
        let mut out = vec![0f32; l.numel()];
        let chunks: Vec<Vec<f32>> = coeffs
            .par_chunks(l.chunk_len())
            .map_init(
                || vec![0f32; l.chunk_len()],
                |scratch, c| {
                    let mut v = c.to_vec();
                    if self.params.dct && c.iter().any(|x| *x != 0.0) {
                        dct::inverse(&mut v, &self.bases[&l.br], &self.bases[&l.bc], scratch);
                    }
                    v
                },
            )
            .collect();
        for (chunk, v) in chunks.iter().enumerate() {
            l.scatter(v, chunk, &mut out);
        }
        out
    }

    /// The dense row-major tensor a sparse tensor stands for.
    pub fn decompress(&self, t: &SparseTensor) -> Vec<f32> {
        let mut coeffs = vec![0f32; self.layouts[t.index as usize].numel()];
        for (p, v) in t.values(self.params.value_bits) {
            coeffs[p as usize] = v;
        }
        self.from_coefficients(t.index as usize, &coeffs)
    }

    /// Payload v1 bytes.
    pub fn encode(&self, header: &Header, tensors: Vec<SparseTensor>) -> Vec<u8> {
        assert_eq!(header.codec, self.params, "header codec differs from the codec's");
        format::encode(&Payload { header: header.clone(), tensors }, &self.layouts)
    }

    /// Parses untrusted payload bytes; see [`format::decode`].
    pub fn decode(&self, bytes: &[u8]) -> Result<Payload, CodecError> {
        format::decode(bytes, &self.layouts, &self.params)
    }
}

/// The content hash that goes on chain: `blake2_256` of the payload bytes.
pub fn payload_hash(bytes: &[u8]) -> [u8; 32] {
    crate::rng::blake2_256(bytes)
}
