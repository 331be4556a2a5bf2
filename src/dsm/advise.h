/*
 * Placement hints at a home: what dm_advise and dm_prefetch (distmem.h)
 * ask of the home's tiered store, decided by a pure function so that the
 * caller (to report a bad hint before sending it), the home (to apply it)
 * and tests/dsm/test_advise.c use the same rules.
 *
 * A hint travels to each home of its range as one message (rma.c,
 * DM_RMA_HINT): `what` is a dm_dsm_advise_t, or DM_DSM_HINT_PREFETCH for
 * a prefetch, and `arg` its argument (a dm_dsm_tier_t or a rank).
 *
 * Public advice to store advice (policy.h's dm_advice_t), when the home
 * has a store whose tiers (fastest first) are `kinds`:
 *
 *   UNSET                  NONE: forget READ_MOSTLY and PREFERRED_TIER
 *   PREFERRED_TIER(top)    PREFERRED_TIER (sticky): evicted from the top
 *                          tier last
 *   PREFERRED_TIER(lower)  NONE, then COLD: a preference for the top tier
 *                          is forgotten and the pages leave it first
 *   ACCESSED_BY(rank)      ACCESSED_BY (one-shot): counts as a reference
 *   READ_MOSTLY            READ_MOSTLY (sticky)
 *   COLD                   COLD (one-shot)
 *   prefetch(tier)         a HINT migration of every page to that tier
 *
 * Sticky advice (plan.sticky) for a page never written is kept by the home
 * until the page's first write; one-shot advice and moves only concern
 * pages with data. Without a store (in-place home memory) every valid hint
 * plans nothing. A tier the store does not have is DM_ERR_UNSUPPORTED.
 */
#ifndef DM_DSM_ADVISE_H
#define DM_DSM_ADVISE_H

#include <stdint.h>

#include "dsm.h"
#include "store.h"

/* `what` of a prefetch (any other value is a dm_dsm_advise_t). */
#define DM_DSM_HINT_PREFETCH 16u

/* What a home does for one hint, in this order: advice[0], advice[1], the move. */
typedef struct dm_dsm_hint_plan {
    int advice[2]; /* store advice (dm_advice_t), -1: none */
    int sticky;    /* the advice must be kept for pages never written */
    int move_to;   /* store tier index to move the pages to, -1: none */
} dm_dsm_hint_plan_t;

/*
 * Plans hint (what, arg) for a home whose store stacks ntiers tiers of
 * kinds[] (fastest first; ntiers 0: no store), in a job of nranks ranks.
 * Sets *plan_p only on success. Errors, with a message naming the value:
 * DM_ERR_INVALID_PARAM (an unknown advice or tier, PREFERRED_TIER of
 * DM_DSM_TIER_LOCAL, ACCESSED_BY of a rank outside [0, nranks), a nonzero
 * arg where none is taken), DM_ERR_UNSUPPORTED (a tier the store lacks).
 */
dm_status_t dm_dsm_hint_plan(uint32_t what, int32_t arg, int nranks,
                             const dm_store_kind_t *kinds, unsigned ntiers,
                             dm_dsm_hint_plan_t *plan_p);

/* The public tier of a store tier kind (DM_DSM_TIER_DRAM for DM_STORE_KIND_DRAM ...). */
dm_dsm_tier_t dm_dsm_tier_of_kind(dm_store_kind_t kind);

/* Lower-case name of a tier ("local", "gpu", "dram", "nvme", "pfs"), "?" if unknown. */
const char *dm_dsm_tier_name(int tier);

/*
 * homemem.c: the kinds of this rank's home store tiers, fastest first,
 * into kinds[DM_STORE_MAX_TIERS]; returns how many (0: no store).
 * Any thread (the store is fixed from create to destroy).
 */
unsigned dm_dsm_homemem_kinds(dm_dsm_t *d, dm_store_kind_t *kinds);

#endif
