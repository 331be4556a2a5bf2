/*
 * The tier contract, checked the same way on every backend:
 *   test_tier dram | nvme | pfs coherent|readcache|writecache | gpu
 *
 * - a slot never written reads as zeros; query says what the tier is;
 * - every slot written in order reads back (round trip of the whole tier);
 * - random reads and writes against a model of what each slot holds;
 * - asynchronous writes and reads with queue_depth in flight, DM_ERR_BUSY
 *   beyond it, completions in any order, each with its own status;
 * - a synchronous write, then at once an asynchronous read of the same slot:
 *   the read returns what the write wrote (write's DM_OK means "in the tier",
 *   also for operations on the gpu tier's own stream);
 * - the same through registered memory (io_uring fixed buffers on nvme);
 * - runs, where the tier takes them (max_io_pages > 1: dram, nvme, gpu):
 *   operations of 1..64 consecutive slots (up to max_io_pages) written and
 *   read with the queue full, synchronous reads and writes of other slots
 *   between them, discarded slots inside read runs reading as zeros, every
 *   page checked; a run longer than max_io_pages or past the end refused;
 * - wrong calls: slot >= capacity, NULL or misaligned buffers (O_DIRECT),
 *   NULL io, unknown op: DM_ERR_INVALID_PARAM, nothing happens, no crash;
 * - discard: used drops, the slot reads as zeros;
 * - destroy with operations in flight: they come back DM_ERR_CANCELED;
 * - teardown: no descriptor left open, the scratch files are gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_test.h"

#define CAPACITY 2048u
#define QD       32u
#define RANDOM_OPS 20000u

static dm_store_tier_params_t g_params;
static const char *g_what;
static char *g_dir;
static char g_path[4096];

static void setup_params(int argc, char **argv)
{
    dm_store_tier_params_t *p = &g_params;

    memset(p, 0, sizeof(*p));
    p->capacity    = CAPACITY;
    p->queue_depth = QD;
    p->field_mask  = DM_STORE_PARAM_QUEUE_DEPTH | DM_STORE_PARAM_NAME;
    g_what = argc > 1 ? argv[1] : "";
    CHECK(dm_store_kind_parse(g_what, &p->kind) == DM_OK, "usage: test_tier KIND [PFS_MODE]: %s",
          dm_last_error());
    p->name = g_what;
    if (p->kind == DM_STORE_KIND_NVME) {
        g_dir = store_scratch_dir("nvme");
        snprintf(g_path, sizeof(g_path), "%s/tier.dat", g_dir);
        p->path = g_path;
        p->field_mask |= DM_STORE_PARAM_PATH;
    } else if (p->kind == DM_STORE_KIND_PFS) {
        CHECK(argc > 2 && dm_store_pfs_mode_parse(argv[2], &p->pfs_mode) == DM_OK,
              "pfs needs a mode: %s", dm_last_error());
        g_dir = store_scratch_dir("pfs");
        snprintf(g_path, sizeof(g_path), "%s/tier", g_dir);
        p->path = g_path;
        p->pages_per_file = 64;       /* many files: exercises the descriptor cache */
        p->cache_pages = 100;         /* smaller than the tier: exercises replacement */
        p->field_mask |= DM_STORE_PARAM_PATH | DM_STORE_PARAM_PFS_MODE |
                         DM_STORE_PARAM_PAGES_PER_FILE | DM_STORE_PARAM_CACHE_PAGES;
        p->name = argv[2];
    }
}

/* Reads slot and checks it holds generation gen. */
static void expect(dm_store_tier_t *t, size_t ps, void *buf, uint64_t slot, uint64_t gen)
{
    CHECK_OK(dm_store_tier_read(t, slot, buf));
    CHECK(store_match(buf, ps, slot, gen), "slot %llu: want generation %llu, found %ld",
          (unsigned long long)slot, (unsigned long long)gen,
          store_which(buf, ps, slot, gen + 4));
}

static void test_basic(dm_store_tier_t *t, const dm_store_tier_info_t *info, uint64_t *gen)
{
    size_t ps = info->page_size;
    char *buf = store_alloc(ps);

    expect(t, ps, buf, 7, 0);
    CHECK(dm_store_tier_used(t) == 0, "used %llu", (unsigned long long)dm_store_tier_used(t));
    /* the whole tier, in order */
    for (uint64_t s = 0; s < CAPACITY; s++) {
        store_fill(buf, ps, s, 1);
        CHECK_OK(dm_store_tier_write(t, s, buf));
        gen[s] = 1;
    }
    CHECK(dm_store_tier_used(t) == CAPACITY, "used %llu", (unsigned long long)dm_store_tier_used(t));
    for (uint64_t s = 0; s < CAPACITY; s++) {
        expect(t, ps, buf, s, 1);
    }
    CHECK_OK(dm_store_tier_flush(t));
    for (uint64_t s = 0; s < CAPACITY; s += 97) {
        expect(t, ps, buf, s, 1);
    }
    free(buf);
}

static void test_random(dm_store_tier_t *t, size_t ps, uint64_t *gen)
{
    char *buf = store_alloc(ps);
    uint64_t seed = 0x5eed1234abcdull;

    for (unsigned i = 0; i < RANDOM_OPS; i++) {
        uint64_t r = store_rand(&seed);
        uint64_t s = (r >> 8) % CAPACITY;

        if (r & 1) {
            gen[s]++;
            store_fill(buf, ps, s, gen[s]);
            CHECK_OK(dm_store_tier_write(t, s, buf));
        } else {
            expect(t, ps, buf, s, gen[s]);
        }
        if (i % 5000 == 4999) {
            CHECK_OK(dm_store_tier_flush(t));
        }
    }
    free(buf);
}

/* Checks what poll handed back; reads are checked against the model. */
static unsigned reap(dm_store_tier_t *t, size_t ps, unsigned min, const uint64_t *gen,
                     unsigned *busy_slot)
{
    dm_store_io_t *done[QD];
    unsigned n = 0;

    CHECK_OK(dm_store_tier_poll(t, min, done, QD, &n));
    CHECK(n >= min, "poll gave %u, want at least %u", n, min);
    for (unsigned i = 0; i < n; i++) {
        dm_store_io_t *io = done[i];

        CHECK(io->status == DM_OK, "async %s slot %llu: %s: %s",
              io->op == DM_STORE_OP_READ ? "read" : "write", (unsigned long long)io->slot,
              dm_status_name(io->status), dm_last_error());
        if (io->op == DM_STORE_OP_READ) {
            CHECK(store_match(io->buf, ps, io->slot, gen[io->slot]),
                  "async read slot %llu: want generation %llu, found %ld",
                  (unsigned long long)io->slot, (unsigned long long)gen[io->slot],
                  store_which(io->buf, ps, io->slot, gen[io->slot] + 4));
        }
        busy_slot[(uintptr_t)io->arg] = 0; /* the buffer is free again */
    }
    return n;
}

/* Reaps until nothing is in flight. */
static void drain(dm_store_tier_t *t, size_t ps, const uint64_t *gen, unsigned *busy_slot)
{
    dm_store_tier_info_t info;

    for (;;) {
        dm_store_tier_query(t, &info);
        if (info.in_flight == 0) {
            return;
        }
        reap(t, ps, info.in_flight, gen, busy_slot);
    }
}

/*
 * Writes every slot once more, then reads all, asynchronously, keeping the
 * queue full. One slot has at most one operation in flight (the pre:).
 */
static void test_async(dm_store_tier_t *t, size_t ps, uint64_t *gen, char *pool)
{
    dm_store_io_t ios[QD];
    unsigned busy[QD] = { 0 };
    uint64_t seed = 42, order[CAPACITY];

    store_shuffle(order, CAPACITY, &seed); /* random order */
    for (int pass = 0; pass < 2; pass++) {
        dm_store_op_t op = pass == 0 ? DM_STORE_OP_WRITE : DM_STORE_OP_READ;
        uint64_t next = 0;

        while (next < CAPACITY) {
            unsigned b = 0;

            while (b < QD && busy[b]) {
                b++;
            }
            if (b == QD) {
                /* queue full: one more must be refused, then reap */
                dm_store_io_t extra = { .op = op, .slot = 0, .buf = pool };

                CHECK_ST(dm_store_tier_submit(t, &extra), DM_ERR_BUSY);
                reap(t, ps, 1, gen, busy);
                continue;
            }
            ios[b] = (dm_store_io_t){ .op = op, .slot = order[next], .buf = pool + b * ps,
                                      .arg = (void *)(uintptr_t)b };
            if (op == DM_STORE_OP_WRITE) {
                gen[order[next]]++;
                store_fill(ios[b].buf, ps, order[next], gen[order[next]]);
            }
            CHECK_OK(dm_store_tier_submit(t, &ios[b]));
            busy[b] = 1;
            next++;
        }
        drain(t, ps, gen, busy);
    }
    CHECK_OK(dm_store_tier_flush(t));
}

/*
 * A synchronous write, then at once an asynchronous read of the same slot,
 * for every slot in a random order: the read returns the bytes written, also
 * when the writer's buffer is overwritten as soon as write returned. Pass 0
 * waits for each read before the next write; pass 1 keeps up to QD reads in
 * flight (of other slots) while the next writes run. Catches a backend whose
 * synchronous write returns before the data landed where its asynchronous
 * operations look (e.g. a copy on another GPU stream).
 */
static void test_sync_then_async(dm_store_tier_t *t, size_t ps, uint64_t *gen, char *pool)
{
    dm_store_io_t ios[QD];
    unsigned busy[QD] = { 0 };
    uint64_t seed = 0x51a5ull, order[CAPACITY];
    char *buf = store_alloc(ps);

    store_shuffle(order, CAPACITY, &seed);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t next = 0;

        while (next < CAPACITY) {
            uint64_t s = order[next];
            unsigned b = 0;

            while (b < QD && busy[b]) {
                b++;
            }
            if (b == QD) {
                reap(t, ps, 1, gen, busy);
                continue;
            }
            gen[s]++;
            store_fill(buf, ps, s, gen[s]);
            CHECK_OK(dm_store_tier_write(t, s, buf));
            store_fill(buf, ps, s, gen[s] + 1); /* the tier must not look at buf again */
            ios[b] = (dm_store_io_t){ .op = DM_STORE_OP_READ, .slot = s, .buf = pool + b * ps,
                                      .arg = (void *)(uintptr_t)b };
            memset(ios[b].buf, 0, ps);
            CHECK_OK(dm_store_tier_submit(t, &ios[b]));
            busy[b] = 1;
            next++;
            if (pass == 0) {
                reap(t, ps, 1, gen, busy);
            }
        }
        drain(t, ps, gen, busy);
    }
    CHECK_OK(dm_store_tier_flush(t));
    free(buf);
}

/* ---- runs ---- */

#define RUN_PAGES 64u    /* the longest run tried (capped at max_io_pages) */
#define RUN_OPS   1000u  /* operations per pass */

typedef struct runs {
    dm_store_tier_t *t;
    size_t           ps;
    uint32_t         maxrun;
    uint64_t        *gen;
    char            *pool;            /* QD buffers of maxrun pages */
    dm_store_io_t    ios[QD];
    int              busy[QD];        /* buffer i's io is in flight */
    uint8_t          slot_busy[CAPACITY];
    uint64_t         seed;
} runs_t;

static char *run_buf(runs_t *r, unsigned b)
{
    return r->pool + (size_t)b * r->maxrun * r->ps;
}

/* Reaps at least min operations; each read run is checked page by page. */
static void runs_reap(runs_t *r, unsigned min)
{
    dm_store_io_t *done[QD];
    unsigned n = 0;

    CHECK_OK(dm_store_tier_poll(r->t, min, done, QD, &n));
    CHECK(n >= min, "poll gave %u, want at least %u", n, min);
    for (unsigned i = 0; i < n; i++) {
        dm_store_io_t *io = done[i];
        uint32_t np = io->npages ? io->npages : 1;
        unsigned b = (unsigned)(uintptr_t)io->arg;

        CHECK(io->status == DM_OK, "async %s run of %u at slot %llu: %s: %s",
              io->op == DM_STORE_OP_READ ? "read" : "write", np, (unsigned long long)io->slot,
              dm_status_name(io->status), dm_last_error());
        for (uint32_t k = 0; k < np; k++) {
            uint64_t s = io->slot + k;
            const char *page = (const char *)io->buf + (size_t)k * r->ps;

            if (io->op == DM_STORE_OP_READ) {
                CHECK(store_match(page, r->ps, s, r->gen[s]),
                      "read run of %u at slot %llu: page %u (slot %llu): want generation "
                      "%llu, found %ld", np, (unsigned long long)io->slot, k,
                      (unsigned long long)s, (unsigned long long)r->gen[s],
                      store_which(page, r->ps, s, r->gen[s] + 4));
            }
            r->slot_busy[s] = 0;
        }
        r->busy[b] = 0;
    }
}

static void runs_drain(runs_t *r)
{
    dm_store_tier_info_t info;

    for (;;) {
        dm_store_tier_query(r->t, &info);
        if (info.in_flight == 0) {
            return;
        }
        runs_reap(r, info.in_flight);
    }
}

/*
 * One pass of RUN_OPS operations: op READ or WRITE, or 0 for a mix, in
 * which one in eight is a synchronous write or read of a single slot that
 * no operation in flight touches (on gpu: ordered with the runs on the
 * tier's stream). A slot is in at most one operation in flight.
 */
static void runs_pass(runs_t *r, dm_store_op_t op)
{
    char *one = store_alloc(r->ps);

    for (unsigned done = 0; done < RUN_OPS;) {
        uint64_t x = store_rand(&r->seed);
        uint32_t np = 1 + (uint32_t)(x % r->maxrun);
        uint64_t slot, s;
        dm_store_op_t o = op ? op : (x >> 20) & 1 ? DM_STORE_OP_WRITE : DM_STORE_OP_READ;
        unsigned b = 0;
        int sync = op == 0 && ((x >> 21) & 7) == 0;
        uint32_t k;

        if ((x >> 24) % 4 == 0) {
            np = r->maxrun; /* the longest often: the edge of max_io_pages */
        }
        if (sync) {
            np = 1;
        }
        slot = (x >> 32) % (CAPACITY - np + 1);
        for (k = 0; k < np && !r->slot_busy[slot + k]; k++) {
        }
        if (k < np) {
            runs_reap(r, 1); /* a slot of it is in flight (there is one, so poll may wait) */
            continue;
        }
        if (sync) {
            if (o == DM_STORE_OP_WRITE) {
                r->gen[slot]++;
                store_fill(one, r->ps, slot, r->gen[slot]);
                CHECK_OK(dm_store_tier_write(r->t, slot, one));
            } else {
                expect(r->t, r->ps, one, slot, r->gen[slot]);
            }
            done++;
            continue;
        }
        while (b < QD && r->busy[b]) {
            b++;
        }
        if (b == QD) {
            /* queue full: one more must be refused, then reap */
            dm_store_io_t extra = { .op = o, .slot = slot, .npages = np, .buf = run_buf(r, 0) };

            CHECK_ST(dm_store_tier_submit(r->t, &extra), DM_ERR_BUSY);
            runs_reap(r, 1);
            continue;
        }
        r->ios[b] = (dm_store_io_t){ .op = o, .slot = slot, .buf = run_buf(r, b),
                                     .arg = (void *)(uintptr_t)b,
                                     /* npages 0 means 1 */
                                     .npages = np == 1 && ((x >> 26) & 1) ? 0 : np };
        for (k = 0; k < np; k++) {
            s = slot + k;
            if (o == DM_STORE_OP_WRITE) {
                r->gen[s]++;
                store_fill(run_buf(r, b) + (size_t)k * r->ps, r->ps, s, r->gen[s]);
            } else {
                memset(run_buf(r, b) + (size_t)k * r->ps, 0xee, r->ps);
            }
            r->slot_busy[s] = 1;
        }
        CHECK_OK(dm_store_tier_submit(r->t, &r->ios[b]));
        r->busy[b] = 1;
        done++;
    }
    runs_drain(r);
    free(one);
}

/*
 * Runs (tier.h "Runs"), where the tier takes them: a write pass, a read pass
 * after some slots were discarded (they read as zeros inside runs, also
 * where the backend still holds their old bytes), then a mixed pass with
 * synchronous operations between the runs; first from plain memory, then,
 * when registration is possible (pinning a few MiB may hit RLIMIT_MEMLOCK),
 * from registered memory. The discarded slots are written again at the end.
 */
static void test_runs(dm_store_tier_t *t, const dm_store_tier_info_t *info, uint64_t *gen)
{
    runs_t *r = calloc(1, sizeof(*r));
    dm_store_io_t io;
    unsigned id = 0;
    int reg = 0;

    CHECK(r != NULL, "no memory");
    r->t = t;
    r->ps = info->page_size;
    r->maxrun = info->max_io_pages < RUN_PAGES ? info->max_io_pages : RUN_PAGES;
    r->gen = gen;
    r->seed = 0x7275ull;
    r->pool = store_alloc((size_t)QD * r->maxrun * r->ps);

    /* refused: longer than max_io_pages, past the end */
    io = (dm_store_io_t){ .op = DM_STORE_OP_READ, .slot = 0, .buf = r->pool,
                          .npages = info->max_io_pages + 1 };
    CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
    io.op = DM_STORE_OP_WRITE;
    CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
    io = (dm_store_io_t){ .op = DM_STORE_OP_WRITE, .slot = CAPACITY - 1, .buf = r->pool,
                          .npages = 2 };
    CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);

    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            dm_status_t st = dm_store_tier_mem_register(t, r->pool,
                                                        (size_t)QD * r->maxrun * r->ps, &id);

            if (st == DM_ERR_NO_MEMORY) {
                printf("%s: runs from registered memory skipped: %s\n", info->name,
                       dm_last_error());
                break;
            }
            CHECK_OK(st);
            reg = 1;
        }
        runs_pass(r, DM_STORE_OP_WRITE);
        for (uint64_t s = (uint64_t)pass * 5; s < CAPACITY; s += 37) {
            CHECK_OK(dm_store_tier_discard(t, s));
            gen[s] = 0;
        }
        runs_pass(r, DM_STORE_OP_READ);
        runs_pass(r, 0);
        if (reg) {
            dm_store_tier_mem_unregister(t, id);
        }
    }
    /* the slots still discarded hold data again (later tests count on it) */
    for (uint64_t s = 0; s < CAPACITY; s++) {
        if (gen[s] == 0) {
            gen[s] = 1;
            store_fill(r->pool, r->ps, s, 1);
            CHECK_OK(dm_store_tier_write(t, s, r->pool));
        }
    }
    CHECK_OK(dm_store_tier_flush(t));
    printf("%s: runs of 1..%u pages: ok%s\n", info->name, r->maxrun,
           reg ? " (also from registered memory)" : "");
    free(r->pool);
    free(r);
}

static void test_errors(dm_store_tier_t *t, const dm_store_tier_info_t *info)
{
    size_t ps = info->page_size;
    char *buf = store_alloc(ps + 4096);
    dm_store_io_t io = { .op = DM_STORE_OP_WRITE, .slot = CAPACITY, .buf = buf };
    dm_store_tier_info_t after;

    store_fill(buf, ps, 0, 1);
    CHECK_ST(dm_store_tier_write(t, CAPACITY, buf), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_read(t, UINT64_MAX, buf), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_discard(t, CAPACITY), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_write(t, 0, NULL), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_read(t, 0, NULL), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_store_tier_submit(t, NULL), DM_ERR_INVALID_PARAM);
    io.slot = 0;
    io.op = (dm_store_op_t)99;
    CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
    if (info->buf_align > 1) {
        /* O_DIRECT: a misaligned buffer is refused before any I/O */
        for (size_t off = 1; off < info->buf_align; off *= 8) {
            CHECK_ST(dm_store_tier_write(t, 1, buf + off), DM_ERR_INVALID_PARAM);
            CHECK(strstr(dm_last_error(), "aligned") != NULL, "message: %s", dm_last_error());
            CHECK_ST(dm_store_tier_read(t, 1, buf + off), DM_ERR_INVALID_PARAM);
            io = (dm_store_io_t){ .op = DM_STORE_OP_READ, .slot = 1, .buf = buf + off };
            CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
            io.op = DM_STORE_OP_WRITE;
            CHECK_ST(dm_store_tier_submit(t, &io), DM_ERR_INVALID_PARAM);
        }
        unsigned id;
        CHECK_ST(dm_store_tier_mem_register(t, buf + 1, ps, &id), DM_ERR_INVALID_PARAM);
    }
    CHECK_ST(dm_store_tier_poll(t, 0, NULL, 1, &(unsigned){ 0 }), DM_ERR_INVALID_PARAM);
    dm_store_tier_query(t, &after);
    CHECK(after.in_flight == 0 && after.used == info->used, "state changed by refused calls");
    free(buf);
}

static void test_discard(dm_store_tier_t *t, size_t ps, uint64_t *gen)
{
    char *buf = store_alloc(ps);
    uint64_t used = dm_store_tier_used(t);

    CHECK_OK(dm_store_tier_discard(t, 3));
    CHECK_OK(dm_store_tier_discard(t, 3)); /* twice is fine */
    gen[3] = 0;
    CHECK(dm_store_tier_used(t) == used - 1, "used %llu, want %llu",
          (unsigned long long)dm_store_tier_used(t), (unsigned long long)used - 1);
    expect(t, ps, buf, 3, 0);
    expect(t, ps, buf, 4, gen[4]);
    gen[3] = 9;
    store_fill(buf, ps, 3, 9);
    CHECK_OK(dm_store_tier_write(t, 3, buf));
    expect(t, ps, buf, 3, 9);
    CHECK(dm_store_tier_used(t) == used, "used after rewrite");
    free(buf);
}

/* Destroy with operations in flight: they are drained and come back CANCELED. */
static void test_destroy_in_flight(void)
{
    dm_store_tier_t *t;
    dm_store_tier_info_t info;
    dm_store_io_t ios[8];
    char *pool;

    CHECK_OK(dm_store_tier_create(&g_params, &t));
    dm_store_tier_query(t, &info);
    pool = store_alloc(8 * info.page_size);
    for (unsigned i = 0; i < 8; i++) {
        ios[i] = (dm_store_io_t){ .op = i % 2 ? DM_STORE_OP_READ : DM_STORE_OP_WRITE,
                                  .slot = i / 2, .buf = pool + i * info.page_size };
        store_fill(ios[i].buf, info.page_size, i, 1);
    }
    for (unsigned i = 0; i < 8; i += 2) {
        CHECK_OK(dm_store_tier_submit(t, &ios[i]));
    }
    dm_store_tier_destroy(t);
    for (unsigned i = 0; i < 8; i += 2) {
        CHECK(ios[i].status == DM_ERR_CANCELED, "io %u: %s", i, dm_status_name(ios[i].status));
    }
    free(pool);
}

int main(int argc, char **argv)
{
    int fds0 = store_fd_count();
    dm_store_tier_t *t;
    dm_store_tier_info_t info;
    uint64_t *gen = calloc(CAPACITY, sizeof(*gen));
    char *pool;
    unsigned id;
    dm_status_t st;

    setup_params(argc, argv);
    st = dm_store_tier_create(&g_params, &t);
    if (st == DM_ERR_UNSUPPORTED) {
        char why[600];

        snprintf(why, sizeof(why), "%s tier unsupported here: %s", g_what, dm_last_error());
        store_skip(why);
    }
    CHECK_OK(st);
    if (g_params.kind == DM_STORE_KIND_GPU) {
        /*
         * The CUDA runtime opens its device files (/dev/nvidia*: 33 on an
         * H200) at its first call and keeps them until the process exits.
         * They are not the tier's: count from a created and destroyed tier.
         */
        dm_store_tier_destroy(t);
        fds0 = store_fd_count();
        CHECK_OK(dm_store_tier_create(&g_params, &t));
    }
    dm_store_tier_query(t, &info);
    CHECK(info.capacity == CAPACITY && info.page_size == 4096 && info.queue_depth == QD &&
          info.kind == g_params.kind && info.distance > 0 && info.used == 0,
          "query: capacity %llu page %zu qd %u distance %u",
          (unsigned long long)info.capacity, info.page_size, info.queue_depth, info.distance);
    CHECK(strcmp(dm_store_tier_name(t), g_params.name) == 0, "name %s", dm_store_tier_name(t));
    printf("%s: distance %u, buffer alignment %zu, O_DIRECT %d, huge pages %d\n", info.name,
           info.distance, info.buf_align, info.direct, info.hugepage);
    if (g_params.kind == DM_STORE_KIND_NVME) {
        CHECK(info.buf_align >= 4096, "nvme buffer alignment %zu", info.buf_align);
        printf("nvme: io_uring %d\n", info.io_uring);
    }

    test_basic(t, &info, gen);
    test_random(t, info.page_size, gen);
    pool = store_alloc(QD * info.page_size);
    test_sync_then_async(t, info.page_size, gen, pool);
    test_async(t, info.page_size, gen, pool);
    /* again through registered memory (fixed buffers) */
    CHECK_OK(dm_store_tier_mem_register(t, pool, QD * info.page_size, &id));
    test_sync_then_async(t, info.page_size, gen, pool);
    test_async(t, info.page_size, gen, pool);
    dm_store_tier_mem_unregister(t, id);
    dm_store_tier_mem_unregister(t, id); /* unknown id: ignored */
    test_async(t, info.page_size, gen, pool);
    dm_store_tier_query(t, &info);
    if (info.max_io_pages > 1) {
        test_runs(t, &info, gen);
    } else {
        printf("%s: takes no runs (max_io_pages 1)\n", info.name);
    }
    dm_store_tier_query(t, &info);
    test_errors(t, &info);
    test_discard(t, info.page_size, gen);
    CHECK_OK(dm_store_tier_flush(t));
    dm_store_tier_destroy(t);
    dm_store_tier_destroy(NULL);
    free(pool);

    if (g_params.kind == DM_STORE_KIND_PFS) {
        /* the data outlives the handle: a new one reads what was flushed */
        char *buf = store_alloc(4096);

        CHECK_OK(dm_store_tier_create(&g_params, &t));
        for (uint64_t s = 0; s < CAPACITY; s += 13) {
            expect(t, 4096, buf, s, gen[s]);
        }
        dm_store_tier_destroy(t);
        free(buf);
    }
    test_destroy_in_flight();

    if (g_dir) {
        store_rm_rf(g_dir);
        free(g_dir);
    }
    free(gen);
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("%s: ok\n", g_what);
    return 0;
}
