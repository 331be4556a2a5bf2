/*
 * A rank of a multi-process bootstrap test. Run by `distmem run -n N` (or by
 * hand with DISTMEM_RANK/NRANKS/RDV); what it does depends on argv[1]:
 *
 *   kv             put rank-specific data, fence, get every rank's key and
 *                  check it byte for byte, fence, a get that waits for a key
 *                  another rank puts later, fence, leave cleanly. Exit 0.
 *   die            after the first fence the last rank SIGKILLs itself; the
 *                  others must get DM_ERR_PEER_FAILED from a blocking get
 *                  (rank 0) or fence (others) within 20 s and see the rank in
 *                  poll_failed. They print "rank R: saw the failure of rank F"
 *                  and exit 0.
 *   exit CODE      the last rank exits with CODE after the first fence; the
 *                  others expect DM_ERR_PEER_FAILED from the next fence.
 *   hang           fence, print "rank R: ready", wait for signals forever;
 *                  SIGTERM prints "rank R: got SIGTERM" and exits 0.
 *   hang-hard      like hang but ignores SIGTERM (only SIGKILL ends it).
 *   expect STATUS  dm_boot_create must fail with STATUS (e.g. DM_ERR_BOOTSTRAP);
 *                  prints the detail and the time it took. Exit 0 if so.
 *
 * Exit 1 on any unexpected result, with a line saying what.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "config.h"
#include "status.h"
#include "util.h"

extern char **environ;

static int rank = -1;

#define FAIL(...)                                                     \
    do {                                                              \
        fprintf(stderr, "rank %d: FAILED at line %d: ", rank, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                                 \
        fprintf(stderr, " (%s)\n", dm_last_error());                  \
        exit(1);                                                      \
    } while (0)

#define EXPECT(call, want)                                                              \
    do {                                                                                \
        dm_status_t st_ = (call);                                                       \
        if (st_ != (want)) {                                                            \
            FAIL("%s returned %s, expected %s", #call, dm_status_name(st_), #want);     \
        }                                                                               \
    } while (0)

static void fill(uint8_t *buf, size_t len, int r)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(r * 131 + i * 7 + (i >> 8));
    }
}

static size_t value_len(int r)
{
    return 1 + (size_t)r * 977 % 5000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

static int mode_kv(dm_boot_t *b)
{
    static uint8_t want[DM_BOOT_VALUE_MAX], got[DM_BOOT_VALUE_MAX];
    int n = b->nranks, r;
    size_t len;

    fill(want, value_len(rank), rank);
    EXPECT(dm_boot_put(b, "data", want, value_len(rank)), DM_OK);
    if (rank == 0) {
        fill(want, DM_BOOT_VALUE_MAX, 4242);
        EXPECT(dm_boot_put(b, "big", want, DM_BOOT_VALUE_MAX), DM_OK);
    }
    EXPECT(dm_boot_fence(b), DM_OK);

    for (r = 0; r < n; r++) {
        fill(want, value_len(r), r);
        EXPECT(dm_boot_get(b, r, "data", got, sizeof(got), &len), DM_OK);
        if (len != value_len(r) || memcmp(got, want, len) != 0) {
            FAIL("key \"data\" of rank %d: %zu bytes, wrong content", r, len);
        }
    }
    fill(want, DM_BOOT_VALUE_MAX, 4242);
    EXPECT(dm_boot_get(b, 0, "big", got, sizeof(got), &len), DM_OK);
    if (len != DM_BOOT_VALUE_MAX || memcmp(got, want, len) != 0) {
        FAIL("key \"big\" of rank 0 differs");
    }
    EXPECT(dm_boot_get(b, 0, "big", got, 10, &len), DM_ERR_NO_SPACE);
    if (len != DM_BOOT_VALUE_MAX) {
        FAIL("NO_SPACE reported %zu bytes", len);
    }
    EXPECT(dm_boot_fence(b), DM_OK);

    /* A get that waits: rank 0 puts "late" only after a pause. */
    if (rank == 0) {
        sleep_ms(300);
    }
    EXPECT(dm_boot_put(b, "late", &rank, sizeof(rank)), DM_OK);
    {
        int peer = (rank + 1) % n, v = -1;

        EXPECT(dm_boot_get(b, peer, "late", &v, sizeof(v), &len), DM_OK);
        if (len != sizeof(v) || v != peer) {
            FAIL("key \"late\" of rank %d holds %d", peer, v);
        }
    }
    EXPECT(dm_boot_fence(b), DM_OK);
    if (dm_boot_poll_failed(b) != -1) {
        FAIL("poll_failed reported a failure in a healthy job");
    }
    dm_boot_destroy(b, 1);
    printf("rank %d: kv ok\n", rank);
    return 0;
}

static void expect_failure_of(dm_boot_t *b, int victim, const char *what)
{
    uint64_t t0 = dm_time_ns();
    int r = -1;

    while (r < 0 && dm_time_ns() - t0 < 5 * DM_NSEC_PER_SEC) {
        r = dm_boot_poll_failed(b);
        if (r < 0) sleep_ms(10);
    }
    if (r != victim) {
        FAIL("poll_failed returned %d, expected %d", r, victim);
    }
    r = dm_boot_poll_failed(b);
    if (r != -1) {
        FAIL("poll_failed reported rank %d after rank %d (once only, nobody else failed)", r,
             victim);
    }
    printf("rank %d: saw the failure of rank %d (%s)\n", rank, victim, what);
    fflush(stdout);
}

static int mode_die(dm_boot_t *b, int code)
{
    int victim = b->nranks - 1;
    uint64_t t0;
    char buf[8];
    size_t len;

    EXPECT(dm_boot_put(b, "data", "x", 1), DM_OK);
    EXPECT(dm_boot_fence(b), DM_OK);
    if (rank == victim) {
        fflush(stdout);
        if (code < 0) {
            raise(SIGKILL);
        }
        exit(code);
    }
    t0 = dm_time_ns();
    if (rank == 0 && code < 0) {
        EXPECT(dm_boot_get(b, victim, "never", buf, sizeof(buf), &len), DM_ERR_PEER_FAILED);
    } else {
        EXPECT(dm_boot_fence(b), DM_ERR_PEER_FAILED);
    }
    if (dm_time_ns() - t0 > 20 * DM_NSEC_PER_SEC) {
        FAIL("the failure took more than 20 s to arrive");
    }
    expect_failure_of(b, victim, rank == 0 && code < 0 ? "get" : "fence");
    dm_boot_destroy(b, 1); /* this rank itself leaves cleanly */
    return 0;
}

static void on_term(int sig)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "rank %d: got SIGTERM\n", rank);

    (void)sig;
    if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
        /* nothing to do */
    }
    _exit(0);
}

static int mode_hang(dm_boot_t *b, int hard)
{
    EXPECT(dm_boot_fence(b), DM_OK);
    signal(SIGTERM, hard ? SIG_IGN : on_term);
    printf("rank %d: ready\n", rank);
    fflush(stdout);
    for (;;) {
        pause();
    }
}

static int mode_expect(const dm_config_t *cfg, const char *want)
{
    uint64_t t0 = dm_time_ns();
    dm_boot_t *b = NULL;
    dm_status_t st = dm_boot_create(cfg, &b);

    printf("rank %d: dm_boot_create returned %s after %.1f s: %s\n", rank, dm_status_name(st),
           (double)(dm_time_ns() - t0) / 1e9, dm_last_error());
    if (st == DM_OK) {
        dm_boot_destroy(b, 1);
    }
    return strcmp(dm_status_name(st), want) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "kv";
    dm_config_t cfg;
    dm_boot_t *b = NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (dm_config_load(&cfg, environ) != DM_OK) {
        fprintf(stderr, "boot_kv_check: %s\n", dm_last_error());
        return 1;
    }
    rank = (int)cfg.rank;
    if (!strcmp(mode, "expect")) {
        return argc > 2 ? mode_expect(&cfg, argv[2]) : 2;
    }
    if (dm_boot_create(&cfg, &b) != DM_OK) {
        FAIL("dm_boot_create");
    }
    rank = b->rank;
    if (!strcmp(mode, "kv")) {
        return mode_kv(b);
    }
    if (!strcmp(mode, "die")) {
        return mode_die(b, -1);
    }
    if (!strcmp(mode, "exit") && argc > 2) {
        return mode_die(b, atoi(argv[2]));
    }
    if (!strcmp(mode, "hang") || !strcmp(mode, "hang-hard")) {
        return mode_hang(b, !strcmp(mode, "hang-hard"));
    }
    fprintf(stderr, "boot_kv_check: unknown mode \"%s\"\n", mode);
    return 2;
}
