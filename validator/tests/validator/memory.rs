//! The validator's loop against the in-memory chain (as pallets test against FRAME's mock
//! runtime): real training by in-process honest miners on the `tiny` model, scripted bad
//! miners, real files, real HTTP between peers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use subnet_peer::http::FetcherConfig;
use subnet_peer::memory::MemoryChain;
use subnet_peer::testing::{dataset, run_config, NET};
use subnet_peer::{RunConfig, Window};
use validator::{Run, ValidatorHandle, ValidatorOptions};

use crate::cheats::{cheat, reports, row, Cheat};

const VALIDATOR: [u8; 32] = [0xAA; 32];

struct Net {
    chain: MemoryChain,
    producing: Arc<AtomicBool>,
    dir: tempfile::TempDir,
    data: PathBuf,
    config: RunConfig,
}

impl Net {
    /// A chain with one staked validator that makes a block every `block_ms`.
    fn new(block_ms: u64, steps: u32) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut config = run_config(&dataset(&data), steps);
        // Room after an honest commit for a copycat to commit its copy before D_w.
        config.window.blocks = 16;
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

    /// Registers miner `i` (incentive 1, so a lone payload may pass); returns its uid.
    fn register(&self, i: u8) -> u16 {
        let uid = self.chain.register(NET, [i; 32]);
        self.chain.update_neuron(NET, uid, |n| n.incentive = 1);
        uid
    }

    fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn miner(&self, i: u8) -> miner::MinerHandle {
        self.miner_with(i, |_| {}).await
    }

    async fn miner_with(&self, i: u8, change: impl FnOnce(&mut miner::MinerOptions)) -> miner::MinerHandle {
        let mut opts = miner::MinerOptions::new(self.state_dir(&format!("miner-{i}")), &self.data);
        opts.poll = Duration::from_millis(20);
        opts.fetch = fast_fetch();
        change(&mut opts);
        miner::spawn(self.chain.peer([i; 32]), self.run(), opts).await.unwrap()
    }

    async fn validator(&self) -> ValidatorHandle {
        self.validator_as(VALIDATOR, "validator").await
    }

    async fn validator_as(&self, hotkey: [u8; 32], name: &str) -> ValidatorHandle {
        self.validator_with(hotkey, name, |_| {}).await
    }

    async fn validator_with(
        &self,
        hotkey: [u8; 32],
        name: &str,
        change: impl FnOnce(&mut ValidatorOptions),
    ) -> ValidatorHandle {
        let mut opts = ValidatorOptions::new(self.state_dir(name), &self.data);
        opts.poll = Duration::from_millis(20);
        opts.fetch = fast_fetch();
        opts.approval_margin = 1;
        opts.weights_every = 1;
        change(&mut opts);
        validator::spawn(self.chain.peer(hotkey), self.run(), opts).await.unwrap()
    }

    fn window(&self) -> Window {
        Window(self.chain.head() / self.config.window.blocks)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.producing.store(false, Ordering::SeqCst);
    }
}

/// Waits up to 90 s for `until`, failing with `what`.
async fn wait_for(what: &str, until: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !until() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast_fetch() -> FetcherConfig {
    FetcherConfig { timeout: Duration::from_secs(2), rounds: 2, backoff: Duration::from_millis(50) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_miners_outscore_a_freeloader_a_copycat_and_a_liar() {
    // 200 ms blocks: two miners training, a validator scoring and the cheats share 2 cores.
    let net = Net::new(200, 3);
    let honest = [net.register(1), net.register(2)];
    let (free, copy, liar) = (net.register(3), net.register(4), net.register(5));
    let v = net.validator().await;
    let a = net.miner(1).await;
    let b = net.miner(2).await;
    let base = || {
        let source = v.status_source();
        move || {
            let s = source();
            (s.model_window, s.fingerprint)
        }
    };
    let cheats = [
        cheat(net.chain.peer([3; 32]), net.run(), Cheat::Freeloader, base(), PathBuf::new()),
        cheat(net.chain.peer([4; 32]), net.run(), Cheat::Copycat, base(), net.state_dir("miner-1")),
        cheat(net.chain.peer([5; 32]), net.run(), Cheat::Liar, base(), PathBuf::new()),
    ];
    let deadline = Instant::now() + Duration::from_secs(240);
    while v.status().last_scored.is_none_or(|w| w < 7) {
        assert!(Instant::now() < deadline, "{:?}\nat {}", v.status(), net.window());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = v.status();
    let reports = reports(&net.state_dir("validator"));
    // Each report names every cheat that committed with its reason, and pays none of them.
    let (mut copies, mut lies) = (0, 0);
    for r in &reports {
        let status_of = |uid| row(r, uid).map(|x| x["status"].as_str().unwrap().to_string());
        match status_of(liar).as_deref() {
            Some("wrong_hash") => lies += 1,
            None | Some("no_commit") => {}
            Some(other) => panic!("liar: {other} in {r}"),
        }
        match status_of(copy).as_deref() {
            Some("copy") => copies += 1,
            None | Some("no_commit") => {}
            Some(other) => panic!("copycat: {other} in {r}"),
        }
        for uid in [free, copy, liar] {
            if let Some(x) = row(r, uid) {
                assert_eq!(x["score"].as_f64().unwrap(), 0.0, "uid {uid}: {r}");
            }
        }
        for uid in honest {
            if let Some(x) = row(r, uid).filter(|x| x["status"] != "no_commit") {
                assert_eq!(x["status"], "ok", "{r}");
                eprintln!(
                    "window {} uid {uid}: improvement {} gap {} overlap {}",
                    r["window"], x["improvement"], x["gap"], x["overlap"]
                );
            }
        }
    }
    let seen = copies.min(lies);
    for (name, m) in [("a", &a), ("b", &b)] {
        eprintln!("miner {name}: last skip {:?}", m.status().last_skip);
    }
    assert!(seen >= 3, "copies {copies}, lies {lies}: {reports:?}");
    // The moving averages and the weights on chain favour the honest miners.
    let avg = |uid: u16| status.scores.iter().find(|(u, ..)| *u == uid).map_or(0.0, |(_, a, _)| *a);
    for h in honest {
        for c in [free, copy, liar] {
            assert!(avg(h) > avg(c), "uid {h} {} vs uid {c} {}: {:?}", avg(h), avg(c), status.scores);
        }
    }
    let set = net.chain.weights(NET);
    let last = set.last().expect("weights were set");
    let weight = |uid: u16| last.weights.iter().find(|(u, _)| *u == uid).map_or(0.0, |(_, w)| *w);
    assert!(honest.iter().all(|h| weight(*h) > 0.0), "{:?}", last.weights);
    assert!([free, copy, liar].iter().all(|c| weight(*c) == 0.0), "{:?}", last.weights);
    // The validator follows the same model as the miners.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (sv, sa, sb) = (v.status(), a.status(), b.status());
        if sv.model_window == sa.model_window && sa.model_window == sb.model_window {
            assert_eq!(sv.fingerprint, sa.fingerprint);
            assert_eq!(sa.fingerprint, sb.fingerprint);
            break;
        }
        assert!(Instant::now() < deadline, "{sv:?}\n{sa:?}\n{sb:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = v.metrics().encode();
    assert!(metrics.contains("validator_payloads_rejected_total{reason=\"wrong_hash\"}"), "{metrics}");
    for c in cheats {
        c.abort();
    }
    v.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_majority_validator_the_model_waits_until_it_returns_or_has_been_gone_for_long() {
    let net = Net::new(200, 3);
    // A second validator with less stake than the first (1000): on its own it is no quorum.
    const MINORITY: [u8; 32] = [0xBB; 32];
    let uid = net.chain.register(NET, MINORITY);
    net.chain.update_neuron(NET, uid, |n| {
        n.permit = true;
        n.stake = 600;
    });
    net.register(1);
    net.register(2);
    let big = net.validator().await;
    let small = net.validator_as(MINORITY, "minority").await;
    let a = net.miner(1).await;
    let b = net.miner(2).await;
    let model = |m: &miner::MinerHandle| {
        let s = m.status();
        (s.model_window, s.fingerprint)
    };
    // Both up: the model moves.
    let start = a.status().fingerprint;
    wait_for("the model moving with both validators", || {
        a.status().model_window >= 3 && a.status().fingerprint != start
    })
    .await;
    // The majority validator goes away: windows pass, the model stays where it was.
    big.shutdown().await.unwrap();
    let (w0, _) = model(&a);
    // (What it approved before it stopped may still land: look from two windows on.) Its last
    // approval keeps it counted for `LIVE_WINDOWS` (4) windows, so check within those.
    wait_for("two windows after the stop", || a.status().model_window >= w0 + 2).await;
    let (w1, held) = model(&a);
    wait_for("two more windows", || a.status().model_window >= w0 + 4).await;
    let (w2, still) = model(&a);
    assert_eq!(held, still, "the minority validator moved the model alone between windows {w1} and {w2}");
    assert_eq!(model(&b).1, model(&a).1);
    assert!(small.status().last_approval.is_some_and(|(w, ..)| w >= w1), "{:?}", small.status());
    // Silent for more than LIVE_WINDOWS, it no longer counts: the minority is the quorum.
    wait_for("the minority moving the model once the majority has been silent for long", || {
        a.status().fingerprint != still
    })
    .await;
    let (moved_at, moved) = model(&a);
    assert!(moved_at > w0 + 4, "moved at {moved_at}, stopped at {w0}");
    // It comes back (same state directory): everyone is on one model again.
    let big = net.validator().await;
    wait_for("the model moving on", || a.status().fingerprint != moved).await;
    let (w3, _) = model(&a);
    wait_for("miners and validators on one model", || {
        let (sa, sb, sv) = (a.status(), b.status(), big.status());
        sa.model_window > w3
            && sa.model_window == sb.model_window
            && sb.model_window == sv.model_window
            && sa.fingerprint == sv.fingerprint
            && sb.fingerprint == sv.fingerprint
    })
    .await;
    for v in [big, small] {
        v.shutdown().await.unwrap();
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_without_a_permit_scores_but_neither_approves_nor_sets_weights() {
    let net = Net::new(200, 3);
    const NO_PERMIT: [u8; 32] = [0xCC; 32];
    net.chain.register(NET, NO_PERMIT);
    net.register(1);
    let v = net.validator().await;
    let lone = net.validator_as(NO_PERMIT, "no-permit").await;
    let a = net.miner(1).await;
    wait_for("two windows scored without a permit", || lone.status().last_scored.is_some_and(|w| w >= 2))
        .await;
    let s = lone.status();
    assert!(!s.permit, "{s:?}");
    let (w, _, _, block) = s.last_approval.expect("it checked the window");
    assert_eq!(block, None, "an approval was sent without a permit");
    let record: validator::ApprovalRecord = serde_json::from_slice(
        &std::fs::read(net.state_dir("no-permit").join(format!("approvals/{w}.json"))).unwrap(),
    )
    .unwrap();
    assert!(
        matches!(&record, validator::ApprovalRecord::Skipped { reason } if reason.contains("no validator permit")),
        "{record:?}"
    );
    assert!(!reports(&net.state_dir("no-permit")).is_empty());
    assert!(net.chain.weights(NET).iter().all(|set| set.hotkey != NO_PERMIT));
    for v in [v, lone] {
        v.shutdown().await.unwrap();
    }
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_away_longer_than_payloads_are_kept_catches_up_from_the_validators_update_log() {
    let net = Net::new(200, 3);
    net.register(1);
    net.register(2);
    let v = net
        .validator_with(VALIDATOR, "validator", |o| {
            o.checkpoint_every = 3;
            o.checkpoints_kept = 4;
        })
        .await;
    let a = net.miner(1).await;
    // Miner b keeps payloads for 2 windows only, so after 5 away it is too far behind to
    // replay the chain from its peers' shelves.
    let short_memory = |o: &mut miner::MinerOptions| o.retention = 2;
    let b = net.miner_with(2, short_memory).await;
    wait_for("b committing", || b.status().last_commit.is_some()).await;
    b.shutdown().await.unwrap();
    let away = a.status().model_window;
    wait_for("five windows without b", || a.status().model_window >= away + 5).await;
    let b = net.miner_with(2, short_memory).await;
    wait_for("b catching up from the log", || b.status().caught_up.is_some()).await;
    let (from, to) = b.status().caught_up.unwrap();
    assert!(from <= away && to >= away + 3, "caught up from {from} to {to}, away from {away}");
    assert_eq!(b.status().joined_from, None, "it downloaded a checkpoint instead");
    wait_for("b committing again after catching up", || b.status().last_commit.is_some_and(|(w, ..)| w > to))
        .await;
    let (sa, sb) = (a.status(), b.status());
    if sa.model_window == sb.model_window {
        assert_eq!(sa.fingerprint, sb.fingerprint);
    }
    // The archive over HTTP: the log, a checkpoint of an older window, refusals.
    let http = reqwest::Client::new();
    let base = format!("http://{}", v.local_addr());
    let body = http.get(format!("{base}/updates?from={from}")).send().await.unwrap().bytes().await.unwrap();
    let log: subnet_peer::sync::UpdateLog = serde_json::from_slice(&body).unwrap();
    assert_eq!(log.updates.first().map(|u| u.window), Some(from), "{log:?}");
    assert!(log.updates.windows(2).all(|p| p[0].fingerprint == p[1].base && p[0].window + 1 == p[1].window));
    let c = *log.checkpoints.first().expect("a checkpoint is held");
    assert_eq!(c % 3, 0);
    let bytes = http.get(format!("{base}/checkpoint/{c}")).send().await.unwrap().bytes().await.unwrap();
    let g = subnet_peer::sync::checkpoint::decode(&net.run(), &bytes).unwrap();
    assert_eq!(g.window, Window(c));
    if let Some(u) = log.updates.iter().find(|u| u.window == c) {
        assert_eq!(u.base, hex::encode(g.fingerprint));
    }
    for (path, code) in
        [("/updates?from=x", 400), ("/updates", 400), ("/checkpoint/1", 404), ("/checkpoint/x", 400)]
    {
        assert_eq!(http.get(format!("{base}{path}")).send().await.unwrap().status().as_u16(), code, "{path}");
    }
    assert!(v.metrics().encode().contains("validator_checkpoints_saved_total"));
    v.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
