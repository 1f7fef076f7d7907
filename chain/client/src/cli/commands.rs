//! The subcommands: `wallet new|regen|list`, `register`, `stake add|remove`, `metagraph`, `balance`.

use std::future::Future;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::args::{ChainArgs, WalletArgs};
use super::table::metagraph_table;
use super::CliError;
use crate::units::{format_tao, parse_tao};
use crate::wallet::{parse_ss58, Keypair, PasswordSource, Wallet};
use crate::AccountId;

/// Wallet and chain commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ChainCommand {
    /// Create, regenerate, list and check wallets (btcli's layout under ~/.bittensor/wallets).
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Register the wallet's hotkey in a subnet, paying the current burn from its coldkey.
    Register(RegisterArgs),
    /// Stake TAO from the coldkey on a hotkey, or take it back.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Show a subnet's neurons: uid, hotkey, stake, incentive, dividends, emission, last update.
    Metagraph(MetagraphArgs),
    /// Show the free balance of the wallet's coldkey and hotkey (or of any address).
    Balance(BalanceArgs),
}

#[derive(Debug, Clone, Subcommand)]
pub enum WalletCommand {
    /// Create a new coldkey and hotkey (each with a fresh mnemonic, shown once).
    New(NewArgs),
    /// Recreate a key from its mnemonic, seed or (for dev keys) URI.
    Regen(RegenArgs),
    /// List wallets and their hotkeys with their addresses.
    List(ListArgs),
    /// Load the coldkey (decrypting it) and the hotkey, and print their addresses.
    Check(ListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Words in each new mnemonic.
    #[arg(long, default_value_t = 12, value_parser = parse_words)]
    words: usize,
    /// Only create the hotkey (the coldkey exists already).
    #[arg(long, conflicts_with = "coldkey_only")]
    hotkey_only: bool,
    /// Only create the coldkey.
    #[arg(long)]
    coldkey_only: bool,
    /// Store the coldkey unencrypted (dev and localnet keys only).
    #[arg(long)]
    no_password: bool,
    /// Replace existing key files.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    Coldkey,
    Hotkey,
}

#[derive(Debug, Clone, Args)]
pub struct RegenArgs {
    /// Which key to regenerate.
    #[arg(value_enum)]
    key: KeyKind,
    #[command(flatten)]
    wallet: WalletArgs,
    /// The BIP-39 mnemonic. Better: leave out --mnemonic/--seed/--uri and type it at the hidden
    /// prompt, or set SUBNET_MNEMONIC (a command line shows in `ps` and shell history).
    #[arg(long, env = "SUBNET_MNEMONIC", hide_env_values = true, group = "source", value_parser = secret)]
    mnemonic: Option<Secret>,
    /// The 32-byte secret seed, hex (or SUBNET_SEED).
    #[arg(long, env = "SUBNET_SEED", hide_env_values = true, group = "source", value_parser = secret)]
    seed: Option<Secret>,
    /// A development key URI such as //Alice or //miner1//hotkey.
    #[arg(long, group = "source")]
    uri: Option<String>,
    /// Store the coldkey unencrypted (dev and localnet keys only).
    #[arg(long)]
    no_password: bool,
    /// Replace an existing key file.
    #[arg(long)]
    overwrite: bool,
}

/// A secret from the command line or environment: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret(zeroize::Zeroizing::new(text.to_string())))
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    wallet: WalletArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// The subnet.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// Refuse if registration costs more than this many TAO.
    #[arg(long, value_parser = parse_tao_arg)]
    max_burn: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StakeCommand {
    /// Move TAO from the coldkey's balance to stake on the hotkey.
    Add(StakeArgs),
    /// Move staked TAO back to the coldkey's balance.
    Remove(StakeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StakeArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// The subnet.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
    /// Amount in TAO (up to 9 decimals).
    #[arg(long, value_parser = parse_tao_arg)]
    amount: u64,
    /// Stake on this hotkey address instead of the wallet's hotkey.
    #[arg(long)]
    hotkey_ss58: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MetagraphArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The subnet.
    #[arg(long, default_value_t = 1)]
    netuid: u16,
}

#[derive(Debug, Clone, Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Show this address instead of the wallet's keys.
    #[arg(long)]
    ss58: Option<String>,
}

fn parse_words(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n @ (12 | 15 | 18 | 21 | 24)) => Ok(n),
        _ => Err("a mnemonic has 12, 15, 18, 21 or 24 words".into()),
    }
}

fn parse_tao_arg(text: &str) -> Result<u64, String> {
    parse_tao(text)
}

impl ChainCommand {
    /// Runs the command, printing results on stdout.
    pub async fn run(self) -> Result<(), CliError> {
        match self {
            ChainCommand::Wallet(WalletCommand::New(args)) => wallet_new(args),
            ChainCommand::Wallet(WalletCommand::Regen(args)) => wallet_regen(args),
            ChainCommand::Wallet(WalletCommand::List(args)) => wallet_list(args),
            ChainCommand::Wallet(WalletCommand::Check(args)) => wallet_check(args),
            ChainCommand::Register(args) => register(args).await,
            ChainCommand::Stake(StakeCommand::Add(args)) => stake(args, true).await,
            ChainCommand::Stake(StakeCommand::Remove(args)) => stake(args, false).await,
            ChainCommand::Metagraph(args) => metagraph(args).await,
            ChainCommand::Balance(args) => balance(args).await,
        }
    }
}

/// A new coldkey's password: `BT_COLD_PW_<NAME>` or asked twice on the terminal.
fn new_password(wallet: &Wallet, no_password: bool) -> Result<Option<zeroize::Zeroizing<String>>, CliError> {
    if no_password {
        return Ok(None);
    }
    Ok(Some(PasswordSource::EnvOrPrompt.get(wallet.name(), &wallet.coldkey_path(), true)?))
}

fn wallet_new(args: NewArgs) -> Result<(), CliError> {
    let wallet = args.wallet.wallet()?;
    // Refuse before asking for a password or writing anything.
    for (wanted, path) in
        [(!args.hotkey_only, wallet.coldkey_path()), (!args.coldkey_only, wallet.hotkey_path())]
    {
        if wanted && !args.overwrite && path.exists() {
            return Err(crate::WalletError::Exists { path }.into());
        }
    }
    if !args.hotkey_only {
        let password = new_password(&wallet, args.no_password)?;
        let (key, phrase) = Keypair::generate(args.words)?;
        wallet.write_coldkey(&key, password.as_deref().map(String::as_str), args.overwrite)?;
        println!("coldkey {} written to {}", key.ss58(), wallet.coldkey_path().display());
        print_mnemonic("coldkey", &phrase);
    }
    if !args.coldkey_only {
        let (key, phrase) = Keypair::generate(args.words)?;
        wallet.write_hotkey(&key, args.overwrite)?;
        println!("hotkey {} written to {}", key.ss58(), wallet.hotkey_path().display());
        print_mnemonic("hotkey", &phrase);
    }
    Ok(())
}

/// The one time a secret is shown: to the person creating the key, on stdout, never in logs.
fn print_mnemonic(kind: &str, phrase: &str) {
    println!("  {kind} mnemonic (write it down; it is the only way to recover this key):\n  {phrase}");
}

fn wallet_regen(args: RegenArgs) -> Result<(), CliError> {
    let wallet = args.wallet.wallet()?;
    let key = match (&args.mnemonic, &args.seed, &args.uri) {
        (Some(phrase), _, _) => Keypair::from_phrase(&phrase.0)?,
        (_, Some(seed), _) => {
            let bytes = hex::decode(seed.0.trim().trim_start_matches("0x"))
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| CliError::Usage("--seed must be 32 bytes of hex".into()))?;
            Keypair::from_seed(&bytes)
        }
        (_, _, Some(uri)) => Keypair::from_uri(uri)?,
        _ => {
            let no_terminal =
                || CliError::Usage("give --mnemonic, --seed or --uri (no terminal to ask on)".into());
            if crate::wallet::in_ci() {
                return Err(no_terminal());
            }
            let phrase =
                zeroize::Zeroizing::new(rpassword::prompt_password("mnemonic: ").map_err(|_| no_terminal())?);
            Keypair::from_phrase(&phrase)?
        }
    };
    match args.key {
        KeyKind::Coldkey => {
            let password = new_password(&wallet, args.no_password)?;
            wallet.write_coldkey(&key, password.as_deref().map(String::as_str), args.overwrite)?;
            println!("coldkey {} written to {}", key.ss58(), wallet.coldkey_path().display());
        }
        KeyKind::Hotkey => {
            wallet.write_hotkey(&key, args.overwrite)?;
            println!("hotkey {} written to {}", key.ss58(), wallet.hotkey_path().display());
        }
    }
    Ok(())
}

fn wallet_list(args: ListArgs) -> Result<(), CliError> {
    let root = args.wallet.root();
    let wallets = Wallet::list(&root)?;
    if wallets.is_empty() {
        println!("no wallets in {}", root.display());
    }
    let unreadable = || "(unreadable)".to_string();
    for wallet in wallets {
        println!("{}  coldkey {}", wallet.name, wallet.coldkey.unwrap_or_else(unreadable));
        for (name, address) in wallet.hotkeys {
            println!("  hotkey {name}  {}", address.unwrap_or_else(unreadable));
        }
    }
    Ok(())
}

fn wallet_check(args: ListArgs) -> Result<(), CliError> {
    let wallet = args.wallet.wallet()?;
    let coldkey = wallet.coldkey(&PasswordSource::EnvOrPrompt)?;
    println!("coldkey {}  {}", coldkey.ss58(), wallet.coldkey_path().display());
    let hotkey = wallet.hotkey()?;
    println!("hotkey {}  {}", hotkey.ss58(), wallet.hotkey_path().display());
    Ok(())
}

/// Shows a spinner on a terminal while `work` waits for the chain.
async fn with_spinner<T>(message: String, work: impl Future<Output = T>) -> T {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    let result = work.await;
    spinner.finish_and_clear();
    result
}

async fn register(args: RegisterArgs) -> Result<(), CliError> {
    let wallet = args.wallet.wallet()?;
    let hotkey = wallet.hotkey()?;
    let coldkey = wallet.coldkey(&PasswordSource::EnvOrPrompt)?;
    let chain = args.chain.connect().await?;
    let message = format!("registering {} in subnet {} (waiting for finality)", hotkey.ss58(), args.netuid);
    let uid =
        with_spinner(message, chain.register(&coldkey, &hotkey.account_id(), args.netuid, args.max_burn))
            .await?;
    println!("hotkey {} has uid {uid} in subnet {}", hotkey.ss58(), args.netuid);
    Ok(())
}

async fn stake(args: StakeArgs, add: bool) -> Result<(), CliError> {
    let wallet = args.wallet.wallet()?;
    let hotkey: AccountId = match &args.hotkey_ss58 {
        Some(address) => parse_ss58(address)?,
        None => wallet.hotkey()?.account_id(),
    };
    let coldkey = wallet.coldkey(&PasswordSource::EnvOrPrompt)?;
    let chain = args.chain.connect().await?;
    let verb = if add { "staking" } else { "unstaking" };
    let message = format!("{verb} {} TAO (waiting for finality)", format_tao(args.amount));
    let included = with_spinner(message, async {
        if add {
            chain.add_stake(&coldkey, &hotkey, args.netuid, args.amount).await
        } else {
            chain.remove_stake(&coldkey, &hotkey, args.netuid, args.amount).await
        }
    })
    .await?;
    let staked = chain.stake_of(&hotkey, &coldkey.account_id(), args.netuid).await?;
    let balance = chain.balance(&coldkey.account_id()).await?;
    println!(
        "done at block {}: stake on {hotkey} in subnet {} is {} TAO; coldkey balance {} TAO",
        included.block_number,
        args.netuid,
        format_tao(staked),
        format_tao(balance)
    );
    Ok(())
}

async fn metagraph(args: MetagraphArgs) -> Result<(), CliError> {
    let chain = args.chain.connect().await?;
    let metagraph = chain.metagraph(args.netuid).await?;
    print!("{}", metagraph_table(&metagraph));
    Ok(())
}

async fn balance(args: BalanceArgs) -> Result<(), CliError> {
    let chain = args.chain.connect().await?;
    let accounts: Vec<(String, AccountId)> = match &args.ss58 {
        Some(address) => vec![("address".into(), parse_ss58(address)?)],
        None => {
            let wallet = args.wallet.wallet()?;
            let mut accounts = vec![("coldkey".to_string(), wallet.coldkey_account()?)];
            if let Ok(hotkey) = wallet.hotkey() {
                accounts.push(("hotkey".into(), hotkey.account_id()));
            }
            accounts
        }
    };
    for (label, account) in accounts {
        let free = chain.balance(&account).await?;
        println!("{label:<8} {account}  {} TAO", format_tao(free));
    }
    Ok(())
}
