//! The JSON inside keyfiles, as `bittensor-wallet` writes it: `accountId`, `publicKey`,
//! `privateKey` (64-byte sr25519 secret), `secretPhrase`, `secretSeed`, `ss58Address`,
//! `cryptoType` (1 = sr25519). Hex fields carry a `0x` prefix.

use std::path::Path;

use serde_json::{json, Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::{ss58, Keypair, WalletError};

/// The key material and public parts of one keyfile.
pub struct KeyfileData {
    pub public: [u8; 32],
    phrase: Option<Zeroizing<String>>,
    seed: Option<Zeroizing<[u8; 32]>>,
    private_key: Option<Zeroizing<Vec<u8>>>,
}

fn bad(path: &Path, why: impl Into<String>) -> WalletError {
    WalletError::BadKeyfile { path: path.to_path_buf(), why: why.into() }
}

fn hex_field(
    map: &Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<Zeroizing<Vec<u8>>>, WalletError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => hex::decode(s.trim_start_matches("0x"))
            .map(|b| Some(Zeroizing::new(b)))
            .map_err(|_| bad(path, format!("{name} is not hex"))),
        Some(_) => Err(bad(path, format!("{name} is not a string"))),
    }
}

impl KeyfileData {
    /// Everything needed to write a full keyfile for `key`.
    pub fn from_keypair(key: &Keypair) -> KeyfileData {
        KeyfileData {
            public: key.public(),
            phrase: key.phrase().map(|p| Zeroizing::new(p.to_string())),
            seed: key.seed().map(|s| Zeroizing::new(*s)),
            private_key: Some(key.private_key()),
        }
    }

    /// Only the public parts (`coldkeypub.txt`, `HOTKEYpub.txt`).
    pub fn public_only(key: &Keypair) -> KeyfileData {
        KeyfileData { public: key.public(), phrase: None, seed: None, private_key: None }
    }

    /// Parses keyfile JSON. The public key comes from `publicKey`/`accountId`, or else
    /// `ss58Address`; they must agree.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<KeyfileData, WalletError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| bad(path, "not a JSON keyfile"))?;
        let Value::Object(mut map) = value else { return Err(bad(path, "not a JSON object")) };
        let parsed = Self::from_map(&map, path);
        // The secrets were copied out (into zeroizing buffers); wipe the JSON's own strings.
        for value in map.values_mut() {
            if let Value::String(s) = value {
                s.zeroize();
            }
        }
        parsed
    }

    fn from_map(map: &Map<String, Value>, path: &Path) -> Result<KeyfileData, WalletError> {
        match map.get("cryptoType") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => return Err(bad(path, format!("cryptoType {v} is not sr25519 (1)"))),
        }
        let mut publics = Vec::new();
        for name in ["publicKey", "accountId"] {
            if let Some(bytes) = hex_field(map, name, path)? {
                publics.push(
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| bad(path, format!("{name} is not 32 bytes")))?,
                );
            }
        }
        if let Some(address) = map.get("ss58Address").and_then(Value::as_str) {
            publics.push(super::parse_ss58(address).map_err(|_| bad(path, "ss58Address is not valid"))?.0);
        }
        let public = *publics.first().ok_or_else(|| bad(path, "no publicKey, accountId or ss58Address"))?;
        if publics.iter().any(|p| *p != public) {
            return Err(bad(path, "publicKey, accountId and ss58Address disagree"));
        }
        let phrase = match map.get("secretPhrase") {
            Some(Value::String(s)) => Some(Zeroizing::new(s.clone())),
            None | Some(Value::Null) => None,
            Some(_) => return Err(bad(path, "secretPhrase is not a string")),
        };
        let seed = match hex_field(map, "secretSeed", path)? {
            Some(bytes) => Some(Zeroizing::new(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| bad(path, "secretSeed is not 32 bytes"))?,
            )),
            None => None,
        };
        let private_key = hex_field(map, "privateKey", path)?;
        Ok(KeyfileData { public, phrase, seed, private_key })
    }

    /// The key pair, from the first secret present (phrase, seed, private key, as btcli), checked
    /// against the file's public key.
    pub fn keypair(&self, path: &Path) -> Result<Keypair, WalletError> {
        let key = if let Some(phrase) = &self.phrase {
            Keypair::from_phrase(phrase).map_err(|_| bad(path, "secretPhrase is not a valid mnemonic"))?
        } else if let Some(seed) = &self.seed {
            Keypair::from_seed(seed)
        } else if let Some(secret) = &self.private_key {
            Keypair::from_private_key(secret)
                .map_err(|_| bad(path, "privateKey is not a 64-byte sr25519 secret"))?
        } else {
            return Err(bad(path, "holds no secret (only a public key)"));
        };
        if key.public() != self.public {
            return Err(bad(path, "its secret does not match its public key"));
        }
        Ok(key)
    }

    /// The JSON btcli writes (compact; field order does not matter to readers).
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let public = format!("0x{}", hex::encode(self.public));
        let mut map = Map::new();
        map.insert("accountId".into(), json!(public));
        map.insert("publicKey".into(), json!(public));
        map.insert("ss58Address".into(), json!(ss58(&self.public)));
        map.insert("cryptoType".into(), json!(1));
        if let Some(phrase) = &self.phrase {
            map.insert("secretPhrase".into(), json!(phrase.as_str()));
        }
        if let Some(seed) = &self.seed {
            map.insert("secretSeed".into(), json!(format!("0x{}", hex::encode(seed.as_ref()))));
        }
        if let Some(secret) = &self.private_key {
            map.insert("privateKey".into(), json!(format!("0x{}", hex::encode(secret.as_slice()))));
        }
        let json = Zeroizing::new(serde_json::to_vec(&map).expect("a JSON map serializes"));
        for value in map.values_mut() {
            if let Value::String(s) = value {
                s.zeroize();
            }
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    /// A hotkey file written by bittensor-wallet 4.1.1 for the dev phrase.
    const BTWALLET_HOTKEY: &str = r#"{"secretPhrase":"bottom drive obey lake curtain smoke basket hold race lonely fit walk","cryptoType":1,"privateKey":"0x05d65584630d16cd4af6d0bec10f34bb504a5dcb62dba2122d49f5a663763d0afd190cce74df356432b410bd64682309d6dedb27c76845daf388557cbac3ca34","secretSeed":"0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e","ss58Address":"5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV","publicKey":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a","accountId":"0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"}"#;

    #[test]
    fn a_btwallet_hotkey_loads_and_is_rewritten_identically() {
        let path = Path::new("hotkeys/default");
        let data = KeyfileData::parse(BTWALLET_HOTKEY.as_bytes(), path).unwrap();
        let key = data.keypair(path).unwrap();
        assert_eq!(key.ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
        let ours: Value = serde_json::from_slice(&KeyfileData::from_keypair(&key).to_json()).unwrap();
        let theirs: Value = serde_json::from_str(BTWALLET_HOTKEY).unwrap();
        assert_eq!(ours, theirs, "same fields, same values");
        assert_eq!(Keypair::from_phrase(PHRASE).unwrap().public(), key.public());
    }

    #[test]
    fn each_secret_alone_is_enough() {
        let path = Path::new("k");
        let full: Value = serde_json::from_str(BTWALLET_HOTKEY).unwrap();
        for keep in ["secretPhrase", "secretSeed", "privateKey"] {
            let mut map = full.as_object().unwrap().clone();
            map.retain(|k, _| {
                !matches!(k.as_str(), "secretPhrase" | "secretSeed" | "privateKey") || k == keep
            });
            let bytes = serde_json::to_vec(&map).unwrap();
            let key = KeyfileData::parse(&bytes, path).unwrap().keypair(path).unwrap();
            assert_eq!(key.ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", "{keep}");
        }
    }

    #[test]
    fn inconsistent_or_malformed_files_are_refused_without_secrets_in_the_message() {
        let path = Path::new("k");
        let other = Keypair::from_uri("//Bob").unwrap();
        let swapped = BTWALLET_HOTKEY.replace(
            "0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
            &format!("0x{}", hex::encode(other.public())),
        );
        assert!(KeyfileData::parse(swapped.as_bytes(), path).is_err(), "ss58 disagrees with publicKey");
        for bytes in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"publicKey":"0x12"}"#,
            br#"{"cryptoType":0,"publicKey":"0x00"}"#,
        ] {
            let err = KeyfileData::parse(bytes, path).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!err.is_empty(), "{}", String::from_utf8_lossy(bytes));
        }
        let public_only = KeyfileData::public_only(&other).to_json();
        let err = KeyfileData::parse(&public_only, path).unwrap().keypair(path).unwrap_err().to_string();
        assert!(err.contains("no secret"));
        let wrong_phrase = BTWALLET_HOTKEY.replace("bottom drive", "drive bottom");
        let err = match KeyfileData::parse(wrong_phrase.as_bytes(), path).unwrap().keypair(path) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a mismatched phrase must not load"),
        };
        assert!(!err.contains("bottom") && !err.contains("05d655"), "{err}");
    }
}
