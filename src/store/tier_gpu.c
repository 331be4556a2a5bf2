/*
 * gpu tier: device memory (HBM) through the CUDA runtime. Built only when
 * cuda_runtime.h and libcudart are found (DM_STORE_HAVE_CUDA).
 *
 * Where the memory comes from: one cudaMalloc of capacity * page_size on
 * device gpu_device. Every copy, synchronous or not, is a cudaMemcpyAsync on
 * the tier's own non-blocking stream, so all operations of a tier are
 * ordered on that one stream (a read submitted after a write sees it). A
 * synchronous read or write then waits for the stream (cudaStreamSynchronize):
 * when it returns DM_OK its copy has landed, on the device (write) or in the
 * caller's buffer (read); it also waits for the asynchronous operations queued
 * before it. They overlap with the host only when the buffer is pinned:
 * register the host memory first (dm_store_tier_mem_register ->
 * cudaHostRegister, portable).
 *
 * Runs (tier.h): device memory is contiguous, so an asynchronous operation of
 * io->npages consecutive slots is one cudaMemcpyAsync of npages * page_size
 * bytes; max_io_pages is DM_STORE_GPU_RUN_PAGES (the store's engine moves at
 * most 64 pages at once too).
 *
 * Batches: completion is learnt from events, but not one per operation (a
 * cudaEventRecord and a cudaEventQuery per operation cost as much as a 4 KiB
 * copy). Since the stream runs in order, an event recorded after a number of
 * copies completes only when all of them have, so one event covers a batch:
 * submit only queues the copy; the operations queued since the last event
 * (the open batch) are closed by one cudaEventRecord when there are
 * g->batch of them (submit: with queue_depth in flight, the oldest are then
 * seen done while later ones still run) or at the next poll (progress: the
 * caller asks what has completed). Poll hands back whole batches, oldest
 * first, each when its event has completed; an error its event reports is
 * every operation's of the batch (io->status, with the slot of each in the
 * detail). See the invariants at dm_store_gpu_t.
 *
 * Pinning is process-wide in CUDA, registrations are per tier: a range that
 * is pinned already (by another tier or by the application) is accepted as
 * it is, and each tier unpins only what it pinned itself (pinned_mask). A
 * copy is correct from pinned and pageable memory alike; pinning only makes
 * it faster, so a range unpinned by the one who pinned it costs the others
 * speed on their later copies, not data (as for any unregister, it must not
 * be unpinned while copies from or to it are in flight, on any tier).
 *
 * No usable device at run time (no driver, no GPU, CUDA_VISIBLE_DEVICES
 * empty, a device in exclusive use or not ready, a driver too old): create
 * fails with DM_ERR_UNSUPPORTED and the runtime's own words. Device memory
 * too small for the tier: DM_ERR_NO_SPACE (see dm_store_gpu_create).
 *
 * Errors: the CUDA runtime keeps the last error per thread, and a call may
 * return an error left by an earlier one. Every entry point clears a
 * leftover non-sticky error first (cudaGetLastError) so that it is not
 * charged to this operation; a sticky error (the context is lost) cannot be
 * cleared and fails every later operation, which is then the truth.
 * Volatile: flush waits for the stream only.
 */
#include "tier_int.h"

#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "util.h"

#define DM_STORE_GPU_RUN_PAGES 64u /* pages one asynchronous operation may move (a run) */
#define DM_STORE_GPU_BATCH_MAX 16u /* submit closes a batch at this many operations at most
                                      (queue_depth / 4 when smaller, at least 1) */

/* A closed batch: operations in flight, consecutive in stream order, the
 * completion of which one event tells. */
typedef struct dm_store_gpu_batch {
    dm_store_io_t *last;  /* its newest operation */
    int            event; /* 1: the batch's event was recorded after last; 0: the record
                             failed, the stream was synchronized instead and err is what
                             that said (the batch is complete) */
    cudaError_t    err;
} dm_store_gpu_batch_t;

/*
 * Invariants (the handle is used by one thread at a time, tier.h):
 *   head .. tail (through io->next_) are the operations submitted, queued on
 *   the stream and not yet delivered to the common code, in submission
 *   order, which is stream order. They split into nbatch closed batches,
 *   oldest first: batches[bfirst], batches[(bfirst + 1) % queue_depth], ...,
 *   each ending at its `last`, followed by the open batch: the nopen newest
 *   operations, which no event covers yet (nopen < batch after submit).
 *   Every closed batch holds at least one operation, so nbatch <= in flight
 *   <= queue_depth: the ring never overflows, and events[i] is in use
 *   exactly while ring entry i holds a closed batch with event 1.
 *   An event completes only when every copy queued on the stream before it
 *   has; so when the event of a batch has completed, its operations and
 *   those of every older batch have.
 *   Operations are delivered a whole batch at a time, oldest batch first,
 *   each exactly once, and only after the batch completed.
 */
typedef struct dm_store_gpu {
    dm_store_tier_t       base;
    int                   device;
    char                 *mem;        /* device memory */
    cudaStream_t          stream;     /* every copy of this tier, in order */
    cudaEvent_t          *events;     /* queue_depth of them; events[i] is batches[i]'s */
    dm_store_gpu_batch_t *batches;    /* ring of the closed batches, queue_depth entries */
    uint32_t              bfirst;     /* ring index of the oldest closed batch */
    uint32_t              nbatch;     /* closed batches in flight */
    uint32_t              nopen;      /* operations in the open batch */
    uint32_t              batch;      /* submit closes the open batch at this many */
    dm_store_io_t        *head, *tail; /* in flight, in stream order */
    uint64_t              pinned_mask; /* bit i: regions[i] was pinned by this tier
                                          (cudaHostRegister succeeded here), so this tier
                                          unpins it; clear: it was pinned already when
                                          registered, someone else unpins it */
} dm_store_gpu_t;

static dm_store_gpu_t *dm_store_gpu_of(dm_store_tier_t *tier)
{
    return (dm_store_gpu_t *)tier;
}

static dm_status_t dm_store_gpu_error(const dm_store_tier_t *tier, cudaError_t err,
                                      const char *what, uint64_t slot)
{
    dm_status_t st = err == cudaErrorMemoryAllocation ? DM_ERR_NO_MEMORY : DM_ERR_IO;

    if (slot == UINT64_MAX) {
        return dm_error_set(st, "tier %s: %s: %s (%s)", tier->name, what,
                            cudaGetErrorString(err), cudaGetErrorName(err));
    }
    return dm_error_set(st, "tier %s: %s slot %llu: %s (%s)", tier->name, what,
                        (unsigned long long)slot, cudaGetErrorString(err), cudaGetErrorName(err));
}

/*
 * The start of every entry point after create: clears a non-sticky error
 * left by an earlier call (of this tier or of the application on this
 * thread), so that it is not charged to this operation, and makes the
 * tier's device current. A sticky error is not cleared: it comes back from
 * the next call, which is right (the context is gone).
 */
static cudaError_t dm_store_gpu_enter(const dm_store_gpu_t *g)
{
    (void)cudaGetLastError();
    return cudaSetDevice(g->device);
}

/* The device exists but cannot be used here: a skip, not a failure. */
static int dm_store_gpu_unusable(cudaError_t err)
{
    switch (err) {
    case cudaErrorDevicesUnavailable:         /* exclusive compute mode, in use */
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorSystemNotReady:             /* fabric manager not up yet */
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorInitializationError:
        return 1;
    default:
        return 0;
    }
}

/*
 * An error of a CUDA call in create. Unusable device: DM_ERR_UNSUPPORTED with
 * the runtime's words. Out of device memory for the tier's own cudaMalloc
 * (capacity): DM_ERR_NO_SPACE, not DM_ERR_NO_MEMORY: the device memory is
 * this tier's storage, and tier.h keeps DM_ERR_NO_MEMORY for host memory and
 * DM_ERR_NO_SPACE for "the device is full" (as nvme's FULL preallocation
 * that does not fit at create); a caller retries with a smaller capacity or
 * another tier. Else as dm_store_gpu_error. The runtime's error state is
 * cleared, so that the failed create leaves nothing for the caller's next
 * CUDA call.
 */
static dm_status_t dm_store_gpu_create_error(const dm_store_tier_t *tier, cudaError_t err,
                                             const char *what)
{
    const dm_store_gpu_t *g = (const dm_store_gpu_t *)tier;
    dm_status_t st;

    if (dm_store_gpu_unusable(err)) {
        st = dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: no usable CUDA device: device %d: %s: "
                          "%s (%s)", tier->name, g->device, what, cudaGetErrorString(err),
                          cudaGetErrorName(err));
    } else if (err == cudaErrorMemoryAllocation && strcmp(what, "cudaMalloc") == 0) {
        st = dm_error_set(DM_ERR_NO_SPACE, "tier %s: device %d: cudaMalloc of %llu slots of "
                          "%zu bytes: %s (%s)", tier->name, g->device,
                          (unsigned long long)tier->capacity, tier->page_size,
                          cudaGetErrorString(err), cudaGetErrorName(err));
    } else {
        st = dm_store_gpu_error(tier, err, what, UINT64_MAX);
    }
    (void)cudaGetLastError();
    return st;
}

static dm_status_t dm_store_gpu_create(const dm_store_tier_params_t *params,
                                       dm_store_tier_t **tier_p)
{
    dm_store_gpu_t *g;
    int ndev = 0;
    uint32_t nev = 0;
    cudaError_t err;
    dm_status_t st;

    (void)cudaGetLastError(); /* not ours */
    err = cudaGetDeviceCount(&ndev);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: no usable CUDA device: "
                            "cudaGetDeviceCount: %s (%s)", params->name,
                            cudaGetErrorString(err), cudaGetErrorName(err));
    }
    if (ndev == 0) {
        return dm_error_set(DM_ERR_UNSUPPORTED, "tier %s: no CUDA device", params->name);
    }
    if (params->gpu_device < 0 || params->gpu_device >= ndev) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "tier %s: device %d: there are %d",
                            params->name, params->gpu_device, ndev);
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
    }
    st = dm_store_tier_init_(&g->base, &dm_store_gpu_ops, params);
    if (st != DM_OK) {
        goto err_free;
    }
    g->device  = params->gpu_device;
    g->events  = calloc(params->queue_depth, sizeof(*g->events));
    g->batches = calloc(params->queue_depth, sizeof(*g->batches));
    g->batch   = DM_MIN(DM_STORE_GPU_BATCH_MAX, DM_MAX(1u, params->queue_depth / 4));
    g->base.max_io_pages = DM_STORE_GPU_RUN_PAGES;
    if (g->events == NULL || g->batches == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
        goto err_cleanup;
    }
    /* the first calls that touch the device: where an unusable one shows */
    err = cudaSetDevice(g->device);
    if (err != cudaSuccess) {
        st = dm_store_gpu_create_error(&g->base, err, "cudaSetDevice");
        goto err_cleanup;
    }
    err = cudaMalloc((void **)&g->mem, (size_t)(params->capacity * params->page_size));
    if (err != cudaSuccess) {
        g->mem = NULL;
        st = dm_store_gpu_create_error(&g->base, err, "cudaMalloc");
        goto err_cleanup;
    }
    err = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        st = dm_store_gpu_create_error(&g->base, err, "cudaStreamCreate");
        goto err_mem;
    }
    for (nev = 0; nev < params->queue_depth; nev++) {
        err = cudaEventCreateWithFlags(&g->events[nev], cudaEventDisableTiming);
        if (err != cudaSuccess) {
            st = dm_store_gpu_create_error(&g->base, err, "cudaEventCreate");
            goto err_events;
        }
    }
    if (g->base.distance == 0) {
        g->base.distance = DM_STORE_DISTANCE_GPU;
    }
    *tier_p = &g->base;
    return DM_OK;

err_events:
    while (nev-- > 0) {
        cudaEventDestroy(g->events[nev]);
    }
    cudaStreamDestroy(g->stream);
err_mem:
    cudaFree(g->mem);
err_cleanup:
    (void)cudaGetLastError();
    free(g->events);
    free(g->batches);
    dm_store_tier_cleanup_(&g->base);
err_free:
    free(g);
    return st;
}

/* Unpins region id if this tier pinned it; forgets it either way. Never fails. */
static void dm_store_gpu_unpin(dm_store_gpu_t *g, unsigned id)
{
    uint64_t bit = 1ull << id;

    if (g->pinned_mask & bit) {
        /* an error (the application unpinned it behind our back) changes
         * nothing: it is not pinned by us any more either way */
        if (cudaHostUnregister((void *)g->base.regions[id].addr) != cudaSuccess) {
            (void)cudaGetLastError();
        }
        g->pinned_mask &= ~bit;
    }
}

static void dm_store_gpu_destroy(dm_store_tier_t *tier)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    uint64_t mask = tier->region_mask;

    (void)dm_store_gpu_enter(g);
    cudaStreamSynchronize(g->stream);
    /* What the common code could not drain (its polls kept failing): the
     * stream is idle, nothing touches their buffers any more; dropped, as
     * tier.h says for destroy. */
    for (dm_store_io_t *io = g->head; io != NULL; io = io->next_) {
        io->status = DM_ERR_CANCELED;
    }
    while (mask) {
        unsigned i = (unsigned)__builtin_ctzll(mask);

        mask &= mask - 1;
        dm_store_gpu_unpin(g, i);
    }
    for (uint32_t i = 0; i < tier->queue_depth; i++) {
        cudaEventDestroy(g->events[i]);
    }
    cudaStreamDestroy(g->stream);
    cudaFree(g->mem);
    (void)cudaGetLastError(); /* destroy never fails: leave no error behind */
    free(g->events);
    free(g->batches);
    dm_store_tier_cleanup_(tier);
    free(g);
}

/*
 * A synchronous copy: queued on the tier's stream behind every operation
 * submitted before it (so it sees their writes and they see nothing of it
 * early), then waited for. When this returns DM_OK the copy has landed.
 */
static dm_status_t dm_store_gpu_copy(dm_store_gpu_t *g, int write, uint64_t slot, void *buf)
{
    char *dev = g->mem + dm_store_slot_offset_(&g->base, slot);
    size_t ps = g->base.page_size;
    const char *what = "cudaSetDevice";
    cudaError_t err;

    err = dm_store_gpu_enter(g);
    if (err == cudaSuccess) {
        what = write ? "write: cudaMemcpyAsync" : "read: cudaMemcpyAsync";
        err = write ? cudaMemcpyAsync(dev, buf, ps, cudaMemcpyHostToDevice, g->stream)
                    : cudaMemcpyAsync(buf, dev, ps, cudaMemcpyDeviceToHost, g->stream);
    }
    if (err == cudaSuccess) {
        what = write ? "write: cudaStreamSynchronize" : "read: cudaStreamSynchronize";
        err = cudaStreamSynchronize(g->stream);
    }
    if (err != cudaSuccess) {
        return dm_store_gpu_error(&g->base, err, what, slot);
    }
    return DM_OK;
}

static dm_status_t dm_store_gpu_write(dm_store_tier_t *tier, uint64_t slot, const void *buf)
{
    return dm_store_gpu_copy(dm_store_gpu_of(tier), 1, slot, (void *)buf);
}

static dm_status_t dm_store_gpu_read(dm_store_tier_t *tier, uint64_t slot, void *buf)
{
    return dm_store_gpu_copy(dm_store_gpu_of(tier), 0, slot, buf);
}

/*
 * Closes the open batch, if any: records one event on the stream after its
 * copies. Should the record fail, the batch cannot be reaped by an event:
 * the stream is synchronized instead (all of it, older batches too, is done
 * then) and the batch carries what the synchronize said about its copies;
 * the record's own failure is not the I/O's, and is cleared so that it is
 * charged to nothing.
 */
static void dm_store_gpu_close(dm_store_gpu_t *g)
{
    uint32_t i;
    dm_store_gpu_batch_t *b;
    cudaError_t err;

    if (g->nopen == 0) {
        return;
    }
    i = (g->bfirst + g->nbatch) % g->base.queue_depth; /* nbatch < queue_depth: see invariants */
    b = &g->batches[i];
    b->last = g->tail;
    err = cudaEventRecord(g->events[i], g->stream);
    if (err == cudaSuccess) {
        b->event = 1;
        b->err   = cudaSuccess;
    } else {
        (void)cudaGetLastError();
        b->event = 0;
        b->err   = cudaStreamSynchronize(g->stream);
    }
    g->nbatch++;
    g->nopen = 0;
}

static dm_status_t dm_store_gpu_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    char *dev = g->mem + dm_store_slot_offset_(tier, io->slot);
    size_t len = (size_t)dm_store_io_pages_(io) * tier->page_size; /* a run: contiguous */
    cudaError_t err;

    err = dm_store_gpu_enter(g);
    if (err == cudaSuccess) {
        err = io->op == DM_STORE_OP_WRITE
                  ? cudaMemcpyAsync(dev, io->buf, len, cudaMemcpyHostToDevice, g->stream)
                  : cudaMemcpyAsync(io->buf, dev, len, cudaMemcpyDeviceToHost, g->stream);
    }
    if (err != cudaSuccess) {
        /* nothing was queued */
        dm_store_tier_complete_(tier, io, dm_store_gpu_error(tier, err, "submit", io->slot));
        return DM_OK;
    }
    /* into the open batch; no event yet (see "Batches") */
    io->next_ = NULL;
    if (g->tail) {
        g->tail->next_ = io;
    } else {
        g->head = io;
    }
    g->tail = io;
    if (++g->nopen >= g->batch) {
        dm_store_gpu_close(g);
    }
    return DM_OK;
}

/*
 * Closes the open batch, then delivers completed batches, oldest first,
 * until min_complete operations were delivered and the next batch is not
 * complete yet (or none is left).
 */
static dm_status_t dm_store_gpu_progress(dm_store_tier_t *tier, unsigned min_complete)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    unsigned reaped = 0;
    cudaError_t err;

    err = dm_store_gpu_enter(g);
    if (err != cudaSuccess) {
        /* nothing reaped, nothing lost: poll may be called again */
        return dm_store_gpu_error(tier, err, "poll: cudaSetDevice", UINT64_MAX);
    }
    dm_store_gpu_close(g); /* every operation in flight is in a closed batch now */
    while (g->head) {
        const dm_store_gpu_batch_t *b = &g->batches[g->bfirst]; /* nbatch > 0 */
        dm_store_io_t *io, *last;

        err = b->err;
        if (b->event) {
            err = cudaEventQuery(g->events[g->bfirst]);
            if (err == cudaErrorNotReady) {
                if (reaped >= min_complete) {
                    break;
                }
                err = cudaEventSynchronize(g->events[g->bfirst]);
            }
        }
        /* the batch is complete (err: what happened to its copies) */
        last = b->last;
        g->bfirst = (g->bfirst + 1) % tier->queue_depth;
        g->nbatch--;
        do {
            io = g->head;
            g->head = io->next_; /* before complete_, which clears next_ */
            dm_store_tier_complete_(tier, io, err == cudaSuccess ? DM_OK
                                        : dm_store_gpu_error(tier, err, "copy", io->slot));
            reaped++;
        } while (io != last);
        if (g->head == NULL) {
            g->tail = NULL;
        }
    }
    return DM_OK;
}

static dm_status_t dm_store_gpu_flush(dm_store_tier_t *tier)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    cudaError_t err;

    err = dm_store_gpu_enter(g);
    if (err == cudaSuccess) {
        err = cudaStreamSynchronize(g->stream);
    }
    return err == cudaSuccess ? DM_OK : dm_store_gpu_error(tier, err, "flush", UINT64_MAX);
}

/*
 * Pins [addr, addr + len) for every device (portable), unless it is pinned
 * already: cudaHostRegister is process-wide and refuses a range that overlaps
 * a pinned one (cudaErrorHostMemoryAlreadyRegistered), which here means "a
 * second gpu tier or the application pinned it": accepted, not pinned by this
 * tier (its bit in pinned_mask stays clear), and the error state cleared. A
 * range only partly pinned so is accepted too; copies from its pageable part
 * are correct, only slower.
 */
static dm_status_t dm_store_gpu_mem_register(dm_store_tier_t *tier, unsigned id, void *addr,
                                             size_t len)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    const char *what = "cudaSetDevice";
    cudaError_t err;

    g->pinned_mask &= ~(1ull << id);
    err = dm_store_gpu_enter(g);
    if (err == cudaSuccess) {
        what = "cudaHostRegister";
        err = cudaHostRegister(addr, len, cudaHostRegisterPortable);
    }
    if (err == cudaErrorHostMemoryAlreadyRegistered) {
        (void)cudaGetLastError();
        return DM_OK;
    }
    if (err != cudaSuccess) {
        /* cudaErrorMemoryAllocation (RLIMIT_MEMLOCK): DM_ERR_NO_MEMORY, as tier.h says */
        (void)cudaGetLastError();
        return dm_error_set(err == cudaErrorMemoryAllocation ? DM_ERR_NO_MEMORY : DM_ERR_IO,
                            "tier %s: register %p + %zu: %s: %s (%s)", tier->name, addr, len,
                            what, cudaGetErrorString(err), cudaGetErrorName(err));
    }
    g->pinned_mask |= 1ull << id;
    return DM_OK;
}

static void dm_store_gpu_mem_unregister(dm_store_tier_t *tier, unsigned id)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);

    if (g->pinned_mask & (1ull << id)) {
        (void)dm_store_gpu_enter(g);
        dm_store_gpu_unpin(g, id);
    }
}

const dm_store_tier_ops_t dm_store_gpu_ops = {
    .kind           = DM_STORE_KIND_GPU,
    .create         = dm_store_gpu_create,
    .destroy        = dm_store_gpu_destroy,
    .write          = dm_store_gpu_write,
    .read           = dm_store_gpu_read,
    .submit         = dm_store_gpu_submit,
    .progress       = dm_store_gpu_progress,
    .flush          = dm_store_gpu_flush,
    .mem_register   = dm_store_gpu_mem_register,
    .mem_unregister = dm_store_gpu_mem_unregister,
};
