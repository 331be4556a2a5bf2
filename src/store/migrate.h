/*
 * The migration scheduler, pure: requests and completions in, actions out.
 * No I/O, no clock reads (time is passed in), no allocation after create.
 * The tiered store (store.c) carries the actions out; tests/store/
 * test_migrate.c drives it by hand; a simulator can drive the same code.
 *
 * A request asks that one page move from tier `from` to tier `to` (tier
 * indices of the store, 0 = fastest), for a reason, its class:
 *
 *   DEMAND > PRESSURE > HINT > SCAN      (priority, highest first)
 *
 * At most one request per page exists: queued or in flight. A second
 * request for the same page is MERGED: into a queued one (the higher class
 * wins; at equal class the newer target wins; a class that rises moves the
 * request to the tail of its new class), or into one in flight (MOVING: the
 * new request is dropped, the page is already moving).
 *
 * Admission (dm_migrate_next): a queued request starts when
 *   1. fewer than max_in_flight migrations run,
 *   2. its destination has room (the caller's count of free slots; HINT and
 *      SCAN look at a second count, room_bg, that the caller keeps lower:
 *      the high watermark), and
 *   3. the token bucket of its (from, to) pair admits page_size bytes.
 * Classes are visited in priority order, FIFO within a class. A request
 * refused by its pair's bucket blocks every later request of that pair in
 * this call: a DEMAND request waiting for tokens is never overtaken on its
 * pair by a background one. Requests of other pairs still start (they use
 * other buckets; a demand promotion may even need a demotion to make room).
 * Starting spends the tokens; so the bytes started per pair over any window
 * W are at most burst + rate * W (budget.h).
 *
 * Batches (params.batch > 1): background requests (HINT, SCAN) of a pair
 * start together. The first of a pair in a call waits until the bucket
 * admits min(batch, the pair's queued background requests) pages at once;
 * those behind it then find their tokens. So a budget that trickles tokens
 * in one page at a time still starts background work in runs: one wake of
 * the engine and one device submission per batch, not per page. Only time
 * is added (at most batch pages' worth of rate to the first): the bound
 * above holds, a lone request is not delayed, DEMAND and PRESSURE never
 * wait for a batch.
 *
 * Queue bound: at most queue_max optional (HINT, SCAN) requests queued;
 * one more is REJECTED (counted). DEMAND and PRESSURE requests are never
 * rejected: a reader waits for the one, a tier above its target for the
 * other (a rejected victim would stay in its tier for good), and each page
 * has its own record, allocated at create, so the queues can hold every
 * page.
 *
 * Completion (dm_migrate_complete): ok, no space in the destination, I/O
 * error, stale (the page was written while it moved: the copy was dropped),
 * canceled (the page moved otherwise). Only counted here: in every case but
 * ok the page stays at its source, which the store guarantees.
 *
 * Invariants (asserted): in_flight <= max_in_flight; queued HINT + SCAN <=
 * queue_max; a page is in at most one class list and never both queued and
 * in flight; the lists hold exactly the queued pages.
 *
 * Cost: request, start, complete and cancel are O(1); next is O(queued
 * requests visited), which stops when max_in_flight is reached or max
 * actions given, and skips a class whose destinations all lack room.
 * Concurrency: none inside; the caller serializes (the store's index lock).
 */
#ifndef DM_STORE_MIGRATE_H
#define DM_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "distmem_status.h"

#define DM_MIGRATE_MAX_TIERS  8u
#define DM_MIGRATE_MAX_PAGES  0xfffffffeull /* page ids fit 32 bits in the records */
#define DM_MIGRATE_MAX_FLIGHT 1024u

typedef enum dm_migrate_class {
    DM_MIGRATE_DEMAND = 0,
    DM_MIGRATE_PRESSURE,
    DM_MIGRATE_HINT,
    DM_MIGRATE_SCAN,
    DM_MIGRATE_CLASS_COUNT
} dm_migrate_class_t;

/* What became of a request. */
typedef enum dm_migrate_verdict {
    DM_MIGRATE_QUEUED = 0, /* a new request, queued */
    DM_MIGRATE_MERGED,     /* folded into the page's queued request */
    DM_MIGRATE_MOVING,     /* the page is already in flight: dropped */
    DM_MIGRATE_REJECTED,   /* HINT or SCAN request, queue full: dropped */
} dm_migrate_verdict_t;

/* How a migration in flight ended. */
typedef enum dm_migrate_result {
    DM_MIGRATE_OK = 0,
    DM_MIGRATE_NO_SPACE,
    DM_MIGRATE_IO_ERROR,
    DM_MIGRATE_STALE,
    DM_MIGRATE_CANCELED,
    DM_MIGRATE_RESULT_COUNT
} dm_migrate_result_t;

/* Where a page stands with the scheduler. */
typedef enum dm_migrate_state {
    DM_MIGRATE_IDLE = 0,
    DM_MIGRATE_WAITING,   /* queued */
    DM_MIGRATE_RUNNING,   /* in flight */
} dm_migrate_state_t;

typedef struct dm_migrate_params {
    uint64_t npages;        /* 1 .. DM_MIGRATE_MAX_PAGES */
    unsigned ntiers;        /* 1 .. DM_MIGRATE_MAX_TIERS */
    uint32_t max_in_flight; /* 1 .. DM_MIGRATE_MAX_FLIGHT */
    uint32_t queue_max;     /* HINT and SCAN requests queued at most, >= 1 */
    uint64_t page_size;     /* bytes per migration, >= 1 */
    uint64_t rate;          /* bytes/s per pair, 0 = unlimited, <= DM_BUDGET_RATE_MAX */
    uint64_t burst;         /* bytes, page_size .. DM_BUDGET_BURST_MAX (rate > 0) */
    uint32_t batch;         /* background pages a pair starts together (0, 1: one);
                             * batch * page_size <= burst when rate > 0 */
    uint64_t now_ns;        /* the buckets start full at this time */
} dm_migrate_params_t;

typedef struct dm_migrate_action {
    uint64_t           page;
    uint8_t            from, to;
    dm_migrate_class_t cls;
} dm_migrate_action_t;

/* Room in each destination tier, in slots (caller's counts, decremented by
 * next() for each start; room_bg[t] <= room[t] expected). */
typedef struct dm_migrate_room {
    uint64_t room[DM_MIGRATE_MAX_TIERS];    /* DEMAND, PRESSURE */
    uint64_t room_bg[DM_MIGRATE_MAX_TIERS]; /* HINT, SCAN */
} dm_migrate_room_t;

typedef struct dm_migrate_counters {
    uint64_t requested[DM_MIGRATE_CLASS_COUNT]; /* every request, any verdict */
    uint64_t merged;                            /* MERGED and MOVING */
    uint64_t rejected[DM_MIGRATE_CLASS_COUNT];
    uint64_t canceled_queued;                   /* dm_migrate_cancel of a queued one */
    uint64_t started[DM_MIGRATE_CLASS_COUNT];
    uint64_t ended[DM_MIGRATE_RESULT_COUNT];
    uint64_t done[DM_MIGRATE_CLASS_COUNT];      /* ended OK, by class */
    uint64_t queued[DM_MIGRATE_CLASS_COUNT];    /* now */
    uint64_t in_flight;                         /* now */
    uint64_t bytes_started[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS];
} dm_migrate_counters_t;

typedef struct dm_migrate dm_migrate_t;

/*
 * Creates a scheduler (one record per page, allocated here; nothing later).
 * *m_p set only on success. Errors: DM_ERR_INVALID_PARAM (a field out of
 * its range, named), DM_ERR_NO_MEMORY.
 */
dm_status_t dm_migrate_create(const dm_migrate_params_t *params, dm_migrate_t **m_p);

/* Frees it; NULL is a no-op. */
void dm_migrate_destroy(dm_migrate_t *m);

/*
 * A request: page from `from` to `to` for cls. Sets *verdict_p (see above).
 * Errors: DM_ERR_INVALID_PARAM (page >= npages, a tier >= ntiers, from ==
 * to, cls unknown); nothing changes.
 */
dm_status_t dm_migrate_request(dm_migrate_t *m, uint64_t page, unsigned from, unsigned to,
                               dm_migrate_class_t cls, dm_migrate_verdict_t *verdict_p);

/*
 * Starts what is admitted at now_ns (see Admission), at most max: each
 * started request leaves the queue, counts in flight, and is written to
 * actions[]. room is updated (one slot less at each start's destination).
 * Returns the number started.
 */
unsigned dm_migrate_next(dm_migrate_t *m, uint64_t now_ns, dm_migrate_room_t *room,
                         dm_migrate_action_t *actions, unsigned max);

/*
 * Starts page's move from `from` to `to` now, outside next(): for a caller
 * that does the copy at once itself (a demand read that has the data in
 * hand). Admitted as next() would admit a request of cls at the head of its
 * class, except for room (the caller has reserved the destination): fewer
 * than max_in_flight run and the pair's bucket pays page_size bytes at
 * now_ns. A request of the page that was queued is taken over (it leaves
 * its queue; counted as merged). Counted as requested and started in cls.
 * Returns 1 when started (the page is in flight: end it with complete), 0
 * when not admitted, already in flight or the arguments are wrong (nothing
 * changed then).
 */
int dm_migrate_start(dm_migrate_t *m, uint64_t page, unsigned from, unsigned to,
                     dm_migrate_class_t cls, uint64_t now_ns);

/*
 * A started migration ended. pre: page is in flight (else ignored, returns
 * DM_ERR_INVALID_PARAM).
 */
dm_status_t dm_migrate_complete(dm_migrate_t *m, uint64_t page, dm_migrate_result_t result);

/* Drops page's queued request; returns 1 when there was one. A request in
 * flight is not touched (returns 0): the caller finishes it. */
int dm_migrate_cancel(dm_migrate_t *m, uint64_t page);

/* The page's state, and (when waiting or running and the pointers are not
 * NULL) its request. */
dm_migrate_state_t dm_migrate_state(const dm_migrate_t *m, uint64_t page, unsigned *from_p,
                                    unsigned *to_p, dm_migrate_class_t *cls_p);

/*
 * The earliest time >= now_ns at which a queued request's bucket admits it
 * (and its batch: see above; ignoring slots and room): now_ns when one
 * could start now, UINT64_MAX when nothing is queued. For a worker
 * deciding how long to sleep.
 */
uint64_t dm_migrate_next_time(dm_migrate_t *m, uint64_t now_ns);

uint64_t dm_migrate_queued(const dm_migrate_t *m);   /* all classes */
uint64_t dm_migrate_queued_class(const dm_migrate_t *m, dm_migrate_class_t cls);
uint32_t dm_migrate_in_flight(const dm_migrate_t *m);
void dm_migrate_counters(const dm_migrate_t *m, dm_migrate_counters_t *c);

const char *dm_migrate_class_name(dm_migrate_class_t cls);
const char *dm_migrate_result_name(dm_migrate_result_t result);

#endif
