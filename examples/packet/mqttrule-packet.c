/* SPDX-License-Identifier: MIT */
/*
 * mqttrule-packet - decode raw MQTT bytes (one direction of a TCP stream) to
 * one JSON object per packet per line, and encode such lines back to bytes.
 *
 *   mqttrule-packet decode [--hex] [--proto-ver N] [FILE]
 *   mqttrule-packet encode [--hex] [--proto-ver N] [FILE]
 *
 * Decoding uses the library's stream decoder, so the protocol level comes
 * from the stream's CONNECT, else --proto-ver, else 4. Everything the wire
 * can write two ways (omitted reason codes, absent vs empty properties, the
 * DISCONNECT short forms) is recorded, and binary fields fall back to hex, so
 * decode followed by encode gives the input bytes back. The JSON schema is
 * documented in docs/packet.md. Exit status: 0, 1 for a malformed packet or
 * bad JSON (packets before it are still written), 64 for usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mqttrule.h>

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE 64

static const char *prog = "mqttrule-packet";

/* ---- input ---------------------------------------------------------------------- */

/* Read all of f into a malloc'd buffer. */
static uint8_t *read_all(FILE *f, size_t *out_len)
{
    size_t cap = 65536, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    *out_len = len;
    return buf;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Turn hex text (whitespace ignored) into bytes in place; -1 on a bad digit
 * or an odd count, with the offending position in *bad_pos. */
static long hex_decode(uint8_t *buf, size_t len, size_t *bad_pos)
{
    size_t n = 0;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        int c = buf[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        int v = hex_val(c);
        if (v < 0) {
            *bad_pos = i;
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        *bad_pos = len;
        return -1;
    }
    return (long)n;
}

/* ---- decode: packet to JSON --------------------------------------------------------- */

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
    static const char digits[] = "0123456789abcdef";
    char *h = mqr_arena_alloc(j->arena, 2 * len + 1);
    if (!h) {
        j->failed = 1;
        return str_value("", 0);
    }
    for (size_t i = 0; i < len; i++) {
        h[2 * i] = digits[p[i] >> 4];
        h[2 * i + 1] = digits[p[i] & 15];
    }
    return str_value(h, 2 * len);
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

/* Write v as one line of compact JSON, growing *buf as needed. */
static int write_json_line(const mqr_value_t *v, char **buf, size_t *cap)
{
    size_t n = 0;
    int rc = mqr_json_write(v, 0, *buf, *cap, &n);
    if (rc == MQR_EBUFFER) {
        char *nb = realloc(*buf, n);
        if (!nb)
            return MQR_ENOMEM;
        *buf = nb;
        *cap = n;
        rc = mqr_json_write(v, 0, *buf, *cap, &n);
    }
    if (rc != MQR_OK)
        return rc;
    fwrite(*buf, 1, n, stdout);
    putchar('\n');
    return MQR_OK;
}

static int cmd_decode(const uint8_t *buf, size_t len, int proto_ver)
{
    mqr_packet_opts_t opts = {0, (uint8_t)proto_ver, MQR_PKT_DIR_ANY, 0};
    mqr_packet_stream_t s;
    mqr_packet_stream_init(&s, &opts);
    jb_t j = {NULL, 0};
    char *line = NULL;
    size_t line_cap = 0;
    if (mqr_arena_create(NULL, 0, &j.arena) != MQR_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_BAD_INPUT;
    }
    int status = 0;
    size_t pos = 0;
    while (pos < len && status == 0) {
        mqr_packet_t p;
        size_t n = 0;
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int rc = mqr_packet_stream_next(&s, buf + pos, len - pos, &p, &n, &d);
        if (rc == MQR_OK) {
            mqr_arena_reset(j.arena);
            mqr_value_t v = packet_value(&j, &p);
            if (j.failed || write_json_line(&v, &line, &line_cap) != MQR_OK) {
                fprintf(stderr, "%s: out of memory writing JSON\n", prog);
                status = EXIT_BAD_INPUT;
            }
            pos += n;
            continue;
        }
        fflush(stdout);
        status = EXIT_BAD_INPUT;
        if (rc == MQR_NEED_MORE) {
            fprintf(stderr,
                    "%s: input ends inside a %s packet at byte %zu (%zu more bytes needed)\n",
                    prog, mqr_packet_type_name(buf[pos] >> 4), pos, n);
            break;
        }
        fprintf(stderr, "%s: %s\n", prog, d.message);
        fprintf(stderr, "%s: packet %s, field \"%s\", byte offset %llu, reason code 0x%02X (%s)\n",
                prog, mqr_packet_type_name(d.packet_type), d.field,
                (unsigned long long)d.offset, (unsigned)(d.reason_code < 0 ? 0 : d.reason_code),
                mqr_status_name(rc));
    }
    free(line);
    mqr_arena_destroy(j.arena);
    return status;
}

/* ---- encode: JSON to packet ---------------------------------------------------------- */

/* Memory one packet's encoding needs: freed after each line. */
typedef struct scratch {
    void *ptrs[256];
    size_t n;
    char err[256];
} scratch_t;

static void *keep(scratch_t *sc, void *p)
{
    if (p && sc->n < sizeof sc->ptrs / sizeof sc->ptrs[0])
        sc->ptrs[sc->n++] = p;
    else {
        free(p);
        p = NULL;
    }
    return p;
}

static void scratch_free(scratch_t *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->ptrs[i]);
    sc->n = 0;
}

/* Member `key` of a JSON object value, or NULL. */
static const mqr_value_t *jget(const mqr_value_t *o, const char *key)
{
    return mqr_value_object_get(o, key, strlen(key));
}

static int bad(scratch_t *sc, const char *fmt, const char *what)
{
    snprintf(sc->err, sizeof sc->err, fmt, what);
    return -1;
}

/* An integer member in [lo, hi]; `def` when absent and not required. */
static int get_int(scratch_t *sc, const mqr_value_t *o, const char *key, long lo, long hi, long def,
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

static int get_bool(scratch_t *sc, const mqr_value_t *o, const char *key, uint8_t *out)
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
static int get_str(scratch_t *sc, const mqr_value_t *o, const char *key, int required, mqr_str_t *out)
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

/* Hex text to new bytes kept in sc. */
static int hex_bytes(scratch_t *sc, const mqr_value_t *v, const char *key, mqr_bin_t *out)
{
    if (v->type != MQR_VAL_STRING)
        return bad(sc, "\"%s\" must be a hex string", key);
    uint8_t *b = keep(sc, malloc(v->len + 1));
    if (!b)
        return bad(sc, "out of memory for \"%s\"", key);
    memcpy(b, v->u.s, v->len);
    size_t badpos;
    long n = hex_decode(b, v->len, &badpos);
    if (n < 0)
        return bad(sc, "\"%s\" is not valid hex", key);
    out->ptr = b;
    out->len = (uint32_t)n;
    return 0;
}

/* Binary member `key` (text) or `key`_hex; absent leaves ptr NULL. */
static int get_bytes(scratch_t *sc, const mqr_value_t *o, const char *key, mqr_bin_t *out)
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
static int add_prop(scratch_t *sc, uint8_t **buf, size_t *cap, size_t *len, const mqr_prop_t *pr)
{
    for (;;) {
        int rc = mqr_packet_prop_add(*buf, *cap, len, pr);
        if (rc == MQR_OK)
            return 0;
        if (rc != MQR_EBUFFER)
            return bad(sc, "property %s has a bad value", mqr_packet_prop_name(pr->id));
        size_t ncap = *cap * 2 + 64;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return bad(sc, "out of memory for %s", "properties");
        *buf = nb;
        *cap = ncap;
    }
}

/* One JSON property value into *pr (id and type already set). */
static int prop_from_json(scratch_t *sc, const mqr_value_t *v, mqr_prop_t *pr)
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
static int get_props(scratch_t *sc, const mqr_value_t *o, const char *key, mqr_props_t *out)
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
    uint8_t *buf = malloc(cap);
    if (!buf)
        return bad(sc, "out of memory for %s", key);
    for (size_t i = 0; i < obj->len; i++) {
        const mqr_member_t *m = &obj->u.members[i];
        int id = mqr_packet_prop_id(m->key, m->key_len);
        if (id < 0) {
            free(buf);
            snprintf(sc->err, sizeof sc->err, "unknown property \"%.*s\"",
                     (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
            return -1;
        }
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
                add_prop(sc, &buf, &cap, &len, &pr)) {
                free(buf);
                return -1;
            }
        }
    }
    keep(sc, buf);
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

static int json_connect(scratch_t *sc, const mqr_value_t *o, mqr_packet_t *p)
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
static int get_codes(scratch_t *sc, const mqr_value_t *o, mqr_bin_t *out)
{
    const mqr_value_t *v = jget(o, "reason_codes");
    memset(out, 0, sizeof *out);
    if (!v)
        return 0;
    if (v->type != MQR_VAL_ARRAY)
        return bad(sc, "\"%s\" must be an array", "reason_codes");
    uint8_t *b = keep(sc, malloc(v->len + 1));
    if (!b)
        return bad(sc, "out of memory for %s", "reason_codes");
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
static int get_reason(scratch_t *sc, const mqr_value_t *o, uint8_t *code, uint8_t *has)
{
    long v;
    *has = jget(o, "reason_code") != NULL;
    if (get_int(sc, o, "reason_code", 0, 255, 0, 0, &v))
        return -1;
    *code = (uint8_t)v;
    return 0;
}

static int json_subscriptions(scratch_t *sc, const mqr_value_t *o, mqr_packet_t *p)
{
    const mqr_value_t *v = jget(o, p->type == MQR_PKT_SUBSCRIBE ? "subscriptions" : "topics");
    if (!v || v->type != MQR_VAL_ARRAY)
        return bad(sc, "\"%s\" must be an array",
                   p->type == MQR_PKT_SUBSCRIBE ? "subscriptions" : "topics");
    if (p->type == MQR_PKT_UNSUBSCRIBE) {
        mqr_str_t *list = keep(sc, calloc(v->len + 1, sizeof *list));
        if (!list)
            return bad(sc, "out of memory for %s", "topics");
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
    mqr_subscription_t *list = keep(sc, calloc(v->len + 1, sizeof *list));
    if (!list)
        return bad(sc, "out of memory for %s", "subscriptions");
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
static int json_to_packet(scratch_t *sc, const mqr_value_t *o, int *ver, mqr_packet_t *p)
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

static int cmd_encode(char *text, size_t len, int proto_ver, int hex_out)
{
    int ver = proto_ver ? proto_ver : MQR_PROTO_V311;
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_BAD_INPUT;
    }
    size_t line_no = 0;
    char *line = text, *end = text + len;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        line_no++;
        char *next = nl ? nl + 1 : end;
        size_t k = 0;
        while (k < ll && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == ll) {
            line = next;
            continue;
        }
        scratch_t sc;
        sc.n = 0;
        sc.err[0] = '\0';
        mqr_arena_reset(arena);
        mqr_value_t o;
        mqr_diag_t jd;
        mqr_packet_t p;
        int rc = mqr_json_parse(arena, line, ll, 0, &o, &jd);
        if (rc != MQR_OK)
            snprintf(sc.err, sizeof sc.err, "%s", jd.message);
        else
            rc = json_to_packet(&sc, &o, &ver, &p);
        uint8_t *out = NULL;
        size_t size = 0;
        mqr_diag_t d;
        mqr_diag_clear(&d);
        if (rc == 0) {
            rc = mqr_packet_size(&p, &size, &d);
            if (rc == MQR_OK && (out = malloc(size)) != NULL)
                rc = mqr_packet_encode(&p, out, size, &size, &d);
            if (rc != MQR_OK)
                snprintf(sc.err, sizeof sc.err, "%s", d.message[0] ? d.message : mqr_strerror(rc));
        }
        if (rc == 0) {
            if (hex_out) {
                for (size_t i = 0; i < size; i++)
                    printf("%02x", out[i]);
                putchar('\n');
            } else {
                fwrite(out, 1, size, stdout);
            }
        }
        free(out);
        scratch_free(&sc);
        if (rc != 0) {
            fflush(stdout);
            fprintf(stderr, "%s: line %zu: %s\n", prog, line_no, sc.err);
            mqr_arena_destroy(arena);
            return EXIT_BAD_INPUT;
        }
        line = next;
    }
    mqr_arena_destroy(arena);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: %s decode [--hex] [--proto-ver N] [FILE]\n"
            "       %s encode [--hex] [--proto-ver N] [FILE]\n"
            "decode: MQTT bytes (or hex text with --hex) from FILE or stdin to one JSON\n"
            "        object per packet per line; the protocol level comes from the\n"
            "        stream's CONNECT, else --proto-ver (3, 4 or 5), else 4.\n"
            "encode: those JSON lines back to bytes (hex lines with --hex).\n",
            prog, prog);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    int encode = 0;
    if (strcmp(argv[1], "encode") == 0)
        encode = 1;
    else if (strcmp(argv[1], "decode") != 0)
        return usage();
    int hex = 0, ver = 0;
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--hex") == 0) {
            hex = 1;
        } else if (strcmp(argv[i], "--proto-ver") == 0 && i + 1 < argc) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (*e || v < 3 || v > 5)
                return usage();
            ver = (int)v;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage();
        } else if (!file) {
            file = argv[i];
        } else {
            return usage();
        }
    }
    FILE *in = stdin;
    if (file && strcmp(file, "-") != 0 && !(in = fopen(file, "rb"))) {
        fprintf(stderr, "%s: cannot open %s\n", prog, file);
        return EXIT_USAGE;
    }
    size_t len = 0;
    uint8_t *buf = read_all(in, &len);
    if (in != stdin)
        fclose(in);
    if (!buf) {
        fprintf(stderr, "%s: out of memory reading the input\n", prog);
        return EXIT_BAD_INPUT;
    }
    int rc;
    if (encode) {
        rc = cmd_encode((char *)buf, len, ver, hex);
    } else {
        size_t badpos = 0;
        long n = hex ? hex_decode(buf, len, &badpos) : (long)len;
        if (n < 0) {
            fprintf(stderr, "%s: bad hex input at character %zu\n", prog, badpos);
            rc = EXIT_BAD_INPUT;
        } else {
            rc = cmd_decode(buf, (size_t)n, ver ? ver : MQR_PROTO_V311);
        }
    }
    free(buf);
    if (fflush(stdout) != 0 && rc == 0)
        rc = EXIT_BAD_INPUT;
    return rc;
}
