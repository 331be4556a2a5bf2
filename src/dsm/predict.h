/*
 * Access-pattern prediction for the fault path: a pure policy (state in,
 * decision out, no I/O, no allocation), one state per thread. The runtime
 * feeds it every fault that needs a request; tests feed it traces.
 *
 *   sequential  the fault lies in the window just after the previous fault
 *               on an absent page, so the next `window` pages are requested
 *               too (read-ahead);
 *   read-modify-write  a read fault was followed by a write fault on the
 *               same page (an upgrade); until a read is not followed by a
 *               write, a sequential fault on an absent page asks for write
 *               access straight away (and reads ahead writable): one
 *               request per page instead of two.
 *
 * Example (window 8): read faults on absent pages 10, 11, 12: page 10 asks
 * for a read copy alone; 11 lies in [11, 19], so it asks for 11 and reads
 * ahead 12..19. With a write fault after each read fault (10 read, 10
 * write, 11 read, 11 write, ...), from 11 on the read fault on an absent
 * page asks for write access directly.
 */
#ifndef DM_DSM_PREDICT_H
#define DM_DSM_PREDICT_H

#include <stdint.h>

#define DM_PREDICT_NONE UINT64_MAX

typedef struct dm_predict {
    uint64_t seq_lo, seq_hi; /* a fault on [seq_lo, seq_hi] continues a walk; empty at first */
    uint64_t last_read;      /* page of a read fault not yet followed by its write, or NONE */
    int      rmw;            /* reads have been followed by writes */
} dm_predict_t;

typedef struct dm_predict_decision {
    int      write; /* ask for write access */
    unsigned ahead; /* request the pages (page, page + ahead] too, the same way */
} dm_predict_decision_t;

#define DM_PREDICT_INIT { 1, 0, DM_PREDICT_NONE, 0 }

/*
 * A fault on page that needs a request: write (the access is a write),
 * present (the page is readable here: the fault is an upgrade), window
 * (read-ahead pages, 0 for none).
 */
static inline dm_predict_decision_t dm_predict_fault(dm_predict_t *p, uint64_t page, int write,
                                                     int present, unsigned window)
{
    dm_predict_decision_t d = { 0, 0 };
    int seq = page >= p->seq_lo && page <= p->seq_hi;

    if (write) {
        if (present && page == p->last_read) {
            p->rmw = 1;
        }
        p->last_read = DM_PREDICT_NONE;
        d.write = 1;
    } else {
        if (p->last_read != DM_PREDICT_NONE) {
            p->rmw = 0; /* the previous read was not followed by a write */
        }
        if (p->rmw && seq && !present) {
            d.write = 1;
        } else {
            p->last_read = page;
        }
    }
    if (!present) {
        p->seq_lo = page + 1;
        p->seq_hi = page + 1 + window;
        d.ahead = seq ? window : 0;
    }
    return d;
}

#endif
