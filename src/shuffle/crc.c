/* SPDX-License-Identifier: BSD-3-Clause */
/* The zlib CRC32 of 100-byte records: the checksum valsort sums is per
 * record, and zlib's per-call cost dominates at 100 bytes. Two kernels with
 * the same results: slicing-by-8 tables (the reference, any CPU), and on
 * x86-64 CPUs with PCLMULQDQ the carry-less folding of Intel's "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ" (the bit-reflected
 * constants of the Linux kernel's crc32-pclmul and Chromium's zlib) over the
 * first 96 bytes, the last 4 through the tables. The choice and the tables
 * are made once (pthread_once) and never change afterwards. */
#include "config.h"
#include "shuffle_impl.h"

#include <pthread.h>
#include <string.h>
#include <zlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SL_CRC_CLMUL 1
#endif

static uint32_t tab[8][256];
static int use_clmul;
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
#ifdef SL_CRC_CLMUL
    __builtin_cpu_init();
    use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

/* The last 4 bytes of a record into the (inverted) register c. */
static inline uint32_t crc_tail4(uint32_t c, const unsigned char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    c ^= w; /* little-endian, as the tables assume (x86-64 and most HPC CPUs) */
    return tab[3][c & 0xFF] ^ tab[2][(c >> 8) & 0xFF] ^ tab[1][(c >> 16) & 0xFF] ^ tab[0][c >> 24];
}

/* Reference kernel: slicing-by-8, byte-order independent but for crc_tail4. */
static inline uint32_t crc_rec_tab(const unsigned char *p)
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
    return crc_tail4(c, p + 96) ^ 0xFFFFFFFFu;
}

#ifdef SL_CRC_CLMUL
#define CLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

/* Folding kernel: 96 bytes as six 16-byte blocks folded one into the next
 * (a record is too short for the 4-lane 64-byte folds), then 128 -> 64 -> Barrett to 32 bits. Records are
 * independent, so the CPU overlaps consecutive records' dependency chains. */
CLMUL_TARGET static inline uint32_t crc_rec_clmul(const unsigned char *p)
{
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)0xFFFFFFFF));
    __m128i x5;
#define FOLD16(next)                                                                                         \
    do {                                                                                                     \
        x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);                                                           \
        x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);                                                           \
        x1 = _mm_xor_si128(_mm_xor_si128(x1, (next)), x5);                                                   \
    } while (0)
    FOLD16(x2);
    FOLD16(x3);
    FOLD16(x4);
    FOLD16(_mm_loadu_si128((const __m128i *)(p + 64)));
    FOLD16(_mm_loadu_si128((const __m128i *)(p + 80)));
#undef FOLD16
    /* 128 -> 64 bits. */
    x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask32);
    x1 = _mm_clmulepi64_si128(x1, k5k0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction to 32 bits. */
    x2 = _mm_and_si128(x1, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    uint32_t c = (uint32_t)_mm_extract_epi32(x1, 1); /* the register after 96 bytes, inverted form */
    return crc_tail4(c, p + 96) ^ 0xFFFFFFFFu;
}

CLMUL_TARGET static sl_u128_t crcsum_clmul(const unsigned char *buf, uint64_t n)
{
    sl_u128_t s = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = crc_rec_clmul(buf + i * SL_SORT_REC);
        s.lo += c;
        s.hi += s.lo < c;
    }
    return s;
}
#endif

uint32_t sl_sort_crc32(const unsigned char *rec)
{
    pthread_once(&tab_once, tab_init);
#ifdef SL_CRC_CLMUL
    if (use_clmul)
        return crc_rec_clmul(rec);
#endif
    return crc_rec_tab(rec);
}

uint32_t sl_sort_crc32_ref(const unsigned char *rec)
{
    pthread_once(&tab_once, tab_init);
    return crc_rec_tab(rec);
}

sl_u128_t sl_sort_crcsum(const unsigned char *buf, uint64_t n)
{
    pthread_once(&tab_once, tab_init);
#ifdef SL_CRC_CLMUL
    if (use_clmul)
        return crcsum_clmul(buf, n);
#endif
    sl_u128_t s = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = crc_rec_tab(buf + i * SL_SORT_REC);
        s.lo += c;
        s.hi += s.lo < c;
    }
    return s;
}

const char *sl_sort_crc_kernel(void)
{
    pthread_once(&tab_once, tab_init);
    return use_clmul ? "pclmul" : "slice-by-8";
}

sl_u128_t sl_sort_crcsum_rec(const unsigned char *buf, uint64_t n, uint32_t rec)
{
    if (rec == SL_SORT_REC)
        return sl_sort_crcsum(buf, n);
    /* Other record sizes: zlib per record (its per-call cost matters less
     * than the specialised kernels' fixed 100-byte layout would allow). */
    sl_u128_t s = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = crc32(0L, buf + i * rec, rec);
        s.lo += c;
        s.hi += s.lo < c;
    }
    return s;
}
