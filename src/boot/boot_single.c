/*
 * The single backend: a job of one process (rank 0 of 1). The store is a
 * list in this process; fence has nobody to wait for.
 *
 * get of a key that was never put fails at once with DM_ERR_NOT_FOUND
 * instead of waiting for the timeout: no other rank exists to put it.
 */
#include <stdlib.h>
#include <string.h>

#include "boot_backends.h"
#include "status.h"

typedef struct dm_boot_single_kv {
    struct dm_boot_single_kv *next;
    size_t                    len;
    char                      key[DM_BOOT_KEY_MAX];
    unsigned char             value[]; /* len bytes */
} dm_boot_single_kv_t;

typedef struct dm_boot_single {
    dm_boot_t            super;
    dm_boot_single_kv_t *kvs;
} dm_boot_single_t;

static dm_boot_single_kv_t **dm_boot_single_find(dm_boot_single_t *b, const char *key)
{
    dm_boot_single_kv_t **p;

    for (p = &b->kvs; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->key, key) == 0) {
            break;
        }
    }
    return p;
}

static int dm_boot_single_key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    return n >= 1 && n <= DM_BOOT_KEY_MAX - 1;
}

static dm_status_t dm_boot_single_put(dm_boot_t *boot, const char *key, const void *value,
                                      size_t len)
{
    dm_boot_single_t *b = (dm_boot_single_t *)boot;
    dm_boot_single_kv_t **p, *kv;

    if (!dm_boot_single_key_ok(key) || len > DM_BOOT_VALUE_MAX || (len > 0 && value == NULL)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "bootstrap put: key must be 1..%d bytes and the value at most %d "
                            "bytes (got %zu)", DM_BOOT_KEY_MAX - 1, DM_BOOT_VALUE_MAX, len);
    }
    kv = malloc(sizeof(*kv) + len);
    if (kv == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "out of memory storing key \"%s\"", key);
    }
    strcpy(kv->key, key);
    kv->len = len;
    if (len > 0) {
        memcpy(kv->value, value, len);
    }
    p = dm_boot_single_find(b, key);
    kv->next = *p ? (*p)->next : NULL;
    free(*p);
    *p = kv;
    return DM_OK;
}

static dm_status_t dm_boot_single_fence(dm_boot_t *boot)
{
    (void)boot;
    return DM_OK;
}

static dm_status_t dm_boot_single_get(dm_boot_t *boot, int rank, const char *key, void *buf,
                                      size_t cap, size_t *len_p)
{
    dm_boot_single_t *b = (dm_boot_single_t *)boot;
    dm_boot_single_kv_t *kv;

    if (rank != 0 || !dm_boot_single_key_ok(key) || len_p == NULL || (cap > 0 && buf == NULL)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "bootstrap get: rank %d does not exist in a job of one rank, or the "
                            "key is not 1..%d bytes", rank, DM_BOOT_KEY_MAX - 1);
    }
    kv = *dm_boot_single_find(b, key);
    if (kv == NULL) {
        return dm_error_set(DM_ERR_NOT_FOUND, "bootstrap get: key \"%s\" was never put "
                            "(single-process job)", key);
    }
    *len_p = kv->len;
    if (kv->len > cap) {
        return dm_error_set(DM_ERR_NO_SPACE, "bootstrap get: key \"%s\" has %zu bytes, the "
                            "buffer %zu", key, kv->len, cap);
    }
    if (kv->len > 0) {
        memcpy(buf, kv->value, kv->len);
    }
    return DM_OK;
}

static int dm_boot_single_poll_failed(dm_boot_t *boot)
{
    (void)boot;
    return -1;
}

static void dm_boot_single_destroy(dm_boot_t *boot, int clean)
{
    dm_boot_single_t *b = (dm_boot_single_t *)boot;
    dm_boot_single_kv_t *kv, *next;

    (void)clean;
    for (kv = b->kvs; kv != NULL; kv = next) {
        next = kv->next;
        free(kv);
    }
    free(b);
}

static const dm_boot_ops_t dm_boot_single_ops = {
    .name = "single",
    .put = dm_boot_single_put,
    .fence = dm_boot_single_fence,
    .get = dm_boot_single_get,
    .poll_failed = dm_boot_single_poll_failed,
    .destroy = dm_boot_single_destroy,
};

dm_status_t dm_boot_single_create(const dm_config_t *cfg, dm_boot_t **boot_p)
{
    dm_boot_single_t *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "out of memory creating the single bootstrap");
    }
    b->super.ops = &dm_boot_single_ops;
    b->super.rank = 0;
    b->super.nranks = 1;
    b->super.timeout_ns = cfg->boot_timeout;
    *boot_p = &b->super;
    return DM_OK;
}
