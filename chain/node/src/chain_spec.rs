//! The chains this node knows: `dev` (Alice alone) and `local` (Alice and Bob), both built from the
//! embedded wasm runtime's own genesis presets, so the node never duplicates genesis logic.

use polkadot_sdk::{
    sc_chain_spec::{ChainSpecBuilder, ChainType, NoExtension, Properties},
    sc_service,
    sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET},
};
use serde_json::json;

/// The runtime the chains start with (see `build.rs`).
pub const WASM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runtime.wasm"));

pub type ChainSpec = sc_service::GenericChainSpec;

/// Token symbol, decimals and address format, as Bittensor's chain reports them.
fn properties() -> Properties {
    let value = json!({ "tokenSymbol": "TAO", "tokenDecimals": 9, "ss58Format": 42 });
    value.as_object().cloned().unwrap_or_default()
}

fn builder(name: &str, id: &str, chain_type: ChainType, preset: &str) -> ChainSpecBuilder<NoExtension> {
    ChainSpec::builder(WASM_BINARY, NoExtension::default())
        .with_name(name)
        .with_id(id)
        .with_protocol_id("llm-subnet")
        .with_chain_type(chain_type)
        .with_genesis_config_preset_name(preset)
        .with_properties(properties())
}

/// Single authority (Alice); `--dev` uses it with temporary state.
pub fn development() -> ChainSpec {
    builder("Development", "dev", ChainType::Development, DEV_RUNTIME_PRESET).build()
}

/// Alice and Bob as Aura and GRANDPA authorities: the two-node localnet.
pub fn local_testnet() -> ChainSpec {
    builder("Local Testnet", "local_testnet", ChainType::Local, LOCAL_TESTNET_RUNTIME_PRESET).build()
}
