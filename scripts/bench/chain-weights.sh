#!/usr/bin/env bash
# Runs the chain pallets' FRAME benchmarks inside the wasm runtime and rewrites their weights.rs.
#
#   scripts/bench/chain-weights.sh [--steps N] [--repeat N] [--pallet NAME]
#
# Builds the runtime to wasm with `runtime-benchmarks` (scripts/build-runtime-wasm.sh) and
# chain-bench (frame-benchmarking-cli against the pinned polkadot-sdk), then writes
# chain/pallets/*/src/weights.rs from chain/bench/weight-template.hbs.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

steps=20
repeat=5
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --pallet) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

# The node-side crates need protoc (libp2p) and OpenSSL headers.
setup_node_prereqs
wasm=$(bash "$REPO_ROOT/scripts/build-runtime-wasm.sh" --features runtime-benchmarks)
log "building chain-bench"
# SKIP_WASM_BUILD: frame-benchmarking-cli's storage test runtime is not needed for pallets.
(cd "$REPO_ROOT" && SKIP_WASM_BUILD=1 cargo build --release --locked -p chain-bench)

for entry in pallet_subnet:subnet pallet_admin_utils:admin-utils pallet_commitments:commitments; do
  pallet="${entry%%:*}" dir="$REPO_ROOT/chain/pallets/${entry#*:}"
  [ -z "$only" ] || [ "$only" = "$pallet" ] || continue
  log "benchmarking $pallet ($steps steps x $repeat repeats)"
  "$BIN_DIR/chain-bench" pallet --runtime "$wasm" --genesis-builder runtime \
    --pallet "$pallet" --extrinsic '*' --steps "$steps" --repeat "$repeat" \
    --template "$REPO_ROOT/chain/bench/weight-template.hbs" --output "$dir/src/weights.rs"
  # The header records the command: with paths of this machine's, which mean nothing elsewhere.
  sed -i -e "s#$REPO_ROOT/##g" -e "s#$BIN_DIR/##g" -e "s#$CACHE_HOME/#\$CACHE_HOME/#g" "$dir/src/weights.rs"
done
log "weights written; review with: git diff chain/pallets/*/src/weights.rs"
