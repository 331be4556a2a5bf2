/*
 * Throughput of the nvme tier against the alternatives, on one file:
 *   bench_tier PATH [SIZE_MIB [SECONDS [ab]]]
 *
 * Not a test (it is not run by meson test): it prints one JSON object per
 * measurement, for docs/decisions/0004-tier-backends.md:
 *   {"what":"nvme-uring-reg","op":"randread","bs":4096,"qd":32,"iops":...,"mib_s":...}
 * what:
 *   nvme-sync       the tier's synchronous read/write (pread/pwrite, O_DIRECT)
 *   nvme-uring      asynchronous, io_uring, O_DIRECT, fixed file
 *   nvme-uring-reg  the same with the buffers registered (fixed buffers)
 *   buffered-*      the tier with DM_STORE_DIRECT_OFF (page cache), caches
 *                   dropped before (root), so reads come from the disk
 *   mmap            the file mapped, pages copied out (caches dropped first)
 * cpu_us_per_op is this process's user + system CPU time per operation
 * (getrusage): what registered buffers and batching save, and a figure that
 * other load on the machine disturbs less than IOPS.
 * "ab": only 4 KiB random reads at queue depth 32, without and with
 * registered buffers, alternating, 10 pairs of SECONDS each (a paired
 * comparison on a noisy machine).
 *
 * Random operations visit the slots in a random permutation, each at most
 * once per pass (as fio's default random map does), so the page cache of the
 * buffered and mmap runs cannot serve a page twice.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "store_test.h"
#include "util.h"

static const char *g_path;
static uint64_t g_bytes;
static double g_seconds = 5.0;
static uint64_t *g_perm; /* a random permutation of the slots of the current tier */
static uint64_t g_nperm;

static void permute(uint64_t n)
{
    uint64_t seed = 12345;

    free(g_perm);
    g_perm = malloc(n * sizeof(*g_perm));
    CHECK(g_perm != NULL, "no memory");
    g_nperm = n;
    store_shuffle(g_perm, n, &seed);
}

static void drop_caches(void)
{
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

    sync();
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) {
            fprintf(stderr, "bench: cannot drop caches\n");
        }
        close(fd);
    }
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t g_cpu0;

static void report(const char *what, const char *op, size_t bs, unsigned qd, uint64_t ops,
                   uint64_t ns)
{
    double s = (double)ns / 1e9;
    double cpu_us = (double)(cpu_ns() - g_cpu0) / 1e3;

    printf("{\"what\":\"%s\",\"op\":\"%s\",\"bs\":%zu,\"qd\":%u,\"ops\":%llu,\"seconds\":%.3f,"
           "\"iops\":%.0f,\"mib_s\":%.1f,\"cpu_us_per_op\":%.2f}\n", what, op, bs, qd,
           (unsigned long long)ops, s, (double)ops / s, (double)ops * (double)bs / s / 1048576.0,
           ops ? cpu_us / (double)ops : 0.0);
    fflush(stdout);
}

static dm_store_tier_t *make(size_t ps, dm_store_direct_t direct, unsigned qd)
{
    dm_store_tier_params_t p;
    dm_store_tier_t *t;

    memset(&p, 0, sizeof(p));
    p.kind = DM_STORE_KIND_NVME;
    p.capacity = g_bytes / ps;
    p.page_size = ps;
    p.path = g_path;
    p.direct = direct;
    p.queue_depth = qd;
    p.flags = DM_STORE_FLAG_KEEP;
    p.field_mask = DM_STORE_PARAM_PATH | DM_STORE_PARAM_PAGE_SIZE | DM_STORE_PARAM_DIRECT |
                   DM_STORE_PARAM_QUEUE_DEPTH | DM_STORE_PARAM_FLAGS;
    CHECK_OK(dm_store_tier_create(&p, &t));
    return t;
}

/*
 * Runs op at queue depth qd for g_seconds (or once over the tier for
 * sequential ops) and reports. qd 0: the synchronous calls.
 */
static void run(dm_store_tier_t *t, const char *what, dm_store_op_t op, int seq, unsigned qd,
                int reg)
{
    dm_store_tier_info_t info;
    dm_store_io_t *ios, *done[256];
    char *pool;
    unsigned depth = qd ? qd : 1, id = 0, n, in_flight = 0;
    uint64_t ops = 0, next = 0, t0, deadline;

    dm_store_tier_query(t, &info);
    if (!seq && g_nperm != info.capacity) {
        permute(info.capacity);
    }
    pool = store_alloc(depth * info.page_size);
    memset(pool, 0x5a, depth * info.page_size);
    ios = calloc(depth, sizeof(*ios));
    if (reg) {
        CHECK_OK(dm_store_tier_mem_register(t, pool, depth * info.page_size, &id));
    }
    g_cpu0 = cpu_ns();
    t0 = dm_time_ns();
    deadline = t0 + (uint64_t)(g_seconds * 1e9);
    for (;;) {
        int more = next < info.capacity && (seq || dm_time_ns() < deadline);

        if (qd == 0) {
            uint64_t slot = seq ? next : g_perm[next];

            if (!more) {
                break;
            }
            next++;
            CHECK_OK(op == DM_STORE_OP_READ ? dm_store_tier_read(t, slot, pool)
                                            : dm_store_tier_write(t, slot, pool));
            ops++;
            continue;
        }
        while (more && in_flight < qd) {
            dm_store_io_t *io = NULL;

            for (unsigned i = 0; i < qd; i++) { /* a free io */
                if (ios[i].arg == NULL) {
                    io = &ios[i];
                    io->arg = io;
                    io->buf = pool + i * info.page_size;
                    break;
                }
            }
            io->op = op;
            io->slot = seq ? next : g_perm[next];
            next++;
            CHECK_OK(dm_store_tier_submit(t, io));
            in_flight++;
            more = next < info.capacity;
        }
        if (in_flight == 0) {
            break;
        }
        CHECK_OK(dm_store_tier_poll(t, 1, done, 256, &n));
        for (unsigned i = 0; i < n; i++) {
            CHECK(done[i]->status == DM_OK, "%s", dm_last_error());
            done[i]->arg = NULL;
        }
        in_flight -= n;
        ops += n;
    }
    report(what, seq ? (op == DM_STORE_OP_READ ? "seqread" : "seqwrite")
                     : (op == DM_STORE_OP_READ ? "randread" : "randwrite"),
           info.page_size, qd ? qd : 1, ops, dm_time_ns() - t0);
    if (reg) {
        dm_store_tier_mem_unregister(t, id);
    }
    free(ios);
    free(pool);
}

static void run_mmap(size_t ps)
{
    int fd = open(g_path, O_RDONLY);
    char *map, *buf = store_alloc(ps);
    uint64_t ops = 0, pages = g_bytes / ps, t0, deadline;

    CHECK(fd >= 0, "open %s", g_path);
    map = mmap(NULL, g_bytes, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED, "mmap");
    madvise(map, g_bytes, MADV_RANDOM);
    g_cpu0 = cpu_ns();
    t0 = dm_time_ns();
    deadline = t0 + (uint64_t)(g_seconds * 1e9);
    if (g_nperm != pages) {
        permute(pages);
    }
    while (ops < pages && dm_time_ns() < deadline) {
        memcpy(buf, map + g_perm[ops] * ps, ps);
        ops++;
    }
    report("mmap", "randread", ps, 1, ops, dm_time_ns() - t0);
    munmap(map, g_bytes);
    close(fd);
    free(buf);
}

int main(int argc, char **argv)
{
    dm_store_tier_t *t;

    if (argc < 2) {
        fprintf(stderr, "usage: bench_tier PATH [SIZE_MIB [SECONDS]]\n");
        return 2;
    }
    g_path = argv[1];
    g_bytes = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1024) << 20;
    if (argc > 3) {
        g_seconds = strtod(argv[3], NULL);
    }

    if (argc > 4 && strcmp(argv[4], "ab") == 0) {
        t = make(4096, DM_STORE_DIRECT_REQUIRE, 32);
        run(t, "nvme-uring-reg", DM_STORE_OP_WRITE, 1, 32, 1);
        CHECK_OK(dm_store_tier_flush(t));
        for (int i = 0; i < 10; i++) {
            run(t, "nvme-uring", DM_STORE_OP_READ, 0, 32, 0);
            run(t, "nvme-uring-reg", DM_STORE_OP_READ, 0, 32, 1);
        }
        dm_store_tier_destroy(t);
        unlink(g_path);
        free(g_perm);
        return 0;
    }

    /* 4 KiB pages: the tier's unit */
    t = make(4096, DM_STORE_DIRECT_REQUIRE, 32);
    run(t, "nvme-uring-reg", DM_STORE_OP_WRITE, 1, 32, 1);
    CHECK_OK(dm_store_tier_flush(t));
    run(t, "nvme-sync", DM_STORE_OP_READ, 0, 0, 0);
    run(t, "nvme-uring", DM_STORE_OP_READ, 0, 1, 0);
    run(t, "nvme-uring", DM_STORE_OP_READ, 0, 32, 0);
    run(t, "nvme-uring-reg", DM_STORE_OP_READ, 0, 32, 1);
    run(t, "nvme-sync", DM_STORE_OP_WRITE, 0, 0, 0);
    run(t, "nvme-uring-reg", DM_STORE_OP_WRITE, 0, 32, 1);
    run(t, "nvme-uring-reg", DM_STORE_OP_READ, 1, 32, 1);
    CHECK_OK(dm_store_tier_flush(t));
    dm_store_tier_destroy(t);

    /* 128 KiB units: sequential bandwidth */
    t = make(128 << 10, DM_STORE_DIRECT_REQUIRE, 8);
    run(t, "nvme-uring-reg", DM_STORE_OP_WRITE, 1, 8, 1);
    CHECK_OK(dm_store_tier_flush(t));
    run(t, "nvme-uring-reg", DM_STORE_OP_READ, 1, 8, 1);
    dm_store_tier_destroy(t);

    /* the page cache instead of O_DIRECT, and mmap, from a cold cache */
    t = make(4096, DM_STORE_DIRECT_OFF, 32);
    run(t, "buffered", DM_STORE_OP_WRITE, 1, 32, 0);
    CHECK_OK(dm_store_tier_flush(t));
    drop_caches();
    run(t, "buffered-sync", DM_STORE_OP_READ, 0, 0, 0);
    drop_caches();
    run(t, "buffered-uring", DM_STORE_OP_READ, 0, 32, 0);
    dm_store_tier_destroy(t);
    drop_caches();
    run_mmap(4096);
    unlink(g_path);
    free(g_perm);
    return 0;
}
