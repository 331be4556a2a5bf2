/*
 * The lock-free read of dram pages (store.c, "The lock-free read of a dram
 * page"): reads that take no lock while writes, migrations and evictions
 * change the pages and reuse their slots. Every 8-byte word of a page says
 * (page, version, word index), so a torn copy (two versions), a copy of the
 * wrong slot (another page, or a slot reused by another page) and a stale
 * copy (an older version) are each seen by the word that shows it.
 *
 *   hammer      a dram tier over nvme, with the worker; 3 readers read
 *               random pages of a hot set that fits in dram, 2 writers
 *               write them (each page one owner: its versions only grow),
 *               a mover prefetches the hot set to nvme and back and reads
 *               cold pages (evictions: dram slots change hands all the
 *               time). Each read: one whole version of the right page, at
 *               least the last write that returned before the read began
 *               and at most the last one started before it returned, never
 *               older than what the same thread read of it before; a
 *               writer reading its page back gets its own write. Twice:
 *               with a budget (engine migrations, the reader's own
 *               promotions, read-ahead) and in cache mode (synchronous
 *               moves and evictions). Afterwards every page holds its last
 *               write, dm_store_check is clean, and reads went lock-free
 *   exact       the hit counts stay exact with lock-free reads: tier 0's
 *               hits grow by one per read, no touch dropped when one thread
 *               reads alone
 *   recency     pages read lock-free are the ones a full dram keeps when
 *               new pages arrive: the policy is told of the reads
 *   read-ahead  a sequential reader through pages of dram (lock-free until
 *               the third in sequence) into pages of nvme: read-ahead is
 *               asked before it leaves dram, as when every read took the
 *               lock; random reads of the same pages stay lock-free
 * Expected verdict: all hold (exit 0). A store whose seqlock protocol is
 * broken (the second look at the word skipped, or a hide left out) fails
 * "hammer" within a second. Argument: seconds per hammer run (default 1.5).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_test.h"
#include "util.h"

#define PS       4096u
#define WORDS    (PS / 8)
#define DRAM_CAP 64u
#define NVME_CAP 640u
#define NPAGES   512u
#define HOT      40u   /* pages 0 .. HOT-1: read, written, moved */
#define COLD0    100u  /* pages COLD0 .. NPAGES-1: the mover's evictions */
#define NREAD    3u
#define NWRITE   2u

static char *g_dir;

/* ---- pages whose every word says what it is ---------------------------- */

static uint64_t word_of(uint64_t page, uint64_t ver, uint64_t i)
{
    return page << 40 | ver << 10 | i;
}

static void page_fill(void *buf, uint64_t page, uint64_t ver)
{
    uint64_t *w = buf;

    for (uint64_t i = 0; i < WORDS; i++) {
        w[i] = word_of(page, ver, i);
    }
}

/*
 * The version buf holds of page; exits with a message naming the first bad
 * word when it is not one whole version of page (version 0: zeros, never
 * written).
 */
static uint64_t page_version(const void *buf, uint64_t page, const char *what)
{
    const uint64_t *w = buf;
    uint64_t ver = (w[0] >> 10) & ((1ull << 30) - 1);

    if (w[0] == 0) {
        for (uint64_t i = 1; i < WORDS; i++) {
            CHECK(w[i] == 0, "%s: page %llu: word 0 is zero, word %llu is %#llx", what,
                  (unsigned long long)page, (unsigned long long)i, (unsigned long long)w[i]);
        }
        return 0;
    }
    for (uint64_t i = 0; i < WORDS; i++) {
        CHECK(w[i] == word_of(page, ver, i), "%s: page %llu: word %llu is %#llx (page %llu "
              "version %llu word %llu), word 0 says version %llu: torn or misplaced", what,
              (unsigned long long)page, (unsigned long long)i, (unsigned long long)w[i],
              (unsigned long long)(w[i] >> 40), (unsigned long long)((w[i] >> 10) &
                                                                     ((1ull << 30) - 1)),
              (unsigned long long)(w[i] & 1023), (unsigned long long)ver);
    }
    return ver;
}

/* ---- the store ---------------------------------------------------------- */

static dm_store_t *make(double budget_mbs, int worker)
{
    char path[4300];

    snprintf(path, sizeof(path), "%s/fastpath.nvme", g_dir);
    return store_make_dram_nvme(path, DRAM_CAP, NVME_CAP, NPAGES, budget_mbs, worker, 32);
}

/* ---- hammer ------------------------------------------------------------- */

typedef struct hammer {
    dm_store_t      *s;
    atomic_int       stop;
    _Atomic uint64_t done[NPAGES];    /* the last version whose write returned */
    _Atomic uint64_t started[NPAGES]; /* the last version whose write began */
    _Atomic uint64_t reads, writes, moves;
} hammer_t;

typedef struct thr {
    hammer_t *h;
    unsigned  k;
    uint64_t  seed;
} thr_t;

/* A read of page checked against the model; returns the version. */
static uint64_t read_checked(hammer_t *h, uint64_t page, void *buf, const char *what)
{
    uint64_t lo = atomic_load(&h->done[page]), hi, ver;

    CHECK_OK(dm_store_read(h->s, page, buf));
    hi = atomic_load(&h->started[page]);
    ver = page_version(buf, page, what);
    CHECK(ver >= lo && ver <= hi, "%s: page %llu: version %llu, the model allows %llu..%llu "
          "(stale or from the future)", what, (unsigned long long)page,
          (unsigned long long)ver, (unsigned long long)lo, (unsigned long long)hi);
    atomic_fetch_add(&h->reads, 1);
    return ver;
}

static void *reader_main(void *arg)
{
    thr_t *t = arg;
    uint64_t seen[HOT] = {0};
    char *buf = store_alloc(PS);

    while (!atomic_load(&t->h->stop)) {
        uint64_t p = store_rand(&t->seed) % HOT, ver;

        ver = read_checked(t->h, p, buf, "reader");
        CHECK(ver >= seen[p], "reader %u: page %llu: version %llu after %llu (went back)", t->k,
              (unsigned long long)p, (unsigned long long)ver, (unsigned long long)seen[p]);
        seen[p] = ver;
    }
    free(buf);
    return NULL;
}

/* Writer k owns the hot pages p with p % NWRITE == k. */
static void *writer_main(void *arg)
{
    thr_t *t = arg;
    char *buf = store_alloc(PS);

    while (!atomic_load(&t->h->stop)) {
        uint64_t p = store_rand(&t->seed) % HOT, v;

        p = p - p % NWRITE + t->k;
        if (p >= HOT) {
            continue;
        }
        v = atomic_load(&t->h->started[p]) + 1;
        page_fill(buf, p, v);
        atomic_store(&t->h->started[p], v);
        CHECK_OK(dm_store_write(t->h->s, p, buf));
        atomic_store(&t->h->done[p], v);
        atomic_fetch_add(&t->h->writes, 1);
        CHECK(read_checked(t->h, p, buf, "writer's read back") == v, "writer %u: page %llu: "
              "read back a version other than its own write %llu", t->k, (unsigned long long)p,
              (unsigned long long)v);
    }
    free(buf);
    return NULL;
}

/* Moves the hot set down and up (prefetch), and reads cold pages (evictions). */
static void *mover_main(void *arg)
{
    thr_t *t = arg;
    char *buf = store_alloc(PS);
    unsigned to = 1;

    while (!atomic_load(&t->h->stop)) {
        dm_status_t st = dm_store_prefetch(t->h->s, 0, HOT, to);

        CHECK(st == DM_OK || st == DM_ERR_BUSY, "prefetch: %s", dm_status_name(st));
        to = 1 - to;
        for (unsigned i = 0; i < 16; i++) {
            uint64_t p = COLD0 + store_rand(&t->seed) % (NPAGES - COLD0);

            (void)read_checked(t->h, p, buf, "mover");
        }
        atomic_fetch_add(&t->h->moves, 1);
        usleep(200);
    }
    free(buf);
    return NULL;
}

static void hammer(double budget_mbs, double seconds)
{
    hammer_t *h = calloc(1, sizeof(*h));
    thr_t t[NREAD + NWRITE + 1];
    pthread_t th[NREAD + NWRITE + 1];
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    unsigned n = 0;

    CHECK(h != NULL, "calloc");
    h->s = make(budget_mbs, 1);
    for (uint64_t p = 0; p < NPAGES; p++) { /* the hot set first: it starts in dram */
        page_fill(buf, p, 1);
        CHECK_OK(dm_store_write(h->s, p, buf));
        atomic_store(&h->started[p], 1);
        atomic_store(&h->done[p], 1);
    }
    dm_store_stats(h->s, &a);
    for (unsigned k = 0; k < NREAD + NWRITE + 1; k++) {
        void *(*fn)(void *) = k < NREAD ? reader_main : k < NREAD + NWRITE ? writer_main
                                                                          : mover_main;

        t[k] = (thr_t){ .h = h, .k = k < NREAD ? k : k - NREAD,
                        .seed = 0x9e3779b97f4a7c15ull * (k + 11) };
        CHECK(pthread_create(&th[k], NULL, fn, &t[k]) == 0, "pthread_create");
        n++;
    }
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&h->stop, 1);
    for (unsigned k = 0; k < n; k++) {
        pthread_join(th[k], NULL);
    }
    store_settle(h->s);
    dm_store_stats(h->s, &b);
    for (uint64_t p = 0; p < NPAGES; p++) {
        uint64_t v;

        CHECK_OK(dm_store_read(h->s, p, buf));
        v = page_version(buf, p, "afterwards");
        CHECK(v == atomic_load(&h->done[p]), "page %llu holds version %llu, its last write was "
              "%llu", (unsigned long long)p, (unsigned long long)v,
              (unsigned long long)atomic_load(&h->done[p]));
    }
    CHECK_OK(dm_store_check(h->s));
    printf("hammer (%s): %llu reads (%llu lock-free, %llu touches dropped), %llu writes, "
           "%llu mover rounds, moved dram->nvme %llu, nvme->dram %llu pages, %llu stale: ok\n",
           budget_mbs > 0 ? "budget" : "cache mode", (unsigned long long)atomic_load(&h->reads),
           (unsigned long long)(b.fast_reads - a.fast_reads),
           (unsigned long long)(b.touches_dropped - a.touches_dropped),
           (unsigned long long)atomic_load(&h->writes), (unsigned long long)atomic_load(&h->moves),
           (unsigned long long)((b.bytes_moved[0][1] - a.bytes_moved[0][1]) / PS +
                                (b.clean_drops - a.clean_drops)),
           (unsigned long long)((b.bytes_moved[1][0] - a.bytes_moved[1][0]) / PS),
           (unsigned long long)(b.stale - a.stale));
    CHECK(b.fast_reads > a.fast_reads, "no read went lock-free");
    CHECK(b.bytes_moved[1][0] > a.bytes_moved[1][0] &&
          b.bytes_moved[0][1] + b.clean_drops > a.bytes_moved[0][1] + a.clean_drops,
          "no page moved between the tiers");
    dm_store_destroy(h->s);
    free(buf);
    free(h);
}

/* Writes version 1 of pages first .. first+n-1, in that order. */
static void write_v1(dm_store_t *s, char *buf, uint64_t first, uint64_t n)
{
    for (uint64_t p = first; p < first + n; p++) {
        page_fill(buf, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
    }
}

/* ---- exact counts ------------------------------------------------------- */

static void exact(void)
{
    dm_store_t *s = make(0, 0);
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    uint64_t seed = 5, reads = 0;

    write_v1(s, buf, 0, HOT);
    for (uint64_t p = 0; p < HOT; p++) {
        CHECK(dm_store_page_tier(s, p) == 0, "page %llu not in dram", (unsigned long long)p);
    }
    dm_store_stats(s, &a);
    for (int i = 0; i < 20000; i++) {
        uint64_t p = store_rand(&seed) % HOT;

        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(page_version(buf, p, "exact") == 1, "page %llu: wrong version",
              (unsigned long long)p);
        reads++;
    }
    dm_store_stats(s, &b);
    printf("exact: %llu reads, tier 0 hits +%llu, lock-free %llu, touches dropped %llu: ok\n",
           (unsigned long long)reads, (unsigned long long)(b.tier[0].hits - a.tier[0].hits),
           (unsigned long long)(b.fast_reads - a.fast_reads),
           (unsigned long long)(b.touches_dropped - a.touches_dropped));
    CHECK(b.tier[0].hits - a.tier[0].hits == reads, "hits not exact");
    CHECK(b.tier[0].misses == a.tier[0].misses, "misses counted for tier 0 hits");
    CHECK(b.fast_reads - a.fast_reads + HOT >= reads, "reads took the lock (%llu lock-free)",
          (unsigned long long)(b.fast_reads - a.fast_reads));
    CHECK(b.touches_dropped == 0, "touches dropped with one reader and no contention");
    CHECK_OK(dm_store_check(s));
    dm_store_destroy(s);
    free(buf);
}

/* ---- the policy sees lock-free reads ------------------------------------ */

/*
 * dram full of pages 0 .. DRAM_CAP-1 written in that order; the older half
 * is then read, mostly lock-free, and at once half a dram of new pages
 * arrives. The policy hears of the reads (queued touches) before it chooses
 * a victim, however soon that comes, so the pages evicted are the unread
 * ones. Without the touches, or with a decision that does not wait for
 * them (touches applied only every TOUCH_DELAY_NS), pages just read are
 * evicted (22 and 31 of 32 kept).
 */
static void recency(void)
{
    dm_store_t *s = make(0, 0);
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    unsigned kept = 0;

    write_v1(s, buf, 0, DRAM_CAP);
    dm_store_stats(s, &a);
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < DRAM_CAP / 2; i++) {
            /* stride 7: never two pages in sequence (read-ahead's locked path) */
            CHECK_OK(dm_store_read(s, i * 7 % (DRAM_CAP / 2), buf));
        }
    }
    dm_store_stats(s, &b);
    /* the first round takes back the pages chosen as victims (locked) */
    CHECK(b.fast_reads - a.fast_reads >= DRAM_CAP / 2, "reads took the lock (%llu lock-free)",
          (unsigned long long)(b.fast_reads - a.fast_reads));
    write_v1(s, buf, COLD0, DRAM_CAP / 2);
    for (uint64_t p = 0; p < DRAM_CAP / 2; p++) {
        kept += dm_store_page_tier(s, p) == 0;
    }
    printf("recency: %u of the %u pages read lock-free still in dram after %u new pages\n",
           kept, DRAM_CAP / 2, DRAM_CAP / 2);
    CHECK(kept == DRAM_CAP / 2, "the policy evicted pages it was told were read");
    CHECK_OK(dm_store_check(s));
    dm_store_destroy(s);
    free(buf);
}

/* ---- read-ahead ---------------------------------------------------------- */

static void readahead(void)
{
    dm_store_t *s = make(1000, 0);
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b, c;
    uint64_t seed = 9, first = NPAGES, last = 0, now = 1;

    /* the first DRAM_CAP pages land in dram; the engine then demotes the
     * policy's victims (above its target), the first ones written */
    for (uint64_t p = 0; p < NPAGES; p++) {
        page_fill(buf, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
    }
    for (int i = 0; dm_store_progress(s, now, 0) != DM_OK; i++) {
        CHECK(i < 200000, "the engine did not drain");
        now += 1000000;
        usleep(50); /* the nvme tier's I/O completes in real time */
    }
    for (uint64_t p = 0; p < NPAGES; p++) {
        if (dm_store_page_tier(s, p) == 0) {
            first = DM_MIN(first, p);
            last = DM_MAX(last, p);
        }
    }
    CHECK(last >= first + 16 && dm_store_page_tier(s, last + 1) == 1,
          "dram holds pages %llu..%llu", (unsigned long long)first, (unsigned long long)last);
    for (uint64_t p = first; p <= last; p++) {
        CHECK(dm_store_page_tier(s, p) == 0, "dram holds pages %llu..%llu, but not %llu",
              (unsigned long long)first, (unsigned long long)last, (unsigned long long)p);
    }
    for (int i = 0; i < 200; i++) { /* random reads: lock-free after the first of each page */
        uint64_t p = first + store_rand(&seed) % (last + 1 - first);

        CHECK_OK(dm_store_read(s, p, buf));
    }
    dm_store_stats(s, &a);
    for (int i = 0; i < 200; i++) {
        uint64_t p = first + store_rand(&seed) % (last + 1 - first);

        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(page_version(buf, p, "random") == 1, "page %llu: wrong version",
              (unsigned long long)p);
    }
    dm_store_stats(s, &b);
    CHECK(b.fast_reads - a.fast_reads >= 190, "random reads of dram pages took the lock "
          "(%llu of 200 lock-free)", (unsigned long long)(b.fast_reads - a.fast_reads));
    for (uint64_t p = last - 15; p <= last; p++) { /* a stream, in dram to the end */
        CHECK_OK(dm_store_read(s, p, buf));
    }
    dm_store_stats(s, &c);
    printf("read-ahead: random reads of dram %llu of 200 lock-free; a stream through the last "
           "16 dram pages asked %llu pages ahead\n",
           (unsigned long long)(b.fast_reads - a.fast_reads),
           (unsigned long long)(c.readahead - b.readahead));
    CHECK(c.readahead > b.readahead, "a sequential reader in dram got no read-ahead");
    CHECK_OK(dm_store_check(s));
    dm_store_destroy(s);
    free(buf);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.5;
    int fds0 = store_fd_count();

    g_dir = store_scratch_dir("fastpath");
    exact();
    recency();
    readahead();
    hammer(200, seconds);
    hammer(0, seconds);
    store_rm_rf(g_dir);
    free(g_dir);
    CHECK(store_fd_count() == fds0, "descriptors left open: %d, were %d", store_fd_count(), fds0);
    printf("fastpath: ok\n");
    return 0;
}
