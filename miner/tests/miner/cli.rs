//! The miner's command line as a user runs it: real process, real files. The wallet commands,
//! and `miner run`'s refusals before it reaches the chain (or when it cannot).

use std::process::Command;

fn miner(wallets: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(args)
        .arg("--wallet-path")
        .arg(wallets)
        .env("CI", "true")
        .env_remove("BT_COLD_PW_DEV")
        .output()
        .expect("miner runs")
}

#[test]
fn wallets_are_created_listed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let new = miner(dir.path(), &["wallet", "new", "--wallet-name", "dev", "--no-password"]);
    assert!(new.status.success(), "{}", String::from_utf8_lossy(&new.stderr));
    let shown = String::from_utf8_lossy(&new.stdout);
    let coldkey = shown.lines().find_map(|l| l.strip_prefix("coldkey ")).unwrap().split(' ').next().unwrap();

    let list = miner(dir.path(), &["wallet", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(&format!("dev  coldkey {coldkey}")), "{listed}");
    let check = miner(dir.path(), &["wallet", "check", "--wallet-name", "dev"]);
    assert!(String::from_utf8_lossy(&check.stdout).contains(coldkey));

    // A second `new` refuses to overwrite; no secret appears in the error.
    let again = miner(dir.path(), &["wallet", "new", "--wallet-name", "dev", "--no-password"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists") && err.contains("--overwrite"), "{err}");
}

#[test]
fn an_encrypted_coldkey_needs_its_password_and_never_prompts_in_ci() {
    let dir = tempfile::tempdir().unwrap();
    let regen = Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(["wallet", "regen", "coldkey", "--uri", "//Alice", "--wallet-name", "enc", "--wallet-path"])
        .arg(dir.path())
        .env("BT_COLD_PW_ENC", "s3cret-pass")
        .output()
        .unwrap();
    assert!(regen.status.success(), "{}", String::from_utf8_lossy(&regen.stderr));
    let check = miner(dir.path(), &["wallet", "check", "--wallet-name", "enc"]);
    assert!(!check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("BT_COLD_PW_ENC"), "{err}");
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_miner"))
        .arg("run")
        .args(args)
        .env("CI", "true")
        .env_remove("MINER_CONFIG")
        .env_remove("MINER_SETTINGS")
        .output()
        .expect("miner runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn miner_run_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tiny = repo.join("config/localnet-tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();

    let (ok, err) = run(&["--data", "x", "--state-dir", state]);
    assert!(!ok && err.contains("no run configuration: pass --config FILE"), "{err}");
    let (ok, err) = run(&["--config", tiny, "--data", "x", "--state-dir", state, "--netuid", "5"]);
    assert!(!ok && err.contains("--netuid 5") && err.contains("subnet 1"), "{err}");
    let missing = dir.path().join("nothing");
    let (ok, err) = run(&["--config", tiny, "--data", missing.to_str().unwrap(), "--state-dir", state]);
    assert!(!ok && err.contains("no manifest.json"), "{err}");
    // A dataset that is not the run's.
    let data = dir.path().join("data");
    let hash = crate::common::dataset(&data);
    let (ok, err) = run(&["--config", tiny, "--data", data.to_str().unwrap(), "--state-dir", state]);
    assert!(!ok && err.contains(&format!("content hash {hash} is not the run's")), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "one error line: {err}");

    // The right dataset, a hotkey, and no chain at the URL: named after bounded retries.
    let mut config = crate::common::run_config(&hash, 3);
    config.netuid = 1;
    let config_path = dir.path().join("run.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let wallets = dir.path().join("wallets");
    let key = subnet_client::Keypair::from_uri("//Ferdie//miner").unwrap();
    subnet_client::Wallet::new(&wallets, "m", "default").unwrap().write_hotkey(&key, false).unwrap();
    let local = |wallet: &str, extra: &[&str]| {
        let mut args = vec![
            "--config",
            config_path.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--state-dir",
            state,
            "--wallet-path",
            wallets.to_str().unwrap(),
        ];
        args.extend(["--wallet-name", wallet]);
        args.extend(extra);
        run(&args)
    };
    let (ok, err) = local("m", &["--chain-url", "ws://127.0.0.1:1", "--chain-attempts", "2"]);
    assert!(!ok && err.contains("cannot connect to the chain at ws://127.0.0.1:1 after 2 attempts"), "{err}");
    // No wallet: said before any chain round trip.
    let (ok, err) = local("nobody", &[]);
    assert!(!ok && err.contains("nobody"), "{err}");

    // The help names every setting.
    let help = Command::new(env!("CARGO_BIN_EXE_miner")).args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--config",
        "--data",
        "--state-dir",
        "--netuid",
        "--listen",
        "--settings",
        "--chain-url",
        "--wallet-name",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}
