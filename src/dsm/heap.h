/*
 * One rank's part of the global heap (dm_malloc): a first-fit allocator
 * over offsets [0, cap) of an arena. Pure bookkeeping: it never touches
 * the arena's memory (which is distmem memory: reading it could fault), so
 * its records live in ordinary process memory.
 *
 * Records: the free extents below the bump pointer `top`, sorted and
 * coalesced, and the allocated blocks, sorted by offset. Both are arrays:
 * allocation and free cost O(log n) to find plus O(n) to move (memmove).
 *
 * Concurrency: none inside; the caller serializes (dsm.c holds heap_lock).
 */
#ifndef DM_DSM_HEAP_H
#define DM_DSM_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

#define DM_HEAP_ALIGN 16

typedef struct dm_heap_ext {
    uint64_t off;
    uint64_t len;
} dm_heap_ext_t;

typedef struct dm_heap {
    uint64_t       cap;   /* arena bytes */
    uint64_t       top;   /* everything at or above top is free */
    dm_heap_ext_t *free;  /* below top; sorted by off, never adjacent */
    size_t         nfree, free_cap;
    dm_heap_ext_t *used;  /* sorted by off */
    size_t         nused, used_cap;
} dm_heap_t;

void dm_heap_init(dm_heap_t *heap, uint64_t cap);
void dm_heap_cleanup(dm_heap_t *heap);

/*
 * Allocates len bytes (rounded up to DM_HEAP_ALIGN). Errors:
 * DM_ERR_INVALID_PARAM (len 0), DM_ERR_NO_MEMORY (arena full or no memory
 * for the records). *off_p is set only on success.
 */
dm_status_t dm_heap_alloc(dm_heap_t *heap, uint64_t len, uint64_t *off_p);

/*
 * Frees the block starting at off. DM_ERR_NOT_FOUND when no block starts
 * there (nothing changes), DM_ERR_NO_MEMORY when the free list cannot grow
 * (the block stays allocated).
 */
dm_status_t dm_heap_free(dm_heap_t *heap, uint64_t off);

#endif
