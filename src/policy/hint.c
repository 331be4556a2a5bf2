/*
 * The hint policy: advice first, ARC for everything else.
 *
 * Advice (dm_advice_t) comes from the application through dm_advise() (like
 * cudaMemAdvise or madvise) or from the store on behalf of accessors this
 * tier cannot see. Pages without advice are managed by ARC exactly
 * (arc.c). Advised pages:
 *
 *   COLD            leaves ARC's lists for the COLD list; when room is
 *                   needed the LRU page of COLD goes before anything else
 *                   (no ghost: the advice said it will not be needed). The
 *                   next access to it forgets the advice (as MADV_COLD
 *                   does): the page starts over at the MRU end of T1.
 *   PREFERRED_TIER  leaves ARC's lists for the PREF list; a PREF page is
 *                   evicted only when every resident page is PREF (then the
 *                   least recently referenced one). "Keep if possible", not
 *                   a pin: a tier full of preferred pages still admits.
 *   READ_MOSTLY     a flag on the page wherever it is: among the
 *                   clean_window pages at the LRU end of the list ARC
 *                   evicts from, a read-mostly page not written since it was
 *                   admitted is evicted first (the tier below keeps its
 *                   copy, so dropping it costs no write-back).
 *   ACCESSED_BY     counts as a read reference now (ARC: the page moves to
 *                   T2's MRU end), for accesses made through another
 *                   device's or node's mapping that this tier does not see.
 *   NONE            clears READ_MOSTLY; a COLD or PREF page returns to ARC
 *                   at the MRU end of T1.
 *
 * Advice names only resident pages (DM_ERR_NOT_FOUND otherwise): the
 * store keeps advice with the region and gives it again when it admits a
 * page, so the policy needs no table of advice for pages it does not hold.
 */
#include "arc_int.h"

static dm_status_t dm_hint_create(const dm_policy_params_t *params, dm_policy_t **policy_p)
{
    return dm_arc_create(params, &dm_policy_hint_ops, 1, policy_p);
}

static dm_status_t dm_hint_advise(dm_policy_t *policy, uint64_t page, dm_advice_t advice)
{
    dm_policy_arc_t *arc = (dm_policy_arc_t *)policy;
    uint32_t idx = dm_ppool_find(&arc->pool, page);
    dm_pnode_t *n;
    uint64_t unused;

    if (idx == DM_PIDX_NONE) {
        return DM_ERR_NOT_FOUND;
    }
    n = &arc->pool.nodes[idx];
    if (n->list == DM_ARC_B1 || n->list == DM_ARC_B2) {
        return DM_ERR_NOT_FOUND;
    }
    switch (advice) {
    case DM_ADVICE_NONE:
        n->flags &= (uint8_t)~DM_ARC_READ_MOSTLY;
        if (n->list == DM_ARC_COLD || n->list == DM_ARC_PREF) {
            dm_arc_enter_t1(arc, idx);
        }
        break;
    case DM_ADVICE_COLD:
        dm_arc_move(arc, idx, DM_ARC_COLD);
        break;
    case DM_ADVICE_READ_MOSTLY:
        n->flags |= DM_ARC_READ_MOSTLY;
        break;
    case DM_ADVICE_PREFERRED_TIER:
        if (n->list != DM_ARC_PREF) {
            dm_arc_move(arc, idx, DM_ARC_PREF);
        }
        break;
    case DM_ADVICE_ACCESSED_BY:
        /* a read reference: a resident page is a hit, which never evicts */
        (void)dm_arc_access(policy, page, 0, &unused);
        break;
    case DM_ADVICE_COUNT:
        return DM_ERR_INVALID_PARAM;
    }
    return DM_OK;
}

const dm_policy_ops_t dm_policy_hint_ops = {
    .name = "hint",
    .create = dm_hint_create,
    .destroy = dm_arc_destroy,
    .access = dm_arc_access,
    .advise = dm_hint_advise,
    .remove = dm_arc_remove,
    .lookup = dm_arc_lookup,
    .info = dm_arc_info,
};
