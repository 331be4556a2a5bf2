/*
 * CLOCK (second chance; Corbató 1968): LRU approximated with one reference
 * bit per frame and a hand sweeping the frames in a circle.
 *
 * A hit only sets the page's reference bit (no list move: what makes CLOCK
 * cheap enough for a fault path shared by many threads). A miss uses a free
 * frame while there is one; when the tier is full the hand advances,
 * clearing set bits (the second chance), and evicts the first page whose
 * bit is clear. The new page takes that frame with its bit clear and the
 * hand moves past it, so it is the last the hand will look at: the
 * convention of Bansal & Modha's CLOCK (CAR, FAST 2004). A later reference
 * sets the bit.
 *
 * Frames freed by remove are reused first, wherever they lie on the circle.
 *
 * Invariant: the hand sweeps only when no frame is free, and then at most
 * capacity + 1 frames (after one turn every bit is clear).
 */
#include <stdlib.h>

#include "policy_int.h"
#include "status.h"

typedef struct dm_clock_frame {
    uint64_t page;
    uint8_t  ref;
    uint8_t  used;
} dm_clock_frame_t;

typedef struct dm_policy_clock {
    dm_policy_t       base;
    uint64_t          capacity;
    dm_clock_frame_t *frames;    /* capacity frames, the circle */
    uint32_t         *free;      /* stack of free frame numbers */
    uint32_t          nfree;
    uint32_t          hand;      /* the next frame the hand looks at */
    dm_pmap_t         map;       /* page -> frame */
} dm_policy_clock_t;

static void dm_clock_destroy(dm_policy_t *policy)
{
    dm_policy_clock_t *ck = (dm_policy_clock_t *)policy;

    dm_pmap_cleanup(&ck->map);
    free(ck->free);
    free(ck->frames);
    free(ck);
}

static dm_status_t dm_clock_create(const dm_policy_params_t *params, dm_policy_t **policy_p)
{
    uint32_t cap = (uint32_t)params->capacity;
    dm_policy_clock_t *ck = calloc(1, sizeof(*ck));
    dm_status_t st;

    if (ck == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "policy clock: no memory");
    }
    ck->frames = calloc(cap, sizeof(*ck->frames));
    ck->free = malloc((size_t)cap * sizeof(*ck->free));
    if (ck->frames == NULL || ck->free == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "policy clock: no memory for %u frames", cap);
        goto err_free;
    }
    st = dm_pmap_init(&ck->map, cap);
    if (st != DM_OK) {
        goto err_free;
    }
    /* Popped in order 0, 1, 2, ...: the first pages fill the circle from the hand on. */
    for (uint32_t i = 0; i < cap; i++) {
        ck->free[i] = cap - 1 - i;
    }
    ck->nfree = cap;
    ck->hand = 0;
    ck->capacity = cap;
    ck->base.ops = &dm_policy_clock_ops;
    *policy_p = &ck->base;
    return DM_OK;

err_free:
    free(ck->free);
    free(ck->frames);
    free(ck);
    return st;
}

static dm_policy_verdict_t dm_clock_access(dm_policy_t *policy, uint64_t page, int is_write,
                                           uint64_t *victim_p)
{
    dm_policy_clock_t *ck = (dm_policy_clock_t *)policy;
    uint32_t f = dm_pmap_get(&ck->map, page);
    dm_policy_verdict_t verdict;

    if (f != DM_PIDX_NONE) {
        ck->frames[f].ref = 1;
        return DM_POLICY_HIT;
    }
    if (ck->nfree > 0) {
        f = ck->free[--ck->nfree];
        verdict = DM_POLICY_MISS;
    } else {
        while (ck->frames[ck->hand].ref) {
            ck->frames[ck->hand].ref = 0;
            ck->hand = (ck->hand + 1 == ck->capacity) ? 0 : ck->hand + 1;
        }
        f = ck->hand;
        ck->hand = (ck->hand + 1 == ck->capacity) ? 0 : ck->hand + 1;
        *victim_p = ck->frames[f].page;
        dm_pmap_del(&ck->map, ck->frames[f].page);
        verdict = DM_POLICY_MISS_EVICT;
    }
    ck->frames[f].page = page;
    ck->frames[f].ref = 0;
    ck->frames[f].used = 1;
    dm_pmap_put(&ck->map, page, f);
    return verdict;
}

static dm_status_t dm_clock_advise(dm_policy_t *policy, uint64_t page, dm_advice_t advice)
{
    dm_policy_clock_t *ck = (dm_policy_clock_t *)policy;

    /* CLOCK takes no advice. */
    return dm_pmap_get(&ck->map, page) != DM_PIDX_NONE ? DM_OK : DM_ERR_NOT_FOUND;
}

static dm_status_t dm_clock_remove(dm_policy_t *policy, uint64_t page)
{
    dm_policy_clock_t *ck = (dm_policy_clock_t *)policy;
    uint32_t f = dm_pmap_get(&ck->map, page);

    if (f == DM_PIDX_NONE) {
        return DM_ERR_NOT_FOUND;
    }
    dm_pmap_del(&ck->map, page);
    ck->frames[f].used = 0;
    ck->frames[f].ref = 0;
    ck->free[ck->nfree++] = f;
    return DM_OK;
}

static dm_policy_where_t dm_clock_lookup(const dm_policy_t *policy, uint64_t page)
{
    const dm_policy_clock_t *ck = (const dm_policy_clock_t *)policy;

    return dm_pmap_get(&ck->map, page) != DM_PIDX_NONE ? DM_POLICY_RESIDENT : DM_POLICY_ABSENT;
}

static void dm_clock_info(const dm_policy_t *policy, dm_policy_info_t *info)
{
    const dm_policy_clock_t *ck = (const dm_policy_clock_t *)policy;

    info->capacity = ck->capacity;
    info->resident = ck->capacity - ck->nfree;
}

const dm_policy_ops_t dm_policy_clock_ops = {
    .name = "clock",
    .create = dm_clock_create,
    .destroy = dm_clock_destroy,
    .access = dm_clock_access,
    .advise = dm_clock_advise,
    .remove = dm_clock_remove,
    .lookup = dm_clock_lookup,
    .info = dm_clock_info,
};
