/*
 * Trace loading, Belady's OPT and the contract checker (sim.h).
 */
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* traces                                                               */

static int sim_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

long sim_trace_id(const sim_trace_t *t, uint64_t page)
{
    size_t lo = 0, hi = t->distinct;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->uniq[mid] < page) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (lo < t->distinct && t->uniq[lo] == page) ? (long)lo : -1;
}

int sim_trace_load(const char *path, const char *name, sim_trace_t *t)
{
    FILE *f = fopen(path, "r");
    char line[128];
    size_t cap = 4096, lineno = 0;

    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    if (f == NULL) {
        fprintf(stderr, "sim: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    t->refs = malloc(cap * sizeof(*t->refs));
    if (t->refs == NULL) {
        goto err_nomem;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *end;
        unsigned long long v;

        lineno++;
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '\0') {
            continue; /* blank line */
        }
        errno = 0;
        v = strtoull(p, &end, 10);
        while (isspace((unsigned char)*end)) {
            end++;
        }
        if (end == p || *end != '\0' || errno != 0 || *p == '-') {
            fprintf(stderr, "sim: %s:%zu: not a block number: %s", path, lineno, line);
            goto err;
        }
        if (t->n == cap) {
            uint64_t *r = realloc(t->refs, 2 * cap * sizeof(*t->refs));

            if (r == NULL) {
                goto err_nomem;
            }
            t->refs = r;
            cap *= 2;
        }
        t->refs[t->n++] = v;
    }
    fclose(f);
    f = NULL;

    /* dense ids: the rank of each block number among the distinct ones */
    t->uniq = malloc((t->n ? t->n : 1) * sizeof(*t->uniq));
    t->ids = malloc((t->n ? t->n : 1) * sizeof(*t->ids));
    if (t->uniq == NULL || t->ids == NULL) {
        goto err_nomem;
    }
    memcpy(t->uniq, t->refs, t->n * sizeof(*t->uniq));
    qsort(t->uniq, t->n, sizeof(*t->uniq), sim_cmp_u64);
    for (size_t i = 0; i < t->n; i++) {
        if (i == 0 || t->uniq[i] != t->uniq[t->distinct - 1]) {
            t->uniq[t->distinct++] = t->uniq[i];
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        t->ids[i] = (uint32_t)sim_trace_id(t, t->refs[i]);
    }
    return 0;

err_nomem:
    fprintf(stderr, "sim: %s: out of memory\n", path);
err:
    if (f != NULL) {
        fclose(f);
    }
    sim_trace_free(t);
    return -1;
}

void sim_trace_free(sim_trace_t *t)
{
    free(t->refs);
    free(t->ids);
    free(t->uniq);
    t->refs = NULL;
    t->ids = NULL;
    t->uniq = NULL;
    t->n = t->distinct = 0;
}

const char *sim_traces_dir(char *buf, size_t len, const char *fallback)
{
    const char *root = getenv("DM_TEST_SOURCE_ROOT");

    if (root != NULL && *root != '\0') {
        snprintf(buf, len, "%s/../shared/traces", root);
    } else {
        snprintf(buf, len, "%s", fallback);
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* Belady's OPT                                                         */

typedef struct sim_heap_ent {
    uint64_t key; /* the time of the block's next reference; n + t when there is none */
    uint32_t id;
} sim_heap_ent_t;

static void sim_heap_push(sim_heap_ent_t *h, size_t *len, sim_heap_ent_t e)
{
    size_t i = (*len)++;

    while (i > 0 && h[(i - 1) / 2].key < e.key) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static sim_heap_ent_t sim_heap_pop(sim_heap_ent_t *h, size_t *len)
{
    sim_heap_ent_t top = h[0], last = h[--*len];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= *len) {
            break;
        }
        if (c + 1 < *len && h[c + 1].key > h[c].key) {
            c++;
        }
        if (h[c].key <= last.key) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    if (*len > 0) {
        h[i] = last;
    }
    return top;
}

/*
 * A backward pass gives every reference the time of the next reference to
 * the same block. A max-heap holds one entry per reference made so far,
 * keyed by that next time (unique: each future time belongs to one
 * reference; "never" is n + t). Entries of references superseded by a
 * later one stay in the heap, lazily: their key is a time already past,
 * while every resident block's current key lies in the future (at a miss
 * the block referenced now is not resident), so the maximum is always a
 * live entry of a resident block; the victim's own entry is the one
 * popped. O(n log n).
 */
uint64_t sim_opt_hits(const uint32_t *ids, size_t n, size_t distinct, uint64_t capacity)
{
    uint64_t *next = malloc((n ? n : 1) * sizeof(*next));
    uint64_t *last = malloc((distinct ? distinct : 1) * sizeof(*last));
    uint8_t *resident = calloc(distinct ? distinct : 1, 1);
    sim_heap_ent_t *heap = malloc((n ? n : 1) * sizeof(*heap));
    size_t hlen = 0;
    uint64_t count = 0, hits = UINT64_MAX;

    if (next == NULL || last == NULL || resident == NULL || heap == NULL) {
        goto out;
    }
    for (size_t d = 0; d < distinct; d++) {
        last[d] = UINT64_MAX;
    }
    for (size_t i = n; i-- > 0;) {
        next[i] = last[ids[i]] == UINT64_MAX ? n + i : last[ids[i]];
        last[ids[i]] = i;
    }
    hits = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];

        if (resident[id]) {
            hits++;
        } else {
            if (count == capacity) {
                sim_heap_ent_t v = sim_heap_pop(heap, &hlen);

                if (!resident[v.id] || v.key <= i) {
                    fprintf(stderr, "sim_opt_hits: stale heap top (bug)\n");
                    abort();
                }
                resident[v.id] = 0;
                count--;
            }
            resident[id] = 1;
            count++;
        }
        sim_heap_push(heap, &hlen, (sim_heap_ent_t){ .key = next[i], .id = id });
    }
out:
    free(heap);
    free(resident);
    free(last);
    free(next);
    return hits;
}

/* ------------------------------------------------------------------ */
/* the contract checker                                                 */

static int sim_fail(sim_check_t *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sim_fail(sim_check_t *ck, const char *fmt, ...)
{
    va_list ap;

    if (ck->error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(ck->error, sizeof(ck->error), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static long sim_check_id(const sim_check_t *ck, uint64_t page)
{
    size_t lo = 0, hi = ck->nids;

    if (ck->uniq == NULL) {
        return page < ck->nids ? (long)page : -1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ck->uniq[mid] < page) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (lo < ck->nids && ck->uniq[lo] == page) ? (long)lo : -1;
}

dm_status_t sim_check_init(sim_check_t *ck, const dm_policy_ops_t *ops,
                           const dm_policy_params_t *params, size_t nids,
                           const uint64_t *uniq)
{
    dm_status_t st;
    dm_policy_info_t info;

    memset(ck, 0, sizeof(*ck));
    ck->shadow = calloc(nids ? nids : 1, 1);
    if (ck->shadow == NULL) {
        return DM_ERR_NO_MEMORY;
    }
    st = dm_policy_create(ops, params, &ck->pol);
    if (st != DM_OK) {
        free(ck->shadow);
        ck->shadow = NULL;
        return st;
    }
    ck->capacity = params->capacity;
    ck->nids = nids;
    ck->uniq = uniq;
    ck->pure = 1;
    ck->arc_family = (ops == &dm_policy_arc_ops || ops == &dm_policy_hint_ops);
    dm_policy_info(ck->pol, &info);
    if (info.capacity != params->capacity || info.resident != 0) {
        sim_fail(ck, "fresh %s: capacity %llu resident %llu", ops->name,
                 (unsigned long long)info.capacity, (unsigned long long)info.resident);
    }
    return DM_OK;
}

void sim_check_cleanup(sim_check_t *ck)
{
    dm_policy_destroy(ck->pol);
    free(ck->shadow);
    ck->pol = NULL;
    ck->shadow = NULL;
}

/* The invariants that hold between events. */
static int sim_check_state(sim_check_t *ck)
{
    dm_policy_info_t in;
    uint64_t c = ck->capacity;

    dm_policy_info(ck->pol, &in);
    if (in.resident != ck->resident) {
        return sim_fail(ck, "resident %llu, the checker counts %llu",
                        (unsigned long long)in.resident, (unsigned long long)ck->resident);
    }
    if (in.resident > c) {
        return sim_fail(ck, "resident %llu > capacity %llu", (unsigned long long)in.resident,
                        (unsigned long long)c);
    }
    if (dm_policy_resident(ck->pol) != in.resident) {
        return sim_fail(ck, "dm_policy_resident disagrees with info");
    }
    if (!ck->arc_family) {
        return 0;
    }
    if (in.t1 + in.t2 > c) {
        return sim_fail(ck, "ARC |T1|+|T2| = %llu > c = %llu",
                        (unsigned long long)(in.t1 + in.t2), (unsigned long long)c);
    }
    if (in.t1 + in.b1 > c) {
        return sim_fail(ck, "ARC |T1|+|B1| = %llu > c = %llu",
                        (unsigned long long)(in.t1 + in.b1), (unsigned long long)c);
    }
    if (in.t1 + in.t2 + in.b1 + in.b2 > 2 * c) {
        return sim_fail(ck, "ARC |T1|+|T2|+|B1|+|B2| = %llu > 2c = %llu",
                        (unsigned long long)(in.t1 + in.t2 + in.b1 + in.b2),
                        (unsigned long long)(2 * c));
    }
    if (in.p > c) {
        return sim_fail(ck, "ARC p = %llu > c", (unsigned long long)in.p);
    }
    if (in.resident != in.t1 + in.t2 + in.cold + in.preferred || in.history != in.b1 + in.b2) {
        return sim_fail(ck, "ARC list sizes do not add up");
    }
    /* The paper's fullness property (its class Pi(c), A.3), for accesses alone. */
    if (ck->pure && in.t1 + in.t2 + in.b1 + in.b2 >= c && in.t1 + in.t2 != c) {
        return sim_fail(ck, "ARC directory %llu >= c but only %llu resident",
                        (unsigned long long)(in.t1 + in.t2 + in.b1 + in.b2),
                        (unsigned long long)(in.t1 + in.t2));
    }
    return 0;
}

int sim_check_access(sim_check_t *ck, uint64_t page, int is_write,
                     dm_policy_verdict_t *verdict_p, uint64_t *victim_p)
{
    long id = sim_check_id(ck, page), vid;
    uint64_t victim = UINT64_MAX - 1;
    uint64_t before = ck->resident;
    dm_policy_verdict_t v = dm_policy_access(ck->pol, page, is_write, &victim);

    if (verdict_p != NULL) {
        *verdict_p = v;
    }
    if (id < 0) {
        return sim_fail(ck, "page %llu outside the checker's ids", (unsigned long long)page);
    }
    switch (v) {
    case DM_POLICY_HIT:
        if (!ck->shadow[id]) {
            return sim_fail(ck, "HIT on page %llu, which was not resident",
                            (unsigned long long)page);
        }
        ck->hits++;
        break;
    case DM_POLICY_MISS:
        if (ck->shadow[id]) {
            return sim_fail(ck, "MISS on resident page %llu", (unsigned long long)page);
        }
        if (before >= ck->capacity) {
            return sim_fail(ck, "MISS without eviction on page %llu with the tier full",
                            (unsigned long long)page);
        }
        ck->misses++;
        ck->shadow[id] = 1;
        ck->resident++;
        break;
    case DM_POLICY_MISS_EVICT:
        if (ck->shadow[id]) {
            return sim_fail(ck, "MISS_EVICT on resident page %llu", (unsigned long long)page);
        }
        if (before != ck->capacity) {
            return sim_fail(ck, "eviction for page %llu with %llu of %llu frames used",
                            (unsigned long long)page, (unsigned long long)before,
                            (unsigned long long)ck->capacity);
        }
        vid = sim_check_id(ck, victim);
        if (vid < 0 || !ck->shadow[vid] || victim == page) {
            return sim_fail(ck, "victim %llu of page %llu was not a resident page",
                            (unsigned long long)victim, (unsigned long long)page);
        }
        if (dm_policy_where_resident(dm_policy_lookup(ck->pol, victim))) {
            return sim_fail(ck, "victim %llu still resident", (unsigned long long)victim);
        }
        if (victim_p != NULL) {
            *victim_p = victim;
        }
        ck->shadow[vid] = 0;
        ck->shadow[id] = 1;
        ck->misses++;
        ck->evictions++;
        break;
    default:
        return sim_fail(ck, "unknown verdict %d", (int)v);
    }
    if (!dm_policy_where_resident(dm_policy_lookup(ck->pol, page))) {
        return sim_fail(ck, "page %llu not resident after its access",
                        (unsigned long long)page);
    }
    return sim_check_state(ck);
}

int sim_check_advise(sim_check_t *ck, uint64_t page, dm_advice_t advice, dm_status_t *st_p)
{
    long id = sim_check_id(ck, page);
    dm_status_t st = dm_policy_advise(ck->pol, page, advice);

    ck->pure = 0;
    if (st_p != NULL) {
        *st_p = st;
    }
    if (id < 0) {
        return sim_fail(ck, "page %llu outside the checker's ids", (unsigned long long)page);
    }
    if (st != (ck->shadow[id] ? DM_OK : DM_ERR_NOT_FOUND)) {
        return sim_fail(ck, "advise %s on %s page %llu returned %s", dm_advice_name(advice),
                        ck->shadow[id] ? "resident" : "absent", (unsigned long long)page,
                        dm_status_name(st));
    }
    if (ck->shadow[id] && !dm_policy_where_resident(dm_policy_lookup(ck->pol, page))) {
        return sim_fail(ck, "advise %s made page %llu non-resident", dm_advice_name(advice),
                        (unsigned long long)page);
    }
    return sim_check_state(ck);
}

int sim_check_remove(sim_check_t *ck, uint64_t page, dm_status_t *st_p)
{
    long id = sim_check_id(ck, page);
    dm_status_t st = dm_policy_remove(ck->pol, page);

    ck->pure = 0;
    if (st_p != NULL) {
        *st_p = st;
    }
    if (id < 0) {
        return sim_fail(ck, "page %llu outside the checker's ids", (unsigned long long)page);
    }
    if (st != (ck->shadow[id] ? DM_OK : DM_ERR_NOT_FOUND)) {
        return sim_fail(ck, "remove of %s page %llu returned %s",
                        ck->shadow[id] ? "resident" : "absent", (unsigned long long)page,
                        dm_status_name(st));
    }
    if (dm_policy_lookup(ck->pol, page) != DM_POLICY_ABSENT) {
        return sim_fail(ck, "page %llu still known after remove", (unsigned long long)page);
    }
    if (ck->shadow[id]) {
        ck->shadow[id] = 0;
        ck->resident--;
    }
    return sim_check_state(ck);
}
