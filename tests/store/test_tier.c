/*
 * The tier contract, checked the same way on every backend:
 *   test_tier dram | nvme | pfs coherent|readcache|writecache | gpu
 *
 * - a slot never written reads as zeros; query says what the tier is;
 * - every slot written in order reads back (round trip of the whole tier);
 * - random reads and writes against a model of what each slot holds;
 * - asynchronous writes and reads with queue_depth in flight, DM_ERR_BUSY
 *   beyond it, completions in any order, each with its own status;
 * - the same through registered memory (io_uring fixed buffers on nvme);
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

/*
 * Writes every slot once more, then reads all, asynchronously, keeping the
 * queue full. One slot has at most one operation in flight (the pre:).
 */
static void test_async(dm_store_tier_t *t, size_t ps, uint64_t *gen, char *pool)
{
    dm_store_io_t ios[QD];
    unsigned busy[QD] = { 0 };
    uint64_t seed = 42, order[CAPACITY];
    dm_store_tier_info_t info;

    for (uint64_t s = 0; s < CAPACITY; s++) {
        order[s] = s;
    }
    for (uint64_t s = CAPACITY - 1; s > 0; s--) { /* random order */
        uint64_t j = store_rand(&seed) % (s + 1), x = order[s];

        order[s] = order[j];
        order[j] = x;
    }
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
        for (;;) {
            dm_store_tier_query(t, &info);
            if (info.in_flight == 0) {
                break;
            }
            reap(t, ps, info.in_flight, gen, busy);
        }
    }
    CHECK_OK(dm_store_tier_flush(t));
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
    test_async(t, info.page_size, gen, pool);
    /* again through registered memory (fixed buffers) */
    CHECK_OK(dm_store_tier_mem_register(t, pool, QD * info.page_size, &id));
    test_async(t, info.page_size, gen, pool);
    dm_store_tier_mem_unregister(t, id);
    dm_store_tier_mem_unregister(t, id); /* unknown id: ignored */
    test_async(t, info.page_size, gen, pool);
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
