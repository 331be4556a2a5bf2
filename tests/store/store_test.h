/*
 * Helpers of the tier tests: checks that end the process with a message,
 * page patterns that name their slot and generation, scratch directories,
 * and the teardown check (no descriptor left open).
 * Exit status 77 means "skipped", with the reason printed.
 */
#ifndef DM_TESTS_STORE_TEST_H
#define DM_TESTS_STORE_TEST_H

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distmem_status.h"
#include "store.h"
#include "tier.h"

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define CHECK_OK(expr)                                                        \
    do {                                                                      \
        dm_status_t st_ = (expr);                                             \
        CHECK(st_ == DM_OK, "%s -> %s: %s", #expr, dm_status_name(st_),       \
              dm_last_error());                                               \
    } while (0)

#define CHECK_ST(expr, want)                                                  \
    do {                                                                      \
        dm_status_t st_ = (expr);                                             \
        CHECK(st_ == (want), "%s -> %s (want %s): %s", #expr,                 \
              dm_status_name(st_), dm_status_name(want), dm_last_error());    \
    } while (0)

static inline void store_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

/* Number of open descriptors of this process. */
static inline int store_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory stream itself */
}

/* Word i of the page (slot, gen): never all-zero for gen > 0. */
static inline uint64_t store_word(uint64_t slot, uint64_t gen, uint64_t i)
{
    uint64_t x = (slot + 1) * 0x9E3779B97F4A7C15ull ^ (gen * 0xC2B2AE3D27D4EB4Full) ^ (i << 17);

    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return x | 1;
}

static inline void store_fill(void *buf, size_t page_size, uint64_t slot, uint64_t gen)
{
    uint64_t *w = buf;

    for (size_t i = 0; i < page_size / 8; i++) {
        w[i] = gen ? store_word(slot, gen, i) : 0;
    }
}

/* 1 when buf holds page (slot, gen) (gen 0: zeros). */
static inline int store_match(const void *buf, size_t page_size, uint64_t slot, uint64_t gen)
{
    const uint64_t *w = buf;

    for (size_t i = 0; i < page_size / 8; i++) {
        if (w[i] != (gen ? store_word(slot, gen, i) : 0)) {
            return 0;
        }
    }
    return 1;
}

/* The generation a page holds, searching 0..max_gen; -1 when none. */
static inline long store_which(const void *buf, size_t page_size, uint64_t slot, uint64_t max_gen)
{
    for (uint64_t g = 0; g <= max_gen; g++) {
        if (store_match(buf, page_size, slot, g)) {
            return (long)g;
        }
    }
    return -1;
}

static inline uint64_t store_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Fills v with 0 .. n-1 in a random order (Fisher-Yates, store_rand from *seed). */
static inline void store_shuffle(uint64_t *v, uint64_t n, uint64_t *seed)
{
    for (uint64_t i = 0; i < n; i++) {
        v[i] = i;
    }
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = store_rand(seed) % i, x = v[i - 1];

        v[i - 1] = v[j];
        v[j] = x;
    }
}

static inline void *store_alloc(size_t len)
{
    void *p = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);

    CHECK(p != NULL, "aligned_alloc %zu", len);
    return p;
}

/*
 * A scratch directory on a disk file system: $DM_TEST_STORE_DIR, else the
 * build directory, else /tmp. The caller frees the string.
 */
static inline char *store_scratch_dir(const char *tag)
{
    const char *base = getenv("DM_TEST_STORE_DIR");
    char *path;

    if (base == NULL || base[0] == '\0') {
        base = getenv("DM_TEST_BUILD_ROOT");
    }
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    CHECK(asprintf(&path, "%s/store-%s-XXXXXX", base, tag) > 0, "asprintf");
    CHECK(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
    return path;
}

/*
 * A store of page_size 4096: a dram tier of dram_cap slots over an nvme tier
 * of nvme_cap slots in the file path; budget_mbs 0 is cache mode; worker
 * and max_in_flight as in dm_store_params_t (max_in_flight 0: the default).
 */
static inline dm_store_t *store_make_dram_nvme(const char *path, uint64_t dram_cap,
                                               uint64_t nvme_cap, uint64_t npages,
                                               double budget_mbs, int worker,
                                               uint32_t max_in_flight)
{
    dm_store_tier_params_t tiers[2] = {
        { .kind = DM_STORE_KIND_DRAM, .capacity = dram_cap },
        { .kind = DM_STORE_KIND_NVME, .capacity = nvme_cap, .path = path,
          .field_mask = DM_STORE_PARAM_PATH },
    };
    dm_store_params_t p = { .tiers = tiers, .ntiers = 2, .npages = npages,
                            .budget_mbs = budget_mbs, .worker = worker,
                            .max_in_flight = max_in_flight,
                            .field_mask = DM_STORE_OPT_BUDGET | DM_STORE_OPT_WORKER };
    dm_store_t *s;

    if (max_in_flight > 0) {
        p.field_mask |= DM_STORE_OPT_MAX_IN_FLIGHT;
    }
    CHECK_OK(dm_store_create(&p, &s));
    return s;
}

/* Waits (the store's worker runs the engine) until nothing is queued or in flight. */
static inline void store_settle(dm_store_t *s)
{
    dm_store_stats_t st;

    for (int i = 0; i < 20000; i++) {
        dm_store_stats(s, &st);
        if (st.queued == 0 && st.in_flight == 0) {
            return;
        }
        usleep(500);
    }
    CHECK(0, "the engine did not settle: %llu queued, %llu in flight",
          (unsigned long long)st.queued, (unsigned long long)st.in_flight);
}

static inline int store_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static inline void store_rm_rf(const char *path)
{
    nftw(path, store_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
