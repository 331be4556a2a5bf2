/*
 * Assertions for the multi-process test programs (one rank each): a failed
 * check prints the rank, file, line and message and ends the process with
 * exit status 1, so the launcher reports the rank and the job fails.
 * The including file defines `static int g_rank;` before including this.
 */
#ifndef DM_TESTS_RANK_CHECK_H
#define DM_TESTS_RANK_CHECK_H

#include <errno.h> /* program_invocation_short_name (GNU) */
#include <stdio.h>
#include <stdlib.h>

#include "distmem_status.h"

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s rank %d: %s:%d: ", program_invocation_short_name, \
                    g_rank, __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define CHECK_OK(expr)                                                        \
    do {                                                                      \
        dm_status_t st_ = (expr);                                             \
        CHECK(st_ == DM_OK, "%s -> %s: %s", #expr, dm_status_name(st_),       \
              dm_last_error());                                               \
    } while (0)

#endif
