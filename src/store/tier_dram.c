/*
 * dram tier: host memory from one anonymous mapping.
 *
 * Where the memory comes from: mmap(MAP_PRIVATE | MAP_ANONYMOUS), aligned
 * to 2 MiB when huge pages are asked for (so that the kernel can back it with
 * transparent huge pages: madvise(MADV_HUGEPAGE)), bound to one NUMA node
 * with mbind(MPOL_BIND) when numa_node >= 0 (needs libnuma at build time).
 * Memory is faulted in on first write, on the bound node; with
 * DM_STORE_FLAG_POPULATE all of it is faulted in at create (after binding),
 * so that a tier that exists also has its memory, instead of meeting the OOM
 * killer later. Discard gives a slot's memory back (MADV_DONTNEED).
 *
 * Volatile: flush has nothing to do. Asynchronous operations complete in
 * submit (a memcpy is faster than any queue; a run is one memcpy) and are
 * reported at poll. Concurrent: reads and writes are copies of disjoint
 * slots, nothing is shared but the common bookkeeping.
 */
#include "tier_int.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef DM_STORE_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "log.h"
#include "status.h"
#include "util.h"

#define DM_STORE_HUGE_ALIGN (2ul << 20)
#define DM_STORE_DRAM_RUN   (1ul << 20) /* bytes one operation may move */

typedef struct dm_store_dram {
    dm_store_tier_t base;
    char           *mem;     /* capacity * page_size bytes */
    size_t          len;
    void           *map;     /* what munmap gets back (map_len >= len) */
    size_t          map_len;
} dm_store_dram_t;

static dm_store_dram_t *dm_store_dram_of(dm_store_tier_t *tier)
{
    return (dm_store_dram_t *)tier;
}

/* Binds [mem, mem + len) to node and sets the distance. */
static dm_status_t dm_store_dram_bind(dm_store_dram_t *d, int node)
{
#ifdef DM_STORE_HAVE_NUMA
    unsigned long mask[16] = { 0 };
    int cpu, local, dist;

    if (numa_available() < 0) {
        return dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: NUMA node %d asked for, but this "
                            "system has no NUMA support", d->base.name, node);
    }
    if (node > numa_max_node() || node >= (int)(sizeof(mask) * 8)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: NUMA node %d: the highest is %d",
                            d->base.name, node, numa_max_node());
    }
    mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
    if (mbind(d->mem, d->len, MPOL_BIND, mask, sizeof(mask) * 8, 0) != 0) {
        return dm_store_errno_(&d->base, errno, "mbind to its NUMA node", UINT64_MAX);
    }
    d->base.numa_node = node;
    cpu = sched_getcpu();
    local = cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
    dist = local >= 0 ? numa_distance(local, node) : 0;
    if (d->base.distance == 0 && dist > 0) {
        d->base.distance = (uint32_t)dist * 10u;
    }
    return DM_OK;
#else
    return dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: NUMA node %d asked for, but distmem "
                        "was built without libnuma", d->base.name, node);
#endif
}

static dm_status_t dm_store_dram_populate(dm_store_dram_t *d)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(d->mem, d->len, MADV_POPULATE_WRITE) == 0) {
        return DM_OK;
    }
    if (errno != EINVAL) {
        return dm_store_errno_(&d->base, errno, "populate (MADV_POPULATE_WRITE)", UINT64_MAX);
    }
#endif
    /* Older kernels: touch every page (the memory is zero, writing zero keeps it so). */
    for (size_t off = 0; off < d->len; off += 4096) {
        ((volatile char *)d->mem)[off] = 0;
    }
    return DM_OK;
}

static dm_status_t dm_store_dram_create(const dm_store_tier_params_t *params,
                                        dm_store_tier_t **tier_p)
{
    dm_store_dram_t *d;
    size_t align;
    dm_status_t st;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
    }
    st = dm_store_tier_init_(&d->base, &dm_store_dram_ops, params);
    if (st != DM_OK) {
        goto err_free;
    }
    d->len = (size_t)(params->capacity * params->page_size);
    align = (params->flags & DM_STORE_FLAG_HUGEPAGE) ? DM_STORE_HUGE_ALIGN : 0;
    d->map_len = d->len + align;
    d->map = mmap(NULL, d->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d->map == MAP_FAILED) {
        st = dm_store_errno_(&d->base, errno, "mmap of the tier's memory", UINT64_MAX);
        goto err_cleanup;
    }
    d->mem = d->map;
    if (align) {
        d->mem = (char *)(((uintptr_t)d->map + align - 1) & ~(uintptr_t)(align - 1));
#ifdef MADV_HUGEPAGE
        d->base.hugepage = madvise(d->mem, d->len, MADV_HUGEPAGE) == 0;
#endif
        if (!d->base.hugepage) {
            DM_INFO("tier %s: transparent huge pages not available: %s", d->base.name,
                    strerror(errno));
        }
    }
    if (params->numa_node >= 0) {
        st = dm_store_dram_bind(d, params->numa_node);
        if (st != DM_OK) {
            goto err_unmap;
        }
    }
    if (params->flags & DM_STORE_FLAG_POPULATE) {
        st = dm_store_dram_populate(d);
        if (st != DM_OK) {
            goto err_unmap;
        }
    }
    if (d->base.distance == 0) {
        d->base.distance = DM_STORE_DISTANCE_DRAM;
    }
    d->base.concurrent = 1;
    d->base.max_io_pages = (uint32_t)DM_MAX(1, DM_STORE_DRAM_RUN / params->page_size);
    *tier_p = &d->base;
    return DM_OK;

err_unmap:
    munmap(d->map, d->map_len);
err_cleanup:
    dm_store_tier_cleanup_(&d->base);
err_free:
    free(d);
    return st;
}

static void dm_store_dram_destroy(dm_store_tier_t *tier)
{
    dm_store_dram_t *d = dm_store_dram_of(tier);

    munmap(d->map, d->map_len);
    dm_store_tier_cleanup_(tier);
    free(d);
}

static dm_status_t dm_store_dram_write(dm_store_tier_t *tier, uint64_t slot, const void *buf)
{
    dm_store_dram_t *d = dm_store_dram_of(tier);

    memcpy(d->mem + dm_store_slot_offset_(tier, slot), buf, tier->page_size);
    return DM_OK;
}

static dm_status_t dm_store_dram_read(dm_store_tier_t *tier, uint64_t slot, void *buf)
{
    dm_store_dram_t *d = dm_store_dram_of(tier);

    memcpy(buf, d->mem + dm_store_slot_offset_(tier, slot), tier->page_size);
    return DM_OK;
}

static dm_status_t dm_store_dram_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_store_dram_t *d = dm_store_dram_of(tier);
    char *mem = d->mem + dm_store_slot_offset_(tier, io->slot);
    size_t len = (size_t)dm_store_io_pages_(io) * tier->page_size;

    if (io->op == DM_STORE_OP_WRITE) {
        memcpy(mem, io->buf, len);
    } else {
        memcpy(io->buf, mem, len);
    }
    dm_store_tier_complete_(tier, io, DM_OK);
    return DM_OK;
}

static dm_status_t dm_store_dram_flush(dm_store_tier_t *tier)
{
    return DM_OK;
}

static dm_status_t dm_store_dram_discard(dm_store_tier_t *tier, uint64_t slot)
{
    dm_store_dram_t *d = dm_store_dram_of(tier);
    size_t sys_page = (size_t)sysconf(_SC_PAGESIZE);

    /* Give the memory back when the slot covers whole system pages; the
     * common layer makes the slot read as zeros either way. */
    if (tier->page_size >= sys_page) {
        madvise(d->mem + dm_store_slot_offset_(tier, slot), tier->page_size, MADV_DONTNEED);
    }
    return DM_OK;
}

void *dm_store_tier_dram_mem(dm_store_tier_t *tier)
{
    return tier->ops == &dm_store_dram_ops ? dm_store_dram_of(tier)->mem : NULL;
}

const dm_store_tier_ops_t dm_store_dram_ops = {
    .kind     = DM_STORE_KIND_DRAM,
    .create   = dm_store_dram_create,
    .destroy  = dm_store_dram_destroy,
    .write    = dm_store_dram_write,
    .read     = dm_store_dram_read,
    .submit   = dm_store_dram_submit,
    .progress = NULL,
    .flush    = dm_store_dram_flush,
    .discard  = dm_store_dram_discard,
};
