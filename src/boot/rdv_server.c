/*
 * The rendezvous store (contract in rdv_server.h, frames in rdv_proto.h).
 *
 * Structure. One listening socket and one non-blocking connection per client.
 * Each connection has an input buffer (at most one frame beyond what was
 * handled) and an output buffer (answers queued; flushed when the socket is
 * writable). Handling a frame never writes to a socket: it only queues, so
 * a failure found while answering (a full output buffer) cannot re-enter the
 * handler; such connections are closed in the sweep at the end of a round.
 *
 * Values live in a chained hash table keyed by (rank, key). An entry exists
 * once the key was put or asked for; an entry asked for and not yet put holds
 * its waiters and sits on its owner rank's pending list, so that when the
 * owner leaves or fails its waiters are answered in time proportional to
 * their number, not to the size of the store.
 *
 * Fences. nfences[r] counts rank r's FENCE frames; generation g (0-based)
 * completes when every rank has nfences > g. fences_done is the number of
 * completed generations and arrived counts ranks with nfences > fences_done,
 * so a FENCE is O(1) and a completed generation O(nranks). A rank that left
 * or failed keeps its count frozen; generation g is doomed once such a rank
 * has nfences <= g. departed_min is the smallest frozen count, so "is g
 * doomed" is one comparison.
 *
 * Worked example, 3 ranks: rank 0 and 1 send FENCE (arrived = 2), rank 2 is
 * SIGKILLed: its count freezes at 0, departed_min = 0 <= fences_done = 0,
 * so ranks 0 and 1 get FENCE_FAILED(rank 2) at once; a later FENCE of rank 0
 * (its 2nd, generation 1) is doomed as well and answered at once.
 */
#include "rdv_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "rdv_proto.h"
#include "status.h"

#define DM_RDV_IN_INIT      4096
#define DM_RDV_OUT_MAX      (64u << 20) /* a client this far behind is not reading */
#define DM_RDV_ACCEPT_BURST 256         /* accepts per round, so clients get served too */
#define DM_RDV_READ_BURST   16          /* reads per connection per round */
#define DM_RDV_NRANKS_MAX   16777216

typedef struct dm_rdv_waiter {
    struct dm_rdv_waiter *next;
    int                   rank;   /* who asked */
    uint32_t              req_id;
} dm_rdv_waiter_t;

typedef struct dm_rdv_entry {
    struct dm_rdv_entry *hnext;        /* hash chain */
    struct dm_rdv_entry *pnext, *pprev; /* owner's pending list; valid iff pending */
    uint64_t             hash;
    int                  rank;         /* owner */
    int                  has_value;
    int                  pending;      /* has waiters and no value */
    size_t               vlen;
    uint8_t             *value;
    dm_rdv_waiter_t     *waiters;      /* non-NULL only while !has_value */
    size_t               key_len;
    char                 key[DM_BOOT_KEY_MAX];
} dm_rdv_entry_t;

typedef struct dm_rdv_conn {
    int      fd;      /* -1 once closed */
    int      rank;    /* -1 until its HELLO is accepted */
    int      closing; /* close once the output is flushed (after REFUSED or BYE) */
    int      dead;    /* closed; freed in the sweep */
    char    *fail;    /* close in the sweep, failing its rank with this reason */
    uint8_t *in;
    size_t   in_len, in_cap;
    uint8_t *out;
    size_t   out_off, out_len, out_cap;
    char     peer[64];
} dm_rdv_conn_t;

typedef enum { DM_RDV_RANK_NEW, DM_RDV_RANK_JOINED, DM_RDV_RANK_LEFT, DM_RDV_RANK_FAILED } dm_rdv_rank_state_t;

typedef struct dm_rdv_rank {
    dm_rdv_conn_t      *conn;          /* non-NULL iff JOINED */
    dm_rdv_rank_state_t state;
    uint32_t            pid;
    uint64_t            nfences;       /* FENCE frames received */
    uint32_t            fence_req;     /* req_id of the newest */
    int                 fence_waiting; /* newest FENCE not answered yet */
    dm_rdv_entry_t     *pending;       /* own entries with waiters and no value */
    char               *reason;        /* why it failed (FAILED only) */
} dm_rdv_rank_t;

struct dm_rdv_server {
    int              listen_fd;
    uint16_t         port;
    int              nranks;
    size_t           job_key_len;
    char             job_key[DM_RDV_JOB_KEY_MAX + 1];

    dm_rdv_conn_t  **conns;        /* every connection not yet freed */
    size_t           nconns, conns_cap;
    dm_rdv_conn_t  **pollmap;      /* conn of pfds[i + 1], as of the last fill */
    size_t           npollmap, pollmap_cap;

    dm_rdv_rank_t   *ranks;
    int              njoined, nleft, nfailed, first_failed;

    dm_rdv_entry_t **table;        /* size is a power of 2 */
    size_t           table_size, nentries;

    uint64_t         fences_done;  /* completed fence generations */
    int              arrived;      /* ranks with nfences > fences_done */
    uint64_t         departed_min; /* smallest nfences of a LEFT/FAILED rank */
    int              departed_min_rank;
};

/* ---- helpers ---------------------------------------------------------- */

static uint64_t dm_rdv_hash(int rank, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ ((uint64_t)(uint32_t)rank * 0x9E3779B97F4A7C15ull);
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static dm_rdv_entry_t *dm_rdv_lookup(dm_rdv_server_t *srv, int rank, const char *key, size_t len,
                                     uint64_t hash)
{
    dm_rdv_entry_t *e;

    for (e = srv->table[hash & (srv->table_size - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == hash && e->rank == rank && e->key_len == len && !memcmp(e->key, key, len)) {
            return e;
        }
    }
    return NULL;
}

static void dm_rdv_table_grow(dm_rdv_server_t *srv)
{
    size_t nsize = srv->table_size * 2, i;
    dm_rdv_entry_t **nt = calloc(nsize, sizeof(*nt));

    if (nt == NULL) {
        return; /* longer chains, still correct */
    }
    for (i = 0; i < srv->table_size; i++) {
        dm_rdv_entry_t *e = srv->table[i], *next;

        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = nt[e->hash & (nsize - 1)];
            nt[e->hash & (nsize - 1)] = e;
        }
    }
    free(srv->table);
    srv->table = nt;
    srv->table_size = nsize;
}

/* Finds or creates the entry; NULL only when out of memory. */
static dm_rdv_entry_t *dm_rdv_entry_get(dm_rdv_server_t *srv, int rank, const char *key,
                                        size_t len)
{
    uint64_t hash = dm_rdv_hash(rank, key, len);
    dm_rdv_entry_t *e = dm_rdv_lookup(srv, rank, key, len, hash);
    size_t b;

    if (e != NULL) {
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->hash = hash;
    e->rank = rank;
    e->key_len = len;
    memcpy(e->key, key, len);
    b = hash & (srv->table_size - 1);
    e->hnext = srv->table[b];
    srv->table[b] = e;
    if (++srv->nentries > srv->table_size) {
        dm_rdv_table_grow(srv);
    }
    return e;
}

static void dm_rdv_pending_unlink(dm_rdv_server_t *srv, dm_rdv_entry_t *e)
{
    if (!e->pending) {
        return;
    }
    if (e->pprev) {
        e->pprev->pnext = e->pnext;
    } else {
        srv->ranks[e->rank].pending = e->pnext;
    }
    if (e->pnext) {
        e->pnext->pprev = e->pprev;
    }
    e->pnext = e->pprev = NULL;
    e->pending = 0;
}

/* ---- output ----------------------------------------------------------- */

static void dm_rdv_conn_fail_later(dm_rdv_conn_t *c, const char *reason)
{
    if (c->fail == NULL && !c->dead) {
        c->fail = strdup(reason);
        if (c->fail == NULL) {
            c->fail = (char *)"";  /* never freed: see dm_rdv_conn_free */
        }
    }
}

/* Queues msg on c. Never writes to the socket (see the top of this file). */
static void dm_rdv_send(dm_rdv_conn_t *c, const dm_rdv_msg_t *msg)
{
    size_t size = dm_rdv_frame_size(msg), len;

    if (c == NULL || c->dead || c->fail != NULL || size == 0) {
        return;
    }
    if (c->out_off > 0 && c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    if (c->out_len + size > c->out_cap) {
        size_t ncap;
        uint8_t *nb;

        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + size > DM_RDV_OUT_MAX) {
            dm_rdv_conn_fail_later(c, "it stopped reading from its rendezvous connection");
            return;
        }
        ncap = c->out_cap ? c->out_cap : 4096;
        while (ncap < c->out_len + size) {
            ncap *= 2;
        }
        if (ncap > c->out_cap) {
            nb = realloc(c->out, ncap);
            if (nb == NULL) {
                dm_rdv_conn_fail_later(c, "the rendezvous ran out of memory");
                return;
            }
            c->out = nb;
            c->out_cap = ncap;
        }
    }
    if (dm_rdv_encode(msg, c->out + c->out_len, c->out_cap - c->out_len, &len) == DM_OK) {
        c->out_len += len;
    }
}

static void dm_rdv_send_text(dm_rdv_conn_t *c, dm_rdv_type_t type, uint32_t req_id,
                             uint32_t rank, const char *text)
{
    dm_rdv_msg_t m = { .type = type, .req_id = req_id, .rank = rank, .data = text };

    m.data_len = strlen(text);
    if (m.data_len > DM_RDV_TEXT_MAX) {
        m.data_len = DM_RDV_TEXT_MAX;
    }
    dm_rdv_send(c, &m);
}

/* Writes what the socket takes. Returns -1 on a broken connection. */
static int dm_rdv_conn_flush(dm_rdv_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        c->out_off += (size_t)n;
    }
    return 0;
}

/* ---- rank state ------------------------------------------------------- */

static dm_rdv_conn_t *dm_rdv_rank_conn(dm_rdv_server_t *srv, int rank)
{
    dm_rdv_rank_t *r = &srv->ranks[rank];

    return r->state == DM_RDV_RANK_JOINED ? r->conn : NULL;
}

static void dm_rdv_departed_text(dm_rdv_server_t *srv, int rank, char *buf, size_t cap)
{
    dm_rdv_rank_t *r = &srv->ranks[rank];

    if (r->state == DM_RDV_RANK_FAILED && r->reason != NULL && !strncmp(r->reason, "rank ", 5)) {
        snprintf(buf, cap, "%s", r->reason); /* already names the rank */
    } else if (r->state == DM_RDV_RANK_FAILED) {
        snprintf(buf, cap, "rank %d failed: %s", rank, r->reason ? r->reason : "");
    } else {
        snprintf(buf, cap, "rank %d left the job", rank);
    }
}

/* Answers every FENCE that can no longer complete. O(nranks). */
static void dm_rdv_fail_doomed_fences(dm_rdv_server_t *srv)
{
    char text[DM_RDV_TEXT_MAX + 1];
    int w, have_text = 0;

    for (w = 0; w < srv->nranks; w++) {
        dm_rdv_rank_t *r = &srv->ranks[w];

        if (!r->fence_waiting || srv->departed_min > r->nfences - 1) {
            continue;
        }
        if (!have_text) {
            dm_rdv_departed_text(srv, srv->departed_min_rank, text, sizeof(text));
            have_text = 1;
        }
        r->fence_waiting = 0;
        dm_rdv_send_text(dm_rdv_rank_conn(srv, w), DM_RDV_FENCE_FAILED, r->fence_req,
                         (uint32_t)srv->departed_min_rank, text);
    }
}

/*
 * Rank left or failed: its fence count freezes and nobody will ever see a
 * key it has not put yet. pre: its state is already LEFT or FAILED.
 */
static void dm_rdv_rank_depart(dm_rdv_server_t *srv, int rank)
{
    dm_rdv_rank_t *r = &srv->ranks[rank];
    char text[2 * DM_RDV_TEXT_MAX], why[DM_RDV_TEXT_MAX + 1];

    r->fence_waiting = 0;
    if (r->nfences < srv->departed_min) {
        srv->departed_min = r->nfences;
        srv->departed_min_rank = rank;
        dm_rdv_fail_doomed_fences(srv);
    }

    dm_rdv_departed_text(srv, rank, why, sizeof(why));
    while (r->pending != NULL) {
        dm_rdv_entry_t *e = r->pending;
        dm_rdv_waiter_t *w, *next;

        dm_rdv_pending_unlink(srv, e);
        snprintf(text, sizeof(text), "%s before putting key \"%.*s\"", why, (int)e->key_len,
                 e->key);
        for (w = e->waiters; w != NULL; w = next) {
            next = w->next;
            dm_rdv_send_text(dm_rdv_rank_conn(srv, w->rank), DM_RDV_GET_FAILED, w->req_id,
                             (uint32_t)rank, text);
            free(w);
        }
        e->waiters = NULL;
    }
}

static void dm_rdv_conn_close(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const char *reason);

static void dm_rdv_rank_fail(dm_rdv_server_t *srv, int rank, const char *reason)
{
    dm_rdv_rank_t *r = &srv->ranks[rank];
    dm_rdv_rank_state_t prev = r->state;
    int w;

    if (prev == DM_RDV_RANK_FAILED) {
        return;
    }
    r->state = DM_RDV_RANK_FAILED;
    free(r->reason);
    r->reason = strndup(reason, DM_RDV_TEXT_MAX - 32);
    srv->nfailed++;
    if (prev == DM_RDV_RANK_LEFT) {
        srv->nleft--;
    }
    if (srv->first_failed < 0) {
        srv->first_failed = rank;
    }
    DM_INFO("rendezvous: rank %d failed: %s", rank, reason);
    if (r->conn != NULL) {
        dm_rdv_conn_close(srv, r->conn, NULL); /* state is FAILED: no re-entry */
    }
    for (w = 0; w < srv->nranks; w++) {
        if (w != rank) {
            dm_rdv_send_text(dm_rdv_rank_conn(srv, w), DM_RDV_FAILED, 0, (uint32_t)rank,
                             r->reason ? r->reason : reason);
        }
    }
    if (prev != DM_RDV_RANK_LEFT) {
        dm_rdv_rank_depart(srv, rank);
    }
}

/* Closes c now; if it carried a joined rank, that rank fails with reason. */
static void dm_rdv_conn_close(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const char *reason)
{
    int rank = c->rank;

    if (c->dead) {
        return;
    }
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    if (rank < 0) {
        return;
    }
    srv->ranks[rank].conn = NULL;
    if (srv->ranks[rank].state == DM_RDV_RANK_JOINED) {
        srv->njoined--;
        dm_rdv_rank_fail(srv, rank, reason ? reason : "its rendezvous connection closed");
    }
    /* LEFT: BYE already counted it; FAILED: mark_failed did. */
}

/* ---- frame handlers --------------------------------------------------- */

static void dm_rdv_refuse(dm_rdv_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dm_rdv_refuse(dm_rdv_conn_t *c, const char *fmt, ...)
{
    char text[DM_RDV_TEXT_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    DM_WARN("rendezvous: refused the client at %s: %s", c->peer, text);
    dm_rdv_send_text(c, DM_RDV_REFUSED, 0, 0, text);
    c->closing = 1;
}

static void dm_rdv_on_hello(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const dm_rdv_msg_t *m)
{
    dm_rdv_rank_t *r;
    dm_rdv_msg_t welcome = { .type = DM_RDV_WELCOME };
    int w;
    unsigned diff = 0;
    size_t i;

    /* Compare the whole key whatever its content, so timing says little. */
    for (i = 0; i < m->key_len; i++) {
        diff |= (unsigned)(uint8_t)m->key[i] ^ (uint8_t)srv->job_key[i % (srv->job_key_len + 1)];
    }
    if (diff != 0 || m->key_len != srv->job_key_len) {
        dm_rdv_refuse(c, "wrong job key (rank %u must use the DISTMEM_JOB_KEY of this job)",
                      m->rank);
        return;
    }
    if (m->nranks != (uint32_t)srv->nranks) {
        dm_rdv_refuse(c, "this job has %d ranks, rank %u says %u (check DISTMEM_NRANKS)",
                      srv->nranks, m->rank, m->nranks);
        return;
    }
    if (m->rank >= (uint32_t)srv->nranks) {
        dm_rdv_refuse(c, "rank %u is out of range for a job of %d ranks", m->rank, srv->nranks);
        return;
    }
    r = &srv->ranks[m->rank];
    if (r->state != DM_RDV_RANK_NEW) {
        dm_rdv_refuse(c, "rank %u already joined this job (pid %u)", m->rank, r->pid);
        return;
    }
    r->state = DM_RDV_RANK_JOINED;
    r->conn = c;
    r->pid = m->pid;
    c->rank = (int)m->rank;
    srv->njoined++;
    snprintf(c->peer, sizeof(c->peer), "rank %u (pid %u)", m->rank, m->pid);
    DM_DEBUG("rendezvous: rank %u (pid %u) joined", m->rank, m->pid);
    dm_rdv_send(c, &welcome);
    /* Failures that happened before it joined. */
    if (srv->nfailed > 0) {
        for (w = 0; w < srv->nranks; w++) {
            if (srv->ranks[w].state == DM_RDV_RANK_FAILED) {
                dm_rdv_send_text(c, DM_RDV_FAILED, 0, (uint32_t)w,
                                 srv->ranks[w].reason ? srv->ranks[w].reason : "");
            }
        }
    }
}

static void dm_rdv_on_put(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const dm_rdv_msg_t *m)
{
    dm_rdv_entry_t *e = dm_rdv_entry_get(srv, c->rank, m->key, m->key_len);
    dm_rdv_waiter_t *w, *next;
    uint8_t *v;

    if (e == NULL) {
        dm_rdv_conn_fail_later(c, "the rendezvous ran out of memory");
        return;
    }
    v = realloc(e->value, m->data_len ? m->data_len : 1);
    if (v == NULL) {
        dm_rdv_conn_fail_later(c, "the rendezvous ran out of memory");
        return;
    }
    memcpy(v, m->data, m->data_len);
    e->value = v;
    e->vlen = m->data_len;
    e->has_value = 1;
    dm_rdv_pending_unlink(srv, e);
    for (w = e->waiters; w != NULL; w = next) {
        dm_rdv_msg_t ans = { .type = DM_RDV_VALUE, .req_id = w->req_id, .data = e->value,
                             .data_len = e->vlen };

        next = w->next;
        dm_rdv_send(dm_rdv_rank_conn(srv, w->rank), &ans);
        free(w);
    }
    e->waiters = NULL;
}

static void dm_rdv_on_get(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const dm_rdv_msg_t *m)
{
    int target = (int)m->rank;
    uint64_t hash = dm_rdv_hash(target, m->key, m->key_len);
    dm_rdv_entry_t *e = dm_rdv_lookup(srv, target, m->key, m->key_len, hash);
    dm_rdv_waiter_t *w;
    char why[DM_RDV_TEXT_MAX + 1], text[2 * DM_RDV_TEXT_MAX];

    if (e != NULL && e->has_value) {
        dm_rdv_msg_t ans = { .type = DM_RDV_VALUE, .req_id = m->req_id, .data = e->value,
                             .data_len = e->vlen };

        dm_rdv_send(c, &ans);
        return;
    }
    if (srv->ranks[target].state == DM_RDV_RANK_LEFT ||
        srv->ranks[target].state == DM_RDV_RANK_FAILED) {
        dm_rdv_departed_text(srv, target, why, sizeof(why));
        snprintf(text, sizeof(text), "%s before putting key \"%.*s\"", why, (int)m->key_len,
                 m->key);
        dm_rdv_send_text(c, DM_RDV_GET_FAILED, m->req_id, (uint32_t)target, text);
        return;
    }
    e = e ? e : dm_rdv_entry_get(srv, target, m->key, m->key_len);
    w = malloc(sizeof(*w));
    if (e == NULL || w == NULL) {
        free(w);
        dm_rdv_conn_fail_later(c, "the rendezvous ran out of memory");
        return;
    }
    w->rank = c->rank;
    w->req_id = m->req_id;
    w->next = e->waiters;
    e->waiters = w;
    if (!e->pending) {
        dm_rdv_rank_t *owner = &srv->ranks[target];

        e->pending = 1;
        e->pprev = NULL;
        e->pnext = owner->pending;
        if (owner->pending) {
            owner->pending->pprev = e;
        }
        owner->pending = e;
    }
}

static void dm_rdv_on_fence(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const dm_rdv_msg_t *m)
{
    dm_rdv_rank_t *r = &srv->ranks[c->rank];
    int w;

    r->nfences++;
    r->fence_req = m->req_id;
    r->fence_waiting = 1;
    if (r->nfences == srv->fences_done + 1) {
        srv->arrived++;
    }
    if (srv->departed_min <= r->nfences - 1) {
        dm_rdv_fail_doomed_fences(srv);
        return;
    }
    while (srv->arrived == srv->nranks) {
        srv->fences_done++;
        srv->arrived = 0;
        for (w = 0; w < srv->nranks; w++) {
            dm_rdv_rank_t *o = &srv->ranks[w];

            if (o->fence_waiting && o->nfences == srv->fences_done) {
                dm_rdv_msg_t done = { .type = DM_RDV_FENCE_DONE, .req_id = o->fence_req };

                o->fence_waiting = 0;
                dm_rdv_send(dm_rdv_rank_conn(srv, w), &done);
            }
            if (o->nfences > srv->fences_done) {
                srv->arrived++;
            }
        }
    }
}

/* Handles one decoded frame of c. Returns 0, or -1 to stop reading c. */
static int dm_rdv_on_frame(dm_rdv_server_t *srv, dm_rdv_conn_t *c, const dm_rdv_msg_t *m)
{
    char text[160];

    if (c->rank < 0) {
        if (m->type != DM_RDV_HELLO) {
            snprintf(text, sizeof(text), "protocol error: expected HELLO, got %s",
                     dm_rdv_type_name((int)m->type));
            goto err_proto;
        }
        dm_rdv_on_hello(srv, c, m);
        return c->closing ? -1 : 0;
    }
    switch (m->type) {
    case DM_RDV_PUT:
        dm_rdv_on_put(srv, c, m);
        return 0;
    case DM_RDV_GET:
        if (m->rank >= (uint32_t)srv->nranks) {
            snprintf(text, sizeof(text), "protocol error: GET of rank %u in a job of %d ranks",
                     m->rank, srv->nranks);
            goto err_proto;
        }
        dm_rdv_on_get(srv, c, m);
        return 0;
    case DM_RDV_FENCE:
        dm_rdv_on_fence(srv, c, m);
        return 0;
    case DM_RDV_BYE:
        srv->ranks[c->rank].state = DM_RDV_RANK_LEFT;
        srv->ranks[c->rank].conn = NULL;
        srv->njoined--;
        srv->nleft++;
        c->closing = 1;
        DM_DEBUG("rendezvous: %s left", c->peer);
        dm_rdv_rank_depart(srv, c->rank);
        return -1;
    default:
        snprintf(text, sizeof(text), "protocol error: unexpected %s frame",
                 dm_rdv_type_name((int)m->type));
        goto err_proto;
    }

err_proto:
    DM_ERROR("rendezvous: closing the connection of %s: %s", c->peer, text);
    dm_rdv_conn_close(srv, c, text);
    return -1;
}

/* Reads what c has and handles every complete frame. */
static void dm_rdv_conn_read(dm_rdv_server_t *srv, dm_rdv_conn_t *c)
{
    int burst;

    for (burst = 0; burst < DM_RDV_READ_BURST && !c->dead && !c->closing && !c->fail; burst++) {
        dm_rdv_msg_t m;
        size_t off = 0, need = 0;
        dm_status_t st;
        ssize_t n;

        n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            char text[160];

            if (n == 0) {
                snprintf(text, sizeof(text), "%s closed its rendezvous connection without "
                         "saying goodbye (it exited or was killed)", c->peer);
            } else {
                snprintf(text, sizeof(text), "%s: rendezvous connection error: %s", c->peer,
                         strerror(errno));
            }
            if (c->rank >= 0) {
                DM_INFO("rendezvous: %s", text);
            }
            dm_rdv_conn_close(srv, c, text);
            return;
        }
        c->in_len += (size_t)n;

        for (;;) {
            st = dm_rdv_decode(c->in + off, c->in_len - off, &m, &need);
            if (st == DM_INPROGRESS) {
                break;
            }
            if (st != DM_OK) {
                char text[DM_RDV_TEXT_MAX];

                snprintf(text, sizeof(text), "protocol error: %s", dm_last_error());
                DM_ERROR("rendezvous: closing the connection of %s: %s", c->peer, text);
                dm_rdv_conn_close(srv, c, text);
                return;
            }
            off += need;
            if (dm_rdv_on_frame(srv, c, &m) < 0) {
                return; /* closing or closed: the rest of its input is ignored */
            }
        }
        if (off > 0) {
            memmove(c->in, c->in + off, c->in_len - off);
            c->in_len -= off;
        }
        if (need > c->in_cap) {
            uint8_t *nb = realloc(c->in, need);

            if (nb == NULL) {
                dm_rdv_conn_close(srv, c, "the rendezvous ran out of memory");
                return;
            }
            c->in = nb;
            c->in_cap = need;
        }
    }
}

/* ---- connections ------------------------------------------------------ */

static void dm_rdv_conn_free(dm_rdv_conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->fail != NULL && c->fail[0] != '\0') {
        free(c->fail);
    }
    free(c->in);
    free(c->out);
    free(c);
}

static void dm_rdv_accept(dm_rdv_server_t *srv)
{
    int burst;

    for (burst = 0; burst < DM_RDV_ACCEPT_BURST; burst++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
        dm_rdv_conn_t *c;
        int fd, one = 1;

        fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                DM_WARN("rendezvous: accept failed: %s", strerror(errno));
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c != NULL) {
            c->in = malloc(DM_RDV_IN_INIT);
        }
        if (c == NULL || c->in == NULL ||
            (srv->nconns == srv->conns_cap &&
             !(srv->conns = realloc(srv->conns, (srv->conns_cap = srv->conns_cap * 2 + 16) *
                                                    sizeof(*srv->conns))))) {
            DM_ERROR("rendezvous: out of memory accepting a connection");
            if (c) free(c->in);
            free(c);
            close(fd);
            if (srv->conns == NULL) {
                srv->nconns = srv->conns_cap = 0;
            }
            return;
        }
        c->fd = fd;
        c->rank = -1;
        c->in_cap = DM_RDV_IN_INIT;
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
        srv->conns[srv->nconns++] = c;
    }
}

/*
 * End of a round: write queued output, close what must be closed, free what
 * is closed. O(connections).
 */
static void dm_rdv_sweep(dm_rdv_server_t *srv)
{
    size_t i, j;

    for (i = 0; i < srv->nconns; i++) {
        dm_rdv_conn_t *c = srv->conns[i];

        if (c->dead) {
            continue;
        }
        if (c->fail != NULL) {
            char text[DM_RDV_TEXT_MAX];

            snprintf(text, sizeof(text), "%s: %s", c->peer, c->fail);
            DM_ERROR("rendezvous: closing the connection of %s", text);
            dm_rdv_conn_close(srv, c, text);
            continue;
        }
        if (c->out_off < c->out_len && dm_rdv_conn_flush(c) < 0) {
            char text[DM_RDV_TEXT_MAX];

            snprintf(text, sizeof(text), "%s: rendezvous connection error: %s", c->peer,
                     strerror(errno));
            dm_rdv_conn_close(srv, c, text);
            continue;
        }
        if (c->closing && c->out_off == c->out_len) {
            dm_rdv_conn_close(srv, c, NULL); /* LEFT or never joined: not a failure */
        }
    }
    /* Closing may have failed ranks and queued notices: the next round sends them. */
    for (i = j = 0; i < srv->nconns; i++) {
        if (srv->conns[i]->dead) {
            dm_rdv_conn_free(srv->conns[i]);
        } else {
            srv->conns[j++] = srv->conns[i];
        }
    }
    srv->nconns = j;
}

/* ---- public ----------------------------------------------------------- */

dm_status_t dm_rdv_server_create(const char *bind_addr, int nranks, const char *job_key,
                                 dm_rdv_server_t **srv_p)
{
    char host[256], portstr[8];
    uint16_t port;
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    dm_rdv_server_t *srv;
    dm_status_t st;
    int rc, fd = -1, one = 1, err = 0, r;

    if (nranks < 1 || nranks > DM_RDV_NRANKS_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "a job needs 1..%d ranks, not %d",
                            DM_RDV_NRANKS_MAX, nranks);
    }
    if (job_key == NULL) {
        job_key = "";
    }
    if (strlen(job_key) > DM_RDV_JOB_KEY_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "the job key is longer than %d bytes",
                            DM_RDV_JOB_KEY_MAX);
    }
    st = dm_rdv_parse_addr(bind_addr, host, sizeof(host), &port, 1);
    if (st != DM_OK) {
        return st;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", port);
    rc = getaddrinfo(strcmp(host, "*") ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        return dm_error_set(DM_ERR_CONFIG, "cannot resolve the rendezvous address %s: %s",
                            bind_addr, gai_strerror(rc));
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, nranks + 64 > 65535 ? 65535 : nranks + 64) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return dm_error_set(DM_ERR_BOOTSTRAP, "cannot listen on %s: %s", bind_addr,
                            strerror(err));
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        err = errno;
        close(fd);
        return dm_error_set(DM_ERR_BOOTSTRAP, "getsockname on %s: %s", bind_addr, strerror(err));
    }

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        goto err_close;
    }
    srv->ranks = calloc((size_t)nranks, sizeof(*srv->ranks));
    srv->table_size = 64;
    while (srv->table_size < (size_t)nranks * 2) {
        srv->table_size *= 2;
    }
    srv->table = calloc(srv->table_size, sizeof(*srv->table));
    if (srv->ranks == NULL || srv->table == NULL) {
        goto err_free;
    }
    for (r = 0; r < nranks; r++) {
        srv->ranks[r].state = DM_RDV_RANK_NEW;
    }
    srv->listen_fd = fd;
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    srv->nranks = nranks;
    srv->job_key_len = strlen(job_key);
    memcpy(srv->job_key, job_key, srv->job_key_len + 1);
    srv->first_failed = -1;
    srv->departed_min = UINT64_MAX;
    srv->departed_min_rank = -1;
    DM_DEBUG("rendezvous: listening on %s (port %u) for %d ranks", bind_addr, srv->port, nranks);
    *srv_p = srv;
    return DM_OK;

err_free:
    free(srv->ranks);
    free(srv->table);
    free(srv);
err_close:
    close(fd);
    return dm_error_set(DM_ERR_NO_MEMORY, "out of memory creating the rendezvous for %d ranks",
                        nranks);
}

void dm_rdv_server_destroy(dm_rdv_server_t *srv)
{
    size_t i;
    int r;

    if (srv == NULL) {
        return;
    }
    for (i = 0; i < srv->nconns; i++) {
        dm_rdv_conn_free(srv->conns[i]);
    }
    for (i = 0; i < srv->table_size; i++) {
        dm_rdv_entry_t *e = srv->table[i], *next;

        for (; e != NULL; e = next) {
            dm_rdv_waiter_t *w, *wn;

            next = e->hnext;
            for (w = e->waiters; w != NULL; w = wn) {
                wn = w->next;
                free(w);
            }
            free(e->value);
            free(e);
        }
    }
    for (r = 0; r < srv->nranks; r++) {
        free(srv->ranks[r].reason);
    }
    close(srv->listen_fd);
    free(srv->table);
    free(srv->ranks);
    free(srv->conns);
    free(srv->pollmap);
    free(srv);
}

uint16_t dm_rdv_server_port(const dm_rdv_server_t *srv)
{
    return srv->port;
}

size_t dm_rdv_server_fd_count(const dm_rdv_server_t *srv)
{
    return 1 + srv->nconns;
}

void dm_rdv_server_fill_pollfds(dm_rdv_server_t *srv, struct pollfd *pfds)
{
    size_t i, n = 0;

    if (srv->pollmap_cap < srv->nconns) {
        dm_rdv_conn_t **nm = realloc(srv->pollmap, srv->nconns * sizeof(*nm));

        if (nm != NULL) {
            srv->pollmap = nm;
            srv->pollmap_cap = srv->nconns;
        }
    }
    pfds[0].fd = srv->listen_fd;
    pfds[0].events = POLLIN;
    pfds[0].revents = 0;
    for (i = 0; i < srv->nconns; i++) {
        dm_rdv_conn_t *c = srv->conns[i];
        struct pollfd *p = &pfds[1 + i];

        p->revents = 0;
        /* A closed fd is never polled: -1 makes poll skip the slot. */
        p->fd = (c->dead || i >= srv->pollmap_cap) ? -1 : c->fd;
        p->events = 0;
        if (!c->closing) {
            p->events |= POLLIN;
        }
        if (c->out_off < c->out_len) {
            p->events |= POLLOUT;
        }
        if (i < srv->pollmap_cap) {
            srv->pollmap[i] = c;
            n = i + 1;
        }
    }
    srv->npollmap = n;
}

void dm_rdv_server_handle_pollfds(dm_rdv_server_t *srv, const struct pollfd *pfds, size_t n)
{
    size_t i;

    for (i = 1; i < n && i - 1 < srv->npollmap; i++) {
        dm_rdv_conn_t *c = srv->pollmap[i - 1];

        if (c->dead || pfds[i].fd != c->fd || pfds[i].revents == 0) {
            continue;
        }
        if (pfds[i].revents & POLLOUT) {
            if (dm_rdv_conn_flush(c) < 0) {
                char text[DM_RDV_TEXT_MAX];

                snprintf(text, sizeof(text), "%s: rendezvous connection error: %s", c->peer,
                         strerror(errno));
                dm_rdv_conn_close(srv, c, text);
                continue;
            }
        }
        if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (c->closing) {
                continue; /* closed in the sweep once flushed */
            }
            dm_rdv_conn_read(srv, c);
        }
    }
    srv->npollmap = 0;
    /* Accept after the reads so that pollmap indices stayed valid above. */
    if (n > 0 && (pfds[0].revents & POLLIN)) {
        dm_rdv_accept(srv);
    }
    dm_rdv_sweep(srv);
}

dm_status_t dm_rdv_server_progress(dm_rdv_server_t *srv, int timeout_ms)
{
    size_t n = dm_rdv_server_fd_count(srv);
    struct pollfd stack[64], *pfds = n <= 64 ? stack : malloc(n * sizeof(*pfds));
    int rc;

    if (pfds == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "out of memory polling %zu connections", n);
    }
    dm_rdv_server_fill_pollfds(srv, pfds);
    rc = poll(pfds, (nfds_t)n, timeout_ms);
    if (rc < 0) {
        int err = errno;

        if (pfds != stack) free(pfds);
        if (err == EINTR) {
            return DM_OK;
        }
        return dm_error_set(DM_ERR_IO, "poll: %s", strerror(err));
    }
    dm_rdv_server_handle_pollfds(srv, pfds, n);
    if (pfds != stack) free(pfds);
    return DM_OK;
}

dm_status_t dm_rdv_server_mark_failed(dm_rdv_server_t *srv, int rank, const char *reason)
{
    if (rank < 0 || rank >= srv->nranks) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "no rank %d in a job of %d ranks", rank,
                            srv->nranks);
    }
    if (srv->ranks[rank].state == DM_RDV_RANK_JOINED) {
        srv->njoined--;
    }
    dm_rdv_rank_fail(srv, rank, reason ? reason : "declared failed");
    /* Its connection is closed: dm_rdv_conn_close found the state FAILED. */
    return DM_OK;
}

int dm_rdv_server_all_done(const dm_rdv_server_t *srv)
{
    return srv->nleft == srv->nranks;
}

void dm_rdv_server_query(const dm_rdv_server_t *srv, dm_rdv_server_info_t *info)
{
    info->nranks = srv->nranks;
    info->njoined = srv->njoined;
    info->nleft = srv->nleft;
    info->nfailed = srv->nfailed;
    info->nnew = srv->nranks - srv->njoined - srv->nleft - srv->nfailed;
    info->first_failed = srv->first_failed;
    info->first_reason = srv->first_failed >= 0 && srv->ranks[srv->first_failed].reason
                                 ? srv->ranks[srv->first_failed].reason
                                 : "";
}
