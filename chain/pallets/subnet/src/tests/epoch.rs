//! Epochs on the mock runtime: the schedule, payouts as stake, and exact issuance accounting.
//!
//! The mock subnet 1 is created in block 1 with tempo 10, so its epochs run in the blocks where
//! `(block + 2) % 11 == 10`: 8, 19, 30, ... Emission is 1 TAO a block from block 2 on.

use super::*;
use polkadot_sdk::frame_support::traits::fungible::Inspect;

/// The owner's cut of one block's 1 TAO, and the miners' and validators' part.
const OWNER_CUT: u64 = TAO * 18 / 100;
const REST: u64 = TAO - OWNER_CUT;

/// Subnet 1: owner 101 (uid 0); validators 202, 203 (uids 1, 2; stake 600, 400 TAO); miners
/// 204, 205 (uids 3, 4). Returns the netuid after the first epoch (block 8) handed out permits.
fn subnet_with_validators() -> u16 {
    let netuid = create_subnet(1, 101);
    set(netuid, Hyperparameter::WeightsSetRateLimit(0));
    for hot in [202, 203, 204, 205] {
        register(netuid, 2, hot);
    }
    assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 600 * TAO));
    assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(3), 203, netuid, 400 * TAO));
    assert_eq!(run_to_epoch(netuid).block, 8);
    assert_eq!(ValidatorPermit::<Test>::get(netuid), vec![false, true, true, false, false]);
    netuid
}

#[test]
fn the_schedule_is_subtensors() {
    // Subtensor's table (`blocks_until_next_epoch` at block 0): tempo, netuid, blocks to go.
    for (tempo, netuid, until) in [(1, 0, 0), (1, 1, 1), (2, 0, 1), (2, 1, 0), (100, 0, 99), (100, 1, 98)] {
        assert_eq!(SubtensorModule::blocks_until_next_epoch(netuid, tempo, 0), until, "{tempo} {netuid}");
    }
    assert_eq!(SubtensorModule::blocks_until_next_epoch(1, 0, 5), u64::MAX);
    // No overflow at the extremes: the wrapped block lands on the last phase, so it is due.
    assert_eq!(SubtensorModule::blocks_until_next_epoch(u16::MAX, u16::MAX, u64::MAX), 0);
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        let blocks: Vec<u64> = (0..3).map(|_| run_to_epoch(netuid).block).collect();
        assert_eq!(blocks, vec![8, 19, 30]);
        assert_eq!(LastMechansimStepBlock::<Test>::get(netuid), 30);
        assert_eq!(BlocksSinceLastStep::<Test>::get(netuid), 0);
        run_to_block(35);
        assert_eq!(BlocksSinceLastStep::<Test>::get(netuid), 5);
        // Tempo 3: every 4 blocks, where (block + 2) % 4 == 3. The 5 blocks waited already are
        // more than a period of the new tempo, so the late epoch runs at once.
        set(netuid, Hyperparameter::Tempo(3));
        assert_eq!(run_to_epoch(netuid).block, 36);
        assert_eq!(run_to_epoch(netuid).block, 37);
        assert_eq!(run_to_epoch(netuid).block, 41);
    });
}

#[test]
fn subnets_created_in_one_block_take_turns() {
    new_test_ext().execute_with(|| {
        for i in 1..=4 {
            create_subnet(i, 100 + i);
        }
        let seen = System::events().len();
        run_to_block(1 + 11);
        let events = &System::events()[seen..];
        let blocks: Vec<u64> = (1..=4).map(|netuid| epochs_in(events, netuid)[0].block).collect();
        // One tempo's period holds each subnet's epoch once, each in a block of its own.
        assert_eq!(blocks, vec![8, 7, 6, 5]);
    });
}

#[test]
fn at_most_max_epochs_per_block_and_the_rest_in_the_next() {
    new_test_ext().execute_with(|| {
        for i in 1..=4 {
            create_subnet(i, 100 + i);
        }
        // Netuid k with tempo k runs where (block + k + 1) % (k + 1) == k, i.e. block % (k + 1)
        // == k: all four are due in block 59 (59 = -1 mod 2, 3, 4 and 5), and three in block 11.
        for netuid in 1..=4 {
            set(netuid, Hyperparameter::Tempo(netuid));
        }
        // The netuids whose epoch ran in block `n` (the blocks before it run first).
        let ran_in = |n: u64| -> Vec<u16> {
            run_to_block(n - 1);
            let seen = System::events().len();
            run_to_block(n);
            (1..=4).filter(|&netuid| !epochs_in(&System::events()[seen..], netuid).is_empty()).collect()
        };
        assert_eq!(ran_in(11), vec![1, 2], "the mock's MaxEpochsPerBlock is 2");
        assert_eq!(ran_in(12), vec![3], "deferred from block 11");
        assert_eq!(ran_in(59), vec![1, 2]);
        assert_eq!(ran_in(60), vec![3, 4], "deferred from block 59");
        // Back on schedule: netuid 4 runs at 64 (64 % 5 == 4), netuid 3 at 63.
        assert_eq!(run_to_epoch(3).block, 63);
        assert_eq!(run_to_epoch(4).block, 64);
    });
}

/// The owner's cut is 18% of each block's emission, however long the rest waits for someone to
/// pay: nobody's stake counts (all below the threshold) for ten epochs, so 82% is carried, and
/// then a validator collects it. Expected amounts come from block counts, not from the code.
#[test]
fn the_owner_cut_is_18_percent_of_emission_however_long_the_rest_is_carried() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        assert_ok!(SubtensorModule::set_hyperparameter(None, Hyperparameter::StakeThreshold(500 * TAO)));
        register(netuid, 2, 202);
        register(netuid, 2, 204);
        let issuance = Balances::total_issuance();
        let mut owner_total = 0;
        for _ in 0..10 {
            let epoch = run_to_epoch(netuid);
            // Emission so far: 1 TAO in each block from 2 to this one.
            let emitted = epoch.block - 1;
            owner_total += epoch.owner;
            assert_eq!(owner_total, emitted * OWNER_CUT, "owner after block {}", epoch.block);
            assert_eq!((epoch.miners, epoch.validators), (0, 0));
            assert_eq!(epoch.carried, emitted * REST);
            assert_eq!(PendingOwnerCut::<Test>::get(netuid), 0);
        }
        assert_eq!(Balances::total_issuance(), issuance + owner_total);

        // A validator with stake above the threshold; it has no permit yet, so nobody has active
        // stake and the carried emission goes by stake: all to 202.
        assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 600 * TAO));
        let before = TotalHotkeyAlpha::<Test>::get(202, netuid);
        let epoch = run_to_epoch(netuid);
        let emitted = epoch.block - 1;
        owner_total += epoch.owner;
        assert_eq!(owner_total, emitted * OWNER_CUT);
        assert_eq!(epoch.miners, 0);
        assert!(emitted * REST - epoch.validators <= 1, "rounding only: {}", epoch.validators);
        assert_eq!(TotalHotkeyAlpha::<Test>::get(202, netuid) - before, epoch.validators);
        assert_eq!(epoch.carried, emitted * REST - epoch.validators);

        // From now on 202 holds a permit and is paid by active stake; the owner's share holds.
        for _ in 0..5 {
            let epoch = run_to_epoch(netuid);
            owner_total += epoch.owner;
            assert_eq!(owner_total, (epoch.block - 1) * OWNER_CUT);
            assert!(epoch.carried <= 1);
        }
        assert_books_balance();
    });
}

#[test]
fn emission_is_split_18_41_41_and_issuance_grows_by_exactly_what_was_paid() {
    new_test_ext().execute_with(|| {
        let netuid = subnet_with_validators();
        // Both validators agree: miner 3 gets 3/4, miner 4 gets 1/4.
        for hot in [202, 203] {
            assert_ok!(SubtensorModule::set_weights(
                RuntimeOrigin::signed(hot),
                netuid,
                vec![3, 4],
                vec![3, 1],
                0
            ));
        }
        let issuance = Balances::total_issuance();
        let carried_in = PendingEmission::<Test>::get(netuid);
        let stake_before: Vec<u64> =
            [101, 202, 203, 204, 205].iter().map(|h| TotalHotkeyAlpha::<Test>::get(h, netuid)).collect();
        let epoch = run_to_epoch(netuid);
        assert_eq!(epoch.block, 19);
        // Blocks 9..=19; the owner's cut comes from them only, never from what was carried in.
        let blocks = 11;
        let Epoch { owner, miners, validators, carried, .. } = epoch;
        let pending = carried_in + blocks * REST;
        assert_eq!(owner, blocks * OWNER_CUT);
        assert_eq!(miners + validators + carried, pending);
        assert_eq!(Balances::total_issuance(), issuance + owner + miners + validators);
        assert_eq!(PendingEmission::<Test>::get(netuid), carried);
        assert!(pending / 2 - miners < 5, "miners {miners}");
        assert!(pending - pending / 2 - validators < 5, "validators {validators}");
        assert!(carried < 20, "dust {carried}");
        assert_books_balance();

        // Payouts are stake on the hotkeys, and `Emission` records each uid's share.
        let emission = Emission::<Test>::get(netuid);
        let gained: Vec<u64> = [101, 202, 203, 204, 205]
            .iter()
            .zip(&stake_before)
            .map(|(h, before)| TotalHotkeyAlpha::<Test>::get(h, netuid) - before)
            .collect();
        assert_eq!(gained[0], owner + emission[0]);
        assert_eq!(&gained[1..], &emission[1..]);
        assert_eq!(emission[1] + emission[2], validators);
        assert_eq!(emission[3] + emission[4], miners);
        // Miner shares follow the weights (3:1), validator shares the stake (6:4).
        let ratio = emission[3] as f64 / emission[4] as f64;
        assert!((ratio - 3.0).abs() < 1e-3, "miner ratio {ratio}");
        let ratio = emission[1] as f64 / emission[2] as f64;
        assert!((ratio - 1.5).abs() < 1e-3, "validator ratio {ratio}");
        assert!((49149..=49151).contains(&Incentive::<Test>::get(netuid)[3]));

        // The miner's coldkey can withdraw its payout.
        let balance = Balances::balance(&2);
        assert_ok!(SubtensorModule::remove_stake(RuntimeOrigin::signed(2), 204, netuid, emission[3]));
        assert_eq!(Balances::balance(&2), balance + emission[3]);
        assert_books_balance();
    });
}

#[test]
fn without_weights_validators_share_by_stake_and_nothing_is_lost() {
    new_test_ext().execute_with(|| {
        let netuid = subnet_with_validators();
        let issuance = Balances::total_issuance();
        let pending_before = PendingEmission::<Test>::get(netuid);
        let epoch = run_to_epoch(netuid);
        assert_eq!(epoch.miners, 0);
        assert_eq!(epoch.owner, 11 * OWNER_CUT);
        assert_eq!(epoch.validators + epoch.carried, pending_before + 11 * REST);
        assert_eq!(Balances::total_issuance(), issuance + epoch.owner + epoch.validators);
        let emission = Emission::<Test>::get(netuid);
        let ratio = emission[1] as f64 / emission[2] as f64;
        assert!((ratio - 1.5).abs() < 1e-3);
        assert_books_balance();
    });
}

#[test]
fn first_epoch_pays_the_owner_cut_and_carries_the_rest_when_nobody_has_stake() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        let issuance = Balances::total_issuance();
        let epoch = run_to_epoch(netuid);
        // Blocks 2..=8; nobody has stake, so the miners' and validators' 82% waits.
        assert_eq!((epoch.block, epoch.miners, epoch.validators), (8, 0, 0));
        assert_eq!(epoch.owner, 7 * OWNER_CUT);
        assert_eq!(epoch.carried, 7 * REST);
        assert_eq!(Balances::total_issuance(), issuance + epoch.owner);
        assert_eq!(TotalHotkeyAlpha::<Test>::get(101, netuid), epoch.owner);
        assert_books_balance();
    });
}

#[test]
fn block_emission_is_split_exactly_between_subnets() {
    new_test_ext().execute_with(|| {
        assert_ok!(SubtensorModule::set_hyperparameter(None, Hyperparameter::NetworkMinLockCost(0)));
        BlockEmission::<Test>::put(100);
        for i in 1..=3 {
            create_subnet(i, 100 + i);
        }
        run_to_block(2);
        // 34 + 33 + 33, each split 18% (floored) to the owner and the rest.
        let owner: Vec<u64> = (1..=3).map(PendingOwnerCut::<Test>::get).collect();
        let rest: Vec<u64> = (1..=3).map(PendingEmission::<Test>::get).collect();
        assert_eq!(owner, vec![6, 5, 5]);
        assert_eq!(rest, vec![28, 28, 28]);
    });
}
