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
