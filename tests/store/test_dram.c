/*
 * What only the dram tier does (test_tier checks the common contract):
 *   - huge pages: the mapping is 2 MiB aligned and MADV_HUGEPAGE accepted
 *     where transparent huge pages are enabled; the tier reports it;
 *   - POPULATE: all memory is resident after create (RSS grows by the tier);
 *   - NUMA: bound to node 0 works and reports node 0 and a distance from the
 *     NUMA table (10 * 10 = 100 for the local node); a node that does not
 *     exist is DM_ERR_INVALID_PARAM (or DM_ERR_UNSUPPORTED without libnuma);
 *   - discard gives memory back (RSS drops) and the slot reads as zeros.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_test.h"

#define SLOTS 4096u /* 16 MiB */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;

    CHECK(f != NULL && fscanf(f, "%ld %ld", &pages, &rss) == 2, "statm");
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int thp_enabled(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";

    if (f == NULL) {
        return 0;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        line[0] = '\0';
    }
    fclose(f);
    return strstr(line, "[never]") == NULL && line[0] != '\0';
}

int main(void)
{
    int fds0 = store_fd_count();
    dm_store_tier_params_t p;
    dm_store_tier_t *t;
    dm_store_tier_info_t info;
    char *buf = store_alloc(4096);
    long rss0, rss1;
    dm_status_t st;

    memset(&p, 0, sizeof(p));
    p.kind = DM_STORE_KIND_DRAM;
    p.capacity = SLOTS;
    p.flags = DM_STORE_FLAG_HUGEPAGE | DM_STORE_FLAG_POPULATE;
    p.field_mask = DM_STORE_PARAM_FLAGS;

    rss0 = rss_kib();
    CHECK_OK(dm_store_tier_create(&p, &t));
    rss1 = rss_kib();
    dm_store_tier_query(t, &info);
    printf("dram: huge pages %d (THP %s), RSS +%ld KiB after create with POPULATE\n",
           info.hugepage, thp_enabled() ? "enabled" : "off", rss1 - rss0);
    CHECK(rss1 - rss0 >= (long)SLOTS * 4 * 9 / 10, "POPULATE: RSS grew by %ld KiB only",
          rss1 - rss0);
    if (thp_enabled()) {
        CHECK(info.hugepage, "MADV_HUGEPAGE refused with THP enabled");
    }
    CHECK(info.numa_node == -1 && info.distance == DM_STORE_DISTANCE_DRAM, "node %d distance %u",
          info.numa_node, info.distance);

    /* discard gives memory back and reads as zeros */
    for (uint64_t s = 0; s < SLOTS; s++) {
        store_fill(buf, 4096, s, 1);
        CHECK_OK(dm_store_tier_write(t, s, buf));
    }
    rss0 = rss_kib();
    for (uint64_t s = 0; s < SLOTS / 2; s++) {
        CHECK_OK(dm_store_tier_discard(t, s));
    }
    rss1 = rss_kib();
    printf("dram: RSS -%ld KiB after discarding half\n", rss0 - rss1);
    CHECK(rss0 - rss1 >= (long)SLOTS * 4 / 2 * 9 / 10, "discard freed only %ld KiB", rss0 - rss1);
    CHECK(dm_store_tier_used(t) == SLOTS / 2, "used %llu", (unsigned long long)dm_store_tier_used(t));
    CHECK_OK(dm_store_tier_read(t, 5, buf));
    CHECK(store_match(buf, 4096, 5, 0), "a discarded slot does not read as zeros");
    CHECK_OK(dm_store_tier_read(t, SLOTS - 1, buf));
    CHECK(store_match(buf, 4096, SLOTS - 1, 1), "a kept slot changed");
    dm_store_tier_destroy(t);

    /* NUMA */
    p.flags = 0;
    p.numa_node = 0;
    p.field_mask = DM_STORE_PARAM_NUMA_NODE;
    st = dm_store_tier_create(&p, &t);
    if (st == DM_ERR_UNSUPPORTED) {
        printf("SKIP part: NUMA binding: %s\n", dm_last_error());
    } else {
        CHECK_OK(st);
        dm_store_tier_query(t, &info);
        CHECK(info.numa_node == 0 && info.distance == 100, "node %d distance %u", info.numa_node,
              info.distance);
        store_fill(buf, 4096, 1, 1);
        CHECK_OK(dm_store_tier_write(t, 1, buf));
        CHECK_OK(dm_store_tier_read(t, 1, buf));
        CHECK(store_match(buf, 4096, 1, 1), "round trip on node 0");
        dm_store_tier_destroy(t);
        p.numa_node = 4095;
        CHECK_ST(dm_store_tier_create(&p, &t), DM_ERR_INVALID_PARAM);
        printf("dram: %s\n", dm_last_error());
    }

    /* an explicit distance wins over discovery */
    p.numa_node = -1;
    p.distance = 77;
    p.field_mask = DM_STORE_PARAM_DISTANCE;
    CHECK_OK(dm_store_tier_create(&p, &t));
    dm_store_tier_query(t, &info);
    CHECK(info.distance == 77, "distance %u", info.distance);
    dm_store_tier_destroy(t);

    free(buf);
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("dram: ok\n");
    return 0;
}
