/*
 * The gpu tier against the raw CUDA runtime, on device 0:
 *   bench_gpu [SECONDS [MAX_MIB]]
 * SECONDS per measurement (default 1.0, after a warm-up of a tenth of it, at
 * most 0.25 s); MAX_MIB the tier's capacity and the baseline's device memory
 * (default 256, at least 2).
 *
 * Not a test (meson test does not run it): it prints one JSON object per
 * measurement on stdout,
 *   {"what":"gpu-tier-async","op":"write","bs":4096,"pages":1,"qd":64,
 *    "ops_s":...,"gib_s":...,"us_per_op":...}
 * bs is the bytes one operation moves, pages the pages it moves (so the page
 * size is bs / pages). First for page sizes of 4 KiB, 64 KiB and 2 MiB, one
 * page per operation, then runs (tier.h "Runs") of 64 pages of 4 KiB, one
 * operation of 256 KiB; op write then read. what:
 *   gpu-tier-sync      dm_store_tier_write/read (a copy on the tier's stream,
 *                      then a stream synchronize), qd 1, a plain (pageable)
 *                      host buffer
 *   gpu-tier-async     dm_store_tier_submit/poll, the tier's queue depth in
 *                      flight (dm_store_tier_query), pageable host buffers
 *   gpu-tier-async-reg the same with the buffers registered through
 *                      dm_store_tier_mem_register (cudaHostRegister inside)
 *   cuda-pageable      the baseline of gpu-tier-sync: cudaMemcpy from and to
 *                      the same pageable buffers, qd 1
 *   cuda-pinned-async  the baseline of gpu-tier-async-reg: the same buffers
 *                      pinned with cudaHostRegister, batches of qd
 *                      cudaMemcpyAsync on one stream, cudaStreamSynchronize
 *                      after each batch
 * and with runs (pages 64, bs 256 KiB, qd as above but at most a 64th of the
 * capacity; skipped with a note on stderr where the tier's max_io_pages is
 * below 64):
 *   gpu-tier-async-reg-run  gpu-tier-async-reg with io->npages 64: each
 *                      operation one run of 64 consecutive slots (the tier
 *                      moves it with one cudaMemcpyAsync)
 *   cuda-pinned-async-run   its baseline: cuda-pinned-async with one
 *                      cudaMemcpyAsync of 256 KiB per operation
 * ops_s operations per second of wall time, gib_s ops_s * bs in GiB/s,
 * us_per_op wall time per operation (1e6 / ops_s; with qd in flight it is
 * the inverse throughput, not the latency of one operation).
 *
 * Slots are visited in order, round the tier (runs: aligned runs of 64);
 * the host buffers (qd of them, one page or one run each) are used in turn.
 * Every slot is written before the first measurement (a slot never written
 * would read as zeros without a copy; runs: written a run at a time, with
 * qd 1). Every page written names its source (page pattern of store_test.h),
 * so after each write measurement a few slots are read back and compared (16
 * spread over the tier and the last qd operations' pages written), and after
 * each read measurement every page of every buffer is compared with the slot
 * last read into it: a mismatch prints the slot and exits 1.
 *
 * No CUDA device (no driver, no GPU, CUDA_VISIBLE_DEVICES empty): the tier's
 * create says DM_ERR_UNSUPPORTED; the bench prints "SKIP: no CUDA device:
 * <detail>" on stderr and exits 77. Other errors exit 1 with a message.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_test.h"
#include "util.h"

#define CUDA_CHECK(expr)                                                      \
    do {                                                                      \
        cudaError_t e_ = (expr);                                              \
        CHECK(e_ == cudaSuccess, "%s: %s (%s)", #expr, cudaGetErrorString(e_), \
              cudaGetErrorName(e_));                                          \
    } while (0)

#define NO_SLOT     UINT64_MAX
#define GEN_FILL    1u  /* the pages written before the measurements */
#define VERIFY_N    16u /* slots read back after a write measurement */
#define RUN_PAGES   64u /* pages of the run measurements */
#define RUN_PS      4096u /* their page size */

/*
 * One page size on one target: the tier (tier != NULL) or the bench's own
 * device memory (dev != NULL). What each slot holds is recorded as the
 * (id, generation) of its page pattern: (slot, GEN_FILL) after the fill,
 * (buffer, gen) after a write from buffer with the pool in generation gen.
 */
typedef struct bench {
    size_t           ps;       /* page size */
    unsigned         run;      /* pages per operation (1, or RUN_PAGES for the run rows) */
    uint64_t         capacity; /* slots, a multiple of run */
    unsigned         depth;    /* operations in flight (async), buffers in the pool */
    char            *pool;     /* depth buffers of run pages (page j of the pool has
                                  pattern id j), 4 KiB aligned, pageable unless registered */
    uint64_t        *expect;   /* per slot: id << 16 | generation */
    uint64_t        *last;     /* per buffer: the first slot last read into it, or NO_SLOT */
    uint8_t         *busy;     /* per slot (the first of a run): an asynchronous operation
                                  in flight */
    uint64_t         cursor;   /* the next slot to visit (a multiple of run) */
    uint64_t         last_written; /* the last slot written */
    unsigned         gen;      /* the pool's generation (> GEN_FILL once filled) */
    dm_store_tier_t *tier;
    char            *dev;
    cudaStream_t     stream;
} bench_t;

static double g_seconds = 1.0;
static double g_warmup;
static int g_said; /* the device was named on stderr */

static uint64_t key(uint64_t id, unsigned gen)
{
    return id << 16 | gen;
}

/* Page j of the pool (buffer i holds pages i * run .. i * run + run - 1). */
static char *page(const bench_t *b, size_t j)
{
    return b->pool + j * b->ps;
}

static char *buffer(const bench_t *b, unsigned i)
{
    return page(b, (size_t)i * b->run);
}

/* A new generation in every pool page, before a write measurement. */
static void pool_fill(bench_t *b)
{
    b->gen++;
    for (size_t j = 0; j < (size_t)b->depth * b->run; j++) {
        store_fill(page(b, j), b->ps, j, b->gen);
    }
}

/* The first slot of the next run (or slot) in order that no operation in flight uses. */
static uint64_t next_slot(bench_t *b)
{
    uint64_t s;

    while (b->busy[b->cursor]) {
        b->cursor = (b->cursor + b->run) % b->capacity;
    }
    s = b->cursor;
    b->cursor = (b->cursor + b->run) % b->capacity;
    return s;
}

/* Buffer i was written to slot .. slot + run - 1 (in the pool's generation). */
static void written(bench_t *b, unsigned i, uint64_t slot)
{
    for (unsigned k = 0; k < b->run; k++) {
        b->expect[slot + k] = key((uint64_t)i * b->run + k, b->gen);
    }
    b->last_written = slot + b->run - 1;
}

static void sync_write(bench_t *b, uint64_t slot, const void *buf)
{
    if (b->tier) {
        CHECK_OK(dm_store_tier_write(b->tier, slot, buf));
    } else {
        CUDA_CHECK(cudaMemcpy(b->dev + slot * b->ps, buf, b->ps, cudaMemcpyHostToDevice));
    }
}

static void sync_read(bench_t *b, uint64_t slot, void *buf)
{
    if (b->tier) {
        CHECK_OK(dm_store_tier_read(b->tier, slot, buf));
    } else {
        CUDA_CHECK(cudaMemcpy(buf, b->dev + slot * b->ps, b->ps, cudaMemcpyDeviceToHost));
    }
}

/* Exits 1 unless buf holds what slot should hold. */
static void expect_page(const bench_t *b, const char *what, const char *when, uint64_t slot,
                        const void *buf)
{
    const uint64_t *w = buf;
    uint64_t id = b->expect[slot] >> 16;
    unsigned gen = (unsigned)(b->expect[slot] & 0xffff);

    for (size_t i = 0; i < b->ps / 8; i++) {
        if (w[i] != store_word(id, gen, i)) {
            fprintf(stderr, "bench_gpu: %s, bs %zu, %s: data mismatch in slot %llu at byte "
                    "%zu: %016llx, want %016llx (page %llu generation %u)\n", what, b->ps,
                    when, (unsigned long long)slot, i * 8, (unsigned long long)w[i],
                    (unsigned long long)store_word(id, gen, i), (unsigned long long)id, gen);
            exit(1);
        }
    }
}

/*
 * After a write measurement: reads back VERIFY_N slots spread over the tier
 * and the depth * run slots up to the last one written (the last operations,
 * all buffers).
 */
static void verify_written(bench_t *b, const char *what)
{
    char *buf = store_alloc(b->ps);

    for (unsigned i = 0; i < VERIFY_N + b->depth * b->run; i++) {
        uint64_t slot = i < VERIFY_N ? i * b->capacity / VERIFY_N
                                     : (b->last_written + b->capacity - (i - VERIFY_N)) %
                                           b->capacity;

        memset(buf, 0xee, b->ps);
        sync_read(b, slot, buf);
        expect_page(b, what, "read back after write", slot, buf);
    }
    free(buf);
}

/* After a read measurement: every buffer holds the slots last read into it. */
static void verify_read(const bench_t *b, const char *what)
{
    for (unsigned i = 0; i < b->depth; i++) {
        if (b->last[i] != NO_SLOT) {
            for (unsigned k = 0; k < b->run; k++) {
                expect_page(b, what, "read", b->last[i] + k, page(b, (size_t)i * b->run + k));
            }
        }
    }
}

/* Writes run pages from buf to slot .. slot + run - 1 and waits (the fill of runs). */
static void span_write(bench_t *b, uint64_t slot, void *buf)
{
    if (b->tier) {
        dm_store_io_t io = { .op = DM_STORE_OP_WRITE, .slot = slot, .buf = buf,
                             .npages = b->run }, *done;
        unsigned n = 0;

        CHECK_OK(dm_store_tier_submit(b->tier, &io));
        while (n == 0) {
            CHECK_OK(dm_store_tier_poll(b->tier, 1, &done, 1, &n));
        }
        CHECK(done == &io && io.status == DM_OK, "fill run at slot %llu: %s: %s",
              (unsigned long long)slot, dm_status_name(io.status), dm_last_error());
    } else {
        CUDA_CHECK(cudaMemcpy(b->dev + slot * b->ps, buf, (size_t)b->run * b->ps,
                              cudaMemcpyHostToDevice));
    }
}

/* Writes every slot with its own pattern (untimed), then reads a few back. */
static void fill(bench_t *b, const char *what)
{
    char *buf = store_alloc((size_t)b->run * b->ps);

    for (uint64_t s = 0; s < b->capacity; s += b->run) {
        for (unsigned k = 0; k < b->run; k++) {
            store_fill(buf + (size_t)k * b->ps, b->ps, s + k, GEN_FILL);
            b->expect[s + k] = key(s + k, GEN_FILL);
        }
        if (b->run == 1) {
            sync_write(b, s, buf);
        } else {
            span_write(b, s, buf);
        }
    }
    b->last_written = b->capacity - 1;
    b->cursor = 0;
    free(buf);
    verify_written(b, what);
}

/* bs: bytes per operation, pages: pages per operation */
static void report(const char *what, dm_store_op_t op, size_t bs, unsigned pages, unsigned qd,
                   uint64_t ops, uint64_t ns)
{
    double s = (double)ns / 1e9;
    double ops_s = (double)ops / s;

    printf("{\"what\":\"%s\",\"op\":\"%s\",\"bs\":%zu,\"pages\":%u,\"qd\":%u,"
           "\"ops_s\":%.1f,\"gib_s\":%.3f,\"us_per_op\":%.3f}\n", what,
           op == DM_STORE_OP_WRITE ? "write" : "read", bs, pages, qd, ops_s,
           ops_s * (double)bs / (1024.0 * 1024.0 * 1024.0), s * 1e6 / (double)ops);
    fflush(stdout);
}

/* Synchronous copies, one page at a time (run 1), for about seconds (at least one). */
static void run_sync(bench_t *b, dm_store_op_t op, double seconds, const char *what)
{
    uint64_t ops = 0, t0 = dm_time_ns(), deadline = t0 + (uint64_t)(seconds * 1e9), now;

    CHECK(b->run == 1, "run_sync moves single pages");
    do {
        unsigned i = (unsigned)(ops % b->depth);
        uint64_t slot = next_slot(b);

        if (op == DM_STORE_OP_WRITE) {
            sync_write(b, slot, buffer(b, i));
            written(b, i, slot);
        } else {
            sync_read(b, slot, buffer(b, i));
            b->last[i] = slot;
        }
        ops++;
        now = dm_time_ns();
    } while (now < deadline);
    if (what) {
        report(what, op, b->ps, 1, 1, ops, now - t0);
    }
}

/* The tier's submit/poll with depth operations in flight, for about seconds. */
static void run_tier_async(bench_t *b, dm_store_op_t op, double seconds, const char *what)
{
    dm_store_io_t *ios = calloc(b->depth, sizeof(*ios));
    dm_store_io_t **done = calloc(b->depth, sizeof(*done));
    unsigned *idle = calloc(b->depth, sizeof(*idle));
    unsigned nidle = 0, in_flight = 0, n;
    uint64_t ops = 0, t0, deadline;
    int more = 1;

    CHECK(ios != NULL && done != NULL && idle != NULL, "no memory");
    for (unsigned i = b->depth; i-- > 0;) {
        idle[nidle++] = i;
    }
    t0 = dm_time_ns();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    for (;;) {
        while (more && nidle > 0) {
            unsigned i = idle[--nidle];
            dm_store_io_t *io = &ios[i];

            io->op     = op;
            io->slot   = next_slot(b);
            io->buf    = buffer(b, i);
            io->npages = b->run;
            b->busy[io->slot] = 1;
            CHECK_OK(dm_store_tier_submit(b->tier, io));
            in_flight++;
        }
        if (in_flight == 0) {
            break;
        }
        CHECK_OK(dm_store_tier_poll(b->tier, 1, done, b->depth, &n));
        for (unsigned k = 0; k < n; k++) {
            dm_store_io_t *io = done[k];
            unsigned i = (unsigned)(io - ios);

            CHECK(io->status == DM_OK, "%s slot %llu: %s: %s", what ? what : "warm-up",
                  (unsigned long long)io->slot, dm_status_name(io->status), dm_last_error());
            b->busy[io->slot] = 0;
            if (op == DM_STORE_OP_WRITE) {
                written(b, i, io->slot);
            } else {
                b->last[i] = io->slot;
            }
            idle[nidle++] = i;
        }
        in_flight -= n;
        ops += n;
        more = dm_time_ns() < deadline;
    }
    if (what) {
        report(what, op, b->ps * b->run, b->run, b->depth, ops, dm_time_ns() - t0);
    }
    free(idle);
    free(done);
    free(ios);
}

/* Batches of depth cudaMemcpyAsync (run pages each) on one stream, a synchronize after each. */
static void run_cuda_async(bench_t *b, dm_store_op_t op, double seconds, const char *what)
{
    uint64_t *slots = calloc(b->depth, sizeof(*slots));
    uint64_t ops = 0, t0, deadline, now;
    size_t len = b->ps * b->run;

    CHECK(slots != NULL, "no memory");
    t0 = dm_time_ns();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    do {
        for (unsigned i = 0; i < b->depth; i++) {
            char *dev;

            slots[i] = next_slot(b);
            dev = b->dev + slots[i] * b->ps;
            CUDA_CHECK(op == DM_STORE_OP_WRITE
                           ? cudaMemcpyAsync(dev, buffer(b, i), len, cudaMemcpyHostToDevice,
                                             b->stream)
                           : cudaMemcpyAsync(buffer(b, i), dev, len, cudaMemcpyDeviceToHost,
                                             b->stream));
        }
        CUDA_CHECK(cudaStreamSynchronize(b->stream));
        for (unsigned i = 0; i < b->depth; i++) {
            if (op == DM_STORE_OP_WRITE) {
                written(b, i, slots[i]);
            } else {
                b->last[i] = slots[i];
            }
        }
        ops += b->depth;
        now = dm_time_ns();
    } while (now < deadline);
    if (what) {
        report(what, op, len, b->run, b->depth, ops, now - t0);
    }
    free(slots);
}

typedef void (*run_fn)(bench_t *b, dm_store_op_t op, double seconds, const char *what);

/* A warm-up, the write measurement and its check, then the same for reads. */
static void measure(bench_t *b, run_fn run, const char *what)
{
    pool_fill(b);
    run(b, DM_STORE_OP_WRITE, g_warmup, NULL);
    run(b, DM_STORE_OP_WRITE, g_seconds, what);
    verify_written(b, what);

    for (unsigned i = 0; i < b->depth; i++) {
        b->last[i] = NO_SLOT;
    }
    run(b, DM_STORE_OP_READ, g_warmup, NULL);
    run(b, DM_STORE_OP_READ, g_seconds, what);
    verify_read(b, what);
}

/*
 * The rows of one page size: run 1, every row of single pages; run > 1, the
 * two run rows (gpu-tier-async-reg-run, cuda-pinned-async-run).
 */
static void bench_size(size_t ps, unsigned run, uint64_t max_bytes)
{
    dm_store_tier_params_t p;
    dm_store_tier_info_t info;
    bench_t b;
    dm_status_t st;
    size_t pool_len;
    unsigned id;

    memset(&b, 0, sizeof(b));
    memset(&p, 0, sizeof(p));
    p.kind       = DM_STORE_KIND_GPU;
    p.capacity   = max_bytes / ps;
    p.page_size  = ps;
    p.name       = "gpu";
    p.field_mask = DM_STORE_PARAM_PAGE_SIZE | DM_STORE_PARAM_NAME;
    st = dm_store_tier_create(&p, &b.tier);
    if (st == DM_ERR_UNSUPPORTED) {
        fprintf(stderr, "SKIP: no CUDA device: %s\n", dm_last_error());
        exit(77);
    }
    CHECK_OK(st);
    dm_store_tier_query(b.tier, &info);
    CHECK(info.buf_align <= 4096 && info.queue_depth > 0, "gpu tier: alignment %zu, qd %u",
          info.buf_align, info.queue_depth);
    if (!g_said) {
        struct cudaDeviceProp prop;

        CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        fprintf(stderr, "bench_gpu: device 0: %s, %zu MiB; tier queue depth %u, runs of up to "
                "%u pages; %.2f s per measurement after %.2f s of warm-up\n", prop.name,
                prop.totalGlobalMem >> 20, info.queue_depth, info.max_io_pages, g_seconds,
                g_warmup);
        g_said = 1;
    }
    if (run > info.max_io_pages || run > info.capacity) {
        fprintf(stderr, "bench_gpu: runs of %u pages of %zu bytes skipped: the tier moves at "
                "most %u pages at once and has %llu slots\n", run, ps, info.max_io_pages,
                (unsigned long long)info.capacity);
        dm_store_tier_destroy(b.tier);
        return;
    }

    b.ps       = ps;
    b.run      = run;
    b.capacity = info.capacity - info.capacity % run; /* aligned runs never cross the end */
    b.depth    = (unsigned)DM_MIN((uint64_t)info.queue_depth, b.capacity / run);
    b.gen      = GEN_FILL;
    pool_len   = (size_t)b.depth * run * ps;
    b.pool     = store_alloc(pool_len);
    b.expect   = calloc(b.capacity, sizeof(*b.expect));
    b.busy     = calloc(b.capacity, sizeof(*b.busy));
    b.last     = calloc(b.depth, sizeof(*b.last));
    CHECK(b.expect != NULL && b.busy != NULL && b.last != NULL, "no memory");
    memset(b.pool, 0, pool_len); /* fault it in before any timing */

    /* ours: the tier */
    fill(&b, "gpu-tier fill");
    if (run == 1) {
        measure(&b, run_sync, "gpu-tier-sync");
        measure(&b, run_tier_async, "gpu-tier-async");
    }
    CHECK_OK(dm_store_tier_mem_register(b.tier, b.pool, pool_len, &id));
    measure(&b, run_tier_async, run == 1 ? "gpu-tier-async-reg" : "gpu-tier-async-reg-run");
    dm_store_tier_mem_unregister(b.tier, id);
    dm_store_tier_destroy(b.tier);
    b.tier = NULL;

    /* the baseline: the CUDA runtime on the same device, bytes and buffers */
    CUDA_CHECK(cudaSetDevice(0));
    CUDA_CHECK(cudaMalloc((void **)&b.dev, (size_t)b.capacity * ps));
    CUDA_CHECK(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
    fill(&b, "cuda fill");
    if (run == 1) {
        measure(&b, run_sync, "cuda-pageable");
    }
    CUDA_CHECK(cudaHostRegister(b.pool, pool_len, cudaHostRegisterDefault));
    measure(&b, run_cuda_async, run == 1 ? "cuda-pinned-async" : "cuda-pinned-async-run");
    CUDA_CHECK(cudaHostUnregister(b.pool));
    CUDA_CHECK(cudaStreamDestroy(b.stream));
    CUDA_CHECK(cudaFree(b.dev));

    free(b.last);
    free(b.busy);
    free(b.expect);
    free(b.pool);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_gpu [SECONDS [MAX_MIB]]\n"
            "  SECONDS  per measurement, > 0 (default 1.0)\n"
            "  MAX_MIB  tier capacity in MiB, >= 2 (default 256)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {4096, 64 << 10, 2 << 20};
    unsigned long long max_mib = 256;
    char *end;

    if (argc > 3) {
        usage();
    }
    if (argc > 1) {
        g_seconds = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || !(g_seconds > 0.0 && g_seconds < 1e6)) {
            usage();
        }
    }
    if (argc > 2) {
        max_mib = strtoull(argv[2], &end, 10);
        if (end == argv[2] || *end != '\0' || argv[2][0] == '-' || max_mib < 2 ||
            max_mib > (1ull << 30)) {
            usage();
        }
    }
    g_warmup = DM_MIN(g_seconds * 0.1, 0.25);

    for (size_t i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
        bench_size(sizes[i], 1, (uint64_t)max_mib << 20);
    }
    bench_size(RUN_PS, RUN_PAGES, (uint64_t)max_mib << 20);
    return 0;
}
