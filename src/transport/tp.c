/*
 * Transport over UCX. The design (progress, ordering, failure) is stated in
 * tp.h; this file keeps to it.
 *
 * Request ownership. Every UCX operation that may complete later carries a
 * descriptor (dm_tp_desc_t) as its callback's user data. The descriptor's
 * state decides who cleans up:
 *   PENDING   a waiter is blocked on it; the callback moves it to DONE and
 *             the waiter frees the UCX request and the descriptor;
 *   ABANDONED the waiter gave up (peer failed or timed out); the callback
 *             frees both when UCX finally completes the request;
 *   DETACHED  nobody waits (posted sends); the callback frees both.
 * The PENDING->DONE / PENDING->ABANDONED race is settled by one
 * compare-and-swap, so exactly one side frees.
 *
 * Posted sends hold the header (and the payload, when the send could not
 * complete at once) inside the descriptor, because UCX 1.13 has no flag to
 * copy an AM header: it must stay valid until completion.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "status.h"
#include "tp_int.h"
#include "util.h"

#define DM_TP_HANDOFF_NS     (200 * 1000ull) /* app idle this long before the thread steps in */
#define DM_TP_IDLE_POLL_MS   50              /* progress thread wakes at least this often */
#define DM_TP_HOLD_NS        (50 * 1000ull)  /* held messages leave after this long held */
/*
 * Its longest sleep while the application progresses. 250 us cost 3 us of
 * every 18 us TCP round trip (4,000 wake-ups a second beside two busy ranks
 * on two cores); a held message waits for it at worst.
 */
#define DM_TP_BACKOFF_MAX_NS (1000 * 1000ull)
#define DM_TP_FAIL_CHECK     1024            /* progress calls between bootstrap failure checks */
#define DM_TP_DESC_CHUNK     32              /* descriptors allocated at a time */
#define DM_TP_ADDR_KEY       "ucx.addr"
#define DM_TP_TRY_IMM_MAX    8192            /* try zero-copy immediate sends up to this size */

enum { DM_TP_REQ_PENDING, DM_TP_REQ_DONE, DM_TP_REQ_ABANDONED, DM_TP_REQ_DETACHED };

typedef struct dm_tp_desc {
    struct dm_tp_desc *next;   /* free list link */
    dm_tp_t           *tp;
    int                peer;   /* rank the operation depends on, or -1 */
    atomic_int         state;
    ucs_status_t       status; /* written by the callback before it publishes DONE */
    void              *heap;   /* payload copy for large posts (bigbuf), else NULL */
    size_t             heap_cap;
    _Alignas(8) unsigned char hdr[sizeof(dm_tp_wire_hdr_t) + DM_TP_AM_HDR_MAX];
    _Alignas(8) unsigned char data[DM_TP_POST_INLINE];
} dm_tp_desc_t;

typedef struct dm_tp_desc_chunk {
    struct dm_tp_desc_chunk *next;
    dm_tp_desc_t             descs[DM_TP_DESC_CHUNK];
} dm_tp_desc_chunk_t;

/* A rendezvous AM whose payload is still arriving. */
typedef struct dm_tp_rx {
    dm_tp_am_slot_t *slot;
    int              src;
    size_t           hdr_len;
    size_t           len;
    void            *buf;
    size_t           cap;
    unsigned char    hdr[DM_TP_AM_HDR_MAX];
} dm_tp_rx_t;

struct dm_tp_mem {
    ucp_mem_h memh;
    void     *addr;
    size_t    len;
};

struct dm_tp_rkey {
    ucp_rkey_h rkey;
    int        peer;
};

/* ------------------------------------------------------------------ */
/* the UCX lock (see tp_int.h)                                          */

/* Nonzero while this thread is inside ucp_worker_progress (handlers run there). */
static _Thread_local int dm_tp_in_progress;

/* The one way this file calls ucp_worker_progress (pre: UCX lock held). */
static inline unsigned dm_tp_worker_progress_locked(dm_tp_t *tp)
{
    unsigned n;

    dm_tp_in_progress++;
    n = ucp_worker_progress(tp->worker);
    dm_tp_in_progress--;
    return n;
}

static inline void dm_tp_lock(dm_tp_t *tp)
{
    pthread_mutex_lock(&tp->ucx_lock);
}

static inline void dm_tp_unlock(dm_tp_t *tp)
{
    pthread_mutex_unlock(&tp->ucx_lock);
}

static inline void dm_tp_request_free(dm_tp_t *tp, void *req)
{
    dm_tp_lock(tp);
    ucp_request_free(req);
    dm_tp_unlock(tp);
}

/* ------------------------------------------------------------------ */
/* large buffers                                                        */

/*
 * Buffers for large messages (received by rendezvous, or posted copies)
 * come from a small cache instead of malloc: above glibc's mmap threshold
 * every malloc/free pair is an mmap, page faults and an munmap, which made
 * 256 KiB..1 MiB round trips 5-6x slower than UCX's own (performance.md).
 * Invariant: a cached buffer is either in the cache (slot != NULL) or owned
 * by exactly one message; the cache holds at most DM_TP_BIGBUF_SLOTS.
 */
static void *dm_tp_bigbuf_get(dm_tp_t *tp, size_t len, size_t *cap_p)
{
    void *buf = NULL;
    size_t cap = 0;
    int i;

    pthread_mutex_lock(&tp->desc_lock);
    for (i = 0; i < DM_TP_BIGBUF_SLOTS; i++) {
        if (tp->bigbuf[i] != NULL && tp->bigbuf_cap[i] >= len) {
            buf = tp->bigbuf[i];
            cap = tp->bigbuf_cap[i];
            tp->bigbuf[i] = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&tp->desc_lock);
    if (buf == NULL) {
        cap = len ? len : 1;
        buf = malloc(cap);
        if (buf == NULL) {
            return NULL;
        }
    }
    *cap_p = cap;
    return buf;
}

static void dm_tp_bigbuf_put(dm_tp_t *tp, void *buf, size_t cap)
{
    int i, smallest = 0;

    if (buf == NULL) {
        return;
    }
    pthread_mutex_lock(&tp->desc_lock);
    for (i = 0; i < DM_TP_BIGBUF_SLOTS; i++) {
        if (tp->bigbuf[i] == NULL) {
            tp->bigbuf[i] = buf;
            tp->bigbuf_cap[i] = cap;
            pthread_mutex_unlock(&tp->desc_lock);
            return;
        }
        if (tp->bigbuf_cap[i] < tp->bigbuf_cap[smallest]) {
            smallest = i;
        }
    }
    /* full: keep the larger of this and the smallest cached one */
    if (cap > tp->bigbuf_cap[smallest] && cap <= DM_TP_BIGBUF_MAX) {
        void *old = tp->bigbuf[smallest];

        tp->bigbuf[smallest] = buf;
        tp->bigbuf_cap[smallest] = cap;
        buf = old;
    }
    pthread_mutex_unlock(&tp->desc_lock);
    free(buf);
}

/* ------------------------------------------------------------------ */
/* descriptors                                                          */

static dm_tp_desc_t *dm_tp_desc_get(dm_tp_t *tp, int peer, int state)
{
    dm_tp_desc_t *d;
    dm_tp_desc_chunk_t *chunk;
    int i;

    pthread_mutex_lock(&tp->desc_lock);
    if (tp->desc_free == NULL) {
        /* aligned_alloc wants the size to be a multiple of the alignment */
        chunk = aligned_alloc(64, (sizeof(*chunk) + 63) & ~(size_t)63);
        if (chunk == NULL) {
            pthread_mutex_unlock(&tp->desc_lock);
            return NULL;
        }
        chunk->next = tp->desc_chunks;
        tp->desc_chunks = chunk;
        for (i = 0; i < DM_TP_DESC_CHUNK; i++) {
            chunk->descs[i].next = tp->desc_free;
            tp->desc_free = &chunk->descs[i];
        }
    }
    d = tp->desc_free;
    tp->desc_free = d->next;
    pthread_mutex_unlock(&tp->desc_lock);

    d->tp = tp;
    d->peer = peer;
    d->status = UCS_OK;
    d->heap = NULL;
    atomic_store_explicit(&d->state, state, memory_order_relaxed);
    return d;
}

static void dm_tp_desc_put(dm_tp_desc_t *d)
{
    dm_tp_t *tp = d->tp;

    if (d->heap != NULL) {
        dm_tp_bigbuf_put(tp, d->heap, d->heap_cap);
        d->heap = NULL;
    }
    pthread_mutex_lock(&tp->desc_lock);
    d->next = tp->desc_free;
    tp->desc_free = d;
    pthread_mutex_unlock(&tp->desc_lock);
}

/* ------------------------------------------------------------------ */
/* peers and failure                                                    */

void dm_tp_peer_fail(dm_tp_t *tp, int peer, const char *reason)
{
    dm_tp_peer_t *p;
    unsigned char expected = 0;

    if (peer < 0 || peer >= tp->nranks) {
        return;
    }
    p = &tp->peers[peer];
    pthread_mutex_lock(&tp->fail_lock);
    if (atomic_compare_exchange_strong(&tp->failed_flags[peer], &expected, 1)) {
        if (atomic_load_explicit(&p->departed, memory_order_acquire)) {
            /* it said goodbye: its endpoint closing is its normal end */
            snprintf(p->reason, sizeof(p->reason), "it finished and left the job (then: %s)",
                     reason);
            pthread_mutex_unlock(&tp->fail_lock);
            DM_DEBUG("rank %d left the job: %s", peer, reason);
            return;
        }
        snprintf(p->reason, sizeof(p->reason), "%s", reason);
        atomic_fetch_add(&tp->nfailed, 1);
        pthread_mutex_unlock(&tp->fail_lock);
        /* while closing, peers closing their side is the normal end, not news */
        DM_LOG(atomic_load(&tp->closing) ? DM_LOG_DEBUG : DM_LOG_WARN, "rank %d failed: %s",
               peer, reason);
        return;
    }
    pthread_mutex_unlock(&tp->fail_lock);
}

int dm_tp_peer_failed(dm_tp_t *tp, int peer)
{
    return atomic_load_explicit(&tp->failed_flags[peer], memory_order_acquire);
}

const atomic_uchar *dm_tp_failed_flags(dm_tp_t *tp)
{
    return tp->failed_flags;
}

int dm_tp_peer_departed(dm_tp_t *tp, int peer)
{
    return atomic_load_explicit(&tp->peers[peer].departed, memory_order_acquire);
}

int dm_tp_first_failed(dm_tp_t *tp)
{
    int r;

    if (DM_LIKELY(atomic_load_explicit(&tp->nfailed, memory_order_relaxed) == 0)) {
        return -1;
    }
    for (r = 0; r < tp->nranks; r++) {
        if (dm_tp_peer_failed(tp, r) && !dm_tp_peer_departed(tp, r)) {
            return r;
        }
    }
    return -1;
}

dm_status_t dm_tp_peer_error_as(dm_tp_t *tp, int peer, const char *what)
{
    char reason[sizeof(tp->peers[0].reason)];

    pthread_mutex_lock(&tp->fail_lock);
    memcpy(reason, tp->peers[peer].reason, sizeof(reason));
    pthread_mutex_unlock(&tp->fail_lock);
    if (what != NULL) {
        return dm_error_set(DM_ERR_PEER_FAILED, "%s: rank %d failed (%s)", what, peer, reason);
    }
    return dm_error_set(DM_ERR_PEER_FAILED, "rank %d failed: %s", peer, reason);
}

static dm_status_t dm_tp_peer_error(dm_tp_t *tp, int peer)
{
    return dm_tp_peer_error_as(tp, peer, NULL);
}

/* Picks up the failures the bootstrap store has seen. Never blocks. */
static void dm_tp_check_boot(dm_tp_t *tp)
{
    char reason[64];
    int r;

    if (pthread_mutex_trylock(&tp->conn_lock) != 0) {
        return;
    }
    while ((r = dm_boot_poll_failed(tp->boot)) >= 0) {
        snprintf(reason, sizeof(reason), "reported dead by the %s bootstrap",
                 tp->boot->ops->name);
        dm_tp_peer_fail(tp, r, reason);
    }
    pthread_mutex_unlock(&tp->conn_lock);
}

/* ------------------------------------------------------------------ */
/* endpoints                                                            */

/* UCX calls this when the endpoint to a peer breaks (peer died, link lost). */
static void dm_tp_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    dm_tp_peer_t *p = arg;
    char reason[96];

    (void)ep;
    snprintf(reason, sizeof(reason), "transport error on its endpoint: %s",
             ucs_status_string(status));
    dm_tp_peer_fail(p->tp, p->rank, reason);
}

/*
 * This host's identity for the purpose of shared memory: the kernel's boot
 * id and the network namespace. Ranks in different namespaces of one kernel
 * (the multi-host tests) count as different hosts.
 */
static void dm_tp_host_id(char *id)
{
    char boot[64] = "";
    struct stat sb;
    FILE *f;

    memset(id, 0, DM_TP_HOST_ID_LEN);
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) == NULL) {
            boot[0] = '\0';
        }
        fclose(f);
    }
    boot[strcspn(boot, "\n")] = '\0';
    if (stat("/proc/self/ns/net", &sb) != 0) {
        sb.st_ino = 0;
    }
    snprintf(id, DM_TP_HOST_ID_LEN, "%s/%llu", boot, (unsigned long long)sb.st_ino);
}

/* Whether UCX_TLS (NULL: unset) lets UCX use a shared-memory transport. */
static int dm_tp_shm_allowed(const char *tls)
{
    static const char *const shm[] = { "all", "sm", "shm", "posix", "sysv", "cma", "xpmem", "knem" };
    char buf[256], *tok, *save;

    if (tls == NULL || tls[0] == '\0' || tls[0] == '^') {
        return 1;
    }
    snprintf(buf, sizeof(buf), "%s", tls);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        for (size_t i = 0; i < DM_ARRAY_SIZE(shm); i++) {
            if (strcmp(tok, shm[i]) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * Lock order: conn_lock is never held while taking ucx_lock. A handler runs
 * with ucx_lock held and may get here (to post to a new peer), so the
 * other order would deadlock against an application thread connecting.
 * Two threads may fetch the same address; only one endpoint is created.
 */
/* Fetches peer's published record: [host id][UCX worker address]. */
static dm_status_t dm_tp_peer_record(dm_tp_t *tp, int peer, unsigned char *addr, size_t cap,
                                     size_t *len_p)
{
    dm_status_t st;

    pthread_mutex_lock(&tp->conn_lock);
    st = dm_boot_get(tp->boot, peer, DM_TP_ADDR_KEY, addr, cap, len_p);
    pthread_mutex_unlock(&tp->conn_lock);
    if (st != DM_OK) {
        if (st == DM_ERR_PEER_FAILED) {
            dm_tp_peer_fail(tp, peer, dm_last_error());
        }
        return st;
    }
    if (*len_p <= DM_TP_HOST_ID_LEN) {
        return dm_error_set(DM_ERR_PROTOCOL, "rank %d published a malformed address (%zu bytes)",
                            peer, *len_p);
    }
    return DM_OK;
}

/* Nonzero when UCX may reach peer by shared memory (its endpoint gets mode NONE). */
static int dm_tp_record_shm(const dm_tp_t *tp, const unsigned char *addr)
{
    return tp->shm_allowed && memcmp(addr, tp->host_id, DM_TP_HOST_ID_LEN) == 0;
}

static dm_status_t dm_tp_ep_connect(dm_tp_t *tp, int peer, ucp_ep_h *ep_p)
{
    unsigned char addr[DM_BOOT_VALUE_MAX];
    ucp_ep_params_t params;
    size_t len = 0;
    ucp_ep_h ep;
    ucs_status_t ust;
    dm_status_t st;

    if ((st = dm_tp_peer_record(tp, peer, addr, sizeof(addr), &len)) != DM_OK) {
        return st;
    }
    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                        UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.address = (const ucp_address_t *)(addr + DM_TP_HOST_ID_LEN);
    /*
     * Error-handling mode. PEER mode is how UCX reports a dead peer, but in
     * UCX 1.13 no shared-memory transport supports it: asking for it sends
     * even same-host traffic over TCP loopback (7x slower round trips, 50x
     * less put bandwidth; docs/performance.md). So a peer on this host
     * (same kernel boot and network namespace) that UCX may reach by shared
     * memory gets mode NONE; its death is reported by the bootstrap (the
     * launcher or the rendezvous sees the process or its connection go) and
     * bounded by DISTMEM_PEER_TIMEOUT. Every other peer gets PEER mode.
     */
    params.err_mode =
        dm_tp_record_shm(tp, addr) ? UCP_ERR_HANDLING_MODE_NONE : UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = dm_tp_ep_error;
    params.err_handler.arg = &tp->peers[peer];

    dm_tp_lock(tp);
    ep = atomic_load(&tp->peers[peer].ep);
    if (ep == NULL) {
        ust = ucp_ep_create(tp->worker, &params, &ep);
        if (ust != UCS_OK) {
            dm_tp_unlock(tp);
            return dm_error_set(DM_ERR_TRANSPORT, "connecting to rank %d: %s", peer,
                                ucs_status_string(ust));
        }
        atomic_fetch_add(&tp->neps, 1);
        atomic_store_explicit(&tp->peers[peer].ep, ep, memory_order_release);
    }
    dm_tp_unlock(tp);
    *ep_p = ep;
    return DM_OK;
}

/* The endpoint to peer, connecting on first use. Hot path: one load. */
static inline dm_status_t dm_tp_ep(dm_tp_t *tp, int peer, ucp_ep_h *ep_p)
{
    ucp_ep_h ep;

    if (DM_UNLIKELY(peer < 0 || peer >= tp->nranks)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "rank %d out of range [0, %d)", peer,
                            tp->nranks);
    }
    if (DM_UNLIKELY(atomic_load_explicit(&tp->failed_flags[peer], memory_order_relaxed))) {
        return dm_tp_peer_error(tp, peer);
    }
    ep = atomic_load_explicit(&tp->peers[peer].ep, memory_order_acquire);
    if (DM_LIKELY(ep != NULL)) {
        *ep_p = ep;
        return DM_OK;
    }
    return dm_tp_ep_connect(tp, peer, ep_p);
}

dm_status_t dm_tp_boot_fence(dm_tp_t *tp)
{
    dm_status_t st;

    pthread_mutex_lock(&tp->conn_lock);
    st = dm_boot_fence(tp->boot);
    pthread_mutex_unlock(&tp->conn_lock);
    return st;
}

int dm_tp_num_endpoints(dm_tp_t *tp)
{
    return atomic_load(&tp->neps);
}

/* ------------------------------------------------------------------ */
/* progress and waiting                                                 */

/* Sends what the layer above holds back (see dm_tp_held). pre: serial lock. */
static void dm_tp_release_locked(dm_tp_t *tp)
{
    if (tp->release_fn != NULL) {
        tp->release_fn(tp->release_arg);
    }
}

void dm_tp_set_release(dm_tp_t *tp, dm_tp_release_fn *fn, void *arg)
{
    dm_tp_lock(tp);
    tp->release_fn = fn;
    tp->release_arg = arg;
    if (fn == NULL) {
        atomic_store_explicit(&tp->held, 0, memory_order_relaxed);
    }
    dm_tp_unlock(tp);
}

void dm_tp_held(dm_tp_t *tp, int held)
{
    uint64_t one = 1;

    if (!held || atomic_load_explicit(&tp->held, memory_order_relaxed)) {
        atomic_store_explicit(&tp->held, held, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&tp->held_since, dm_time_ns(), memory_order_relaxed);
    atomic_store_explicit(&tp->held, 1, memory_order_release);
    if (!tp->have_progress_thread) {
        return;
    }
    /*
     * Against the progress thread's store of asleep and load of held
     * (dm_tp_progress_main): either it sees held, or this sees it asleep.
     */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&tp->asleep, memory_order_relaxed) &&
        write(tp->wake_fd, &one, sizeof(one)) < 0) {
        /* it wakes within DM_TP_IDLE_POLL_MS anyway */
    }
}

/*
 * The progress thread's look at held messages: sends them once they have
 * been held for DM_TP_HOLD_NS (a batch fills in far less while the
 * application issues, so this only catches one it stopped adding to).
 * Returns how long until the next look is due, 0 when nothing is held.
 */
static uint64_t dm_tp_release_idle(dm_tp_t *tp)
{
    uint64_t since, now;

    if (atomic_load_explicit(&tp->held, memory_order_acquire) == 0) {
        return 0;
    }
    since = atomic_load_explicit(&tp->held_since, memory_order_relaxed);
    now = dm_time_ns();
    if (now - since < DM_TP_HOLD_NS) {
        return DM_TP_HOLD_NS - (now - since);
    }
    dm_tp_lock(tp);
    dm_tp_release_locked(tp);
    dm_tp_unlock(tp);
    return atomic_load_explicit(&tp->held, memory_order_relaxed) != 0 ? DM_TP_HOLD_NS : 0;
}

int dm_tp_progress(dm_tp_t *tp)
{
    int n;

    dm_tp_lock(tp);
    if (DM_UNLIKELY(atomic_load_explicit(&tp->held, memory_order_relaxed) != 0)) {
        dm_tp_release_locked(tp); /* a waiter never waits for what was never sent */
    }
    n = (int)dm_tp_worker_progress_locked(tp);
    dm_tp_unlock(tp);

    if (DM_UNLIKELY(atomic_fetch_add_explicit(&tp->poll_count, 1, memory_order_relaxed) + 1 >=
                    DM_TP_FAIL_CHECK)) {
        atomic_store_explicit(&tp->poll_count, 0, memory_order_relaxed);
        dm_tp_check_boot(tp);
    }
    return n;
}

void dm_tp_backoff(dm_tp_backoff_t *b, int progressed)
{
    uint64_t now;

    if (progressed) {
        b->start = 0;
        b->idle = 0;
        return;
    }
    if ((++b->idle & 15) != 0) {
        return;
    }
    now = dm_time_ns();
    if (b->start == 0) {
        b->start = now;
    } else if (now - b->start > DM_TP_SPIN_NS) {
        sched_yield();
    }
}

void dm_tp_wait_enter(dm_tp_t *tp)
{
    atomic_fetch_add_explicit(&tp->app_waiters, 1, memory_order_relaxed);
}

void dm_tp_wait_leave(dm_tp_t *tp)
{
    atomic_store_explicit(&tp->app_last_ns, dm_time_ns(), memory_order_relaxed);
    atomic_fetch_sub_explicit(&tp->app_waiters, 1, memory_order_relaxed);
}

/*
 * Waits for a descriptor-tracked request. Returns the operation's status;
 * on peer failure or timeout abandons the request (the callback frees it).
 */
static dm_status_t dm_tp_wait_req(dm_tp_t *tp, dm_tp_desc_t *d, void *req, const char *what)
{
    uint64_t deadline = 0, now;
    unsigned spins = 0;
    int expected;
    ucs_status_t ust;
    dm_status_t st = DM_OK;

    dm_tp_backoff_t b = { 0, 0 };

    dm_tp_wait_enter(tp);
    while (atomic_load_explicit(&d->state, memory_order_acquire) == DM_TP_REQ_PENDING) {
        dm_tp_backoff(&b, dm_tp_progress(tp));
        if (DM_UNLIKELY(d->peer >= 0 && dm_tp_peer_failed(tp, d->peer))) {
            st = dm_tp_peer_error(tp, d->peer);
            goto abandon;
        }
        if (DM_UNLIKELY((++spins & 1023) == 0)) {
            now = dm_time_ns();
            if (deadline == 0) {
                deadline = now + tp->peer_timeout_ns;
            } else if (now > deadline) {
                char reason[128];

                snprintf(reason, sizeof(reason), "%s did not complete within %.1f s", what,
                         (double)tp->peer_timeout_ns / 1e9);
                if (d->peer >= 0) {
                    dm_tp_peer_fail(tp, d->peer, reason);
                }
                st = dm_error_set(DM_ERR_PEER_FAILED, "%s", reason);
                goto abandon;
            }
        }
    }
    dm_tp_wait_leave(tp);
    ust = d->status;
    dm_tp_request_free(tp, req);
    dm_tp_desc_put(d);
    if (ust != UCS_OK) {
        if (d->peer >= 0 && dm_tp_peer_failed(tp, d->peer)) {
            return dm_tp_peer_error(tp, d->peer);
        }
        return dm_error_set(DM_ERR_TRANSPORT, "%s failed: %s", what, ucs_status_string(ust));
    }
    return DM_OK;

abandon:
    dm_tp_wait_leave(tp);
    expected = DM_TP_REQ_PENDING;
    if (!atomic_compare_exchange_strong(&d->state, &expected, DM_TP_REQ_ABANDONED)) {
        /* completed meanwhile: we still own it */
        dm_tp_request_free(tp, req);
        dm_tp_desc_put(d);
    }
    return st;
}

dm_status_t dm_tp_wait_flag(dm_tp_t *tp, const volatile int *flag, int peer)
{
    unsigned spins = 0;
    dm_status_t st = DM_OK;

    dm_tp_backoff_t b = { 0, 0 };

    dm_tp_wait_enter(tp);
    while (!*flag) {
        dm_tp_backoff(&b, dm_tp_progress(tp));
        if (DM_UNLIKELY((++spins & 255) == 0)) {
            dm_tp_check_boot(tp);
            if (peer >= 0 && dm_tp_peer_failed(tp, peer)) {
                st = dm_tp_peer_error(tp, peer);
                break;
            }
        }
    }
    dm_tp_wait_leave(tp);
    return st;
}

/* Completion callback of every descriptor-tracked send, put, get and flush. */
dm_status_t dm_tp_wait_until(dm_tp_t *tp, int (*cond)(void *arg), void *arg)
{
    dm_tp_backoff_t b = { 0, 0 };
    unsigned spins = 0;
    dm_status_t st = DM_OK;

    dm_tp_wait_enter(tp);
    while (!cond(arg)) {
        dm_tp_backoff(&b, dm_tp_progress(tp));
        if (DM_UNLIKELY((++spins & 255) == 0)) {
            dm_tp_check_boot(tp);
        }
        if (DM_UNLIKELY(atomic_load_explicit(&tp->nfailed, memory_order_relaxed) > 0)) {
            int r = dm_tp_first_failed(tp);

            if (r >= 0) {
                st = dm_tp_peer_error(tp, r);
                break;
            }
        }
    }
    dm_tp_wait_leave(tp);
    return st;
}

void dm_tp_serial_enter(dm_tp_t *tp)
{
    dm_tp_lock(tp);
}

void dm_tp_serial_leave(dm_tp_t *tp)
{
    dm_tp_unlock(tp);
}

int dm_tp_nfailed(dm_tp_t *tp)
{
    return atomic_load_explicit(&tp->nfailed, memory_order_relaxed);
}

/*
 * A send to dst that UCX refused at once. Other than a lack of memory or a
 * bad argument, that means the endpoint broke (the peer died or became
 * unreachable before its error callback ran): dst is marked failed, so
 * the caller gets DM_ERR_PEER_FAILED, as from every other path.
 */
static dm_status_t dm_tp_send_refused(dm_tp_t *tp, int dst, const char *what, ucs_status_t ust)
{
    char reason[96];

    if (ust == UCS_ERR_NO_MEMORY || ust == UCS_ERR_INVALID_PARAM) {
        return dm_error_set(DM_ERR_TRANSPORT, "%s to rank %d: %s", what, dst,
                            ucs_status_string(ust));
    }
    snprintf(reason, sizeof(reason), "%s failed: %s", what, ucs_status_string(ust));
    dm_tp_peer_fail(tp, dst, reason);
    return dm_tp_peer_error(tp, dst);
}

static void dm_tp_req_cb(void *req, ucs_status_t status, void *user_data)
{
    dm_tp_desc_t *d = user_data;
    int expected = DM_TP_REQ_PENDING;

    d->status = status;
    if (status != UCS_OK && status != UCS_ERR_CANCELED && d->peer >= 0) {
        char reason[96];

        snprintf(reason, sizeof(reason), "operation failed: %s", ucs_status_string(status));
        dm_tp_peer_fail(d->tp, d->peer, reason);
    }
    if (atomic_compare_exchange_strong_explicit(&d->state, &expected, DM_TP_REQ_DONE,
                                                memory_order_acq_rel, memory_order_acquire)) {
        return; /* the waiter frees */
    }
    ucp_request_free(req);
    dm_tp_desc_put(d);
}

/* ------------------------------------------------------------------ */
/* active messages                                                      */

static void dm_tp_rx_deliver(dm_tp_rx_t *rx)
{
    rx->slot->handler(rx->slot->arg, rx->src, rx->hdr, rx->hdr_len, rx->buf, rx->len);
    dm_tp_bigbuf_put(rx->slot->tp, rx->buf, rx->cap);
    free(rx);
}

static void dm_tp_rx_done(void *req, ucs_status_t status, size_t length, void *user_data)
{
    dm_tp_rx_t *rx = user_data;

    if (status == UCS_OK) {
        dm_tp_rx_deliver(rx);
    } else {
        dm_tp_peer_fail(rx->slot->tp, rx->src, "large active message lost in transfer");
        dm_tp_bigbuf_put(rx->slot->tp, rx->buf, rx->cap);
        free(rx);
    }
    ucp_request_free(req);
}

static ucs_status_t dm_tp_am_cb(void *arg, const void *header, size_t header_length, void *data,
                                size_t length, const ucp_am_recv_param_t *param)
{
    dm_tp_am_slot_t *slot = arg;
    dm_tp_t *tp = slot->tp;
    dm_tp_wire_hdr_t wh;
    const unsigned char *uh;
    size_t uhlen;

    if (DM_UNLIKELY(header_length < sizeof(wh) ||
                    header_length > sizeof(wh) + DM_TP_AM_HDR_MAX)) {
        DM_ERROR("dropped active message %u with a malformed %zu-byte header", slot->id,
                 header_length);
        return UCS_OK;
    }
    memcpy(&wh, header, sizeof(wh));
    if (DM_UNLIKELY(wh.src >= (uint32_t)tp->nranks || slot->handler == NULL)) {
        DM_ERROR("dropped active message %u from unknown rank %u or to a free id", slot->id,
                 wh.src);
        return UCS_OK;
    }
    if (DM_UNLIKELY(!atomic_load_explicit(&tp->peers[wh.src].heard, memory_order_relaxed))) {
        atomic_store_explicit(&tp->peers[wh.src].heard, 1, memory_order_relaxed);
    }
    uh = (const unsigned char *)header + sizeof(wh);
    uhlen = header_length - sizeof(wh);

    if (DM_UNLIKELY(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV)) {
        ucp_request_param_t rp;
        dm_tp_rx_t *rx = malloc(sizeof(*rx));
        void *req;

        if (rx == NULL || (rx->buf = dm_tp_bigbuf_get(tp, length, &rx->cap)) == NULL) {
            free(rx);
            dm_tp_peer_fail(tp, (int)wh.src, "out of memory receiving a large message");
            return UCS_OK;
        }
        rx->slot = slot;
        rx->src = (int)wh.src;
        rx->hdr_len = uhlen;
        rx->len = length;
        memcpy(rx->hdr, uh, uhlen);
        memset(&rp, 0, sizeof(rp));
        rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
        rp.cb.recv_am = dm_tp_rx_done;
        rp.user_data = rx;
        req = ucp_am_recv_data_nbx(tp->worker, data, rx->buf, length, &rp);
        if (req == NULL) {
            dm_tp_rx_deliver(rx);
        } else if (UCS_PTR_IS_ERR(req)) {
            dm_tp_peer_fail(tp, rx->src, "could not receive a large message");
            dm_tp_bigbuf_put(tp, rx->buf, rx->cap);
            free(rx);
        }
        return UCS_OK;
    }
    slot->handler(slot->arg, (int)wh.src, uh, uhlen, data, length);
    return UCS_OK;
}

dm_status_t dm_tp_am_register(dm_tp_t *tp, unsigned id, dm_tp_am_handler_t handler, void *arg)
{
    ucp_am_handler_param_t p;
    ucs_status_t ust;

    if (id >= DM_TP_AM_ID_MAX || handler == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "active message id %u (max %d) or no handler",
                            id, DM_TP_AM_ID_MAX - 1);
    }
    if (tp->am[id].handler != NULL) {
        return dm_error_set(DM_ERR_EXISTS, "active message id %u is taken", id);
    }
    tp->am[id].tp = tp;
    tp->am[id].id = id;
    tp->am[id].arg = arg;
    tp->am[id].handler = handler;
    memset(&p, 0, sizeof(p));
    p.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                   UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
    p.id = id;
    p.cb = dm_tp_am_cb;
    p.arg = &tp->am[id];
    p.flags = UCP_AM_FLAG_WHOLE_MSG;
    dm_tp_lock(tp);
    ust = ucp_worker_set_am_recv_handler(tp->worker, &p);
    dm_tp_unlock(tp);
    if (ust != UCS_OK) {
        tp->am[id].handler = NULL;
        return dm_error_set(DM_ERR_TRANSPORT, "registering active message %u: %s", id,
                            ucs_status_string(ust));
    }
    return DM_OK;
}

static dm_status_t dm_tp_am_check(dm_tp_t *tp, unsigned id, size_t hdr_len)
{
    if (DM_UNLIKELY(id >= DM_TP_AM_ID_MAX || hdr_len > DM_TP_AM_HDR_MAX)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "active message id %u or header of %zu bytes",
                            id, hdr_len);
    }
    return DM_OK;
}

static inline void dm_tp_hdr_fill(dm_tp_t *tp, unsigned char *buf, const void *hdr,
                                  size_t hdr_len)
{
    dm_tp_wire_hdr_t wh = { .src = (uint32_t)tp->rank, .reserved = 0 };

    memcpy(buf, &wh, sizeof(wh));
    if (hdr_len) {
        memcpy(buf + sizeof(wh), hdr, hdr_len);
    }
}

/*
 * Messages up to DM_TP_EAGER_MAX go eagerly, never by rendezvous: their
 * handlers then run in the order they were sent on one endpoint (a
 * rendezvous message's handler runs when its data has arrived, after
 * eager messages sent later). See tp.h.
 */
static void dm_tp_eager(ucp_request_param_t *rp, size_t len)
{
    if (len <= DM_TP_EAGER_MAX) {
        rp->op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
        rp->flags = UCP_AM_SEND_FLAG_EAGER;
    }
}

/*
 * Tries a send that completes at once, reading hdr and data in place.
 * Returns DM_OK when sent, DM_INPROGRESS when UCX could not complete it
 * immediately (nothing was sent), or an error.
 */
static dm_status_t dm_tp_am_try_imm(dm_tp_t *tp, ucp_ep_h ep, int dst, unsigned id,
                                    const void *hdr, size_t hdr_len, const void *data, size_t len)
{
    _Alignas(8) unsigned char wire[sizeof(dm_tp_wire_hdr_t) + DM_TP_AM_HDR_MAX];
    ucp_request_param_t rp;
    void *req;

    dm_tp_hdr_fill(tp, wire, hdr, hdr_len);
    rp.op_attr_mask = UCP_OP_ATTR_FLAG_FORCE_IMM_CMPL;
    dm_tp_lock(tp);
    req = ucp_am_send_nbx(ep, id, wire, sizeof(dm_tp_wire_hdr_t) + hdr_len, data, len, &rp);
    dm_tp_unlock(tp);
    if (DM_LIKELY(req == NULL)) {
        return DM_OK;
    }
    if (UCS_PTR_STATUS(req) == UCS_ERR_NO_RESOURCE) {
        return DM_INPROGRESS;
    }
    if (UCS_PTR_IS_ERR(req)) {
        return dm_tp_send_refused(tp, dst, "sending", UCS_PTR_STATUS(req));
    }
    /* FORCE_IMM_CMPL never returns a request; be safe anyway. */
    dm_tp_request_free(tp, req);
    return DM_OK;
}

dm_status_t dm_tp_am_send(dm_tp_t *tp, int dst, unsigned id, const void *hdr, size_t hdr_len,
                          const void *data, size_t len)
{
    ucp_request_param_t rp;
    dm_tp_desc_t *d;
    ucp_ep_h ep;
    void *req;
    dm_status_t st;

    if ((st = dm_tp_am_check(tp, id, hdr_len)) != DM_OK || (st = dm_tp_ep(tp, dst, &ep)) != DM_OK) {
        return st;
    }
    if (hdr_len + len <= DM_TP_TRY_IMM_MAX) {
        st = dm_tp_am_try_imm(tp, ep, dst, id, hdr, hdr_len, data, len);
        if (st != DM_INPROGRESS) {
            return st;
        }
    }
    d = dm_tp_desc_get(tp, dst, DM_TP_REQ_PENDING);
    if (d == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "send descriptor");
    }
    dm_tp_hdr_fill(tp, d->hdr, hdr, hdr_len);
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.send = dm_tp_req_cb;
    rp.user_data = d;
    dm_tp_eager(&rp, len);
    dm_tp_lock(tp);
    req = ucp_am_send_nbx(ep, id, d->hdr, sizeof(dm_tp_wire_hdr_t) + hdr_len, data, len, &rp);
    dm_tp_unlock(tp);
    if (req == NULL) {
        dm_tp_desc_put(d);
        return DM_OK;
    }
    if (UCS_PTR_IS_ERR(req)) {
        dm_tp_desc_put(d);
        return dm_tp_send_refused(tp, dst, "sending", UCS_PTR_STATUS(req));
    }
    return dm_tp_wait_req(tp, d, req, "active message send");
}

dm_status_t dm_tp_am_post(dm_tp_t *tp, int dst, unsigned id, const void *hdr, size_t hdr_len,
                          const void *data, size_t len)
{
    ucp_request_param_t rp;
    const void *payload;
    dm_tp_desc_t *d;
    ucp_ep_h ep;
    void *req;
    dm_status_t st;

    if ((st = dm_tp_am_check(tp, id, hdr_len)) != DM_OK || (st = dm_tp_ep(tp, dst, &ep)) != DM_OK) {
        return st;
    }
    if (hdr_len + len <= DM_TP_TRY_IMM_MAX) {
        st = dm_tp_am_try_imm(tp, ep, dst, id, hdr, hdr_len, data, len);
        if (st != DM_INPROGRESS) {
            return st;
        }
    }
    d = dm_tp_desc_get(tp, dst, DM_TP_REQ_DETACHED);
    if (d == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "send descriptor");
    }
    dm_tp_hdr_fill(tp, d->hdr, hdr, hdr_len);
    if (len <= sizeof(d->data)) {
        if (len > 0) {
            memcpy(d->data, data, len);
        }
        payload = d->data;
    } else {
        d->heap = dm_tp_bigbuf_get(tp, len, &d->heap_cap);
        if (d->heap == NULL) {
            dm_tp_desc_put(d);
            return dm_error_set(DM_ERR_NO_MEMORY, "copy of a %zu-byte message", len);
        }
        memcpy(d->heap, data, len);
        payload = d->heap;
    }
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.send = dm_tp_req_cb;
    rp.user_data = d;
    dm_tp_eager(&rp, len);
    dm_tp_lock(tp);
    req = ucp_am_send_nbx(ep, id, d->hdr, sizeof(dm_tp_wire_hdr_t) + hdr_len, payload, len, &rp);
    dm_tp_unlock(tp);
    if (req == NULL) {
        dm_tp_desc_put(d);
        return DM_OK;
    }
    if (UCS_PTR_IS_ERR(req)) {
        dm_tp_desc_put(d);
        return dm_tp_send_refused(tp, dst, "posting", UCS_PTR_STATUS(req));
    }
    return DM_OK; /* the callback frees request and descriptor */
}

/* ------------------------------------------------------------------ */
/* memory and RMA                                                       */

dm_status_t dm_tp_mem_map(dm_tp_t *tp, void *addr, size_t len, int fixed, dm_tp_mem_t **mem_p)
{
    ucp_mem_map_params_t p;
    ucp_mem_attr_t attr;
    dm_tp_mem_t *mem;
    ucs_status_t ust;

    if (len == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "cannot register 0 bytes");
    }
    mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "memory handle");
    }
    memset(&p, 0, sizeof(p));
    p.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                   UCP_MEM_MAP_PARAM_FIELD_FLAGS;
    p.address = addr;
    p.length = len;
    p.flags = addr == NULL ? UCP_MEM_MAP_ALLOCATE
                           : (fixed ? (UCP_MEM_MAP_ALLOCATE | UCP_MEM_MAP_FIXED) : 0);
    dm_tp_lock(tp);
    ust = ucp_mem_map(tp->context, &p, &mem->memh);
    dm_tp_unlock(tp);
    if (ust != UCS_OK) {
        free(mem);
        return dm_error_set(ust == UCS_ERR_NO_MEMORY ? DM_ERR_NO_MEMORY : DM_ERR_TRANSPORT,
                            "ucp_mem_map of %zu bytes at %p: %s", len, addr,
                            ucs_status_string(ust));
    }
    attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
    ust = ucp_mem_query(mem->memh, &attr);
    if (ust != UCS_OK) {
        ucp_mem_unmap(tp->context, mem->memh);
        free(mem);
        return dm_error_set(DM_ERR_TRANSPORT, "ucp_mem_query: %s", ucs_status_string(ust));
    }
    mem->addr = attr.address;
    mem->len = attr.length;
    *mem_p = mem;
    return DM_OK;
}

void dm_tp_mem_unmap(dm_tp_t *tp, dm_tp_mem_t *mem)
{
    if (mem == NULL) {
        return;
    }
    dm_tp_lock(tp);
    ucp_mem_unmap(tp->context, mem->memh);
    dm_tp_unlock(tp);
    free(mem);
}

void *dm_tp_mem_addr(const dm_tp_mem_t *mem)
{
    return mem->addr;
}

size_t dm_tp_mem_length(const dm_tp_mem_t *mem)
{
    return mem->len;
}

dm_status_t dm_tp_mem_pack(dm_tp_t *tp, const dm_tp_mem_t *mem, void **buf_p, size_t *len_p)
{
    ucs_status_t ust;

    dm_tp_lock(tp);
    ust = ucp_rkey_pack(tp->context, mem->memh, buf_p, len_p);
    dm_tp_unlock(tp);

    if (ust != UCS_OK) {
        return dm_error_set(DM_ERR_TRANSPORT, "ucp_rkey_pack: %s", ucs_status_string(ust));
    }
    return DM_OK;
}

void dm_tp_rkey_buffer_release(void *buf)
{
    ucp_rkey_buffer_release(buf);
}

dm_status_t dm_tp_rkey_unpack(dm_tp_t *tp, int peer, const void *buf, size_t len,
                              dm_tp_rkey_t **rkey_p)
{
    dm_tp_rkey_t *rk;
    ucp_ep_h ep;
    ucs_status_t ust;
    dm_status_t st;

    (void)len;
    if ((st = dm_tp_ep(tp, peer, &ep)) != DM_OK) {
        return st;
    }
    rk = malloc(sizeof(*rk));
    if (rk == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "remote key");
    }
    dm_tp_lock(tp);
    ust = ucp_ep_rkey_unpack(ep, buf, &rk->rkey);
    dm_tp_unlock(tp);
    if (ust != UCS_OK) {
        free(rk);
        return dm_error_set(DM_ERR_TRANSPORT, "unpacking the remote key of rank %d: %s", peer,
                            ucs_status_string(ust));
    }
    rk->peer = peer;
    *rkey_p = rk;
    return DM_OK;
}

void dm_tp_rkey_destroy(dm_tp_rkey_t *rkey)
{
    if (rkey != NULL) {
        ucp_rkey_destroy(rkey->rkey); /* touches no worker state */
        free(rkey);
    }
}

/* Starts a put or get; blocking != 0 waits for it (see tp.h). */
static dm_status_t dm_tp_rma(dm_tp_t *tp, int peer, int is_put, void *buf, size_t len,
                             uint64_t raddr, dm_tp_rkey_t *rkey, int blocking)
{
    ucp_request_param_t rp;
    dm_tp_desc_t *d = NULL;
    ucp_ep_h ep;
    void *req;
    dm_status_t st;

    if ((st = dm_tp_ep(tp, peer, &ep)) != DM_OK) {
        return st;
    }
    if (DM_UNLIKELY(rkey == NULL || rkey->peer != peer)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "remote key does not belong to rank %d", peer);
    }
    rp.op_attr_mask = 0;
    if (blocking) {
        d = dm_tp_desc_get(tp, peer, DM_TP_REQ_PENDING);
        if (d == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "RMA descriptor");
        }
        rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
        rp.cb.send = dm_tp_req_cb;
        rp.user_data = d;
    }
    dm_tp_lock(tp);
    req = is_put ? ucp_put_nbx(ep, buf, len, raddr, rkey->rkey, &rp)
                 : ucp_get_nbx(ep, buf, len, raddr, rkey->rkey, &rp);
    if (!blocking && req != NULL && !UCS_PTR_IS_ERR(req)) {
        ucp_request_free(req); /* completes by the next flush */
        req = NULL;
    }
    dm_tp_unlock(tp);
    if (req == NULL) {
        if (d != NULL) {
            dm_tp_desc_put(d);
        }
        return DM_OK;
    }
    if (UCS_PTR_IS_ERR(req)) {
        if (d != NULL) {
            dm_tp_desc_put(d);
        }
        return dm_error_set(DM_ERR_TRANSPORT, "%s of %zu bytes at rank %d: %s",
                            is_put ? "put" : "get", len, peer,
                            ucs_status_string(UCS_PTR_STATUS(req)));
    }
    return dm_tp_wait_req(tp, d, req, is_put ? "put" : "get");
}

dm_status_t dm_tp_put(dm_tp_t *tp, int dst, const void *src, size_t len, uint64_t raddr,
                      dm_tp_rkey_t *rkey)
{
    return dm_tp_rma(tp, dst, 1, (void *)src, len, raddr, rkey, 1);
}

dm_status_t dm_tp_get(dm_tp_t *tp, int src_rank, void *dst, size_t len, uint64_t raddr,
                      dm_tp_rkey_t *rkey)
{
    return dm_tp_rma(tp, src_rank, 0, dst, len, raddr, rkey, 1);
}

dm_status_t dm_tp_put_nbi(dm_tp_t *tp, int dst, const void *src, size_t len, uint64_t raddr,
                          dm_tp_rkey_t *rkey)
{
    return dm_tp_rma(tp, dst, 1, (void *)src, len, raddr, rkey, 0);
}

dm_status_t dm_tp_get_nbi(dm_tp_t *tp, int src_rank, void *dst, size_t len, uint64_t raddr,
                          dm_tp_rkey_t *rkey)
{
    return dm_tp_rma(tp, src_rank, 0, dst, len, raddr, rkey, 0);
}

dm_status_t dm_tp_flush(dm_tp_t *tp, int peer)
{
    ucp_request_param_t rp;
    dm_tp_desc_t *d;
    ucp_ep_h ep = NULL;
    void *req;
    dm_status_t st;
    int r;

    if (peer >= 0) {
        if ((st = dm_tp_ep(tp, peer, &ep)) != DM_OK) {
            return st;
        }
    } else {
        for (r = 0; r < tp->nranks; r++) {
            if (dm_tp_peer_failed(tp, r) && !dm_tp_peer_departed(tp, r) &&
                atomic_load(&tp->peers[r].ep) != NULL) {
                return dm_tp_peer_error(tp, r);
            }
        }
    }
    d = dm_tp_desc_get(tp, peer, DM_TP_REQ_PENDING);
    if (d == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "flush descriptor");
    }
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.send = dm_tp_req_cb;
    rp.user_data = d;
    dm_tp_lock(tp);
    req = ep != NULL ? ucp_ep_flush_nbx(ep, &rp) : ucp_worker_flush_nbx(tp->worker, &rp);
    dm_tp_unlock(tp);
    if (req == NULL) {
        dm_tp_desc_put(d);
        return DM_OK;
    }
    if (UCS_PTR_IS_ERR(req)) {
        dm_tp_desc_put(d);
        return dm_error_set(DM_ERR_TRANSPORT, "flush: %s", ucs_status_string(UCS_PTR_STATUS(req)));
    }
    return dm_tp_wait_req(tp, d, req, "flush");
}

/* ------------------------------------------------------------------ */
/* progress thread                                                      */

/*
 * The progress thread is about to sleep: from here dm_tp_held wakes it.
 * Its look at held messages comes after this, so either that look sees
 * them or dm_tp_held sees the flag (the fences on both sides).
 */
static void dm_tp_asleep(dm_tp_t *tp)
{
    atomic_store_explicit(&tp->asleep, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

/* Sleeps on fds (the wake fd last) for at most ns, then is awake again. */
static void dm_tp_nap(dm_tp_t *tp, struct pollfd *fds, nfds_t n, uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

    if (ppoll(fds, n, &ts, NULL) > 0 && (fds[n - 1].revents & POLLIN)) {
        uint64_t v;

        if (read(tp->wake_fd, &v, sizeof(v)) < 0) {
            /* nothing to do: the caller looks again */
        }
    }
    atomic_store_explicit(&tp->asleep, 0, memory_order_relaxed);
}

static void *dm_tp_progress_main(void *arg)
{
    dm_tp_t *tp = arg;
    struct pollfd fds[2];
    uint64_t backoff_ns = 20000, last, now;
    ucs_status_t ust;
    uint64_t hold; /* ns until held messages are due; 0 none */

    fds[0].fd = tp->worker_efd;
    fds[0].events = POLLIN;
    fds[1].fd = tp->wake_fd;
    fds[1].events = POLLIN;

    while (!atomic_load(&tp->stop)) {
        now = dm_time_ns();
        last = atomic_load_explicit(&tp->app_last_ns, memory_order_relaxed);
        if (atomic_load_explicit(&tp->app_waiters, memory_order_relaxed) > 0 ||
            now - last < DM_TP_HANDOFF_NS) {
            /*
             * An application thread is progressing: stay out of its way.
             * One that has just left a wait and issues may hold messages
             * back: look at them (a waiter sends them itself).
             */
            struct timespec ts = { 0, (long)backoff_ns };

            if (atomic_load_explicit(&tp->app_waiters, memory_order_relaxed) == 0 &&
                (hold = dm_tp_release_idle(tp)) != 0) {
                ts.tv_nsec = (long)DM_MIN(backoff_ns, hold);
            }
            /* not woken by dm_tp_held (a wake per window of operations costs more than it saves) */
            nanosleep(&ts, NULL);
            backoff_ns = DM_MIN(backoff_ns * 2, DM_TP_BACKOFF_MAX_NS);
            continue;
        }
        backoff_ns = 20000;
        /* Bounded, so an application thread never waits long for the lock. */
        for (int i = 0; i < 64; i++) {
            unsigned n;

            dm_tp_lock(tp);
            n = dm_tp_worker_progress_locked(tp);
            dm_tp_unlock(tp);
            if (n == 0) {
                break;
            }
        }
        dm_tp_check_boot(tp);
        dm_tp_asleep(tp);
        hold = dm_tp_release_idle(tp);
#ifdef DM_TP_NO_ARM
        dm_tp_nap(tp, &fds[1], 1, 50000);
        continue;
#endif
        dm_tp_lock(tp);
        ust = ucp_worker_arm(tp->worker);
        dm_tp_unlock(tp);
        if (ust == UCS_ERR_BUSY) {
            atomic_store_explicit(&tp->asleep, 0, memory_order_relaxed);
            continue;
        }
        if (ust != UCS_OK) {
            DM_WARN("ucp_worker_arm: %s; progress thread polls instead", ucs_status_string(ust));
            dm_tp_nap(tp, &fds[1], 1, 100000);
            continue;
        }
        dm_tp_nap(tp, fds, 2, hold != 0 ? hold : DM_TP_IDLE_POLL_MS * 1000000ull);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                            */

int dm_tp_rank(const dm_tp_t *tp)
{
    return tp->rank;
}

int dm_tp_nranks(const dm_tp_t *tp)
{
    return tp->nranks;
}

static void dm_tp_bye_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                              const void *data, size_t len);

dm_status_t dm_tp_create(dm_boot_t *boot, const dm_config_t *cfg, dm_tp_t **tp_p)
{
    ucp_params_t params;
    ucp_worker_params_t wparams;
    ucp_config_t *ucfg = NULL;
    ucp_address_t *addr = NULL;
    size_t addr_len = 0;
    ucs_status_t ust;
    dm_status_t st;
    dm_tp_t *tp;

    tp = calloc(1, sizeof(*tp));
    if (tp == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "transport object");
    }
    tp->boot = boot;
    tp->rank = boot->rank;
    tp->nranks = boot->nranks;
    tp->peer_timeout_ns = cfg->peer_timeout;
    tp->wake_fd = -1;
    tp->worker_efd = -1;
    dm_tp_host_id(tp->host_id);
    tp->shm_allowed = dm_tp_shm_allowed(getenv("UCX_TLS"));
    tp->peers = calloc((size_t)tp->nranks, sizeof(*tp->peers));
    tp->failed_flags = calloc((size_t)tp->nranks, sizeof(*tp->failed_flags));
    if (tp->peers == NULL || tp->failed_flags == NULL) {
        free(tp->peers);
        free((void *)tp->failed_flags);
        free(tp);
        return dm_error_set(DM_ERR_NO_MEMORY, "peer table for %d ranks", boot->nranks);
    }
    for (int r = 0; r < tp->nranks; r++) {
        tp->peers[r].tp = tp;
        tp->peers[r].rank = r;
    }
    pthread_mutex_init(&tp->conn_lock, NULL);
    pthread_mutex_init(&tp->fail_lock, NULL);
    pthread_mutex_init(&tp->desc_lock, NULL);
    {
        pthread_mutexattr_t ma;

        pthread_mutexattr_init(&ma);
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&tp->ucx_lock, &ma);
        pthread_mutexattr_destroy(&ma);
    }

    ust = ucp_config_read(NULL, NULL, &ucfg);
    if (ust != UCS_OK) {
        st = dm_error_set(DM_ERR_TRANSPORT, "ucp_config_read: %s", ucs_status_string(ust));
        goto err_free;
    }
    /* Notice dead peers within seconds unless the user chose otherwise. */
    if (getenv("UCX_KEEPALIVE_INTERVAL") == NULL) {
        ucp_config_modify(ucfg, "KEEPALIVE_INTERVAL", "2s");
    }
    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                        UCP_PARAM_FIELD_ESTIMATED_NUM_EPS | UCP_PARAM_FIELD_NAME;
    params.features = UCP_FEATURE_AM | UCP_FEATURE_RMA | UCP_FEATURE_AMO64 | UCP_FEATURE_WAKEUP;
    params.mt_workers_shared = 0;
    params.estimated_num_eps = (size_t)tp->nranks;
    params.name = "distmem";
    ust = ucp_init(&params, ucfg, &tp->context);
    ucp_config_release(ucfg);
    if (ust != UCS_OK) {
        st = dm_error_set(DM_ERR_TRANSPORT, "ucp_init: %s (check UCX_TLS)", ucs_status_string(ust));
        goto err_free;
    }
    memset(&wparams, 0, sizeof(wparams));
    wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = UCS_THREAD_MODE_SERIALIZED;
    ust = ucp_worker_create(tp->context, &wparams, &tp->worker);
    if (ust != UCS_OK) {
        st = dm_error_set(DM_ERR_TRANSPORT, "ucp_worker_create: %s", ucs_status_string(ust));
        goto err_cleanup;
    }
    ust = ucp_worker_get_address(tp->worker, &addr, &addr_len);
    if (ust != UCS_OK) {
        st = dm_error_set(DM_ERR_TRANSPORT, "ucp_worker_get_address: %s", ucs_status_string(ust));
        goto err_worker;
    }
    if (addr_len + DM_TP_HOST_ID_LEN > DM_BOOT_VALUE_MAX) {
        ucp_worker_release_address(tp->worker, addr);
        st = dm_error_set(DM_ERR_TRANSPORT, "worker address of %zu bytes is too large", addr_len);
        goto err_worker;
    }
    {
        /* value: [host id, fixed size][UCX worker address] */
        unsigned char *val = malloc(DM_TP_HOST_ID_LEN + addr_len);

        if (val == NULL) {
            ucp_worker_release_address(tp->worker, addr);
            st = dm_error_set(DM_ERR_NO_MEMORY, "address record");
            goto err_worker;
        }
        memcpy(val, tp->host_id, DM_TP_HOST_ID_LEN);
        memcpy(val + DM_TP_HOST_ID_LEN, addr, addr_len);
        st = dm_boot_put(boot, DM_TP_ADDR_KEY, val, DM_TP_HOST_ID_LEN + addr_len);
        free(val);
    }
    ucp_worker_release_address(tp->worker, addr);
    if (st != DM_OK) {
        goto err_worker;
    }
    st = dm_coll_init(tp);
    if (st == DM_OK) {
        st = dm_tp_am_register(tp, DM_TP_AM_BYE, dm_tp_bye_handler, tp);
    }
    if (st != DM_OK) {
        goto err_worker;
    }
    if (cfg->progress_thread) {
        ust = ucp_worker_get_efd(tp->worker, &tp->worker_efd);
        tp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (ust != UCS_OK || tp->wake_fd < 0) {
            st = dm_error_set(DM_ERR_TRANSPORT, "progress thread set-up: %s",
                              ust != UCS_OK ? ucs_status_string(ust) : strerror(errno));
            goto err_coll;
        }
        if (pthread_create(&tp->progress_thread, NULL, dm_tp_progress_main, tp) != 0) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "cannot start the progress thread");
            goto err_coll;
        }
        tp->have_progress_thread = 1;
    }
    *tp_p = tp;
    return DM_OK;

err_coll:
    if (tp->wake_fd >= 0) {
        close(tp->wake_fd);
    }
    dm_coll_cleanup(tp);
err_worker:
    ucp_worker_destroy(tp->worker);
err_cleanup:
    ucp_cleanup(tp->context);
err_free:
    pthread_mutex_destroy(&tp->conn_lock);
    pthread_mutex_destroy(&tp->fail_lock);
    pthread_mutex_destroy(&tp->desc_lock);
    pthread_mutex_destroy(&tp->ucx_lock);
    free(tp->peers);
    free((void *)tp->failed_flags);
    free(tp);
    return st;
}

/* ------------------------------------------------------------------ */
/* leaving                                                              */

/*
 * The goodbye protocol. A rank that leaves normally (dm_tp_destroy after a
 * final barrier) must not look dead to peers still finishing that barrier:
 * over TCP its closing sockets break their endpoints, and a broken endpoint
 * marks a peer failed, which dooms every collective in progress, even one
 * whose messages from the leaver have all arrived (CI saw a 3-rank TCP
 * barrier fail so). So before closing, the leaver completes everything it
 * sent (a worker flush: rendezvous data fetched too), then sends BYE to
 * every peer it sent to or heard from. Messages on one endpoint are handled
 * in order, so a peer that handles BYE has handled all the leaver sent, and
 * marks it departed: the endpoint error that follows is its normal end.
 */
static void dm_tp_bye_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                              const void *data, size_t len)
{
    dm_tp_t *tp = arg;

    (void)hdr;
    (void)hdr_len;
    (void)data;
    (void)len;
    atomic_store_explicit(&tp->peers[src].departed, 1, memory_order_release);
    DM_DEBUG("rank %d said goodbye", src);
}

/* Waits, at most until deadline, for every operation this worker started. */
static void dm_tp_flush_until(dm_tp_t *tp, uint64_t deadline)
{
    ucp_request_param_t rp;
    void *req;

    rp.op_attr_mask = 0;
    dm_tp_lock(tp);
    req = ucp_worker_flush_nbx(tp->worker, &rp);
    if (req != NULL && !UCS_PTR_IS_ERR(req)) {
        while (ucp_request_check_status(req) == UCS_INPROGRESS && dm_time_ns() < deadline) {
            dm_tp_worker_progress_locked(tp);
        }
        ucp_request_free(req); /* released by UCX when it completes, if it has not */
    }
    dm_tp_unlock(tp);
}

/*
 * Whom to tell: every peer we hold an endpoint to, and every peer that holds
 * one to us (we heard from it) and would see it break. The latter needs a new
 * endpoint, made only where it matters: a shared-memory endpoint reports no
 * errors, and connecting to a same-host peer that has already left fails in
 * UCX (its segment is gone).
 */
static int dm_tp_bye_needed(dm_tp_t *tp, int r)
{
    unsigned char addr[DM_BOOT_VALUE_MAX];
    size_t len = 0;

    if (r == tp->rank || dm_tp_peer_failed(tp, r) || dm_tp_peer_departed(tp, r)) {
        return 0;
    }
    if (atomic_load(&tp->peers[r].ep) != NULL) {
        return 1;
    }
    if (!atomic_load_explicit(&tp->peers[r].heard, memory_order_relaxed)) {
        return 0;
    }
    return dm_tp_peer_record(tp, r, addr, sizeof(addr), &len) == DM_OK &&
           !dm_tp_record_shm(tp, addr);
}

static void dm_tp_say_goodbye(dm_tp_t *tp, uint64_t deadline)
{
    dm_status_t st;
    int r;

    dm_tp_flush_until(tp, deadline);
    for (r = 0; r < tp->nranks; r++) {
        if (!dm_tp_bye_needed(tp, r)) {
            continue;
        }
        st = dm_tp_am_post(tp, r, DM_TP_AM_BYE, NULL, 0, NULL, 0);
        if (st != DM_OK) {
            DM_DEBUG("goodbye to rank %d: %s", r, dm_last_error());
        }
    }
    /* the endpoints' closing flushes the goodbyes */
}

/* Closes one endpoint, waiting a bounded time. */
static void dm_tp_ep_close(dm_tp_t *tp, int peer, ucp_ep_h ep, uint64_t deadline)
{
    ucp_request_param_t rp;
    void *req;

    rp.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    rp.flags = dm_tp_peer_failed(tp, peer) ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    dm_tp_lock(tp);
    req = ucp_ep_close_nbx(ep, &rp);
    if (req == NULL || UCS_PTR_IS_ERR(req)) {
        dm_tp_unlock(tp);
        return;
    }
    while (ucp_request_check_status(req) == UCS_INPROGRESS && dm_time_ns() < deadline) {
        dm_tp_worker_progress_locked(tp);
    }
    if (ucp_request_check_status(req) == UCS_INPROGRESS) {
        DM_DEBUG("closing the endpoint to rank %d timed out", peer);
        ucp_request_cancel(tp->worker, req);
    }
    ucp_request_free(req);
    dm_tp_unlock(tp);
}

void dm_tp_destroy(dm_tp_t *tp)
{
    dm_tp_desc_chunk_t *chunk;
    uint64_t deadline;
    ucp_ep_h ep;
    int r;

    if (tp == NULL) {
        return;
    }
    if (tp->have_progress_thread) {
        uint64_t one = 1;

        atomic_store(&tp->stop, 1);
        if (write(tp->wake_fd, &one, sizeof(one)) < 0) {
            /* the thread wakes within DM_TP_IDLE_POLL_MS anyway */
        }
        pthread_join(tp->progress_thread, NULL);
    }
    atomic_store(&tp->closing, 1);
    /* Bounded: a peer that went away must not hold up our exit. */
    deadline = dm_time_ns() + DM_MIN(tp->peer_timeout_ns, 2 * DM_NSEC_PER_SEC);
    dm_tp_say_goodbye(tp, deadline);
    for (r = 0; r < tp->nranks; r++) {
        ep = atomic_load(&tp->peers[r].ep);
        if (ep != NULL) {
            dm_tp_ep_close(tp, r, ep, deadline);
        }
    }
    dm_coll_cleanup(tp);
    ucp_worker_destroy(tp->worker);
    ucp_cleanup(tp->context);
    if (tp->wake_fd >= 0) {
        close(tp->wake_fd);
    }
    while ((chunk = tp->desc_chunks) != NULL) {
        tp->desc_chunks = chunk->next;
        free(chunk);
    }
    for (r = 0; r < DM_TP_BIGBUF_SLOTS; r++) {
        free(tp->bigbuf[r]);
    }
    pthread_mutex_destroy(&tp->conn_lock);
    pthread_mutex_destroy(&tp->fail_lock);
    pthread_mutex_destroy(&tp->desc_lock);
    pthread_mutex_destroy(&tp->ucx_lock);
    free(tp->peers);
    free((void *)tp->failed_flags);
    free(tp);
}
