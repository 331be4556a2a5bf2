/*
 * `distmem`: the command-line front end (launcher, rendezvous store,
 * configuration listing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "status.h"
#include "tools.h"

#ifndef DM_VERSION_STRING
#define DM_VERSION_STRING "unknown"
#endif

extern char **environ;

static void dm_tool_help(FILE *out)
{
    fprintf(out,
            "usage: distmem COMMAND [ARGS...]\n"
            "\n"
            "commands:\n"
            "  run -n N [OPTIONS] -- PROGRAM [ARGS...]\n"
            "        start N ranks of PROGRAM on this machine with a rendezvous store\n"
            "        (`distmem run --help` for the options)\n"
            "  rendezvous --listen HOST:PORT -n NRANKS [--job-key KEY]\n"
            "        a standalone rendezvous store for ranks started by hand\n"
            "  config\n"
            "        print every DISTMEM_* variable with its current value and help\n"
            "  version\n"
            "        print the version\n"
            "  help\n"
            "        print this message\n");
}

int dm_tool_parse_duration(const char *text, uint64_t *ns_p)
{
    uint64_t v;

    if (dm_config_parse_value(DM_CONFIG_DURATION, "", text, &v) != DM_OK) {
        return -1;
    }
    *ns_p = v;
    return 0;
}

int dm_tool_parse_int(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (text == NULL || *text == '\0') {
        return -1;
    }
    v = strtol(text, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int dm_tool_config(int argc, char **argv)
{
    dm_config_t cfg;

    if (argc > 1) {
        fprintf(stderr, "usage: distmem config\n");
        return 2;
    }
    (void)argv;
    if (dm_config_load(&cfg, environ) != DM_OK) {
        fprintf(stderr, "distmem config: %s\n", dm_last_error());
        return 1;
    }
    dm_config_print(stdout, &cfg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        dm_tool_help(stderr);
        return 2;
    }
    if (!strcmp(cmd, "run")) {
        return dm_tool_run(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "rendezvous")) {
        return dm_tool_rendezvous(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "config")) {
        return dm_tool_config(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("distmem %s\n", DM_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        dm_tool_help(stdout);
        return 0;
    }
    fprintf(stderr, "distmem: unknown command \"%s\"\n\n", cmd);
    dm_tool_help(stderr);
    return 2;
}
