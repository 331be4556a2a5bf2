/*
 * Tier backends of the page store: the contract.
 *
 * A tier stores fixed-size pages in numbered slots 0 .. capacity-1. It does
 * not know which global page lives in which slot (the store's index above
 * does); it only moves bytes between a caller's buffer and a slot, now
 * (read/write) or later (submit/poll), and says when they are durable (flush).
 * Tiers are ordered by an abstract distance (smaller is faster; see
 * "Distance" below), never by a fixed chain: a node may have two DRAM tiers
 * (two NUMA nodes, Grace Hopper's CPU memory) and no NVMe at all.
 *
 * Backends (one file each, behind dm_store_tier_ops_t at the end):
 *   dram  host memory (mmap, optionally bound to a NUMA node, huge pages)
 *   nvme  a file on a local disk, io_uring with O_DIRECT, a fixed file and
 *         registered buffers
 *   pfs   a directory on any POSIX mount (Weka, Lustre, NFS, local), one file
 *         per range of slots, in one of three consistency modes
 *   gpu   device memory through the CUDA runtime (built when CUDA is found)
 *
 * Lifecycle: dm_store_tier_create() -> any number of operations ->
 * dm_store_tier_destroy(). Destroy never fails; it waits for I/O in flight.
 *
 * Concurrency: a dram or nvme handle may be used by several threads at once
 * (dm_store_tier_query().concurrent): synchronous reads and writes run in
 * parallel, and submit, poll, flush and discard may be called from any
 * thread; poll hands each completed operation to exactly one caller. The
 * rules on one slot (the pre: conditions below) are the callers' to keep
 * between them. A pfs or gpu handle is used by one thread at a time (the
 * caller serializes, e.g. with a lock per handle). On every kind, create,
 * destroy, mem_register and mem_unregister run with no other call on the
 * handle. Different handles are independent, also on the same pfs
 * directory in several processes (that is what the pfs modes are about).
 *
 * Runs. An asynchronous operation moves io->npages consecutive slots (a
 * run) to or from one buffer of npages * page_size bytes, with one I/O
 * where the backend can (nvme: one read or write of the whole run; dram: one
 * memcpy): a store moving 64 neighbouring pages pays one device operation,
 * not 64. At most dm_store_tier_query().max_io_pages (1 for pfs; gpu: one
 * cudaMemcpyAsync for the run).
 *
 * Errors, for every function that returns dm_status_t: the code, and a
 * detail in dm_last_error() naming the tier, slot and errno text. The
 * classes (distmem_status.h) mean here:
 *   DM_ERR_INVALID_PARAM  the call was wrong (slot >= capacity, NULL or
 *                         misaligned buffer, bad parameter); nothing happened.
 *   DM_ERR_NO_SPACE       the device or file system is full (ENOSPC, EDQUOT).
 *                         The caller's buffer is untouched and still valid;
 *                         every other slot keeps what it held. The slot being
 *                         written holds unspecified contents until it is
 *                         written successfully (a failed write may leave it
 *                         torn), so a mover must keep its source copy until
 *                         the write succeeds. Transient: retry after space
 *                         was freed (dm_store_tier_discard, another tier).
 *   DM_ERR_IO             the device or file system failed (EIO, ...); the
 *                         detail has the errno text. Same guarantee for the
 *                         other slots as above, as far as the OS kept it.
 *   DM_ERR_BUSY           queue_depth operations are in flight; poll first.
 *   DM_ERR_UNSUPPORTED    the backend cannot work here (no CUDA device, no
 *                         NUMA, O_DIRECT required but refused); create only.
 *   DM_ERR_NO_MEMORY      host memory for the tier or its records ran out.
 *
 * Alignment (O_DIRECT). Direct I/O moves data by DMA straight between the
 * device and the caller's buffer, so the buffer must be aligned to the
 * device's memory alignment and the page size a multiple of its logical
 * block size. The nvme tier asks for 4 KiB alignment of buffers (more when
 * the file system reports a larger one through statx STATX_DIOALIGN) and page
 * sizes that are multiples of 4 KiB, also when it fell back to buffered I/O,
 * so that a caller's code does not depend on the file system. Use
 * dm_store_tier_query().buf_align; allocate with aligned_alloc() or mmap().
 * A misaligned buffer is refused with DM_ERR_INVALID_PARAM before any I/O,
 * never handed to the kernel (which would fail with EINVAL) and never a crash.
 */
#ifndef DM_STORE_TIER_H
#define DM_STORE_TIER_H

#include <stddef.h>
#include <stdint.h>

#include "distmem_status.h"

typedef struct dm_store_tier dm_store_tier_t; /* opaque handle */

typedef enum dm_store_kind {
    DM_STORE_KIND_DRAM = 1,
    DM_STORE_KIND_NVME,
    DM_STORE_KIND_PFS,
    DM_STORE_KIND_GPU,
} dm_store_kind_t;

/*
 * Parallel filesystem consistency modes, modelled on Weka's mount modes.
 * "Visible" means: a read by another process (another handle on the same
 * directory, on this node or another) returns the data. "Durable" means: it
 * survives a crash of this process and of the node (it has been fdatasync'ed,
 * and the directory entry of a new file fsync'ed).
 *
 *                  write returns            flush() returns
 *   coherent       durable and visible      (nothing left to do)
 *   readcache      visible                  durable
 *   writecache     neither (local cache)    durable and visible
 *
 * Reads:
 *   coherent   always read the file: a read sees every write that returned
 *              (in any process) before the read began.
 *   readcache,
 *   writecache may be served from this handle's local cache (filled by its
 *              own reads and writes, cache_pages slots, CLOCK replacement).
 *              A page this handle has cached can be stale until this handle
 *              calls flush(), which drops its clean cached pages (an acquire).
 *              So: a reader sees another process's write when the write was
 *              visible (see the table) before the reader's last flush(), or
 *              before the reader's first read of that page since then.
 *
 * writecache keeps dirty pages in the local cache until flush(), or until
 * every frame is dirty and one more is needed: then all dirty pages are
 * written back and synced as by flush (visible and durable early, never
 * later than flush). Its own reads see its own writes.
 * A dirty page stays in the cache, dirty, until the fdatasync that covers
 * its write-back succeeded: after a failed fsync Linux may drop the dirty
 * page cache (the "fsyncgate" behaviour), so only our copy can be retried.
 * A flush() that fails with DM_ERR_NO_SPACE / DM_ERR_IO loses nothing;
 * call it again after freeing space.
 *
 * These rules assume a file system with POSIX read-after-write coherence
 * between processes and nodes (local file systems, Weka, Lustre, GPFS).
 * NFS gives close-to-open consistency only; there, "visible" needs the
 * reader to reopen, which this backend does not do (see docs/decisions/0004).
 */
typedef enum dm_store_pfs_mode {
    DM_STORE_PFS_COHERENT = 0,
    DM_STORE_PFS_READCACHE,
    DM_STORE_PFS_WRITECACHE,
} dm_store_pfs_mode_t;

/* nvme: use O_DIRECT? */
typedef enum dm_store_direct {
    DM_STORE_DIRECT_AUTO = 0, /* O_DIRECT; buffered I/O with a warning when the
                                 file system refuses it (tmpfs on old kernels,
                                 ramfs, some FUSE mounts: open gives EINVAL) */
    DM_STORE_DIRECT_REQUIRE,  /* O_DIRECT or DM_ERR_UNSUPPORTED */
    DM_STORE_DIRECT_OFF,      /* buffered I/O through the page cache */
} dm_store_direct_t;

/* nvme: when to reserve the file's blocks (fallocate). */
typedef enum dm_store_prealloc {
    DM_STORE_PREALLOC_FULL = 0, /* all of capacity at create: a full disk
                                   fails create with DM_ERR_NO_SPACE, writes
                                   never run out of space */
    DM_STORE_PREALLOC_CHUNK,    /* a chunk (1 MiB of slots) when a write first
                                   touches it: a full disk fails that write
                                   with DM_ERR_NO_SPACE */
} dm_store_prealloc_t;

/* Flags (params.flags) */
#define DM_STORE_FLAG_HUGEPAGE (1u << 0) /* dram: madvise(MADV_HUGEPAGE) */
#define DM_STORE_FLAG_POPULATE (1u << 1) /* dram: fault all memory in at create */
#define DM_STORE_FLAG_KEEP     (1u << 2) /* nvme: do not remove the file at destroy */

/* Which optional fields of dm_store_tier_params_t are set (field_mask). */
enum {
    DM_STORE_PARAM_NAME          = 1u << 0,
    DM_STORE_PARAM_PAGE_SIZE     = 1u << 1,
    DM_STORE_PARAM_DISTANCE      = 1u << 2,
    DM_STORE_PARAM_QUEUE_DEPTH   = 1u << 3,
    DM_STORE_PARAM_FLAGS         = 1u << 4,
    DM_STORE_PARAM_NUMA_NODE     = 1u << 5,
    DM_STORE_PARAM_PATH          = 1u << 6,
    DM_STORE_PARAM_DIRECT        = 1u << 7,
    DM_STORE_PARAM_PREALLOC      = 1u << 8,
    DM_STORE_PARAM_PFS_MODE      = 1u << 9,
    DM_STORE_PARAM_PAGES_PER_FILE= 1u << 10,
    DM_STORE_PARAM_CACHE_PAGES   = 1u << 11,
    DM_STORE_PARAM_GPU_DEVICE    = 1u << 12,
};

/*
 * Creation parameters. kind and capacity are always read; every other field
 * only when its bit is in field_mask, else it takes the default given.
 * The struct can grow at the end without breaking callers that zero it.
 */
typedef struct dm_store_tier_params {
    uint64_t            field_mask;
    dm_store_kind_t     kind;
    uint64_t            capacity;       /* slots, > 0 */
    const char         *name;           /* for messages; default: the kind ("nvme") */
    size_t              page_size;      /* bytes, power of two >= 512; default 4096;
                                           nvme: a multiple of 4096 */
    uint32_t            distance;       /* default: discovered, see below */
    uint32_t            queue_depth;    /* max async operations in flight; default 64 */
    uint32_t            flags;          /* DM_STORE_FLAG_*; default 0 */
    int                 numa_node;      /* dram: -1 = no binding (default) */
    const char         *path;           /* nvme: the file (created, truncated);
                                           pfs: the directory (created if missing);
                                           required for both */
    dm_store_direct_t   direct;         /* nvme; default AUTO */
    dm_store_prealloc_t prealloc;       /* nvme; default FULL */
    dm_store_pfs_mode_t pfs_mode;       /* pfs; default COHERENT */
    uint64_t            pages_per_file; /* pfs: slots per file; default 256 (1 MiB) */
    uint64_t            cache_pages;    /* pfs readcache/writecache: local cache
                                           frames; default 1024 */
    int                 gpu_device;     /* gpu: CUDA device ordinal; default 0 */
} dm_store_tier_params_t;

/*
 * Distance: an abstract cost, smaller is closer, as Linux's memory tiers'
 * "abstract distance". Defaults when the caller gives none:
 *   gpu 50; dram 10 * the NUMA distance from the node this thread runs on to
 *   the tier's node (100 local, 200-ish remote; 100 without libnuma or
 *   binding); nvme 1000; pfs 10000.
 * The policy sorts tiers by it; equal distances are peers.
 */
#define DM_STORE_DISTANCE_GPU  50u
#define DM_STORE_DISTANCE_DRAM 100u
#define DM_STORE_DISTANCE_NVME 1000u
#define DM_STORE_DISTANCE_PFS  10000u

/* What a tier is, for the policy and for messages. */
typedef struct dm_store_tier_info {
    const char     *name;        /* valid while the tier lives */
    dm_store_kind_t kind;
    size_t          page_size;
    uint64_t        capacity;    /* slots */
    uint64_t        used;        /* slots holding data written through this handle */
    uint32_t        distance;
    size_t          buf_align;   /* buffers must be aligned to this (1: any) */
    uint32_t        queue_depth;
    uint32_t        in_flight;   /* submitted, not yet returned by poll */
    /* how the backend came up */
    int             direct;      /* nvme: O_DIRECT in use */
    int             io_uring;    /* nvme: io_uring in use (else async ops run synchronously) */
    int             hugepage;    /* dram: MADV_HUGEPAGE accepted */
    int             numa_node;   /* dram: bound node, or -1 */
    int             concurrent;  /* several threads may use the handle (see Concurrency) */
    uint32_t        max_io_pages;/* pages one asynchronous operation may move (see Runs) */
} dm_store_tier_info_t;

/* Asynchronous operations. */
typedef enum dm_store_op {
    DM_STORE_OP_READ = 1,
    DM_STORE_OP_WRITE,
} dm_store_op_t;

/*
 * One asynchronous operation: caller-allocated (libuv style). The caller
 * sets op, slot, buf (npages, arg) and submits it; from submit until poll hands
 * it back, the io and its buffer belong to the tier (do not touch, move or
 * free them). At completion the tier sets status. Nothing else of the caller's
 * is written.
 */
typedef struct dm_store_io {
    /* set by the caller */
    dm_store_op_t       op;
    uint64_t            slot;
    void               *buf;        /* npages * page_size bytes, aligned to buf_align */
    void               *arg;        /* the caller's, never touched */
    uint32_t            npages;     /* slots slot .. slot + npages - 1 (a run); 0 means 1;
                                       at most max_io_pages */
    /* set by the tier when poll returns it */
    dm_status_t         status;     /* DM_OK or an error as for read/write */
    /* private to the tier */
    struct dm_store_io *next_;
    uint64_t            priv_[2];
} dm_store_io_t;

/* "dram", "nvme", "pfs", "gpu"; "?" for anything else. */
const char *dm_store_kind_name(dm_store_kind_t kind);

/* "coherent", "readcache", "writecache"; "?" for anything else. */
const char *dm_store_pfs_mode_name(dm_store_pfs_mode_t mode);

/* Parses the names above. DM_ERR_INVALID_PARAM for anything else. */
dm_status_t dm_store_kind_parse(const char *text, dm_store_kind_t *kind_p);
dm_status_t dm_store_pfs_mode_parse(const char *text, dm_store_pfs_mode_t *mode_p);

/*
 * Creates a tier. *tier_p is set only on success.
 * Errors: DM_ERR_INVALID_PARAM (capacity 0, page_size not a power of two,
 * nvme page_size not a multiple of 4 KiB, no path, queue_depth 0 or > 4096,
 * capacity * page_size overflowing, a pfs directory laid out with another
 * page_size or pages_per_file); DM_ERR_NO_SPACE (nvme FULL preallocation does
 * not fit); DM_ERR_UNSUPPORTED (no CUDA device or built without CUDA; NUMA
 * binding without libnuma or NUMA; DIRECT_REQUIRE where O_DIRECT is refused);
 * DM_ERR_IO (open, mkdir, ... failed: errno text); DM_ERR_NO_MEMORY.
 * Not errors: nvme without io_uring (seccomp, sysctl) does its asynchronous
 * operations synchronously, and nvme DIRECT_AUTO without O_DIRECT uses the
 * page cache; both warn on stderr and show in dm_store_tier_query.
 */
dm_status_t dm_store_tier_create(const dm_store_tier_params_t *params,
                                 dm_store_tier_t **tier_p);

/*
 * Waits for operations in flight (they are dropped, not returned; their
 * status becomes DM_ERR_CANCELED), then frees everything. Does not flush:
 * a pfs writecache tier loses its unflushed writes; an nvme file is removed
 * unless DM_STORE_FLAG_KEEP. Never fails; NULL is a no-op.
 */
void dm_store_tier_destroy(dm_store_tier_t *tier);

/*
 * Writes one page from buf (page_size bytes) into slot, synchronously. When it
 * returns DM_OK the data is in the tier: a read of slot through this handle
 * returns it; durability and visibility to other processes as the kind says
 * (nvme: in the device, not yet flushed from its volatile cache; pfs: see the
 * modes). Errors: DM_ERR_INVALID_PARAM (slot >= capacity, buf NULL or not
 * aligned to buf_align), DM_ERR_NO_SPACE, DM_ERR_IO (see the top).
 * pre: no asynchronous operation on the same slot is in flight.
 */
dm_status_t dm_store_tier_write(dm_store_tier_t *tier, uint64_t slot, const void *buf);

/*
 * Reads slot into buf (page_size bytes), synchronously. A slot that holds no
 * data through this handle (never written, or discarded) reads as zeros
 * without I/O, except on pfs, whose files other processes write: there a
 * range nobody wrote reads as zeros. Errors: DM_ERR_INVALID_PARAM, DM_ERR_IO.
 * On error buf's contents are unspecified.
 * pre: no asynchronous write on the same slot is in flight.
 */
dm_status_t dm_store_tier_read(dm_store_tier_t *tier, uint64_t slot, void *buf);

/*
 * Starts io (op, slot, npages, buf set by the caller). DM_OK: the tier owns
 * io until poll returns it, with io->status set; the I/O starts at the
 * latest at the next poll by any thread (nvme batches submissions into one
 * system call per poll). Some backends (dram, pfs) do the work at once and
 * only report at poll. A run counts as one operation against queue_depth;
 * its status covers all its slots (a failed write leaves each of them as a
 * failed one-page write would). Slots of a run read that hold no data read
 * as zeros, as for dm_store_tier_read.
 * Errors, io not taken: DM_ERR_INVALID_PARAM (as for read/write, or io NULL,
 * bad op, npages above max_io_pages or the run past capacity), DM_ERR_BUSY
 * (queue_depth in flight: poll, then retry). Errors of the I/O itself come
 * in io->status.
 * pre: no other operation on a slot of the run is in flight when either is
 * a write (two reads of one slot are fine); the order of completion is
 * unspecified.
 */
dm_status_t dm_store_tier_submit(dm_store_tier_t *tier, dm_store_io_t *io);

/*
 * Hands back completed operations: waits until at least min_complete have
 * completed (0: do not wait), then stores up to max of them in done[] and
 * their number in *count_p. min_complete is capped at the number in flight
 * and at max. On a concurrent handle the operations are any thread's, each
 * handed to one poller, and a wait ends early (with fewer) when other
 * pollers took what it waited for; min_complete 0 never blocks, not even on
 * another poller. Errors: DM_ERR_INVALID_PARAM (done NULL with max > 0),
 * DM_ERR_IO (waiting failed; nothing is lost, call again).
 */
dm_status_t dm_store_tier_poll(dm_store_tier_t *tier, unsigned min_complete,
                               dm_store_io_t **done, unsigned max, unsigned *count_p);

/*
 * The durability point: every write that returned DM_OK (sync) or was handed
 * back by poll with DM_OK before this call is durable when it returns DM_OK
 * (nvme: fdatasync, which also flushes the device cache; pfs: write-back of
 * dirty pages, fdatasync of every file written, fsync of the directory when
 * files were created; dram, gpu: volatile, waits for nothing but the GPU
 * stream). pfs readcache/writecache also drop their clean cached pages, so
 * that later reads see other processes' flushed writes (see the modes).
 * Operations still in flight are not covered. Errors: DM_ERR_NO_SPACE,
 * DM_ERR_IO (see the pfs modes for what is kept for a retry).
 */
dm_status_t dm_store_tier_flush(dm_store_tier_t *tier);

/*
 * The slot no longer holds data: used drops, a later read returns zeros.
 * nvme with PREALLOC_CHUNK gives the slot's blocks back (hole punched).
 * pfs, in every mode: this handle's cached copy is dropped (also a dirty one)
 * and the page is zeroed in its file at once (a hole punched where the file
 * system can, which frees its space; else zeros written), visible to others
 * like a coherent write, durable at once in coherent mode, else at flush.
 * Errors: DM_ERR_INVALID_PARAM (bad slot), DM_ERR_IO (pfs).
 * pre: no operation on slot in flight.
 */
dm_status_t dm_store_tier_discard(dm_store_tier_t *tier, uint64_t slot);

/*
 * As discard for what reads return (used drops, a later read returns zeros),
 * but the backend keeps what backs the slot: dram keeps its memory (no
 * MADV_DONTNEED, no page fault at the next write), nvme keeps its blocks.
 * For a caller that will use the slot again soon (the store's free slots).
 * pfs, whose files others read, discards. Errors: DM_ERR_INVALID_PARAM (bad
 * slot), as discard for pfs. pre: no operation on slot in flight.
 */
dm_status_t dm_store_tier_forget(dm_store_tier_t *tier, uint64_t slot);

/*
 * Tells the tier that [addr, addr + len) will be used as buffers, so the
 * backend can prepare it: nvme registers it with io_uring (fixed buffers:
 * the kernel pins it once instead of per I/O); gpu pins it (cudaHostRegister)
 * so copies are asynchronous DMA; others do nothing. Optional: buffers
 * outside registered memory work too. At most 64 regions per tier, each at
 * most 1 GiB (io_uring's limit), aligned as buffers are. Registration pins
 * the memory: for an unprivileged user RLIMIT_MEMLOCK limits it
 * (DM_ERR_NO_MEMORY). *id_p is set on success, for unregister.
 * Errors: DM_ERR_INVALID_PARAM, DM_ERR_NO_SPACE (64 regions), DM_ERR_NO_MEMORY,
 * DM_ERR_IO.
 */
dm_status_t dm_store_tier_mem_register(dm_store_tier_t *tier, void *addr, size_t len,
                                       unsigned *id_p);

/*
 * Ends a registration. pre: no operation in flight uses a buffer in it.
 * Never fails (an unknown id is ignored).
 */
void dm_store_tier_mem_unregister(dm_store_tier_t *tier, unsigned id);

/* Fills *info. Never fails. */
void dm_store_tier_query(const dm_store_tier_t *tier, dm_store_tier_info_t *info);

/* Shortcuts for the fields of query. */
const char *dm_store_tier_name(const dm_store_tier_t *tier);
uint64_t dm_store_tier_capacity(const dm_store_tier_t *tier);
uint64_t dm_store_tier_used(const dm_store_tier_t *tier);

/*
 * dram only: the tier's memory, slot s at (char *)mem + s * page_size, valid
 * until destroy; NULL for every other kind. For a caller that copies a slot
 * without a call into the handle (the store's lock-free read of a dram page).
 * Such a copy is a plain read of the bytes: where read returns zeros (a slot
 * never written, forgotten or discarded) it sees whatever the memory holds,
 * and it races with any write of the slot in flight; the caller's rules say
 * why that cannot happen, or how a copy that raced is detected.
 */
void *dm_store_tier_dram_mem(dm_store_tier_t *tier);

/*
 * ---------------------------------------------------------------------------
 * The backend contract. Each backend fills one table; dm_store_tier_*()
 * check the arguments and keep the bookkeeping common to all (used slots,
 * in-flight count, completions done at once), then call the op. Every op
 * that returns dm_status_t records its detail with dm_error_set().
 * ---------------------------------------------------------------------------
 */
typedef struct dm_store_tier_ops {
    dm_store_kind_t kind;

    /*
     * Allocates the backend's handle (which begins with the common part, see
     * tier_int.h) and brings the tier up.
     * pre: params validated and defaulted by dm_store_tier_create (every
     *      field set, capacity * page_size fits in size_t and off_t).
     * post: on success the common part is initialized by dm_store_tier_init_().
     */
    dm_status_t (*create)(const dm_store_tier_params_t *params, dm_store_tier_t **tier_p);

    /* pre: nothing in flight (the common code drained it). Never fails. */
    void (*destroy)(dm_store_tier_t *tier);

    /* pre: slot < capacity; buf != NULL, aligned to buf_align; no async op on slot. */
    dm_status_t (*write)(dm_store_tier_t *tier, uint64_t slot, const void *buf);
    dm_status_t (*read)(dm_store_tier_t *tier, uint64_t slot, void *buf);

    /*
     * Starts io, or completes it at once through dm_store_tier_complete_().
     * pre: as write/read for io's fields; in_flight < queue_depth (the common
     *      code counts); io->status set to DM_INPROGRESS.
     */
    dm_status_t (*submit)(dm_store_tier_t *tier, dm_store_io_t *io);

    /*
     * Reaps completions: waits for at least min_complete (the common code
     * has capped it at what the backend holds in flight), delivers each with
     * dm_store_tier_complete_(). Optional: NULL for backends that complete
     * everything in submit.
     */
    dm_status_t (*progress)(dm_store_tier_t *tier, unsigned min_complete);

    dm_status_t (*flush)(dm_store_tier_t *tier);

    /* Optional (NULL: nothing to do beyond the common bookkeeping). */
    dm_status_t (*discard)(dm_store_tier_t *tier, uint64_t slot);

    /* Optional (NULL: registration is accepted and does nothing).
     * pre: id < DM_STORE_MAX_REGIONS and free; addr, len checked. */
    dm_status_t (*mem_register)(dm_store_tier_t *tier, unsigned id, void *addr, size_t len);
    void (*mem_unregister)(dm_store_tier_t *tier, unsigned id);
} dm_store_tier_ops_t;

#define DM_STORE_MAX_REGIONS 64u

#endif
