//! Per-block accrual, and the epoch: read storage, run Yuma, write results, pay out.

use crate::{
    fixed,
    pallet::*,
    yuma::{self, EpochInput, EpochOutput},
    NetUid, WeightInfo,
};
use alloc::{vec, vec::Vec};
use polkadot_sdk::frame_support::{
    defensive,
    traits::{
        fungible::Mutate,
        tokens::{Fortitude, Precision, Preservation},
        Get,
    },
    weights::Weight,
};

/// The owner's share of each block's emission, in percent. Miners and validators get half each
/// of the rest (41% and 41%).
const OWNER_PERCENT: u64 = 18;

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
    ///
    /// Each block's emission is split when it accrues: the owner's 18% into `PendingOwnerCut`,
    /// the rest into `PendingEmission`, so carrying unpaid emission to a later epoch never takes
    /// the owner's cut from it a second time. At most `MaxEpochsPerBlock` epochs run in a block:
    /// subnets overdue from an earlier block first, then those scheduled now, by netuid.
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
        let (mut overdue, mut scheduled) = (Vec::new(), Vec::new());
        for netuid in 1..=count {
            // Split exactly: the first `extra` subnets get one more unit.
            let accrued = each.saturating_add(u64::from((netuid as u64) <= extra));
            let owner_cut = fixed::share(accrued, OWNER_PERCENT, 100);
            PendingOwnerCut::<T>::mutate(netuid, |p| *p = p.saturating_add(owner_cut));
            PendingEmission::<T>::mutate(netuid, |p| *p = p.saturating_add(accrued - owner_cut));
            Self::decay_burn(netuid);
            let since = BlocksSinceLastStep::<T>::mutate(netuid, |b| {
                *b = b.saturating_add(1);
                *b
            });
            weight = weight.saturating_add(db.reads_writes(6, 4));
            let tempo = Tempo::<T>::get(netuid);
            if Self::blocks_until_next_epoch(netuid, tempo, now) == 0 {
                scheduled.push(netuid);
            } else if since > tempo as u64 + 1 {
                // Its slot passed while the block was full of epochs.
                overdue.push(netuid);
            }
        }
        let budget = T::MaxEpochsPerBlock::get() as usize;
        for netuid in overdue.into_iter().chain(scheduled).take(budget) {
            let n = SubnetworkN::<T>::get(netuid);
            let validators = MaxAllowedValidators::<T>::get(netuid).min(n);
            Self::run_epoch(netuid, now);
            // The two reads above, and `PendingOwnerCut` read and reset, on top of the benchmarked
            // epoch (which predates it).
            weight = weight
                .saturating_add(T::WeightInfo::epoch(n as u32, validators as u32))
                .saturating_add(db.reads_writes(3, 1));
        }
        weight
    }

    /// Blocks until `netuid`'s next epoch, as subtensor schedules them: an epoch runs in the
    /// blocks where `(block + netuid + 1) % (tempo + 1) == tempo`, so subnets with the same tempo
    /// take turns instead of all running in the block they were created in (plus a multiple of
    /// their tempo). Tempo 0 never runs (the setter refuses it).
    pub fn blocks_until_next_epoch(netuid: NetUid, tempo: u16, block: u64) -> u64 {
        if tempo == 0 {
            return u64::MAX;
        }
        let period = tempo as u64 + 1;
        let remainder = block.wrapping_add(netuid as u64 + 1) % period;
        (tempo as u64).saturating_sub(remainder)
    }

    /// Consensus and payout for one subnet.
    pub fn run_epoch(netuid: NetUid, now: u64) {
        let n = SubnetworkN::<T>::get(netuid);
        let hotkeys: Vec<Option<T::AccountId>> = (0..n).map(|uid| Keys::<T>::get(netuid, uid)).collect();
        let threshold = StakeThreshold::<T>::get();
        let stake: Vec<u64> = hotkeys
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
        let owner_pending = PendingOwnerCut::<T>::get(netuid);
        let payout = Self::pay_out(netuid, pending, owner_pending, &out, &input.stake, &hotkeys);
        // `pay_out` pays at most what is pending in each part.
        let carried = pending.saturating_sub(payout.miners.saturating_add(payout.validators));
        PendingEmission::<T>::insert(netuid, carried);
        PendingOwnerCut::<T>::insert(netuid, owner_pending.saturating_sub(payout.owner));
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

    /// Credits as stake the owner's pending cut to the owner's hotkey and `pending` half to
    /// miners by incentive, half to validators by dividends (41% and 41% of emission), and mints
    /// exactly what was credited into the stake account. Without incentive nor dividends the
    /// validators share both halves by active stake or, when nobody has any (no permits yet, or
    /// every validator idle), by stake, as subtensor does. Whatever rounds away, or has nobody
    /// to go to, stays pending in its part.
    fn pay_out(
        netuid: NetUid,
        pending: u64,
        owner_pending: u64,
        out: &EpochOutput,
        stake: &[u64],
        hotkeys: &[Option<T::AccountId>],
    ) -> Payout {
        let n = hotkeys.len();
        let mut miner_part = vec![0u64; n];
        let mut validator_part = vec![0u64; n];
        let miners_pool = pending / 2;
        let validators_pool = pending - miners_pool;
        let (sum_i, sum_d) = (fixed::sum(&out.incentive_fx), fixed::sum(&out.dividends_fx));
        if sum_i > 0 && sum_d > 0 {
            let parts = miner_part.iter_mut().zip(validator_part.iter_mut());
            for ((m, v), (&i, &d)) in parts.zip(out.incentive_fx.iter().zip(&out.dividends_fx)) {
                *m = fixed::share(miners_pool, i, sum_i);
                *v = fixed::share(validators_pool, d, sum_d);
            }
        } else if sum_i > 0 {
            // Incentive without dividends (no bonds yet): sum(I + D) = sum(I), miners get both.
            for (m, &i) in miner_part.iter_mut().zip(&out.incentive_fx) {
                *m = fixed::share(pending, i, sum_i);
            }
        } else {
            // Nobody set valid weights: validators share both pools by active stake, or by
            // stake when nobody is an active permit holder.
            let by: &[u64] = if fixed::sum(&out.active_stake_fx) > 0 { &out.active_stake_fx } else { stake };
            let whole = fixed::sum(by);
            for (uid, v) in validator_part.iter_mut().enumerate() {
                *v = fixed::share(pending, by.get(uid).copied().unwrap_or(0), whole);
            }
        }
        let owner_hotkey = SubnetOwnerHotkey::<T>::get(netuid);
        // Without an owner hotkey the cut waits in `PendingOwnerCut`; it is never anyone else's.
        let owner_cut = if owner_hotkey.is_some() { owner_pending } else { 0 };
        // Each part is a sum of floors of shares of its pool, so at most the pool; the sum is in
        // u128 because `pending` and `owner_pending` are separate u64s.
        let planned = owner_cut as u128
            + miner_part.iter().map(|&x| x as u128).sum::<u128>()
            + validator_part.iter().map(|&x| x as u128).sum::<u128>();
        let mut payout = Payout { per_uid: vec![0; n], ..Default::default() };
        let Ok(planned) = u64::try_from(planned) else {
            defensive!("an epoch's payout exceeds u64");
            return payout;
        };
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
            let amount = miner_part[uid].saturating_add(validator_part[uid]);
            if credit(hotkey, amount) {
                payout.per_uid[uid] = amount;
                payout.miners = payout.miners.saturating_add(miner_part[uid]);
                payout.validators = payout.validators.saturating_add(validator_part[uid]);
            }
        }
        // Anything minted but not credited (a uid without a hotkey) is burned again, so issuance
        // grows by exactly what was credited.
        let credited = payout.owner.saturating_add(payout.miners).saturating_add(payout.validators);
        let shortfall = planned.saturating_sub(credited);
        if shortfall > 0 {
            let burned = T::Currency::burn_from(
                &Self::stake_account(),
                shortfall,
                Preservation::Preserve,
                Precision::Exact,
                Fortitude::Force,
            );
            if burned.is_err() {
                defensive!("the stake account cannot burn what was just minted into it");
            }
        }
        payout
    }
}
