/*
 * `distmem run`: start the ranks of a job on this machine and watch them.
 *
 * One thread, one poll loop over: a signalfd (SIGCHLD and the signals the
 * launcher forwards) and the rendezvous server's sockets (when this launcher
 * hosts the store). Every wait in the loop has a deadline, so the launcher
 * cannot hang on a stuck rank: the worst case is grace + 2 s after a failure
 * (or after --timeout), then SIGKILL.
 *
 * Process groups and signals. The ranks run in one process group of their
 * own (led by the first rank), not in the launcher's, so a Ctrl-C at the
 * terminal reaches only the launcher, which forwards it once to every rank
 * (no rank gets it twice). A rank's stdin is /dev/null (a background process
 * group reading the terminal would be stopped); stdout and stderr are the
 * launcher's. Each rank also gets SIGTERM if the launcher dies
 * (PR_SET_PDEATHSIG), and its rendezvous connection closes then as well.
 *
 * Failure handling (the state machine of the loop):
 *   RUNNING --rank fails--> GRACE (print one line, tell the store, wait
 *   `grace` for the others to exit) --deadline--> TERM (SIGTERM to the
 *   rest) --2 s--> KILL (SIGKILL to the rest and the group).
 *   A forwarded SIGINT/SIGTERM/SIGHUP/SIGQUIT enters GRACE as well (the ranks
 *   have `grace` to exit), a second SIGINT goes to KILL at once; --timeout
 *   enters TERM.
 * Exit status: 0 when every rank exited 0; else that of the first rank that
 * failed (128 + signal when it was killed); 124 after --timeout; 127 when
 * PROGRAM cannot be found.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rdv_proto.h"
#include "rdv_server.h"
#include "status.h"
#include "tools.h"
#include "util.h"

#define DM_RUN_KILL_DELAY_NS (2ull * DM_NSEC_PER_SEC)
#define DM_RUN_MAX_LOCAL     65536

extern char **environ;

static const int dm_run_forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

typedef enum { DM_RUN_RUNNING, DM_RUN_GRACE, DM_RUN_TERM, DM_RUN_KILL } dm_run_phase_t;

typedef struct dm_run_rank {
    pid_t pid;        /* 0 once reaped */
    pid_t reaped_pid; /* its pid, once reaped */
    int   status;     /* wait status, valid once reaped */
} dm_run_rank_t;

/* --bind: where each rank's threads may run */
typedef enum dm_run_bind {
    DM_RUN_BIND_AUTO = 0, /* one CPU each when the ranks here fit the launcher's CPUs, else none */
    DM_RUN_BIND_CORE,     /* one CPU each, round robin over the launcher's CPUs */
    DM_RUN_BIND_NONE,     /* the launcher's CPUs, shared by all */
} dm_run_bind_t;

typedef struct dm_run {
    /* options */
    long              nlocal, nranks, first_rank;
    dm_run_bind_t     bind;
    const char       *tls, *rdv_opt, *job_key_opt;
    uint64_t          timeout_ns, grace_ns;
    char            **prog_argv;
    /* job */
    char              job_key[DM_RDV_JOB_KEY_MAX + 1];
    char              rdv[300];  /* what the ranks get as DISTMEM_RDV */
    dm_rdv_server_t  *srv;       /* NULL when another host serves */
    dm_run_rank_t    *ranks;     /* nlocal, index = rank - first_rank */
    long              nalive;
    pid_t             pgid;
    int               sfd;
    /* state */
    dm_run_phase_t    phase;
    uint64_t          deadline;     /* of the current phase; 0 = none */
    uint64_t          job_deadline; /* --timeout; 0 = none */
    int               timed_out;
    int               exit_status;  /* of the first failed rank; -1 = none yet */
    int               sig_forwarded; /* a terminating signal was forwarded */
    int               nint;
    uint64_t          boot_timeout;
} dm_run_t;

static void dm_run_usage(FILE *out)
{
    fprintf(out,
            "usage: distmem run -n N [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "\n"
            "Starts N ranks of PROGRAM on this machine, each with DISTMEM_RANK,\n"
            "DISTMEM_NRANKS, DISTMEM_RDV, DISTMEM_JOB_KEY and DISTMEM_BOOTSTRAP=rdv set,\n"
            "and hosts their rendezvous store on 127.0.0.1 (an ephemeral port).\n"
            "\n"
            "options:\n"
            "  -n, --np N            ranks to start here (1..%d)\n"
            "  --tls LIST            set UCX_TLS=LIST in every rank\n"
            "  --timeout DURATION    kill the job after this wall time (exit 124)\n"
            "  --grace DURATION      after a rank fails, how long the others may take to\n"
            "                        exit on their own before SIGTERM (default 3s);\n"
            "                        SIGKILL follows 2 s after SIGTERM\n"
            "  --rdv HOST:PORT       multi-host jobs: the rendezvous address. With first\n"
            "                        rank 0 this launcher serves it there; otherwise its\n"
            "                        ranks connect to it\n"
            "  --nranks TOTAL        ranks in the whole job (default N)\n"
            "  --first-rank K        rank of the first process started here (default 0)\n"
            "  --job-key KEY         the job's secret (default: $DISTMEM_JOB_KEY, else\n"
            "                        random; multi-host jobs use the same KEY everywhere)\n"
            "  --bind auto|core|none where each rank's threads run: core gives each rank\n"
            "                        one CPU of those this launcher may use, round robin;\n"
            "                        auto (default) does so when the ranks started here\n"
            "                        fit those CPUs, else none; none leaves them all to\n"
            "                        every rank\n"
            "  -h, --help            this message\n"
            "\n"
            "Durations: 500ms, 3s, 2m, or seconds. Ctrl-C and SIGTERM, SIGHUP, SIGQUIT,\n"
            "SIGUSR1, SIGUSR2 are forwarded to every rank; a second Ctrl-C kills them.\n"
            "Ranks run in their own process group with stdin from /dev/null.\n"
            "Exit status: 0 when all ranks exit 0, else that of the first failed rank\n"
            "(128+signal if killed), 124 on --timeout, 2 on bad arguments.\n",
            DM_RUN_MAX_LOCAL);
}

static int dm_run_bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "distmem run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(`distmem run --help` shows the usage)\n");
    return 2;
}

/* Returns 0, or the exit status of a usage error. */
static int dm_run_parse(dm_run_t *r, int argc, char **argv)
{
    enum { O_TLS = 256, O_TIMEOUT, O_GRACE, O_RDV, O_NRANKS, O_FIRST, O_KEY, O_BIND };
    static const struct option opts[] = {
        { "np", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { "tls", required_argument, NULL, O_TLS },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "grace", required_argument, NULL, O_GRACE },
        { "rdv", required_argument, NULL, O_RDV },
        { "nranks", required_argument, NULL, O_NRANKS },
        { "first-rank", required_argument, NULL, O_FIRST },
        { "job-key", required_argument, NULL, O_KEY },
        { "bind", required_argument, NULL, O_BIND },
        { NULL, 0, NULL, 0 },
    };
    char host[256];
    uint16_t port;
    int c;

    r->nlocal = -1;
    r->nranks = -1;
    r->first_rank = 0;
    r->grace_ns = 3 * DM_NSEC_PER_SEC;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (dm_tool_parse_int(optarg, 1, DM_RUN_MAX_LOCAL, &r->nlocal)) {
                return dm_run_bad("-n wants a number of ranks in 1..65536, not \"%s\"", optarg);
            }
            break;
        case 'h':
            dm_run_usage(stdout);
            return -1;
        case O_TLS:
            r->tls = optarg;
            break;
        case O_TIMEOUT:
            if (dm_tool_parse_duration(optarg, &r->timeout_ns) || r->timeout_ns == 0) {
                return dm_run_bad("--timeout wants a duration such as 30s or 5m, not \"%s\"",
                                  optarg);
            }
            break;
        case O_GRACE:
            if (dm_tool_parse_duration(optarg, &r->grace_ns)) {
                return dm_run_bad("--grace wants a duration such as 3s or 500ms, not \"%s\"",
                                  optarg);
            }
            break;
        case O_RDV:
            if (dm_rdv_parse_addr(optarg, host, sizeof(host), &port, 1) != DM_OK) {
                return dm_run_bad("--rdv wants HOST:PORT, not \"%s\"", optarg);
            }
            r->rdv_opt = optarg;
            break;
        case O_NRANKS:
            if (dm_tool_parse_int(optarg, 1, 16777216, &r->nranks)) {
                return dm_run_bad("--nranks wants a number in 1..16777216, not \"%s\"", optarg);
            }
            break;
        case O_FIRST:
            if (dm_tool_parse_int(optarg, 0, 16777215, &r->first_rank)) {
                return dm_run_bad("--first-rank wants a number in 0..16777215, not \"%s\"",
                                  optarg);
            }
            break;
        case O_KEY:
            if (strlen(optarg) > DM_RDV_JOB_KEY_MAX) {
                return dm_run_bad("--job-key is longer than 255 bytes%s", "");
            }
            r->job_key_opt = optarg;
            break;
        case O_BIND:
            if (strcmp(optarg, "auto") == 0) {
                r->bind = DM_RUN_BIND_AUTO;
            } else if (strcmp(optarg, "core") == 0) {
                r->bind = DM_RUN_BIND_CORE;
            } else if (strcmp(optarg, "none") == 0) {
                r->bind = DM_RUN_BIND_NONE;
            } else {
                return dm_run_bad("--bind wants auto, core or none, not \"%s\"", optarg);
            }
            break;
        default:
            return dm_run_bad("unknown option or missing value: %s",
                              optind > 1 ? argv[optind - 1] : "?");
        }
    }
    if (r->nlocal < 0) {
        return dm_run_bad("-n N is required%s", "");
    }
    if (optind >= argc) {
        return dm_run_bad("no PROGRAM to run%s", "");
    }
    r->prog_argv = argv + optind;
    if (r->nranks < 0) {
        r->nranks = r->first_rank + r->nlocal;
    }
    if (r->first_rank + r->nlocal > r->nranks) {
        return dm_run_bad("ranks first-rank .. first-rank+N-1 do not fit in --nranks%s", "");
    }
    if (r->rdv_opt == NULL && (r->first_rank != 0 || r->nranks != r->nlocal)) {
        return dm_run_bad("--nranks and --first-rank describe a multi-host job: give the "
                          "rendezvous address with --rdv HOST:PORT%s", "");
    }
    return 0;
}

/*
 * --bind, in the child with local index i (rank - first rank) before exec:
 * one CPU of the launcher's affinity set, the i-th round robin. Every thread
 * the rank starts (progress, fault handling, UCX's) inherits it. Why: a rank
 * whose threads run on two CPUs makes each change of its page tables (the
 * write-protect before a page leaves, decision 0002) interrupt the other CPU
 * to flush its TLB, a hypervisor exit on a VM; measured with bench_dsm, 2
 * ranks on 2 CPUs, 4 pairs: write miss 62 against 76 us (mean), read miss 52
 * against 56 us. A failure to bind is reported and the rank runs unbound.
 */
static void dm_run_bind_child(const dm_run_t *r, long i)
{
    cpu_set_t allowed, one;
    long n, k;
    int cpu;

    if (r->bind == DM_RUN_BIND_NONE || sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        return;
    }
    n = CPU_COUNT(&allowed);
    if (n < 1 || (r->bind == DM_RUN_BIND_AUTO && (r->nlocal < 2 || r->nlocal > n))) {
        return;
    }
    k = i % n;
    for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed) && k-- == 0) {
            break;
        }
    }
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
        fprintf(stderr, "distmem run: rank %ld: cannot bind to CPU %d (%s); running unbound\n",
                r->first_rank + i, cpu, strerror(errno));
    }
}

/* PROGRAM exists and is executable (as execvp would find it)? */
static int dm_run_find_program(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    if (strchr(prog, '/') != NULL) {
        return access(prog, X_OK) == 0 ? 0 : -1;
    }
    if (path == NULL) {
        path = "/usr/bin:/bin";
    }
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        struct stat st;

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".", prog);
        if (n == 0) {
            snprintf(buf, sizeof(buf), "./%s", prog);
        }
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) {
            return 0;
        }
        if (!colon) {
            break;
        }
        path = colon + 1;
    }
    errno = ENOENT;
    return -1;
}

static int dm_run_make_key(char *key, size_t cap)
{
    unsigned char raw[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t i;

    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    for (i = 0; i < sizeof(raw) && 2 * i + 2 < cap; i++) {
        snprintf(key + 2 * i, 3, "%02x", raw[i]);
    }
    return 0;
}

static void dm_run_describe(char *buf, size_t cap, long rank, pid_t pid, int status)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, cap, "rank %ld (pid %d) was killed by signal %d (%s)%s", rank, (int)pid,
                 WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, cap, "rank %ld (pid %d) exited with status %d", rank, (int)pid,
                 WEXITSTATUS(status));
    }
}

static void dm_run_signal_all(dm_run_t *r, int sig)
{
    long i;

    for (i = 0; i < r->nlocal; i++) {
        if (r->ranks[i].pid > 0) {
            kill(r->ranks[i].pid, sig);
        }
    }
    if (sig == SIGKILL && r->pgid > 0) {
        kill(-r->pgid, SIGKILL); /* and whatever the ranks started */
    }
}

static void dm_run_enter(dm_run_t *r, dm_run_phase_t phase)
{
    uint64_t now = dm_time_ns();

    if (phase <= r->phase) {
        return;
    }
    r->phase = phase;
    switch (phase) {
    case DM_RUN_GRACE:
        r->deadline = now + r->grace_ns;
        break;
    case DM_RUN_TERM:
        if (r->nalive > 0) {
            dm_run_signal_all(r, SIGTERM);
        }
        r->deadline = now + DM_RUN_KILL_DELAY_NS;
        break;
    case DM_RUN_KILL:
        if (r->nalive > 0) {
            fprintf(stderr, "distmem run: killing %ld rank%s that did not exit after SIGTERM\n",
                    r->nalive, r->nalive == 1 ? "" : "s");
        }
        dm_run_signal_all(r, SIGKILL);
        r->deadline = 0;
        break;
    default:
        break;
    }
}

static void dm_run_on_exit(dm_run_t *r, long i)
{
    long rank = r->first_rank + i;
    int status = r->ranks[i].status;
    char what[200];

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return;
    }
    dm_run_describe(what, sizeof(what), rank, r->ranks[i].reaped_pid, status);
    if (r->exit_status < 0) {
        r->exit_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
    /*
     * One line per failure while the job runs on its own; once the
     * launcher itself stops the ranks, their deaths are expected.
     */
    if (r->phase < DM_RUN_TERM && !r->sig_forwarded) {
        fprintf(stderr, "distmem run: %s\n", what);
    }
    if (r->srv != NULL) {
        dm_rdv_server_mark_failed(r->srv, (int)rank, what);
    }
    dm_run_enter(r, DM_RUN_GRACE);
}

/*
 * Reaps every rank that ended. Ranks reaped in one batch died close
 * together; the store saw their connections close in the true order, so
 * the one it saw fail first is reported first (a rank dying of another's
 * failure must not be taken for the cause).
 */
static void dm_run_reap(dm_run_t *r)
{
    long batch[64], nbatch = 0, i, j;
    int first = -1;

    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid <= 0) {
            break;
        }
        for (i = 0; i < r->nlocal && r->ranks[i].pid != pid; i++) {
        }
        if (i == r->nlocal) {
            continue; /* not a rank */
        }
        r->ranks[i].pid = 0;
        r->ranks[i].reaped_pid = pid;
        r->ranks[i].status = status;
        r->nalive--;
        batch[nbatch++] = i;
        if (nbatch == (long)DM_ARRAY_SIZE(batch)) {
            break;
        }
    }
    if (nbatch == 0) {
        return;
    }
    if (r->srv != NULL && nbatch > 1) {
        dm_rdv_server_info_t info;

        dm_rdv_server_query(r->srv, &info);
        first = info.first_failed;
    }
    for (j = 0; j < nbatch; j++) {
        if (r->first_rank + batch[j] == first) {
            dm_run_on_exit(r, batch[j]);
        }
    }
    for (j = 0; j < nbatch; j++) {
        if (r->first_rank + batch[j] != first) {
            dm_run_on_exit(r, batch[j]);
        }
    }
    if (nbatch == (long)DM_ARRAY_SIZE(batch)) {
        dm_run_reap(r);
    }
}

static void dm_run_on_signal(dm_run_t *r, int sig)
{
    long i;

    if (sig == SIGCHLD) {
        return; /* reaped after every poll round */
    }
    for (i = 0; i < r->nlocal; i++) {
        if (r->ranks[i].pid > 0) {
            kill(r->ranks[i].pid, sig);
        }
    }
    if (sig == SIGUSR1 || sig == SIGUSR2) {
        return;
    }
    if (!r->sig_forwarded) {
        fprintf(stderr, "distmem run: forwarded %s to %ld rank%s\n", strsignal(sig), r->nalive,
                r->nalive == 1 ? "" : "s");
    }
    r->sig_forwarded = 1;
    if (sig == SIGINT && ++r->nint >= 2) {
        dm_run_enter(r, DM_RUN_KILL);
    } else {
        dm_run_enter(r, DM_RUN_GRACE);
    }
}

static void dm_run_drain_signals(dm_run_t *r)
{
    struct signalfd_siginfo si;

    while (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        dm_run_on_signal(r, (int)si.ssi_signo);
    }
}

static void dm_run_child(dm_run_t *r, long rank, pid_t parent, const sigset_t *oldmask)
{
    char num[32];
    size_t i;
    int fd;

    setpgid(0, r->pgid); /* the parent does it too: whoever runs first wins */
    if (getpgrp() != (r->pgid ? r->pgid : getpid())) {
        setpgid(0, 0);
    }
    for (i = 0; i < DM_ARRAY_SIZE(dm_run_forwarded); i++) {
        signal(dm_run_forwarded[i], SIG_DFL);
    }
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
        _exit(1); /* the launcher is already gone */
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        if (fd != STDIN_FILENO) close(fd);
    }
    dm_run_bind_child(r, rank - r->first_rank);
    snprintf(num, sizeof(num), "%ld", rank);
    setenv("DISTMEM_RANK", num, 1);
    snprintf(num, sizeof(num), "%ld", r->nranks);
    setenv("DISTMEM_NRANKS", num, 1);
    setenv("DISTMEM_RDV", r->rdv, 1);
    setenv("DISTMEM_JOB_KEY", r->job_key, 1);
    setenv("DISTMEM_BOOTSTRAP", "rdv", 1);
    if (r->tls != NULL) {
        setenv("UCX_TLS", r->tls, 1);
    }
    execvp(r->prog_argv[0], r->prog_argv);
    fprintf(stderr, "distmem run: rank %ld: cannot execute %s: %s\n", rank, r->prog_argv[0],
            strerror(errno));
    _exit(127);
}

/* Serves the store and watches the ranks until the job is over. */
static void dm_run_loop(dm_run_t *r)
{
    struct pollfd *pfds = NULL;
    size_t cap = 0;
    uint64_t local_end = 0;

    for (;;) {
        size_t n = 1, nsrv = r->srv ? dm_rdv_server_fd_count(r->srv) : 0;
        uint64_t now = dm_time_ns(), next = UINT64_MAX;
        int timeout_ms, rc;

        /* Deadlines first: they may change what we wait for. */
        if (r->job_deadline && now >= r->job_deadline && !r->timed_out) {
            r->timed_out = 1;
            fprintf(stderr, "distmem run: the job ran past --timeout %.1f s; stopping %ld "
                    "running rank%s\n", (double)r->timeout_ns / 1e9, r->nalive,
                    r->nalive == 1 ? "" : "s");
            dm_run_enter(r, DM_RUN_TERM);
        }
        if (r->deadline && now >= r->deadline && r->nalive > 0) {
            if (r->phase == DM_RUN_GRACE) {
                fprintf(stderr, "distmem run: %ld rank%s still running %.1f s after the "
                        "%s; sending SIGTERM\n", r->nalive, r->nalive == 1 ? "" : "s",
                        (double)r->grace_ns / 1e9, r->exit_status >= 0 ? "failure" : "signal");
                dm_run_enter(r, DM_RUN_TERM);
            } else if (r->phase == DM_RUN_TERM) {
                dm_run_enter(r, DM_RUN_KILL);
            }
        }

        if (r->nalive == 0) {
            dm_rdv_server_info_t info;

            if (r->srv == NULL || r->nranks == r->nlocal) {
                break;
            }
            /* This launcher serves ranks of other hosts: stay while they need it. */
            dm_rdv_server_query(r->srv, &info);
            if (local_end == 0) {
                local_end = now;
                if (info.njoined > 0 || info.nnew > 0) {
                    fprintf(stderr, "distmem run: local ranks done; serving the rendezvous "
                            "until the ranks of the other hosts finish\n");
                }
            }
            if (info.njoined == 0 &&
                (info.nnew == 0 || now - local_end >= r->boot_timeout)) {
                break;
            }
            if (r->exit_status >= 0 && now - local_end >= r->grace_ns + DM_RUN_KILL_DELAY_NS) {
                break;
            }
            next = DM_MIN(next, now + DM_NSEC_PER_SEC);
        }
        if (r->job_deadline && !r->timed_out) {
            next = DM_MIN(next, r->job_deadline);
        }
        if (r->deadline) {
            next = DM_MIN(next, r->deadline);
        }
        timeout_ms = next == UINT64_MAX ? 1000 : (int)DM_MIN((next - now + 999999) / 1000000, 1000);

        if (cap < 1 + nsrv) {
            struct pollfd *np = realloc(pfds, (1 + nsrv) * sizeof(*pfds));

            if (np == NULL) {
                poll(NULL, 0, 10); /* out of memory: keep reaping, serve later */
                dm_run_drain_signals(r);
                dm_run_reap(r);
                continue;
            }
            pfds = np;
            cap = 1 + nsrv;
        }
        pfds[0].fd = r->sfd;
        pfds[0].events = POLLIN;
        pfds[0].revents = 0;
        if (r->srv != NULL) {
            dm_rdv_server_fill_pollfds(r->srv, pfds + 1);
            n += nsrv;
        }
        rc = poll(pfds, (nfds_t)n, timeout_ms);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "distmem run: poll: %s\n", strerror(errno));
            poll(NULL, 0, 10);
        }
        if (rc > 0 && r->srv != NULL) {
            dm_rdv_server_handle_pollfds(r->srv, pfds + 1, nsrv);
        }
        dm_run_drain_signals(r);
        dm_run_reap(r);
    }
    free(pfds);
}

int dm_tool_run(int argc, char **argv)
{
    dm_run_t run, *r = &run;
    dm_config_t cfg;
    sigset_t mask, oldmask;
    const char *env_key = getenv("DISTMEM_JOB_KEY");
    char host[256];
    uint16_t port;
    pid_t self = getpid();
    long i;
    size_t k;
    int rc;

    memset(r, 0, sizeof(*r));
    r->exit_status = -1;
    r->sfd = -1;
    rc = dm_run_parse(r, argc, argv);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    /* The ranks would refuse a broken environment; say so once, here. */
    if (dm_config_load(&cfg, environ) != DM_OK) {
        fprintf(stderr, "distmem run: %s\n", dm_last_error());
        return 1;
    }
    r->boot_timeout = cfg.boot_timeout;
    dm_log_set_level((dm_log_level_t)cfg.log_level);
    if (dm_run_find_program(r->prog_argv[0]) != 0) {
        fprintf(stderr, "distmem run: %s: %s\n", r->prog_argv[0],
                strchr(r->prog_argv[0], '/') ? strerror(errno) : "command not found");
        return 127;
    }

    if (r->job_key_opt != NULL) {
        snprintf(r->job_key, sizeof(r->job_key), "%s", r->job_key_opt);
    } else if (env_key != NULL) {
        snprintf(r->job_key, sizeof(r->job_key), "%s", env_key);
    } else if (r->nranks != r->nlocal) {
        r->job_key[0] = '\0'; /* the hosts must agree: no random key */
    } else if (dm_run_make_key(r->job_key, sizeof(r->job_key)) != 0) {
        fprintf(stderr, "distmem run: cannot read /dev/urandom for the job key: %s\n",
                strerror(errno));
        return 1;
    }

    if (r->rdv_opt == NULL || r->first_rank == 0) {
        dm_status_t st = dm_rdv_server_create(r->rdv_opt ? r->rdv_opt : "127.0.0.1:0",
                                              (int)r->nranks, r->job_key, &r->srv);

        if (st != DM_OK) {
            fprintf(stderr, "distmem run: cannot start the rendezvous: %s\n", dm_last_error());
            return 1;
        }
        port = dm_rdv_server_port(r->srv);
        if (r->rdv_opt == NULL) {
            snprintf(r->rdv, sizeof(r->rdv), "127.0.0.1:%u", port);
        } else {
            dm_rdv_parse_addr(r->rdv_opt, host, sizeof(host), &port, 1);
            port = dm_rdv_server_port(r->srv);
            if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
                snprintf(r->rdv, sizeof(r->rdv), "127.0.0.1:%u", port);
            } else {
                snprintf(r->rdv, sizeof(r->rdv), "%s%s%s:%u", strchr(host, ':') ? "[" : "",
                         host, strchr(host, ':') ? "]" : "", port);
            }
            fprintf(stderr, "distmem run: rendezvous for %ld ranks listening on %s (port %u)\n",
                    r->nranks, r->rdv_opt, port);
        }
    } else {
        snprintf(r->rdv, sizeof(r->rdv), "%s", r->rdv_opt);
    }

    r->ranks = calloc((size_t)r->nlocal, sizeof(*r->ranks));
    if (r->ranks == NULL) {
        fprintf(stderr, "distmem run: out of memory\n");
        dm_rdv_server_destroy(r->srv);
        return 1;
    }
    if (r->timeout_ns) {
        r->job_deadline = dm_time_ns() + r->timeout_ns;
    }

    sigemptyset(&mask);
    for (k = 0; k < DM_ARRAY_SIZE(dm_run_forwarded); k++) {
        sigaddset(&mask, dm_run_forwarded[k]);
    }
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &oldmask);
    signal(SIGPIPE, SIG_IGN);
    r->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r->sfd < 0) {
        fprintf(stderr, "distmem run: signalfd: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        dm_rdv_server_destroy(r->srv);
        free(r->ranks);
        return 1;
    }
    fflush(NULL);

    for (i = 0; i < r->nlocal; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            dm_run_child(r, r->first_rank + i, self, &oldmask);
        }
        if (pid < 0) {
            fprintf(stderr, "distmem run: cannot start rank %ld: %s\n", r->first_rank + i,
                    strerror(errno));
            if (r->exit_status < 0) {
                r->exit_status = 1;
            }
            if (r->srv != NULL) {
                dm_rdv_server_mark_failed(r->srv, (int)(r->first_rank + i),
                                          "the launcher could not start it");
            }
            /* The started ones learn of it through the store; stop them all. */
            for (; i < r->nlocal; i++) {
                r->ranks[i].pid = 0;
            }
            dm_run_enter(r, DM_RUN_TERM);
            break;
        }
        if (r->pgid == 0) {
            r->pgid = pid;
        }
        setpgid(pid, r->pgid);
        r->ranks[i].pid = pid;
        r->nalive++;
    }

    dm_run_loop(r);

    if (r->srv != NULL) {
        dm_rdv_server_info_t info;

        dm_rdv_server_query(r->srv, &info);
        if (r->exit_status < 0 && info.first_failed >= 0 && r->nranks != r->nlocal) {
            fprintf(stderr, "distmem run: %s\n", info.first_reason);
        }
    }
    dm_rdv_server_destroy(r->srv);
    close(r->sfd);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    free(r->ranks);
    if (r->timed_out) {
        return 124;
    }
    if (r->exit_status < 0 && r->sig_forwarded) {
        return 0; /* every rank handled the signal and exited 0 */
    }
    return r->exit_status < 0 ? 0 : r->exit_status;
}
