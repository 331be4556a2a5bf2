/*
 * bench_held: how long a one-sided operation that this process holds back
 * (src/dsm/rma.c, "Held operations") takes to reach a rank that waits for
 * it while the issuing rank neither waits nor calls distmem, against the
 * same put followed by dm_quiet (which sends at once and waits for the
 * answer). Run as 2 processes (`distmem run -n 2`; bench/run held).
 *
 * Iteration i: rank 1 holds the flag's page read-only (so the put cannot
 * go direct, and takes the message path); after a barrier, rank 0 puts
 * flag i (a page homed at rank 1) and spins on word i of a POSIX shared
 * memory segment (no distmem call, no page fault: only its progress thread
 * can send the held put); rank 1 waits for the flag with dm_wait_until and
 * sets word i. Iterations alternate between the held put and put + quiet;
 * the time is from the put to rank 0 seeing word i.
 *
 *   RESULT put_deliver_us held|quiet <median> <p10> <p90> <iterations>
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "distmem.h"

#define ITERS_MAX 1000

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_held rank %d: %s: %s\n", dm_rank(), what, dm_last_error());
    exit(1);
}

static void report(const char *how, double *t, int n)
{
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    printf("RESULT put_deliver_us %s %.1f %.1f %.1f %d\n", how, t[n / 2], t[n / 10],
           t[n * 9 / 10], n);
}

int main(int argc, char **argv)
{
    static double lat[2][ITERS_MAX / 2 + 1];
    int iters = argc == 3 && strcmp(argv[1], "--iters") == 0 ? atoi(argv[2]) : 200;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int64_t *region, *flags = NULL;
    volatile int64_t *ack;
    char name[64];
    int me, fd = -1, i, k, n[2] = { 0, 0 };

    if (iters < 2 || iters > ITERS_MAX || (argc != 1 && argc != 3)) {
        fprintf(stderr, "usage: bench_held [--iters N]   (2 processes; N in 2..%d)\n", ITERS_MAX);
        return 2;
    }
    if (dm_init(NULL) != DM_OK) {
        die("dm_init");
    }
    me = dm_rank();
    if (dm_nranks() != 2) {
        fprintf(stderr, "bench_held: runs as exactly 2 processes, not %d\n", dm_nranks());
        dm_finalize();
        return 2;
    }
    region = dm_alloc(4 * page);
    if (region == NULL) {
        die("dm_alloc");
    }
    for (k = 0; k < 4 && flags == NULL; k++) {
        if (dm_home((char *)region + (size_t)k * page) == 1) {
            flags = (int64_t *)(void *)((char *)region + (size_t)k * page);
        }
    }
    if (flags == NULL) {
        fprintf(stderr, "bench_held: no page of the region is homed at rank 1\n");
        dm_finalize();
        return 1;
    }
    /* both ranks are children of one launcher: its pid names the segment */
    snprintf(name, sizeof(name), "/distmem_bench_held_%d", (int)getppid());
    if (me == 0) {
        fd = shm_open(name, O_CREAT | O_RDWR | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)(iters * 8)) != 0) {
            perror("bench_held: shm_open");
            return 1;
        }
    }
    if (dm_barrier() != DM_OK) {
        die("dm_barrier");
    }
    if (me == 1 && (fd = shm_open(name, O_RDWR, 0600)) < 0) {
        perror("bench_held: shm_open");
        return 1;
    }
    ack = mmap(NULL, (size_t)iters * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ack == MAP_FAILED) {
        perror("bench_held: mmap");
        return 1;
    }
    if (me == 0) {
        printf("# bench_held: 2 ranks, %d iterations alternating held put and put + dm_quiet\n",
               iters);
    }
    for (i = 0; i < iters; i++) {
        int quiet = i % 2;

        if (me == 1) {
            (void)*(volatile int64_t *)&flags[i]; /* read-only here: the put takes the message path */
        }
        if (dm_barrier() != DM_OK) {
            die("dm_barrier");
        }
        if (me == 0) {
            int64_t one = 1;
            double t0 = now_us();

            if (dm_put(&flags[i], &one, sizeof(one)) != DM_OK ||
                (quiet && dm_quiet() != DM_OK)) {
                die("dm_put");
            }
            while (ack[i] == 0) {
            }
            lat[quiet][n[quiet]++] = now_us() - t0;
        } else {
            if (dm_wait_until(&flags[i], DM_CMP_EQ, 1) != DM_OK) {
                die("dm_wait_until");
            }
            ack[i] = 1;
        }
    }
    if (dm_barrier() != DM_OK) {
        die("dm_barrier");
    }
    if (me == 0) {
        report("held", lat[0], n[0]);
        report("quiet", lat[1], n[1]);
        shm_unlink(name);
    }
    dm_free(region);
    return dm_finalize() == DM_OK ? 0 : 1;
}
