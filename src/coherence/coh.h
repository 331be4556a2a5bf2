/*
 * The page coherence protocol as a pure state machine: events in, actions
 * out, no I/O. The runtime (fault handler and message handlers), the unit
 * tests, the model checker and the simulator all drive these functions.
 *
 * The protocol essay is at the top of coh.c.
 *
 * Concurrency: the functions touch only the state passed in; the caller
 * serializes events per page (one lock per page or per directory shard).
 */
#ifndef DM_COHERENCE_COH_H
#define DM_COHERENCE_COH_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

/* A node's copy of one page. Stable: I, S, M; the rest wait for a message. */
typedef enum dm_coh_state {
    DM_COH_I = 0, /* no access */
    DM_COH_S,     /* read-only copy */
    DM_COH_M,     /* the only copy with write access */
    DM_COH_IS_D,  /* asked to read, waits for DATA_S */
    DM_COH_IM_D,  /* asked to write, waits for DATA_M */
    DM_COH_SM_D,  /* read-only, asked to write, waits for DATA_M */
    DM_COH_MI_A,  /* wrote back on eviction, waits for PUT_ACK */
    DM_COH_NSTATES
} dm_coh_state_t;

typedef enum dm_coh_msg_type {
    DM_COH_GETS = 1,   /* node -> home: read miss */
    DM_COH_GETM,       /* node -> home: write miss or upgrade */
    DM_COH_PUTM,       /* node -> home: write-back of an evicted dirty page (data) */
    DM_COH_INV,        /* home -> sharer: drop your copy */
    DM_COH_INV_ACK,    /* sharer -> home */
    DM_COH_RECALL_S,   /* home -> owner: keep a read-only copy, send the data */
    DM_COH_RECALL_I,   /* home -> owner: drop your copy, send the data */
    DM_COH_RECALL_DATA,/* owner -> home (data) */
    DM_COH_DATA_S,     /* home -> requester: read-only copy (data) */
    DM_COH_DATA_M,     /* home -> requester: the writable copy (data) */
    DM_COH_PUT_ACK,    /* home -> evicting owner */
    DM_COH_NMSG
} dm_coh_msg_type_t;

/* Page access the runtime must set on the local mapping. */
typedef enum dm_coh_prot {
    DM_COH_PROT_NONE = 0,
    DM_COH_PROT_READ,
    DM_COH_PROT_WRITE, /* read and write */
} dm_coh_prot_t;

/* Local events at a node. */
typedef enum dm_coh_local {
    DM_COH_READ = 1, /* read fault (or read access in I) */
    DM_COH_WRITE,    /* write fault */
    DM_COH_EVICT,    /* the cache wants the frame back */
} dm_coh_local_t;

/*
 * Actions, executed by the caller in the order given. The order is part of
 * the protocol: a PROTECT that revokes access always comes before the SEND
 * that carries the page's data (see the essay in coh.c).
 */
typedef enum dm_coh_action_type {
    DM_COH_ACT_SEND = 1,  /* send msg to dst; with_data: copy the page (local copy or home memory) */
    DM_COH_ACT_PROTECT,   /* set the local mapping's access to prot */
    DM_COH_ACT_INSTALL,   /* copy the data of the message being handled into the local page */
    DM_COH_ACT_STORE,     /* home: copy the data of the message being handled into home memory */
    DM_COH_ACT_WAKE,      /* stalled local accesses may retry */
    DM_COH_ACT_STALL,     /* the local access must wait for a WAKE */
} dm_coh_action_type_t;

typedef struct dm_coh_action {
    dm_coh_action_type_t type;
    dm_coh_msg_type_t    msg;       /* SEND */
    int                  dst;       /* SEND */
    int                  with_data; /* SEND: page data travels with it */
    dm_coh_prot_t        prot;      /* PROTECT */
} dm_coh_action_t;

/* Where actions go. The callee records or executes; it never re-enters. */
typedef void (*dm_coh_emit_t)(void *ctx, const dm_coh_action_t *action);

/*
 * The set of ranks holding read-only copies, at the home. Its memory is
 * proportional to the number of sharers (a sorted array), not to the job
 * size: no 64-bit masks, no N-bit vectors for pages nobody shares. The
 * first DM_COH_SHARERS_INLINE sharers live in the entry itself (ranks
 * points at inl), so the common read-shared page costs no allocation on
 * the home's message path; beyond that the array is on the heap.
 * Invariant: while ranks == inl the struct must not be copied or moved (a
 * directory entry stays where it was allocated; see dsm.c's slab).
 */
#define DM_COH_SHARERS_INLINE 4

typedef struct dm_coh_sharers {
    int32_t *ranks; /* sorted, no duplicates; inl, a heap array, or NULL (cap 0) */
    uint32_t count;
    uint32_t cap;
    int32_t  inl[DM_COH_SHARERS_INLINE];
} dm_coh_sharers_t;

typedef enum dm_coh_home_state {
    DM_COH_H_U = 0, /* only home memory holds the page */
    DM_COH_H_S,     /* home memory is current; sharers hold read-only copies */
    DM_COH_H_M,     /* owner holds the only current copy */
} dm_coh_home_state_t;

/* A request waiting at the home while another one on the page is in flight. */
typedef struct dm_coh_req {
    dm_coh_msg_type_t type; /* GETS or GETM */
    int32_t           src;
} dm_coh_req_t;

/* The directory entry of one page at its home. */
typedef struct dm_coh_dir {
    dm_coh_home_state_t state;
    int32_t             owner;     /* H_M */
    dm_coh_sharers_t    sharers;   /* H_S */
    /* the transaction in flight; busy == 0 when none */
    uint8_t             busy;
    dm_coh_req_t        cur;
    int32_t             wait_from; /* rank whose RECALL_DATA we wait for, or -1 */
    uint32_t            acks_left; /* INV_ACKs still missing */
    /* FIFO of requests that arrived while busy */
    dm_coh_req_t       *queue;
    uint32_t            qhead, qlen, qcap;
} dm_coh_dir_t;

void dm_coh_dir_init(dm_coh_dir_t *dir);
void dm_coh_dir_cleanup(dm_coh_dir_t *dir);

/*
 * A local event at a node whose copy is in *state. Emits the actions and
 * updates *state. Returns DM_OK, or DM_ERR_NO_MEMORY never (nodes do not
 * allocate: the fault path must not).
 */
dm_status_t dm_coh_node_local(dm_coh_state_t *state, dm_coh_local_t ev, int home,
                              dm_coh_emit_t emit, void *ctx);

/*
 * A message from the home at a node. Returns DM_OK, or DM_ERR_PROTOCOL when
 * the message cannot arrive in this state (a bug or a corrupt peer; the
 * state is left unchanged).
 */
dm_status_t dm_coh_node_msg(dm_coh_state_t *state, dm_coh_msg_type_t msg, int home,
                            dm_coh_emit_t emit, void *ctx);

/*
 * A message from rank src at the page's home. Returns DM_OK,
 * DM_ERR_PROTOCOL (impossible in this state; nothing changed), or
 * DM_ERR_NO_MEMORY (growing the sharer set or the queue failed; nothing
 * changed, the caller may retry the same message later).
 */
dm_status_t dm_coh_home_msg(dm_coh_dir_t *dir, dm_coh_msg_type_t msg, int src,
                            dm_coh_emit_t emit, void *ctx);

/* True for the states in which no message is awaited. */
static inline int dm_coh_state_stable(dm_coh_state_t s)
{
    return s == DM_COH_I || s == DM_COH_S || s == DM_COH_M;
}

/* Access the local mapping grants in each state (what a read or write may do without a fault). */
dm_coh_prot_t dm_coh_state_prot(dm_coh_state_t s);

const char *dm_coh_state_name(dm_coh_state_t s);
const char *dm_coh_msg_name(dm_coh_msg_type_t m);

#endif
