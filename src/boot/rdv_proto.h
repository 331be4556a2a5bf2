/*
 * The rendezvous protocol: the frames ranks and the rendezvous store
 * exchange over TCP. Pure encode/decode, no I/O, so the server, the client
 * and the unit tests share one definition.
 *
 * Frame = 12-byte header + body. All integers are big-endian (network order).
 *
 *   offset size  field
 *   0      4     magic     0x444D5256 ("DMRV")
 *   4      1     version   DM_RDV_VERSION
 *   5      1     type      dm_rdv_type_t
 *   6      2     reserved  must be 0
 *   8      4     body_len  bytes of body that follow; at most the type's own
 *                          maximum (so an oversized frame is refused from its
 *                          header alone, before any of its body is buffered)
 *
 * Body fields, in order, per type. u32 = 4-byte integer; str8 = 1-byte length
 * then that many bytes, no NUL among them; "rest" = all remaining bytes of the
 * body (text: at most DM_RDV_TEXT_MAX bytes and no NUL; value: at most
 * DM_BOOT_VALUE_MAX bytes, any content).
 *
 *   dir  type          body
 *   c>s  HELLO         u32 rank, u32 nranks, u32 pid, str8 job_key (0..255)
 *   s>c  WELCOME       (empty)
 *   s>c  REFUSED       rest: text (why)
 *   c>s  PUT           str8 key (1..DM_BOOT_KEY_MAX-1), rest: value
 *   c>s  GET           u32 req_id, u32 rank, str8 key
 *   s>c  VALUE         u32 req_id, rest: value
 *   s>c  GET_FAILED    u32 req_id, u32 rank (the one that failed), rest: text
 *   c>s  FENCE         u32 req_id
 *   s>c  FENCE_DONE    u32 req_id
 *   s>c  FENCE_FAILED  u32 req_id, u32 rank (the one that failed), rest: text
 *   s>c  FAILED        u32 rank, rest: text          (unsolicited notice)
 *   c>s  BYE           (empty)
 *
 * A frame is valid only if every field fits exactly in body_len (no trailing
 * bytes). Decoding never reads past the bytes it is given; a malformed frame
 * is DM_ERR_PROTOCOL, and the receiver closes that connection.
 *
 * Conversation: the client sends HELLO and waits for WELCOME or REFUSED.
 * Then it has at most one GET or FENCE outstanding (the dm_boot_t is used by
 * one thread at a time); req_id lets it drop the late answer to a request it
 * stopped waiting for (timeout). PUT has no answer: TCP keeps a client's
 * frames in order and the server handles them in order, so a PUT is in the
 * store before any later FENCE of the same rank counts. FAILED may arrive at
 * any time. BYE is the last frame of a rank leaving cleanly; the client then
 * shuts down its writing side and waits for the server to close.
 */
#ifndef DM_BOOT_RDV_PROTO_H
#define DM_BOOT_RDV_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "distmem_status.h"

#define DM_RDV_MAGIC       0x444D5256u
#define DM_RDV_VERSION     1
#define DM_RDV_HDR_SIZE    12
#define DM_RDV_TEXT_MAX    512
#define DM_RDV_JOB_KEY_MAX 255
/* The largest body of any type (PUT with the longest key and value). */
#define DM_RDV_BODY_MAX    (1 + (DM_BOOT_KEY_MAX - 1) + DM_BOOT_VALUE_MAX)
#define DM_RDV_FRAME_MAX   (DM_RDV_HDR_SIZE + DM_RDV_BODY_MAX)

typedef enum dm_rdv_type {
    DM_RDV_HELLO = 1,
    DM_RDV_WELCOME,
    DM_RDV_REFUSED,
    DM_RDV_PUT,
    DM_RDV_GET,
    DM_RDV_VALUE,
    DM_RDV_GET_FAILED,
    DM_RDV_FENCE,
    DM_RDV_FENCE_DONE,
    DM_RDV_FENCE_FAILED,
    DM_RDV_FAILED,
    DM_RDV_BYE,
    DM_RDV_TYPE_LAST = DM_RDV_BYE
} dm_rdv_type_t;

/*
 * One decoded (or to-be-encoded) frame. Only the fields of its type are
 * meaningful (see the table above); key and data point into the frame's
 * buffer after decoding and are not NUL-terminated.
 */
typedef struct dm_rdv_msg {
    dm_rdv_type_t type;
    uint32_t      rank;     /* HELLO: sender; GET: target; *FAILED: the failed rank */
    uint32_t      nranks;   /* HELLO */
    uint32_t      pid;      /* HELLO */
    uint32_t      req_id;   /* GET, VALUE, GET_FAILED, FENCE, FENCE_DONE, FENCE_FAILED */
    const char   *key;      /* HELLO: job key; PUT, GET: key */
    size_t        key_len;
    const void   *data;     /* PUT, VALUE: value; REFUSED, *FAILED: text */
    size_t        data_len;
} dm_rdv_msg_t;

/* "HELLO", "PUT", ...; "?" for an unknown type. Never NULL. */
const char *dm_rdv_type_name(int type);

/*
 * Size of the frame msg encodes to, or 0 when a field is out of its range
 * (key length, text length, value length, unknown type).
 */
size_t dm_rdv_frame_size(const dm_rdv_msg_t *msg);

/*
 * Encodes msg into buf. Returns DM_OK with *len_p = frame size;
 * DM_ERR_INVALID_PARAM when a field is out of range (key empty or too long or
 * containing NUL, text or value too long, unknown type);
 * DM_ERR_NO_SPACE when cap is smaller than the frame.
 */
dm_status_t dm_rdv_encode(const dm_rdv_msg_t *msg, uint8_t *buf, size_t cap, size_t *len_p);

/*
 * Decodes the frame at the start of buf (len bytes available).
 * Returns DM_OK with *msg filled (pointing into buf) and *consumed_p = the
 * frame's size; DM_INPROGRESS when buf holds only part of a frame whose header
 * (if complete) is valid, with *consumed_p = the total size the frame needs
 * (or DM_RDV_HDR_SIZE while the header is incomplete); DM_ERR_PROTOCOL with
 * the detail in dm_last_error() when the bytes cannot be a valid frame (bad
 * magic, version, type, reserved bits, body length over the type's maximum,
 * fields that do not fit the body exactly, NUL in a key or text).
 */
dm_status_t dm_rdv_decode(const uint8_t *buf, size_t len, dm_rdv_msg_t *msg, size_t *consumed_p);

/*
 * Splits "HOST:PORT" (or "[V6ADDR]:PORT") into host and port.
 * allow_port0: 0 is accepted (a server binding an ephemeral port).
 * Returns DM_OK, or DM_ERR_CONFIG with the detail when the text is malformed
 * (no colon, empty host, port not a number in 1..65535, host too long).
 */
dm_status_t dm_rdv_parse_addr(const char *text, char *host, size_t host_cap, uint16_t *port_p,
                              int allow_port0);

#endif
