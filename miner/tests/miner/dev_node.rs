//! The real `miner` binary on a real dev node (1 s blocks, the `tiny` model): it serves its
//! axon, commits in consecutive windows, reveals only after the deadline is finalized, serves
//! bytes that hash to its commitment, trains on `pages(netuid, w, hotkey)`, survives SIGKILL
//! without a double commit, and two miners given the same approvals hold the same model.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use miner::Run;
use subnet_client::testing::{key, start, Process, TAO};
use subnet_client::{Commitment, Keypair, Wallet};
use subnet_peer::client::ClientSeam;
use subnet_peer::http::{Fetcher, FetcherConfig};
use subnet_peer::{ChainSeam, RunConfig, Window};

use crate::common::{approve_everything, dataset, run_config};

/// A `miner run` process (one tensor thread unless `MINER_TEST_THREADS` says otherwise).
fn miner_process(args: &[String], log: &Path) -> Process {
    let threads = std::env::var("MINER_TEST_THREADS").unwrap_or_else(|_| "1".into());
    Process::spawn(Path::new(env!("CARGO_BIN_EXE_miner")), args, &[("MODEL_THREADS", threads)], log)
}

/// A plain GET with a short timeout (status, body), or `None` if nothing answered.
async fn get(url: &str) -> Option<(u16, Vec<u8>)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().ok()?;
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.bytes().await.ok()?.to_vec()))
}

/// A dev node with a subnet: a validator with stake and a permit (//Bob), two registered
/// miners whose hotkeys are in wallet files, and a run configuration file starting with the
/// next window.
struct Subnet {
    net: subnet_client::testing::Net,
    netuid: u16,
    dir: tempfile::TempDir,
    wallets: PathBuf,
    hotkeys: Vec<Keypair>,
    validator: ClientSeam,
    config: RunConfig,
    config_path: PathBuf,
    data: PathBuf,
    first: Window,
}

impl Subnet {
    /// `configure` gets the netuid and the temporary directory and returns the run's
    /// configuration (window.first is set here) and its dataset.
    async fn start(configure: impl FnOnce(u16, &Path) -> (RunConfig, PathBuf)) -> Subnet {
        let net = start().await;
        let netuid = net.loop_subnet().await;
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
        let (mut config, data) = configure(netuid, dir.path());
        config.netuid = netuid;
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
        let first = config.schedule().unwrap().window_of(chain.best_number().await.unwrap()).next();
        config.window.first = first.0;
        let config_path = dir.path().join("run.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        Subnet { net, netuid, dir, wallets, hotkeys, validator, config, config_path, data, first }
    }

    /// `miner run` arguments for miner `i` (1 or 2).
    fn args(&self, i: usize) -> Vec<String> {
        [
            "run",
            "--config",
            self.config_path.to_str().unwrap(),
            "--data",
            self.data.to_str().unwrap(),
            "--state-dir",
            self.dir.path().join(format!("state{i}")).to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--chain-url",
            &self.net.node.ws_url(),
            "--wallet-path",
            self.wallets.to_str().unwrap(),
            "--wallet-name",
            &format!("miner{i}"),
            "--wallet-hotkey",
            "default",
            "--netuid",
            &self.netuid.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("miner{i}.log"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_binary_on_a_dev_node() {
    let sub = Subnet::start(|_, dir| {
        let data = dir.join("data");
        let mut config = run_config(&dataset(&data), 10);
        config.window.blocks = 20;
        config.window.approval_blocks = 6;
        config.window.commit_margin = 3;
        config.inner.pages_per_step = 2;
        (config, data)
    })
    .await;
    let (chain, netuid, first, validator) = (&sub.net.chain, sub.netuid, sub.first, &sub.validator);
    let (config, data, hotkeys) = (sub.config.clone(), sub.data.clone(), &sub.hotkeys);
    let run = Run::new(config.clone()).unwrap();
    let s = run.schedule;
    let args = |i: usize| sub.args(i);
    let logs: Vec<PathBuf> = (1..=2).map(|i| sub.log(i)).collect();
    let mut miners: Vec<Process> = (1..=2).map(|i| miner_process(&args(i), &logs[i - 1])).collect();

    let last = Window(first.0 + 4);
    let approvals =
        approve_everything(validator.clone(), Run::new(config.clone()).unwrap(), first.0, last.0 + 1);

    // Watch: commitments at every finalized block, each miner's status, and the reveal rule.
    let miner_keys: Vec<[u8; 32]> = hotkeys[1..].iter().map(|k| k.public()).collect();
    // (hotkey, window) -> every (block, hash) its commitment was seen with.
    type Landed = BTreeMap<([u8; 32], u64), BTreeSet<(u64, [u8; 32])>>;
    let mut seen: Landed = BTreeMap::new();
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
            miners[0] = miner_process(&args(1), &logs[0]);
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
    // SIGTERM (what the localnet sends, by pid): a clean stop, exit code 0.
    let status = miners[1].terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", miners[1].log());
    assert!(miners[1].log().contains("miner stopped"));
    // The subnet owner publishes another run: a miner on this configuration refuses to start.
    let owner = key("//Alice//owner");
    sub.net.fund(&owner, 1).await;
    chain.publish_run(&owner, netuid, [0x77; 32]).await.unwrap();
    let refused = tokio::task::spawn_blocking({
        let args = args(1);
        move || Command::new(env!("CARGO_BIN_EXE_miner")).args(args).stdin(Stdio::null()).output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains(&format!("the subnet owner is on run {}", "77".repeat(32)))
            && err.contains(&run.id.to_string()),
        "{err}"
    );
    let log = miners[0].log();
    assert!(log.contains("gemm kernel:"), "{log}");
    assert!(log.contains("committed"), "{log}");
    // The time split of each window, for `--nocapture`.
    for line in miners[1].log().lines().filter(|l| l.contains("committed") || l.contains("applied")) {
        eprintln!("{line}");
    }
}

/// Time per window for a shipped run configuration on this machine, two miners (one thread
/// each) and an approving validator on a dev node. A measurement, not run by default:
///
/// ```text
/// MINER_TIMING_PRESET=small MINER_TIMING_WINDOWS=6 MINER_TIMING_DATA=data/fortunes-256 \
///   cargo test --release -p miner --test miner -- --ignored window_timings --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of several minutes; run it by hand"]
async fn window_timings() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let preset = std::env::var("MINER_TIMING_PRESET").unwrap_or_else(|_| "tiny".into());
    let windows: u64 = std::env::var("MINER_TIMING_WINDOWS").ok().and_then(|w| w.parse().ok()).unwrap_or(6);
    let data = std::env::var("MINER_TIMING_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("data/fortunes-256"));
    let config = RunConfig::load(&repo.join(format!("config/localnet-{preset}.toml"))).unwrap();
    let sub = Subnet::start(move |_, _| (config, data)).await;
    let run = Run::new(sub.config.clone()).unwrap();
    let mut miners: Vec<Process> = (1..=2).map(|i| miner_process(&sub.args(i), &sub.log(i))).collect();
    let last = sub.first.0 + windows;
    let approvals =
        approve_everything(sub.validator.clone(), Run::new(sub.config.clone()).unwrap(), sub.first.0, last);
    let deadline = Instant::now() + Duration::from_secs(120 + windows * run.schedule.blocks_per_window() * 2);
    while run.schedule.window_of(sub.validator.finalized().await.unwrap().number).0 <= last {
        assert!(Instant::now() < deadline, "too slow");
        for m in &mut miners {
            m.assert_running();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("approved (window, payloads): {:?}", approvals.await.unwrap());
    for (i, m) in miners.iter().enumerate() {
        eprintln!("--- miner {} ({preset})", i + 1);
        for line in m
            .log()
            .lines()
            .filter(|l| l.contains("committed") || l.contains("applied") || l.contains("skipped"))
        {
            eprintln!("{line}");
        }
    }
}
