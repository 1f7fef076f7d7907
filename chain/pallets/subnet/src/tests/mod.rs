//! Unit tests on the mock runtime.

mod epoch;
mod hyperparameters;
mod registration;
mod serving;
mod staking;
mod weights;
mod yuma;
mod yuma_reference;

use crate::{mock::*, pallet::*, Hyperparameter};
use polkadot_sdk::frame_support::{assert_ok, traits::fungible::Inspect};

/// `cold` creates a subnet whose owner hotkey is `hot`; returns its netuid.
pub fn create_subnet(cold: u64, hot: u64) -> u16 {
    assert_ok!(SubtensorModule::register_network(RuntimeOrigin::signed(cold), hot));
    TotalNetworks::<Test>::get()
}

/// Registers `hot` (owned by `cold`) and returns its uid.
pub fn register(netuid: u16, cold: u64, hot: u64) -> u16 {
    assert_ok!(SubtensorModule::burned_register(RuntimeOrigin::signed(cold), netuid, hot));
    Uids::<Test>::get(netuid, hot).expect("registered")
}

pub fn set(netuid: u16, value: Hyperparameter) {
    assert_ok!(SubtensorModule::set_hyperparameter(Some(netuid), value));
}

/// The stake account holds exactly the recorded stake plus its existential deposit.
pub fn assert_books_balance() {
    let held = Balances::balance(&SubtensorModule::stake_account());
    assert_eq!(held, TotalStake::<Test>::get() + ExistentialDeposit::get());
}

pub fn last_event() -> RuntimeEvent {
    System::events().pop().expect("an event").event
}

/// An event with its phase and topics, as `System::events` returns it.
pub type EventRecord =
    polkadot_sdk::frame_system::EventRecord<RuntimeEvent, <Test as polkadot_sdk::frame_system::Config>::Hash>;

/// What one epoch paid, from its `EpochRun` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub block: u64,
    pub owner: u64,
    pub miners: u64,
    pub validators: u64,
    pub carried: u64,
}

/// The `EpochRun` events of `netuid` among `events`.
pub fn epochs_in(events: &[EventRecord], netuid: u16) -> Vec<Epoch> {
    events
        .iter()
        .filter_map(|r| match r.event {
            RuntimeEvent::SubtensorModule(crate::Event::EpochRun {
                netuid: n,
                block,
                owner,
                miners,
                validators,
                carried,
            }) if n == netuid => Some(Epoch { block, owner, miners, validators, carried }),
            _ => None,
        })
        .collect()
}

/// Runs blocks until `netuid`'s next epoch and returns it.
pub fn run_to_epoch(netuid: u16) -> Epoch {
    // Any tempo's period is at most 65536 blocks.
    for _ in 0..=65_536 {
        let seen = System::events().len();
        run_to_block(System::block_number() + 1);
        if let Some(epoch) = epochs_in(&System::events()[seen..], netuid).pop() {
            return epoch;
        }
    }
    panic!("subnet {netuid} ran no epoch");
}
