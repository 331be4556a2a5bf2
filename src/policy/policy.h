/*
 * Page placement and replacement policies: the contract.
 *
 * A policy decides, for ONE tier, which pages stay resident. It sees a
 * stream of events about pages (uint64_t page ids: any value, no sentinel
 * is reserved) and answers with decisions; it never touches page data,
 * performs no I/O and reads no clock: time is the order of the events. The
 * tiered store holds one instance per tier and carries out the decisions
 * (fetch, evict, write back, demote); the unit tests, the benchmark and the
 * simulator drive the same code with traces.
 *
 * Events:
 *   access(page, is_write)  a reference to the page through this tier.
 *                           HIT: it was resident. MISS: it was not and is
 *                           now (the caller fetches it into a free frame).
 *                           MISS_EVICT: as MISS, but the tier was full and
 *                           *victim_p has been dropped to make room (the
 *                           caller evicts the victim first, then fetches).
 *                           A missed page is always admitted: demand
 *                           paging, no bypass.
 *   advise(page, advice)    a hint about a resident page (dm_advice_t).
 *   remove(page)            the page left this tier without an eviction
 *                           decision (freed, or migrated away): its frame
 *                           is free and the policy forgets the page.
 *
 * Invariants every policy keeps, checked after every event by
 * tests/policy:
 *   resident <= capacity;
 *   access answers HIT exactly when the page was resident, MISS only when
 *     resident < capacity before the access, MISS_EVICT only when resident
 *     == capacity, and the victim was resident and is not the page accessed;
 *   after access the page is resident; after remove it is not.
 *
 * Memory: a policy allocates only in create, sized by the capacity (its
 * resident set and whatever history it keeps, e.g. ARC's ghost lists of up
 * to one capacity more). access, advise, remove and the queries never
 * allocate and never fail for want of memory, so they may run on the fault
 * path.
 *
 * Cost: every event is O(1) (a hash lookup plus list moves); CLOCK's hand
 * sweep is O(1) amortized; the hint policy looks at a bounded window of
 * pages (params.clean_window) at eviction.
 *
 * Concurrency: none inside. The caller serializes the events of one
 * instance (one lock per tier, or one instance per shard).
 */
#ifndef DM_POLICY_POLICY_H
#define DM_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

/* Largest capacity a policy accepts, in pages (indices are 32-bit inside). */
#define DM_POLICY_CAPACITY_MAX (1ull << 28)

/*
 * Advice about a page, the target of the public dm_advise() (like
 * cudaMemAdvise and madvise). Advice is a hint: a policy that does not
 * take advice (LRU, CLOCK, ARC) accepts and ignores it. What the hint
 * policy ("hint") does with each value is said beside it.
 */
typedef enum dm_advice {
    DM_ADVICE_NONE = 0,       /* forget earlier advice; the policy's own judgement again */
    DM_ADVICE_COLD,           /* not needed soon: evict before any unadvised page.
                                 One-shot, like MADV_COLD: the next access forgets it */
    DM_ADVICE_READ_MOSTLY,    /* read far more than written; the tier below keeps a copy,
                                 so dropping a clean one costs no write-back. Sticky */
    DM_ADVICE_PREFERRED_TIER, /* this tier is the page's preferred location: evict only
                                 when every resident page is preferred. Sticky */
    DM_ADVICE_ACCESSED_BY,    /* another accessor (device, node) used the page through a
                                 mapping this tier does not observe: counts as a read
                                 reference now. One-shot */
    DM_ADVICE_COUNT
} dm_advice_t;

typedef enum dm_policy_verdict {
    DM_POLICY_HIT = 0,    /* resident: nothing to do */
    DM_POLICY_MISS,       /* admitted into a free frame: fetch it */
    DM_POLICY_MISS_EVICT, /* admitted in place of *victim_p: evict that, then fetch */
} dm_policy_verdict_t;

/* Where a policy keeps a page (dm_policy_lookup). Ghosts are history, not resident. */
typedef enum dm_policy_where {
    DM_POLICY_ABSENT = 0,  /* not resident, no history */
    DM_POLICY_RESIDENT,    /* resident (LRU, CLOCK) */
    DM_POLICY_T1,          /* ARC: resident, seen once recently */
    DM_POLICY_T2,          /* ARC: resident, seen at least twice recently */
    DM_POLICY_B1,          /* ARC: ghost, evicted from T1 */
    DM_POLICY_B2,          /* ARC: ghost, evicted from T2 */
    DM_POLICY_COLD,        /* hint: resident, advised cold (evicted first) */
    DM_POLICY_PREFERRED,   /* hint: resident, advised preferred (evicted last) */
} dm_policy_where_t;

/* Parameters of create; fields beyond capacity are optional, named in field_mask. */
#define DM_POLICY_PARAM_CLEAN_WINDOW (1ull << 0)

typedef struct dm_policy_params {
    uint64_t field_mask;   /* DM_POLICY_PARAM_* of the optional fields set */
    uint64_t capacity;     /* pages, 1 .. DM_POLICY_CAPACITY_MAX; required */
    uint32_t clean_window; /* hint: how many pages from the LRU end of the list ARC
                              evicts from are searched for a clean read-mostly page
                              (default 8; 0: never prefer one) */
} dm_policy_params_t;

/* Counters a caller (or a test) may read; fields a policy lacks are 0. */
typedef struct dm_policy_info {
    uint64_t capacity;
    uint64_t resident;
    uint64_t history;   /* pages remembered but not resident (ghosts) */
    uint64_t t1, t2;    /* ARC and hint: resident lists */
    uint64_t b1, b2;    /* ARC and hint: ghost lists */
    uint64_t p;         /* ARC and hint: target size of T1 */
    uint64_t cold;      /* hint: resident pages advised cold */
    uint64_t preferred; /* hint: resident pages advised preferred */
} dm_policy_info_t;

/*
 * An instance. Opaque to callers: each policy's own state follows this
 * head in its private structure.
 */
typedef struct dm_policy dm_policy_t;

/*
 * A policy's operations. New policies are added by writing one of these
 * (and listing it in dm_policy_ops_find), nothing else.
 */
typedef struct dm_policy_ops {
    const char *name;
    /* pre: params checked by dm_policy_create. */
    dm_status_t (*create)(const dm_policy_params_t *params, dm_policy_t **policy_p);
    void (*destroy)(dm_policy_t *policy);
    dm_policy_verdict_t (*access)(dm_policy_t *policy, uint64_t page, int is_write,
                                  uint64_t *victim_p);
    /* pre: advice < DM_ADVICE_COUNT. */
    dm_status_t (*advise)(dm_policy_t *policy, uint64_t page, dm_advice_t advice);
    dm_status_t (*remove)(dm_policy_t *policy, uint64_t page);
    dm_policy_where_t (*lookup)(const dm_policy_t *policy, uint64_t page);
    void (*info)(const dm_policy_t *policy, dm_policy_info_t *info);
} dm_policy_ops_t;

struct dm_policy {
    const dm_policy_ops_t *ops;
};

/* The built-in policies. */
extern const dm_policy_ops_t dm_policy_lru_ops;   /* "lru" */
extern const dm_policy_ops_t dm_policy_clock_ops; /* "clock": second chance */
extern const dm_policy_ops_t dm_policy_arc_ops;   /* "arc": Megiddo & Modha, FAST 2003 */
extern const dm_policy_ops_t dm_policy_hint_ops;  /* "hint": advice, else ARC */

/* The built-in policy of that name, or NULL. */
const dm_policy_ops_t *dm_policy_ops_find(const char *name);

/*
 * A new instance of policy ops, empty. Returns DM_OK and sets *policy_p,
 * DM_ERR_INVALID_PARAM (capacity 0 or above DM_POLICY_CAPACITY_MAX, an
 * unknown field_mask bit), or DM_ERR_NO_MEMORY.
 */
dm_status_t dm_policy_create(const dm_policy_ops_t *ops, const dm_policy_params_t *params,
                             dm_policy_t **policy_p);

/* Frees the instance (NULL is fine). The caller's pages are not touched. */
void dm_policy_destroy(dm_policy_t *policy);

/*
 * A reference to page. Returns the verdict; sets *victim_p only for
 * DM_POLICY_MISS_EVICT. Never fails.
 */
static inline dm_policy_verdict_t dm_policy_access(dm_policy_t *policy, uint64_t page,
                                                   int is_write, uint64_t *victim_p)
{
    return policy->ops->access(policy, page, is_write, victim_p);
}

/*
 * Advice about a resident page. Returns DM_OK (taken, or ignored by a
 * policy that takes no advice), DM_ERR_NOT_FOUND (the page is not resident
 * in this tier: the store keeps advice with the region and gives it again
 * when the page is admitted), or DM_ERR_INVALID_PARAM (unknown advice).
 */
dm_status_t dm_policy_advise(dm_policy_t *policy, uint64_t page, dm_advice_t advice);

/*
 * The page left this tier (freed or migrated away). Returns DM_OK when it
 * was resident (its frame is free now) or DM_ERR_NOT_FOUND when it was not;
 * either way the policy keeps no history of it afterwards.
 */
static inline dm_status_t dm_policy_remove(dm_policy_t *policy, uint64_t page)
{
    return policy->ops->remove(policy, page);
}

static inline dm_policy_where_t dm_policy_lookup(const dm_policy_t *policy, uint64_t page)
{
    return policy->ops->lookup(policy, page);
}

/* True when where names a resident page. */
static inline int dm_policy_where_resident(dm_policy_where_t where)
{
    return where == DM_POLICY_RESIDENT || where == DM_POLICY_T1 || where == DM_POLICY_T2 ||
           where == DM_POLICY_COLD || where == DM_POLICY_PREFERRED;
}

void dm_policy_info(const dm_policy_t *policy, dm_policy_info_t *info);

/* Number of resident pages. */
uint64_t dm_policy_resident(const dm_policy_t *policy);

const char *dm_policy_name(const dm_policy_t *policy);
const char *dm_advice_name(dm_advice_t advice);
const char *dm_policy_where_name(dm_policy_where_t where);

#endif
