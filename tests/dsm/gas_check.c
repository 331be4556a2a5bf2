/*
 * The global address space under N real processes (`distmem run -n N`):
 * every rank reserves the range at the same address; the range is address
 * space only (PROT_NONE in /proc/self/maps); a size no rank can map fails
 * in every rank with DM_ERR_NO_MEMORY, leaving nothing reserved; size 0 is
 * DM_ERR_INVALID_PARAM. A forced conflict (rank 1 occupies the address rank
 * 0's kernel offers first) makes the negotiation move elsewhere.
 * Prints "gas_check: rank R ok".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "boot.h"
#include "coll.h"
#include "config.h"
#include "gas.h"
#include "rank_check.h"
#include "tp.h"

extern char **environ;
static int g_rank;


/* The protection of the mapping that contains addr, from /proc/self/maps. */
static int maps_prot(uintptr_t addr, char prot[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo, hi;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, prot) == 3 && addr >= lo && addr < hi) {
            fclose(f);
            return 1;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return 0;
}

int main(void)
{
    dm_config_t cfg;
    dm_boot_t *boot;
    dm_tp_t *tp;
    dm_gas_t gas = { 0 }, bad = { 0 };
    uintptr_t *bases, probe = 0;
    size_t size = (size_t)1 << 34; /* 16 GiB of address space */
    void *blocker = NULL;
    char prot[5];
    int n;

    CHECK_OK(dm_config_load(&cfg, environ));
    CHECK_OK(dm_boot_create(&cfg, &boot));
    g_rank = boot->rank;
    n = boot->nranks;
    CHECK_OK(dm_tp_create(boot, &cfg, &tp));
    CHECK_OK(dm_tp_boot_fence(tp));

    CHECK(dm_gas_reserve(tp, 0, &bad) == DM_ERR_INVALID_PARAM, "size 0 accepted");

    /* Force a conflict: rank 1 takes the range rank 0's kernel would offer. */
    if (g_rank == 0) {
        void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        CHECK(p != MAP_FAILED, "probe mapping");
        probe = (uintptr_t)p;
        munmap(p, size);
    }
    CHECK_OK(dm_tp_bcast(tp, 0, &probe, sizeof(probe)));
    if (g_rank == 1) {
        blocker = mmap((void *)probe, size, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (blocker == MAP_FAILED || (uintptr_t)blocker != probe) {
            blocker = NULL; /* the address was taken here anyway: a conflict all the same */
        }
    }

    CHECK_OK(dm_gas_reserve(tp, size, &gas));
    bases = calloc((size_t)n, sizeof(*bases));
    CHECK_OK(dm_tp_allgather(tp, &gas.base, bases, sizeof(gas.base)));
    for (int r = 0; r < n; r++) {
        CHECK(bases[r] == gas.base, "rank %d reserved at %#lx, I at %#lx", r,
              (unsigned long)bases[r], (unsigned long)gas.base);
    }
    CHECK(gas.size == size, "size %zu", gas.size);
    CHECK(n < 2 || gas.base != probe, "the negotiation kept the address rank 1 occupies");
    CHECK(maps_prot(gas.base, prot) && strcmp(prot, "---p") == 0,
          "the reservation is not PROT_NONE (%s)", prot);
    CHECK(maps_prot(gas.base + size - 1, prot), "the end of the reservation is not mapped");
    CHECK(dm_gas_contains(&gas, (void *)gas.base, size), "contains(all)");
    CHECK(!dm_gas_contains(&gas, (void *)(gas.base + 1), size), "contains(past the end)");
    CHECK(!dm_gas_contains(&gas, (void *)(gas.base - 1), 1), "contains(before)");

    /* 2^62 bytes cannot be mapped anywhere: every rank fails the same way. */
    CHECK(dm_gas_reserve(tp, (size_t)1 << 62, &bad) == DM_ERR_NO_MEMORY,
          "an impossible size was reserved");
    CHECK(bad.base == 0, "a failed reservation left an address");

    CHECK_OK(dm_tp_barrier(tp));
    dm_gas_release(&gas);
    CHECK(!maps_prot(bases[0], prot) || blocker != NULL, "release left the range mapped");
    if (blocker != NULL) {
        munmap(blocker, size);
    }
    free(bases);
    CHECK_OK(dm_tp_barrier(tp));
    dm_tp_destroy(tp);
    dm_boot_destroy(boot, 1);
    if (g_rank == 0) {
        printf("gas_check: reserved after %d proposal(s)\n", gas.tries);
    }
    printf("gas_check: rank %d ok\n", g_rank);
    return 0;
}
