//! The localnet trains and pays: every honest miner commits, the validators set weights, the
//! global model's eval loss falls, every participant holds the same model after each window,
//! the miners earn incentive, issuance grows by exactly what was paid, and the dashboard shows
//! it all in a real browser.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use subnet_localnet::cheats::Cheat;
use subnet_localnet::subnet::Role;
use subnet_localnet::{Localnet, Options};
use subnet_peer::testing::{dataset, run_config};

/// Where `cargo test --workspace` put the binaries: next to this test's `deps/` directory.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    for bin in ["miner", "validator"] {
        assert!(dir.join(bin).is_file(), "no {bin} in {}: run the tests with --workspace", dir.display());
    }
    dir
}

/// The windows every participant reported, with the fingerprint each held there.
type Models = BTreeMap<u64, BTreeMap<String, String>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_localnet_trains_one_model_and_pays_the_miners() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config = run_config(&dataset(&data), 10);
    config.window.blocks = 20;
    config.window.approval_blocks = 8;
    config.window.commit_margin = 3;
    config.inner.pages_per_step = 2;
    let template = dir.path().join("template.toml");
    std::fs::write(&template, toml::to_string(&config).unwrap()).unwrap();
    let flags = |f: &[&str]| f.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let opts = Options {
        run_dir: dir.path().join("run"),
        node: subnet_devnode::node_binary(),
        bin_dir: bin_dir(),
        template,
        data,
        validators: vec![1000, 600],
        miners: 2,
        purge: true,
        chain_only: false,
        threads: 1,
        bad_miners: vec![Cheat::Freeloader],
        late_miners: 1,
        extra_args: vec![
            // A checkpoint every 2 windows and only the last kept: the validators' update log
            // goes back 2 windows, so a miner that starts from genesis later must join.
            ("validator".into(), flags(&["--checkpoint-every", "2", "--checkpoints-kept", "1"])),
            // It keeps (and expects peers to keep) payloads for 2 windows only.
            ("late1".into(), flags(&["--retention", "2"])),
        ],
    };
    // Dropped on a failed assertion, it still stops every process it started.
    let mut net = Localnet::start(&opts, |step| eprintln!("==> {step}")).await.unwrap();
    let issued_from = net.chain.finalized_number().await.unwrap();
    let first = toml::from_str::<subnet_peer::RunConfig>(
        &std::fs::read_to_string(net.run_dir.join("run.toml")).unwrap(),
    )
    .unwrap()
    .window
    .first;
    // The late miner starts when the model is S_{first+3}; miner2 restarts at S_{first+4}.
    let (late_at, restart_at, windows) = (first + 3, first + 4, 9);
    let client = reqwest::Client::new();
    let mut models = Models::new();
    let mut commits: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    let mut restarted = None;
    let limit = Instant::now() + Duration::from_secs(150 + 30 * windows);
    loop {
        if let Some(why) = net.exited() {
            panic!("{why}");
        }
        let mut done = true;
        let mut lead = 0;
        for p in net.peers.iter().filter(|p| !matches!(p.who.role, Role::Bad(_))) {
            let Some(s) = p.status(&client).await else {
                done = false;
                continue;
            };
            let w = s["model_window"].as_u64().unwrap();
            lead = lead.max(w);
            models
                .entry(w)
                .or_default()
                .insert(p.who.name.clone(), s["fingerprint"].as_str().unwrap().into());
            done &= w >= first + windows;
            if let Some(c) = s["last_commit"].as_array() {
                commits
                    .entry(p.who.name.clone())
                    .or_default()
                    .insert(c[0].as_u64().unwrap(), c[1].to_string());
            }
        }
        if lead >= late_at && net.peers.iter().all(|p| p.who.name != "late1") {
            eprintln!("==> starting late1 at model window {lead}");
            net.start_late("late1").unwrap();
            done = false;
        }
        if lead >= restart_at && restarted.is_none() {
            let head = net.chain.best_number().await.unwrap();
            eprintln!("==> restarting miner2 at model window {lead}, block {head}");
            net.restart("miner2").unwrap();
            restarted = Some(head / config.window.blocks);
            done = false;
        }
        if done {
            break;
        }
        assert!(Instant::now() < limit, "not {windows} windows in time: {models:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let restarted = restarted.unwrap();
    // Every participant held the same model in every window all of them reported.
    let everyone = net.peers.iter().filter(|p| !matches!(p.who.role, Role::Bad(_))).count();
    let mut agreed = 0;
    for (w, fps) in &models {
        let mut it = fps.values();
        let one = it.next().unwrap();
        assert!(it.all(|f| f == one), "window {w}: {fps:?}");
        agreed += usize::from(fps.len() == everyone);
    }
    assert!(agreed >= 3, "{models:?}");
    // The model moved.
    assert_ne!(models[&first].values().next(), models[&(first + windows)].values().next(), "{models:?}");
    // Nobody committed twice in a window, the restarted miner included; and every honest
    // miner committed in every window after the first (which start-up may cost), on chain
    // and as its status showed; miner2 may lose the window it was restarted in.
    let set = at_most_one_commitment_per_window(&net, issued_from, config.window.blocks).await;
    for name in ["miner1", "miner2"] {
        let p = net.peers.iter().find(|p| p.who.name == name).unwrap();
        let mine = commits.get(name).cloned().unwrap_or_default();
        let account = p.who.hotkey.account_id().to_string();
        let missed: Vec<u64> = (first + 1..first + windows)
            .filter(|w| name != "miner2" || *w != restarted)
            .filter(|w| !mine.contains_key(w) || !set.contains(&(account.clone(), *w)))
            .collect();
        assert!(missed.is_empty(), "{name} missed windows {missed:?}: {}", p.process.log());
    }
    // The late miner joined from a checkpoint and its payloads were accepted afterwards.
    let late = net.peers.iter().find(|p| p.who.name == "late1").unwrap();
    let s = late.status(&client).await.unwrap();
    let joined = s["joined_from"]
        .as_u64()
        .unwrap_or_else(|| panic!("late1 did not join: {s}\n{}", late.process.log()));
    let late_uid = net.chain.uid_of(net.netuid, &late.who.hotkey.account_id()).await.unwrap().unwrap();
    let reports = std::fs::read_to_string(net.run_dir.join("state/validator1/reports.jsonl")).unwrap();
    let accepted: Vec<u64> = reports
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["rows"].as_array().unwrap().iter().any(|x| x["uid"] == late_uid && x["status"] == "ok"))
        .map(|r| r["window"].as_u64().unwrap())
        .collect();
    eprintln!(
        "late1 joined from the checkpoint of window {joined}; its payloads passed in windows {accepted:?}"
    );
    assert!(accepted.iter().any(|w| *w >= joined), "late1's payloads: {reports}\n{}", late.process.log());
    // The validators scored, saw the loss fall, and set weights.
    for p in net.peers.iter().filter(|p| p.who.role == Role::Validator) {
        let reports =
            std::fs::read_to_string(net.run_dir.join("state").join(&p.who.name).join("reports.jsonl"))
                .unwrap_or_default();
        let losses: Vec<f64> = reports
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|r| r["model_loss"].as_f64())
            .collect();
        assert!(losses.len() >= 3, "{}: {reports}", p.who.name);
        assert!(losses.last().unwrap() < losses.first().unwrap(), "{}: loss {losses:?}", p.who.name);
        let s = p.status(&client).await.unwrap();
        assert!(s["last_weights"].is_array(), "{}: {s}", p.who.name);
    }
    // The honest miners earn incentive once the weights are in an epoch, and more incentive
    // and stake than the freeloader.
    let freeloader = net.peers.iter().find(|p| p.who.role == Role::Bad(Cheat::Freeloader)).unwrap();
    let limit = Instant::now() + Duration::from_secs(60);
    loop {
        let graph = net.chain.metagraph(net.netuid).await.unwrap();
        let neuron =
            |p: &subnet_localnet::peers::Peer| graph.neuron(&p.who.hotkey.account_id()).unwrap().clone();
        let free = neuron(freeloader);
        let honest: Vec<_> =
            net.peers.iter().filter(|p| p.who.name.starts_with("miner")).map(neuron).collect();
        if honest.iter().all(|n| n.incentive > 0) {
            for n in &honest {
                assert!(
                    n.incentive > free.incentive,
                    "incentive {} vs the freeloader's {}",
                    n.incentive,
                    free.incentive
                );
                assert!(n.stake > free.stake, "stake {} vs the freeloader's {}", n.stake, free.stake);
            }
            eprintln!(
                "incentive: honest {:?}, freeloader {}; stake (rao): honest {:?}, freeloader {}",
                honest.iter().map(|n| n.incentive).collect::<Vec<_>>(),
                free.incentive,
                honest.iter().map(|n| n.stake).collect::<Vec<_>>(),
                free.stake
            );
            break;
        }
        assert!(Instant::now() < limit, "no incentive for the honest miners");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The validators name the freeloader: it scored nothing, in every window it committed.
    let free_uid = net.chain.uid_of(net.netuid, &freeloader.who.hotkey.account_id()).await.unwrap().unwrap();
    let mut named = 0;
    for line in reports.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(row) =
            r["rows"].as_array().unwrap().iter().find(|x| x["uid"] == free_uid && x["status"] != "no_commit")
        {
            assert_eq!(row["score"].as_f64(), Some(0.0), "{row}");
            named += 1;
        }
    }
    assert!(named >= 1, "{reports}\n{}", freeloader.process.log());
    issuance_grew_by_what_was_paid(&net, issued_from).await;
    the_dashboard_shows_every_uid(&net).await;
    net.shutdown();
}

/// Every `Commitments.Commitment` event since block `from`: no account set two in one window.
/// Returns who committed in which window (by the block's window).
async fn at_most_one_commitment_per_window(
    net: &Localnet,
    from: u64,
    blocks: u64,
) -> std::collections::BTreeSet<(String, u64)> {
    let to = net.chain.finalized_number().await.unwrap();
    let mut seen: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for n in from + 1..=to {
        for (netuid, who) in net.chain.commitments_set_at(n).await.unwrap() {
            if netuid == net.netuid {
                *seen.entry((who.to_string(), n / blocks)).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "commitments set twice in a window: {twice:?}");
    assert!(seen.len() > 20, "{seen:?}");
    seen.into_keys().collect()
}

/// Total issuance grew by exactly what the epochs paid (their `EpochRun` events) less the
/// transaction fees, which this runtime burns, block by block.
async fn issuance_grew_by_what_was_paid(net: &Localnet, from: u64) {
    let to = net.chain.finalized_number().await.unwrap();
    let issuance = |n| async move { net.chain.total_issuance_at(n).await.unwrap().unwrap() };
    let (before, after) = (issuance(from).await, issuance(to).await);
    let (mut paid, mut fees, mut epochs) = (0u64, 0u64, 0);
    for n in from + 1..=to {
        for e in net.chain.epochs_at(n).await.unwrap() {
            paid += e.paid();
            epochs += 1;
        }
        fees += net.chain.fees_at(n).await.unwrap();
    }
    eprintln!(
        "issuance {before} -> {after} rao over blocks {from}..={to}: {epochs} epochs paid {paid}, fees burned {fees}"
    );
    assert!(epochs >= 3 && paid > 0 && fees > 0, "{epochs} epochs paid {paid}, fees {fees}");
    assert_eq!(
        after as i128 - before as i128,
        paid as i128 - fees as i128,
        "issuance moved by {} but the epochs paid {paid} and fees burned {fees}",
        after as i128 - before as i128
    );
}

/// The first validator's dashboard in Debian's Chromium (headless): it loads, draws the loss
/// chart and one row per uid, and logs nothing to the console; `validator status` prints the
/// same uids.
async fn the_dashboard_shows_every_uid(net: &Localnet) {
    let url = net.dashboard().expect("a validator");
    let uids: Vec<u16> =
        net.chain.metagraph(net.netuid).await.unwrap().neurons.iter().map(|n| n.uid).collect();
    let chromium =
        std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        chromium.is_file(),
        "no Chromium at {} (scripts/test.sh installs Debian's; or set CHROMIUM)",
        chromium.display()
    );
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", "--dump-dom", &url])
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(90), run).await.expect("Chromium took over 90 s").unwrap();
    let (dom, log) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(dom.contains("data-rendered="), "the page never drew a snapshot: {dom}\n{log}");
    assert!(dom.contains("<svg") && dom.contains("Eval loss of the global model"), "no chart: {dom}");
    for uid in &uids {
        assert!(dom.contains(&format!("data-uid=\"{uid}\"")), "no row for uid {uid}: {dom}");
    }
    assert!(dom.contains(r#"<pre id="errors" hidden="">"#), "page errors: {dom}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let table = std::process::Command::new(bin_dir().join("validator"))
        .args(["status", "--url", url.trim_end_matches('/')])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}{}", String::from_utf8_lossy(&table.stderr));
    for uid in &uids {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{uid} "))), "uid {uid}: {text}");
    }
    assert!(text.contains("eval loss"), "{text}");
    eprintln!("{text}");
}
