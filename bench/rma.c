/*
 * bench_rma: what the one-sided operations of the public API cost
 * (dm_put, dm_get, their non-blocking forms, dm_quiet, the atomics), between
 * exactly two ranks, through include/distmem.h only:
 *
 *   distmem run -n 2 [--tls LIST] -- build/bench/bench_rma [OPTIONS]
 *
 * Rank 0 acts on memory homed at rank 1: one block of rank 1's part of the
 * global heap (dm_malloc memory is homed at the rank that allocates it,
 * whatever DISTMEM_HOME_BLOCK says), published to rank 0 through a word of
 * dm_alloc memory. Rank 1 waits in dm_barrier (its progress thread and the
 * barrier serve rank 0's requests). Rank 0 never loads or stores the target
 * pages, so every operation goes to the home, except for get_cached_lat_us.
 * What is measured (bench/rma_harness.h does the timing and the output; the
 * baseline, bench/shmem_rma.c, runs the same patterns with OpenSHMEM):
 *
 *   put_lat_us         dm_put of SIZE bytes, then dm_quiet
 *   get_lat_us         dm_get of SIZE bytes
 *   get_cached_lat_us  dm_get of SIZE bytes from pages rank 0 holds readable:
 *                      it loaded one word of each first and nobody writes
 *                      them, so the get may run locally (no OpenSHMEM
 *                      counterpart: compare with its get_lat_us)
 *   put_bw_mbs         windows of 64 dm_put_nb of SIZE bytes (each to its own
 *                      slot of a 16 MiB buffer, wrapping), then dm_quiet, then
 *                      dm_wait on each request; MB/s = 1e6 bytes/s
 *   get_bw_mbs         windows of 64 dm_get_nb, then dm_wait on each
 *   amo_lat_us         dm_atomic_fetch_add, one blocking operation
 *   amo_rate_mops      windows of 64 dm_atomic_fetch_add back to back (the
 *                      API has no non-fetching add; old = NULL), then
 *                      dm_quiet; millions of operations per second
 *
 * Local buffers are private memory, page-aligned (RMA_ALIGN). Before
 * timing, every size is checked once both ways (and the cached get against
 * what rank 1 wrote); at the end the counter must equal the number of adds
 * rank 0 made.
 *
 * Output, rank 0 only: RESULT lines (see rma_harness.h) and "# " comments.
 * The exit status is nonzero only when an operation failed or a value read
 * back was wrong.
 */
#include <distmem.h>

#include "rma_harness.h"

#define PAGE      4096u
#define TARGET    1  /* the rank whose memory rank 0 acts on */
#define GAP_PAGES 72 /* untouched pages after the cached area: more than any read-ahead */

#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        dm_status_t st_ = (expr);                                                       \
        if (st_ != DM_OK) {                                                             \
            fprintf(stderr, "bench_rma rank %d: %s:%d: %s -> %s: %s\n", g_rank, __FILE__, \
                    __LINE__, #expr, dm_status_name(st_), dm_last_error());             \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static int g_rank;
/*
 * One dm_malloc block of rank 1, page-aligned, in this order: the counter
 * (alone on its page), the target of puts and gets (RMA_REGION bytes), the
 * cached area (the largest size, rounded up to pages; rank 1 writes it once,
 * then only rank 0 reads it), GAP_PAGES that nobody touches.
 */
static void *g_raw; /* rank 1: what dm_malloc returned */
static int64_t *g_counter;
static unsigned char *g_remote;
static unsigned char *g_cached;
static size_t g_cached_len;
static unsigned char *g_local; /* rank 0's private source and destination */
static uint64_t g_adds;        /* adds rank 0 made to the counter */
static dm_request_t *g_reqs[RMA_WINDOW];

static void put_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(dm_put(g_remote, g_local, size));
        CHECK_OK(dm_quiet());
    }
}

static void get_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(dm_get(g_local, g_remote, size));
    }
}

static void get_cached_lat(size_t size, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(dm_get(g_local, g_cached, size));
    }
}

static void put_bw(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            size_t off = rma_slot(size, i);

            CHECK_OK(dm_put_nb(g_remote + off, g_local + off, size, &g_reqs[i]));
        }
        CHECK_OK(dm_quiet());
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            CHECK_OK(dm_wait(g_reqs[i]));
        }
    }
}

static void get_bw(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            size_t off = rma_slot(size, i);

            CHECK_OK(dm_get_nb(g_local + off, g_remote + off, size, &g_reqs[i]));
        }
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            CHECK_OK(dm_wait(g_reqs[i]));
        }
    }
}

static void amo_lat(size_t size, uint64_t n)
{
    int64_t old;

    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(dm_atomic_fetch_add(g_counter, 1, &old));
    }
    g_adds += n;
}

static void amo_rate(size_t size, uint64_t n)
{
    for (uint64_t w = 0; w < n; w++) {
        for (unsigned i = 0; i < RMA_WINDOW; i++) {
            CHECK_OK(dm_atomic_fetch_add(g_counter, 1, NULL));
        }
        CHECK_OK(dm_quiet());
    }
    g_adds += n * RMA_WINDOW;
}

static rma_pass_fn *const passes[RMA_METRIC_COUNT] = {
    [RMA_PUT_LAT] = put_lat, [RMA_GET_LAT] = get_lat, [RMA_GET_CACHED_LAT] = get_cached_lat,
    [RMA_PUT_BW] = put_bw,   [RMA_GET_BW] = get_bw,   [RMA_AMO_LAT] = amo_lat,
    [RMA_AMO_RATE] = amo_rate,
};

static void barrier(void)
{
    CHECK_OK(dm_barrier());
}

static void die_alloc(const char *what)
{
    fprintf(stderr, "bench_rma rank %d: %s: %s (%s)\n", g_rank, what,
            dm_status_string(dm_last_status()), dm_last_error());
    exit(1);
}

/* ---------------------------------------------------------------- setup and checks */

/* Lays out one block of rank 1's heap (see g_counter) and checks its homes. */
static void setup_target(size_t max_size)
{
    size_t cached_len = (max_size + PAGE - 1) / PAGE * PAGE;
    size_t bytes = PAGE + RMA_REGION + cached_len + GAP_PAGES * PAGE;
    uintptr_t *slot = dm_alloc(sizeof(*slot));
    unsigned char *base;

    if (slot == NULL) {
        die_alloc("dm_alloc");
    }
    if (g_rank == TARGET) {
        g_raw = dm_malloc(bytes + PAGE);
        if (g_raw == NULL) {
            die_alloc("dm_malloc (memory homed at rank 1)");
        }
        *slot = ((uintptr_t)g_raw + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    }
    barrier();
    base = (unsigned char *)*slot;
    barrier();
    dm_free(slot);
    for (size_t off = 0; off < bytes; off += PAGE) {
        if (dm_home(base + off) != TARGET) {
            fprintf(stderr, "bench_rma rank %d: rank 1's dm_malloc memory is homed at %d\n",
                    g_rank, dm_home(base + off));
            exit(1);
        }
    }
    g_counter = (int64_t *)(void *)base;
    g_remote = base + PAGE;
    g_cached = g_remote + RMA_REGION;
    g_cached_len = cached_len;
    if (g_rank == TARGET) {
        *g_counter = 0;
        for (size_t i = 0; i < cached_len; i++) {
            g_cached[i] = rma_pattern(0, i, 3);
        }
    }
    barrier();
}

static size_t mismatches(const unsigned char *p, size_t size, size_t pattern_size, unsigned salt)
{
    size_t bad = 0;

    for (size_t i = 0; i < size; i++) {
        bad += p[i] != rma_pattern(pattern_size, i, salt);
    }
    return bad;
}

/* Rank 0 puts a pattern that rank 1 checks, then gets one rank 1 wrote; exits 1 on a mismatch. */
static void check_size(size_t size)
{
    size_t bad = 0;

    if (g_rank == 0) {
        for (size_t i = 0; i < size; i++) {
            g_local[i] = rma_pattern(size, i, 1);
        }
        CHECK_OK(dm_put(g_remote, g_local, size));
        CHECK_OK(dm_quiet());
    }
    barrier();
    if (g_rank == TARGET) {
        bad = mismatches(g_remote, size, size, 1);
        for (size_t i = 0; i < size; i++) {
            g_remote[i] = rma_pattern(size, i, 2);
        }
    }
    barrier();
    if (g_rank == 0) {
        CHECK_OK(dm_get(g_local, g_remote, size));
        bad = mismatches(g_local, size, size, 2);
    }
    barrier();
    if (bad) {
        fprintf(stderr, "bench_rma rank %d: %zu of %zu bytes wrong after a %s\n", g_rank, bad,
                size, g_rank == 0 ? "get" : "put");
        exit(1);
    }
}

/* Rank 0 loads one word of each cached page (a readable copy), then checks a get of each size. */
static void cache_pages(const rma_opts_t *o)
{
    size_t bad = 0;
    uint64_t t0 = rma_now_ns();

    for (size_t off = 0; off < g_cached_len; off += PAGE) {
        bad += *(volatile unsigned char *)(g_cached + off) != rma_pattern(0, off, 3);
    }
    t0 = rma_now_ns() - t0;
    for (size_t s = 0; s < o->nsizes; s++) {
        CHECK_OK(dm_get(g_local, g_cached, o->sizes[s]));
        bad += mismatches(g_local, o->sizes[s], 0, 3);
    }
    if (bad) {
        fprintf(stderr, "bench_rma rank 0: %zu bytes of the cached pages read back wrong\n", bad);
        exit(1);
    }
    printf("# get_cached_lat_us: rank 0 read %zu pages homed at rank 1 first (%.1f us per page)\n",
           g_cached_len / PAGE, (double)t0 / 1e3 / (double)(g_cached_len / PAGE));
}

/* ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *tls = getenv("UCX_TLS"), *pt = getenv("DISTMEM_PROGRESS_THREAD");
    size_t max_size = 0;
    int64_t count;
    rma_opts_t o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    rma_parse(argc, argv, (1u << RMA_METRIC_COUNT) - 1, &o);
    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    if (dm_nranks() != 2) {
        fprintf(stderr, "bench_rma: runs as exactly 2 ranks (distmem run -n 2), not %d\n",
                dm_nranks());
        dm_finalize();
        return 2;
    }
    for (size_t s = 0; s < o.nsizes; s++) {
        max_size = o.sizes[s] > max_size ? o.sizes[s] : max_size;
    }
    setup_target(max_size);
    if (g_rank == 0) {
        /* page-aligned, as the target area is: see rma_harness.h on alignment */
        g_local = aligned_alloc(RMA_ALIGN, RMA_REGION);
        if (g_local == NULL) {
            fprintf(stderr, "bench_rma: out of memory\n");
            exit(1);
        }
        memset(g_local, 0, RMA_REGION);
        printf("# bench_rma: 2 ranks, UCX_TLS=%s, DISTMEM_PROGRESS_THREAD=%s, %d batches,"
               " %.2f s per size and metric\n", tls ? tls : "(default)", pt ? pt : "(default)",
               o.batches, o.time_s);
    }
    for (size_t s = 0; s < o.nsizes; s++) {
        check_size(o.sizes[s]);
    }
    if (g_rank == 0 && (o.metrics & (1u << RMA_GET_CACHED_LAT))) {
        cache_pages(&o);
    }
    barrier();

    for (int m = 0; m < RMA_METRIC_COUNT; m++) {
        if (!(o.metrics & (1u << m))) {
            continue;
        }
        for (size_t s = 0; s < (rma_metric_is_amo(m) ? 1 : o.nsizes); s++) {
            if (g_rank == 0) {
                rma_run_metric(&o, m, passes[m], rma_metric_is_amo(m) ? RMA_AMO_SIZE : o.sizes[s]);
            }
            barrier(); /* rank 1 waits here */
        }
    }

    if (g_rank == 0) {
        CHECK_OK(dm_atomic_fetch(g_counter, &count));
        if ((uint64_t)count != g_adds) {
            fprintf(stderr, "bench_rma: the counter is %lld after %llu adds\n", (long long)count,
                    (unsigned long long)g_adds);
            exit(1);
        }
    }
    barrier();
    free(g_local);
    dm_mfree(g_raw);
    return dm_finalize() == DM_OK ? 0 : 1;
}
