#!/usr/bin/env python3
"""Checks that a file is a Substrate runtime blob: a wasm module that exports the runtime API
entry points and the heap base, embeds the runtime version, and imports only host functions.

    check_runtime_wasm.py RUNTIME.wasm
"""
import sys

REQUIRED_EXPORTS = {
    "__heap_base",
    "__indirect_function_table",
    "Core_version",
    "Core_execute_block",
    "Metadata_metadata",
    "BlockBuilder_apply_extrinsic",
    "TaggedTransactionQueue_validate_transaction",
    "AuraApi_slot_duration",
    "GrandpaApi_grandpa_authorities",
    "GenesisBuilder_build_state",
    "GenesisBuilder_get_preset",
}
REQUIRED_CUSTOM = {"runtime_version", "runtime_apis"}


def leb(data, pos):
    """Unsigned LEB128 at `pos`: (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def name(data, pos):
    length, pos = leb(data, pos)
    return data[pos:pos + length].decode("utf-8"), pos + length


def sections(data):
    if data[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a wasm module (bad magic or version)")
    pos = 8
    while pos < len(data):
        kind = data[pos]
        size, pos = leb(data, pos + 1)
        yield kind, data[pos:pos + size]
        pos += size


def main(path):
    data = open(path, "rb").read()
    exports, imports, custom = set(), [], set()
    for kind, body in sections(data):
        if kind == 0:
            custom.add(name(body, 0)[0])
        elif kind == 2:
            count, pos = leb(body, 0)
            for _ in range(count):
                module, pos = name(body, pos)
                field, pos = name(body, pos)
                desc = body[pos]
                pos += 1
                if desc == 0:  # function: type index
                    _, pos = leb(body, pos)
                elif desc == 1:  # table: reftype + limits
                    flags, pos = leb(body, pos + 1)
                    _, pos = leb(body, pos)
                    if flags & 1:
                        _, pos = leb(body, pos)
                elif desc == 2:  # memory: limits
                    flags, pos = leb(body, pos)
                    _, pos = leb(body, pos)
                    if flags & 1:
                        _, pos = leb(body, pos)
                elif desc == 3:  # global: valtype + mutability
                    pos += 2
                imports.append((module, field))
        elif kind == 7:
            count, pos = leb(body, 0)
            for _ in range(count):
                export, pos = name(body, pos)
                _, pos = leb(body, pos + 1)
                exports.add(export)
    problems = []
    missing = REQUIRED_EXPORTS - exports
    if missing:
        problems.append(f"missing exports: {sorted(missing)}")
    if REQUIRED_CUSTOM - custom:
        problems.append(f"missing custom sections: {sorted(REQUIRED_CUSTOM - custom)}")
    foreign = [f"{m}.{f}" for m, f in imports if m != "env" or not (f.startswith("ext_") or f == "memory")]
    if foreign:
        problems.append(f"imports that are not host functions: {foreign[:5]}")
    if problems:
        sys.exit(f"{path}: " + "; ".join(problems))
    api = sorted(e for e in exports if "_" in e and e[0].isupper())
    print(f"runtime wasm ok: {path} ({len(data) / 1e6:.2f} MB, {len(api)} runtime API entry points, "
          f"{len(imports)} host function imports)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
