/* SPDX-License-Identifier: BSD-3-Clause */
/* gensort 1.5 records from the published generator: a 128-bit LCG
 * X(n+1) = a X(n) + c mod 2^128, X(0) = 0; record r is built from the states
 * X(r+1) .. X(r+10), so any range can be generated independently (jump-ahead
 * by squaring the affine map). Keeps byte-for-byte the reference's output. */
#include "config.h"
#include "shuffle_impl.h"

#include <string.h>

typedef unsigned __int128 u128;

#define LCG_A (((u128)0x2360ed051fc65da4ULL << 64) | 0x4385df649fccf645ULL)
#define LCG_C (((u128)0x4a696d4772617952ULL << 64) | 0x4950202020202001ULL)

/* Per 10-byte slice k = 1..9 of a binary record: the high 64 bits and the
 * top 16 bits of the low half xor'ed into state X(r+1+k). */
static const uint64_t slice_xor_hi[10] = {0,
                                          0xF0E8E4E2E1D8D4D2ULL,
                                          0xCAC9C6C5C3B8B4B2ULL,
                                          0xAAA9A6A5A39C9A99ULL,
                                          0x938E8D8B87787472ULL,
                                          0x6A696665635C5A59ULL,
                                          0x534E4D4B473C3A39ULL,
                                          0x332E2D2B271E1D1BULL,
                                          0xC8C4C2C198949291ULL,
                                          0x170F332E2D2B271EULL};
static const uint16_t slice_xor_lo[10] = {0,      0xD1CC, 0xB1AC, 0x9695, 0x716C,
                                          0x5655, 0x3635, 0x170F, 0x8CE0, 0x1D1B};

sl_u128_t sl_u128_add(sl_u128_t a, sl_u128_t b)
{
    sl_u128_t s = {a.hi + b.hi, a.lo + b.lo};
    if (s.lo < a.lo)
        s.hi++;
    return s;
}

char *sl_u128_hex(sl_u128_t v, char *buf)
{
    if (v.hi)
        sprintf(buf, "%llx%016llx", (unsigned long long)v.hi, (unsigned long long)v.lo);
    else
        sprintf(buf, "%llx", (unsigned long long)v.lo);
    return buf;
}

char *sl_u128_dec(sl_u128_t v, char *buf)
{
    u128 x = ((u128)v.hi << 64) | v.lo;
    char tmp[48];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(x % 10));
        x /= 10;
    } while (x);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

/* X(n) = f^n(0), by composing f^(2^i) for the set bits of n. */
static u128 lcg_state(u128 n)
{
    u128 a = LCG_A, c = LCG_C, x = 0;
    while (n) {
        if (n & 1)
            x = a * x + c;
        c = a * c + c;
        a = a * a;
        n >>= 1;
    }
    return x;
}

static inline void put10(unsigned char *p, u128 x)
{
    uint64_t hi = __builtin_bswap64((uint64_t)(x >> 64));
    uint16_t lo = __builtin_bswap16((uint16_t)((uint64_t)x >> 48));
    memcpy(p, &hi, 8);
    memcpy(p + 8, &lo, 2);
}

static inline char hexd(unsigned v)
{
    return (char)(v < 10 ? '0' + v : 'A' + v - 10);
}

/* The printable record of state x for record number r. */
static void ascii_rec(unsigned char *p, u128 x, u128 r)
{
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x, t = hi;
    for (int i = 0; i < 8; i++, t /= 95)
        p[i] = (unsigned char)(' ' + t % 95);
    t = lo;
    for (int i = 8; i < 10; i++, t /= 95)
        p[i] = (unsigned char)(' ' + t % 95);
    p[10] = p[11] = ' ';
    for (int i = 0; i < 32; i++)
        p[12 + i] = (unsigned char)hexd((unsigned)(r >> (124 - 4 * i)) & 0xF);
    p[44] = p[45] = ' ';
    for (int i = 0; i < 13; i++)
        memset(p + 46 + 4 * i, hexd((unsigned)(lo >> (48 - 4 * i)) & 0xF), 4);
    p[98] = '\r';
    p[99] = '\n';
}

/* Skew index of record r: roughly log2(r) + 1, exactly as the reference
 * computes it (a record number with any of its top 4 bits set in its half
 * jumps to 64 or 128). */
static int skew_index(u128 r)
{
    uint64_t hi = (uint64_t)(r >> 64), lo = (uint64_t)r;
    if (hi == 0) {
        if (lo == 0)
            return 0;
        if (lo & 0xF000000000000000ULL)
            return 64;
        return 64 - __builtin_clzll(lo);
    }
    if (hi & 0xF000000000000000ULL)
        return 128;
    return 128 - __builtin_clzll(hi);
}

/* The skew table is the first 6 key bytes of records 0..128 of the plain
 * sequence (binary or printable), which is how the published table reads. */
#define SKEW_BYTES 6
static void skew_table(int ascii, unsigned char tab[129][SKEW_BYTES])
{
    u128 x = 0;
    for (int i = 0; i <= 128; i++) {
        unsigned char rec[SL_SORT_REC];
        x = LCG_A * x + LCG_C;
        if (ascii)
            ascii_rec(rec, x, (u128)i);
        else
            put10(rec, x);
        memcpy(tab[i], rec, SKEW_BYTES);
    }
}

static void skew_rec(unsigned char *p, u128 x0, u128 r, int ascii, unsigned char tab[129][SKEW_BYTES])
{
    const unsigned char *sb = tab[skew_index(r)];
    int sel = (int)((uint64_t)x0 >> 32);
    if (ascii) {
        int cnt = sel & 0x7;
        if (cnt > SKEW_BYTES)
            cnt = 0;
        memcpy(p, sb, (size_t)cnt);
        return;
    }
    int bits = sel & 0x3F;
    if (bits > 8 * SKEW_BYTES)
        bits = 0;
    memcpy(p, sb, (size_t)(bits / 8));
    if (bits % 8) {
        unsigned char mask = (unsigned char)(0xFF >> (bits % 8));
        p[bits / 8] = (unsigned char)((sb[bits / 8] & ~mask) | (p[bits / 8] & mask));
    }
}

void sl_gensort_records(unsigned char *buf, uint64_t start, uint64_t n, int flags, sl_u128_t *sum_p)
{
    int ascii = (flags & SL_GENSORT_ASCII) != 0, skew = (flags & SL_GENSORT_SKEW) != 0;
    unsigned char tab[129][SKEW_BYTES];
    u128 q[20], xo[10];
    if (skew)
        skew_table(ascii, tab);
    for (int k = 0; k < 10; k++)
        xo[k] = ((u128)slice_xor_hi[k] << 64) | ((u128)slice_xor_lo[k] << 48);
    /* Ring of the ten live states, stored twice so q[h..h+9] is contiguous. */
    q[0] = q[10] = lcg_state((u128)start + 1);
    for (int k = 1; k < 10; k++)
        q[k] = q[k + 10] = LCG_A * q[k - 1] + LCG_C;
    int h = 0;
    sl_u128_t sum = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *p = buf + i * SL_SORT_REC;
        const u128 *s = q + h;
        u128 r = (u128)start + i;
        if (ascii) {
            ascii_rec(p, s[0], r);
        } else {
            put10(p, s[0]);
            for (int k = 1; k < 10; k++)
                put10(p + 10 * k, s[k] ^ xo[k]);
        }
        if (skew)
            skew_rec(p, s[0], r, ascii, tab);
        if (sum_p) {
            uint64_t c = sl_sort_crc32(p);
            sum.lo += c;
            if (sum.lo < c)
                sum.hi++;
        }
        u128 nx = LCG_A * s[9] + LCG_C;
        q[h] = q[h + 10] = nx;
        h = h == 9 ? 0 : h + 1;
    }
    if (sum_p)
        *sum_p = sl_u128_add(*sum_p, sum);
}
