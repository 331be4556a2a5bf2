/*
 * pfs tier: a directory on a POSIX file system shared by processes and
 * nodes (Weka, Lustre, GPFS; any local file system for tests).
 *
 * Layout. Slot s lives in file "p<f>" with f = s / pages_per_file (16 hex
 * digits), at byte (s % pages_per_file) * page_size. Files are created at the
 * first write into their range, so an empty tier costs nothing and a range
 * nobody wrote reads as zeros (missing file, or a hole / past the end).
 * The file "layout" records page_size and pages_per_file; every handle on the
 * directory must agree (the first create writes it, atomically with link(2)).
 *
 * Consistency modes: the table and the rules are in tier.h (dm_store_pfs_mode_t)
 * and docs/decisions/0004-tier-backends.md. How each is made true here:
 *   coherent    write = pwrite + fdatasync (+ fsync of the directory when the
 *               file was new) before returning; read = pread, no cache.
 *               Visibility: pwrite on a POSIX-coherent file system is seen by
 *               every later read, anywhere; durability: the fdatasync.
 *   readcache   write = pwrite (the file is marked unsynced), and the page
 *               goes into the local cache; read = cache, else pread and
 *               cache it. flush = fdatasync of unsynced files (+ directory),
 *               then drop the cache.
 *   writecache  write = into the local cache, dirty; read = cache, else
 *               pread and cache it. flush = write back every dirty frame,
 *               fdatasync those files and the directory, and only then mark
 *               the frames clean; then drop the cache. When every frame is
 *               dirty and one is needed, all dirty frames are written back
 *               and synced the same way (early durability and visibility;
 *               never later than flush).
 * A dirty frame is clean only after the fdatasync covering it succeeded:
 * after a failed fsync the kernel may already have dropped its own dirty
 * copy, so ours is the one to retry.
 *
 * Open files: a small direct-mapped cache of descriptors (at most
 * DM_STORE_PFS_OPEN_FILES open), so a tier of many files does not use up the
 * process's descriptors. Which files were written since their last
 * fdatasync is a bitmap over file numbers, so a file can leave the
 * descriptor cache without a sync; flush reopens it to sync it (fdatasync
 * acts on the inode: it writes pages dirtied through any descriptor; since
 * Linux 4.16 an error no descriptor has seen yet is reported to a new one).
 *
 * Asynchronous operations complete in submit (synchronously) and are
 * reported at poll: buffered I/O to a file system has no useful queue here.
 */
#include "tier_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pfs_cache.h"
#include "status.h"
#include "util.h"

#define DM_STORE_PFS_OPEN_FILES 16u
#define DM_STORE_PFS_LAYOUT     "layout"

typedef struct dm_store_pfs_file {
    uint64_t index;    /* file number */
    int      fd;       /* -1: entry empty */
} dm_store_pfs_file_t;

typedef struct dm_store_pfs {
    dm_store_tier_t     base;
    dm_store_pfs_mode_t mode;
    char               *dir;
    int                 dirfd;
    int                 dir_unsynced; /* a file was created since the last fsync of dirfd */
    uint64_t            ppf;          /* pages per file */
    dm_store_pfs_file_t files[DM_STORE_PFS_OPEN_FILES];
    uint64_t           *unsynced;     /* bit i: file i written since its last fdatasync */
    uint64_t            nfiles;       /* files the capacity spans */
    dm_store_pcache_t   cache;        /* readcache, writecache */
    int                 cached;
} dm_store_pfs_t;

static dm_store_pfs_t *dm_store_pfs_of(dm_store_tier_t *tier)
{
    return (dm_store_pfs_t *)tier;
}

/* ---- files ------------------------------------------------------------ */

static dm_status_t dm_store_pfs_sync_fd(dm_store_pfs_t *p, int fd, const char *what)
{
    while (fdatasync(fd) != 0) {
        if (errno != EINTR) {
            return dm_store_errno_(&p->base, errno, what, UINT64_MAX);
        }
    }
    return DM_OK;
}

static dm_status_t dm_store_pfs_sync_dir(dm_store_pfs_t *p)
{
    if (!p->dir_unsynced) {
        return DM_OK;
    }
    while (fsync(p->dirfd) != 0) {
        if (errno != EINTR) {
            return dm_store_errno_(&p->base, errno, "fsync of the directory", UINT64_MAX);
        }
    }
    p->dir_unsynced = 0;
    return DM_OK;
}

static void dm_store_pfs_mark(dm_store_pfs_t *p, uint64_t index, int unsynced)
{
    if (unsynced) {
        p->unsynced[index / 64] |= 1ull << (index % 64);
    } else {
        p->unsynced[index / 64] &= ~(1ull << (index % 64));
    }
}

/*
 * The open file holding slot. create: make it when missing (a new file
 * marks the directory unsynced). Without create a missing file gives
 * *fd_p = -1 and DM_OK (the range reads as zeros).
 */
static dm_status_t dm_store_pfs_file(dm_store_pfs_t *p, uint64_t slot, int create,
                                     dm_store_pfs_file_t **file_p)
{
    uint64_t index = slot / p->ppf;
    dm_store_pfs_file_t *f = &p->files[index % DM_STORE_PFS_OPEN_FILES];
    char name[32];
    int fd;

    if (f->fd >= 0 && f->index == index) {
        *file_p = f;
        return DM_OK;
    }
    snprintf(name, sizeof(name), "p%016" PRIx64, index);
    fd = openat(p->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        fd = openat(p->dirfd, name, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            p->dir_unsynced = 1;
        } else if (errno == EEXIST) { /* another process made it just now */
            fd = openat(p->dirfd, name, O_RDWR | O_CLOEXEC);
        }
    }
    if (fd < 0) {
        if (errno == ENOENT && !create) {
            *file_p = NULL;
            return DM_OK;
        }
        return dm_error_set(errno == ENOSPC || errno == EDQUOT ? DM_ERR_NO_SPACE : DM_ERR_IO,
                            "tier %s: open %s/%s for slot %llu: %s", p->base.name, p->dir, name,
                            (unsigned long long)slot, strerror(errno));
    }
    if (f->fd >= 0) {
        close(f->fd); /* its unsynced bit stays: flush reopens it */
    }
    f->fd = fd;
    f->index = index;
    *file_p = f;
    return DM_OK;
}

static off_t dm_store_pfs_off(const dm_store_pfs_t *p, uint64_t slot)
{
    return (off_t)((slot % p->ppf) * p->base.page_size);
}

/* pwrite of one page into its file; the file is marked unsynced. */
static dm_status_t dm_store_pfs_file_write(dm_store_pfs_t *p, uint64_t slot, const void *buf)
{
    dm_store_pfs_file_t *f;
    size_t done = 0, ps = p->base.page_size;
    dm_status_t st = dm_store_pfs_file(p, slot, 1, &f);

    if (st != DM_OK) {
        return st;
    }
    while (done < ps) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, ps - done,
                           dm_store_pfs_off(p, slot) + (off_t)done);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return dm_store_errno_(&p->base, r < 0 ? errno : EIO, "write", slot);
        }
        dm_store_pfs_mark(p, f->index, 1);
        done += (size_t)r;
    }
    return DM_OK;
}

/* pread of one page; what no file or no data covers reads as zeros. */
static dm_status_t dm_store_pfs_file_read(dm_store_pfs_t *p, uint64_t slot, void *buf)
{
    dm_store_pfs_file_t *f;
    size_t done = 0, ps = p->base.page_size;
    dm_status_t st = dm_store_pfs_file(p, slot, 0, &f);

    if (st != DM_OK) {
        return st;
    }
    while (f != NULL && done < ps) {
        ssize_t r = pread(f->fd, (char *)buf + done, ps - done,
                          dm_store_pfs_off(p, slot) + (off_t)done);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return dm_store_errno_(&p->base, errno, "read", slot);
        }
        if (r == 0) {
            break;
        }
        done += (size_t)r;
    }
    memset((char *)buf + done, 0, ps - done);
    return DM_OK;
}

/* fdatasync of every file written since its last one, and of the directory. */
static dm_status_t dm_store_pfs_sync_all(dm_store_pfs_t *p)
{
    dm_store_pfs_file_t *f;
    dm_status_t st;

    for (uint64_t w = 0; w < (p->nfiles + 63) / 64; w++) {
        while (p->unsynced[w]) {
            uint64_t index = w * 64 + (uint64_t)__builtin_ctzll(p->unsynced[w]);

            st = dm_store_pfs_file(p, index * p->ppf, 0, &f);
            if (st != DM_OK) {
                return st;
            }
            if (f != NULL) { /* NULL: someone removed it; nothing of ours to sync */
                st = dm_store_pfs_sync_fd(p, f->fd, "flush (fdatasync)");
                if (st != DM_OK) {
                    return st;
                }
            }
            dm_store_pfs_mark(p, index, 0);
        }
    }
    return dm_store_pfs_sync_dir(p);
}

/* ---- writecache write-back -------------------------------------------- */

/*
 * Writes every dirty frame to its file and syncs; frames become clean only
 * when all of that succeeded. On failure every frame stays dirty (a retry
 * writes them again) and nothing the caller gave is lost.
 */
static dm_status_t dm_store_pfs_writeback(dm_store_pfs_t *p)
{
    dm_store_pcache_t *c = &p->cache;
    dm_status_t st;

    if (c->ndirty == 0) {
        return DM_OK;
    }
    for (uint32_t i = 0; i < c->nframes; i++) {
        if (c->frames[i].valid && c->frames[i].dirty) {
            st = dm_store_pfs_file_write(p, c->frames[i].slot, dm_store_pcache_data(c, (int32_t)i));
            if (st != DM_OK) {
                return st;
            }
        }
    }
    st = dm_store_pfs_sync_all(p);
    if (st != DM_OK) {
        return st;
    }
    for (uint32_t i = 0; i < c->nframes; i++) {
        dm_store_pcache_set_dirty(c, (int32_t)i, 0);
    }
    return DM_OK;
}

/* A frame for slot (not cached yet); writes back when every frame is dirty. */
static dm_status_t dm_store_pfs_frame(dm_store_pfs_t *p, uint64_t slot, int32_t *f_p)
{
    int32_t f = dm_store_pcache_victim(&p->cache);

    if (f < 0) {
        dm_status_t st = dm_store_pfs_writeback(p);

        if (st != DM_OK) {
            return st;
        }
        f = dm_store_pcache_victim(&p->cache);
    }
    dm_store_pcache_insert(&p->cache, f, slot);
    *f_p = f;
    return DM_OK;
}

/* ---- operations ------------------------------------------------------- */

static dm_status_t dm_store_pfs_write(dm_store_tier_t *tier, uint64_t slot, const void *buf)
{
    dm_store_pfs_t *p = dm_store_pfs_of(tier);
    dm_store_pfs_file_t *f;
    int32_t fr;
    dm_status_t st;

    switch (p->mode) {
    case DM_STORE_PFS_COHERENT:
        st = dm_store_pfs_file_write(p, slot, buf);
        if (st == DM_OK) {
            st = dm_store_pfs_file(p, slot, 1, &f);
        }
        if (st == DM_OK) {
            st = dm_store_pfs_sync_fd(p, f->fd, "write (fdatasync)");
        }
        if (st == DM_OK) {
            dm_store_pfs_mark(p, f->index, 0);
            st = dm_store_pfs_sync_dir(p);
        }
        return st;
    case DM_STORE_PFS_READCACHE:
        st = dm_store_pfs_file_write(p, slot, buf);
        if (st != DM_OK) {
            return st;
        }
        fr = dm_store_pcache_lookup(&p->cache, slot);
        if (fr < 0 && dm_store_pfs_frame(p, slot, &fr) != DM_OK) {
            return DM_OK; /* cannot happen: readcache frames are clean */
        }
        memcpy(dm_store_pcache_data(&p->cache, fr), buf, tier->page_size);
        return DM_OK;
    case DM_STORE_PFS_WRITECACHE:
        fr = dm_store_pcache_lookup(&p->cache, slot);
        if (fr < 0) {
            st = dm_store_pfs_frame(p, slot, &fr);
            if (st != DM_OK) {
                return st;
            }
        }
        memcpy(dm_store_pcache_data(&p->cache, fr), buf, tier->page_size);
        dm_store_pcache_set_dirty(&p->cache, fr, 1);
        return DM_OK;
    }
    return DM_ERR_INVALID_PARAM;
}

static dm_status_t dm_store_pfs_read(dm_store_tier_t *tier, uint64_t slot, void *buf)
{
    dm_store_pfs_t *p = dm_store_pfs_of(tier);
    int32_t fr;
    dm_status_t st;

    if (!p->cached) {
        return dm_store_pfs_file_read(p, slot, buf);
    }
    fr = dm_store_pcache_lookup(&p->cache, slot);
    if (fr >= 0) {
        memcpy(buf, dm_store_pcache_data(&p->cache, fr), tier->page_size);
        return DM_OK;
    }
    st = dm_store_pfs_file_read(p, slot, buf);
    if (st != DM_OK) {
        return st;
    }
    /* Cache a copy; when no frame can be had (write-back failing) just don't. */
    fr = dm_store_pcache_victim(&p->cache);
    if (fr >= 0) {
        dm_store_pcache_insert(&p->cache, fr, slot);
        memcpy(dm_store_pcache_data(&p->cache, fr), buf, tier->page_size);
    }
    return DM_OK;
}

static dm_status_t dm_store_pfs_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_status_t st = io->op == DM_STORE_OP_WRITE ? dm_store_pfs_write(tier, io->slot, io->buf)
                                                 : dm_store_pfs_read(tier, io->slot, io->buf);

    dm_store_tier_complete_(tier, io, st);
    return DM_OK;
}

static dm_status_t dm_store_pfs_flush(dm_store_tier_t *tier)
{
    dm_store_pfs_t *p = dm_store_pfs_of(tier);
    dm_status_t st;

    if (p->mode == DM_STORE_PFS_WRITECACHE) {
        st = dm_store_pfs_writeback(p);
        if (st == DM_OK) {
            st = dm_store_pfs_sync_all(p); /* nothing was dirty: discards, the directory */
        }
    } else {
        st = dm_store_pfs_sync_all(p);
    }
    if (p->cached) {
        /* Acquire: forget clean copies, so later reads see others' flushed writes. */
        for (uint32_t i = 0; i < p->cache.nframes; i++) {
            if (!p->cache.frames[i].dirty) {
                dm_store_pcache_remove(&p->cache, (int32_t)i);
            }
        }
    }
    return st;
}

static dm_status_t dm_store_pfs_discard(dm_store_tier_t *tier, uint64_t slot)
{
    dm_store_pfs_t *p = dm_store_pfs_of(tier);
    dm_store_pfs_file_t *f;
    dm_status_t st;
    struct stat sb;
    off_t off = dm_store_pfs_off(p, slot);

    if (p->cached) {
        int32_t fr = dm_store_pcache_lookup(&p->cache, slot);

        if (fr >= 0) {
            dm_store_pcache_remove(&p->cache, fr);
        }
    }
    st = dm_store_pfs_file(p, slot, 0, &f);
    if (st != DM_OK || f == NULL) {
        return st;
    }
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
                  (off_t)tier->page_size) != 0) {
        static const char zeros[4096];

        if (errno != EOPNOTSUPP) {
            return dm_store_errno_(tier, errno, "discard (punch hole)", slot);
        }
        /* No holes here: write zeros over what the file holds of the page. */
        if (fstat(f->fd, &sb) == 0 && sb.st_size > off) {
            for (size_t done = 0; done < tier->page_size; done += DM_MIN(sizeof(zeros), tier->page_size - done)) {
                if (pwrite(f->fd, zeros, DM_MIN(sizeof(zeros), tier->page_size - done),
                           off + (off_t)done) < 0) {
                    return dm_store_errno_(tier, errno, "discard (write zeros)", slot);
                }
            }
        }
    }
    dm_store_pfs_mark(p, f->index, 1);
    if (p->mode == DM_STORE_PFS_COHERENT) {
        st = dm_store_pfs_sync_fd(p, f->fd, "discard (fdatasync)");
        if (st == DM_OK) {
            dm_store_pfs_mark(p, f->index, 0);
        }
    }
    return st;
}

/* ---- lifecycle -------------------------------------------------------- */

/*
 * Agrees on the layout with whoever made the directory: reads "layout", or
 * writes it (a temporary file linked into place: exactly one creator wins).
 */
static dm_status_t dm_store_pfs_layout(dm_store_pfs_t *p)
{
    char want[128], have[128], tmp[128], host[64];
    int len, fd;
    ssize_t r;

    len = snprintf(want, sizeof(want), "distmem-pfs 1\npage_size %zu\npages_per_file %" PRIu64 "\n",
                   p->base.page_size, p->ppf);
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = openat(p->dirfd, DM_STORE_PFS_LAYOUT, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            r = read(fd, have, sizeof(have) - 1);
            close(fd);
            if (r < 0) {
                return dm_store_errno_(&p->base, errno, "read the layout file", UINT64_MAX);
            }
            have[r] = '\0';
            if (strcmp(have, want) != 0) {
                return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: %s holds a pfs tier with "
                                    "another layout (its file 'layout' says \"%s\"; this tier "
                                    "has page_size %zu, pages_per_file %" PRIu64 ")",
                                    p->base.name, p->dir, have, p->base.page_size, p->ppf);
            }
            return DM_OK;
        }
        if (errno != ENOENT) {
            return dm_store_errno_(&p->base, errno, "open the layout file", UINT64_MAX);
        }
        /* unique among the nodes sharing the directory: host name and pid */
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "host");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(tmp, sizeof(tmp), "layout.%s.%d.tmp", host, (int)getpid());
        fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            return dm_store_errno_(&p->base, errno, "create the layout file", UINT64_MAX);
        }
        r = write(fd, want, (size_t)len);
        if (r != len || fsync(fd) != 0) {
            int err = r < 0 ? errno : (r != len ? ENOSPC : errno);

            close(fd);
            unlinkat(p->dirfd, tmp, 0);
            return dm_store_errno_(&p->base, err, "write the layout file", UINT64_MAX);
        }
        close(fd);
        if (linkat(p->dirfd, tmp, p->dirfd, DM_STORE_PFS_LAYOUT, 0) == 0) {
            unlinkat(p->dirfd, tmp, 0);
            p->dir_unsynced = 1;
            return dm_store_pfs_sync_dir(p);
        }
        r = errno;
        unlinkat(p->dirfd, tmp, 0);
        if (r != EEXIST) {
            return dm_store_errno_(&p->base, (int)r, "link the layout file", UINT64_MAX);
        }
        /* someone else was first: read theirs */
    }
    return dm_error_set(DM_ERR_IO, "tier %s: the layout file of %s keeps changing", p->base.name,
                        p->dir);
}

static dm_status_t dm_store_pfs_create(const dm_store_tier_params_t *params,
                                       dm_store_tier_t **tier_p)
{
    dm_store_pfs_t *p;
    dm_status_t st;

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
    }
    p->dirfd = -1;
    for (unsigned i = 0; i < DM_STORE_PFS_OPEN_FILES; i++) {
        p->files[i].fd = -1;
    }
    st = dm_store_tier_init_(&p->base, &dm_store_pfs_ops, params);
    if (st != DM_OK) {
        goto err_free;
    }
    p->base.shared = 1;
    p->mode = params->pfs_mode;
    p->ppf  = params->pages_per_file;
    p->dir  = strdup(params->path);
    p->nfiles = (params->capacity + p->ppf - 1) / p->ppf;
    p->unsynced = calloc((size_t)((p->nfiles + 63) / 64), sizeof(uint64_t));
    if (p->dir == NULL || p->unsynced == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
        goto err_cleanup;
    }
    if (mkdir(p->dir, 0755) != 0 && errno != EEXIST) {
        st = dm_store_errno_(&p->base, errno, "mkdir of the directory", UINT64_MAX);
        goto err_cleanup;
    }
    p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        st = dm_store_errno_(&p->base, errno, "open of the directory", UINT64_MAX);
        goto err_cleanup;
    }
    st = dm_store_pfs_layout(p);
    if (st != DM_OK) {
        goto err_close;
    }
    p->cached = p->mode != DM_STORE_PFS_COHERENT;
    if (p->cached) {
        st = dm_store_pcache_init(&p->cache, params->cache_pages, params->page_size);
        if (st != DM_OK) {
            goto err_close;
        }
    }
    if (p->base.distance == 0) {
        p->base.distance = DM_STORE_DISTANCE_PFS;
    }
    *tier_p = &p->base;
    return DM_OK;

err_close:
    close(p->dirfd);
err_cleanup:
    free(p->unsynced);
    free(p->dir);
    dm_store_tier_cleanup_(&p->base);
err_free:
    free(p);
    return st;
}

static void dm_store_pfs_destroy(dm_store_tier_t *tier)
{
    dm_store_pfs_t *p = dm_store_pfs_of(tier);

    for (unsigned i = 0; i < DM_STORE_PFS_OPEN_FILES; i++) {
        if (p->files[i].fd >= 0) {
            close(p->files[i].fd); /* no flush: destroy does not make anything durable */
        }
    }
    if (p->cached) {
        if (p->cache.ndirty > 0) {
            DM_DEBUG("tier %s: %u unflushed pages dropped", tier->name, p->cache.ndirty);
        }
        dm_store_pcache_cleanup(&p->cache);
    }
    close(p->dirfd);
    free(p->unsynced);
    free(p->dir);
    dm_store_tier_cleanup_(tier);
    free(p);
}

const dm_store_tier_ops_t dm_store_pfs_ops = {
    .kind     = DM_STORE_KIND_PFS,
    .create   = dm_store_pfs_create,
    .destroy  = dm_store_pfs_destroy,
    .write    = dm_store_pfs_write,
    .read     = dm_store_pfs_read,
    .submit   = dm_store_pfs_submit,
    .progress = NULL,
    .flush    = dm_store_pfs_flush,
    .discard  = dm_store_pfs_discard,
};
