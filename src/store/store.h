/*
 * The tiered page store: the contract.
 *
 * A store holds npages logical pages (ids 0 .. npages-1, page_size bytes
 * each) on a stack of tiers (tier.h: dram, nvme, pfs, gpu), sorted by their
 * distance, fastest first: tier index 0 is the fastest ("top") tier, index
 * ntiers-1 the slowest ("last"). Placement is EXCLUSIVE: a page that was
 * written lives in exactly one tier (one slot), where every read and write
 * of it goes; a page never written lives nowhere and reads as zeros. So the
 * pages must fit in the sum of the capacities (see dm_store_create for the
 * exact bound). One exception that costs no room: an nvme tier with a slot
 * for every page (capacity >= npages) keeps the slot of a page promoted out
 * of it as a copy, and while the page is not written (clean) its demotion
 * back is a drop with no I/O (store.c, "Copies"; stats: clean_drops,
 * tier[].copies).
 *
 * Each tier has its own replacement policy (policy.h: "lru", "clock", "arc",
 * "hint"). A page enters a tier's policy when it arrives in the tier; when
 * the policy is full it names a victim, which is demoted one tier down (a
 * PRESSURE migration). A page moves between tiers only by a migration:
 *
 *   class     trigger                                  priority
 *   DEMAND    a read or write of a page not in tier 0  highest
 *   PRESSURE  a policy victim (tier above its target)
 *   HINT      dm_store_prefetch
 *   SCAN      dm_store_scan: pages accessed often       lowest
 *
 * Budget. With budget_mbs > 0, every migration (demand ones too) is started
 * by the engine (dm_store_progress) only when its (source, destination) tier
 * pair's token bucket admits page_size bytes, and at most max_in_flight run
 * at once: over any window of W seconds a pair moves at most
 * burst + budget*W bytes, whatever the number of requests (the "migration
 * storm"). Demand accesses themselves never wait for the budget: they are
 * served from wherever the page lives at that moment, and the promotion
 * follows when admitted. With budget_mbs == 0 (no budget), the store behaves
 * as a cache: a read or write of a page outside tier 0 brings it into tier 0
 * at once (synchronously, in the caller's thread), the victim going one tier
 * down; background migrations still run through the engine, unthrottled.
 *
 * Watermarks (fractions of a tier's capacity, not for the last tier):
 *   low   the policy's capacity: a tier holds at most low * capacity pages
 *         the policy keeps; pages above it are victims being demoted or
 *         pages arriving. The slots between are the room migrations need.
 *   high  above it, HINT and SCAN promotions into the tier do not start
 *         (DEMAND and PRESSURE still do; into tier 0, which receives only
 *         promotions, the engine's DEMAND ones stop too: the slots above
 *         are the room of the reads that promote a page themselves, see
 *         dm_store_read); victims (PRESSURE) bring the tier back to at most
 *         low * capacity.
 * The last tier's policy has the tier's whole capacity; it never evicts.
 *
 * Lifecycle: dm_store_create() -> any calls -> dm_store_destroy().
 *
 * Concurrency: every function may be called from any thread, concurrently,
 * except create and destroy (no other call on the store may run or start
 * during destroy). Concurrent writes to one page, or a write concurrent
 * with a read of it, are the caller's data race: the page then holds one of
 * the writes, and the read returns some page-sized mix of old and new, but
 * the store stays consistent. Reads and writes of different pages run in
 * parallel: reads of pages living in a dram tier 0 take no lock at all (a
 * copy between two looks at the page's word, store.c), no lock is held
 * across a device's I/O (outside cache mode's demotions, see store.c),
 * and the dram and nvme tiers take I/O from several threads at once.
 * dm_store_progress is called either by the
 * store's worker thread (params.worker) or by the caller (tests drive it
 * with a virtual clock), not both; a thread that waits for a migration
 * (a write to a page being read by one, a read of a page on its way up)
 * reaps finished I/O itself, so it never depends on the worker's timing.
 *
 * Errors: every function returning dm_status_t records a detail in
 * dm_last_error() (naming the field, page, tier and errno text). Nothing in
 * the library aborts the process.
 */
#ifndef DM_STORE_STORE_H
#define DM_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"
#include "migrate.h"
#include "policy.h"
#include "tier.h"

typedef struct dm_store dm_store_t; /* opaque handle */

/* Most tiers a store stacks. */
#define DM_STORE_MAX_TIERS DM_MIGRATE_MAX_TIERS

/* Which optional fields of dm_store_params_t are set (field_mask). */
enum {
    DM_STORE_OPT_PAGE_SIZE      = 1u << 0,
    DM_STORE_OPT_POLICIES       = 1u << 1,
    DM_STORE_OPT_BUDGET         = 1u << 2,
    DM_STORE_OPT_BURST          = 1u << 3,
    DM_STORE_OPT_MAX_IN_FLIGHT  = 1u << 4,
    DM_STORE_OPT_QUEUE_MAX      = 1u << 5,
    DM_STORE_OPT_WATERMARKS     = 1u << 6,
    DM_STORE_OPT_SCAN_THRESHOLD = 1u << 7,
    DM_STORE_OPT_WORKER         = 1u << 8,
    DM_STORE_OPT_SCAN_INTERVAL  = 1u << 9,
    DM_STORE_OPT_READAHEAD      = 1u << 10,
};

/* Most pages a sequential reader's read-ahead asks ahead (readahead_max). */
#define DM_STORE_READAHEAD_MAX 1024u

/*
 * Creation parameters. tiers, ntiers and npages are always read; every other
 * field only when its bit is in field_mask, else it takes the default given.
 * The struct can grow at the end without breaking callers that zero it.
 */
typedef struct dm_store_params {
    uint64_t field_mask;
    /* Required. The tiers, in any order: the store sorts them by distance
     * (dm_store_tier_query().distance, default or given; equal distances
     * keep the caller's order). Each one's page_size is set to the store's;
     * one that sets DM_STORE_PARAM_PAGE_SIZE to another value is refused.
     * Each queue_depth (default 64) must be >= max_in_flight. The store
     * creates the tiers and owns them; the caller's array and its strings
     * are read during create only. */
    const dm_store_tier_params_t *tiers;
    unsigned      ntiers;         /* 1 .. DM_STORE_MAX_TIERS */
    uint64_t      npages;         /* logical pages, >= 1; see dm_store_create */
    size_t        page_size;      /* bytes; default 4096 (see tier.h for the rules) */
    /* Policy name per tier, indexed as the caller's tiers[] (before the
     * sort); a NULL array or a NULL entry means "arc". Use "hint" for a
     * tier where dm_store_advise should have an effect. */
    const char *const *policies;
    double        budget_mbs;     /* per (source, destination) tier pair, in
                                     MB/s (10^6 bytes); 0 = no budget (cache
                                     mode, see above); default 0 */
    uint64_t      budget_burst;   /* bytes a pair may move at once after idling;
                                     >= page_size, <= 2^33; default
                                     max(16 pages, 2 ms of budget) */
    uint32_t      max_in_flight;  /* migrations running at once, 1 .. 1024;
                                     default 16 */
    uint32_t      queue_max;      /* queued HINT and SCAN requests (prefetch,
                                     read-ahead, scan); beyond it they are
                                     rejected (counted); DEMAND and PRESSURE
                                     requests are never rejected; default 1024 */
    double        high_watermark; /* 0 < low < high <= 1; default 0.95 */
    double        low_watermark;  /* default 0.85 */
    uint32_t      scan_threshold; /* dm_store_scan promotes a page accessed at
                                     least this often since the last scan;
                                     >= 1; default 2 */
    int           worker;         /* 1: start a worker thread that calls
                                     dm_store_progress (and dm_store_scan every
                                     scan_interval_ms); default 0 */
    uint32_t      scan_interval_ms; /* worker only; 0 = never scan; default 0 */
    uint32_t      readahead_max;  /* budget mode: pages a sequential reader gets
                                     read ahead into tier 0, at most (see
                                     dm_store_read), and at most half of
                                     tier 0's slots above its target; 0 = no
                                     read-ahead; 0 .. DM_STORE_READAHEAD_MAX;
                                     default 64. Cache mode has none. */
} dm_store_params_t;

/*
 * Creates a store: the tiers (empty), their policies, the migration engine,
 * and the worker thread when asked. *store_p is set only on success.
 * Bound on pages: npages + max_in_flight <= sum of the tiers' capacities
 * (each migration in flight holds a slot at both ends), npages <= 2^32 - 2,
 * each capacity <= 2^32 - 2.
 * Errors: DM_ERR_INVALID_PARAM for every bad configuration, with a message
 * naming the field (tiers NULL, ntiers, npages, page_size, policies[i]
 * unknown, budget_mbs negative, budget_burst, max_in_flight, queue_max,
 * watermarks, scan_threshold, readahead_max, tiers[i].page_size,
 * tiers[i].queue_depth, the capacity bound); any error of dm_store_tier_create (tier i named);
 * DM_ERR_NO_MEMORY; DM_ERR_IO (the worker thread could not start).
 */
dm_status_t dm_store_create(const dm_store_params_t *params, dm_store_t **store_p);

/*
 * Stops the worker, drops migrations still queued or in flight (every page
 * stays where its last committed migration put it: nothing is lost, the
 * tiers are then destroyed, see dm_store_tier_destroy), frees everything.
 * Does not flush. Never fails; NULL is a no-op.
 */
void dm_store_destroy(dm_store_t *store);

/*
 * Reads page into buf (page_size bytes, aligned to dm_store_buf_align()),
 * synchronously, from the tier the page lives in (a page being migrated is
 * read from its source copy, which stays valid until the commit; a page on
 * its way up to tier 0 is waited for and read there). A page never written
 * reads as zeros. Counts a hit in that tier (and a miss in each faster
 * one). Then, for a page outside tier 0: with a budget, the page moves to
 * tier 0 as a DEMAND migration: at once, in the caller's thread, with the
 * data this read fetched, when tier 0 has a free slot and the pair's bucket
 * and max_in_flight admit it; else it is requested (it runs later, admitted
 * before any background migration but within the budget). Without one, the
 * page is moved into tier 0 before the call returns (the policy's victim
 * going one tier down), unless it is being migrated or pinned by another
 * thread. With a budget, reads in sequence (the third page read after its
 * predecessor, by any thread; but a read of a tier 0 page that took no
 * lock is seen only when the same thread's next read continues the
 * sequence, see store.c) start read-ahead: the next pages, up to
 * readahead_max, are requested up to tier 0 as HINT migrations (below
 * tier 0's high watermark, behind demand and pressure, within the budget),
 * which the engine reads in runs.
 * Errors: DM_ERR_OUT_OF_RANGE (page >= npages), DM_ERR_INVALID_PARAM (buf
 * NULL or misaligned), DM_ERR_IO (the tier failed; buf unspecified). A
 * failed promotion is not an error of the read (it shows in the stats).
 */
dm_status_t dm_store_read(dm_store_t *store, uint64_t page, void *buf);

/*
 * Writes buf (page_size bytes, aligned) to page, synchronously: when it
 * returns DM_OK, every later read returns it (until the next write). A page
 * never written is placed in the fastest tier with a free slot (without a
 * budget: in tier 0, evicting the policy's victim), and stays there until
 * accessed again; a page written before
 * is written where it lives, and promoted as for dm_store_read (without a
 * budget, the new data goes straight to tier 0). A write to a page being
 * migrated marks that migration stale: its copy is discarded at the commit
 * and the page stays at its source, with the new data (the write waits for
 * the migration's read of the source to finish first).
 * Errors: DM_ERR_OUT_OF_RANGE, DM_ERR_INVALID_PARAM (as for read),
 * DM_ERR_NO_SPACE (a page never written found no tier with room: every
 * device refused with ENOSPC; the page stays unwritten), DM_ERR_IO. After
 * DM_ERR_IO on a page written before, its contents are unspecified.
 */
dm_status_t dm_store_write(dm_store_t *store, uint64_t page, const void *buf);

/*
 * Advice about pages [first_page, first_page + npages) (policy.h's
 * dm_advice_t). Sticky advice (READ_MOSTLY, PREFERRED_TIER) is kept with the
 * page and given again to each tier's policy the page enters; one-shot
 * advice (COLD, ACCESSED_BY) goes to the policy of the tier the page is in
 * now. A policy that takes no advice ("arc", "lru", "clock") ignores it:
 * use "hint". DM_ADVICE_NONE forgets sticky advice. Pages never written take
 * the sticky advice for when they are.
 * Errors: DM_ERR_OUT_OF_RANGE (the range passes npages), DM_ERR_INVALID_PARAM
 * (advice unknown). Nothing is changed on error.
 */
dm_status_t dm_store_advise(dm_store_t *store, uint64_t first_page, uint64_t npages,
                            dm_advice_t advice);

/*
 * Requests that pages [first_page, first_page + npages) move to tier
 * tier_index (0 = fastest; also a slower tier: a demotion hint), as HINT
 * migrations: queued, run by the engine in priority order and within the
 * budget. Pages never written, already there, or already moving there are
 * skipped. Returns once queued; dm_store_stats shows when they are done.
 * Errors: DM_ERR_OUT_OF_RANGE (range or tier_index), DM_ERR_BUSY (the queue
 * was full: the pages that did not fit were rejected and counted; the others
 * are queued).
 */
dm_status_t dm_store_prefetch(dm_store_t *store, uint64_t first_page, uint64_t npages,
                              unsigned tier_index);

/*
 * Hotness scan, one pass over every page (O(npages) under the index lock):
 * a page outside tier 0 read or written at least scan_threshold times since
 * the last scan is requested one tier up (SCAN class); every page's count
 * starts again at 0. It also requests again the demotion of victims whose
 * earlier demotion failed (PRESSURE class; e.g. after DM_ERR_NO_SPACE in
 * the tier below). Never fails (rejected requests are counted).
 */
dm_status_t dm_store_scan(dm_store_t *store);

/*
 * One bounded step of the migration engine, at time now_ns (any monotonic
 * nanosecond clock; the budget's buckets refill by it; a time earlier than
 * the last one counts as the last one): reaps finished tier operations and
 * commits migrations, starts the migrations the scheduler admits (at most
 * max_in_flight running), at most max_steps of those (0: no bound). Never
 * blocks on I/O. The worker thread calls it; so can a caller without one.
 * Returns DM_OK when nothing is left queued or in flight, DM_INPROGRESS
 * otherwise (call again later, e.g. with a later time). Failures of single
 * migrations (no space, I/O error, stale) are counted in the stats.
 */
dm_status_t dm_store_progress(dm_store_t *store, uint64_t now_ns, unsigned max_steps);

/*
 * The durability point: every tier is flushed (dm_store_tier_flush): the
 * data of every write that returned, and of every committed migration, is
 * as durable as the tier it lives in makes it (dram: volatile). Migrations
 * in flight are not waited for (their pages' committed copies are covered).
 * Errors: DM_ERR_NO_SPACE, DM_ERR_IO (tier named); the other tiers are
 * flushed anyway.
 */
dm_status_t dm_store_flush(dm_store_t *store);

/* Per tier, in store order (sorted by distance). */
typedef struct dm_store_tier_stats {
    const char     *name;      /* valid while the store lives */
    dm_store_kind_t kind;
    uint32_t        distance;
    uint64_t        capacity;  /* slots */
    uint64_t        used;      /* slots holding a page, a copy, or reserved by a migration */
    uint64_t        pages;     /* pages living here */
    uint64_t        victims;   /* of those, dropped by the policy, awaiting demotion */
    uint64_t        copies;    /* slots keeping the copy of a page promoted from here
                                  (nvme with a slot per page: see store.c "Copies") */
    uint64_t        target;    /* the policy's capacity (low watermark) */
    uint64_t        hits;      /* reads and writes served from this tier */
    uint64_t        misses;    /* reads and writes of pages living in a slower tier */
} dm_store_tier_stats_t;

/*
 * Counters since create. Classes index DM_MIGRATE_CLASS_*. A migration is
 * requested (new or merged into one queued or running for the same page,
 * or rejected), then started, then ends as done (committed), no_space,
 * io_error, stale (the page was written while it moved) or canceled (the
 * page moved otherwise, or was taken back by its tier's policy, before the
 * commit). Synchronous moves of the cache mode count as requested, started
 * and ended at once.
 */
typedef struct dm_store_stats {
    unsigned              ntiers;
    size_t                page_size;
    dm_store_tier_stats_t tier[DM_STORE_MAX_TIERS];
    uint64_t              zero_reads;      /* reads of pages never written */
    uint64_t              requested[DM_MIGRATE_CLASS_COUNT];
    uint64_t              merged;          /* requests folded into an existing one */
    uint64_t              rejected[DM_MIGRATE_CLASS_COUNT]; /* queue full (HINT, SCAN only) */
    uint64_t              started[DM_MIGRATE_CLASS_COUNT];
    uint64_t              done[DM_MIGRATE_CLASS_COUNT];
    uint64_t              no_space;
    uint64_t              io_error;
    uint64_t              stale;
    uint64_t              canceled;
    uint64_t              sync_moves;      /* cache mode: moves done in the caller's thread */
    uint64_t              queued;          /* now */
    uint64_t              in_flight;       /* now */
    /* bytes per (source, destination) tier pair */
    uint64_t              bytes_admitted[DM_STORE_MAX_TIERS][DM_STORE_MAX_TIERS];
                                           /* started by the engine (what the budget bounds) */
    uint64_t              bytes_moved[DM_STORE_MAX_TIERS][DM_STORE_MAX_TIERS];
                                           /* committed (engine and synchronous) */
    uint64_t              bytes_demand;    /* committed, DEMAND class */
    uint64_t              bytes_background;/* committed, other classes */
    uint64_t              readahead;       /* pages requested by read-ahead (HINT class) */
    uint64_t              reader_moves;    /* DEMAND migrations a read ran itself */
    uint64_t              clean_drops;     /* demotions of clean pages into their copy:
                                              no I/O, not in bytes_moved; in done[]
                                              only when the engine had started one */
    uint64_t              fast_reads;      /* reads of tier 0 (dram) served without the
                                              index lock (store.c: the lock-free read);
                                              counted in tier[0].hits too */
    uint64_t              touches_dropped; /* of those, reads whose access the policy of
                                              tier 0 never saw: its touch queue was full */
} dm_store_stats_t;

/* Fills *stats (a consistent snapshot; every read that returned before the
 * call is counted in hits). Never fails. */
void dm_store_stats(dm_store_t *store, dm_store_stats_t *stats);

/* Alignment every buffer given to read and write must have (the largest
 * buf_align of the tiers; 4096 with an nvme tier). */
size_t dm_store_buf_align(const dm_store_t *store);
size_t dm_store_page_size(const dm_store_t *store);
uint64_t dm_store_npages(const dm_store_t *store);
unsigned dm_store_ntiers(const dm_store_t *store);

/* The tier index a page lives in now, -1 when never written (or page out of
 * range). For tests and tools: the answer may be stale by the time it is used. */
int dm_store_page_tier(dm_store_t *store, uint64_t page);

/*
 * Checks the store's invariants (O(npages + sum of capacities), under the
 * index lock): each written page in exactly one slot of one tier; each tier's
 * used = pages + reserved slots; each page either in its tier's policy or
 * counted a victim; no page in the policy of a tier it does not live in.
 * DM_OK, or DM_ERR_PROTOCOL with the first violation in dm_last_error(). For
 * tests.
 */
dm_status_t dm_store_check(dm_store_t *store);

#endif
