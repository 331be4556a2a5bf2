/*
 * One-sided operations: put, get and atomics on distmem addresses,
 * coherent with the copies the page protocol caches.
 *
 * THE ESSAY
 *
 * Where an operation runs: at the page's home, on the page's current data.
 * That is
 *   (a) the home's own node copy, when it grants the access (M for a put
 *       or an atomic that writes; S or M for a get or a fetch);
 *   (b) home memory, when no node holds a copy and no transaction is in
 *       flight (directory H_U), or, for a read, when nodes hold only
 *       read-only copies (H_S: home memory is current);
 *   (c) otherwise the home asks for its own copy through the page protocol,
 *       exactly as a faulting thread of the home would (a local WRITE or
 *       READ: GETM or GETS to itself), which invalidates or recalls every
 *       other copy. The operation waits in the page's FIFO meanwhile, and
 *       runs the moment the home's copy grants it: dm_rma_page_changed is
 *       called by dsm.c right after the message that changed the page's
 *       state, before any other message for the page is handled, so the
 *       page cannot be taken away in between.
 * So a later plain load anywhere either misses (its copy was invalidated
 * before the operation ran) or reads the copy the operation wrote: it sees
 * the operation. An atomic runs while no other node may write the page
 * (SWMR), under the serial lock, with an atomic instruction (the home's own
 * threads may use the page meanwhile): atomic against other atomics and
 * against plain accesses. Operations never fault pages into the
 * initiator.
 *
 * The local shortcut: when this process's own copy grants the access and
 * none of its operations is in flight, the operation runs here, under the
 * serial lock, without a message. (With one in flight, a later operation
 * on the same page could overtake it.) Before it, with no lock, comes
 * same-host direct access to the home's memory (direct.c), when the page
 * word allows it (dm_rma_fast).
 *
 * Order. An operation touches one page; longer puts and gets are split at
 * page boundaries. Operations bound for one home are batched into one
 * message, one open batch per home (in issue order; dm_rma_on_batch serves
 * them in that order, as separate messages would be). An operation on a
 * page goes to its home's batch, and a batch is only ever sent whole, so
 * the operations of one process for one home leave in issue order. Every
 * message is at most 64 KiB of data plus headers, below DM_TP_EAGER_MAX,
 * so UCX sends it eagerly and the home handles messages from one
 * initiator in the order sent. The home queues an operation behind any
 * that already wait for the page. Hence the operations of one process on
 * one page apply in issue order. Across pages nothing is promised until
 * dm_quiet.
 *
 * Held operations. A batch stays open across calls (rma_unsent counts
 * what the open batches hold), so a loop of small non-blocking puts,
 * gets or non-fetching atomics costs one message per batch, not one per
 * call: over TCP a send is a system call. Held operations count in
 * rma_inflight from the start, so nothing takes the local shortcut or the
 * direct path past them. They leave
 *   - when their batch is full, or a fifth home needs a batch;
 *   - at the end of a call whose caller waits next (a blocking get, a
 *     fetching atomic, a hint);
 *   - before any request of the page protocol (dm_dsm_local), so a fault
 *     of this process never overtakes an operation it issued before;
 *   - whenever a thread of this process progresses the transport: every
 *     wait (dm_wait, dm_quiet, dm_barrier, locks, dm_wait_until, a fault's
 *     wait) first sends what is held (dm_tp_held, dm_rma_release), so no
 *     wait depends on a message that was never sent;
 *   - from the progress thread, once something has been held for
 *     DM_TP_HOLD_NS (50 us; it is woken for this from its long sleep, and
 *     looks at least every 1 ms otherwise): an application that issues
 *     and then computes still has its operations delivered, in 0.1-0.4 ms
 *     as measured (bench/run held), 1 ms at worst. A batch fills long
 *     before that while the application adds to it, so this costs no
 *     batching.
 * A send that fails answers the operations it carried with the failure
 * (dm_rma_out_flush), whoever sends it.
 *
 * Completion. Every operation is answered (an ack, the data, or the old
 * value). rma_inflight counts this process's unanswered operations;
 * dm_quiet waits for zero. A request (one user call) counts its unanswered
 * parts plus one for the issuing thread, so it cannot complete while parts
 * are still being sent. At most DM_RMA_WINDOW operations are in flight per
 * process: the issuing thread waits (progressing) before sending more.
 *
 * Failure. The home checks every operation again (the initiator's view of
 * allocations may be stale after a dm_free race): a bad address comes back
 * as DM_ERR_INVALID_PARAM in the answer. A malformed message fails the
 * sender as a peer. A put nobody waits for keeps its first error for the
 * next dm_quiet. A dead home ends every wait with DM_ERR_PEER_FAILED; its
 * late answers find their request slot reused (generation mismatch) and
 * are dropped.
 *
 * Local buffers inside distmem memory are copied through a bounce buffer
 * outside the serial lock, so their faults are ordinary faults and never
 * happen while the lock is held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "dsm_int.h"
#include "log.h"
#include "status.h"
#include "util.h"

#define DM_RMA_WINDOW 256 /* operations in flight per process */
#define DM_RMA_OUT 4            /* homes with an open batch at once */
#define DM_RMA_BATCH_OPS 64     /* operations per message */
#define DM_RMA_BATCH_BYTES 65536 /* data per message (at least one page) */
#define DM_RMA_RUN_PAGES 64     /* page words a multi-page put or get takes at once (dm_rma_runs) */

enum {
    DM_RMA_PUT = 1,
    DM_RMA_GET,
    DM_RMA_FADD,
    DM_RMA_CSWAP,
    DM_RMA_SWAP,
    DM_RMA_FETCH,
    DM_RMA_HINT,  /* a placement hint (advise.c): a = pages, b = what << 32 | arg */
    DM_RMA_REPLY,
    DM_RMA_BATCH, /* len operations (or answers); a = bytes of their data */
    DM_RMA_NOPS
};

/* Message header. The payload is the put's data or the get's answer. */
typedef struct dm_rma_hdr {
    uint8_t  op;     /* DM_RMA_* */
    uint8_t  orig;   /* REPLY: the op answered */
    int16_t  status; /* REPLY: dm_status_t */
    uint32_t len;    /* PUT, GET: bytes, within one page; atomics: 8 */
    uint64_t addr;   /* offset from the base of the address space */
    uint64_t tag;    /* the initiator's request: (slot + 1) << 32 | generation; 0: none */
    uint64_t roff;   /* GET: offset of this part in the request's buffer */
    int64_t  a, b;   /* operands; REPLY: a = the value before the operation */
} dm_rma_hdr_t;

/*
 * Operations (or answers) for one peer, sent as one message. Wire form of
 * the payload: the operations' data, back to back (a PUT's bytes, a GET
 * answer's bytes: see dm_rma_payload), then count headers. So the data is
 * written once, where it is sent from, and the headers are appended at
 * the flush.
 */
typedef struct dm_rma_batch {
    int32_t        peer;  /* where it goes: outgoing, meaningless while count == 0;
                             answers, the peer whose batch is served, -1: none */
    uint32_t       count; /* operations in it */
    size_t         bytes; /* data bytes in buf */
    size_t         cap;   /* data capacity of buf (headers fit after it) */
    unsigned char *buf;
    dm_rma_hdr_t   hdrs[DM_RMA_BATCH_OPS];
} dm_rma_batch_t;

/* A full batch is an eager message: handled in the order sent (see the essay). */
_Static_assert(DM_RMA_BATCH_BYTES + DM_RMA_BATCH_OPS * sizeof(dm_rma_hdr_t) <= DM_TP_EAGER_MAX,
               "a batch must fit in an eager message");

/* An operation waiting at the home for its page. */
typedef struct dm_rma_op {
    struct dm_rma_op *next;
    int32_t           src;
    dm_rma_hdr_t      h;
    unsigned char     data[]; /* PUT: h.len bytes */
} dm_rma_op_t;

/* One user call (distmem.h's dm_request_t). */
struct dm_request {
    unsigned char *buf;    /* GET: where the data lands (the caller's, or bounce) */
    void          *user;   /* GET through a bounce buffer: the caller's destination */
    size_t         len;    /* GET: bytes */
    int64_t        value;  /* atomics: the value before */
    uint32_t       left;   /* parts unanswered + 1 while issuing; serial lock */
    uint32_t       slot;   /* in d->rq, or UINT32_MAX */
    atomic_int     done;
    int            owned;  /* allocated here (an _nb call): dm_dsm_wait frees it */
    dm_status_t    status; /* first failure of a part; serial lock until done */
    char           msg[160];
};

/*
 * The request a non-blocking call returns when it completed at once
 * (dm_rma_fast): done, not owned, never written, shared by every such call;
 * dm_dsm_wait only reads it.
 */
static struct dm_request dm_rma_done_req = { .slot = UINT32_MAX, .done = 1, .status = DM_OK };

static inline int dm_rma_writes(uint8_t op)
{
    return op != DM_RMA_GET && op != DM_RMA_FETCH;
}

/* ------------------------------------------------------------------ */
/* request slots (serial lock)                                          */

static dm_status_t dm_rma_slot_get(dm_dsm_t *d, struct dm_request *r)
{
    uint32_t slot;

    if (d->rq_free == UINT32_MAX) {
        uint32_t cap = d->rq_cap ? d->rq_cap * 2 : 64, i;
        struct dm_request **rq = realloc(d->rq, cap * sizeof(*rq));
        uint32_t *gen, *next;

        if (rq == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "one-sided request table");
        }
        d->rq = rq;
        if ((gen = realloc(d->rq_gen, cap * sizeof(*gen))) == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "one-sided request table");
        }
        d->rq_gen = gen;
        if ((next = realloc(d->rq_next, cap * sizeof(*next))) == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "one-sided request table");
        }
        d->rq_next = next;
        for (i = cap; i-- > d->rq_cap;) {
            d->rq[i] = NULL;
            d->rq_gen[i] = 0;
            d->rq_next[i] = d->rq_free;
            d->rq_free = i;
        }
        d->rq_cap = cap;
    }
    slot = d->rq_free;
    d->rq_free = d->rq_next[slot];
    d->rq[slot] = r;
    d->rq_gen[slot]++;
    r->slot = slot;
    return DM_OK;
}

static void dm_rma_slot_put(dm_dsm_t *d, struct dm_request *r)
{
    if (r->slot == UINT32_MAX) {
        return;
    }
    d->rq[r->slot] = NULL;
    d->rq_gen[r->slot]++; /* late answers for it are stale now */
    d->rq_next[r->slot] = d->rq_free;
    d->rq_free = r->slot;
    r->slot = UINT32_MAX;
}

static inline uint64_t dm_rma_tag(const struct dm_request *r, const dm_dsm_t *d)
{
    return r == NULL ? 0 : ((uint64_t)(r->slot + 1) << 32) | d->rq_gen[r->slot];
}

/* One part of r answered. pre: serial lock. */
static void dm_rma_part_done(dm_dsm_t *d, struct dm_request *r)
{
    if (--r->left == 0) {
        dm_rma_slot_put(d, r);
        atomic_store_explicit(&r->done, 1, memory_order_release);
    }
}

static void dm_rma_fail(struct dm_request *r, dm_status_t st, const char *msg)
{
    if (r->status == DM_OK) {
        r->status = st;
        snprintf(r->msg, sizeof(r->msg), "%s", msg);
    }
}

/* ------------------------------------------------------------------ */
/* applying an operation to a page's data                               */

/*
 * Applies op to the len bytes at p (atomics: the word at p; a: the operand,
 * b: a compare-and-swap's new value); a GET's bytes go to out. Returns the
 * word's value before the operation (atomics). pre: p may be written
 * (writes) or read (reads) without a fault.
 */
static inline __attribute__((always_inline)) int64_t
dm_rma_apply_at(unsigned char *p, uint8_t op, size_t len, int64_t a, int64_t b, const void *data,
                void *out)
{
    int64_t *w = (int64_t *)(void *)p, expected;

    switch (op) {
    case DM_RMA_PUT:
        if (len == 8) {
            __builtin_memcpy(p, data, 8); /* a word: no call into the C library */
        } else {
            memcpy(p, data, len);
        }
        return 0;
    case DM_RMA_GET:
        if (len == 8) {
            __builtin_memcpy(out, p, 8);
        } else {
            memcpy(out, p, len);
        }
        return 0;
    case DM_RMA_FADD:
        return __atomic_fetch_add(w, a, __ATOMIC_SEQ_CST);
    case DM_RMA_CSWAP:
        expected = a;
        __atomic_compare_exchange_n(w, &expected, b, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return expected;
    case DM_RMA_SWAP:
        return __atomic_exchange_n(w, a, __ATOMIC_SEQ_CST);
    default: /* DM_RMA_FETCH */
        return __atomic_load_n(w, __ATOMIC_SEQ_CST);
    }
}

/*
 * dm_rma_apply_at for an atomic whose caller holds the page's word and
 * wants no value (a non-fetching add, swap or compare-and-swap): while the
 * word is held nobody else reads or writes the page's home memory (the
 * home and every initiator take the word first; readers retry when it
 * changed), so plain loads and stores do, without a locked instruction.
 * Nothing orders it before the caller's next accesses: dm_quiet's fence
 * does (memory-model.md, rule 4: such an atomic completes at dm_quiet).
 */
static inline __attribute__((always_inline)) void dm_rma_apply_held(unsigned char *p, uint8_t op,
                                                                    int64_t a, int64_t b)
{
    int64_t *w = (int64_t *)(void *)p;
    int64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);

    switch (op) {
    case DM_RMA_FADD:
        v = (int64_t)((uint64_t)v + (uint64_t)a);
        break;
    case DM_RMA_CSWAP:
        if (v != a) {
            return;
        }
        v = b;
        break;
    default: /* DM_RMA_SWAP */
        v = a;
        break;
    }
    __atomic_store_n(w, v, __ATOMIC_RELAXED);
}

/*
 * Applies h to the page whose data starts at page_mem; a GET's bytes go
 * to out. Returns the word's value before the operation (atomics).
 * pre: serial lock; the data may be written (writes) or read (reads).
 */
static int64_t dm_rma_apply(const dm_dsm_t *d, unsigned char *page_mem, const dm_rma_hdr_t *h,
                            const void *data, void *out)
{
    return dm_rma_apply_at(page_mem + (h->addr & (d->page_size - 1)), h->op, h->len, h->a, h->b,
                           data, out);
}

/* An answer arrived (or was produced here for this rank). pre: serial lock. */
static void dm_rma_complete(dm_dsm_t *d, int src, const dm_rma_hdr_t *h, const void *data,
                            size_t len)
{
    struct dm_request *r;
    uint32_t slot;

    if (atomic_load_explicit(&d->rma_inflight, memory_order_relaxed) == 0) {
        DM_ERROR("rank %d: answer to a one-sided operation nobody sent", src);
        dm_tp_peer_fail(d->tp, src, "answer to a one-sided operation nobody sent");
        return;
    }
    if (h->tag == 0) {
        /*
         * Recorded before the count drops: dm_dsm_quiet reads rma_error
         * without the lock once it saw rma_inflight reach 0 (acquire).
         */
        if (h->status != DM_OK && d->rma_error == DM_OK) {
            snprintf(d->rma_error_msg, sizeof(d->rma_error_msg),
                     "one-sided operation on %p (home rank %d): %s", (void *)(d->gas.base + h->addr), src,
                     dm_status_string((dm_status_t)h->status));
            __atomic_store_n(&d->rma_error, (dm_status_t)h->status, __ATOMIC_RELEASE);
        }
        atomic_fetch_sub_explicit(&d->rma_inflight, 1, memory_order_release);
        return;
    }
    atomic_fetch_sub_explicit(&d->rma_inflight, 1, memory_order_release);
    slot = (uint32_t)(h->tag >> 32) - 1;
    if (slot >= d->rq_cap || d->rq_gen[slot] != (uint32_t)h->tag || (r = d->rq[slot]) == NULL) {
        DM_DEBUG("rank %d: late answer to an abandoned one-sided request", src);
        return;
    }
    if (h->status != DM_OK) {
        char msg[160];

        snprintf(msg, sizeof(msg), "%s %p (home rank %d): %s",
                 h->orig == DM_RMA_HINT ? "placement hint for" : "one-sided operation on",
                 (void *)(d->gas.base + h->addr), src, dm_status_string((dm_status_t)h->status));
        dm_rma_fail(r, (dm_status_t)h->status, msg);
    } else if (h->orig == DM_RMA_GET) {
        if (len != h->len || h->roff > r->len || r->len - h->roff < len) {
            dm_tp_peer_fail(d->tp, src, "malformed answer to a get");
            dm_rma_fail(r, DM_ERR_PROTOCOL, "malformed answer to a get");
        } else {
            memcpy(r->buf + h->roff, data, len);
        }
    } else if (h->orig != DM_RMA_PUT) {
        r->value = h->a;
    }
    dm_rma_part_done(d, r);
}

/* ------------------------------------------------------------------ */
/* batches                                                              */

/* Bytes of data that travel with h (the rule both ends of a batch use). */
static size_t dm_rma_payload(const dm_rma_hdr_t *h)
{
    if (h->op == DM_RMA_PUT ||
        (h->op == DM_RMA_REPLY && h->orig == DM_RMA_GET && h->status == DM_OK)) {
        return h->len;
    }
    return 0;
}

/*
 * Sends b as one message (a lone operation as a plain one) and empties it.
 * On failure the peer is marked failed by the transport; b is emptied all
 * the same (see dm_rma_out_flush for what happens to its operations).
 */
static dm_status_t dm_rma_batch_post(dm_dsm_t *d, dm_rma_batch_t *b)
{
    dm_rma_hdr_t bh;
    dm_status_t st;

    if (b->count == 0) {
        return DM_OK;
    }
    if (b->count == 1) {
        st = dm_tp_am_post(d->tp, b->peer, DM_DSM_AM_RMA, &b->hdrs[0], sizeof(b->hdrs[0]),
                           b->buf, b->bytes);
    } else {
        memset(&bh, 0, sizeof(bh));
        bh.op = DM_RMA_BATCH;
        bh.len = b->count;
        bh.a = (int64_t)b->bytes;
        memcpy(b->buf + b->bytes, b->hdrs, b->count * sizeof(b->hdrs[0]));
        st = dm_tp_am_post(d->tp, b->peer, DM_DSM_AM_RMA, &bh, sizeof(bh), b->buf,
                           b->bytes + b->count * sizeof(b->hdrs[0]));
        atomic_fetch_add_explicit(&d->st_rma_batches, 1, memory_order_relaxed);
    }
    b->count = 0;
    b->bytes = 0;
    return st;
}

/* Appends h and its len bytes of data. pre: room (see dm_rma_batch_fits). */
static void dm_rma_batch_add(dm_rma_batch_t *b, const dm_rma_hdr_t *h, const void *data,
                             size_t len)
{
    b->hdrs[b->count++] = *h;
    if (len > 0) {
        memcpy(b->buf + b->bytes, data, len);
        b->bytes += len;
    }
}

static int dm_rma_batch_fits(const dm_rma_batch_t *b, size_t len)
{
    return b->count < DM_RMA_BATCH_OPS && b->bytes + len <= b->cap;
}

static dm_status_t dm_rma_batch_alloc(dm_dsm_t *d, dm_rma_batch_t *b)
{
    b->peer = -1;
    b->count = 0;
    b->bytes = 0;
    b->cap = DM_MAX((size_t)DM_RMA_BATCH_BYTES, d->page_size);
    b->buf = malloc(b->cap + DM_RMA_BATCH_OPS * sizeof(dm_rma_hdr_t));
    return b->buf != NULL ? DM_OK : dm_error_set(DM_ERR_NO_MEMORY, "one-sided batch buffer");
}

/*
 * Sends an outgoing batch. When the message cannot go, each of its
 * operations is answered here with the failure, so that every count
 * (rma_inflight, the requests' parts) stays balanced. pre: serial lock.
 */
static dm_status_t dm_rma_out_flush(dm_dsm_t *d, dm_rma_batch_t *b)
{
    dm_rma_hdr_t sent[DM_RMA_BATCH_OPS], a;
    uint32_t n = b->count, i;
    dm_status_t st;
    char msg[200];

    memcpy(sent, b->hdrs, n * sizeof(sent[0]));
    st = dm_rma_batch_post(d, b);
    d->rma_unsent -= n;
    if (n != 0 && d->rma_unsent == 0) {
        dm_tp_held(d->tp, 0);
    }
    if (st == DM_OK) {
        return DM_OK;
    }
    snprintf(msg, sizeof(msg), "%s", dm_last_error());
    for (i = 0; i < n; i++) {
        memset(&a, 0, sizeof(a));
        a.op = DM_RMA_REPLY;
        a.orig = sent[i].op;
        a.status = (int16_t)st;
        a.len = sent[i].len;
        a.addr = sent[i].addr;
        a.tag = sent[i].tag;
        a.roff = sent[i].roff;
        dm_rma_complete(d, b->peer, &a, NULL, 0);
    }
    return dm_error_set(st, "%s", msg);
}

/* Sends every open outgoing batch. pre: serial lock. */
static dm_status_t dm_rma_out_flush_all(dm_dsm_t *d)
{
    dm_status_t st = DM_OK, st2;
    int i;

    for (i = 0; i < DM_RMA_OUT && d->rma_unsent != 0; i++) {
        if ((st2 = dm_rma_out_flush(d, &d->rma_out[i])) != DM_OK && st == DM_OK) {
            st = st2;
        }
    }
    return st;
}

/*
 * Queues operation h (counted in flight by the caller) for home, in the
 * open batch for that home. h is queued even when sending an earlier batch
 * to make room failed (that error is returned): the caller stops issuing,
 * and its final flush answers h with the failure. pre: serial lock.
 */
static dm_status_t dm_rma_out_add(dm_dsm_t *d, int home, const dm_rma_hdr_t *h,
                                  const void *data)
{
    size_t len = dm_rma_payload(h);
    dm_rma_batch_t *b = NULL;
    dm_status_t st = DM_OK;
    int i;

    for (i = 0; i < DM_RMA_OUT && b == NULL; i++) {
        if (d->rma_out[i].count > 0 && d->rma_out[i].peer == home) {
            b = &d->rma_out[i];
        }
    }
    for (i = 0; i < DM_RMA_OUT && b == NULL; i++) {
        if (d->rma_out[i].count == 0) {
            b = &d->rma_out[i];
        }
    }
    if (b == NULL) {
        b = &d->rma_out[0]; /* more homes than batches: the first one goes now */
        st = dm_rma_out_flush(d, b);
    }
    if (!dm_rma_batch_fits(b, len)) {
        dm_status_t st2 = dm_rma_out_flush(d, b); /* empties b, sent or not */

        st = st != DM_OK ? st : st2;
    }
    b->peer = home;
    dm_rma_batch_add(b, h, data, len);
    if (d->rma_unsent++ == 0) {
        dm_tp_held(d->tp, 1); /* the transport sends them when nobody else does */
    }
    return st;
}

void dm_rma_send_held(dm_dsm_t *d)
{
    if (d->rma_unsent != 0) {
        (void)dm_rma_out_flush_all(d); /* a failure answers the operations (dm_rma_out_flush) */
    }
}

/* The transport's release function (dm_tp_set_release). pre: serial lock. */
static void dm_rma_release(void *arg)
{
    dm_rma_send_held(arg);
}

/* Answers the operation h from src. pre: serial lock. */
static void dm_rma_reply(dm_dsm_t *d, int src, const dm_rma_hdr_t *h, dm_status_t st,
                         int64_t old, const void *data)
{
    dm_rma_hdr_t a;
    size_t len = data != NULL ? h->len : 0;

    memset(&a, 0, sizeof(a));
    a.op = DM_RMA_REPLY;
    a.orig = h->op;
    a.status = (int16_t)st;
    a.len = h->len;
    a.addr = h->addr;
    a.tag = h->tag;
    a.roff = h->roff;
    a.a = old;
    if (src == d->rank) {
        dm_rma_complete(d, src, &a, data, len);
        return;
    }
    if (d->rma_ans->peer == src) {
        /* serving a batch from src: the answer joins the others */
        if (!dm_rma_batch_fits(d->rma_ans, len) && dm_rma_batch_post(d, d->rma_ans) != DM_OK) {
            DM_ERROR("answers to rank %d lost: %s", src, dm_last_error());
        }
        dm_rma_batch_add(d->rma_ans, &a, data, len);
        return;
    }
    if (dm_tp_am_post(d->tp, src, DM_DSM_AM_RMA, &a, sizeof(a), data, len) != DM_OK) {
        /* the peer is marked failed; its waits end there */
        DM_ERROR("answer to rank %d lost: %s", src, dm_last_error());
    }
}

/*
 * Runs h now if the page's data is where the home may apply it ((a) or (b)
 * in the essay), and answers. Returns 0 when it must wait. pre: serial
 * lock, this rank is the page's home.
 */
static int dm_rma_try(dm_dsm_t *d, int src, const dm_rma_hdr_t *h, const void *data)
{
    uint64_t page = h->addr >> d->page_shift;
    dm_coh_state_t s = (dm_coh_state_t)atomic_load(&d->pages[page].state);
    dm_dsm_dirent_t *e = d->dirs[page];
    int write = dm_rma_writes(h->op), home = 0;
    unsigned char *mem;
    int64_t old;

    if (dm_dsm_state_allows(s, write)) {
        mem = dm_dsm_app_page(d, page);
    } else if (s == DM_COH_I &&
               (e == NULL || (!e->dir.busy && e->dir.qlen == 0 &&
                              (e->dir.state == DM_COH_H_U ||
                               (!write && e->dir.state == DM_COH_H_S))))) {
        /* home memory (homemem.c: in place, or a staged copy of the store's page) */
        mem = dm_dsm_homemem_begin(d, page);
        if (mem == NULL) {
            dm_rma_reply(d, src, h, DM_ERR_IO, 0, NULL); /* the runtime broke; said why */
            return 1;
        }
        home = 1;
    } else {
        return 0;
    }
    if (home && d->direct_home) {
        dm_dsm_direct_hold(d, page); /* ranks of this host may be using home memory (direct.c) */
    }
    if (h->op == DM_RMA_GET) {
        /* answered straight from the page: posting copies it */
        dm_rma_reply(d, src, h, DM_OK, 0, mem + (h->addr & (d->page_size - 1)));
    } else {
        old = dm_rma_apply(d, mem, h, data, NULL);
        if (home && dm_dsm_homemem_end(d, page, mem, write) != 0) {
            dm_rma_reply(d, src, h, DM_ERR_IO, 0, NULL);
        } else {
            dm_rma_reply(d, src, h, DM_OK, old, NULL);
        }
    }
    if (home && d->direct_home) {
        dm_dsm_direct_release(d, page);
    }
    return 1;
}

void dm_rma_page_changed(dm_dsm_t *d, uint64_t page)
{
    dm_dsm_dirent_t *e = d->dirs[page];
    dm_rma_op_t *op;

    while (e != NULL && (op = e->rma_head) != NULL) {
        if (!dm_rma_try(d, op->src, &op->h, op->data)) {
            dm_coh_state_t s = (dm_coh_state_t)atomic_load(&d->pages[page].state);

            if (dm_coh_state_stable(s)) {
                /* ask for our own copy, as a fault of this rank would */
                dm_dsm_local(d, page, dm_rma_writes(op->h.op) ? DM_COH_WRITE : DM_COH_READ);
            }
            return; /* the caller drains the messages to self */
        }
        e->rma_head = op->next;
        if (e->rma_head == NULL) {
            e->rma_tail = NULL;
        }
        free(op);
        atomic_fetch_add_explicit(&d->st_rma_home_queued, 1, memory_order_relaxed);
    }
    d->pages[page].rmaq = 0;
}

/*
 * The hand-over to same-host peers. Their operations run on home memory
 * without a message (direct.c) only while no node holds a copy; the home's
 * own copy, typically from initializing the data with plain stores, would
 * send every one of them through the home. So after DM_RMA_HAND_OVER
 * operations of same-host ranks were served from this node's copy with no
 * use of the page by this node in between (dsm.c resets the count when
 * this node asks for the page again), the copy is dropped (written back
 * first), and later operations go direct. pre: serial lock.
 */
#define DM_RMA_HAND_OVER 8

static void dm_rma_hand_over(dm_dsm_t *d, int src, uint64_t page)
{
    dm_dsm_dirent_t *e = d->dirs[page];

    if (src == d->rank || d->direct_peer == NULL || !d->direct_peer[src] || e == NULL ||
        atomic_load(&d->pages[page].state) == DM_COH_I) {
        return;
    }
    if (e->rma_served < DM_RMA_HAND_OVER) {
        e->rma_served++;
        return;
    }
    if (dm_dsm_drop_copy(d, page)) {
        e->rma_served = 0;
        atomic_fetch_add_explicit(&d->st_rma_hand_over, 1, memory_order_relaxed);
        dm_dsm_drain(d);
    }
}

/*
 * Checks an operation that arrived at this home. Returns DM_OK, or
 * DM_ERR_INVALID_PARAM for an address this home cannot serve (answered
 * as such), or DM_ERR_PROTOCOL for a malformed message. pre: serial lock.
 */
static dm_status_t dm_rma_check_home(dm_dsm_t *d, const dm_rma_hdr_t *h, size_t len)
{
    uint64_t page = h->addr >> d->page_shift, end;
    size_t in_page = h->addr & (d->page_size - 1);

    if (h->op == DM_RMA_PUT ? len != h->len : len != 0) {
        return DM_ERR_PROTOCOL;
    }
    if (h->op == DM_RMA_PUT || h->op == DM_RMA_GET) {
        if (h->len == 0 || h->len > d->page_size - in_page) {
            return DM_ERR_PROTOCOL;
        }
    } else if (h->len != 8 || (h->addr & 7) != 0) {
        return DM_ERR_PROTOCOL;
    }
    if (page >= d->place.npages || dm_dsm_home_here(d, page) != d->rank ||
        dm_dsm_alloc_span(d, page, page, &end) != 0) {
        return DM_ERR_INVALID_PARAM;
    }
    return DM_OK;
}

/*
 * A placement hint from src for a range of pages, some of them homed here:
 * applied to those (homemem.c) and answered at once; it waits for nothing
 * (moves run in the store's worker). pre: serial lock.
 */
static void dm_rma_serve_hint(dm_dsm_t *d, int src, const dm_rma_hdr_t *h, size_t len)
{
    uint64_t first = h->addr >> d->page_shift, n = (uint64_t)h->a, end;
    dm_status_t st = DM_ERR_INVALID_PARAM;

    if (len != 0 || h->len != 0 || (h->addr & (d->page_size - 1)) != 0 || h->a <= 0 ||
        first >= d->place.npages || n > d->place.npages - first) {
        DM_ERROR("rank %d: malformed placement hint", src);
        dm_tp_peer_fail(d->tp, src, "malformed placement hint");
        return;
    }
    /* the sender's view of the allocations may be stale (a dm_free race) */
    if (dm_dsm_alloc_span(d, first, first + n - 1, &end) == 0) {
        st = dm_dsm_homemem_hint(d, first, n, (uint32_t)((uint64_t)h->b >> 32),
                                 (int32_t)(uint32_t)((uint64_t)h->b & UINT32_MAX));
    }
    dm_rma_reply(d, src, h, st, 0, NULL);
}

/* An operation for a page homed here, from src (this rank included). pre: serial lock. */
static void dm_rma_serve(dm_dsm_t *d, int src, const dm_rma_hdr_t *h, const void *data,
                         size_t len)
{
    uint64_t page = h->addr >> d->page_shift;
    dm_dsm_dirent_t *e;
    dm_rma_op_t *op;
    dm_status_t st;

    if (h->op == DM_RMA_HINT) {
        dm_rma_serve_hint(d, src, h, len);
        return;
    }
    st = dm_rma_check_home(d, h, len);

    if (st == DM_ERR_PROTOCOL) {
        DM_ERROR("rank %d: malformed one-sided operation %u", src, h->op);
        dm_tp_peer_fail(d->tp, src, "malformed one-sided operation");
        return;
    }
    if (st != DM_OK) {
        dm_rma_reply(d, src, h, st, 0, NULL);
        return;
    }
    if (!d->pages[page].rmaq && dm_rma_try(d, src, h, data)) {
        atomic_fetch_add_explicit(&d->st_rma_home_direct, 1, memory_order_relaxed);
        dm_rma_hand_over(d, src, page);
        return;
    }
    e = dm_dsm_dirent(d, page);
    op = malloc(sizeof(*op) + len);
    if (e == NULL || op == NULL) {
        free(op);
        dm_rma_reply(d, src, h, DM_ERR_NO_MEMORY, 0, NULL);
        return;
    }
    op->next = NULL;
    op->src = src;
    op->h = *h;
    if (len > 0) {
        memcpy(op->data, data, len);
    }
    if (e->rma_tail != NULL) {
        e->rma_tail->next = op;
    } else {
        e->rma_head = op;
    }
    e->rma_tail = op;
    d->pages[page].rmaq = 1;
    dm_rma_page_changed(d, page);
    dm_dsm_drain(d);
}

/*
 * A batch from src: its operations are served (or its answers taken) in
 * the order they were queued, exactly as that many messages would be; the
 * answers to served operations go back as one batch. Returns 0 when the
 * message is malformed (what came before the fault was handled).
 * pre: serial lock.
 */
static int dm_rma_on_batch(dm_dsm_t *d, int src, const dm_rma_hdr_t *bh, const void *data,
                           size_t len)
{
    const unsigned char *p = data;
    size_t bytes = (size_t)bh->a, off = 0, k;
    uint32_t n = bh->len, i;
    int answering = d->rma_ans->peer < 0, ok = 1;
    dm_rma_hdr_t h;

    if (n < 2 || n > DM_RMA_BATCH_OPS || bh->a < 0 || bytes > len ||
        len - bytes != n * sizeof(h)) {
        return 0;
    }
    if (answering) {
        d->rma_ans->peer = src; /* nested (served while draining): answered one by one */
    }
    for (i = 0; i < n && ok; i++) {
        memcpy(&h, p + bytes + i * sizeof(h), sizeof(h));
        k = dm_rma_payload(&h);
        if (k > bytes - off) {
            ok = 0;
        } else if (h.op == DM_RMA_REPLY) {
            dm_rma_complete(d, src, &h, p + off, k);
        } else if (h.op >= DM_RMA_PUT && h.op < DM_RMA_REPLY) {
            dm_rma_serve(d, src, &h, p + off, k);
        } else {
            ok = 0;
        }
        off += k;
    }
    if (ok && off != bytes) {
        ok = 0;
    }
    if (answering) {
        if (dm_rma_batch_post(d, d->rma_ans) != DM_OK) {
            DM_ERROR("answers to rank %d lost: %s", src, dm_last_error());
        }
        d->rma_ans->peer = -1;
    }
    return ok;
}

static void dm_rma_on_msg(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                          size_t len)
{
    dm_dsm_t *d = arg;
    dm_rma_hdr_t h;

    if (hdr_len != sizeof(h)) {
        goto bad;
    }
    memcpy(&h, hdr, sizeof(h));
    if (h.op == DM_RMA_REPLY) {
        dm_rma_complete(d, src, &h, data, len);
        return;
    }
    if (h.op == DM_RMA_BATCH) {
        if (!dm_rma_on_batch(d, src, &h, data, len)) {
            goto bad;
        }
        return;
    }
    if (h.op < DM_RMA_PUT || h.op >= DM_RMA_REPLY) {
        goto bad;
    }
    dm_rma_serve(d, src, &h, data, len);
    return;
bad:
    DM_ERROR("rank %d: malformed one-sided message (%zu-byte header)", src, hdr_len);
    dm_tp_peer_fail(d->tp, src, "malformed one-sided message");
}

dm_status_t dm_rma_init(dm_dsm_t *d)
{
    dm_status_t st;
    int i;

    d->rq_free = UINT32_MAX;
    d->rma_error = DM_OK;
    d->rma_out = calloc(DM_RMA_OUT, sizeof(*d->rma_out));
    d->rma_ans = calloc(1, sizeof(*d->rma_ans));
    if (d->rma_out == NULL || d->rma_ans == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "one-sided batches");
    }
    for (i = 0; i < DM_RMA_OUT; i++) {
        if ((st = dm_rma_batch_alloc(d, &d->rma_out[i])) != DM_OK) {
            return st;
        }
    }
    if ((st = dm_rma_batch_alloc(d, d->rma_ans)) != DM_OK) {
        return st;
    }
    dm_tp_set_release(d->tp, dm_rma_release, d);
    return dm_tp_am_register(d->tp, DM_DSM_AM_RMA, dm_rma_on_msg, d);
}

void dm_rma_cleanup(dm_dsm_t *d)
{
    dm_dsm_dirent_t *e;

    /* from here on nobody calls dm_rma_release; what is still held is dropped with d */
    dm_tp_set_release(d->tp, NULL, NULL);
    for (e = d->dir_list; e != NULL; e = e->next) {
        while (e->rma_head != NULL) {
            dm_rma_op_t *op = e->rma_head;

            e->rma_head = op->next;
            free(op);
        }
        e->rma_tail = NULL;
    }
    for (int i = 0; d->rma_out != NULL && i < DM_RMA_OUT; i++) {
        free(d->rma_out[i].buf);
    }
    if (d->rma_ans != NULL) {
        free(d->rma_ans->buf);
    }
    free(d->rma_out);
    free(d->rma_ans);
    d->rma_out = NULL;
    d->rma_ans = NULL;
    free(d->rq);
    free(d->rq_gen);
    free(d->rq_next);
    d->rq = NULL;
    d->rq_gen = NULL;
    d->rq_next = NULL;
    d->rq_cap = 0;
    d->rq_free = UINT32_MAX;
}

/* ------------------------------------------------------------------ */
/* issuing                                                              */

/*
 * Tells the span cache (direct.h) that page, up to end, lies in one live
 * allocation, as dm_dsm_alloc_span just answered. The heap of a rank is
 * one allocation from its first page on, so from a heap page on the span
 * is the rank's heap; a region's, from page on. pre: serial lock, the
 * check made under this hold of it.
 */
static void dm_rma_span_note(dm_dsm_t *d, uint64_t page, uint64_t end)
{
    if (d->direct_home) {
        dm_dsm_direct_span_note(d, page >= d->place.coll_pages ? end - d->place.heap_pages : page,
                                end);
    }
}

/*
 * Checks that [p, p + len) is distmem memory inside one allocation; sets
 * *off_p to its offset in the address space. Takes the serial lock.
 */
static dm_status_t dm_rma_check(dm_dsm_t *d, const char *what, const void *p, size_t len,
                                uint64_t *off_p)
{
    uint64_t off, end;
    int ok;

    if (p == NULL || !dm_gas_contains(&d->gas, p, len)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "%s: %p (%zu bytes) is not distmem memory",
                            what, p, len);
    }
    off = (uintptr_t)p - d->gas.base;
    dm_tp_serial_enter(d->tp);
    ok = dm_dsm_alloc_span(d, off >> d->page_shift, (off + len - 1) >> d->page_shift, &end) == 0;
    if (ok) {
        dm_rma_span_note(d, off >> d->page_shift, end); /* for the next call's direct path */
    }
    dm_tp_serial_leave(d->tp);
    if (!ok) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "%s: %p (%zu bytes) is not inside one distmem allocation", what, p,
                            len);
    }
    *off_p = off;
    return DM_OK;
}

static int dm_rma_window_open(void *arg)
{
    dm_dsm_t *d = arg;

    return atomic_load_explicit(&d->rma_inflight, memory_order_acquire) < DM_RMA_WINDOW;
}

#define DM_RMA_DIRECT_TRIES 16 /* word reads before a direct operation gives way to a message */

/*
 * Direct operations between two polls of the same-host peers' pidfds
 * (dm_dsm_direct_check): nothing else tells an initiator that a home it
 * only accesses directly died. A poll is a system call (about 1 us on a
 * VM), so at 4096 it costs well under a nanosecond per operation; a home
 * that died is noticed within 4096 direct operations of this process
 * (a fraction of a millisecond at full rate), and at once by every
 * operation that has to send a message.
 */
#define DM_RMA_DIRECT_CHECK 4096
_Static_assert((DM_RMA_DIRECT_CHECK & (DM_RMA_DIRECT_CHECK - 1)) == 0 &&
                   DM_RMA_DIRECT_CHECK > DM_RMA_RUN_PAGES,
               "dm_rma_direct_done_n needs a power of two above the pages of a run");

/*
 * Runs op on [off, off + len), within one page, on the home memory of the
 * page's home, a rank of this host, under the page's word (direct.c's
 * essay): a get or fetch when the word says U or S (a seqlock read),
 * anything else only in U, holding the word. Returns 1 when done (*old_p:
 * the word before an atomic; a get's bytes in out), 0 when it must go as
 * a message. old_p NULL: an atomic whose value nobody wants
 * (dm_rma_apply_held). pre: nothing of the calling thread's in flight (so nothing
 * it issued earlier is overtaken); the page inside a live allocation;
 * out and data not distmem memory. Takes no lock: the page word is the
 * only thing shared with the home and the other initiators here.
 */
static inline __attribute__((always_inline)) int
dm_rma_direct_at(dm_dsm_t *d, uint8_t op, uint64_t off, size_t len, const void *data, void *out,
                 int64_t a, int64_t b, int64_t *old_p)
{
    uint64_t page = off >> d->page_shift, v, v2;
    _Atomic uint64_t *w = &d->dwords[page];
    unsigned char *p = d->home_mem + off;
    int write = dm_rma_writes(op);

    for (int i = 0; i < DM_RMA_DIRECT_TRIES; i++) {
        v = atomic_load_explicit(w, memory_order_acquire);
        if ((v & DM_DSM_DW_HELD) != 0) {
            __builtin_ia32_pause();
            continue;
        }
        if (!write) {
            int64_t old;

            if (!dm_dsm_dw_readable(v)) {
                return 0;
            }
            old = dm_rma_apply_at(p, op, len, a, b, data, out);

            if (old_p != NULL) {
                *old_p = old;
            }
            atomic_thread_fence(memory_order_acquire);
            v2 = atomic_load_explicit(w, memory_order_relaxed);
            if (v2 == v) {
                return 1; /* no release in between: what was copied is the current data */
            }
            continue;
        }
        if ((v & DM_DSM_DW_STATE) != DM_DSM_DW_U) {
            return 0;
        }
        if (dm_dsm_dw_try_hold(w, v)) {
            if (old_p != NULL || op == DM_RMA_PUT) {
                int64_t old = dm_rma_apply_at(p, op, len, a, b, data, out);

                if (old_p != NULL) {
                    *old_p = old;
                }
            } else {
                dm_rma_apply_held(p, op, a, b);
            }
            atomic_store_explicit(w, dm_dsm_dw_next(v, DM_DSM_DW_U), memory_order_release);
            return 1;
        }
    }
    return 0;
}

static int dm_rma_direct(dm_dsm_t *d, const dm_rma_hdr_t *h, const void *data, void *out,
                         int64_t *old_p)
{
    return dm_rma_direct_at(d, h->op, h->addr, h->len, data, out, h->a, h->b, old_p);
}

/*
 * Counts k direct operations (st_rma_direct) and, every DM_RMA_DIRECT_CHECK
 * of them, polls the same-host peers for their death. locked: the caller
 * holds the serial lock (the check needs it). The count is a load and a
 * store, not an atomic add: a locked instruction here cost a fifth of a
 * direct operation (perf, this VM). So it is exact while one thread issues
 * and may miss counts when threads issue at the same moment; it is a
 * statistic, and the check only needs it to keep advancing.
 */
/* Adds k to a statistic by a load and a store (see dm_rma_direct_done_n); returns the value before. */
static inline uint_fast64_t dm_rma_stat_add(atomic_uint_fast64_t *c, unsigned k)
{
    uint_fast64_t was = atomic_load_explicit(c, memory_order_relaxed);

    atomic_store_explicit(c, was + k, memory_order_relaxed);
    return was;
}

static inline void dm_rma_direct_done_n(dm_dsm_t *d, int locked, unsigned k)
{
    uint_fast64_t was = dm_rma_stat_add(&d->st_rma_direct, k), n = was + k;

    /* a multiple of DM_RMA_DIRECT_CHECK (a power of two, above k) was reached */
    if (DM_UNLIKELY((was ^ n) >= DM_RMA_DIRECT_CHECK)) {
        if (!locked) {
            dm_tp_serial_enter(d->tp);
        }
        dm_dsm_direct_check(d);
        if (!locked) {
            dm_tp_serial_leave(d->tp);
        }
    }
}

static inline void dm_rma_direct_done(dm_dsm_t *d, int locked)
{
    dm_rma_direct_done_n(d, locked, 1);
}

/*
 * Runs h without a message when it can: on this process's own copy when it
 * grants the access (the local shortcut), or on the home memory of a
 * same-host home (dm_rma_direct); only with nothing of ours in flight, so
 * nothing issued earlier is overtaken. Returns 1 when done (*old_p: the
 * word before an atomic; a get's bytes in out). pre: serial lock.
 */
static int dm_rma_here(dm_dsm_t *d, const dm_rma_hdr_t *h, const void *data, void *out,
                       int64_t *old_p)
{
    uint64_t page = h->addr >> d->page_shift;
    int home = dm_dsm_home_of(d, page);
    dm_coh_state_t s = (dm_coh_state_t)atomic_load(&d->pages[page].state);

    if (atomic_load_explicit(&d->rma_inflight, memory_order_relaxed) != 0) {
        return 0;
    }
    if (!d->pages[page].rmaq && dm_dsm_state_allows(s, dm_rma_writes(h->op))) {
        *old_p = dm_rma_apply(d, dm_dsm_app_page(d, page), h, data, out);
        atomic_fetch_add_explicit(&d->st_rma_local, 1, memory_order_relaxed);
        return 1;
    }
    if (home < 0 || d->direct_peer == NULL || !d->direct_peer[home]) {
        return 0;
    }
    /* a failed home: the message path reports it */
    if (dm_tp_peer_failed(d->tp, home) || !dm_rma_direct(d, h, data, out, old_p)) {
        return 0;
    }
    dm_rma_direct_done(d, 1);
    return 1;
}

/*
 * Issues one operation on one page, part of request r (NULL for a put
 * nobody waits for). pre: serial lock, and room in the window.
 */
static dm_status_t dm_rma_one(dm_dsm_t *d, struct dm_request *r, const dm_rma_hdr_t *h,
                              const void *data)
{
    uint64_t page = h->addr >> d->page_shift;
    int home = dm_dsm_home_of(d, page);
    int64_t old = 0;
    dm_status_t st;

    if (dm_rma_here(d, h, data, r != NULL && r->buf != NULL ? r->buf + h->roff : NULL, &old)) {
        if (r != NULL) {
            r->value = old;
        }
        return DM_OK;
    }
    atomic_fetch_add_explicit(&d->rma_inflight, 1, memory_order_relaxed);
    if (r != NULL) {
        r->left++;
    }
    if (home == d->rank) {
        dm_rma_serve(d, d->rank, h, data, h->op == DM_RMA_PUT ? h->len : 0);
        return DM_OK;
    }
    /* a failure answers the operations it held (dm_rma_out_flush): counts stay right */
    st = dm_rma_out_add(d, home, h, data);
    atomic_fetch_add_explicit(&d->st_rma_remote, 1, memory_order_relaxed);
    return st;
}

/*
 * The pages the calling thread last found fit for the direct path: pages
 * of one direct peer (the same home by placement), all inside one live
 * allocation of d (one span cache entry), seen so under the span cache's
 * seq. While seq still reads that value, no allocation was freed since
 * (direct.h), so the next call on any of these pages skips the home's
 * placement arithmetic (a division), the peer table and the span cache's
 * scan: about 2 of a word-sized put's 14.6 ns (docs/performance.md). d is compared
 * too, so a runtime started after dm_finalize never inherits it (seq
 * keeps growing across runtimes). Thread-local: no thread sees another's.
 */
typedef struct dm_rma_last {
    const dm_dsm_t *d;    /* NULL: none */
    uint64_t        lo;   /* first page */
    uint64_t        n;    /* pages */
    uint64_t        seq;  /* dm_dsm_spans.seq when they were checked (even) */
    int             home; /* their home: a direct peer */
} dm_rma_last_t;

static _Thread_local dm_rma_last_t dm_rma_last __attribute__((tls_model("initial-exec")));

/* dm_rma_direct_page when page is not among the thread's last pages. */
static __attribute__((noinline)) int dm_rma_direct_page_check(dm_dsm_t *d, uint64_t page)
{
    dm_rma_last_t *l = &dm_rma_last;
    uint64_t seq, lo, end, plo, pend;
    int home = dm_dsm_home_of(d, page);

    if (home < 0 || d->direct_peer == NULL || !d->direct_peer[home] ||
        !dm_dsm_direct_span_find(d, page, page, &lo, &end, &seq)) {
        return -1;
    }
    dm_dsm_home_run(d, page, &plo, &pend);
    lo = DM_MAX(lo, plo);
    end = DM_MIN(end, pend);
    l->d = d;
    l->lo = lo;
    l->n = end - lo;
    l->seq = seq;
    l->home = home;
    return home;
}

/*
 * The home of page when the direct path may run on it: a direct peer's
 * page that the span cache knows to lie inside a live allocation (when it
 * does not know, the locked path checks and fills it). -1 otherwise.
 * Takes no lock.
 */
static inline __attribute__((always_inline)) int dm_rma_direct_page(dm_dsm_t *d, uint64_t page)
{
    const dm_rma_last_t *l = &dm_rma_last;

    if (l->d == d && page - l->lo < l->n &&
        atomic_load_explicit(&dm_dsm_spans.seq, memory_order_acquire) == l->seq) {
        return l->home;
    }
    return dm_rma_direct_page_check(d, page);
}

/* dm_rma_fast's second part, under the serial lock; out of line, so the first stays small. */
static __attribute__((noinline)) int dm_rma_fast_locked(dm_dsm_t *d, uint8_t op, uint64_t off,
                                                        size_t len, const void *data, void *out,
                                                        int64_t a, int64_t b, int64_t *old_p)
{
    uint64_t page = off >> d->page_shift, end;
    int64_t old;
    dm_rma_hdr_t h;
    int done;

    if (old_p == NULL) {
        old_p = &old;
    }
    memset(&h, 0, sizeof(h));
    h.op = op;
    h.len = (uint32_t)len;
    h.addr = off;
    h.a = a;
    h.b = b;
    dm_tp_serial_enter(d->tp);
    done = dm_dsm_alloc_span(d, page, page, &end) == 0;
    if (done) {
        dm_rma_span_note(d, page, end);
    }
    done = done && dm_rma_here(d, &h, data, out, old_p);
    dm_tp_serial_leave(d->tp);
    return done;
}

/* 1 when [gaddr, gaddr + len) is non-empty and within one page of the address space; *off_p: its offset. */
static inline __attribute__((always_inline)) int
dm_rma_one_page(const dm_dsm_t *d, const void *gaddr, size_t len, uint64_t *off_p)
{
    uint64_t off;

    if (len == 0 || gaddr == NULL || !dm_gas_contains(&d->gas, gaddr, len)) {
        return 0;
    }
    off = (uintptr_t)gaddr - d->gas.base;
    *off_p = off;
    return ((off + len - 1) >> d->page_shift) == off >> d->page_shift;
}

/* dm_rma_fast's first part, without any lock. pre: dm_rma_one_page(off, len). */
static inline __attribute__((always_inline)) int
dm_rma_fast_direct(dm_dsm_t *d, uint8_t op, uint64_t off, size_t len, const void *data,
                   void *out, int64_t a, int64_t b, int64_t *old_p)
{
    int home = dm_rma_direct_page(d, off >> d->page_shift);

    if (home >= 0 && atomic_load_explicit(&d->rma_inflight, memory_order_acquire) == 0 &&
        !atomic_load_explicit(&d->peer_failed[home], memory_order_relaxed) &&
        dm_rma_direct_at(d, op, off, len, data, out, a, b, old_p)) {
        dm_rma_direct_done(d, 0);
        return 1;
    }
    return 0;
}

/*
 * The fast path of a call on one page, before anything is allocated or
 * locked. Returns 1 when done, 0 when the call must take the full path
 * (which also reports every error). out and data must not be distmem
 * memory (no fault here). old_p: an atomic's value before; NULL when
 * nobody wants it (a put, a get, a non-fetching atomic). pre: no serial
 * lock.
 *
 * First, with no lock at all, the same-host direct path (dm_rma_direct_at)
 * when the page's home is a rank of this host, the span cache (direct.h)
 * knows the page is allocated, nothing of this process is in flight and the
 * home is not known to have failed. This is the common case of a program
 * that keeps operating on a same-host peer's pages once they were handed
 * over; it is also right when this process holds a copy of the page: a
 * copy here makes the word X (M: the get or put takes the next step) or
 * S (home memory equals the copy, so a get reads the same bytes).
 * Threads: every shared thing it reads is atomic or read-only after start;
 * the page word orders it against the home and the other initiators.
 * rma_inflight == 0 is checked without the serial lock: another thread may
 * issue a message meanwhile, but calls of different threads are not
 * ordered against each other (only a thread's own, and dm_quiet), and
 * this thread's own earlier operations are answered when it reads 0.
 *
 * Otherwise, under one take of the serial lock and without a request, the
 * operation runs where dm_rma_here can run it (the local shortcut, or
 * the direct path again), after the locked allocation check, whose answer
 * fills the span cache for the next call.
 */
static inline __attribute__((always_inline)) int
dm_rma_fast(dm_dsm_t *d, uint8_t op, const void *gaddr, size_t len, const void *data, void *out,
            int64_t a, int64_t b, int64_t *old_p)
{
    uint64_t off;

    return dm_rma_one_page(d, gaddr, len, &off) &&
           (dm_rma_fast_direct(d, op, off, len, data, out, a, b, old_p) ||
            dm_rma_fast_locked(d, op, off, len, data, out, a, b, old_p));
}

/*
 * A put (write) or get over several pages on the same-host direct path, a
 * run of pages at a time. A put: takes the words of up to DM_RMA_RUN_PAGES
 * consecutive pages (each U and not held, its home a live rank of this
 * host that shares home memory, this rank included: the word orders
 * whoever writes home memory; by compare-and-swap, as dm_rma_direct_at
 * does), copies the run into home
 * memory with one memcpy, and releases the words still U (a release store:
 * whoever sees a word released sees the page's new bytes). Returns the
 * bytes done from the start; the caller sends the rest the usual way (a
 * word that is not U, or held, or a home that cannot be reached directly,
 * ends the run there). It never waits for a word while holding others (a
 * try, then stop), so it cannot deadlock with the home or another
 * initiator, who hold one word at a time. A get: the seqlock read of
 * dm_rma_direct_at over the run: reads the words (each U or S and not
 * held), copies with one memcpy, reads them again; all unchanged means no
 * release came in between, so the bytes are the current data of every
 * page (a run that changed goes the usual way, with the rest). buf: the
 * put's data or the get's destination, not distmem memory. pre: as for
 * dm_rma_fast's direct path (no lock).
 *
 * Why runs: page by page (the locked path, one memcpy of 4 KiB each) a
 * 1 MiB put reached 0.54-0.64x OpenSHMEM's bandwidth; one memcpy per run
 * takes the C library's string-instruction path for large copies and
 * reached 1.06-1.42x, at the same latency (docs/performance.md).
 * Non-temporal stores gave a little more bandwidth but 2.7-2.9x the latency
 * of a 256 KiB put, since the destination then left the cache.
 */
/* Whether a run may include a page of home (-1: not known yet). */
static inline int dm_rma_run_home_ok(dm_dsm_t *d, int home)
{
    return home >= 0 && (home == d->rank ? d->direct_home
                                         : d->direct_peer[home] &&
                                               !atomic_load_explicit(&d->peer_failed[home],
                                                                     memory_order_relaxed));
}

/*
 * Takes (write) or reads the words of a run's next pages, page first: how
 * many (0 when the run must end before page; at most max, max >= 1, and at
 * most 2: a put takes an aligned pair of words with one locked instruction
 * where it can, dm_dsm_dw_try_hold2). *hend_p: the end of the pages before
 * page known to share a home this rank reaches directly; a home is looked
 * up only past it (once per block of the placement, not per page: the
 * lookup's divisions cost as much as the compare-and-swap).
 */
static inline unsigned dm_rma_run_word(dm_dsm_t *d, uint64_t page, uint64_t max, int write,
                                       uint64_t *hend_p, uint64_t *v)
{
    _Atomic uint64_t *w = &d->dwords[page];

    v[0] = atomic_load_explicit(w, write ? memory_order_relaxed : memory_order_acquire);
    if (page >= *hend_p) {
        uint64_t lo;

        if (!dm_rma_run_home_ok(d, dm_dsm_home_of(d, page))) {
            return 0;
        }
        dm_dsm_home_run(d, page, &lo, hend_p);
    }
    if (!write) {
        return (unsigned)dm_dsm_dw_readable(v[0]);
    }
    if (DM_DSM_DW_PAIRS && max >= 2 && (page & 1) == 0 && page + 1 < *hend_p) {
        v[1] = atomic_load_explicit(w + 1, memory_order_relaxed);
        if (dm_dsm_dw_try_hold2(w, v[0], v[1])) {
            return 2;
        }
    }
    return (unsigned)dm_dsm_dw_try_hold(w, v[0]);
}

static size_t dm_rma_runs(dm_dsm_t *d, int write, const void *gaddr, unsigned char *buf,
                          size_t len)
{
    uint64_t word[DM_RMA_RUN_PAGES];
    uint64_t off, first, last, hend = 0;
    size_t done = 0;

    if (d->direct_peer == NULL || !dm_gas_contains(&d->gas, gaddr, len)) {
        return 0;
    }
    off = (uintptr_t)gaddr - d->gas.base;
    first = off >> d->page_shift;
    last = (off + len - 1) >> d->page_shift;
    if (first == last || atomic_load_explicit(&d->rma_inflight, memory_order_acquire) != 0 ||
        !dm_dsm_direct_span_hit_range(d, first, last)) {
        return 0;
    }
    while (done < len) {
        uint64_t at = off + done, p0 = at >> d->page_shift;
        unsigned n = 0, i;
        size_t run;

        while (p0 + n <= last && n < DM_RMA_RUN_PAGES) {
            unsigned k = dm_rma_run_word(d, p0 + n, DM_MIN(DM_RMA_RUN_PAGES - n, last + 1 - p0 - n),
                                         write, &hend, &word[n]);

            if (k == 0) {
                break;
            }
            n += k;
        }
        if (n == 0) {
            break;
        }
        run = DM_MIN(len - done, ((p0 + n) << d->page_shift) - at);
        if (write) {
            memcpy(d->home_mem + at, buf + done, run);
            for (i = 0; i < n; i++) {
                atomic_store_explicit(&d->dwords[p0 + i], dm_dsm_dw_next(word[i], DM_DSM_DW_U),
                                      memory_order_release);
            }
        } else {
            memcpy(buf + done, d->home_mem + at, run);
            atomic_thread_fence(memory_order_acquire);
            for (i = 0; i < n; i++) {
                if (atomic_load_explicit(&d->dwords[p0 + i], memory_order_relaxed) != word[i]) {
                    return done; /* a release came in between */
                }
            }
        }
        dm_rma_direct_done_n(d, 0, n);
        (void)dm_rma_stat_add(&d->st_rma_run_pages, n);
        done += run;
        if (n < DM_RMA_RUN_PAGES && p0 + n <= last) {
            break; /* a page refused: the rest goes the usual way */
        }
    }
    return done;
}

/*
 * Issues op on [off, off + len) in parts of at most one page, as request r
 * (NULL: a put nobody waits for). src: a put's data (not distmem memory).
 * send: the caller waits for r next, so the open batches go now (else
 * they stay open: see "Held operations"). On failure the parts already
 * issued still complete.
 */
static dm_status_t dm_rma_issue(dm_dsm_t *d, struct dm_request *r, uint8_t op, uint64_t off,
                                size_t len, const unsigned char *src, int64_t a, int64_t b,
                                int send)
{
    dm_rma_hdr_t h;
    size_t done = 0;
    dm_status_t st = DM_OK;

    memset(&h, 0, sizeof(h));
    h.op = op;
    h.a = a;
    h.b = b;
    /* first-touch placement: every page's home known (or this rank made home) first */
    st = dm_dsm_place_lookup(d, off >> d->page_shift, (off + len - 1) >> d->page_shift,
                             (off + len - 1) >> d->page_shift);
    if (st != DM_OK) {
        if (r != NULL) {
            dm_rma_fail(r, st, dm_last_error());
            r->left = 0;
            atomic_store_explicit(&r->done, 1, memory_order_release);
        }
        return st;
    }
    dm_tp_serial_enter(d->tp);
    if (r != NULL && (st = dm_rma_slot_get(d, r)) != DM_OK) {
        dm_rma_fail(r, st, dm_last_error());
        r->left = 0;
        atomic_store_explicit(&r->done, 1, memory_order_release);
        dm_tp_serial_leave(d->tp);
        return st;
    }
    while (done < len) {
        size_t in_page = (off + done) & (d->page_size - 1);
        size_t n = DM_MIN(len - done, d->page_size - in_page);

        if (!dm_rma_window_open(d)) {
            if ((st = dm_rma_out_flush_all(d)) != DM_OK) {
                break;
            }
            dm_tp_serial_leave(d->tp);
            st = dm_tp_wait_until(d->tp, dm_rma_window_open, d);
            dm_tp_serial_enter(d->tp);
            if (st != DM_OK) {
                break;
            }
        }
        h.addr = off + done;
        h.len = (uint32_t)n;
        h.roff = done;
        h.tag = dm_rma_tag(r, d);
        st = dm_rma_one(d, r, &h, src != NULL ? src + done : NULL);
        if (st != DM_OK) {
            break;
        }
        done += n;
    }
    if (send || st != DM_OK) {
        /* a failed call's held parts are answered with the failure now */
        dm_status_t st2 = dm_rma_out_flush_all(d);

        if (st == DM_OK) {
            st = st2;
        }
    }
    if (r != NULL) {
        if (st != DM_OK) {
            dm_rma_fail(r, st, dm_last_error());
        }
        dm_rma_part_done(d, r); /* the issuing thread's count */
    }
    dm_tp_serial_leave(d->tp);
    return st;
}

static int dm_rma_req_done(void *arg)
{
    struct dm_request *r = arg;

    return atomic_load_explicit(&r->done, memory_order_acquire);
}

/* Waits for r and finishes it (bounce copy); frees it when owned. */
static dm_status_t dm_rma_finish(dm_dsm_t *d, struct dm_request *r, int64_t *old_p)
{
    dm_status_t st = dm_tp_wait_until(d->tp, dm_rma_req_done, r);

    if (st != DM_OK) {
        /* a peer failed: give up the request; late answers are dropped */
        dm_tp_serial_enter(d->tp);
        dm_rma_slot_put(d, r);
        dm_tp_serial_leave(d->tp);
    } else if (r->status != DM_OK) {
        st = dm_error_set(r->status, "%s", r->msg);
    } else {
        if (r->user != NULL) {
            memcpy(r->user, r->buf, r->len); /* may fault: no lock held */
        }
        if (old_p != NULL) {
            *old_p = r->value;
        }
    }
    if (r->user != NULL) {
        free(r->buf);
    }
    if (r->owned) {
        free(r);
    }
    return st;
}

static void dm_rma_req_init(struct dm_request *r, int owned)
{
    memset(r, 0, sizeof(*r));
    r->left = 1;
    r->slot = UINT32_MAX;
    r->owned = owned;
    r->status = DM_OK;
    atomic_init(&r->done, 0);
}

/* A local buffer that is distmem memory is copied outside the serial lock. */
static int dm_rma_needs_bounce(const dm_dsm_t *d, const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p;

    return a < d->gas.base + d->gas.size && a + len > d->gas.base;
}

/* dm_dsm_put past its fast path (every case but a one-page put that ran direct). */
static __attribute__((noinline)) dm_status_t dm_rma_put_full(dm_dsm_t *d, void *dst,
                                                             const void *src, size_t len,
                                                             struct dm_request **req_p)
{
    struct dm_request *r = NULL;
    const unsigned char *from = src;
    unsigned char *bounce = NULL;
    uint64_t off = 0;
    dm_status_t st;

    if (len > 0 && src == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_put: NULL source");
    }
    if (len > d->page_size && !dm_rma_needs_bounce(d, src, len)) {
        /* write: buf is only read */
        size_t done = dm_rma_runs(d, 1, dst, (unsigned char *)(uintptr_t)src, len);

        /* the part done is complete: the rest is a put of its own */
        dst = (unsigned char *)dst + done;
        src = from = from + done;
        len -= done;
        if (len == 0) {
            if (req_p != NULL) {
                *req_p = &dm_rma_done_req;
            }
            return DM_OK;
        }
    }
    if (!dm_rma_needs_bounce(d, src, len) && dm_rma_one_page(d, dst, len, &off) &&
        dm_rma_fast_locked(d, DM_RMA_PUT, off, len, src, NULL, 0, 0, NULL)) {
        if (req_p != NULL) {
            *req_p = &dm_rma_done_req;
        }
        return DM_OK;
    }
    if (len > 0 && (st = dm_rma_check(d, "dm_put", dst, len, &off)) != DM_OK) {
        return st;
    }
    if (req_p != NULL) {
        r = malloc(sizeof(*r));
        if (r == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "dm_put_nb: request");
        }
        dm_rma_req_init(r, 1);
    }
    if (len > 0 && dm_rma_needs_bounce(d, src, len)) {
        bounce = malloc(len);
        if (bounce == NULL) {
            free(r);
            return dm_error_set(DM_ERR_NO_MEMORY, "dm_put: copy of %zu bytes", len);
        }
        memcpy(bounce, src, len); /* plain loads: may fault */
        from = bounce;
    }
    st = len > 0 ? dm_rma_issue(d, r, DM_RMA_PUT, off, len, from, 0, 0, 0) : DM_OK;
    free(bounce); /* every part was copied or applied when issued */
    if (r == NULL) {
        return st;
    }
    if (len == 0) {
        atomic_store(&r->done, 1);
    }
    if (st != DM_OK) {
        /* the request waits for the parts already sent, then reports the failure */
        dm_status_t st2 = dm_rma_finish(d, r, NULL);

        return st2 != DM_OK ? st2 : st;
    }
    *req_p = r;
    return DM_OK;
}

dm_status_t dm_dsm_put(dm_dsm_t *d, void *dst, const void *src, size_t len,
                       struct dm_request **req_p)
{
    uint64_t off;

    /* the common small put on a same-host peer's page: no frame for the rest */
    if (src != NULL && !dm_rma_needs_bounce(d, src, len) && dm_rma_one_page(d, dst, len, &off) &&
        dm_rma_fast_direct(d, DM_RMA_PUT, off, len, src, NULL, 0, 0, NULL)) {
        if (req_p != NULL) {
            *req_p = &dm_rma_done_req;
        }
        return DM_OK;
    }
    return dm_rma_put_full(d, dst, src, len, req_p);
}

dm_status_t dm_dsm_get(dm_dsm_t *d, void *dst, const void *src, size_t len,
                       struct dm_request **req_p)
{
    struct dm_request rs, *r = &rs;
    uint64_t off = 0;
    dm_status_t st;

    if (len > 0 && dst == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_get: NULL destination");
    }
    if (len > d->page_size && !dm_rma_needs_bounce(d, dst, len)) {
        size_t done = dm_rma_runs(d, 0, src, dst, len);

        /* the part done is complete: the rest is a get of its own */
        dst = (unsigned char *)dst + done;
        src = (const unsigned char *)src + done;
        len -= done;
        if (len == 0) {
            if (req_p != NULL) {
                *req_p = &dm_rma_done_req;
            }
            return DM_OK;
        }
    }
    if (!dm_rma_needs_bounce(d, dst, len) &&
        dm_rma_fast(d, DM_RMA_GET, src, len, NULL, dst, 0, 0, NULL)) {
        if (req_p != NULL) {
            *req_p = &dm_rma_done_req;
        }
        return DM_OK;
    }
    if (len > 0 && (st = dm_rma_check(d, "dm_get", src, len, &off)) != DM_OK) {
        return st;
    }
    if (req_p != NULL && (r = malloc(sizeof(*r))) == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_get_nb: request");
    }
    dm_rma_req_init(r, req_p != NULL);
    r->buf = dst;
    r->len = len;
    if (len > 0 && dm_rma_needs_bounce(d, dst, len)) {
        r->buf = malloc(len);
        if (r->buf == NULL) {
            if (r->owned) {
                free(r);
            }
            return dm_error_set(DM_ERR_NO_MEMORY, "dm_get: buffer of %zu bytes", len);
        }
        r->user = dst;
    }
    if (len == 0) {
        atomic_store(&r->done, 1);
        st = DM_OK;
    } else {
        st = dm_rma_issue(d, r, DM_RMA_GET, off, len, NULL, 0, 0, req_p == NULL);
    }
    if (req_p == NULL || st != DM_OK) {
        dm_status_t st2 = dm_rma_finish(d, r, NULL);

        return st2 != DM_OK ? st2 : st;
    }
    *req_p = r;
    return DM_OK;
}

dm_status_t dm_dsm_wait(dm_dsm_t *d, struct dm_request *req)
{
    if (req == &dm_rma_done_req) {
        return DM_OK; /* completed when issued: nothing to wait for, nothing to free */
    }
    if (req == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_wait: NULL request");
    }
    return dm_rma_finish(d, req, NULL);
}

static int dm_rma_quiet_cond(void *arg)
{
    dm_dsm_t *d = arg;

    return atomic_load_explicit(&d->rma_inflight, memory_order_acquire) == 0;
}

dm_status_t dm_dsm_quiet(dm_dsm_t *d)
{
    dm_status_t st = DM_OK;

    if (atomic_load_explicit(&d->rma_inflight, memory_order_acquire) != 0) {
        st = dm_tp_wait_until(d->tp, dm_rma_quiet_cond, d);
        if (st != DM_OK) {
            return st;
        }
    }
    /*
     * No failure recorded (the common case): done without the lock. A
     * failure is recorded before its operation leaves rma_inflight
     * (dm_rma_complete), so having seen 0 this load sees it.
     */
    if (__atomic_load_n(&d->rma_error, __ATOMIC_ACQUIRE) == DM_OK) {
        /*
         * Direct puts and non-fetching atomics end with plain stores to
         * home memory: the fence orders them before whatever this thread
         * does next, as the serial lock's locked instruction did before.
         */
        atomic_thread_fence(memory_order_seq_cst);
        return DM_OK;
    }
    dm_tp_serial_enter(d->tp);
    if (d->rma_error != DM_OK) {
        st = dm_error_set(d->rma_error, "%s", d->rma_error_msg);
        __atomic_store_n(&d->rma_error, DM_OK, __ATOMIC_RELAXED);
    }
    dm_tp_serial_leave(d->tp);
    return st;
}

dm_status_t dm_dsm_atomic(dm_dsm_t *d, dm_dsm_amo_t op, int64_t *addr, int64_t a, int64_t b,
                          int64_t *old_p)
{
    static const uint8_t ops[] = { DM_RMA_FADD, DM_RMA_CSWAP, DM_RMA_SWAP, DM_RMA_FETCH };
    struct dm_request r;
    uint64_t off = 0;
    dm_status_t st;

    if ((unsigned)op >= sizeof(ops)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "atomic operation %d", (int)op);
    }
    if (((uintptr_t)addr & 7) != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "atomic on %p: not an 8-byte aligned word",
                            (void *)addr);
    }
    /* old_p NULL: nobody wants the value (a fetch always returns one) */
    if (dm_rma_fast(d, ops[op], addr, 8, NULL, NULL, a, b,
                    old_p != NULL || op != DM_DSM_AMO_FETCH ? old_p : &r.value)) {
        return DM_OK;
    }
    if ((st = dm_rma_check(d, "atomic", addr, 8, &off)) != DM_OK) {
        return st;
    }
    if (old_p == NULL && op != DM_DSM_AMO_FETCH) {
        /* nobody wants the value: posted like a put, complete at dm_quiet */
        return dm_rma_issue(d, NULL, ops[op], off, 8, NULL, a, b, 0);
    }
    dm_rma_req_init(&r, 0);
    st = dm_rma_issue(d, &r, ops[op], off, 8, NULL, a, b, 1);
    if (st != DM_OK) {
        dm_status_t st2 = dm_rma_finish(d, &r, NULL);

        return st2 != DM_OK ? st2 : st;
    }
    return dm_rma_finish(d, &r, old_p);
}

dm_status_t dm_rma_hint(dm_dsm_t *d, const uint8_t *homes, uint64_t first, uint64_t npages,
                        uint32_t what, int32_t arg)
{
    struct dm_request r;
    dm_rma_hdr_t h;
    dm_status_t st;
    int home;

    dm_rma_req_init(&r, 0);
    memset(&h, 0, sizeof(h));
    h.op = DM_RMA_HINT;
    h.addr = first << d->page_shift;
    h.a = (int64_t)npages;
    h.b = (int64_t)((uint64_t)what << 32 | (uint32_t)arg);
    dm_tp_serial_enter(d->tp);
    if ((st = dm_rma_slot_get(d, &r)) != DM_OK) {
        dm_tp_serial_leave(d->tp);
        return st;
    }
    h.tag = dm_rma_tag(&r, d);
    for (home = 0; home < d->nranks && st == DM_OK; home++) {
        if (!homes[home]) {
            continue;
        }
        if (!dm_rma_window_open(d)) {
            if ((st = dm_rma_out_flush_all(d)) != DM_OK) {
                break;
            }
            dm_tp_serial_leave(d->tp);
            st = dm_tp_wait_until(d->tp, dm_rma_window_open, d);
            dm_tp_serial_enter(d->tp);
            if (st != DM_OK) {
                break;
            }
        }
        atomic_fetch_add_explicit(&d->rma_inflight, 1, memory_order_relaxed);
        r.left++;
        if (home == d->rank) {
            dm_rma_serve(d, d->rank, &h, NULL, 0); /* answered at once */
        } else {
            /* one operation per home, so one message (batches are per home) */
            st = dm_rma_out_add(d, home, &h, NULL);
            atomic_fetch_add_explicit(&d->st_hint_msgs, 1, memory_order_relaxed);
        }
    }
    {
        dm_status_t st2 = dm_rma_out_flush_all(d);

        if (st == DM_OK) {
            st = st2;
        }
    }
    if (st != DM_OK) {
        dm_rma_fail(&r, st, dm_last_error());
    }
    dm_rma_part_done(d, &r); /* the issuing thread's count */
    dm_tp_serial_leave(d->tp);
    return dm_rma_finish(d, &r, NULL);
}

typedef struct dm_rma_until {
    const volatile int64_t *addr;
    dm_dsm_cmp_t            cmp;
    int64_t                 value;
} dm_rma_until_t;

static int dm_rma_until_cond(void *arg)
{
    const dm_rma_until_t *u = arg;
    int64_t v = *u->addr; /* a plain load through the page protocol: may fault */

    switch (u->cmp) {
    case DM_DSM_CMP_EQ:
        return v == u->value;
    case DM_DSM_CMP_NE:
        return v != u->value;
    case DM_DSM_CMP_GT:
        return v > u->value;
    case DM_DSM_CMP_GE:
        return v >= u->value;
    case DM_DSM_CMP_LT:
        return v < u->value;
    default:
        return v <= u->value;
    }
}

dm_status_t dm_dsm_wait_until(dm_dsm_t *d, const int64_t *addr, dm_dsm_cmp_t cmp, int64_t value)
{
    dm_rma_until_t u = { .addr = addr, .cmp = cmp, .value = value };
    uint64_t off;
    dm_status_t st;

    if ((unsigned)cmp > DM_DSM_CMP_LE) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_wait_until: comparison %d", (int)cmp);
    }
    if (((uintptr_t)addr & 7) != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "dm_wait_until on %p: not an 8-byte aligned word", (const void *)addr);
    }
    if ((st = dm_rma_check(d, "dm_wait_until", addr, 8, &off)) != DM_OK) {
        return st;
    }
    return dm_tp_wait_until(d->tp, dm_rma_until_cond, &u);
}
