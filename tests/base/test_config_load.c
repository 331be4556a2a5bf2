/*
 * dm_config_load with synthetic environments:
 *   - an empty (or NULL) environment gives the defaults of the table;
 *   - each variable overrides its field; other variables are ignored;
 *   - an unknown DISTMEM_* name is DM_ERR_CONFIG and dm_last_error() names it;
 *   - a malformed value is DM_ERR_CONFIG and the message names the variable
 *     and the value;
 *   - on any error *cfg is untouched.
 */
#include <string.h>

#include "check.h"
#include "config.h"

#define NS_PER_S 1000000000ull

static dm_config_t load_ok(char *const *envp)
{
    dm_config_t cfg;
    dm_status_t st;

    memset(&cfg, 0xa5, sizeof(cfg));
    st = dm_config_load(&cfg, envp);
    CHECK(st == DM_OK, "dm_config_load: %s: %s", dm_status_name(st), dm_last_error());
    return cfg;
}

/* Loads envp expecting DM_ERR_CONFIG whose message contains every needle. */
static void load_bad(char *const *envp, const char *needle1, const char *needle2)
{
    dm_config_t cfg, before;
    dm_status_t st;

    memset(&cfg, 0x3c, sizeof(cfg));
    before = cfg;
    st = dm_config_load(&cfg, envp);
    CHECK(st == DM_ERR_CONFIG, "%s accepted (%s)", envp[0], dm_status_name(st));
    CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0, "%s: *cfg written on error", envp[0]);
    CHECK(strstr(dm_last_error(), needle1) != NULL, "message for %s does not name \"%s\": %s",
          envp[0], needle1, dm_last_error());
    if (needle2 != NULL) {
        CHECK(strstr(dm_last_error(), needle2) != NULL,
              "message for %s does not name \"%s\": %s", envp[0], needle2, dm_last_error());
    }
}

/*
 * Compares every field with its default as written in the table (parsed
 * again here), so the test follows the table when a default changes. A few
 * defaults carry meaning beyond tuning (manual mode is "rank set"), so they
 * are checked literally as well.
 */
static void check_defaults_equal(const dm_config_t *cfg, const char *what)
{
    dm_config_t def;

    dm_config_defaults(&def);
#define CHECK_DEFAULT_(NAME, field, TYPE, dflt, choices, help)                                  \
    {                                                                                         \
        dm_config_t one;                                                                      \
        memset(&one, 0, sizeof(one));                                                         \
        CHECK(dm_config_parse_value(DM_CONFIG_##TYPE, choices, dflt, &one.field) == DM_OK,    \
              "the default \"%s\" of DISTMEM_%s does not parse", dflt, #NAME);                \
        CHECK(memcmp(&one.field, &cfg->field, sizeof(one.field)) == 0,                        \
              "%s: DISTMEM_%s is not its default \"%s\"", what, #NAME, dflt);                  \
        CHECK(memcmp(&def.field, &cfg->field, sizeof(def.field)) == 0,                        \
              "%s: DISTMEM_%s differs from dm_config_defaults()", what, #NAME);               \
    }
    DM_CONFIG_TABLE(CHECK_DEFAULT_)
#undef CHECK_DEFAULT_
    CHECK(cfg->bootstrap == DM_BOOTSTRAP_AUTO, "%s: bootstrap %d", what, cfg->bootstrap);
    CHECK(cfg->rank == -1, "%s: rank %ld", what, cfg->rank);
    CHECK(cfg->nranks == 0, "%s: nranks %ld", what, cfg->nranks);
    CHECK(cfg->rdv[0] == '\0', "%s: rdv \"%s\"", what, cfg->rdv);
    CHECK(cfg->job_key[0] == '\0', "%s: job_key \"%s\"", what, cfg->job_key);
}

static void check_defaults(void)
{
    char *empty[] = { NULL };
    char *others[] = { "PATH=/usr/bin", "HOME=/root", "DISTMEM=1", "distmem_rank=3",
                       "XDISTMEM_RANK=4", "UCX_TLS=tcp", NULL };
    dm_config_t cfg;

    cfg = load_ok(empty);
    check_defaults_equal(&cfg, "empty environment");
    cfg = load_ok(NULL);
    check_defaults_equal(&cfg, "NULL environment");
    cfg = load_ok(others);
    check_defaults_equal(&cfg, "unrelated variables");
}

static void check_overrides(void)
{
    char *env[] = {
        "PATH=/usr/bin",
        "DISTMEM_LOG_LEVEL=DEBUG",
        "DISTMEM_BOOTSTRAP=single",
        "DISTMEM_RANK=3",
        "DISTMEM_NRANKS=8",
        "DISTMEM_RDV=10.77.0.1:4000",
        "DISTMEM_JOB_KEY=s3cret=with=equals",
        "DISTMEM_BOOT_TIMEOUT=1500ms",
        "DISTMEM_PEER_TIMEOUT=2m",
        "DISTMEM_PROGRESS_THREAD=on",
        NULL,
    };
    char *partial[] = { "DISTMEM_PEER_TIMEOUT=250us", "DISTMEM_BOOTSTRAP=RDV",
                        "DISTMEM_PROGRESS_THREAD=off", NULL };
    char *empty_string[] = { "DISTMEM_RDV=", "DISTMEM_JOB_KEY=", NULL };
    dm_config_t cfg = load_ok(env);

    CHECK(cfg.log_level == 3, "log_level %d", cfg.log_level);
    CHECK(cfg.bootstrap == DM_BOOTSTRAP_SINGLE, "bootstrap %d", cfg.bootstrap);
    CHECK(cfg.rank == 3, "rank %ld", cfg.rank);
    CHECK(cfg.nranks == 8, "nranks %ld", cfg.nranks);
    CHECK(strcmp(cfg.rdv, "10.77.0.1:4000") == 0, "rdv \"%s\"", cfg.rdv);
    CHECK(strcmp(cfg.job_key, "s3cret=with=equals") == 0, "job_key \"%s\"", cfg.job_key);
    CHECK(cfg.boot_timeout == 1500000000ull, "boot_timeout %llu",
          (unsigned long long)cfg.boot_timeout);
    CHECK(cfg.peer_timeout == 120 * NS_PER_S, "peer_timeout %llu",
          (unsigned long long)cfg.peer_timeout);
    CHECK(cfg.progress_thread == 1, "progress_thread %d", cfg.progress_thread);

    /* variables not set keep their defaults */
    cfg = load_ok(partial);
    CHECK(cfg.peer_timeout == 250000ull, "peer_timeout %llu", (unsigned long long)cfg.peer_timeout);
    CHECK(cfg.bootstrap == DM_BOOTSTRAP_RDV, "bootstrap %d", cfg.bootstrap);
    CHECK(cfg.progress_thread == 0, "progress_thread %d", cfg.progress_thread);
    {
        dm_config_t def;

        dm_config_defaults(&def);
        CHECK(cfg.boot_timeout == def.boot_timeout && cfg.rank == -1 &&
                  cfg.log_level == def.log_level && cfg.nranks == 0,
              "unset variables lost their defaults");
    }

    cfg = load_ok(empty_string);
    CHECK(cfg.rdv[0] == '\0' && cfg.job_key[0] == '\0', "empty strings");
}

static void check_unknown(void)
{
    char *foo[] = { "DISTMEM_FOO=1", NULL };
    char *nope_last[] = { "DISTMEM_RANK=0", "PATH=/bin", "DISTMEM_NOPE=1", NULL };
    char *near[] = { "DISTMEM_RANKS=4", NULL };          /* near miss of RANK / NRANKS */
    char *prefix[] = { "DISTMEM_RAN=4", NULL };          /* prefix of a valid name */
    char *lower[] = { "DISTMEM_log_level=info", NULL };  /* names are case-sensitive */
    char *bare[] = { "DISTMEM_=1", NULL };

    load_bad(foo, "DISTMEM_FOO", NULL);
    load_bad(nope_last, "DISTMEM_NOPE", NULL);
    load_bad(near, "DISTMEM_RANKS", NULL);
    load_bad(prefix, "DISTMEM_RAN", NULL);
    load_bad(lower, "DISTMEM_log_level", NULL);
    load_bad(bare, "DISTMEM_", NULL);
}

static void check_malformed(void)
{
    char *timeout[] = { "DISTMEM_PEER_TIMEOUT=fast", NULL };
    char *level[] = { "DISTMEM_LOG_LEVEL=loud", NULL };
    char *rank[] = { "DISTMEM_RANK=-2", NULL };
    char *nranks[] = { "DISTMEM_NRANKS=lots", NULL };
    char *boot[] = { "DISTMEM_BOOTSTRAP=mpi", NULL };
    char *thread[] = { "DISTMEM_PROGRESS_THREAD=sometimes", NULL };
    char *empty_int[] = { "DISTMEM_RANK=", NULL };
    /* one bad value among good ones still fails, and *cfg stays untouched */
    char *mixed[] = { "DISTMEM_RANK=1", "DISTMEM_NRANKS=2", "DISTMEM_BOOT_TIMEOUT=1h30", NULL };
    static char longrdv[300 + sizeof("DISTMEM_RDV=")];
    char *overlong[] = { longrdv, NULL };

    load_bad(timeout, "DISTMEM_PEER_TIMEOUT", "fast");
    load_bad(level, "DISTMEM_LOG_LEVEL", "loud");
    load_bad(rank, "DISTMEM_RANK", "-2");
    load_bad(nranks, "DISTMEM_NRANKS", "lots");
    load_bad(boot, "DISTMEM_BOOTSTRAP", "mpi");
    load_bad(thread, "DISTMEM_PROGRESS_THREAD", "sometimes");
    load_bad(empty_int, "DISTMEM_RANK", NULL);
    load_bad(mixed, "DISTMEM_BOOT_TIMEOUT", "1h30");

    strcpy(longrdv, "DISTMEM_RDV=");
    memset(longrdv + strlen(longrdv), 'h', 300);
    longrdv[sizeof(longrdv) - 1] = '\0';
    load_bad(overlong, "DISTMEM_RDV", NULL);
}

int main(void)
{
    check_defaults();
    check_overrides();
    check_unknown();
    check_malformed();
    return check_exit("test_config_load");
}
