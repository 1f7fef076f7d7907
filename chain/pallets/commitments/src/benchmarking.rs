//! Benchmarks (FRAME v2).

use super::*;
use alloc::{boxed::Box, vec};
use polkadot_sdk::{
    frame_benchmarking::v2::*, frame_support::traits::Get, frame_system::RawOrigin, sp_runtime::BoundedVec,
};

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn set_commitment() {
        let who: T::AccountId = account("hot", 0, 0);
        let netuid = T::CanCommit::make_committer(&who);
        MaxSpace::<T>::put(u32::MAX);
        // The largest commitment: MaxFields fields of the largest kind.
        let big = Data::BigRaw(BoundedVec::truncate_from(vec![7u8; MAX_BIGRAW as usize]));
        let fields = vec![big; T::MaxFields::get() as usize];
        let info = Box::new(CommitmentInfo { fields: BoundedVec::truncate_from(fields) });
        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()), netuid, info);
        assert!(CommitmentOf::<T>::contains_key(netuid, &who));
    }

    #[benchmark]
    fn set_max_space() {
        #[extrinsic_call]
        _(RawOrigin::Root, 1234);
        assert_eq!(MaxSpace::<T>::get(), 1234);
    }

    impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
