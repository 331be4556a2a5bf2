/*
 * bench_shmem_rma: the baseline of bench_rma. The same one-sided patterns
 * with OpenSHMEM (Open MPI's oshmem, spml ucx), between exactly two PEs:
 *
 *   oshrun --allow-run-as-root --oversubscribe -np 2 --mca osc ^rdma \
 *       build/bench/bench_shmem_rma [OPTIONS]
 *
 * (Open MPI 4.1's osc rdma component crashes in shmem_finalize; without
 * `--mca osc ^rdma` every run ends with a SIGSEGV in both PEs.)
 *
 * PE 0 acts on PE 1's symmetric memory; PE 1 waits in shmem_barrier_all,
 * which also progresses its UCX worker (over TCP the target's worker must
 * run for puts and gets to complete). What is measured (bench/rma_harness.h
 * does the timing and the output):
 *
 *   put_lat_us     shmem_putmem of SIZE bytes, then shmem_quiet
 *   get_lat_us     shmem_getmem of SIZE bytes
 *   put_bw_mbs     windows of 64 shmem_putmem_nbi of SIZE bytes (each to
 *                  its own slot of a 16 MiB buffer, wrapping), then
 *                  shmem_quiet; MB/s = 1e6 bytes/s
 *   get_bw_mbs     the same with shmem_getmem_nbi
 *   amo_lat_us     shmem_long_atomic_fetch_add, one blocking operation
 *   amo_rate_mops  windows of 64 shmem_long_atomic_add (no fetch), then
 *                  shmem_quiet; millions of operations per second
 *
 * Open MPI 4.1 implements OpenSHMEM 1.4 without the int64 atomics, so the
 * atomics use long (64 bits on the LP64 targets this builds for).
 * Local buffers are private (malloc) memory, as in bench_rma. Before timing,
 * every size is checked once both ways, and at the end the counter PE 1
 * holds must equal the number of adds PE 0 made.
 *
 * Output, PE 0 only: RESULT lines (see rma_harness.h) and "# " comments.
 */
#include <shmem.h>

#include "rma_harness.h"

_Static_assert(sizeof(long) == sizeof(int64_t), "the atomics use long as a 64-bit integer");

#define TARGET 1 /* the PE whose memory PE 0 acts on */

static int g_pe;
static unsigned char *g_remote; /* symmetric, RMA_REGION bytes: PE 1's is the target */
static long *g_counter;         /* symmetric: PE 1's is the atomics' target */
static unsigned char *g_local;  /* PE 0's private source and destination */
static uint64_t g_adds;         /* adds PE 0 made to PE 1's counter */

static void put_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        shmem_putmem(g_remote, g_local, size, TARGET);
        shmem_quiet();
    }
}

static void get_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        shmem_getmem(g_local, g_remote, size, TARGET);
    }
}

static void put_bw(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            size_t off = rma_slot(size, i);

            shmem_putmem_nbi(g_remote + off, g_local + off, size, TARGET);
        }
        shmem_quiet();
    }
}

static void get_bw(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            size_t off = rma_slot(size, i);

            shmem_getmem_nbi(g_local + off, g_remote + off, size, TARGET);
        }
        shmem_quiet();
    }
}

static void amo_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        (void)shmem_long_atomic_fetch_add(g_counter, 1, TARGET);
    }
    g_adds += n;
}

static void amo_rate(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            shmem_long_atomic_add(g_counter, 1, TARGET);
        }
        shmem_quiet();
    }
    g_adds += n * RMA_WINDOW;
}

static rma_pass_fn *const passes[RMA_METRIC_COUNT] = {
    [RMA_PUT_LAT] = put_lat, [RMA_GET_LAT] = get_lat, [RMA_PUT_BW] = put_bw,
    [RMA_GET_BW] = get_bw,   [RMA_AMO_LAT] = amo_lat, [RMA_AMO_RATE] = amo_rate,
};

/* The bytes of [p, p + size) that differ from the pattern with salt. */
static size_t mismatches(const unsigned char *p, size_t size, unsigned salt)
{
    size_t bad = 0;

    for (size_t i = 0; i < size; i++) {
        bad += p[i] != rma_pattern(size, i, salt);
    }
    return bad;
}

/* PE 0 puts a pattern that PE 1 checks, then gets one PE 1 wrote; exits 1 on a mismatch. */
static void check_size(size_t size)
{
    size_t bad = 0;

    if (g_pe == 0) {
        for (size_t i = 0; i < size; i++) {
            g_local[i] = rma_pattern(size, i, 1);
        }
        shmem_putmem(g_remote, g_local, size, TARGET);
        shmem_quiet();
    }
    shmem_barrier_all();
    if (g_pe == TARGET) {
        bad = mismatches(g_remote, size, 1);
        for (size_t i = 0; i < size; i++) {
            g_remote[i] = rma_pattern(size, i, 2);
        }
    }
    shmem_barrier_all();
    if (g_pe == 0) {
        shmem_getmem(g_local, g_remote, size, TARGET);
        bad = mismatches(g_local, size, 2);
    }
    shmem_barrier_all();
    if (bad) {
        fprintf(stderr, "bench_shmem_rma PE %d: %zu of %zu bytes wrong after a %s\n", g_pe, bad,
                size, g_pe == 0 ? "get" : "put");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const unsigned available = ((1u << RMA_METRIC_COUNT) - 1) & ~(1u << RMA_GET_CACHED_LAT);
    const char *tls = getenv("UCX_TLS");
    rma_opts_t o;
    long count;

    setvbuf(stdout, NULL, _IOLBF, 0);
    rma_parse(argc, argv, available, &o);
    shmem_init();
    g_pe = shmem_my_pe();
    if (shmem_n_pes() != 2) {
        fprintf(stderr, "bench_shmem_rma: runs as exactly 2 PEs (oshrun -np 2), not %d\n",
                shmem_n_pes());
        shmem_finalize();
        return 2;
    }
    /* page-aligned on both sides, as bench_rma's: see rma_harness.h on alignment */
    g_remote = shmem_align(RMA_ALIGN, RMA_REGION);
    g_counter = shmem_malloc(sizeof(*g_counter));
    g_local = aligned_alloc(RMA_ALIGN, RMA_REGION);
    if (g_remote == NULL || g_counter == NULL || g_local == NULL) {
        fprintf(stderr, "bench_shmem_rma PE %d: out of memory (the symmetric heap's size is"
                " SHMEM_SYMMETRIC_SIZE)\n", g_pe);
        return 1;
    }
    memset(g_remote, 0, RMA_REGION);
    memset(g_local, 0, RMA_REGION);
    *g_counter = 0;
    shmem_barrier_all();
    if (g_pe == 0) {
        printf("# bench_shmem_rma: 2 PEs, OpenSHMEM %d.%d (%s), UCX_TLS=%s, %d batches,"
               " %.2f s per size and metric\n", SHMEM_MAJOR_VERSION, SHMEM_MINOR_VERSION,
               SHMEM_VENDOR_STRING, tls ? tls : "(default)", o.batches, o.time_s);
    }
    for (size_t s = 0; s < o.nsizes; s++) {
        check_size(o.sizes[s]);
    }

    for (int m = 0; m < RMA_METRIC_COUNT; m++) {
        if (!(o.metrics & (1u << m))) {
            continue;
        }
        for (size_t s = 0; s < (rma_metric_is_amo(m) ? 1 : o.nsizes); s++) {
            if (g_pe == 0) {
                rma_run_metric(&o, m, passes[m], rma_metric_is_amo(m) ? RMA_AMO_SIZE : o.sizes[s]);
            }
            shmem_barrier_all(); /* PE 1 waits here, progressing its worker */
        }
    }

    if (g_pe == 0) {
        count = shmem_long_atomic_fetch(g_counter, TARGET);
        if ((uint64_t)count != g_adds) {
            fprintf(stderr, "bench_shmem_rma: PE 1's counter is %ld after %llu adds\n", count,
                    (unsigned long long)g_adds);
            exit(1);
        }
    }
    shmem_barrier_all();
    free(g_local);
    shmem_free(g_counter);
    shmem_free(g_remote);
    shmem_finalize();
    return 0;
}
