/*
 * Page coherence: a home-based directory with a single-writer /
 * multiple-reader invalidation protocol (MSI), the protocol of the thesis in
 * shared/seeds/004 made concrete.
 *
 * THE ESSAY
 *
 * Every page has one home rank. The home's directory entry says who may
 * read the page (the sharers) or who may write it (the single owner); home
 * memory holds the page's data whenever nobody owns it. A node's copy is in
 * one of three stable states, I (no access), S (read-only) or M (read and
 * write), enforced by the page protection of its mapping, so ordinary loads
 * and stores either run at full speed or fault into the protocol.
 *
 * Invariants (checked exhaustively by tests/coherence/test_coh_explore.c):
 *   SWMR   at any instant either exactly one node may write the page and no
 *          other node may read it, or no node may write it;
 *   DATA   every read returns the value of the most recent write in the one
 *          order in which the home serializes writers (home memory when
 *          nobody owns the page, the owner's copy otherwise).
 * Together they give sequential consistency per page; with the runtime's
 * fences at barriers and lock hand-offs they give SC for data-race-free
 * programs (docs/memory-model.md).
 *
 * Serialization at the home. The home handles one transaction per page at
 * a time. A GETS or GETM that arrives while a transaction is in flight
 * waits in the page's FIFO; write-backs (PUTM), acknowledgements and
 * recalled data are never queued (queuing them could wait on themselves).
 *
 * Network assumption. Messages between one pair of ranks arrive in the
 * order sent (UCX active messages on one endpoint are ordered; tp.h). The
 * races below are resolved by that order, not by sequence numbers:
 *   - INV reaching a node that already dropped its read-only copy (silent
 *     S eviction) or that is waiting for data: it acknowledges and carries
 *     on; it is not a sharer any more as far as the new transaction goes.
 *   - RECALL crossing a write-back: the owner evicted (sent PUTM, state
 *     MI_A) while the home recalled the page for another node. The owner
 *     answers the recall from its write-back buffer; the home, seeing PUTM
 *     from the node it waits on, acknowledges it and takes the data from
 *     RECALL_DATA, which the pair order guarantees comes next. The home's
 *     PUT_ACK leaves after its RECALL, so the owner sees RECALL first.
 *   - A node never has two requests for one page in flight: it stalls local
 *     accesses in the transient states, and in MI_A until PUT_ACK.
 *
 * Revoke before handing over. Before a node sends a page's data to anyone
 * (RECALL_DATA, PUTM) it revokes its own write access (PROTECT comes before
 * SEND in the action list). mprotect/userfaultfd write-protection changes
 * the page tables and shoots down the TLB of every CPU running this
 * process; the IPI that does it drains each CPU's store buffer, so every
 * store made under the old write permission is in memory before the copy
 * is taken, and no store can land after it. Sending first would let a
 * store that sits in a store buffer (or happens between copy and revoke)
 * vanish: the "lost write" the model checker's mutant demonstrates.
 *
 * Forward progress. After a WAKE, the node lets the woken access run before
 * it handles another message for that page; otherwise a page can be
 * recalled between installation and the retried access, forever (a cycle
 * of reachable states: safety still holds, liveness does not; checking it
 * under fairness is the model checker's job, issue #4).
 *
 * Memory. Node-side functions never allocate (they run on the fault path).
 * The home allocates only to grow a sharer set or a request queue, and
 * reports DM_ERR_NO_MEMORY without changing anything when that fails.
 */
#include "coh.h"

#include <stdlib.h>
#include <string.h>

static void dm_coh_send(dm_coh_emit_t emit, void *ctx, dm_coh_msg_type_t msg, int dst,
                        int with_data)
{
    dm_coh_action_t a = { .type = DM_COH_ACT_SEND, .msg = msg, .dst = dst, .with_data = with_data };

    emit(ctx, &a);
}

static void dm_coh_do(dm_coh_emit_t emit, void *ctx, dm_coh_action_type_t type)
{
    dm_coh_action_t a = { .type = type };

    emit(ctx, &a);
}

static void dm_coh_protect(dm_coh_emit_t emit, void *ctx, dm_coh_prot_t prot)
{
    dm_coh_action_t a = { .type = DM_COH_ACT_PROTECT, .prot = prot };

    emit(ctx, &a);
}

dm_coh_prot_t dm_coh_state_prot(dm_coh_state_t s)
{
    switch (s) {
    case DM_COH_S:
    case DM_COH_SM_D:
        return DM_COH_PROT_READ;
    case DM_COH_M:
        return DM_COH_PROT_WRITE;
    default:
        return DM_COH_PROT_NONE;
    }
}

/* ------------------------------------------------------------------ */
/* node side                                                            */

dm_status_t dm_coh_node_local(dm_coh_state_t *state, dm_coh_local_t ev, int home,
                              dm_coh_emit_t emit, void *ctx)
{
    switch (*state) {
    case DM_COH_I:
        if (ev == DM_COH_READ) {
            dm_coh_send(emit, ctx, DM_COH_GETS, home, 0);
            *state = DM_COH_IS_D;
            dm_coh_do(emit, ctx, DM_COH_ACT_STALL);
        } else if (ev == DM_COH_WRITE) {
            dm_coh_send(emit, ctx, DM_COH_GETM, home, 0);
            *state = DM_COH_IM_D;
            dm_coh_do(emit, ctx, DM_COH_ACT_STALL);
        }
        return DM_OK;
    case DM_COH_S:
        if (ev == DM_COH_WRITE) {
            dm_coh_send(emit, ctx, DM_COH_GETM, home, 0);
            *state = DM_COH_SM_D;
            dm_coh_do(emit, ctx, DM_COH_ACT_STALL);
        } else if (ev == DM_COH_EVICT) {
            /* silent: the home may still list us and send an INV, which we ack in I */
            dm_coh_protect(emit, ctx, DM_COH_PROT_NONE);
            *state = DM_COH_I;
        }
        return DM_OK;
    case DM_COH_M:
        if (ev == DM_COH_EVICT) {
            dm_coh_protect(emit, ctx, DM_COH_PROT_NONE); /* revoke, then copy */
            dm_coh_send(emit, ctx, DM_COH_PUTM, home, 1);
            *state = DM_COH_MI_A;
        }
        return DM_OK;
    case DM_COH_SM_D:
        if (ev == DM_COH_WRITE) {
            dm_coh_do(emit, ctx, DM_COH_ACT_STALL);
        } else if (ev == DM_COH_EVICT) {
            /* drop the read-only copy; DATA_M brings the page anyway */
            dm_coh_protect(emit, ctx, DM_COH_PROT_NONE);
            *state = DM_COH_IM_D;
        }
        return DM_OK;
    case DM_COH_IS_D:
    case DM_COH_IM_D:
    case DM_COH_MI_A:
        if (ev != DM_COH_EVICT) {
            dm_coh_do(emit, ctx, DM_COH_ACT_STALL);
        }
        return DM_OK;
    default:
        return DM_ERR_PROTOCOL;
    }
}

dm_status_t dm_coh_node_msg(dm_coh_state_t *state, dm_coh_msg_type_t msg, int home,
                            dm_coh_emit_t emit, void *ctx)
{
    dm_coh_state_t s = *state;

    switch (msg) {
    case DM_COH_INV:
        switch (s) {
        case DM_COH_S:
            dm_coh_protect(emit, ctx, DM_COH_PROT_NONE);
            *state = DM_COH_I;
            break;
        case DM_COH_SM_D:
            dm_coh_protect(emit, ctx, DM_COH_PROT_NONE);
            *state = DM_COH_IM_D;
            break;
        case DM_COH_I:
        case DM_COH_IS_D:
        case DM_COH_IM_D:
            break; /* a stale sharer entry: acknowledge */
        default:
            return DM_ERR_PROTOCOL;
        }
        dm_coh_send(emit, ctx, DM_COH_INV_ACK, home, 0);
        return DM_OK;
    case DM_COH_RECALL_S:
    case DM_COH_RECALL_I:
        if (s == DM_COH_M) {
            /* revoke (drains store buffers via the TLB shootdown), then copy */
            dm_coh_protect(emit, ctx, msg == DM_COH_RECALL_S ? DM_COH_PROT_READ : DM_COH_PROT_NONE);
            dm_coh_send(emit, ctx, DM_COH_RECALL_DATA, home, 1);
            *state = msg == DM_COH_RECALL_S ? DM_COH_S : DM_COH_I;
            return DM_OK;
        }
        if (s == DM_COH_MI_A) {
            /* crossed our write-back: answer from the write-back buffer */
            dm_coh_send(emit, ctx, DM_COH_RECALL_DATA, home, 1);
            return DM_OK;
        }
        return DM_ERR_PROTOCOL;
    case DM_COH_DATA_S:
        if (s != DM_COH_IS_D) {
            return DM_ERR_PROTOCOL;
        }
        dm_coh_do(emit, ctx, DM_COH_ACT_INSTALL);
        dm_coh_protect(emit, ctx, DM_COH_PROT_READ);
        *state = DM_COH_S;
        dm_coh_do(emit, ctx, DM_COH_ACT_WAKE);
        return DM_OK;
    case DM_COH_DATA_M:
        if (s != DM_COH_IM_D && s != DM_COH_SM_D) {
            return DM_ERR_PROTOCOL;
        }
        dm_coh_do(emit, ctx, DM_COH_ACT_INSTALL);
        dm_coh_protect(emit, ctx, DM_COH_PROT_WRITE);
        *state = DM_COH_M;
        dm_coh_do(emit, ctx, DM_COH_ACT_WAKE);
        return DM_OK;
    case DM_COH_PUT_ACK:
        if (s != DM_COH_MI_A) {
            return DM_ERR_PROTOCOL;
        }
        *state = DM_COH_I;
        dm_coh_do(emit, ctx, DM_COH_ACT_WAKE);
        return DM_OK;
    default:
        return DM_ERR_PROTOCOL;
    }
}

/* ------------------------------------------------------------------ */
/* sharer sets                                                          */

static int dm_coh_sharers_find(const dm_coh_sharers_t *s, int32_t r, uint32_t *pos)
{
    uint32_t lo = 0, hi = s->count;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;

        if (s->ranks[mid] < r) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *pos = lo;
    return lo < s->count && s->ranks[lo] == r;
}

/*
 * Makes room for extra more ranks: in the entry's inline array while they
 * fit there, else on the heap (the only allocation of the sharer set).
 */
static int dm_coh_sharers_reserve(dm_coh_sharers_t *s, uint32_t extra)
{
    uint32_t cap;
    int32_t *r;

    if (s->count + extra <= s->cap) {
        return 0;
    }
    if (s->cap == 0 && s->count + extra <= DM_COH_SHARERS_INLINE) {
        s->ranks = s->inl;
        s->cap = DM_COH_SHARERS_INLINE;
        return 0;
    }
    cap = s->cap ? s->cap * 2 : 2 * DM_COH_SHARERS_INLINE;
    while (cap < s->count + extra) {
        cap *= 2;
    }
    if (s->ranks == s->inl) {
        r = malloc(cap * sizeof(*r));
        if (r != NULL) {
            memcpy(r, s->inl, s->count * sizeof(*r));
        }
    } else {
        r = realloc(s->ranks, cap * sizeof(*r));
    }
    if (r == NULL) {
        return -1;
    }
    s->ranks = r;
    s->cap = cap;
    return 0;
}

/* pre: room reserved */
static void dm_coh_sharers_add(dm_coh_sharers_t *s, int32_t r)
{
    uint32_t pos;

    if (dm_coh_sharers_find(s, r, &pos)) {
        return;
    }
    memmove(&s->ranks[pos + 1], &s->ranks[pos], (s->count - pos) * sizeof(*s->ranks));
    s->ranks[pos] = r;
    s->count++;
}

static void dm_coh_sharers_remove(dm_coh_sharers_t *s, int32_t r)
{
    uint32_t pos;

    if (!dm_coh_sharers_find(s, r, &pos)) {
        return;
    }
    memmove(&s->ranks[pos], &s->ranks[pos + 1], (s->count - pos - 1) * sizeof(*s->ranks));
    s->count--;
}

/* ------------------------------------------------------------------ */
/* home side                                                            */

void dm_coh_dir_init(dm_coh_dir_t *dir)
{
    memset(dir, 0, sizeof(*dir));
    dir->state = DM_COH_H_U;
    dir->owner = -1;
    dir->wait_from = -1;
}

void dm_coh_dir_cleanup(dm_coh_dir_t *dir)
{
    if (dir->sharers.ranks != dir->sharers.inl) {
        free(dir->sharers.ranks);
    }
    free(dir->queue);
    memset(dir, 0, sizeof(*dir));
}

static int dm_coh_queue_reserve(dm_coh_dir_t *dir)
{
    dm_coh_req_t *q;
    uint32_t cap, i;

    if (dir->qlen < dir->qcap) {
        return 0;
    }
    cap = dir->qcap ? dir->qcap * 2 : 4;
    q = malloc(cap * sizeof(*q));
    if (q == NULL) {
        return -1;
    }
    for (i = 0; i < dir->qlen; i++) {
        q[i] = dir->queue[(dir->qhead + i) % dir->qcap];
    }
    free(dir->queue);
    dir->queue = q;
    dir->qcap = cap;
    dir->qhead = 0;
    return 0;
}

static void dm_coh_finish(dm_coh_dir_t *dir)
{
    dir->busy = 0;
    dir->wait_from = -1;
    dir->acks_left = 0;
}

/* Makes src the page's only writer and sends it the page. */
static void dm_coh_grant_m(dm_coh_dir_t *dir, int32_t src, dm_coh_emit_t emit, void *ctx)
{
    dir->state = DM_COH_H_M;
    dir->owner = src;
    dm_coh_send(emit, ctx, DM_COH_DATA_M, src, 1);
}

/* Opens a transaction for req that waits for the owner's data (RECALL_S or RECALL_I). */
static void dm_coh_recall(dm_coh_dir_t *dir, dm_coh_req_t req, dm_coh_msg_type_t recall,
                          dm_coh_emit_t emit, void *ctx)
{
    dir->busy = 1;
    dir->cur = req;
    dir->wait_from = dir->owner;
    dm_coh_send(emit, ctx, recall, dir->owner, 0);
}

/*
 * Starts serving a request (pre: not busy). Returns DM_ERR_NO_MEMORY with
 * nothing changed, or DM_ERR_PROTOCOL for a request that cannot come from
 * src in this state.
 */
static dm_status_t dm_coh_home_serve(dm_coh_dir_t *dir, dm_coh_req_t req, dm_coh_emit_t emit,
                                     void *ctx)
{
    uint32_t i;

    if (req.type == DM_COH_GETS) {
        switch (dir->state) {
        case DM_COH_H_U:
        case DM_COH_H_S:
            if (dm_coh_sharers_reserve(&dir->sharers, 1) != 0) {
                return DM_ERR_NO_MEMORY;
            }
            dm_coh_sharers_add(&dir->sharers, req.src);
            dir->state = DM_COH_H_S;
            dm_coh_send(emit, ctx, DM_COH_DATA_S, req.src, 1);
            return DM_OK;
        case DM_COH_H_M:
            if (dir->owner == req.src) {
                return DM_ERR_PROTOCOL;
            }
            /* reserve now so completing the recall cannot fail */
            if (dm_coh_sharers_reserve(&dir->sharers, 2) != 0) {
                return DM_ERR_NO_MEMORY;
            }
            dm_coh_recall(dir, req, DM_COH_RECALL_S, emit, ctx);
            return DM_OK;
        }
        return DM_ERR_PROTOCOL;
    }

    /* GETM */
    switch (dir->state) {
    case DM_COH_H_U:
        dm_coh_grant_m(dir, req.src, emit, ctx);
        return DM_OK;
    case DM_COH_H_S:
        dm_coh_sharers_remove(&dir->sharers, req.src);
        if (dir->sharers.count == 0) {
            dm_coh_grant_m(dir, req.src, emit, ctx);
            return DM_OK;
        }
        dir->busy = 1;
        dir->cur = req;
        dir->acks_left = dir->sharers.count;
        for (i = 0; i < dir->sharers.count; i++) {
            dm_coh_send(emit, ctx, DM_COH_INV, dir->sharers.ranks[i], 0);
        }
        dir->sharers.count = 0;
        return DM_OK;
    case DM_COH_H_M:
        if (dir->owner == req.src) {
            return DM_ERR_PROTOCOL;
        }
        dm_coh_recall(dir, req, DM_COH_RECALL_I, emit, ctx);
        return DM_OK;
    }
    return DM_ERR_PROTOCOL;
}

/* Serves queued requests until one goes in flight or the queue is empty. */
static dm_status_t dm_coh_home_drain(dm_coh_dir_t *dir, dm_coh_emit_t emit, void *ctx)
{
    dm_status_t st;

    while (!dir->busy && dir->qlen > 0) {
        dm_coh_req_t req = dir->queue[dir->qhead];

        st = dm_coh_home_serve(dir, req, emit, ctx);
        if (st == DM_ERR_NO_MEMORY) {
            return st; /* stays queued; the next message retries */
        }
        dir->qhead = (dir->qhead + 1) % dir->qcap;
        dir->qlen--;
        if (st != DM_OK) {
            return st;
        }
    }
    return DM_OK;
}

dm_status_t dm_coh_home_msg(dm_coh_dir_t *dir, dm_coh_msg_type_t msg, int src,
                            dm_coh_emit_t emit, void *ctx)
{
    dm_coh_req_t req = { .type = msg, .src = src };

    switch (msg) {
    case DM_COH_GETS:
    case DM_COH_GETM:
        if (dir->busy || dir->qlen > 0) {
            if (dm_coh_queue_reserve(dir) != 0) {
                return DM_ERR_NO_MEMORY;
            }
            dir->queue[(dir->qhead + dir->qlen) % dir->qcap] = req;
            dir->qlen++;
            return dm_coh_home_drain(dir, emit, ctx);
        }
        return dm_coh_home_serve(dir, req, emit, ctx);

    case DM_COH_INV_ACK:
        if (!dir->busy || dir->cur.type != DM_COH_GETM || dir->acks_left == 0) {
            return DM_ERR_PROTOCOL;
        }
        if (--dir->acks_left > 0) {
            return DM_OK;
        }
        dm_coh_grant_m(dir, dir->cur.src, emit, ctx);
        dm_coh_finish(dir);
        return dm_coh_home_drain(dir, emit, ctx);

    case DM_COH_RECALL_DATA:
        if (!dir->busy || dir->wait_from != src) {
            return DM_ERR_PROTOCOL;
        }
        dm_coh_do(emit, ctx, DM_COH_ACT_STORE);
        if (dir->cur.type == DM_COH_GETS) {
            /* the old owner keeps a read-only copy (or is evicting: then a stale entry) */
            dir->state = DM_COH_H_S;
            dir->owner = -1;
            dir->sharers.count = 0;
            dm_coh_sharers_add(&dir->sharers, src); /* room reserved when served */
            dm_coh_sharers_add(&dir->sharers, dir->cur.src);
            dm_coh_send(emit, ctx, DM_COH_DATA_S, dir->cur.src, 1);
        } else {
            dm_coh_grant_m(dir, dir->cur.src, emit, ctx);
        }
        dm_coh_finish(dir);
        return dm_coh_home_drain(dir, emit, ctx);

    case DM_COH_PUTM:
        if (dir->busy && dir->wait_from == src) {
            /* crossed our recall: the data follows in RECALL_DATA */
            dm_coh_send(emit, ctx, DM_COH_PUT_ACK, src, 0);
            return DM_OK;
        }
        if (dir->busy || dir->state != DM_COH_H_M || dir->owner != src) {
            return DM_ERR_PROTOCOL;
        }
        dm_coh_do(emit, ctx, DM_COH_ACT_STORE);
        dir->state = DM_COH_H_U;
        dir->owner = -1;
        dm_coh_send(emit, ctx, DM_COH_PUT_ACK, src, 0);
        return dm_coh_home_drain(dir, emit, ctx);

    default:
        return DM_ERR_PROTOCOL;
    }
}

const char *dm_coh_state_name(dm_coh_state_t s)
{
    static const char *const names[] = { "I", "S", "M", "IS_D", "IM_D", "SM_D", "MI_A" };

    return (unsigned)s < DM_COH_NSTATES ? names[s] : "?";
}

const char *dm_coh_msg_name(dm_coh_msg_type_t m)
{
    static const char *const names[] = { "?",       "GETS",     "GETM",        "PUTM",
                                         "INV",     "INV_ACK",  "RECALL_S",    "RECALL_I",
                                         "RECALL_DATA", "DATA_S", "DATA_M",    "PUT_ACK" };

    return (unsigned)m < DM_COH_NMSG ? names[m] : "?";
}
