/*
 * Minimal assertion helpers of the unit tests in tests/base.
 *
 * A failed CHECK prints the file, line and message and counts the failure;
 * the test goes on, so one run reports every broken case, and main() returns
 * check_exit() (1 when anything failed).
 */
#ifndef DM_TESTS_BASE_CHECK_H
#define DM_TESTS_BASE_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        check_count++;                                                          \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

static inline int check_exit(const char *name)
{
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, check_count);
    return 0;
}

#endif
