/* SPDX-License-Identifier: BSD-3-Clause */
/* Option tables and config files: defaults, config, command line, in that
 * order of precedence; every error names the option or key. */
#include "cunit_mpi.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    long n;
    double lr;
    uint64_t mem;
    char *name, *device;
    int flag;
    sl_strlist_t inputs;
    char *file;
} t_opts_t;

#define O(f) offsetof(t_opts_t, f)
static const sl_opt_t table[] = {
    {"file", 0, SL_OPT_STRING, O(file), NULL, 0, 0, NULL, SL_OPT_POSITIONAL | SL_OPT_REQUIRED, "input", "FILE"},
    {"n", 'n', SL_OPT_INT, O(n), "3", 1, 10, NULL, 0, "a count", NULL},
    {"lr", 0, SL_OPT_DOUBLE, O(lr), "0.1", 0, 1, NULL, 0, "rate", NULL},
    {"mem", 0, SL_OPT_SIZE, O(mem), "1M", 0, 0, NULL, 0, "bytes", NULL},
    {"name", 0, SL_OPT_STRING, O(name), "x", 0, 0, NULL, 0, "a name", NULL},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda", 0, "device", NULL},
    {"flag", 0, SL_OPT_BOOL, O(flag), NULL, 0, 0, NULL, 0, "a flag", NULL},
    {"input", 0, SL_OPT_LIST, O(inputs), NULL, 0, 0, NULL, 0, "inputs", NULL},
    SL_OPT_END,
};
static const char *extra[] = {"space", NULL};
static const sl_cmd_spec_t spec = {"t", "t FILE [options]", "test", table, extra};

static sl_status_t parse(t_opts_t *o, sl_opts_info_t *info, int argc, const char **argv)
{
    memset(o, 0, sizeof *o);
    return sl_opts_parse(&spec, o, argc, (char **)argv, info);
}

static char *write_cfg(const char *name, const char *text)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", sl_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults_and_cli(void)
{
    t_opts_t o;
    sl_opts_info_t info;
    const char *argv[] = {"t", "in.txt", "-n", "7", "--lr=0.5", "--mem", "2G", "--flag", "--device", "cuda",
                          "--input", "a", "b", "c"};
    CU_ASSERT_EQUAL_FATAL(parse(&o, &info, 14, argv), SL_OK);
    CU_ASSERT_STRING_EQUAL(o.file, "in.txt");
    CU_ASSERT_EQUAL(o.n, 7);
    CU_ASSERT_DOUBLE_EQUAL(o.lr, 0.5, 1e-12);
    CU_ASSERT_EQUAL(o.mem, 2ULL << 30);
    CU_ASSERT_STRING_EQUAL(o.name, "x");
    CU_ASSERT_STRING_EQUAL(o.device, "cuda");
    CU_ASSERT_EQUAL(o.flag, 1);
    CU_ASSERT_EQUAL_FATAL(o.inputs.n, 3);
    CU_ASSERT_STRING_EQUAL(o.inputs.v[2], "c");
    sl_opts_free(table, &o);
    CU_ASSERT_PTR_NULL(o.name);

    const char *argv2[] = {"t", "f", "-n5", "--no-flag"};
    CU_ASSERT_EQUAL_FATAL(parse(&o, &info, 4, argv2), SL_OK);
    CU_ASSERT_EQUAL(o.n, 5);
    CU_ASSERT_EQUAL(o.flag, 0);
    CU_ASSERT_EQUAL(o.mem, 1ULL << 20);
    sl_opts_free(table, &o);
}

static void test_errors(void)
{
    t_opts_t o;
    sl_opts_info_t info;
    const char *a1[] = {"t", "f", "-n", "11"}; /* out of range */
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a1), SL_ERR_USAGE);
    const char *a2[] = {"t", "f", "--bogus"};
    CU_ASSERT_EQUAL(parse(&o, &info, 3, a2), SL_ERR_USAGE);
    const char *a3[] = {"t", "-n", "2"}; /* missing positional */
    CU_ASSERT_EQUAL(parse(&o, &info, 3, a3), SL_ERR_USAGE);
    const char *a4[] = {"t", "f", "--device", "tpu"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a4), SL_ERR_USAGE);
    const char *a5[] = {"t", "f", "--lr", "abc"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a5), SL_ERR_USAGE);
    const char *a6[] = {"t", "f", "--mem", "12Q"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a6), SL_ERR_USAGE);
    const char *a7[] = {"t", "f", "g"}; /* one positional too many */
    CU_ASSERT_EQUAL(parse(&o, &info, 3, a7), SL_ERR_USAGE);
    const char *a8[] = {"t", "f", "--n"}; /* needs a value */
    CU_ASSERT_EQUAL(parse(&o, &info, 3, a8), SL_ERR_USAGE);
    /* an empty text value: an option, a list element, a positional */
    const char *a9[] = {"t", "f", "--name", ""};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a9), SL_ERR_USAGE);
    const char *a10[] = {"t", "f", "--input", "a", ""};
    CU_ASSERT_EQUAL(parse(&o, &info, 5, a10), SL_ERR_USAGE);
    const char *a11[] = {"t", ""};
    CU_ASSERT_EQUAL(parse(&o, &info, 2, a11), SL_ERR_USAGE);
    /* an integer in a real's notation is one (-n 5e0); a fraction is not,
     * and one past a long is out of range (it read 'not an integer') */
    const char *a12[] = {"t", "f", "-n", "5e0"};
    CU_ASSERT_EQUAL_FATAL(parse(&o, &info, 4, a12), SL_OK);
    CU_ASSERT_EQUAL(o.n, 5);
    sl_opts_free(table, &o);
    const char *a13[] = {"t", "f", "-n", "2.5"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a13), SL_ERR_USAGE);
    const char *a14[] = {"t", "f", "-n", "1e20"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a14), SL_ERR_USAGE);
}

static void test_config(void)
{
    t_opts_t o;
    sl_opts_info_t info;
    char *p = write_cfg("ok.cfg", "# comment\nn = 4\nname = \"top\"\n[t]\nlr = 0.25 \ninput = x y\n"
                                  "[space]\nlr = loguniform(1e-4, 1e-1)\n");
    const char *argv[] = {"t", "f", "--config", p, "-n", "9"};
    CU_ASSERT_EQUAL_FATAL(parse(&o, &info, 6, argv), SL_OK);
    CU_ASSERT_EQUAL(o.n, 9); /* command line wins over the file */
    CU_ASSERT_STRING_EQUAL(o.name, "top");
    CU_ASSERT_DOUBLE_EQUAL(o.lr, 0.25, 1e-12);
    CU_ASSERT_EQUAL_FATAL(o.inputs.n, 2);
    CU_ASSERT_STRING_EQUAL(o.inputs.v[1], "y");
    CU_ASSERT_PTR_NOT_NULL_FATAL(info.config);
    CU_ASSERT_EQUAL(sl_config_count(info.config, "space"), 1);
    const char *k, *v;
    int line;
    sl_config_entry(info.config, "space", 0, &k, &v, &line);
    CU_ASSERT_STRING_EQUAL(k, "lr");
    CU_ASSERT_STRING_EQUAL(v, "loguniform(1e-4, 1e-1)");
    CU_ASSERT_EQUAL(line, 8);
    sl_config_destroy(&info.config);
    sl_opts_free(table, &o);

    /* a list's words are split at blanks outside parentheses and quotes:
     * `space = x=uniform(0, 1)` in [tune] is what --space 'x=uniform(0, 1)' is */
    p = write_cfg("list.cfg", "[t]\ninput =  a=uniform(0, 1)\tb=choice('p q', \")\", (r s)) c\n");
    const char *al[] = {"t", "f", "--config", p};
    CU_ASSERT_EQUAL_FATAL(parse(&o, &info, 4, al), SL_OK);
    CU_ASSERT_EQUAL_FATAL(o.inputs.n, 3);
    CU_ASSERT_STRING_EQUAL(o.inputs.v[0], "a=uniform(0, 1)");
    CU_ASSERT_STRING_EQUAL(o.inputs.v[1], "b=choice('p q', \")\", (r s))");
    CU_ASSERT_STRING_EQUAL(o.inputs.v[2], "c");
    sl_config_destroy(&info.config);
    sl_opts_free(table, &o);

    const char *bad[][2] = {{"k.cfg", "nosuchkey = 1\n"},
                            {"s.cfg", "[other]\nn = 1\n"},
                            {"r.cfg", "n = 99\n"},
                            {"m.cfg", "just words\n"},
                            {"h.cfg", "[t\nn=1\n"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_cfg(bad[i][0], bad[i][1]);
        const char *a[] = {"t", "f", "--config", p};
        CU_ASSERT_EQUAL(parse(&o, &info, 4, a), SL_ERR_USAGE);
    }
    const char *a[] = {"t", "f", "--config", "/nonexistent/x.cfg"};
    CU_ASSERT_EQUAL(parse(&o, &info, 4, a), SL_ERR_USAGE);
}

static void test_help(void)
{
    t_opts_t o;
    sl_opts_info_t info;
    const char *argv[] = {"t", "--help"};
    CU_ASSERT_EQUAL(parse(&o, &info, 2, argv), SL_OK);
    CU_ASSERT_EQUAL(info.help, 1);
    sl_opts_free(table, &o);
    uint64_t b;
    CU_ASSERT_EQUAL(sl_parse_size("1.5K", &b), SL_OK);
    CU_ASSERT_EQUAL(b, 1536);
    CU_ASSERT_EQUAL(sl_parse_size("64MiB", &b), SL_OK);
    CU_ASSERT_EQUAL(b, 64ULL << 20);
    CU_ASSERT_EQUAL(sl_parse_size("-1", &b), SL_ERR_INVALID);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"defaults and command line", test_defaults_and_cli},
                                      {"errors name the option", test_errors},
                                      {"config file", test_config},
                                      {"help and sizes", test_help},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "options", tests);
}
