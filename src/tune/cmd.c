/* SPDX-License-Identifier: BSD-3-Clause */
/* The `cmd` objective: any program, started once on every rank of the
 * trial's group (SLUICE_TRIAL_RANK/SIZE tell it which), with the parameters
 * as SLUICE_PARAM_<NAME> and {name} substitutions. The leader's copy reports
 * with stdout lines "sluice-report step=N name=value ..."; a decision sends
 * SIGTERM to every copy's process group (SIGKILL after --kill-grace). A
 * command without shell syntax is exec'd directly, which saves a shell. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A value as the shell reads it back whole in quoting state q (0 outside
 * quotes, '\'' or '"' inside the template's quotes): a choice like 'x y'
 * or 'a;b' was substituted raw, so the program got two arguments, or the
 * shell ran b. A value of plain characters (every number) is left as it is;
 * a quoted one makes the command go through /bin/sh, which unquotes it. */
static void shell_quote(const char *v, char q, char *buf, size_t len)
{
    size_t n = 0;
    int plain = v[0] != '\0';
    for (const char *c = v; *c; c++)
        plain &= isalnum((unsigned char)*c) || strchr("_@%+=:,./-", *c) != NULL;
    if (plain || !v[0] || len < 8) {
        snprintf(buf, len, "%s", v);
        return;
    }
    if (!q)
        buf[n++] = '\'';
    for (const char *c = v; *c && n + 6 < len; c++) {
        if (*c == '\'' && q != '"') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            if (q == '"' && strchr("$`\"\\", *c))
                buf[n++] = '\\';
            buf[n++] = *c;
        }
    }
    if (!q)
        buf[n++] = '\'';
    buf[n] = '\0';
}

/* A path as the program sees it from any directory: with a relative --out
 * a command that changes directory first ('cd src && ./train.sh') wrote its
 * checkpoints elsewhere (or nowhere) and resumed from nothing. */
static void abs_path(const char *p, char *buf, size_t len)
{
    char cwd[4096];
    if (p[0] && p[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(buf, len, "%s/%s", cwd, p);
    else
        snprintf(buf, len, "%s", p);
}

/* Expand the template; unknown names are an error (checked at start-up by
 * tune_cmd_check, so this cannot fail on one rank only). */
static char *expand(tune_run_t *r, const tune_jobmsg_t *job, const char *tpl)
{
    const sl_tune_space_t *s = tune_space(r);
    size_t cap = strlen(tpl) + 256, len = 0;
    char *out = malloc(cap), val[5800], quoted[12000]; /* a path: the cwd and a checkpoint's */
    char q = 0; /* the template's shell quoting state at p */
    if (!out)
        return NULL;
    for (const char *p = tpl; *p;) {
        const char *rep = NULL;
        size_t adv = 1;
        if (*p == '\\' && q != '\'' && p[1] && p[1] != '{' && p[1] != '}') {
            adv = 2; /* an escaped quote does not open or close one */
        } else if ((*p == '\'' || *p == '"') && (!q || q == *p)) {
            q = q ? 0 : *p;
        }
        if (p[0] == '{' && p[1] == '{') {
            rep = "{";
            adv = 2;
        } else if (p[0] == '}' && p[1] == '}') {
            rep = "}";
            adv = 2;
        } else if (p[0] == '{') {
            const char *e = strchr(p, '}');
            size_t n = e ? (size_t)(e - p - 1) : 0;
            val[0] = '\0';
            int param = 0; /* a parameter's value, not one of the four built-in names */
            if (e && n == 5 && !strncmp(p + 1, "trial", 5))
                snprintf(val, sizeof val, "%lld", (long long)job->trial);
            else if (e && n == 9 && !strncmp(p + 1, "trial_dir", 9))
                abs_path(job->trial_dir, val, sizeof val);
            else if (e && n == 6 && !strncmp(p + 1, "resume", 6))
                abs_path(job->resume, val, sizeof val);
            else if (e && n == 5 && !strncmp(p + 1, "max_t", 5)) {
                if (job->target > 0)
                    snprintf(val, sizeof val, "%lld", (long long)job->target);
            } else if (e)
                for (int i = 0; i < s->n; i++)
                    if (strlen(s->p[i].name) == n && !strncmp(p + 1, s->p[i].name, n)) {
                        sl_tune_value_text(&s->p[i], job->params[i], val, sizeof val);
                        param = 1;
                    }
            shell_quote(val, q, quoted, sizeof quoted);
            /* An empty value (choice('', x)) is an empty argument, as it
             * is: left bare outside quotes, the word was dropped and the
             * arguments after it moved up one. {resume} and {max_t} stay
             * bare: a word of them alone is no argument when there is none. */
            if (param && !val[0] && !q)
                snprintf(quoted, sizeof quoted, "''");
            rep = quoted;
            adv = e ? n + 2 : 1;
        }
        size_t need = rep ? strlen(rep) : adv;
        if (len + need + 1 > cap) {
            cap = 2 * (len + need + 1);
            char *n = realloc(out, cap);
            if (!n) {
                free(out);
                return NULL;
            }
            out = n;
        }
        if (rep) {
            memcpy(out + len, rep, need);
            len += need;
        } else {
            memcpy(out + len, p, adv);
            len += adv;
        }
        p += adv;
    }
    out[len] = '\0';
    return out;
}

sl_status_t tune_cmd_check(const char *tpl, const sl_tune_space_t *s, const char **bad_p, int *badlen_p)
{
    for (const char *p = tpl; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        const char *e = strchr(p, '}');
        if (!e)
            return SL_ERR_USAGE;
        size_t n = (size_t)(e - p - 1);
        int ok = (n == 5 && !strncmp(p + 1, "trial", 5)) || (n == 9 && !strncmp(p + 1, "trial_dir", 9)) ||
                 (n == 6 && !strncmp(p + 1, "resume", 6)) || (n == 5 && !strncmp(p + 1, "max_t", 5));
        for (int i = 0; i < s->n && !ok; i++)
            ok = strlen(s->p[i].name) == n && !strncmp(p + 1, s->p[i].name, n);
        if (!ok) {
            *bad_p = p;
            *badlen_p = (int)(n + 2);
            return SL_ERR_NOT_FOUND;
        }
        p = e;
    }
    return SL_OK;
}

/* Whether the n characters at w are a word only the shell knows: a
 * keyword, or a builtin that is no program ('exec train.py' was exec'd
 * directly: "cannot start 'exec'"). */
static int shell_word(const char *w, size_t n)
{
    static const char *const own[] = {
        "!",       "{",        "}",       "[[",     "]]",    "case",  "do",      "done",     "elif",
        "else",    "esac",     "fi",      "for",    "if",    "in",    "then",    "until",    "while",
        "select",  "function", ".",       ":",      "alias", "bg",    "break",   "builtin",  "cd",
        "command", "continue", "declare", "enable", "eval",  "exec",  "exit",    "export",   "fc",
        "fg",      "getopts",  "hash",    "jobs",   "let",   "local", "read",    "readonly", "return",
        "set",     "shift",    "source",  "times",  "trap",  "type",  "typeset", "ulimit",   "umask",
        "unalias", "unset",    "wait",    NULL};
    for (int i = 0; own[i]; i++)
        if (strlen(own[i]) == n && !strncmp(w, own[i], n))
            return 1;
    return 0;
}

static int needs_shell(const char *c)
{
    for (const char *p = c; *p; p++)
        if (strchr("|&;<>()$`\\\"'*?[]#~%!{}\n", *p))
            return 1;
    const char *w = c + strspn(c, " \t");
    if (shell_word(w, strcspn(w, " \t")))
        return 1;
    /* VAR=value at the start is shell syntax too */
    const char *sp = c + strcspn(c, " \t");
    const char *eq = strchr(c, '=');
    return eq && eq < sp;
}

/* The child's environment: ours minus the MPI launcher's variables (so a
 * command that is itself an MPI program starts its own job), plus ours. */
static char **make_env(tune_run_t *r, const tune_jobmsg_t *job, char *extra, size_t extra_len)
{
    const sl_tune_space_t *s = tune_space(r);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = malloc((n + (size_t)s->n + 8) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = environ[i];
        if ((!strncmp(v, "OMPI_", 5) && strncmp(v, "OMPI_ALLOW_RUN_AS_ROOT", 22) &&
             strncmp(v, "OMPI_MCA_rmaps_base_oversubscribe", 33)) ||
            !strncmp(v, "PMIX_", 5) || !strncmp(v, "PMI_", 4) || !strncmp(v, "SLUICE_PARAM_", 13) ||
            !strncmp(v, "SLUICE_TRIAL", 12) || !strncmp(v, "SLUICE_RESUME=", 14) ||
            !strncmp(v, "SLUICE_MAX_T=", 13))
            continue;
        env[k++] = environ[i];
    }
    size_t off = 0;
    char val[5800]; /* a path: the cwd and a checkpoint's */
#define ADD(...)                                                                                             \
    do {                                                                                                     \
        int w_ = snprintf(extra + off, extra_len - off, __VA_ARGS__);                                        \
        if (w_ < 0 || (size_t)w_ >= extra_len - off) {                                                       \
            free(env);                                                                                       \
            return NULL;                                                                                     \
        }                                                                                                    \
        env[k++] = extra + off;                                                                              \
        off += (size_t)w_ + 1;                                                                               \
    } while (0)
    for (int i = 0; i < s->n; i++) {
        char up[64];
        size_t j = 0;
        for (; s->p[i].name[j] && j < sizeof up - 1; j++)
            up[j] = (char)toupper((unsigned char)s->p[i].name[j]);
        up[j] = '\0';
        sl_tune_value_text(&s->p[i], job->params[i], val, sizeof val);
        ADD("SLUICE_PARAM_%s=%s", up, val);
    }
    ADD("SLUICE_TRIAL_ID=%lld", (long long)job->trial);
    abs_path(job->trial_dir, val, sizeof val);
    ADD("SLUICE_TRIAL_DIR=%s", val);
    ADD("SLUICE_TRIAL_RANK=%d", tune_group_rank(r));
    ADD("SLUICE_TRIAL_SIZE=%d", tune_group_size(r));
    abs_path(job->resume, val, sizeof val);
    ADD("SLUICE_RESUME=%s", val);
    if (job->target > 0)
        ADD("SLUICE_MAX_T=%lld", (long long)job->target);
#undef ADD
    env[k] = NULL;
    return env;
}

/* The program execvp would run for name, found once per name: thousands of
 * short trials each trying every PATH entry in turn cost real time.
 * NULL when name has a slash or is not found (posix_spawnp then reports). */
static const char *resolve(const char *name)
{
    static char last[256], path[4096];
    static int found;
    if (strchr(name, '/') || strlen(name) >= sizeof last)
        return NULL;
    if (!strcmp(name, last))
        return found ? path : NULL;
    snprintf(last, sizeof last, "%s", name);
    found = 0;
    const char *p = getenv("PATH");
    if (!p)
        p = "/bin:/usr/bin";
    while (!found) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        struct stat sb;
        snprintf(path, sizeof path, "%.*s%s%s", (int)len, p, len ? "/" : "", name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0)
            found = 1;
        if (!e)
            break;
        p = e + 1;
    }
    return found ? path : NULL;
}

const char *tune_cmd_program_error(const char *tpl, char *word, size_t len)
{
    /* the template without its {...}: values only ever add arguments */
    char *bare = malloc(strlen(tpl) + 1);
    if (!bare)
        return NULL;
    size_t k = 0;
    for (const char *p = tpl; *p; p++) {
        const char *e = *p == '{' ? strchr(p, '}') : NULL;
        if (e)
            p = e;
        else
            bare[k++] = *p;
    }
    bare[k] = '\0';
    const char *w = tpl + strspn(tpl, " \t");
    size_t n = strcspn(w, " \t\n;|&<>()");
    int skip = memchr(w, '{', n) || n == 0 || n >= len;
    if (!skip && needs_shell(bare)) {
        /* Through a shell, the first word is checked too when it is a plain
         * word that the shell looks up as a program: each trial of 'train
         * {x} | tee log' ended with the shell's 127, the same as without
         * the pipe. Not one with shell syntax in it (quotes, $, ~, an
         * assignment), nor a shell keyword or builtin (cd, exec, if, ...). */
        static const char *const also_programs[] = {"echo", "false", "kill", "printf", "pwd",
                                                    "test", "true",  "[",    NULL};
        /* bash's own words where /bin/sh is bash (time python3 train.py
         * {x} > log, with no /usr/bin/time): only that shell can tell */
        static const char *const bash_words[] = {"time",    "coproc",  "pushd",     "popd",    "dirs",
                                                 "shopt",   "mapfile", "readarray", "disown",  "suspend",
                                                 "caller",  "compgen", "complete",  "compopt", "help",
                                                 "history", "bind",    "logout",    NULL};
        for (size_t i = 0; i < n && !skip; i++)
            skip = !isalnum((unsigned char)w[i]) && !strchr("_./+-@,", w[i]);
        skip = skip || shell_word(w, n);
        for (int i = 0; also_programs[i] && !skip; i++)
            skip = strlen(also_programs[i]) == n && !strncmp(w, also_programs[i], n);
        for (int i = 0; bash_words[i] && !skip; i++)
            skip = strlen(bash_words[i]) == n && !strncmp(w, bash_words[i], n);
        /* nor the descriptor of a redirection before the command ('2>err.log
         * train {x}': "cannot run '2'"), nor a function defined first ('f()
         * { train "$@"; }; f {x}') */
        skip = skip || (strchr("<>", w[n]) && w[n] && strspn(w, "0123456789") == n) ||
               w[n + strspn(w + n, " \t")] == '(';
    }
    free(bare);
    if (skip)
        return NULL; /* a shell's own word, or a value names the program */
    snprintf(word, len, "%.*s", (int)n, w);
    if (strchr(word, '/')) {
        /* a directory passes access(X_OK): each trial failed to start it */
        struct stat sb;
        if (access(word, X_OK) != 0)
            return strerror(errno);
        return stat(word, &sb) == 0 && S_ISDIR(sb.st_mode) ? strerror(EISDIR) : NULL;
    }
    return resolve(word) ? NULL : "not found in PATH";
}

static sl_status_t spawn(tune_run_t *r, const tune_jobmsg_t *job, int outfd, int errfd, pid_t *pid_p)
{
    char *cmd = expand(r, job, tune_opts(r)->command);
    char *extra = malloc(65536);
    char **env = extra && cmd ? make_env(r, job, extra, 65536) : NULL;
    char **argv = NULL;
    sl_status_t st = SL_OK;
    if (!env) {
        st = sl_error(SL_ERR_NOMEM, "trial %lld: cannot build the command's environment",
                      (long long)job->trial);
        goto out;
    }
    if (needs_shell(cmd)) {
        argv = malloc(4 * sizeof *argv);
        if (argv) {
            argv[0] = "/bin/sh";
            argv[1] = "-c";
            argv[2] = cmd;
            argv[3] = NULL;
        }
    } else {
        size_t n = 0, cap = 8;
        argv = malloc(cap * sizeof *argv);
        for (char *save = NULL, *tok = strtok_r(cmd, " \t", &save); argv && tok;
             tok = strtok_r(NULL, " \t", &save)) {
            if (n + 2 > cap) {
                char **a = realloc(argv, (cap *= 2) * sizeof *a);
                if (!a) {
                    free(argv);
                    argv = NULL;
                    break;
                }
                argv = a;
            }
            argv[n++] = tok;
        }
        if (argv)
            argv[n] = NULL;
        if (argv && n == 0) {
            st = sl_error(SL_ERR_USAGE, "trial %lld: the command is empty", (long long)job->trial);
            goto out;
        }
    }
    if (!argv) {
        st = SL_ERR_NOMEM;
        goto out;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGUSR1);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_adddup2(&fa, outfd, 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    const char *prog = resolve(argv[0]);
    int rc = prog ? posix_spawn(pid_p, prog, &fa, &at, argv, env)
                  : posix_spawnp(pid_p, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        st = sl_error(SL_ERR_IO, "trial %lld: cannot start '%s': %s", (long long)job->trial, argv[0],
                      strerror(rc));
out:
    free(argv);
    free(env);
    free(extra);
    free(cmd);
    return st;
}

/* Parse one "sluice-report" line; returns the number of metrics, or -1 for
 * a malformed line (no step, a step that is not a whole number >= 0, a
 * token that is not name=number, step or a metric twice: the last one was
 * taken in silence): taken, it would count as a step it is not. */
static void note_dropped(char *dropped, size_t len, const char *name)
{
    size_t k = strlen(dropped);
    snprintf(dropped + k, len - k, "%s'%s'", k ? ", " : "", name);
}

static int parse_report(const tune_opts_t *o, char *line, int64_t *step, const char **names, double *vals,
                        char *dropped, size_t dlen)
{
    int n = 0, has_step = 0;
    char *save = NULL;
    strtok_r(line, " \t\r", &save);
    for (char *tok; (tok = strtok_r(NULL, " \t\r", &save));) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return -1;
        *eq = '\0';
        char *end;
        errno = 0;
        if (!strcmp(tok, "step")) {
            long long v = strtoll(eq + 1, &end, 10);
            if (end == eq + 1 || *end != '\0' || errno != 0 || v < 0 || has_step)
                return -1;
            *step = v;
            has_step = 1;
            continue;
        }
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0')
            return -1;
        for (int k = 0; k < n; k++)
            if (!strcmp(names[k], tok))
                return -1;
        if (n >= TUNE_MAXM) {
            /* a full report keeps --metric and --time-attr in the place of
             * the first other metric: past the 16th they were dropped, and
             * every trial ended "without reporting the metric" */
            if (strcmp(tok, o->metric) && strcmp(tok, o->time_attr)) {
                note_dropped(dropped, dlen, tok);
                continue;
            }
            int k = 0;
            while (k < TUNE_MAXM && (!strcmp(names[k], o->metric) || !strcmp(names[k], o->time_attr)))
                k++;
            if (k < TUNE_MAXM) {
                note_dropped(dropped, dlen, names[k]);
                names[k] = tok;
                vals[k] = v;
            }
            continue;
        }
        names[n] = tok;
        vals[n++] = v;
    }
    return has_step ? n : -1;
}

/* Leader: take the outcomes the other copies sent (TAG_GSTAT) for this
 * trial into out[q] (-1 until then); a copy that failed stops the trial at
 * once, since the leader's copy may wait for it for ever (the ranks of a
 * distributed program). Returns the first group rank that failed, or 0. */
static int member_outcomes(MPI_Comm gc, int64_t trial, int64_t *out)
{
    int failed = 0;
    for (;;) {
        int flag = 0;
        MPI_Status mst;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_GSTAT, gc, &flag, &mst);
        if (!flag)
            break;
        int64_t m[2];
        MPI_Recv(m, 2, MPI_INT64_T, mst.MPI_SOURCE, TAG_GSTAT, gc, MPI_STATUS_IGNORE);
        if (m[0] != trial) /* an earlier trial's */
            continue;
        out[mst.MPI_SOURCE] = m[1];
        if (m[1] == SL_TUNE_END_FAILED && !failed)
            failed = mst.MPI_SOURCE;
    }
    return failed;
}

/* A copy's log: its file, made on first use, and the last bytes of the
 * command's output, kept in memory for why it failed (on a full disk the
 * file may have none of them). */
typedef struct {
    int fd;
    const char *path;
    char tail[2048];
    size_t ntail;
} cmd_log_t;

/* Append to the trial's log file, creating it on first use (best effort). */
static void log_file_write(cmd_log_t *lg, const char *data, size_t len)
{
    if (lg->fd < 0)
        lg->fd = open(lg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lg->fd >= 0 && write(lg->fd, data, len) < 0) {
        /* a full disk must not stop the experiment */
    }
}

/* Whether the command's leader pid has exited (a zombie not yet reaped). */
static int leader_gone(pid_t pid)
{
    siginfo_t si;
    si.si_pid = 0;
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Whether a process of group pgid other than its leader is alive (not a
 * zombie): /proc/PID/stat, state and pgrp after the command name. */
static int group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    int alive = 0;
    for (struct dirent *de; d && !alive && (de = readdir(d));) {
        char *end, path[64], b[512];
        long p = strtol(de->d_name, &end, 10);
        if (*end || p <= 0 || p == (long)pgid)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", p);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, b, sizeof b - 1);
        close(fd);
        b[n > 0 ? n : 0] = '\0';
        char *rp = strrchr(b, ')'), st = 0;
        long ppid = 0, pgrp = 0;
        if (rp && sscanf(rp + 1, " %c %ld %ld", &st, &ppid, &pgrp) == 3 && pgrp == (long)pgid && st != 'Z' &&
            st != 'X')
            alive = 1;
    }
    if (d)
        closedir(d);
    return alive;
}

/* Append the command's output to the trial's log and its tail. */
static void log_write(cmd_log_t *lg, const char *data, size_t len)
{
    const size_t cap = sizeof lg->tail;
    if (len >= cap) {
        memcpy(lg->tail, data + len - cap, cap);
        lg->ntail = cap;
    } else {
        size_t keep = lg->ntail < cap - len ? lg->ntail : cap - len;
        memmove(lg->tail, lg->tail + lg->ntail - keep, keep);
        memcpy(lg->tail + keep, data, len);
        lg->ntail = keep + len;
    }
    log_file_write(lg, data, len);
}

/* How many of the output's last lines (not empty) may say that space ran
 * out: a traceback's or a shell's last line, and a few lines of clean-up
 * messages after it. */
#define CMD_NOSPACE_LINES 5

/* Whether the command's output says it ran out of space: one of its last
 * CMD_NOSPACE_LINES lines that are not empty names ENOSPC or EDQUOT, by
 * name or as strerror words them ("No space left on device", "Disk quota
 * exceeded"; any case: Go writes them in lower case). last gets the last
 * line that is not empty ("" if none), control characters as '?', at most
 * len - 1 bytes; said the line that said so, when one did. */
static int log_says_nospace(const cmd_log_t *lg, char *last, size_t len, char *said, size_t slen)
{
    static const char *const words[] = {"no space left on device", "disk quota exceeded", "ENOSPC", "EDQUOT"};
    char t[sizeof lg->tail + 1];
    memcpy(t, lg->tail, lg->ntail);
    t[lg->ntail] = '\0';
    for (size_t i = 0; i < lg->ntail; i++)
        if ((unsigned char)t[i] < 0x20 ? t[i] != '\n' && t[i] != '\t' : t[i] == 0x7f)
            t[i] = '?'; /* a NUL, a carriage return, a colour's escape */
    last[0] = said[0] = '\0';
    int found = 0, lines = 0;
    for (char *e = t + lg->ntail; e > t && lines < CMD_NOSPACE_LINES;) {
        *e = '\0';
        char *b = e;
        while (b > t && b[-1] != '\n')
            b--;
        e = b > t ? b - 1 : t;
        if (!*b)
            continue; /* an empty line */
        if (!lines++)
            snprintf(last, len, "%.*s", (int)len - 1, b);
        for (size_t w = 0; !found && w < sizeof words / sizeof *words; w++)
            if (strcasestr(b, words[w])) {
                found = 1;
                snprintf(said, slen, "%.*s", (int)slen - 1, b);
            }
    }
    return found;
}

static sl_status_t cmd_run(tune_run_t *r, const tune_jobmsg_t *job, int *outcome_p)
{
    const tune_opts_t *o = tune_opts(r);
    int grank = tune_group_rank(r), gsize = tune_group_size(r);
    MPI_Comm gc = tune_group_comm(r);
    char path[1200];
    int pfd[2] = {-1, -1};
    sl_status_t st = SL_OK;
    *outcome_p = SL_TUNE_END_FAILED;
    if (grank == 0)
        snprintf(path, sizeof path, "%s/trial.log", job->trial_dir);
    else
        snprintf(path, sizeof path, "%s/trial.rank%d.log", job->trial_dir, grank);
    /* the log is made only when there is something to write: a silent trial
     * costs no file */
    int efd[2] = {-1, -1}, pidfd = -1;
    cmd_log_t lg = {.fd = -1, .path = path};
    char how[64] = ""; /* the leader's failed command: how it ended */
    int told = 0; /* leader: the other copies were sent a decision */
    int failed_on = 0;    /* leader: the first other copy that failed (group rank) */
    int64_t *mout = NULL; /* leader: each other copy's outcome (-1: not in yet) */
    if (grank == 0 && gsize > 1) {
        mout = malloc((size_t)gsize * sizeof *mout);
        if (!mout)
            st = sl_error(SL_ERR_NOMEM, "trial %lld: out of memory", (long long)job->trial);
        for (int q = 0; mout && q < gsize; q++)
            mout[q] = -1;
    }
    if (pipe2(pfd, O_CLOEXEC) != 0 || pipe2(efd, O_CLOEXEC) != 0)
        st = sl_error(SL_ERR_IO, "trial %lld: pipe: %s", (long long)job->trial, strerror(errno));
    pid_t pid = -1;
    sl_guard_t *guard = NULL;
    if (st == SL_OK)
        st = tune_guard(r, &guard);
    if (st == SL_OK)
        st = spawn(r, job, pfd[1], efd[1], &pid);
    if (st == SL_OK)
        sl_guard_add(guard, pid);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (efd[1] >= 0)
        close(efd[1]);
    int failed_start = st != SL_OK;
    if (failed_start)
        goto gather;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    fcntl(efd[0], F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* Linux >= 5.3; else poll the exit */
#endif

    char buf[65536];
    size_t have = 0;
    int eeof = 0, eof = 0, exited = 0, wstatus = 0, killed = 0, decision = SL_TUNE_CONTINUE;
    int64_t step = -1;
    int warned_line = 0; /* a malformed report line was warned about */
    int longline = 0;    /* the output is inside a line longer than buf */
    double kill_at = 0;
    size_t got = 0; /* bytes read from the pipes at the last wake */
    static size_t lazy_max; /* a quarter of a pipe's capacity */
    if (!lazy_max) {
        int cap = fcntl(pfd[0], F_GETPIPE_SZ);
        lazy_max = cap > 0 ? (size_t)cap / 4 : 4096;
    }
    int forced = 0;     /* the output was taken as ended: something still holds a pipe */
    int group_done = 0; /* a stopped command's group has no process left but its leader */
    /* 1: the exit was reaped, and a pass more reads stderr: in the pass
     * that read stdout to its end and reaped the exit, stderr was read
     * before the command's last lines to it (the traceback saying why it
     * failed, after much output on stdout), which were lost */
    int tail = 0;
    while (!exited || !eof || tail == 1) {
        /* wake on the exit (pidfd), or for MPI every 200 us on the
         * coordinator (it answers the other ranks) and every 1 ms on the
         * others (only decisions about this trial arrive), and read what
         * the command wrote then. Waking on every write as well cost each
         * short trial two more context switches (a fifth of the rank's own
         * time); a command that fills the pipes between wakes, or a kernel
         * without pidfd, is woken by its output. */
        int lazy = pidfd >= 0 && !exited && got < lazy_max;
        got = 0;
        struct pollfd pf[3] = {{eof || lazy ? -1 : pfd[0], POLLIN, 0},
                               {eeof || lazy ? -1 : efd[0], POLLIN, 0},
                               {exited ? -1 : pidfd, POLLIN, 0}};
        struct timespec ts = {0, tune_is_coordinator(r) || pidfd < 0 ? 200000 : 1000000};
        if (!eof || pidfd >= 0)
            ppoll(pf, 3, &ts, NULL);
        else
            tune_nap(r);
        while (!eeof) {
            char eb[4096];
            ssize_t k = read(efd[0], eb, sizeof eb);
            if (k == 0)
                eeof = 1;
            if (k <= 0)
                break;
            got += (size_t)k;
            log_write(&lg, eb, (size_t)k);
            /* a report written to stderr (Python's logging, print to
             * sys.stderr) was never read, and the trial "ended without
             * reporting" with no word of why */
            const char *rp = grank == 0 ? memmem(eb, (size_t)k, "sluice-report", 13) : NULL;
            if (rp && (rp == eb || rp[-1] == '\n') && tune_first(r, TUNE_ONCE_STDERR_REPORT))
                SL_WARN("trial %lld: its program writes 'sluice-report' lines to stderr, where they are not "
                        "read: write them to stdout (see %s)",
                        (long long)job->trial, path);
        }
        if (tail == 1)
            tail = 2;
        for (int last = 0; !last;) {
            if (eof)
                break;
            ssize_t k = read(pfd[0], buf + have, sizeof buf - 1 - have);
            if (k == 0)
                eof = 1;
            if (k < 0 && exited && !eof)
                eof = forced = 1; /* drained after the exit; a background child may hold the pipe */
            if (k > 0) {
                have += (size_t)k;
                got += (size_t)k;
            } else if (eof && have > 0) {
                /* the output ends without a newline (print(..., end='')):
                 * its last line was dropped, a report with it */
                buf[have++] = '\n';
                last = 1;
            } else {
                break;
            }
            char *start = buf, *nl;
            if (longline) {
                /* the rest of a line longer than buf goes to the log as it comes */
                nl = memchr(buf, '\n', have);
                size_t n = nl ? (size_t)(nl + 1 - buf) : have;
                log_write(&lg, buf, n);
                start += n;
                longline = !nl;
            }
            while ((nl = memchr(start, '\n', (size_t)(buf + have - start)))) {
                *nl = '\0';
                if (!strncmp(start, "sluice-report", 13) && (start[13] == ' ' || start[13] == '\t')) {
                    if (grank == 0) {
                        const char *names[TUNE_MAXM];
                        double vals[TUNE_MAXM];
                        size_t ll = (size_t)(nl - start);
                        char small[512], *copy = ll < sizeof small ? small : malloc(ll + 1);
                        if (copy)
                            memcpy(copy, start, ll + 1);
                        int64_t s2 = step;
                        char dropped[400] = "";
                        int n = parse_report(tune_opts(r), start, &s2, names, vals, dropped, sizeof dropped);
                        if (n >= 0 && dropped[0] && tune_first(r, TUNE_ONCE_MANY_METRICS))
                            SL_WARN(
                                "trial %lld reports more metrics than the %d results.csv keeps: %s not taken "
                                "(--metric and --time-attr are kept)",
                                (long long)job->trial, TUNE_MAXM, dropped);
                        if (n >= 0 && s2 <= step) {
                            /* a step's metrics on a second line, or a step
                             * that goes back: the experiment takes a step
                             * once, and such a report was dropped in silence */
                            if (copy) {
                                if (tune_first(r, TUNE_ONCE_STEP_NOT_PAST))
                                    SL_WARN(
                                        "trial %lld reports step %lld after step %lld: a report's step must "
                                        "grow, so it is not taken (give a step's metrics on one line: "
                                        "'%.200s'; "
                                        "see %s)",
                                        (long long)job->trial, (long long)s2, (long long)step, copy, path);
                                copy[ll] = '\n';
                                log_write(&lg, copy, ll + 1);
                            }
                        } else if (n >= 0) {
                            step = s2;
                            int d = tune_report(r, job->trial, step, n, names, vals);
                            if (d != SL_TUNE_CONTINUE && decision == SL_TUNE_CONTINUE)
                                decision = d;
                        } else if (copy) {
                            if (!warned_line++)
                                SL_WARN(
                                    "trial %lld: a malformed report line is not taken: '%.200s' (expected "
                                    "'sluice-report step=<n> <metric>=<number> ...'; see %s)",
                                    (long long)job->trial, copy, path);
                            copy[ll] = '\n';
                            log_write(&lg, copy, ll + 1);
                        }
                        if (copy != small)
                            free(copy);
                    }
                } else {
                    *nl = '\n';
                    log_write(&lg, start, (size_t)(nl + 1 - start));
                }
                start = nl + 1;
            }
            have -= (size_t)(start - buf);
            memmove(buf, start, have);
            if (have == sizeof buf - 1) {
                /* a line longer than buf: it is no report, and went
                 * nowhere (64 KiB of it at a time, the log lost them) */
                log_write(&lg, buf, have);
                longline = 1;
                have = 0;
            }
        }
        if (exited && !eof)
            eof = forced = 1; /* drained once after the exit; a background child may hold the pipe */
        /* A command stopped by us whose leader is gone but whose group
         * still runs (a child between its write and the signal: mv of a
         * checkpoint into place) is waited for, SIGKILL after the grace as
         * for the leader, then up to a second: the job's end prunes the
         * checkpoints after the taken step, and the child's file landed
         * after that and outlived the experiment. The leader stays a
         * zombie meanwhile, so that the group's id is not reused. */
        int group_wait = 0;
        if (!exited && killed && !group_done && leader_gone(pid)) {
            group_wait = group_alive(pid) && !(killed == 2 && sl_now() > kill_at + 1.0);
            group_done = !group_wait;
            if (group_wait)
                usleep(10000); /* the leader's pidfd wakes every poll; a /proc scan each */
        }
        if (!exited && !group_wait) {
            if (sl_guard_reap(guard, pid, 0, &wstatus)) {
                exited = 1;
                tail = !eeof; /* stderr not at its end yet: read it once more */
                continue; /* read what is left before stopping */
            }
        }
        tune_service(r);
        if (grank == 0) {
            int d = tune_decision(r);
            if (gsize > 1 && !failed_on && (failed_on = member_outcomes(gc, job->trial, mout)) > 0)
                d = SL_TUNE_STOP; /* the trial has failed: stop the rest of it */
            if (d != SL_TUNE_CONTINUE && decision == SL_TUNE_CONTINUE)
                decision = d;
            if (decision != SL_TUNE_CONTINUE && !told) {
                int64_t m[2] = {job->trial, decision};
                told = 1;
                for (int q = 1; q < gsize; q++)
                    MPI_Send(m, 2, MPI_INT64_T, q, TAG_GSTOP, gc);
            }
        } else {
            int flag = 0;
            MPI_Status mst;
            MPI_Iprobe(0, TAG_GSTOP, gc, &flag, &mst);
            if (flag) {
                int64_t m[2];
                MPI_Recv(m, 2, MPI_INT64_T, 0, TAG_GSTOP, gc, MPI_STATUS_IGNORE);
                if (m[0] == job->trial && decision == SL_TUNE_CONTINUE)
                    decision = (int)m[1];
            }
        }
        if (sl_stop_requested() && decision == SL_TUNE_CONTINUE && grank == 0 && !exited)
            decision = TUNE_INTERRUPT;
        if (decision != SL_TUNE_CONTINUE && !exited && !killed) {
            kill(-pid, SIGTERM);
            killed = 1;
            kill_at = sl_now() + (double)o->kill_grace;
        } else if (killed == 1 && !exited && sl_now() > kill_at) {
            kill(-pid, SIGKILL);
            killed = 2;
            kill_at = sl_now();
        }
    }
    /* Slurm signals every process of a step, in no set order: the command
     * may die of the stop signal before our own handler has run. Give our
     * signal a moment to arrive before calling that a failure. */
    if (decision == SL_TUNE_CONTINUE && WIFSIGNALED(wstatus) &&
        (WTERMSIG(wstatus) == SIGUSR1 || WTERMSIG(wstatus) == SIGTERM || WTERMSIG(wstatus) == SIGINT))
        for (int i = 0; i < 200 && !sl_stop_requested(); i++)
            usleep(10000);
    if (decision == TUNE_INTERRUPT ||
        (sl_stop_requested() && !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) &&
         decision == SL_TUNE_CONTINUE))
        /* Slurm signals every process of a step: a command killed along
         * with us at a stop is interrupted, not failed */
        *outcome_p = SL_TUNE_END_INTERRUPTED;
    else if (!killed && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        /* not signalled: it ended of its own, before or as a decision on
         * its last report came (which the coordinator may hold already) */
        *outcome_p = SL_TUNE_END_SELF;
    else if (decision != SL_TUNE_CONTINUE)
        *outcome_p = SL_TUNE_END_OK;
    else {
        *outcome_p = SL_TUNE_END_FAILED;
        char m[128];
        int n =
            WIFEXITED(wstatus)
                ? snprintf(m, sizeof m, "sluice: the command exited with status %d\n", WEXITSTATUS(wstatus))
                : snprintf(m, sizeof m, "sluice: the command was killed by signal %d\n", WTERMSIG(wstatus));
        /* without "sluice: the command " and the newline */
        snprintf(how, sizeof how, "%.*s", n > 21 ? n - 21 : 0, m + 20);
        log_file_write(&lg, m, (size_t)n); /* ours, not the command's output */
    }
    /* Nothing of the command is left (no process in its group, both pipes
     * closed by their writers): its directory may go to the next trial if
     * it is empty. A process that left the group (setsid) is not seen. */
    if (gsize == 1 && !forced && eeof && kill(-pid, 0) != 0 && errno == ESRCH)
        tune_trial_dir_reusable(r);
gather:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (efd[0] >= 0)
        close(efd[0]);
    if (pidfd >= 0)
        close(pidfd);
    if (lg.fd >= 0)
        close(lg.fd);
    /* the group's outcome: the leader's, or failed if any copy failed */
    if (gsize > 1) {
        if (grank == 0 && *outcome_p == SL_TUNE_END_FAILED && !told) {
            /* the leader's copy failed or never started: the trial has failed,
             * and the other copies may wait for it for ever (the ranks of a
             * distributed program): they are stopped, not waited for */
            int64_t m[2] = {job->trial, SL_TUNE_STOP};
            for (int q = 1; q < gsize; q++)
                MPI_Send(m, 2, MPI_INT64_T, q, TAG_GSTOP, gc);
        }
        if (grank == 0) {
            /* The other copies end by themselves after the leader's (a
             * distributed program's ranks end together) and are waited for,
             * as srun waits for a step's tasks; but a stop request stops
             * them (a copy that never ends held the job past its time
             * limit's signal), and one still running a minute after the
             * leader's is named, once. */
            double t_end = sl_now();
            int warned_wait = 0;
            for (int q = 1; q < gsize; q++) {
                int64_t m[2] = {-1, mout ? mout[q] : -1};
                MPI_Request rq;
                while (m[1] < 0) {
                    MPI_Irecv(m, 2, MPI_INT64_T, q, TAG_GSTAT, gc, &rq);
                    int done = 0;
                    while (!done) {
                        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
                        if (!done) {
                            tune_service(r);
                            if (sl_stop_requested() && !told) {
                                int64_t im[2] = {job->trial, TUNE_INTERRUPT};
                                told = 1;
                                for (int k = 1; k < gsize; k++)
                                    MPI_Send(im, 2, MPI_INT64_T, k, TAG_GSTOP, gc);
                            }
                            if (!warned_wait && !told && sl_now() - t_end > 60) {
                                warned_wait = 1;
                                SL_WARN(
                                    "trial %lld: the copy on rank %d of its group still runs a minute after "
                                    "the leader's ended; the trial waits for it (see %s/trial.rank%d.log)",
                                    (long long)job->trial, q, job->trial_dir, q);
                            }
                            tune_nap(r);
                        }
                    }
                    if (m[0] != job->trial)
                        m[1] = -1; /* an earlier trial's */
                }
                if (m[1] == SL_TUNE_END_FAILED &&
                    (*outcome_p == SL_TUNE_END_OK || *outcome_p == SL_TUNE_END_SELF)) {
                    *outcome_p = SL_TUNE_END_FAILED;
                    failed_on = failed_on ? failed_on : q;
                }
            }
            if (*outcome_p == SL_TUNE_END_FAILED && failed_on > 0)
                tune_trial_failed_on(r, failed_on);
        } else {
            int64_t m[2] = {job->trial, *outcome_p};
            MPI_Send(m, 2, MPI_INT64_T, 0, TAG_GSTAT, gc);
        }
    }
    /* A command that failed for want of space is, as for the built-in
     * objectives, not the trial's fault: it stays resumable and the
     * experiment stops, rather than every trial after it failing alike and
     * ending errored for good. Its exit status cannot say so; the evidence
     * is (1) its output saying so in its last lines (the leader's copy's),
     * whatever the disk holds now: a command that removed its partial file
     * before it exited left room, and a spent quota leaves the file system
     * with room; or (2) the file system of its directory being full now
     * (under 1 MiB or no inode), whatever the output says: a failed write
     * is not always worded (torch.save says "file write failed"), so a
     * command that failed for another reason on a full disk cannot be told
     * apart. The message then gives how it ended and its last line, for
     * the user to judge; its --resume runs it again. */
    if (grank == 0 && *outcome_p == SL_TUNE_END_FAILED) {
        char last[204], said[204];
        if (log_says_nospace(&lg, last, sizeof last, said, sizeof said)) {
            sl_error(SL_ERR_NOSPACE, "trial %lld: the command failed for want of space: '%s'",
                     (long long)job->trial, said);
            *outcome_p = TUNE_END_NOSPACE;
        } else if (sl_fs_full(job->trial_dir, (uint64_t)1 << 20)) {
            char detail[300] = "";
            if (how[0])
                snprintf(detail, sizeof detail, " (%s%s%s%s)", how, last[0] ? "; its last output: '" : "",
                         last, last[0] ? "'" : "");
            sl_error(SL_ERR_NOSPACE,
                     "trial %lld: the command failed%s while the file system of '%s' is full: taken as want "
                     "of space",
                     (long long)job->trial, detail, job->trial_dir);
            *outcome_p = TUNE_END_NOSPACE;
        }
    }
    (void)failed_start;
    free(mout);
    return SL_OK;
}

const tune_objective_t tune_objective_cmd = {"cmd", cmd_run, NULL};
