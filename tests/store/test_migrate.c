/*
 * The pure migration scheduler (migrate.h) on hand-checked scenarios. Each
 * scenario says what must happen; the expected verdict of the whole test is
 * "every scenario as stated" (exit 0).
 *
 *   priorities   DEMAND, PRESSURE, HINT, SCAN queued in reverse order start
 *                in priority order; FIFO within a class
 *   bound        never more than max_in_flight started and not completed
 *   coalescing   a second request for a page merges (class rises, never
 *                falls; a request for a page in flight is MOVING)
 *   rejection    a full queue rejects HINT and SCAN requests, counted, never
 *                DEMAND nor PRESSURE
 *   budget       per-pair buckets: a pair's bytes started stay within
 *                burst + rate * W; a demand waiting for tokens is not
 *                overtaken on its pair by a background request; other pairs
 *                go on; next_time names when
 *   batches      background requests of a pair wait for their batch's
 *                tokens, then start together; a short queue waits only for
 *                itself; a demand does not wait for a batch; next_time
 *                names when the batch is admitted
 *   room         no room in a destination holds its requests only;
 *                room_bg holds HINT and SCAN only
 *   endings      no space, I/O error, stale, canceled are counted, the page
 *                is idle again and can be requested again
 *   params       bad parameters are refused
 */
#include <stdio.h>
#include <string.h>

#include "migrate.h"
#include "store_test.h"

#define PS 4096u

static dm_migrate_t *make(uint32_t max_in_flight, uint32_t queue_max, uint64_t rate,
                          uint64_t burst)
{
    dm_migrate_params_t p = {
        .npages = 100, .ntiers = 3, .max_in_flight = max_in_flight, .queue_max = queue_max,
        .page_size = PS, .rate = rate, .burst = burst, .now_ns = 0,
    };
    dm_migrate_t *m;

    CHECK_OK(dm_migrate_create(&p, &m));
    return m;
}

static dm_migrate_verdict_t req(dm_migrate_t *m, uint64_t page, unsigned from, unsigned to,
                                dm_migrate_class_t cls)
{
    dm_migrate_verdict_t v;

    CHECK_OK(dm_migrate_request(m, page, from, to, cls, &v));
    return v;
}

static void room_all(dm_migrate_room_t *r, uint64_t n)
{
    for (unsigned t = 0; t < DM_MIGRATE_MAX_TIERS; t++) {
        r->room[t] = r->room_bg[t] = n;
    }
}

static void priorities_and_bound(void)
{
    dm_migrate_t *m = make(2, 100, 0, 0);
    dm_migrate_action_t a[8];
    dm_migrate_room_t room;
    unsigned n;

    CHECK(req(m, 10, 1, 0, DM_MIGRATE_SCAN) == DM_MIGRATE_QUEUED, "scan");
    CHECK(req(m, 11, 1, 0, DM_MIGRATE_HINT) == DM_MIGRATE_QUEUED, "hint");
    CHECK(req(m, 12, 0, 1, DM_MIGRATE_PRESSURE) == DM_MIGRATE_QUEUED, "pressure");
    CHECK(req(m, 13, 1, 0, DM_MIGRATE_DEMAND) == DM_MIGRATE_QUEUED, "demand");
    CHECK(req(m, 14, 2, 0, DM_MIGRATE_DEMAND) == DM_MIGRATE_QUEUED, "demand 2");
    room_all(&room, 100);
    n = dm_migrate_next(m, 0, &room, a, 8);
    CHECK(n == 2, "bound 2 in flight: started %u", n);
    CHECK(a[0].page == 13 && a[0].cls == DM_MIGRATE_DEMAND && a[1].page == 14,
          "demand first, FIFO: %llu %llu", (unsigned long long)a[0].page,
          (unsigned long long)a[1].page);
    CHECK(room.room[0] == 98, "room not counted: %llu", (unsigned long long)room.room[0]);
    CHECK(dm_migrate_next(m, 0, &room, a, 8) == 0, "a third in flight");
    CHECK(dm_migrate_in_flight(m) == 2, "in flight %u", dm_migrate_in_flight(m));
    CHECK_OK(dm_migrate_complete(m, 13, DM_MIGRATE_OK));
    n = dm_migrate_next(m, 0, &room, a, 8);
    CHECK(n == 1 && a[0].page == 12 && a[0].cls == DM_MIGRATE_PRESSURE, "then pressure");
    CHECK_OK(dm_migrate_complete(m, 14, DM_MIGRATE_OK));
    CHECK_OK(dm_migrate_complete(m, 12, DM_MIGRATE_OK));
    n = dm_migrate_next(m, 0, &room, a, 8);
    CHECK(n == 2 && a[0].page == 11 && a[1].page == 10, "then hint, then scan");
    CHECK_ST(dm_migrate_complete(m, 13, DM_MIGRATE_OK), DM_ERR_INVALID_PARAM); /* not in flight */
    CHECK_OK(dm_migrate_complete(m, 11, DM_MIGRATE_OK));
    CHECK_OK(dm_migrate_complete(m, 10, DM_MIGRATE_OK));
    CHECK(dm_migrate_queued(m) == 0 && dm_migrate_in_flight(m) == 0, "empty at the end");
    /* max actions bounds a call too */
    for (uint64_t p = 0; p < 5; p++) {
        req(m, p, 1, 0, DM_MIGRATE_HINT);
    }
    CHECK(dm_migrate_next(m, 0, &room, a, 1) == 1, "max 1");
    dm_migrate_destroy(m);
    printf("priorities and bound: ok\n");
}

static void coalescing(void)
{
    dm_migrate_t *m = make(4, 100, 0, 0);
    dm_migrate_action_t a[8];
    dm_migrate_room_t room;
    dm_migrate_counters_t c;
    dm_migrate_class_t cls;
    unsigned from, to;

    CHECK(req(m, 5, 2, 1, DM_MIGRATE_HINT) == DM_MIGRATE_QUEUED, "first");
    CHECK(req(m, 5, 2, 0, DM_MIGRATE_SCAN) == DM_MIGRATE_MERGED, "lower class merges");
    CHECK(dm_migrate_state(m, 5, &from, &to, &cls) == DM_MIGRATE_WAITING && to == 1 &&
          cls == DM_MIGRATE_HINT, "a lower class must not replace: to %u class %d", to, cls);
    CHECK(req(m, 5, 2, 0, DM_MIGRATE_DEMAND) == DM_MIGRATE_MERGED, "demand merges");
    CHECK(dm_migrate_state(m, 5, &from, &to, &cls) == DM_MIGRATE_WAITING && to == 0 &&
          cls == DM_MIGRATE_DEMAND, "class rises to demand with its target");
    CHECK(dm_migrate_queued(m) == 1, "one request per page: %llu",
          (unsigned long long)dm_migrate_queued(m));
    /* the raised request now goes before an earlier background one */
    req(m, 6, 2, 0, DM_MIGRATE_PRESSURE);
    room_all(&room, 10);
    CHECK(dm_migrate_next(m, 0, &room, a, 1) == 1 && a[0].page == 5 &&
          a[0].cls == DM_MIGRATE_DEMAND && a[0].to == 0, "merged demand first");
    CHECK(req(m, 5, 0, 1, DM_MIGRATE_PRESSURE) == DM_MIGRATE_MOVING, "in flight: moving");
    CHECK(dm_migrate_queued(m) == 1, "a request for a moving page was queued");
    dm_migrate_counters(m, &c);
    CHECK(c.merged == 3 && c.requested[DM_MIGRATE_DEMAND] == 1 &&
          c.requested[DM_MIGRATE_PRESSURE] == 2, "counters: merged %llu",
          (unsigned long long)c.merged);
    dm_migrate_destroy(m);
    printf("coalescing: ok\n");
}

static void rejection(void)
{
    dm_migrate_t *m = make(4, 3, 0, 0);
    dm_migrate_counters_t c;

    CHECK(req(m, 1, 1, 0, DM_MIGRATE_HINT) == DM_MIGRATE_QUEUED, "1");
    CHECK(req(m, 2, 1, 0, DM_MIGRATE_SCAN) == DM_MIGRATE_QUEUED, "2");
    CHECK(req(m, 3, 0, 1, DM_MIGRATE_PRESSURE) == DM_MIGRATE_QUEUED, "3");
    CHECK(req(m, 8, 1, 0, DM_MIGRATE_HINT) == DM_MIGRATE_QUEUED, "pressure is not counted");
    CHECK(req(m, 4, 1, 0, DM_MIGRATE_HINT) == DM_MIGRATE_REJECTED, "4th optional");
    CHECK(req(m, 5, 0, 1, DM_MIGRATE_PRESSURE) == DM_MIGRATE_QUEUED,
          "pressure never rejected (a victim must go down)");
    CHECK(req(m, 7, 1, 0, DM_MIGRATE_SCAN) == DM_MIGRATE_REJECTED, "scan rejected");
    for (uint64_t p = 10; p < 90; p++) {
        CHECK(req(m, p, 1, 0, DM_MIGRATE_DEMAND) == DM_MIGRATE_QUEUED, "demand never rejected");
    }
    CHECK(req(m, 1, 1, 0, DM_MIGRATE_DEMAND) == DM_MIGRATE_MERGED, "upgrade in a full queue");
    CHECK(req(m, 6, 1, 0, DM_MIGRATE_HINT) == DM_MIGRATE_QUEUED, "the upgrade freed a place");
    dm_migrate_counters(m, &c);
    CHECK(c.rejected[DM_MIGRATE_HINT] == 1 && c.rejected[DM_MIGRATE_SCAN] == 1 &&
          c.rejected[DM_MIGRATE_PRESSURE] == 0 && c.rejected[DM_MIGRATE_DEMAND] == 0,
          "rejections counted");
    CHECK(c.queued[DM_MIGRATE_DEMAND] == 81, "demand queued %llu",
          (unsigned long long)c.queued[DM_MIGRATE_DEMAND]);
    CHECK(dm_migrate_cancel(m, 6) == 1 && dm_migrate_cancel(m, 6) == 0, "cancel once");
    CHECK(dm_migrate_state(m, 6, NULL, NULL, NULL) == DM_MIGRATE_IDLE, "canceled is idle");
    dm_migrate_destroy(m);
    printf("rejection: ok\n");
}

static void budget(void)
{
    /* 10 pages/s per pair, burst 2 pages */
    dm_migrate_t *m = make(16, 100, 10 * PS, 2 * PS);
    dm_migrate_action_t a[16];
    dm_migrate_room_t room;
    dm_migrate_counters_t c;
    unsigned n;

    for (uint64_t p = 0; p < 5; p++) {
        req(m, p, 1, 0, DM_MIGRATE_DEMAND);
        req(m, 20 + p, 0, 1, DM_MIGRATE_PRESSURE);
    }
    req(m, 40, 1, 0, DM_MIGRATE_HINT); /* behind the demands, same pair */
    req(m, 41, 2, 0, DM_MIGRATE_HINT); /* another pair */
    room_all(&room, 100);
    n = dm_migrate_next(m, 0, &room, a, 16);
    /* pair 1->0: 2 demands; pair 0->1: 2 pressures; pair 2->0: the hint */
    CHECK(n == 5, "at t=0 with full buckets: %u started", n);
    CHECK(a[0].page == 0 && a[1].page == 1 && a[2].page == 20 && a[3].page == 21 &&
          a[4].page == 41, "order %llu %llu %llu %llu %llu", (unsigned long long)a[0].page,
          (unsigned long long)a[1].page, (unsigned long long)a[2].page,
          (unsigned long long)a[3].page, (unsigned long long)a[4].page);
    CHECK(dm_migrate_next(m, 0, &room, a, 16) == 0, "empty buckets");
    CHECK(dm_migrate_next_time(m, 0) == 100000000ull, "next time %llu, want 100 ms",
          (unsigned long long)dm_migrate_next_time(m, 0));
    CHECK(dm_migrate_next(m, 99999999ull, &room, a, 16) == 0, "1 ns early");
    n = dm_migrate_next(m, 100000000ull, &room, a, 16);
    CHECK(n == 2 && a[0].page == 2 && a[1].page == 22, "one per pair at 100 ms, demand first");
    /* 1 s later: 2 more per pair (burst), the hint still behind the demands */
    n = dm_migrate_next(m, 1100000000ull, &room, a, 16);
    CHECK(n == 4 && a[0].page == 3 && a[1].page == 4 && a[2].page == 23 && a[3].page == 24,
          "after idling, the burst: %u", n);
    n = dm_migrate_next(m, 1200000000ull, &room, a, 16);
    CHECK(n == 1 && a[0].page == 40, "the hint after the demands of its pair: %u", n);
    dm_migrate_counters(m, &c);
    CHECK(c.bytes_started[1][0] == 6 * PS && c.bytes_started[0][1] == 5 * PS &&
          c.bytes_started[2][0] == PS, "bytes per pair");
    /* bound: over [0, 1.2 s] pair 1->0 started 6 pages <= 2 + 10 * 1.2 */
    dm_migrate_destroy(m);
    printf("budget: ok\n");
}

static void batches(void)
{
    /* 10 pages/s per pair, burst 8 pages, batches of 4 */
    dm_migrate_params_t p = {
        .npages = 100, .ntiers = 2, .max_in_flight = 64, .queue_max = 100, .page_size = PS,
        .rate = 10 * PS, .burst = 8 * PS, .batch = 4, .now_ns = 0,
    };
    const uint64_t ms = 1000000ull;
    dm_migrate_t *m;
    dm_migrate_action_t a[16];
    dm_migrate_room_t room;
    unsigned n;

    CHECK_OK(dm_migrate_create(&p, &m));
    room_all(&room, 100);
    for (uint64_t pg = 0; pg < 10; pg++) {
        req(m, pg, 1, 0, DM_MIGRATE_HINT);
    }
    n = dm_migrate_next(m, 0, &room, a, 16);
    CHECK(n == 8, "a full bucket starts its burst: %u", n);
    /* 2 queued: the batch is 2 pages; 1 token at 100 ms is not enough */
    CHECK(dm_migrate_next(m, 100 * ms, &room, a, 16) == 0, "started before its batch's tokens");
    CHECK(dm_migrate_next_time(m, 100 * ms) == 200 * ms, "next time %llu ms, want 200",
          (unsigned long long)(dm_migrate_next_time(m, 100 * ms) / ms));
    n = dm_migrate_next(m, 200 * ms, &room, a, 16);
    CHECK(n == 2 && a[0].page == 8 && a[1].page == 9, "the batch of 2 at 200 ms: %u", n);
    /* 6 queued, empty bucket: a batch of 4 waits 400 ms; a demand does not */
    for (uint64_t pg = 20; pg < 26; pg++) {
        req(m, pg, 1, 0, DM_MIGRATE_HINT);
    }
    req(m, 30, 1, 0, DM_MIGRATE_DEMAND);
    n = dm_migrate_next(m, 300 * ms, &room, a, 16);
    CHECK(n == 1 && a[0].page == 30, "the demand alone at 300 ms: %u", n);
    CHECK(dm_migrate_next_time(m, 300 * ms) == 700 * ms, "next time %llu ms, want 700",
          (unsigned long long)(dm_migrate_next_time(m, 300 * ms) / ms));
    CHECK(dm_migrate_next(m, 699 * ms, &room, a, 16) == 0, "a batch started 1 ms early");
    n = dm_migrate_next(m, 700 * ms, &room, a, 16);
    CHECK(n == 4 && a[0].page == 20 && a[3].page == 23, "the batch of 4 at 700 ms: %u", n);
    /* a lone request (the 2 left: 2 tokens at 900 ms) is not held for more */
    n = dm_migrate_next(m, 900 * ms, &room, a, 16);
    CHECK(n == 2, "the last 2 at 900 ms: %u", n);
    req(m, 40, 1, 0, DM_MIGRATE_SCAN);
    n = dm_migrate_next(m, 1000 * ms, &room, a, 16);
    CHECK(n == 1 && a[0].page == 40, "a lone request waits only for its own page: %u", n);
    dm_migrate_destroy(m);
    /* a batch the bucket can never hold is refused */
    p.batch = 9;
    CHECK_ST(dm_migrate_create(&p, &m), DM_ERR_INVALID_PARAM);
    printf("batches: ok\n");
}

static void room(void)
{
    dm_migrate_t *m = make(16, 100, 0, 0);
    dm_migrate_action_t a[16];
    dm_migrate_room_t r;
    unsigned n;

    req(m, 1, 1, 0, DM_MIGRATE_DEMAND);
    req(m, 2, 1, 0, DM_MIGRATE_HINT);
    req(m, 3, 0, 1, DM_MIGRATE_PRESSURE);
    req(m, 4, 2, 0, DM_MIGRATE_SCAN);
    memset(&r, 0, sizeof(r));
    r.room[1] = 5;
    r.room_bg[1] = 5;
    n = dm_migrate_next(m, 0, &r, a, 16);
    CHECK(n == 1 && a[0].page == 3, "only the demotion has room: %u", n);
    r.room[0] = 2;
    r.room_bg[0] = 0; /* tier 0 above its high watermark */
    n = dm_migrate_next(m, 0, &r, a, 16);
    CHECK(n == 1 && a[0].page == 1, "demand into a tier above high: %u", n);
    CHECK(r.room[0] == 1, "room counted");
    r.room_bg[0] = 1;
    n = dm_migrate_next(m, 0, &r, a, 16);
    CHECK(n == 1 && a[0].page == 2 && r.room[0] == 0 && r.room_bg[0] == 0,
          "one hint, then no room: %u", n);
    CHECK(dm_migrate_next(m, 0, &r, a, 16) == 0, "the scan has no room");
    dm_migrate_destroy(m);
    printf("room: ok\n");
}

static void endings(void)
{
    dm_migrate_t *m = make(16, 100, 0, 0);
    dm_migrate_action_t a[16];
    dm_migrate_room_t r;
    dm_migrate_counters_t c;
    const dm_migrate_result_t res[] = {DM_MIGRATE_OK, DM_MIGRATE_NO_SPACE, DM_MIGRATE_IO_ERROR,
                                       DM_MIGRATE_STALE, DM_MIGRATE_CANCELED};

    for (uint64_t p = 0; p < 5; p++) {
        req(m, p, 0, 1, DM_MIGRATE_PRESSURE);
    }
    room_all(&r, 100);
    CHECK(dm_migrate_next(m, 0, &r, a, 16) == 5, "5 started");
    for (unsigned i = 0; i < 5; i++) {
        CHECK_OK(dm_migrate_complete(m, i, res[i]));
        CHECK(dm_migrate_state(m, i, NULL, NULL, NULL) == DM_MIGRATE_IDLE, "idle after %s",
              dm_migrate_result_name(res[i]));
    }
    dm_migrate_counters(m, &c);
    for (unsigned i = 0; i < DM_MIGRATE_RESULT_COUNT; i++) {
        CHECK(c.ended[i] == 1, "%s counted %llu", dm_migrate_result_name((dm_migrate_result_t)i),
              (unsigned long long)c.ended[i]);
    }
    CHECK(c.done[DM_MIGRATE_PRESSURE] == 1, "done");
    /* the page that found no space can be asked again */
    CHECK(req(m, 1, 0, 1, DM_MIGRATE_PRESSURE) == DM_MIGRATE_QUEUED, "again after no space");
    dm_migrate_destroy(m);
    printf("endings: ok\n");
}

static void params(void)
{
    dm_migrate_params_t ok = {.npages = 10, .ntiers = 2, .max_in_flight = 4, .queue_max = 8,
                              .page_size = PS, .rate = 1000000, .burst = PS};
    dm_migrate_params_t p;
    dm_migrate_t *m = NULL;
    dm_migrate_verdict_t v;

    p = ok; p.npages = 0;
    CHECK_ST(dm_migrate_create(&p, &m), DM_ERR_INVALID_PARAM);
    p = ok; p.ntiers = 9;
    CHECK_ST(dm_migrate_create(&p, &m), DM_ERR_INVALID_PARAM);
    p = ok; p.max_in_flight = 0;
    CHECK_ST(dm_migrate_create(&p, &m), DM_ERR_INVALID_PARAM);
    p = ok; p.burst = PS - 1;
    CHECK_ST(dm_migrate_create(&p, &m), DM_ERR_INVALID_PARAM);
    CHECK(m == NULL, "m set on failure");
    CHECK_OK(dm_migrate_create(&ok, &m));
    CHECK_ST(dm_migrate_request(m, 10, 0, 1, DM_MIGRATE_HINT, &v), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_migrate_request(m, 1, 1, 1, DM_MIGRATE_HINT, &v), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_migrate_request(m, 1, 0, 2, DM_MIGRATE_HINT, &v), DM_ERR_INVALID_PARAM);
    CHECK_ST(dm_migrate_request(m, 1, 0, 1, DM_MIGRATE_CLASS_COUNT, &v), DM_ERR_INVALID_PARAM);
    CHECK(dm_migrate_queued(m) == 0, "a bad request changed the queue");
    dm_migrate_destroy(m);
    dm_migrate_destroy(NULL);
    printf("params: ok\n");
}

int main(void)
{
    priorities_and_bound();
    coalescing();
    rejection();
    budget();
    batches();
    room();
    endings();
    params();
    printf("migrate: ok\n");
    return 0;
}
