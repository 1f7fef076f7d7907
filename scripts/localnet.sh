#!/usr/bin/env bash
# Starts the local subnet: two authority nodes (Alice, Bob) on loopback that produce and finalize
# blocks, subnet 1 with localnet hyperparameters, and funded wallets. Stays in the foreground
# until Ctrl-C, which stops exactly the processes it started.
#
#   scripts/localnet.sh [--build-only] [--no-purge] [--no-build] [--check] [--rpc-port N] [--run-dir DIR]
#
#   --build-only  install prerequisites and build the node, then exit
#   --no-purge    keep the chain state of the previous run (default: start from genesis)
#   --no-build    use the node binary already built
#   --check       after setup, run the interop check (scripts/chain/interop_check.py), stop
#                 everything and exit with its status (what the tests do)
#   --rpc-port N  Alice's RPC port (default 9944; Bob uses N+1); 0 picks free ports
#   --run-dir D   chain state, logs and wallets.json (default ~/.cache/llm-subnet/localnet)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build=1 build_only=0 purge=1 check=0 rpc_port=9944
run_dir="${LOCALNET_DIR:-$CACHE_HOME/localnet}"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1; shift ;;
    --no-purge) purge=0; shift ;;
    --no-build) build=0; shift ;;
    --check) check=1; shift ;;
    --rpc-port) rpc_port="${2:?--rpc-port needs a number}"; shift 2 ;;
    --run-dir) run_dir="${2:?--run-dir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[[ "$rpc_port" =~ ^[0-9]+$ ]] || die "--rpc-port takes a number, not '$rpc_port'"
[ "$build" -eq 1 ] && { build_node; build_binaries; }
[ "$build_only" -eq 1 ] && { log "built $NODE_BIN"; exit 0; }
[ -x "$NODE_BIN" ] || die "no node at $NODE_BIN: run without --no-build"
command -v curl >/dev/null || need_apt curl
setup_chain_venv
# Everything here talks to 127.0.0.1: never through a proxy from the environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# --- processes: every one started is recorded here and stopped by pid -------------------------
PIDS=()
NAMES=()
stop_all() {
  trap - INT TERM EXIT
  [ ${#PIDS[@]} -eq 0 ] && return 0
  log "stopping ${NAMES[*]}"
  kill -TERM "${PIDS[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  kill -KILL "${PIDS[@]}" 2>/dev/null || true
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# start_process NAME COMMAND...: runs COMMAND in the background, logging to $run_dir/NAME.log.
# Later steps (miners, validators) start their processes the same way.
start_process() {
  local name="$1"; shift
  "$@" >"$run_dir/$name.log" 2>&1 &
  PIDS+=($!)
  NAMES+=("$name")
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_ports N: N distinct free ports (all held open until every one is chosen).
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# rpc URL METHOD [PARAMS_JSON]: the JSON-RPC answer, or nothing if the node is not answering.
rpc() {
  curl -s --noproxy '*' --max-time 5 -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" "$1" || true
}
finalized_number() {
  local hash
  hash=$(rpc "$1" chain_getFinalizedHead | sed -nE 's/.*"result":"(0x[0-9a-f]+)".*/\1/p')
  [ -n "$hash" ] || { echo -1; return; }
  printf '%d\n' "$(rpc "$1" chain_getHeader "[\"$hash\"]" | sed -nE 's/.*"number":"(0x[0-9a-f]+)".*/\1/p')"
}

# --- the chain ----------------------------------------------------------------------------------
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
if [ "$purge" -eq 1 ]; then
  rm -rf "$run_dir/alice" "$run_dir/bob" "$run_dir"/*.log "$run_dir/wallets.json"
fi
if [ "$rpc_port" -eq 0 ]; then
  read -r alice_rpc bob_rpc alice_p2p bob_p2p alice_metrics bob_metrics < <(free_ports 6)
else
  alice_rpc=$rpc_port bob_rpc=$((rpc_port + 1)) alice_p2p=30333 bob_p2p=30334
  alice_metrics=9615 bob_metrics=9616
fi
for port in "$alice_rpc" "$bob_rpc" "$alice_p2p" "$bob_p2p" "$alice_metrics" "$bob_metrics"; do
  port_busy "$port" && die "port $port is in use (another localnet?): stop it, or pass --rpc-port 0"
done

# Authorities need a network key; they are kept in the run dir, and Alice's peer id goes into
# Bob's bootnode address.
for who in alice bob; do
  [ -f "$run_dir/$who-node-key" ] ||
    "$NODE_BIN" key generate-node-key --file "$run_dir/$who-node-key" 2>"$run_dir/node-key.log" ||
    { cat "$run_dir/node-key.log" >&2; die "cannot generate a node key"; }
done
alice_peer=$("$NODE_BIN" key inspect-node-key --file "$run_dir/alice-node-key")

node_args=(--chain local --validator --no-mdns --no-telemetry --state-pruning archive)
log "starting Alice (RPC $alice_rpc) and Bob (RPC $bob_rpc); logs in $run_dir"
start_process alice "$NODE_BIN" "${node_args[@]}" --alice --base-path "$run_dir/alice" \
  --node-key-file "$run_dir/alice-node-key" --listen-addr "/ip4/127.0.0.1/tcp/$alice_p2p" \
  --rpc-port "$alice_rpc" --prometheus-port "$alice_metrics"
start_process bob "$NODE_BIN" "${node_args[@]}" --bob --base-path "$run_dir/bob" \
  --node-key-file "$run_dir/bob-node-key" \
  --listen-addr "/ip4/127.0.0.1/tcp/$bob_p2p" \
  --bootnodes "/ip4/127.0.0.1/tcp/$alice_p2p/p2p/$alice_peer" \
  --rpc-port "$bob_rpc" --prometheus-port "$bob_metrics"

# check_alive: fails, with the dead process's last log lines, if any started process exited.
check_alive() {
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || { tail -20 "$run_dir/${NAMES[$i]}.log" >&2; die "${NAMES[$i]} exited"; }
  done
}

# sc-cli moves RPC to a random port if the asked one was taken meanwhile: insist on ours.
start=$SECONDS
for who in alice bob; do
  want=$([ "$who" = alice ] && echo "$alice_rpc" || echo "$bob_rpc")
  until addr=$(sed -nE 's/.*Running JSON-RPC server: addr=127\.0\.0\.1:([0-9]+).*/\1/p' "$run_dir/$who.log" | head -1) && [ -n "$addr" ]; do
    check_alive
    [ $((SECONDS - start)) -lt 120 ] || die "$who did not start its RPC server within 120 s (see $run_dir/$who.log)"
    sleep 0.2
  done
  [ "$addr" = "$want" ] || die "$who serves RPC on $addr, not $want: port $want was taken, try another --rpc-port"
done

alice_url="http://127.0.0.1:$alice_rpc" bob_url="http://127.0.0.1:$bob_rpc"
log "waiting for both nodes to finalize blocks"
until [ "$(finalized_number "$alice_url")" -ge 2 ] && [ "$(finalized_number "$bob_url")" -ge 2 ]; do
  check_alive
  [ $((SECONDS - start)) -lt 120 ] || { tail -20 "$run_dir/alice.log" >&2; die "no finalized block within 120 s"; }
  sleep 0.5
done
log "finalized block $(finalized_number "$alice_url") after $((SECONDS - start)) s"

log "creating subnet 1 and funding wallets"
"$CHAIN_PY" "$REPO_ROOT/scripts/chain/localnet_setup.py" --url "ws://127.0.0.1:$alice_rpc" \
  --netuid 1 --out "$run_dir/wallets.json" >/dev/null

cat >"$run_dir/endpoints.env" <<ENV
ALICE_RPC=ws://127.0.0.1:$alice_rpc
BOB_RPC=ws://127.0.0.1:$bob_rpc
NETUID=1
WALLETS=$run_dir/wallets.json
ENV

if [ "$check" -eq 1 ]; then
  log "interop check with substrate-interface"
  "$CHAIN_PY" "$REPO_ROOT/scripts/chain/interop_check.py" --url "ws://127.0.0.1:$bob_rpc" --netuid 1 --expect-neurons 1
  log "the miner CLI: wallet from the localnet's dev keys, register, stake, metagraph"
  bash "$REPO_ROOT/scripts/chain/cli_walkthrough.sh" "ws://127.0.0.1:$alice_rpc" 1
  exit 0
fi

cat <<MSG

Local subnet is up (Ctrl-C stops it).
  Alice RPC     ws://127.0.0.1:$alice_rpc   (polkadot.js: https://polkadot.js.org/apps/?rpc=ws://127.0.0.1:$alice_rpc)
  Bob RPC       ws://127.0.0.1:$bob_rpc
  Subnet        netuid 1, owner Alice, tempo 10 blocks of 1 s
  Wallets       $run_dir/wallets.json (dev keys: coldkey //NAME, hotkey //NAME//hotkey)
  Logs          $run_dir/alice.log, $run_dir/bob.log
  Metrics       http://127.0.0.1:$alice_metrics/metrics, http://127.0.0.1:$bob_metrics/metrics
  Endpoints     $run_dir/endpoints.env

Next: a wallet from the funded dev keys, then register and stake (README, "Wallets and registration"):
  $BIN_DIR/miner wallet regen coldkey --uri //miner1 --no-password --wallet-name miner1
  $BIN_DIR/miner wallet regen hotkey --uri //miner1//hotkey --wallet-name miner1
  $BIN_DIR/miner register --wallet-name miner1 --netuid 1 --max-burn 1
  $BIN_DIR/miner stake add --wallet-name miner1 --netuid 1 --amount 25
  $BIN_DIR/miner metagraph --netuid 1
Check it with an independent client:
  $CHAIN_PY $REPO_ROOT/scripts/chain/interop_check.py --url ws://127.0.0.1:$alice_rpc
MSG
# Until Ctrl-C; if a process dies, stop the others and fail. (Polling, because `wait -n` would
# not notice a process that died before it was called.)
while sleep 1; do check_alive; done
