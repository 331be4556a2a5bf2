/*
 * bench_store_storm: what a migration storm costs the application, with and
 * without a migration budget (DP-MEM-006, docs/decisions/0005).
 *
 * A store of a dram tier (4096 pages) over an nvme tier (8192 slots, a file
 * in $DM_BENCH_DIR or /tmp), 4 KiB pages, with the worker thread. The
 * application (this thread) reads random pages of a hot set of 1024 pages,
 * all in dram, through dm_store_read, for SECONDS. Meanwhile a storm thread
 * moves 200 other pages dram -> nvme, and when they are all there, back,
 * and again (prefetch, HINT class), for the whole run; it samples the bytes
 * moved per tier pair in every 100 ms window.
 *
 * Runs: the baseline (no storm) of each configuration, then the storm under
 * each budget (MB/s per pair; default 10 and 50: on a disk that moves 4 KiB
 * pages at ~20 MB/s, only the first binds), the storm without a budget. A
 * store with a budget does work on every read that one without does not
 * (read-ahead and the reader's own promotions), so each storm run is
 * compared with the baseline of the same budget ("baseline" with
 * budget_mbs 0 is the one for no_budget). One RESULT line per figure:
 *   RESULT {"bench":"store_storm","run":...,"metric":...,"value":...,
 *           "unit":...,"budget_mbs":...}
 * metrics: app_reads (reads/s), migrations (done per second),
 * rate_max / rate_median (MB/s of the busier pair over the 100 ms windows)
 * and windows (how many). A runner checks "the budget holds within 10%":
 * rate_max <= 1.1 * budget_mbs.
 *
 *   bench_store_storm [SECONDS [BUDGET_MBS,...]]  (default 1 s, "10,50")
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define PS        4096u
#define DRAM_CAP  4096u
#define NVME_CAP  8192u
#define NPAGES    6000u
#define HOT       1024u
#define STORM0    2000u
#define STORM     200u
#define WINDOW_NS 100000000ull
#define MAXWIN    4096

typedef struct run {
    dm_store_t *s;
    atomic_int  stop;
    double      rates[MAXWIN]; /* MB/s of the busier pair per window */
    unsigned    nwin;
    uint64_t    done;
} run_t;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, dm_status_t st)
{
    fprintf(stderr, "bench_store_storm: %s: %s: %s\n", what, dm_status_name(st), dm_last_error());
    exit(1);
}

static uint64_t done_all(const dm_store_stats_t *st)
{
    uint64_t n = 0;

    for (unsigned k = 0; k < DM_MIGRATE_CLASS_COUNT; k++) {
        n += st->done[k];
    }
    return n;
}

static void *storm_main(void *arg)
{
    run_t *r = arg;
    dm_store_stats_t st;
    uint64_t t0, w0, b01, b10, target;
    unsigned to = 1;
    dm_status_t rc;

    dm_store_stats(r->s, &st);
    b01 = st.bytes_moved[0][1];
    b10 = st.bytes_moved[1][0];
    target = done_all(&st) + STORM;
    t0 = w0 = now_ns();
    (void)t0;
    rc = dm_store_prefetch(r->s, STORM0, STORM, to);
    if (rc != DM_OK) {
        die("prefetch", rc);
    }
    while (!atomic_load(&r->stop)) {
        uint64_t t;

        usleep(1000);
        t = now_ns();
        dm_store_stats(r->s, &st);
        if (done_all(&st) >= target) {
            to = 1 - to;
            target = done_all(&st) + STORM;
            rc = dm_store_prefetch(r->s, STORM0, STORM, to);
            if (rc != DM_OK) {
                die("prefetch", rc);
            }
        }
        if (t - w0 >= WINDOW_NS && r->nwin < MAXWIN) {
            double sec = (double)(t - w0) / 1e9;
            double r01 = (double)(st.bytes_moved[0][1] - b01) / sec / 1e6;
            double r10 = (double)(st.bytes_moved[1][0] - b10) / sec / 1e6;

            r->rates[r->nwin++] = r01 > r10 ? r01 : r10;
            b01 = st.bytes_moved[0][1];
            b10 = st.bytes_moved[1][0];
            w0 = t;
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void result(const char *run, const char *metric, double value, const char *unit,
                   double budget)
{
    printf("RESULT {\"bench\":\"store_storm\",\"run\":\"%s\",\"metric\":\"%s\",\"value\":%.3f,"
           "\"unit\":\"%s\",\"budget_mbs\":%g}\n", run, metric, value, unit, budget);
    fflush(stdout);
}

static void one_run(const char *name, const char *dir, double budget, int with_storm,
                    double seconds)
{
    char path[4096];
    dm_store_tier_params_t tiers[2];
    dm_store_params_t p;
    dm_store_stats_t a, b;
    run_t r;
    pthread_t th;
    char *buf;
    uint64_t seed = 0x9E3779B97F4A7C15ull, reads = 0, t0, t1, deadline;
    dm_status_t st;

    memset(&r, 0, sizeof(r));
    memset(tiers, 0, sizeof(tiers));
    snprintf(path, sizeof(path), "%s/bench_store_storm.%d.dat", dir, (int)getpid());
    tiers[0].kind = DM_STORE_KIND_DRAM;
    tiers[0].capacity = DRAM_CAP;
    tiers[1].kind = DM_STORE_KIND_NVME;
    tiers[1].capacity = NVME_CAP;
    tiers[1].path = path;
    tiers[1].field_mask = DM_STORE_PARAM_PATH;
    memset(&p, 0, sizeof(p));
    p.tiers = tiers;
    p.ntiers = 2;
    p.npages = NPAGES;
    p.budget_mbs = budget;
    p.worker = 1;
    p.field_mask = DM_STORE_OPT_BUDGET | DM_STORE_OPT_WORKER;
    st = dm_store_create(&p, &r.s);
    if (st != DM_OK) {
        die("create", st);
    }
    buf = aligned_alloc(dm_store_buf_align(r.s), PS);
    for (uint64_t pg = 0; pg < HOT; pg++) {
        memset(buf, (int)(pg & 0xff), PS);
        if ((st = dm_store_write(r.s, pg, buf)) != DM_OK) {
            die("write", st);
        }
    }
    for (uint64_t pg = STORM0; pg < STORM0 + STORM; pg++) {
        memset(buf, (int)(pg & 0xff), PS);
        if ((st = dm_store_write(r.s, pg, buf)) != DM_OK) {
            die("write", st);
        }
    }
    dm_store_stats(r.s, &a);
    if (with_storm) {
        pthread_create(&th, NULL, storm_main, &r);
    }
    t0 = now_ns();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    do {
        for (int i = 0; i < 256; i++) {
            uint64_t pg = (seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17) % HOT;

            if ((st = dm_store_read(r.s, pg, buf)) != DM_OK) {
                die("read", st);
            }
            if (((unsigned char *)buf)[0] != (pg & 0xff)) {
                fprintf(stderr, "bench_store_storm: page %llu holds the wrong data\n",
                        (unsigned long long)pg);
                exit(1);
            }
        }
        reads += 256;
        t1 = now_ns();
    } while (t1 < deadline);
    if (with_storm) {
        atomic_store(&r.stop, 1);
        pthread_join(th, NULL);
    }
    dm_store_stats(r.s, &b);
    result(name, "app_reads", (double)reads / ((double)(t1 - t0) / 1e9), "reads/s", budget);
    if (with_storm) {
        double med = 0, max = 0;

        if (r.nwin > 0) {
            qsort(r.rates, r.nwin, sizeof(double), cmp_double);
            med = r.rates[r.nwin / 2];
            max = r.rates[r.nwin - 1];
        }
        result(name, "migrations", (double)(done_all(&b) - done_all(&a)) /
               ((double)(t1 - t0) / 1e9), "migrations/s", budget);
        result(name, "rate_max", max, "MB/s", budget);
        result(name, "rate_median", med, "MB/s", budget);
        result(name, "windows", r.nwin, "windows of 100 ms", budget);
    }
    dm_store_destroy(r.s);
    free(buf);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const char *budgets = argc > 2 ? argv[2] : "10,50";
    const char *dir = getenv("DM_BENCH_DIR");
    char *list, *tok, *save = NULL;

    if (dir == NULL || dir[0] == '\0') {
        dir = "/tmp";
    }
    if (seconds <= 0) {
        fprintf(stderr, "usage: bench_store_storm [SECONDS [BUDGET_MBS[,BUDGET_MBS...]]]\n");
        return 2;
    }
    one_run("baseline", dir, 0, 0, seconds);
    list = strdup(budgets);
    for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        double budget = atof(tok);

        if (budget <= 0) {
            fprintf(stderr, "bench_store_storm: budget \"%s\" is not > 0\n", tok);
            return 2;
        }
        one_run("baseline", dir, budget, 0, seconds);
        one_run("budget", dir, budget, 1, seconds);
    }
    free(list);
    one_run("no_budget", dir, 0, 1, seconds);
    return 0;
}
