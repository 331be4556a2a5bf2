/*
 * Bootstrap: how the ranks of a job find each other before the transport
 * exists, and how they learn that one of them died.
 *
 * The bootstrap is a small key-value store scoped by rank: a rank puts
 * values under its own name, a fence makes every put before it visible to
 * every get after it at every rank (and is a barrier), and a get fetches
 * a key of any rank, waiting until that rank has put it (bounded by
 * DISTMEM_BOOT_TIMEOUT). The transport stores its UCX worker address here and
 * fetches a peer's only when it first talks to that peer, so start-up costs
 * O(1) per rank, not O(N).
 *
 * Backends, behind one ops table:
 *   rdv     TCP rendezvous store (`distmem run`, `distmem rendezvous`, or
 *           manual DISTMEM_RANK/NRANKS/RDV), as NCCL and PyTorch's TCPStore;
 *           the store also watches each rank's connection and tells the
 *           others when one closes without saying goodbye;
 *   pmix    PMIx (Open MPI's mpirun, Slurm's srun);
 *   single  a job of one process, no store.
 *
 * Threads: a dm_boot_t is used by one thread at a time (the caller
 * serializes); dm_boot_poll_failed() is cheap and non-blocking, meant for the
 * progress loop.
 */
#ifndef DM_BOOT_BOOT_H
#define DM_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "distmem_status.h"

#define DM_BOOT_KEY_MAX   64    /* bytes, including the terminating NUL */
#define DM_BOOT_VALUE_MAX 65536 /* bytes */

typedef struct dm_boot dm_boot_t;

typedef struct dm_boot_ops {
    const char *name;
    dm_status_t (*put)(dm_boot_t *boot, const char *key, const void *value, size_t len);
    dm_status_t (*fence)(dm_boot_t *boot);
    dm_status_t (*get)(dm_boot_t *boot, int rank, const char *key, void *buf, size_t cap,
                       size_t *len_p);
    int (*poll_failed)(dm_boot_t *boot);
    void (*destroy)(dm_boot_t *boot, int clean);
} dm_boot_ops_t;

/* Common head of every backend's object. */
struct dm_boot {
    const dm_boot_ops_t *ops;
    int                  rank;
    int                  nranks;
    uint64_t             timeout_ns; /* DISTMEM_BOOT_TIMEOUT */
};

/*
 * Picks the backend from cfg (DISTMEM_BOOTSTRAP, DISTMEM_RDV, PMIX_RANK) and
 * joins the job. Errors: DM_ERR_CONFIG (inconsistent rank/size/address),
 * DM_ERR_BOOTSTRAP (store unreachable within the timeout, refused job key),
 * DM_ERR_UNSUPPORTED (pmix asked for but not built in).
 */
dm_status_t dm_boot_create(const dm_config_t *cfg, dm_boot_t **boot_p);

/*
 * Leaves the job. clean != 0 tells the store this rank exits normally (so
 * its closing connection is not reported as a failure). Never fails.
 */
void dm_boot_destroy(dm_boot_t *boot, int clean);

/* Publishes value under (this rank, key). key is at most DM_BOOT_KEY_MAX-1 bytes. */
static inline dm_status_t dm_boot_put(dm_boot_t *b, const char *key, const void *v, size_t len)
{
    return b->ops->put(b, key, v, len);
}

/* Collective: all puts before it are visible after it; also a barrier. */
static inline dm_status_t dm_boot_fence(dm_boot_t *b)
{
    return b->ops->fence(b);
}

/*
 * Fetches (rank, key) into buf (cap bytes), waiting until it is put or the
 * timeout passes (DM_ERR_TIMED_OUT), or the rank failed (DM_ERR_PEER_FAILED).
 * A value larger than cap is DM_ERR_NO_SPACE with *len_p set to its size.
 */
static inline dm_status_t dm_boot_get(dm_boot_t *b, int rank, const char *key, void *buf,
                                      size_t cap, size_t *len_p)
{
    return b->ops->get(b, rank, key, buf, cap, len_p);
}

/*
 * Non-blocking: the rank of a peer the store has seen fail since the last
 * call, or -1. Each failure is reported once.
 */
static inline int dm_boot_poll_failed(dm_boot_t *b)
{
    return b->ops->poll_failed(b);
}

#endif
