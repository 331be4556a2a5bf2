/*
 * A token bucket, pure: no clock reads, no allocation, no I/O. Time is the
 * caller's (nanoseconds of any monotonic clock, passed in).
 *
 * The bucket holds up to `burst` bytes of credit and gains `rate` bytes per
 * second, continuously (kept exactly: whole bytes plus a remainder in
 * byte-nanoseconds, no rounding drift). take(bytes, now) admits the bytes
 * when the credit covers them, and then spends it; else it admits nothing
 * and says when it would.
 *
 * THE INVARIANT (tests/store/test_budget.c checks it on random traces):
 * over any window [t, t + W] (W in seconds), the bytes admitted by takes
 * with now in that window are at most burst + rate * W.
 * Why: at t the credit is at most burst; during the window it gains at most
 * rate * W; every admitted byte was paid from credit.
 *
 * Worked example: rate 1 MB/s, burst 64 KiB, empty at t = 0. take(4096, 0)
 * is refused, "admitted at 4.096 ms"; take(4096, 4096000 ns) is admitted;
 * after an idle second the credit is 64 KiB, not 1 MB: sixteen 4 KiB takes
 * at once are admitted, the seventeenth waits 4.096 ms.
 *
 * rate 0 means unlimited: every take is admitted.
 * Time going backwards (now earlier than a previous now) counts as no time.
 * Concurrency: none inside; the caller serializes.
 */
#ifndef DM_STORE_BUDGET_H
#define DM_STORE_BUDGET_H

#include <stdint.h>

/* Largest burst accepted: keeps rate * elapsed within 64 bits (see budget.c). */
#define DM_BUDGET_BURST_MAX (1ull << 33)
/* Largest rate accepted, bytes/s (1 TB/s). */
#define DM_BUDGET_RATE_MAX  1000000000000ull

typedef struct dm_budget {
    uint64_t rate;    /* bytes per second; 0 = unlimited */
    uint64_t burst;   /* bytes */
    uint64_t tokens;  /* whole bytes of credit, <= burst */
    uint64_t frac;    /* plus frac / 1e9 bytes; frac < 1e9; 0 when tokens == burst */
    uint64_t last_ns; /* time of the last refill */
} dm_budget_t;

/*
 * Initializes a bucket, full (credit = burst) at time now_ns.
 * pre: rate <= DM_BUDGET_RATE_MAX; burst <= DM_BUDGET_BURST_MAX; burst > 0
 *      unless rate == 0 (the caller checks, with its own messages).
 */
void dm_budget_init(dm_budget_t *b, uint64_t rate, uint64_t burst, uint64_t now_ns);

/*
 * Admits bytes at now_ns if the credit covers them: returns 1 and spends.
 * Else returns 0, spends nothing, and sets *when_p (when not NULL) to the
 * earliest time at which this take would be admitted if nothing else were
 * taken (UINT64_MAX when never: bytes > burst).
 */
int dm_budget_take(dm_budget_t *b, uint64_t bytes, uint64_t now_ns, uint64_t *when_p);

/* Credit at now_ns in whole bytes (refills first). */
uint64_t dm_budget_credit(dm_budget_t *b, uint64_t now_ns);

#endif
