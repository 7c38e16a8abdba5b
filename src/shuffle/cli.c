/* SPDX-License-Identifier: BSD-3-Clause */
/* Option tables of `sluice gensort`, `sluice valsort` and `sluice sort`.
 * gensort and valsort take the reference tools' flags (-a -c -s -bN, -o -s
 * -q) so existing scripts work unchanged; each table drives --help too. */
#include "config.h"
#include "shuffle_impl.h"

#include <stddef.h>

#define O(f) offsetof(sl_gensort_opts_t, f)
static const sl_opt_t gensort_table[] = {
    {"ascii", 'a', SL_OPT_BOOL, O(ascii), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "printable records (PennySort form, ending in CR LF)", NULL},
    {"checksum", 'c', SL_OPT_BOOL, O(checksum), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "print the sum of the records' CRC32s (hex) to stderr", NULL},
    {"skew", 's', SL_OPT_BOOL, O(skew), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "skewed keys (with -a: skewed printable keys)", NULL},
    {"begin", 'b', SL_OPT_STRING, O(begin), "0", 0, 0, NULL, SL_OPT_CLI_ONLY,
     "number of the first record generated (-bN)", "N"},
    {"parts", 0, SL_OPT_BOOL, O(parts), NULL, 0, 0, NULL, 0,
     "each rank writes its own FILE.RANK instead of a range of FILE", NULL},
    {"num-recs", 0, SL_OPT_STRING, O(num), NULL, 0, 0, NULL, SL_OPT_POSITIONAL | SL_OPT_REQUIRED,
     "number of records to generate", "NUM_RECS"},
    {"file", 0, SL_OPT_STRING, O(file), NULL, 0, 0, NULL, SL_OPT_POSITIONAL | SL_OPT_REQUIRED,
     "output file (/dev/null: generate only)", "FILE"},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t gensort_spec = {
    "gensort", "gensort [-a] [-c] [-s] [-bSTART] [--parts] NUM_RECS FILE",
    "Generates NUM_RECS 100-byte records, byte for byte those of the sortbenchmark.org gensort 1.5\n"
    "(binary, -a printable, -s skewed keys, -b first record number). Under mpirun the ranks write\n"
    "disjoint ranges of FILE, identical to a serial run; --parts writes FILE.0 .. FILE.(P-1).\n"
    "FILE is written as FILE.tmp and renamed when complete.",
    gensort_table, NULL};

sl_status_t sl_cmd_gensort(MPI_Comm comm, int argc, char **argv)
{
    sl_gensort_opts_t o = {0};
    sl_opts_info_t info;
    sl_status_t st = sl_opts_parse(&gensort_spec, &o, argc, argv, &info);
    if (st == SL_OK && !info.help)
        st = sl_gensort_run(comm, &o);
    sl_config_destroy(&info.config);
    sl_opts_free(gensort_table, &o);
    return st;
}

#define O(f) offsetof(sl_valsort_opts_t, f)
static const sl_opt_t valsort_table[] = {
    {"output-summary", 'o', SL_OPT_STRING, O(summary_out), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "write the summary of the validated records to SUMMARY (valsort -o format)", "SUMMARY"},
    {"summaries", 's', SL_OPT_BOOL, O(summaries), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "the FILEs hold partition summaries (from -o), validated as one sequence", NULL},
    {"silent", 'q', SL_OPT_BOOL, O(quiet), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "print nothing; the exit status tells", NULL},
    {"files", 0, SL_OPT_LIST, O(files), NULL, 0, 0, NULL, SL_OPT_POSITIONAL | SL_OPT_REQUIRED,
     "files validated as one sequence, in the order given", "FILE..."},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t valsort_spec = {
    "valsort", "valsort [-o SUMMARY] [-s] [-q] FILE...",
    "Checks that the records of FILE... (one sequence, in the order given) are sorted by their 10-byte\n"
    "keys and prints, as the sortbenchmark.org valsort 1.5 does, the record count, the sum of the\n"
    "records' CRC32s, the duplicate keys and SUCCESS, or ERROR with exit status 1. The work is split\n"
    "across the ranks and the boundaries between pieces are checked. -o writes a summary; -s checks\n"
    "a sequence of summaries, so partitions validated separately can be combined.",
    valsort_table, NULL};

sl_status_t sl_cmd_valsort(MPI_Comm comm, int argc, char **argv)
{
    sl_valsort_opts_t o = {0};
    sl_opts_info_t info;
    sl_status_t st = sl_opts_parse(&valsort_spec, &o, argc, argv, &info);
    if (st == SL_OK && !info.help)
        st = sl_valsort_run(comm, &o);
    sl_config_destroy(&info.config);
    sl_opts_free(valsort_table, &o);
    return st;
}
