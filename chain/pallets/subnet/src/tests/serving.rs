use super::*;
use crate::{serving::is_valid_ip, AxonInfo, Event};
use polkadot_sdk::frame_support::assert_noop;

const PUBLIC_V4: u128 = 0x0102_0304; // 1.2.3.4
const LOOPBACK_V4: u128 = 0x7f00_0001; // 127.0.0.1

fn serve(
    hot: u64,
    netuid: u16,
    ip: u128,
    port: u16,
    ip_type: u8,
) -> polkadot_sdk::sp_runtime::DispatchResult {
    SubtensorModule::serve_axon(RuntimeOrigin::signed(hot), netuid, 7, ip, port, ip_type, 0, 1, 2)
}

#[test]
fn serve_axon_stores_endpoint() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        System::set_block_number(5);
        assert_ok!(serve(202, netuid, PUBLIC_V4, 8091, 4));
        assert_eq!(
            Axons::<Test>::get(netuid, 202),
            Some(AxonInfo {
                block: 5,
                version: 7,
                ip: PUBLIC_V4,
                port: 8091,
                ip_type: 4,
                protocol: 0,
                placeholder1: 1,
                placeholder2: 2
            })
        );
        assert_eq!(last_event(), Event::AxonServed { netuid, hotkey: 202 }.into());
    });
}

#[test]
fn serve_axon_errors_and_rate_limit() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        register(netuid, 2, 202);
        assert_noop!(serve(202, 9, PUBLIC_V4, 1, 4), Error::<Test>::SubNetworkDoesNotExist);
        assert_noop!(serve(303, netuid, PUBLIC_V4, 1, 4), Error::<Test>::HotKeyNotRegisteredInSubNet);
        assert_noop!(serve(202, netuid, PUBLIC_V4, 1, 5), Error::<Test>::InvalidIpType);
        assert_noop!(serve(202, netuid, 0, 1, 4), Error::<Test>::InvalidIpAddress);
        assert_noop!(serve(202, netuid, 1u128 << 32, 1, 4), Error::<Test>::InvalidIpAddress);
        assert_noop!(serve(202, netuid, LOOPBACK_V4, 1, 4), Error::<Test>::InvalidIpAddress);
        assert_noop!(serve(202, netuid, PUBLIC_V4, 0, 4), Error::<Test>::InvalidPort);

        assert_ok!(serve(202, netuid, PUBLIC_V4, 1, 4));
        run_to_block(1 + 49);
        assert_noop!(serve(202, netuid, PUBLIC_V4, 2, 4), Error::<Test>::ServingRateLimitExceeded);
        run_to_block(1 + 50);
        assert_ok!(serve(202, netuid, PUBLIC_V4, 2, 4));
    });
}

#[test]
fn loopback_only_in_dev_mode() {
    new_test_ext().execute_with(|| {
        let netuid = create_subnet(1, 101);
        set(netuid, Hyperparameter::AllowLoopbackAxons(true));
        assert_ok!(serve(101, netuid, LOOPBACK_V4, 9000, 4));
    });
    assert!(is_valid_ip(6, 0x2001_0db8 << 96, false));
    assert!(!is_valid_ip(6, 1, false));
    assert!(is_valid_ip(6, 1, true));
    assert!(!is_valid_ip(6, u128::MAX, true));
    assert!(!is_valid_ip(4, u32::MAX as u128, true));
}
