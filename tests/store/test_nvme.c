/*
 * What only the nvme tier does (test_tier checks the common contract):
 *   - parameters: page sizes that are not 4 KiB multiples, no path, a missing
 *     directory (DM_ERR_IO naming the errno), capacity 0;
 *   - O_DIRECT in use on the build's disk, buffers 4 KiB aligned;
 *   - preallocation: FULL reserves capacity at create; CHUNK reserves per
 *     1 MiB as written and discard punches the blocks out again;
 *   - large pages (64 KiB) through sync, async and registered memory;
 *   - DM_STORE_FLAG_KEEP keeps the file, the default removes it;
 *   - a file system that refuses O_DIRECT (ramfs, mounted here as root):
 *     DIRECT_AUTO falls back to buffered I/O and works, DIRECT_REQUIRE says
 *     DM_ERR_UNSUPPORTED; skipped (with a message) when ramfs cannot be mounted.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_test.h"
#include "util.h"

static char *g_dir;
static char g_ramfs[4200];
static int g_ramfs_mounted;

static void at_exit(void)
{
    if (g_ramfs_mounted) {
        umount2(g_ramfs, MNT_DETACH);
    }
    if (g_dir) {
        store_rm_rf(g_dir);
    }
}

static dm_store_tier_params_t params(const char *path, uint64_t capacity)
{
    dm_store_tier_params_t p;

    memset(&p, 0, sizeof(p));
    p.kind = DM_STORE_KIND_NVME;
    p.capacity = capacity;
    p.path = path;
    p.field_mask = DM_STORE_PARAM_PATH;
    return p;
}

/* Sync and async round trip of n pages (async through registered memory when reg). */
static void round_trip(dm_store_tier_t *t, uint64_t n, int reg)
{
    dm_store_tier_info_t info;
    char *pool, *buf;
    dm_store_io_t ios[8], *done[8];
    unsigned id = 0, k;

    dm_store_tier_query(t, &info);
    pool = store_alloc(8 * info.page_size);
    memset(pool, 0, 8 * info.page_size); /* valgrind does not see io_uring fill it */
    buf = store_alloc(info.page_size);
    if (reg) {
        CHECK_OK(dm_store_tier_mem_register(t, pool, 8 * info.page_size, &id));
    }
    for (uint64_t s = 0; s < n; s++) {
        store_fill(buf, info.page_size, s, 1);
        CHECK_OK(dm_store_tier_write(t, s, buf));
    }
    for (uint64_t s = 0; s < n; s += 8) {
        for (unsigned i = 0; i < 8 && s + i < n; i++) {
            ios[i] = (dm_store_io_t){ .op = DM_STORE_OP_READ, .slot = s + i,
                                      .buf = pool + i * info.page_size };
            CHECK_OK(dm_store_tier_submit(t, &ios[i]));
        }
        for (unsigned want = (unsigned)DM_MIN(8u, n - s); want > 0; want -= k) {
            CHECK_OK(dm_store_tier_poll(t, want, done, 8, &k));
            for (unsigned i = 0; i < k; i++) {
                CHECK(done[i]->status == DM_OK, "async read: %s", dm_last_error());
                CHECK(store_match(done[i]->buf, info.page_size, done[i]->slot, 1),
                      "async read of slot %llu", (unsigned long long)done[i]->slot);
            }
        }
    }
    for (uint64_t s = 0; s < n; s++) {
        CHECK_OK(dm_store_tier_read(t, s, buf));
        CHECK(store_match(buf, info.page_size, s, 1), "slot %llu", (unsigned long long)s);
    }
    CHECK_OK(dm_store_tier_flush(t));
    if (reg) {
        dm_store_tier_mem_unregister(t, id);
    }
    free(pool);
    free(buf);
}

static void test_params(const char *path)
{
    dm_store_tier_params_t p = params(path, 16);
    dm_store_tier_t *t;
    char missing[4300];

    p.field_mask |= DM_STORE_PARAM_PAGE_SIZE;
    p.page_size = 2048;
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM);
    CHECK(strstr(dm_last_error(), "4 KiB") != NULL, "message: %s", dm_last_error());
    p.page_size = 12288;
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM); /* not a power of two */
    p = params(NULL, 16);
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM);
    p = params(path, 0);
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM);
    p = params(path, 16);
    p.field_mask |= DM_STORE_PARAM_QUEUE_DEPTH;
    p.queue_depth = 0;
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM);
    snprintf(missing, sizeof(missing), "%s/no/such/dir/tier.dat", g_dir);
    p = params(missing, 16);
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_IO);
    CHECK(strstr(dm_last_error(), "No such file") != NULL, "message: %s", dm_last_error());
    CHECK_ST(dm_store_tier_create(NULL, &t), DM_ERR_INVALID_PARAM);
}

static void test_prealloc(const char *path)
{
    dm_store_tier_params_t p = params(path, 1024); /* 4 MiB */
    dm_store_tier_t *t;
    dm_store_tier_info_t info;
    struct stat sb;
    char *buf = store_alloc(4096);

    CHECK_OK(dm_store_tier_create(&p, &t));
    dm_store_tier_query(t, &info);
    {
        int probe = open(path, O_RDONLY | O_DIRECT); /* does this file system take O_DIRECT? */

        CHECK(info.direct == (probe >= 0), "O_DIRECT in use: %d, possible: %d", info.direct,
              probe >= 0);
        if (probe >= 0) {
            close(probe);
        }
    }
    CHECK(info.buf_align >= 4096 && info.buf_align % 4096 == 0, "alignment %zu", info.buf_align);
    CHECK(stat(path, &sb) == 0 && sb.st_size == 1024 * 4096 &&
          (uint64_t)sb.st_blocks * 512 >= 1024 * 4096, "FULL: size %lld, %lld blocks",
          (long long)sb.st_size, (long long)sb.st_blocks);
    dm_store_tier_destroy(t);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT, "destroy left %s", path);

    p.prealloc = DM_STORE_PREALLOC_CHUNK;
    p.field_mask |= DM_STORE_PARAM_PREALLOC;
    CHECK_OK(dm_store_tier_create(&p, &t));
    CHECK(stat(path, &sb) == 0 && sb.st_blocks == 0, "CHUNK: %lld blocks at create",
          (long long)sb.st_blocks);
    store_fill(buf, 4096, 300, 1);
    CHECK_OK(dm_store_tier_write(t, 300, buf)); /* chunk 1 (slots 256..511) */
    CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_blocks * 512 == 1u << 20,
          "CHUNK: %lld blocks after one write", (long long)sb.st_blocks);
    CHECK_OK(dm_store_tier_discard(t, 300));
    CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_blocks * 512 <= (1u << 20) - 4096,
          "CHUNK: %lld blocks after discard", (long long)sb.st_blocks);
    CHECK_OK(dm_store_tier_write(t, 300, buf));
    CHECK_OK(dm_store_tier_read(t, 300, buf));
    CHECK(store_match(buf, 4096, 300, 1), "slot 300 after discard and rewrite");
    dm_store_tier_destroy(t);
    free(buf);
}

static void test_big_pages_and_keep(const char *path)
{
    dm_store_tier_params_t p = params(path, 64);
    dm_store_tier_t *t;
    struct stat sb;

    p.page_size = 65536;
    p.flags = DM_STORE_FLAG_KEEP;
    p.field_mask |= DM_STORE_PARAM_PAGE_SIZE | DM_STORE_PARAM_FLAGS;
    CHECK_OK(dm_store_tier_create(&p, &t));
    round_trip(t, 64, 0);
    round_trip(t, 64, 1);
    dm_store_tier_destroy(t);
    CHECK(stat(path, &sb) == 0 && sb.st_size == 64 * 65536, "KEEP: the file is gone");
    unlink(path);
}

static void test_no_direct(void)
{
    char path[4300];
    dm_store_tier_params_t p;
    dm_store_tier_t *t;
    dm_store_tier_info_t info;

    snprintf(g_ramfs, sizeof(g_ramfs), "%s/ramfs", g_dir);
    CHECK(mkdir(g_ramfs, 0755) == 0, "mkdir");
    if (geteuid() != 0 || mount("ramfs", g_ramfs, "ramfs", 0, NULL) != 0) {
        printf("SKIP part: O_DIRECT fallback: cannot mount a ramfs (%s)\n",
               geteuid() != 0 ? "not root" : strerror(errno));
        return;
    }
    g_ramfs_mounted = 1;
    snprintf(path, sizeof(path), "%s/tier.dat", g_ramfs);
    p = params(path, 256);
    p.direct = DM_STORE_DIRECT_REQUIRE;
    p.field_mask |= DM_STORE_PARAM_DIRECT;
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_UNSUPPORTED);
    CHECK(strstr(dm_last_error(), "O_DIRECT") != NULL, "message: %s", dm_last_error());
    printf("DIRECT_REQUIRE on ramfs: %s\n", dm_last_error());

    p.direct = DM_STORE_DIRECT_AUTO; /* falls back, with a warning on stderr */
    CHECK_OK(dm_store_tier_create(&p, &t));
    dm_store_tier_query(t, &info);
    CHECK(info.direct == 0 && info.buf_align == 4096, "fallback: direct %d align %zu",
          info.direct, info.buf_align);
    round_trip(t, 256, 1);
    dm_store_tier_destroy(t);

    umount2(g_ramfs, 0);
    g_ramfs_mounted = 0;
}

int main(void)
{
    int fds0 = store_fd_count();
    char path[4200];

    g_dir = store_scratch_dir("nvme-x");
    atexit(at_exit);
    snprintf(path, sizeof(path), "%s/tier.dat", g_dir);
    test_params(path);
    test_prealloc(path);
    test_big_pages_and_keep(path);
    test_no_direct();
    at_exit();
    free(g_dir);
    g_dir = NULL;
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("nvme: ok\n");
    return 0;
}
