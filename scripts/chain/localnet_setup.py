"""Creates the localnet's subnet and funds its wallets, through an independent client.

    python localnet_setup.py --url ws://127.0.0.1:9944 [--netuid 1] [--wallets validator,miner1,miner2]
                             [--out wallets.json]

Signs with the dev keys: Alice (sudo) registers subnet `--netuid` if it does not exist yet (her
hotkey `//Alice//owner` becomes uid 0), sets the localnet hyperparameters through
`Sudo.sudo(AdminUtils.*)`, and funds each named wallet: coldkey `//NAME` and hotkey
`//NAME//hotkey` (dev keys, no password; the wallet CLI can import them by URI). Safe to re-run
against a chain kept with `--no-purge`. Uses polkascan's substrate-interface from PyPI, so it
also checks that a standard client can use the chain.
"""

import argparse
import json
import sys

from chain_util import TAO, give_up_after
from substrateinterface import Keypair, SubstrateInterface

# Hyperparameters for a one-machine devnet: short epochs, cheap registration, frequent weights.
LOCALNET_HYPERPARAMETERS = [
    ("sudo_set_tempo", {"tempo": 10}),
    ("sudo_set_min_burn", {"min_burn": TAO // 1000}),
    ("sudo_set_max_burn", {"max_burn": TAO}),
    ("sudo_set_weights_set_rate_limit", {"weights_set_rate_limit": 2}),
    ("sudo_set_serving_rate_limit", {"serving_rate_limit": 0}),
    ("sudo_set_allow_loopback_axons", {"allowed": True}),
]
COLDKEY_FUNDS = 10_000 * TAO
HOTKEY_FUNDS = 100 * TAO
SETUP_TIMEOUT_SECONDS = 300


def fail(message):
    print(f"localnet setup: {message}", file=sys.stderr)
    sys.exit(1)


def submit(substrate, signer, call, what):
    """Submits `call` signed by `signer`, waits for inclusion, and fails on any dispatch error,
    including a failed call inside `Sudo.sudo` (which the extrinsic itself reports as success)."""
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=signer)
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_inclusion=True)
    if not receipt.is_success:
        fail(f"{what} failed: {receipt.error_message}")
    for event in receipt.triggered_events:
        value = event.value
        if value["module_id"] == "Sudo" and value["event_id"] == "Sudid":
            result = value["attributes"]["sudo_result"]
            if isinstance(result, dict) and "Err" in result:
                fail(f"{what} failed under sudo: {result['Err']}")
    print(f"  {what}: ok (block {receipt.block_hash})", file=sys.stderr)


def storage(substrate, pallet, item, params=None):
    return substrate.query(pallet, item, params or []).value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="node WebSocket RPC, e.g. ws://127.0.0.1:9944")
    parser.add_argument("--netuid", type=int, default=1)
    parser.add_argument("--wallets", default="validator,miner1,miner2", help="comma-separated names")
    parser.add_argument("--out", help="write the wallets' keys and addresses here as JSON")
    args = parser.parse_args()
    give_up_after(SETUP_TIMEOUT_SECONDS, "localnet setup")

    substrate = SubstrateInterface(url=args.url)
    alice = Keypair.create_from_uri("//Alice")
    owner_hotkey = Keypair.create_from_uri("//Alice//owner")
    netuid = args.netuid

    if storage(substrate, "SubtensorModule", "NetworksAdded", [netuid]):
        print(f"subnet {netuid} exists already", file=sys.stderr)
    else:
        expected = storage(substrate, "SubtensorModule", "TotalNetworks") + 1
        if expected != netuid:
            fail(f"the next subnet created would be {expected}, not {netuid}")
        print(f"creating subnet {netuid} (owner {alice.ss58_address})", file=sys.stderr)
        call = substrate.compose_call("SubtensorModule", "register_network", {"hotkey": owner_hotkey.ss58_address})
        submit(substrate, alice, call, "register_network")

    print("setting localnet hyperparameters", file=sys.stderr)
    for function, params in LOCALNET_HYPERPARAMETERS:
        inner = substrate.compose_call("AdminUtils", function, {"netuid": netuid, **params})
        submit(substrate, alice, substrate.compose_call("Sudo", "sudo", {"call": inner}), function)

    wallets = {}
    for name in filter(None, (n.strip() for n in args.wallets.split(","))):
        cold_uri, hot_uri = f"//{name}", f"//{name}//hotkey"
        cold, hot = Keypair.create_from_uri(cold_uri), Keypair.create_from_uri(hot_uri)
        for key, amount in ((cold, COLDKEY_FUNDS), (hot, HOTKEY_FUNDS)):
            have = storage(substrate, "System", "Account", [key.ss58_address])["data"]["free"]
            if have < amount:
                call = substrate.compose_call(
                    "Balances", "transfer_keep_alive", {"dest": key.ss58_address, "value": amount - have}
                )
                submit(substrate, alice, call, f"fund {name} {'coldkey' if key is cold else 'hotkey'}")
        wallets[name] = {
            "coldkey_uri": cold_uri,
            "coldkey_ss58": cold.ss58_address,
            "hotkey_uri": hot_uri,
            "hotkey_ss58": hot.ss58_address,
        }

    state = {
        "netuid": netuid,
        "subnetwork_n": storage(substrate, "SubtensorModule", "SubnetworkN", [netuid]),
        "tempo": storage(substrate, "SubtensorModule", "Tempo", [netuid]),
        "weights_set_rate_limit": storage(substrate, "SubtensorModule", "WeightsSetRateLimit", [netuid]),
        "allow_loopback_axons": storage(substrate, "SubtensorModule", "AllowLoopbackAxons", [netuid]),
        "burn": storage(substrate, "SubtensorModule", "Burn", [netuid]),
    }
    if state["subnetwork_n"] < 1 or state["tempo"] != 10 or not state["allow_loopback_axons"]:
        fail(f"subnet {netuid} is not set up as expected: {state}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"subnet": state, "wallets": wallets}, f, indent=2)
    print(json.dumps(state))


if __name__ == "__main__":
    main()
