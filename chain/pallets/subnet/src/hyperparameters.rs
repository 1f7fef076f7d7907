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
/// Lowest `MinBurn`: registration is never free (a price of 0 would also stay 0, since the
/// price rises by a factor per registration), so evicting neurons always costs something.
pub const MIN_BURN_FLOOR: u64 = 100_000;
/// Highest `MinBurn` (subtensor's `MinBurnUpperBound`, 1 TAO): an owner cannot price newcomers out.
pub const MIN_BURN_CEILING: u64 = 1_000_000_000;
/// Lowest `MaxBurn` (subtensor's `MaxBurnLowerBound`, 0.1 TAO): the price can rise under demand.
pub const MAX_BURN_FLOOR: u64 = 100_000_000;
/// Highest `ImmunityPeriod`: with every uid immune a full subnet could take nobody new.
pub const MAX_IMMUNITY_PERIOD: u16 = 7_200;
/// Highest `ServingRateLimit`: an axon can always be moved within this many blocks.
pub const MAX_SERVING_RATE_LIMIT: u64 = 7_200;

/// A hyperparameter and its new value. Names follow subtensor's `sudo_set_*` calls.
///
/// Ranges hold for every origin, root included, and keep these relations between a subnet's
/// values, so that no setting stops the subnet from working:
/// - `Tempo <= ActivityCutoff`: a validator that sets weights once an epoch stays active;
/// - `Tempo <= ImmunityPeriod <= MAX_IMMUNITY_PERIOD`: a newcomer sees an epoch before it can be
///   pruned, and a full subnet always has someone to prune;
/// - `WeightsSetRateLimit <= ActivityCutoff`: the rate limit never makes a validator inactive;
/// - `MIN_BURN_FLOOR <= MinBurn <= MIN_BURN_CEILING`, `MAX_BURN_FLOOR <= MaxBurn`, `MinBurn <= MaxBurn`;
/// - `ServingRateLimit <= MAX_SERVING_RATE_LIMIT`, `BondsMovingAverage <= MAX_BONDS_MOVING_AVERAGE`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub enum Hyperparameter {
    /// Blocks between epochs; root only.
    Tempo(u16),
    /// Most uids in the subnet; root only.
    MaxAllowedUids(u16),
    /// Most validator permits; root only.
    MaxAllowedValidators(u16),
    /// Blocks a newcomer cannot be pruned for.
    ImmunityPeriod(u16),
    /// Fewest blocks between two weight updates of a validator; root only.
    WeightsSetRateLimit(u64),
    /// The version key `set_weights` must carry.
    WeightsVersionKey(u64),
    /// Lowest registration burn, in RAO.
    MinBurn(u64),
    /// Highest registration burn, in RAO.
    MaxBurn(u64),
    /// Blocks since its last weight update after which a validator is inactive.
    ActivityCutoff(u16),
    /// Consensus quantile as a u16 proportion; root only.
    Kappa(u16),
    /// Bond EMA memory in millionths.
    BondsMovingAverage(u64),
    /// Fewest blocks between two `serve_axon` calls of a hotkey.
    ServingRateLimit(u64),
    /// Whether axons may announce loopback addresses (dev chains); root only.
    AllowLoopbackAxons(bool),
    /// Chain-wide: least stake for a validator permit, in RAO.
    StakeThreshold(u64),
    /// Chain-wide: least lock cost of a new subnet, in RAO.
    NetworkMinLockCost(u64),
}

impl Hyperparameter {
    /// Chain-wide parameters take no netuid.
    pub fn is_global(&self) -> bool {
        matches!(self, Self::StakeThreshold(_) | Self::NetworkMinLockCost(_))
    }

    /// Whether a subnet's owner may set it, not only root (as in subtensor's AdminUtils: kappa
    /// and the weights rate limit decide how consensus treats validators, so only root sets them).
    pub fn owner_may_set(&self) -> bool {
        !self.is_global()
            && !matches!(
                self,
                Self::Tempo(_)
                    | Self::MaxAllowedValidators(_)
                    | Self::AllowLoopbackAxons(_)
                    | Self::Kappa(_)
                    | Self::WeightsSetRateLimit(_)
            )
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
                ensure!(v <= ActivityCutoff::<T>::get(netuid), invalid);
                ensure!(v <= ImmunityPeriod::<T>::get(netuid), invalid);
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
            H::ImmunityPeriod(v) => {
                ensure!(v >= Tempo::<T>::get(netuid) && v <= MAX_IMMUNITY_PERIOD, invalid);
                ImmunityPeriod::<T>::insert(netuid, v)
            }
            H::WeightsSetRateLimit(v) => {
                ensure!(v <= ActivityCutoff::<T>::get(netuid) as u64, invalid);
                WeightsSetRateLimit::<T>::insert(netuid, v)
            }
            H::WeightsVersionKey(v) => WeightsVersionKey::<T>::insert(netuid, v),
            H::MinBurn(v) => {
                ensure!((MIN_BURN_FLOOR..=MIN_BURN_CEILING).contains(&v), invalid);
                ensure!(v <= MaxBurn::<T>::get(netuid), invalid);
                MinBurn::<T>::insert(netuid, v);
                Burn::<T>::mutate(netuid, |b| *b = (*b).max(v));
            }
            H::MaxBurn(v) => {
                ensure!(v >= MAX_BURN_FLOOR && v >= MinBurn::<T>::get(netuid), invalid);
                MaxBurn::<T>::insert(netuid, v);
                Burn::<T>::mutate(netuid, |b| *b = (*b).min(v));
            }
            H::ActivityCutoff(v) => {
                ensure!(v >= Tempo::<T>::get(netuid), invalid);
                ensure!(v as u64 >= WeightsSetRateLimit::<T>::get(netuid), invalid);
                ActivityCutoff::<T>::insert(netuid, v)
            }
            H::Kappa(v) => Kappa::<T>::insert(netuid, v),
            H::BondsMovingAverage(v) => {
                // Subtensor's cap: at 1_000_000 bonds would never form and dividends stop.
                ensure!(v <= MAX_BONDS_MOVING_AVERAGE, invalid);
                BondsMovingAverage::<T>::insert(netuid, v)
            }
            H::ServingRateLimit(v) => {
                ensure!(v <= MAX_SERVING_RATE_LIMIT, invalid);
                ServingRateLimit::<T>::insert(netuid, v)
            }
            H::AllowLoopbackAxons(v) => AllowLoopbackAxons::<T>::insert(netuid, v),
            H::StakeThreshold(_) | H::NetworkMinLockCost(_) => return Err(invalid.into()),
        }
        Self::deposit_event(Event::HyperparameterSet { netuid: Some(netuid), value });
        Ok(())
    }
}
