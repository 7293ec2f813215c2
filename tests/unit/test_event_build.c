/* SPDX-License-Identifier: MIT */
/*
 * test_event_build.c - the event builders of mqttrule/event.h other than
 * client.connack (mqr_event_build) and the engine's emit of them
 * (mqr_engine_emit_input): every event in schema order, the columns each
 * host fact fills, the property maps from decoded packets, the errors, a
 * warm build without allocation and allocation failure at every N.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

/* ---- packets ------------------------------------------------------------------------- */

typedef struct {
    uint8_t b[512];
    size_t n;
} bytes_t;

static void put8(bytes_t *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(bytes_t *w, unsigned v)
{
    put8(w, v >> 8);
    put8(w, v & 0xff);
}
static void putstr(bytes_t *w, const char *s)
{
    put16(w, (unsigned)strlen(s));
    memcpy(w->b + w->n, s, strlen(s));
    w->n += strlen(s);
}

/* A packet: first byte, remaining length (< 128) and the body. */
static bytes_t frame(unsigned first, const bytes_t *body)
{
    bytes_t f = {{0}, 0};
    put8(&f, first);
    put8(&f, (unsigned)body->n);
    memcpy(f.b + f.n, body->b, body->n);
    f.n += body->n;
    return f;
}

static mqr_packet_t decode5(const bytes_t *b)
{
    mqr_packet_t p;
    size_t used = 0;
    mqr_packet_opts_t o = {0, MQR_PROTO_V5, MQR_PKT_DIR_ANY, 0};
    int st = mqr_packet_decode(b->b, b->n, &o, &p, &used, NULL);
    cr_assert_eq(st, MQR_OK, "decode: %s", mqr_status_name(st));
    return p;
}

/* User property k=v. */
static void user_prop(bytes_t *w, const char *k, const char *v)
{
    put8(w, 0x26);
    putstr(w, k);
    putstr(w, v);
}

/* SUBSCRIBE (v5) to t/# at QoS 1 with Subscription-Identifier 7 and the user
 * properties s=x, s=y. */
static bytes_t subscribe5(void)
{
    bytes_t props = {{0}, 0}, body = {{0}, 0};
    put8(&props, 0x0B);
    put8(&props, 7);
    user_prop(&props, "s", "x");
    user_prop(&props, "s", "y");
    put16(&body, 1);
    put8(&body, (unsigned)props.n);
    memcpy(body.b + body.n, props.b, props.n);
    body.n += props.n;
    putstr(&body, "t/#");
    put8(&body, 1);
    return frame(0x82, &body);
}

/* PUBACK (v5) of packet 9 with Reason-String "ok" and user property a=1. */
static bytes_t puback5(void)
{
    bytes_t props = {{0}, 0}, body = {{0}, 0};
    put8(&props, 0x1F);
    putstr(&props, "ok");
    user_prop(&props, "a", "1");
    put16(&body, 9);
    put8(&body, 0);
    put8(&body, (unsigned)props.n);
    memcpy(body.b + body.n, props.b, props.n);
    body.n += props.n;
    return frame(0x40, &body);
}

/* The property bytes of a PUBLISH: Payload-Format-Indicator 1, then p=1. */
static const uint8_t pub_props_bytes[] = {0x01, 0x01, 0x26, 0, 1, 'p', 0, 1, '1'};

/* ---- facts --------------------------------------------------------------------------- */

static mqr_event_conn_t conn(void)
{
    mqr_event_conn_t c;
    mqr_event_conn_init(&c);
    c.clientid = "c1";
    c.clientid_len = 2;
    c.username = "u1";
    c.username_len = 2;
    c.proto_ver = 5;
    c.peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 5000, .addr = {10, 0, 0, 1}};
    c.sock = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 1883, .addr = {10, 0, 0, 2}};
    c.keepalive = 30;
    c.clean_start = 1;
    c.receive_maximum = 20;
    c.expiry_interval_s = 60;
    c.connected_at_ms = 1000;
    return c;
}

static mqr_event_msg_t msg(void)
{
    mqr_event_msg_t m;
    mqr_event_msg_init(&m);
    m.id = "0123456789ABCDEF0123456789ABCDEF";
    m.id_len = 32;
    m.topic = "t/a";
    m.topic_len = 3;
    m.payload = "hi";
    m.payload_len = 2;
    m.qos = 1;
    m.retain = 1;
    m.from_clientid = "pub";
    m.from_clientid_len = 3;
    m.from_peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 7000, .addr = {10, 0, 0, 9}};
    m.publish_received_at_ms = 900;
    m.props = (mqr_props_t){pub_props_bytes, sizeof pub_props_bytes, 1};
    return m;
}

static mqr_event_input_t input(const mqr_event_conn_t *c, const mqr_event_msg_t *m)
{
    mqr_event_input_t in;
    mqr_event_input_init(&in);
    in.conn = c;
    in.msg = m;
    in.timestamp_ms = 2000;
    in.node = "n@h";
    in.node_len = 3;
    return in;
}

/* Build event `id` and return its compact JSON (static buffer). */
static const char *build_json(uint32_t id, const mqr_event_input_t *in)
{
    static char buf[4096];
    mqr_arena_t *a;
    mqr_value_t ev;
    mqr_diag_t d;
    size_t n;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    int st = mqr_event_build(id, in, a, &ev, &d);
    cr_assert_eq(st, MQR_OK, "%s: %s", mqr_event_at(id)->name, d.message);
    cr_assert_eq(mqr_json_write(&ev, 0, buf, sizeof buf - 1, &n), MQR_OK);
    buf[n] = '\0';
    mqr_arena_destroy(a);
    return buf;
}

/* ---- every event --------------------------------------------------------------------- */

/* Every event the builder makes has its schema's fields in schema order,
 * `event`, `timestamp` and `node` set. */
Test(event_build, every_event_in_schema_order)
{
    mqr_event_conn_t c = conn();
    mqr_event_msg_t m = msg();
    mqr_event_input_t in = input(&c, &m);
    for (uint32_t id = 0; id < MQR_EVENT_COUNT; id++) {
        if (id == MQR_EVENT_CLIENT_CONNACK || id == MQR_EVENT_MESSAGE_PUBLISH)
            continue;
        const mqr_event_schema_t *sc = mqr_event_at(id);
        mqr_arena_t *a;
        mqr_value_t ev;
        cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
        cr_assert_eq(mqr_event_build(id, &in, a, &ev, NULL), MQR_OK, "%s", sc->name);
        cr_assert_eq(ev.type, MQR_VAL_OBJECT);
        cr_assert_eq(ev.len, sc->field_count, "%s", sc->name);
        for (uint32_t i = 0; i < ev.len; i++)
            cr_assert_str_eq(ev.u.members[i].key, sc->fields[i].name, "%s field %u", sc->name, i);
        const mqr_value_t *e = mqr_value_object_get(&ev, "event", 5);
        cr_assert(e->type == MQR_VAL_STRING && e->len == strlen(sc->name) &&
                  !memcmp(e->u.s, sc->name, e->len) && (e->flags & MQR_VALF_ATOM));
        cr_assert_eq(mqr_value_object_get(&ev, "timestamp", 9)->u.i, 2000);
        cr_assert_eq(mqr_value_object_get(&ev, "node", 4)->len, 3);
        mqr_arena_destroy(a);
    }
}

Test(event_build, client_connected_from_facts)
{
    mqr_event_conn_t c = conn();
    static const uint8_t cp[] = {0x11, 0, 0, 0, 60, 0x26, 0, 1, 'a', 0, 1, '1'};
    c.conn_props = (mqr_props_t){cp, sizeof cp, 1};
    mqr_event_input_t in = input(&c, NULL);
    cr_assert_str_eq(
        build_json(MQR_EVENT_CLIENT_CONNECTED, &in),
        "{\"event\":\"client.connected\",\"clientid\":\"c1\",\"username\":\"u1\","
        "\"mountpoint\":\"undefined\",\"peername\":\"10.0.0.1:5000\",\"sockname\":\"10.0.0.2:1883\",\"proto_name\":\"MQTT\","
        "\"proto_ver\":5,\"keepalive\":30,\"clean_start\":true,\"receive_maximum\":20,"
        "\"expiry_interval\":60,\"is_bridge\":false,\"conn_props\":{\"Session-Expiry-Interval\":60,"
        "\"User-Property\":{\"a\":\"1\"},\"User-Property-Pairs\":[{\"key\":\"a\",\"value\":\"1\"}]},"
        "\"connected_at\":1000,\"client_attrs\":{},\"timestamp\":2000,\"node\":\"n@h\"}");
    /* client.ping: expiry in milliseconds (D10) */
    const char *ping = build_json(MQR_EVENT_CLIENT_PING, &in);
    cr_assert(strstr(ping, "\"expiry_interval\":60000,"), "%s", ping);
}

/* With no facts at all: undefined columns (the JSON writer prints them as
 * "undefined"), {"User-Property": {}} maps. */
Test(event_build, client_events_without_facts)
{
    mqr_event_input_t in;
    mqr_event_input_init(&in);
    cr_assert_str_eq(build_json(MQR_EVENT_CLIENT_DISCONNECTED, &in),
                     "{\"event\":\"client.disconnected\",\"reason\":\"undefined\","
                     "\"clientid\":\"undefined\",\"username\":\"undefined\","
                     "\"peername\":\"undefined\",\"sockname\":\"undefined\","
                     "\"proto_name\":\"undefined\",\"proto_ver\":\"undefined\","
                     "\"disconn_props\":{\"User-Property\":{}},\"disconnected_at\":0,"
                     "\"connected_at\":\"undefined\",\"client_attrs\":{},\"timestamp\":0,"
                     "\"node\":\"undefined\"}");
}

Test(event_build, disconnected_reason_and_disconn_props)
{
    mqr_event_conn_t c = conn();
    bytes_t props = {{0}, 0}, body = {{0}, 0};
    put8(&props, 0x1F);
    putstr(&props, "bye");
    put8(&body, 0);
    put8(&body, (unsigned)props.n);
    memcpy(body.b + body.n, props.b, props.n);
    body.n += props.n;
    bytes_t f = frame(0xE0, &body);
    mqr_packet_t p = decode5(&f);
    mqr_event_input_t in = input(&c, NULL);
    in.packet = &p;
    in.reason = "normal";
    in.reason_len = 6;
    in.at_ms = 1500;
    const char *j = build_json(MQR_EVENT_CLIENT_DISCONNECTED, &in);
    cr_assert(strstr(j, "\"reason\":\"normal\",\"clientid\":\"c1\""), "%s", j);
    cr_assert(strstr(j, "\"disconn_props\":{\"Reason-String\":\"bye\",\"User-Property\":{}},"
                        "\"disconnected_at\":1500,\"connected_at\":1000"),
              "%s", j);
}

Test(event_build, subscribed_sub_props_with_identifier_and_pairs)
{
    mqr_event_conn_t c = conn();
    bytes_t f = subscribe5();
    mqr_packet_t p = decode5(&f);
    mqr_event_input_t in = input(&c, NULL);
    in.packet = &p;
    in.topic = "t/#";
    in.topic_len = 3;
    in.qos = 1;
    cr_assert_str_eq(
        build_json(MQR_EVENT_SESSION_SUBSCRIBED, &in),
        "{\"event\":\"session.subscribed\",\"clientid\":\"c1\",\"username\":\"u1\","
        "\"peerhost\":\"10.0.0.1\",\"peername\":\"10.0.0.1:5000\",\"topic\":\"t/#\",\"qos\":1,"
        "\"sub_props\":{\"Subscription-Identifier\":7,\"User-Property\":{\"s\":\"y\"},"
        "\"User-Property-Pairs\":[{\"key\":\"s\",\"value\":\"x\"},{\"key\":\"s\",\"value\":\"y\"}]},"
        "\"client_attrs\":{},\"timestamp\":2000,\"node\":\"n@h\"}");
    /* the SUBSCRIBE is no UNSUBSCRIBE */
    mqr_arena_t *a;
    mqr_value_t ev;
    mqr_diag_t d;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    cr_assert_eq(mqr_event_build(MQR_EVENT_SESSION_UNSUBSCRIBED, &in, a, &ev, &d), MQR_EINVAL);
    cr_assert(strstr(d.message, "session.unsubscribed: packet type 8"), "%s", d.message);
    cr_assert_eq(ev.type, MQR_VAL_UNDEFINED);
    mqr_arena_destroy(a);
}

/* message.dropped: the publisher's address; delivered: the receiver's. */
Test(event_build, message_events_peer_and_props)
{
    mqr_event_conn_t c = conn();
    mqr_event_msg_t m = msg();
    mqr_event_input_t in = input(&c, &m);
    in.reason = "no_subscribers";
    in.reason_len = 14;
    cr_assert_str_eq(
        build_json(MQR_EVENT_MESSAGE_DROPPED, &in),
        "{\"event\":\"message.dropped\",\"id\":\"0123456789ABCDEF0123456789ABCDEF\","
        "\"reason\":\"no_subscribers\",\"clientid\":\"pub\",\"username\":\"undefined\","
        "\"payload\":\"hi\","
        "\"peerhost\":\"10.0.0.9\",\"peername\":\"10.0.0.9:7000\",\"topic\":\"t/a\",\"qos\":1,"
        "\"flags\":{\"dup\":false,\"retain\":true},\"pub_props\":{\"Payload-Format-Indicator\":1,"
        "\"User-Property\":{\"p\":\"1\"},\"User-Property-Pairs\":[{\"key\":\"p\",\"value\":\"1\"}]},"
        "\"publish_received_at\":900,\"timestamp\":2000,\"node\":\"n@h\"}");
    in.reason = NULL;
    const char *j = build_json(MQR_EVENT_MESSAGE_DELIVERED, &in);
    cr_assert(strstr(j, "\"from_clientid\":\"pub\",\"from_username\":\"undefined\","
                        "\"clientid\":\"c1\",\"username\":\"u1\","
                        "\"payload\":\"hi\",\"peerhost\":\"10.0.0.1\",\"peername\":\"10.0.0.1:5000\""),
              "%s", j);
}

Test(event_build, acked_puback_props)
{
    mqr_event_conn_t c = conn();
    mqr_event_msg_t m = msg();
    bytes_t f = puback5();
    mqr_packet_t p = decode5(&f);
    mqr_event_input_t in = input(&c, &m);
    in.packet = &p;
    const char *j = build_json(MQR_EVENT_MESSAGE_ACKED, &in);
    cr_assert(strstr(j, "\"puback_props\":{\"Reason-String\":\"ok\",\"User-Property\":{\"a\":\"1\"},"
                        "\"User-Property-Pairs\":[{\"key\":\"a\",\"value\":\"1\"}]},"),
              "%s", j);
    /* without the PUBACK: an empty map */
    in.packet = NULL;
    j = build_json(MQR_EVENT_MESSAGE_ACKED, &in);
    cr_assert(strstr(j, "\"puback_props\":{\"User-Property\":{}}"), "%s", j);
}

Test(event_build, authn_authz_and_alarm)
{
    mqr_event_conn_t c = conn();
    c.clientid = NULL;
    c.username = NULL;
    mqr_event_input_t in = input(&c, NULL);
    in.reason_code = MQR_RC_NOT_AUTHORIZED;
    const char *j = build_json(MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE, &in);
    cr_assert(strstr(j, "\"peername\":\"10.0.0.1:5000\",\"reason_code\":\"not_authorized\","
                        "\"is_anonymous\":true,\"is_superuser\":false"),
              "%s", j);
    c = conn();
    in = input(&c, NULL);
    in.topic = "a/b";
    in.topic_len = 3;
    in.action = 1;
    in.allow = 0;
    in.authz_source = "file";
    j = build_json(MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE, &in);
    cr_assert(strstr(j, "\"topic\":\"a/b\",\"action\":\"publish\",\"authz_source\":\"file\","
                        "\"result\":\"deny\""),
              "%s", j);
    mqr_event_input_init(&in);
    in.reason = "high_cpu";
    in.reason_len = 8;
    in.message = "cpu above 90%";
    in.at_ms = 5;
    in.timestamp_ms = 7;
    cr_assert_str_eq(build_json(MQR_EVENT_ALARM_DEACTIVATED, &in),
                     "{\"event\":\"alarm.deactivated\",\"name\":\"high_cpu\",\"details\":{},"
                     "\"message\":\"cpu above 90%\",\"activated_at\":5,\"deactivated_at\":7,"
                     "\"timestamp\":7,\"node\":\"undefined\"}");
}

Test(event_build, errors)
{
    mqr_event_input_t in;
    mqr_event_input_init(&in);
    mqr_arena_t *a;
    mqr_value_t ev;
    mqr_diag_t d;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    cr_assert_eq(mqr_event_build(MQR_EVENT_CLIENT_PING, NULL, a, &ev, &d), MQR_EINVAL);
    cr_assert_eq(mqr_event_build(MQR_EVENT_CLIENT_PING, &in, NULL, &ev, &d), MQR_EINVAL);
    cr_assert_eq(mqr_event_build(MQR_EVENT_CLIENT_PING, &in, a, NULL, &d), MQR_EINVAL);
    cr_assert_eq(mqr_event_build(MQR_EVENT_CLIENT_CONNACK, &in, a, &ev, &d), MQR_ENOTFOUND);
    cr_assert_eq(mqr_event_build(MQR_EVENT_MESSAGE_PUBLISH, &in, a, &ev, &d), MQR_ENOTFOUND);
    cr_assert_eq(mqr_event_build(MQR_EVENT_COUNT, &in, a, &ev, &d), MQR_ENOTFOUND);
    /* a message event without its message */
    cr_assert_eq(mqr_event_build(MQR_EVENT_MESSAGE_DELIVERED, &in, a, &ev, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "message.delivered: no message");
    /* property bytes that are no property */
    static const uint8_t bad[] = {0x7F, 0x00};
    mqr_event_msg_t m = msg();
    m.props = (mqr_props_t){bad, sizeof bad, 1};
    in.msg = &m;
    cr_assert_eq(mqr_event_build(MQR_EVENT_MESSAGE_DROPPED, &in, a, &ev, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "message.dropped: invalid property at byte 0");
    /* NULL init arguments are ignored */
    mqr_event_conn_init(NULL);
    mqr_event_msg_init(NULL);
    mqr_event_input_init(NULL);
    mqr_arena_destroy(a);
}

/* Decode a CONNECT of protocol `name` at `level` with the variable header
 * cut to `vh` bytes after the level (flags 0x02, keep alive 42, then the
 * string `rest`) into *f, which the packet's strings point into: it must fail
 * with MQR_EPROTOVER. */
static mqr_packet_t decode_unsupported(bytes_t *f, const char *name, unsigned level, size_t vh,
                                       const char *rest)
{
    static const uint8_t flags_ka[] = {0x02, 0, 42};
    bytes_t body = {{0}, 0};
    putstr(&body, name);
    put8(&body, level);
    memcpy(body.b + body.n, flags_ka, vh < 3 ? vh : 3);
    body.n += vh < 3 ? vh : 3;
    if (rest)
        putstr(&body, rest);
    *f = frame(0x10, &body);
    mqr_packet_t p;
    size_t used;
    memset(&p, 0, sizeof p);
    cr_assert_eq(mqr_packet_decode(f->b, f->n, NULL, &p, &used, NULL), MQR_EPROTOVER);
    cr_assert_eq(p.proto_ver, level);
    return p;
}

/* A CONNECT at an unsupported level: the decoder keeps the level, keep alive,
 * clean start and client id, and client.connack reports them (D2). */
Test(event_build, connack_for_an_unsupported_level)
{
    for (unsigned level = 2; level <= 6; level += 4) {
        bytes_t f;
        mqr_packet_t p = decode_unsupported(&f, "MQTT", level, 3, "old");
        p.type = MQR_PKT_CONNECT;
        mqr_connack_input_t in;
        mqr_event_connack_init(&in);
        in.connect = &p;
        in.complete = 0;
        in.reason_code = MQR_RC_UNSUPPORTED_PROTOCOL_VERSION;
        mqr_arena_t *a;
        mqr_value_t ev;
        char buf[1024];
        size_t n;
        cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
        cr_assert_eq(mqr_event_connack_build(&in, a, &ev, NULL), MQR_OK);
        cr_assert_eq(mqr_json_write(&ev, 0, buf, sizeof buf - 1, &n), MQR_OK);
        buf[n] = '\0';
        cr_assert(strstr(buf, "\"clientid\":\"old\""), "%s", buf);
        char want[128];
        snprintf(want, sizeof want,
                 "\"proto_name\":\"MQTT\",\"proto_ver\":%u,\"keepalive\":42,\"clean_start\":true",
                 level);
        cr_assert(strstr(buf, want), "%s", buf);
        mqr_arena_destroy(a);
    }
}

/* Level 5 under another protocol name: the properties would come first, so
 * the client id is not read as below MQTT 5; a CONNECT cut after the flags
 * keeps what it has. */
Test(event_build, unsupported_connect_what_is_read)
{
    bytes_t f;
    mqr_packet_t p = decode_unsupported(&f, "MQTX", 5, 3, "x");
    cr_assert_eq(p.connect.keepalive, 42);
    cr_assert_eq(p.connect.clean_start, 1);
    cr_assert_null(p.connect.clientid.ptr);
    p = decode_unsupported(&f, "MQTT", 9, 1, NULL);
    cr_assert_eq(p.connect.clean_start, 0); /* the keep alive is missing: nothing read */
    cr_assert_null(p.connect.clientid.ptr);
}

/* ---- allocation ---------------------------------------------------------------------- */

typedef struct {
    long calls;
    long fail_at; /* 1-based allocation to fail; 0: never */
    long allocs;
    long live;
} alloc_ctl_t;

static void *ctl_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    alloc_ctl_t *c = ud;
    c->calls++;
    if (new_size == 0) {
        if (ptr)
            c->live -= (long)old_size;
        free(ptr);
        return NULL;
    }
    c->allocs++;
    if (c->fail_at && c->allocs == c->fail_at)
        return NULL;
    void *p = realloc(ptr, new_size);
    if (p)
        c->live += (long)new_size - (ptr ? (long)old_size : 0);
    return p;
}

/* Fail each allocation of a build in turn (a small arena block makes every
 * piece a new block): MQR_ENOMEM, never a crash or a leak, and the arena
 * builds the event once the allocator recovers. */
Test(event_build, allocation_failure_at_every_n)
{
    mqr_event_conn_t c = conn();
    mqr_event_msg_t m = msg();
    bytes_t f = puback5();
    mqr_packet_t p = decode5(&f);
    mqr_event_input_t in = input(&c, &m);
    in.packet = &p;
    int ok = 0;
    for (long n = 1; n < 64 && !ok; n++) {
        alloc_ctl_t ctl = {0, n, 0, 0};
        mqr_allocator_t al = {ctl_alloc, &ctl};
        mqr_arena_t *a = NULL;
        if (mqr_arena_create(&al, 64, &a) != MQR_OK)
            continue;
        mqr_value_t ev;
        mqr_diag_t d;
        int st = mqr_event_build(MQR_EVENT_MESSAGE_ACKED, &in, a, &ev, &d);
        if (st == MQR_OK) {
            ok = ctl.allocs < n;
        } else {
            cr_assert_eq(st, MQR_ENOMEM, "n=%ld: %s", n, mqr_status_name(st));
            cr_assert_str_eq(d.message, "message.acked: arena exhausted");
            cr_assert_eq(ev.type, MQR_VAL_UNDEFINED);
            mqr_arena_reset(a);
            cr_assert_eq(mqr_event_build(MQR_EVENT_MESSAGE_ACKED, &in, a, &ev, &d), MQR_OK);
        }
        mqr_arena_destroy(a);
        cr_assert_eq(ctl.live, 0, "n=%ld: %ld bytes leaked", n, ctl.live);
    }
    cr_assert(ok, "a run without failure was reached");
}

/* ---- through the engine -------------------------------------------------------------- */

typedef struct {
    int calls;
    char json[2048];
} got_t;

static int on_output(void *ud, const char *rule_id, const char *json, size_t len,
                     const mqr_value_t *out)
{
    got_t *g = ud;
    (void)rule_id;
    (void)out;
    g->calls++;
    snprintf(g->json, sizeof g->json, "%.*s", (int)len, json);
    return MQR_OK;
}

static mqr_engine_t *engine_with(const mqr_allocator_t *al, const char *sql, got_t *g)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    if (al)
        o.alloc = *al;
    o.node = "n@h";
    mqr_engine_t *e = NULL;
    if (mqr_engine_create(&o, &e) != MQR_OK)
        return NULL;
    mqr_engine_rule_def_t def = {"r1", sql, NULL, 1, 0};
    if (mqr_engine_rule_add(e, &def, NULL) != MQR_OK ||
        mqr_engine_action_add_callback(e, "r1", on_output, g, NULL, NULL) != MQR_OK) {
        mqr_engine_destroy(e);
        return NULL;
    }
    return e;
}

Test(event_build, engine_emit_input)
{
    got_t g = {0, ""};
    mqr_engine_t *e = engine_with(NULL, "SELECT * FROM \"$events/session/subscribed\"", &g);
    cr_assert_not_null(e);
    mqr_event_conn_t c = conn();
    bytes_t f = subscribe5();
    mqr_packet_t p = decode5(&f);
    mqr_event_input_t in = input(&c, NULL);
    in.packet = &p;
    in.topic = "t/#";
    in.topic_len = 3;
    in.node = "ignored";
    uint32_t fired = 9;
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_SESSION_SUBSCRIBED, &in, &fired, NULL), MQR_OK);
    cr_assert_eq(fired, 1);
    cr_assert_eq(g.calls, 1);
    cr_assert(strstr(g.json, "\"sub_props\":{\"Subscription-Identifier\":7,"), "%s", g.json);
    cr_assert(strstr(g.json, "\"timestamp\":2000,\"node\":\"n@h\",\"metadata\":{\"rule_id\":\"r1\"}}"),
              "%s", g.json);
    /* an event nobody listens to: nothing fires */
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_CLIENT_PING, &in, &fired, NULL), MQR_OK);
    cr_assert_eq(fired, 0);
    cr_assert_eq(g.calls, 1);
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_CLIENT_CONNACK, &in, &fired, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_MESSAGE_PUBLISH, &in, NULL, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_emit_input(NULL, MQR_EVENT_CLIENT_PING, &in, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_CLIENT_PING, NULL, NULL, NULL), MQR_EINVAL);
    /* an event no rule listens to is not built, so its input is not looked at */
    cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_SESSION_UNSUBSCRIBED, &in, NULL, NULL), MQR_OK);
    mqr_engine_destroy(e);
}

/* A warm engine emits a built event without calling the allocator; every
 * failing allocation of a cold engine's emit gives MQR_ENOMEM and leaves
 * the engine usable. */
Test(event_build, engine_emit_input_allocation)
{
    mqr_event_conn_t c = conn();
    mqr_event_msg_t m = msg();
    mqr_event_input_t in = input(&c, &m);
    in.reason = "queue_full";
    in.reason_len = 10;
    int ok = 0;
    for (long n = 1; n < 400 && !ok; n++) {
        alloc_ctl_t ctl = {0, 0, 0, 0};
        mqr_allocator_t al = {ctl_alloc, &ctl};
        got_t g = {0, ""};
        mqr_engine_t *e = engine_with(&al, "SELECT * FROM \"$events/message/delivery_dropped\"", &g);
        cr_assert_not_null(e);
        ctl.fail_at = ctl.allocs + n;
        int st = mqr_engine_emit_input(e, MQR_EVENT_DELIVERY_DROPPED, &in, NULL, NULL);
        cr_assert(st == MQR_OK || st == MQR_ENOMEM, "n=%ld: %s", n, mqr_status_name(st));
        if (st == MQR_OK && ctl.allocs < ctl.fail_at) {
            ok = 1;
            cr_assert_eq(g.calls, 1);
            long before = ctl.calls;
            for (int i = 0; i < 50; i++)
                cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_DELIVERY_DROPPED, &in, NULL, NULL),
                             MQR_OK);
            cr_assert_eq(ctl.calls, before, "%ld allocator calls when warm", ctl.calls - before);
            cr_assert_eq(g.calls, 51);
        }
        ctl.fail_at = 0;
        cr_assert_eq(mqr_engine_emit_input(e, MQR_EVENT_DELIVERY_DROPPED, &in, NULL, NULL), MQR_OK);
        mqr_engine_destroy(e);
        cr_assert_eq(ctl.live, 0, "n=%ld: %ld bytes leaked", n, ctl.live);
    }
    cr_assert(ok, "a run without failure was reached");
}
