use super::*;
use crate::Event;
use polkadot_sdk::frame_support::{assert_noop, traits::fungible::Inspect};

#[test]
fn add_and_remove_stake_move_balance_and_keep_books() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        let issuance = Balances::total_issuance();
        let before = Balances::balance(&2);
        assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 10 * TAO));
        assert_eq!(Balances::balance(&2), before - 10 * TAO);
        assert_eq!(StakeOf::<Test>::get((202, 2, netuid)), 10 * TAO);
        assert_eq!(TotalHotkeyAlpha::<Test>::get(202, netuid), 10 * TAO);
        assert_eq!(TotalStake::<Test>::get(), 10 * TAO);
        assert_eq!(
            last_event(),
            Event::StakeAdded { coldkey: 2, hotkey: 202, netuid, amount: 10 * TAO }.into()
        );
        assert_books_balance();

        // Another coldkey may stake on the same hotkey (nomination).
        assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(3), 202, netuid, 5 * TAO));
        assert_eq!(TotalHotkeyAlpha::<Test>::get(202, netuid), 15 * TAO);

        assert_ok!(SubtensorModule::remove_stake(RuntimeOrigin::signed(2), 202, netuid, 4 * TAO));
        assert_eq!(StakeOf::<Test>::get((202, 2, netuid)), 6 * TAO);
        assert_eq!(TotalHotkeyAlpha::<Test>::get(202, netuid), 11 * TAO);
        assert_eq!(Balances::balance(&2), before - 6 * TAO);
        assert_books_balance();
        // Removing everything, down to zero, keeps the stake account alive.
        assert_ok!(SubtensorModule::remove_stake(RuntimeOrigin::signed(2), 202, netuid, 6 * TAO));
        assert_ok!(SubtensorModule::remove_stake(RuntimeOrigin::signed(3), 202, netuid, 5 * TAO));
        assert!(!StakeOf::<Test>::contains_key((202, 2, netuid)));
        assert_eq!(TotalStake::<Test>::get(), 0);
        assert_books_balance();
        assert_eq!(Balances::total_issuance(), issuance);
        System::assert_last_event(
            Event::StakeRemoved { coldkey: 3, hotkey: 202, netuid, amount: 5 * TAO }.into(),
        );
    });
}

#[test]
fn add_stake_errors() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        assert_noop!(
            SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 0),
            Error::<Test>::AmountTooLow
        );
        assert_noop!(
            SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, 7, TAO),
            Error::<Test>::SubNetworkDoesNotExist
        );
        assert_noop!(
            SubtensorModule::add_stake(RuntimeOrigin::signed(2), 999, netuid, TAO),
            Error::<Test>::HotKeyAccountNotExists
        );
        // All of the balance would kill the account: refused.
        let all = Balances::balance(&2);
        assert_noop!(
            SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, all),
            Error::<Test>::NotEnoughBalanceToStake
        );
    });
}

#[test]
fn remove_stake_errors() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, TAO));
        assert_noop!(
            SubtensorModule::remove_stake(RuntimeOrigin::signed(2), 202, netuid, 0),
            Error::<Test>::AmountTooLow
        );
        assert_noop!(
            SubtensorModule::remove_stake(RuntimeOrigin::signed(2), 202, netuid, TAO + 1),
            Error::<Test>::NotEnoughStakeToWithdraw
        );
        // Someone else's stake is not yours to remove.
        assert_noop!(
            SubtensorModule::remove_stake(RuntimeOrigin::signed(3), 202, netuid, 1),
            Error::<Test>::NotEnoughStakeToWithdraw
        );
    });
}

#[test]
fn overflowing_stake_totals_are_refused_and_nothing_moves() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        TotalStake::<Test>::put(u64::MAX - 1);
        assert_noop!(
            SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 2),
            Error::<Test>::Overflow
        );
    });
}
