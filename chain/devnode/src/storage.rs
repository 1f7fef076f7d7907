//! Storage keys of FRAME storage items, for reading a chain's state over raw JSON-RPC:
//! `twox128(pallet) ++ twox128(item)`, then each map key hashed by its declared hasher.

use parity_scale_codec::Encode;
use sp_crypto_hashing::{blake2_128, twox_128, twox_64};

/// How a map's key is hashed into the storage key (as declared in the pallet).
#[derive(Debug, Clone, Copy)]
pub enum Hasher {
    Identity,
    Twox64Concat,
    Blake2_128Concat,
}

/// The key of a plain storage value, or the prefix of a map.
pub fn prefix(pallet: &str, item: &str) -> Vec<u8> {
    let mut key = twox_128(pallet.as_bytes()).to_vec();
    key.extend(twox_128(item.as_bytes()));
    key
}

/// The key of one entry of a map (one `(hasher, key)` pair per map level).
pub fn map_key(pallet: &str, item: &str, keys: &[(Hasher, &dyn EncodeDyn)]) -> Vec<u8> {
    let mut key = prefix(pallet, item);
    for (hasher, k) in keys {
        let encoded = k.encode_dyn();
        match hasher {
            Hasher::Identity => {}
            Hasher::Twox64Concat => key.extend(twox_64(&encoded)),
            Hasher::Blake2_128Concat => key.extend(blake2_128(&encoded)),
        }
        key.extend(encoded);
    }
    key
}

/// Object-safe `Encode`, so keys of different types fit in one list.
pub trait EncodeDyn {
    fn encode_dyn(&self) -> Vec<u8>;
}

impl<T: Encode> EncodeDyn for T {
    fn encode_dyn(&self) -> Vec<u8> {
        self.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_account_key_matches_the_well_known_one() {
        // `System.Account` of Alice, as every Substrate chain (and polkadot.js) spells it.
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d").unwrap();
        let alice: [u8; 32] = alice.try_into().unwrap();
        let key = map_key("System", "Account", &[(Hasher::Blake2_128Concat, &alice)]);
        assert_eq!(
            hex::encode(key),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9de1e86a9a8c739864cf3cc5ec2bea59fd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
    }
}
