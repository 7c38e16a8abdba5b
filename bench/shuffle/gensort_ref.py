#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Slow, independent reference for `sluice gensort` (gensort 1.5 records).

Written from the published description of gensort 1.5 (128-bit LCG with
a = 0x2360ed051fc65da44385df649fccf645, c = 0x4a696d47726179524950202020202001,
record r built from the states X(r+1) .. X(r+10), X(n) = f^n(0)), with plain
Python integers, so the tests can cross-check the fast C generator.
usage: gensort_ref.py [-a] [-s] [-bSTART] [-c] NUM FILE
"""
import sys
import zlib

M = 1 << 128
A = 0x2360ED051FC65DA44385DF649FCCF645
C = 0x4A696D47726179524950202020202001
XORS = [None,
        (0xF0E8E4E2E1D8D4D2, 0xD1CC), (0xCAC9C6C5C3B8B4B2, 0xB1AC),
        (0xAAA9A6A5A39C9A99, 0x9695), (0x938E8D8B87787472, 0x716C),
        (0x6A696665635C5A59, 0x5655), (0x534E4D4B473C3A39, 0x3635),
        (0x332E2D2B271E1D1B, 0x170F), (0xC8C4C2C198949291, 0x8CE0),
        (0x170F332E2D2B271E, 0x1D1B)]
HEX = "0123456789ABCDEF"


def state(n):
    """X(n) = f^n(0) by square-and-multiply of the affine map."""
    a, c = A, C          # f^(2^i)
    ra, rc = 1, 0        # accumulated map
    while n:
        if n & 1:
            ra, rc = (a * ra) % M, (a * rc + c) % M
        a, c = (a * a) % M, (a * c + c) % M
        n >>= 1
    return rc


def binary_rec(xs):
    out = bytearray()
    for i, x in enumerate(xs):
        if i:
            hx, lx = XORS[i]
            x ^= (hx << 64) | (lx << 48)
        out += (x >> 48).to_bytes(10, "big")
    return bytes(out)


def ascii_rec(x, r):
    hi, lo = x >> 64, x & (2**64 - 1)
    key = []
    for _ in range(8):
        key.append(chr(32 + hi % 95)); hi //= 95
    for _ in range(2):
        key.append(chr(32 + lo % 95)); lo //= 95
    lo = x & (2**64 - 1)
    fill = "".join(HEX[(lo >> s) & 0xF] * 4 for s in range(48, -1, -4))
    return ("".join(key) + "  " + "%032X" % r + "  " + fill + "\r\n").encode("latin-1")


def skew_index(r):
    hi, lo = r >> 64, r & (2**64 - 1)
    if hi == 0:
        if lo == 0:
            return 0
        if lo & 0xF000000000000000:
            return 64
        return lo.bit_length()
    if hi & 0xF000000000000000:
        return 128
    return 64 + hi.bit_length()


def main(argv):
    asc = skew = csum = False
    start = 0
    args = []
    for a in argv:
        if a == "-a": asc = True
        elif a == "-s": skew = True
        elif a == "-c": csum = True
        elif a.startswith("-b"): start = int(a[2:])
        else: args.append(a)
    n, path = int(args[0]), args[1]
    tables = None
    if skew:
        tables = [(binary_rec([state(i + 1)] * 1)[:6] if not asc else
                   ascii_rec(state(i + 1), i)[:6]) for i in range(129)]
    x = [state(start + 1 + k) for k in range(10)]
    total = 0
    with open(path, "wb") as f:
        for r in range(start, start + n):
            rec = bytearray(ascii_rec(x[0], r) if asc else binary_rec(x))
            if skew:
                sb = tables[skew_index(r)]
                if asc:
                    cnt = (x[0] >> 32) & 7
                    cnt = 0 if cnt > 6 else cnt
                    rec[:cnt] = sb[:cnt]
                else:
                    bits = (x[0] >> 32) & 0x3F
                    bits = 0 if bits > 48 else bits
                    nb, rem = divmod(bits, 8)
                    rec[:nb] = sb[:nb]
                    if rem:
                        mask = 0xFF >> rem
                        rec[nb] = (sb[nb] & ~mask & 0xFF) | (rec[nb] & mask)
            total += zlib.crc32(bytes(rec))
            f.write(rec)
            x = x[1:] + [(A * x[-1] + C) % M]
    if csum:
        sys.stderr.write("%x\n" % total)


if __name__ == "__main__":
    main(sys.argv[1:])
