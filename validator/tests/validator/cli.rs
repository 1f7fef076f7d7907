//! The validator carries the same chain commands as the miner.

use std::process::Command;

#[test]
fn help_lists_the_shared_chain_commands_and_bad_amounts_are_refused() {
    let help = Command::new(env!("CARGO_BIN_EXE_validator")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["wallet", "register", "stake", "metagraph", "balance"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_validator"))
        .args(["stake", "add", "--amount", "1.0000000001"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("more than 9 decimals"));
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_validator"))
        .arg("run")
        .args(args)
        .env("CI", "true")
        .env_remove("VALIDATOR_CONFIG")
        .env_remove("VALIDATOR_SETTINGS")
        .output()
        .expect("validator runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn validator_run_refuses_clearly_before_reaching_the_chain() {
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
    // A settings file with an unknown key is refused, naming the file.
    let settings = dir.path().join("validator.toml");
    std::fs::write(&settings, "weights_evry = 3\n").unwrap();
    let (ok, err) = run(&["--settings", settings.to_str().unwrap()]);
    assert!(!ok && err.contains("validator.toml") && err.contains("weights_evry"), "{err}");
    // One line, no panic.
    assert_eq!(err.trim_end().lines().filter(|l| l.starts_with("error:")).count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
