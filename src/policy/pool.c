/*
 * The policies' hash map and node pool (policy_int.h).
 */
#include "policy_int.h"

#include <stdlib.h>

#include "status.h"

/* A 64-bit finalizer (MurmurHash3's fmix64): page ids are often dense and sequential. */
static inline uint64_t dm_pmap_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

dm_status_t dm_pmap_init(dm_pmap_t *map, uint32_t max_entries)
{
    uint64_t nslots = 16;

    while (nslots < 2ull * max_entries) {
        nslots *= 2;
    }
    map->slots = malloc(nslots * sizeof(*map->slots));
    if (map->slots == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "policy: no memory for a map of %llu slots",
                            (unsigned long long)nslots);
    }
    for (uint64_t i = 0; i < nslots; i++) {
        map->slots[i].key = 0;
        map->slots[i].val = DM_PIDX_NONE;
    }
    map->mask = (uint32_t)(nslots - 1);
    map->count = 0;
    map->max = max_entries;
    return DM_OK;
}

void dm_pmap_cleanup(dm_pmap_t *map)
{
    free(map->slots);
    map->slots = NULL;
}

uint32_t dm_pmap_get(const dm_pmap_t *map, uint64_t key)
{
    uint32_t i = (uint32_t)dm_pmap_hash(key) & map->mask;

    for (;;) {
        const dm_pmap_slot_t *s = &map->slots[i];

        if (s->val == DM_PIDX_NONE) {
            return DM_PIDX_NONE;
        }
        if (s->key == key) {
            return s->val;
        }
        i = (i + 1) & map->mask;
    }
}

void dm_pmap_put(dm_pmap_t *map, uint64_t key, uint32_t val)
{
    uint32_t i = (uint32_t)dm_pmap_hash(key) & map->mask;

    assert(map->count < map->max && val != DM_PIDX_NONE);
    while (map->slots[i].val != DM_PIDX_NONE) {
        assert(map->slots[i].key != key);
        i = (i + 1) & map->mask;
    }
    map->slots[i].key = key;
    map->slots[i].val = val;
    map->count++;
}

void dm_pmap_del(dm_pmap_t *map, uint64_t key)
{
    uint32_t i = (uint32_t)dm_pmap_hash(key) & map->mask;

    for (;;) {
        if (map->slots[i].val == DM_PIDX_NONE) {
            assert(!"dm_pmap_del: key absent"); /* pre: present */
            return;
        }
        if (map->slots[i].key == key) {
            break;
        }
        i = (i + 1) & map->mask;
    }
    /*
     * Backward shift: walk the cluster after the hole; an entry whose home
     * slot is not cyclically in (hole, j] would be cut off from its home by
     * the hole, so it moves into the hole, which moves to j.
     */
    uint32_t hole = i;
    uint32_t j = i;

    for (;;) {
        j = (j + 1) & map->mask;
        if (map->slots[j].val == DM_PIDX_NONE) {
            break;
        }
        uint32_t home = (uint32_t)dm_pmap_hash(map->slots[j].key) & map->mask;

        if (((j - home) & map->mask) >= ((j - hole) & map->mask)) {
            map->slots[hole] = map->slots[j];
            hole = j;
        }
    }
    map->slots[hole].val = DM_PIDX_NONE;
    map->slots[hole].key = 0;
    map->count--;
}

dm_status_t dm_ppool_init(dm_ppool_t *pool, uint32_t nnodes)
{
    dm_status_t st;

    pool->nodes = malloc((size_t)nnodes * sizeof(*pool->nodes));
    if (pool->nodes == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "policy: no memory for %u nodes", nnodes);
    }
    st = dm_pmap_init(&pool->map, nnodes);
    if (st != DM_OK) {
        goto err_free_nodes;
    }
    for (uint32_t i = 0; i < nnodes; i++) {
        pool->nodes[i].page = 0;
        pool->nodes[i].prev = DM_PIDX_NONE;
        pool->nodes[i].next = (i + 1 < nnodes) ? i + 1 : DM_PIDX_NONE;
        pool->nodes[i].list = 0;
        pool->nodes[i].flags = 0;
    }
    pool->nnodes = nnodes;
    pool->free = nnodes ? 0 : DM_PIDX_NONE;
    pool->used = 0;
    return DM_OK;

err_free_nodes:
    free(pool->nodes);
    pool->nodes = NULL;
    return st;
}

void dm_ppool_cleanup(dm_ppool_t *pool)
{
    dm_pmap_cleanup(&pool->map);
    free(pool->nodes);
    pool->nodes = NULL;
}

uint32_t dm_ppool_get(dm_ppool_t *pool, uint64_t page)
{
    uint32_t idx = pool->free;
    dm_pnode_t *n;

    assert(idx != DM_PIDX_NONE);
    n = &pool->nodes[idx];
    pool->free = n->next;
    n->page = page;
    n->prev = n->next = DM_PIDX_NONE;
    n->list = 0;
    n->flags = 0;
    pool->used++;
    dm_pmap_put(&pool->map, page, idx);
    return idx;
}

void dm_ppool_put(dm_ppool_t *pool, uint32_t idx)
{
    dm_pnode_t *n = &pool->nodes[idx];

    assert(n->list == 0 && pool->used > 0);
    dm_pmap_del(&pool->map, n->page);
    n->next = pool->free;
    pool->free = idx;
    pool->used--;
}
