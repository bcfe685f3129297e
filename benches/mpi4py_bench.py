#!/usr/bin/env python3
"""The OSU-style latency and bandwidth tests in mpi4py, for benches/compare.py.

Same method as rmpi-bench and osu_like.c: OSU's sizes, warm-up and iteration counts, and
OSU's table format. Two flavours, matching rmpi-bench's: `object` sends a bytes object with
mpi4py's pickle-based `send`/`recv` (rmpi's `send`/`recv` with serde), `buffer` sends a
numpy array with `Send`/`Recv` (rmpi's `send_buf`/`recv_into`).

    mpiexec -n 2 python3 benches/mpi4py_bench.py latency|bw object|buffer [max_size] [iters]
"""

import sys

import numpy as np
from mpi4py import MPI

LARGE = 8192
WINDOW = 64


def counts(test, size, forced):
    large = size >= LARGE
    if test == "latency":
        iters, warmup = (1000, 10) if large else (10000, 1000)
    else:
        iters, warmup = (20, 2) if large else (100, 10)
    if forced:
        iters = forced
    return iters, min(warmup, iters)


def main():
    test, flavour = sys.argv[1], sys.argv[2]
    max_size = int(sys.argv[3]) if len(sys.argv) > 3 else 4 << 20
    forced = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if rank == 0:
        unit = "Bandwidth (MB/s)" if test == "bw" else "Latency (us)"
        print(f"# mpi4py {test} Test (2 ranks, {flavour} flavour)", flush=True)
        print(f"{'# Size':<10}{unit:>18}", flush=True)
    size = 0 if test == "latency" else 1
    while size <= max_size:
        iters, warmup = counts(test, size, forced)
        data = np.full(size, ord("a"), dtype=np.uint8)
        inbox = np.empty(size, dtype=np.uint8)
        payload = data.tobytes()
        comm.Barrier()
        if test == "latency":
            result = latency(comm, rank, flavour, data, inbox, payload, iters, warmup)
        else:
            result = bandwidth(comm, rank, flavour, data, inbox, payload, iters, warmup, size)
        if rank == 0:
            print(f"{size:<10}{result:>18.3f}", flush=True)
        size = size * 2 if size else 1


def latency(comm, rank, flavour, data, inbox, payload, iters, warmup):
    start = 0.0
    for i in range(iters + warmup):
        if i == warmup:
            start = MPI.Wtime()
        if flavour == "buffer":
            if rank == 0:
                comm.Send(data, 1, 1)
                comm.Recv(inbox, 1, 1)
            elif rank == 1:
                comm.Recv(inbox, 0, 1)
                comm.Send(inbox, 0, 1)
        else:
            if rank == 0:
                comm.send(payload, 1, 1)
                comm.recv(source=1, tag=1)
            elif rank == 1:
                echo = comm.recv(source=0, tag=1)
                comm.send(echo, 0, 1)
    return (MPI.Wtime() - start) * 1e6 / (2 * iters)


def bandwidth(comm, rank, flavour, data, inbox, payload, iters, warmup, size):
    start = 0.0
    for i in range(iters + warmup):
        if i == warmup:
            start = MPI.Wtime()
        if rank == 0:
            if flavour == "buffer":
                MPI.Request.Waitall([comm.Isend(data, 1, 2) for _ in range(WINDOW)])
            else:
                for request in [comm.isend(payload, 1, 2) for _ in range(WINDOW)]:
                    request.wait()
            comm.Recv(np.empty(1, dtype=np.uint8), 1, 3)
        elif rank == 1:
            if flavour == "buffer":
                boxes = [np.empty(size, dtype=np.uint8) for _ in range(WINDOW)]
                MPI.Request.Waitall([comm.Irecv(box, 0, 2) for box in boxes])
            else:
                for _ in range(WINDOW):
                    comm.recv(source=0, tag=2)
            comm.Send(np.zeros(1, dtype=np.uint8), 0, 3)
    elapsed = MPI.Wtime() - start
    return size * iters * WINDOW / elapsed / 1e6


if __name__ == "__main__":
    main()
