//! The subnet on the fresh chain: created by Alice (sudo) with the localnet's hyperparameters,
//! bittensor wallet files for every participant (dev keys `//NAME`, hotkey `//NAME//hotkey`, so
//! the README's CLI commands can import the same keys), funds, registrations, validator stake,
//! and the run configuration published by the owner.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use subnet_client::api::chain;
use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::api::chain::runtime_types::subnet_runtime::RuntimeCall;
use subnet_client::units::RAO_PER_TAO;
use subnet_client::{Chain, Keypair, Wallet};
use subnet_peer::RunConfig;

use crate::cheats::Cheat;

/// One TAO in rao.
pub const TAO: u64 = RAO_PER_TAO;

/// The owner's hotkey (uid 0 of the subnet); it publishes the run id.
pub const OWNER_HOTKEY: &str = "//Alice//owner";

/// What a participant does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs `validator run`, with stake.
    Validator,
    /// Runs `miner run`.
    Miner,
    /// Runs `localnet cheat` (a scripted bad miner).
    Bad(Cheat),
}

impl Role {
    /// `validator`, `miner`, or the cheat's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Miner => "miner",
            Role::Bad(Cheat::Freeloader) => "freeloader",
            Role::Bad(Cheat::Copycat) => "copycat",
            Role::Bad(Cheat::Liar) => "liar",
            Role::Bad(Cheat::Garbage) => "garbage",
            Role::Bad(Cheat::Oversized) => "oversized",
        }
    }
}

/// A wallet of the localnet.
#[derive(Clone)]
pub struct Participant {
    /// The wallet name (`validator1`, `miner2`, ...).
    pub name: String,
    /// What it runs.
    pub role: Role,
    /// `//NAME`.
    pub coldkey: Keypair,
    /// `//NAME//hotkey`.
    pub hotkey: Keypair,
    /// Stake added to its hotkey, in TAO.
    pub stake: u64,
}

impl Participant {
    /// The participant `name` with dev keys.
    pub fn new(name: &str, role: Role, stake: u64) -> anyhow::Result<Self> {
        let coldkey = Keypair::from_uri(&format!("//{name}"))?;
        let hotkey = Keypair::from_uri(&format!("//{name}//hotkey"))?;
        Ok(Self { name: name.into(), role, coldkey, hotkey, stake })
    }
}

/// Validators `validator1..` with these stakes, then miners `miner1..=miners`, then the bad
/// miners (each named as its cheat).
pub fn participants(stakes: &[u64], miners: usize, bad: &[Cheat]) -> anyhow::Result<Vec<Participant>> {
    let mut out = Vec::new();
    for (i, stake) in stakes.iter().enumerate() {
        out.push(Participant::new(&format!("validator{}", i + 1), Role::Validator, *stake)?);
    }
    for i in 1..=miners {
        out.push(Participant::new(&format!("miner{i}"), Role::Miner, 0)?);
    }
    for cheat in bad {
        let role = Role::Bad(*cheat);
        out.push(Participant::new(role.as_str(), role, 0)?);
    }
    Ok(out)
}

/// The localnet's hyperparameters: epochs of 10 blocks, cheap registration, weights every 2
/// blocks at most, unlimited axon updates, loopback axons.
fn hyperparameters(netuid: u16) -> Vec<AdminCall> {
    vec![
        AdminCall::sudo_set_tempo { netuid, tempo: 10 },
        AdminCall::sudo_set_min_burn { netuid, min_burn: TAO / 1000 },
        AdminCall::sudo_set_max_burn { netuid, max_burn: TAO },
        AdminCall::sudo_set_weights_set_rate_limit { netuid, weights_set_rate_limit: 2 },
        AdminCall::sudo_set_serving_rate_limit { netuid, serving_rate_limit: 0 },
        AdminCall::sudo_set_allow_loopback_axons { netuid, allowed: true },
    ]
}

/// Creates subnet 1 if it does not exist (Alice owns it) and sets its hyperparameters.
pub async fn create_subnet(chain: &Chain) -> anyhow::Result<u16> {
    let alice = Keypair::from_uri("//Alice")?;
    let owner = Keypair::from_uri(OWNER_HOTKEY)?;
    let netuid = if chain.subnet_exists(1).await? {
        1
    } else {
        chain.register_network(&alice, &owner.account_id()).await.context("creating the subnet")?
    };
    for call in hyperparameters(netuid) {
        let sudo = chain::transactions().sudo().sudo(RuntimeCall::AdminUtils(call));
        let included = chain.submit("sudo", &sudo, &alice).await?;
        if !included.events.iter().any(|e| e == "Sudo.Sudid") {
            bail!("a sudo call failed: {:?}", included.events);
        }
    }
    // The owner hotkey pays for publishing the run id.
    chain.transfer(&alice, &owner.account_id(), 10 * TAO).await?;
    Ok(netuid)
}

/// Writes every participant's wallet under `wallets`, funds it from Alice, registers its hotkey
/// and adds its stake (skipping what a kept chain already has).
pub async fn enroll(
    chain: &Chain,
    netuid: u16,
    wallets: &Path,
    people: &[Participant],
) -> anyhow::Result<()> {
    let alice = Keypair::from_uri("//Alice")?;
    for p in people {
        let wallet = Wallet::new(wallets, &p.name, "default")?;
        wallet.write_coldkey(&p.coldkey, None, true)?;
        wallet.write_hotkey(&p.hotkey, true)?;
        let hot = p.hotkey.account_id();
        if chain.balance(&p.coldkey.account_id()).await? < (p.stake + 10) * TAO {
            chain.transfer(&alice, &p.coldkey.account_id(), (p.stake + 100) * TAO).await?;
            // Commitments, axons and weights are paid by the hotkey.
            chain.transfer(&alice, &hot, 100 * TAO).await?;
        }
        if chain.uid_of(netuid, &hot).await?.is_none() {
            chain
                .register(&p.coldkey, &hot, netuid, TAO)
                .await
                .with_context(|| format!("registering {}", p.name))?;
        }
        let staked = chain.stake_of(&hot, &p.coldkey.account_id(), netuid).await?;
        if staked < p.stake * TAO {
            chain.add_stake(&p.coldkey, &hot, netuid, p.stake * TAO - staked).await?;
        }
    }
    Ok(())
}

/// Waits until every validator holds a permit (they get one at the first epoch after their
/// stake).
pub async fn wait_for_permits(chain: &Chain, netuid: u16, people: &[Participant]) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let graph = chain.metagraph(netuid).await?;
        let permitted =
            |p: &Participant| graph.neuron(&p.hotkey.account_id()).is_some_and(|n| n.validator_permit);
        if people.iter().filter(|p| p.role == Role::Validator).all(permitted) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the validators have no permits after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes the run configuration `template` for `netuid` starting at the window after the
/// next (time for every peer to start), to `out`; the owner publishes its run id.
pub async fn write_run(chain: &Chain, template: &Path, netuid: u16, out: &Path) -> anyhow::Result<RunConfig> {
    let mut config = RunConfig::load(template)?;
    config.netuid = netuid;
    let schedule = config.schedule().map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    let head = chain.best_number().await?;
    config.window.first = schedule.window_of(head).0 + 2;
    std::fs::write(out, toml::to_string(&config)?).with_context(|| format!("writing {}", out.display()))?;
    let owner = Keypair::from_uri(OWNER_HOTKEY)?;
    chain.publish_run(&owner, netuid, config.run_id().0).await.context("publishing the run id")?;
    Ok(config)
}

/// The wallets directory of a run directory.
pub fn wallets_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("wallets")
}
