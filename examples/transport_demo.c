/*
 * transport_demo: the main job until the coherent shared memory lands.
 *
 * N processes (started by `distmem run -n N`) each register a buffer with
 * UCX, share it with every other rank (one collective), write a message straight
 * into their right neighbour's buffer with an RMA put, and pass a token
 * around the ring with active messages. Every rank checks what it received
 * and the job exits 0 only if all of it arrived intact.
 *
 * It uses the internal transport layer (src/transport/tp.h); applications
 * use include/distmem.h instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "coll.h"
#include "config.h"
#include "tp.h"

extern char **environ;

enum { AM_TOKEN = DM_TP_AM_USER };

static volatile int token_arrived;
static uint64_t token_value;

static void on_token(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                     size_t len)
{
    memcpy(&token_value, data, sizeof(token_value));
    token_arrived = 1;
}

static int die(const char *what, dm_status_t st)
{
    fprintf(stderr, "transport_demo: %s: %s (%s)\n", what, dm_status_string(st), dm_last_error());
    return 1;
}

int main(void)
{
    dm_config_t cfg;
    dm_boot_t *boot;
    dm_tp_t *tp;
    dm_tp_mem_t *mem;
    dm_tp_shared_t *shared;
    dm_tp_rkey_t *right_key;
    uint64_t right_base;
    size_t right_len;
    char msg[128], *buf;
    dm_status_t st;
    int rank, n, right, left;

    if ((st = dm_config_load(&cfg, environ)) != DM_OK) return die("configuration", st);
    if ((st = dm_boot_create(&cfg, &boot)) != DM_OK) return die("bootstrap", st);
    if ((st = dm_tp_create(boot, &cfg, &tp)) != DM_OK) return die("transport", st);
    if ((st = dm_tp_am_register(tp, AM_TOKEN, on_token, NULL)) != DM_OK) return die("register", st);
    if ((st = dm_tp_boot_fence(tp)) != DM_OK) return die("fence", st);
    rank = dm_tp_rank(tp);
    n = dm_tp_nranks(tp);
    right = (rank + 1) % n;
    left = (rank - 1 + n) % n;

    /* 1. a buffer every peer can write, and its key for everyone */
    if ((st = dm_tp_mem_map(tp, NULL, 4096, 0, &mem)) != DM_OK) return die("mem_map", st);
    buf = dm_tp_mem_addr(mem);
    memset(buf, 0, 4096);
    if ((st = dm_tp_mem_share(tp, mem, &shared)) != DM_OK) return die("share", st);
    if ((st = dm_tp_shared_lookup(tp, shared, right, &right_base, &right_len, &right_key)) != DM_OK)
        return die("lookup", st);

    /* 2. write a greeting into the right neighbour's memory */
    snprintf(msg, sizeof(msg), "hello from rank %d (pid %d)", rank, (int)getpid());
    if ((st = dm_tp_put(tp, right, msg, strlen(msg) + 1, right_base, right_key)) != DM_OK)
        return die("put", st);
    if ((st = dm_tp_flush(tp, right)) != DM_OK) return die("flush", st);
    if ((st = dm_tp_barrier(tp)) != DM_OK) return die("barrier", st);
    printf("rank %d of %d: my memory says \"%s\"\n", rank, n, buf);
    snprintf(msg, sizeof(msg), "hello from rank %d", left);
    if (strncmp(buf, msg, strlen(msg)) != 0) {
        fprintf(stderr, "transport_demo: rank %d expected a greeting from rank %d\n", rank, left);
        return 1;
    }

    /* 3. a token goes around the ring; each rank adds its rank + 1 */
    if (rank == 0) {
        uint64_t t = 1;

        if ((st = dm_tp_am_send(tp, right, AM_TOKEN, NULL, 0, &t, sizeof(t))) != DM_OK)
            return die("send token", st);
    }
    if ((st = dm_tp_wait_flag(tp, &token_arrived, left)) != DM_OK) return die("wait token", st);
    if (rank != 0) {
        uint64_t t = token_value + (uint64_t)rank + 1;

        if ((st = dm_tp_am_send(tp, right, AM_TOKEN, NULL, 0, &t, sizeof(t))) != DM_OK)
            return die("pass token", st);
    } else {
        uint64_t expect = 1;

        for (int r = 1; r < n; r++) expect += (uint64_t)r + 1;
        printf("rank 0: token came back as %llu after visiting %d ranks (expected %llu)\n",
               (unsigned long long)token_value, n, (unsigned long long)expect);
        if (token_value != expect) return 1;
    }
    if ((st = dm_tp_barrier(tp)) != DM_OK) return die("final barrier", st);

    dm_tp_shared_destroy(shared);
    dm_tp_mem_unmap(tp, mem);
    dm_tp_destroy(tp);
    dm_boot_destroy(boot, 1);
    return 0;
}
