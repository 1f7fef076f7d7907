//! Which payloads form a window's update (`docs/protocol.md`, section 5): a pure function of
//! what every peer reads at finalized blocks, so every peer computes the same list.

use std::collections::BTreeMap;

/// A miner's commitment for the window, as read at `D_w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The committer's uid at `D_w`.
    pub uid: u16,
    /// The committer's hotkey (sr25519 public key).
    pub hotkey: [u8; 32],
    /// `blake2_256` of the payload.
    pub hash: [u8; 32],
    /// `Incentive[uid]` at `D_w`.
    pub incentive: u16,
}

/// A validator's approval commitment for the window, as read at `A_w`, with the validator's
/// permit and stake at the snapshot block `w B`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The validator's hotkey.
    pub hotkey: [u8; 32],
    /// Whether it held a validator permit at the snapshot.
    pub permit: bool,
    /// Its stake at the snapshot, in rao.
    pub stake: u64,
    /// Bit `i` (byte `i / 8`, LSB first) approves the `i`-th ranked candidate.
    pub bitmap: Vec<u8>,
    /// The fingerprint of the model `S_w` the validator checked payloads against.
    pub base: [u8; 32],
}

/// Bytes of an approval bitmap: one fixed size (a `Raw32` commitment field), so at most 256
/// ranked candidates (`K + R <= 256`, checked by the run configuration).
pub const BITMAP_BYTES: usize = 32;

/// Most candidates a bitmap can rank.
pub const MAX_RANKED: usize = BITMAP_BYTES * 8;

/// The bitmap approving the ranked candidates at `approved` (indices into the ranked list of
/// `n`; others are ignored).
pub fn bitmap(n: usize, approved: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let mut bits = vec![0u8; BITMAP_BYTES];
    for i in approved.into_iter().filter(|i| *i < n.min(MAX_RANKED)) {
        bits[i / 8] |= 1 << (i % 8);
    }
    bits
}

/// Whether a bitmap approves the `i`-th ranked candidate.
pub fn approves(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// The tie-break key: `blake2_256(hash of block D_w ++ hotkey)`.
fn tie_key(deadline_hash: &[u8; 32], hotkey: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(deadline_hash);
    buf[32..].copy_from_slice(hotkey);
    sp_crypto_hashing::blake2_256(&buf)
}

/// `C_w`: candidates by incentive, descending, ties by the tie-break key, at most `limit`
/// (`K + R`). A hotkey counts once (the chain keeps one commitment per account).
pub fn rank(mut candidates: Vec<Candidate>, deadline_hash: &[u8; 32], limit: usize) -> Vec<Candidate> {
    candidates.sort_by_key(|c| (c.hotkey, c.uid));
    candidates.dedup_by_key(|c| c.hotkey);
    candidates.sort_by_cached_key(|c| (std::cmp::Reverse(c.incentive), tie_key(deadline_hash, &c.hotkey)));
    candidates.truncate(limit);
    candidates
}

/// Windows back (before `w`) in which a validator's latest approval still makes it count in
/// the quorum of `w` (**consensus**).
pub const LIVE_WINDOWS: u64 = 4;

/// What the approvals decided for a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The base the counted approvals agree on, or `None` without any counted approval.
    pub base: Option<[u8; 32]>,
    /// The stake of the counted approvals (those on `base`): the validators that took part.
    pub active_stake: u128,
    /// The stake of the live validators with a permit at the snapshot (see
    /// [`LIVE_WINDOWS`]): a quorum is more than half of it.
    pub permitted_stake: u128,
    /// For each ranked candidate, the counted stake that approved it.
    pub approving_stake: Vec<u128>,
    /// Indices into the ranked list of the update's payloads, in rank order (at most `K`).
    pub update: Vec<usize>,
    /// Approvals not counted, with why.
    pub ignored: Vec<([u8; 32], &'static str)>,
}

/// Decides the update from the ranked candidates and the approvals: a candidate passes with
/// the approval of more than half of `permitted_stake`, the stake of the live validators with a
/// permit at the snapshot (so validators holding half of it or less cannot move the model while
/// the others are away).
pub fn decide(ranked: &[Candidate], approvals: &[Approval], permitted_stake: u128, k: usize) -> Decision {
    let mut ignored = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut valid = Vec::new();
    for a in approvals {
        let why = if !seen.insert(a.hotkey) {
            Some("a second approval from the same hotkey")
        } else if !a.permit {
            Some("no validator permit at the snapshot")
        } else if a.stake == 0 {
            Some("no stake at the snapshot")
        } else if a.bitmap.len() != BITMAP_BYTES {
            Some("bitmap is not 32 bytes")
        } else if (ranked.len()..a.bitmap.len() * 8).any(|i| approves(&a.bitmap, i)) {
            Some("bitmap approves a candidate past the ranked list")
        } else {
            None
        };
        match why {
            Some(why) => ignored.push((a.hotkey, why)),
            None => valid.push(a),
        }
    }
    // The base with the most stake behind it (ties: the lowest bytes).
    let mut by_base: BTreeMap<[u8; 32], u128> = BTreeMap::new();
    for a in &valid {
        *by_base.entry(a.base).or_default() += a.stake as u128;
    }
    let base = by_base.iter().max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0))).map(|(b, _)| *b);
    let counted: Vec<&Approval> = valid
        .into_iter()
        .filter(|a| {
            let keep = Some(a.base) == base;
            if !keep {
                ignored.push((a.hotkey, "a base other than the quorum's"));
            }
            keep
        })
        .collect();
    let active_stake: u128 = counted.iter().map(|a| a.stake as u128).sum();
    let approving_stake: Vec<u128> = (0..ranked.len())
        .map(|i| counted.iter().filter(|a| approves(&a.bitmap, i)).map(|a| a.stake as u128).sum())
        .collect();
    let mut update: Vec<usize> =
        (0..ranked.len()).filter(|&i| approving_stake[i] * 2 > permitted_stake).take(k).collect();
    // One payload alone must come from a miner the chain already rewards.
    if update.len() == 1 && ranked[update[0]].incentive == 0 {
        update.clear();
    }
    Decision { base, active_stake, permitted_stake, approving_stake, update, ignored }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(uid: u16, incentive: u16) -> Candidate {
        Candidate { uid, hotkey: [uid as u8; 32], hash: [100 + uid as u8; 32], incentive }
    }

    fn appr(id: u8, stake: u64, bits: Vec<u8>) -> Approval {
        Approval { hotkey: [200 + id; 32], permit: true, stake, bitmap: bits, base: [9; 32] }
    }

    #[test]
    fn ranking_is_by_incentive_then_a_hash_no_miner_controls() {
        let d = [1u8; 32];
        let ranked = rank(vec![cand(1, 10), cand(2, 500), cand(3, 10), cand(4, 0)], &d, 10);
        let uids: Vec<u16> = ranked.iter().map(|c| c.uid).collect();
        assert_eq!(uids[0], 2);
        assert_eq!(uids[3], 4);
        // Ties between 1 and 3 follow blake2(D_w hash ++ hotkey), which a new block reshuffles.
        let (k1, k3) = (tie_key(&d, &[1; 32]), tie_key(&d, &[3; 32]));
        assert_eq!(uids[1..3] == [1, 3], k1 < k3);
        let orders: std::collections::BTreeSet<Vec<u16>> = (0..32u8)
            .map(|b| {
                rank(vec![cand(1, 0), cand(3, 0), cand(5, 0)], &[b; 32], 3).iter().map(|c| c.uid).collect()
            })
            .collect();
        assert!(orders.len() > 1, "the bootstrap order must depend on the deadline block");
        assert_eq!(rank(vec![cand(1, 1), cand(2, 2), cand(3, 3)], &d, 2).len(), 2);
        // Input order does not matter.
        let a = rank(vec![cand(1, 0), cand(3, 0), cand(5, 0)], &d, 3);
        let b = rank(vec![cand(5, 0), cand(1, 0), cand(3, 0)], &d, 3);
        assert_eq!(a, b);
    }

    #[test]
    fn a_stake_majority_of_the_permitted_validators_decides() {
        let ranked = vec![cand(1, 5), cand(2, 4), cand(3, 3)];
        // 60 approves 0 and 1; 40 approves 1 and 2: 1 has 100, 0 has 60 > 50, 2 has 40.
        let d = decide(&ranked, &[appr(1, 60, bitmap(3, [0, 1])), appr(2, 40, bitmap(3, [1, 2]))], 100, 8);
        assert_eq!(d.active_stake, 100);
        assert_eq!(d.approving_stake, vec![60, 100, 40]);
        assert_eq!(d.update, vec![0, 1]);
        // Exactly half is not a majority.
        let d = decide(&ranked, &[appr(1, 50, bitmap(3, [0])), appr(2, 50, bitmap(3, [1]))], 100, 8);
        assert!(d.update.is_empty());
        // K caps the update, in rank order.
        let d = decide(&ranked, &[appr(1, 1, bitmap(3, [0, 1, 2]))], 1, 2);
        assert_eq!(d.update, vec![0, 1]);
    }

    #[test]
    fn validators_holding_half_the_permitted_stake_or_less_cannot_move_the_model() {
        let ranked = vec![cand(1, 5), cand(2, 4)];
        // Permits hold 100; the validator with 60 is away: 40 alone decides nothing.
        let d = decide(&ranked, &[appr(2, 40, bitmap(2, [0, 1]))], 100, 8);
        assert_eq!((d.active_stake, d.permitted_stake), (40, 100));
        assert!(d.update.is_empty());
        // The 60 alone is a majority of the permitted stake.
        assert_eq!(decide(&ranked, &[appr(1, 60, bitmap(2, [0, 1]))], 100, 8).update, vec![0, 1]);
        // Both back: the 40 counts again.
        let both = [appr(1, 60, bitmap(2, [0])), appr(2, 40, bitmap(2, [0, 1]))];
        assert_eq!(decide(&ranked, &both, 100, 8).update, vec![0]);
    }

    #[test]
    fn no_approvals_or_empty_bitmaps_give_no_update() {
        let ranked = vec![cand(1, 5), cand(2, 4)];
        let d = decide(&ranked, &[], 10, 8);
        assert_eq!((d.base, d.active_stake, d.update.len()), (None, 0, 0));
        let d = decide(&ranked, &[appr(1, 10, bitmap(2, []))], 10, 8);
        assert_eq!(d.active_stake, 10);
        assert!(d.update.is_empty());
        // With no candidates at all an approval is all zeros.
        assert_eq!(bitmap(0, [0, 1]), vec![0; 32]);
        assert!(decide(&[], &[appr(1, 10, vec![0; 32])], 10, 8).update.is_empty());
    }

    #[test]
    fn a_lone_payload_needs_incentive() {
        let ranked = vec![cand(1, 0), cand(2, 0)];
        assert!(decide(&ranked, &[appr(1, 10, bitmap(2, [0]))], 10, 8).update.is_empty());
        assert_eq!(decide(&ranked, &[appr(1, 10, bitmap(2, [0, 1]))], 10, 8).update, vec![0, 1]);
        let ranked = vec![cand(1, 7)];
        assert_eq!(decide(&ranked, &[appr(1, 10, bitmap(1, [0]))], 10, 8).update, vec![0]);
    }

    #[test]
    fn approvals_on_another_base_or_malformed_are_not_counted() {
        let ranked = vec![cand(1, 5), cand(2, 4)];
        let mut odd = appr(3, 30, bitmap(2, [1]));
        odd.base = [7; 32];
        let mut no_permit = appr(4, 1000, bitmap(2, [1]));
        no_permit.permit = false;
        let long = appr(5, 1000, vec![0b10; 33]);
        let mut past = appr(6, 1000, bitmap(2, []));
        past.bitmap[0] = 0b100;
        let twice = appr(1, 1000, bitmap(2, [1]));
        let approvals =
            [appr(1, 40, bitmap(2, [0])), odd, no_permit, long, past, twice, appr(7, 0, bitmap(2, [1]))];
        // (The denominator is the permitted stake; here that of 1 and 3, the rest is about counting.)
        let d = decide(&ranked, &approvals, 70, 8);
        assert_eq!(d.base, Some([9; 32]));
        assert_eq!(d.active_stake, 40);
        assert_eq!(d.update, vec![0]);
        assert_eq!(d.ignored.len(), 6, "{:?}", d.ignored);
        // The base with more stake wins even against more validators.
        let mut heavy = appr(8, 100, bitmap(2, [1]));
        heavy.base = [7; 32];
        let d = decide(&ranked, &[appr(1, 40, bitmap(2, [0])), appr(2, 40, bitmap(2, [0])), heavy], 180, 8);
        assert_eq!((d.base, d.update.clone()), (Some([7; 32]), vec![1]));
    }
}
