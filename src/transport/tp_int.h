/*
 * Private state of the transport, shared by tp.c and coll.c only.
 */
#ifndef DM_TRANSPORT_TP_INT_H
#define DM_TRANSPORT_TP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <ucp/api/ucp.h>

#include "tp.h"

/* Wire prefix of every active message, before the user's header. */
typedef struct dm_tp_wire_hdr {
    uint32_t src;      /* sender's rank */
    uint32_t reserved; /* keeps the user header 8-byte aligned in the frame */
} dm_tp_wire_hdr_t;

typedef struct dm_tp_peer {
    dm_tp_t          *tp;     /* back pointers for UCX's error callback */
    int               rank;
    _Atomic(ucp_ep_h) ep;     /* NULL until the first message to this peer */
    /*
     * 1 once its goodbye arrived: it finished normally (dm_tp_destroy) and
     * every message it sent us before has been handled. A departed peer
     * whose endpoint then breaks is marked failed (waits on it end) but is
     * not counted in nfailed: its leaving dooms nothing it already did.
     */
    atomic_int        departed;
    atomic_int        heard;  /* 1 once a message from it arrived (it holds an endpoint to us) */
    char              reason[160];
} dm_tp_peer_t;

typedef struct dm_tp_am_slot {
    dm_tp_t            *tp;
    unsigned            id;
    dm_tp_am_handler_t  handler; /* NULL: id free */
    void               *arg;
} dm_tp_am_slot_t;

/* One message held for a collective that has not asked for it yet. */
typedef struct dm_coll_msg {
    struct dm_coll_msg *next;
    uint32_t            seq;
    uint32_t            round;
    int                 src;
    size_t              len;
    unsigned char       data[];
} dm_coll_msg_t;

typedef struct dm_coll {
    pthread_mutex_t lock;  /* protects inbox */
    dm_coll_msg_t  *inbox; /* arrived, not yet consumed; singly linked */
    uint32_t        seq;   /* sequence number of the next collective (caller side only) */
} dm_coll_t;

#define DM_TP_BIGBUF_SLOTS 4          /* large-message buffers kept for reuse */
#define DM_TP_BIGBUF_MAX   (64u << 20) /* larger ones are freed, not cached */
#define DM_TP_HOST_ID_LEN 64 /* bytes of host identity before the address in the store */

struct dm_tp {
    dm_boot_t      *boot;
    char            host_id[DM_TP_HOST_ID_LEN]; /* boot id / netns inode, NUL-padded */
    int             shm_allowed;                /* UCX_TLS admits a shared-memory transport */
    int             rank;
    int             nranks;
    uint64_t        peer_timeout_ns;
    ucp_context_h   context;
    ucp_worker_h    worker;
    dm_tp_peer_t   *peers;        /* [nranks] */
    atomic_int      nfailed;      /* number of peers marked failed */
    /* [nranks]: 0 alive, 1 failed (never goes back); one byte each, so upper
     * layers can check a peer inline (dm_tp_failed_flags) */
    atomic_uchar   *failed_flags;
    atomic_int      neps;         /* endpoints opened */
    /*
     * Serializes every call into UCX (the worker runs in SERIALIZED mode).
     * Recursive, because handlers and completion callbacks run inside
     * ucp_worker_progress with it held and may send or free requests.
     * Lock order: conn_lock is never held while taking ucx_lock (see
     * dm_tp_ep_connect). The opposite order deadlocked when a handler
     * connected to a new peer while an application thread was connecting:
     * ~10% of 4-rank TCP runs hung before the order was fixed.
     */
    pthread_mutex_t ucx_lock;
    pthread_mutex_t conn_lock;    /* endpoint creation and every use of boot */
    pthread_mutex_t fail_lock;    /* writing peers[].reason */
    dm_tp_am_slot_t am[DM_TP_AM_ID_MAX];

    /* descriptor pool (tp.c) */
    pthread_mutex_t desc_lock;
    void           *desc_free;    /* free list of dm_tp_desc_t */
    void           *desc_chunks;  /* every chunk allocated, freed at destroy */
    void           *bigbuf[DM_TP_BIGBUF_SLOTS];     /* cached large buffers (desc_lock) */
    size_t          bigbuf_cap[DM_TP_BIGBUF_SLOTS];

    /* progress hand-off between application threads and the progress thread */
    atomic_int      app_waiters;       /* application threads inside a wait */
    _Atomic uint64_t app_last_ns;      /* when an application thread last left a wait */
    atomic_uint     poll_count;        /* progress calls since the last failure check (a hint) */
    pthread_t       progress_thread;
    int             have_progress_thread;
    atomic_int      stop;
    atomic_int      closing;           /* dm_tp_destroy has begun */
    int             wake_fd;           /* eventfd to wake the progress thread */
    int             worker_efd;
    atomic_int      asleep;            /* the progress thread is (about to be) in its long poll */

    /*
     * Messages the layer above holds back (dm_tp_held): how many, and who
     * sends them. release_fn and release_arg change and are called only
     * under the serial lock, so clearing them there ends every call.
     */
    atomic_int         held;        /* the layer above holds messages */
    _Atomic uint64_t   held_since;  /* since when */
    dm_tp_release_fn  *release_fn;
    void              *release_arg;

    dm_coll_t       coll;
};

/*
 * Spin, then yield: a waiter whose progress calls find nothing for
 * DM_TP_SPIN_NS gives the CPU away between calls. With more ranks than
 * cores (tests, laptops), spinning waiters would starve the very process
 * they wait for (a 3-rank DSM test under load went from 48 s to 8 s).
 */
#define DM_TP_SPIN_NS (50 * 1000ull)

typedef struct dm_tp_backoff {
    uint64_t start; /* first idle poll of the current idle stretch; 0 none */
    unsigned idle;
} dm_tp_backoff_t;

void dm_tp_backoff(dm_tp_backoff_t *b, int progressed);

/* Progress as an application thread (used by waits in tp.c and coll.c). */
void dm_tp_wait_enter(dm_tp_t *tp);
void dm_tp_wait_leave(dm_tp_t *tp);

/*
 * DM_ERR_PEER_FAILED naming peer and why it failed, in the words of what
 * (NULL: "rank N failed: why"). The reason is written after the failed flag
 * is set, under fail_lock: read it only through this.
 */
dm_status_t dm_tp_peer_error_as(dm_tp_t *tp, int peer, const char *what);

dm_status_t dm_coll_init(dm_tp_t *tp);
void dm_coll_cleanup(dm_tp_t *tp);

#endif
