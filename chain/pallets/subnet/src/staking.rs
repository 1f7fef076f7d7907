//! Stake: coldkey balance <-> stake on a hotkey, held in the pallet's account.

use crate::{pallet::*, NetUid};
use polkadot_sdk::{
    frame_support::{
        ensure,
        traits::{fungible::Mutate, tokens::Preservation},
    },
    sp_runtime::DispatchResult,
};

impl<T: Config> Pallet<T> {
    pub(crate) fn do_add_stake(
        coldkey: T::AccountId,
        hotkey: T::AccountId,
        netuid: NetUid,
        amount: u64,
    ) -> DispatchResult {
        ensure!(amount > 0, Error::<T>::AmountTooLow);
        ensure!(NetworksAdded::<T>::get(netuid), Error::<T>::SubNetworkDoesNotExist);
        ensure!(Owner::<T>::contains_key(&hotkey), Error::<T>::HotKeyAccountNotExists);
        T::Currency::transfer(&coldkey, &Self::stake_account(), amount, Preservation::Preserve)
            .map_err(|_| Error::<T>::NotEnoughBalanceToStake)?;
        Self::increase_stake(&hotkey, &coldkey, netuid, amount)?;
        Self::deposit_event(Event::StakeAdded { coldkey, hotkey, netuid, amount });
        Ok(())
    }

    pub(crate) fn do_remove_stake(
        coldkey: T::AccountId,
        hotkey: T::AccountId,
        netuid: NetUid,
        amount: u64,
    ) -> DispatchResult {
        ensure!(amount > 0, Error::<T>::AmountTooLow);
        let staked = StakeOf::<T>::get((&hotkey, &coldkey, netuid));
        ensure!(staked >= amount, Error::<T>::NotEnoughStakeToWithdraw);
        Self::decrease_stake(&hotkey, &coldkey, netuid, amount)?;
        // The stake account holds TotalStake plus its existential deposit, so this cannot fail
        // unless the books are broken; the call then reverts as a whole.
        T::Currency::transfer(&Self::stake_account(), &coldkey, amount, Preservation::Preserve)
            .map_err(|_| Error::<T>::Overflow)?;
        Self::deposit_event(Event::StakeRemoved { coldkey, hotkey, netuid, amount });
        Ok(())
    }

    /// Adds stake to every total that tracks it; the caller moves the balance.
    pub(crate) fn increase_stake(
        hotkey: &T::AccountId,
        coldkey: &T::AccountId,
        netuid: NetUid,
        amount: u64,
    ) -> DispatchResult {
        Self::update_stake(hotkey, coldkey, netuid, amount, u64::checked_add)
    }

    fn decrease_stake(
        hotkey: &T::AccountId,
        coldkey: &T::AccountId,
        netuid: NetUid,
        amount: u64,
    ) -> DispatchResult {
        Self::update_stake(hotkey, coldkey, netuid, amount, u64::checked_sub)
    }

    /// Applies `op(total, amount)` to the coldkey's stake, the hotkey's total and `TotalStake`,
    /// all or nothing; entries that reach zero are removed.
    fn update_stake(
        hotkey: &T::AccountId,
        coldkey: &T::AccountId,
        netuid: NetUid,
        amount: u64,
        op: fn(u64, u64) -> Option<u64>,
    ) -> DispatchResult {
        let overflow = || Error::<T>::Overflow;
        let own = op(StakeOf::<T>::get((hotkey, coldkey, netuid)), amount).ok_or_else(overflow)?;
        let hot = op(TotalHotkeyAlpha::<T>::get(hotkey, netuid), amount).ok_or_else(overflow)?;
        let total = op(TotalStake::<T>::get(), amount).ok_or_else(overflow)?;
        if own == 0 {
            StakeOf::<T>::remove((hotkey, coldkey, netuid));
        } else {
            StakeOf::<T>::insert((hotkey, coldkey, netuid), own);
        }
        if hot == 0 {
            TotalHotkeyAlpha::<T>::remove(hotkey, netuid);
        } else {
            TotalHotkeyAlpha::<T>::insert(hotkey, netuid, hot);
        }
        TotalStake::<T>::put(total);
        Ok(())
    }
}
