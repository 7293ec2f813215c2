/* SPDX-License-Identifier: MIT */
/*
 * packet_util.c - the codec's building blocks shared by decoder and encoder:
 * error reporting into mqr_diag_t, variable byte integers, the UTF-8 / topic
 * name / topic filter scanner, MQTT 5 properties (one table drives reading,
 * validation, iteration, typed look-up and writing), reason-code validity,
 * and topic matching.
 *
 * The scanner classifies each byte with a 256-entry table so the common case
 * (printable ASCII) costs one load and one compare per byte. Properties are
 * read by one function, prop_read(), so the validator, the iterator and the
 * accessors cannot disagree about the wire format.
 */
#include <stdio.h>
#include <string.h>

#include "packet_priv.h"

/* ---- errors ------------------------------------------------------------------ */

int mqr__packet_fail(const mqr__pctx_t *c, int code, int reason, const char *field,
                     const uint8_t *at, const char *fmt, ...)
{
    mqr_diag_t *d = c->diag;
    if (!d)
        return code;
    mqr_diag_clear(d);
    d->code = code;
    d->reason_code = reason;
    d->packet_type = c->type;
    uint64_t off = (c->base && at) ? (uint64_t)(at - c->base) : 0;
    d->offset = off + c->stream_off;
    snprintf(d->field, sizeof d->field, "%s", field ? field : "");
    char *m = d->message;
    size_t cap = sizeof d->message;
    int n = snprintf(m, cap, "%s: ", mqr_packet_type_name(c->type));
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(m + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    if (c->base && k >= 0 && (size_t)(n + k) < cap)
        snprintf(m + n + k, cap - (size_t)(n + k), " at byte %llu", (unsigned long long)d->offset);
    return code;
}

const char *mqr_packet_type_name(int type)
{
    /* ORDER: MQR_PKT_* values. */
    static const char *const names[16] = {
        "RESERVED", "CONNECT",  "CONNACK",     "PUBLISH",  "PUBACK",  "PUBREC",
        "PUBREL",   "PUBCOMP",  "SUBSCRIBE",   "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
        "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
    return (type >= 0 && type < 16) ? names[type] : "RESERVED";
}

/* ---- variable byte integers ------------------------------------------------------- */

int mqr__varint_get(const uint8_t *p, const uint8_t *end, uint32_t *out_value)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= end)
            return 0;
        uint8_t b = p[i];
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return -1; /* non-minimal: a trailing zero group */
            *out_value = v;
            return i + 1;
        }
    }
    return -1;
}

size_t mqr__varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

uint8_t *mqr__varint_put(uint8_t *p, uint32_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7F);
        v >>= 7;
        *p++ = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    return p;
}

/* ---- UTF-8, topic names, topic filters ------------------------------------------------ */

/* Byte classes for the scanner. */
enum { C_OK = 0, C_NUL, C_PLUS, C_HASH, C_SLASH, C_CTRL, C_LEAD2, C_LEAD3, C_LEAD4, C_BAD };

/* The class of every byte value: ASCII is C_OK except NUL, '+', '#', '/'
 * and the control characters 0x01-0x1F and 0x7F (C_CTRL);
 * 0x80-0xBF (stray continuation), 0xC0/0xC1 (always overlong) and 0xF5-0xFF
 * (beyond U+10FFFF) are C_BAD. */
#define OK C_OK
#define NU C_NUL
#define PL C_PLUS
#define HS C_HASH
#define SL C_SLASH
#define CT C_CTRL
#define BD C_BAD
#define L2 C_LEAD2
#define L3 C_LEAD3
#define L4 C_LEAD4
static const uint8_t byte_class[256] = {
    NU, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT,
    CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT, CT,
    OK, OK, OK, HS, OK, OK, OK, OK, OK, OK, OK, PL, OK, OK, OK, SL,
    OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK,
    OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK,
    OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK,
    OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK,
    OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, CT,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2,
    L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2,
    L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3,
    L4, L4, L4, L4, L4, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
};
#undef OK
#undef NU
#undef PL
#undef HS
#undef SL
#undef CT
#undef BD
#undef L2
#undef L3
#undef L4

/*
 * Validate the multi-byte sequence starting at s[i] (class `cls`), rejecting
 * overlongs (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90..). Returns its length, or 0 if it is ill-formed.
 */
static size_t utf8_seq(const uint8_t *s, size_t i, size_t len, int cls)
{
    size_t n = (size_t)(cls - C_LEAD2) + 2;
    if (len - i < n)
        return 0;
    uint8_t b0 = s[i], b1 = s[i + 1];
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 == 0xE0)
        lo = 0xA0;
    else if (b0 == 0xED)
        hi = 0x9F;
    else if (b0 == 0xF0)
        lo = 0x90;
    else if (b0 == 0xF4)
        hi = 0x8F;
    if (b1 < lo || b1 > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/*
 * Whether the well-formed n-byte sequence at s is a code point the strict
 * policy refuses: a C1 control (U+0080-U+009F, C2 80..9F) or a non-character
 * (U+FDD0-U+FDEF, and U+nFFFE/U+nFFFF in every plane).
 */
static const char *strict_refuses(const uint8_t *s, size_t n)
{
    if (n == 2)
        return (s[0] == 0xC2 && s[1] <= 0x9F) ? "contains a control character" : NULL;
    int nonchar = n == 3 ? (s[0] == 0xEF && ((s[1] == 0xB7 && s[2] >= 0x90 && s[2] <= 0xAF) ||
                                             (s[1] == 0xBF && s[2] >= 0xBE)))
                         : ((s[1] & 0x0F) == 0x0F && s[2] == 0xBF && s[3] >= 0xBE);
    return nonchar ? "contains a non-character" : NULL;
}

static int scan_fail(mqr__scan_t *out, int code, const char *what, size_t off)
{
    out->what = what;
    out->off = off;
    return code;
}

/*
 * The filter rules for a wildcard at s[i]: '+' fills a whole level, '#' a
 * whole last level. Returns NULL when fine, else the phrase for the error.
 */
static const char *wildcard_misplaced(const uint8_t *s, size_t i, size_t len, int cls)
{
    int starts_level = (i == 0 || s[i - 1] == '/');
    if (cls == C_PLUS)
        return (starts_level && (i + 1 == len || s[i + 1] == '/')) ? NULL
                                                                  : "has '+' not alone in its level";
    if (!starts_level || i + 1 != len)
        return "has '#' not alone in the last level";
    return NULL;
}

int mqr__packet_scan(const uint8_t *s, size_t len, int mode, mqr__scan_t *out)
{
    int strict = !(mode & MQR__SCAN_LENIENT);
    mode &= MQR__SCAN_MODE;
    if (mode != MQR__SCAN_STRING && len == 0)
        return scan_fail(out, mode == MQR__SCAN_TOPIC ? MQR_ETOPIC : MQR_EFILTER, "is empty", 0);
    size_t start = 0;
    if (mode == MQR__SCAN_FILTER && len >= 7 && memcmp(s, "$share/", 7) == 0) {
        size_t i = 7;
        while (i < len && s[i] != '/')
            i++;
        if (i == 7)
            return scan_fail(out, MQR_EFILTER, "has an empty share name", 7);
        if (i + 1 >= len)
            return scan_fail(out, MQR_EFILTER, "has no filter after the share name", i);
        start = i + 1;
        for (size_t k = 7; k < i; k++)
            if (s[k] == '+' || s[k] == '#')
                return scan_fail(out, MQR_EFILTER, "has a wildcard in the share name", k);
    }
    /* Plain eight-byte chunks are skipped whole; a chunk that is not plain
     * goes through the byte loop entirely (up to `stop`) before the next
     * chunk test, so one wildcard costs one failed test, not eight. */
    size_t stop = 0;
    for (size_t i = 0; i < len;) {
        if (i >= stop) {
            if (len - i >= 8) {
                if (mqr__chunk_plain(s + i)) {
                    i += 8;
                    continue;
                }
                stop = i + 8;
            } else if (len >= 8 && mqr__chunk_plain(s + len - 8)) {
                return MQR_OK; /* the overlapping last eight bytes are plain */
            } else {
                stop = len;
            }
        }
        int cls = byte_class[s[i]];
        if (MQR__LIKELY(cls == C_OK || cls == C_SLASH)) {
            i++;
            continue;
        }
        switch (cls) {
        case C_NUL:
            return scan_fail(out, MQR_EUTF8, "contains U+0000", i);
        case C_CTRL:
            if (strict)
                return scan_fail(out, MQR_EUTF8, "contains a control character", i);
            i++;
            break;
        case C_PLUS:
        case C_HASH:
            if (mode == MQR__SCAN_TOPIC)
                return scan_fail(out, MQR_ETOPIC, cls == C_PLUS ? "contains '+'" : "contains '#'", i);
            if (mode == MQR__SCAN_FILTER) {
                const char *why = wildcard_misplaced(s + start, i - start, len - start, cls);
                if (why)
                    return scan_fail(out, MQR_EFILTER, why, i);
            }
            i++;
            break;
        case C_BAD:
            return scan_fail(out, MQR_EUTF8, "is not valid UTF-8", i);
        default: {
            size_t n = utf8_seq(s, i, len, cls);
            if (!n)
                return scan_fail(out, MQR_EUTF8, "is not valid UTF-8", i);
            const char *why = strict ? strict_refuses(s + i, n) : NULL;
            if (why)
                return scan_fail(out, MQR_EUTF8, why, i);
            i += n;
        }
        }
    }
    return MQR_OK;
}

/* Shared body of the public string checks. */
static int check_public(const char *s, size_t len, int mode, mqr_diag_t *diag)
{
    if (!s && len)
        return mqr__diag_set(diag, MQR_EINVAL, "NULL string");
    if (mode != MQR__SCAN_STRING && !s)
        return mqr__diag_set(diag, MQR_EINVAL, "NULL string");
    static const char *const what[] = {"string", "topic name", "topic filter"};
    if (len > 65535) {
        int code = mode == MQR__SCAN_TOPIC ? MQR_ETOPIC : mode == MQR__SCAN_FILTER ? MQR_EFILTER
                                                                                   : MQR_EUTF8;
        mqr__diag_set(diag, code, "%s is longer than 65535 bytes", what[mode]);
        if (diag)
            diag->offset = 65535;
        return code;
    }
    mqr__scan_t sc;
    int rc = mqr__packet_scan((const uint8_t *)s, len, mode, &sc);
    if (rc != MQR_OK) {
        mqr__diag_set(diag, rc, "%s %s at byte %zu", what[mode], sc.what, sc.off);
        if (diag) {
            diag->offset = sc.off;
            snprintf(diag->field, sizeof diag->field, "%s", what[mode]);
        }
    }
    return rc;
}

int mqr_packet_utf8_check(const char *s, size_t len, mqr_diag_t *diag)
{
    return check_public(s, len, MQR__SCAN_STRING, diag);
}

int mqr_topic_validate_name(const char *s, size_t len, mqr_diag_t *diag)
{
    return check_public(s, len, MQR__SCAN_TOPIC, diag);
}

int mqr_topic_validate_filter(const char *s, size_t len, mqr_diag_t *diag)
{
    return check_public(s, len, MQR__SCAN_FILTER, diag);
}

/*
 * Level-by-level match: a literal level must be equal, '+' takes one topic
 * level (possibly empty), '#' takes the rest. When the topic runs out at a
 * level boundary, a remaining "/#" still matches (the parent level rule).
 */
int mqr_topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
    if (!f || !t)
        return 0;
    if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
        return 0;
    size_t i = 0, j = 0;
    for (;;) {
        if (i < flen && f[i] == '#')
            return 1;
        if (i < flen && f[i] == '+') {
            while (j < tlen && t[j] != '/')
                j++;
            i++;
        } else {
            while (i < flen && f[i] != '/') {
                if (j >= tlen || t[j] != f[i])
                    return 0;
                i++;
                j++;
            }
            if (j < tlen && t[j] != '/')
                return 0;
        }
        if (i == flen)
            return j == tlen;
        if (j == tlen)
            return flen - i == 2 && f[i + 1] == '#';
        i++;
        j++;
    }
}

/* ---- properties -------------------------------------------------------------------- */

/* Property contexts as bits: bit 0 the will, bit t packet type t. */
#define W (1u << MQR__PROPCTX_WILL)
#define P(t) (1u << MQR_PKT_##t)
#define ALL_ACKS (P(PUBACK) | P(PUBREC) | P(PUBREL) | P(PUBCOMP))

typedef struct prop_def {
    const char *name;
    uint8_t type;
    uint16_t ctx;
} prop_def_t;

/* Indexed by property id; a NULL name is an unknown id. */
static const prop_def_t prop_defs[0x2B] = {
    [0x01] = {"Payload-Format-Indicator", MQR_PROPTYPE_BYTE, W | P(PUBLISH)},
    [0x02] = {"Message-Expiry-Interval", MQR_PROPTYPE_U32, W | P(PUBLISH)},
    [0x03] = {"Content-Type", MQR_PROPTYPE_STRING, W | P(PUBLISH)},
    [0x08] = {"Response-Topic", MQR_PROPTYPE_STRING, W | P(PUBLISH)},
    [0x09] = {"Correlation-Data", MQR_PROPTYPE_BINARY, W | P(PUBLISH)},
    [0x0B] = {"Subscription-Identifier", MQR_PROPTYPE_VARINT, P(PUBLISH) | P(SUBSCRIBE)},
    [0x11] = {"Session-Expiry-Interval", MQR_PROPTYPE_U32, P(CONNECT) | P(CONNACK) | P(DISCONNECT)},
    [0x12] = {"Assigned-Client-Identifier", MQR_PROPTYPE_STRING, P(CONNACK)},
    [0x13] = {"Server-Keep-Alive", MQR_PROPTYPE_U16, P(CONNACK)},
    [0x15] = {"Authentication-Method", MQR_PROPTYPE_STRING, P(CONNECT) | P(CONNACK) | P(AUTH)},
    [0x16] = {"Authentication-Data", MQR_PROPTYPE_BINARY, P(CONNECT) | P(CONNACK) | P(AUTH)},
    [0x17] = {"Request-Problem-Information", MQR_PROPTYPE_BYTE, P(CONNECT)},
    [0x18] = {"Will-Delay-Interval", MQR_PROPTYPE_U32, W},
    [0x19] = {"Request-Response-Information", MQR_PROPTYPE_BYTE, P(CONNECT)},
    [0x1A] = {"Response-Information", MQR_PROPTYPE_STRING, P(CONNACK)},
    [0x1C] = {"Server-Reference", MQR_PROPTYPE_STRING, P(CONNACK) | P(DISCONNECT)},
    [0x1F] = {"Reason-String", MQR_PROPTYPE_STRING,
              P(CONNACK) | ALL_ACKS | P(SUBACK) | P(UNSUBACK) | P(DISCONNECT) | P(AUTH)},
    [0x21] = {"Receive-Maximum", MQR_PROPTYPE_U16, P(CONNECT) | P(CONNACK)},
    [0x22] = {"Topic-Alias-Maximum", MQR_PROPTYPE_U16, P(CONNECT) | P(CONNACK)},
    [0x23] = {"Topic-Alias", MQR_PROPTYPE_U16, P(PUBLISH)},
    [0x24] = {"Maximum-QoS", MQR_PROPTYPE_BYTE, P(CONNACK)},
    [0x25] = {"Retain-Available", MQR_PROPTYPE_BYTE, P(CONNACK)},
    [0x26] = {"User-Property", MQR_PROPTYPE_PAIR,
              W | P(CONNECT) | P(CONNACK) | P(PUBLISH) | ALL_ACKS | P(SUBSCRIBE) | P(SUBACK) |
                  P(UNSUBSCRIBE) | P(UNSUBACK) | P(DISCONNECT) | P(AUTH)},
    [0x27] = {"Maximum-Packet-Size", MQR_PROPTYPE_U32, P(CONNECT) | P(CONNACK)},
    [0x28] = {"Wildcard-Subscription-Available", MQR_PROPTYPE_BYTE, P(CONNACK)},
    [0x29] = {"Subscription-Identifier-Available", MQR_PROPTYPE_BYTE, P(CONNACK)},
    [0x2A] = {"Shared-Subscription-Available", MQR_PROPTYPE_BYTE, P(CONNACK)},
};

static const prop_def_t *prop_def(uint32_t id)
{
    return (id < MQR__ARRAY_LEN(prop_defs) && prop_defs[id].name) ? &prop_defs[id] : NULL;
}

const char *mqr_packet_prop_name(uint8_t id)
{
    const prop_def_t *d = prop_def(id);
    return d ? d->name : NULL;
}

int mqr_packet_prop_type(uint8_t id)
{
    const prop_def_t *d = prop_def(id);
    return d ? d->type : 0;
}

int mqr_packet_prop_id(const char *name, size_t len)
{
    if (!name)
        return -1;
    for (size_t id = 0; id < MQR__ARRAY_LEN(prop_defs); id++) {
        const char *n = prop_defs[id].name;
        if (n && strlen(n) == len && memcmp(n, name, len) == 0)
            return (int)id;
    }
    return -1;
}

/* Read a two-byte length-prefixed field at p (< end) into ptr and len; returns
 * the bytes used or 0 when it does not fit. */
static size_t read_lp(const uint8_t *p, const uint8_t *end, const uint8_t **ptr, uint32_t *len)
{
    if (end - p < 2)
        return 0;
    uint32_t n = (uint32_t)p[0] << 8 | p[1];
    if ((size_t)(end - p - 2) < n)
        return 0;
    *ptr = p + 2;
    *len = n;
    return 2 + n;
}

/* Outcome of prop_read(). */
enum { PR_OK = 0, PR_TRUNCATED, PR_UNKNOWN };

/*
 * Read the property at [p, end) (p < end) into *out and *used (bytes
 * consumed). Only id, type and the members the type uses are written: the
 * validator reuses one mqr_prop_t for all properties of a packet, and the
 * iterator clears it first.
 * Returns PR_OK, PR_TRUNCATED (its value does not fit, or its id is not a
 * valid variable byte integer) or PR_UNKNOWN (an id the spec does not define;
 * out->id then holds the id, or 0 if it needs more than one byte).
 */
static int prop_read(const uint8_t *p, const uint8_t *end, mqr_prop_t *out, size_t *used)
{
    uint32_t id = p[0];
    int n = 1;
    if (MQR__UNLIKELY(id & 0x80)) {
        n = mqr__varint_get(p, end, &id);
        if (n <= 0)
            return PR_TRUNCATED;
    }
    out->id = (uint8_t)(id < 256 ? id : 0);
    const prop_def_t *d = prop_def(id);
    if (!d)
        return PR_UNKNOWN;
    out->type = d->type;
    const uint8_t *q = p + n;
    size_t k = 0;
    switch (d->type) {
    case MQR_PROPTYPE_BYTE:
        if (q >= end)
            return PR_TRUNCATED;
        out->value = q[0];
        k = 1;
        break;
    case MQR_PROPTYPE_U16:
        if (end - q < 2)
            return PR_TRUNCATED;
        out->value = (uint32_t)q[0] << 8 | q[1];
        k = 2;
        break;
    case MQR_PROPTYPE_U32:
        if (end - q < 4)
            return PR_TRUNCATED;
        out->value = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
        k = 4;
        break;
    case MQR_PROPTYPE_VARINT: {
        int m = mqr__varint_get(q, end, &out->value);
        if (m <= 0)
            return PR_TRUNCATED;
        k = (size_t)m;
        break;
    }
    case MQR_PROPTYPE_STRING:
        k = read_lp(q, end, (const uint8_t **)&out->str.ptr, &out->str.len);
        if (!k)
            return PR_TRUNCATED;
        break;
    case MQR_PROPTYPE_BINARY:
        k = read_lp(q, end, &out->bin.ptr, &out->bin.len);
        if (!k)
            return PR_TRUNCATED;
        break;
    default: { /* PAIR */
        k = read_lp(q, end, (const uint8_t **)&out->str.ptr, &out->str.len);
        size_t k2 = k ? read_lp(q + k, end, (const uint8_t **)&out->str2.ptr, &out->str2.len) : 0;
        if (!k2)
            return PR_TRUNCATED;
        k += k2;
    }
    }
    *used = (size_t)n + k;
    return PR_OK;
}

/* A problem found in a property's value: the status, reason code, phrase and
 * the byte (within the value) where it is. */
typedef struct prop_issue {
    int code;
    int reason;
    const char *what;
    const uint8_t *at;
} prop_issue_t;

static int issue(prop_issue_t *is, int code, int reason, const char *what, const void *at)
{
    is->code = code;
    is->reason = reason;
    is->what = what;
    is->at = at;
    return code;
}

/* Check the value of a property read by prop_read() (or given to
 * mqr_packet_prop_add()): UTF-8 of strings under the policy in `scan_flags`,
 * and the ranges the spec sets. */
static int prop_value_check(const mqr_prop_t *pr, int scan_flags, prop_issue_t *is)
{
    mqr__scan_t sc;
    const int str_mode = MQR__SCAN_STRING | scan_flags, topic_mode = MQR__SCAN_TOPIC | scan_flags;
    switch (pr->type) {
    case MQR_PROPTYPE_STRING:
    case MQR_PROPTYPE_PAIR:
        if (MQR__LIKELY(pr->id != MQR_PROP_RESPONSE_TOPIC &&
                        mqr__all_plain((const uint8_t *)pr->str.ptr, pr->str.len) &&
                        (pr->type == MQR_PROPTYPE_STRING ||
                         mqr__all_plain((const uint8_t *)pr->str2.ptr, pr->str2.len))))
            return MQR_OK;
        if (mqr__packet_scan((const uint8_t *)pr->str.ptr, pr->str.len, str_mode, &sc))
            return issue(is, MQR_EUTF8, 0x81, sc.what, pr->str.ptr + sc.off);
        if (pr->type == MQR_PROPTYPE_PAIR &&
            mqr__packet_scan((const uint8_t *)pr->str2.ptr, pr->str2.len, str_mode, &sc))
            return issue(is, MQR_EUTF8, 0x81, sc.what, pr->str2.ptr + sc.off);
        if (pr->id == MQR_PROP_RESPONSE_TOPIC &&
            mqr__packet_scan((const uint8_t *)pr->str.ptr, pr->str.len, topic_mode, &sc))
            return issue(is, MQR_EPROPERTY, 0x82, sc.what, pr->str.ptr + sc.off);
        return MQR_OK;
    case MQR_PROPTYPE_BYTE:
        if (pr->value > 1)
            return issue(is, MQR_EPROPERTY, 0x82, "is neither 0 nor 1", NULL);
        return MQR_OK;
    default:
        break;
    }
    if (pr->value == 0) {
        switch (pr->id) {
        case MQR_PROP_TOPIC_ALIAS:
            return issue(is, MQR_EPROPERTY, 0x94, "is 0", NULL);
        case MQR_PROP_SUBSCRIPTION_IDENTIFIER:
        case MQR_PROP_RECEIVE_MAXIMUM:
        case MQR_PROP_MAXIMUM_PACKET_SIZE:
            return issue(is, MQR_EPROPERTY, 0x82, "is 0", NULL);
        default:
            break;
        }
    }
    return MQR_OK;
}

int mqr__packet_props_check(const mqr__pctx_t *c, const uint8_t *p, size_t len, int ctx,
                            const char *field, uint64_t *out_seen)
{
    const uint8_t *end = p + len;
    uint64_t seen = 0;
    mqr_prop_t pr;
    memset(&pr, 0, sizeof pr);
    while (p < end) {
        size_t used = 0;
        int r = prop_read(p, end, &pr, &used);
        if (r == PR_TRUNCATED)
            return mqr__packet_fail(c, MQR_EMALFORMED, 0x81, field, p,
                                    "%s: property 0x%02X overruns the property length", field,
                                    p[0]);
        if (r == PR_UNKNOWN)
            return mqr__packet_fail(c, MQR_EPROPERTY, 0x81, field, p,
                                    "%s: unknown property identifier 0x%02X", field, p[0]);
        const prop_def_t *d = prop_def(pr.id);
        if (!(d->ctx & (1u << ctx)))
            return mqr__packet_fail(c, MQR_EPROPERTY, 0x82, field, p, "%s: %s is not allowed here",
                                    field, d->name);
        uint64_t bit = (uint64_t)1 << pr.id;
        if ((seen & bit) && pr.id != MQR_PROP_USER_PROPERTY &&
            !(pr.id == MQR_PROP_SUBSCRIPTION_IDENTIFIER && ctx == MQR_PKT_PUBLISH))
            return mqr__packet_fail(c, MQR_EPROPERTY, 0x82, field, p, "%s: %s appears twice",
                                    field, d->name);
        seen |= bit;
        prop_issue_t is;
        if (prop_value_check(&pr, c->scan_flags, &is) != MQR_OK)
            return mqr__packet_fail(c, is.code, is.reason, field, is.at ? is.at : p, "%s: %s %s",
                                    field, d->name, is.what);
        p += used;
    }
    const uint64_t data = 1ull << MQR_PROP_AUTHENTICATION_DATA;
    if ((seen & data) && !(seen & (1ull << MQR_PROP_AUTHENTICATION_METHOD)))
        return mqr__packet_fail(c, MQR_EPROTOCOL, 0x82, field, end - len,
                                "%s: Authentication-Data without Authentication-Method", field);
    if (out_seen)
        *out_seen = seen;
    return MQR_OK;
}

void mqr_packet_iter_props(mqr_packet_iter_t *it, const mqr_props_t *props)
{
    if (!it)
        return;
    memset(it, 0, sizeof *it);
    if (props && props->ptr) {
        it->pos = props->ptr;
        it->end = props->ptr + props->len;
    }
}

int mqr_packet_prop_next(mqr_packet_iter_t *it, mqr_prop_t *out)
{
    if (!it || !out || !it->pos || it->pos >= it->end)
        return 0;
    size_t used = 0;
    memset(out, 0, sizeof *out);
    if (prop_read(it->pos, it->end, out, &used) != PR_OK) {
        it->pos = it->end;
        return 0;
    }
    it->pos += used;
    return 1;
}

/* Find the first property `id` of type `type` in *props. */
static int prop_find(const mqr_props_t *props, uint8_t id, int type, mqr_prop_t *out)
{
    const prop_def_t *d = prop_def(id);
    if (!props || !d)
        return MQR_EINVAL;
    int want = d->type == MQR_PROPTYPE_PAIR ? MQR_PROPTYPE_STRING : d->type;
    if (type == MQR_PROPTYPE_U32 ? want > MQR_PROPTYPE_VARINT : want != type)
        return MQR_EINVAL;
    mqr_packet_iter_t it;
    mqr_packet_iter_props(&it, props);
    while (mqr_packet_prop_next(&it, out))
        if (out->id == id)
            return MQR_OK;
    return MQR_ENOTFOUND;
}

int mqr_packet_prop_get_int(const mqr_props_t *props, uint8_t id, uint32_t *out_value)
{
    mqr_prop_t pr;
    if (!out_value)
        return MQR_EINVAL;
    int rc = prop_find(props, id, MQR_PROPTYPE_U32, &pr);
    if (rc == MQR_OK)
        *out_value = pr.value;
    return rc;
}

int mqr_packet_prop_get_str(const mqr_props_t *props, uint8_t id, mqr_str_t *out_value)
{
    mqr_prop_t pr;
    if (!out_value)
        return MQR_EINVAL;
    int rc = prop_find(props, id, MQR_PROPTYPE_STRING, &pr);
    if (rc == MQR_OK)
        *out_value = pr.str;
    return rc;
}

int mqr_packet_prop_get_bin(const mqr_props_t *props, uint8_t id, mqr_bin_t *out_value)
{
    mqr_prop_t pr;
    if (!out_value)
        return MQR_EINVAL;
    int rc = prop_find(props, id, MQR_PROPTYPE_BINARY, &pr);
    if (rc == MQR_OK)
        *out_value = pr.bin;
    return rc;
}

/* Write a two-byte length and the bytes. */
static uint8_t *put_lp(uint8_t *p, const void *s, uint32_t len)
{
    *p++ = (uint8_t)(len >> 8);
    *p++ = (uint8_t)len;
    if (len)
        memcpy(p, s, len);
    return p + len;
}

int mqr_packet_prop_add(uint8_t *buf, size_t cap, size_t *io_len, const mqr_prop_t *prop)
{
    if (!io_len || !prop || (!buf && cap) || *io_len > cap)
        return MQR_EINVAL;
    const prop_def_t *d = prop_def(prop->id);
    if (!d || d->type != prop->type)
        return MQR_EINVAL;
    static const uint32_t max_of[] = {0, 0xFF, 0xFFFF, 0xFFFFFFFFu, MQR__VARINT_MAX};
    size_t need = 1;
    switch (d->type) {
    case MQR_PROPTYPE_STRING:
        if ((!prop->str.ptr && prop->str.len) || prop->str.len > 65535)
            return MQR_EINVAL;
        need += 2 + prop->str.len;
        break;
    case MQR_PROPTYPE_BINARY:
        if ((!prop->bin.ptr && prop->bin.len) || prop->bin.len > 65535)
            return MQR_EINVAL;
        need += 2 + prop->bin.len;
        break;
    case MQR_PROPTYPE_PAIR:
        if ((!prop->str.ptr && prop->str.len) || (!prop->str2.ptr && prop->str2.len) ||
            prop->str.len > 65535 || prop->str2.len > 65535)
            return MQR_EINVAL;
        need += 4 + prop->str.len + prop->str2.len;
        break;
    default:
        if (prop->value > max_of[d->type])
            return MQR_EPROPERTY;
        need += d->type == MQR_PROPTYPE_VARINT ? mqr__varint_size(prop->value)
                                               : (size_t)1 << (d->type - 1);
    }
    prop_issue_t is;
    int rc = prop_value_check(prop, 0, &is);
    if (rc != MQR_OK)
        return rc;
    if (cap - *io_len < need)
        return MQR_EBUFFER;
    uint8_t *p = buf + *io_len;
    *p++ = prop->id;
    uint32_t v = prop->value;
    switch (d->type) {
    case MQR_PROPTYPE_BYTE:
        *p++ = (uint8_t)v;
        break;
    case MQR_PROPTYPE_U16:
        *p++ = (uint8_t)(v >> 8);
        *p++ = (uint8_t)v;
        break;
    case MQR_PROPTYPE_U32:
        *p++ = (uint8_t)(v >> 24);
        *p++ = (uint8_t)(v >> 16);
        *p++ = (uint8_t)(v >> 8);
        *p++ = (uint8_t)v;
        break;
    case MQR_PROPTYPE_VARINT:
        p = mqr__varint_put(p, v);
        break;
    case MQR_PROPTYPE_STRING:
        p = put_lp(p, prop->str.ptr, prop->str.len);
        break;
    case MQR_PROPTYPE_BINARY:
        p = put_lp(p, prop->bin.ptr, prop->bin.len);
        break;
    default:
        p = put_lp(p, prop->str.ptr, prop->str.len);
        p = put_lp(p, prop->str2.ptr, prop->str2.len);
    }
    *io_len = (size_t)(p - buf);
    return MQR_OK;
}

/* ---- reason codes ------------------------------------------------------------------- */

/* The reason codes MQTT 5 allows per packet (§3.x.2.1 tables). */
static const uint8_t rc_connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                     0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                     0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89,
                                        0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                                        0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
                                        0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};

int mqr__packet_reason_ok(int type, uint8_t code)
{
    const uint8_t *t;
    size_t n;
#define USE(a) (t = (a), n = sizeof(a))
    switch (type) {
    case MQR_PKT_CONNACK: USE(rc_connack); break;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC: USE(rc_puback); break;
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP: USE(rc_pubrel); break;
    case MQR_PKT_SUBACK: USE(rc_suback); break;
    case MQR_PKT_UNSUBACK: USE(rc_unsuback); break;
    case MQR_PKT_DISCONNECT: USE(rc_disconnect); break;
    case MQR_PKT_AUTH: USE(rc_auth); break;
    default: return 0;
    }
#undef USE
    return memchr(t, code, n) != NULL;
}
