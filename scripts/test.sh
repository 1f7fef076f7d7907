#!/usr/bin/env bash
# Installs prerequisites, builds, and runs every check and test (release profile: the one build
# that tests, benchmarks and the localnet share). Ends with a one-line summary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_prereqs
setup_browser
cd "$REPO_ROOT"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

log "checking formatting"
cargo fmt --all --check
log "independent page-assignment reference (Python)"
python3 scripts/pages_reference.py --check
log "the runtime builds to wasm (catches no_std breakage the native build cannot see), then the workspace"
# One cargo build: the node, the binaries and every test. The wasm's "runtime wasm ok" line is
# counted as a check.
build_workspace 2>&1 | tee "$out"
log "clippy, warnings denied (the workspace's lints are in Cargo.toml)"
cargo clippy "${WORKSPACE_ARGS[@]}" --all-targets -- -D warnings 2>&1 | tee -a "$out"
log "running cargo tests"
SUBNET_NODE_BIN="$NODE_BIN" CHROMIUM=/usr/bin/chromium cargo test "${WORKSPACE_ARGS[@]}" 2>&1 | tee -a "$out"
log "wallets move both ways with bittensor-wallet (PyPI)"
bash scripts/wallet-interop.sh --no-build 2>&1 | tee -a "$out"
log "HF transformers loads our checkpoints with the same logits"
bash scripts/check/hf.sh | tee -a "$out"
log "localnet: two authorities, subnet 1, an independent client (substrate-interface), the miner CLI"
localnet_dir=$(mktemp -d)
bash scripts/localnet.sh --no-build --check --run-dir "$localnet_dir" 2>&1 | tee -a "$out"
rm -rf "$localnet_dir"

# Sum cargo's "test result" lines, the HF check's "(N passed, M failed)", and the one-line checks.
read -r passed failed < <(sed -nE \
  -e 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' \
  -e 's/^hf check: .*\(([0-9]+) passed, ([0-9]+) failed\).*/\1 \2/p' \
  -e 's/^runtime wasm ok: .*/1 0/p' \
  -e 's/^interop ok: .*/1 0/p' \
  -e 's/^wallet interop ok$/1 0/p' \
  -e 's/^cli walkthrough ok: .*/1 0/p' "$out" |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
