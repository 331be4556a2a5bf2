/*
 * A full disk. Mounts a 16 MiB ext4 image (loop device; as root), or a 16 MiB
 * tmpfs when loop devices are missing, and fills it through each backend:
 *
 *   nvme FULL prealloc, tier larger than the disk: create fails with
 *     DM_ERR_NO_SPACE and leaves no file behind;
 *   nvme CHUNK prealloc: writes (sync, then async) until DM_ERR_NO_SPACE;
 *     the caller's buffer is untouched, every page written before reads back
 *     intact, discard gives space back and writing works again;
 *   pfs coherent, readcache: writes until DM_ERR_NO_SPACE, the rest intact;
 *   pfs writecache: writes land in the cache; the write that needs a frame
 *     when all are dirty, or the flush, fails with DM_ERR_NO_SPACE; nothing
 *     is lost; after discards free space, flush succeeds and a fresh handle
 *     reads every page.
 *
 * Skips (77) when not root or when neither mount works. Unmounts at exit,
 * also after a failed check.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_test.h"

#define PS      4096u
#define FS_MIB  16
#define SLOTS   8192u /* 32 MiB: twice the file system */

static char *g_dir;
static char g_mnt[4096];
static int g_mounted;

static void unmount_at_exit(void)
{
    if (g_mounted) {
        umount2(g_mnt, MNT_DETACH);
        g_mounted = 0;
    }
    if (g_dir) {
        store_rm_rf(g_dir);
    }
}

static const char *mount_small_fs(void)
{
    char img[4200], cmd[16384];
    int fd;

    snprintf(img, sizeof(img), "%s/fs.img", g_dir);
    snprintf(g_mnt, sizeof(g_mnt), "%s/mnt", g_dir);
    CHECK(mkdir(g_mnt, 0755) == 0, "mkdir %s", g_mnt);
    fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, FS_MIB << 20) == 0, "image %s: %s", img, strerror(errno));
    close(fd);
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1 && "
             "mount -o loop %s %s >/dev/null 2>&1", img, img, g_mnt);
    if (system(cmd) == 0) {
        g_mounted = 1;
        return "ext4 on a loop device";
    }
    if (mount("tmpfs", g_mnt, "tmpfs", 0, "size=16m") == 0) {
        g_mounted = 1;
        return "tmpfs (no loop device)";
    }
    return NULL;
}

/*
 * Commits the file system's journal: ext4 reuses blocks freed by an unlink or
 * a punched hole only after the transaction that freed them committed.
 */
static void commit_fs(void)
{
    int fd = open(g_mnt, O_RDONLY | O_DIRECTORY);

    CHECK(fd >= 0 && syncfs(fd) == 0, "syncfs %s: %s", g_mnt, strerror(errno));
    close(fd);
}

/* Checks slots [0, n) hold generation gen (skipping those in holes[]). */
static void verify(dm_store_tier_t *t, uint64_t n, uint64_t gen, const char *what)
{
    char *buf = store_alloc(PS);

    for (uint64_t s = 0; s < n; s++) {
        CHECK_OK(dm_store_tier_read(t, s, buf));
        CHECK(store_match(buf, PS, s, gen), "%s: slot %llu lost its data after the disk "
              "filled (holds %ld)", what, (unsigned long long)s, store_which(buf, PS, s, 4));
    }
    free(buf);
}

/* Writes slots from 0 until one fails; returns how many succeeded. */
static uint64_t fill(dm_store_tier_t *t, uint64_t gen, const char *what)
{
    char *buf = store_alloc(PS);
    uint64_t s;
    dm_status_t st = DM_OK;

    for (s = 0; s < SLOTS; s++) {
        store_fill(buf, PS, s, gen);
        st = dm_store_tier_write(t, s, buf);
        if (st != DM_OK) {
            break;
        }
    }
    CHECK(st == DM_ERR_NO_SPACE, "%s: after %llu slots: %s: %s", what, (unsigned long long)s,
          dm_status_name(st), dm_last_error());
    CHECK(store_match(buf, PS, s, gen), "%s: the failed write changed the caller's buffer", what);
    printf("%s: %llu pages (%llu KiB) written, then: %s\n", what, (unsigned long long)s,
           (unsigned long long)s * PS / 1024, dm_last_error());
    /* the next writes fail the same way and change nothing */
    for (int i = 1; i <= 3; i++) {
        store_fill(buf, PS, s + (uint64_t)i, gen);
        CHECK_ST(dm_store_tier_write(t, s + (uint64_t)i, buf), DM_ERR_NO_SPACE);
    }
    free(buf);
    return s;
}

static void nvme_full_prealloc(const dm_store_tier_params_t *base)
{
    dm_store_tier_params_t p = *base;
    dm_store_tier_t *t;
    struct stat sb;

    p.prealloc = DM_STORE_PREALLOC_FULL;
    CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_NO_SPACE);
    printf("nvme FULL: create refused: %s\n", dm_last_error());
    CHECK(stat(p.path, &sb) != 0 && errno == ENOENT, "the refused tier left %s behind", p.path);
}

static void nvme_chunk(const dm_store_tier_params_t *base)
{
    dm_store_tier_params_t p = *base;
    dm_store_tier_t *t;
    dm_store_io_t ios[16];
    dm_store_io_t *done[16];
    char *pool = store_alloc(16 * PS), *buf = store_alloc(PS);
    uint64_t n;
    unsigned got = 0, nospace = 0;

    p.prealloc = DM_STORE_PREALLOC_CHUNK;
    CHECK_OK(dm_store_tier_create(&p, &t));
    n = fill(t, 1, "nvme CHUNK");
    CHECK(n > 1000, "only %llu pages fit", (unsigned long long)n);
    verify(t, n, 1, "nvme CHUNK");
    CHECK_OK(dm_store_tier_flush(t));
    CHECK(dm_store_tier_used(t) == n, "used %llu", (unsigned long long)dm_store_tier_used(t));

    /* asynchronous writes past the end: each completes with DM_ERR_NO_SPACE */
    for (unsigned i = 0; i < 16; i++) {
        ios[i] = (dm_store_io_t){ .op = DM_STORE_OP_WRITE, .slot = n + 8 + i,
                                  .buf = pool + i * PS };
        store_fill(ios[i].buf, PS, ios[i].slot, 1);
        CHECK_OK(dm_store_tier_submit(t, &ios[i]));
    }
    while (got < 16) {
        unsigned k;

        CHECK_OK(dm_store_tier_poll(t, 1, done, 16, &k));
        for (unsigned i = 0; i < k; i++) {
            nospace += done[i]->status == DM_ERR_NO_SPACE;
            CHECK(done[i]->status == DM_ERR_NO_SPACE || done[i]->status == DM_OK,
                  "async write: %s", dm_status_name(done[i]->status));
        }
        got += k;
    }
    CHECK(nospace >= 8, "async writes into a full disk: only %u of 16 said NO_SPACE", nospace);
    verify(t, n, 1, "nvme CHUNK after async");

    /* discard gives the blocks back: the same number of new pages fits again */
    for (uint64_t s = 0; s < 64; s++) {
        CHECK_OK(dm_store_tier_discard(t, s));
    }
    for (uint64_t s = 0; s < 64; s++) {
        store_fill(buf, PS, s, 2);
        CHECK_OK(dm_store_tier_write(t, s, buf));
    }
    for (uint64_t s = 0; s < n; s++) {
        CHECK_OK(dm_store_tier_read(t, s, buf));
        CHECK(store_match(buf, PS, s, s < 64 ? 2 : 1), "slot %llu after discard and rewrite",
              (unsigned long long)s);
    }
    dm_store_tier_destroy(t);
    commit_fs();
    free(pool);
    free(buf);
}

static void pfs_write_through(const dm_store_tier_params_t *base, dm_store_pfs_mode_t mode)
{
    dm_store_tier_params_t p = *base;
    dm_store_tier_t *t;
    char what[64];
    uint64_t n;

    p.pfs_mode = mode;
    p.cache_pages = 64;
    snprintf(what, sizeof(what), "pfs %s", dm_store_pfs_mode_name(mode));
    CHECK_OK(dm_store_tier_create(&p, &t));
    n = fill(t, 1, what);
    CHECK(n > 1000, "only %llu pages fit", (unsigned long long)n);
    verify(t, n, 1, what);
    CHECK_OK(dm_store_tier_flush(t));
    verify(t, n, 1, what);
    dm_store_tier_destroy(t);
    store_rm_rf(p.path);
    commit_fs();
}

static void pfs_writecache(const dm_store_tier_params_t *base)
{
    dm_store_tier_params_t p = *base;
    dm_store_tier_t *t;
    char *buf = store_alloc(PS);
    uint64_t n;
    dm_status_t st = DM_OK;

    p.pfs_mode = DM_STORE_PFS_WRITECACHE;
    p.cache_pages = 64;
    CHECK_OK(dm_store_tier_create(&p, &t));
    for (n = 0; n < SLOTS; n++) {
        store_fill(buf, PS, n, 1);
        st = dm_store_tier_write(t, n, buf);
        if (st != DM_OK) {
            break;
        }
    }
    if (st == DM_OK) { /* everything fit in the cache: the flush must fail */
        st = dm_store_tier_flush(t);
    }
    CHECK(st == DM_ERR_NO_SPACE, "pfs writecache: after %llu slots: %s: %s",
          (unsigned long long)n, dm_status_name(st), dm_last_error());
    printf("pfs writecache: %llu pages accepted, then: %s\n", (unsigned long long)n,
           dm_last_error());
    verify(t, n, 1, "pfs writecache (own handle)");
    CHECK_ST(dm_store_tier_flush(t), DM_ERR_NO_SPACE); /* still no space, still nothing lost */
    verify(t, n, 1, "pfs writecache after a failed flush");

    /* free space (holes in the written-back range); the retried flush succeeds */
    for (uint64_t s = 0; s < 512; s++) {
        CHECK_OK(dm_store_tier_discard(t, s));
    }
    CHECK_OK(dm_store_tier_flush(t));
    dm_store_tier_destroy(t);

    CHECK_OK(dm_store_tier_create(&p, &t)); /* a fresh handle: only the files */
    for (uint64_t s = 0; s < n; s++) {
        CHECK_OK(dm_store_tier_read(t, s, buf));
        CHECK(store_match(buf, PS, s, s < 512 ? 0 : 1), "pfs writecache: slot %llu after the "
              "flush (holds %ld)", (unsigned long long)s, store_which(buf, PS, s, 4));
    }
    dm_store_tier_destroy(t);
    store_rm_rf(p.path);
    commit_fs();
    free(buf);
}

int main(void)
{
    int fds0 = store_fd_count();
    const char *fs;
    char path[4200];
    dm_store_tier_params_t p;

    if (geteuid() != 0) {
        store_skip("mounting a small file system needs root");
    }
    g_dir = store_scratch_dir("full");
    atexit(unmount_at_exit);
    fs = mount_small_fs();
    if (fs == NULL) {
        store_skip("neither a loop-mounted ext4 image nor a tmpfs could be mounted");
    }
    printf("a %d MiB %s at %s\n", FS_MIB, fs, g_mnt);

    memset(&p, 0, sizeof(p));
    p.kind = DM_STORE_KIND_NVME;
    p.capacity = SLOTS;
    p.path = path;
    p.field_mask = DM_STORE_PARAM_PATH | DM_STORE_PARAM_PREALLOC;
    snprintf(path, sizeof(path), "%s/nvme.dat", g_mnt);
    nvme_full_prealloc(&p);
    nvme_chunk(&p);

    p.kind = DM_STORE_KIND_PFS;
    p.field_mask = DM_STORE_PARAM_PATH | DM_STORE_PARAM_PFS_MODE | DM_STORE_PARAM_CACHE_PAGES;
    snprintf(path, sizeof(path), "%s/pfs", g_mnt);
    pfs_write_through(&p, DM_STORE_PFS_COHERENT);
    pfs_write_through(&p, DM_STORE_PFS_READCACHE);
    pfs_writecache(&p);

    unmount_at_exit();
    free(g_dir);
    g_dir = NULL;
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("full disk: ok\n");
    return 0;
}
