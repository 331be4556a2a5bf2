/*
 * Sharing registered regions: one allgather of (base, length, packed key)
 * records, keys unpacked lazily per peer.
 *
 * Records have one size for all ranks (allgather needs it): the largest
 * packed key in the job, found by a first allgather of the key lengths, so
 * a job pays for the keys it has, not for a worst-case bound.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "status.h"
#include "tp_int.h"

typedef struct dm_tp_share_rec {
    uint64_t      base;
    uint64_t      len;
    uint32_t      key_len;
    uint32_t      reserved;
    unsigned char key[]; /* key_len bytes, padded to the job's record size */
} dm_tp_share_rec_t;

struct dm_tp_shared {
    int             nranks;
    size_t          rec_size;
    unsigned char  *recs;  /* nranks records of rec_size bytes */
    dm_tp_rkey_t  **rkeys; /* [nranks], NULL until first lookup */
    pthread_mutex_t lock;  /* protects rkeys */
};

static dm_tp_share_rec_t *dm_tp_share_rec(const dm_tp_shared_t *sh, int r)
{
    return (dm_tp_share_rec_t *)(sh->recs + (size_t)r * sh->rec_size);
}

dm_status_t dm_tp_mem_share(dm_tp_t *tp, const dm_tp_mem_t *mem, dm_tp_shared_t **shared_p)
{
    dm_tp_shared_t *sh;
    dm_tp_share_rec_t *mine = NULL;
    uint32_t my_len, *lens = NULL, max_len = 0;
    void *packed = NULL;
    size_t packed_len;
    dm_status_t st;
    int r;

    st = dm_tp_mem_pack(tp, mem, &packed, &packed_len);
    if (st != DM_OK) {
        return st;
    }
    sh = calloc(1, sizeof(*sh));
    lens = calloc((size_t)tp->nranks, sizeof(*lens));
    if (sh == NULL || lens == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "shared region table");
        goto out;
    }
    my_len = (uint32_t)packed_len;
    st = dm_tp_allgather(tp, &my_len, lens, sizeof(my_len));
    if (st != DM_OK) {
        goto out;
    }
    for (r = 0; r < tp->nranks; r++) {
        max_len = lens[r] > max_len ? lens[r] : max_len;
    }
    sh->nranks = tp->nranks;
    sh->rec_size = (sizeof(dm_tp_share_rec_t) + max_len + 7) & ~(size_t)7;
    sh->recs = calloc((size_t)tp->nranks, sh->rec_size);
    sh->rkeys = calloc((size_t)tp->nranks, sizeof(*sh->rkeys));
    mine = calloc(1, sh->rec_size);
    if (sh->recs == NULL || sh->rkeys == NULL || mine == NULL) {
        st = dm_error_set(DM_ERR_NO_MEMORY, "shared region table for %d ranks", tp->nranks);
        goto out;
    }
    mine->base = (uint64_t)(uintptr_t)dm_tp_mem_addr(mem);
    mine->len = dm_tp_mem_length(mem);
    mine->key_len = my_len;
    memcpy(mine->key, packed, packed_len);
    st = dm_tp_allgather(tp, mine, sh->recs, sh->rec_size);
    if (st != DM_OK) {
        goto out;
    }
    pthread_mutex_init(&sh->lock, NULL);
    *shared_p = sh;
    sh = NULL;
out:
    if (sh != NULL) {
        free(sh->recs);
        free(sh->rkeys);
        free(sh);
    }
    free(mine);
    free(lens);
    dm_tp_rkey_buffer_release(packed);
    return st;
}

dm_status_t dm_tp_shared_lookup(dm_tp_t *tp, dm_tp_shared_t *sh, int peer, uint64_t *base_p,
                                size_t *len_p, dm_tp_rkey_t **rkey_p)
{
    dm_tp_share_rec_t *rec;
    dm_tp_rkey_t *rk;
    dm_status_t st = DM_OK;

    if (peer < 0 || peer >= sh->nranks) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "rank %d out of range [0, %d)", peer,
                            sh->nranks);
    }
    rec = dm_tp_share_rec(sh, peer);
    pthread_mutex_lock(&sh->lock);
    rk = sh->rkeys[peer];
    pthread_mutex_unlock(&sh->lock);
    if (rk == NULL) {
        /*
         * Unpack outside sh->lock: unpacking may connect (conn_lock, then the
         * UCX lock), and a handler holding the UCX lock may call this.
         */
        st = dm_tp_rkey_unpack(tp, peer, rec->key, rec->key_len, &rk);
        if (st != DM_OK) {
            return st;
        }
        pthread_mutex_lock(&sh->lock);
        if (sh->rkeys[peer] == NULL) {
            sh->rkeys[peer] = rk;
        } else {
            dm_tp_rkey_destroy(rk); /* another thread won */
            rk = sh->rkeys[peer];
        }
        pthread_mutex_unlock(&sh->lock);
    }
    *base_p = rec->base;
    *len_p = (size_t)rec->len;
    *rkey_p = rk;
    return st;
}

void dm_tp_shared_destroy(dm_tp_shared_t *sh)
{
    if (sh == NULL) {
        return;
    }
    for (int r = 0; r < sh->nranks; r++) {
        dm_tp_rkey_destroy(sh->rkeys[r]);
    }
    pthread_mutex_destroy(&sh->lock);
    free(sh->rkeys);
    free(sh->recs);
    free(sh);
}
