#!/usr/bin/env bash
# Installs prerequisites, builds, and runs every test (release profile: the one build that
# tests, benchmarks and the localnet share).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_prereqs
cd "$REPO_ROOT"
log "checking formatting"
cargo fmt --all --check
log "independent page-assignment reference (Python)"
python3 scripts/pages_reference.py --check
log "running tests"
cargo test --release --workspace --locked
