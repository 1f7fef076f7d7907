//! Averaging a window's payloads into one update, identically on every machine.
//!
//! 1. Peers are sorted by uid (duplicates refused), so arrival order cannot matter.
//! 2. Per tensor, each peer's norm is the L2 norm of its dequantized values for it (the DCT is
//!    orthonormal, so that is the norm of its dense part), summed in f64 in position order.
//! 3. Per tensor, a peer above the threshold ([`crate::outer::clip`]) is scaled down to it.
//! 4. Each coefficient is the mean over the peers that sent it (a non-zero value), summed in uid order; the
//!    result goes back through the inverse transform. Tensors are independent, so they run in
//!    parallel without changing a bit.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::codec::{Codec, CodecError, Payload};
use crate::outer::clip::{lower_median_positive, ClipHistory, ClipRule};

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
    /// L2 norm of the whole payload before clipping.
    pub norm: f64,
    /// Tensors of this peer scaled down to their threshold.
    pub clipped: u32,
}

#[derive(Clone, Debug)]
pub struct Aggregate {
    /// Dense update per tensor, row-major, in model order.
    pub update: Vec<Vec<f32>>,
    /// In uid order.
    pub peers: Vec<PeerStat>,
    /// Per tensor, the norm each peer was clipped to (`None`: no peer carried the tensor).
    /// Record it in the [`ClipHistory`] once the update is applied.
    pub thresholds: Vec<Option<f64>>,
}

/// One tensor's part of the work: its dense update, threshold, and each peer's squared norm
/// and whether it was clipped (in uid order).
struct TensorPart {
    update: Vec<f32>,
    threshold: Option<f64>,
    peers: Vec<(f64, bool)>,
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

/// Averages decoded payloads `(uid, payload)` given in any order. `registered` maps each uid
/// to its hotkey on chain (at the commit deadline): a payload whose header names another
/// hotkey, or whose uid is not registered, is refused. `history` must cover the model's
/// tensors; it is read, not changed.
pub fn aggregate(
    codec: &Codec,
    peers: &[(u16, Payload)],
    want: &Expected,
    registered: &BTreeMap<u16, [u8; 32]>,
    rule: &ClipRule,
    history: &ClipHistory,
) -> Result<Aggregate, CodecError> {
    let tensors = codec.layouts().len();
    if history.len() != tensors {
        return Err(CodecError::Shapes { want: tensors, got: history.len() });
    }
    let mut order: Vec<&(u16, Payload)> = peers.iter().collect();
    order.sort_by_key(|(uid, _)| *uid);
    for pair in order.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(CodecError::DuplicatePeer(pair[0].0));
        }
    }
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
    }
    let bits = codec.params().value_bits;
    let parts: Vec<TensorPart> = (0..tensors)
        .into_par_iter()
        .map(|index| {
            let numel = codec.layouts()[index].numel();
            // Every payload carries every tensor, in order (the decoder checks it); a
            // hand-built one may not, and then sends nothing for this tensor.
            let mine: Vec<Option<&crate::codec::SparseTensor>> = order
                .iter()
                .map(|(_, p)| {
                    p.tensors.binary_search_by_key(&(index as u32), |t| t.index).ok().map(|at| &p.tensors[at])
                })
                .collect();
            let squares: Vec<f64> = mine
                .iter()
                .map(|t| t.map_or(0.0, |t| t.values(bits).map(|(_, v)| (v as f64) * (v as f64)).sum()))
                .collect();
            let norms: Vec<f64> = squares.iter().map(|s| s.sqrt()).collect();
            let threshold = lower_median_positive(&norms).map(|m| m.min(history.bound(index, rule)));
            let (mut sums, mut counts) = (vec![0f32; numel], vec![0u32; numel]);
            let mut peers = Vec::with_capacity(order.len());
            for (t, (&sq, &norm)) in mine.iter().zip(squares.iter().zip(&norms)) {
                let clipped = threshold.is_some_and(|th| norm > th);
                peers.push((sq, clipped));
                let Some(t) = t else { continue };
                let scale = match threshold {
                    Some(th) if clipped => (th / norm) as f32,
                    _ => 1.0,
                };
                // A zero sends nothing: it neither dilutes the mean nor counts as a vote.
                for (pos, v) in t.values(bits).filter(|(_, v)| *v != 0.0) {
                    sums[pos as usize] += scale * v;
                    counts[pos as usize] += 1;
                }
            }
            for (sum, n) in sums.iter_mut().zip(&counts) {
                if *n > 1 {
                    *sum /= *n as f32;
                }
            }
            TensorPart { update: codec.from_coefficients(index, &sums), threshold, peers }
        })
        .collect();
    let stats = order
        .iter()
        .enumerate()
        .map(|(i, (uid, _))| PeerStat {
            uid: *uid,
            norm: parts.iter().map(|p| p.peers[i].0).sum::<f64>().sqrt(),
            clipped: parts.iter().filter(|p| p.peers[i].1).count() as u32,
        })
        .collect();
    let thresholds = parts.iter().map(|p| p.threshold).collect();
    Ok(Aggregate { update: parts.into_iter().map(|p| p.update).collect(), peers: stats, thresholds })
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
