"""Bittensor's own wallet package (bittensor-wallet) on wallets made by either side.

    interop.py create WALLETS NAME   make a wallet: encrypted coldkey, hotkey
    interop.py load WALLETS NAME     load a wallet: coldkeypub, decrypted coldkey, hotkey

The coldkey password comes from COLDKEY_PASSWORD and is passed to the package directly, so it
never prompts. Both print one JSON line: the ss58 addresses, and whether each loaded key signs
a message that verifies under its address.
"""

import json
import os
import sys

from bittensor_wallet import Keypair, Wallet


def signs(keypair):
    message = b"llm-subnet interop"
    signature = keypair.sign(message)
    return Keypair(ss58_address=keypair.ss58_address).verify(message, signature)


def main():
    mode, path, name = sys.argv[1:4]
    password = os.environ["COLDKEY_PASSWORD"]
    wallet = Wallet(name=name, hotkey="default", path=path)
    if mode == "create":
        wallet.create(
            coldkey_use_password=True,
            coldkey_password=password,
            hotkey_use_password=False,
            overwrite=True,
            suppress=True,
        )
    elif mode != "load":
        sys.exit(f"unknown mode {mode}")
    coldkey = wallet.get_coldkey(password=password)
    hotkey = wallet.hotkey
    print(json.dumps({
        "coldkeypub": wallet.coldkeypub.ss58_address,
        "coldkey": coldkey.ss58_address,
        "hotkey": hotkey.ss58_address,
        "coldkey_signs": signs(coldkey),
        "hotkey_signs": signs(hotkey),
    }))


if __name__ == "__main__":
    main()
