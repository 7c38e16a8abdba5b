/* SPDX-License-Identifier: BSD-3-Clause */
/* Search spaces: "name=kind(args)" expressions from --space or a [space]
 * config section. The parser is a hand-written scanner so that every error
 * can name the expression and the 1-based position where it went wrong. */
#include "config.h"
#include "tune_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s, *where;
    size_t i;
} scan_t;

/* Every rank parses the same text: only world rank 0 prints, naming no rank
 * (sl_error adds "rank 0: " under mpirun). Without MPI (a local caller of
 * sl_tune_space_add) there is no rank to name. */
static sl_status_t perr(scan_t *sc, const char *what)
{
    if (sl_log_rank() != 0)
        return SL_ERR_USAGE;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s: space expression '%s': at position %zu: %s", sc->where, sc->s, sc->i + 1,
             what);
    int live = 0, done = 0;
    MPI_Initialized(&live);
    MPI_Finalized(&done);
    if (live && !done)
        return sl_error_root(MPI_COMM_SELF, SL_ERR_USAGE, "%s", msg);
    return sl_error(SL_ERR_USAGE, "%s", msg);
}

static void skip(scan_t *sc)
{
    while (isspace((unsigned char)sc->s[sc->i]))
        sc->i++;
}

static int ident(scan_t *sc, char *buf, size_t len)
{
    size_t n = 0;
    skip(sc);
    if (!(isalpha((unsigned char)sc->s[sc->i]) || sc->s[sc->i] == '_'))
        return 0;
    while (isalnum((unsigned char)sc->s[sc->i]) || sc->s[sc->i] == '_') {
        if (n + 1 < len)
            buf[n++] = sc->s[sc->i];
        sc->i++;
    }
    buf[n] = '\0';
    return 1;
}

/* One argument as text: quoted string, or a run up to ',' or ')'. */
static sl_status_t arg(scan_t *sc, char **out)
{
    skip(sc);
    size_t start = sc->i;
    char q = sc->s[sc->i];
    if (q == '\'' || q == '"') {
        sc->i++;
        size_t b = sc->i;
        while (sc->s[sc->i] && sc->s[sc->i] != q)
            sc->i++;
        if (!sc->s[sc->i]) {
            sc->i = start;
            return perr(sc, "unterminated quoted value");
        }
        *out = strndup(sc->s + b, sc->i - b);
        sc->i++;
    } else {
        while (sc->s[sc->i] && sc->s[sc->i] != ',' && sc->s[sc->i] != ')')
            sc->i++;
        size_t e = sc->i;
        while (e > start && isspace((unsigned char)sc->s[e - 1]))
            e--;
        if (e == start)
            return perr(sc, "expected a value");
        *out = strndup(sc->s + start, e - start);
    }
    return *out ? SL_OK : SL_ERR_NOMEM;
}

static int tonum(const char *t, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(t, &end);
    return end != t && *end == '\0' && errno == 0 && isfinite(*v);
}

void sl_tune_space_fini(sl_tune_space_t *s)
{
    for (int i = 0; i < s->n; i++) {
        for (int j = 0; j < s->p[i].nvalues; j++)
            free(s->p[i].values[j]);
        free(s->p[i].values);
        free(s->p[i].numvalues);
    }
    free(s->p);
    s->p = NULL;
    s->n = 0;
}

sl_status_t sl_tune_space_add(sl_tune_space_t *s, const char *expr, const char *where)
{
    scan_t sc = {expr, where, 0};
    sl_tune_param_t p;
    char kind[32];
    char *args[256];
    size_t argpos[256];
    int nargs = 0;
    sl_status_t st = SL_OK;
    memset(&p, 0, sizeof p);
    skip(&sc);
    size_t npos = sc.i;
    if (!ident(&sc, p.name, sizeof p.name))
        return perr(&sc, "expected a parameter name");
    /* cut to 63 characters, it no longer matched its {name} in --command or
     * --model, which was refused as "not a parameter" */
    if (sc.i - npos >= sizeof p.name) {
        sc.i = npos + sizeof p.name - 1;
        return perr(&sc, "a parameter name has at most 63 characters");
    }
    skip(&sc);
    if (expr[sc.i] != '=')
        return perr(&sc, "expected '=' after the parameter name");
    sc.i++;
    size_t kpos = sc.i;
    skip(&sc);
    kpos = sc.i;
    if (!ident(&sc, kind, sizeof kind))
        return perr(&sc,
                    "expected a distribution (uniform, quniform, loguniform, qloguniform, randint, qrandint, "
                    "choice, grid)");
    skip(&sc);
    if (expr[sc.i] != '(')
        return perr(&sc, "expected '('");
    sc.i++;
    skip(&sc);
    if (expr[sc.i] == ')') {
        sc.i++;
    } else {
        for (;;) {
            if (nargs == 256)
                return perr(&sc, "too many values (at most 256)");
            skip(&sc);
            argpos[nargs] = sc.i;
            if ((st = arg(&sc, &args[nargs])) != SL_OK)
                goto out;
            nargs++;
            skip(&sc);
            if (expr[sc.i] == ',') {
                sc.i++;
                continue;
            }
            if (expr[sc.i] == ')') {
                sc.i++;
                break;
            }
            st = perr(&sc, "expected ',' or ')'");
            goto out;
        }
    }
    skip(&sc);
    if (expr[sc.i]) {
        st = perr(&sc, "unexpected text after ')'");
        goto out;
    }
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->p[i].name, p.name)) {
            sc.i = 0;
            st = perr(&sc, "parameter defined twice");
            goto out;
        }
    int quant = kind[0] == 'q';
    const char *base = quant ? kind + 1 : kind;
    if (!strcmp(kind, "choice") || !strcmp(kind, "grid")) {
        p.kind = kind[0] == 'c' ? SL_TUNE_CHOICE : SL_TUNE_GRID;
        if (nargs == 0) {
            sc.i = kpos;
            st = perr(&sc, p.kind == SL_TUNE_GRID ? "empty grid: give at least one value"
                                                  : "empty choice: give at least one value");
            goto out;
        }
        p.values = calloc((size_t)nargs, sizeof *p.values);
        p.numvalues = calloc((size_t)nargs, sizeof *p.numvalues);
        if (!p.values || !p.numvalues) {
            st = SL_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < nargs; i++) {
            for (int j = 0; j < i; j++)
                if (!strcmp(args[j], args[i])) {
                    sc.i = argpos[i];
                    st = perr(&sc, "value listed twice");
                    free(p.values);
                    free(p.numvalues);
                    goto out;
                }
            p.values[i] = args[i];
            if (!tonum(args[i], &p.numvalues[i]))
                p.numvalues[i] = NAN;
        }
        p.nvalues = nargs;
        nargs = 0;
    } else if (!strcmp(base, "uniform") || !strcmp(base, "loguniform") || !strcmp(base, "randint")) {
        p.kind = base[0] == 'u' ? SL_TUNE_UNIFORM : base[0] == 'l' ? SL_TUNE_LOGUNIFORM : SL_TUNE_RANDINT;
        int want = quant ? 3 : 2;
        if (nargs != want) {
            sc.i = kpos;
            char msg[128];
            snprintf(msg, sizeof msg, "%s takes %d numbers (%s), not %d", kind, want,
                     quant ? "low, high, step" : "low, high", nargs);
            st = perr(&sc, msg);
            goto out;
        }
        double v[3];
        for (int i = 0; i < nargs; i++)
            if (!tonum(args[i], &v[i])) {
                sc.i = argpos[i];
                st = perr(&sc, "expected a number");
                goto out;
            }
        p.lo = v[0];
        p.hi = v[1];
        p.q = quant ? v[2] : 0;
        if (!(p.lo < p.hi) && !(p.kind == SL_TUNE_RANDINT && p.lo == p.hi)) {
            sc.i = argpos[1];
            st = perr(&sc, "the upper bound must be above the lower bound");
            goto out;
        }
        if (p.kind == SL_TUNE_LOGUNIFORM && p.lo <= 0) {
            sc.i = argpos[0];
            st = perr(&sc, "loguniform needs a positive lower bound");
            goto out;
        }
        if (p.kind == SL_TUNE_RANDINT && (p.lo != floor(p.lo) || p.hi != floor(p.hi))) {
            sc.i = argpos[p.lo != floor(p.lo) ? 0 : 1];
            st = perr(&sc, "randint bounds must be integers");
            goto out;
        }
        /* values are doubles: integers past 2^53 are not all there
         * (randint(0,1e300) printed -9223372036854775808 for every draw), a
         * range past the largest double is infinite (uniform(-1e308,1e308)
         * drew 1e308 every time), and lo + k q with more than 2^53 steps
         * cannot be told apart (quniform(0,1e300,1)) */
        if (p.kind == SL_TUNE_RANDINT && (fabs(p.lo) > 0x1p53 || fabs(p.hi) > 0x1p53)) {
            sc.i = argpos[fabs(p.lo) > 0x1p53 ? 0 : 1];
            st = perr(&sc, "randint bounds must be within -2^53 and 2^53 (9007199254740992), the integers a "
                           "double holds exactly");
            goto out;
        }
        if (!isfinite(p.hi - p.lo)) {
            sc.i = argpos[1];
            st = perr(&sc, "the range (high - low) is larger than a double holds");
            goto out;
        }
        if (quant && !(p.q > 0)) {
            sc.i = argpos[2];
            st = perr(&sc, "the step must be positive");
            goto out;
        }
        /* quniform(0,1,2) drew 0 every time: lo + k q in [lo, hi] has only
         * k = 0 when the step is wider than the range */
        if (quant && p.q > p.hi - p.lo && p.lo < p.hi) {
            sc.i = argpos[2];
            st = perr(&sc, "the step is wider than the range: the low bound would be the only value");
            goto out;
        }
        if (quant && (p.hi - p.lo) / p.q > 0x1p53) {
            sc.i = argpos[2];
            st = perr(&sc, "the step is too small for the range: more than 2^53 values lo + k step");
            goto out;
        }
        /* a fractional step drew lo + k q and rounded it: qrandint(1,10,0.5)
         * gave integers twice as often as others (1.5 and 2 are both 2) */
        if (quant && p.kind == SL_TUNE_RANDINT && p.q != floor(p.q)) {
            sc.i = argpos[2];
            st = perr(&sc, "the step of qrandint must be a whole number");
            goto out;
        }
    } else {
        sc.i = kpos;
        st = perr(&sc, "unknown distribution (uniform, quniform, loguniform, qloguniform, randint, qrandint, "
                       "choice, grid)");
        goto out;
    }
    sl_tune_param_t *np = realloc(s->p, (size_t)(s->n + 1) * sizeof *np);
    if (!np) {
        st = SL_ERR_NOMEM;
        goto out;
    }
    s->p = np;
    s->p[s->n++] = p;
out:
    for (int i = 0; i < nargs; i++)
        free(args[i]);
    return st;
}

char *sl_tune_space_string(const sl_tune_space_t *s)
{
    static const char *kn[] = {"uniform", "loguniform", "randint", "choice", "grid"};
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (int i = 0; i < s->n; i++) {
        const sl_tune_param_t *p = &s->p[i];
        char item[512];
        size_t need;
        if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID) {
            need = (size_t)snprintf(item, sizeof item, "%s=%s(", p->name, kn[p->kind]);
            for (int j = 0; j < p->nvalues; j++)
                need += strlen(p->values[j]) + 3;
        } else {
            need = (size_t)snprintf(item, sizeof item, "%s=%s%s(%.17g,%.17g", p->name, p->q > 0 ? "q" : "",
                                    kn[p->kind], p->lo, p->hi);
            if (p->q > 0)
                need += (size_t)snprintf(item + strlen(item), sizeof item - strlen(item), ",%.17g", p->q);
        }
        while (len + need + 4 > cap) {
            cap *= 2;
            char *n = realloc(out, cap);
            if (!n) {
                free(out);
                return NULL;
            }
            out = n;
        }
        len += (size_t)sprintf(out + len, "%s%s", i ? ";" : "", item);
        /* quoted so that sl_tune_space_add reads it back (the runner copies
         * the space that way): a value with a ' in it goes in double quotes */
        if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID)
            for (int j = 0; j < p->nvalues; j++) {
                char q = strchr(p->values[j], '\'') ? '"' : '\'';
                len += (size_t)sprintf(out + len, "%s%c%s%c", j ? "," : "", q, p->values[j], q);
            }
        len += (size_t)sprintf(out + len, ")");
    }
    return out;
}

void sl_tune_value_text(const sl_tune_param_t *p, double v, char *buf, size_t len)
{
    if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID) {
        long i = lround(v);
        snprintf(buf, len, "%s", i >= 0 && i < p->nvalues ? p->values[i] : "?");
    } else if ((p->kind == SL_TUNE_RANDINT || (p->q > 0 && p->q == floor(p->q) && v == floor(v))) &&
               fabs(v) < 0x1p63) {
        snprintf(buf, len, "%lld", (long long)llround(v));
    } else {
        snprintf(buf, len, "%.15g", v);
        /* a quantised value is lo + k q, whose last bits are rounding noise:
         * 15 digits name it (qloguniform(1e-4,1e-1,1e-4) gave the program,
         * results.csv and best.json 0.00060000000000000006, not 0.0006) */
        if (strtod(buf, NULL) != v && !(p->q > 0))
            snprintf(buf, len, "%.17g", v);
    }
}

double sl_tune_value_num(const sl_tune_param_t *p, double v)
{
    if (p->kind != SL_TUNE_CHOICE && p->kind != SL_TUNE_GRID)
        return v;
    long i = lround(v);
    return i >= 0 && i < p->nvalues ? p->numvalues[i] : NAN;
}

double sl_tune_grid_size(const sl_tune_space_t *s)
{
    double n = 1;
    for (int i = 0; i < s->n; i++) {
        if (s->p[i].kind != SL_TUNE_CHOICE && s->p[i].kind != SL_TUNE_GRID)
            return 0;
        n *= s->p[i].nvalues;
    }
    return s->n ? n : 0;
}

/* Quantise and clamp a value drawn in [lo, hi]. */
double sl_tune__fix(const sl_tune_param_t *p, double v)
{
    if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID) {
        long i = lround(v);
        return (double)(i < 0 ? 0 : i >= p->nvalues ? p->nvalues - 1 : i);
    }
    if (p->q > 0)
        v = p->lo + round((v - p->lo) / p->q) * p->q;
    if (p->kind == SL_TUNE_RANDINT)
        v = round(v);
    if (v < p->lo)
        v = p->q > 0 ? v + p->q : p->lo;
    if (v > p->hi)
        v = p->q > 0 ? v - p->q : p->hi;
    if (v < p->lo)
        v = p->lo;
    return v;
}

/* A uniform draw from the parameter's prior. */
double sl_tune__sample(const sl_tune_param_t *p, gsl_rng *r)
{
    double u = gsl_rng_uniform(r);
    switch (p->kind) {
    case SL_TUNE_UNIFORM: return sl_tune__fix(p, p->lo + u * (p->hi - p->lo));
    case SL_TUNE_LOGUNIFORM: return sl_tune__fix(p, exp(log(p->lo) + u * (log(p->hi) - log(p->lo))));
    case SL_TUNE_RANDINT: {
        double n = p->q > 0 ? floor((p->hi - p->lo) / p->q) + 1 : p->hi - p->lo + 1;
        double k = floor(u * n);
        return sl_tune__fix(p, p->lo + k * (p->q > 0 ? p->q : 1));
    }
    default: return (double)gsl_rng_uniform_int(r, (unsigned long)p->nvalues);
    }
}
