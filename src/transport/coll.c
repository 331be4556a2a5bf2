/*
 * Collectives over active messages (see coll.h for the contract).
 *
 * Arrival: the handler copies every collective message into the inbox,
 * whatever its sequence number; a waiting rank takes out the one it needs.
 * Invariant: a message is in the inbox at most once and is consumed by
 * exactly one wait, because (seq, round, src) is unique per job.
 */
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "log.h"
#include "status.h"
#include "tp_int.h"
#include "util.h"

typedef struct dm_coll_hdr {
    uint32_t seq;
    uint32_t round;
} dm_coll_hdr_t;

static void dm_coll_am_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                               const void *data, size_t len)
{
    dm_tp_t *tp = arg;
    dm_coll_hdr_t h;
    dm_coll_msg_t *m;

    if (hdr_len != sizeof(h)) {
        DM_ERROR("dropped a collective message from rank %d with a %zu-byte header", src, hdr_len);
        return;
    }
    memcpy(&h, hdr, sizeof(h));
    m = malloc(sizeof(*m) + len);
    if (m == NULL) {
        dm_tp_peer_fail(tp, src, "out of memory holding a collective message");
        return;
    }
    m->seq = h.seq;
    m->round = h.round;
    m->src = src;
    m->len = len;
    memcpy(m->data, data, len);
    pthread_mutex_lock(&tp->coll.lock);
    m->next = tp->coll.inbox;
    tp->coll.inbox = m;
    pthread_mutex_unlock(&tp->coll.lock);
}

dm_status_t dm_coll_init(dm_tp_t *tp)
{
    pthread_mutex_init(&tp->coll.lock, NULL);
    tp->coll.inbox = NULL;
    tp->coll.seq = 0;
    return dm_tp_am_register(tp, DM_TP_AM_COLL, dm_coll_am_handler, tp);
}

void dm_coll_cleanup(dm_tp_t *tp)
{
    dm_coll_msg_t *m;

    while ((m = tp->coll.inbox) != NULL) {
        tp->coll.inbox = m->next;
        free(m);
    }
    pthread_mutex_destroy(&tp->coll.lock);
}

static dm_coll_msg_t *dm_coll_take(dm_tp_t *tp, uint32_t seq, uint32_t round, int src)
{
    dm_coll_msg_t **pp, *m = NULL;

    pthread_mutex_lock(&tp->coll.lock);
    for (pp = &tp->coll.inbox; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->seq == seq && (*pp)->round == round && (*pp)->src == src) {
            m = *pp;
            *pp = m->next;
            break;
        }
    }
    pthread_mutex_unlock(&tp->coll.lock);
    return m;
}

/*
 * Any failed peer dooms a collective: the messages this rank waits for may
 * depend on it through others. A peer that departed normally (said goodbye)
 * dooms nothing, since it finished every collective first; only waiting for
 * a message from it that never came is an error (see dm_coll_recv).
 */
static dm_status_t dm_coll_check_failed(dm_tp_t *tp)
{
    int r = dm_tp_first_failed(tp);

    if (DM_LIKELY(r < 0)) {
        return DM_OK;
    }
    return dm_tp_peer_error_as(tp, r, "collective cannot complete");
}

/*
 * Waits for message (seq, round) from src; the caller frees it. A goodbye
 * from src is handled after every message src sent before it, so once src
 * has departed a message not in the inbox will never come.
 */
static dm_status_t dm_coll_recv(dm_tp_t *tp, uint32_t seq, uint32_t round, int src,
                                dm_coll_msg_t **m_p)
{
    dm_coll_msg_t *m;
    dm_status_t st = DM_OK;

    dm_tp_backoff_t b = { 0, 0 };

    dm_tp_wait_enter(tp);
    while ((m = dm_coll_take(tp, seq, round, src)) == NULL) {
        if (DM_UNLIKELY(dm_tp_peer_departed(tp, src))) {
            if ((m = dm_coll_take(tp, seq, round, src)) == NULL) {
                st = dm_error_set(DM_ERR_PEER_FAILED,
                                  "collective cannot complete: rank %d finished and left the "
                                  "job before its part of it (collectives called in a "
                                  "different order?)",
                                  src);
            }
            break;
        }
        dm_tp_backoff(&b, dm_tp_progress(tp));
        if ((st = dm_coll_check_failed(tp)) != DM_OK) {
            break;
        }
    }
    dm_tp_wait_leave(tp);
    if (m != NULL) {
        *m_p = m;
        return DM_OK;
    }
    return st;
}

static dm_status_t dm_coll_send(dm_tp_t *tp, int dst, uint32_t seq, uint32_t round,
                                const void *data, size_t len)
{
    dm_coll_hdr_t h = { .seq = seq, .round = round };
    dm_status_t st;

    if ((st = dm_coll_check_failed(tp)) != DM_OK) {
        return st;
    }
    return dm_tp_am_send(tp, dst, DM_TP_AM_COLL, &h, sizeof(h), data, len);
}

dm_status_t dm_tp_barrier(dm_tp_t *tp)
{
    uint32_t seq = tp->coll.seq++, round = 0;
    dm_coll_msg_t *m;
    dm_status_t st;
    int n = tp->nranks, r = tp->rank, d;

    for (d = 1; d < n; d <<= 1, round++) {
        st = dm_coll_send(tp, (r + d) % n, seq, round, NULL, 0);
        if (st != DM_OK) {
            return st;
        }
        st = dm_coll_recv(tp, seq, round, (r - d + n) % n, &m);
        if (st != DM_OK) {
            return st;
        }
        free(m);
    }
    return DM_OK;
}

dm_status_t dm_tp_bcast(dm_tp_t *tp, int root, void *buf, size_t len)
{
    uint32_t seq = tp->coll.seq++;
    int n = tp->nranks, vr, mask;
    dm_coll_msg_t *m;
    dm_status_t st;

    if (root < 0 || root >= n) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "broadcast root %d of %d ranks", root, n);
    }
    vr = (tp->rank - root + n) % n;
    /* Receive from the parent: the rank that differs in vr's lowest set bit. */
    for (mask = 1; mask < n; mask <<= 1) {
        if (vr & mask) {
            st = dm_coll_recv(tp, seq, 0, ((vr - mask) + root) % n, &m);
            if (st != DM_OK) {
                return st;
            }
            if (m->len != len) {
                st = dm_error_set(DM_ERR_PROTOCOL, "broadcast of %zu bytes received %zu", len,
                                  m->len);
                free(m);
                return st;
            }
            memcpy(buf, m->data, len);
            free(m);
            break;
        }
    }
    /* Send to the children below that bit. */
    for (mask >>= 1; mask > 0; mask >>= 1) {
        if (vr + mask < n) {
            st = dm_coll_send(tp, (vr + mask + root) % n, seq, 0, buf, len);
            if (st != DM_OK) {
                return st;
            }
        }
    }
    return DM_OK;
}

dm_status_t dm_tp_allgather(dm_tp_t *tp, const void *in, void *out, size_t len)
{
    uint32_t seq = tp->coll.seq++, round = 0;
    int n = tp->nranks, r = tp->rank, d, cnt, i;
    unsigned char *tmp;
    dm_coll_msg_t *m;
    dm_status_t st = DM_OK;

    /* tmp[i] holds the block of rank (r + i) % n once filled. */
    tmp = malloc((size_t)n * len + 1);
    if (tmp == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "allgather buffer of %zu bytes", (size_t)n * len);
    }
    memcpy(tmp, in, len);
    for (d = 1; d < n; d <<= 1, round++) {
        cnt = DM_MIN(d, n - d);
        st = dm_coll_send(tp, (r - d + n) % n, seq, round, tmp, (size_t)cnt * len);
        if (st != DM_OK) {
            goto out;
        }
        st = dm_coll_recv(tp, seq, round, (r + d) % n, &m);
        if (st != DM_OK) {
            goto out;
        }
        if (m->len != (size_t)cnt * len) {
            st = dm_error_set(DM_ERR_PROTOCOL, "allgather round %u: %zu bytes, expected %zu",
                              round, m->len, (size_t)cnt * len);
            free(m);
            goto out;
        }
        memcpy(tmp + (size_t)d * len, m->data, m->len);
        free(m);
    }
    for (i = 0; i < n; i++) {
        memcpy((unsigned char *)out + (size_t)((r + i) % n) * len, tmp + (size_t)i * len, len);
    }
out:
    free(tmp);
    return st;
}
