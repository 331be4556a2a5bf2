/*
 * Home memory: where a home keeps the data of the pages it is home of.
 *
 * Without a budget (DISTMEM_HOME_MEMORY=0, the default) that is home_mem,
 * a NORESERVE mapping as large as the address space: a page's data sits at
 * its offset, the kernel gives memory to the pages written, and the
 * protocol reads and writes it in place. The ranks of one host share it
 * (one file, direct.c) when they can, so their one-sided operations may
 * access each other's home pages without messages; otherwise it is
 * private.
 *
 * With a budget, the data lives in a tiered page store (src/store/store.h):
 * a DRAM tier of DISTMEM_HOME_MEMORY bytes over an NVMe tier of
 * DISTMEM_STORE_SIZE bytes (a file under DISTMEM_STORE_PATH, io_uring with
 * O_DIRECT), with the replacement policy DISTMEM_HOME_POLICY deciding which
 * pages stay in DRAM, and DISTMEM_MIGRATE_BUDGET bounding the bandwidth of
 * background moves. So a job's shared data may exceed the DRAM of its
 * nodes: the cached copies by DISTMEM_CACHE_SIZE (dsm.c's eviction), the
 * home data by this.
 *
 * Store page ids. The store's pages are numbered densely (sid), so its
 * index is sized by what this rank can hold, not by the address space:
 * sids[page] is sid + 1 of a page this rank has written as home (0: none:
 * the page reads as zeros). sids is a NORESERVE table over the whole
 * address space (4 bytes a page, touched only where pages are homed
 * here). Freed pages give their sid back (a stack), after their data was
 * zeroed in the store and their advice forgotten.
 *
 * Invariants (serial lock for all of it):
 *   - the store holds the current home data of every page with a sid; a
 *     page without one is all zeros;
 *   - every call returns a page's data through one of DM_DSM_STAGES
 *     staging buffers; a stage's contents stay valid until the next call
 *     that names the same stage (the protocol uses one for the page it
 *     installs, one for what it sends, one for one-sided operations).
 *
 * Placement hints (dm_advise, dm_prefetch; advise.h says what each asks
 * of the store). They name the pages of a range homed here, translated to
 * sids run by run. Sticky advice (READ_MOSTLY, PREFERRED_TIER) for a page
 * never written (no sid) waits in advice[page] and is given to the store
 * with the page's first write; a page keeps no sid for advice alone, so
 * advising a sparse range takes no room in the store. Prefetches are HINT
 * migrations, run by the store's worker thread, which homemem always
 * starts: the home answers once they are queued. A freed page's sid
 * forgets its advice before it is handed out again.
 *
 * Failure: a store error (an I/O error, or no room left in any tier for a
 * page written the first time) leaves the data where it was and breaks the
 * runtime with a message naming the page and the cause (dm_dsm_break): the
 * ranks waiting for that page get the error, nothing is silently lost.
 *
 * Signals: these calls run in the SIGBUS handler of a faulting thread too
 * (the fault path drives the protocol). The store takes its own mutexes
 * and does I/O there; the thread that faulted was running application
 * code, never the store, so it holds none of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "advise.h"
#include "dsm_int.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "util.h"

static const char *const dm_homemem_policies[] = { "arc", "clock", "lru", "hint" };

dm_status_t dm_dsm_homemem_init(dm_dsm_t *d, const dm_config_t *cfg)
{
    dm_store_tier_params_t tiers[2];
    dm_store_params_t sp;
    const char *policies[2];
    uint64_t dram_pages, nvme_pages;
    char path[DM_CONFIG_STRING_MAX + 64];
    dm_status_t st;

    d->home_mem = NULL;
    /* collective: in place, home memory may be shared with this host's ranks (direct.c) */
    st = dm_dsm_direct_init(d, cfg);
    if (st != DM_OK || cfg->home_memory == 0) {
        return st;
    }
    dram_pages = cfg->home_memory >> d->page_shift;
    nvme_pages = cfg->store_size >> d->page_shift;
    if (dram_pages < 64) {
        return dm_error_set(DM_ERR_CONFIG,
                            "DISTMEM_HOME_MEMORY=%llu bytes: at least 64 pages (%zu bytes), or 0 "
                            "for no limit",
                            (unsigned long long)cfg->home_memory, 64 * d->page_size);
    }
    if (nvme_pages < 64) {
        return dm_error_set(DM_ERR_CONFIG,
                            "DISTMEM_STORE_SIZE=%llu bytes: the tier under DISTMEM_HOME_MEMORY "
                            "needs at least 64 pages (%zu bytes)",
                            (unsigned long long)cfg->store_size, 64 * d->page_size);
    }
    snprintf(path, sizeof(path), "%s/distmem-%ld-%d.pages", cfg->store_path, (long)getpid(),
             d->rank);
    memset(tiers, 0, sizeof(tiers));
    tiers[0].field_mask = DM_STORE_PARAM_NAME;
    tiers[0].kind = DM_STORE_KIND_DRAM;
    tiers[0].capacity = dram_pages;
    tiers[0].name = "home-dram";
    tiers[1].field_mask = DM_STORE_PARAM_NAME | DM_STORE_PARAM_PATH | DM_STORE_PARAM_PREALLOC;
    tiers[1].kind = DM_STORE_KIND_NVME;
    tiers[1].capacity = nvme_pages;
    tiers[1].name = "home-nvme";
    tiers[1].path = path;
    tiers[1].prealloc = DM_STORE_PREALLOC_CHUNK; /* blocks as pages arrive, not 8 GiB up front */
    policies[0] = dm_homemem_policies[cfg->home_policy];
    policies[1] = "lru"; /* the last tier never evicts */
    memset(&sp, 0, sizeof(sp));
    sp.field_mask = DM_STORE_OPT_PAGE_SIZE | DM_STORE_OPT_POLICIES;
    sp.tiers = tiers;
    sp.ntiers = 2;
    sp.page_size = d->page_size;
    sp.policies = policies;
    sp.npages = dram_pages + nvme_pages - 16; /* the default max_in_flight: 16 slots for moves */
    /*
     * The worker runs the background moves: with a budget every move, else
     * the HINT moves of dm_prefetch (demand moves are synchronous then).
     * One request per page at most, so a queue as long as the store never
     * rejects a prefetch.
     */
    sp.field_mask |= DM_STORE_OPT_WORKER | DM_STORE_OPT_QUEUE_MAX;
    sp.worker = 1;
    sp.queue_max = (uint32_t)DM_MIN(sp.npages, (uint64_t)UINT32_MAX);
    if (cfg->migrate_budget > 0) {
        sp.field_mask |= DM_STORE_OPT_BUDGET;
        sp.budget_mbs = (double)cfg->migrate_budget;
    }
    st = dm_store_create(&sp, &d->store);
    if (st != DM_OK) {
        return dm_error_set(st, "home memory store (DISTMEM_HOME_MEMORY, DISTMEM_STORE_PATH=%s): %s",
                            cfg->store_path, dm_last_error());
    }
    d->store_npages = sp.npages;
    d->sids_bytes = (size_t)d->place.npages * sizeof(uint32_t);
    d->sids = dm_dsm_map_meta(d->sids_bytes);
    d->advice = dm_dsm_map_meta((size_t)d->place.npages);
    d->sid_free = malloc(sp.npages * sizeof(uint32_t));
    d->stage = aligned_alloc(DM_MAX(d->page_size, dm_store_buf_align(d->store)),
                             (size_t)DM_DSM_STAGES << d->page_shift);
    if (d->sids == NULL || d->advice == NULL || d->sid_free == NULL || d->stage == NULL) {
        dm_dsm_homemem_cleanup(d);
        return dm_error_set(DM_ERR_NO_MEMORY, "home memory store index");
    }
    DM_INFO("home memory: %llu pages in DRAM (%s) over %llu on %s", (unsigned long long)dram_pages,
            policies[0], (unsigned long long)nvme_pages, path);
    return DM_OK;
}

void dm_dsm_homemem_cleanup(dm_dsm_t *d)
{
    if (d->home_mem != NULL) {
        munmap(d->home_mem, d->home_bytes);
        d->home_mem = NULL;
    }
    dm_dsm_direct_cleanup(d);
    if (d->store != NULL) {
        dm_store_destroy(d->store); /* removes the NVMe file */
        d->store = NULL;
    }
    if (d->sids != NULL) {
        munmap(d->sids, d->sids_bytes);
        d->sids = NULL;
    }
    if (d->advice != NULL) {
        munmap(d->advice, (size_t)d->place.npages);
        d->advice = NULL;
    }
    free(d->sid_free);
    free(d->stage);
    d->sid_free = NULL;
    d->stage = NULL;
}

/* A free sid + 1, or 0 when the store has no page left. pre: serial lock. */
static uint32_t dm_homemem_sid_new(dm_dsm_t *d)
{
    if (d->nsid_free > 0) {
        return d->sid_free[--d->nsid_free] + 1;
    }
    if (d->sid_next < d->store_npages) {
        return (uint32_t)++d->sid_next;
    }
    return 0;
}

static unsigned char *dm_homemem_stage(dm_dsm_t *d, int stage)
{
    return d->stage + ((size_t)stage << d->page_shift);
}

const unsigned char *dm_dsm_homemem_read(dm_dsm_t *d, uint64_t page, int stage)
{
    unsigned char *buf;
    uint32_t sid;
    dm_status_t st;

    if (d->store == NULL) {
        return dm_dsm_home_page(d, page);
    }
    buf = dm_homemem_stage(d, stage);
    sid = d->sids[page];
    if (sid == 0) {
        memset(buf, 0, d->page_size);
        return buf;
    }
    st = dm_store_read(d->store, sid - 1, buf);
    if (st != DM_OK) {
        dm_dsm_break(d, "reading home page %llu from the store: %s", (unsigned long long)page,
                     dm_last_error());
        return NULL;
    }
    return buf;
}

int dm_dsm_homemem_write(dm_dsm_t *d, uint64_t page, const void *data)
{
    uint32_t sid;
    dm_status_t st;

    if (d->store == NULL) {
        memcpy(dm_dsm_home_page(d, page), data, d->page_size);
        return 0;
    }
    if (((uintptr_t)data & (dm_store_buf_align(d->store) - 1)) != 0) {
        /* the store moves pages by DMA: give it an aligned copy */
        unsigned char *buf = dm_homemem_stage(d, DM_DSM_STAGE_WRITE);

        memcpy(buf, data, d->page_size);
        data = buf;
    }
    sid = d->sids[page];
    if (sid == 0) {
        sid = dm_homemem_sid_new(d);
        if (sid == 0) {
            dm_dsm_break(d,
                         "home memory full: page %llu does not fit in DISTMEM_HOME_MEMORY + "
                         "DISTMEM_STORE_SIZE (%llu pages)",
                         (unsigned long long)page, (unsigned long long)d->store_npages);
            return -1;
        }
    }
    st = dm_store_write(d->store, sid - 1, data);
    if (st != DM_OK) {
        if (d->sids[page] == 0) {
            d->sid_free[d->nsid_free++] = sid - 1;
        }
        dm_dsm_break(d, "writing home page %llu to the store: %s", (unsigned long long)page,
                     dm_last_error());
        return -1;
    }
    if (d->sids[page] == 0 && d->advice[page] != 0) {
        /* its first write: the sticky advice given before (placement hints) */
        (void)dm_store_advise(d->store, sid - 1, 1, (dm_advice_t)(d->advice[page] - 1));
        d->advice[page] = 0;
    }
    d->sids[page] = sid;
    return 0;
}

unsigned char *dm_dsm_homemem_begin(dm_dsm_t *d, uint64_t page)
{
    if (d->store == NULL) {
        return dm_dsm_home_page(d, page);
    }
    return (unsigned char *)dm_dsm_homemem_read(d, page, DM_DSM_STAGE_RMA);
}

int dm_dsm_homemem_end(dm_dsm_t *d, uint64_t page, unsigned char *mem, int written)
{
    if (d->store == NULL || !written) {
        return 0;
    }
    return dm_dsm_homemem_write(d, page, mem);
}

void dm_dsm_homemem_discard(dm_dsm_t *d, uint64_t first, uint64_t npages)
{
    uint64_t p;

    if (d->store == NULL && d->direct_home) {
        dm_dsm_direct_discard(d, first, npages); /* a shared file: MADV_DONTNEED keeps its data */
        return;
    }
    if (d->store == NULL) {
        madvise(dm_dsm_home_page(d, first), (size_t)npages << d->page_shift, MADV_DONTNEED);
        return;
    }
    memset(dm_homemem_stage(d, DM_DSM_STAGE_WRITE), 0, d->page_size);
    for (p = first; p < first + npages; p++) {
        uint32_t sid = d->sids[p];

        if (d->advice[p] != 0) {
            d->advice[p] = 0;
        }
        if (sid == 0) {
            continue;
        }
        /* without advice, and zeroed if it ever held data, so a page handed
         * out again is a fresh page */
        (void)dm_store_advise(d->store, sid - 1, 1, DM_ADVICE_NONE);
        if (dm_store_page_tier(d->store, sid - 1) >= 0 &&
            dm_store_write(d->store, sid - 1, dm_homemem_stage(d, DM_DSM_STAGE_WRITE)) != DM_OK) {
            DM_WARN("zeroing freed home page %llu: %s (its store page is not reused)",
                    (unsigned long long)p, dm_last_error());
        } else {
            d->sid_free[d->nsid_free++] = sid - 1;
        }
        d->sids[p] = 0;
    }
}

void dm_dsm_homemem_stats(dm_dsm_t *d)
{
    dm_store_stats_t s;
    unsigned t;

    if (d->store == NULL) {
        return;
    }
    dm_store_stats(d->store, &s);
    for (t = 0; t < s.ntiers; t++) {
        DM_INFO("home memory tier %s: %llu pages, %llu hits, %llu misses", s.tier[t].name,
                (unsigned long long)s.tier[t].pages, (unsigned long long)s.tier[t].hits,
                (unsigned long long)s.tier[t].misses);
    }
    DM_INFO("home memory moves: %llu synchronous, %llu no space, %llu I/O errors",
            (unsigned long long)s.sync_moves, (unsigned long long)s.no_space,
            (unsigned long long)s.io_error);
}

unsigned dm_dsm_homemem_kinds(dm_dsm_t *d, dm_store_kind_t *kinds)
{
    dm_store_stats_t s;
    unsigned t;

    if (d->store == NULL) {
        return 0;
    }
    dm_store_stats(d->store, &s);
    for (t = 0; t < s.ntiers; t++) {
        kinds[t] = s.tier[t].kind;
    }
    return s.ntiers;
}

/* Carries out plan for store pages [sid0, sid0 + n). Returns the first failure. */
static dm_status_t dm_homemem_hint_run(dm_dsm_t *d, const dm_dsm_hint_plan_t *plan,
                                       uint64_t sid0, uint64_t n)
{
    dm_status_t st;
    int i;

    for (i = 0; i < 2; i++) {
        if (plan->advice[i] >= 0 &&
            (st = dm_store_advise(d->store, sid0, n, (dm_advice_t)plan->advice[i])) != DM_OK) {
            return st;
        }
    }
    return plan->move_to >= 0 ? dm_store_prefetch(d->store, sid0, n, (unsigned)plan->move_to)
                              : DM_OK;
}

dm_status_t dm_dsm_homemem_hint(dm_dsm_t *d, uint64_t first, uint64_t npages, uint32_t what,
                                int32_t arg)
{
    dm_store_kind_t kinds[DM_STORE_MAX_TIERS];
    unsigned ntiers = dm_dsm_homemem_kinds(d, kinds);
    dm_dsm_hint_plan_t plan;
    uint64_t p, sid0 = 0, run = 0;
    dm_status_t st, ret = DM_OK;

    st = dm_dsm_hint_plan(what, arg, d->nranks, kinds, ntiers, &plan);
    if (st != DM_OK || d->store == NULL || (plan.advice[0] < 0 && plan.move_to < 0)) {
        return st; /* no store: in-place home memory has one tier; nothing to do */
    }
    /* runs of consecutive sids, each one store call per step of the plan */
    for (p = first; p < first + npages; p++) {
        uint32_t sid;

        if (dm_dsm_home_of(d, p) != d->rank) {
            continue;
        }
        sid = d->sids[p];
        if (sid == 0) {
            /* never written: sticky advice waits for the first write, nothing else applies */
            if (plan.sticky) {
                d->advice[p] = (uint8_t)(plan.advice[0] + 1);
            } else if (plan.advice[0] == DM_ADVICE_NONE && d->advice[p] != 0) {
                d->advice[p] = 0;
            }
            continue;
        }
        if (run > 0 && sid - 1 == sid0 + run) {
            run++;
            continue;
        }
        if (run > 0 && (st = dm_homemem_hint_run(d, &plan, sid0, run)) != DM_OK && ret == DM_OK) {
            ret = st;
        }
        sid0 = sid - 1;
        run = 1;
    }
    if (run > 0 && (st = dm_homemem_hint_run(d, &plan, sid0, run)) != DM_OK && ret == DM_OK) {
        ret = st;
    }
    return ret;
}

void dm_dsm_homemem_where(dm_dsm_t *d, uint64_t first, uint64_t npages, uint64_t *home)
{
    dm_store_kind_t kinds[DM_STORE_MAX_TIERS];
    uint64_t p;

    (void)dm_dsm_homemem_kinds(d, kinds);
    for (p = first; p < first + npages; p++) {
        int t;

        if (dm_dsm_home_of(d, p) != d->rank) {
            continue;
        }
        if (d->store == NULL) {
            home[DM_DSM_TIER_DRAM]++; /* in place: one tier */
            continue;
        }
        t = d->sids[p] != 0 ? dm_store_page_tier(d->store, d->sids[p] - 1) : -1;
        home[t < 0 ? DM_DSM_TIER_LOCAL : dm_dsm_tier_of_kind(kinds[t])]++;
    }
}
