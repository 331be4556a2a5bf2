/*
 * The migration scheduler of migrate.h.
 *
 * Records: one per page (rec[page]), holding the page's one request: its
 * class, tiers, state, and the links of its class's FIFO list (indices, NIL
 * at the ends). A queued request is on exactly one list; a running one on
 * none. So a request, a merge, a cancel and a completion are O(1) and need
 * no memory beyond what create allocated (the fault path never allocates).
 *
 * Buckets: one per ordered (from, to) pair, inline (8 x 8); the diagonal is
 * unused.
 */
#include "migrate.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "util.h"

#define NIL UINT32_MAX

typedef struct dm_migrate_rec {
    uint32_t prev, next; /* class list links while WAITING */
    uint8_t  from, to;
    uint8_t  cls;        /* dm_migrate_class_t */
    uint8_t  state;      /* dm_migrate_state_t */
} dm_migrate_rec_t;

struct dm_migrate {
    dm_migrate_params_t    params;
    dm_migrate_rec_t      *rec;                          /* [npages] */
    uint32_t               head[DM_MIGRATE_CLASS_COUNT];
    uint32_t               tail[DM_MIGRATE_CLASS_COUNT];
    uint64_t               queued_bg;                    /* HINT + SCAN queued */
    /* HINT + SCAN queued per pair (from, to): the size of a pair's batch */
    uint32_t               queued_pair_bg[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS];
    dm_budget_t            bucket[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS];
    dm_migrate_counters_t  c;
};

static const char *const dm_migrate_class_names[] = {"demand", "pressure", "hint", "scan"};
static const char *const dm_migrate_result_names[] = {"ok", "no_space", "io_error", "stale",
                                                      "canceled"};

const char *dm_migrate_class_name(dm_migrate_class_t cls)
{
    return (unsigned)cls < DM_MIGRATE_CLASS_COUNT ? dm_migrate_class_names[cls] : "?";
}

const char *dm_migrate_result_name(dm_migrate_result_t result)
{
    return (unsigned)result < DM_MIGRATE_RESULT_COUNT ? dm_migrate_result_names[result] : "?";
}

dm_status_t dm_migrate_create(const dm_migrate_params_t *p, dm_migrate_t **m_p)
{
    dm_migrate_t *m;

    if (p == NULL || m_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: params or m_p is NULL");
    }
    if (p->npages == 0 || p->npages > DM_MIGRATE_MAX_PAGES) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: npages %llu not in 1..%llu",
                            (unsigned long long)p->npages, DM_MIGRATE_MAX_PAGES);
    }
    if (p->ntiers == 0 || p->ntiers > DM_MIGRATE_MAX_TIERS) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: ntiers %u not in 1..%u", p->ntiers,
                            DM_MIGRATE_MAX_TIERS);
    }
    if (p->max_in_flight == 0 || p->max_in_flight > DM_MIGRATE_MAX_FLIGHT) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: max_in_flight %u not in 1..%u",
                            p->max_in_flight, DM_MIGRATE_MAX_FLIGHT);
    }
    if (p->queue_max == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: queue_max is 0");
    }
    if (p->page_size == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: page_size is 0");
    }
    if (p->rate > DM_BUDGET_RATE_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: rate %llu B/s above %llu",
                            (unsigned long long)p->rate, DM_BUDGET_RATE_MAX);
    }
    if (p->rate != 0 && (p->burst < p->page_size || p->burst > DM_BUDGET_BURST_MAX)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "migrate: burst %llu not in page_size (%llu) .. %llu",
                            (unsigned long long)p->burst, (unsigned long long)p->page_size,
                            DM_BUDGET_BURST_MAX);
    }
    if (p->rate != 0 && p->batch > 1 && (uint64_t)p->batch * p->page_size > p->burst) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "migrate: batch of %u pages (%llu bytes) above the burst (%llu): "
                            "the bucket could never admit it", p->batch,
                            (unsigned long long)p->batch * p->page_size,
                            (unsigned long long)p->burst);
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "migrate: no memory for the scheduler");
    }
    m->rec = calloc(p->npages, sizeof(*m->rec));
    if (m->rec == NULL) {
        free(m);
        return dm_error_set(DM_ERR_NO_MEMORY, "migrate: no memory for %llu page records",
                            (unsigned long long)p->npages);
    }
    m->params = *p;
    for (unsigned i = 0; i < DM_MIGRATE_CLASS_COUNT; i++) {
        m->head[i] = m->tail[i] = NIL;
    }
    for (unsigned f = 0; f < p->ntiers; f++) {
        for (unsigned t = 0; t < p->ntiers; t++) {
            dm_budget_init(&m->bucket[f][t], p->rate, p->rate ? p->burst : 0, p->now_ns);
        }
    }
    *m_p = m;
    return DM_OK;
}

void dm_migrate_destroy(dm_migrate_t *m)
{
    if (m != NULL) {
        free(m->rec);
        free(m);
    }
}

/* Classes a full queue rejects: wishes (HINT, SCAN). DEMAND and PRESSURE are
 * obligations: a reader waits for one, a tier above its target for the other
 * (a rejected victim would stay in its tier until a scan). */
static int dm_migrate_optional(unsigned cls)
{
    return cls == DM_MIGRATE_HINT || cls == DM_MIGRATE_SCAN;
}

static void dm_migrate_unlink(dm_migrate_t *m, uint32_t page)
{
    dm_migrate_rec_t *r = &m->rec[page];

    assert(r->state == DM_MIGRATE_WAITING);
    if (r->prev != NIL) {
        m->rec[r->prev].next = r->next;
    } else {
        m->head[r->cls] = r->next;
    }
    if (r->next != NIL) {
        m->rec[r->next].prev = r->prev;
    } else {
        m->tail[r->cls] = r->prev;
    }
    r->prev = r->next = NIL;
    m->c.queued[r->cls]--;
    if (dm_migrate_optional(r->cls)) {
        m->queued_bg--;
        m->queued_pair_bg[r->from][r->to]--;
    }
}

static void dm_migrate_append(dm_migrate_t *m, uint32_t page)
{
    dm_migrate_rec_t *r = &m->rec[page];

    r->next = NIL;
    r->prev = m->tail[r->cls];
    if (r->prev != NIL) {
        m->rec[r->prev].next = page;
    } else {
        m->head[r->cls] = page;
    }
    m->tail[r->cls] = page;
    m->c.queued[r->cls]++;
    if (dm_migrate_optional(r->cls)) {
        m->queued_bg++;
        m->queued_pair_bg[r->from][r->to]++;
    }
    assert(m->queued_bg <= m->params.queue_max);
}

dm_status_t dm_migrate_request(dm_migrate_t *m, uint64_t page, unsigned from, unsigned to,
                               dm_migrate_class_t cls, dm_migrate_verdict_t *verdict_p)
{
    dm_migrate_rec_t *r;
    dm_migrate_verdict_t v;

    if (page >= m->params.npages || from >= m->params.ntiers || to >= m->params.ntiers ||
        from == to || (unsigned)cls >= DM_MIGRATE_CLASS_COUNT) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "migrate: bad request: page %llu, tiers %u -> %u, class %d",
                            (unsigned long long)page, from, to, (int)cls);
    }
    r = &m->rec[page];
    m->c.requested[cls]++;
    switch ((dm_migrate_state_t)r->state) {
    case DM_MIGRATE_RUNNING:
        m->c.merged++;
        v = DM_MIGRATE_MOVING;
        break;
    case DM_MIGRATE_WAITING:
        m->c.merged++;
        v = DM_MIGRATE_MERGED;
        if ((unsigned)cls > r->cls) {
            break; /* the queued request ranks higher: keep it */
        }
        /* same or higher class: the newer request replaces the queued one
         * (re-queued at its class's tail; the background count cannot grow) */
        dm_migrate_unlink(m, (uint32_t)page);
        r->from = (uint8_t)from;
        r->to = (uint8_t)to;
        r->cls = (uint8_t)cls;
        dm_migrate_append(m, (uint32_t)page);
        break;
    default:
        if (dm_migrate_optional(cls) && m->queued_bg >= m->params.queue_max) {
            m->c.rejected[cls]++;
            v = DM_MIGRATE_REJECTED;
            break;
        }
        r->from = (uint8_t)from;
        r->to = (uint8_t)to;
        r->cls = (uint8_t)cls;
        r->state = DM_MIGRATE_WAITING;
        dm_migrate_append(m, (uint32_t)page);
        v = DM_MIGRATE_QUEUED;
        break;
    }
    if (verdict_p != NULL) {
        *verdict_p = v;
    }
    return DM_OK;
}

/*
 * Bytes a pair's first request must find in its bucket: its page, or for a
 * background one its batch (see migrate.h).
 */
static uint64_t dm_migrate_need(const dm_migrate_t *m, const dm_migrate_rec_t *r)
{
    uint64_t n = 1;

    if (dm_migrate_optional(r->cls) && m->params.batch > 1) {
        n = DM_MIN((uint64_t)m->params.batch, (uint64_t)m->queued_pair_bg[r->from][r->to]);
    }
    return n * m->params.page_size;
}

/* 1 when some destination has room for the class (bg: HINT, SCAN). */
static int dm_migrate_any_room(const dm_migrate_t *m, const dm_migrate_room_t *room, int bg)
{
    for (unsigned t = 0; t < m->params.ntiers; t++) {
        if (bg ? room->room_bg[t] > 0 : room->room[t] > 0) {
            return 1;
        }
    }
    return 0;
}

int dm_migrate_start(dm_migrate_t *m, uint64_t page, unsigned from, unsigned to,
                     dm_migrate_class_t cls, uint64_t now_ns)
{
    dm_migrate_rec_t *r;

    if (page >= m->params.npages || from >= m->params.ntiers || to >= m->params.ntiers ||
        from == to || (unsigned)cls >= DM_MIGRATE_CLASS_COUNT) {
        return 0;
    }
    r = &m->rec[page];
    if (r->state == DM_MIGRATE_RUNNING || m->c.in_flight >= m->params.max_in_flight ||
        !dm_budget_take(&m->bucket[from][to], m->params.page_size, now_ns, NULL)) {
        return 0;
    }
    m->c.requested[cls]++;
    if (r->state == DM_MIGRATE_WAITING) {
        dm_migrate_unlink(m, (uint32_t)page);
        m->c.merged++;
    }
    r->from = (uint8_t)from;
    r->to = (uint8_t)to;
    r->cls = (uint8_t)cls;
    r->state = DM_MIGRATE_RUNNING;
    m->c.in_flight++;
    m->c.started[cls]++;
    m->c.bytes_started[from][to] += m->params.page_size;
    return 1;
}

unsigned dm_migrate_next(dm_migrate_t *m, uint64_t now_ns, dm_migrate_room_t *room,
                         dm_migrate_action_t *actions, unsigned max)
{
    uint8_t blocked[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS];
    uint8_t opened[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS]; /* its batch admitted */
    unsigned n = 0;

    memset(blocked, 0, sizeof(blocked));
    memset(opened, 0, sizeof(opened));
    for (unsigned cls = 0; cls < DM_MIGRATE_CLASS_COUNT; cls++) {
        uint32_t page = m->head[cls];
        int bg = cls == DM_MIGRATE_HINT || cls == DM_MIGRATE_SCAN;

        while (page != NIL) {
            dm_migrate_rec_t *r = &m->rec[page];
            uint32_t next = r->next;

            if (n == max || m->c.in_flight >= m->params.max_in_flight) {
                return n;
            }
            if (!dm_migrate_any_room(m, room, bg)) {
                break; /* nothing of this class can start: do not walk a long queue */
            }
            if (!blocked[r->from][r->to] && room->room[r->to] > 0 &&
                (!bg || room->room_bg[r->to] > 0)) {
                if (bg && !opened[r->from][r->to]) {
                    /* the first of the pair's batch: are the batch's tokens there? */
                    dm_budget_t probe = m->bucket[r->from][r->to]; /* asking spends nothing */

                    if (!dm_budget_take(&probe, dm_migrate_need(m, r), now_ns, NULL)) {
                        blocked[r->from][r->to] = 1;
                        page = next;
                        continue;
                    }
                    opened[r->from][r->to] = 1;
                }
                if (!dm_budget_take(&m->bucket[r->from][r->to], m->params.page_size, now_ns,
                                    NULL)) {
                    /* later requests of this pair wait behind this one */
                    blocked[r->from][r->to] = 1;
                } else {
                    dm_migrate_unlink(m, page);
                    r->state = DM_MIGRATE_RUNNING;
                    m->c.in_flight++;
                    m->c.started[cls]++;
                    m->c.bytes_started[r->from][r->to] += m->params.page_size;
                    room->room[r->to]--;
                    if (room->room_bg[r->to] > 0) {
                        room->room_bg[r->to]--;
                    }
                    if (room->room_bg[r->to] > room->room[r->to]) {
                        room->room_bg[r->to] = room->room[r->to];
                    }
                    actions[n].page = page;
                    actions[n].from = r->from;
                    actions[n].to = r->to;
                    actions[n].cls = (dm_migrate_class_t)cls;
                    n++;
                }
            }
            page = next;
        }
    }
    assert(m->c.in_flight <= m->params.max_in_flight);
    return n;
}

dm_status_t dm_migrate_complete(dm_migrate_t *m, uint64_t page, dm_migrate_result_t result)
{
    dm_migrate_rec_t *r;

    if (page >= m->params.npages || m->rec[page].state != DM_MIGRATE_RUNNING ||
        (unsigned)result >= DM_MIGRATE_RESULT_COUNT) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "migrate: page %llu is not in flight",
                            (unsigned long long)page);
    }
    r = &m->rec[page];
    r->state = DM_MIGRATE_IDLE;
    assert(m->c.in_flight > 0);
    m->c.in_flight--;
    m->c.ended[result]++;
    if (result == DM_MIGRATE_OK) {
        m->c.done[r->cls]++;
    }
    return DM_OK;
}

int dm_migrate_cancel(dm_migrate_t *m, uint64_t page)
{
    if (page >= m->params.npages || m->rec[page].state != DM_MIGRATE_WAITING) {
        return 0;
    }
    dm_migrate_unlink(m, (uint32_t)page);
    m->rec[page].state = DM_MIGRATE_IDLE;
    m->c.canceled_queued++;
    return 1;
}

dm_migrate_state_t dm_migrate_state(const dm_migrate_t *m, uint64_t page, unsigned *from_p,
                                    unsigned *to_p, dm_migrate_class_t *cls_p)
{
    const dm_migrate_rec_t *r;

    if (page >= m->params.npages) {
        return DM_MIGRATE_IDLE;
    }
    r = &m->rec[page];
    if (r->state != DM_MIGRATE_IDLE) {
        if (from_p != NULL) {
            *from_p = r->from;
        }
        if (to_p != NULL) {
            *to_p = r->to;
        }
        if (cls_p != NULL) {
            *cls_p = (dm_migrate_class_t)r->cls;
        }
    }
    return (dm_migrate_state_t)r->state;
}

uint64_t dm_migrate_next_time(dm_migrate_t *m, uint64_t now_ns)
{
    uint8_t seen[DM_MIGRATE_MAX_TIERS][DM_MIGRATE_MAX_TIERS];
    uint64_t best = UINT64_MAX;

    memset(seen, 0, sizeof(seen));
    /* only the first request of each pair matters: one look per pair */
    for (unsigned cls = 0; cls < DM_MIGRATE_CLASS_COUNT; cls++) {
        for (uint32_t page = m->head[cls]; page != NIL; page = m->rec[page].next) {
            dm_migrate_rec_t *r = &m->rec[page];
            dm_budget_t probe;
            uint64_t when;

            if (seen[r->from][r->to]) {
                continue;
            }
            seen[r->from][r->to] = 1;
            probe = m->bucket[r->from][r->to]; /* a copy: asking spends nothing */
            if (dm_budget_take(&probe, dm_migrate_need(m, r), now_ns, &when)) {
                return now_ns;
            }
            if (when < best) {
                best = when;
            }
        }
    }
    return best;
}

uint64_t dm_migrate_queued(const dm_migrate_t *m)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < DM_MIGRATE_CLASS_COUNT; i++) {
        n += m->c.queued[i];
    }
    return n;
}

uint64_t dm_migrate_queued_class(const dm_migrate_t *m, dm_migrate_class_t cls)
{
    return (unsigned)cls < DM_MIGRATE_CLASS_COUNT ? m->c.queued[cls] : 0;
}

uint32_t dm_migrate_in_flight(const dm_migrate_t *m)
{
    return (uint32_t)m->c.in_flight;
}

void dm_migrate_counters(const dm_migrate_t *m, dm_migrate_counters_t *c)
{
    *c = m->c;
}
