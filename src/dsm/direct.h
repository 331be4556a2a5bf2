/*
 * Same-host direct access (direct.c): what rma.c's lock-free path needs
 * besides the declarations in dsm_int.h.
 *
 * The span cache. Checking that an address lies inside one allocation
 * (dm_dsm_alloc_span) needs the serial lock: dm_alloc and dm_free
 * reallocate and shift the region table under it. The direct path must
 * not take that lock for every operation, so it asks this cache instead:
 * a few page ranges, each known to lie inside one live allocation of
 * runtime d, read without a lock (a seqlock read) and filled under the
 * serial lock from dm_dsm_alloc_span's answer.
 *
 * Invariant: whenever seq is even, every page of every entry's [lo, end)
 * lies inside one allocation of `d` that dm_free has not released. Kept
 * so: entries are written (dm_dsm_direct_span_note) and dropped
 * (dm_dsm_direct_discard, dm_dsm_direct_cleanup) only under the serial
 * lock, with seq odd meanwhile; dm_free drops them all (through
 * dm_dsm_homemem_discard, which calls dm_dsm_direct_discard on every rank
 * that shares home memory) in the same hold of the serial lock in which
 * the region leaves the table, so a fill can never see a region being
 * freed. Heap spans are never freed. A process that uses the direct path
 * shares home memory (direct_home), so every dm_free there drops the cache.
 *
 * An operation that races with dm_free of its own target (another thread
 * frees the allocation while the call runs) may still land in the freed
 * range before it reads as zeros again, or after; that is a use after
 * free, which distmem.h leaves undefined. Once dm_free has returned in a
 * thread, later calls in threads ordered after it miss and get
 * DM_ERR_INVALID_PARAM from the locked check, as before.
 */
#ifndef DM_DSM_DIRECT_H
#define DM_DSM_DIRECT_H

#include <stdatomic.h>
#include <stdint.h>

#include "dsm_int.h"
#include "util.h"

#define DM_DSM_SPANS 4 /* ranges the cache holds */

typedef struct dm_dsm_span_cache {
    _Atomic uint64_t          seq;  /* odd while being written (serial lock) */
    _Atomic(const dm_dsm_t *) d;    /* the runtime the spans belong to; NULL: none */
    _Atomic uint64_t          lo[DM_DSM_SPANS], end[DM_DSM_SPANS]; /* pages [lo, end); empty: 0, 0 */
    unsigned                  next; /* the entry a new span replaces; serial lock */
} dm_dsm_span_cache_t;

extern dm_dsm_span_cache_t dm_dsm_spans;

/*
 * The page word's rules (direct.c's essay), for every lock-free user: a
 * reader may copy home memory while the word is neither held nor X, and
 * keeps the copy only when it finds the word unchanged afterwards; a
 * writer holds the word, taken by compare-and-swap from U only, and
 * releases it with dm_dsm_dw_next (sequence advanced, the new state), by a
 * release store: whoever sees the new word sees the page's new bytes.
 */
static inline int dm_dsm_dw_readable(uint64_t v)
{
    return (v & DM_DSM_DW_HELD) == 0 && (v & DM_DSM_DW_STATE) != DM_DSM_DW_X;
}

/* Whether a writer may take a word that reads v: U and not held. */
static inline int dm_dsm_dw_holdable(uint64_t v)
{
    return (v & (DM_DSM_DW_HELD | DM_DSM_DW_STATE)) == DM_DSM_DW_U;
}

/* Holds w if its value is still v and v is U and not held; 1 when held. */
static inline int dm_dsm_dw_try_hold(_Atomic uint64_t *w, uint64_t v)
{
    return dm_dsm_dw_holdable(v) &&
           atomic_compare_exchange_strong_explicit(w, &v, v | DM_DSM_DW_HELD,
                                                   memory_order_acquire, memory_order_relaxed);
}

/*
 * Holds the words of two consecutive pages at once, w[0] and w[1] (w
 * 16-byte aligned), if they still read v0 and v1 and each may be held
 * (as dm_dsm_dw_try_hold); 1 when both are held. One locked instruction
 * for two pages: a put's run takes up to DM_RMA_RUN_PAGES words, and a
 * compare-and-swap (about 18 cycles here, serializing) was most of the
 * run's cost beside the copy (perf, rma.c's dm_rma_runs). On x86-64 a
 * locked instruction is atomic against every other locked instruction and
 * store on the cache line it touches, and an aligned pair never crosses a
 * line, so it mixes with the one-word compare-and-swap and the release
 * stores of everyone else. DM_DSM_DW_PAIRS is 0 where it is not built
 * (other architectures; ThreadSanitizer, which cannot see inside inline
 * assembly): callers then take the words one at a time.
 */
#if defined(__x86_64__) && !defined(DM_TSAN)
#define DM_DSM_DW_PAIRS 1
typedef struct {
    uint64_t w[2];
} dm_dsm_dw_pair_t; /* the memory operand of cmpxchg16b */

static inline int dm_dsm_dw_try_hold2(_Atomic uint64_t *w, uint64_t v0, uint64_t v1)
{
    uint64_t lo = v0, hi = v1;
    unsigned char held;

    if (!dm_dsm_dw_holdable(v0) || !dm_dsm_dw_holdable(v1)) {
        return 0;
    }
    __asm__ __volatile__("lock cmpxchg16b %1"
                         : "=@ccz"(held), "+m"(*(volatile dm_dsm_dw_pair_t *)(void *)w),
                           "+a"(lo), "+d"(hi)
                         : "b"(v0 | DM_DSM_DW_HELD), "c"(v1 | DM_DSM_DW_HELD)
                         : "memory");
    return held;
}
#else
#define DM_DSM_DW_PAIRS 0
static inline int dm_dsm_dw_try_hold2(_Atomic uint64_t *w, uint64_t v0, uint64_t v1)
{
    (void)w;
    (void)v0;
    (void)v1;
    return 0;
}
#endif

/* The word that releases v with the state given (a DM_DSM_DW_* value). */
static inline uint64_t dm_dsm_dw_next(uint64_t v, unsigned state)
{
    return ((v | 7u) + 1u) | state;
}

/*
 * Finds an entry holding pages first..last: 1 with its pages in
 * [*lo_p, *end_p) and the even seq under which it was read in *seq_p
 * (each may be NULL). Since seq only grows and changes with every write of
 * the cache, every page of that range stays inside one live allocation for
 * as long as seq reads that value again (what the direct path's per-thread
 * memory relies on, rma.c). Takes no lock.
 */
static inline __attribute__((always_inline)) int
dm_dsm_direct_span_find(const dm_dsm_t *d, uint64_t first, uint64_t last, uint64_t *lo_p,
                        uint64_t *end_p, uint64_t *seq_p)
{
    uint64_t s = atomic_load_explicit(&dm_dsm_spans.seq, memory_order_acquire), lo = 0, end = 0;

    if ((s & 1) != 0 || atomic_load_explicit(&dm_dsm_spans.d, memory_order_relaxed) != d) {
        return 0;
    }
    for (int i = 0; i < DM_DSM_SPANS; i++) {
        uint64_t l = atomic_load_explicit(&dm_dsm_spans.lo[i], memory_order_relaxed);
        uint64_t e = atomic_load_explicit(&dm_dsm_spans.end[i], memory_order_relaxed);

        if (end == 0 && first >= l && last < e) {
            lo = l;
            end = e;
        }
    }
    atomic_thread_fence(memory_order_acquire);
    if (end == 0 || atomic_load_explicit(&dm_dsm_spans.seq, memory_order_relaxed) != s) {
        return 0;
    }
    if (lo_p != NULL) {
        *lo_p = lo;
        *end_p = end;
        *seq_p = s;
    }
    return 1;
}

/* 1 when pages first..last are known to lie inside one live allocation of d. Takes no lock. */
static inline __attribute__((always_inline)) int
dm_dsm_direct_span_hit_range(const dm_dsm_t *d, uint64_t first, uint64_t last)
{
    return dm_dsm_direct_span_find(d, first, last, NULL, NULL, NULL);
}

/*
 * Records that pages [lo, end) lie inside one allocation (end: what
 * dm_dsm_alloc_span returned for a page of it). pre: serial lock, the
 * allocation checked under this hold of it.
 */
void dm_dsm_direct_span_note(const dm_dsm_t *d, uint64_t lo, uint64_t end);

#endif
