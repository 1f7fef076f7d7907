//! Coldkey encryption exactly as `bittensor-wallet` does it (libsodium through sodiumoxide):
//! `$NACL` ‖ 24-byte nonce ‖ secretbox(plaintext) (Poly1305 tag first, then XSalsa20 ciphertext),
//! keyed by Argon2i v1.3 over the password with libsodium's "sensitive" limits and a fixed salt.

use std::path::Path;

use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use zeroize::Zeroizing;

use super::WalletError;

const PREFIX: &[u8] = b"$NACL";
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// bittensor-wallet's `NACL_SALT`.
const SALT: &[u8; 16] = b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1";
/// libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE` (passes).
const OPS_LIMIT: u32 = 8;
/// libsodium `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE`: 512 MiB, in KiB.
const MEM_LIMIT_KIB: u32 = 512 * 1024;

/// Why a keyfile could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("wrong password")]
    WrongPassword,
    #[error("not a $NACL keyfile: {0}")]
    Malformed(&'static str),
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

impl EncryptionError {
    /// The same error, naming the file.
    pub fn at(self, path: &Path) -> WalletError {
        match self {
            EncryptionError::WrongPassword => WalletError::WrongPassword { path: path.to_path_buf() },
            other => WalletError::BadKeyfile { path: path.to_path_buf(), why: other.to_string() },
        }
    }
}

/// Whether keyfile bytes are NaCl-encrypted.
pub fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(PREFIX)
}

/// Whether keyfile bytes use an encryption older bittensor versions wrote (Ansible vault, Fernet),
/// which this client does not read.
pub fn is_legacy_encrypted(data: &[u8]) -> bool {
    data.starts_with(b"$ANSIBLE_VAULT") || data.starts_with(b"gAAAAA")
}

fn derive_key(password: &[u8]) -> Result<Zeroizing<[u8; 32]>, EncryptionError> {
    let params = argon2::Params::new(MEM_LIMIT_KIB, OPS_LIMIT, 1, Some(32))
        .map_err(|e| EncryptionError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, SALT, key.as_mut())
        .map_err(|e| EncryptionError::Kdf(e.to_string()))?;
    Ok(key)
}

/// Encrypts keyfile bytes under `password` with a fresh random nonce.
pub fn encrypt(plain: &[u8], password: &[u8]) -> Result<Vec<u8>, EncryptionError> {
    let key = derive_key(password)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    let sealed =
        cipher.encrypt(&nonce, plain).map_err(|_| EncryptionError::Malformed("encryption failed"))?;
    let mut out = Vec::with_capacity(PREFIX.len() + NONCE_BYTES + sealed.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `$NACL` keyfile bytes; a wrong password (or tampered file) fails authentication.
pub fn decrypt(data: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, EncryptionError> {
    let body = data.strip_prefix(PREFIX).ok_or(EncryptionError::Malformed("missing $NACL prefix"))?;
    if body.len() < NONCE_BYTES + TAG_BYTES {
        return Err(EncryptionError::Malformed("too short"));
    }
    let (nonce, sealed) = body.split_at(NONCE_BYTES);
    let key = derive_key(password)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map(Zeroizing::new)
        .map_err(|_| EncryptionError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let sealed = encrypt(b"{\"secretSeed\":\"0x00\"}", b"correct horse").unwrap();
        assert!(is_encrypted(&sealed));
        assert_eq!(sealed.len(), 5 + 24 + 16 + 21);
        assert_eq!(decrypt(&sealed, b"correct horse").unwrap().as_slice(), b"{\"secretSeed\":\"0x00\"}");
        assert!(matches!(decrypt(&sealed, b"wrong"), Err(EncryptionError::WrongPassword)));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(decrypt(&tampered, b"correct horse"), Err(EncryptionError::WrongPassword)));
        assert!(matches!(decrypt(b"$NACLshort", b"x"), Err(EncryptionError::Malformed(_))));
        assert!(matches!(decrypt(b"{}", b"x"), Err(EncryptionError::Malformed(_))));
    }
}
