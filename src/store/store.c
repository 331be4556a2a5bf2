/*
 * The tiered page store (store.h).
 *
 * THE ESSAY
 *
 * Placement is exclusive, but for clean copies (below). A written page
 * lives in one slot of one tier; pages[p] = (tier, slot) says which, and
 * reads and writes go there only. A tier's slots are either free (on its
 * free stack), holding a page, holding a page's copy, or reserved as the
 * destination of a migration in flight. So a move must copy before it
 * frees: the source slot stays the page's home until the commit.
 *
 * Each tier has a policy (policy.h) whose capacity is the tier's target
 * (low watermark; the whole capacity for the last tier). A page entering a
 * tier is admitted to its policy; when the policy is full it drops a victim,
 * which stays in the tier, flagged a VICTIM, until a PRESSURE migration has
 * moved it one tier down (or, clean, it is dropped into its copy at once).
 * The invariant (dm_store_check):
 *
 *   for each tier t:  pages living in t = resident(policy t) + victims(t),
 *                     used slots of t  = pages living in t + reserved(t)
 *                                        + copies(t),
 *   a page is resident in the policy of no tier but its own, and a clean
 *   copy holds the same bytes as its page.
 *
 * Copies (inclusive for clean pages). Where a tier keeps a home slot for
 * every page (`keeps`: it takes runs, i.e. nvme, and its capacity is at
 * least the store's pages, the usual spill file; never pfs, whose
 * max_io_pages is 1, nor the upper tiers dram and gpu, whose runs the store
 * does not use), a page promoted out of it keeps its slot there:
 * pages[p].(ctier, cslot) names the copy, which is not freed, not discarded
 * (no hole punched) and not on the free stack, so its data stays. The copy
 * is CLEAN (holds the page's current data) or DIRTY (PG_DIRTY: old data;
 * the slot is still the page's, so its write-back needs no room and goes to
 * the same blocks). Rules:
 *   - the commit of a promotion out of a keeping tier (engine, the reader's
 *     own, cache mode's synchronous one) makes the source slot the copy:
 *     clean when the page was not written since the move started (the
 *     commit drops a STALE move, and cache mode checks the generation);
 *     dirty when the move carried new data (cache mode's write);
 *   - a write sets DIRTY in the same critical section in which it decides
 *     where to write, before any byte changes (dram: the memcpy is under
 *     the lock too; other tiers: before the lock is released for the I/O);
 *   - a demotion one tier down into the copy's tier, of a clean page with
 *     nobody at it (no pins, not moving: dm_store_can_drop), is a DROP: the
 *     index switches to the copy and the dram slot is freed, in one critical
 *     section, no I/O, nothing paid to the budget. The policy's victim is
 *     dropped at once (victim_locked), so a clean eviction costs nothing;
 *   - any other demotion into the copy's tier writes the copy slot itself
 *     (mig->own: no slot reserved, never freed by an abandoned move); it
 *     sets DIRTY when it starts, since the copy is being overwritten: a move
 *     that ends (stale, canceled, I/O error) leaves a dirty copy, never a
 *     half-written "clean" one;
 *   - a copy lives strictly below its page: a move that would put the page
 *     at or below its copy's tier (other than into the copy) releases it;
 *     a promotion out of a keeping tier releases a deeper copy.
 * Only the page's own demotion writes its copy slot and nobody reads it
 * while the page lives above, so a copy never has I/O in flight when it is
 * released or dropped into. Space: with a slot per page a copy never takes
 * a slot another page needs (a page holds at most one slot of a keeping
 * tier: its home, its copy or its reservation), so copies cost no room and
 * no new ENOSPC (a write-back overwrites blocks already allocated). Cache
 * mode and budget mode follow the same rules; only who runs the demotion
 * differs (the caller under the lock, or the engine).
 *
 * A victim read or written before its demotion is taken back by its policy
 * (its queued demotion canceled, one in flight dropped at the commit).
 *
 * Home slots. In a tier that takes runs (nvme: tier.h "Runs"), page p is put
 * in slot p mod capacity when that slot is free, else in any free slot. With
 * a last tier as large as the store (the usual spill file), every page that
 * lives there lives at its home slot: pages that are neighbours in the store
 * are neighbours in the file, and the engine moves a run of them with one
 * I/O (below).
 *
 * The life of a migration (engine; cache-mode synchronous moves below):
 *
 *   requested  dm_migrate_request: queued by class, or merged (migrate.h)
 *   started    dm_migrate_next admitted it (a slot in flight, room in the
 *              destination, the pair's bucket paid): a destination slot is
 *              reserved, the page is flagged MOVING|READING, and the source
 *              slot is read, asynchronously, into the migration's buffer
 *   read done  READING cleared; unless stale, the buffer is written to the
 *              reserved slot, asynchronously
 *   written    THE COMMIT POINT (marked in dm_store_commit_locked): under the
 *              index lock, if nobody wrote the page since the start, the
 *              index switches to the new slot, the page leaves the source's
 *              policy and enters the destination's, and the source slot is
 *              discarded and freed. Before this point the move can be
 *              abandoned at no cost (the source is untouched); after it, the
 *              source is gone.
 *   ended      no space, I/O error, stale, canceled: the reserved slot is
 *              discarded and freed; the page never left its source.
 *
 * Groups. The migrations one engine step starts are sorted by tier pair and
 * slot; neighbours (consecutive source slots in a tier that takes runs,
 * consecutive home slots in a destination that takes runs) form a group of
 * up to RUN_MAX records with adjacent buffers, whose read is one I/O of the
 * whole run (a read-ahead window of 64 pages: one 256 KiB read) and whose
 * write is one I/O per run of the members still alive after the read. Each
 * member still commits or ends on its own; the records are released
 * together when the last I/O of the group is done. Under a budget the
 * scheduler admits background requests of a pair in batches (BG_BATCH,
 * migrate.h), so even a budget that earns one page of tokens at a time
 * gives the engine groups to start, and the worker fewer steps.
 *
 * Demand promotion in the reader's thread (budget mode). A read of a page
 * outside tier 0 has to read the source anyway; when the pair's bucket, the
 * in-flight bound and a free slot of tier 0 admit it at once
 * (dm_migrate_start), the reader runs the migration itself: it reserves the
 * slot, flags the page MOVING|READING, reads the source into the caller's
 * buffer and copies it into tier 0 without the lock, then commits as the
 * engine does. One device read per miss, not two (in place, then again by
 * the engine), and the page is in tier 0 when the read returns. When it is
 * not admitted, the page is read in place and a DEMAND promotion requested.
 *
 * Read-ahead (budget mode). Each read is matched against a few streams (the
 * page a sequential reader reads next). From the third page in sequence on,
 * the stream requests the next `window` pages up to tier 0 as HINT
 * migrations (the window doubles from RA_MIN to readahead_max pages, and a
 * new batch is asked when half of it has been read): the engine reads them
 * as runs, deep, while the reader consumes the pages before. HINT starts
 * only below tier 0's high watermark and behind DEMAND and PRESSURE (so
 * read-ahead never takes a demand read's place nor the room the demotions
 * make), and pays the budget like every migration. A reader that reaches a
 * page whose promotion is in flight waits for it (helping the engine: it
 * reaps finished I/O itself) instead of reading the device a second time.
 *
 * Why a read is never stale. A reader finds (tier, slot) under the index
 * lock and reads that slot (never a copy): during a migration it is the source, which holds
 * the current data (writes go to it, see below) until the commit. A read
 * done outside the lock (any tier but dram) pins the page first; the commit
 * waits, with the COMMIT flag raised so that no new reader or writer enters,
 * until the pins are gone, and only then frees the source slot. So a reader
 * never sees a freed or reused slot, and never sees the copy before it is
 * the page's home. A reader that promotes the page itself holds READING
 * instead of a pin: writers wait for it, and it commits in the same critical
 * section in which it clears READING.
 *
 * Why a write is never lost. A write to a page being migrated marks the
 * migration STALE (under the lock) and writes the source. The commit sees
 * STALE and drops the copy: the page stays at its source with the new data.
 * The write waits only for the migration's read of the source to finish
 * (the tier contract forbids a write to a slot with an operation in
 * flight), helping by reaping that tier itself, so it never waits for the
 * worker. Writers of one page take turns (one pinned as a writer at a
 * time), so the page holds one whole write, whatever the device does with
 * two concurrent writes of one block. The first write of a page reserves
 * its slot and flags it PLACING while it writes without the lock: readers
 * and writers of the page wait, migrations do not start (it is pinned as a
 * writer), and a failed write (no space) undoes the placement, so the page
 * stays unwritten. A copy never loses a write: a write marks it DIRTY before
 * the data changes, a dirty copy is never dropped into, and a drop happens
 * in one critical section with no writer pinned (a write after it goes to
 * the copy, now the page's home).
 *
 * The lock-free read of a dram page (the fast path). Where tier 0 is dram
 * (memory the store can address: dm_store_tier_dram_mem), a read of a page
 * living there takes no lock: it copies the page's slot between two looks
 * at the page's word fast[p] (seq << 32 | slot), a per-page seqlock:
 *
 *   INVARIANT (under s->lock for every store; readers load it lock-free):
 *   fast[p] is VALID (seq even) only while p lives in tier 0 (dram) at
 *   that slot, is no VICTIM, has no COMMIT, PLACING or writer pinned, and
 *   the slot holds p's current bytes with no write of them in flight.
 *   Whoever changes any of that HIDES the word first (seq odd, then a
 *   release fence, before the change and before any byte of the slot is
 *   written, by this thread or, after s->lock changes hands, by another):
 *   the switch to another slot (moves, drops), an undone placement, the
 *   policy dropping it (VICTIM), a commit waiting for pins, a write of the
 *   page. Only dm_store_fast_publish_locked makes it valid again (seq even,
 *   a release store after the bytes), when it finds the conditions true
 *   under the lock: at the end of the locked read and write of the page.
 *   So a page's valid words are all different (seq only grows): a word
 *   read twice, equal, means nothing above changed in between.
 *
 * The reader loads fast[p] (acquire); odd: the locked path. Else it copies
 * the slot, fences (acquire) and loads fast[p] again: equal, the copy is p's
 * current data, whole, from the home it had during the whole copy (a write
 * or a reuse of the slot comes after a hide the second load would see);
 * different, it tries once more, then takes the locked path. A hidden page
 * is valid again after its next locked read, so a page read often comes
 * back to the fast path at once, and a page in flux stays on the locked one.
 * The copy is the usual seqlock data race (a plain memcpy that may overlap a
 * write whose result is then thrown away): ThreadSanitizer is told not to
 * record that one memcpy (DM_STORE_RACY_*), and tests/tsan.supp names the
 * function too. Relaxed atomic loads of 8 bytes would be race-free in C11
 * (not for TSan: the dram tier's writers are plain memcpy) but cost 4x the
 * memcpy on a 4 KiB page (~430 against ~100 ns here).
 *
 * What a lock-free read leaves for later. The hit is counted at once (a
 * per-stripe atomic: dm_store_stats is exact); the policy's part (the
 * page's hits, dm_policy_access: a HIT, which never evicts) is put on a
 * bounded multi-producer queue of touches (TOUCH_STRIPES queues of
 * TOUCH_CELLS; a thread uses one) and applied under s->lock: by whoever
 * takes it (dm_store_lock*: the worker, every locked path, the stats) at
 * least TOUCH_DELAY_NS after the last time they were applied, and always
 * before tier 0's policy takes in a page it does not hold (the only access
 * that can choose a victim: dm_store_policy_enter_locked). So a policy
 * decides with every touch queued before its lock was taken, in the order
 * one thread's accesses had. A page has at most one touch queued
 * (touched[p]): the policy sees the reads of a page between two drains as
 * one access, as a reference bit would (a HIT moves a page to the front,
 * or marks it, once as well as twice); so a drain costs at most one policy
 * call per page read, however fast a hot set is read, and the delay keeps
 * lock-takers that decide nothing (the worker reaping completions, hits on
 * the locked path, the stats) from paying for a hot set's touches one
 * lock at a time (in bench_store_storm the worker spent most of its time
 * there). A reader whose queue is half full drains it
 * itself when the lock is free (trylock) and no engine thread waits for
 * it; a touch that finds its queue full is dropped and counted (stats:
 * touches_dropped). A touch of a page that left tier 0 or became a victim
 * before it was applied is not applied (the read came before the policy's
 * decision or the move; the hit stays counted).
 * Read-ahead must see sequential readers, and nothing else may send a
 * random reader to the locked path (where it would wait for the engine): a
 * thread remembers its last page and how many it read in sequence up to it
 * (dm_store_tls), and the read that would be the RA_TRIGGER-th in sequence
 * (and every one after it) takes the locked path, which first tells the
 * streams of the pages before it that it read lock-free. So a stream that
 * one thread reads is followed from its first page, as before; a random
 * reader meets that only once in npages^2 reads.
 *
 * What the budget bounds. Every engine migration pays page_size bytes to the
 * bucket of its (source, destination) pair when it starts, and so does a
 * reader's own promotion (dm_migrate_start). So the bytes STARTED per pair
 * over any window W are <= burst + rate * W, and the bytes committed per
 * window at most that plus what was in flight at its start (max_in_flight
 * pages). Demand accesses served in place are not in the budget, nor are
 * clean drops (no byte moves; one the engine had already admitted keeps
 * the tokens it paid).
 *
 * Cache mode (no budget). A demand access of a page outside tier 0 moves it
 * into tier 0 in the caller's thread, under the index lock: the policy of
 * tier 0 admits it, its victim is demoted at once (recursively, if the tier
 * below is full too), the page's data (which the caller's buffer holds by
 * then) is written to a free slot of tier 0 and the old slot freed (kept as
 * the copy, see Copies). These synchronous moves write a dirty victim to the
 * tier below under the index lock (a clean one is dropped): simple, and the
 * price of a cache that must behave as one on every access (the reads of
 * the demand path itself run outside the lock). A read moves the page only
 * with data no write overlapped: its generation unchanged and no writer
 * pinned when the read began (a writer of the slot pinned then writes while
 * we read: the buffer may be old, and moved up it would undo that write).
 *
 * Locks. s->lock (the index lock) guards the index, the policies, the free
 * stacks, the scheduler, the migration records, the streams and the
 * counters. It is never held across device I/O outside cache mode's
 * demotions: dram is copied under it (a memcpy; but for the lock-free reads
 * of tier 0 above, which only the page words order), every other tier is
 * read and written with the page pinned (or READING, or PLACING) and the
 * lock released. The engine's submit and poll never block, so they run under
 * s->lock. Tiers whose handles are concurrent (dram, nvme: tier.h) are
 * called without any other lock, so several demand reads and writes of
 * different pages reach the device at once; the others (pfs, gpu) are
 * serialized by a per-tier io_lock, taken after s->lock (never the
 * reverse). Waits (cond) release s->lock and hold no io_lock; a thread
 * never waits, nor helps the engine, while it holds a pin (a commit waits
 * for pins).
 *
 * Memory: everything is allocated in create (index, free stacks, policies,
 * scheduler records, migration buffers, streams); nothing on the access path
 * or in the engine. dm_store_check allocates (a test helper).
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "util.h"

#define NOWHERE 0xffu
#define NOSLOT  UINT32_MAX
#define REAP_BATCH  64u
#define START_BATCH 256u    /* migrations one engine step starts at most */
#define RUN_MAX     64u     /* pages one engine I/O moves at most */
#define WAIT_NS     50000u  /* a waiter looks again after this (it also wakes on cond) */
#define RA_STREAMS  16u     /* sequential readers followed at once */
#define RA_TRIGGER  3u      /* pages in sequence before read-ahead starts */
#define RA_MIN      8u      /* the first read-ahead window, pages */
#define RA_DEFAULT  64u     /* readahead_max by default, pages */
#define DEMOTE_BATCH 32u    /* demotions started together (one submission) */
#define BG_BATCH     8u     /* HINT and SCAN pages of a pair started together (migrate.h) */
#define FAST_TRIES   2u     /* copies a lock-free read tries before the locked path */
#define TOUCH_STRIPES 4u    /* touch queues (and fast hit counters); a thread uses one */
#define TOUCH_CELLS 4096u   /* touches one queue holds (a power of two) */
#define TOUCH_RETRY 64u     /* a reader past half its queue tries the lock every this many */
#define TOUCH_DELAY_NS 1000000u /* queued touches wait at most this long for a lock-taker */

/*
 * ThreadSanitizer: the lock-free copy is the seqlock's data race, by design
 * (dm_store_read_fast). A suppression cannot name it when TSan no longer
 * has the reader's stack (a copy long before the write that meets it), so
 * the copy's accesses are not recorded at all: that one memcpy, no more.
 */
#ifdef DM_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line); /* the TSan runtime's */
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define DM_STORE_RACY_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define DM_STORE_RACY_END()   AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define DM_STORE_RACY_BEGIN() ((void)0)
#define DM_STORE_RACY_END()   ((void)0)
#endif

/* fast[p] (see the essay): seq << 32 | slot; valid while seq is even. */
#define FAST_SEQ_ONE   (1ull << 32)
#define FAST_HIDDEN    (FAST_SEQ_ONE | NOSLOT) /* the word of a page never valid yet */
#define FAST_VALID(w)  ((((w) >> 32) & 1u) == 0)

/* Page flags. */
enum {
    PG_VICTIM  = 1u << 0, /* lives in its tier, dropped by the tier's policy */
    PG_MOVING  = 1u << 1, /* a migration of it is in flight */
    PG_READING = 1u << 2, /* ... and its read of the source is in flight */
    PG_STALE   = 1u << 3, /* written since the migration started: drop the copy */
    PG_CANCEL  = 1u << 4, /* a demotion in flight of a page taken back: drop it */
    PG_COMMIT  = 1u << 5, /* the commit waits for pins: nobody new enters */
    PG_PLACING = 1u << 6, /* its first write is in progress: nobody else enters */
    PG_DIRTY   = 1u << 7, /* its copy (cslot) is stale: demoting it writes the copy */
};

/* One logical page: where it lives and what is happening to it. */
typedef struct dm_store_page {
    uint32_t slot;    /* in tier; NOSLOT when never written */
    uint32_t gen;     /* bumped by every write and move */
    uint32_t hits;    /* accesses since the last scan (saturating) */
    uint16_t pins;    /* threads doing I/O on slot outside the index lock */
    uint8_t  writers; /* of the pins, writers (no migration may start) */
    uint8_t  tier;    /* NOWHERE when never written */
    uint8_t  flags;   /* PG_* */
    uint8_t  advice;  /* sticky advice (dm_advice_t) */
    uint8_t  ctier;   /* the tier of its copy; NOWHERE when it has none */
    uint32_t cslot;   /* its copy in ctier > tier (see "Copies"); NOSLOT: none */
} dm_store_page_t;

typedef struct dm_store_tstate {
    dm_store_tier_t     *tier;
    dm_policy_t         *policy;
    pthread_mutex_t      io_lock;   /* serializes calls into a tier that is not concurrent */
    int                  concurrent; /* the handle takes calls from several threads */
    int                  runs;      /* takes runs (not dram): home slots, grouped I/O */
    int                  keeps;     /* runs, and a home slot per page: keeps copies */
    unsigned             max_run;   /* pages per engine I/O here */
    dm_store_tier_info_t info;
    uint32_t            *free;      /* free slot stack [capacity] */
    uint32_t            *pos;       /* pos[slot]: its index in free, NOSLOT when taken */
    uint64_t             nfree;
    uint64_t             pages;     /* pages living here */
    uint64_t             victims;   /* of those, PG_VICTIM */
    uint64_t             copies;    /* slots holding the copy of a page living above */
    uint64_t             target;    /* policy capacity (low watermark) */
    uint64_t             high;      /* slots; above it no HINT/SCAN promotion starts */
    uint64_t             hits, misses;
    unsigned             ops;       /* engine operations submitted, not reaped */
} dm_store_tstate_t;

/* A record's phase. ENDED: committed or ended, held until its group is done. */
enum { MIG_FREE = 0, MIG_READ, MIG_WRITE, MIG_ENDED, MIG_SYNC };

/*
 * A migration in flight (one record per page in flight). Records of a group
 * are consecutive (lead .. lead + count - 1), so are their buffers: a run's
 * I/O uses the first one's io and buffer for all.
 */
typedef struct dm_store_mig {
    dm_store_io_t io;       /* the I/O this record leads, of iopages records */
    void         *buf;      /* page_size bytes; record i + 1's follows record i's */
    uint64_t      page;
    uint32_t      src_slot, dst_slot;
    uint32_t      lead;     /* the group's first record */
    uint16_t      count;    /* lead: records in the group */
    uint16_t      pending;  /* lead: I/Os of the group's phase not yet reaped */
    uint16_t      iopages;  /* records the io covers, from this one on */
    uint8_t       gphase;   /* lead: MIG_READ or MIG_WRITE */
    dm_status_t   status;   /* this page's I/O in the current phase */
    uint8_t       src, dst, cls, phase;
    uint8_t       own;      /* dst_slot is the page's own copy slot: never freed here */
} dm_store_mig_t;

/*
 * A bounded queue of the touches lock-free reads leave (see the essay):
 * multi-producer (the readers of its stripe), one consumer at a time (under
 * s->lock). Cell i holds a touch when seq == pos + 1 for the position pos
 * it was claimed at, and is free for position pos when seq == pos (Vyukov's
 * bounded queue); positions wrap (uint32_t, compared by difference).
 */
typedef struct dm_store_touch {
    _Atomic uint32_t seq;
    uint64_t         page; /* written by its producer before seq */
} dm_store_touch_t;

typedef struct dm_store_touchq {
    _Alignas(64) atomic_uint_fast64_t hits; /* lock-free reads of this stripe (exact) */
    _Atomic uint32_t tail;                  /* the next position a producer claims */
    _Alignas(64) _Atomic uint32_t head;     /* the next position drained (s->lock) */
    _Alignas(64) dm_store_touch_t cell[TOUCH_CELLS];
} dm_store_touchq_t;

/* What a thread remembers of its reads (read-ahead, its touch queue). */
typedef struct dm_store_tls {
    const dm_store_t *store;  /* the store this thread read last */
    uint64_t          page;   /* ... the page */
    unsigned          run;    /* pages it read in sequence up to page (1 .. RA_TRIGGER) */
    unsigned          unseen; /* of those, the last ones read lock-free: no stream saw them */
    unsigned          stripe; /* 1 + this thread's touch queue; 0: none chosen yet */
} dm_store_tls_t;

static _Thread_local dm_store_tls_t dm_store_tls;
static atomic_uint dm_store_stripe_next; /* threads given a stripe, all stores */

/* A sequential reader (read-ahead). */
typedef struct dm_store_stream {
    uint64_t next;    /* the page it reads next */
    uint64_t ra_end;  /* read-ahead asked up to here (exclusive) */
    uint64_t used;    /* LRU stamp */
    uint32_t run;     /* pages read in sequence; 0: the entry is empty */
    uint32_t window;  /* pages asked ahead at the last batch */
} dm_store_stream_t;

struct dm_store {
    pthread_mutex_t   lock;  /* THE index lock: see the essay */
    atomic_uint       waiting; /* threads blocked on lock (dm_store_lock) */
    pthread_cond_t    cond;  /* pins dropped, reads of sources done, commits done (MONOTONIC) */
    pthread_cond_t    work;  /* wakes the worker (CLOCK_MONOTONIC) */
    unsigned          ntiers;
    dm_store_tstate_t t[DM_STORE_MAX_TIERS];
    dm_store_page_t  *pages;
    uint64_t          npages;
    /* lock-free reads of tier 0 (dram only; else NULL): see the essay */
    _Atomic uint64_t *fast;      /* [npages]: seq << 32 | slot */
    const char       *fast_mem;  /* tier 0's memory */
    dm_store_touchq_t *touchq;   /* [TOUCH_STRIPES] */
    _Atomic uint8_t  *touched;   /* [npages]: 1 while a touch of the page is queued */
    atomic_uint_fast64_t touches_dropped;
    uint64_t          touch_drained; /* when the touches were last applied (s->lock) */
    size_t            page_size;
    size_t            buf_align;
    dm_migrate_t     *sched;
    dm_store_mig_t   *mig;
    uint64_t         *mig_map;   /* bit i: record i in use */
    uint32_t          nmig_free, max_in_flight;
    void             *mig_bufs;
    void             *sync_buf;  /* cache mode: victim copies, under the lock */
    int               cache_mode; /* no budget */
    uint32_t          scan_threshold;
    uint64_t          last_now;
    uint32_t          demote_batch; /* PRESSURE requests started together */
    /* read-ahead (budget mode; readahead_max 0: off) */
    uint32_t          ra_max;
    uint64_t          ra_clock;
    dm_store_stream_t streams[RA_STREAMS];
    /* counters of what the scheduler does not see */
    uint64_t          zero_reads, sync_moves, readahead, reader_moves, clean_drops;
    uint64_t          sync_requested[DM_MIGRATE_CLASS_COUNT];
    uint64_t          sync_done[DM_MIGRATE_CLASS_COUNT];
    uint64_t          sync_no_space, sync_io_error;
    uint64_t          bytes_moved[DM_STORE_MAX_TIERS][DM_STORE_MAX_TIERS];
    uint64_t          bytes_demand, bytes_background;
    /* worker */
    pthread_t         thread;
    int               worker, stop, kick;
    uint32_t          scan_interval_ms;
};

/* ------------------------------------------------------------------------ */
/* The index lock, with a courtesy for the engine.                           */

/*
 * glibc mutexes are not fair: an application thread that reads dram pages
 * in a tight loop takes the lock again before a woken waiter runs, and the
 * worker (and the stats, prefetch) can starve for whole seconds. So a thread
 * of the engine or the control path that has to block says so (waiting),
 * and the demand paths, before taking the lock, give way for a bounded time
 * (at most ~64 yields) while one waits. This bounds the worker's wait by its
 * own step, not by the application's appetite. Demand threads do not count
 * as waiting: several readers would only make each other yield.
 */
static void dm_store_touch_drain_locked(dm_store_t *s, int force, uint64_t entering);

/* Both take the lock, then apply the touches lock-free reads left (the essay). */
static void dm_store_lock(dm_store_t *s)
{
    if (pthread_mutex_trylock(&s->lock) != 0) {
        atomic_fetch_add(&s->waiting, 1);
        pthread_mutex_lock(&s->lock);
        atomic_fetch_sub(&s->waiting, 1);
    }
    dm_store_touch_drain_locked(s, 0, UINT64_MAX);
}

/* The index lock again, for a demand path that released it for its I/O. */
static void dm_store_relock(dm_store_t *s)
{
    pthread_mutex_lock(&s->lock);
}

static void dm_store_lock_demand(dm_store_t *s)
{
    for (int i = 0; i < 64 && atomic_load_explicit(&s->waiting, memory_order_relaxed) > 0; i++) {
        sched_yield();
    }
    pthread_mutex_lock(&s->lock);
    dm_store_touch_drain_locked(s, 0, UINT64_MAX);
}

static void dm_store_unlock(dm_store_t *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* Waits on s->cond for at most WAIT_NS. pre: s->lock. */
static void dm_store_cond_wait_short(dm_store_t *s)
{
    uint64_t deadline = dm_time_ns() + WAIT_NS;
    struct timespec ts = { .tv_sec = (time_t)(deadline / DM_NSEC_PER_SEC),
                           .tv_nsec = (long)(deadline % DM_NSEC_PER_SEC) };

    (void)pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

/* ------------------------------------------------------------------------ */
/* Tier calls. A tier that is not concurrent is called under its io_lock.   */

static void dm_store_io_enter(dm_store_t *s, unsigned t)
{
    if (!s->t[t].concurrent) {
        pthread_mutex_lock(&s->t[t].io_lock);
    }
}

static void dm_store_io_leave(dm_store_t *s, unsigned t)
{
    if (!s->t[t].concurrent) {
        pthread_mutex_unlock(&s->t[t].io_lock);
    }
}

static dm_status_t dm_store_io_read(dm_store_t *s, unsigned t, uint32_t slot, void *buf)
{
    dm_status_t st;

    dm_store_io_enter(s, t);
    st = dm_store_tier_read(s->t[t].tier, slot, buf);
    dm_store_io_leave(s, t);
    return st;
}

static dm_status_t dm_store_io_write(dm_store_t *s, unsigned t, uint32_t slot, const void *buf)
{
    dm_status_t st;

    dm_store_io_enter(s, t);
    st = dm_store_tier_write(s->t[t].tier, slot, buf);
    dm_store_io_leave(s, t);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Slots.                                                                    */

/* The home slot of page in tier t (see the essay), or NOSLOT where t has none. */
static uint32_t dm_store_home(const dm_store_t *s, unsigned t, uint64_t page)
{
    return s->t[t].runs ? (uint32_t)(page % s->t[t].info.capacity) : NOSLOT;
}

static int dm_store_slot_is_free(const dm_store_t *s, unsigned t, uint32_t slot)
{
    return slot != NOSLOT && s->t[t].pos[slot] != NOSLOT;
}

/*
 * Returns a slot to the free stack; its contents are dropped first (dram
 * keeps its memory: the slot is used again soon). pre: s->lock held; no
 * operation on the slot in flight.
 */
static void dm_store_slot_free_locked(dm_store_t *s, unsigned t, uint32_t slot)
{
    dm_store_tstate_t *ts = &s->t[t];

    dm_store_io_enter(s, t);
    if (ts->info.kind == DM_STORE_KIND_DRAM) {
        (void)dm_store_tier_forget(ts->tier, slot);
    } else {
        (void)dm_store_tier_discard(ts->tier, slot); /* only fails for a bad slot or pfs I/O */
    }
    dm_store_io_leave(s, t);
    assert(ts->nfree < ts->info.capacity && ts->pos[slot] == NOSLOT);
    ts->pos[slot] = (uint32_t)ts->nfree;
    ts->free[ts->nfree++] = slot;
}

/* Takes page's home slot in t when free, else the top of the free stack. */
static uint32_t dm_store_slot_take_locked(dm_store_t *s, unsigned t, uint64_t page)
{
    dm_store_tstate_t *ts = &s->t[t];
    uint32_t want = dm_store_home(s, t, page), slot, top;

    assert(ts->nfree > 0);
    top = ts->free[ts->nfree - 1];
    slot = dm_store_slot_is_free(s, t, want) ? want : top;
    /* swap slot with the top, pop */
    ts->free[ts->pos[slot]] = top;
    ts->pos[top] = ts->pos[slot];
    ts->pos[slot] = NOSLOT;
    ts->nfree--;
    return slot;
}

/* Fast tiers are read and written under the index lock (a memcpy). */
static int dm_store_tier_fast(const dm_store_t *s, unsigned t)
{
    return s->t[t].info.kind == DM_STORE_KIND_DRAM;
}

/* ------------------------------------------------------------------------ */
/* The page words of lock-free reads (see the essay). Under s->lock.        */

/*
 * Hides page's word before its place, its state or its bytes change: a
 * lock-free read that overlaps what follows sees the word change. The
 * fence orders the hide before every later write of the slot (this
 * thread's; another thread's come after s->lock changes hands).
 */
static void dm_store_fast_hide_locked(dm_store_t *s, uint64_t page)
{
    uint64_t w;

    if (s->fast == NULL) {
        return;
    }
    w = atomic_load_explicit(&s->fast[page], memory_order_relaxed);
    if (FAST_VALID(w)) {
        atomic_store_explicit(&s->fast[page], w + FAST_SEQ_ONE, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
    }
}

/*
 * Makes page's word valid when the invariant's conditions hold now: the
 * page lives in tier 0 (dram), no victim, nothing in progress that changes
 * its bytes (a write of dram is done under the lock, so none is in flight).
 */
static void dm_store_fast_publish_locked(dm_store_t *s, uint64_t page)
{
    const dm_store_page_t *pg = &s->pages[page];
    uint64_t w;

    if (s->fast == NULL || pg->tier != 0 || pg->writers > 0 ||
        (pg->flags & (PG_VICTIM | PG_COMMIT | PG_PLACING))) {
        return;
    }
    w = atomic_load_explicit(&s->fast[page], memory_order_relaxed);
    if (FAST_VALID(w)) {
        assert((uint32_t)w == pg->slot);
        return;
    }
    atomic_store_explicit(&s->fast[page], (w & ~(uint64_t)UINT32_MAX) + FAST_SEQ_ONE + pg->slot,
                          memory_order_release);
}
/* ------------------------------------------------------------------------ */
/* Requests, victims, moves. All under s->lock.                              */

static dm_migrate_verdict_t dm_store_request_locked(dm_store_t *s, uint64_t page, unsigned from,
                                                    unsigned to, dm_migrate_class_t cls)
{
    dm_migrate_verdict_t v = DM_MIGRATE_REJECTED;

    /* demotions wake the worker by the batch (see dm_store_help_locked) */
    if (dm_migrate_request(s->sched, page, from, to, cls, &v) == DM_OK &&
        v == DM_MIGRATE_QUEUED && s->worker &&
        (cls != DM_MIGRATE_PRESSURE ||
         dm_migrate_queued_class(s->sched, DM_MIGRATE_PRESSURE) >= s->demote_batch)) {
        s->kick = 1;
        pthread_cond_signal(&s->work);
    }
    return v;
}

static void dm_store_give_advice_locked(dm_store_t *s, unsigned t, uint64_t page)
{
    if (s->pages[page].advice != DM_ADVICE_NONE) {
        (void)dm_policy_advise(s->t[t].policy, page, (dm_advice_t)s->pages[page].advice);
    }
}

static dm_status_t dm_store_demote_sync_locked(dm_store_t *s, uint64_t page);
static int dm_store_can_drop(const dm_store_t *s, const dm_store_page_t *pg);
static void dm_store_drop_locked(dm_store_t *s, uint64_t page, int sync);

/*
 * Tier t's policy dropped page v: it stays in t as a victim until demoted.
 * sync (cache mode, demand path): demote it now; else queue a PRESSURE
 * migration. A victim in flight is dealt with when its migration ends.
 */
static void dm_store_victim_locked(dm_store_t *s, unsigned t, uint64_t v, int sync)
{
    dm_store_page_t *pg = &s->pages[v];

    assert(pg->tier == t && !(pg->flags & PG_VICTIM) && t + 1 < s->ntiers);
    dm_store_fast_hide_locked(s, v); /* its reads go to the locked path: they take it back */
    pg->flags |= PG_VICTIM;
    s->t[t].victims++;
    if (pg->flags & PG_MOVING) {
        return;
    }
    if (dm_store_can_drop(s, pg)) {
        dm_store_drop_locked(s, v, sync); /* clean: no I/O, in both modes */
        return;
    }
    if (sync && pg->pins == 0) {
        (void)dm_store_demote_sync_locked(s, v);
        return;
    }
    (void)dm_store_request_locked(s, v, t, t + 1, DM_MIGRATE_PRESSURE);
}

/*
 * Tells tier t's policy that page enters it (dm_policy_access). That may
 * choose a victim: tier 0's policy first hears every lock-free read queued
 * until now, so a decision never misses a read for TOUCH_DELAY_NS.
 */
static dm_policy_verdict_t dm_store_policy_enter_locked(dm_store_t *s, unsigned t, uint64_t page,
                                                        int is_write, uint64_t *victim)
{
    if (t == 0) {
        /* four loads when nothing is queued; page's own touch is this access */
        dm_store_touch_drain_locked(s, 1, page);
    }
    return dm_policy_access(s->t[t].policy, page, is_write, victim);
}

/*
 * Page enters tier t's policy; its victim, if any, is handled as above.
 * pre: t is not the last tier, or it has a free slot (its policy, as large
 * as the tier, then never evicts): callers check room first.
 */
static void dm_store_admit_locked(dm_store_t *s, unsigned t, uint64_t page, int is_write,
                                  int sync)
{
    uint64_t victim = 0;
    dm_policy_verdict_t verdict;

    verdict = dm_store_policy_enter_locked(s, t, page, is_write, &victim);
    dm_store_give_advice_locked(s, t, page);
    if (verdict == DM_POLICY_MISS_EVICT) {
        dm_store_victim_locked(s, t, victim, sync);
    }
}

/* How a switch found the data (dm_store_switch_locked). */
typedef enum {
    SW_COPIED,  /* copied from the source, which still holds the current data */
    SW_WRITTEN, /* new data written to dst: the source holds old data */
    SW_DROPPED  /* a clean demotion into the page's copy: nothing was copied */
} dm_store_switch_how_t;

/*
 * Releases page's copy: its slot is freed. pre: s->lock; no operation on
 * the copy in flight (only the page's own demotion writes it, and the page
 * is not moving into it).
 */
static void dm_store_copy_release_locked(dm_store_t *s, dm_store_page_t *pg)
{
    if (pg->cslot == NOSLOT) {
        return;
    }
    assert(s->t[pg->ctier].copies > 0);
    s->t[pg->ctier].copies--;
    dm_store_slot_free_locked(s, pg->ctier, pg->cslot);
    pg->cslot = NOSLOT;
    pg->ctier = NOWHERE;
    pg->flags &= (uint8_t)~PG_DIRTY;
}

/*
 * The page's data now sits in (dst, dslot) and dst's policy has admitted it:
 * switch the index, leave the source (policy or victim count), then decide
 * what becomes of the source slot and the copy (see "Copies" in the essay):
 *   - a move into the page's own copy (dslot == cslot): the copy is the page
 *     again; the source slot is freed;
 *   - a promotion out of a tier that keeps copies: the source slot stays the
 *     page's, as its copy, clean when the source still holds the current
 *     data (SW_COPIED), dirty otherwise (SW_WRITTEN); a deeper copy is
 *     released;
 *   - any other move: the source slot is freed; a copy at or above dst is
 *     released (a copy lives below its page).
 * Counts the bytes unless nothing was copied. pre: s->lock; no pins on the
 * page.
 */
static void dm_store_switch_locked(dm_store_t *s, uint64_t page, unsigned dst, uint32_t dslot,
                                   dm_migrate_class_t cls, dm_store_switch_how_t how)
{
    dm_store_page_t *pg = &s->pages[page];
    unsigned src = pg->tier;
    uint32_t sslot = pg->slot;

    assert(src != NOWHERE && src != dst && pg->pins == 0);
    dm_store_fast_hide_locked(s, page); /* before the source slot is freed */
    if (pg->flags & PG_VICTIM) {
        pg->flags &= (uint8_t)~PG_VICTIM;
        s->t[src].victims--;
    } else {
        (void)dm_policy_remove(s->t[src].policy, page);
    }
    pg->tier = (uint8_t)dst;
    pg->slot = dslot;
    pg->gen++;
    s->t[src].pages--;
    s->t[dst].pages++;
    if (pg->cslot != NOSLOT && pg->ctier == dst) {
        assert(dslot == pg->cslot && (how != SW_DROPPED || !(pg->flags & PG_DIRTY)));
        s->t[dst].copies--;
        pg->cslot = NOSLOT;
        pg->ctier = NOWHERE;
        pg->flags &= (uint8_t)~PG_DIRTY;
        dm_store_slot_free_locked(s, src, sslot);
    } else if (dst < src && s->t[src].keeps) {
        assert(how != SW_DROPPED);
        dm_store_copy_release_locked(s, pg); /* a deeper one */
        pg->ctier = (uint8_t)src;
        pg->cslot = sslot; /* not freed: no discard, the data stays */
        s->t[src].copies++;
        if (how == SW_WRITTEN) {
            pg->flags |= PG_DIRTY;
        }
    } else {
        assert(how != SW_DROPPED);
        dm_store_slot_free_locked(s, src, sslot);
        if (pg->cslot != NOSLOT && pg->ctier <= dst) {
            dm_store_copy_release_locked(s, pg);
        }
    }
    if (how == SW_DROPPED) {
        s->clean_drops++;
        return;
    }
    s->bytes_moved[src][dst] += s->page_size;
    if (cls == DM_MIGRATE_DEMAND) {
        s->bytes_demand += s->page_size;
    } else {
        s->bytes_background += s->page_size;
    }
}

/*
 * 1 when page can be demoted by dropping it: its copy is in the tier just
 * below and clean, and nobody is at it (no pins; not moving, placing,
 * committing). pre: s->lock.
 */
static int dm_store_can_drop(const dm_store_t *s, const dm_store_page_t *pg)
{
    (void)s;
    return pg->cslot != NOSLOT && pg->tier != NOWHERE && pg->ctier == pg->tier + 1u &&
           pg->pins == 0 &&
           !(pg->flags & (PG_DIRTY | PG_MOVING | PG_READING | PG_PLACING | PG_COMMIT));
}

/*
 * Demotes page one tier down by dropping it from its tier: its clean copy
 * is the page again. No I/O, no budget (nothing moves). The tier below's
 * policy admits it (its victim handled as by the caller: sync or queued).
 * pre: s->lock; dm_store_can_drop.
 */
static void dm_store_drop_locked(dm_store_t *s, uint64_t page, int sync)
{
    dm_store_page_t *pg = &s->pages[page];
    unsigned d = pg->ctier;
    uint64_t victim = 0;
    dm_policy_verdict_t verdict;

    assert(dm_store_can_drop(s, pg));
    (void)dm_migrate_cancel(s->sched, page); /* a queued demotion is done now */
    verdict = dm_store_policy_enter_locked(s, d, page, 0, &victim);
    dm_store_give_advice_locked(s, d, page);
    dm_store_switch_locked(s, page, d, pg->cslot, DM_MIGRATE_PRESSURE, SW_DROPPED);
    if (verdict == DM_POLICY_MISS_EVICT) {
        dm_store_victim_locked(s, d, victim, sync);
    }
}

/*
 * Cache mode: moves victim page (in tier t, flagged VICTIM, not moving, not
 * pinned) to tier t+1 now, making room there first by demoting that tier's
 * victim the same way. A clean page with its copy in t+1 is dropped (no
 * I/O); a dirty one is written back to its copy slot (no room needed). On
 * failure the page stays a victim in t (a scan requests it again), its copy
 * dirty; DM_ERR_BUSY when no slot could be found (then a PRESSURE request
 * is queued: it starts when room appears).
 */
static dm_status_t dm_store_demote_sync_locked(dm_store_t *s, uint64_t page)
{
    dm_store_page_t *pg = &s->pages[page];
    unsigned t = pg->tier, d = t + 1;
    dm_store_tstate_t *td = &s->t[d];
    int own = pg->cslot != NOSLOT && pg->ctier == d; /* written back to its copy */
    uint32_t dslot;
    dm_status_t st;

    assert(pg->flags & PG_VICTIM);
    if (dm_store_can_drop(s, pg)) {
        dm_store_drop_locked(s, page, 1);
        return DM_OK;
    }
    assert(!own || (pg->flags & PG_DIRTY)); /* not moving, not pinned: clean drops */
    s->sync_requested[DM_MIGRATE_PRESSURE]++;
    if (!own && td->nfree == 0 && d + 1 == s->ntiers) {
        (void)dm_store_request_locked(s, page, t, d, DM_MIGRATE_PRESSURE);
        return DM_ERR_BUSY; /* the last tier never evicts: wait for room */
    }
    dm_store_admit_locked(s, d, page, 0, 1); /* may demote d's victim first */
    if (!own && td->nfree == 0) {
        (void)dm_policy_remove(td->policy, page);
        (void)dm_store_request_locked(s, page, t, d, DM_MIGRATE_PRESSURE);
        return DM_ERR_BUSY;
    }
    dslot = own ? pg->cslot : dm_store_slot_take_locked(s, d, page);
    st = dm_store_io_read(s, t, pg->slot, s->sync_buf);
    if (st == DM_OK) {
        st = dm_store_io_write(s, d, dslot, s->sync_buf);
    }
    if (st != DM_OK) {
        if (!own) {
            dm_store_slot_free_locked(s, d, dslot);
        } /* else the copy stays, dirty */
        (void)dm_policy_remove(td->policy, page);
        if (st == DM_ERR_NO_SPACE) {
            s->sync_no_space++;
        } else {
            s->sync_io_error++;
        }
        return st;
    }
    (void)dm_migrate_cancel(s->sched, page); /* a queued demotion is done now */
    dm_store_switch_locked(s, page, d, dslot, DM_MIGRATE_PRESSURE, SW_COPIED);
    s->sync_done[DM_MIGRATE_PRESSURE]++;
    s->sync_moves++;
    return DM_OK;
}

/*
 * Cache mode: puts page into tier 0 now, with the data in buf: a page never
 * written (placed) or one living in a slower tier (moved; its old slot is
 * freed). pre: the page is not moving, not pinned, not committing.
 * DM_ERR_BUSY: tier 0 had no free slot (nothing changed but the victim's
 * demotion); a tier error: nothing changed.
 */
static dm_status_t dm_store_top_sync_locked(dm_store_t *s, uint64_t page, const void *buf,
                                            int is_write)
{
    dm_store_page_t *pg = &s->pages[page];
    dm_store_tstate_t *t0 = &s->t[0];
    uint32_t slot;
    dm_status_t st;
    int moving = pg->tier != NOWHERE; /* a move, not a first placement */

    assert(!(pg->flags & (PG_MOVING | PG_COMMIT)) && pg->pins == 0 && pg->tier != 0);
    if (moving) {
        s->sync_requested[DM_MIGRATE_DEMAND]++;
    }
    if (t0->nfree == 0 && s->ntiers == 1) {
        return DM_ERR_BUSY;
    }
    dm_store_admit_locked(s, 0, page, is_write, 1);
    if (t0->nfree == 0) {
        (void)dm_policy_remove(t0->policy, page);
        return DM_ERR_BUSY;
    }
    slot = dm_store_slot_take_locked(s, 0, page);
    st = dm_store_io_write(s, 0, slot, buf);
    if (st != DM_OK) {
        dm_store_slot_free_locked(s, 0, slot);
        (void)dm_policy_remove(t0->policy, page);
        if (moving) {
            if (st == DM_ERR_NO_SPACE) {
                s->sync_no_space++;
            } else {
                s->sync_io_error++;
            }
        }
        return st;
    }
    if (!moving) {
        pg->tier = 0;
        pg->slot = slot;
        pg->gen++;
        t0->pages++;
        return DM_OK;
    }
    (void)dm_migrate_cancel(s->sched, page);
    /* buf is the page's current data (read: the caller checked no write came
     * since it read the source) or newer (write: the source is now old) */
    dm_store_switch_locked(s, page, 0, slot, DM_MIGRATE_DEMAND, is_write ? SW_WRITTEN : SW_COPIED);
    s->sync_done[DM_MIGRATE_DEMAND]++;
    s->sync_moves++;
    return DM_OK;
}

/*
 * A demand access of a written page, the policy's part: the page's hits,
 * and its tier's policy told (a victim is taken back: its demotion
 * canceled, or dropped at the commit when in flight).
 */
static void dm_store_touch_policy_locked(dm_store_t *s, uint64_t page, int is_write)
{
    dm_store_page_t *pg = &s->pages[page];
    unsigned t = pg->tier, to = 0;
    uint64_t victim;

    if (pg->hits < UINT32_MAX) {
        pg->hits++;
    }
    if (!(pg->flags & PG_VICTIM)) {
        (void)dm_policy_access(s->t[t].policy, page, is_write, &victim); /* a hit */
        return;
    }
    pg->flags &= (uint8_t)~PG_VICTIM;
    s->t[t].victims--;
    switch (dm_migrate_state(s->sched, page, NULL, &to, NULL)) {
    case DM_MIGRATE_RUNNING:
        if (to > t) {
            pg->flags |= PG_CANCEL;
        }
        break;
    case DM_MIGRATE_WAITING:
        if (to > t) {
            (void)dm_migrate_cancel(s->sched, page);
        }
        break;
    default:
        break;
    }
    dm_store_admit_locked(s, t, page, is_write, s->cache_mode);
}

/* A demand access of a written page: counts a hit (misses above), then as above. */
static void dm_store_touch_locked(dm_store_t *s, uint64_t page, int is_write)
{
    unsigned t = s->pages[page].tier;

    s->t[t].hits++;
    for (unsigned j = 0; j < t; j++) {
        s->t[j].misses++;
    }
    dm_store_touch_policy_locked(s, page, is_write);
}

/*
 * Applies the touches lock-free reads queued (see the essay), at most a
 * queue's worth per stripe (producers may go on meanwhile), unless (force
 * 0) they were applied less than TOUCH_DELAY_NS ago. The hit was counted
 * by the reader. A page that left tier 0 or became a victim since is not
 * touched: its policy decided without this read, or it moved. Nor is
 * entering (UINT64_MAX: none), the page about to enter tier 0's policy:
 * it may already say tier 0 without a victim's flag (a victim taken back
 * by dm_store_touch_policy_locked) while the policy does not hold it yet,
 * and its touch, applied now, would be a miss that evicts a victim nobody
 * is told of (a page the index keeps and the policy has dropped:
 * test_fastpath's hammer found it); its entry is its access anyway.
 * pre: s->lock.
 */
static void dm_store_touch_drain_locked(dm_store_t *s, int force, uint64_t entering)
{
    uint64_t now;
    unsigned first = 0;

    if (s->touchq == NULL) {
        return;
    }
    while (first < TOUCH_STRIPES &&
           atomic_load_explicit(&s->touchq[first].tail, memory_order_relaxed) ==
               atomic_load_explicit(&s->touchq[first].head, memory_order_relaxed)) {
        first++;
    }
    if (first == TOUCH_STRIPES) {
        return; /* nothing queued */
    }
    now = dm_time_ns();
    if (!force && now - s->touch_drained < TOUCH_DELAY_NS) {
        return; /* applied lately: let more reads of the same pages collapse */
    }
    s->touch_drained = now;
    for (unsigned k = 0; k < TOUCH_STRIPES; k++) {
        dm_store_touchq_t *q = &s->touchq[k];
        uint32_t pos = atomic_load_explicit(&q->head, memory_order_relaxed), n;

        for (n = 0; n < TOUCH_CELLS; n++, pos++) {
            dm_store_touch_t *c = &q->cell[pos & (TOUCH_CELLS - 1)];
            uint64_t page;

            if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1) {
                break; /* empty, or its producer is still writing it */
            }
            page = c->page;
            atomic_store_explicit(&c->seq, pos + TOUCH_CELLS, memory_order_release);
            atomic_store_explicit(&s->touched[page], 0, memory_order_relaxed);
            if (page != entering && s->pages[page].tier == 0 &&
                !(s->pages[page].flags & PG_VICTIM)) {
                /* a hit: never evicts, and (no victim) never admits, so it
                 * never comes back here through dm_store_policy_enter_locked */
                dm_store_touch_policy_locked(s, page, 0);
            }
        }
        if (n > 0) {
            atomic_store_explicit(&q->head, pos, memory_order_relaxed);
        }
    }
}

/*
 * After a lock-free read of page: counts the hit and queues the touch on
 * this thread's stripe, unless one of the page is queued already (see the
 * essay); a full queue drops it (counted). When the queue is half full,
 * drains it if s->lock is free and no engine thread waits for it (looking
 * every TOUCH_RETRY touches: not a trylock per read on a lock the worker
 * holds).
 */
static void dm_store_touch_defer(dm_store_t *s, uint64_t page)
{
    dm_store_touchq_t *q;
    uint32_t pos;

    if (dm_store_tls.stripe == 0) {
        dm_store_tls.stripe = 1 + atomic_fetch_add_explicit(&dm_store_stripe_next, 1,
                                                            memory_order_relaxed) % TOUCH_STRIPES;
    }
    q = &s->touchq[dm_store_tls.stripe - 1];
    atomic_fetch_add_explicit(&q->hits, 1, memory_order_relaxed);
    if (atomic_load_explicit(&s->touched[page], memory_order_relaxed)) {
        return; /* one queued already: the policy sees them as one access */
    }
    atomic_store_explicit(&s->touched[page], 1, memory_order_relaxed); /* before the cell */
    pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        dm_store_touch_t *c = &q->cell[pos & (TOUCH_CELLS - 1)];
        int32_t d = (int32_t)(atomic_load_explicit(&c->seq, memory_order_acquire) - pos);

        if (d < 0) { /* the cell still holds a touch from a lap ago: full */
            atomic_store_explicit(&s->touched[page], 0, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->touches_dropped, 1, memory_order_relaxed);
            return;
        }
        if (d > 0) { /* another producer took pos */
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        } else if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                         memory_order_relaxed,
                                                         memory_order_relaxed)) {
            c->page = page;
            atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
            break;
        }
    }
    if ((pos + 1) % TOUCH_RETRY == 0 &&
        pos + 1 - atomic_load_explicit(&q->head, memory_order_relaxed) >= TOUCH_CELLS / 2 &&
        atomic_load_explicit(&s->waiting, memory_order_relaxed) == 0 &&
        pthread_mutex_trylock(&s->lock) == 0) {
        dm_store_touch_drain_locked(s, 1, UINT64_MAX);
        pthread_mutex_unlock(&s->lock);
    }
}

/*
 * Undoes the placement of page in tier t at slot (its first write failed):
 * the page is unwritten again. pre: s->lock; the page is PLACING and this
 * thread's only (nobody else entered: see dm_store_place_locked).
 */
static void dm_store_unplace_locked(dm_store_t *s, uint64_t page, unsigned t, uint32_t slot)
{
    dm_store_page_t *pg = &s->pages[page];
    dm_store_tstate_t *ts = &s->t[t];

    assert(pg->cslot == NOSLOT); /* a page never written has no copy */
    dm_store_fast_hide_locked(s, page);
    if (pg->flags & PG_VICTIM) { /* dropped by the policy while we wrote */
        pg->flags &= (uint8_t)~PG_VICTIM;
        ts->victims--;
        (void)dm_migrate_cancel(s->sched, page);
    } else {
        (void)dm_policy_remove(ts->policy, page);
    }
    pg->tier = NOWHERE;
    pg->slot = NOSLOT;
    pg->gen++;
    ts->pages--;
    dm_store_slot_free_locked(s, t, slot);
}

/*
 * A write of a page never written: the fastest tier with a free slot
 * (cache mode: tier 0, evicting). dram is written under the index lock;
 * another tier with the lock released, the page PLACING (readers and
 * writers of it wait, no migration starts: it is pinned as a writer), and
 * the placement undone when the write fails. Returns DM_ERR_NO_SPACE when
 * every tier with a slot refused with ENOSPC. pre and post: s->lock held.
 */
static dm_status_t dm_store_place_locked(dm_store_t *s, uint64_t page, const void *buf)
{
    dm_store_page_t *pg = &s->pages[page];
    dm_status_t st = DM_ERR_NO_SPACE;
    unsigned t0 = 0;

    if (s->cache_mode && s->ntiers > 1) {
        st = dm_store_top_sync_locked(s, page, buf, 1);
        if (st == DM_OK) {
            s->t[0].hits++;
            pg->hits = 1;
            return DM_OK;
        }
        t0 = 1;
    }
    for (unsigned t = t0; t < s->ntiers; t++) {
        dm_store_tstate_t *ts = &s->t[t];
        uint32_t slot;

        if (ts->nfree == 0) {
            continue;
        }
        dm_store_admit_locked(s, t, page, 1, s->cache_mode);
        if (ts->nfree == 0) {
            (void)dm_policy_remove(ts->policy, page);
            continue;
        }
        slot = dm_store_slot_take_locked(s, t, page);
        pg->tier = (uint8_t)t;
        pg->slot = slot;
        pg->gen++;
        ts->pages++;
        if (dm_store_tier_fast(s, t)) {
            st = dm_store_io_write(s, t, slot, buf);
        } else {
            pg->flags |= PG_PLACING;
            pg->pins++;
            pg->writers++;
            dm_store_unlock(s);
            st = dm_store_io_write(s, t, slot, buf);
            dm_store_relock(s);
            pg->pins--;
            pg->writers--;
            pg->flags &= (uint8_t)~PG_PLACING;
            pthread_cond_broadcast(&s->cond);
        }
        if (st != DM_OK) {
            dm_store_unplace_locked(s, page, t, slot);
            if (st == DM_ERR_NO_SPACE) {
                continue;
            }
            return st;
        }
        pg->hits = 1;
        ts->hits++;
        for (unsigned j = 0; j < t; j++) {
            s->t[j].misses++;
        }
        /* no promotion: the faster tiers were full; writing a data set
         * larger than them would otherwise queue a promotion per page */
        return DM_OK;
    }
    if (st == DM_ERR_NO_SPACE) {
        char why[256];

        snprintf(why, sizeof(why), "%s", dm_last_error()); /* the tier's detail */
        return dm_error_set(DM_ERR_NO_SPACE, "store: page %llu: no tier could take it; last: %s",
                            (unsigned long long)page, why);
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* The engine.                                                               */

/*
 * Takes up to want consecutive free records: the first run of want, else
 * the longest run there is. Returns its first index; *got_p its length.
 * pre: s->lock; nmig_free > 0.
 */
static uint32_t dm_store_mig_alloc_locked(dm_store_t *s, unsigned want, unsigned *got_p)
{
    uint32_t best = 0, best_len = 0, run = 0, first = 0;

    assert(s->nmig_free > 0 && want > 0);
    for (uint32_t i = 0; i < s->max_in_flight; i++) {
        if (s->mig_map[i / 64] & (1ull << (i % 64))) {
            run = 0;
            if ((i % 64) == 0 && s->mig_map[i / 64] == ~0ull) {
                i += 63; /* a full word */
            }
            continue;
        }
        if (run++ == 0) {
            first = i;
        }
        if (run > best_len) {
            best = first;
            best_len = run;
        }
        if (run == want) {
            break;
        }
    }
    assert(best_len > 0);
    for (uint32_t i = best; i < best + best_len; i++) {
        s->mig_map[i / 64] |= 1ull << (i % 64);
        s->mig[i].phase = MIG_ENDED; /* not FREE: taken; the caller sets the phase */
    }
    s->nmig_free -= best_len;
    *got_p = best_len;
    return best;
}

/* Releases the records of a group (its last I/O is done). */
static void dm_store_mig_release_locked(dm_store_t *s, uint32_t first, unsigned count)
{
    for (uint32_t i = first; i < first + count; i++) {
        assert(s->mig[i].phase == MIG_ENDED);
        s->mig[i].phase = MIG_FREE;
        s->mig_map[i / 64] &= ~(1ull << (i % 64));
    }
    s->nmig_free += count;
}

/* A migration that did not commit: the page never left its source. */
static void dm_store_end_locked(dm_store_t *s, dm_store_mig_t *mig, dm_migrate_result_t result)
{
    dm_store_page_t *pg = &s->pages[mig->page];

    if (!mig->own) {
        dm_store_slot_free_locked(s, mig->dst, mig->dst_slot);
    } /* else the page's copy stays its own, dirty (flagged at the start) */
    pg->flags &= (uint8_t)~(PG_MOVING | PG_READING | PG_STALE | PG_CANCEL | PG_COMMIT);
    (void)dm_migrate_complete(s->sched, mig->page, result);
    mig->phase = MIG_ENDED;
    pthread_cond_broadcast(&s->cond);
    /* a victim whose demotion was dropped (stale) asks again; after no space
     * or an I/O error the scan asks again, not every step */
    if ((pg->flags & PG_VICTIM) && (result == DM_MIGRATE_STALE || result == DM_MIGRATE_CANCELED)) {
        (void)dm_store_request_locked(s, mig->page, pg->tier, pg->tier + 1u,
                                      DM_MIGRATE_PRESSURE);
    }
}

/*
 * The copy is in the destination slot. Commit it, unless the page was
 * written (stale) or taken back (cancel) since the start. May wait on
 * s->cond for pins (releasing s->lock meanwhile).
 */
static void dm_store_commit_locked(dm_store_t *s, dm_store_mig_t *mig)
{
    dm_store_page_t *pg = &s->pages[mig->page];
    uint64_t victim = 0;
    dm_policy_verdict_t verdict;

    if (pg->flags & (PG_STALE | PG_CANCEL)) {
        dm_store_end_locked(s, mig, (pg->flags & PG_STALE) ? DM_MIGRATE_STALE
                                                            : DM_MIGRATE_CANCELED);
        return;
    }
    /* Readers of the source still at it: let them finish; nobody new enters
     * (writers wait for PG_COMMIT to clear, so the page cannot turn stale). */
    while (pg->pins > 0) {
        dm_store_fast_hide_locked(s, mig->page);
        pg->flags |= PG_COMMIT;
        pthread_cond_wait(&s->cond, &s->lock);
    }
    assert(!(pg->flags & (PG_STALE | PG_CANCEL)));

    /* ==== COMMIT POINT ==== from here the copy is the page; the source slot
     * is freed by the switch. Before here, dropping the copy lost nothing. */
    verdict = dm_store_policy_enter_locked(s, mig->dst, mig->page, 0, &victim);
    dm_store_give_advice_locked(s, mig->dst, mig->page);
    dm_store_switch_locked(s, mig->page, mig->dst, mig->dst_slot, (dm_migrate_class_t)mig->cls,
                           SW_COPIED);
    pg->flags &= (uint8_t)~(PG_MOVING | PG_READING | PG_COMMIT);
    (void)dm_migrate_complete(s->sched, mig->page, DM_MIGRATE_OK);
    mig->phase = MIG_ENDED;
    pthread_cond_broadcast(&s->cond);
    if (verdict == DM_POLICY_MISS_EVICT) {
        dm_store_victim_locked(s, mig->dst, victim, 0);
    }
}

/*
 * Submits one I/O of the group of record i: npages records from i on
 * (their slots consecutive on that side), into or from i's buffer (the
 * records' buffers are adjacent). A refused submission counts as done with
 * an error for those records.
 */
static void dm_store_group_io_locked(dm_store_t *s, uint32_t i, unsigned npages, dm_store_op_t op)
{
    dm_store_mig_t *mig = &s->mig[i], *lead = &s->mig[mig->lead];
    unsigned t = op == DM_STORE_OP_READ ? mig->src : mig->dst;
    dm_status_t st;

    memset(&mig->io, 0, sizeof(mig->io));
    mig->io.op = op;
    mig->io.slot = op == DM_STORE_OP_READ ? mig->src_slot : mig->dst_slot;
    mig->io.npages = npages;
    mig->io.buf = mig->buf;
    mig->io.arg = mig;
    mig->iopages = (uint16_t)npages;
    dm_store_io_enter(s, t);
    st = dm_store_tier_submit(s->t[t].tier, &mig->io);
    dm_store_io_leave(s, t);
    if (st != DM_OK) {
        for (unsigned k = 0; k < npages; k++) {
            s->mig[i + k].status = DM_ERR_IO;
        }
        return;
    }
    s->t[t].ops++;
    lead->pending++;
}

static void dm_store_group_done_locked(dm_store_t *s, uint32_t first);

/* The group's reads are done: end what cannot go on, write the rest. */
static void dm_store_group_read_done_locked(dm_store_t *s, uint32_t first)
{
    dm_store_mig_t *lead = &s->mig[first];
    unsigned count = lead->count;
    const dm_store_tstate_t *td = &s->t[lead->dst];

    for (uint32_t i = first; i < first + count; i++) {
        dm_store_mig_t *mig = &s->mig[i];
        dm_store_page_t *pg = &s->pages[mig->page];

        if (mig->phase != MIG_READ) {
            continue;
        }
        pg->flags &= (uint8_t)~PG_READING;
        if (mig->status != DM_OK) {
            dm_store_end_locked(s, mig, DM_MIGRATE_IO_ERROR);
        } else if (pg->flags & (PG_STALE | PG_CANCEL)) {
            dm_store_end_locked(s, mig, (pg->flags & PG_STALE) ? DM_MIGRATE_STALE
                                                                : DM_MIGRATE_CANCELED);
        }
    }
    pthread_cond_broadcast(&s->cond); /* writers waiting for the reads */
    lead->gphase = MIG_WRITE;
    for (uint32_t i = first; i < first + count;) {
        uint32_t j = i + 1;

        if (s->mig[i].phase != MIG_READ) {
            i++;
            continue;
        }
        while (td->runs && j < first + count && s->mig[j].phase == MIG_READ &&
               s->mig[j].dst_slot == s->mig[j - 1].dst_slot + 1) {
            j++;
        }
        for (uint32_t k = i; k < j; k++) {
            s->mig[k].phase = MIG_WRITE;
            s->mig[k].status = DM_OK;
        }
        dm_store_group_io_locked(s, i, j - i, DM_STORE_OP_WRITE);
        i = j;
    }
    if (lead->pending == 0) {
        dm_store_group_done_locked(s, first);
    }
}

/* The group's writes are done: commit or end each member, free the records. */
static void dm_store_group_done_locked(dm_store_t *s, uint32_t first)
{
    unsigned count = s->mig[first].count;

    for (uint32_t i = first; i < first + count; i++) {
        dm_store_mig_t *mig = &s->mig[i];

        if (mig->phase != MIG_WRITE) {
            continue;
        }
        if (mig->status == DM_ERR_NO_SPACE) {
            dm_store_end_locked(s, mig, DM_MIGRATE_NO_SPACE);
        } else if (mig->status != DM_OK) {
            dm_store_end_locked(s, mig, DM_MIGRATE_IO_ERROR);
        } else {
            dm_store_commit_locked(s, mig); /* may wait for pins */
        }
    }
    dm_store_mig_release_locked(s, first, count);
}

/* One finished tier operation of a group. */
static void dm_store_io_done_locked(dm_store_t *s, dm_store_io_t *io)
{
    dm_store_mig_t *mig = io->arg;
    uint32_t i = (uint32_t)(mig - s->mig), first = mig->lead;
    dm_store_mig_t *lead = &s->mig[first];

    for (unsigned k = 0; k < mig->iopages; k++) {
        s->mig[i + k].status = io->status;
    }
    assert(lead->pending > 0);
    if (--lead->pending > 0) {
        return;
    }
    if (lead->gphase == MIG_READ) {
        dm_store_group_read_done_locked(s, first);
    } else {
        dm_store_group_done_locked(s, first);
    }
}

/* Reaps up to max finished operations of tier t, without waiting. */
static unsigned dm_store_reap_locked(dm_store_t *s, unsigned t, unsigned max)
{
    dm_store_io_t *done[REAP_BATCH];
    unsigned k = 0;
    dm_status_t st;

    max = DM_MIN(max, REAP_BATCH);
    dm_store_io_enter(s, t);
    st = dm_store_tier_poll(s->t[t].tier, 0, done, max, &k);
    dm_store_io_leave(s, t);
    if (st != DM_OK) {
        return 0; /* nothing lost: poll again later */
    }
    for (unsigned i = 0; i < k; i++) {
        assert(s->t[t].ops > 0);
        s->t[t].ops--;
        dm_store_io_done_locked(s, done[i]);
    }
    return k;
}

/* Reaps what every tier finished; returns how many. */
static unsigned dm_store_reap_all_locked(dm_store_t *s)
{
    unsigned k = 0;

    for (unsigned t = 0; t < s->ntiers; t++) {
        if (s->t[t].ops > 0) {
            k += dm_store_reap_locked(s, t, REAP_BATCH);
        }
    }
    return k;
}

/*
 * A thread waiting for a migration of a page: helps the engine (reaps what
 * finished: a test without a worker, or a worker that sleeps, does not hold
 * it up), and when there was nothing, sleeps a little on s->cond.
 * pre: s->lock; no pin held by this thread.
 */
static void dm_store_wait_locked(dm_store_t *s)
{
    if (dm_store_reap_all_locked(s) == 0) {
        dm_store_cond_wait_short(s);
    }
}

static unsigned dm_store_start_locked(dm_store_t *s, uint64_t now_ns, unsigned max);
static uint64_t dm_store_now_locked(dm_store_t *s);

/*
 * A demand thread after a miss does the engine's routine work in passing:
 * starts the demotions once demote_batch are queued (sorted into runs and
 * submitted with one system call: one doorbell of the device, where one per
 * page costs a VM exit each), and reaps what finished. So the worker is
 * not woken per page, and demotions keep pace with the misses that cause
 * them. pre: s->lock; no pin held by this thread.
 */
static void dm_store_help_locked(dm_store_t *s)
{
    if (dm_migrate_queued_class(s->sched, DM_MIGRATE_PRESSURE) >= s->demote_batch) {
        (void)dm_store_start_locked(s, dm_store_now_locked(s), START_BATCH);
    }
    (void)dm_store_reap_all_locked(s);
}

/* Sort key of an action: its pair, then the slot that makes neighbours. */
typedef struct dm_store_start {
    uint64_t key;
    uint32_t idx;
} dm_store_start_t;

static int dm_store_start_cmp(const void *a, const void *b)
{
    const dm_store_start_t *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

/* 1 when the action a can start: the page did not move, is not written now, ... */
static int dm_store_start_ok(const dm_store_t *s, const dm_migrate_action_t *a)
{
    const dm_store_page_t *pg = &s->pages[a->page];

    return pg->tier == a->from && pg->writers == 0 &&
           !(pg->flags & (PG_MOVING | PG_PLACING)) &&
           (a->cls != DM_MIGRATE_PRESSURE || (pg->flags & PG_VICTIM));
}

/*
 * The slot a move of page into tier `to` would write: its own copy there,
 * else its home slot when free; NOSLOT when neither (no run can form).
 */
static uint32_t dm_store_dst_hint(const dm_store_t *s, uint64_t page, unsigned to)
{
    const dm_store_page_t *pg = &s->pages[page];
    uint32_t home;

    if (pg->cslot != NOSLOT && pg->ctier == to) {
        return pg->cslot;
    }
    home = dm_store_home(s, to, page);
    return dm_store_slot_is_free(s, to, home) ? home : NOSLOT;
}

/*
 * Starts what dm_migrate_next admitted, in groups (see the essay): reserves
 * the destinations, flags the pages, submits the reads. A page moving into
 * its own copy needs no room: clean (and not pinned), it is dropped at once
 * and its migration completes without I/O; dirty, the copy slot is its
 * destination.
 */
static void dm_store_start_batch_locked(dm_store_t *s, const dm_migrate_action_t *acts,
                                        unsigned n)
{
    dm_store_start_t order[START_BATCH];
    unsigned k = 0, room[DM_STORE_MAX_TIERS];

    assert(n <= START_BATCH);
    for (unsigned t = 0; t < s->ntiers; t++) {
        room[t] = (unsigned)DM_MIN(s->t[t].nfree, UINT32_MAX);
    }
    for (unsigned i = 0; i < n; i++) {
        const dm_migrate_action_t *a = &acts[i];
        const dm_store_page_t *pg = &s->pages[a->page];
        uint64_t where;

        int own = pg->cslot != NOSLOT && pg->ctier == a->to;

        /* the page moved otherwise, is written right now, or is no longer
         * a victim: nothing to do (the tokens are spent; rare) */
        if (!dm_store_start_ok(s, a) || (!own && room[a->to] == 0)) {
            (void)dm_migrate_complete(s->sched, a->page, DM_MIGRATE_CANCELED);
            continue;
        }
        if (own && dm_store_can_drop(s, pg)) {
            dm_store_drop_locked(s, a->page, 0);
            (void)dm_migrate_complete(s->sched, a->page, DM_MIGRATE_OK);
            continue;
        }
        if (!own) {
            room[a->to]--;
        }
        where = s->t[a->from].runs ? pg->slot
                                   : s->t[a->to].runs ? dm_store_dst_hint(s, a->page, a->to)
                                                      : a->page;
        order[k].key = ((uint64_t)a->from << 60) | ((uint64_t)a->to << 56) |
                       (where & ((1ull << 56) - 1));
        order[k].idx = i;
        k++;
    }
    qsort(order, k, sizeof(order[0]), dm_store_start_cmp);
    for (unsigned i = 0; i < k;) {
        const dm_migrate_action_t *a = &acts[order[i].idx];
        const dm_store_tstate_t *tf = &s->t[a->from], *tt = &s->t[a->to];
        unsigned limit = 1, j = i + 1, got;
        uint32_t first;

        if (tf->runs || tt->runs) {
            limit = RUN_MAX;
            limit = tf->runs ? DM_MIN(limit, tf->max_run) : limit;
            limit = tt->runs ? DM_MIN(limit, tt->max_run) : limit;
        }
        while (j < k && j - i < limit) {
            const dm_migrate_action_t *b = &acts[order[j].idx], *p = &acts[order[j - 1].idx];
            uint32_t hb = dm_store_dst_hint(s, b->page, b->to);
            uint32_t hp = dm_store_dst_hint(s, p->page, p->to);

            if (b->from != a->from || b->to != a->to ||
                (tf->runs && s->pages[b->page].slot != s->pages[p->page].slot + 1) ||
                (tt->runs && (hb == NOSLOT || hp == NOSLOT || hb != hp + 1))) {
                break;
            }
            j++;
        }
        first = dm_store_mig_alloc_locked(s, j - i, &got);
        j = i + got;
        s->mig[first].count = (uint16_t)got;
        s->mig[first].pending = 0;
        s->mig[first].gphase = MIG_READ;
        for (unsigned m = 0; m < got; m++) {
            const dm_migrate_action_t *b = &acts[order[i + m].idx];
            dm_store_mig_t *mig = &s->mig[first + m];
            dm_store_page_t *pg = &s->pages[b->page];

            mig->page = b->page;
            mig->src = b->from;
            mig->dst = b->to;
            mig->cls = (uint8_t)b->cls;
            mig->src_slot = pg->slot;
            mig->own = pg->cslot != NOSLOT && pg->ctier == b->to;
            if (mig->own) {
                mig->dst_slot = pg->cslot;
                pg->flags |= PG_DIRTY; /* the copy is overwritten from now on */
            } else {
                mig->dst_slot = dm_store_slot_take_locked(s, b->to, b->page);
            }
            mig->lead = first;
            mig->status = DM_OK;
            mig->iopages = 0;
            mig->phase = MIG_READ;
            pg->flags |= PG_MOVING | PG_READING;
        }
        if (tf->runs && got > 1) {
            dm_store_group_io_locked(s, first, got, DM_STORE_OP_READ);
        } else {
            for (unsigned m = 0; m < got; m++) {
                dm_store_group_io_locked(s, first + m, 1, DM_STORE_OP_READ);
            }
        }
        if (s->mig[first].pending == 0) { /* every submission was refused */
            dm_store_group_read_done_locked(s, first);
        }
        i = j;
    }
}

/*
 * Starts what the scheduler admits at now_ns, at most max (and START_BATCH);
 * returns how many. pre: s->lock.
 */
static unsigned dm_store_start_locked(dm_store_t *s, uint64_t now_ns, unsigned max)
{
    dm_migrate_action_t actions[START_BATCH];
    dm_migrate_room_t room;
    unsigned n;

    if (s->nmig_free == 0 || dm_migrate_queued(s->sched) == 0) {
        return 0;
    }
    max = DM_MIN(DM_MIN(s->nmig_free, max), START_BATCH);
    memset(&room, 0, sizeof(room));
    for (unsigned t = 0; t < s->ntiers; t++) {
        const dm_store_tstate_t *ts = &s->t[t];
        uint64_t used = ts->info.capacity - ts->nfree;

        room.room[t] = ts->nfree;
        room.room_bg[t] = used < ts->high ? DM_MIN(ts->nfree, ts->high - used) : 0;
    }
    /* tier 0 only receives promotions: the engine's stop at its high
     * watermark, DEMAND too; the slots above are the room of the reads that
     * promote pages themselves (dm_store_read) */
    room.room[0] = room.room_bg[0];
    n = dm_migrate_next(s->sched, now_ns, &room, actions, max);
    dm_store_start_batch_locked(s, actions, n);
    return n;
}

/*
 * The time a thread that is not the engine's driver starts migrations at:
 * with a worker, the real clock (the worker's); without one, the last time
 * the caller gave dm_store_progress (tokens only refill when it says so).
 */
static uint64_t dm_store_now_locked(dm_store_t *s)
{
    if (s->worker) {
        s->last_now = DM_MAX(s->last_now, dm_time_ns());
    }
    return s->last_now;
}

dm_status_t dm_store_progress(dm_store_t *s, uint64_t now_ns, unsigned max_steps)
{
    unsigned steps = 0, limit = max_steps ? max_steps : UINT32_MAX;
    dm_status_t ret;

    dm_store_lock(s);
    if (now_ns < s->last_now) {
        now_ns = s->last_now;
    }
    s->last_now = now_ns;
    for (;;) {
        unsigned did = 0;

        if (steps < limit) {
            unsigned n = dm_store_start_locked(s, now_ns, limit - steps);

            steps += n;
            did += n;
        }
        for (unsigned t = 0; t < s->ntiers && steps < limit; t++) {
            if (s->t[t].ops > 0) {
                unsigned k = dm_store_reap_locked(s, t, limit - steps);

                steps += k;
                did += k;
            }
        }
        if (did == 0 || steps >= limit) {
            break;
        }
    }
    ret = (dm_migrate_queued(s->sched) > 0 || dm_migrate_in_flight(s->sched) > 0)
              ? DM_INPROGRESS : DM_OK;
    dm_store_unlock(s);
    return ret;
}
/* ------------------------------------------------------------------------ */
/* Read-ahead.                                                               */

/*
 * A demand read of page (budget mode, read-ahead on): follows the stream it
 * continues, or starts a new one in the least recently used entry, and asks
 * the next window of a sequential stream up to tier 0 (see the essay).
 * Pages never written, in tier 0 or moving are skipped; a full queue stops
 * the batch (the rest is asked at the next read).
 */
static void dm_store_readahead_locked(dm_store_t *s, uint64_t page)
{
    dm_store_stream_t *st = NULL, *old = &s->streams[0];
    uint64_t end, q;

    s->ra_clock++;
    for (unsigned i = 0; i < RA_STREAMS; i++) {
        dm_store_stream_t *e = &s->streams[i];

        if (e->run > 0 && e->next == page) {
            st = e;
            break;
        }
        if (e->used < old->used) {
            old = e;
        }
    }
    if (st == NULL) {
        *old = (dm_store_stream_t){ .next = page + 1, .ra_end = page + 1, .used = s->ra_clock,
                                    .run = 1, .window = 0 };
        return;
    }
    st->next = page + 1;
    st->used = s->ra_clock;
    if (st->run < UINT32_MAX) {
        st->run++;
    }
    if (st->run < RA_TRIGGER) {
        return;
    }
    if (st->ra_end < page + 1) {
        st->ra_end = page + 1;
    }
    if (st->ra_end > page + 1 + st->window / 2) {
        return; /* more than half the window is still ahead */
    }
    st->window = st->window ? DM_MIN(s->ra_max, 2 * st->window) : DM_MIN(s->ra_max, RA_MIN);
    end = DM_MIN(s->npages, page + 1 + st->window);
    for (q = st->ra_end; q < end; q++) {
        const dm_store_page_t *qp = &s->pages[q];

        if (qp->tier == NOWHERE || qp->tier == 0 || (qp->flags & (PG_MOVING | PG_PLACING))) {
            continue;
        }
        if (dm_store_request_locked(s, q, qp->tier, 0, DM_MIGRATE_HINT) == DM_MIGRATE_REJECTED) {
            break;
        }
        s->readahead++;
    }
    if (q > st->ra_end) {
        /* start them now (one run read), not when the worker next wakes */
        (void)dm_store_start_locked(s, dm_store_now_locked(s), START_BATCH);
    }
    st->ra_end = q;
}

/* ------------------------------------------------------------------------ */
/* Demand access.                                                            */

static dm_status_t dm_store_check_access(const dm_store_t *s, uint64_t page, const void *buf,
                                         const char *what)
{
    if (page >= s->npages) {
        return dm_error_set(DM_ERR_OUT_OF_RANGE, "store: %s of page %llu: the store has %llu",
                            what, (unsigned long long)page, (unsigned long long)s->npages);
    }
    if (buf == NULL || (uintptr_t)buf % s->buf_align != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "store: %s of page %llu: buffer %p NULL or not aligned to %zu",
                            what, (unsigned long long)page, buf, s->buf_align);
    }
    return DM_OK;
}

static void dm_store_unpin_locked(dm_store_t *s, dm_store_page_t *pg, int writer)
{
    assert(pg->pins > 0);
    pg->pins--;
    if (writer) {
        pg->writers--;
    }
    if (pg->pins == 0 || writer) { /* a commit, or the next writer, waits */
        pthread_cond_broadcast(&s->cond);
    }
}

/* 1 when page (outside tier 0) is on its way up to tier 0 and will get there. */
static int dm_store_promoting_locked(const dm_store_t *s, uint64_t page)
{
    const dm_store_page_t *pg = &s->pages[page];
    unsigned to = 0;

    return pg->tier != NOWHERE && pg->tier > 0 && (pg->flags & (PG_MOVING | PG_STALE)) ==
           PG_MOVING && dm_migrate_state(s->sched, page, NULL, &to, NULL) ==
           DM_MIGRATE_RUNNING && to == 0;
}

/*
 * Budget mode: a demand read of page, living in tier t > 0, moves it to
 * tier 0 itself (see the essay): the source is read into buf and copied to a
 * reserved slot of tier 0 without the lock, then committed. Returns 1 when
 * it did the read (*st_p: the read's status; a failed promotion after a good
 * read is counted, not returned), 0 when the move was not admitted (no free
 * slot in tier 0 or record, the budget, max_in_flight): read in place then.
 * pre: s->lock; the page is not moving, placing or committing.
 */
static int dm_store_read_promote_locked(dm_store_t *s, uint64_t page, void *buf,
                                        dm_status_t *st_p)
{
    dm_store_page_t *pg = &s->pages[page];
    unsigned t = pg->tier, got;
    uint32_t idx, src_slot, dst_slot;
    dm_store_mig_t *mig;
    dm_status_t st, wst;

    if (s->t[0].nfree == 0 || s->nmig_free == 0 || pg->writers > 0) {
        return 0;
    }
    if (!dm_migrate_start(s->sched, page, t, 0, DM_MIGRATE_DEMAND, dm_store_now_locked(s))) {
        return 0;
    }
    idx = dm_store_mig_alloc_locked(s, 1, &got);
    mig = &s->mig[idx];
    mig->page = page;
    mig->src = (uint8_t)t;
    mig->dst = 0;
    mig->cls = DM_MIGRATE_DEMAND;
    mig->src_slot = src_slot = pg->slot;
    mig->dst_slot = dst_slot = dm_store_slot_take_locked(s, 0, page);
    mig->own = 0; /* copies live below their page: none in tier 0 */
    mig->lead = idx;
    mig->count = 1;
    mig->pending = 0;
    mig->phase = MIG_SYNC;
    pg->flags |= PG_MOVING | PG_READING;
    s->reader_moves++;
    dm_store_unlock(s);
    st = dm_store_io_read(s, t, src_slot, buf);
    wst = st == DM_OK ? dm_store_io_write(s, 0, dst_slot, buf) : st;
    dm_store_relock(s);
    pg->flags &= (uint8_t)~PG_READING;
    pthread_cond_broadcast(&s->cond);
    if (st != DM_OK) {
        dm_store_end_locked(s, mig, DM_MIGRATE_IO_ERROR);
    } else if (wst == DM_ERR_NO_SPACE) {
        dm_store_end_locked(s, mig, DM_MIGRATE_NO_SPACE);
    } else if (wst != DM_OK) {
        dm_store_end_locked(s, mig, DM_MIGRATE_IO_ERROR);
    } else {
        dm_store_commit_locked(s, mig); /* nobody wrote: writers waited for READING */
    }
    dm_store_mig_release_locked(s, idx, 1);
    dm_store_help_locked(s);
    *st_p = st;
    return 1;
}

/*
 * The lock-free read of page (see the essay): 1 when buf holds the page's
 * current data, copied from its dram slot; 0 when its word is hidden or
 * changed during each of FAST_TRIES copies (then buf is unspecified).
 * The memcpy may overlap a write of the slot (a copy then thrown away):
 * the seqlock's data race, hidden from ThreadSanitizer (DM_STORE_RACY_*).
 */
static int dm_store_read_fast(dm_store_t *s, uint64_t page, void *buf)
{
    _Atomic uint64_t *word = &s->fast[page];

    for (unsigned i = 0; i < FAST_TRIES; i++) {
        uint64_t w = atomic_load_explicit(word, memory_order_acquire);

        if (!FAST_VALID(w)) {
            return 0;
        }
        DM_STORE_RACY_BEGIN();
        memcpy(buf, s->fast_mem + (size_t)(uint32_t)w * s->page_size, s->page_size);
        DM_STORE_RACY_END();
        atomic_thread_fence(memory_order_acquire); /* the copy before the second look */
        if (atomic_load_explicit(word, memory_order_relaxed) == w) {
            return 1;
        }
    }
    return 0;
}

/* 1 when this thread's last read was of page - 1 of s (a stream, perhaps). */
static int dm_store_tls_follows(const dm_store_t *s, uint64_t page)
{
    return dm_store_tls.store == s && page == dm_store_tls.page + 1;
}

/*
 * 1 when a read of page by this thread would be at least the RA_TRIGGER-th
 * in sequence: it must take the locked path, for read-ahead to follow the
 * stream. Earlier reads in sequence may be lock-free: the locked one tells
 * the streams of them first (dm_store_tls_unseen).
 */
static int dm_store_tls_streaming(const dm_store_t *s, uint64_t page)
{
    return dm_store_tls_follows(s, page) && dm_store_tls.run + 1 >= RA_TRIGGER;
}

/* The pages just before page, in sequence, that this thread read lock-free. */
static unsigned dm_store_tls_unseen(const dm_store_t *s, uint64_t page)
{
    return dm_store_tls_follows(s, page) ? dm_store_tls.unseen : 0;
}

/* This thread read page of s, lock-free or not. */
static void dm_store_tls_note(const dm_store_t *s, uint64_t page, int fast)
{
    dm_store_tls_t *m = &dm_store_tls;
    int follows = dm_store_tls_follows(s, page);

    m->run = follows ? DM_MIN(m->run + 1, RA_TRIGGER) : 1;
    m->unseen = !fast ? 0 : follows ? m->unseen + 1 : 1;
    m->store = s;
    m->page = page;
}

dm_status_t dm_store_read(dm_store_t *s, uint64_t page, void *buf)
{
    dm_store_page_t *pg;
    dm_status_t st;
    unsigned t;
    uint32_t gen;
    int whole = 1; /* no write of the slot overlapped the read (cache mode moves it) */

    st = dm_store_check_access(s, page, buf, "read");
    if (st != DM_OK) {
        return st;
    }
    if (s->fast != NULL && !(s->ra_max > 0 && dm_store_tls_streaming(s, page)) &&
        dm_store_read_fast(s, page, buf)) {
        dm_store_touch_defer(s, page);
        dm_store_tls_note(s, page, 1);
        return DM_OK;
    }
    dm_store_lock_demand(s);
    pg = &s->pages[page];
    for (;;) {
        if (pg->flags & (PG_COMMIT | PG_PLACING)) {
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        if (dm_store_promoting_locked(s, page)) {
            /* read-ahead, or another reader, brings it up: wait for that
             * rather than read the device a second time */
            dm_store_wait_locked(s);
            continue;
        }
        break;
    }
    if (pg->tier == NOWHERE) {
        s->zero_reads++;
        dm_store_unlock(s);
        memset(buf, 0, s->page_size);
        dm_store_tls_note(s, page, 0);
        return DM_OK;
    }
    dm_store_touch_locked(s, page, 0); /* never moves the page itself */
    if (s->ra_max > 0) {
        for (uint64_t q = page - dm_store_tls_unseen(s, page); q < page; q++) {
            dm_store_readahead_locked(s, q); /* read lock-free: the streams see it now */
        }
        dm_store_readahead_locked(s, page);
    }
    dm_store_tls_note(s, page, 0);
    t = pg->tier;
    gen = pg->gen;
    if (dm_store_tier_fast(s, t)) {
        st = dm_store_io_read(s, t, pg->slot, buf);
    } else if (t > 0 && !s->cache_mode && !(pg->flags & PG_MOVING) &&
               dm_store_read_promote_locked(s, page, buf, &st)) {
        dm_store_fast_publish_locked(s, page); /* in tier 0 now, unless it failed */
        dm_store_unlock(s);
        return st;
    } else {
        uint32_t slot = pg->slot;

        /* a writer pinned now writes the slot while we read it (its gen++
         * came before ours): buf may be old, or a mix, so it must not
         * become the page's data in tier 0; one that starts later bumps gen */
        whole = pg->writers == 0;
        pg->pins++;
        dm_store_unlock(s);
        st = dm_store_io_read(s, t, slot, buf);
        dm_store_relock(s);
        dm_store_unpin_locked(s, pg, 0);
    }
    if (st == DM_OK && t > 0) {
        if (!s->cache_mode) {
            (void)dm_store_request_locked(s, page, t, 0, DM_MIGRATE_DEMAND);
            dm_store_help_locked(s);
        } else if (whole && pg->tier == t && pg->gen == gen && pg->pins == 0 &&
                   !(pg->flags & (PG_MOVING | PG_COMMIT | PG_PLACING))) {
            (void)dm_store_top_sync_locked(s, page, buf, 0); /* counted */
        }
    }
    if (st == DM_OK) {
        dm_store_fast_publish_locked(s, page); /* the next read of it takes no lock */
    }
    dm_store_unlock(s);
    return st;
}

dm_status_t dm_store_write(dm_store_t *s, uint64_t page, const void *buf)
{
    dm_store_page_t *pg;
    dm_status_t st;
    unsigned t;

    st = dm_store_check_access(s, page, buf, "write");
    if (st != DM_OK) {
        return st;
    }
    dm_store_lock_demand(s);
    pg = &s->pages[page];
    for (;;) {
        if ((pg->flags & (PG_COMMIT | PG_PLACING)) || pg->writers > 0) {
            /* one writer of a page at a time: the page holds one whole write */
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        if (pg->tier != NOWHERE && (pg->flags & PG_READING)) {
            /* the migration's read of the source is in flight: finish it
             * (help: reap the source tier ourselves), then look again */
            if (s->t[pg->tier].ops == 0 || dm_store_reap_locked(s, pg->tier, REAP_BATCH) == 0) {
                dm_store_cond_wait_short(s);
            }
            continue;
        }
        break;
    }
    dm_store_fast_hide_locked(s, page); /* its bytes change: lock-free reads wait */
    if (pg->tier == NOWHERE) {
        st = dm_store_place_locked(s, page, buf);
        goto unlock;
    }
    dm_store_touch_locked(s, page, 1);
    t = pg->tier;
    if (pg->cslot != NOSLOT) {
        /* before the data changes, in this critical section: from here its
         * copy is old, so no demotion drops it (dm_store_can_drop) */
        pg->flags |= PG_DIRTY;
    }
    if (pg->flags & PG_MOVING) {
        pg->flags |= PG_STALE; /* the copy being made is old: dropped at the commit */
    } else if (s->cache_mode && t > 0 && pg->pins == 0 &&
               dm_store_top_sync_locked(s, page, buf, 1) == DM_OK) {
        st = DM_OK; /* the new data went to tier 0, the old slot is free */
        goto unlock;
    }
    pg->gen++;
    if (dm_store_tier_fast(s, t)) {
        st = dm_store_io_write(s, t, pg->slot, buf);
    } else {
        uint32_t slot = pg->slot;

        pg->pins++;
        pg->writers++;
        dm_store_unlock(s);
        st = dm_store_io_write(s, t, slot, buf);
        dm_store_relock(s);
        dm_store_unpin_locked(s, pg, 1);
    }
    if (st == DM_OK && t > 0 && !s->cache_mode) {
        (void)dm_store_request_locked(s, page, t, 0, DM_MIGRATE_DEMAND);
    }
unlock:
    dm_store_fast_publish_locked(s, page);
    dm_store_unlock(s);
    return st;
}
/* ------------------------------------------------------------------------ */
/* Advice, prefetch, scan.                                                   */

static dm_status_t dm_store_check_range(const dm_store_t *s, uint64_t first, uint64_t n,
                                        const char *what)
{
    if (first > s->npages || n > s->npages - first) {
        return dm_error_set(DM_ERR_OUT_OF_RANGE,
                            "store: %s of pages %llu + %llu: the store has %llu", what,
                            (unsigned long long)first, (unsigned long long)n,
                            (unsigned long long)s->npages);
    }
    return DM_OK;
}

dm_status_t dm_store_advise(dm_store_t *s, uint64_t first_page, uint64_t npages,
                            dm_advice_t advice)
{
    dm_status_t st = dm_store_check_range(s, first_page, npages, "advise");

    if (st != DM_OK) {
        return st;
    }
    if ((unsigned)advice >= DM_ADVICE_COUNT) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: advise: unknown advice %d",
                            (int)advice);
    }
    dm_store_lock(s);
    for (uint64_t p = first_page; p < first_page + npages; p++) {
        dm_store_page_t *pg = &s->pages[p];

        if (advice == DM_ADVICE_NONE || advice == DM_ADVICE_READ_MOSTLY ||
            advice == DM_ADVICE_PREFERRED_TIER) {
            pg->advice = (uint8_t)advice;
        }
        if (pg->tier != NOWHERE && !(pg->flags & PG_VICTIM)) {
            (void)dm_policy_advise(s->t[pg->tier].policy, p, advice); /* NOT_FOUND: fine */
        }
    }
    dm_store_unlock(s);
    return DM_OK;
}

dm_status_t dm_store_prefetch(dm_store_t *s, uint64_t first_page, uint64_t npages,
                              unsigned tier_index)
{
    dm_status_t st = dm_store_check_range(s, first_page, npages, "prefetch");
    uint64_t rejected = 0;

    if (st != DM_OK) {
        return st;
    }
    if (tier_index >= s->ntiers) {
        return dm_error_set(DM_ERR_OUT_OF_RANGE, "store: prefetch to tier %u: the store has %u",
                            tier_index, s->ntiers);
    }
    dm_store_lock(s);
    for (uint64_t p = first_page; p < first_page + npages; p++) {
        const dm_store_page_t *pg = &s->pages[p];

        if (pg->tier == NOWHERE || pg->tier == tier_index) {
            continue;
        }
        if (dm_store_request_locked(s, p, pg->tier, tier_index, DM_MIGRATE_HINT) ==
            DM_MIGRATE_REJECTED) {
            rejected++;
        }
    }
    dm_store_unlock(s);
    if (rejected > 0) {
        return dm_error_set(DM_ERR_BUSY, "store: prefetch: %llu of %llu pages rejected, the "
                            "migration queue is full", (unsigned long long)rejected,
                            (unsigned long long)npages);
    }
    return DM_OK;
}

dm_status_t dm_store_scan(dm_store_t *s)
{
    dm_store_lock(s);
    for (uint64_t p = 0; p < s->npages; p++) {
        dm_store_page_t *pg = &s->pages[p];

        if (pg->tier == NOWHERE) {
            continue;
        }
        if ((pg->flags & (PG_VICTIM | PG_MOVING)) == PG_VICTIM) {
            (void)dm_store_request_locked(s, p, pg->tier, pg->tier + 1u, DM_MIGRATE_PRESSURE);
        } else if (pg->tier > 0 && pg->hits >= s->scan_threshold && !(pg->flags & PG_MOVING)) {
            (void)dm_store_request_locked(s, p, pg->tier, pg->tier - 1u, DM_MIGRATE_SCAN);
        }
        pg->hits = 0;
    }
    dm_store_unlock(s);
    return DM_OK;
}

dm_status_t dm_store_flush(dm_store_t *s)
{
    dm_status_t ret = DM_OK;

    for (unsigned t = 0; t < s->ntiers; t++) {
        dm_status_t st;

        dm_store_io_enter(s, t);
        st = dm_store_tier_flush(s->t[t].tier);
        dm_store_io_leave(s, t);
        if (st != DM_OK && ret == DM_OK) {
            ret = st; /* the first error's detail stays; the other tiers still flush */
        }
    }
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Queries.                                                                  */

void dm_store_stats(dm_store_t *s, dm_store_stats_t *out)
{
    dm_migrate_counters_t c;
    uint64_t fast = 0;

    memset(out, 0, sizeof(*out));
    dm_store_lock(s);
    dm_migrate_counters(s->sched, &c);
    for (unsigned k = 0; s->touchq != NULL && k < TOUCH_STRIPES; k++) {
        fast += atomic_load_explicit(&s->touchq[k].hits, memory_order_relaxed);
    }
    out->ntiers = s->ntiers;
    out->page_size = s->page_size;
    for (unsigned t = 0; t < s->ntiers; t++) {
        const dm_store_tstate_t *ts = &s->t[t];
        dm_store_tier_stats_t *o = &out->tier[t];

        o->name = ts->info.name;
        o->kind = ts->info.kind;
        o->distance = ts->info.distance;
        o->capacity = ts->info.capacity;
        o->used = ts->info.capacity - ts->nfree;
        o->pages = ts->pages;
        o->victims = ts->victims;
        o->copies = ts->copies;
        o->target = ts->target;
        o->hits = ts->hits + (t == 0 ? fast : 0);
        o->misses = ts->misses;
        for (unsigned d = 0; d < s->ntiers; d++) {
            out->bytes_admitted[t][d] = c.bytes_started[t][d];
            out->bytes_moved[t][d] = s->bytes_moved[t][d];
        }
    }
    out->zero_reads = s->zero_reads;
    for (unsigned k = 0; k < DM_MIGRATE_CLASS_COUNT; k++) {
        out->requested[k] = c.requested[k] + s->sync_requested[k];
        out->rejected[k] = c.rejected[k];
        out->started[k] = c.started[k] + s->sync_requested[k];
        out->done[k] = c.done[k] + s->sync_done[k];
        out->queued += c.queued[k];
    }
    out->merged = c.merged;
    out->no_space = c.ended[DM_MIGRATE_NO_SPACE] + s->sync_no_space;
    out->io_error = c.ended[DM_MIGRATE_IO_ERROR] + s->sync_io_error;
    out->stale = c.ended[DM_MIGRATE_STALE];
    out->canceled = c.ended[DM_MIGRATE_CANCELED] + c.canceled_queued;
    out->sync_moves = s->sync_moves;
    out->in_flight = c.in_flight;
    out->bytes_demand = s->bytes_demand;
    out->bytes_background = s->bytes_background;
    out->readahead = s->readahead;
    out->reader_moves = s->reader_moves;
    out->clean_drops = s->clean_drops;
    out->fast_reads = fast;
    out->touches_dropped = atomic_load_explicit(&s->touches_dropped, memory_order_relaxed);
    dm_store_unlock(s);
}

size_t dm_store_buf_align(const dm_store_t *s) { return s->buf_align; }
size_t dm_store_page_size(const dm_store_t *s) { return s->page_size; }
uint64_t dm_store_npages(const dm_store_t *s) { return s->npages; }
unsigned dm_store_ntiers(const dm_store_t *s) { return s->ntiers; }

int dm_store_page_tier(dm_store_t *s, uint64_t page)
{
    int t;

    if (page >= s->npages) {
        return -1;
    }
    dm_store_lock(s);
    t = s->pages[page].tier == NOWHERE ? -1 : (int)s->pages[page].tier;
    dm_store_unlock(s);
    return t;
}

dm_status_t dm_store_check(dm_store_t *s)
{
    uint64_t pages[DM_STORE_MAX_TIERS] = {0}, victims[DM_STORE_MAX_TIERS] = {0};
    uint64_t reserved[DM_STORE_MAX_TIERS] = {0}, copies[DM_STORE_MAX_TIERS] = {0};
    uint8_t *seen[DM_STORE_MAX_TIERS] = {0};
    char *home_buf = aligned_alloc(s->buf_align, s->page_size);
    char *copy_buf = aligned_alloc(s->buf_align, s->page_size);
    dm_status_t st = DM_OK;

    dm_store_lock(s);
    if (home_buf == NULL || copy_buf == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "store: check: no memory");
        goto out;
    }
    for (unsigned t = 0; t < s->ntiers; t++) {
        seen[t] = calloc(s->t[t].info.capacity, 1);
        if (seen[t] == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "store: check: no memory");
            goto out;
        }
        for (uint64_t i = 0; i < s->t[t].nfree; i++) {
            uint32_t slot = s->t[t].free[i];

            if (s->t[t].pos[slot] != i) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: tier %u: free slot %u at %llu "
                                  "of the stack, its position says %u", t, slot,
                                  (unsigned long long)i, s->t[t].pos[slot]);
                goto out;
            }
            seen[t][slot] = 1;
        }
    }
    for (uint32_t i = 0; i < s->max_in_flight; i++) {
        const dm_store_mig_t *mig = &s->mig[i];

        if ((mig->phase == MIG_READ || mig->phase == MIG_WRITE || mig->phase == MIG_SYNC) &&
            !mig->own) { /* an own copy slot is counted with its page */
            reserved[mig->dst]++;
            if (seen[mig->dst][mig->dst_slot]++) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: tier %u slot %u reserved "
                                  "twice or free", mig->dst, mig->dst_slot);
                goto out;
            }
        }
    }
    for (uint64_t p = 0; p < s->npages; p++) {
        const dm_store_page_t *pg = &s->pages[p];

        for (unsigned t = 0; t < s->ntiers; t++) {
            int res = dm_policy_where_resident(dm_policy_lookup(s->t[t].policy, p));
            int want = pg->tier == t && !(pg->flags & PG_VICTIM);

            if (res != want) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu (tier %d, flags "
                                  "%#x) is%s resident in tier %u's policy",
                                  (unsigned long long)p, pg->tier == NOWHERE ? -1 : pg->tier,
                                  pg->flags, res ? "" : " not", t);
                goto out;
            }
        }
        if (s->fast != NULL) {
            uint64_t w = atomic_load_explicit(&s->fast[p], memory_order_relaxed);

            if (FAST_VALID(w) && (pg->tier != 0 || (uint32_t)w != pg->slot || pg->writers > 0 ||
                                  (pg->flags & (PG_VICTIM | PG_COMMIT | PG_PLACING)))) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu (tier %d slot %u, "
                                  "flags %#x, writers %u): its lock-free word is valid for slot "
                                  "%u", (unsigned long long)p,
                                  pg->tier == NOWHERE ? -1 : pg->tier, pg->slot, pg->flags,
                                  pg->writers, (uint32_t)w);
                goto out;
            }
        }
        if (pg->tier == NOWHERE) {
            continue;
        }
        if (pg->tier >= s->ntiers || pg->slot >= s->t[pg->tier].info.capacity ||
            seen[pg->tier][pg->slot]++) {
            st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu at tier %u slot %u: "
                              "out of range, free, reserved or shared", (unsigned long long)p,
                              pg->tier, pg->slot);
            goto out;
        }
        pages[pg->tier]++;
        victims[pg->tier] += (pg->flags & PG_VICTIM) != 0;
        if (pg->cslot == NOSLOT) {
            if (pg->ctier != NOWHERE || (pg->flags & PG_DIRTY)) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu: no copy, yet "
                                  "copy tier %d, flags %#x", (unsigned long long)p,
                                  pg->ctier == NOWHERE ? -1 : pg->ctier, pg->flags);
                goto out;
            }
        } else if (pg->ctier >= s->ntiers || pg->ctier <= pg->tier || !s->t[pg->ctier].keeps ||
                   pg->cslot >= s->t[pg->ctier].info.capacity ||
                   seen[pg->ctier][pg->cslot]++) {
            st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu at tier %u: its copy "
                              "at tier %u slot %u is not below it, in a tier without copies, "
                              "out of range, free, reserved or shared", (unsigned long long)p,
                              pg->tier, pg->ctier, pg->cslot);
            goto out;
        } else {
            copies[pg->ctier]++;
            /* a clean copy holds the page's data (checked when nobody is at
             * the page: a writer or a migration may be mid-way otherwise) */
            if (!(pg->flags & (PG_DIRTY | PG_MOVING | PG_PLACING)) && pg->pins == 0 &&
                dm_store_io_read(s, pg->tier, pg->slot, home_buf) == DM_OK &&
                dm_store_io_read(s, pg->ctier, pg->cslot, copy_buf) == DM_OK &&
                memcmp(home_buf, copy_buf, s->page_size) != 0) {
                st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu: clean, yet its "
                                  "copy (tier %u slot %u) differs from it (tier %u slot %u)",
                                  (unsigned long long)p, pg->ctier, pg->cslot, pg->tier,
                                  pg->slot);
                goto out;
            }
        }
        if (pg->pins != 0 && !s->worker) {
            st = dm_error_set(DM_ERR_PROTOCOL, "store: check: page %llu pinned at rest",
                              (unsigned long long)p);
            goto out;
        }
    }
    for (unsigned t = 0; t < s->ntiers; t++) {
        const dm_store_tstate_t *ts = &s->t[t];

        if (pages[t] != ts->pages || victims[t] != ts->victims || copies[t] != ts->copies ||
            dm_policy_resident(ts->policy) != pages[t] - victims[t] ||
            ts->info.capacity - ts->nfree != pages[t] + reserved[t] + copies[t]) {
            st = dm_error_set(DM_ERR_PROTOCOL, "store: check: tier %u: pages %llu (counted "
                              "%llu), victims %llu (%llu), copies %llu (%llu), policy resident "
                              "%llu, used %llu, reserved %llu", t, (unsigned long long)pages[t],
                              (unsigned long long)ts->pages, (unsigned long long)victims[t],
                              (unsigned long long)ts->victims, (unsigned long long)copies[t],
                              (unsigned long long)ts->copies,
                              (unsigned long long)dm_policy_resident(ts->policy),
                              (unsigned long long)(ts->info.capacity - ts->nfree),
                              (unsigned long long)reserved[t]);
            goto out;
        }
    }
out:
    dm_store_unlock(s);
    for (unsigned t = 0; t < DM_STORE_MAX_TIERS; t++) {
        free(seen[t]);
    }
    free(home_buf);
    free(copy_buf);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The worker.                                                               */

static void *dm_store_worker_main(void *arg)
{
    dm_store_t *s = arg;
    uint64_t next_scan = dm_time_ns() + (uint64_t)s->scan_interval_ms * 1000000ull;

    dm_store_lock(s);
    while (!s->stop) {
        uint64_t now, deadline, when;
        struct timespec ts;

        dm_store_unlock(s);
        now = dm_time_ns();
        (void)dm_store_progress(s, now, 256);
        if (s->scan_interval_ms > 0 && now >= next_scan) {
            (void)dm_store_scan(s);
            next_scan = now + (uint64_t)s->scan_interval_ms * 1000000ull;
        }
        dm_store_lock(s);
        if (s->stop) {
            break;
        }
        if (dm_migrate_in_flight(s->sched) > 0) {
            deadline = now + 50000; /* completions: look again soon */
        } else if (dm_migrate_queued(s->sched) > 0) {
            when = dm_migrate_next_time(s->sched, now);
            /* admissible now yet nothing started: waiting for room */
            deadline = when <= now ? now + 1000000 : DM_MIN(when, now + 100000000);
        } else {
            deadline = now + 100000000;
        }
        if (s->scan_interval_ms > 0 && next_scan < deadline) {
            deadline = next_scan;
        }
        if (!s->kick) {
            ts.tv_sec = (time_t)(deadline / DM_NSEC_PER_SEC);
            ts.tv_nsec = (long)(deadline % DM_NSEC_PER_SEC);
            (void)pthread_cond_timedwait(&s->work, &s->lock, &ts);
        }
        s->kick = 0;
    }
    dm_store_unlock(s);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Create and destroy.                                                       */

static void dm_store_free(dm_store_t *s)
{
    for (unsigned t = 0; t < DM_STORE_MAX_TIERS; t++) {
        dm_store_tstate_t *ts = &s->t[t];

        /* the tier first: it waits for (and drops) operations in flight,
         * which point into mig_bufs */
        dm_store_tier_destroy(ts->tier);
        dm_policy_destroy(ts->policy);
        free(ts->free);
        free(ts->pos);
        if (ts->tier != NULL) {
            pthread_mutex_destroy(&ts->io_lock);
        }
    }
    dm_migrate_destroy(s->sched);
    free((void *)s->fast);
    free(s->touchq);
    free((void *)s->touched);
    free(s->pages);
    free(s->mig);
    free(s->mig_map);
    free(s->mig_bufs);
    free(s->sync_buf);
    free(s);
}

void dm_store_destroy(dm_store_t *s)
{
    if (s == NULL) {
        return;
    }
    if (s->worker) {
        dm_store_lock(s);
        s->stop = 1;
        pthread_cond_signal(&s->work);
        dm_store_unlock(s);
        pthread_join(s->thread, NULL);
    }
    /* migrations in flight are dropped: their pages' index still names the
     * source, which was never touched (see the essay) */
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    dm_store_free(s);
}

static dm_status_t dm_store_check_params(const dm_store_params_t *p)
{
    uint64_t m = p->field_mask;
    size_t ps = (m & DM_STORE_OPT_PAGE_SIZE) ? p->page_size : 4096;

    if (p->tiers == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.tiers is NULL");
    }
    if (p->ntiers == 0 || p->ntiers > DM_STORE_MAX_TIERS) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.ntiers %u not in 1..%u",
                            p->ntiers, DM_STORE_MAX_TIERS);
    }
    if (p->npages == 0 || p->npages > DM_MIGRATE_MAX_PAGES) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.npages %llu not in 1..%llu",
                            (unsigned long long)p->npages, DM_MIGRATE_MAX_PAGES);
    }
    if (ps < 512 || (ps & (ps - 1)) != 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "store: params.page_size %zu is not a power of two >= 512", ps);
    }
    if ((m & DM_STORE_OPT_BUDGET) && !(p->budget_mbs >= 0 && p->budget_mbs * 1e6 <=
                                       (double)DM_BUDGET_RATE_MAX)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "store: params.budget_mbs %g not in 0 .. %llu", p->budget_mbs,
                            DM_BUDGET_RATE_MAX / 1000000ull);
    }
    if ((m & DM_STORE_OPT_BURST) && (p->budget_burst < ps ||
                                     p->budget_burst > DM_BUDGET_BURST_MAX)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "store: params.budget_burst %llu not in page_size (%zu) .. %llu",
                            (unsigned long long)p->budget_burst, ps, DM_BUDGET_BURST_MAX);
    }
    if ((m & DM_STORE_OPT_MAX_IN_FLIGHT) &&
        (p->max_in_flight == 0 || p->max_in_flight > DM_MIGRATE_MAX_FLIGHT)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.max_in_flight %u not in 1..%u",
                            p->max_in_flight, DM_MIGRATE_MAX_FLIGHT);
    }
    if ((m & DM_STORE_OPT_QUEUE_MAX) && p->queue_max == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.queue_max is 0");
    }
    if ((m & DM_STORE_OPT_WATERMARKS) &&
        !(p->low_watermark > 0 && p->low_watermark < p->high_watermark &&
          p->high_watermark <= 1)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.low_watermark %g and "
                            "high_watermark %g: need 0 < low < high <= 1", p->low_watermark,
                            p->high_watermark);
    }
    if ((m & DM_STORE_OPT_READAHEAD) && p->readahead_max > DM_STORE_READAHEAD_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.readahead_max %u not in 0..%u",
                            p->readahead_max, DM_STORE_READAHEAD_MAX);
    }
    if ((m & DM_STORE_OPT_SCAN_THRESHOLD) && p->scan_threshold == 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params.scan_threshold is 0");
    }
    if (p->policies != NULL && (m & DM_STORE_OPT_POLICIES)) {
        for (unsigned i = 0; i < p->ntiers; i++) {
            if (p->policies[i] != NULL && dm_policy_ops_find(p->policies[i]) == NULL) {
                return dm_error_set(DM_ERR_INVALID_PARAM,
                                    "store: params.policies[%u] \"%s\": no such policy (lru, "
                                    "clock, arc, hint)", i, p->policies[i]);
            }
        }
    }
    for (unsigned i = 0; i < p->ntiers; i++) {
        if ((p->tiers[i].field_mask & DM_STORE_PARAM_PAGE_SIZE) && p->tiers[i].page_size != ps) {
            return dm_error_set(DM_ERR_INVALID_PARAM,
                                "store: params.tiers[%u].page_size %zu differs from the "
                                "store's page_size %zu", i, p->tiers[i].page_size, ps);
        }
    }
    return DM_OK;
}

dm_status_t dm_store_create(const dm_store_params_t *p, dm_store_t **store_p)
{
    dm_store_t *s;
    dm_status_t st;
    uint64_t m, rate = 0, burst, total = 0;
    double low = 0.85, high = 0.95;
    unsigned order[DM_STORE_MAX_TIERS];
    dm_store_tier_t *made[DM_STORE_MAX_TIERS] = {0};
    dm_store_tier_info_t info[DM_STORE_MAX_TIERS];
    dm_migrate_params_t mp;
    pthread_condattr_t ca;

    if (p == NULL || store_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "store: params or store_p is NULL");
    }
    st = dm_store_check_params(p);
    if (st != DM_OK) {
        return st;
    }
    m = p->field_mask;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "store: no memory");
    }
    s->ntiers = p->ntiers;
    s->npages = p->npages;
    s->page_size = (m & DM_STORE_OPT_PAGE_SIZE) ? p->page_size : 4096;
    s->max_in_flight = (m & DM_STORE_OPT_MAX_IN_FLIGHT) ? p->max_in_flight : 16;
    s->scan_threshold = (m & DM_STORE_OPT_SCAN_THRESHOLD) ? p->scan_threshold : 2;
    s->scan_interval_ms = (m & DM_STORE_OPT_SCAN_INTERVAL) ? p->scan_interval_ms : 0;
    s->ra_max = (m & DM_STORE_OPT_READAHEAD) ? p->readahead_max : RA_DEFAULT;
    if (m & DM_STORE_OPT_WATERMARKS) {
        low = p->low_watermark;
        high = p->high_watermark;
    }
    if (m & DM_STORE_OPT_BUDGET) {
        rate = (uint64_t)llround(p->budget_mbs * 1e6);
    }
    s->cache_mode = rate == 0;
    if (s->cache_mode) {
        s->ra_max = 0; /* no engine to run it: the cache brings pages in on demand */
    }
    burst = (m & DM_STORE_OPT_BURST) ? p->budget_burst
                                      : DM_MAX(16 * (uint64_t)s->page_size, rate / 500);
    burst = DM_MIN(burst, DM_BUDGET_BURST_MAX);

    /* the tiers, in the caller's order, then sorted by distance (stable) */
    for (unsigned i = 0; i < p->ntiers; i++) {
        dm_store_tier_params_t tp = p->tiers[i];

        tp.field_mask |= DM_STORE_PARAM_PAGE_SIZE;
        tp.page_size = s->page_size;
        st = dm_store_tier_create(&tp, &made[i]);
        if (st != DM_OK) {
            char why[256];

            snprintf(why, sizeof(why), "%s", dm_last_error());
            st = dm_error_set(st, "store: params.tiers[%u]: %s", i, why);
            goto err_tiers;
        }
        dm_store_tier_query(made[i], &info[i]);
        if (info[i].capacity > DM_MIGRATE_MAX_PAGES) {
            st = dm_error_set(DM_ERR_INVALID_PARAM, "store: params.tiers[%u].capacity %llu "
                              "above %llu", i, (unsigned long long)info[i].capacity,
                              DM_MIGRATE_MAX_PAGES);
            goto err_tiers;
        }
        if (info[i].queue_depth < s->max_in_flight) {
            st = dm_error_set(DM_ERR_INVALID_PARAM, "store: params.tiers[%u].queue_depth %u is "
                              "below max_in_flight %u", i, info[i].queue_depth,
                              s->max_in_flight);
            goto err_tiers;
        }
        total += info[i].capacity;
        order[i] = i;
    }
    for (unsigned i = 1; i < p->ntiers; i++) {
        unsigned x = order[i], j = i;

        while (j > 0 && info[order[j - 1]].distance > info[x].distance) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    if (total < p->npages + s->max_in_flight) {
        st = dm_error_set(DM_ERR_INVALID_PARAM, "store: params.npages %llu + max_in_flight %u "
                          "do not fit in the tiers' capacities (%llu slots in all)",
                          (unsigned long long)p->npages, s->max_in_flight,
                          (unsigned long long)total);
        goto err_tiers;
    }

    for (unsigned k = 0; k < s->ntiers; k++) {
        unsigned i = order[k];
        dm_store_tstate_t *ts = &s->t[k];
        const char *pname = (p->policies != NULL && (m & DM_STORE_OPT_POLICIES) &&
                             p->policies[i] != NULL) ? p->policies[i] : "arc";
        dm_policy_params_t pp;
        int last = k + 1 == s->ntiers;

        ts->tier = made[i];
        made[i] = NULL;
        ts->info = info[i];
        pthread_mutex_init(&ts->io_lock, NULL);
        ts->concurrent = ts->info.concurrent;
        /* runs and home slots for the lower tiers only: dram and gpu are upper
         * tiers whose slots go to whichever pages are hot */
        ts->runs = ts->info.kind != DM_STORE_KIND_DRAM && ts->info.kind != DM_STORE_KIND_GPU &&
                   ts->info.max_io_pages > 1;
        ts->max_run = DM_MIN(RUN_MAX, DM_MAX(1u, ts->info.max_io_pages));
        /* copies only where every page has a slot of its own (its home): a
         * copy then never takes a slot another page needs (see "Copies") */
        ts->keeps = ts->runs && ts->info.capacity >= s->npages;
        ts->target = last ? ts->info.capacity
                          : DM_MAX(1, (uint64_t)floor(low * (double)ts->info.capacity));
        ts->high = last ? ts->info.capacity
                        : DM_MAX(ts->target, (uint64_t)floor(high * (double)ts->info.capacity));
        if (ts->target > DM_POLICY_CAPACITY_MAX) {
            st = dm_error_set(DM_ERR_INVALID_PARAM, "store: params.tiers[%u].capacity: the "
                              "policy's %llu pages exceed %llu", i,
                              (unsigned long long)ts->target, DM_POLICY_CAPACITY_MAX);
            goto err_tiers;
        }
        memset(&pp, 0, sizeof(pp));
        pp.capacity = ts->target;
        st = dm_policy_create(dm_policy_ops_find(pname), &pp, &ts->policy);
        if (st != DM_OK) {
            goto err_tiers;
        }
        ts->free = malloc(ts->info.capacity * sizeof(*ts->free));
        ts->pos = malloc(ts->info.capacity * sizeof(*ts->pos));
        if (ts->free == NULL || ts->pos == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "store: no memory for tier %u's slots", i);
            goto err_tiers;
        }
        for (uint64_t j = 0; j < ts->info.capacity; j++) {
            ts->free[j] = (uint32_t)(ts->info.capacity - 1 - j); /* slot 0 on top */
            ts->pos[ts->free[j]] = (uint32_t)j;
        }
        ts->nfree = ts->info.capacity;
        s->buf_align = DM_MAX(s->buf_align, ts->info.buf_align);
    }
    s->buf_align = DM_MAX(s->buf_align, (size_t)64);
    /* demotions in batches, but well within tier 0's room above its target */
    s->demote_batch = (uint32_t)DM_MAX(1, DM_MIN(DEMOTE_BATCH,
                                                 (s->t[0].info.capacity - s->t[0].target) / 4));
    /* read-ahead within tier 0's room: half the slots above its target */
    s->ra_max = (uint32_t)DM_MIN(s->ra_max,
                                 DM_MAX(1, (s->t[0].info.capacity - s->t[0].target) / 2));

    s->pages = malloc(s->npages * sizeof(*s->pages));
    s->mig = calloc(s->max_in_flight, sizeof(*s->mig));
    s->mig_map = calloc((s->max_in_flight + 63) / 64, sizeof(*s->mig_map));
    s->mig_bufs = aligned_alloc(s->buf_align, (size_t)s->max_in_flight * s->page_size);
    s->sync_buf = aligned_alloc(s->buf_align, s->page_size);
    if (s->pages == NULL || s->mig == NULL || s->mig_map == NULL || s->mig_bufs == NULL ||
        s->sync_buf == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "store: no memory for the index of %llu pages",
                          (unsigned long long)s->npages);
        goto err_tiers;
    }
    for (uint64_t i = 0; i < s->npages; i++) {
        s->pages[i] = (dm_store_page_t){ .slot = NOSLOT, .tier = NOWHERE,
                                         .advice = DM_ADVICE_NONE, .ctier = NOWHERE,
                                         .cslot = NOSLOT };
    }
    for (uint32_t i = 0; i < s->max_in_flight; i++) {
        s->mig[i].buf = (char *)s->mig_bufs + (size_t)i * s->page_size;
    }
    /* lock-free reads where tier 0 is memory we can address (see the essay) */
    s->fast_mem = dm_store_tier_dram_mem(s->t[0].tier);
    if (s->fast_mem != NULL) {
        s->fast = malloc(s->npages * sizeof(*s->fast));
        s->touchq = aligned_alloc(_Alignof(dm_store_touchq_t),
                                  TOUCH_STRIPES * sizeof(*s->touchq));
        s->touched = calloc(s->npages, sizeof(*s->touched));
        if (s->fast == NULL || s->touchq == NULL || s->touched == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "store: no memory for the words of %llu pages",
                              (unsigned long long)s->npages);
            goto err_tiers;
        }
        for (uint64_t i = 0; i < s->npages; i++) {
            atomic_init(&s->fast[i], FAST_HIDDEN);
        }
        for (unsigned k = 0; k < TOUCH_STRIPES; k++) {
            dm_store_touchq_t *q = &s->touchq[k];

            atomic_init(&q->hits, 0);
            atomic_init(&q->tail, 0);
            atomic_init(&q->head, 0);
            for (uint32_t i = 0; i < TOUCH_CELLS; i++) {
                atomic_init(&q->cell[i].seq, i);
                q->cell[i].page = 0;
            }
        }
    }
    s->nmig_free = s->max_in_flight;
    /* the engine's buffers as registered memory of the nvme tiers (fixed
     * buffers: pinned once, not per I/O); optional, so a refusal
     * (RLIMIT_MEMLOCK) changes nothing; the tier drops it at destroy */
    for (unsigned t = 0; t < s->ntiers; t++) {
        unsigned id;

        if (s->t[t].info.kind == DM_STORE_KIND_NVME &&
            dm_store_tier_mem_register(s->t[t].tier, s->mig_bufs,
                                       (size_t)s->max_in_flight * s->page_size, &id) != DM_OK) {
            DM_DEBUG("store: tier %u: migration buffers not registered: %s", t, dm_last_error());
        }
    }

    memset(&mp, 0, sizeof(mp));
    mp.npages = s->npages;
    mp.ntiers = s->ntiers;
    mp.max_in_flight = s->max_in_flight;
    mp.queue_max = (m & DM_STORE_OPT_QUEUE_MAX) ? p->queue_max : 1024;
    mp.page_size = s->page_size;
    mp.rate = rate;
    mp.burst = burst;
    mp.batch = rate > 0 ? (uint32_t)DM_MIN((uint64_t)BG_BATCH, burst / s->page_size) : 1;
    mp.now_ns = 0;
    st = dm_migrate_create(&mp, &s->sched);
    if (st != DM_OK) {
        goto err_tiers;
    }

    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &ca);
    pthread_condattr_destroy(&ca);
    if ((m & DM_STORE_OPT_WORKER) && p->worker) {
        int rc;

        s->worker = 1;
        rc = pthread_create(&s->thread, NULL, dm_store_worker_main, s);
        if (rc != 0) {
            s->worker = 0;
            st = dm_error_set(DM_ERR_IO, "store: worker thread: %s", strerror(rc));
            goto err_sync;
        }
    }
    *store_p = s;
    return DM_OK;

err_sync:
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
err_tiers: /* tiers not yet moved into s, then whatever s holds */
    for (unsigned i = 0; i < p->ntiers; i++) {
        dm_store_tier_destroy(made[i]);
    }
    dm_store_free(s);
    return st;
}
