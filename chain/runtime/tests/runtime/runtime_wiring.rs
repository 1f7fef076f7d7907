//! The runtime's pallets working together, natively, on the `development` genesis preset:
//! presets build, commitments are tied to subnet registration, the epoch runs from the block
//! hooks and pays out, and the fast-blocks/standard constants are what the docs say.

use polkadot_sdk::{
    frame_support::traits::{fungible::Inspect, OnInitialize},
    sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET},
    sp_io::TestExternalities,
    sp_keyring::Sr25519Keyring,
    sp_runtime::{BoundedVec, BuildStorage},
};
use serde_json::Value;
use subnet_runtime::{
    genesis, AllPalletsWithSystem, Balances, Commitments, Runtime, RuntimeGenesisConfig, RuntimeOrigin,
    SubtensorModule, System, TAO,
};

/// Merges a preset's JSON patch into the default genesis config, as the node's chain-spec
/// builder does.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch,
    }
}

fn preset_ext(name: &str) -> TestExternalities {
    let patch = genesis::get_preset(&name.into()).expect("preset exists");
    let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("default config");
    merge(&mut config, serde_json::from_slice(&patch).expect("preset is JSON"));
    let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("preset matches the config");
    let mut ext = TestExternalities::new(config.build_storage().expect("genesis builds"));
    ext.execute_with(|| System::set_block_number(1));
    ext
}

fn run_to_block(n: u32) {
    while System::block_number() < n {
        let next = System::block_number() + 1;
        System::set_block_number(next);
        AllPalletsWithSystem::on_initialize(next);
    }
}

#[test]
fn presets_fund_dev_accounts_and_set_authorities() {
    assert_eq!(genesis::preset_names().len(), 2);
    for (preset, authorities) in [(DEV_RUNTIME_PRESET, 1), (LOCAL_TESTNET_RUNTIME_PRESET, 2)] {
        preset_ext(preset).execute_with(|| {
            let alice = Sr25519Keyring::Alice.to_account_id();
            assert_eq!(Balances::balance(&alice), genesis::DEV_BALANCE);
            assert_eq!(polkadot_sdk::pallet_aura::Authorities::<Runtime>::get().len(), authorities);
            assert_eq!(polkadot_sdk::pallet_sudo::Key::<Runtime>::get(), Some(alice));
            // The stake account holds its existential deposit from genesis.
            assert_eq!(
                Balances::balance(&SubtensorModule::stake_account()),
                subnet_runtime::EXISTENTIAL_DEPOSIT
            );
        });
    }
    assert!(genesis::get_preset(&"nonsense".into()).is_none());
}

#[test]
fn only_registered_hotkeys_commit_and_epochs_pay_out() {
    preset_ext(DEV_RUNTIME_PRESET).execute_with(|| {
        let (alice, bob) = (Sr25519Keyring::Alice.to_account_id(), Sr25519Keyring::Bob.to_account_id());
        let (miner, stranger) =
            (Sr25519Keyring::Charlie.to_account_id(), Sr25519Keyring::Dave.to_account_id());
        assert!(
            SubtensorModule::register_network(RuntimeOrigin::signed(alice.clone()), alice.clone()).is_ok()
        );
        assert!(
            SubtensorModule::burned_register(RuntimeOrigin::signed(bob.clone()), 1, miner.clone()).is_ok()
        );

        let hash = [7u8; 32];
        let fields = vec![
            pallet_commitments::Data::Raw(BoundedVec::truncate_from(5u64.to_le_bytes().to_vec())),
            pallet_commitments::Data::BlakeTwo256(hash),
        ];
        let info = Box::new(pallet_commitments::CommitmentInfo { fields: BoundedVec::truncate_from(fields) });
        assert!(Commitments::set_commitment(RuntimeOrigin::signed(miner.clone()), 1, info.clone()).is_ok());
        assert!(Commitments::set_commitment(RuntimeOrigin::signed(stranger), 1, info).is_err());
        assert!(pallet_commitments::CommitmentOf::<Runtime>::get(1, &miner).is_some());

        let issuance = Balances::total_issuance();
        let tempo = pallet_subnet::Tempo::<Runtime>::get(1);
        assert_eq!(tempo, subnet_runtime::DEFAULT_TEMPO);
        // Subtensor's schedule: subnet 1 runs where (block + 2) % (tempo + 1) == tempo.
        let first = 1 + SubtensorModule::blocks_until_next_epoch(1, tempo, 1);
        assert_eq!((first + 2) % (tempo as u64 + 1), tempo as u64);
        run_to_block(first as u32);
        assert_eq!(pallet_subnet::LastMechansimStepBlock::<Runtime>::get(1), first);
        // The first epoch pays the owner's 18% of blocks 2..=first of 1 TAO; nobody has stake
        // for the rest, which waits.
        let owner_cut = (first - 1) * TAO * 18 / 100;
        assert_eq!(Balances::total_issuance(), issuance + owner_cut);
        assert_eq!(pallet_subnet::TotalHotkeyAlpha::<Runtime>::get(&alice, 1), owner_cut);
    });
}

/// The worst block: every subnet the runtime allows, each at the uid limit with every uid a
/// validator, all due at once. `on_initialize` runs `MaxEpochsPerBlock` of them and must declare
/// under a fifth of the block's weight, so extrinsics keep their 75%; the others follow in the
/// next blocks.
#[test]
fn the_worst_block_of_epochs_fits_well_inside_a_block() {
    use polkadot_sdk::frame_support::traits::Get;
    type Subnet = <Runtime as pallet_subnet::Config>::MaxSubnets;
    type Uids = <Runtime as pallet_subnet::Config>::MaxUidsLimit;
    type PerBlock = <Runtime as pallet_subnet::Config>::MaxEpochsPerBlock;
    preset_ext(DEV_RUNTIME_PRESET).execute_with(|| {
        let alice = Sr25519Keyring::Alice.to_account_id();
        let subnets = <Subnet as Get<u16>>::get();
        for i in 0..subnets {
            let hotkey = polkadot_sdk::sp_runtime::AccountId32::new([i as u8 + 1; 32]);
            SubtensorModule::register_network(RuntimeOrigin::signed(alice.clone()), hotkey).unwrap();
        }
        for netuid in 1..=subnets {
            // The declared weight follows the uid and validator counts; all are overdue.
            pallet_subnet::SubnetworkN::<Runtime>::insert(netuid, <Uids as Get<u16>>::get());
            pallet_subnet::MaxAllowedValidators::<Runtime>::insert(netuid, <Uids as Get<u16>>::get());
            pallet_subnet::BlocksSinceLastStep::<Runtime>::insert(netuid, u64::MAX / 2);
        }
        let block = <Runtime as polkadot_sdk::frame_system::Config>::BlockWeights::get().max_block;
        let mut ran = 0;
        let mut blocks = 0;
        while ran < subnets as usize {
            let seen = System::events().len();
            let next = System::block_number() + 1;
            System::set_block_number(next);
            let weight = <SubtensorModule as OnInitialize<u32>>::on_initialize(next);
            let epochs = System::events()[seen..]
                .iter()
                .filter(|r| {
                    matches!(
                        r.event,
                        subnet_runtime::RuntimeEvent::SubtensorModule(pallet_subnet::Event::EpochRun { .. })
                    )
                })
                .count();
            assert!(epochs <= <PerBlock as Get<u16>>::get() as usize, "{epochs} epochs in block {next}");
            let share = weight.ref_time() as f64 / block.ref_time() as f64;
            if blocks == 0 {
                assert_eq!(epochs, <PerBlock as Get<u16>>::get() as usize);
                eprintln!(
                    "{subnets} subnets due, {epochs} epochs at {} uids: {:.1} ms of {:.0} ms ({:.1}%)",
                    <Uids as Get<u16>>::get(),
                    weight.ref_time() as f64 / 1e9,
                    block.ref_time() as f64 / 1e9,
                    share * 100.0
                );
            }
            assert!(share < 0.20, "block {next} declares {:.1}% of a block", share * 100.0);
            ran += epochs;
            blocks += 1;
        }
        assert_eq!(blocks, (subnets as usize).div_ceil(<PerBlock as Get<u16>>::get() as usize));
    });
}

#[test]
fn a_transfer_costs_about_a_ten_thousandth_of_a_tao() {
    use polkadot_sdk::{frame_support::dispatch::GetDispatchInfo, pallet_balances};
    use subnet_runtime::{RuntimeCall, TransactionPayment};
    preset_ext(DEV_RUNTIME_PRESET).execute_with(|| {
        let dest = Sr25519Keyring::Bob.to_account_id().into();
        let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive { dest, value: TAO });
        // A signed transfer is about 150 bytes on the wire.
        let fee = TransactionPayment::compute_fee(150, &call.get_dispatch_info(), 0);
        println!("transfer fee: {fee} rao = {:.6} TAO", fee as f64 / TAO as f64);
        // Subtensor charges on the order of 1e-4 TAO; a validator setting weights every few
        // blocks must not spend whole TAO on fees.
        assert!((TAO / 100_000..TAO / 1_000).contains(&fee), "fee {fee} rao");
    });
}
