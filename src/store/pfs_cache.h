/*
 * The local page cache of a pfs tier in readcache and writecache modes:
 * a fixed number of frames, a map slot -> frame (chained hash), CLOCK
 * replacement that never picks a dirty frame. Bookkeeping only: no I/O;
 * tier_pfs.c writes dirty frames back before it reuses them.
 *
 * Invariants: a slot is in at most one frame; a frame is on its bucket's
 * chain iff it is valid; a dirty frame is valid.
 * Concurrency: none inside; the tier's caller serializes.
 */
#ifndef DM_STORE_PFS_CACHE_H
#define DM_STORE_PFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

typedef struct dm_store_pcache_frame {
    uint64_t slot;
    int32_t  next;   /* next frame on the bucket's chain, -1 at the end */
    uint8_t  valid;
    uint8_t  dirty;  /* written here, not yet durable in the file */
    uint8_t  ref;    /* CLOCK reference bit */
} dm_store_pcache_frame_t;

typedef struct dm_store_pcache {
    dm_store_pcache_frame_t *frames;
    char                    *mem;      /* nframes * page_size */
    int32_t                 *buckets;  /* nbuckets heads, -1 empty */
    uint32_t                 nframes;
    uint32_t                 nbuckets; /* power of two */
    uint32_t                 hand;     /* CLOCK hand */
    uint32_t                 ndirty;
    size_t                   page_size;
} dm_store_pcache_t;

/* DM_ERR_NO_MEMORY or DM_ERR_INVALID_PARAM (nframes 0 or over 2^30). */
dm_status_t dm_store_pcache_init(dm_store_pcache_t *c, uint64_t nframes, size_t page_size);

/* Never fails; safe on a zeroed struct. */
void dm_store_pcache_cleanup(dm_store_pcache_t *c);

/* The frame holding slot, or -1. Sets its reference bit. */
int32_t dm_store_pcache_lookup(dm_store_pcache_t *c, uint64_t slot);

/*
 * A frame to reuse: an invalid one, or a clean one the CLOCK hand finds
 * without its reference bit (clearing bits on the way). -1 when every frame
 * is dirty. The frame is not yet removed: insert does that.
 */
int32_t dm_store_pcache_victim(dm_store_pcache_t *c);

/* Puts slot in frame f (dropping what f held). pre: slot not cached; f not dirty. */
void dm_store_pcache_insert(dm_store_pcache_t *c, int32_t f, uint64_t slot);

/* Drops frame f (also when dirty: the caller decided). */
void dm_store_pcache_remove(dm_store_pcache_t *c, int32_t f);

/* Marks f dirty / clean, keeping ndirty. */
void dm_store_pcache_set_dirty(dm_store_pcache_t *c, int32_t f, int dirty);

static inline void *dm_store_pcache_data(const dm_store_pcache_t *c, int32_t f)
{
    return c->mem + (size_t)f * c->page_size;
}

#endif
