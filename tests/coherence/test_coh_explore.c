/*
 * Exhaustive exploration of the coherence state machine (src/coherence/coh.c)
 * for small configurations: N nodes (rank 0 is also the page's home), one
 * page, each node doing up to K operations chosen nondeterministically from
 * read, write and evict, messages in per-pair FIFO channels (the ordering the
 * transport guarantees), every interleaving of node steps and deliveries.
 *
 * In every reachable state it checks:
 *   SWMR      at most one node may write; if one may, no other node may read;
 *   DATA      every copy a node may read holds the latest written value, and
 *             every completed read returned it;
 *   PROTOCOL  no handler reports an impossible message;
 *   PROGRESS  every state with work left has a successor (no deadlock), and
 *             every terminal state is quiescent (channels empty, home idle,
 *             home memory or the owner holding the latest value).
 *
 *   test_coh_explore [N K]   default: runs (2,3), (3,2), (4,1)
 * Prints the number of states per configuration; exits 1 on any violation,
 * printing the trace that led to it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coh.h"

#define MAXN   4
#define CHCAP  4
#define QCAP   8
#define MAXDEP 5000

typedef struct {
    uint8_t type;
    uint8_t val; /* data value carried (0 when none) */
} msg_t;

typedef struct {
    msg_t   m[CHCAP];
    uint8_t len;
} chan_t;

/* The whole world, plain bytes so it can be hashed and copied. */
typedef struct {
    uint8_t state[MAXN];
    uint8_t val[MAXN];     /* the node's copy (valid in S, SM_D, M, MI_A) */
    uint8_t done[MAXN];    /* operations completed */
    uint8_t pending[MAXN]; /* 0 none, else the op (1 R, 2 W) stalled waiting for WAKE */
    uint8_t stalled[MAXN];
    uint8_t mem;           /* home memory */
    uint8_t latest;        /* the last written value */
    /* directory, serialized */
    uint8_t hstate;
    int8_t  owner;
    uint8_t sharers;       /* bitmask (fine for the test's N <= 4) */
    uint8_t busy;
    uint8_t cur_type;
    int8_t  cur_src;
    int8_t  wait_from;
    uint8_t acks_left;
    uint8_t qlen;
    uint8_t qtype[QCAP];
    int8_t  qsrc[QCAP];
    chan_t  ch[MAXN][MAXN]; /* ch[src][dst] */
} world_t;

static int N, K;

/* ---------------------------------------------------------------- */
/* the visited set: 64-bit hashes in open addressing */

static uint64_t *seen;
static size_t seen_cap, seen_count;

static uint64_t hash_world(const world_t *w)
{
    const unsigned char *p = (const unsigned char *)w;
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < sizeof(*w); i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h ? h : 1;
}

static int seen_insert(uint64_t h)
{
    size_t i;

    if (seen_count * 2 >= seen_cap) {
        uint64_t *old = seen;
        size_t oc = seen_cap;

        seen_cap = seen_cap ? seen_cap * 2 : (1u << 16);
        seen = calloc(seen_cap, sizeof(*seen));
        seen_count = 0;
        for (i = 0; i < oc; i++) {
            if (old[i]) {
                seen_insert(old[i]);
            }
        }
        free(old);
    }
    for (i = h & (seen_cap - 1);; i = (i + 1) & (seen_cap - 1)) {
        if (seen[i] == h) {
            return 0;
        }
        if (seen[i] == 0) {
            seen[i] = h;
            seen_count++;
            return 1;
        }
    }
}

/* ---------------------------------------------------------------- */
/* trace for error reports */

static char trace[MAXDEP][96];
static int depth;

static void fail(const world_t *w, const char *what)
{
    fprintf(stderr, "VIOLATION (N=%d K=%d): %s\ntrace:\n", N, K, what);
    for (int i = 0; i < depth; i++) {
        fprintf(stderr, "  %s\n", trace[i]);
    }
    fprintf(stderr, "states:");
    for (int i = 0; i < N; i++) {
        fprintf(stderr, " n%d=%s(v%d)", i, dm_coh_state_name(w->state[i]), w->val[i]);
    }
    fprintf(stderr, " home=%d owner=%d sharers=%x busy=%d mem=%d latest=%d\n", w->hstate,
            w->owner, w->sharers, w->busy, w->mem, w->latest);
    exit(1);
}

/* ---------------------------------------------------------------- */
/* executing actions */

typedef struct {
    world_t *w;
    int      self;     /* the rank acting */
    int      home_role;
    uint8_t  in_val;   /* data of the message being handled */
    int      overflow;
} exec_t;

static void emit(void *arg, const dm_coh_action_t *a)
{
    exec_t *x = arg;
    world_t *w = x->w;
    chan_t *c;

    switch (a->type) {
    case DM_COH_ACT_SEND:
        c = &w->ch[x->self][a->dst];
        if (c->len == CHCAP) {
            x->overflow = 1;
            return;
        }
        c->m[c->len].type = (uint8_t)a->msg;
        c->m[c->len].val = a->with_data ? (x->home_role ? w->mem : w->val[x->self]) : 0;
        c->len++;
        break;
    case DM_COH_ACT_INSTALL:
        w->val[x->self] = x->in_val;
        break;
    case DM_COH_ACT_STORE:
        w->mem = x->in_val;
        break;
    case DM_COH_ACT_WAKE:
        w->stalled[x->self] = 0;
        break;
    case DM_COH_ACT_STALL:
        w->stalled[x->self] = 1;
        break;
    case DM_COH_ACT_PROTECT:
        break; /* the permission is a function of the state here */
    }
}

static void dir_load(const world_t *w, dm_coh_dir_t *d)
{
    dm_coh_dir_init(d);
    d->state = w->hstate;
    d->owner = w->owner;
    d->busy = w->busy;
    d->cur.type = w->cur_type;
    d->cur.src = w->cur_src;
    d->wait_from = w->wait_from;
    d->acks_left = w->acks_left;
    d->sharers.cap = MAXN;
    d->sharers.ranks = calloc(MAXN, sizeof(int32_t));
    for (int r = 0; r < N; r++) {
        if (w->sharers & (1u << r)) {
            d->sharers.ranks[d->sharers.count++] = r;
        }
    }
    d->qcap = QCAP;
    d->queue = calloc(QCAP, sizeof(*d->queue));
    for (int i = 0; i < w->qlen; i++) {
        d->queue[i].type = w->qtype[i];
        d->queue[i].src = w->qsrc[i];
    }
    d->qlen = w->qlen;
}

static void dir_store(world_t *w, dm_coh_dir_t *d)
{
    w->hstate = (uint8_t)d->state;
    w->owner = (int8_t)(d->state == DM_COH_H_M ? d->owner : -1);
    w->busy = d->busy;
    w->cur_type = d->busy ? (uint8_t)d->cur.type : 0;
    w->cur_src = (int8_t)(d->busy ? d->cur.src : -1);
    w->wait_from = (int8_t)(d->busy ? d->wait_from : -1);
    w->acks_left = (uint8_t)d->acks_left;
    w->sharers = 0;
    for (uint32_t i = 0; i < d->sharers.count; i++) {
        w->sharers |= (uint8_t)(1u << d->sharers.ranks[i]);
    }
    if (d->qlen > QCAP) {
        fprintf(stderr, "queue bound exceeded\n");
        exit(1);
    }
    memset(w->qtype, 0, sizeof(w->qtype));
    memset(w->qsrc, 0, sizeof(w->qsrc));
    for (uint32_t i = 0; i < d->qlen; i++) {
        w->qtype[i] = (uint8_t)d->queue[(d->qhead + i) % d->qcap].type;
        w->qsrc[i] = (int8_t)d->queue[(d->qhead + i) % d->qcap].src;
    }
    w->qlen = (uint8_t)d->qlen;
    dm_coh_dir_cleanup(d);
}

static int is_home_msg(uint8_t t)
{
    return t == DM_COH_GETS || t == DM_COH_GETM || t == DM_COH_PUTM || t == DM_COH_INV_ACK ||
           t == DM_COH_RECALL_DATA;
}

/* ---------------------------------------------------------------- */
/* invariants */

static void check(const world_t *w)
{
    int writers = 0, readers = 0;

    for (int i = 0; i < N; i++) {
        dm_coh_prot_t p = dm_coh_state_prot(w->state[i]);

        if (p == DM_COH_PROT_WRITE) {
            writers++;
        } else if (p == DM_COH_PROT_READ) {
            readers++;
        }
        if (p != DM_COH_PROT_NONE && w->val[i] != w->latest) {
            fail(w, "DATA: a readable copy is stale");
        }
    }
    if (writers > 1 || (writers == 1 && readers > 0)) {
        fail(w, "SWMR violated");
    }
}

static int quiescent(const world_t *w)
{
    for (int s = 0; s < N; s++) {
        for (int d = 0; d < N; d++) {
            if (w->ch[s][d].len) {
                return 0;
            }
        }
    }
    return !w->busy && w->qlen == 0;
}

/* ---------------------------------------------------------------- */
/* the search */

static void explore(const world_t *w);

/* Copies in I, IS_D, IM_D are garbage: clear them so equal states hash equal. */
static void normalize(world_t *w)
{
    for (int i = 0; i < N; i++) {
        if (dm_coh_state_prot(w->state[i]) == DM_COH_PROT_NONE && w->state[i] != DM_COH_MI_A) {
            w->val[i] = 0;
        }
    }
}

static void step_local(const world_t *w0, int n, int op)
{
    world_t w = *w0;
    exec_t x = { .w = &w, .self = n, .home_role = 0 };
    dm_coh_prot_t p = dm_coh_state_prot(w.state[n]);
    dm_coh_state_t s = w.state[n];

    if (op == 1 && p != DM_COH_PROT_NONE) {
        if (w.val[n] != w.latest) {
            fail(&w, "DATA: a read returned a stale value");
        }
        w.done[n]++;
        w.pending[n] = 0;
        snprintf(trace[depth], sizeof(trace[0]), "n%d reads v%d", n, w.val[n]);
    } else if (op == 2 && p == DM_COH_PROT_WRITE) {
        w.val[n] = ++w.latest;
        w.done[n]++;
        w.pending[n] = 0;
        snprintf(trace[depth], sizeof(trace[0]), "n%d writes v%d", n, w.val[n]);
    } else {
        dm_coh_local_t ev = op == 1 ? DM_COH_READ : op == 2 ? DM_COH_WRITE : DM_COH_EVICT;

        if (dm_coh_node_local(&s, ev, 0, emit, &x) != DM_OK) {
            fail(&w, "PROTOCOL: local event rejected");
        }
        snprintf(trace[depth], sizeof(trace[0]), "n%d %s: %s -> %s", n,
                 op == 1 ? "read fault" : op == 2 ? "write fault" : "evict",
                 dm_coh_state_name(w.state[n]), dm_coh_state_name(s));
        w.state[n] = (uint8_t)s;
        if (op == 3) {
            w.done[n]++;
            w.pending[n] = 0;
        } else {
            w.pending[n] = (uint8_t)op; /* retried after WAKE */
        }
    }
    if (x.overflow) {
        return; /* outside the bound: not explored */
    }
    normalize(&w);
    depth++;
    explore(&w);
    depth--;
}

static void step_deliver(const world_t *w0, int src, int dst)
{
    world_t w = *w0;
    chan_t *c = &w.ch[src][dst];
    msg_t m = c->m[0];
    exec_t x = { .w = &w, .self = dst, .in_val = m.val };
    dm_status_t st;

    memmove(&c->m[0], &c->m[1], sizeof(msg_t) * (CHCAP - 1));
    memset(&c->m[CHCAP - 1], 0, sizeof(msg_t));
    c->len--;
    if (is_home_msg(m.type)) {
        dm_coh_dir_t d;

        x.home_role = 1;
        dir_load(&w, &d);
        st = dm_coh_home_msg(&d, m.type, src, emit, &x);
        dir_store(&w, &d);
        snprintf(trace[depth], sizeof(trace[0]), "home <- %s from n%d (v%d)",
                 dm_coh_msg_name(m.type), src, m.val);
    } else {
        dm_coh_state_t s = w.state[dst];

        st = dm_coh_node_msg(&s, m.type, 0, emit, &x);
        snprintf(trace[depth], sizeof(trace[0]), "n%d <- %s (v%d): %s -> %s", dst,
                 dm_coh_msg_name(m.type), m.val, dm_coh_state_name(w.state[dst]),
                 dm_coh_state_name(s));
        w.state[dst] = (uint8_t)s;
    }
    if (st != DM_OK) {
        depth++;
        fail(&w, "PROTOCOL: a handler rejected a message");
    }
    if (x.overflow) {
        return;
    }
    normalize(&w);
    depth++;
    explore(&w);
    depth--;
}

static void explore(const world_t *w)
{
    int moves = 0, work = 0;

    if (depth >= MAXDEP - 1) {
        fail(w, "trace too deep");
    }
    check(w);
    if (!seen_insert(hash_world(w))) {
        return;
    }
    for (int n = 0; n < N; n++) {
        if (w->stalled[n]) {
            work = 1;
            continue;
        }
        if (w->pending[n]) {
            moves++;
            step_local(w, n, w->pending[n]);
        } else if (w->done[n] < K) {
            work = 1;
            for (int op = 1; op <= 3; op++) {
                moves++;
                step_local(w, n, op);
            }
        }
    }
    for (int s = 0; s < N; s++) {
        for (int d = 0; d < N; d++) {
            /*
             * Forward progress: a node whose stalled access was just woken
             * performs it before it handles another message (the runtime
             * defers messages for the page until the woken access ran).
             */
            if (w->pending[d] && !w->stalled[d]) {
                continue;
            }
            if (w->ch[s][d].len) {
                moves++;
                step_deliver(w, s, d);
            }
        }
    }
    if (moves == 0) {
        if (work || !quiescent(w)) {
            fail(w, "PROGRESS: deadlock (work left, nothing can move)");
        }
        if (w->hstate != DM_COH_H_M && w->mem != w->latest) {
            fail(w, "DATA: home memory lost the latest write");
        }
        if (w->hstate == DM_COH_H_M && w->val[w->owner] != w->latest) {
            fail(w, "DATA: the owner lost the latest write");
        }
    }
}

static void run(int n, int k)
{
    world_t w;

    N = n;
    K = k;
    memset(&w, 0, sizeof(w));
    w.owner = -1;
    w.cur_src = -1;
    w.wait_from = -1;
    free(seen);
    seen = NULL;
    seen_cap = seen_count = 0;
    depth = 0;
    explore(&w);
    printf("coherence N=%d K=%d: %zu states, all invariants hold\n", n, k, seen_count);
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        run(atoi(argv[1]), atoi(argv[2]));
        return 0;
    }
    run(2, 3);
    run(3, 2);
    run(4, 1);
    return 0;
}
