//! Yuma consensus (version 2 bonds) as a pure function: storage in, results out, no I/O.
//!
//! Follows subtensor's `run_epoch` step by step (see `docs/chain.md`), in Q32.32 fixed point.
//! Matrices are sparse rows `(column, value)` sorted by column, because only validators have rows.

use crate::fixed::{self, Fx, ONE};
use alloc::{vec, vec::Vec};

/// A sparse row: `(uid, value)` pairs in ascending uid order.
pub type Row<V> = Vec<(u16, V)>;

/// Everything an epoch reads, indexed by uid (`0..n`).
#[derive(Clone, Debug, Default)]
pub struct EpochInput {
    /// The block the epoch runs in.
    pub now: u64,
    /// Block of the previous epoch; bonds to miners registered at or after it are dropped.
    pub last_epoch_block: u64,
    /// Validators whose last update is older than this many blocks are inactive.
    pub activity_cutoff: u64,
    /// Most validator permits (given to the top stakes).
    pub max_allowed_validators: u16,
    /// Consensus quantile as a u16 proportion (32767 = 0.5).
    pub kappa: u16,
    /// Bond EMA memory in millionths: alpha = 1 - bonds_moving_average / 1e6.
    pub bonds_moving_average: u64,
    /// Stake per uid, already zeroed where below the stake threshold.
    pub stake: Vec<u64>,
    /// Block of each uid's last weight update.
    pub last_update: Vec<u64>,
    /// Block each uid registered in.
    pub block_at_registration: Vec<u64>,
    /// Permits from the previous epoch (weights of uids without one are ignored).
    pub validator_permit: Vec<bool>,
    /// Stored weight rows (u16 values, as set).
    pub weights: Vec<Row<u16>>,
    /// Stored bond rows (u16 values, column max-upscaled).
    pub bonds: Vec<Row<u16>>,
}

/// Everything an epoch writes, indexed by uid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochOutput {
    /// Whether each uid updated weights within the activity cutoff.
    pub active: Vec<bool>,
    /// Stake-weighted kappa-quantile of the weights each uid received.
    pub consensus: Vec<u16>,
    /// Miners' share of emission (normalized clipped rank).
    pub incentive: Vec<u16>,
    /// Validators' share of emission (from bonds).
    pub dividends: Vec<u16>,
    /// How much of each validator's weight survived clipping.
    pub validator_trust: Vec<u16>,
    /// Permits for the next epoch.
    pub validator_permit: Vec<bool>,
    /// New bond rows, to store.
    pub bonds: Vec<Row<u16>>,
    /// Normalized incentive in full precision, for the payout.
    pub incentive_fx: Vec<Fx>,
    /// Normalized dividends in full precision, for the payout.
    pub dividends_fx: Vec<Fx>,
    /// Normalized active stake in full precision, for the payout.
    pub active_stake_fx: Vec<Fx>,
}

/// Runs one epoch. Rows or vectors shorter than `n = stake.len()` count as zeros.
pub fn epoch(input: &EpochInput) -> EpochOutput {
    let n = input.stake.len();
    let at = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
    let permit_old = |i: usize| input.validator_permit.get(i).copied().unwrap_or(false);

    // 1. Activity.
    let active: Vec<bool> = (0..n)
        .map(|i| at(&input.last_update, i).saturating_add(input.activity_cutoff) >= input.now)
        .collect();

    // 2-3. Stake, permits, active stake.
    let validator_permit = top_k_permits(&input.stake, input.max_allowed_validators as usize);
    let masked: Vec<u64> =
        (0..n).map(|i| if active[i] && permit_old(i) { input.stake[i] } else { 0 }).collect();
    let active_stake = fixed::normalize(&masked);

    // 4. Weights: permitted rows, no self-weight, no weight older than the miner's registration.
    let weights: Vec<Row<Fx>> = (0..n)
        .map(|i| {
            if !permit_old(i) {
                return Vec::new();
            }
            let updated = at(&input.last_update, i);
            let mut kept: Row<u16> = input.weights.get(i).map_or_else(Vec::new, |row| {
                row.iter()
                    .copied()
                    .filter(|&(j, w)| {
                        let j = j as usize;
                        w > 0 && j < n && j != i && updated > at(&input.block_at_registration, j)
                    })
                    .collect()
            });
            kept.sort_unstable_by_key(|e| e.0);
            kept.dedup_by_key(|e| e.0);
            let total: u64 = kept.iter().map(|&(_, w)| w as u64).sum();
            kept.into_iter().map(|(j, w)| (j, fixed::div(w as u64, total))).collect()
        })
        .collect();

    // 5. Consensus: stake-weighted kappa-quantile of each column.
    let kappa = fixed::from_u16(input.kappa);
    let mut columns: Vec<Vec<(Fx, Fx)>> = vec![Vec::new(); n];
    for (i, row) in weights.iter().enumerate() {
        if active_stake[i] == 0 {
            continue;
        }
        for &(j, w) in row {
            columns[j as usize].push((w, active_stake[i]));
        }
    }
    // Kappa is a share of the stake that is actually there (normalized stake sums to just under 1).
    let threshold = ((kappa as u128 * fixed::sum(&active_stake)) >> 32) as Fx;
    let consensus: Vec<Fx> = columns.iter_mut().map(|col| weighted_quantile(col, threshold)).collect();

    // 6. Clip to consensus; validator trust.
    let clipped: Vec<Row<Fx>> = weights
        .iter()
        .map(|row| row.iter().map(|&(j, w)| (j, w.min(consensus[j as usize]))).collect())
        .collect();
    let validator_trust: Vec<Fx> =
        clipped.iter().map(|row| row.iter().map(|&(_, w)| w).sum::<Fx>()).collect();

    // 7. Incentive.
    let mut ranks = vec![0u64; n];
    for (i, row) in clipped.iter().enumerate() {
        for &(j, w) in row {
            ranks[j as usize] = ranks[j as usize].saturating_add(fixed::mul(active_stake[i], w));
        }
    }
    let incentive = fixed::normalize(&ranks);

    // 8. Bonds (Yuma 2): EMA of stake-weighted clipped weights, column-normalized.
    let old_bonds: Vec<Row<Fx>> = (0..n)
        .map(|i| {
            let mut row: Row<Fx> = input.bonds.get(i).map_or_else(Vec::new, |row| {
                row.iter()
                    .filter(|&&(j, b)| {
                        let j = j as usize;
                        b > 0 && j < n && at(&input.block_at_registration, j) < input.last_epoch_block
                    })
                    .map(|&(j, b)| (j, fixed::from_u16(b)))
                    .collect()
            });
            row.sort_unstable_by_key(|e| e.0);
            row.dedup_by_key(|e| e.0);
            row
        })
        .collect();
    let old_bonds = col_normalize(old_bonds, n);
    let delta: Vec<Row<Fx>> = clipped
        .iter()
        .enumerate()
        .map(|(i, row)| row.iter().map(|&(j, w)| (j, fixed::mul(active_stake[i], w))).collect())
        .collect();
    let delta = col_normalize(delta, n);
    let alpha = ONE - fixed::div(input.bonds_moving_average.min(1_000_000), 1_000_000);
    let ema: Vec<Row<Fx>> = delta
        .iter()
        .zip(&old_bonds)
        .map(|(new, old)| merge(new, old, |d, b| fixed::mul(alpha, d) + fixed::mul(ONE - alpha, b)))
        .collect();
    let ema = col_normalize(ema, n);
    let raw_dividends: Vec<u64> = ema
        .iter()
        .map(|row| row.iter().map(|&(j, b)| fixed::mul(b, incentive[j as usize])).sum::<u64>())
        .collect();
    let dividends = fixed::normalize(&raw_dividends);

    // Bonds are stored column max-upscaled, and only for validators that keep a permit.
    let stored = col_max_upscale(&ema, n);
    let bonds = stored
        .into_iter()
        .enumerate()
        .map(|(i, row)| if validator_permit[i] { row } else { Vec::new() })
        .collect();

    EpochOutput {
        active,
        consensus: consensus.iter().map(|&c| fixed::to_u16(c)).collect(),
        incentive: incentive.iter().map(|&x| fixed::to_u16(x)).collect(),
        dividends: dividends.iter().map(|&x| fixed::to_u16(x)).collect(),
        validator_trust: validator_trust.iter().map(|&x| fixed::to_u16(x)).collect(),
        validator_permit,
        bonds,
        incentive_fx: incentive,
        dividends_fx: dividends,
        active_stake_fx: active_stake,
    }
}

/// The `k` uids with the most stake get a permit (zero stake never does); ties favor the higher uid.
pub fn top_k_permits(stake: &[u64], k: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..stake.len()).collect();
    order.sort_by(|&a, &b| stake[b].cmp(&stake[a]).then(b.cmp(&a)));
    let mut permit = vec![false; stake.len()];
    for &i in order.iter().take(k) {
        permit[i] = stake[i] > 0;
    }
    permit
}

/// The largest `w` such that the stake of entries with value `>= w` is at least `threshold`.
/// Missing entries are zeros, so the answer is 0 when the listed stake never reaches it.
fn weighted_quantile(entries: &mut [(Fx, Fx)], threshold: Fx) -> Fx {
    entries.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut acc: u128 = 0;
    for &(w, s) in entries.iter() {
        acc += s as u128;
        if acc >= threshold as u128 {
            return w;
        }
    }
    0
}

/// Divides each entry by its column's sum; empty columns stay empty.
fn col_normalize(mut rows: Vec<Row<Fx>>, n: usize) -> Vec<Row<Fx>> {
    let mut sums = vec![0u128; n];
    for row in &rows {
        for &(j, v) in row {
            sums[j as usize] += v as u128;
        }
    }
    for row in rows.iter_mut() {
        for entry in row.iter_mut() {
            let total = sums[entry.0 as usize];
            entry.1 = (((entry.1 as u128) << 32).checked_div(total).unwrap_or(0)) as Fx;
        }
        row.retain(|&(_, v)| v > 0);
    }
    rows
}

/// Scales each column so that its largest entry becomes 65535.
fn col_max_upscale(rows: &[Row<Fx>], n: usize) -> Vec<Row<u16>> {
    let mut maxes = vec![0u64; n];
    for row in rows {
        for &(j, v) in row {
            maxes[j as usize] = maxes[j as usize].max(v);
        }
    }
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|&(j, v)| (j, (v as u128 * u16::MAX as u128 / maxes[j as usize] as u128) as u16))
                .filter(|&(_, v)| v > 0)
                .collect()
        })
        .collect()
}

/// Combines two sparse rows entry by entry (a missing entry is 0), keeping column order.
fn merge(a: &Row<Fx>, b: &Row<Fx>, f: impl Fn(Fx, Fx) -> Fx) -> Row<Fx> {
    let (mut x, mut y) = (0, 0);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    while x < a.len() || y < b.len() {
        let ja = a.get(x).map_or(u32::MAX, |e| e.0 as u32);
        let jb = b.get(y).map_or(u32::MAX, |e| e.0 as u32);
        let (j, va, vb) = if ja == jb {
            x += 1;
            y += 1;
            (ja, a[x - 1].1, b[y - 1].1)
        } else if ja < jb {
            x += 1;
            (ja, a[x - 1].1, 0)
        } else {
            y += 1;
            (jb, 0, b[y - 1].1)
        };
        let v = f(va, vb);
        if v > 0 {
            out.push((j as u16, v));
        }
    }
    out
}
