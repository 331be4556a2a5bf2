/*
 * The global address space: one range of virtual addresses reserved at the
 * same place in every rank, so a pointer into distmem memory means the same
 * thing in every process.
 *
 * The reservation is address space only (PROT_NONE, MAP_NORESERVE): no
 * memory is committed, so it may exceed the node's memory. Allocation,
 * mapping and protection of pages inside it belong to the DSM runtime.
 */
#ifndef DM_DSM_GAS_H
#define DM_DSM_GAS_H

#include <stddef.h>
#include <stdint.h>

#include "tp.h"

typedef struct dm_gas {
    uintptr_t base; /* page aligned, identical in every rank */
    size_t    size; /* bytes, a multiple of the page size */
    int       tries; /* proposals it took to find a common range (1 = no conflict) */
} dm_gas_t;

/*
 * Collective: reserves size bytes (rounded up to pages) at one address in
 * every rank. Rank 0 proposes an address; every rank maps it with
 * MAP_FIXED_NOREPLACE; if any rank cannot, all release and rank 0 proposes
 * another, at most DM_GAS_TRIES times. Errors: DM_ERR_INVALID_PARAM
 * (size 0), DM_ERR_NO_MEMORY (no common address found, with the ranks and
 * addresses tried in dm_last_error), and the collectives' errors
 * (DM_ERR_PEER_FAILED). On error nothing stays reserved.
 */
dm_status_t dm_gas_reserve(dm_tp_t *tp, size_t size, dm_gas_t *gas);

/* Releases the reservation. Not collective; never fails. */
void dm_gas_release(dm_gas_t *gas);

/* Nonzero when [p, p+len) lies inside the reservation. */
static inline int dm_gas_contains(const dm_gas_t *gas, const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p;

    return a >= gas->base && len <= gas->size && a - gas->base <= gas->size - len;
}

#define DM_GAS_TRIES 8

#endif
