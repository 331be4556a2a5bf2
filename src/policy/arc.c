/*
 * ARC, the Adaptive Replacement Cache (N. Megiddo and D. S. Modha, "ARC: A
 * Self-Tuning, Low Overhead Replacement Cache", FAST 2003), as the paper's
 * pseudo-code (its Figure 4) has it.
 *
 * THE ESSAY
 *
 * ARC keeps a directory of up to 2c pages in four LRU lists:
 *   T1  resident pages referenced once since they entered the directory,
 *   T2  resident pages referenced at least twice,
 *   B1  ghosts (ids only, no data) of pages recently evicted from T1,
 *   B2  ghosts of pages recently evicted from T2,
 * with L1 = T1 + B1 (recency) and L2 = T2 + B2 (frequency). The resident
 * split between T1 and T2 follows a target p for |T1|, 0 <= p <= c, which
 * ARC learns from its ghosts: a hit in B1 says "T1 would have kept this
 * page had it been larger", so p grows; a hit in B2 says the same for T2,
 * so p shrinks. Each step is 1, or the ratio of the ghost lists' sizes
 * when the other list is larger (the rarer ghost hit moves p further):
 *
 *   I    x in T1 or T2: move x to the MRU end of T2.
 *   II   x in B1: p = min(c, p + max(1, |B2| / |B1|)); REPLACE; x -> MRU of T2.
 *   III  x in B2: p = max(0, p - max(1, |B1| / |B2|)); REPLACE; x -> MRU of T2.
 *   IV   x in no list:
 *        A  |L1| = c: if |T1| < c: drop the LRU ghost of B1, REPLACE;
 *                     else (B1 empty): evict the LRU page of T1 (no ghost).
 *        B  |L1| < c and |L1| + |L2| >= c:
 *                     if |L1| + |L2| = 2c: drop the LRU ghost of B2; REPLACE.
 *        x -> MRU of T1.
 *   REPLACE: if |T1| >= 1 and (|T1| > p or (x in B2 and |T1| = p)):
 *              the LRU page of T1 is evicted and becomes the MRU ghost of B1;
 *            else the LRU page of T2 is evicted and becomes the MRU ghost of B2.
 *
 * p is an integer here: the ratios are integer quotients (floor), so
 * "|T1| = p" in REPLACE means what it says.
 *
 * Invariants (asserted by tests/policy after every event):
 *   |T1| + |T2| <= c        |T1| + |B1| <= c        |L1| + |L2| <= 2c
 *   0 <= p <= c             a page is on at most one list
 *   without remove/advice: |L1| + |L2| >= c implies |T1| + |T2| = c, and
 *   a ghost hit implies the cache is full.
 *
 * Two extensions, neither of which changes ARC on a trace of accesses alone:
 *   - remove(): a page freed or migrated away leaves every list (no ghost).
 *     The cache can then be non-full while the directory holds c pages or
 *     more, which the paper's pseudo-code never sees; so REPLACE runs only
 *     when the tier is actually full ("make room"). In the paper's setting
 *     the tier is always full at the points where REPLACE is called, so
 *     this is the same algorithm there.
 *   - the hint policy (hint.c) keeps advised pages on two lists outside
 *     ARC's (COLD: evicted first, PREF: evicted last). They occupy frames,
 *     so "full" counts them; when room is needed a COLD page goes first,
 *     then REPLACE chooses as ARC does, then a PREF page. Because T1 + T2
 *     may then be smaller than c, REPLACE takes from the other list when
 *     the one it chose is empty. The hint policy also prefers, within the
 *     clean_window pages at the LRU end of the list REPLACE chose, a clean
 *     read-mostly page (dropping it costs no write-back); the page still
 *     becomes a ghost of that list.
 */
#include "arc_int.h"

#include <stdlib.h>

#include "status.h"

dm_plist_t *dm_arc_list(dm_policy_arc_t *arc, uint8_t id)
{
    switch (id) {
    case DM_ARC_T1:   return &arc->t1;
    case DM_ARC_T2:   return &arc->t2;
    case DM_ARC_B1:   return &arc->b1;
    case DM_ARC_B2:   return &arc->b2;
    case DM_ARC_COLD: return &arc->cold;
    case DM_ARC_PREF: return &arc->pref;
    }
    assert(!"dm_arc_list: no such list");
    return NULL;
}

static inline uint64_t dm_arc_resident(const dm_policy_arc_t *arc)
{
    return (uint64_t)arc->t1.len + arc->t2.len + arc->cold.len + arc->pref.len;
}

void dm_arc_move(dm_policy_arc_t *arc, uint32_t idx, uint8_t id)
{
    dm_pnode_t *n = &arc->pool.nodes[idx];

    dm_plist_unlink(&arc->pool, dm_arc_list(arc, n->list), idx);
    dm_plist_push_mru(&arc->pool, dm_arc_list(arc, id), id, idx);
}

/* Drops node idx from its list and the directory. */
static void dm_arc_forget(dm_policy_arc_t *arc, uint32_t idx)
{
    dm_plist_unlink(&arc->pool, dm_arc_list(arc, arc->pool.nodes[idx].list), idx);
    dm_ppool_put(&arc->pool, idx);
}

/*
 * The page to evict from resident list l (not empty): its LRU page, or for
 * the hint policy the first clean read-mostly page among the clean_window
 * pages at the LRU end.
 */
static uint32_t dm_arc_pick(const dm_policy_arc_t *arc, const dm_plist_t *l)
{
    if (arc->takes_advice) {
        uint32_t j = l->head;

        for (uint32_t k = 0; k < arc->clean_window && j != DM_PIDX_NONE; k++) {
            const dm_pnode_t *n = &arc->pool.nodes[j];

            if ((n->flags & (DM_ARC_READ_MOSTLY | DM_ARC_DIRTY)) == DM_ARC_READ_MOSTLY) {
                return j;
            }
            j = n->next;
        }
    }
    return l->head;
}

/* REPLACE(x, p): evicts a page of T1 or T2, which becomes a ghost. pre: T1 + T2 not empty. */
static void dm_arc_replace(dm_policy_arc_t *arc, int x_in_b2, uint64_t *victim_p)
{
    uint64_t t1 = arc->t1.len;
    uint32_t v;

    assert(arc->t1.len + arc->t2.len > 0);
    if ((t1 >= 1 && (t1 > arc->p || (x_in_b2 && t1 == arc->p))) || arc->t2.len == 0) {
        v = dm_arc_pick(arc, &arc->t1);
        dm_arc_move(arc, v, DM_ARC_B1);
    } else {
        v = dm_arc_pick(arc, &arc->t2);
        dm_arc_move(arc, v, DM_ARC_B2);
    }
    arc->pool.nodes[v].flags = 0;
    *victim_p = arc->pool.nodes[v].page;
}

/*
 * Frees a frame if the tier is full: a COLD page, else REPLACE, else a
 * PREF page (the last two without ghosts). Returns 1 when it evicted.
 */
static int dm_arc_make_room(dm_policy_arc_t *arc, int x_in_b2, uint64_t *victim_p)
{
    uint32_t v;

    if (dm_arc_resident(arc) < arc->c) {
        return 0;
    }
    if (arc->cold.len > 0) {
        v = arc->cold.head;
    } else if (arc->t1.len + arc->t2.len > 0) {
        dm_arc_replace(arc, x_in_b2, victim_p);
        return 1;
    } else {
        v = arc->pref.head;
    }
    *victim_p = arc->pool.nodes[v].page;
    dm_arc_forget(arc, v);
    return 1;
}

void dm_arc_enter_t1(dm_policy_arc_t *arc, uint32_t idx)
{
    dm_pnode_t *n = &arc->pool.nodes[idx];

    assert(n->list == DM_ARC_COLD || n->list == DM_ARC_PREF);
    dm_plist_unlink(&arc->pool, dm_arc_list(arc, n->list), idx);
    /* The page was resident outside ARC, so |T1| < c and B1 holds the excess. */
    if ((uint64_t)arc->t1.len + arc->b1.len >= arc->c) {
        assert(arc->b1.len > 0);
        dm_arc_forget(arc, arc->b1.head);
    }
    if ((uint64_t)arc->t1.len + arc->t2.len + arc->b1.len + arc->b2.len >= 2 * arc->c) {
        dm_arc_forget(arc, arc->b2.len > 0 ? arc->b2.head : arc->b1.head);
    }
    dm_plist_push_mru(&arc->pool, &arc->t1, DM_ARC_T1, idx);
}

dm_policy_verdict_t dm_arc_access(dm_policy_t *policy, uint64_t page, int is_write,
                                  uint64_t *victim_p)
{
    dm_policy_arc_t *arc = (dm_policy_arc_t *)policy;
    uint32_t idx = dm_ppool_find(&arc->pool, page);
    uint64_t delta;
    int evicted;

    if (idx != DM_PIDX_NONE) {
        dm_pnode_t *n = &arc->pool.nodes[idx];

        switch (n->list) {
        case DM_ARC_T1:
        case DM_ARC_T2: /* case I */
            dm_arc_move(arc, idx, DM_ARC_T2);
            break;
        case DM_ARC_PREF:
            dm_arc_move(arc, idx, DM_ARC_PREF);
            break;
        case DM_ARC_COLD: /* cold advice is one-shot: the page starts over in T1 */
            dm_arc_enter_t1(arc, idx);
            break;
        case DM_ARC_B1: /* case II */
            delta = arc->b1.len >= arc->b2.len ? 1 : arc->b2.len / arc->b1.len;
            arc->p = arc->p + delta < arc->c ? arc->p + delta : arc->c;
            evicted = dm_arc_make_room(arc, 0, victim_p);
            dm_arc_move(arc, idx, DM_ARC_T2);
            n->flags = is_write ? DM_ARC_DIRTY : 0;
            return evicted ? DM_POLICY_MISS_EVICT : DM_POLICY_MISS;
        case DM_ARC_B2: /* case III */
            delta = arc->b2.len >= arc->b1.len ? 1 : arc->b1.len / arc->b2.len;
            arc->p = arc->p > delta ? arc->p - delta : 0;
            evicted = dm_arc_make_room(arc, 1, victim_p);
            dm_arc_move(arc, idx, DM_ARC_T2);
            n->flags = is_write ? DM_ARC_DIRTY : 0;
            return evicted ? DM_POLICY_MISS_EVICT : DM_POLICY_MISS;
        default:
            assert(!"dm_arc_access: node on no list");
            break;
        }
        if (is_write) {
            n->flags |= DM_ARC_DIRTY;
        }
        return DM_POLICY_HIT;
    }

    /* case IV */
    uint64_t l1 = (uint64_t)arc->t1.len + arc->b1.len;
    uint64_t dir = l1 + arc->t2.len + arc->b2.len;

    if (l1 >= arc->c) {                                    /* A */
        if (arc->t1.len < arc->c) {
            dm_arc_forget(arc, arc->b1.head);
            evicted = dm_arc_make_room(arc, 0, victim_p);
        } else {
            uint32_t v = dm_arc_pick(arc, &arc->t1);

            *victim_p = arc->pool.nodes[v].page;
            dm_arc_forget(arc, v);
            evicted = 1;
        }
    } else {                                               /* B, or a directory below c */
        if (dir >= 2 * arc->c) {
            dm_arc_forget(arc, arc->b2.head);
        }
        /*
         * With |L1| + |L2| < c the paper's cache is not full and nothing is
         * evicted; make_room agrees unless removes or advised pages changed
         * the count, and then evicts only what the tier really needs.
         */
        evicted = dm_arc_make_room(arc, 0, victim_p);
    }
    idx = dm_ppool_get(&arc->pool, page);
    dm_plist_push_mru(&arc->pool, &arc->t1, DM_ARC_T1, idx);
    arc->pool.nodes[idx].flags = is_write ? DM_ARC_DIRTY : 0;
    return evicted ? DM_POLICY_MISS_EVICT : DM_POLICY_MISS;
}

dm_status_t dm_arc_remove(dm_policy_t *policy, uint64_t page)
{
    dm_policy_arc_t *arc = (dm_policy_arc_t *)policy;
    uint32_t idx = dm_ppool_find(&arc->pool, page);
    uint8_t list;

    if (idx == DM_PIDX_NONE) {
        return DM_ERR_NOT_FOUND;
    }
    list = arc->pool.nodes[idx].list;
    dm_arc_forget(arc, idx);
    return (list == DM_ARC_B1 || list == DM_ARC_B2) ? DM_ERR_NOT_FOUND : DM_OK;
}

dm_policy_where_t dm_arc_lookup(const dm_policy_t *policy, uint64_t page)
{
    const dm_policy_arc_t *arc = (const dm_policy_arc_t *)policy;
    uint32_t idx = dm_ppool_find(&arc->pool, page);

    if (idx == DM_PIDX_NONE) {
        return DM_POLICY_ABSENT;
    }
    switch (arc->pool.nodes[idx].list) {
    case DM_ARC_T1:   return DM_POLICY_T1;
    case DM_ARC_T2:   return DM_POLICY_T2;
    case DM_ARC_B1:   return DM_POLICY_B1;
    case DM_ARC_B2:   return DM_POLICY_B2;
    case DM_ARC_COLD: return DM_POLICY_COLD;
    case DM_ARC_PREF: return DM_POLICY_PREFERRED;
    }
    return DM_POLICY_ABSENT;
}

void dm_arc_info(const dm_policy_t *policy, dm_policy_info_t *info)
{
    const dm_policy_arc_t *arc = (const dm_policy_arc_t *)policy;

    info->capacity = arc->c;
    info->resident = dm_arc_resident(arc);
    info->history = (uint64_t)arc->b1.len + arc->b2.len;
    info->t1 = arc->t1.len;
    info->t2 = arc->t2.len;
    info->b1 = arc->b1.len;
    info->b2 = arc->b2.len;
    info->p = arc->p;
    info->cold = arc->cold.len;
    info->preferred = arc->pref.len;
}

dm_status_t dm_arc_create(const dm_policy_params_t *params, const dm_policy_ops_t *ops,
                          int takes_advice, dm_policy_t **policy_p)
{
    dm_policy_arc_t *arc = calloc(1, sizeof(*arc));
    /* directory <= 2c; the hint policy's advised pages add at most c more */
    uint64_t nnodes = params->capacity * (takes_advice ? 3 : 2);
    dm_status_t st;

    if (arc == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "policy %s: no memory", ops->name);
    }
    st = dm_ppool_init(&arc->pool, (uint32_t)nnodes);
    if (st != DM_OK) {
        free(arc);
        return st;
    }
    arc->base.ops = ops;
    arc->takes_advice = takes_advice;
    arc->clean_window = (params->field_mask & DM_POLICY_PARAM_CLEAN_WINDOW)
                            ? params->clean_window : 8;
    arc->c = params->capacity;
    arc->p = 0;
    dm_plist_init(&arc->t1);
    dm_plist_init(&arc->t2);
    dm_plist_init(&arc->b1);
    dm_plist_init(&arc->b2);
    dm_plist_init(&arc->cold);
    dm_plist_init(&arc->pref);
    *policy_p = &arc->base;
    return DM_OK;
}

void dm_arc_destroy(dm_policy_t *policy)
{
    dm_policy_arc_t *arc = (dm_policy_arc_t *)policy;

    dm_ppool_cleanup(&arc->pool);
    free(arc);
}

static dm_status_t dm_arc_create_plain(const dm_policy_params_t *params,
                                       dm_policy_t **policy_p)
{
    return dm_arc_create(params, &dm_policy_arc_ops, 0, policy_p);
}

static dm_status_t dm_arc_advise_plain(dm_policy_t *policy, uint64_t page, dm_advice_t advice)
{
    dm_policy_where_t where = dm_arc_lookup(policy, page);

    /* Plain ARC takes no advice. */
    return dm_policy_where_resident(where) ? DM_OK : DM_ERR_NOT_FOUND;
}

const dm_policy_ops_t dm_policy_arc_ops = {
    .name = "arc",
    .create = dm_arc_create_plain,
    .destroy = dm_arc_destroy,
    .access = dm_arc_access,
    .advise = dm_arc_advise_plain,
    .remove = dm_arc_remove,
    .lookup = dm_arc_lookup,
    .info = dm_arc_info,
};
