/*
 * The part of the one-sided benchmarks that does not depend on the library
 * measured: options, the metric table, calibration, batches and the RESULT
 * lines. bench/rma.c (distmem) and bench/shmem_rma.c (OpenSHMEM, built with
 * oshcc's flags) both include it, so the two programs time the same way and
 * print the same lines; only the operations differ.
 *
 * Per metric and size: warm-up for at least 50 ms, the pace from the fastest
 * of three short runs, then --batches batches whose iteration count makes all
 * batches together take about --time seconds (a batch that runs past four
 * times its share stops early). A batch's figure is its mean; the line
 * printed carries the median, min and max over the batches:
 *
 *   RESULT <metric> <size> <median> <min> <max> <operations in the shortest batch>
 *
 * Plain C11 and POSIX; nothing here touches the network.
 */
#ifndef DM_BENCH_RMA_HARNESS_H
#define DM_BENCH_RMA_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RMA_REGION        (16u << 20) /* remote (and local) buffer; window ops wrap inside it */
/*
 * Both programs' local and remote buffers start on a page. Where a copy's
 * destination sits a little after its source modulo 4096 (16 bytes, as a
 * malloc'd buffer against a page-aligned one), glibc's memcpy runs at half
 * speed on this machine's CPU (4K aliasing of loads with earlier stores: a
 * 32 KiB copy took 413-436 ns against 232-273 ns). Left to the
 * allocators, OpenSHMEM's buffers happened to miss that case and ours
 * to hit it in gets, so the same alignment for both is what makes the
 * comparison fair.
 */
#define RMA_ALIGN         4096u
#define RMA_SIZE_MAX      (RMA_REGION / 2)
#define RMA_WINDOW        64  /* operations started before each completion */
#define RMA_BATCHES_MAX   64
#define RMA_SIZES_MAX     32
#define RMA_AMO_SIZE      8   /* the size printed on the atomics' lines */
#define RMA_BATCH_CHUNKS  16  /* a batch looks at the clock this often */
#define RMA_BATCH_OVERRUN 4.0 /* and stops at this many times its share of --time */

/* The metrics, in the order they run. */
typedef enum rma_metric {
    RMA_PUT_LAT,        /* put of SIZE bytes, then quiet: microseconds */
    RMA_GET_LAT,        /* blocking get of SIZE bytes: microseconds */
    RMA_GET_CACHED_LAT, /* blocking get from pages the caller holds readable (distmem only) */
    RMA_PUT_BW,         /* windows of RMA_WINDOW non-blocking puts, then quiet: MB/s */
    RMA_GET_BW,         /* the same with gets: MB/s */
    RMA_AMO_LAT,        /* blocking 64-bit fetch-and-add: microseconds */
    RMA_AMO_RATE,       /* windows of RMA_WINDOW adds, then quiet: millions per second */
    RMA_METRIC_COUNT
} rma_metric_t;

static const char *const rma_metric_names[RMA_METRIC_COUNT] = {
    "put_lat_us", "get_lat_us", "get_cached_lat_us", "put_bw_mbs", "get_bw_mbs",
    "amo_lat_us", "amo_rate_mops",
};

typedef struct rma_opts {
    size_t   sizes[RMA_SIZES_MAX];
    size_t   nsizes;
    double   time_s;   /* per size and metric, all batches together */
    int      batches;
    unsigned metrics;  /* bit (1u << rma_metric_t) per metric to run */
} rma_opts_t;

/* n iterations of one metric's pattern at size bytes (a window counts as one). */
typedef void rma_pass_fn(size_t size, uint64_t n);

static inline uint64_t rma_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int rma_metric_is_window(rma_metric_t m)
{
    return m == RMA_PUT_BW || m == RMA_GET_BW || m == RMA_AMO_RATE;
}

static inline int rma_metric_is_amo(rma_metric_t m)
{
    return m == RMA_AMO_LAT || m == RMA_AMO_RATE;
}

/* The byte offset of a window's i-th operation of size bytes: distinct slots, wrapping. */
static inline size_t rma_slot(size_t size, unsigned i)
{
    size_t slots = RMA_REGION / size;

    return (size_t)i % (slots < RMA_WINDOW ? slots : RMA_WINDOW) * size;
}

static inline void rma_usage(const char *prog, unsigned available)
{
    fprintf(stderr,
            "usage: %s [OPTIONS]   (2 processes; process 0 reports)\n"
            "  --sizes LIST     comma-separated sizes in bytes, 1..%u\n"
            "                   (default 8,64,512,4096,32768,262144,1048576)\n"
            "  --time SECONDS   time per size and metric, all batches (default 0.6)\n"
            "  --batches N      batches per size; the median is reported (default 7, at most %d)\n"
            "  --only LIST      comma-separated metrics to run, of:",
            prog, RMA_SIZE_MAX, RMA_BATCHES_MAX);
    for (int m = 0; m < RMA_METRIC_COUNT; m++) {
        if (available & (1u << m)) {
            fprintf(stderr, " %s", rma_metric_names[m]);
        }
    }
    fprintf(stderr, "\n");
    exit(2);
}

/* Parses argv into *o; available says which metrics this program has. Exits 2 on bad input. */
static inline void rma_parse(int argc, char **argv, unsigned available, rma_opts_t *o)
{
    static const size_t defaults[] = { 8, 64, 512, 4096, 32768, 262144, 1048576 };
    const char *prog = argv[0];

    memset(o, 0, sizeof(*o));
    memcpy(o->sizes, defaults, sizeof(defaults));
    o->nsizes = sizeof(defaults) / sizeof(defaults[0]);
    o->time_s = 0.6;
    o->batches = 7;
    o->metrics = available;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;

        if (v == NULL) {
            rma_usage(prog, available);
        }
        if (!strcmp(a, "--sizes")) {
            o->nsizes = 0;
            for (const char *p = v; *p;) {
                unsigned long long x = strtoull(p, &end, 10);

                if (end == p || x == 0 || x > RMA_SIZE_MAX || o->nsizes == RMA_SIZES_MAX ||
                    (*end != ',' && *end != '\0')) {
                    fprintf(stderr, "%s: bad size list %s (at most %d sizes of 1..%u bytes)\n",
                            prog, v, RMA_SIZES_MAX, RMA_SIZE_MAX);
                    exit(2);
                }
                o->sizes[o->nsizes++] = (size_t)x;
                p = *end == ',' ? end + 1 : end;
            }
        } else if (!strcmp(a, "--time")) {
            o->time_s = strtod(v, &end);
            if (*end != '\0') {
                rma_usage(prog, available);
            }
        } else if (!strcmp(a, "--batches")) {
            o->batches = (int)strtol(v, &end, 10);
            if (*end != '\0') {
                rma_usage(prog, available);
            }
        } else if (!strcmp(a, "--only")) {
            o->metrics = 0;
            for (const char *p = v; *p;) {
                size_t len = strcspn(p, ",");
                int m;

                for (m = 0; m < RMA_METRIC_COUNT; m++) {
                    if (strlen(rma_metric_names[m]) == len &&
                        !strncmp(p, rma_metric_names[m], len) && (available & (1u << m))) {
                        break;
                    }
                }
                if (m == RMA_METRIC_COUNT) {
                    rma_usage(prog, available);
                }
                o->metrics |= 1u << m;
                p += len + (p[len] == ',');
            }
        } else {
            rma_usage(prog, available);
        }
    }
    if (o->nsizes == 0 || !(o->time_s > 0) || o->batches < 1 || o->batches > RMA_BATCHES_MAX ||
        o->metrics == 0) {
        rma_usage(prog, available);
    }
}

static inline int rma_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/*
 * Runs one metric at one size: warm-up, calibration, o->batches batches.
 * v[b] receives batch b's seconds per iteration; returns the iterations of
 * the shortest batch. A batch runs in chunks and stops early once it has
 * taken RMA_BATCH_OVERRUN times its share of o->time_s: on a loaded machine
 * the pace of the calibration can be far too optimistic, and the figure of
 * a shortened batch is still a mean over what it ran.
 */
static inline uint64_t rma_measure(const rma_opts_t *o, rma_pass_fn *pass, size_t size, double *v)
{
    uint64_t warm = 2, t0, iters, fewest = UINT64_MAX;
    double pace = 1e9, want, budget_ns = o->time_s / o->batches * 1e9 * RMA_BATCH_OVERRUN;

    /* warm up for at least 50 ms (connections, registration caches, pages) */
    t0 = rma_now_ns();
    do {
        pass(size, warm);
        warm *= 2;
    } while (rma_now_ns() - t0 < 50 * 1000000ull && warm < 100000);
    /* pace: the fastest of 3 short runs, so one preemption does not skew it */
    for (int k = 0; k < 3; k++) {
        double s;

        t0 = rma_now_ns();
        pass(size, warm / 4 + 1);
        s = (double)(rma_now_ns() - t0) / 1e9 / (double)(warm / 4 + 1);
        pace = s < pace ? s : pace;
    }
    want = o->time_s / o->batches / (pace > 1e-9 ? pace : 1e-9);
    iters = want < 3 ? 3 : want > 1e7 ? 10000000 : (uint64_t)want;
    for (int b = 0; b < o->batches; b++) {
        uint64_t done = 0, chunk = iters / RMA_BATCH_CHUNKS + 1, t;

        t0 = rma_now_ns();
        do {
            uint64_t n = iters - done < chunk ? iters - done : chunk;

            pass(size, n);
            done += n;
            t = rma_now_ns() - t0;
        } while (done < iters && (double)t < budget_ns);
        v[b] = (double)t / 1e9 / (double)done;
        fewest = done < fewest ? done : fewest;
    }
    return fewest;
}

/*
 * Measures metric m at size with pass and prints its RESULT line: seconds
 * per iteration become microseconds per operation (latencies), MB/s (1e6
 * bytes per second) or millions of operations per second (windows).
 */
static inline void rma_run_metric(const rma_opts_t *o, rma_metric_t m, rma_pass_fn *pass,
                                  size_t size)
{
    double v[RMA_BATCHES_MAX], med;
    int n = o->batches;
    uint64_t iters = rma_measure(o, pass, size, v);

    for (int b = 0; b < n; b++) {
        if (m == RMA_PUT_BW || m == RMA_GET_BW) {
            v[b] = (double)RMA_WINDOW * (double)size / v[b] / 1e6;
        } else if (m == RMA_AMO_RATE) {
            v[b] = (double)RMA_WINDOW / v[b] / 1e6;
        } else {
            v[b] *= 1e6;
        }
    }
    qsort(v, (size_t)n, sizeof(*v), rma_cmp_double);
    med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    /* three decimals, or four significant digits below 1 (slow rates in Mop/s) */
    printf(med >= 1 ? "RESULT %s %zu %.3f %.3f %.3f %llu\n" : "RESULT %s %zu %.4g %.4g %.4g %llu\n",
           rma_metric_names[m], rma_metric_is_amo(m) ? (size_t)RMA_AMO_SIZE : size, med, v[0],
           v[n - 1], (unsigned long long)(rma_metric_is_window(m) ? iters * RMA_WINDOW : iters));
}

/* The byte a check writes at offset i of a size-byte message; salt tells writers apart. */
static inline unsigned char rma_pattern(size_t size, size_t i, unsigned salt)
{
    return (unsigned char)(i * 131u + (i >> 8) + size * 7u + salt * 29u);
}

#endif
