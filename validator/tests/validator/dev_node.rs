//! The real `validator` binary with two real `miner` processes and five scripted cheats on a
//! real dev node (1 s blocks, the `tiny` model): it approves and scores every window, names each
//! cheat's reason, keeps the same model as the miners, sets weights that pay only the honest
//! miners, and after the epochs their stake grows and the cheats' does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::testing::{key, start, workspace_binary, Process, TAO};
use subnet_client::{Keypair, Wallet};
use subnet_peer::client::ClientSeam;
use subnet_peer::testing::{dataset, run_config};
use subnet_peer::ChainSeam;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validator_binary_pays_the_honest_miners_on_a_dev_node() {
    let net = start().await;
    let netuid = net.loop_subnet().await;
    net.sudo(AdminCall::sudo_set_weights_set_rate_limit { netuid, weights_set_rate_limit: 10 }).await;
    let chain = &net.chain;
    let dir = tempfile::tempdir().unwrap();
    let wallets = dir.path().join("wallets");
    // The validator and the honest miners run from wallet files; the cheats from keys.
    let files = [
        ("//Bob", "//Bob//validator", "validator"),
        ("//Charlie", "//Charlie//miner", "miner1"),
        ("//Dave", "//Dave//miner", "miner2"),
    ];
    let mut hotkeys: Vec<Keypair> = Vec::new();
    for (i, (cold, hot, wallet)) in files.iter().enumerate() {
        let (cold, hot) = (key(cold), key(hot));
        net.fund(&hot, 10).await;
        chain.register(&cold, &hot.account_id(), netuid, 100 * TAO).await.unwrap();
        if i == 0 {
            chain.add_stake(&cold, &hot.account_id(), netuid, 500 * TAO).await.unwrap();
        }
        Wallet::new(&wallets, wallet, "default").unwrap().write_hotkey(&hot, false).unwrap();
        hotkeys.push(hot);
    }
    let cheats = [Cheat::Freeloader, Cheat::Copycat, Cheat::Liar, Cheat::Garbage, Cheat::Oversized];
    let eve = key("//Eve");
    let mut cheat_keys = Vec::new();
    for i in 0..cheats.len() {
        let hot = key(&format!("//Eve//cheat{i}"));
        net.fund(&hot, 10).await;
        chain.register(&eve, &hot.account_id(), netuid, 100 * TAO).await.unwrap();
        cheat_keys.push(hot);
    }
    let data = dir.path().join("data");
    let mut config = run_config(&dataset(&data), 10);
    config.netuid = netuid;
    config.window.blocks = 20;
    // GRANDPA finalizes ~4 blocks behind the head here: 8 blocks leave the validator ~4 to
    // fetch, check and land its approval after D_w is final.
    config.window.approval_blocks = 8;
    config.window.commit_margin = 3;
    config.inner.pages_per_step = 2;
    // The validator gets its permit an epoch after its stake.
    let watcher = ClientSeam::new(chain.clone(), hotkeys[0].clone());
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let fin = watcher.finalized().await.unwrap();
        if watcher
            .neurons_at(netuid, fin)
            .await
            .unwrap()
            .iter()
            .any(|n| n.hotkey == watcher.hotkey() && n.permit)
        {
            break;
        }
        assert!(Instant::now() < limit, "no validator permit");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first = config.schedule().unwrap().window_of(chain.best_number().await.unwrap()).next();
    config.window.first = first.0;
    let config_path = dir.path().join("run.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let url = net.node.ws_url();
    let threads = [("MODEL_THREADS", "1".to_string())];
    let state = |name: &str| dir.path().join(name);
    let common = Common { config: &config_path, data: &data, url: &url, wallets: &wallets, netuid };
    let validator_bin = PathBuf::from(env!("CARGO_BIN_EXE_validator"));
    let miner_bin = workspace_binary(env!("CARGO_BIN_EXE_validator"), "miner");
    let mut validator = Process::spawn(
        &validator_bin,
        &peer_args("validator", &common, &state("validator"), "validator"),
        &threads,
        &state("validator.log"),
    );
    let mut miners: Vec<Process> = (1..=2)
        .map(|i| {
            let name = format!("miner{i}");
            Process::spawn(
                &miner_bin,
                &peer_args("miner", &common, &state(&name), &name),
                &threads,
                &state(&format!("{name}.log")),
            )
        })
        .collect();
    // The cheats name the validator's model as their base, as read from its /status.
    let base: Arc<Mutex<(u64, String)>> = Arc::default();
    let tasks: Vec<_> = cheats
        .iter()
        .zip(&cheat_keys)
        .map(|(how, k)| {
            let b = base.clone();
            cheat(
                ClientSeam::new(chain.clone(), k.clone()),
                Run::new(config.clone()).unwrap(),
                *how,
                move || b.lock().unwrap().clone(),
                state("miner1"),
            )
        })
        .collect();

    let uid_of = |k: &Keypair, neurons: &[subnet_peer::seam::Neuron]| {
        neurons.iter().find(|n| n.hotkey == k.public()).unwrap().uid
    };
    let fin = watcher.finalized().await.unwrap();
    let neurons = watcher.neurons_at(netuid, fin).await.unwrap();
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
