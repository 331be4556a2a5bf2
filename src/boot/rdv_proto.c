/*
 * Rendezvous frames: encoding and strict decoding (format in rdv_proto.h).
 *
 * Invariant of the decoder: every read is preceded by a check that the bytes
 * exist within the body, so a hostile or truncated frame can only make it
 * return DM_INPROGRESS or DM_ERR_PROTOCOL.
 */
#include "rdv_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static const char *const dm_rdv_type_names[] = {
    [DM_RDV_HELLO] = "HELLO",           [DM_RDV_WELCOME] = "WELCOME",
    [DM_RDV_REFUSED] = "REFUSED",       [DM_RDV_PUT] = "PUT",
    [DM_RDV_GET] = "GET",               [DM_RDV_VALUE] = "VALUE",
    [DM_RDV_GET_FAILED] = "GET_FAILED", [DM_RDV_FENCE] = "FENCE",
    [DM_RDV_FENCE_DONE] = "FENCE_DONE", [DM_RDV_FENCE_FAILED] = "FENCE_FAILED",
    [DM_RDV_FAILED] = "FAILED",         [DM_RDV_BYE] = "BYE",
};

const char *dm_rdv_type_name(int type)
{
    if (type < DM_RDV_HELLO || type > DM_RDV_TYPE_LAST) {
        return "?";
    }
    return dm_rdv_type_names[type];
}

/* Largest body each type may carry; checked from the header alone. */
static size_t dm_rdv_body_max(int type)
{
    switch (type) {
    case DM_RDV_HELLO:        return 12 + 1 + DM_RDV_JOB_KEY_MAX;
    case DM_RDV_WELCOME:      return 0;
    case DM_RDV_REFUSED:      return DM_RDV_TEXT_MAX;
    case DM_RDV_PUT:          return 1 + (DM_BOOT_KEY_MAX - 1) + DM_BOOT_VALUE_MAX;
    case DM_RDV_GET:          return 8 + 1 + (DM_BOOT_KEY_MAX - 1);
    case DM_RDV_VALUE:        return 4 + DM_BOOT_VALUE_MAX;
    case DM_RDV_GET_FAILED:   return 8 + DM_RDV_TEXT_MAX;
    case DM_RDV_FENCE:        return 4;
    case DM_RDV_FENCE_DONE:   return 4;
    case DM_RDV_FENCE_FAILED: return 8 + DM_RDV_TEXT_MAX;
    case DM_RDV_FAILED:       return 4 + DM_RDV_TEXT_MAX;
    case DM_RDV_BYE:          return 0;
    }
    return 0;
}

static void dm_rdv_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t dm_rdv_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int dm_rdv_key_ok(const char *key, size_t len, size_t min, size_t max)
{
    return len >= min && len <= max && (len == 0 || (key != NULL && !memchr(key, '\0', len)));
}

static int dm_rdv_text_ok(const void *text, size_t len)
{
    return len <= DM_RDV_TEXT_MAX && (len == 0 || (text != NULL && !memchr(text, '\0', len)));
}

/* Body size of msg, or 0 with *ok = 0 when a field is out of range. */
static size_t dm_rdv_body_size(const dm_rdv_msg_t *m, int *ok)
{
    *ok = 1;
    switch (m->type) {
    case DM_RDV_HELLO:
        *ok = dm_rdv_key_ok(m->key, m->key_len, 0, DM_RDV_JOB_KEY_MAX);
        return 13 + m->key_len;
    case DM_RDV_WELCOME:
    case DM_RDV_BYE:
        return 0;
    case DM_RDV_REFUSED:
        *ok = dm_rdv_text_ok(m->data, m->data_len);
        return m->data_len;
    case DM_RDV_PUT:
        *ok = dm_rdv_key_ok(m->key, m->key_len, 1, DM_BOOT_KEY_MAX - 1) &&
              m->data_len <= DM_BOOT_VALUE_MAX && (m->data_len == 0 || m->data != NULL);
        return 1 + m->key_len + m->data_len;
    case DM_RDV_GET:
        *ok = dm_rdv_key_ok(m->key, m->key_len, 1, DM_BOOT_KEY_MAX - 1);
        return 9 + m->key_len;
    case DM_RDV_VALUE:
        *ok = m->data_len <= DM_BOOT_VALUE_MAX && (m->data_len == 0 || m->data != NULL);
        return 4 + m->data_len;
    case DM_RDV_GET_FAILED:
    case DM_RDV_FENCE_FAILED:
        *ok = dm_rdv_text_ok(m->data, m->data_len);
        return 8 + m->data_len;
    case DM_RDV_FENCE:
    case DM_RDV_FENCE_DONE:
        return 4;
    case DM_RDV_FAILED:
        *ok = dm_rdv_text_ok(m->data, m->data_len);
        return 4 + m->data_len;
    }
    *ok = 0;
    return 0;
}

size_t dm_rdv_frame_size(const dm_rdv_msg_t *msg)
{
    int ok;
    size_t body = dm_rdv_body_size(msg, &ok);

    return ok ? DM_RDV_HDR_SIZE + body : 0;
}

dm_status_t dm_rdv_encode(const dm_rdv_msg_t *m, uint8_t *buf, size_t cap, size_t *len_p)
{
    int ok;
    size_t body = dm_rdv_body_size(m, &ok);
    uint8_t *p;

    if (!ok) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "rendezvous %s frame has a field out of range",
                            dm_rdv_type_name((int)m->type));
    }
    if (cap < DM_RDV_HDR_SIZE + body) {
        return dm_error_set(DM_ERR_NO_SPACE, "rendezvous %s frame needs %zu bytes, buffer has %zu",
                            dm_rdv_type_name((int)m->type), DM_RDV_HDR_SIZE + body, cap);
    }
    dm_rdv_put32(buf, DM_RDV_MAGIC);
    buf[4] = DM_RDV_VERSION;
    buf[5] = (uint8_t)m->type;
    buf[6] = 0;
    buf[7] = 0;
    dm_rdv_put32(buf + 8, (uint32_t)body);
    p = buf + DM_RDV_HDR_SIZE;

    switch (m->type) {
    case DM_RDV_HELLO:
        dm_rdv_put32(p, m->rank);
        dm_rdv_put32(p + 4, m->nranks);
        dm_rdv_put32(p + 8, m->pid);
        p[12] = (uint8_t)m->key_len;
        if (m->key_len) memcpy(p + 13, m->key, m->key_len);
        break;
    case DM_RDV_PUT:
        p[0] = (uint8_t)m->key_len;
        memcpy(p + 1, m->key, m->key_len);
        if (m->data_len) memcpy(p + 1 + m->key_len, m->data, m->data_len);
        break;
    case DM_RDV_GET:
        dm_rdv_put32(p, m->req_id);
        dm_rdv_put32(p + 4, m->rank);
        p[8] = (uint8_t)m->key_len;
        memcpy(p + 9, m->key, m->key_len);
        break;
    case DM_RDV_VALUE:
        dm_rdv_put32(p, m->req_id);
        if (m->data_len) memcpy(p + 4, m->data, m->data_len);
        break;
    case DM_RDV_GET_FAILED:
    case DM_RDV_FENCE_FAILED:
        dm_rdv_put32(p, m->req_id);
        dm_rdv_put32(p + 4, m->rank);
        if (m->data_len) memcpy(p + 8, m->data, m->data_len);
        break;
    case DM_RDV_FENCE:
    case DM_RDV_FENCE_DONE:
        dm_rdv_put32(p, m->req_id);
        break;
    case DM_RDV_FAILED:
        dm_rdv_put32(p, m->rank);
        if (m->data_len) memcpy(p + 4, m->data, m->data_len);
        break;
    case DM_RDV_REFUSED:
        if (m->data_len) memcpy(p, m->data, m->data_len);
        break;
    case DM_RDV_WELCOME:
    case DM_RDV_BYE:
        break;
    }
    *len_p = DM_RDV_HDR_SIZE + body;
    return DM_OK;
}

/* Reads a str8 at body[*off]; 0 when it does not fit or breaks its bounds. */
static int dm_rdv_take_str8(const uint8_t *body, size_t blen, size_t *off, size_t min, size_t max,
                            const char **s_p, size_t *len_p)
{
    size_t n;

    if (*off + 1 > blen) {
        return 0;
    }
    n = body[*off];
    if (n > blen - *off - 1) {
        return 0;
    }
    if (!dm_rdv_key_ok((const char *)body + *off + 1, n, min, max)) {
        return 0;
    }
    *s_p = (const char *)body + *off + 1;
    *len_p = n;
    *off += 1 + n;
    return 1;
}

dm_status_t dm_rdv_decode(const uint8_t *buf, size_t len, dm_rdv_msg_t *msg, size_t *consumed_p)
{
    uint32_t magic, blen;
    int type;
    const uint8_t *b;
    size_t off = 0, fixed = 0;
    dm_rdv_msg_t m;

    if (len < DM_RDV_HDR_SIZE) {
        *consumed_p = DM_RDV_HDR_SIZE;
        return DM_INPROGRESS;
    }
    magic = dm_rdv_get32(buf);
    if (magic != DM_RDV_MAGIC) {
        return dm_error_set(DM_ERR_PROTOCOL, "bad frame magic 0x%08x (not a distmem rendezvous peer?)",
                            magic);
    }
    if (buf[4] != DM_RDV_VERSION) {
        return dm_error_set(DM_ERR_PROTOCOL, "rendezvous protocol version %u, expected %u",
                            buf[4], DM_RDV_VERSION);
    }
    type = buf[5];
    if (type < DM_RDV_HELLO || type > DM_RDV_TYPE_LAST) {
        return dm_error_set(DM_ERR_PROTOCOL, "unknown frame type %d", type);
    }
    if (buf[6] != 0 || buf[7] != 0) {
        return dm_error_set(DM_ERR_PROTOCOL, "%s frame has non-zero reserved bits",
                            dm_rdv_type_name(type));
    }
    blen = dm_rdv_get32(buf + 8);
    if (blen > dm_rdv_body_max(type)) {
        return dm_error_set(DM_ERR_PROTOCOL, "%s frame body of %u bytes exceeds its maximum %zu",
                            dm_rdv_type_name(type), blen, dm_rdv_body_max(type));
    }
    if (len - DM_RDV_HDR_SIZE < blen) {
        *consumed_p = DM_RDV_HDR_SIZE + (size_t)blen;
        return DM_INPROGRESS;
    }

    b = buf + DM_RDV_HDR_SIZE;
    memset(&m, 0, sizeof(m));
    m.type = (dm_rdv_type_t)type;

    /* Fixed-size u32 prefix of each type. */
    switch (type) {
    case DM_RDV_HELLO:        fixed = 12; break;
    case DM_RDV_GET:          fixed = 8;  break;
    case DM_RDV_VALUE:        fixed = 4;  break;
    case DM_RDV_GET_FAILED:   fixed = 8;  break;
    case DM_RDV_FENCE:        fixed = 4;  break;
    case DM_RDV_FENCE_DONE:   fixed = 4;  break;
    case DM_RDV_FENCE_FAILED: fixed = 8;  break;
    case DM_RDV_FAILED:       fixed = 4;  break;
    default:                  fixed = 0;  break;
    }
    if (blen < fixed) {
        goto err_short;
    }
    off = fixed;

    switch (type) {
    case DM_RDV_HELLO:
        m.rank = dm_rdv_get32(b);
        m.nranks = dm_rdv_get32(b + 4);
        m.pid = dm_rdv_get32(b + 8);
        if (!dm_rdv_take_str8(b, blen, &off, 0, DM_RDV_JOB_KEY_MAX, &m.key, &m.key_len)) {
            goto err_field;
        }
        break;
    case DM_RDV_PUT:
        if (!dm_rdv_take_str8(b, blen, &off, 1, DM_BOOT_KEY_MAX - 1, &m.key, &m.key_len)) {
            goto err_field;
        }
        m.data = b + off;
        m.data_len = blen - off;
        off = blen;
        break;
    case DM_RDV_GET:
        m.req_id = dm_rdv_get32(b);
        m.rank = dm_rdv_get32(b + 4);
        if (!dm_rdv_take_str8(b, blen, &off, 1, DM_BOOT_KEY_MAX - 1, &m.key, &m.key_len)) {
            goto err_field;
        }
        break;
    case DM_RDV_VALUE:
        m.req_id = dm_rdv_get32(b);
        m.data = b + off;
        m.data_len = blen - off;
        off = blen;
        break;
    case DM_RDV_GET_FAILED:
    case DM_RDV_FENCE_FAILED:
    case DM_RDV_FAILED:
    case DM_RDV_REFUSED:
        if (type == DM_RDV_FAILED) {
            m.rank = dm_rdv_get32(b);
        } else if (type != DM_RDV_REFUSED) {
            m.req_id = dm_rdv_get32(b);
            m.rank = dm_rdv_get32(b + 4);
        }
        m.data = b + off;
        m.data_len = blen - off;
        if (!dm_rdv_text_ok(m.data, m.data_len)) {
            goto err_field;
        }
        off = blen;
        break;
    case DM_RDV_FENCE:
    case DM_RDV_FENCE_DONE:
        m.req_id = dm_rdv_get32(b);
        break;
    default: /* WELCOME, BYE: empty */
        break;
    }
    if (off != blen) {
        return dm_error_set(DM_ERR_PROTOCOL, "%s frame has %zu trailing bytes",
                            dm_rdv_type_name(type), (size_t)blen - off);
    }
    *msg = m;
    *consumed_p = DM_RDV_HDR_SIZE + (size_t)blen;
    return DM_OK;

err_short:
    return dm_error_set(DM_ERR_PROTOCOL, "%s frame body of %u bytes is too short",
                        dm_rdv_type_name(type), blen);
err_field:
    return dm_error_set(DM_ERR_PROTOCOL,
                        "%s frame has a malformed key or text (bad length or NUL byte)",
                        dm_rdv_type_name(type));
}

dm_status_t dm_rdv_parse_addr(const char *text, char *host, size_t host_cap, uint16_t *port_p,
                              int allow_port0)
{
    const char *colon, *hbeg, *hend;
    char *end;
    long port;

    if (text == NULL || *text == '\0') {
        return dm_error_set(DM_ERR_CONFIG, "empty rendezvous address (expected HOST:PORT)");
    }
    if (text[0] == '[') {
        hbeg = text + 1;
        hend = strchr(hbeg, ']');
        if (hend == NULL || hend[1] != ':') {
            goto err_form;
        }
        colon = hend + 1;
    } else {
        hbeg = text;
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL) {
            goto err_form; /* none, or a bare IPv6 address without brackets */
        }
        hend = colon;
    }
    if (hend == hbeg) {
        return dm_error_set(DM_ERR_CONFIG, "rendezvous address \"%s\" has an empty host", text);
    }
    if ((size_t)(hend - hbeg) >= host_cap) {
        return dm_error_set(DM_ERR_CONFIG, "rendezvous address \"%s\": host name too long", text);
    }
    if (colon[1] < '0' || colon[1] > '9') {
        goto err_port;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port > 65535 || (port == 0 && !allow_port0)) {
        goto err_port;
    }
    memcpy(host, hbeg, (size_t)(hend - hbeg));
    host[hend - hbeg] = '\0';
    *port_p = (uint16_t)port;
    return DM_OK;

err_form:
    return dm_error_set(DM_ERR_CONFIG,
                        "rendezvous address \"%s\" is malformed: expected HOST:PORT or [IPV6]:PORT",
                        text);
err_port:
    return dm_error_set(DM_ERR_CONFIG, "rendezvous address \"%s\": port must be a number in %s..65535",
                        text, allow_port0 ? "0" : "1");
}
