//! The real `miner` binary on a real dev node (1 s blocks, the `tiny` model): it serves its
//! axon, commits in consecutive windows, reveals only after the deadline is finalized, serves
//! bytes that hash to its commitment, trains on `pages(netuid, w, hotkey)`, survives SIGKILL
//! without a double commit, and two miners given the same approvals hold the same model.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use miner::Run;
use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::testing::{key, start, TAO};
use subnet_client::{Commitment, Keypair, Wallet};
use subnet_peer::client::ClientSeam;
use subnet_peer::http::{Fetcher, FetcherConfig};
use subnet_peer::{ChainSeam, Window};

use crate::common::{approve_everything, dataset, run_config};

/// A `miner run` process; killed (SIGKILL) and reaped on drop.
struct MinerProcess {
    child: Child,
    log: PathBuf,
}

impl MinerProcess {
    fn spawn(args: &[String], log: &Path) -> Self {
        let out = File::options().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_miner"))
            .args(args)
            .env("MODEL_THREADS", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self { child, log: log.to_path_buf() }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("miner exited with {status}:\n{}", self.log());
        }
    }
}

impl Drop for MinerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain GET with a short timeout (status, body), or `None` if nothing answered.
async fn get(url: &str) -> Option<(u16, Vec<u8>)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().ok()?;
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.bytes().await.ok()?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_binary_on_a_dev_node() {
    let net = start().await;
    let netuid = net
        .subnet(|netuid| {
            vec![
                AdminCall::sudo_set_tempo { netuid, tempo: 6 },
                AdminCall::sudo_set_min_burn { netuid, min_burn: TAO / 1000 },
                AdminCall::sudo_set_serving_rate_limit { netuid, serving_rate_limit: 0 },
                AdminCall::sudo_set_allow_loopback_axons { netuid, allowed: true },
            ]
        })
        .await;
    let chain = &net.chain;
    let dir = tempfile::tempdir().unwrap();
    let wallets = dir.path().join("wallets");
    let parts =
        [("//Bob", "//Bob//validator"), ("//Charlie", "//Charlie//miner"), ("//Dave", "//Dave//miner")];
    let mut hotkeys: Vec<Keypair> = Vec::new();
    for (i, (cold, hot)) in parts.iter().enumerate() {
        let (cold, hot) = (key(cold), key(hot));
        net.fund(&hot, 10).await;
        chain.register(&cold, &hot.account_id(), netuid, 2 * TAO).await.unwrap();
        if i == 0 {
            chain.add_stake(&cold, &hot.account_id(), netuid, 500 * TAO).await.unwrap();
        } else {
            Wallet::new(&wallets, &format!("miner{i}"), "default")
                .unwrap()
                .write_hotkey(&hot, false)
                .unwrap();
        }
        hotkeys.push(hot);
    }
    let validator = ClientSeam::new(chain.clone(), hotkeys[0].clone());

    let data = dir.path().join("data");
    let mut config = run_config(&dataset(&data), 10);
    config.netuid = netuid;
    config.window.blocks = 20;
    config.window.approval_blocks = 6;
    config.window.commit_margin = 3;
    config.inner.pages_per_step = 2;
    // The validator gets its permit an epoch after its stake.
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let fin = validator.finalized().await.unwrap();
        let neurons = validator.neurons_at(netuid, fin).await.unwrap();
        if neurons.iter().any(|n| n.hotkey == validator.hotkey() && n.permit) {
            break;
        }
        assert!(Instant::now() < limit, "no validator permit");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The run starts with the next window.
    let s = config.schedule().unwrap();
    let first = s.window_of(chain.best_number().await.unwrap()).next();
    config.window.first = first.0;
    let config_path = dir.path().join("run.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let run = Run::new(config.clone()).unwrap();
    let s = run.schedule;

    let args = |i: usize| -> Vec<String> {
        [
            "run",
            "--config",
            config_path.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--state-dir",
            dir.path().join(format!("state{i}")).to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--chain-url",
            &net.node.ws_url(),
            "--wallet-path",
            wallets.to_str().unwrap(),
            "--wallet-name",
            &format!("miner{i}"),
            "--wallet-hotkey",
            "default",
            "--netuid",
            &netuid.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let logs: Vec<PathBuf> = (1..=2).map(|i| dir.path().join(format!("miner{i}.log"))).collect();
    let mut miners: Vec<MinerProcess> =
        (1..=2).map(|i| MinerProcess::spawn(&args(i), &logs[i - 1])).collect();

    let last = Window(first.0 + 4);
    let approvals =
        approve_everything(validator.clone(), Run::new(config.clone()).unwrap(), first.0, last.0 + 1);

    // Watch: commitments at every finalized block, each miner's status, and the reveal rule.
    let miner_keys: Vec<[u8; 32]> = hotkeys[1..].iter().map(|k| k.public()).collect();
    let mut seen: BTreeMap<([u8; 32], u64), BTreeSet<(u64, [u8; 32])>> = BTreeMap::new();
    let mut models: Vec<BTreeMap<u64, String>> = vec![BTreeMap::new(), BTreeMap::new()];
    let mut axons: Vec<Option<SocketAddr>> = vec![None, None];
    let mut early_checks = 0;
    let mut killed = false;
    let limit = Instant::now() + Duration::from_secs(400);
    loop {
        let fin = validator.finalized().await.unwrap();
        let head = chain.best_number().await.unwrap();
        if s.window_of(fin.number) > last {
            break;
        }
        assert!(Instant::now() < limit, "the run did not reach {last}");
        let pinned = chain.at_number(fin.number).await.unwrap().unwrap();
        let neurons = validator.neurons_at(netuid, fin).await.unwrap();
        for c in chain.protocol_commitments(&pinned, netuid).await.unwrap() {
            let Commitment::Miner { window, hash } = c.commitment else { continue };
            seen.entry((c.hotkey.0, window)).or_default().insert((c.block, hash));
            let Some(i) = miner_keys.iter().position(|k| *k == c.hotkey.0) else { continue };
            // Committed, deadline not finalized: not served yet.
            let deadline = s.commit_deadline(Window(window)).unwrap();
            if let (Some(axon), true) = (axons[i], fin.number < deadline) {
                let (code, _) =
                    get(&format!("http://{axon}/payload/{}", hex::encode(hash))).await.unwrap_or((0, vec![]));
                let after = validator.finalized().await.unwrap().number;
                // (No answer at all: the miner is restarting.)
                if after < deadline {
                    assert_ne!(code, 200, "served before D_{window} = {deadline} was finalized (at {after})");
                    early_checks += usize::from(code == 404);
                }
            }
        }
        for (i, k) in miner_keys.iter().enumerate() {
            axons[i] = neurons.iter().find(|n| n.hotkey == *k).and_then(|n| n.axon);
            if let Some(axon) = axons[i] {
                if let Some((200, body)) = get(&format!("http://{axon}/status")).await {
                    let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    models[i].insert(
                        st["model_window"].as_u64().unwrap(),
                        st["fingerprint"].as_str().unwrap().into(),
                    );
                }
            }
        }
        // Mid-window, right after its commit landed: SIGKILL miner 1 and start it again on the
        // same state. It must not commit that window again, and must still reveal it.
        let now = s.window_of(head);
        if !killed && now.0 == first.0 + 1 && seen.contains_key(&(miner_keys[0], now.0)) {
            miners[0].kill();
            miners[0] = MinerProcess::spawn(&args(1), &logs[0]);
            killed = true;
        }
        for m in &mut miners {
            m.assert_running();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(killed);
    let approved = approvals.await.unwrap();

    // Every miner committed once in each window after start-up, never twice.
    for (i, k) in miner_keys.iter().enumerate() {
        for w in first.0 + 1..=last.0 {
            let landed = seen.get(&(*k, w)).cloned().unwrap_or_default();
            assert_eq!(landed.len(), 1, "miner {} window {w}: {landed:?}\n{}", i + 1, miners[i].log());
            let (block, _) = landed.iter().next().unwrap();
            assert!(s.in_commit_range(Window(w), *block));
        }
    }
    assert!(early_checks > 0, "the reveal rule was never observed");
    assert!(approved.iter().filter(|(w, n)| *w >= first.0 && *n == 2).count() >= 3, "{approved:?}");

    // The same model in every window both report, and it moved.
    let common: Vec<u64> = models[0].keys().filter(|w| models[1].contains_key(w)).copied().collect();
    assert!(common.len() >= 3, "{models:?}");
    for w in &common {
        assert_eq!(models[0][w], models[1][w], "window {w}");
    }
    let fps: BTreeSet<&String> = common.iter().map(|w| &models[0][w]).collect();
    assert!(fps.len() >= 3, "the model did not move: {models:?}");

    // What each serves hashes to its commitment, and carries its window and hotkey; its
    // pages are pages(netuid, w, hotkey).
    let fetcher = Fetcher::new(FetcherConfig::default());
    for (i, k) in miner_keys.iter().enumerate() {
        let axon = axons[i].unwrap();
        let (_, hash) = *seen[&(*k, last.0)].iter().next().unwrap();
        let bytes = fetcher.payload(&[axon], &hash, run.codec.payload_bytes()).await.unwrap();
        let p = run.codec.decode(&bytes).unwrap();
        assert_eq!((p.header.window, p.header.hotkey, p.header.run_id), (last.0, *k, run.id.0));
        let (_, body) = get(&format!("http://{axon}/status")).await.unwrap();
        let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let (w, pages) = (st["last_pages"][0].as_u64().unwrap(), &st["last_pages"][1]);
        let ds = model::data::Dataset::open(&data.join("train")).unwrap();
        let want = model::data::pages(netuid, w, k, 20, ds.num_pages()).unwrap();
        assert_eq!(pages.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>(), want);
        let (code, metrics) = get(&format!("http://{axon}/metrics")).await.unwrap();
        assert_eq!(code, 200);
        assert!(String::from_utf8(metrics).unwrap().contains("miner_windows_committed_total"));
    }
    // Bad requests get clear answers and change nothing.
    let axon = axons[1].unwrap();
    let unknown = format!("http://{axon}/payload/{}", "ab".repeat(32));
    for (url, want) in [
        (format!("http://{axon}/payload/not-a-hash"), 400),
        (format!("http://{axon}/payload/{}", "AB".repeat(32)), 400),
        (format!("http://{axon}/payload/{}", "a".repeat(10_000)), 400),
        (unknown, 404),
        (format!("http://{axon}/nothing"), 404),
    ] {
        assert_eq!(get(&url).await.map(|r| r.0), Some(want), "{url}");
    }
    for m in &mut miners {
        m.assert_running();
    }
    let log = miners[0].log();
    assert!(log.contains("gemm kernel:"), "{log}");
    assert!(log.contains("committed"), "{log}");
    // The time split of each window, for `--nocapture`.
    for line in miners[1].log().lines().filter(|l| l.contains("committed") || l.contains("applied")) {
        eprintln!("{line}");
    }
}
