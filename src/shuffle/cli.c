/* SPDX-License-Identifier: BSD-3-Clause */
/* Option tables of `sluice gensort`, `sluice valsort` and `sluice sort`.
 * gensort and valsort take the reference tools' flags (-a -c -s -bN, -o -s
 * -q) so existing scripts work unchanged; each table drives --help too. */
#include "config.h"
#include "shuffle_impl.h"

#include <stddef.h>
#include <string.h>

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
    {"local", 0, SL_OPT_BOOL, O(local), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "each rank validates its own (node-local) FILEs: %r is the rank, %R the rank in 5 digits; ranks in "
     "order form the sequence",
     NULL},
    {"silent", 0, SL_OPT_BOOL, O(quiet), NULL, 0, 0, NULL, SL_OPT_CLI_ONLY,
     "print only errors (bad input); the exit status tells the verdict (as valsort -q; -q/--quiet does the "
     "same)",
     NULL},
    {"record-size", 0, SL_OPT_INT, O(record_size), "100", 1, SL_SORT_REC_MAX, NULL, SL_OPT_CLI_ONLY,
     "bytes per record (fixed size)", "R"},
    {"key-offset", 0, SL_OPT_INT, O(key_offset), "0", 0, SL_SORT_REC_MAX - 1, NULL, SL_OPT_CLI_ONLY,
     "offset of the key in each record", "O"},
    {"key-length", 0, SL_OPT_INT, O(key_length), "10", 1, SL_SORT_REC_MAX, NULL, SL_OPT_CLI_ONLY,
     "key bytes, compared as unsigned bytes (O + L <= R)", "L"},
    {"files", 0, SL_OPT_LIST, O(files), NULL, 0, 0, NULL, SL_OPT_POSITIONAL | SL_OPT_REQUIRED,
     "files validated as one sequence, in the order given", "FILE..."},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t valsort_spec = {
    "valsort",
    "valsort [-o SUMMARY] [-s] [-q] [--local] [--record-size R --key-offset O --key-length L] FILE...",
    "Checks that the records of FILE... (one sequence, in the order given) are sorted by their 10-byte\n"
    "keys (or the L bytes at offset O of R-byte records) and prints, as the sortbenchmark.org valsort\n"
    "1.5 does, the record count, the sum of the records' CRC32s, the duplicate keys and SUCCESS, or\n"
    "ERROR with exit status 1. The work is split across the ranks and the boundaries between pieces\n"
    "are checked. -o writes a summary; -s checks a sequence of summaries, so partitions validated\n"
    "separately can be combined.",
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

#define O(f) offsetof(sl_sort_opts_t, f)
static const sl_opt_t sort_table[] = {
    {"input", 'i', SL_OPT_LIST, O(input), NULL, 0, 0, NULL, 0,
     "input files or directories of records (100 bytes unless --record-size)", "IN..."},
    {"output", 'o', SL_OPT_STRING, O(output), NULL, 0, 0, NULL, 0,
     "output directory: part-00000 ... and summary.json", "OUTDIR"},
    {"tmp", 0, SL_OPT_STRING, O(tmp), NULL, 0, 0, NULL, 0,
     "existing directory for spilled runs (default OUTDIR)", "DIR"},
    {"mem", 0, SL_OPT_SIZE, O(mem), "0", 0, 1e18, NULL, 0,
     "memory budget per rank (0: half the node's RAM / ranks on the node); with --plan: per node (0: 64 GB)",
     "BYTES"},
    {"local", 0, SL_OPT_BOOL, O(local), NULL, 0, 0, NULL, 0,
     "node-local inputs: each rank sorts its own files; %r in IN is the rank", NULL},
    {"direct-read", 0, SL_OPT_BOOL, O(direct_read), NULL, 0, 0, NULL, 0,
     "read inputs with direct I/O (inputs larger than the page cache)", NULL},
    {"resume", 0, SL_OPT_BOOL, O(resume), NULL, 0, 0, NULL, 0,
     "keep the partitions a stopped or killed run completed; after a stop (SIGUSR1/SIGTERM), continue "
     "from the runs it kept: the map is skipped (a stop during the merge) or reads only what was not "
     "mapped (a stop during the map)",
     NULL},
    {"record-size", 0, SL_OPT_INT, O(record_size), "100", 1, SL_SORT_REC_MAX, NULL, 0,
     "bytes per record (fixed size)", "R"},
    {"key-offset", 0, SL_OPT_INT, O(key_offset), "0", 0, SL_SORT_REC_MAX - 1, NULL, 0,
     "offset of the key in each record", "O"},
    {"key-length", 0, SL_OPT_INT, O(key_length), "10", 1, SL_SORT_REC_MAX, NULL, 0,
     "key bytes, compared as unsigned bytes (O + L <= R)", "L"},
    {"algo", 0, SL_OPT_CHOICE, O(algo), "keyidx", 0, 0, "keyidx|radix", 0,
     "in-memory sort: (key, index) radix + permute, or MSD radix on records (default geometry; others "
     "sort (key prefix, index) entries)",
     NULL},
    {"samples", 0, SL_OPT_INT, O(samples), "0", 0, 1e7, NULL, 0,
     "key samples per rank for the boundaries (0: 4096, fewer beyond 256 ranks or with long keys)", NULL},
    {"block", 0, SL_OPT_SIZE, O(block), "0", 0, 1e9, NULL, 0, "bytes per network block (0: from --mem)",
     "BYTES"},
    {"chunk", 0, SL_OPT_SIZE, O(chunk), "0", 0, 1e10, NULL, 0, "bytes per read (0: from --mem)", "BYTES"},
    {"disk-read-bw", 0, SL_OPT_DOUBLE, O(disk_read_bw), "0", 0, 1e9, NULL, 0,
     "disk read MB/s per node: report the fraction of the disk bound; --plan", "MB/S"},
    {"disk-write-bw", 0, SL_OPT_DOUBLE, O(disk_write_bw), "0", 0, 1e9, NULL, 0, "disk write MB/s per node",
     "MB/S"},
    {"net-bw", 0, SL_OPT_DOUBLE, O(net_bw), "0", 0, 1e9, NULL, 0, "network MB/s per node (--plan)", "MB/S"},
    {"plan", 0, SL_OPT_STRING, O(plan), NULL, 0, 0, NULL, 0,
     "print the projected time of sorting SIZE (e.g. 100T) and its bottleneck", "SIZE"},
    {"nodes", 0, SL_OPT_INT, O(nodes), "1", 1, 1e7, NULL, 0, "nodes (--plan)", NULL},
    {"test-stall-ms", 0, SL_OPT_INT, O(test_stall_ms), "0", 0, 1e7, NULL, SL_OPT_HIDDEN,
     "test hook: rank r waits r*ms before writing (a stop ends the wait)", NULL},
    {"test-stop-buffer", 0, SL_OPT_INT, O(test_stop_buffer), "0", 0, 1e9, NULL, SL_OPT_HIDDEN,
     "test hook: ranks > 0 ask themselves to stop (as SIGUSR1 does) at their Nth output buffer of the merge",
     NULL},
    {"test-stop-after-map", 0, SL_OPT_BOOL, O(test_stop_after_map), NULL, 0, 0, NULL, SL_OPT_HIDDEN,
     "test hook: ranks > 0 ask themselves to stop (as SIGUSR1 does) once their map is over", NULL},
    {"test-stop-chunk", 0, SL_OPT_INT, O(test_stop_chunk), "0", 0, 1e9, NULL, SL_OPT_HIDDEN,
     "test hook: ranks > 0 ask themselves to stop (as SIGUSR1 does) before the Nth chunk this run maps",
     NULL},
    {"test-map-stall-ms", 0, SL_OPT_INT, O(test_map_stall_ms), "0", 0, 1e7, NULL, SL_OPT_HIDDEN,
     "test hook: every rank waits ms before each chunk it maps (a stop ends the wait)", NULL},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t sort_spec = {
    "sort",
    "sort --input IN... --output OUTDIR [--tmp DIR] [--mem BYTES] [--resume] | --plan SIZE --nodes N ...",
    "Sorts 100-byte records by their 10-byte keys (or R-byte records by the L key bytes at offset O:\n"
    "--record-size, --key-offset, --key-length) across the ranks: sampled boundaries, map with\n"
    "read-ahead, blocks to reducers over UCX (UCX_TLS etc. honoured), reducers that spill sorted runs\n"
    "to --tmp beyond --mem, and a loser-tree merge into OUTDIR/part-NNNNN (one per rank, in order),\n"
    "each written as .tmp and renamed, plus OUTDIR/summary.json. --plan prints the model's projection.",
    sort_table, NULL};

sl_status_t sl_cmd_sort(MPI_Comm comm, int argc, char **argv)
{
    sl_sort_opts_t o;
    memset(&o, 0, sizeof o);
    sl_opts_info_t info;
    sl_status_t st = sl_opts_parse(&sort_spec, &o, argc, argv, &info);
    if (st == SL_OK && !info.help)
        st = o.plan ? sl_sort_plan(comm, &o) : sl_sort_run(comm, &o);
    sl_config_destroy(&info.config);
    sl_opts_free(sort_table, &o);
    return st;
}
