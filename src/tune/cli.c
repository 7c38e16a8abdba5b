/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice tune`: one option table (CLI, --config and its [space] section),
 * checks that every rank makes alike, then the runner. Bad input fails
 * before anything is written under --out; an existing experiment is only
 * continued with --resume. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include "nn.h"
#include "rl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

sl_status_t tune_cmd_check(const char *tpl, const sl_tune_space_t *s, const char **bad_p, int *badlen_p);
/* Local (cmd.c): why the program of a template cannot be started (its
 * first word: a path, or a name looked up in PATH), the word in word; NULL
 * where it can, where a {name} picks the program, or, with a shell, where
 * the first word is the shell's (a keyword, a builtin, shell syntax). */
const char *tune_cmd_program_error(const char *tpl, char *word, size_t len);
sl_status_t tune_run(MPI_Comm comm, const tune_opts_t *o, const tune_objective_t *obj, sl_tune_space_t *space,
                     const sl_tune_conf_t *conf);

#define O(f) offsetof(tune_opts_t, f)
static const sl_opt_t tune_table[] = {
    {"objective", 0, SL_OPT_CHOICE, O(objective), "cmd", 0, 0, "cmd|mlp|ppo", 0, "what a trial runs", NULL},
    {"command", 'c', SL_OPT_STRING, O(command), NULL, 0, 0, NULL, 0,
     "cmd objective: command template; {name} is a parameter's value, also {trial} {trial_dir} {resume} "
     "{max_t}",
     "TEMPLATE"},
    {"space", 's', SL_OPT_LIST, O(space), NULL, 0, 0, NULL, 0,
     "a parameter, e.g. \"lr=loguniform(1e-4,1e-1)\" (repeatable; or a [space] config section): uniform, "
     "quniform, loguniform, qloguniform, randint, qrandint, choice, grid",
     "EXPR"},
    {"searcher", 0, SL_OPT_CHOICE, O(searcher), "random", 0, 0, "grid|random|tpe", 0,
     "how parameters are chosen", NULL},
    {"scheduler", 0, SL_OPT_CHOICE, O(scheduler), "fifo", 0, 0, "fifo|asha|asha-stop|hyperband|median|pbt", 0,
     "when trials are stopped, promoted or perturbed", NULL},
    {"metric", 'm', SL_OPT_STRING, O(metric), NULL, 0, 0, NULL, SL_OPT_REQUIRED,
     "the reported metric to optimise", "NAME"},
    {"mode", 0, SL_OPT_CHOICE, O(mode), "min", 0, 0, "min|max", 0, "minimise or maximise the metric", NULL},
    {"trials", 'n', SL_OPT_INT, O(trials), "0", 0, 1e9, NULL, 0,
     "number of trials (PBT: the population; grid: default the whole grid)", "N"},
    {"budget", 0, SL_OPT_INT, O(budget), "0", 0, 1e15, NULL, 0,
     "trial steps in all (trial-epochs for mlp): once the reports add up to it, running trials stop and "
     "nothing more starts (0: none)",
     "STEPS"},
    {"target", 0, SL_OPT_STRING, O(target), NULL, 0, 0, NULL, 0,
     "end the experiment once a trial's metric reaches X (at or above with --mode max, at or below with "
     "min): running trials stop and nothing more starts",
     "X"},
    {"max-t", 0, SL_OPT_INT, O(max_t), "0", 0, 1e12, NULL, 0,
     "maximum resource of a trial, in steps or --time-attr units (0: as long as it runs; ASHA and "
     "HyperBand need it)",
     "R"},
    {"time-attr", 0, SL_OPT_STRING, O(time_attr), "step", 0, 0, NULL, 0,
     "the resource --max-t, --min-t and --grace-period count: step, time_total_s (seconds the trial has "
     "run) or a reported metric that grows; other than step with fifo, asha-stop and median only",
     "NAME"},
    {"min-t", 0, SL_OPT_INT, O(min_t), "1", 1, 1e12, NULL, 0, "ASHA/HyperBand: minimum resource (first rung)",
     "R"},
    {"reduction-factor", 0, SL_OPT_DOUBLE, O(eta), "0", 0, 1e3, NULL, 0,
     "ASHA/HyperBand reduction factor (0: 4 for ASHA, 3 for HyperBand)", NULL},
    {"grace-period", 0, SL_OPT_INT, O(grace), "1", 0, 1e12, NULL, 0,
     "median: resource before a trial may stop, in steps or --time-attr units", "R"},
    {"min-samples", 0, SL_OPT_INT, O(min_samples), "3", 1, 1e6, NULL, 0, "median: other trials needed", NULL},
    {"perturbation-interval", 0, SL_OPT_INT, O(perturb), "1", 1, 1e12, NULL, 0, "PBT: steps between exploits",
     NULL},
    {"quantile", 0, SL_OPT_DOUBLE, O(quantile), "0.25", 0.01, 0.5, NULL, 0, "PBT: bottom/top quantile", NULL},
    {"resample-probability", 0, SL_OPT_DOUBLE, O(resample_p), "0.25", 0, 1, NULL, 0,
     "PBT: probability of resampling a parameter", NULL},
    {"ranks-per-trial", 'k', SL_OPT_INT, O(rpt), "1", 1, 1e6, NULL, 0, "ranks in each trial's group", "K"},
    {"seed", 0, SL_OPT_INT, O(seed), "1", 0, 4e18, NULL, 0, "random seed of searcher and scheduler", NULL},
    {"max-failures", 0, SL_OPT_INT, O(max_failures), "0", 0, 1e6, NULL, 0, "retries of a failing trial",
     NULL},
    {"keep-checkpoints", 0, SL_OPT_INT, O(keep), "2", 1, 1e6, NULL, 0,
     "checkpoints kept per trial (files checkpoint-<step>* in its directory)", "K"},
    {"kill-grace", 0, SL_OPT_INT, O(kill_grace), "10", 0, 3600, NULL, 0, "seconds from SIGTERM to SIGKILL",
     "SEC"},
    {"out", 'o', SL_OPT_STRING, O(out), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "experiment directory", "EXPDIR"},
    {"resume", 0, SL_OPT_BOOL, O(resume), NULL, 0, 0, NULL, 0, "continue the experiment in EXPDIR", NULL},
    {"data", 0, SL_OPT_STRING, O(data), NULL, 0, 0, NULL, 0, "mlp: training data (HDF5, as sluice train)",
     "FILE"},
    {"eval-data", 0, SL_OPT_STRING, O(eval_data), NULL, 0, 0, NULL, 0, "mlp: evaluation data", "FILE"},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda", 0, "mlp, ppo: device", NULL},
    {"epochs", 0, SL_OPT_INT, O(epochs), "0", 0, 1e6, NULL, 0,
     "mlp: epochs (default --max-t when it counts steps)", NULL},
    {"batch", 0, SL_OPT_INT, O(batch), "128", 1, 1e9, NULL, 0, "mlp: global batch unless tuned", NULL},
    {"lr", 0, SL_OPT_DOUBLE, O(lr), "0.001", 0, 1e3, NULL, 0, "mlp: learning rate unless tuned", NULL},
    {"weight-decay", 0, SL_OPT_DOUBLE, O(wd), "-1", -1, 1e3, NULL, 0,
     "mlp: weight decay unless tuned (weight_decay; -1: the optimiser's default)", NULL},
    {"model", 0, SL_OPT_STRING, O(model), "mlp:784-{width}-10", 0, 0, NULL, 0,
     "mlp: model spec as in sluice train; {name} is a parameter's value", "SPEC"},
    {"optimizer", 0, SL_OPT_CHOICE, O(optim), "adam", 0, 0, "sgd|adam|adamw", 0,
     "mlp: optimiser unless tuned (parameter optimizer)", NULL},
    {"env", 0, SL_OPT_STRING, O(env), "CartPole-v1", 0, 0, NULL, 0, "ppo: environment (as sluice rl train)",
     "NAME"},
    {"iteration-steps", 0, SL_OPT_INT, O(iter_steps), "10000", 1, 1e15, NULL, 0,
     "ppo: environment steps of the trial's group in one step (iteration) of a trial", "N"},
    {"iterations", 0, SL_OPT_INT, O(iterations), "0", 0, 1e12, NULL, 0,
     "ppo: iterations of a trial (default --max-t when it counts steps)", NULL},
    SL_OPT_END,
};
#undef O

static const char *const tune_sections[] = {"space", NULL};

static const sl_cmd_spec_t tune_spec = {
    "tune",
    "tune --objective cmd|mlp|ppo [--command TEMPLATE] --space EXPR... --metric NAME --out EXPDIR [options]",
    "Tunes hyperparameters: each trial runs on a group of --ranks-per-trial ranks; the searcher proposes\n"
    "parameters and the scheduler stops, promotes or perturbs trials from their reports. A cmd trial\n"
    "reports by printing 'sluice-report step=N NAME=VALUE ...' lines. The experiment lives in\n"
    "EXPDIR/experiment.h5 (with results.csv, trials.csv, best.json, and the best checkpoint as best.h5,\n"
    "or best/ when it is a directory or several files); SIGUSR1 or SIGTERM stops it (exit status 75)\n"
    "and --resume continues it.",
    tune_table, tune_sections};

static int choice_index(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

/* Every rank checks the same input: only world rank 0 prints. */
static sl_status_t usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static sl_status_t usage(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sl_log_rank() != 0)
        return SL_ERR_USAGE;
    /* every rank makes these checks alike: rank 0 says it once, naming no rank
     * (sl_error would add "rank 0: " under mpirun) */
    return sl_error_root(MPI_COMM_SELF, SL_ERR_USAGE, "%s", msg);
}

/* Whether option t holds another value than its default (given on the
 * command line or in the config file, or both). */
static int opt_changed(const sl_opt_t *t, const void *opts)
{
    const char *p = (const char *)opts + t->offset;
    switch (t->type) {
    case SL_OPT_INT: return *(const long *)p != (t->def ? strtol(t->def, NULL, 10) : 0);
    case SL_OPT_DOUBLE: return *(const double *)p != (t->def ? strtod(t->def, NULL) : 0);
    case SL_OPT_STRING:
    case SL_OPT_CHOICE: {
        const char *v = *(char *const *)p;
        return t->def ? v && strcmp(v, t->def) : v != NULL;
    }
    default: return 0;
    }
}

/* Options set that the objective or the scheduler does not use: a warning
 * each (they were ignored in silence: --data with cmd, --grace-period with
 * asha, --quantile with fifo). */
static void unused_options(const tune_opts_t *o)
{
    static const struct {
        const char *name, *users; /* objectives or schedulers, "|a|b|" */
        int sched;
    } use[] = {
        {"command", "|cmd|", 0},
        {"data", "|mlp|", 0},
        {"eval-data", "|mlp|", 0},
        {"epochs", "|mlp|", 0},
        {"batch", "|mlp|", 0},
        {"lr", "|mlp|", 0},
        {"weight-decay", "|mlp|", 0},
        {"model", "|mlp|", 0},
        {"optimizer", "|mlp|", 0},
        {"device", "|mlp|ppo|", 0},
        {"env", "|ppo|", 0},
        {"iteration-steps", "|ppo|", 0},
        {"iterations", "|ppo|", 0},
        {"min-t", "|asha|asha-stop|hyperband|", 1},
        {"reduction-factor", "|asha|asha-stop|hyperband|", 1},
        {"grace-period", "|median|", 1},
        {"min-samples", "|median|", 1},
        {"perturbation-interval", "|pbt|", 1},
        {"quantile", "|pbt|", 1},
        {"resample-probability", "|pbt|", 1},
    };
    for (size_t i = 0; i < sizeof use / sizeof use[0]; i++) {
        const char *what = use[i].sched ? o->scheduler : o->objective;
        char key[64];
        snprintf(key, sizeof key, "|%s|", what);
        if (strstr(use[i].users, key))
            continue;
        for (const sl_opt_t *t = tune_table; t->name; t++)
            if (!strcmp(t->name, use[i].name) && opt_changed(t, o)) {
                char users[64];
                snprintf(users, sizeof users, "%s", use[i].users + 1);
                users[strlen(users) - 1] = '\0';
                for (char *b = users; (b = strchr(b, '|'));)
                    *b = ',';
                SL_WARN0("--%s is for --%s %s only: not used with --%s %s", t->name,
                         use[i].sched ? "scheduler" : "objective", users,
                         use[i].sched ? "scheduler" : "objective", what);
            }
    }
    if (!strcmp(o->scheduler, "median") && o->max_t > 0 && o->grace > o->max_t)
        SL_WARN0("--grace-period %ld is past --max-t %ld: the median rule never stops a trial", o->grace,
                 o->max_t);
}

static sl_status_t setup(tune_opts_t *o, sl_opts_info_t *info, sl_tune_space_t *space, sl_tune_conf_t *c,
                         const tune_objective_t **obj)
{
    char where[4200];
    /* the words of the space = lines of [tune], with their lines */
    sl_strlist_t fw = {0};
    int *fline = NULL;
    sl_status_t st = SL_OK;
    for (int i = 0, n = info->config ? sl_config_count(info->config, "tune") : 0; st == SL_OK && i < n; i++) {
        const char *k, *v;
        int line;
        sl_config_entry(info->config, "tune", i, &k, &v, &line);
        if (strcmp(k, "space"))
            continue;
        char *copy = strdup(v), *p = copy;
        st = copy ? SL_OK : SL_ERR_NOMEM;
        for (char *w; st == SL_OK && (w = sl_opts_list_word(&p));) {
            int *fl = realloc(fline, (size_t)(fw.n + 1) * sizeof *fl);
            char **wv = realloc(fw.v, (size_t)(fw.n + 1) * sizeof *wv);
            fline = fl ? fl : fline;
            fw.v = wv ? wv : fw.v;
            if (!fl || !wv || !(fw.v[fw.n] = strdup(w))) {
                st = SL_ERR_NOMEM;
                break;
            }
            fline[fw.n++] = line;
        }
        free(copy);
    }
    /* o->space holds those words when no --space was given: they are the
     * file's, which a [space] line of the same name clashes with, not the
     * command line's, which it gives way to */
    int fromfile = st == SL_OK && fw.n > 0 && fw.n == o->space.n;
    for (int i = 0; fromfile && i < fw.n; i++)
        fromfile = !strcmp(fw.v[i], o->space.v[i]);
    for (int i = 0; st == SL_OK && i < o->space.n; i++)
        st = sl_tune_space_add(space, o->space.v[i], fromfile ? sl_config_path(info->config) : "--space");
    /* space = lines of [tune]: a --space replaced all of them (the command
     * line replaces a repeatable option of the file), so a parameter given
     * in the file only was dropped; each is replaced by the --space of its
     * name only, as a [space] line is (without --space, o->space holds
     * them already: nothing is added) */
    for (int i = 0; st == SL_OK && i < fw.n; i++) {
        const char *w = fw.v[i], *nm = w + strspn(w, " \t");
        size_t len = strcspn(nm, " \t=");
        int given = 0;
        for (int j = 0; j < space->n && !given; j++)
            given = strlen(space->p[j].name) == len && !strncmp(space->p[j].name, nm, len);
        snprintf(where, sizeof where, "%s:%d", sl_config_path(info->config), fline[i]);
        if (!given)
            st = sl_tune_space_add(space, w, where);
    }
    for (int i = 0; i < fw.n; i++)
        free(fw.v[i]);
    free(fw.v);
    free(fline);
    SL_TRY(st);
    if (info->config) {
        int n = sl_config_count(info->config, "space"), ncli = fromfile ? 0 : o->space.n;
        for (int i = 0; i < n; i++) {
            const char *k, *v;
            int line, given = 0;
            sl_config_entry(info->config, "space", i, &k, &v, &line);
            /* the command line overrides the file: a --space of the same name replaces the entry */
            for (int j = 0; j < ncli && !given; j++)
                given = !strcmp(space->p[j].name, k);
            if (given)
                continue;
            size_t len = strlen(k) + strlen(v) + 2;
            char *expr = malloc(len);
            if (!expr)
                return SL_ERR_NOMEM;
            snprintf(expr, len, "%s=%s", k, v);
            snprintf(where, sizeof where, "%s:%d", sl_config_path(info->config), line);
            sl_status_t st = sl_tune_space_add(space, expr, where);
            free(expr);
            SL_TRY(st);
        }
    }
    if (space->n == 0)
        return usage("%s", "no search space: give --space NAME=EXPR or a [space] section in --config");
    /* a cmd trial sees each parameter as SLUICE_PARAM_<NAME in upper case>:
     * two names that differ only in case would give it one variable */
    for (int i = 0; !strcmp(o->objective, "cmd") && i < space->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcasecmp(space->p[i].name, space->p[j].name)) {
                char up[sizeof space->p[i].name];
                size_t k = 0;
                for (; space->p[i].name[k] && k + 1 < sizeof up; k++)
                    up[k] = (char)toupper((unsigned char)space->p[i].name[k]);
                up[k] = '\0';
                return usage("--space: parameters '%s' and '%s' differ only in case: a cmd trial would see "
                             "both as SLUICE_PARAM_%s; rename one",
                             space->p[j].name, space->p[i].name, up);
            }
    /* {trial}, {trial_dir}, {resume} and {max_t} are sluice's: a parameter
     * of one of these names was never substituted, silently */
    static const char *const own[] = {"trial", "trial_dir", "resume", "max_t", NULL};
    for (int i = 0; !strcmp(o->objective, "cmd") && i < space->n; i++)
        for (int k = 0; own[k]; k++)
            if (!strcmp(space->p[i].name, own[k]))
                return usage("--space: parameter '%s' has the name of sluice's {%s} in --command; rename it",
                             own[k], own[k]);
    /* results.csv and trials.csv keep these columns for themselves: a
     * parameter of such a name, or a --metric named like a parameter, gave
     * two columns of one name (which plotting tools rename or drop) */
    static const char *const cols[] = {"trial", "step", "time", "status", "reports", "failures", NULL};
    for (int i = 0; i < space->n; i++) {
        for (int k = 0; cols[k]; k++)
            if (!strcmp(space->p[i].name, cols[k]))
                return usage("--space: parameter '%s' has the name of a column of results.csv or trials.csv "
                             "(trial, step, time, status, reports, failures); rename it",
                             cols[k]);
        if (!strcmp(space->p[i].name, o->metric) || !strcmp(space->p[i].name, o->time_attr))
            return usage("--%s '%s' is also a parameter's name: results.csv would have two columns '%s'; "
                         "rename one",
                         strcmp(space->p[i].name, o->metric) ? "time-attr" : "metric", space->p[i].name,
                         space->p[i].name);
        /* trials.csv has best_<metric> and last_<metric> */
        const char *nm = space->p[i].name;
        if ((!strncmp(nm, "best_", 5) || !strncmp(nm, "last_", 5)) && !strcmp(nm + 5, o->metric))
            return usage("--space: parameter '%s' has the name of a column of trials.csv (best_%s, last_%s); "
                         "rename it",
                         nm, o->metric, o->metric);
    }
    sl_tune_conf_default(c);
    static const char *const searchers[] = {"grid", "random", "tpe", NULL};
    static const char *const scheds[] = {"fifo", "asha", "asha-stop", "hyperband", "median", "pbt", NULL};
    static const sl_tune_scheduler_t sv[] = {SL_TUNE_FIFO,      SL_TUNE_ASHA,   SL_TUNE_ASHA_STOP,
                                             SL_TUNE_HYPERBAND, SL_TUNE_MEDIAN, SL_TUNE_PBT};
    c->searcher = (sl_tune_searcher_t)choice_index(o->searcher, searchers);
    c->scheduler = sv[choice_index(o->scheduler, scheds)];
    unused_options(o);
    if (strlen(o->metric) >= sizeof c->metric || !o->metric[0])
        return usage("--metric '%s': give a name of at most 63 characters", o->metric);
    snprintf(c->metric, sizeof c->metric, "%s", o->metric);
    if (strlen(o->time_attr) >= sizeof c->time_attr || !o->time_attr[0])
        return usage("--time-attr '%s': give a name of at most 63 characters", o->time_attr);
    /* a report line is words NAME=VALUE: a name with a blank or '=' is
     * never in one (every trial ran, and ended without the metric) */
    if (!strcmp(o->objective, "cmd"))
        for (int k = 0; k < 2; k++) {
            const char *nm = k ? o->time_attr : o->metric;
            if (nm[strcspn(nm, " \t\r\n=")])
                return usage("--%s '%s': a 'sluice-report' line cannot carry a name with a blank or '=' "
                             "(its words are NAME=VALUE)",
                             k ? "time-attr" : "metric", nm);
        }
    snprintf(c->time_attr, sizeof c->time_attr, "%s", o->time_attr);
    /* trial, step and time are results.csv's own columns (a report's step=
     * is its step, never a metric): a --metric of one of these names gave
     * two columns of one name, or was never found */
    if (!strcmp(o->metric, "trial") || !strcmp(o->metric, "step") || !strcmp(o->metric, "time"))
        return usage("--metric '%s' has the name of a column of results.csv (trial, step, time): a report's "
                     "'%s' cannot be the metric; rename it",
                     o->metric, o->metric);
    if (!strcmp(o->time_attr, "trial") || !strcmp(o->time_attr, "time"))
        return usage("--time-attr '%s' has the name of a column of results.csv (trial, step, time): a "
                     "report's '%s' cannot be the resource; rename it (time_total_s: the seconds a trial "
                     "has run)",
                     o->time_attr, o->time_attr);
    int by_step = sl_tune__by_step(c);
    if (!by_step && !sl_tune__time_attr_ok(c->scheduler))
        return usage("--time-attr %s with --scheduler %s: only fifo, asha-stop and median count another "
                     "resource than steps (asha, hyperband and pbt resume trials at a step)",
                     o->time_attr, o->scheduler);
    if (!by_step && !strcmp(o->time_attr, o->metric))
        return usage("--time-attr %s is the --metric; give a resource that grows as the trial runs",
                     o->time_attr);
    c->maximize = !strcmp(o->mode, "max");
    c->trials = o->trials;
    c->budget = o->budget;
    if (o->target) {
        char *end;
        errno = 0;
        c->target = strtod(o->target, &end);
        if (end == o->target || *end || errno || !isfinite(c->target))
            return usage("--target '%s' is not a number", o->target);
    }
    c->max_t = o->max_t;
    c->min_t = o->min_t;
    c->eta = o->eta > 0 ? o->eta : c->scheduler == SL_TUNE_HYPERBAND ? 3 : 4;
    c->grace = o->grace;
    c->min_samples = (int)o->min_samples;
    c->perturb = o->perturb;
    c->quantile = o->quantile;
    c->resample_p = o->resample_p;
    /* PBT: a parameter that shapes the model ({name} in --model) stays the
     * donor's, or the checkpoint a trial takes over would not fit; so does
     * the optimizer, whose state the checkpoint holds */
    for (int i = 0; !strcmp(o->objective, "mlp") && i < space->n && i < 64; i++)
        if (tune_mlp_shapes(o, space->p[i].name) || !strcmp(space->p[i].name, "optimizer"))
            c->pbt_keep |= (uint64_t)1 << i;
    for (int i = 0, shape = 0; !strcmp(o->objective, "ppo") && i < space->n && i < 64; i++)
        if (tune_ppo_known(space->p[i].name, &shape) && shape)
            c->pbt_keep |= (uint64_t)1 << i;
    c->max_failures = (int)o->max_failures;
    c->seed = (uint64_t)o->seed;
    snprintf(c->objective, sizeof c->objective, "%s", o->objective);
    if (c->searcher == SL_TUNE_SEARCH_GRID) {
        for (int i = 0; i < space->n; i++)
            if (space->p[i].kind != SL_TUNE_GRID && space->p[i].kind != SL_TUNE_CHOICE)
                return usage(
                    "--searcher grid: parameter '%s' is not grid(...) or choice(...); grid search needs "
                    "finite values",
                    space->p[i].name);
    } else if (c->trials <= 0) {
        return usage("--trials N is needed with --searcher %s", o->searcher);
    }
    if ((c->scheduler == SL_TUNE_ASHA || c->scheduler == SL_TUNE_ASHA_STOP ||
         c->scheduler == SL_TUNE_HYPERBAND) &&
        (c->max_t <= 0 || c->min_t > c->max_t))
        return usage("--scheduler %s needs --max-t R (the maximum resource of a trial) at least --min-t",
                     o->scheduler);
    if (o->eta != 0 && o->eta <= 1)
        return usage("%s", "--reduction-factor must be above 1");
    if (!strcmp(o->objective, "cmd")) {
        /* blank too: every trial failed with "the command is empty" */
        if (!o->command || !o->command[strspn(o->command, " \t\n")])
            return usage("%s", "--objective cmd needs --command TEMPLATE");
        const char *bad = NULL;
        int badlen = 0;
        sl_status_t st = tune_cmd_check(o->command, space, &bad, &badlen);
        if (st == SL_ERR_USAGE)
            return usage("--command '%s': a '{' without a closing '}' (write {{ for a brace)", o->command);
        /* named, with the way out: a shell or awk brace ('{print $1}') was
         * refused without saying which one, nor that {{ }} escape it */
        if (st != SL_OK)
            return usage("--command '%s': %.*s names something in {} that is not a parameter nor trial, "
                         "trial_dir, resume, max_t (write {{ and }} for literal braces)",
                         o->command, badlen, bad);
        *obj = &tune_objective_cmd;
    } else if (!strcmp(o->objective, "ppo")) {
        *obj = &tune_objective_ppo;
        char names[256];
        if (!sl_rl_env_find(o->env))
            return usage("--env '%s': unknown environment (%s)", o->env,
                         sl_rl_env_names(names, sizeof names));
        for (int i = 0; i < space->n; i++) {
            const sl_tune_param_t *p = &space->p[i];
            if (!tune_ppo_known(p->name, NULL))
                return usage(
                    "parameter '%s' is not used by the ppo objective (tune lr, gamma, gae_lambda, clip, "
                    "ent_coef, vf_coef, max_grad_norm, update_epochs, minibatches, num_steps, "
                    "envs_per_rank, hidden, log_std_init)",
                    p->name);
            /* hidden takes words ("64-64"), the others numbers */
            int cat = p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID, hid = !strcmp(p->name, "hidden");
            int bad = hid && !cat;
            for (int k = 0; cat && !hid && k < p->nvalues; k++)
                bad |= !isfinite(p->numvalues[k]);
            if (bad)
                return usage(
                    "parameter '%s' cannot set the ppo option: hidden takes choice(...) or grid(...) of "
                    "layer widths such as 64-64, the others numbers",
                    p->name);
        }
        /* a metric the objective never reports would fail every trial */
        if (strcmp(o->metric, "return_mean") && strcmp(o->metric, "env_steps") &&
            strcmp(o->metric, "episodes") && strcmp(o->metric, "sps"))
            return usage("--metric %s: the ppo objective reports return_mean, env_steps, episodes and sps",
                         o->metric);
        if (o->iterations <= 0 && (o->max_t <= 0 || !by_step))
            return usage("--objective ppo%s needs --iterations N (the iterations of a trial%s)",
                         by_step ? "" : " with --time-attr", by_step ? "; or --max-t" : "");
    } else {
        *obj = &tune_objective_mlp;
        if (!o->data)
            return usage("%s", "--objective mlp needs --data FILE (and --eval-data FILE for accuracy)");
        const char *bad = NULL, *value = NULL;
        sl_status_t mst = tune_mlp_check(o, space, &bad, &value);
        if (mst == SL_ERR_INVALID && !strchr(bad, '}'))
            return usage("--model '%s': a '{' without a closing '}'", o->model);
        if (mst == SL_ERR_INVALID)
            return usage("--model '%s' names in {} '%.*s', which is not a parameter of the space (--space)",
                         o->model, (int)(strchr(bad, '}') - bad - 1), bad + 1);
        if (mst == SL_ERR_NUMERIC)
            return usage("parameter '%s' shapes --model as {%s}: it needs whole numbers (randint, qrandint, "
                         "choice, grid, or a q-variant with a whole step), not a continuous range",
                         bad, bad);
        if (mst == SL_ERR_UNSUPPORTED)
            return usage(
                "parameter '%s' shapes --model as {%s}: a layer width takes whole numbers of 1 to %d, "
                "not %s",
                bad, bad, 1 << 24, value);
        if (mst == SL_ERR_MISMATCH)
            return usage(
                "parameter '%s' cannot set the mlp option: optimizer takes choice(...) or grid(...) of "
                "sgd, adam, adamw, batch numbers of at least 1, and lr, weight_decay and momentum numbers",
                bad);
        if (mst != SL_OK)
            return usage(
                "parameter '%s' is not used by the mlp objective (tune lr, weight_decay, momentum, batch, "
                "optimizer, or name it as {%s} in --model)",
                bad, bad);
        /* a {name} of --model named like a metric the objective reports:
         * results.csv cannot have both columns, and the metric was dropped */
        for (int i = 0; i < space->n; i++)
            if (!strcmp(space->p[i].name, "train_loss") || !strcmp(space->p[i].name, "accuracy") ||
                !strcmp(space->p[i].name, "loss"))
                return usage("parameter '%s' has the name of a metric the mlp objective reports (train_loss, "
                             "accuracy, loss); rename it",
                             space->p[i].name);
        /* momentum is SGD's: tuned beside adam or adamw alone, its trials
         * differ in nothing it sets, and the search spends draws on it */
        int mom = -1, sgd = !strcmp(o->optim, "sgd"), tuned = 0;
        for (int i = 0; i < space->n; i++) {
            const sl_tune_param_t *p = &space->p[i];
            if (!strcmp(p->name, "momentum") && !tune_mlp_shapes(o, p->name))
                mom = i;
            if (!strcmp(p->name, "optimizer")) {
                sgd = 0;
                tuned = 1;
                for (int k = 0; k < p->nvalues; k++)
                    sgd |= !strcmp(p->values[k], "sgd");
            }
        }
        if (mom >= 0 && !sgd)
            SL_WARN0(
                "parameter 'momentum' is tuned, but the optimiser is never sgd (%s): adam and adamw do not "
                "use momentum, so it changes nothing in a trial",
                tuned ? "parameter optimizer" : "--optimizer");
        /* a metric the objective never reports would fail every trial */
        if (strcmp(o->metric, "train_loss") &&
            (!o->eval_data || (strcmp(o->metric, "accuracy") && strcmp(o->metric, "loss"))))
            return usage("--metric %s: the mlp objective reports train_loss%s", o->metric,
                         o->eval_data ? ", accuracy and loss"
                                      : " (accuracy and loss of --eval-data FILE: give it for those)");
        if (o->max_t <= 0 && o->epochs <= 0)
            return usage("%s", "--objective mlp needs --max-t or --epochs (epochs of a trial)");
        if (!by_step && o->epochs <= 0)
            return usage("--objective mlp with --time-attr %s needs --epochs (--max-t counts %s)",
                         o->time_attr, o->time_attr);
    }
    /* an existing experiment is continued only when asked */
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/experiment.h5", o->out);
    if (!o->resume && stat(path, &sb) == 0)
        return usage("'%s' already holds an experiment: add --resume to continue it, or choose a new --out",
                     o->out);
    if (o->resume && stat(path, &sb) != 0)
        return usage("--resume: '%s' is not a tune experiment (no experiment.h5)", o->out);
    return SL_OK;
}

/* Collective: a rank's failed check (why, or NULL) as one line "what 'name':
 * why", without a rank when every rank failed it. */
static sl_status_t agree_check(MPI_Comm comm, const char *why, const char *what, const char *name)
{
    int bad = why != NULL, all = 0;
    if (MPI_Allreduce(&bad, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return sl_error(SL_ERR_MPI, "checking %s: MPI_Allreduce failed", what);
    if (!bad)
        return SL_OK;
    if (all)
        return sl_error_root(comm, SL_ERR_NOT_FOUND, "%s '%s': %s", what, name, why);
    return sl_error(SL_ERR_NOT_FOUND, "%s '%s': %s", what, name, why);
}

/* Collective. A data set of --objective mlp must be a readable file before
 * anything is written under --out: a missing one failed every trial, two lines
 * each, and left an experiment in EXPDIR that the corrected command refused.
 * One line, without a rank when every rank misses it. */
static sl_status_t data_check(MPI_Comm comm, const char *opt, const char *path)
{
    struct stat sb;
    const char *why = NULL;
    if (stat(path, &sb) != 0 || access(path, R_OK) != 0)
        why = strerror(errno);
    else if (S_ISDIR(sb.st_mode))
        why = strerror(EISDIR);
    return agree_check(comm, why, opt, path);
}

/* Collective. --model against --data and --eval-data, with every
 * parameter at one value of its range (the first choice, the low bound):
 * a model whose inputs or outputs do not match the data failed every
 * trial, and left an EXPDIR that the corrected command refused. A spec
 * that does not build is left to the trials, which say why. */
static sl_status_t model_check(MPI_Comm comm, const tune_opts_t *o, const sl_tune_space_t *s)
{
    double *x = calloc((size_t)s->n + 1, sizeof *x);
    char spec[1024];
    if (!x)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n; i++)
        x[i] = s->p[i].kind == SL_TUNE_CHOICE || s->p[i].kind == SL_TUNE_GRID
                   ? 0
                   : sl_tune__fix(&s->p[i], s->p[i].lo);
    tune_mlp_model_spec(o->model, s, x, spec, sizeof spec);
    free(x);
    sl_nn_t *nn = NULL;
    int lvl = sl_log_level_g;
    sl_log_set_level(SL_LOG_NONE);
    int built = sl_nn_create(spec, SL_NN_CPU, 1, &nn) == SL_OK, all = 0;
    sl_log_set_level((sl_log_level_t)lvl);
    int in = built ? sl_nn_in_features(nn) : 0, out = built ? sl_nn_out_features(nn) : 0;
    sl_nn_destroy(&nn);
    MPI_Allreduce(&built, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all)
        return SL_OK;
    sl_nn_data_t *d = NULL;
    sl_status_t st = SL_OK;
    const char *paths[2] = {o->data, o->eval_data}, *opts[2] = {"--data", "--eval-data"};
    int tw0 = 0; /* --data's target width */
    for (int i = 0; i < 2 && st == SL_OK && paths[i]; i++) {
        if ((st = sl_nn_data_open(comm, paths[i], &d)) != SL_OK)
            return st; /* said: every trial would fail on it */
        int f = sl_nn_data_features(d), tw = sl_nn_data_target_width(d);
        sl_nn_data_close(&d);
        if (f != in)
            st = sl_error_root(comm, SL_ERR_INVALID,
                               "--model '%s' takes %d features per sample (as '%s'), %s '%s' has %d",
                               o->model, in, spec, opts[i], paths[i], f);
        else if (tw && tw != out)
            st = sl_error_root(comm, SL_ERR_INVALID,
                               "--model '%s' has %d outputs (as '%s'), %s '%s' has %d targets per sample",
                               o->model, out, spec, opts[i], paths[i], tw);
        else if (i == 1 && tw != tw0)
            st = sl_error_root(comm, SL_ERR_INVALID, "--eval-data '%s' has %s, --data '%s' %s", paths[1],
                               tw ? "float targets" : "int32 labels", paths[0],
                               tw0 ? "float targets" : "int32 labels");
        tw0 = tw;
    }
    return st;
}

/* Collective. --resume: the parameters put in the order experiment.h5
 * has them, when they are the same ones (the order follows the command
 * line, then the config file: a --space that replaced a [space] line, or
 * --space options in another order, were "another search space", and the
 * experiment could not be resumed). Anything else is left for
 * sl_tune_exp_load to refuse. conf->pbt_keep follows its parameters. */
static sl_status_t resume_order(MPI_Comm comm, const char *out, sl_tune_space_t *space, sl_tune_conf_t *c)
{
    int rank, n = space->n;
    long len = -1;
    char *saved = NULL;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        char path[4200];
        sl_h5_t *h = NULL;
        snprintf(path, sizeof path, "%s/experiment.h5", out);
        if (sl_h5_try_open(MPI_COMM_SELF, path, &h) == SL_OK &&
            sl_h5_get_attr_str(h, "/", "space", &saved) == SL_OK)
            len = (long)strlen(saved);
        sl_h5_close(&h);
    }
    if (MPI_Bcast(&len, 1, MPI_LONG, 0, comm) != MPI_SUCCESS)
        return sl_error(SL_ERR_MPI, "--resume: MPI_Bcast failed");
    if (len < 0 || len > INT_MAX - 1)
        return SL_OK; /* sl_tune_exp_load says what is wrong */
    if (rank != 0)
        saved = malloc((size_t)len + 1);
    int *perm = malloc((size_t)(n + 1) * sizeof *perm), *used = calloc((size_t)n + 1, sizeof *used);
    sl_tune_param_t *p = malloc((size_t)(n + 1) * sizeof *p);
    int ok = saved && perm && used && p, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (all)
        MPI_Bcast(saved, (int)len + 1, MPI_CHAR, 0, comm);
    /* the saved text is each parameter's canonical text, joined by ';' (a
     * choice's value may hold one: matched whole, not split) */
    int k = 0;
    for (size_t pos = 0; ok && all && k < n;) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            sl_tune_space_t one = {1, &space->p[i]};
            char *t = used[i] ? NULL : sl_tune_space_string(&one);
            size_t tl = t ? strlen(t) : 0;
            if (t && !strncmp(saved + pos, t, tl) && (saved[pos + tl] == ';' || saved[pos + tl] == '\0')) {
                found = i;
                pos += tl + (saved[pos + tl] == ';');
            }
            free(t);
        }
        if (found < 0)
            ok = 0;
        else
            used[perm[k++] = found] = 1;
        if (k == n && saved[pos])
            ok = 0;
    }
    ok = ok && all && k == n;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (all) {
        uint64_t keep = 0;
        for (int i = 0; i < n; i++) {
            p[i] = space->p[perm[i]];
            if (perm[i] < 64 && i < 64 && (c->pbt_keep >> perm[i] & 1))
                keep |= (uint64_t)1 << i;
        }
        memcpy(space->p, p, (size_t)n * sizeof *p);
        c->pbt_keep = keep;
    }
    free(p);
    free(perm);
    free(used);
    free(saved);
    return SL_OK;
}

sl_status_t sl_cmd_tune(MPI_Comm comm, int argc, char **argv)
{
    tune_opts_t o;
    sl_opts_info_t info;
    memset(&o, 0, sizeof o);
    SL_TRY(sl_opts_parse(&tune_spec, &o, argc, argv, &info));
    sl_status_t st = SL_OK;
    if (!info.help) {
        sl_tune_space_t space = {0};
        sl_tune_conf_t conf;
        const tune_objective_t *obj = NULL;
        st = setup(&o, &info, &space, &conf, &obj);
        /* every rank parsed the same input, but a file check could differ */
        st = sl_agree(comm, st);
        if (st == SL_OK && !strcmp(o.objective, "mlp")) {
            /* both checks on every rank: each is collective */
            sl_status_t dst = data_check(comm, "--data", o.data);
            sl_status_t est = o.eval_data ? data_check(comm, "--eval-data", o.eval_data) : SL_OK;
            st = sl_agree(comm, dst != SL_OK ? dst : est);
            if (st == SL_OK)
                st = model_check(comm, &o, &space);
        }
        /* the same for the program of --command, where it can be told
         * (its first word, when not the shell's): each trial failed to
         * start it, or ended with the shell's 127 */
        if (st == SL_OK && !strcmp(o.objective, "cmd")) {
            char word[1024], what[1100];
            const char *why = tune_cmd_program_error(o.command, word, sizeof word);
            snprintf(what, sizeof what, "--command '%s': cannot run", o.command);
            st = sl_agree(comm, agree_check(comm, why, what, word));
        }
        /* --device cuda without a GPU: every trial failed on it, two lines
         * each, and the EXPDIR left behind refused the corrected command */
        if (st == SL_OK && strcmp(o.objective, "cmd") && !strcmp(o.device, "cuda") &&
            sl_agree(comm, sl_nn_device_check(SL_NN_CUDA)) != SL_OK)
            st = sl_error_root(comm, SL_ERR_UNSUPPORTED, "--device cuda: no CUDA device%s",
#ifdef SL_HAVE_CUDA
                               " on this node"
#else
                               " support in this build (configure found no CUDA)"
#endif
            );
        if (st == SL_OK && o.resume)
            st = resume_order(comm, o.out, &space, &conf);
        if (st == SL_OK)
            st = tune_run(comm, &o, obj, &space, &conf);
        sl_tune_space_fini(&space);
    }
    sl_config_destroy(&info.config);
    sl_opts_free(tune_table, &o);
    return st;
}
