/*
 * The token bucket (budget.h) with a virtual clock.
 *
 *   hand-checked: the worked example of budget.h (refusal and the time it
 *     names, admission then, burst after idling), unlimited rate, takes
 *     larger than the burst never admitted, time going backwards;
 *   the invariant, on random traces (random sizes, random gaps, random
 *     rates and bursts): over every window [t_i, t_j] of the trace, the bytes
 *     admitted are <= burst + rate * (t_j - t_i) / 1e9; and the bucket is not
 *     stingy: a refused take names a time at which it is admitted.
 * Expected verdict: every check holds (exit 0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "budget.h"
#include "store_test.h"

#define MS 1000000ull

static void worked_example(void)
{
    dm_budget_t b;
    uint64_t when = 0;

    dm_budget_init(&b, 1000000, 65536, 0);
    /* start full: 16 pages of 4 KiB at once, the 17th waits 4.096 ms */
    for (int i = 0; i < 16; i++) {
        CHECK(dm_budget_take(&b, 4096, 0, &when), "take %d of a full bucket", i);
    }
    CHECK(!dm_budget_take(&b, 4096, 0, &when), "17th take admitted");
    CHECK(when == 4096000, "admitted at %llu ns, want 4096000", (unsigned long long)when);
    CHECK(!dm_budget_take(&b, 4096, 4095999, &when), "admitted 1 ns early");
    CHECK(when == 4096000, "when %llu", (unsigned long long)when);
    CHECK(dm_budget_take(&b, 4096, 4096000, &when), "not admitted when promised");
    /* an idle second refills to the burst, not to 1 MB */
    CHECK(dm_budget_credit(&b, 1004096000) == 65536, "credit %llu after idling",
          (unsigned long long)dm_budget_credit(&b, 1004096000));
    /* more than the burst: never */
    CHECK(!dm_budget_take(&b, 65537, 2000000000, &when) && when == UINT64_MAX,
          "a take above the burst");
    /* time going back gives nothing */
    CHECK(dm_budget_take(&b, 65536, 3000000000ull, NULL), "full take");
    CHECK(!dm_budget_take(&b, 1, 1000000000ull, NULL), "credit from a clock going back");
    CHECK(dm_budget_credit(&b, 1000000000ull) == 0, "credit");
    /* unlimited */
    dm_budget_init(&b, 0, 0, 0);
    for (int i = 0; i < 1000; i++) {
        CHECK(dm_budget_take(&b, 1ull << 40, 0, NULL), "unlimited refused");
    }
    /* fractional refill adds up exactly: 3 bytes/s, 1 byte per 333333334 ns */
    dm_budget_init(&b, 3, 3, 0);
    CHECK(dm_budget_take(&b, 3, 0, NULL), "3 of 3");
    for (int i = 1; i <= 3000; i++) {
        (void)dm_budget_credit(&b, (uint64_t)i * 1000); /* many tiny refills */
    }
    CHECK(dm_budget_credit(&b, 1000000000ull) == 3, "tiny refills lost or gained credit: %llu",
          (unsigned long long)dm_budget_credit(&b, 1000000000ull));
    printf("worked example: ok\n");
}

typedef struct ev {
    uint64_t t, bytes;
} ev_t;

static void random_traces(void)
{
    enum { N = 3000 };
    static ev_t adm[N];
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    uint64_t total = 0;

    for (int trace = 0; trace < 40; trace++) {
        uint64_t rate = 1000 + store_rand(&seed) % 200000000ull;    /* 1 KB/s .. 200 MB/s */
        uint64_t burst = 4096 + store_rand(&seed) % (4ull << 20);   /* 4 KiB .. 4 MiB */
        uint64_t now = store_rand(&seed) % (1000 * MS);
        uint64_t maxgap = 1 + store_rand(&seed) % (20 * MS);
        unsigned n = 0;
        uint64_t seen = now; /* the latest time the bucket was shown */
        dm_budget_t b;

        dm_budget_init(&b, rate, burst, now);
        for (int i = 0; i < N; i++) {
            uint64_t bytes = 1 + store_rand(&seed) % (burst + burst / 8); /* some > burst */
            uint64_t when;

            now += store_rand(&seed) % maxgap;
            if (store_rand(&seed) % 50 == 0 && now > 10 * MS) {
                now -= store_rand(&seed) % (10 * MS); /* a clock going back */
            }
            if (now > seen) {
                seen = now;
            }
            if (dm_budget_take(&b, bytes, now, &when)) {
                adm[n++] = (ev_t){seen, bytes};
            } else if (bytes <= burst) {
                dm_budget_t probe = b;

                CHECK(when > now || when >= b.last_ns, "refused, promised the past");
                CHECK(dm_budget_take(&probe, bytes, when, NULL),
                      "trace %d: refused at %llu, not admitted at the promised %llu", trace,
                      (unsigned long long)now, (unsigned long long)when);
                if (when > 0) {
                    probe = b;
                    CHECK(!dm_budget_take(&probe, bytes, when - 1, NULL),
                          "trace %d: admitted before the promised time", trace);
                }
            } else {
                CHECK(when == UINT64_MAX, "above the burst: when %llu",
                      (unsigned long long)when);
            }
        }
        /* every window [adm[i].t, adm[j].t] (times as the bucket saw them:
         * a clock going back counts as the latest time seen, so t is sorted) */
        for (unsigned i = 0; i < n; i++) {
            uint64_t sum = 0;

            for (unsigned j = i; j < n; j++) {
                uint64_t hi = adm[j].t, w = hi - adm[i].t;

                sum += adm[j].bytes;
                double bound = (double)burst + (double)rate * (double)w / 1e9;

                CHECK((double)sum <= bound + 1e-6,
                      "trace %d: window [%llu, %llu]: %llu bytes admitted > burst %llu + "
                      "rate %llu * %.6f s = %.1f", trace, (unsigned long long)adm[i].t,
                      (unsigned long long)hi, (unsigned long long)sum,
                      (unsigned long long)burst, (unsigned long long)rate, (double)w / 1e9,
                      bound);
            }
        }
        total += n;
    }
    printf("random traces: 40 traces, %llu admitted takes, every window within "
           "burst + rate * W\n", (unsigned long long)total);
}

int main(void)
{
    worked_example();
    random_traces();
    printf("budget: ok\n");
    return 0;
}
