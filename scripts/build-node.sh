#!/usr/bin/env bash
# Builds the devnet node, `subnet-node` (release), with the fast-blocks wasm runtime embedded,
# installing what the build needs first. Prints the binary's path. The node is built as part of
# the one workspace build (scripts/lib.sh, build_workspace), so the miner, the validator and the
# tests come with it and a later test run compiles nothing again.
#
#   scripts/build-node.sh
#
# The runtime is built to wasm by scripts/build-runtime-wasm.sh (with or without a rustup wasm
# target) and handed to the node's build in SUBNET_RUNTIME_WASM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
no_args_but_help "$@"
build_workspace
echo "$NODE_BIN"
