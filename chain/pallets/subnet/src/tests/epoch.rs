//! Epochs on the mock runtime: timing, payouts as stake, and exact issuance accounting.

use super::*;
use crate::Event;
use polkadot_sdk::frame_support::traits::fungible::Inspect;

/// Subnet 1 (tempo 10): owner 101 (uid 0); validators 202, 203 (uids 1, 2; stake 600, 400 TAO);
/// miners 204, 205 (uids 3, 4). Returns the netuid after the first epoch handed out permits.
fn subnet_with_validators() -> u16 {
    let netuid = create_subnet(1, 101);
    set(netuid, Hyperparameter::WeightsSetRateLimit(0));
    for hot in [202, 203, 204, 205] {
        register(netuid, 2, hot);
    }
    assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 600 * TAO));
    assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(3), 203, netuid, 400 * TAO));
    run_to_block(11);
    assert_eq!(ValidatorPermit::<Test>::get(netuid), vec![false, true, true, false, false]);
    netuid
}

fn epoch_event() -> (u64, u64, u64, u64) {
    System::events()
        .into_iter()
        .rev()
        .find_map(|r| match r.event {
            RuntimeEvent::SubtensorModule(Event::EpochRun { owner, miners, validators, carried, .. }) => {
                Some((owner, miners, validators, carried))
            }
            _ => None,
        })
        .expect("an epoch ran")
}

#[test]
fn epoch_runs_every_tempo_blocks() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        run_to_block(10);
        assert_eq!(LastMechansimStepBlock::<Test>::get(netuid), 1);
        assert_eq!(BlocksSinceLastStep::<Test>::get(netuid), 9);
        run_to_block(11);
        assert_eq!(LastMechansimStepBlock::<Test>::get(netuid), 11);
        assert_eq!(BlocksSinceLastStep::<Test>::get(netuid), 0);
        set(netuid, Hyperparameter::Tempo(3));
        run_to_block(14);
        assert_eq!(LastMechansimStepBlock::<Test>::get(netuid), 14);
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
        run_to_block(21);
        let pending = carried_in + 10 * TAO; // ten blocks of 1 TAO, one subnet
        let (owner, miners, validators, carried) = epoch_event();
        assert_eq!(owner + miners + validators + carried, pending);
        assert_eq!(Balances::total_issuance(), issuance + owner + miners + validators);
        assert_eq!(PendingEmission::<Test>::get(netuid), carried);
        assert_eq!(owner, pending * 18 / 100);
        assert!(pending * 41 / 100 - miners < 5, "miners {miners}");
        assert!(pending * 41 / 100 - validators < 5, "validators {validators}");
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
        run_to_block(21);
        let (owner, miners, validators, carried) = epoch_event();
        assert_eq!(miners, 0);
        assert_eq!(owner + validators + carried, pending_before + 10 * TAO);
        assert_eq!(Balances::total_issuance(), issuance + owner + validators);
        let emission = Emission::<Test>::get(netuid);
        let ratio = emission[1] as f64 / emission[2] as f64;
        assert!((ratio - 1.5).abs() < 1e-3);
        assert_books_balance();
    });
}

#[test]
fn first_epoch_pays_only_the_owner_and_carries_the_rest() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        let issuance = Balances::total_issuance();
        run_to_block(11);
        // Nobody has a permit yet: 82% has no recipient and stays pending.
        let (owner, miners, validators, carried) = epoch_event();
        assert_eq!((miners, validators), (0, 0));
        assert_eq!(owner, 10 * TAO * 18 / 100);
        assert_eq!(carried, 10 * TAO - owner);
        assert_eq!(Balances::total_issuance(), issuance + owner);
        assert_eq!(TotalHotkeyAlpha::<Test>::get(101, netuid), owner);
        assert_books_balance();
    });
}

#[test]
fn block_emission_is_split_exactly_between_subnets() {
    new_test_ext().execute_with(|| {
        assert_ok!(SubtensorModule::set_hyperparameter(None, Hyperparameter::NetworkMinLockCost(0)));
        BlockEmission::<Test>::put(10);
        for i in 1..=3 {
            create_subnet(i, 100 + i);
        }
        run_to_block(2);
        let pending: Vec<u64> = (1..=3).map(PendingEmission::<Test>::get).collect();
        assert_eq!(pending, vec![4, 3, 3]);
    });
}
