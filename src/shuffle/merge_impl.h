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

/* Where merged records go: get() lends an empty buffer of *cap_p bytes,
 * put() takes back the one lent last holding n records, in order. */
typedef struct {
    sl_status_t (*get)(void *arg, unsigned char **buf_p, size_t *cap_p);
    sl_status_t (*put)(void *arg, unsigned char *buf, uint64_t n);
    void *arg;
} sl_merge_sink_t;

typedef struct sl_merge sl_merge_t;

/* Local: open the runs (file runs by path, the in-memory run by mem; runs
 * must stay valid until destroy) and start reading the files ahead, two
 * buffers per file run within buf_bytes in all (at least 102400 B each).
 * An in-memory run's records are read only from sl_merge_run on, so the
 * caller may still sort it in place meanwhile. */
sl_status_t sl_merge_create(const sl_run_t *runs, int k, size_t buf_bytes, sl_merge_t **m_p);
/* The same for records of geometry g (NULL: the default): buffers are whole
 * sl_sort_unit pieces, keys compared at g's offset and length. */
sl_status_t sl_merge_create_g(const sl_run_t *runs, int k, size_t buf_bytes, const sl_sort_geom_t *g,
                              sl_merge_t **m_p);
/* Local: merge everything into the sink. Once only. */
sl_status_t sl_merge_run(sl_merge_t *m, const sl_merge_sink_t *sink);
/* Local: stop the readers, close, free. Accepts NULL. */
void sl_merge_destroy(sl_merge_t **m_p);

#endif
