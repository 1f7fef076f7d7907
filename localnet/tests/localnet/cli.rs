//! The command line refuses what it cannot run, with a clear message, before starting anything.

use std::process::Command;

fn localnet(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_localnet")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn help_names_the_settings_and_bad_ones_are_refused() {
    let (ok, help) = localnet(&["--help"]);
    assert!(ok, "{help}");
    for flag in [
        "--preset",
        "--miners",
        "--validators",
        "--run-dir",
        "--chain-only",
        "--then",
        "--no-purge",
        "--with-bad-miners",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().to_str().unwrap();
    let (ok, text) = localnet(&["--run-dir", run_dir]);
    assert!(!ok && text.contains("--data"), "{text}");
    let (ok, text) = localnet(&["--run-dir", run_dir, "--data", "x", "--preset", "huge"]);
    assert!(!ok && text.contains("huge"), "{text}");
    let missing = dir.path().join("no-node");
    let (ok, text) = localnet(&["--run-dir", run_dir, "--chain-only", "--node", missing.to_str().unwrap()]);
    assert!(!ok && text.contains("no node at") && text.contains("build-node.sh"), "{text}");
}
