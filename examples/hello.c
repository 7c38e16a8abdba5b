/* SPDX-License-Identifier: BSD-3-Clause */
/* The smallest program against the installed library:
 *   mpicc hello.c $(pkg-config --cflags --libs sluice) -o hello
 *   mpirun -np 2 ./hello
 * It finds the topology, agrees on a status and prints from rank 0. */
#include <sluice/sluice.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    sl_topo_t topo;
    sl_status_t st = sl_topo_init(MPI_COMM_WORLD, &topo);
    if (st == SL_OK) {
        st = sl_agree(topo.comm, SL_OK);
        if (topo.rank == 0)
            printf("hello from sluice %s: %d ranks on %d node(s)\n", sl_version(), topo.size, topo.nnodes);
        sl_topo_fini(&topo);
    }
    MPI_Finalize();
    return sl_status_exit_code(st);
}
