//! The node binary as its users start it: `--version`, and the dev chain spec, whose genesis
//! must carry exactly the runtime the node was built with. (Having an integration test also
//! makes `cargo test` build the binary itself, so one cargo command builds the node and every
//! test that runs it.)

use std::process::Command;

const NODE: &str = env!("CARGO_BIN_EXE_subnet-node");

fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::new(NODE).args(args).output().expect("the node binary starts");
    assert!(out.status.success(), "subnet-node {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn version_names_the_node() {
    let text = String::from_utf8(run(&["--version"])).unwrap();
    assert!(text.contains("subnet-node"), "{text}");
}

#[test]
fn the_dev_chain_spec_carries_the_runtime_the_node_was_built_with() {
    let wasm = std::fs::read(env!("SUBNET_RUNTIME_WASM")).expect("the runtime the node embeds");
    let args = ["build-spec", "--chain", "dev", "--raw", "--disable-default-bootnode"];
    let spec: serde_json::Value = serde_json::from_slice(&run(&args)).unwrap();
    // `:code` in the raw genesis storage.
    let code = spec["genesis"]["raw"]["top"]["0x3a636f6465"].as_str().expect("genesis has :code");
    let code = hex_decode(code.strip_prefix("0x").unwrap());
    assert_eq!(code.len(), wasm.len());
    assert!(code == wasm, "the genesis runtime differs from SUBNET_RUNTIME_WASM");
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}
