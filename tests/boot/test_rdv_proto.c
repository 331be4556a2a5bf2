/*
 * Unit test of the rendezvous frames (rdv_proto.h): every type round-trips;
 * truncated input asks for more and never reads past the bytes given;
 * malformed and oversized frames are DM_ERR_PROTOCOL; encoding refuses
 * out-of-range fields; HOST:PORT parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdv_proto.h"
#include "status.h"

static int failures;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, dm_last_error());                            \
            failures++;                                                           \
        }                                                                         \
    } while (0)

static uint8_t frame[DM_RDV_FRAME_MAX + 64];

static int same(const void *a, const void *b, size_t n)
{
    return n == 0 || (a != NULL && b != NULL && !memcmp(a, b, n));
}

static size_t encode(const dm_rdv_msg_t *m)
{
    size_t len = 0;
    dm_status_t st = dm_rdv_encode(m, frame, sizeof(frame), &len);

    CHECK(st == DM_OK);
    CHECK(len == dm_rdv_frame_size(m));
    return len;
}

/* Decodes frame[0..len) from an exact-size heap copy, so ASan sees any overread. */
static dm_status_t decode_exact(size_t len, dm_rdv_msg_t *m, size_t *used)
{
    uint8_t *copy = malloc(len ? len : 1);
    dm_status_t st;

    memcpy(copy, frame, len);
    st = dm_rdv_decode(copy, len, m, used);
    if (st == DM_OK) {
        /* The pointers must lie inside the copy; re-point them to frame. */
        if (m->key) m->key = (const char *)frame + ((const uint8_t *)m->key - copy);
        if (m->data) m->data = frame + ((const uint8_t *)m->data - copy);
    }
    free(copy);
    return st;
}

static void roundtrip(const dm_rdv_msg_t *in)
{
    dm_rdv_msg_t out;
    size_t len = encode(in), used = 0, cut;
    dm_status_t st;

    st = decode_exact(len, &out, &used);
    CHECK(st == DM_OK);
    CHECK(used == len);
    CHECK(out.type == in->type);
    switch (in->type) {
    case DM_RDV_HELLO:
        CHECK(out.rank == in->rank && out.nranks == in->nranks && out.pid == in->pid);
        CHECK(out.key_len == in->key_len && same(out.key, in->key, in->key_len));
        break;
    case DM_RDV_PUT:
        CHECK(out.key_len == in->key_len && same(out.key, in->key, in->key_len));
        CHECK(out.data_len == in->data_len && same(out.data, in->data, in->data_len));
        break;
    case DM_RDV_GET:
        CHECK(out.req_id == in->req_id && out.rank == in->rank);
        CHECK(out.key_len == in->key_len && same(out.key, in->key, in->key_len));
        break;
    case DM_RDV_VALUE:
        CHECK(out.req_id == in->req_id);
        CHECK(out.data_len == in->data_len && same(out.data, in->data, in->data_len));
        break;
    case DM_RDV_GET_FAILED:
    case DM_RDV_FENCE_FAILED:
        CHECK(out.req_id == in->req_id && out.rank == in->rank);
        CHECK(out.data_len == in->data_len && same(out.data, in->data, in->data_len));
        break;
    case DM_RDV_FAILED:
        CHECK(out.rank == in->rank);
        CHECK(out.data_len == in->data_len && same(out.data, in->data, in->data_len));
        break;
    case DM_RDV_REFUSED:
        CHECK(out.data_len == in->data_len && same(out.data, in->data, in->data_len));
        break;
    case DM_RDV_FENCE:
    case DM_RDV_FENCE_DONE:
        CHECK(out.req_id == in->req_id);
        break;
    default:
        break;
    }
    /* Every proper prefix is incomplete, never an error, never an overread. */
    for (cut = 0; cut < len; cut += (len > 4096 ? 997 : 1)) {
        st = decode_exact(cut, &out, &used);
        CHECK(st == DM_INPROGRESS);
        CHECK(used > cut && used <= len);
    }
}

static void test_roundtrips(void)
{
    static uint8_t big[DM_BOOT_VALUE_MAX];
    char key63[DM_BOOT_KEY_MAX];
    char jobkey[DM_RDV_JOB_KEY_MAX + 1];
    const char *text = "rank 2 (pid 4711) was killed by signal 9 (Killed)";
    size_t i;

    for (i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 7 + 3);
    memset(key63, 'k', DM_BOOT_KEY_MAX - 1);
    key63[DM_BOOT_KEY_MAX - 1] = '\0';
    memset(jobkey, 'j', DM_RDV_JOB_KEY_MAX);
    jobkey[DM_RDV_JOB_KEY_MAX] = '\0';

    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_HELLO, .rank = 3, .nranks = 1024, .pid = 99,
                               .key = "secret", .key_len = 6 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_HELLO, .rank = 0, .nranks = 1, .key = "",
                               .key_len = 0 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_HELLO, .rank = 0xFFFFFF, .nranks = 0x1000000,
                               .key = jobkey, .key_len = DM_RDV_JOB_KEY_MAX });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_WELCOME });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_REFUSED, .data = "wrong job key", .data_len = 13 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "addr", .key_len = 4, .data = big,
                               .data_len = 100 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = key63, .key_len = DM_BOOT_KEY_MAX - 1,
                               .data = big, .data_len = DM_BOOT_VALUE_MAX });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "empty", .key_len = 5 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_GET, .req_id = 77, .rank = 5, .key = "addr",
                               .key_len = 4 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_VALUE, .req_id = 78, .data = big,
                               .data_len = DM_BOOT_VALUE_MAX });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_VALUE, .req_id = 79 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_GET_FAILED, .req_id = 80, .rank = 2, .data = text,
                               .data_len = strlen(text) });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 81 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_FENCE_DONE, .req_id = 81 });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_FENCE_FAILED, .req_id = 82, .rank = 1, .data = text,
                               .data_len = strlen(text) });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_FAILED, .rank = 2, .data = text,
                               .data_len = strlen(text) });
    roundtrip(&(dm_rdv_msg_t){ .type = DM_RDV_BYE });
}

static void test_encode_rejects(void)
{
    static uint8_t big[DM_BOOT_VALUE_MAX + 1];
    char key64[DM_BOOT_KEY_MAX + 1], text[DM_RDV_TEXT_MAX + 2];
    uint8_t small[16];
    size_t len = 12345;

    memset(key64, 'k', DM_BOOT_KEY_MAX);
    key64[DM_BOOT_KEY_MAX] = '\0';
    memset(text, 't', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';

    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "", .key_len = 0 }, frame,
                        sizeof(frame), &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = key64,
                                         .key_len = DM_BOOT_KEY_MAX }, frame, sizeof(frame),
                        &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "a\0b", .key_len = 3 }, frame,
                        sizeof(frame), &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "k", .key_len = 1,
                                         .data = big, .data_len = sizeof(big) }, frame,
                        sizeof(frame), &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_FAILED, .data = text,
                                         .data_len = strlen(text) }, frame, sizeof(frame),
                        &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = (dm_rdv_type_t)0 }, frame, sizeof(frame),
                        &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = (dm_rdv_type_t)99 }, frame, sizeof(frame),
                        &len) == DM_ERR_INVALID_PARAM);
    CHECK(dm_rdv_encode(&(dm_rdv_msg_t){ .type = DM_RDV_GET, .key = "abc", .key_len = 3 }, small,
                        sizeof(small), &len) == DM_ERR_NO_SPACE);
    CHECK(len == 12345); /* out-parameter untouched on failure */
    CHECK(dm_rdv_frame_size(&(dm_rdv_msg_t){ .type = DM_RDV_PUT, .key = "", .key_len = 0 }) == 0);
}

/* Builds a frame header by hand. */
static void put_hdr(uint32_t magic, uint8_t version, uint8_t type, uint16_t reserved,
                    uint32_t blen)
{
    frame[0] = (uint8_t)(magic >> 24);
    frame[1] = (uint8_t)(magic >> 16);
    frame[2] = (uint8_t)(magic >> 8);
    frame[3] = (uint8_t)magic;
    frame[4] = version;
    frame[5] = type;
    frame[6] = (uint8_t)(reserved >> 8);
    frame[7] = (uint8_t)reserved;
    frame[8] = (uint8_t)(blen >> 24);
    frame[9] = (uint8_t)(blen >> 16);
    frame[10] = (uint8_t)(blen >> 8);
    frame[11] = (uint8_t)blen;
}

static dm_status_t decode_hdr_body(const void *body, size_t blen)
{
    dm_rdv_msg_t m;
    size_t used;

    memcpy(frame + DM_RDV_HDR_SIZE, body, blen);
    return decode_exact(DM_RDV_HDR_SIZE + blen, &m, &used);
}

static void test_malformed(void)
{
    dm_rdv_msg_t m;
    size_t used, len;

    /* Header-level errors are found from the header alone. */
    put_hdr(0x47455420u /* "GET " as from an HTTP client */, 1, DM_RDV_BYE, 0, 0);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 2, DM_RDV_BYE, 0, 0);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, 0, 0, 0);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_TYPE_LAST + 1, 0, 0);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_BYE, 1, 0);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);

    /* Oversized: refused before the body arrives (only the header is given). */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, 0xFFFFFFFFu);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, DM_RDV_BODY_MAX + 1);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_FENCE, 0, 5);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_WELCOME, 0, 1);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_FAILED, 0, 4 + DM_RDV_TEXT_MAX + 1);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);
    /* A big but legal PUT header is just incomplete. */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, DM_RDV_BODY_MAX);
    CHECK(decode_exact(DM_RDV_HDR_SIZE, &m, &used) == DM_INPROGRESS);
    CHECK(used == DM_RDV_FRAME_MAX);

    /* Body-level errors. */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_FENCE, 0, 3);
    CHECK(decode_hdr_body("\0\0\0", 3) == DM_ERR_PROTOCOL); /* too short */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, 1);
    CHECK(decode_hdr_body("\0", 1) == DM_ERR_PROTOCOL);     /* empty key */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, 3);
    CHECK(decode_hdr_body("\5ab", 3) == DM_ERR_PROTOCOL);   /* key longer than the body */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, 4);
    CHECK(decode_hdr_body("\3a\0b", 4) == DM_ERR_PROTOCOL); /* NUL in key */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_PUT, 0, 66);
    {
        uint8_t body[66];

        memset(body, 'x', sizeof(body));
        body[0] = 64; /* key of 64 bytes: one too many */
        CHECK(decode_hdr_body(body, sizeof(body)) == DM_ERR_PROTOCOL);
    }
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_GET, 0, 12);
    CHECK(decode_hdr_body("\0\0\0\1\0\0\0\2\2abX", 12) == DM_ERR_PROTOCOL); /* trailing byte */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_GET, 0, 8);
    CHECK(decode_hdr_body("\0\0\0\1\0\0\0\2", 8) == DM_ERR_PROTOCOL); /* key missing */
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_HELLO, 0, 14);
    CHECK(decode_hdr_body("\0\0\0\1\0\0\0\2\0\0\0\3\2a", 14) == DM_ERR_PROTOCOL);
    put_hdr(DM_RDV_MAGIC, 1, DM_RDV_FAILED, 0, 7);
    CHECK(decode_hdr_body("\0\0\0\1a\0b", 7) == DM_ERR_PROTOCOL); /* NUL in text */

    /* Two frames back to back: the first is decoded, the rest left alone. */
    len = encode(&(dm_rdv_msg_t){ .type = DM_RDV_FENCE, .req_id = 1 });
    memcpy(frame + len, frame, len);
    CHECK(dm_rdv_decode(frame, 2 * len, &m, &used) == DM_OK && used == len && m.req_id == 1);
    /* Garbage after a valid frame does not spoil the valid one. */
    memset(frame + len, 0xEE, DM_RDV_HDR_SIZE);
    CHECK(dm_rdv_decode(frame, len + DM_RDV_HDR_SIZE, &m, &used) == DM_OK && used == len);
    CHECK(dm_rdv_decode(frame + len, DM_RDV_HDR_SIZE, &m, &used) == DM_ERR_PROTOCOL);

    /* Random bytes: never a crash, never an overread (ASan), any verdict. */
    {
        unsigned seed = 12345;
        int i, j;

        for (i = 0; i < 20000; i++) {
            size_t n = (size_t)(rand_r(&seed) % 96);
            dm_status_t st;

            for (j = 0; j < (int)n; j++) frame[j] = (uint8_t)rand_r(&seed);
            if (n >= DM_RDV_HDR_SIZE && (i & 1)) {
                put_hdr(DM_RDV_MAGIC, 1, (uint8_t)(1 + rand_r(&seed) % DM_RDV_TYPE_LAST), 0,
                        (uint32_t)(n - DM_RDV_HDR_SIZE));
            }
            st = decode_exact(n, &m, &used);
            CHECK(st == DM_OK || st == DM_INPROGRESS || st == DM_ERR_PROTOCOL);
            if (st == DM_OK) {
                CHECK(used <= n);
            }
        }
    }
}

static void test_parse_addr(void)
{
    char host[64];
    uint16_t port = 0;

    CHECK(dm_rdv_parse_addr("127.0.0.1:5000", host, sizeof(host), &port, 0) == DM_OK);
    CHECK(!strcmp(host, "127.0.0.1") && port == 5000);
    CHECK(dm_rdv_parse_addr("node-7.cluster:65535", host, sizeof(host), &port, 0) == DM_OK);
    CHECK(!strcmp(host, "node-7.cluster") && port == 65535);
    CHECK(dm_rdv_parse_addr("[::1]:80", host, sizeof(host), &port, 0) == DM_OK);
    CHECK(!strcmp(host, "::1") && port == 80);
    CHECK(dm_rdv_parse_addr("0.0.0.0:0", host, sizeof(host), &port, 1) == DM_OK && port == 0);
    CHECK(dm_rdv_parse_addr("0.0.0.0:0", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("localhost", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr(":5000", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("host:", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("host:65536", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("host:-1", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("host:12ab", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("::1:5000", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("[::1]5000", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(dm_rdv_parse_addr("a-very-long-host-name-that-does-not-fit-in-sixty-four-bytes-of-"
                            "buffer:1", host, sizeof(host), &port, 0) == DM_ERR_CONFIG);
    CHECK(strstr(dm_last_error(), "too long") != NULL);
}

int main(void)
{
    test_roundtrips();
    test_encode_rejects();
    test_malformed();
    test_parse_addr();
    if (failures) {
        fprintf(stderr, "test_rdv_proto: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_rdv_proto: all checks passed\n");
    return 0;
}
