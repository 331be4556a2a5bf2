/*
 * Internal side of the status type: recording the detail of an error.
 *
 * Convention for every function that returns dm_status_t: on failure it calls
 * dm_error_set() (once, where the failure is first understood) so that
 * dm_last_error() names what went wrong; callers higher up pass the status on
 * without overwriting the detail unless they add context.
 */
#ifndef DM_BASE_STATUS_H
#define DM_BASE_STATUS_H

#include "distmem_status.h"

/* Records a detailed message for this thread and returns status unchanged. */
dm_status_t dm_error_set(dm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * 1 while this thread has an error recorded (status.c). Initial-exec TLS:
 * one load at a fixed offset from the thread pointer, so the check below
 * costs nothing measurable on the fast paths that clear the error first.
 */
extern _Thread_local unsigned char dm_error_dirty
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

void dm_error_clear_slow(void);

/* Forgets this thread's last error (every public call starts with it). */
static inline void dm_error_clear(void)
{
    if (__builtin_expect(dm_error_dirty, 0)) {
        dm_error_clear_slow();
    }
}

#endif
