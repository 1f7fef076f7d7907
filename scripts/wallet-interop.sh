#!/usr/bin/env bash
# Wallets move both ways between this project and Bittensor's own `bittensor-wallet` (PyPI):
#  1. bittensor-wallet creates a wallet (password-encrypted coldkey, hotkey); `miner wallet check`
#     loads it and must print the same ss58 addresses.
#  2. `miner wallet new` creates a wallet (password-encrypted coldkey, hotkey); bittensor-wallet
#     loads it, decrypts the coldkey with the password, and signs with both keys.
# Usage: scripts/wallet-interop.sh [--no-build]. Prints "wallet interop ok" on success.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --no-build) build=0 ;;
  "") build=1 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

setup_wallet_venv
if [ "$build" = 1 ]; then
  build_workspace
fi
miner="$BIN_DIR/miner"
[ -x "$miner" ] || die "$miner is missing; run without --no-build"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wallets="$work/wallets"
export COLDKEY_PASSWORD="interop-Pa55-$(date +%s)"

# bittensor-wallet prints progress ("Encrypting...") on stdout too: the JSON is the last line.
field() { "$WALLET_PY" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }

# 1. Theirs -> ours.
theirs=$("$WALLET_PY" "$REPO_ROOT/scripts/wallet/interop.py" create "$wallets" from_btwallet </dev/null)
ours=$(BT_COLD_PW_FROM_BTWALLET="$COLDKEY_PASSWORD" "$miner" wallet check \
  --wallet-path "$wallets" --wallet-name from_btwallet </dev/null)
for key in coldkey hotkey; do
  want=$(field "$key" <<<"$theirs")
  got=$(awk -v k="$key" '$1 == k {print $2}' <<<"$ours")
  [ "$want" = "$got" ] || die "bittensor-wallet $key $want loads here as '$got'"
  log "bittensor-wallet $key $want loads here unchanged"
done
wrong=$(BT_COLD_PW_FROM_BTWALLET="not-the-password" "$miner" wallet check \
  --wallet-path "$wallets" --wallet-name from_btwallet </dev/null 2>&1) && die "a wrong password was accepted"
grep -q "wrong password" <<<"$wrong" || die "a wrong password gave: $wrong"

# 2. Ours -> theirs.
created=$(CI=true BT_COLD_PW_FROM_MINER="$COLDKEY_PASSWORD" "$miner" wallet new \
  --wallet-path "$wallets" --wallet-name from_miner </dev/null)
loaded=$("$WALLET_PY" "$REPO_ROOT/scripts/wallet/interop.py" load "$wallets" from_miner </dev/null)
for key in coldkey hotkey; do
  want=$(awk -v k="$key" '$1 == k && $3 == "written" {print $2}' <<<"$created")
  got=$(field "$key" <<<"$loaded")
  [ -n "$want" ] && [ "$want" = "$got" ] || die "our $key '$want' loads in bittensor-wallet as '$got'"
  [ "$(field "${key}_signs" <<<"$loaded")" = True ] || die "bittensor-wallet cannot sign with our $key"
  log "our $key $want loads in bittensor-wallet and signs"
done
[ "$(field coldkeypub <<<"$loaded")" = "$(field coldkey <<<"$loaded")" ] || die "coldkeypub.txt disagrees"
head -c 5 "$wallets/from_miner/coldkey" | grep -q '^\$NACL' || die "our coldkey is not \$NACL-encrypted"
for f in coldkey coldkeypub.txt hotkeys/default; do
  mode=$(stat -c %a "$wallets/from_miner/$f")
  [ "$mode" = 600 ] || die "$f has mode $mode, not 600"
done
grep -q "$COLDKEY_PASSWORD" -r "$wallets" && die "the password appears in a wallet file"
echo "wallet interop ok"
