/*
 * Small helpers every layer uses: monotonic time, branch hints, sizes.
 */
#ifndef DM_BASE_UTIL_H
#define DM_BASE_UTIL_H

#include <stdint.h>
#include <time.h>

#define DM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define DM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DM_NSEC_PER_SEC 1000000000ull

/* DM_TSAN: defined in ThreadSanitizer builds (gcc and clang spell it differently). */
#if defined(__SANITIZE_THREAD__)
#define DM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DM_TSAN 1
#endif
#endif

/* Monotonic clock in nanoseconds. */
static inline uint64_t dm_time_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * DM_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif
