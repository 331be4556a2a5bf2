/*
 * Logging (src/base/log.c): level filtering, the prefix (pid before the rank
 * is known, rank after), and that every message, even an overlong one, is
 * one line written with one write(2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

/* Runs the logging calls of step with stderr redirected to a file; returns
 * what was written (malloc'd). */
static char *capture(void (*step)(void))
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char *buf;
    long len;

    if (tmp == NULL || saved < 0) {
        return NULL;
    }
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    step();
    dup2(saved, STDERR_FILENO);
    close(saved);
    len = ftell(tmp) >= 0 ? (long)lseek(fileno(tmp), 0, SEEK_END) : 0;
    buf = calloc(1, (size_t)len + 1);
    if (buf != NULL && len > 0) {
        if (pread(fileno(tmp), buf, (size_t)len, 0) != len) {
            buf[0] = '\0';
        }
    }
    fclose(tmp);
    return buf;
}

static void step_levels(void)
{
    dm_log_set_rank(-1);
    dm_log_set_level(DM_LOG_WARN);
    DM_ERROR("first %d", 1);
    DM_WARN("second");
    DM_INFO("hidden info");
    DM_DEBUG("hidden debug");
    dm_log(DM_LOG_TRACE, "hidden trace");
    dm_log_set_level(DM_LOG_TRACE);
    DM_TRACE("shown trace");
    dm_log_set_rank(3);
    DM_INFO("with rank");
    dm_log_set_rank(-1);
    dm_log_set_level(DM_LOG_WARN);
}

static void step_long(void)
{
    char big[4000];

    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    DM_ERROR("long: %s", big);
    DM_ERROR("after");
}

int main(void)
{
    char *out = capture(step_levels);
    char want[128];

    CHECK(out != NULL, "capture failed");
    if (out != NULL) {
        snprintf(want, sizeof(want), "distmem[pid %d] error: first 1\n", (int)getpid());
        CHECK(strstr(out, want) != NULL, "no \"%s\" in:\n%s", want, out);
        snprintf(want, sizeof(want), "distmem[pid %d] warn: second\n", (int)getpid());
        CHECK(strstr(out, want) != NULL, "no \"%s\" in:\n%s", want, out);
        CHECK(strstr(out, "hidden") == NULL, "a message below the level was printed:\n%s", out);
        CHECK(strstr(out, "trace: shown trace\n") != NULL, "trace not shown at level trace");
        CHECK(strstr(out, "distmem[3] info: with rank\n") != NULL, "rank prefix:\n%s", out);
        free(out);
    }

    out = capture(step_long);
    CHECK(out != NULL, "capture failed");
    if (out != NULL) {
        char *nl = strchr(out, '\n');

        CHECK(nl != NULL && strncmp(nl + 1, "distmem[", 8) == 0,
              "an overlong message is not one line followed by the next message");
        CHECK(nl != NULL && nl - out < 1024, "line of %ld bytes", nl ? (long)(nl - out) : -1L);
        CHECK(strstr(out, "error: after\n") != NULL, "message after the long one lost");
        free(out);
    }
    return check_exit("test_log");
}
