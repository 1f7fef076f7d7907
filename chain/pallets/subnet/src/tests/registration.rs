use super::*;
use crate::Event;
use polkadot_sdk::frame_support::{assert_noop, traits::fungible::Inspect};

#[test]
fn register_network_creates_subnet_with_owner_at_uid_0() {
    new_test_ext().execute_with(|| {
        let issuance = Balances::total_issuance();
        let netuid = create_subnet(1, 101);
        assert_eq!(netuid, 1);
        assert!(NetworksAdded::<Test>::get(1));
        assert_eq!(SubnetOwner::<Test>::get(1), Some(1));
        assert_eq!(SubnetOwnerHotkey::<Test>::get(1), Some(101));
        assert_eq!(SubnetworkN::<Test>::get(1), 1);
        assert_eq!(Keys::<Test>::get(1, 0), Some(101));
        assert_eq!(Owner::<Test>::get(101), Some(1));
        let cost = NetworkMinLockCost::<Test>::get();
        assert_eq!(SubnetLocked::<Test>::get(1), cost);
        assert_eq!(Balances::balance(&1), START_BALANCE - cost);
        assert_eq!(Balances::total_issuance(), issuance - cost);
        assert_eq!(Tempo::<Test>::get(1), 10);
        System::assert_has_event(
            Event::NetworkAdded { netuid: 1, owner: 1, hotkey: 101, locked: cost }.into(),
        );
    });
}

#[test]
fn register_network_errors() {
    new_test_ext().execute_with(|| {
        create_subnet(1, 101);
        // 101 belongs to coldkey 1.
        assert_noop!(
            SubtensorModule::register_network(RuntimeOrigin::signed(2), 101),
            Error::<Test>::NonAssociatedColdKey
        );
        // A coldkey that cannot pay the lock cost (account ACCOUNTS + 1 has nothing).
        assert_noop!(
            SubtensorModule::register_network(RuntimeOrigin::signed(ACCOUNTS + 1), 999),
            Error::<Test>::NotEnoughBalanceToStake
        );
        for i in 2..=4 {
            create_subnet(i, 100 + i);
        }
        assert_noop!(
            SubtensorModule::register_network(RuntimeOrigin::signed(5), 105),
            Error::<Test>::SubnetLimitReached
        );
    });
}

#[test]
fn burned_register_assigns_uid_burns_and_raises_price() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        let price = Burn::<Test>::get(netuid);
        let issuance = Balances::total_issuance();
        let uid = register(netuid, 2, 202);
        assert_eq!(uid, 1);
        assert_eq!(Keys::<Test>::get(netuid, 1), Some(202));
        assert_eq!(Owner::<Test>::get(202), Some(2));
        assert_eq!(BlockAtRegistration::<Test>::get(netuid, 1), 1);
        assert_eq!(LastUpdate::<Test>::get(netuid), vec![1, 1]);
        assert_eq!(Incentive::<Test>::get(netuid).len(), 2);
        assert_eq!(Balances::balance(&2), START_BALANCE - price);
        assert_eq!(Balances::total_issuance(), issuance - price);
        assert_eq!(Burn::<Test>::get(netuid), price * 126 / 100);
        assert_eq!(
            last_event(),
            Event::NeuronRegistered { netuid, uid: 1, hotkey: 202, burned: price, pruned: None }.into()
        );
    });
}

#[test]
fn burned_register_errors() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(2), 9, 202),
            Error::<Test>::SubNetworkDoesNotExist
        );
        register(netuid, 2, 202);
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(2), netuid, 202),
            Error::<Test>::HotKeyAlreadyRegisteredInSubNet
        );
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(3), netuid, 101),
            Error::<Test>::HotKeyAlreadyRegisteredInSubNet
        );
        let other = create_subnet(4, 404);
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(3), other, 202),
            Error::<Test>::NonAssociatedColdKey
        );
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(ACCOUNTS + 1), netuid, 303),
            Error::<Test>::NotEnoughBalanceToStake
        );
    });
}

#[test]
fn price_decays_per_block_down_to_min_burn() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        set(netuid, Hyperparameter::MinBurn(TAO / 2));
        let start = Burn::<Test>::get(netuid);
        run_to_block(2);
        assert_eq!(Burn::<Test>::get(netuid), start * 99 / 100);
        run_to_block(3);
        assert_eq!(Burn::<Test>::get(netuid), start * 99 / 100 * 99 / 100);
        // 0.99^n * 1 TAO falls below 0.5 TAO after 69 blocks and stays at the floor.
        run_to_block(100);
        assert_eq!(Burn::<Test>::get(netuid), TAO / 2);
        // Rises stop at MaxBurn.
        set(netuid, Hyperparameter::MaxBurn(TAO));
        for hot in 500..510 {
            register(netuid, 2, hot);
        }
        assert_eq!(Burn::<Test>::get(netuid), TAO);
    });
}

#[test]
fn full_subnet_prunes_lowest_emission_non_immune_uid() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        set(netuid, Hyperparameter::MaxAllowedUids(4));
        set(netuid, Hyperparameter::Tempo(5));
        set(netuid, Hyperparameter::ImmunityPeriod(5));
        for hot in [202, 203, 204] {
            register(netuid, 2, hot);
        }
        // Everyone but the owner is still immune.
        assert_noop!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(2), netuid, 205),
            Error::<Test>::NoNeuronIdAvailable
        );
        System::set_block_number(10);
        // uid 0 (the owner) has the lowest emission but is never pruned; uid 2 is next lowest.
        Emission::<Test>::insert(netuid, vec![0, 50, 10, 30]);
        Weights::<Test>::insert(netuid, 2, vec![(1, 65535)]);
        let price = Burn::<Test>::get(netuid);
        assert_eq!(register(netuid, 2, 205), 2);
        assert_eq!(Keys::<Test>::get(netuid, 2), Some(205));
        assert_eq!(Uids::<Test>::get(netuid, 203), None);
        assert_eq!(BlockAtRegistration::<Test>::get(netuid, 2), 10);
        assert_eq!(Emission::<Test>::get(netuid), vec![0, 50, 0, 30]);
        assert!(Weights::<Test>::get(netuid, 2).is_empty());
        assert_eq!(SubnetworkN::<Test>::get(netuid), 4);
        assert_eq!(
            last_event(),
            Event::NeuronRegistered { netuid, uid: 2, hotkey: 205, burned: price, pruned: Some(203) }.into()
        );
        // The new uid is immune now; among equal emissions the earliest registration goes.
        Emission::<Test>::insert(netuid, vec![0, 5, 5, 5]);
        assert_eq!(register(netuid, 2, 206), 1);
    });
}
