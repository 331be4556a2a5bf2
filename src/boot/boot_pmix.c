/*
 * PMIx bootstrap: processes started by mpirun (Open MPI's PRRTE/ORTE) or by
 * srun find each other through the PMIx server of the resource manager.
 *
 * Keys map onto PMIx keys "distmem.<key>" put with PMIX_GLOBAL scope. A put
 * becomes visible to other ranks at the next fence (PMIx_Commit +
 * PMIx_Fence with PMIX_COLLECT_DATA), which is what boot.h promises; a get
 * of a key that is not there yet is retried until the timeout, because PMIx
 * servers differ in whether a missing key blocks or fails at once.
 *
 * Failure: the PMIx server raises PMIX_ERR_PROC_ABORTED (and friends) when
 * a process of the job dies; the handler records the rank, and
 * poll_failed() hands each one out once. Under mpirun the launcher usually
 * tears the job down too; the event only lets operations fail sooner.
 */
#include <pmix.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot_backends.h"
#include "log.h"
#include "status.h"
#include "util.h"

#define DM_PMIX_MAX_FAILED 64

typedef struct dm_boot_pmix {
    dm_boot_t   super;
    pmix_proc_t me;
    size_t      evhdlr_ref;
    int         have_evhdlr;
} dm_boot_pmix_t;

/*
 * Failed ranks reported by the PMIx event thread. Written by the event
 * thread (append: store the rank, then publish the count), read by the
 * progress path; one job per process, so file-scope state is enough.
 */
static int dm_pmix_failed[DM_PMIX_MAX_FAILED];
static atomic_int dm_pmix_nfailed;
static int dm_pmix_nreported;

static void dm_boot_pmix_key(char *buf, size_t len, const char *key)
{
    snprintf(buf, len, "distmem.%s", key);
}

static dm_status_t dm_boot_pmix_put(dm_boot_t *boot, const char *key, const void *value,
                                    size_t len)
{
    char pkey[PMIX_MAX_KEYLEN + 1];
    pmix_value_t val;
    pmix_status_t rc;

    if (strlen(key) + 8 > PMIX_MAX_KEYLEN || len > DM_BOOT_VALUE_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "bootstrap key '%s' or value too long", key);
    }
    dm_boot_pmix_key(pkey, sizeof(pkey), key);
    PMIX_VALUE_CONSTRUCT(&val);
    val.type = PMIX_BYTE_OBJECT;
    val.data.bo.bytes = (char *)value;
    val.data.bo.size = len;
    rc = PMIx_Put(PMIX_GLOBAL, pkey, &val);
    if (rc != PMIX_SUCCESS) {
        return dm_error_set(DM_ERR_BOOTSTRAP, "PMIx_Put(%s) failed: %s", pkey,
                            PMIx_Error_string(rc));
    }
    return DM_OK;
}

static dm_status_t dm_boot_pmix_fence(dm_boot_t *boot)
{
    pmix_info_t info;
    pmix_status_t rc;
    bool collect = true;

    rc = PMIx_Commit();
    if (rc != PMIX_SUCCESS) {
        return dm_error_set(DM_ERR_BOOTSTRAP, "PMIx_Commit failed: %s", PMIx_Error_string(rc));
    }
    PMIX_INFO_CONSTRUCT(&info);
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    rc = PMIx_Fence(NULL, 0, &info, 1);
    PMIX_INFO_DESTRUCT(&info);
    if (rc != PMIX_SUCCESS) {
        return dm_error_set(rc == PMIX_ERR_TIMEOUT ? DM_ERR_TIMED_OUT : DM_ERR_PEER_FAILED,
                            "PMIx_Fence failed: %s", PMIx_Error_string(rc));
    }
    return DM_OK;
}

static dm_status_t dm_boot_pmix_get(dm_boot_t *boot, int rank, const char *key, void *buf,
                                    size_t cap, size_t *len_p)
{
    dm_boot_pmix_t *pb = (dm_boot_pmix_t *)boot;
    char pkey[PMIX_MAX_KEYLEN + 1];
    uint64_t deadline = dm_time_ns() + boot->timeout_ns;
    pmix_proc_t proc;
    pmix_value_t *val = NULL;
    pmix_status_t rc;
    dm_status_t st;

    if (rank < 0 || rank >= boot->nranks) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "bootstrap get from rank %d of %d", rank,
                            boot->nranks);
    }
    dm_boot_pmix_key(pkey, sizeof(pkey), key);
    PMIX_PROC_CONSTRUCT(&proc);
    memcpy(proc.nspace, pb->me.nspace, sizeof(proc.nspace));
    proc.rank = (pmix_rank_t)rank;
    for (;;) {
        rc = PMIx_Get(&proc, pkey, NULL, 0, &val);
        if (rc == PMIX_SUCCESS) {
            break;
        }
        if (dm_time_ns() > deadline) {
            return dm_error_set(DM_ERR_TIMED_OUT, "PMIx_Get(rank %d, %s): %s", rank, pkey,
                                PMIx_Error_string(rc));
        }
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
    if (val->type != PMIX_BYTE_OBJECT) {
        st = dm_error_set(DM_ERR_PROTOCOL, "PMIx key %s of rank %d has type %d", pkey, rank,
                          (int)val->type);
    } else if (val->data.bo.size > cap) {
        *len_p = val->data.bo.size;
        st = dm_error_set(DM_ERR_NO_SPACE, "PMIx value %s is %zu bytes, buffer %zu", pkey,
                          val->data.bo.size, cap);
    } else {
        memcpy(buf, val->data.bo.bytes, val->data.bo.size);
        *len_p = val->data.bo.size;
        st = DM_OK;
    }
    PMIX_VALUE_RELEASE(val);
    return st;
}

static void dm_boot_pmix_event(size_t evhdlr_id, pmix_status_t status, const pmix_proc_t *source,
                               pmix_info_t info[], size_t ninfo, pmix_info_t results[],
                               size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                               void *cbdata)
{
    int n = atomic_load(&dm_pmix_nfailed);

    if (source != NULL && n < DM_PMIX_MAX_FAILED && source->rank != PMIX_RANK_WILDCARD) {
        dm_pmix_failed[n] = (int)source->rank;
        atomic_store(&dm_pmix_nfailed, n + 1);
    }
    if (cbfunc != NULL) {
        cbfunc(PMIX_EVENT_ACTION_COMPLETE, NULL, 0, NULL, NULL, cbdata);
    }
}

static int dm_boot_pmix_poll_failed(dm_boot_t *boot)
{
    if (dm_pmix_nreported < atomic_load(&dm_pmix_nfailed)) {
        return dm_pmix_failed[dm_pmix_nreported++];
    }
    return -1;
}

static void dm_boot_pmix_destroy(dm_boot_t *boot, int clean)
{
    dm_boot_pmix_t *pb = (dm_boot_pmix_t *)boot;

    if (pb->have_evhdlr) {
        PMIx_Deregister_event_handler(pb->evhdlr_ref, NULL, NULL);
    }
    PMIx_Finalize(NULL, 0);
    free(pb);
}

static const dm_boot_ops_t dm_boot_pmix_ops = {
    .name        = "pmix",
    .put         = dm_boot_pmix_put,
    .fence       = dm_boot_pmix_fence,
    .get         = dm_boot_pmix_get,
    .poll_failed = dm_boot_pmix_poll_failed,
    .destroy     = dm_boot_pmix_destroy,
};

dm_status_t dm_boot_pmix_create(const dm_config_t *cfg, dm_boot_t **boot_p)
{
    pmix_status_t codes[] = { PMIX_ERR_PROC_ABORTED, PMIX_ERR_PROC_ABORTING,
                              PMIX_ERR_LOST_CONNECTION, PMIX_ERR_PROC_TERM_WO_SYNC };
    dm_boot_pmix_t *pb;
    pmix_value_t *val = NULL;
    pmix_proc_t wild;
    pmix_status_t rc;
    dm_status_t st;

    pb = calloc(1, sizeof(*pb));
    if (pb == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "bootstrap object");
    }
    rc = PMIx_Init(&pb->me, NULL, 0);
    if (rc != PMIX_SUCCESS) {
        free(pb);
        return dm_error_set(DM_ERR_BOOTSTRAP,
                            "PMIx_Init failed (%s): not started by mpirun/srun, or its PMIx "
                            "server is unreachable",
                            PMIx_Error_string(rc));
    }
    PMIX_PROC_CONSTRUCT(&wild);
    memcpy(wild.nspace, pb->me.nspace, sizeof(wild.nspace));
    wild.rank = PMIX_RANK_WILDCARD;
    rc = PMIx_Get(&wild, PMIX_JOB_SIZE, NULL, 0, &val);
    if (rc != PMIX_SUCCESS || val == NULL || val->type != PMIX_UINT32) {
        st = dm_error_set(DM_ERR_BOOTSTRAP, "PMIx_Get(PMIX_JOB_SIZE) failed: %s",
                          PMIx_Error_string(rc));
        goto err_finalize;
    }
    pb->super.ops = &dm_boot_pmix_ops;
    pb->super.rank = (int)pb->me.rank;
    pb->super.nranks = (int)val->data.uint32;
    pb->super.timeout_ns = cfg->boot_timeout;
    PMIX_VALUE_RELEASE(val);

    rc = PMIx_Register_event_handler(codes, DM_ARRAY_SIZE(codes), NULL, 0, dm_boot_pmix_event,
                                     NULL, NULL);
    if (rc >= 0) {
        /* PMIx v4 returns the handler's reference for the blocking form. */
        pb->evhdlr_ref = (size_t)rc;
        pb->have_evhdlr = 1;
    } else {
        DM_DEBUG("PMIx event handler not registered (%s); failures are detected by the "
                 "transport only", PMIx_Error_string(rc));
    }
    *boot_p = &pb->super;
    return DM_OK;

err_finalize:
    if (val != NULL) {
        PMIX_VALUE_RELEASE(val);
    }
    PMIx_Finalize(NULL, 0);
    free(pb);
    return st;
}
