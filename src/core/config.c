/* SPDX-License-Identifier: BSD-3-Clause */
/* Config files: "key = value" lines under optional [section] headers, with
 * '#' or ';' comments. A small parser of our own: the format is tiny, and a
 * dependency (inih) would add a package for forty lines. Every entry keeps its
 * line number so errors can point at it. */
#include "config.h"
#include "core_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *section, *key, *value;
    int line;
} cfg_entry_t;

typedef struct {
    char *name;
    int line; /* of its [header] */
} cfg_section_t;

struct sl_config {
    char *path;
    cfg_entry_t *e;
    int n, cap;
    cfg_section_t *sec; /* every [section] header, keys or none: an unknown one is an error either way */
    int nsec, capsec;
};

/* Room for one more element in *v (n in use, *cap allocated; first: the
 * first allocation): 0, or -1 out of memory (*v left as it was). */
static int grow(void **v, int *cap, int n, size_t size, int first)
{
    if (n < *cap)
        return 0;
    int c = *cap ? 2 * *cap : first;
    void *nv = realloc(*v, (size_t)c * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

void sl_config_destroy(sl_config_t **cfg)
{
    if (!cfg || !*cfg)
        return;
    for (int i = 0; i < (*cfg)->n; i++) {
        free((*cfg)->e[i].section);
        free((*cfg)->e[i].key);
        free((*cfg)->e[i].value);
    }
    free((*cfg)->e);
    for (int i = 0; i < (*cfg)->nsec; i++)
        free((*cfg)->sec[i].name);
    free((*cfg)->sec);
    free((*cfg)->path);
    free(*cfg);
    *cfg = NULL;
}

sl_status_t sl_config_load(const char *path, sl_config_t **cfg_p)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sl_error(SL_ERR_IO, "cannot read config file '%s': %s", path, strerror(errno));
    sl_config_t *cfg = calloc(1, sizeof *cfg);
    char section[128] = "", line[8192];
    int lineno = 0;
    sl_status_t st = SL_OK;
    if (!cfg) {
        fclose(f);
        return sl_error(SL_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    cfg->path = strdup(path);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            st = sl_error(SL_ERR_INVALID, "%s:%d: line too long", path, lineno);
            goto err;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || close - s - 1 >= (long)sizeof section) {
                st = sl_error(SL_ERR_INVALID, "%s:%d: malformed section header '%s'", path, lineno, s);
                goto err;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            if (grow((void **)&cfg->sec, &cfg->capsec, cfg->nsec, sizeof *cfg->sec, 8) != 0 ||
                !(cfg->sec[cfg->nsec].name = strdup(section))) {
                st = sl_error(SL_ERR_NOMEM, "out of memory reading '%s'", path);
                goto err;
            }
            cfg->sec[cfg->nsec++].line = lineno;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            st = sl_error(SL_ERR_INVALID, "%s:%d: expected 'key = value', got '%s'", path, lineno, s);
            goto err;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (*key == '\0') {
            st = sl_error(SL_ERR_INVALID, "%s:%d: empty key", path, lineno);
            goto err;
        }
        size_t vl = strlen(val);
        if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = '\0';
            val++;
        }
        if (grow((void **)&cfg->e, &cfg->cap, cfg->n, sizeof *cfg->e, 16) != 0) {
            st = sl_error(SL_ERR_NOMEM, "out of memory reading '%s'", path);
            goto err;
        }
        cfg->e[cfg->n].section = strdup(section);
        cfg->e[cfg->n].key = strdup(key);
        cfg->e[cfg->n].value = strdup(val);
        cfg->e[cfg->n].line = lineno;
        cfg->n++;
    }
    if (ferror(f)) {
        st = sl_error(SL_ERR_IO, "error reading config file '%s': %s", path, strerror(errno));
        goto err;
    }
    fclose(f);
    *cfg_p = cfg;
    return SL_OK;
err:
    fclose(f);
    sl_config_destroy(&cfg);
    return st;
}

int sl_config_count(const sl_config_t *cfg, const char *section)
{
    int c = 0;
    for (int i = 0; cfg && i < cfg->n; i++)
        c += !strcmp(cfg->e[i].section, section);
    return c;
}

void sl_config_entry(const sl_config_t *cfg, const char *section, int idx, const char **key_p,
                     const char **value_p, int *line_p)
{
    for (int i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->e[i].section, section))
            continue;
        if (idx-- == 0) {
            *key_p = cfg->e[i].key;
            *value_p = cfg->e[i].value;
            if (line_p)
                *line_p = cfg->e[i].line;
            return;
        }
    }
    *key_p = *value_p = NULL;
}

const char *sl_config_path(const sl_config_t *cfg) { return cfg->path; }

int sl_config_find_unknown_section(const sl_config_t *cfg, const char *const *known,
                                   const char **bad_p, int *line_p)
{
    /* the headers, not the keys under them: an empty [sectoin] was let
     * through, and the error named the line of its first key */
    for (int i = 0; cfg && i < cfg->nsec; i++) {
        int ok = 0;
        for (int k = 0; known[k]; k++)
            ok |= !strcmp(cfg->sec[i].name, known[k]);
        if (!ok) {
            *bad_p = cfg->sec[i].name;
            *line_p = cfg->sec[i].line;
            return 1;
        }
    }
    return 0;
}
