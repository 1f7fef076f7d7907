//! The miner's wallet commands as a user runs them: real process, real files.

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
