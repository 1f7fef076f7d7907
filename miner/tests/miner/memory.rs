//! The miner's window loop against the in-memory chain (as pallets test against FRAME's mock
//! runtime): real training on the `tiny` model, real files, real HTTP between peers, a chain
//! that produces a block every few tens of milliseconds.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use miner::{MinerHandle, MinerOptions, Run};
use subnet_peer::http::{Fetcher, FetcherConfig, ServerConfig, Shelf};
use subnet_peer::memory::{MemoryChain, MemoryPeer};
use subnet_peer::quorum::bitmap;
use subnet_peer::state::Status;
use subnet_peer::update::candidates;
use subnet_peer::{ChainSeam, RunConfig, Window};

use crate::common::{approve_everything, dataset, run_config, NET, VALIDATOR};

struct Net {
    chain: MemoryChain,
    producing: Arc<AtomicBool>,
    dir: tempfile::TempDir,
    data: PathBuf,
    config: RunConfig,
}

impl Net {
    /// A chain with one validator (stake, permit) that makes a block every `block` ms.
    fn new(block_ms: u64, steps: u32) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = run_config(&dataset(&data), steps);
        let chain = MemoryChain::new();
        chain.set_finality_lag(1);
        let uid = chain.register(NET, VALIDATOR);
        chain.update_neuron(NET, uid, |n| {
            n.permit = true;
            n.stake = 1_000;
        });
        let producing = Arc::new(AtomicBool::new(true));
        let (c, p) = (chain.clone(), producing.clone());
        std::thread::spawn(move || {
            while p.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(block_ms));
                c.advance(1);
            }
        });
        Net { chain, producing, dir, data, config }
    }

    fn run(&self) -> Run {
        Run::new(self.config.clone()).unwrap()
    }

    fn miner_key(i: u8) -> [u8; 32] {
        [i; 32]
    }

    /// Registers miner `i` (incentive 1, so a lone payload may pass) and returns its seam.
    fn register(&self, i: u8) -> MemoryPeer {
        let uid = self.chain.register(NET, Self::miner_key(i));
        self.chain.update_neuron(NET, uid, |n| n.incentive = 1);
        self.chain.peer(Self::miner_key(i))
    }

    fn state_dir(&self, i: u8) -> PathBuf {
        self.dir.path().join(format!("miner-{i}"))
    }

    async fn spawn(&self, i: u8) -> MinerHandle {
        self.spawn_with(i, |_| {}).await
    }

    async fn spawn_with(&self, i: u8, change: impl FnOnce(&mut MinerOptions)) -> MinerHandle {
        let mut opts = MinerOptions::new(self.state_dir(i), &self.data);
        opts.poll = Duration::from_millis(20);
        opts.fetch =
            FetcherConfig { timeout: Duration::from_secs(2), rounds: 2, backoff: Duration::from_millis(50) };
        change(&mut opts);
        miner::spawn(self.chain.peer(Self::miner_key(i)), self.run(), opts).await.unwrap()
    }

    fn window(&self) -> Window {
        Window(self.chain.head() / self.config.window.blocks)
    }

    /// Waits until the chain's head is in window `w`.
    async fn until_window(&self, w: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.window().0 < w {
            assert!(Instant::now() < deadline, "the chain did not reach window {w}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn commits(&self, i: u8) -> Vec<(u64, u64, [u8; 32])> {
        self.chain.commit_history(NET, &Self::miner_key(i))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.producing.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_miners_commit_every_window_and_end_on_the_same_model() {
    let net = Net::new(150, 3);
    net.register(1);
    net.register(2);
    let genesis = subnet_peer::sync::Global::genesis(&net.run()).unwrap().fingerprint;
    let validator = approve_everything(net.chain.peer(VALIDATOR), net.run(), 0, 5);
    let a = net.spawn(1).await;
    let b = net.spawn(2).await;
    net.until_window(6).await;
    let approved = validator.await.unwrap();
    // Window 0 may be lost to start-up; every later one is committed by both and approved.
    for i in [1, 2] {
        let windows: Vec<u64> = net.commits(i).iter().map(|(_, w, _)| *w).collect();
        for w in 1..5 {
            let skipped = [&a, &b][i as usize - 1].status().last_skip;
            assert_eq!(
                windows.iter().filter(|x| **x == w).count(),
                1,
                "miner {i} window {w}: {windows:?} {skipped:?}"
            );
        }
    }
    assert!(approved.iter().filter(|(w, n)| *w >= 1 && *n == 2).count() >= 3, "{approved:?}");
    // Both synced the same updates: the same model, which moved.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (sa, sb) = (a.status(), b.status());
        if sa.model_window == sb.model_window && sa.model_window >= 5 {
            assert_eq!(sa.fingerprint, sb.fingerprint);
            assert_ne!(sa.fingerprint, hex::encode(genesis));
            break;
        }
        assert!(Instant::now() < deadline, "{sa:?} vs {sb:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = a.metrics().encode();
    assert!(text.contains("miner_windows_committed_total"), "{text}");
    // Each round trained on the model predicted once the previous window's candidates were
    // final, and the settled model was that one.
    assert!(counter(&text, r#"miner_predictions_total{outcome="confirmed"}"#) >= 3, "{text}");
    assert_eq!(counter(&text, r#"miner_predictions_total{outcome="wrong"}"#), 0, "{text}");
    assert!(a.metrics().updates_applied.get() >= 3);
    // Each payload of the update is held by every miner that applied it.
    let fetched = Fetcher::new(FetcherConfig::default());
    let (_, w, hash) = net.commits(2)[1];
    let size = net.run().codec.payload_bytes();
    assert_eq!(fetched.payload(&[a.local_addr()], &hash, size).await.unwrap().len(), size, "window {w}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_approvals_the_model_stays_and_a_round_too_long_is_skipped() {
    // 100 inner steps cannot fit in a 10-block window of 30 ms blocks.
    let net = Net::new(30, 100);
    net.register(1);
    let m = net.spawn(1).await;
    let fingerprint = m.status().fingerprint;
    net.until_window(4).await;
    let s = m.status();
    assert_eq!(s.fingerprint, fingerprint, "no update was approved");
    assert!(s.model_window >= 3, "{s:?}");
    assert!(net.commits(1).is_empty(), "nothing half-committed: {:?}", net.commits(1));
    let skip = s.last_skip.clone().expect("a skipped window");
    assert!(skip.1.contains("training reached step") || skip.1.contains("too late"), "{skip:?}");
    let record = subnet_peer::state::StateDir::open(&net.state_dir(1), net.run().id, NET, &[1; 32])
        .unwrap()
        .record(Window(skip.0))
        .unwrap();
    assert!(matches!(record, Some(Status::Skipped { .. })), "{record:?}");
    assert!(m.metrics().encode().contains("miner_windows_skipped_total{reason="));
    m.shutdown().await.unwrap();
}

/// The value of a counter line in a Prometheus text exposition (0 if absent).
fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse::<f64>().ok()))
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_prediction_is_dropped_and_the_window_trained_again_on_the_settled_model() {
    // Nobody approves, so every update is empty; but the lone miner (incentive 1, so a single
    // payload may pass) predicts its own payload into it, every window.
    let net = Net::new(150, 3);
    net.register(1);
    let genesis = subnet_peer::sync::Global::genesis(&net.run()).unwrap().fingerprint;
    let m = net.spawn(1).await;
    net.until_window(5).await;
    let text = m.metrics().encode();
    assert!(counter(&text, r#"miner_predictions_total{outcome="wrong"}"#) >= 2, "{text}");
    assert_eq!(counter(&text, r#"miner_predictions_total{outcome="confirmed"}"#), 0, "{text}");
    // The dropped rounds were never committed: each committed payload is based on the settled
    // model (still the genesis one), trained again once it settled.
    let commits = net.commits(1);
    let revealed: Vec<_> = commits.iter().filter(|(_, w, _)| (2..=3).contains(w)).collect();
    assert_eq!(revealed.len(), 2, "{commits:?} {:?}", m.status());
    let run = net.run();
    let size = run.codec.payload_bytes();
    for (_, w, hash) in revealed {
        let bytes =
            Fetcher::new(FetcherConfig::default()).payload(&[m.local_addr()], hash, size).await.unwrap();
        let header = run.codec.decode(&bytes).unwrap().header;
        assert_eq!((header.window, header.base), (*w, genesis), "window {w}");
    }
    m.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_commits_a_window_twice() {
    let net = Net::new(80, 3);
    net.register(1);
    let m = net.spawn(1).await;
    // Wait for a commit, then restart within the same window.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (block, w, hash) = loop {
        if let Some(c) = net.commits(1).last().copied() {
            break c;
        }
        assert!(Instant::now() < deadline, "no commit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    m.shutdown().await.unwrap();
    let again = net.spawn(1).await;
    // Until the next window's commit: window w has exactly the one commitment.
    net.until_window(w + 2).await;
    let commits = net.commits(1);
    assert_eq!(commits.iter().filter(|(_, cw, _)| *cw == w).collect::<Vec<_>>(), [&(block, w, hash)]);
    // It serves the committed bytes, which hash to the commitment.
    let size = net.run().codec.payload_bytes();
    let bytes =
        Fetcher::new(FetcherConfig::default()).payload(&[again.local_addr()], &hash, size).await.unwrap();
    assert_eq!(bytes.len(), size);
    again.shutdown().await.unwrap();

    // A record left at `committing` by a crash, whose commit did land: no second submission.
    let state = subnet_peer::state::StateDir::open(&net.state_dir(1), net.run().id, NET, &[1; 32]).unwrap();
    let (_, last_w, last_hash) = *net.commits(1).last().unwrap();
    state.set_record(Window(last_w), &Status::Committing { hash: hex::encode(last_hash) }).unwrap();
    let before = net.commits(1).len();
    let third = net.spawn(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after: Vec<_> = net.commits(1).into_iter().filter(|(_, cw, _)| *cw == last_w).collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(net.commits(1).len() <= before + 1);
    third.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_bytes_do_not_hash_is_never_applied() {
    let net = Net::new(100, 3);
    net.register(1);
    // A cheater commits a hash and serves other bytes under it.
    let cheat = net.register(9);
    let size = net.run().codec.payload_bytes();
    let shelf = Shelf::new();
    let server = subnet_peer::http::serve(ServerConfig::new("127.0.0.1:0".parse().unwrap()), shelf.clone())
        .await
        .unwrap();
    cheat.serve_axon(NET, server.local_addr()).await.unwrap();
    let m = net.spawn(1).await;
    let v = net.chain.peer(VALIDATOR);
    let run = net.run();
    let s = run.schedule;
    let w = Window(net.window().0 + 1);
    net.until_window(w.0).await;
    let claimed = [0x5A; 32];
    shelf.put(w, claimed, vec![7u8; size].into());
    cheat.commit(NET, w.0, claimed).await.unwrap();
    // The validator (wrongly) approves every candidate of w.
    let ranked = loop {
        if let Ok(r) = candidates(&v, NET, &s, 12, w).await {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // On the miner's own base, so only the cheater's bytes can stop the update.
    let base: [u8; 32] = hex::decode(&m.status().fingerprint).unwrap().try_into().unwrap();
    assert_eq!(m.status().model_window, w.0);
    assert!(ranked.candidates.len() == 2, "{ranked:?}");
    v.approve(NET, w.0, bitmap(ranked.candidates.len(), 0..ranked.candidates.len()), base).await.unwrap();
    net.until_window(w.0 + 2).await;
    let status = m.status();
    assert_eq!(status.fingerprint, hex::encode(base), "the model must not move: {status:?}");
    assert_eq!(status.model_window, w.0, "{status:?}");
    assert!(status.sync.contains("wrong_hash") || status.sync.contains("hash to"), "{status:?}");
    assert!(m.metrics().encode().contains("miner_fetch_failures_total"), "{}", m.metrics().encode());
    m.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_hotkey_and_a_port_in_use_are_refused_clearly() {
    let net = Net::new(60, 3);
    let opts = MinerOptions::new(net.state_dir(7), &net.data);
    let err = match miner::spawn(net.chain.peer([7; 32]), net.run(), opts).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started unregistered"),
    };
    assert!(err.contains("is not registered in subnet 1") && err.contains("register"), "{err}");

    net.register(1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = MinerOptions::new(net.state_dir(1), &net.data);
    opts.listen = taken.local_addr().unwrap();
    let err = match miner::spawn(net.chain.peer(Net::miner_key(1)), net.run(), opts).await {
        Err(e) => format!("{e:#}"),
        Ok(_) => panic!("bound a port in use"),
    };
    assert!(
        err.contains(&taken.local_addr().unwrap().to_string()) && err.contains("another --port"),
        "{err}"
    );

    // A dataset that is not the run's.
    let mut config = net.config.clone();
    config.data.content_hash = "00".repeat(32);
    let opts = MinerOptions::new(net.state_dir(1), &net.data);
    let err = match miner::spawn(net.chain.peer(Net::miner_key(1)), Run::new(config).unwrap(), opts).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started on another dataset"),
    };
    assert!(err.contains("is not the run's"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_miner_joins_from_a_checkpoint_and_then_commits() {
    let net = Net::new(120, 3);
    net.register(1);
    net.register(2);
    let validator = approve_everything(net.chain.peer(VALIDATOR), net.run(), 0, 12);
    let a = net.spawn_with(1, |o| o.retention = 2).await;
    net.until_window(5).await;
    // Too far behind to replay from payloads held for 2 windows: it takes a's checkpoint.
    let b = net.spawn_with(2, |o| o.retention = 2).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (sa, sb) = (a.status(), b.status());
        let late = net.commits(2);
        if sb.model_window == sa.model_window && sa.fingerprint == sb.fingerprint && !late.is_empty() {
            // It joined from a checkpoint of S_v; its first commit is on a model the quorum
            // confirmed, so for a later window than v.
            let joined = sb.joined_from.expect("joined from a checkpoint");
            assert!(late[0].1 > joined, "joined {joined}, committed {late:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{sa:?}\n{sb:?}\n{late:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    validator.abort();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_whose_model_diverged_takes_a_checkpoint_and_commits_again() {
    let net = Net::new(120, 3);
    net.register(1);
    net.register(2);
    let validator = approve_everything(net.chain.peer(VALIDATOR), net.run(), 0, 14);
    let a = net.spawn(1).await;
    net.until_window(3).await;
    // b's saved S_0 is another run's genesis: the quorum's base of window 0 is not its model.
    let mut other = net.config.clone();
    other.model.seed += 1;
    let wrong = subnet_peer::sync::Global::genesis(&Run::new(other).unwrap()).unwrap();
    wrong.save(&net.state_dir(2)).unwrap();
    let b = net.spawn(2).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (sa, sb) = (a.status(), b.status());
        let late = net.commits(2);
        if sb.model_window == sa.model_window && sa.fingerprint == sb.fingerprint && !late.is_empty() {
            let joined = sb.joined_from.expect("it took a checkpoint");
            assert!(late.iter().all(|c| c.1 > joined), "joined {joined}, committed {late:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{sa:?}\n{sb:?}\n{late:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics =
        reqwest::get(format!("http://{}/metrics", b.local_addr())).await.unwrap().text().await.unwrap();
    let mismatches = metrics.lines().find(|l| l.starts_with("miner_fingerprint_mismatches")).unwrap();
    assert!(!mismatches.ends_with(" 0"), "{mismatches}");
    validator.abort();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
