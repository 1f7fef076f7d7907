//! FRAME's mock runtime for the pallet's unit tests and benchmarks: System and this pallet, with
//! every account but `UNREGISTERED` allowed to commit and epochs of 10 blocks.

use crate::{self as pallet_commitments, CanCommit, GetEpochIndex};
use polkadot_sdk::{
    frame_support::{derive_impl, traits::ConstU32},
    frame_system,
    sp_io::TestExternalities,
    sp_runtime::BuildStorage,
};

/// The one account that is not registered anywhere.
pub const UNREGISTERED: u64 = 100;

type Block = frame_system::mocking::MockBlock<Test>;

polkadot_sdk::frame_support::construct_runtime!(
    pub enum Test {
        System: frame_system,
        Commitments: pallet_commitments,
    }
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
    type Block = Block;
}

/// Everyone but `UNREGISTERED` is "registered".
pub struct Registered;
impl CanCommit<u64> for Registered {
    fn can_commit(_netuid: u16, who: &u64) -> bool {
        *who != UNREGISTERED
    }

    #[cfg(feature = "runtime-benchmarks")]
    fn make_committer(_who: &u64) -> u16 {
        1
    }
}

/// Epochs of 10 blocks.
pub struct TenBlockEpochs;
impl GetEpochIndex for TenBlockEpochs {
    fn epoch_index(_netuid: u16, block: u64) -> u64 {
        block / 10
    }
}

impl pallet_commitments::Config for Test {
    type MaxFields = ConstU32<3>;
    type CanCommit = Registered;
    type EpochIndex = TenBlockEpochs;
    type WeightInfo = ();
}

/// Empty genesis, at block 1.
pub fn new_test_ext() -> TestExternalities {
    let storage = RuntimeGenesisConfig::default().build_storage().expect("genesis");
    let mut ext = TestExternalities::new(storage);
    ext.execute_with(|| System::set_block_number(1));
    ext
}
