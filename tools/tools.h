/*
 * The subcommands of the `distmem` command. Each takes argv starting at the
 * subcommand's name and returns the process exit status (2 = usage error).
 */
#ifndef DM_TOOLS_H
#define DM_TOOLS_H

#include <stdint.h>

int dm_tool_run(int argc, char **argv);
int dm_tool_rendezvous(int argc, char **argv);

/* "2s", "500ms", "1m", "3" (seconds) -> ns. Returns 0, or -1 when malformed. */
int dm_tool_parse_duration(const char *text, uint64_t *ns_p);

/* Parses a decimal integer in [lo, hi]. Returns 0, or -1. */
int dm_tool_parse_int(const char *text, long lo, long hi, long *out);

#endif
