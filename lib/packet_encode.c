/* SPDX-License-Identifier: MIT */
/*
 * packet_encode.c - the MQTT encoder: size query and encoding of every
 * control packet at protocol level 3, 4 or 5 into a caller buffer.
 *
 * How it works: one function per packet type writes the body through a
 * writer (wr_t) that can run without a buffer. The first run only counts
 * bytes and validates every field with the decoder's own checks (scanner,
 * property validator, entry validator, reason-code tables), so an encoded
 * packet always decodes. The second run, made only when the buffer is large
 * enough, writes the fixed header and the body and skips the checks.
 */
#include <string.h>

#include "packet_priv.h"

/* A body writer: counts bytes in n, and stores them when p is not NULL. */
typedef struct wr {
    uint8_t *p;
    size_t n;
    int check; /* 1 in the validating (counting) run */
    int ver;
    mqr__pctx_t c;
} wr_t;

static void w_u8(wr_t *w, uint8_t v)
{
    if (w->p)
        w->p[w->n] = v;
    w->n++;
}

static void w_u16(wr_t *w, uint16_t v)
{
    w_u8(w, (uint8_t)(v >> 8));
    w_u8(w, (uint8_t)v);
}

static void w_bytes(wr_t *w, const void *src, size_t len)
{
    if (w->p && len)
        memcpy(w->p + w->n, src, len);
    w->n += len;
}

static void w_varint(wr_t *w, uint32_t v)
{
    if (w->p)
        mqr__varint_put(w->p + w->n, v);
    w->n += mqr__varint_size(v);
}

static int fail(wr_t *w, int code, int reason, const char *field, const char *what)
{
    return mqr__packet_fail(&w->c, code, reason, field, NULL, "%s %s", field, what);
}

/* Check a length-prefixed field: ptr present when len > 0, len <= 65535. */
static int check_lp(wr_t *w, const void *ptr, uint32_t len, const char *field)
{
    if (!ptr && len)
        return fail(w, MQR_EINVAL, -1, field, "has a NULL pointer");
    if (len > 65535)
        return fail(w, MQR_EMALFORMED, 0x81, field, "is longer than 65535 bytes");
    return MQR_OK;
}

/* A UTF-8 string field, checked in scanner `mode` (MQR__SCAN_*). */
static int w_str(wr_t *w, mqr_str_t s, const char *field, int mode)
{
    if (w->check) {
        int rc = check_lp(w, s.ptr, s.len, field);
        if (rc != MQR_OK)
            return rc;
        mqr__scan_t sc;
        rc = mqr__packet_scan((const uint8_t *)s.ptr, s.len, mode, &sc);
        if (rc != MQR_OK)
            return fail(w, rc, rc == MQR_ETOPIC ? 0x90 : rc == MQR_EFILTER ? 0x8F : 0x81, field,
                        sc.what);
    }
    w_u16(w, (uint16_t)s.len);
    w_bytes(w, s.ptr, s.len);
    return MQR_OK;
}

static int w_bin(wr_t *w, mqr_bin_t b, const char *field)
{
    if (w->check) {
        int rc = check_lp(w, b.ptr, b.len, field);
        if (rc != MQR_OK)
            return rc;
    }
    w_u16(w, (uint16_t)b.len);
    w_bytes(w, b.ptr, b.len);
    return MQR_OK;
}

/* Whether the properties go on the wire where the packet may omit them. */
static int props_wanted(const mqr_props_t *pr)
{
    return pr->present || pr->len > 0;
}

/* Property length and properties, validated for context `ctx`. */
static int w_props(wr_t *w, const mqr_props_t *pr, int ctx, const char *field, uint64_t *seen)
{
    if (w->check) {
        if (!pr->ptr && pr->len)
            return fail(w, MQR_EINVAL, -1, field, "have a NULL pointer");
        if (pr->len > MQR__VARINT_MAX)
            return fail(w, MQR_ETOOLARGE, 0x95, field, "are too long");
        uint64_t s = 0;
        int rc = pr->len ? mqr__packet_props_check(&w->c, pr->ptr, pr->len, ctx, field, &s) : 0;
        if (rc != MQR_OK)
            return rc;
        if (seen)
            *seen = s;
    }
    w_varint(w, pr->len);
    w_bytes(w, pr->ptr, pr->len);
    return MQR_OK;
}

static int bad_flag(wr_t *w, const char *field, unsigned v, unsigned max)
{
    if (w->check && v > max)
        return fail(w, MQR_EMALFORMED, 0x81, field, "is out of range");
    return MQR_OK;
}

/* ---- per packet type ------------------------------------------------------------------- */

static int enc_connect(wr_t *w, const mqr_pkt_connect_t *c)
{
    static const mqr_str_t mqtt = {"MQTT", 4, 0}, isdp = {"MQIsdp", 6, 0};
    mqr_str_t name = c->proto_name.ptr ? c->proto_name : (w->ver == MQR_PROTO_V31 ? isdp : mqtt);
    int has_user = c->username.ptr != NULL, has_pass = c->password.ptr != NULL;
    if (w->check) {
        int is_mqtt = name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0;
        int is_isdp = name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0;
        if (!((is_mqtt && w->ver >= MQR_PROTO_V311) || (is_isdp && w->ver == MQR_PROTO_V31)))
            return fail(w, MQR_EPROTOVER, 0x84, "protocol name", "does not fit the protocol level");
        TRY(bad_flag(w, "clean start", c->clean_start, 1));
        TRY(bad_flag(w, "will flag", c->will_flag, 1));
        TRY(bad_flag(w, "will qos", c->will_qos, 2));
        TRY(bad_flag(w, "will retain", c->will_retain, 1));
        if (!c->will_flag && (c->will_qos || c->will_retain))
            return fail(w, MQR_EMALFORMED, 0x81, "connect flags", "set will QoS or retain without a will");
        if (has_pass && !has_user && w->ver < MQR_PROTO_V5)
            return fail(w, MQR_EPROTOCOL, 0x82, "password", "is set without a user name");
    }
    TRY(w_str(w, name, "protocol name", MQR__SCAN_STRING));
    w_u8(w, (uint8_t)w->ver);
    w_u8(w, (uint8_t)(has_user << 7 | has_pass << 6 | c->will_retain << 5 | c->will_qos << 3 |
                      c->will_flag << 2 | c->clean_start << 1));
    w_u16(w, c->keepalive);
    if (w->ver >= MQR_PROTO_V5)
        TRY(w_props(w, &c->props, MQR_PKT_CONNECT, "properties", NULL));
    TRY(w_str(w, c->clientid, "client identifier", MQR__SCAN_STRING));
    if (c->will_flag) {
        if (w->ver >= MQR_PROTO_V5)
            TRY(w_props(w, &c->will_props, MQR__PROPCTX_WILL, "will properties", NULL));
        TRY(w_str(w, c->will_topic, "will topic", MQR__SCAN_TOPIC));
        TRY(w_bin(w, c->will_payload, "will payload"));
    }
    if (has_user)
        TRY(w_str(w, c->username, "user name", MQR__SCAN_STRING));
    if (has_pass)
        TRY(w_bin(w, c->password, "password"));
    return MQR_OK;
}

/* A reason code valid for `type` at this level (v3 CONNACK: 0-5). */
static int check_reason(wr_t *w, int type, uint8_t code)
{
    if (!w->check)
        return MQR_OK;
    int ok = w->ver >= MQR_PROTO_V5 ? mqr__packet_reason_ok(type, code)
             : type == MQR_PKT_CONNACK ? code <= 5
                                       : (code <= 2 || code == 0x80);
    return ok ? MQR_OK : fail(w, MQR_EPROTOCOL, 0x82, "reason code", "is not valid here");
}

static int enc_connack(wr_t *w, const mqr_pkt_connack_t *c)
{
    TRY(bad_flag(w, "session present", c->session_present, 1));
    TRY(check_reason(w, MQR_PKT_CONNACK, c->reason_code));
    if (w->check && c->session_present && c->reason_code)
        return fail(w, MQR_EPROTOCOL, 0x82, "session present", "is set with a non-zero reason code");
    w_u8(w, c->session_present);
    w_u8(w, c->reason_code);
    if (w->ver >= MQR_PROTO_V5)
        TRY(w_props(w, &c->props, MQR_PKT_CONNACK, "properties", NULL));
    return MQR_OK;
}

static int enc_publish(wr_t *w, const mqr_pkt_publish_t *m)
{
    if (w->check) {
        TRY(bad_flag(w, "qos", m->qos, 2));
        TRY(bad_flag(w, "dup flag", m->dup, 1));
        TRY(bad_flag(w, "retain", m->retain, 1));
        if (m->dup && m->qos == 0)
            return fail(w, MQR_EPROTOCOL, 0x82, "dup flag", "is set at QoS 0");
        if (m->qos && m->packet_id == 0)
            return fail(w, MQR_EPROTOCOL, 0x82, "packet identifier", "is 0");
    }
    int empty_ok = w->ver >= MQR_PROTO_V5 && m->topic.len == 0;
    TRY(w_str(w, m->topic, "topic", empty_ok ? MQR__SCAN_STRING : MQR__SCAN_TOPIC));
    if (m->qos)
        w_u16(w, m->packet_id);
    if (w->ver >= MQR_PROTO_V5) {
        uint64_t seen = 0;
        TRY(w_props(w, &m->props, MQR_PKT_PUBLISH, "properties", &seen));
        if (w->check && empty_ok && !(seen & (1ull << MQR_PROP_TOPIC_ALIAS)))
            return fail(w, MQR_EPROTOCOL, 0x82, "topic", "is empty and there is no Topic-Alias");
    }
    if (w->check && !m->payload.ptr && m->payload.len)
        return fail(w, MQR_EINVAL, -1, "payload", "has a NULL pointer");
    w_bytes(w, m->payload.ptr, m->payload.len);
    return MQR_OK;
}

/* [reason-code [properties]] of PUBACK..PUBCOMP, DISCONNECT and AUTH at v5:
 * the reason code is written when asked for or when properties follow. */
static int w_reason_tail(wr_t *w, int type, uint8_t code, uint8_t has, const mqr_props_t *pr)
{
    if (w->ver < MQR_PROTO_V5)
        return MQR_OK;
    int with_props = props_wanted(pr);
    if (!has && !with_props) {
        if (w->check && code != 0)
            return fail(w, MQR_EINVAL, -1, "reason code", "is not 0 but has_reason_code is 0");
        return MQR_OK;
    }
    TRY(check_reason(w, type, code));
    w_u8(w, code);
    if (with_props)
        TRY(w_props(w, pr, type, "properties", NULL));
    return MQR_OK;
}

static int w_packet_id(wr_t *w, uint16_t id)
{
    if (w->check && id == 0)
        return fail(w, MQR_EPROTOCOL, 0x82, "packet identifier", "is 0");
    w_u16(w, id);
    return MQR_OK;
}

static int enc_ack(wr_t *w, int type, const mqr_pkt_ack_t *a)
{
    TRY(w_packet_id(w, a->packet_id));
    return w_reason_tail(w, type, a->reason_code, a->has_reason_code, &a->props);
}

/* One SUBSCRIBE entry from the caller's list. */
static int w_sub_entry(wr_t *w, const mqr_subscription_t *s)
{
    if (w->check) {
        TRY(bad_flag(w, "requested qos", s->qos, 2));
        unsigned v5 = w->ver >= MQR_PROTO_V5;
        TRY(bad_flag(w, "no local", s->no_local, v5));
        TRY(bad_flag(w, "retain as published", s->retain_as_published, v5));
        TRY(bad_flag(w, "retain handling", s->retain_handling, v5 * 2));
        if (s->no_local && s->filter.len >= 7 && s->filter.ptr &&
            memcmp(s->filter.ptr, "$share/", 7) == 0)
            return fail(w, MQR_EPROTOCOL, 0x82, "no local", "is set on a shared subscription");
    }
    TRY(w_str(w, s->filter, "topic filter", MQR__SCAN_FILTER));
    w_u8(w, (uint8_t)(s->retain_handling << 4 | s->retain_as_published << 3 | s->no_local << 2 |
                      s->qos));
    return MQR_OK;
}

/* SUBSCRIBE and UNSUBSCRIBE: entries from `list` when set, else the raw
 * `entries` bytes, validated as the decoder validates them. */
static int enc_subscribe(wr_t *w, int type, const mqr_packet_t *pkt)
{
    const mqr_pkt_subscribe_t *s = &pkt->subscribe;
    TRY(w_packet_id(w, s->packet_id));
    if (w->ver >= MQR_PROTO_V5)
        TRY(w_props(w, &s->props, type, "properties", NULL));
    const void *list = type == MQR_PKT_SUBSCRIBE ? (const void *)s->list
                                                 : (const void *)pkt->unsubscribe.list;
    if (list) {
        if (w->check && s->count == 0)
            return fail(w, MQR_EPROTOCOL, 0x82, "topic filter", "list is empty");
        for (uint32_t i = 0; i < s->count; i++) {
            if (type == MQR_PKT_SUBSCRIBE)
                TRY(w_sub_entry(w, &s->list[i]));
            else
                TRY(w_str(w, pkt->unsubscribe.list[i], "topic filter", MQR__SCAN_FILTER));
        }
        return MQR_OK;
    }
    if (w->check) {
        uint32_t count;
        TRY(check_lp(w, s->entries.ptr, s->entries.len ? 1 : 0, "entries"));
        TRY(mqr__packet_entries_check(&w->c, type, w->ver, s->entries.ptr, s->entries.len, &count));
    }
    w_bytes(w, s->entries.ptr, s->entries.len);
    return MQR_OK;
}

static int enc_suback(wr_t *w, int type, const mqr_pkt_suback_t *s)
{
    TRY(w_packet_id(w, s->packet_id));
    if (type == MQR_PKT_UNSUBACK && w->ver < MQR_PROTO_V5) {
        if (w->check && s->codes.len)
            return fail(w, MQR_EPROTOCOL, 0x82, "reason codes", "exist only in MQTT 5");
        return MQR_OK;
    }
    if (w->ver >= MQR_PROTO_V5)
        TRY(w_props(w, &s->props, type, "properties", NULL));
    if (w->check) {
        if (s->codes.len == 0)
            return fail(w, MQR_EPROTOCOL, 0x82, "reason codes", "are missing");
        if (!s->codes.ptr)
            return fail(w, MQR_EINVAL, -1, "reason codes", "have a NULL pointer");
        for (uint32_t i = 0; i < s->codes.len; i++)
            TRY(check_reason(w, type, s->codes.ptr[i]));
    }
    w_bytes(w, s->codes.ptr, s->codes.len);
    return MQR_OK;
}

/* The body of *pkt through w. */
static int enc_body(wr_t *w, const mqr_packet_t *pkt)
{
    switch (pkt->type) {
    case MQR_PKT_CONNECT: return enc_connect(w, &pkt->connect);
    case MQR_PKT_CONNACK: return enc_connack(w, &pkt->connack);
    case MQR_PKT_PUBLISH: return enc_publish(w, &pkt->publish);
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC:
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP: return enc_ack(w, pkt->type, &pkt->ack);
    case MQR_PKT_SUBSCRIBE:
    case MQR_PKT_UNSUBSCRIBE: return enc_subscribe(w, pkt->type, pkt);
    case MQR_PKT_SUBACK:
    case MQR_PKT_UNSUBACK: return enc_suback(w, pkt->type, &pkt->suback);
    case MQR_PKT_PINGREQ:
    case MQR_PKT_PINGRESP: return MQR_OK;
    case MQR_PKT_DISCONNECT:
    case MQR_PKT_AUTH:
        if (pkt->type == MQR_PKT_AUTH && w->ver < MQR_PROTO_V5)
            return fail(w, MQR_EPROTOCOL, 0x82, "packet type", "AUTH exists only in MQTT 5");
        return w_reason_tail(w, pkt->type, pkt->disconnect.reason_code,
                             pkt->disconnect.has_reason_code, &pkt->disconnect.props);
    default:
        return fail(w, MQR_EINVAL, -1, "packet type", "is not 1..15");
    }
}

/* The first byte of the fixed header. */
static uint8_t first_byte(const mqr_packet_t *pkt)
{
    uint8_t flags = 0;
    if (pkt->type == MQR_PKT_PUBLISH)
        flags = (uint8_t)(pkt->publish.dup << 3 | pkt->publish.qos << 1 | pkt->publish.retain);
    else if (pkt->type == MQR_PKT_PUBREL || pkt->type == MQR_PKT_SUBSCRIBE ||
             pkt->type == MQR_PKT_UNSUBSCRIBE)
        flags = 2;
    return (uint8_t)(pkt->type << 4 | flags);
}

/* Validate *pkt and compute its body size; sets up *w for the write run. */
static int measure(const mqr_packet_t *pkt, wr_t *w, size_t *out_total, mqr_diag_t *diag)
{
    memset(w, 0, sizeof *w);
    w->c.diag = diag;
    w->c.type = pkt->type;
    w->ver = pkt->proto_ver ? pkt->proto_ver : MQR_PROTO_V311;
    w->check = 1;
    if (w->ver < MQR_PROTO_V31 || w->ver > MQR_PROTO_V5)
        return fail(w, MQR_EPROTOVER, 0x84, "protocol level", "is not 3, 4 or 5");
    TRY(enc_body(w, pkt));
    if (w->n > MQR__VARINT_MAX)
        return fail(w, MQR_ETOOLARGE, 0x95, "remaining length", "exceeds 268435455");
    *out_total = 1 + mqr__varint_size((uint32_t)w->n) + w->n;
    return MQR_OK;
}

int mqr_packet_size(const mqr_packet_t *packet, size_t *out_size, mqr_diag_t *diag)
{
    if (!packet || !out_size)
        return mqr__diag_set(diag, MQR_EINVAL, "NULL argument");
    wr_t w;
    return measure(packet, &w, out_size, diag);
}

int mqr_packet_encode(const mqr_packet_t *packet, uint8_t *buf, size_t cap, size_t *out_len,
                      mqr_diag_t *diag)
{
    if (!packet || !out_len || (!buf && cap))
        return mqr__diag_set(diag, MQR_EINVAL, "NULL argument");
    wr_t w;
    size_t total = 0;
    TRY(measure(packet, &w, &total, diag));
    *out_len = total;
    if (cap < total)
        return mqr__diag_set(diag, MQR_EBUFFER, "%s: needs %zu bytes, the buffer has %zu",
                             mqr_packet_type_name(packet->type), total, cap);
    uint32_t body = (uint32_t)w.n;
    buf[0] = first_byte(packet);
    uint8_t *p = mqr__varint_put(buf + 1, body);
    w.p = p;
    w.n = 0;
    w.check = 0;
    return enc_body(&w, packet);
}
