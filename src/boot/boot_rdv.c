/*
 * The rdv bootstrap backend: a client of the TCP rendezvous store
 * (rdv_server.h, frames in rdv_proto.h).
 *
 * One TCP connection per rank, open for the life of the job: the store learns
 * of this rank's death when it closes without BYE, and tells us of others'
 * through FAILED notices on the same stream. Notices can arrive in the middle
 * of any wait; they are queued (each failed rank once) and handed out by
 * poll_failed. At most one GET or FENCE is outstanding (the caller serializes
 * use of a dm_boot_t); an answer whose req_id is not the one awaited belongs
 * to a request that timed out and is dropped.
 *
 * Every wait is bounded by DISTMEM_BOOT_TIMEOUT. Once the connection breaks
 * (store gone, protocol error), every operation fails with DM_ERR_BOOTSTRAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "boot_backends.h"
#include "log.h"
#include "rdv_proto.h"
#include "status.h"
#include "util.h"

#define DM_BOOT_RDV_BACKOFF_MIN_NS (10ull * 1000 * 1000)
#define DM_BOOT_RDV_BACKOFF_MAX_NS (500ull * 1000 * 1000)
#define DM_BOOT_RDV_BYE_WAIT_NS    (5ull * DM_NSEC_PER_SEC)

typedef struct dm_boot_rdv {
    dm_boot_t super;
    int       fd;
    int       broken;    /* connection unusable: every operation fails */
    uint32_t  next_req;
    char      addr[DM_CONFIG_STRING_MAX];
    uint8_t  *in;        /* received bytes [in_off, in_len) not yet decoded */
    size_t    in_off, in_len, in_cap;
    uint8_t  *out;       /* DM_RDV_FRAME_MAX bytes: one frame being sent */
    int      *fq;        /* failed ranks not handed out yet: ring of nranks */
    size_t    fq_head, fq_count;
    uint8_t  *fseen;     /* per rank: a FAILED notice was received */
} dm_boot_rdv_t;

static double dm_boot_rdv_secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static int dm_boot_rdv_ms_left(uint64_t deadline)
{
    uint64_t now = dm_time_ns();

    if (now >= deadline) {
        return 0;
    }
    return (int)DM_MIN((deadline - now + 999999) / 1000000, 1000u * 3600);
}

static void dm_boot_rdv_note_failed(dm_boot_rdv_t *b, uint32_t rank, const dm_rdv_msg_t *m)
{
    if (rank >= (uint32_t)b->super.nranks || b->fseen[rank]) {
        return;
    }
    b->fseen[rank] = 1;
    b->fq[(b->fq_head + b->fq_count) % (size_t)b->super.nranks] = (int)rank;
    b->fq_count++;
    DM_INFO("rendezvous says rank %u failed: %.*s", rank, (int)m->data_len,
            (const char *)m->data);
}

static dm_status_t dm_boot_rdv_break(dm_boot_rdv_t *b, dm_status_t st, const char *what)
{
    if (!b->broken) {
        DM_ERROR("lost the rendezvous at %s: %s", b->addr, what);
    }
    b->broken = 1;
    return dm_error_set(st, "lost the rendezvous at %s: %s", b->addr, what);
}

/* Sends msg whole, waiting until deadline. */
static dm_status_t dm_boot_rdv_send(dm_boot_rdv_t *b, const dm_rdv_msg_t *msg, uint64_t deadline)
{
    size_t len, off = 0;
    dm_status_t st;

    if (b->broken) {
        return dm_error_set(DM_ERR_BOOTSTRAP, "the connection to the rendezvous at %s is lost",
                            b->addr);
    }
    st = dm_rdv_encode(msg, b->out, DM_RDV_FRAME_MAX, &len);
    if (st != DM_OK) {
        return st;
    }
    while (off < len) {
        ssize_t n = send(b->fd, b->out + off, len - off, MSG_NOSIGNAL);

        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p = { .fd = b->fd, .events = POLLOUT };
            int ms = dm_boot_rdv_ms_left(deadline);

            if (ms == 0) {
                /* A partial frame would desynchronize the stream for good. */
                return dm_boot_rdv_break(b, DM_ERR_TIMED_OUT, "sending timed out");
            }
            if (poll(&p, 1, ms) < 0 && errno != EINTR) {
                return dm_boot_rdv_break(b, DM_ERR_BOOTSTRAP, strerror(errno));
            }
            continue;
        }
        return dm_boot_rdv_break(b, DM_ERR_BOOTSTRAP, strerror(errno));
    }
    return DM_OK;
}

/*
 * Receives what is available, waiting at most timeout_ms (0 = do not wait).
 * need: the size the frame being assembled requires. Returns DM_OK (bytes
 * came), DM_INPROGRESS (nothing within the wait), or DM_ERR_BOOTSTRAP.
 */
static dm_status_t dm_boot_rdv_recv(dm_boot_rdv_t *b, size_t need, int timeout_ms)
{
    ssize_t n;

    if (b->in_off > 0) {
        memmove(b->in, b->in + b->in_off, b->in_len - b->in_off);
        b->in_len -= b->in_off;
        b->in_off = 0;
    }
    if (need > b->in_cap) {
        uint8_t *nb = realloc(b->in, need);

        if (nb == NULL) {
            return dm_error_set(DM_ERR_NO_MEMORY, "out of memory receiving a %zu-byte frame", need);
        }
        b->in = nb;
        b->in_cap = need;
    }
    if (timeout_ms != 0) {
        struct pollfd p = { .fd = b->fd, .events = POLLIN };
        int rc = poll(&p, 1, timeout_ms);

        if (rc < 0 && errno != EINTR) {
            return dm_boot_rdv_break(b, DM_ERR_BOOTSTRAP, strerror(errno));
        }
        if (rc <= 0) {
            return DM_INPROGRESS;
        }
    }
    n = recv(b->fd, b->in + b->in_len, b->in_cap - b->in_len, MSG_DONTWAIT);
    if (n > 0) {
        b->in_len += (size_t)n;
        return DM_OK;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return DM_INPROGRESS;
    }
    return dm_boot_rdv_break(b, DM_ERR_BOOTSTRAP,
                             n == 0 ? "it closed the connection (did the launcher exit?)"
                                    : strerror(errno));
}

/*
 * Decodes the next frame. DM_OK: *m valid until the next receive.
 * DM_INPROGRESS: incomplete, *need_p = bytes the frame needs.
 */
static dm_status_t dm_boot_rdv_next(dm_boot_rdv_t *b, dm_rdv_msg_t *m, size_t *need_p)
{
    size_t used;
    dm_status_t st = dm_rdv_decode(b->in + b->in_off, b->in_len - b->in_off, m, &used);

    if (st == DM_OK) {
        b->in_off += used;
    } else if (st == DM_INPROGRESS) {
        *need_p = used;
    } else {
        char why[DM_RDV_TEXT_MAX];

        snprintf(why, sizeof(why), "protocol error: %s", dm_last_error());
        return dm_boot_rdv_break(b, DM_ERR_PROTOCOL, why);
    }
    return st;
}

/*
 * Waits for the answer to req_id (VALUE, GET_FAILED, FENCE_DONE or
 * FENCE_FAILED), queueing FAILED notices met on the way. Returns DM_OK with
 * *m (valid until the next receive), DM_ERR_TIMED_OUT at deadline, or the
 * error that broke the connection.
 */
static dm_status_t dm_boot_rdv_wait(dm_boot_rdv_t *b, uint32_t req_id, uint64_t deadline,
                                    dm_rdv_msg_t *m)
{
    dm_status_t st;
    size_t need = DM_RDV_HDR_SIZE;

    for (;;) {
        st = dm_boot_rdv_next(b, m, &need);
        if (st == DM_OK) {
            switch (m->type) {
            case DM_RDV_FAILED:
                dm_boot_rdv_note_failed(b, m->rank, m);
                continue;
            case DM_RDV_VALUE:
            case DM_RDV_GET_FAILED:
            case DM_RDV_FENCE_DONE:
            case DM_RDV_FENCE_FAILED:
                if (m->req_id == req_id) {
                    return DM_OK;
                }
                continue; /* late answer to a request that timed out */
            default:
                return dm_boot_rdv_break(b, DM_ERR_PROTOCOL, "protocol error: unexpected frame");
            }
        }
        if (st != DM_INPROGRESS) {
            return st;
        }
        if (b->broken) {
            return dm_error_set(DM_ERR_BOOTSTRAP, "the connection to the rendezvous at %s is lost",
                                b->addr);
        }
        if (dm_time_ns() >= deadline) {
            return DM_ERR_TIMED_OUT; /* the caller says what it waited for */
        }
        st = dm_boot_rdv_recv(b, need, dm_boot_rdv_ms_left(deadline));
        if (st != DM_OK && st != DM_INPROGRESS) {
            return st;
        }
    }
}

static int dm_boot_rdv_key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    return n >= 1 && n <= DM_BOOT_KEY_MAX - 1;
}

static dm_status_t dm_boot_rdv_put(dm_boot_t *boot, const char *key, const void *value,
                                   size_t len)
{
    dm_boot_rdv_t *b = (dm_boot_rdv_t *)boot;
    dm_rdv_msg_t m = { .type = DM_RDV_PUT, .key = key, .data = value, .data_len = len };

    if (!dm_boot_rdv_key_ok(key) || len > DM_BOOT_VALUE_MAX || (len > 0 && value == NULL)) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "bootstrap put: key must be 1..%d bytes and the value at most %d "
                            "bytes (got %zu)", DM_BOOT_KEY_MAX - 1, DM_BOOT_VALUE_MAX, len);
    }
    m.key_len = strlen(key);
    return dm_boot_rdv_send(b, &m, dm_time_ns() + b->super.timeout_ns);
}

static dm_status_t dm_boot_rdv_fence(dm_boot_t *boot)
{
    dm_boot_rdv_t *b = (dm_boot_rdv_t *)boot;
    dm_rdv_msg_t m = { .type = DM_RDV_FENCE, .req_id = ++b->next_req };
    uint64_t deadline = dm_time_ns() + b->super.timeout_ns;
    dm_status_t st;

    st = dm_boot_rdv_send(b, &m, deadline);
    if (st == DM_OK) {
        st = dm_boot_rdv_wait(b, m.req_id, deadline, &m);
    }
    if (st == DM_ERR_TIMED_OUT) {
        return dm_error_set(st, "bootstrap fence did not complete within %.1f s "
                            "(a rank did not reach it; DISTMEM_BOOT_TIMEOUT)",
                            dm_boot_rdv_secs(b->super.timeout_ns));
    }
    if (st != DM_OK) {
        return st;
    }
    if (m.type == DM_RDV_FENCE_FAILED) {
        return dm_error_set(DM_ERR_PEER_FAILED, "bootstrap fence failed: %.*s", (int)m.data_len,
                            (const char *)m.data);
    }
    return DM_OK;
}

static dm_status_t dm_boot_rdv_get(dm_boot_t *boot, int rank, const char *key, void *buf,
                                   size_t cap, size_t *len_p)
{
    dm_boot_rdv_t *b = (dm_boot_rdv_t *)boot;
    dm_rdv_msg_t m = { .type = DM_RDV_GET, .req_id = ++b->next_req, .key = key };
    uint64_t deadline = dm_time_ns() + b->super.timeout_ns;
    dm_status_t st;

    if (rank < 0 || rank >= b->super.nranks || !dm_boot_rdv_key_ok(key) ||
        (cap > 0 && buf == NULL) || len_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "bootstrap get: rank %d must be in 0..%d and the key 1..%d bytes",
                            rank, b->super.nranks - 1, DM_BOOT_KEY_MAX - 1);
    }
    m.rank = (uint32_t)rank;
    m.key_len = strlen(key);
    st = dm_boot_rdv_send(b, &m, deadline);
    if (st == DM_OK) {
        st = dm_boot_rdv_wait(b, m.req_id, deadline, &m);
    }
    if (st == DM_ERR_TIMED_OUT) {
        return dm_error_set(st, "rank %d did not put key \"%s\" within %.1f s "
                            "(DISTMEM_BOOT_TIMEOUT)", rank, key,
                            dm_boot_rdv_secs(b->super.timeout_ns));
    }
    if (st != DM_OK) {
        return st;
    }
    if (m.type == DM_RDV_GET_FAILED) {
        /* The store sends FAILED before GET_FAILED: fseen tells failure from leaving. */
        st = (m.rank < (uint32_t)b->super.nranks && b->fseen[m.rank]) ? DM_ERR_PEER_FAILED
                                                                      : DM_ERR_NOT_FOUND;
        return dm_error_set(st, "bootstrap get: %.*s", (int)m.data_len, (const char *)m.data);
    }
    if (m.data_len > cap) {
        *len_p = m.data_len;
        return dm_error_set(DM_ERR_NO_SPACE, "bootstrap get: key \"%s\" of rank %d has %zu "
                            "bytes, the buffer %zu", key, rank, m.data_len, cap);
    }
    if (m.data_len > 0) {
        memcpy(buf, m.data, m.data_len);
    }
    *len_p = m.data_len;
    return DM_OK;
}

static int dm_boot_rdv_poll_failed(dm_boot_t *boot)
{
    dm_boot_rdv_t *b = (dm_boot_rdv_t *)boot;
    dm_rdv_msg_t m;
    size_t need = DM_RDV_HDR_SIZE;
    int rank, rounds;

    /* Bounded: at most a few non-blocking reads per call. */
    for (rounds = 0; b->fq_count == 0 && !b->broken && rounds < 4; rounds++) {
        dm_status_t st;

        while ((st = dm_boot_rdv_next(b, &m, &need)) == DM_OK) {
            if (m.type == DM_RDV_FAILED) {
                dm_boot_rdv_note_failed(b, m.rank, &m);
            } else if (m.type == DM_RDV_WELCOME || m.type == DM_RDV_REFUSED ||
                       m.type == DM_RDV_HELLO || m.type == DM_RDV_PUT || m.type == DM_RDV_GET ||
                       m.type == DM_RDV_FENCE || m.type == DM_RDV_BYE) {
                dm_boot_rdv_break(b, DM_ERR_PROTOCOL, "protocol error: unexpected frame");
                break;
            } /* else: a late answer to a request that timed out */
        }
        if (st != DM_INPROGRESS || b->fq_count > 0 ||
            dm_boot_rdv_recv(b, need, 0) != DM_OK) {
            break;
        }
    }
    if (b->fq_count == 0) {
        return -1;
    }
    rank = b->fq[b->fq_head];
    b->fq_head = (b->fq_head + 1) % (size_t)b->super.nranks;
    b->fq_count--;
    return rank;
}

static void dm_boot_rdv_free(dm_boot_rdv_t *b)
{
    if (b->fd >= 0) {
        close(b->fd);
    }
    free(b->in);
    free(b->out);
    free(b->fq);
    free(b->fseen);
    free(b);
}

static void dm_boot_rdv_destroy(dm_boot_t *boot, int clean)
{
    dm_boot_rdv_t *b = (dm_boot_rdv_t *)boot;
    dm_rdv_msg_t bye = { .type = DM_RDV_BYE };
    uint64_t deadline = dm_time_ns() + DM_MIN(b->super.timeout_ns, DM_BOOT_RDV_BYE_WAIT_NS);

    if (clean && !b->broken && dm_boot_rdv_send(b, &bye, deadline) == DM_OK) {
        /*
         * Wait for the store to close: closing first could reset the
         * connection before the store read our BYE, which it would then
         * report as a failure.
         */
        shutdown(b->fd, SHUT_WR);
        for (;;) {
            struct pollfd p = { .fd = b->fd, .events = POLLIN };
            int ms = dm_boot_rdv_ms_left(deadline);
            ssize_t n;

            if (ms == 0 || (poll(&p, 1, ms) < 0 && errno != EINTR)) {
                break;
            }
            n = recv(b->fd, b->in, b->in_cap, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                break; /* closed: the store has our BYE */
            }
        }
    }
    dm_boot_rdv_free(b);
}

static const dm_boot_ops_t dm_boot_rdv_ops = {
    .name = "rdv",
    .put = dm_boot_rdv_put,
    .fence = dm_boot_rdv_fence,
    .get = dm_boot_rdv_get,
    .poll_failed = dm_boot_rdv_poll_failed,
    .destroy = dm_boot_rdv_destroy,
};

/* One connect attempt to every address of host:port, each bounded by deadline. */
static int dm_boot_rdv_try_connect(const char *host, const char *port, uint64_t deadline,
                                   char *err, size_t errcap, int *fatal)
{
    struct addrinfo hints, *res = NULL, *ai;
    int rc, fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errcap, "cannot resolve \"%.128s\": %s", host, gai_strerror(rc));
        *fatal = (rc != EAI_AGAIN);
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errcap, "%s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (errno == EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int soerr = 0;
            socklen_t sl = sizeof(soerr);

            rc = poll(&p, 1, DM_MAX(dm_boot_rdv_ms_left(deadline), 1));
            if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                break;
            }
            snprintf(err, errcap, "%s", rc == 0 ? "connection timed out" : strerror(soerr));
        } else {
            snprintf(err, errcap, "%s", strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

dm_status_t dm_boot_rdv_create(const dm_config_t *cfg, dm_boot_t **boot_p)
{
    char host[DM_CONFIG_STRING_MAX], port[8], err[256] = "no address to try";
    uint16_t portnum;
    uint64_t start = dm_time_ns(), deadline, backoff = DM_BOOT_RDV_BACKOFF_MIN_NS;
    dm_rdv_msg_t hello = { .type = DM_RDV_HELLO }, m;
    dm_boot_rdv_t *b;
    dm_status_t st;
    int fatal = 0, one = 1;
    size_t need = DM_RDV_HDR_SIZE;

    st = dm_rdv_parse_addr(cfg->rdv, host, sizeof(host), &portnum, 0);
    if (st != DM_OK) {
        snprintf(err, sizeof(err), "%s", dm_last_error());
        return dm_error_set(st, "DISTMEM_RDV: %s", err);
    }
    if (cfg->nranks < 1 || cfg->rank < 0 || cfg->rank >= cfg->nranks) {
        return dm_error_set(DM_ERR_CONFIG,
                            "the rdv bootstrap needs 0 <= DISTMEM_RANK < DISTMEM_NRANKS "
                            "(got rank %ld of %ld)", cfg->rank, cfg->nranks);
    }
    snprintf(port, sizeof(port), "%u", portnum);
    deadline = start + cfg->boot_timeout;

    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return dm_error_set(DM_ERR_NO_MEMORY, "out of memory creating the rdv bootstrap");
    }
    b->fd = -1;
    b->super.ops = &dm_boot_rdv_ops;
    b->super.rank = (int)cfg->rank;
    b->super.nranks = (int)cfg->nranks;
    b->super.timeout_ns = cfg->boot_timeout;
    snprintf(b->addr, sizeof(b->addr), "%s", cfg->rdv);
    b->in_cap = 4096;
    b->in = malloc(b->in_cap);
    b->out = malloc(DM_RDV_FRAME_MAX);
    b->fq = malloc((size_t)cfg->nranks * sizeof(*b->fq));
    b->fseen = calloc((size_t)cfg->nranks, 1);
    if (b->in == NULL || b->out == NULL || b->fq == NULL || b->fseen == NULL) {
        dm_boot_rdv_free(b);
        return dm_error_set(DM_ERR_NO_MEMORY, "out of memory creating the rdv bootstrap");
    }

    /* The store may not be up yet (ranks start together): retry until the deadline. */
    for (;;) {
        b->fd = dm_boot_rdv_try_connect(host, port, deadline, err, sizeof(err), &fatal);
        if (b->fd >= 0 || fatal || dm_time_ns() >= deadline) {
            break;
        }
        {
            uint64_t left = deadline - dm_time_ns();
            uint64_t nap = DM_MIN(backoff, left);
            struct timespec ts = { (time_t)(nap / DM_NSEC_PER_SEC),
                                   (long)(nap % DM_NSEC_PER_SEC) };

            nanosleep(&ts, NULL);
            backoff = DM_MIN(backoff * 2, DM_BOOT_RDV_BACKOFF_MAX_NS);
        }
        if (dm_time_ns() >= deadline) {
            break;
        }
    }
    if (b->fd < 0) {
        dm_boot_rdv_free(b);
        if (fatal) {
            return dm_error_set(DM_ERR_BOOTSTRAP, "could not reach the rendezvous at %s: %s",
                                cfg->rdv, err);
        }
        return dm_error_set(DM_ERR_BOOTSTRAP, "could not reach the rendezvous at %s within %.1f s: %s",
                            cfg->rdv, dm_boot_rdv_secs(cfg->boot_timeout), err);
    }
    setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    hello.rank = (uint32_t)cfg->rank;
    hello.nranks = (uint32_t)cfg->nranks;
    hello.pid = (uint32_t)getpid();
    hello.key = cfg->job_key;
    hello.key_len = strlen(cfg->job_key);
    st = dm_boot_rdv_send(b, &hello, deadline);
    while (st == DM_OK) {
        st = dm_boot_rdv_next(b, &m, &need);
        if (st == DM_OK) {
            if (m.type == DM_RDV_WELCOME) {
                break;
            }
            if (m.type == DM_RDV_REFUSED) {
                st = dm_error_set(DM_ERR_BOOTSTRAP, "the rendezvous at %s refused rank %ld: %.*s",
                                  cfg->rdv, cfg->rank, (int)m.data_len, (const char *)m.data);
                break;
            }
            st = dm_boot_rdv_break(b, DM_ERR_PROTOCOL, "protocol error: unexpected frame");
            break;
        }
        if (st != DM_INPROGRESS) {
            break;
        }
        if (dm_time_ns() >= deadline) {
            st = dm_error_set(DM_ERR_BOOTSTRAP, "the rendezvous at %s did not answer rank %ld "
                              "within %.1f s", cfg->rdv, cfg->rank,
                              dm_boot_rdv_secs(cfg->boot_timeout));
            break;
        }
        st = dm_boot_rdv_recv(b, need, dm_boot_rdv_ms_left(deadline));
        if (st == DM_INPROGRESS) {
            st = DM_OK;
        }
    }
    if (st != DM_OK) {
        if (st == DM_ERR_PROTOCOL || st == DM_ERR_TIMED_OUT) {
            snprintf(err, sizeof(err), "%s", dm_last_error());
            st = dm_error_set(DM_ERR_BOOTSTRAP, "joining the rendezvous at %s: %s", cfg->rdv, err);
        }
        dm_boot_rdv_free(b);
        return st;
    }
    DM_DEBUG("joined the rendezvous at %s as rank %ld of %ld in %.3f s", cfg->rdv, cfg->rank,
             cfg->nranks, dm_boot_rdv_secs(dm_time_ns() - start));
    *boot_p = &b->super;
    return DM_OK;
}
