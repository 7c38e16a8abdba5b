# SPDX-License-Identifier: BSD-3-Clause
# Peer for bench/tasks/run.sh: empty tasks through mpi4py.futures
# (MPIPoolExecutor; started as `mpirun -np 2 python3 -m mpi4py.futures`, so
# rank 0 submits and rank 1 works). usage: futures_peer.py N CHUNKSIZE
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def empty(i):
    return None


def main():
    n, chunk = int(sys.argv[1]), int(sys.argv[2])
    with MPIPoolExecutor() as ex:
        list(ex.map(empty, range(100), chunksize=1))  # warm up the pool
        t0 = time.perf_counter()
        for _ in ex.map(empty, range(n), chunksize=chunk):
            pass
        dt = time.perf_counter() - t0
    print(f"futures tasks={n} chunksize={chunk} seconds={dt:.4f} rate={n / dt:.0f}")


if __name__ == "__main__":
    main()
