//! # Admin utils (`AdminUtils`)
//!
//! Subtensor's `sudo_set_*` calls, with its names and call indices, over the subnet pallet's
//! typed hyperparameter setter. Root may set everything; a subnet's owner may set the
//! parameters subtensor lets owners set (all but tempo, validator count, kappa, the weights rate
//! limit, the dev-mode loopback switch and chain-wide values). Every value has a range that
//! holds for root too (see `pallet_subnet::Hyperparameter`).

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use pallet::*;
pub use weights::WeightInfo;

use pallet_subnet::{Hyperparameter, NetUid};
use polkadot_sdk::{frame_support, frame_system, sp_runtime};

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::pallet_prelude::*;
    use frame_system::pallet_prelude::*;
    use sp_runtime::traits::BadOrigin;

    /// The admin-utils pallet.
    #[pallet::pallet]
    pub struct Pallet<T>(_);

    /// The pallet's configuration.
    #[pallet::config]
    pub trait Config: polkadot_sdk::frame_system::Config + pallet_subnet::Config {
        /// Weights of the calls, from the benchmarks.
        type WeightInfo: WeightInfo;
    }

    /// Every call: origin root, or the subnet's owner coldkey where noted. Errors: `BadOrigin`,
    /// and the subnet pallet's `SubNetworkDoesNotExist` / `InvalidHyperparameter`. Event:
    /// `SubtensorModule::HyperparameterSet`.
    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Owner or root; at most `MAX_SERVING_RATE_LIMIT` (7200) blocks.
        #[pallet::call_index(3)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_serving_rate_limit(
            origin: OriginFor<T>,
            netuid: NetUid,
            serving_rate_limit: u64,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::ServingRateLimit(serving_rate_limit))
        }

        /// Owner or root.
        #[pallet::call_index(6)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_weights_version_key(
            origin: OriginFor<T>,
            netuid: NetUid,
            weights_version_key: u64,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::WeightsVersionKey(weights_version_key))
        }

        /// Root only (as in subtensor); at most the subnet's `ActivityCutoff`, so that the limit
        /// never makes a validator inactive.
        #[pallet::call_index(7)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_weights_set_rate_limit(
            origin: OriginFor<T>,
            netuid: NetUid,
            weights_set_rate_limit: u64,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::WeightsSetRateLimit(weights_set_rate_limit))
        }

        /// Owner or root; from the subnet's tempo (a newcomer sees an epoch before it can be
        /// pruned) to `MAX_IMMUNITY_PERIOD` (7200; a full subnet always has someone to prune).
        #[pallet::call_index(13)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_immunity_period(
            origin: OriginFor<T>,
            netuid: NetUid,
            immunity_period: u16,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::ImmunityPeriod(immunity_period))
        }

        /// Owner or root; not below the uids in use nor above the runtime's limit.
        #[pallet::call_index(15)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_max_allowed_uids(
            origin: OriginFor<T>,
            netuid: NetUid,
            max_allowed_uids: u16,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::MaxAllowedUids(max_allowed_uids))
        }

        /// Root only (as in subtensor): the share of stake that decides consensus.
        #[pallet::call_index(16)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_kappa(origin: OriginFor<T>, netuid: NetUid, kappa: u16) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::Kappa(kappa))
        }

        /// Owner or root; at least the subnet's tempo and its weights rate limit, so that a
        /// validator setting weights once an epoch stays active.
        #[pallet::call_index(18)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_activity_cutoff(
            origin: OriginFor<T>,
            netuid: NetUid,
            activity_cutoff: u16,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::ActivityCutoff(activity_cutoff))
        }

        /// Owner or root; from `MIN_BURN_FLOOR` (0.0001 TAO: registration is never free) to
        /// `MIN_BURN_CEILING` (1 TAO: nobody is priced out), and at most `MaxBurn`.
        #[pallet::call_index(22)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_min_burn(origin: OriginFor<T>, netuid: NetUid, min_burn: u64) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::MinBurn(min_burn))
        }

        /// Owner or root; at least `MAX_BURN_FLOOR` (0.1 TAO: the price can rise with demand)
        /// and at least `MinBurn`.
        #[pallet::call_index(23)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_max_burn(origin: OriginFor<T>, netuid: NetUid, max_burn: u64) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::MaxBurn(max_burn))
        }

        /// Root only; at most the runtime's uid limit.
        #[pallet::call_index(25)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_max_allowed_validators(
            origin: OriginFor<T>,
            netuid: NetUid,
            max_allowed_validators: u16,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::MaxAllowedValidators(max_allowed_validators))
        }

        /// Owner or root; at most `MAX_BONDS_MOVING_AVERAGE` (975_000).
        #[pallet::call_index(26)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_bonds_moving_average(
            origin: OriginFor<T>,
            netuid: NetUid,
            bonds_moving_average: u64,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::BondsMovingAverage(bonds_moving_average))
        }

        /// Root only; positive, and at most the subnet's `ActivityCutoff` and `ImmunityPeriod`.
        #[pallet::call_index(30)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_tempo(origin: OriginFor<T>, netuid: NetUid, tempo: u16) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::Tempo(tempo))
        }

        /// Root only: the burn of `register_network`.
        #[pallet::call_index(36)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_network_min_lock_cost(origin: OriginFor<T>, lock_cost: u64) -> DispatchResult {
            Self::set(origin, None, Hyperparameter::NetworkMinLockCost(lock_cost))
        }

        /// Root only: stake below this counts as zero in consensus.
        #[pallet::call_index(42)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_stake_threshold(origin: OriginFor<T>, min_stake: u64) -> DispatchResult {
            Self::set(origin, None, Hyperparameter::StakeThreshold(min_stake))
        }

        /// Root only. Not in subtensor: lets a dev subnet accept loopback axons.
        #[pallet::call_index(200)]
        #[pallet::weight(<T as Config>::WeightInfo::sudo_set())]
        pub fn sudo_set_allow_loopback_axons(
            origin: OriginFor<T>,
            netuid: NetUid,
            allowed: bool,
        ) -> DispatchResult {
            Self::set(origin, Some(netuid), Hyperparameter::AllowLoopbackAxons(allowed))
        }
    }

    impl<T: Config> Pallet<T> {
        fn set(origin: OriginFor<T>, netuid: Option<NetUid>, value: Hyperparameter) -> DispatchResult {
            match (ensure_root(origin.clone()), netuid) {
                (Ok(()), _) => {}
                (Err(_), Some(netuid)) if value.owner_may_set() => {
                    let who = ensure_signed(origin)?;
                    let owner = pallet_subnet::SubnetOwner::<T>::get(netuid);
                    ensure!(owner.as_ref() == Some(&who), BadOrigin);
                }
                (Err(e), _) => return Err(e.into()),
            }
            pallet_subnet::Pallet::<T>::set_hyperparameter(netuid, value)
        }
    }
}
