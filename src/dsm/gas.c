/*
 * Reserving the global address space (see gas.h).
 *
 * Why a negotiation: each process's address space differs (libraries,
 * heaps, thread stacks, ASLR), so an address free in rank 0 may be taken in
 * rank 5. Rank 0 lets the kernel pick a free range in its own process,
 * proposes it, and every rank tries MAP_FIXED_NOREPLACE there (never
 * clobbering an existing mapping). One allgather of the outcomes decides;
 * on a conflict rank 0 keeps its first mapping as a blocker so the kernel
 * hands it a different range next time, and proposes again.
 */
#include "gas.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coll.h"
#include "log.h"
#include "status.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static void *dm_gas_map_at(uintptr_t addr, size_t size)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (addr ? MAP_FIXED_NOREPLACE : 0);
    void *p = mmap((void *)addr, size, PROT_NONE, flags, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    if (addr != 0 && (uintptr_t)p != addr) {
        /* an old kernel ignored MAP_FIXED_NOREPLACE and placed it elsewhere */
        munmap(p, size);
        return NULL;
    }
    return p;
}

dm_status_t dm_gas_reserve(dm_tp_t *tp, size_t size, dm_gas_t *gas)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int n = dm_tp_nranks(tp), rank = dm_tp_rank(tp);
    void *blockers[DM_GAS_TRIES] = { NULL };
    uint8_t ok, *oks = NULL;
    uintptr_t addr = 0;
    void *mine = NULL;
    dm_status_t st;
    int tries, r, bad = -1;

    if (size == 0 || size > SIZE_MAX - page) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "global address space of %zu bytes", size);
    }
    size = (size + page - 1) & ~(page - 1);
    oks = malloc((size_t)n);
    if (oks == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "reservation outcome table");
    }
    for (tries = 0; tries < DM_GAS_TRIES; tries++) {
        if (rank == 0) {
            mine = dm_gas_map_at(0, size);
            addr = (uintptr_t)mine;
        }
        st = dm_tp_bcast(tp, 0, &addr, sizeof(addr));
        if (st != DM_OK) {
            goto out;
        }
        if (addr == 0) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "rank 0 cannot map %zu bytes of address space: %s",
                              size, strerror(errno));
            goto out_bcast_failed;
        }
        if (rank != 0) {
            mine = dm_gas_map_at(addr, size);
        }
        ok = mine != NULL;
        st = dm_tp_allgather(tp, &ok, oks, 1);
        if (st != DM_OK) {
            goto out;
        }
        for (r = 0, bad = -1; r < n; r++) {
            if (!oks[r]) {
                bad = r;
                break;
            }
        }
        if (bad < 0) {
            gas->base = addr;
            gas->size = size;
            gas->tries = tries + 1;
            DM_DEBUG("global address space: %zu bytes at %#lx (try %d)", size,
                     (unsigned long)addr, tries + 1);
            st = DM_OK;
            goto out;
        }
        DM_DEBUG("rank %d cannot map the global address space at %#lx; trying elsewhere", bad,
                 (unsigned long)addr);
        if (rank == 0) {
            blockers[tries] = mine; /* keep it, so the kernel offers another range */
        } else if (mine != NULL) {
            munmap(mine, size);
        }
        mine = NULL;
    }
    st = dm_error_set(DM_ERR_NO_MEMORY,
                      "no address range of %zu bytes is free in every rank after %d tries "
                      "(last conflict: rank %d at %#lx); lower DISTMEM_GAS_SIZE",
                      size, DM_GAS_TRIES, bad, (unsigned long)addr);
out:
    if (st != DM_OK && mine != NULL) {
        munmap(mine, size);
    }
out_bcast_failed:
    for (tries = 0; tries < DM_GAS_TRIES; tries++) {
        if (blockers[tries] != NULL) {
            munmap(blockers[tries], size);
        }
    }
    free(oks);
    return st;
}

void dm_gas_release(dm_gas_t *gas)
{
    if (gas->base != 0) {
        munmap((void *)gas->base, gas->size);
        gas->base = 0;
        gas->size = 0;
    }
}
