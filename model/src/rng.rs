//! The project's portable random number generator.
//!
//! Every peer must draw the same numbers from the same seed on any machine, so nothing here
//! depends on the platform: the generator is xoshiro256** (Blackman & Vigna, reference C code
//! at prng.di.unimi.it) and floating-point transforms use the pure-Rust `libm`.
//!
//! Seeding: a 32-byte seed is split into four little-endian u64 words that form the state
//! `s[0..4]` directly. Seeds come from `blake2_256` of some domain-separated input, so the
//! all-zero state (the one state xoshiro cannot leave) is never reached in practice; if it
//! is, the state is replaced by `[1, 0, 0, 0]`.

use blake2::{Blake2b, Digest};

type Blake2b256 = Blake2b<blake2::digest::consts::U32>;

/// `blake2_256` as Substrate defines it (BLAKE2b, unkeyed, 32-byte output).
pub fn blake2_256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Blake2b256::digest(data));
    out
}

/// xoshiro256** seeded from 32 bytes.
#[derive(Clone, Debug)]
pub struct PortableRng {
    s: [u64; 4],
}

impl PortableRng {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (i, word) in s.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&seed[i * 8..i * 8 + 8]);
            *word = u64::from_le_bytes(b);
        }
        if s == [0; 4] {
            s = [1, 0, 0, 0];
        }
        Self { s }
    }

    /// Seeds from `blake2_256(data)`.
    pub fn from_hashed(data: &[u8]) -> Self {
        Self::from_seed(blake2_256(data))
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform integer in `[0, n)` by rejection: draw `x`, accept when
    /// `x < floor(2^64 / n) * n`, return `x mod n`. Panics only if `n == 0`
    /// (callers check), so the result is exactly uniform and portable.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "PortableRng::below(0)");
        let bound = (1u128 << 64) / n as u128 * n as u128;
        loop {
            let x = self.next_u64();
            if (x as u128) < bound {
                return x % n;
            }
        }
    }

    /// Uniform f64 in `[0, 1)`: the top 53 bits of `next_u64` times `2^-53`.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Two independent standard normals by Box-Muller on `u1 = 1 - unit_f64()` (never 0)
    /// and `u2 = unit_f64()`: `r = sqrt(-2 ln u1)`, returns `(r cos 2πu2, r sin 2πu2)`.
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.unit_f64();
        let u2 = self.unit_f64();
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let a = 2.0 * core::f64::consts::PI * u2;
        (r * libm::cos(a), r * libm::sin(a))
    }

    /// `n` values from `N(0, std^2)` as f32, pairs used in order.
    pub fn normal_vec(&mut self, n: usize, std: f64) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let (a, b) = self.normal_pair();
            out.push((a * std) as f32);
            if out.len() < n {
                out.push((b * std) as f32);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2_256_matches_known_vector() {
        // blake2b-256 of the empty string (RFC 7693 parameters, 32-byte digest).
        assert_eq!(
            hex::encode(blake2_256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    #[test]
    fn xoshiro_reference_sequence() {
        // State (1, 2, 3, 4) as in the reference implementation's test vectors.
        let mut seed = [0u8; 32];
        for (i, w) in [1u64, 2, 3, 4].iter().enumerate() {
            seed[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        let mut rng = PortableRng::from_seed(seed);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(got, vec![11520, 0, 1509978240]);
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut rng = PortableRng::from_hashed(b"t");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = rng.below(7) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut rng = PortableRng::from_hashed(b"normals");
        let v = rng.normal_vec(100_000, 1.0);
        let mean: f64 = v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64;
        let var: f64 = v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }
}
