/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice core: the plumbing every component shares. Status codes and
 * collective agreement on errors, logging, option tables and config files,
 * RNG streams, timers and progress, the stop flag for graceful stops,
 * node topology and GPU binding, the all-reduce abstraction (MPI or NCCL),
 * and HDF5 checkpoint/dataset I/O with atomic commit.
 *
 * Conventions (see STYLE.md): functions return sl_status_t (0 OK, negative
 * error); output arguments come last, end in _p and are written only on
 * success; "collective" functions must be called by every rank of the
 * communicator and return the same status on all of them.
 */
#ifndef SLUICE_CORE_H
#define SLUICE_CORE_H

#include <mpi.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <gsl/gsl_rng.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version string of the library, e.g. "0.1.0". Local. */
const char *sl_version(void);

/* ---------------------------------------------------------------- status */

typedef enum {
    SL_OK = 0,
    SL_ERR_INVALID = -1,     /* bad argument or bad input data */
    SL_ERR_USAGE = -2,       /* command-line usage error (exit status 2) */
    SL_ERR_IO = -3,          /* file system or I/O error */
    SL_ERR_NOMEM = -4,       /* allocation failed */
    SL_ERR_MPI = -5,         /* an MPI call failed */
    SL_ERR_HDF5 = -6,        /* an HDF5 call failed */
    SL_ERR_MISMATCH = -7,    /* stored data differs from what was expected */
    SL_ERR_NOT_FOUND = -8,   /* a named thing does not exist */
    SL_ERR_UNSUPPORTED = -9, /* not built in or not available (e.g. no GPU) */
    SL_ERR_CUDA = -10,       /* a CUDA or cuBLAS call failed */
    SL_ERR_NCCL = -11,       /* an NCCL call failed */
    SL_ERR_UCX = -12,        /* a UCX call failed */
    SL_ERR_PEER = -13,       /* another rank failed; it printed the cause */
    SL_ERR_STOPPED = -14,    /* stopped by a signal at a safe point; resumable */
    SL_ERR_TIMEOUT = -15,    /* something took longer than allowed */
    SL_ERR_NUMERIC = -16,    /* NaN or Inf where a number was needed */
    SL_ERR_FAILED = -17,     /* work finished but some of it failed (e.g. tasks) */
    SL_ERR_INTERNAL = -18,   /* a bug in sluice */
    SL_ERR_NOSPACE = -19,    /* a file system is full (or a quota spent): resumable once space is freed */
} sl_status_t;

/* Exit statuses of the `sluice` command, documented in the README. */
#define SL_EXIT_OK 0
#define SL_EXIT_ERROR 1
#define SL_EXIT_USAGE 2
#define SL_EXIT_STOPPED 75 /* EX_TEMPFAIL: stopped by a signal, re-run resumes */

/* Short text for a status. Local. */
const char *sl_status_string(sl_status_t st);
/* The process exit status that goes with a status. Local. */
int sl_status_exit_code(sl_status_t st);

/* Propagate: return the error. */
#define SL_TRY(expr)                                                           \
    do {                                                                       \
        sl_status_t sl_try_st_ = (expr);                                       \
        if (sl_try_st_ != SL_OK)                                               \
            return sl_try_st_;                                                 \
    } while (0)
/* Propagate: store the error in `st` and jump to `label` to unwind. */
#define SL_TRY_GOTO(expr, label)                                               \
    do {                                                                       \
        st = (expr);                                                           \
        if (st != SL_OK)                                                       \
            goto label;                                                        \
    } while (0)

/* ------------------------------------------------------------------- log */

typedef enum {
    SL_LOG_NONE = 0, /* nothing at all, not even errors */
    SL_LOG_ERROR = 1,
    SL_LOG_WARN = 2,
    SL_LOG_INFO = 3, /* default */
    SL_LOG_VERBOSE = 4,
    SL_LOG_DEBUG = 5,
} sl_log_level_t;

extern int sl_log_level_g; /* read through the macros; set with sl_log_set_level */

void sl_log_set_level(sl_log_level_t level);
/* Parse "none|error|warn|info|verbose|debug" (or 0-5). Local. */
sl_status_t sl_log_level_parse(const char *s, sl_log_level_t *level_p);
/* Apply SLUICE_LOG from the environment, if set and valid; an invalid value
 * gets a warning on world rank 0 only. Local. */
void sl_log_init_env(void);
/* Rank used in prefixes (world rank); set once after MPI_Init. */
void sl_log_set_rank(int rank, int size);
int sl_log_rank(void);

/* Emit a line "sluice[rank]: level: message" to stderr. root_only: only
 * world rank 0 prints. Prefer the macros, which check the level first. */
void sl_log_emit(sl_log_level_t level, int root_only, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SL_LOG_AT(level, root_only, ...)                                       \
    do {                                                                       \
        if ((int)(level) <= sl_log_level_g)                                    \
            sl_log_emit((level), (root_only), __VA_ARGS__);                    \
    } while (0)
#define SL_WARN(...) SL_LOG_AT(SL_LOG_WARN, 0, __VA_ARGS__)
#define SL_INFO(...) SL_LOG_AT(SL_LOG_INFO, 0, __VA_ARGS__)
#define SL_VERBOSE(...) SL_LOG_AT(SL_LOG_VERBOSE, 0, __VA_ARGS__)
#define SL_DEBUG(...) SL_LOG_AT(SL_LOG_DEBUG, 0, __VA_ARGS__)
/* Rank-0-only variants: for what every rank knows alike. */
#define SL_WARN0(...) SL_LOG_AT(SL_LOG_WARN, 1, __VA_ARGS__)
#define SL_INFO0(...) SL_LOG_AT(SL_LOG_INFO, 1, __VA_ARGS__)
#define SL_VERBOSE0(...) SL_LOG_AT(SL_LOG_VERBOSE, 1, __VA_ARGS__)

/* Report an error where it is first detected: prints "sluice[rank]: error:
 * <message>" once and returns st, so `return sl_error(SL_ERR_IO, ...)`. */
sl_status_t sl_error(sl_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, printed only by rank 0 of comm: for errors every rank detects
 * alike (a bad option, a shape mismatch in a shared file). Local. */
sl_status_t sl_error_root(MPI_Comm comm, sl_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --------------------------------------------------- collective agreement */

/* Collective. Every rank passes its local status; every rank gets back:
 * SL_OK if all were OK; its own status if it failed; SL_ERR_PEER if only
 * others failed. If any rank's status is SL_ERR_STOPPED and none failed
 * otherwise, all get SL_ERR_STOPPED. Rank 0 of comm notes at verbose level
 * which ranks failed. Never prints the error itself (sl_error did). */
sl_status_t sl_agree(MPI_Comm comm, sl_status_t local);

/* Where agreement is impossible (a rank cannot reach the next collective):
 * print the message with the rank and abort the whole job. Never returns. */
void sl_abort(MPI_Comm comm, sl_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Translate a failed MPI return code into a status with MPI's message. */
sl_status_t sl_mpi_error(int mpi_rc, const char *what);
#define SL_MPI_TRY(call)                                                       \
    do {                                                                       \
        int sl_mpi_rc_ = (call);                                               \
        if (sl_mpi_rc_ != MPI_SUCCESS)                                         \
            return sl_mpi_error(sl_mpi_rc_, #call);                            \
    } while (0)

/* ---------------------------------------------------------------- options */

typedef enum {
    SL_OPT_INT,    /* long, with min/max */
    SL_OPT_SIZE,   /* uint64_t bytes; accepts suffixes K M G T (powers of 1024) */
    SL_OPT_DOUBLE, /* double, with min/max */
    SL_OPT_STRING, /* char *, owned by the options struct (sl_opts_free) */
    SL_OPT_BOOL,   /* int: --name, --no-name, or name = true|false in config */
    SL_OPT_CHOICE, /* char *, one of `choices` ("a|b|c") */
    SL_OPT_LIST,   /* sl_strlist_t: repeatable, and each value may hold several
                      words; config: separated by blanks outside
                      parentheses and quotes */
} sl_opt_type_t;

#define SL_OPT_REQUIRED 0x1   /* must be given */
#define SL_OPT_POSITIONAL 0x2 /* taken from positional arguments in order */
#define SL_OPT_CLI_ONLY 0x4   /* not accepted from a config file */
#define SL_OPT_HIDDEN 0x8     /* not shown in --help (test hooks) */

typedef struct {
    const char *name;    /* long name: --name on the command line, key in config */
    char short_name;     /* optional: -x or -xVALUE; 0 for none */
    sl_opt_type_t type;
    size_t offset;       /* offsetof(options struct, field) */
    const char *def;     /* default as text; NULL: none (0/NULL) */
    double min, max;     /* numeric bounds, inclusive; ignored when min > max */
    const char *choices; /* for SL_OPT_CHOICE: "cpu|cuda" */
    int flags;
    const char *help;
    const char *metavar; /* shown in help, e.g. "FILE"; NULL: from type */
} sl_opt_t;

/* A table ends with an entry whose name is NULL. */
#define SL_OPT_END {NULL, 0, SL_OPT_INT, 0, NULL, 0, 0, NULL, 0, NULL, NULL}

typedef struct {
    int n;
    char **v;
} sl_strlist_t;

/* One parsed config file: [section] key = value lines. */
typedef struct sl_config sl_config_t;

typedef struct {
    const char *command; /* e.g. "farm"; its config section is [farm] */
    const char *usage;   /* one line after "usage: sluice " */
    const char *about;   /* a paragraph for --help */
    const sl_opt_t *table;
    /* Config sections the command reads itself (NULL-terminated), e.g.
     * {"space", NULL}; any other section except [command] is an error. */
    const char *const *extra_sections;
} sl_cmd_spec_t;

typedef struct {
    int help;                /* --help was given: help printed, do nothing */
    sl_config_t *config;     /* the --config file, or NULL; owned by caller */
    const char *config_path; /* as given */
} sl_opts_info_t;

/* Parse defaults, then the --config file (section "" and [command]), then
 * argv. argv[0] is the command name. Also handles --help/-h, --config FILE,
 * --verbose/-v (repeatable), --quiet/-q, and sets the log level. Errors name
 * the option or key (and file:line) and are printed by rank 0 only: every
 * rank parses the same arguments. Returns SL_ERR_USAGE for usage errors.
 * Local (but deterministic across ranks). */
sl_status_t sl_opts_parse(const sl_cmd_spec_t *spec, void *opts, int argc,
                          char **argv, sl_opts_info_t *info_p);
/* Free strings and lists held in opts. Local. */
void sl_opts_free(const sl_opt_t *table, void *opts);
/* The next word of a list value (a config file's `space = ...` line),
 * NUL-terminated in place, *pp moved past it; NULL at the end. Words are
 * separated by blanks outside parentheses and quotes, so that
 * `x=uniform(0, 1) y=choice('a b', c)` gives the two expressions the
 * command line would get as two arguments. */
char *sl_opts_list_word(char **pp);
/* Print --help for the command to f. Local. */
void sl_opts_help(const sl_cmd_spec_t *spec, FILE *f);
/* Parse a size such as "4G", "512M", "1000". Local. */
sl_status_t sl_parse_size(const char *s, uint64_t *bytes_p);

/* Config files. */
sl_status_t sl_config_load(const char *path, sl_config_t **cfg_p);
void sl_config_destroy(sl_config_t **cfg);
/* Number of keys in a section, and the i-th (key, value, line). Local. */
int sl_config_count(const sl_config_t *cfg, const char *section);
void sl_config_entry(const sl_config_t *cfg, const char *section, int i,
                     const char **key_p, const char **value_p, int *line_p);
const char *sl_config_path(const sl_config_t *cfg);

/* -------------------------------------------------------------------- RNG */

/* 64-bit seed for a stream from (seed, rank, purpose); distinct purposes or
 * ranks give unrelated streams. Local, pure. */
uint64_t sl_seed_mix(uint64_t seed, int rank, const char *purpose);
/* A GSL generator (mt19937) seeded from sl_seed_mix. Caller owns it; free
 * with sl_rng_destroy. Local. */
sl_status_t sl_rng_create(uint64_t seed, int rank, const char *purpose,
                          gsl_rng **rng_p);
void sl_rng_destroy(gsl_rng **rng);

/* ------------------------------------------------------ timers, progress */

/* Monotonic wall-clock seconds. Local. */
double sl_now(void);

typedef struct {
    double start; /* when started, < 0 if stopped */
    double total; /* accumulated seconds */
} sl_timer_t;
void sl_timer_start(sl_timer_t *t);
void sl_timer_stop(sl_timer_t *t);

/* Progress aggregated across ranks. Each rank adds its own amount; rank 0
 * shows the sum: a bar with rate and ETA on a terminal, a timestamped line
 * every few seconds (SLUICE_PROGRESS_INTERVAL, default 5) when stderr is a
 * file. Non-root ranks send their counts to rank 0 with one-sided
 * accumulates at most a few times a second, so add/tick are local and cheap. */
typedef struct sl_progress sl_progress_t;
/* Collective. total: the global amount expected (<= 0 if unknown); unit:
 * "tasks", "B" (bytes, shown as MB/GB), ... Caller owns the result. */
sl_status_t sl_progress_create(MPI_Comm comm, const char *label, double total,
                               const char *unit, sl_progress_t **p_p);
/* Local: add to this rank's amount; flushes or redraws when due. */
void sl_progress_add(sl_progress_t *p, double amount);
/* Local: flush/redraw if due without adding (call in idle loops). */
void sl_progress_tick(sl_progress_t *p);
/* Local: extra text shown after the figures (e.g. "running 4, failed 1"). */
void sl_progress_note(sl_progress_t *p, const char *text);
/* Collective: final counts, final line on rank 0; frees *p. */
sl_status_t sl_progress_finish(sl_progress_t **p);
/* Local: warn once, on world rank 0, when SLUICE_PROGRESS is set but not
 * bar, lines or off, or SLUICE_PROGRESS_INTERVAL is set but not a positive
 * number of seconds (progress then uses its default for that setting).
 * The driver calls it at start; sl_progress_create itself stays quiet. */
void sl_progress_check_env(void);
/* Format seconds as "1h02m03s" / "2m05s" / "3.4s" into buf. */
const char *sl_format_duration(double s, char *buf, size_t len);
/* Format a byte count as "1.5 GB" (decimal units) into buf. */
const char *sl_format_bytes(double b, char *buf, size_t len);

/* ------------------------------------------------------------ stop flag */

/* Install handlers: SIGTERM, SIGUSR1 and SIGINT set the stop flag (the only
 * global mutable state in sluice). A second SIGINT/SIGTERM restores the
 * default action. Local. */
sl_status_t sl_signal_install(void);
/* The same before MPI_Init (the driver's first call): a stop signal that
 * comes while MPI starts sets the flag instead of killing the rank. Errors
 * are left to sl_signal_install. */
void sl_signal_install_early(void);
/* Local: nonzero once a stop was requested on this rank; its signal number
 * (or -1 when requested with sl_stop_request). */
int sl_stop_requested(void);
void sl_stop_request(void);
void sl_stop_reset(void);
/* Collective: *stop_p = 1 on every rank if any rank's flag is set. Cheap
 * (one small allreduce); call at safe points. */
sl_status_t sl_stop_agree(MPI_Comm comm, int *stop_p);

/* A guard for the process groups of child processes (farm's tasks, tune's
 * commands): should this rank die without stopping them (kill -9, a crash),
 * a small process started by sl_guard_create sends the groups still listed
 * SIGTERM, and SIGKILL after grace seconds. Add a group when it is started,
 * remove it once it is reaped and its leftovers killed. Local. */
typedef struct sl_guard sl_guard_t;
sl_status_t sl_guard_create(double grace, sl_guard_t **g_p);
void sl_guard_add(sl_guard_t *g, pid_t pgid);
void sl_guard_remove(sl_guard_t *g, pid_t pgid);
/* Without waiting: 1 when the group leader pid has exited, after SIGKILL to
 * what is left of its group (kill_rest), its removal from the list and its
 * reaping (*wstatus_p as waitpid gives it); else 0. g may be NULL. */
int sl_guard_reap(sl_guard_t *g, pid_t pid, int kill_rest, int *wstatus_p);
/* Ends the guard (it stops the groups still listed). Accepts NULL. */
void sl_guard_destroy(sl_guard_t **g_p);

/* --------------------------------------------------------------- topology */

typedef struct {
    MPI_Comm comm;      /* duplicate of the caller's communicator */
    MPI_Comm node_comm; /* ranks sharing this node's memory */
    MPI_Comm leader_comm; /* one rank (local rank 0) per node; MPI_COMM_NULL elsewhere */
    int rank, size;
    int local_rank, local_size;
    int node, nnodes;   /* this node's index and the node count */
    char host[256];
    int gpu;            /* bound device, -1 if none */
} sl_topo_t;

/* Collective: node-local communicator, node index and count. Caller's
 * storage; release with sl_topo_fini. */
sl_status_t sl_topo_init(MPI_Comm comm, sl_topo_t *topo);
void sl_topo_fini(sl_topo_t *topo);
/* Local: catch launch mistakes, e.g. SLURM_NTASKS=4 with an MPI world of 1
 * (srun without --mpi=pmix). Returns SL_ERR_USAGE with a hint. */
sl_status_t sl_check_launch(MPI_Comm world);
/* Local: number of visible CUDA devices (0 without CUDA support or GPU). */
int sl_gpu_count(void);
/* Collective over topo->comm: choose and set this rank's device (one
 * visible: device 0; else local rank modulo count), store it in topo->gpu.
 * SL_ERR_UNSUPPORTED (with a clear message) if there is no GPU. */
sl_status_t sl_gpu_bind(sl_topo_t *topo);

/* ----------------------------------------------------- shared memory */

/* Collective: 1 when comm has more than one rank, all on one node, and
 * SLUICE_ALLREDUCE is not "mpi" (the switch that turns every shared-memory
 * path off); the same answer on every rank. */
int sl_comm_shm_path(MPI_Comm comm);

/* Collective over comm, whose ranks share one node: an MPI-3 shared-memory
 * window with `bytes` bytes in this rank's segment (ranks may ask different
 * sizes), each segment placed near its rank (alloc_shared_noncontig) and
 * locked for passive access. bases (the caller's array of comm-size
 * pointers) gets every rank's segment. Local errors are not agreed: the
 * caller agrees. Free with sl_shared_window_free. */
sl_status_t sl_shared_window_create(MPI_Comm comm, size_t bytes, MPI_Win *win_p, char **bases);
/* Collective: unlock and free a window of sl_shared_window_create; accepts
 * MPI_WIN_NULL and sets *win to it. */
void sl_shared_window_free(MPI_Win *win);

/* A barrier for the ranks of one node, kept in a shared window (zeroed
 * before first use, 64-byte aligned, one per group of ranks). Waiting ranks
 * spin briefly, then yield the core at each check, so that a partner that
 * lost its core to another process gets it back soon; writes before the
 * barrier on any rank are visible after it on every rank. */
typedef struct {
    unsigned count, gen; /* arrivals, and the generation (wraps) */
} sl_shm_barrier_t;
/* Collective over the nranks ranks sharing b. */
void sl_shm_barrier_wait(sl_shm_barrier_t *b, int nranks);

/* ------------------------------------------------------------ all-reduce */

typedef struct sl_allreduce sl_allreduce_t;

#define SL_AR_NCCL 0x1    /* also set up NCCL (device buffers); needs a bound GPU */
#define SL_AR_ORDERED 0x2 /* host path: fixed summation order (rank 0, 1, ...),
                             bit-identical whatever MPI's algorithm */

/* Collective: duplicates comm; with SL_AR_NCCL bootstraps an NCCL
 * communicator (rank 0 makes the unique id, MPI_Bcast shares it). */
sl_status_t sl_allreduce_create(MPI_Comm comm, int flags, sl_allreduce_t **ar_p);
void sl_allreduce_destroy(sl_allreduce_t **ar);
/* Collective, in place. Device pointers go through NCCL, host through MPI. */
sl_status_t sl_allreduce_sum(sl_allreduce_t *ar, float *buf, size_t n);
sl_status_t sl_allreduce_mean(sl_allreduce_t *ar, float *buf, size_t n);
/* Nonblocking pair for overlapping with computation (host: MPI_Iallreduce,
 * device: NCCL on the all-reduce's own stream). Collective in start order. */
typedef struct {
    MPI_Request req;
    float *buf;
    size_t n;
    int mean, device;
} sl_allreduce_req_t;
sl_status_t sl_allreduce_start(sl_allreduce_t *ar, float *buf, size_t n,
                               int mean, sl_allreduce_req_t *req);
sl_status_t sl_allreduce_wait(sl_allreduce_t *ar, sl_allreduce_req_t *req);
/* "shm" (all ranks on one node: shared-memory window, rank-order sums),
 * "mpi", "mpi-ordered" or "nccl+mpi". */
const char *sl_allreduce_backend(const sl_allreduce_t *ar);
/* Local: whether p is a CUDA device pointer (0 without CUDA). */
int sl_is_device_ptr(const void *p);

/* ------------------------------------------------------------------ HDF5 */

typedef enum { SL_F32, SL_F64, SL_I32, SL_I64, SL_U8 } sl_dtype_t;
#define SL_H5_MAXDIM 8

typedef struct sl_h5 sl_h5_t;

/* Collective: create PATH.tmp for writing (truncating an old one). Nothing
 * appears under PATH until sl_h5_commit. Caller owns the handle. */
sl_status_t sl_h5_create(MPI_Comm comm, const char *path, sl_h5_t **h_p);
/* Collective: a replicated array (same on every rank): rank 0 writes it.
 * name may hold groups ("model/fc1/weight"); they are created. */
sl_status_t sl_h5_write(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim,
                        const uint64_t *dims, const void *data);
/* Collective: a distributed array; each rank holds rows [row0, row0+nrows) of
 * dimension 0 of a global array of shape dims. Rows of all ranks must cover
 * the array. Written collectively with hyperslabs. */
sl_status_t sl_h5_write_rows(sl_h5_t *h, const char *name, sl_dtype_t type,
                             int ndim, const uint64_t *dims, uint64_t row0,
                             uint64_t nrows, const void *data);
/* Collective: attributes on an object ("" or "/" for the file). The value
 * must be the same on every rank. */
sl_status_t sl_h5_set_attr_i64(sl_h5_t *h, const char *obj, const char *name, int64_t v);
sl_status_t sl_h5_set_attr_f64(sl_h5_t *h, const char *obj, const char *name, double v);
sl_status_t sl_h5_set_attr_str(sl_h5_t *h, const char *obj, const char *name, const char *v);
/* Collective: close, fsync, and rename PATH.tmp to PATH. keep > 1 keeps the
 * previous versions as PATH.1 .. PATH.(keep-1) (newest first), with no moment
 * where PATH is missing. Frees *h (also on error, which removes PATH.tmp). */
sl_status_t sl_h5_commit(sl_h5_t **h, int keep);
/* Local (call on one rank, after sl_h5_commit): remove the versions PATH.N,
 * N >= keep, that a run with a larger keep left beside PATH, so that keep
 * holds across runs. Only names PATH.<digits> are touched. Returns how many
 * were removed; one that cannot be removed is warned about, not an error. */
int sl_h5_prune(const char *path, int keep);
/* Collective: give up a file being written; removes PATH.tmp. Accepts NULL. */
void sl_h5_discard(sl_h5_t **h);

/* Collective: open PATH for reading. SL_ERR_NOT_FOUND, not printed, if it
 * does not exist (the caller decides whether that is an error). */
sl_status_t sl_h5_open(MPI_Comm comm, const char *path, sl_h5_t **h_p);
/* As sl_h5_open, but a file HDF5 cannot open (damaged, or not HDF5) gives
 * SL_ERR_HDF5 without a word: the caller may try another (a checkpoint's
 * previous version) and say so, or sl_h5_damaged. Collective. */
sl_status_t sl_h5_try_open(MPI_Comm comm, const char *path, sl_h5_t **h_p);
/* Print (rank 0) that HDF5 cannot open path; returns SL_ERR_HDF5. */
sl_status_t sl_h5_damaged(MPI_Comm comm, const char *path);
/* Local: whether a dataset exists, and its type and shape. */
int sl_h5_exists(sl_h5_t *h, const char *name);
sl_status_t sl_h5_info(sl_h5_t *h, const char *name, sl_dtype_t *type_p,
                       int *ndim_p, uint64_t *dims /* [SL_H5_MAXDIM] */);
/* Collective: read a whole array after checking that it exists with the
 * given type and shape (dims[i] == 0 means any extent); errors say what
 * differs and in which file. Every rank receives the data. */
sl_status_t sl_h5_read(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim,
                       const uint64_t *dims, void *data);
/* Collective: rows [row0, row0+nrows) of dimension 0, per rank (collective
 * hyperslab read). Type is checked; nrows may differ across ranks (or be 0). */
sl_status_t sl_h5_read_rows(sl_h5_t *h, const char *name, sl_dtype_t type,
                            uint64_t row0, uint64_t nrows, void *data);
/* Local reads of attributes (SL_ERR_NOT_FOUND if absent). The string is
 * malloc'd; caller frees. */
sl_status_t sl_h5_get_attr_i64(sl_h5_t *h, const char *obj, const char *name, int64_t *v_p);
sl_status_t sl_h5_get_attr_f64(sl_h5_t *h, const char *obj, const char *name, double *v_p);
sl_status_t sl_h5_get_attr_str(sl_h5_t *h, const char *obj, const char *name, char **v_p);
/* Collective: close a file opened for reading. Accepts NULL. */
void sl_h5_close(sl_h5_t **h);
/* The file's path (final name). */
const char *sl_h5_path(const sl_h5_t *h);
size_t sl_dtype_size(sl_dtype_t t);
const char *sl_dtype_name(sl_dtype_t t);

/* Save/restore a GSL generator's state as a u8 array (collective, like
 * sl_h5_write / sl_h5_read; the state must be the rank's own for
 * per-rank names). */
sl_status_t sl_h5_write_rng(sl_h5_t *h, const char *name, const gsl_rng *rng);
sl_status_t sl_h5_read_rng(sl_h5_t *h, const char *name, gsl_rng *rng);

/* ----------------------------------------------------------- file helpers */

/* Local: write buf to PATH atomically (PATH.tmp, fsync, rename, fsync dir). */
sl_status_t sl_file_write_atomic(const char *path, const void *buf, size_t len);
/* Local: s as the body of a JSON string (quotes, backslashes and control
 * characters escaped), malloc'd; NULL when out of memory. */
char *sl_json_escape(const char *s);
/* Local: fsync the directory holding path (after a rename). */
sl_status_t sl_fsync_dir_of(const char *path);
/* Local: mkdir -p. */
sl_status_t sl_mkdirs(const char *path);
/* Local: 1 when a and b name the same existing file (device and inode:
 * links and other spellings of one path too), else 0; NULL is no file. */
int sl_same_file(const char *a, const char *b);
/* Local: whether the file system of path (or, where path is not there, of
 * its directory) is full: under room bytes free, or no inode left. A file
 * system that gives no figures (0 blocks or 0 inodes in all: ramfs, a
 * tmpfs of size=0, many a FUSE one) has no known limit: not full. */
int sl_fs_full(const char *path, uint64_t room);
/* The status for a failed file operation's errno: SL_ERR_NOSPACE for a full
 * file system or a spent quota (ENOSPC, EDQUOT), else SL_ERR_IO. Local. */
sl_status_t sl_errno_status(int e);
/* Local: open(path, flags | O_CREAT | O_TRUNC | O_NOFOLLOW, mode) for a
 * temporary name about to be written and renamed: a symbolic link found
 * there (left by someone else) is removed, not followed, so the write never
 * goes through it into a file elsewhere. */
int sl_open_new(const char *path, int flags, mode_t mode);
/* Local: removes a symbolic link at path, if one is there (the same rule
 * for a temporary name another library creates). */
void sl_unlink_if_link(const char *path);
/* Local: whether a file can be written at path later (a temporary name
 * created in its directory, then renamed onto path): NULL if so, else why
 * not in why, a phrase to follow "PATH: ": "is a directory", "its
 * directory 'D' does not exist", "its directory 'D': <errno's text>", "'D'
 * is not a directory", "its directory 'D' is not writable: <errno's
 * text>". A link at path is no problem (the rename replaces it). tmp, the
 * temporary name (NULL: not named), is named where it matters: for a
 * directory, which its rename cannot replace, and an unwritable directory.
 * Checked before long work, so that the results are not lost at the end. */
const char *sl_output_path_problem(const char *path, const char *tmp, char *why, size_t len);

/* -------------------------------------------------------------- commands */

/* A `sluice` command: runs on every rank of comm; returns a status that is
 * the same on every rank. argv[0] is the command name. */
typedef sl_status_t (*sl_command_fn)(MPI_Comm comm, int argc, char **argv);
typedef struct {
    const char *name;
    const char *summary;
    sl_command_fn fn;
} sl_command_t;

/* The demo of the quick start. */
sl_status_t sl_cmd_demo(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
