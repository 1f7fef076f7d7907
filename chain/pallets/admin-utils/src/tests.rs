//! Origin rules of the setters, on the mock runtime.

use crate::mock::*;
use pallet_subnet::{Kappa, NetworkMinLockCost, StakeThreshold, Tempo};
use polkadot_sdk::{
    frame_support::{assert_noop, assert_ok},
    sp_runtime::traits::BadOrigin,
};

#[test]
fn root_sets_anything() {
    new_test_ext().execute_with(|| {
        assert_ok!(AdminUtils::sudo_set_tempo(RuntimeOrigin::root(), 1, 7));
        assert_eq!(Tempo::<Test>::get(1), 7);
        assert_ok!(AdminUtils::sudo_set_kappa(RuntimeOrigin::root(), 1, 1000));
        assert_eq!(Kappa::<Test>::get(1), 1000);
        assert_ok!(AdminUtils::sudo_set_stake_threshold(RuntimeOrigin::root(), 5));
        assert_eq!(StakeThreshold::<Test>::get(), 5);
        assert_ok!(AdminUtils::sudo_set_network_min_lock_cost(RuntimeOrigin::root(), 9));
        assert_eq!(NetworkMinLockCost::<Test>::get(), 9);
        assert_ok!(AdminUtils::sudo_set_allow_loopback_axons(RuntimeOrigin::root(), 1, true));
    });
}

#[test]
fn owner_sets_owner_parameters_only() {
    new_test_ext().execute_with(|| {
        let owner = RuntimeOrigin::signed(OWNER);
        assert_ok!(AdminUtils::sudo_set_min_burn(owner.clone(), 1, pallet_subnet::MIN_BURN_FLOOR));
        assert_ok!(AdminUtils::sudo_set_activity_cutoff(owner.clone(), 1, 200));
        assert_ok!(AdminUtils::sudo_set_immunity_period(owner.clone(), 1, 100));
        assert_ok!(AdminUtils::sudo_set_serving_rate_limit(owner.clone(), 1, 0));
        assert_ok!(AdminUtils::sudo_set_weights_version_key(owner.clone(), 1, 3));
        // Root only, as in subtensor: kappa and the weights rate limit shape consensus itself.
        assert_noop!(AdminUtils::sudo_set_kappa(owner.clone(), 1, 1000), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_weights_set_rate_limit(owner.clone(), 1, 0), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_tempo(owner.clone(), 1, 7), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_max_allowed_validators(owner.clone(), 1, 7), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_allow_loopback_axons(owner.clone(), 1, true), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_stake_threshold(owner, 1), BadOrigin);
    });
}

#[test]
fn strangers_and_bad_values_are_refused() {
    new_test_ext().execute_with(|| {
        assert_noop!(
            AdminUtils::sudo_set_immunity_period(RuntimeOrigin::signed(STRANGER), 1, 100),
            BadOrigin
        );
        assert_noop!(AdminUtils::sudo_set_immunity_period(RuntimeOrigin::none(), 1, 100), BadOrigin);
        assert_noop!(
            AdminUtils::sudo_set_tempo(RuntimeOrigin::root(), 1, 0),
            pallet_subnet::Error::<Test>::InvalidHyperparameter
        );
        assert_noop!(
            AdminUtils::sudo_set_kappa(RuntimeOrigin::root(), 9, 1),
            pallet_subnet::Error::<Test>::SubNetworkDoesNotExist
        );
        // The owner of subnet 1 is a stranger to subnet 2.
        assert_ok!(SubtensorModule::register_network(RuntimeOrigin::signed(STRANGER), 202));
        assert_noop!(AdminUtils::sudo_set_immunity_period(RuntimeOrigin::signed(OWNER), 2, 100), BadOrigin);
    });
}

/// The values the review found an owner could use to take a subnet's emission or lock it:
/// each is refused, for the owner and for root alike.
#[test]
fn owner_settable_values_are_bounded() {
    new_test_ext().execute_with(|| {
        let invalid = || pallet_subnet::Error::<Test>::InvalidHyperparameter;
        for origin in [RuntimeOrigin::signed(OWNER), RuntimeOrigin::root()] {
            // Tempo is 10: a cutoff below it makes every validator inactive between epochs.
            assert_noop!(AdminUtils::sudo_set_activity_cutoff(origin.clone(), 1, 0), invalid());
            assert_noop!(AdminUtils::sudo_set_activity_cutoff(origin.clone(), 1, 9), invalid());
            // The default weights rate limit is 100: a cutoff below it idles validators too.
            assert_noop!(AdminUtils::sudo_set_activity_cutoff(origin.clone(), 1, 99), invalid());
            // Immunity below a tempo lets free churn evict newcomers before their first epoch.
            assert_noop!(AdminUtils::sudo_set_immunity_period(origin.clone(), 1, 0), invalid());
            assert_noop!(AdminUtils::sudo_set_immunity_period(origin.clone(), 1, u16::MAX), invalid());
            // Registration is never free, never priced out of reach, and its price can rise.
            assert_noop!(AdminUtils::sudo_set_min_burn(origin.clone(), 1, 0), invalid());
            assert_noop!(AdminUtils::sudo_set_min_burn(origin.clone(), 1, 2_000_000_000), invalid());
            assert_noop!(AdminUtils::sudo_set_max_burn(origin.clone(), 1, 1_000), invalid());
            assert_noop!(AdminUtils::sudo_set_serving_rate_limit(origin.clone(), 1, u64::MAX), invalid());
            assert_noop!(AdminUtils::sudo_set_bonds_moving_average(origin, 1, 1_000_000), invalid());
        }
        let root = RuntimeOrigin::root();
        assert_noop!(AdminUtils::sudo_set_weights_set_rate_limit(root.clone(), 1, u64::MAX), invalid());
        // Tempo may not pass the activity cutoff (5000) or the immunity period (4096).
        assert_noop!(AdminUtils::sudo_set_tempo(root.clone(), 1, 4097), invalid());
        assert_ok!(AdminUtils::sudo_set_tempo(root, 1, 4096));
    });
}
