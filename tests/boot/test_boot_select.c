/*
 * Unit test of the bootstrap selection rules (boot_select.h), of
 * dm_boot_create's configuration errors, of the single backend, and of the
 * PMIx stand-in when distmem is built without PMIx. No network is used: every
 * rdv configuration here is rejected before connecting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "boot_select.h"
#include "config.h"
#include "status.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, dm_last_error());                              \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* Loads a configuration from a NULL-terminated list of NAME=value strings. */
static dm_config_t load(char *const *env)
{
    dm_config_t cfg;

    if (dm_config_load(&cfg, env) != DM_OK) {
        fprintf(stderr, "cannot load test configuration: %s\n", dm_last_error());
        exit(1);
    }
    return cfg;
}

static int select_of(char *const *env, int pmix_env, dm_status_t *st_p)
{
    dm_config_t cfg = load(env);
    int backend = -1;

    *st_p = dm_boot_select(&cfg, pmix_env, &backend);
    return backend;
}

#define ENV(...) ((char *const[]){ __VA_ARGS__, NULL })

static void test_select(void)
{
    dm_status_t st;

    /* auto */
    CHECK(select_of(ENV(NULL), 0, &st) == DM_BOOTSTRAP_SINGLE && st == DM_OK);
    CHECK(select_of(ENV(NULL), 1, &st) == DM_BOOTSTRAP_PMIX && st == DM_OK);
    CHECK(select_of(ENV("DISTMEM_RDV=127.0.0.1:5000", "DISTMEM_RANK=1", "DISTMEM_NRANKS=2"), 1,
                    &st) == DM_BOOTSTRAP_RDV && st == DM_OK);
    CHECK(select_of(ENV("DISTMEM_RANK=0", "DISTMEM_NRANKS=1"), 0, &st) == DM_BOOTSTRAP_SINGLE &&
          st == DM_OK);

    /* forced */
    CHECK(select_of(ENV("DISTMEM_BOOTSTRAP=single"), 1, &st) == DM_BOOTSTRAP_SINGLE && st == DM_OK);
    CHECK(select_of(ENV("DISTMEM_BOOTSTRAP=pmix"), 0, &st) == DM_BOOTSTRAP_PMIX && st == DM_OK);
    CHECK(select_of(ENV("DISTMEM_BOOTSTRAP=rdv", "DISTMEM_RDV=h:1", "DISTMEM_RANK=0",
                        "DISTMEM_NRANKS=1"), 1, &st) == DM_BOOTSTRAP_RDV && st == DM_OK);

    /* inconsistent settings */
    CHECK(select_of(ENV("DISTMEM_RDV=127.0.0.1:5000"), 0, &st) == -1 && st == DM_ERR_CONFIG);
    CHECK(strstr(dm_last_error(), "DISTMEM_RANK") != NULL);
    CHECK(select_of(ENV("DISTMEM_RDV=127.0.0.1:5000", "DISTMEM_RANK=0"), 0, &st) == -1 &&
          st == DM_ERR_CONFIG);
    CHECK(select_of(ENV("DISTMEM_RDV=127.0.0.1:5000", "DISTMEM_NRANKS=4"), 0, &st) == -1 &&
          st == DM_ERR_CONFIG);
    CHECK(select_of(ENV("DISTMEM_RDV=127.0.0.1:5000", "DISTMEM_RANK=4", "DISTMEM_NRANKS=4"), 0,
                    &st) == -1 && st == DM_ERR_CONFIG);
    CHECK(strstr(dm_last_error(), "out of range") != NULL);
    CHECK(select_of(ENV("DISTMEM_RDV=nocolon", "DISTMEM_RANK=0", "DISTMEM_NRANKS=2"), 0, &st) ==
              -1 && st == DM_ERR_CONFIG);
    CHECK(strstr(dm_last_error(), "HOST:PORT") != NULL);
    CHECK(select_of(ENV("DISTMEM_RDV=host:0", "DISTMEM_RANK=0", "DISTMEM_NRANKS=2"), 0, &st) ==
              -1 && st == DM_ERR_CONFIG);
    CHECK(select_of(ENV("DISTMEM_RDV=host:99999", "DISTMEM_RANK=0", "DISTMEM_NRANKS=2"), 0, &st) ==
              -1 && st == DM_ERR_CONFIG);
    CHECK(select_of(ENV("DISTMEM_BOOTSTRAP=rdv"), 0, &st) == -1 && st == DM_ERR_CONFIG);
    CHECK(strstr(dm_last_error(), "DISTMEM_RDV") != NULL);
    CHECK(select_of(ENV("DISTMEM_RANK=1", "DISTMEM_NRANKS=4"), 0, &st) == -1 &&
          st == DM_ERR_CONFIG);
    CHECK(select_of(ENV("DISTMEM_BOOTSTRAP=single", "DISTMEM_NRANKS=2"), 0, &st) == -1 &&
          st == DM_ERR_CONFIG);
}

static void test_create_errors(void)
{
    dm_config_t cfg;
    dm_boot_t *boot = (dm_boot_t *)&cfg; /* must stay untouched on failure */

    cfg = load(ENV("DISTMEM_RDV=127.0.0.1:5000", "DISTMEM_RANK=-1", "DISTMEM_NRANKS=2"));
    CHECK(dm_boot_create(&cfg, &boot) == DM_ERR_CONFIG);
    CHECK(boot == (dm_boot_t *)&cfg);
    cfg = load(ENV("DISTMEM_RDV=127.0.0.1", "DISTMEM_RANK=0", "DISTMEM_NRANKS=2"));
    CHECK(dm_boot_create(&cfg, &boot) == DM_ERR_CONFIG);
    CHECK(dm_boot_create(NULL, &boot) == DM_ERR_INVALID_PARAM);

    cfg = load(ENV("DISTMEM_BOOTSTRAP=pmix"));
#ifndef DM_TEST_HAVE_PMIX
    CHECK(dm_boot_create(&cfg, &boot) == DM_ERR_UNSUPPORTED);
    CHECK(strstr(dm_last_error(), "without PMIx") != NULL);
#endif
}

static void test_single(void)
{
    dm_config_t cfg = load(ENV(NULL));
    dm_boot_t *boot = NULL;
    char buf[16], big[DM_BOOT_VALUE_MAX + 1], key64[DM_BOOT_KEY_MAX + 1];
    size_t len = 0;

    memset(big, 'b', sizeof(big));
    memset(key64, 'k', DM_BOOT_KEY_MAX);
    key64[DM_BOOT_KEY_MAX] = '\0';

    CHECK(dm_boot_create(&cfg, &boot) == DM_OK);
    if (boot == NULL) {
        return;
    }
    CHECK(!strcmp(boot->ops->name, "single"));
    CHECK(boot->rank == 0 && boot->nranks == 1);
    CHECK(dm_boot_put(boot, "addr", "hello", 5) == DM_OK);
    CHECK(dm_boot_put(boot, "addr", "world!", 6) == DM_OK); /* overwrite */
    CHECK(dm_boot_put(boot, "empty", NULL, 0) == DM_OK);
    CHECK(dm_boot_put(boot, "", "x", 1) == DM_ERR_INVALID_PARAM);
    CHECK(dm_boot_put(boot, key64, "x", 1) == DM_ERR_INVALID_PARAM);
    CHECK(dm_boot_put(boot, "big", big, DM_BOOT_VALUE_MAX) == DM_OK);
    CHECK(dm_boot_put(boot, "toobig", big, DM_BOOT_VALUE_MAX + 1) == DM_ERR_INVALID_PARAM);
    CHECK(dm_boot_fence(boot) == DM_OK);
    CHECK(dm_boot_get(boot, 0, "addr", buf, sizeof(buf), &len) == DM_OK);
    CHECK(len == 6 && !memcmp(buf, "world!", 6));
    CHECK(dm_boot_get(boot, 0, "empty", buf, sizeof(buf), &len) == DM_OK && len == 0);
    CHECK(dm_boot_get(boot, 0, "addr", buf, 3, &len) == DM_ERR_NO_SPACE && len == 6);
    CHECK(dm_boot_get(boot, 1, "addr", buf, sizeof(buf), &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_boot_get(boot, -1, "addr", buf, sizeof(buf), &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_boot_get(boot, 0, "missing", buf, sizeof(buf), &len) == DM_ERR_NOT_FOUND);
    CHECK(dm_boot_poll_failed(boot) == -1);
    dm_boot_destroy(boot, 1);
    dm_boot_destroy(NULL, 1);
}

int main(void)
{
    unsetenv("PMIX_RANK");
    test_select();
    test_create_errors();
    test_single();
    if (failures) {
        fprintf(stderr, "test_boot_select: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_boot_select: all checks passed\n");
    return 0;
}
