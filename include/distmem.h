/*
 * distmem: one global address space shared by processes on many nodes.
 *
 * This is the umbrella header; an application includes only this file and
 * links with `pkg-config --libs distmem`.
 *
 * Lifecycle:
 *   dm_init(NULL)  reads DISTMEM_* from the environment (see `distmem config`),
 *                  finds the other processes of the job (the `distmem run`
 *                  launcher's rendezvous, PMIx under mpirun/srun, or the manual
 *                  DISTMEM_RANK/DISTMEM_NRANKS/DISTMEM_RDV variables) and
 *                  connects the transport. Collective: every rank calls it.
 *   ...            dm_rank(), dm_nranks(), dm_barrier(), ...
 *   dm_finalize()  collective; tears everything down. Never fails loudly.
 *
 * Errors: every call that can fail returns a dm_status_t; DM_OK is 0.
 * dm_status_string() gives the fixed message and dm_last_error() the detail
 * of the most recent failure on the calling thread. The library never aborts
 * the process on bad input or on a peer's failure.
 *
 * Threads: dm_init and dm_finalize must be called by one thread; the other
 * calls may be made from any thread once dm_init returned DM_OK.
 */
#ifndef DISTMEM_H
#define DISTMEM_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DM_VERSION_MAJOR 0
#define DM_VERSION_MINOR 1

/*
 * Parameters of dm_init. The field mask says which fields the caller set, so
 * the struct can grow without breaking callers. dm_init(NULL) takes
 * everything from the environment.
 */
enum dm_init_field {
    DM_INIT_FIELD_FLAGS = 1u << 0,
};

typedef struct dm_init_params {
    uint64_t field_mask; /* DM_INIT_FIELD_* bits of the fields set below */
    uint64_t flags;      /* reserved, must be 0 */
} dm_init_params_t;

/*
 * Join the job. Returns DM_OK, or:
 *   DM_ERR_ALREADY_INITIALIZED  dm_init was called before without dm_finalize;
 *   DM_ERR_UNSUPPORTED          dm_finalize already ran: a process joins its
 *                               job once (as with MPI_Init);
 *   DM_ERR_CONFIG               a DISTMEM_* variable is unknown or malformed;
 *   DM_ERR_BOOTSTRAP            the rendezvous could not be reached in time;
 *   DM_ERR_TRANSPORT            UCX could not be initialized;
 *   DM_ERR_PEER_FAILED          another rank failed during start-up.
 * On other errors nothing stays initialized and dm_init may be called again.
 */
DM_API dm_status_t dm_init(const dm_init_params_t *params);

/*
 * Leave the job: a barrier with the other ranks (skipped when a peer has
 * failed), then every resource is released. Safe to call when dm_init
 * failed or was never called. Returns DM_OK or the error of the final
 * barrier (DM_ERR_PEER_FAILED); resources are released either way.
 */
DM_API dm_status_t dm_finalize(void);

/* This process's rank in [0, dm_nranks()), or -1 before dm_init. */
DM_API int dm_rank(void);

/* Number of processes in the job, or 0 before dm_init. */
DM_API int dm_nranks(void);

/*
 * Collective barrier across all ranks, logarithmic depth. Every write to
 * distmem memory made before the barrier is visible to every read after
 * it, in every rank. Returns DM_OK, or
 * DM_ERR_PEER_FAILED when a rank failed (within DISTMEM_PEER_TIMEOUT),
 * DM_ERR_NOT_INITIALIZED before dm_init.
 */
DM_API dm_status_t dm_barrier(void);


/* ------------------------------------------------------------------ */
/* Coherent shared memory                                               */
/*
 * Memory from dm_alloc and dm_malloc lies in one global address space,
 * reserved at the same virtual address in every process
 * (DISTMEM_GAS_SIZE bytes). Ordinary loads and stores on it are kept
 * coherent page by page with a single-writer/multiple-reader protocol.
 *
 * Guarantee (docs/memory-model.md):
 *   - data-race-free programs (conflicting accesses ordered by dm_barrier
 *     or dm_lock/dm_unlock) are sequentially consistent;
 *   - when each process runs one thread, volatile loads and stores to
 *     distmem memory are sequentially consistent even when they race.
 * Memory from dm_alloc reads as zero at first.
 *
 * A fault on a page whose home rank has failed cannot return an error:
 * the process prints which page and which rank, and ends with SIGBUS
 * (as a mapped file that lost its backing does). An access to distmem's
 * address range outside any allocation ends with SIGSEGV and a message
 * naming the address.
 */

/*
 * Collective: every rank calls it with the same size, in the same order as
 * the other collective calls; it returns the same address in every rank.
 * Pages are spread over the ranks as homes (block-cyclic,
 * DISTMEM_HOME_BLOCK pages per block; or the first rank to touch each page,
 * DISTMEM_PLACEMENT=first-touch). Returns NULL on failure, with
 * dm_last_status(): DM_ERR_NOT_INITIALIZED, DM_ERR_INVALID_PARAM (0 bytes,
 * or ranks asked for different sizes), DM_ERR_NO_MEMORY (the collective
 * part of the address space is full), DM_ERR_PEER_FAILED.
 */
DM_API void *dm_alloc(size_t bytes);

/*
 * Collective: releases memory from dm_alloc (every rank passes the same
 * pointer). NULL is ignored. Another pointer is reported on stderr and
 * ignored (nothing is freed).
 */
DM_API void dm_free(void *p);

/*
 * Non-collective: memory from the calling rank's part of the global heap,
 * 16-byte aligned; the pointer is valid in every process, and its pages
 * are homed at the calling rank. Like malloc's, the block's contents are
 * undefined (a reused block keeps what was written before). Returns NULL
 * with dm_last_status() on
 * failure (DM_ERR_INVALID_PARAM for 0 bytes, DM_ERR_NO_MEMORY).
 */
DM_API void *dm_malloc(size_t bytes);

/*
 * Releases memory from dm_malloc; any rank may release any rank's block.
 * NULL is ignored; a pointer dm_malloc did not return is reported on
 * stderr and ignored.
 */
DM_API void dm_mfree(void *p);

/*
 * The home rank of the page holding p, or -1 when p is not distmem memory:
 * outside the address space, in a part of the dm_alloc area that is not
 * allocated, or before dm_init. (The heaps count as a whole: an address in
 * a rank's heap has that rank as home, allocated or not.) Under
 * DISTMEM_PLACEMENT=first-touch, also -1 for a dm_alloc page whose home
 * this rank has not learned yet (nobody touched it, or this rank has not).
 */
DM_API int dm_home(const void *p);

/*
 * Global locks. dm_lock_create is collective (same order on every rank)
 * and returns a handle naming the same lock in every rank. dm_lock waits
 * until this thread holds the lock (FIFO among ranks); everything written
 * by the previous holder before its dm_unlock is visible afterwards.
 * Errors: DM_ERR_INVALID_PARAM (NULL lock, unlock without holding it),
 * DM_ERR_NOT_INITIALIZED, DM_ERR_PEER_FAILED (a rank failed while waiting).
 * dm_lock_destroy is collective; the lock must be free.
 */
typedef struct dm_lock dm_lock_t;

DM_API dm_lock_t *dm_lock_create(void);
DM_API dm_status_t dm_lock(dm_lock_t *lock);
DM_API dm_status_t dm_unlock(dm_lock_t *lock);
DM_API void dm_lock_destroy(dm_lock_t *lock);


/* ------------------------------------------------------------------ */
/* One-sided operations                                                 */
/*
 * Put, get and atomics on distmem addresses (memory from dm_alloc or
 * dm_malloc) that do not fault pages in: each operation runs at the
 * page's home, which first takes the page back from whoever caches it
 * (the page protocol's own messages), so a later plain load anywhere sees
 * the result. When this process already holds the page (writable for a
 * put or an atomic, readable for a get) and has no one-sided operation in
 * flight, the operation runs locally without any message.
 *
 * Ordering (docs/memory-model.md):
 *   - operations of one process on one page are applied in issue order;
 *   - dm_quiet() returns when every operation this process issued is
 *     complete and visible to every later access of every process (plain
 *     loads included); dm_barrier() and dm_unlock() include a dm_quiet();
 *   - a blocking get, and an atomic that returns a value, has been applied
 *     at the home when it returns.
 * Atomics on one int64_t word are atomic against each other and against
 * plain accesses made through the page protocol.
 *
 * The distmem side of every operation must lie inside one allocation (one
 * dm_alloc block, or one rank's heap); atomics need an 8-byte aligned word.
 * The local side may be any memory, distmem memory included. Errors:
 * DM_ERR_INVALID_PARAM (bad address, range crossing allocations,
 * misalignment, NULL), DM_ERR_NOT_INITIALIZED, DM_ERR_PEER_FAILED (the home
 * of a page failed, reported by the call that waits for the operation).
 */
typedef struct dm_request dm_request_t;

/* Comparisons for dm_wait_until: *addr <cmp> value. */
typedef enum dm_cmp {
    DM_CMP_EQ = 0,
    DM_CMP_NE,
    DM_CMP_GT,
    DM_CMP_GE,
    DM_CMP_LT,
    DM_CMP_LE,
} dm_cmp_t;

/*
 * Copies len bytes from local memory src to distmem address dst. Returns
 * when src may be reused; the data is visible everywhere after dm_quiet.
 */
DM_API dm_status_t dm_put(void *dst, const void *src, size_t len);

/* Copies len bytes from distmem address src to local memory dst; returns when dst holds them. */
DM_API dm_status_t dm_get(void *dst, const void *src, size_t len);

/*
 * Non-blocking forms: start the operation and return a request in *req;
 * dm_wait(*req) completes it (for a get: dst is filled) and frees the
 * request. Until then src (put) must not change and dst (get) must not be
 * read. dm_quiet also completes them, but each request must still be
 * passed to dm_wait once.
 */
DM_API dm_status_t dm_put_nb(void *dst, const void *src, size_t len, dm_request_t **req);
DM_API dm_status_t dm_get_nb(void *dst, const void *src, size_t len, dm_request_t **req);
DM_API dm_status_t dm_wait(dm_request_t *req);

/* Completes every one-sided operation this process issued (see Ordering). */
DM_API dm_status_t dm_quiet(void);

/*
 * Atomics on the 8-byte aligned distmem word addr. The value before the
 * operation goes to *old. With old NULL (no value wanted) fetch_add, swap
 * and compare_swap do not wait for the home: like dm_put they are complete
 * and visible after the next dm_quiet (or dm_barrier, dm_unlock), and an
 * error the home finds is reported by that dm_quiet.
 *   fetch_add:     *addr += value
 *   compare_swap:  if (*addr == expected) *addr = desired
 *   swap:          *addr = value
 *   fetch:         reads *addr into *value
 */
DM_API dm_status_t dm_atomic_fetch_add(int64_t *addr, int64_t value, int64_t *old);
DM_API dm_status_t dm_atomic_compare_swap(int64_t *addr, int64_t expected, int64_t desired,
                                          int64_t *old);
DM_API dm_status_t dm_atomic_swap(int64_t *addr, int64_t value, int64_t *old);
DM_API dm_status_t dm_atomic_fetch(const int64_t *addr, int64_t *value);

/*
 * Waits until (*addr cmp value) holds for the distmem word addr, as
 * changed by other processes' plain stores, puts or atomics. It reads
 * through the page protocol: while nothing changes, waiting sends no
 * message. Errors: DM_ERR_INVALID_PARAM, DM_ERR_PEER_FAILED.
 */
DM_API dm_status_t dm_wait_until(const int64_t *addr, dm_cmp_t cmp, int64_t value);


/* ------------------------------------------------------------------ */
/* Placement hints                                                      */
/*
 * Where the data of distmem memory should live, modelled on cudaMemAdvise
 * and cudaMemPrefetchAsync. A hint never changes what any access returns
 * (data, coherence and the memory model are untouched), only where data is
 * kept, and it may be ignored.
 *
 * Where data lives. Each page has a home rank (dm_home) that keeps its data
 * in home memory; other ranks keep cached copies (read-only, or the one
 * writable copy). With DISTMEM_HOME_MEMORY set, each home's memory is a
 * tiered store: DM_TIER_DRAM (DISTMEM_HOME_MEMORY bytes) over DM_TIER_NVME
 * (a file of up to DISTMEM_STORE_SIZE under DISTMEM_STORE_PATH), and
 * DISTMEM_HOME_POLICY picks the pages that stay in DRAM: only "hint" takes
 * advice into account ("arc", "lru" and "clock" accept it and ignore it).
 * Without DISTMEM_HOME_MEMORY, home memory is DRAM used in place: advice
 * and prefetches to any home tier are accepted and change no placement.
 *
 * The range. [ptr, ptr + len) may start and end anywhere; every page it
 * touches is covered. It must lie inside one allocation (one dm_alloc
 * block, or one rank's heap). The call sends one message to each home of
 * a page of the range (under DISTMEM_PLACEMENT=first-touch, where homes are
 * not known in advance: to every rank), naming the whole range; each home
 * applies the hint to the pages it is home of and answers, and the call
 * returns when every home has answered (one round trip, in parallel). A
 * hint to pages a concurrent dm_free releases may be applied or refused.
 *
 * Errors (both calls):
 *   DM_ERR_NOT_INITIALIZED  before dm_init;
 *   DM_ERR_INVALID_PARAM    ptr NULL; the range not distmem memory or not
 *                           inside one allocation; an unknown advice or
 *                           tier, or an argument the advice does not take;
 *   DM_ERR_UNSUPPORTED      the home store has no tier of that kind (the
 *                           store of DISTMEM_HOME_MEMORY stacks DRAM and
 *                           NVME only: GPU and PFS are refused);
 *   DM_ERR_NO_MEMORY        no memory for the call's bookkeeping;
 *   DM_ERR_PEER_FAILED      a home failed.
 * len 0 checks only that ptr is not NULL and the advice or tier. The
 * caller's own configuration is checked first, with a detailed message;
 * a home that refuses reports only the status ("placement hint for ADDR
 * (home rank R): ..."). Nothing is undone at the homes that accepted.
 */

/*
 * Places data can be. Tiers are named by kind, at each page's home (its
 * store's tier of that kind); DM_TIER_LOCAL is the calling rank's cache.
 */
typedef enum dm_tier {
    DM_TIER_LOCAL = 0, /* dm_prefetch only: read-only copies in the caller's cache */
    DM_TIER_GPU,       /* accelerator memory at the home */
    DM_TIER_DRAM,      /* main memory at the home: the fastest tier of its store */
    DM_TIER_NVME,      /* a local disk at the home (DISTMEM_STORE_PATH) */
    DM_TIER_PFS,       /* a parallel file system */
} dm_tier_t;

/*
 * Kinds of advice. What each does at the homes (with DISTMEM_HOME_POLICY
 * "hint"); "sticky" advice stays with the page (a page keeps one: the
 * latest READ_MOSTLY or PREFERRED_TIER replaces the other), "one-shot"
 * advice acts on the pages' current state and is then forgotten. No
 * advice moves data (use dm_prefetch) or changes the caller's cache.
 */
typedef enum dm_mem_advise {
    /* forget READ_MOSTLY and PREFERRED_TIER: the policy judges alone again. arg 0 */
    DM_MEM_ADVISE_UNSET = 0,
    /* arg: a dm_tier_t. DM_TIER_DRAM (sticky): the pages leave DRAM only when
     * every page in DRAM is preferred (a preference, not a pin); also given
     * to pages not yet written, for when they are. A slower tier (NVME):
     * forgets a DRAM preference and makes the pages COLD (below). */
    DM_MEM_ADVISE_PREFERRED_TIER,
    /* arg: a rank. That rank uses the pages (e.g. through copies the home
     * does not see): one-shot, counts as one access at the home, so the
     * pages stay warm in DRAM */
    DM_MEM_ADVISE_ACCESSED_BY,
    /* sticky; arg 0. Among the pages nearest eviction from DRAM, one never
     * written since it arrived goes first. (Read-only copies in every
     * reader, what cudaMemAdviseSetReadMostly asks for, are what the
     * coherence protocol always makes.) */
    DM_MEM_ADVISE_READ_MOSTLY,
    /* one-shot; arg 0. Not needed soon: the pages leave DRAM before any
     * unadvised page when room is needed; the next access to a page
     * forgets it (as MADV_COLD) */
    DM_MEM_ADVISE_COLD,
} dm_mem_advise_t;

typedef struct dm_mem_advice {
    dm_mem_advise_t kind;
    int             arg;  /* PREFERRED_TIER: a dm_tier_t; ACCESSED_BY: a rank; others 0 */
} dm_mem_advice_t;

/*
 * Gives advice about [ptr, ptr + len) to its homes (see above); returns
 * once every home has recorded it. Example:
 *     dm_mem_advice_t a = { DM_MEM_ADVISE_PREFERRED_TIER, DM_TIER_DRAM };
 *     dm_advise(table, bytes, a);
 */
DM_API dm_status_t dm_advise(const void *ptr, size_t len, dm_mem_advice_t advice);

/*
 * Moves the data of [ptr, ptr + len) towards tier.
 *   DM_TIER_DRAM, NVME, ...: each home moves its pages of the range that
 *     hold data (pages never written have none) to its tier of that kind,
 *     as background migrations (after demand moves, within
 *     DISTMEM_MIGRATE_BUDGET). Asynchronous, like cudaMemPrefetchAsync:
 *     the call returns once every home has queued the moves; a later
 *     access is correct whether or not they have finished. A move to a
 *     slower tier is a demotion; the next access brings a page back
 *     (without a budget at once, else in the background). The caller's
 *     cache is not touched.
 *   DM_TIER_LOCAL: requests a read-only copy of each page of the range this
 *     rank holds no copy of, through the page protocol as a read fault's
 *     read-ahead does (their homes read them, which brings them to DRAM as
 *     any access does); no other message. With DISTMEM_CACHE_SIZE, at most
 *     that many pages, the first of the range. At most 256 requests are in
 *     flight: the call waits for earlier copies before sending more, and
 *     returns once every request is sent, without waiting for the last
 *     copies. The copies are ordinary: a write anywhere invalidates them,
 *     and the cache budget may drop them. Under first-touch placement,
 *     pages whose home this rank has not learned are skipped.
 */
DM_API dm_status_t dm_prefetch(const void *ptr, size_t len, dm_tier_t tier);

#ifdef __cplusplus
}
#endif
#endif /* DISTMEM_H */
