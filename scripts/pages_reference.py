#!/usr/bin/env python3
"""Independent reference implementation of the page assignment in model/src/data/pages.rs.

Standard library only. Prints the pages of a (netuid, window, hotkey) and, with --check,
asserts the golden vector that the Rust test pins, so the two implementations agree.
"""
import argparse
import hashlib
import struct

MASK = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256StarStar:
    def __init__(self, seed32: bytes):
        self.s = list(struct.unpack("<4Q", seed32))
        if self.s == [0, 0, 0, 0]:
            self.s = [1, 0, 0, 0]

    def next_u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        bound = (1 << 64) // n * n
        while True:
            x = self.next_u64()
            if x < bound:
                return x % n


def pages(netuid: int, window: int, hotkey: bytes, count: int, total: int):
    # SCALE((u16, u64, [u8; 32])) is plain little-endian concatenation.
    seed = hashlib.blake2b(struct.pack("<HQ", netuid, window) + hotkey, digest_size=32).digest()
    rng = Xoshiro256StarStar(seed)
    chosen, out = set(), []
    if count > total:
        raise ValueError("count > total")
    while len(out) < count:
        p = rng.below(total)
        if p not in chosen:
            chosen.add(p)
            out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="assert the golden vector of the Rust test")
    ap.add_argument("--netuid", type=int, default=1)
    ap.add_argument("--window", type=int, default=42)
    ap.add_argument("--hotkey", default="ab" * 32, help="32-byte hotkey (account id) as hex")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--total", type=int, default=1_000_000)
    a = ap.parse_args()
    got = pages(a.netuid, a.window, bytes.fromhex(a.hotkey), a.count, a.total)
    if a.check:
        golden = [998173, 355510, 947012, 482403]
        assert pages(1, 42, b"\xab" * 32, 4, 1_000_000) == golden, "page assignment disagrees with Rust"
        print("page assignment: python reference matches the Rust golden vector")
    else:
        print(" ".join(map(str, got)))


if __name__ == "__main__":
    main()
