//! The subnet chain's runtime: System, Timestamp, Aura, Grandpa, Balances, TransactionPayment,
//! Sudo, SubtensorModule (7), Commitments (18) and AdminUtils (19), at subtensor's pallet indices.
//!
//! The token has 9 decimals (1 TAO = 10^9) and addresses use ss58 prefix 42, as on Bittensor.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` and `impl_runtime_apis` expand to large types.
#![recursion_limit = "256"]

#[cfg(feature = "wasm-builder")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

// The runtime macros expand to code that names `Vec` (in std it comes from the prelude).
#[allow(unused_imports)]
use alloc::vec::Vec;

mod apis;
/// The runtime API type the node's client is generated over.
pub use apis::RuntimeApi;
mod configs;
pub mod genesis;

pub use polkadot_sdk::{
    frame_support, frame_system, pallet_aura, pallet_balances, pallet_grandpa, pallet_sudo, pallet_timestamp,
    pallet_transaction_payment, sp_api, sp_core, sp_runtime, sp_version,
};
use sp_runtime::{
    generic, impl_opaque_keys,
    traits::{BlakeTwo256, IdentifyAccount, Verify},
    MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub type BlockNumber = u32;
pub type Signature = MultiSignature;
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// In rao: 1 TAO = 10^9 rao. u64, as subtensor.
pub type Balance = u64;
pub type Nonce = u32;
pub type Hash = sp_core::H256;

/// One TAO in rao.
pub const TAO: Balance = 1_000_000_000;
/// Subtensor's existential deposit.
pub const EXISTENTIAL_DEPOSIT: Balance = 500;

/// Block time. `fast-blocks` (localnet and tests) uses 1 s slots and a tempo of 10 blocks;
/// otherwise 12 s slots and a tempo of 360, as on Bittensor.
#[cfg(feature = "fast-blocks")]
pub const MILLISECS_PER_BLOCK: u64 = 1000;
#[cfg(not(feature = "fast-blocks"))]
pub const MILLISECS_PER_BLOCK: u64 = 12_000;
pub const SLOT_DURATION: u64 = MILLISECS_PER_BLOCK;
#[cfg(feature = "fast-blocks")]
pub const DEFAULT_TEMPO: u16 = 10;
#[cfg(not(feature = "fast-blocks"))]
pub const DEFAULT_TEMPO: u16 = 360;

#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
    spec_name: alloc::borrow::Cow::Borrowed("llm-subnet"),
    impl_name: alloc::borrow::Cow::Borrowed("llm-subnet"),
    authoring_version: 1,
    spec_version: 100,
    impl_version: 1,
    apis: apis::RUNTIME_API_VERSIONS,
    transaction_version: 1,
    system_version: 1,
};

/// Types the node needs without knowing the runtime's.
pub mod opaque {
    use super::*;
    pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;
    pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
    pub type Block = generic::Block<Header, UncheckedExtrinsic>;
}

impl_opaque_keys! {
    pub struct SessionKeys {
        pub aura: Aura,
        pub grandpa: Grandpa,
    }
}

#[frame_support::runtime]
mod runtime {
    #[runtime::runtime]
    #[runtime::derive(
        RuntimeCall,
        RuntimeEvent,
        RuntimeError,
        RuntimeOrigin,
        RuntimeFreezeReason,
        RuntimeHoldReason,
        RuntimeSlashReason,
        RuntimeLockId,
        RuntimeTask,
        RuntimeViewFunction
    )]
    pub struct Runtime;

    #[runtime::pallet_index(0)]
    pub type System = frame_system;
    #[runtime::pallet_index(2)]
    pub type Timestamp = pallet_timestamp;
    #[runtime::pallet_index(3)]
    pub type Aura = pallet_aura;
    #[runtime::pallet_index(4)]
    pub type Grandpa = pallet_grandpa;
    #[runtime::pallet_index(5)]
    pub type Balances = pallet_balances;
    #[runtime::pallet_index(6)]
    pub type TransactionPayment = pallet_transaction_payment;
    #[runtime::pallet_index(7)]
    pub type SubtensorModule = pallet_subnet;
    #[runtime::pallet_index(12)]
    pub type Sudo = pallet_sudo;
    #[runtime::pallet_index(18)]
    pub type Commitments = pallet_commitments;
    #[runtime::pallet_index(19)]
    pub type AdminUtils = pallet_admin_utils;
}

pub type Address = MultiAddress<AccountId, ()>;
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
pub type Block = generic::Block<Header, UncheckedExtrinsic>;
/// The transaction extensions, in the order subxt and polkadot.js sign them.
pub type TxExtension = (
    frame_system::CheckNonZeroSender<Runtime>,
    frame_system::CheckSpecVersion<Runtime>,
    frame_system::CheckTxVersion<Runtime>,
    frame_system::CheckGenesis<Runtime>,
    frame_system::CheckMortality<Runtime>,
    frame_system::CheckNonce<Runtime>,
    frame_system::CheckWeight<Runtime>,
    pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
);
pub type UncheckedExtrinsic = generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;
pub type Executive = frame_executive::Executive<
    Runtime,
    Block,
    frame_system::ChainContext<Runtime>,
    Runtime,
    AllPalletsWithSystem,
>;

use polkadot_sdk::frame_executive;
