/*
 * Hand-checked traces for every policy (src/policy): each script below
 * gives, step by step, the verdict and victim worked out by hand from the
 * algorithm's definition, with the state of the lists in the comments. A
 * script runs through the contract checker (sim.h), so every step also
 * checks the invariants of policy.h (and ARC's list bounds).
 *
 * Then: the errors each call documents, remove() on every policy, and a
 * random mix of accesses, advice and removes on every policy under the
 * checker, plus "hint with no advice is exactly ARC".
 *
 *   test_policy_unit        exit 0 when every check passed, 1 otherwise
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "policy.h"
#include "sim.h"

#define NIDS 64 /* pages of the scripts are 0 .. NIDS-1 */

/* One step: an access (r/w), advice (a) or remove (x), and what must come of it. */
typedef struct step {
    char        op;      /* 'r' read, 'w' write, 'a' advise, 'x' remove */
    uint64_t    page;
    char        expect;  /* r/w: 'h' hit, 'm' miss into a free frame, 'e' miss and eviction */
    uint64_t    victim;  /* 'e' */
    dm_advice_t advice;  /* 'a' */
    dm_status_t status;  /* a/x: the status expected */
    long        p;       /* ARC's p after the step; -1: not checked */
} step_t;

#define HIT(pg)             { 'r', (pg), 'h', 0, 0, DM_OK, -1 }
#define MISS(pg)            { 'r', (pg), 'm', 0, 0, DM_OK, -1 }
#define EVICT(pg, v)        { 'r', (pg), 'e', (v), 0, DM_OK, -1 }
#define EVICT_P(pg, v, pp)  { 'r', (pg), 'e', (v), 0, DM_OK, (pp) }
#define WMISS(pg)           { 'w', (pg), 'm', 0, 0, DM_OK, -1 }
#define ADVISE(pg, a, st)   { 'a', (pg), 0, 0, (a), (st), -1 }
#define REMOVE(pg, st)      { 'x', (pg), 0, 0, 0, (st), -1 }

/* Expected place of a page after a script. */
typedef struct where {
    uint64_t          page;
    dm_policy_where_t where;
} where_t;

static const char *verdict_name(dm_policy_verdict_t v)
{
    return v == DM_POLICY_HIT ? "hit" : v == DM_POLICY_MISS ? "miss" : "miss+evict";
}

/*
 * Runs steps on a fresh instance of ops; then checks the places in
 * wheres. Returns the instance's hit count (or -1 when it could not run).
 */
static long run_script(const char *name, const dm_policy_ops_t *ops,
                       const dm_policy_params_t *params, const step_t *steps, size_t nsteps,
                       const where_t *wheres, size_t nwheres)
{
    sim_check_t ck;
    dm_status_t st = sim_check_init(&ck, ops, params, NIDS, NULL);
    long hits;

    CHECK(st == DM_OK, "%s: create: %s", name, dm_status_name(st));
    if (st != DM_OK) {
        return -1;
    }
    for (size_t i = 0; i < nsteps; i++) {
        const step_t *s = &steps[i];
        dm_policy_verdict_t v = DM_POLICY_HIT;
        uint64_t victim = UINT64_MAX;
        int rc;

        if (s->op == 'r' || s->op == 'w') {
            rc = sim_check_access(&ck, s->page, s->op == 'w', &v, &victim);
            dm_policy_verdict_t want = s->expect == 'h' ? DM_POLICY_HIT
                                       : s->expect == 'm' ? DM_POLICY_MISS
                                                          : DM_POLICY_MISS_EVICT;
            CHECK(v == want, "%s: step %zu (%c %llu): %s, expected %s", name, i + 1, s->op,
                  (unsigned long long)s->page, verdict_name(v), verdict_name(want));
            if (v == DM_POLICY_MISS_EVICT && want == DM_POLICY_MISS_EVICT) {
                CHECK(victim == s->victim, "%s: step %zu (%c %llu): victim %llu, expected %llu",
                      name, i + 1, s->op, (unsigned long long)s->page,
                      (unsigned long long)victim, (unsigned long long)s->victim);
            }
        } else {
            dm_status_t got;

            rc = s->op == 'a' ? sim_check_advise(&ck, s->page, s->advice, &got)
                              : sim_check_remove(&ck, s->page, &got);
            CHECK(got == s->status, "%s: step %zu (%c %llu): %s, expected %s", name, i + 1,
                  s->op, (unsigned long long)s->page, dm_status_name(got),
                  dm_status_name(s->status));
        }
        CHECK(rc == 0, "%s: step %zu: %s", name, i + 1, ck.error);
        if (s->p >= 0) {
            dm_policy_info_t in;

            dm_policy_info(ck.pol, &in);
            CHECK(in.p == (uint64_t)s->p, "%s: step %zu: p = %llu, expected %ld", name, i + 1,
                  (unsigned long long)in.p, s->p);
        }
        if (rc != 0) {
            break;
        }
    }
    for (size_t i = 0; i < nwheres; i++) {
        dm_policy_where_t w = dm_policy_lookup(ck.pol, wheres[i].page);

        CHECK(w == wheres[i].where, "%s: page %llu is %s, expected %s", name,
              (unsigned long long)wheres[i].page, dm_policy_where_name(w),
              dm_policy_where_name(wheres[i].where));
    }
    hits = (long)ck.hits;
    sim_check_cleanup(&ck);
    return hits;
}

static dm_policy_params_t cap(uint64_t c)
{
    dm_policy_params_t p = { .capacity = c };

    return p;
}

#define RUN(name, ops, params, steps, wheres)                                             \
    run_script(name, ops, params, steps, sizeof(steps) / sizeof(steps[0]), wheres,        \
               sizeof(wheres) / sizeof(wheres[0]))
#define RUN_NOWHERE(name, ops, params, steps)                                             \
    run_script(name, ops, params, steps, sizeof(steps) / sizeof(steps[0]), NULL, 0)

/* ------------------------------------------------------------------ */
/* The textbook reference string (Silberschatz et al., Operating System
 * Concepts, ch. "Virtual Memory"), 3 frames: FIFO 15 faults, OPT 9, LRU 12. */

static const uint64_t textbook[] = { 7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1 };

static void test_lru_textbook(void)
{
    /* LRU order after each step, least recent first. */
    static const step_t s[] = {
        MISS(7), MISS(0), MISS(1),  /* 7 0 1 */
        EVICT(2, 7),                /* 0 1 2 */
        HIT(0),                     /* 1 2 0 */
        EVICT(3, 1),                /* 2 0 3 */
        HIT(0),                     /* 2 3 0 */
        EVICT(4, 2),                /* 3 0 4 */
        EVICT(2, 3),                /* 0 4 2 */
        EVICT(3, 0),                /* 4 2 3 */
        EVICT(0, 4),                /* 2 3 0 */
        HIT(3), HIT(2),             /* 0 3 2 */
        EVICT(1, 0),                /* 3 2 1 */
        HIT(2),                     /* 3 1 2 */
        EVICT(0, 3),                /* 1 2 0 */
        HIT(1),                     /* 2 0 1 */
        EVICT(7, 2),                /* 0 1 7 */
        HIT(0), HIT(1),             /* 7 0 1 */
    };
    static const where_t w[] = {
        { 7, DM_POLICY_RESIDENT }, { 0, DM_POLICY_RESIDENT }, { 1, DM_POLICY_RESIDENT },
        { 2, DM_POLICY_ABSENT }, { 3, DM_POLICY_ABSENT }, { 4, DM_POLICY_ABSENT },
    };
    dm_policy_params_t p = cap(3);
    long hits = RUN("lru textbook", &dm_policy_lru_ops, &p, s, w);

    CHECK(hits == 8, "lru textbook: %ld hits, 20 - 12 faults = 8 expected", hits);
}

static void test_opt_textbook(void)
{
    uint32_t ids[sizeof(textbook) / sizeof(textbook[0])];
    size_t n = sizeof(textbook) / sizeof(textbook[0]);

    for (size_t i = 0; i < n; i++) {
        ids[i] = (uint32_t)textbook[i];
    }
    /*
     * By hand: 7 0 1 miss; 2 evicts 7 (next use 18, the furthest); 0 hit;
     * 3 evicts 1 (14); 0 hit; 4 evicts 0 (11); 2 3 hit; 0 evicts 4 (never);
     * 3 2 hit; 1 evicts 3 (never); 2 0 1 hit; 7 evicts 2 (never); 0 1 hit.
     * 9 faults, 11 hits.
     */
    CHECK(sim_opt_hits(ids, n, 8, 3) == 11, "opt textbook: %llu hits, 11 expected",
          (unsigned long long)sim_opt_hits(ids, n, 8, 3));
    CHECK(sim_opt_hits(ids, n, 8, 1) == 0, "opt, 1 frame: no hit (no immediate repeat)");
    CHECK(sim_opt_hits(ids, n, 8, 6) == 14, "opt, every page fits: 20 - 6 distinct = 14");
    CHECK(sim_opt_hits(ids, 0, 8, 3) == 0, "opt, empty trace");
}

static void test_clock_textbook(void)
{
    /* Frames f0 f1 f2 as page/ref bit, hand position after the step. */
    static const step_t s[] = {
        MISS(7), MISS(0), MISS(1),  /* 7/0 0/0 1/0, hand f0 */
        EVICT(2, 7),                /* f0 ref 0: 2/0 0/0 1/0, hand f1 */
        HIT(0),                     /* 2/0 0/1 1/0 */
        EVICT(3, 1),                /* f1 second chance, f2 goes: 2/0 0/0 3/0, hand f0 */
        HIT(0),                     /* 2/0 0/1 3/0 */
        EVICT(4, 2),                /* 4/0 0/1 3/0, hand f1 */
        EVICT(2, 3),                /* f1 cleared, f2 goes: 4/0 0/0 2/0, hand f0 */
        EVICT(3, 4),                /* 3/0 0/0 2/0, hand f1 */
        HIT(0), HIT(3), HIT(2),     /* 3/1 0/1 2/1 */
        EVICT(1, 0),                /* a full turn clears all; f1 goes: 3/0 1/0 2/0, hand f2 */
        HIT(2),                     /* 3/0 1/0 2/1 */
        EVICT(0, 3),                /* f2 cleared, f0 goes: 0/0 1/0 2/0, hand f1 */
        HIT(1),                     /* 0/0 1/1 2/0 */
        EVICT(7, 2),                /* f1 cleared, f2 goes: 0/0 1/0 7/0, hand f0 */
        HIT(0), HIT(1),
    };
    static const where_t w[] = {
        { 0, DM_POLICY_RESIDENT }, { 1, DM_POLICY_RESIDENT }, { 7, DM_POLICY_RESIDENT },
    };
    dm_policy_params_t p = cap(3);
    long hits = RUN("clock textbook", &dm_policy_clock_ops, &p, s, w);

    CHECK(hits == 9, "clock textbook: %ld hits, 9 expected", hits);
}

/* ------------------------------------------------------------------ */
/* ARC, c = 4. Lists are written LRU first. */

/*
 * Scan resistance, then both ghost lists adapting p, including REPLACE's
 * "x in B2 and |T1| = p" clause and a B2 step larger than 1.
 */
static const step_t arc_scan[] = {
    MISS(1), MISS(2),        /* T1 1 2 */
    HIT(1), HIT(2),          /* T2 1 2 */
    MISS(3), MISS(4),        /* T1 3 4, full */
    /* a scan of 5 pages: IV.B then IV.A; REPLACE always takes T1 (|T1| > p = 0) */
    EVICT(5, 3),             /* T1 4 5        B1 3 */
    EVICT(6, 4),             /* T1 5 6        B1 3 4 */
    EVICT(7, 5),             /* |L1| = 4 = c: B1 drops 3; T1 6 7, B1 4 5 */
    EVICT(8, 6),             /* T1 7 8, B1 5 6 */
    EVICT(9, 7),             /* T1 8 9, B1 6 7 */
    HIT(1), HIT(2),          /* the frequent pages survived the scan: T2 1 2 */
    /* B1 hit: p = min(4, 0 + max(1, 0/2)) = 1; |T1| = 2 > 1: T1's LRU 8 -> B1 */
    EVICT_P(6, 8, 1),        /* T1 9, T2 1 2 6, B1 7 8 */
    /* B1 hit: p = 2; |T1| = 1 <= 2: T2's LRU 1 -> B2 */
    EVICT_P(7, 1, 2),        /* T1 9, T2 2 6 7, B1 8, B2 1 */
    /* B2 hit: |B2| = 1 >= |B1| = 1, step 1: p = 1; x in B2 and |T1| = 1 = p: T1 goes */
    EVICT_P(1, 9, 1),        /* T1 -, T2 2 6 7 1, B1 8 9 */
    /* IV.B: |L1| = 2 < 4, directory 6 >= 4: REPLACE, T1 empty: T2's LRU 2 -> B2 */
    EVICT_P(10, 2, 1),       /* T1 10, T2 6 7 1, B1 8 9, B2 2 */
    /* B2 hit: |B1| = 2 > |B2| = 1, step 2/1 = 2: p = max(0, 1 - 2) = 0; |T1| = 1 > 0 */
    EVICT_P(2, 10, 0),       /* T1 -, T2 6 7 1 2, B1 8 9 10 */
};
static const where_t arc_scan_where[] = {
    { 6, DM_POLICY_T2 }, { 7, DM_POLICY_T2 }, { 1, DM_POLICY_T2 }, { 2, DM_POLICY_T2 },
    { 8, DM_POLICY_B1 }, { 9, DM_POLICY_B1 }, { 10, DM_POLICY_B1 },
    { 3, DM_POLICY_ABSENT }, { 4, DM_POLICY_ABSENT }, { 5, DM_POLICY_ABSENT },
};

/*
 * B2 larger than B1, a B1 hit with step |B2|/|B1| = 3, the directory at 2c
 * (IV.B drops B2's LRU), and IV.A's "|T1| = c: evict T1's LRU, no ghost".
 */
static const step_t arc_adapt[] = {
    MISS(1), HIT(1), MISS(2), HIT(2),
    MISS(3), HIT(3), MISS(4), HIT(4),  /* T2 1 2 3 4, full, p = 0 */
    EVICT(5, 1),        /* IV.B, T1 empty: T2 -> B2.     T1 5, T2 2 3 4, B2 1 */
    EVICT(6, 5),        /* |T1| = 1 > p: T1 -> B1.       T1 6, B1 5, B2 1 */
    HIT(6),             /*                               T2 2 3 4 6 */
    EVICT(7, 2),        /*                               T1 7, B2 1 2 */
    HIT(7),             /*                               T2 3 4 6 7 */
    EVICT(8, 3),        /*                               T1 8, B1 5, B2 1 2 3 */
    /* B1 hit: |B2| = 3 > |B1| = 1: p = 0 + 3/1 = 3; |T1| = 1 <= 3: T2's LRU 4 -> B2 */
    EVICT_P(5, 4, 3),   /* T1 8, T2 6 7 5, B1 -, B2 1 2 3 4: directory 8 = 2c */
    EVICT_P(9, 6, 3),   /* IV.B at 2c: B2 drops 1; |T1| = 1 <= 3: T2 -> B2.  T1 8 9 */
    EVICT_P(10, 7, 3),  /* B2 drops 2; T2's 7 -> B2.  T1 8 9 10, T2 5, B2 3 4 6 7 */
    EVICT_P(11, 5, 3),  /* B2 drops 3; |T1| = 3 = p, x not in B2: T2's 5 -> B2 */
    /* |L1| = |T1| = 4 = c: IV.A's else branch, T1's LRU 8 leaves without a ghost */
    EVICT_P(12, 8, 3),  /* T1 9 10 11 12, B2 4 6 7 5 */
};
static const where_t arc_adapt_where[] = {
    { 9, DM_POLICY_T1 }, { 10, DM_POLICY_T1 }, { 11, DM_POLICY_T1 }, { 12, DM_POLICY_T1 },
    { 4, DM_POLICY_B2 }, { 6, DM_POLICY_B2 }, { 7, DM_POLICY_B2 }, { 5, DM_POLICY_B2 },
    { 8, DM_POLICY_ABSENT }, { 1, DM_POLICY_ABSENT }, { 2, DM_POLICY_ABSENT },
    { 3, DM_POLICY_ABSENT },
};

/*
 * Both ratio steps, a clamp at c, and REPLACE's B2 clause twice: found by a
 * search for short traces on which "step 1 always" gives another p, then
 * worked through by hand.
 */
static const step_t arc_ratio[] = {
    MISS(2), MISS(5), HIT(2),   /* T1 5, T2 2 */
    MISS(3), MISS(7),           /* T1 5 3 7, T2 2: full */
    EVICT_P(1, 5, 0),           /* IV.B, |T1| = 3 > 0: T1 3 7 1, B1 5 */
    EVICT_P(6, 3, 0),           /* IV.A: B1 drops 5; T1's 3 -> B1.  T1 7 1 6, B1 3 */
    EVICT_P(3, 7, 1),           /* B1 hit, step 1: p = 1; |T1| = 3 > 1.  T1 1 6, T2 2 3, B1 7 */
    EVICT_P(4, 1, 1),           /* IV.B: T1's 1 -> B1.  T1 6 4, B1 7 1 */
    EVICT_P(7, 2, 2),           /* B1 hit: p = 2; |T1| = 2 = p: T2's 2 -> B2.  T2 3 7, B1 1, B2 2 */
    HIT(3),                     /* T2 7 3 */
    EVICT_P(8, 7, 2),           /* IV.B, |T1| = 2 = p: T2's 7 -> B2.  T1 6 4 8, B2 2 7 */
    /* B1 hit with |B2| = 2 > |B1| = 1: step 2, p = min(4, 2 + 2) = 4; T2's 3 -> B2 */
    EVICT_P(1, 3, 4),           /* T1 6 4 8, T2 1, B1 -, B2 2 7 3 */
    /* B2 hit, step 1: p = 3; x in B2 and |T1| = 3 = p: T1's 6 -> B1 */
    EVICT_P(2, 6, 3),           /* T1 4 8, T2 1 2, B1 6, B2 7 3 */
    EVICT_P(3, 4, 2),           /* B2 hit, step 1: p = 2 = |T1|: T1's 4 -> B1.  B1 6 4, B2 7 */
    /* B2 hit with |B1| = 2 > |B2| = 1: step 2/1 = 2, p = 0; |T1| = 1 > 0: T1's 8 -> B1 */
    EVICT_P(7, 8, 0),           /* T1 -, T2 1 2 3 7, B1 6 4 8, B2 - */
};
static const where_t arc_ratio_where[] = {
    { 1, DM_POLICY_T2 }, { 2, DM_POLICY_T2 }, { 3, DM_POLICY_T2 }, { 7, DM_POLICY_T2 },
    { 6, DM_POLICY_B1 }, { 4, DM_POLICY_B1 }, { 8, DM_POLICY_B1 }, { 5, DM_POLICY_ABSENT },
};

static void test_arc(void)
{
    dm_policy_params_t p = cap(4);
    static const step_t lru_scan[] = {
        MISS(1), MISS(2), HIT(1), HIT(2), MISS(3), MISS(4),
        EVICT(5, 1), EVICT(6, 2), EVICT(7, 3), EVICT(8, 4), EVICT(9, 5),
        EVICT(1, 6), EVICT(2, 7), /* LRU lost the frequent pages to the scan */
    };

    RUN("arc scan", &dm_policy_arc_ops, &p, arc_scan, arc_scan_where);
    RUN("arc adapt", &dm_policy_arc_ops, &p, arc_adapt, arc_adapt_where);
    RUN("arc ratio", &dm_policy_arc_ops, &p, arc_ratio, arc_ratio_where);
    RUN_NOWHERE("lru scan", &dm_policy_lru_ops, &p, lru_scan);
    /* Without advice the hint policy is ARC, step for step. */
    RUN("hint scan (no advice)", &dm_policy_hint_ops, &p, arc_scan, arc_scan_where);
    RUN("hint adapt (no advice)", &dm_policy_hint_ops, &p, arc_adapt, arc_adapt_where);
}

/* ------------------------------------------------------------------ */
/* The hint policy. */

static void test_hint(void)
{
    dm_policy_params_t p4 = cap(4), p3 = cap(3);

    /* COLD goes first, without a ghost; the next access forgets the advice. */
    static const step_t cold[] = {
        MISS(1), MISS(2), MISS(3), MISS(4),      /* T1 1 2 3 4 */
        ADVISE(3, DM_ADVICE_COLD, DM_OK),        /* T1 1 2 4, COLD 3 */
        EVICT(5, 3),                             /* ARC would have taken 1 */
        ADVISE(2, DM_ADVICE_COLD, DM_OK),        /* T1 1 4 5, COLD 2 */
        HIT(2),                                  /* one-shot: T1 1 4 5 2 */
        EVICT(6, 1),                             /* |T1| = c: IV.A, T1's LRU */
        ADVISE(3, DM_ADVICE_COLD, DM_ERR_NOT_FOUND),
    };
    static const where_t cold_w[] = {
        { 2, DM_POLICY_T1 }, { 3, DM_POLICY_ABSENT }, { 1, DM_POLICY_ABSENT },
        { 6, DM_POLICY_T1 },
    };
    RUN("hint cold", &dm_policy_hint_ops, &p4, cold, cold_w);

    /* PREFERRED_TIER stays while anything else can go; then the LRU preferred page. */
    static const step_t pref[] = {
        MISS(1), MISS(2), MISS(3),                       /* T1 1 2 3 */
        ADVISE(1, DM_ADVICE_PREFERRED_TIER, DM_OK),      /* T1 2 3, PREF 1 */
        EVICT(4, 2),                                     /* REPLACE: T1 -> B1.  T1 3 4 */
        EVICT(5, 3),                                     /* IV.A drops B1's 2; T1 4 5, B1 3 */
        HIT(1),                                          /* PREF 1, still */
        ADVISE(4, DM_ADVICE_PREFERRED_TIER, DM_OK),
        ADVISE(5, DM_ADVICE_PREFERRED_TIER, DM_OK),      /* PREF 1 4 5, ARC holds none */
        EVICT(6, 1),                                     /* all preferred: LRU of PREF */
        ADVISE(4, DM_ADVICE_NONE, DM_OK),                /* back to ARC: T1 6 4 */
        EVICT(7, 6),                                     /* IV.A drops B1's 3; T1's LRU 6 -> B1 */
        ADVISE(6, DM_ADVICE_PREFERRED_TIER, DM_ERR_NOT_FOUND), /* a ghost is not resident */
    };
    static const where_t pref_w[] = {
        { 5, DM_POLICY_PREFERRED }, { 4, DM_POLICY_T1 }, { 7, DM_POLICY_T1 },
        { 1, DM_POLICY_ABSENT }, { 3, DM_POLICY_ABSENT }, { 6, DM_POLICY_B1 },
    };
    RUN("hint preferred", &dm_policy_hint_ops, &p3, pref, pref_w);

    /* READ_MOSTLY: a clean one near the LRU end goes before dirty or unadvised pages. */
    static const step_t rm[] = {
        WMISS(1), MISS(2), WMISS(3),                 /* T1 1 2 3; 1 and 3 dirty */
        ADVISE(2, DM_ADVICE_READ_MOSTLY, DM_OK),
        ADVISE(3, DM_ADVICE_READ_MOSTLY, DM_OK),     /* read-mostly but written */
        EVICT(4, 2),                                 /* ARC's choice was 1 */
        EVICT(5, 1),                                 /* 3 is dirty: plain LRU end */
    };
    static const where_t rm_w[] = { { 3, DM_POLICY_T1 }, { 2, DM_POLICY_ABSENT } };
    RUN("hint read-mostly", &dm_policy_hint_ops, &p3, rm, rm_w);

    /* clean_window = 1 looks at the LRU page only. */
    static const step_t rm1[] = {
        WMISS(1), MISS(2), WMISS(3),
        ADVISE(2, DM_ADVICE_READ_MOSTLY, DM_OK),
        EVICT(4, 1),
    };
    dm_policy_params_t w1 = { .field_mask = DM_POLICY_PARAM_CLEAN_WINDOW, .capacity = 3,
                              .clean_window = 1 };
    RUN_NOWHERE("hint read-mostly window 1", &dm_policy_hint_ops, &w1, rm1);

    /* ACCESSED_BY counts as a reference: T1 -> T2, so REPLACE takes the other T1 page. */
    static const step_t acc[] = {
        MISS(1), MISS(2), MISS(3),
        ADVISE(1, DM_ADVICE_ACCESSED_BY, DM_OK),     /* T1 2 3, T2 1 */
        EVICT(4, 2),                                 /* IV.B: |T1| = 2 > p = 0 */
        ADVISE(9, DM_ADVICE_ACCESSED_BY, DM_ERR_NOT_FOUND),
    };
    static const where_t acc_w[] = { { 1, DM_POLICY_T2 }, { 2, DM_POLICY_B1 } };
    RUN("hint accessed-by", &dm_policy_hint_ops, &p3, acc, acc_w);

    /* Plain ARC accepts advice about a resident page and ignores it. */
    static const step_t arc_ignores[] = {
        MISS(1), MISS(2), MISS(3),
        ADVISE(3, DM_ADVICE_COLD, DM_OK),
        ADVISE(1, DM_ADVICE_PREFERRED_TIER, DM_OK),
        EVICT(4, 1),
        ADVISE(1, DM_ADVICE_COLD, DM_ERR_NOT_FOUND),
    };
    RUN_NOWHERE("arc ignores advice", &dm_policy_arc_ops, &p3, arc_ignores);
}

/* ------------------------------------------------------------------ */
/* remove() and the documented errors, on every policy. */

static const dm_policy_ops_t *const all_ops[] = {
    &dm_policy_lru_ops, &dm_policy_clock_ops, &dm_policy_arc_ops, &dm_policy_hint_ops,
};
#define NOPS (sizeof(all_ops) / sizeof(all_ops[0]))

static void test_remove(void)
{
    /* A removed page frees its frame: the next miss needs no eviction. */
    static const step_t s[] = {
        MISS(1), MISS(2), MISS(3),
        REMOVE(2, DM_OK),
        REMOVE(2, DM_ERR_NOT_FOUND),
        MISS(4),
        REMOVE(9, DM_ERR_NOT_FOUND),
        REMOVE(1, DM_OK), REMOVE(3, DM_OK), REMOVE(4, DM_OK),
        MISS(5), MISS(6), MISS(7),
    };
    dm_policy_params_t p = cap(3);

    for (size_t i = 0; i < NOPS; i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s remove", all_ops[i]->name);
        run_script(name, all_ops[i], &p, s, sizeof(s) / sizeof(s[0]), NULL, 0);
    }

    /* ARC: removing a ghost forgets it (NOT_FOUND: it was not resident). */
    static const step_t ghost[] = {
        MISS(1), HIT(1), MISS(2),        /* c = 2: T1 2, T2 1 */
        EVICT(3, 2),                     /* IV.B: T1 3, T2 1, B1 2 */
        REMOVE(2, DM_ERR_NOT_FOUND),     /* B1 - */
        /* a plain miss now, not a B1 hit (which would make p = 1 and evict T2's 1) */
        EVICT_P(2, 3, 0),                /* T1 2, T2 1, B1 3 */
    };
    static const where_t ghost_w[] = {
        { 2, DM_POLICY_T1 }, { 1, DM_POLICY_T2 }, { 3, DM_POLICY_B1 },
    };
    dm_policy_params_t p2 = cap(2);
    RUN("arc remove ghost", &dm_policy_arc_ops, &p2, ghost, ghost_w);
}

static void test_errors(void)
{
    dm_policy_t *pol = NULL;
    dm_policy_params_t p = cap(0);

    for (size_t i = 0; i < NOPS; i++) {
        const dm_policy_ops_t *ops = all_ops[i];

        p = cap(0);
        CHECK(dm_policy_create(ops, &p, &pol) == DM_ERR_INVALID_PARAM, "%s: capacity 0",
              ops->name);
        p = cap(DM_POLICY_CAPACITY_MAX + 1);
        CHECK(dm_policy_create(ops, &p, &pol) == DM_ERR_INVALID_PARAM, "%s: capacity too big",
              ops->name);
        p = cap(4);
        p.field_mask = 1ull << 40;
        CHECK(dm_policy_create(ops, &p, &pol) == DM_ERR_INVALID_PARAM, "%s: unknown field",
              ops->name);
        p = cap(1);
        CHECK(dm_policy_create(ops, &p, &pol) == DM_OK, "%s: capacity 1", ops->name);
        CHECK(strcmp(dm_policy_name(pol), ops->name) == 0, "%s: name", ops->name);
        CHECK(dm_policy_ops_find(ops->name) == ops, "%s: found by name", ops->name);
        CHECK(dm_policy_advise(pol, 1, DM_ADVICE_COUNT) == DM_ERR_INVALID_PARAM,
              "%s: unknown advice", ops->name);
        CHECK(dm_policy_advise(pol, 1, (dm_advice_t)-1) == DM_ERR_INVALID_PARAM,
              "%s: negative advice", ops->name);
        CHECK(dm_policy_advise(pol, 1, DM_ADVICE_COLD) == DM_ERR_NOT_FOUND,
              "%s: advice on an absent page", ops->name);
        /* page ids are any 64-bit value, 0 and UINT64_MAX included */
        uint64_t victim = 0;
        CHECK(dm_policy_access(pol, UINT64_MAX, 0, &victim) == DM_POLICY_MISS, "%s: max id",
              ops->name);
        CHECK(dm_policy_access(pol, 0, 1, &victim) == DM_POLICY_MISS_EVICT &&
                  victim == UINT64_MAX, "%s: capacity 1 evicts the other page", ops->name);
        CHECK(dm_policy_access(pol, 0, 0, &victim) == DM_POLICY_HIT, "%s: id 0", ops->name);
        CHECK(dm_policy_resident(pol) == 1, "%s: one resident", ops->name);
        dm_policy_destroy(pol);
        pol = NULL;
    }
    CHECK(dm_policy_ops_find("nope") == NULL, "unknown policy name");
    CHECK(dm_policy_ops_find(NULL) == NULL, "NULL policy name");
    CHECK(dm_policy_create(NULL, &p, &pol) == DM_ERR_INVALID_PARAM, "NULL ops");
    dm_policy_destroy(NULL);
    CHECK(strcmp(dm_advice_name(DM_ADVICE_READ_MOSTLY), "read_mostly") == 0, "advice name");
}

/* ------------------------------------------------------------------ */
/* Random events under the checker. */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void test_fuzz(void)
{
    static const uint64_t caps[] = { 1, 2, 3, 5, 8, 13 };

    for (size_t o = 0; o < NOPS; o++) {
        for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
            dm_policy_params_t p = cap(caps[c]);
            sim_check_t ck;
            int rc = 0;

            if (sim_check_init(&ck, all_ops[o], &p, NIDS, NULL) != DM_OK) {
                CHECK(0, "fuzz: create %s", all_ops[o]->name);
                continue;
            }
            for (int i = 0; i < 20000 && rc == 0; i++) {
                uint64_t r = rng();
                /* a skewed page choice: half the events hit 6 hot pages */
                uint64_t page = (r & 1) ? (r >> 8) % 6 : (r >> 8) % 40;
                unsigned kind = (unsigned)((r >> 40) % 100);

                if (kind < 80) {
                    rc = sim_check_access(&ck, page, (r >> 50) & 1, NULL, NULL);
                } else if (kind < 93) {
                    rc = sim_check_advise(&ck, page, (dm_advice_t)((r >> 50) % DM_ADVICE_COUNT),
                                          NULL);
                } else {
                    rc = sim_check_remove(&ck, page, NULL);
                }
            }
            CHECK(rc == 0, "fuzz %s c=%llu: %s", all_ops[o]->name,
                  (unsigned long long)caps[c], ck.error);
            sim_check_cleanup(&ck);
        }
    }

    /* accesses only: hint and ARC give the same verdicts and victims */
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        dm_policy_params_t p = cap(caps[c]);
        dm_policy_t *a = NULL, *h = NULL;
        int same = 1;

        if (dm_policy_create(&dm_policy_arc_ops, &p, &a) != DM_OK ||
            dm_policy_create(&dm_policy_hint_ops, &p, &h) != DM_OK) {
            CHECK(0, "fuzz: create arc/hint");
        } else {
            for (int i = 0; i < 20000 && same; i++) {
                uint64_t r = rng(), va = 0, vh = 0;
                uint64_t page = (r & 1) ? (r >> 8) % 6 : (r >> 8) % 40;
                dm_policy_verdict_t x = dm_policy_access(a, page, (r >> 50) & 1, &va);
                dm_policy_verdict_t y = dm_policy_access(h, page, (r >> 50) & 1, &vh);

                same = x == y && (x != DM_POLICY_MISS_EVICT || va == vh);
            }
            CHECK(same, "hint without advice differs from arc, c=%llu",
                  (unsigned long long)caps[c]);
        }
        dm_policy_destroy(a);
        dm_policy_destroy(h);
    }
}

int main(void)
{
    test_lru_textbook();
    test_opt_textbook();
    test_clock_textbook();
    test_arc();
    test_hint();
    test_remove();
    test_errors();
    test_fuzz();
    return check_exit("test_policy_unit");
}
