//! FRAME's mock runtime for the pallet's unit tests: System, Balances and this pallet.

use crate as pallet_subnet;
use polkadot_sdk::{
    frame_support::{derive_impl, parameter_types, traits::Hooks},
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
    type ExistentialDeposit = ExistentialDeposit;
}

parameter_types! {
    pub const ExistentialDeposit: u64 = 500;
}

#[derive_impl(pallet_subnet::config_preludes::TestDefaultConfig)]
impl pallet_subnet::Config for Test {
    type Currency = Balances;
}

/// One TAO in its smallest unit (9 decimals).
pub const TAO: u64 = 1_000_000_000;
/// Every account 1..=ACCOUNTS starts with this much.
pub const START_BALANCE: u64 = 1_000 * TAO;
pub const ACCOUNTS: u64 = 600;

pub fn new_test_ext() -> TestExternalities {
    let balances = (1..=ACCOUNTS).map(|a| (a, START_BALANCE)).collect();
    let storage = RuntimeGenesisConfig {
        balances: pallet_balances::GenesisConfig { balances, ..Default::default() },
        ..Default::default()
    }
    .build_storage()
    .expect("mock genesis builds");
    let mut ext = TestExternalities::new(storage);
    ext.execute_with(|| System::set_block_number(1));
    ext
}

/// Runs `on_initialize` for each block after the current one, up to `n`.
pub fn run_to_block(n: u64) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        SubtensorModule::on_initialize(next);
    }
}
