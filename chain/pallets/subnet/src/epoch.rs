//! Per-block accrual, and the epoch: read storage, run Yuma, write results, pay out.

use crate::{
    fixed,
    pallet::*,
    yuma::{self, EpochInput, EpochOutput},
    NetUid, WeightInfo,
};
use alloc::{vec, vec::Vec};
use polkadot_sdk::frame_support::{
    traits::{
        fungible::Mutate,
        tokens::{Fortitude, Precision, Preservation},
        Get,
    },
    weights::Weight,
};

/// Shares of an epoch's emission, in percent.
const OWNER_PERCENT: u64 = 18;
const MINERS_PERCENT: u64 = 41;
const VALIDATORS_PERCENT: u64 = 41;

/// What an epoch paid, by recipient group.
#[derive(Default)]
struct Payout {
    owner: u64,
    miners: u64,
    validators: u64,
    per_uid: Vec<u64>,
}

impl<T: Config> Pallet<T> {
    /// Runs in `on_initialize`: accrues emission, decays prices, runs due epochs.
    pub(crate) fn block_step() -> Weight {
        let db = T::DbWeight::get();
        let count = TotalNetworks::<T>::get();
        let mut weight = db.reads(2);
        if count == 0 {
            return weight;
        }
        let now = Self::now();
        let emission = BlockEmission::<T>::get();
        let (each, extra) = (emission / count as u64, emission % count as u64);
        for netuid in 1..=count {
            // Split exactly: the first `extra` subnets get one more unit.
            let accrued = each + u64::from((netuid as u64) <= extra);
            PendingEmission::<T>::mutate(netuid, |p| *p = p.saturating_add(accrued));
            Self::decay_burn(netuid);
            BlocksSinceLastStep::<T>::mutate(netuid, |b| *b = b.saturating_add(1));
            weight = weight.saturating_add(db.reads_writes(5, 3));
            let tempo = Tempo::<T>::get(netuid) as u64;
            if now.saturating_sub(LastMechansimStepBlock::<T>::get(netuid)) >= tempo {
                let n = SubnetworkN::<T>::get(netuid);
                let validators = MaxAllowedValidators::<T>::get(netuid).min(n);
                Self::run_epoch(netuid, now);
                weight = weight.saturating_add(T::WeightInfo::epoch(n as u32, validators as u32));
            }
        }
        weight
    }

    /// Consensus and payout for one subnet.
    pub fn run_epoch(netuid: NetUid, now: u64) {
        let n = SubnetworkN::<T>::get(netuid);
        let hotkeys: Vec<Option<T::AccountId>> = (0..n).map(|uid| Keys::<T>::get(netuid, uid)).collect();
        let threshold = StakeThreshold::<T>::get();
        let stake = hotkeys
            .iter()
            .map(|hotkey| hotkey.as_ref().map_or(0, |h| TotalHotkeyAlpha::<T>::get(h, netuid)))
            .map(|s| if s < threshold { 0 } else { s })
            .collect();
        let input = EpochInput {
            now,
            last_epoch_block: LastMechansimStepBlock::<T>::get(netuid),
            activity_cutoff: ActivityCutoff::<T>::get(netuid) as u64,
            max_allowed_validators: MaxAllowedValidators::<T>::get(netuid),
            kappa: Kappa::<T>::get(netuid),
            bonds_moving_average: BondsMovingAverage::<T>::get(netuid),
            stake,
            last_update: LastUpdate::<T>::get(netuid),
            block_at_registration: (0..n).map(|uid| BlockAtRegistration::<T>::get(netuid, uid)).collect(),
            validator_permit: ValidatorPermit::<T>::get(netuid),
            weights: (0..n).map(|uid| Weights::<T>::get(netuid, uid)).collect(),
            bonds: (0..n).map(|uid| Bonds::<T>::get(netuid, uid)).collect(),
        };
        let out = yuma::epoch(&input);

        Active::<T>::insert(netuid, &out.active);
        Consensus::<T>::insert(netuid, &out.consensus);
        Incentive::<T>::insert(netuid, &out.incentive);
        Dividends::<T>::insert(netuid, &out.dividends);
        ValidatorTrust::<T>::insert(netuid, &out.validator_trust);
        ValidatorPermit::<T>::insert(netuid, &out.validator_permit);
        for (uid, row) in out.bonds.iter().enumerate() {
            if row.is_empty() {
                Bonds::<T>::remove(netuid, uid as u16);
            } else {
                Bonds::<T>::insert(netuid, uid as u16, row);
            }
        }

        let pending = PendingEmission::<T>::get(netuid);
        let payout = Self::pay_out(netuid, pending, &out, &hotkeys);
        let paid = payout.owner + payout.miners + payout.validators;
        let carried = pending - paid;
        PendingEmission::<T>::insert(netuid, carried);
        Emission::<T>::insert(netuid, &payout.per_uid);
        LastMechansimStepBlock::<T>::insert(netuid, now);
        BlocksSinceLastStep::<T>::insert(netuid, 0);
        Self::deposit_event(Event::EpochRun {
            netuid,
            block: now,
            owner: payout.owner,
            miners: payout.miners,
            validators: payout.validators,
            carried,
        });
    }

    /// Credits `pending` as stake (owner 18%, miners 41% by incentive, validators 41% by
    /// dividends) and mints exactly what was credited into the stake account. Whatever rounds
    /// away, or has nobody to go to, stays pending.
    fn pay_out(netuid: NetUid, pending: u64, out: &EpochOutput, hotkeys: &[Option<T::AccountId>]) -> Payout {
        let n = hotkeys.len();
        let mut miner_part = vec![0u64; n];
        let mut validator_part = vec![0u64; n];
        let miners_pool = fixed::share(pending, MINERS_PERCENT, 100);
        let validators_pool = fixed::share(pending, VALIDATORS_PERCENT, 100);
        let (sum_i, sum_d) = (fixed::sum(&out.incentive_fx), fixed::sum(&out.dividends_fx));
        if sum_i > 0 && sum_d > 0 {
            for uid in 0..n {
                miner_part[uid] = fixed::share(miners_pool, out.incentive_fx[uid], sum_i);
                validator_part[uid] = fixed::share(validators_pool, out.dividends_fx[uid], sum_d);
            }
        } else if sum_i > 0 {
            // Incentive without dividends (no bonds yet): sum(I + D) = sum(I), miners get both.
            for uid in 0..n {
                miner_part[uid] = fixed::share(miners_pool + validators_pool, out.incentive_fx[uid], sum_i);
            }
        } else {
            // Nobody set valid weights: validators share both pools by active stake.
            let sum_s = fixed::sum(&out.active_stake_fx);
            for uid in 0..n {
                validator_part[uid] =
                    fixed::share(miners_pool + validators_pool, out.active_stake_fx[uid], sum_s);
            }
        }
        let owner_hotkey = SubnetOwnerHotkey::<T>::get(netuid);
        let owner_cut = if owner_hotkey.is_some() { fixed::share(pending, OWNER_PERCENT, 100) } else { 0 };
        // At most `pending`, since the three shares are floors of 18 + 41 + 41 percent.
        let planned = owner_cut + miner_part.iter().sum::<u64>() + validator_part.iter().sum::<u64>();
        let mut payout = Payout { per_uid: vec![0; n], ..Default::default() };
        // Mint first: if the stake account cannot take it, nothing is credited and all stays pending.
        if planned == 0 || T::Currency::mint_into(&Self::stake_account(), planned).is_err() {
            return payout;
        }

        // Cannot fail for a registered hotkey: TotalStake <= total issuance, which did not overflow.
        let credit = |hotkey: &T::AccountId, amount: u64| -> bool {
            amount > 0
                && Owner::<T>::get(hotkey)
                    .is_some_and(|coldkey| Self::increase_stake(hotkey, &coldkey, netuid, amount).is_ok())
        };
        if let Some(hotkey) = &owner_hotkey {
            if credit(hotkey, owner_cut) {
                payout.owner = owner_cut;
            }
        }
        for (uid, hotkey) in hotkeys.iter().enumerate() {
            let Some(hotkey) = hotkey else { continue };
            let amount = miner_part[uid] + validator_part[uid];
            if credit(hotkey, amount) {
                payout.per_uid[uid] = amount;
                payout.miners += miner_part[uid];
                payout.validators += validator_part[uid];
            }
        }
        // Anything minted but not credited (a uid without a hotkey) is burned again, so issuance
        // grows by exactly what was credited.
        let shortfall = planned - (payout.owner + payout.miners + payout.validators);
        if shortfall > 0 {
            let burned = T::Currency::burn_from(
                &Self::stake_account(),
                shortfall,
                Preservation::Preserve,
                Precision::Exact,
                Fortitude::Force,
            );
            debug_assert!(burned.is_ok(), "the stake account holds what was just minted");
        }
        payout
    }
}
