/*
 * gpu tier: device memory (HBM) through the CUDA runtime. Built only when
 * cuda_runtime.h and libcudart are found (DM_STORE_HAVE_CUDA).
 *
 * Where the memory comes from: one cudaMalloc of capacity * page_size on
 * device gpu_device. Synchronous operations are cudaMemcpy (pageable host
 * buffers are staged by the driver); asynchronous ones are cudaMemcpyAsync on
 * the tier's own non-blocking stream, each followed by an event, so poll
 * reaps them in stream order with cudaEventQuery. They overlap with the host
 * only when the buffer is pinned: register the host memory first
 * (dm_store_tier_mem_register -> cudaHostRegister).
 *
 * No device at run time (no driver, no GPU, CUDA_VISIBLE_DEVICES empty):
 * create fails with DM_ERR_UNSUPPORTED and the runtime's own words.
 * Volatile: flush waits for the stream only.
 */
#include "tier_int.h"

#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "util.h"

typedef struct dm_store_gpu {
    dm_store_tier_t base;
    int             device;
    char           *mem;        /* device memory */
    cudaStream_t    stream;
    cudaEvent_t    *events;     /* queue_depth of them */
    uint32_t       *free_ev;    /* stack of unused event indices */
    uint32_t        nfree;
    dm_store_io_t  *head, *tail; /* in flight, in stream order; priv_[0] = event index */
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

static dm_status_t dm_store_gpu_create(const dm_store_tier_params_t *params,
                                       dm_store_tier_t **tier_p)
{
    dm_store_gpu_t *g;
    int ndev = 0;
    uint32_t nev = 0;
    cudaError_t err;
    dm_status_t st;

    err = cudaGetDeviceCount(&ndev);
    if (err != cudaSuccess) {
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
    g->free_ev = calloc(params->queue_depth, sizeof(*g->free_ev));
    if (g->events == NULL || g->free_ev == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "tier %s: no memory for the handle", params->name);
        goto err_cleanup;
    }
    err = cudaSetDevice(g->device);
    if (err == cudaSuccess) {
        err = cudaMalloc((void **)&g->mem, (size_t)(params->capacity * params->page_size));
    }
    if (err != cudaSuccess) {
        st = dm_store_gpu_error(&g->base, err, "cudaMalloc", UINT64_MAX);
        goto err_cleanup;
    }
    err = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        st = dm_store_gpu_error(&g->base, err, "cudaStreamCreate", UINT64_MAX);
        goto err_mem;
    }
    for (nev = 0; nev < params->queue_depth; nev++) {
        err = cudaEventCreateWithFlags(&g->events[nev], cudaEventDisableTiming);
        if (err != cudaSuccess) {
            st = dm_store_gpu_error(&g->base, err, "cudaEventCreate", UINT64_MAX);
            goto err_events;
        }
        g->free_ev[g->nfree++] = nev;
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
    free(g->events);
    free(g->free_ev);
    dm_store_tier_cleanup_(&g->base);
err_free:
    free(g);
    return st;
}

static void dm_store_gpu_destroy(dm_store_tier_t *tier)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    uint64_t mask = tier->region_mask;

    cudaSetDevice(g->device);
    cudaStreamSynchronize(g->stream);
    while (mask) {
        int i = __builtin_ctzll(mask);

        mask &= mask - 1;
        cudaHostUnregister((void *)tier->regions[i].addr);
    }
    for (uint32_t i = 0; i < tier->queue_depth; i++) {
        cudaEventDestroy(g->events[i]);
    }
    cudaStreamDestroy(g->stream);
    cudaFree(g->mem);
    free(g->events);
    free(g->free_ev);
    dm_store_tier_cleanup_(tier);
    free(g);
}

static dm_status_t dm_store_gpu_copy(dm_store_gpu_t *g, int write, uint64_t slot, void *buf)
{
    char *dev = g->mem + dm_store_slot_offset_(&g->base, slot);
    cudaError_t err;

    cudaSetDevice(g->device);
    err = write ? cudaMemcpy(dev, buf, g->base.page_size, cudaMemcpyHostToDevice)
                : cudaMemcpy(buf, dev, g->base.page_size, cudaMemcpyDeviceToHost);
    if (err != cudaSuccess) {
        return dm_store_gpu_error(&g->base, err, write ? "write" : "read", slot);
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

static dm_status_t dm_store_gpu_submit(dm_store_tier_t *tier, dm_store_io_t *io)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    char *dev = g->mem + dm_store_slot_offset_(tier, io->slot);
    uint32_t ev;
    cudaError_t err;

    cudaSetDevice(g->device);
    err = io->op == DM_STORE_OP_WRITE
              ? cudaMemcpyAsync(dev, io->buf, tier->page_size, cudaMemcpyHostToDevice, g->stream)
              : cudaMemcpyAsync(io->buf, dev, tier->page_size, cudaMemcpyDeviceToHost, g->stream);
    if (err != cudaSuccess) {
        dm_store_tier_complete_(tier, io, dm_store_gpu_error(tier, err, "submit", io->slot));
        return DM_OK;
    }
    ev = g->free_ev[--g->nfree]; /* nfree > 0: in flight < queue_depth */
    err = cudaEventRecord(g->events[ev], g->stream);
    if (err != cudaSuccess) {
        g->free_ev[g->nfree++] = ev;
        cudaStreamSynchronize(g->stream);
        dm_store_tier_complete_(tier, io, dm_store_gpu_error(tier, err, "cudaEventRecord",
                                                             io->slot));
        return DM_OK;
    }
    io->priv_[0] = ev;
    io->next_ = NULL;
    if (g->tail) {
        g->tail->next_ = io;
    } else {
        g->head = io;
    }
    g->tail = io;
    return DM_OK;
}

static dm_status_t dm_store_gpu_progress(dm_store_tier_t *tier, unsigned min_complete)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    unsigned reaped = 0;

    cudaSetDevice(g->device);
    while (g->head) {
        dm_store_io_t *io = g->head;
        uint32_t ev = (uint32_t)io->priv_[0];
        cudaError_t err = cudaEventQuery(g->events[ev]);

        if (err == cudaErrorNotReady) {
            if (reaped >= min_complete) {
                break;
            }
            err = cudaEventSynchronize(g->events[ev]);
        }
        g->head = io->next_;
        if (g->head == NULL) {
            g->tail = NULL;
        }
        g->free_ev[g->nfree++] = ev;
        dm_store_tier_complete_(tier, io, err == cudaSuccess ? DM_OK
                                    : dm_store_gpu_error(tier, err, "copy", io->slot));
        reaped++;
    }
    return DM_OK;
}

static dm_status_t dm_store_gpu_flush(dm_store_tier_t *tier)
{
    dm_store_gpu_t *g = dm_store_gpu_of(tier);
    cudaError_t err;

    cudaSetDevice(g->device);
    err = cudaStreamSynchronize(g->stream);
    return err == cudaSuccess ? DM_OK : dm_store_gpu_error(tier, err, "flush", UINT64_MAX);
}

static dm_status_t dm_store_gpu_mem_register(dm_store_tier_t *tier, unsigned id, void *addr,
                                             size_t len)
{
    cudaError_t err = cudaHostRegister(addr, len, cudaHostRegisterDefault);

    return err == cudaSuccess ? DM_OK : dm_store_gpu_error(tier, err, "cudaHostRegister",
                                                           UINT64_MAX);
}

static void dm_store_gpu_mem_unregister(dm_store_tier_t *tier, unsigned id)
{
    cudaHostUnregister((void *)tier->regions[id].addr);
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
