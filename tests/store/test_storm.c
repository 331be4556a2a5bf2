/*
 * A migration storm: 200 migrations requested at once (prefetch of 200
 * pages from dram to nvme, then back), the engine driven by a virtual clock
 * (dm_store_progress, 0.5 ms a step; each step runs until nothing is in
 * flight, so the disk's real latency does not show in virtual time).
 *
 *   with a budget (10 MB/s per pair, default burst): over every window
 *     [t_i, t_j] of the steps, the bytes started (admitted) and the bytes
 *     committed (moved) on the pair are <= burst + rate * (t_j - t_i); the
 *     storm takes at least (its pages - burst) / rate of virtual time; every
 *     page's data is intact afterwards and every migration is done;
 *   without a budget: all 400 migrations complete, data intact.
 * The reads that verify the data after the storm down move the first pages
 * up themselves (as much as the bucket admits at once, paid from it) and
 * ask DEMAND promotions for the others: the storm up moves the rest and
 * merges into those.
 * No assertion on wall-clock time. Expected verdict: all hold (exit 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_test.h"

#define PS     4096u
#define NPAGES 1024u
#define LIVE   400u  /* pages written, all fitting dram's target */
#define STORM  200u
#define STEP   500000ull /* 0.5 ms */
#define MAXSTEPS 20000

static char *g_dir;
static uint64_t g_now;

typedef struct sample {
    uint64_t t, admitted, moved;
} sample_t;

static sample_t g_s[MAXSTEPS + 1];

static dm_store_t *make(double budget_mbs)
{
    char path[4300];

    snprintf(path, sizeof(path), "%s/storm.dat", g_dir);
    return store_make_dram_nvme(path, 512, 1024, NPAGES, budget_mbs, 0, 0);
}

/* One virtual step: progress until nothing is in flight. Returns progress's last answer. */
static dm_status_t step(dm_store_t *s)
{
    dm_store_stats_t st;
    dm_status_t r;

    for (;;) {
        r = dm_store_progress(s, g_now, 0);
        dm_store_stats(s, &st);
        if (st.in_flight == 0) {
            return r;
        }
        usleep(20);
    }
}

static void verify(dm_store_t *s, const char *what)
{
    char *buf = store_alloc(PS);

    for (uint64_t p = 0; p < LIVE; p++) {
        CHECK_OK(dm_store_read(s, p, buf));
        CHECK(store_match(buf, PS, p, 1), "%s: page %llu holds %ld", what,
              (unsigned long long)p, store_which(buf, PS, p, 2));
    }
    free(buf);
    CHECK_OK(dm_store_check(s));
}

static uint64_t done(const dm_store_stats_t *st)
{
    uint64_t n = 0;

    for (unsigned k = 0; k < DM_MIGRATE_CLASS_COUNT; k++) {
        n += st->done[k];
    }
    return n;
}

/*
 * Requests the storm (pages [first, first + STORM) to tier `to`), runs it
 * to the end, and checks every window of the (from, to) pair.
 */
static void storm(dm_store_t *s, unsigned from, unsigned to, uint64_t rate, uint64_t burst)
{
    dm_store_stats_t st, a;
    unsigned n = 0, want = 0;
    double worst = 0;

    for (uint64_t p = 0; p < STORM; p++) { /* reads may have brought some up already */
        want += dm_store_page_tier(s, p) != (int)to;
    }
    dm_store_stats(s, &a);
    CHECK_OK(dm_store_prefetch(s, 0, STORM, to));
    dm_store_stats(s, &st);
    CHECK(st.queued == want, "%llu queued of %u", (unsigned long long)st.queued, want);
    for (;;) {
        dm_status_t r = step(s);

        dm_store_stats(s, &st);
        g_s[n].t = g_now;
        g_s[n].admitted = st.bytes_admitted[from][to] - a.bytes_admitted[from][to];
        g_s[n].moved = st.bytes_moved[from][to] - a.bytes_moved[from][to];
        n++;
        if (r == DM_OK) {
            break;
        }
        CHECK(n < MAXSTEPS, "the storm did not end");
        g_now += STEP;
    }
    CHECK(done(&st) - done(&a) == want,
          "%llu of %u migrations done (no space %llu, stale %llu, canceled %llu)",
          (unsigned long long)(done(&st) - done(&a)), want,
          (unsigned long long)st.no_space, (unsigned long long)st.stale,
          (unsigned long long)st.canceled);
    for (uint64_t p = 0; p < STORM; p++) {
        CHECK(dm_store_page_tier(s, p) == (int)to, "page %llu not in tier %u",
              (unsigned long long)p, to);
    }
    if (rate != 0) {
        /* cumulative sums: bytes in [t_i, t_j] = c[j] - c[i - 1] */
        for (unsigned i = 0; i < n; i++) {
            uint64_t a0 = i ? g_s[i - 1].admitted : 0, m0 = i ? g_s[i - 1].moved : 0;

            for (unsigned j = i; j < n; j++) {
                double w = (double)(g_s[j].t - g_s[i].t) / 1e9;
                double bound = (double)burst + (double)rate * w;
                double adm = (double)(g_s[j].admitted - a0), mov = (double)(g_s[j].moved - m0);

                CHECK(adm <= bound && mov <= bound,
                      "window [%.1f, %.1f] ms: admitted %.0f, moved %.0f bytes > burst + "
                      "rate * W = %.0f", (double)g_s[i].t / 1e6, (double)g_s[j].t / 1e6, adm,
                      mov, bound);
                if (w >= 0.050 && mov / (double)rate / w > worst) {
                    worst = mov / (double)rate / w;
                }
            }
        }
        /* and it did not stall: 200 pages take (200 pages - burst) / rate at least,
         * and not much more (the engine keeps up) */
        double need = ((double)want * PS - (double)burst) / (double)rate;
        double took = (double)(g_s[n - 1].t - g_s[0].t) / 1e9;

        CHECK(took >= need - 0.001, "took %.4f s of virtual time, the budget needs %.4f",
              took, need);
        CHECK(took <= need * 1.2 + 0.005, "took %.4f s of virtual time, budget allows %.4f",
              took, need);
        printf("storm %u->%u at %.0f MB/s: %u pages, %u steps, %.1f ms virtual (>= %.1f "
               "needed); every window within burst + rate*W; worst window >= 50 ms: %.3f of "
               "the rate\n", from, to, (double)rate / 1e6, want, n, took * 1e3, need * 1e3,
               worst);
    } else {
        printf("storm %u->%u without budget: %u migrations done in %u steps\n", from, to, STORM,
               n);
    }
}

static void run(double budget_mbs)
{
    dm_store_t *s = make(budget_mbs);
    char *buf = store_alloc(PS);
    uint64_t rate = (uint64_t)(budget_mbs * 1e6);
    uint64_t burst = rate ? (16 * PS > rate / 500 ? 16 * PS : rate / 500) : 0;
    dm_store_stats_t st;

    for (uint64_t p = 0; p < LIVE; p++) {
        store_fill(buf, PS, p, 1);
        CHECK_OK(dm_store_write(s, p, buf));
    }
    dm_store_stats(s, &st);
    CHECK(st.tier[0].pages == LIVE, "the live set is not all in dram: %llu",
          (unsigned long long)st.tier[0].pages);
    g_now += 1000000000ull; /* an idle second: the buckets are full */
    storm(s, 0, 1, rate, burst);
    if (rate != 0) {
        verify(s, "after the storm down");
    } else {
        CHECK_OK(dm_store_check(s)); /* reads would bring the pages up (cache mode) */
    }
    /* the reads of verify moved what the bucket admitted at once themselves
     * (a burst) and asked DEMAND promotions for the others: the storm up
     * merges into them (DEMAND outranks HINT) and runs under the same budget */
    g_now += 1000000000ull;
    storm(s, 1, 0, rate, burst);
    verify(s, "after the storm up");
    dm_store_stats(s, &st);
    CHECK(st.no_space == 0 && st.io_error == 0 && st.stale == 0, "failures");
    dm_store_destroy(s);
    free(buf);
}

int main(void)
{
    int fds0 = store_fd_count();

    g_dir = store_scratch_dir("storm");
    run(10);
    run(0);
    store_rm_rf(g_dir);
    free(g_dir);
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("storm: ok\n");
    return 0;
}
