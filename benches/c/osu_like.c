/* OSU-style micro-benchmarks in C, built against the system's MPI by benches/compare.py so
 * that rmpi-bench and an MPI implementation are measured with the same method on the same
 * machine in the same run. Usage: osu_like latency|bw|bcast|allreduce|barrier [max_size] [iters]
 * Prints OSU's table format: "# Size  Latency (us)" or "# Size  Bandwidth (MB/s)"; with
 * PER_RANK set, collectives also print each rank's mean time per call to stderr (as
 * rmpi-bench --per-rank does); with SPAN set, how long after rank 0 started each call the
 * last rank finished it, and the last started it (as rmpi-bench --span does). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Microseconds on a clock every process of the host reads alike. */
static double host_clock(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Rank 0 prints the means over calls of when the last rank finished and the last started,
 * from rank 0's start; `moments` holds this rank's start and end of each call. */
static void print_span(size_t size, const double *moments, int calls, int rank, int n) {
    double *all = rank == 0 ? malloc(sizeof(double) * 2 * calls * n) : NULL;
    MPI_Gather(moments, 2 * calls, MPI_DOUBLE, all, 2 * calls, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank != 0) return;
    double last_end = 0, last_start = 0;
    for (int c = 0; c < calls; c++) {
        double root = all[2 * c], end = 0, start = 0;
        for (int r = 0; r < n; r++) {
            double s = all[r * 2 * calls + 2 * c] - root, e = all[r * 2 * calls + 2 * c + 1] - root;
            if (s > start) start = s;
            if (e > end) end = e;
        }
        last_end += end;
        last_start += start;
    }
    fprintf(stderr, "span size %zu: last rank done %.2f us after rank 0 started, last started %.2f us after it\n",
            size, last_end / calls, last_start / calls);
    free(all);
}

#define LARGE 8192
#define WINDOW 64

/* OSU's iteration and warm-up counts: per window for bandwidth, per call otherwise. */
static void counts(const char *test, size_t size, int forced, int *iters, int *warmup) {
    int large = size >= LARGE, it, wu;
    if (!strcmp(test, "latency")) { it = large ? 1000 : 10000; wu = large ? 10 : 1000; }
    else if (!strcmp(test, "bw")) { it = large ? 20 : 100; wu = large ? 2 : 10; }
    else { it = large ? 100 : 1000; wu = large ? 10 : 100; }
    *iters = forced > 0 ? forced : it;
    *warmup = wu < *iters ? wu : *iters;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    const char *test = argc > 1 ? argv[1] : "latency";
    int p2p = !strcmp(test, "latency") || !strcmp(test, "bw");
    int barrier = !strcmp(test, "barrier");
    size_t max = argc > 2 ? strtoull(argv[2], NULL, 10) : (p2p ? 4u << 20 : 1u << 20);
    int forced = argc > 3 ? atoi(argv[3]) : 0;
    char *a = malloc(max > 0 ? max : 1), *b = malloc(max > 0 ? max : 1);
    char **inbox = malloc(WINDOW * sizeof(char *));
    for (int w = 0; w < WINDOW; w++) inbox[w] = malloc(max > 0 ? max : 1);
    memset(a, 'a', max);
    MPI_Request reqs[WINDOW];
    if (rank == 0) {
        printf("# C %s Test (%d ranks)\n", test, n);
        printf("%-10s%18s\n", "# Size", !strcmp(test, "bw") ? "Bandwidth (MB/s)" : "Latency (us)");
    }
    /* A barrier has no sizes: one line, size 0. */
    if (barrier) max = 0;
    for (size_t size = p2p || barrier ? 0 : 4; size <= max; size = size ? size * 2 : 1) {
        int iters, warmup;
        counts(test, size, forced, &iters, &warmup);
        double result = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        if (!strcmp(test, "latency")) {
            double t0 = 0;
            for (int i = 0; i < iters + warmup; i++) {
                if (i == warmup) t0 = MPI_Wtime();
                if (rank == 0) {
                    MPI_Send(a, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
                    MPI_Recv(b, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else if (rank == 1) {
                    MPI_Recv(b, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Send(b, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
                }
            }
            result = (MPI_Wtime() - t0) * 1e6 / (2.0 * iters);
        } else if (!strcmp(test, "bw")) {
            int rounds = iters, wu = warmup;
            double t0 = 0;
            char ack[4];
            for (int i = 0; i < rounds + wu; i++) {
                if (i == wu) t0 = MPI_Wtime();
                if (rank == 0) {
                    for (int w = 0; w < WINDOW; w++)
                        MPI_Isend(a, (int)size, MPI_CHAR, 1, 2, MPI_COMM_WORLD, &reqs[w]);
                    MPI_Waitall(WINDOW, reqs, MPI_STATUSES_IGNORE);
                    MPI_Recv(ack, 4, MPI_CHAR, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else if (rank == 1) {
                    for (int w = 0; w < WINDOW; w++)
                        MPI_Irecv(inbox[w], (int)size, MPI_CHAR, 0, 2, MPI_COMM_WORLD, &reqs[w]);
                    MPI_Waitall(WINDOW, reqs, MPI_STATUSES_IGNORE);
                    MPI_Send(ack, 4, MPI_CHAR, 0, 3, MPI_COMM_WORLD);
                }
            }
            result = (double)size * WINDOW * rounds / (MPI_Wtime() - t0) / 1e6;
        } else {
            double total = 0;
            int floats = (int)(size / 4);
            double *moments = malloc(sizeof(double) * 2 * iters);
            for (int i = 0; i < iters + warmup; i++) {
                MPI_Barrier(MPI_COMM_WORLD);
                double t0 = MPI_Wtime(), began = host_clock();
                if (barrier)
                    MPI_Barrier(MPI_COMM_WORLD);
                else if (!strcmp(test, "bcast"))
                    MPI_Bcast(b, floats, MPI_FLOAT, 0, MPI_COMM_WORLD);
                else
                    MPI_Allreduce(a, b, floats, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                if (i >= warmup) {
                    total += MPI_Wtime() - t0;
                    moments[2 * (i - warmup)] = began;
                    moments[2 * (i - warmup) + 1] = host_clock();
                }
            }
            if (getenv("SPAN")) print_span(size, moments, iters, rank, n);
            free(moments);
            double mine = total * 1e6 / iters, sum = 0;
            if (getenv("PER_RANK")) fprintf(stderr, "rank %d size %zu: %.2f\n", rank, size, mine);
            MPI_Reduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
            result = sum / n;
        }
        if (rank == 0) { printf("%-10zu%18.3f\n", size, result); fflush(stdout); }
        fflush(stdout);
    }
    MPI_Finalize();
    return 0;
}
