//! Yuma consensus against hand-worked examples (numbers derived in the comments).

use crate::{
    fixed::{self, ONE},
    yuma::{epoch, top_k_permits, EpochInput},
};

const U16: f64 = 65535.0;

/// `actual` (a u16 proportion) is within `tol` of the real number `expected`.
fn close(actual: u16, expected: f64, tol: u16) {
    let want = (expected * U16).floor();
    assert!((actual as f64 - want).abs() <= tol as f64, "got {actual}, want {want} ({expected})");
}

fn w(x: f64) -> u16 {
    (x * U16).round() as u16
}

/// Three validators (uids 0-2, stake 5:3:2) and two miners (uids 3, 4), all with permits.
fn three_validators(weights: Vec<Vec<(u16, u16)>>) -> EpochInput {
    EpochInput {
        now: 100,
        last_epoch_block: 90,
        activity_cutoff: 1000,
        max_allowed_validators: 3,
        kappa: 32_767,
        bonds_moving_average: 900_000,
        stake: vec![500, 300, 200, 0, 0],
        last_update: vec![99; 5],
        block_at_registration: vec![0; 5],
        validator_permit: vec![true, true, true, false, false],
        weights,
        bonds: vec![],
    }
}

#[test]
fn outlier_validator_is_clipped_to_consensus() {
    // V0 (0.5): m3 0.75, m4 0.25.  V1 (0.3): m3 0.5, m4 0.5.  V2 (0.2, outlier): m4 only.
    // Consensus (kappa 0.5): C3 = 0.75 (V0 alone holds 0.5), C4 = 0.5 (V2 0.2 + V1 0.3).
    // Clipped: V0 (0.75, 0.25), V1 (0.5, 0.5), V2 (0, 0.5) -> trust 1, 1, 0.5.
    // Ranks: R3 = 0.5*0.75 + 0.3*0.5 = 0.525, R4 = 0.125 + 0.15 + 0.1 = 0.375 -> I = 7/12, 5/12.
    // First epoch, no old bonds: B = col_normalize(S * Wc):
    //   col 3: (0.375, 0.15, 0) / 0.525 = (5/7, 2/7, 0); col 4: (0.125, 0.15, 0.1) / 0.375.
    // D = B * I = (5/9, 3/9, 1/9).
    let input = three_validators(vec![
        vec![(3, w(0.75)), (4, w(0.25))],
        vec![(3, w(0.5)), (4, w(0.5))],
        vec![(4, w(1.0))],
    ]);
    let out = epoch(&input);
    close(out.consensus[3], 0.75, 2);
    close(out.consensus[4], 0.5, 2);
    close(out.validator_trust[0], 1.0, 3);
    close(out.validator_trust[1], 1.0, 3);
    close(out.validator_trust[2], 0.5, 2);
    close(out.incentive[3], 7.0 / 12.0, 3);
    close(out.incentive[4], 5.0 / 12.0, 3);
    assert_eq!(out.incentive[0], 0);
    close(out.dividends[0], 5.0 / 9.0, 3);
    close(out.dividends[1], 3.0 / 9.0, 3);
    close(out.dividends[2], 1.0 / 9.0, 3);
    assert_eq!(out.dividends[3], 0);
    // Stored bonds are column max-upscaled: col 3 (1, 0.4), col 4 (0.8333, 1, 0.6667).
    assert_eq!(out.bonds[0][0], (3, 65535));
    close(out.bonds[1][0].1, 0.4, 2);
    close(out.bonds[0][1].1, 0.125 / 0.15, 2);
    assert_eq!(out.bonds[1][1], (4, 65535));
    assert_eq!(out.validator_permit, vec![true, true, true, false, false]);
    assert!(out.active.iter().all(|&a| a));
}

#[test]
fn bonds_of_a_late_validator_grow_by_the_ema() {
    // Two equal validators; only V0 weighted miner 2 before, so V0 holds all of its bond.
    // From now on both weight it fully: dB = (0.5, 0.5), and each epoch
    // B' = 0.1 dB + 0.9 B, so V1's share after k epochs is 0.5 (1 - 0.9^k).
    let mut input = EpochInput {
        now: 100,
        last_epoch_block: 90,
        activity_cutoff: 1000,
        max_allowed_validators: 2,
        kappa: 32_767,
        bonds_moving_average: 900_000,
        stake: vec![1000, 1000, 0],
        last_update: vec![99; 3],
        block_at_registration: vec![0; 3],
        validator_permit: vec![true, true, false],
        weights: vec![vec![(2, 65535)], vec![(2, 65535)], vec![]],
        bonds: vec![vec![(2, 65535)], vec![], vec![]],
    };
    for k in 1..=6 {
        let out = epoch(&input);
        let share = 0.5 * (1.0 - 0.9f64.powi(k));
        // Miner 2 has all the incentive, so dividends are exactly the bond shares.
        close(out.dividends[1], share, 40);
        close(out.dividends[0], 1.0 - share, 40);
        close(out.incentive[2], 1.0, 1);
        input.bonds = out.bonds.clone();
        input.validator_permit = out.validator_permit.clone();
        input.now += 10;
        input.last_epoch_block += 10;
        input.last_update = vec![input.now - 1; 3];
    }
}

#[test]
fn stale_and_self_weights_are_dropped() {
    // V0 weights itself and miner 2, but miner 2 registered after V0's last update: both drop,
    // so nothing earns incentive. V1 has no permit, so its row is ignored as well.
    let input = EpochInput {
        now: 100,
        last_epoch_block: 90,
        activity_cutoff: 1000,
        max_allowed_validators: 2,
        kappa: 32_767,
        bonds_moving_average: 900_000,
        stake: vec![1000, 1000, 0],
        last_update: vec![50, 99, 99],
        block_at_registration: vec![0, 0, 95],
        validator_permit: vec![true, false, false],
        weights: vec![vec![(0, 100), (2, 100)], vec![(2, 100)], vec![]],
        bonds: vec![vec![(2, 65535)], vec![], vec![]],
    };
    let out = epoch(&input);
    assert!(out.incentive.iter().all(|&i| i == 0));
    assert!(out.dividends.iter().all(|&d| d == 0));
    // The bond to a miner registered after the last epoch is dropped too.
    assert!(out.bonds.iter().all(|row| row.is_empty()));
    // New permits go to the two staked uids.
    assert_eq!(out.validator_permit, vec![true, true, false]);
}

#[test]
fn inactive_validators_have_no_say() {
    // V0 has most stake but was last active 200 blocks ago (cutoff 100): V1 alone decides.
    let input = EpochInput {
        now: 300,
        last_epoch_block: 290,
        activity_cutoff: 100,
        max_allowed_validators: 2,
        kappa: 32_767,
        bonds_moving_average: 900_000,
        stake: vec![9000, 1000, 0, 0],
        last_update: vec![100, 299, 299, 299],
        block_at_registration: vec![0; 4],
        validator_permit: vec![true, true, false, false],
        weights: vec![vec![(2, 65535)], vec![(3, 65535)], vec![], vec![]],
        bonds: vec![],
    };
    let out = epoch(&input);
    assert_eq!(out.active, vec![false, true, true, true]);
    assert_eq!(out.incentive[2], 0);
    close(out.incentive[3], 1.0, 1);
    close(out.dividends[1], 1.0, 1);
}

#[test]
fn permits_go_to_top_stake_with_ties_to_higher_uid() {
    assert_eq!(top_k_permits(&[5, 7, 7, 0, 1], 2), vec![false, true, true, false, false]);
    assert_eq!(top_k_permits(&[5, 5, 5], 2), vec![false, true, true]);
    assert_eq!(top_k_permits(&[0, 0, 3], 3), vec![false, false, true]);
}

#[test]
fn outputs_are_normalized() {
    // (That the outputs are the right ones is `yuma_reference`: an independent implementation.)
    let input =
        three_validators(vec![vec![(3, 100), (4, 900)], vec![(3, 500), (4, 500)], vec![(3, 900), (4, 100)]]);
    let a = epoch(&input);
    assert!(fixed::sum(&a.incentive_fx) <= ONE as u128);
    assert!(fixed::sum(&a.dividends_fx) <= ONE as u128);
    assert!(fixed::sum(&a.incentive_fx) > ONE as u128 - 16);
}

#[test]
fn kappa_one_needs_everyone_and_still_finds_consensus() {
    // With kappa = 1 the consensus weight is the smallest any validator gave; normalized stake
    // sums to just under 1, which must not make every column 0.
    let mut input = three_validators(vec![
        vec![(3, w(0.75)), (4, w(0.25))],
        vec![(3, w(0.5)), (4, w(0.5))],
        vec![(3, w(0.6)), (4, w(0.4))],
    ]);
    input.kappa = u16::MAX;
    let out = epoch(&input);
    close(out.consensus[3], 0.5, 2);
    close(out.consensus[4], 0.25, 2);
}
