#!/usr/bin/env bash
# Fuzzes the gradient payload decoder with cargo-fuzz (libFuzzer + AddressSanitizer).
#   scripts/fuzz.sh [SECONDS]      (default 60)
# Installs cargo-fuzz into the cache; uses a nightly toolchain if rustup has one, otherwise
# stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags). Crashes land in
# model/fuzz/artifacts/decode_payload/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds="${1:-60}"
setup_prereqs
tools="$CACHE_HOME/tools"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  log "installing cargo-fuzz into $tools"
  cargo install --locked --root "$tools" cargo-fuzz >&2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
export PATH="$tools/bin:$PATH"
cd "$REPO_ROOT/model/fuzz"
log "fuzzing decode_payload for ${seconds}s"
cargo "${toolchain[@]}" fuzz run --target-dir "$CACHE_HOME/fuzz-target" \
  decode_payload -- -max_total_time="$seconds" -max_len=4096
