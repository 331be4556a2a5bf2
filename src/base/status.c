/*
 * Status strings and the per-thread error detail.
 *
 * Invariant: dm_status_string() and dm_status_name() accept any integer and
 * never return NULL, so callers can print a status they got from anywhere.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* Detail of the most recent error on this thread; "" when none. */
static _Thread_local char dm_error_detail[512];
static _Thread_local dm_status_t dm_error_code;
/*
 * Set by dm_error_set, cleared by dm_error_clear: while it is 0 the two
 * above are clear already, so clearing (every public call does it, see
 * core/api.c) costs one byte of static TLS read at a fixed offset instead
 * of the dynamic TLS lookup the detail buffer needs in a shared library.
 * One byte, so it fits the static TLS room a dlopen'ed library gets.
 */
_Thread_local unsigned char dm_error_dirty __attribute__((tls_model("initial-exec")));

const char *dm_status_string(dm_status_t status)
{
    switch (status) {
#define DM_STATUS_STR_(name, value, msg) case name: return msg;
        DM_STATUS_TABLE(DM_STATUS_STR_)
#undef DM_STATUS_STR_
    }
    return "unknown status";
}

const char *dm_status_name(dm_status_t status)
{
    switch (status) {
#define DM_STATUS_NAME_(name, value, msg) case name: return #name;
        DM_STATUS_TABLE(DM_STATUS_NAME_)
#undef DM_STATUS_NAME_
    }
    return "DM_STATUS_UNKNOWN";
}

const char *dm_last_error(void)
{
    return dm_error_detail;
}

dm_status_t dm_last_status(void)
{
    return dm_error_code;
}

dm_status_t dm_error_set(dm_status_t status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dm_error_detail, sizeof(dm_error_detail), fmt, ap);
    va_end(ap);
    dm_error_code = status;
    dm_error_dirty = 1;
    dm_log(DM_LOG_DEBUG, "%s: %s", dm_status_name(status), dm_error_detail);
    return status;
}

void dm_error_clear_slow(void)
{
    dm_error_detail[0] = '\0';
    dm_error_code = DM_OK;
    dm_error_dirty = 0;
}
