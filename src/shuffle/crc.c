/* SPDX-License-Identifier: BSD-3-Clause */
/* The zlib CRC32 of 100-byte records, slicing-by-8: the checksum valsort
 * sums is per record, and zlib's per-call cost dominates at 100 bytes. The
 * tables are built once (pthread_once) and never change afterwards. */
#include "config.h"
#include "shuffle_impl.h"

#include <pthread.h>
#include <string.h>

static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xFF];
}

static inline uint32_t crc_rec(const unsigned char *p)
{
    uint32_t c = 0xFFFFFFFFu;
    for (int i = 0; i < 96; i += 8) {
        uint32_t lo, hi;
        memcpy(&lo, p + i, 4);
        memcpy(&hi, p + i + 4, 4);
        lo ^= c;
        c = tab[7][lo & 0xFF] ^ tab[6][(lo >> 8) & 0xFF] ^ tab[5][(lo >> 16) & 0xFF] ^ tab[4][lo >> 24] ^
            tab[3][hi & 0xFF] ^ tab[2][(hi >> 8) & 0xFF] ^ tab[1][(hi >> 16) & 0xFF] ^ tab[0][hi >> 24];
    }
    for (int i = 96; i < SL_SORT_REC; i++)
        c = tab[0][(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t sl_sort_crc32(const unsigned char *rec)
{
    pthread_once(&tab_once, tab_init);
    return crc_rec(rec);
}

sl_u128_t sl_sort_crcsum(const unsigned char *buf, uint64_t n)
{
    pthread_once(&tab_once, tab_init);
    sl_u128_t s = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = crc_rec(buf + i * SL_SORT_REC);
        s.lo += c;
        if (s.lo < c)
            s.hi++;
    }
    return s;
}
