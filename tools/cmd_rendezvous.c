/*
 * `distmem rendezvous`: a standalone rendezvous store, for jobs whose ranks
 * are started by hand (or by another launcher) with DISTMEM_RANK,
 * DISTMEM_NRANKS and DISTMEM_RDV.
 *
 * It prints "listening on HOST:PORT" on stdout once it accepts connections
 * (with the real port when 0 was asked), serves until every rank said
 * goodbye (exit 0), or until a rank failed and the connections of the others
 * closed (exit 1, naming the rank; at most 10 s after the failure).
 * SIGINT/SIGTERM stop it (exit 130/143).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "rdv_proto.h"
#include "rdv_server.h"
#include "status.h"
#include "tools.h"
#include "util.h"

#define DM_RDV_TOOL_LINGER_NS (10ull * DM_NSEC_PER_SEC)

extern char **environ;

static volatile sig_atomic_t dm_rdv_tool_stop;

static void dm_rdv_tool_on_signal(int sig)
{
    dm_rdv_tool_stop = sig;
}

static void dm_rdv_tool_usage(FILE *out)
{
    fprintf(out,
            "usage: distmem rendezvous --listen HOST:PORT -n NRANKS [--job-key KEY]\n"
            "\n"
            "Serves the rendezvous store of a job of NRANKS ranks started by hand:\n"
            "  DISTMEM_RANK=r DISTMEM_NRANKS=NRANKS DISTMEM_RDV=HOST:PORT program\n"
            "HOST 0.0.0.0 or * listens on every interface; PORT 0 picks a free port\n"
            "(printed as \"listening on HOST:PORT\"). The job key defaults to\n"
            "$DISTMEM_JOB_KEY, else empty. Exits 0 once every rank said goodbye, 1 when\n"
            "a rank failed, 2 on bad arguments.\n");
}

int dm_tool_rendezvous(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "np", required_argument, NULL, 'n' },
        { "nranks", required_argument, NULL, 'n' },
        { "job-key", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *listen_addr = NULL, *key = getenv("DISTMEM_JOB_KEY");
    char host[256];
    uint16_t port;
    long nranks = -1;
    dm_rdv_server_t *srv;
    dm_rdv_server_info_t info;
    dm_config_t cfg;
    struct sigaction sa;
    uint64_t failed_at = 0;
    int c, reported = 0, status;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:n:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_addr = optarg;
            break;
        case 'n':
            if (dm_tool_parse_int(optarg, 1, 16777216, &nranks)) {
                fprintf(stderr, "distmem rendezvous: -n wants a number of ranks, not \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            dm_rdv_tool_usage(stdout);
            return 0;
        default:
            dm_rdv_tool_usage(stderr);
            return 2;
        }
    }
    if (listen_addr == NULL || nranks < 1 || optind != argc) {
        dm_rdv_tool_usage(stderr);
        return 2;
    }
    if (dm_rdv_parse_addr(listen_addr, host, sizeof(host), &port, 1) != DM_OK) {
        fprintf(stderr, "distmem rendezvous: %s\n", dm_last_error());
        return 2;
    }
    if (dm_config_load(&cfg, environ) == DM_OK) {
        dm_log_set_level((dm_log_level_t)cfg.log_level);
    }
    if (dm_rdv_server_create(listen_addr, (int)nranks, key, &srv) != DM_OK) {
        fprintf(stderr, "distmem rendezvous: %s\n", dm_last_error());
        return 1;
    }
    printf("listening on %s%s%s:%u\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", dm_rdv_server_port(srv));
    fflush(stdout);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = dm_rdv_tool_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (;;) {
        if (dm_rdv_tool_stop) {
            fprintf(stderr, "distmem rendezvous: stopped by %s\n", strsignal(dm_rdv_tool_stop));
            status = 128 + dm_rdv_tool_stop;
            break;
        }
        if (dm_rdv_server_all_done(srv)) {
            fprintf(stderr, "distmem rendezvous: all %ld ranks finished\n", nranks);
            status = 0;
            break;
        }
        dm_rdv_server_query(srv, &info);
        if (info.first_failed >= 0) {
            if (!reported) {
                fprintf(stderr, "distmem rendezvous: rank %d failed: %s\n", info.first_failed,
                        info.first_reason);
                reported = 1;
                failed_at = dm_time_ns();
            }
            if (info.njoined == 0 || dm_time_ns() - failed_at >= DM_RDV_TOOL_LINGER_NS) {
                status = 1;
                break;
            }
        }
        if (dm_rdv_server_progress(srv, 200) != DM_OK) {
            fprintf(stderr, "distmem rendezvous: %s\n", dm_last_error());
            status = 1;
            break;
        }
    }
    dm_rdv_server_destroy(srv);
    return status;
}
