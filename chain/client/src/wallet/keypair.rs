//! sr25519 keys as Substrate and Bittensor derive them: BIP-39 mnemonic → mini secret
//! (PBKDF2, "mnemonic" salt) → expanded key; dev URIs like `//Alice`.

use polkadot_sdk::sp_core::crypto::{Pair as _, Ss58AddressFormat, Ss58Codec};
use polkadot_sdk::sp_core::sr25519;
use zeroize::Zeroizing;

use crate::client::{AccountId, Config};
use crate::wallet::WalletError;

/// The ss58 prefix of Bittensor (and of generic Substrate).
pub const SS58_PREFIX: u16 = 42;

/// An sr25519 key pair with the secret it came from. `Debug` shows only the address.
#[derive(Clone)]
pub struct Keypair {
    pair: sr25519::Pair,
    /// The 32-byte mini secret, when known (it is for phrases, seeds and hard-derived URIs).
    seed: Option<Zeroizing<[u8; 32]>>,
    /// The mnemonic, when the key came from one.
    phrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.ss58())
    }
}

impl Keypair {
    /// A new random key with a mnemonic of `words` words (12, 15, 18, 21 or 24).
    pub fn generate(words: usize) -> Result<(Keypair, Zeroizing<String>), WalletError> {
        let mnemonic = bip39::Mnemonic::generate(words)
            .map_err(|e| WalletError::Invalid(format!("cannot make a {words}-word mnemonic: {e}")))?;
        let phrase = Zeroizing::new(mnemonic.to_string());
        Ok((Keypair::from_phrase(&phrase)?, phrase))
    }

    /// The key of a BIP-39 mnemonic (no password), as btcli's `regen_coldkey --mnemonic`.
    pub fn from_phrase(phrase: &str) -> Result<Keypair, WalletError> {
        let phrase = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        let (pair, seed) = sr25519::Pair::from_phrase(&phrase, None)
            .map_err(|_| WalletError::Invalid("the mnemonic is not a valid BIP-39 phrase".into()))?;
        Ok(Keypair { pair, seed: Some(Zeroizing::new(seed)), phrase: Some(Zeroizing::new(phrase)) })
    }

    /// The key of a 32-byte mini secret (`secretSeed` in a keyfile).
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair { pair: sr25519::Pair::from_seed(seed), seed: Some(Zeroizing::new(*seed)), phrase: None }
    }

    /// The key of a 64-byte sr25519 secret (`privateKey` in a keyfile: key then nonce, ed25519 form).
    pub fn from_private_key(secret: &[u8]) -> Result<Keypair, WalletError> {
        let pair = sr25519::Pair::from_seed_slice(secret)
            .map_err(|_| WalletError::Invalid("privateKey is not a 64-byte sr25519 secret".into()))?;
        Ok(Keypair { pair, seed: None, phrase: None })
    }

    /// A development key from a Substrate URI such as `//Alice` or `//miner1//hotkey`.
    pub fn from_uri(uri: &str) -> Result<Keypair, WalletError> {
        let (pair, seed) = sr25519::Pair::from_string_with_seed(uri, None)
            .map_err(|_| WalletError::Invalid("not a valid key URI (expected e.g. //Alice)".into()))?;
        Ok(Keypair { pair, seed: seed.map(Zeroizing::new), phrase: None })
    }

    pub fn public(&self) -> [u8; 32] {
        self.pair.public().0
    }

    pub fn account_id(&self) -> AccountId {
        AccountId::from(self.public())
    }

    /// The address in Bittensor's format (prefix 42).
    pub fn ss58(&self) -> String {
        ss58(&self.public())
    }

    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_deref()
    }

    pub fn phrase(&self) -> Option<&str> {
        self.phrase.as_deref().map(String::as_str)
    }

    /// The 64-byte secret key as keyfiles store it in `privateKey`.
    pub fn private_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.pair.to_raw_vec())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).0
    }

    pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        sr25519::Pair::verify(
            &sr25519::Signature::from_raw(*signature),
            message,
            &sr25519::Public::from_raw(*public),
        )
    }
}

/// An account's ss58 address with prefix 42.
pub fn ss58(public: &[u8; 32]) -> String {
    sr25519::Public::from_raw(*public).to_ss58check_with_version(Ss58AddressFormat::custom(SS58_PREFIX))
}

/// Parses an ss58 address (any prefix is accepted, the checksum must hold) into an account id.
pub fn parse_ss58(address: &str) -> Result<AccountId, WalletError> {
    let (public, _) = sr25519::Public::from_ss58check_with_version(address.trim())
        .map_err(|e| WalletError::Invalid(format!("{:?} is not an ss58 address: {e:?}", address.trim())))?;
    Ok(AccountId::from(public.0))
}

impl subxt::tx::Signer<Config> for Keypair {
    fn account_id(&self) -> AccountId {
        Keypair::account_id(self)
    }

    fn sign(&self, payload: &[u8]) -> subxt::utils::MultiSignature {
        subxt::utils::MultiSignature::Sr25519(Keypair::sign(self, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alice_has_her_well_known_address() {
        let alice = Keypair::from_uri("//Alice").unwrap();
        assert_eq!(alice.ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(parse_ss58(&alice.ss58()).unwrap(), alice.account_id());
    }

    #[test]
    fn the_dev_phrase_gives_the_substrate_dev_root_key() {
        let phrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
        let key = Keypair::from_phrase(phrase).unwrap();
        // Substrate's DEV_PHRASE root public key.
        assert_eq!(
            hex::encode(key.public()),
            "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"
        );
        let again = Keypair::from_seed(key.seed().unwrap());
        assert_eq!(again.public(), key.public());
        let from_secret = Keypair::from_private_key(&key.private_key()).unwrap();
        assert_eq!(from_secret.public(), key.public());
    }

    #[test]
    fn signatures_verify_and_debug_hides_secrets() {
        let (key, phrase) = Keypair::generate(12).unwrap();
        assert_eq!(phrase.split(' ').count(), 12);
        let signature = key.sign(b"window 7");
        assert!(Keypair::verify(&key.public(), b"window 7", &signature));
        assert!(!Keypair::verify(&key.public(), b"window 8", &signature));
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("Keypair({})", key.ss58()));
    }

    #[test]
    fn bad_input_is_refused_without_echoing_secrets() {
        let err = Keypair::from_phrase("not a real mnemonic at all").unwrap_err().to_string();
        assert!(!err.contains("real"));
        assert!(Keypair::from_private_key(&[1u8; 10]).is_err());
        assert!(parse_ss58("5Grwva").is_err());
    }
}
