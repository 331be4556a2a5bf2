/*
 * Collectives the runtime needs for itself, built on active messages with
 * logarithmic depth:
 *   barrier    dissemination (ceil(log2 N) rounds, one message per rank per
 *              round), works for any N;
 *   bcast      binomial tree from the root;
 *   allgather  Bruck's algorithm (ceil(log2 N) rounds, any N).
 *
 * Contract: every rank calls the same collectives in the same order, one at
 * a time per process (the caller serializes threads). Messages are matched
 * by (sequence number, round, sender), so a rank that runs ahead into the
 * next collective does not confuse a slower one.
 *
 * Failure: a collective needs every rank, so once any peer is marked failed
 * it returns DM_ERR_PEER_FAILED naming that peer. There is no timeout on a
 * live peer that is merely slow to arrive.
 */
#ifndef DM_TRANSPORT_COLL_H
#define DM_TRANSPORT_COLL_H

#include <stddef.h>

#include "tp.h"

dm_status_t dm_tp_barrier(dm_tp_t *tp);

/* Copies len bytes of root's buf into every rank's buf. */
dm_status_t dm_tp_bcast(dm_tp_t *tp, int root, void *buf, size_t len);

/* out (nranks * len bytes) receives every rank's in (len bytes) in rank order. */
dm_status_t dm_tp_allgather(dm_tp_t *tp, const void *in, void *out, size_t len);

#endif
