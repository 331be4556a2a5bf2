/*
 * distmem status codes: the one status type of the library.
 *
 * Every code and its message come from the single table below (an X-macro),
 * so the enum, dm_status_string() and the documentation cannot drift apart.
 *
 * Layout, as in UCX: DM_OK is 0, DM_INPROGRESS is positive, errors are
 * negative and grouped by how far the damage reaches:
 *   -1  .. -19  the caller's request was wrong; nothing happened, retrying the
 *               same call fails the same way;
 *   -20 .. -39  a resource was short or an operation did not finish in time;
 *               the same call may succeed later (transient);
 *   -40 .. -59  the job is damaged: a peer died, the transport or the
 *               rendezvous broke; this process should shut down cleanly.
 */
#ifndef DISTMEM_STATUS_H
#define DISTMEM_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libdistmem.so exports; everything else is hidden. */
#if defined(DM_BUILDING_LIBRARY)
#define DM_API __attribute__((visibility("default")))
#else
#define DM_API
#endif

/* X(name, value, message) */
#define DM_STATUS_TABLE(X)                                                            \
    X(DM_OK,                    0,   "success")                                       \
    X(DM_INPROGRESS,            1,   "operation in progress")                         \
    /* caller errors */                                                               \
    X(DM_ERR_INVALID_PARAM,    -1,   "invalid argument")                              \
    X(DM_ERR_NOT_INITIALIZED,  -2,   "distmem is not initialized (call dm_init)")     \
    X(DM_ERR_ALREADY_INITIALIZED, -3, "distmem is already initialized")               \
    X(DM_ERR_CONFIG,           -4,   "invalid configuration")                         \
    X(DM_ERR_UNSUPPORTED,      -5,   "operation not supported here")                  \
    X(DM_ERR_OUT_OF_RANGE,     -6,   "address or index out of range")                 \
    X(DM_ERR_NOT_FOUND,        -7,   "no such item")                                  \
    X(DM_ERR_PERMISSION,       -8,   "permission denied")                             \
    X(DM_ERR_EXISTS,           -9,   "item already exists")                           \
    /* transient: resources and time */                                               \
    X(DM_ERR_NO_MEMORY,        -20,  "out of memory")                                 \
    X(DM_ERR_NO_SPACE,         -21,  "no space left on device or tier")               \
    X(DM_ERR_TIMED_OUT,        -22,  "timed out")                                     \
    X(DM_ERR_BUSY,             -23,  "resource busy, try again")                      \
    X(DM_ERR_IO,               -24,  "input/output error")                            \
    X(DM_ERR_CANCELED,         -25,  "operation canceled")                            \
    /* job-wide damage */                                                             \
    X(DM_ERR_PEER_FAILED,      -40,  "a peer process failed")                         \
    X(DM_ERR_TRANSPORT,        -41,  "transport error")                               \
    X(DM_ERR_BOOTSTRAP,        -42,  "bootstrap/rendezvous failed")                   \
    X(DM_ERR_PROTOCOL,         -43,  "malformed or unexpected message")               \
    X(DM_ERR_SHUTDOWN,         -44,  "the job is shutting down")

typedef enum dm_status {
#define DM_STATUS_ENUM_(name, value, msg) name = (value),
    DM_STATUS_TABLE(DM_STATUS_ENUM_)
#undef DM_STATUS_ENUM_
} dm_status_t;

/* A short fixed message for a status; never NULL, also for unknown values. */
DM_API const char *dm_status_string(dm_status_t status);

/* The symbolic name of a status ("DM_ERR_TIMED_OUT"); never NULL. */
DM_API const char *dm_status_name(dm_status_t status);

/*
 * The detailed message of the last error this thread saw inside distmem
 * ("rank 3 (pid 1234) closed its rendezvous connection"), or "" when none.
 * Valid until the next distmem call on this thread.
 */
DM_API const char *dm_last_error(void);

/*
 * The status of the last error this thread saw inside distmem, for calls
 * that return a pointer (dm_alloc, dm_malloc, dm_lock_create); DM_OK when
 * none since the last successful call that clears it.
 */
DM_API dm_status_t dm_last_status(void);

/* Transient errors are the ones worth retrying. */
static inline int dm_status_is_transient(dm_status_t s) { return s <= -20 && s > -40; }

#ifdef __cplusplus
}
#endif
#endif /* DISTMEM_STATUS_H */
