/*
 * nvme tier: one file on a local disk, read and written with O_DIRECT
 * through io_uring.
 *
 * Data path. Slot s lives at byte s * page_size of the file. Synchronous
 * read/write are one pread/pwrite each (the lowest latency at queue depth 1:
 * no ring round trip); asynchronous operations go through one io_uring with
 * the file registered (a fixed file: no fget/fput per I/O) and, when the
 * buffer lies in memory registered with dm_store_tier_mem_register, a fixed
 * buffer (READ_FIXED/WRITE_FIXED: the kernel pinned the pages once instead of
 * per I/O). submit only prepares a submission queue entry; poll submits all
 * prepared entries with one io_uring_enter and reaps completions, so a mover
 * that submits 32 pages pays one system call. A run (io->npages slots) is
 * one read or write of npages * page_size bytes.
 *
 * Concurrency (tier.h: the handle is concurrent). Synchronous reads and
 * writes are pread/pwrite, safe from any number of threads. The ring has two
 * sides, each under its own lock: sq_lock over the submission queue (get an
 * entry, prepare it, io_uring_submit) and cq_lock over the completion queue
 * (peek, wait, advance); liburing's submit touches only the first and its
 * wait only the second, so a thread waiting for completions never blocks a
 * submitter. Whoever holds cq_lock reaps every completion it finds and
 * hands each to the common layer's done list (dispatch): any poller may
 * return any operation. A poll that must not wait (min_complete 0) only
 * tries cq_lock. Lock order: cq_lock, then sq_lock (a waiter flushes the
 * submission queue before it sleeps); space_lock (chunk reservations) is
 * taken alone.
 *
 * O_DIRECT bypasses the page cache: the tier does not compete with the
 * application for DRAM, which is the point of a spill tier. It needs aligned
 * buffers and page sizes (tier.h). When the file system refuses O_DIRECT
 * (open gives EINVAL: ramfs, tmpfs before Linux 6.6, some FUSE mounts) the
 * tier falls back to buffered I/O with a warning (DM_STORE_DIRECT_AUTO), or
 * fails (DM_STORE_DIRECT_REQUIRE). The alignment rules stay the same.
 *
 * Space. The file's blocks are reserved with fallocate, at create (PREALLOC_
 * FULL: a full disk fails create, never a write) or per 1 MiB chunk at the
 * first write into it (PREALLOC_CHUNK: a full disk fails that write with
 * DM_ERR_NO_SPACE before any data moves; when a whole chunk no longer fits,
 * the single page is tried, so the tier fills the disk to the last page).
 * Writes into reserved blocks do not allocate, so they cannot hit ENOSPC
 * half-way, and a page written before stays intact. In CHUNK mode discard
 * punches the slot's blocks out, giving the space back.
 *
 * Without io_uring (kernel too old, disabled by sysctl or a seccomp filter,
 * as in default Docker) asynchronous operations are done at submit with
 * pread/pwrite and reported at poll, with a warning at create.
 *
 * Durability: a write that completed is on the device, possibly in its
 * volatile cache; flush (fdatasync) makes it durable. The file is scratch
 * space: created and truncated at create, removed at destroy (unless
 * DM_STORE_FLAG_KEEP).
 */
#include "tier_int.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "status.h"
#include "util.h"

#define DM_STORE_NVME_ALIGN      4096u
#define DM_STORE_NVME_CHUNK      (1ul << 20)
#define DM_STORE_NVME_RUN        (1ul << 20) /* bytes one operation may move */

typedef struct dm_store_nvme {
    dm_store_tier_t base;
    int             fd;
    char           *path;
    int             keep;
    /* space */
    int             prealloc_chunk; /* reserve per chunk at first write */
    int             fallocate_ok;   /* 0 once the file system said EOPNOTSUPP */
    uint64_t        chunk_pages;
    uint64_t       *chunks;         /* bit c: chunk c is reserved */
    pthread_mutex_t space_lock;     /* chunks, fallocate_ok (PREALLOC_CHUNK) */
    /* the ring */
    int             ring_up;
    int             fixed_file;     /* fd registered as fixed file 0 */
    int             fixed_bufs;     /* sparse buffer table registered */
    struct io_uring ring;
    pthread_mutex_t sq_lock;        /* the submission side, prepared */
    pthread_mutex_t cq_lock;        /* the completion side */
    uint32_t        prepared;       /* entries prepared, not yet submitted (sq_lock) */
    uint32_t        submitted;      /* given to the kernel, not yet reaped (atomic) */
} dm_store_nvme_t;

/* priv_[0] of an io in the ring: bytes already transferred (partial I/O). */

static dm_store_nvme_t *dm_store_nvme_of(dm_store_tier_t *tier)
{
    return (dm_store_nvme_t *)tier;
}

/* ---- space ------------------------------------------------------------ */

static dm_status_t dm_store_nvme_no_space(dm_store_nvme_t *n, const char *what, uint64_t slot,
                                          uint64_t need)
{
    struct statvfs sv;
    unsigned long long avail = 0;

    if (fstatvfs(n->fd, &sv) == 0) {
        avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    }
    if (slot == UINT64_MAX) {
        return dm_error_set(DM_ERR_NO_SPACE, "tier %s: %s: %llu bytes needed, the file "
                            "system of %s has %llu bytes free", n->base.name, what,
                            (unsigned long long)need, n->path, avail);
    }
    return dm_error_set(DM_ERR_NO_SPACE, "tier %s: %s slot %llu: no space left on the file "
                        "system of %s (%llu bytes free)", n->base.name, what,
                        (unsigned long long)slot, n->path, avail);
}

/* Reserves [off, off + len); 1 when done, 0 when the file system cannot. */
static int dm_store_nvme_fallocate(dm_store_nvme_t *n, uint64_t off, uint64_t len, int *err_p)
{
    int rc;

    do {
        rc = fallocate(n->fd, 0, (off_t)off, (off_t)len);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno == EOPNOTSUPP) {
        DM_WARN("tier %s: the file system of %s cannot preallocate (fallocate: %s); "
                "a full disk will show as write errors", n->base.name, n->path, strerror(errno));
        n->fallocate_ok = 0;
        return 1;
    }
    *err_p = rc != 0 ? errno : 0;
    return rc == 0;
}

/* Makes sure slot's blocks are reserved before data goes there. pre: space_lock. */
static dm_status_t dm_store_nvme_reserve_locked(dm_store_nvme_t *n, uint64_t slot)
{
    uint64_t c, first, count;
    size_t ps = n->base.page_size;
    int err = 0;

    if (!n->fallocate_ok) {
        return DM_OK;
    }
    c = slot / n->chunk_pages;
    if (n->chunks[c / 64] & (1ull << (c % 64))) {
        return DM_OK;
    }
    first = c * n->chunk_pages;
    count = DM_MIN(n->chunk_pages, n->base.capacity - first);
    if (dm_store_nvme_fallocate(n, first * ps, count * ps, &err)) {
        if (n->fallocate_ok) {
            n->chunks[c / 64] |= 1ull << (c % 64);
        }
        return DM_OK;
    }
    if (err != ENOSPC && err != EDQUOT) {
        return dm_store_errno_(&n->base, err, "reserve space (fallocate) for", slot);
    }
    /* The chunk does not fit: the page alone may (the chunk stays unmarked). */
    if (dm_store_nvme_fallocate(n, slot * ps, ps, &err)) {
        return DM_OK;
    }
    if (err == ENOSPC || err == EDQUOT) {
        return dm_store_nvme_no_space(n, "write", slot, ps);
    }
    return dm_store_errno_(&n->base, err, "reserve space (fallocate) for", slot);
}

/* Reserves the blocks of slots [slot, slot + count). */
static dm_status_t dm_store_nvme_reserve(dm_store_nvme_t *n, uint64_t slot, uint32_t count)
{
    dm_status_t st = DM_OK;

    if (!n->prealloc_chunk) {
        return DM_OK;
    }
    pthread_mutex_lock(&n->space_lock);
    for (uint32_t i = 0; i < count && st == DM_OK; i++) {
        st = dm_store_nvme_reserve_locked(n, slot + i);
    }
    pthread_mutex_unlock(&n->space_lock);
    return st;
}

/* ---- synchronous I/O -------------------------------------------------- */

/* Moves the rest of ps bytes from slot's offset, from byte done on; a read
 * past the end of the file gives zeros. */
static dm_status_t dm_store_nvme_rw(dm_store_nvme_t *n, int write, uint64_t slot, void *buf,
                                    size_t ps, size_t done)
{
    off_t off = (off_t)dm_store_slot_offset_(&n->base, slot);
    ssize_t r;

    while (done < ps) {
        if (write) {
            r = pwrite(n->fd, (char *)buf + done, ps - done, off + (off_t)done);
        } else {
            r = pread(n->fd, (char *)buf + done, ps - done, off + (off_t)done);
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOSPC || errno == EDQUOT) {
                return dm_store_nvme_no_space(n, write ? "write" : "read", slot, ps);
            }
            return dm_store_errno_(&n->base, errno, write ? "write" : "read", slot);
        }
        if (r == 0) {
            if (write) {
                return dm_error_set(DM_ERR_IO, "tier %s: write slot %llu: no progress",
                                    n->base.name, (unsigned long long)slot);
            }
            memset((char *)buf + done, 0, ps - done); /* past the end of the file */
            break;
        }
        done += (size_t)r;
    }
    return DM_OK;
}

static dm_status_t dm_store_nvme_write(dm_store_tier_t *tier, uint64_t slot, const void *buf)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    dm_status_t st = dm_store_nvme_reserve(n, slot, 1);

    if (st != DM_OK) {
        return st;
    }
    return dm_store_nvme_rw(n, 1, slot, (void *)buf, tier->page_size, 0);
}

static dm_status_t dm_store_nvme_read(dm_store_tier_t *tier, uint64_t slot, void *buf)
{
    return dm_store_nvme_rw(dm_store_nvme_of(tier), 0, slot, buf, tier->page_size, 0);
}

/* ---- asynchronous I/O ------------------------------------------------- */

static dm_status_t dm_store_nvme_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    int write = io->op == DM_STORE_OP_WRITE;
    struct io_uring_sqe *sqe;
    uint64_t off = dm_store_slot_offset_(tier, io->slot);
    size_t len = (size_t)dm_store_io_pages_(io) * tier->page_size;
    int region, fd;

    if (write) {
        dm_status_t st = dm_store_nvme_reserve(n, io->slot, dm_store_io_pages_(io));

        if (st != DM_OK) {
            dm_store_tier_complete_(tier, io, st);
            return DM_OK;
        }
    }
    if (!n->ring_up) {
        dm_store_tier_complete_(tier, io, dm_store_nvme_rw(n, write, io->slot, io->buf, len, 0));
        return DM_OK;
    }
    fd = n->fixed_file ? 0 : n->fd;
    region = n->fixed_bufs ? dm_store_tier_region_find_(tier, io->buf, len) : -1;
    pthread_mutex_lock(&n->sq_lock);
    sqe = io_uring_get_sqe(&n->ring);
    if (sqe == NULL) {
        /* Cannot happen while the ring has queue_depth entries; be safe. */
        int rc = io_uring_submit(&n->ring);

        if (rc > 0) {
            n->prepared -= DM_MIN((unsigned)rc, n->prepared);
            __atomic_fetch_add(&n->submitted, (uint32_t)rc, __ATOMIC_RELAXED);
        }
        sqe = io_uring_get_sqe(&n->ring);
        if (sqe == NULL) {
            pthread_mutex_unlock(&n->sq_lock);
            return dm_error_set(DM_ERR_BUSY, "tier %s: submission queue full", tier->name);
        }
    }
    if (region >= 0 && write) {
        io_uring_prep_write_fixed(sqe, fd, io->buf, (unsigned)len, off, region);
    } else if (region >= 0) {
        io_uring_prep_read_fixed(sqe, fd, io->buf, (unsigned)len, off, region);
    } else if (write) {
        io_uring_prep_write(sqe, fd, io->buf, (unsigned)len, off);
    } else {
        io_uring_prep_read(sqe, fd, io->buf, (unsigned)len, off);
    }
    if (n->fixed_file) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data(sqe, io);
    io->priv_[0] = 0;
    n->prepared++;
    pthread_mutex_unlock(&n->sq_lock);
    return DM_OK;
}

/* Gives the prepared entries to the kernel. Takes sq_lock. */
static int dm_store_nvme_flush_sq(dm_store_nvme_t *n)
{
    int rc = 0;

    pthread_mutex_lock(&n->sq_lock);
    if (n->prepared > 0) {
        rc = io_uring_submit(&n->ring);
        if (rc > 0) {
            n->prepared -= DM_MIN((unsigned)rc, n->prepared);
            __atomic_fetch_add(&n->submitted, (uint32_t)rc, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&n->sq_lock);
    return rc;
}

/* One completion: done, or a partial transfer finished synchronously. pre: cq_lock. */
static void dm_store_nvme_reap_one(dm_store_nvme_t *n, struct io_uring_cqe *cqe)
{
    dm_store_io_t *io = io_uring_cqe_get_data(cqe);
    int write = io->op == DM_STORE_OP_WRITE;
    size_t len = (size_t)dm_store_io_pages_(io) * n->base.page_size;
    int res = cqe->res;
    dm_status_t st;

    __atomic_fetch_sub(&n->submitted, 1, __ATOMIC_RELAXED);
    if (res < 0) {
        int err = -res;

        if (err == ENOSPC || err == EDQUOT) {
            st = dm_store_nvme_no_space(n, write ? "write" : "read", io->slot, len);
        } else if (err == EAGAIN || err == EINTR) {
            st = dm_store_nvme_rw(n, write, io->slot, io->buf, len, 0);
        } else {
            st = dm_store_errno_(&n->base, err, write ? "write" : "read", io->slot);
        }
    } else if ((size_t)res == len) {
        st = DM_OK;
    } else {
        /* Short transfer (end of file, or the device split it): finish here. */
        st = dm_store_nvme_rw(n, write, io->slot, io->buf, len, (size_t)res);
    }
    dm_store_tier_complete_(&n->base, io, st);
}

/* Reaps every completion there is. pre: cq_lock. */
static unsigned dm_store_nvme_reap(dm_store_nvme_t *n)
{
    struct io_uring_cqe *cqe;
    unsigned reaped = 0;

    while (io_uring_peek_cqe(&n->ring, &cqe) == 0) {
        dm_store_nvme_reap_one(n, cqe);
        io_uring_cqe_seen(&n->ring, cqe);
        reaped++;
    }
    return reaped;
}

static dm_status_t dm_store_nvme_progress(dm_store_tier_t *tier, unsigned min_complete)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    struct io_uring_cqe *cqe;
    unsigned reaped = 0;
    int rc;

    if (!n->ring_up) {
        return DM_OK; /* everything completed in submit */
    }
    dm_store_nvme_flush_sq(n);
    if (min_complete == 0) {
        if (pthread_mutex_trylock(&n->cq_lock) != 0) {
            return DM_OK; /* another thread reaps: it dispatches ours too */
        }
    } else {
        pthread_mutex_lock(&n->cq_lock);
    }
    for (;;) {
        unsigned want;

        reaped += dm_store_nvme_reap(n);
        if (reaped >= min_complete) {
            break;
        }
        /* wait only for what the kernel has (others may have reaped ours) */
        dm_store_nvme_flush_sq(n);
        want = DM_MIN(min_complete - reaped,
                      __atomic_load_n(&n->submitted, __ATOMIC_RELAXED));
        if (want == 0) {
            break;
        }
        rc = io_uring_wait_cqe_nr(&n->ring, &cqe, want);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            pthread_mutex_unlock(&n->cq_lock);
            return dm_store_errno_(tier, -rc, "io_uring_enter", UINT64_MAX);
        }
    }
    pthread_mutex_unlock(&n->cq_lock);
    return DM_OK;
}

/* ---- registration ----------------------------------------------------- */

static dm_status_t dm_store_nvme_mem_register(dm_store_tier_t *tier, unsigned id, void *addr,
                                              size_t len)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    struct iovec iov = { .iov_base = addr, .iov_len = len };
    int rc;

    if (!n->fixed_bufs) {
        return DM_OK; /* plain reads and writes work on it */
    }
    rc = io_uring_register_buffers_update_tag(&n->ring, id, &iov, NULL, 1);
    if (rc < 0) {
        if (rc == -ENOMEM) {
            return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: cannot pin %zu bytes for io_uring "
                                "(RLIMIT_MEMLOCK?): %s", tier->name, len, strerror(-rc));
        }
        return dm_store_errno_(tier, -rc, "register buffer", UINT64_MAX);
    }
    return DM_OK;
}

static void dm_store_nvme_mem_unregister(dm_store_tier_t *tier, unsigned id)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    struct iovec iov = { .iov_base = NULL, .iov_len = 0 };

    if (n->fixed_bufs) {
        io_uring_register_buffers_update_tag(&n->ring, id, &iov, NULL, 1);
    }
}

/* ---- lifecycle -------------------------------------------------------- */

static int dm_store_nvme_open(dm_store_nvme_t *n, const dm_store_tier_params_t *params,
                              dm_status_t *st_p)
{
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd;

    if (params->direct != DM_STORE_DIRECT_OFF) {
        fd = open(params->path, flags | O_DIRECT, 0600);
        if (fd >= 0) {
            n->base.direct = 1;
            return fd;
        }
        if (errno != EINVAL) {
            *st_p = dm_store_errno_(&n->base, errno, params->path, UINT64_MAX);
            return -1;
        }
        if (params->direct == DM_STORE_DIRECT_REQUIRE) {
            *st_p = dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: the file system of %s does not "
                                 "support O_DIRECT (open: EINVAL); put the tier on a disk "
                                 "file system or allow buffered I/O (direct=auto)",
                                 n->base.name, params->path);
            return -1;
        }
        DM_WARN("tier %s: the file system of %s does not support O_DIRECT (open: EINVAL); "
                "using buffered I/O through the page cache", n->base.name, params->path);
    }
    fd = open(params->path, flags, 0600);
    if (fd < 0) {
        *st_p = dm_store_errno_(&n->base, errno, params->path, UINT64_MAX);
    }
    return fd;
}

/* Buffer alignment: 4 KiB, or what the file system asks when more. */
static void dm_store_nvme_align(dm_store_nvme_t *n)
{
    size_t align = DM_STORE_NVME_ALIGN;
#ifdef STATX_DIOALIGN
    struct statx sx;

    if (statx(n->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN)) {
        align = DM_MAX(align, (size_t)sx.stx_dio_mem_align);
        if (sx.stx_dio_offset_align > n->base.page_size) {
            DM_WARN("tier %s: %s wants direct I/O offsets aligned to %u bytes, more than the "
                    "page size %zu", n->base.name, n->path, sx.stx_dio_offset_align,
                    n->base.page_size);
        }
    }
#endif
    n->base.buf_align = align;
}

static void dm_store_nvme_ring_init(dm_store_nvme_t *n)
{
    int rc = io_uring_queue_init(n->base.queue_depth, &n->ring, 0);

    if (rc < 0) {
        DM_WARN("tier %s: io_uring unavailable (%s); asynchronous operations run "
                "synchronously", n->base.name, strerror(-rc));
        return;
    }
    n->ring_up = 1;
    n->base.io_uring = 1;
    rc = io_uring_register_files(&n->ring, &n->fd, 1);
    n->fixed_file = rc == 0;
    if (rc < 0) {
        DM_INFO("tier %s: io_uring fixed file unavailable: %s", n->base.name, strerror(-rc));
    }
    rc = io_uring_register_buffers_sparse(&n->ring, DM_STORE_MAX_REGIONS);
    n->fixed_bufs = rc == 0;
    if (rc < 0) {
        DM_INFO("tier %s: io_uring registered buffers unavailable: %s", n->base.name,
                strerror(-rc));
    }
}

static dm_status_t dm_store_nvme_create(const dm_store_tier_params_t *params,
                                        dm_store_tier_t **tier_p)
{
    dm_store_nvme_t *n;
    uint64_t bytes = params->capacity * params->page_size;
    uint64_t nchunks;
    dm_status_t st;
    int err = 0;

    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
    }
    n->fd = -1;
    st = dm_store_tier_init_(&n->base, &dm_store_nvme_ops, params);
    if (st != DM_OK) {
        goto err_free;
    }
    pthread_mutex_init(&n->space_lock, NULL);
    pthread_mutex_init(&n->sq_lock, NULL);
    pthread_mutex_init(&n->cq_lock, NULL);
    n->base.concurrent = 1;
    n->base.max_io_pages = (uint32_t)DM_MAX(1, DM_STORE_NVME_RUN / params->page_size);
    n->path = strdup(params->path);
    n->chunk_pages = DM_MAX(1, DM_STORE_NVME_CHUNK / params->page_size);
    nchunks = (params->capacity + n->chunk_pages - 1) / n->chunk_pages;
    n->chunks = calloc((size_t)((nchunks + 63) / 64), sizeof(uint64_t));
    if (n->path == NULL || n->chunks == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
        goto err_cleanup;
    }
    n->keep = (params->flags & DM_STORE_FLAG_KEEP) != 0;
    n->fd = dm_store_nvme_open(n, params, &st);
    if (n->fd < 0) {
        goto err_cleanup;
    }
    dm_store_nvme_align(n);
    n->fallocate_ok = 1;
    n->prealloc_chunk = params->prealloc == DM_STORE_PREALLOC_CHUNK;
    if (!n->prealloc_chunk && !dm_store_nvme_fallocate(n, 0, bytes, &err)) {
        if (err == ENOSPC || err == EDQUOT) {
            if (ftruncate(n->fd, 0) != 0) { /* give back what the failed fallocate took */
                DM_DEBUG("tier %s: ftruncate: %s", n->base.name, strerror(errno));
            }
            st = dm_store_nvme_no_space(n, "preallocate the tier", UINT64_MAX, bytes);
        } else {
            st = dm_store_errno_(&n->base, err, "preallocate (fallocate)", UINT64_MAX);
        }
        goto err_close;
    }
    dm_store_nvme_ring_init(n);
    if (n->base.distance == 0) {
        n->base.distance = DM_STORE_DISTANCE_NVME;
    }
    *tier_p = &n->base;
    return DM_OK;

err_close:
    close(n->fd);
    unlink(n->path);
err_cleanup:
    free(n->chunks);
    free(n->path);
    pthread_mutex_destroy(&n->space_lock);
    pthread_mutex_destroy(&n->sq_lock);
    pthread_mutex_destroy(&n->cq_lock);
    dm_store_tier_cleanup_(&n->base);
err_free:
    free(n);
    return st;
}

static void dm_store_nvme_destroy(dm_store_tier_t *tier)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);

    if (n->ring_up) {
        /* Unregistering is synchronous; the ring's own teardown is not (a
         * kernel worker), and a file it still held would keep its blocks
         * allocated after the unlink below for a while. */
        if (n->fixed_file) {
            io_uring_unregister_files(&n->ring);
        }
        if (n->fixed_bufs) {
            io_uring_unregister_buffers(&n->ring);
        }
        io_uring_queue_exit(&n->ring);
    }
    close(n->fd);
    if (!n->keep) {
        unlink(n->path);
    }
    free(n->chunks);
    free(n->path);
    pthread_mutex_destroy(&n->space_lock);
    pthread_mutex_destroy(&n->sq_lock);
    pthread_mutex_destroy(&n->cq_lock);
    dm_store_tier_cleanup_(tier);
    free(n);
}

static dm_status_t dm_store_nvme_flush(dm_store_tier_t *tier)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);

    while (fdatasync(n->fd) != 0) {
        if (errno != EINTR) {
            if (errno == ENOSPC || errno == EDQUOT) {
                return dm_store_nvme_no_space(n, "flush", UINT64_MAX, 0);
            }
            return dm_store_errno_(tier, errno, "flush (fdatasync)", UINT64_MAX);
        }
    }
    return DM_OK;
}

static dm_status_t dm_store_nvme_discard(dm_store_tier_t *tier, uint64_t slot)
{
    dm_store_nvme_t *n = dm_store_nvme_of(tier);
    uint64_t c = slot / n->chunk_pages;

    /* FULL keeps its reservation; CHUNK gives the blocks back. */
    if (!n->prealloc_chunk) {
        return DM_OK;
    }
    pthread_mutex_lock(&n->space_lock);
    if (n->fallocate_ok &&
        fallocate(n->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)dm_store_slot_offset_(tier, slot), (off_t)tier->page_size) == 0) {
        n->chunks[c / 64] &= ~(1ull << (c % 64)); /* the chunk has a hole now */
    }
    pthread_mutex_unlock(&n->space_lock);
    return DM_OK;
}

const dm_store_tier_ops_t dm_store_nvme_ops = {
    .kind           = DM_STORE_KIND_NVME,
    .create         = dm_store_nvme_create,
    .destroy        = dm_store_nvme_destroy,
    .write          = dm_store_nvme_write,
    .read           = dm_store_nvme_read,
    .submit         = dm_store_nvme_submit,
    .progress       = dm_store_nvme_progress,
    .flush          = dm_store_nvme_flush,
    .discard        = dm_store_nvme_discard,
    .mem_register   = dm_store_nvme_mem_register,
    .mem_unregister = dm_store_nvme_mem_unregister,
};
