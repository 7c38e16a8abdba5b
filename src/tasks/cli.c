/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice farm FILE`: each command line of FILE is a task run with
 * /bin/sh -c in its own process group, --slots at once per rank, ids claimed
 * from the claim engine. Keeps true: every finished attempt is one journal
 * record written at once; a task is started only if the journal shows no
 * success for it; a stop (SIGUSR1/SIGTERM) starts nothing new, forwards the
 * signal, waits --grace, records what was cut short, and exits 75. */
#define _GNU_SOURCE
#include "config.h"
#include "farm_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    char *file, *journal, *output_dir, *show; /* show: a task id as given, NULL: not given */
    long slots, cpus_per_task, gpus_per_task, retries;
    double timeout, grace;
    int retry_failed, force, halt_on_error, output_per_task;
} farm_opts_t;

#define O(f) offsetof(farm_opts_t, f)
static const sl_opt_t farm_table[] = {
    {"file", 0, SL_OPT_STRING, O(file), NULL, 0, 0, NULL, SL_OPT_POSITIONAL, "file of commands, one per line",
     "FILE"},
    {"slots", 0, SL_OPT_INT, O(slots), "1", 1, 4096, NULL, 0, "commands run at once on each rank", "N"},
    {"cpus-per-task", 0, SL_OPT_INT, O(cpus_per_task), "0", 0, 4096, NULL, 0,
     "CPUs of each task: OMP_NUM_THREADS, and each slot pinned to its own CPUs when the rank has enough",
     "C"},
    {"gpus-per-task", 0, SL_OPT_INT, O(gpus_per_task), "0", 0, 64, NULL, 0,
     "GPUs of each task: its own CUDA_VISIBLE_DEVICES subset of the node's GPUs", "G"},
    {"journal", 0, SL_OPT_STRING, O(journal), NULL, 0, 0, NULL, 0,
     "journal of finished attempts [FILE.journal]", "PATH"},
    {"retry-failed", 0, SL_OPT_BOOL, O(retry_failed), NULL, 0, 0, NULL, 0,
     "also re-run tasks the journal shows as failed", NULL},
    {"force", 0, SL_OPT_BOOL, O(force), NULL, 0, 0, NULL, 0, "use a journal written for a different FILE",
     NULL},
    {"retries", 0, SL_OPT_INT, O(retries), "0", 0, 1000, NULL, 0, "extra attempts for a failed task", "N"},
    {"timeout", 0, SL_OPT_DOUBLE, O(timeout), "0", 0, 1e9, NULL, 0, "seconds a task may run (0: no limit)",
     "S"},
    {"grace", 0, SL_OPT_DOUBLE, O(grace), "10", 0, 1e6, NULL, 0,
     "seconds running tasks get after a stop signal before SIGKILL", "S"},
    {"halt-on-error", 0, SL_OPT_BOOL, O(halt_on_error), NULL, 0, 0, NULL, 0,
     "start no task after the first final failure", NULL},
    {"output-dir", 0, SL_OPT_STRING, O(output_dir), NULL, 0, 0, NULL, 0,
     "keep each task's stdout/stderr in DIR (packed per-rank logs + index)", "DIR"},
    {"output-per-task", 0, SL_OPT_BOOL, O(output_per_task), NULL, 0, 0, NULL, 0,
     "with --output-dir: plain files DIR/task-ID.out and .err", NULL},
    /* text, not an int with a -1 "not given" that --help would show as its default */
    {"show", 0, SL_OPT_STRING, O(show), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "print the output of task ID kept in --output-dir, and exit", "ID"},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t farm_spec = {
    "farm", "farm FILE [--slots N] [--journal PATH] [--output-dir DIR] [options]",
    "Runs every non-empty, non-# line of FILE as a shell command (/bin/sh -c), spread over all ranks\n"
    "with dynamic load balancing (MPI-3 one-sided counters). Each finished attempt is appended to the\n"
    "journal; running the same command again skips tasks that already succeeded. SIGUSR1 or SIGTERM\n"
    "starts no new task, forwards the signal to running ones, waits --grace seconds and exits 75\n"
    "(re-run to resume). Tasks see SLUICE_TASK_ID, SLUICE_TASK_ATTEMPT, SLUICE_NTASKS, SLUICE_RANK,\n"
    "SLUICE_SLOT. Exit status 0 only if every task succeeded.",
    farm_table, NULL};

/* One running task. */
typedef struct {
    pid_t pid;
    int pidfd, out_fd, err_fd; /* captures (scratch files or per-task files) */
    int64_t id;
    int attempt, final, timed_out, interrupted;
    double t0, wall0, deadline, kill_at;
    int gpus[64];
} slot_t;

typedef struct {
    MPI_Comm comm;
    farm_opts_t *o;
    int rank, size;
    char host[256];
    char **cmds;
    int64_t ncmds;
    farm_task_state_t *ts;
    int jfd;
    const char *jpath;
    farm_out_t out;
    int use_out;
    char io_msg[4400]; /* io_st's message, said once for all ranks at the end */
    char scratch[4096];
    slot_t *slots;
    int nslots, running;
    /* environment: filtered copy + our variables */
    char **env;
    int nenv;
    char gpu_tokens[64][64];
    int gpu_count;
    uint64_t gpu_busy;
    cpu_set_t *slot_cpus;
    sl_progress_t *prog;
    /* this run's counts (local) */
    int64_t ok, failed_final, interrupted, attempts;
    int64_t unrecorded; /* ended, but not journaled (an I/O error): not done */
    double busy;
    int stopping, stop_sig, halted;
    void *final_ids; /* sl_idvec_t: this rank's final failures */
    double stop_deadline;
    sl_status_t io_st;
    sl_guard_t *guard; /* stops the tasks should this rank die */
} farm_t;

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* Parse FILE into commands: in place; lines trimmed, blank and # lines out. */
static sl_status_t parse_commands(char *buf, char ***cmds_p, int64_t *n_p)
{
    int64_t n = 0, cap = 64;
    char **v = malloc((size_t)cap * sizeof *v);
    if (!v)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n'), *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = 0;
        if (len > 0 && p[0] != '#') {
            if (n == cap) {
                char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                if (!nv) {
                    free(v);
                    return sl_error(SL_ERR_NOMEM, "out of memory");
                }
                v = nv;
            }
            v[n++] = p;
        }
        p = next;
    }
    *cmds_p = v;
    *n_p = n;
    return SL_OK;
}

static int drop_env(const char *e)
{
    /* an MPI program run as a task must not think it is a rank of this job */
    static const char *pre[] = {
        "PMIX_", "OMPI_COMM_WORLD_", "OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix",
        /* the job's description: mpirun refuses to start inside a job that has
         * OMPI_UNIVERSE_SIZE ("mpirun does not support recursive calls") */
        "OMPI_UNIVERSE_SIZE=", "OMPI_COMMAND=", "OMPI_ARGV=", "OMPI_APP_CTX_NUM_PROCS=", "OMPI_NUM_APP_CTX=",
        "OMPI_FIRST_RANKS=", "OMPI_FILE_LOCATION=", "SLUICE_TASK_",
        "SLUICE_NTASKS=", "SLUICE_RANK=", "SLUICE_SLOT=", NULL};
    for (int i = 0; pre[i]; i++)
        if (!strncmp(e, pre[i], strlen(pre[i])))
            return 1;
    if (!strncmp(e, "CUDA_VISIBLE_DEVICES=", 21))
        return 2;
    if (!strncmp(e, "OMP_NUM_THREADS=", 16))
        return 3;
    return 0;
}

#define NOURS 8 /* our variables per task */

static sl_status_t env_init(farm_t *f)
{
    int n = 0;
    for (char **e = environ; *e; e++)
        n++;
    f->env = calloc((size_t)n + NOURS + 1, sizeof *f->env);
    if (!f->env)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    for (char **e = environ; *e; e++) {
        int d = drop_env(*e);
        if (d == 1 || (d == 2 && f->o->gpus_per_task > 0) || (d == 3 && f->o->cpus_per_task > 0))
            continue;
        f->env[f->nenv++] = *e;
    }
    return SL_OK;
}

static int gpu_init(farm_t *f, sl_topo_t *topo)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int n = 0;
    char toks[64][64];
    if (cvd && *cvd) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", cvd);
        for (char *s = strtok(tmp, ","); s && n < 64; s = strtok(NULL, ","))
            snprintf(toks[n++], 64, "%s", s);
    } else {
        n = sl_gpu_count();
        n = n > 64 ? 64 : n;
        for (int i = 0; i < n; i++)
            snprintf(toks[i], 64, "%d", i);
    }
    int first, count;
    sl_farm_gpu_share(n, topo->local_rank, topo->local_size, &first, &count);
    for (int i = 0; i < count; i++)
        memcpy(f->gpu_tokens[i], toks[first + i], 64);
    f->gpu_count = count;
    return n;
}

/* Pin slot s to its own cpus_per_task CPUs of the rank's mask, if it has
 * enough. Collective over the node when --cpus-per-task is given: ranks of a
 * node with one same mask (not bound: --bind-to none, srun --cpu-bind=none)
 * split it, or each would pin its slots to the same first CPUs. */
static void cpu_init(farm_t *f, sl_topo_t *topo)
{
    cpu_set_t mask;
    long c = f->o->cpus_per_task;
    if (c <= 0)
        return;
    int got = sched_getaffinity(0, sizeof mask, &mask) == 0;
    if (!got)
        CPU_ZERO(&mask);
    if (topo->local_size > 1) {
        cpu_set_t all, any;
        MPI_Allreduce(&mask, &all, (int)sizeof mask, MPI_BYTE, MPI_BAND, topo->node_comm);
        MPI_Allreduce(&mask, &any, (int)sizeof mask, MPI_BYTE, MPI_BOR, topo->node_comm);
        if (got && CPU_EQUAL(&all, &any)) {
            int per = CPU_COUNT(&mask) / topo->local_size, first = topo->local_rank * per, k = 0;
            cpu_set_t mine;
            CPU_ZERO(&mine);
            for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
                if (CPU_ISSET(cpu, &mask)) {
                    if (k >= first && k < first + per)
                        CPU_SET(cpu, &mine);
                    k++;
                }
            mask = mine;
        }
    }
    if (!got)
        return;
    int have = CPU_COUNT(&mask);
    if (have < c * f->nslots) {
        SL_VERBOSE("rank %d has %d CPUs, fewer than %ld slots x %ld: tasks not pinned", f->rank, have,
                   (long)f->nslots, c);
        return;
    }
    f->slot_cpus = calloc((size_t)f->nslots, sizeof *f->slot_cpus);
    if (!f->slot_cpus)
        return;
    int cpu = 0;
    for (int s = 0; s < f->nslots; s++)
        for (long k = 0; k < c; k++) {
            while (!CPU_ISSET(cpu, &mask))
                cpu++;
            CPU_SET(cpu, &f->slot_cpus[s]);
            cpu++;
        }
}


static void record(farm_t *f, slot_t *s, const char *result, int code, int final)
{
    farm_record_t r = {s->id, s->attempt, f->rank, code, final, f->host, result, s->wall0, wall_now()};
    if (f->io_st == SL_OK)
        f->io_st = farm_journal_record(f->jfd, f->jpath, &r, f->io_msg, sizeof f->io_msg);
}

/* Print a capture to the terminal with "[id] " before each line. Whole
 * lines go out in single writes: stderr is unbuffered, and under mpirun
 * the lines of all ranks are merged, so a prefix written on its own could
 * end up in front of another rank's line. */
static void print_prefixed(int fd, int64_t id, FILE *to)
{
    char buf[65536], line[65536 + 32];
    size_t len = 0;
    int n = snprintf(line, sizeof line, "[%lld] ", (long long)id);
    size_t pre = (size_t)n;
    len = pre;
    fflush(to);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            line[len++] = buf[i];
            if (buf[i] == '\n' || len == sizeof line - 1) {
                if (buf[i] != '\n')
                    line[len++] = '\n';
                if (farm_write_quiet(fileno(to), line, len) < 0)
                    return;
                len = pre;
            }
        }
    }
    if (len > pre) {
        line[len++] = '\n';
        if (farm_write_quiet(fileno(to), line, len) < 0)
            return;
    }
}

static sl_status_t start_task(farm_t *f, int si, int64_t id, int attempt, int final)
{
    slot_t *s = &f->slots[si];
    char vars[NOURS][160], cvd[32 + 64 * 64]; /* cvd: up to 64 tokens of up to 63 chars */
    int nv = 0;
    snprintf(vars[nv++], sizeof vars[0], "SLUICE_TASK_ID=%lld", (long long)id);
    snprintf(vars[nv++], sizeof vars[0], "SLUICE_TASK_ATTEMPT=%d", attempt);
    snprintf(vars[nv++], sizeof vars[0], "SLUICE_NTASKS=%lld", (long long)f->ncmds);
    snprintf(vars[nv++], sizeof vars[0], "SLUICE_RANK=%d", f->rank);
    snprintf(vars[nv++], sizeof vars[0], "SLUICE_SLOT=%d", si);
    if (f->o->cpus_per_task > 0)
        snprintf(vars[nv++], sizeof vars[0], "OMP_NUM_THREADS=%ld", f->o->cpus_per_task);
    if (f->o->gpus_per_task > 0) {
        int g = (int)f->o->gpus_per_task;
        if (sl_farm_gpu_pick(f->gpu_count, g, &f->gpu_busy, s->gpus) != 0)
            return sl_error(SL_ERR_INTERNAL, "no free GPU for a slot (bug)");
        int len = snprintf(cvd, sizeof cvd, "CUDA_VISIBLE_DEVICES=");
        for (int i = 0; i < g; i++)
            len += snprintf(cvd + len, sizeof cvd - (size_t)len, "%s%s", i ? "," : "",
                            f->gpu_tokens[s->gpus[i]]);
    }
    for (int i = 0; i < nv; i++)
        f->env[f->nenv + i] = vars[i];
    if (f->o->gpus_per_task > 0)
        f->env[f->nenv + nv++] = cvd;
    f->env[f->nenv + nv] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    int defs[] = {SIGTERM, SIGUSR1, SIGUSR2, SIGINT, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        sigaddset(&def, defs[i]);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* stdout/stderr: per-task files, or this slot's scratch captures */
    if (f->o->output_dir && f->o->output_per_task) {
        /* under temporary names until the attempt ends (finish_task) */
        char p[4200];
        snprintf(p, sizeof p, "%s/task-%lld.out.part", f->o->output_dir, (long long)id);
        s->out_fd = sl_open_new(p, O_RDWR | O_CLOEXEC, 0644); /* a link there is not written through */
        snprintf(p, sizeof p, "%s/task-%lld.err.part", f->o->output_dir, (long long)id);
        s->err_fd = sl_open_new(p, O_RDWR | O_CLOEXEC, 0644);
    } else {
        char p[4200];
        snprintf(p, sizeof p, "%s/slot-%d.out", f->scratch, si);
        s->out_fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        snprintf(p, sizeof p, "%s/slot-%d.err", f->scratch, si);
        s->err_fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    if (s->out_fd < 0 || s->err_fd < 0) {
        sl_status_t st = sl_error(SL_ERR_IO, "cannot create output files of task %lld: %s", (long long)id,
                                  strerror(errno));
        if (s->out_fd >= 0)
            close(s->out_fd);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        return st;
    }
    posix_spawn_file_actions_adddup2(&fa, s->out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, s->err_fd, 2);

    cpu_set_t saved;
    int pinned = f->slot_cpus && sched_getaffinity(0, sizeof saved, &saved) == 0 &&
                 sched_setaffinity(0, sizeof f->slot_cpus[si], &f->slot_cpus[si]) == 0;
    char *argv[] = {"/bin/sh", "-c", f->cmds[id], NULL};
    s->wall0 = wall_now();
    s->t0 = sl_now();
    int rc = posix_spawn(&s->pid, "/bin/sh", &fa, &at, argv, f->env);
    if (rc == E2BIG) { /* this command is too long for exec(2): a failure of the task, not of the farm */
        char msg[200];
        snprintf(msg, sizeof msg,
                 "echo 'sluice farm: the command of task %lld is too long to run (%zu bytes)' >&2; exit 126",
                 (long long)id, strlen(f->cmds[id]));
        argv[2] = msg;
        rc = posix_spawn(&s->pid, "/bin/sh", &fa, &at, argv, f->env);
    }
    if (pinned)
        sched_setaffinity(0, sizeof saved, &saved);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        close(s->out_fd);
        close(s->err_fd);
        return sl_error(SL_ERR_IO, "cannot start /bin/sh for task %lld: %s", (long long)id, strerror(rc));
    }
    sl_guard_add(f->guard, s->pid);
    s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
    s->id = id;
    s->attempt = attempt;
    s->final = final;
    s->timed_out = s->interrupted = 0;
    s->deadline = f->o->timeout > 0 ? s->t0 + f->o->timeout : 0;
    s->kill_at = 0;
    if (f->stopping) { /* a stop raced with the start: pass it on */
        kill(-s->pid, f->stop_sig);
        s->interrupted = 1;
    }
    f->running++;
    f->attempts++;
    return SL_OK;
}

/* --output-per-task: the attempt has ended, its captures replace the
 * previous attempt's files (fsync'd, then renamed into place). The task
 * wrote them itself, so a write that failed for want of space was its own to
 * see (many a program never checks, the shell's echo only fails): the file
 * system is asked afterwards. Full (under FARM_ROOM free or no inode left),
 * the output may be incomplete: it is not kept and the error, put in
 * io_msg, keeps the attempt out of the journal, so the next run runs it
 * again. */
#define FARM_ROOM ((uint64_t)1 << 20)
static sl_status_t keep_per_task(farm_t *f, slot_t *s)
{
    const char *ext[2] = {"out", "err"};
    int fd[2] = {s->out_fd, s->err_fd}, e = 0;
    char fin[2][4200], tmp[2][4208];
    for (int k = 0; k < 2; k++) {
        snprintf(fin[k], sizeof fin[k], "%s/task-%lld.%s", f->o->output_dir, (long long)s->id, ext[k]);
        snprintf(tmp[k], sizeof tmp[k], "%.4199s.part", fin[k]);
        if (!e && fsync(fd[k]) != 0 && errno != EINVAL)
            e = errno; /* a network file system says ENOSPC here */
    }
    if ((e && sl_errno_status(e) == SL_ERR_NOSPACE) || sl_fs_full(tmp[0], FARM_ROOM)) {
        snprintf(f->io_msg, sizeof f->io_msg,
                 "cannot keep the output of task %lld in '%s': its file system is full (under 1 MiB free or "
                 "no inode left), so the output may be incomplete; the task was not recorded and runs again "
                 "when the farm is run again",
                 (long long)s->id, f->o->output_dir);
        return SL_ERR_NOSPACE;
    }
    for (int k = 0; k < 2; k++)
        if (e || rename(tmp[k], fin[k]) != 0) {
            e = e ? e : errno;
            snprintf(f->io_msg, sizeof f->io_msg, "cannot keep the output of task %lld as '%.4199s': %s",
                     (long long)s->id, fin[k], strerror(e));
            return sl_errno_status(e);
        }
    return SL_OK;
}

/* A task ended: record it, keep its output, free the slot. Returns 1 if it
 * should be retried. */
static int finish_task(farm_t *f, int si, int wstatus, int64_t *retry_id)
{
    slot_t *s = &f->slots[si];
    f->busy += sl_now() - s->t0;
    const char *result;
    int code, ok = 0;
    if (s->timed_out) { /* cut short by --timeout: not done, even if it exited 0 on the SIGTERM */
        result = "timeout";
        code = f->o->timeout > 0 ? (int)f->o->timeout : 0;
    } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        result = "ok";
        code = 0;
        ok = 1;
    } else if (f->stopping || s->interrupted ||
               (WIFSIGNALED(wstatus) && (WTERMSIG(wstatus) == SIGUSR1 || WTERMSIG(wstatus) == SIGTERM ||
                                         WTERMSIG(wstatus) == SIGINT))) {
        /* a stop signal, ours or sent to the task directly (Slurm signals the
         * whole step, mpirun may too, before this rank sees its own): not done */
        result = "interrupted";
        code = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        result = "signal";
        code = WTERMSIG(wstatus);
    } else {
        result = "exit";
        code = WEXITSTATUS(wstatus);
    }
    int interrupted = !strcmp(result, "interrupted");
    int final = ok || s->final || interrupted;
    /* the captures in the scratch directory were written by the task too: a
     * write that failed there for want of space went unseen (keep_per_task) */
    if (f->io_st == SL_OK && f->scratch[0] && sl_fs_full(f->scratch, FARM_ROOM)) {
        snprintf(
            f->io_msg, sizeof f->io_msg,
            "cannot keep the output of task %lld: the file system of the scratch directory '%s' (TMPDIR) "
            "is full (under 1 MiB free or no inode left), so the output it captured may be incomplete; the "
            "task was not recorded and runs again when the farm is run again",
            (long long)s->id, f->scratch);
        f->io_st = SL_ERR_NOSPACE;
    }
    /* output first, then the journal: a task whose output could not be kept
     * (a full file system) is not recorded, so a resume runs it again; in
     * the other order the journal said done and the output was lost */
    if (f->use_out) {
        double end = wall_now();
        if (f->io_st == SL_OK)
            f->io_st = farm_out_append(&f->out, s->id, s->attempt, "stdout", s->out_fd, end, f->io_msg,
                                       sizeof f->io_msg);
        if (f->io_st == SL_OK)
            f->io_st = farm_out_append(&f->out, s->id, s->attempt, "stderr", s->err_fd, end, f->io_msg,
                                       sizeof f->io_msg);
    } else if (!f->o->output_dir) {
        /* only the output of a task that will be journaled: one that is not
         * runs again next time, and would print its output twice */
        if (f->io_st == SL_OK) {
            print_prefixed(s->out_fd, s->id, stdout);
            print_prefixed(s->err_fd, s->id, stderr);
        }
    } else {
        if (f->io_st == SL_OK)
            f->io_st = keep_per_task(f, s);
        if (f->io_st != SL_OK) { /* not kept (or the farm stops without a record of it): its space freed */
            char p[4200];
            snprintf(p, sizeof p, "%s/task-%lld.out.part", f->o->output_dir, (long long)s->id);
            unlink(p);
            snprintf(p, sizeof p, "%s/task-%lld.err.part", f->o->output_dir, (long long)s->id);
            unlink(p);
        }
    }
    record(f, s, result, code, ok ? 1 : (interrupted ? 0 : s->final));
    /* not journaled (its output not kept, or the journal or an earlier
     * write failed): not done, whatever its result; the next run runs it */
    int journaled = f->io_st == SL_OK;
    close(s->out_fd);
    close(s->err_fd);
    if (s->pidfd >= 0)
        close(s->pidfd);
    if (f->o->gpus_per_task > 0)
        sl_farm_gpu_release(&f->gpu_busy, s->gpus, (int)f->o->gpus_per_task);
    s->pid = 0;
    f->running--;
    if (!ok && !interrupted)
        SL_VERBOSE("task %lld attempt %d: %s %d%s", (long long)s->id, s->attempt, result, code,
                   final ? "" : " (will retry)");
    if (!journaled) {
        f->unrecorded++;
    } else if (ok) {
        f->ok++;
        sl_progress_add(f->prog, 1);
    } else if (interrupted) {
        f->interrupted++;
    } else if (final) {
        f->failed_final++;
        sl_progress_add(f->prog, 1);
        if (sl_idvec_push(f->final_ids, s->id) != 0)
            f->io_st = sl_error(SL_ERR_NOMEM, "out of memory");
        if (f->o->halt_on_error)
            f->halted = 1;
    } else {
        *retry_id = s->id;
        return 1;
    }
    return 0;
}

/* Wait for something to happen: a child exit, a deadline, a signal. */
static void wait_some(farm_t *f, double max_wait)
{
    struct pollfd pfd[f->nslots > 0 ? f->nslots : 1];
    int n = 0, nofd = 0;
    double now = sl_now(), until = now + max_wait;
    for (int i = 0; i < f->nslots; i++) {
        slot_t *s = &f->slots[i];
        if (!s->pid)
            continue;
        if (s->pidfd >= 0)
            pfd[n++] = (struct pollfd){s->pidfd, POLLIN, 0};
        else
            nofd = 1;
        if (s->deadline > 0 && s->deadline < until)
            until = s->deadline;
        if (s->kill_at > 0 && s->kill_at < until)
            until = s->kill_at;
    }
    if (f->stopping && f->stop_deadline < until)
        until = f->stop_deadline;
    int ms = (int)((until - now) * 1000) + 1;
    if (nofd && ms > 2)
        ms = 2;
    if (ms < 0)
        ms = 0;
    poll(pfd, (nfds_t)n, ms);
}

static void on_stop(farm_t *f, sl_tasks_t *t)
{
    int sig = sl_stop_requested();
    f->stopping = 1;
    f->stop_sig = sig > 0 ? sig : SIGTERM;
    if (sig == SIGINT)
        f->stop_sig = SIGINT;
    f->stop_deadline = sl_now() + f->o->grace;
    sl_tasks_halt(t);
    for (int i = 0; i < f->nslots; i++)
        if (f->slots[i].pid) {
            kill(-f->slots[i].pid, f->stop_sig);
            f->slots[i].interrupted = 1;
        }
}

/* One round: run the given ids (attempt = prior + round) until all claimed
 * and finished; failed ones that may retry go to retry. */
static sl_status_t run_round(farm_t *f, const int64_t *ids, int64_t n, int round, sl_idvec_t *retry)
{
    sl_tasks_t *t;
    SL_TRY(sl_tasks_create(f->comm, n, NULL, NULL, &t));
    int64_t lo = 0, hi = 0;
    int exhausted = n == 0;
    double halt_check = 0; /* when to look next whether another rank halted the claims */
    if (f->halted || f->stopping)
        sl_tasks_halt(t);
    for (;;) {
        if (!f->stopping && sl_stop_requested())
            on_stop(f, t);
        /* A stop that reached another rank only halted the claims (without
         * --halt-on-error nothing else does): this rank stops as if it had
         * come here. It ran the rest of the ids it had claimed (up to a
         * quarter of the tasks), and its running tasks to their end, past a
         * time limit. A remote atomic: at most every 0.1 s. */
        if (!f->stopping && !f->o->halt_on_error && sl_now() >= halt_check) {
            halt_check = sl_now() + 0.1;
            if (sl_tasks_halted(t))
                on_stop(f, t);
        }
        if (f->halted && !f->stopping && !exhausted) {
            sl_tasks_halt(t);
            exhausted = 1;
            lo = hi;
        }
        /* start what fits */
        while (!f->stopping && !f->halted && f->io_st == SL_OK && f->running < f->nslots) {
            if (sl_stop_requested()) { /* a signal while starting: start nothing more */
                on_stop(f, t);
                break;
            }
            if (lo == hi) {
                if (exhausted || !sl_tasks_claim(t, &lo, &hi)) {
                    exhausted = 1;
                    break;
                }
            } else if (f->o->halt_on_error && sl_tasks_halted(t)) {
                exhausted = 1; /* another rank failed finally: drop the rest of this chunk */
                lo = hi;
                break;
            }
            int si = 0;
            while (f->slots[si].pid)
                si++;
            int64_t id = ids[lo++];
            int attempt = f->ts[id].prior + round;
            /* failures of earlier runs count: a stop does not give the task its retries again */
            sl_status_t st = start_task(f, si, id, attempt, f->ts[id].used + round >= f->o->retries);
            if (st != SL_OK) {
                f->io_st = st;
                break;
            }
        }
        if (f->io_st != SL_OK && !f->stopping)
            on_stop(f, t); /* the journal or a capture failed: stop cleanly */
        if (f->running == 0 && (exhausted || f->stopping || f->halted || f->io_st != SL_OK))
            break;
        wait_some(f, 0.2);
        if (!f->stopping && sl_stop_requested())
            on_stop(f, t); /* before reaping: tasks killed by the same signal are interrupted */
        sl_progress_tick(f->prog);
        /* reap */
        double now = sl_now();
        for (int i = 0; i < f->nslots; i++) {
            slot_t *s = &f->slots[i];
            if (!s->pid)
                continue;
            int ws;
            if (sl_guard_reap(f->guard, s->pid, 1, &ws)) { /* leftovers of its group killed */
                int64_t rid;
                if (finish_task(f, i, ws, &rid) && sl_idvec_push(retry, rid) != 0)
                    f->io_st = sl_error(SL_ERR_NOMEM, "out of memory");
                continue;
            }
            if (s->deadline > 0 && now >= s->deadline && !s->timed_out) {
                s->timed_out = 1;
                kill(-s->pid, SIGTERM);
                s->kill_at = now + 2;
            } else if (f->stopping && now >= f->stop_deadline && s->kill_at == 0) {
                kill(-s->pid, SIGKILL);
                s->kill_at = now + 1e9;
            } else if (s->kill_at > 0 && now >= s->kill_at && s->kill_at < now + 1e8) {
                kill(-s->pid, SIGKILL);
                s->kill_at = now + 1e9;
            }
        }
        char note[128];
        snprintf(note, sizeof note, "running %d, failed %lld", f->running, (long long)f->failed_final);
        sl_progress_note(f->prog, note);
    }
    sl_tasks_destroy(&t);
    return SL_OK;
}

static sl_status_t setup_journal(farm_t *f, uint64_t hash, uint64_t old_hash, const char *file)
{
    sl_status_t st = SL_OK;
    int exists = 0, needs_header = 0, bad = 0, bad_line = 0;
    size_t torn = 0;
    f->jfd = -1;
    if (f->rank == 0) {
        /* Rank 0 holds a lock on the journal for the farm's life: a second
         * farm on it (a requeued job while the first still runs) would run
         * every task again. File systems without flock (ENOLCK, ENOSYS,
         * EOPNOTSUPP) go without. An empty journal reads as a new one. */
        for (int tries = 0; st == SL_OK; tries++) {
            f->jfd = open(f->jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (f->jfd < 0)
                st = sl_error(SL_ERR_IO, "cannot open journal '%s' for appending: %s", f->jpath,
                              strerror(errno));
            else if (flock(f->jfd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
                st = sl_error(
                    SL_ERR_IO,
                    "journal '%s' is in use by another farm still running (wait for it to end, or use "
                    "another --journal)",
                    f->jpath);
            else { /* the file locked must still be the journal: a farm that rewrote it (broken lines
                    * dropped) renamed another file there, then let go of this one */
                struct stat a, b;
                if (tries < 10 && fstat(f->jfd, &a) == 0 && stat(f->jpath, &b) == 0 &&
                    (a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
                    close(f->jfd);
                    f->jfd = -1;
                    continue;
                }
                break;
            }
        }
        if (st == SL_OK)
            st = farm_journal_load(f->jpath, hash, old_hash, f->ncmds, f->o->force, f->ts, &exists,
                                   &needs_header, &torn, &bad, &bad_line);
        /* a broken line in the middle (a torn line that an earlier version
         * closed with a newline and appended after): said once, and the
         * journal rewritten without it (and without a torn last line), so
         * that later runs are silent */
        if (st == SL_OK && bad) {
            char why[4400], more[64] = "";
            if (bad > 1)
                snprintf(more, sizeof more, " (and %d more such line%s)", bad - 1, bad == 2 ? "" : "s");
            if (farm_journal_rewrite(f->jpath, &f->jfd, why, sizeof why) == 0) {
                SL_WARN("journal '%s': line %d is not a complete record%s (a torn write); ignored, and the "
                        "journal rewritten without it",
                        f->jpath, bad_line, more);
                torn = 0;
            } else
                SL_WARN(
                    "journal '%s': line %d is not a complete record%s (a torn write); ignored (the journal "
                    "could not be rewritten without it: %s)",
                    f->jpath, bad_line, more, why);
        }
        /* a torn last line (a writer killed mid-record) is cut off, not
         * closed with a newline: kept, it would be warned about on every run.
         * One ftruncate(2) under the lock: complete records stay as they are */
        if (st == SL_OK && torn) {
            struct stat sb;
            if (fstat(f->jfd, &sb) != 0 || (size_t)sb.st_size < torn ||
                ftruncate(f->jfd, sb.st_size - (off_t)torn) != 0)
                st = sl_error(SL_ERR_IO, "cannot remove the torn last line of journal '%s': %s", f->jpath,
                              strerror(errno));
        }
        if (st == SL_OK && needs_header)
            st = farm_journal_header(f->jfd, f->jpath, hash, f->ncmds, file);
        if (st == SL_OK && fsync(f->jfd) != 0 && errno != EINVAL)
            st = sl_error(SL_ERR_IO, "cannot fsync journal '%s': %s", f->jpath, strerror(errno));
    }
    SL_TRY(sl_agree(f->comm, st));
    if (f->rank != 0) {
        f->jfd = open(f->jpath, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (f->jfd < 0)
            st = sl_error(SL_ERR_IO, "cannot open journal '%s' for appending: %s", f->jpath, strerror(errno));
    }
    SL_TRY(sl_agree(f->comm, st));
    MPI_Bcast(f->ts, (int)(f->ncmds * (int64_t)sizeof *f->ts), MPI_BYTE, 0, f->comm);
    return SL_OK;
}

static void summary(farm_t *f, int64_t done_before, int64_t failed_before, double makespan, double busy_all,
                    int64_t attempts_all, const int64_t *g, int stopped, const int64_t *failed_ids,
                    int64_t nfailed, int64_t slots_all)
{
    if (f->rank != 0)
        return;
    char b1[32], b2[32], where[96];
    /* --gpus-per-task can lower the slots of some ranks only */
    if (slots_all == (int64_t)f->size * f->nslots)
        snprintf(where, sizeof where, "%d rank%s x %d slot%s", f->size, f->size == 1 ? "" : "s", f->nslots,
                 f->nslots == 1 ? "" : "s");
    else
        snprintf(where, sizeof where, "%d ranks with %lld slots in all", f->size, (long long)slots_all);
    int64_t succeeded = g[0] + done_before, failed = g[1] + failed_before;
    int64_t notrun = f->ncmds - succeeded - failed;
    double eff = makespan > 0 ? busy_all / ((double)slots_all * makespan) : 0;
    fprintf(stderr,
            "farm: %lld task%s: %lld succeeded (%lld earlier), %lld failed, %lld not done%s\n"
            "farm: %lld attempt%s on %s in %s, task time %s, efficiency %.1f%%, %.1f "
            "tasks/s\n",
            (long long)f->ncmds, f->ncmds == 1 ? "" : "s", (long long)succeeded, (long long)done_before,
            (long long)failed, (long long)notrun, stopped ? " (stopped: run again to resume)" : "",
            (long long)attempts_all, attempts_all == 1 ? "" : "s", where,
            sl_format_duration(makespan, b1, sizeof b1), sl_format_duration(busy_all, b2, sizeof b2),
            100 * eff, makespan > 0 ? (double)attempts_all / makespan : 0);
    if (g[4] > 0)
        fprintf(stderr,
                "farm: %lld of the tasks not done ended but could not be recorded (the error above): they "
                "run again when the farm is run again\n",
                (long long)g[4]);
    if (nfailed > 0) {
        fprintf(stderr, "farm: failed task ids:");
        for (int64_t i = 0; i < nfailed && i < 20; i++)
            fprintf(stderr, " %lld", (long long)failed_ids[i]);
        fprintf(stderr, "%s (journal %s)\n", nfailed > 20 ? " ..." : "", f->jpath);
    }
    fflush(stderr);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gather every rank's ids on every rank (sorted). */
static sl_status_t allgather_ids(MPI_Comm comm, const sl_idvec_t *v, int64_t **all_p, int64_t *n_p)
{
    int size;
    MPI_Comm_size(comm, &size);
    int cnt = (int)v->n, *cnts = malloc((size_t)size * sizeof(int)),
        *displs = malloc((size_t)size * sizeof(int));
    SL_TRY(sl_agree(comm, cnts && displs ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory")));
    MPI_Allgather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, comm);
    int64_t total = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)total;
        total += cnts[r];
    }
    int64_t *all = malloc((size_t)(total + 1) * sizeof *all);
    sl_status_t st = sl_agree(comm, all ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
    if (st == SL_OK) {
        MPI_Allgatherv(v->v ? v->v : all, cnt, MPI_INT64_T, all, cnts, displs, MPI_INT64_T, comm);
        qsort(all, (size_t)total, sizeof *all, cmp_i64);
        *all_p = all;
        *n_p = total;
    }
    free(cnts);
    free(displs);
    return st;
}

static sl_status_t farm_main(MPI_Comm comm, farm_opts_t *o)
{
    farm_t F = {0}, *f = &F;
    sl_status_t st = SL_OK;
    char *buf = NULL, jdefault[4200];
    size_t len = 0;
    sl_topo_t topo;
    int topo_ok = 0;
    int64_t *pending = NULL, npending = 0;
    sl_idvec_t retry = {0}, failed_now = {0}, final_run = {0};

    f->o = o;
    f->final_ids = &final_run;
    f->jfd = -1;
    f->out.log_fd = f->out.idx_fd = -1;
    SL_TRY(sl_topo_init(comm, &topo));
    topo_ok = 1;
    f->comm = topo.comm;
    f->rank = topo.rank;
    f->size = topo.size;
    snprintf(f->host, sizeof f->host, "%s", topo.host);

    /* FILE: read on rank 0, broadcast */
    if (!o->file)
        st = sl_error_root(comm, SL_ERR_USAGE,
                           "farm: a FILE of commands is required (see sluice farm --help)");
    else if (o->output_per_task && !o->output_dir)
        st = sl_error_root(comm, SL_ERR_USAGE, "farm: --output-per-task needs --output-dir");
    SL_TRY_GOTO(st, out);
    if (f->rank == 0)
        st = farm_read_file(o->file, &buf, &len);
    SL_TRY_GOTO(sl_agree(f->comm, st), out);
    uint64_t blen = len;
    MPI_Bcast(&blen, 1, MPI_UINT64_T, 0, f->comm);
    if (f->rank != 0) {
        buf = malloc(blen + 1);
        st = buf ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for the task file");
    }
    SL_TRY_GOTO(sl_agree(f->comm, st), out);
    for (uint64_t off = 0; off < blen; off += 1 << 30)
        MPI_Bcast(buf + off, (int)(blen - off < (1u << 30) ? blen - off : 1u << 30), MPI_CHAR, 0, f->comm);
    buf[blen] = 0;
    uint64_t hash = farm_hash(buf, blen), old_hash = farm_hash_old(buf, blen);
    SL_TRY_GOTO(sl_agree(f->comm, parse_commands(buf, &f->cmds, &f->ncmds)), out);

    f->ts = calloc((size_t)f->ncmds + 1, sizeof *f->ts);
    SL_TRY_GOTO(sl_agree(f->comm, f->ts ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory")), out);
    if (o->journal)
        f->jpath = o->journal;
    else {
        snprintf(jdefault, sizeof jdefault, "%s.journal", o->file);
        f->jpath = jdefault;
    }
    SL_TRY_GOTO(setup_journal(f, hash, old_hash, o->file), out);

    /* output directory and scratch captures */
    st = SL_OK;
    if (o->output_dir && f->rank == 0)
        st = sl_mkdirs(o->output_dir);
    SL_TRY_GOTO(sl_agree(f->comm, st), out);
    f->use_out = o->output_dir && !o->output_per_task;
    if (f->use_out)
        st = farm_out_open(&f->out, o->output_dir, f->rank);
    if (st == SL_OK && !(o->output_dir && o->output_per_task)) {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->scratch, sizeof f->scratch, "%s/sluice-farm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(f->scratch))
            st = sl_error(SL_ERR_IO, "cannot create a scratch directory in %s: %s",
                          tmp && *tmp ? tmp : "/tmp", strerror(errno));
    }
    SL_TRY_GOTO(sl_agree(f->comm, st), out);

    /* slots, GPUs, CPUs */
    f->nslots = (int)o->slots;
    if (o->gpus_per_task > 0) {
        int node_gpus = gpu_init(f, &topo);
        int fit = f->gpu_count / (int)o->gpus_per_task;
        if (fit < 1)
            st = sl_error(SL_ERR_UNSUPPORTED,
                          "on node %s: --gpus-per-task %ld but this rank's share of the node's %d GPUs is %d "
                          "(CUDA_VISIBLE_DEVICES or sl_gpu_count)",
                          f->host, o->gpus_per_task, node_gpus, f->gpu_count);
        else if (fit < f->nslots) {
            SL_VERBOSE("rank %d: %d GPUs fit %d tasks of %ld GPUs: slots lowered from %d", f->rank,
                       f->gpu_count, fit, o->gpus_per_task, f->nslots);
            f->nslots = fit;
        }
    }
    SL_TRY_GOTO(sl_agree(f->comm, st), out);
    f->slots = calloc((size_t)f->nslots, sizeof *f->slots);
    SL_TRY_GOTO(sl_agree(f->comm, f->slots && env_init(f) == SL_OK ? SL_OK : SL_ERR_NOMEM), out);
    SL_TRY_GOTO(sl_agree(f->comm, sl_guard_create(o->grace, &f->guard)), out);
    cpu_init(f, &topo);

    /* what to run: no success yet, and not finally failed unless --retry-failed */
    /* rerun: failed, run again (--retry-failed); resumed: failed, planned for a retry by a
     * --retry-failed run that was stopped (run again with or without the option) */
    int64_t done_before = 0, failed_before = 0, rerun = 0, resumed = 0;
    pending = malloc((size_t)(f->ncmds + 1) * sizeof *pending);
    SL_TRY_GOTO(sl_agree(f->comm, pending ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory")), out);
    for (int64_t i = 0; i < f->ncmds; i++) {
        farm_task_state_t *t = &f->ts[i];
        if (!t->done && !t->failed && t->used > o->retries)
            t->failed = 1; /* its attempts are spent (a run before the stop had more --retries) */
        if (t->done)
            done_before++;
        else if (t->failed && !o->retry_failed)
            failed_before++;
        else {
            if (t->failed)
                t->used = 0; /* --retry-failed: its retries afresh */
            rerun += t->failed;
            resumed += t->retry && !t->failed;
            pending[npending++] = i;
        }
    }
    /* --retry-failed: the journal says so before the first retry, so that
     * a stop before the last one leaves them planned for the runs that
     * resume this one, with the option or without (a requeued job) */
    st = SL_OK;
    if (f->rank == 0 && rerun > 0)
        st = farm_journal_retry_mark(f->jfd, f->jpath);
    SL_TRY_GOTO(sl_agree(f->comm, st), out);
    /* with --retry-failed the failed ones are said too: "0 failed earlier"
     * over a journal of failures read as if there were none */
    if (f->rank == 0 && (done_before || failed_before || rerun || resumed)) {
        char also[160] = "";
        if (resumed)
            snprintf(also, sizeof also,
                     " (%lld of them failed tasks a stopped --retry-failed run had yet to retry)",
                     (long long)resumed);
        fprintf(stderr, "farm: journal %s: %lld task%s done, %lld failed earlier%s; running %lld%s\n",
                f->jpath, (long long)done_before, done_before == 1 ? "" : "s",
                (long long)(failed_before + rerun), rerun ? " (run again: --retry-failed)" : "",
                (long long)npending, also);
    }
    SL_TRY_GOTO(sl_progress_create(f->comm, "farm", (double)f->ncmds, "tasks", &f->prog), out);
    if (f->rank == 0)
        sl_progress_add(f->prog, (double)(done_before + failed_before));

    MPI_Barrier(f->comm);
    double t0 = sl_now();
    int64_t *ids = pending, nids = npending, *prev = NULL;
    int stopped = 0;
    for (int round = 0;; round++) {
        retry.n = 0;
        st = run_round(f, ids, nids, round, &retry);
        int flags[3] = {f->stopping, f->halted, f->io_st != SL_OK}, any[3];
        MPI_Request req;
        MPI_Iallreduce(flags, any, 3, MPI_INT, MPI_MAX, f->comm, &req);
        sl_tasks_idle_wait(&req);
        free(prev);
        prev = NULL;
        if (st == SL_OK)
            st = allgather_ids(f->comm, &retry, &prev, &nids);
        SL_TRY_GOTO(sl_agree(f->comm, st), done);
        ids = prev;
        if (any[0] || any[2]) {
            stopped = any[0] && !any[2]; /* an error also stops the ranks (on_stop), but is no signal */
            break;
        }
        if (any[1] || nids == 0 || round >= o->retries)
            break;
    }
done:;
    free(prev);
    /* A write error is most often the file system's (full, or a quota),
     * met by every rank alike (the journal is one file): the lowest rank
     * that met one says it, once. */
    int in = f->io_msg[0] ? f->rank : INT_MAX, lo = INT_MAX;
    MPI_Allreduce(&in, &lo, 1, MPI_INT, MPI_MIN, f->comm);
    if (lo == f->rank)
        sl_error(f->io_st, "%s", f->io_msg);
    sl_status_t io = sl_agree(f->comm, f->io_st);
    double span = sl_now() - t0, makespan = 0;
    MPI_Allreduce(&span, &makespan, 1, MPI_DOUBLE, MPI_MAX, f->comm);
    int64_t loc[5] = {f->ok, f->failed_final, f->interrupted, f->attempts, f->unrecorded}, g[5];
    MPI_Allreduce(loc, g, 5, MPI_INT64_T, MPI_SUM, f->comm);
    double busy_all = 0;
    MPI_Allreduce(&f->busy, &busy_all, 1, MPI_DOUBLE, MPI_SUM, f->comm);
    sl_progress_finish(&f->prog);
    /* failed ids over the whole journal: earlier ones and this run's */
    int64_t *fids = NULL, nf = 0;
    sl_status_t st2 = allgather_ids(f->comm, &final_run, &fids, &nf);
    if (st2 == SL_OK && f->rank == 0) {
        for (int64_t i = 0; i < f->ncmds; i++)
            if (!f->ts[i].done && f->ts[i].failed && !o->retry_failed)
                sl_idvec_push(&failed_now, i);
        for (int64_t i = 0; i < nf; i++)
            sl_idvec_push(&failed_now, fids[i]);
        if (failed_now.n)
            qsort(failed_now.v, (size_t)failed_now.n, sizeof(int64_t), cmp_i64);
    }
    free(fids);
    int64_t myslots = f->nslots, slots_all = 0;
    MPI_Allreduce(&myslots, &slots_all, 1, MPI_INT64_T, MPI_SUM, f->comm);
    summary(f, done_before, failed_before, makespan, busy_all, g[3], g, stopped, failed_now.v, failed_now.n,
            slots_all);
    if (st == SL_OK)
        st = st2;
    if (st == SL_OK)
        st = io;
    if (st == SL_OK) {
        if (stopped && g[0] + done_before < f->ncmds)
            st = SL_ERR_STOPPED; /* a stop after the last task changes nothing */
        else if (g[0] + done_before < f->ncmds)
            st = SL_ERR_FAILED;
    }
out:
    if (f->jfd >= 0) {
        fsync(f->jfd); /* records were written one by one; make them durable once */
        close(f->jfd);
    }
    farm_out_close(&f->out);
    if (f->scratch[0]) {
        char p[8448];
        for (int i = 0; i < f->nslots; i++) {
            snprintf(p, sizeof p, "%s/slot-%d.out", f->scratch, i);
            unlink(p);
            snprintf(p, sizeof p, "%s/slot-%d.err", f->scratch, i);
            unlink(p);
        }
        rmdir(f->scratch);
    }
    sl_guard_destroy(&f->guard);
    free(f->slot_cpus);
    free(f->env);
    free(f->slots);
    free(f->ts);
    free(f->cmds);
    free(pending);
    free(retry.v);
    free(failed_now.v);
    free(final_run.v);
    free(buf);
    if (topo_ok)
        sl_topo_fini(&topo);
    return st;
}

sl_status_t sl_cmd_farm(MPI_Comm comm, int argc, char **argv)
{
    farm_opts_t o;
    sl_opts_info_t info;
    SL_TRY(sl_opts_parse(&farm_spec, &o, argc, argv, &info));
    sl_status_t st = SL_OK;
    if (!info.help) {
        if (o.show) {
            int rank;
            MPI_Comm_rank(comm, &rank);
            char *end;
            errno = 0;
            long long id = strtoll(o.show, &end, 10);
            if (errno || end == o.show || *end || id < 0)
                st = sl_error_root(comm, SL_ERR_USAGE, "farm: --show '%s' is not a task id (0, 1, 2, ...)",
                                   o.show);
            else if (!o.output_dir)
                st = sl_error_root(comm, SL_ERR_USAGE, "farm: --show needs --output-dir DIR");
            else if (rank == 0)
                st = farm_out_show(o.output_dir, id);
            st = sl_agree(comm, st);
        } else
            st = farm_main(comm, &o);
    }
    sl_config_destroy(&info.config);
    sl_opts_free(farm_table, &o);
    return st;
}
