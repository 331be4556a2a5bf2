/*
 * Placement hints: dm_advise and dm_prefetch (distmem.h), the caller's side.
 *
 * A hint names a range of one allocation. It concerns two places:
 *
 *   the homes   where the data of the range's pages lives (homemem.c):
 *               advice and tier moves for the home's tiered store. The
 *               caller sends ONE operation to each home of a page of the
 *               range (rma.c's DM_RMA_HINT, carried by its per-home
 *               batches), naming the whole range; each home applies it to
 *               the pages it is home of and answers, and the call returns
 *               when every answer is in. Which ranks are homes: the
 *               block-cyclic placement and the heaps say it without
 *               asking; under first-touch placement nobody knows the homes
 *               of a range in advance, so every rank gets the operation.
 *   the caller  dm_prefetch(DM_TIER_LOCAL): read-only copies of the range
 *               in this rank's cache, requested through the page protocol
 *               exactly as a read fault's read-ahead requests them (a READ
 *               event in state I), without waiting for them to arrive.
 *
 * Why coherence is untouched: a hint never changes a page's protocol
 * state except through the READ event a fault would feed, and a home's
 * store moves the home's data between tiers without changing it (store.h:
 * placement is exclusive and a move copies before it frees), whatever the
 * protocol is doing with the page meanwhile. So a hint cannot change what
 * any access returns.
 *
 * Bounds: the read-ahead keeps at most DM_ADVISE_WINDOW requests in flight
 * (the caller waits for copies to arrive before sending more) and asks for
 * at most the cache budget's worth of pages (more would evict the first
 * ones before they are used).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise.h"
#include "dsm_int.h"
#include "status.h"
#include "util.h"

#define DM_ADVISE_WINDOW 256 /* read-ahead requests in flight per caller */

static const char *const dm_dsm_tier_names[DM_DSM_TIER_COUNT] = {
    "local", "gpu", "dram", "nvme", "pfs",
};

const char *dm_dsm_tier_name(int tier)
{
    return tier >= 0 && tier < DM_DSM_TIER_COUNT ? dm_dsm_tier_names[tier] : "?";
}

dm_dsm_tier_t dm_dsm_tier_of_kind(dm_store_kind_t kind)
{
    switch (kind) {
    case DM_STORE_KIND_GPU:
        return DM_DSM_TIER_GPU;
    case DM_STORE_KIND_NVME:
        return DM_DSM_TIER_NVME;
    case DM_STORE_KIND_PFS:
        return DM_DSM_TIER_PFS;
    default:
        return DM_DSM_TIER_DRAM;
    }
}

/*
 * The store tier index of public tier t (GPU .. PFS) in kinds[0 .. ntiers),
 * via *index_p; DM_ERR_UNSUPPORTED when the store has none.
 */
static dm_status_t dm_dsm_hint_tier(int32_t t, const dm_store_kind_t *kinds, unsigned ntiers,
                                    int *index_p)
{
    char have[64] = "";
    size_t n = 0;
    unsigned i;

    for (i = 0; i < ntiers; i++) {
        if ((int32_t)dm_dsm_tier_of_kind(kinds[i]) == t) {
            *index_p = (int)i;
            return DM_OK;
        }
        n += (size_t)snprintf(have + n, sizeof(have) - DM_MIN(n, sizeof(have)), "%s%s",
                              i ? ", " : "", dm_dsm_tier_name(dm_dsm_tier_of_kind(kinds[i])));
        n = DM_MIN(n, sizeof(have) - 1);
    }
    return dm_error_set(DM_ERR_UNSUPPORTED, "the home store has no %s tier (it has %s)",
                        dm_dsm_tier_name(t), have);
}

dm_status_t dm_dsm_hint_plan(uint32_t what, int32_t arg, int nranks,
                             const dm_store_kind_t *kinds, unsigned ntiers,
                             dm_dsm_hint_plan_t *plan_p)
{
    dm_dsm_hint_plan_t plan = { .advice = { -1, -1 }, .sticky = 0, .move_to = -1 };
    int index = 0;
    dm_status_t st;

    if (what == DM_DSM_HINT_PREFETCH || what == DM_DSM_ADVISE_PREFERRED_TIER) {
        int prefetch = what == DM_DSM_HINT_PREFETCH;

        if (arg < (prefetch ? DM_DSM_TIER_LOCAL : DM_DSM_TIER_GPU) || arg >= DM_DSM_TIER_COUNT) {
            return dm_error_set(DM_ERR_INVALID_PARAM, "%stier %d is not a %s",
                                prefetch ? "" : "PREFERRED_TIER: ", (int)arg,
                                prefetch ? "dm_tier_t" : "tier of a home (GPU, DRAM, NVME, PFS)");
        }
        if (arg != DM_DSM_TIER_LOCAL && ntiers > 0) {
            if ((st = dm_dsm_hint_tier(arg, kinds, ntiers, &index)) != DM_OK) {
                return st;
            }
            if (prefetch) {
                plan.move_to = index;
            } else if (index == 0) {
                plan.advice[0] = DM_ADVICE_PREFERRED_TIER; /* kept from the top tier last */
                plan.sticky = 1;
            } else {
                plan.advice[0] = DM_ADVICE_NONE; /* no preference for the top tier ... */
                plan.advice[1] = DM_ADVICE_COLD; /* ... and out of it first */
            }
        }
        *plan_p = plan;
        return DM_OK;
    }
    if (what == DM_DSM_ADVISE_ACCESSED_BY) {
        if (arg < 0 || arg >= nranks) {
            return dm_error_set(DM_ERR_INVALID_PARAM,
                                "ACCESSED_BY: rank %d is not in [0, %d)", (int)arg, nranks);
        }
        if (ntiers > 0) {
            plan.advice[0] = DM_ADVICE_ACCESSED_BY;
        }
        *plan_p = plan;
        return DM_OK;
    }
    if (what >= DM_DSM_ADVISE_COUNT) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "unknown advice %u", what);
    }
    if (arg != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "advice %u takes no argument (arg %d, not 0)",
                            what, (int)arg);
    }
    if (ntiers > 0) {
        switch ((dm_dsm_advise_t)what) {
        case DM_DSM_ADVISE_READ_MOSTLY:
            plan.advice[0] = DM_ADVICE_READ_MOSTLY;
            plan.sticky = 1;
            break;
        case DM_DSM_ADVISE_COLD:
            plan.advice[0] = DM_ADVICE_COLD;
            break;
        default: /* UNSET */
            plan.advice[0] = DM_ADVICE_NONE;
            break;
        }
    }
    *plan_p = plan;
    return DM_OK;
}

/*
 * Checks [ptr, ptr + len) (len > 0): distmem memory inside one allocation.
 * Sets its first page and page count. Takes the serial lock.
 */
static dm_status_t dm_advise_range(dm_dsm_t *d, const char *what, const void *ptr, size_t len,
                                   uint64_t *first_p, uint64_t *npages_p)
{
    uint64_t off, first, last, end;
    int ok;

    if (!dm_gas_contains(&d->gas, ptr, len)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "%s: %p (%zu bytes) is not distmem memory",
                            what, ptr, len);
    }
    off = (uintptr_t)ptr - d->gas.base;
    first = off >> d->page_shift;
    last = (off + len - 1) >> d->page_shift;
    dm_tp_serial_enter(d->tp);
    ok = dm_dsm_alloc_span(d, first, last, &end) == 0;
    dm_tp_serial_leave(d->tp);
    if (!ok) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "%s: %p (%zu bytes) is not inside one distmem allocation", what, ptr,
                            len);
    }
    *first_p = first;
    *npages_p = last - first + 1;
    return DM_OK;
}

/* Checks hint (what, arg) against this rank's own store, for a message before anything is sent. */
static dm_status_t dm_advise_check(dm_dsm_t *d, const char *fn, const void *ptr, uint32_t what,
                                   int32_t arg)
{
    dm_store_kind_t kinds[DM_STORE_MAX_TIERS];
    unsigned ntiers = dm_dsm_homemem_kinds(d, kinds);
    dm_dsm_hint_plan_t plan;
    dm_status_t st;
    char why[200];

    if (ptr == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "%s: NULL pointer", fn);
    }
    st = dm_dsm_hint_plan(what, arg, d->nranks, kinds, ntiers, &plan);
    if (st != DM_OK) {
        snprintf(why, sizeof(why), "%s", dm_last_error()); /* the message buffer is reused */
        return dm_error_set(st, "%s(%p): %s", fn, ptr, why);
    }
    return DM_OK;
}

/* Sends hint (what, arg) to every home of pages [first, first + npages) and waits. */
static dm_status_t dm_advise_send(dm_dsm_t *d, uint64_t first, uint64_t npages, uint32_t what,
                                  int32_t arg)
{
    uint8_t *homes = calloc((size_t)d->nranks, 1);
    uint64_t p;
    int nhomes = 0;
    dm_status_t st;

    if (homes == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "placement hint: %d ranks", d->nranks);
    }
    if (d->first_touch && first < d->place.coll_pages) {
        memset(homes, 1, (size_t)d->nranks); /* nobody knows the homes in advance */
    } else {
        for (p = first; p < first + npages && nhomes < d->nranks; p++) {
            int h = dm_place_home(&d->place, p);

            if (h >= 0 && !homes[h]) {
                homes[h] = 1;
                nhomes++;
            }
        }
    }
    st = dm_rma_hint(d, homes, first, npages, what, arg);
    free(homes);
    return st;
}

dm_status_t dm_dsm_advise(dm_dsm_t *d, const void *ptr, size_t len, int advise, int arg)
{
    uint64_t first, npages;
    dm_status_t st;

    if ((st = dm_advise_check(d, "dm_advise", ptr, (uint32_t)advise, arg)) != DM_OK) {
        return st;
    }
    if (len == 0) {
        return DM_OK;
    }
    if ((st = dm_advise_range(d, "dm_advise", ptr, len, &first, &npages)) != DM_OK) {
        return st;
    }
    return dm_advise_send(d, first, npages, (uint32_t)advise, arg);
}

static int dm_advise_window_open(void *arg)
{
    dm_dsm_t *d = arg;

    return atomic_load_explicit(&d->ntransient, memory_order_acquire) < DM_ADVISE_WINDOW / 2 ||
           atomic_load_explicit(&d->broken, memory_order_relaxed) != NULL;
}

/*
 * Read-ahead of read-only copies of pages [first, first + npages) into this
 * rank's cache (see the essay). Returns when every request is sent.
 */
static dm_status_t dm_advise_local(dm_dsm_t *d, uint64_t first, uint64_t npages)
{
    uint64_t p, end = first + (d->cache_pages != 0 ? DM_MIN(npages, d->cache_pages) : npages);
    dm_status_t st = DM_OK;

    dm_tp_serial_enter(d->tp);
    for (p = first; p < end && atomic_load(&d->broken) == NULL; p++) {
        dm_coh_state_t s = (dm_coh_state_t)atomic_load(&d->pages[p].state);

        if (atomic_load(&d->ntransient) >= DM_ADVISE_WINDOW) {
            dm_tp_serial_leave(d->tp);
            st = dm_tp_wait_until(d->tp, dm_advise_window_open, d);
            dm_tp_serial_enter(d->tp);
            if (st != DM_OK) {
                break;
            }
            s = (dm_coh_state_t)atomic_load(&d->pages[p].state);
        }
        if (s != DM_COH_I || dm_dsm_home_of(d, p) < 0) {
            continue; /* held (or on its way) already; or first-touch: no home yet */
        }
        dm_dsm_local(d, p, DM_COH_READ);
        dm_dsm_drain(d); /* the self queue stays short */
        atomic_fetch_add_explicit(&d->st_hint_ahead, 1, memory_order_relaxed);
    }
    dm_tp_serial_leave(d->tp);
    return st;
}

dm_status_t dm_dsm_prefetch_to(dm_dsm_t *d, const void *ptr, size_t len, int tier)
{
    uint64_t first, npages;
    dm_status_t st;

    if ((st = dm_advise_check(d, "dm_prefetch", ptr, DM_DSM_HINT_PREFETCH, tier)) != DM_OK) {
        return st;
    }
    if (len == 0) {
        return DM_OK;
    }
    if ((st = dm_advise_range(d, "dm_prefetch", ptr, len, &first, &npages)) != DM_OK) {
        return st;
    }
    if (tier == DM_DSM_TIER_LOCAL) {
        return dm_advise_local(d, first, npages);
    }
    return dm_advise_send(d, first, npages, DM_DSM_HINT_PREFETCH, tier);
}

dm_status_t dm_dsm_where(dm_dsm_t *d, const void *ptr, size_t len, dm_dsm_where_t *where)
{
    uint64_t first, npages, p;
    dm_status_t st;

    if (ptr == NULL || len == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_dsm_where: NULL or empty range");
    }
    if ((st = dm_advise_range(d, "dm_dsm_where", ptr, len, &first, &npages)) != DM_OK) {
        return st;
    }
    memset(where, 0, sizeof(*where));
    dm_tp_serial_enter(d->tp);
    dm_dsm_homemem_where(d, first, npages, where->home);
    for (p = first; p < first + npages; p++) {
        where->cached += d->pages[p].map != DM_DSM_MAP_NONE;
    }
    dm_tp_serial_leave(d->tp);
    where->hint_msgs = atomic_load(&d->st_hint_msgs);
    where->hint_ahead = atomic_load(&d->st_hint_ahead);
    where->read_faults = atomic_load(&d->st_read);
    return DM_OK;
}
