/*
 * The coherent shared memory through the public API only (distmem.h is the
 * one distmem header included), as N real processes over the real transport
 * (`distmem run -n N`, or ranks started by hand). One mode per run:
 *
 *   dsm_check alloc      dm_alloc gives the same address in every rank (the
 *                        ranks compare it through distmem memory itself),
 *                        fresh memory reads as zero, also after dm_free and a
 *                        new dm_alloc; dm_home of every page is a rank and the
 *                        same in every rank, -1 off distmem memory; size 0 is
 *                        DM_ERR_INVALID_PARAM; dm_malloc blocks (1 byte to
 *                        several MiB) are 16-byte aligned, homed at their
 *                        rank, read correctly in every rank and are released
 *                        by another rank (their contents start undefined).
 *   dsm_check counter    a counter and a multi-word record (two pages), each
 *                        under its own dm_lock, updated COUNTER_TOTAL / N
 *                        times by every rank; the record is checked consistent inside
 *                        every critical section and everything at the end.
 *   dsm_check prodcons   each round one rank writes a random range of a
 *                        multi-page buffer, a barrier, every rank checks the
 *                        whole buffer against its local replay.
 *   dsm_check pagewords  the ranks write interleaved words of ONE page
 *                        without locks (word i is rank i % N's); after each
 *                        epoch's barrier no write may be lost.
 *   dsm_check drf        a random data-race-free workload: a PRNG with the
 *                        same seed in every rank decides, phase by phase, per
 *                        page or per word, which rank writes and which words
 *                        everyone reads; reads are checked against the
 *                        sequential replay. Pages of dm_alloc memory and of
 *                        every rank's dm_malloc block (several homes).
 *   dsm_check threads    DSM_THREADS threads per process: interleaved words
 *                        of one page per (rank, thread), and a lock-protected
 *                        counter with per-thread tallies.
 *   dsm_check firsttouch (with DISTMEM_PLACEMENT=first-touch) each rank
 *                        writes its own slice first and must become its home;
 *                        a put makes its issuer the home of a fresh page;
 *                        freed pages are undecided again.
 *   dsm_check bigdata    (with DISTMEM_CACHE_SIZE) shared data 4x a rank's
 *                        cache budget, rewritten slice by slice and checked
 *                        byte for byte by every rank each round.
 *   dsm_check segv below|above
 *                        after a collective dm_free, the last rank reads the
 *                        page just below an allocation (below) or writes just
 *                        past its end (above): both lie inside the global
 *                        address space and outside any allocation, so it must
 *                        die by SIGSEGV with a message naming the address
 *                        (the script checks that; it prints the address
 *                        first). The other ranks finalize and report ok.
 *   dsm_check kill       the last rank SIGKILLs itself after a barrier while
 *                        the others keep touching pages homed at it and
 *                        calling dm_barrier: they must either see
 *                        DM_ERR_PEER_FAILED ("rank R saw failure", exit 0) or
 *                        die by SIGBUS naming the failed rank; never hang.
 *
 * Each rank prints "dsm_check MODE: rank R ok" and exits 0 on success; a
 * failed check prints the rank and what differed and exits 1.
 * An optional last argument SEED changes the drf seed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distmem.h"

static int g_rank;
#include "rank_check.h"

#define COUNTER_TOTAL 3000   /* updates of the counter and of the record, split over the ranks */
#define PRODCONS_BYTES 65536 /* the buffer of prodcons */
#define PRODCONS_ROUNDS 40   /* rounds per rank of prodcons */
#define PAGEWORDS_EPOCHS 6
#define PAGEWORDS_ROUNDS 12  /* rounds of writes per epoch */
#define DRF_ALLOC_PAGES 40   /* pages of dm_alloc memory in drf */
#define DRF_MALLOC_PAGES 6   /* page-sized chunks of each rank's dm_malloc block */
#define DRF_PHASES 40
#define DSM_THREADS 4
#define THREADS_ROUNDS 60
#define THREADS_K 300
#define KILL_PAGES 64        /* pages of the block homed at the rank that dies */

static int g_n;
static size_t g_page;
static uint64_t g_seed = 20240611;

/* splitmix64: one step of the generator, and its finalizer as a hash. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix64(*state);
}

static void *alloc_ok(size_t bytes)
{
    void *p = dm_alloc(bytes);

    CHECK(p != NULL, "dm_alloc(%zu) -> NULL, %s: %s", bytes, dm_status_name(dm_last_status()),
          dm_last_error());
    return p;
}

static void *malloc_ok(size_t bytes)
{
    void *p = dm_malloc(bytes);

    CHECK(p != NULL, "dm_malloc(%zu) -> NULL, %s: %s", bytes, dm_status_name(dm_last_status()),
          dm_last_error());
    return p;
}

static dm_lock_t *lock_create_ok(void)
{
    dm_lock_t *l = dm_lock_create();

    CHECK(l != NULL, "dm_lock_create -> NULL, %s: %s", dm_status_name(dm_last_status()),
          dm_last_error());
    return l;
}

/*
 * Every rank's value of v, exchanged through distmem memory: table is a
 * dm_alloc'd array of N words (at the same address everywhere, or the values
 * do not meet). out gets N values. Ends with a barrier so table can be reused.
 */
static void allgather(uint64_t *table, uint64_t v, uint64_t *out)
{
    table[g_rank] = v;
    CHECK_OK(dm_barrier());
    for (int r = 0; r < g_n; r++) {
        out[r] = table[r];
    }
    CHECK_OK(dm_barrier());
}

/* The byte at offset i of a pattern named by seed. */
static uint8_t pattern(uint64_t seed, size_t i)
{
    return (uint8_t)mix64(seed ^ ((uint64_t)i * 0x100000001b3ull));
}

static void check_zero(const uint8_t *p, size_t bytes, const char *what)
{
    for (size_t i = 0; i < bytes; i++) {
        CHECK(p[i] == 0, "%s: byte %zu of %zu at %p reads %#x, fresh memory must read 0", what,
              i, bytes, (const void *)(p + i), p[i]);
    }
}

static size_t pages_spanned(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p;

    return ((a + bytes + g_page - 1) / g_page) - a / g_page;
}

/* The first and last byte of [p, p + bytes) on its i-th page. */
static void page_bounds(const uint8_t *p, size_t bytes, size_t i, const uint8_t **first_p,
                        const uint8_t **last_p)
{
    uintptr_t base = ((uintptr_t)p / g_page + i) * g_page;
    uintptr_t lo = base > (uintptr_t)p ? base : (uintptr_t)p;
    uintptr_t hi = base + g_page < (uintptr_t)p + bytes ? base + g_page : (uintptr_t)p + bytes;

    *first_p = p + (lo - (uintptr_t)p);
    *last_p = p + (hi - 1 - (uintptr_t)p);
}

/* ------------------------------------------------------------------ alloc */

static const size_t alloc_sizes[] = { 1, 100, 4096, 4097, 65536, 1 << 20, (2 << 20) + 123,
                                      4 << 20 };
#define NALLOC (sizeof(alloc_sizes) / sizeof(alloc_sizes[0]))
#define REUSE_MAX ((size_t)1 << 20) /* the largest size allocated again after dm_free */

/*
 * Checks one collective allocation of `bytes` at p: same address in every
 * rank, reads as zero, homes valid and agreed, and slices written by every
 * rank are read back by every rank.
 */
static void check_collective(uint64_t *table, uint64_t *all, uint8_t *p, size_t bytes,
                             uint64_t seed)
{
    size_t np = pages_spanned(p, bytes);
    int32_t *homes;
    int distinct = 0;
    char *seen = calloc((size_t)g_n, 1);

    allgather(table, (uint64_t)(uintptr_t)p, all);
    for (int r = 0; r < g_n; r++) {
        CHECK(all[r] == (uint64_t)(uintptr_t)p, "dm_alloc(%zu): rank %d got %#" PRIx64 ", I %p",
              bytes, r, all[r], (void *)p);
    }
    check_zero(p, bytes, "dm_alloc");

    /* Homes: rank 0 publishes its view, the others compare page by page. */
    homes = alloc_ok(np * sizeof(*homes));
    for (size_t i = 0; i < np; i++) {
        const uint8_t *first, *last;
        int h;

        page_bounds(p, bytes, i, &first, &last);
        h = dm_home(first);
        CHECK(h >= 0 && h < g_n, "dm_home(%p) = %d (page %zu of a %zu-byte dm_alloc)",
              (const void *)first, h, i, bytes);
        CHECK(dm_home(last) == h, "dm_home(%p) = %d, dm_home(%p) = %d: one page", (const void *)first,
              h, (const void *)last, dm_home(last));
        if (!seen[h]) {
            seen[h] = 1;
            distinct++;
        }
        if (g_rank == 0) {
            homes[i] = h;
        }
    }
    CHECK_OK(dm_barrier());
    for (size_t i = 0; i < np; i++) {
        const uint8_t *first, *last;

        page_bounds(p, bytes, i, &first, &last);
        CHECK(homes[i] == dm_home(first),
              "page %zu of a %zu-byte dm_alloc: home %d here, %d in rank 0", i, bytes,
              dm_home(first), homes[i]);
    }
    CHECK_OK(dm_barrier());
    dm_free(homes);
    /* A large allocation spreads over several homes (block-cyclic). */
    CHECK(g_n == 1 || bytes < ((size_t)4 << 20) || distinct > 1,
          "all %zu pages of a %zu-byte dm_alloc are homed at one rank", np, bytes);
    free(seen);

    /* Every rank writes its slice; after a barrier everyone reads all. */
    {
        size_t lo = bytes * (size_t)g_rank / (size_t)g_n;
        size_t hi = bytes * (size_t)(g_rank + 1) / (size_t)g_n;

        for (size_t i = lo; i < hi; i++) {
            p[i] = pattern(seed, i);
        }
    }
    CHECK_OK(dm_barrier());
    for (size_t i = 0; i < bytes; i++) {
        CHECK(p[i] == pattern(seed, i),
              "dm_alloc(%zu): byte %zu (written by rank %zu) reads %#x, want %#x", bytes, i,
              i * (size_t)g_n / bytes, p[i], pattern(seed, i));
    }
    CHECK_OK(dm_barrier());
}

static const size_t malloc_sizes[] = { 1, 16, 100, 4096, 4097, 65544, 1 << 20, (2 << 20) + 3 };
#define NMALLOC (sizeof(malloc_sizes) / sizeof(malloc_sizes[0]))

static void check_homed_at(const uint8_t *q, size_t bytes, int rank)
{
    for (size_t off = 0; off < bytes; off += g_page) {
        CHECK(dm_home(q + off) == rank, "dm_home(%p) = %d: byte %zu of rank %d's dm_malloc(%zu)",
              (const void *)(q + off), dm_home(q + off), off, rank, bytes);
    }
    CHECK(dm_home(q + bytes - 1) == rank, "dm_home(last byte) = %d: rank %d's dm_malloc(%zu)",
          dm_home(q + bytes - 1), rank, bytes);
}

static void run_alloc(void)
{
    uint64_t *table = alloc_ok((size_t)g_n * sizeof(uint64_t));
    uint64_t *all = calloc((size_t)g_n, sizeof(*all));
    uint8_t *blocks[NALLOC];
    int on_stack = 0;

    CHECK(dm_home(NULL) == -1, "dm_home(NULL) = %d", dm_home(NULL));
    CHECK(dm_home(&on_stack) == -1, "dm_home(stack) = %d", dm_home(&on_stack));
    CHECK(dm_home(all) == -1, "dm_home(libc heap) = %d", dm_home(all));
    CHECK(dm_home(table) >= 0 && dm_home(table) < g_n, "dm_home(table) = %d", dm_home(table));

    /* The table itself: at one address, or the values never meet. */
    allgather(table, (uint64_t)(uintptr_t)table, all);
    for (int r = 0; r < g_n; r++) {
        CHECK(all[r] == (uint64_t)(uintptr_t)table, "rank %d's table is at %#" PRIx64 ", mine at %p",
              r, all[r], (void *)table);
    }

    for (size_t k = 0; k < NALLOC; k++) {
        blocks[k] = alloc_ok(alloc_sizes[k]);
        check_collective(table, all, blocks[k], alloc_sizes[k], 100 + k);
    }
    /*
     * Freed and allocated again (in the other order, up to REUSE_MAX bytes,
     * so the new blocks overlap the old ones): fresh memory reads as zero,
     * wherever it lies.
     */
    for (size_t k = 0; k < NALLOC; k++) {
        dm_free(blocks[k]);
    }
    for (size_t k = NALLOC; k-- > 0;) {
        if (alloc_sizes[k] <= REUSE_MAX) {
            blocks[k] = alloc_ok(alloc_sizes[k]);
            check_collective(table, all, blocks[k], alloc_sizes[k], 200 + k);
        }
    }
    for (size_t k = 0; k < NALLOC; k++) {
        if (alloc_sizes[k] <= REUSE_MAX) {
            dm_free(blocks[k]);
        }
    }
    dm_free(NULL); /* ignored */

    CHECK(dm_alloc(0) == NULL, "dm_alloc(0) returned memory");
    CHECK(dm_last_status() == DM_ERR_INVALID_PARAM, "dm_alloc(0): %s",
          dm_status_name(dm_last_status()));
    /* the failed call left the collective sequence intact */
    blocks[0] = alloc_ok(3 * g_page);
    check_collective(table, all, blocks[0], 3 * g_page, 300);
    dm_free(blocks[0]);

    /* dm_malloc: every rank's blocks, read by everyone, released by the next rank. */
    CHECK(dm_malloc(0) == NULL, "dm_malloc(0) returned memory");
    CHECK(dm_last_status() == DM_ERR_INVALID_PARAM, "dm_malloc(0): %s",
          dm_status_name(dm_last_status()));
    dm_mfree(NULL); /* ignored */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < NMALLOC; k++) {
            size_t bytes = malloc_sizes[k];
            uint64_t seed = ((uint64_t)pass << 40) ^ ((uint64_t)k << 20) ^ (uint64_t)g_rank;
            uint8_t *q;

            if (pass > 0 && bytes > REUSE_MAX) {
                continue; /* the reuse pass stays small */
            }
            q = malloc_ok(bytes);

            CHECK((uintptr_t)q % 16 == 0, "dm_malloc(%zu) = %p is not 16-byte aligned", bytes,
                  (void *)q);
            /* contents are undefined (a block of pass 0 is reused): no zero check */
            check_homed_at(q, bytes, g_rank);
            for (size_t i = 0; i < bytes; i++) {
                q[i] = pattern(seed, i);
            }
            allgather(table, (uint64_t)(uintptr_t)q, all);
            for (int r = 0; r < g_n; r++) {
                const uint8_t *o = (const uint8_t *)(uintptr_t)all[r];
                uint64_t oseed = ((uint64_t)pass << 40) ^ ((uint64_t)k << 20) ^ (uint64_t)r;

                CHECK(o != NULL, "rank %d published NULL", r);
                check_homed_at(o, bytes, r);
                for (size_t i = 0; i < bytes; i++) {
                    CHECK(o[i] == pattern(oseed, i),
                          "rank %d's dm_malloc(%zu) at %p: byte %zu reads %#x, want %#x", r,
                          bytes, (const void *)o, i, o[i], pattern(oseed, i));
                }
            }
            CHECK_OK(dm_barrier());
            /* any rank may release any rank's block: the next rank does */
            dm_mfree((void *)(uintptr_t)all[(g_rank + g_n - 1) % g_n]);
            CHECK_OK(dm_barrier());
        }
    }

    /* Many small blocks of one rank never overlap. */
    {
        enum { NSMALL = 200 };
        uint8_t *small[NSMALL];
        size_t len[NSMALL];
        uint64_t st = g_seed ^ (uint64_t)g_rank;

        for (int i = 0; i < NSMALL; i++) {
            len[i] = 1 + rng_next(&st) % 600;
            small[i] = malloc_ok(len[i]);
            check_homed_at(small[i], len[i], g_rank);
            memset(small[i], i + 1, len[i]);
        }
        for (int i = 0; i < NSMALL; i++) {
            for (size_t j = 0; j < len[i]; j++) {
                CHECK(small[i][j] == (uint8_t)(i + 1),
                      "small block %d (%zu bytes at %p) byte %zu was overwritten (%#x)", i,
                      len[i], (void *)small[i], j, small[i][j]);
            }
        }
        for (int i = 0; i < NSMALL; i++) {
            dm_mfree(small[i]);
        }
    }
    CHECK_OK(dm_barrier());
    dm_free(table);
    free(all);
}

/* ---------------------------------------------------------------- counter */

/*
 * Layout over three pages: page 0 holds the counter and the first words of
 * the record, page 2 the record's last word and the per-rank tallies, so a
 * consistent record needs two pages to move together with the lock. Page 1
 * is noise: each rank writes its own word there, so the read of a
 * neighbour's word inside counter_add usually faults.
 */
typedef struct counter_layout {
    uint64_t *counter;
    uint64_t *rec;   /* REC_WORDS words on page 0 */
    uint64_t *far;   /* record word on page 2 */
    uint64_t *tally; /* N words on page 2: updates of the record by each rank */
    uint64_t *noise; /* N words on page 1, each rank writes its own */
} counter_layout_t;

#define REC_WORDS 6

/*
 * *p += 1 as a separate load and store with a read of another page (often
 * a fault) between them. A single read-modify-write instruction runs whole
 * on one copy of the page (the fault path completes the faulting
 * instruction before the page can move), so without a working lock it would
 * still never lose an update and the test could not tell.
 */
static void counter_add(uint64_t *p, const uint64_t *elsewhere)
{
    volatile uint64_t *v = p;
    uint64_t old = *v;

    (void)*(const volatile uint64_t *)elsewhere;
    *v = old + 1;
}

/* Word j of the record holding v (all zero for v = 0: fresh memory). */
static uint64_t rec_word(uint64_t v, int j) { return v * (uint64_t)(2 * j + 1); }

static void run_counter(void)
{
    uint8_t *region = alloc_ok(3 * g_page);
    counter_layout_t c = {
        .counter = (uint64_t *)region,
        .rec = (uint64_t *)(region + 64),
        .far = (uint64_t *)(region + 2 * g_page),
        .tally = (uint64_t *)(region + 2 * g_page + 64),
        .noise = (uint64_t *)(region + g_page),
    };
    dm_lock_t *lc = lock_create_ok();
    dm_lock_t *lr = lock_create_ok();
    int k_per_rank = COUNTER_TOTAL / g_n;
    uint64_t total = (uint64_t)g_n * (uint64_t)k_per_rank;

    CHECK(dm_lock(NULL) == DM_ERR_INVALID_PARAM, "dm_lock(NULL) accepted");
    CHECK(dm_unlock(lc) == DM_ERR_INVALID_PARAM, "dm_unlock of a lock not held accepted");
    CHECK_OK(dm_barrier());
    for (int k = 0; k < k_per_rank; k++) {
        uint64_t v;

        c.noise[g_rank] = (uint64_t)k; /* own word: page 1 keeps moving */
        CHECK_OK(dm_lock(lc));
        counter_add(c.counter, &c.noise[(g_rank + 1) % g_n]);
        CHECK_OK(dm_unlock(lc));

        CHECK_OK(dm_lock(lr));
        v = *c.far;
        for (int j = 0; j < REC_WORDS; j++) {
            CHECK(c.rec[j] == rec_word(v, j),
                  "update %d: record word %d = %#" PRIx64 ", want %#" PRIx64
                  " (the far word says %" PRIu64 ")", k, j, c.rec[j], rec_word(v, j), v);
        }
        /* non-atomic update: one word at a time, the pages in turn */
        c.rec[0] = rec_word(v + 1, 0);
        c.tally[g_rank] += 1;
        for (int j = 1; j < REC_WORDS; j++) {
            c.rec[j] = rec_word(v + 1, j);
        }
        *c.far = v + 1;
        CHECK_OK(dm_unlock(lr));
    }
    CHECK_OK(dm_barrier());
    CHECK(*c.counter == total, "counter = %" PRIu64 ", want %d * %d = %" PRIu64, *c.counter, g_n,
          k_per_rank, total);
    CHECK(*c.far == total, "record far word = %" PRIu64 ", want %" PRIu64, *c.far, total);
    for (int j = 0; j < REC_WORDS; j++) {
        CHECK(c.rec[j] == rec_word(total, j), "record word %d = %#" PRIx64 ", want %#" PRIx64, j,
              c.rec[j], rec_word(total, j));
    }
    for (int r = 0; r < g_n; r++) {
        CHECK(c.tally[r] == (uint64_t)k_per_rank, "rank %d's tally = %" PRIu64 ", want %d", r,
              c.tally[r], k_per_rank);
    }
    CHECK_OK(dm_barrier());
    dm_lock_destroy(lc);
    dm_lock_destroy(lr);
    dm_free(region);
}

/* --------------------------------------------------------------- prodcons */

static void run_prodcons(void)
{
    enum { W = PRODCONS_BYTES / 8 };
    uint64_t *buf = alloc_ok(PRODCONS_BYTES);
    uint64_t *expect = calloc(W, sizeof(*expect));
    uint64_t st = g_seed;
    int rounds = PRODCONS_ROUNDS * g_n;

    for (int round = 0; round < rounds; round++) {
        int prod = round % g_n;
        size_t a = rng_next(&st) % W, b = rng_next(&st) % W;

        if (round % 4 == 0) { /* now and then the whole buffer */
            a = 0;
            b = W - 1;
        }
        if (a > b) {
            size_t t = a;

            a = b;
            b = t;
        }
        for (size_t i = a; i <= b; i++) {
            expect[i] = mix64(((uint64_t)round << 32) ^ i) | 1;
        }
        if (g_rank == prod) {
            for (size_t i = a; i <= b; i++) {
                buf[i] = expect[i];
            }
        }
        CHECK_OK(dm_barrier());
        for (size_t i = 0; i < W; i++) {
            CHECK(buf[i] == expect[i],
                  "round %d (producer rank %d wrote words %zu..%zu): word %zu (page %zu) reads %#"
                  PRIx64 ", want %#" PRIx64, round, prod, a, b, i, i * 8 / g_page, buf[i],
                  expect[i]);
        }
        CHECK_OK(dm_barrier());
    }
    free(expect);
    dm_free(buf);
}

/* -------------------------------------------------------------- pagewords */

static uint64_t pw_value(int epoch, int round, size_t word)
{
    return ((uint64_t)(epoch + 1) << 48) | ((uint64_t)round << 32) | word;
}

static void run_pagewords(void)
{
    volatile uint64_t *w = alloc_ok(g_page);
    size_t nw = g_page / sizeof(uint64_t);

    CHECK(pages_spanned((const void *)w, g_page) == 1, "a one-page dm_alloc spans two pages");
    for (int e = 0; e < PAGEWORDS_EPOCHS; e++) {
        for (int round = 0; round < PAGEWORDS_ROUNDS; round++) {
            for (size_t i = (size_t)g_rank; i < nw; i += (size_t)g_n) {
                w[i] = pw_value(e, round, i);
            }
            /* a rank sees its own writes, wherever the page went meanwhile */
            for (size_t i = (size_t)g_rank; i < nw; i += (size_t)g_n) {
                CHECK(w[i] == pw_value(e, round, i),
                      "epoch %d round %d: my word %zu reads %#" PRIx64 ", want %#" PRIx64, e,
                      round, i, w[i], pw_value(e, round, i));
            }
        }
        CHECK_OK(dm_barrier());
        for (size_t i = 0; i < nw; i++) {
            CHECK(w[i] == pw_value(e, PAGEWORDS_ROUNDS - 1, i),
                  "epoch %d: word %zu of rank %zu reads %#" PRIx64 ", want %#" PRIx64
                  " (a lost write)", e, i, i % (size_t)g_n, w[i],
                  pw_value(e, PAGEWORDS_ROUNDS - 1, i));
        }
        CHECK_OK(dm_barrier());
    }
    dm_free((void *)w);
}

/* -------------------------------------------------------------------- drf */

/*
 * The word space: page-sized chunks of dm_alloc memory and of every rank's
 * dm_malloc block. expect[] is the sequential replay, last_writer[] and
 * last_phase[] name who wrote each expected value (for the message).
 */
typedef struct drf_space {
    uint64_t **chunk;
    size_t nchunks, wpc; /* chunks, words per chunk */
    uint64_t *expect;
    int *last_writer;
    int *last_phase;
} drf_space_t;

static uint64_t drf_value(int phase, size_t word, int writer)
{
    return mix64(((uint64_t)phase << 40) ^ ((uint64_t)word << 8) ^ (uint64_t)writer) | 1;
}

static void drf_read(const drf_space_t *s, size_t c, size_t j, int phase)
{
    size_t word = c * s->wpc + j;
    uint64_t got = s->chunk[c][j];

    CHECK(got == s->expect[word],
          "drf seed %" PRIu64 " phase %d: chunk %zu word %zu at %p (home %d) reads %#" PRIx64
          ", want %#" PRIx64 " written by rank %d in phase %d", g_seed, phase, c, j,
          (void *)&s->chunk[c][j], dm_home(&s->chunk[c][j]), got, s->expect[word],
          s->last_writer[word], s->last_phase[word]);
}

/* The writer checks the old value (its own read is race-free) and writes. */
static void drf_write(const drf_space_t *s, size_t c, size_t j, int phase, int writer)
{
    size_t word = c * s->wpc + j;

    if (writer == g_rank) {
        drf_read(s, c, j, phase);
        s->chunk[c][j] = drf_value(phase, word, writer);
    }
    s->expect[word] = drf_value(phase, word, writer);
    s->last_writer[word] = writer;
    s->last_phase[word] = phase;
}

static void run_drf(void)
{
    uint64_t *table = alloc_ok((size_t)g_n * sizeof(uint64_t));
    uint64_t *all = calloc((size_t)g_n, sizeof(*all));
    uint8_t *arr = alloc_ok(DRF_ALLOC_PAGES * g_page);
    uint8_t *mine = malloc_ok(DRF_MALLOC_PAGES * g_page);
    drf_space_t s;
    uint64_t st = g_seed;
    size_t c = 0;

    s.wpc = g_page / sizeof(uint64_t);
    s.nchunks = DRF_ALLOC_PAGES + (size_t)g_n * DRF_MALLOC_PAGES;
    s.chunk = calloc(s.nchunks, sizeof(*s.chunk));
    s.expect = calloc(s.nchunks * s.wpc, sizeof(*s.expect));
    s.last_writer = calloc(s.nchunks * s.wpc, sizeof(*s.last_writer));
    s.last_phase = calloc(s.nchunks * s.wpc, sizeof(*s.last_phase));
    for (size_t i = 0; i < s.nchunks * s.wpc; i++) {
        s.last_writer[i] = -1; /* nobody: fresh memory */
    }
    for (size_t i = 0; i < DRF_ALLOC_PAGES; i++) {
        s.chunk[c++] = (uint64_t *)(arr + i * g_page);
    }
    allgather(table, (uint64_t)(uintptr_t)mine, all);
    for (int r = 0; r < g_n; r++) {
        for (size_t i = 0; i < DRF_MALLOC_PAGES; i++) {
            s.chunk[c++] = (uint64_t *)(uintptr_t)(all[r] + i * g_page);
        }
    }

    for (int phase = 1; phase <= DRF_PHASES; phase++) {
        for (c = 0; c < s.nchunks; c++) {
            int kind = (int)(rng_next(&st) % 5);
            size_t stride = 1 + rng_next(&st) % 8, first = rng_next(&st) % stride;
            int writer = (int)(rng_next(&st) % (uint64_t)g_n);

            switch (kind) {
            case 0: /* read-only for everyone */
                for (size_t j = first; j < s.wpc; j += stride) {
                    drf_read(&s, c, j, phase);
                }
                break;
            case 1: /* one writer for the chunk */
                for (size_t j = first; j < s.wpc; j += stride) {
                    drf_write(&s, c, j, phase, writer);
                }
                break;
            case 2: /* per word: a writer, or read by all */
            case 3:
                for (size_t j = first; j < s.wpc; j += stride) {
                    int w = (int)(rng_next(&st) % (uint64_t)(g_n + 1));

                    if (w == g_n) {
                        drf_read(&s, c, j, phase);
                    } else {
                        drf_write(&s, c, j, phase, w);
                    }
                }
                break;
            default: /* untouched this phase */
                break;
            }
        }
        CHECK_OK(dm_barrier());
    }
    /* Finally everyone reads everything. */
    for (c = 0; c < s.nchunks; c++) {
        for (size_t j = 0; j < s.wpc; j++) {
            drf_read(&s, c, j, DRF_PHASES + 1);
        }
    }
    CHECK_OK(dm_barrier());
    dm_mfree(mine);
    dm_free(arr);
    dm_free(table);
    free(s.chunk);
    free(s.expect);
    free(s.last_writer);
    free(s.last_phase);
    free(all);
}

/* ---------------------------------------------------------------- threads */

typedef struct threads_shared {
    volatile uint64_t *page;  /* one page: word i is slot i % (N*T) */
    uint64_t *counter;        /* under lock */
    uint64_t *tally;          /* under lock: one word per slot, on another page */
    dm_lock_t *lock;
    pthread_barrier_t local;  /* the threads of this process */
} threads_shared_t;

typedef struct threads_arg {
    threads_shared_t *sh;
    int t;
} threads_arg_t;

static void *threads_main(void *p)
{
    threads_arg_t *a = p;
    threads_shared_t *sh = a->sh;
    size_t nw = g_page / sizeof(uint64_t);
    size_t slots = (size_t)g_n * DSM_THREADS, slot = (size_t)g_rank * DSM_THREADS + (size_t)a->t;

    for (int round = 0; round < THREADS_ROUNDS; round++) {
        for (size_t i = slot; i < nw; i += slots) {
            sh->page[i] = pw_value(0, round, i);
        }
        for (size_t i = slot; i < nw; i += slots) {
            CHECK(sh->page[i] == pw_value(0, round, i),
                  "thread %d round %d: my word %zu reads %#" PRIx64, a->t, round, i, sh->page[i]);
        }
    }
    pthread_barrier_wait(&sh->local);
    for (int k = 0; k < THREADS_K; k++) {
        CHECK_OK(dm_lock(sh->lock));
        counter_add(sh->counter, (const uint64_t *)sh->page);
        counter_add(&sh->tally[slot], sh->counter);
        CHECK_OK(dm_unlock(sh->lock));
    }
    return NULL;
}

static void run_threads(void)
{
    uint8_t *region = alloc_ok(3 * g_page);
    threads_shared_t sh = {
        .page = (volatile uint64_t *)region,
        .counter = (uint64_t *)(region + g_page),
        .tally = (uint64_t *)(region + 2 * g_page),
        .lock = lock_create_ok(),
    };
    pthread_t tid[DSM_THREADS];
    threads_arg_t args[DSM_THREADS];
    size_t nw = g_page / sizeof(uint64_t), slots = (size_t)g_n * DSM_THREADS;
    uint64_t total = (uint64_t)slots * THREADS_K;

    CHECK(slots * sizeof(uint64_t) <= g_page, "too many ranks for one tally page");
    CHECK(pthread_barrier_init(&sh.local, NULL, DSM_THREADS) == 0, "pthread_barrier_init");
    for (int t = 0; t < DSM_THREADS; t++) {
        args[t].sh = &sh;
        args[t].t = t;
        CHECK(pthread_create(&tid[t], NULL, threads_main, &args[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < DSM_THREADS; t++) {
        pthread_join(tid[t], NULL);
    }
    pthread_barrier_destroy(&sh.local);
    CHECK_OK(dm_barrier());
    for (size_t i = 0; i < nw; i++) {
        CHECK(sh.page[i] == pw_value(0, THREADS_ROUNDS - 1, i),
              "word %zu of rank %zu thread %zu reads %#" PRIx64 ", want %#" PRIx64
              " (a lost write)", i, i % slots / DSM_THREADS, i % slots % DSM_THREADS, sh.page[i],
              pw_value(0, THREADS_ROUNDS - 1, i));
    }
    CHECK(*sh.counter == total, "counter = %" PRIu64 ", want %" PRIu64, *sh.counter, total);
    for (size_t s = 0; s < slots; s++) {
        CHECK(sh.tally[s] == THREADS_K, "rank %zu thread %zu: tally %" PRIu64 ", want %d",
              s / DSM_THREADS, s % DSM_THREADS, sh.tally[s], THREADS_K);
    }
    CHECK_OK(dm_barrier());
    dm_lock_destroy(sh.lock);
    dm_free(region);
}

/* ------------------------------------------------------------------- segv */

/*
 * Two allocations; one is freed so that the address touched lies between
 * them: inside the global address space, outside any allocation. dm_free is
 * the last collective call, so the rank that dies cannot fail another rank's
 * collective (dm_free returns nothing; the others only finalize).
 */
static int run_segv(const char *where)
{
    size_t bytes = 4 * g_page;
    uint8_t *a = alloc_ok(bytes), *b = alloc_ok(bytes);
    uint8_t *lo = a < b ? a : b, *hi = a < b ? b : a;
    volatile uint8_t *target;
    int below = !strcmp(where, "below");

    CHECK(below || !strcmp(where, "above"), "segv: below or above, not \"%s\"", where);
    CHECK(lo + bytes <= hi, "allocations overlap: %p and %p", (void *)a, (void *)b);
    if (below) {
        dm_free(lo);
        target = hi - g_page; /* the page just below hi */
    } else {
        dm_free(hi);
        target = (uint8_t *)(((uintptr_t)lo + bytes + g_page - 1) / g_page * g_page);
    }
    if (g_rank != g_n - 1) {
        dm_finalize(); /* the last rank may already be dead: no verdict here */
        return 0;
    }
    printf("dsm_check segv: rank %d touching %p (%s), dm_home %d\n", g_rank, (void *)target,
           below ? "below an allocation, read" : "past an allocation's end, write",
           dm_home((const void *)target));
    fflush(stdout);
    if (below) {
        uint8_t v = *target;

        CHECK(0, "survived a read of %p outside any allocation (%#x)", (void *)target, v);
    }
    *target = 1;
    CHECK(0, "survived a write to %p outside any allocation", (void *)target);
    return 1;
}

/* ------------------------------------------------------------------- kill */

static void run_kill(void)
{
    uint64_t *table = alloc_ok((size_t)g_n * sizeof(uint64_t));
    uint64_t *all = calloc((size_t)g_n, sizeof(*all));
    int victim = g_n - 1;
    uint8_t *block = NULL, *mine = NULL;
    size_t bytes = KILL_PAGES * g_page, nw = bytes / sizeof(uint64_t);
    dm_status_t st = DM_OK;
    int iter;

    CHECK(g_n >= 2, "kill needs 2 ranks or more");
    if (g_rank == victim) {
        mine = malloc_ok(bytes);
    }
    allgather(table, (uint64_t)(uintptr_t)mine, all);
    block = (uint8_t *)(uintptr_t)all[victim];
    check_homed_at(block, bytes, victim);
    /* everyone holds a few of the victim's pages before it dies */
    for (size_t i = 0; i < 4 * g_page; i += g_page) {
        CHECK(block[i] == 0, "fresh memory");
    }
    /*
     * The victim leaves this barrier and dies: another rank may still be in
     * it (the victim's last message may not reach it), so its failure here
     * counts as seeing the death too.
     */
    st = dm_barrier();
    if (g_rank == victim) {
        CHECK_OK(st);
        raise(SIGKILL);
    }
    /*
     * Survivors: write own words of the victim's pages (they move between
     * survivors through the dead home) and read fresh pages, then a barrier;
     * some barrier or some fault must notice the death.
     */
    for (iter = 0; iter < 1000 && st == DM_OK; iter++) {
        volatile uint64_t *w = (volatile uint64_t *)block;

        for (size_t i = (size_t)g_rank; i < nw; i += g_page / sizeof(uint64_t)) {
            w[i] = (uint64_t)iter;
        }
        (void)w[(size_t)(iter % KILL_PAGES) * (g_page / sizeof(uint64_t)) + (size_t)g_n];
        st = dm_barrier();
    }
    CHECK(st == DM_ERR_PEER_FAILED, "dm_barrier returned %s after rank %d died: %s",
          dm_status_name(st), victim, dm_last_error());
    printf("dsm_check kill: rank %d saw failure (%s after %d barriers: %s)\n", g_rank,
           dm_status_name(st), iter, dm_last_error());
    free(all);
}

/*
 * firsttouch (DISTMEM_PLACEMENT=first-touch): fresh pages have no home;
 * each rank writes its own slice first and becomes its home; everyone
 * reads everything (and so learns the homes); a one-sided put makes its
 * issuer the home of an untouched page; after dm_free the pages are
 * undecided again.
 */
static void run_firsttouch(void)
{
    size_t slice = 8 * g_page, total = slice * (size_t)g_n, i;
    unsigned char *mem = dm_alloc(total), *more;
    int64_t v = 0x1234;
    int r;

    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    for (i = 0; i < total; i += g_page) {
        CHECK(dm_home(mem + i) == -1, "page %zu has home %d before anyone touched it", i / g_page,
              dm_home(mem + i));
    }
    CHECK_OK(dm_barrier());
    for (i = 0; i < slice; i++) {
        mem[(size_t)g_rank * slice + i] = (unsigned char)(g_rank * 7 + i);
    }
    CHECK_OK(dm_barrier());
    for (r = 0; r < g_n; r++) {
        for (i = 0; i < slice; i++) {
            CHECK(mem[(size_t)r * slice + i] == (unsigned char)(r * 7 + i),
                  "slice %d byte %zu: %u", r, i, mem[(size_t)r * slice + i]);
        }
        for (i = 0; i < slice; i += g_page) {
            CHECK(dm_home(mem + (size_t)r * slice + i) == r,
                  "page %zu of slice %d homed at %d, want its first toucher %d", i / g_page, r,
                  dm_home(mem + (size_t)r * slice + i), r);
        }
    }
    CHECK_OK(dm_barrier());
    more = dm_alloc(4 * g_page);
    CHECK(more != NULL, "dm_alloc: %s", dm_last_error());
    if (g_rank == g_n - 1) {
        CHECK_OK(dm_put(more + g_page + 8, &v, sizeof(v)));
        CHECK(dm_home(more + g_page) == g_rank, "a put did not make its issuer the home (%d)",
              dm_home(more + g_page));
    }
    CHECK_OK(dm_barrier());
    CHECK(*(volatile int64_t *)(void *)(more + g_page + 8) == v, "the put's value");
    CHECK(dm_home(more + g_page) == g_n - 1, "home of the put's page: %d",
          dm_home(more + g_page));
    CHECK_OK(dm_barrier());
    dm_free(more);
    dm_free(mem);
    mem = dm_alloc(total);
    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    for (i = 0; i < total; i += g_page) {
        CHECK(dm_home(mem + i) == -1, "page %zu after free and alloc: home %d", i / g_page,
              dm_home(mem + i));
    }
    CHECK_OK(dm_barrier()); /* before anyone touches them */
    for (i = 0; i < total; i++) {
        CHECK(mem[i] == 0, "byte %zu after free and alloc: %u", i, mem[i]);
    }
    CHECK_OK(dm_barrier());
    dm_free(mem);
}

/*
 * bigdata (with DISTMEM_CACHE_SIZE set): shared data 4x the cache budget
 * of a rank; each round every rank rewrites one slice, then every rank
 * checks all of it byte for byte, so copies must be dropped and written
 * back to make room (the script checks that evictions happened).
 */
static void run_bigdata(void)
{
    const char *env = getenv("DISTMEM_CACHE_SIZE");
    char *end = NULL;
    unsigned long long budget = env != NULL ? strtoull(env, &end, 10) : 0;
    size_t total, slice, i;
    unsigned char *mem;
    int round, r;

    if (end != NULL && (*end == 'K' || *end == 'k')) {
        budget <<= 10;
    } else if (end != NULL && (*end == 'M' || *end == 'm')) {
        budget <<= 20;
    }
    CHECK(budget >= 64 * g_page, "bigdata needs DISTMEM_CACHE_SIZE of 64 pages or more");
    slice = (4 * budget / (size_t)g_n + g_page - 1) / g_page * g_page;
    total = slice * (size_t)g_n;
    mem = dm_alloc(total);
    CHECK(mem != NULL, "dm_alloc of %zu bytes: %s", total, dm_last_error());
    for (round = 0; round < 3; round++) {
        int mine = (g_rank + round) % g_n;

        for (i = 0; i < slice; i += 8) {
            *(uint64_t *)(void *)(mem + (size_t)mine * slice + i) =
                ((uint64_t)round << 56) ^ ((uint64_t)mine << 48) ^ i;
        }
        CHECK_OK(dm_barrier());
        for (r = 0; r < g_n; r++) {
            for (i = 0; i < slice; i += 8) {
                uint64_t want = ((uint64_t)round << 56) ^ ((uint64_t)r << 48) ^ i;
                uint64_t got = *(volatile uint64_t *)(void *)(mem + (size_t)r * slice + i);

                CHECK(got == want, "round %d slice %d offset %zu: %#" PRIx64 ", want %#" PRIx64,
                      round, r, i, got, want);
            }
        }
        CHECK_OK(dm_barrier());
    }
    dm_free(mem);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long page = sysconf(_SC_PAGESIZE);
    int rc = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "drf") && argc > 2) {
        g_seed = strtoull(argv[2], NULL, 0);
    }
    CHECK(page > 0, "sysconf(_SC_PAGESIZE)");
    g_page = (size_t)page;
    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    g_n = dm_nranks();

    if (!strcmp(mode, "alloc")) {
        run_alloc();
    } else if (!strcmp(mode, "counter")) {
        run_counter();
    } else if (!strcmp(mode, "prodcons")) {
        run_prodcons();
    } else if (!strcmp(mode, "pagewords")) {
        run_pagewords();
    } else if (!strcmp(mode, "drf")) {
        run_drf();
    } else if (!strcmp(mode, "threads")) {
        run_threads();
    } else if (!strcmp(mode, "firsttouch")) {
        run_firsttouch();
    } else if (!strcmp(mode, "bigdata")) {
        run_bigdata();
    } else if (!strcmp(mode, "segv")) {
        rc = run_segv(argc > 2 ? argv[2] : "");
        printf("dsm_check segv: rank %d ok\n", g_rank);
        return rc;
    } else if (!strcmp(mode, "kill")) {
        run_kill();
        dm_finalize(); /* a peer is gone: its verdict is not this test's */
        return 0;
    } else {
        fprintf(stderr, "usage: dsm_check alloc | counter | prodcons | pagewords | drf [SEED] |"
                        " threads | firsttouch | bigdata | segv below|above | kill\n");
        dm_finalize();
        return 2;
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_finalize());
    printf("dsm_check %s: rank %d ok\n", mode, g_rank);
    return 0;
}
