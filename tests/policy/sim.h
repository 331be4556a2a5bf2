/*
 * Trace-driven simulation helpers shared by tests/policy and bench/policy.c:
 * loading block traces, Belady's OPT (offline: it needs the future), and a
 * checker that drives a policy while keeping its own record of what is
 * resident and asserting the contract of src/policy/policy.h after every
 * event.
 *
 * Nothing here uses the policies' internals (hash map, lists): the oracle
 * and the checker are independent of the code they check.
 */
#ifndef DM_TESTS_POLICY_SIM_H
#define DM_TESTS_POLICY_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* A block trace: one block number per line, in access order. */
typedef struct sim_trace {
    char      name[64];
    uint64_t *refs;     /* block numbers as in the file */
    uint32_t *ids;      /* dense ids 0 .. distinct-1, the rank of each block number */
    uint64_t *uniq;     /* the distinct block numbers, sorted: uniq[ids[i]] == refs[i] */
    size_t    n;
    size_t    distinct;
} sim_trace_t;

/* Returns 0, or -1 with a message on stderr (missing file, bad line, no memory). */
int sim_trace_load(const char *path, const char *name, sim_trace_t *t);
void sim_trace_free(sim_trace_t *t);

/* The dense id of block number page in t, or -1 when the trace has no such block. */
long sim_trace_id(const sim_trace_t *t, uint64_t page);

/*
 * The directory of the classic traces: $DM_TEST_SOURCE_ROOT/../shared/traces
 * when that variable is set, else fallback. Writes into buf; returns buf.
 */
const char *sim_traces_dir(char *buf, size_t len, const char *fallback);

/*
 * Belady's OPT (MIN) with demand paging: on a miss when full, evict the
 * resident block whose next reference is furthest away (or never comes).
 * Returns the number of hits on ids[0 .. n) with capacity frames.
 * Returns UINT64_MAX when out of memory.
 */
uint64_t sim_opt_hits(const uint32_t *ids, size_t n, size_t distinct, uint64_t capacity);

/*
 * A policy under check. Pages are mapped to ids 0 .. nids-1 through uniq
 * (sorted block numbers, as sim_trace_t has them) or, when uniq is NULL,
 * page == id.
 */
typedef struct sim_check {
    dm_policy_t    *pol;
    uint64_t        capacity;
    uint8_t        *shadow;     /* by id: 1 when resident, as the checker saw it */
    size_t          nids;
    const uint64_t *uniq;
    uint64_t        resident;
    uint64_t        hits, misses, evictions;
    int             arc_family; /* the policy reports T1/T2/B1/B2 */
    int             pure;       /* only accesses so far (no remove, no advice) */
    char            error[256]; /* the first violation, "" when none */
} sim_check_t;

/* Returns DM_OK or the status of dm_policy_create (or DM_ERR_NO_MEMORY). */
dm_status_t sim_check_init(sim_check_t *ck, const dm_policy_ops_t *ops,
                           const dm_policy_params_t *params, size_t nids,
                           const uint64_t *uniq);
void sim_check_cleanup(sim_check_t *ck);

/*
 * One event through the policy, then every invariant. Return 0, or -1
 * after writing the violation into ck->error. verdict_p / victim_p may be
 * NULL; *victim_p is set only for DM_POLICY_MISS_EVICT.
 */
int sim_check_access(sim_check_t *ck, uint64_t page, int is_write,
                     dm_policy_verdict_t *verdict_p, uint64_t *victim_p);
int sim_check_advise(sim_check_t *ck, uint64_t page, dm_advice_t advice, dm_status_t *st_p);
int sim_check_remove(sim_check_t *ck, uint64_t page, dm_status_t *st_p);

#endif
