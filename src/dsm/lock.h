/*
 * Global locks: a lock server per lock at its home rank (lock id mod
 * nranks), granting in FIFO order of arrival. One message to acquire
 * (plus one back), one to release.
 *
 * Memory ordering needs no more than fences here: the page protocol keeps
 * shared memory sequentially consistent at all times (dsm.c), so
 * everything the previous holder wrote is visible to anyone who reads it
 * after the grant.
 *
 * Threads: several threads of one process queue on the handle's local
 * mutex first; the thread that locked must be the one that unlocks.
 */
#ifndef DM_DSM_LOCK_H
#define DM_DSM_LOCK_H

#include "tp.h"

typedef struct dm_lock_svc dm_lock_svc_t;
typedef struct dm_lock dm_dsm_lock_t;

/* Registers the service's handler. Not collective (the caller's barrier follows). */
dm_status_t dm_lock_svc_create(dm_tp_t *tp, dm_lock_svc_t **svc_p);

/* pre: no peer sends lock messages any more. Never fails. */
void dm_lock_svc_destroy(dm_lock_svc_t *svc);

/* Collective (a barrier inside: the home knows the lock before anyone asks). */
dm_status_t dm_lock_svc_new(dm_lock_svc_t *svc, dm_dsm_lock_t **lock_p);

/* Collective; the lock must be free. Never fails. */
void dm_lock_svc_delete(dm_lock_svc_t *svc, dm_dsm_lock_t *lock);

/* Errors: DM_ERR_PEER_FAILED (a rank failed while waiting). */
dm_status_t dm_lock_svc_acquire(dm_lock_svc_t *svc, dm_dsm_lock_t *lock);

/* Errors: DM_ERR_INVALID_PARAM (this thread does not hold it), DM_ERR_PEER_FAILED. */
dm_status_t dm_lock_svc_release(dm_lock_svc_t *svc, dm_dsm_lock_t *lock);

#endif
