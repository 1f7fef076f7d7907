//! Error feedback: what the codec did not send this window is kept and sent later.
//!
//! `e = beta * e + delta`, the payload is `compress(e)`, then `e -= decompress(payload)`. So
//! after each step `e_new + decompress(payload) = beta * e_old + delta`, up to f32 rounding.

use std::path::Path;

use rayon::prelude::*;

use crate::codec::{Codec, CodecError, SparseTensor};
use crate::error::{ModelError, Result};

const FORMAT: &str = "llm-subnet/error-feedback/v1";

/// `start - end` for every tensor: the pseudo-gradient of `H` inner steps. Shapes must match
/// (a mismatch is refused, never truncated).
pub fn pseudo_gradient(start: &[Vec<f32>], end: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, CodecError> {
    same_shapes(start, end)?;
    Ok(start.iter().zip(end).map(|(s, e)| s.iter().zip(e).map(|(a, b)| a - b).collect()).collect())
}

/// Refuses two tensor lists of different shapes.
pub(crate) fn same_shapes(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<(), CodecError> {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
        return Err(CodecError::Shapes { want: a.len(), got: b.len() });
    }
    Ok(())
}

/// A miner's error buffer, one f32 vector per model tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorFeedback {
    beta: f32,
    buffers: Vec<Vec<f32>>,
}

impl ErrorFeedback {
    /// Zero buffers for every tensor of `codec`.
    pub fn new(codec: &Codec, beta: f32) -> Self {
        Self { beta, buffers: codec.layouts().iter().map(|l| vec![0f32; l.numel()]).collect() }
    }

    pub fn buffers(&self) -> &[Vec<f32>] {
        &self.buffers
    }

    /// Folds `delta` into the buffer, compresses it, and removes what was sent. On any error
    /// (shapes, a non-finite delta, values the codec cannot carry) the buffer is left exactly
    /// as it was, so one bad window cannot poison the windows after it.
    pub fn step(&mut self, codec: &Codec, delta: &[Vec<f32>]) -> Result<Vec<SparseTensor>, CodecError> {
        same_shapes(&self.buffers, delta)?;
        for (tensor, d) in delta.iter().enumerate() {
            if let Some(position) = d.iter().position(|v| !v.is_finite()) {
                return Err(CodecError::NonFinite { tensor, position });
            }
        }
        let beta = self.beta;
        let mut folded = self.buffers.clone();
        for (e, d) in folded.iter_mut().zip(delta) {
            e.par_iter_mut().zip(d).for_each(|(e, d)| *e = beta * *e + d);
        }
        let sent = codec.compress(&folded)?;
        for t in &sent {
            let dense = codec.decompress(t);
            folded[t.index as usize].par_iter_mut().zip(dense).for_each(|(e, s)| *e -= s);
        }
        self.buffers = folded;
        Ok(sent)
    }

    /// Writes the buffers (safetensors, `e.{index}`) and the window they were last updated in.
    pub fn save(&self, path: &Path, window: u64) -> Result<()> {
        let named: Vec<(String, &[f32])> =
            self.buffers.iter().enumerate().map(|(i, b)| (format!("e.{i}"), b.as_slice())).collect();
        crate::io::save_vectors(path, FORMAT, &[("window", window.to_string())], &named)
    }

    /// Reads buffers written by [`ErrorFeedback::save`] for `codec`'s model; returns them with
    /// their window. Sizes, count and finiteness are checked; the file size is capped.
    pub fn load(path: &Path, codec: &Codec, beta: f32) -> Result<(Self, u64)> {
        let expected: Vec<(String, usize)> =
            codec.layouts().iter().enumerate().map(|(i, l)| (format!("e.{i}"), l.numel())).collect();
        let (meta, buffers) = crate::io::load_vectors(path, FORMAT, &expected)?;
        let window = meta
            .get("window")
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| ModelError::Checkpoint { path: path.into(), reason: "no window".into() })?;
        Ok((Self { beta, buffers }, window))
    }
}
