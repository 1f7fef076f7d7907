//! Averaging a window's payloads into one update, identically on every machine.
//!
//! 1. Peers are sorted by uid (duplicates refused), so arrival order cannot matter.
//! 2. Each peer's norm is the L2 norm of its dequantized values (the DCT is orthonormal, so
//!    that is the norm of its dense update), summed in f64 in tensor then position order.
//! 3. A peer above the median norm (mean of the two middle ones for an even count) is scaled
//!    down to it.
//! 4. Each coefficient is the mean over the peers that sent it, summed in uid order; the
//!    result goes back through the inverse transform. Tensors are independent, so they run in
//!    parallel without changing a bit.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::codec::{Codec, CodecError, Payload};

/// What every payload of the window must say about itself.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub netuid: u16,
    pub window: u64,
    /// Fingerprint of the model the window started from.
    pub base: [u8; 32],
    /// The run's id.
    pub run_id: [u8; 32],
}

/// How one peer entered the average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerStat {
    pub uid: u16,
    pub norm: f64,
    /// Factor applied to the peer's values (1 unless clipped to the median norm).
    pub scale: f32,
}

#[derive(Clone, Debug)]
pub struct Aggregate {
    /// Dense update per tensor, row-major, in model order.
    pub update: Vec<Vec<f32>>,
    /// In uid order.
    pub peers: Vec<PeerStat>,
    pub median_norm: f64,
}

fn check(uid: u16, p: &Payload, codec: &Codec, want: &Expected) -> Result<(), CodecError> {
    let h = &p.header;
    let mismatch = |what, detail: String| Err(CodecError::Header { uid, what, detail });
    if h.netuid != want.netuid {
        return mismatch("netuid", format!("{} vs {}", h.netuid, want.netuid));
    }
    if h.window != want.window {
        return mismatch("window", format!("{} vs {}", h.window, want.window));
    }
    if h.run_id != want.run_id {
        return mismatch("run id", format!("{} vs {}", hex::encode(h.run_id), hex::encode(want.run_id)));
    }
    if h.base != want.base {
        return mismatch("base model", format!("{} vs {}", hex::encode(h.base), hex::encode(want.base)));
    }
    if h.codec != *codec.params() {
        return mismatch("codec", format!("{:?}", h.codec));
    }
    Ok(())
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Averages decoded payloads `(uid, payload)` given in any order. `registered` maps each uid
/// to its hotkey on chain (at the commit deadline): a payload whose header names another
/// hotkey, or whose uid is not registered, is refused.
pub fn aggregate(
    codec: &Codec,
    peers: &[(u16, Payload)],
    want: &Expected,
    registered: &BTreeMap<u16, [u8; 32]>,
) -> Result<Aggregate, CodecError> {
    let mut order: Vec<&(u16, Payload)> = peers.iter().collect();
    order.sort_by_key(|(uid, _)| *uid);
    for pair in order.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(CodecError::DuplicatePeer(pair[0].0));
        }
    }
    let bits = codec.params().value_bits;
    let mut stats = Vec::with_capacity(order.len());
    for (uid, p) in &order {
        check(*uid, p, codec, want)?;
        match registered.get(uid) {
            Some(hotkey) if *hotkey == p.header.hotkey => {}
            Some(hotkey) => {
                let detail = format!("{} vs {}", hex::encode(p.header.hotkey), hex::encode(hotkey));
                return Err(CodecError::Header { uid: *uid, what: "hotkey", detail });
            }
            None => {
                return Err(CodecError::Header {
                    uid: *uid,
                    what: "hotkey",
                    detail: "uid not registered".into(),
                })
            }
        }
        let sq: f64 =
            p.tensors.iter().flat_map(|t| t.values(bits)).map(|(_, v)| (v as f64) * (v as f64)).sum();
        stats.push(PeerStat { uid: *uid, norm: sq.sqrt(), scale: 1.0 });
    }
    let mut norms: Vec<f64> = stats.iter().map(|s| s.norm).collect();
    norms.sort_by(f64::total_cmp);
    let median_norm = median(&norms);
    for s in &mut stats {
        if s.norm > median_norm && s.norm > 0.0 {
            s.scale = (median_norm / s.norm) as f32;
        }
    }
    let update = (0..codec.layouts().len())
        .into_par_iter()
        .map(|index| {
            let numel = codec.layouts()[index].numel();
            let (mut sums, mut counts) = (vec![0f32; numel], vec![0u32; numel]);
            for ((_, p), s) in order.iter().zip(&stats) {
                let Ok(at) = p.tensors.binary_search_by_key(&(index as u32), |t| t.index) else { continue };
                for (pos, v) in p.tensors[at].values(bits) {
                    sums[pos as usize] += s.scale * v;
                    counts[pos as usize] += 1;
                }
            }
            for (sum, n) in sums.iter_mut().zip(&counts) {
                if *n > 1 {
                    *sum /= *n as f32;
                }
            }
            codec.from_coefficients(index, &sums)
        })
        .collect();
    Ok(Aggregate { update, peers: stats, median_norm })
}

/// Plain mean of dense updates (uncompressed DiLoCo), summed in the given order. Every update
/// must have the first one's shapes.
pub fn mean_dense(updates: &[Vec<Vec<f32>>]) -> Result<Vec<Vec<f32>>, CodecError> {
    let Some(first) = updates.first() else { return Ok(Vec::new()) };
    for u in updates {
        crate::outer::feedback::same_shapes(first, u)?;
    }
    let n = updates.len() as f32;
    Ok((0..first.len())
        .into_par_iter()
        .map(|i| {
            let mut acc = vec![0f32; first[i].len()];
            for u in updates {
                acc.iter_mut().zip(&u[i]).for_each(|(a, v)| *a += v);
            }
            acc.iter_mut().for_each(|a| *a /= n);
            acc
        })
        .collect())
}
