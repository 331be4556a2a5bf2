/*
 * First-touch home placement (DISTMEM_PLACEMENT=first-touch).
 *
 * The home of a collective page is the first rank that touches it: a
 * fault or a one-sided operation. Who was first is decided by one rank per
 * chunk of DM_DSM_FT_CHUNK pages, the chunk's recorder (rank
 * (p / chunk) mod N): the first WHO it receives (or makes itself) for an
 * undecided page names the asker as the page's home, for good, until the
 * page is freed. Every rank caches what it learned in homes[]; a rank only
 * ever asks once per page.
 *
 * Why requests find their home without more messages: a rank sends a
 * protocol request (GETS, GETM) or a one-sided operation for page p only
 * after it knows p's home, which only the recorder's decision can tell it.
 * So a rank that receives such a request for a page whose home it does
 * not know yet is that home (the recorder's answer to it is still on its
 * way; messages from different senders are not ordered), and records
 * itself (dm_dsm_home_here). Every other protocol message for p goes from
 * the home to a rank that asked it, so that rank knows.
 *
 * A lookup names the pages touched (the faulting page; every page of a
 * one-sided operation), which the recorder decides, and for a fault also
 * the pages it would read ahead, whose homes it only reports (-1 while
 * undecided: reading ahead must not make this rank their home). One WHO
 * per chunk, so the recorder handles it under its serial lock in one step.
 *
 * Free: dm_free is collective and quiesced; every rank forgets the homes
 * of the region's pages, so a new allocation there starts undecided.
 */
#include <string.h>
#include <sys/mman.h>

#include "dsm_int.h"
#include "log.h"
#include "status.h"
#include "util.h"

enum { DM_DSM_PLACE_WHO = 1, DM_DSM_PLACE_HOME };

typedef struct dm_dsm_place_msg {
    uint8_t  type;
    uint8_t  pad[3];
    uint32_t count;  /* pages [first, first + count), one chunk */
    uint64_t first;
    uint32_t decide; /* WHO: the first `decide` pages are touched: decide them; ask about the rest */
    uint32_t pad2;
} dm_dsm_place_msg_t; /* HOME's payload: int32_t home[count], -1 where undecided */

static inline int dm_dsm_recorder(const dm_dsm_t *d, uint64_t page)
{
    return (int)((page / DM_DSM_FT_CHUNK) % (uint64_t)d->nranks);
}

static inline void dm_dsm_home_set(dm_dsm_t *d, uint64_t page, int home)
{
    __atomic_store_n(&d->homes[page], home + 1, __ATOMIC_RELEASE);
}

int dm_dsm_home_here(dm_dsm_t *d, uint64_t page)
{
    int home = dm_dsm_home_of(d, page);

    if (home < 0 && d->first_touch && page < d->place.coll_pages) {
        dm_dsm_home_set(d, page, d->rank);
        home = d->rank;
    }
    return home;
}

/* The recorder decides the undecided pages of [first, first + n) for asker. pre: serial lock. */
static void dm_dsm_place_decide(dm_dsm_t *d, int asker, uint64_t first, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (d->homes[first + i] == 0) {
            dm_dsm_home_set(d, first + i, asker);
        }
    }
}

static void dm_dsm_on_place(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                            size_t len)
{
    dm_dsm_t *d = arg;
    dm_dsm_place_msg_t m;
    int32_t homes[DM_DSM_FT_CHUNK];
    uint32_t i;

    if (hdr_len != sizeof(m) || !d->first_touch) {
        goto bad;
    }
    memcpy(&m, hdr, sizeof(m));
    if (m.count == 0 || m.count > DM_DSM_FT_CHUNK || m.decide > m.count ||
        m.first >= d->place.coll_pages ||
        m.count > d->place.coll_pages - m.first ||
        m.first / DM_DSM_FT_CHUNK != (m.first + m.count - 1) / DM_DSM_FT_CHUNK) {
        goto bad;
    }
    if (m.type == DM_DSM_PLACE_WHO) {
        if (len != 0 || dm_dsm_recorder(d, m.first) != d->rank) {
            goto bad;
        }
        dm_dsm_place_decide(d, src, m.first, m.decide);
        for (i = 0; i < m.count; i++) {
            homes[i] = d->homes[m.first + i] - 1;
        }
        m.type = DM_DSM_PLACE_HOME;
        if (dm_tp_am_post(d->tp, src, DM_DSM_AM_PLACE, &m, sizeof(m), homes,
                          m.count * sizeof(int32_t)) != DM_OK) {
            DM_ERROR("home lookup answer to rank %d lost: %s", src, dm_last_error());
        }
        return;
    }
    if (m.type != DM_DSM_PLACE_HOME || len != m.count * sizeof(int32_t) ||
        src != dm_dsm_recorder(d, m.first)) {
        goto bad;
    }
    memcpy(homes, data, len);
    for (i = 0; i < m.count; i++) {
        int known = dm_dsm_home_of(d, m.first + i);

        if (homes[i] < -1 || homes[i] >= d->nranks || (i < m.decide && homes[i] < 0) ||
            (known >= 0 && homes[i] >= 0 && known != homes[i])) {
            goto bad;
        }
        if (homes[i] >= 0) {
            dm_dsm_home_set(d, m.first + i, homes[i]);
        }
    }
    return;
bad:
    DM_ERROR("rank %d: malformed home lookup message", src);
    dm_tp_peer_fail(d->tp, src, "malformed home lookup message");
}

typedef struct dm_dsm_place_wait {
    dm_dsm_t *d;
    uint64_t  first, last;
} dm_dsm_place_wait_t;

static int dm_dsm_place_known(void *arg)
{
    const dm_dsm_place_wait_t *w = arg;
    uint64_t p;

    for (p = w->first; p <= w->last; p++) {
        if (dm_dsm_home_of(w->d, p) < 0) {
            return 0;
        }
    }
    return 1;
}

dm_status_t dm_dsm_place_lookup(dm_dsm_t *d, uint64_t first, uint64_t touched, uint64_t last)
{
    dm_dsm_place_wait_t w = { .d = d, .first = first, .last = touched };
    uint64_t p = first;

    if (!d->first_touch || dm_dsm_place_known(&w)) {
        return DM_OK;
    }
    dm_tp_serial_enter(d->tp);
    while (p <= last) {
        uint64_t end = DM_MIN(last, (p / DM_DSM_FT_CHUNK + 1) * DM_DSM_FT_CHUNK - 1), q;
        int recorder = dm_dsm_recorder(d, p);

        for (q = p; q <= end && dm_dsm_home_of(d, q) >= 0; q++) {
        }
        if (q <= end) {
            dm_dsm_place_msg_t m = { .type = DM_DSM_PLACE_WHO, .count = (uint32_t)(end - q + 1),
                                     .first = q };

            m.decide = q <= touched ? (uint32_t)(DM_MIN(end, touched) - q + 1) : 0;
            if (recorder == d->rank) {
                dm_dsm_place_decide(d, d->rank, q, m.decide);
            } else if (dm_tp_am_post(d->tp, recorder, DM_DSM_AM_PLACE, &m, sizeof(m), NULL, 0) !=
                       DM_OK) {
                dm_tp_serial_leave(d->tp);
                return dm_last_status();
            }
        }
        p = end + 1;
    }
    dm_tp_serial_leave(d->tp);
    return dm_tp_wait_until(d->tp, dm_dsm_place_known, &w);
}

dm_status_t dm_dsm_place_init(dm_dsm_t *d, const dm_config_t *cfg)
{
    d->first_touch = cfg->placement == 1;
    if (!d->first_touch) {
        return DM_OK;
    }
    d->homes_bytes = (size_t)d->place.coll_pages * sizeof(int32_t);
    d->homes = mmap(NULL, d->homes_bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (d->homes == MAP_FAILED) {
        d->homes = NULL;
        return dm_error_set(DM_ERR_NO_MEMORY, "first-touch home table for %llu pages",
                            (unsigned long long)d->place.coll_pages);
    }
    return dm_tp_am_register(d->tp, DM_DSM_AM_PLACE, dm_dsm_on_place, d);
}

void dm_dsm_place_forget(dm_dsm_t *d, uint64_t first, uint64_t npages)
{
    if (d->homes != NULL) {
        memset(&d->homes[first], 0, (size_t)npages * sizeof(int32_t));
    }
}

void dm_dsm_place_cleanup(dm_dsm_t *d)
{
    if (d->homes != NULL) {
        munmap(d->homes, d->homes_bytes);
        d->homes = NULL;
    }
}
