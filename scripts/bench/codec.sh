#!/usr/bin/env bash
# Gradient codec benchmark (criterion) on the `small` preset's tensors: prints the compression
# ratio against fp32, then encode / decode throughput in bytes of fp32 parameters per second.
#   scripts/bench/codec.sh [criterion filter]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
setup_prereqs
cd "$REPO_ROOT"
cargo bench --locked -p model --bench codec -- "$@"
