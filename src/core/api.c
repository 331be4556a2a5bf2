/*
 * The public API's entry points: process-wide state and its lifecycle.
 *
 * State: one job per process. dm_init and dm_finalize are called by one
 * thread; other calls read the state only after dm_init returned DM_OK
 * (the release store of `initialized` publishes it).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "coll.h"
#include "distmem.h"
#include "dsm.h"
#include "lock.h"
#include "log.h"
#include "status.h"
#include "tp.h"

extern char **environ;

typedef struct dm_ctx {
    atomic_int  initialized;
    int         finalized;   /* dm_finalize ran: the job is over for this process */
    dm_config_t cfg;
    dm_boot_t  *boot;
    dm_tp_t    *tp;
    dm_lock_svc_t *locks;
    dm_dsm_t   *dsm;
} dm_ctx_t;

static dm_ctx_t dm_ctx;

DM_API dm_status_t dm_init(const dm_init_params_t *params)
{
    dm_status_t st;

    dm_error_clear();
    if (atomic_load(&dm_ctx.initialized)) {
        return dm_error_set(DM_ERR_ALREADY_INITIALIZED, "dm_init called twice");
    }
    /*
     * As with MPI, a process joins its job once: after dm_finalize its rank
     * has left the job (the rendezvous has been told goodbye and the peers
     * have closed their endpoints to it), so there is nothing to rejoin.
     */
    if (dm_ctx.finalized) {
        return dm_error_set(DM_ERR_UNSUPPORTED,
                            "dm_init after dm_finalize: a process joins its job only once");
    }
    if (params != NULL && (params->field_mask & DM_INIT_FIELD_FLAGS) && params->flags != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_init: unknown flags 0x%llx",
                            (unsigned long long)params->flags);
    }
    st = dm_config_load(&dm_ctx.cfg, environ);
    if (st != DM_OK) {
        DM_ERROR("dm_init: %s", dm_last_error());
        return st;
    }
    dm_log_set_level((dm_log_level_t)dm_ctx.cfg.log_level);

    st = dm_boot_create(&dm_ctx.cfg, &dm_ctx.boot);
    if (st != DM_OK) {
        DM_ERROR("dm_init: %s", dm_last_error());
        return st;
    }
    dm_log_set_rank(dm_ctx.boot->rank);

    st = dm_tp_create(dm_ctx.boot, &dm_ctx.cfg, &dm_ctx.tp);
    if (st != DM_OK) {
        goto err_boot;
    }
    /* After the fence every rank's worker address can be fetched. */
    st = dm_tp_boot_fence(dm_ctx.tp);
    if (st != DM_OK) {
        goto err_tp;
    }
    /* the lock handler is registered before the runtime's collective barrier */
    st = dm_lock_svc_create(dm_ctx.tp, &dm_ctx.locks);
    if (st != DM_OK) {
        goto err_tp;
    }
    st = dm_dsm_create(dm_ctx.tp, &dm_ctx.cfg, &dm_ctx.dsm);
    if (st != DM_OK) {
        goto err_locks;
    }
    DM_INFO("joined: rank %d of %d, bootstrap %s", dm_ctx.boot->rank, dm_ctx.boot->nranks,
            dm_ctx.boot->ops->name);
    atomic_store_explicit(&dm_ctx.initialized, 1, memory_order_release);
    return DM_OK;

err_locks:
    /* a collective step failed: peers may still talk to us; the transport is closed by force */
    dm_lock_svc_destroy(dm_ctx.locks);
    dm_ctx.locks = NULL;
err_tp:
    dm_tp_destroy(dm_ctx.tp);
    dm_ctx.tp = NULL;
err_boot:
    DM_ERROR("dm_init: %s", dm_last_error());
    dm_boot_destroy(dm_ctx.boot, 0);
    dm_ctx.boot = NULL;
    dm_log_set_rank(-1);
    return st;
}

DM_API dm_status_t dm_finalize(void)
{
    dm_status_t st;

    if (!atomic_load(&dm_ctx.initialized)) {
        return DM_OK;
    }
    /*
     * No request of ours in flight (a prefetch), then the barrier: after it
     * no peer sends to us any more, so the runtime can go.
     */
    if ((int)DM_LOG_INFO <= atomic_load(&dm_log_level)) {
        dm_dsm_stats_t ds;

        dm_dsm_stats(dm_ctx.dsm, &ds);
        DM_INFO("shared memory: %llu read faults, %llu write faults, %llu retried, %llu "
                "prefetched, %llu evicted, %llu messages sent, %llu to self; one-sided: %llu "
                "local, %llu direct on this host's home memory (%llu pages in runs), %llu sent (%llu "
                "batched messages), "
                "%llu served at once, %llu served after a recall, %llu copies handed over",
                (unsigned long long)ds.read_faults, (unsigned long long)ds.write_faults,
                (unsigned long long)ds.retries, (unsigned long long)ds.prefetches,
                (unsigned long long)ds.evictions, (unsigned long long)ds.msgs_sent,
                (unsigned long long)ds.msgs_self, (unsigned long long)ds.rma_local,
                (unsigned long long)ds.rma_direct, (unsigned long long)ds.rma_run_pages,
                (unsigned long long)ds.rma_remote, (unsigned long long)ds.rma_batches,
                (unsigned long long)ds.rma_home_direct,
                (unsigned long long)ds.rma_home_queued, (unsigned long long)ds.rma_hand_over);
    }
    st = dm_dsm_quiesce(dm_ctx.dsm);
    if (st == DM_OK) {
        st = dm_tp_barrier(dm_ctx.tp);
    }
    if (st != DM_OK) {
        DM_INFO("dm_finalize: final barrier failed: %s", dm_last_error());
    }
    atomic_store(&dm_ctx.initialized, 0);
    dm_ctx.finalized = 1;
    dm_dsm_destroy(dm_ctx.dsm);
    dm_ctx.dsm = NULL;
    dm_lock_svc_destroy(dm_ctx.locks);
    dm_ctx.locks = NULL;
    dm_tp_destroy(dm_ctx.tp);
    dm_ctx.tp = NULL;
    /* This rank exits normally even when a peer failed: say goodbye. */
    dm_boot_destroy(dm_ctx.boot, 1);
    dm_ctx.boot = NULL;
    dm_log_set_rank(-1);
    return st;
}

DM_API int dm_rank(void)
{
    return atomic_load_explicit(&dm_ctx.initialized, memory_order_acquire) ? dm_ctx.boot->rank : -1;
}

DM_API int dm_nranks(void)
{
    return atomic_load_explicit(&dm_ctx.initialized, memory_order_acquire) ? dm_ctx.boot->nranks
                                                                           : 0;
}

/*
 * The page protocol keeps memory sequentially consistent by itself
 * (dsm.c), so a barrier only has to complete this rank's one-sided
 * operations and keep the compiler and the CPU from moving accesses
 * across it.
 */
DM_API dm_status_t dm_barrier(void)
{
    dm_status_t st;

    if (!atomic_load_explicit(&dm_ctx.initialized, memory_order_acquire)) {
        return dm_error_set(DM_ERR_NOT_INITIALIZED, "dm_barrier before dm_init");
    }
    st = dm_dsm_quiet(dm_ctx.dsm);
    if (st != DM_OK) {
        return st;
    }
    atomic_thread_fence(memory_order_seq_cst);
    st = dm_tp_barrier(dm_ctx.tp);
    atomic_thread_fence(memory_order_seq_cst);
    return st;
}

static int dm_api_ready(const char *what)
{
    dm_error_clear();
    if (!atomic_load_explicit(&dm_ctx.initialized, memory_order_acquire)) {
        dm_error_set(DM_ERR_NOT_INITIALIZED, "%s before dm_init", what);
        return 0;
    }
    return 1;
}

DM_API void *dm_alloc(size_t bytes)
{
    void *p = NULL;

    if (!dm_api_ready("dm_alloc") || dm_dsm_alloc(dm_ctx.dsm, bytes, &p) != DM_OK) {
        return NULL;
    }
    return p;
}

DM_API void dm_free(void *p)
{
    if (p == NULL || !dm_api_ready("dm_free")) {
        return;
    }
    if (dm_dsm_free(dm_ctx.dsm, p) != DM_OK) {
        fprintf(stderr, "distmem: rank %d: dm_free: %s\n", dm_rank(), dm_last_error());
    }
}

DM_API void *dm_malloc(size_t bytes)
{
    void *p = NULL;

    if (!dm_api_ready("dm_malloc") || dm_dsm_malloc(dm_ctx.dsm, bytes, &p) != DM_OK) {
        return NULL;
    }
    return p;
}

DM_API void dm_mfree(void *p)
{
    if (p == NULL || !dm_api_ready("dm_mfree")) {
        return;
    }
    if (dm_dsm_mfree(dm_ctx.dsm, p) != DM_OK) {
        fprintf(stderr, "distmem: rank %d: dm_mfree: %s\n", dm_rank(), dm_last_error());
    }
}

DM_API int dm_home(const void *p)
{
    if (!atomic_load_explicit(&dm_ctx.initialized, memory_order_acquire)) {
        return -1;
    }
    return dm_dsm_home(dm_ctx.dsm, p);
}

DM_API dm_lock_t *dm_lock_create(void)
{
    dm_dsm_lock_t *l = NULL;

    if (!dm_api_ready("dm_lock_create") || dm_lock_svc_new(dm_ctx.locks, &l) != DM_OK) {
        return NULL;
    }
    return l;
}

DM_API dm_status_t dm_lock(dm_lock_t *lock)
{
    if (!dm_api_ready("dm_lock")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    if (lock == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_lock(NULL)");
    }
    return dm_lock_svc_acquire(dm_ctx.locks, lock);
}

DM_API dm_status_t dm_unlock(dm_lock_t *lock)
{
    dm_status_t st;

    if (!dm_api_ready("dm_unlock")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    if (lock == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_unlock(NULL)");
    }
    /* what the holder put is visible to the next holder */
    st = dm_dsm_quiet(dm_ctx.dsm);
    if (st != DM_OK) {
        return st;
    }
    return dm_lock_svc_release(dm_ctx.locks, lock);
}

DM_API void dm_lock_destroy(dm_lock_t *lock)
{
    if (lock == NULL || !dm_api_ready("dm_lock_destroy")) {
        return;
    }
    dm_lock_svc_delete(dm_ctx.locks, lock);
}


/* ------------------------------------------------------------------ */
/* one-sided operations                                                 */

_Static_assert((int)DM_CMP_EQ == (int)DM_DSM_CMP_EQ && (int)DM_CMP_LE == (int)DM_DSM_CMP_LE,
               "dm_cmp_t and dm_dsm_cmp_t differ");

DM_API dm_status_t dm_put(void *dst, const void *src, size_t len)
{
    return dm_api_ready("dm_put") ? dm_dsm_put(dm_ctx.dsm, dst, src, len, NULL)
                                  : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_get(void *dst, const void *src, size_t len)
{
    return dm_api_ready("dm_get") ? dm_dsm_get(dm_ctx.dsm, dst, src, len, NULL)
                                  : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_put_nb(void *dst, const void *src, size_t len, dm_request_t **req)
{
    if (!dm_api_ready("dm_put_nb")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    if (req == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_put_nb: NULL request pointer");
    }
    return dm_dsm_put(dm_ctx.dsm, dst, src, len, req);
}

DM_API dm_status_t dm_get_nb(void *dst, const void *src, size_t len, dm_request_t **req)
{
    if (!dm_api_ready("dm_get_nb")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    if (req == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_get_nb: NULL request pointer");
    }
    return dm_dsm_get(dm_ctx.dsm, dst, src, len, req);
}

DM_API dm_status_t dm_wait(dm_request_t *req)
{
    return dm_api_ready("dm_wait") ? dm_dsm_wait(dm_ctx.dsm, req) : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_quiet(void)
{
    return dm_api_ready("dm_quiet") ? dm_dsm_quiet(dm_ctx.dsm) : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_atomic_fetch_add(int64_t *addr, int64_t value, int64_t *old)
{
    return dm_api_ready("dm_atomic_fetch_add")
               ? dm_dsm_atomic(dm_ctx.dsm, DM_DSM_AMO_FADD, addr, value, 0, old)
               : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_atomic_compare_swap(int64_t *addr, int64_t expected, int64_t desired,
                                          int64_t *old)
{
    return dm_api_ready("dm_atomic_compare_swap")
               ? dm_dsm_atomic(dm_ctx.dsm, DM_DSM_AMO_CSWAP, addr, expected, desired, old)
               : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_atomic_swap(int64_t *addr, int64_t value, int64_t *old)
{
    return dm_api_ready("dm_atomic_swap")
               ? dm_dsm_atomic(dm_ctx.dsm, DM_DSM_AMO_SWAP, addr, value, 0, old)
               : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_atomic_fetch(const int64_t *addr, int64_t *value)
{
    if (!dm_api_ready("dm_atomic_fetch")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    if (value == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_atomic_fetch: NULL result pointer");
    }
    /* a fetch does not write: the cast only shares the operation's signature */
    return dm_dsm_atomic(dm_ctx.dsm, DM_DSM_AMO_FETCH, (int64_t *)(uintptr_t)addr, 0, 0, value);
}

DM_API dm_status_t dm_wait_until(const int64_t *addr, dm_cmp_t cmp, int64_t value)
{
    return dm_api_ready("dm_wait_until")
               ? dm_dsm_wait_until(dm_ctx.dsm, addr, (dm_dsm_cmp_t)cmp, value)
               : DM_ERR_NOT_INITIALIZED;
}


/* ------------------------------------------------------------------ */
/* placement hints                                                      */

_Static_assert((int)DM_MEM_ADVISE_UNSET == (int)DM_DSM_ADVISE_UNSET &&
               (int)DM_MEM_ADVISE_PREFERRED_TIER == (int)DM_DSM_ADVISE_PREFERRED_TIER &&
               (int)DM_MEM_ADVISE_ACCESSED_BY == (int)DM_DSM_ADVISE_ACCESSED_BY &&
               (int)DM_MEM_ADVISE_READ_MOSTLY == (int)DM_DSM_ADVISE_READ_MOSTLY &&
               (int)DM_MEM_ADVISE_COLD == (int)DM_DSM_ADVISE_COLD,
               "dm_mem_advise_t and dm_dsm_advise_t differ");
_Static_assert((int)DM_TIER_LOCAL == (int)DM_DSM_TIER_LOCAL &&
               (int)DM_TIER_GPU == (int)DM_DSM_TIER_GPU &&
               (int)DM_TIER_DRAM == (int)DM_DSM_TIER_DRAM &&
               (int)DM_TIER_NVME == (int)DM_DSM_TIER_NVME &&
               (int)DM_TIER_PFS == (int)DM_DSM_TIER_PFS,
               "dm_tier_t and dm_dsm_tier_t differ");

DM_API dm_status_t dm_advise(const void *ptr, size_t len, dm_mem_advice_t advice)
{
    return dm_api_ready("dm_advise")
               ? dm_dsm_advise(dm_ctx.dsm, ptr, len, (int)advice.kind, advice.arg)
               : DM_ERR_NOT_INITIALIZED;
}

DM_API dm_status_t dm_prefetch(const void *ptr, size_t len, dm_tier_t tier)
{
    return dm_api_ready("dm_prefetch") ? dm_dsm_prefetch_to(dm_ctx.dsm, ptr, len, (int)tier)
                                       : DM_ERR_NOT_INITIALIZED;
}

dm_status_t dm_core_where(const void *ptr, size_t len, dm_dsm_where_t *where)
{
    if (!dm_api_ready("dm_core_where")) {
        return DM_ERR_NOT_INITIALIZED;
    }
    (void)dm_tp_progress(dm_ctx.tp); /* a poller sees answers arrive */
    return dm_dsm_where(dm_ctx.dsm, ptr, len, where);
}
