/* SPDX-License-Identifier: MIT */
/*
 * packet_priv.h - what the codec's files share and the API does not show:
 * the error context that turns a failed check into an mqr_diag_t, the
 * variable-length integer helpers, the string/topic scanners and the property
 * validator. Used by packet_decode.c, packet_encode.c and packet_util.c.
 */
#ifndef MQR_PACKET_PRIV_H
#define MQR_PACKET_PRIV_H

#include <string.h>

#include "internal.h"
#include "mqttrule/packet.h"

/* Return from the calling function when x is not MQR_OK. */
#define TRY(x)                       \
    do {                             \
        int rc_ = (x);               \
        if (MQR__UNLIKELY(rc_ != 0)) \
            return rc_;              \
    } while (0)

/* Largest remaining length a four-byte variable-length integer holds. */
#define MQR__VARINT_MAX 268435455u

/*
 * Where an error is reported: the diag to fill, the packet type for the
 * message prefix, and the byte that offsets are counted from (`base`, NULL
 * when the checked bytes are not part of one buffer, as when encoding) plus
 * `stream_off`, added to every offset by the stream decoder. `scan_flags`
 * carries the UTF-8 policy to the checks that run under this context.
 */
typedef struct mqr__pctx {
    mqr_diag_t *diag;
    const uint8_t *base;
    uint64_t stream_off;
    int type;
    int scan_flags; /* MQR__SCAN_LENIENT or 0, added to every scanner mode */
} mqr__pctx_t;

/*
 * Fill c->diag (if any) with code, reason code, packet type, field and the
 * offset of `at` from c->base, with the message "<TYPE>: <fmt...> at byte N"
 * (without " at byte N" when there is no base). Returns `code`.
 */
int mqr__packet_fail(const mqr__pctx_t *c, int code, int reason, const char *field,
                     const uint8_t *at, const char *fmt, ...) MQR__PRINTF(6, 7);

/* Outcome of a scan: what was wrong (a short phrase such as "contains '+'")
 * and the offset of the offending byte within the scanned string. */
typedef struct mqr__scan {
    const char *what;
    size_t off;
} mqr__scan_t;

/* Scanner modes. */
#define MQR__SCAN_STRING 0 /* well-formed MQTT UTF-8 */
#define MQR__SCAN_TOPIC 1  /* plus: no '+' or '#' */
#define MQR__SCAN_FILTER 2 /* plus: wildcard placement, $share syntax */
#define MQR__SCAN_MODE 0x0F    /* mask of the three modes above */
#define MQR__SCAN_LENIENT 0x10 /* flag: accept control characters and non-characters */

/*
 * Whether the eight bytes at p are all "plain": printable ASCII (0x20-0x7E)
 * other than '+' and '#'. Such bytes need no further look in any scanner mode
 * or policy, so scanners skip them eight at a time. SWAR: for bytes below
 * 0x80, (b - n) & ~b has its high bit set exactly when b < n, and x ^ c is
 * zero (below 1) where x == c.
 */
static inline int mqr__chunk_plain(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t plus = w ^ (ones * '+'), hash = w ^ (ones * '#'), del = w ^ (ones * 0x7F);
    uint64_t low = ((w - ones * 0x20) & ~w) | ((plus - ones) & ~plus) | ((hash - ones) & ~hash) |
                   ((del - ones) & ~del);
    return ((w | low) & highs) == 0;
}

/*
 * Whether all of s[0..len) is plain (see above): then it is a valid UTF-8
 * string under either policy and, when len > 0, a valid topic name. The decoder's fast path; a
 * false answer sends the caller to mqr__packet_scan() for the verdict.
 */
static inline int mqr__all_plain(const uint8_t *s, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        if (!mqr__chunk_plain(s + i))
            return 0;
    if (len >= 8)
        return i == len || mqr__chunk_plain(s + len - 8);
    for (; i < len; i++) {
        uint8_t c = s[i];
        if (c < 0x20 || c >= 0x7F || c == '+' || c == '#')
            return 0;
    }
    return 1;
}

/*
 * Scan s[0..len) in `mode` (one of the modes, optionally with
 * MQR__SCAN_LENIENT). Returns MQR_OK, or MQR_EUTF8 / MQR_ETOPIC /
 * MQR_EFILTER with *out filled. Length limits (empty topic) are checked here
 * for TOPIC and FILTER modes.
 */
int mqr__packet_scan(const uint8_t *s, size_t len, int mode, mqr__scan_t *out);

/*
 * Read a variable byte integer from [p, end). Returns the number of bytes
 * used (1..4) and stores the value, 0 when the bytes end before it does, or
 * -1 when it is longer than four bytes or not minimally encoded.
 */
int mqr__varint_get(const uint8_t *p, const uint8_t *end, uint32_t *out_value);
/* Bytes needed to encode v (1..4; v <= MQR__VARINT_MAX). */
size_t mqr__varint_size(uint32_t v);
/* Write v at p (which has room for mqr__varint_size(v) bytes); returns p after it. */
uint8_t *mqr__varint_put(uint8_t *p, uint32_t v);

/* Property context for a CONNECT's will properties (packet types use 1..15). */
#define MQR__PROPCTX_WILL 0

/*
 * Validate the properties p[0..len) of packet type `ctx` (or MQR__PROPCTX_WILL):
 * known ids, allowed in ctx, no forbidden duplicates, well-formed values in
 * range, no Authentication-Data without Authentication-Method (CONNECT,
 * CONNACK, AUTH). `field` names them in messages ("properties", "will properties").
 * On success stores the set of ids seen as bits (1 << id) in *out_seen (may be
 * NULL). Errors go through c as described in packet.h.
 */
int mqr__packet_props_check(const mqr__pctx_t *c, const uint8_t *p, size_t len, int ctx,
                            const char *field, uint64_t *out_seen);

/*
 * Validate the entries of a SUBSCRIBE (filter + options, `type`
 * MQR_PKT_SUBSCRIBE) or UNSUBSCRIBE (filters) at level `ver`: p[0..len) must
 * hold one or more well-formed entries and nothing else. Stores their number
 * in *out_count.
 */
int mqr__packet_entries_check(const mqr__pctx_t *c, int type, int ver, const uint8_t *p,
                              size_t len, uint32_t *out_count);

/* Whether a reason code is valid for packet `type` at MQTT 5. */
int mqr__packet_reason_ok(int type, uint8_t code);

#endif /* MQR_PACKET_PRIV_H */
