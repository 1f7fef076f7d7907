//! Embeds the wasm runtime the node starts its chains with.
//!
//! The runtime is built to wasm by `scripts/build-runtime-wasm.sh` (which works with or without a
//! rustup wasm target) and handed over in `SUBNET_RUNTIME_WASM`; `scripts/build-node.sh` does both.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=SUBNET_RUNTIME_WASM");
    let Some(src) = env::var_os("SUBNET_RUNTIME_WASM") else {
        panic!(
            "SUBNET_RUNTIME_WASM is not set: build the node with scripts/build-node.sh, which builds \
             the wasm runtime first, or set it to a runtime built by scripts/build-runtime-wasm.sh"
        );
    };
    let src = PathBuf::from(src);
    println!("cargo:rerun-if-changed={}", src.display());
    let code = fs::read(&src).unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    // Every wasm module starts with `\0asm`; catching a wrong path here beats a node that
    // fails at genesis.
    assert!(code.starts_with(b"\0asm"), "{} is not a wasm module", src.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("runtime.wasm");
    fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
