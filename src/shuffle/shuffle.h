/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice shuffle: sortbenchmark.org-compatible records (gensort/valsort 1.5)
 * and an Exoshuffle-style distributed external sort: sampled boundaries,
 * map + partition, UCX exchange, reducers that spill sorted runs, k-way merge.
 * Records are 100 bytes with a 10-byte key compared as unsigned bytes;
 * sort and valsort also take other fixed sizes, key offsets and lengths
 * (sl_sort_geom_t in shuffle_impl.h).
 */
#ifndef SLUICE_SHUFFLE_H
#define SLUICE_SHUFFLE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_SORT_REC 100 /* record size in bytes */
#define SL_SORT_KEY 10  /* key size in bytes (at offset 0) */

/* A 128-bit unsigned number as gensort/valsort keep counts and checksums. */
typedef struct {
    uint64_t hi, lo;
} sl_u128_t;

/* Local, pure: a + b mod 2^128. */
sl_u128_t sl_u128_add(sl_u128_t a, sl_u128_t b);
/* Local: hexadecimal as the reference prints it (no leading zeros, lower
 * case) into buf of at least 33 bytes; returns buf. */
char *sl_u128_hex(sl_u128_t v, char *buf);
/* Local: decimal into buf of at least 40 bytes; returns buf. */
char *sl_u128_dec(sl_u128_t v, char *buf);

/* gensort ---------------------------------------------------------------- */

#define SL_GENSORT_ASCII 0x1 /* -a: printable records ending in \r\n */
#define SL_GENSORT_SKEW  0x2 /* -s: skewed keys */

/* Local, pure: write records [start, start+n) of the gensort 1.5 sequence
 * into buf (n * 100 bytes). If sum_p is not NULL, adds each record's zlib
 * CRC32 to *sum_p (what `gensort -c` prints). Byte-for-byte the reference
 * output for the same flags and record numbers. */
void sl_gensort_records(unsigned char *buf, uint64_t start, uint64_t n, int flags, sl_u128_t *sum_p);

/* Command `sluice gensort [-a] [-c] [-s] [-bSTART] [--parts] NUM_RECS FILE`.
 * Collective: every rank writes a disjoint range of FILE (or FILE.RANK with
 * --parts), identical to a serial run. */
sl_status_t sl_cmd_gensort(MPI_Comm comm, int argc, char **argv);

/* valsort ---------------------------------------------------------------- */

/* The reference's partition summary, byte for byte as its -o writes it on a
 * little-endian 64-bit machine (280 bytes): each count is (hi, lo). */
typedef struct {
    uint64_t first_unordered[2]; /* index of the first unordered record, 0 if none */
    uint64_t unordered_count[2];
    uint64_t rec_count[2];
    uint64_t dup_count[2];
    uint64_t checksum[2]; /* sum of the records' CRC32s */
    unsigned char first_rec[SL_SORT_REC];
    unsigned char last_rec[SL_SORT_REC];
} sl_valsort_sum_t;

/* Local: summarise n records in buf as a continuation of *sum (which starts
 * zeroed; rec_count 0 means "no record yet"). */
void sl_valsort_add(sl_valsort_sum_t *sum, const unsigned char *buf, uint64_t n);
/* Local: append summary b (of the records after those of a) to a, checking
 * the boundary between a's last and b's first record. */
void sl_valsort_merge(sl_valsort_sum_t *a, const sl_valsort_sum_t *b);

/* Collective: validate the concatenation of files[0..n) as one sequence,
 * split across the ranks of comm; every rank gets the combined summary. */
sl_status_t sl_valsort_files(MPI_Comm comm, char **files, int n, sl_valsort_sum_t *sum_p);

/* Command `sluice valsort [-o SUMMARY] [-s] FILE...`. Collective. Exit 1
 * (SL_ERR_FAILED) when records are out of order. */
sl_status_t sl_cmd_valsort(MPI_Comm comm, int argc, char **argv);

/* sort ------------------------------------------------------------------- */

/* Command `sluice sort --input IN... --output OUTDIR [--tmp DIR] [--mem B]`
 * and `sluice sort --plan SIZE --nodes N ...`. Collective. */
sl_status_t sl_cmd_sort(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
