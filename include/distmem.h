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
 * Collective barrier across all ranks, logarithmic depth. Returns DM_OK, or
 * DM_ERR_PEER_FAILED when a rank failed (within DISTMEM_PEER_TIMEOUT),
 * DM_ERR_NOT_INITIALIZED before dm_init.
 */
DM_API dm_status_t dm_barrier(void);

#ifdef __cplusplus
}
#endif
#endif /* DISTMEM_H */
