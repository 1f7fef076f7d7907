//! Which pages a miner trains on in a window, reproducible by anyone.
//!
//! `pages(netuid, window, hotkey, count, total)`:
//! 1. `seed = blake2_256(SCALE((netuid: u16, window: u64, hotkey: [u8; 32])))`, i.e. of the 42
//!    bytes `netuid as u16 LE ‖ window as u64 LE ‖ hotkey`.
//! 2. `rng = xoshiro256**` with state `s[i] = u64 LE of seed[8i..8i+8]` (see [`crate::rng`]).
//! 3. Repeat: `x = rng.next_u64()`; if `x < floor(2^64 / total) * total`, the candidate is
//!    `x mod total`, else draw again. Keep the candidate unless it was already chosen.
//!    Stop when `count` distinct pages are chosen; they are returned in the order drawn.
//!
//! `random_pages(seed, count, total)` is the same from step 2 with
//! `blake2_256("llm-subnet/random-pages/v1" ‖ seed)`, for validators' held-out checks.

use parity_scale_codec::Encode;

use crate::error::{ModelError, Result};
use crate::rng::{blake2_256, PortableRng};

/// The seed of a miner's pages for a window.
pub fn page_seed(netuid: u16, window: u64, hotkey: &[u8; 32]) -> [u8; 32] {
    blake2_256(&(netuid, window, hotkey).encode())
}

/// `count` distinct pages out of `total` for `(netuid, window, hotkey)`.
pub fn pages(netuid: u16, window: u64, hotkey: &[u8; 32], count: usize, total: u64) -> Result<Vec<u64>> {
    draw(PortableRng::from_seed(page_seed(netuid, window, hotkey)), count, total)
}

/// `count` distinct pages out of `total` from an arbitrary seed.
pub fn random_pages(seed: &[u8], count: usize, total: u64) -> Result<Vec<u64>> {
    let mut key = b"llm-subnet/random-pages/v1".to_vec();
    key.extend_from_slice(seed);
    draw(PortableRng::from_hashed(&key), count, total)
}

fn draw(mut rng: PortableRng, count: usize, total: u64) -> Result<Vec<u64>> {
    if count as u64 > total {
        return Err(ModelError::Data(format!("asked for {count} distinct pages of only {total}")));
    }
    let mut chosen = std::collections::HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let p = rng.below(total);
        if chosen.insert(p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_encoding_is_the_documented_bytes() {
        let hotkey = [7u8; 32];
        let enc = (3u16, 0x0102u64, &hotkey).encode();
        let mut manual = 3u16.to_le_bytes().to_vec();
        manual.extend_from_slice(&0x0102u64.to_le_bytes());
        manual.extend_from_slice(&hotkey);
        assert_eq!(enc, manual);
        assert_eq!(page_seed(3, 0x0102, &hotkey), blake2_256(&manual));
    }

    #[test]
    fn reproducible_distinct_and_key_dependent() {
        let a = pages(1, 10, &[1; 32], 16, 1000).unwrap();
        assert_eq!(a, pages(1, 10, &[1; 32], 16, 1000).unwrap());
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), 16);
        assert!(a.iter().all(|p| *p < 1000));
        assert_ne!(a, pages(1, 11, &[1; 32], 16, 1000).unwrap());
        assert_ne!(a, pages(2, 10, &[1; 32], 16, 1000).unwrap());
        assert_ne!(a, pages(1, 10, &[2; 32], 16, 1000).unwrap());
        assert!(pages(1, 10, &[1; 32], 11, 10).is_err());
        assert_eq!(pages(1, 10, &[1; 32], 10, 10).unwrap().len(), 10);
    }

    #[test]
    fn golden_vector() {
        // Pinned so a change to the algorithm is caught; scripts/pages_reference.py (an
        // independent Python implementation) asserts the same vector.
        let got = pages(1, 42, &[0xab; 32], 4, 1_000_000).unwrap();
        assert_eq!(got, GOLDEN.to_vec(), "update docs and GOLDEN only on purpose: {got:?}");
    }
    const GOLDEN: [u64; 4] = [998173, 355510, 947012, 482403];

    #[test]
    fn well_spread() {
        // 200 miners x 8 pages over 100 buckets of 10 pages: chi-square stays near its mean (99).
        let total = 1000u64;
        let mut buckets = [0u32; 100];
        for m in 0..200u8 {
            let mut hk = [0u8; 32];
            hk[0] = m;
            for p in pages(1, 5, &hk, 8, total).unwrap() {
                buckets[(p / 10) as usize] += 1;
            }
        }
        let expected = 16.0;
        let chi2: f64 = buckets.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 160.0, "chi-square {chi2}");
        // Different miners overlap only by chance: two miners share few of their pages.
        let a = pages(1, 5, &[1; 32], 50, total).unwrap();
        let b: std::collections::HashSet<_> = pages(1, 5, &[2; 32], 50, total).unwrap().into_iter().collect();
        assert!(a.iter().filter(|p| b.contains(p)).count() < 10);
    }
}
