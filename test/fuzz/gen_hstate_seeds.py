#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_hstate (test/fuzz/fuzz_hstate.in/).

The layout is common/hstate.h's, written out with struct: a 128-byte header
(FNV-1a 64 of its first 48 bytes in `check`) and 208-byte entries, each an
id, a latch counter and two 96-byte copies of a value. Seeds are small and
deterministic; rerun after a layout change:

    python3 test/fuzz/gen_hstate_seeds.py [outdir]
"""
import os
import struct
import sys

MAGIC = b"GSHEALTH"
LAYOUT = 1
HEADER = struct.Struct("<8sIIIIQiIq")  # the bytes the checksum covers
TAIL = struct.Struct("<Qqq56s")  # check, heartbeat_mono_ms, heartbeat_real_ms, reserved
VALUE = struct.Struct("<BBHIqqQ64s")
ENTRY = struct.Struct("<QII")  # id, seq, reserved; then copy[0], copy[1]
ENTRY_SIZE = ENTRY.size + 2 * VALUE.size
assert HEADER.size == 48 and HEADER.size + TAIL.size == 128
assert VALUE.size == 96 and ENTRY_SIZE == 208


def fnv1a(data):
    x = 0xCBF29CE484222325
    for b in data:
        x = ((x ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return x


def header(nentries, generation=7, magic=MAGIC, layout=LAYOUT, entry_size=ENTRY_SIZE,
           check_xor=0):
    head = HEADER.pack(magic, layout, 128, entry_size, nentries, generation, 4242, 1000,
                       1700000000000)
    return head + TAIL.pack(fnv1a(head) ^ check_xor, 123456789, 1700000001000, b"")


def value(state=0, last_ok=0, consecutive=0, rtt_us=0, since_ms=0, checked_ms=0, results=0,
          error=b""):
    return VALUE.pack(state, last_ok, consecutive, rtt_us, since_ms, checked_ms, results, error)


def entry(check_id, seq, copy0, copy1):
    return ENTRY.pack(check_id, seq, 0) + copy0 + copy1


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fuzz_hstate.in")
    os.makedirs(out, exist_ok=True)
    up = value(1, 1, 12, 850, 1700000000100, 1700000000900, 40)
    down = value(2, 0, 3, 2000000, 1700000000200, 1700000000950, 41, b"connect timeout")
    entries3 = (
        entry(1, 0, value(), value()),  # never written
        entry(0xFEEDFACECAFEBEEF, 4, up, up),  # even: copy 0
        # odd (a writer died between the steps): copy 1; copy 0 torn
        entry(3, 7, up[:48] + down[48:], down),
    )
    # A writer that broke the invariants: state out of range, no NUL.
    rogue = value(9, 1, 1, 1, 1, 1, 1, b"x" * 64)
    seeds = {
        "valid_0": header(0),
        "valid_1": header(1) + entry(42, 2, down, down),
        "valid_3": header(3) + b"".join(entries3),
        "rogue_value": header(1) + entry(5, 1, rogue, rogue),
        "bad_magic": header(1, magic=b"GSHEALTX") + entry(42, 2, down, down),
        "bad_layout": header(0, layout=2),
        "bad_entry_size": header(1, entry_size=200) + entry(42, 2, down, down),
        "bad_check": header(1, check_xor=1) + entry(42, 2, down, down),
        "too_many": header(65537),
        "truncated": (header(3) + b"".join(entries3))[:-1],
        "short_header": header(0)[:100],
    }
    for name, data in sorted(seeds.items()):
        assert len(data) < 2048
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
