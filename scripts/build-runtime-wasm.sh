#!/usr/bin/env bash
# Builds the chain runtime to wasm and prints the path of the blob.
#
#   scripts/build-runtime-wasm.sh [--features fast-blocks] [--out FILE]
#
# With a rustup wasm32 target installed this is the standard substrate-wasm-builder build
# (`cargo build -p subnet-runtime --features wasm-builder`). Without one (these machines cannot
# download rustup components), it builds the same crate with Debian's rustc and the std sources
# (`-Zbuild-std`), linked by wasm-ld, with the flags substrate-wasm-builder would pass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

features=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --features) features="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
suffix="${features:+-${features//,/-}}"
out="${out:-$CACHE_HOME/runtime/subnet_runtime$suffix.wasm}"
mkdir -p "$(dirname "$out")"

# Replaces $2 only when the content changed: the node's build reruns when the blob's mtime moves.
install_if_changed() {
  cmp -s "$1" "$2" || { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
}

if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qE '^wasm32(v1-none|-unknown-unknown)$'; then
  log "building the runtime with substrate-wasm-builder (rustup wasm target found)"
  (cd "$REPO_ROOT" && cargo build --release --locked -p subnet-runtime --features "wasm-builder${features:+,$features}")
  install_if_changed "$CARGO_TARGET_DIR/release/wbuild/subnet-runtime/subnet_runtime.compact.compressed.wasm" "$out"
else
  need_apt rustc-web cargo-web rust-web-src lld-19
  [ -x /usr/bin/wasm-ld-19 ] || die "wasm-ld-19 missing after installing lld-19"
  # A wrapper crate, as substrate-wasm-builder generates: a cdylib that re-exports the runtime.
  project="$CACHE_HOME/runtime-wasm/project"
  mkdir -p "$project"
  cat > "$project/Cargo.toml.new" <<TOML
[package]
name = "subnet-runtime-wasm"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]
path = "lib.rs"

[dependencies]
subnet-runtime = { path = "$REPO_ROOT/chain/runtime", default-features = false, features = [$(printf '"%s",' ${features//,/ })] }

[profile.release]
panic = "abort"
lto = "thin"
codegen-units = 1

[workspace]
TOML
  mv "$project/Cargo.toml.new" "$project/Cargo.toml"
  printf '#![no_std]\npub use subnet_runtime::*;\n' > "$project/lib.rs"
  # Same dependency versions as the workspace.
  cp "$REPO_ROOT/Cargo.lock" "$project/Cargo.lock"
  log "building the runtime for wasm32 with Debian's rustc and -Zbuild-std"
  (cd "$project" &&
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
    RUSTFLAGS="-C target-cpu=mvp -C target-feature=-sign-ext -C link-arg=--export-table -C link-arg=--export=__heap_base -C link-arg=--import-memory --cfg substrate_runtime" \
    /usr/bin/cargo build --release --target wasm32-unknown-unknown -Zbuild-std=core,alloc \
      --target-dir "$CACHE_HOME/runtime-wasm/target")
  install_if_changed "$CACHE_HOME/runtime-wasm/target/wasm32-unknown-unknown/release/subnet_runtime_wasm.wasm" "$out"
fi

python3 "$REPO_ROOT/scripts/chain/check_runtime_wasm.py" "$out" >&2
echo "$out"
