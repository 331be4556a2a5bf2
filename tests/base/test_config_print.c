/*
 * dm_config_print: the output names every variable of the table with its
 * help text and default, and shows the values of the cfg it is given (not
 * only the defaults).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static char *print_to_string(const dm_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL) {
        return NULL;
    }
    dm_config_print(f, cfg);
    fclose(f);
    return buf;
}

static void check_every_variable(const char *out, const char *what)
{
#define CHECK_VAR_(NAME, field, TYPE, def, choices, help)                                     \
    CHECK(strstr(out, "DISTMEM_" #NAME "=") != NULL, "%s: DISTMEM_%s missing", what, #NAME); \
    CHECK(strstr(out, help) != NULL, "%s: help of DISTMEM_%s missing", what, #NAME);          \
    CHECK(strstr(out, "default: \"" def "\"") != NULL, "%s: default of DISTMEM_%s missing",  \
          what, #NAME);
    DM_CONFIG_TABLE(CHECK_VAR_)
#undef CHECK_VAR_
}

int main(void)
{
    char *env[] = { "DISTMEM_PEER_TIMEOUT=500ms", "DISTMEM_LOG_LEVEL=Info",
                    "DISTMEM_RDV=10.77.0.1:1234", "DISTMEM_PROGRESS_THREAD=1",
                    "DISTMEM_RANK=5", NULL };
    dm_config_t cfg;
    char *out;

    dm_config_defaults(&cfg);
    out = print_to_string(&cfg);
    CHECK(out != NULL, "open_memstream");
    if (out != NULL) {
        check_every_variable(out, "defaults");
        CHECK(strstr(out, "DISTMEM_RANK=-1\n") != NULL, "default rank");
        free(out);
    }

    CHECK(dm_config_load(&cfg, env) == DM_OK, "load: %s", dm_last_error());
    out = print_to_string(&cfg);
    if (out != NULL) {
        check_every_variable(out, "overridden");
        CHECK(strstr(out, "DISTMEM_PEER_TIMEOUT=500ms\n") != NULL, "current peer timeout:\n%s",
              out);
        CHECK(strstr(out, "DISTMEM_LOG_LEVEL=info\n") != NULL, "current log level");
        CHECK(strstr(out, "DISTMEM_RDV=10.77.0.1:1234\n") != NULL, "current rdv");
        CHECK(strstr(out, "DISTMEM_PROGRESS_THREAD=yes\n") != NULL, "current progress thread");
        CHECK(strstr(out, "DISTMEM_RANK=5\n") != NULL, "current rank");
        free(out);
    }
    return check_exit("test_config_print");
}
