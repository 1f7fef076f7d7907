//! Bittensor wallets: `WALLETS/NAME/coldkey`, `coldkeypub.txt`, `hotkeys/HOTKEY`, read and written
//! exactly as btcli (`bittensor-wallet`) does, so keys move freely between the two.

mod encryption;
mod files;
#[cfg(test)]
mod fuzz_tests;
mod keyfile;
mod keypair;
mod password;

use std::path::{Path, PathBuf};

pub use encryption::{decrypt, encrypt, is_encrypted, is_legacy_encrypted};
pub use keyfile::KeyfileData;
pub use keypair::{parse_ss58, ss58, Keypair, SS58_PREFIX};
pub(crate) use password::in_ci;
pub use password::{password_env_var, PasswordSource};

use crate::client::AccountId;

/// What can go wrong with a wallet. Messages name files and addresses, never secrets.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path} does not exist (create it with `wallet new` or `wallet regen`)")]
    Missing { path: PathBuf },
    #[error("{path} already exists; pass --overwrite to replace it")]
    Exists { path: PathBuf },
    #[error("{path}: {why}")]
    BadKeyfile { path: PathBuf, why: String },
    #[error("wrong password for the coldkey in {path}")]
    WrongPassword { path: PathBuf },
    #[error("the coldkey in {path} is encrypted: set {env_var} or run in a terminal to be asked")]
    NeedPassword { path: PathBuf, env_var: String },
    #[error("{0}")]
    Invalid(String),
}

/// One wallet: a coldkey and one selected hotkey, under a wallets directory.
#[derive(Debug, Clone)]
pub struct Wallet {
    root: PathBuf,
    name: String,
    hotkey: String,
}

/// A wallet on disk, for listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSummary {
    pub name: String,
    /// The coldkey's address from `coldkeypub.txt`, if readable.
    pub coldkey: Option<String>,
    /// Hotkey names with their addresses (when readable).
    pub hotkeys: Vec<(String, Option<String>)>,
}

/// `~/.bittensor/wallets`, btcli's default.
pub fn default_wallets_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".bittensor").join("wallets")
}

/// Wallet and hotkey names become path components: keep them to a safe alphabet.
fn check_name(kind: &str, name: &str) -> Result<(), WalletError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(WalletError::Invalid(format!(
            "{kind} name {name:?} must be 1-64 characters of letters, digits, '_', '-' or '.'"
        )))
    }
}

impl Wallet {
    pub fn new(root: impl Into<PathBuf>, name: &str, hotkey: &str) -> Result<Wallet, WalletError> {
        check_name("wallet", name)?;
        check_name("hotkey", hotkey)?;
        Ok(Wallet { root: root.into(), name: name.to_string(), hotkey: hotkey.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hotkey_name(&self) -> &str {
        &self.hotkey
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    pub fn coldkey_path(&self) -> PathBuf {
        self.dir().join("coldkey")
    }

    pub fn coldkeypub_path(&self) -> PathBuf {
        self.dir().join("coldkeypub.txt")
    }

    pub fn hotkey_path(&self) -> PathBuf {
        self.dir().join("hotkeys").join(&self.hotkey)
    }

    fn hotkeypub_path(&self) -> PathBuf {
        self.dir().join("hotkeys").join(format!("{}pub.txt", self.hotkey))
    }

    /// The coldkey's account, from `coldkeypub.txt` (no password needed).
    pub fn coldkey_account(&self) -> Result<AccountId, WalletError> {
        let path = self.coldkeypub_path();
        let data = KeyfileData::parse(&files::read_bounded(&path)?, &path)?;
        Ok(AccountId::from(data.public))
    }

    /// The hotkey, which btcli stores unencrypted.
    pub fn hotkey(&self) -> Result<Keypair, WalletError> {
        let path = self.hotkey_path();
        let bytes = zeroize::Zeroizing::new(files::read_bounded(&path)?);
        if is_encrypted(&bytes) || is_legacy_encrypted(&bytes) {
            return Err(WalletError::BadKeyfile { path, why: "encrypted hotkeys are not supported".into() });
        }
        KeyfileData::parse(&bytes, &path)?.keypair(&path)
    }

    /// The coldkey, decrypted with a password from `password` when the file is encrypted.
    pub fn coldkey(&self, password: &PasswordSource) -> Result<Keypair, WalletError> {
        let path = self.coldkey_path();
        let bytes = files::read_bounded(&path)?;
        if is_legacy_encrypted(&bytes) {
            return Err(WalletError::BadKeyfile {
                path,
                why: "encrypted the old way (Ansible vault or Fernet): re-encrypt it with a current btcli"
                    .into(),
            });
        }
        let plain = if is_encrypted(&bytes) {
            let password = password.get(&self.name, &path, false)?;
            decrypt(&bytes, password.as_bytes()).map_err(|e| e.at(&path))?
        } else {
            zeroize::Zeroizing::new(bytes)
        };
        let key = KeyfileData::parse(&plain, &path)?.keypair(&path)?;
        if let Ok(public) = self.coldkey_account() {
            if public != key.account_id() {
                return Err(WalletError::BadKeyfile {
                    path,
                    why: "the coldkey does not match coldkeypub.txt".into(),
                });
            }
        }
        Ok(key)
    }

    /// Writes the coldkey (encrypted when `password` is given) and `coldkeypub.txt`.
    pub fn write_coldkey(
        &self,
        key: &Keypair,
        password: Option<&str>,
        overwrite: bool,
    ) -> Result<(), WalletError> {
        let path = self.coldkey_path();
        files::refuse_existing(&path, overwrite)?;
        let plain = KeyfileData::from_keypair(key).to_json();
        let bytes = match password {
            Some(password) => {
                zeroize::Zeroizing::new(encrypt(&plain, password.as_bytes()).map_err(|e| e.at(&path))?)
            }
            None => plain,
        };
        files::write_atomic(&path, &bytes)?;
        files::write_atomic(&self.coldkeypub_path(), &KeyfileData::public_only(key).to_json())
    }

    /// Writes the hotkey file and its `HOTKEYpub.txt`.
    pub fn write_hotkey(&self, key: &Keypair, overwrite: bool) -> Result<(), WalletError> {
        let path = self.hotkey_path();
        files::refuse_existing(&path, overwrite)?;
        files::write_atomic(&path, &KeyfileData::from_keypair(key).to_json())?;
        files::write_atomic(&self.hotkeypub_path(), &KeyfileData::public_only(key).to_json())
    }

    /// Every wallet under `root`, sorted by name; unreadable parts show as `None`.
    pub fn list(root: &Path) -> Result<Vec<WalletSummary>, WalletError> {
        let mut wallets = Vec::new();
        for name in files::dir_names(root)? {
            let Ok(wallet) = Wallet::new(root, &name, "default") else {
                tracing::warn!(name, "skipping a wallet directory whose name this client does not accept");
                continue;
            };
            if !wallet.dir().is_dir() {
                continue;
            }
            let coldkey = wallet.coldkey_account().ok().map(|a| ss58(&a.0));
            let mut hotkeys = Vec::new();
            for hotkey in files::dir_names(&wallet.dir().join("hotkeys")).unwrap_or_default() {
                if hotkey.ends_with("pub.txt") {
                    continue;
                }
                let address =
                    Wallet::new(root, &name, &hotkey).ok().and_then(|w| w.hotkey().ok()).map(|k| k.ss58());
                hotkeys.push((hotkey, address));
            }
            wallets.push(WalletSummary { name, coldkey, hotkeys });
        }
        Ok(wallets)
    }
}
