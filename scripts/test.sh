#!/usr/bin/env bash
# Installs prerequisites, builds, and runs every check and test (release profile: the one build
# that tests, benchmarks and the localnet share). Ends with a one-line summary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_prereqs
cd "$REPO_ROOT"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

log "checking formatting"
cargo fmt --all --check
log "independent page-assignment reference (Python)"
python3 scripts/pages_reference.py --check
log "running cargo tests"
# chain-bench (the weights generator) pulls in the node stack; it has no tests of its own.
cargo test --release --workspace --exclude chain-bench --locked --features "$CHAIN_TEST_FEATURES" 2>&1 | tee "$out"
log "HF transformers loads our checkpoints with the same logits"
bash scripts/check/hf.sh | tee -a "$out"
log "the runtime builds to wasm (catches no_std breakage the native build cannot see)"
bash scripts/build-runtime-wasm.sh --features fast-blocks 2>&1 >/dev/null | tee -a "$out"

# Sum cargo's "test result" lines, the HF check's "(N passed, M failed)" and the wasm check.
read -r passed failed < <(sed -nE \
  -e 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' \
  -e 's/^hf check: .*\(([0-9]+) passed, ([0-9]+) failed\).*/\1 \2/p' \
  -e 's/^runtime wasm ok: .*/1 0/p' "$out" |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
