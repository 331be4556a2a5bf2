/*
 * Multi-process checks of the transport, run as N real processes over the
 * real UCX transport (started by `distmem run -n N`, by mpirun, or by hand).
 *
 *   tp_check pingpong   every size class of active message, both ways,
 *                       checked byte for byte
 *   tp_check rma        random-size, random-offset put and get on
 *                       ucp_mem_map'd memory, checked byte for byte
 *   tp_check barrier    barrier under skewed arrival: no rank leaves a
 *                       barrier before every rank entered it
 *   tp_check coll       broadcast from every root and allgather, many sizes
 *   tp_check endpoints  endpoints are created on demand, not N-1 at start
 *   tp_check progress   a rank that computes without calling distmem still
 *                       answers (the progress thread serves it)
 *   tp_check kill       the last rank SIGKILLs itself; every other rank must
 *                       see DM_ERR_PEER_FAILED from a barrier and exit 0
 *   tp_check leave      rank 0 sends, broadcasts and leaves normally while
 *                       the others are still busy: they get all it sent,
 *                       see it departed, not failed, and go on among
 *                       themselves (the goodbye protocol, tp.c)
 *
 * Each rank prints "tp_check <mode>: rank R ok" and exits 0 on success;
 * any mismatch prints what differed and exits 1.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "coll.h"
#include "config.h"
#include "rank_check.h"
#include "tp.h"
#include "util.h"

extern char **environ;


static int g_rank, g_n;
static dm_tp_t *g_tp;

enum { AM_PING = DM_TP_AM_USER, AM_PONG };

/* ---------------------------------------------------------------- */

static unsigned char pattern_byte(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;

    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

static void fill(unsigned char *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = pattern_byte(seed, i);
    }
}

static size_t first_mismatch(const unsigned char *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern_byte(seed, i)) {
            return i;
        }
    }
    return len;
}

/* ---------------------------------------------------------------- */
/* pingpong */

typedef struct {
    uint64_t seed;
    uint64_t len;
} ping_hdr_t;

static volatile int g_pong_arrived;
static size_t g_pong_bad = (size_t)-1;

static void ping_handler(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                         size_t len)
{
    ping_hdr_t h;
    size_t bad;

    memcpy(&h, hdr, sizeof(h));
    bad = (h.len == len) ? first_mismatch(data, len, h.seed) : 0;
    if (bad != len) {
        fprintf(stderr, "tp_check rank %d: ping from %d of %zu bytes differs at byte %zu\n",
                g_rank, src, len, bad);
        exit(1);
    }
    /* Echo with the seed turned around, from the handler: must not block. */
    h.seed = ~h.seed;
    {
        unsigned char *echo = malloc(len ? len : 1);

        fill(echo, len, h.seed);
        if (dm_tp_am_post(g_tp, src, AM_PONG, &h, sizeof(h), echo, len) != DM_OK) {
            fprintf(stderr, "tp_check rank %d: post failed: %s\n", g_rank, dm_last_error());
            exit(1);
        }
        free(echo);
    }
}

static void pong_handler(void *arg, int src, const void *hdr, size_t hdr_len, const void *data,
                         size_t len)
{
    ping_hdr_t h;

    memcpy(&h, hdr, sizeof(h));
    g_pong_bad = (h.len == len) ? first_mismatch(data, len, h.seed) : 0;
    g_pong_arrived = 1;
}

static void run_pingpong(void)
{
    static const size_t sizes[] = { 0, 1, 7, 8, 64, 100, 101, 255, 256, 1024, 4096, 4097,
                                    8192, 8256, 8257, 65536, 262144, 1 << 20, 4 << 20 };
    int partner = (g_rank + 1) % g_n;
    unsigned char *buf = malloc(4 << 20);

    CHECK_OK(dm_tp_am_register(g_tp, AM_PING, ping_handler, NULL));
    CHECK_OK(dm_tp_am_register(g_tp, AM_PONG, pong_handler, NULL));
    CHECK(dm_tp_am_register(g_tp, AM_PONG, pong_handler, NULL) == DM_ERR_EXISTS,
          "double registration accepted");
    CHECK_OK(dm_tp_barrier(g_tp));
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
            ping_hdr_t h = { .seed = (uint64_t)g_rank * 1000 + i + rep * 100000,
                             .len = sizes[i] };

            fill(buf, sizes[i], h.seed);
            g_pong_arrived = 0;
            CHECK_OK(dm_tp_am_send(g_tp, partner, AM_PING, &h, sizeof(h), buf, sizes[i]));
            /* the buffer is ours again: scribble to catch a send that still reads it */
            memset(buf, 0xa5, sizes[i]);
            CHECK_OK(dm_tp_wait_flag(g_tp, &g_pong_arrived, partner));
            CHECK(g_pong_bad == sizes[i], "pong of %zu bytes differs at byte %zu", sizes[i],
                  g_pong_bad);
        }
    }
    /* Bad input is an error, not a crash. */
    CHECK(dm_tp_am_send(g_tp, g_n, AM_PING, NULL, 0, NULL, 0) == DM_ERR_INVALID_PARAM,
          "send to rank n accepted");
    CHECK(dm_tp_am_send(g_tp, partner, DM_TP_AM_ID_MAX, NULL, 0, NULL, 0) ==
              DM_ERR_INVALID_PARAM,
          "bad id accepted");
    CHECK(dm_tp_am_send(g_tp, partner, AM_PING, buf, DM_TP_AM_HDR_MAX + 1, NULL, 0) ==
              DM_ERR_INVALID_PARAM,
          "oversized header accepted");
    CHECK_OK(dm_tp_barrier(g_tp));
    free(buf);
}

/* ---------------------------------------------------------------- */
/* rma */

#define RMA_REGION (1u << 20) /* first half: static pattern; second half: written by rank-1 */
#define RKEY_MAX   512

typedef struct {
    uint64_t base;
    uint32_t len;
    unsigned char key[RKEY_MAX];
} rkey_msg_t;

static void run_rma(void)
{
    dm_tp_mem_t *mem;
    rkey_msg_t mine, *all = calloc((size_t)g_n, sizeof(rkey_msg_t));
    dm_tp_rkey_t *rk_right;
    int right = (g_rank + 1) % g_n, left = (g_rank - 1 + g_n) % g_n;
    unsigned char *local, *src = malloc(RMA_REGION), *dst = malloc(RMA_REGION);
    unsigned seed = 12345u + (unsigned)g_rank;
    void *packed;
    size_t packed_len;

    CHECK_OK(dm_tp_mem_map(g_tp, NULL, RMA_REGION, 0, &mem));
    local = dm_tp_mem_addr(mem);
    CHECK(dm_tp_mem_length(mem) >= RMA_REGION, "mapped %zu", dm_tp_mem_length(mem));
    fill(local, RMA_REGION / 2, 777 + (uint64_t)g_rank);
    memset(local + RMA_REGION / 2, 0, RMA_REGION / 2);

    CHECK_OK(dm_tp_mem_pack(g_tp, mem, &packed, &packed_len));
    CHECK(packed_len <= RKEY_MAX, "rkey of %zu bytes", packed_len);
    memset(&mine, 0, sizeof(mine));
    mine.base = (uint64_t)(uintptr_t)local;
    mine.len = (uint32_t)packed_len;
    memcpy(mine.key, packed, packed_len);
    dm_tp_rkey_buffer_release(packed);
    CHECK_OK(dm_tp_allgather(g_tp, &mine, all, sizeof(mine)));
    CHECK(all[g_rank].base == mine.base, "allgather lost my own entry");
    CHECK_OK(dm_tp_rkey_unpack(g_tp, right, all[right].key, all[right].len, &rk_right));

    for (int it = 0; it < 300; it++) {
        size_t len = 1 + (size_t)rand_r(&seed) % (it % 10 == 0 ? RMA_REGION / 2 : 9000);
        size_t off = (size_t)rand_r(&seed) % (RMA_REGION / 2 - len + 1);
        uint64_t s = (uint64_t)it * 7919 + (uint64_t)g_rank;
        int nbi = it & 1;

        /* get from the static half and compare with the owner's pattern */
        memset(dst, 0, len);
        if (nbi) {
            CHECK_OK(dm_tp_get_nbi(g_tp, right, dst, len, all[right].base + off, rk_right));
            CHECK_OK(dm_tp_flush(g_tp, right));
        } else {
            CHECK_OK(dm_tp_get(g_tp, right, dst, len, all[right].base + off, rk_right));
        }
        for (size_t i = 0; i < len; i++) {
            CHECK(dst[i] == pattern_byte(777 + (uint64_t)right, off + i),
                  "get of %zu bytes at offset %zu from rank %d differs at byte %zu", len, off,
                  right, i);
        }
        /* put into the right neighbour's writable half, then read it back */
        fill(src, len, s);
        if (nbi) {
            CHECK_OK(dm_tp_put_nbi(g_tp, right, src, len, all[right].base + RMA_REGION / 2 + off,
                                   rk_right));
        } else {
            CHECK_OK(dm_tp_put(g_tp, right, src, len, all[right].base + RMA_REGION / 2 + off,
                               rk_right));
        }
        CHECK_OK(dm_tp_flush(g_tp, it % 3 == 0 ? -1 : right));
        memset(dst, 0, len);
        CHECK_OK(dm_tp_get(g_tp, right, dst, len, all[right].base + RMA_REGION / 2 + off,
                           rk_right));
        CHECK(first_mismatch(dst, len, s) == len, "put/get of %zu bytes at offset %zu differs",
              len, off);
    }
    CHECK_OK(dm_tp_barrier(g_tp));
    /* The left neighbour's last write is visible in our memory after its flush + barrier. */
    (void)left;
    CHECK(dm_tp_put(g_tp, right, src, 8, all[right].base, NULL) == DM_ERR_INVALID_PARAM,
          "put without a key accepted");
    dm_tp_rkey_destroy(rk_right);
    CHECK_OK(dm_tp_barrier(g_tp));
    dm_tp_mem_unmap(g_tp, mem);
    free(all);
    free(src);
    free(dst);
}

/* ---------------------------------------------------------------- */
/* barrier under skew */

static void run_barrier(void)
{
    dm_tp_mem_t *mem;
    dm_tp_shared_t *sh;
    dm_tp_rkey_t **rk = calloc((size_t)g_n, sizeof(*rk));
    uint64_t *base = calloc((size_t)g_n, sizeof(*base));
    volatile uint64_t *slots;
    unsigned seed = 99u + (unsigned)g_rank;
    size_t len;

    CHECK_OK(dm_tp_mem_map(g_tp, NULL, 4096, 0, &mem));
    slots = dm_tp_mem_addr(mem);
    memset((void *)slots, 0, 4096);
    /* the shared-region helper: one collective, keys unpacked on first use */
    CHECK_OK(dm_tp_mem_share(g_tp, mem, &sh));
    CHECK(dm_tp_num_endpoints(g_tp) <= g_n, "sharing opened %d endpoints",
          dm_tp_num_endpoints(g_tp));
    for (int r = 0; r < g_n; r++) {
        CHECK_OK(dm_tp_shared_lookup(g_tp, sh, r, &base[r], &len, &rk[r]));
        CHECK(len >= 4096, "rank %d shares %zu bytes", r, len);
    }
    CHECK(base[g_rank] == (uint64_t)(uintptr_t)slots, "my own base is wrong");
    CHECK(dm_tp_shared_lookup(g_tp, sh, g_n, &base[0], &len, &rk[0]) == DM_ERR_INVALID_PARAM,
          "lookup of rank n accepted");
    /*
     * Epoch e: write e into my slot at every rank (flushed), sleep a random
     * time, barrier. After the barrier every slot at every rank must hold e:
     * a barrier that lets a rank out early fails this.
     */
    for (uint64_t e = 1; e <= 40; e++) {
        for (int r = 0; r < g_n; r++) {
            CHECK_OK(dm_tp_put(g_tp, r, &e, sizeof(e), base[r] + 8 * (uint64_t)g_rank, rk[r]));
        }
        CHECK_OK(dm_tp_flush(g_tp, -1));
        usleep((useconds_t)(rand_r(&seed) % 5000) * (g_rank == (int)(e % (uint64_t)g_n) ? 4 : 1));
        CHECK_OK(dm_tp_barrier(g_tp));
        for (int r = 0; r < g_n; r++) {
            CHECK(slots[r] == e, "after barrier %lu slot of rank %d holds %lu",
                  (unsigned long)e, r, (unsigned long)slots[r]);
        }
        CHECK_OK(dm_tp_barrier(g_tp)); /* nobody writes e+1 before everyone checked e */
    }
    CHECK_OK(dm_tp_barrier(g_tp));
    dm_tp_shared_destroy(sh); /* owns the keys */
    dm_tp_mem_unmap(g_tp, mem);
    free(rk);
    free(base);
}

/* ---------------------------------------------------------------- */
/* collectives */

static void run_coll(void)
{
    static const size_t sizes[] = { 1, 8, 100, 4096, 70000, 300000 };
    unsigned char *buf = malloc(300000), *out = malloc((size_t)g_n * 300000);

    for (size_t i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
        for (int root = 0; root < g_n; root++) {
            uint64_t seed = 5000 + i * 31 + (uint64_t)root;

            if (g_rank == root) {
                fill(buf, sizes[i], seed);
            } else {
                memset(buf, 0, sizes[i]);
            }
            CHECK_OK(dm_tp_bcast(g_tp, root, buf, sizes[i]));
            CHECK(first_mismatch(buf, sizes[i], seed) == sizes[i],
                  "bcast of %zu bytes from root %d differs", sizes[i], root);
        }
        fill(buf, sizes[i], 9000 + i * 17 + (uint64_t)g_rank);
        memset(out, 0, (size_t)g_n * sizes[i]);
        CHECK_OK(dm_tp_allgather(g_tp, buf, out, sizes[i]));
        for (int r = 0; r < g_n; r++) {
            CHECK(first_mismatch(out + (size_t)r * sizes[i], sizes[i], 9000 + i * 17 + (uint64_t)r) ==
                      sizes[i],
                  "allgather of %zu bytes: block of rank %d differs", sizes[i], r);
        }
    }
    CHECK(dm_tp_bcast(g_tp, g_n, buf, 1) == DM_ERR_INVALID_PARAM, "bad root accepted");
    CHECK_OK(dm_tp_barrier(g_tp));
    free(buf);
    free(out);
}

/* ---------------------------------------------------------------- */

static void run_endpoints(void)
{
    int log2n = 0, eps;

    while ((1 << log2n) < g_n) {
        log2n++;
    }
    CHECK(dm_tp_num_endpoints(g_tp) == 0, "%d endpoints before any traffic",
          dm_tp_num_endpoints(g_tp));
    CHECK_OK(dm_tp_barrier(g_tp));
    eps = dm_tp_num_endpoints(g_tp);
    CHECK(eps <= log2n, "%d endpoints after a barrier of %d ranks (expected <= %d)", eps, g_n,
          log2n);
}

/* The last rank spins without calling distmem; rank 0 must still get answers. */
static void run_progress(void)
{
    static volatile int done;

    CHECK_OK(dm_tp_am_register(g_tp, AM_PING, ping_handler, NULL));
    CHECK_OK(dm_tp_am_register(g_tp, AM_PONG, pong_handler, NULL));
    CHECK_OK(dm_tp_barrier(g_tp));
    if (g_rank == g_n - 1) {
        uint64_t end = dm_time_ns() + 2 * DM_NSEC_PER_SEC;

        while (dm_time_ns() < end) {
            done++; /* compute, no distmem call */
        }
    } else if (g_rank == 0) {
        unsigned char b[4096];

        for (int i = 0; i < 20; i++) {
            ping_hdr_t h = { .seed = (uint64_t)i, .len = sizeof(b) };

            fill(b, sizeof(b), h.seed);
            g_pong_arrived = 0;
            CHECK_OK(dm_tp_am_send(g_tp, g_n - 1, AM_PING, &h, sizeof(h), b, sizeof(b)));
            CHECK_OK(dm_tp_wait_flag(g_tp, &g_pong_arrived, g_n - 1));
            CHECK(g_pong_bad == sizeof(b), "pong differs");
        }
    }
    CHECK_OK(dm_tp_barrier(g_tp));
}

static void run_kill(void)
{
    dm_status_t st = DM_OK;
    uint64_t start;

    /*
     * The last rank leaves one barrier and dies; the others may still be in
     * that barrier or in later ones. Whichever barrier they are in must end
     * with DM_ERR_PEER_FAILED, never hang.
     */
    if (g_rank == g_n - 1) {
        CHECK_OK(dm_tp_barrier(g_tp));
        raise(SIGKILL);
    }
    start = dm_time_ns();
    for (int i = 0; i < 1000000 && st == DM_OK; i++) {
        st = dm_tp_barrier(g_tp);
    }
    CHECK(st == DM_ERR_PEER_FAILED, "barrier returned %s after a rank died", dm_status_name(st));
    printf("tp_check kill: rank %d saw DM_ERR_PEER_FAILED after %.2f s: %s\n", g_rank,
           (double)(dm_time_ns() - start) / 1e9, dm_last_error());
    /* every later collective fails the same way, at once */
    CHECK(dm_tp_barrier(g_tp) == DM_ERR_PEER_FAILED, "second barrier did not fail");
}

/* ---------------------------------------------------------------- */
/* leave */

enum { AM_LEAVE_DATA = DM_TP_AM_USER + 2, AM_LEAVE_TOKEN };

#define LEAVE_LEN 3000

static atomic_int g_leave_data, g_leave_token;
static size_t g_leave_bad = (size_t)-1;

static void leave_data_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                               const void *data, size_t len)
{
    (void)arg;
    (void)hdr;
    (void)hdr_len;
    if (src != 0 || len != LEAVE_LEN) {
        g_leave_bad = len;
    } else if ((g_leave_bad = first_mismatch(data, len, 77)) == len) {
        g_leave_bad = (size_t)-1;
    }
    atomic_store(&g_leave_data, 1);
}

static void leave_token_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                                const void *data, size_t len)
{
    (void)arg;
    (void)src;
    (void)hdr;
    (void)hdr_len;
    (void)data;
    (void)len;
    atomic_store(&g_leave_token, 1);
}

static int leave_flag_set(void *arg)
{
    return atomic_load((atomic_int *)arg) != 0;
}

static int leave_departed(void *arg)
{
    (void)arg;
    return dm_tp_peer_departed(g_tp, 0);
}

/*
 * Rank 0 leaves right after a message and a broadcast; rank 1 waits until
 * rank 0 has surely gone before it lets the others (who wait for it, not for
 * rank 0) go on. Over TCP rank 0's closing breaks the others' endpoints;
 * before the goodbye protocol that marked it failed and doomed their waits.
 */
static int run_leave(void)
{
    unsigned char buf[LEAVE_LEN];
    uint64_t value = 0;

    CHECK_OK(dm_tp_am_register(g_tp, AM_LEAVE_DATA, leave_data_handler, NULL));
    CHECK_OK(dm_tp_am_register(g_tp, AM_LEAVE_TOKEN, leave_token_handler, NULL));
    CHECK_OK(dm_tp_barrier(g_tp));
    if (g_rank == 0) {
        fill(buf, sizeof(buf), 77);
        for (int r = 1; r < g_n; r++) {
            CHECK_OK(dm_tp_am_post(g_tp, r, AM_LEAVE_DATA, NULL, 0, buf, sizeof(buf)));
        }
        value = 0x1eaf;
        CHECK_OK(dm_tp_bcast(g_tp, 0, &value, sizeof(value)));
        return 1; /* main leaves without the final barrier */
    }
    CHECK_OK(dm_tp_wait_until(g_tp, leave_flag_set, &g_leave_data));
    CHECK(g_leave_bad == (size_t)-1, "rank 0's message arrived damaged (at byte %zu)",
          g_leave_bad);
    CHECK_OK(dm_tp_bcast(g_tp, 0, &value, sizeof(value)));
    CHECK(value == 0x1eaf, "broadcast from the leaver gave %#llx", (unsigned long long)value);
    if (g_rank == 1) {
        /* rank 0's goodbye, then whatever its closing does to our endpoint */
        CHECK_OK(dm_tp_wait_until(g_tp, leave_departed, NULL));
        usleep(300 * 1000);
        for (int r = 2; r < g_n; r++) {
            CHECK_OK(dm_tp_am_send(g_tp, r, AM_LEAVE_TOKEN, NULL, 0, NULL, 0));
        }
    } else {
        CHECK_OK(dm_tp_wait_until(g_tp, leave_flag_set, &g_leave_token));
    }
    CHECK_OK(dm_tp_wait_until(g_tp, leave_departed, NULL));
    CHECK(dm_tp_nfailed(g_tp) == 0 && dm_tp_first_failed(g_tp) < 0,
          "a rank that left normally counts as failed (%d failed)", dm_tp_nfailed(g_tp));
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "pingpong";
    dm_config_t cfg;
    dm_boot_t *boot;

    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK_OK(dm_config_load(&cfg, environ));
    CHECK_OK(dm_boot_create(&cfg, &boot));
    g_rank = boot->rank;
    g_n = boot->nranks;
    CHECK_OK(dm_tp_create(boot, &cfg, &g_tp));
    CHECK_OK(dm_tp_boot_fence(g_tp));

    if (!strcmp(mode, "pingpong")) {
        run_pingpong();
    } else if (!strcmp(mode, "rma")) {
        run_rma();
    } else if (!strcmp(mode, "barrier")) {
        run_barrier();
    } else if (!strcmp(mode, "coll")) {
        run_coll();
    } else if (!strcmp(mode, "endpoints")) {
        run_endpoints();
    } else if (!strcmp(mode, "progress")) {
        run_progress();
    } else if (!strcmp(mode, "leave") && run_leave()) {
        printf("tp_check %s: rank %d ok\n", mode, g_rank);
        /* rank 0 is gone: no final barrier */
        dm_tp_destroy(g_tp);
        dm_boot_destroy(boot, 1);
        return 0;
    } else if (!strcmp(mode, "kill")) {
        run_kill();
        printf("tp_check %s: rank %d ok\n", mode, g_rank);
        /* peers are gone: skip the final barrier, leave cleanly */
        dm_tp_destroy(g_tp);
        dm_boot_destroy(boot, 1);
        return 0;
    } else {
        fprintf(stderr, "tp_check: unknown mode %s\n", mode);
        return 2;
    }
    CHECK_OK(dm_tp_barrier(g_tp));
    dm_tp_destroy(g_tp);
    dm_boot_destroy(boot, 1);
    printf("tp_check %s: rank %d ok\n", mode, g_rank);
    return 0;
}
