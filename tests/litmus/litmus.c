/*
 * Litmus tests of distmem's memory model over real processes.
 *
 *   litmus TEST LAYOUT ITERS [bait]      one rank of `distmem run -n N`
 *   litmus list                          the tests, one a line, with thread counts
 *
 * The guarantee under test (include/distmem.h, docs/memory-model.md): when
 * each process runs one thread, volatile loads and stores to distmem memory
 * are sequentially consistent across processes even when they race. Each
 * thread Ti of a classic litmus test is played by rank i; ranks beyond the
 * test's thread count only take part in the barriers, resets and "go"
 * signals.
 *
 * LAYOUT places the test's variables (x, y, z):
 *   samepage   all variables on one page (64 bytes apart);
 *   diffpage   each variable on its own page, variable i homed at rank i mod N;
 *   crosspage  each variable on its own page, variable i homed at rank
 *              (i+1) mod N.
 * Between the two, each variable of SB, MP, LB, CoRR, WRC and IRIW is homed
 * once at the rank that writes it and once elsewhere (e.g. MP diffpage: x at
 * its writer T0, y at the reader T1); with a rank more than the test has
 * threads, crosspage homes y at the rank that plays no thread. Pages are
 * picked with dm_home(); when no page has the wanted home (a huge
 * DISTMEM_HOME_BLOCK) the variable gets a page of its own anyway and the
 * layout line says so.
 *
 * One iteration, every rank:
 *   1. the resetter (rank it mod N; rank 0 in the tests that observe final
 *      values, so that its reads of them stay ordered before the reset)
 *      stores 0 into every variable; dm_barrier;
 *   2. each rank reads every variable with probability 1/2, so the pages
 *      start the race in different states (shared here, owned elsewhere);
 *   3. rank it mod N stores a start time (now plus twice the time ranks
 *      take to see "go", plus 20 us) and then the "go" word; every rank
 *      waits for "go", then until the start time (ranks on one host share
 *      CLOCK_MONOTONIC), then a random time uniform in [0, 2 B), where B is
 *      the longest average time a thread's body took so far (the threads
 *      report theirs in their results slot, rank 0 publishes the maximum
 *      next to "go"). A fault costs from microseconds to milliseconds
 *      depending on the transport and the machine's load, so the delays
 *      follow the measured costs (capped at 5 ms) rather than constants;
 *   4. a rank that plays thread T runs T's body with volatile int64_t loads
 *      and stores, in half of the iterations with a random pause (up to B)
 *      between two accesses, so that a page can be taken away in mid-body,
 *      and copies its registers into its results slot; dm_barrier;
 *   5. rank 0 decodes the registers (and the variables' final values, for
 *      the tests that observe them), tallies the outcome and stops the run
 *      on an outcome SC forbids.
 * Stores write TAG+k with TAG = (iteration+1) << 8, so a value left over
 * from an earlier iteration (a stale page) is caught as well: every value
 * read must be 0 or a value stored in this iteration.
 *
 * Neither the reads of step 2 (loads whose values are discarded) nor the
 * pauses change the set of SC outcomes of the registers.
 *
 * `bait` declares forbidden, besides the test's own forbidden outcome, an
 * outcome SC allows and that needs the bodies to interleave (the last
 * column of g_tests): the run must then fail on it, which shows that the
 * checker catches an outcome when it occurs and that the threads really
 * race.
 *
 * Rank 0 prints the program, the forbidden outcome, the layout and a
 * histogram of the outcomes; a rank whose iteration took over 1 s says so on
 * stderr, with the time of each phase (a report, never a failure). Exit 0 when no forbidden outcome occurred;
 * otherwise rank 0 prints "litmus: FORBIDDEN TEST LAYOUT iteration I: ..."
 * and exits 1 (after a clean dm_finalize in every rank).
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "distmem.h"

static int g_rank;
#include "rank_check.h"

enum {
    LITMUS_MAX_THREADS = 4,
    LITMUS_MAX_VARS = 3,
    LITMUS_MAX_OBS = 6,        /* registers plus observed final values */
    LITMUS_SLOT_WORDS = 8,     /* a rank's results slot: 64 bytes */
    LITMUS_SLOT_BODY_NS = 7,   /* slot word: the rank's average body time */
    LITMUS_DATA_PAGES = 1024,  /* pages scanned for the homes a layout wants */
};
#define LITMUS_START_MARGIN_NS INT64_C(20000)
#define LITMUS_MAX_DELAY_NS INT64_C(5000000) /* delays follow costs up to 5 ms */
#define LITMUS_SLOW_NS INT64_C(1000000000)   /* an iteration this slow is reported */
#define LITMUS_FOREIGN_CLOCK_NS INT64_C(100000000)

typedef volatile int64_t *litmus_var_t;

typedef struct litmus_test {
    const char *name;
    int nthreads;
    int nvars;
    int nregs[LITMUS_MAX_THREADS]; /* registers of each thread, numbered r0.. in thread order */
    int nfinal;                    /* final values of variables 0..nfinal-1 observed */
    /* Thread tid's body: stores TAG+k, loads into r[0..nregs[tid]-1]. */
    void (*body)(int tid, litmus_var_t const *v, int64_t tag, int64_t *r);
    /* o: the registers in order, then the final values; each 0, 1 or 2. */
    int (*forbidden)(const int *o);
    int (*bait)(const int *o);
    const char *program;
    const char *forbids;
    const char *baits;
} litmus_test_t;

/*
 * A random local delay between two accesses of a thread, so that a page can
 * be taken away in mid-body (in samepage especially). A delay adds no access,
 * so it does not change the set of SC outcomes. The budget is set per
 * iteration by main: 0 in half of the iterations.
 */
static uint64_t g_pause_seed;
static int64_t g_pause_max_ns;
static void litmus_pause(void);
#define PAUSE() litmus_pause()

#define X (*v[0])
#define Y (*v[1])
#define Z (*v[2])

/*
 * SB (store buffering). T0, T1 are ranks 0, 1.
 *   T0: x=1; r0=y      T1: y=1; r1=x
 * SC forbids r0=0 r1=0 (one of the stores comes first in the total order,
 * so the other thread's later load sees it).
 */
static void sb_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        X = tag + 1;
        PAUSE();
        r[0] = Y;
    } else {
        Y = tag + 1;
        PAUSE();
        r[0] = X;
    }
}
static int sb_forbidden(const int *o) { return o[0] == 0 && o[1] == 0; }
static int sb_bait(const int *o) { return o[0] == 1 && o[1] == 1; }

/*
 * MP (message passing). T0, T1 are ranks 0, 1.
 *   T0: x=1; y=1       T1: r0=y; r1=x
 * SC forbids r0=1 r1=0 (seeing the flag means seeing the data).
 */
static void mp_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        X = tag + 1;
        PAUSE();
        Y = tag + 1;
    } else {
        r[0] = Y;
        PAUSE();
        r[1] = X;
    }
}
static int mp_forbidden(const int *o) { return o[0] == 1 && o[1] == 0; }
static int mp_bait(const int *o) { return o[0] == 0 && o[1] == 1; }

/*
 * LB (load buffering). T0, T1 are ranks 0, 1.
 *   T0: r0=x; y=1      T1: r1=y; x=1
 * SC forbids r0=1 r1=1 (each load would have to follow the other's store,
 * which follows the load).
 */
static void lb_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        r[0] = X;
        PAUSE();
        Y = tag + 1;
    } else {
        r[0] = Y;
        PAUSE();
        X = tag + 1;
    }
}
static int lb_forbidden(const int *o) { return o[0] == 1 && o[1] == 1; }
static int lb_bait(const int *o) { return o[0] == 0 && o[1] == 0; }

/*
 * IRIW (independent reads of independent writes). T0..T3 are ranks 0..3.
 *   T0: x=1    T1: y=1    T2: r0=x; r1=y    T3: r2=y; r3=x
 * SC forbids r0=1 r1=0 r2=1 r3=0 (the readers would disagree on the order
 * of the two independent stores).
 */
static void iriw_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    switch (t) {
    case 0:
        X = tag + 1;
        break;
    case 1:
        Y = tag + 1;
        break;
    case 2:
        r[0] = X;
        PAUSE();
        r[1] = Y;
        break;
    default:
        r[0] = Y;
        PAUSE();
        r[1] = X;
        break;
    }
}
static int iriw_forbidden(const int *o)
{
    return o[0] == 1 && o[1] == 0 && o[2] == 1 && o[3] == 0;
}
static int iriw_bait(const int *o) { return o[0] == 1 && o[1] == 0; }

/*
 * WRC (write-to-read causality). T0..T2 are ranks 0..2.
 *   T0: x=1    T1: r0=x; y=1    T2: r1=y; r2=x
 * SC forbids r0=1 r1=1 r2=0 (T2 sees y=1, which T1 stored after seeing
 * x=1, so T2 must see x=1).
 */
static void wrc_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    switch (t) {
    case 0:
        X = tag + 1;
        break;
    case 1:
        r[0] = X;
        PAUSE();
        Y = tag + 1;
        break;
    default:
        r[0] = Y;
        PAUSE();
        r[1] = X;
        break;
    }
}
static int wrc_forbidden(const int *o) { return o[0] == 1 && o[1] == 1 && o[2] == 0; }
static int wrc_bait(const int *o) { return o[0] == 1 && o[1] == 1 && o[2] == 1; }

/*
 * 2+2W. T0, T1 are ranks 0, 1; rank 0 reads the final values after the barrier.
 *   T0: x=1; y=2       T1: y=1; x=2
 * SC forbids final x=1 y=1 (x=1 last means T1's x=2 came before T0's x=1,
 * hence T1's y=1 before T0's y=2, so y ends as 2).
 */
static void w22_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    (void)r; /* the outcome is the final values */
    if (t == 0) {
        X = tag + 1;
        PAUSE();
        Y = tag + 2;
    } else {
        Y = tag + 1;
        PAUSE();
        X = tag + 2;
    }
}
static int w22_forbidden(const int *o) { return o[0] == 1 && o[1] == 1; }
static int w22_bait(const int *o) { return o[0] == 2 && o[1] == 2; }

/*
 * CoRR (read-read coherence). T0, T1 are ranks 0, 1.
 *   T0: x=1            T1: r0=x; r1=x
 * SC forbids r0=1 r1=0 (a later read of the same location going back in time).
 */
static void corr_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        X = tag + 1;
    } else {
        r[0] = X;
        PAUSE();
        r[1] = X;
    }
}
static int corr_forbidden(const int *o) { return o[0] == 1 && o[1] == 0; }
static int corr_bait(const int *o) { return o[0] == 0 && o[1] == 1; }

/*
 * CoRR2 (readers agree on the order of two stores to one location). T0..T3 are ranks 0..3.
 *   T0: x=1    T1: x=2    T2: r0=x; r1=x    T3: r2=x; r3=x
 * SC forbids every outcome that no single order of the two stores explains:
 * e.g. r0=1 r1=2 r2=2 r3=1, and any reader going back (r0=1 r1=0).
 */
static void corr2_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    switch (t) {
    case 0:
        X = tag + 1;
        break;
    case 1:
        X = tag + 2;
        break;
    default:
        r[0] = X;
        PAUSE();
        r[1] = X;
        break;
    }
}
/* Position of value a (0, 1 or 2) in the order 0 < first < the other store. */
static int corr2_pos(int a, int first)
{
    return a == 0 ? 0 : a == first ? 1 : 2;
}
static int corr2_fits(const int *o, int first)
{
    return corr2_pos(o[0], first) <= corr2_pos(o[1], first) &&
           corr2_pos(o[2], first) <= corr2_pos(o[3], first);
}
static int corr2_forbidden(const int *o) { return !corr2_fits(o, 1) && !corr2_fits(o, 2); }
static int corr2_bait(const int *o) { return o[0] != o[1] || o[2] != o[3]; }

/*
 * R. T0, T1 are ranks 0, 1; rank 0 reads the final value of y after the barrier.
 *   T0: x=1; y=1       T1: y=2; r0=x
 * SC forbids r0=0 with final y=2 (y=2 last puts T0's x=1 and y=1 before
 * T1's y=2, which is before T1's load of x).
 */
static void r_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        X = tag + 1;
        PAUSE();
        Y = tag + 1;
    } else {
        Y = tag + 2;
        PAUSE();
        r[0] = X;
    }
}
/* o = { r0, final x, final y } */
static int r_forbidden(const int *o) { return o[2] == 2 && o[0] == 0; }
static int r_bait(const int *o) { return o[2] == 1 && o[0] == 1; }

/*
 * S. T0, T1 are ranks 0, 1; rank 0 reads the final value of x after the barrier.
 *   T0: x=2; y=1       T1: r0=y; x=1
 * SC forbids r0=1 with final x=2 (T1 saw y=1, so T0's x=2 came before T1's
 * x=1, which must be the last store to x).
 */
static void s_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    if (t == 0) {
        X = tag + 2;
        PAUSE();
        Y = tag + 1;
    } else {
        r[0] = Y;
        PAUSE();
        X = tag + 1;
    }
}
/* o = { r0, final x } */
static int s_forbidden(const int *o) { return o[0] == 1 && o[1] == 2; }
static int s_bait(const int *o) { return o[0] == 0 && o[1] == 1; }

/*
 * ISA2 (causality through a chain of three threads, three locations). T0..T2 are ranks 0..2.
 *   T0: x=1; y=1       T1: r0=y; z=1       T2: r1=z; r2=x
 * SC forbids r0=1 r1=1 r2=0.
 */
static void isa2_body(int t, litmus_var_t const *v, int64_t tag, int64_t *r)
{
    switch (t) {
    case 0:
        X = tag + 1;
        PAUSE();
        Y = tag + 1;
        break;
    case 1:
        r[0] = Y;
        PAUSE();
        Z = tag + 1;
        break;
    default:
        r[0] = Z;
        PAUSE();
        r[1] = X;
        break;
    }
}
static int isa2_forbidden(const int *o) { return o[0] == 1 && o[1] == 1 && o[2] == 0; }
static int isa2_bait(const int *o) { return o[0] == 1 && o[1] == 1 && o[2] == 1; }

#undef X
#undef Y
#undef Z

static const litmus_test_t g_tests[] = {
    { "SB", 2, 2, { 1, 1 }, 0, sb_body, sb_forbidden, sb_bait,
      "T0: x=1; r0=y | T1: y=1; r1=x", "r0=0 r1=0", "r0=1 r1=1" },
    { "MP", 2, 2, { 0, 2 }, 0, mp_body, mp_forbidden, mp_bait,
      "T0: x=1; y=1 | T1: r0=y; r1=x", "r0=1 r1=0", "r0=0 r1=1" },
    { "LB", 2, 2, { 1, 1 }, 0, lb_body, lb_forbidden, lb_bait,
      "T0: r0=x; y=1 | T1: r1=y; x=1", "r0=1 r1=1", "r0=0 r1=0" },
    { "IRIW", 4, 2, { 0, 0, 2, 2 }, 0, iriw_body, iriw_forbidden, iriw_bait,
      "T0: x=1 | T1: y=1 | T2: r0=x; r1=y | T3: r2=y; r3=x", "r0=1 r1=0 r2=1 r3=0",
      "r0=1 r1=0" },
    { "WRC", 3, 2, { 0, 1, 2 }, 0, wrc_body, wrc_forbidden, wrc_bait,
      "T0: x=1 | T1: r0=x; y=1 | T2: r1=y; r2=x", "r0=1 r1=1 r2=0", "r0=1 r1=1 r2=1" },
    { "2+2W", 2, 2, { 0, 0 }, 2, w22_body, w22_forbidden, w22_bait,
      "T0: x=1; y=2 | T1: y=1; x=2", "x=1 y=1 (final)", "x=2 y=2 (final)" },
    { "CoRR", 2, 1, { 0, 2 }, 0, corr_body, corr_forbidden, corr_bait,
      "T0: x=1 | T1: r0=x; r1=x", "r0=1 r1=0", "r0=0 r1=1" },
    { "CoRR2", 4, 1, { 0, 0, 2, 2 }, 0, corr2_body, corr2_forbidden, corr2_bait,
      "T0: x=1 | T1: x=2 | T2: r0=x; r1=x | T3: r2=x; r3=x",
      "readers disagreeing on the order of x=1, x=2 (e.g. r0=1 r1=2 r2=2 r3=1) or going back",
      "a reader seeing x change" },
    { "R", 2, 2, { 0, 1 }, 2, r_body, r_forbidden, r_bait,
      "T0: x=1; y=1 | T1: y=2; r0=x", "r0=0 y=2 (final)", "r0=1 y=1 (final)" },
    { "S", 2, 2, { 0, 1 }, 1, s_body, s_forbidden, s_bait,
      "T0: x=2; y=1 | T1: r0=y; x=1", "r0=1 x=2 (final)", "r0=0 x=1 (final)" },
    { "ISA2", 3, 3, { 0, 1, 2 }, 0, isa2_body, isa2_forbidden, isa2_bait,
      "T0: x=1; y=1 | T1: r0=y; z=1 | T2: r1=z; r2=x", "r0=1 r1=1 r2=0",
      "r0=1 r1=1 r2=1" },
};

static const char *const g_var_names[LITMUS_MAX_VARS] = { "x", "y", "z" };

static int litmus_nregs(const litmus_test_t *t)
{
    int n = 0;

    for (int i = 0; i < t->nthreads; i++) {
        n += t->nregs[i];
    }
    return n;
}

/* "r0=1 r1=0 x=2" for outcome o. */
static void litmus_format(const litmus_test_t *t, const int *o, char *buf, size_t len)
{
    int nregs = litmus_nregs(t);
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < nregs + t->nfinal && used < len; i++) {
        if (i < nregs) {
            used += (size_t)snprintf(buf + used, len - used, "%sr%d=%d", i ? " " : "", i, o[i]);
        } else {
            used += (size_t)snprintf(buf + used, len - used, "%s%s=%d", i ? " " : "",
                                     g_var_names[i - nregs], o[i]);
        }
    }
}

/* 0 for the initial value, k for TAG+k, -1 for any other value. */
static int litmus_decode(int64_t raw, int64_t tag)
{
    if (raw == 0) {
        return 0;
    }
    if (raw == tag + 1 || raw == tag + 2) {
        return (int)(raw - tag);
    }
    return -1;
}

static uint64_t litmus_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A measured cost, bounded: one fault stalled by the machine's load must not
 * make the following iterations wait seconds. */
static int64_t litmus_cap(int64_t ns)
{
    return ns < LITMUS_MAX_DELAY_NS ? ns : LITMUS_MAX_DELAY_NS;
}

static int64_t litmus_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Waits a random time, uniform in [0, 2 * cost_ns): busy for short waits,
 * yielding the CPU in long ones (the machine may run more ranks than it has
 * cores, and the peers' faults need CPU time to be served).
 */
static void litmus_delay(uint64_t *seed, int64_t cost_ns)
{
    int64_t wait = (int64_t)(litmus_rand(seed) % (uint64_t)(2 * cost_ns + 1));
    int64_t end = litmus_now_ns() + wait;

    while (litmus_now_ns() < end) {
        if (wait > 20000) {
            sched_yield();
        }
    }
}

/*
 * Waits until CLOCK_MONOTONIC reaches start. Ranks on one host share that
 * clock; a start more than LITMUS_FOREIGN_CLOCK_NS ahead comes from another
 * host's clock and is ignored (the random delay alone spreads the starts).
 */
static void litmus_wait_until(int64_t start)
{
    int64_t now = litmus_now_ns();

    if (start - now > LITMUS_FOREIGN_CLOCK_NS) {
        return;
    }
    while (now < start) {
        if (start - now > 20000) {
            sched_yield();
        }
        now = litmus_now_ns();
    }
}

static void litmus_pause(void)
{
    if (g_pause_max_ns > 0) {
        litmus_delay(&g_pause_seed, g_pause_max_ns / 2);
    }
}

/*
 * Gives each variable a location in data (npages pages of page bytes)
 * according to layout; writes a line describing the placement into desc.
 * Deterministic, so every rank computes the same addresses.
 */
static int litmus_place(const char *layout, const litmus_test_t *t, char *data, size_t npages,
                        size_t page, litmus_var_t *v, char *desc, size_t desc_len)
{
    int n = dm_nranks();
    int used[LITMUS_MAX_VARS];
    size_t len = 0;

    desc[0] = '\0';
    if (strcmp(layout, "samepage") == 0) {
        for (int i = 0; i < t->nvars; i++) {
            v[i] = (litmus_var_t)(void *)(data + 64 * (size_t)i);
            len += (size_t)snprintf(desc + len, desc_len - len, "%s%s: page 0 +%d home %d",
                                    i ? ", " : "", g_var_names[i], 64 * i, dm_home(data));
        }
        return 0;
    }
    if (strcmp(layout, "diffpage") != 0 && strcmp(layout, "crosspage") != 0) {
        return -1;
    }
    for (int i = 0; i < t->nvars; i++) {
        int want = (i + (layout[0] == 'c')) % n;
        int pick = -1, fallback = -1;

        for (int p = 0; p < (int)npages && pick < 0; p++) {
            int taken = 0;

            for (int j = 0; j < i; j++) {
                taken |= used[j] == p;
            }
            if (taken) {
                continue;
            }
            if (fallback < 0) {
                fallback = p;
            }
            if (dm_home(data + (size_t)p * page) == want) {
                pick = p;
            }
        }
        used[i] = pick >= 0 ? pick : fallback;
        v[i] = (litmus_var_t)(void *)(data + (size_t)used[i] * page);
        len += (size_t)snprintf(desc + len, desc_len - len, "%s%s: page %d home %d%s",
                                i ? ", " : "", g_var_names[i], used[i],
                                dm_home(data + (size_t)used[i] * page),
                                pick >= 0 ? "" : " (no page with the wanted home)");
    }
    return 0;
}

static const litmus_test_t *litmus_find(const char *name)
{
    for (size_t i = 0; i < sizeof(g_tests) / sizeof(g_tests[0]); i++) {
        if (strcmp(g_tests[i].name, name) == 0) {
            return &g_tests[i];
        }
    }
    return NULL;
}

/* The control block: "go", "stop", "start", "jitter" on one page, results slots on the next. */
typedef struct litmus_ctl {
    volatile int64_t *go;
    volatile int64_t *stop;
    volatile int64_t *start;  /* CLOCK_MONOTONIC time at which the bodies start */
    volatile int64_t *jitter; /* the longest average body time among the threads */
    volatile int64_t *slots; /* rank r's slot: slots[r * LITMUS_SLOT_WORDS ...] */
} litmus_ctl_t;

int main(int argc, char **argv)
{
    const litmus_test_t *t;
    const char *layout;
    long iters;
    int bait, n, nregs, nobs, failed = 0, distinct = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *data, *ctl_mem, desc[512], text[128];
    litmus_var_t v[LITMUS_MAX_VARS];
    litmus_ctl_t ctl;
    uint64_t *hist = NULL, seed;
    int64_t t_begin, t_iter, slowest_ns = 0; /* rank 0: progress report */
    long slowest = 0;
    int64_t body_ns = 0, go_ns = 0, go_start; /* running averages: body time, wait for "go" */
    long it;

    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < sizeof(g_tests) / sizeof(g_tests[0]); i++) {
            printf("%s %d\n", g_tests[i].name, g_tests[i].nthreads);
        }
        return 0;
    }
    if (argc < 4 || argc > 5 || (t = litmus_find(argv[1])) == NULL ||
        (iters = strtol(argv[3], NULL, 10)) <= 0 || (argc == 5 && strcmp(argv[4], "bait") != 0)) {
        fprintf(stderr, "usage: litmus TEST LAYOUT ITERS [bait] | litmus list\n"
                        "  LAYOUT: samepage, diffpage or crosspage\n");
        return 2;
    }
    layout = argv[2];
    bait = argc == 5;
    nregs = litmus_nregs(t);
    nobs = nregs + t->nfinal;

    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    n = dm_nranks();
    CHECK(n >= t->nthreads, "%s needs %d ranks, the job has %d", t->name, t->nthreads, n);
    CHECK((size_t)n * LITMUS_SLOT_WORDS * sizeof(int64_t) <= page, "too many ranks (%d)", n);

    data = dm_alloc(LITMUS_DATA_PAGES * page);
    CHECK(data != NULL, "dm_alloc(data) -> %s: %s", dm_status_name(dm_last_status()),
          dm_last_error());
    ctl_mem = dm_alloc(2 * page);
    CHECK(ctl_mem != NULL, "dm_alloc(ctl) -> %s: %s", dm_status_name(dm_last_status()),
          dm_last_error());
    ctl.go = (volatile int64_t *)(void *)ctl_mem;
    ctl.stop = (volatile int64_t *)(void *)(ctl_mem + 64);
    ctl.start = (volatile int64_t *)(void *)(ctl_mem + 128);
    ctl.jitter = (volatile int64_t *)(void *)(ctl_mem + 192);
    ctl.slots = (volatile int64_t *)(void *)(ctl_mem + page);
    CHECK(litmus_place(layout, t, data, LITMUS_DATA_PAGES, page, v, desc, sizeof(desc)) == 0,
          "unknown layout %s (samepage, diffpage, crosspage)", layout);

    seed = ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 8) ^ (uint64_t)g_rank;
    seed = seed * UINT64_C(0x9E3779B97F4A7C15) | 1;
    g_pause_seed = seed ^ UINT64_C(0x5DEECE66D);
    if (g_rank == 0) {
        hist = calloc((size_t)1 << (2 * nobs), sizeof(*hist));
        CHECK(hist != NULL, "no memory for the histogram");
        printf("litmus %s %s: %d ranks, %ld iterations%s\n", t->name, layout, n, iters,
               bait ? " (bait)" : "");
        printf("  program: %s\n", t->program);
        printf("  SC forbids: %s\n", t->forbids);
        if (bait) {
            printf("  bait (allowed, declared forbidden): %s\n", t->baits);
        }
        printf("  layout: %s\n", desc);
        fflush(stdout);
    }

    t_begin = t_iter = litmus_now_ns();
    for (it = 0; it < iters; it++) {
        int64_t tag = (int64_t)(it + 1) << 8;
        int resetter = t->nfinal > 0 ? 0 : (int)(it % n);
        uint64_t r = litmus_rand(&seed);
        int64_t ph[6]; /* phase ends: begin, barrier, go, delays, body, barrier */

        ph[0] = litmus_now_ns();
        if (g_rank == resetter) {
            for (int i = 0; i < t->nvars; i++) {
                *v[i] = 0;
            }
        }
        CHECK_OK(dm_barrier());
        ph[1] = litmus_now_ns();
        if (*ctl.stop != 0) {
            break;
        }

        if (r & 1) {
            for (int i = 0; i < t->nvars; i++) {
                (void)*v[i];
            }
        }
        go_start = litmus_now_ns();
        if (g_rank == (int)(it % n)) {
            *ctl.start = go_start + 2 * litmus_cap(go_ns) + LITMUS_START_MARGIN_NS;
            *ctl.go = it + 1;
        }
        while (*ctl.go != it + 1) {
            sched_yield();
        }
        ph[2] = litmus_now_ns();
        go_ns = (7 * go_ns + (ph[2] - go_start)) / 8;
        litmus_wait_until(*ctl.start);
        g_pause_max_ns = (r & 2) ? litmus_cap(*ctl.jitter) : 0;
        litmus_delay(&seed, litmus_cap(*ctl.jitter));
        ph[3] = ph[4] = litmus_now_ns();
        if (g_rank < t->nthreads) {
            int64_t regs[2] = { 0, 0 };

            t->body(g_rank, v, tag, regs);
            ph[4] = litmus_now_ns();
            body_ns = (7 * body_ns + (ph[4] - ph[3])) / 8;
            for (int j = 0; j < t->nregs[g_rank]; j++) {
                ctl.slots[g_rank * LITMUS_SLOT_WORDS + j] = regs[j];
            }
            ctl.slots[g_rank * LITMUS_SLOT_WORDS + LITMUS_SLOT_BODY_NS] = body_ns;
        }
        CHECK_OK(dm_barrier());
        ph[5] = litmus_now_ns();
        if (ph[5] - ph[0] > LITMUS_SLOW_NS) {
            fprintf(stderr, "litmus rank %d: iteration %ld took %.1f ms: barrier %.1f, go %.1f, "
                    "delays %.1f, body %.1f, barrier %.1f\n", g_rank, it,
                    (double)(ph[5] - ph[0]) * 1e-6, (double)(ph[1] - ph[0]) * 1e-6,
                    (double)(ph[2] - ph[1]) * 1e-6, (double)(ph[3] - ph[2]) * 1e-6,
                    (double)(ph[4] - ph[3]) * 1e-6, (double)(ph[5] - ph[4]) * 1e-6);
        }

        if (g_rank == 0) {
            int o[LITMUS_MAX_OBS], k = 0, garbage = -1;
            int64_t raw[LITMUS_MAX_OBS], jitter = 0, cur = *ctl.jitter;
            size_t idx = 0;

            for (int th = 0; th < t->nthreads; th++) {
                int64_t b = ctl.slots[th * LITMUS_SLOT_WORDS + LITMUS_SLOT_BODY_NS];

                jitter = b > jitter ? b : jitter;
            }
            if (jitter > cur + cur / 4 || jitter < cur - cur / 4) {
                *ctl.jitter = jitter; /* seldom: every store here costs the others a fault */
            }

            for (int th = 0; th < t->nthreads; th++) {
                for (int j = 0; j < t->nregs[th]; j++) {
                    raw[k++] = ctl.slots[th * LITMUS_SLOT_WORDS + j];
                }
            }
            for (int f = 0; f < t->nfinal; f++) {
                raw[k++] = *v[f];
            }
            for (k = 0; k < nobs; k++) {
                o[k] = litmus_decode(raw[k], tag);
                if (o[k] < 0 && garbage < 0) {
                    garbage = k;
                }
                idx |= (size_t)(o[k] < 0 ? 3 : o[k]) << (2 * k);
            }
            if (garbage >= 0) {
                printf("litmus: FORBIDDEN %s %s iteration %ld: %s %s read %#llx, a value never "
                       "stored in this iteration (tag %#llx)\n",
                       t->name, layout, it, garbage < nregs ? "register" : "final value of",
                       garbage < nregs ? "" : g_var_names[garbage - nregs],
                       (unsigned long long)raw[garbage], (unsigned long long)tag);
                failed = 1;
            } else if (t->forbidden(o) || (bait && t->bait(o))) {
                litmus_format(t, o, text, sizeof(text));
                printf("litmus: FORBIDDEN %s %s iteration %ld: %s%s\n", t->name, layout, it, text,
                       t->forbidden(o) ? "" : " (bait: an allowed outcome declared forbidden)");
                failed = 1;
            }
            distinct += hist[idx]++ == 0;
            if (litmus_now_ns() - t_iter > slowest_ns) {
                slowest_ns = litmus_now_ns() - t_iter;
                slowest = it;
            }
            t_iter = litmus_now_ns();
            if (failed) {
                *ctl.stop = 1;
                fflush(stdout);
            }
        }
    }
    CHECK_OK(dm_barrier());

    if (g_rank == 0) {
        printf("  %ld iterations in %.1f s, the slowest (%ld) %.1f ms; outcomes:\n", it,
               (double)(litmus_now_ns() - t_begin) * 1e-9, slowest, (double)slowest_ns * 1e-6);
        for (size_t idx = 0; idx < (size_t)1 << (2 * nobs); idx++) {
            int o[LITMUS_MAX_OBS], weird = 0;

            if (hist[idx] == 0) {
                continue;
            }
            for (int k = 0; k < nobs; k++) {
                o[k] = (int)((idx >> (2 * k)) & 3);
                weird |= o[k] == 3;
            }
            litmus_format(t, o, text, sizeof(text));
            printf("    %-28s %10llu%s\n", weird ? "(value never stored)" : text,
                   (unsigned long long)hist[idx],
                   !weird && t->forbidden(o) ? "  <- SC forbids" : "");
        }
        if (!failed) {
            printf("litmus %s %s: ok, %d distinct outcomes, none forbidden\n", t->name, layout,
                   distinct);
        }
        fflush(stdout);
        free(hist);
    }
    dm_free(ctl_mem);
    dm_free(data);
    CHECK_OK(dm_finalize());
    return failed ? 1 : 0;
}
