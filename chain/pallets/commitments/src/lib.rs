//! # Commitments (`Commitments`)
//!
//! A registered hotkey publishes a small record per subnet, in subtensor's `CommitmentInfo`
//! encoding. Miners commit `(window, blake2_256(payload))` here before anyone can see the others'
//! payloads. Each account has a per-epoch byte budget (`MaxSpace`), as in subtensor.

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod data;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use data::{Data, MAX_BIG, MAX_BIGRAW, MAX_RAW};
pub use pallet::*;
pub use weights::WeightInfo;

use codec::{Decode, DecodeWithMemTracking, Encode};
use polkadot_sdk::{frame_support, frame_system, sp_runtime};
use scale_info::TypeInfo;

/// Who may commit in a subnet (the runtime answers: its registered hotkeys).
pub trait CanCommit<AccountId> {
    /// Whether `who` may commit in `netuid` now.
    fn can_commit(netuid: u16, who: &AccountId) -> bool;

    /// Benchmarks: makes `who` able to commit in some subnet, and returns its netuid.
    #[cfg(feature = "runtime-benchmarks")]
    fn make_committer(who: &AccountId) -> u16;
}

/// What a `set_commitment` costs of the budget at least, however small (or empty) the
/// commitment: as in subtensor, so that free calls cannot fill the chain.
pub const MIN_USED_SPACE: u64 = 100;

/// The epoch a block belongs to, for the space budget.
pub trait GetEpochIndex {
    /// The index of the epoch of `netuid` that `block` falls in.
    fn epoch_index(netuid: u16, block: u64) -> u64;
}

/// The fields of a commitment.
#[derive(
    frame_support::CloneNoBound,
    frame_support::DebugNoBound,
    frame_support::PartialEqNoBound,
    frame_support::EqNoBound,
    Encode,
    Decode,
    DecodeWithMemTracking,
    TypeInfo,
)]
#[scale_info(skip_type_params(MaxFields))]
pub struct CommitmentInfo<MaxFields: frame_support::traits::Get<u32>> {
    /// The committed fields, in order.
    pub fields: sp_runtime::BoundedVec<Data, MaxFields>,
}

/// A stored commitment: subtensor's `Registration` (we take no deposit, so it is always 0).
#[derive(
    frame_support::CloneNoBound,
    frame_support::DebugNoBound,
    frame_support::PartialEqNoBound,
    frame_support::EqNoBound,
    Encode,
    Decode,
    TypeInfo,
)]
#[scale_info(skip_type_params(MaxFields))]
pub struct Registration<
    BlockNumber: Clone + core::fmt::Debug + PartialEq + Eq,
    MaxFields: frame_support::traits::Get<u32>,
> {
    /// Always 0: this chain takes no deposit (kept for subtensor's encoding).
    pub deposit: u64,
    /// The block the commitment was made in.
    pub block: BlockNumber,
    /// What was committed.
    pub info: CommitmentInfo<MaxFields>,
}

/// Bytes used in an epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct UsageTracker {
    /// The epoch `used_space` counts for; an older one means nothing is used yet.
    pub last_epoch: u64,
    /// Budget bytes used in `last_epoch`.
    pub used_space: u64,
}

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use alloc::boxed::Box;
    use frame_support::pallet_prelude::*;
    use frame_system::pallet_prelude::*;
    use sp_runtime::traits::SaturatedConversion;

    /// The commitments pallet.
    #[pallet::pallet]
    #[pallet::without_storage_info]
    pub struct Pallet<T>(_);

    /// The pallet's configuration.
    #[pallet::config]
    pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// Most fields in one commitment.
        #[pallet::constant]
        type MaxFields: Get<u32> + 'static;
        /// Who may commit where (the runtime: hotkeys registered in the subnet).
        type CanCommit: CanCommit<Self::AccountId>;
        /// The epoch a block is in, which resets the space budget.
        type EpochIndex: GetEpochIndex;
        /// Weights of the calls, from the benchmarks.
        type WeightInfo: WeightInfo;
    }

    /// Default byte budget per account and epoch (subtensor's).
    #[pallet::type_value]
    pub fn DefaultMaxSpace() -> u32 {
        3100
    }

    /// The latest commitment of an account in a subnet.
    #[pallet::storage]
    pub type CommitmentOf<T: Config> = StorageDoubleMap<
        _,
        Identity,
        u16,
        Twox64Concat,
        T::AccountId,
        Registration<BlockNumberFor<T>, T::MaxFields>,
    >;
    /// Block of an account's latest commitment in a subnet.
    #[pallet::storage]
    pub type LastCommitment<T: Config> =
        StorageDoubleMap<_, Identity, u16, Twox64Concat, T::AccountId, BlockNumberFor<T>>;
    /// Bytes an account committed in the current epoch.
    #[pallet::storage]
    pub type UsedSpaceOf<T: Config> =
        StorageDoubleMap<_, Identity, u16, Twox64Concat, T::AccountId, UsageTracker>;
    /// Byte budget per account and epoch.
    #[pallet::storage]
    pub type MaxSpace<T> = StorageValue<_, u32, ValueQuery, DefaultMaxSpace>;

    /// Events of the commitments pallet.
    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `who` committed in `netuid`.
        Commitment {
            /// The subnet.
            netuid: u16,
            /// The committing hotkey.
            who: T::AccountId,
        },
    }

    /// Errors of the commitments pallet.
    #[pallet::error]
    pub enum Error<T> {
        /// Only hotkeys registered in the subnet may commit.
        AccountNotAllowedCommit,
        /// The commitment would exceed the account's budget for this epoch.
        SpaceLimitExceeded,
        /// Timelocked fields need a drand beacon, which this chain does not have.
        UnsupportedField,
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Stores `info` as the caller's commitment in `netuid`, replacing the previous one.
        ///
        /// Origin: a hotkey registered in `netuid`. Errors: `AccountNotAllowedCommit`,
        /// `UnsupportedField`, `SpaceLimitExceeded`. Event: `Commitment`.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::set_commitment())]
        pub fn set_commitment(
            origin: OriginFor<T>,
            netuid: u16,
            info: Box<CommitmentInfo<T::MaxFields>>,
        ) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(T::CanCommit::can_commit(netuid, &who), Error::<T>::AccountNotAllowedCommit);
            ensure!(
                !info.fields.iter().any(|f| matches!(f, Data::TimelockEncrypted { .. })),
                Error::<T>::UnsupportedField
            );
            let now = frame_system::Pallet::<T>::block_number();
            let epoch = T::EpochIndex::epoch_index(netuid, now.saturated_into());
            let required: u64 = info.fields.iter().map(Data::len_for_budget).sum::<u64>().max(MIN_USED_SPACE);
            let mut usage = UsedSpaceOf::<T>::get(netuid, &who).unwrap_or_default();
            if usage.last_epoch != epoch {
                usage = UsageTracker { last_epoch: epoch, used_space: 0 };
            }
            let used = usage.used_space.saturating_add(required);
            ensure!(used <= MaxSpace::<T>::get() as u64, Error::<T>::SpaceLimitExceeded);
            usage.used_space = used;
            UsedSpaceOf::<T>::insert(netuid, &who, usage);
            CommitmentOf::<T>::insert(netuid, &who, Registration { deposit: 0, block: now, info: *info });
            LastCommitment::<T>::insert(netuid, &who, now);
            Self::deposit_event(Event::Commitment { netuid, who });
            Ok(())
        }

        /// Sets the per-epoch byte budget. Origin: root.
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::set_max_space())]
        pub fn set_max_space(origin: OriginFor<T>, new_limit: u32) -> DispatchResult {
            ensure_root(origin)?;
            MaxSpace::<T>::put(new_limit);
            Ok(())
        }
    }
}
