//! The real `validator` binary with real `miner` processes on a real dev node (1 s blocks,
//! the `tiny` model). One validator with two honest miners and five scripted cheats: it
//! approves and scores every window, names each cheat's reason, keeps the same model as the
//! miners, sets weights that pay only the honest miners, and after the epochs their stake grows
//! and the cheats' does not. Two validators: stopping the one with most of the stake holds the
//! model (the other alone is no quorum), and training resumes when it returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::testing::{key, start, workspace_binary, Net, Process, TAO};
use subnet_client::{Keypair, Wallet};
use subnet_peer::client::ClientSeam;
use subnet_peer::testing::{dataset, run_config};
use subnet_peer::{ChainSeam, RunConfig};
use validator::Run;

use crate::cheats::{cheat, reports, row, Cheat};

/// A plain GET with a short timeout (status, body), or `None` if nothing answered.
async fn get(url: &str) -> Option<(u16, Vec<u8>)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().ok()?;
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.bytes().await.ok()?.to_vec()))
}

async fn status(axon: Option<std::net::SocketAddr>) -> Option<serde_json::Value> {
    let (code, body) = get(&format!("http://{}/status", axon?)).await?;
    (code == 200).then(|| serde_json::from_slice(&body).ok()).flatten()
}

/// What every `run` command of the test shares.
struct Common<'a> {
    config: &'a Path,
    data: &'a Path,
    url: &'a str,
    wallets: &'a Path,
    netuid: u16,
}

/// `miner run` or `validator run` arguments for the wallet `wallet` with state in `state`.
fn peer_args(kind: &str, c: &Common, state: &Path, wallet: &str) -> Vec<String> {
    let Common { config, data, url, wallets, netuid } = *c;
    let mut args: Vec<String> = [
        "run",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--chain-url",
        url,
        "--wallet-path",
        wallets.to_str().unwrap(),
        "--wallet-name",
        wallet,
        "--wallet-hotkey",
        "default",
        "--netuid",
        &netuid.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    if kind == "validator" {
        args.extend(["--weights-every".into(), "1".into()]);
    }
    args
}

/// A dev node with a loop subnet, validators staked and permitted, miners and extra hotkeys
/// registered, wallet files for the validators and miners, and the run configuration written
/// with its first window just ahead.
struct Devnet {
    net: Net,
    netuid: u16,
    dir: tempfile::TempDir,
    wallets: PathBuf,
    data: PathBuf,
    config: RunConfig,
    config_path: PathBuf,
    url: String,
    /// A client reading the chain as the first validator.
    watcher: ClientSeam,
    /// The validators' hotkeys (wallets named as given), then the miners' (`miner1`, ...),
    /// then the extra keys (no wallet files; for scripted cheats).
    validators: Vec<Keypair>,
    miners: Vec<Keypair>,
    extra: Vec<Keypair>,
}

impl Devnet {
    /// `validators`: (coldkey URI, wallet name, stake in TAO); `miners` honest miners with
    /// wallets; `extra` more hotkeys registered under //Eve.
    async fn start(validators: &[(&str, &str, u64)], miners: usize, extra: usize) -> Devnet {
        let net = start().await;
        let netuid = net.loop_subnet().await;
        net.sudo(AdminCall::sudo_set_weights_set_rate_limit { netuid, weights_set_rate_limit: 10 }).await;
        let chain = net.chain.clone();
        let dir = tempfile::tempdir().unwrap();
        let wallets = dir.path().join("wallets");
        let miner_colds = ["//Charlie", "//Dave", "//Ferdie"];
        let mut entries: Vec<(String, String, String, u64)> = validators
            .iter()
            .map(|(cold, wallet, stake)| {
                (cold.to_string(), format!("{cold}//validator"), wallet.to_string(), *stake)
            })
            .collect();
        for (i, cold) in miner_colds.iter().take(miners).enumerate() {
            entries.push((cold.to_string(), format!("{cold}//miner"), format!("miner{}", i + 1), 0));
        }
        let mut keys = Vec::new();
        for (cold, hot, wallet, stake) in &entries {
            let (cold, hot) = (key(cold), key(hot));
            net.fund(&hot, 10).await;
            chain.register(&cold, &hot.account_id(), netuid, 100 * TAO).await.unwrap();
            if *stake > 0 {
                chain.add_stake(&cold, &hot.account_id(), netuid, stake * TAO).await.unwrap();
            }
            Wallet::new(&wallets, wallet, "default").unwrap().write_hotkey(&hot, false).unwrap();
            keys.push(hot);
        }
        let eve = key("//Eve");
        let mut extras = Vec::new();
        for i in 0..extra {
            let hot = key(&format!("//Eve//cheat{i}"));
            net.fund(&hot, 10).await;
            chain.register(&eve, &hot.account_id(), netuid, 100 * TAO).await.unwrap();
            extras.push(hot);
        }
        let miners = keys.split_off(validators.len());
        let data = dir.path().join("data");
        let mut config = run_config(&dataset(&data), 10);
        config.netuid = netuid;
        config.window.blocks = 20;
        // GRANDPA finalizes ~4 blocks behind the head here: 8 blocks leave the validator ~4 to
        // fetch, check and land its approval after D_w is final.
        config.window.approval_blocks = 8;
        config.window.commit_margin = 3;
        config.inner.pages_per_step = 2;
        // Validators get their permits an epoch after their stake.
        let watcher = ClientSeam::new(chain.clone(), keys[0].clone());
        let limit = Instant::now() + Duration::from_secs(120);
        loop {
            let fin = watcher.finalized().await.unwrap();
            let neurons = watcher.neurons_at(netuid, fin).await.unwrap();
            if keys.iter().all(|k| neurons.iter().any(|n| n.hotkey == k.public() && n.permit)) {
                break;
            }
            assert!(Instant::now() < limit, "no validator permits");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let first = config.schedule().unwrap().window_of(chain.best_number().await.unwrap()).next();
        config.window.first = first.0;
        let config_path = dir.path().join("run.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let url = net.node.ws_url();
        Devnet {
            net,
            netuid,
            dir,
            wallets,
            data,
            config,
            config_path,
            url,
            watcher,
            validators: keys,
            miners,
            extra: extras,
        }
    }

    fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `miner run` or `validator run` for the wallet `name` (state in `name/`, log in
    /// `name.log`; a restart appends to the log).
    fn spawn(&self, kind: &str, name: &str) -> Process {
        let common = Common {
            config: &self.config_path,
            data: &self.data,
            url: &self.url,
            wallets: &self.wallets,
            netuid: self.netuid,
        };
        let validator_bin = PathBuf::from(env!("CARGO_BIN_EXE_validator"));
        let bin = match kind {
            "validator" => validator_bin,
            _ => workspace_binary(env!("CARGO_BIN_EXE_validator"), "miner"),
        };
        let threads = [("MODEL_THREADS", "1".to_string())];
        Process::spawn(
            &bin,
            &peer_args(kind, &common, &self.state(name), name),
            &threads,
            &self.state(&format!("{name}.log")),
        )
    }

    async fn neurons(&self) -> Vec<subnet_peer::seam::Neuron> {
        let fin = self.watcher.finalized().await.unwrap();
        self.watcher.neurons_at(self.netuid, fin).await.unwrap()
    }

    /// The `/status` of the peer with hotkey `k`, if it answers.
    async fn status_of(&self, k: &Keypair) -> Option<serde_json::Value> {
        let neurons = self.neurons().await;
        status(neurons.iter().find(|n| n.hotkey == k.public()).and_then(|n| n.axon)).await
    }
}

/// The two dev-node tests run one at a time: each is a chain, a validator or two and several
/// training miners, and side by side on 2 cores they starve each other enough to shift which
/// windows a weight update averages over.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn uid_of(k: &Keypair, neurons: &[subnet_peer::seam::Neuron]) -> u16 {
    neurons.iter().find(|n| n.hotkey == k.public()).unwrap().uid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validator_binary_pays_the_honest_miners_on_a_dev_node() {
    let _one = ONE_AT_A_TIME.lock().await;
    let d = Devnet::start(&[("//Bob", "validator", 500)], 2, 5).await;
    let (chain, netuid, watcher) = (&d.net.chain, d.netuid, &d.watcher);
    let hotkeys: Vec<Keypair> = d.validators.iter().chain(&d.miners).cloned().collect();
    let cheat_keys = d.extra.clone();
    let cheats = [Cheat::Freeloader, Cheat::Copycat, Cheat::Liar, Cheat::Garbage, Cheat::Oversized];
    let state = |name: &str| d.state(name);
    let mut validator = d.spawn("validator", "validator");
    let mut miners: Vec<Process> = (1..=2).map(|i| d.spawn("miner", &format!("miner{i}"))).collect();
    // The cheats name the validator's model as their base, as read from its /status.
    let base: Arc<Mutex<(u64, String)>> = Arc::default();
    let tasks: Vec<_> = cheats
        .iter()
        .zip(&cheat_keys)
        .map(|(how, k)| {
            let b = base.clone();
            cheat(
                ClientSeam::new(chain.clone(), k.clone()),
                Run::new(d.config.clone()).unwrap(),
                *how,
                move || b.lock().unwrap().clone(),
                state("miner1"),
            )
        })
        .collect();

    let neurons = d.neurons().await;
    let honest: Vec<u16> = hotkeys[1..].iter().map(|k| uid_of(k, &neurons)).collect();
    let bad: Vec<u16> = cheat_keys.iter().map(|k| uid_of(k, &neurons)).collect();
    let stake_before: BTreeMap<u16, u64> = neurons.iter().map(|n| (n.uid, n.stake)).collect();

    // Watch every peer's model per window until the validator has scored 5 windows with
    // everyone in them and set weights after them.
    let mut models: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
    let limit = Instant::now() + Duration::from_secs(480);
    let weights_landed = loop {
        assert!(Instant::now() < limit, "the run did not get far enough:\n{}", validator.log());
        validator.assert_running();
        for m in &mut miners {
            m.assert_running();
        }
        let fin = watcher.finalized().await.unwrap();
        let neurons = watcher.neurons_at(netuid, fin).await.unwrap();
        let axon = |k: &Keypair| neurons.iter().find(|n| n.hotkey == k.public()).and_then(|n| n.axon);
        for (k, name) in hotkeys.iter().zip(["validator", "miner1", "miner2"]) {
            if let Some(st) = status(axon(k)).await {
                let (w, fp) =
                    (st["model_window"].as_u64().unwrap(), st["fingerprint"].as_str().unwrap().to_string());
                if name == "validator" {
                    *base.lock().unwrap() = (w, fp.clone());
                }
                models.entry(w).or_default().insert(name.into(), fp);
            }
        }
        let full = reports(&state("validator"))
            .iter()
            .filter(|r| {
                r["rows"].as_array().unwrap().iter().filter(|x| x["status"] != "no_commit").count() == 7
            })
            .count();
        let st = status(axon(&hotkeys[0])).await;
        let landed = st.as_ref().and_then(|s| s["last_weights"][1].as_u64());
        if full >= 5 && landed.is_some_and(|b| b + 12 <= fin.number) {
            break landed.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // Every cheat is named with its reason and paid nothing; the honest miners score.
    let reports = reports(&state("validator"));
    let want = ["ok", "copy", "wrong_hash", "malformed", "oversized"];
    let mut honest_scores = 0;
    for r in &reports {
        for (uid, reason) in bad.iter().zip(want) {
            let Some(x) = row(r, *uid).filter(|x| x["status"] != "no_commit") else { continue };
            assert_eq!(x["status"], reason, "uid {uid}: {r}");
            assert_eq!(x["score"].as_f64().unwrap(), 0.0, "uid {uid}: {r}");
        }
        for uid in &honest {
            if let Some(x) = row(r, *uid).filter(|x| x["status"] != "no_commit") {
                assert_eq!(x["status"], "ok", "{r}");
                honest_scores += usize::from(x["score"].as_f64().unwrap() > 0.0);
            }
        }
    }
    assert!(honest_scores >= 5, "{reports:?}");
    // Every peer held the same model in every window all three reported.
    let mut agreed = 0;
    for (w, fps) in &models {
        if fps.len() == 3 {
            let mut it = fps.values();
            let one = it.next().unwrap();
            assert!(it.all(|f| f == one), "window {w}: {fps:?}");
            agreed += 1;
        }
    }
    assert!(agreed >= 4, "{models:?}");

    // The weights on chain pay the honest miners only; after the epochs since, so do incentive
    // and stake.
    let limit = Instant::now() + Duration::from_secs(60);
    let graph = loop {
        let graph = chain.metagraph(netuid).await.unwrap();
        let incentive = |uid: u16| graph.neurons.iter().find(|n| n.uid == uid).unwrap().incentive;
        if honest.iter().all(|h| incentive(*h) > 0) || Instant::now() > limit {
            break graph;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let neuron = |uid: u16| graph.neurons.iter().find(|n| n.uid == uid).unwrap();
    let v = graph.neuron(&hotkeys[0].account_id()).unwrap();
    let weight = |uid: u16| v.weights.iter().find(|(u, _)| *u == uid).map_or(0, |(_, w)| *w);
    eprintln!("weights set at {weights_landed}: {:?}", v.weights);
    for h in &honest {
        assert!(weight(*h) > 0, "{:?}", v.weights);
        for c in &bad {
            assert_eq!(weight(*c), 0, "{:?}", v.weights);
            assert!(neuron(*h).incentive > neuron(*c).incentive, "uid {h} vs {c}");
            let grew = |uid: u16| neuron(uid).stake.saturating_sub(stake_before[&uid]);
            assert!(grew(*h) > grew(*c), "stake of uid {h} grew {} vs uid {c} {}", grew(*h), grew(*c));
        }
    }
    let (code, metrics) =
        get(&format!("http://{}/metrics", v.axon.as_ref().map(|a| format!("{}:{}", a.ip, a.port)).unwrap()))
            .await
            .unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(code, 200);
    for reason in ["wrong_hash", "malformed", "oversized", "copy"] {
        assert!(
            metrics.contains(&format!("validator_payloads_rejected_total{{reason=\"{reason}\"}}")),
            "{metrics}"
        );
    }
    for t in tasks {
        t.abort();
    }
    // SIGTERM: a clean stop, exit code 0.
    let status = validator.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", validator.log());
    assert!(validator.log().contains("validator stopped"));
    for line in validator.log().lines().filter(|l| l.contains("approved") || l.contains("weights set")) {
        eprintln!("{line}");
    }
}

/// Polls miner `k`'s model every 500 ms, recording each window's fingerprint in `seen`, until
/// `until(window, seen)`; checks that `procs` keep running. Returns the window it stopped at.
async fn watch(
    d: &Devnet,
    k: &Keypair,
    seen: &mut BTreeMap<u64, String>,
    what: &str,
    procs: &mut [&mut Process],
    until: impl Fn(u64, &BTreeMap<u64, String>) -> bool,
) -> u64 {
    let limit = Instant::now() + Duration::from_secs(300);
    loop {
        for p in procs.iter_mut() {
            p.assert_running();
        }
        if let Some(st) = d.status_of(k).await {
            let (w, fp) = model_of(&st);
            seen.insert(w, fp);
            if until(w, seen) {
                return w;
            }
        }
        assert!(Instant::now() < limit, "{what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn model_of(st: &serde_json::Value) -> (u64, String) {
    (st["model_window"].as_u64().unwrap(), st["fingerprint"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_majority_validator_holds_the_model_until_it_returns() {
    let _one = ONE_AT_A_TIME.lock().await;
    // 500 and 300 TAO: the second alone holds less than half of the live permitted stake.
    let d = Devnet::start(&[("//Bob", "big", 500), ("//Ferdie", "small", 300)], 2, 0).await;
    let mut big = d.spawn("validator", "big");
    let mut small = d.spawn("validator", "small");
    let mut m1 = d.spawn("miner", "miner1");
    let mut m2 = d.spawn("miner", "miner2");
    let miner = d.miners[0].clone();
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let first = d.config.window.first;
    let moved_since = |from: u64| {
        move |_: u64, s: &BTreeMap<u64, String>| {
            let mut it = s.range(from..).map(|(_, f)| f);
            it.next().is_some_and(|a| it.any(|b| b != a))
        }
    };
    // Both up: the model moves.
    let all = &mut [&mut big, &mut small, &mut m1, &mut m2];
    watch(&d, &miner, &mut seen, "the model moving with both validators", all, moved_since(first)).await;
    // The majority validator stops (SIGTERM): windows pass with the model held.
    let status = big.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", big.log());
    let rest = &mut [&mut small, &mut m1, &mut m2];
    let stopped_at = watch(&d, &miner, &mut seen, "a window after the stop", rest, |_, _| true).await;
    // What it approved before it stopped may still land: from two windows on nothing moves
    // (its last approval keeps it counted for LIVE_WINDOWS = 4 windows).
    let rest = &mut [&mut small, &mut m1, &mut m2];
    watch(&d, &miner, &mut seen, "three windows after the stop", rest, |w, _| w >= stopped_at + 3).await;
    let held = seen[&(stopped_at + 3)].clone();
    for w in stopped_at + 2..=stopped_at + 3 {
        if let Some(fp) = seen.get(&w) {
            assert_eq!(*fp, held, "the minority validator moved the model alone at window {w}: {seen:?}");
        }
    }
    // It returns (same state directory): training resumes.
    let mut big = d.spawn("validator", "big");
    let all = &mut [&mut big, &mut small, &mut m1, &mut m2];
    let resumed = watch(&d, &miner, &mut seen, "the model moving again after the return", all, |w, s| {
        w > stopped_at + 3 && s.get(&w).is_some_and(|f| *f != held)
    })
    .await;
    // Back within LIVE_WINDOWS: it moved because the majority returned, not because it was
    // gone for long.
    assert!(resumed <= stopped_at + 7, "resumed at {resumed} only: {seen:?}");
    assert!(big.log().contains("approved"), "{}", big.log());
    // Everyone on one model again.
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let mut models = Vec::new();
        for k in d.validators.iter().chain(&d.miners) {
            models.extend(d.status_of(k).await.map(|st| model_of(&st)));
        }
        if models.len() == 4 && models.iter().all(|m| *m == models[0]) && models[0].0 > resumed {
            break;
        }
        assert!(Instant::now() < limit, "not one model: {models:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("stopped at {stopped_at}, resumed at {resumed}; miner1's model by window:");
    for (w, fp) in &seen {
        eprintln!("  {w}: {}", &fp[..12]);
    }
    for p in [&mut big, &mut small] {
        assert!(p.terminate(Duration::from_secs(30)).success());
    }
}
