//! Genesis presets: `development` (Alice alone) and `local_testnet` (Alice and Bob authorities).
//! Both fund the well-known dev accounts and make Alice sudo.

use crate::{AccountId, Balance, TAO};
use alloc::{vec, vec::Vec};
use polkadot_sdk::{
    sp_consensus_aura::sr25519::AuthorityId as AuraId,
    sp_consensus_grandpa::AuthorityId as GrandpaId,
    sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET},
    sp_keyring::{Ed25519Keyring, Sr25519Keyring},
};
use serde_json::{json, Value};

/// What each dev account starts with.
pub const DEV_BALANCE: Balance = 1_000_000 * TAO;

fn genesis(authorities: &[(AuraId, GrandpaId)], sudo: AccountId, endowed: Vec<AccountId>) -> Value {
    json!({
        "balances": {
            "balances": endowed.into_iter().map(|a| (a, DEV_BALANCE)).collect::<Vec<_>>(),
        },
        "aura": {
            "authorities": authorities.iter().map(|(aura, _)| aura.clone()).collect::<Vec<_>>(),
        },
        "grandpa": {
            "authorities": authorities.iter().map(|(_, grandpa)| (grandpa.clone(), 1u64)).collect::<Vec<_>>(),
        },
        "sudo": { "key": Some(sudo) },
    })
}

fn authority(key: (Sr25519Keyring, Ed25519Keyring)) -> (AuraId, GrandpaId) {
    (key.0.public().into(), key.1.public().into())
}

fn dev_accounts() -> Vec<AccountId> {
    Sr25519Keyring::iter().map(|k| k.to_account_id()).collect()
}

/// The JSON patch of a preset, if `id` names one.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
    let patch = match id.as_ref() {
        DEV_RUNTIME_PRESET => genesis(
            &[authority((Sr25519Keyring::Alice, Ed25519Keyring::Alice))],
            Sr25519Keyring::Alice.to_account_id(),
            dev_accounts(),
        ),
        LOCAL_TESTNET_RUNTIME_PRESET => genesis(
            &[
                authority((Sr25519Keyring::Alice, Ed25519Keyring::Alice)),
                authority((Sr25519Keyring::Bob, Ed25519Keyring::Bob)),
            ],
            Sr25519Keyring::Alice.to_account_id(),
            dev_accounts(),
        ),
        _ => return None,
    };
    // Serializing a `Value` of plain data cannot fail.
    Some(serde_json::to_string(&patch).expect("JSON values serialize").into_bytes())
}

pub fn preset_names() -> Vec<PresetId> {
    vec![PresetId::from(DEV_RUNTIME_PRESET), PresetId::from(LOCAL_TESTNET_RUNTIME_PRESET)]
}
