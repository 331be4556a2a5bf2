/*
 * Placement hints (dm_advise, dm_prefetch) as N real processes over the
 * real transport (`distmem run -n N`). Hints are called through the public
 * API; where pages are is read with the core's internal query
 * (api_int.h's dm_core_where: this rank's home pages by tier, its cached
 * copies), which is why this program links the layers statically.
 *
 *   advise_check tiers   (with DISTMEM_HOME_MEMORY of 64 pages and
 *                        DISTMEM_HOME_POLICY=hint, run_dsm.sh's store-)
 *                        40 pages per home written by dm_put live in DRAM;
 *                        rank 0's dm_prefetch(NVME) sends one message per
 *                        other home and every home's pages move to NVMe;
 *                        the last rank's dm_prefetch(DRAM) of an unaligned
 *                        range brings them all back; rank 0 advises the
 *                        last 16 pages per home COLD, then 24 new pages
 *                        per home push 10 out of DRAM: only COLD pages
 *                        leave; PREFERRED_TIER(DRAM) given to 20 pages per
 *                        home before they are written keeps all of them in
 *                        DRAM under more pressure; the other advice is
 *                        accepted; every byte is right in every rank, also
 *                        after a round of plain stores; pages that reuse
 *                        freed preferred pages' store pages are not
 *                        preferred.
 *   advise_check local   dm_prefetch(LOCAL) brings read-only copies of a
 *                        range into this rank's cache (as many as the
 *                        cache budget allows, pages with a known home):
 *                        reading them then takes no fault, asking again
 *                        requests nothing, a write elsewhere still reaches
 *                        the readers.
 *   advise_check errors  every bad argument is its error with a message
 *                        (NULL, outside distmem memory, across
 *                        allocations, freed memory, unknown advice, tier,
 *                        argument, rank; a tier the store lacks), len 0 is
 *                        a no-op, before dm_init and after dm_finalize
 *                        DM_ERR_NOT_INITIALIZED; with no store every valid
 *                        tier is accepted.
 *
 * Each rank prints "advise_check MODE: rank R ok" and exits 0 on success;
 * a failed check prints the rank and what differed and exits 1.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "distmem.h"

static int g_rank;
#include "rank_check.h"

#define TIERS_P 40 /* pages per home written first (DRAM holds 64, keeps about 54) */
#define TIERS_C 16 /* of those, advised COLD */
#define TIERS_Q 24 /* new pages per home that push COLD ones out */
#define TIERS_R 20 /* pages per home preferred in DRAM before being written */
#define TIERS_S 60 /* more pages per home: ARC alone would push the preferred out */
#define TIERS_Y 128 /* brand-new pages per home: twice DRAM */
#define LOCAL_P 32 /* pages per rank of local */
#define WAIT_S 30  /* seconds a move may take */

static int g_n;
static size_t g_page;

static uint64_t pattern(uint64_t tag, size_t off)
{
    uint64_t x = tag * 0x9e3779b97f4a7c15ull + off;

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 31);
}

/* Writes pattern(tag) over [p, p + bytes) with one dm_put. */
static void put_pattern(unsigned char *p, size_t bytes, uint64_t tag)
{
    uint64_t *buf = malloc(bytes);
    size_t i;

    CHECK(buf != NULL, "malloc");
    for (i = 0; i < bytes / 8; i++) {
        buf[i] = pattern(tag, i);
    }
    CHECK_OK(dm_put(p, buf, bytes));
    free(buf);
}

/* Checks [p, p + bytes) against pattern(tag) from word word0 on, with plain loads. */
static void check_words(const unsigned char *p, size_t bytes, uint64_t tag, size_t word0,
                        const char *what)
{
    size_t i;

    for (i = 0; i < bytes / 8; i++) {
        uint64_t got = ((const volatile uint64_t *)(const void *)p)[i];

        CHECK(got == pattern(tag, word0 + i), "%s: word %zu: %#" PRIx64 ", want %#" PRIx64, what,
              word0 + i, got, pattern(tag, word0 + i));
    }
}

static void check_pattern(const unsigned char *p, size_t bytes, uint64_t tag, const char *what)
{
    check_words(p, bytes, tag, 0, what);
}

static dm_dsm_where_t where_of(const void *p, size_t len)
{
    dm_dsm_where_t w;

    CHECK_OK(dm_core_where(p, len, &w));
    return w;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits until this rank's home pages of [p, p + len) in tier number want. */
static dm_dsm_where_t wait_home(const void *p, size_t len, int tier, uint64_t want,
                                const char *what)
{
    double end = now_s() + WAIT_S;
    dm_dsm_where_t w;

    for (;;) {
        w = where_of(p, len);
        if (w.home[tier] == want) {
            return w;
        }
        CHECK(now_s() < end,
              "%s: after %d s %" PRIu64 " home pages in tier %d, want %" PRIu64 " (none %" PRIu64
              ", dram %" PRIu64 ", nvme %" PRIu64 ")",
              what, WAIT_S, w.home[tier], tier, want, w.home[DM_TIER_LOCAL],
              w.home[DM_TIER_DRAM], w.home[DM_TIER_NVME]);
        usleep(2000);
    }
}

static int have_store(void)
{
    const char *e = getenv("DISTMEM_HOME_MEMORY");

    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

static dm_mem_advice_t advice(dm_mem_advise_t kind, int arg)
{
    dm_mem_advice_t a = { kind, arg };

    return a;
}

/* ------------------------------------------------------------------ */

static void run_tiers(void)
{
    size_t pg = g_page, abytes = (size_t)g_n * TIERS_P * pg, cbytes = (size_t)g_n * TIERS_C * pg;
    size_t bbytes = (size_t)g_n * TIERS_Q * pg, rbytes = (size_t)g_n * TIERS_R * pg;
    size_t sbytes = (size_t)g_n * TIERS_S * pg, ybytes = (size_t)g_n * TIERS_Y * pg;
    unsigned char *a, *b, *c, *e, *y;
    dm_dsm_where_t w, wc, wr;
    uint64_t before, nvme;
    int r;

    CHECK(have_store(), "tiers needs DISTMEM_HOME_MEMORY (run_dsm.sh store-tiers)");
    a = dm_alloc(abytes);
    b = dm_alloc(bbytes);
    c = dm_alloc(rbytes);
    e = dm_alloc(sbytes);
    CHECK(a != NULL && b != NULL && c != NULL && e != NULL, "dm_alloc: %s", dm_last_error());

    /* block-cyclic homes: every rank is home of TIERS_P pages of a, all in DRAM */
    put_pattern(a + (size_t)g_rank * TIERS_P * pg, TIERS_P * pg, 1000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    w = where_of(a, abytes);
    CHECK(w.home[DM_TIER_DRAM] == TIERS_P && w.home[DM_TIER_NVME] == 0 &&
              w.home[DM_TIER_LOCAL] == 0,
          "after the puts: dram %" PRIu64 ", nvme %" PRIu64 ", none %" PRIu64 ", want %d in DRAM",
          w.home[DM_TIER_DRAM], w.home[DM_TIER_NVME], w.home[DM_TIER_LOCAL], TIERS_P);
    CHECK(w.cached == 0, "puts cached %" PRIu64 " pages", w.cached);
    CHECK_OK(dm_barrier()); /* everyone looked before anything moves */

    /* down to NVMe: one message per other home */
    if (g_rank == 0) {
        before = where_of(a, abytes).hint_msgs;
        CHECK_OK(dm_prefetch(a, abytes, DM_TIER_NVME));
        w = where_of(a, abytes);
        CHECK(w.hint_msgs - before == (uint64_t)(g_n - 1),
              "dm_prefetch sent %" PRIu64 " messages, want one per other home (%d)",
              w.hint_msgs - before, g_n - 1);
    }
    CHECK_OK(dm_barrier());
    wait_home(a, abytes, DM_TIER_NVME, TIERS_P, "dm_prefetch(NVME)");
    CHECK_OK(dm_barrier());

    /* back to DRAM, by another rank, with a range that starts and ends inside pages */
    if (g_rank == g_n - 1) {
        CHECK_OK(dm_prefetch(a + pg / 2, abytes - pg, DM_TIER_DRAM));
    }
    CHECK_OK(dm_barrier());
    wait_home(a, abytes, DM_TIER_DRAM, TIERS_P, "dm_prefetch(DRAM)");
    CHECK_OK(dm_barrier());

    /* COLD pages leave DRAM first, and only they: the last ones to arrive (so the
     * policy alone would keep them) */
    if (g_rank == 0) {
        CHECK_OK(dm_advise(a + abytes - cbytes, cbytes, advice(DM_MEM_ADVISE_COLD, 0)));
    }
    CHECK_OK(dm_barrier());
    put_pattern(b + (size_t)g_rank * TIERS_Q * pg, TIERS_Q * pg, 2000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    wc = where_of(a + abytes - cbytes, cbytes);
    wr = where_of(a, abytes - cbytes);
    w = where_of(b, bbytes);
    CHECK(wc.home[DM_TIER_NVME] > 0 && wr.home[DM_TIER_NVME] == 0 && w.home[DM_TIER_NVME] == 0,
          "after %d new pages per home: %" PRIu64 " of %d COLD pages on NVMe, %" PRIu64
          " other old and %" PRIu64 " new ones (want > 0, 0, 0)",
          TIERS_Q, wc.home[DM_TIER_NVME], TIERS_C, wr.home[DM_TIER_NVME], w.home[DM_TIER_NVME]);
    CHECK(wc.home[DM_TIER_DRAM] + wc.home[DM_TIER_NVME] == TIERS_C, "COLD pages lost");
    CHECK_OK(dm_barrier());

    /* PREFERRED_TIER(DRAM) before the pages are written: kept for when they are */
    if (g_rank == g_n - 1) {
        CHECK_OK(dm_advise(c, rbytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_DRAM)));
    }
    CHECK_OK(dm_barrier());
    w = where_of(c, rbytes);
    CHECK(w.home[DM_TIER_LOCAL] == TIERS_R, "%" PRIu64 " of %d unwritten pages hold no data",
          w.home[DM_TIER_LOCAL], TIERS_R);
    CHECK_OK(dm_barrier());
    put_pattern(c + (size_t)g_rank * TIERS_R * pg, TIERS_R * pg, 3000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    put_pattern(e + (size_t)g_rank * TIERS_S * pg, TIERS_S * pg, 4000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    w = where_of(c, rbytes);
    CHECK(w.home[DM_TIER_DRAM] == TIERS_R,
          "preferred pages: %" PRIu64 " of %d in DRAM (%" PRIu64 " on NVMe) after pressure",
          w.home[DM_TIER_DRAM], TIERS_R, w.home[DM_TIER_NVME]);
    nvme = where_of(a, abytes).home[DM_TIER_NVME] + where_of(b, bbytes).home[DM_TIER_NVME] +
           where_of(e, sbytes).home[DM_TIER_NVME];
    CHECK(nvme > wc.home[DM_TIER_NVME], "the pressure moved nothing else to NVMe");
    CHECK_OK(dm_barrier()); /* everyone looked before the reads below move pages */

    /* the rest of the advice is accepted */
    CHECK_OK(dm_advise(a, abytes, advice(DM_MEM_ADVISE_READ_MOSTLY, 0)));
    CHECK_OK(dm_advise(b, bbytes, advice(DM_MEM_ADVISE_ACCESSED_BY, (g_rank + 1) % g_n)));
    CHECK_OK(dm_advise(b, bbytes, advice(DM_MEM_ADVISE_UNSET, 0)));
    CHECK_OK(dm_advise(e, sbytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_NVME)));
    CHECK_OK(dm_barrier());

    /* every byte, in every rank; then plain stores and again */
    for (r = 0; r < g_n; r++) {
        check_pattern(a + (size_t)r * TIERS_P * pg, TIERS_P * pg, 1000 + (uint64_t)r, "a");
        check_pattern(b + (size_t)r * TIERS_Q * pg, TIERS_Q * pg, 2000 + (uint64_t)r, "b");
        check_pattern(c + (size_t)r * TIERS_R * pg, TIERS_R * pg, 3000 + (uint64_t)r, "c");
        check_pattern(e + (size_t)r * TIERS_S * pg, TIERS_S * pg, 4000 + (uint64_t)r, "e");
    }
    CHECK_OK(dm_barrier());
    if (g_rank == 0) {
        CHECK_OK(dm_prefetch(a, abytes, DM_TIER_NVME)); /* moves while the stores run */
    }
    {
        uint64_t *mine = (uint64_t *)(void *)(a + (size_t)g_rank * TIERS_P * pg);
        size_t i;

        for (i = 0; i < TIERS_P * pg / 8; i++) {
            mine[i] = pattern(5000 + (uint64_t)g_rank, i);
        }
    }
    CHECK_OK(dm_barrier());
    for (r = 0; r < g_n; r++) {
        check_pattern(a + (size_t)r * TIERS_P * pg, TIERS_P * pg, 5000 + (uint64_t)r,
                      "a after stores");
    }
    CHECK_OK(dm_barrier());

    /* a freed page's advice goes with it: new pages reusing c's store pages are not preferred */
    dm_free(c);
    c = dm_alloc(rbytes);
    CHECK(c != NULL, "dm_alloc: %s", dm_last_error());
    put_pattern(c + (size_t)g_rank * TIERS_R * pg, TIERS_R * pg, 6000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    /* new pages, twice DRAM, each written twice (so they also fill ARC's frequency
     * list): the policy alone keeps none of the older ones, preferred ones it would */
    y = dm_alloc(ybytes);
    CHECK(y != NULL, "dm_alloc: %s", dm_last_error());
    put_pattern(y + (size_t)g_rank * TIERS_Y * pg, TIERS_Y * pg, 7000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    put_pattern(y + (size_t)g_rank * TIERS_Y * pg, TIERS_Y * pg, 7000 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());
    w = where_of(c, rbytes);
    CHECK(w.home[DM_TIER_DRAM] < TIERS_R,
          "pages reusing freed preferred ones: all %d kept in DRAM under pressure", TIERS_R);
    CHECK_OK(dm_barrier());
    for (r = 0; r < g_n; r++) {
        check_pattern(c + (size_t)r * TIERS_R * pg, TIERS_R * pg, 6000 + (uint64_t)r, "new c");
    }
    check_pattern(y + (size_t)g_rank * TIERS_Y * pg, TIERS_Y * pg, 7000 + (uint64_t)g_rank, "y");
    CHECK_OK(dm_barrier());
    dm_free(y);
    dm_free(e);
    dm_free(c);
    dm_free(b);
    dm_free(a);
}

/* ------------------------------------------------------------------ */

static void run_local(void)
{
    const char *env = getenv("DISTMEM_CACHE_SIZE");
    size_t pg = g_page, bytes = (size_t)g_n * LOCAL_P * pg, i, limit, want = 0;
    unsigned long long budget = env != NULL ? strtoull(env, NULL, 10) : 0;
    double end;
    unsigned char *a;
    dm_dsm_where_t w0, w;
    int r;

    if (env != NULL && strpbrk(env, "Kk") != NULL) {
        budget <<= 10;
    } else if (env != NULL && strpbrk(env, "Mm") != NULL) {
        budget <<= 20;
    }
    a = dm_alloc(bytes);
    CHECK(a != NULL, "dm_alloc: %s", dm_last_error());
    put_pattern(a + (size_t)g_rank * LOCAL_P * pg, LOCAL_P * pg, 100 + (uint64_t)g_rank);
    CHECK_OK(dm_barrier());

    /* what the read-ahead covers: the first cache-budget pages whose home is known here */
    limit = (size_t)g_n * LOCAL_P;
    if (budget != 0 && budget / pg < limit) {
        limit = budget / pg;
    }
    for (i = 0; i < limit; i++) {
        want += dm_home(a + i * pg) >= 0;
    }
    w0 = where_of(a, bytes);
    CHECK(w0.cached == 0, "%" PRIu64 " pages cached before the prefetch", w0.cached);
    CHECK_OK(dm_prefetch(a, bytes, DM_TIER_LOCAL));
    end = now_s() + WAIT_S;
    do {
        w = where_of(a, limit * pg);
        CHECK(now_s() < end, "after %d s %" PRIu64 " of %zu pages cached", WAIT_S, w.cached,
              want);
        usleep(1000);
    } while (w.cached < want);
    CHECK(w.hint_ahead - w0.hint_ahead == want,
          "%" PRIu64 " copies requested, want %zu", w.hint_ahead - w0.hint_ahead, want);
    CHECK(where_of(a, bytes).cached == want, "%" PRIu64 " pages cached, want %zu",
          where_of(a, bytes).cached, want);

    /* the copies are there: reading them takes no fault; asking again asks nothing */
    for (i = 0; i < limit; i++) {
        if (dm_home(a + i * pg) >= 0) {
            check_words(a + i * pg, pg, 100 + i / LOCAL_P, i % LOCAL_P * pg / 8, "prefetched");
        }
    }
    w0 = w;
    w = where_of(a, bytes);
    CHECK(w.read_faults == w0.read_faults, "%" PRIu64 " read faults on prefetched pages",
          w.read_faults - w0.read_faults);
    CHECK_OK(dm_prefetch(a, limit * pg, DM_TIER_LOCAL));
    CHECK(where_of(a, bytes).hint_ahead == w.hint_ahead, "asking again requested copies");
    CHECK_OK(dm_barrier());

    /* read-only copies like any: a write elsewhere reaches every reader */
    if (g_rank == 0) {
        for (i = 0; i < bytes / 8; i += 512) {
            ((volatile uint64_t *)(void *)a)[i] = ~(uint64_t)i;
        }
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < bytes / 8; i += 512) {
        uint64_t got = ((volatile uint64_t *)(void *)a)[i];

        CHECK(got == ~(uint64_t)i, "word %zu after rank 0's store: %#" PRIx64, i, got);
    }
    for (r = 0; r < g_n; r++) {
        const unsigned char *s = a + (size_t)r * LOCAL_P * pg;

        for (i = 0; i < LOCAL_P * pg / 8; i++) {
            uint64_t got = ((const volatile uint64_t *)(const void *)s)[i];
            uint64_t exp = (r * LOCAL_P * pg / 8 + i) % 512 == 0
                               ? ~(uint64_t)(r * LOCAL_P * pg / 8 + i)
                               : pattern(100 + (uint64_t)r, i);

            CHECK(got == exp, "slice %d word %zu: %#" PRIx64 ", want %#" PRIx64, r, i, got, exp);
        }
    }
    CHECK_OK(dm_barrier());
    dm_free(a);
}

/* ------------------------------------------------------------------ */

/* Checks that expr fails with want and leaves a message. */
#define CHECK_FAILS(expr, want)                                                          \
    do {                                                                                 \
        dm_status_t st_ = (expr);                                                        \
        CHECK(st_ == (want), "%s -> %s (%s), want %s", #expr, dm_status_name(st_),       \
              dm_last_error(), dm_status_name(want));                                    \
        CHECK(dm_last_status() == (want) && dm_last_error()[0] != '\0',                  \
              "%s: no message (last status %s)", #expr, dm_status_name(dm_last_status())); \
    } while (0)

static void run_errors(void)
{
    size_t pg = g_page, bytes = (size_t)g_n * 4 * pg;
    dm_mem_advice_t cold = advice(DM_MEM_ADVISE_COLD, 0);
    dm_status_t tier_st = have_store() ? DM_ERR_UNSUPPORTED : DM_OK;
    unsigned char *a, *b, *m;
    int local = 0;

    a = dm_alloc(bytes);
    b = dm_alloc(bytes);
    m = dm_malloc(3 * pg);
    CHECK(a != NULL && b != NULL && m != NULL, "allocation: %s", dm_last_error());

    /* the range */
    CHECK_FAILS(dm_advise(NULL, pg, cold), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(NULL, 0, cold), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_prefetch(NULL, pg, DM_TIER_DRAM), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_prefetch(NULL, 0, DM_TIER_LOCAL), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(&local, sizeof(local), cold), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "not distmem memory") != NULL, "message: %s", dm_last_error());
    CHECK_FAILS(dm_prefetch(&local, sizeof(local), DM_TIER_LOCAL), DM_ERR_INVALID_PARAM);
    /* past the end of a: unallocated, or the next allocation */
    CHECK_FAILS(dm_advise(a, bytes + 1, cold), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "not inside one distmem allocation") != NULL, "message: %s",
          dm_last_error());
    CHECK_FAILS(dm_prefetch(a + bytes - 8, 16, DM_TIER_NVME), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_prefetch(a + pg, bytes, DM_TIER_LOCAL), DM_ERR_INVALID_PARAM);
    CHECK_OK(dm_advise(a, 0, cold)); /* len 0: nothing */
    CHECK_OK(dm_prefetch(a + 5, 0, DM_TIER_LOCAL));
    CHECK_OK(dm_advise(a, bytes, cold));
    CHECK_OK(dm_advise(a + 1, bytes - 2, cold));
    CHECK_OK(dm_prefetch(m, 3 * pg, DM_TIER_DRAM)); /* the heap: homed here */
    CHECK_OK(dm_prefetch(m + 1, 1, DM_TIER_LOCAL));

    /* the advice */
    CHECK_FAILS(dm_advise(a, pg, advice((dm_mem_advise_t)99, 0)), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "unknown advice") != NULL, "message: %s", dm_last_error());
    CHECK_FAILS(dm_advise(a, pg, advice((dm_mem_advise_t)-1, 0)), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, 0, advice((dm_mem_advise_t)99, 0)), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_COLD, 1)), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_READ_MOSTLY, 2)), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_UNSET, -1)), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_ACCESSED_BY, g_n)), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "rank") != NULL, "message: %s", dm_last_error());
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_ACCESSED_BY, -1)), DM_ERR_INVALID_PARAM);
    CHECK_OK(dm_advise(a, pg, advice(DM_MEM_ADVISE_ACCESSED_BY, g_n - 1)));
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_LOCAL)),
                DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_advise(a, pg, advice(DM_MEM_ADVISE_PREFERRED_TIER, 99)), DM_ERR_INVALID_PARAM);
    CHECK_OK(dm_advise(a, bytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_DRAM)));
    CHECK_OK(dm_advise(a, bytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_NVME)));
    CHECK_OK(dm_advise(a, bytes, advice(DM_MEM_ADVISE_READ_MOSTLY, 0)));
    CHECK_OK(dm_advise(a, bytes, advice(DM_MEM_ADVISE_UNSET, 0)));

    /* the tier */
    CHECK_FAILS(dm_prefetch(a, pg, (dm_tier_t)99), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "tier 99") != NULL, "message: %s", dm_last_error());
    CHECK_FAILS(dm_prefetch(a, pg, (dm_tier_t)-1), DM_ERR_INVALID_PARAM);
    CHECK_OK(dm_prefetch(a, bytes, DM_TIER_NVME));
    CHECK_OK(dm_prefetch(a, bytes, DM_TIER_DRAM));
    /* the home store stacks DRAM over NVMe; in-place home memory takes any tier */
    if (tier_st == DM_OK) {
        CHECK_OK(dm_prefetch(a, bytes, DM_TIER_GPU));
        CHECK_OK(dm_prefetch(a, bytes, DM_TIER_PFS));
        CHECK_OK(dm_advise(a, bytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_GPU)));
    } else {
        CHECK_FAILS(dm_prefetch(a, bytes, DM_TIER_GPU), tier_st);
        CHECK(strstr(dm_last_error(), "no gpu tier") != NULL, "message: %s", dm_last_error());
        CHECK_FAILS(dm_prefetch(a, bytes, DM_TIER_PFS), tier_st);
        CHECK_FAILS(dm_advise(a, bytes, advice(DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_PFS)),
                    tier_st);
    }
    CHECK_OK(dm_barrier());

    /* freed memory is no allocation any more */
    dm_free(b);
    CHECK_FAILS(dm_advise(b, pg, cold), DM_ERR_INVALID_PARAM);
    CHECK_FAILS(dm_prefetch(b, pg, DM_TIER_DRAM), DM_ERR_INVALID_PARAM);
    CHECK_OK(dm_barrier());
    dm_mfree(m);
    dm_free(a);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long page = sysconf(_SC_PAGESIZE);
    int x = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(page > 0, "sysconf(_SC_PAGESIZE)");
    g_page = (size_t)page;
    CHECK_FAILS(dm_advise(&x, sizeof(x), advice(DM_MEM_ADVISE_COLD, 0)), DM_ERR_NOT_INITIALIZED);
    CHECK_FAILS(dm_prefetch(&x, sizeof(x), DM_TIER_LOCAL), DM_ERR_NOT_INITIALIZED);
    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    g_n = dm_nranks();

    if (!strcmp(mode, "tiers")) {
        run_tiers();
    } else if (!strcmp(mode, "local")) {
        run_local();
    } else if (!strcmp(mode, "errors")) {
        run_errors();
    } else {
        fprintf(stderr, "usage: advise_check tiers | local | errors\n");
        dm_finalize();
        return 2;
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_finalize());
    CHECK_FAILS(dm_prefetch(&x, sizeof(x), DM_TIER_DRAM), DM_ERR_NOT_INITIALIZED);
    printf("advise_check %s: rank %d ok\n", mode, g_rank);
    return 0;
}
