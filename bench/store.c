/*
 * bench_store: reading a data set larger than memory, three ways, with the
 * same page sequence for each (part (a) of `bench/run store`, issue #5):
 *
 *   store   ours: the tiered store (src/store/store.h), a DRAM tier of
 *           --budget-mib over an nvme tier (a file in --dir, io_uring with
 *           O_DIRECT) holding --data-mib of pages, read with dm_store_read.
 *   mmap    the kernel's page cache: --file mapped read-only and each page
 *           of the sequence copied out of the mapping. bench/run starts it
 *           inside a cgroup v1 memory cgroup limited to the DRAM budget.
 *   iolog   prints the measured part of the sequence as a fio iolog (version
 *           2) for --file, so that fio (O_DIRECT, io_uring: the device's
 *           limit) replays exactly the same reads.
 *   create  writes --file: --data-mib of pages, each stamped with its number.
 *
 *   bench_store --mode store --dir DIR [--patterns seq,uniform,skewed | --serve]
 *   bench_store --mode mmap --file FILE --pattern P
 *   bench_store --mode iolog --file FILE --pattern P > LOG
 *   bench_store --mode create --file FILE
 *   common: [--data-mib 1024] [--budget-mib 256] [--threads 4] [--accesses N]
 *           [--warmup N] [--seed 1] [--zipf 0.99] [--max-seconds S]
 *           [--policy arc] [--migration-mbs X] [--advise auto|none]
 *           [--max-in-flight 512]
 *
 * --max-seconds S bounds the warm-up and the measured part each: every
 * thread stops in its chunk when S have passed, and the figures count the
 * reads done (0: no bound). --migration-mbs is ours' migration budget
 * (dm_store_params_t.budget_mbs; 0, the default: the store's cache mode).
 * --max-in-flight is ours' max_in_flight (migrations, read-ahead included,
 * at once; the tiers' queue depth follows): 512 by default, where the
 * store's own default (16) suits a home memory that must not flood a
 * shared disk, not a reader that wants the device's depth (4 streams of
 * 64 pages read ahead, and their demotions). DM_BENCH_STORE_DEBUG=1 prints
 * the store's counters after each pattern (stderr).
 * --advise none leaves the mapping without madvise (default: SEQUENTIAL for
 * seq, RANDOM otherwise: the page cache at its best).
 *
 * Patterns (pages of --page-size 4096 bytes, numbered 0 .. data pages - 1):
 *   seq       every page once, in order from a page chosen by the seed (page 0
 *             for seed 1), wrapping around; the threads take one contiguous
 *             1/threads of that order each. No warm-up.
 *   uniform   --accesses pages drawn uniformly (default: a quarter of the
 *             data pages), after --warmup (default: as many) drawn the same way.
 *   skewed    the same counts drawn from a Zipf distribution of exponent
 *             --zipf over the pages (rank r has weight 1/(r+1)^theta, drawn as
 *             YCSB does, after Gray et al., SIGMOD'94); the ranks are scattered
 *             over the file by a fixed bijection, so hot pages are not
 *             neighbours (no read-ahead luck for anyone).
 * The sequence is a function of (pattern, seed, counts, data pages) only:
 * every contender reads the same pages in the same order. The threads split
 * the sequence (warm-up and measured part alike) into contiguous chunks.
 *
 * Every page of the data starts with its own page number (a uint64_t) and
 * every read checks it: a wrong page is an error, not a figure.
 *
 * Output: comment lines start with "#"; one line per measured pattern:
 *
 *   RESULT {"bench":"store","who":"ours","pattern":"skewed","mbs":..,"iops":..,
 *           "hit_ratio":..,...}
 *
 * hit_ratio: ours, the share of measured reads the DRAM tier served
 * (dm_store_stats); mmap, 1 - major faults / reads (a read that needed no
 * I/O: its page was mapped, or in the page cache, perhaps by read-ahead).
 * warmup and reads count the reads done; seconds is the measured part's.
 *
 * --serve (store mode): populate the store once, print "# ready", then read
 * commands from stdin, one a line: "run PATTERN [SEED]" (prints its RESULT
 * line and "# done"; SEED replaces --seed for this run) or "quit". bench/run
 * uses it to interleave ours with the baselines without writing the data set
 * again each time.
 *
 * It never judges its figures; the exit status is 0 when everything ran, 1
 * when something failed (I/O, a wrong page, no memory), 2 on bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define MAX_THREADS 64
#define SCATTER     2654435761ull /* a prime: rank -> page is a bijection mod any n < it */

typedef enum { PAT_SEQ, PAT_UNIFORM, PAT_SKEWED, PAT_COUNT } pattern_t;

static const char *const pattern_names[PAT_COUNT] = { "seq", "uniform", "skewed" };

typedef struct options {
    const char *mode;
    const char *dir;
    const char *file;
    const char *policy;
    int         patterns[PAT_COUNT];
    int         npatterns;
    int         serve;
    int         advise;  /* mmap: madvise by pattern */
    uint64_t    data_mib;
    uint64_t    budget_mib;
    size_t      page_size;
    uint64_t    accesses; /* 0: a quarter of the data pages */
    int64_t     warmup;   /* -1: as many as accesses */
    unsigned    threads;
    uint64_t    seed;
    double      zipf;
    double      max_seconds;   /* bound on the warm-up and on the measured part; 0: none */
    double      migration_mbs; /* ours: the store's budget_mbs; 0: cache mode */
    uint64_t    in_flight;     /* ours: the store's max_in_flight (and the tiers' queue depth) */
    double      low, high;     /* ours: the store's watermarks */
} options_t;

/* ---------------------------------------------------------------- common */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t data_pages(const options_t *o)
{
    return (o->data_mib << 20) / o->page_size;
}

static uint64_t measured_count(const options_t *o, pattern_t p)
{
    if (p == PAT_SEQ) {
        return data_pages(o);
    }
    return o->accesses ? o->accesses : data_pages(o) / 4;
}

static uint64_t warmup_count(const options_t *o, pattern_t p)
{
    if (p == PAT_SEQ) {
        return 0;
    }
    return o->warmup >= 0 ? (uint64_t)o->warmup : measured_count(o, p);
}

/* splitmix64: small, seedable, good enough to draw pages. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * The page sequence of pattern p: warm-up followed by the measured part,
 * *n_p pages in all (NULL for seq, whose page i is i). The caller frees it.
 */
static uint32_t *sequence_make(const options_t *o, pattern_t p, uint64_t *n_p)
{
    uint64_t n = data_pages(o), count = warmup_count(o, p) + measured_count(o, p);
    uint64_t s = o->seed * 0x2545f4914f6cdd1dull + (uint64_t)p;
    double theta = o->zipf, zetan = 0.0, zeta2, alpha, eta;
    uint32_t *seq;

    *n_p = count;
    if (p == PAT_SEQ) {
        return NULL;
    }
    seq = malloc(count * sizeof(*seq));
    if (seq == NULL) {
        return NULL;
    }
    if (p == PAT_UNIFORM) {
        for (uint64_t i = 0; i < count; i++) {
            seq[i] = (uint32_t)(rng_next(&s) % n);
        }
        return seq;
    }
    /* Zipf by inversion of the approximate CDF (YCSB's ZipfianGenerator). */
    for (uint64_t r = 1; r <= n; r++) {
        zetan += 1.0 / pow((double)r, theta);
    }
    zeta2 = 1.0 + 1.0 / pow(2.0, theta);
    alpha = 1.0 / (1.0 - theta);
    eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    for (uint64_t i = 0; i < count; i++) {
        double u = rng_unit(&s), uz = u * zetan;
        uint64_t rank;

        if (uz < 1.0) {
            rank = 0;
        } else if (uz < zeta2) {
            rank = 1;
        } else {
            rank = (uint64_t)((double)n * pow(eta * u - eta + 1.0, alpha));
        }
        if (rank >= n) {
            rank = n - 1;
        }
        seq[i] = (uint32_t)((rank * SCATTER) % n);
    }
    return seq;
}

/*
 * Where seq starts: page seq_start(o) is read first and the order wraps
 * around at the end, so that runs with other seeds (bench/run's
 * repetitions) do not read pages left in a cache by the run before.
 */
static uint64_t seq_start(const options_t *o)
{
    uint64_t s = o->seed;

    return o->seed <= 1 ? 0 : rng_next(&s) % data_pages(o);
}

/* Page i of the sequence: seq[i], or for seq (seq == NULL) start + i. */
static uint64_t seq_page(const uint32_t *seq, uint64_t start, uint64_t n, uint64_t i)
{
    return seq ? seq[i] : (start + i) % n;
}

static double maxrss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static long majflt(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_majflt;
}

/* Runs fn on each of o->threads threads; each gets its index. */
typedef struct worker {
    pthread_t        thread;
    unsigned         index;
    void            *ctx;
    uint64_t         bad;  /* reads that failed or returned the wrong page */
    uint64_t         done; /* measured reads done */
    uint64_t         warm; /* warm-up reads done */
    char             detail[160];
} worker_t;

/*
 * The part of [0, n) that thread t of k takes: contiguous chunks, the first
 * n % k threads one page more.
 */
static void chunk(uint64_t n, unsigned t, unsigned k, uint64_t *lo_p, uint64_t *hi_p)
{
    uint64_t q = n / k, r = n % k;

    *lo_p = t * q + (t < r ? t : r);
    *hi_p = *lo_p + q + (t < r);
}

/* warm: warm-up reads done (fewer than planned when the time cap stopped them). */
static void print_result(const options_t *o, const char *who, pattern_t p, uint64_t warm,
                         uint64_t reads, double seconds, double hit_ratio, const char *extra)
{
    printf("RESULT {\"bench\":\"store\",\"who\":\"%s\",\"pattern\":\"%s\",\"seed\":%" PRIu64
           ",\"data_mib\":%" PRIu64 ",\"budget_mib\":%" PRIu64 ",\"page_size\":%zu,"
           "\"threads\":%u,\"warmup\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"seconds\":%.4f,"
           "\"mbs\":%.2f,\"iops\":%.0f,\"hit_ratio\":%.4f,\"maxrss_mib\":%.1f%s%s}\n",
           who, pattern_names[p], o->seed, o->data_mib, o->budget_mib, o->page_size, o->threads,
           warm, reads, seconds,
           seconds > 0 ? (double)reads * (double)o->page_size / seconds / 1e6 : 0.0,
           seconds > 0 ? (double)reads / seconds : 0.0, hit_ratio, maxrss_mib(),
           extra && *extra ? "," : "", extra ? extra : "");
    fflush(stdout);
}

/* ---------------------------------------------------------------- the run */

/* Reads page into buf (page_size bytes); 0 on success, else fills w->detail. */
typedef int (*read_page_fn)(void *ctx, worker_t *w, uint64_t page, void *buf);

typedef struct run {
    const options_t  *o;
    const uint32_t   *seq;
    uint64_t          first, npages; /* seq: first page, data pages */
    uint64_t          warm, count; /* warm-up, then measured, pages of seq */
    uint64_t          deadline;    /* now_ns() bound of the current phase; 0: none */
    read_page_fn      read;
    void             *ctx;
    pthread_barrier_t warm_done, start;
} run_t;

static int read_checked(run_t *r, worker_t *w, uint64_t page, void *buf)
{
    uint64_t stamp;

    if (r->read(r->ctx, w, page, buf) != 0) {
        return -1;
    }
    memcpy(&stamp, buf, sizeof(stamp));
    if (stamp != page) {
        snprintf(w->detail, sizeof(w->detail), "page %" PRIu64 " read back as page %" PRIu64,
                 page, stamp);
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    run_t *r = w->ctx;
    uint64_t lo, hi;
    void *buf = aligned_alloc(4096, r->o->page_size);

    if (buf == NULL) {
        snprintf(w->detail, sizeof(w->detail), "no memory for a buffer");
        w->bad++;
    }
    chunk(r->warm, w->index, r->o->threads, &lo, &hi);
    for (uint64_t i = lo; i < hi && buf != NULL && w->bad == 0; i++) {
        if (r->deadline && (i & 15) == 0 && now_ns() > r->deadline) {
            break;
        }
        w->bad += read_checked(r, w, seq_page(r->seq, r->first, r->npages, i), buf) != 0;
        w->warm++;
    }
    pthread_barrier_wait(&r->warm_done);
    pthread_barrier_wait(&r->start);
    chunk(r->count, w->index, r->o->threads, &lo, &hi);
    for (uint64_t i = r->warm + lo; i < r->warm + hi && buf != NULL && w->bad == 0; i++) {
        if (r->deadline && (i & 15) == 0 && now_ns() > r->deadline) {
            break;
        }
        w->bad += read_checked(r, w, seq_page(r->seq, r->first, r->npages, i), buf) != 0;
        w->done++;
    }
    free(buf);
    return NULL;
}

/*
 * Runs pattern p with read() on o->threads threads: warm-up, then the
 * measured part, each phase stopped after o->max_seconds (each thread stops
 * early in its own chunk; *warm_p and *reads_p say how many warm-up and
 * measured reads were done).
 * around() (may be NULL) runs on this thread before and after the measured
 * part, to read counters. Returns the measured seconds, or -1 when a read
 * failed (the message is printed).
 */
static double run_pattern(const options_t *o, pattern_t p, read_page_fn read, void *ctx,
                          void (*around)(void *ctx, int after), uint64_t *warm_p,
                          uint64_t *reads_p)
{
    worker_t w[MAX_THREADS];
    run_t r = { .o = o, .read = read, .ctx = ctx };
    uint64_t n, t0, t1, bad = 0;
    uint32_t *seq = sequence_make(o, p, &n);

    if (seq == NULL && p != PAT_SEQ) {
        fprintf(stderr, "bench_store: no memory for the page sequence\n");
        return -1;
    }
    r.seq = seq;
    r.first = seq_start(o);
    r.npages = data_pages(o);
    r.warm = warmup_count(o, p);
    r.count = measured_count(o, p);
    r.deadline = o->max_seconds > 0 ? now_ns() + (uint64_t)(o->max_seconds * 1e9) : 0;
    pthread_barrier_init(&r.warm_done, NULL, o->threads + 1);
    pthread_barrier_init(&r.start, NULL, o->threads + 1);
    memset(w, 0, sizeof(w));
    for (unsigned t = 0; t < o->threads; t++) {
        w[t].index = t;
        w[t].ctx = &r;
        if (pthread_create(&w[t].thread, NULL, worker_main, &w[t]) != 0) {
            fprintf(stderr, "bench_store: pthread_create failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&r.warm_done);
    if (around) {
        around(ctx, 0);
    }
    t0 = now_ns();
    r.deadline = o->max_seconds > 0 ? t0 + (uint64_t)(o->max_seconds * 1e9) : 0;
    pthread_barrier_wait(&r.start);
    for (unsigned t = 0; t < o->threads; t++) {
        pthread_join(w[t].thread, NULL);
        if (w[t].bad && bad == 0) {
            fprintf(stderr, "bench_store: %s: %s\n", pattern_names[p], w[t].detail);
        }
        bad += w[t].bad;
        *reads_p += w[t].done;
        *warm_p += w[t].warm;
    }
    t1 = now_ns();
    if (around) {
        around(ctx, 1);
    }
    pthread_barrier_destroy(&r.warm_done);
    pthread_barrier_destroy(&r.start);
    free(seq);
    return bad ? -1.0 : (double)(t1 - t0) / 1e9;
}

/* ---------------------------------------------------------------- create */

static int mode_create(const options_t *o)
{
    size_t chunk_bytes = 1u << 20;
    uint64_t per = chunk_bytes / o->page_size, n = data_pages(o);
    char *buf = aligned_alloc(4096, chunk_bytes);
    int fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);

    if (fd < 0) {
        fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* no O_DIRECT here */
    }
    if (fd < 0 || buf == NULL) {
        fprintf(stderr, "bench_store: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    memset(buf, 0x5a, chunk_bytes);
    for (uint64_t p = 0; p < n; p += per) {
        size_t len = (size_t)((n - p < per ? n - p : per) * o->page_size);

        for (uint64_t k = 0; k < per; k++) {
            uint64_t page = p + k;

            memcpy(buf + k * o->page_size, &page, sizeof(page));
        }
        if (pwrite(fd, buf, len, (off_t)(p * o->page_size)) != (ssize_t)len) {
            fprintf(stderr, "bench_store: writing %s: %s\n", o->file, strerror(errno));
            close(fd);
            return 1;
        }
    }
    if (fdatasync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "bench_store: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    free(buf);
    printf("# created %s: %" PRIu64 " pages of %zu bytes\n", o->file, n, o->page_size);
    return 0;
}

/* ---------------------------------------------------------------- iolog */

static int mode_iolog(const options_t *o, pattern_t p)
{
    uint64_t n, warm = warmup_count(o, p);
    uint32_t *seq = sequence_make(o, p, &n);

    if (seq == NULL && p != PAT_SEQ) {
        fprintf(stderr, "bench_store: no memory for the page sequence\n");
        return 1;
    }
    printf("fio version 2 iolog\n%s add\n%s open\n", o->file, o->file);
    for (uint64_t i = warm; i < n; i++) {
        printf("%s read %" PRIu64 " %zu\n", o->file,
               seq_page(seq, seq_start(o), data_pages(o), i) * o->page_size,
               o->page_size);
    }
    printf("%s close\n", o->file);
    free(seq);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- mmap */

typedef struct mmap_ctx {
    const char *map;
    size_t      page_size;
    long        majflt0, majflt1;
} mmap_ctx_t;

static int mmap_read(void *ctx, worker_t *w, uint64_t page, void *buf)
{
    mmap_ctx_t *m = ctx;

    (void)w;
    memcpy(buf, m->map + page * m->page_size, m->page_size);
    return 0;
}

static void mmap_around(void *ctx, int after)
{
    mmap_ctx_t *m = ctx;

    *(after ? &m->majflt1 : &m->majflt0) = majflt();
}

static int mode_mmap(const options_t *o, pattern_t p)
{
    mmap_ctx_t m = { .page_size = o->page_size };
    size_t len = (size_t)(data_pages(o) * o->page_size);
    int fd = open(o->file, O_RDONLY);
    struct stat st;
    uint64_t reads = 0, warm = 0;
    double s;
    char extra[128];

    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "bench_store: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    if ((uint64_t)st.st_size < len) {
        fprintf(stderr, "bench_store: %s holds %lld bytes, fewer than --data-mib %" PRIu64 "\n",
                o->file, (long long)st.st_size, o->data_mib);
        return 1;
    }
    m.map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m.map == MAP_FAILED) {
        fprintf(stderr, "bench_store: mmap %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    /* The baseline at its best: the advice that suits the pattern. */
    if (o->advise) {
        madvise((void *)m.map, len, p == PAT_SEQ ? MADV_SEQUENTIAL : MADV_RANDOM);
    }
    s = run_pattern(o, p, mmap_read, &m, mmap_around, &warm, &reads);
    munmap((void *)m.map, len);
    if (s < 0) {
        return 1;
    }
    snprintf(extra, sizeof(extra), "\"majflt\":%ld,\"advice\":\"%s\"", m.majflt1 - m.majflt0,
             !o->advise ? "none" : p == PAT_SEQ ? "sequential" : "random");
    print_result(o, "mmap", p, warm, reads, s,
                 reads ? 1.0 - (double)(m.majflt1 - m.majflt0) / (double)reads : 0.0, extra);
    return 0;
}

/* ---------------------------------------------------------------- ours */

typedef struct store_ctx {
    dm_store_t      *store;
    dm_store_stats_t before, after;
} store_ctx_t;

static int store_read(void *ctx, worker_t *w, uint64_t page, void *buf)
{
    store_ctx_t *c = ctx;
    dm_status_t st = dm_store_read(c->store, page, buf);

    if (st != DM_OK) {
        snprintf(w->detail, sizeof(w->detail), "dm_store_read(%" PRIu64 "): %s: %s", page,
                 dm_status_string(st), dm_last_error());
        return -1;
    }
    return 0;
}

static void store_around(void *ctx, int after)
{
    store_ctx_t *c = ctx;

    dm_store_stats(c->store, after ? &c->after : &c->before);
}

/* Writes every page (stamped with its number), the threads one chunk each. */
typedef struct fill {
    dm_store_t *store;
    uint64_t    lo, hi;
    size_t      page_size;
    dm_status_t status;
    uint64_t    page;
    char        detail[200];
} fill_t;

static void *fill_main(void *arg)
{
    fill_t *f = arg;
    char *buf = aligned_alloc(4096, f->page_size);

    f->status = buf ? DM_OK : DM_ERR_NO_MEMORY;
    if (buf) {
        memset(buf, 0x5a, f->page_size);
    }
    for (uint64_t p = f->lo; p < f->hi && f->status == DM_OK; p++) {
        memcpy(buf, &p, sizeof(p));
        f->status = dm_store_write(f->store, p, buf);
        if (f->status != DM_OK) {
            f->page = p;
            snprintf(f->detail, sizeof(f->detail), "%s", dm_last_error());
        }
    }
    free(buf);
    return NULL;
}

static int store_fill(const options_t *o, dm_store_t *store)
{
    fill_t f[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    int failed = 0;

    for (unsigned t = 0; t < o->threads; t++) {
        f[t] = (fill_t){ .store = store, .page_size = o->page_size };
        chunk(data_pages(o), t, o->threads, &f[t].lo, &f[t].hi);
        if (pthread_create(&th[t], NULL, fill_main, &f[t]) != 0) {
            fprintf(stderr, "bench_store: pthread_create failed\n");
            exit(1);
        }
    }
    for (unsigned t = 0; t < o->threads; t++) {
        pthread_join(th[t], NULL);
        if (f[t].status != DM_OK && !failed) {
            fprintf(stderr, "bench_store: dm_store_write(%" PRIu64 "): %s: %s\n", f[t].page,
                    dm_status_string(f[t].status), f[t].detail);
            failed = 1;
        }
    }
    return failed ? -1 : 0;
}

static int store_run(const options_t *o, store_ctx_t *c, pattern_t p)
{
    const dm_store_tier_stats_t *b = &c->before.tier[0], *a = &c->after.tier[0];
    uint64_t hits, misses, reads = 0, warm = 0, moves = 0;
    double s = run_pattern(o, p, store_read, c, store_around, &warm, &reads);
    char extra[256];

    if (s < 0) {
        return -1;
    }
    if (getenv("DM_BENCH_STORE_DEBUG")) {
        const dm_store_stats_t *x = &c->after;

        fprintf(stderr, "debug: dram pages %llu victims %llu target %llu used %llu; queued %llu "
                "in flight %llu; done d%llu p%llu h%llu s%llu; started d%llu p%llu h%llu; "
                "rejected h%llu; canceled %llu stale %llu nospace %llu io %llu; readahead %llu "
                "reader moves %llu; clean drops %llu, nvme copies %llu, bytes dram->nvme %llu; "
                "lock-free reads %llu, touches dropped %llu\n",
                (unsigned long long)x->tier[0].pages, (unsigned long long)x->tier[0].victims,
                (unsigned long long)x->tier[0].target, (unsigned long long)x->tier[0].used,
                (unsigned long long)x->queued, (unsigned long long)x->in_flight,
                (unsigned long long)x->done[0], (unsigned long long)x->done[1],
                (unsigned long long)x->done[2], (unsigned long long)x->done[3],
                (unsigned long long)x->started[0], (unsigned long long)x->started[1],
                (unsigned long long)x->started[2], (unsigned long long)x->rejected[2],
                (unsigned long long)x->canceled, (unsigned long long)x->stale,
                (unsigned long long)x->no_space, (unsigned long long)x->io_error,
                (unsigned long long)x->readahead, (unsigned long long)x->reader_moves,
                (unsigned long long)x->clean_drops,
                (unsigned long long)(x->ntiers > 1 ? x->tier[1].copies : 0),
                (unsigned long long)(x->ntiers > 1 ? x->bytes_moved[0][1] : 0),
                (unsigned long long)(x->fast_reads - c->before.fast_reads),
                (unsigned long long)(x->touches_dropped - c->before.touches_dropped));
    }
    hits = a->hits - b->hits;
    misses = a->misses - b->misses;
    for (int k = 0; k < DM_MIGRATE_CLASS_COUNT; k++) {
        moves += c->after.done[k] - c->before.done[k]; /* cache mode's moves included */
    }
    snprintf(extra, sizeof(extra),
             "\"policy\":\"%s\",\"migration_mbs\":%g,\"max_in_flight\":%" PRIu64
             ",\"moves\":%" PRIu64
             ",\"dram_pages\":%" PRIu64 ",\"dram_capacity\":%" PRIu64,
             o->policy, o->migration_mbs, o->in_flight,
             moves, a->pages, a->capacity);
    print_result(o, "ours", p, warm, reads, s,
                 hits + misses ? (double)hits / (double)(hits + misses) : 0.0, extra);
    return 0;
}

/*
 * Ours: a DRAM tier of --budget-mib over an nvme tier with room for the
 * whole data set (a file in --dir, O_DIRECT required), the policy --policy
 * on the DRAM tier, the store's worker thread. --migration-mbs 0: the
 * store's cache mode (a read outside DRAM brings the page in and sends the
 * policy's victim down, in the reading thread); above 0: that migration
 * budget, promotions and demotions run by the engine (bench/run gives a
 * budget above the device's bandwidth, so that it never binds).
 */
static int mode_store(const options_t *o)
{
    char path[4096];
    const char *policies[2] = { o->policy, "lru" };
    uint32_t qd = (uint32_t)(o->in_flight > 64 ? o->in_flight : 64);
    dm_store_tier_params_t tiers[2] = {
        { .field_mask = DM_STORE_PARAM_NAME | DM_STORE_PARAM_QUEUE_DEPTH,
          .kind = DM_STORE_KIND_DRAM, .name = "dram", .queue_depth = qd,
          .capacity = (o->budget_mib << 20) / o->page_size },
        { .field_mask = DM_STORE_PARAM_NAME | DM_STORE_PARAM_PATH | DM_STORE_PARAM_DIRECT |
                        DM_STORE_PARAM_QUEUE_DEPTH,
          .kind = DM_STORE_KIND_NVME, .name = "nvme", .path = path, .queue_depth = qd,
          .capacity = data_pages(o), .direct = DM_STORE_DIRECT_REQUIRE },
    };
    dm_store_params_t params = {
        .field_mask = DM_STORE_OPT_PAGE_SIZE | DM_STORE_OPT_POLICIES | DM_STORE_OPT_WORKER |
                      DM_STORE_OPT_BUDGET | DM_STORE_OPT_MAX_IN_FLIGHT | DM_STORE_OPT_WATERMARKS,
        .tiers = tiers, .ntiers = 2, .npages = data_pages(o), .page_size = o->page_size,
        .policies = policies, .worker = 1, .budget_mbs = o->migration_mbs,
        .max_in_flight = (uint32_t)o->in_flight,
        .low_watermark = o->low, .high_watermark = o->high,
    };
    store_ctx_t c = { 0 };
    dm_status_t st;
    uint64_t t0;
    char line[128];
    int rc = 0;

    if (dm_policy_ops_find(o->policy) == NULL) {
        fprintf(stderr, "bench_store: unknown policy %s\n", o->policy);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/ours.nvme", o->dir);
    st = dm_store_create(&params, &c.store);
    if (st != DM_OK) {
        fprintf(stderr, "bench_store: dm_store_create: %s: %s\n", dm_status_string(st),
                dm_last_error());
        return 1;
    }
    t0 = now_ns();
    if (store_fill(o, c.store) != 0) {
        dm_store_destroy(c.store);
        return 1;
    }
    dm_store_stats(c.store, &c.after);
    printf("# ours: %" PRIu64 " pages written in %.1f s; dram tier %" PRIu64 " of %" PRIu64
           " slots (policy %s, low watermark %.0f%%), nvme tier %" PRIu64 " pages in %s\n",
           data_pages(o), (double)(now_ns() - t0) / 1e9, c.after.tier[0].pages,
           c.after.tier[0].capacity, o->policy,
           100.0 * (double)c.after.tier[0].target / (double)c.after.tier[0].capacity,
           c.after.tier[1].pages, path);
    if (!o->serve) {
        for (int k = 0; k < o->npatterns && rc == 0; k++) {
            rc = store_run(o, &c, (pattern_t)o->patterns[k]);
        }
        dm_store_destroy(c.store);
        return rc ? 1 : 0;
    }
    printf("# ready\n");
    fflush(stdout);
    while (rc == 0 && fgets(line, sizeof(line), stdin) != NULL) {
        int k = 0;

        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "quit") == 0) {
            break;
        }
        char name[16];
        unsigned long long seed = o->seed;
        options_t run = *o;

        if (sscanf(line, "run %15s %llu", name, &seed) < 1) {
            name[0] = '\0';
        }
        while (k < PAT_COUNT && strcmp(name, pattern_names[k]) != 0) {
            k++;
        }
        if (k == PAT_COUNT) {
            fprintf(stderr, "bench_store: unknown command: %s\n", line);
            rc = 2;
            break;
        }
        run.seed = seed;
        rc = store_run(&run, &c, (pattern_t)k);
        printf("# done\n");
        fflush(stdout);
    }
    dm_store_destroy(c.store);
    return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_store --mode store|mmap|iolog|create [--dir DIR] [--file FILE]\n"
            "         [--pattern P | --patterns seq,uniform,skewed] [--serve]\n"
            "         [--data-mib 1024] [--budget-mib 256] [--page-size 4096] [--threads 4]\n"
            "         [--accesses N] [--warmup N] [--seed 1] [--zipf 0.99] [--policy arc]\n"
            "         [--advise auto|none] [--max-seconds S] [--migration-mbs X]\n"
            "         [--max-in-flight 512]\n");
}

static int parse_patterns(const char *text, options_t *o)
{
    char buf[128], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", text);
    o->npatterns = 0;
    for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int k = 0;

        while (k < PAT_COUNT && strcmp(name, pattern_names[k]) != 0) {
            k++;
        }
        if (k == PAT_COUNT || o->npatterns == PAT_COUNT) {
            return -1;
        }
        o->patterns[o->npatterns++] = k;
    }
    return o->npatterns ? 0 : -1;
}

static int parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *v_p)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        return -1;
    }
    *v_p = v;
    return 0;
}

int main(int argc, char **argv)
{
    options_t o = { .mode = NULL, .policy = "arc", .advise = 1, .data_mib = 1024,
                    .budget_mib = 256, .page_size = 4096, .warmup = -1, .threads = 4,
                    .seed = 1, .zipf = 0.99, .in_flight = 512,
                    .low = 0.85, .high = 0.95 };
    uint64_t v;

    o.patterns[0] = PAT_SEQ;
    o.patterns[1] = PAT_UNIFORM;
    o.patterns[2] = PAT_SKEWED;
    o.npatterns = PAT_COUNT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;

        if (strcmp(a, "--serve") == 0) {
            o.serve = 1;
            continue;
        }
        if (val == NULL || a[0] != '-') {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--mode") == 0) {
            o.mode = val;
        } else if (strcmp(a, "--dir") == 0) {
            o.dir = val;
        } else if (strcmp(a, "--file") == 0) {
            o.file = val;
        } else if (strcmp(a, "--policy") == 0) {
            o.policy = val;
        } else if (strcmp(a, "--pattern") == 0 || strcmp(a, "--patterns") == 0) {
            bad = parse_patterns(val, &o);
        } else if (strcmp(a, "--advise") == 0) {
            o.advise = strcmp(val, "auto") == 0 ? 1 : strcmp(val, "none") == 0 ? 0 : -1;
            bad = o.advise < 0;
        } else if (strcmp(a, "--data-mib") == 0) {
            bad = parse_u64(val, 1, 1u << 20, &o.data_mib);
        } else if (strcmp(a, "--budget-mib") == 0) {
            bad = parse_u64(val, 1, 1u << 20, &o.budget_mib);
        } else if (strcmp(a, "--page-size") == 0) {
            bad = parse_u64(val, 4096, 1u << 20, &v) || (v & (v - 1)) != 0;
            o.page_size = (size_t)v;
        } else if (strcmp(a, "--threads") == 0) {
            bad = parse_u64(val, 1, MAX_THREADS, &v);
            o.threads = (unsigned)v;
        } else if (strcmp(a, "--watermarks") == 0) {
            bad = sscanf(val, "%lf,%lf", &o.low, &o.high) != 2 ||
                  !(o.low > 0 && o.low < o.high && o.high <= 1);
        } else if (strcmp(a, "--max-in-flight") == 0) {
            bad = parse_u64(val, 1, 1024, &o.in_flight);
        } else if (strcmp(a, "--accesses") == 0) {
            bad = parse_u64(val, 1, UINT32_MAX, &o.accesses);
        } else if (strcmp(a, "--warmup") == 0) {
            bad = parse_u64(val, 0, UINT32_MAX, &v);
            o.warmup = (int64_t)v;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_u64(val, 0, UINT64_MAX, &o.seed);
        } else if (strcmp(a, "--max-seconds") == 0 || strcmp(a, "--migration-mbs") == 0) {
            char *end;
            double d = strtod(val, &end);

            bad = *end != '\0' || !(d >= 0.0 && d < 1e9);
            *(a[3] == 'a' ? &o.max_seconds : &o.migration_mbs) = d;
        } else if (strcmp(a, "--zipf") == 0) {
            char *end;

            o.zipf = strtod(val, &end);
            bad = *end != '\0' || !(o.zipf > 0.0 && o.zipf < 2.0) || fabs(o.zipf - 1.0) < 1e-3;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "bench_store: bad value for %s: %s\n", a, val);
            usage();
            return 2;
        }
    }
    if (o.mode == NULL || data_pages(&o) == 0 || data_pages(&o) > UINT32_MAX ||
        (o.budget_mib << 20) < o.page_size) {
        usage();
        return 2;
    }
    if (strcmp(o.mode, "store") == 0) {
        if (o.dir == NULL) {
            fprintf(stderr, "bench_store: --mode store needs --dir\n");
            return 2;
        }
        return mode_store(&o);
    }
    if (o.file == NULL) {
        fprintf(stderr, "bench_store: --mode %s needs --file\n", o.mode);
        return 2;
    }
    if (strcmp(o.mode, "create") == 0) {
        return mode_create(&o);
    }
    if (o.npatterns != 1 && strcmp(o.mode, "create") != 0) {
        fprintf(stderr, "bench_store: --mode %s takes one --pattern\n", o.mode);
        return 2;
    }
    if (strcmp(o.mode, "mmap") == 0) {
        return mode_mmap(&o, (pattern_t)o.patterns[0]);
    }
    if (strcmp(o.mode, "iolog") == 0) {
        return mode_iolog(&o, (pattern_t)o.patterns[0]);
    }
    usage();
    return 2;
}
