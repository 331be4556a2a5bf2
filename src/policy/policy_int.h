/*
 * Internal building blocks of the policies: a page -> index hash map, a
 * pool of nodes, and intrusive lists of nodes linked by index.
 *
 * Everything is sized once, at create; nothing here allocates afterwards.
 * Indices are 32-bit (DM_POLICY_CAPACITY_MAX keeps every pool below 2^32).
 */
#ifndef DM_POLICY_POLICY_INT_H
#define DM_POLICY_POLICY_INT_H

#include <assert.h>
#include <stdint.h>

#include "policy.h"

#define DM_PIDX_NONE UINT32_MAX

/* ------------------------------------------------------------------ */
/* hash map: page id -> 32-bit index                                   */

typedef struct dm_pmap_slot {
    uint64_t key;
    uint32_t val; /* DM_PIDX_NONE: the slot is empty */
} dm_pmap_slot_t;

/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so probe lengths do not grow with churn). The table has at
 * least twice as many slots as the most entries it will ever hold, so the
 * load factor stays at or below 1/2.
 * Invariant: every entry sits between its home slot and the first empty
 * slot after it (cyclically).
 */
typedef struct dm_pmap {
    dm_pmap_slot_t *slots;
    uint32_t        mask;     /* slots - 1; the number of slots is a power of two */
    uint32_t        count;
    uint32_t        max;      /* the most entries the owner will insert */
} dm_pmap_t;

/* Returns DM_OK or DM_ERR_NO_MEMORY. */
dm_status_t dm_pmap_init(dm_pmap_t *map, uint32_t max_entries);
void dm_pmap_cleanup(dm_pmap_t *map);

/* The value stored for key, or DM_PIDX_NONE. */
uint32_t dm_pmap_get(const dm_pmap_t *map, uint64_t key);

/* pre: key absent, count < max. */
void dm_pmap_put(dm_pmap_t *map, uint64_t key, uint32_t val);

/* pre: key present. */
void dm_pmap_del(dm_pmap_t *map, uint64_t key);

/* ------------------------------------------------------------------ */
/* nodes and lists                                                      */

typedef struct dm_pnode {
    uint64_t page;
    uint32_t prev, next; /* list links; next also links the free list */
    uint8_t  list;       /* which list holds the node (the owner's numbering; 0: free) */
    uint8_t  flags;      /* the owner's (dirty, read-mostly, ...) */
} dm_pnode_t;

/* A doubly linked list of nodes; head is the LRU end, tail the MRU end. */
typedef struct dm_plist {
    uint32_t head, tail;
    uint32_t len;
} dm_plist_t;

/*
 * A fixed array of nodes with a free list and the map from page to node:
 * every node in use is in the map under its page, and only those.
 */
typedef struct dm_ppool {
    dm_pnode_t *nodes;
    uint32_t    nnodes;
    uint32_t    free;   /* head of the free list */
    uint32_t    used;
    dm_pmap_t   map;
} dm_ppool_t;

/* Returns DM_OK or DM_ERR_NO_MEMORY. */
dm_status_t dm_ppool_init(dm_ppool_t *pool, uint32_t nnodes);
void dm_ppool_cleanup(dm_ppool_t *pool);

/* A node for page, entered in the map, on no list. pre: page absent, a node free. */
uint32_t dm_ppool_get(dm_ppool_t *pool, uint64_t page);

/* Returns the node (on no list any more) to the free list and the page leaves the map. */
void dm_ppool_put(dm_ppool_t *pool, uint32_t idx);

static inline uint32_t dm_ppool_find(const dm_ppool_t *pool, uint64_t page)
{
    return dm_pmap_get(&pool->map, page);
}

static inline void dm_plist_init(dm_plist_t *l)
{
    l->head = l->tail = DM_PIDX_NONE;
    l->len = 0;
}

/* Appends node idx (on no list) at the MRU end of l, which gets number id. */
static inline void dm_plist_push_mru(dm_ppool_t *pool, dm_plist_t *l, uint8_t id, uint32_t idx)
{
    dm_pnode_t *n = &pool->nodes[idx];

    assert(n->list == 0);
    n->list = id;
    n->next = DM_PIDX_NONE;
    n->prev = l->tail;
    if (l->tail != DM_PIDX_NONE) {
        pool->nodes[l->tail].next = idx;
    } else {
        l->head = idx;
    }
    l->tail = idx;
    l->len++;
}

/* Unlinks node idx from l, which must hold it. */
static inline void dm_plist_unlink(dm_ppool_t *pool, dm_plist_t *l, uint32_t idx)
{
    dm_pnode_t *n = &pool->nodes[idx];

    assert(n->list != 0 && l->len > 0);
    if (n->prev != DM_PIDX_NONE) {
        pool->nodes[n->prev].next = n->next;
    } else {
        l->head = n->next;
    }
    if (n->next != DM_PIDX_NONE) {
        pool->nodes[n->next].prev = n->prev;
    } else {
        l->tail = n->prev;
    }
    n->prev = n->next = DM_PIDX_NONE;
    n->list = 0;
    l->len--;
}

#endif
