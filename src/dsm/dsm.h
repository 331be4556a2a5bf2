/*
 * The coherent shared memory runtime: the global address space, the
 * fault path, the home directory service and the allocators, driving the
 * pure protocol of src/coherence over the transport.
 *
 * The runtime's essay (how faults, handlers and the state machine meet)
 * is at the top of dsm.c; the protocol's is at the top of coh.c.
 */
#ifndef DM_DSM_DSM_H
#define DM_DSM_DSM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tp.h"

typedef struct dm_dsm dm_dsm_t;

/* Active-message ids of this layer. */
enum {
    DM_DSM_AM_PROTO = DM_TP_AM_USER + 0, /* page protocol (coh.h messages) */
    DM_DSM_AM_HEAP  = DM_TP_AM_USER + 1, /* dm_mfree of another rank's block */
    DM_DSM_AM_LOCK  = DM_TP_AM_USER + 2, /* lock service (lock.c) */
    DM_DSM_AM_RMA   = DM_TP_AM_USER + 3, /* one-sided operations (rma.c) */
    DM_DSM_AM_PLACE = DM_TP_AM_USER + 4, /* first-touch home lookups (home.c) */
};

/*
 * Collective: reserves the global address space (cfg->gas_size), sets up
 * the fault handling (userfaultfd, SIGBUS and SIGSEGV handlers) and
 * registers the message handlers. One runtime per process. Errors:
 * DM_ERR_UNSUPPORTED (userfaultfd unavailable: the message says which
 * sysctl or capability is missing), DM_ERR_NO_MEMORY, DM_ERR_EXISTS (a
 * runtime already exists), the collectives' errors.
 */
dm_status_t dm_dsm_create(dm_tp_t *tp, const dm_config_t *cfg, dm_dsm_t **dsm_p);

/*
 * Releases everything. pre: no peer sends protocol messages any more (the
 * caller has passed a barrier after the last access). Never fails.
 */
void dm_dsm_destroy(dm_dsm_t *dsm);

/*
 * Waits until no request of this rank is in flight (prefetches and
 * one-sided operations included). Before a final barrier: afterwards
 * nobody sends protocol messages.
 */
dm_status_t dm_dsm_quiesce(dm_dsm_t *dsm);

/* Collective allocation and release (see dm_alloc, dm_free in distmem.h). */
dm_status_t dm_dsm_alloc(dm_dsm_t *dsm, size_t bytes, void **ptr_p);
dm_status_t dm_dsm_free(dm_dsm_t *dsm, void *ptr);

/* The global heap (see dm_malloc, dm_mfree). */
dm_status_t dm_dsm_malloc(dm_dsm_t *dsm, size_t bytes, void **ptr_p);
dm_status_t dm_dsm_mfree(dm_dsm_t *dsm, void *ptr);

/* Home rank of the page holding ptr, or -1 outside every allocation and heap. */
int dm_dsm_home(dm_dsm_t *dsm, const void *ptr);

/* The transport under the runtime (the lock service uses it). */
dm_tp_t *dm_dsm_tp(dm_dsm_t *dsm);

/*
 * One-sided operations (rma.c; the contract is distmem.h's dm_put etc.).
 * A request is created by the _nb calls (req_p != NULL) and released by
 * dm_dsm_wait, which must be called once for it.
 */
struct dm_request;

typedef enum dm_dsm_amo {
    DM_DSM_AMO_FADD = 0,
    DM_DSM_AMO_CSWAP,
    DM_DSM_AMO_SWAP,
    DM_DSM_AMO_FETCH,
} dm_dsm_amo_t;

/* Same values as distmem.h's dm_cmp_t. */
typedef enum dm_dsm_cmp {
    DM_DSM_CMP_EQ = 0,
    DM_DSM_CMP_NE,
    DM_DSM_CMP_GT,
    DM_DSM_CMP_GE,
    DM_DSM_CMP_LT,
    DM_DSM_CMP_LE,
} dm_dsm_cmp_t;

/* req_p == NULL: returns when src may be reused (completion at dm_dsm_quiet). */
dm_status_t dm_dsm_put(dm_dsm_t *dsm, void *dst, const void *src, size_t len,
                       struct dm_request **req_p);
/* req_p == NULL: returns when dst holds the data. */
dm_status_t dm_dsm_get(dm_dsm_t *dsm, void *dst, const void *src, size_t len,
                       struct dm_request **req_p);
dm_status_t dm_dsm_wait(dm_dsm_t *dsm, struct dm_request *req);
dm_status_t dm_dsm_quiet(dm_dsm_t *dsm);
/* a: the operand (FADD, SWAP) or the expected value (CSWAP); b: CSWAP's desired value. */
dm_status_t dm_dsm_atomic(dm_dsm_t *dsm, dm_dsm_amo_t op, int64_t *addr, int64_t a, int64_t b,
                          int64_t *old_p);
dm_status_t dm_dsm_wait_until(dm_dsm_t *dsm, const int64_t *addr, dm_dsm_cmp_t cmp,
                              int64_t value);

/*
 * Placement hints (advise.c; the contract is distmem.h's dm_advise and
 * dm_prefetch). Same values as distmem.h's dm_mem_advise_t and dm_tier_t.
 */
typedef enum dm_dsm_advise {
    DM_DSM_ADVISE_UNSET = 0,
    DM_DSM_ADVISE_PREFERRED_TIER,
    DM_DSM_ADVISE_ACCESSED_BY,
    DM_DSM_ADVISE_READ_MOSTLY,
    DM_DSM_ADVISE_COLD,
    DM_DSM_ADVISE_COUNT
} dm_dsm_advise_t;

typedef enum dm_dsm_tier {
    DM_DSM_TIER_LOCAL = 0,
    DM_DSM_TIER_GPU,
    DM_DSM_TIER_DRAM,
    DM_DSM_TIER_NVME,
    DM_DSM_TIER_PFS,
    DM_DSM_TIER_COUNT
} dm_dsm_tier_t;

dm_status_t dm_dsm_advise(dm_dsm_t *dsm, const void *ptr, size_t len, int advise, int arg);
dm_status_t dm_dsm_prefetch_to(dm_dsm_t *dsm, const void *ptr, size_t len, int tier);

/*
 * Where the pages of [ptr, ptr + len) are, as seen by this rank (for tests
 * and tools: it sends no message, and the answer may be stale by the time
 * it is used). home[t]: pages of the range homed HERE whose data lives in
 * this rank's home tier of kind t (DRAM for in-place home memory); home[0]
 * (LOCAL): homed here and holding no data (never written: reads as zeros).
 * cached: pages of the range this rank holds a copy of. The counters are
 * this process's totals since start. Errors: DM_ERR_INVALID_PARAM (not
 * inside one allocation).
 */
typedef struct dm_dsm_where {
    uint64_t home[DM_DSM_TIER_COUNT];
    uint64_t cached;
    uint64_t hint_msgs;     /* hint messages sent to other ranks (one per home per call) */
    uint64_t hint_ahead;    /* read-only copies requested by dm_prefetch(DM_TIER_LOCAL) */
    uint64_t read_faults;   /* as dm_dsm_stats_t */
} dm_dsm_where_t;

dm_status_t dm_dsm_where(dm_dsm_t *dsm, const void *ptr, size_t len, dm_dsm_where_t *where);

/* Counters of this process, for tests and benchmarks. */
typedef struct dm_dsm_stats {
    uint64_t read_faults;   /* faults that asked for a readable copy */
    uint64_t write_faults;  /* faults that asked for write access */
    uint64_t prefetches;    /* pages requested ahead of a sequential read */
    uint64_t msgs_sent;     /* protocol messages to other ranks */
    uint64_t msgs_self;     /* protocol messages handled without the network */
    uint64_t retries;       /* requests repeated because the page left before the access ran */
    uint64_t evictions;     /* copies dropped (or written back) to keep DISTMEM_CACHE_SIZE */
    uint64_t rma_local;     /* one-sided operations run on this process's own copy, no message */
    uint64_t rma_remote;    /* one-sided operations sent to another rank's home */
    uint64_t rma_home_direct; /* served here as home, at once (home memory or the home's copy) */
    uint64_t rma_batches;     /* messages that carried several one-sided operations */
    uint64_t rma_home_queued; /* served here as home after taking the page back from its holders */
    uint64_t rma_direct;      /* run on the home memory of a rank of this host, no message */
    uint64_t rma_run_pages;   /* of those, pages of multi-page puts done a run at a time */
    uint64_t rma_hand_over;   /* this home's copies dropped so same-host ranks could go direct */
} dm_dsm_stats_t;

void dm_dsm_stats(dm_dsm_t *dsm, dm_dsm_stats_t *stats);

#endif
