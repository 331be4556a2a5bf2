/*
 * The rendezvous server over real TCP, driven from one process: raw protocol
 * clients (sockets speaking rdv_proto frames) check the server's answers
 * frame by frame, and forked children check the rdv client backend
 * (boot_rdv.c) against the same server. Each case creates and destroys its
 * own server; the test ends with every child reaped.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "config.h"
#include "rdv_proto.h"
#include "rdv_server.h"
#include "status.h"
#include "util.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, dm_last_error());                              \
            failures++;                                                             \
        }                                                                           \
    } while (0)

typedef struct client {
    int     fd;
    size_t  len;
    uint8_t buf[DM_RDV_FRAME_MAX];
    uint8_t msgbuf[DM_RDV_FRAME_MAX]; /* the last frame returned */
} client_t;

static dm_rdv_server_t *srv;

static void pump(int ms)
{
    uint64_t end = dm_time_ns() + (uint64_t)ms * 1000000;

    do {
        dm_rdv_server_progress(srv, 5);
    } while (dm_time_ns() < end);
}

static client_t *cl_connect(void)
{
    client_t *c = calloc(1, sizeof(*c));
    struct sockaddr_in sa = { .sin_family = AF_INET };

    sa.sin_port = htons(dm_rdv_server_port(srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "connect: %s\n", strerror(errno));
        exit(1);
    }
    dm_rdv_server_progress(srv, 0);
    return c;
}

static void cl_close(client_t *c)
{
    close(c->fd);
    free(c);
}

static void cl_send(client_t *c, const dm_rdv_msg_t *m)
{
    uint8_t buf[DM_RDV_FRAME_MAX];
    size_t len;

    if (dm_rdv_encode(m, buf, sizeof(buf), &len) != DM_OK ||
        send(c->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
        fprintf(stderr, "cl_send failed\n");
        exit(1);
    }
}

static void cl_send_raw(client_t *c, const void *bytes, size_t len)
{
    if (send(c->fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len) {
        fprintf(stderr, "cl_send_raw failed\n");
        exit(1);
    }
}

/*
 * Next frame from the server within ms (pumping the server meanwhile).
 * Returns 1 with *m, 0 on timeout, -1 when the server closed the connection.
 */
static int cl_recv(client_t *c, dm_rdv_msg_t *m, int ms)
{
    uint64_t end = dm_time_ns() + (uint64_t)ms * 1000000;

    for (;;) {
        size_t used;
        dm_status_t st = dm_rdv_decode(c->buf, c->len, m, &used);
        ssize_t n;

        if (st == DM_OK) {
            memcpy(c->msgbuf, c->buf, used);
            dm_rdv_decode(c->msgbuf, used, m, &used);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return 1;
        }
        if (st != DM_INPROGRESS) {
            fprintf(stderr, "server sent a malformed frame: %s\n", dm_last_error());
            exit(1);
        }
        n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return -1;
        }
        if (dm_time_ns() >= end) {
            return 0;
        }
        dm_rdv_server_progress(srv, 5);
    }
}

static client_t *cl_join(uint32_t rank, uint32_t nranks, const char *key, dm_rdv_msg_t *ans)
{
    client_t *c = cl_connect();
    dm_rdv_msg_t m = { .type = DM_RDV_HELLO, .rank = rank, .nranks = nranks, .pid = 1000 + rank,
                       .key = key, .key_len = strlen(key) };

    cl_send(c, &m);
    CHECK(cl_recv(c, ans, 3000) == 1);
    return c;
}

static int text_has(const dm_rdv_msg_t *m, const char *needle)
{
    char buf[DM_RDV_TEXT_MAX + 1];

    snprintf(buf, sizeof(buf), "%.*s", (int)m->data_len, (const char *)m->data);
    if (strstr(buf, needle) == NULL) {
        fprintf(stderr, "text \"%s\" lacks \"%s\"\n", buf, needle);
        return 0;
    }
    return 1;
}

static void new_server(int nranks, const char *key)
{
    CHECK(dm_rdv_server_create("127.0.0.1:0", nranks, key, &srv) == DM_OK);
    CHECK(dm_rdv_server_port(srv) != 0);
}

/* HELLO checks: wrong key, wrong size, rank out of range, duplicate rank. */
static void test_handshake(void)
{
    dm_rdv_msg_t m;
    client_t *a, *b;

    new_server(2, "secret");
    a = cl_join(0, 2, "secret", &m);
    CHECK(m.type == DM_RDV_WELCOME);

    b = cl_join(1, 2, "wrong", &m);
    CHECK(m.type == DM_RDV_REFUSED && text_has(&m, "job key"));
    CHECK(cl_recv(b, &m, 2000) == -1); /* and closed */
    cl_close(b);

    b = cl_join(1, 3, "secret", &m);
    CHECK(m.type == DM_RDV_REFUSED && text_has(&m, "2 ranks"));
    cl_close(b);

    b = cl_join(2, 2, "secret", &m);
    CHECK(m.type == DM_RDV_REFUSED && text_has(&m, "out of range"));
    cl_close(b);

    b = cl_join(0, 2, "secret", &m);
    CHECK(m.type == DM_RDV_REFUSED && text_has(&m, "already"));
    cl_close(b);

    /* None of that hurt rank 0, and rank 1 can still join. */
    b = cl_join(1, 2, "secret", &m);
    CHECK(m.type == DM_RDV_WELCOME);
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 1 });
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 9 });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FENCE_DONE && m.req_id == 1);
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FENCE_DONE && m.req_id == 9);
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_BYE });
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_BYE });
    CHECK(cl_recv(a, &m, 3000) == -1);
    CHECK(cl_recv(b, &m, 3000) == -1);
    CHECK(dm_rdv_server_all_done(srv));
    cl_close(a);
    cl_close(b);
    dm_rdv_server_destroy(srv);
}

/* Malformed input closes that connection only. */
static void test_malformed(void)
{
    static const uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    uint8_t huge[DM_RDV_HDR_SIZE] = { 0x44, 0x4D, 0x52, 0x56, 1, DM_RDV_PUT, 0, 0,
                                      0x7F, 0xFF, 0xFF, 0xFF };
    dm_rdv_msg_t m;
    client_t *a, *b, *c, *x;
    dm_rdv_server_info_t info;

    new_server(3, "");
    a = cl_join(0, 3, "", &m);
    b = cl_join(1, 3, "", &m);
    c = cl_join(2, 3, "", &m);

    /* Unbound connections: garbage, an oversized header, a frame before HELLO. */
    x = cl_connect();
    cl_send_raw(x, http, sizeof(http) - 1);
    CHECK(cl_recv(x, &m, 3000) == -1);
    cl_close(x);
    x = cl_connect();
    cl_send_raw(x, huge, sizeof(huge));
    CHECK(cl_recv(x, &m, 3000) == -1);
    cl_close(x);
    x = cl_connect();
    cl_send(x, &(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "k", .key_len = 1 });
    CHECK(cl_recv(x, &m, 3000) == -1);
    cl_close(x);
    /* A truncated frame followed by a close. */
    x = cl_connect();
    cl_send_raw(x, huge, 7);
    cl_close(x);
    pump(50);
    dm_rdv_server_query(srv, &info);
    CHECK(info.njoined == 3 && info.nfailed == 0);

    /* A joined rank that breaks the protocol fails; the others hear of it. */
    cl_send(c, &(dm_rdv_msg_t){ .type = DM_RDV_WELCOME });
    CHECK(cl_recv(c, &m, 3000) == -1);
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 2 &&
          text_has(&m, "protocol"));
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 2);
    /* Its keys never come; fences cannot complete. */
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 5, .rank = 2, .key = "never",
                                .key_len = 5 });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_GET_FAILED && m.req_id == 5 &&
          m.rank == 2 && text_has(&m, "never"));
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 6 });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FENCE_FAILED && m.req_id == 6 &&
          m.rank == 2);
    /* A GET of a rank beyond the job is a protocol error too. */
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 1, .rank = 3, .key = "k",
                                .key_len = 1 });
    CHECK(cl_recv(b, &m, 3000) == -1);
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 1);
    dm_rdv_server_query(srv, &info);
    CHECK(info.nfailed == 2 && info.first_failed == 2 && info.njoined == 1);
    cl_close(a);
    cl_close(b);
    cl_close(c);
    dm_rdv_server_destroy(srv);
}

/* Parked GETs, fences as barriers, values served byte for byte. */
static void test_kv_fence(void)
{
    static uint8_t big[DM_BOOT_VALUE_MAX];
    dm_rdv_msg_t m;
    client_t *a, *b;
    size_t i;

    for (i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 13 + 1);
    new_server(2, "k");
    a = cl_join(0, 2, "k", &m);
    b = cl_join(1, 2, "k", &m);

    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 1, .rank = 1, .key = "addr",
                                .key_len = 4 });
    CHECK(cl_recv(a, &m, 200) == 0); /* parked */
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "addr", .key_len = 4, .data = big,
                                .data_len = sizeof(big) });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_VALUE && m.req_id == 1 &&
          m.data_len == sizeof(big) && !memcmp(m.data, big, sizeof(big)));

    /* Overwrite, then read back (own key). */
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "addr", .key_len = 4, .data = "v2",
                                .data_len = 2 });
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 2, .rank = 1, .key = "addr",
                                .key_len = 4 });
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_VALUE && m.req_id == 2 &&
          m.data_len == 2 && !memcmp(m.data, "v2", 2));

    /* Fence: nobody passes until both arrive; generations count per fence. */
    for (i = 0; i < 3; i++) {
        cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 10 + (uint32_t)i });
        CHECK(cl_recv(a, &m, 100) == 0);
        cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 20 + (uint32_t)i });
        CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FENCE_DONE && m.req_id == 10 + i);
        CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FENCE_DONE && m.req_id == 20 + i);
    }

    /* Rank 1 leaves cleanly: a GET of a key it never put fails, its old keys stay. */
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 30, .rank = 1, .key = "late",
                                .key_len = 4 });
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_BYE });
    shutdown(b->fd, SHUT_WR);
    CHECK(cl_recv(b, &m, 3000) == -1);
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_GET_FAILED && m.req_id == 30 &&
          text_has(&m, "left"));
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 31, .rank = 1, .key = "addr",
                                .key_len = 4 });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_VALUE && m.req_id == 31);
    /* A fence after a rank left cannot complete. */
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 32 });
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FENCE_FAILED && m.req_id == 32);
    CHECK(!dm_rdv_server_all_done(srv));
    cl_close(a);
    cl_close(b);
    dm_rdv_server_destroy(srv);
}

/* Failure notices: closing without BYE, mark_failed, late joiners. */
static void test_failures(void)
{
    dm_rdv_msg_t m;
    client_t *a, *b, *c;
    dm_rdv_server_info_t info;

    new_server(4, "");
    a = cl_join(0, 4, "", &m);
    b = cl_join(1, 4, "", &m);
    c = cl_join(2, 4, "", &m);

    /* a waits in a fence and on a key of rank 2 */
    cl_send(a, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 1 });
    cl_send(b, &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 2, .rank = 2, .key = "x",
                                .key_len = 1 });
    CHECK(cl_recv(a, &m, 100) == 0);
    CHECK(dm_rdv_server_mark_failed(srv, 2, "rank 2 (pid 77) was killed by signal 9 (Killed)") ==
          DM_OK);
    CHECK(dm_rdv_server_mark_failed(srv, 2, "again") == DM_OK); /* no second notice */
    CHECK(dm_rdv_server_mark_failed(srv, 4, "no such rank") == DM_ERR_INVALID_PARAM);
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 2 &&
          text_has(&m, "signal 9"));
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FENCE_FAILED && m.req_id == 1 &&
          m.rank == 2);
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 2);
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_GET_FAILED && m.req_id == 2);
    CHECK(cl_recv(c, &m, 3000) == -1); /* its connection was closed */
    CHECK(cl_recv(a, &m, 100) == 0);   /* exactly one notice */

    /* b dies without BYE. */
    cl_close(b);
    CHECK(cl_recv(a, &m, 3000) == 1 && m.type == DM_RDV_FAILED && m.rank == 1 &&
          text_has(&m, "without saying goodbye"));

    /* A late joiner hears of both failures. */
    b = cl_join(3, 4, "", &m);
    CHECK(m.type == DM_RDV_WELCOME);
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FAILED);
    CHECK(cl_recv(b, &m, 3000) == 1 && m.type == DM_RDV_FAILED);
    CHECK(cl_recv(b, &m, 100) == 0);
    dm_rdv_server_query(srv, &info);
    CHECK(info.nfailed == 2 && info.first_failed == 2 && strstr(info.first_reason, "signal 9"));
    CHECK(info.njoined == 2 && info.nnew == 0 && info.nleft == 0);
    cl_close(a);
    cl_close(b);
    cl_close(c);
    dm_rdv_server_destroy(srv);
}

/* Many ranks in one process: join, put, fence, get a neighbour's key. */
static void test_scale(void)
{
    struct rlimit rl;
    int n = 1024, i;
    client_t **cs;
    dm_rdv_msg_t m;
    uint64_t t0 = dm_time_ns();
    char key[16], val[32];

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(2 * n + 64)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
            n = (int)(rl.rlim_cur - 64) / 2;
        }
    }
    new_server(n, "scale");
    cs = calloc((size_t)n, sizeof(*cs));
    for (i = 0; i < n; i++) {
        cs[i] = cl_join((uint32_t)i, (uint32_t)n, "scale", &m);
        CHECK(m.type == DM_RDV_WELCOME);
    }
    for (i = 0; i < n; i++) {
        snprintf(val, sizeof(val), "value-of-%d", i);
        cl_send(cs[i], &(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "addr", .key_len = 4,
                                        .data = val, .data_len = strlen(val) });
        cl_send(cs[i], &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 1 });
        if (i % 64 == 0) pump(1);
    }
    for (i = 0; i < n; i++) {
        CHECK(cl_recv(cs[i], &m, 5000) == 1 && m.type == DM_RDV_FENCE_DONE);
    }
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "addr");
        cl_send(cs[i], &(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 2, .rank = (uint32_t)((i + 1) % n),
                                        .key = key, .key_len = 4 });
    }
    for (i = 0; i < n; i++) {
        snprintf(val, sizeof(val), "value-of-%d", (i + 1) % n);
        CHECK(cl_recv(cs[i], &m, 5000) == 1 && m.type == DM_RDV_VALUE &&
              m.data_len == strlen(val) && !memcmp(m.data, val, m.data_len));
    }
    for (i = 0; i < n; i++) {
        cl_send(cs[i], &(dm_rdv_msg_t){ .type = DM_RDV_BYE });
    }
    pump(200);
    CHECK(dm_rdv_server_all_done(srv));
    for (i = 0; i < n; i++) {
        cl_close(cs[i]);
    }
    free(cs);
    dm_rdv_server_destroy(srv);
    printf("scale: %d ranks joined, fenced and exchanged keys in %.2f s\n", n,
           (double)(dm_time_ns() - t0) / 1e9);
}

/* ---- the client backend, in forked children ------------------------------- */

static dm_boot_t *child_join(int rank, int nranks, const char *key, const char *timeout)
{
    char env_rdv[64], env_rank[32], env_n[32], env_key[300], env_to[64];
    char *env[] = { env_rdv, env_rank, env_n, env_key, env_to, NULL };
    dm_config_t cfg;
    dm_boot_t *boot;

    snprintf(env_rdv, sizeof(env_rdv), "DISTMEM_RDV=127.0.0.1:%u", dm_rdv_server_port(srv));
    snprintf(env_rank, sizeof(env_rank), "DISTMEM_RANK=%d", rank);
    snprintf(env_n, sizeof(env_n), "DISTMEM_NRANKS=%d", nranks);
    snprintf(env_key, sizeof(env_key), "DISTMEM_JOB_KEY=%s", key);
    snprintf(env_to, sizeof(env_to), "DISTMEM_BOOT_TIMEOUT=%s", timeout);
    if (dm_config_load(&cfg, env) != DM_OK || dm_boot_create(&cfg, &boot) != DM_OK) {
        fprintf(stderr, "child %d: %s\n", rank, dm_last_error());
        _exit(10);
    }
    return boot;
}

#define CHILD_CHECK(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "child %d: %s:%d: check failed: %s (last error: %s)\n",    \
                    getpid(), __FILE__, __LINE__, #cond, dm_last_error());            \
            _exit(11);                                                                 \
        }                                                                              \
    } while (0)

static void child_main(int rank)
{
    dm_boot_t *b = child_join(rank, 2, "cj", rank == 0 ? "1s" : "10s");
    char buf[64];
    size_t len = 0;
    dm_status_t st;

    if (rank == 0) {
        /* A get that times out, then the same key arrives: the late answer is dropped. */
        uint64_t t0 = dm_time_ns();

        st = dm_boot_get(b, 1, "slow", buf, sizeof(buf), &len);
        CHILD_CHECK(st == DM_ERR_TIMED_OUT);
        CHILD_CHECK(dm_time_ns() - t0 < 5 * DM_NSEC_PER_SEC);
        CHILD_CHECK(strstr(dm_last_error(), "slow") != NULL);
        CHILD_CHECK(dm_boot_put(b, "go", "1", 1) == DM_OK);
        CHILD_CHECK(dm_boot_get(b, 1, "slow", buf, sizeof(buf), &len) == DM_OK);
        CHILD_CHECK(len == 4 && !memcmp(buf, "done", 4));
        CHILD_CHECK(dm_boot_get(b, 1, "slow", buf, 2, &len) == DM_ERR_NO_SPACE && len == 4);
        CHILD_CHECK(dm_boot_get(b, 2, "slow", buf, 2, &len) == DM_ERR_INVALID_PARAM);
        CHILD_CHECK(dm_boot_put(b, "", "x", 1) == DM_ERR_INVALID_PARAM);
    } else {
        CHILD_CHECK(dm_boot_get(b, 0, "go", buf, sizeof(buf), &len) == DM_OK);
        CHILD_CHECK(dm_boot_put(b, "slow", "done", 4) == DM_OK);
    }
    CHILD_CHECK(dm_boot_fence(b) == DM_OK);
    CHILD_CHECK(dm_boot_poll_failed(b) == -1);
    dm_boot_destroy(b, 1);
    _exit(0);
}

/* Joins as rank, then waits for the parent's raw rank 2 to die. */
static void child_watch(int rank)
{
    dm_boot_t *b = child_join(rank, 3, "w", "10s");
    char buf[8];
    size_t len;
    uint64_t t0;
    int r = -1;

    CHILD_CHECK(dm_boot_fence(b) == DM_OK);
    if (rank == 0) {
        /* blocked in a get when rank 2 dies */
        CHILD_CHECK(dm_boot_get(b, 2, "never", buf, sizeof(buf), &len) == DM_ERR_PEER_FAILED);
        CHILD_CHECK(strstr(dm_last_error(), "rank 2") != NULL);
    } else {
        CHILD_CHECK(dm_boot_fence(b) == DM_ERR_PEER_FAILED);
    }
    t0 = dm_time_ns();
    while (r < 0 && dm_time_ns() - t0 < 5 * DM_NSEC_PER_SEC) {
        r = dm_boot_poll_failed(b);
    }
    CHILD_CHECK(r == 2);
    CHILD_CHECK(dm_boot_poll_failed(b) == -1); /* reported once */
    dm_boot_destroy(b, 1);
    _exit(0);
}

static int wait_children(pid_t *pids, int n, int secs)
{
    uint64_t end = dm_time_ns() + (uint64_t)secs * DM_NSEC_PER_SEC;
    int left = n, bad = 0, i, status;

    while (left > 0 && dm_time_ns() < end) {
        pump(10);
        for (i = 0; i < n; i++) {
            if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fprintf(stderr, "child %d (rank %d) ended with status 0x%x\n", pids[i], i,
                            status);
                    bad++;
                }
                pids[i] = 0;
                left--;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (pids[i] > 0) {
            fprintf(stderr, "child rank %d hung; killing it\n", i);
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &status, 0);
            bad++;
        }
    }
    return bad;
}

static void test_client(void)
{
    pid_t pids[2];
    int i;
    dm_rdv_msg_t m;
    client_t *c;

    new_server(2, "cj");
    for (i = 0; i < 2; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] == 0) {
            child_main(i);
        }
    }
    CHECK(wait_children(pids, 2, 20) == 0);
    pump(50);
    CHECK(dm_rdv_server_all_done(srv));
    dm_rdv_server_destroy(srv);

    new_server(3, "w");
    for (i = 0; i < 2; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] == 0) {
            child_watch(i);
        }
    }
    c = cl_join(2, 3, "w", &m);
    CHECK(m.type == DM_RDV_WELCOME);
    cl_send(c, &(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 1 });
    CHECK(cl_recv(c, &m, 10000) == 1 && m.type == DM_RDV_FENCE_DONE);
    pump(300); /* let rank 0 park its get and rank 1 its fence */
    cl_close(c);
    CHECK(wait_children(pids, 2, 20) == 0);
    dm_rdv_server_destroy(srv);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "scale")) {
        test_scale();
    } else {
        test_handshake();
        test_malformed();
        test_kv_fence();
        test_failures();
        test_client();
    }
    if (failures) {
        fprintf(stderr, "test_rdv_server: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_rdv_server: all checks passed\n");
    return 0;
}
