/*
 * LRU: evict the page referenced least recently.
 *
 * One list of the resident pages in reference order (head: least recent).
 * A hit moves the page to the MRU end; a miss when full evicts the head.
 * LRU is a stack algorithm (the pages resident with capacity c are a
 * subset of those with c + 1), so its hit count never falls as the
 * capacity grows; tests/policy checks that on every trace.
 */
#include <stdlib.h>

#include "policy_int.h"
#include "status.h"

typedef struct dm_policy_lru {
    dm_policy_t base;
    uint64_t    capacity;
    dm_ppool_t  pool;
    dm_plist_t  list;
} dm_policy_lru_t;

#define DM_LRU_LIST 1

static dm_status_t dm_lru_create(const dm_policy_params_t *params, dm_policy_t **policy_p)
{
    dm_policy_lru_t *lru = calloc(1, sizeof(*lru));
    dm_status_t st;

    if (lru == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "policy lru: no memory");
    }
    st = dm_ppool_init(&lru->pool, (uint32_t)params->capacity);
    if (st != DM_OK) {
        free(lru);
        return st;
    }
    lru->base.ops = &dm_policy_lru_ops;
    lru->capacity = params->capacity;
    dm_plist_init(&lru->list);
    *policy_p = &lru->base;
    return DM_OK;
}

static void dm_lru_destroy(dm_policy_t *policy)
{
    dm_policy_lru_t *lru = (dm_policy_lru_t *)policy;

    dm_ppool_cleanup(&lru->pool);
    free(lru);
}

static dm_policy_verdict_t dm_lru_access(dm_policy_t *policy, uint64_t page, int is_write,
                                         uint64_t *victim_p)
{
    dm_policy_lru_t *lru = (dm_policy_lru_t *)policy;
    uint32_t idx = dm_ppool_find(&lru->pool, page);
    dm_policy_verdict_t verdict = DM_POLICY_MISS;

    if (idx != DM_PIDX_NONE) {
        dm_plist_unlink(&lru->pool, &lru->list, idx);
        dm_plist_push_mru(&lru->pool, &lru->list, DM_LRU_LIST, idx);
        return DM_POLICY_HIT;
    }
    if (lru->list.len == lru->capacity) {
        uint32_t v = lru->list.head;

        *victim_p = lru->pool.nodes[v].page;
        dm_plist_unlink(&lru->pool, &lru->list, v);
        dm_ppool_put(&lru->pool, v);
        verdict = DM_POLICY_MISS_EVICT;
    }
    idx = dm_ppool_get(&lru->pool, page);
    dm_plist_push_mru(&lru->pool, &lru->list, DM_LRU_LIST, idx);
    return verdict;
}

static dm_status_t dm_lru_advise(dm_policy_t *policy, uint64_t page, dm_advice_t advice)
{
    dm_policy_lru_t *lru = (dm_policy_lru_t *)policy;

    /* LRU takes no advice. */
    return dm_ppool_find(&lru->pool, page) != DM_PIDX_NONE ? DM_OK : DM_ERR_NOT_FOUND;
}

static dm_status_t dm_lru_remove(dm_policy_t *policy, uint64_t page)
{
    dm_policy_lru_t *lru = (dm_policy_lru_t *)policy;
    uint32_t idx = dm_ppool_find(&lru->pool, page);

    if (idx == DM_PIDX_NONE) {
        return DM_ERR_NOT_FOUND;
    }
    dm_plist_unlink(&lru->pool, &lru->list, idx);
    dm_ppool_put(&lru->pool, idx);
    return DM_OK;
}

static dm_policy_where_t dm_lru_lookup(const dm_policy_t *policy, uint64_t page)
{
    const dm_policy_lru_t *lru = (const dm_policy_lru_t *)policy;

    return dm_ppool_find(&lru->pool, page) != DM_PIDX_NONE ? DM_POLICY_RESIDENT
                                                          : DM_POLICY_ABSENT;
}

static void dm_lru_info(const dm_policy_t *policy, dm_policy_info_t *info)
{
    const dm_policy_lru_t *lru = (const dm_policy_lru_t *)policy;

    info->capacity = lru->capacity;
    info->resident = lru->list.len;
}

const dm_policy_ops_t dm_policy_lru_ops = {
    .name = "lru",
    .create = dm_lru_create,
    .destroy = dm_lru_destroy,
    .access = dm_lru_access,
    .advise = dm_lru_advise,
    .remove = dm_lru_remove,
    .lookup = dm_lru_lookup,
    .info = dm_lru_info,
};
