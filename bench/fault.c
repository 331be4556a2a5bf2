/*
 * bench_fault: what a page fault costs the two ways a DSM runtime can take
 * one on Linux, measured side by side (input to the fault-handling choice
 * of issue #3; see docs/decisions/).
 *
 *   mprotect   PROT_NONE pages, a SIGSEGV handler that mprotects the page
 *              readable+writable (what ArgoDSM and most software DSMs do);
 *   uffd       userfaultfd: a missing-page fault resolved by UFFDIO_COPY from
 *              a handler thread (the page's data arrives with the fix-up),
 *              and a write-protect fault resolved by UFFDIO_WRITEPROTECT.
 *
 * Also measured: revoking access to one page (mprotect PROT_NONE vs
 * UFFDIO_WRITEPROTECT); taking a written page away while keeping its data
 * (what a DSM node does when another node asks for the page it owns):
 * UFFDIO_WRITEPROTECT, copy, MADV_DONTNEED (two TLB shootdowns) vs one
 * UFFDIO_MOVE of the frame into a ring emptied by one MADV_DONTNEED every
 * 64 pages (Linux 6.8+; skipped before), the data read back either way;
 * write-protecting one written page while another thread of the process
 * spins on another CPU (the shootdown must interrupt it) and while that
 * thread sleeps (its CPU is idle, and the kernel leaves it alone); the
 * same beside another process that spins or sleeps (no shootdown is due;
 * a hypervisor may still flush the other vCPU); and the number of kernel
 * mappings (VMAs) left after
 * giving every other page of a 64 MiB region a different protection: with
 * mprotect each protection change can split the mapping, and
 * vm.max_map_count (65530 here) bounds how many pieces a process may have.
 *
 * Output: one line per result, "RESULT name value unit", medians of 5 runs.
 * Nothing here is a test: it never fails on a figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE   4096ul
#define NPAGES 4096ul /* 16 MiB per run */
#define RUNS   5

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static void result(const char *name, double value, const char *unit)
{
    printf("RESULT %s %.3f %s\n", name, value, unit);
}

/* ---------------------------------------------------------------- */
/* mprotect + SIGSEGV */

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    void *page = (void *)((uintptr_t)si->si_addr & ~(PAGE - 1));

    (void)sig;
    (void)uc;
    if (mprotect(page, PAGE, PROT_READ | PROT_WRITE) != 0) {
        _exit(3);
    }
}

static double bench_mprotect_fault(void)
{
    char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t t0;
    double per;

    memset(p, 1, NPAGES * PAGE);        /* pages present: only the protection faults */
    mprotect(p, NPAGES * PAGE, PROT_NONE);
    t0 = now_ns();
    for (size_t i = 0; i < NPAGES; i++) {
        p[i * PAGE] = 2;
    }
    per = (double)(now_ns() - t0) / NPAGES;
    munmap(p, NPAGES * PAGE);
    return per;
}

static double bench_mprotect_revoke(void)
{
    char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t t0;
    double per;

    memset(p, 1, NPAGES * PAGE);
    t0 = now_ns();
    for (size_t i = 0; i < NPAGES; i++) {
        mprotect(p + i * PAGE, PAGE, PROT_READ);
    }
    per = (double)(now_ns() - t0) / NPAGES;
    munmap(p, NPAGES * PAGE);
    return per;
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;

    if (f == NULL) {
        return -1;
    }
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

/* ---------------------------------------------------------------- */
/* userfaultfd */

typedef struct {
    int    fd;
    char  *src;   /* where the "arriving" page data comes from */
    int    stop;
} uffd_ctx_t;

static void *uffd_thread(void *arg)
{
    uffd_ctx_t *c = arg;
    struct uffd_msg msg;
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

    while (!c->stop) {
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        if (read(c->fd, &msg, sizeof(msg)) != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT) {
            continue;
        }
        uintptr_t page = (uintptr_t)msg.arg.pagefault.address & ~(PAGE - 1);

        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
            struct uffdio_writeprotect wp = { .range = { page, PAGE }, .mode = 0 };

            ioctl(c->fd, UFFDIO_WRITEPROTECT, &wp);
        } else {
            struct uffdio_copy cp = { .dst = page, .src = (uintptr_t)c->src, .len = PAGE,
                                      .mode = 0 };

            ioctl(c->fd, UFFDIO_COPY, &cp);
        }
    }
    return NULL;
}

static int uffd_open(uint64_t features)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API, .features = features };

    if (fd < 0) {
        return -1;
    }
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Installs n pages at p, each a copy of the page src (UFFDIO_COPY with mode). 0, or -1. */
static int uffd_fill(int fd, char *p, size_t n, const char *src, uint64_t mode)
{
    for (size_t i = 0; i < n; i++) {
        struct uffdio_copy c = { .dst = (uintptr_t)(p + i * PAGE), .src = (uintptr_t)src,
                                 .len = PAGE, .mode = mode };

        if (ioctl(fd, UFFDIO_COPY, &c) != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * userfaultfd with UFFD_FEATURE_SIGBUS: a missing-page fault raises SIGBUS
 * in the faulting thread itself, whose handler resolves it with UFFDIO_COPY
 * (ioctl is async-signal-safe): no hop to a handler thread, no VMA splits.
 */
static int sigbus_fd = -1;
static char *sigbus_src;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    struct uffdio_copy cp;

    (void)sig;
    (void)uc;
    cp.dst = (uintptr_t)si->si_addr & ~(PAGE - 1);
    cp.src = (uintptr_t)sigbus_src;
    cp.len = PAGE;
    cp.mode = 0;
    if (ioctl(sigbus_fd, UFFDIO_COPY, &cp) != 0 && errno != EEXIST) {
        _exit(4);
    }
}

/* Times one store to each page with h as the SIGBUS handler; then releases p and the fd. */
static double sigbus_time_touches(char *p, void (*h)(int, siginfo_t *, void *))
{
    struct sigaction sa, old;
    uint64_t t0;
    double per;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old);
    t0 = now_ns();
    for (size_t i = 0; i < NPAGES; i++) {
        p[i * PAGE] = 2;
    }
    per = (double)(now_ns() - t0) / NPAGES;
    sigaction(SIGBUS, &old, NULL);
    return per;
}

static void sigbus_release(char *p)
{
    if (sigbus_fd >= 0) {
        close(sigbus_fd);
        sigbus_fd = -1;
    }
    munmap(p, NPAGES * PAGE);
    free(sigbus_src);
}

static double bench_uffd_sigbus(void)
{
    char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register reg = { .range = { (uintptr_t)p, NPAGES * PAGE },
                                   .mode = UFFDIO_REGISTER_MODE_MISSING };
    double per = -1;

    sigbus_src = aligned_alloc(PAGE, PAGE);
    memset(sigbus_src, 7, PAGE);
    sigbus_fd = uffd_open(UFFD_FEATURE_SIGBUS);
    if (sigbus_fd < 0 || ioctl(sigbus_fd, UFFDIO_REGISTER, &reg) != 0) {
        goto out;
    }
    per = sigbus_time_touches(p, on_sigbus);
out:
    sigbus_release(p);
    return per;
}

/*
 * The same in SIGBUS mode for write-protect faults (what the DSM runtime
 * does for a write to a read-only copy): the faulting thread lifts the
 * protection itself with UFFDIO_WRITEPROTECT. Pages are installed
 * write-protected first (UFFDIO_COPY_MODE_WP), outside the timing.
 */
static void on_sigbus_wp(int sig, siginfo_t *si, void *uc)
{
    struct uffdio_writeprotect wp;

    (void)sig;
    (void)uc;
    wp.range.start = (uintptr_t)si->si_addr & ~(PAGE - 1);
    wp.range.len = PAGE;
    wp.mode = 0;
    if (ioctl(sigbus_fd, UFFDIO_WRITEPROTECT, &wp) != 0) {
        _exit(5);
    }
}

static double bench_uffd_sigbus_wp(void)
{
    char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register reg = { .range = { (uintptr_t)p, NPAGES * PAGE },
                                   .mode = UFFDIO_REGISTER_MODE_MISSING |
                                           UFFDIO_REGISTER_MODE_WP };
    double per = -1;

    sigbus_src = aligned_alloc(PAGE, PAGE);
    memset(sigbus_src, 7, PAGE);
    sigbus_fd = uffd_open(UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    if (sigbus_fd < 0 || ioctl(sigbus_fd, UFFDIO_REGISTER, &reg) != 0) {
        goto out;
    }
    if (uffd_fill(sigbus_fd, p, NPAGES, sigbus_src, UFFDIO_COPY_MODE_WP) != 0) {
        goto out;
    }
    per = sigbus_time_touches(p, on_sigbus_wp);
out:
    sigbus_release(p);
    return per;
}

/* kind 0: missing faults resolved by UFFDIO_COPY; 1: write-protect faults */
static double bench_uffd(int kind, double *revoke_ns)
{
    char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *src = aligned_alloc(PAGE, PAGE);
    uffd_ctx_t c = { .src = src };
    struct uffdio_register reg = { .range = { (uintptr_t)p, NPAGES * PAGE } };
    pthread_t th;
    uint64_t t0;
    double per;

    memset(src, 7, PAGE);
    c.fd = uffd_open(kind ? UFFD_FEATURE_PAGEFAULT_FLAG_WP : 0);
    if (c.fd < 0) {
        munmap(p, NPAGES * PAGE);
        free(src);
        return -1;
    }
    reg.mode = kind ? UFFDIO_REGISTER_MODE_WP : UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(c.fd, UFFDIO_REGISTER, &reg) != 0) {
        close(c.fd);
        munmap(p, NPAGES * PAGE);
        free(src);
        return -1;
    }
    if (kind) {
        struct uffdio_writeprotect wp;

        memset(p, 1, NPAGES * PAGE);
        t0 = now_ns();
        for (size_t i = 0; i < NPAGES; i++) {
            wp.range.start = (uintptr_t)(p + i * PAGE);
            wp.range.len = PAGE;
            wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
            ioctl(c.fd, UFFDIO_WRITEPROTECT, &wp);
        }
        *revoke_ns = (double)(now_ns() - t0) / NPAGES;
    }
    pthread_create(&th, NULL, uffd_thread, &c);
    t0 = now_ns();
    for (size_t i = 0; i < NPAGES; i++) {
        p[i * PAGE] = 2;
    }
    per = (double)(now_ns() - t0) / NPAGES;
    c.stop = 1;
    pthread_join(th, NULL);
    close(c.fd);
    munmap(p, NPAGES * PAGE);
    free(src);
    return per;
}

/* UFFDIO_MOVE (Linux 6.8), for uapi headers that predate it. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
struct uffdio_move {
    __u64 dst, src, len, mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#define DROP_PAGES 1024ul
#define DROP_RING  64ul

/*
 * Takes DROP_PAGES written pages away, keeping each page's data (summed, so
 * the read is not optimized away): move = 0 the copy way, 1 by UFFDIO_MOVE.
 * ns per page, or -1 when the kernel cannot.
 */
static double bench_drop(int move)
{
    size_t len = DROP_PAGES * PAGE;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ring = mmap(NULL, DROP_RING * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *snap = aligned_alloc(PAGE, PAGE), *src = aligned_alloc(PAGE, PAGE);
    struct uffdio_register reg = { .range = { (uintptr_t)p, len },
                                   .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP };
    struct uffdio_register rreg = { .range = { (uintptr_t)ring, DROP_RING * PAGE },
                                    .mode = UFFDIO_REGISTER_MODE_MISSING };
    volatile unsigned long sum = 0;
    double per = -1;
    uint64_t t0;
    int fd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP | (move ? UFFD_FEATURE_MOVE : 0));

    if (fd < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) != 0 ||
        ioctl(fd, UFFDIO_REGISTER, &rreg) != 0) {
        goto out;
    }
    memset(src, 3, PAGE);
    if (uffd_fill(fd, p, DROP_PAGES, src, 0) != 0) {
        goto out;
    }
    for (size_t i = 0; i < DROP_PAGES; i++) {
        p[i * PAGE] = 4; /* written: writable and dirty, as a page held in M */
    }
    t0 = now_ns();
    for (size_t i = 0; i < DROP_PAGES; i++) {
        char *pg = p + i * PAGE;
        const char *data = snap;

        if (move) {
            struct uffdio_move m = { .dst = (uintptr_t)(ring + (i % DROP_RING) * PAGE),
                                     .src = (uintptr_t)pg, .len = PAGE, .mode = 0 };

            if (i % DROP_RING == 0 && i > 0) {
                madvise(ring, DROP_RING * PAGE, MADV_DONTNEED);
            }
            if (ioctl(fd, UFFDIO_MOVE, &m) != 0) {
                goto out;
            }
            data = (const char *)(uintptr_t)m.dst;
        } else {
            struct uffdio_writeprotect wp = { .range = { (uintptr_t)pg, PAGE },
                                              .mode = UFFDIO_WRITEPROTECT_MODE_WP };

            ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
            memcpy(snap, pg, PAGE);
            madvise(pg, PAGE, MADV_DONTNEED);
        }
        for (size_t k = 0; k < PAGE; k += 512) {
            sum += (unsigned char)data[k]; /* the data is sent from here */
        }
    }
    per = (double)(now_ns() - t0) / DROP_PAGES;
out:
    if (fd >= 0) {
        close(fd);
    }
    munmap(p, len);
    munmap(ring, DROP_RING * PAGE);
    free(snap);
    free(src);
    return per;
}

/* The other thread of bench_wp_neighbour: spins (mode 1) or sleeps (mode 2) on CPU 1. */
static atomic_int wp_mode, wp_stop;

static void pin_cpu(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *wp_neighbour(void *arg)
{
    (void)arg;
    pin_cpu(1);
    while (!atomic_load(&wp_stop)) {
        if (atomic_load(&wp_mode) == 2) {
            usleep(20000);
        }
    }
    return NULL;
}

/*
 * ns to write-protect one written page (on CPU 0) while this process's other
 * thread spins on CPU 1 (busy = 1) or sleeps (busy = 0), or without another
 * thread (busy = -1); -1 when it cannot be measured (fewer than 2 CPUs, no
 * userfaultfd).
 */
static double bench_wp_neighbour(int busy)
{
    enum { N = 512 };
    size_t len = N * PAGE;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *src = aligned_alloc(PAGE, PAGE);
    struct uffdio_register reg = { .range = { (uintptr_t)p, len },
                                   .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP };
    pthread_t th;
    double per = -1;
    uint64_t total = 0;
    int fd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP), started = 0;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || fd < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) != 0) {
        goto out;
    }
    memset(src, 5, PAGE);
    if (uffd_fill(fd, p, N, src, 0) != 0) {
        goto out;
    }
    pin_cpu(0);
    if (busy >= 0) {
        atomic_store(&wp_stop, 0);
        atomic_store(&wp_mode, busy ? 1 : 2);
        if (pthread_create(&th, NULL, wp_neighbour, NULL) != 0) {
            goto out;
        }
        started = 1;
    }
    usleep(50000); /* the other thread (or process) is spinning, or asleep, by now */
    for (size_t i = 0; i < N; i++) {
        struct uffdio_writeprotect wp = { .range = { (uintptr_t)(p + i * PAGE), PAGE },
                                          .mode = UFFDIO_WRITEPROTECT_MODE_WP };
        uint64_t t0;

        p[i * PAGE] = 6; /* written, as the owner's copy is */
        t0 = now_ns();
        ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
        total += now_ns() - t0;
    }
    per = (double)total / N;
out:
    if (started) {
        atomic_store(&wp_stop, 1);
        pthread_join(th, NULL);
    }
    if (fd >= 0) {
        close(fd);
    }
    munmap(p, len);
    free(src);
    return per;
}

/*
 * ns to write-protect one written page (on CPU 0) while another process,
 * which shares nothing with this one, spins on CPU 1 (busy = 1) or sleeps
 * (busy = 0). No thread of this process ran on CPU 1, so the kernel sends
 * it no shootdown (the TLB line of /proc/interrupts does not move) and on
 * bare metal the two figures agree; under a hypervisor that shadows the
 * guest's page tables, reducing a mapping's rights flushes every vCPU
 * that is running, whatever it runs. That is the case of a DSM home that
 * revokes its copy while the requester spins for the reply. -1 when it
 * cannot be measured.
 */
static double bench_wp_other_process(int busy)
{
    pid_t pid = fork();
    double per;
    int status;

    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        pin_cpu(1);
        for (;;) {
            if (!busy) {
                usleep(20000);
            }
        }
    }
    per = bench_wp_neighbour(-1);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return per;
}

/*
 * RUNS interleaved runs of f(first) and f(!first), reported as name_a and
 * name_b (medians); one SKIP line naming what when either cannot run.
 */
static void pair(const char *name_a, const char *name_b, double (*f)(int), int first,
                 const char *what)
{
    double a[RUNS], b[RUNS];

    for (int r = 0; r < RUNS; r++) {
        a[r] = f(first);
        b[r] = f(!first);
        if (a[r] < 0 || b[r] < 0) {
            printf("SKIP %s: %s\n", what, strerror(errno));
            return;
        }
    }
    result(name_a, median(a, RUNS), "ns");
    result(name_b, median(b, RUNS), "ns");
}

int main(void)
{
    struct sigaction sa;
    double v[RUNS], w[RUNS];
    char *big;
    long before, after;
    int ok = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    for (int r = 0; r < RUNS; r++) v[r] = bench_mprotect_fault();
    result("mprotect_fault_ns", median(v, RUNS), "ns");
    for (int r = 0; r < RUNS; r++) v[r] = bench_mprotect_revoke();
    result("mprotect_revoke_ns", median(v, RUNS), "ns");

    for (int r = 0; r < RUNS && ok; r++) {
        v[r] = bench_uffd(0, NULL);
        ok = v[r] >= 0;
    }
    if (ok) {
        result("uffd_missing_copy_fault_ns", median(v, RUNS), "ns");
        for (int r = 0; r < RUNS; r++) {
            v[r] = bench_uffd_sigbus();
        }
        if (v[0] >= 0) {
            result("uffd_sigbus_copy_fault_ns", median(v, RUNS), "ns");
        }
        for (int r = 0; r < RUNS; r++) {
            v[r] = bench_uffd_sigbus_wp();
        }
        if (v[0] >= 0) {
            result("uffd_sigbus_wp_fault_ns", median(v, RUNS), "ns");
        }
        for (int r = 0; r < RUNS && ok; r++) {
            v[r] = bench_uffd(1, &w[r]);
            ok = v[r] >= 0;
        }
        if (ok) {
            result("uffd_wp_fault_ns", median(v, RUNS), "ns");
            result("uffd_wp_revoke_ns", median(w, RUNS), "ns");
        } else {
            printf("SKIP uffd write-protect: %s\n", strerror(errno));
        }
        pair("uffd_wp_busy_neighbour_ns", "uffd_wp_idle_neighbour_ns", bench_wp_neighbour, 1,
             "write-protect beside another thread: needs 2 CPUs");
        pair("uffd_wp_busy_process_ns", "uffd_wp_idle_process_ns", bench_wp_other_process, 1,
             "write-protect beside another process: needs 2 CPUs");
        pair("uffd_drop_copy_ns", "uffd_drop_move_ns", bench_drop, 0,
             "taking a page away with UFFDIO_MOVE (Linux 6.8+)");
    } else {
        printf("SKIP userfaultfd: %s (needs root or vm.unprivileged_userfaultfd=1)\n",
               strerror(errno));
    }

    /* mapping splits: alternate protections on 16384 pages of 64 MiB */
    big = mmap(NULL, 16384 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    before = count_maps();
    for (size_t i = 0; i < 16384; i += 2) {
        mprotect(big + i * PAGE, PAGE, PROT_READ);
    }
    after = count_maps();
    result("mprotect_vmas_per_64MiB_alternating", (double)(after - before), "mappings");
    munmap(big, 16384 * PAGE);
    return 0;
}
