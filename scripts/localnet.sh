#!/usr/bin/env bash
# Starts the local subnet: two authority nodes (Alice, Bob) on loopback that produce and finalize
# blocks, subnet 1 with localnet hyperparameters, wallets for two validators and the miners
# (bittensor wallet files in the run directory), their registrations and stake, and the
# validators and miners as processes with their logs in the run directory. Stays in the
# foreground with a status summary until Ctrl-C, which stops exactly the processes it started.
# The orchestration is the `localnet` binary (localnet/), which the end-to-end tests use too.
#
#   scripts/localnet.sh [--preset tiny|small] [--miners N] [--with-bad-miners] [--no-purge]
#                       [--no-build] [--build-only] [--check] [--run-dir DIR] [-- LOCALNET_ARGS...]
#
#   --preset P    the model: tiny (default; 20 s windows) or small (40 s windows)
#   --miners N    honest miners (default 3)
#   --with-bad-miners  add a freeloader (serves zeros) and a copycat (re-serves miner1's payload):
#                 the validators' reports name them and they earn nothing
#   --no-purge    keep the chain state of the previous run (default: start from genesis)
#   --no-build    use the binaries already built
#   --build-only  install prerequisites and build everything, then exit
#   --check       only the chain: set up subnet 1 with an independent client (substrate-interface),
#                 run the interop check and the CLI walkthrough, stop everything, exit with their
#                 status (what the tests do)
#   --run-dir D   chain state, logs, wallets and peer state (default ~/.cache/llm-subnet/localnet)
#   after --       more `localnet` flags (see `localnet --help`: --validators, --threads, ...)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build=1 build_only=0 purge=1 check=0 preset=tiny miners=3
run_dir="${LOCALNET_DIR:-$CACHE_HOME/localnet}"
extra=() extra_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="${2:?--preset needs tiny or small}"; shift 2 ;;
    --miners) miners="${2:?--miners needs a number}"; shift 2 ;;
    --with-bad-miners) extra_flags+=(--with-bad-miners); shift ;;
    --build-only) build_only=1; shift ;;
    --no-purge) purge=0; shift ;;
    --no-build) build=0; shift ;;
    --check) check=1; shift ;;
    --run-dir) run_dir="${2:?--run-dir needs a directory}"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$preset" in tiny|small) ;; *) die "--preset is tiny or small, not '$preset'" ;; esac
[[ "$miners" =~ ^[0-9]+$ ]] || die "--miners takes a number, not '$miners'"

if [ "$build" -eq 1 ]; then
  setup_prereqs
  build_workspace
fi
[ "$build_only" -eq 1 ] && { log "built $NODE_BIN and $BIN_DIR/localnet"; exit 0; }
for bin in "$NODE_BIN" "$BIN_DIR/localnet" "$BIN_DIR/miner" "$BIN_DIR/validator"; do
  [ -x "$bin" ] || die "no $bin: run without --no-build"
done
# Everything here talks to 127.0.0.1: never through a proxy from the environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
mkdir -p "$run_dir"
purge_flag=()
[ "$purge" -eq 1 ] || purge_flag=(--no-purge)

if [ "$check" -eq 1 ]; then
  setup_chain_venv
  command -v curl >/dev/null || need_apt curl
  # shellcheck disable=SC2016  # expanded by the shell `localnet --then` starts
  checks='"$CHAIN_PY" "$REPO_ROOT/scripts/chain/localnet_setup.py" --url "$ALICE_RPC" --netuid 1 --out "$LOCALNET_DIR/wallets.json" >/dev/null &&
    echo "==> interop check with substrate-interface" >&2 &&
    "$CHAIN_PY" "$REPO_ROOT/scripts/chain/interop_check.py" --url "$BOB_RPC" --netuid 1 --expect-neurons 1 &&
    echo "==> the miner CLI: wallet from the localnet dev keys, register, stake, metagraph" >&2 &&
    bash "$REPO_ROOT/scripts/chain/cli_walkthrough.sh" "$ALICE_RPC" 1'
  CHAIN_PY="$CHAIN_PY" REPO_ROOT="$REPO_ROOT" BIN_DIR="$BIN_DIR" \
    exec "$BIN_DIR/localnet" --chain-only --run-dir "$run_dir" --repo "$REPO_ROOT" \
    --node "$NODE_BIN" "${purge_flag[@]}" --then "$checks"
fi

data=$(prepare_fortunes 256)
exec "$BIN_DIR/localnet" --preset "$preset" --miners "$miners" --data "$data" --run-dir "$run_dir" \
  --repo "$REPO_ROOT" --node "$NODE_BIN" "${purge_flag[@]}" "${extra_flags[@]}" "${extra[@]}"
