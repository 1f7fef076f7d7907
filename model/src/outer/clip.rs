//! Per-tensor clipping of a window's payloads (`docs/protocol.md`, section 5 step 7).
//!
//! Each tensor's threshold is the smallest of three bounds:
//! - the lower median of the non-zero norms the selected payloads carry for it, so one
//!   concentrated payload cannot dominate and empty payloads cannot drag it to zero;
//! - `history` times the mean threshold of the last [`CLIP_WINDOWS`] windows that set one, so
//!   a colluding majority can only grow the update a bounded factor per window;
//! - an absolute `cap`.
//!
//! The history is consensus state: every peer records the same thresholds after every applied
//! update and keeps them with the model, in the file format of [`ClipHistory::to_bytes`].

use crate::codec::CodecError;

/// Windows of thresholds the history bound averages over.
pub const CLIP_WINDOWS: usize = 4;

const MAGIC: &[u8; 8] = b"CLIPHST1";

/// The run's clipping settings (`aggregate.clip_cap`, `aggregate.clip_history`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipRule {
    /// Absolute per-tensor norm cap.
    pub cap: f64,
    /// Multiple of the recent windows' mean threshold.
    pub history: f64,
}

impl ClipRule {
    /// Only the median bound (the study, and tests of the median itself).
    pub const MEDIAN_ONLY: Self = Self { cap: f64::INFINITY, history: f64::INFINITY };
}

/// Thresholds of recent windows, per tensor, oldest first (at most [`CLIP_WINDOWS`] each).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClipHistory {
    tensors: Vec<Vec<f64>>,
}

impl ClipHistory {
    /// No window recorded yet, for a model of `tensors` tensors.
    pub fn new(tensors: usize) -> Self {
        Self { tensors: vec![Vec::new(); tensors] }
    }

    /// Tensors covered.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the history covers no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Tensor `index`'s bound before the median: `min(cap, history * mean of recent)`.
    pub fn bound(&self, index: usize, rule: &ClipRule) -> f64 {
        let recent = self.tensors.get(index).map(Vec::as_slice).unwrap_or(&[]);
        if recent.is_empty() {
            return rule.cap;
        }
        // Summed oldest first: a fixed order, so every peer gets the same bits.
        let mean = recent.iter().sum::<f64>() / recent.len() as f64;
        rule.cap.min(rule.history * mean)
    }

    /// Records one applied update's thresholds (`None`: no payload carried the tensor).
    pub fn record(&mut self, thresholds: &[Option<f64>]) -> Result<(), CodecError> {
        if thresholds.len() != self.tensors.len() {
            return Err(CodecError::Shapes { want: self.tensors.len(), got: thresholds.len() });
        }
        for (recent, t) in self.tensors.iter_mut().zip(thresholds) {
            if let Some(t) = t {
                if recent.len() == CLIP_WINDOWS {
                    recent.remove(0);
                }
                recent.push(*t);
            }
        }
        Ok(())
    }

    /// `CLIPHST1`, tensor count (u32 LE), then per tensor a count byte and that many f64 LE.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((self.tensors.len() as u32).to_le_bytes());
        for recent in &self.tensors {
            out.push(recent.len() as u8);
            recent.iter().for_each(|t| out.extend(t.to_le_bytes()));
        }
        out
    }

    /// The inverse of [`ClipHistory::to_bytes`] for a model of `tensors` tensors; refuses
    /// anything else (wrong count, more than [`CLIP_WINDOWS`] entries, a threshold that is not
    /// finite and positive, trailing bytes).
    pub fn from_bytes(bytes: &[u8], tensors: usize) -> Result<Self, String> {
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a clip history (bad magic)")?;
        let (count, mut rest) = body.split_at_checked(4).ok_or("clip history ends early")?;
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        if count != tensors {
            return Err(format!("clip history covers {count} tensors, the model has {tensors}"));
        }
        let mut out = Vec::with_capacity(tensors);
        for index in 0..tensors {
            let (&n, tail) = rest.split_first().ok_or("clip history ends early")?;
            let n = n as usize;
            if n > CLIP_WINDOWS {
                return Err(format!("tensor {index}: {n} thresholds, at most {CLIP_WINDOWS}"));
            }
            let (values, tail) = tail.split_at_checked(8 * n).ok_or("clip history ends early")?;
            let recent: Vec<f64> =
                values.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            if let Some(bad) = recent.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
                return Err(format!("tensor {index}: threshold {bad} is not finite and positive"));
            }
            out.push(recent);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(format!("clip history has {} trailing bytes", rest.len()));
        }
        Ok(Self { tensors: out })
    }
}

/// The lower median of the positive values, or `None` when there is none.
pub(crate) fn lower_median_positive(norms: &[f64]) -> Option<f64> {
    let mut positive: Vec<f64> = norms.iter().copied().filter(|n| *n > 0.0).collect();
    positive.sort_by(f64::total_cmp);
    positive.get(positive.len().checked_sub(1)? / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_median_skips_zeros() {
        assert_eq!(lower_median_positive(&[]), None);
        assert_eq!(lower_median_positive(&[0.0, 0.0]), None);
        assert_eq!(lower_median_positive(&[0.0, 5.0]), Some(5.0));
        assert_eq!(lower_median_positive(&[9.0, 1.0]), Some(1.0));
        assert_eq!(lower_median_positive(&[3.0, 9.0, 1.0, 0.0]), Some(3.0));
        assert_eq!(lower_median_positive(&[4.0, 3.0, 9.0, 1.0]), Some(3.0));
    }

    #[test]
    fn history_bounds_keep_the_last_windows_and_round_trip() {
        let rule = ClipRule { cap: 10.0, history: 2.0 };
        let mut h = ClipHistory::new(2);
        assert_eq!(h.bound(0, &rule), 10.0);
        h.record(&[Some(1.0), None]).unwrap();
        assert_eq!((h.bound(0, &rule), h.bound(1, &rule)), (2.0, 10.0));
        for t in [2.0, 3.0, 4.0, 5.0] {
            h.record(&[Some(t), Some(8.0)]).unwrap();
        }
        // The window with 1.0 fell out: mean of 2..=5 is 3.5; tensor 1 hits the cap.
        assert_eq!((h.bound(0, &rule), h.bound(1, &rule)), (7.0, 10.0));
        assert!(h.record(&[None]).is_err());

        let bytes = h.to_bytes();
        assert_eq!(ClipHistory::from_bytes(&bytes, 2).unwrap(), h);
        assert!(ClipHistory::from_bytes(&bytes, 3).unwrap_err().contains("covers 2 tensors"));
        assert!(ClipHistory::from_bytes(&bytes[..bytes.len() - 1], 2).unwrap_err().contains("early"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(ClipHistory::from_bytes(&long, 2).unwrap_err().contains("trailing"));
        let mut nan = bytes.clone();
        nan[13..21].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(ClipHistory::from_bytes(&nan, 2).unwrap_err().contains("not finite"));
        let mut many = bytes;
        many[12] = 9;
        assert!(ClipHistory::from_bytes(&many, 2).is_err());
        assert!(ClipHistory::from_bytes(b"nope", 2).unwrap_err().contains("magic"));
    }
}
