/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice tasks: a dynamic task farm over MPI-3 one-sided RMA, with no rank in
 * the middle handing out work. Installed as <sluice/tasks.h>.
 *
 * How ids are handed out. One 64-bit counter lives in an MPI window on rank 0
 * of the communicator (the "global counter"). Each node (MPI_Comm_split_type
 * SHARED) keeps a batch [next, end) in an MPI-3 shared-memory window; ranks
 * of the node take chunks from it with a few atomic instructions under a
 * node-local spin lock and never leave the node for that. When the batch is
 * empty, the rank that finds it so refills it with one MPI_Fetch_and_op on
 * the global counter. Both levels use factoring (guided self-scheduling):
 * a node batch is about remaining / (2 x nodes) ids, a rank's chunk about
 * batch_remaining / (2 x ranks on the node), never below a minimum, so the
 * number of claims grows as O(P log N), not N, and the end of the run is cut
 * into ever smaller chunks that keep all ranks busy until the last task.
 * The per-task path is a loop over a local [lo, hi) range: a few ns.
 *
 * With cost hints the ids are run largest first and chunks are sized by
 * cost (a chunk holds about remaining_cost / (2 x P) of work), which bounds
 * the makespan by the longest task plus a small tail.
 *
 * At 1,000 nodes (say 100,000 ranks): rank 0 sees one atomic per node batch,
 * i.e. about 2 x 1,000 x log2(N / 1,000) fetch-and-ops over the whole run
 * (about 40,000 for N = 10^9), a few microseconds each, spread over the run
 * and serialised only in the NIC's atomic unit; the other 99 % of claims are
 * node-local memory atomics. Nothing is O(P) per task: a rank that finishes
 * early simply finds both counters exhausted and waits in the closing
 * collective (an MPI_Allgatherv of failed ids and an MPI_Allreduce of
 * counts), which costs O(log P) once per retry round. The report's per-rank
 * busy times are gathered once at the end (O(P) memory on every rank, 800 kB
 * at 100,000 ranks).
 *
 * Failures and retries. A task that fails is recorded locally; when every id
 * of a round has been claimed and run, the failed ids are gathered on every
 * rank and run again as a new round (on whatever rank claims them), up to
 * max_retries times. The call returns the same report on every rank.
 * Ranks finishing at very different times, ntasks < ranks and ntasks = 0
 * are all fine: a rank with no work goes straight to the closing collective.
 */
#ifndef SLUICE_TASKS_H
#define SLUICE_TASKS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- the claim engine */

/* Hand out positions 0..n-1 of one round in chunks. A position p stands for
 * the item sl_tasks_item(t, p): with cost hints, items in decreasing cost,
 * else p itself. */
typedef struct sl_tasks sl_tasks_t;

typedef struct {
    int64_t min_chunk; /* smallest chunk a rank takes [1] */
    int64_t max_chunk; /* largest chunk a rank takes; 0: no limit [0] */
    double factor;     /* chunk = remaining / (factor x ranks) [2] */
} sl_tasks_opts_t;

/* Collective over comm (duplicated): a claim counter over n items. costs:
 * optional (n values, copied), gives largest-first order and cost-sized
 * chunks. opts may be NULL. Caller owns *t_p; free with sl_tasks_destroy. */
sl_status_t sl_tasks_create(MPI_Comm comm, int64_t n, const double *costs, const sl_tasks_opts_t *opts,
                            sl_tasks_t **t_p);
/* Local: claim the next chunk of positions [*lo_p, *hi_p). Returns 1 with a
 * non-empty chunk, 0 when every position has been claimed (or halted). */
int sl_tasks_claim(sl_tasks_t *t, int64_t *lo_p, int64_t *hi_p);
/* Local: the item at a position. */
static inline int64_t sl_tasks_item(const int64_t *order, int64_t pos)
{
    return order ? order[pos] : pos;
}
/* Local: the order array for sl_tasks_item (NULL without cost hints). */
const int64_t *sl_tasks_order(const sl_tasks_t *t);
/* Local: stop handing out positions, on this node at once and on other
 * nodes at their next refill. */
void sl_tasks_halt(sl_tasks_t *t);
/* Local: number of claims this rank made that left the node (refills). */
int64_t sl_tasks_remote_claims(const sl_tasks_t *t);
/* Local: number of chunks this rank claimed. */
int64_t sl_tasks_local_claims(const sl_tasks_t *t);
/* Collective: free windows and communicators. Accepts NULL; sets *t NULL. */
void sl_tasks_destroy(sl_tasks_t **t);

/* ------------------------------------------------------------ the farm */

/* A task: return 0 on success, anything else is a failure (retried). */
typedef int (*sl_farm_fn)(int64_t id, int attempt, void *arg);

typedef struct {
    int max_retries;       /* extra attempts for a failed task [0] */
    const double *costs;   /* optional cost hints, ntasks values (largest first) */
    sl_tasks_opts_t chunk; /* chunking; zeros for defaults */
    int halt_on_error;     /* stop claiming after the first final failure */
} sl_farm_opts_t;

typedef struct {
    int64_t ntasks;      /* tasks asked for */
    int64_t succeeded;   /* tasks that succeeded (on some attempt) */
    int64_t failed;      /* tasks that finally failed */
    int64_t not_run;     /* tasks never finished (halted) */
    int64_t attempts;    /* task runs, retries included */
    int64_t *failed_ids; /* failed ids in increasing order (failed values) */
    int nranks;
    double *busy;          /* per rank: seconds inside the task function */
    int64_t *runs;         /* per rank: attempts run */
    double makespan;       /* seconds from the start to the last rank's end */
    int64_t remote_claims; /* claims that left a node, all ranks */
    int64_t claims;        /* chunks claimed, all ranks */
} sl_farm_report_t;

/* Collective: run ids 0..ntasks-1 with fn(id, attempt, arg) over comm, each
 * exactly once until it succeeds (plus up to max_retries retries), and fill
 * the same report on every rank. opts may be NULL. Returns SL_OK when every
 * task succeeded, SL_ERR_FAILED when some finally failed (the report says
 * which), or an MPI/memory error (same on all ranks). The report is filled
 * in both first cases; free it with sl_farm_report_fini. */
sl_status_t sl_farm_run(MPI_Comm comm, int64_t ntasks, sl_farm_fn fn, void *arg, const sl_farm_opts_t *opts,
                        sl_farm_report_t *report_p);
/* Local: free what a report holds. */
void sl_farm_report_fini(sl_farm_report_t *r);
/* Local: efficiency = sum(busy) / (nranks x makespan). */
double sl_farm_report_efficiency(const sl_farm_report_t *r);

/* ----------------------------------------------------- the farm command */

/* `sluice farm FILE`: see the README, section "Task farm". */
sl_status_t sl_cmd_farm(MPI_Comm comm, int argc, char **argv);

/* GPU subsets (pure, exposed for tests). The node's GPUs (ids from
 * CUDA_VISIBLE_DEVICES or 0..n-1) are split into contiguous shares, one per
 * rank on the node: rank l of L gets [*first_p, *first_p + *count_p). */
void sl_farm_gpu_share(int ngpus, int local_rank, int local_size, int *first_p, int *count_p);
/* Pick per_task free GPUs among count (bit i of *busy set = GPU i busy),
 * lowest first; marks them busy and writes their indices to out. Returns 0,
 * or -1 (nothing changed) when fewer than per_task are free. */
int sl_farm_gpu_pick(int count, int per_task, uint64_t *busy, int *out);
/* Release GPUs picked before. */
void sl_farm_gpu_release(uint64_t *busy, const int *idx, int per_task);

#ifdef __cplusplus
}
#endif
#endif
