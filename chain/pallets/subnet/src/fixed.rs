//! Unsigned Q32.32 fixed point for consensus: deterministic on every platform, no floats.
//!
//! Every consensus quantity is a fraction in `[0, 1]` (normalized stake, weights, bonds), so 32
//! integer bits are headroom and 32 fractional bits are the precision (subtensor uses `I32F32`).
//! Products and quotients go through `u128`, so nothing overflows for inputs up to `u64::MAX`.

use alloc::vec::Vec;

/// A Q32.32 value stored in a `u64`.
pub type Fx = u64;

/// 1.0 in Q32.32.
pub const ONE: Fx = 1 << 32;

/// `a * b`, rounded down.
pub fn mul(a: Fx, b: Fx) -> Fx {
    ((a as u128 * b as u128) >> 32).min(u64::MAX as u128) as Fx
}

/// `a / b`, rounded down; 0 when `b` is 0.
pub fn div(a: u64, b: u64) -> Fx {
    if b == 0 {
        return 0;
    }
    (((a as u128) << 32) / b as u128).min(u64::MAX as u128) as Fx
}

/// `amount * part / whole` in integers, rounded down; 0 when `whole` is 0.
pub fn share(amount: u64, part: u64, whole: u128) -> u64 {
    if whole == 0 {
        return 0;
    }
    (amount as u128 * part as u128 / whole).min(u64::MAX as u128) as u64
}

/// A stored u16 proportion (`x / 65535`) as Q32.32.
pub fn from_u16(x: u16) -> Fx {
    div(x as u64, u16::MAX as u64)
}

/// `floor(x * 65535)`, saturating at 65535: how subtensor stores proportions.
pub fn to_u16(x: Fx) -> u16 {
    ((x as u128 * u16::MAX as u128) >> 32).min(u16::MAX as u128) as u16
}

/// Sum in `u128`, so that no input can overflow it.
pub fn sum(xs: &[u64]) -> u128 {
    xs.iter().map(|&x| x as u128).sum()
}

/// Each entry divided by the sum (rounded down); all zeros stay zeros.
pub fn normalize(xs: &[u64]) -> Vec<Fx> {
    let total = sum(xs);
    xs.iter().map(|&x| (((x as u128) << 32).checked_div(total).unwrap_or(0)) as Fx).collect()
}

/// Each entry scaled so that the largest becomes `max` (rounded down); all zeros stay zeros.
pub fn max_upscale_u16(xs: &[u16]) -> Vec<u16> {
    let max = xs.iter().copied().max().unwrap_or(0) as u64;
    xs.iter().map(|&x| (x as u64 * u16::MAX as u64).checked_div(max).unwrap_or(0) as u16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_round_trip_is_floor() {
        assert_eq!(to_u16(ONE), 65535);
        assert_eq!(to_u16(0), 0);
        assert_eq!(to_u16(ONE / 2), 32767);
        for x in [0u16, 1, 2, 100, 32767, 65534, 65535] {
            // from_u16 rounds down, so the way back may lose one step but never gains one.
            let back = to_u16(from_u16(x));
            assert!(back == x || back + 1 == x, "{x} -> {back}");
        }
    }

    #[test]
    fn normalize_sums_to_at_most_one() {
        let v = normalize(&[1, 2, 3, u64::MAX]);
        assert!(sum(&v) <= ONE as u128);
        assert!(sum(&v) >= ONE as u128 - 4);
        assert_eq!(normalize(&[0, 0]), vec![0, 0]);
    }

    #[test]
    fn max_upscale_makes_largest_full() {
        assert_eq!(max_upscale_u16(&[1, 2, 4]), vec![16383, 32767, 65535]);
        assert_eq!(max_upscale_u16(&[0, 0]), vec![0, 0]);
    }

    #[test]
    fn share_is_exact_integer_division() {
        assert_eq!(share(100, 1, 3), 33);
        assert_eq!(share(u64::MAX, u64::MAX, u64::MAX as u128), u64::MAX);
        assert_eq!(share(5, 1, 0), 0);
    }
}
