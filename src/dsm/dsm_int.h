/*
 * The runtime's internals shared by its files (dsm.c: fault path and
 * protocol; rma.c: one-sided operations). Not an interface for other
 * layers: they use dsm.h.
 *
 * Concurrency: every field marked "serial lock" is read and written only
 * under dm_tp_serial_enter/leave (the lock the transport's handlers run
 * under); see the essay at the top of dsm.c.
 */
#ifndef DM_DSM_DSM_INT_H
#define DM_DSM_DSM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "coh.h"
#include "dsm.h"
#include "gas.h"
#include "heap.h"
#include "place.h"

/* What the local mapping of a page really grants (coh's protection, as built). */
enum { DM_DSM_MAP_NONE = 0, DM_DSM_MAP_RO, DM_DSM_MAP_RW };

typedef struct dm_dsm_page {
    _Atomic uint8_t state; /* dm_coh_state_t; written under the serial lock, polled by waiters */
    uint8_t         map;   /* DM_DSM_MAP_*; serial lock */
    /*
     * Forward progress (serial lock). waiting: threads waiting for this
     * page that no WAKE has reached yet; a WAKE turns each into one unit of
     * pin and bumps gen (so a waiter knows it was woken: gen is also
     * polled without the lock, dm_dsm_fault_done). While pin > 0,
     * messages that would take the page away are held back (deferred); a
     * woken thread gives its unit back once its instruction has run.
     */
    uint8_t         pin;
    uint8_t         waiting;
    _Atomic uint8_t gen;
    uint8_t         rmaq;  /* home: one-sided operations wait for this page (rma.c); serial lock */
    uint16_t        fgen;  /* installs so far (mod 2^16): names this copy in the eviction FIFO */
} dm_dsm_page_t;

/* A directory entry of a page homed here; listed so destroy finds them all. */
typedef struct dm_dsm_dirent {
    dm_coh_dir_t           dir;
    struct dm_dsm_dirent  *prev, *next;
    /* one-sided operations waiting at the home for this page, in arrival order (rma.c) */
    struct dm_rma_op      *rma_head, *rma_tail;
    /* one-sided operations of same-host ranks served from this node's copy (rma.c) */
    uint8_t                rma_served;
} dm_dsm_dirent_t;

/* Protocol message header; the page's data, when it travels, is the payload. */
typedef struct dm_dsm_hdr {
    uint8_t  type;   /* dm_coh_msg_type_t */
    uint8_t  pad[7];
    uint64_t page;   /* page number from the base of the address space */
} dm_dsm_hdr_t;

typedef struct dm_dsm_self_msg {
    uint8_t  type;
    uint64_t page;
} dm_dsm_self_msg_t;

/* A message held back while its page is pinned (node side: INV, RECALL_*). */
typedef struct dm_dsm_deferred {
    int32_t  src;
    uint8_t  type;
    uint64_t page;
} dm_dsm_deferred_t;

typedef struct dm_dsm_region {
    uint64_t first, npages;
} dm_dsm_region_t;

#define DM_DSM_WB         32   /* written pages being written back at once (eviction) */
#define DM_DSM_MOVE_RING  64   /* slots of the move ring (dm_dsm_t.mv_ring) */
#define DM_DSM_SELF_QUEUE 1024 /* cascades are a few messages deep */
#define DM_DSM_DEFER_MAX  256  /* one per pinned page at most; pins are per thread */
#define DM_DSM_PINS       4    /* pages one thread may pin for one instruction */

struct dm_dsm {
    dm_tp_t          *tp;
    int               rank, nranks;
    size_t            page_size;
    unsigned          page_shift;
    dm_gas_t          gas;
    dm_place_t        place;
    int               prefetch;
    int               uffd;
    unsigned char    *home_mem; /* gas.size bytes, NORESERVE */
    dm_dsm_page_t    *pages;    /* [npages], NORESERVE, zero = I/unmapped */
    dm_dsm_dirent_t **dirs;     /* [npages], NORESERVE, NULL = H_U and never asked */
    size_t            meta_bytes, dirs_bytes;
    dm_dsm_dirent_t  *dir_list;
    /*
     * Directory entries come from chunks of DM_DSM_DIRENT_CHUNK (dsm.c), not
     * one malloc each on the home's message path: free ones are linked
     * through next; every chunk is on dirent_chunks until destroy. An entry
     * never moves (its sharer set may point into itself, coh.h).
     */
    dm_dsm_dirent_t  *dirent_free;
    void             *dirent_chunks;

    /* serial lock */
    unsigned char    *scratch;      /* a copy of a page revoked from M (when not moved) */
    const unsigned char *snap;      /* the data of scratch_page: scratch or a move-ring slot */
    uint64_t          scratch_page; /* which page snap holds; UINT64_MAX none */
    /*
     * The move ring (NULL: UFFDIO_MOVE unavailable). A page revoked from M
     * is moved, frame and all, into the next slot (one PTE change, one TLB
     * shootdown) instead of being write-protected, copied and dropped (two).
     * Slots mv_next.. are empty (no PTE): UFFDIO_MOVE needs an empty
     * destination. When the ring is full, one MADV_DONTNEED empties it.
     */
    unsigned char    *mv_ring;
    unsigned          mv_next;
    uint64_t          st_moved, st_copied; /* written pages revoked each way */
    dm_dsm_self_msg_t self_q[DM_DSM_SELF_QUEUE];
    unsigned          self_head, self_len;
    dm_dsm_deferred_t deferred[DM_DSM_DEFER_MAX]; /* in arrival order */
    unsigned          ndeferred;
    int               step;    /* DISTMEM_FAULT_STEP: pin woken pages for one instruction */
    int               emulate; /* DISTMEM_FAULT_EMULATE: run that instruction in the handler */
    dm_dsm_region_t  *regions; /* dm_alloc regions, sorted by first */
    size_t            nregions, regions_cap;
    atomic_int        ntransient; /* pages of this node in a transient state */
    _Atomic(const char *) broken; /* set once: the runtime cannot go on (reason) */
    char              broken_buf[256];

    pthread_mutex_t   heap_lock;
    dm_heap_t         heap;

    atomic_uint_fast64_t st_read, st_write, st_prefetch, st_sent, st_self, st_retry;
    /* pinned accesses run by the handler (emulated) or by the processor, single-stepped */
    atomic_uint_fast64_t st_emulated, st_stepped;

    /*
     * The cache budget (DISTMEM_CACHE_SIZE; serial lock). ncached: pages
     * mapped (readable or writable) here. fifo: copies in install order,
     * each entry page << 16 | fgen (an entry whose fgen is not the page's
     * any more, or whose page is unmapped, is stale and skipped). Written
     * pages being written back keep their data in a write-back slot until
     * the home's PUT_ACK (a crossing recall is answered from it).
     */
    uint64_t            cache_pages; /* 0: no limit */
    uint64_t            ncached;
    uint64_t           *fifo;
    uint64_t            fifo_head, fifo_len, fifo_cap;
    unsigned char      *wb_mem;                 /* DM_DSM_WB pages */
    uint64_t            wb_page[DM_DSM_WB];     /* page in each slot, UINT64_MAX free */
    int                 evicting;   /* dm_dsm_evict is running (drain does not re-enter it) */
    atomic_uint_fast64_t st_evict;

    /*
     * First-touch placement (home.c): homes[p] = home rank + 1 of collective
     * page p, 0 while this rank does not know it (NORESERVE, coll_pages
     * entries). Written under the serial lock, read with atomic loads.
     */
    int                 first_touch;
    int32_t            *homes;
    size_t              homes_bytes;

    /* One-sided operations issued here (rma.c); serial lock unless atomic. */
    struct dm_request **rq;        /* requests awaiting replies, by slot */
    uint32_t           *rq_gen;    /* generation of each slot (stale replies are dropped) */
    uint32_t           *rq_next;   /* free-slot list links */
    uint32_t            rq_cap, rq_free; /* rq_free: head of the free-slot list (UINT32_MAX none) */
    atomic_uint         rma_inflight; /* operations sent and not yet answered */
    dm_status_t         rma_error;    /* first failure of an operation nobody waits for */
    char                rma_error_msg[160];
    atomic_uint_fast64_t st_rma_local, st_rma_remote, st_rma_home_direct, st_rma_home_queued;
    atomic_uint_fast64_t st_rma_batches; /* messages that carried more than one operation */
    /* placement hints (advise.c): messages to other homes, copies read ahead for DM_TIER_LOCAL */
    atomic_uint_fast64_t st_hint_msgs, st_hint_ahead;
    /*
     * Batching (rma.c): operations bound for one home travel in one
     * message, and the answers to one such message in one answer. The
     * outgoing batches stay open across calls until something needs their
     * operations sent (the essay's "Held operations"); rma_unsent counts
     * what they hold, and the transport knows whether it is 0 (dm_tp_held). The
     * answers are empty whenever the serial lock is free.
     */
    struct dm_rma_batch *rma_out; /* DM_RMA_OUT open batches, one home each */
    struct dm_rma_batch *rma_ans; /* answers to the batch being served */
    uint32_t             rma_unsent; /* operations in rma_out */

    /* Home memory in a tiered store (homemem.c; serial lock). store NULL: home_mem holds it. */
    struct dm_store    *store;
    uint32_t           *sids;        /* sid + 1 per page (NORESERVE, place.npages entries) */
    size_t              sids_bytes;
    uint8_t            *advice;      /* sticky store advice + 1 for pages without a sid
                                        (placement hints; NORESERVE, place.npages), 0 none */
    uint32_t           *sid_free;    /* sids of freed pages */
    uint64_t            nsid_free, sid_next, store_npages;
    unsigned char      *stage;       /* DM_DSM_STAGES staging pages */

    /*
     * Same-host direct access (direct.c). home_mem is then a shared file
     * of home_bytes bytes mapped by the ranks of this host, with dwords
     * (one word per page) after the home memory. Set at start, read-only
     * after.
     */
    size_t              home_bytes;    /* home_mem's mapping */
    int                 direct_home;   /* this rank's home memory is shared: hold words */
    int                 direct_leader; /* the rank of this host that discards freed pages; -1 */
    const atomic_uchar *peer_failed;   /* [nranks] the transport's failed flags (dm_tp_failed_flags) */
    uint8_t            *direct_peer;   /* [nranks]: 1 where that rank's pages may be accessed directly */
    int                *direct_pidfd;  /* [nranks]: pidfd of each such rank (its death), else -1 */
    _Atomic uint64_t   *dwords;        /* [npages] page words (direct.c's essay) */
    atomic_uint_fast64_t st_rma_direct; /* one-sided operations run on a same-host home's memory */
    atomic_uint_fast64_t st_rma_run_pages; /* pages of those that multi-page puts did in runs (rma.c) */
    atomic_uint_fast64_t st_rma_hand_over; /* copies of this home dropped for them (rma.c) */
};

/* The page word (direct.c): the state in bits 0-1, held bit, sequence above. */
enum { DM_DSM_DW_U = 0, DM_DSM_DW_S = 1, DM_DSM_DW_X = 2 };
#define DM_DSM_DW_STATE 3u
#define DM_DSM_DW_HELD  4u

/* Staging buffers of homemem.c: a page read from the store stays in its stage until reused. */
enum { DM_DSM_STAGE_INSTALL = 0, DM_DSM_STAGE_SEND, DM_DSM_STAGE_RMA, DM_DSM_STAGE_WRITE,
       DM_DSM_STAGES };


static inline unsigned char *dm_dsm_app_page(const dm_dsm_t *d, uint64_t page)
{
    return (unsigned char *)d->gas.base + (page << d->page_shift);
}

static inline unsigned char *dm_dsm_home_page(const dm_dsm_t *d, uint64_t page)
{
    return d->home_mem + (page << d->page_shift);
}

/* Pages per placement chunk: rank (p / chunk) mod N decides the homes of a chunk's pages. */
#define DM_DSM_FT_CHUNK 512

/*
 * The home of page, or -1 when first-touch placement has not told this
 * rank yet (or the page is in the unused tail).
 */
static inline int dm_dsm_home_of(const dm_dsm_t *d, uint64_t page)
{
    if (d->first_touch && page < d->place.coll_pages) {
        return __atomic_load_n(&d->homes[page], __ATOMIC_ACQUIRE) - 1;
    }
    return dm_place_home(&d->place, page);
}

/*
 * The pages around page that share its home whatever happens: [*lo_p,
 * *end_p), its block or its rank's heap (dm_place_run), or the page alone
 * under first-touch placement, where each page has its own. pre:
 * dm_dsm_home_of(d, page) >= 0.
 */
static inline void dm_dsm_home_run(const dm_dsm_t *d, uint64_t page, uint64_t *lo_p,
                                   uint64_t *end_p)
{
    if (d->first_touch && page < d->place.coll_pages) {
        *lo_p = page;
        *end_p = page + 1;
    } else {
        dm_place_run(&d->place, page, lo_p, end_p);
    }
}

static inline int dm_dsm_state_allows(dm_coh_state_t s, int write)
{
    return write ? s == DM_COH_M : dm_coh_state_prot(s) != DM_COH_PROT_NONE;
}


/* Marks the runtime unusable (first reason wins). pre: serial lock. */
void dm_dsm_break(dm_dsm_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Feeds a local READ or WRITE for page into the state machine. pre: serial lock, state stable. */
void dm_dsm_local(dm_dsm_t *d, uint64_t page, dm_coh_local_t ev);

/*
 * Drops this node's copy of page now (a write-back first if written), as
 * the cache budget would, when nothing holds it (a pin, a waiter, queued
 * one-sided operations, a transient state, no free write-back slot).
 * Returns 1 when it did. pre: serial lock; the caller drains.
 */
int dm_dsm_drop_copy(dm_dsm_t *d, uint64_t page);

/* Handles every message this rank sent itself. pre: serial lock. */
void dm_dsm_drain(dm_dsm_t *d);

/* The directory entry of a page homed here, created on first use; NULL when out of memory. */
dm_dsm_dirent_t *dm_dsm_dirent(dm_dsm_t *d, uint64_t page);

/*
 * The allocation holding pages [first, last]: sets *end_p to the page after
 * it and returns 0, or returns -1 when the pages are not all inside one
 * dm_alloc block or one rank's heap. pre: serial lock.
 */
int dm_dsm_alloc_span(const dm_dsm_t *d, uint64_t first, uint64_t last, uint64_t *end_p);

/*
 * home.c: the home of page, where a request for it has arrived: under
 * first-touch placement a rank that does not know the page's home yet is
 * its home (requests reach a rank only after the page's placement chunk
 * owner named it), and records so. pre: serial lock.
 */
int dm_dsm_home_here(dm_dsm_t *d, uint64_t page);

/*
 * home.c: makes the homes of pages [first, touched] known here, this rank
 * becoming the home of those nobody touched before, and asks about
 * (touched, last] (pages to read ahead) without deciding them. Returns
 * when [first, touched] are known: DM_OK or DM_ERR_PEER_FAILED. No-op
 * without first-touch placement. pre: no serial lock held; never
 * allocates (the fault path calls it).
 */
dm_status_t dm_dsm_place_lookup(dm_dsm_t *d, uint64_t first, uint64_t touched, uint64_t last);

/* home.c: set up (registers DM_DSM_AM_PLACE), forget a freed region, tear down. */
dm_status_t dm_dsm_place_init(dm_dsm_t *d, const dm_config_t *cfg);
void dm_dsm_place_forget(dm_dsm_t *d, uint64_t first, uint64_t npages);
void dm_dsm_place_cleanup(dm_dsm_t *d);

/*
 * direct.c: set up home memory (home_mem: shared with the ranks of this
 * host when DISTMEM_RMA_DIRECT allows and they can map it, else private);
 * collective, every rank calls it (homemem.c's init) whatever its mode.
 * cleanup frees the tables (homemem.c unmaps home_mem).
 */
dm_status_t dm_dsm_direct_init(dm_dsm_t *d, const dm_config_t *cfg);
void dm_dsm_direct_cleanup(dm_dsm_t *d);

/*
 * direct.c, at the home (direct_home set): hold takes page's word before
 * home memory is read or written or the directory changes; release
 * publishes the directory's state then. discard: freed pages read as
 * zeros again (home memory and words). pre: serial lock.
 */
void dm_dsm_direct_hold(dm_dsm_t *d, uint64_t page);
void dm_dsm_direct_release(dm_dsm_t *d, uint64_t page);
void dm_dsm_direct_discard(dm_dsm_t *d, uint64_t first, uint64_t npages);

/* direct.c: marks failed the same-host peers that exited. pre: serial lock. */
void dm_dsm_direct_check(dm_dsm_t *d);

/* direct.c: the word state (DM_DSM_DW_*) page's directory entry stands for. pre: serial lock. */
unsigned dm_dsm_direct_state(const dm_dsm_t *d, uint64_t page);

/* rma.c: the page's state changed at this node; run what waits for it. pre: serial lock. */
void dm_rma_page_changed(dm_dsm_t *d, uint64_t page);

/* dsm.c: a private NORESERVE anonymous mapping of bytes, or NULL. */
void *dm_dsm_map_meta(size_t bytes);

/*
 * homemem.c: the home's data of the pages homed here (see its essay).
 * read: the data (valid until the stage is reused), NULL when the runtime
 * broke on a store error. write: replaces it; -1 when it broke. begin/end:
 * a read-modify-write in place (end writes back when written). discard:
 * the pages read as zeros again. All pre: serial lock (init/cleanup aside).
 */
dm_status_t dm_dsm_homemem_init(dm_dsm_t *d, const dm_config_t *cfg);
void dm_dsm_homemem_cleanup(dm_dsm_t *d);
const unsigned char *dm_dsm_homemem_read(dm_dsm_t *d, uint64_t page, int stage);
int dm_dsm_homemem_write(dm_dsm_t *d, uint64_t page, const void *data);
unsigned char *dm_dsm_homemem_begin(dm_dsm_t *d, uint64_t page);
int dm_dsm_homemem_end(dm_dsm_t *d, uint64_t page, unsigned char *mem, int written);
void dm_dsm_homemem_discard(dm_dsm_t *d, uint64_t first, uint64_t npages);
void dm_dsm_homemem_stats(dm_dsm_t *d);

/*
 * homemem.c: applies a placement hint (advise.h: what, arg) to the pages
 * of [first, first + npages) homed here; the rest of the range is other
 * homes' business. DM_OK, or the plan's error. where: adds to home[] the
 * pages of the range homed here, by the tier kind their data lives in
 * (dm_dsm_where_t). Both pre: serial lock.
 */
dm_status_t dm_dsm_homemem_hint(dm_dsm_t *d, uint64_t first, uint64_t npages, uint32_t what,
                                int32_t arg);
void dm_dsm_homemem_where(dm_dsm_t *d, uint64_t first, uint64_t npages, uint64_t *home);

/*
 * rma.c: sends placement hint (what, arg) for pages [first, first + npages)
 * to every rank r with homes[r] set, as one operation each (DM_RMA_HINT),
 * served by dm_dsm_homemem_hint there, and waits for every answer.
 * Returns DM_OK or the first failure. pre: no serial lock held.
 */
dm_status_t dm_rma_hint(dm_dsm_t *d, const uint8_t *homes, uint64_t first, uint64_t npages,
                        uint32_t what, int32_t arg);

/* rma.c: set up and tear down the one-sided operations' state. */
dm_status_t dm_rma_init(dm_dsm_t *d);
/* Sends the operations held in open batches (see rma.c). pre: serial lock. */
void dm_rma_send_held(dm_dsm_t *d);
void dm_rma_cleanup(dm_dsm_t *d);

#endif
