//! Creating subnets, registering hotkeys, the registration price and pruning.

use crate::{pallet::*, NetUid};
use alloc::vec::Vec;
use polkadot_sdk::{
    frame_support::{
        ensure,
        traits::{
            fungible::Mutate,
            tokens::{Fortitude, Precision, Preservation},
            Get,
        },
    },
    frame_system,
    sp_runtime::{traits::SaturatedConversion, DispatchResult},
};

/// After each registration the price is multiplied by 1.26 (as in subtensor).
const BURN_RISE_NUM: u128 = 126;
const BURN_RISE_DEN: u128 = 100;

impl<T: Config> Pallet<T> {
    /// The current block number as subtensor's u64.
    pub fn now() -> u64 {
        frame_system::Pallet::<T>::block_number().saturated_into()
    }

    /// Records `coldkey` as the hotkey's owner, or checks that it already is.
    fn bind_hotkey(coldkey: &T::AccountId, hotkey: &T::AccountId) -> DispatchResult {
        match Owner::<T>::get(hotkey) {
            Some(owner) => ensure!(&owner == coldkey, Error::<T>::NonAssociatedColdKey),
            None => Owner::<T>::insert(hotkey, coldkey),
        }
        Ok(())
    }

    /// Burns `amount` from `who`, who must stay alive.
    fn burn(who: &T::AccountId, amount: u64) -> DispatchResult {
        if amount > 0 {
            T::Currency::burn_from(who, amount, Preservation::Preserve, Precision::Exact, Fortitude::Polite)
                .map_err(|_| Error::<T>::NotEnoughBalanceToStake)?;
        }
        Ok(())
    }

    pub(crate) fn do_register_network(coldkey: T::AccountId, hotkey: T::AccountId) -> DispatchResult {
        let count = TotalNetworks::<T>::get();
        ensure!(count < T::MaxSubnets::get(), Error::<T>::SubnetLimitReached);
        // Subnets are never removed, so netuids are 1..=count.
        let netuid = count.checked_add(1).ok_or(Error::<T>::SubnetLimitReached)?;
        Self::bind_hotkey(&coldkey, &hotkey)?;
        let locked = NetworkMinLockCost::<T>::get();
        Self::burn(&coldkey, locked)?;

        let now = Self::now();
        NetworksAdded::<T>::insert(netuid, true);
        TotalNetworks::<T>::put(netuid);
        SubnetOwner::<T>::insert(netuid, &coldkey);
        SubnetOwnerHotkey::<T>::insert(netuid, &hotkey);
        NetworkRegisteredAt::<T>::insert(netuid, now);
        SubnetLocked::<T>::insert(netuid, locked);
        LastMechansimStepBlock::<T>::insert(netuid, now);
        let uid = Self::append_neuron(netuid, &hotkey, now);
        Self::deposit_event(Event::NetworkAdded { netuid, owner: coldkey, hotkey: hotkey.clone(), locked });
        Self::deposit_event(Event::NeuronRegistered { netuid, uid, hotkey, burned: 0, pruned: None });
        Ok(())
    }

    pub(crate) fn do_burned_register(
        coldkey: T::AccountId,
        netuid: NetUid,
        hotkey: T::AccountId,
    ) -> DispatchResult {
        ensure!(NetworksAdded::<T>::get(netuid), Error::<T>::SubNetworkDoesNotExist);
        ensure!(!Uids::<T>::contains_key(netuid, &hotkey), Error::<T>::HotKeyAlreadyRegisteredInSubNet);
        Self::bind_hotkey(&coldkey, &hotkey)?;
        let price = Burn::<T>::get(netuid);
        Self::burn(&coldkey, price)?;

        let now = Self::now();
        let (uid, pruned) = if SubnetworkN::<T>::get(netuid) < MaxAllowedUids::<T>::get(netuid) {
            (Self::append_neuron(netuid, &hotkey, now), None)
        } else {
            let uid = Self::uid_to_prune(netuid, now).ok_or(Error::<T>::NoNeuronIdAvailable)?;
            (uid, Self::replace_neuron(netuid, uid, &hotkey, now))
        };
        let risen = (price as u128 * BURN_RISE_NUM / BURN_RISE_DEN).min(u64::MAX as u128) as u64;
        Burn::<T>::insert(netuid, risen.min(MaxBurn::<T>::get(netuid)).max(MinBurn::<T>::get(netuid)));
        Self::deposit_event(Event::NeuronRegistered { netuid, uid, hotkey, burned: price, pruned });
        Ok(())
    }

    /// One block of price decay, never below `MinBurn`.
    pub(crate) fn decay_burn(netuid: NetUid) {
        let min = MinBurn::<T>::get(netuid);
        Burn::<T>::mutate(netuid, |burn| *burn = (T::BurnDecay::get() * *burn).max(min));
    }

    /// The non-immune uid with the lowest emission (ties: earliest registration, then lowest
    /// uid). The owner's hotkey is never pruned.
    pub fn uid_to_prune(netuid: NetUid, now: u64) -> Option<u16> {
        let emission = Emission::<T>::get(netuid);
        let owner = SubnetOwnerHotkey::<T>::get(netuid);
        let immunity = ImmunityPeriod::<T>::get(netuid) as u64;
        (0..SubnetworkN::<T>::get(netuid))
            .filter(|&uid| owner.is_none() || Keys::<T>::get(netuid, uid) != owner)
            .map(|uid| (uid, BlockAtRegistration::<T>::get(netuid, uid)))
            .filter(|&(_, registered)| now.saturating_sub(registered) >= immunity)
            .min_by_key(|&(uid, registered)| {
                (emission.get(uid as usize).copied().unwrap_or(0), registered, uid)
            })
            .map(|(uid, _)| uid)
    }

    /// Gives `hotkey` the next uid.
    fn append_neuron(netuid: NetUid, hotkey: &T::AccountId, now: u64) -> u16 {
        let uid = SubnetworkN::<T>::get(netuid);
        SubnetworkN::<T>::insert(netuid, uid + 1);
        Self::install_neuron(netuid, uid, hotkey, now);
        uid
    }

    /// Gives `uid` to `hotkey`, returning the hotkey it replaces.
    fn replace_neuron(netuid: NetUid, uid: u16, hotkey: &T::AccountId, now: u64) -> Option<T::AccountId> {
        let old = Keys::<T>::get(netuid, uid);
        if let Some(old) = &old {
            Uids::<T>::remove(netuid, old);
            Axons::<T>::remove(netuid, old);
        }
        Self::install_neuron(netuid, uid, hotkey, now);
        old
    }

    /// Writes a fresh neuron at `uid`; its stake (if any) stays on the hotkey.
    fn install_neuron(netuid: NetUid, uid: u16, hotkey: &T::AccountId, now: u64) {
        Keys::<T>::insert(netuid, uid, hotkey);
        Uids::<T>::insert(netuid, hotkey, uid);
        BlockAtRegistration::<T>::insert(netuid, uid, now);
        Weights::<T>::remove(netuid, uid);
        Bonds::<T>::remove(netuid, uid);
        let i = uid as usize;
        LastUpdate::<T>::mutate(netuid, |v| set_at(v, i, now));
        Active::<T>::mutate(netuid, |v| set_at(v, i, true));
        ValidatorPermit::<T>::mutate(netuid, |v| set_at(v, i, false));
        Emission::<T>::mutate(netuid, |v| set_at(v, i, 0));
        Consensus::<T>::mutate(netuid, |v| set_at(v, i, 0));
        Incentive::<T>::mutate(netuid, |v| set_at(v, i, 0));
        Dividends::<T>::mutate(netuid, |v| set_at(v, i, 0));
        ValidatorTrust::<T>::mutate(netuid, |v| set_at(v, i, 0));
    }
}

/// `v[i] = value`, growing `v` with defaults if it is short.
pub(crate) fn set_at<V: Clone + Default>(v: &mut Vec<V>, i: usize, value: V) {
    if v.len() <= i {
        v.resize(i + 1, V::default());
    }
    v[i] = value;
}
