/*
 * bench_dsm: what coherent shared memory costs, through the public API only
 * (include/distmem.h). Run under `distmem run -n N` (N >= 2); rank 0 reports.
 *
 * Metrics (microseconds per page unless the name says seconds):
 *   read_miss_us      rank 0 loads one word of each of --pages pages homed at
 *                     rank 1 that it never touched, in a random order (no
 *                     sequential pattern for a prefetcher to follow): one
 *                     true read miss per page.
 *   read_miss_seq_us  the same over other fresh pages, in address order: the
 *                     runtime's prefetch, if any, may hide part of the misses.
 *   write_miss_us     fresh pages homed at rank 1 that every other rank has
 *                     read (so each is shared read-only by ranks 1..N-1);
 *                     rank 0, which has no copy, stores one word into each:
 *                     the data plus the invalidation of N-1 copies.
 *   upgrade_us        rank 0 has read the page (it holds a read-only copy,
 *                     and so does the home) and then stores into it.
 *   *_p50_us          for read_miss, write_miss and upgrade: each access timed,
 *                     a repetition's figure is the median access instead of
 *                     the mean (robust to a preemption on a busy machine).
 *   barrier_us        an empty dm_barrier at rank 0, each one timed.
 *   neighbour_update_s  a --mib MiB array of 64-bit words from dm_alloc (the
 *                     default home distribution); rank r owns the r-th
 *                     contiguous 1/N and initializes it; then every rank adds
 *                     1 to every word of rank (r+1)%N's part. Seconds at rank
 *                     0 from the barrier before to the barrier after.
 *   read_all_s        then every rank reads and sums the whole array (the sum
 *                     is checked everywhere); barrier to barrier, seconds.
 *
 * The miss metrics use one block of rank 1's part of the global heap
 * (dm_malloc memory is homed at the rank that allocates it): contiguous
 * pages all homed at rank 1, whatever DISTMEM_HOME_BLOCK says. The home
 * writes every page before any measurement, so the data is real and every
 * value read is checked. Each repetition uses fresh pages; a repetition's
 * figure is its mean per page, and the reported figure is the median over
 * --reps repetitions.
 * For barrier_us a repetition's figure is the median of its barriers.
 *
 * Output, rank 0 only, one line per result (comment lines start with "#"):
 *
 *   RESULT <metric> <median> <min> <max> <samples per repetition>
 *
 * It never judges its figures (bench/run compares them with the floor and
 * the baseline); the exit status is nonzero only when something failed: an
 * allocation, a barrier, or a value read back wrong.
 */
#include <distmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE      4096u
#define REPS_MAX  64
#define BARRIERS  400 /* timed barriers per repetition */
#define GAP_PAGES 128 /* untouched pages after each slice: more than any read-ahead */

enum { SET_READ_RAND, SET_READ_SEQ, SET_WRITE, SET_UPGRADE, SET_COUNT };

typedef struct {
    int    pages; /* pages per repetition, per miss metric */
    int    reps;
    size_t mib;   /* neighbour-update array */
    int    skip_neighbour;
} opts_t;

static int g_rank, g_nranks;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_dsm rank %d: %s: %s (%s)\n", g_rank, what,
            dm_status_string(dm_last_status()), dm_last_error());
    exit(1);
}

static void barrier(void)
{
    if (dm_barrier() != DM_OK) {
        die("dm_barrier");
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the median, min and max of v[0..n) (sorts v). Rank 0 only. */
static void report(const char *metric, double *v, int n, long samples)
{
    double m = median(v, n);

    if (g_rank == 0) {
        printf("RESULT %s %.3f %.3f %.3f %ld\n", metric, m, v[0], v[n - 1], samples);
    }
}

/* xorshift64*: a fixed, portable shuffle for the random page orders. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void shuffle(uint64_t **v, int n, uint64_t *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(seed) % (uint64_t)(i + 1));
        uint64_t *t = v[i];

        v[i] = v[j];
        v[j] = t;
    }
}

/* The value the home writes into the first word of page p of the pool. */
static uint64_t tag(const char *pool, const uint64_t *p)
{
    return (uint64_t)((const char *)p - pool) / PAGE * 2654435761u + 1;
}

/* ---------------------------------------------------------------- misses */

/*
 * The pages the miss metrics use: one block from rank 1's part of the
 * global heap (dm_malloc memory is homed at the rank that allocates it), so
 * the pages are contiguous and all homed at rank 1 whatever
 * DISTMEM_HOME_BLOCK says. Rank 1 publishes the address through a word of
 * dm_alloc memory. Returns the first page; *raw_p is what dm_mfree takes.
 */
static char *home1_pool(size_t npages, void **raw_p)
{
    uintptr_t *slot = dm_alloc(sizeof(*slot)), first;
    void *raw = NULL;

    if (slot == NULL) {
        die("dm_alloc");
    }
    if (g_rank == 1) {
        raw = dm_malloc((npages + 1) * PAGE);
        if (raw == NULL) {
            die("dm_malloc (pages homed at rank 1)");
        }
        *slot = ((uintptr_t)raw + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    }
    barrier();
    first = *slot;
    barrier();
    dm_free(slot);
    for (size_t i = 0; i < npages; i++) {
        if (dm_home((char *)first + i * PAGE) != 1) {
            fprintf(stderr, "bench_dsm rank %d: dm_malloc memory of rank 1 is homed at %d\n",
                    g_rank, dm_home((char *)first + i * PAGE));
            exit(1);
        }
    }
    *raw_p = raw;
    return (char *)first;
}

/*
 * Loads the first word of each page, in the given order, and counts the
 * values that are wrong. With lat != NULL, lat[i] is the i-th load's time in
 * microseconds.
 */
static uint64_t load_pages(const char *pool, uint64_t **v, int n, double *lat)
{
    uint64_t bad = 0, t = lat ? now_ns() : 0, t1;

    for (int i = 0; i < n; i++) {
        bad += *(volatile uint64_t *)v[i] != tag(pool, v[i]);
        if (lat != NULL) {
            t1 = now_ns();
            lat[i] = (double)(t1 - t) / 1e3;
            t = t1;
        }
    }
    return bad;
}

/* Stores value into the first word of each page; lat as for load_pages. */
static void store_pages(uint64_t **v, int n, uint64_t value, double *lat)
{
    uint64_t t = lat ? now_ns() : 0, t1;

    for (int i = 0; i < n; i++) {
        *(volatile uint64_t *)v[i] = value;
        if (lat != NULL) {
            t1 = now_ns();
            lat[i] = (double)(t1 - t) / 1e3;
            t = t1;
        }
    }
}

/* The mean of lat[0..n) (the repetition's figure); the median goes to *p50 (sorts lat). */
static double mean_p50(double *lat, int n, double *p50)
{
    double sum = 0;

    for (int i = 0; i < n; i++) {
        sum += lat[i];
    }
    *p50 = median(lat, n);
    return sum / n;
}

/* How many pages in a row share a home at the start of a dm_alloc block. */
static long home_run_pages(const char *p, size_t bytes)
{
    size_t off = PAGE;

    while (off < bytes && dm_home(p + off) == dm_home(p)) {
        off += PAGE;
    }
    return (long)(off / PAGE);
}

static void bench_misses(const opts_t *o)
{
    int per = o->pages, reps = o->reps;
    size_t slices = (size_t)SET_COUNT * (size_t)reps, span = (size_t)per + GAP_PAGES;
    uint64_t **pages = malloc(slices * (size_t)per * sizeof(*pages));
    uint64_t seed = 0x9e3779b97f4a7c15ull, bad = 0;
    double v[SET_COUNT][REPS_MAX], p50[SET_COUNT][REPS_MAX], *lat = malloc(per * sizeof(*lat));
    static const char *const names[SET_COUNT] = { "read_miss_us", "read_miss_seq_us",
                                                   "write_miss_us", "upgrade_us" };
    static const char *const p50_names[SET_COUNT] = { "read_miss_p50_us", NULL,
                                                       "write_miss_p50_us", "upgrade_p50_us" };
    void *raw;
    char *pool;

    if (pages == NULL || lat == NULL) {
        die("malloc");
    }
    /*
     * Slice k (metric s, repetition r: k = s * reps + r) is per pages in
     * address order, followed by GAP_PAGES that nobody touches, so a read
     * ahead past the end of one slice never reaches the next.
     */
    pool = home1_pool(slices * span, &raw);
    for (size_t k = 0; k < slices; k++) {
        for (size_t i = 0; i < (size_t)per; i++) {
            pages[k * (size_t)per + i] = (uint64_t *)(void *)(pool + (k * span + i) * PAGE);
        }
    }
    /* The home writes every page once: real data, and checked when read. */
    if (g_rank == 1) {
        for (size_t i = 0; i < slices * (size_t)per; i++) {
            *pages[i] = tag(pool, pages[i]);
        }
    }
    barrier();

    for (int r = 0; r < reps; r++) {
        uint64_t **set[SET_COUNT], t0;

        for (int s = 0; s < SET_COUNT; s++) {
            /* set s of repetition r: a slice of the pool, in address order */
            set[s] = pages + ((size_t)s * (size_t)reps + (size_t)r) * (size_t)per;
        }
        shuffle(set[SET_READ_RAND], per, &seed);
        shuffle(set[SET_WRITE], per, &seed);
        shuffle(set[SET_UPGRADE], per, &seed);

        /* read miss, random order, then address order */
        if (g_rank == 0) {
            bad += load_pages(pool, set[SET_READ_RAND], per, lat);
            v[SET_READ_RAND][r] = mean_p50(lat, per, &p50[SET_READ_RAND][r]);
            t0 = now_ns();
            bad += load_pages(pool, set[SET_READ_SEQ], per, NULL);
            v[SET_READ_SEQ][r] = (double)(now_ns() - t0) / 1e3 / per;
        }
        barrier();

        /* write miss: ranks 1..N-1 share the pages read-only, rank 0 writes */
        if (g_rank != 0) {
            bad += load_pages(pool, set[SET_WRITE], per, NULL);
        }
        barrier();
        if (g_rank == 0) {
            store_pages(set[SET_WRITE], per, 7, lat);
            v[SET_WRITE][r] = mean_p50(lat, per, &p50[SET_WRITE][r]);
        }
        barrier();

        /* upgrade: rank 0 reads (a read-only copy), then writes */
        if (g_rank == 0) {
            bad += load_pages(pool, set[SET_UPGRADE], per, NULL);
            store_pages(set[SET_UPGRADE], per, 9, lat);
            v[SET_UPGRADE][r] = mean_p50(lat, per, &p50[SET_UPGRADE][r]);
        }
        barrier();
    }
    if (bad) {
        fprintf(stderr, "bench_dsm rank %d: %llu pages read back a wrong value\n", g_rank,
                (unsigned long long)bad);
        exit(1);
    }
    for (int s = 0; s < SET_COUNT; s++) {
        report(names[s], v[s], reps, per);
        if (p50_names[s] != NULL) {
            report(p50_names[s], p50[s], reps, per);
        }
    }
    barrier();
    if (g_rank == 1) {
        dm_mfree(raw);
    }
    free(lat);
    free(pages);
}

/* ---------------------------------------------------------------- barrier */

static void bench_barrier(const opts_t *o)
{
    double v[REPS_MAX], t[BARRIERS];

    for (int i = 0; i < 100; i++) {
        barrier();
    }
    for (int r = 0; r < o->reps; r++) {
        for (int i = 0; i < BARRIERS; i++) {
            uint64_t t0 = now_ns();

            barrier();
            t[i] = (double)(now_ns() - t0) / 1e3;
        }
        v[r] = median(t, BARRIERS);
    }
    report("barrier_us", v, o->reps, BARRIERS);
}

/* ---------------------------------------------------------------- neighbour update */

static void bench_neighbour(const opts_t *o)
{
    size_t words = (o->mib << 20) / sizeof(uint64_t);
    uint64_t *a = dm_alloc(words * sizeof(uint64_t)), sum = 0, want, t0 = 0;
    size_t lo = words * (size_t)g_rank / (size_t)g_nranks;
    size_t hi = words * (size_t)(g_rank + 1) / (size_t)g_nranks;
    int next = (g_rank + 1) % g_nranks;
    size_t nlo = words * (size_t)next / (size_t)g_nranks;
    size_t nhi = words * (size_t)(next + 1) / (size_t)g_nranks;
    double upd, all, init;

    if (a == NULL) {
        die("dm_alloc (neighbour-update array)");
    }
    barrier();
    t0 = now_ns();
    for (size_t i = lo; i < hi; i++) {
        a[i] = i;
    }
    barrier();
    init = (double)(now_ns() - t0) / 1e9;

    t0 = now_ns();
    for (size_t i = nlo; i < nhi; i++) {
        a[i] += 1;
    }
    barrier();
    upd = (double)(now_ns() - t0) / 1e9;

    t0 = now_ns();
    for (size_t i = 0; i < words; i++) {
        sum += a[i];
    }
    barrier();
    all = (double)(now_ns() - t0) / 1e9;

    want = (uint64_t)words * (uint64_t)(words - 1) / 2 + (uint64_t)words;
    if (sum != want) {
        fprintf(stderr, "bench_dsm rank %d: read-all sum %llu, expected %llu\n", g_rank,
                (unsigned long long)sum, (unsigned long long)want);
        exit(1);
    }
    if (g_rank == 0) {
        printf("# neighbour update: %zu MiB from dm_alloc, homes in runs of %ld pages;"
               " the owners' first writes took %.3f s\n", o->mib,
               home_run_pages((const char *)a, words * sizeof(uint64_t)), init);
    }
    report("neighbour_update_s", &upd, 1, (long)((nhi - nlo) * sizeof(uint64_t) / PAGE));
    report("read_all_s", &all, 1, (long)(words * sizeof(uint64_t) / PAGE));
    barrier();
    dm_free(a);
}

/* ---------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: distmem run -n N -- bench_dsm [OPTIONS]     (N >= 2)\n"
            "  --pages N   fresh pages per repetition and miss metric (default 256)\n"
            "  --reps N    repetitions; the median is reported (default 5, at most %d)\n"
            "  --mib N     neighbour-update array in MiB (default 64; 0 skips it)\n",
            REPS_MAX);
    exit(2);
}

static void parse(int argc, char **argv, opts_t *o)
{
    o->pages = 256;
    o->reps = 5;
    o->mib = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        long x;

        if (i + 1 >= argc) {
            usage();
        }
        x = strtol(argv[++i], &end, 10);
        if (*end != '\0' || x < 0) {
            usage();
        }
        if (!strcmp(a, "--pages") && x >= 1 && x <= 1 << 20) {
            o->pages = (int)x;
        } else if (!strcmp(a, "--reps") && x >= 1 && x <= REPS_MAX) {
            o->reps = (int)x;
        } else if (!strcmp(a, "--mib") && x <= 1 << 16) {
            o->mib = (size_t)x;
        } else {
            usage();
        }
    }
    o->skip_neighbour = o->mib == 0;
}

int main(int argc, char **argv)
{
    opts_t o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse(argc, argv, &o);
    if (dm_init(NULL) != DM_OK) {
        die("dm_init");
    }
    g_rank = dm_rank();
    g_nranks = dm_nranks();
    if (g_nranks < 2) {
        fprintf(stderr, "bench_dsm: needs at least 2 ranks (distmem run -n 2), not %d\n",
                g_nranks);
        dm_finalize();
        return 2;
    }
    if (g_rank == 0) {
        const char *tls = getenv("UCX_TLS");

        printf("# bench_dsm: %d ranks, UCX_TLS=%s, %d pages x %d repetitions per miss metric,"
               " %zu MiB neighbour update\n", g_nranks, tls ? tls : "(default)", o.pages,
               o.reps, o.mib);
    }
    bench_misses(&o);
    bench_barrier(&o);
    if (!o.skip_neighbour) {
        bench_neighbour(&o);
    }
    return dm_finalize() == DM_OK ? 0 : 1;
}
