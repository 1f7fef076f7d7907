//! Where a coldkey password comes from: the environment or the terminal, never a log.
//!
//! Two environment conventions are read:
//! - `BT_COLD_PW_<NAME>`: the password in plain text, keyed by wallet name (upper-cased, anything
//!   but letters and digits as `_`, so `my-wallet` reads `BT_COLD_PW_MY_WALLET`), for scripts;
//! - `BT_PW_<PATH>`: bittensor-wallet 4's own variable, keyed by the coldkey's path (`/` and `.`
//!   become `_`, upper-cased), holding base64 of the password XOR-ed with the variable's name.

use std::path::Path;

use base64::Engine;
use zeroize::Zeroizing;

use super::WalletError;

/// How to obtain a coldkey password.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// This password.
    Given(Zeroizing<String>),
    /// The environment, then a prompt on the terminal; an error when there is no terminal.
    EnvOrPrompt,
}

/// `BT_COLD_PW_<NAME>` for a wallet name.
pub fn password_env_var(wallet: &str) -> String {
    let name: String = wallet
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("BT_COLD_PW_{name}")
}

/// `CI` set to anything but empty, `0` or `false`.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// bittensor-wallet's variable name for a keyfile path.
fn btwallet_env_var(path: &Path) -> String {
    let path = path.to_string_lossy().replace(['/', '.'], "_");
    format!("BT_PW_{}", path.to_uppercase())
}

/// Decodes bittensor-wallet's obfuscated value: base64, then XOR with the variable name.
fn btwallet_password(var: &str, value: &str) -> Option<Zeroizing<String>> {
    let bytes = Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?);
    let key = var.as_bytes();
    let plain: Vec<u8> = bytes.iter().enumerate().map(|(i, b)| b ^ key[i % key.len()]).collect();
    String::from_utf8(plain).ok().map(Zeroizing::new)
}

impl PasswordSource {
    /// The password for the coldkey of wallet `name` at `path`. `confirm` asks twice (new keys).
    pub fn get(&self, name: &str, path: &Path, confirm: bool) -> Result<Zeroizing<String>, WalletError> {
        if let PasswordSource::Given(password) = self {
            return Ok(password.clone());
        }
        let plain_var = password_env_var(name);
        if let Ok(password) = std::env::var(&plain_var) {
            if confirm && password.is_empty() {
                return Err(WalletError::Invalid(format!(
                    "{plain_var} is empty; an empty password protects nothing (use --no-password for dev keys)"
                )));
            }
            return Ok(Zeroizing::new(password));
        }
        let btwallet_var = btwallet_env_var(path);
        if let Ok(value) = std::env::var(&btwallet_var) {
            return btwallet_password(&btwallet_var, &value).ok_or_else(|| {
                WalletError::Invalid(format!("{btwallet_var} is not a bittensor-wallet password value"))
            });
        }
        let need = || {
            if confirm {
                WalletError::Invalid(format!(
                    "a new coldkey needs a password: set {plain_var} or run in a terminal (or --no-password for dev keys)"
                ))
            } else {
                WalletError::NeedPassword { path: path.to_path_buf(), env_var: plain_var.clone() }
            }
        };
        if in_ci() {
            return Err(need());
        }
        let prompt = format!("password for the coldkey of wallet {name}: ");
        let password = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|_| need())?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("retype it: ").map_err(|_| need())?);
            if *again != *password {
                return Err(WalletError::Invalid("the passwords do not match".into()));
            }
        }
        if password.is_empty() {
            return Err(WalletError::Invalid(
                "an empty password does not protect anything; use --no-password for dev keys".into(),
            ));
        }
        Ok(password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btwallet_env_values_decode() {
        let var = btwallet_env_var(Path::new("/tmp/btw-exp/wallets/testw/coldkey"));
        assert_eq!(var, "BT_PW__TMP_BTW-EXP_WALLETS_TESTW_COLDKEY");
        let key = var.as_bytes();
        let obfuscated: Vec<u8> = b"pw-123".iter().enumerate().map(|(i, b)| b ^ key[i % key.len()]).collect();
        let value = base64::engine::general_purpose::STANDARD.encode(obfuscated);
        assert_eq!(btwallet_password(&var, &value).unwrap().as_str(), "pw-123");
        assert!(btwallet_password(&var, "***").is_none());
    }

    #[test]
    fn given_passwords_are_used_as_is() {
        let source = PasswordSource::Given(Zeroizing::new("x".into()));
        assert_eq!(source.get("w", Path::new("/w/coldkey"), false).unwrap().as_str(), "x");
        assert_eq!(password_env_var("miner1"), "BT_COLD_PW_MINER1");
        assert_eq!(password_env_var("my-wallet.2"), "BT_COLD_PW_MY_WALLET_2");
    }
}
