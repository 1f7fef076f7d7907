"""An independent client (polkascan's substrate-interface) against a running localnet.

    python interop_check.py --url ws://127.0.0.1:9944 [--netuid 1] [--expect-neurons N]

1. Reads `SubtensorModule.SubnetworkN(netuid)` through the chain's metadata, and again through
   a storage key computed here by hand (twox128 ++ twox128 ++ identity), and checks both agree.
2. Submits `Balances.transfer_keep_alive` from //Bob to a fresh account, waits until it is
   finalized, and checks both balances moved by exactly the amount (plus the fee it paid).
Prints `interop ok: ...` and exits 0, or names the mismatch and exits 1.
"""

import argparse
import secrets
import sys

import xxhash
from chain_util import TAO, give_up_after
from substrateinterface import Keypair, SubstrateInterface

CHECK_TIMEOUT_SECONDS = 180


def twox128(data: bytes) -> bytes:
    return b"".join(xxhash.xxh64(data, seed=seed).digest()[::-1] for seed in (0, 1))


def fail(message):
    print(f"interop check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def free(substrate, address, block_hash=None):
    return substrate.query("System", "Account", [address], block_hash=block_hash).value["data"]["free"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="node WebSocket RPC, e.g. ws://127.0.0.1:9944")
    parser.add_argument("--netuid", type=int, default=1)
    parser.add_argument("--expect-neurons", type=int, help="fail unless SubnetworkN equals this")
    args = parser.parse_args()
    give_up_after(CHECK_TIMEOUT_SECONDS, "interop check")
    substrate = SubstrateInterface(url=args.url)

    # 1. The same storage item, decoded two independent ways, at one block.
    head = substrate.get_chain_finalised_head()
    n = substrate.query("SubtensorModule", "SubnetworkN", [args.netuid], block_hash=head).value
    key = twox128(b"SubtensorModule") + twox128(b"SubnetworkN") + args.netuid.to_bytes(2, "little")
    raw = substrate.rpc_request("state_getStorage", ["0x" + key.hex(), head])["result"]
    raw_n = int.from_bytes(bytes.fromhex(raw[2:]), "little") if raw else 0
    if n != raw_n:
        fail(f"SubnetworkN({args.netuid}) is {n} through metadata but {raw_n} from the raw key")
    if args.expect_neurons is not None and n != args.expect_neurons:
        fail(f"SubnetworkN({args.netuid}) is {n}, expected {args.expect_neurons}")

    # 2. A transfer, followed to finality.
    bob = Keypair.create_from_uri("//Bob")
    dest = Keypair.create_from_uri(f"//interop-check-{secrets.token_hex(4)}")
    amount = 3 * TAO + secrets.randbelow(TAO)
    call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": dest.ss58_address, "value": amount})
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=bob)
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_finalization=True)
    if not receipt.is_success:
        fail(f"transfer failed: {receipt.error_message}")
    # Balances just before and after the block that included the transfer.
    at = receipt.block_hash
    parent = substrate.get_block_header(at)["header"]["parentHash"]
    fee = receipt.total_fee_amount
    bob_before, dest_before = free(substrate, bob.ss58_address, parent), free(substrate, dest.ss58_address, parent)
    bob_after, dest_after = free(substrate, bob.ss58_address, at), free(substrate, dest.ss58_address, at)
    if dest_after - dest_before != amount:
        fail(f"receiver got {dest_after - dest_before}, sent {amount}")
    if bob_before - bob_after != amount + fee:
        fail(f"sender lost {bob_before - bob_after}, expected {amount} + fee {fee}")
    block = substrate.get_block_number(at)
    print(
        f"interop ok: SubnetworkN({args.netuid}) = {n}; transfer of {amount / TAO:.9f} TAO "
        f"(fee {fee / TAO:.9f}) finalized in block {block}"
    )


if __name__ == "__main__":
    main()
