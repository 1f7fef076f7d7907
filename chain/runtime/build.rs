//! With the `wasm-builder` feature (and a rustup wasm32 target), builds the wasm runtime the
//! standard way and embeds it as `WASM_BINARY`. Without it, `scripts/build-runtime-wasm.sh`
//! builds the same crate to wasm on machines that have no rustup wasm target.

fn main() {
    #[cfg(feature = "wasm-builder")]
    substrate_wasm_builder::WasmBuilder::build_using_defaults();
    // Without it there is nothing to rebuild for: say so, or cargo reruns this script (and
    // recompiles the runtime and the node) whenever any file of the package changes, its tests
    // included.
    #[cfg(not(feature = "wasm-builder"))]
    println!("cargo:rerun-if-changed=build.rs");
}
