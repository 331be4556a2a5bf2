/*
 * Same-host direct access: one-sided operations on a page homed at another
 * rank of this host read and write that rank's home memory themselves,
 * without a message, when the page protocol allows it.
 *
 * THE ESSAY
 *
 * Sharing. The ranks of one host (same boot, same network, PID and IPC
 * namespaces) that keep home memory in place (DISTMEM_HOME_MEMORY=0) put
 * it in one shared file: the lowest of them creates a memfd as large as
 * the address space plus one word per page, the others open it through
 * /proc/PID/fd and map it. A page has one home, so the ranks' home memory
 * does not overlap: page p's data sits at offset p * page size whoever its
 * home is. A rank that cannot map the file keeps private home memory, and
 * nobody accesses its pages directly (the second allgather says who
 * mapped it).
 *
 * The page word (dwords[p], in the same file) is a seqlock with the
 * home directory's state in it:
 *     bits 0-1  U: home memory is current and no copy exists (H_U, idle),
 *               S: home memory is current, read-only copies exist (H_S,
 *                  idle), X: anything else (an owner, a transaction, queued
 *                  operations): home memory may be stale;
 *     bit 2     held: someone is reading or writing home memory (see below);
 *     bits 3-63 sequence, +1 at every release.
 * A word of zeros is U: never touched pages are current zeros.
 *
 * The home holds the word while its protocol handles a message for the
 * page (dm_coh_home_msg, which reads home memory to send it and writes it
 * when data comes back) and while it applies a one-sided operation to
 * home memory; it releases it with the state the directory is left in.
 * So a word that says U or S, and is not held, describes home memory that
 * is current and that nobody changes until the word changes.
 *
 * An initiator on the same host, with no operation of its own in flight
 * (so nothing it issued earlier could be overtaken), the page known to be
 * allocated (the span cache, direct.h) and the home not known to have
 * failed, takes no lock of its own (rma.c's dm_rma_fast), and:
 *   - get or fetch: reads the word; U or S, not held: copies the bytes,
 *     then reads the word again; unchanged means no release came in
 *     between, so the copy is the current data (a seqlock read);
 *   - put or atomic: only in U (no copy anywhere to invalidate): takes
 *     the word (held, by compare-and-swap from an unheld U), applies the
 *     operation to home memory with the same instructions the home would,
 *     releases it still U.
 * Anything else (X, held for long, S for a write, the home not sharing)
 * goes to the home as a message, exactly as before. A direct operation is
 * complete when it returns. Whether the initiator holds a copy itself
 * does not matter here: its copy makes the word X (M: the operation goes
 * the long way, which uses the copy) or S (home memory equals the copy).
 *
 * Why coherence and the guarantees of rma.c hold. A write happens only in
 * U: no node has a copy, so no later plain load can read a stale one: it
 * misses, and the home's answer comes from home memory after the write
 * (the home takes the word first). A read in U or S reads what every copy
 * holds. An atomic holds the word, as does the home for every operation
 * it applies to home memory: atomics exclude one another. One initiator's
 * operations on a page keep their order: it uses the direct path only
 * with nothing in flight, and a direct operation is complete at return.
 *
 * Failure. A rank that dies holding a word would block its home: the home
 * gives up after DM_DSM_DIRECT_HOLD_NS and breaks the runtime with a
 * message (the page may be half written). An initiator never waits for a
 * word: after a few tries it sends a message. Operations on the pages of
 * a home that failed fail as messages would (DM_ERR_PEER_FAILED). Direct
 * operations send nothing, so nothing would tell the initiator that a
 * home died: every DM_RMA_DIRECT_CHECK (rma.c) direct operations it polls
 * the pidfds of the same-host peers (one poll), and marks an exited one
 * failed; later operations on its pages take the message path and fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coll.h"
#include "direct.h"
#include "dsm_int.h"
#include "log.h"
#include "status.h"
#include "util.h"

#define DM_DSM_DIRECT_HOLD_NS (10ull * 1000 * 1000 * 1000) /* the home waits this long for a word */

dm_dsm_span_cache_t dm_dsm_spans; /* direct.h */

/* Empties the span cache. pre: serial lock (or no other thread running). */
static void dm_direct_span_drop(void)
{
    uint64_t s = atomic_load_explicit(&dm_dsm_spans.seq, memory_order_relaxed);

    atomic_store_explicit(&dm_dsm_spans.seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < DM_DSM_SPANS; i++) {
        atomic_store_explicit(&dm_dsm_spans.lo[i], 0, memory_order_relaxed);
        atomic_store_explicit(&dm_dsm_spans.end[i], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&dm_dsm_spans.d, NULL, memory_order_relaxed);
    atomic_store_explicit(&dm_dsm_spans.seq, s + 2, memory_order_release);
}

void dm_dsm_direct_span_note(const dm_dsm_t *d, uint64_t lo, uint64_t end)
{
    uint64_t s = atomic_load_explicit(&dm_dsm_spans.seq, memory_order_relaxed);
    unsigned i;

    if (atomic_load_explicit(&dm_dsm_spans.d, memory_order_relaxed) != d) {
        dm_direct_span_drop(); /* another runtime's spans (one runtime at a time in practice) */
        s = atomic_load_explicit(&dm_dsm_spans.seq, memory_order_relaxed);
    }
    atomic_store_explicit(&dm_dsm_spans.seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&dm_dsm_spans.d, d, memory_order_relaxed);
    /* live allocations are disjoint: one end names one allocation, so its spans merge */
    for (i = 0; i < DM_DSM_SPANS; i++) {
        if (atomic_load_explicit(&dm_dsm_spans.end[i], memory_order_relaxed) == end) {
            break;
        }
    }
    if (i == DM_DSM_SPANS) {
        i = dm_dsm_spans.next;
        dm_dsm_spans.next = (i + 1) % DM_DSM_SPANS;
        atomic_store_explicit(&dm_dsm_spans.end[i], end, memory_order_relaxed);
    } else if (atomic_load_explicit(&dm_dsm_spans.lo[i], memory_order_relaxed) < lo) {
        lo = atomic_load_explicit(&dm_dsm_spans.lo[i], memory_order_relaxed);
    }
    atomic_store_explicit(&dm_dsm_spans.lo[i], lo, memory_order_relaxed);
    atomic_store_explicit(&dm_dsm_spans.seq, s + 2, memory_order_release);
}

/* What each rank tells the others at start (one allgather). */
typedef struct dm_direct_rec {
    uint64_t host; /* dm_direct_host_key */
    int32_t  pid;
    int32_t  fd;   /* its memfd, -1 when it does not share */
} dm_direct_rec_t;

static uint64_t dm_direct_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ c[i]) * 0x100000001b3ull;
    }
    return h;
}

/*
 * Names this host as far as sharing memory goes: the boot, and the
 * namespaces that must match for /proc/PID/fd of a peer to be this
 * kernel's view (network too: ranks in different network namespaces
 * count as different hosts, as the multi-host test means them).
 */
static uint64_t dm_direct_host_key(void)
{
    static const char *const ns[] = { "/proc/self/ns/net", "/proc/self/ns/pid",
                                      "/proc/self/ns/ipc", "/proc/self/ns/mnt" };
    uint64_t h = 0xcbf29ce484222325ull;
    char boot[64] = "";
    struct stat sb;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) == NULL) {
            boot[0] = '\0';
        }
        fclose(f);
    }
    h = dm_direct_fnv(h, boot, strlen(boot));
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        uint64_t ino = stat(ns[i], &sb) == 0 ? (uint64_t)sb.st_ino : 0;

        h = dm_direct_fnv(h, &ino, sizeof(ino));
    }
    return h;
}

/* DISTMEM_RMA_DIRECT=auto: on unless UCX_TLS leaves shared memory out. */
static int dm_direct_auto(void)
{
    static const char *const shm[] = { "sm", "shm", "posix", "sysv", "cma", "xpmem", "knem",
                                       "all" };
    const char *tls = getenv("UCX_TLS");

    if (tls == NULL || tls[0] == '\0' || tls[0] == '^') {
        return 1;
    }
    for (size_t i = 0; i < sizeof(shm) / sizeof(shm[0]); i++) {
        if (strstr(tls, shm[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

dm_status_t dm_dsm_direct_init(dm_dsm_t *d, const dm_config_t *cfg)
{
    dm_direct_rec_t mine, *all = NULL;
    uint8_t ok = 0, *oks = NULL;
    size_t words = (size_t)d->place.npages * sizeof(uint64_t);
    int want, leader = -1, fd = -1, r;
    void *map = MAP_FAILED;
    dm_status_t st;

    d->home_bytes = d->gas.size + ((words + d->page_size - 1) & ~(d->page_size - 1));
    d->direct_leader = -1;
    want = cfg->home_memory == 0 && d->nranks > 1 &&
           (cfg->rma_direct == DM_RMA_DIRECT_YES ||
            (cfg->rma_direct == DM_RMA_DIRECT_AUTO && dm_direct_auto()));
    mine.host = dm_direct_host_key();
    mine.pid = (int32_t)getpid();
    mine.fd = -1;
    if (want) {
        fd = memfd_create("distmem-home", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)d->home_bytes) != 0) {
            DM_INFO("same-host direct access off: shared home memory: %s", strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            fd = -1;
        }
        mine.fd = fd;
    }
    all = calloc((size_t)d->nranks, sizeof(*all));
    oks = calloc((size_t)d->nranks, 1);
    d->direct_peer = calloc((size_t)d->nranks, 1);
    d->direct_pidfd = malloc((size_t)d->nranks * sizeof(int));
    for (r = 0; d->direct_pidfd != NULL && r < d->nranks; r++) {
        d->direct_pidfd[r] = -1;
    }
    if (all == NULL || oks == NULL || d->direct_peer == NULL || d->direct_pidfd == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "same-host direct access table");
        goto out;
    }
    /* every rank takes part in both allgathers, sharing or not */
    st = dm_tp_allgather(d->tp, &mine, all, sizeof(mine));
    if (st != DM_OK) {
        goto out;
    }
    for (r = 0; r < d->nranks && leader < 0; r++) {
        if (all[r].host == mine.host && all[r].fd >= 0) {
            leader = r;
        }
    }
    if (mine.fd >= 0 && leader >= 0) {
        int sfd = fd;

        if (leader != d->rank) {
            char path[64];

            snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)all[leader].pid,
                     (int)all[leader].fd);
            sfd = open(path, O_RDWR | O_CLOEXEC);
        }
        if (sfd >= 0) {
            struct stat sb;

            if (fstat(sfd, &sb) == 0 && (uint64_t)sb.st_size == d->home_bytes) {
                map = mmap(NULL, d->home_bytes, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_NORESERVE, sfd, 0);
            }
            if (sfd != fd) {
                close(sfd);
            }
        }
        if (map == MAP_FAILED) {
            DM_INFO("same-host direct access off here: cannot map rank %d's home memory file: %s",
                    leader, strerror(errno));
        }
    }
    ok = map != MAP_FAILED;
    st = dm_tp_allgather(d->tp, &ok, oks, 1);
    if (st != DM_OK) {
        goto out;
    }
    if (ok) {
        int peers = 0;

        for (r = 0; r < d->nranks; r++) {
            if (oks[r] && all[r].host == mine.host) {
                if (d->direct_leader < 0) {
                    d->direct_leader = r;
                }
                if (r != d->rank) {
                    d->direct_peer[r] = 1;
                    peers++;
                }
            }
        }
        for (r = 0; r < d->nranks && peers > 0; r++) {
            d->direct_pidfd[r] = d->direct_peer[r] ? (int)syscall(SYS_pidfd_open, all[r].pid, 0)
                                                   : -1;
            if (d->direct_peer[r] && d->direct_pidfd[r] < 0) {
                DM_INFO("same-host direct access to rank %d off: pidfd_open: %s", r,
                        strerror(errno));
                d->direct_peer[r] = 0; /* its death would go unnoticed here */
            }
        }
        if (peers > 0) {
            d->home_mem = map;
            d->dwords = (_Atomic uint64_t *)(void *)((unsigned char *)map + d->gas.size);
            d->direct_home = 1;
            map = MAP_FAILED;
            DM_INFO("same-host direct access with %d other rank(s); rank %d discards freed pages",
                    peers, d->direct_leader);
        }
    }
out:
    if (map != MAP_FAILED) {
        munmap(map, d->home_bytes);
    }
    if (fd >= 0) {
        close(fd); /* the peers opened it (before the second allgather) or never will */
    }
    free(all);
    free(oks);
    if (st == DM_OK && d->home_mem == NULL && cfg->home_memory == 0) {
        d->direct_leader = -1;
        d->home_mem = dm_dsm_map_meta(d->home_bytes);
        if (d->home_mem == NULL) {
            st = dm_error_set(DM_ERR_NO_MEMORY, "home memory for %zu bytes", d->gas.size);
        }
    }
    return st;
}

void dm_dsm_direct_cleanup(dm_dsm_t *d)
{
    for (int r = 0; d->direct_pidfd != NULL && r < d->nranks; r++) {
        if (d->direct_pidfd[r] >= 0) {
            close(d->direct_pidfd[r]);
        }
    }
    free(d->direct_pidfd);
    d->direct_pidfd = NULL;
    free(d->direct_peer);
    d->direct_peer = NULL;
    d->direct_home = 0;
    dm_direct_span_drop(); /* a later runtime may live at the same address */
    d->dwords = NULL;
}

unsigned dm_dsm_direct_state(const dm_dsm_t *d, uint64_t page)
{
    const dm_dsm_dirent_t *e = d->dirs[page];

    if (e == NULL) {
        return DM_DSM_DW_U; /* never asked: only home memory holds it */
    }
    if (e->dir.busy || e->dir.qlen > 0 || e->rma_head != NULL) {
        return DM_DSM_DW_X;
    }
    return e->dir.state == DM_COH_H_U ? DM_DSM_DW_U
           : e->dir.state == DM_COH_H_S ? DM_DSM_DW_S
                                        : DM_DSM_DW_X;
}

void dm_dsm_direct_hold(dm_dsm_t *d, uint64_t page)
{
    _Atomic uint64_t *w = &d->dwords[page];
    uint64_t v, start = 0;
    unsigned spins = 0;

    for (;;) {
        v = atomic_load_explicit(w, memory_order_relaxed);
        if ((v & DM_DSM_DW_HELD) == 0 &&
            atomic_compare_exchange_weak_explicit(w, &v, v | DM_DSM_DW_HELD,
                                                  memory_order_acquire, memory_order_relaxed)) {
            return;
        }
        if ((++spins & 63) != 0) {
            continue;
        }
        /* a peer copies at most a page under it; it may have lost its CPU */
        sched_yield();
        if (start == 0) {
            start = dm_time_ns();
        } else if (dm_time_ns() - start > DM_DSM_DIRECT_HOLD_NS) {
            dm_dsm_break(d, "page %llu: a rank of this host held its direct-access word for "
                            "%llu s (did it die while writing the page?)",
                         (unsigned long long)page,
                         (unsigned long long)(DM_DSM_DIRECT_HOLD_NS / 1000000000ull));
            atomic_fetch_or_explicit(w, DM_DSM_DW_HELD, memory_order_acquire);
            return;
        }
    }
}

void dm_dsm_direct_release(dm_dsm_t *d, uint64_t page)
{
    _Atomic uint64_t *w = &d->dwords[page];
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);

    atomic_store_explicit(w, dm_dsm_dw_next(v, dm_dsm_direct_state(d, page)),
                          memory_order_release);
}

void dm_dsm_direct_discard(dm_dsm_t *d, uint64_t first, uint64_t npages)
{
    dm_direct_span_drop(); /* every rank: the freed range must miss the span cache (direct.h) */
    if (d->direct_leader != d->rank) {
        return; /* the leader discards the whole range, for every home of this host */
    }
    /*
     * dm_free is quiesced and behind a barrier: nobody uses the range; the
     * next allocation's traffic starts after its allgather, so after this.
     */
    madvise(dm_dsm_home_page(d, first), (size_t)npages << d->page_shift, MADV_REMOVE);
    for (uint64_t p = first; p < first + npages; p++) {
        atomic_store_explicit(&d->dwords[p], 0, memory_order_relaxed);
    }
}

void dm_dsm_direct_check(dm_dsm_t *d)
{
    /* one poll for up to 64 peers: a system call costs a microsecond on a VM */
    struct pollfd p[64];
    int who[64], n = 0;

    for (int r = 0; r <= d->nranks; r++) {
        if (r < d->nranks && d->direct_peer[r] && !dm_tp_peer_failed(d->tp, r)) {
            p[n].fd = d->direct_pidfd[r];
            p[n].events = POLLIN;
            p[n].revents = 0;
            who[n++] = r;
        }
        if (n > 0 && (n == 64 || r == d->nranks) && poll(p, (nfds_t)n, 0) > 0) {
            for (int i = 0; i < n; i++) {
                if (p[i].revents != 0) {
                    dm_tp_peer_fail(d->tp, who[i], "exited (seen through its pidfd on this host)");
                }
            }
        }
        if (n == 64 || r == d->nranks) {
            n = 0;
        }
    }
}
