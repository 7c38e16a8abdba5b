/* SPDX-License-Identifier: BSD-3-Clause */
/* Experiment state: EXPDIR/experiment.h5 (trial table, reports, searcher and
 * scheduler RNGs) written whole under experiment.h5.tmp and renamed, so the
 * file is always one consistent decision point; results.csv, trials.csv and
 * best.json are rewritten atomically beside it. Only the coordinator writes
 * (MPI_COMM_SELF); a resume checks the file was made with the same space. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NCOL 15

static void pack(const sl_tune_exp_t *e, int64_t i, int64_t *c)
{
    const sl_tune_trial_t *t = &e->t[i];
    int64_t v[NCOL] = {t->id,         t->status,    t->step,      t->target,      t->ckpt_step,
                       t->from_trial, t->from_step, t->best_step, t->nreports,    t->failures,
                       t->rung,       t->bracket,   t->promoted,  e->lastpert[i], e->decision[i]};
    memcpy(c, v, sizeof v);
}

static void unpack(sl_tune_exp_t *e, int64_t i, const int64_t *c)
{
    sl_tune_trial_t *t = &e->t[i];
    t->id = c[0];
    t->status = (int)c[1];
    t->step = c[2];
    t->target = c[3];
    t->ckpt_step = c[4];
    t->from_trial = c[5];
    t->from_step = c[6];
    t->best_step = c[7];
    t->nreports = c[8];
    t->failures = (int)c[9];
    t->rung = (int)c[10];
    t->bracket = (int)c[11];
    t->promoted = (int)c[12];
    e->lastpert[i] = c[13];
    e->decision[i] = (int)c[14];
}

static void csv_num(FILE *f, double v)
{
    if (isnan(v))
        fputs("", f);
    else
        fprintf(f, "%.10g", v);
}

/* A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line
 * break: choice values and reported metric names may. */
static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_text(FILE *f, const char *s)
{
    char *e = sl_json_escape(s);
    fprintf(f, "\"%s\"", e ? e : "");
    free(e);
}

/* A JSON number (shortest text that reads back), null when not finite: a
 * choice value is kept as it was written (".5", "0x10"), which JSON refuses. */
static void json_num(FILE *f, double v)
{
    char b[64];
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    snprintf(b, sizeof b, "%.15g", v);
    if (strtod(b, NULL) != v)
        snprintf(b, sizeof b, "%.17g", v);
    fputs(b, f);
}

static sl_status_t write_text(const char *dir, const char *name, char *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sl_status_t st = sl_file_write_atomic(path, buf, len);
    free(buf);
    return st;
}

/* results.csv: its header and one row a report, made once (a report's
 * row does not change) and kept in e->csv_res; all made again when a
 * metric appears (a column more). */
static sl_status_t results_text(sl_tune_exp_t *e)
{
    char txt[256], *buf = NULL;
    size_t len = 0;
    if (e->csv_nm != e->nmetrics) {
        free(e->csv_res);
        e->csv_res = NULL;
        e->csv_res_len = 0;
        e->csv_nrep = 0;
    }
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return SL_ERR_NOMEM;
    if (!e->csv_res) {
        fputs("trial,step,time", f);
        for (int i = 0; i < e->space.n; i++)
            fprintf(f, ",%s", e->space.p[i].name);
        for (int m = 0; m < e->nmetrics; m++) {
            fputc(',', f);
            csv_text(f, e->mname[m]);
        }
        fputc('\n', f);
    }
    for (int64_t r = e->csv_nrep; r < e->nrep; r++) {
        fprintf(f, "%lld,%lld,%.3f", (long long)e->rep_trial[r], (long long)e->rep_step[r], e->rep_time[r]);
        for (int i = 0; i < e->space.n; i++) {
            sl_tune_value_text(&e->space.p[i], e->rep_par[r * e->space.n + i], txt, sizeof txt);
            fputc(',', f);
            csv_text(f, txt);
        }
        for (int m = 0; m < e->nmetrics; m++) {
            fputc(',', f);
            csv_num(f, e->rep_val[r * TUNE_MAXM + m]);
        }
        fputc('\n', f);
    }
    fclose(f);
    char *all = buf ? realloc(e->csv_res, e->csv_res_len + len + 1) : NULL;
    if (!all) {
        free(buf);
        return SL_ERR_NOMEM;
    }
    memcpy(all + e->csv_res_len, buf, len);
    free(buf);
    e->csv_res = all;
    e->csv_res_len += len;
    e->csv_nrep = e->nrep;
    e->csv_nm = e->nmetrics;
    return SL_OK;
}

/* What a trial's row of trials.csv is made from, and the row: made again
 * only when one of them changed (each write made every row, 0.4 s of rank
 * 0's time a write with 60,000 trials). */
struct tune_csvrow {
    int status, failures;
    int64_t step, nreports;
    double best, last;
    double *params;
    char *text;
    size_t len;
};

static int row_same(const sl_tune_exp_t *e, const struct tune_csvrow *w, const sl_tune_trial_t *t)
{
    return w->text && w->status == t->status && w->failures == t->failures && w->step == t->step &&
           w->nreports == t->nreports && !memcmp(&w->best, &t->best, sizeof w->best) &&
           !memcmp(&w->last, &t->last, sizeof w->last) &&
           (!e->space.n || !memcmp(w->params, t->params, (size_t)e->space.n * sizeof(double)));
}

static sl_status_t trial_row(const sl_tune_exp_t *e, const sl_tune_trial_t *t, struct tune_csvrow *w)
{
    char txt[256], *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return SL_ERR_NOMEM;
    /* step: empty where the trial never reported (as best_ and last_), not -1 */
    fprintf(f, "%lld,%s,", (long long)t->id, sl_tune_status_name(t->status));
    if (t->step >= 0)
        fprintf(f, "%lld", (long long)t->step);
    fprintf(f, ",%lld,%d", (long long)t->nreports, t->failures);
    for (int p = 0; p < e->space.n; p++) {
        sl_tune_value_text(&e->space.p[p], t->params[p], txt, sizeof txt);
        fputc(',', f);
        csv_text(f, txt);
    }
    fputc(',', f);
    csv_num(f, t->best);
    fputc(',', f);
    csv_num(f, t->last);
    fputc('\n', f);
    fclose(f);
    if (!buf)
        return SL_ERR_NOMEM;
    if (!w->params && e->space.n && !(w->params = malloc((size_t)e->space.n * sizeof(double)))) {
        free(buf);
        return SL_ERR_NOMEM;
    }
    free(w->text);
    w->text = buf;
    w->len = len;
    w->status = t->status;
    w->failures = t->failures;
    w->step = t->step;
    w->nreports = t->nreports;
    w->best = t->best;
    w->last = t->last;
    if (e->space.n)
        memcpy(w->params, t->params, (size_t)e->space.n * sizeof(double));
    return SL_OK;
}

void sl_tune__csv_free(sl_tune_exp_t *e)
{
    for (int64_t i = 0; i < e->csv_nrows; i++) {
        free(e->csv_rows[i].params);
        free(e->csv_rows[i].text);
    }
    free(e->csv_rows);
    free(e->csv_res);
    e->csv_rows = NULL;
    e->csv_res = NULL;
    e->csv_nrows = e->csv_nrep = 0;
    e->csv_res_len = 0;
}

static sl_status_t trials_text(sl_tune_exp_t *e, char **out, size_t *outlen)
{
    if (e->csv_nrows < e->n) {
        struct tune_csvrow *w = realloc(e->csv_rows, (size_t)e->n * sizeof *w);
        if (!w)
            return SL_ERR_NOMEM;
        memset(w + e->csv_nrows, 0, (size_t)(e->n - e->csv_nrows) * sizeof *w);
        e->csv_rows = w;
        e->csv_nrows = e->n;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return SL_ERR_NOMEM;
    fputs("trial,status,step,reports,failures", f);
    for (int i = 0; i < e->space.n; i++)
        fprintf(f, ",%s", e->space.p[i].name);
    char bl[80];
    snprintf(bl, sizeof bl, "best_%s", e->conf.metric);
    fputc(',', f);
    csv_text(f, bl);
    snprintf(bl, sizeof bl, "last_%s", e->conf.metric);
    fputc(',', f);
    csv_text(f, bl);
    fputc('\n', f);
    sl_status_t st = SL_OK;
    for (int64_t i = 0; i < e->n && st == SL_OK; i++) {
        struct tune_csvrow *w = &e->csv_rows[i];
        if (!row_same(e, w, &e->t[i]))
            st = trial_row(e, &e->t[i], w);
        if (st == SL_OK)
            fwrite(w->text, 1, w->len, f);
    }
    fclose(f);
    if (st == SL_OK && !buf)
        st = SL_ERR_NOMEM;
    if (st != SL_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *outlen = len;
    return SL_OK;
}

static sl_status_t write_csvs(sl_tune_exp_t *e, const char *dir)
{
    char *buf = NULL, txt[256], path[4096];
    size_t len = 0;
    FILE *f;
    SL_TRY(results_text(e));
    snprintf(path, sizeof path, "%s/results.csv", dir);
    SL_TRY(sl_file_write_atomic(path, e->csv_res, e->csv_res_len));
    SL_TRY(trials_text(e, &buf, &len));
    SL_TRY(write_text(dir, "trials.csv", buf, len));

    int64_t b = sl_tune_exp_best(e);
    if (b < 0)
        return SL_OK;
    if (!(f = open_memstream(&buf, &len)))
        return SL_ERR_NOMEM;
    const sl_tune_trial_t *t = &e->t[b];
    const double *bp = sl_tune__best_params(e, b);
    fprintf(f, "{\"trial\": %lld, \"step\": %lld, \"metric\": ", (long long)b, (long long)t->best_step);
    json_num(f, t->best);
    fputs(", \"metric_name\": ", f);
    json_text(f, e->conf.metric);
    fprintf(f, ", \"mode\": \"%s\", \"params\": {", e->conf.maximize ? "max" : "min");
    for (int i = 0; i < e->space.n; i++) {
        const sl_tune_param_t *p = &e->space.p[i];
        sl_tune_value_text(p, bp[i], txt, sizeof txt);
        int cat = p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID;
        double num = cat ? sl_tune_value_num(p, sl_tune__fix(p, bp[i])) : NAN;
        fprintf(f, "%s\"%s\": ", i ? ", " : "", p->name);
        if (cat && isnan(num))
            json_text(f, txt); /* a word */
        else if (cat)
            json_num(f, num);
        else
            fputs(txt, f);
    }
    fputs("}}\n", f);
    fclose(f);
    return write_text(dir, "best.json", buf, len);
}

sl_status_t sl_tune_exp_save(sl_tune_exp_t *e, const char *dir)
{
    char path[4096], names[TUNE_MAXM * 65] = "";
    snprintf(path, sizeof path, "%s/experiment.h5", dir);
    sl_h5_t *h;
    SL_TRY(sl_h5_create(MPI_COMM_SELF, path, &h));
    sl_status_t st = SL_OK;
    char *space = sl_tune_space_string(&e->space);
    int64_t *cols = malloc((size_t)(e->n + 1) * NCOL * sizeof *cols);
    double *f = malloc((size_t)(e->n + 1) * 2 * sizeof *f);
    double *par = malloc((size_t)(e->n + 1) * (size_t)(e->space.n + 1) * sizeof *par);
    if (!space || !cols || !f || !par) {
        st = SL_ERR_NOMEM;
        goto out;
    }
    for (int m = 0; m < e->nmetrics; m++)
        strcat(strcat(names, m ? "\n" : ""), e->mname[m]);
    const sl_tune_conf_t *c = &e->conf;
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "format", TUNE_FORMAT), out);
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "sluice_version", sl_version()), out);
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "space", space), out);
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "metric", c->metric), out);
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "metrics", names), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "maximize", c->maximize), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "searcher", c->searcher), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "scheduler", c->scheduler), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "seed", (int64_t)c->seed), out);
    if (c->objective[0])
        SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "objective", c->objective), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "max_t", c->max_t), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "min_t", c->min_t), out);
    SL_TRY_GOTO(sl_h5_set_attr_f64(h, "/", "eta", c->eta), out);
    SL_TRY_GOTO(sl_h5_set_attr_str(h, "/", "time_attr", sl_tune__by_step(c) ? "step" : c->time_attr), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "ntrials", e->n), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "nreports", e->nrep), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "finished", sl_tune_exp_finished(e)), out);
    SL_TRY_GOTO(sl_h5_set_attr_f64(h, "/", "elapsed", e->elapsed), out);
    SL_TRY_GOTO(sl_h5_set_attr_i64(h, "/", "spent", e->spent), out);
    SL_TRY_GOTO(sl_h5_write_rng(h, "rng/searcher", e->srng), out);
    SL_TRY_GOTO(sl_h5_write_rng(h, "rng/scheduler", e->xrng), out);
    if (e->n > 0) {
        for (int64_t i = 0; i < e->n; i++) {
            pack(e, i, cols + i * NCOL);
            f[2 * i] = e->t[i].last;
            f[2 * i + 1] = e->t[i].best;
            for (int p = 0; p < e->space.n; p++)
                par[i * e->space.n + p] = e->t[i].params[p];
        }
        uint64_t d2[2] = {(uint64_t)e->n, NCOL};
        SL_TRY_GOTO(sl_h5_write(h, "trials/table", SL_I64, 2, d2, cols), out);
        d2[1] = 2;
        SL_TRY_GOTO(sl_h5_write(h, "trials/last_best", SL_F64, 2, d2, f), out);
        d2[1] = (uint64_t)e->space.n;
        if (e->space.n)
            SL_TRY_GOTO(sl_h5_write(h, "trials/params", SL_F64, 2, d2, par), out);
        d2[1] = TUNE_MAXRUNG;
        SL_TRY_GOTO(sl_h5_write(h, "trials/rung_values", SL_F64, 2, d2, e->rungval), out);
    }
    if (e->nrep > 0) {
        uint64_t d1 = (uint64_t)e->nrep, d2[2] = {(uint64_t)e->nrep, TUNE_MAXM};
        SL_TRY_GOTO(sl_h5_write(h, "reports/trial", SL_I64, 1, &d1, e->rep_trial), out);
        SL_TRY_GOTO(sl_h5_write(h, "reports/step", SL_I64, 1, &d1, e->rep_step), out);
        SL_TRY_GOTO(sl_h5_write(h, "reports/values", SL_F64, 2, d2, e->rep_val), out);
        SL_TRY_GOTO(sl_h5_write(h, "reports/time", SL_F64, 1, &d1, e->rep_time), out);
        d2[1] = (uint64_t)e->space.n;
        if (e->space.n)
            SL_TRY_GOTO(sl_h5_write(h, "reports/params", SL_F64, 2, d2, e->rep_par), out);
    }
out:
    free(space);
    free(cols);
    free(f);
    free(par);
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    SL_TRY(sl_h5_commit(&h, 1));
    return write_csvs(e, dir);
}

/* A space's canonical text for a message: its numbers in the fewest
 * digits that read back the same (0.1, not 0.10000000000000001, the 17
 * digits it is kept in). Free the result; NULL: out of memory. */
static char *space_for_people(const char *text)
{
    size_t n = strlen(text), k = 0;
    char *out = malloc(n + 1);
    for (size_t i = 0; out && i < n;) {
        char *end;
        double v;
        if ((text[i] == '(' || text[i] == ',') && i + 1 < n && text[i + 1] != '\'' &&
            (v = strtod(text + i + 1, &end), end > text + i + 1) && (*end == ',' || *end == ')')) {
            char num[40];
            for (int d = 1; d <= 17; d++) {
                snprintf(num, sizeof num, "%.*g", d, v);
                if (strtod(num, NULL) == v)
                    break;
            }
            size_t m = strlen(num), was = (size_t)(end - (text + i + 1));
            out[k++] = text[i];
            memcpy(out + k, m <= was ? num : text + i + 1, m <= was ? m : was); /* never longer */
            k += m <= was ? m : was;
            i = (size_t)(end - text);
            continue;
        }
        out[k++] = text[i++];
    }
    if (out)
        out[k] = '\0';
    return out;
}

static sl_status_t mismatch(const char *path, const char *what, const char *was, const char *now)
{
    return sl_error(SL_ERR_MISMATCH, "--resume: '%s' was made with another %s (%s, now %s); use a new --out",
                    path, what, was, now);
}

sl_status_t sl_tune_exp_load(const sl_tune_conf_t *conf, sl_tune_space_t *space, const char *dir,
                             sl_tune_exp_t **e_p)
{
    char path[4096], *fmt = NULL, *sp = NULL, *metric = NULL, *names = NULL, *attr = NULL, *obj = NULL;
    snprintf(path, sizeof path, "%s/experiment.h5", dir);
    sl_h5_t *h = NULL;
    sl_tune_exp_t *e = NULL;
    int64_t *cols = NULL;
    double *f = NULL, *par = NULL;
    sl_status_t st = sl_h5_open(MPI_COMM_SELF, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error(SL_ERR_NOT_FOUND, "--resume: '%s' is not a tune experiment (no experiment.h5)", dir);
    SL_TRY(st);
    char *want = sl_tune_space_string(space);
    int64_t maxi = -1, sch = -1, sea = -1, seed = -1, n = 0, nrep = 0;
    if (sl_h5_get_attr_str(h, "/", "format", &fmt) != SL_OK || strcmp(fmt, TUNE_FORMAT)) {
        st = sl_error(SL_ERR_MISMATCH, "--resume: '%s' is not a sluice tune experiment file (format %s)",
                      path, fmt ? fmt : "missing");
        goto out;
    }
    if ((st = sl_h5_get_attr_str(h, "/", "space", &sp)) != SL_OK ||
        (st = sl_h5_get_attr_str(h, "/", "metric", &metric)) != SL_OK ||
        (st = sl_h5_get_attr_str(h, "/", "metrics", &names)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "maximize", &maxi)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "scheduler", &sch)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "searcher", &sea)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "seed", &seed)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "ntrials", &n)) != SL_OK ||
        (st = sl_h5_get_attr_i64(h, "/", "nreports", &nrep)) != SL_OK) {
        st = sl_error(SL_ERR_MISMATCH, "--resume: '%s' lacks experiment attributes", path);
        goto out;
    }
    if (!want || strcmp(sp, want)) {
        char *a = space_for_people(sp), *b = want ? space_for_people(want) : NULL;
        st = mismatch(path, "search space", a ? a : sp, b ? b : want ? want : "?");
        free(a);
        free(b);
        goto out;
    }
    if (strcmp(metric, conf->metric) || maxi != conf->maximize) {
        char was[300], now[300]; /* the mode too: a change of --mode alone read 'loss, now loss' */
        snprintf(was, sizeof was, "%s --mode %s", metric, maxi ? "max" : "min");
        snprintf(now, sizeof now, "%s --mode %s", conf->metric, conf->maximize ? "max" : "min");
        st = mismatch(path, "metric or mode", was, now);
        goto out;
    }
    if (sch != conf->scheduler || sea != conf->searcher || (uint64_t)seed != conf->seed) {
        /* named, with both values, as the other mismatches are */
        static const char *const scheds[] = {"fifo", "asha", "asha-stop", "hyperband", "median", "pbt"};
        static const char *const seas[] = {"grid", "random", "tpe"};
        char was[64], now[64];
        const char *what = "--seed";
        if (sch != conf->scheduler) {
            what = "--scheduler";
            snprintf(was, sizeof was, "%s", sch >= 0 && sch < 6 ? scheds[sch] : "?");
            snprintf(now, sizeof now, "%s", scheds[conf->scheduler]);
        } else if (sea != conf->searcher) {
            what = "--searcher";
            snprintf(was, sizeof was, "%s", sea >= 0 && sea < 3 ? seas[sea] : "?");
            snprintf(now, sizeof now, "%s", seas[conf->searcher]);
        } else {
            snprintf(was, sizeof was, "%llu", (unsigned long long)seed);
            snprintf(now, sizeof now, "%llu", (unsigned long long)conf->seed);
        }
        st = mismatch(path, what, was, now);
        goto out;
    }
    /* a cmd experiment resumed as mlp ran the rest of its trials on
     * another objective, their metrics mixed in one table (files from
     * before the attribute are not checked) */
    if (conf->objective[0] && sl_h5_get_attr_str(h, "/", "objective", &obj) == SL_OK &&
        strcmp(obj, conf->objective)) {
        st = mismatch(path, "--objective", obj, conf->objective);
        goto out;
    }
    /* files from before --time-attr counted steps */
    if (sl_h5_get_attr_str(h, "/", "time_attr", &attr) != SL_OK)
        attr = NULL;
    if (strcmp(attr ? attr : "step", sl_tune__by_step(conf) ? "step" : conf->time_attr)) {
        st = mismatch(path, "--time-attr", attr ? attr : "step",
                      sl_tune__by_step(conf) ? "step" : conf->time_attr);
        goto out;
    }
    /* ASHA and HyperBand hold each trial's rung by its index, and the
     * values recorded there: other rungs (another --max-t, --min-t or
     * --reduction-factor) gave a trial paused at step 4 of --max-t 16 a
     * target of 16 after a resume with --max-t 2, and it ran to 16 */
    if (conf->scheduler == SL_TUNE_ASHA || conf->scheduler == SL_TUNE_ASHA_STOP ||
        conf->scheduler == SL_TUNE_HYPERBAND) {
        int64_t was_max = -1, was_min = -1;
        double was_eta = NAN; /* min_t and eta: absent in older files */
        char was[100] = "", now[100] = "";
        if (sl_h5_get_attr_i64(h, "/", "max_t", &was_max) == SL_OK && was_max != conf->max_t) {
            snprintf(was, sizeof was, "--max-t %lld", (long long)was_max);
            snprintf(now, sizeof now, "--max-t %lld", (long long)conf->max_t);
        } else if (sl_h5_get_attr_i64(h, "/", "min_t", &was_min) == SL_OK && was_min != conf->min_t) {
            snprintf(was, sizeof was, "--min-t %lld", (long long)was_min);
            snprintf(now, sizeof now, "--min-t %lld", (long long)conf->min_t);
        } else if (sl_h5_get_attr_f64(h, "/", "eta", &was_eta) == SL_OK && was_eta != conf->eta) {
            snprintf(was, sizeof was, "--reduction-factor %g", was_eta);
            snprintf(now, sizeof now, "--reduction-factor %g", conf->eta);
        }
        if (was[0]) {
            st = mismatch(path, "rung schedule", was, now);
            goto out;
        }
    }
    SL_TRY_GOTO(sl_tune_exp_create(conf, space, &e), out);
    if (sl_h5_get_attr_f64(h, "/", "elapsed", &e->elapsed) != SL_OK)
        e->elapsed = 0;
    int have_spent = sl_h5_get_attr_i64(h, "/", "spent", &e->spent) == SL_OK;
    SL_TRY_GOTO(sl_h5_read_rng(h, "rng/searcher", e->srng), out);
    SL_TRY_GOTO(sl_h5_read_rng(h, "rng/scheduler", e->xrng), out);
    for (char *s = names, *tok; names[0] && (tok = strsep(&s, "\n"));) {
        snprintf(e->mname[e->nmetrics], sizeof e->mname[0], "%s", tok);
        if (!strcmp(tok, conf->metric))
            e->mcol = e->nmetrics;
        if (!strcmp(tok, conf->time_attr))
            e->acol = e->nmetrics;
        e->nmetrics++;
    }
    int P = e->space.n;
    cols = malloc((size_t)(n + 1) * NCOL * sizeof *cols);
    f = malloc((size_t)(n + 1) * 2 * sizeof *f);
    par = malloc((size_t)(n + 1) * (size_t)(P + 1) * sizeof *par);
    if (!cols || !f || !par) {
        st = SL_ERR_NOMEM;
        goto out;
    }
    if (n > 0) {
        uint64_t d2[2] = {(uint64_t)n, NCOL};
        SL_TRY_GOTO(sl_h5_read(h, "trials/table", SL_I64, 2, d2, cols), out);
        d2[1] = 2;
        SL_TRY_GOTO(sl_h5_read(h, "trials/last_best", SL_F64, 2, d2, f), out);
        d2[1] = (uint64_t)P;
        if (P)
            SL_TRY_GOTO(sl_h5_read(h, "trials/params", SL_F64, 2, d2, par), out);
        for (int64_t i = 0; i < n; i++) {
            if (sl_tune__add_trial(e) != i) {
                st = SL_ERR_NOMEM;
                goto out;
            }
            unpack(e, i, cols + i * NCOL);
            e->t[i].last = f[2 * i];
            e->t[i].best = f[2 * i + 1];
            sl_tune__note_best(e, e->t[i].best); /* against this run's --target */
            for (int p = 0; p < P; p++)
                e->t[i].params[p] = par[i * P + p];
            /* a trial running when the state was written runs again, unless
             * it was decided (below) */
            if (e->t[i].status == SL_TUNE_RUNNING && e->decision[i] == SL_TUNE_CONTINUE) {
                e->t[i].status = SL_TUNE_PENDING;
                e->t[i].group = -1;
            }
        }
        d2[1] = TUNE_MAXRUNG;
        SL_TRY_GOTO(sl_h5_read(h, "trials/rung_values", SL_F64, 2, d2, e->rungval), out);
        e->ri_valid = 0;                               /* the sorted rungs are made from these when needed */
        for (int64_t i = 0; i < n && !have_spent; i++) /* a file from before --budget */
            e->spent += e->t[i].step > 0 ? e->t[i].step : 0;
    }
    if (nrep > 0) {
        uint64_t d1 = (uint64_t)nrep, d2[2] = {(uint64_t)nrep, TUNE_MAXM};
        int64_t *a = malloc((size_t)nrep * sizeof *a), *b = malloc((size_t)nrep * sizeof *b);
        double *v = malloc((size_t)nrep * TUNE_MAXM * sizeof *v), *tm = malloc((size_t)nrep * sizeof *tm);
        if (!a || !b || !v || !tm)
            st = SL_ERR_NOMEM;
        if (st == SL_OK)
            st = sl_h5_read(h, "reports/time", SL_F64, 1, &d1, tm);
        if (st == SL_OK)
            st = sl_h5_read(h, "reports/trial", SL_I64, 1, &d1, a);
        if (st == SL_OK)
            st = sl_h5_read(h, "reports/step", SL_I64, 1, &d1, b);
        if (st == SL_OK)
            st = sl_h5_read(h, "reports/values", SL_F64, 2, d2, v);
        double *pp = malloc((size_t)nrep * (size_t)(P + 1) * sizeof *pp);
        uint64_t dp[2] = {(uint64_t)nrep, (uint64_t)P};
        if (!pp && st == SL_OK)
            st = SL_ERR_NOMEM;
        if (st == SL_OK && P)
            st = sl_h5_read(h, "reports/params", SL_F64, 2, dp, pp);
        for (int64_t r = 0; st == SL_OK && r < nrep; r++) {
            st = sl_tune__add_report(e, a[r], b[r], v + r * TUNE_MAXM);
            if (st == SL_OK) {
                e->rep_time[r] = tm[r];
                double res = sl_tune__rep_res(e, r);
                if (!isnan(res) && a[r] >= 0 && a[r] < e->n)
                    e->t[a[r]].res = res;
                if (P)
                    memcpy(e->rep_par + r * P, pp + r * P, (size_t)P * sizeof(double));
            }
        }
        free(pp);
        free(tm);
        free(a);
        free(b);
        free(v);
    }
    /* a trial paused, stopped or exploited by a report whose job had not
     * ended when the state was written (a kill): the decision stands, as the
     * job's end would have settled it, from the checkpoint of the reported
     * step; run again, it would report nothing new and end done */
    if (st == SL_OK && e->n > 0 && !(e->settled = malloc((size_t)e->n * sizeof *e->settled)))
        st = SL_ERR_NOMEM;
    for (int64_t i = 0; st == SL_OK && i < e->n; i++)
        if (e->t[i].status == SL_TUNE_RUNNING) {
            st = sl_tune_exp_end(e, i, SL_TUNE_END_OK, e->t[i].step);
            e->settled[e->nsettled++] = i;
        }
out:
    sl_h5_close(&h);
    free(want);
    free(fmt);
    free(sp);
    free(metric);
    free(names);
    free(attr);
    free(obj);
    free(cols);
    free(f);
    free(par);
    if (st != SL_OK) {
        sl_tune_exp_destroy(&e);
        return st;
    }
    *e_p = e;
    return SL_OK;
}
