//! Value quantization with a per-tensor codebook.
//!
//! A code is `value_bits` wide: the top bit is the sign, the rest index one of
//! `L = 2^(value_bits - 1)` magnitude levels. The levels are fitted per tensor: the sent
//! magnitudes, sorted, are split into `L` equal-count buckets and each level is its bucket's
//! mean. Each value then takes the nearest level (the lower one on a tie).

/// Largest ratio between a codebook's top level and any non-zero level. Below `top / 2^24` a
/// level is lost in f32 rounding next to the top one anyway; above it a decoder refuses the
/// codebook, so no payload can pair a huge level with vanishing ones.
pub const MAX_LEVEL_RATIO: f32 = 16_777_216.0;

/// Codebook levels for `mags` (sorted ascending, non-empty), non-decreasing; levels below the
/// top one's `1 / MAX_LEVEL_RATIO` are 0.
pub fn fit_levels(mags: &[f32], levels: usize) -> Vec<f32> {
    let n = mags.len();
    let mut out: Vec<f32> = Vec::with_capacity(levels);
    for j in 0..levels {
        let (lo, hi) = (j * n / levels, (j + 1) * n / levels);
        let level = if lo == hi {
            // Fewer values than levels: repeat the neighbour.
            out.last().copied().unwrap_or(mags[0])
        } else {
            (mags[lo..hi].iter().map(|m| *m as f64).sum::<f64>() / (hi - lo) as f64) as f32
        };
        out.push(level);
    }
    let floor = out.last().copied().unwrap_or(0.0) / MAX_LEVEL_RATIO;
    out.iter_mut().filter(|l| **l < floor).for_each(|l| *l = 0.0);
    out
}

/// Whether a codebook's non-zero levels stay within [`MAX_LEVEL_RATIO`] of its top level.
pub fn ratio_ok(levels: &[f32]) -> bool {
    let floor = levels.last().copied().unwrap_or(0.0) / MAX_LEVEL_RATIO;
    levels.iter().all(|l| *l == 0.0 || *l >= floor)
}

/// The code of `v`: sign bit on top, nearest level below it.
pub fn quantize(v: f32, levels: &[f32], value_bits: u8) -> u8 {
    let mag = v.abs();
    let mut best = 0;
    for (i, l) in levels.iter().enumerate().skip(1) {
        if (l - mag).abs() < (levels[best] - mag).abs() {
            best = i;
        }
    }
    let sign = u8::from(v.is_sign_negative() && v != 0.0);
    (sign << (value_bits - 1)) | best as u8
}

pub fn dequantize(code: u8, levels: &[f32], value_bits: u8) -> f32 {
    let mag = levels[(code & ((1u8 << (value_bits - 1)) - 1)) as usize];
    if code >> (value_bits - 1) == 1 {
        -mag
    } else {
        mag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bit_codebook_splits_at_the_median() {
        let mags = [1.0, 2.0, 3.0, 10.0];
        let levels = fit_levels(&mags, 2);
        assert_eq!(levels, vec![1.5, 6.5]);
        assert_eq!(dequantize(quantize(-2.9, &levels, 2), &levels, 2), -1.5);
        assert_eq!(dequantize(quantize(4.5, &levels, 2), &levels, 2), 6.5);
        assert_eq!(quantize(4.0, &levels, 2), 0, "a tie takes the lower level");
    }

    #[test]
    fn one_bit_is_sign_times_mean() {
        let levels = fit_levels(&[1.0, 3.0], 1);
        assert_eq!(levels, vec![2.0]);
        assert_eq!(dequantize(quantize(-0.1, &levels, 1), &levels, 1), -2.0);
        assert_eq!(dequantize(quantize(0.0, &levels, 1), &levels, 1), 2.0);
    }

    #[test]
    fn vanishing_levels_become_zero() {
        let levels = fit_levels(&[1e-12, 1.0], 2);
        assert_eq!(levels, vec![0.0, 1.0]);
        assert!(ratio_ok(&levels) && ratio_ok(&[0.0, 0.0]) && !ratio_ok(&[1e-12, 1.0]));
    }

    #[test]
    fn more_levels_than_values_repeat() {
        assert_eq!(fit_levels(&[5.0], 4), vec![5.0; 4]);
    }
}
