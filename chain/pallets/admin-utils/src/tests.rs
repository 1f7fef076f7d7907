//! Origin rules of the setters, on a mock runtime with the subnet pallet.

use crate as pallet_admin_utils;
use pallet_subnet::{Kappa, NetworkMinLockCost, StakeThreshold, Tempo};
use polkadot_sdk::{
    frame_support::{assert_noop, assert_ok, derive_impl, parameter_types, traits::ConstU16, PalletId},
    frame_system, pallet_balances,
    sp_io::TestExternalities,
    sp_runtime::{traits::BadOrigin, BuildStorage, Perbill},
};

type Block = frame_system::mocking::MockBlock<Test>;

polkadot_sdk::frame_support::construct_runtime!(
    pub enum Test {
        System: frame_system,
        Balances: pallet_balances,
        SubtensorModule: pallet_subnet,
        AdminUtils: pallet_admin_utils,
    }
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
    type Block = Block;
    type AccountData = pallet_balances::AccountData<u64>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
    type AccountStore = System;
}

parameter_types! {
    pub const SubnetPalletId: PalletId = PalletId(*b"py/subnt");
    pub const BurnDecay: Perbill = Perbill::from_percent(99);
}

impl pallet_subnet::Config for Test {
    type Currency = Balances;
    type PalletId = SubnetPalletId;
    type MaxSubnets = ConstU16<4>;
    type MaxUidsLimit = ConstU16<256>;
    type DefaultTempo = ConstU16<10>;
    type DefaultBlockEmission = polkadot_sdk::frame_support::traits::ConstU64<1_000_000_000>;
    type BurnDecay = BurnDecay;
    type WeightInfo = ();
}

impl pallet_admin_utils::Config for Test {
    type WeightInfo = ();
}

const OWNER: u64 = 1;
const STRANGER: u64 = 2;

pub fn new_test_ext() -> TestExternalities {
    let storage = RuntimeGenesisConfig {
        balances: pallet_balances::GenesisConfig {
            balances: vec![(OWNER, 1_000_000_000_000), (STRANGER, 1_000_000_000_000)],
            ..Default::default()
        },
        ..Default::default()
    }
    .build_storage()
    .expect("mock genesis builds");
    let mut ext = TestExternalities::new(storage);
    ext.execute_with(|| {
        System::set_block_number(1);
        assert_ok!(SubtensorModule::register_network(RuntimeOrigin::signed(OWNER), 101));
    });
    ext
}

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
        assert_ok!(AdminUtils::sudo_set_kappa(owner.clone(), 1, 1000));
        assert_ok!(AdminUtils::sudo_set_weights_set_rate_limit(owner.clone(), 1, 0));
        assert_ok!(AdminUtils::sudo_set_min_burn(owner.clone(), 1, 1));
        assert_noop!(AdminUtils::sudo_set_tempo(owner.clone(), 1, 7), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_max_allowed_validators(owner.clone(), 1, 7), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_allow_loopback_axons(owner.clone(), 1, true), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_stake_threshold(owner, 1), BadOrigin);
    });
}

#[test]
fn strangers_and_bad_values_are_refused() {
    new_test_ext().execute_with(|| {
        assert_noop!(AdminUtils::sudo_set_kappa(RuntimeOrigin::signed(STRANGER), 1, 1000), BadOrigin);
        assert_noop!(AdminUtils::sudo_set_kappa(RuntimeOrigin::none(), 1, 1000), BadOrigin);
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
        assert_noop!(AdminUtils::sudo_set_kappa(RuntimeOrigin::signed(OWNER), 2, 1), BadOrigin);
    });
}
