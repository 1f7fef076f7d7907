use super::*;
use crate::Event;
use polkadot_sdk::frame_support::assert_noop;

/// Subnet 1: owner 101 (uid 0), validator 202 (uid 1, permitted and staked), miners 203, 204.
fn setup() -> u16 {
    let netuid = create_subnet(1, 101);
    set(netuid, Hyperparameter::WeightsSetRateLimit(0));
    for hot in [202, 203, 204] {
        register(netuid, 2, hot);
    }
    assert_ok!(SubtensorModule::add_stake(RuntimeOrigin::signed(2), 202, netuid, 100 * TAO));
    ValidatorPermit::<Test>::insert(netuid, vec![false, true, false, false]);
    netuid
}

fn set_weights(
    hot: u64,
    netuid: u16,
    dests: Vec<u16>,
    weights: Vec<u16>,
    key: u64,
) -> polkadot_sdk::sp_runtime::DispatchResult {
    SubtensorModule::set_weights(RuntimeOrigin::signed(hot), netuid, dests, weights, key)
}

#[test]
fn set_weights_max_upscales_sorts_and_records_update() {
    new_test_ext().execute_with(|| {
        let netuid = setup();
        System::set_block_number(3);
        assert_ok!(set_weights(202, netuid, vec![3, 2, 0], vec![1, 2, 0], 0));
        assert_eq!(Weights::<Test>::get(netuid, 1), vec![(2, 65535), (3, 32767)]);
        assert_eq!(LastUpdate::<Test>::get(netuid)[1], 3);
        assert_eq!(last_event(), Event::WeightsSet { netuid, uid: 1 }.into());
    });
}

#[test]
fn set_weights_errors() {
    new_test_ext().execute_with(|| {
        let netuid = setup();
        assert_noop!(set_weights(202, 9, vec![2], vec![1], 0), Error::<Test>::SubNetworkDoesNotExist);
        assert_noop!(set_weights(202, netuid, vec![2, 3], vec![1], 0), Error::<Test>::WeightVecNotEqualSize);
        assert_noop!(
            set_weights(999, netuid, vec![2], vec![1], 0),
            Error::<Test>::HotKeyNotRegisteredInSubNet
        );
        assert_noop!(set_weights(203, netuid, vec![3], vec![1], 0), Error::<Test>::NeuronNoValidatorPermit);
        assert_noop!(set_weights(202, netuid, vec![2, 2], vec![1, 1], 0), Error::<Test>::DuplicateUids);
        assert_noop!(
            set_weights(202, netuid, vec![2, 4], vec![1, 1], 0),
            Error::<Test>::UidVecContainInvalidOne
        );
        assert_noop!(
            set_weights(202, netuid, vec![0, 1, 2, 3, 3], vec![1; 5], 0),
            Error::<Test>::UidsLengthExceedUidsInSubNet
        );

        set(netuid, Hyperparameter::WeightsVersionKey(5));
        assert_noop!(set_weights(202, netuid, vec![2], vec![1], 4), Error::<Test>::IncorrectWeightVersionKey);
        assert_ok!(set_weights(202, netuid, vec![2], vec![1], 5));
        assert_ok!(set_weights(202, netuid, vec![2], vec![1], 6));

        set(netuid, Hyperparameter::WeightsSetRateLimit(10));
        assert_noop!(set_weights(202, netuid, vec![2], vec![1], 5), Error::<Test>::SettingWeightsTooFast);
        run_to_block(11);
        assert_ok!(set_weights(202, netuid, vec![2], vec![1], 5));

        assert_ok!(SubtensorModule::set_hyperparameter(None, Hyperparameter::StakeThreshold(1_000 * TAO)));
        run_to_block(30);
        assert_noop!(
            set_weights(202, netuid, vec![2], vec![1], 5),
            Error::<Test>::NotEnoughStakeToSetWeights
        );
    });
}

#[test]
fn self_weight_needs_no_permit() {
    new_test_ext().execute_with(|| {
        let netuid = setup();
        assert_ok!(set_weights(203, netuid, vec![2], vec![9], 0));
        assert_eq!(Weights::<Test>::get(netuid, 2), vec![(2, 65535)]);
    });
}
