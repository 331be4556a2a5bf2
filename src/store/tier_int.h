/*
 * The common part of every tier handle, and the helpers backends use.
 * Internal to src/store: nothing outside this directory includes it.
 *
 * Ownership: a backend's handle struct begins with `dm_store_tier_t base`;
 * the backend allocates it in ops->create and frees it in ops->destroy, after
 * calling dm_store_tier_cleanup_(). The common code owns the fields below
 * (the backend reads them, and sets the "how it came up" ones in create).
 *
 * Invariants:
 *   used == the number of bits set in held;
 *   in_flight == ndone + the operations the backend still holds;
 *   every io on the done list has its final status.
 *
 * Concurrency (for the backends that set `concurrent`): held and used are
 * updated with atomic operations (synchronous writes of several threads set
 * bits in one word); in_flight, ndone and the done list are under `lock`,
 * which is never held while calling into the backend, so a backend may call
 * dm_store_tier_complete_() from any of its own locks.
 */
#ifndef DM_STORE_TIER_INT_H
#define DM_STORE_TIER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tier.h"

struct dm_store_tier {
    const dm_store_tier_ops_t *ops;
    char                       name[64];
    dm_store_kind_t            kind;
    size_t                     page_size;
    uint64_t                   capacity;
    uint32_t                   distance;
    uint32_t                   queue_depth;
    size_t                     buf_align;
    /* reads always reach the backend: other processes write it (pfs) */
    int                        shared;
    /* several threads may use the handle (dram, nvme); set by the backend */
    int                        concurrent;
    /* pages one asynchronous operation may move (1 unless the backend says) */
    uint32_t                   max_io_pages;
    /* how the backend came up (for query) */
    int                        direct;
    int                        io_uring;
    int                        hugepage;
    int                        numa_node;
    /* slots holding data written through this handle */
    uint64_t                  *held;
    uint64_t                   used;
    /* guards in_flight, ndone and the done list */
    pthread_mutex_t            lock;
    int                        lock_up;
    /* operations submitted and not yet handed back by poll */
    uint32_t                   in_flight;
    /* completed, waiting for poll: a FIFO through io->next_ */
    dm_store_io_t             *done_head;
    dm_store_io_t             *done_tail;
    uint32_t                   ndone;
    /* registered memory (dm_store_tier_mem_register) */
    struct {
        uintptr_t addr;
        size_t    len;
    }                          regions[DM_STORE_MAX_REGIONS];
    uint64_t                   region_mask; /* bit i: regions[i] in use */
};

/*
 * Initializes the common part from validated params (create calls this
 * first). DM_ERR_NO_MEMORY when the held bitmap cannot be allocated.
 */
dm_status_t dm_store_tier_init_(dm_store_tier_t *tier, const dm_store_tier_ops_t *ops,
                                const dm_store_tier_params_t *params);

/* Frees what init_ allocated. Never fails; safe on a zeroed struct. */
void dm_store_tier_cleanup_(dm_store_tier_t *tier);

/*
 * Delivers io with status: it goes on the done list for the next poll.
 * A successful write marks its slots as held; a run read zeroes the pages of
 * slots that hold no data. For backends, from submit (completed at once) or
 * from progress, from any thread.
 */
void dm_store_tier_complete_(dm_store_tier_t *tier, dm_store_io_t *io, dm_status_t status);

/* The registered region that contains [addr, addr + len), or -1. */
int dm_store_tier_region_find_(const dm_store_tier_t *tier, const void *addr, size_t len);

/* Maps an errno of an I/O call on the tier to a status with a detail. */
dm_status_t dm_store_errno_(const dm_store_tier_t *tier, int err, const char *what,
                            uint64_t slot);

/* Pages io moves (its npages, 0 meaning 1). */
static inline uint32_t dm_store_io_pages_(const dm_store_io_t *io)
{
    return io->npages ? io->npages : 1u;
}

/* Byte offset of a slot (capacity * page_size was checked to fit). */
static inline uint64_t dm_store_slot_offset_(const dm_store_tier_t *tier, uint64_t slot)
{
    return slot * (uint64_t)tier->page_size;
}

/* Backends (ops tables), defined in their files. */
extern const dm_store_tier_ops_t dm_store_dram_ops;
extern const dm_store_tier_ops_t dm_store_nvme_ops;
extern const dm_store_tier_ops_t dm_store_pfs_ops;
#ifdef DM_STORE_HAVE_CUDA
extern const dm_store_tier_ops_t dm_store_gpu_ops;
#endif

#endif
