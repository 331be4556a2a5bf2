/*
 * bench_transport: active-message round trip and put bandwidth of the
 * transport layer (src/transport), between exactly two ranks:
 *
 *   distmem run -n 2 [--tls LIST] -- build/bench/bench_transport [OPTIONS]
 *
 * Rank 0 drives, rank 1 answers. What is measured:
 *
 *   am_rtt_us   rank 0 dm_tp_am_send()s SIZE bytes to rank 1, whose handler
 *               dm_tp_am_post()s the same SIZE bytes back; rank 0 waits for
 *               the reply with dm_tp_wait_flag(). One iteration is one round
 *               trip; a batch's figure is its mean, in microseconds.
 *   am_rtt_p50_us  the same round trips, each timed: a batch's figure is
 *               the median round trip (robust to the scheduler's stalls on
 *               a busy machine; compare with ucx_perftest's 50%ile).
 *   put_bw_mbs  rank 0 starts a window of dm_tp_put_nbi() of SIZE bytes into
 *               memory rank 1 got from dm_tp_mem_map(), then dm_tp_flush(tp, 1);
 *               a batch's figure is bytes / time in MB/s (1e6 bytes/s),
 *               counting only bytes whose flush has returned.
 *
 * For each size: warm-up, then the iteration count is chosen from the
 * warm-up's speed so that all batches together take about --time seconds;
 * the figure printed is the median over --batches batches (min and max are
 * printed too, so noise shows). Output, rank 0 only, one line per result:
 *
 *   RESULT <metric> <size> <median> <min> <max> <iterations per batch>
 *
 * Everything else goes to stderr or is a comment line ("# ..."). The
 * benchmark never judges its figures; it exits non-zero only when an
 * operation fails.
 *
 * Rank 1 serves in one of two ways (--serve):
 *   wait    it sits in dm_tp_wait_flag() until rank 0 says the phase is
 *           over, so it busy-polls the worker itself (the default; the
 *           same discipline as ucx_perftest's responder);
 *   thread  it sleeps, and only the progress thread answers (needs
 *           DISTMEM_PROGRESS_THREAD=yes): the latency of a peer that is busy
 *           computing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot.h"
#include "coll.h"
#include "config.h"
#include "tp.h"
#include "util.h"

extern char **environ;

#define BENCH_BATCHES_MAX 64
#define BENCH_REGION      (8u << 20) /* mapped at both ranks: source and put target */
#define BENCH_WINDOW_BYTES (4u << 20) /* put window: bytes started before each flush */
#define BENCH_WINDOW_MAX  64          /* and at most this many puts */
#define BENCH_LAT_SAMPLES (1u << 20)  /* most round trips per batch (each one is timed) */

enum { AM_PING = DM_TP_AM_USER, AM_PONG, AM_PHASE_END };

#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        dm_status_t st_ = (expr);                                                    \
        if (st_ != DM_OK) {                                                          \
            fprintf(stderr, "bench_transport rank %d: %s:%d: %s -> %s: %s\n", g_rank, \
                    __FILE__, __LINE__, #expr, dm_status_name(st_), dm_last_error()); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)


typedef struct {
    size_t   sizes[32];
    size_t   nsizes;
    double   time_s;  /* per size and metric, all batches together */
    int      batches;
    int      do_am, do_put;
    int      serve_thread;
} opts_t;

static int g_rank;
static dm_tp_t *g_tp;
static volatile int g_pong;      /* rank 0: the reply arrived */
static volatile int g_phase_end; /* rank 1: rank 0 finished a phase */

/* ---------------------------------------------------------------- */

static void ping_handler(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                         size_t len)
{
    dm_status_t st = dm_tp_am_post(g_tp, src, AM_PONG, NULL, 0, data, len);

    if (st != DM_OK) {
        fprintf(stderr, "bench_transport rank %d: reply of %zu bytes: %s: %s\n", g_rank, len,
                dm_status_name(st), dm_last_error());
        exit(1);
    }
}

static void pong_handler(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                         size_t len)
{
    g_pong = 1;
}

static void phase_end_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                              const void *data, size_t len)
{
    __atomic_store_n(&g_phase_end, 1, __ATOMIC_RELEASE);
}

/* Rank 1: serve until rank 0 ends the phase. */
static void serve_phase(const opts_t *o)
{
    if (o->serve_thread) {
        while (!__atomic_load_n(&g_phase_end, __ATOMIC_ACQUIRE)) {
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        }
    } else {
        CHECK_OK(dm_tp_wait_flag(g_tp, &g_phase_end, 0));
    }
    g_phase_end = 0;
}

static void end_phase(void)
{
    CHECK_OK(dm_tp_am_send(g_tp, 1, AM_PHASE_END, NULL, 0, NULL, 0));
}

/* ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void report(const char *metric, size_t size, double *v, int n, uint64_t iters)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    printf("RESULT %s %zu %.3f %.3f %.3f %llu\n", metric, size,
           n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1],
           (unsigned long long)iters);
}

/* Iterations per batch so that the batches take about time_s, from a measured pace. */
static uint64_t batch_iters(const opts_t *o, double sec_per_iter, uint64_t lo)
{
    double want = o->time_s / o->batches / (sec_per_iter > 1e-9 ? sec_per_iter : 1e-9);

    if (want < (double)lo) {
        return lo;
    }
    return want > 1e7 ? 10000000 : (uint64_t)want;
}

/* n round trips; with lat != NULL each one's time in ns goes to lat[i]. */
static void am_round_trips(const void *buf, size_t size, uint64_t n, uint32_t *lat)
{
    uint64_t t = lat ? dm_time_ns() : 0, t1;

    for (uint64_t i = 0; i < n; i++) {
        g_pong = 0;
        CHECK_OK(dm_tp_am_send(g_tp, 1, AM_PING, NULL, 0, buf, size));
        CHECK_OK(dm_tp_wait_flag(g_tp, &g_pong, 1));
        if (lat != NULL) {
            t1 = dm_time_ns();
            lat[i] = (uint32_t)DM_MIN(t1 - t, (uint64_t)UINT32_MAX);
            t = t1;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static uint32_t median_u32(uint32_t *v, uint64_t n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_u32);
    return n % 2 ? v[n / 2] : (uint32_t)(((uint64_t)v[n / 2 - 1] + v[n / 2]) / 2);
}

static void bench_am(const opts_t *o, const unsigned char *buf)
{
    double v[BENCH_BATCHES_MAX], p50[BENCH_BATCHES_MAX];
    uint32_t *lat = malloc(BENCH_LAT_SAMPLES * sizeof(*lat));

    if (lat == NULL) {
        fprintf(stderr, "bench_transport: out of memory\n");
        exit(1);
    }

    for (size_t s = 0; s < o->nsizes; s++) {
        size_t size = o->sizes[s];
        uint64_t t0, warm = 10, iters;
        double pace = 1e9;

        /* warm up for at least 50 ms (connection, pools, caches) */
        t0 = dm_time_ns();
        do {
            am_round_trips(buf, size, warm, NULL);
            warm *= 2;
        } while (dm_time_ns() - t0 < 50 * 1000000ull && warm < 100000);
        /* pace: the fastest of 3 short runs, so one preemption does not skew it */
        for (int k = 0; k < 3; k++) {
            t0 = dm_time_ns();
            am_round_trips(buf, size, warm / 4 + 1, NULL);
            pace = DM_MIN(pace, (double)(dm_time_ns() - t0) / 1e9 / (double)(warm / 4 + 1));
        }
        iters = DM_MIN(batch_iters(o, pace, 20), (uint64_t)BENCH_LAT_SAMPLES);
        for (int b = 0; b < o->batches; b++) {
            t0 = dm_time_ns();
            am_round_trips(buf, size, iters, lat);
            v[b] = (double)(dm_time_ns() - t0) / 1e3 / (double)iters;
            p50[b] = (double)median_u32(lat, iters) / 1e3;
        }
        report("am_rtt_us", size, v, o->batches, iters);
        report("am_rtt_p50_us", size, p50, o->batches, iters);
    }
    free(lat);
}

/*
 * windows x window puts of size bytes; a flush ends each window. Like
 * ucx_perftest's ucp_put_bw, every put writes the same bytes at the start of
 * rank 1's region (cache-resident at both ends), so the figure is the cost of
 * the path, not of memory.
 */
static void put_windows(const unsigned char *src, size_t size, uint64_t windows, unsigned window,
                        uint64_t dst_base, dm_tp_rkey_t *rk)
{
    for (uint64_t w = 0; w < windows; w++) {
        for (unsigned i = 0; i < window; i++) {
            CHECK_OK(dm_tp_put_nbi(g_tp, 1, src, size, dst_base, rk));
        }
        CHECK_OK(dm_tp_flush(g_tp, 1));
    }
}

static void bench_put(const opts_t *o, const unsigned char *src, uint64_t dst,
                      dm_tp_rkey_t *rk)
{
    double v[BENCH_BATCHES_MAX];

    for (size_t s = 0; s < o->nsizes; s++) {
        size_t size = o->sizes[s];
        unsigned window = (unsigned)DM_MIN((size_t)BENCH_WINDOW_MAX,
                                           DM_MAX((size_t)1, BENCH_WINDOW_BYTES / size));
        uint64_t t0, warm = 2, windows;
        double pace = 1e9;

        t0 = dm_time_ns();
        do {
            put_windows(src, size, warm, window, dst, rk);
            warm *= 2;
        } while (dm_time_ns() - t0 < 50 * 1000000ull && warm < 100000);
        for (int k = 0; k < 3; k++) {
            t0 = dm_time_ns();
            put_windows(src, size, warm / 4 + 1, window, dst, rk);
            pace = DM_MIN(pace, (double)(dm_time_ns() - t0) / 1e9 / (double)(warm / 4 + 1));
        }
        windows = batch_iters(o, pace, 3);
        for (int b = 0; b < o->batches; b++) {
            t0 = dm_time_ns();
            put_windows(src, size, windows, window, dst, rk);
            v[b] = (double)(windows * window * size) / ((double)(dm_time_ns() - t0) / 1e9) / 1e6;
        }
        report("put_bw_mbs", size, v, o->batches, windows * window);
    }
}

/* ---------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: distmem run -n 2 [--tls LIST] -- bench_transport [OPTIONS]\n"
            "  --sizes LIST     comma-separated message sizes in bytes\n"
            "                   (default 8,64,512,4096,32768,262144,1048576)\n"
            "  --time SECONDS   time per size and metric, all batches (default 0.6)\n"
            "  --batches N      batches per size; the median is reported (default 7)\n"
            "  --only am|put    run one metric only\n"
            "  --serve wait|thread  how rank 1 answers (default wait: it polls)\n");
    exit(2);
}

static void parse(int argc, char **argv, opts_t *o)
{
    static const size_t defaults[] = { 8, 64, 512, 4096, 32768, 262144, 1048576 };

    memset(o, 0, sizeof(*o));
    memcpy(o->sizes, defaults, sizeof(defaults));
    o->nsizes = DM_ARRAY_SIZE(defaults);
    o->time_s = 0.6;
    o->batches = 7;
    o->do_am = o->do_put = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            usage();
        }
        i++;
        if (!strcmp(a, "--sizes")) {
            char *end;

            o->nsizes = 0;
            for (const char *p = v; *p;) {
                unsigned long long x = strtoull(p, &end, 10);

                if (end == p || x == 0 || x > BENCH_REGION || o->nsizes == DM_ARRAY_SIZE(o->sizes)) {
                    fprintf(stderr, "bench_transport: bad size list %s (1..%u bytes)\n", v,
                            BENCH_REGION);
                    exit(2);
                }
                o->sizes[o->nsizes++] = (size_t)x;
                p = *end == ',' ? end + 1 : end;
            }
        } else if (!strcmp(a, "--time")) {
            o->time_s = atof(v);
        } else if (!strcmp(a, "--batches")) {
            o->batches = atoi(v);
        } else if (!strcmp(a, "--only")) {
            o->do_am = !strcmp(v, "am");
            o->do_put = !strcmp(v, "put");
        } else if (!strcmp(a, "--serve")) {
            o->serve_thread = !strcmp(v, "thread");
            if (!o->serve_thread && strcmp(v, "wait")) {
                usage();
            }
        } else {
            usage();
        }
    }
    if (o->nsizes == 0 || o->time_s <= 0 || o->batches < 1 || o->batches > BENCH_BATCHES_MAX ||
        (!o->do_am && !o->do_put)) {
        usage();
    }
}

int main(int argc, char **argv)
{
    dm_config_t cfg;
    dm_boot_t *boot;
    dm_tp_mem_t *mem;
    dm_tp_rkey_t *rk = NULL;
    dm_tp_shared_t *sh;
    uint64_t dst_base = 0;
    size_t dst_len;
    unsigned char *buf;
    opts_t o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse(argc, argv, &o);
    CHECK_OK(dm_config_load(&cfg, environ));
    CHECK_OK(dm_boot_create(&cfg, &boot));
    g_rank = boot->rank;
    if (boot->nranks != 2) {
        fprintf(stderr, "bench_transport: runs as exactly 2 ranks (distmem run -n 2), not %d\n",
                boot->nranks);
        return 2;
    }
    if (o.serve_thread && !cfg.progress_thread) {
        fprintf(stderr, "bench_transport: --serve thread needs DISTMEM_PROGRESS_THREAD=yes\n");
        return 2;
    }
    CHECK_OK(dm_tp_create(boot, &cfg, &g_tp));
    CHECK_OK(dm_tp_boot_fence(g_tp));
    CHECK_OK(dm_tp_am_register(g_tp, AM_PING, ping_handler, NULL));
    CHECK_OK(dm_tp_am_register(g_tp, AM_PONG, pong_handler, NULL));
    CHECK_OK(dm_tp_am_register(g_tp, AM_PHASE_END, phase_end_handler, NULL));

    /* Both ranks map: rank 1's region is the put target, rank 0's the source. */
    CHECK_OK(dm_tp_mem_map(g_tp, NULL, BENCH_REGION, 0, &mem));
    buf = dm_tp_mem_addr(mem);
    for (size_t i = 0; i < BENCH_REGION; i++) {
        buf[i] = (unsigned char)(i * 131 + 7);
    }
    CHECK_OK(dm_tp_mem_share(g_tp, mem, &sh));
    if (g_rank == 0) {
        CHECK_OK(dm_tp_shared_lookup(g_tp, sh, 1, &dst_base, &dst_len, &rk));
        printf("# bench_transport: 2 ranks, UCX_TLS=%s, progress thread %s, rank 1 serves by %s,"
               " %d batches, %.2f s per size\n",
               getenv("UCX_TLS") ? getenv("UCX_TLS") : "(default)",
               cfg.progress_thread ? "on" : "off", o.serve_thread ? "thread" : "wait",
               o.batches, o.time_s);
    }
    CHECK_OK(dm_tp_barrier(g_tp));

    if (o.do_am) {
        if (g_rank == 0) {
            bench_am(&o, buf);
            end_phase();
        } else {
            serve_phase(&o);
        }
        CHECK_OK(dm_tp_barrier(g_tp));
    }
    if (o.do_put) {
        if (g_rank == 0) {
            bench_put(&o, buf, dst_base, rk);
            end_phase();
        } else {
            serve_phase(&o); /* puts over TCP need the target to progress */
        }
        CHECK_OK(dm_tp_barrier(g_tp));
    }

    dm_tp_shared_destroy(sh); /* owns rk */
    CHECK_OK(dm_tp_barrier(g_tp));
    dm_tp_mem_unmap(g_tp, mem);
    dm_tp_destroy(g_tp);
    dm_boot_destroy(boot, 1);
    return 0;
}
