//! Benchmarks (FRAME v2): every setter costs the same, so one representative is measured.

use super::*;
use frame_support::traits::fungible::Mutate;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn sudo_set() {
        let owner: T::AccountId = account("owner", 0, 0);
        <T as pallet_subnet::Config>::Currency::set_balance(&owner, 1_000_000_000_000_000);
        pallet_subnet::Pallet::<T>::register_network(RawOrigin::Signed(owner).into(), account("hot", 0, 0))
            .expect("subnet");
        // The costliest check: MaxAllowedUids reads the uid count and validator limit.
        #[extrinsic_call]
        sudo_set_max_allowed_uids(RawOrigin::Root, 1, 128);
        assert_eq!(pallet_subnet::MaxAllowedUids::<T>::get(1), 128);
    }

    impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
