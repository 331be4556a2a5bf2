/*
 * faultpath.pml -- the multi-threaded fault path of src/dsm/dsm.c (pins,
 * waiting counts, gen, deferred messages, the self queue) around the real
 * coherence transitions of src/coherence/coh.c, model-checked with Spin.
 *
 * WHAT RUNS
 *   The node and home transitions are the C functions dm_coh_node_local,
 *   dm_coh_node_msg and dm_coh_home_msg, linked in from src/coherence/coh.c.
 *   Around them this file re-states, line by line, the parts of dsm.c that
 *   decide when a message is handled and when a faulting thread goes on:
 *     m_emit        dm_dsm_emit          (the WAKE action: waiting -> pin, gen++)
 *     m_dispatch    dm_dsm_dispatch      (node message for a pinned page: deferred)
 *     m_drain       dm_dsm_drain         (the self queue; no cache budget)
 *     m_unpin       dm_dsm_unpin         (at zero: the deferred messages, in order)
 *     m_unpin_mine  dm_dsm_unpin_mine
 *     m_local       dm_dsm_local
 *     m_fault_body  one pass of dm_dsm_fault's loop, serial_enter .. serial_leave
 *     m_fault_done  dm_dsm_fault_done    (the condition of dm_tp_wait_until)
 *     thr_trap      dm_dsm_on_sigtrap    (unpin_mine under the serial lock)
 *   As in coherence.pml the whole world is one C struct (W) in Spin's state
 *   vector (c_state "Global"), so states are matched exactly. Besides it:
 *   EN, the steps enabled now (a function of W, read by the guards; tracked
 *   but not matched), and SQ, the self queues (empty between steps).
 *
 * THE WORLD
 *   One page, homed at rank 0. NODES ranks, THREADS application threads per
 *   rank, each doing OPS accesses to the page, each a read or a write chosen
 *   nondeterministically (PATTERN=1: write, read, write, ... as the rounds of
 *   tests/dsm/dsm_check.c threads_main).
 *
 *   Serial lock. Everything dsm.c does between dm_tp_serial_enter and
 *   dm_tp_serial_leave (or inside dm_tp_progress, which takes the same
 *   mutex) is ONE atomic step of the model: a pass of the fault loop, the
 *   SIGTRAP handler, or the handling of one incoming message (dm_dsm_on_proto
 *   = dispatch + drain). The coherence actions of a handler run inside that
 *   step (abstraction: a plain load or store of another thread cannot fall
 *   between two actions of one handler; it does not matter here, the model
 *   checks progress, not data values -- coherence.pml checks those).
 *   Waiters read the page state without the lock: a state that existed only
 *   in the middle of a locked step (several messages handled or a local
 *   event after an unpin) is remembered in W.seen until the rank's next
 *   locked step (PEEK), so that a waiter may leave dm_tp_wait_until on it,
 *   as a real poller may (not the thread that ran that step: W.seen_t).
 *
 *   Each thread (phase ph):
 *     RUN   next access (op 0: a new one, read or write; op != 0: the
 *           instruction is retried). If the mapping grants it, it runs (no
 *           lock). Otherwise SIGBUS: dm_dsm_fault, first pass of the loop
 *           (registered = 0), in the same step (nothing happens between
 *           the fault and the lock that the first pass could see
 *           differently: without registration a pass that finds the
 *           access allowed only returns).
 *     WAIT  in dm_tp_wait_until: may leave when m_fault_done holds (now, or
 *           at an intermediate state of the rank's last locked step).
 *     LOOP  left the wait, about to take the serial lock: next loop pass.
 *     STEP  returned from SIGBUS with a pin and the trap flag: the retried
 *           instruction runs (it must be allowed: bad_pin otherwise).
 *     TRAP  the instruction ran: dm_dsm_on_sigtrap releases the pins.
 *   perform (dm_dsm_emulate): EMU=0 never (DISTMEM_FAULT_EMULATE=no: always
 *   the single step), EMU=1 always succeeds (the test's 8-byte MOVs), EMU=2
 *   either (undecodable instructions). STEP=0: DISTMEM_FAULT_STEP=no.
 *
 *   Polling: a message can be handled at a rank whenever its lock is free
 *   (waiting threads poll; when none waits, the progress thread does). One
 *   FIFO channel per ordered pair of ranks; messages a rank sends itself go
 *   to its self queue, drained before the lock is released (m_drain).
 *
 * ABSTRACTIONS (and why they are safe for this question)
 *   - one page; dm_dsm_home_of is known (no first-touch lookup path);
 *     prediction: for a thread touching one page only, dm_predict_fault
 *     never turns a read into a write and never reads ahead (seq window
 *     never contains the page again), so ev = write ? WRITE : READ;
 *   - no evictions (cache budget off), no one-sided operations (rmaq = 0),
 *     no peer failure / broken runtime (why == NULL);
 *   - page data not tracked; the mapping (map) is the protection of the
 *     last PROTECT; INSTALL and STORE only checked for where the data comes
 *     from (bad_nodata: a deferred DATA_* is redispatched without its
 *     payload, dm_dsm_dispatch(..., NULL); at a rank that is not the home,
 *     INSTALL then reads that rank's own home memory, harmless for an
 *     upgrade from SM_D but stale data if the mapping was empty);
 *   - gen, waiting and pin are uint8_t with the C code's arithmetic
 *     (wrap-around and MIN(255, ...) included); DM_DSM_DEFER_MAX is
 *     DEFER_MAX (default 256, as in dsm_int.h); the model's array bounds
 *     (DEFCAP, CHCAP, SQCAP) are reported if exceeded (bad_bound), never pruned.
 *
 * CONFIGURATION (compile pan with -D...)
 *   NODES 2..3 (default 2), THREADS 1..4 (default 2), OPS 1..4 (default 2),
 *   EMU 0/1/2 (default 1), STEP 0/1 (default 1), PATTERN 0/1 (default 0),
 *   NO_PEEK   waiters see only the states between locked steps;
 *   OLD_WAIT  dm_dsm_fault_done as it was before commit 7dc2c44 (only
 *             "state allows the access or is stable"; since 7dc2c44 also
 *             "registered and gen moved", i.e. a WAKE gave it a unit): the
 *             code that hung, kept as a mutant that must fail;
 *   NORMGEN, SYMM  exact state-space reductions (see canon()).
 *   EMU=2 reaches exactly the states of EMU=0 (emulation = the single step
 *   with nothing in between), so the table runs EMU=1 and EMU=0.
 *
 * PROPERTIES
 *   safety (pan -DNOCLAIM, invalid end states checked):
 *     no invalid end state: every thread finishes its accesses, every
 *       message is handled, nothing stays deferred (a hang is a state with
 *       no move: init blocks on EN.fin);
 *     !bad_count  waiting == threads registered with sgen == gen, and
 *                 pin == threads registered with sgen != gen (woken, not
 *                 back yet) + the units in the threads' pin lists;
 *     !bad_defer  no message deferred while pin == 0 (whenever the lock is free);
 *     !bad_self   the self queue is empty whenever the lock is free;
 *     !bad_pin    a pinned (single-stepped) access never faults again;
 *     !bad_swmr   at most one writable mapping, and no readable one besides;
 *     !bad_proto  no handler rejects an event, the mapping is the state's;
 *     !bad_nodata (see ABSTRACTIONS); !bad_bound.
 *   liveness (pan -a -f, ltl finish): <> alldone under weak fairness: no
 *     fair infinite run (livelock) and no stuck run.
 *
 * EXPECTED VERDICTS (models/check_faultpath holds the table; n ranks, t
 * threads per rank, k accesses per thread; states with the reductions named)
 *   the code as it is (since 7dc2c44):
 *   EXPECT n2-t2-k2                      safety pass        292,642 states
 *   EXPECT n2-t2-k2 NORMGEN              liveness pass       95,094 states
 *   EXPECT n2-t2-k2 EMU=0 SYMM/NORMGEN   safety pass 49,129, liveness pass 179,618
 *   EXPECT n2-t2-k2 NO_PEEK SYMM         safety pass         26,292 states
 *   EXPECT n2-t2-k3 NORMGEN              liveness pass      499,555 states
 *   EXPECT n2-t2-k4 SYMM                 safety pass        430,364 states
 *   EXPECT n2-t3-k2 SYMM                 safety pass        792,725 states
 *   EXPECT n2-t4-k1 SYMM                 safety pass        150,648 states
 *   EXPECT n3-t2-k1 NORMGEN              liveness pass    1,176,762 states
 *   EXPECT n3-t2-k2 SYMM                 safety pass     11,699,731 states (big)
 *   EXPECT n3-t3-k1 SYMM                 safety pass      7,095,724 states (big)
 *   EXPECT n2-t3-k3 SYMM                 safety pass      8,727,404 states (big)
 *   EXPECT n2-t4-k2 SYMM                 safety pass     14,040,365 states (big)
 *   EXPECT n2-t1-k2 STEP=0               safety pass, liveness FAIL (the page
 *     ping-pong livelock that pins exist to prevent; the model has no 200 us
 *     hand-off timing, so it shows up even with one thread per rank)
 *   mutant OLD_WAIT (the code before 7dc2c44):
 *   EXPECT n2-t2-k2 EMU=1, EMU=0, NO_PEEK, SYMM; n2-t3-k1; n2-t2-k3 PATTERN;
 *          n3-t2-k2                      safety fail: invalid end state (the hang)
 *   EXPECT n2-t2-k1, n2-t2-k2 PATTERN    safety pass (too few faults per rank)
 *
 * THE HANG (mutant OLD_WAIT; line numbers of dsm.c before 7dc2c44). A WAKE
 * turns every registered waiter into a unit of pin and bumps gen
 * (dm_dsm_emit, dsm.c:492-496), but a waiter learns that it owns a unit
 * only when it re-enters dm_dsm_fault's loop (dsm.c:983-990), and it left
 * dm_tp_wait_until only when dm_dsm_fault_done held: the state allows its
 * access or is stable (dsm.c:917-925). If another thread of the rank makes
 * the state transient again first (a write fault in S: S -> SM_D,
 * dsm.c:1038-1046), the woken writer waits for SM_D to end; DATA_M (and an
 * INV) for the page are deferred because pin > 0 (dsm.c:636-642), and only
 * the woken writer's unpin could hand them over (dsm.c:747-770): nobody
 * ever does. Shortest trace (pan -DBFS, n2-t2-k2, 57 steps), rank 1:
 *   t1 read fault in I -> IS_D, GETS, registers (waiting 1, gen 0), waits;
 *   t0 write fault in IS_D: registers (waiting 2, gen 0), waits;
 *   DATA_S handled (by t1 polling): IS_D -> S, WAKE: pin 2, waiting 0, gen 1;
 *   t1 sees S, re-enters, owned, read emulated, unpin: pin 1 (t0's unit);
 *   t1 write fault in S: local WRITE S -> SM_D, GETM, registers, waits;
 *   t0 has not looked since the WAKE; now SM_D neither allows its write nor
 *   is stable: it waits for ever, holding pin 1; DATA_M / INV for the page
 *   are deferred at rank 1 for ever; rank 0's faults on the page wait for
 *   the INV_ACK for ever.
 */

c_decl {
\#include <stdarg.h>
\#include <stdint.h>
\#include <stdio.h>
\#include <stdlib.h>
\#include <string.h>
\#include "coh.h"

#ifndef NODES
#define NODES 2
#endif
#ifndef THREADS
#define THREADS 2
#endif
#ifndef OPS
#define OPS 2
#endif
#ifndef EMU
#define EMU 1
#endif
#ifndef STEP
#define STEP 1
#endif
#ifndef PATTERN
#define PATTERN 0
#endif
#ifndef DEFER_MAX
#define DEFER_MAX 256 /* DM_DSM_DEFER_MAX */
#endif
#define PINS   4 /* DM_DSM_PINS */
#define CHCAP  4 /* messages in flight per ordered pair (model bound) */
#define QCAP   4 /* requests queued at the home (model bound) */
#define DEFCAP 4 /* deferred messages per rank (model bound) */
#define SQCAP  4 /* self queue (model bound) */
#define HOME   0

enum { PH_RUN = 0, PH_WAIT, PH_LOOP, PH_STEP, PH_TRAP, PH_END };

typedef struct {
    uint8_t m[CHCAP];
    uint8_t len;
} chan_t;

typedef struct {
    uint8_t type, src;
} dmsg_t;

typedef struct {
    uint8_t hstate;
    int8_t  owner;
    uint8_t sharers;
    uint8_t busy, cur_type;
    int8_t  cur_src, wait_from;
    uint8_t acks_left, qlen;
    uint8_t qtype[QCAP];
    int8_t  qsrc[QCAP];
} sdir_t;

typedef struct {
    /* per rank: dm_dsm_page_t of the page, and the rank's queues */
    uint8_t state[NODES];   /* dm_coh_state_t */
    uint8_t map[NODES];     /* dm_coh_prot_t of the mapping (set by PROTECT) */
    uint8_t pin[NODES], waiting[NODES], gen[NODES];
    uint8_t ndef[NODES];
    dmsg_t  def[NODES][DEFCAP];
    uint8_t seen[NODES];    /* PEEK: states that held inside the last locked step (not the last) */
    /* per thread */
    uint8_t ph[NODES][THREADS];
    uint8_t op[NODES][THREADS];   /* 0, 1 read, 2 write */
    uint8_t done[NODES][THREADS];
    uint8_t reg[NODES][THREADS];  /* registered */
    uint8_t sgen[NODES][THREADS]; /* gen saved at registration */
    uint8_t npin[NODES][THREADS]; /* dm_dsm_npinned */
    /* the home */
    sdir_t  dir;
    chan_t  ch[NODES][NODES];
    uint8_t seen_t[NODES];  /* PEEK: 1 + the thread that ran that step (it cannot have looked), or 0 */
} world_t;

/*
 * The steps enabled now, read by the Promela guards (Spin's c_expr guards
 * may not call functions). A function of W, so kept out of state matching
 * (c_track "UnMatched": saved on the search stack, not hashed).
 */
typedef struct {
    uint8_t thr[NODES][THREADS]; /* bits: see proctype Thr */
    uint8_t dlv[NODES][NODES];
    uint8_t fin;
} en_t;
en_t EN;

/* the self queues (d->self_q): always empty between steps (drained before the
 * serial lock is released; checked, bad_self), so kept out of the state vector */
typedef struct {
    uint8_t selflen[NODES];
    uint8_t selfq[NODES][SQCAP];
} selfq_t;
selfq_t SQ;
}

c_state "world_t W" "Global"
#ifdef BFS
c_track "&EN" "sizeof(en_t)" "Matched" /* pan's BFS cannot keep UnMatched data (same states) */
#else
c_track "&EN" "sizeof(en_t)" "UnMatched"
#endif

/* the liveness observable: everything finished (finished()), set by the C code */
bit alldone;
bit bad_count, bad_defer, bad_self, bad_pin, bad_swmr, bad_proto, bad_nodata, bad_bound;

c_code {
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

static const char *sn(int s)
{
    return dm_coh_state_name((dm_coh_state_t)s);
}

static const char *mn(int m)
{
    return dm_coh_msg_name((dm_coh_msg_type_t)m);
}

static const char *opn(int op)
{
    return op == 1 ? "read" : "write";
}

static int is_home_msg(int t)
{
    return t == DM_COH_GETS || t == DM_COH_GETM || t == DM_COH_PUTM || t == DM_COH_INV_ACK ||
           t == DM_COH_RECALL_DATA;
}

static int allows(int s, int write) /* dm_dsm_state_allows */
{
    return write ? s == DM_COH_M : dm_coh_state_prot((dm_coh_state_t)s) != DM_COH_PROT_NONE;
}

static int stable(int s)
{
    return dm_coh_state_stable((dm_coh_state_t)s);
}

/* ---------------------------------------------------------------- */
/* the directory, serialized around each call (as coherence.pml)      */

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

/* ---------------------------------------------------------------- */
/* dsm.c's message machinery at rank r (all under r's serial lock)    */

typedef struct {
    int r;         /* the rank executing */
    int home_role; /* dm_coh_home_msg's actions */
    int has_data;  /* the message handled carries its payload (dispatch's data != NULL) */
    int from_self; /* sent by this rank (data stored when sent) */
    int stale;     /* INSTALL took this rank's own home memory as the source */
} ctx_t;

static void m_dispatch(int r, int src, int type, int has_data);

static void set_state(int r, int s) /* dm_dsm_set_state */
{
    say("    r%d state %s -> %s", r, sn(now.W.state[r]), sn(s));
    now.W.state[r] = (uint8_t)s;
    if (stable(s) || allows(s, 0)) {
        now.W.seen[r] |= (uint8_t)(1u << s); /* only a state some waiter may leave on */
    }
}

/* dm_dsm_send: to another rank over the channel, to itself into the self queue */
static void m_send(int r, int dst, int msg)
{
    if (dst == r) {
        if (SQ.selflen[r] == SQCAP) {
            now.bad_bound = 1;
            return;
        }
        SQ.selfq[r][SQ.selflen[r]++] = (uint8_t)msg;
        say("    r%d -> r%d (self queue) %s", r, dst, mn(msg));
        return;
    }
    chan_t *c = &now.W.ch[r][dst];

    if (c->len == CHCAP) {
        now.bad_bound = 1;
        return;
    }
    c->m[c->len++] = (uint8_t)msg;
    say("    r%d -> r%d %s", r, dst, mn(msg));
}

/* dm_dsm_emit */
static void m_emit(void *arg, const dm_coh_action_t *a)
{
    ctx_t *x = arg;
    int r = x->r;

    switch (a->type) {
    case DM_COH_ACT_SEND:
        m_send(r, a->dst, a->msg);
        break;
    case DM_COH_ACT_PROTECT:
        if (x->home_role) {
            now.bad_proto = 1;
        }
        if (x->stale && now.W.map[r] == DM_COH_PROT_NONE) {
            /* dm_dsm_protect copies the INSTALL source in (an upgrade from SM_D would not) */
            now.bad_nodata = 1;
            say("    NODATA: r%d installs the page from its own home memory", r);
        }
        x->stale = 0;
        now.W.map[r] = (uint8_t)a->prot;
        break;
    case DM_COH_ACT_INSTALL:
        /* x->data != NULL ? x->data : dm_dsm_homemem_read(d, page, ...): the
         * home memory of THIS rank; right only at the home itself */
        x->stale = !x->has_data && !x->from_self && r != HOME;
        break;
    case DM_COH_ACT_STORE:
        if (!x->home_role) {
            now.bad_proto = 1;
        }
        break;
    case DM_COH_ACT_STALL:
        break;
    case DM_COH_ACT_WAKE:
        /* dsm.c:492  if (pg->waiting > 0 && d->step) { pin += waiting; waiting = 0; gen++; } */
        if (now.W.waiting[r] > 0 && STEP) {
            int p = now.W.pin[r] + now.W.waiting[r];

            now.W.pin[r] = (uint8_t)(p < 255 ? p : 255);
            now.W.waiting[r] = 0;
            now.W.gen[r]++;
            say("    r%d WAKE: pin %d, waiting 0, gen %d", r, now.W.pin[r], now.W.gen[r]);
        } else {
            say("    r%d WAKE: nobody registered (pin %d)", r, now.W.pin[r]);
        }
        break;
    }
}

/* dm_dsm_dispatch (dsm.c ~600) */
static void m_dispatch(int r, int src, int type, int has_data)
{
    ctx_t x = { .r = r, .home_role = 0, .has_data = has_data, .from_self = src == r };
    dm_status_t st;

    if (is_home_msg(type)) {
        dm_coh_dir_t dir;

        if (r != HOME) {
            now.bad_proto = 1;
            return;
        }
        x.home_role = 1;
        say("  r%d home handles %s from r%d", r, mn(type), src);
        dir_load(&now.W.dir, &dir);
        st = dm_coh_home_msg(&dir, (dm_coh_msg_type_t)type, src, m_emit, &x);
        dir_store(&now.W.dir, &dir);
    } else {
        dm_coh_state_t old = (dm_coh_state_t)now.W.state[r], s = old;

        if (src != HOME) {
            now.bad_proto = 1;
            return;
        }
        /* dsm.c:636 */
        if (now.W.pin[r] > 0 && now.W.ndef[r] < DEFER_MAX) {
            if (now.W.ndef[r] == DEFCAP) {
                now.bad_bound = 1;
                return;
            }
            now.W.def[r][now.W.ndef[r]].src = (uint8_t)src;
            now.W.def[r][now.W.ndef[r]].type = (uint8_t)type;
            now.W.ndef[r]++;
            say("  r%d DEFERS %s from r%d (pin %d, %d deferred)", r, mn(type), src,
                now.W.pin[r], now.W.ndef[r]);
            return;
        }
        say("  r%d node handles %s from r%d in %s", r, mn(type), src, sn(old));
        st = dm_coh_node_msg(&s, (dm_coh_msg_type_t)type, HOME, m_emit, &x);
        if (st == DM_OK) {
            set_state(r, s);
        }
    }
    if (st != DM_OK) {
        now.bad_proto = 1;
        say("  PROTO: r%d rejects %s from r%d", r, mn(type), src);
    }
}

/* dm_dsm_drain (cache_pages == 0: the self queue only) */
static void m_drain(int r)
{
    while (SQ.selflen[r] > 0) {
        int t = SQ.selfq[r][0];

        memmove(&SQ.selfq[r][0], &SQ.selfq[r][1], SQCAP - 1);
        SQ.selfq[r][SQCAP - 1] = 0;
        SQ.selflen[r]--;
        m_dispatch(r, r, t, 0);
    }
}

/* dm_dsm_unpin (dsm.c:747) */
static void m_unpin(int r)
{
    if (now.W.pin[r] == 0 || --now.W.pin[r] > 0) {
        say("  r%d unpin: pin now %d", r, now.W.pin[r]);
        return;
    }
    say("  r%d unpin: pin now 0, %d deferred message(s) handled", r, now.W.ndef[r]);
    while (now.W.ndef[r] > 0) {
        dmsg_t m = now.W.def[r][0];

        memmove(&now.W.def[r][0], &now.W.def[r][1], sizeof(dmsg_t) * (DEFCAP - 1));
        memset(&now.W.def[r][DEFCAP - 1], 0, sizeof(dmsg_t));
        now.W.ndef[r]--;
        m_dispatch(r, m.src, m.type, 0); /* dispatch(..., NULL): the payload was not kept */
        if (now.W.pin[r] > 0) {
            break;
        }
    }
    m_drain(r);
}

/* dm_dsm_unpin_mine */
static void m_unpin_mine(int r, int t)
{
    while (now.W.npin[r][t] > 0) {
        now.W.npin[r][t]--;
        m_unpin(r);
    }
}

/* dm_dsm_local */
static void m_local(int r, int ev)
{
    ctx_t x = { .r = r, .home_role = 0 };
    dm_coh_state_t old = (dm_coh_state_t)now.W.state[r], s = old;

    say("  r%d local %s in %s", r, ev == DM_COH_WRITE ? "WRITE" : "READ", sn(old));
    if (dm_coh_node_local(&s, (dm_coh_local_t)ev, HOME, m_emit, &x) != DM_OK) {
        now.bad_proto = 1;
        return;
    }
    set_state(r, s);
}

/* dm_dsm_fault_done: the condition a waiter polls */
static int m_fault_done(int r, int t)
{
    int s = now.W.state[r], w = now.W.op[r][t] == 2;

    if (allows(s, w) || stable(s)) {
        return 1;
    }
#ifndef OLD_WAIT
    /* since 7dc2c44 (dsm.c:943): a WAKE reached this waiter (it owns a unit of pin) */
    if (now.W.reg[r][t] && now.W.gen[r] != now.W.sgen[r][t]) {
        return 1;
    }
#endif
#ifndef NO_PEEK
    if (now.W.seen_t[r] == t + 1) {
        return 0; /* this thread ran that step: it was not polling */
    }
    for (int q = 0; q < DM_COH_NSTATES; q++) {
        if ((now.W.seen[r] & (1u << q)) && (allows(q, w) || stable(q))) {
            return 1;
        }
    }
#endif
    return 0;
}

/* would this pass of the loop call perform? (EMU == 2 branches on its result) */
static int m_would_perform(int r, int t)
{
    return now.W.reg[r][t] && now.W.gen[r] != now.W.sgen[r][t] && now.W.npin[r][t] == 0 &&
           allows(now.W.state[r], now.W.op[r][t] == 2);
}

static void access_done(int r, int t, const char *how)
{
    say("r%d.t%d %s %s (access %d)", r, t, opn(now.W.op[r][t]), how, now.W.done[r][t] + 1);
    now.W.done[r][t]++;
    now.W.op[r][t] = 0;
}

static void next_phase(int r, int t)
{
    now.W.ph[r][t] = now.W.done[r][t] >= OPS ? PH_END : PH_RUN;
}

/*
 * One pass of dm_dsm_fault's loop (dsm.c:980-1059), from serial_enter to
 * serial_leave. perf_ok: what perform (dm_dsm_emulate) returns if called.
 */
static void m_fault_body(int r, int t, int perf_ok)
{
    int write = now.W.op[r][t] == 2, owned = 0, s;

    say("r%d.t%d %s fault: takes the serial lock (state %s, pin %d, waiting %d, gen %d%s)", r, t,
        opn(now.W.op[r][t]), sn(now.W.state[r]), now.W.pin[r], now.W.waiting[r], now.W.gen[r],
        now.W.reg[r][t] ? "; registered" : "");
    if (now.W.reg[r][t]) {
        now.W.reg[r][t] = 0;
        if (now.W.gen[r] != now.W.sgen[r][t]) {
            owned = 1; /* dsm.c:986 a WAKE gave us a unit of pin */
        } else if (now.W.waiting[r] > 0) {
            now.W.waiting[r]--; /* dsm.c:988 */
        }
    }
    s = now.W.state[r];
    if (allows(s, write)) {
        if (owned && now.W.npin[r][t] == 0 && EMU && perf_ok) {
            access_done(r, t, "emulated under the lock");
            m_unpin(r);
            next_phase(r, t);
        } else if (owned && now.W.npin[r][t] < PINS) {
            now.W.npin[r][t]++;
            now.W.ph[r][t] = PH_STEP;
            say("r%d.t%d returns pinned (single step)", r, t);
        } else {
            if (owned) {
                m_unpin(r);
            }
            now.W.ph[r][t] = PH_RUN; /* the instruction is retried */
            say("r%d.t%d returns: the access is allowed (%s)", r, t, owned ? "owned" : "not owned");
        }
        return;
    }
    if (owned) {
        say("r%d.t%d owns a unit but %s does not allow its %s", r, t, sn(s), opn(now.W.op[r][t]));
        m_unpin(r); /* dsm.c:1017 */
    }
    m_unpin_mine(r, t); /* dsm.c:1024 */
    s = now.W.state[r];
    if (stable(s) && !allows(s, write)) {
        m_local(r, write ? DM_COH_WRITE : DM_COH_READ); /* dsm.c:1045 */
        m_drain(r);
    }
    if (STEP && now.W.waiting[r] < 255) {
        now.W.waiting[r]++; /* dsm.c:1050 */
        now.W.sgen[r][t] = now.W.gen[r];
        now.W.reg[r][t] = 1;
    }
    now.W.ph[r][t] = PH_WAIT;
    say("r%d.t%d waits (state %s, pin %d, waiting %d, gen %d)", r, t, sn(now.W.state[r]),
        now.W.pin[r], now.W.waiting[r], now.W.gen[r]);
}

/* ---------------------------------------------------------------- */
/* checks and enabling                                                */

static void check(void)
{
    int writers = 0, readers = 0;

    for (int r = 0; r < NODES; r++) {
        int woken = 0, reg = 0;

        for (int t = 0; t < THREADS; t++) {
            if (now.W.reg[r][t]) {
                if (now.W.sgen[r][t] != now.W.gen[r]) {
                    woken++;
                } else {
                    reg++;
                }
            }
            woken += now.W.npin[r][t];
        }
        if (now.W.waiting[r] != reg || now.W.pin[r] != woken) {
            now.bad_count = 1;
            say("COUNT: r%d waiting %d (registered %d), pin %d (units held %d)", r,
                now.W.waiting[r], reg, now.W.pin[r], woken);
        }
        if (now.W.ndef[r] > 0 && now.W.pin[r] == 0) {
            now.bad_defer = 1;
            say("DEFER: r%d holds %d message(s) back with pin 0", r, now.W.ndef[r]);
        }
        if (SQ.selflen[r] > 0) {
            now.bad_self = 1;
        }
        if (now.W.map[r] == DM_COH_PROT_WRITE) {
            writers++;
        } else if (now.W.map[r] == DM_COH_PROT_READ) {
            readers++;
        }
        if (now.W.map[r] != dm_coh_state_prot((dm_coh_state_t)now.W.state[r])) {
            now.bad_proto = 1;
        }
    }
    if (writers > 1 || (writers == 1 && readers > 0)) {
        now.bad_swmr = 1;
    }
}

static int may(int r, int op)
{
    return op == 1 ? now.W.map[r] != DM_COH_PROT_NONE : now.W.map[r] == DM_COH_PROT_WRITE;
}

static int finished(void)
{
    for (int r = 0; r < NODES; r++) {
        for (int t = 0; t < THREADS; t++) {
            if (now.W.ph[r][t] != PH_END) {
                return 0;
            }
        }
        if (now.W.ndef[r] || now.W.pin[r]) {
            return 0;
        }
        for (int d = 0; d < NODES; d++) {
            if (now.W.ch[r][d].len) {
                return 0;
            }
        }
    }
    return !now.W.dir.busy && now.W.dir.qlen == 0;
}

/* the op a thread in RUN may try: bit 0 read, bit 1 write */
static int ops_open(int r, int t)
{
    if (now.W.op[r][t]) {
        return now.W.op[r][t] == 1 ? 1 : 2;
    }
#if PATTERN == 1
    return now.W.done[r][t] % 2 == 0 ? 2 : 1;
#else
    return 3;
#endif
}

/* the steps thread (r, t) may take now, as bits (see proctype Thr) */
static int en_thr(int r, int t)
{
    switch (now.W.ph[r][t]) {
    case PH_RUN:
    case PH_STEP:
        return ops_open(r, t);
    case PH_WAIT:
        return m_fault_done(r, t) ? 4 : 0;
    case PH_LOOP:
        return EMU == 2 && m_would_perform(r, t) ? 8 | 16 : 8;
    case PH_TRAP:
        return 32;
    }
    return 0;
}


#if defined(SYMM) || defined(NORMGEN)
/*
 * Exact reductions (optional: they make trails harder to read).
 * NORMGEN: gen is only ever incremented and compared with a registered
 *   thread's copy (sgen): shifting both by -gen (mod 256, as uint8_t
 *   does) changes no comparison, wrap-around included; the copy of an
 *   unregistered thread is dead and zeroed.
 * SYMM (implies NORMGEN): the threads of one rank run the same code and the
 *   Promela processes Thr differ only in their indices, so permuting the
 *   thread records of a rank maps a state to an equivalent one; records are
 *   kept sorted (the thread that ran the last locked step keeps its mark).
 *   Sound for reachability (assertions, invalid end states), not for
 *   fairness (process identities move), so liveness runs use NORMGEN only.
 */
typedef struct {
    uint8_t ph, op, done, reg, sgen, npin, self;
} trec_t;

static int trec_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 6); /* all fields but self */
}

static void canon(void)
{
    for (int r = 0; r < NODES; r++) {
        for (int t = 0; t < THREADS; t++) {
            now.W.sgen[r][t] = now.W.reg[r][t] ? (uint8_t)(now.W.sgen[r][t] - now.W.gen[r]) : 0;
        }
        now.W.gen[r] = 0;
#ifdef SYMM
        trec_t v[THREADS];

        for (int t = 0; t < THREADS; t++) {
            v[t] = (trec_t){ now.W.ph[r][t], now.W.op[r][t], now.W.done[r][t], now.W.reg[r][t],
                             now.W.sgen[r][t], now.W.npin[r][t], (uint8_t)(now.W.seen_t[r] == t + 1) };
        }
        qsort(v, THREADS, sizeof(v[0]), trec_cmp);
        for (int t = 0; t < THREADS; t++) {
            now.W.ph[r][t] = v[t].ph;
            now.W.op[r][t] = v[t].op;
            now.W.done[r][t] = v[t].done;
            now.W.reg[r][t] = v[t].reg;
            now.W.sgen[r][t] = v[t].sgen;
            now.W.npin[r][t] = v[t].npin;
            if (now.W.seen_t[r] && v[t].self) {
                now.W.seen_t[r] = (uint8_t)(t + 1);
            }
        }
#endif
    }
}
#endif

static void enable(void)
{
#if defined(SYMM) || defined(NORMGEN)
    canon();
#endif
    for (int r = 0; r < NODES; r++) {
        for (int t = 0; t < THREADS; t++) {
            EN.thr[r][t] = (uint8_t)en_thr(r, t);
        }
        for (int d = 0; d < NODES; d++) {
            EN.dlv[r][d] = now.W.ch[r][d].len > 0;
        }
    }
    EN.fin = (uint8_t)finished();
    now.alldone = EN.fin;
}

/* after every step; locked: the step ran at rank r under its serial lock */
static void after(int r, int locked)
{
    if (locked) {
        /* intermediate states only: the final one is the state itself */
        now.W.seen[r] &= (uint8_t)~(1u << now.W.state[r]);
        if (now.W.seen[r] == 0) {
            now.W.seen_t[r] = 0;
        }
    }
    check();
    enable();
}

/* a locked step at rank r begins; t: the thread running it, -1 for a poll */
static void begin_locked(int r, int t)
{
    now.W.seen[r] = 0;
    now.W.seen_t[r] = (uint8_t)(t + 1);
}

/* ---------------------------------------------------------------- */
/* the steps                                                          */

/* RUN or STEP: the access op (1 read, 2 write) runs, or faults into dm_dsm_fault */
static void thr_access(int r, int t, int op)
{
    int stepping = now.W.ph[r][t] == PH_STEP;

    now.W.op[r][t] = (uint8_t)op;
    if (may(r, op)) {
        access_done(r, t, stepping ? "runs (single step, pinned)" : "runs");
        if (stepping) {
            now.W.ph[r][t] = PH_TRAP;
        } else {
            next_phase(r, t);
        }
        after(r, 0);
        return;
    }
    if (stepping) {
        now.bad_pin = 1;
        say("PIN: r%d.t%d pinned access faults again", r, t);
    }
    begin_locked(r, t);
    m_fault_body(r, t, 1);
    after(r, 1);
}

static void thr_wake(int r, int t)
{
    say("r%d.t%d leaves dm_tp_wait_until (state %s)", r, t, sn(now.W.state[r]));
    now.W.ph[r][t] = PH_LOOP;
    after(r, 0);
}

static void thr_loop(int r, int t, int perf_ok)
{
    begin_locked(r, t);
    m_fault_body(r, t, perf_ok);
    after(r, 1);
}

static void thr_trap(int r, int t)
{
    begin_locked(r, t);
    say("r%d.t%d SIGTRAP: unpin_mine", r, t);
    m_unpin_mine(r, t);
    next_phase(r, t);
    after(r, 1);
}

/* dm_tp_progress at rank d handles the head of channel (s, d): dm_dsm_on_proto */
static void deliver(int s, int d)
{
    chan_t *c = &now.W.ch[s][d];
    int type = c->m[0];

    memmove(&c->m[0], &c->m[1], CHCAP - 1);
    c->m[CHCAP - 1] = 0;
    c->len--;
    begin_locked(d, -1); /* a poller is a waiting thread or the progress thread: it polls, it does not look */
    say("r%d polls: %s from r%d", d, mn(type), s);
    m_dispatch(d, s, type, 1);
    m_drain(d);
    after(d, 1);
}

static void world_init(void)
{
    memset(&now.W, 0, sizeof(now.W));
    now.W.dir.owner = -1;
    now.W.dir.cur_src = -1;
    now.W.dir.wait_from = -1;
    enable();
}

static void final_check(void)
{
    for (int r = 0; r < NODES; r++) {
        if (now.W.pin[r] || now.W.waiting[r] || now.W.ndef[r]) {
            now.bad_count = 1;
        }
    }
}
}

#define ASSERTS assert(!bad_count); assert(!bad_defer); assert(!bad_self); assert(!bad_pin); \
                assert(!bad_swmr); assert(!bad_proto); assert(!bad_nodata); assert(!bad_bound)

proctype Thr(byte r; byte t)
{
end:
    do
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 1 } -> c_code { thr_access(PThr->r, PThr->t, 1); }; ASSERTS }
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 2 } -> c_code { thr_access(PThr->r, PThr->t, 2); }; ASSERTS }
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 4 } -> c_code { thr_wake(PThr->r, PThr->t); }; ASSERTS }
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 8 } -> c_code { thr_loop(PThr->r, PThr->t, 1); }; ASSERTS }
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 16 } -> c_code { thr_loop(PThr->r, PThr->t, 0); }; ASSERTS }
    :: atomic { c_expr { EN.thr[PThr->r][PThr->t] & 32 } -> c_code { thr_trap(PThr->r, PThr->t); }; ASSERTS }
    od
}

proctype Deliver(byte s; byte d)
{
end:
    do
    :: atomic { c_expr { EN.dlv[PDeliver->s][PDeliver->d] } -> c_code { deliver(PDeliver->s, PDeliver->d); }; ASSERTS }
    od
}

init {
    byte r, t;

    atomic {
        c_code { world_init(); };
        r = 0;
        do
        :: r < NODES ->
            t = 0;
            do
            :: t < THREADS -> run Thr(r, t); t++
            :: else -> break
            od;
            r++
        :: else -> break
        od;
        run Deliver(0, 1); run Deliver(1, 0);
#if NODES > 2
        run Deliver(0, 2); run Deliver(2, 0); run Deliver(1, 2); run Deliver(2, 1);
#endif
        r = 0; t = 0
    }
    /* blocks here (an invalid end state) if some thread or message is stuck */
    c_expr { EN.fin } ->
    c_code { final_check(); };
    assert(!bad_count)
}

ltl finish { <> alldone }
