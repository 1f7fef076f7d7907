//! Weights for `pallet_commitments`. Replaced by `scripts/bench/chain-weights.sh` output.

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
    traits::Get,
    weights::{constants::RocksDbWeight, Weight},
};

pub trait WeightInfo {
    fn set_commitment() -> Weight;
    fn set_max_space() -> Weight;
}

pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn set_commitment() -> Weight {
        Weight::from_parts(40_000_000, 8_000).saturating_add(T::DbWeight::get().reads_writes(4, 3))
    }
    fn set_max_space() -> Weight {
        Weight::from_parts(5_000_000, 0).saturating_add(T::DbWeight::get().writes(1))
    }
}

impl WeightInfo for () {
    fn set_commitment() -> Weight {
        Weight::from_parts(40_000_000, 8_000).saturating_add(RocksDbWeight::get().reads_writes(4, 3))
    }
    fn set_max_space() -> Weight {
        Weight::from_parts(5_000_000, 0).saturating_add(RocksDbWeight::get().writes(1))
    }
}
