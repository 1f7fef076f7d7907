#!/usr/bin/env bash
# The README's path from nothing to a registered, staked hotkey, with the `miner` CLI, against a
# running localnet: import the localnet's funded dev keys as a wallet, register, stake, and read
# the hotkey back from the metagraph. Usage: cli_walkthrough.sh WS_URL NETUID
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
url="$1" netuid="$2"
miner="$BIN_DIR/miner"
[ -x "$miner" ] || die "$miner is missing; build it with scripts/localnet.sh --build-only"
wallets=$(mktemp -d)
trap 'rm -rf "$wallets"' EXIT
m() { "$miner" "$@" --wallet-path "$wallets" --wallet-name miner1 </dev/null; }

m wallet regen coldkey --uri //miner1 --no-password
m wallet regen hotkey --uri //miner1//hotkey
hotkey=$(m wallet list | awk '$1 == "hotkey" {print $3}')
[ -n "$hotkey" ] || die "wallet list shows no hotkey"
m register --chain-url "$url" --netuid "$netuid" --max-burn 1
m stake add --chain-url "$url" --netuid "$netuid" --amount 25
m balance --chain-url "$url"
table=$("$miner" metagraph --chain-url "$url" --netuid "$netuid")
echo "$table"
row=$(grep -F " $hotkey " <<<"$table") || die "hotkey $hotkey is not in the metagraph"
stake=$(awk '{print $3}' <<<"$row")
awk -v s="$stake" 'BEGIN {exit !(s >= 25)}' || die "hotkey stake is $stake TAO, expected at least 25"
echo "cli walkthrough ok: $hotkey registered with $stake TAO staked"
