/*
 * The token bucket of budget.h. Credit is kept exactly, as whole bytes plus
 * a remainder in byte-nanoseconds (frac < 1e9), so that refilling at any
 * sequence of times gives the same credit as one refill over the whole span:
 * no rounding is lost or gained, and the invariant of budget.h holds to the
 * byte.
 *
 * Overflow: a refill adds rate * elapsed byte-ns only while that is below
 * what fills the bucket, (burst - tokens) * 1e9 - frac <= burst * 1e9 <=
 * 2^33 * 1e9 < 2^63; beyond it the bucket is simply full.
 */
#include "budget.h"

#include <assert.h>
#include <stddef.h>

#define NS 1000000000ull

void dm_budget_init(dm_budget_t *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
    assert(rate <= DM_BUDGET_RATE_MAX && burst <= DM_BUDGET_BURST_MAX);
    b->rate = rate;
    b->burst = burst;
    b->tokens = burst;
    b->frac = 0;
    b->last_ns = now_ns;
}

static void dm_budget_refill(dm_budget_t *b, uint64_t now_ns)
{
    uint64_t elapsed, need, add;

    if (now_ns <= b->last_ns) {
        return; /* no time passed, or the clock went back: no credit */
    }
    elapsed = now_ns - b->last_ns;
    b->last_ns = now_ns;
    if (b->tokens >= b->burst) {
        return;
    }
    need = (b->burst - b->tokens) * NS - b->frac; /* byte-ns until full, > 0 */
    if (elapsed >= (need + b->rate - 1) / b->rate) {
        b->tokens = b->burst;
        b->frac = 0;
        return;
    }
    add = b->rate * elapsed; /* < need + rate: no overflow */
    b->frac += add;
    b->tokens += b->frac / NS;
    b->frac %= NS;
    assert(b->tokens < b->burst || (b->tokens == b->burst && b->frac == 0));
}

int dm_budget_take(dm_budget_t *b, uint64_t bytes, uint64_t now_ns, uint64_t *when_p)
{
    uint64_t deficit;

    if (b->rate == 0) {
        return 1;
    }
    dm_budget_refill(b, now_ns);
    if (bytes <= b->tokens) {
        b->tokens -= bytes;
        return 1;
    }
    if (when_p != NULL) {
        if (bytes > b->burst) {
            *when_p = UINT64_MAX;
        } else {
            deficit = (bytes - b->tokens) * NS - b->frac;
            *when_p = b->last_ns + (deficit + b->rate - 1) / b->rate;
        }
    }
    return 0;
}

uint64_t dm_budget_credit(dm_budget_t *b, uint64_t now_ns)
{
    if (b->rate == 0) {
        return UINT64_MAX;
    }
    dm_budget_refill(b, now_ns);
    return b->tokens;
}
