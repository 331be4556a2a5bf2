/*
 * The store and its tiers under several threads at once, every byte checked
 * against a model (no wall-clock assertion; the store's worker runs the
 * engine on the real clock, so migrations run all the time).
 *
 *   tier runs     nvme and dram handles used by 4 threads at once: runs of
 *                 1..16 slots written and read with submit/poll (a poller
 *                 gets other threads' completions too), synchronous reads
 *                 and writes beside them; every slot holds what its thread
 *                 wrote, slots never written read as zeros inside a run;
 *                 nothing is left in flight
 *   disjoint      6 threads over a store 8x its dram tier, migrations
 *                 running (worker, budget, prefetches, scans): each page
 *                 written by one owner, read by everyone (sequential runs
 *                 too, so read-ahead runs); a reader sees, in every word,
 *                 a generation between the last write that returned before
 *                 its read and the last one started before it returned;
 *                 afterwards every page holds its owner's last write
 *   overlapping   6 threads write a hot set of 32 pages at once: each page
 *                 then holds one whole write (never a mix), one that was not
 *                 followed by a write started after it returned
 *                 (then the same, shorter, with a tier that is not concurrent
 *                 and whose runs the store does not use: dram over pfs; gpu
 *                 over nvme, skipped without a GPU)
 *   read-ahead    a sequential reader while another thread writes the pages
 *                 ahead of it (in its read-ahead window): no write lost,
 *                 every read within its model bounds; read-ahead asked and
 *                 the engine ran it; then, without a worker, a write to a
 *                 page whose read-ahead read is in flight: the migration is
 *                 dropped as stale and the new data is what reads return
 * Expected verdict: all hold (exit 0), dm_store_check clean after each
 * part; teardown leaves no descriptor open.
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

#define PS      4096u
#define WORDS   (PS / 8)
#define NTHR    6u

static char *g_dir;

/* ---- pages that say which write they are ----------------------------- */

/* Word 0 is the generation, the others depend on (page, gen, i). gen 0: zeros. */
static void page_fill(void *buf, uint64_t page, uint64_t gen)
{
    uint64_t *w = buf;

    w[0] = gen;
    for (size_t i = 1; i < WORDS; i++) {
        w[i] = gen ? store_word(page, gen, i) : 0;
    }
}

/* The generation buf holds for page, or -1 when it is not one whole write. */
static int64_t page_gen(const void *buf, uint64_t page)
{
    const uint64_t *w = buf;

    for (size_t i = 1; i < WORDS; i++) {
        if (w[i] != (w[0] ? store_word(page, w[0], i) : 0)) {
            return -1;
        }
    }
    return (int64_t)w[0];
}

/* 1 when every word of buf belongs to a generation in [lo, hi] of page. */
static int page_within(const void *buf, uint64_t page, uint64_t lo, uint64_t hi)
{
    const uint64_t *w = buf;

    if (w[0] < lo || w[0] > hi) {
        return 0;
    }
    for (size_t i = 1; i < WORDS; i++) {
        uint64_t g = lo;

        while (g <= hi && w[i] != (g ? store_word(page, g, i) : 0)) {
            g++;
        }
        if (g > hi) {
            return 0;
        }
    }
    return 1;
}

/* ---- tier runs --------------------------------------------------------- */

#define TSLOTS 1024u
#define TQD    64u

typedef struct tio {
    dm_store_io_t io;
    atomic_int    done;
} tio_t;

typedef struct tier_arg {
    dm_store_tier_t *tier;
    unsigned         k;
    uint64_t         seed;
} tier_arg_t;

/* Polls until io is done; completions of other threads are marked for them. */
static void tio_wait(dm_store_tier_t *t, tio_t *mine)
{
    while (!atomic_load(&mine->done)) {
        dm_store_io_t *done[8];
        unsigned n = 0;

        CHECK_OK(dm_store_tier_poll(t, 0, done, 8, &n));
        for (unsigned i = 0; i < n; i++) {
            tio_t *x = done[i]->arg;

            CHECK(done[i]->status == DM_OK, "io of slot %llu: %s",
                  (unsigned long long)done[i]->slot, dm_status_name(done[i]->status));
            atomic_store(&x->done, 1);
        }
        if (n == 0) {
            sched_yield();
        }
    }
}

static void tio_run(dm_store_tier_t *t, tio_t *x, dm_store_op_t op, uint64_t slot, uint32_t n,
                    void *buf)
{
    memset(&x->io, 0, sizeof(x->io));
    x->io.op = op;
    x->io.slot = slot;
    x->io.npages = n;
    x->io.buf = buf;
    x->io.arg = x;
    atomic_store(&x->done, 0);
    for (;;) {
        dm_status_t st = dm_store_tier_submit(t, &x->io);

        if (st == DM_OK) {
            break;
        }
        CHECK(st == DM_ERR_BUSY, "submit: %s: %s", dm_status_name(st), dm_last_error());
        sched_yield();
    }
    tio_wait(t, x);
}

/* Thread k owns slots [k * 256, k * 256 + 256): the last 32 never written. */
static void *tier_main(void *p)
{
    tier_arg_t *a = p;
    uint64_t base = a->k * (TSLOTS / 4), gen[TSLOTS / 4] = {0}, seed = a->seed;
    char *buf = store_alloc(16 * PS);
    tio_t x;

    for (int round = 1; round <= 3; round++) {
        for (uint64_t s = 0; s < 224;) { /* runs of 1..16 slots, or single sync writes */
            uint64_t want = 1 + store_rand(&seed) % 16; /* not inside DM_MIN: evaluated twice */
            uint32_t n = (uint32_t)DM_MIN(want, 224 - s);

            for (uint32_t i = 0; i < n; i++) {
                gen[s + i] = (uint64_t)round * 10 + a->k;
                page_fill(buf + (size_t)i * PS, base + s + i, gen[s + i]);
            }
            if (store_rand(&seed) % 4 == 0) {
                for (uint32_t i = 0; i < n; i++) {
                    CHECK_OK(dm_store_tier_write(a->tier, base + s + i, buf + (size_t)i * PS));
                }
            } else {
                tio_run(a->tier, &x, DM_STORE_OP_WRITE, base + s, n, buf);
            }
            s += n;
        }
        for (uint64_t s = 0; s < 256;) { /* read back: runs across the unwritten end too */
            uint64_t want = 1 + store_rand(&seed) % 16;
            uint32_t n = (uint32_t)DM_MIN(want, 256 - s);

            memset(buf, 0xee, 16 * PS);
            if (store_rand(&seed) % 4 == 0) {
                for (uint32_t i = 0; i < n; i++) {
                    CHECK_OK(dm_store_tier_read(a->tier, base + s + i, buf + (size_t)i * PS));
                }
            } else {
                tio_run(a->tier, &x, DM_STORE_OP_READ, base + s, n, buf);
            }
            for (uint32_t i = 0; i < n; i++) {
                int64_t g = page_gen(buf + (size_t)i * PS, base + s + i);

                CHECK(g == (int64_t)gen[s + i], "thread %u slot %llu holds gen %lld, want %llu",
                      a->k, (unsigned long long)(base + s + i), (long long)g,
                      (unsigned long long)gen[s + i]);
            }
            s += n;
        }
    }
    free(buf);
    return NULL;
}

static void tier_runs(dm_store_kind_t kind)
{
    char path[4300];
    dm_store_tier_params_t tp = { .kind = kind, .capacity = TSLOTS,
                                  .field_mask = DM_STORE_PARAM_QUEUE_DEPTH,
                                  .queue_depth = TQD };
    dm_store_tier_t *t;
    dm_store_tier_info_t info;
    tier_arg_t a[4];
    pthread_t th[4];

    if (kind == DM_STORE_KIND_NVME) {
        snprintf(path, sizeof(path), "%s/runs.dat", g_dir);
        tp.path = path;
        tp.field_mask |= DM_STORE_PARAM_PATH;
    }
    CHECK_OK(dm_store_tier_create(&tp, &t));
    dm_store_tier_query(t, &info);
    CHECK(info.concurrent && info.max_io_pages >= 16, "%s: concurrent %d, runs of %u",
          dm_store_kind_name(kind), info.concurrent, info.max_io_pages);
    {
        dm_store_io_t io = { .op = DM_STORE_OP_READ, .slot = TSLOTS - 2, .npages = 4 };
        char *b = store_alloc(4 * PS);

        io.buf = b;
        CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM); /* past capacity */
        io.slot = 0;
        io.npages = info.max_io_pages + 1;
        CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM); /* too long */
        free(b);
    }
    for (unsigned k = 0; k < 4; k++) {
        a[k] = (tier_arg_t){ .tier = t, .k = k, .seed = 0x9e3779b97f4a7c15ull * (k + 1) };
        CHECK(pthread_create(&th[k], NULL, tier_main, &a[k]) == 0, "pthread_create");
    }
    for (unsigned k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
    }
    dm_store_tier_query(t, &info);
    CHECK(info.in_flight == 0 && info.used == 4 * 224, "in flight %u, used %llu",
          info.in_flight, (unsigned long long)info.used);
    dm_store_tier_destroy(t);
    printf("tier runs (%s): 4 threads, runs of 1..16 slots: ok\n", dm_store_kind_name(kind));
}

/* ---- a store under threads -------------------------------------------- */

#define DRAM_CAP 128u
#define NVME_CAP 1100u
#define NPAGES   1024u

/* upper (dram, or gpu) over lower (nvme, or pfs); pfs and gpu are tiers
 * that are not concurrent, and the store uses runs of neither. NULL when
 * upper cannot be made. */
static dm_store_t *make_kinds(dm_store_kind_t upper, dm_store_kind_t lower, int worker,
                              double budget_mbs)
{
    char path[4300];
    dm_store_tier_params_t tiers[2];
    dm_store_params_t p;
    dm_store_t *s;
    dm_status_t st;

    memset(tiers, 0, sizeof(tiers));
    tiers[0].kind = upper;
    tiers[0].capacity = DRAM_CAP;
    snprintf(path, sizeof(path), "%s/store.%s", g_dir, dm_store_kind_name(lower));
    tiers[1].kind = lower;
    tiers[1].capacity = NVME_CAP;
    tiers[1].path = path;
    tiers[1].field_mask = DM_STORE_PARAM_PATH;
    memset(&p, 0, sizeof(p));
    p.tiers = tiers;
    p.ntiers = 2;
    p.npages = NPAGES;
    p.budget_mbs = budget_mbs;
    p.worker = worker;
    p.max_in_flight = 32;
    p.field_mask = DM_STORE_OPT_BUDGET | DM_STORE_OPT_WORKER | DM_STORE_OPT_MAX_IN_FLIGHT;
    st = dm_store_create(&p, &s);
    if (st == DM_ERR_UNSUPPORTED && upper == DM_STORE_KIND_GPU) {
        printf("SKIP part: a gpu tier over nvme: %s\n", dm_last_error());
        return NULL;
    }
    CHECK_OK(st);
    return s;
}

static dm_store_t *make(int worker, double budget_mbs)
{
    return make_kinds(DM_STORE_KIND_DRAM, DM_STORE_KIND_NVME, worker, budget_mbs);
}

/* The model of one page: its owner's last write that returned, and the last
 * one started. A read between them sees, in each word, one in [done, started]. */
typedef struct model {
    _Atomic uint64_t done[NPAGES];
    _Atomic uint64_t started[NPAGES];
} model_t;

static model_t g_m;

static void read_checked(dm_store_t *s, uint64_t p, char *buf, const char *what)
{
    uint64_t lo = atomic_load(&g_m.done[p]), hi;

    CHECK_OK(dm_store_read(s, p, buf));
    hi = atomic_load(&g_m.started[p]);
    CHECK(page_within(buf, p, lo, hi), "%s: page %llu: word 0 says gen %llu, the model allows "
          "%llu..%llu (whole: %lld)", what, (unsigned long long)p,
          (unsigned long long)((uint64_t *)buf)[0], (unsigned long long)lo,
          (unsigned long long)hi, (long long)page_gen(buf, p));
}

static void write_owned(dm_store_t *s, uint64_t p, char *buf)
{
    uint64_t g = atomic_load(&g_m.started[p]) + 1;

    page_fill(buf, p, g);
    atomic_store(&g_m.started[p], g);
    CHECK_OK(dm_store_write(s, p, buf));
    atomic_store(&g_m.done[p], g);
}

static void verify_model(dm_store_t *s, const char *what)
{
    char *buf = store_alloc(PS);

    for (uint64_t p = 0; p < NPAGES; p++) {
        int64_t g;

        CHECK_OK(dm_store_read(s, p, buf));
        g = page_gen(buf, p);
        CHECK(g >= 0 && (uint64_t)g == atomic_load(&g_m.done[p]), "%s: page %llu holds gen %lld,"
              " want %llu", what, (unsigned long long)p, (long long)g,
              (unsigned long long)atomic_load(&g_m.done[p]));
    }
    free(buf);
    CHECK_OK(dm_store_check(s));
}

typedef struct thr {
    dm_store_t *s;
    unsigned    k;
    uint64_t    seed;
    unsigned    ops;
    /* overlapping: this thread's writes */
    uint64_t   *wpage, *wgen, *wt0, *wt1;
    unsigned    nw;
} thr_t;

static void *disjoint_main(void *arg)
{
    thr_t *t = arg;
    char *buf = store_alloc(PS);

    for (unsigned i = 0; i < t->ops; i++) {
        unsigned r = (unsigned)(store_rand(&t->seed) % 100);
        uint64_t p = store_rand(&t->seed) % NPAGES;

        if (r < 55) {
            read_checked(t->s, p, buf, "random read");
        } else if (r < 80) {
            p = p - p % NTHR + t->k; /* an own page */
            if (p < NPAGES) {
                write_owned(t->s, p, buf);
            }
        } else if (r < 95) {
            for (uint64_t q = p; q < DM_MIN(NPAGES, p + 40); q++) { /* read-ahead */
                read_checked(t->s, q, buf, "sequential read");
            }
        } else if (r < 99) {
            dm_status_t st = dm_store_prefetch(t->s, p, DM_MIN(16, NPAGES - p),
                                               (unsigned)(store_rand(&t->seed) % 2));

            CHECK(st == DM_OK || st == DM_ERR_BUSY, "prefetch: %s", dm_status_name(st));
        } else {
            CHECK_OK(dm_store_scan(t->s));
        }
    }
    free(buf);
    return NULL;
}

static void run_threads(void *(*fn)(void *), thr_t *t, unsigned n)
{
    pthread_t th[NTHR];

    for (unsigned k = 0; k < n; k++) {
        CHECK(pthread_create(&th[k], NULL, fn, &t[k]) == 0, "pthread_create");
    }
    for (unsigned k = 0; k < n; k++) {
        pthread_join(th[k], NULL);
    }
}

static void disjoint(dm_store_t *s, unsigned ops)
{
    thr_t t[NTHR];
    char *buf = store_alloc(PS);
    dm_store_stats_t st;

    for (uint64_t p = 0; p < NPAGES; p++) {
        write_owned(s, p, buf);
    }
    for (unsigned k = 0; k < NTHR; k++) {
        t[k] = (thr_t){ .s = s, .k = k, .seed = 0x2545f4914f6cdd1dull * (k + 7), .ops = ops };
    }
    run_threads(disjoint_main, t, NTHR);
    store_settle(s);
    verify_model(s, "disjoint");
    dm_store_stats(s, &st);
    printf("disjoint: %u threads x %u ops: migrations done demand %llu (%llu by readers) "
           "pressure %llu hint %llu scan %llu, stale %llu, read-ahead %llu pages: ok\n", NTHR,
           t[0].ops, (unsigned long long)st.done[DM_MIGRATE_DEMAND],
           (unsigned long long)st.reader_moves, (unsigned long long)st.done[DM_MIGRATE_PRESSURE],
           (unsigned long long)st.done[DM_MIGRATE_HINT],
           (unsigned long long)st.done[DM_MIGRATE_SCAN], (unsigned long long)st.stale,
           (unsigned long long)st.readahead);
    CHECK(st.done[DM_MIGRATE_PRESSURE] > 0 && st.done[DM_MIGRATE_DEMAND] > 0,
          "no migrations ran");
    free(buf);
}

/* ---- overlapping writers ---------------------------------------------- */

#define HOT    32u
#define OWRITES 400u

static void *overlap_main(void *arg)
{
    thr_t *t = arg;
    char *buf = store_alloc(PS);

    for (unsigned i = 0; i < OWRITES; i++) {
        uint64_t p = 500 + store_rand(&t->seed) % HOT;
        uint64_t g = 1000000ull + (uint64_t)i * NTHR + t->k; /* unique */

        page_fill(buf, p, g);
        t->wpage[i] = p;
        t->wgen[i] = g;
        t->wt0[i] = dm_time_ns();
        CHECK_OK(dm_store_write(t->s, p, buf));
        t->wt1[i] = dm_time_ns();
        if (i % 4 == 0) { /* a read among the writes: a whole page or a mix, never garbage */
            CHECK_OK(dm_store_read(t->s, 500 + store_rand(&t->seed) % HOT, buf));
        }
    }
    t->nw = OWRITES;
    free(buf);
    return NULL;
}

static void overlapping(dm_store_t *s)
{
    thr_t t[NTHR];
    char *buf = store_alloc(PS);

    for (unsigned k = 0; k < NTHR; k++) {
        t[k] = (thr_t){ .s = s, .k = k, .seed = 0x94d049bb133111ebull * (k + 3) };
        t[k].wpage = calloc(OWRITES, sizeof(uint64_t));
        t[k].wgen = calloc(OWRITES, sizeof(uint64_t));
        t[k].wt0 = calloc(OWRITES, sizeof(uint64_t));
        t[k].wt1 = calloc(OWRITES, sizeof(uint64_t));
        CHECK(t[k].wpage && t[k].wgen && t[k].wt0 && t[k].wt1, "calloc");
    }
    run_threads(overlap_main, t, NTHR);
    store_settle(s);
    for (uint64_t p = 500; p < 500 + HOT; p++) {
        int64_t g;
        uint64_t end = 0, last_start = 0;
        int found = 0;

        CHECK_OK(dm_store_read(s, p, buf));
        g = page_gen(buf, p);
        CHECK(g > 0, "page %llu holds a mix of writes", (unsigned long long)p);
        for (unsigned k = 0; k < NTHR; k++) {
            for (unsigned i = 0; i < t[k].nw; i++) {
                if (t[k].wpage[i] != p) {
                    continue;
                }
                last_start = DM_MAX(last_start, t[k].wt0[i]);
                if (t[k].wgen[i] == (uint64_t)g) {
                    found = 1;
                    end = t[k].wt1[i];
                }
            }
        }
        CHECK(found, "page %llu holds gen %lld, which nobody wrote there", (unsigned long long)p,
              (long long)g);
        CHECK(last_start <= end, "page %llu holds gen %lld, whose write returned before another "
              "write of it started (lost write)", (unsigned long long)p, (long long)g);
        atomic_store(&g_m.done[p], (uint64_t)g);
        atomic_store(&g_m.started[p], (uint64_t)g);
    }
    verify_model(s, "overlapping");
    for (unsigned k = 0; k < NTHR; k++) {
        free(t[k].wpage);
        free(t[k].wgen);
        free(t[k].wt0);
        free(t[k].wt1);
    }
    free(buf);
    printf("overlapping: %u threads x %u writes of %u pages: each holds one whole write, the "
           "last: ok\n", NTHR, OWRITES, HOT);
}

/* ---- read-ahead ------------------------------------------------------- */

typedef struct ra_arg {
    dm_store_t      *s;
    _Atomic uint64_t pos; /* the page the reader reads now */
} ra_arg_t;

static void *ra_reader_main(void *arg)
{
    ra_arg_t *a = arg;
    char *buf = store_alloc(PS);

    for (uint64_t p = 0; p < NPAGES; p++) {
        atomic_store(&a->pos, p);
        read_checked(a->s, p, buf, "read-ahead reader");
    }
    atomic_store(&a->pos, NPAGES);
    free(buf);
    return NULL;
}

/* Writes pages 2..11 ahead of the reader: inside its read-ahead window. */
static void *ra_writer_main(void *arg)
{
    ra_arg_t *a = arg;
    char *buf = store_alloc(PS);
    uint64_t seed = 77, p;

    while ((p = atomic_load(&a->pos)) + 12 < NPAGES) {
        write_owned(a->s, p + 2 + store_rand(&seed) % 10, buf);
        usleep(20);
    }
    free(buf);
    return NULL;
}

static void readahead_live(dm_store_t *s)
{
    ra_arg_t a = { .s = s };
    pthread_t th[2];
    dm_store_stats_t st0, st1;

    dm_store_stats(s, &st0);
    CHECK(pthread_create(&th[0], NULL, ra_reader_main, &a) == 0, "pthread_create");
    CHECK(pthread_create(&th[1], NULL, ra_writer_main, &a) == 0, "pthread_create");
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    store_settle(s);
    verify_model(s, "read-ahead with writes");
    dm_store_stats(s, &st1);
    printf("read-ahead (live): %llu pages asked, %llu hint migrations done, %llu stale: ok\n",
           (unsigned long long)(st1.readahead - st0.readahead),
           (unsigned long long)(st1.done[DM_MIGRATE_HINT] - st0.done[DM_MIGRATE_HINT]),
           (unsigned long long)(st1.stale - st0.stale));
    CHECK(st1.readahead > st0.readahead && st1.done[DM_MIGRATE_HINT] > st0.done[DM_MIGRATE_HINT],
          "a sequential reader got no read-ahead");
}

/* Steps the engine (no worker) until nothing is queued or in flight. */
static void drain(dm_store_t *s, uint64_t *now)
{
    for (long i = 0; i < 1000000; i++) {
        if (dm_store_progress(s, *now, 0) == DM_OK) {
            return;
        }
        *now += 100000;
        if (i % 64 == 63) {
            usleep(50);
        }
    }
    CHECK(0, "the engine did not drain");
}

/* The first of n consecutive pages that all live in tier t. */
static uint64_t find_run(dm_store_t *s, int t, unsigned n)
{
    for (uint64_t p = 0; p + n <= NPAGES; p++) {
        uint64_t q = p;

        while (q < p + n && dm_store_page_tier(s, q) == t) {
            q++;
        }
        if (q == p + n) {
            return p;
        }
        p = q;
    }
    CHECK(0, "no %u consecutive pages in tier %d", n, t);
    return 0;
}

/*
 * Without a worker: three reads in sequence ask read-ahead of the pages
 * after them and start it (one run read from nvme, in flight, reaped by
 * nobody yet); then a write of a page in the window: it waits for the read,
 * marks the migration stale and writes the page where it lives. Reads
 * return the new data, the others arrived in dram intact.
 */
static void readahead_stale(void)
{
    dm_store_t *s = make(0, 1000);
    char *buf = store_alloc(PS);
    dm_store_stats_t a, b;
    uint64_t now = 1, p0;

    memset(&g_m, 0, sizeof(g_m));
    for (uint64_t p = 0; p < NPAGES; p++) {
        write_owned(s, p, buf);
    }
    drain(s, &now);
    p0 = find_run(s, 1, 16);
    for (uint64_t p = p0; p < p0 + 3; p++) {
        read_checked(s, p, buf, "sequence");
    }
    dm_store_stats(s, &a);
    CHECK(a.readahead > 0 && a.in_flight > 0, "three reads in sequence started no read-ahead "
          "(%llu asked, %llu queued, %llu in flight)", (unsigned long long)a.readahead,
          (unsigned long long)a.queued, (unsigned long long)a.in_flight);
    write_owned(s, p0 + 5, buf);
    drain(s, &now);
    dm_store_stats(s, &b);
    read_checked(s, p0 + 5, buf, "written during its read-ahead");
    CHECK(page_gen(buf, p0 + 5) == (int64_t)atomic_load(&g_m.done[p0 + 5]), "lost write");
    printf("read-ahead (stepped): %llu pages asked after 3 reads in sequence; a write during "
           "their read: %llu stale, %llu done: ok\n", (unsigned long long)a.readahead,
           (unsigned long long)(b.stale - a.stale),
           (unsigned long long)(b.done[DM_MIGRATE_HINT] - a.done[DM_MIGRATE_HINT]));
    CHECK(b.stale > a.stale, "the write did not make the read-ahead of its page stale");
    for (uint64_t p = p0 + 3; p < p0 + 3 + a.readahead && p < NPAGES; p++) {
        if (p != p0 + 5) {
            CHECK(dm_store_page_tier(s, p) == 0, "read-ahead page %llu not in dram",
                  (unsigned long long)p);
        }
    }
    verify_model(s, "read-ahead stepped");
    dm_store_destroy(s);
    free(buf);
}

int main(void)
{
    int fds0 = store_fd_count();
    dm_store_t *s;

    g_dir = store_scratch_dir("concurrent");
    tier_runs(DM_STORE_KIND_NVME);
    tier_runs(DM_STORE_KIND_DRAM);

    s = make(1, 500);
    disjoint(s, 3000);
    overlapping(s);
    readahead_live(s);
    dm_store_destroy(s);

    /* over and under a tier that is not concurrent (the store serializes
     * its calls): dram over pfs, gpu over nvme (skipped without a GPU) */
    memset(&g_m, 0, sizeof(g_m));
    s = make_kinds(DM_STORE_KIND_DRAM, DM_STORE_KIND_PFS, 1, 500);
    disjoint(s, 1000);
    overlapping(s);
    dm_store_destroy(s);
    memset(&g_m, 0, sizeof(g_m));
    s = make_kinds(DM_STORE_KIND_GPU, DM_STORE_KIND_NVME, 1, 500);
    if (s != NULL) {
        disjoint(s, 1000);
        overlapping(s);
        readahead_live(s);
        dm_store_destroy(s);
        /* the CUDA runtime keeps the descriptors it opened: count from here,
         * and check that a second gpu store leaves none behind */
        fds0 = store_fd_count();
        dm_store_destroy(make_kinds(DM_STORE_KIND_GPU, DM_STORE_KIND_NVME, 1, 500));
        CHECK(store_fd_count() == fds0, "a gpu store left descriptors: %d, then %d", fds0,
              store_fd_count());
    }

    readahead_stale();

    store_rm_rf(g_dir);
    free(g_dir);
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("concurrent: ok\n");
    return 0;
}
