use super::*;
use crate::Event;
use polkadot_sdk::frame_support::assert_noop;

#[test]
fn setters_store_and_announce() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        set(netuid, Hyperparameter::Tempo(3));
        assert_eq!(Tempo::<Test>::get(netuid), 3);
        assert_eq!(
            last_event(),
            Event::HyperparameterSet { netuid: Some(netuid), value: Hyperparameter::Tempo(3) }.into()
        );
        set(netuid, Hyperparameter::Kappa(40_000));
        set(netuid, Hyperparameter::BondsMovingAverage(500_000));
        set(netuid, Hyperparameter::ActivityCutoff(177));
        set(netuid, Hyperparameter::MaxAllowedValidators(8));
        set(netuid, Hyperparameter::MaxAllowedUids(16));
        assert_eq!(
            (
                Kappa::<Test>::get(netuid),
                BondsMovingAverage::<Test>::get(netuid),
                ActivityCutoff::<Test>::get(netuid)
            ),
            (40_000, 500_000, 177)
        );
        assert_eq!((MaxAllowedValidators::<Test>::get(netuid), MaxAllowedUids::<Test>::get(netuid)), (8, 16));
        assert_ok!(SubtensorModule::set_hyperparameter(None, Hyperparameter::NetworkMinLockCost(5)));
        assert_eq!(NetworkMinLockCost::<Test>::get(), 5);
        // Lowering MaxBurn below the current price clamps the price.
        set(netuid, Hyperparameter::MinBurn(crate::MIN_BURN_FLOOR));
        set(netuid, Hyperparameter::MaxBurn(crate::MAX_BURN_FLOOR));
        assert_eq!(Burn::<Test>::get(netuid), crate::MAX_BURN_FLOOR);
    });
}

#[test]
fn out_of_range_values_are_refused() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        let invalid = || Error::<Test>::InvalidHyperparameter;
        let set = |v| SubtensorModule::set_hyperparameter(Some(netuid), v);
        assert_noop!(set(Hyperparameter::Tempo(0)), invalid());
        assert_noop!(set(Hyperparameter::MaxAllowedUids(1)), invalid()); // below the 2 uids in use
        assert_noop!(set(Hyperparameter::MaxAllowedUids(257)), invalid()); // above MaxUidsLimit
        assert_noop!(set(Hyperparameter::MaxAllowedValidators(257)), invalid());
        assert_noop!(set(Hyperparameter::BondsMovingAverage(1_000_001)), invalid());
        assert_noop!(set(Hyperparameter::MinBurn(u64::MAX)), invalid());
        assert_noop!(set(Hyperparameter::MaxBurn(0)), invalid());
        // The relations between values hold whichever is set last.
        assert_noop!(set(Hyperparameter::ActivityCutoff(99)), invalid()); // below the rate limit 100
        assert_noop!(set(Hyperparameter::WeightsSetRateLimit(5_001)), invalid()); // above the cutoff
        assert_noop!(set(Hyperparameter::ImmunityPeriod(9)), invalid()); // below tempo 10
        assert_noop!(set(Hyperparameter::Tempo(4_097)), invalid()); // above immunity 4096
        assert_noop!(set(Hyperparameter::ServingRateLimit(7_201)), invalid());
        assert_noop!(set(Hyperparameter::StakeThreshold(1)), invalid()); // global, given a netuid
        assert_noop!(SubtensorModule::set_hyperparameter(None, Hyperparameter::Tempo(5)), invalid());
        assert_noop!(
            SubtensorModule::set_hyperparameter(Some(9), Hyperparameter::Tempo(5)),
            Error::<Test>::SubNetworkDoesNotExist
        );
    });
}
