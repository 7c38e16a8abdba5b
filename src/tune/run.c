/* SPDX-License-Identifier: BSD-3-Clause */
/* The runner: ranks split into groups of --ranks-per-trial (packed by node),
 * each group runs one trial at a time, gang-scheduled. World rank 0 is the
 * coordinator and also leads group 0: it answers its peers' requests and
 * reports between polls of its own trial (nonblocking probes, no idle
 * coordinator rank). Leaders relay jobs and decisions to their members, so
 * every rank of a trial learns a decision. The coordinator alone owns the
 * files: trial directories, checkpoint pruning, best.h5, experiment.h5. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include <alloca.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tune_run {
    MPI_Comm wc, gc;
    int rank, size, group, grank, gsize, ngroups;
    int *leader; /* world rank of each group's leader */
    const tune_opts_t *o;
    const tune_objective_t *obj;
    const sl_tune_space_t *space; /* every rank's copy */
    size_t jobsize;
    /* leader */
    int64_t cur_trial;
    int cur_decision;
    int64_t cur_target; /* the current job's target step (a rung, --max-t; <= 0: none) */
    double prune_at; /* the current trial's next pruning at a report (sl_now) */
    double note_at;  /* the next progress note (coordinator) */
    double gbest;    /* the best value reported so far (NaN: none) */
    int prune_reports;
    int stamp_time;           /* add time_total_s to reports (it is the time attr) */
    int warned_full;          /* a report had no room left for time_total_s */
    int warned_long;          /* leader: a report had a metric name too long to take */
    unsigned once;            /* tune_first: the TUNE_ONCE_* asked already */
    int warned_attr;          /* coordinator: a trial's first report lacked the time attr */
    int warned_clash;         /* coordinator: a report had a metric named like a column */
    int warned_inf;           /* coordinator: a report had the metric infinite the good way */
    int warned_many;          /* coordinator: a report had a metric past the 16 columns */
    int warned_copy;          /* coordinator: a PBT exploit found no checkpoint to copy */
    int warned_nockpt;        /* coordinator: a trial went on with no checkpoint to start from */
    double job_t0, job_prior; /* the current job's start (sl_now) and earlier jobs' seconds */
    char cur_dir[1024];
    int spare;            /* spare_dir holds an empty directory to reuse */
    char spare_dir[1100]; /* EXPDIR/trials/.spare-RANK */
    int dir_reusable; /* the objective left nothing running in the trial's directory */
    int fail_grank;   /* the group rank whose copy failed the current trial (0: the leader's) */
    int64_t job_step; /* leader: the newest step the current job reported (or resumed from; -1) */
    /* leader of a group other than rank 0's: the newest step of the current
     * job that rank 0 has said it took (before any answer, the step the job
     * resumed from); only checkpoints up to it are pruned. Rank 0 reads a
     * report after the leader has sent the next ones: until then it may
     * still decide at the report (its checkpoint is where the trial
     * resumes) or make its checkpoint best.h5. */
    int64_t job_sure;
    /* leader: the step a decision came for (INT64_MAX: none): no report
     * after it is taken */
    int64_t cur_cap;
    mode_t dir_mode;  /* what mkdir gives a trial directory (0755 less the umask) */
    /* coordinator */
    sl_tune_exp_t *e;
    int *gstate;       /* 0 idle/asking, 1 running, 2 waiting, 3 finished */
    int *want;         /* remote groups: requests not answered yet (a job runs, one waits queued) */
    int interrupt_all; /* leader: an interrupt came for a queued trial */
    char *sendbuf;     /* two job slots per group: a job may wait at a busy leader (a large
                          message goes by rendezvous), so it is sent without blocking */
    MPI_Request *sendreq;
    int *slot;
    unsigned char *seen; /* coord_note: running trials per group */
    int changed, dirty;
    double last_save, save_cost, coord_time, save_total, t_start;
    int64_t nsaves;
    int save_failed; /* a write of the state failed (said once): no more tries */
    tune_jobmsg_t *own_job;
    int own_ready;
    sl_progress_t *prog;
    int64_t settled, best_reported;
    double best_seen;
    int64_t bsaved_trial, bsaved_step; /* the best best_saved_keep last saw (-1: none) */
    int bsaved_have;                   /* and its link is there */
    int bsaved_dir;                    /* a tree of links to best/, not to best.h5 */
    sl_status_t fatal;
    sl_guard_t *guard; /* stops the commands should this rank die (cmd objective) */
    /* coordinator: each trial's step as experiment.h5 last holds it. After
     * a kill -9 the resume goes on from that step, and drops the
     * checkpoints after it: pruning keeps the newest checkpoint up to it
     * (unsaved reports count for nothing then), else the trial started
     * over from its first step. saved_n: trials it covers (later: -1). */
    int64_t *saved_step, saved_n;
    /* coordinator: trials whose job end left more than --keep-checkpoints
     * (those after their saved step): pruned to K after the next save */
    unsigned char *unpruned;
    int64_t unpruned_n, nunpruned;
    int lockfd;        /* coordinator: EXPDIR, locked while this run uses it (-1: none) */
};

int tune_group_rank(const tune_run_t *r)
{
    return r->grank;
}
int tune_group_size(const tune_run_t *r)
{
    return r->gsize;
}
MPI_Comm tune_group_comm(const tune_run_t *r)
{
    return r->gc;
}
sl_status_t tune_guard(tune_run_t *r, sl_guard_t **g_p)
{
    if (!r->guard)
        SL_TRY(sl_guard_create((double)r->o->kill_grace, &r->guard));
    *g_p = r->guard;
    return SL_OK;
}
const tune_opts_t *tune_opts(const tune_run_t *r)
{
    return r->o;
}
const sl_tune_space_t *tune_space(const tune_run_t *r)
{
    return r->space;
}

/* CPU time of this thread: the scheduler's cost, whatever else the node runs. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tune_nap(tune_run_t *r)
{
    struct timespec ts = {0, r->rank == 0 && r->ngroups > 1 ? 100000 : 300000};
    nanosleep(&ts, NULL);
}

/* ---- checkpoints in a trial directory: files named checkpoint-<step>... */

static int ckpt_step_of(const char *name, int64_t *step)
{
    if (strncmp(name, "checkpoint-", 11) || name[11] < '0' || name[11] > '9')
        return 0;
    char *end;
    long long v = strtoll(name + 11, &end, 10);
    if (*end && *end != '.' && *end != '-' && *end != '_')
        return 0;
    *step = v;
    return 1;
}

static int is_dot(const char *name)
{
    return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* The newest checkpoint at or before max_step (-1: any): its step and name;
 * in *left (if not NULL) the number of entries the directory holds. */
static int64_t ckpt_find(const char *dir, int64_t max_step, char *name, size_t len, int *left)
{
    DIR *d = opendir(dir);
    int64_t best = -1;
    if (left)
        *left = -1;
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        n += !is_dot(de->d_name);
        if (ckpt_step_of(de->d_name, &s) && (max_step < 0 || s <= max_step) && s > best) {
            best = s;
            if (name)
                snprintf(name, len, "%s", de->d_name);
        }
    }
    closedir(d);
    if (left)
        *left = n;
    return best;
}

static void rm_rf(const char *path);

/* The oldest checkpoint of a step after `after`, -1 if none. */
static int64_t ckpt_find_after(const char *dir, int64_t after)
{
    DIR *d = opendir(dir);
    int64_t best = -1;
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        if (ckpt_step_of(de->d_name, &s) && s > after && (best < 0 || s < best))
            best = s;
    }
    closedir(d);
    return best;
}

/* Remove the checkpoints of steps after `after` (-1: all of them). */
static void ckpt_drop_after(const char *dir, int64_t after)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[4096];
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        if (ckpt_step_of(de->d_name, &s) && s > after) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            rm_rf(path);
        }
    }
    closedir(d);
}

static int cmp_i64_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            char sub[4096];
            for (struct dirent *de; (de = readdir(d));) {
                if (is_dot(de->d_name))
                    continue;
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* steps[0..n) sorted newest first with repeats removed (a checkpoint may be
 * several files, checkpoint-5.model and checkpoint-5.optim, which count as
 * one step and stay or go together); returns how many are left. */
static int steps_distinct(int64_t *steps, int n)
{
    qsort(steps, (size_t)n, sizeof steps[0], cmp_i64_desc);
    int nd = 0;
    for (int i = 0; i < n; i++)
        if (nd == 0 || steps[i] != steps[nd - 1])
            steps[nd++] = steps[i];
    return nd;
}

/* The removing pass over an open trial directory: the checkpoints of steps
 * s with (s <= upto and s < cut) or s > after go. Returns all, the entries
 * counted in the directory, less those removed. */
static int ckpt_remove(DIR *d, const char *dir, int64_t upto, int64_t cut, int64_t after, int all)
{
    rewinddir(d);
    char path[4096];
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        if (ckpt_step_of(de->d_name, &s) && ((s <= upto && s < cut) || s > after)) {
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            rm_rf(path);
            all -= lstat(path, &sb) != 0; /* what could not be removed is still there */
        }
    }
    return all;
}

/* Keep the newest `keep` checkpoints of a trial (keep < 0: remove all)
 * among those of steps up to max_step (-1: any); later ones are left alone:
 * the objective may be writing one, not yet reported, and pruning by it
 * would remove the newest complete one, which a PBT copy may be about to
 * take. Returns the newest step kept, -1 if none: one pass over the
 * directory; in *left (if not NULL) the number of entries left in it. */
static int64_t ckpt_prune(const char *dir, long keep, int64_t max_step, int *left)
{
    DIR *d = opendir(dir);
    if (left)
        *left = -1;
    if (!d)
        return -1;
    int64_t steps[4096];
    int n = 0, all = 0;
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        all += !is_dot(de->d_name);
        if (n < 4096 && ckpt_step_of(de->d_name, &s) && (max_step < 0 || s <= max_step))
            steps[n++] = s;
    }
    n = steps_distinct(steps, n); /* keep counts steps, not files */
    int64_t newest = n > 0 && keep != 0 && keep >= 0 ? steps[0] : -1;
    if (n <= keep) {
        closedir(d);
        if (left)
            *left = all;
        return newest;
    }
    int64_t cut = keep > 0 ? steps[keep - 1] : INT64_MAX;
    all = ckpt_remove(d, dir, max_step < 0 ? INT64_MAX : max_step, cut, INT64_MAX, all);
    closedir(d);
    if (left)
        *left = all;
    return newest;
}

/* A job's end: the checkpoints after step upto (written, or reported but
 * not taken: a resume would drop them) go, and with keep > 0 the keep
 * newest of those up to step sure (<= upto; -1: none) stay. Those after
 * sure stay too: rank 0 has not said it took them, and may still decide
 * at one (the trial resumes from it) or make it best.h5; it prunes them
 * once it has read the job's end. One pass over the directory, and one to
 * remove. Returns the newest left up to upto, where the trial resumes (-1:
 * none); *left as for ckpt_prune; *more (if not NULL) is 1 when more than
 * keep steps are left. */
static int64_t ckpt_settle(const char *dir, long keep, int64_t upto, int64_t sure, int *left, int *more)
{
    if (left)
        *left = -1;
    if (more)
        *more = 0;
    if (upto < 0)
        upto = 0;
    if (sure > upto)
        sure = upto;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int64_t steps[4096];
    int n = 0, all = 0, drop = 0;
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s;
        all += !is_dot(de->d_name);
        if (!ckpt_step_of(de->d_name, &s))
            continue;
        if (s > upto)
            drop = 1;
        else if (n < 4096)
            steps[n++] = s;
    }
    int nd = steps_distinct(steps, n);
    /* the keep newest up to sure stay: cut is the oldest of them */
    int nsure = 0, kept = nd;
    int64_t cut = INT64_MIN;
    for (int i = 0; i < nd && keep > 0; i++)
        if (steps[i] <= sure && ++nsure == keep)
            cut = steps[i];
    if (keep > 0 && nsure > keep)
        kept -= nsure - (int)keep;
    else
        cut = INT64_MIN; /* nothing to prune */
    if (more)
        *more = keep > 0 && kept > keep;
    if (drop || cut != INT64_MIN)
        all = ckpt_remove(d, dir, sure, cut, upto, all);
    closedir(d);
    if (left)
        *left = all;
    return nd > 0 ? steps[0] : -1;
}

/* A report on the wire: trial, step, n, ask, then n values and n names, each
 * name with its NUL. A report of a few metrics is a few dozen bytes, which
 * MPI sends inline without waiting for the coordinator to take it. */
static size_t report_pack(const tune_repmsg_t *m, char *buf)
{
    size_t k = 0;
    memcpy(buf + k, &m->trial, 8), k += 8;
    memcpy(buf + k, &m->step, 8), k += 8;
    memcpy(buf + k, &m->n, 4), k += 4;
    memcpy(buf + k, &m->ask, 4), k += 4;
    memcpy(buf + k, m->v, (size_t)m->n * sizeof(double)), k += (size_t)m->n * sizeof(double);
    for (int i = 0; i < m->n; i++) {
        size_t l = strlen(m->names[i]) + 1;
        memcpy(buf + k, m->names[i], l), k += l;
    }
    return k;
}

static void report_unpack(const char *buf, size_t len, tune_repmsg_t *m)
{
    size_t k = 24;
    memset(m, 0, sizeof *m);
    if (len < k)
        return;
    memcpy(&m->trial, buf, 8);
    memcpy(&m->step, buf + 8, 8);
    memcpy(&m->n, buf + 16, 4);
    memcpy(&m->ask, buf + 20, 4);
    if (m->n < 0 || m->n > TUNE_MAXM || len < k + (size_t)m->n * sizeof(double)) {
        m->n = 0;
        return;
    }
    memcpy(m->v, buf + k, (size_t)m->n * sizeof(double)), k += (size_t)m->n * sizeof(double);
    for (int i = 0; i < m->n; i++) {
        const char *e = k < len ? memchr(buf + k, '\0', len - k) : NULL;
        if (!e) {
            m->n = i;
            return;
        }
        snprintf(m->names[i], sizeof m->names[i], "%s", buf + k);
        k = (size_t)(e - buf) + 1;
    }
}

static sl_status_t copy_file(const char *src, const char *dst)
{
    char tmp[4200], buf[1 << 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sl_error(SL_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
    int out = sl_open_new(tmp, O_WRONLY | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return sl_error(SL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    ssize_t k;
    int ok = 1;
    while ((k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k) {
            ok = 0;
            break;
        }
    if (k < 0)
        ok = 0;
    if (fsync(out) != 0)
        ok = 0;
    close(in);
    close(out);
    if (!ok || rename(tmp, dst) != 0) {
        unlink(tmp);
        return sl_error(SL_ERR_IO, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
    }
    return sl_fsync_dir_of(dst);
}

/* A directory's entries made durable; errors ignored (the files are). */
static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* src, a file, a link or a directory tree, made as dst (not there yet):
 * files copied, or with hard set hard-linked (a trial's pruning cannot take
 * them away) and copied where links are not possible (another file
 * system); directories made anew; a link is taken as what it points to
 * (relative to the trial's directory, or to a file the trial removes, it
 * would point nowhere from the best's or another trial's directory), one
 * pointing nowhere or to a directory above it in the copy made anew.
 * SL_ERR_NOT_FOUND, without a word, when src is gone (its trial pruned it
 * meanwhile). */
typedef struct tree_up {
    dev_t dev;
    ino_t ino;
    const struct tree_up *up;
} tree_up_t;

static sl_status_t tree_walk(const char *src, const char *dst, int hard, const tree_up_t *up)
{
    struct stat sb;
    if (lstat(src, &sb) != 0)
        return errno == ENOENT ? SL_ERR_NOT_FOUND
                               : sl_error(SL_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
    int lnk = S_ISLNK(sb.st_mode), loop = 0;
    if (lnk && stat(src, &sb) == 0 && S_ISDIR(sb.st_mode))
        for (const tree_up_t *u = up; u && !loop; u = u->up)
            loop = u->dev == sb.st_dev && u->ino == sb.st_ino;
    /* a link pointing nowhere, or to a directory this copy is inside (it
     * would copy itself until the path got too long), is made anew */
    if (lnk && (loop || stat(src, &sb) != 0)) {
        char to[4096];
        ssize_t k = readlink(src, to, sizeof to - 1);
        if (k < 0)
            return errno == ENOENT ? SL_ERR_NOT_FOUND
                                   : sl_error(SL_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
        to[k] = '\0';
        return symlink(to, dst) == 0 ? SL_OK
                                     : sl_error(SL_ERR_IO, "cannot write '%s': %s", dst, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return hard && linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0 ? SL_OK
                                                                                    : copy_file(src, dst);
    DIR *d = opendir(src);
    if (!d)
        return errno == ENOENT ? SL_ERR_NOT_FOUND
                               : sl_error(SL_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
    if (mkdir(dst, 0755) != 0) {
        closedir(d);
        return sl_error(SL_ERR_IO, "cannot create '%s': %s", dst, strerror(errno));
    }
    sl_status_t st = SL_OK;
    char a[4096], b[4500];
    tree_up_t me = {sb.st_dev, sb.st_ino, up};
    for (struct dirent *de; st == SL_OK && (de = readdir(d));) {
        if (is_dot(de->d_name))
            continue;
        if ((size_t)snprintf(a, sizeof a, "%s/%s", src, de->d_name) >= sizeof a ||
            (size_t)snprintf(b, sizeof b, "%s/%s", dst, de->d_name) >= sizeof b)
            st = sl_error(SL_ERR_IO, "cannot copy '%s/%s': the path is too long", src, de->d_name);
        else
            st = tree_walk(a, b, hard, &me);
    }
    closedir(d);
    if (st == SL_OK)
        fsync_dir(dst);
    return st;
}

static sl_status_t tree_make(const char *src, const char *dst, int hard)
{
    /* the directories above src count as in the copy: a link to the
     * trial's directory (or to /) is not copied into itself either */
    enum { MAXUP = 128 };
    tree_up_t ups[MAXUP], *up = NULL;
    char *rp = realpath(src, NULL);
    int n = 0;
    for (char *q = rp; q && n < MAXUP; q = strchr(q + 1, '/')) {
        struct stat sb;
        char c = q[q == rp];
        q[q == rp] = '\0'; /* "/", then "/a", "/a/b", ... without src */
        if (stat(rp, &sb) == 0) {
            ups[n] = (tree_up_t){sb.st_dev, sb.st_ino, up};
            up = &ups[n++];
        }
        q[q == rp] = c;
    }
    free(rp);
    return tree_walk(src, dst, hard, up);
}

/* Copy src to dst whatever it is: a file, a directory (its contents made
 * under dst.tmp, then renamed) or a link. SL_ERR_NOT_FOUND, without a
 * word, when src is gone (its trial pruned it meanwhile). */
static sl_status_t copy_tree(const char *src, const char *dst)
{
    struct stat sb;
    if (lstat(src, &sb) != 0)
        return errno == ENOENT ? SL_ERR_NOT_FOUND
                               : sl_error(SL_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
    if (!S_ISDIR(sb.st_mode) && !S_ISLNK(sb.st_mode))
        return copy_file(src, dst);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    rm_rf(tmp);
    sl_status_t st = tree_make(src, tmp, 0);
    if (st == SL_OK && rename(tmp, dst) != 0)
        st = sl_error(SL_ERR_IO, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
    if (st != SL_OK)
        rm_rf(tmp);
    return st == SL_OK ? sl_fsync_dir_of(dst) : st;
}

/* Copy checkpoint `step` of directory from, every file of it (checkpoint-5.model
 * and checkpoint-5.optim, or a directory checkpoint-5/), into directory to;
 * with hard set, its files hard-linked where they can be (tree_make). */
static sl_status_t ckpt_copy(const char *from, int64_t step, const char *to, int hard)
{
    DIR *d = opendir(from);
    if (!d)
        return SL_ERR_NOT_FOUND;
    char src[2048], dst[2048];
    int n = 0;
    sl_status_t st = SL_OK;
    for (struct dirent *de; st == SL_OK && (de = readdir(d));) {
        int64_t s;
        if (!ckpt_step_of(de->d_name, &s) || s != step)
            continue;
        snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
        st = hard ? tree_make(src, dst, 1) : copy_tree(src, dst);
        n++;
    }
    closedir(d);
    return st == SL_OK && n == 0 ? SL_ERR_NOT_FOUND : st;
}

static void trial_dir(const tune_run_t *r, int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/trials/%06lld", r->o->out, (long long)id);
}

/* The checkpoint src as best.h5 (dst): hard-linked under a temporary name
 * and renamed over it, or copied where links are not possible; a link's
 * file, not the link (relative to the trial's directory, it pointed nowhere
 * from EXPDIR). */
static void keep_best(const char *src, const char *dst)
{
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    unlink(tmp);
    if (linkat(AT_FDCWD, src, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 && rename(tmp, dst) == 0)
        sl_fsync_dir_of(dst);
    else if (copy_file(src, dst) != SL_OK)
        SL_WARN("could not keep the best checkpoint %s as %s", src, dst);
    /* left when best.h5 was already that file (a resumed trial that
     * reports the step it resumed from again): rename does nothing then,
     * and best.h5.tmp stayed beside it */
    unlink(tmp);
}

/* The best checkpoint is EXPDIR/best.h5 when it is one file (mlp's and
 * ppo's, most programs'), else the directory EXPDIR/best, which holds the
 * checkpoint's entries of that step under their own names: a directory
 * checkpoint-5/ (as Ray Tune's checkpoints are), or checkpoint-5.model with
 * checkpoint-5.optim. One of the two is there at a time. */
static void best_paths(const tune_run_t *r, char *file, char *dir, size_t len)
{
    snprintf(file, len, "%s/best.h5", r->o->out);
    snprintf(dir, len, "%s/best", r->o->out);
}

/* The file src as best.h5, best/ gone. */
static void best_file_install(const tune_run_t *r, const char *src)
{
    char f[2048], d[2048];
    best_paths(r, f, d, sizeof f);
    keep_best(src, f);
    rm_rf(d);
}

/* The tree tmp (EXPDIR/.best.tmp, complete) as best/: the former one is
 * moved aside and removed, best.h5 goes. A kill between the renames leaves
 * no best/, which a resume puts back (best_settle). */
static sl_status_t best_dir_install(const tune_run_t *r, const char *tmp)
{
    char f[2048], d[2048], old[2100];
    best_paths(r, f, d, sizeof f);
    snprintf(old, sizeof old, "%s/.best.old", r->o->out);
    rm_rf(old);
    if ((rename(d, old) != 0 && errno != ENOENT) || rename(tmp, d) != 0) {
        sl_status_t st = sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, d, strerror(errno));
        rm_rf(tmp);
        return st;
    }
    unlink(f);
    sl_fsync_dir_of(d);
    rm_rf(old);
    return SL_OK;
}

/* src (best/ or a saved link of it) linked as a new best/. */
static sl_status_t best_dir_from(const tune_run_t *r, const char *src)
{
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s/.best.tmp", r->o->out);
    rm_rf(tmp);
    sl_status_t st = tree_make(src, tmp, 1);
    if (st != SL_OK) {
        rm_rf(tmp);
        return st;
    }
    return best_dir_install(r, tmp);
}

/* Trial directory dir's checkpoint of step as the best: best.h5 when it is
 * one file, best/ otherwise. SL_ERR_NOT_FOUND when the step has none: both
 * go then (the former best's checkpoint would be another trial's than
 * best.json names). */
static sl_status_t best_put(const tune_run_t *r, const char *dir, int64_t step)
{
    char f[2048], d[2048], src[4096], tmp[2100], one[512] = "";
    best_paths(r, f, d, sizeof f);
    DIR *td = opendir(dir);
    int n = 0;
    for (struct dirent *de; td && (de = readdir(td));) {
        int64_t s;
        if (ckpt_step_of(de->d_name, &s) && s == step && n++ == 0)
            snprintf(one, sizeof one, "%s", de->d_name);
    }
    if (td)
        closedir(td);
    struct stat sb;
    snprintf(src, sizeof src, "%s/%s", dir, one);
    if (n == 0 || (n == 1 && (stat(src, &sb) != 0 || !S_ISDIR(sb.st_mode)))) { /* a link: what it points to */
        if (n == 0) {
            unlink(f);
            rm_rf(d);
            return SL_ERR_NOT_FOUND;
        }
        best_file_install(r, src);
        return SL_OK;
    }
    snprintf(tmp, sizeof tmp, "%s/.best.tmp", r->o->out);
    rm_rf(tmp);
    sl_status_t st =
        mkdir(tmp, 0755) == 0 ? SL_OK : sl_error(SL_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    if (st == SL_OK)
        st = ckpt_copy(dir, step, tmp, 1);
    if (st == SL_OK) {
        fsync_dir(tmp);
        st = best_dir_install(r, tmp);
    } else {
        rm_rf(tmp);
    }
    if (st != SL_OK)
        SL_WARN("could not keep the best checkpoint (step %lld of %s) as %s", (long long)step, dir, d);
    return st;
}

/* Trial directories are recycled: a trial that leaves nothing in its own
 * has it moved to trials/.spare-RANK (this leader's), and the leader's next
 * trial gets it by a rename. A directory costs the file system an inode,
 * which a rename does not: mkdir took 30-300 us on ext4 here (slower with
 * two ranks in one directory, and for 30 s after many deletions), a
 * quarter of the rank's own time in a 1 ms trial; two renames take 25 us.
 * The spare has a name of its own, never a finished trial's, so a trial
 * that is paused and resumed elsewhere never has its directory taken. */
static int trial_dir_make(tune_run_t *r, const char *dir)
{
    if (r->spare) {
        r->spare = 0;
        if (rename(r->spare_dir, dir) == 0)
            return 0;
        if (errno == EEXIST || errno == ENOTEMPTY)
            r->spare = 1; /* dir is there with files in it (a resumed trial) */
    }
    return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void tune_trial_dir_reusable(tune_run_t *r)
{
    r->dir_reusable = 1;
}

int tune_first(tune_run_t *r, unsigned what)
{
    int first = !(r->once & what);
    r->once |= what;
    return first;
}

void tune_trial_failed_on(tune_run_t *r, int grank)
{
    r->fail_grank = grank;
}

/* After a trial: keep its directory as the spare if it holds nothing, the
 * objective left nothing running that could still write there, and it is
 * still the plain directory mkdir would make (not a link the command put
 * in its place, nor one whose mode it changed). */
static void trial_dir_done(tune_run_t *r, const char *dir, int left)
{
    struct stat sb;
    if (left != 0 || r->spare || !r->dir_reusable || lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
        (sb.st_mode & 07777) != r->dir_mode || sb.st_uid != geteuid())
        return;
    r->spare = rename(dir, r->spare_dir) == 0;
}

/* Before a leader's first trial and after its last: its spare goes (an
 * empty one left by a killed run too; one with files in it stays and is
 * not used). */
static void spare_remove(tune_run_t *r)
{
    rmdir(r->spare_dir);
    r->spare = 0;
}

/* ---- coordinator */

static void coord_note(tune_run_t *r)
{
    int64_t c[6];
    char note[256], val[64] = "-";
    sl_tune_exp_counts(r->e, c);
    int64_t b = sl_tune_exp_best(r->e);
    if (b >= 0)
        snprintf(val, sizeof val, "%s=%.6g (trial %lld)", r->o->metric, sl_tune_exp_trial(r->e, b)->best,
                 (long long)b);
    char paused[48] = ""; /* ASHA and HyperBand hold most trials at rungs */
    if (c[SL_TUNE_PAUSED] > 0)
        snprintf(paused, sizeof paused, "paused %lld, ", (long long)c[SL_TUNE_PAUSED]);
    /* a group's next job is handed out while its current one runs: a second
     * running trial of a group is queued there, not running */
    int64_t queued = 0;
    if (c[SL_TUNE_RUNNING] > 0) {
        memset(r->seen, 0, (size_t)r->ngroups);
        for (int64_t i = 0; i < r->e->n; i++) {
            int g = r->e->t[i].group;
            if (r->e->t[i].status == SL_TUNE_RUNNING && g >= 0 && g < r->ngroups)
                queued += r->seen[g]++ > 0;
        }
        if (queued > 0)
            snprintf(paused + strlen(paused), sizeof paused - strlen(paused), "queued %lld, ",
                     (long long)queued);
    }
    snprintf(note, sizeof note, "running %lld, %sdone %lld, pruned %lld, errored %lld, best %s",
             (long long)(c[SL_TUNE_RUNNING] - queued), paused, (long long)c[SL_TUNE_DONE],
             (long long)c[SL_TUNE_PRUNED], (long long)c[SL_TUNE_ERRORED], val);
    sl_progress_note(r->prog, note);
    int64_t settled = c[SL_TUNE_DONE] + c[SL_TUNE_PRUNED] + c[SL_TUNE_ERRORED];
    if (settled > r->settled) {
        sl_progress_add(r->prog, (double)(settled - r->settled));
        r->settled = settled;
    }
}

/* The trial's step in experiment.h5 as last written (-1: none yet). */
static int64_t saved_step(const tune_run_t *r, int64_t trial)
{
    return trial >= 0 && trial < r->saved_n ? r->saved_step[trial] : -1;
}

/* The steps experiment.h5 now holds: pruning may go up to them. */
static void saved_update(tune_run_t *r)
{
    if (r->e->n > r->saved_n) {
        int64_t *a = realloc(r->saved_step, (size_t)r->e->n * sizeof *a);
        if (!a)
            return; /* the newest trials count as unsaved: nothing of theirs is pruned */
        r->saved_step = a;
        r->saved_n = r->e->n;
    }
    for (int64_t i = 0; i < r->e->n; i++)
        r->saved_step[i] = r->e->t[i].step;
}

/* A job's end left checkpoints after the trial's saved step, which a kill
 * before the next save would need: pruned to K after that save. */
static void unpruned_mark(tune_run_t *r, int64_t trial)
{
    if (trial >= r->unpruned_n) {
        int64_t n = r->e->n > trial ? r->e->n : trial + 1;
        unsigned char *a = realloc(r->unpruned, (size_t)n);
        if (!a)
            return; /* left with more than K: the experiment goes on */
        memset(a + r->unpruned_n, 0, (size_t)(n - r->unpruned_n));
        r->unpruned = a;
        r->unpruned_n = n;
    }
    r->nunpruned += !r->unpruned[trial];
    r->unpruned[trial] = 1;
}

/* After a save: the trials marked by unpruned_mark keep K. One running
 * again is left to its job's end (it may be writing checkpoints after
 * its step, which a settle would take for unreported ones). */
static void unpruned_settle(tune_run_t *r)
{
    for (int64_t i = 0; i < r->unpruned_n && r->nunpruned > 0; i++) {
        if (!r->unpruned[i])
            continue;
        r->unpruned[i] = 0;
        r->nunpruned--;
        const sl_tune_trial_t *t = sl_tune_exp_trial(r->e, i);
        if (!t || t->status == SL_TUNE_RUNNING)
            continue;
        char dir[1024];
        trial_dir(r, i, dir, sizeof dir);
        ckpt_settle(dir, r->o->keep, t->step, t->step, NULL, NULL);
    }
}

/* At a resume: the checkpoints in trial directories of ids the state does
 * not hold (a kill -9 after the killed run gave them, before it wrote the
 * state) go, and a directory then empty too: the trials never were. */
static void unheld_settle(tune_run_t *r)
{
    char dir[1024], sub[1300];
    snprintf(dir, sizeof dir, "%s/trials", r->o->out);
    DIR *td = opendir(dir);
    for (struct dirent *te; td && (te = readdir(td));) {
        char *end;
        long long id = strtoll(te->d_name, &end, 10);
        if (is_dot(te->d_name) || *end || id < r->e->n)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, te->d_name);
        ckpt_drop_after(sub, -1);
        rmdir(sub); /* only if empty */
    }
    if (td)
        closedir(td);
}

/* EXPDIR/.best-saved-T-S.h5: best.h5 as the last write of experiment.h5
 * has it (trial T's checkpoint of step S), a hard link made after each
 * write that changed the best. A resume after a kill -9 drops a best.h5
 * made from a later report (best_settle) and takes the saved best's
 * checkpoint again, which the trial's pruning may have removed by then
 * (--keep-checkpoints 1 and a worse step after the best): best.h5 was
 * then missing for good, while best.json named the saved best. */
static void best_saved_name(const tune_run_t *r, int64_t trial, int64_t step, int dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/.best-saved-%lld-%lld%s", r->o->out, (long long)trial, (long long)step,
             dir ? "" : ".h5");
}

static void best_saved_keep(tune_run_t *r)
{
    int64_t b = sl_tune_exp_best(r->e), step = b >= 0 ? r->e->t[b].best_step : -1;
    if (b == r->bsaved_trial && step == r->bsaved_step)
        return;
    char f[2048], d[2048], dst[2100], tmp[2200], old[2100];
    best_paths(r, f, d, sizeof f);
    /* the best is the checkpoint of the best's step (coord_report): best.h5,
     * best/ (a tree of links to it), or neither where there is none */
    struct stat sb;
    int dir = lstat(f, &sb) != 0 && lstat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
    best_saved_name(r, b, step, dir, dst, sizeof dst);
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    rm_rf(tmp);
    int kept = b >= 0 && (dir ? tree_make(d, tmp, 1) == SL_OK : link(f, tmp) == 0) && rename(tmp, dst) == 0;
    rm_rf(tmp);
    if (r->bsaved_have) {
        best_saved_name(r, r->bsaved_trial, r->bsaved_step, r->bsaved_dir, old, sizeof old);
        if (strcmp(old, dst))
            rm_rf(old);
    }
    r->bsaved_trial = b; /* tried once per best: trials without checkpoints have none */
    r->bsaved_step = step;
    r->bsaved_have = kept;
    r->bsaved_dir = dir;
}

static void coord_maybe_save(tune_run_t *r, int force)
{
    /* after a failed write (a full file system) the last complete state
     * stays as it is: writing again would only repeat the message */
    if ((!r->dirty && !force) || r->save_failed)
        return;
    double now = sl_now();
    /* every decision, unless decisions come faster than 50 writes' time
     * (the writes then take at most 2% of rank 0's time: at 60,000 trials
     * a write took 0.15 s, and writing every 2 s as before took 7.5%); at
     * least every 30 s while something changed */
    if (!force && now - r->last_save < fmin(50 * r->save_cost, 30.0))
        return;
    double keep = r->e->elapsed;
    r->e->elapsed += now - r->t_start; /* this run's time so far, as saved */
    sl_status_t st = sl_tune_exp_save(r->e, r->o->out);
    r->e->elapsed = keep;
    double t = sl_now() - now;
    r->save_cost = t;
    r->save_total += t;
    r->nsaves++;
    r->last_save = sl_now();
    r->dirty = 0;
    if (st == SL_OK) {
        saved_update(r);
        unpruned_settle(r);
        best_saved_keep(r);
    }
    r->save_failed = st != SL_OK;
    if (st != SL_OK && r->fatal == SL_OK) {
        r->fatal = st;
        sl_stop_request();
    }
}

/* The time attr's value of trial's last report at or before step, the
 * checkpoint it resumes from: a resumed trial goes on counting from there,
 * as Ray restores time_total_s with the checkpoint (0: none). */
static double res_at(const sl_tune_exp_t *e, int64_t trial, int64_t step)
{
    double v = 0;
    for (int64_t i = 0; i < e->nrep; i++)
        if (e->rep_trial[i] == trial && e->rep_step[i] <= step && !isnan(sl_tune__rep_res(e, i)))
            v = sl_tune__rep_res(e, i);
    return v;
}

/* Make a job message for trial job (trial dir, PBT copy, resume path). */
static sl_status_t coord_prepare(tune_run_t *r, const sl_tune_job_t *job, tune_jobmsg_t *m)
{
    memset(m, 0, r->jobsize);
    m->kind = job->kind;
    if (job->kind != SL_TUNE_JOB_RUN)
        return SL_OK;
    sl_tune_trial_t *t = &r->e->t[job->trial];
    m->trial = job->trial;
    m->target = job->target;
    m->ckpt_step = job->ckpt_step;
    trial_dir(r, job->trial, m->trial_dir, sizeof m->trial_dir);
    if (job->from_trial >= 0) {
        if (mkdir(m->trial_dir, 0755) != 0 && errno != EEXIST)
            return sl_error(SL_ERR_IO, "cannot create '%s': %s", m->trial_dir, strerror(errno));
        /* PBT exploit: the donor's checkpoint replaces this trial's own. The
         * donor ran on since the decision and may have pruned the checkpoint
         * of from_step (--keep-checkpoints): then its newest of a reported
         * step is taken, or with none left (pruning keeps one up to a step
         * this rank has taken: a program that had not written one yet) the
         * oldest after that, whose report is on its way; the trial goes on
         * from that step. */
        char from[1024];
        trial_dir(r, job->from_trial, from, sizeof from);
        ckpt_prune(m->trial_dir, -1, -1, NULL);
        int64_t s = -1, donor_step = r->e->t[job->from_trial].step;
        for (int tries = 0; tries < 8; tries++) {
            s = ckpt_find(from, job->from_step, NULL, 0, NULL);
            if (s < 0)
                s = ckpt_find(from, donor_step, NULL, 0, NULL);
            if (s < 0)
                s = ckpt_find_after(from, donor_step);
            if (s < 0)
                break;
            sl_status_t cst = ckpt_copy(from, s, m->trial_dir, 0);
            if (cst == SL_OK)
                break;
            ckpt_prune(m->trial_dir, -1, -1, NULL);
            s = -1;
            if (cst != SL_ERR_NOT_FOUND) /* not pruned meanwhile: a real failure, said already */
                break;
        }
        if (s < 0 && !r->warned_copy++)
            SL_WARN(
                "PBT: trial %lld has no checkpoint of a reported step left in %s to copy: trial %lld starts "
                "over from its first step with the new parameters (this is said once)",
                (long long)job->from_trial, from, (long long)job->trial);
        /* its step is the checkpoint's, not the decision's: the reports
         * after it count (from the first step when nothing was copied) */
        t->step = s;
        t->ckpt_step = s;
        m->ckpt_step = s;
        t->from_trial = -1;
        t->from_step = -1;
        /* its own checkpoints are gone: experiment.h5 must say where it
         * goes on from now, or a kill -9 resumed it from its old step,
         * with no checkpoint left there, from its first step */
        r->dirty = 1;
        coord_maybe_save(r, 1);
    } else if (r->o->resume || t->nreports > 0 || t->failures > 0) {
        /* The experiment's state is what counts: checkpoints of steps it has
         * no report of were written but never reported, or reported after
         * the state this run resumed from was written (a kill -9; new trials
         * then reuse the ids, and directories, of the killed run's). The
         * trial runs those steps again; left there, they would outrank its
         * new checkpoints in pruning and at its end. */
        ckpt_drop_after(m->trial_dir, t->step);
    }
    /* the newest checkpoint of a reported step: after a kill, t->ckpt_step
     * is still the one the trial's last job started from */
    int64_t upto = t->step > m->ckpt_step ? t->step : m->ckpt_step;
    if (upto >= 0) {
        char name[512];
        int64_t s = ckpt_find(m->trial_dir, upto, name, sizeof name, NULL);
        if (s >= 0) {
            snprintf(m->resume, sizeof m->resume, "%s/%s", m->trial_dir, name);
            t->ckpt_step = m->ckpt_step = s;
        }
        if (s >= 0 && r->stamp_time)
            m->time_prior = res_at(r->e, job->trial, s);
        /* a program that keeps no checkpoints redoes its steps at every
         * promotion, PBT pause or resume: say so, once */
        if (s < 0 && t->step > 0 && !r->warned_nockpt++)
            SL_WARN("trial %lld goes on after step %lld, but %s holds no checkpoint of it: it starts over "
                    "from its first step (a program keeps checkpoint-<step> files there to go on from "
                    "{resume}; this is said once)",
                    (long long)job->trial, (long long)t->step, m->trial_dir);
    }
    m->saved_step = saved_step(r, job->trial);
    for (int i = 0; i < r->space->n; i++)
        m->params[i] = t->params[i];
    return SL_OK;
}

/* Send a job to group g's leader from one of its two slots. A leader has at
 * most two requests out and has received the older job before it asks
 * again, so the slot being reused is free: the wait returns at once. */
static void send_job(tune_run_t *r, int g, const tune_jobmsg_t *m)
{
    int k = 2 * g + r->slot[g];
    r->slot[g] ^= 1;
    MPI_Wait(&r->sendreq[k], MPI_STATUS_IGNORE);
    memcpy(r->sendbuf + (size_t)k * r->jobsize, m, r->jobsize);
    MPI_Isend(r->sendbuf + (size_t)k * r->jobsize, (int)r->jobsize, MPI_BYTE, r->leader[g], TAG_JOB, r->wc,
              &r->sendreq[k]);
}

/* Give group g its next job, if there is one now; remote groups get one for
 * each request outstanding, so a job waits queued at the leader. */
static void coord_assign(tune_run_t *r, int g)
{
    while (g == 0 || r->want[g] > 0) {
        sl_tune_job_t job;
        sl_status_t st = sl_tune_exp_next(r->e, g, &job);
        if (st != SL_OK) {
            r->fatal = st;
            sl_tune_exp_drain(r->e);
            sl_stop_request();
            return;
        }
        if (job.kind == SL_TUNE_JOB_WAIT) {
            r->gstate[g] = 2;
            return;
        }
        tune_jobmsg_t *m = g == 0 ? r->own_job : alloca(r->jobsize);
        if ((st = coord_prepare(r, &job, m)) != SL_OK) {
            /* cannot set the trial up: count it as a failure */
            sl_tune_exp_end(r->e, job.trial, SL_TUNE_END_FAILED, -1);
            r->gstate[g] = 2;
            r->changed = r->dirty = 1;
            return;
        }
        r->gstate[g] = job.kind == SL_TUNE_JOB_RUN ? 1 : 3;
        r->dirty = 1;
        if (g == 0) {
            r->own_ready = 1;
            return;
        }
        for (int k = job.kind == SL_TUNE_JOB_RUN ? 1 : r->want[g]; k > 0; k--)
            send_job(r, g, m);
        r->want[g] = job.kind == SL_TUNE_JOB_RUN ? r->want[g] - 1 : 0;
        if (job.kind != SL_TUNE_JOB_RUN)
            return;
    }
}

/* Why a trial failed, from the end of its log (the leader writes "sluice:
 * the command exited with status N" last, after the program's output):
 * "; <that>, after '<the line before>'", "; its last output: '<line>'"
 * (ended without the metric), or "" when there is no log. Rank 0 reads the
 * trial directories (checkpoints, best.h5) anyway; "failed (see
 * trial.log)" alone hid a shell's "not found" (status 127). A trial not
 * failed wrote no such line: one there is an earlier job's (the log is
 * appended to), and said nothing of this one. */
static void log_why(const char *path, int failed, char *buf, size_t len)
{
    char tail[4096];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END), at = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
    ssize_t n = at >= 0 ? pread(fd, tail, sizeof tail - 1, at) : -1;
    close(fd);
    if (n <= 0)
        return;
    tail[n] = '\0';
    /* a NUL in binary output ended the text there: the exit status after
     * it was not found, and bytes before it were shown */
    for (ssize_t i = 0; i < n; i++)
        if (tail[i] == '\0')
            tail[i] = '?';
    /* the last two lines that are not empty */
    char *line[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        char *e;
        while ((e = strrchr(tail, '\n')) && e[1] == '\0')
            *e = '\0';
        e = strrchr(tail, '\n');
        if (!e && (k == 1 && at > 0))
            break; /* the line before was cut */
        line[k] = e ? e + 1 : tail;
        if (!e)
            break;
        *e = '\0';
    }
    if (!line[0])
        return;
    for (int k = 0; k < 2; k++) {
        if (!line[k])
            continue;
        /* a line redrawn with carriage returns (a progress bar) is what
         * it was last; other control characters (a colour's escape) are
         * not sent to the terminal */
        size_t l = strlen(line[k]);
        while (l > 0 && line[k][l - 1] == '\r')
            line[k][--l] = '\0';
        char *cr = strrchr(line[k], '\r');
        if (cr)
            line[k] = cr + 1;
        for (char *c = line[k]; *c; c++)
            if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f)
                *c = '?';
    }
    if (!failed && !strncmp(line[0], "sluice: ", 8))
        return;
    if (!strncmp(line[0], "sluice: ", 8) && line[1] && line[1][0])
        snprintf(buf, len, "; %s, after '%.200s'", line[0] + 8, line[1]);
    else if (!strncmp(line[0], "sluice: ", 8))
        snprintf(buf, len, "; %s", line[0] + 8);
    else
        snprintf(buf, len, "; its last output: '%.200s'", line[0]);
}

/* A job's end: ck is the newest checkpoint its leader left, more is 1 when
 * it left more than --keep-checkpoints (reported after the last step it
 * knew this rank had taken). */
int tune_failed_outcome(tune_run_t *r, sl_status_t st, int failed)
{
    int ns = st == SL_ERR_NOSPACE;
    MPI_Allreduce(MPI_IN_PLACE, &ns, 1, MPI_INT, MPI_MAX, tune_group_comm(r));
    return ns ? TUNE_END_NOSPACE : failed;
}

static void coord_end(tune_run_t *r, int64_t trial, int outcome, int64_t ck, int who, int more)
{
    char dir[1024];
    const sl_tune_trial_t *t = sl_tune_exp_trial(r->e, trial);
    if (!t)
        return;
    trial_dir(r, trial, dir, sizeof dir);
    if (outcome == TUNE_END_NOSPACE) {
        /* every trial would fail alike and end errored for good: the trial
         * goes on from its last checkpoint at the --resume instead */
        if (r->fatal == SL_OK) {
            sl_error(SL_ERR_NOSPACE,
                     "trial %lld: no space left for its files in '%s' (the error above): the experiment "
                     "stops; run it again with --resume once space is freed",
                     (long long)trial, dir);
            r->fatal = SL_ERR_NOSPACE;
        }
        outcome = SL_TUNE_END_INTERRUPTED;
    }
    /* ck after the trial's step: written, or reported after a decision, but
     * not taken. The job's reports came before its end and are read: the
     * trial keeps K up to its step, once experiment.h5 holds that step
     * (until then those after its saved step stay: a kill -9 resumes from
     * the saved one). */
    if (ck > t->step || more) {
        int64_t sv = saved_step(r, trial);
        int left_more = 0;
        ck = ckpt_settle(dir, r->o->keep, t->step, sv < t->step ? sv : t->step, NULL, &left_more);
        if (left_more)
            unpruned_mark(r, trial);
    }
    int was_failures = t->failures;
    sl_tune_exp_end(r->e, trial, outcome, ck);
    if (t->failures > was_failures && outcome == SL_TUNE_END_FAILED && who > 0) {
        /* a copy other than the leader's: its output went to its own log */
        char path[1100], why[600];
        snprintf(path, sizeof path, "%s/trial.rank%d.log", dir, who);
        log_why(path, 1, why, sizeof why);
        /* mlp and ppo trials write no log: their rank printed the error */
        if (access(path, F_OK) == 0)
            SL_WARN("trial %lld failed on rank %d of its group%s (see %s)", (long long)trial, who, why, path);
        else
            SL_WARN("trial %lld failed on rank %d of its group (its error is above)", (long long)trial, who);
    } else if (t->failures > was_failures && outcome == SL_TUNE_END_FAILED) {
        char path[1100], why[600];
        snprintf(path, sizeof path, "%s/trial.log", dir);
        log_why(path, 1, why, sizeof why);
        if (access(path, F_OK) == 0)
            SL_WARN("trial %lld failed%s (see %s)", (long long)trial, why, path);
        else
            SL_WARN("trial %lld failed (its error is above)", (long long)trial);
    } else if (t->failures > was_failures) {
        char seen[TUNE_MAXM * 66] = "";
        int known = 0; /* the metric was reported (by this trial or another): here only as NaN, or not */
        for (int m = 0; m < r->e->nmetrics; m++) {
            strcat(strcat(seen, m ? ", " : ""), r->e->mname[m]);
            known |= !strcmp(r->e->mname[m], r->o->metric);
        }
        /* what the program said last: a pipeline's last command (tee)
         * exits 0 after the one before it failed ('train.py | tee log') */
        char path[1100], why[600];
        snprintf(path, sizeof path, "%s/trial.log", dir);
        log_why(path, 0, why, sizeof why);
        if (known)
            SL_WARN("trial %lld ended without a value of the metric '%s' (%lld report%s, none with a number "
                    "for it: absent or NaN)%s",
                    (long long)trial, r->o->metric, (long long)t->nreports, t->nreports == 1 ? "" : "s", why);
        else
            SL_WARN("trial %lld ended without reporting the metric '%s' (%lld report%s; metrics seen: %s)%s",
                    (long long)trial, r->o->metric, (long long)t->nreports, t->nreports == 1 ? "" : "s",
                    seen[0] ? seen : "none", why);
    }
    if (outcome == SL_TUNE_END_INTERRUPTED && !sl_stop_requested())
        sl_stop_request();
    r->changed = r->dirty = 1;
}

static void coord_report(tune_run_t *r, const tune_repmsg_t *m, int *decision_p)
{
    const char *names[TUNE_MAXM];
    for (int i = 0; i < m->n && i < TUNE_MAXM; i++)
        names[i] = m->names[i];
    /* a metric named like a parameter or trial/step/time is not taken (two
     * columns of one name in results.csv): said once, with the way out */
    if (!r->warned_clash) {
        char clash[TUNE_MAXM * 100] = "";
        for (int i = 0; i < m->n && i < TUNE_MAXM; i++) {
            const char *why = sl_tune__name_clash(r->e, m->names[i]);
            if (why)
                snprintf(clash + strlen(clash), sizeof clash - strlen(clash), "%s'%s' (%s)",
                         clash[0] ? ", " : "", m->names[i], why);
        }
        if (clash[0]) {
            r->warned_clash = 1;
            SL_WARN("trial %lld reports %s: results.csv has that column already, so such a metric is not "
                    "taken; rename it in the report",
                    (long long)m->trial, clash);
        }
    }
    for (int i = 0; i < m->n && i < TUNE_MAXM && !r->warned_inf; i++)
        if (!strcmp(m->names[i], r->e->conf.metric) && sl_tune__inf_best(r->e, m->v[i])) {
            r->warned_inf = 1;
            SL_WARN("trial %lld reports %s=%s at step %lld: an infinite %s is not taken as a result (a "
                    "diverged objective would stay the best); the report stays in results.csv",
                    (long long)m->trial, m->names[i], m->v[i] > 0 ? "inf" : "-inf", (long long)m->step,
                    r->e->conf.maximize ? "maximum" : "minimum");
        }
    int before = r->e->decision[m->trial], d = SL_TUNE_CONTINUE;
    int64_t nrep = r->e->nrep;
    sl_tune_exp_report(r->e, m->trial, m->step, m->n < TUNE_MAXM ? m->n : TUNE_MAXM, names, m->v, &d);
    if (r->e->nrep > nrep)
        r->e->rep_time[nrep] = r->e->elapsed + sl_now() - r->t_start;
    /* the experiment's metrics fill 16 columns: a name past them (another
     * trial's) was dropped in silence */
    if (r->e->nrep > nrep && !r->warned_many) {
        char full[TUNE_MAXM * 70] = "";
        for (int i = 0; i < m->n && i < TUNE_MAXM; i++) {
            int c = -1;
            for (int j = 0; j < r->e->nmetrics && c < 0; j++)
                if (!strcmp(r->e->mname[j], m->names[i]))
                    c = j;
            if (c < 0 && !sl_tune__name_clash(r->e, m->names[i]))
                snprintf(full + strlen(full), sizeof full - strlen(full), "%s'%s'", full[0] ? ", " : "",
                         m->names[i]);
        }
        if (full[0]) {
            r->warned_many = 1;
            SL_WARN(
                "trial %lld reports more metrics than the %d results.csv keeps: %s not taken (--metric and "
                "--time-attr are kept)",
                (long long)m->trial, TUNE_MAXM, full);
        }
    }
    *decision_p = d;
    r->changed = r->dirty = 1;
    const sl_tune_trial_t *t = sl_tune_exp_trial(r->e, m->trial);
    /* a time attr the objective does not report leaves the trial without a
     * resource: --max-t, the rungs and the grace period never apply to it */
    const char *attr = r->e->conf.time_attr;
    if (!r->warned_attr && t && t->nreports == 1 && r->e->nrep > nrep && !sl_tune__by_step(&r->e->conf)) {
        int has = 0;
        char seen[TUNE_MAXM * 66] = "";
        for (int i = 0; i < m->n && i < TUNE_MAXM; i++) {
            has |= !strcmp(m->names[i], attr);
            strcat(strcat(seen, i ? ", " : ""), m->names[i]);
        }
        if (!has) {
            r->warned_attr = 1;
            SL_WARN("--time-attr %s: trial %lld reported step %lld without '%s' (metrics: %s): --max-t, "
                    "--min-t and --grace-period do not apply to a trial until it reports it",
                    attr, (long long)m->trial, (long long)m->step, attr, seen[0] ? seen : "none");
        }
    }
    /* the best checkpoint so far becomes EXPDIR/best.h5: a hard link (the
     * trial's pruning cannot take it away), or a copy across file systems */
    /* only a trial at least as good as the best reported so far can be the
     * best: the scan over every trial is for those */
    int contender = !isnan(t->best) && (isnan(r->gbest) || !sl_tune__better(r->e, r->gbest, t->best));
    if (contender)
        r->gbest = t->best;
    if (contender && t->best_step == m->step && sl_tune_exp_best(r->e) == m->trial &&
        (r->best_reported != m->trial || r->best_seen != t->best)) {
        /* none at the new best's step (a program that keeps one every few
         * steps) removes the former best's, which would be another trial's
         * than best.json names */
        char dir[1024];
        trial_dir(r, m->trial, dir, sizeof dir);
        best_put(r, dir, m->step);
        r->best_reported = m->trial;
        r->best_seen = t->best;
    }
    /* To another group's leader: a decision, with the step it was made at
     * (the trial's last taken): the leader has sent the reports its program
     * made meanwhile, which do not count, and goes back to that step; or
     * the answer to a report that asked. Both carry the step up to which
     * the leader may prune: taken, and held by experiment.h5 (a kill -9
     * resumes from the saved step, and drops the checkpoints after it).
     * After a decision nothing is taken or answered. */
    if (t->group > 0 && before == SL_TUNE_CONTINUE && (d != SL_TUNE_CONTINUE || m->ask)) {
        int64_t sv = saved_step(r, m->trial);
        int64_t dm[4] = {m->trial, d, t->step, sv < t->step ? sv : t->step};
        MPI_Send(dm, 4, MPI_INT64_T, r->leader[t->group], TAG_DECIDE, r->wc);
    }
}

/* After a stop request: nothing more starts, and the running trials are
 * interrupted (they resume at the --resume). */
static void coord_drain(tune_run_t *r)
{
    if (!sl_stop_requested() || r->e->draining)
        return;
    sl_tune_exp_drain(r->e);
    for (int64_t i = 0; i < r->e->n; i++) {
        const sl_tune_trial_t *t = &r->e->t[i];
        if (t->status != SL_TUNE_RUNNING)
            continue;
        if (t->group == 0) {
            r->cur_decision = TUNE_INTERRUPT;
        } else if (t->group > 0) {
            int64_t dm[4] = {i, TUNE_INTERRUPT, t->step, -1};
            MPI_Send(dm, 4, MPI_INT64_T, r->leader[t->group], TAG_DECIDE, r->wc);
        }
    }
    r->changed = 1;
}

static void coord_service(tune_run_t *r)
{
    double t0 = cpu_now();
    for (;;) {
        int flag = 0;
        MPI_Status mst;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, r->wc, &flag, &mst);
        if (!flag)
            break;
        int src = mst.MPI_SOURCE, g = -1;
        for (int q = 1; q < r->ngroups; q++)
            if (r->leader[q] == src)
                g = q;
        if (mst.MPI_TAG == TAG_REQ) {
            int64_t m[5];
            MPI_Recv(m, 5, MPI_INT64_T, src, TAG_REQ, r->wc, MPI_STATUS_IGNORE);
            if (m[0] >= 0)
                coord_end(r, m[0], (int)m[1], m[2], (int)m[3], (int)m[4]);
            /* a job's end that stops the experiment (no space left): the
             * group's next job is not given first (the same trial again) */
            coord_drain(r);
            r->want[g]++;
            if (r->gstate[g] != 3) {
                coord_assign(r, g);
            } else {
                tune_jobmsg_t *dm = alloca(r->jobsize);
                memset(dm, 0, r->jobsize);
                dm->kind = SL_TUNE_JOB_DONE;
                send_job(r, g, dm);
                r->want[g] = 0;
            }
        } else if (mst.MPI_TAG == TAG_REPORT) {
            tune_repmsg_t m;
            char buf[sizeof m];
            int d, len = 0;
            MPI_Recv(buf, (int)sizeof buf, MPI_BYTE, src, TAG_REPORT, r->wc, &mst);
            MPI_Get_count(&mst, MPI_BYTE, &len);
            report_unpack(buf, (size_t)len, &m);
            coord_report(r, &m, &d);
        } else {
            char junk[8192];
            MPI_Recv(junk, sizeof junk, MPI_BYTE, src, mst.MPI_TAG, r->wc, MPI_STATUS_IGNORE);
        }
    }
    coord_drain(r);
    if (r->changed) {
        r->changed = 0;
        for (int g = 1; g < r->ngroups; g++)
            if (r->gstate[g] != 3 && r->want[g] > 0)
                coord_assign(r, g);
        /* counting scans every trial: 50 notes a second are plenty */
        if (sl_now() >= r->note_at) {
            coord_note(r);
            r->note_at = sl_now() + 0.02;
        }
    }
    coord_maybe_save(r, 0);
    sl_progress_tick(r->prog);
    r->coord_time += cpu_now() - t0;
}

void tune_service(tune_run_t *r)
{
    if (r->rank == 0) {
        coord_service(r);
        return;
    }
    if (r->grank != 0)
        return;
    for (;;) {
        int flag = 0;
        MPI_Iprobe(0, TAG_DECIDE, r->wc, &flag, MPI_STATUS_IGNORE);
        if (!flag)
            break;
        int64_t m[4];
        MPI_Recv(m, 4, MPI_INT64_T, 0, TAG_DECIDE, r->wc, MPI_STATUS_IGNORE);
        if (m[0] != r->cur_trial) {
            if (m[1] == TUNE_INTERRUPT)
                r->interrupt_all = 1; /* for the queued trial: do not start it */
            continue;
        }
        if (m[1] == TUNE_INTERRUPT) {
            if (r->cur_decision == SL_TUNE_CONTINUE)
                r->cur_decision = TUNE_INTERRUPT;
            else
                r->interrupt_all = 1;
            continue;
        }
        /* an answer or a decision: rank 0 has taken the job's reports up to
         * step m[2], and saved them up to m[3]; a decision takes none after
         * m[2] (this leader may have taken some already: it goes back to the
         * decided step) */
        if (m[1] != SL_TUNE_CONTINUE) {
            r->cur_cap = m[2];
            if (r->job_step > m[2])
                r->job_step = m[2];
            if (r->cur_decision == SL_TUNE_CONTINUE)
                r->cur_decision = (int)m[1];
        }
        int64_t sure = m[3] < r->job_step ? m[3] : r->job_step;
        if (sure > r->job_sure) {
            r->job_sure = sure;
            /* a decision ends the job, whose end prunes */
            if (m[1] == SL_TUNE_CONTINUE)
                ckpt_prune(r->cur_dir, r->o->keep, r->job_sure, NULL);
        }
    }
}

sl_status_t tune_ckpt_restore(tune_run_t *r, const tune_jobmsg_t *job, const char *ckpt)
{
    sl_status_t st = SL_OK;
    if (tune_group_rank(r) == 0) {
        if (job->resume[0]) {
            char tmp[1300];
            snprintf(tmp, sizeof tmp, "%s.link", ckpt);
            unlink(tmp);
            if (link(job->resume, tmp) != 0 || rename(tmp, ckpt) != 0)
                st = sl_error(SL_ERR_IO, "trial %lld: cannot restore %s: %s", (long long)job->trial,
                              job->resume, strerror(errno));
            unlink(tmp); /* left when ckpt was already that file */
        } else {
            unlink(ckpt);
        }
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, tune_group_comm(r));
    return st;
}

void tune_ckpt_keep(const tune_jobmsg_t *job, const char *ckpt, int64_t step)
{
    char dst[1300];
    snprintf(dst, sizeof dst, "%s/checkpoint-%lld.h5", job->trial_dir, (long long)step);
    unlink(dst);
    if (link(ckpt, dst) != 0)
        SL_WARN("trial %lld: cannot keep %s as %s: %s", (long long)job->trial, ckpt, dst, strerror(errno));
}

int tune_is_coordinator(const tune_run_t *r)
{
    return r->rank == 0;
}

int tune_decision(tune_run_t *r)
{
    return r->cur_decision;
}

int tune_report(tune_run_t *r, int64_t trial, int64_t step, int n, const char *const *names,
                const double *vals)
{
    tune_repmsg_t m;
    memset(&m, 0, sizeof m);
    m.trial = trial;
    m.step = step;
    for (int i = 0; i < n && m.n < TUNE_MAXM; i++) {
        if (strlen(names[i]) >= sizeof m.names[0]) {
            /* cut to 63 characters, two such names were one column */
            if (!r->warned_long++)
                SL_WARN(
                    "trial %lld reports a metric of a name longer than %d characters, which is not taken: "
                    "'%.80s...'",
                    (long long)trial, (int)sizeof m.names[0] - 1, names[i]);
            continue;
        }
        snprintf(m.names[m.n], sizeof m.names[0], "%s", names[i]);
        m.v[m.n++] = vals[i];
    }
    int has_time = !r->stamp_time;
    for (int i = 0; i < m.n && !has_time; i++)
        has_time = !strcmp(m.names[i], TUNE_TIME_TOTAL);
    if (!has_time) {
        /* the scheduler needs it: it takes the last place of a full report
         * that is not the --metric's (which it took before) */
        int k = m.n;
        if (k == TUNE_MAXM) {
            k = TUNE_MAXM - 1 - !strcmp(m.names[TUNE_MAXM - 1], r->o->metric);
            if (!r->warned_full++)
                SL_WARN("trial %lld reports %d metrics: '%s' gives its place to %s", (long long)trial,
                        TUNE_MAXM, m.names[k], TUNE_TIME_TOTAL);
        } else {
            m.n++;
        }
        snprintf(m.names[k], sizeof m.names[0], "%s", TUNE_TIME_TOTAL);
        m.v[k] = r->job_prior + sl_now() - r->job_t0;
    }
    /* a report after a decision (the program goes on until its SIGTERM
     * lands) is not taken: neither are its step and checkpoint, which
     * would outrank the taken ones in pruning; a stop request is not a
     * decision, reports go on counting (a decision that comes after one
     * does not replace it: cur_cap, the decided step, stops them) */
    if (r->rank != 0)
        tune_service(r); /* the decisions that have come */
    int taken =
        (r->cur_decision == SL_TUNE_CONTINUE || r->cur_decision == TUNE_INTERRUPT) && step <= r->cur_cap;
    /* nor one after a report at or past the job's target (a rung, --max-t):
     * that report is paused or stopped there, and a program that reports
     * faster than the decision comes back from rank 0 has its later reports
     * read first (taken, they outranked the decided step's checkpoint in
     * pruning: a promoted trial went on from an older one) */
    if (taken && r->cur_target > 0 && r->job_step >= r->cur_target && step > r->job_step)
        taken = 0;
    if (taken && step > r->job_step)
        r->job_step = step;
    if (taken && (++r->prune_reports >= 8 || sl_now() >= r->prune_at)) {
        /* The objective wrote the step's checkpoint before reporting it;
         * old ones go at most every 0.25 s or 8 reports (the job's end
         * prunes again), so that a trial of short steps is not a directory
         * scan each. Rank 0 prunes up to this step (the objective may be
         * writing the next one). Elsewhere the report asks rank 0 which
         * step it has taken, and the leader prunes up to that one when the
         * answer comes (tune_service): rank 0 reads this report after the
         * leader has sent later ones, and may still decide at one of those
         * (the trial resumes from its checkpoint) or make its checkpoint
         * best.h5. */
        if (r->rank == 0) {
            /* up to the step experiment.h5 holds (see coord_end) */
            int64_t sv = saved_step(r, trial);
            if (sv > step)
                sv = step;
            if (sv >= 0)
                ckpt_prune(r->cur_dir, r->o->keep, sv, NULL);
        } else {
            m.ask = 1;
        }
        r->prune_reports = 0;
        r->prune_at = sl_now() + 0.25;
    }
    if (r->rank == 0) {
        double t0 = cpu_now();
        int d;
        coord_report(r, &m, &d);
        if (d != SL_TUNE_CONTINUE && r->cur_decision == SL_TUNE_CONTINUE)
            r->cur_decision = d;
        r->coord_time += cpu_now() - t0;
    } else {
        char buf[sizeof m];
        MPI_Send(buf, (int)report_pack(&m, buf), MPI_BYTE, 0, TAG_REPORT, r->wc);
    }
    return r->cur_decision;
}

/* ---- the loops */

static void wait_req(tune_run_t *r, MPI_Request *rq)
{
    int done = 0;
    while (!done) {
        MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (!done) {
            if (r->rank == 0)
                tune_service(r);
            tune_nap(r);
        }
    }
}

static void member_loop(tune_run_t *r, double *busy)
{
    tune_jobmsg_t *m = alloca(r->jobsize);
    for (;;) {
        int flag = 0;
        MPI_Status mst;
        MPI_Iprobe(0, MPI_ANY_TAG, r->gc, &flag, &mst);
        if (!flag) {
            tune_nap(r);
            continue;
        }
        if (mst.MPI_TAG != TAG_GJOB) {
            int64_t junk[2];
            MPI_Recv(junk, 2, MPI_INT64_T, 0, mst.MPI_TAG, r->gc, MPI_STATUS_IGNORE);
            continue;
        }
        MPI_Recv(m, (int)r->jobsize, MPI_BYTE, 0, TAG_GJOB, r->gc, MPI_STATUS_IGNORE);
        if (m->kind == -1)
            continue;
        if (m->kind != SL_TUNE_JOB_RUN)
            return;
        int outcome;
        double t0 = sl_now();
        r->cur_trial = m->trial;
        r->obj->run(r, m, &outcome);
        *busy += sl_now() - t0;
    }
}

static void forward(tune_run_t *r, const tune_jobmsg_t *m)
{
    for (int q = 1; q < r->gsize; q++)
        MPI_Send(m, (int)r->jobsize, MPI_BYTE, q, TAG_GJOB, r->gc);
}

/* A job's end in its trial's directory (ckpt_settle): the checkpoints after
 * the job's step go, K stay of those up to the step sure to be saved (rank 0
 * knows which it saved; a leader, what rank 0 last said). */
static int64_t job_settle(tune_run_t *r, const tune_jobmsg_t *m, int *left, int *more)
{
    int64_t sure = r->job_sure;
    if (r->rank == 0)
        sure = saved_step(r, m->trial) < r->job_step ? saved_step(r, m->trial) : r->job_step;
    return ckpt_settle(m->trial_dir, r->o->keep, r->job_step, sure, left, more);
}

/* Leader: set the trial's directory up, run it with the group, and find
 * the checkpoint it can resume from (*more_p: as coord_end's more). */
static int run_job(tune_run_t *r, const tune_jobmsg_t *m, double *busy, int64_t *ck_p, int64_t *who_p,
                   int64_t *more_p)
{
    int outcome = SL_TUNE_END_FAILED;
    double t0 = sl_now();
    /* A decision the coordinator sent for this group's last job may still
     * be unread (that job ended at its target first); it went out before
     * this job did, so it is here now: drop it, or a promoted trial would
     * take its last rung's pause for a decision on this job. */
    if (r->rank != 0)
        tune_service(r);
    r->cur_trial = m->trial;
    r->cur_decision = SL_TUNE_CONTINUE;
    r->job_step = m->ckpt_step;
    /* the checkpoint it resumes from is sure once experiment.h5 holds its
     * step (a kill -9 resumes from the saved step) */
    r->job_sure = m->saved_step < m->ckpt_step ? m->saved_step : m->ckpt_step;
    r->cur_cap = INT64_MAX;
    snprintf(r->cur_dir, sizeof r->cur_dir, "%s", m->trial_dir);
    *ck_p = -1;
    *who_p = 0;
    *more_p = 0;
    r->fail_grank = 0;
    int skip = 0;
    if (sl_stop_requested() || r->interrupt_all)
        skip = SL_TUNE_END_INTERRUPTED; /* a queued trial after a stop: keep it for the resume */
    else if (trial_dir_make(r, m->trial_dir) != 0) {
        int e = errno;
        sl_error(sl_errno_status(e), "trial %lld: cannot create '%s': %s", (long long)m->trial, m->trial_dir,
                 strerror(e));
        /* no space (or no inode) for it: not the trial's fault */
        skip = sl_errno_status(e) == SL_ERR_NOSPACE ? TUNE_END_NOSPACE : SL_TUNE_END_FAILED;
    }
    if (skip) {
        tune_jobmsg_t *sk = alloca(r->jobsize);
        memcpy(sk, m, r->jobsize);
        sk->kind = -1; /* members: nothing to run */
        forward(r, sk);
        r->cur_trial = -1;
        /* the directory as the trial's last job left it: that job's pruning
         * to K may still wait for a save, which found the trial queued here
         * (running) and left it to this job's end; said with *more_p, as at
         * the end of a job that ran. It left more than K after a stop. */
        int more;
        *ck_p = job_settle(r, m, NULL, &more);
        *more_p = more;
        return skip;
    }
    forward(r, m);
    r->job_t0 = sl_now();
    r->job_prior = m->time_prior;
    r->prune_at = sl_now() + 0.25;
    r->prune_reports = 0;
    r->dir_reusable = 0;
    r->cur_target = m->target;
    r->obj->run(r, m, &outcome);
    *busy += sl_now() - t0;
    r->cur_trial = -1;
    /* Checkpoints of steps after the last reported one were never reported
     * (the program may have been stopped halfway through one): the state
     * has no report of them and a resume would drop them, so they go now;
     * counted, they would push the reported ones out of --keep-checkpoints.
     * The newest left is where the trial can resume. Those after the last
     * step rank 0 has said it took and saved stay for it to prune (*more_p);
     * rank 0 has read every report of its own trials, and knows which it
     * saved. */
    int left, more;
    *ck_p = job_settle(r, m, &left, &more);
    *more_p = more;
    trial_dir_done(r, m->trial_dir, left);
    *who_p = r->fail_grank;
    return outcome;
}

static void leader_loop(tune_run_t *r, double *busy)
{
    tune_jobmsg_t *m = alloca(r->jobsize);
    int64_t req[5] = {-1, 0, 0, 0, 0};
    /* two requests: while a trial runs, the next one waits here queued */
    MPI_Send(req, 5, MPI_INT64_T, 0, TAG_REQ, r->wc);
    MPI_Send(req, 5, MPI_INT64_T, 0, TAG_REQ, r->wc);
    int outstanding = 2;
    for (;;) {
        MPI_Request rq;
        MPI_Irecv(m, (int)r->jobsize, MPI_BYTE, 0, TAG_JOB, r->wc, &rq);
        int done = 0;
        while (!done) {
            MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
            if (!done) {
                tune_service(r); /* drops stale decisions */
                tune_nap(r);
            }
        }
        outstanding--;
        if (m->kind != SL_TUNE_JOB_RUN) {
            /* the coordinator answers every outstanding request with "done" */
            for (; outstanding > 0; outstanding--) {
                MPI_Irecv(m, (int)r->jobsize, MPI_BYTE, 0, TAG_JOB, r->wc, &rq);
                wait_req(r, &rq);
            }
            forward(r, m);
            return;
        }
        req[0] = m->trial;
        req[1] = run_job(r, m, busy, &req[2], &req[3], &req[4]);
        MPI_Send(req, 5, MPI_INT64_T, 0, TAG_REQ, r->wc);
        outstanding++;
    }
}

static void coord_loop(tune_run_t *r, double *busy)
{
    int own_done = 0;
    for (;;) {
        tune_service(r);
        if (!own_done && (r->gstate[0] == 0 || r->gstate[0] == 2)) {
            r->own_ready = 0;
            coord_assign(r, 0);
            if (r->own_ready && r->own_job->kind == SL_TUNE_JOB_RUN) {
                int64_t ck, who, more;
                int outcome = run_job(r, r->own_job, busy, &ck, &who, &more);
                double t0 = cpu_now();
                coord_end(r, r->own_job->trial, outcome, ck, (int)who, (int)more);
                r->gstate[0] = 0;
                r->coord_time += cpu_now() - t0;
                continue;
            }
            if (r->gstate[0] == 3) {
                forward(r, r->own_job);
                own_done = 1;
            }
        }
        int all = own_done;
        for (int g = 1; g < r->ngroups && all; g++)
            all = r->gstate[g] == 3;
        if (all)
            break;
        tune_nap(r);
    }
}

/* The first regular file under directory dir (depth first), as a path
 * relative to dir in rel, and its stat: what identifies a best/ tree. */
static int tree_ident(const char *dir, const char *pre, char *rel, size_t len, struct stat *st)
{
    DIR *d = opendir(dir);
    int found = 0;
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        char p[4096], q[4096];
        if (is_dot(de->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        snprintf(q, sizeof q, "%s%s%s", pre, pre[0] ? "/" : "", de->d_name);
        if (lstat(p, st) != 0)
            continue;
        if (S_ISREG(st->st_mode)) {
            snprintf(rel, len, "%s", q);
            found = 1;
        } else if (S_ISDIR(st->st_mode)) {
            found = tree_ident(p, q, rel, len, st);
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* At a resume, a best made from a report experiment.h5 does not hold goes:
 * rank 0 links it when it takes the report, the state is written at most
 * every 50 writes' time, and a kill -9 between the two left it behind. The
 * trial redid the step and could report worse, or stop before it, and the
 * best stayed another trial's checkpoint than best.json named. Such a best
 * (best.h5, or a file of best/) is a link to one of the checkpoints the
 * resume drops (after its trial's saved step, or of a trial the state does
 * not hold); the saved best's checkpoint at its step, where there is one,
 * takes its place, else the killed run's link of the saved best. */
static void best_settle(tune_run_t *r)
{
    char f[2048], d[2048], dir[1024], path[4200], saved[2][2100], rel[4096] = "";
    struct stat bs, cs;
    best_paths(r, f, d, sizeof f);
    /* a replacement of best/ that a kill cut short (best_dir_install) */
    snprintf(path, sizeof path, "%s/.best.tmp", r->o->out);
    rm_rf(path);
    snprintf(path, sizeof path, "%s/.best.old", r->o->out);
    rm_rf(path);
    /* the killed run's link of the saved best (best_saved_keep): the one of
     * this experiment.h5's best stays, others go */
    int64_t sb = sl_tune_exp_best(r->e), sstep = sb >= 0 ? r->e->t[sb].best_step : -1;
    best_saved_name(r, sb, sstep, 0, saved[0], sizeof saved[0]);
    best_saved_name(r, sb, sstep, 1, saved[1], sizeof saved[1]);
    DIR *od = opendir(r->o->out);
    for (struct dirent *oe; od && (oe = readdir(od));) {
        char p[2100];
        if (strncmp(oe->d_name, ".best-saved-", 12))
            continue;
        snprintf(p, sizeof p, "%s/%s", r->o->out, oe->d_name);
        int k = !strcmp(p, saved[0]) ? 0 : !strcmp(p, saved[1]) ? 1 : -1;
        if (k < 0 || sb < 0)
            rm_rf(p);
        else
            r->bsaved_trial = sb, r->bsaved_step = sstep, r->bsaved_have = 1, r->bsaved_dir = k;
    }
    if (od)
        closedir(od);
    const char *sv = saved[r->bsaved_dir];
    int isdir = 0;
    if (lstat(f, &bs) != 0) {
        if (lstat(d, &bs) != 0) {
            /* gone at the kill, say, between unlink and link */
            if (r->bsaved_have && !r->bsaved_dir)
                best_file_install(r, sv);
            else if (r->bsaved_have)
                best_dir_from(r, sv);
            return;
        }
        if (!S_ISDIR(bs.st_mode) || !tree_ident(d, "", rel, sizeof rel, &bs))
            return; /* no file to tell whose it is */
        isdir = 1;
    }
    if (bs.st_nlink < 2)
        return; /* a copy, or its checkpoint pruned: a saved step's */
    snprintf(dir, sizeof dir, "%s/trials", r->o->out);
    DIR *td = opendir(dir);
    int stale = 0;
    /* best/'s file: under the trial directory at the same relative path,
     * the checkpoint entry its first component */
    char top[512];
    snprintf(top, sizeof top, "%.*s", (int)strcspn(rel, "/"), rel);
    for (struct dirent *te; td && !stale && (te = readdir(td));) {
        char *end;
        long long id = strtoll(te->d_name, &end, 10);
        if (is_dot(te->d_name) || *end || id < 0)
            continue;
        int64_t tsaved = id < r->e->n ? r->e->t[id].step : -1, s;
        char tdir[1300];
        snprintf(tdir, sizeof tdir, "%s/%s", dir, te->d_name);
        if (isdir) {
            snprintf(path, sizeof path, "%s/%s", tdir, rel);
            stale = ckpt_step_of(top, &s) && s > tsaved && stat(path, &cs) == 0 && cs.st_ino == bs.st_ino &&
                    cs.st_dev == bs.st_dev;
            continue;
        }
        DIR *dd = opendir(tdir);
        for (struct dirent *de; dd && !stale && (de = readdir(dd));) {
            if (!ckpt_step_of(de->d_name, &s) || s <= tsaved)
                continue;
            snprintf(path, sizeof path, "%s/%s", tdir, de->d_name);
            stale = stat(path, &cs) == 0 && cs.st_ino == bs.st_ino && cs.st_dev == bs.st_dev;
        }
        if (dd)
            closedir(dd);
    }
    if (td)
        closedir(td);
    if (!stale)
        return;
    unlink(f);
    rm_rf(d);
    int64_t b = sl_tune_exp_best(r->e);
    if (b < 0)
        return;
    trial_dir(r, b, dir, sizeof dir);
    if (best_put(r, dir, r->e->t[b].best_step) == SL_ERR_NOT_FOUND && r->bsaved_have) {
        /* its checkpoint pruned since */
        if (r->bsaved_dir)
            best_dir_from(r, sv);
        else
            best_file_install(r, sv);
    }
}

sl_status_t tune_run(MPI_Comm comm, const tune_opts_t *o, const tune_objective_t *obj,
                     sl_tune_space_t *space_in, const sl_tune_conf_t *conf)
{
    tune_run_t R, *r = &R;
    sl_topo_t topo;
    sl_status_t st = SL_OK;
    memset(r, 0, sizeof *r);
    r->o = o;
    r->obj = obj;
    r->space = space_in;
    r->stamp_time = !strcmp(conf->time_attr, TUNE_TIME_TOTAL);
    r->jobsize = sizeof(tune_jobmsg_t) + (size_t)(space_in->n + 1) * sizeof(double);
    r->cur_trial = -1;
    r->best_reported = -1;
    r->best_seen = NAN;
    r->bsaved_trial = r->bsaved_step = -1;
    r->gbest = NAN;
    r->lockfd = -1;
    SL_TRY(sl_topo_init(comm, &topo));
    r->wc = topo.comm;
    r->rank = topo.rank;
    r->size = topo.size;
    int K = (int)o->rpt;
    if (K > r->size) {
        st = sl_error_root(r->wc, SL_ERR_USAGE, "--ranks-per-trial %d is more than the %d rank%s of the job",
                           K, r->size, r->size == 1 ? "" : "s");
        sl_topo_fini(&topo);
        return st;
    }
    /* groups packed by node: order ranks by (node, rank), rank 0's node first */
    int *nodes = malloc((size_t)r->size * sizeof *nodes), *order = malloc((size_t)r->size * sizeof *order);
    r->ngroups = r->size / K;
    r->leader = malloc((size_t)r->ngroups * sizeof *r->leader);
    r->gstate = calloc((size_t)r->ngroups, sizeof *r->gstate);
    r->want = calloc((size_t)r->ngroups, sizeof *r->want);
    r->slot = calloc((size_t)r->ngroups, sizeof *r->slot);
    r->seen = calloc((size_t)r->ngroups + 1, 1);
    r->sendbuf = malloc(2 * (size_t)r->ngroups * r->jobsize);
    r->sendreq = malloc(2 * (size_t)r->ngroups * sizeof *r->sendreq);
    for (int k = 0; r->sendreq && k < 2 * r->ngroups; k++)
        r->sendreq[k] = MPI_REQUEST_NULL;
    r->own_job = malloc(r->jobsize);
    if (!nodes || !order || !r->leader || !r->gstate || !r->want || !r->slot || !r->seen || !r->sendbuf ||
        !r->sendreq || !r->own_job) {
        st = sl_error(SL_ERR_NOMEM, "out of memory");
        goto out_free;
    }
    MPI_Allgather(&topo.node, 1, MPI_INT, nodes, 1, MPI_INT, r->wc);
    int pos = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int nd = -1; nd < topo.nnodes; nd++)
            for (int q = 0; q < r->size; q++) {
                int first = nodes[q] == nodes[0];
                if ((pass == 0 && first && nd == -1) || (pass == 1 && !first && nodes[q] == nd))
                    order[pos++] = q;
            }
    int mypos = 0;
    for (int p = 0; p < r->size; p++) {
        if (order[p] == r->rank)
            mypos = p;
        if (p % K == 0 && p / K < r->ngroups)
            r->leader[p / K] = order[p];
    }
    r->group = mypos / K < r->ngroups ? mypos / K : -1;
    MPI_Comm_split(r->wc, r->group < 0 ? MPI_UNDEFINED : r->group, mypos, &r->gc);
    if (r->group >= 0) {
        MPI_Comm_rank(r->gc, &r->grank);
        MPI_Comm_size(r->gc, &r->gsize);
    }
    if (r->rank == 0 && r->size % K)
        SL_WARN0("%d ranks do not divide into groups of %d: %d rank(s) stay idle", r->size, K, r->size % K);

    /* the coordinator loads or creates the experiment, on its own copy of the space */
    if (r->rank == 0) {
        sl_tune_space_t copy = {0};
        for (int i = 0; i < space_in->n && st == SL_OK; i++) {
            sl_tune_space_t one = {1, &space_in->p[i]};
            char *txt = sl_tune_space_string(&one);
            st = txt ? sl_tune_space_add(&copy, txt, "space") : SL_ERR_NOMEM;
            free(txt);
        }
        char trials[4096];
        snprintf(trials, sizeof trials, "%s/trials", o->out);
        if (st == SL_OK && !o->resume)
            st = sl_mkdirs(trials);
        /* rank 0 holds a lock on EXPDIR/.lock while it runs: a second run
         * on it (a requeued job while the first still runs, the ranks of a
         * killed mpirun not yet gone) would run the same trials and
         * overwrite the state and checkpoints. A file opened for writing,
         * as NFS needs for an exclusive flock (it makes it an fcntl lock);
         * made only where an experiment is or starts; file systems without
         * flock go without. */
        char lockp[4200], exph5[4200];
        snprintf(lockp, sizeof lockp, "%s/.lock", o->out);
        snprintf(exph5, sizeof exph5, "%s/experiment.h5", o->out);
        if (st == SL_OK && (!o->resume || access(exph5, F_OK) == 0) &&
            (r->lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) >= 0 &&
            flock(r->lockfd, LOCK_EX | LOCK_NB) != 0 && (errno == EWOULDBLOCK || errno == EAGAIN))
            st = sl_error(SL_ERR_IO,
                          "'%s' is in use by another sluice tune still running (wait for it to end, or use "
                          "another --out)",
                          o->out);
        if (st == SL_OK && o->resume)
            st = sl_tune_exp_load(conf, &copy, o->out, &r->e);
        else if (st == SL_OK) {
            st = sl_tune_exp_create(conf, &copy, &r->e);
            if (st == SL_OK)
                st = sl_tune_exp_save(r->e, o->out);
        }
        /* trials settled at the load by a decision whose job a kill cut
         * short: their directories as that job's end leaves them (the
         * checkpoints after the last reported step go, K of the rest stay);
         * so too trials that had ended with more than K, the steps after
         * their saved one, whose pruning after the next save a kill cut
         * short (unpruned_mark) */
        if (st == SL_OK && o->resume)
            best_settle(r); /* before the checkpoints it looks for go */
        /* A trial pending without reports had its job started by the
         * killed run after the last write: the checkpoints it wrote go too
         * (its next job would drop them, but the experiment may end before
         * it runs again: a --target, a smaller --trials), and so do those of
         * trials the state does not hold at all (ids the killed run gave
         * after its last write); such a directory left empty goes. */
        for (int64_t i = 0; st == SL_OK && o->resume && i < r->e->n; i++) {
            const sl_tune_trial_t *t = &r->e->t[i];
            char dir[1024];
            trial_dir(r, t->id, dir, sizeof dir);
            ckpt_settle(dir, o->keep, t->step, t->step, NULL, NULL);
        }
        if (st == SL_OK && o->resume)
            unheld_settle(r);
        if (st == SL_OK)
            saved_update(r);
        sl_tune_space_fini(&copy);
    }
    st = sl_agree(r->wc, st);
    if (st != SL_OK)
        goto out_free;
    double total = 0;
    if (r->rank == 0) {
        total = (double)(conf->searcher == SL_TUNE_SEARCH_GRID &&
                                 (conf->trials <= 0 || (double)conf->trials > sl_tune_grid_size(space_in))
                             ? sl_tune_grid_size(space_in)
                             : (double)conf->trials);
        int64_t c[6];
        sl_tune_exp_counts(r->e, c);
        r->settled = 0;
        if (o->resume)
            SL_INFO0("resuming %s: %lld trial%s so far (%lld done, %lld pruned, %lld errored)", o->out,
                     (long long)r->e->n, r->e->n == 1 ? "" : "s", (long long)c[SL_TUNE_DONE],
                     (long long)c[SL_TUNE_PRUNED], (long long)c[SL_TUNE_ERRORED]);
    }
    MPI_Bcast(&total, 1, MPI_DOUBLE, 0, r->wc);
    st = sl_progress_create(r->wc, "tune", total, "trials", &r->prog);
    if (st != SL_OK)
        goto out_free;
    double t0 = sl_now(), busy = 0;
    r->last_save = r->t_start = sl_now();
    mode_t um = umask(0);
    umask(um);
    r->dir_mode = 0755 & ~um;
    snprintf(r->spare_dir, sizeof r->spare_dir, "%s/trials/.spare-%d", o->out, r->rank);
    if (r->group >= 0 && r->grank == 0)
        spare_remove(r);
    if (r->rank == 0) {
        coord_note(r);
        coord_loop(r, &busy);
    } else if (r->group >= 0 && r->grank == 0)
        leader_loop(r, &busy);
    else if (r->group >= 0)
        member_loop(r, &busy);
    spare_remove(r);
    double wall = sl_now() - t0;
    if (r->rank == 0)
        MPI_Waitall(2 * r->ngroups, r->sendreq, MPI_STATUSES_IGNORE);

    /* everyone waits without spinning for the last trial */
    MPI_Request brq;
    MPI_Ibarrier(r->wc, &brq);
    wait_req(r, &brq);
    st = SL_OK;
    int stopped = 0;
    if (r->rank == 0) {
        r->e->elapsed += sl_now() - r->t_start;
        r->t_start = sl_now();
        r->dirty = 1;
        coord_maybe_save(r, 1);
        st = r->fatal;
        stopped = r->e->draining && !sl_tune_exp_complete(r->e);
        coord_note(r); /* the last line shows the settled table */
    }
    sl_progress_finish(&r->prog);
    double sums[2] = {busy, wall}, tot[2];
    MPI_Reduce(sums, tot, 2, MPI_DOUBLE, MPI_SUM, 0, r->wc);
    if (r->rank == 0 && st == SL_OK) {
        int64_t c[6], b = sl_tune_exp_best(r->e);
        sl_tune_exp_counts(r->e, c);
        /* stopped, the trials left to resume too: the counts add up */
        char left[96] = "";
        if (stopped)
            snprintf(left, sizeof left, ", %lld paused, %lld pending (resume with --resume)",
                     (long long)c[SL_TUNE_PAUSED], (long long)c[SL_TUNE_PENDING]);
        printf("tune %s: %lld trial%s: %lld done, %lld pruned, %lld errored%s\n",
               stopped ? "stopped" : "finished", (long long)r->e->n, r->e->n == 1 ? "" : "s",
               (long long)c[SL_TUNE_DONE], (long long)c[SL_TUNE_PRUNED], (long long)c[SL_TUNE_ERRORED], left);
        if (b >= 0) {
            const sl_tune_trial_t *t = sl_tune_exp_trial(r->e, b);
            printf("best: trial %lld, %s = %.6g at step %lld:", (long long)b, o->metric, t->best,
                   (long long)t->best_step);
            const double *bp = sl_tune__best_params(r->e, b);
            for (int i = 0; i < r->e->space.n; i++) {
                char v[256];
                sl_tune_value_text(&r->e->space.p[i], bp[i], v, sizeof v);
                printf(" %s=%s", r->e->space.p[i].name, v);
            }
            printf("\n");
        }
        if (!isnan(r->e->conf.target)) {
            int64_t k = sl_tune_exp_target_report(r->e);
            const char *op = r->e->conf.maximize ? ">=" : "<=";
            if (k >= 0)
                printf("target: %s %s %g reached by trial %lld at step %lld, %.2f s into the experiment\n",
                       o->metric, op, r->e->conf.target, (long long)r->e->rep_trial[k],
                       (long long)r->e->rep_step[k], r->e->rep_time[k]);
            else
                printf("target: %s %s %g not reached\n", o->metric, op, r->e->conf.target);
        }
        printf(
            "utilisation: %.1f%% of rank time in trials; scheduler %.3f%% (%.3f s CPU on rank 0) in %.2f s\n",
            tot[1] > 0 ? 100 * tot[0] / tot[1] : 0, tot[1] > 0 ? 100 * r->coord_time / tot[1] : 0,
            r->coord_time, wall);
        SL_VERBOSE0("experiment state written %lld times in %.3f s", (long long)r->nsaves, r->save_total);
        fflush(stdout);
        if (!stopped && b < 0)
            st = sl_error(SL_ERR_FAILED,
                          "no trial reported the metric '%s' (see the warnings above and %s/trials/)",
                          o->metric, o->out);
        /* Every trial errored, after reports: the files are written, but a
         * script going on to the next step would take a best value from
         * runs that all failed (Ray Tune fails such a run too). */
        else if (!stopped && r->e->n > 0 && c[SL_TUNE_ERRORED] == r->e->n)
            st = sl_error(SL_ERR_FAILED,
                          "every trial errored (%lld): the best value above comes from the reports of failed "
                          "trials (see the warnings above and %s/trials/)",
                          (long long)r->e->n, o->out);
    }
    if (stopped)
        st = st == SL_OK ? SL_ERR_STOPPED : st;
    st = sl_agree(r->wc, st);
out_free:
    if (obj->fini)
        obj->fini();
    sl_guard_destroy(&r->guard);
    if (r->lockfd >= 0)
        close(r->lockfd);
    if (r->gc != MPI_COMM_NULL && r->gc)
        MPI_Comm_free(&r->gc);
    sl_tune_exp_destroy(&r->e);
    free(nodes);
    free(order);
    free(r->leader);
    free(r->gstate);
    free(r->want);
    free(r->slot);
    free(r->seen);
    free(r->sendbuf);
    free(r->sendreq);
    free(r->own_job);
    free(r->saved_step);
    free(r->unpruned);
    sl_topo_fini(&topo);
    return st;
}
