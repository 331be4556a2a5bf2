/*
 * Home placement: which rank is the home of each page of the global
 * address space. A pure function of the layout, identical in every rank,
 * so nobody has to ask.
 *
 * Layout of the address space (pages numbered from its base):
 *   [0, coll_pages)                       dm_alloc memory: block-cyclic,
 *                                         page i homed at (i / block) % nranks
 *   [coll_pages + r*heap_pages, +heap_pages)  rank r's part of the global
 *                                         heap (dm_malloc): homed at r
 *   the rest (less than nranks pages)     unused
 *
 * Example: 4 ranks, block 2: pages 0,1 -> rank 0; 2,3 -> 1; 4,5 -> 2;
 * 6,7 -> 3; 8,9 -> 0 ...
 */
#ifndef DM_DSM_PLACE_H
#define DM_DSM_PLACE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dm_place {
    uint64_t npages;     /* pages in the address space */
    uint64_t coll_pages; /* pages of the collective (dm_alloc) area */
    uint64_t heap_pages; /* pages of each rank's heap */
    uint64_t block;      /* pages per block of the block-cyclic placement */
    int      nranks;
} dm_place_t;

static inline void dm_place_init(dm_place_t *pl, uint64_t npages, uint64_t block, int nranks)
{
    pl->npages = npages;
    pl->coll_pages = npages / 2;
    pl->heap_pages = (npages - pl->coll_pages) / (uint64_t)nranks;
    pl->block = block;
    pl->nranks = nranks;
}

/* The home of page; -1 for a page in the unused tail. pre: page < npages. */
static inline int dm_place_home(const dm_place_t *pl, uint64_t page)
{
    uint64_t h;

    if (page < pl->coll_pages) {
        return (int)((page / pl->block) % (uint64_t)pl->nranks);
    }
    h = (page - pl->coll_pages) / pl->heap_pages;
    return h < (uint64_t)pl->nranks ? (int)h : -1;
}

/*
 * The pages around page that this placement homes where it homes page:
 * [*lo_p, *end_p), page's block of the collective area or its rank's
 * heap. pre: dm_place_home(pl, page) >= 0.
 */
static inline void dm_place_run(const dm_place_t *pl, uint64_t page, uint64_t *lo_p,
                                uint64_t *end_p)
{
    if (page < pl->coll_pages) {
        *lo_p = page - page % pl->block;
        *end_p = *lo_p + pl->block < pl->coll_pages ? *lo_p + pl->block : pl->coll_pages;
    } else {
        *lo_p = page - (page - pl->coll_pages) % pl->heap_pages;
        *end_p = *lo_p + pl->heap_pages;
    }
}

/* First page of rank r's heap. */
static inline uint64_t dm_place_heap_first(const dm_place_t *pl, int r)
{
    return pl->coll_pages + (uint64_t)r * pl->heap_pages;
}

#endif
