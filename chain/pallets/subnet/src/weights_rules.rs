//! `set_weights` and subtensor's rules for it.

use crate::{fixed, pallet::*, registration::set_at, NetUid};
use alloc::vec::Vec;
use polkadot_sdk::{frame_support::ensure, sp_runtime::DispatchResult};

impl<T: Config> Pallet<T> {
    pub(crate) fn do_set_weights(
        hotkey: T::AccountId,
        netuid: NetUid,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    ) -> DispatchResult {
        ensure!(NetworksAdded::<T>::get(netuid), Error::<T>::SubNetworkDoesNotExist);
        ensure!(dests.len() == weights.len(), Error::<T>::WeightVecNotEqualSize);
        let uid = Uids::<T>::get(netuid, &hotkey).ok_or(Error::<T>::HotKeyNotRegisteredInSubNet)?;
        let required = WeightsVersionKey::<T>::get(netuid);
        ensure!(required == 0 || version_key >= required, Error::<T>::IncorrectWeightVersionKey);
        ensure!(
            TotalHotkeyAlpha::<T>::get(&hotkey, netuid) >= StakeThreshold::<T>::get(),
            Error::<T>::NotEnoughStakeToSetWeights
        );
        let self_weight_only = dests.len() == 1 && dests[0] == uid;
        if !self_weight_only {
            let permitted = ValidatorPermit::<T>::get(netuid).get(uid as usize).copied().unwrap_or(false);
            ensure!(permitted, Error::<T>::NeuronNoValidatorPermit);
        }
        let now = Self::now();
        let mut last_update = LastUpdate::<T>::get(netuid);
        let last = last_update.get(uid as usize).copied().unwrap_or(0);
        ensure!(
            now.saturating_sub(last) >= WeightsSetRateLimit::<T>::get(netuid),
            Error::<T>::SettingWeightsTooFast
        );
        let n = SubnetworkN::<T>::get(netuid);
        ensure!(dests.len() <= n as usize, Error::<T>::UidsLengthExceedUidsInSubNet);
        let mut sorted = dests.clone();
        sorted.sort_unstable();
        ensure!(sorted.windows(2).all(|w| w[0] != w[1]), Error::<T>::DuplicateUids);
        ensure!(sorted.last().is_none_or(|&max| max < n), Error::<T>::UidVecContainInvalidOne);

        let mut row: Vec<(u16, u16)> =
            dests.into_iter().zip(fixed::max_upscale_u16(&weights)).filter(|&(_, w)| w > 0).collect();
        row.sort_unstable_by_key(|e| e.0);
        Weights::<T>::insert(netuid, uid, row);
        set_at(&mut last_update, uid as usize, now);
        LastUpdate::<T>::insert(netuid, last_update);
        Self::deposit_event(Event::WeightsSet { netuid, uid });
        Ok(())
    }
}
