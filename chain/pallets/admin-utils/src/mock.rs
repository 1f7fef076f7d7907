//! FRAME's mock runtime for the pallet's unit tests and benchmarks: System, Balances, the subnet
//! pallet (whose hyperparameters these calls set) and this pallet, with subnet 1 owned by `OWNER`.

use crate as pallet_admin_utils;
use polkadot_sdk::{
    frame_support::{assert_ok, derive_impl},
    frame_system, pallet_balances,
    sp_io::TestExternalities,
    sp_runtime::BuildStorage,
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

#[derive_impl(pallet_subnet::config_preludes::TestDefaultConfig)]
impl pallet_subnet::Config for Test {
    type Currency = Balances;
}

impl pallet_admin_utils::Config for Test {
    type WeightInfo = ();
}

/// Owns subnet 1.
pub const OWNER: u64 = 1;
/// Funded, owns nothing.
pub const STRANGER: u64 = 2;

/// Genesis with both accounts funded, at block 1, with subnet 1 registered by `OWNER`.
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
