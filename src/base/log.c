#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

_Atomic int dm_log_level = DM_LOG_WARN;
static int dm_log_rank = -1;

static const char *const dm_log_names[] = { "error", "warn", "info", "debug", "trace" };

void dm_log_set_level(dm_log_level_t level)
{
    atomic_store_explicit(&dm_log_level, (int)level, memory_order_relaxed);
}

void dm_log_set_rank(int rank)
{
    dm_log_rank = rank;
}

void dm_log(dm_log_level_t level, const char *fmt, ...)
{
    char buf[1024];
    int n;
    va_list ap;

    if ((int)level > atomic_load_explicit(&dm_log_level, memory_order_relaxed)) {
        return;
    }
    if (dm_log_rank >= 0) {
        n = snprintf(buf, sizeof(buf), "distmem[%d] %s: ", dm_log_rank, dm_log_names[level]);
    } else {
        n = snprintf(buf, sizeof(buf), "distmem[pid %d] %s: ", (int)getpid(), dm_log_names[level]);
    }
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2) {
        n = (int)sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    /* One write per line; a short write on stderr is not worth a retry loop. */
    if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
        /* nothing sensible to do */
    }
}
