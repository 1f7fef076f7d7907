//! Benchmarks (FRAME v2) for every call and for the epoch.

use super::*;
use crate::Pallet as Subnet;
use alloc::{vec, vec::Vec};
use frame_support::traits::{fungible::Mutate, Get};
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

const UNIT: u64 = 1_000_000_000;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
    let who: T::AccountId = account(name, i, 0);
    T::Currency::set_balance(&who, 1_000_000 * UNIT);
    who
}

/// A subnet with `n` uids (the owner's hotkey is uid 0), free registration, no rate limits.
fn subnet_with<T: Config>(n: u32) -> (NetUid, Vec<T::AccountId>) {
    let owner = funded::<T>("owner", 0);
    let owner_hot: T::AccountId = account("hot", 0, 0);
    Subnet::<T>::do_register_network(owner.clone(), owner_hot.clone()).expect("subnet");
    let netuid = TotalNetworks::<T>::get();
    MinBurn::<T>::insert(netuid, 0);
    ImmunityPeriod::<T>::insert(netuid, 0);
    WeightsSetRateLimit::<T>::insert(netuid, 0);
    ServingRateLimit::<T>::insert(netuid, 0);
    let mut hotkeys = vec![owner_hot];
    for i in 1..n {
        Burn::<T>::insert(netuid, 0);
        let hot: T::AccountId = account("hot", i, 0);
        Subnet::<T>::do_burned_register(owner.clone(), netuid, hot.clone()).expect("register");
        hotkeys.push(hot);
    }
    (netuid, hotkeys)
}

/// `n` staked uids of which the first `v` are validators with dense weights over all `n`, and
/// bonds from a previous epoch.
fn dense_subnet<T: Config>(n: u32, v: u32) -> NetUid {
    let (netuid, hotkeys) = subnet_with::<T>(n);
    let v = v.min(n);
    MaxAllowedValidators::<T>::insert(netuid, v as u16);
    let owner = SubnetOwner::<T>::get(netuid).expect("owner");
    for (i, hot) in hotkeys.iter().enumerate() {
        // Validators hold the most stake, so they keep their permits.
        let stake = if (i as u32) < v { 1_000 * UNIT } else { UNIT } + i as u64;
        Subnet::<T>::do_add_stake(owner.clone(), hot.clone(), netuid, stake).expect("stake");
    }
    let now = Subnet::<T>::now();
    ValidatorPermit::<T>::insert(netuid, (0..n).map(|i| i < v).collect::<Vec<_>>());
    let row: Vec<(u16, u16)> = (0..n as u16).map(|j| (j, 1 + j.wrapping_mul(7919) % 65535)).collect();
    for uid in 0..n as u16 {
        if (uid as u32) < v {
            Weights::<T>::insert(netuid, uid, &row);
        }
        BlockAtRegistration::<T>::insert(netuid, uid, 0);
    }
    LastUpdate::<T>::insert(netuid, vec![now + 1; n as usize]);
    LastMechansimStepBlock::<T>::insert(netuid, 1);
    Subnet::<T>::run_epoch(netuid, now + 1);
    PendingEmission::<T>::insert(netuid, 1_000 * UNIT);
    PendingOwnerCut::<T>::insert(netuid, 200 * UNIT);
    netuid
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn set_weights(n: Linear<1, 256>) {
        let (netuid, hotkeys) = subnet_with::<T>(256);
        let validator = hotkeys[1].clone();
        ValidatorPermit::<T>::mutate(netuid, |p| p[1] = true);
        let dests: Vec<u16> = (0..n as u16).collect();
        let weights: Vec<u16> = (0..n as u16).map(|j| j + 1).collect();
        #[extrinsic_call]
        _(RawOrigin::Signed(validator), netuid, dests, weights, 0);
        assert_eq!(Weights::<T>::get(netuid, 1).len(), n as usize);
    }

    #[benchmark]
    fn add_stake() {
        let (netuid, hotkeys) = subnet_with::<T>(2);
        let coldkey = funded::<T>("cold", 1);
        #[extrinsic_call]
        _(RawOrigin::Signed(coldkey.clone()), hotkeys[1].clone(), netuid, UNIT);
        assert_eq!(StakeOf::<T>::get((&hotkeys[1], &coldkey, netuid)), UNIT);
    }

    #[benchmark]
    fn remove_stake() {
        let (netuid, hotkeys) = subnet_with::<T>(2);
        let coldkey = funded::<T>("cold", 1);
        Subnet::<T>::do_add_stake(coldkey.clone(), hotkeys[1].clone(), netuid, 2 * UNIT).expect("stake");
        #[extrinsic_call]
        _(RawOrigin::Signed(coldkey.clone()), hotkeys[1].clone(), netuid, UNIT);
        assert_eq!(StakeOf::<T>::get((&hotkeys[1], &coldkey, netuid)), UNIT);
    }

    #[benchmark]
    fn serve_axon() {
        let (netuid, hotkeys) = subnet_with::<T>(2);
        let hot = hotkeys[1].clone();
        // Serving again (the rate-limit path reads the previous axon).
        Axons::<T>::insert(
            netuid,
            &hot,
            AxonInfo { ip: 0x0102_0304, port: 1, ip_type: 4, ..Default::default() },
        );
        #[extrinsic_call]
        _(RawOrigin::Signed(hot.clone()), netuid, 1, 0x0102_0305, 8091, 4, 0, 0, 0);
        assert_eq!(Axons::<T>::get(netuid, &hot).map(|a| a.port), Some(8091));
    }

    #[benchmark]
    fn burned_register() {
        // Worst case: the subnet is full and a uid must be chosen for pruning.
        let limit = T::MaxUidsLimit::get() as u32;
        let (netuid, _) = subnet_with::<T>(limit);
        MaxAllowedUids::<T>::insert(netuid, limit as u16);
        Burn::<T>::insert(netuid, UNIT);
        let coldkey = funded::<T>("cold", 1);
        let hot: T::AccountId = account("new", 0, 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(coldkey), netuid, hot.clone());
        assert!(Uids::<T>::contains_key(netuid, &hot));
    }

    #[benchmark]
    fn register_network() {
        let coldkey = funded::<T>("cold", 1);
        let hot: T::AccountId = account("hot", 0, 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(coldkey), hot);
        assert_eq!(TotalNetworks::<T>::get(), 1);
    }

    /// `n` uids, `v` validators with dense weights. Cost grows like `n * v`; FRAME fits each
    /// component with the other at its maximum, so the linear model bounds it from above.
    #[benchmark]
    fn epoch(n: Linear<1, 256>, v: Linear<1, 256>) {
        let netuid = dense_subnet::<T>(n, v);
        let now = Subnet::<T>::now() + 2;
        #[block]
        {
            Subnet::<T>::run_epoch(netuid, now);
        }
        assert_eq!(LastMechansimStepBlock::<T>::get(netuid), now);
    }

    impl_benchmark_test_suite!(Subnet, crate::mock::new_test_ext(), crate::mock::Test);
}
