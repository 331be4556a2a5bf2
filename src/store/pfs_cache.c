/*
 * pfs local page cache: frames, a chained hash from slot to frame, CLOCK.
 * See pfs_cache.h for the invariants.
 */
#include "pfs_cache.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

static uint32_t dm_store_pcache_bucket(const dm_store_pcache_t *c, uint64_t slot)
{
    return (uint32_t)((slot * 0x9E3779B97F4A7C15ull) >> 32) & (c->nbuckets - 1);
}

dm_status_t dm_store_pcache_init(dm_store_pcache_t *c, uint64_t nframes, size_t page_size)
{
    memset(c, 0, sizeof(*c));
    if (nframes == 0 || nframes > (1u << 30)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "pfs cache: %llu frames not in 1..2^30",
                            (unsigned long long)nframes);
    }
    c->nframes   = (uint32_t)nframes;
    c->page_size = page_size;
    c->nbuckets  = 1;
    while (c->nbuckets < 2 * c->nframes) {
        c->nbuckets <<= 1;
    }
    c->frames  = calloc(c->nframes, sizeof(*c->frames));
    c->buckets = malloc(c->nbuckets * sizeof(*c->buckets));
    c->mem     = aligned_alloc(4096, ((size_t)nframes * page_size + 4095) & ~(size_t)4095);
    if (c->frames == NULL || c->buckets == NULL || c->mem == NULL) {
        dm_store_pcache_cleanup(c);
        return dm_error_set(DM_ERR_NO_MEMORY, "pfs cache: no memory for %llu frames of %zu bytes",
                            (unsigned long long)nframes, page_size);
    }
    for (uint32_t i = 0; i < c->nbuckets; i++) {
        c->buckets[i] = -1;
    }
    for (uint32_t i = 0; i < c->nframes; i++) {
        c->frames[i].next = -1;
    }
    return DM_OK;
}

void dm_store_pcache_cleanup(dm_store_pcache_t *c)
{
    free(c->frames);
    free(c->buckets);
    free(c->mem);
    memset(c, 0, sizeof(*c));
}

int32_t dm_store_pcache_lookup(dm_store_pcache_t *c, uint64_t slot)
{
    for (int32_t f = c->buckets[dm_store_pcache_bucket(c, slot)]; f >= 0; f = c->frames[f].next) {
        if (c->frames[f].slot == slot) {
            c->frames[f].ref = 1;
            return f;
        }
    }
    return -1;
}

int32_t dm_store_pcache_victim(dm_store_pcache_t *c)
{
    /* Two turns of the hand: the first may only clear reference bits. */
    for (uint64_t step = 0; step < 2ull * c->nframes; step++) {
        int32_t f = (int32_t)c->hand;
        dm_store_pcache_frame_t *fr = &c->frames[f];

        c->hand = (c->hand + 1) % c->nframes;
        if (!fr->valid) {
            return f;
        }
        if (fr->dirty) {
            continue;
        }
        if (fr->ref) {
            fr->ref = 0;
            continue;
        }
        return f;
    }
    return -1;
}

void dm_store_pcache_remove(dm_store_pcache_t *c, int32_t f)
{
    dm_store_pcache_frame_t *fr = &c->frames[f];
    int32_t *link;

    if (!fr->valid) {
        return;
    }
    for (link = &c->buckets[dm_store_pcache_bucket(c, fr->slot)]; *link != f;
         link = &c->frames[*link].next) {
    }
    *link = fr->next;
    dm_store_pcache_set_dirty(c, f, 0);
    fr->next  = -1;
    fr->valid = 0;
    fr->ref   = 0;
}

void dm_store_pcache_insert(dm_store_pcache_t *c, int32_t f, uint64_t slot)
{
    dm_store_pcache_frame_t *fr = &c->frames[f];
    uint32_t b = dm_store_pcache_bucket(c, slot);

    dm_store_pcache_remove(c, f);
    fr->slot  = slot;
    fr->valid = 1;
    fr->ref   = 1;
    fr->next  = c->buckets[b];
    c->buckets[b] = f;
}

void dm_store_pcache_set_dirty(dm_store_pcache_t *c, int32_t f, int dirty)
{
    dm_store_pcache_frame_t *fr = &c->frames[f];

    if (fr->dirty && !dirty) {
        c->ndirty--;
    } else if (!fr->dirty && dirty) {
        c->ndirty++;
    }
    fr->dirty = dirty ? 1 : 0;
}
