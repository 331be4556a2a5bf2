/*
 * Checks of the public API through libdistmem.so, as an application sees it
 * (only distmem.h is included).
 *
 *   api_check lifecycle   one rank of a job (`distmem run -n N`, or ranks
 *                         started by hand): state before dm_init, dm_init,
 *                         a second dm_init, rank and size, many barriers,
 *                         dm_finalize twice, then dm_init again in the same
 *                         process, which is refused (DM_ERR_UNSUPPORTED: a
 *                         process joins its job once).
 *                         Prints "api_check: rank R of N (round 1)" for the
 *                         script to check the set of ranks, and
 *                         "api_check lifecycle: rank R ok".
 *   api_check single      one process, no launcher: bootstrap `single`
 *                         gives rank 0 of 1; barriers work alone; init
 *                         parameters with unknown flags are refused.
 *   api_check badenv VAR  dm_init must fail with DM_ERR_CONFIG naming VAR
 *                         (the script sets a malformed or unknown VAR),
 *                         leave nothing initialized, and fail the same way
 *                         when called again.
 *
 * Exit 0 on success; any failed check prints what differed and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distmem.h"

#define API_BARRIERS 200

static int g_rank = -1;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "api_check rank %d: %s:%d: %s: ", g_rank, __FILE__, __LINE__, \
                    #cond);                                                                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_ST(expr, want)                                                               \
    do {                                                                                   \
        dm_status_t st_ = (expr);                                                          \
        CHECK(st_ == (want), "%s -> %s (want %s): %s", #expr, dm_status_name(st_),         \
              dm_status_name(want), dm_last_error());                                      \
    } while (0)

/* What every process sees before dm_init and after dm_finalize. */
static void check_not_initialized(const char *when)
{
    CHECK(dm_rank() == -1, "%s: dm_rank() = %d", when, dm_rank());
    CHECK(dm_nranks() == 0, "%s: dm_nranks() = %d", when, dm_nranks());
    CHECK_ST(dm_barrier(), DM_ERR_NOT_INITIALIZED);
    CHECK(dm_last_error() != NULL && dm_last_error()[0] != '\0',
          "%s: no detail for DM_ERR_NOT_INITIALIZED", when);
}

static void one_round(int round, int expect_n)
{
    int rank, n;

    CHECK_ST(dm_init(NULL), DM_OK);
    CHECK_ST(dm_init(NULL), DM_ERR_ALREADY_INITIALIZED);
    CHECK(strstr(dm_status_string(DM_ERR_ALREADY_INITIALIZED), "already") != NULL,
          "message of DM_ERR_ALREADY_INITIALIZED: %s",
          dm_status_string(DM_ERR_ALREADY_INITIALIZED));

    rank = dm_rank();
    n = dm_nranks();
    g_rank = rank;
    CHECK(n >= 1, "dm_nranks() = %d", n);
    CHECK(expect_n <= 0 || n == expect_n, "dm_nranks() = %d, want %d", n, expect_n);
    CHECK(rank >= 0 && rank < n, "dm_rank() = %d outside [0, %d)", rank, n);
    /* the second dm_init did not disturb the job */
    CHECK(dm_rank() == rank && dm_nranks() == n, "rank or size changed");

    printf("api_check: rank %d of %d (round %d)\n", rank, n, round);
    for (int i = 0; i < API_BARRIERS; i++) {
        dm_status_t st = dm_barrier();

        CHECK(st == DM_OK, "barrier %d -> %s: %s", i, dm_status_name(st), dm_last_error());
    }
    CHECK(dm_rank() == rank && dm_nranks() == n, "rank or size changed after barriers");

    CHECK_ST(dm_finalize(), DM_OK);
    check_not_initialized("after dm_finalize");
    CHECK_ST(dm_finalize(), DM_OK); /* a second finalize is harmless */
    check_not_initialized("after the second dm_finalize");
}

static int run_lifecycle(void)
{
    const char *env_n = getenv("DISTMEM_NRANKS");
    int expect_n = env_n ? atoi(env_n) : 0;

    check_not_initialized("before dm_init");
    CHECK_ST(dm_finalize(), DM_OK); /* finalize without init is harmless */
    one_round(1, expect_n);
    /* a process joins its job once: re-initialization is refused at once */
    CHECK_ST(dm_init(NULL), DM_ERR_UNSUPPORTED);
    CHECK(strstr(dm_last_error(), "once") != NULL, "re-init message: %s", dm_last_error());
    check_not_initialized("after a refused re-init");
    printf("api_check lifecycle: rank %d ok\n", g_rank);
    return 0;
}

static int run_single(void)
{
    dm_init_params_t params;

    check_not_initialized("before dm_init");

    memset(&params, 0, sizeof(params));
    params.field_mask = DM_INIT_FIELD_FLAGS;
    params.flags = 1;
    CHECK_ST(dm_init(&params), DM_ERR_INVALID_PARAM);
    check_not_initialized("after a refused dm_init");
    /* flags outside the field mask are not read */
    params.field_mask = 0;
    params.flags = 0xdead;
    CHECK_ST(dm_init(&params), DM_OK);
    CHECK(dm_rank() == 0 && dm_nranks() == 1, "rank %d of %d, want 0 of 1", dm_rank(),
          dm_nranks());
    g_rank = 0;
    for (int i = 0; i < API_BARRIERS; i++) {
        CHECK_ST(dm_barrier(), DM_OK);
    }
    CHECK_ST(dm_finalize(), DM_OK);
    check_not_initialized("after dm_finalize");

    params.field_mask = DM_INIT_FIELD_FLAGS;
    params.flags = 0;
    CHECK_ST(dm_init(&params), DM_ERR_UNSUPPORTED);
    check_not_initialized("after a refused re-init");
    CHECK_ST(dm_finalize(), DM_OK);
    printf("api_check single: rank 0 of 1 ok\n");
    return 0;
}

static int run_badenv(const char *var)
{
    char msg[512] = "";

    for (int attempt = 0; attempt < 2; attempt++) {
        dm_status_t st = dm_init(NULL);

        snprintf(msg, sizeof(msg), "%s", dm_last_error());
        CHECK(st == DM_ERR_CONFIG, "dm_init -> %s (want DM_ERR_CONFIG): %s", dm_status_name(st),
              dm_last_error());
        CHECK(strstr(msg, var) != NULL, "the message does not name %s: \"%s\"", var, msg);
        check_not_initialized("after a failed dm_init");
        CHECK_ST(dm_finalize(), DM_OK);
    }
    printf("api_check badenv: DM_ERR_CONFIG: %s\n", msg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "lifecycle";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "lifecycle") == 0) {
        return run_lifecycle();
    }
    if (strcmp(mode, "single") == 0) {
        return run_single();
    }
    if (strcmp(mode, "badenv") == 0 && argc > 2) {
        return run_badenv(argv[2]);
    }
    fprintf(stderr, "usage: api_check lifecycle | single | badenv VAR\n");
    return 2;
}
