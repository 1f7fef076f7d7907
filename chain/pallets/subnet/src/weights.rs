//! Weights for `pallet_subnet`. Replaced by `scripts/bench/chain-weights.sh` output.

#![allow(unused_parens, unused_imports)]

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
    traits::Get,
    weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_subnet`.
pub trait WeightInfo {
    fn set_weights(n: u32) -> Weight;
    fn add_stake() -> Weight;
    fn remove_stake() -> Weight;
    fn serve_axon() -> Weight;
    fn burned_register() -> Weight;
    fn register_network() -> Weight;
    fn epoch(n: u32) -> Weight;
}

/// Weights for `pallet_subnet` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn set_weights(n: u32) -> Weight {
        Weight::from_parts(50_000_000, 10_000)
            .saturating_add(Weight::from_parts(100_000, 4).saturating_mul(n.into()))
            .saturating_add(T::DbWeight::get().reads_writes(9, 2))
    }
    fn add_stake() -> Weight {
        Weight::from_parts(80_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(6, 5))
    }
    fn remove_stake() -> Weight {
        Weight::from_parts(80_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(6, 5))
    }
    fn serve_axon() -> Weight {
        Weight::from_parts(40_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(5, 1))
    }
    fn burned_register() -> Weight {
        Weight::from_parts(200_000_000, 100_000).saturating_add(T::DbWeight::get().reads_writes(300, 20))
    }
    fn register_network() -> Weight {
        Weight::from_parts(100_000_000, 10_000).saturating_add(T::DbWeight::get().reads_writes(10, 25))
    }
    fn epoch(n: u32) -> Weight {
        Weight::from_parts(1_000_000_000, 100_000)
            .saturating_add(Weight::from_parts(2_000_000, 20_000).saturating_mul(n.into()))
            .saturating_add(T::DbWeight::get().reads_writes(20, 10))
            .saturating_add(T::DbWeight::get().reads_writes(4, 2).saturating_mul(n.into()))
    }
}

// For tests.
impl WeightInfo for () {
    fn set_weights(n: u32) -> Weight {
        SubstrateWeightUnit::set_weights(n)
    }
    fn add_stake() -> Weight {
        SubstrateWeightUnit::add_stake()
    }
    fn remove_stake() -> Weight {
        SubstrateWeightUnit::remove_stake()
    }
    fn serve_axon() -> Weight {
        SubstrateWeightUnit::serve_axon()
    }
    fn burned_register() -> Weight {
        SubstrateWeightUnit::burned_register()
    }
    fn register_network() -> Weight {
        SubstrateWeightUnit::register_network()
    }
    fn epoch(n: u32) -> Weight {
        SubstrateWeightUnit::epoch(n)
    }
}

/// The same formulas with RocksDB's database weights, for `()`.
struct SubstrateWeightUnit;
impl SubstrateWeightUnit {
    fn set_weights(n: u32) -> Weight {
        Weight::from_parts(50_000_000, 10_000)
            .saturating_add(Weight::from_parts(100_000, 4).saturating_mul(n.into()))
            .saturating_add(RocksDbWeight::get().reads_writes(9, 2))
    }
    fn add_stake() -> Weight {
        Weight::from_parts(80_000_000, 10_000).saturating_add(RocksDbWeight::get().reads_writes(6, 5))
    }
    fn remove_stake() -> Weight {
        Weight::from_parts(80_000_000, 10_000).saturating_add(RocksDbWeight::get().reads_writes(6, 5))
    }
    fn serve_axon() -> Weight {
        Weight::from_parts(40_000_000, 10_000).saturating_add(RocksDbWeight::get().reads_writes(5, 1))
    }
    fn burned_register() -> Weight {
        Weight::from_parts(200_000_000, 100_000).saturating_add(RocksDbWeight::get().reads_writes(300, 20))
    }
    fn register_network() -> Weight {
        Weight::from_parts(100_000_000, 10_000).saturating_add(RocksDbWeight::get().reads_writes(10, 25))
    }
    fn epoch(n: u32) -> Weight {
        Weight::from_parts(1_000_000_000, 100_000)
            .saturating_add(Weight::from_parts(2_000_000, 20_000).saturating_mul(n.into()))
            .saturating_add(RocksDbWeight::get().reads_writes(20, 10))
            .saturating_add(RocksDbWeight::get().reads_writes(4, 2).saturating_mul(n.into()))
    }
}
