/*
 * Global locks (lock.h).
 *
 * Invariants at a lock's home (serial lock held): holder is the rank that
 * was granted the lock last and has not released it, or -1; the queue
 * holds the ranks that asked while it was held, in arrival order, each at
 * most once (a rank has one request in flight per lock: its threads queue
 * on the handle's local mutex first).
 */
#include "lock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "dsm.h"
#include "log.h"
#include "status.h"

enum { DM_LOCK_ACQ = 1, DM_LOCK_GRANT, DM_LOCK_REL };

typedef struct dm_lock_hdr {
    uint8_t  type;
    uint8_t  pad[3];
    uint32_t id;
} dm_lock_hdr_t;

typedef struct dm_lock_home {
    int32_t  holder;
    int32_t *queue;
    uint32_t qhead, qlen, qcap;
} dm_lock_home_t;

struct dm_lock {
    uint32_t        id;
    int             home;
    pthread_mutex_t local;   /* threads of this process queue here */
    atomic_int      granted; /* set by the grant */
    pthread_t       owner;   /* valid while held */
    atomic_int      held;
};

struct dm_lock_svc {
    dm_tp_t         *tp;
    int              rank, nranks;
    uint32_t         next_id;  /* same in every rank: ids are created collectively */
    dm_lock_home_t **homes;    /* [id / nranks] for ids homed here; serial lock */
    size_t           homes_cap;
    dm_dsm_lock_t  **handles;  /* [id]: this rank's handle; serial lock */
    size_t           handles_cap;
};

static int dm_lock_grow(void **v, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 16;
    void *nv;

    if (need < *cap) {
        return 0;
    }
    while (ncap <= need) {
        ncap *= 2;
    }
    nv = realloc(*v, ncap * sizeof(void *));
    if (nv == NULL) {
        return -1;
    }
    memset((void **)nv + *cap, 0, (ncap - *cap) * sizeof(void *));
    *v = nv;
    *cap = ncap;
    return 0;
}

/* pre: serial lock */
static void dm_lock_grant(dm_lock_svc_t *svc, uint32_t id, int dst)
{
    dm_lock_hdr_t h = { .type = DM_LOCK_GRANT, .id = id };

    if (dst == svc->rank) {
        atomic_store_explicit(&svc->handles[id]->granted, 1, memory_order_release);
        return;
    }
    if (dm_tp_am_post(svc->tp, dst, DM_DSM_AM_LOCK, &h, sizeof(h), NULL, 0) != DM_OK) {
        DM_ERROR("lock %u: grant to rank %d lost: %s", id, dst, dm_last_error());
    }
}

/* The home's side. Returns -1 for a request that cannot be right. pre: serial lock. */
static int dm_lock_home_msg(dm_lock_svc_t *svc, int type, uint32_t id, int src)
{
    dm_lock_home_t *h;

    if (id >= svc->next_id || (int)(id % (uint32_t)svc->nranks) != svc->rank ||
        (h = svc->homes[id / (uint32_t)svc->nranks]) == NULL) {
        return -1;
    }
    if (type == DM_LOCK_ACQ) {
        if (h->holder < 0) {
            h->holder = src;
            dm_lock_grant(svc, id, src);
            return 0;
        }
        if (h->qlen == h->qcap) {
            uint32_t cap = h->qcap ? h->qcap * 2 : 4, i;
            int32_t *q = malloc(cap * sizeof(*q));

            if (q == NULL) {
                DM_ERROR("lock %u: no memory to queue rank %d", id, src);
                return -1;
            }
            for (i = 0; i < h->qlen; i++) {
                q[i] = h->queue[(h->qhead + i) % h->qcap];
            }
            free(h->queue);
            h->queue = q;
            h->qcap = cap;
            h->qhead = 0;
        }
        h->queue[(h->qhead + h->qlen) % h->qcap] = src;
        h->qlen++;
        return 0;
    }
    if (type == DM_LOCK_REL && h->holder == src) {
        if (h->qlen == 0) {
            h->holder = -1;
            return 0;
        }
        h->holder = h->queue[h->qhead];
        h->qhead = (h->qhead + 1) % h->qcap;
        h->qlen--;
        dm_lock_grant(svc, id, h->holder);
        return 0;
    }
    return -1;
}

static void dm_lock_on_msg(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                           size_t len)
{
    dm_lock_svc_t *svc = arg;
    dm_lock_hdr_t h;

    (void)data;
    if (hdr_len != sizeof(h) || len != 0) {
        goto bad;
    }
    memcpy(&h, hdr, sizeof(h));
    if (h.type == DM_LOCK_GRANT) {
        if (h.id >= svc->next_id || h.id >= svc->handles_cap || svc->handles[h.id] == NULL ||
            (int)(h.id % (uint32_t)svc->nranks) != src) {
            goto bad;
        }
        atomic_store_explicit(&svc->handles[h.id]->granted, 1, memory_order_release);
        return;
    }
    if (dm_lock_home_msg(svc, h.type, h.id, src) == 0) {
        return;
    }
bad:
    DM_ERROR("rank %d: malformed or unexpected lock message", src);
    dm_tp_peer_fail(svc->tp, src, "malformed or unexpected lock message");
}

dm_status_t dm_lock_svc_create(dm_tp_t *tp, dm_lock_svc_t **svc_p)
{
    dm_lock_svc_t *svc = calloc(1, sizeof(*svc));
    dm_status_t st;

    if (svc == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "lock service");
    }
    svc->tp = tp;
    svc->rank = dm_tp_rank(tp);
    svc->nranks = dm_tp_nranks(tp);
    st = dm_tp_am_register(tp, DM_DSM_AM_LOCK, dm_lock_on_msg, svc);
    if (st != DM_OK) {
        free(svc);
        return st;
    }
    *svc_p = svc;
    return DM_OK;
}

void dm_lock_svc_destroy(dm_lock_svc_t *svc)
{
    size_t i;

    if (svc == NULL) {
        return;
    }
    for (i = 0; i < svc->homes_cap; i++) {
        if (svc->homes[i] != NULL) {
            free(svc->homes[i]->queue);
            free(svc->homes[i]);
        }
    }
    for (i = 0; i < svc->handles_cap; i++) {
        if (svc->handles[i] != NULL) {
            pthread_mutex_destroy(&svc->handles[i]->local);
            free(svc->handles[i]);
        }
    }
    free(svc->homes);
    free(svc->handles);
    free(svc);
}

dm_status_t dm_lock_svc_new(dm_lock_svc_t *svc, dm_dsm_lock_t **lock_p)
{
    dm_dsm_lock_t *l = calloc(1, sizeof(*l));
    dm_lock_home_t *h = NULL;
    uint32_t id = svc->next_id;
    dm_status_t st;

    if (l == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_lock_create");
    }
    l->id = id;
    l->home = (int)(id % (uint32_t)svc->nranks);
    pthread_mutex_init(&l->local, NULL);
    if (l->home == svc->rank) {
        h = calloc(1, sizeof(*h));
        if (h == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "dm_lock_create");
            goto err;
        }
        h->holder = -1;
    }
    dm_tp_serial_enter(svc->tp);
    if (dm_lock_grow((void **)&svc->handles, &svc->handles_cap, id) != 0 ||
        (h != NULL && dm_lock_grow((void **)&svc->homes, &svc->homes_cap,
                                   id / (uint32_t)svc->nranks) != 0)) {
        dm_tp_serial_leave(svc->tp);
        st = dm_error_set(DM_ERR_NO_MEMORY, "dm_lock_create: lock tables");
        goto err;
    }
    svc->handles[id] = l;
    if (h != NULL) {
        svc->homes[id / (uint32_t)svc->nranks] = h;
    }
    svc->next_id++;
    dm_tp_serial_leave(svc->tp);
    /*
     * Collective: after the barrier every home has its entry. A rank that
     * failed above still takes part, so nobody waits for it in vain.
     */
    st = dm_tp_barrier(svc->tp);
    if (st != DM_OK) {
        return st; /* the handle stays registered; the job is damaged anyway */
    }
    *lock_p = l;
    return DM_OK;

err:
    free(h);
    pthread_mutex_destroy(&l->local);
    free(l);
    dm_tp_barrier(svc->tp);
    return st;
}

void dm_lock_svc_delete(dm_lock_svc_t *svc, dm_dsm_lock_t *l)
{
    uint32_t id = l->id;

    dm_tp_barrier(svc->tp);
    dm_tp_serial_enter(svc->tp);
    svc->handles[id] = NULL;
    if (l->home == svc->rank) {
        dm_lock_home_t *h = svc->homes[id / (uint32_t)svc->nranks];

        svc->homes[id / (uint32_t)svc->nranks] = NULL;
        if (h != NULL) {
            free(h->queue);
            free(h);
        }
    }
    dm_tp_serial_leave(svc->tp);
    pthread_mutex_destroy(&l->local);
    free(l);
}

static int dm_lock_granted(void *arg)
{
    dm_dsm_lock_t *l = arg;

    return atomic_load_explicit(&l->granted, memory_order_acquire);
}

/* Sends (or, at home, handles) a request. pre: serial lock. */
static dm_status_t dm_lock_request(dm_lock_svc_t *svc, dm_dsm_lock_t *l, int type)
{
    dm_lock_hdr_t h = { .type = (uint8_t)type, .id = l->id };

    if (l->home == svc->rank) {
        if (dm_lock_home_msg(svc, type, l->id, svc->rank) != 0) {
            return dm_error_set(DM_ERR_NO_MEMORY, "lock %u: request could not be queued", l->id);
        }
        return DM_OK;
    }
    return dm_tp_am_post(svc->tp, l->home, DM_DSM_AM_LOCK, &h, sizeof(h), NULL, 0);
}

dm_status_t dm_lock_svc_acquire(dm_lock_svc_t *svc, dm_dsm_lock_t *l)
{
    dm_status_t st;

    pthread_mutex_lock(&l->local);
    atomic_store(&l->granted, 0);
    dm_tp_serial_enter(svc->tp);
    st = dm_lock_request(svc, l, DM_LOCK_ACQ);
    dm_tp_serial_leave(svc->tp);
    if (st == DM_OK) {
        st = dm_tp_wait_until(svc->tp, dm_lock_granted, l);
    }
    if (st != DM_OK) {
        pthread_mutex_unlock(&l->local);
        return st;
    }
    l->owner = pthread_self();
    l->held = 1;
    atomic_thread_fence(memory_order_seq_cst);
    return DM_OK;
}

dm_status_t dm_lock_svc_release(dm_lock_svc_t *svc, dm_dsm_lock_t *l)
{
    dm_status_t st;

    if (!l->held || !pthread_equal(l->owner, pthread_self())) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_unlock of lock %u this thread does not hold",
                            l->id);
    }
    atomic_thread_fence(memory_order_seq_cst);
    l->held = 0;
    dm_tp_serial_enter(svc->tp);
    st = dm_lock_request(svc, l, DM_LOCK_REL);
    dm_tp_serial_leave(svc->tp);
    pthread_mutex_unlock(&l->local);
    return st;
}
