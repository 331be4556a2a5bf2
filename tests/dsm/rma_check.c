/*
 * One-sided operations through the public API only (distmem.h), as N real
 * processes over the real transport (`distmem run -n N`). One mode per run:
 *
 *   rma_check ops      rounds decided by a PRNG with the same seed in every
 *                      rank: one rank puts (blocking, non-blocking in several
 *                      pieces, from a distmem buffer) or writes with plain
 *                      stores, every size class (1 byte to 16 pages) at every
 *                      kind of offset; after a barrier every rank checks the
 *                      region against its replay with plain loads and with
 *                      gets (into local and into distmem memory). Pages end
 *                      up uncached, read-shared or owned by a writer before
 *                      the next operation, so every path at the home runs.
 *   rma_check atomics  dm_atomic_fetch_add from every rank on one word: the
 *                      old values returned form exactly 0 .. N*K-1; fetch_add
 *                      mixed with CPU atomic instructions on the same words
 *                      through the page protocol: exact totals; a CAS loop
 *                      increment: exact total; swaps: the values seen plus the
 *                      final one are exactly the values swapped in plus 0.
 *   rma_check order    the documented ordering: put, dm_quiet, then a flag
 *                      (atomic swap or plain store), and put data then flag
 *                      on one page without dm_quiet; the readers wait with
 *                      dm_wait_until and must see the data (plain load and
 *                      get).
 *   rma_check errors   bad addresses (not distmem memory, unallocated, across
 *                      an allocation's end, freed), misaligned atomics, NULL
 *                      arguments: DM_ERR_INVALID_PARAM, nothing changed.
 *   rma_check direct   the same-host direct path (DISTMEM_RMA_DIRECT): every
 *                      home initializes its page with plain stores (its own
 *                      copy holds it), then the others hammer it with
 *                      fetch-adds, puts and gets of their own slots while
 *                      the home keeps adding to another word with CPU
 *                      atomics through the page protocol and now and then
 *                      re-reads its data (taking its copy back): exact
 *                      totals, every get equal to the last put, the home's
 *                      data intact. run_dsm.sh checks that operations went
 *                      direct (default transport) or not (tcp).
 *   rma_check direct-threads
 *                      the direct path from several threads of each rank at
 *                      once (distmem.h: calls may come from any thread): on
 *                      every other rank's page, each thread fetch-adds one
 *                      word, adds to another (no result), puts, gets back and
 *                      puts non-blocking into its own slot, while the home
 *                      adds with CPU atomics and re-reads its data; exact
 *                      totals, every get equal to the thread's last put.
 *                      Then, with the direct path warm, the page is freed:
 *                      a put and a get on it must fail (DM_ERR_INVALID_PARAM).
 *   rma_check runs     puts over many pages (256 KiB to 2.3 MiB, any
 *                      alignment) on a region spread over every home: on the
 *                      same host they go direct a run of page words at a time
 *                      (rma.c dm_rma_runs); before some puts other ranks
 *                      write a few pages of the range with plain stores (the
 *                      run must stop there: the page is theirs) or read a few
 *                      (read-shared); after each put every rank checks the
 *                      whole region against the replay with dm_get, or, in
 *                      the second half, every third round some ranks with
 *                      plain loads (which leave read-only copies for the
 *                      next put to invalidate). run_dsm.sh checks that pages
 *                      went in runs (default transport) or not (tcp).
 *   rma_check held     operations this process holds back to send several
 *                      in one message (rma.c, "Held operations"): a sender
 *                      issues a put, a non-blocking put or a non-fetching
 *                      add to a flag whose page the receiver holds
 *                      read-only (so it takes the message path), then spins
 *                      on plain loads of an ack word it holds read-only: no
 *                      distmem call, no fault, so only its progress thread
 *                      can send the operation; the receiver waits for the
 *                      flag and stores the ack. Then 64 non-blocking puts
 *                      of 8 bytes each, a quiet, and every rank checks them
 *                      (run_dsm.sh checks that some message carried several
 *                      operations).
 *   rma_check kill     the last rank SIGKILLs itself while the others keep
 *                      issuing operations homed at it: they must see
 *                      DM_ERR_PEER_FAILED ("rank R saw failure") or die by
 *                      SIGBUS naming it (a plain load in dm_wait_until) within
 *                      20 s, never hang.
 *
 * Each rank prints "rma_check MODE: rank R ok" and exits 0 on success.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "distmem.h"

static int g_rank;
#include "rank_check.h"

#define REGION_PAGES 40
#define OPS_ROUNDS   60
#define AMO_K        300
#define ORDER_ITERS  60

static int g_n;
static size_t g_page;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(unsigned char *p, size_t len, uint64_t seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        p[i] = (unsigned char)(splitmix(&seed) >> 56);
    }
}

/* Checks [off, off+len) of the region against the replay, with plain loads. */
static void check_plain(const unsigned char *region, const unsigned char *exp, size_t off,
                        size_t len, const char *what, int round)
{
    size_t i;

    for (i = off; i < off + len; i++) {
        CHECK(region[i] == exp[i], "%s round %d: byte %zu (page %zu, home %d) is %u, want %u",
              what, round, i, i / g_page, dm_home(region + i), region[i], exp[i]);
    }
}

/* A size and an offset from the classes that matter: bytes, words, page edges, many pages. */
static void pick_range(uint64_t *rng, size_t total, size_t *off_p, size_t *len_p)
{
    static const size_t lens[] = { 1, 7, 8, 63, 64, 100, 4095, 4096, 4097, 8192 + 13,
                                   3 * 4096 + 1, 16 * 4096 };
    size_t len = lens[splitmix(rng) % (sizeof(lens) / sizeof(lens[0]))];
    size_t off;

    if (g_page != 4096) {
        len = len / 4096 * g_page + len % 4096;
    }
    switch (splitmix(rng) % 4) {
    case 0: /* page aligned */
        off = (splitmix(rng) % (total / g_page)) * g_page;
        break;
    case 1: /* ends at a page edge */
        off = (splitmix(rng) % (total / g_page) + 1) * g_page;
        off = off > len ? off - len : 0;
        break;
    case 2: /* word aligned */
        off = (splitmix(rng) % (total / 8)) * 8;
        break;
    default:
        off = splitmix(rng) % total;
        break;
    }
    if (off + len > total) {
        off = total - len;
    }
    *off_p = off;
    *len_p = len;
}

static void mode_ops(void)
{
    size_t total = REGION_PAGES * g_page;
    unsigned char *region = dm_alloc(total);
    unsigned char *exp = calloc(1, total), *data = malloc(total), *got = malloc(total);
    unsigned char *gbuf = dm_malloc(16 * g_page + 64); /* a distmem buffer of this rank */
    uint64_t rng = 0x5eed0001;
    int round;

    CHECK(region != NULL && exp != NULL && data != NULL && got != NULL && gbuf != NULL,
          "allocation: %s", dm_last_error());
    for (round = 0; round < OPS_ROUNDS; round++) {
        int actor = (int)(splitmix(&rng) % (uint64_t)g_n);
        int kind = (int)(splitmix(&rng) % 6);
        int verify = (int)(splitmix(&rng) % 3);
        uint64_t readers = splitmix(&rng); /* which ranks check with plain loads */
        size_t off, len, goff, glen;

        pick_range(&rng, total, &off, &len);
        pick_range(&rng, total, &goff, &glen); /* what dm_get checks */
        fill(data, len, splitmix(&rng));
        if (g_rank == actor) {
            switch (kind) {
            case 0:
            case 1: /* a blocking put */
                CHECK_OK(dm_put(region + off, data, len));
                CHECK_OK(dm_quiet());
                break;
            case 2: { /* non-blocking, in three pieces */
                dm_request_t *r[3];
                size_t a = len / 3, b = 2 * len / 3;

                CHECK_OK(dm_put_nb(region + off, data, a, &r[0]));
                CHECK_OK(dm_put_nb(region + off + a, data + a, b - a, &r[1]));
                CHECK_OK(dm_put_nb(region + off + b, data + b, len - b, &r[2]));
                CHECK_OK(dm_wait(r[2]));
                CHECK_OK(dm_wait(r[0]));
                CHECK_OK(dm_wait(r[1]));
                break;
            }
            case 3: /* from distmem memory (its own heap block) */
                memcpy(gbuf + 3, data, len);
                CHECK_OK(dm_put(region + off, gbuf + 3, len));
                break; /* the barrier completes it */
            default: /* plain stores: the writer ends up owning the pages */
                memcpy(region + off, data, len);
                break;
            }
        }
        memcpy(exp + off, data, len);
        CHECK_OK(dm_barrier());
        if (verify == 0 && ((readers >> g_rank) & 1)) {
            /* some ranks (maybe not the homes) now hold read-only copies */
            check_plain(region, exp, 0, total, "plain loads after a round", round);
        } else if (verify <= 1) {
            memset(got, 0xee, glen);
            CHECK_OK(dm_get(got, region + goff, glen));
            CHECK(memcmp(got, exp + goff, glen) == 0, "round %d: dm_get of %zu bytes at %zu",
                  round, glen, goff);
            /* into distmem memory: through its own page faults */
            CHECK_OK(dm_get(gbuf + 5, region + goff, glen));
            CHECK(memcmp(gbuf + 5, exp + goff, glen) == 0,
                  "round %d: dm_get into distmem memory of %zu bytes at %zu", round, glen, goff);
        } else {
            dm_request_t *r;

            memset(got, 0xee, len);
            CHECK_OK(dm_get_nb(got, region + off, len, &r));
            CHECK_OK(dm_wait(r));
            CHECK(memcmp(got, exp + off, len) == 0, "round %d: dm_get_nb of %zu bytes at %zu",
                  round, len, off);
        }
        CHECK_OK(dm_barrier());
    }
    check_plain(region, exp, 0, total, "plain loads at the end", round);
    CHECK_OK(dm_barrier());
    dm_mfree(gbuf);
    dm_free(region);
    free(exp);
    free(data);
    free(got);
}

static void mode_atomics(void)
{
    /* page k of words is homed at rank k % N (block-cyclic, block 1 by default) */
    int64_t *words = dm_alloc((size_t)g_n * g_page);
    int64_t *seen = dm_alloc(((size_t)g_n * AMO_K + 1) * sizeof(int64_t));
    int64_t *x, *cas, *swp, v, old;
    int i, j;

    CHECK(words != NULL && seen != NULL, "dm_alloc: %s", dm_last_error());
    x = &words[(size_t)((g_n - 1) % g_n) * (g_page / 8)];
    cas = &words[0 * (g_page / 8) + 1];
    swp = &words[(size_t)(1 % g_n) * (g_page / 8) + 2];

    /* fetch_add on one word: every old value exactly once */
    for (i = 0; i < AMO_K; i++) {
        CHECK_OK(dm_atomic_fetch_add(x, 1, &old));
        CHECK(old >= 0 && old < (int64_t)g_n * AMO_K, "fetch_add returned %" PRId64, old);
        v = g_rank + 1;
        CHECK_OK(dm_put(&seen[old], &v, sizeof(v)));
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_atomic_fetch(x, &v));
    CHECK(v == (int64_t)g_n * AMO_K && *x == v, "fetch_add total %" PRId64 " (plain %" PRId64
          "), want %d", v, *x, g_n * AMO_K);
    for (i = 0; i < g_n * AMO_K; i++) {
        CHECK(seen[i] != 0, "no rank got old value %d from fetch_add", i);
    }
    CHECK_OK(dm_barrier());

    /* fetch_add against CPU atomic instructions through the page protocol */
    for (i = 0; i < AMO_K; i++) {
        for (j = 0; j < g_n; j++) {
            int64_t *w = &words[(size_t)j * (g_page / 8) + 8];

            if ((g_rank + i) % 2 == 0) {
                CHECK_OK(dm_atomic_fetch_add(w, 3, NULL));
            } else {
                __atomic_fetch_add(w, 3, __ATOMIC_SEQ_CST);
            }
        }
    }
    CHECK_OK(dm_barrier());
    for (j = 0; j < g_n; j++) {
        int64_t *w = &words[(size_t)j * (g_page / 8) + 8];

        CHECK_OK(dm_atomic_fetch(w, &v));
        CHECK(v == 3 * (int64_t)g_n * AMO_K && *w == v,
              "mixed increments of the word homed at %d: %" PRId64 ", want %d", dm_home(w), v,
              3 * g_n * AMO_K);
    }
    CHECK_OK(dm_barrier());

    /* compare-and-swap increments */
    for (i = 0; i < AMO_K; i++) {
        CHECK_OK(dm_atomic_fetch(cas, &v));
        for (;;) {
            CHECK_OK(dm_atomic_compare_swap(cas, v, v + 1, &old));
            if (old == v) {
                break;
            }
            v = old;
        }
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_atomic_fetch(cas, &v));
    CHECK(v == (int64_t)g_n * AMO_K, "CAS increments: %" PRId64 ", want %d", v, g_n * AMO_K);
    CHECK_OK(dm_barrier());

    /* swaps: values seen + the final one == values swapped in + the initial 0 */
    /* reuse seen: seen[k] counts how often value k was seen (values 0 .. N*K) */
    if (g_rank == 0) {
        for (i = 0; i <= g_n * AMO_K; i++) {
            seen[i] = 0;
        }
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < AMO_K; i++) {
        int64_t mine = 1 + (int64_t)g_rank * AMO_K + i;

        CHECK_OK(dm_atomic_swap(swp, mine, &old));
        CHECK(old >= 0 && old <= (int64_t)g_n * AMO_K, "swap returned %" PRId64, old);
        CHECK_OK(dm_atomic_fetch_add(&seen[old], 1, NULL));
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_atomic_fetch(swp, &v));
    CHECK(v >= 1 && v <= (int64_t)g_n * AMO_K, "final swapped value %" PRId64, v);
    for (i = 0; i <= g_n * AMO_K; i++) {
        int64_t want = (i == v) ? 0 : 1;

        CHECK(seen[i] == want, "swap: value %d seen %" PRId64 " times, want %" PRId64, i,
              seen[i], want);
    }
    CHECK_OK(dm_barrier());
    dm_free(seen);
    dm_free(words);
}

static void mode_order(void)
{
    /* iteration i: data on page 2i, flag on page 2i+1 (different homes when N > 1) */
    int64_t *mem = dm_alloc((size_t)(2 * ORDER_ITERS) * g_page);
    int i;

    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    CHECK_OK(dm_barrier());
    for (i = 0; i < ORDER_ITERS; i++) {
        int64_t *data = &mem[(size_t)(2 * i) * (g_page / 8)];
        int64_t *flag = &mem[(size_t)(2 * i + 1) * (g_page / 8)];
        int64_t *same_flag = data + 7; /* on data's page */
        int64_t val = 1000 + i, one = 1, v;

        if (g_rank == i % g_n) {
            CHECK_OK(dm_put(data, &val, sizeof(val)));
            CHECK_OK(dm_quiet());
            if (i % 2) {
                CHECK_OK(dm_atomic_swap(flag, 1, NULL));
            } else {
                *(volatile int64_t *)flag = 1;
            }
            /* one page, no dm_quiet: applied in issue order */
            val += 1;
            CHECK_OK(dm_put(data + 1, &val, sizeof(val)));
            CHECK_OK(dm_put(same_flag, &one, sizeof(one)));
        } else {
            CHECK_OK(dm_wait_until(flag, DM_CMP_EQ, 1));
            v = *(volatile int64_t *)data;
            CHECK(v == val, "iteration %d: flag set but data %" PRId64 ", want %" PRId64, i, v,
                  val);
            CHECK_OK(dm_get(&v, data, sizeof(v)));
            CHECK(v == val, "iteration %d: flag set but dm_get of data %" PRId64, i, v);
            CHECK_OK(dm_wait_until(same_flag, DM_CMP_GE, 1));
            v = *(volatile int64_t *)(data + 1);
            CHECK(v == val + 1, "iteration %d: same-page flag set but data %" PRId64, i, v);
        }
    }
    CHECK_OK(dm_barrier());
    dm_free(mem);
}

#define EXPECT_INVALID(expr)                                                              \
    do {                                                                                  \
        dm_status_t st_ = (expr);                                                         \
        CHECK(st_ == DM_ERR_INVALID_PARAM, "%s -> %s, want DM_ERR_INVALID_PARAM", #expr,  \
              dm_status_name(st_));                                                       \
        CHECK(dm_last_error()[0] != '\0', "%s: no message", #expr);                       \
    } while (0)

static void mode_errors(void)
{
    unsigned char *a = dm_alloc(4 * g_page), *b = dm_alloc(g_page);
    unsigned char local[64] = { 0 };
    int64_t w = 0, v;
    dm_request_t *r = NULL;
    unsigned char *freed;

    CHECK(a != NULL && b != NULL, "dm_alloc: %s", dm_last_error());
    EXPECT_INVALID(dm_put(local, local, 8));                 /* not distmem memory */
    EXPECT_INVALID(dm_get(local, local, 8));
    EXPECT_INVALID(dm_put(a + 4 * g_page - 4, local, 8));    /* past the allocation's end */
    EXPECT_INVALID(dm_get(local, a + 4 * g_page - 4, 8));
    EXPECT_INVALID(dm_put(b + g_page, local, 1));            /* unallocated */
    EXPECT_INVALID(dm_put(a, NULL, 8));
    EXPECT_INVALID(dm_get(NULL, a, 8));
    EXPECT_INVALID(dm_put_nb(a, local, 8, NULL));
    EXPECT_INVALID(dm_wait(NULL));
    EXPECT_INVALID(dm_atomic_fetch_add((int64_t *)(void *)(a + 4), 1, NULL)); /* misaligned */
    EXPECT_INVALID(dm_atomic_fetch_add(&w, 1, NULL));        /* not distmem memory */
    EXPECT_INVALID(dm_atomic_fetch((int64_t *)(void *)a, NULL));
    EXPECT_INVALID(dm_wait_until(&w, DM_CMP_EQ, 0));
    EXPECT_INVALID(dm_wait_until((int64_t *)(void *)a, (dm_cmp_t)99, 0));
    CHECK_OK(dm_put(a, local, 0)); /* nothing to do */
    CHECK_OK(dm_get_nb(local, a, 0, &r));
    CHECK_OK(dm_wait(r));
    /* nothing changed */
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_atomic_fetch((int64_t *)(void *)a, &v));
    CHECK(v == 0, "a word changed by failed calls: %" PRId64, v);
    CHECK_OK(dm_barrier());
    freed = b;
    dm_free(b);
    EXPECT_INVALID(dm_put(freed, local, 8));
    EXPECT_INVALID(dm_atomic_swap((int64_t *)(void *)freed, 1, NULL));
    CHECK_OK(dm_quiet());
    CHECK_OK(dm_barrier());
    dm_free(a);
}

#define DIRECT_K 3000 /* operations per rank per page */

static void mode_direct(void)
{
    /* page h is homed at rank h (block-cyclic, block 1) */
    size_t words = g_page / 8, slot = 16; /* slot r: words [64 + r*slot, 64 + (r+1)*slot) */
    int64_t *mem = dm_alloc((size_t)g_n * g_page), v, buf[16], got[16];
    int h, i, k;

    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    CHECK(64 + (size_t)g_n * slot <= words, "page too small for %d ranks", g_n);
    for (h = 0; h < g_n; h++) {
        CHECK(dm_home(&mem[(size_t)h * words]) == h, "page %d homed at %d", h,
              dm_home(&mem[(size_t)h * words]));
    }
    /* the home's plain stores: its own copy holds the page (M) */
    for (i = 2; i < 64; i++) {
        mem[(size_t)g_rank * words + (size_t)i] = 1000 * g_rank + i;
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < DIRECT_K; i++) {
        for (h = 0; h < g_n; h++) {
            int64_t *pg = &mem[(size_t)h * words];

            if (h == g_rank) {
                /* the home: CPU atomics through the page protocol, and its data re-read */
                __atomic_fetch_add(&pg[1], 1, __ATOMIC_SEQ_CST);
                if (i % 97 == 0) {
                    for (k = 2; k < 64; k++) {
                        CHECK(pg[k] == 1000 * g_rank + k, "home %d: word %d is %" PRId64,
                              g_rank, k, pg[k]);
                    }
                }
                continue;
            }
            CHECK_OK(dm_atomic_fetch_add(&pg[0], 1, &v));
            CHECK(v >= 0 && v < (int64_t)(g_n - 1) * DIRECT_K, "fetch_add returned %" PRId64, v);
            CHECK_OK(dm_atomic_fetch_add(&pg[1], 1, NULL));
            for (k = 0; k < 16; k++) {
                buf[k] = ((int64_t)g_rank << 40) | ((int64_t)i << 8) | k;
            }
            CHECK_OK(dm_put(&pg[64 + (size_t)g_rank * slot], buf, sizeof(buf)));
            CHECK_OK(dm_get(got, &pg[64 + (size_t)g_rank * slot], sizeof(got)));
            CHECK(memcmp(got, buf, sizeof(buf)) == 0, "rank %d: get after put on page %d, "
                  "iteration %d: word 0 is %" PRIx64 ", want %" PRIx64, g_rank, h, i,
                  (uint64_t)got[0], (uint64_t)buf[0]);
            if (i % 31 == 0) {
                CHECK_OK(dm_get(got, &pg[2], sizeof(got)));
                for (k = 0; k < 16; k++) {
                    CHECK(got[k] == 1000 * h + 2 + k, "get of home %d's word %d: %" PRId64, h,
                          2 + k, got[k]);
                }
            }
        }
    }
    CHECK_OK(dm_quiet());
    CHECK_OK(dm_barrier());
    for (h = 0; h < g_n; h++) {
        int64_t *pg = &mem[(size_t)h * words];

        CHECK_OK(dm_atomic_fetch(&pg[0], &v));
        CHECK(v == (int64_t)(g_n - 1) * DIRECT_K && pg[0] == v,
              "page %d: fetch_add total %" PRId64 " (plain %" PRId64 "), want %d", h, v, pg[0],
              (g_n - 1) * DIRECT_K);
        CHECK(pg[1] == (int64_t)g_n * DIRECT_K, "page %d: mixed total %" PRId64 ", want %d", h,
              pg[1], g_n * DIRECT_K);
        for (i = 0; i < g_n; i++) {
            int64_t want = i == h ? 0 : ((int64_t)i << 40) | ((int64_t)(DIRECT_K - 1) << 8);

            CHECK(pg[64 + (size_t)i * slot] == want, "page %d: rank %d's slot %" PRIx64
                  ", want %" PRIx64, h, i, (uint64_t)pg[64 + (size_t)i * slot], (uint64_t)want);
        }
    }
    CHECK_OK(dm_barrier());
    dm_free(mem);
    /*
     * The page this rank last ran operations on directly (the last peer's
     * in the loop) is freed now: every call on it fails, none lands in the
     * freed memory on the strength of what the thread remembered.
     */
    h = g_rank == g_n - 1 ? g_n - 2 : g_n - 1;
    if (h >= 0) {
        int64_t *pg = &mem[(size_t)h * words];

        EXPECT_INVALID(dm_put(&pg[64 + (size_t)g_rank * slot], buf, 8));
        EXPECT_INVALID(dm_get(got, &pg[2], 8));
        EXPECT_INVALID(dm_atomic_fetch_add(&pg[0], 1, &v));
        EXPECT_INVALID(dm_atomic_fetch_add(&pg[1], 1, NULL));
    }
    CHECK_OK(dm_quiet());
}

#define DT_THREADS 3
#define DT_K       2000 /* iterations per thread */
#define DT_SLOT    16   /* words per (rank, thread) slot, from word 64 */

static int64_t *g_dt_mem;

static void *dt_thread(void *arg)
{
    int t = (int)(intptr_t)arg, h, i, k;
    size_t words = g_page / 8;
    int64_t buf[DT_SLOT], got[DT_SLOT], v;
    dm_request_t *req;

    for (i = 0; i < DT_K; i++) {
        for (h = 0; h < g_n; h++) {
            int64_t *pg = &g_dt_mem[(size_t)h * words];
            int64_t *slot = &pg[64 + ((size_t)g_rank * DT_THREADS + (size_t)t) * DT_SLOT];

            if (h == g_rank) {
                continue;
            }
            CHECK_OK(dm_atomic_fetch_add(&pg[0], 1, &v));
            CHECK(v >= 0 && v < (int64_t)(g_n - 1) * DT_THREADS * DT_K,
                  "thread %d: fetch_add returned %" PRId64, t, v);
            CHECK_OK(dm_atomic_fetch_add(&pg[1], 1, NULL));
            for (k = 0; k < DT_SLOT; k++) {
                buf[k] = ((int64_t)g_rank << 48) | ((int64_t)t << 40) | ((int64_t)i << 8) | k;
            }
            if (i % 2 == 0) {
                CHECK_OK(dm_put(slot, buf, sizeof(buf)));
            } else {
                CHECK_OK(dm_put_nb(slot, buf, sizeof(buf), &req));
                CHECK_OK(dm_wait(req));
            }
            CHECK_OK(dm_get_nb(got, slot, sizeof(got), &req));
            CHECK_OK(dm_wait(req));
            CHECK(memcmp(got, buf, sizeof(buf)) == 0,
                  "rank %d thread %d: get after put on page %d, iteration %d: word 0 is "
                  "%" PRIx64 ", want %" PRIx64, g_rank, t, h, i, (uint64_t)got[0],
                  (uint64_t)buf[0]);
        }
    }
    CHECK_OK(dm_quiet());
    return NULL;
}

static void mode_direct_threads(void)
{
    size_t words = g_page / 8;
    pthread_t th[DT_THREADS];
    int64_t *mem = dm_alloc((size_t)g_n * g_page), v, b = 0;
    int h, i, k, t;

    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    CHECK(64 + (size_t)g_n * DT_THREADS * DT_SLOT <= words, "page too small for %d ranks", g_n);
    for (h = 0; h < g_n; h++) {
        CHECK(dm_home(&mem[(size_t)h * words]) == h, "page %d homed at %d", h,
              dm_home(&mem[(size_t)h * words]));
    }
    g_dt_mem = mem;
    for (i = 2; i < 64; i++) {
        mem[(size_t)g_rank * words + (size_t)i] = 1000 * g_rank + i; /* the home's copy (M) */
    }
    CHECK_OK(dm_barrier());
    for (t = 0; t < DT_THREADS; t++) {
        CHECK(pthread_create(&th[t], NULL, dt_thread, (void *)(intptr_t)t) == 0,
              "pthread_create");
    }
    /* the home meanwhile: CPU atomics through the page protocol, its data re-read */
    for (i = 0; i < DT_K; i++) {
        int64_t *pg = &mem[(size_t)g_rank * words];

        __atomic_fetch_add(&pg[1], 1, __ATOMIC_SEQ_CST);
        if (i % 97 == 0) {
            for (k = 2; k < 64; k++) {
                CHECK(pg[k] == 1000 * g_rank + k, "home %d: word %d is %" PRId64, g_rank, k,
                      pg[k]);
            }
        }
    }
    for (t = 0; t < DT_THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    CHECK_OK(dm_quiet());
    CHECK_OK(dm_barrier());
    for (h = 0; h < g_n; h++) {
        int64_t *pg = &mem[(size_t)h * words];
        int64_t want = (int64_t)(g_n - 1) * DT_THREADS * DT_K;

        CHECK_OK(dm_atomic_fetch(&pg[0], &v));
        CHECK(v == want && pg[0] == v, "page %d: fetch_add total %" PRId64 " (plain %" PRId64
              "), want %" PRId64, h, v, pg[0], want);
        CHECK(pg[1] == want + DT_K, "page %d: mixed total %" PRId64 ", want %" PRId64, h, pg[1],
              want + DT_K);
        for (i = 0; i < g_n; i++) {
            for (t = 0; t < DT_THREADS; t++) {
                int64_t got = pg[64 + ((size_t)i * DT_THREADS + (size_t)t) * DT_SLOT];
                int64_t w = i == h ? 0
                                   : ((int64_t)i << 48) | ((int64_t)t << 40) |
                                         ((int64_t)(DT_K - 1) << 8);

                CHECK(got == w, "page %d: rank %d thread %d's slot %" PRIx64 ", want %" PRIx64,
                      h, i, t, (uint64_t)got, (uint64_t)w);
            }
        }
    }
    /* with the direct path warm, the page is freed: operations on it must fail */
    CHECK_OK(dm_barrier());
    dm_free(mem);
    h = (g_rank + 1) % g_n;
    CHECK(dm_put(&mem[(size_t)h * words + 64], &b, sizeof(b)) == DM_ERR_INVALID_PARAM,
          "put to a freed page: %s", dm_last_error());
    CHECK(dm_get(&b, &mem[(size_t)h * words + 64], sizeof(b)) == DM_ERR_INVALID_PARAM,
          "get from a freed page: %s", dm_last_error());
    CHECK(dm_atomic_fetch_add(&mem[(size_t)h * words], 1, &v) == DM_ERR_INVALID_PARAM,
          "fetch_add on a freed page: %s", dm_last_error());
    CHECK_OK(dm_barrier());
}

#define RUNS_PAGES  600
#define RUNS_ROUNDS 14

static void mode_runs(void)
{
    size_t total = RUNS_PAGES * g_page;
    unsigned char *region = dm_alloc(total); /* block-cyclic: every rank is a home */
    unsigned char *exp = calloc(1, total), *data = malloc(total), *got = malloc(total);
    uint64_t rng = 0x5eed0005;

    CHECK(region != NULL && exp != NULL && data != NULL && got != NULL, "allocation: %s",
          dm_last_error());
    for (int round = 0; round < RUNS_ROUNDS; round++) {
        int actor = (int)(splitmix(&rng) % (uint64_t)g_n);
        /* 0 none, 1 plain stores, 2 plain loads; the first rounds keep most pages uncached */
        int spoil = round < RUNS_ROUNDS / 2 ? round % 3 == 2 : (int)(splitmix(&rng) % 3);
        int spoiler = (actor + 1 + (int)(splitmix(&rng) % (uint64_t)(g_n > 1 ? g_n - 1 : 1))) % g_n;
        size_t len = 64 * g_page + splitmix(&rng) % (total / 2), off;
        size_t spots[3];

        off = splitmix(&rng) % (total - len);
        if (round % 3 == 0) {
            off -= off % g_page; /* page aligned, like most large buffers */
        }
        fill(data, len, splitmix(&rng));
        for (int k = 0; k < 3; k++) {
            spots[k] = off + splitmix(&rng) % len;
        }
        if (spoil != 0 && g_n > 1) {
            if (g_rank == spoiler) {
                for (int k = 0; k < 3; k++) {
                    if (spoil == 1) {
                        region[spots[k]] = (unsigned char)(0xa0 + k); /* now its page */
                    } else {
                        CHECK(region[spots[k]] == exp[spots[k]],
                              "round %d: read before the put at %zu", round, spots[k]);
                    }
                }
            }
            if (spoil == 1) {
                for (int k = 0; k < 3; k++) {
                    exp[spots[k]] = (unsigned char)(0xa0 + k);
                }
            }
            CHECK_OK(dm_barrier());
        }
        if (g_rank == actor) {
            if (round % 2 == 0) {
                CHECK_OK(dm_put(region + off, data, len));
            } else {
                dm_request_t *r;

                CHECK_OK(dm_put_nb(region + off, data, len, &r));
                CHECK_OK(dm_wait(r));
            }
            CHECK_OK(dm_quiet());
        }
        memcpy(exp + off, data, len);
        CHECK_OK(dm_barrier());
        if (round >= RUNS_ROUNDS / 2 && round % 3 == 2 && (round / 3 + g_rank) % 2 == 0) {
            /* read-only copies: the next put finds those pages S, goes by message */
            check_plain(region, exp, 0, total, "plain loads after a large put", round);
        } else {
            memset(got, 0xee, total);
            CHECK_OK(dm_get(got, region, total));
            CHECK(memcmp(got, exp, total) == 0, "round %d: dm_get of the region after a put of "
                  "%zu bytes at %zu by rank %d", round, len, off, actor);
        }
        CHECK_OK(dm_barrier());
    }
    CHECK_OK(dm_barrier());
    dm_free(region);
    free(exp);
    free(data);
    free(got);
}

#define HELD_ITERS  30
#define HELD_WINDOW 64

static void mode_held(void)
{
    /* flags: page k of the region; acks: word i of their own page */
    int64_t *region = dm_alloc((size_t)g_n * 2 * g_page), *acks = dm_alloc(g_page);
    int64_t *flag_page[64], v;
    size_t words = g_page / 8;
    int i, s, k;

    CHECK(region != NULL && acks != NULL, "dm_alloc: %s", dm_last_error());
    CHECK(g_n <= 64, "at most 64 ranks");
    for (s = 0; s < g_n; s++) {
        /* a page not homed at sender s: its operations are messages */
        for (k = 0; k < 2 * g_n && dm_home(&region[(size_t)k * words]) == s; k++) {
        }
        CHECK(k < 2 * g_n, "no page of the region is homed away from rank %d", s);
        flag_page[s] = &region[(size_t)k * words];
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < HELD_ITERS; i++) {
        int sender = i % g_n, receiver = (i + 1) % g_n;
        int64_t *flag = &flag_page[sender][i], *ack = &acks[i];
        static const char *const kinds[] = { "dm_put", "dm_put_nb", "dm_atomic_fetch_add" };
        int kind = i % 3;

        if (g_rank == receiver) {
            v = *(volatile int64_t *)flag; /* a read-only copy: the operation cannot go direct */
        }
        if (g_rank == sender) {
            v = *(volatile int64_t *)ack; /* read-only here: the spin below does not fault */
        }
        CHECK_OK(dm_barrier());
        if (g_rank == sender) {
            dm_request_t *req = NULL;
            int64_t one = 1;
            struct timespec t0, t;

            if (kind == 0) {
                CHECK_OK(dm_put(flag, &one, sizeof(one)));
            } else if (kind == 1) {
                CHECK_OK(dm_put_nb(flag, &one, sizeof(one), &req));
            } else {
                CHECK_OK(dm_atomic_fetch_add(flag, 1, NULL));
            }
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (unsigned spins = 1; *(volatile int64_t *)ack == 0; spins++) {
                if ((spins & 0xfffff) == 0) {
                    clock_gettime(CLOCK_MONOTONIC, &t);
                    CHECK(t.tv_sec - t0.tv_sec < 30, "iteration %d: no ack 30 s after a %s: the "
                          "operation was held and never sent", i, kinds[kind]);
                }
            }
            if (req != NULL) {
                CHECK_OK(dm_wait(req));
            }
        } else if (g_rank == receiver) {
            CHECK_OK(dm_wait_until(flag, DM_CMP_EQ, 1));
            *(volatile int64_t *)ack = 1;
        }
        CHECK_OK(dm_barrier());
    }
    /* a window of small puts, one page away from the sender: batched across calls */
    if (g_rank == 0) {
        dm_request_t *reqs[HELD_WINDOW];
        int64_t *to = flag_page[0] + 256;

        for (i = 0; i < HELD_WINDOW; i++) {
            v = 5000 + i;
            CHECK_OK(dm_put_nb(&to[i], &v, sizeof(v), &reqs[i]));
        }
        CHECK_OK(dm_quiet());
        for (i = 0; i < HELD_WINDOW; i++) {
            CHECK_OK(dm_wait(reqs[i]));
        }
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < HELD_WINDOW; i++) {
        v = ((volatile int64_t *)flag_page[0])[256 + i];
        CHECK(v == 5000 + i, "put %d of the window: read %" PRId64 ", want %d", i, v, 5000 + i);
    }
    CHECK_OK(dm_barrier());
    dm_free(acks);
    dm_free(region);
}

static void mode_kill(void)
{
    int last = g_n - 1, i;
    int64_t *mem = dm_alloc((size_t)g_n * 8 * g_page);
    int64_t *at_last;
    unsigned char buf[256] = { 1 };
    dm_status_t st = DM_OK;
    time_t deadline;

    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    at_last = &mem[(size_t)last * (g_page / 8)]; /* page `last` is homed at the last rank */
    CHECK(dm_home(at_last) == last, "page homed at %d, want %d", dm_home(at_last), last);
    /*
     * The victim leaves this barrier and dies: another rank may still be in
     * it (the victim's last message may not reach it), so a failure here
     * counts as seeing the death too.
     */
    st = dm_barrier();
    if (g_rank == last) {
        CHECK_OK(st);
        kill(getpid(), SIGKILL);
    }
    /*
     * Until the failure shows, for at most 20 s: a direct operation takes
     * tens of nanoseconds and the victim's exit milliseconds, and direct
     * operations notice a death only every few thousand of them.
     */
    deadline = time(NULL) + 20;
    for (i = 0; st == DM_OK && ((i & 1023) != 0 || time(NULL) < deadline); i++) {
        switch (i % 4) {
        case 0:
            st = dm_put(at_last, buf, sizeof(buf));
            break;
        case 1:
            st = dm_quiet();
            break;
        case 2:
            st = dm_atomic_fetch_add(at_last + 64, 1, NULL);
            break;
        default:
            st = dm_get(buf, at_last, sizeof(buf));
            break;
        }
    }
    CHECK(st == DM_ERR_PEER_FAILED, "after %d operations: %s, want DM_ERR_PEER_FAILED", i,
          dm_status_name(st));
    printf("rma_check kill: rank %d saw failure (%s)\n", g_rank, dm_last_error());
    fflush(stdout);
    dm_finalize();
    exit(0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    g_n = dm_nranks();
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    if (strcmp(mode, "ops") == 0) {
        mode_ops();
    } else if (strcmp(mode, "atomics") == 0) {
        mode_atomics();
    } else if (strcmp(mode, "order") == 0) {
        mode_order();
    } else if (strcmp(mode, "errors") == 0) {
        mode_errors();
    } else if (strcmp(mode, "direct") == 0) {
        mode_direct();
    } else if (strcmp(mode, "direct-threads") == 0) {
        mode_direct_threads();
    } else if (strcmp(mode, "runs") == 0) {
        mode_runs();
    } else if (strcmp(mode, "held") == 0) {
        mode_held();
    } else if (strcmp(mode, "kill") == 0) {
        mode_kill();
    } else {
        fprintf(stderr, "usage: rma_check "
                "ops|atomics|order|errors|direct|direct-threads|runs|held|kill\n");
        dm_finalize();
        return 2;
    }
    CHECK_OK(dm_finalize());
    printf("rma_check %s: rank %d ok\n", mode, g_rank);
    return 0;
}
