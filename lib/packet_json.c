/* SPDX-License-Identifier: MIT */
/*
 * packet_json.c - MQTT packets as JSON-ready values and back: the schema of
 * docs/packet.md, shared by mqttrule-packet and the Python bindings.
 *
 * To JSON: mqr_packet_to_value() walks a decoded mqr_packet_t and builds an
 * object in the caller's arena. Strings borrow the packet's bytes (so the
 * value is valid while both the arena and the decoded input are); binary
 * data that is not printable text falls back to "<key>_hex" (or {"hex": ...}
 * for property values). Everything the wire can write two ways is kept:
 * omitted reason codes, absent versus empty properties, and the raw
 * "properties_hex" when grouping repeated properties reorders their bytes,
 * so decode -> JSON -> encode gives the input bytes back.
 *
 * From JSON: mqr_packet_from_value() reads such an object into an
 * mqr_packet_t, allocating property buffers, hex-decoded bytes and
 * SUBSCRIBE/UNSUBSCRIBE lists in the arena; schema errors name the key in
 * the diag. mqr_packet_encode_json() chains the JSON reader, that and the
 * encoder for callers (bindings) that only hold text.
 *
 * All memory comes from the caller's arena, which allocates through its
 * allocator hook; nothing here calls malloc.
 */
#include <stdio.h>
#include <string.h>

#include "mqttrule/json.h"
#include "mqttrule/packet_json.h"

#include "codec_util.h"
#include "internal.h"

/* ---- packet to value ------------------------------------------------------------ */

/* Whether bytes print as a JSON string without loss or confusion: text that
 * passes the library's strict UTF-8 check (no U+0000, no control characters,
 * no non-characters) except that tab, CR and LF may separate its pieces. */
static int text_safe(const uint8_t *p, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            continue;
        if (mqr_packet_utf8_check((const char *)p + start, i - start, NULL) != MQR_OK)
            return 0;
        start = i + 1;
    }
    return 1;
}

/* The JSON object of one packet, built as mqr_value_t in an arena (reset per
 * packet) and written with mqr_json_write(). Strings borrow the input bytes
 * and static key names; `failed` records an allocation failure. */
typedef struct jb {
    mqr_arena_t *arena;
    int failed;
} jb_t;

static void put(jb_t *j, mqr_value_t *obj, const char *key, const mqr_value_t *v)
{
    if (mqr_value_object_put(j->arena, obj, key, strlen(key), v) != MQR_OK)
        j->failed = 1;
}

static mqr_value_t new_container(jb_t *j, int array)
{
    mqr_value_t v;
    int rc = array ? mqr_value_array_new(j->arena, 4, &v) : mqr_value_object_new(j->arena, 8, &v);
    if (rc != MQR_OK) {
        j->failed = 1;
        mqr_value_set_null(&v);
    }
    return v;
}

static void push(jb_t *j, mqr_value_t *arr, const mqr_value_t *v)
{
    if (arr->type != MQR_VAL_ARRAY || mqr_value_array_push(j->arena, arr, v) != MQR_OK)
        j->failed = 1;
}

static mqr_value_t str_value(const char *s, size_t len)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, len);
    return v;
}

static void put_str(jb_t *j, mqr_value_t *obj, const char *key, mqr_str_t s)
{
    mqr_value_t v = str_value(s.ptr, s.len);
    put(j, obj, key, &v);
}

static void put_int(jb_t *j, mqr_value_t *obj, const char *key, int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    put(j, obj, key, &v);
}

static void put_bool(jb_t *j, mqr_value_t *obj, const char *key, int b)
{
    mqr_value_t v;
    mqr_value_set_bool(&v, b);
    put(j, obj, key, &v);
}

/* Lowercase hex of p[0..len) as a string value in the arena. */
static mqr_value_t hex_value(jb_t *j, const uint8_t *p, size_t len)
{
    size_t n = 0;
    char *h = mqr_arena_alloc(j->arena, 2 * len + 1);
    if (!h || mqr__hex_encode(p, len, 0, h, 2 * len + 1, &n) != MQR_OK) {
        j->failed = 1;
        return str_value("", 0);
    }
    return str_value(h, n);
}

/* Binary data as "key": "text" when text_safe, else "hex_key": "...". */
static void put_bytes(jb_t *j, mqr_value_t *obj, const char *key, const char *hex_key, mqr_bin_t b)
{
    mqr_value_t v = text_safe(b.ptr, b.len) ? str_value((const char *)b.ptr, b.len)
                                            : hex_value(j, b.ptr, b.len);
    put(j, obj, text_safe(b.ptr, b.len) ? key : hex_key, &v);
}

/* One property value. Binary values: a string when text_safe, else
 * {"hex": "..."}; pairs: [name, value]. */
static mqr_value_t prop_value(jb_t *j, const mqr_prop_t *pr)
{
    mqr_value_t v;
    switch (pr->type) {
    case MQR_PROPTYPE_STRING: return str_value(pr->str.ptr, pr->str.len);
    case MQR_PROPTYPE_PAIR: {
        v = new_container(j, 1);
        mqr_value_t k = str_value(pr->str.ptr, pr->str.len), w = str_value(pr->str2.ptr, pr->str2.len);
        push(j, &v, &k);
        push(j, &v, &w);
        return v;
    }
    case MQR_PROPTYPE_BINARY:
        if (text_safe(pr->bin.ptr, pr->bin.len))
            return str_value((const char *)pr->bin.ptr, pr->bin.len);
        v = new_container(j, 0);
        mqr_value_t h = hex_value(j, pr->bin.ptr, pr->bin.len);
        put(j, &v, "hex", &h);
        return v;
    default: mqr_value_set_int(&v, pr->value); return v;
    }
}

/* Append the properties of `props` with id `id` (all occurrences) in wire
 * format to buf, as the grouped JSON form will re-encode them. */
static void regroup(const mqr_props_t *props, uint8_t id, uint8_t *buf, size_t cap, size_t *len)
{
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    mqr_packet_iter_props(&it, props);
    while (mqr_packet_prop_next(&it, &pr))
        if (pr.id == id)
            mqr_packet_prop_add(buf, cap, len, &pr);
}

/*
 * "properties": {name: value, ...} in wire order of first occurrence;
 * "User-Property" is a list of [name, value] pairs and a repeated
 * "Subscription-Identifier" a list of integers. When grouping changes the
 * byte order (a repeated property interleaved with others), the raw bytes
 * are added as "properties_hex" so encoding stays exact.
 */
static void put_props(jb_t *j, mqr_value_t *obj, const char *key, const char *hex_key,
                      const mqr_props_t *props)
{
    mqr_value_t po = new_container(j, 0);
    uint64_t done = 0;
    uint8_t *again = mqr_arena_alloc(j->arena, props->len);
    size_t again_len = 0;
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    mqr_packet_iter_props(&it, props);
    while (mqr_packet_prop_next(&it, &pr)) {
        if (done & (1ull << pr.id))
            continue;
        done |= 1ull << pr.id;
        if (again)
            regroup(props, pr.id, again, props->len, &again_len);
        mqr_packet_iter_t it2 = it;
        mqr_prop_t more;
        int repeated = 0;
        while (mqr_packet_prop_next(&it2, &more))
            repeated |= more.id == pr.id;
        mqr_value_t v;
        if (pr.id == MQR_PROP_USER_PROPERTY || repeated) {
            v = new_container(j, 1);
            mqr_packet_iter_props(&it2, props);
            while (mqr_packet_prop_next(&it2, &more))
                if (more.id == pr.id) {
                    mqr_value_t item = prop_value(j, &more);
                    push(j, &v, &item);
                }
        } else {
            v = prop_value(j, &pr);
        }
        put(j, &po, mqr_packet_prop_name(pr.id), &v);
    }
    put(j, obj, key, &po);
    if (!again)
        j->failed = 1;
    else if (again_len != props->len || memcmp(again, props->ptr, props->len) != 0) {
        mqr_value_t h = hex_value(j, props->ptr, props->len);
        put(j, obj, hex_key, &h);
    }
}

static void put_codes(jb_t *j, mqr_value_t *obj, const char *key, mqr_bin_t codes)
{
    mqr_value_t arr = new_container(j, 1);
    for (uint32_t i = 0; i < codes.len; i++) {
        mqr_value_t v;
        mqr_value_set_int(&v, codes.ptr[i]);
        push(j, &arr, &v);
    }
    put(j, obj, key, &arr);
}

/* The MQTT 5 tail of acks, DISCONNECT and AUTH. */
static void put_reason_tail(jb_t *j, mqr_value_t *obj, uint8_t code, uint8_t has,
                            const mqr_props_t *pr)
{
    if (has)
        put_int(j, obj, "reason_code", code);
    if (pr->present)
        put_props(j, obj, "properties", "properties_hex", pr);
}

static void put_connect(jb_t *j, mqr_value_t *obj, const mqr_packet_t *p)
{
    const mqr_pkt_connect_t *c = &p->connect;
    put_str(j, obj, "proto_name", c->proto_name);
    put_int(j, obj, "proto_ver", p->proto_ver);
    put_bool(j, obj, "clean_start", c->clean_start);
    put_int(j, obj, "keepalive", c->keepalive);
    put_str(j, obj, "clientid", c->clientid);
    if (c->username.ptr)
        put_str(j, obj, "username", c->username);
    if (c->password.ptr)
        put_bytes(j, obj, "password", "password_hex", c->password);
    if (c->will_flag) {
        mqr_value_t w = new_container(j, 0);
        put_str(j, &w, "topic", c->will_topic);
        put_bytes(j, &w, "payload", "payload_hex", c->will_payload);
        put_int(j, &w, "qos", c->will_qos);
        put_bool(j, &w, "retain", c->will_retain);
        if (p->proto_ver >= MQR_PROTO_V5)
            put_props(j, &w, "properties", "properties_hex", &c->will_props);
        put(j, obj, "will", &w);
    }
    if (p->proto_ver >= MQR_PROTO_V5)
        put_props(j, obj, "properties", "properties_hex", &c->props);
}

static void put_subscriptions(jb_t *j, mqr_value_t *obj, const mqr_packet_t *p)
{
    mqr_value_t arr = new_container(j, 1);
    mqr_packet_iter_t it;
    mqr_subscription_t s;
    mqr_packet_iter_subscriptions(&it, p);
    while (mqr_packet_subscription_next(&it, &s)) {
        mqr_value_t e = new_container(j, 0);
        put_str(j, &e, "topic", s.filter);
        put_int(j, &e, "qos", s.qos);
        put_bool(j, &e, "no_local", s.no_local);
        put_bool(j, &e, "retain_as_published", s.retain_as_published);
        put_int(j, &e, "retain_handling", s.retain_handling);
        push(j, &arr, &e);
    }
    put(j, obj, "subscriptions", &arr);
}

static void put_filters(jb_t *j, mqr_value_t *obj, const mqr_packet_t *p)
{
    mqr_value_t arr = new_container(j, 1);
    mqr_packet_iter_t it;
    mqr_str_t t;
    mqr_packet_iter_filters(&it, p);
    while (mqr_packet_filter_next(&it, &t)) {
        mqr_value_t v = str_value(t.ptr, t.len);
        push(j, &arr, &v);
    }
    put(j, obj, "topics", &arr);
}

/* The JSON object of one decoded packet (schema: docs/packet.md). */
static mqr_value_t packet_value(jb_t *j, const mqr_packet_t *p)
{
    mqr_value_t o = new_container(j, 0);
    int v5 = p->proto_ver >= MQR_PROTO_V5;
    const char *type = mqr_packet_type_name(p->type);
    mqr_value_t tv = str_value(type, strlen(type));
    put(j, &o, "type", &tv);
    switch (p->type) {
    case MQR_PKT_CONNECT: put_connect(j, &o, p); break;
    case MQR_PKT_CONNACK:
        put_bool(j, &o, "session_present", p->connack.session_present);
        put_int(j, &o, "reason_code", p->connack.reason_code);
        if (v5)
            put_props(j, &o, "properties", "properties_hex", &p->connack.props);
        break;
    case MQR_PKT_PUBLISH:
        put_str(j, &o, "topic", p->publish.topic);
        put_int(j, &o, "qos", p->publish.qos);
        put_bool(j, &o, "retain", p->publish.retain);
        put_bool(j, &o, "dup", p->publish.dup);
        if (p->publish.qos)
            put_int(j, &o, "packet_id", p->publish.packet_id);
        if (v5)
            put_props(j, &o, "properties", "properties_hex", &p->publish.props);
        put_bytes(j, &o, "payload", "payload_hex", p->publish.payload);
        break;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC:
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP:
        put_int(j, &o, "packet_id", p->ack.packet_id);
        put_reason_tail(j, &o, p->ack.reason_code, p->ack.has_reason_code, &p->ack.props);
        break;
    case MQR_PKT_SUBSCRIBE:
    case MQR_PKT_UNSUBSCRIBE:
        put_int(j, &o, "packet_id", p->subscribe.packet_id);
        if (v5)
            put_props(j, &o, "properties", "properties_hex", &p->subscribe.props);
        if (p->type == MQR_PKT_SUBSCRIBE)
            put_subscriptions(j, &o, p);
        else
            put_filters(j, &o, p);
        break;
    case MQR_PKT_SUBACK:
    case MQR_PKT_UNSUBACK:
        put_int(j, &o, "packet_id", p->suback.packet_id);
        if (v5)
            put_props(j, &o, "properties", "properties_hex", &p->suback.props);
        if (p->type == MQR_PKT_SUBACK || v5)
            put_codes(j, &o, "reason_codes", p->suback.codes);
        break;
    case MQR_PKT_DISCONNECT:
    case MQR_PKT_AUTH:
        put_reason_tail(j, &o, p->disconnect.reason_code, p->disconnect.has_reason_code,
                        &p->disconnect.props);
        break;
    default: break;
    }
    return o;
}


/* ---- value to packet ------------------------------------------------------------- */

/* The state of one conversion: where memory comes from and where errors go
 * (never NULL inside this file). */
typedef struct jr {
    mqr_arena_t *arena;
    mqr_diag_t *diag;
} jr_t;

/* Record an allocation failure while reading `what`. Returns MQR_ENOMEM. */
static int oom(jr_t *sc, const char *what)
{
    return mqr__diag_set(sc->diag, MQR_ENOMEM, "out of memory for %s", what);
}

/* Member `key` of a JSON object value, or NULL. */
static const mqr_value_t *jget(const mqr_value_t *o, const char *key)
{
    return mqr_value_object_get(o, key, strlen(key));
}

/* Record a schema error: message fmt with `what` (a key or property name)
 * in the diag, the name also as its field. Returns MQR_EINVAL. */
static int bad(jr_t *sc, const char *fmt, const char *what)
{
    mqr__diag_set(sc->diag, MQR_EINVAL, fmt, what);
    if (sc->diag)
        snprintf(sc->diag->field, sizeof sc->diag->field, "%s", what);
    return MQR_EINVAL;
}

/* An integer member in [lo, hi]; `def` when absent and not required. */
static int get_int(jr_t *sc, const mqr_value_t *o, const char *key, long lo, long hi, long def,
                   int required, long *out)
{
    const mqr_value_t *v = jget(o, key);
    if (!v) {
        if (required)
            return bad(sc, "missing \"%s\"", key);
        *out = def;
        return 0;
    }
    if (v->type != MQR_VAL_INT || v->u.i < lo || v->u.i > hi)
        return bad(sc, "\"%s\" must be an integer in range", key);
    *out = (long)v->u.i;
    return 0;
}

static int get_bool(jr_t *sc, const mqr_value_t *o, const char *key, uint8_t *out)
{
    const mqr_value_t *v = jget(o, key);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (v->type == MQR_VAL_BOOL)
        *out = (uint8_t)v->u.b;
    else if (v->type == MQR_VAL_INT && (v->u.i == 0 || v->u.i == 1))
        *out = (uint8_t)v->u.i;
    else
        return bad(sc, "\"%s\" must be true or false", key);
    return 0;
}

/* A string member; absent leaves ptr NULL unless required. */
static int get_str(jr_t *sc, const mqr_value_t *o, const char *key, int required, mqr_str_t *out)
{
    const mqr_value_t *v = jget(o, key);
    memset(out, 0, sizeof *out);
    if (!v)
        return required ? bad(sc, "missing \"%s\"", key) : 0;
    if (v->type != MQR_VAL_STRING)
        return bad(sc, "\"%s\" must be a string", key);
    out->ptr = v->u.s;
    out->len = v->len;
    return 0;
}

/* Hex text (whitespace between digits ignored, an even number of digits)
 * to new bytes in the arena. */
static int hex_bytes(jr_t *sc, const mqr_value_t *v, const char *key, mqr_bin_t *out)
{
    if (v->type != MQR_VAL_STRING)
        return bad(sc, "\"%s\" must be a hex string", key);
    char *digits = mqr_arena_alloc(sc->arena, v->len + 1);
    uint8_t *b = mqr_arena_alloc(sc->arena, v->len / 2 + 1);
    if (!digits || !b)
        return oom(sc, key);
    size_t nd = 0, n = 0, err = 0;
    for (uint32_t i = 0; i < v->len; i++)
        if (v->u.s[i] != ' ' && v->u.s[i] != '\n' && v->u.s[i] != '\r' && v->u.s[i] != '\t')
            digits[nd++] = v->u.s[i];
    if (nd % 2 || mqr__hex_decode(digits, nd, b, v->len / 2 + 1, &n, &err) != MQR_OK)
        return bad(sc, "\"%s\" is not valid hex", key);
    out->ptr = b;
    out->len = (uint32_t)n;
    return 0;
}

/* Binary member `key` (text) or `key`_hex; absent leaves ptr NULL. */
static int get_bytes(jr_t *sc, const mqr_value_t *o, const char *key, mqr_bin_t *out)
{
    memset(out, 0, sizeof *out);
    char k[64];
    snprintf(k, sizeof k, "%s_hex", key);
    const mqr_value_t *v = jget(o, key), *h = jget(o, k);
    if (v && h)
        return bad(sc, "both \"%s\" and its _hex form are given", key);
    if (h)
        return hex_bytes(sc, h, k, out);
    if (!v)
        return 0;
    if (v->type != MQR_VAL_STRING)
        return bad(sc, "\"%s\" must be a string", key);
    out->ptr = (const uint8_t *)v->u.s;
    out->len = v->len;
    return 0;
}

/* Append one property to a growing buffer. */
static int add_prop(jr_t *sc, uint8_t **buf, size_t *cap, size_t *len, const mqr_prop_t *pr)
{
    for (;;) {
        int rc = mqr_packet_prop_add(*buf, *cap, len, pr);
        if (rc == MQR_OK)
            return 0;
        if (rc != MQR_EBUFFER)
            return bad(sc, "property %s has a bad value", mqr_packet_prop_name(pr->id));
        size_t ncap = *cap * 2 + 64;
        uint8_t *nb = mqr_arena_alloc(sc->arena, ncap);
        if (!nb)
            return oom(sc, "properties");
        memcpy(nb, *buf, *len);
        *buf = nb;
        *cap = ncap;
    }
}

/* One JSON property value into *pr (id and type already set). */
static int prop_from_json(jr_t *sc, const mqr_value_t *v, mqr_prop_t *pr)
{
    const char *name = mqr_packet_prop_name(pr->id);
    switch (pr->type) {
    case MQR_PROPTYPE_PAIR:
        if (v->type != MQR_VAL_ARRAY || v->len != 2 || v->u.items[0].type != MQR_VAL_STRING ||
            v->u.items[1].type != MQR_VAL_STRING)
            return bad(sc, "%s entries must be [name, value] string pairs", name);
        pr->str = (mqr_str_t){v->u.items[0].u.s, v->u.items[0].len, 0};
        pr->str2 = (mqr_str_t){v->u.items[1].u.s, v->u.items[1].len, 0};
        return 0;
    case MQR_PROPTYPE_STRING:
        if (v->type != MQR_VAL_STRING)
            return bad(sc, "%s must be a string", name);
        pr->str = (mqr_str_t){v->u.s, v->len, 0};
        return 0;
    case MQR_PROPTYPE_BINARY:
        if (v->type == MQR_VAL_OBJECT && jget(v, "hex") && v->len == 1)
            return hex_bytes(sc, jget(v, "hex"), name, &pr->bin);
        if (v->type != MQR_VAL_STRING)
            return bad(sc, "%s must be a string or {\"hex\": ...}", name);
        pr->bin = (mqr_bin_t){(const uint8_t *)v->u.s, v->len, 0};
        return 0;
    default:
        if (v->type != MQR_VAL_INT || v->u.i < 0 || v->u.i > 0xFFFFFFFFll)
            return bad(sc, "%s must be a non-negative integer", name);
        pr->value = (uint32_t)v->u.i;
        return 0;
    }
}

/*
 * Properties from member `key` of o (an object as print_packet writes it),
 * or from `key`_hex when given (raw bytes win). *out->present is 1 when the
 * member exists.
 */
static int get_props(jr_t *sc, const mqr_value_t *o, const char *key, mqr_props_t *out)
{
    memset(out, 0, sizeof *out);
    char k[64];
    snprintf(k, sizeof k, "%s_hex", key);
    const mqr_value_t *raw = jget(o, k), *obj = jget(o, key);
    if (raw) {
        mqr_bin_t b;
        if (hex_bytes(sc, raw, k, &b))
            return -1;
        *out = (mqr_props_t){b.ptr, b.len, 1};
        return 0;
    }
    if (!obj)
        return 0;
    if (obj->type != MQR_VAL_OBJECT)
        return bad(sc, "\"%s\" must be an object", key);
    size_t cap = 64, len = 0;
    uint8_t *buf = mqr_arena_alloc(sc->arena, cap);
    if (!buf)
        return oom(sc, key);
    for (size_t i = 0; i < obj->len; i++) {
        const mqr_member_t *m = &obj->u.members[i];
        int id = mqr_packet_prop_id(m->key, m->key_len);
        if (id < 0)
            return mqr__diag_set(sc->diag, MQR_EINVAL, "unknown property \"%.*s\"",
                                 (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
        const mqr_value_t *v = &m->value;
        int listed = v->type == MQR_VAL_ARRAY && (id == MQR_PROP_USER_PROPERTY ||
                                               id == MQR_PROP_SUBSCRIPTION_IDENTIFIER);
        size_t n = listed ? v->len : 1;
        for (size_t j = 0; j < n; j++) {
            mqr_prop_t pr;
            memset(&pr, 0, sizeof pr);
            pr.id = (uint8_t)id;
            pr.type = (uint8_t)mqr_packet_prop_type((uint8_t)id);
            if (prop_from_json(sc, listed ? &v->u.items[j] : v, &pr) ||
                add_prop(sc, &buf, &cap, &len, &pr))
                return -1;
        }
    }
    *out = (mqr_props_t){buf, (uint32_t)len, 1};
    return 0;
}

static int type_from_name(const char *s, size_t len)
{
    for (int t = 1; t < 16; t++) {
        const char *n = mqr_packet_type_name(t);
        if (strlen(n) == len && memcmp(s, n, len) == 0)
            return t;
    }
    return 0;
}

static int json_connect(jr_t *sc, const mqr_value_t *o, mqr_packet_t *p)
{
    mqr_pkt_connect_t *c = &p->connect;
    long ka;
    if (get_str(sc, o, "proto_name", 0, &c->proto_name) || get_bool(sc, o, "clean_start", &c->clean_start) ||
        get_int(sc, o, "keepalive", 0, 65535, 0, 0, &ka) || get_str(sc, o, "clientid", 1, &c->clientid) ||
        get_str(sc, o, "username", 0, &c->username) || get_bytes(sc, o, "password", &c->password) ||
        get_props(sc, o, "properties", &c->props))
        return -1;
    c->keepalive = (uint16_t)ka;
    const mqr_value_t *w = jget(o, "will");
    if (w) {
        long q;
        if (w->type != MQR_VAL_OBJECT)
            return bad(sc, "\"%s\" must be an object", "will");
        c->will_flag = 1;
        if (get_str(sc, w, "topic", 1, &c->will_topic) || get_bytes(sc, w, "payload", &c->will_payload) ||
            get_int(sc, w, "qos", 0, 2, 0, 0, &q) || get_bool(sc, w, "retain", &c->will_retain) ||
            get_props(sc, w, "properties", &c->will_props))
            return -1;
        if (!c->will_payload.ptr)
            c->will_payload.ptr = (const uint8_t *)"";
        c->will_qos = (uint8_t)q;
    }
    return 0;
}

/* Reason codes array into new bytes. */
static int get_codes(jr_t *sc, const mqr_value_t *o, mqr_bin_t *out)
{
    const mqr_value_t *v = jget(o, "reason_codes");
    memset(out, 0, sizeof *out);
    if (!v)
        return 0;
    if (v->type != MQR_VAL_ARRAY)
        return bad(sc, "\"%s\" must be an array", "reason_codes");
    uint8_t *b = mqr_arena_alloc(sc->arena, v->len + 1);
    if (!b)
        return oom(sc, "reason_codes");
    for (size_t i = 0; i < v->len; i++) {
        const mqr_value_t *c = &v->u.items[i];
        if (c->type != MQR_VAL_INT || c->u.i < 0 || c->u.i > 255)
            return bad(sc, "\"%s\" must hold integers 0..255", "reason_codes");
        b[i] = (uint8_t)c->u.i;
    }
    *out = (mqr_bin_t){b, (uint32_t)v->len, 0};
    return 0;
}

/* Optional reason code: sets *has when present. */
static int get_reason(jr_t *sc, const mqr_value_t *o, uint8_t *code, uint8_t *has)
{
    long v;
    *has = jget(o, "reason_code") != NULL;
    if (get_int(sc, o, "reason_code", 0, 255, 0, 0, &v))
        return -1;
    *code = (uint8_t)v;
    return 0;
}

static int json_subscriptions(jr_t *sc, const mqr_value_t *o, mqr_packet_t *p)
{
    const mqr_value_t *v = jget(o, p->type == MQR_PKT_SUBSCRIBE ? "subscriptions" : "topics");
    if (!v || v->type != MQR_VAL_ARRAY)
        return bad(sc, "\"%s\" must be an array",
                   p->type == MQR_PKT_SUBSCRIBE ? "subscriptions" : "topics");
    if (p->type == MQR_PKT_UNSUBSCRIBE) {
        mqr_str_t *list = mqr_arena_alloc(sc->arena, (v->len + 1) * sizeof *list);
        if (!list)
            return oom(sc, "topics");
        for (size_t i = 0; i < v->len; i++) {
            const mqr_value_t *t = &v->u.items[i];
            if (t->type != MQR_VAL_STRING)
                return bad(sc, "\"%s\" must hold strings", "topics");
            list[i] = (mqr_str_t){t->u.s, t->len, 0};
        }
        p->unsubscribe.list = list;
        p->unsubscribe.count = (uint32_t)v->len;
        return 0;
    }
    mqr_subscription_t *list = mqr_arena_alloc(sc->arena, (v->len + 1) * sizeof *list);
    if (!list)
        return oom(sc, "subscriptions");
    memset(list, 0, (v->len + 1) * sizeof *list);
    for (size_t i = 0; i < v->len; i++) {
        const mqr_value_t *e = &v->u.items[i];
        long q, rh;
        if (e->type != MQR_VAL_OBJECT)
            return bad(sc, "\"%s\" must hold objects", "subscriptions");
        if (get_str(sc, e, "topic", 1, &list[i].filter) || get_int(sc, e, "qos", 0, 3, 0, 0, &q) ||
            get_bool(sc, e, "no_local", &list[i].no_local) ||
            get_bool(sc, e, "retain_as_published", &list[i].retain_as_published) ||
            get_int(sc, e, "retain_handling", 0, 3, 0, 0, &rh))
            return -1;
        list[i].qos = (uint8_t)q;
        list[i].retain_handling = (uint8_t)rh;
    }
    p->subscribe.list = list;
    p->subscribe.count = (uint32_t)v->len;
    return 0;
}

/* Build *p from one JSON object at level *ver (a CONNECT's proto_ver, or a
 * packet's own "proto_ver", changes it). */
static int json_to_packet(jr_t *sc, const mqr_value_t *o, int *ver, mqr_packet_t *p)
{
    memset(p, 0, sizeof *p);
    if (o->type != MQR_VAL_OBJECT)
        return bad(sc, "a line must hold a JSON %s", "object");
    const mqr_value_t *t = jget(o, "type");
    if (!t || t->type != MQR_VAL_STRING || !(p->type = (uint8_t)type_from_name(t->u.s, t->len)))
        return bad(sc, "\"%s\" must name a control packet", "type");
    long v;
    if (get_int(sc, o, "proto_ver", 3, 5, *ver, 0, &v))
        return -1;
    if (p->type == MQR_PKT_CONNECT)
        *ver = (int)v;
    p->proto_ver = (uint8_t)v;
    long n;
    switch (p->type) {
    case MQR_PKT_CONNECT: return json_connect(sc, o, p);
    case MQR_PKT_CONNACK:
        if (get_bool(sc, o, "session_present", &p->connack.session_present) ||
            get_int(sc, o, "reason_code", 0, 255, 0, 0, &n))
            return -1;
        p->connack.reason_code = (uint8_t)n;
        return get_props(sc, o, "properties", &p->connack.props);
    case MQR_PKT_PUBLISH:
        if (get_str(sc, o, "topic", 1, &p->publish.topic) || get_int(sc, o, "qos", 0, 3, 0, 0, &n) ||
            get_bool(sc, o, "retain", &p->publish.retain) || get_bool(sc, o, "dup", &p->publish.dup))
            return -1;
        p->publish.qos = (uint8_t)n;
        if (get_int(sc, o, "packet_id", 0, 65535, 0, p->publish.qos > 0, &n) ||
            get_props(sc, o, "properties", &p->publish.props) ||
            get_bytes(sc, o, "payload", &p->publish.payload))
            return -1;
        p->publish.packet_id = (uint16_t)n;
        return 0;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC:
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP:
        if (get_int(sc, o, "packet_id", 0, 65535, 0, 1, &n))
            return -1;
        p->ack.packet_id = (uint16_t)n;
        if (get_reason(sc, o, &p->ack.reason_code, &p->ack.has_reason_code))
            return -1;
        return get_props(sc, o, "properties", &p->ack.props);
    case MQR_PKT_SUBSCRIBE:
    case MQR_PKT_UNSUBSCRIBE:
        if (get_int(sc, o, "packet_id", 0, 65535, 0, 1, &n))
            return -1;
        p->subscribe.packet_id = (uint16_t)n;
        if (get_props(sc, o, "properties", &p->subscribe.props))
            return -1;
        return json_subscriptions(sc, o, p);
    case MQR_PKT_SUBACK:
    case MQR_PKT_UNSUBACK:
        if (get_int(sc, o, "packet_id", 0, 65535, 0, 1, &n))
            return -1;
        p->suback.packet_id = (uint16_t)n;
        if (get_props(sc, o, "properties", &p->suback.props))
            return -1;
        return get_codes(sc, o, &p->suback.codes);
    case MQR_PKT_DISCONNECT:
    case MQR_PKT_AUTH:
        if (get_reason(sc, o, &p->disconnect.reason_code, &p->disconnect.has_reason_code))
            return -1;
        return get_props(sc, o, "properties", &p->disconnect.props);
    default: return 0;
    }
}


/* ---- public functions --------------------------------------------------------------- */

size_t mqr_packet_struct_size(void)
{
    return sizeof(mqr_packet_t);
}

int mqr_packet_to_value(const mqr_packet_t *packet, mqr_arena_t *arena, mqr_value_t *out_value)
{
    if (!packet || !arena || !out_value)
        return MQR_EINVAL;
    jb_t j = {arena, 0};
    mqr_value_t v = packet_value(&j, packet);
    if (j.failed)
        return MQR_ENOMEM;
    *out_value = v;
    return MQR_OK;
}

int mqr_packet_to_json(const mqr_packet_t *packet, mqr_arena_t *arena, const char **out_json,
                       size_t *out_len)
{
    if (!out_json || !out_len)
        return MQR_EINVAL;
    mqr_value_t v;
    int rc = mqr_packet_to_value(packet, arena, &v);
    if (rc != MQR_OK)
        return rc;
    size_t n = 0;
    rc = mqr_json_write(&v, 0, NULL, 0, &n);
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        return rc;
    char *buf = mqr_arena_alloc(arena, n + 1);
    if (!buf)
        return MQR_ENOMEM;
    rc = mqr_json_write(&v, 0, buf, n + 1, &n);
    if (rc != MQR_OK)
        return rc;
    buf[n] = '\0';
    *out_json = buf;
    *out_len = n;
    return MQR_OK;
}

int mqr_packet_from_value(const mqr_value_t *value, mqr_arena_t *arena, int *io_proto_ver,
                          mqr_packet_t *out_packet, mqr_diag_t *diag)
{
    mqr_diag_t local;
    jr_t sc = {arena, diag ? diag : &local};
    mqr_diag_clear(sc.diag);
    if (!value || !arena || !io_proto_ver || !out_packet)
        return mqr__diag_set(sc.diag, MQR_EINVAL, "NULL argument");
    int ver = *io_proto_ver ? *io_proto_ver : MQR_PROTO_V311;
    if (ver < MQR_PROTO_V31 || ver > MQR_PROTO_V5)
        return mqr__diag_set(sc.diag, MQR_EINVAL, "protocol level %d is not 3, 4 or 5", ver);
    if (json_to_packet(&sc, value, &ver, out_packet) != 0)
        return sc.diag->code;
    *io_proto_ver = ver;
    return MQR_OK;
}

int mqr_packet_encode_json(const char *json, size_t len, mqr_arena_t *arena, int *io_proto_ver,
                           const uint8_t **out_bytes, size_t *out_len, mqr_diag_t *diag)
{
    if (!json || !arena || !io_proto_ver || !out_bytes || !out_len)
        return mqr__diag_set(diag, MQR_EINVAL, "NULL argument");
    mqr_value_t o;
    int rc = mqr_json_parse(arena, json, len, 0, &o, diag);
    if (rc != MQR_OK)
        return rc;
    int ver = *io_proto_ver;
    mqr_packet_t p;
    rc = mqr_packet_from_value(&o, arena, &ver, &p, diag);
    if (rc != MQR_OK)
        return rc;
    size_t size = 0;
    rc = mqr_packet_size(&p, &size, diag);
    if (rc != MQR_OK)
        return rc;
    uint8_t *buf = mqr_arena_alloc(arena, size ? size : 1);
    if (!buf)
        return mqr__diag_set(diag, MQR_ENOMEM, "out of memory for %zu bytes", size);
    rc = mqr_packet_encode(&p, buf, size, &size, diag);
    if (rc != MQR_OK)
        return rc;
    *io_proto_ver = ver;
    *out_bytes = buf;
    *out_len = size;
    return MQR_OK;
}
