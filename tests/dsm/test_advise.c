/*
 * Unit test of the placement hints' home side, no processes involved.
 *
 * Plan (src/dsm/advise.h, a pure function): every advice and prefetch
 * against a home store of DRAM over NVMe and against no store (in-place
 * home memory: valid hints plan nothing), and every bad argument:
 * unknown advice or tier, PREFERRED_TIER of LOCAL, ACCESSED_BY of a rank
 * outside the job, an argument where none is taken, a tier the store lacks
 * (DM_ERR_UNSUPPORTED, with a message naming it).
 *
 * Store: a store configured as homemem.c configures the home store (DRAM
 * of 64 pages with the "hint" policy over an NVMe file, no budget, a worker
 * thread, a queue as long as the store), driven by the plans: a prefetch to
 * NVMe and back moves every page (the worker runs HINT moves although
 * there is no budget); COLD pages are the first and only ones pushed out
 * of DRAM; PREFERRED_TIER given to pages before they are written keeps
 * them in DRAM under pressure; a prefetch of more pages than the store's
 * default queue (1024) is not refused. dm_store_check after every step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advise.h"
#include "status.h"

#define CHECK(c, ...)                                                     \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "test_advise: %s:%d: ", __FILE__, __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

#define NRANKS 4
#define PAGE 4096u
#define DRAM_PAGES 64u
#define NVME_PAGES 2048u

static const dm_store_kind_t g_kinds[2] = { DM_STORE_KIND_DRAM, DM_STORE_KIND_NVME };

/* Plans (what, arg) with and without the store; checks the status and, on success, the plan. */
static void plan_is(uint32_t what, int32_t arg, dm_status_t want, int a0, int a1, int sticky,
                    int move_to)
{
    dm_dsm_hint_plan_t p, none;
    dm_status_t st = dm_dsm_hint_plan(what, arg, NRANKS, g_kinds, 2, &p);

    CHECK(st == want, "plan(%u, %d) with a store: %s (%s), want %s", what, (int)arg,
          dm_status_name(st), dm_last_error(), dm_status_name(want));
    if (st != DM_OK) {
        CHECK(dm_last_error()[0] != '\0', "plan(%u, %d): no message", what, (int)arg);
        return;
    }
    CHECK(p.advice[0] == a0 && p.advice[1] == a1 && p.sticky == sticky && p.move_to == move_to,
          "plan(%u, %d): advice %d %d sticky %d move_to %d, want %d %d %d %d", what, (int)arg,
          p.advice[0], p.advice[1], p.sticky, p.move_to, a0, a1, sticky, move_to);
    st = dm_dsm_hint_plan(what, arg, NRANKS, NULL, 0, &none);
    CHECK(st == DM_OK && none.advice[0] < 0 && none.advice[1] < 0 && none.move_to < 0,
          "plan(%u, %d) without a store: %s, advice %d, move_to %d (want nothing)", what,
          (int)arg, dm_status_name(st), none.advice[0], none.move_to);
}

/* A hint the store lacks the tier for: refused with a store, nothing without. */
static void plan_lacks(uint32_t what, int32_t arg)
{
    dm_dsm_hint_plan_t p;

    plan_is(what, arg, DM_ERR_UNSUPPORTED, 0, 0, 0, 0);
    CHECK(strstr(dm_last_error(), dm_dsm_tier_name(arg)) != NULL, "message: %s",
          dm_last_error());
    CHECK(dm_dsm_hint_plan(what, arg, NRANKS, NULL, 0, &p) == DM_OK && p.move_to < 0 &&
              p.advice[0] < 0,
          "plan(%u, %d) without a store refused", what, (int)arg);
}

/* Bad whatever the store. */
static void plan_bad(uint32_t what, int32_t arg)
{
    dm_dsm_hint_plan_t p;

    plan_is(what, arg, DM_ERR_INVALID_PARAM, 0, 0, 0, 0);
    CHECK(dm_dsm_hint_plan(what, arg, NRANKS, NULL, 0, &p) == DM_ERR_INVALID_PARAM,
          "plan(%u, %d) without a store accepted", what, (int)arg);
}

static void test_plan(void)
{
    const uint32_t PF = DM_DSM_HINT_PREFETCH;

    plan_is(DM_DSM_ADVISE_UNSET, 0, DM_OK, DM_ADVICE_NONE, -1, 0, -1);
    plan_is(DM_DSM_ADVISE_READ_MOSTLY, 0, DM_OK, DM_ADVICE_READ_MOSTLY, -1, 1, -1);
    plan_is(DM_DSM_ADVISE_COLD, 0, DM_OK, DM_ADVICE_COLD, -1, 0, -1);
    plan_is(DM_DSM_ADVISE_ACCESSED_BY, 0, DM_OK, DM_ADVICE_ACCESSED_BY, -1, 0, -1);
    plan_is(DM_DSM_ADVISE_ACCESSED_BY, NRANKS - 1, DM_OK, DM_ADVICE_ACCESSED_BY, -1, 0, -1);
    plan_is(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_DRAM, DM_OK, DM_ADVICE_PREFERRED_TIER, -1,
            1, -1);
    plan_is(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_NVME, DM_OK, DM_ADVICE_NONE,
            DM_ADVICE_COLD, 0, -1);
    plan_is(PF, DM_DSM_TIER_DRAM, DM_OK, -1, -1, 0, 0);
    plan_is(PF, DM_DSM_TIER_NVME, DM_OK, -1, -1, 0, 1);
    plan_is(PF, DM_DSM_TIER_LOCAL, DM_OK, -1, -1, 0, -1); /* the caller's business */

    plan_lacks(PF, DM_DSM_TIER_GPU);
    plan_lacks(PF, DM_DSM_TIER_PFS);
    plan_lacks(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_GPU);
    plan_lacks(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_PFS);

    plan_bad(DM_DSM_ADVISE_COUNT, 0);
    plan_bad(99, 0);
    plan_bad(UINT32_MAX, 0);
    plan_bad(PF + 1, 0);
    plan_bad(DM_DSM_ADVISE_COLD, 1);
    plan_bad(DM_DSM_ADVISE_READ_MOSTLY, -1);
    plan_bad(DM_DSM_ADVISE_UNSET, 7);
    plan_bad(DM_DSM_ADVISE_ACCESSED_BY, NRANKS);
    plan_bad(DM_DSM_ADVISE_ACCESSED_BY, -1);
    plan_bad(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_LOCAL);
    plan_bad(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_COUNT);
    plan_bad(DM_DSM_ADVISE_PREFERRED_TIER, -1);
    plan_bad(PF, DM_DSM_TIER_COUNT);
    plan_bad(PF, -1);
    CHECK(strstr(dm_last_error(), "tier -1") != NULL, "message: %s", dm_last_error());

    CHECK(dm_dsm_tier_of_kind(DM_STORE_KIND_DRAM) == DM_DSM_TIER_DRAM &&
              dm_dsm_tier_of_kind(DM_STORE_KIND_NVME) == DM_DSM_TIER_NVME &&
              dm_dsm_tier_of_kind(DM_STORE_KIND_PFS) == DM_DSM_TIER_PFS &&
              dm_dsm_tier_of_kind(DM_STORE_KIND_GPU) == DM_DSM_TIER_GPU,
          "tier of kind");
    CHECK(!strcmp(dm_dsm_tier_name(DM_DSM_TIER_NVME), "nvme") && !strcmp(dm_dsm_tier_name(9), "?"),
          "tier names");
}

/* ------------------------------------------------------------------ */

static dm_store_t *g_store;
static unsigned char *g_buf;

/* Carries out plan (what, arg) for store pages [first, first + n), as homemem.c does. */
static void hint(uint32_t what, int32_t arg, uint64_t first, uint64_t n)
{
    dm_dsm_hint_plan_t p;
    dm_status_t st = dm_dsm_hint_plan(what, arg, NRANKS, g_kinds, 2, &p);

    CHECK(st == DM_OK, "plan: %s", dm_last_error());
    for (int i = 0; i < 2; i++) {
        if (p.advice[i] >= 0) {
            st = dm_store_advise(g_store, first, n, (dm_advice_t)p.advice[i]);
            CHECK(st == DM_OK, "advise: %s", dm_last_error());
        }
    }
    if (p.move_to >= 0) {
        st = dm_store_prefetch(g_store, first, n, (unsigned)p.move_to);
        CHECK(st == DM_OK, "prefetch of %llu pages: %s: %s", (unsigned long long)n,
              dm_status_name(st), dm_last_error());
    }
}

static void write_pages(uint64_t first, uint64_t n)
{
    for (uint64_t p = first; p < first + n; p++) {
        memset(g_buf, (int)(p * 7 + 1), PAGE);
        CHECK(dm_store_write(g_store, p, g_buf) == DM_OK, "write %llu: %s",
              (unsigned long long)p, dm_last_error());
    }
}

/* Pages of [first, first + n) living in tier t. */
static uint64_t in_tier(uint64_t first, uint64_t n, int t)
{
    uint64_t k = 0;

    for (uint64_t p = first; p < first + n; p++) {
        k += dm_store_page_tier(g_store, p) == t;
    }
    return k;
}

/* Waits (the worker moves them) until every page of the range lives in tier t. */
static void wait_tier(uint64_t first, uint64_t n, int t)
{
    for (int i = 0; i < 10000 && in_tier(first, n, t) != n; i++) {
        usleep(1000);
    }
    CHECK(in_tier(first, n, t) == n, "after 10 s %llu of %llu pages in tier %d",
          (unsigned long long)in_tier(first, n, t), (unsigned long long)n, t);
    CHECK(dm_store_check(g_store) == DM_OK, "%s", dm_last_error());
}

static void test_store(const char *dir)
{
    dm_store_tier_params_t tiers[2];
    dm_store_params_t sp;
    const char *policies[2] = { "hint", "lru" };
    dm_store_stats_t stats;
    uint64_t others;
    char path[4200];

    snprintf(path, sizeof(path), "%s/home.pages", dir);
    memset(tiers, 0, sizeof(tiers));
    tiers[0].kind = DM_STORE_KIND_DRAM;
    tiers[0].capacity = DRAM_PAGES;
    tiers[1].field_mask = DM_STORE_PARAM_PATH | DM_STORE_PARAM_PREALLOC;
    tiers[1].kind = DM_STORE_KIND_NVME;
    tiers[1].capacity = NVME_PAGES;
    tiers[1].path = path;
    tiers[1].prealloc = DM_STORE_PREALLOC_CHUNK;
    memset(&sp, 0, sizeof(sp));
    /* as homemem.c: cache mode, a worker, a queue as long as the store */
    sp.field_mask = DM_STORE_OPT_PAGE_SIZE | DM_STORE_OPT_POLICIES | DM_STORE_OPT_WORKER |
                    DM_STORE_OPT_QUEUE_MAX;
    sp.tiers = tiers;
    sp.ntiers = 2;
    sp.page_size = PAGE;
    sp.policies = policies;
    sp.npages = DRAM_PAGES + NVME_PAGES - 16;
    sp.worker = 1;
    sp.queue_max = (uint32_t)sp.npages;
    CHECK(dm_store_create(&sp, &g_store) == DM_OK, "store: %s", dm_last_error());
    g_buf = aligned_alloc(dm_store_buf_align(g_store), PAGE);
    CHECK(g_buf != NULL, "buffer");

    /* 40 pages in DRAM, to NVMe and back */
    write_pages(0, 40);
    CHECK(in_tier(0, 40, 0) == 40, "written pages not in DRAM");
    hint(DM_DSM_HINT_PREFETCH, DM_DSM_TIER_NVME, 0, 40);
    wait_tier(0, 40, 1);
    hint(DM_DSM_HINT_PREFETCH, DM_DSM_TIER_DRAM, 0, 40);
    wait_tier(0, 40, 0);

    /* COLD pages go first, and only they: 64 pages for a DRAM policy of about 54; the
     * COLD ones arrived last, so the policy alone would keep them */
    hint(DM_DSM_ADVISE_COLD, 0, 24, 16);
    write_pages(40, 24);
    CHECK(in_tier(24, 16, 1) > 0 && in_tier(0, 24, 1) + in_tier(40, 24, 1) == 0,
          "%llu COLD pages and %llu others left DRAM (want > 0 and 0)",
          (unsigned long long)in_tier(24, 16, 1),
          (unsigned long long)(in_tier(0, 24, 1) + in_tier(40, 24, 1)));
    CHECK(dm_store_check(g_store) == DM_OK, "%s", dm_last_error());

    /* PREFERRED_TIER(DRAM) before the pages are written, then pressure */
    hint(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_DRAM, 64, 20);
    write_pages(64, 20);
    write_pages(84, 60);
    CHECK(in_tier(64, 20, 0) == 20, "%llu of 20 preferred pages in DRAM",
          (unsigned long long)in_tier(64, 20, 0));
    /* PREFERRED_TIER(NVME): the preference is gone and they go first */
    others = in_tier(0, 64, 0) + in_tier(84, 60, 0);
    hint(DM_DSM_ADVISE_PREFERRED_TIER, DM_DSM_TIER_NVME, 64, 20);
    write_pages(144, 10);
    CHECK(in_tier(64, 20, 1) >= 10 && in_tier(0, 64, 0) + in_tier(84, 60, 0) == others,
          "after PREFERRED_TIER(NVME) and 10 new pages: %llu of 20 left DRAM, other pages in "
          "DRAM %llu, were %llu", (unsigned long long)in_tier(64, 20, 1),
          (unsigned long long)(in_tier(0, 64, 0) + in_tier(84, 60, 0)),
          (unsigned long long)others);
    CHECK(dm_store_check(g_store) == DM_OK, "%s", dm_last_error());

    /* all to NVMe; then all to DRAM: more requests than the default queue (1024) holds */
    write_pages(154, 1500);
    hint(DM_DSM_HINT_PREFETCH, DM_DSM_TIER_NVME, 0, 1654);
    wait_tier(0, 1654, 1);
    hint(DM_DSM_HINT_PREFETCH, DM_DSM_TIER_DRAM, 0, 1654);
    dm_store_stats(g_store, &stats);
    CHECK(stats.rejected[DM_MIGRATE_HINT] == 0 && stats.requested[DM_MIGRATE_HINT] >= 1654,
          "%llu HINT moves rejected, %llu requested", (unsigned long long)stats.rejected[DM_MIGRATE_HINT],
          (unsigned long long)stats.requested[DM_MIGRATE_HINT]);
    for (uint64_t p = 0; p < 1654; p += 97) {
        unsigned char want = (unsigned char)(p * 7 + 1);

        CHECK(dm_store_read(g_store, p, g_buf) == DM_OK && g_buf[0] == want &&
                  g_buf[PAGE - 1] == want,
              "page %llu after the moves", (unsigned long long)p);
    }
    CHECK(dm_store_check(g_store) == DM_OK, "%s", dm_last_error());
    dm_store_destroy(g_store);
    free(g_buf);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    char dir[4096];

    test_plan();
    snprintf(dir, sizeof(dir), "%s/test_advise-XXXXXX", base != NULL && *base ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    test_store(dir);
    CHECK(rmdir(dir) == 0, "rmdir %s: %s (the store left files)", dir, strerror(errno));
    printf("test_advise: ok\n");
    return 0;
}
