/*
 * The tiered page store (store.h) over a dram tier and an nvme tier (a file
 * in a scratch directory), driven from one thread; the engine is stepped by
 * hand with a virtual clock (no worker, no wall-clock assertion).
 *
 *   params       every bad configuration is DM_ERR_INVALID_PARAM naming the
 *                field; tiers are sorted by distance; zeros before a write
 *   cache mode   (no budget) a data set 4x the dram tier written, verified
 *                byte for byte under random and skewed reads and writes; the
 *                skewed phase hits dram >= 80%; invariants hold throughout
 *   budget mode  the same with a budget, promotions running through the
 *                engine; advise (hint policy: preferred pages stay in dram)
 *                and prefetch (up and down) do what they say
 *   copies       (both modes) a page promoted from nvme keeps its nvme copy
 *                while clean: a clean demotion drops it without I/O, a write
 *                after the promotion is written back at the demotion, every
 *                read returns the last write, every clean copy equals its
 *                page (dm_store_check)
 *   stale        writes to pages whose migration is in flight, both ways and
 *                in both phases: every migration is dropped as stale, the
 *                new data is what reads return
 *   full nvme    (root) an 8 MiB ext4 image on a loop device holds the nvme
 *                file: writes fill it until DM_ERR_NO_SPACE, demotions into
 *                it fail and are counted, every page written reads back
 *                intact; skipped with a message when not root
 * Expected verdict: all hold (exit 0); teardown leaves no descriptor open.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store.h"
#include "store_test.h"
#include "util.h"

#define PS       4096u
#define DRAM_CAP 256u
#define NVME_CAP 1280u
#define NPAGES   1024u /* 4x the dram tier */

static char *g_dir;
static char g_mnt[4200];
static int g_mounted;
static uint64_t g_now;
static uint64_t g_t0;

static void cleanup_at_exit(void)
{
    if (g_mounted) {
        umount2(g_mnt, MNT_DETACH);
        g_mounted = 0;
    }
    if (g_dir) {
        store_rm_rf(g_dir);
    }
}

typedef struct cfg {
    double      budget_mbs;
    const char *policy0;
    uint64_t    nvme_cap, npages;
    const char *nvme_path;
    int         chunk;
    int         direct;   /* O_DIRECT (AUTO); else buffered: the data-set parts
                             do thousands of synchronous I/Os on a shared disk */
} cfg_t;

static dm_status_t make(const cfg_t *c, dm_store_t **s_p)
{
    static char path[4300];
    dm_store_tier_params_t tiers[2];
    const char *policies[2];
    dm_store_params_t p;

    memset(tiers, 0, sizeof(tiers));
    /* nvme first: the store must sort by distance */
    tiers[0].kind = DM_STORE_KIND_NVME;
    tiers[0].capacity = c->nvme_cap ? c->nvme_cap : NVME_CAP;
    if (c->nvme_path) {
        snprintf(path, sizeof(path), "%s", c->nvme_path);
    } else {
        snprintf(path, sizeof(path), "%s/nvme.dat", g_dir);
    }
    tiers[0].path = path;
    tiers[0].field_mask = DM_STORE_PARAM_PATH;
    if (!c->direct) {
        tiers[0].field_mask |= DM_STORE_PARAM_DIRECT;
        tiers[0].direct = DM_STORE_DIRECT_OFF;
    }
    if (c->chunk) {
        tiers[0].field_mask |= DM_STORE_PARAM_PREALLOC;
        tiers[0].prealloc = DM_STORE_PREALLOC_CHUNK;
    }
    tiers[1].kind = DM_STORE_KIND_DRAM;
    tiers[1].capacity = DRAM_CAP;
    policies[0] = "arc";
    policies[1] = c->policy0;
    memset(&p, 0, sizeof(p));
    p.tiers = tiers;
    p.ntiers = 2;
    p.npages = c->npages ? c->npages : NPAGES;
    p.policies = policies;
    p.budget_mbs = c->budget_mbs;
    p.field_mask = DM_STORE_OPT_POLICIES | DM_STORE_OPT_BUDGET;
    return dm_store_create(&p, s_p);
}

/*
 * One step of the virtual clock (20 us), and the engine run until nothing is
 * in flight: the disk's real latency then does not show in virtual time, so
 * what the budget admits does not depend on how loaded the machine is.
 */
static void step_engine(dm_store_t *s)
{
    dm_store_stats_t st;

    g_now += 20000;
    for (;;) {
        (void)dm_store_progress(s, g_now, 0);
        dm_store_stats(s, &st);
        if (st.in_flight == 0) {
            return;
        }
        usleep(20);
    }
}

/* Steps the engine with the virtual clock until nothing is queued or moving. */
static void drain(dm_store_t *s)
{
    for (long i = 0; i < 2000000; i++) {
        if (dm_store_progress(s, g_now, 0) == DM_OK) {
            return;
        }
        g_now += 100000; /* 100 us */
        if (i % 64 == 63) {
            usleep(50); /* let the disk finish */
        }
    }
    {
        dm_store_stats_t st;

        dm_store_stats(s, &st);
        CHECK(0, "the engine did not drain: queued %llu, in flight %llu, free slots %llu %llu",
              (unsigned long long)st.queued, (unsigned long long)st.in_flight,
              (unsigned long long)(st.tier[0].capacity - st.tier[0].used),
              (unsigned long long)(st.tier[1].capacity - st.tier[1].used));
    }
}

static void verify_all(dm_store_t *s, const uint32_t *gen, uint64_t npages, const char *what)
{
    char *buf = store_alloc(PS);

    for (uint64_t p = 0; p < npages; p++) {
        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(store_match(buf, PS, p, gen[p]), "%s: page %llu holds gen %ld, want %u", what,
              (unsigned long long)p, store_which(buf, PS, p, 8), gen[p]);
    }
    free(buf);
    CHECK_OK(dm_store_check(s));
}

static void expect_invalid(dm_store_params_t *p, const char *field)
{
    dm_store_t *s = NULL;

    CHECK_ST(dm_store_create(p, &s), DM_ERR_INVALID_PARAM);
    CHECK(s == NULL, "store_p set on failure");
    CHECK(strstr(dm_last_error(), field) != NULL, "the message \"%s\" does not name %s",
          dm_last_error(), field);
}

static void params(void)
{
    char path[4300];
    dm_store_tier_params_t tiers[2], bad[2];
    const char *pol[2] = {"arc", "nope"};
    dm_store_params_t ok, p;
    dm_store_stats_t st;
    dm_store_t *s;
    char *buf = store_alloc(PS);

    memset(tiers, 0, sizeof(tiers));
    snprintf(path, sizeof(path), "%s/params.dat", g_dir);
    tiers[0] = (dm_store_tier_params_t){.kind = DM_STORE_KIND_NVME, .capacity = 64,
                                        .path = path, .field_mask = DM_STORE_PARAM_PATH};
    tiers[1] = (dm_store_tier_params_t){.kind = DM_STORE_KIND_DRAM, .capacity = 16};
    memset(&ok, 0, sizeof(ok));
    ok.tiers = tiers;
    ok.ntiers = 2;
    ok.npages = 64;

    p = ok; p.tiers = NULL;                                   expect_invalid(&p, "tiers");
    p = ok; p.ntiers = 0;                                     expect_invalid(&p, "ntiers");
    p = ok; p.npages = 0;                                     expect_invalid(&p, "npages");
    p = ok; p.npages = 80 - 16 + 1;                           expect_invalid(&p, "npages");
    p = ok; p.field_mask = DM_STORE_OPT_PAGE_SIZE; p.page_size = 1000;
    expect_invalid(&p, "page_size");
    p = ok; p.field_mask = DM_STORE_OPT_POLICIES; p.policies = pol;
    expect_invalid(&p, "policies[1]");
    p = ok; p.field_mask = DM_STORE_OPT_BUDGET; p.budget_mbs = -1;
    expect_invalid(&p, "budget_mbs");
    p = ok; p.field_mask = DM_STORE_OPT_BURST; p.budget_burst = 100;
    expect_invalid(&p, "budget_burst");
    p = ok; p.field_mask = DM_STORE_OPT_MAX_IN_FLIGHT; p.max_in_flight = 0;
    expect_invalid(&p, "max_in_flight");
    p = ok; p.field_mask = DM_STORE_OPT_QUEUE_MAX;            expect_invalid(&p, "queue_max");
    p = ok; p.field_mask = DM_STORE_OPT_WATERMARKS; p.low_watermark = 0.9;
    p.high_watermark = 0.8;                                   expect_invalid(&p, "watermark");
    p = ok; p.field_mask = DM_STORE_OPT_SCAN_THRESHOLD;       expect_invalid(&p, "scan_threshold");
    p = ok; p.field_mask = DM_STORE_OPT_READAHEAD; p.readahead_max = DM_STORE_READAHEAD_MAX + 1;
    expect_invalid(&p, "readahead_max");
    memcpy(bad, tiers, sizeof(bad));
    bad[1].field_mask = DM_STORE_PARAM_PAGE_SIZE;
    bad[1].page_size = 8192;
    p = ok; p.tiers = bad;                                    expect_invalid(&p, "tiers[1].page_size");
    memcpy(bad, tiers, sizeof(bad));
    bad[1].field_mask = DM_STORE_PARAM_QUEUE_DEPTH;
    bad[1].queue_depth = 4;
    p = ok; p.tiers = bad;                                    expect_invalid(&p, "tiers[1].queue_depth");
    memcpy(bad, tiers, sizeof(bad));
    bad[0].capacity = 0;
    p = ok; p.tiers = bad;                                    expect_invalid(&p, "tiers[0]");

    CHECK_OK(dm_store_create(&ok, &s));
    dm_store_stats(s, &st);
    CHECK(st.ntiers == 2 && st.tier[0].kind == DM_STORE_KIND_DRAM &&
          st.tier[1].kind == DM_STORE_KIND_NVME, "tiers not sorted by distance");
    CHECK(st.tier[0].target == 13 && st.tier[1].target == 64, "targets %llu %llu",
          (unsigned long long)st.tier[0].target, (unsigned long long)st.tier[1].target);
    CHECK(dm_store_buf_align(s) >= 4096, "nvme needs 4 KiB alignment");
    memset(buf, 0xab, PS);
    CHECK_OK(dm_store_read(s, 5, buf));
    CHECK(store_match(buf, PS, 5, 0), "a page never written is not zeros");
    CHECK_ST(dm_store_read(s, 64, buf), DM_ERR_OUT_OF_RANGE);
    CHECK_ST(dm_store_read(s, 1, buf + 8), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_write(s, 1, NULL), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_prefetch(s, 60, 5, 0), DM_ERR_OUT_OF_RANGE);
    CHECK_ST(dm_store_prefetch(s, 0, 5, 2), DM_ERR_OUT_OF_RANGE);
    CHECK_ST(dm_store_advise(s, 0, 65, DM_ADVICE_COLD), DM_ERR_OUT_OF_RANGE);
    CHECK_ST(dm_store_advise(s, 0, 1, DM_ADVICE_COUNT), DM_ERR_INVALID_PARAM);
    CHECK(dm_store_page_tier(s, 5) == -1, "unwritten page placed");
    CHECK_OK(dm_store_check(s));
    dm_store_destroy(s);
    dm_store_destroy(NULL);
    free(buf);
    printf("params: ok\n");
}

/* A skewed page: 90% of picks in the first `hot` pages. */
static uint64_t pick(uint64_t *seed, uint64_t hot, uint64_t n)
{
    return store_rand(seed) % 10 < 9 ? store_rand(seed) % hot : store_rand(seed) % n;
}

/*
 * Writes the data set, verifies it, then random and skewed phases with
 * writes mixed in. step: advance the engine after each access (budget mode).
 */
static void data_set(dm_store_t *s, int step, const char *what)
{
    uint32_t *gen = calloc(NPAGES, sizeof(*gen));
    char *buf = store_alloc(PS);
    uint64_t seed = 88172645463325252ull;
    dm_store_stats_t a, b;
    double ratio;

    CHECK(gen != NULL, "calloc");
    for (uint64_t p = 0; p < NPAGES; p++) {
        gen[p] = 1;
        store_fill(buf, PS, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
        if (step) {
            step_engine(s);
        }
    }
    CHECK_OK(dm_store_check(s));
    verify_all(s, gen, NPAGES, what);

    /* random: reads and 20% writes over the whole set */
    for (int i = 0; i < 2000; i++) {
        uint64_t p = store_rand(&seed) % NPAGES;

        if (store_rand(&seed) % 5 == 0) {
            store_fill(buf, PS, p, ++gen[p]);
            CHECK_OK(dm_store_write(s, p, buf));
        } else {
            CHECK_OK(dm_store_read(s, p, buf));
            CHECK(store_match(buf, PS, p, gen[p]), "%s random: page %llu holds %ld want %u",
                  what, (unsigned long long)p, store_which(buf, PS, p, 64), gen[p]);
        }
        if (step) {
            step_engine(s);
        }
    }
    CHECK_OK(dm_store_check(s));

    /* skewed: 90% of the accesses in 128 pages (half the dram tier) */
    for (int warm = 0; warm < 2; warm++) {
        if (warm == 1) {
            dm_store_stats(s, &a);
        }
        for (int i = 0; i < 3000; i++) {
            uint64_t p = pick(&seed, 128, NPAGES);

            if (store_rand(&seed) % 10 == 0) {
                store_fill(buf, PS, p, ++gen[p]);
                CHECK_OK(dm_store_write(s, p, buf));
            } else {
                CHECK_OK(dm_store_read(s, p, buf));
                CHECK(store_match(buf, PS, p, gen[p]), "%s skewed: page %llu holds %ld want %u",
                      what, (unsigned long long)p, store_which(buf, PS, p, 64), gen[p]);
            }
            if (step) {
                step_engine(s);
            }
        }
    }
    dm_store_stats(s, &b);
    ratio = (double)(b.tier[0].hits - a.tier[0].hits) /
            (double)(b.tier[0].hits - a.tier[0].hits + b.tier[0].misses - a.tier[0].misses);
    printf("%s: skewed phase: dram hit ratio %.3f; migrations done demand %llu pressure %llu, "
           "sync moves %llu, stale %llu\n", what, ratio,
           (unsigned long long)b.done[DM_MIGRATE_DEMAND],
           (unsigned long long)b.done[DM_MIGRATE_PRESSURE], (unsigned long long)b.sync_moves,
           (unsigned long long)b.stale);
    CHECK(ratio >= 0.8, "%s: dram hit ratio %.3f under a 90/10 skew", what, ratio);
    if (step) {
        drain(s);
    }
    verify_all(s, gen, NPAGES, what);
    CHECK(b.tier[0].pages <= DRAM_CAP && b.tier[1].pages <= NVME_CAP, "pages per tier");
    free(gen);
    free(buf);
}

static void cache_mode(void)
{
    cfg_t c = {0};
    dm_store_t *s;
    dm_store_stats_t st;

    CHECK_OK(make(&c, &s));
    data_set(s, 0, "cache mode");
    dm_store_stats(s, &st);
    CHECK(st.sync_moves > 0 && st.bytes_moved[1][0] > 0 && st.bytes_moved[0][1] > 0,
          "cache mode moved nothing");
    CHECK(st.tier[0].pages <= st.tier[0].target, "dram above its target at rest: %llu > %llu",
          (unsigned long long)st.tier[0].pages, (unsigned long long)st.tier[0].target);
    CHECK_OK(dm_store_flush(s));
    dm_store_destroy(s);
}

static void budget_mode(void)
{
    cfg_t c = {.budget_mbs = 200, .policy0 = "hint"};
    dm_store_t *s;
    dm_store_stats_t st;
    char *buf = store_alloc(PS);
    uint64_t in0 = 0;

    CHECK_OK(make(&c, &s));
    data_set(s, 1, "budget mode");
    dm_store_stats(s, &st);
    CHECK(st.sync_moves == 0, "budget mode moved synchronously");
    CHECK(st.done[DM_MIGRATE_DEMAND] > 0 && st.bytes_admitted[1][0] > 0, "no promotion");

    /* advise: pages 900..939 preferred in dram; bring them up, then stream
     * over everything else once: they stay */
    CHECK_OK(dm_store_advise(s, 900, 40, DM_ADVICE_PREFERRED_TIER));
    CHECK_OK(dm_store_prefetch(s, 900, 40, 0));
    drain(s);
    for (uint64_t p = 900; p < 940; p++) {
        CHECK(dm_store_page_tier(s, p) == 0, "prefetched page %llu not in dram",
              (unsigned long long)p);
    }
    for (uint64_t p = 0; p < 900; p++) {
        CHECK_OK(dm_store_read(s, p, buf));
        step_engine(s);
    }
    drain(s);
    for (uint64_t p = 900; p < 940; p++) {
        in0 += dm_store_page_tier(s, p) == 0;
    }
    printf("advise: %llu of 40 preferred pages still in dram after a stream of 900\n",
           (unsigned long long)in0);
    CHECK(in0 == 40, "preferred pages evicted by a stream: %llu of 40 left",
          (unsigned long long)in0);
    /* prefetch down: a demotion hint */
    CHECK_OK(dm_store_prefetch(s, 900, 20, 1));
    drain(s);
    for (uint64_t p = 900; p < 920; p++) {
        CHECK(dm_store_page_tier(s, p) == 1, "page %llu not demoted", (unsigned long long)p);
    }
    CHECK_OK(dm_store_check(s));
    /* the scan promotes pages read often */
    CHECK_OK(dm_store_scan(s));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(dm_store_read(s, 905, buf));
    }
    drain(s); /* the demand promotion already did it */
    CHECK(dm_store_page_tier(s, 905) == 0, "a page read 3 times was not promoted");
    dm_store_destroy(s);
    free(buf);
    printf("budget mode: advise and prefetch: ok\n");
}

static uint64_t find_run(dm_store_t *s, int t, uint64_t n);

/*
 * Copies (store.c "Copies"): a page promoted from nvme keeps its nvme slot
 * as a copy while clean, and a clean demotion only drops the dram copy.
 * Each check fails if a drop ever lost a write:
 *   clean drop     16 pages read up, then demoted: dropped (no bytes moved),
 *                  data intact, nvme copies counted
 *   write, demote  a page written after its promotion is written back when
 *                  demoted (engine and cache mode, by prefetch and by the
 *                  policy's eviction), and reads return the new data
 *   round trips    promote, write, demote, promote, demote clean: each read
 *                  returns the last write
 * dm_store_check compares every clean copy with its page, byte for byte.
 */
static void copies_mode(double budget_mbs)
{
    cfg_t c = {.budget_mbs = budget_mbs, .direct = 1};
    uint32_t *gen = calloc(NPAGES, sizeof(*gen));
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    const char *mode = budget_mbs > 0 ? "budget" : "cache";
    uint64_t first;
    dm_store_t *s;

    CHECK_OK(make(&c, &s));
    for (uint64_t p = 0; p < NPAGES; p++) {
        gen[p] = 1;
        store_fill(buf, PS, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
    }
    drain(s);
    first = find_run(s, 1, NPAGES);
    /* up: each read promotes its page (budget: the reader's own move or the
     * engine's; cache: at once) */
    for (uint64_t p = first; p < first + 16; p++) {
        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(store_match(buf, PS, p, gen[p]), "%s: page %llu read wrong", mode,
              (unsigned long long)p);
    }
    drain(s);
    dm_store_stats(s, &a);
    for (uint64_t p = first; p < first + 16; p++) {
        CHECK(dm_store_page_tier(s, p) == 0, "%s: page %llu not promoted", mode,
              (unsigned long long)p);
    }
    CHECK(a.tier[1].copies >= 16, "%s: %llu nvme copies after 16 promotions", mode,
          (unsigned long long)a.tier[1].copies);
    CHECK_OK(dm_store_check(s));

    /* write after promotion: the second half, written in dram */
    for (uint64_t p = first + 8; p < first + 16; p++) {
        store_fill(buf, PS, p, ++gen[p]);
        CHECK_OK(dm_store_write(s, p, buf));
        CHECK(dm_store_page_tier(s, p) == 0, "%s: page %llu left dram", mode,
              (unsigned long long)p);
    }
    /* then demotion of all 16: the clean half dropped, the dirty half
     * written back */
    dm_store_stats(s, &a);
    CHECK_OK(dm_store_prefetch(s, first, 16, 1));
    drain(s);
    dm_store_stats(s, &b);
    CHECK(b.clean_drops - a.clean_drops == 8 &&
          b.bytes_moved[0][1] - a.bytes_moved[0][1] == 8ull * PS,
          "%s: 8 clean and 8 dirty demotions: %llu dropped, %llu bytes written back", mode,
          (unsigned long long)(b.clean_drops - a.clean_drops),
          (unsigned long long)(b.bytes_moved[0][1] - a.bytes_moved[0][1]));
    for (uint64_t p = first; p < first + 16; p++) {
        CHECK(dm_store_page_tier(s, p) == 1, "%s: page %llu not demoted", mode,
              (unsigned long long)p);
    }
    verify_all(s, gen, NPAGES, "clean drop, dirty demotion");

    /* round trips, demoted by the policy: promote 16, write every other one,
     * then stream the rest of the data set through dram (budget: with the
     * engine stepped) so that they are evicted */
    for (int round = 0; round < 3; round++) {
        for (uint64_t p = first; p < first + 16; p++) {
            CHECK_OK(dm_store_read(s, p, buf));
            CHECK(store_match(buf, PS, p, gen[p]), "%s: round %d: page %llu holds %ld, "
                  "want %u", mode, round, (unsigned long long)p, store_which(buf, PS, p, 64),
                  gen[p]);
            if ((p + (uint64_t)round) % 2 == 0) {
                store_fill(buf, PS, p, ++gen[p]);
                CHECK_OK(dm_store_write(s, p, buf));
            }
        }
        drain(s);
        CHECK_OK(dm_store_check(s));
        for (uint64_t p = 0; p < NPAGES; p++) {
            if (p >= first && p < first + 16) {
                continue;
            }
            CHECK_OK(dm_store_read(s, p, buf));
            CHECK(store_match(buf, PS, p, gen[p]), "%s: round %d: page %llu read wrong", mode,
                  round, (unsigned long long)p);
            if (budget_mbs > 0 && p % 8 == 0) {
                step_engine(s);
            }
        }
        drain(s);
        CHECK_OK(dm_store_check(s));
    }
    verify_all(s, gen, NPAGES, "round trips");
    dm_store_stats(s, &b);
    printf("copies (%s mode): %llu clean drops, %llu nvme copies now, %llu bytes written "
           "back to nvme\n", mode, (unsigned long long)b.clean_drops,
           (unsigned long long)b.tier[1].copies, (unsigned long long)b.bytes_moved[0][1]);
    CHECK(b.clean_drops > 16, "%s: the evictions dropped no clean page", mode);
    dm_store_destroy(s);
    free(gen);
    free(buf);
}

/* The first of 16 consecutive pages below n that all live in tier t. */
static uint64_t find_run(dm_store_t *s, int t, uint64_t n)
{
    for (uint64_t p = 0; p + 16 <= n; p++) {
        uint64_t q = p;

        while (q < p + 16 && dm_store_page_tier(s, q) == t) {
            q++;
        }
        if (q == p + 16) {
            return p;
        }
        p = q; /* q is not in t */
    }
    CHECK(0, "no 16 consecutive pages below %llu in tier %d", (unsigned long long)n, t);
    return 0;
}

/* 16 consecutive pages of the other tier (below page 512) being moved to
 * tier `to`, frozen mid-flight, written. */
static void stale_case(dm_store_t *s, uint32_t *gen, unsigned to, int phase2)
{
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    uint64_t first;

    drain(s); /* the promotions asked by earlier reads and writes */
    first = find_run(s, (int)(1 - to), 512);
    for (uint64_t p = first; p < first + 16; p++) {
        CHECK(dm_store_page_tier(s, p) == (int)(1 - to), "page %llu is in tier %d already",
              (unsigned long long)p, dm_store_page_tier(s, p));
        if (to == 1) {
            /* a clean page promoted from nvme would be dropped at once (its
             * nvme copy is current): dirty it, so that its demotion writes
             * the copy and the next write lands during that */
            store_fill(buf, PS, p, ++gen[p]);
            CHECK_OK(dm_store_write(s, p, buf));
        }
    }
    dm_store_stats(s, &a);
    CHECK_OK(dm_store_prefetch(s, first, 16, to));
    /* start 16 (max in flight) and no more steps: every read still unreaped */
    CHECK(dm_store_progress(s, g_now, 16) == DM_INPROGRESS, "nothing in flight");
    if (phase2) {
        /* reap the 16 reads (dram: done at submit), no more: the copies
         * are being written to the destination */
        (void)dm_store_progress(s, g_now, 16);
    }
    dm_store_stats(s, &b);
    for (uint64_t p = first; p < first + 16; p++) {
        store_fill(buf, PS, p, ++gen[p]);
        CHECK_OK(dm_store_write(s, p, buf));
    }
    drain(s);
    dm_store_stats(s, &b);
    printf("stale (to tier %u, %s): %llu of 16 migrations dropped as stale, %llu done\n", to,
           phase2 ? "after the read" : "during the read",
           (unsigned long long)(b.stale - a.stale),
           (unsigned long long)(b.done[DM_MIGRATE_HINT] - a.done[DM_MIGRATE_HINT]));
    for (uint64_t p = first; p < first + 16; p++) {
        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(store_match(buf, PS, p, gen[p]), "page %llu written during its migration holds "
              "%ld, want %u", (unsigned long long)p, store_which(buf, PS, p, 64), gen[p]);
    }
    CHECK_OK(dm_store_check(s));
    free(buf);
}

static void copies(void)
{
    copies_mode(0);
    copies_mode(1000);
    printf("copies: ok\n");
}

static void stale(void)
{
    cfg_t c = {.budget_mbs = 1000, .direct = 1};
    uint32_t *gen = calloc(NPAGES, sizeof(*gen));
    char *buf = store_alloc(PS);
    dm_store_stats_t st;
    dm_store_t *s;

    CHECK_OK(make(&c, &s));
    for (uint64_t p = 0; p < 512; p++) { /* 0..~200 in dram, the rest in nvme */
        gen[p] = 1;
        store_fill(buf, PS, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
    }
    /* no engine step yet: the demand promotions are queued; drop them by
     * draining with a big budget first */
    drain(s);
    for (uint64_t p = 0; p < 512; p++) {
        CHECK_OK(dm_store_read(s, p, buf)); /* placement only; no check here */
    }
    drain(s);
    stale_case(s, gen, 0, 0); /* nvme -> dram, written during the read */
    stale_case(s, gen, 1, 0); /* dram -> nvme, during the read */
    stale_case(s, gen, 1, 1); /* dram -> nvme, in the write phase */
    dm_store_stats(s, &st);
    CHECK(st.stale >= 16, "writes during migrations: only %llu stale",
          (unsigned long long)st.stale);
    verify_all(s, gen, 512, "stale");
    dm_store_destroy(s);
    free(gen);
    free(buf);
    printf("stale: ok\n");
}

static const char *mount_small_fs(void)
{
    char img[4300], cmd[16384];
    int fd;

    snprintf(img, sizeof(img), "%s/fs.img", g_dir);
    snprintf(g_mnt, sizeof(g_mnt), "%s/mnt", g_dir);
    CHECK(mkdir(g_mnt, 0755) == 0, "mkdir %s", g_mnt);
    fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, 8 << 20) == 0, "image %s", img);
    close(fd);
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1 && "
             "mount -o loop %s %s >/dev/null 2>&1", img, img, g_mnt);
    if (system(cmd) == 0) {
        g_mounted = 1;
        return "ext4 on a loop device";
    }
    if (mount("tmpfs", g_mnt, "tmpfs", 0, "size=8m") == 0) {
        g_mounted = 1;
        return "tmpfs (no loop device)";
    }
    return NULL;
}

static void full_nvme(void)
{
    enum { N = 2600 };
    char path[4300];
    cfg_t c = {.nvme_cap = 8192, .npages = N, .chunk = 1, .direct = 1};
    uint32_t *gen = calloc(N, sizeof(*gen));
    char *buf = store_alloc(PS);
    uint64_t seed = 7, written = 0, refused = 0, avail = 0;
    const char *fs;
    dm_store_stats_t st;
    dm_store_t *s;

    if (geteuid() != 0) {
        printf("SKIP part: full nvme tier: mounting a small file system needs root\n");
        free(gen);
        free(buf);
        return;
    }
    fs = mount_small_fs();
    if (fs == NULL) {
        printf("SKIP part: full nvme tier: no loop-mounted ext4 and no tmpfs\n");
        free(gen);
        free(buf);
        return;
    }
    snprintf(path, sizeof(path), "%s/nvme.dat", g_mnt);
    {
        struct statvfs sv; /* what mkfs left free differs between e2fsprogs versions */

        CHECK(statvfs(g_mnt, &sv) == 0, "statvfs %s", g_mnt);
        avail = (uint64_t)sv.f_bavail * sv.f_frsize / PS;
    }
    c.nvme_path = path;
    CHECK_OK(make(&c, &s));
    for (uint64_t p = 0; p < N; p++) {
        dm_status_t r;

        store_fill(buf, PS, p, 1);
        r = dm_store_write(s, p, buf);
        if (r == DM_OK) {
            gen[p] = 1;
            written++;
        } else {
            CHECK(r == DM_ERR_NO_SPACE, "write %llu: %s: %s", (unsigned long long)p,
                  dm_status_name(r), dm_last_error());
            CHECK(store_match(buf, PS, p, 1), "a refused write changed the buffer");
            if (refused++ == 0) {
                printf("full nvme (%s): page %llu refused: %s\n", fs, (unsigned long long)p,
                       dm_last_error());
            }
        }
    }
    /* the file system filled to (nearly) its last block: the nvme tier got
     * at least 80% of what was free, dram the rest */
    CHECK(refused > 0 && written >= avail * 8 / 10, "written %llu, refused %llu, %llu pages "
          "were free", (unsigned long long)written, (unsigned long long)refused,
          (unsigned long long)avail);
    verify_all(s, gen, N, "full nvme");
    /* reads move pages (cache mode): demotions into the full disk fail */
    for (int i = 0; i < 1500; i++) {
        uint64_t p = store_rand(&seed) % N;

        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(store_match(buf, PS, p, gen[p]), "full nvme: page %llu holds %ld, want %u",
              (unsigned long long)p, store_which(buf, PS, p, 2), gen[p]);
    }
    dm_store_stats(s, &st);
    printf("full nvme: %llu pages written, %llu refused; migrations: %llu no space, %llu "
           "done, dram %llu pages (%llu victims kept)\n", (unsigned long long)written,
           (unsigned long long)refused, (unsigned long long)st.no_space,
           (unsigned long long)(st.done[DM_MIGRATE_DEMAND] + st.done[DM_MIGRATE_PRESSURE]),
           (unsigned long long)st.tier[0].pages, (unsigned long long)st.tier[0].victims);
    CHECK(st.no_space > 0, "no demotion reported no space");
    verify_all(s, gen, N, "full nvme after moves");
    /* the scan asks again for the victims; they still find no space (and
     * the promotions it asks wait for room in dram: no drain here) */
    CHECK_OK(dm_store_scan(s));
    for (int i = 0; i < 200; i++) {
        (void)dm_store_progress(s, g_now += 1000000, 0);
        usleep(100);
    }
    dm_store_stats(s, &st);
    printf("full nvme: after a scan: %llu no space, %llu queued (waiting for room)\n",
           (unsigned long long)st.no_space, (unsigned long long)st.queued);
    verify_all(s, gen, N, "full nvme after the scan");
    dm_store_destroy(s);
    umount2(g_mnt, MNT_DETACH);
    g_mounted = 0;
    free(gen);
    free(buf);
    printf("full nvme: ok\n");
}

int main(void)
{
    int fds0 = store_fd_count();

    g_dir = store_scratch_dir("store");
    atexit(cleanup_at_exit);
    uint64_t t0 = g_t0 = dm_time_ns();

    params();
    cache_mode();
    printf("(%.1f s)\n", (double)(dm_time_ns() - t0) / 1e9);
    budget_mode();
    printf("(%.1f s)\n", (double)(dm_time_ns() - t0) / 1e9);
    copies();
    printf("(%.1f s)\n", (double)(dm_time_ns() - t0) / 1e9);
    stale();
    printf("(%.1f s)\n", (double)(dm_time_ns() - t0) / 1e9);
    full_nvme();
    printf("(%.1f s)\n", (double)(dm_time_ns() - t0) / 1e9);
    cleanup_at_exit();
    free(g_dir);
    g_dir = NULL;
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("store: ok\n");
    return 0;
}
