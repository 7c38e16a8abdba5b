/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice sort --plan`: the stage model of the sort, for sizing big runs.
 * Map reads the node's share while the network carries (N-1)/N of it and
 * overflow beyond memory is spilled; reduce reads spills back and writes the
 * output. Each stage takes as long as its slowest resource. */
#include "config.h"
#include "shuffle_impl.h"

#include <string.h>

sl_status_t sl_sort_plan(MPI_Comm comm, const sl_sort_opts_t *o)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    uint64_t size;
    SL_TRY(sl_parse_size(o->plan, &size) == SL_OK
               ? SL_OK
               : sl_error_root(comm, SL_ERR_USAGE, "--plan: '%s' is not a size (e.g. 100T)", o->plan));
    if (o->input.n || o->output || o->resume || o->local)
        return sl_error_root(comm, SL_ERR_USAGE,
                             "--plan prints a projection and sorts nothing: run it without --input, "
                             "--output, --resume and --local");
    if (o->nodes < 1 || o->disk_read_bw <= 0 || o->disk_write_bw <= 0 || o->net_bw <= 0) {
        char miss[128] = ""; /* the ones missing, by name */
        const char *name[4] = {"--nodes", "--disk-read-bw", "--disk-write-bw", "--net-bw"};
        int bad[4] = {o->nodes < 1, o->disk_read_bw <= 0, o->disk_write_bw <= 0, o->net_bw <= 0};
        for (int i = 0; i < 4; i++)
            if (bad[i])
                strcat(strcat(miss, miss[0] ? ", " : ""), name[i]);
        return sl_error_root(comm, SL_ERR_USAGE,
                             "--plan needs --disk-read-bw, --disk-write-bw and --net-bw (MB/s per node) and "
                             "--nodes N (default 1): give %s",
                             miss);
    }
    if (rank != 0)
        return SL_OK;
    double N = (double)o->nodes, D = (double)size / N; /* bytes per node */
    double mem = o->mem ? (double)o->mem : 64e9;       /* per node */
    double R = o->disk_read_bw * 1e6, W = o->disk_write_bw * 1e6, B = o->net_bw * 1e6;
    double spill = D > mem ? D - mem : 0;
    double map_disk = D / R + spill / W, map_net = D * (N - 1) / N / B;
    double map = map_disk > map_net ? map_disk : map_net;
    double red = spill / R + D / W;
    double total = map + red, bound = (D + spill) / R + (D + spill) / W;
    char b1[32], b2[32], b3[32];
    printf("plan: sort %s on %ld node%s (%s per node, memory %s per node)\n",
           sl_format_bytes((double)size, b1, sizeof b1), o->nodes, o->nodes == 1 ? "" : "s",
           sl_format_bytes(D, b2, sizeof b2), sl_format_bytes(mem, b3, sizeof b3));
    printf("  map+shuffle  %10.1f s  (disk %.1f s: read %.1f + spill write %.1f; network %.1f s)\n", map,
           map_disk, D / R, spill / W, map_net);
    printf("  merge+write  %10.1f s  (spill read %.1f s, output write %.1f s)\n", red, spill / R, D / W);
    printf("  total        %10.1f s  = %s; disk bound %.1f s; %s of the data spilled\n", total,
           sl_format_duration(total, b1, sizeof b1), bound, spill > 0 ? "some" : "none");
    printf("  bottleneck: %s\n", map_net > map_disk ? "network during the shuffle (add bandwidth or nodes)"
                                 : spill > 0        ? "disk, with spills (more memory per node removes them)"
                                                    : "disk (read then write)");
    return SL_OK;
}
