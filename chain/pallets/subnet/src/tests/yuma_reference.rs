//! Yuma against an independent implementation over random graphs: the steps of `docs/yuma.md`
//! written again in `f64` with dense matrices, sharing no code with `yuma.rs`. The fixed-point
//! epoch must agree with it up to what Q32.32 rounding allows.
//!
//! Tolerances: every Q32.32 step rounds down by less than 2^-32 (2.3e-10), and a value goes
//! through at most a dozen such steps, each a sum over at most 24 uids, before it is divided by
//! a normalizer. The generators keep every normalizer above about 1e-3 (stake at least 1e8 of at
//! most 1e9 per uid, set weights at least 1000 of 65535), so the error of a normalized quantity
//! stays below 12 * 24 * 2.3e-10 / 1e-3, about 7e-5 at the very worst; the checks use 1e-4 on
//! full-precision values and one u16 step (two for the max-upscaled bonds) on stored ones. A
//! wrong step (no clipping, a wrong EMA weight, an unmasked bond, a missed filter) moves the
//! results by far more on most graphs.

use crate::yuma::{epoch, EpochInput, EpochOutput};

const U16: f64 = 65535.0;
const TOL: f64 = 1e-4;

/// xorshift64*: reproducible random graphs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn random_input(rng: &mut Rng) -> EpochInput {
    let n = rng.range(2, 24) as usize;
    let now = 10_000;
    let mut input = EpochInput {
        now,
        last_epoch_block: now - 100,
        activity_cutoff: 500,
        max_allowed_validators: rng.range(1, n as u64) as u16,
        kappa: if rng.chance(0.5) { 32_767 } else { rng.range(0, 65_535) as u16 },
        bonds_moving_average: if rng.chance(0.5) { 900_000 } else { rng.range(0, 1_000_000) },
        ..Default::default()
    };
    for _ in 0..n {
        input.stake.push(if rng.chance(0.4) { 0 } else { rng.range(100_000_000, 1_000_000_000) });
        // A fifth of the uids are inactive (last update more than the cutoff ago).
        input.last_update.push(now - if rng.chance(0.2) { rng.range(501, 2_000) } else { rng.range(0, 500) });
        // Some registered after the previous epoch, some after their validators' last update.
        input.block_at_registration.push(rng.range(0, now));
        input.validator_permit.push(rng.chance(0.6));
    }
    for _ in 0..n {
        let mut row = Vec::new();
        let mut bonds = Vec::new();
        for j in 0..n as u16 {
            // Self-weights included: the epoch must drop them.
            if rng.chance(0.5) {
                row.push((j, rng.range(1_000, 65_535) as u16));
            }
            if rng.chance(0.4) {
                bonds.push((j, rng.range(1, 65_535) as u16));
            }
        }
        input.weights.push(row);
        input.bonds.push(bonds);
    }
    input
}

/// What the reference computes; `None` when a consensus quantile lands so close to its stake
/// threshold that rounding may decide it either way.
struct Reference {
    active: Vec<bool>,
    permit: Vec<bool>,
    active_stake: Vec<f64>,
    consensus: Vec<f64>,
    trust: Vec<f64>,
    incentive: Vec<f64>,
    dividends: Vec<f64>,
    /// Stored bonds, dense, as u16 after the column max-upscale (0 = no entry).
    bonds: Vec<Vec<u16>>,
}

fn normalized(x: &[f64]) -> Vec<f64> {
    let total: f64 = x.iter().sum();
    x.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect()
}

fn column_normalized(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = m.len();
    let sums: Vec<f64> = (0..n).map(|j| m.iter().map(|row| row[j]).sum()).collect();
    m.iter().map(|row| (0..n).map(|j| if sums[j] > 0.0 { row[j] / sums[j] } else { 0.0 }).collect()).collect()
}

fn reference(input: &EpochInput) -> Option<Reference> {
    let n = input.stake.len();
    // 1. Active: updated within the cutoff.
    let active: Vec<bool> =
        (0..n).map(|i| input.last_update[i] + input.activity_cutoff >= input.now).collect();
    // 3. New permits: the top k by stake, ties to the higher uid, never zero stake.
    let mut ranked: Vec<usize> = (0..n).collect();
    ranked.sort_by_key(|&i| (std::cmp::Reverse(input.stake[i]), std::cmp::Reverse(i)));
    let mut permit = vec![false; n];
    for &i in ranked.iter().take(input.max_allowed_validators as usize) {
        permit[i] = input.stake[i] > 0;
    }
    let permit_old = &input.validator_permit;
    let active_stake = normalized(
        &(0..n)
            .map(|i| if active[i] && permit_old[i] { input.stake[i] as f64 } else { 0.0 })
            .collect::<Vec<_>>(),
    );
    // 4. Weights, dense: permitted rows, no self-weight, none set before the miner registered,
    // row-normalized.
    let mut w = vec![vec![0.0; n]; n];
    for i in (0..n).filter(|&i| permit_old[i]) {
        for &(j, v) in &input.weights[i] {
            let j = j as usize;
            if j != i && input.last_update[i] > input.block_at_registration[j] {
                w[i][j] = v as f64;
            }
        }
        let total: f64 = w[i].iter().sum();
        if total > 0.0 {
            w[i].iter_mut().for_each(|x| *x /= total);
        }
    }
    // 5. Consensus: the largest weight that validators holding at least kappa of the stake
    // gave or exceeded.
    let threshold = input.kappa as f64 / U16 * active_stake.iter().sum::<f64>();
    let mut consensus = vec![0.0; n];
    for (j, c) in consensus.iter_mut().enumerate() {
        let mut column: Vec<(f64, f64)> = (0..n)
            .filter(|&i| active_stake[i] > 0.0 && w[i][j] > 0.0)
            .map(|i| (w[i][j], active_stake[i]))
            .collect();
        column.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        let mut held = 0.0;
        for (value, stake) in column {
            held += stake;
            if (held - threshold).abs() < 1e-7 {
                return None;
            }
            if held >= threshold {
                *c = value;
                break;
            }
        }
    }
    // 6-7. Clip, trust, incentive.
    let clipped: Vec<Vec<f64>> =
        w.iter().map(|row| (0..n).map(|j| row[j].min(consensus[j])).collect()).collect();
    let trust: Vec<f64> = clipped.iter().map(|row| row.iter().sum()).collect();
    let ranks: Vec<f64> = (0..n).map(|j| (0..n).map(|i| active_stake[i] * clipped[i][j]).sum()).collect();
    let incentive = normalized(&ranks);
    // 8. Bonds: the old ones without the columns of miners registered since the last epoch, an
    // EMA towards this epoch's stake-weighted clipped weights, column-normalized.
    let old: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row = vec![0.0; n];
            for &(j, b) in &input.bonds[i] {
                if input.block_at_registration[j as usize] < input.last_epoch_block {
                    row[j as usize] = b as f64 / U16;
                }
            }
            row
        })
        .collect();
    let old = column_normalized(&old);
    let delta = column_normalized(
        &(0..n).map(|i| (0..n).map(|j| active_stake[i] * clipped[i][j]).collect()).collect::<Vec<Vec<f64>>>(),
    );
    let alpha = 1.0 - input.bonds_moving_average.min(1_000_000) as f64 / 1e6;
    let ema = column_normalized(
        &(0..n)
            .map(|i| (0..n).map(|j| alpha * delta[i][j] + (1.0 - alpha) * old[i][j]).collect())
            .collect::<Vec<Vec<f64>>>(),
    );
    let dividends =
        normalized(&(0..n).map(|i| (0..n).map(|j| ema[i][j] * incentive[j]).sum()).collect::<Vec<f64>>());
    let column_max: Vec<f64> = (0..n).map(|j| ema.iter().map(|row| row[j]).fold(0.0, f64::max)).collect();
    let bonds = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if !permit[i] || column_max[j] == 0.0 {
                        0
                    } else {
                        (ema[i][j] / column_max[j] * U16).floor() as u16
                    }
                })
                .collect()
        })
        .collect();
    Some(Reference { active, permit, active_stake, consensus, trust, incentive, dividends, bonds })
}

fn fx(x: u64) -> f64 {
    x as f64 / (1u64 << 32) as f64
}

fn near(what: &str, uid: usize, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what} of uid {uid}: {got} vs the reference's {want}");
}

/// A stored u16 proportion is `floor(x * 65535)` of a value within `TOL` of the reference's.
fn near_u16(what: &str, uid: usize, got: u16, want: f64, steps: f64) {
    let (lo, hi) = (((want - TOL) * U16).floor() - steps, ((want + TOL) * U16).floor() + steps);
    assert!((lo..=hi).contains(&(got as f64)), "{what} of uid {uid}: {got} outside {lo}..={hi} ({want})");
}

fn compare(input: &EpochInput, out: &EpochOutput, want: &Reference) {
    let n = input.stake.len();
    assert_eq!(out.active, want.active, "{input:?}");
    assert_eq!(out.validator_permit, want.permit, "{input:?}");
    for i in 0..n {
        near("active stake", i, fx(out.active_stake_fx[i]), want.active_stake[i], TOL);
        near("incentive", i, fx(out.incentive_fx[i]), want.incentive[i], TOL);
        near("dividends", i, fx(out.dividends_fx[i]), want.dividends[i], TOL);
        near_u16("consensus", i, out.consensus[i], want.consensus[i], 1.0);
        near_u16("validator trust", i, out.validator_trust[i], want.trust[i], 1.0);
        let mut stored = vec![0u16; n];
        for &(j, b) in &out.bonds[i] {
            stored[j as usize] = b;
        }
        for (j, &s) in stored.iter().enumerate() {
            let (got, exp) = (s as f64, want.bonds[i][j] as f64);
            // Max-upscaling divides by the column's largest entry: allow two steps.
            assert!((got - exp).abs() <= 2.0 + TOL * U16, "bond {i}->{j}: {got} vs {exp}\n{input:?}");
        }
    }
}

#[test]
fn yuma_agrees_with_an_independent_float_implementation_on_random_graphs() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut checked, mut skipped, mut paid) = (0, 0, 0);
    for _ in 0..600 {
        let input = random_input(&mut rng);
        let Some(want) = reference(&input) else {
            skipped += 1;
            continue;
        };
        let out = epoch(&input);
        compare(&input, &out, &want);
        checked += 1;
        paid +=
            usize::from(want.incentive.iter().any(|&x| x > 0.0) && want.dividends.iter().any(|&x| x > 0.0));
    }
    // Not vacuous: nearly every graph is checked, and most pay both sides.
    assert!(skipped * 20 < checked, "{skipped} skipped, {checked} checked");
    assert!(paid * 2 > checked, "only {paid} of {checked} graphs paid incentive and dividends");
}

#[test]
fn the_reference_catches_a_missing_clip() {
    // The comparison has teeth: an epoch on weights the reference clips differently fails it.
    let mut rng = Rng(7);
    let mut caught = 0;
    for _ in 0..200 {
        let input = random_input(&mut rng);
        let Some(want) = reference(&input) else { continue };
        let mut unclipped = input.clone();
        // Kappa 0 makes the consensus the column maximum: nothing is clipped.
        unclipped.kappa = 0;
        let out = epoch(&unclipped);
        let differs =
            (0..input.stake.len()).any(|j| (fx(out.incentive_fx[j]) - want.incentive[j]).abs() > TOL);
        caught += usize::from(differs);
    }
    assert!(caught > 50, "only {caught} of 200 graphs told clipping apart");
}

/// Every peer and every future build must compute the same epoch to the bit: this pins the
/// outputs (stored vectors, bonds and the full-precision shares the payout uses) of 200 random
/// graphs. A change here is a consensus change; update the digest only on purpose.
#[test]
fn yuma_outputs_are_pinned_bit_for_bit() {
    use codec::Encode;
    let mut rng = Rng(0x60_1de0_0000_0017);
    let mut all = Vec::new();
    for _ in 0..200 {
        let out = epoch(&random_input(&mut rng));
        (
            &out.active,
            &out.consensus,
            &out.incentive,
            &out.dividends,
            &out.validator_trust,
            &out.validator_permit,
            &out.bonds,
        )
            .encode_to(&mut all);
        (&out.incentive_fx, &out.dividends_fx, &out.active_stake_fx).encode_to(&mut all);
    }
    let digest = polkadot_sdk::sp_io::hashing::blake2_256(&all);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "018412cb5d63c87cba457aa7146bb2dffe3767a9332a71a66fd20b84f7893c71",
        "{} bytes of outputs",
        all.len()
    );
}
