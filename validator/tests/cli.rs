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
