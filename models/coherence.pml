/*
 * coherence.pml -- the page coherence protocol of src/coherence/coh.c,
 * model-checked with Spin on the implementation's own transition function.
 *
 * WHAT RUNS
 *   The node and home transitions are the C functions dm_coh_node_local,
 *   dm_coh_node_msg and dm_coh_home_msg, linked in from src/coherence/coh.c
 *   (or from a mutated copy of it; models/mutants/). This file only models
 *   the world around them: application threads, the cache's evictor, the
 *   action executor of each node, the home's directory memory and the network.
 *   The whole world is one C struct (W) that lives in Spin's state vector
 *   (c_state "Global"): every byte of it is hashed and compared, so states
 *   are matched exactly.
 *
 * CONFIGURATION (compile pan with -D...)
 *   NODES      nodes, 2..3; rank 0 is also the home of every page   (default 3)
 *   PAGES      pages, 1..2                                             (default 1)
 *   OPS       operations per (node, page): read, write or evict       (default 2)
 *   NO_FWD  drop the forward-progress rule (a liveness mutant of the caller)
 *
 * THE WORLD
 *   Application thread, one per (node, page), does OPS operations chosen
 *   nondeterministically. A read or write the current page protection allows
 *   runs at once, without the protocol (a load or store; it does not take the
 *   page lock, so it can happen between any two actions of a handler). Any
 *   other access faults: the thread takes the page lock and calls
 *   dm_coh_node_local; it is then blocked until the WAKE action and retries
 *   the access (the retry may fault again). An eviction is the cache's
 *   decision, taken by another thread at any time the page lock is free
 *   (also while the application thread is stalled); it counts against OPS.
 *
 *   Actions of a node are executed one by one, each in its own atomic step,
 *   in the order the state machine emitted them, while the page lock stays
 *   held (no other protocol event for that page at that node runs in
 *   between; loads and stores under the current protection may). SEND with
 *   data copies the node's page when the SEND executes, PROTECT changes the
 *   protection the loads and stores see, INSTALL copies the data of the
 *   message being handled. So the order of PROTECT and SEND matters, as it
 *   does on real hardware (the "revoke before handing over" of the essay).
 *   The home's actions (STORE, SEND with data from home memory) run in one
 *   atomic step: nothing else writes home memory.
 *
 *   Network: one FIFO channel per ordered pair of ranks (src, dst), shared by
 *   all pages and by both roles of rank 0 (home and node), as UCX active
 *   messages on one endpoint are delivered in the order sent. The
 *   implementation relies on this order (essay in coh.c, "Network
 *   assumption"); the model gives exactly that order and no more.
 *   Forward-progress rule (essay, "Forward progress"): a node whose stalled
 *   access was woken performs it before it handles another message for that
 *   page. Channel capacity and the home queue are bounds of the model; going
 *   past one is reported as an error (assert !bad_bound), never pruned.
 *
 * PROPERTIES AND EXPECTED VERDICTS (models/check compares against these)
 *   safety run (pan -DNOCLAIM, default search, invalid end states checked):
 *     !bad_swmr   SWMR on the protection the hardware enforces: at most one
 *                 node of a page may write, and if one may, no other may read;
 *     !bad_data   every copy a node may read holds the latest written value,
 *                 and every completed read returned it;
 *     !bad_proto  no handler rejects an event (DM_ERR_PROTOCOL), a fault is
 *                 always stalled, and when a node's page lock is free its
 *                 protection is the one its state grants;
 *     !bad_lost   when everything is done: home memory holds the latest
 *                 value of every unowned page, the owner that of an owned one;
 *     !bad_bound  the model's channel and queue bounds suffice;
 *     no invalid end state: every state that is not finished (work left,
 *                 messages in flight, a home transaction open) has a move.
 *   liveness run (pan -a -f, ltl "served"):
 *     []<> !anywait under weak fairness: infinitely often no access is
 *                 waiting for the protocol, hence every fault is served.
 *
 *   EXPECT n3-p1-k1  safety pass, liveness pass
 *   EXPECT n3-p1-k2  safety pass
 *   EXPECT n3-p2-k1  safety pass
 *   EXPECT n2-p1-k3  safety pass, liveness pass
 *   EXPECT n2-p2-k1  safety pass, liveness pass
 *   EXPECT mutant no-inv-wait          safety counterexample   (home grants DATA_M before the INV_ACKs)
 *   EXPECT mutant send-before-protect  safety counterexample   (recall copies the page, then revokes)
 *   EXPECT mutant putm-no-store        safety counterexample   (eviction write-back dropped)
 *   EXPECT mutant inv-no-ack           safety counterexample   (INV in S not acknowledged: deadlock)
 *   EXPECT mutant ack-before-protect   safety counterexample   (INV_ACK sent before the read access is revoked)
 *   EXPECT mutant recall-keeps-write   safety counterexample   (RECALL_S leaves write access)
 *   EXPECT mutant no-fwd-progress      liveness counterexample (model -DNO_FWD: livelock)
 *   (models/check holds the same table as data; keep the two in step.)
 */

c_decl {
\#include <stdarg.h>
\#include <stdint.h>
\#include <stdio.h>
\#include <stdlib.h>
\#include <string.h>
\#include "coh.h"

#ifndef NODES
#define NODES 3
#endif
#ifndef PAGES
#define PAGES 1
#endif
#ifndef OPS
#define OPS 2
#endif
#define CHCAP  6  /* messages in flight per ordered pair */
#define QCAP   4  /* requests queued at the home per page */
#define MAXACT 4  /* actions of one handler call */

typedef struct {
    uint8_t type, page, val; /* val: data carried, 0 when none */
} msg_t;

typedef struct {
    msg_t   m[CHCAP];
    uint8_t len;
} chan_t;

typedef struct {
    uint8_t type, msg, dst, with_data, prot;
} act_t;

/* a directory entry, serialized (dm_coh_dir_t holds pointers) */
typedef struct {
    uint8_t hstate;
    int8_t  owner;
    uint8_t sharers; /* bit mask of ranks */
    uint8_t busy, cur_type;
    int8_t  cur_src, wait_from;
    uint8_t acks_left, qlen;
    uint8_t qtype[QCAP];
    int8_t  qsrc[QCAP];
} sdir_t;

typedef struct {
    uint8_t state[NODES][PAGES];   /* dm_coh_state_t */
    uint8_t prot[NODES][PAGES];    /* the mapping's protection, set by PROTECT only */
    uint8_t val[NODES][PAGES];     /* the node's copy of the page */
    uint8_t done[NODES][PAGES];    /* operations of the (node, page) thread so far */
    uint8_t pend[NODES][PAGES];    /* 0, or the access (1 read, 2 write) waiting to complete */
    uint8_t stalled[NODES][PAGES]; /* the waiting access is blocked until WAKE */
    uint8_t nact[NODES][PAGES];    /* actions still to execute; > 0: the page lock is held */
    uint8_t in_val[NODES][PAGES];  /* data of the message being handled (for INSTALL) */
    act_t   act[NODES][PAGES][MAXACT];
    uint8_t mem[PAGES];         /* home memory */
    uint8_t latest[PAGES];      /* the value of the last write */
    sdir_t  dir[PAGES];
    chan_t  ch[NODES][NODES];      /* ch[src][dst] */
    /* which steps are enabled: a function of the rest, kept here because
     * Spin's c_expr guards may not call functions */
    uint8_t en_app[NODES];      /* bit p*3 + op-1 */
    uint8_t en_exec[NODES];     /* bit p */
    uint8_t en_dlv[NODES][NODES];
    uint8_t fin;
} world_t;
}

c_state "world_t W" "Global"

/* verdict bits and the liveness observable, set by the C code */
bit bad_swmr, bad_data, bad_proto, bad_lost, bad_bound;
bit anywait;

c_code {
/* ---------------------------------------------------------------- */
/* the trail: printed only when pan replays a counterexample (-r)     */

extern int readtrail;

static void say(const char *fmt, ...)
{
    va_list ap;

    if (!readtrail) {
        return;
    }
    va_start(ap, fmt);
    printf("  | ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static const char *opname(int op)
{
    return op == 1 ? "read" : op == 2 ? "write" : "evict";
}

/* ---------------------------------------------------------------- */
/* emitting                                                           */

typedef struct {
    int     self, page, home_role;
    uint8_t in_val;
    act_t   acts[MAXACT];
    int     n;
} emit_ctx_t;

static void chan_push(int src, int dst, int page, int type, int val)
{
    chan_t *c = &now.W.ch[src][dst];

    if (c->len == CHCAP) {
        now.bad_bound = 1;
        return;
    }
    c->m[c->len].type = (uint8_t)type;
    c->m[c->len].page = (uint8_t)page;
    c->m[c->len].val = (uint8_t)val;
    c->len++;
}

/* home actions run at once, in order; node actions are recorded */
static void emit(void *arg, const dm_coh_action_t *a)
{
    emit_ctx_t *x = arg;
    int p = x->page;

    if (x->home_role) {
        switch (a->type) {
        case DM_COH_ACT_SEND:
            chan_push(0, a->dst, p, a->msg, a->with_data ? now.W.mem[p] : 0);
            say("home -> n%d %s p%d%s", a->dst, dm_coh_msg_name(a->msg), p,
                a->with_data ? " (data)" : "");
            break;
        case DM_COH_ACT_STORE:
            now.W.mem[p] = x->in_val;
            say("home STORE p%d = v%d", p, x->in_val);
            break;
        default:
            now.bad_proto = 1; /* the home neither protects, installs, wakes nor stalls */
        }
        return;
    }
    if (x->n == MAXACT) {
        now.bad_bound = 1;
        return;
    }
    x->acts[x->n].type = (uint8_t)a->type;
    x->acts[x->n].msg = (uint8_t)a->msg;
    x->acts[x->n].dst = (uint8_t)a->dst;
    x->acts[x->n].with_data = (uint8_t)a->with_data;
    x->acts[x->n].prot = (uint8_t)a->prot;
    x->n++;
}

static void exec_one(int n, int p);

static void node_queue(emit_ctx_t *x)
{
    int n = x->self, p = x->page;

    memcpy(now.W.act[n][p], x->acts, sizeof(x->acts));
    now.W.nact[n][p] = (uint8_t)x->n;
    now.W.in_val[n][p] = x->in_val;
#ifdef ATOMIC_ACTS
    while (now.W.nact[n][p]) {
        exec_one(n, p);
    }
#endif
}

/* ---------------------------------------------------------------- */
/* the directory, serialized around each call (as test_coh_explore.c)  */

static void dir_load(const sdir_t *s, dm_coh_dir_t *d)
{
    dm_coh_dir_init(d);
    d->state = (dm_coh_home_state_t)s->hstate;
    d->owner = s->owner;
    d->busy = s->busy;
    d->cur.type = (dm_coh_msg_type_t)s->cur_type;
    d->cur.src = s->cur_src;
    d->wait_from = s->wait_from;
    d->acks_left = s->acks_left;
    d->sharers.cap = NODES;
    d->sharers.ranks = calloc(NODES, sizeof(int32_t));
    for (int r = 0; r < NODES; r++) {
        if (s->sharers & (1u << r)) {
            d->sharers.ranks[d->sharers.count++] = r;
        }
    }
    d->qcap = QCAP;
    d->queue = calloc(QCAP, sizeof(*d->queue));
    for (int i = 0; i < s->qlen; i++) {
        d->queue[i].type = (dm_coh_msg_type_t)s->qtype[i];
        d->queue[i].src = s->qsrc[i];
    }
    d->qlen = s->qlen;
}

static void dir_store(sdir_t *s, dm_coh_dir_t *d)
{
    memset(s, 0, sizeof(*s));
    s->hstate = (uint8_t)d->state;
    s->owner = (int8_t)(d->state == DM_COH_H_M ? d->owner : -1);
    s->busy = d->busy;
    s->cur_type = d->busy ? (uint8_t)d->cur.type : 0;
    s->cur_src = (int8_t)(d->busy ? d->cur.src : -1);
    s->wait_from = (int8_t)(d->busy ? d->wait_from : -1);
    s->acks_left = (uint8_t)(d->busy ? d->acks_left : 0);
    for (uint32_t i = 0; i < d->sharers.count; i++) {
        s->sharers |= (uint8_t)(1u << d->sharers.ranks[i]);
    }
    if (d->qlen > QCAP) {
        now.bad_bound = 1;
    } else {
        for (uint32_t i = 0; i < d->qlen; i++) {
            s->qtype[i] = (uint8_t)d->queue[(d->qhead + i) % d->qcap].type;
            s->qsrc[i] = (int8_t)d->queue[(d->qhead + i) % d->qcap].src;
        }
        s->qlen = (uint8_t)d->qlen;
    }
    dm_coh_dir_cleanup(d);
}

static int is_home_msg(int t)
{
    return t == DM_COH_GETS || t == DM_COH_GETM || t == DM_COH_PUTM || t == DM_COH_INV_ACK ||
           t == DM_COH_RECALL_DATA;
}

/* ---------------------------------------------------------------- */
/* invariants, evaluated after every step                             */

static int lock_free(int n, int p)
{
    return now.W.nact[n][p] == 0;
}

/* the woken access has not run yet: messages for the page wait (forward progress) */
static int woken(int n, int p)
{
#ifdef NO_FWD
    (void)n; (void)p;
    return 0;
#else
    return now.W.pend[n][p] != 0 && !now.W.stalled[n][p];
#endif
}

/* Copies in pages without access are garbage, except a write-back buffer
 * (MI_A) and while a handler runs (its SEND still copies the page). */
static void normalize(void)
{
    for (int n = 0; n < NODES; n++) {
        for (int p = 0; p < PAGES; p++) {
            if (lock_free(n, p) && now.W.prot[n][p] == DM_COH_PROT_NONE &&
                now.W.state[n][p] != DM_COH_MI_A) {
                now.W.val[n][p] = 0;
            }
            if (!lock_free(n, p)) {
                continue;
            }
            now.W.in_val[n][p] = 0;
            memset(now.W.act[n][p], 0, sizeof(now.W.act[n][p]));
        }
    }
}

static void check(void)
{
    int w = 0;

    for (int p = 0; p < PAGES; p++) {
        int writers = 0, readers = 0;

        for (int n = 0; n < NODES; n++) {
            int pr = now.W.prot[n][p];

            if (pr == DM_COH_PROT_WRITE) {
                writers++;
            } else if (pr == DM_COH_PROT_READ) {
                readers++;
            }
            if (pr != DM_COH_PROT_NONE && now.W.val[n][p] != now.W.latest[p]) {
                now.bad_data = 1;
                say("DATA: n%d may read p%d holding v%d, latest is v%d", n, p, now.W.val[n][p],
                    now.W.latest[p]);
            }
            if (lock_free(n, p) && pr != (int)dm_coh_state_prot((dm_coh_state_t)now.W.state[n][p])) {
                now.bad_proto = 1;
                say("PROTO: n%d p%d protection disagrees with state %s", n, p,
                    dm_coh_state_name((dm_coh_state_t)now.W.state[n][p]));
            }
            if (now.W.pend[n][p]) {
                w = 1;
            }
        }
        if (writers > 1 || (writers == 1 && readers > 0)) {
            now.bad_swmr = 1;
            say("SWMR: p%d has %d writer(s) and %d reader(s)", p, writers, readers);
        }
    }
    now.anywait = w;
}

static int app_can_page(int n, int p, int op);
static int deliver_can(int s, int d);
static int finished(void);

/* recomputes the enabled steps (the Promela guards read them) */
static void enable(void)
{
    for (int n = 0; n < NODES; n++) {
        now.W.en_app[n] = 0;
        now.W.en_exec[n] = 0;
        for (int p = 0; p < PAGES; p++) {
            for (int op = 1; op <= 3; op++) {
                if (app_can_page(n, p, op)) {
                    now.W.en_app[n] |= (uint8_t)(1u << (p * 3 + op - 1));
                }
            }
            if (now.W.nact[n][p]) {
                now.W.en_exec[n] |= (uint8_t)(1u << p);
            }
        }
        for (int d = 0; d < NODES; d++) {
            now.W.en_dlv[n][d] = (uint8_t)deliver_can(n, d);
        }
    }
    now.W.fin = (uint8_t)finished();
}

static void after(void)
{
    normalize();
    check();
    enable();
#ifdef DUMPW
    fwrite(&now.W, sizeof(now.W), 1, stderr);
#endif
}

/* ---------------------------------------------------------------- */
/* application thread and evictor of node n                           */

static int may(int n, int p, int op)
{
    int pr = now.W.prot[n][p];

    return op == 1 ? pr != DM_COH_PROT_NONE : op == 2 ? pr == DM_COH_PROT_WRITE : 0;
}

/* the access op runs under the current protection */
static void access_run(int n, int p, int op)
{
    if (op == 1) {
        if (now.W.val[n][p] != now.W.latest[p]) {
            now.bad_data = 1;
        }
        say("n%d reads p%d: v%d (latest v%d)", n, p, now.W.val[n][p], now.W.latest[p]);
    } else {
        now.W.val[n][p] = ++now.W.latest[p];
        say("n%d writes p%d: v%d", n, p, now.W.val[n][p]);
    }
    now.W.pend[n][p] = 0;
    now.W.done[n][p]++;
}

/* event ev at (n, p) through dm_coh_node_local, under the page lock */
static void local_event(int n, int p, int ev)
{
    emit_ctx_t x;
    dm_coh_state_t s = (dm_coh_state_t)now.W.state[n][p];
    int stall = 0;

    memset(&x, 0, sizeof(x));
    x.self = n;
    x.page = p;
    if (dm_coh_node_local(&s, (dm_coh_local_t)ev, 0, emit, &x) != DM_OK) {
        now.bad_proto = 1;
    }
    say("n%d %s fault p%d: %s -> %s (%d actions)", n, opname(ev), p,
        dm_coh_state_name((dm_coh_state_t)now.W.state[n][p]), dm_coh_state_name(s), x.n);
    now.W.state[n][p] = (uint8_t)s;
    for (int i = 0; i < x.n; i++) {
        stall |= x.acts[i].type == DM_COH_ACT_STALL;
    }
    if (ev != DM_COH_EVICT) {
        if (!stall) {
            now.bad_proto = 1; /* a faulting access that is not stalled would fault forever */
        }
        now.W.pend[n][p] = (uint8_t)ev;
        now.W.stalled[n][p] = 1; /* the thread runs the handler, then waits for WAKE */
    } else {
        now.W.done[n][p]++;
    }
    node_queue(&x);
}

/* can the thread of (n, p) start or retry op now (3: can the cache evict)? */
static int app_can_page(int n, int p, int op)
{
    if (op == 3) {
        return lock_free(n, p) && now.W.done[n][p] + (now.W.pend[n][p] != 0) < OPS;
    }
    if (now.W.pend[n][p] == 0 ? now.W.done[n][p] < OPS
                              : !now.W.stalled[n][p] && now.W.pend[n][p] == op) {
        return may(n, p, op) || lock_free(n, p);
    }
    return 0;
}

static void app_do(int n, int p, int op)
{
    if (op != 3 && may(n, p, op)) {
        access_run(n, p, op);
    } else {
        local_event(n, p, op);
    }
    after();
}

/* ---------------------------------------------------------------- */
/* executor of node n: the next action of one page's handler          */

static void after(void);

static void exec_one(int n, int p)
{
    act_t a = now.W.act[n][p][0];

    memmove(&now.W.act[n][p][0], &now.W.act[n][p][1], sizeof(act_t) * (MAXACT - 1));
    memset(&now.W.act[n][p][MAXACT - 1], 0, sizeof(act_t));
    now.W.nact[n][p]--;
    switch (a.type) {
    case DM_COH_ACT_SEND:
        chan_push(n, a.dst, p, a.msg, a.with_data ? now.W.val[n][p] : 0);
        say("n%d -> home %s p%d%s", n, dm_coh_msg_name((dm_coh_msg_type_t)a.msg), p,
            a.with_data ? " (data)" : "");
        if (a.with_data && readtrail) {
            say("   carrying v%d", now.W.val[n][p]);
        }
        break;
    case DM_COH_ACT_PROTECT:
        now.W.prot[n][p] = a.prot;
        say("n%d PROTECT p%d %s", n, p, a.prot == 0 ? "none" : a.prot == 1 ? "read" : "write");
        break;
    case DM_COH_ACT_INSTALL:
        now.W.val[n][p] = now.W.in_val[n][p];
        say("n%d INSTALL p%d v%d", n, p, now.W.val[n][p]);
        break;
    case DM_COH_ACT_WAKE:
        now.W.stalled[n][p] = 0;
        say("n%d WAKE p%d", n, p);
        break;
    case DM_COH_ACT_STALL:
        break; /* the thread is blocked since its fault */
    default:
        now.bad_proto = 1; /* STORE at a node */
    }
}

static void exec_do(int n, int p)
{
    exec_one(n, p);
    after();
}

/* ---------------------------------------------------------------- */
/* the network: the head of channel (s, d)                            */

static int deliver_can(int s, int d)
{
    const chan_t *c = &now.W.ch[s][d];
    int p;

    if (c->len == 0) {
        return 0;
    }
    if (is_home_msg(c->m[0].type)) {
        return 1;
    }
    p = c->m[0].page;
    return lock_free(d, p) && !woken(d, p);
}

static void deliver_do(int s, int d)
{
    chan_t *c = &now.W.ch[s][d];
    msg_t m = c->m[0];
    emit_ctx_t x;
    dm_status_t st;

    memmove(&c->m[0], &c->m[1], sizeof(msg_t) * (CHCAP - 1));
    memset(&c->m[CHCAP - 1], 0, sizeof(msg_t));
    c->len--;
    memset(&x, 0, sizeof(x));
    x.self = d;
    x.page = m.page;
    x.in_val = m.val;
    if (is_home_msg(m.type)) {
        dm_coh_dir_t dir;

        x.home_role = 1;
        say("home <- n%d %s p%d (v%d)", s, dm_coh_msg_name((dm_coh_msg_type_t)m.type), m.page,
            m.val);
        dir_load(&now.W.dir[m.page], &dir);
        st = dm_coh_home_msg(&dir, (dm_coh_msg_type_t)m.type, s, emit, &x);
        dir_store(&now.W.dir[m.page], &dir);
    } else {
        dm_coh_state_t ns = (dm_coh_state_t)now.W.state[d][m.page];

        st = dm_coh_node_msg(&ns, (dm_coh_msg_type_t)m.type, 0, emit, &x);
        say("n%d <- %s p%d (v%d): %s -> %s", d, dm_coh_msg_name((dm_coh_msg_type_t)m.type),
            m.page, m.val, dm_coh_state_name((dm_coh_state_t)now.W.state[d][m.page]),
            dm_coh_state_name(ns));
        now.W.state[d][m.page] = (uint8_t)ns;
        node_queue(&x);
    }
    if (st != DM_OK) {
        now.bad_proto = 1;
        say("PROTO: the handler rejected the message (%d)", (int)st);
    }
    after();
}

/* ---------------------------------------------------------------- */
/* start and end                                                      */

static void world_init(void)
{
    memset(&now.W, 0, sizeof(now.W));
    for (int p = 0; p < PAGES; p++) {
        now.W.dir[p].owner = -1;
        now.W.dir[p].cur_src = -1;
        now.W.dir[p].wait_from = -1;
    }
    enable();
}

/* all operations done, nothing in flight, the home idle */
static int finished(void)
{
    for (int n = 0; n < NODES; n++) {
        for (int p = 0; p < PAGES; p++) {
            if (now.W.done[n][p] < OPS || now.W.pend[n][p] || now.W.nact[n][p]) {
                return 0;
            }
        }
        for (int d = 0; d < NODES; d++) {
            if (now.W.ch[n][d].len) {
                return 0;
            }
        }
    }
    for (int p = 0; p < PAGES; p++) {
        if (now.W.dir[p].busy || now.W.dir[p].qlen) {
            return 0;
        }
    }
    return 1;
}

/* no write lost: the page's current copy holds the last write */
static void final_check(void)
{
    for (int p = 0; p < PAGES; p++) {
        const sdir_t *d = &now.W.dir[p];

        if (d->hstate == DM_COH_H_M) {
            if (d->owner < 0 || now.W.val[d->owner][p] != now.W.latest[p]) {
                now.bad_lost = 1;
                say("LOST: p%d owner n%d holds a stale copy (latest v%d)", p, d->owner,
                    now.W.latest[p]);
            }
        } else if (now.W.mem[p] != now.W.latest[p]) {
            now.bad_lost = 1;
            say("LOST: p%d home memory v%d, latest v%d", p, now.W.mem[p], now.W.latest[p]);
        }
    }
}
}

#define ASSERTS assert(!bad_swmr); assert(!bad_data); assert(!bad_proto); assert(!bad_bound)

/* Application thread and evictor of node n (all its pages): op 1 read, 2 write, 3 evict. */
proctype App(byte n)
{
end:
    do
    :: atomic { c_expr { now.W.en_app[PApp->n] & 1 } -> c_code { app_do(PApp->n, 0, 1); }; ASSERTS }
    :: atomic { c_expr { now.W.en_app[PApp->n] & 2 } -> c_code { app_do(PApp->n, 0, 2); }; ASSERTS }
    :: atomic { c_expr { now.W.en_app[PApp->n] & 4 } -> c_code { app_do(PApp->n, 0, 3); }; ASSERTS }
#if PAGES > 1
    :: atomic { c_expr { now.W.en_app[PApp->n] & 8 } -> c_code { app_do(PApp->n, 1, 1); }; ASSERTS }
    :: atomic { c_expr { now.W.en_app[PApp->n] & 16 } -> c_code { app_do(PApp->n, 1, 2); }; ASSERTS }
    :: atomic { c_expr { now.W.en_app[PApp->n] & 32 } -> c_code { app_do(PApp->n, 1, 3); }; ASSERTS }
#endif
    od
}

/* Executes the recorded actions of node n, one per step. */
proctype Exec(byte n)
{
end:
    do
    :: atomic { c_expr { now.W.en_exec[PExec->n] & 1 } -> c_code { exec_do(PExec->n, 0); }; ASSERTS }
#if PAGES > 1
    :: atomic { c_expr { now.W.en_exec[PExec->n] & 2 } -> c_code { exec_do(PExec->n, 1); }; ASSERTS }
#endif
    od
}

/* Delivers the head of channel (s, d) when its handler may run. */
proctype Deliver(byte s; byte d)
{
end:
    do
    :: atomic {
        c_expr { now.W.en_dlv[PDeliver->s][PDeliver->d] } ->
        c_code { deliver_do(PDeliver->s, PDeliver->d); };
        ASSERTS
       }
    od
}

init {
    atomic {
        c_code { world_init(); };
        run App(0); run App(1);
#if NODES > 2
        run App(2);
#endif
        run Exec(0); run Exec(1);
#if NODES > 2
        run Exec(2);
#endif
        run Deliver(0, 0); run Deliver(0, 1); run Deliver(1, 0); run Deliver(1, 1);
#if NODES > 2
        run Deliver(0, 2); run Deliver(1, 2); run Deliver(2, 0); run Deliver(2, 1); run Deliver(2, 2);
#endif
    }
    /* the end: blocks here (an invalid end state) if the system deadlocks */
    c_expr { now.W.fin } ->
    c_code { final_check(); };
    assert(!bad_lost)
}

ltl served { []<> !anywait }
