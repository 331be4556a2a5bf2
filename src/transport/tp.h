/*
 * Transport: active messages, RMA and flush over one UCX worker per process,
 * plus the collectives the runtime needs for itself (coll.h).
 *
 * Endpoints. One UCP endpoint per peer, created the first time this process
 * talks to that peer (its worker address is fetched from the bootstrap store
 * then), so a 1024-rank job opens only the endpoints it uses.
 *
 * Progress design (who calls ucp_worker_progress, and when):
 *   - A thread that waits for something (a blocking send, a put, a flush, a
 *     collective) progresses the worker itself while it waits, and notes the
 *     time it last did so.
 *   - The progress thread (DISTMEM_PROGRESS_THREAD, on by default) serves
 *     peers while the application computes: when no application thread has
 *     progressed for DM_TP_HANDOFF_NS it progresses until the worker is idle,
 *     arms the worker and sleeps on its event fd (at most DM_TP_IDLE_POLL_MS,
 *     to also check the bootstrap for failed peers). While an application
 *     thread is progressing, the progress thread stays out of the way, so a
 *     latency-bound loop is not slowed by lock hand-offs.
 *   - Without the progress thread, peers are served only while this process
 *     is inside a distmem call (the classic MPI progress rule).
 * The worker runs in UCS_THREAD_MODE_MULTI, so any thread may progress.
 *
 * Active-message handlers run in whichever thread progresses, with the
 * worker's (recursive) lock held. A handler must not block: it may post
 * sends (dm_tp_am_post) and touch its own state under its own locks, but
 * never wait for a reply. Message payloads are valid only during the call.
 *
 * Ordering: messages from one process to one peer are handled in the
 * order they were sent (UCX keeps per-endpoint order for AM), up to
 * DM_TP_EAGER_MAX bytes of data each (see there). Nothing is
 * promised across different senders, nor between AM and RMA without a flush.
 *
 * Failure: a peer is marked failed when UCX reports an endpoint error, when
 * the bootstrap store reports it dead, or when an operation on it does not
 * finish within DISTMEM_PEER_TIMEOUT. Every operation that depends on a
 * failed peer returns DM_ERR_PEER_FAILED (dm_last_error names the peer and
 * the cause); operations never hang on a dead peer.
 */
#ifndef DM_TRANSPORT_TP_H
#define DM_TRANSPORT_TP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "config.h"
#include "distmem_status.h"

#define DM_TP_AM_ID_MAX    64  /* handler ids are 0 .. DM_TP_AM_ID_MAX-1 */
#define DM_TP_AM_HDR_MAX   64  /* bytes of user header per message */
/*
 * Order: messages from one rank to another whose data is at most
 * DM_TP_EAGER_MAX bytes are handled at the receiver in the order they were
 * sent (UCX's eager protocol); a larger one may be handled after messages
 * sent later (its handler runs when the rendezvous has fetched the data).
 */
#define DM_TP_EAGER_MAX    (128 * 1024)
#define DM_TP_POST_INLINE  (4096 + 256) /* posted payloads up to this are copied into a pooled buffer */

/* Handler ids used inside distmem. Upper layers take ids from DM_TP_AM_USER on. */
enum {
    DM_TP_AM_COLL = 0, /* collectives (coll.c) */
    DM_TP_AM_BYE = 1,  /* a peer's last message before it closes (tp.c) */
    DM_TP_AM_USER = 8,
};

typedef struct dm_tp     dm_tp_t;
typedef struct dm_tp_mem dm_tp_mem_t;   /* memory registered with UCX */
typedef struct dm_tp_rkey dm_tp_rkey_t; /* a peer's memory, unpacked for RMA */

/*
 * Active-message handler. src is the sender's rank; hdr/data are valid only
 * during the call. Runs in the progress context (see above).
 */
typedef void (*dm_tp_am_handler_t)(void *arg, int src, const void *hdr, size_t hdr_len,
                                   const void *data, size_t len);

/*
 * Creates the worker, publishes its address through boot (a put; the
 * caller fences) and starts the progress thread when cfg asks for it.
 * boot must outlive the transport. Errors: DM_ERR_TRANSPORT (UCX could not
 * start), DM_ERR_NO_MEMORY, bootstrap errors from the put.
 */
dm_status_t dm_tp_create(dm_boot_t *boot, const dm_config_t *cfg, dm_tp_t **tp_p);

/*
 * Stops the progress thread, flushes and closes every endpoint (bounded by
 * the peer timeout; failed peers are closed by force) and releases UCX.
 * The caller has made sure no peer still sends to it (a barrier). Never fails.
 */
void dm_tp_destroy(dm_tp_t *tp);

int dm_tp_rank(const dm_tp_t *tp);
int dm_tp_nranks(const dm_tp_t *tp);

/*
 * Registers handler for id; must be done on every rank before any peer
 * sends with that id (in practice: before the fence of dm_init or a
 * barrier). Errors: DM_ERR_INVALID_PARAM (id out of range),
 * DM_ERR_EXISTS (id taken).
 */
dm_status_t dm_tp_am_register(dm_tp_t *tp, unsigned id, dm_tp_am_handler_t handler, void *arg);

/*
 * Sends an active message and returns when hdr and data may be reused.
 * hdr_len <= DM_TP_AM_HDR_MAX. dst may be this rank (delivered through UCX
 * like any other). Must not be called from a handler (use dm_tp_am_post).
 * Errors: DM_ERR_INVALID_PARAM, DM_ERR_PEER_FAILED.
 */
dm_status_t dm_tp_am_send(dm_tp_t *tp, int dst, unsigned id, const void *hdr, size_t hdr_len,
                          const void *data, size_t len);

/*
 * Sends an active message without waiting: hdr and data are copied when
 * the send cannot complete at once, so the caller may reuse them on return.
 * Safe from handlers. A failure to deliver marks dst failed; the status
 * returned covers only what is known at once (DM_ERR_PEER_FAILED when dst
 * has already failed, DM_ERR_NO_MEMORY, DM_ERR_INVALID_PARAM).
 */
dm_status_t dm_tp_am_post(dm_tp_t *tp, int dst, unsigned id, const void *hdr, size_t hdr_len,
                          const void *data, size_t len);

/*
 * Registers len bytes with UCX for RMA. addr == NULL: UCX allocates (the
 * form shared-memory transports can reach; see MISSION.md). addr != NULL
 * and fixed: UCX allocates exactly at addr (UCP_MEM_MAP_FIXED). addr != NULL
 * and !fixed: registers existing memory.
 */
dm_status_t dm_tp_mem_map(dm_tp_t *tp, void *addr, size_t len, int fixed, dm_tp_mem_t **mem_p);
void dm_tp_mem_unmap(dm_tp_t *tp, dm_tp_mem_t *mem);
void *dm_tp_mem_addr(const dm_tp_mem_t *mem);
size_t dm_tp_mem_length(const dm_tp_mem_t *mem);

/*
 * Packs the remote key of mem into a buffer to give to peers; release it
 * with dm_tp_rkey_buffer_release.
 */
dm_status_t dm_tp_mem_pack(dm_tp_t *tp, const dm_tp_mem_t *mem, void **buf_p, size_t *len_p);
void dm_tp_rkey_buffer_release(void *buf);

/* Unpacks a peer's packed key (connecting to the peer if needed). */
dm_status_t dm_tp_rkey_unpack(dm_tp_t *tp, int peer, const void *buf, size_t len,
                              dm_tp_rkey_t **rkey_p);
void dm_tp_rkey_destroy(dm_tp_rkey_t *rkey);

/*
 * Every rank's registered region, known to every rank. Collective: each rank
 * passes its own region (all ranks must call it, in the same order as other
 * collectives). Afterwards any rank reaches any other's region by its base
 * address and remote key without more messages. Keys are unpacked on first
 * use per peer, so sharing opens no endpoint by itself. Errors: those of
 * the allgather (DM_ERR_PEER_FAILED), DM_ERR_NO_MEMORY, DM_ERR_TRANSPORT.
 */
typedef struct dm_tp_shared dm_tp_shared_t;

dm_status_t dm_tp_mem_share(dm_tp_t *tp, const dm_tp_mem_t *mem, dm_tp_shared_t **shared_p);

/*
 * peer's region: base address, length and the key to use with
 * dm_tp_put/get towards peer (owned by sh; valid until dm_tp_shared_destroy).
 * Thread-safe.
 */
dm_status_t dm_tp_shared_lookup(dm_tp_t *tp, dm_tp_shared_t *sh, int peer, uint64_t *base_p,
                                size_t *len_p, dm_tp_rkey_t **rkey_p);

void dm_tp_shared_destroy(dm_tp_shared_t *sh);

/*
 * RMA. put: returns when src may be reused (local completion; remote
 * visibility needs a flush). get: returns when the data is in dst.
 * The _nbi forms only start the operation: src must stay unchanged and dst
 * is not filled until the next dm_tp_flush covering dst.
 * Errors: DM_ERR_INVALID_PARAM, DM_ERR_PEER_FAILED, DM_ERR_TRANSPORT.
 */
dm_status_t dm_tp_put(dm_tp_t *tp, int dst, const void *src, size_t len, uint64_t raddr,
                      dm_tp_rkey_t *rkey);
dm_status_t dm_tp_get(dm_tp_t *tp, int src_rank, void *dst, size_t len, uint64_t raddr,
                      dm_tp_rkey_t *rkey);
dm_status_t dm_tp_put_nbi(dm_tp_t *tp, int dst, const void *src, size_t len, uint64_t raddr,
                          dm_tp_rkey_t *rkey);
dm_status_t dm_tp_get_nbi(dm_tp_t *tp, int src_rank, void *dst, size_t len, uint64_t raddr,
                          dm_tp_rkey_t *rkey);

/*
 * Completes every operation this process started towards peer (or all
 * peers when peer < 0): puts are visible at the target, gets have landed.
 */
dm_status_t dm_tp_flush(dm_tp_t *tp, int peer);

/*
 * The bootstrap's fence, serialized with the transport's own use of the
 * bootstrap (connecting to peers, polling for failures): after
 * dm_tp_create, call this instead of dm_boot_fence.
 */
dm_status_t dm_tp_boot_fence(dm_tp_t *tp);

/* One round of progress; returns nonzero when something happened. */
int dm_tp_progress(dm_tp_t *tp);

/*
 * Waits until *flag (written by a handler) becomes nonzero, progressing
 * meanwhile. peer >= 0 names the rank whose message sets the flag: its
 * failure ends the wait with DM_ERR_PEER_FAILED. The wait also ends with
 * DM_ERR_PEER_FAILED after DISTMEM_PEER_TIMEOUT.
 */
dm_status_t dm_tp_wait_flag(dm_tp_t *tp, const volatile int *flag, int peer);

/*
 * Waits until cond(arg) returns nonzero, progressing meanwhile (cond is
 * evaluated without any transport lock). Ends with DM_ERR_PEER_FAILED as
 * soon as any peer of the job has failed: a wait on the job's shared state
 * cannot tell which peer it depends on. No timeout otherwise (a lock may be
 * held, or a page used, for as long as the application likes).
 */
dm_status_t dm_tp_wait_until(dm_tp_t *tp, int (*cond)(void *arg), void *arg);

/*
 * The lock active-message handlers run under (recursive). Between enter and
 * leave no handler runs in any thread, so state that handlers change can be
 * changed here too without another lock, and messages posted here leave in
 * the order they were posted relative to those posted by handlers. Must not
 * be held while waiting for a message.
 */
void dm_tp_serial_enter(dm_tp_t *tp);
void dm_tp_serial_leave(dm_tp_t *tp);

/*
 * Messages held back by the layer above so that several leave as one
 * (rma.c's open batches of one-sided operations). That layer says when it
 * starts and stops holding any with dm_tp_held (under the serial lock)
 * and names the function that sends them with dm_tp_set_release (NULL
 * clears it; both under the serial lock). The function runs under the
 * serial lock, never inside a handler, and must send everything held.
 * Who calls it:
 *   - every thread that progresses (dm_tp_progress, so every wait of this
 *     layer and of the layers above), before it progresses: nobody waits
 *     for an answer to a message that was never sent;
 *   - the progress thread, once something has been held for
 *     DM_TP_HOLD_NS (50 us; a batch fills in far less while the
 *     application keeps adding to it): held messages leave
 *     soon after the application stops adding to them, even when it
 *     neither waits nor calls distmem again. dm_tp_held(tp, 1) wakes
 *     the progress thread from its long sleep.
 * Without the progress thread they leave when the application next waits
 * (the classic progress rule, as for everything else then).
 */
typedef void dm_tp_release_fn(void *arg);
void dm_tp_set_release(dm_tp_t *tp, dm_tp_release_fn *fn, void *arg);
void dm_tp_held(dm_tp_t *tp, int held);

/* Number of peers marked failed so far, departed peers not counted (0 in a healthy job). */
int dm_tp_nfailed(dm_tp_t *tp);

/* Nonzero when peer has been marked failed (a departed peer whose endpoint closed counts). */
int dm_tp_peer_failed(dm_tp_t *tp, int peer);

/*
 * Nonzero once peer's goodbye arrived: it finished normally (dm_tp_destroy)
 * and every message it sent before has been handled here. It sends nothing
 * more, and its leaving is not a failure (dm_tp_nfailed does not count it).
 */
int dm_tp_peer_departed(dm_tp_t *tp, int peer);

/*
 * The failed flags of all ranks, one byte each (1: dm_tp_peer_failed), valid
 * until dm_tp_destroy: for fast paths that check a peer on every operation
 * without a call (a relaxed load; the flag never goes back to 0).
 */
const atomic_uchar *dm_tp_failed_flags(dm_tp_t *tp);

/* The lowest rank marked failed that did not depart normally; -1 when none. */
int dm_tp_first_failed(dm_tp_t *tp);

/*
 * Marks peer failed with a reason (idempotent). Upper layers call it when a
 * protocol message from peer is malformed beyond recovery.
 */
void dm_tp_peer_fail(dm_tp_t *tp, int peer, const char *reason);

/* Number of endpoints opened so far (for tests of on-demand connection). */
int dm_tp_num_endpoints(dm_tp_t *tp);

#endif
