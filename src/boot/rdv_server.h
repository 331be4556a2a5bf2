/*
 * The rendezvous store: a TCP key-value store scoped by rank, with fences
 * (barriers) and failure notices, for the rdv bootstrap backend (boot_rdv.c)
 * and the `distmem run` / `distmem rendezvous` commands. Protocol in
 * rdv_proto.h.
 *
 * Single-threaded and embeddable: the owner drives it either with
 * dm_rdv_server_progress() (one poll round) or by merging its descriptors into
 * its own poll(2) loop (fd_count / fill_pollfds / handle_pollfds). Sockets are
 * non-blocking; a slow client never stalls the server (its answers queue in
 * a per-connection buffer).
 *
 * What the server guarantees to the ranks:
 *   - PUT (rank r, key) is stored before any later frame of rank r is handled;
 *     a value may be overwritten by a later PUT of the same rank and key;
 *   - GET (t, key) is answered with the value as soon as t has put it; if t
 *     leaves (BYE) or fails without having put it, the GET is answered
 *     GET_FAILED. A value put before t failed is still served;
 *   - the g-th FENCE of every rank forms generation g; it is answered
 *     FENCE_DONE to all once all nranks ranks have sent their g-th FENCE, or
 *     FENCE_FAILED once a rank left or failed before sending it;
 *   - a rank fails when its connection closes without BYE, when it breaks the
 *     protocol, or when the owner calls dm_rdv_server_mark_failed(); then
 *     every other connected rank gets FAILED(rank, reason) once, and ranks that
 *     connect later get it on joining.
 * Costs: a frame is handled in O(1) expected time plus the answers it causes
 * (hash table of values); a failure or a fence generation costs O(nranks);
 * a poll round O(open connections).
 *
 * Rank states: NEW (never said HELLO) -> JOINED -> LEFT (BYE) or FAILED;
 * LEFT -> FAILED only through mark_failed. A rank joins at most once: a
 * second HELLO for a rank that joined before is refused.
 */
#ifndef DM_BOOT_RDV_SERVER_H
#define DM_BOOT_RDV_SERVER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

typedef struct dm_rdv_server dm_rdv_server_t;

/* A snapshot of the job as the server sees it (dm_rdv_server_query). */
typedef struct dm_rdv_server_info {
    int         nranks;
    int         njoined;      /* ranks whose connection is open now */
    int         nleft;        /* ranks that said BYE */
    int         nfailed;      /* ranks that failed */
    int         nnew;         /* ranks that never joined */
    int         first_failed; /* the first rank that failed, or -1 */
    const char *first_reason; /* its reason ("" when none); valid until the next call */
} dm_rdv_server_info_t;

/*
 * Creates a server listening on bind_addr ("HOST:PORT"; port 0 = ephemeral,
 * host "0.0.0.0" or "*" = all interfaces) for a job of nranks ranks whose
 * clients must present job_key (NULL or "" = the empty key).
 * Errors: DM_ERR_INVALID_PARAM (nranks < 1 or > 16777216, job key longer than
 * 255 bytes), DM_ERR_CONFIG (malformed address, unknown host),
 * DM_ERR_BOOTSTRAP (socket, bind or listen failed: address in use, ...),
 * DM_ERR_NO_MEMORY.
 */
dm_status_t dm_rdv_server_create(const char *bind_addr, int nranks, const char *job_key,
                                 dm_rdv_server_t **srv_p);

/* Closes every connection and frees everything. NULL is accepted. */
void dm_rdv_server_destroy(dm_rdv_server_t *srv);

/* The TCP port the server listens on (the ephemeral one when 0 was asked). */
uint16_t dm_rdv_server_port(const dm_rdv_server_t *srv);

/*
 * One poll round: waits up to timeout_ms (-1 = forever, 0 = not at all) for
 * activity, then handles everything that is ready. Returns DM_OK, or the
 * poll(2) error as DM_ERR_IO (EINTR is DM_OK: a signal interrupted the wait).
 */
dm_status_t dm_rdv_server_progress(dm_rdv_server_t *srv, int timeout_ms);

/* Number of pollfd entries dm_rdv_server_fill_pollfds() writes. */
size_t dm_rdv_server_fd_count(const dm_rdv_server_t *srv);

/*
 * Writes dm_rdv_server_fd_count() entries at pfds. The caller polls them and
 * passes the same entries, unchanged except for revents, to
 * dm_rdv_server_handle_pollfds() before calling fill again.
 */
void dm_rdv_server_fill_pollfds(dm_rdv_server_t *srv, struct pollfd *pfds);

/* Handles the events poll reported in pfds[0..n). */
void dm_rdv_server_handle_pollfds(dm_rdv_server_t *srv, const struct pollfd *pfds, size_t n);

/*
 * Declares rank failed (the launcher saw it die), closes its connection and
 * tells the other ranks. reason is copied (at most DM_RDV_TEXT_MAX bytes are
 * kept). Marking a failed rank again does nothing. Errors:
 * DM_ERR_INVALID_PARAM (rank out of range).
 */
dm_status_t dm_rdv_server_mark_failed(dm_rdv_server_t *srv, int rank, const char *reason);

/* 1 when every rank said BYE, else 0. */
int dm_rdv_server_all_done(const dm_rdv_server_t *srv);

/* Fills *info with the current counts. */
void dm_rdv_server_query(const dm_rdv_server_t *srv, dm_rdv_server_info_t *info);

#endif
