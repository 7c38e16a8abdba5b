/* SPDX-License-Identifier: BSD-3-Clause */
/* For tests/core/h5_fullfs.sh: writes PATH, an HDF5 file of N small
 * datasets (each with an attribute), through sl_h5 on every rank; with
 * FILL_AT (0 <= FILL_AT <= N), rank 0 fills the file system of PATH (a
 * file PATH.filler, grown until the write fails) after FILL_AT datasets,
 * so the file system is full while the rest and the close are written.
 * With H5_MANY_FDS=FILE in the environment, rank 0 runs a shell half way
 * through that lists its open descriptors (those it inherited) in FILE.
 * Prints nothing itself; exit 0 when the file was committed, 1 otherwise. */
#include "core.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill(const char *path)
{
    char f[4200];
    static char buf[1 << 16];
    snprintf(f, sizeof f, "%s.filler", path);
    int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    while (write(fd, buf, sizeof buf) > 0)
        ;
    while (write(fd, buf, 512) > 0) /* the last partial blocks */
        ;
    close(fd);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: h5_many PATH N [FILL_AT]\n");
        MPI_Finalize();
        return 2;
    }
    long n = strtol(argv[2], NULL, 10), fill_at = argc > 3 ? strtol(argv[3], NULL, 10) : -1;
    sl_h5_t *h = NULL;
    sl_status_t st = sl_h5_create(MPI_COMM_WORLD, argv[1], &h);
    for (long i = 0; st == SL_OK && i <= n; i++) {
        if (i == fill_at) {
            if (rank == 0)
                fill(argv[1]);
            MPI_Barrier(MPI_COMM_WORLD);
        }
        if (i == n)
            break;
        if (i == n / 2 && rank == 0 && getenv("H5_MANY_FDS")) { /* what a program spawned now inherits */
            char cmd[4300];
            snprintf(cmd, sizeof cmd, "ls -l /proc/$$/fd >'%s' 2>&1", getenv("H5_MANY_FDS"));
            if (system(cmd) != 0)
                fprintf(stderr, "h5_many: '%s' failed\n", cmd);
        }
        char name[64];
        double v[4] = {(double)i, 1, 2, 3};
        uint64_t d = 4;
        snprintf(name, sizeof name, "g%ld/d%ld", i % 7, i);
        st = sl_h5_write(h, name, SL_F64, 1, &d, v);
        if (st == SL_OK)
            st = sl_h5_set_attr_str(h, name, "what", "a dataset among many");
    }
    if (st == SL_OK)
        st = sl_h5_commit(&h, 1);
    else
        sl_h5_discard(&h);
    MPI_Finalize();
    return st == SL_OK ? 0 : 1;
}
