/*
 * First-fit allocator over arena offsets (heap.h).
 *
 * Invariants: free extents and used blocks are disjoint, lie below top,
 * and together cover [0, top); free extents are sorted and never touch
 * (frees coalesce); a free extent that would end at top is given back to
 * top instead.
 */
#include "heap.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

void dm_heap_init(dm_heap_t *heap, uint64_t cap)
{
    memset(heap, 0, sizeof(*heap));
    heap->cap = cap;
}

void dm_heap_cleanup(dm_heap_t *heap)
{
    free(heap->free);
    free(heap->used);
    memset(heap, 0, sizeof(*heap));
}

/* Index of the first extent with off >= key. */
static size_t dm_heap_lower(const dm_heap_ext_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (v[mid].off < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int dm_heap_reserve(dm_heap_ext_t **v, size_t n, size_t *cap)
{
    dm_heap_ext_t *nv;
    size_t ncap;

    if (n < *cap) {
        return 0;
    }
    ncap = *cap ? *cap * 2 : 64;
    nv = realloc(*v, ncap * sizeof(**v));
    if (nv == NULL) {
        return -1;
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

static void dm_heap_insert(dm_heap_ext_t *v, size_t *n, size_t pos, dm_heap_ext_t e)
{
    memmove(&v[pos + 1], &v[pos], (*n - pos) * sizeof(*v));
    v[pos] = e;
    (*n)++;
}

static void dm_heap_remove(dm_heap_ext_t *v, size_t *n, size_t pos)
{
    memmove(&v[pos], &v[pos + 1], (*n - pos - 1) * sizeof(*v));
    (*n)--;
}

dm_status_t dm_heap_alloc(dm_heap_t *heap, uint64_t len, uint64_t *off_p)
{
    dm_heap_ext_t blk;
    size_t i, pos;

    if (len == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_malloc of 0 bytes");
    }
    if (len > heap->cap) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_malloc of %llu bytes: this rank's heap holds %llu",
                            (unsigned long long)len, (unsigned long long)heap->cap);
    }
    len = (len + DM_HEAP_ALIGN - 1) & ~(uint64_t)(DM_HEAP_ALIGN - 1);
    if (dm_heap_reserve(&heap->used, heap->nused, &heap->used_cap) != 0) {
        return dm_error_set(DM_ERR_NO_MEMORY, "heap records");
    }
    for (i = 0; i < heap->nfree; i++) {
        if (heap->free[i].len >= len) {
            break;
        }
    }
    if (i < heap->nfree) {
        blk.off = heap->free[i].off;
        blk.len = len;
        if (heap->free[i].len == len) {
            dm_heap_remove(heap->free, &heap->nfree, i);
        } else {
            heap->free[i].off += len;
            heap->free[i].len -= len;
        }
    } else {
        if (heap->cap - heap->top < len) {
            return dm_error_set(DM_ERR_NO_MEMORY,
                                "dm_malloc of %llu bytes: this rank's heap (%llu bytes) is full",
                                (unsigned long long)len, (unsigned long long)heap->cap);
        }
        blk.off = heap->top;
        blk.len = len;
        heap->top += len;
    }
    pos = dm_heap_lower(heap->used, heap->nused, blk.off);
    dm_heap_insert(heap->used, &heap->nused, pos, blk);
    *off_p = blk.off;
    return DM_OK;
}

dm_status_t dm_heap_free(dm_heap_t *heap, uint64_t off)
{
    dm_heap_ext_t blk;
    size_t pos, f;
    int merge_prev, merge_next;

    pos = dm_heap_lower(heap->used, heap->nused, off);
    if (pos == heap->nused || heap->used[pos].off != off) {
        return dm_error_set(DM_ERR_NOT_FOUND, "no heap block starts at offset %llu",
                            (unsigned long long)off);
    }
    blk = heap->used[pos];
    f = dm_heap_lower(heap->free, heap->nfree, blk.off);
    merge_prev = f > 0 && heap->free[f - 1].off + heap->free[f - 1].len == blk.off;
    merge_next = f < heap->nfree && blk.off + blk.len == heap->free[f].off;
    if (!merge_prev && !merge_next && blk.off + blk.len != heap->top &&
        dm_heap_reserve(&heap->free, heap->nfree, &heap->free_cap) != 0) {
        return dm_error_set(DM_ERR_NO_MEMORY, "heap free list");
    }
    dm_heap_remove(heap->used, &heap->nused, pos);
    if (merge_prev) {
        heap->free[f - 1].len += blk.len;
        if (merge_next) {
            heap->free[f - 1].len += heap->free[f].len;
            dm_heap_remove(heap->free, &heap->nfree, f);
        }
        f--;
    } else if (merge_next) {
        heap->free[f].off = blk.off;
        heap->free[f].len += blk.len;
    } else if (blk.off + blk.len == heap->top) {
        heap->top = blk.off;
        return DM_OK;
    } else {
        dm_heap_insert(heap->free, &heap->nfree, f, blk);
    }
    /* an extent that reaches top goes back to top */
    if (heap->free[f].off + heap->free[f].len == heap->top) {
        heap->top = heap->free[f].off;
        dm_heap_remove(heap->free, &heap->nfree, f);
    }
    return DM_OK;
}
