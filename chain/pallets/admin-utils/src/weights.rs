//! Weights for `pallet_admin_utils`. Replaced by `scripts/bench/chain-weights.sh` output.

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
    traits::Get,
    weights::{constants::RocksDbWeight, Weight},
};

pub trait WeightInfo {
    fn sudo_set() -> Weight;
}

pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
    fn sudo_set() -> Weight {
        Weight::from_parts(20_000_000, 4_000).saturating_add(T::DbWeight::get().reads_writes(4, 2))
    }
}

impl WeightInfo for () {
    fn sudo_set() -> Weight {
        Weight::from_parts(20_000_000, 4_000).saturating_add(RocksDbWeight::get().reads_writes(4, 2))
    }
}
