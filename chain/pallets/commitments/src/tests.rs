//! Encoding of `Data` and the rules of `set_commitment`, on the mock runtime.

use crate::{mock::*, *};
use alloc::vec;
use codec::{Decode, Encode};
use polkadot_sdk::{
    frame_support::{assert_noop, assert_ok, traits::ConstU32, BoundedVec},
    sp_runtime::traits::BadOrigin,
};

fn window_commitment(window: u64, hash: [u8; 32]) -> Box<CommitmentInfo<ConstU32<3>>> {
    let raw = BoundedVec::truncate_from(window.to_le_bytes().to_vec());
    Box::new(CommitmentInfo {
        fields: BoundedVec::truncate_from(vec![Data::Raw(raw), Data::BlakeTwo256(hash)]),
    })
}

#[test]
fn data_encoding_matches_subtensor() {
    let raw = |n: usize| Data::Raw(BoundedVec::truncate_from(vec![7u8; n]));
    assert_eq!(Data::None.encode(), vec![0]);
    assert_eq!(raw(0).encode(), vec![1]);
    assert_eq!(raw(3).encode(), vec![4, 7, 7, 7]);
    assert_eq!(raw(128).encode()[0], 129);
    assert_eq!(Data::BlakeTwo256([9; 32]).encode(), [vec![130], vec![9; 32]].concat());
    assert_eq!(Data::ShaThree256([9; 32]).encode()[0], 133);
    assert_eq!(Data::ResetBondsFlag.encode(), vec![135]);
    assert_eq!(Data::BigRaw(BoundedVec::truncate_from(vec![1, 2])).encode(), vec![136, 8, 1, 2]);
    let timelock = Data::TimelockEncrypted { encrypted: BoundedVec::truncate_from(vec![5]), reveal_round: 2 };
    assert_eq!(timelock.encode(), vec![134, 4, 5, 2, 0, 0, 0, 0, 0, 0, 0]);
    for d in [Data::None, raw(0), raw(1), raw(128), Data::Sha256([1; 32]), Data::Keccak256([2; 32]), timelock]
    {
        assert_eq!(Data::decode(&mut &d.encode()[..]), Ok(d));
    }
}

#[test]
fn data_decoding_rejects_bad_input() {
    assert!(Data::decode(&mut &[137u8][..]).is_err());
    assert!(Data::decode(&mut &[255u8][..]).is_err());
    assert!(Data::decode(&mut &[][..]).is_err());
    assert!(Data::decode(&mut &[5u8, 1, 2][..]).is_err()); // Raw4 with 2 bytes
    assert!(Data::decode(&mut &[130u8; 10][..]).is_err()); // truncated hash
                                                           // BigRaw at its bound decodes; one byte past it does not.
    let big = |len: u32| [vec![136u8], codec::Compact(len).encode(), vec![0; len as usize]].concat();
    assert!(
        matches!(Data::decode(&mut &big(MAX_BIGRAW)[..]), Ok(Data::BigRaw(b)) if b.len() == MAX_BIGRAW as usize)
    );
    assert!(Data::decode(&mut &big(MAX_BIGRAW + 1)[..]).is_err());
    // More fields than MaxFields.
    let four = vec![Data::None; 4].encode();
    assert!(CommitmentInfo::<ConstU32<3>>::decode(&mut &four[..]).is_err());
}

#[test]
fn data_type_info_lists_subtensor_variants() {
    use scale_info::{TypeDef, TypeInfo};
    let TypeDef::Variant(v) = Data::type_info().type_def else { panic!("not an enum") };
    assert_eq!(v.variants.len(), 137);
    let raw5 = &v.variants[6];
    assert_eq!((raw5.name, raw5.index), ("Raw5", 6));
    let names: Vec<_> = v.variants.iter().skip(130).map(|v| (v.name, v.index)).collect();
    assert_eq!(
        names,
        vec![
            ("BlakeTwo256", 130),
            ("Sha256", 131),
            ("Keccak256", 132),
            ("ShaThree256", 133),
            ("TimelockEncrypted", 134),
            ("ResetBondsFlag", 135),
            ("BigRaw", 136)
        ]
    );
}

#[test]
fn registered_hotkey_commits_a_window_hash() {
    new_test_ext().execute_with(|| {
        System::set_block_number(4);
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(42, [3; 32])));
        let stored = CommitmentOf::<Test>::get(1, 7).expect("stored");
        assert_eq!((stored.deposit, stored.block), (0, 4));
        assert_eq!(stored.info, *window_commitment(42, [3; 32]));
        assert_eq!(LastCommitment::<Test>::get(1, 7), Some(4));
        // 9 bytes of Raw8 + 33 of the hash, which count as the minimum.
        let fields: u64 = window_commitment(42, [3; 32]).fields.iter().map(Data::len_for_budget).sum();
        assert_eq!(fields, 42);
        assert_eq!(
            UsedSpaceOf::<Test>::get(1, 7),
            Some(UsageTracker { last_epoch: 0, used_space: MIN_USED_SPACE })
        );
        System::assert_last_event(Event::Commitment { netuid: 1, who: 7 }.into());
        // A later commitment replaces it.
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(43, [4; 32])));
        assert_eq!(CommitmentOf::<Test>::get(1, 7).expect("stored").info, *window_commitment(43, [4; 32]));
    });
}

#[test]
fn set_commitment_errors_and_budget() {
    new_test_ext().execute_with(|| {
        assert_noop!(
            Commitments::set_commitment(
                RuntimeOrigin::signed(UNREGISTERED),
                1,
                window_commitment(1, [0; 32])
            ),
            Error::<Test>::AccountNotAllowedCommit
        );
        let timelocked = Box::new(CommitmentInfo {
            fields: BoundedVec::truncate_from(vec![Data::TimelockEncrypted {
                encrypted: BoundedVec::truncate_from(vec![1]),
                reveal_round: 1,
            }]),
        });
        assert_noop!(
            Commitments::set_commitment(RuntimeOrigin::signed(7), 1, timelocked),
            Error::<Test>::UnsupportedField
        );
        assert_ok!(Commitments::set_max_space(RuntimeOrigin::root(), 200));
        assert_noop!(Commitments::set_max_space(RuntimeOrigin::signed(7), 1), BadOrigin);
        // 42 bytes each, which count as the minimum of 100: two fit in 200, a third does not,
        // until the next epoch.
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(1, [0; 32])));
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(2, [0; 32])));
        assert_noop!(
            Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(3, [0; 32])),
            Error::<Test>::SpaceLimitExceeded
        );
        // Budgets are per subnet and per account.
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 2, window_commitment(3, [0; 32])));
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(8), 1, window_commitment(3, [0; 32])));
        System::set_block_number(10);
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, window_commitment(3, [0; 32])));
        assert_eq!(UsedSpaceOf::<Test>::get(1, 7), Some(UsageTracker { last_epoch: 1, used_space: 100 }));
    });
}

#[test]
fn an_empty_commitment_still_costs_the_minimum() {
    new_test_ext().execute_with(|| {
        assert_ok!(Commitments::set_max_space(RuntimeOrigin::root(), 250));
        let empty = || Box::new(CommitmentInfo::<ConstU32<3>> { fields: BoundedVec::new() });
        let nones = || {
            Box::new(CommitmentInfo::<ConstU32<3>> { fields: BoundedVec::truncate_from(vec![Data::None; 3]) })
        };
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, empty()));
        assert_ok!(Commitments::set_commitment(RuntimeOrigin::signed(7), 1, nones()));
        assert_eq!(UsedSpaceOf::<Test>::get(1, 7).map(|u| u.used_space), Some(2 * MIN_USED_SPACE));
        assert_noop!(
            Commitments::set_commitment(RuntimeOrigin::signed(7), 1, empty()),
            Error::<Test>::SpaceLimitExceeded
        );
    });
}
