/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_farm_run: the collective task farm of the C API. Rounds of claims over
 * the claim engine: round r runs attempt r of every id still failing; failed
 * ids are gathered on every rank between rounds, so a retry may run on any
 * rank. Keeps true: every rank returns the same status and report. */
#include "config.h"
#include "tasks_impl.h"

#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int sl_idvec_push(sl_idvec_t *v, int64_t x)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? 2 * v->cap : 64;
        int64_t *p = realloc(v->v, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* Collective: every rank's local ids, concatenated and sorted, on every rank. */
static sl_status_t gather_ids(MPI_Comm comm, const sl_idvec_t *local, int64_t **all_p, int64_t *n_p)
{
    int size;
    MPI_Comm_size(comm, &size);
    int cnt = (int)local->n, *cnts = malloc((size_t)size * sizeof(int)),
        *displs = malloc((size_t)size * sizeof(int));
    sl_status_t st = cnts && displs ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
    SL_TRY(sl_agree(comm, st));
    MPI_Allgather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, comm);
    int64_t total = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)total;
        total += cnts[r];
    }
    int64_t *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    st = sl_agree(comm, all ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for %lld ids", (long long)total));
    if (st == SL_OK) {
        MPI_Allgatherv(local->v ? local->v : all, cnt, MPI_INT64_T, all, cnts, displs, MPI_INT64_T, comm);
        qsort(all, (size_t)total, sizeof *all, cmp_i64);
        *all_p = all;
        *n_p = total;
    } else
        free(all);
    free(cnts);
    free(displs);
    return st;
}

sl_status_t sl_farm_run(MPI_Comm comm, int64_t ntasks, sl_farm_fn fn, void *arg, const sl_farm_opts_t *opts,
                        sl_farm_report_t *report_p)
{
    sl_farm_opts_t o = {0};
    if (opts)
        o = *opts;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sl_status_t st =
        ntasks < 0 ? sl_error_root(comm, SL_ERR_INVALID, "farm: ntasks %lld < 0", (long long)ntasks) : SL_OK;
    SL_TRY(st);

    memset(report_p, 0, sizeof *report_p);
    int64_t *ids = NULL, nround = ntasks; /* round 0: every id */
    double *costs = NULL;
    sl_idvec_t failed = {0};
    int64_t ok = 0, runs = 0, claims = 0, remote = 0;
    double busy = 0;
    int halted = 0;
    MPI_Barrier(comm);
    double t0 = sl_now();
    for (int attempt = 0;; attempt++) {
        sl_tasks_t *t;
        const double *rc_costs = o.costs;
        if (o.costs && ids) { /* cost hints of this round's ids */
            free(costs);
            costs = malloc((size_t)(nround ? nround : 1) * sizeof *costs);
            st = sl_agree(comm, costs ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
            if (st != SL_OK)
                goto out;
            for (int64_t i = 0; i < nround; i++)
                costs[i] = o.costs[ids[i]];
            rc_costs = costs;
        }
        SL_TRY_GOTO(sl_tasks_create(comm, nround, rc_costs, &o.chunk, &t), out);
        const int64_t *order = sl_tasks_order(t);
        int final = attempt >= o.max_retries;
        int64_t lo, hi;
        failed.n = 0;
        while (sl_tasks_claim(t, &lo, &hi)) {
            double c0 = sl_now();
            for (int64_t p = lo; p < hi; p++) {
                int64_t i = sl_tasks_item(order, p), id = ids ? ids[i] : i;
                if (fn(id, attempt, arg) == 0)
                    ok++;
                else if (sl_idvec_push(&failed, id) != 0)
                    sl_abort(comm, SL_ERR_NOMEM, "out of memory for failed task ids");
                else if (final && o.halt_on_error && !halted) {
                    halted = 1;
                    sl_tasks_halt(t);
                }
            }
            runs += hi - lo;
            busy += sl_now() - c0;
        }
        claims += sl_tasks_local_claims(t);
        remote += sl_tasks_remote_claims(t);
        sl_tasks_destroy(&t);
        int any_halt = 0;
        MPI_Allreduce(&halted, &any_halt, 1, MPI_INT, MPI_MAX, comm);
        free(ids);
        ids = NULL;
        SL_TRY_GOTO(gather_ids(comm, &failed, &ids, &nround), out);
        if (final || any_halt || nround == 0)
            break;
    }
    double span = sl_now() - t0, mspan = 0;
    MPI_Allreduce(&span, &mspan, 1, MPI_DOUBLE, MPI_MAX, comm);

    sl_farm_report_t *r = report_p;
    int64_t loc[4] = {ok, runs, claims, remote}, glob[4];
    MPI_Allreduce(loc, glob, 4, MPI_INT64_T, MPI_SUM, comm);
    r->ntasks = ntasks;
    r->succeeded = glob[0];
    r->attempts = glob[1];
    r->claims = glob[2];
    r->remote_claims = glob[3];
    r->failed = nround;
    r->failed_ids = ids;
    ids = NULL;
    r->not_run = ntasks - r->succeeded - r->failed;
    r->nranks = size;
    r->makespan = mspan;
    r->busy = malloc((size_t)size * sizeof *r->busy);
    r->runs = malloc((size_t)size * sizeof *r->runs);
    st = sl_agree(comm, r->busy && r->runs ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
    if (st != SL_OK) {
        sl_farm_report_fini(r);
        goto out;
    }
    MPI_Allgather(&busy, 1, MPI_DOUBLE, r->busy, 1, MPI_DOUBLE, comm);
    MPI_Allgather(&runs, 1, MPI_INT64_T, r->runs, 1, MPI_INT64_T, comm);
    st = r->failed > 0 || r->not_run > 0 ? SL_ERR_FAILED : SL_OK;
out:
    free(ids);
    free(costs);
    free(failed.v);
    return st;
}

void sl_farm_report_fini(sl_farm_report_t *r)
{
    if (!r)
        return;
    free(r->failed_ids);
    free(r->busy);
    free(r->runs);
    r->failed_ids = NULL;
    r->busy = NULL;
    r->runs = NULL;
}

double sl_farm_report_efficiency(const sl_farm_report_t *r)
{
    double s = 0;
    for (int i = 0; i < r->nranks; i++)
        s += r->busy ? r->busy[i] : 0;
    return r->makespan > 0 && r->nranks > 0 ? s / (r->nranks * r->makespan) : 0;
}
