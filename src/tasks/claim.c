/* SPDX-License-Identifier: BSD-3-Clause */
/* The claim engine: a global counter on rank 0 (MPI_Fetch_and_op) refills a
 * per-node batch in an MPI-3 shared-memory window, from which ranks of the
 * node take factoring-sized chunks under a node-local spin lock. Keeps true:
 * every position in [0, n) is handed out exactly once, unless halted. */
#define _GNU_SOURCE
#include "config.h"
#include "tasks_impl.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Added to the global counter to end every claim: past any n (n < 2^50), and
 * each node adds it at most once, so no overflow below 8,000 nodes. SUM,
 * not REPLACE: concurrent accumulates to one location must use one op
 * (MPI's default accumulate_ops is same_op_no_op). */
#define HALT_MARK ((int64_t)1 << 50)

typedef struct {
    atomic_int lock;
    int halted;        /* no refill any more */
    int global_done;   /* the global counter is exhausted */
    int64_t next, end; /* the node's current batch */
    int64_t seen;      /* last global counter value this node saw */
} node_state_t;

struct sl_tasks {
    MPI_Comm comm, node_comm;
    MPI_Win gwin, nwin;
    int64_t *gcounter; /* rank 0's counter (own memory) */
    node_state_t *node;
    int rank, size, local_rank, local_size, nnodes;
    int64_t n;
    int64_t *order; /* positions -> items (largest cost first) or NULL */
    double *cum;    /* cum[p]: cost of positions < p, or NULL */
    sl_tasks_opts_t o;
    int64_t remote_claims, local_claims;
};

static void node_lock(node_state_t *s)
{
    int spins = 0;
    for (;;) {
        int z = 0;
        if (atomic_load_explicit(&s->lock, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&s->lock, &z, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (++spins > 64) {
            sched_yield(); /* the holder may be descheduled (oversubscribed nodes) */
            spins = 0;
        }
    }
}

static void node_unlock(node_state_t *s)
{
    atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/* How many positions from pos (at most up to end) make about a
 * 1/(factor*parts) share of `left` (what remains globally, as a count or as
 * a cost with hints): guided self-scheduling. */
static int64_t share(const sl_tasks_t *t, int64_t pos, int64_t end, double left, int parts, int64_t minc)
{
    if (pos >= end)
        return minc;
    int64_t k;
    double target = left / (t->o.factor * parts);
    if (t->cum) {
        /* smallest k with cum[pos+k] - cum[pos] >= target */
        int64_t lo = 1, hi = end - pos;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (t->cum[pos + mid] - t->cum[pos] >= target)
                hi = mid;
            else
                lo = mid + 1;
        }
        k = lo;
    } else
        k = (int64_t)target + ((double)(int64_t)target < target);
    if (k < minc)
        k = minc;
    return k;
}

/* What is left in [a, b): a count, or a cost with hints. */
static double left_in(const sl_tasks_t *t, int64_t a, int64_t b)
{
    if (a >= b)
        return 0;
    return t->cum ? t->cum[b] - t->cum[a] : (double)(b - a);
}

static int cmp_cost_desc(const void *a, const void *b, void *c)
{
    const double *cost = c;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (cost[i] != cost[j])
        return cost[i] > cost[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

sl_status_t sl_tasks_create(MPI_Comm comm, int64_t n, const double *costs, const sl_tasks_opts_t *opts,
                            sl_tasks_t **t_p)
{
    sl_status_t st = SL_OK;
    sl_tasks_t *t = calloc(1, sizeof *t);
    if (!t)
        st = sl_error(SL_ERR_NOMEM, "out of memory for the task counter");
    else if (n >= HALT_MARK)
        st = sl_error(SL_ERR_INVALID, "tasks: %lld items, more than 2^50", (long long)n);
    else {
        t->n = n < 0 ? 0 : n;
        t->o.min_chunk = opts && opts->min_chunk > 0 ? opts->min_chunk : 1;
        t->o.max_chunk = opts && opts->max_chunk > 0 ? opts->max_chunk : 0;
        t->o.factor = opts && opts->factor > 0 ? opts->factor : 2.0;
        if (costs && t->n > 0) {
            t->order = malloc((size_t)t->n * sizeof *t->order);
            t->cum = malloc((size_t)(t->n + 1) * sizeof *t->cum);
            if (!t->order || !t->cum)
                st = sl_error(SL_ERR_NOMEM, "out of memory for %lld cost hints", (long long)t->n);
            else {
                for (int64_t i = 0; i < t->n; i++)
                    t->order[i] = i;
                qsort_r(t->order, (size_t)t->n, sizeof *t->order, cmp_cost_desc, (void *)costs);
                t->cum[0] = 0;
                for (int64_t i = 0; i < t->n; i++)
                    t->cum[i + 1] = t->cum[i] + (costs[t->order[i]] > 0 ? costs[t->order[i]] : 0);
            }
        }
    }
    st = sl_agree(comm, st);
    if (st != SL_OK)
        goto err_free;

    int rc = MPI_Comm_dup(comm, &t->comm);
    if (rc != MPI_SUCCESS) {
        st = sl_abort_on_mpi(comm, rc, "MPI_Comm_dup");
        goto err_free;
    }
    MPI_Comm_rank(t->comm, &t->rank);
    MPI_Comm_size(t->comm, &t->size);
    rc = MPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &t->node_comm);
    if (rc != MPI_SUCCESS) {
        st = sl_abort_on_mpi(comm, rc, "MPI_Comm_split_type");
        goto err_comm;
    }
    MPI_Comm_rank(t->node_comm, &t->local_rank);
    MPI_Comm_size(t->node_comm, &t->local_size);
    int leader = t->local_rank == 0;
    MPI_Allreduce(&leader, &t->nnodes, 1, MPI_INT, MPI_SUM, t->comm);

    rc = MPI_Win_allocate(t->rank == 0 ? sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL, t->comm,
                          &t->gcounter, &t->gwin);
    if (rc != MPI_SUCCESS) {
        st = sl_abort_on_mpi(comm, rc, "MPI_Win_allocate");
        goto err_node;
    }
    if (t->rank == 0)
        *t->gcounter = 0;
    node_state_t *mine = NULL;
    rc = MPI_Win_allocate_shared(leader ? sizeof(node_state_t) : 0, 1, MPI_INFO_NULL, t->node_comm, &mine,
                                 &t->nwin);
    if (rc != MPI_SUCCESS) {
        st = sl_abort_on_mpi(comm, rc, "MPI_Win_allocate_shared");
        goto err_gwin;
    }
    MPI_Aint sz;
    int disp;
    MPI_Win_shared_query(t->nwin, 0, &sz, &disp, &t->node);
    if (leader) {
        memset(t->node, 0, sizeof *t->node);
        atomic_init(&t->node->lock, 0);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, t->gwin);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, t->nwin);
    MPI_Win_sync(t->nwin);
    MPI_Barrier(t->comm); /* counters initialised before anyone claims */
    MPI_Win_sync(t->nwin);
    *t_p = t;
    return SL_OK;

err_gwin:
    MPI_Win_free(&t->gwin);
err_node:
    MPI_Comm_free(&t->node_comm);
err_comm:
    MPI_Comm_free(&t->comm);
err_free:
    if (t) {
        free(t->order);
        free(t->cum);
        free(t);
    }
    return st;
}

/* Refill the node batch from the global counter; lock held. Returns 0 when
 * the global counter is exhausted. */
static int refill(sl_tasks_t *t)
{
    node_state_t *s = t->node;
    if (s->halted || s->global_done)
        return 0;
    int64_t from = s->seen < t->n ? s->seen : t->n;
    int64_t want = share(t, from, t->n, left_in(t, from, t->n), t->nnodes, t->o.min_chunk * t->local_size);
    int64_t old = 0;
    MPI_Fetch_and_op(&want, &old, MPI_INT64_T, 0, 0, MPI_SUM, t->gwin);
    MPI_Win_flush(0, t->gwin);
    t->remote_claims++;
    if (old >= t->n) {
        s->global_done = 1;
        return 0;
    }
    s->next = old;
    s->end = old + want < t->n ? old + want : t->n;
    s->seen = s->end;
    return 1;
}

int sl_tasks_claim(sl_tasks_t *t, int64_t *lo_p, int64_t *hi_p)
{
    node_state_t *s = t->node;
    if (t->n == 0)
        return 0;
    node_lock(s);
    if (s->next >= s->end && !refill(t)) {
        node_unlock(s);
        return 0;
    }
    /* a chunk is a guided share of what is left over all ranks: this batch
     * plus the global counter's rest as last seen here */
    double left = left_in(t, s->next, s->end) + left_in(t, s->seen < t->n ? s->seen : t->n, t->n);
    int64_t k = share(t, s->next, s->end, left, t->size, t->o.min_chunk);
    if (t->o.max_chunk > 0 && k > t->o.max_chunk)
        k = t->o.max_chunk;
    int64_t lo = s->next, hi = lo + k < s->end ? lo + k : s->end;
    s->next = hi;
    node_unlock(s);
    t->local_claims++;
    *lo_p = lo;
    *hi_p = hi;
    return 1;
}

void sl_tasks_halt(sl_tasks_t *t)
{
    node_state_t *s = t->node;
    node_lock(s);
    int was = s->halted;
    s->halted = 1;
    s->next = s->end;
    node_unlock(s);
    if (!was) {
        int64_t mark = HALT_MARK, old;
        MPI_Fetch_and_op(&mark, &old, MPI_INT64_T, 0, 0, MPI_SUM, t->gwin);
        MPI_Win_flush(0, t->gwin);
    }
}

int sl_tasks_halted(sl_tasks_t *t)
{
    node_state_t *s = t->node;
    node_lock(s);
    int halted = s->halted;
    node_unlock(s);
    if (halted)
        return 1;
    int64_t none = 0, cur = 0;
    MPI_Fetch_and_op(&none, &cur, MPI_INT64_T, 0, 0, MPI_NO_OP, t->gwin);
    MPI_Win_flush(0, t->gwin);
    return cur >= HALT_MARK;
}

void sl_tasks_idle_wait(MPI_Request *req)
{
    int done = 0;
    double spin_until = sl_now() + 1e-4; /* short waits stay fast */
    while (MPI_Test(req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
        if (sl_now() > spin_until) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

const int64_t *sl_tasks_order(const sl_tasks_t *t)
{
    return t->order;
}
int64_t sl_tasks_remote_claims(const sl_tasks_t *t)
{
    return t->remote_claims;
}
int64_t sl_tasks_local_claims(const sl_tasks_t *t)
{
    return t->local_claims;
}

void sl_tasks_destroy(sl_tasks_t **tp)
{
    if (!tp || !*tp)
        return;
    sl_tasks_t *t = *tp;
    /* Ranks that ran out of work wait here for the others: wait without
     * spinning, so a rank done early leaves its core to ranks (or task
     * processes) still working on the same node. */
    MPI_Request req;
    MPI_Ibarrier(t->comm, &req);
    sl_tasks_idle_wait(&req);
    MPI_Win_unlock_all(t->nwin);
    MPI_Win_unlock_all(t->gwin);
    MPI_Win_free(&t->nwin); /* collective: also the final barrier */
    MPI_Win_free(&t->gwin);
    MPI_Comm_free(&t->node_comm);
    MPI_Comm_free(&t->comm);
    free(t->order);
    free(t->cum);
    free(t);
    *tp = NULL;
}
