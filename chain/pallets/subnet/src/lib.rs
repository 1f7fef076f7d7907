//! # Subnet pallet (`SubtensorModule`)
//!
//! Subnets of miners and validators, as Bittensor's subtensor runs them, for one token and no
//! root network. Where subtensor has the same call or storage item this pallet uses its name,
//! call index and argument types, so one client speaks to both (see `docs/chain.md` for the
//! deliberate differences).
//!
//! - `register_network` creates a subnet owned by the caller's coldkey; the owner's hotkey is uid 0.
//! - `burned_register` burns the registration price and assigns a uid, pruning the non-immune uid
//!   with the lowest emission when the subnet is full.
//! - `add_stake` / `remove_stake` move balance between a coldkey and stake on a hotkey.
//! - `serve_axon` publishes a neuron's endpoint; `set_weights` records a validator's weights.
//! - Every `tempo + 1` blocks, at a phase set by its netuid (subtensor's schedule), the subnet runs
//!   Yuma consensus ([`yuma`]) and pays what accrued since: the owner's 18% (split off each block's
//!   emission as it accrues), 41% to miners by incentive, 41% to validators by dividends, all as
//!   stake on their hotkeys. Staked balance sits in the pallet's account, so total issuance grows
//!   by exactly what is paid; rounding dust stays pending for the next epoch. At most
//!   `MaxEpochsPerBlock` epochs run in one block; the others run in the next.

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod epoch;
pub mod fixed;
mod hyperparameters;
#[cfg(test)]
mod mock;
mod registration;
mod serving;
mod staking;
#[cfg(test)]
mod tests;
pub mod weights;
mod weights_rules;
pub mod yuma;

pub use hyperparameters::{
    Hyperparameter, MAX_BONDS_MOVING_AVERAGE, MAX_BURN_FLOOR, MAX_IMMUNITY_PERIOD, MAX_SERVING_RATE_LIMIT,
    MIN_BURN_CEILING, MIN_BURN_FLOOR,
};
pub use pallet::*;
pub use weights::WeightInfo;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{frame_support, frame_system, sp_runtime};
use scale_info::TypeInfo;

/// A subnet's identifier.
pub type NetUid = u16;

/// A neuron's published endpoint, as subtensor stores it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct AxonInfo {
    /// Block at which it was served.
    pub block: u64,
    /// The neuron software's version, as it reports it.
    pub version: u32,
    /// IPv4 in the low 32 bits, or IPv6.
    pub ip: u128,
    /// TCP port (never 0).
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
    /// The wire protocol, as the neuron reports it (subtensor: 0 = TCP, 4 = HTTP).
    pub protocol: u8,
    /// Unused; kept for subtensor's encoding.
    pub placeholder1: u8,
    /// Unused; kept for subtensor's encoding.
    pub placeholder2: u8,
}

/// Defaults for test runtimes: `#[derive_impl(config_preludes::TestDefaultConfig)]` and set
/// only `Currency`.
#[cfg(feature = "std")]
pub mod config_preludes {
    use super::{frame_support, frame_system, sp_runtime::Perbill, DefaultConfig};
    use frame_support::{
        derive_impl,
        pallet_prelude::inject_runtime_type,
        traits::{ConstU16, ConstU64},
        PalletId,
    };

    /// 4 subnets of up to 256 uids, tempo 10, 1 TAO a block, the price decaying 1% a block.
    pub struct TestDefaultConfig;

    #[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
    impl frame_system::DefaultConfig for TestDefaultConfig {}

    frame_support::parameter_types! {
        /// The pallet's account seed in tests.
        pub const TestPalletId: PalletId = PalletId(*b"py/subnt");
        /// The burn decays 1% a block.
        pub const TestBurnDecay: Perbill = Perbill::from_percent(99);
    }

    #[frame_support::register_default_impl(TestDefaultConfig)]
    impl DefaultConfig for TestDefaultConfig {
        type PalletId = TestPalletId;
        type MaxSubnets = ConstU16<4>;
        type MaxUidsLimit = ConstU16<256>;
        type DefaultTempo = ConstU16<10>;
        type DefaultBlockEmission = ConstU64<1_000_000_000>;
        type BurnDecay = TestBurnDecay;
        type MaxEpochsPerBlock = ConstU16<2>;
        type WeightInfo = ();
    }
}

#[frame_support::pallet]
// The calls keep subtensor's signatures (`serve_axon` takes eight values).
#[allow(clippy::too_many_arguments)]
pub mod pallet {
    use super::*;
    use alloc::vec::Vec;
    use frame_support::{
        pallet_prelude::*,
        traits::{fungible, BuildGenesisConfig},
        PalletId,
    };
    use frame_system::pallet_prelude::*;
    use sp_runtime::{traits::AccountIdConversion, Perbill};

    /// The pallet; its calls and helpers are on `Pallet<T>`.
    #[pallet::pallet]
    #[pallet::without_storage_info]
    pub struct Pallet<T>(_);

    /// What the runtime provides: the token and the limits that bound every block's work.
    #[pallet::config(with_default)]
    pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// The token: registration burns it, stake is held in this pallet's account.
        #[pallet::no_default]
        type Currency: fungible::Mutate<Self::AccountId, Balance = u64>;
        /// Derives the account that holds all staked balance.
        #[pallet::constant]
        type PalletId: Get<PalletId>;
        /// Most subnets that can exist (each costs work in every block).
        #[pallet::constant]
        type MaxSubnets: Get<u16>;
        /// Upper bound for any subnet's `MaxAllowedUids` (the epoch is quadratic in it).
        #[pallet::constant]
        type MaxUidsLimit: Get<u16>;
        /// Tempo of a new subnet, in blocks.
        #[pallet::constant]
        type DefaultTempo: Get<u16>;
        /// Emission per block at genesis, shared equally by the subnets (`BlockEmission` after).
        #[pallet::constant]
        type DefaultBlockEmission: Get<u64>;
        /// Part of the registration price kept from one block to the next.
        #[pallet::constant]
        type BurnDecay: Get<Perbill>;
        /// Most epochs run in one block; subnets due beyond it run in the next block. The runtime
        /// sizes it so that this many epochs at `MaxUidsLimit` uids fit its block weight.
        #[pallet::constant]
        type MaxEpochsPerBlock: Get<u16>;
        /// Benchmarked weights of the calls and of the epoch.
        type WeightInfo: WeightInfo;
    }

    // ---- Global state -------------------------------------------------------------------

    /// The runtime's `DefaultBlockEmission`.
    #[pallet::type_value]
    pub fn DefaultBlockEmission<T: Config>() -> u64 {
        T::DefaultBlockEmission::get()
    }
    /// 1 TAO.
    #[pallet::type_value]
    pub fn DefaultLockCost() -> u64 {
        1_000_000_000
    }

    /// Number of subnets.
    #[pallet::storage]
    pub type TotalNetworks<T> = StorageValue<_, u16, ValueQuery>;
    /// Sum of all stake (equals the pallet account's balance minus its existential deposit).
    #[pallet::storage]
    pub type TotalStake<T> = StorageValue<_, u64, ValueQuery>;
    /// Stake below this counts as zero in consensus and cannot set weights.
    #[pallet::storage]
    pub type StakeThreshold<T> = StorageValue<_, u64, ValueQuery>;
    /// Burned by `register_network`.
    #[pallet::storage]
    pub type NetworkMinLockCost<T> = StorageValue<_, u64, ValueQuery, DefaultLockCost>;
    /// New tokens per block, shared by all subnets.
    #[pallet::storage]
    pub type BlockEmission<T> = StorageValue<_, u64, ValueQuery, DefaultBlockEmission<T>>;
    /// Coldkey that owns a hotkey.
    #[pallet::storage]
    pub type Owner<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, T::AccountId>;
    /// Stake by (hotkey, coldkey, netuid). Subtensor keeps share-based `Alpha` here instead.
    #[pallet::storage]
    pub type StakeOf<T: Config> = StorageNMap<
        _,
        (
            NMapKey<Blake2_128Concat, T::AccountId>,
            NMapKey<Blake2_128Concat, T::AccountId>,
            NMapKey<Identity, NetUid>,
        ),
        u64,
        ValueQuery,
    >;
    /// Total stake on a hotkey in a subnet: the `S` of consensus.
    #[pallet::storage]
    pub type TotalHotkeyAlpha<T: Config> =
        StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Identity, NetUid, u64, ValueQuery>;

    // ---- Subnets and hyperparameters -----------------------------------------------------

    /// The runtime's `DefaultTempo`.
    #[pallet::type_value]
    pub fn DefaultTempo<T: Config>() -> u16 {
        T::DefaultTempo::get()
    }
    /// The runtime's `MaxUidsLimit`.
    #[pallet::type_value]
    pub fn DefaultMaxAllowedUids<T: Config>() -> u16 {
        T::MaxUidsLimit::get()
    }
    /// 64, as subtensor.
    #[pallet::type_value]
    pub fn DefaultMaxAllowedValidators() -> u16 {
        64
    }
    /// 4096 blocks, as subtensor.
    #[pallet::type_value]
    pub fn DefaultImmunityPeriod() -> u16 {
        4096
    }
    /// 100 blocks, as subtensor.
    #[pallet::type_value]
    pub fn DefaultWeightsSetRateLimit() -> u64 {
        100
    }
    /// 0.5 TAO.
    #[pallet::type_value]
    pub fn DefaultMinBurn() -> u64 {
        500_000_000
    }
    /// 100 TAO, as subtensor.
    #[pallet::type_value]
    pub fn DefaultMaxBurn() -> u64 {
        100_000_000_000
    }
    /// 1 TAO, as subtensor.
    #[pallet::type_value]
    pub fn DefaultBurn() -> u64 {
        1_000_000_000
    }
    /// 5000 blocks, as subtensor.
    #[pallet::type_value]
    pub fn DefaultActivityCutoff() -> u16 {
        5000
    }
    /// Half of u16::MAX: consensus is what a stake majority agrees on.
    #[pallet::type_value]
    pub fn DefaultKappa() -> u16 {
        32_767
    }
    /// 900_000 (of 1_000_000): bonds move 10% an epoch.
    #[pallet::type_value]
    pub fn DefaultBondsMovingAverage() -> u64 {
        900_000
    }
    /// 50 blocks, as subtensor.
    #[pallet::type_value]
    pub fn DefaultServingRateLimit() -> u64 {
        50
    }

    /// Whether a netuid is a live subnet.
    #[pallet::storage]
    pub type NetworksAdded<T> = StorageMap<_, Identity, NetUid, bool, ValueQuery>;
    /// Coldkey that created the subnet.
    #[pallet::storage]
    pub type SubnetOwner<T: Config> = StorageMap<_, Identity, NetUid, T::AccountId>;
    /// Hotkey of the owner (uid 0 at creation; receives the owner's cut; never pruned).
    #[pallet::storage]
    pub type SubnetOwnerHotkey<T: Config> = StorageMap<_, Identity, NetUid, T::AccountId>;
    /// Block at which the subnet was created.
    #[pallet::storage]
    pub type NetworkRegisteredAt<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// What `register_network` burned.
    #[pallet::storage]
    pub type SubnetLocked<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// Blocks between two epochs, less one (an epoch runs every `tempo + 1` blocks).
    #[pallet::storage]
    pub type Tempo<T: Config> = StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultTempo<T>>;
    /// Most uids in the subnet; a registration beyond it prunes one.
    #[pallet::storage]
    pub type MaxAllowedUids<T: Config> =
        StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultMaxAllowedUids<T>>;
    /// How many of the highest-staked uids hold a validator permit.
    #[pallet::storage]
    pub type MaxAllowedValidators<T> =
        StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultMaxAllowedValidators>;
    /// Blocks after registration during which a uid cannot be pruned.
    #[pallet::storage]
    pub type ImmunityPeriod<T> = StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultImmunityPeriod>;
    /// Fewest blocks between two `set_weights` of one validator.
    #[pallet::storage]
    pub type WeightsSetRateLimit<T> =
        StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultWeightsSetRateLimit>;
    /// Lowest `version_key` that `set_weights` accepts.
    #[pallet::storage]
    pub type WeightsVersionKey<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// Lowest registration price.
    #[pallet::storage]
    pub type MinBurn<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultMinBurn>;
    /// Highest registration price.
    #[pallet::storage]
    pub type MaxBurn<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultMaxBurn>;
    /// Current registration price.
    #[pallet::storage]
    pub type Burn<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultBurn>;
    /// A uid that set no weights for this many blocks is inactive in the epoch.
    #[pallet::storage]
    pub type ActivityCutoff<T> = StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultActivityCutoff>;
    /// Share of stake (of u16::MAX) whose weights decide consensus.
    #[pallet::storage]
    pub type Kappa<T> = StorageMap<_, Identity, NetUid, u16, ValueQuery, DefaultKappa>;
    /// How much of the old bonds an epoch keeps, of 1_000_000.
    #[pallet::storage]
    pub type BondsMovingAverage<T> =
        StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultBondsMovingAverage>;
    /// Fewest blocks between two `serve_axon` of one hotkey.
    #[pallet::storage]
    pub type ServingRateLimit<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery, DefaultServingRateLimit>;
    /// Dev mode: accept loopback axon addresses (the localnet runs everything on 127.0.0.1).
    #[pallet::storage]
    pub type AllowLoopbackAxons<T> = StorageMap<_, Identity, NetUid, bool, ValueQuery>;
    /// Miners' and validators' emission (82% of each block's) accrued and not yet paid.
    #[pallet::storage]
    pub type PendingEmission<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// The owner's cut (18% of each block's emission) accrued and not yet paid.
    #[pallet::storage]
    pub type PendingOwnerCut<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// Block of the last epoch (subtensor's spelling).
    #[pallet::storage]
    pub type LastMechansimStepBlock<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;
    /// Blocks since the last epoch (past `tempo + 1`, the epoch is overdue).
    #[pallet::storage]
    pub type BlocksSinceLastStep<T> = StorageMap<_, Identity, NetUid, u64, ValueQuery>;

    // ---- Neurons --------------------------------------------------------------------------

    /// Number of uids in the subnet.
    #[pallet::storage]
    pub type SubnetworkN<T> = StorageMap<_, Identity, NetUid, u16, ValueQuery>;
    /// Uid of a hotkey in a subnet.
    #[pallet::storage]
    pub type Uids<T: Config> = StorageDoubleMap<_, Identity, NetUid, Blake2_128Concat, T::AccountId, u16>;
    /// Hotkey of a uid in a subnet.
    #[pallet::storage]
    pub type Keys<T: Config> = StorageDoubleMap<_, Identity, NetUid, Identity, u16, T::AccountId>;
    /// Block at which a uid was (last) registered.
    #[pallet::storage]
    pub type BlockAtRegistration<T> = StorageDoubleMap<_, Identity, NetUid, Identity, u16, u64, ValueQuery>;
    /// A hotkey's published endpoint in a subnet.
    #[pallet::storage]
    pub type Axons<T: Config> =
        StorageDoubleMap<_, Identity, NetUid, Blake2_128Concat, T::AccountId, AxonInfo>;
    /// A validator's weights: (uid, weight) sorted by uid, max-upscaled to 65535.
    #[pallet::storage]
    pub type Weights<T> = StorageDoubleMap<_, Identity, NetUid, Identity, u16, Vec<(u16, u16)>, ValueQuery>;
    /// A validator's bonds: (uid, bond) sorted by uid, column max-upscaled to 65535.
    #[pallet::storage]
    pub type Bonds<T> = StorageDoubleMap<_, Identity, NetUid, Identity, u16, Vec<(u16, u16)>, ValueQuery>;
    /// Block of each uid's last `set_weights` (0 if never), by uid.
    #[pallet::storage]
    pub type LastUpdate<T> = StorageMap<_, Identity, NetUid, Vec<u64>, ValueQuery>;
    /// Whether each uid was active at the last epoch, by uid.
    #[pallet::storage]
    pub type Active<T> = StorageMap<_, Identity, NetUid, Vec<bool>, ValueQuery>;
    /// Each uid's consensus weight at the last epoch (of u16::MAX), by uid.
    #[pallet::storage]
    pub type Consensus<T> = StorageMap<_, Identity, NetUid, Vec<u16>, ValueQuery>;
    /// Each uid's share of the miners' emission at the last epoch (of u16::MAX), by uid.
    #[pallet::storage]
    pub type Incentive<T> = StorageMap<_, Identity, NetUid, Vec<u16>, ValueQuery>;
    /// Each uid's share of the validators' emission at the last epoch (of u16::MAX), by uid.
    #[pallet::storage]
    pub type Dividends<T> = StorageMap<_, Identity, NetUid, Vec<u16>, ValueQuery>;
    /// What each uid was paid at the last epoch.
    #[pallet::storage]
    pub type Emission<T> = StorageMap<_, Identity, NetUid, Vec<u64>, ValueQuery>;
    /// Each validator's weight kept after clipping to consensus (of u16::MAX), by uid.
    #[pallet::storage]
    pub type ValidatorTrust<T> = StorageMap<_, Identity, NetUid, Vec<u16>, ValueQuery>;
    /// Whether each uid held a validator permit at the last epoch, by uid.
    #[pallet::storage]
    pub type ValidatorPermit<T> = StorageMap<_, Identity, NetUid, Vec<bool>, ValueQuery>;

    /// Genesis has nothing to configure: subnets are created by calls.
    #[pallet::genesis_config]
    #[derive(frame_support::DefaultNoBound)]
    pub struct GenesisConfig<T: Config> {
        /// Ties the config to the runtime.
        #[serde(skip)]
        pub _config: PhantomData<T>,
    }

    #[pallet::genesis_build]
    impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
        fn build(&self) {
            // The stake account holds the existential deposit forever, so that withdrawing the
            // last stake never reaps it.
            let account = Pallet::<T>::stake_account();
            let ed = <T::Currency as fungible::Inspect<T::AccountId>>::minimum_balance();
            <T::Currency as fungible::Mutate<T::AccountId>>::mint_into(&account, ed)
                .expect("genesis can mint the stake account's existential deposit");
        }
    }

    /// Events of the subnet pallet.
    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// A subnet was created; its owner hotkey holds uid 0.
        NetworkAdded {
            /// The new subnet.
            netuid: NetUid,
            /// Its owner's coldkey.
            owner: T::AccountId,
            /// Its owner's hotkey (uid 0).
            hotkey: T::AccountId,
            /// What creating it burned.
            locked: u64,
        },
        /// A hotkey got a uid (replacing `pruned`, if the subnet was full).
        NeuronRegistered {
            /// The subnet.
            netuid: NetUid,
            /// The uid it got.
            uid: u16,
            /// The registered hotkey.
            hotkey: T::AccountId,
            /// The registration price burned.
            burned: u64,
            /// The hotkey that held the uid before, if one was pruned.
            pruned: Option<T::AccountId>,
        },
        /// A coldkey staked on a hotkey.
        StakeAdded {
            /// Who staked.
            coldkey: T::AccountId,
            /// On whom.
            hotkey: T::AccountId,
            /// In which subnet.
            netuid: NetUid,
            /// How much moved from balance to stake.
            amount: u64,
        },
        /// A coldkey took stake back into its balance.
        StakeRemoved {
            /// Whose stake.
            coldkey: T::AccountId,
            /// On whom it was.
            hotkey: T::AccountId,
            /// In which subnet.
            netuid: NetUid,
            /// How much moved from stake to balance.
            amount: u64,
        },
        /// A hotkey published its endpoint (`Axons`).
        AxonServed {
            /// The subnet.
            netuid: NetUid,
            /// Whose endpoint.
            hotkey: T::AccountId,
        },
        /// A validator's weights were stored (`Weights`).
        WeightsSet {
            /// The subnet.
            netuid: NetUid,
            /// The validator's uid.
            uid: u16,
        },
        /// A hyperparameter changed (`netuid` is `None` for chain-wide ones).
        HyperparameterSet {
            /// The subnet, or `None` for a chain-wide value.
            netuid: Option<NetUid>,
            /// The parameter and its new value.
            value: Hyperparameter,
        },
        /// An epoch ran and paid `owner + miners + validators`; `carried` of the miners' and
        /// validators' part stays in `PendingEmission` (the owner's in `PendingOwnerCut`).
        EpochRun {
            /// The subnet.
            netuid: NetUid,
            /// The block it ran in.
            block: u64,
            /// Paid to the owner's hotkey.
            owner: u64,
            /// Paid to miners, by incentive.
            miners: u64,
            /// Paid to validators, by dividends (or by stake when none is active).
            validators: u64,
            /// Left in `PendingEmission` for the next epoch.
            carried: u64,
        },
    }

    /// Why a call of the subnet pallet failed.
    #[pallet::error]
    pub enum Error<T> {
        /// No subnet with this netuid.
        SubNetworkDoesNotExist,
        /// The hotkey has no owner coldkey yet (it was never registered).
        HotKeyAccountNotExists,
        /// The hotkey has no uid in this subnet.
        HotKeyNotRegisteredInSubNet,
        /// The hotkey already has a uid in this subnet.
        HotKeyAlreadyRegisteredInSubNet,
        /// The hotkey belongs to another coldkey.
        NonAssociatedColdKey,
        /// The coldkey cannot pay this amount and stay alive.
        NotEnoughBalanceToStake,
        /// Less stake than requested to remove.
        NotEnoughStakeToWithdraw,
        /// Amounts must be positive.
        AmountTooLow,
        /// The subnet is full and every uid is immune.
        NoNeuronIdAvailable,
        /// No more subnets can be created.
        SubnetLimitReached,
        /// `dests` and `weights` differ in length.
        WeightVecNotEqualSize,
        /// A uid appears twice in `dests`.
        DuplicateUids,
        /// A uid in `dests` does not exist.
        UidVecContainInvalidOne,
        /// More weights than uids in the subnet.
        UidsLengthExceedUidsInSubNet,
        /// Only validators (permit holders) may weight others.
        NeuronNoValidatorPermit,
        /// The version key is below the subnet's.
        IncorrectWeightVersionKey,
        /// Weights were set less than `WeightsSetRateLimit` blocks ago.
        SettingWeightsTooFast,
        /// The hotkey's stake is below `StakeThreshold`.
        NotEnoughStakeToSetWeights,
        /// `ip_type` is neither 4 nor 6.
        InvalidIpType,
        /// Not a routable address (or loopback while the subnet does not allow it).
        InvalidIpAddress,
        /// Port 0.
        InvalidPort,
        /// The axon was served less than `ServingRateLimit` blocks ago.
        ServingRateLimitExceeded,
        /// A hyperparameter value out of its range.
        InvalidHyperparameter,
        /// Arithmetic overflowed.
        Overflow,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn on_initialize(_n: BlockNumberFor<T>) -> Weight {
            Self::block_step()
        }

        fn integrity_test() {
            assert!(T::MaxUidsLimit::get() > 0, "MaxUidsLimit must be positive");
            assert!(T::DefaultTempo::get() > 0, "DefaultTempo must be positive");
            assert!(T::MaxEpochsPerBlock::get() > 0, "MaxEpochsPerBlock must be positive");
            // The setters keep these; the defaults must start out inside them.
            let tempo = T::DefaultTempo::get();
            assert!(tempo <= DefaultActivityCutoff::get(), "DefaultTempo above the activity cutoff");
            assert!(tempo <= DefaultImmunityPeriod::get(), "DefaultTempo above the immunity period");
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Sets the caller's weights on the other uids of a subnet.
        ///
        /// Origin: the validator's hotkey. Weights are max-upscaled so the largest is 65535.
        /// Errors: `SubNetworkDoesNotExist`, `WeightVecNotEqualSize`, `HotKeyNotRegisteredInSubNet`,
        /// `IncorrectWeightVersionKey`, `NotEnoughStakeToSetWeights`, `NeuronNoValidatorPermit`,
        /// `SettingWeightsTooFast`, `UidsLengthExceedUidsInSubNet`, `DuplicateUids`,
        /// `UidVecContainInvalidOne`. Event: `WeightsSet`.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::set_weights(dests.len() as u32))]
        pub fn set_weights(
            origin: OriginFor<T>,
            netuid: NetUid,
            dests: Vec<u16>,
            weights: Vec<u16>,
            version_key: u64,
        ) -> DispatchResult {
            let hotkey = ensure_signed(origin)?;
            Self::do_set_weights(hotkey, netuid, dests, weights, version_key)
        }

        /// Moves `amount_staked` from the caller's balance to stake on `hotkey` in `netuid`.
        ///
        /// Origin: a coldkey. Errors: `AmountTooLow`, `SubNetworkDoesNotExist`,
        /// `HotKeyAccountNotExists`, `NotEnoughBalanceToStake`. Event: `StakeAdded`.
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::add_stake())]
        pub fn add_stake(
            origin: OriginFor<T>,
            hotkey: T::AccountId,
            netuid: NetUid,
            amount_staked: u64,
        ) -> DispatchResult {
            let coldkey = ensure_signed(origin)?;
            Self::do_add_stake(coldkey, hotkey, netuid, amount_staked)
        }

        /// Moves `amount_unstaked` of the caller's stake on `hotkey` back to its balance.
        ///
        /// Origin: the coldkey that staked (or owns the hotkey, for payouts). Errors:
        /// `AmountTooLow`, `NotEnoughStakeToWithdraw`. Event: `StakeRemoved`.
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::remove_stake())]
        pub fn remove_stake(
            origin: OriginFor<T>,
            hotkey: T::AccountId,
            netuid: NetUid,
            amount_unstaked: u64,
        ) -> DispatchResult {
            let coldkey = ensure_signed(origin)?;
            Self::do_remove_stake(coldkey, hotkey, netuid, amount_unstaked)
        }

        /// Publishes the caller's endpoint in a subnet.
        ///
        /// Origin: a registered hotkey. Errors: `SubNetworkDoesNotExist`,
        /// `HotKeyNotRegisteredInSubNet`, `InvalidIpType`, `InvalidIpAddress`, `InvalidPort`,
        /// `ServingRateLimitExceeded`. Event: `AxonServed`.
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::serve_axon())]
        pub fn serve_axon(
            origin: OriginFor<T>,
            netuid: NetUid,
            version: u32,
            ip: u128,
            port: u16,
            ip_type: u8,
            protocol: u8,
            placeholder1: u8,
            placeholder2: u8,
        ) -> DispatchResult {
            let hotkey = ensure_signed(origin)?;
            let axon =
                AxonInfo { block: 0, version, ip, port, ip_type, protocol, placeholder1, placeholder2 };
            Self::do_serve_axon(hotkey, netuid, axon)
        }

        /// Registers `hotkey` in `netuid`, burning the current price from the caller.
        ///
        /// Origin: the coldkey that owns (or will own) the hotkey. Errors:
        /// `SubNetworkDoesNotExist`, `NonAssociatedColdKey`, `HotKeyAlreadyRegisteredInSubNet`,
        /// `NotEnoughBalanceToStake`, `NoNeuronIdAvailable`. Event: `NeuronRegistered`.
        #[pallet::call_index(7)]
        #[pallet::weight(T::WeightInfo::burned_register())]
        pub fn burned_register(origin: OriginFor<T>, netuid: NetUid, hotkey: T::AccountId) -> DispatchResult {
            let coldkey = ensure_signed(origin)?;
            Self::do_burned_register(coldkey, netuid, hotkey)
        }

        /// Creates a subnet owned by the caller, burning `NetworkMinLockCost`; `hotkey` gets uid 0.
        ///
        /// Origin: a coldkey. Errors: `NonAssociatedColdKey`, `SubnetLimitReached`,
        /// `NotEnoughBalanceToStake`. Events: `NetworkAdded`, `NeuronRegistered`.
        #[pallet::call_index(59)]
        #[pallet::weight(T::WeightInfo::register_network())]
        pub fn register_network(origin: OriginFor<T>, hotkey: T::AccountId) -> DispatchResult {
            let coldkey = ensure_signed(origin)?;
            Self::do_register_network(coldkey, hotkey)
        }
    }

    impl<T: Config> Pallet<T> {
        /// The account holding every staked token.
        pub fn stake_account() -> T::AccountId {
            T::PalletId::get().into_account_truncating()
        }
    }
}
