/*
 * bench_policy: hit ratios of the page placement policies (src/policy) on
 * the classic block traces (shared/traces: cpp, cs, gli, ps, multi1-3,
 * 2_pools), beside LRU's and Belady's OPT at the same cache size. One
 * process, no distmem runtime.
 *
 *   bench_policy [--traces DIR] [--fractions F,F,..] [--policies P,P,..]
 *                [--reps N] [TRACE...]
 *
 *   --traces     the trace directory (default $DM_TEST_SOURCE_ROOT/../shared/traces,
 *                else ../shared/traces, which is right from the repository root)
 *   --fractions  cache sizes as fractions of the trace's distinct blocks
 *                (default 0.05,0.1,0.2,0.4,0.6); a size is at least 1 page
 *   --policies   among lru, clock, arc, hint, hint_profile (default
 *                lru,clock,arc; hint without advice is ARC exactly).
 *                hint_profile is the hint policy given the advice an
 *                application that knows how often it uses each of its
 *                blocks would give (dm_advise): its most used blocks
 *                PREFERRED_TIER, up to PROFILE_PREF of the cache (the rest
 *                left to ARC), and blocks it uses once COLD. The counts come
 *                from the whole trace, as OPT's knowledge does; the advice is
 *                given when a block is admitted, as the store gives the
 *                advice of a region to each page it admits.
 *   --reps       timed passes per figure of ns_per_access (default 3; the median)
 *   TRACE        only these traces (default: every one present)
 *
 * Output: comment lines start with "#"; one result line per (trace, size,
 * policy), OPT included as policy=opt, fields in this order:
 *
 *   RESULT bench=policy trace=cpp refs=9047 distinct=1223 size=61 fraction=0.050
 *          policy=arc hits=4479 hit_ratio=0.4951 lru=0.1935 opt=0.7106
 *          vs_lru=+0.3015 of_opt=0.697 ns_per_access=41.2
 *
 *   hit_ratio    hits / refs of this policy (the first access to a block is a miss)
 *   lru, opt     hit ratios of LRU and OPT at the same size
 *   vs_lru       hit_ratio - lru (absolute, signed)
 *   of_opt       hit_ratio / opt (1 = as good as the offline optimum)
 *   ns_per_access  wall time of a pass over the trace / refs, median of --reps
 *                  passes (policy=opt: the whole offline computation)
 *
 * It never judges its figures; the exit status is 0 when every trace ran,
 * 1 when a trace could not be read or none was found, 2 on bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "sim.h"

#define MAX_FRACTIONS 16
#define MAX_POLICIES  5
#define MAX_REPS      31
#define PROFILE_PREF  0.75 /* hint_profile: share of the cache advised PREFERRED_TIER */

static const char *const trace_names[] = {
    "cpp", "cs", "gli", "ps", "multi1", "multi2", "multi3", "2_pools",
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static const uint32_t *g_counts; /* for the sort below */

static int cmp_by_count(const void *a, const void *b)
{
    uint32_t x = g_counts[*(const uint32_t *)a], y = g_counts[*(const uint32_t *)b];

    return x > y ? -1 : x < y; /* most used first */
}

/*
 * hint_profile's advice per dense id for capacity c (see the header):
 * the most used blocks (used twice or more) PREFERRED_TIER up to
 * PROFILE_PREF * c, blocks used once COLD. NULL when out of memory.
 */
static uint8_t *profile_advice(const sim_trace_t *t, uint64_t c)
{
    uint32_t *counts = calloc(t->distinct, sizeof(*counts));
    uint32_t *order = malloc(t->distinct * sizeof(*order));
    uint8_t *adv = calloc(t->distinct, 1);
    uint64_t npref = (uint64_t)(PROFILE_PREF * (double)c);

    if (counts == NULL || order == NULL || adv == NULL) {
        free(counts);
        free(order);
        free(adv);
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++) {
        counts[t->ids[i]]++;
    }
    for (size_t k = 0; k < t->distinct; k++) {
        order[k] = (uint32_t)k;
        adv[k] = counts[k] == 1 ? DM_ADVICE_COLD : DM_ADVICE_NONE;
    }
    g_counts = counts;
    qsort(order, t->distinct, sizeof(*order), cmp_by_count);
    for (uint64_t k = 0; k < npref && k < t->distinct && counts[order[k]] >= 2; k++) {
        adv[order[k]] = DM_ADVICE_PREFERRED_TIER;
    }
    free(counts);
    free(order);
    return adv;
}

/*
 * Hits of ops on t with capacity c; *ns_p: median ns per access over reps
 * passes. adv (NULL: none): advice per dense id, given at each admission.
 */
static int run_policy(const dm_policy_ops_t *ops, const sim_trace_t *t, uint64_t c, int reps,
                      const uint8_t *adv, uint64_t *hits_p, double *ns_p)
{
    dm_policy_params_t params = { .capacity = c };
    double ns[MAX_REPS];
    uint64_t hits = 0;

    for (int r = 0; r < reps; r++) {
        dm_policy_t *pol;
        dm_status_t st = dm_policy_create(ops, &params, &pol);
        uint64_t victim, t0, t1;

        if (st != DM_OK) {
            fprintf(stderr, "bench_policy: %s c=%llu: %s\n", ops->name, (unsigned long long)c,
                    dm_status_string(st));
            return -1;
        }
        hits = 0;
        t0 = now_ns();
        for (size_t i = 0; i < t->n; i++) {
            if (dm_policy_access(pol, t->refs[i], 0, &victim) == DM_POLICY_HIT) {
                hits++;
            } else if (adv != NULL && adv[t->ids[i]] != DM_ADVICE_NONE) {
                (void)dm_policy_advise(pol, t->refs[i], (dm_advice_t)adv[t->ids[i]]);
            }
        }
        t1 = now_ns();
        dm_policy_destroy(pol);
        ns[r] = t->n ? (double)(t1 - t0) / (double)t->n : 0.0;
    }
    *hits_p = hits;
    *ns_p = median(ns, reps);
    return 0;
}

static void print_result(const sim_trace_t *t, uint64_t c, double fraction, const char *policy,
                         uint64_t hits, double lru, double opt, double ns)
{
    double hr = t->n ? (double)hits / (double)t->n : 0.0;

    printf("RESULT bench=policy trace=%s refs=%zu distinct=%zu size=%llu fraction=%.3f "
           "policy=%s hits=%llu hit_ratio=%.4f lru=%.4f opt=%.4f vs_lru=%+.4f of_opt=%.3f "
           "ns_per_access=%.1f\n",
           t->name, t->n, t->distinct, (unsigned long long)c, fraction, policy,
           (unsigned long long)hits, hr, lru, opt, hr - lru, opt > 0 ? hr / opt : 1.0, ns);
}

static int bench_trace(const sim_trace_t *t, const double *fractions, int nfractions,
                       const dm_policy_ops_t *const *ops, const int *profiled, int nops,
                       int reps)
{
    uint64_t prev = 0;

    printf("# %s: %zu references, %zu distinct blocks\n", t->name, t->n, t->distinct);
    for (int f = 0; f < nfractions; f++) {
        uint64_t c = (uint64_t)(fractions[f] * (double)t->distinct + 0.5);
        uint64_t lru_hits, opt_hits, hits, t0;
        double lru, opt, ns, lru_ns, opt_ns;

        c = c ? c : 1;
        if (f > 0 && c == prev) {
            continue; /* a tiny trace: two fractions round to one size */
        }
        prev = c;
        if (run_policy(&dm_policy_lru_ops, t, c, reps, NULL, &lru_hits, &lru_ns) != 0) {
            return -1;
        }
        t0 = now_ns();
        opt_hits = sim_opt_hits(t->ids, t->n, t->distinct, c);
        opt_ns = t->n ? (double)(now_ns() - t0) / (double)t->n : 0.0;
        if (opt_hits == UINT64_MAX) {
            fprintf(stderr, "bench_policy: %s: OPT: out of memory\n", t->name);
            return -1;
        }
        lru = t->n ? (double)lru_hits / (double)t->n : 0.0;
        opt = t->n ? (double)opt_hits / (double)t->n : 0.0;
        for (int p = 0; p < nops; p++) {
            uint8_t *adv = NULL;
            int rc;

            if (profiled[p] && (adv = profile_advice(t, c)) == NULL) {
                fprintf(stderr, "bench_policy: %s: profile: out of memory\n", t->name);
                return -1;
            }
            if (ops[p] == &dm_policy_lru_ops && !profiled[p]) {
                hits = lru_hits;
                ns = lru_ns;
                rc = 0;
            } else {
                rc = run_policy(ops[p], t, c, reps, adv, &hits, &ns);
            }
            free(adv);
            if (rc != 0) {
                return -1;
            }
            print_result(t, c, fractions[f], profiled[p] ? "hint_profile" : ops[p]->name, hits,
                         lru, opt, ns);
        }
        print_result(t, c, fractions[f], "opt", opt_hits, lru, opt, opt_ns);
        fflush(stdout);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_policy [--traces DIR] [--fractions F,F,..] "
                    "[--policies lru,clock,arc,hint,hint_profile] [--reps N] [TRACE...]\n");
}

int main(int argc, char **argv)
{
    char dir[4096], path[4200];
    double fractions[MAX_FRACTIONS] = { 0.05, 0.1, 0.2, 0.4, 0.6 };
    int nfractions = 5, nops = 3, reps = 3, ran = 0, failed = 0;
    const dm_policy_ops_t *ops[MAX_POLICIES] = { &dm_policy_lru_ops, &dm_policy_clock_ops,
                                                 &dm_policy_arc_ops };
    int profiled[MAX_POLICIES] = { 0 };
    const char *only[16];
    int nonly = 0;

    sim_traces_dir(dir, sizeof(dir), "../shared/traces");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--traces") == 0 && i + 1 < argc) {
            snprintf(dir, sizeof(dir), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--fractions") == 0 && i + 1 < argc) {
            char *s = argv[++i], *end;

            nfractions = 0;
            for (;;) {
                double v = strtod(s, &end);

                if (end == s || v <= 0.0 || v > 1.0 || nfractions == MAX_FRACTIONS) {
                    usage();
                    return 2;
                }
                fractions[nfractions++] = v;
                if (*end == '\0') {
                    break;
                }
                if (*end != ',') {
                    usage();
                    return 2;
                }
                s = end + 1;
            }
        } else if (strcmp(argv[i], "--policies") == 0 && i + 1 < argc) {
            char *list = argv[++i], *save = NULL;

            nops = 0;
            for (char *name = strtok_r(list, ",", &save); name != NULL;
                 name = strtok_r(NULL, ",", &save)) {
                int prof = strcmp(name, "hint_profile") == 0;
                const dm_policy_ops_t *o = dm_policy_ops_find(prof ? "hint" : name);

                if (o == NULL || nops == MAX_POLICIES) {
                    fprintf(stderr, "bench_policy: unknown policy %s\n", name);
                    return 2;
                }
                profiled[nops] = prof;
                ops[nops++] = o;
            }
            if (nops == 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > MAX_REPS) {
                usage();
                return 2;
            }
        } else if (argv[i][0] == '-') {
            usage();
            return 2;
        } else if (nonly < 16) {
            only[nonly++] = argv[i];
        }
    }

    printf("# bench_policy: traces from %s\n", dir);
    for (size_t k = 0; k < sizeof(trace_names) / sizeof(trace_names[0]); k++) {
        sim_trace_t t;
        FILE *f;

        if (nonly > 0) {
            int wanted = 0;

            for (int i = 0; i < nonly; i++) {
                wanted |= strcmp(only[i], trace_names[k]) == 0;
            }
            if (!wanted) {
                continue;
            }
        }
        snprintf(path, sizeof(path), "%s/%s", dir, trace_names[k]);
        f = fopen(path, "r");
        if (f == NULL) {
            printf("# no trace %s\n", path);
            continue;
        }
        fclose(f);
        if (sim_trace_load(path, trace_names[k], &t) != 0) {
            failed = 1;
            continue;
        }
        if (bench_trace(&t, fractions, nfractions, ops, profiled, nops, reps) != 0) {
            failed = 1;
        }
        sim_trace_free(&t);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "bench_policy: no trace found in %s\n", dir);
        return 1;
    }
    return failed;
}
