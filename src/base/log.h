/*
 * Logging with levels. The level comes from DISTMEM_LOG_LEVEL (config.h);
 * messages go to stderr, one line each, prefixed with the rank once known:
 *   distmem[3] warn: peer 1 closed its endpoint
 * Thread-safe: each message is formatted into one buffer and written with one
 * write(2), so lines from threads and processes do not interleave.
 */
#ifndef DM_BASE_LOG_H
#define DM_BASE_LOG_H

#include <stdatomic.h>

typedef enum dm_log_level {
    DM_LOG_ERROR = 0,
    DM_LOG_WARN,
    DM_LOG_INFO,
    DM_LOG_DEBUG,
    DM_LOG_TRACE,
} dm_log_level_t;

/* Current threshold: messages with level <= this are printed (relaxed atomic). */
extern _Atomic int dm_log_level;

void dm_log_set_level(dm_log_level_t level);

/* The rank printed in the prefix; -1 prints the pid instead. */
void dm_log_set_rank(int rank);

void dm_log(dm_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define DM_LOG(level, ...)                                                  \
    do {                                                                    \
        if ((int)(level) <= atomic_load_explicit(&dm_log_level,           \
                                                 memory_order_relaxed))     \
            dm_log((level), __VA_ARGS__);                                   \
    } while (0)
#define DM_ERROR(...) DM_LOG(DM_LOG_ERROR, __VA_ARGS__)
#define DM_WARN(...)  DM_LOG(DM_LOG_WARN, __VA_ARGS__)
#define DM_INFO(...)  DM_LOG(DM_LOG_INFO, __VA_ARGS__)
#define DM_DEBUG(...) DM_LOG(DM_LOG_DEBUG, __VA_ARGS__)
#define DM_TRACE(...) DM_LOG(DM_LOG_TRACE, __VA_ARGS__)

#endif
