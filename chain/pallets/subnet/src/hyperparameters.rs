//! Hyperparameters: one typed setter with range checks, called by the `AdminUtils` pallet.

use crate::{pallet::*, NetUid};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
    frame_support::{ensure, traits::Get},
    sp_runtime::DispatchResult,
};
use scale_info::TypeInfo;

/// Largest `BondsMovingAverage` (alpha >= 0.025), as subtensor allows owners.
pub const MAX_BONDS_MOVING_AVERAGE: u64 = 975_000;

/// A hyperparameter and its new value. Names follow subtensor's `sudo_set_*` calls.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub enum Hyperparameter {
    Tempo(u16),
    MaxAllowedUids(u16),
    MaxAllowedValidators(u16),
    ImmunityPeriod(u16),
    WeightsSetRateLimit(u64),
    WeightsVersionKey(u64),
    MinBurn(u64),
    MaxBurn(u64),
    ActivityCutoff(u16),
    Kappa(u16),
    BondsMovingAverage(u64),
    ServingRateLimit(u64),
    AllowLoopbackAxons(bool),
    /// Chain-wide.
    StakeThreshold(u64),
    /// Chain-wide.
    NetworkMinLockCost(u64),
}

impl Hyperparameter {
    /// Chain-wide parameters take no netuid.
    pub fn is_global(&self) -> bool {
        matches!(self, Self::StakeThreshold(_) | Self::NetworkMinLockCost(_))
    }

    /// Whether a subnet's owner may set it, not only root (as in subtensor's AdminUtils).
    pub fn owner_may_set(&self) -> bool {
        !self.is_global()
            && !matches!(self, Self::Tempo(_) | Self::MaxAllowedValidators(_) | Self::AllowLoopbackAxons(_))
    }
}

impl<T: Config> Pallet<T> {
    /// Checks `value`'s range and stores it. Origin checks are the caller's job.
    pub fn set_hyperparameter(netuid: Option<NetUid>, value: Hyperparameter) -> DispatchResult {
        use Hyperparameter as H;
        let invalid = Error::<T>::InvalidHyperparameter;
        let Some(netuid) = netuid else {
            match value {
                H::StakeThreshold(v) => StakeThreshold::<T>::put(v),
                H::NetworkMinLockCost(v) => NetworkMinLockCost::<T>::put(v),
                _ => return Err(invalid.into()),
            }
            Self::deposit_event(Event::HyperparameterSet { netuid: None, value });
            return Ok(());
        };
        ensure!(!value.is_global(), invalid);
        ensure!(NetworksAdded::<T>::get(netuid), Error::<T>::SubNetworkDoesNotExist);
        match value {
            H::Tempo(v) => {
                ensure!(v > 0, invalid);
                Tempo::<T>::insert(netuid, v)
            }
            H::MaxAllowedUids(v) => {
                ensure!(v > 0 && v <= T::MaxUidsLimit::get(), invalid);
                ensure!(v >= SubnetworkN::<T>::get(netuid), invalid);
                MaxAllowedUids::<T>::insert(netuid, v)
            }
            H::MaxAllowedValidators(v) => {
                // More permits than uids is harmless: every staked uid gets one.
                ensure!(v <= T::MaxUidsLimit::get(), invalid);
                MaxAllowedValidators::<T>::insert(netuid, v)
            }
            H::ImmunityPeriod(v) => ImmunityPeriod::<T>::insert(netuid, v),
            H::WeightsSetRateLimit(v) => WeightsSetRateLimit::<T>::insert(netuid, v),
            H::WeightsVersionKey(v) => WeightsVersionKey::<T>::insert(netuid, v),
            H::MinBurn(v) => {
                ensure!(v <= MaxBurn::<T>::get(netuid), invalid);
                MinBurn::<T>::insert(netuid, v);
                Burn::<T>::mutate(netuid, |b| *b = (*b).max(v));
            }
            H::MaxBurn(v) => {
                ensure!(v >= MinBurn::<T>::get(netuid), invalid);
                MaxBurn::<T>::insert(netuid, v);
                Burn::<T>::mutate(netuid, |b| *b = (*b).min(v));
            }
            H::ActivityCutoff(v) => ActivityCutoff::<T>::insert(netuid, v),
            H::Kappa(v) => Kappa::<T>::insert(netuid, v),
            H::BondsMovingAverage(v) => {
                // Subtensor's cap: at 1_000_000 bonds would never form and dividends stop.
                ensure!(v <= MAX_BONDS_MOVING_AVERAGE, invalid);
                BondsMovingAverage::<T>::insert(netuid, v)
            }
            H::ServingRateLimit(v) => ServingRateLimit::<T>::insert(netuid, v),
            H::AllowLoopbackAxons(v) => AllowLoopbackAxons::<T>::insert(netuid, v),
            H::StakeThreshold(_) | H::NetworkMinLockCost(_) => return Err(invalid.into()),
        }
        Self::deposit_event(Event::HyperparameterSet { netuid: Some(netuid), value });
        Ok(())
    }
}
