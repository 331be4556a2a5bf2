/*
 * The status table (include/distmem_status.h, src/base/status.c):
 *   - every code has a name equal to its enum spelling, and a message;
 *     names and messages are distinct across codes;
 *   - every code sits in the range of its group (0, 1, -1..-19, -20..-39,
 *     -40..-59) and dm_status_is_transient() is true exactly for -20..-39;
 *   - dm_status_string()/dm_status_name() of a value outside the table are
 *     not NULL;
 *   - dm_last_error() is "" at start, dm_error_set() records a detail and
 *     returns the status unchanged, the detail is per thread, and
 *     dm_error_clear() empties it.
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "distmem_status.h"
#include "status.h"

typedef struct {
    dm_status_t status;
    const char *name;
    const char *msg;
} row_t;

static const row_t rows[] = {
#define ROW_(name, value, msg) { name, #name, msg },
    DM_STATUS_TABLE(ROW_)
#undef ROW_
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void check_table(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        const char *name = dm_status_name(rows[i].status);
        const char *msg = dm_status_string(rows[i].status);

        CHECK(name != NULL && strcmp(name, rows[i].name) == 0, "name of %d is %s, want %s",
              (int)rows[i].status, name ? name : "(null)", rows[i].name);
        CHECK(msg != NULL && strcmp(msg, rows[i].msg) == 0 && msg[0] != '\0',
              "message of %s is \"%s\"", rows[i].name, msg ? msg : "(null)");
        CHECK(strcmp(msg, "unknown status") != 0, "%s reads as unknown", rows[i].name);
        for (size_t j = 0; j < i; j++) {
            CHECK(rows[i].status != rows[j].status, "%s and %s share the value %d", rows[i].name,
                  rows[j].name, (int)rows[i].status);
            CHECK(strcmp(rows[i].name, rows[j].name) != 0, "duplicate name %s", rows[i].name);
            CHECK(strcmp(rows[i].msg, rows[j].msg) != 0, "%s and %s share the message \"%s\"",
                  rows[i].name, rows[j].name, rows[i].msg);
        }
    }
    CHECK(DM_OK == 0, "DM_OK must be 0");
    CHECK(DM_INPROGRESS > 0, "DM_INPROGRESS must be positive");
    CHECK(NROWS >= 20, "table has only %zu rows", NROWS);
}

/* The group of a code is written in its name's position in the table; check
 * the ranges and the transient classification against the documented layout. */
static void check_groups(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        int v = (int)rows[i].status;
        int transient = dm_status_is_transient(rows[i].status);

        CHECK(v == 0 || v == 1 || (v <= -1 && v >= -59), "%s = %d is outside every group",
              rows[i].name, v);
        CHECK(transient == (v <= -20 && v >= -39), "%s (%d): transient = %d", rows[i].name, v,
              transient);
    }
    CHECK(dm_status_is_transient(DM_ERR_TIMED_OUT), "TIMED_OUT must be transient");
    CHECK(dm_status_is_transient(DM_ERR_BUSY), "BUSY must be transient");
    CHECK(dm_status_is_transient(DM_ERR_NO_MEMORY), "NO_MEMORY must be transient");
    CHECK(!dm_status_is_transient(DM_OK), "OK is not transient");
    CHECK(!dm_status_is_transient(DM_INPROGRESS), "INPROGRESS is not transient");
    CHECK(!dm_status_is_transient(DM_ERR_INVALID_PARAM), "INVALID_PARAM is not transient");
    CHECK(!dm_status_is_transient(DM_ERR_CONFIG), "CONFIG is not transient");
    CHECK(!dm_status_is_transient(DM_ERR_PEER_FAILED), "PEER_FAILED is not transient");
    CHECK(!dm_status_is_transient(DM_ERR_SHUTDOWN), "SHUTDOWN is not transient");
    CHECK(DM_ERR_INVALID_PARAM > -20 && DM_ERR_EXISTS > -20, "caller errors out of range");
    CHECK(DM_ERR_PEER_FAILED <= -40 && DM_ERR_TRANSPORT <= -40 && DM_ERR_BOOTSTRAP <= -40,
          "job-wide errors out of range");
}

static void check_unknown(void)
{
    static const int unknown[] = { 2, 77, -10, -19, -26, -39, -45, -59, -60, -1000, 1 << 30 };

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        dm_status_t s = (dm_status_t)unknown[i];
        const char *msg = dm_status_string(s), *name = dm_status_name(s);

        CHECK(msg != NULL && msg[0] != '\0', "dm_status_string(%d) is empty", unknown[i]);
        CHECK(name != NULL && name[0] != '\0', "dm_status_name(%d) is empty", unknown[i]);
        for (size_t j = 0; msg && name && j < NROWS; j++) {
            CHECK(strcmp(name, rows[j].name) != 0, "unknown %d is named %s", unknown[i], name);
        }
    }
}

static void *thread_detail(void *arg)
{
    const char **seen = arg;

    seen[0] = strcmp(dm_last_error(), "") == 0 ? "empty" : "leaked";
    dm_error_set(DM_ERR_BUSY, "thread detail %d", 2);
    seen[1] = strcmp(dm_last_error(), "thread detail 2") == 0 ? "own" : "wrong";
    return NULL;
}

static void check_detail(void)
{
    pthread_t t;
    const char *seen[2] = { NULL, NULL };
    char longmsg[2000];

    CHECK(dm_last_error() != NULL && dm_last_error()[0] == '\0', "detail not empty at start: %s",
          dm_last_error());
    CHECK(dm_error_set(DM_ERR_TIMED_OUT, "waited %d s for rank %d", 5, 3) == DM_ERR_TIMED_OUT,
          "dm_error_set changed the status");
    CHECK(strcmp(dm_last_error(), "waited 5 s for rank 3") == 0, "detail is \"%s\"",
          dm_last_error());

    CHECK(pthread_create(&t, NULL, thread_detail, seen) == 0, "pthread_create");
    pthread_join(t, NULL);
    CHECK(seen[0] && strcmp(seen[0], "empty") == 0, "a new thread saw this thread's detail");
    CHECK(seen[1] && strcmp(seen[1], "own") == 0, "the thread's own detail was wrong");
    CHECK(strcmp(dm_last_error(), "waited 5 s for rank 3") == 0,
          "another thread overwrote this thread's detail: \"%s\"", dm_last_error());

    /* an overlong detail is truncated, not overflowed */
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    dm_error_set(DM_ERR_IO, "%s", longmsg);
    CHECK(strlen(dm_last_error()) > 0 && strlen(dm_last_error()) < sizeof(longmsg) - 1,
          "overlong detail has length %zu", strlen(dm_last_error()));

    dm_error_clear();
    CHECK(dm_last_error()[0] == '\0', "dm_error_clear left \"%s\"", dm_last_error());
}

int main(void)
{
    check_table();
    check_groups();
    check_unknown();
    check_detail();
    return check_exit("test_status");
}
