/*
 * The common layer of the tier backends: argument checks, defaults, and the
 * bookkeeping every backend shares (which slots hold data, what is in flight,
 * operations that completed at once). Backends see only checked calls
 * (the pre: conditions in tier.h).
 */
#include "tier_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "util.h"

#define DM_STORE_PAGE_SIZE_DEFAULT   4096u
#define DM_STORE_PAGE_SIZE_MAX       (1u << 30)
#define DM_STORE_QUEUE_DEPTH_DEFAULT 64u
#define DM_STORE_QUEUE_DEPTH_MAX     4096u
#define DM_STORE_PAGES_PER_FILE_DEFAULT 256u
#define DM_STORE_CACHE_PAGES_DEFAULT 1024u
#define DM_STORE_REGION_MAX_LEN      (1ul << 30)

static const char *const dm_store_kind_names[] = {
    [DM_STORE_KIND_DRAM] = "dram",
    [DM_STORE_KIND_NVME] = "nvme",
    [DM_STORE_KIND_PFS]  = "pfs",
    [DM_STORE_KIND_GPU]  = "gpu",
};

static const char *const dm_store_pfs_mode_names[] = {
    [DM_STORE_PFS_COHERENT]   = "coherent",
    [DM_STORE_PFS_READCACHE]  = "readcache",
    [DM_STORE_PFS_WRITECACHE] = "writecache",
};

const char *dm_store_kind_name(dm_store_kind_t kind)
{
    if ((unsigned)kind < DM_ARRAY_SIZE(dm_store_kind_names) && dm_store_kind_names[kind]) {
        return dm_store_kind_names[kind];
    }
    return "?";
}

const char *dm_store_pfs_mode_name(dm_store_pfs_mode_t mode)
{
    if ((unsigned)mode < DM_ARRAY_SIZE(dm_store_pfs_mode_names)) {
        return dm_store_pfs_mode_names[mode];
    }
    return "?";
}

dm_status_t dm_store_kind_parse(const char *text, dm_store_kind_t *kind_p)
{
    for (unsigned i = 0; text && i < DM_ARRAY_SIZE(dm_store_kind_names); i++) {
        if (dm_store_kind_names[i] && strcmp(text, dm_store_kind_names[i]) == 0) {
            *kind_p = (dm_store_kind_t)i;
            return DM_OK;
        }
    }
    return dm_error_set(DM_ERR_INVALID_PARAM, "unknown tier kind '%s' (dram, nvme, pfs, gpu)",
                        text ? text : "(null)");
}

dm_status_t dm_store_pfs_mode_parse(const char *text, dm_store_pfs_mode_t *mode_p)
{
    for (unsigned i = 0; text && i < DM_ARRAY_SIZE(dm_store_pfs_mode_names); i++) {
        if (strcmp(text, dm_store_pfs_mode_names[i]) == 0) {
            *mode_p = (dm_store_pfs_mode_t)i;
            return DM_OK;
        }
    }
    return dm_error_set(DM_ERR_INVALID_PARAM,
                        "unknown pfs mode '%s' (coherent, readcache, writecache)",
                        text ? text : "(null)");
}

/* ---- held slots ------------------------------------------------------- */

/* Atomic: synchronous writes of several threads set bits of one word. */
static inline int dm_store_held(const dm_store_tier_t *tier, uint64_t slot)
{
    return (int)((__atomic_load_n(&tier->held[slot / 64], __ATOMIC_ACQUIRE) >> (slot % 64)) & 1u);
}

static inline void dm_store_held_set(dm_store_tier_t *tier, uint64_t slot)
{
    uint64_t bit = 1ull << (slot % 64);

    if (!(__atomic_fetch_or(&tier->held[slot / 64], bit, __ATOMIC_ACQ_REL) & bit)) {
        __atomic_fetch_add(&tier->used, 1, __ATOMIC_RELAXED);
    }
}

static inline void dm_store_held_clear(dm_store_tier_t *tier, uint64_t slot)
{
    uint64_t bit = 1ull << (slot % 64);

    if (__atomic_fetch_and(&tier->held[slot / 64], ~bit, __ATOMIC_ACQ_REL) & bit) {
        __atomic_fetch_sub(&tier->used, 1, __ATOMIC_RELAXED);
    }
}

/* 1 when some slot of [slot, slot + n) holds data. */
static int dm_store_held_any(const dm_store_tier_t *tier, uint64_t slot, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (dm_store_held(tier, slot + i)) {
            return 1;
        }
    }
    return 0;
}

/* ---- for backends ----------------------------------------------------- */

dm_status_t dm_store_tier_init_(dm_store_tier_t *tier, const dm_store_tier_ops_t *ops,
                                const dm_store_tier_params_t *params)
{
    tier->ops         = ops;
    tier->kind        = params->kind;
    tier->page_size   = params->page_size;
    tier->capacity    = params->capacity;
    tier->distance    = params->distance;
    tier->queue_depth = params->queue_depth;
    tier->buf_align   = 1;
    tier->numa_node   = -1;
    tier->max_io_pages = 1;
    snprintf(tier->name, sizeof(tier->name), "%s", params->name);
    tier->held = calloc((size_t)((params->capacity + 63) / 64), sizeof(uint64_t));
    if (tier->held == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the map of %llu slots",
                            params->name, (unsigned long long)params->capacity);
    }
    pthread_mutex_init(&tier->lock, NULL);
    tier->lock_up = 1;
    return DM_OK;
}

void dm_store_tier_cleanup_(dm_store_tier_t *tier)
{
    free(tier->held);
    tier->held = NULL;
    if (tier->lock_up) {
        pthread_mutex_destroy(&tier->lock);
        tier->lock_up = 0;
    }
}

void dm_store_tier_complete_(dm_store_tier_t *tier, dm_store_io_t *io, dm_status_t status)
{
    uint32_t n = dm_store_io_pages_(io);

    if (status == DM_OK && io->op == DM_STORE_OP_WRITE) {
        for (uint32_t i = 0; i < n; i++) {
            dm_store_held_set(tier, io->slot + i);
        }
    } else if (status == DM_OK && n > 1 && !tier->shared) {
        for (uint32_t i = 0; i < n; i++) { /* slots without data read as zeros */
            if (!dm_store_held(tier, io->slot + i)) {
                memset((char *)io->buf + (size_t)i * tier->page_size, 0, tier->page_size);
            }
        }
    }
    pthread_mutex_lock(&tier->lock);
    io->status = status;
    io->next_  = NULL;
    if (tier->done_tail) {
        tier->done_tail->next_ = io;
    } else {
        tier->done_head = io;
    }
    tier->done_tail = io;
    tier->ndone++;
    pthread_mutex_unlock(&tier->lock);
}

int dm_store_tier_region_find_(const dm_store_tier_t *tier, const void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr;
    uint64_t mask = tier->region_mask;

    while (mask) {
        int i = __builtin_ctzll(mask);

        mask &= mask - 1;
        if (a >= tier->regions[i].addr && a + len <= tier->regions[i].addr + tier->regions[i].len) {
            return i;
        }
    }
    return -1;
}

dm_status_t dm_store_errno_(const dm_store_tier_t *tier, int err, const char *what, uint64_t slot)
{
    dm_status_t st;

    switch (err) {
    case ENOSPC:
    case EDQUOT:
        st = DM_ERR_NO_SPACE;
        break;
    case ENOMEM:
        st = DM_ERR_NO_MEMORY;
        break;
    default:
        st = DM_ERR_IO;
        break;
    }
    if (slot == UINT64_MAX) {
        return dm_error_set(st, "tier %s: %s: %s", tier->name, what, strerror(err));
    }
    return dm_error_set(st, "tier %s: %s slot %llu: %s", tier->name, what,
                        (unsigned long long)slot, strerror(err));
}

/* ---- the API ---------------------------------------------------------- */

static const dm_store_tier_ops_t *dm_store_ops_of(dm_store_kind_t kind)
{
    switch (kind) {
    case DM_STORE_KIND_DRAM: return &dm_store_dram_ops;
    case DM_STORE_KIND_NVME: return &dm_store_nvme_ops;
    case DM_STORE_KIND_PFS:  return &dm_store_pfs_ops;
#ifdef DM_STORE_HAVE_CUDA
    case DM_STORE_KIND_GPU:  return &dm_store_gpu_ops;
#else
    case DM_STORE_KIND_GPU:  return NULL;
#endif
    }
    return NULL;
}

/* Copies params into *p with every default filled in, and checks them. */
static dm_status_t dm_store_params_resolve(const dm_store_tier_params_t *in,
                                           dm_store_tier_params_t *p)
{
    uint64_t m = in->field_mask;
    const char *kname = dm_store_kind_name(in->kind);

    memset(p, 0, sizeof(*p));
    p->field_mask = ~0ull;
    p->kind       = in->kind;
    p->capacity   = in->capacity;
    p->name       = (m & DM_STORE_PARAM_NAME) && in->name ? in->name : kname;
    p->page_size  = (m & DM_STORE_PARAM_PAGE_SIZE) ? in->page_size : DM_STORE_PAGE_SIZE_DEFAULT;
    p->distance   = (m & DM_STORE_PARAM_DISTANCE) ? in->distance : 0; /* 0: backend decides */
    p->queue_depth = (m & DM_STORE_PARAM_QUEUE_DEPTH) ? in->queue_depth
                                                      : DM_STORE_QUEUE_DEPTH_DEFAULT;
    p->flags      = (m & DM_STORE_PARAM_FLAGS) ? in->flags : 0;
    p->numa_node  = (m & DM_STORE_PARAM_NUMA_NODE) ? in->numa_node : -1;
    p->path       = (m & DM_STORE_PARAM_PATH) ? in->path : NULL;
    p->direct     = (m & DM_STORE_PARAM_DIRECT) ? in->direct : DM_STORE_DIRECT_AUTO;
    p->prealloc   = (m & DM_STORE_PARAM_PREALLOC) ? in->prealloc : DM_STORE_PREALLOC_FULL;
    p->pfs_mode   = (m & DM_STORE_PARAM_PFS_MODE) ? in->pfs_mode : DM_STORE_PFS_COHERENT;
    p->pages_per_file = (m & DM_STORE_PARAM_PAGES_PER_FILE) ? in->pages_per_file
                                                             : DM_STORE_PAGES_PER_FILE_DEFAULT;
    p->cache_pages = (m & DM_STORE_PARAM_CACHE_PAGES) ? in->cache_pages
                                                       : DM_STORE_CACHE_PAGES_DEFAULT;
    p->gpu_device = (m & DM_STORE_PARAM_GPU_DEVICE) ? in->gpu_device : 0;

    if (p->capacity == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: capacity 0", p->name);
    }
    if (p->page_size < 512 || p->page_size > DM_STORE_PAGE_SIZE_MAX ||
        (p->page_size & (p->page_size - 1)) != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "tier %s: page size %zu is not a power of two in 512 B .. 1 GiB",
                            p->name, p->page_size);
    }
    if (p->kind == DM_STORE_KIND_NVME && p->page_size % 4096 != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "tier %s: page size %zu: O_DIRECT needs a multiple of 4 KiB",
                            p->name, p->page_size);
    }
    if (p->capacity > (uint64_t)INT64_MAX / p->page_size ||
        p->capacity > SIZE_MAX / p->page_size) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "tier %s: capacity %llu slots of %zu bytes overflows",
                            p->name, (unsigned long long)p->capacity, p->page_size);
    }
    if (p->queue_depth == 0 || p->queue_depth > DM_STORE_QUEUE_DEPTH_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: queue depth %u not in 1..%u",
                            p->name, p->queue_depth, DM_STORE_QUEUE_DEPTH_MAX);
    }
    if ((p->kind == DM_STORE_KIND_NVME || p->kind == DM_STORE_KIND_PFS) &&
        (p->path == NULL || p->path[0] == '\0')) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: the %s tier needs a path",
                            p->name, kname);
    }
    if ((unsigned)p->direct > DM_STORE_DIRECT_OFF ||
        (unsigned)p->prealloc > DM_STORE_PREALLOC_CHUNK ||
        (unsigned)p->pfs_mode > DM_STORE_PFS_WRITECACHE) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: unknown direct, prealloc or pfs mode",
                            p->name);
    }
    if (p->pages_per_file == 0 || p->cache_pages == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: pages_per_file and cache_pages "
                            "must be > 0", p->name);
    }
    return DM_OK;
}

dm_status_t dm_store_tier_create(const dm_store_tier_params_t *params, dm_store_tier_t **tier_p)
{
    dm_store_tier_params_t p;
    const dm_store_tier_ops_t *ops;
    dm_store_tier_t *tier = NULL;
    dm_status_t st;

    if (params == NULL || tier_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_store_tier_create: NULL argument");
    }
    if (params->kind == DM_STORE_KIND_GPU && dm_store_ops_of(params->kind) == NULL) {
        return dm_error_set(DM_ERR_UNSUPPORTED, "gpu tier: distmem was built without CUDA "
                            "(cuda_runtime.h and libcudart were not found)");
    }
    ops = dm_store_ops_of(params->kind);
    if (ops == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "unknown tier kind %d", (int)params->kind);
    }
    st = dm_store_params_resolve(params, &p);
    if (st != DM_OK) {
        return st;
    }
    st = ops->create(&p, &tier);
    if (st != DM_OK) {
        return st;
    }
    DM_DEBUG("tier %s: %s, %llu slots of %zu bytes, distance %u", tier->name,
             dm_store_kind_name(tier->kind), (unsigned long long)tier->capacity,
             tier->page_size, tier->distance);
    *tier_p = tier;
    return DM_OK;
}

void dm_store_tier_destroy(dm_store_tier_t *tier)
{
    int tries = 0;

    if (tier == NULL) {
        return;
    }
    /* Drain: the kernel or the GPU may still write into the callers' buffers. */
    while (tier->in_flight > tier->ndone && tier->ops->progress && tries < 1000) {
        if (tier->ops->progress(tier, tier->in_flight - tier->ndone) != DM_OK) {
            tries++;
        }
    }
    if (tier->in_flight > tier->ndone) {
        DM_WARN("tier %s: %u operations did not finish before destroy: %s", tier->name,
                tier->in_flight - tier->ndone, dm_last_error());
    }
    for (dm_store_io_t *io = tier->done_head; io != NULL; io = io->next_) {
        io->status = DM_ERR_CANCELED;
    }
    tier->done_head = tier->done_tail = NULL;
    tier->ops->destroy(tier);
}

/* Common checks of a run of n slots and a buffer. */
static dm_status_t dm_store_check(const dm_store_tier_t *tier, uint64_t slot, const void *buf,
                                  const char *what, uint32_t n)
{
    if (slot >= tier->capacity || n > tier->capacity - slot) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: %s slot %llu (%u pages): capacity "
                            "is %llu", tier->name, what, (unsigned long long)slot, n,
                            (unsigned long long)tier->capacity);
    }
    if (n > tier->max_io_pages) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: %s slot %llu: a run of %u pages, "
                            "the tier moves at most %u at once", tier->name, what,
                            (unsigned long long)slot, n, tier->max_io_pages);
    }
    if (buf == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: %s slot %llu: NULL buffer",
                            tier->name, what, (unsigned long long)slot);
    }
    if ((uintptr_t)buf % tier->buf_align != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "tier %s: %s slot %llu: buffer %p is not aligned to %zu bytes "
                            "(O_DIRECT needs aligned buffers: use aligned_alloc or mmap)",
                            tier->name, what, (unsigned long long)slot, buf, tier->buf_align);
    }
    return DM_OK;
}

dm_status_t dm_store_tier_write(dm_store_tier_t *tier, uint64_t slot, const void *buf)
{
    dm_status_t st = dm_store_check(tier, slot, buf, "write", 1);

    if (st != DM_OK) {
        return st;
    }
    st = tier->ops->write(tier, slot, buf);
    if (st == DM_OK) {
        dm_store_held_set(tier, slot);
    }
    return st;
}

dm_status_t dm_store_tier_read(dm_store_tier_t *tier, uint64_t slot, void *buf)
{
    dm_status_t st = dm_store_check(tier, slot, buf, "read", 1);

    if (st != DM_OK) {
        return st;
    }
    if (!tier->shared && !dm_store_held(tier, slot)) {
        memset(buf, 0, tier->page_size);
        return DM_OK;
    }
    return tier->ops->read(tier, slot, buf);
}

dm_status_t dm_store_tier_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_status_t st;

    if (io == NULL || (io->op != DM_STORE_OP_READ && io->op != DM_STORE_OP_WRITE)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: submit: %s", tier->name,
                            io ? "unknown operation" : "NULL io");
    }
    st = dm_store_check(tier, io->slot, io->buf,
                        io->op == DM_STORE_OP_READ ? "submit read" : "submit write",
                        dm_store_io_pages_(io));
    if (st != DM_OK) {
        return st;
    }
    pthread_mutex_lock(&tier->lock);
    if (tier->in_flight >= tier->queue_depth) {
        uint32_t n = tier->in_flight;

        pthread_mutex_unlock(&tier->lock);
        return dm_error_set(DM_ERR_BUSY, "tier %s: %u operations in flight (queue depth)",
                            tier->name, n);
    }
    tier->in_flight++;
    pthread_mutex_unlock(&tier->lock);
    io->status = DM_INPROGRESS;
    io->next_  = NULL;
    if (io->op == DM_STORE_OP_READ && !tier->shared &&
        !dm_store_held_any(tier, io->slot, dm_store_io_pages_(io))) {
        memset(io->buf, 0, (size_t)dm_store_io_pages_(io) * tier->page_size);
        dm_store_tier_complete_(tier, io, DM_OK);
        return DM_OK;
    }
    st = tier->ops->submit(tier, io);
    if (st != DM_OK) {
        pthread_mutex_lock(&tier->lock);
        tier->in_flight--;
        pthread_mutex_unlock(&tier->lock);
    }
    return st;
}

dm_status_t dm_store_tier_poll(dm_store_tier_t *tier, unsigned min_complete,
                               dm_store_io_t **done, unsigned max, unsigned *count_p)
{
    unsigned n = 0;

    if ((done == NULL && max > 0) || count_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: poll: NULL array or count",
                            tier->name);
    }
    pthread_mutex_lock(&tier->lock);
    min_complete = DM_MIN(min_complete, DM_MIN(tier->in_flight, max));
    if (tier->ops->progress && tier->in_flight > tier->ndone) {
        unsigned need = min_complete > tier->ndone ? min_complete - tier->ndone : 0;
        dm_status_t st;

        /* the backend caps need at what it still holds (another thread may
         * reap some of it meanwhile) */
        pthread_mutex_unlock(&tier->lock);
        st = tier->ops->progress(tier, need);
        if (st != DM_OK) {
            return st;
        }
        pthread_mutex_lock(&tier->lock);
    }
    while (n < max && tier->done_head) {
        dm_store_io_t *io = tier->done_head;

        tier->done_head = io->next_;
        if (tier->done_head == NULL) {
            tier->done_tail = NULL;
        }
        io->next_ = NULL;
        tier->ndone--;
        tier->in_flight--;
        done[n++] = io;
    }
    pthread_mutex_unlock(&tier->lock);
    *count_p = n;
    return DM_OK;
}

dm_status_t dm_store_tier_flush(dm_store_tier_t *tier)
{
    return tier->ops->flush(tier);
}

dm_status_t dm_store_tier_discard(dm_store_tier_t *tier, uint64_t slot)
{
    dm_status_t st;

    if (slot >= tier->capacity) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: discard slot %llu: capacity is %llu",
                            tier->name, (unsigned long long)slot,
                            (unsigned long long)tier->capacity);
    }
    if (tier->ops->discard) {
        st = tier->ops->discard(tier, slot);
        if (st != DM_OK) {
            return st;
        }
    }
    dm_store_held_clear(tier, slot);
    return DM_OK;
}

dm_status_t dm_store_tier_forget(dm_store_tier_t *tier, uint64_t slot)
{
    if (tier->shared) {
        return dm_store_tier_discard(tier, slot); /* others read its files */
    }
    if (slot >= tier->capacity) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: forget slot %llu: capacity is %llu",
                            tier->name, (unsigned long long)slot,
                            (unsigned long long)tier->capacity);
    }
    dm_store_held_clear(tier, slot);
    return DM_OK;
}

dm_status_t dm_store_tier_mem_register(dm_store_tier_t *tier, void *addr, size_t len,
                                       unsigned *id_p)
{
    unsigned id;
    dm_status_t st;

    if (addr == NULL || len == 0 || len > DM_STORE_REGION_MAX_LEN || id_p == NULL ||
        (uintptr_t)addr % tier->buf_align != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "tier %s: register %p + %zu: NULL, empty, over 1 GiB or not "
                            "aligned to %zu bytes", tier->name, addr, len, tier->buf_align);
    }
    if (tier->region_mask == ~0ull) {
        return dm_error_set(DM_ERR_NO_SPACE, "tier %s: %u memory regions registered already",
                            tier->name, DM_STORE_MAX_REGIONS);
    }
    id = (unsigned)__builtin_ctzll(~tier->region_mask);
    if (tier->ops->mem_register) {
        st = tier->ops->mem_register(tier, id, addr, len);
        if (st != DM_OK) {
            return st;
        }
    }
    tier->regions[id].addr = (uintptr_t)addr;
    tier->regions[id].len  = len;
    tier->region_mask |= 1ull << id;
    *id_p = id;
    return DM_OK;
}

void dm_store_tier_mem_unregister(dm_store_tier_t *tier, unsigned id)
{
    if (id >= DM_STORE_MAX_REGIONS || !(tier->region_mask & (1ull << id))) {
        return;
    }
    if (tier->ops->mem_unregister) {
        tier->ops->mem_unregister(tier, id);
    }
    tier->region_mask &= ~(1ull << id);
    tier->regions[id].addr = 0;
    tier->regions[id].len  = 0;
}

void dm_store_tier_query(const dm_store_tier_t *tier, dm_store_tier_info_t *info)
{
    memset(info, 0, sizeof(*info));
    info->name        = tier->name;
    info->kind        = tier->kind;
    info->page_size   = tier->page_size;
    info->capacity    = tier->capacity;
    info->used        = __atomic_load_n(&tier->used, __ATOMIC_RELAXED);
    info->distance    = tier->distance;
    info->buf_align   = tier->buf_align;
    info->queue_depth = tier->queue_depth;
    pthread_mutex_lock((pthread_mutex_t *)&tier->lock);
    info->in_flight   = tier->in_flight;
    pthread_mutex_unlock((pthread_mutex_t *)&tier->lock);
    info->concurrent  = tier->concurrent;
    info->max_io_pages = tier->max_io_pages;
    info->direct      = tier->direct;
    info->io_uring    = tier->io_uring;
    info->hugepage    = tier->hugepage;
    info->numa_node   = tier->numa_node;
}

const char *dm_store_tier_name(const dm_store_tier_t *tier)
{
    return tier->name;
}

uint64_t dm_store_tier_capacity(const dm_store_tier_t *tier)
{
    return tier->capacity;
}

uint64_t dm_store_tier_used(const dm_store_tier_t *tier)
{
    return __atomic_load_n(&tier->used, __ATOMIC_RELAXED);
}
