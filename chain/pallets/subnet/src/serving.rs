//! Axons: where a neuron can be reached.

use crate::{pallet::*, AxonInfo, NetUid};
use polkadot_sdk::{frame_support::ensure, sp_runtime::DispatchResult};

impl<T: Config> Pallet<T> {
    pub(crate) fn do_serve_axon(hotkey: T::AccountId, netuid: NetUid, mut axon: AxonInfo) -> DispatchResult {
        ensure!(NetworksAdded::<T>::get(netuid), Error::<T>::SubNetworkDoesNotExist);
        ensure!(Uids::<T>::contains_key(netuid, &hotkey), Error::<T>::HotKeyNotRegisteredInSubNet);
        ensure!(matches!(axon.ip_type, 4 | 6), Error::<T>::InvalidIpType);
        ensure!(
            is_valid_ip(axon.ip_type, axon.ip, AllowLoopbackAxons::<T>::get(netuid)),
            Error::<T>::InvalidIpAddress
        );
        ensure!(axon.port != 0, Error::<T>::InvalidPort);
        let now = Self::now();
        if let Some(previous) = Axons::<T>::get(netuid, &hotkey) {
            ensure!(
                now.saturating_sub(previous.block) >= ServingRateLimit::<T>::get(netuid),
                Error::<T>::ServingRateLimitExceeded
            );
        }
        axon.block = now;
        Axons::<T>::insert(netuid, &hotkey, axon);
        Self::deposit_event(Event::AxonServed { netuid, hotkey });
        Ok(())
    }
}

/// Rejects unspecified and broadcast addresses, and loopback unless the subnet allows it.
pub fn is_valid_ip(ip_type: u8, ip: u128, allow_loopback: bool) -> bool {
    match ip_type {
        4 => {
            let loopback = ip >> 24 == 127;
            ip != 0 && ip < u32::MAX as u128 && (allow_loopback || !loopback)
        }
        6 => {
            let loopback = ip == 1;
            ip != 0 && ip != u128::MAX && (allow_loopback || !loopback)
        }
        _ => false,
    }
}
