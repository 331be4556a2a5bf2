/*
 * The coherent shared memory runtime.
 *
 * THE ESSAY
 *
 * Memory. The global address space (gas.c) is one private anonymous
 * mapping at the same address in every rank, registered with userfaultfd
 * for missing and write-protect faults in SIGBUS mode. A node's copy of a
 * page is in the state the protocol (coh.c) gives it, and the mapping
 * enforces it without splitting the mapping (no mprotect per page, so
 * vm.max_map_count never limits the data size; decision record 0002):
 *     I    page not present          any access raises SIGBUS
 *     S    present, write-protected  a write raises SIGBUS
 *     M    present, writable         no fault
 * Only allocations are readable/writable in the VMA sense; the rest of the
 * range stays PROT_NONE, so a stray access is an ordinary SIGSEGV.
 * Home memory, the copy a home keeps of its pages while nobody owns them,
 * is a second private mapping (home_mem) at the same offsets, touched only
 * for pages homed here.
 *
 * Who runs the protocol. Every event (a local fault, a message) runs under
 * the transport's serial lock, the lock active-message handlers already
 * run under (tp.h). So the protocol state of every page (node state,
 * mapping, directory entry) changes in one total order per process, and
 * messages leave in the order the state machine emitted them: the
 * per-pair FIFO that coh.c assumes holds, because UCX keeps per-endpoint
 * order and nobody reorders sends after they are emitted. The cost is that
 * threads of one process do not handle faults in parallel (future work:
 * per-page locks plus an ordered outbox).
 *
 * The faulting thread handles its own fault (SIGBUS handler): it feeds
 * READ or WRITE into the state machine, sends the request, and then
 * progresses the transport itself until the page's state permits its
 * access. It never allocates. Its messages to this rank's own home (the
 * home rank also caches its pages like any node) do not go through the
 * network: they enter a FIFO that is drained, in order, before the serial
 * lock is released. A message to self with data needs no copy: the node's
 * copy is written into home memory when sent (home memory is stale while a
 * node owns the page, so nobody reads it before the home handles the
 * message), and the home's data is read from home memory when handled.
 *
 * Executing actions (dm_dsm_emit):
 *   SEND     to another rank: dm_tp_am_post; the page travels as the
 *            payload (one message per page, never a diff);
 *   PROTECT  NONE from writable: UFFDIO_MOVE the frame out of the mapping
 *            into the move ring (Linux 6.8+): the PTE is cleared and the
 *            TLB shot down (which drains store buffers) before the ioctl
 *            returns, and the frame, which no CPU can store to any more,
 *            is the snapshot the SEND that follows reads: one shootdown.
 *            Where the kernel refuses (older kernels, a frame pinned for
 *            RDMA), the old way: write-protect (a shootdown), copy the
 *            page to scratch, MADV_DONTNEED (a second one). NONE from
 *            read-only: MADV_DONTNEED; READ: write-protect; WRITE: lift
 *            the write protection;
 *   INSTALL  remembered, then done by the PROTECT that follows as one
 *            UFFDIO_COPY with the final protection (no thread ever sees a
 *            half-copied page). In SM_D (upgrade) the read-only copy is
 *            the current data already: only the protection changes.
 *   STORE    copy the message's page into home memory;
 *   STALL, WAKE  the faulting thread polls the state, nothing to do.
 *
 * Forward progress (the rule of coh.c: a woken access runs before another
 * message for the page is handled). A thread whose page arrives returns
 * from the handler at once; the progress thread serves messages only after
 * no application thread has progressed for 200 us (tp.h), so with one
 * thread per process the retried instruction runs first. With several
 * threads, another thread progressing could hand the page away in the
 * window; safety is unaffected. So an access that had to wait is pinned
 * (DISTMEM_FAULT_STEP): messages that would take its page away are held
 * back until the instruction has run once. Two ways to end the pin:
 * the handler performs the instruction itself while it holds the serial
 * lock, so no held-back message can run in between, moves RIP past it and
 * releases the pin before returning (DISTMEM_FAULT_EMULATE; x86-64 loads,
 * stores and ALU/read-modify-write instructions with a memory operand,
 * dm_dsm_emulate); or, for every other instruction, it
 * returns with the trap flag set and the SIGTRAP after the instruction
 * releases the pin (a second signal, about as dear as the first). A
 * woken thread leaves its wait as soon as the WAKE reached it, whatever
 * the state has become since: its unit holds back every message for the
 * page until it looks (dm_dsm_fault_done). The multi-threaded fault path
 * (pins, waiting, gen, deferral, the self queue) is model-checked in
 * models/faultpath.pml.
 *
 * Barriers and locks need no extra work for coherence: every write is
 * performed on the only writable copy, and every other copy was revoked
 * before that copy was granted; so the protocol is sequentially
 * consistent by itself (docs/memory-model.md), and a barrier or lock
 * hand-off only has to be a fence.
 *
 * A failure the faulting thread cannot report (its home died, a protocol
 * error) ends the process: a message naming the page and the cause, then
 * SIGBUS, as for a mapped file whose backing vanished.
 */
#include "dsm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "coh.h"
#include "coll.h"
#include "gas.h"
#include "heap.h"
#include "log.h"
#include "place.h"
#include "predict.h"
#include "util.h"
#include "status.h"
#include "x86_emu.h"
#include "x86_insn.h"

/* UFFDIO_MOVE (Linux 6.8); defined here when the uapi headers predate it. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE  _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* The runtime the signal handlers serve (one per process). */
static _Atomic(dm_dsm_t *) dm_dsm_current;
static struct sigaction dm_dsm_old_bus, dm_dsm_old_segv, dm_dsm_old_trap;

/* Pages this thread pinned until its faulting instruction has run. */
static _Thread_local uint64_t dm_dsm_pinned[DM_DSM_PINS];
static _Thread_local unsigned dm_dsm_npinned;


/* The access pattern of this thread's faults (predict.h). */
static _Thread_local dm_predict_t dm_dsm_pattern = DM_PREDICT_INIT;

static inline int dm_dsm_msg_has_data(dm_coh_msg_type_t m)
{
    return m == DM_COH_PUTM || m == DM_COH_RECALL_DATA || m == DM_COH_DATA_S ||
           m == DM_COH_DATA_M;
}

static inline int dm_dsm_msg_to_home(dm_coh_msg_type_t m)
{
    return m == DM_COH_GETS || m == DM_COH_GETM || m == DM_COH_PUTM || m == DM_COH_INV_ACK ||
           m == DM_COH_RECALL_DATA;
}

void dm_dsm_break(dm_dsm_t *d, const char *fmt, ...)
{
    va_list ap;

    if (atomic_load(&d->broken) != NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(d->broken_buf, sizeof(d->broken_buf), fmt, ap);
    va_end(ap);
    DM_ERROR("shared memory runtime stopped: %s", d->broken_buf);
    atomic_store(&d->broken, d->broken_buf);
}

/* ------------------------------------------------------------------ */
/* userfaultfd operations                                               */

static int dm_dsm_uffd_wp(dm_dsm_t *d, uint64_t page, int on)
{
    struct uffdio_writeprotect wp;

    wp.range.start = (uintptr_t)dm_dsm_app_page(d, page);
    wp.range.len = d->page_size;
    wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    while (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
        if (errno != EAGAIN) {
            dm_dsm_break(d, "write protection of page %llu: %s", (unsigned long long)page,
                         strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int dm_dsm_uffd_copy(dm_dsm_t *d, uint64_t page, const void *src, int wp)
{
    struct uffdio_copy c;

    c.dst = (uintptr_t)dm_dsm_app_page(d, page);
    c.src = (uintptr_t)src;
    c.len = d->page_size;
    c.mode = wp ? UFFDIO_COPY_MODE_WP : 0;
    c.copy = 0;
    while (ioctl(d->uffd, UFFDIO_COPY, &c) != 0) {
        if (errno != EAGAIN) {
            dm_dsm_break(d, "installing page %llu: %s", (unsigned long long)page,
                         strerror(errno));
            return -1;
        }
        c.copy = 0;
    }
    return 0;
}

/*
 * Moves the frame of page (present and writable here) into the next slot of
 * the move ring: the PTE is cleared and the TLB shot down before the ioctl
 * returns, so no store can reach the frame afterwards. Returns the slot, or
 * NULL when the page was not moved (the caller revokes it the old way).
 * pre: serial lock, d->mv_ring != NULL.
 */
static const unsigned char *dm_dsm_uffd_move(dm_dsm_t *d, uint64_t page)
{
    struct uffdio_move m;
    unsigned char *slot;

    if (d->mv_next == DM_DSM_MOVE_RING) {
        /* the slots' data was used when each was filled (snap is consumed at once) */
        if (madvise(d->mv_ring, (size_t)DM_DSM_MOVE_RING << d->page_shift, MADV_DONTNEED) != 0) {
            return NULL;
        }
        d->mv_next = 0;
        if (d->scratch_page != UINT64_MAX && d->snap != d->scratch) {
            d->scratch_page = UINT64_MAX;
        }
    }
    slot = d->mv_ring + ((size_t)d->mv_next << d->page_shift);
    memset(&m, 0, sizeof(m));
    m.dst = (uintptr_t)slot;
    m.src = (uintptr_t)dm_dsm_app_page(d, page);
    m.len = d->page_size;
    while (ioctl(d->uffd, UFFDIO_MOVE, &m) != 0 && m.move != (__s64)d->page_size) {
        if (errno != EAGAIN || m.move > 0) {
            /* EBUSY: the frame is pinned or shared (e.g. registered for RDMA); nothing moved */
            if (errno == EINVAL || errno == ENOTTY) {
                /* this kernel will never move between these areas: stop asking */
                DM_DEBUG("revoked pages are copied from now on: UFFDIO_MOVE: %s",
                         strerror(errno));
                munmap(d->mv_ring, (size_t)DM_DSM_MOVE_RING << d->page_shift);
                d->mv_ring = NULL;
            }
            return NULL;
        }
        m.move = 0;
    }
    d->mv_next++;
    d->st_moved++;
    return slot;
}

/* ------------------------------------------------------------------ */
/* executing the state machine's actions                                */

typedef struct dm_dsm_exec {
    dm_dsm_t   *d;
    uint64_t    page;
    int         src;     /* sender of the message handled; -1 for a local event */
    const void *data;    /* its page data; NULL when none or when sent by this rank */
    const void *install; /* pending INSTALL source */
    int         stall;
} dm_dsm_exec_t;

static void dm_dsm_self_push(dm_dsm_t *d, dm_coh_msg_type_t type, uint64_t page)
{
    dm_dsm_self_msg_t *m;

    if (d->self_len == DM_DSM_SELF_QUEUE) {
        dm_dsm_break(d, "message queue to self overflowed (%u)", DM_DSM_SELF_QUEUE);
        return;
    }
    m = &d->self_q[(d->self_head + d->self_len) % DM_DSM_SELF_QUEUE];
    m->type = (uint8_t)type;
    m->page = page;
    d->self_len++;
}

/* The write-back slot holding page (UINT64_MAX: a free slot), or -1. pre: serial lock. */
static int dm_dsm_wb_find(const dm_dsm_t *d, uint64_t page)
{
    int i;

    if (d->wb_mem == NULL) {
        return -1;
    }
    for (i = 0; i < DM_DSM_WB; i++) {
        if (d->wb_page[i] == page) {
            return i;
        }
    }
    return -1;
}

/* Remembers a new copy of page in the eviction FIFO. pre: serial lock. */
static void dm_dsm_fifo_push(dm_dsm_t *d, uint64_t page)
{
    if (d->fifo_len == d->fifo_cap) {
        /* compact: keep the live entries, in order */
        uint64_t i, n = 0;

        for (i = 0; i < d->fifo_len; i++) {
            uint64_t e = d->fifo[(d->fifo_head + i) % d->fifo_cap];
            const dm_dsm_page_t *pg = &d->pages[e >> 16];

            if (pg->fgen == (uint16_t)e && pg->map != DM_DSM_MAP_NONE) {
                /* n <= i: the write trails the read around the ring */
                d->fifo[(d->fifo_head + n++) % d->fifo_cap] = e;
            }
        }
        d->fifo_len = n;
        if (n == d->fifo_cap) {
            return; /* cannot happen: live copies <= ncached < fifo_cap */
        }
    }
    d->fifo[(d->fifo_head + d->fifo_len) % d->fifo_cap] = page << 16 | d->pages[page].fgen;
    d->fifo_len++;
}

static void dm_dsm_send(dm_dsm_exec_t *x, const dm_coh_action_t *a)
{
    dm_dsm_t *d = x->d;
    dm_dsm_hdr_t h;
    const void *payload = NULL;
    size_t len = 0;
    dm_status_t st;

    if (a->with_data) {
        if (a->msg == DM_COH_RECALL_DATA || a->msg == DM_COH_PUTM) {
            /* the node's copy: still mapped (revoked to read-only), snapshotted, or written back */
            int wb = dm_dsm_wb_find(d, x->page);

            if (d->pages[x->page].map != DM_DSM_MAP_NONE) {
                payload = dm_dsm_app_page(d, x->page);
            } else if (wb >= 0) {
                payload = d->wb_mem + ((size_t)wb << d->page_shift);
            } else if (d->scratch_page == x->page) {
                payload = d->snap;
            } else {
                dm_dsm_break(d, "no copy of page %llu to send", (unsigned long long)x->page);
                return;
            }
            if (a->msg == DM_COH_PUTM && wb < 0) {
                /* an eviction: keep the data until PUT_ACK (the evictor reserved a slot) */
                wb = dm_dsm_wb_find(d, UINT64_MAX);
                if (wb < 0) {
                    dm_dsm_break(d, "no write-back slot for page %llu",
                                 (unsigned long long)x->page);
                    return;
                }
                d->wb_page[wb] = x->page;
                memcpy(d->wb_mem + ((size_t)wb << d->page_shift), payload, d->page_size);
                payload = d->wb_mem + ((size_t)wb << d->page_shift);
            }
            if (a->dst == d->rank) {
                if (dm_dsm_homemem_write(d, x->page, payload) != 0) {
                    return; /* broken: the waiters hear it */
                }
                payload = NULL;
            }
        } else if (a->dst != d->rank) {
            payload = dm_dsm_homemem_read(d, x->page, DM_DSM_STAGE_SEND);
            if (payload == NULL) {
                return; /* broken: the waiters hear it */
            }
        }
        len = payload != NULL ? d->page_size : 0;
    }
    if (a->dst == d->rank) {
        dm_dsm_self_push(d, a->msg, x->page);
        atomic_fetch_add_explicit(&d->st_self, 1, memory_order_relaxed);
        return;
    }
    memset(&h, 0, sizeof(h));
    h.type = (uint8_t)a->msg;
    h.page = x->page;
    st = dm_tp_am_post(d->tp, a->dst, DM_DSM_AM_PROTO, &h, sizeof(h), payload, len);
    if (st != DM_OK) {
        /* the peer is marked failed: every waiter sees it and ends */
        DM_ERROR("page %llu: %s to rank %d lost: %s", (unsigned long long)x->page,
                 dm_coh_msg_name(a->msg), a->dst, dm_last_error());
        if (!dm_tp_peer_failed(d->tp, a->dst)) {
            dm_tp_peer_fail(d->tp, a->dst, "a protocol message could not be sent");
        }
        return;
    }
    atomic_fetch_add_explicit(&d->st_sent, 1, memory_order_relaxed);
}

static void dm_dsm_protect(dm_dsm_exec_t *x, dm_coh_prot_t prot)
{
    dm_dsm_t *d = x->d;
    dm_dsm_page_t *pg = &d->pages[x->page];

    if (x->install != NULL) {
        const void *src = x->install;

        x->install = NULL;
        if (pg->map == DM_DSM_MAP_NONE) {
            if (dm_dsm_uffd_copy(d, x->page, src, prot != DM_COH_PROT_WRITE) == 0) {
                pg->map = prot == DM_COH_PROT_WRITE ? DM_DSM_MAP_RW : DM_DSM_MAP_RO;
                d->ncached++;
                if (d->cache_pages != 0) {
                    pg->fgen++;
                    dm_dsm_fifo_push(d, x->page);
                }
            }
            return;
        }
        /* an upgrade (SM_D): our read-only copy is the current data */
    }
    switch (prot) {
    case DM_COH_PROT_NONE:
        if (pg->map == DM_DSM_MAP_RW && d->mv_ring != NULL) {
            /* revoke and take the data in one step: the frame leaves the mapping */
            const unsigned char *slot = dm_dsm_uffd_move(d, x->page);

            if (slot != NULL) {
                d->snap = slot;
                d->scratch_page = x->page;
                pg->map = DM_DSM_MAP_NONE;
                d->ncached--;
                break;
            }
        }
        if (pg->map == DM_DSM_MAP_RW) {
            if (dm_dsm_uffd_wp(d, x->page, 1) != 0) {
                return;
            }
            d->st_copied++;
            memcpy(d->scratch, dm_dsm_app_page(d, x->page), d->page_size);
            d->snap = d->scratch;
            d->scratch_page = x->page;
        }
        if (pg->map != DM_DSM_MAP_NONE) {
            if (madvise(dm_dsm_app_page(d, x->page), d->page_size, MADV_DONTNEED) != 0) {
                dm_dsm_break(d, "dropping page %llu: %s", (unsigned long long)x->page,
                             strerror(errno));
                return;
            }
            pg->map = DM_DSM_MAP_NONE;
            d->ncached--;
        }
        break;
    case DM_COH_PROT_READ:
        if (pg->map == DM_DSM_MAP_RW && dm_dsm_uffd_wp(d, x->page, 1) == 0) {
            pg->map = DM_DSM_MAP_RO;
        }
        break;
    case DM_COH_PROT_WRITE:
        if (pg->map == DM_DSM_MAP_RO && dm_dsm_uffd_wp(d, x->page, 0) == 0) {
            pg->map = DM_DSM_MAP_RW;
        }
        break;
    }
}

static void dm_dsm_emit(void *arg, const dm_coh_action_t *a)
{
    dm_dsm_exec_t *x = arg;
    dm_dsm_t *d = x->d;

    switch (a->type) {
    case DM_COH_ACT_SEND:
        dm_dsm_send(x, a);
        break;
    case DM_COH_ACT_PROTECT:
        dm_dsm_protect(x, a->prot);
        break;
    case DM_COH_ACT_INSTALL:
        x->install = x->data != NULL
                         ? x->data
                         : dm_dsm_homemem_read(d, x->page, DM_DSM_STAGE_INSTALL);
        break;
    case DM_COH_ACT_STORE:
        if (x->data != NULL) {
            (void)dm_dsm_homemem_write(d, x->page, x->data); /* on failure: broken */
        } /* else: sent by this rank, stored when sent */
        break;
    case DM_COH_ACT_STALL:
        x->stall = 1;
        break;
    case DM_COH_ACT_WAKE: {
        /* waiters poll the page's state; each gets a pin (see dm_dsm_page_t) */
        dm_dsm_page_t *pg = &d->pages[x->page];

        if (pg->waiting > 0 && d->step) {
            pg->pin = (uint8_t)DM_MIN(255, pg->pin + pg->waiting);
            pg->waiting = 0;
            atomic_store_explicit(&pg->gen,
                                  (uint8_t)(atomic_load_explicit(&pg->gen, memory_order_relaxed) + 1),
                                  memory_order_release);
        }
        break;
    }
    }
}

/* Node-side state change with the transient-page count kept. pre: serial lock. */
static void dm_dsm_set_state(dm_dsm_t *d, uint64_t page, dm_coh_state_t old, dm_coh_state_t s)
{
    if (dm_coh_state_stable(old) != dm_coh_state_stable(s)) {
        atomic_fetch_add(&d->ntransient, dm_coh_state_stable(s) ? -1 : 1);
    }
    atomic_store_explicit(&d->pages[page].state, (uint8_t)s, memory_order_release);
}

#define DM_DSM_DIRENT_CHUNK 256 /* directory entries per allocation */

typedef struct dm_dsm_dirent_chunk {
    struct dm_dsm_dirent_chunk *next;
    dm_dsm_dirent_t             e[DM_DSM_DIRENT_CHUNK];
} dm_dsm_dirent_chunk_t;

/*
 * One more chunk of free directory entries: one allocation per
 * DM_DSM_DIRENT_CHUNK pages that become shared, so directory memory still
 * follows the pages actually shared. Returns -1 when out of memory.
 */
static int dm_dsm_dirent_refill(dm_dsm_t *d)
{
    dm_dsm_dirent_chunk_t *c = malloc(sizeof(*c));

    if (c == NULL) {
        return -1;
    }
    c->next = d->dirent_chunks;
    d->dirent_chunks = c;
    for (int i = DM_DSM_DIRENT_CHUNK - 1; i >= 0; i--) {
        c->e[i].next = d->dirent_free;
        d->dirent_free = &c->e[i];
    }
    return 0;
}

static void dm_dsm_dirent_cleanup(dm_dsm_t *d)
{
    dm_dsm_dirent_chunk_t *c;

    while ((c = d->dirent_chunks) != NULL) {
        d->dirent_chunks = c->next;
        free(c);
    }
    d->dirent_free = NULL;
}

dm_dsm_dirent_t *dm_dsm_dirent(dm_dsm_t *d, uint64_t page)
{
    dm_dsm_dirent_t *e = d->dirs[page];

    if (e == NULL) {
        if (d->dirent_free == NULL && dm_dsm_dirent_refill(d) != 0) {
            return NULL;
        }
        e = d->dirent_free;
        d->dirent_free = e->next;
        dm_coh_dir_init(&e->dir);
        e->rma_head = e->rma_tail = NULL;
        e->prev = NULL;
        e->next = d->dir_list;
        if (d->dir_list != NULL) {
            d->dir_list->prev = e;
        }
        d->dir_list = e;
        d->dirs[page] = e;
    }
    return e;
}

static void dm_dsm_dir_drop(dm_dsm_t *d, uint64_t page)
{
    dm_dsm_dirent_t *e = d->dirs[page];

    if (e == NULL) {
        return;
    }
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        d->dir_list = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    dm_coh_dir_cleanup(&e->dir);
    e->next = d->dirent_free;
    d->dirent_free = e;
    d->dirs[page] = NULL;
}

/*
 * One protocol message, from src (this rank for the self queue). data is
 * the page payload, or NULL. pre: serial lock.
 */
static void dm_dsm_dispatch(dm_dsm_t *d, int src, dm_coh_msg_type_t type, uint64_t page,
                            const void *data)
{
    dm_dsm_exec_t x = { .d = d, .page = page, .src = src, .data = data };
    int home = dm_dsm_msg_to_home(type) ? dm_dsm_home_here(d, page) : dm_dsm_home_of(d, page);
    dm_status_t st;

    if (dm_dsm_msg_to_home(type)) {
        dm_dsm_dirent_t *e;

        if (home != d->rank) {
            st = DM_ERR_PROTOCOL;
            goto bad;
        }
        e = dm_dsm_dirent(d, page);
        if (e == NULL) {
            dm_dsm_break(d, "no memory for the directory entry of page %llu",
                         (unsigned long long)page);
            return;
        }
        if (src == d->rank) {
            e->rma_served = 0; /* this node uses the page again (rma.c's hand-over) */
        }
        if (d->direct_home) {
            /* home memory and the directory change only under the page's word (direct.c) */
            dm_dsm_direct_hold(d, page);
            st = dm_coh_home_msg(&e->dir, type, src, dm_dsm_emit, &x);
            dm_dsm_direct_release(d, page);
        } else {
            st = dm_coh_home_msg(&e->dir, type, src, dm_dsm_emit, &x);
        }
    } else {
        dm_coh_state_t old = (dm_coh_state_t)atomic_load(&d->pages[page].state), s = old;

        if (src != home) {
            st = DM_ERR_PROTOCOL;
            goto bad;
        }
        if (d->pages[page].pin > 0 && d->ndeferred < DM_DSM_DEFER_MAX) {
            /* a woken access has not run yet: the forward-progress rule */
            d->deferred[d->ndeferred].src = src;
            d->deferred[d->ndeferred].type = (uint8_t)type;
            d->deferred[d->ndeferred].page = page;
            d->ndeferred++;
            return;
        }
        st = dm_coh_node_msg(&s, type, home, dm_dsm_emit, &x);
        if (st == DM_OK) {
            dm_dsm_set_state(d, page, old, s);
            if (old == DM_COH_MI_A && s == DM_COH_I) {
                int wb = dm_dsm_wb_find(d, page);

                if (wb >= 0) {
                    d->wb_page[wb] = UINT64_MAX; /* the home has the data */
                }
            }
            if (d->pages[page].rmaq) {
                /* before any other message can take the page away again */
                dm_rma_page_changed(d, page);
            }
        }
    }
    if (st == DM_OK) {
        return;
    }
    if (st == DM_ERR_NO_MEMORY) {
        dm_dsm_break(d, "no memory at the home of page %llu", (unsigned long long)page);
        return;
    }
bad:
    if (src == d->rank) {
        dm_dsm_break(d, "protocol error: %s for page %llu from this rank in state %s",
                     dm_coh_msg_name(type), (unsigned long long)page,
                     dm_coh_state_name((dm_coh_state_t)d->pages[page].state));
    } else {
        char reason[160];

        snprintf(reason, sizeof(reason), "protocol error: unexpected %s for page %llu",
                 dm_coh_msg_name(type), (unsigned long long)page);
        DM_ERROR("rank %d: %s", src, reason);
        dm_tp_peer_fail(d->tp, src, reason);
    }
}

/*
 * Drops the oldest copies until the cache budget holds again (pre: serial
 * lock). A copy that cannot go now (pinned for a woken access, in a
 * transient state, wanted by waiting one-sided operations, or written
 * while every write-back slot is busy) gets a second chance at the tail.
 * Bounded: one pass over the FIFO at most.
 */
static void dm_dsm_evict(dm_dsm_t *d)
{
    uint64_t tries = d->fifo_len;

    while (d->ncached > d->cache_pages && tries-- > 0 && d->fifo_len > 0) {
        uint64_t e = d->fifo[d->fifo_head], page = e >> 16;
        dm_dsm_page_t *pg = &d->pages[page];

        d->fifo_head = (d->fifo_head + 1) % d->fifo_cap;
        d->fifo_len--;
        if (pg->fgen != (uint16_t)e || pg->map == DM_DSM_MAP_NONE) {
            continue; /* stale: that copy is gone */
        }
        if (!dm_dsm_drop_copy(d, page)) {
            d->fifo[(d->fifo_head + d->fifo_len) % d->fifo_cap] = e;
            d->fifo_len++;
            continue;
        }
        atomic_fetch_add_explicit(&d->st_evict, 1, memory_order_relaxed);
    }
}

int dm_dsm_drop_copy(dm_dsm_t *d, uint64_t page)
{
    dm_dsm_page_t *pg = &d->pages[page];
    dm_coh_state_t s = (dm_coh_state_t)atomic_load(&pg->state);

    if ((s != DM_COH_S && s != DM_COH_M) || pg->map == DM_DSM_MAP_NONE || pg->pin > 0 ||
        pg->waiting > 0 || pg->rmaq || (s == DM_COH_M && dm_dsm_wb_find(d, UINT64_MAX) < 0)) {
        return 0;
    }
    dm_dsm_local(d, page, DM_COH_EVICT);
    return 1;
}

void dm_dsm_drain(dm_dsm_t *d)
{
    for (;;) {
        while (d->self_len > 0) {
            dm_dsm_self_msg_t m = d->self_q[d->self_head];

            d->self_head = (d->self_head + 1) % DM_DSM_SELF_QUEUE;
            d->self_len--;
            dm_dsm_dispatch(d, d->rank, (dm_coh_msg_type_t)m.type, m.page, NULL);
        }
        if (d->cache_pages == 0 || d->ncached <= d->cache_pages || d->evicting) {
            return;
        }
        d->evicting = 1;
        dm_dsm_evict(d);
        d->evicting = 0;
        if (d->self_len == 0) {
            return;
        }
    }
}

/* Lifts one pin of page; at zero, handles what was held back for it. pre: serial lock. */
static void dm_dsm_unpin(dm_dsm_t *d, uint64_t page)
{
    unsigned i, j;

    if (d->pages[page].pin == 0 || --d->pages[page].pin > 0) {
        return;
    }
    for (i = 0; i < d->ndeferred;) {
        dm_dsm_deferred_t m = d->deferred[i];

        if (m.page != page) {
            i++;
            continue;
        }
        for (j = i + 1; j < d->ndeferred; j++) {
            d->deferred[j - 1] = d->deferred[j];
        }
        d->ndeferred--;
        dm_dsm_dispatch(d, m.src, (dm_coh_msg_type_t)m.type, m.page, NULL);
        if (d->pages[page].pin > 0) {
            break; /* cannot happen: handling a message does not pin */
        }
    }
    dm_dsm_drain(d);
}

/* Releases every pin this thread holds. pre: serial lock. */
static void dm_dsm_unpin_mine(dm_dsm_t *d)
{
    while (dm_dsm_npinned > 0) {
        dm_dsm_unpin(d, dm_dsm_pinned[--dm_dsm_npinned]);
    }
}

static void dm_dsm_on_proto(void *arg, int src, const void *hdr, size_t hdr_len,
                            const void *data, size_t len)
{
    dm_dsm_t *d = arg;
    dm_dsm_hdr_t h;
    char reason[160];

    if (hdr_len != sizeof(h)) {
        snprintf(reason, sizeof(reason), "malformed protocol message (%zu-byte header)", hdr_len);
        goto bad;
    }
    memcpy(&h, hdr, sizeof(h));
    if (h.type < DM_COH_GETS || h.type >= DM_COH_NMSG || h.page >= d->place.npages ||
        dm_place_home(&d->place, h.page) < 0) {
        snprintf(reason, sizeof(reason), "malformed protocol message (type %u, page %llu)",
                 h.type, (unsigned long long)h.page);
        goto bad;
    }
    if (len != (dm_dsm_msg_has_data((dm_coh_msg_type_t)h.type) ? d->page_size : 0)) {
        snprintf(reason, sizeof(reason), "malformed protocol message (%s with %zu bytes)",
                 dm_coh_msg_name((dm_coh_msg_type_t)h.type), len);
        goto bad;
    }
    dm_dsm_dispatch(d, src, (dm_coh_msg_type_t)h.type, h.page, len ? data : NULL);
    dm_dsm_drain(d);
    return;
bad:
    DM_ERROR("rank %d: %s", src, reason);
    dm_tp_peer_fail(d->tp, src, reason);
}

/* ------------------------------------------------------------------ */
/* the fault path                                                       */

/* The dm_alloc region holding page (page < coll_pages), or NULL. pre: serial lock. */
static const dm_dsm_region_t *dm_dsm_region_of(const dm_dsm_t *d, uint64_t page)
{
    size_t lo = 0, hi = d->nregions;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (d->regions[mid].first + d->regions[mid].npages <= page) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < d->nregions && d->regions[lo].first <= page ? &d->regions[lo] : NULL;
}

int dm_dsm_alloc_span(const dm_dsm_t *d, uint64_t first, uint64_t last, uint64_t *end_p)
{
    uint64_t end;

    if (last < first || last >= d->place.npages) {
        return -1;
    }
    if (first >= d->place.coll_pages) {
        int r = dm_place_home(&d->place, first);

        if (r < 0 || dm_place_home(&d->place, last) != r) {
            return -1;
        }
        end = dm_place_heap_first(&d->place, r) + d->place.heap_pages;
    } else {
        const dm_dsm_region_t *reg = dm_dsm_region_of(d, first);

        if (reg == NULL) {
            return -1;
        }
        end = reg->first + reg->npages;
    }
    if (last >= end) {
        return -1;
    }
    *end_p = end;
    return 0;
}

/* The end of the allocation holding page (exclusive), or page + 1. pre: serial lock. */
static uint64_t dm_dsm_alloc_end(const dm_dsm_t *d, uint64_t page)
{
    const dm_dsm_region_t *reg;

    if (page >= d->place.coll_pages) {
        int r = dm_place_home(&d->place, page);

        return r < 0 ? page + 1 : dm_place_heap_first(&d->place, r) + d->place.heap_pages;
    }
    reg = dm_dsm_region_of(d, page);
    return reg != NULL ? reg->first + reg->npages : page + 1;
}

void dm_dsm_local(dm_dsm_t *d, uint64_t page, dm_coh_local_t ev)
{
    dm_dsm_exec_t x = { .d = d, .page = page, .src = -1 };
    dm_coh_state_t old = (dm_coh_state_t)atomic_load(&d->pages[page].state), s = old;

    /* a request this causes never overtakes a one-sided operation issued before it */
    dm_rma_send_held(d);

    if (dm_coh_node_local(&s, ev, dm_dsm_home_of(d, page), dm_dsm_emit, &x) != DM_OK) {
        dm_dsm_break(d, "local %s in state %s of page %llu", ev == DM_COH_WRITE ? "write" : "read",
                     dm_coh_state_name(old), (unsigned long long)page);
        return;
    }
    dm_dsm_set_state(d, page, old, s);
}

/* Asks for the pages (page, page + ahead] the same way (read-ahead). pre: serial lock. */
static void dm_dsm_prefetch(dm_dsm_t *d, uint64_t page, unsigned ahead, dm_coh_local_t ev)
{
    uint64_t q, end;

    if (ahead == 0) {
        return;
    }
    end = dm_dsm_alloc_end(d, page);
    for (q = page + 1; q < end && q <= page + ahead; q++) {
        dm_coh_state_t s = (dm_coh_state_t)atomic_load_explicit(&d->pages[q].state,
                                                                memory_order_relaxed);

        if (dm_dsm_home_of(d, q) < 0) {
            break; /* first-touch placement: not looked up */
        }
        if (s == DM_COH_I || (s == DM_COH_S && ev == DM_COH_WRITE)) {
            dm_dsm_local(d, q, ev);
            atomic_fetch_add_explicit(&d->st_prefetch, 1, memory_order_relaxed);
        }
    }
}

typedef struct dm_dsm_waiter {
    dm_dsm_t *d;
    uint64_t  page;
    int       write;
    int       registered; /* counted in the page's waiting, at generation gen */
    uint8_t   gen;
} dm_dsm_waiter_t;

/*
 * The wait of a faulting thread ends when the page's state allows its
 * access, or is stable (ask again), or a WAKE reached it (registered and
 * gen moved). The last is needed: a WAKE gives the waiter a unit of pin,
 * which holds back every message for the page until the waiter returns it,
 * and another thread of this process may make the state transient again
 * (a write fault in S: SM_D) before the waiter looks; it would then wait
 * for a DATA_M that its own unit holds back, for ever
 * (models/faultpath.pml found it).
 */
static int dm_dsm_fault_done(void *arg)
{
    dm_dsm_waiter_t *w = arg;
    const dm_dsm_page_t *pg = &w->d->pages[w->page];
    dm_coh_state_t s = (dm_coh_state_t)atomic_load_explicit(&pg->state, memory_order_acquire);

    return dm_dsm_state_allows(s, w->write) || dm_coh_state_stable(s) ||
           (w->registered && atomic_load_explicit(&pg->gen, memory_order_relaxed) != w->gen) ||
           atomic_load_explicit(&w->d->broken, memory_order_relaxed) != NULL;
}

/* Prints why an access cannot complete and lets the retried access die of SIGBUS. */
static void dm_dsm_fault_fatal(dm_dsm_t *d, uint64_t page, const char *why)
{
    char msg[512];
    int n;

    n = snprintf(msg, sizeof(msg),
                 "distmem: rank %d: access to %p (page homed at rank %d) cannot complete: %s\n",
                 d->rank, (void *)dm_dsm_app_page(d, page), dm_dsm_home_of(d, page), why);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg));

        (void)w;
    }
    signal(SIGBUS, SIG_DFL);
}

/*
 * Runs the faulting access itself (emulation), so that its pin need not
 * outlive the handler. pre: serial lock held; the page's state allows the
 * access; this thread holds a unit of pin for page and no other pin. So no
 * message can take the page away while it runs. Returns 1 when it
 * performed the access (the instruction is done: the caller gives the
 * unit back at once), 0 to leave it to the processor under the pin.
 * Never allocates.
 */
typedef int (*dm_dsm_perform_fn)(dm_dsm_t *d, uint64_t page, void *arg);

/*
 * Makes page accessible for a read or a write by this thread. Returns 0,
 * or -1 when it cannot (the caller lets the process die). Runs in the
 * SIGBUS handler of the faulting thread; never allocates.
 *
 * The pin contract: when the access had to wait (want_pin), the WAKE gave
 * this thread a unit of pin for page. If perform (may be NULL) runs the
 * access under the serial lock, the unit goes back before returning and
 * *pinned_p is 0: nothing is left to release. Otherwise the unit is
 * recorded in this thread's pins and *pinned_p is 1: the caller must
 * arrange for dm_dsm_unpin_mine once the faulting instruction has run
 * (the single-step trap, dm_dsm_on_sigtrap).
 */
static int dm_dsm_fault(dm_dsm_t *d, uint64_t page, int write, int want_pin,
                        dm_dsm_perform_fn perform, void *arg, int *pinned_p)
{
    dm_dsm_waiter_t w = { .d = d, .page = page, .write = write };
    dm_dsm_page_t *pg = &d->pages[page];
    dm_coh_state_t s;
    const char *why = NULL;
    dm_status_t st;
    int owned, round = 0;

    *pinned_p = 0;
    for (;; round++) {
        dm_tp_serial_enter(d->tp);
        owned = 0;
        if (w.registered) {
            w.registered = 0;
            if (atomic_load_explicit(&pg->gen, memory_order_relaxed) != w.gen) {
                owned = 1; /* a WAKE gave us a unit of pin */
            } else if (pg->waiting > 0) {
                pg->waiting--;
            }
        }
        if (why != NULL) {
            if (owned) {
                dm_dsm_unpin(d, page);
            }
            dm_tp_serial_leave(d->tp);
            dm_dsm_fault_fatal(d, page, why);
            return -1;
        }
        s = (dm_coh_state_t)atomic_load(&pg->state);
        if (dm_dsm_state_allows(s, write)) {
            if (owned && dm_dsm_npinned == 0 && perform != NULL && perform(d, page, arg)) {
                /* the access ran here while the page was held: it has run once */
                atomic_fetch_add_explicit(&d->st_emulated, 1, memory_order_relaxed);
                dm_dsm_unpin(d, page);
            } else if (owned && dm_dsm_npinned < DM_DSM_PINS) {
                /* held until the retried instruction has run (dm_dsm_on_sigtrap) */
                dm_dsm_pinned[dm_dsm_npinned++] = page;
                *pinned_p = 1;
                atomic_fetch_add_explicit(&d->st_stepped, 1, memory_order_relaxed);
            } else if (owned) {
                dm_dsm_unpin(d, page);
            }
            dm_tp_serial_leave(d->tp);
            return 0;
        }
        if (owned) {
            dm_dsm_unpin(d, page); /* woken for a read, but we write: ask again */
        }
        /*
         * An instruction that touches several pages faults once per page:
         * pages it pinned are let go before it waits, so two processes
         * never hold one page each while waiting for the other's.
         */
        dm_dsm_unpin_mine(d);
        if (dm_dsm_home_of(d, page) < 0) {
            /* first-touch placement: learn (or become) the home first, and those of the read-ahead */
            uint64_t last = DM_MIN(dm_dsm_alloc_end(d, page), page + 1 + (uint64_t)d->prefetch) - 1;

            dm_tp_serial_leave(d->tp);
            st = dm_dsm_place_lookup(d, page, page, last);
            why = atomic_load(&d->broken);
            if (why == NULL && st != DM_OK) {
                why = dm_last_error();
            }
            continue;
        }
        s = (dm_coh_state_t)atomic_load(&pg->state);
        if (dm_coh_state_stable(s) && !dm_dsm_state_allows(s, write)) {
            dm_predict_decision_t p = dm_predict_fault(&dm_dsm_pattern, page, write,
                                                       s != DM_COH_I, (unsigned)d->prefetch);
            dm_coh_local_t ev = p.write ? DM_COH_WRITE : DM_COH_READ;

            atomic_fetch_add_explicit(round ? &d->st_retry : write ? &d->st_write : &d->st_read,
                                      1, memory_order_relaxed);
            dm_dsm_local(d, page, ev);
            dm_dsm_prefetch(d, page, p.ahead, ev);
            dm_dsm_drain(d);
        }
        if (want_pin && pg->waiting < 255) {
            pg->waiting++;
            w.gen = atomic_load_explicit(&pg->gen, memory_order_relaxed);
            w.registered = 1;
        }
        dm_tp_serial_leave(d->tp);
        st = dm_tp_wait_until(d->tp, dm_dsm_fault_done, &w);
        why = atomic_load(&d->broken);
        if (why == NULL && st != DM_OK) {
            why = dm_last_error();
        }
    }
}

#define DM_DSM_EFLAGS_TF 0x100 /* x86 trap flag: single-step */

#if defined(__x86_64__)
/*
 * Emulation of the faulting instruction (DISTMEM_FAULT_EMULATE). A pinned
 * access normally costs a second signal: the handler returns with the
 * trap flag set, the processor retries the instruction, and the SIGTRAP
 * after it releases the pin. When the instruction is one that x86_insn.h
 * decodes (a load or store, or an ALU or read-modify-write instruction
 * with a memory operand), the handler instead performs it itself while it
 * still holds the serial lock (the page cannot be revoked in between:
 * every revocation is a message handled under that lock), writes the
 * result into the interrupted context and moves RIP past the instruction,
 * so the pin is released before the handler returns.
 *
 * Faithful to the processor: the access goes to the same address with one
 * instruction of the same width (as atomic as the original); a load into
 * a general register follows the architectural write rules
 * (dm_x86_load_result); an XMM load of less than 16 bytes clears the
 * rest of the 128 bits and leaves the AVX upper halves alone, as the
 * legacy SSE encodings do. An ALU form runs as the same instruction, LOCK
 * included, on the same address, with the context's registers and
 * arithmetic flags loaded and read back (dm_x86_alu_run): memory,
 * registers and CF PF AF ZF SF OF are the processor's own, the other
 * EFLAGS bits are left as they were. Anything it cannot vouch for falls
 * back to the single step: an undecoded form, an address outside the
 * faulting page or an access crossing its end, a misaligned
 * movaps/movdqa (the processor raises #GP for it: let it), a decoded
 * access whose direction is not the fault's (an RMW, CMPXCHG included,
 * faults as a write; CMP, TEST and a register destination as a read), or
 * a mapping that does not grant the access.
 */

/* The ucontext slot of each general register, in encoding order (RAX..R15). */
static const int dm_dsm_greg[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

/*
 * The signal frame's FP area (uc_mcontext.fpregs) in the kernel's layout
 * (asm/sigcontext.h, not included: it clashes with signal.h): the 512-byte
 * fxsave image; when its software-reserved bytes carry MAGIC1, an xsave
 * header follows, whose first word (XSTATE_BV) says which components the
 * sigreturn restores from the frame; a clear SSE bit would reset the XMM
 * registers to zero instead of loading what emulation wrote.
 */
#define DM_DSM_FP_SW_OFF     464         /* struct _fpx_sw_bytes: magic1 first */
#define DM_DSM_FP_MAGIC1     0x46505853u
#define DM_DSM_FP_XHDR_OFF   512         /* struct _header: xfeatures (XSTATE_BV) first */
#define DM_DSM_XFEATURE_SSE  UINT64_C(2)

typedef struct dm_dsm_emu {
    ucontext_t *uc;
    int         write; /* the fault was a write (page-fault error code) */
} dm_dsm_emu_t;

/* Loads size bytes at p into v with one instruction of that width. */
static void dm_dsm_emu_load(const unsigned char *p, unsigned size, uint64_t v[2])
{
    uint64_t x = 0;

    switch (size) {
    case 1:
        __asm__ volatile("movzbl (%1), %k0" : "=r"(x) : "r"(p) : "memory");
        break;
    case 2:
        __asm__ volatile("movzwl (%1), %k0" : "=r"(x) : "r"(p) : "memory");
        break;
    case 4:
        __asm__ volatile("movl (%1), %k0" : "=r"(x) : "r"(p) : "memory");
        break;
    case 8:
        __asm__ volatile("movq (%1), %0" : "=r"(x) : "r"(p) : "memory");
        break;
    default:
        __asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqu %%xmm0, (%1)"
                         : : "r"(p), "r"(v) : "xmm0", "memory");
        return;
    }
    v[0] = x;
    v[1] = 0;
}

/* Stores the low size bytes of v at p with one instruction of that width. */
static void dm_dsm_emu_store(unsigned char *p, unsigned size, const uint64_t v[2])
{
    switch (size) {
    case 1:
        __asm__ volatile("movb %b0, (%1)" : : "q"(v[0]), "r"(p) : "memory");
        break;
    case 2:
        __asm__ volatile("movw %w0, (%1)" : : "r"(v[0]), "r"(p) : "memory");
        break;
    case 4:
        __asm__ volatile("movl %k0, (%1)" : : "r"(v[0]), "r"(p) : "memory");
        break;
    case 8:
        __asm__ volatile("movq %0, (%1)" : : "r"(v[0]), "r"(p) : "memory");
        break;
    default:
        __asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqu %%xmm0, (%1)"
                         : : "r"(v), "r"(p) : "xmm0", "memory");
        break;
    }
}

/* XMM register reg of the interrupted context as two 64-bit halves (low first). */
static void dm_dsm_xmm_get(const unsigned char *fx, unsigned reg, uint64_t v[2])
{
    memcpy(v, fx + offsetof(struct _libc_fpstate, _xmm) + 16 * reg, 16);
}

static void dm_dsm_xmm_set(unsigned char *fx, unsigned reg, const uint64_t v[2])
{
    uint32_t magic;
    uint64_t bv;

    memcpy(fx + offsetof(struct _libc_fpstate, _xmm) + 16 * reg, v, 16);
    memcpy(&magic, fx + DM_DSM_FP_SW_OFF, sizeof(magic));
    if (magic == DM_DSM_FP_MAGIC1) {
        memcpy(&bv, fx + DM_DSM_FP_XHDR_OFF, sizeof(bv));
        bv |= DM_DSM_XFEATURE_SSE;
        memcpy(fx + DM_DSM_FP_XHDR_OFF, &bv, sizeof(bv));
    }
}

/* dm_dsm_perform_fn: the faulting instruction, emulated (see above). */
static int dm_dsm_emulate(dm_dsm_t *d, uint64_t page, void *arg)
{
    dm_dsm_emu_t *e = arg;
    greg_t *gr = e->uc->uc_mcontext.gregs;
    unsigned char *fx = (unsigned char *)e->uc->uc_mcontext.fpregs;
    uint64_t gpr[16], rip = (uint64_t)gr[REG_RIP], start = (uintptr_t)dm_dsm_app_page(d, page);
    uint64_t ea, v[2] = { 0, 0 };
    dm_x86_insn_t in;
    int store;
    unsigned i;

    if (dm_x86_decode((const uint8_t *)(uintptr_t)rip, DM_X86_MAX_LEN, &in) != 0) {
        return 0;
    }
    store = dm_x86_writes_mem(&in);
    if (store != e->write || (in.rclass == DM_X86_XMM && fx == NULL)) {
        return 0;
    }
    for (i = 0; i < 16; i++) {
        gpr[i] = (uint64_t)gr[dm_dsm_greg[i]];
    }
    ea = dm_x86_ea(&in, gpr, rip);
    if (ea < start || ea - start > d->page_size - in.msize || (ea & (in.align - 1u)) != 0 ||
        (store ? d->pages[page].map != DM_DSM_MAP_RW : d->pages[page].map == DM_DSM_MAP_NONE)) {
        return 0;
    }
    if (in.kind >= DM_X86_ALU_MR) {
        uint64_t fl = (uint64_t)gr[REG_EFL];

        if (dm_x86_alu_run(&in, (void *)(uintptr_t)ea, gpr, &fl) != 0) {
            return 0;
        }
        for (i = 0; i < 16; i++) {
            gr[dm_dsm_greg[i]] = (greg_t)gpr[i];
        }
        gr[REG_EFL] = (greg_t)fl;
    } else if (store) {
        if (in.kind == DM_X86_STORE_IMM) {
            v[0] = in.imm;
        } else if (in.rclass == DM_X86_XMM) {
            dm_dsm_xmm_get(fx, in.reg, v);
        } else {
            v[0] = gpr[in.reg] >> (in.rclass == DM_X86_HIGH8 ? 8 : 0);
        }
        dm_dsm_emu_store((unsigned char *)(uintptr_t)ea, in.msize, v);
    } else {
        dm_dsm_emu_load((const unsigned char *)(uintptr_t)ea, in.msize, v);
        if (in.rclass == DM_X86_XMM) {
            uint64_t x[2];

            dm_dsm_xmm_get(fx, in.reg, x);
            if (in.kind == DM_X86_LOAD_ZX) {
                x[0] = x[1] = 0; /* movss/movsd/movq/movd: the rest of the 128 bits cleared */
                memcpy(x, v, in.msize);
            } else {
                x[0] = v[0];
                x[1] = v[1];
            }
            dm_dsm_xmm_set(fx, in.reg, x);
        } else {
            greg_t *r = &gr[dm_dsm_greg[in.reg]];

            *r = (greg_t)dm_x86_load_result(&in, (uint64_t)*r, v[0]);
        }
    }
    gr[REG_RIP] = (greg_t)(rip + in.len);
    return 1;
}
#endif

/* Calls (or reinstates) the handler that was there before ours. */
static void dm_dsm_chain(int sig, siginfo_t *si, void *uc, const struct sigaction *old)
{
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction != NULL) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        /* default: reinstate it; the access repeats and the signal takes its course */
        signal(sig, SIG_DFL);
    }
}

static void dm_dsm_on_sigbus(int sig, siginfo_t *si, void *ucv)
{
    dm_dsm_t *d = atomic_load(&dm_dsm_current);
    int saved = errno, write, pinned, want_pin;
    uintptr_t a = (uintptr_t)si->si_addr;
    dm_dsm_perform_fn perform = NULL;
    uint64_t page;
#if defined(__x86_64__)
    dm_dsm_emu_t emu = { .uc = ucv };
#endif

    if (d == NULL || !dm_gas_contains(&d->gas, si->si_addr, 1)) {
        dm_dsm_chain(sig, si, ucv, &dm_dsm_old_bus);
        return;
    }
    page = (a - d->gas.base) >> d->page_shift;
#if defined(__x86_64__)
    /* page-fault error code: bit 1 = write access */
    write = (((ucontext_t *)ucv)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    /* a fault on a present (write-protected) page is a write; otherwise read first */
    write = d->pages[page].map == DM_DSM_MAP_RO;
#endif
    /*
     * Every access that had to wait is pinned until it has run once. Pinning
     * only an instruction that already lost its page once (to save the
     * ~10 us of the single-step trap) livelocked SB litmus tests with 3
     * ranks: forward progress needs the pin on the first wait.
     */
#if defined(__x86_64__)
    want_pin = d->step;
    if (d->emulate) {
        /* run the instruction here while the page is held: no single step (dm_dsm_emulate) */
        emu.write = write;
        perform = dm_dsm_emulate;
    }
    if (dm_dsm_fault(d, page, write, want_pin, perform, &emu, &pinned) == 0 && pinned) {
#else
    want_pin = 0;
    if (dm_dsm_fault(d, page, write, want_pin, perform, NULL, &pinned) == 0 && pinned) {
#endif
#if defined(__x86_64__)
        /* trap after the faulting instruction has run once: dm_dsm_on_sigtrap */
        ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_EFL] |= DM_DSM_EFLAGS_TF;
#endif
    }
    errno = saved;
}

/* The instruction that faulted has run: its pages may go. */
static void dm_dsm_on_sigtrap(int sig, siginfo_t *si, void *ucv)
{
    dm_dsm_t *d = atomic_load(&dm_dsm_current);
    int saved = errno;

    if (d == NULL || dm_dsm_npinned == 0) {
        dm_dsm_chain(sig, si, ucv, &dm_dsm_old_trap);
        return;
    }
#if defined(__x86_64__)
    ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)DM_DSM_EFLAGS_TF;
#endif
    dm_tp_serial_enter(d->tp);
    dm_dsm_unpin_mine(d);
    dm_tp_serial_leave(d->tp);
    errno = saved;
}

static void dm_dsm_on_sigsegv(int sig, siginfo_t *si, void *ucv)
{
    dm_dsm_t *d = atomic_load(&dm_dsm_current);
    char msg[256];
    int n;

    if (d == NULL || !dm_gas_contains(&d->gas, si->si_addr, 1)) {
        dm_dsm_chain(sig, si, ucv, &dm_dsm_old_segv);
        return;
    }
    n = snprintf(msg, sizeof(msg),
                 "distmem: rank %d: segmentation fault at %p: inside distmem's address space "
                 "[%p, %p) but outside any allocation\n",
                 d->rank, si->si_addr, (void *)d->gas.base, (void *)(d->gas.base + d->gas.size));
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg));

        (void)w;
    }
    signal(SIGSEGV, SIG_DFL);
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                            */

void *dm_dsm_map_meta(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static void dm_dsm_on_heap(void *arg, int src, const void *hdr, size_t hdr_len,
                           const void *data, size_t len);

/* Opens userfaultfd for SIGBUS-mode missing and write-protect faults. */
/*
 * Opens the userfaultfd in SIGBUS mode with write protection, and with
 * UFFDIO_MOVE when the kernel has it (*move_p = 1; Linux 6.8).
 */
static dm_status_t dm_dsm_uffd_open(int *fd_p, int *move_p)
{
    struct uffdio_api api;
    int fd, move;

    for (move = 1; move >= 0; move--) {
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && (errno == EPERM || errno == EACCES)) {
#ifdef UFFD_USER_MODE_ONLY
            fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
#endif
        }
        if (fd < 0) {
            return dm_error_set(DM_ERR_UNSUPPORTED,
                                "userfaultfd: %s (distmem handles page faults with it; allow it "
                                "with `sysctl vm.unprivileged_userfaultfd=1` or run with "
                                "CAP_SYS_PTRACE)",
                                strerror(errno));
        }
        memset(&api, 0, sizeof(api));
        api.api = UFFD_API;
        api.features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP |
                       (move ? UFFD_FEATURE_MOVE : 0);
        if (ioctl(fd, UFFDIO_API, &api) == 0) {
            *fd_p = fd;
            *move_p = move;
            return DM_OK;
        }
        /* an unknown feature bit fails the handshake: try again without MOVE */
        int e = errno;

        close(fd);
        if (!move) {
            return dm_error_set(DM_ERR_UNSUPPORTED,
                                "userfaultfd without SIGBUS mode or write protection (%s); "
                                "distmem needs Linux 5.7 or later",
                                strerror(e));
        }
    }
    return DM_ERR_UNSUPPORTED; /* not reached */
}

/*
 * The move ring: private anonymous memory like the global address space
 * (UFFDIO_MOVE wants the same protection on both sides), registered with
 * the same userfaultfd (it moves only into registered memory). Optional:
 * without it a revoked page is copied (d->mv_ring stays NULL).
 */
static void dm_dsm_move_ring_init(dm_dsm_t *d)
{
    size_t len = (size_t)DM_DSM_MOVE_RING << d->page_shift;
    struct uffdio_register reg;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        return;
    }
    madvise(p, len, MADV_NOHUGEPAGE);
    memset(&reg, 0, sizeof(reg));
    reg.range.start = (uintptr_t)p;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(d->uffd, UFFDIO_REGISTER, &reg) != 0 || !(reg.ioctls & (1ull << _UFFDIO_MOVE))) {
        DM_DEBUG("revoked pages are copied: the move ring cannot be registered (%s)",
                 strerror(errno));
        munmap(p, len);
        return;
    }
    d->mv_ring = p;
    d->mv_next = 0;
}

dm_status_t dm_dsm_create(dm_tp_t *tp, const dm_config_t *cfg, dm_dsm_t **dsm_p)
{
    struct uffdio_register reg;
    struct sigaction sa;
    dm_dsm_t *d, *expected = NULL;
    uint64_t heap_first;
    dm_status_t st;
    int move = 0;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "shared memory runtime");
    }
    d->tp = tp;
    d->peer_failed = dm_tp_failed_flags(tp);
    d->rank = dm_tp_rank(tp);
    d->nranks = dm_tp_nranks(tp);
    d->page_size = (size_t)sysconf(_SC_PAGESIZE);
    d->page_shift = (unsigned)__builtin_ctzl(d->page_size);
    d->prefetch = (int)cfg->prefetch;
#if defined(__x86_64__)
    d->step = cfg->fault_step;
    d->emulate = cfg->fault_emulate;
#endif
    d->uffd = -1;
    d->scratch_page = UINT64_MAX;
    pthread_mutex_init(&d->heap_lock, NULL);

    /* Opened before the collective reservation: every rank fails alike, quickly. */
    st = dm_dsm_uffd_open(&d->uffd, &move);
    if (st != DM_OK) {
        goto err_free;
    }
    st = dm_gas_reserve(tp, cfg->gas_size, &d->gas);
    if (st != DM_OK) {
        goto err_uffd;
    }
    dm_place_init(&d->place, d->gas.size >> d->page_shift, (uint64_t)cfg->home_block, d->nranks);
    if (d->place.heap_pages == 0) {
        st = dm_error_set(DM_ERR_CONFIG, "DISTMEM_GAS_SIZE of %zu bytes is too small for %d ranks",
                          d->gas.size, d->nranks);
        goto err_gas;
    }
    dm_heap_init(&d->heap, d->place.heap_pages << d->page_shift);
    /* uffd installs 4 KiB pages; a transparent huge page would hide faults */
    madvise((void *)d->gas.base, d->gas.size, MADV_NOHUGEPAGE);
    memset(&reg, 0, sizeof(reg));
    reg.range.start = d->gas.base;
    reg.range.len = d->gas.size;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
    if (ioctl(d->uffd, UFFDIO_REGISTER, &reg) != 0 ||
        !(reg.ioctls & (1ull << _UFFDIO_COPY)) || !(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
        st = dm_error_set(DM_ERR_UNSUPPORTED,
                          "userfaultfd cannot watch anonymous memory for missing and "
                          "write-protect faults here (%s)",
                          strerror(errno));
        goto err_gas;
    }
    if (move && cfg->fault_move) {
        dm_dsm_move_ring_init(d);
    }
    heap_first = dm_place_heap_first(&d->place, 0);
    if (mprotect((void *)(d->gas.base + (heap_first << d->page_shift)),
                 (size_t)(d->place.heap_pages * (uint64_t)d->nranks) << d->page_shift,
                 PROT_READ | PROT_WRITE) != 0) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "opening the global heap: %s", strerror(errno));
        goto err_gas;
    }
    d->meta_bytes = (size_t)d->place.npages * sizeof(dm_dsm_page_t);
    d->dirs_bytes = (size_t)d->place.npages * sizeof(dm_dsm_dirent_t *);
    if ((st = dm_dsm_homemem_init(d, cfg)) != DM_OK) {
        goto err_maps;
    }
    d->pages = dm_dsm_map_meta(d->meta_bytes);
    d->dirs = dm_dsm_map_meta(d->dirs_bytes);
    d->scratch = aligned_alloc(d->page_size, d->page_size);
    /* write-back slots: evictions (cache budget) and hand-overs to same-host ranks (rma.c) */
    d->wb_mem = aligned_alloc(d->page_size, (size_t)DM_DSM_WB << d->page_shift);
    for (int i = 0; i < DM_DSM_WB; i++) {
        d->wb_page[i] = UINT64_MAX;
    }
    if (d->wb_mem == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "write-back slots");
        goto err_maps;
    }
    if (cfg->cache_size != 0) {
        d->cache_pages = DM_MAX(cfg->cache_size >> d->page_shift, (uint64_t)64);
        d->fifo_cap = 2 * d->cache_pages + 1024;
        d->fifo = malloc(d->fifo_cap * sizeof(*d->fifo));
        if (d->fifo == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "cache bookkeeping for %llu pages",
                              (unsigned long long)d->cache_pages);
            goto err_maps;
        }
    }
    /* the first chunk of directory entries now: the first pages shared cost no allocation */
    if (d->pages == NULL || d->dirs == NULL || d->scratch == NULL || dm_dsm_dirent_refill(d) != 0) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "page tables for %zu bytes",
                          d->gas.size);
        goto err_maps;
    }
    if (!atomic_compare_exchange_strong(&dm_dsm_current, &expected, d)) {
        st = dm_error_set(DM_ERR_EXISTS, "a shared memory runtime exists in this process");
        goto err_maps;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = dm_dsm_on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &dm_dsm_old_bus);
    sa.sa_sigaction = dm_dsm_on_sigsegv;
    sigaction(SIGSEGV, &sa, &dm_dsm_old_segv);
    sa.sa_sigaction = dm_dsm_on_sigtrap;
    sigaction(SIGTRAP, &sa, &dm_dsm_old_trap);

    if ((st = dm_tp_am_register(tp, DM_DSM_AM_PROTO, dm_dsm_on_proto, d)) != DM_OK ||
        (st = dm_tp_am_register(tp, DM_DSM_AM_HEAP, dm_dsm_on_heap, d)) != DM_OK ||
        (st = dm_rma_init(d)) != DM_OK || (st = dm_dsm_place_init(d, cfg)) != DM_OK) {
        goto err_signals;
    }
    /* every rank's handlers are in place before anyone faults */
    st = dm_tp_barrier(tp);
    if (st != DM_OK) {
        goto err_signals;
    }
    DM_DEBUG("shared memory: %zu bytes at %#lx, %llu pages per heap, home block %ld",
             d->gas.size, (unsigned long)d->gas.base, (unsigned long long)d->place.heap_pages,
             cfg->home_block);
    *dsm_p = d;
    return DM_OK;

err_signals:
    dm_dsm_place_cleanup(d);
    dm_rma_cleanup(d);
    sigaction(SIGBUS, &dm_dsm_old_bus, NULL);
    sigaction(SIGSEGV, &dm_dsm_old_segv, NULL);
    sigaction(SIGTRAP, &dm_dsm_old_trap, NULL);
    atomic_store(&dm_dsm_current, NULL);
err_maps:
    dm_dsm_dirent_cleanup(d);
    if (d->mv_ring != NULL) {
        munmap(d->mv_ring, (size_t)DM_DSM_MOVE_RING << d->page_shift);
    }
    free(d->scratch);
    free(d->fifo);
    free(d->wb_mem);
    dm_dsm_homemem_cleanup(d);
    if (d->pages != NULL) {
        munmap(d->pages, d->meta_bytes);
    }
    if (d->dirs != NULL) {
        munmap(d->dirs, d->dirs_bytes);
    }
    dm_heap_cleanup(&d->heap);
err_gas:
    dm_gas_release(&d->gas);
err_uffd:
    close(d->uffd);
err_free:
    pthread_mutex_destroy(&d->heap_lock);
    free(d);
    return st;
}

void dm_dsm_destroy(dm_dsm_t *d)
{
    dm_dsm_dirent_t *e, *next;

    if (d == NULL) {
        return;
    }
    DM_INFO("fault path: %llu pinned accesses emulated, %llu single-stepped; "
            "%llu written pages revoked by moving the frame, %llu by copying",
            (unsigned long long)atomic_load(&d->st_emulated),
            (unsigned long long)atomic_load(&d->st_stepped),
            (unsigned long long)d->st_moved, (unsigned long long)d->st_copied);
    sigaction(SIGBUS, &dm_dsm_old_bus, NULL);
    sigaction(SIGSEGV, &dm_dsm_old_segv, NULL);
    sigaction(SIGTRAP, &dm_dsm_old_trap, NULL);
    atomic_store(&dm_dsm_current, NULL);
    dm_rma_cleanup(d); /* before the directory entries holding waiting operations go */
    dm_dsm_place_cleanup(d);
    for (e = d->dir_list; e != NULL; e = next) {
        next = e->next;
        dm_coh_dir_cleanup(&e->dir);
    }
    dm_dsm_dirent_cleanup(d);
    close(d->uffd);
    dm_dsm_homemem_stats(d);
    dm_dsm_homemem_cleanup(d); /* before the release zeroes gas.size */
    dm_gas_release(&d->gas);
    munmap(d->pages, d->meta_bytes);
    munmap(d->dirs, d->dirs_bytes);
    if (d->mv_ring != NULL) {
        munmap(d->mv_ring, (size_t)DM_DSM_MOVE_RING << d->page_shift);
    }
    free(d->scratch);
    free(d->fifo);
    free(d->wb_mem);
    free(d->regions);
    dm_heap_cleanup(&d->heap);
    pthread_mutex_destroy(&d->heap_lock);
    free(d);
}

dm_tp_t *dm_dsm_tp(dm_dsm_t *d)
{
    return d->tp;
}

void dm_dsm_stats(dm_dsm_t *d, dm_dsm_stats_t *s)
{
    s->read_faults = atomic_load(&d->st_read);
    s->write_faults = atomic_load(&d->st_write);
    s->prefetches = atomic_load(&d->st_prefetch);
    s->msgs_sent = atomic_load(&d->st_sent);
    s->msgs_self = atomic_load(&d->st_self);
    s->retries = atomic_load(&d->st_retry);
    s->evictions = atomic_load(&d->st_evict);
    s->rma_local = atomic_load(&d->st_rma_local);
    s->rma_remote = atomic_load(&d->st_rma_remote);
    s->rma_home_direct = atomic_load(&d->st_rma_home_direct);
    s->rma_home_queued = atomic_load(&d->st_rma_home_queued);
    s->rma_batches = atomic_load(&d->st_rma_batches);
    s->rma_direct = atomic_load(&d->st_rma_direct);
    s->rma_run_pages = atomic_load(&d->st_rma_run_pages);
    s->rma_hand_over = atomic_load(&d->st_rma_hand_over);
}

int dm_dsm_home(dm_dsm_t *d, const void *p)
{
    uint64_t page;
    int open;

    if (d == NULL || !dm_gas_contains(&d->gas, p, 1)) {
        return -1;
    }
    page = ((uintptr_t)p - d->gas.base) >> d->page_shift;
    dm_tp_serial_enter(d->tp);
    open = page >= d->place.coll_pages || dm_dsm_region_of(d, page) != NULL;
    dm_tp_serial_leave(d->tp);
    return open ? dm_dsm_home_of(d, page) : -1;
}

/* ------------------------------------------------------------------ */
/* collective allocation                                                */

/* First fit among the gaps between regions. pre: serial lock. */
static int dm_dsm_region_find(const dm_dsm_t *d, uint64_t npages, uint64_t *first_p, size_t *pos_p)
{
    uint64_t at = 0;
    size_t i;

    for (i = 0; i <= d->nregions; i++) {
        uint64_t end = i < d->nregions ? d->regions[i].first : d->place.coll_pages;

        if (end - at >= npages) {
            *first_p = at;
            *pos_p = i;
            return 0;
        }
        if (i < d->nregions) {
            at = d->regions[i].first + d->regions[i].npages;
        }
    }
    return -1;
}

/*
 * Opens [first, first + npages) as a region at pos (pre: serial lock).
 * Returns DM_OK or the reason it could not.
 */
static dm_status_t dm_dsm_region_open(dm_dsm_t *d, uint64_t first, uint64_t npages, size_t pos)
{
    if (d->nregions == d->regions_cap) {
        size_t cap = d->regions_cap ? d->regions_cap * 2 : 16;
        dm_dsm_region_t *nr = realloc(d->regions, cap * sizeof(*nr));

        if (nr == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "dm_alloc: region table");
        }
        d->regions = nr;
        d->regions_cap = cap;
    }
    if (mprotect(dm_dsm_app_page(d, first), (size_t)npages << d->page_shift,
                 PROT_READ | PROT_WRITE) != 0) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_alloc: opening %llu pages: %s",
                            (unsigned long long)npages, strerror(errno));
    }
    memmove(&d->regions[pos + 1], &d->regions[pos], (d->nregions - pos) * sizeof(*d->regions));
    d->regions[pos].first = first;
    d->regions[pos].npages = npages;
    d->nregions++;
    return DM_OK;
}

/*
 * Every rank opens the region before the allgather and closes it again if
 * any rank asked for another size or could not open it. So when dm_alloc
 * returns anywhere, every rank knows the region (the allgather completes
 * only after everyone contributed): an operation on the new memory that
 * reaches its home at once finds it allocated there.
 */
dm_status_t dm_dsm_alloc(dm_dsm_t *d, size_t bytes, void **ptr_p)
{
    /* [0]: the size asked for; [1]: 1 when this rank opened the region */
    uint64_t mine[2] = { bytes, 0 }, *all;
    uint64_t npages = (bytes + d->page_size - 1) >> d->page_shift, first = 0;
    size_t pos = 0;
    dm_status_t st = DM_OK, local = DM_OK;
    char why[256] = "";
    int r;

    all = malloc(sizeof(mine) * (size_t)d->nranks);
    if (all == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_alloc");
    }
    if (bytes > 0) {
        dm_tp_serial_enter(d->tp);
        if (dm_dsm_region_find(d, npages, &first, &pos) != 0) {
            local = dm_error_set(DM_ERR_NO_MEMORY,
                                 "dm_alloc of %zu bytes: the collective area (%llu bytes, half of "
                                 "DISTMEM_GAS_SIZE) has no free range that large",
                                 bytes, (unsigned long long)(d->place.coll_pages << d->page_shift));
        } else {
            local = dm_dsm_region_open(d, first, npages, pos);
        }
        dm_tp_serial_leave(d->tp);
        mine[1] = local == DM_OK;
        if (local != DM_OK) {
            snprintf(why, sizeof(why), "%s", dm_last_error());
        }
    }
    /* collective: everyone learns what everyone asked for, and whether it worked */
    st = dm_tp_allgather(d->tp, mine, all, sizeof(mine));
    for (r = 0; st == DM_OK && r < d->nranks; r++) {
        if (all[2 * r] != bytes) {
            st = dm_error_set(DM_ERR_INVALID_PARAM,
                              "dm_alloc is collective: rank %d asked for %zu bytes, rank %d "
                              "for %llu",
                              d->rank, bytes, r, (unsigned long long)all[2 * r]);
        } else if (bytes == 0) {
            st = dm_error_set(DM_ERR_INVALID_PARAM, "dm_alloc of 0 bytes");
        } else if (local != DM_OK) {
            st = dm_error_set(local, "%s", why);
        } else if (all[2 * r + 1] == 0) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "dm_alloc of %zu bytes failed at rank %d",
                              bytes, r);
        }
    }
    free(all);
    if (st != DM_OK) {
        if (mine[1]) {
            /* nobody uses the region: every rank closes it */
            dm_tp_serial_enter(d->tp);
            mprotect(dm_dsm_app_page(d, first), (size_t)npages << d->page_shift, PROT_NONE);
            memmove(&d->regions[pos], &d->regions[pos + 1],
                    (d->nregions - pos - 1) * sizeof(*d->regions));
            d->nregions--;
            dm_tp_serial_leave(d->tp);
        }
        return st;
    }
    *ptr_p = dm_dsm_app_page(d, first);
    return DM_OK;
}

static int dm_dsm_settled(void *arg)
{
    dm_dsm_t *d = arg;

    return (atomic_load(&d->ntransient) == 0 && atomic_load(&d->rma_inflight) == 0) ||
           atomic_load(&d->broken) != NULL;
}

dm_status_t dm_dsm_quiesce(dm_dsm_t *d)
{
    if (d == NULL) {
        return DM_OK;
    }
    return dm_tp_wait_until(d->tp, dm_dsm_settled, d);
}

dm_status_t dm_dsm_free(dm_dsm_t *d, void *ptr)
{
    uint64_t page, q, mine = (uint64_t)(uintptr_t)ptr, *all;
    dm_dsm_region_t reg;
    dm_status_t st;
    size_t i;
    int r, found = -1;

    all = malloc(sizeof(*all) * (size_t)d->nranks);
    if (all == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "dm_free");
    }
    st = dm_tp_allgather(d->tp, &mine, all, sizeof(mine));
    for (r = 0; st == DM_OK && r < d->nranks; r++) {
        if (all[r] != mine) {
            st = dm_error_set(DM_ERR_INVALID_PARAM,
                              "dm_free is collective: rank %d frees %p, rank %d %p", d->rank, ptr,
                              r, (void *)(uintptr_t)all[r]);
        }
    }
    free(all);
    if (st != DM_OK) {
        return st;
    }
    if (dm_gas_contains(&d->gas, ptr, 1) &&
        ((uintptr_t)ptr - d->gas.base) % d->page_size == 0) {
        page = ((uintptr_t)ptr - d->gas.base) >> d->page_shift;
        dm_tp_serial_enter(d->tp);
        for (i = 0; i < d->nregions; i++) {
            if (d->regions[i].first == page) {
                found = (int)i;
            }
        }
        dm_tp_serial_leave(d->tp);
    }
    if (found < 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_free(%p): not memory from dm_alloc", ptr);
    }
    /* Quiesce: no request of ours in flight (prefetches), then nobody's. */
    st = dm_dsm_quiesce(d);
    if (st == DM_OK) {
        st = dm_tp_barrier(d->tp);
    }
    if (st != DM_OK) {
        return st;
    }
    dm_tp_serial_enter(d->tp);
    reg = d->regions[found];
    for (q = reg.first; q < reg.first + reg.npages; q++) {
        dm_dsm_dir_drop(d, q);
        atomic_store(&d->pages[q].state, DM_COH_I);
        if (d->pages[q].map != DM_DSM_MAP_NONE) {
            d->ncached--; /* its FIFO entry turns stale */
        }
        d->pages[q].map = DM_DSM_MAP_NONE;
    }
    if (d->scratch_page >= reg.first && d->scratch_page < reg.first + reg.npages) {
        d->scratch_page = UINT64_MAX;
    }
    madvise(dm_dsm_app_page(d, reg.first), (size_t)reg.npages << d->page_shift, MADV_DONTNEED);
    mprotect(dm_dsm_app_page(d, reg.first), (size_t)reg.npages << d->page_shift, PROT_NONE);
    dm_dsm_homemem_discard(d, reg.first, reg.npages);
    dm_dsm_place_forget(d, reg.first, reg.npages);
    memmove(&d->regions[found], &d->regions[found + 1],
            (d->nregions - (size_t)found - 1) * sizeof(*d->regions));
    d->nregions--;
    dm_tp_serial_leave(d->tp);
    return DM_OK;
}

/* ------------------------------------------------------------------ */
/* the global heap                                                      */

dm_status_t dm_dsm_malloc(dm_dsm_t *d, size_t bytes, void **ptr_p)
{
    uint64_t off = 0;
    dm_status_t st;

    pthread_mutex_lock(&d->heap_lock);
    st = dm_heap_alloc(&d->heap, bytes, &off);
    pthread_mutex_unlock(&d->heap_lock);
    if (st == DM_OK) {
        *ptr_p = dm_dsm_app_page(d, dm_place_heap_first(&d->place, d->rank)) + off;
    }
    return st;
}

static dm_status_t dm_dsm_heap_free_local(dm_dsm_t *d, uint64_t off)
{
    dm_status_t st;

    pthread_mutex_lock(&d->heap_lock);
    st = dm_heap_free(&d->heap, off);
    pthread_mutex_unlock(&d->heap_lock);
    return st;
}

static void dm_dsm_on_heap(void *arg, int src, const void *hdr, size_t hdr_len,
                           const void *data, size_t len)
{
    dm_dsm_t *d = arg;
    uint64_t off;

    (void)data;
    if (hdr_len != sizeof(off) || len != 0) {
        DM_ERROR("rank %d: malformed heap message", src);
        dm_tp_peer_fail(d->tp, src, "malformed heap message");
        return;
    }
    memcpy(&off, hdr, sizeof(off));
    if (dm_dsm_heap_free_local(d, off) != DM_OK) {
        /* the caller cannot be told any more: say it here */
        fprintf(stderr, "distmem: rank %d: dm_mfree from rank %d: %s\n", d->rank, src,
                dm_last_error());
    }
}

dm_status_t dm_dsm_mfree(dm_dsm_t *d, void *ptr)
{
    uintptr_t a = (uintptr_t)ptr;
    uint64_t page, off;
    int owner;

    if (!dm_gas_contains(&d->gas, ptr, 1)) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_mfree(%p): not distmem memory", ptr);
    }
    page = (a - d->gas.base) >> d->page_shift;
    if (page < d->place.coll_pages || (owner = dm_place_home(&d->place, page)) < 0) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_mfree(%p): not memory from dm_malloc", ptr);
    }
    off = a - (uintptr_t)dm_dsm_app_page(d, dm_place_heap_first(&d->place, owner));
    if (owner == d->rank) {
        return dm_dsm_heap_free_local(d, off);
    }
    /* the owner checks the block; an error is reported there */
    return dm_tp_am_post(d->tp, owner, DM_DSM_AM_HEAP, &off, sizeof(off), NULL, 0);
}
