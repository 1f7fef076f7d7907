//! Pallet configurations.

use crate::*;
use frame_support::{
    derive_impl,
    dispatch::DispatchClass,
    parameter_types,
    traits::{ConstBool, ConstU16, ConstU32, ConstU64, ConstU8, VariantCountOf},
    weights::{
        constants::{RocksDbWeight, WEIGHT_REF_TIME_PER_SECOND},
        IdentityFee, Weight,
    },
    PalletId,
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use polkadot_sdk::sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{traits::One, Perbill};

const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

parameter_types! {
    pub const BlockHashCount: BlockNumber = 2400;
    pub const Version: RuntimeVersion = VERSION;
    /// Two seconds of compute per block, as subtensor and the Substrate templates allow.
    pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
        Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
        NORMAL_DISPATCH_RATIO,
    );
    pub RuntimeBlockLength: BlockLength = BlockLength::builder()
        .max_length(5 * 1024 * 1024)
        .modify_max_length_for_class(DispatchClass::Normal, |m| *m = NORMAL_DISPATCH_RATIO * *m)
        .build();
    pub const SS58Prefix: u16 = 42;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
    type Block = Block;
    type BlockWeights = RuntimeBlockWeights;
    type BlockLength = RuntimeBlockLength;
    type AccountId = AccountId;
    type Nonce = Nonce;
    type Hash = Hash;
    type BlockHashCount = BlockHashCount;
    type DbWeight = RocksDbWeight;
    type Version = Version;
    type AccountData = pallet_balances::AccountData<Balance>;
    type SS58Prefix = SS58Prefix;
    type MaxConsumers = ConstU32<16>;
}

impl pallet_aura::Config for Runtime {
    type AuthorityId = AuraId;
    type DisabledValidators = ();
    type MaxAuthorities = ConstU32<32>;
    type AllowMultipleBlocksPerSlot = ConstBool<false>;
    type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type WeightInfo = ();
    type MaxAuthorities = ConstU32<32>;
    type MaxNominators = ConstU32<0>;
    type MaxSetIdSessionEntries = ConstU64<0>;
    type KeyOwnerProof = sp_core::Void;
    type EquivocationReportSystem = ();
}

impl pallet_timestamp::Config for Runtime {
    type Moment = u64;
    type OnTimestampSet = Aura;
    type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
    type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
    type MaxLocks = ConstU32<50>;
    type MaxReserves = ();
    type ReserveIdentifier = [u8; 8];
    type Balance = Balance;
    type RuntimeEvent = RuntimeEvent;
    type DustRemoval = ();
    type ExistentialDeposit = ConstU64<EXISTENTIAL_DEPOSIT>;
    type AccountStore = System;
    type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
    type FreezeIdentifier = RuntimeFreezeReason;
    type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
    type RuntimeHoldReason = RuntimeHoldReason;
    type RuntimeFreezeReason = RuntimeFreezeReason;
    type DoneSlashHandler = ();
}

parameter_types! {
    pub FeeMultiplier: Multiplier = Multiplier::one();
}

/// One rao per 5,000 ps of weight: a transfer (about 630 us of weight with its database
/// accesses) costs about 0.00013 TAO, the order of subtensor's fees. One rao per picosecond
/// would charge 0.63 TAO, too much for validators that set weights every few blocks.
pub struct WeightToFee;
impl frame_support::weights::WeightToFee for WeightToFee {
    type Balance = Balance;
    fn weight_to_fee(weight: &Weight) -> Balance {
        // A solo chain: only execution time (ref_time) is scarce, not proof size.
        weight.ref_time() / 5_000
    }
}

impl pallet_transaction_payment::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type OnChargeTransaction = FungibleAdapter<Balances, ()>;
    type OperationalFeeMultiplier = ConstU8<5>;
    type WeightToFee = WeightToFee;
    type LengthToFee = IdentityFee<Balance>;
    type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
    type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_sudo::Config for Runtime {
    type RuntimeEvent = RuntimeEvent;
    type RuntimeCall = RuntimeCall;
    type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
    pub const SubnetPalletId: PalletId = PalletId(*b"py/subnt");
    /// The registration price halves in about 350 blocks without registrations.
    pub const BurnDecay: Perbill = Perbill::from_parts(998_000_000);
}

impl pallet_subnet::Config for Runtime {
    type Currency = Balances;
    type PalletId = SubnetPalletId;
    type MaxSubnets = ConstU16<32>;
    type MaxUidsLimit = ConstU16<256>;
    type DefaultTempo = ConstU16<DEFAULT_TEMPO>;
    /// One TAO per block, shared by the subnets.
    type DefaultBlockEmission = ConstU64<TAO>;
    type BurnDecay = BurnDecay;
    /// Two full epochs (256 uids) declare about a sixth of a 2 s block; see the runtime test
    /// `the_worst_block_of_epochs_fits_well_inside_a_block`.
    type MaxEpochsPerBlock = ConstU16<2>;
    type WeightInfo = pallet_subnet::weights::SubstrateWeight<Runtime>;
}

impl pallet_admin_utils::Config for Runtime {
    type WeightInfo = pallet_admin_utils::weights::SubstrateWeight<Runtime>;
}

/// Only hotkeys registered in the subnet may commit.
pub struct RegisteredHotkeys;
impl pallet_commitments::CanCommit<AccountId> for RegisteredHotkeys {
    fn can_commit(netuid: u16, who: &AccountId) -> bool {
        pallet_subnet::Uids::<Runtime>::contains_key(netuid, who)
    }

    #[cfg(feature = "runtime-benchmarks")]
    fn make_committer(who: &AccountId) -> u16 {
        use frame_support::traits::fungible::Mutate;
        // `who` creates a subnet and so becomes its uid 0.
        Balances::set_balance(who, 1_000_000 * TAO);
        let origin = RuntimeOrigin::signed(who.clone());
        SubtensorModule::register_network(origin, who.clone()).expect("benchmark subnet");
        pallet_subnet::TotalNetworks::<Runtime>::get()
    }
}

/// Commitment budgets reset every tempo.
pub struct SubnetEpochs;
impl pallet_commitments::GetEpochIndex for SubnetEpochs {
    fn epoch_index(netuid: u16, block: u64) -> u64 {
        block / (pallet_subnet::Tempo::<Runtime>::get(netuid) as u64).max(1)
    }
}

impl pallet_commitments::Config for Runtime {
    type MaxFields = ConstU32<3>;
    type CanCommit = RegisteredHotkeys;
    type EpochIndex = SubnetEpochs;
    type WeightInfo = pallet_commitments::weights::SubstrateWeight<Runtime>;
}
