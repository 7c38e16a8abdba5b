/* SPDX-License-Identifier: BSD-3-Clause */
/* Option tables: one table per command drives its defaults, bounds, --help,
 * config-file keys and command-line flags alike (the Redis habit). Order of
 * precedence: defaults < config file < command line. Every rank parses the
 * same arguments, so errors are printed by rank 0 only. */
#include "config.h"
#include "core_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPT_PTR(opts, o) ((char *)(opts) + (o)->offset)

static sl_status_t usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static sl_status_t usage_error(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sl_error_root(MPI_COMM_WORLD, SL_ERR_USAGE, "%s", buf);
}

sl_status_t sl_parse_size(const char *s, uint64_t *bytes_p)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return SL_ERR_INVALID;
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024.0; end++; break;
    case 'M': mult = 1024.0 * 1024; end++; break;
    case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    case 'P': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'I' && toupper((unsigned char)end[1]) == 'B')
        end += 2;
    else if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end != '\0' || v * mult > 1.8e19)
        return SL_ERR_INVALID;
    *bytes_p = (uint64_t)(v * mult);
    return SL_OK;
}

static void list_clear(sl_strlist_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static sl_status_t list_add(sl_strlist_t *l, const char *s)
{
    char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
    if (!v)
        return sl_error(SL_ERR_NOMEM, "out of memory parsing options");
    l->v = v;
    if (!(l->v[l->n] = strdup(s)))
        return sl_error(SL_ERR_NOMEM, "out of memory parsing options");
    l->n++;
    return SL_OK;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int has_bounds(const sl_opt_t *o) { return o->min <= o->max && !(o->min == 0 && o->max == 0); }

static const char *type_metavar(const sl_opt_t *o);

/* Store text value v into the option. where: "--name" or "file:line: key 'name'". */
static sl_status_t set_value(const sl_opt_t *o, void *opts, const char *v, const char *where)
{
    char *end;
    char *p = OPT_PTR(opts, o);
    /* No text option takes an empty value: paths would become '' (sort
     * --output "" tried to create directory ''), names and specs are
     * refused later with less clear words. */
    if (!*v && (o->type == SL_OPT_STRING || o->type == SL_OPT_LIST)) {
        const char *mv = type_metavar(o);
        size_t n = strlen(mv);
        if (o->flags & SL_OPT_POSITIONAL) /* where names the metavar already */
            return usage_error("%s: empty value", where);
        if (n > 3 && !strcmp(mv + n - 3, "..."))
            n -= 3;
        return usage_error("%s: empty value (expected %.*s)", where, (int)n, mv);
    }
    switch (o->type) {
    case SL_OPT_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno) {
            /* a whole number in a real's notation (--budget 1e6) is one; one
             * past a long read 'is not an integer' (--budget 1e20) */
            char *e2;
            errno = 0;
            double d = strtod(v, &e2);
            int whole = e2 != v && !*e2 && isfinite(d) && d == floor(d);
            if (whole && fabs(d) < 0x1p63)
                x = (long)d;
            else if (whole)
                return has_bounds(o)
                           ? usage_error("%s: %s is out of range [%.0f, %.0f]", where, v, o->min, o->max)
                           : usage_error("%s: %s is too large", where, v);
            else
                return usage_error("%s: '%s' is not an integer", where, v);
        }
        if (has_bounds(o) && (x < o->min || x > o->max))
            return usage_error("%s: %ld is out of range [%.0f, %.0f]", where, x, o->min, o->max);
        *(long *)p = x;
        return SL_OK;
    }
    case SL_OPT_SIZE: {
        uint64_t x;
        if (sl_parse_size(v, &x) != SL_OK)
            return usage_error("%s: '%s' is not a size (e.g. 1000, 64M, 2G)", where, v);
        if (has_bounds(o) && ((double)x < o->min || (double)x > o->max))
            return usage_error("%s: %s is out of range [%.0f, %.0f] bytes", where, v, o->min, o->max);
        *(uint64_t *)p = x;
        return SL_OK;
    }
    case SL_OPT_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return usage_error("%s: '%s' is not a number", where, v);
        if (has_bounds(o) && (x < o->min || x > o->max))
            return usage_error("%s: %.10g is out of range [%.10g, %.10g]", where, x, o->min, o->max);
        *(double *)p = x;
        return SL_OK;
    }
    case SL_OPT_BOOL:
        if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            *(int *)p = 1;
        else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            *(int *)p = 0;
        else
            return usage_error("%s: '%s' is not true or false", where, v);
        return SL_OK;
    case SL_OPT_CHOICE:
        if (!choice_ok(o->choices, v))
            return usage_error("%s: '%s' is not one of %s", where, v, o->choices);
        /* fall through */
    case SL_OPT_STRING: {
        char *dup = strdup(v);
        if (!dup)
            return sl_error(SL_ERR_NOMEM, "out of memory parsing options");
        free(*(char **)p);
        *(char **)p = dup;
        return SL_OK;
    }
    case SL_OPT_LIST:
        return list_add((sl_strlist_t *)p, v);
    }
    return SL_ERR_INTERNAL;
}

void sl_opts_free(const sl_opt_t *table, void *opts)
{
    for (const sl_opt_t *o = table; o->name; o++) {
        char *p = OPT_PTR(opts, o);
        if (o->type == SL_OPT_STRING || o->type == SL_OPT_CHOICE) {
            free(*(char **)p);
            *(char **)p = NULL;
        } else if (o->type == SL_OPT_LIST) {
            list_clear((sl_strlist_t *)p);
        }
    }
}

static const sl_opt_t *find_long(const sl_opt_t *t, const char *name, size_t len)
{
    for (const sl_opt_t *o = t; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

static const sl_opt_t *find_short(const sl_opt_t *t, char c)
{
    for (const sl_opt_t *o = t; o->name; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

static sl_status_t apply_defaults(const sl_opt_t *table, void *opts)
{
    for (const sl_opt_t *o = table; o->name; o++) {
        char *p = OPT_PTR(opts, o);
        switch (o->type) {
        case SL_OPT_INT: *(long *)p = 0; break;
        case SL_OPT_SIZE: *(uint64_t *)p = 0; break;
        case SL_OPT_DOUBLE: *(double *)p = 0; break;
        case SL_OPT_BOOL: *(int *)p = 0; break;
        case SL_OPT_STRING:
        case SL_OPT_CHOICE: *(char **)p = NULL; break;
        case SL_OPT_LIST: ((sl_strlist_t *)p)->n = 0; ((sl_strlist_t *)p)->v = NULL; break;
        }
        if (o->def) {
            if (o->type == SL_OPT_LIST) {
                char *copy = strdup(o->def), *save = NULL;
                for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                    list_add((sl_strlist_t *)p, w);
                free(copy);
            } else {
                sl_status_t st = set_value(o, opts, o->def, o->name);
                if (st != SL_OK)
                    return SL_ERR_INTERNAL;
            }
        }
    }
    return SL_OK;
}

/* Declared in core.h: tune splits its [tune] space = lines with it too. */
char *sl_opts_list_word(char **pp)
{
    char *p = *pp + strspn(*pp, " \t"), *w = p, quote = 0;
    int depth = 0;
    if (!*p)
        return NULL;
    for (; *p && (quote || depth > 0 || (*p != ' ' && *p != '\t')); p++) {
        if (quote)
            quote = *p == quote ? 0 : quote;
        else if (depth > 0 && (*p == '\'' || *p == '"'))
            quote = *p;
        else
            depth += *p == '(' ? 1 : *p == ')' && depth > 0 ? -1 : 0;
    }
    if (*p)
        *p++ = '\0';
    *pp = p;
    return w;
}

/* The command as the user types it, for messages: the leading lower-case
 * words of the usage line ("rl train", "data import-idx"), else the name of
 * the config section ("rl-eval" is not a command). */
static const char *cmd_name(const sl_cmd_spec_t *spec, char *buf, size_t cap)
{
    size_t n = 0;
    const char *u = spec->usage ? spec->usage : "";
    while (*u && *u != '-' && n + 1 < cap) {
        size_t w = strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (w == 0 || (u[w] && u[w] != ' ') || n + w + 2 > cap)
            break;
        if (n)
            buf[n++] = ' ';
        memcpy(buf + n, u, w);
        n += w;
        u += w;
        while (*u == ' ')
            u++;
    }
    buf[n] = 0;
    return n ? buf : spec->command;
}

static sl_status_t apply_config(const sl_cmd_spec_t *spec, void *opts, sl_config_t *cfg, unsigned char *seen)
{
    const char *known[16] = {"", spec->command};
    char name[128];
    const char *cname = cmd_name(spec, name, sizeof name);
    int nk = 2;
    for (int i = 0; spec->extra_sections && spec->extra_sections[i] && nk < 15; i++)
        known[nk++] = spec->extra_sections[i];
    known[nk] = NULL;
    const char *bad;
    int line;
    if (sl_config_find_unknown_section(cfg, known, &bad, &line))
        return usage_error("%s:%d: unknown section [%s] for 'sluice %s'", sl_config_path(cfg), line, bad,
                           cname);
    for (int s = 0; s < 2; s++) {
        const char *sec = known[s];
        int n = sl_config_count(cfg, sec);
        for (int i = 0; i < n; i++) {
            const char *key, *val;
            char where[512];
            sl_config_entry(cfg, sec, i, &key, &val, &line);
            const sl_opt_t *o = find_long(spec->table, key, strlen(key));
            if (!o || (o->flags & SL_OPT_CLI_ONLY))
                return usage_error("%s:%d: unknown key '%s' for 'sluice %s'", sl_config_path(cfg), line, key,
                                   cname);
            snprintf(where, sizeof where, "%s:%d: key '%s'", sl_config_path(cfg), line, key);
            sl_status_t st;
            if (o->type == SL_OPT_LIST) {
                /* a repeatable option's lines add up (space = ... twice):
                 * only the first replaces the default */
                if (!seen[o - spec->table])
                    list_clear((sl_strlist_t *)OPT_PTR(opts, o));
                char *copy = strdup(val), *p = copy;
                st = copy ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory parsing options");
                for (char *w; st == SL_OK && (w = sl_opts_list_word(&p));)
                    st = set_value(o, opts, w, where);
                free(copy);
            } else {
                st = set_value(o, opts, val, where);
            }
            if (st != SL_OK)
                return st;
            seen[o - spec->table] = 1;
        }
    }
    return SL_OK;
}

/* First pass: --help, --config, --verbose/--quiet, before anything else. */
static sl_status_t scan_common(const sl_cmd_spec_t *spec, int argc, char **argv, sl_opts_info_t *info)
{
    int verbose = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            break;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            info->help = 1;
        else if (!strcmp(a, "--verbose"))
            verbose++;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else if (a[0] == '-' && a[1] != '-' && a[1] && strspn(a + 1, "v") == strlen(a + 1) &&
                 !find_short(spec->table, 'v'))
            verbose += (int)strlen(a + 1);
        else if (!strcmp(a, "-q") && !find_short(spec->table, 'q'))
            quiet = 1;
        else if (!strcmp(a, "--config")) {
            if (i + 1 >= argc)
                return usage_error("--config needs a FILE");
            info->config_path = argv[++i];
        } else if (!strncmp(a, "--config=", 9))
            info->config_path = a + 9;
    }
    if (quiet)
        sl_log_set_level(SL_LOG_WARN);
    else if (verbose)
        sl_log_set_level(verbose > 1 ? SL_LOG_DEBUG : SL_LOG_VERBOSE);
    return SL_OK;
}

static int is_common(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "--verbose") || !strcmp(a, "--quiet") ||
           !strcmp(a, "-q") || (a[0] == '-' && a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1));
}

sl_status_t sl_opts_parse(const sl_cmd_spec_t *spec, void *opts, int argc, char **argv, sl_opts_info_t *info_p)
{
    sl_opts_info_t info = {0};
    const sl_opt_t *table = spec->table;
    char name[128];
    const char *cname = cmd_name(spec, name, sizeof name);
    int nopt = 0;
    while (table[nopt].name)
        nopt++;
    unsigned char *seen = calloc((size_t)nopt + 1, 1);
    sl_status_t st;
    *info_p = info; /* callers free info_p->config whatever the result */
    if (!seen)
        return sl_error(SL_ERR_NOMEM, "out of memory parsing options");
    SL_TRY_GOTO(apply_defaults(table, opts), err);
    SL_TRY_GOTO(scan_common(spec, argc, argv, &info), err);
    if (info.help) {
        if (sl_log_rank() == 0)
            sl_opts_help(spec, stdout);
        *info_p = info;
        free(seen);
        return SL_OK;
    }
    if (info.config_path) {
        /* Every rank reads the same file: let rank 0 alone report a failure. */
        int saved = sl_log_level_g;
        if (sl_log_rank() != 0)
            sl_log_level_g = SL_LOG_NONE;
        st = sl_config_load(info.config_path, &info.config);
        sl_log_level_g = saved;
        if (st != SL_OK) {
            st = SL_ERR_USAGE;
            goto err;
        }
        SL_TRY_GOTO(apply_config(spec, opts, info.config, seen), err);
    }
    unsigned char *cli = calloc((size_t)nopt + 1, 1);
    if (!cli) {
        st = sl_error(SL_ERR_NOMEM, "out of memory parsing options");
        goto err;
    }
    int only_pos = 0;
    const sl_opt_t *pos_next = table;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const sl_opt_t *o = NULL;
        const char *val = NULL;
        char where[256];
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0' && !(isdigit((unsigned char)a[1]) || a[1] == '.')) {
            if (is_common(a))
                continue;
            if (!strcmp(a, "--config")) {
                i++;
                continue;
            }
            if (!strncmp(a, "--config=", 9))
                continue;
            if (a[1] == '-') {
                const char *name = a + 2, *eq = strchr(name, '=');
                size_t len = eq ? (size_t)(eq - name) : strlen(name);
                o = find_long(table, name, len);
                if (!o && !strncmp(name, "no-", 3)) {
                    const sl_opt_t *b = find_long(table, name + 3, len - 3);
                    if (b && b->type == SL_OPT_BOOL && !eq) {
                        *(int *)OPT_PTR(opts, b) = 0;
                        seen[b - table] = 1;
                        continue;
                    }
                }
                if (!o || (o->flags & SL_OPT_POSITIONAL)) {
                    st = usage_error("unknown option '%.*s' for 'sluice %s' (see 'sluice %s --help')",
                                     (int)(len + 2), a, cname, cname);
                    goto err_cli;
                }
                snprintf(where, sizeof where, "option --%s", o->name);
                if (eq)
                    val = eq + 1;
            } else {
                o = find_short(table, a[1]);
                if (!o && a[2] && strchr("hqv", a[1])) {
                    /* -q, -v and -h are the common options, which take no
                     * value and are not combined with others in one word */
                    st = usage_error(
                        "'%s' for 'sluice %s': short options are not combined; give '-%c' and the "
                        "rest separately (see 'sluice %s --help')",
                        a, cname, a[1], cname);
                    goto err_cli;
                }
                if (!o) {
                    st = usage_error("unknown option '-%c' for 'sluice %s' (see 'sluice %s --help')", a[1],
                                     cname, cname);
                    goto err_cli;
                }
                snprintf(where, sizeof where, "option -%c", a[1]);
                if (a[2])
                    val = a + 2;
            }
            if (o->type == SL_OPT_BOOL && !val) {
                *(int *)OPT_PTR(opts, o) = 1;
                seen[o - table] = 1;
                continue;
            }
            if (o->type == SL_OPT_LIST) {
                if (!cli[o - table])
                    list_clear((sl_strlist_t *)OPT_PTR(opts, o));
                cli[o - table] = seen[o - table] = 1;
                int took = 0;
                if (val) {
                    SL_TRY_GOTO(set_value(o, opts, val, where), err_cli);
                    took = 1;
                } else {
                    while (i + 1 < argc && (argv[i + 1][0] != '-' || argv[i + 1][1] == '\0')) {
                        SL_TRY_GOTO(set_value(o, opts, argv[++i], where), err_cli);
                        took++;
                    }
                }
                if (!took) {
                    st = usage_error("%s needs at least one value", where);
                    goto err_cli;
                }
                continue;
            }
            if (!val) {
                if (i + 1 >= argc) {
                    st = usage_error("%s needs a value", where);
                    goto err_cli;
                }
                val = argv[++i];
            }
            SL_TRY_GOTO(set_value(o, opts, val, where), err_cli);
            seen[o - table] = cli[o - table] = 1;
            continue;
        }
        /* A positional argument. */
        while (pos_next->name && !(pos_next->flags & SL_OPT_POSITIONAL))
            pos_next++;
        if (!pos_next->name) {
            st = usage_error("unexpected argument '%s' for 'sluice %s' (usage: sluice %s)", a, cname,
                             spec->usage);
            goto err_cli;
        }
        snprintf(where, sizeof where, "argument %s", pos_next->metavar ? pos_next->metavar : pos_next->name);
        if (pos_next->type == SL_OPT_LIST && !cli[pos_next - table])
            list_clear((sl_strlist_t *)OPT_PTR(opts, pos_next));
        SL_TRY_GOTO(set_value(pos_next, opts, a, where), err_cli);
        seen[pos_next - table] = cli[pos_next - table] = 1;
        if (pos_next->type != SL_OPT_LIST)
            pos_next++;
    }
    for (int k = 0; k < nopt; k++) {
        const sl_opt_t *o = &table[k];
        if ((o->flags & SL_OPT_REQUIRED) && !seen[k]) {
            if (o->flags & SL_OPT_POSITIONAL)
                st = usage_error("missing argument %s (usage: sluice %s)", o->metavar ? o->metavar : o->name,
                                 spec->usage);
            else
                st = usage_error("missing required option --%s for 'sluice %s'", o->name, cname);
            goto err_cli;
        }
    }
    free(cli);
    free(seen);
    *info_p = info;
    return SL_OK;
err_cli:
    free(cli);
err:
    free(seen);
    sl_config_destroy(&info.config);
    sl_opts_free(table, opts);
    return st;
}

static const char *type_metavar(const sl_opt_t *o)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case SL_OPT_INT: return "N";
    case SL_OPT_SIZE: return "BYTES";
    case SL_OPT_DOUBLE: return "X";
    case SL_OPT_STRING: return "TEXT";
    case SL_OPT_CHOICE: return o->choices;
    case SL_OPT_LIST: return "VALUE...";
    case SL_OPT_BOOL: return "";
    }
    return "";
}

void sl_opts_help(const sl_cmd_spec_t *spec, FILE *f)
{
    fprintf(f, "usage: sluice %s\n", spec->usage);
    if (spec->about)
        fprintf(f, "\n%s\n", spec->about);
    fprintf(f, "\noptions (also config keys, in [%s] or at the top of --config FILE):\n", spec->command);
    for (const sl_opt_t *o = spec->table; o->name; o++) {
        char left[128];
        if (o->flags & SL_OPT_HIDDEN)
            continue;
        if (o->flags & SL_OPT_POSITIONAL)
            snprintf(left, sizeof left, "%s", type_metavar(o));
        else if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s %s", o->short_name, o->name, type_metavar(o));
        else
            snprintf(left, sizeof left, "--%s %s", o->name, type_metavar(o));
        fprintf(f, "  %-28s %s", left, o->help ? o->help : "");
        if (o->flags & SL_OPT_REQUIRED)
            fprintf(f, " (required)");
        else if (o->def)
            fprintf(f, " [%s]", o->def);
        if (has_bounds(o) && o->type != SL_OPT_CHOICE && o->type != SL_OPT_BOOL)
            fprintf(f, " (%.10g..%.10g)", o->min, o->max);
        if ((o->flags & SL_OPT_CLI_ONLY) && !(o->flags & SL_OPT_POSITIONAL))
            fprintf(f, " (command line only: no config key)");
        fputc('\n', f);
    }
    fprintf(f, "\ncommon options:\n"
               "  %-28s %s\n  %-28s %s\n  %-28s %s\n  %-28s %s\n",
            "-h, --help", "show this help", "--config FILE", "read options from FILE (key = value, [sections])",
            "-v, --verbose", "more output (twice: debug); also SLUICE_LOG=verbose", "-q, --quiet",
            "only warnings and errors");
}
