/* SPDX-License-Identifier: BSD-3-Clause */
/* Private: the k-way merge of sorted runs (merge.c). */
#ifndef SLUICE_MERGE_IMPL_H
#define SLUICE_MERGE_IMPL_H

#include "shuffle_impl.h"

typedef struct {
    const char *path;         /* spill file, or NULL for an in-memory run */
    const unsigned char *mem; /* in-memory run */
    uint64_t nrec;
} sl_run_t;

/* Receives merged records in order, n at a time. */
typedef sl_status_t (*sl_merge_out_fn)(void *arg, const unsigned char *recs, uint64_t n);

/* Local: merge k sorted runs into out(); buf_bytes bounds the buffers. */
sl_status_t sl_merge_runs(const sl_run_t *runs, int k, size_t buf_bytes, sl_merge_out_fn out, void *arg);

#endif
