/* SPDX-License-Identifier: MIT */
/*
 * test_event.c - the event schema table against the spec (§2.3, §4, §5):
 * names, both topics, field order and types; lookups; `$events/...` filter
 * matching (D5); example values; address formatting (§1.3).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mqttrule.h"
#include "value_int.h"

#define LEN(s) (s), strlen(s)

/* The names of an event's fields joined by spaces. */
static const char *field_list(const mqr_event_schema_t *ev, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < ev->field_count; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? " " : "", ev->fields[i].name);
    return buf;
}

static const mqr_event_schema_t *by_name(const char *name)
{
    const mqr_event_schema_t *ev = mqr_event_find(LEN(name));
    cr_assert_not_null(ev, "%s", name);
    return ev;
}

static void assert_fields(const char *event, const char *expected)
{
    char buf[1024];
    cr_assert_str_eq(field_list(by_name(event), buf, sizeof buf), expected, "%s", event);
}

Test(event, connack_schema_order_and_topics)
{
    const mqr_event_schema_t *ev = by_name("client.connack");
    cr_assert_eq(ev->id, MQR_EVENT_CLIENT_CONNACK);
    cr_assert_str_eq(ev->legacy_topic, "$events/client_connack");
    cr_assert_str_eq(ev->topic, "$events/client/connack");
    cr_assert_str_eq(ev->test_type, "client_connack");
    assert_fields("client.connack",
                  "event reason_code clientid username peername sockname proto_name proto_ver "
                  "keepalive clean_start expiry_interval connected_at conn_props timestamp node");
    static const struct {
        const char *name;
        uint32_t type;
    } types[] = {{"event", MQR_VAL_STRING},       {"reason_code", MQR_VAL_STRING},
                 {"clientid", MQR_VAL_STRING},    {"username", MQR_VAL_STRING},
                 {"peername", MQR_VAL_STRING},    {"sockname", MQR_VAL_STRING},
                 {"proto_name", MQR_VAL_STRING},  {"proto_ver", MQR_VAL_INT},
                 {"keepalive", MQR_VAL_INT},      {"clean_start", MQR_VAL_BOOL},
                 {"expiry_interval", MQR_VAL_INT}, {"connected_at", MQR_VAL_INT},
                 {"conn_props", MQR_VAL_OBJECT},  {"timestamp", MQR_VAL_INT},
                 {"node", MQR_VAL_STRING}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint32_t idx = 99;
        const mqr_event_field_t *f = mqr_event_field(ev, LEN(types[i].name), &idx);
        cr_assert_not_null(f, "%s", types[i].name);
        cr_assert_eq(idx, (uint32_t)i);
        cr_assert_eq(f->type, types[i].type, "%s", types[i].name);
    }
    cr_assert(ev->fields[0].flags & MQR_EVFIELD_ATOM);
    cr_assert(ev->fields[1].flags & MQR_EVFIELD_ATOM);
    cr_assert(ev->fields[3].flags & MQR_EVFIELD_UNDEFINED);
    cr_assert(ev->fields[11].flags & MQR_EVFIELD_UNDEFINED);
}

Test(event, every_schema_field_list)
{
    assert_fields("message.publish",
                  "id clientid username payload peerhost peername topic qos flags pub_props "
                  "publish_received_at client_attrs event timestamp node");
    assert_fields("client.connected",
                  "event clientid username mountpoint peername sockname proto_name proto_ver "
                  "keepalive clean_start receive_maximum expiry_interval is_bridge conn_props "
                  "connected_at client_attrs timestamp node");
    assert_fields("client.disconnected",
                  "event reason clientid username peername sockname proto_name proto_ver "
                  "disconn_props disconnected_at connected_at client_attrs timestamp node");
    assert_fields("client.check_authz_complete",
                  "event clientid username peername peerhost topic action authz_source result "
                  "client_attrs timestamp node");
    assert_fields("client.check_authn_complete",
                  "event clientid username peername reason_code is_anonymous is_superuser "
                  "client_attrs timestamp node");
    assert_fields("client.ping",
                  "event clientid clean_start username peername sockname proto_name proto_ver "
                  "keepalive expiry_interval conn_props timestamp node");
    assert_fields("session.subscribed",
                  "event clientid username peerhost peername topic qos sub_props client_attrs "
                  "timestamp node");
    assert_fields("session.unsubscribed",
                  "event clientid username peerhost peername topic qos unsub_props client_attrs "
                  "timestamp node");
    assert_fields("message.delivered",
                  "event id from_clientid from_username clientid username payload peerhost "
                  "peername topic qos flags pub_props publish_received_at timestamp node");
    assert_fields("message.acked",
                  "event id from_clientid from_username clientid username payload peerhost "
                  "peername topic qos flags pub_props publish_received_at puback_props "
                  "timestamp node");
    assert_fields("message.dropped",
                  "event id reason clientid username payload peerhost peername topic qos flags "
                  "pub_props publish_received_at timestamp node");
    assert_fields("delivery.dropped",
                  "event id reason from_clientid from_username clientid username payload "
                  "peerhost peername topic qos flags pub_props publish_received_at timestamp "
                  "node");
    assert_fields("schema.validation_failed",
                  "event id validation clientid username payload peerhost peername topic qos "
                  "flags pub_props publish_received_at timestamp node");
    assert_fields("message.transformation_failed",
                  "event id transformation clientid username payload peername topic qos flags "
                  "pub_props publish_received_at timestamp node");
    assert_fields("alarm.activated", "event name details message activated_at timestamp node");
    assert_fields("alarm.deactivated",
                  "event name details message activated_at deactivated_at timestamp node");
}

/* §4's topic table, both names per event. */
Test(event, topics_both_names)
{
    static const char *const rows[][3] = {
        {"client.connected", "$events/client_connected", "$events/client/connected"},
        {"client.disconnected", "$events/client_disconnected", "$events/client/disconnected"},
        {"client.connack", "$events/client_connack", "$events/client/connack"},
        {"client.check_authz_complete", "$events/client_check_authz_complete",
         "$events/auth/check_authz_complete"},
        {"client.check_authn_complete", "$events/client_check_authn_complete",
         "$events/auth/check_authn_complete"},
        {"client.ping", NULL, "$events/client/ping"},
        {"session.subscribed", "$events/session_subscribed", "$events/session/subscribed"},
        {"session.unsubscribed", "$events/session_unsubscribed", "$events/session/unsubscribed"},
        {"message.delivered", "$events/message_delivered", "$events/message/delivered"},
        {"message.acked", "$events/message_acked", "$events/message/acked"},
        {"message.dropped", "$events/message_dropped", "$events/message/dropped"},
        {"delivery.dropped", "$events/delivery_dropped", "$events/message/delivery_dropped"},
        {"schema.validation_failed", "$events/schema_validation_failed",
         "$events/schema_validation/failed"},
        {"message.transformation_failed", "$events/message_transformation_failed",
         "$events/message_transformation/failed"},
        {"alarm.activated", NULL, "$events/sys/alarm_activated"},
        {"alarm.deactivated", NULL, "$events/sys/alarm_deactivated"},
    };
    size_t n = sizeof rows / sizeof rows[0];
    cr_assert_eq(n + 1, mqr_event_count(), "every event but message.publish has a row");
    for (size_t i = 0; i < n; i++) {
        const mqr_event_schema_t *ev = by_name(rows[i][0]);
        if (rows[i][1]) {
            cr_assert_str_eq(ev->legacy_topic, rows[i][1]);
            cr_assert_eq(mqr_event_find_topic(LEN(rows[i][1])), ev);
        } else {
            cr_assert_null(ev->legacy_topic, "%s", rows[i][0]);
        }
        cr_assert_str_eq(ev->topic, rows[i][2]);
        cr_assert_eq(mqr_event_find_topic(LEN(rows[i][2])), ev);
    }
    const mqr_event_schema_t *pub = by_name("message.publish");
    cr_assert_null(pub->topic);
    cr_assert_null(pub->legacy_topic);
    cr_assert_null(mqr_event_find_topic(LEN("$events/message_publish")));
    cr_assert_null(mqr_event_find_topic(LEN("t/a")));
    cr_assert_null(mqr_event_find_topic(LEN("$events/client/connack/")));
    cr_assert_null(mqr_event_find_topic(LEN("$events/client")));
    cr_assert_null(mqr_event_find_topic(NULL, 3));
    /* length-delimited */
    cr_assert_eq(mqr_event_find_topic("$events/client_connackXX", 22),
                 by_name("client.connack"));
}

Test(event, iteration_ids_and_invariants)
{
    cr_assert_eq(mqr_event_count(), (uint32_t)MQR_EVENT_COUNT);
    for (uint32_t i = 0; i < mqr_event_count(); i++) {
        const mqr_event_schema_t *ev = mqr_event_at(i);
        cr_assert_not_null(ev);
        cr_assert_eq(ev->id, i);
        cr_assert_eq(mqr_event_find(LEN(ev->name)), ev);
        cr_assert_eq(mqr_event_find_test_type(LEN(ev->test_type)), ev);
        cr_assert_leq(ev->field_count, MQR_EVENT_MAX_FIELDS);
        /* event, timestamp and node in every event; names unique */
        cr_assert_not_null(mqr_event_field(ev, LEN("event"), NULL), "%s", ev->name);
        cr_assert_not_null(mqr_event_field(ev, LEN("timestamp"), NULL));
        cr_assert_not_null(mqr_event_field(ev, LEN("node"), NULL));
        for (uint32_t a = 0; a < ev->field_count; a++) {
            uint32_t idx = 99;
            mqr_event_field(ev, LEN(ev->fields[a].name), &idx);
            cr_assert_eq(idx, a, "%s.%s is not unique", ev->name, ev->fields[a].name);
            cr_assert_eq(ev->fields[a].name_len, strlen(ev->fields[a].name));
            const mqr_event_field_t *f = &ev->fields[a];
            cr_assert(f->example_kind <= MQR_EVEX_NONE);
            cr_assert_eq(f->example != NULL, f->example_kind == MQR_EVEX_JSON);
        }
        /* the `event` example is the event's name */
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", ev->name);
        cr_assert_str_eq(mqr_event_field(ev, LEN("event"), NULL)->example, want);
    }
    cr_assert_null(mqr_event_at(MQR_EVENT_COUNT));
    cr_assert_eq(mqr_event_at(MQR_EVENT_CLIENT_CONNACK), by_name("client.connack"));
    cr_assert_eq(mqr_event_at(MQR_EVENT_MESSAGE_PUBLISH), by_name("message.publish"));
    cr_assert_eq(mqr_event_at(MQR_EVENT_ALARM_DEACTIVATED), by_name("alarm.deactivated"));
    cr_assert_null(mqr_event_find(LEN("client.connack ")));
    cr_assert_null(mqr_event_find(LEN("client_connack")));
    cr_assert_null(mqr_event_find(NULL, 0));
    cr_assert_null(mqr_event_find_test_type(LEN("client.connack")));
    cr_assert_null(mqr_event_find_test_type(NULL, 1));
    cr_assert_null(mqr_event_field(NULL, LEN("event"), NULL));
    cr_assert_null(mqr_event_field(by_name("client.connack"), NULL, 0, NULL));
    cr_assert_null(mqr_event_field(by_name("client.connack"), LEN("payload"), NULL));
}

/* §11.1: the example values the SQL tester fills in. */
Test(event, connack_examples)
{
    const mqr_event_schema_t *ev = by_name("client.connack");
    static const char *const ex[][2] = {
        {"event", "\"client.connack\""},
        {"reason_code", "\"success\""},
        {"clientid", "\"c_emqx\""},
        {"username", "\"u_emqx\""},
        {"peername", "\"192.168.0.10:56431\""},
        {"sockname", "\"0.0.0.0:1883\""},
        {"proto_name", "\"MQTT\""},
        {"proto_ver", "5"},
        {"keepalive", "60"},
        {"clean_start", "true"},
        {"expiry_interval", "3600"},
        {"conn_props", "{\"Session-Expiry-Interval\":7200,\"Receive-Maximum\":32,"
                       "\"User-Property\":{\"foo\":\"bar\"},"
                       "\"User-Property-Pairs\":[{\"key\":\"foo\",\"value\":\"bar\"}]}"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        const mqr_event_field_t *f = mqr_event_field(ev, LEN(ex[i][0]), NULL);
        cr_assert_eq(f->example_kind, MQR_EVEX_JSON, "%s", ex[i][0]);
        cr_assert_str_eq(f->example, ex[i][1]);
    }
    cr_assert_eq(mqr_event_field(ev, LEN("connected_at"), NULL)->example_kind, MQR_EVEX_NOW_MS);
    cr_assert_eq(mqr_event_field(ev, LEN("timestamp"), NULL)->example_kind, MQR_EVEX_NOW_MS);
    cr_assert_eq(mqr_event_field(ev, LEN("node"), NULL)->example_kind, MQR_EVEX_NODE);
    const mqr_event_schema_t *pub = by_name("message.publish");
    cr_assert_eq(mqr_event_field(pub, LEN("id"), NULL)->example_kind, MQR_EVEX_MESSAGE_ID);
    cr_assert_str_eq(mqr_event_field(pub, LEN("payload"), NULL)->example,
                     "\"{\\\"msg\\\": \\\"hello\\\"}\"");
    cr_assert_eq(mqr_event_field(by_name("client.connected"), LEN("mountpoint"), NULL)
                     ->example_kind,
                 MQR_EVEX_NONE);
}

Test(event, filter_matching)
{
    const mqr_event_schema_t *connack = by_name("client.connack");
    const mqr_event_schema_t *connected = by_name("client.connected");
    const mqr_event_schema_t *authz = by_name("client.check_authz_complete");
    const mqr_event_schema_t *ping = by_name("client.ping");
    const mqr_event_schema_t *pub = by_name("message.publish");
    static const char *const match_connack[] = {
        "$events/#",          "$events/client_connack", "$events/client/connack",
        "$events/client/+",   "$events/client/#",       "$events/+",
        "$events/+/connack",  "+events/client/connack" /* '+' inside a level: invalid */,
    };
    static const int want[] = {1, 1, 1, 1, 1, 1, 1, 0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(mqr_event_filter_matches(LEN(match_connack[i]), connack), want[i], "%s",
                     match_connack[i]);
    static const char *const no_match[] = {
        "#",
        "+/client/connack",
        "+/#",
        "$events/client_connected",
        "$events/client/connected",
        "$events/client",
        "$events/client/connack/#/x",
        "$events/client/connack/+",
        "$events/client/conn+",
        "$events/client/#/connack",
        "$events/client_connack/x",
        "$events/client/connack/",
        "$EVENTS/client/connack",
        "$events",
    };
    for (size_t i = 0; i < sizeof no_match / sizeof no_match[0]; i++)
        cr_assert_eq(mqr_event_filter_matches(LEN(no_match[i]), connack), 0, "%s", no_match[i]);
    /* "a/#" matches "a" */
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client/connack/#"), connack), 1);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client/+"), connected), 1);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client/+"), authz), 0);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/auth/+"), authz), 1);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client_check_authz_complete"), authz), 1);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client/ping"), ping), 1);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/client_ping"), ping), 0);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/#"), pub), 0);
    cr_assert_eq(mqr_event_filter_matches(LEN("#"), pub), 0);
    cr_assert_eq(mqr_event_filter_matches(NULL, 3, connack), 0);
    cr_assert_eq(mqr_event_filter_matches("", 0, connack), 0);
    cr_assert_eq(mqr_event_filter_matches(LEN("$events/#"), NULL), 0);
    /* length-delimited: "$events/#" followed by junk */
    cr_assert_eq(mqr_event_filter_matches("$events/#junk", 9, connack), 1);
    /* every event with topics is matched by $events/# and by each own topic */
    for (uint32_t i = 0; i < mqr_event_count(); i++) {
        const mqr_event_schema_t *ev = mqr_event_at(i);
        if (!ev->topic)
            continue;
        cr_assert_eq(mqr_event_filter_matches(LEN("$events/#"), ev), 1, "%s", ev->name);
        for (uint32_t j = 0; j < mqr_event_count(); j++) {
            const mqr_event_schema_t *other = mqr_event_at(j);
            cr_assert_eq(mqr_event_filter_matches(LEN(ev->topic), other), i == j);
            if (ev->legacy_topic)
                cr_assert_eq(mqr_event_filter_matches(LEN(ev->legacy_topic), other), i == j);
        }
    }
}

static const char *fmt(const mqr_sockaddr_t *a, int with_port)
{
    static char buf[MQR_ADDR_TEXT_MAX];
    size_t n = 999;
    cr_assert_eq(mqr_sockaddr_format(a, with_port, buf, sizeof buf, &n), MQR_OK);
    cr_assert_eq(n, strlen(buf));
    return buf;
}

static mqr_sockaddr_t v6(const char *text, uint16_t port)
{
    mqr_sockaddr_t a = {.family = MQR_ADDR_IPV6, .port = port};
    cr_assert_eq(inet_pton(AF_INET6, text, a.addr), 1, "%s", text);
    return a;
}

Test(event, address_formatting)
{
    mqr_sockaddr_t a = {.family = MQR_ADDR_IPV4, .port = 56431, .addr = {192, 168, 0, 10}};
    cr_assert_str_eq(fmt(&a, 1), "192.168.0.10:56431");
    cr_assert_str_eq(fmt(&a, 0), "192.168.0.10");
    mqr_sockaddr_t any = {.family = MQR_ADDR_IPV4, .port = 1883};
    cr_assert_str_eq(fmt(&any, 1), "0.0.0.0:1883");
    static const char *const rows[][2] = {
        {"::1", "::1"},
        {"::", "::"},
        {"2001:db8::1", "2001:db8::1"},
        {"2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"},
        {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
        {"fe80::abcd:ef01:2345:6789", "fe80::abcd:ef01:2345:6789"},
        {"1::", "1::"},
        {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
        {"FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"::ffff:192.168.0.10", "192.168.0.10"},
        {"::ffff:0:0", "0.0.0.0"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mqr_sockaddr_t x = v6(rows[i][0], 52918);
        cr_assert_str_eq(fmt(&x, 0), rows[i][1], "%s", rows[i][0]);
        char want[64];
        snprintf(want, sizeof want, "%s:52918", rows[i][1]);
        cr_assert_str_eq(fmt(&x, 1), want);
    }
}

Test(event, address_formatting_errors)
{
    char buf[MQR_ADDR_TEXT_MAX];
    size_t n = 7;
    mqr_sockaddr_t none = {.family = MQR_ADDR_NONE};
    buf[0] = 'x';
    cr_assert_eq(mqr_sockaddr_format(&none, 1, buf, sizeof buf, &n), MQR_ENOTFOUND);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(n, 7u);
    mqr_sockaddr_t bad = {.family = 5};
    cr_assert_eq(mqr_sockaddr_format(&bad, 1, buf, sizeof buf, &n), MQR_EINVAL);
    cr_assert_eq(mqr_sockaddr_format(NULL, 1, buf, sizeof buf, &n), MQR_EINVAL);
    mqr_sockaddr_t a = {.family = MQR_ADDR_IPV4, .port = 1883, .addr = {10, 0, 0, 1}};
    cr_assert_eq(mqr_sockaddr_format(&a, 1, NULL, 0, &n), MQR_EINVAL);
    /* "10.0.0.1:1883" is 13 bytes: 14 fits, 13 does not */
    cr_assert_eq(mqr_sockaddr_format(&a, 1, buf, 14, NULL), MQR_OK);
    cr_assert_str_eq(buf, "10.0.0.1:1883");
    cr_assert_eq(mqr_sockaddr_format(&a, 1, buf, 13, &n), MQR_EBUFFER);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(mqr_sockaddr_format(&a, 1, buf, 0, &n), MQR_EBUFFER);
    /* the longest text fits MQR_ADDR_TEXT_MAX */
    mqr_sockaddr_t big = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    cr_assert_eq(mqr_sockaddr_format(&big, 1, buf, sizeof buf, &n), MQR_OK);
    cr_assert_eq(n, 45u);
}

Test(event, sockaddr_from_sys)
{
    struct sockaddr_in in4;
    memset(&in4, 0, sizeof in4);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(1883);
    inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
    mqr_sockaddr_t a;
    cr_assert_eq(mqr_sockaddr_from_sys(&in4, sizeof in4, &a), MQR_OK);
    cr_assert_eq(a.family, MQR_ADDR_IPV4);
    cr_assert_eq(a.port, 1883);
    cr_assert_str_eq(fmt(&a, 1), "127.0.0.1:1883");
    cr_assert_eq(mqr_sockaddr_from_sys(&in4, sizeof in4 - 1, &a), MQR_EINVAL);

    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(52918);
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    cr_assert_eq(mqr_sockaddr_from_sys(&in6, sizeof in6, &a), MQR_OK);
    cr_assert_eq(a.family, MQR_ADDR_IPV6);
    cr_assert_str_eq(fmt(&a, 1), "10.1.2.3:52918");
    cr_assert_eq(mqr_sockaddr_from_sys(&in6, sizeof in4, &a), MQR_EINVAL);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    cr_assert_eq(mqr_sockaddr_from_sys(&ss, sizeof ss, &a), MQR_ENOTSUP);
    cr_assert_eq(a.family, MQR_ADDR_NONE);
    cr_assert_eq(mqr_sockaddr_from_sys(NULL, sizeof ss, &a), MQR_EINVAL);
    cr_assert_eq(mqr_sockaddr_from_sys(&ss, sizeof ss, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_sockaddr_from_sys(&ss, 1, &a), MQR_EINVAL);
}

/* ---- client.connack builder ------------------------------------------------------- */

/* A byte builder for CONNECT packets. */
typedef struct {
    uint8_t b[512];
    size_t n;
} bytes_t;

static void put(bytes_t *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put8(bytes_t *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void put16(bytes_t *w, unsigned v)
{
    put8(w, v >> 8);
    put8(w, v & 0xff);
}
static void putstr(bytes_t *w, const char *s)
{
    put16(w, (unsigned)strlen(s));
    put(w, s, strlen(s));
}

/* Fixed header + `body`: a whole CONNECT packet. */
static bytes_t frame(const bytes_t *body)
{
    bytes_t out = {.n = 0};
    put8(&out, 0x10);
    size_t rl = body->n;
    do {
        uint8_t d = rl % 128;
        rl /= 128;
        put8(&out, d | (rl ? 0x80 : 0));
    } while (rl);
    put(&out, body->b, body->n);
    return out;
}

/* v3.1.1 CONNECT: client id, optional user name, clean session, keepalive. */
static bytes_t connect_v311(const char *clientid, const char *username, int clean, unsigned ka)
{
    bytes_t body = {.n = 0};
    putstr(&body, "MQTT");
    put8(&body, 4);
    put8(&body, (username ? 0xC0 : 0) | (clean ? 0x02 : 0));
    put16(&body, ka);
    putstr(&body, clientid);
    if (username) {
        putstr(&body, username);
        putstr(&body, "pw");
    }
    return frame(&body);
}

/* v3.1 CONNECT ("MQIsdp", level 3) without user name. */
static bytes_t connect_v31(const char *clientid, int clean, unsigned ka)
{
    bytes_t body = {.n = 0};
    putstr(&body, "MQIsdp");
    put8(&body, 3);
    put8(&body, clean ? 0x02 : 0);
    put16(&body, ka);
    putstr(&body, clientid);
    return frame(&body);
}

/* v5 CONNECT with the property bytes `props` (props_len bytes). */
static bytes_t connect_v5(const char *clientid, const char *username, int clean, unsigned ka,
                          const uint8_t *props, size_t props_len)
{
    bytes_t body = {.n = 0};
    putstr(&body, "MQTT");
    put8(&body, 5);
    put8(&body, (username ? 0xC0 : 0) | (clean ? 0x02 : 0));
    put16(&body, ka);
    put8(&body, (unsigned)props_len); /* < 128 in these tests */
    put(&body, props, props_len);
    putstr(&body, clientid);
    if (username) {
        putstr(&body, username);
        putstr(&body, "pw");
    }
    return frame(&body);
}

static mqr_packet_t decode_ok(const bytes_t *b)
{
    mqr_packet_t pkt;
    size_t used = 0;
    int st = mqr_packet_decode(b->b, b->n, NULL, &pkt, &used, NULL);
    cr_assert_eq(st, MQR_OK, "decode: %s", mqr_status_name(st));
    cr_assert_eq(used, b->n);
    cr_assert_eq(pkt.type, MQR_PKT_CONNECT);
    return pkt;
}

typedef struct {
    mqr_arena_t *arena;
    mqr_value_t ev;
} built_t;

static mqr_connack_input_t base_input(const mqr_packet_t *pkt, int reason)
{
    mqr_connack_input_t in;
    mqr_event_connack_init(&in);
    in.connect = pkt;
    in.reason_code = reason;
    in.peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 56431, .addr = {192, 168, 0, 10}};
    in.sock = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 1883};
    in.timestamp_ms = 1736512728667;
    in.connected_at_ms = 1736512728666;
    in.node = "mqttrule@127.0.0.1";
    in.node_len = (uint32_t)strlen(in.node);
    return in;
}

static built_t build(const mqr_connack_input_t *in)
{
    built_t b;
    cr_assert_eq(mqr_arena_create(NULL, 0, &b.arena), MQR_OK);
    mqr_diag_t d;
    int st = mqr_event_connack_build(in, b.arena, &b.ev, &d);
    cr_assert_eq(st, MQR_OK, "build: %s (%s)", mqr_status_name(st), d.message);
    return b;
}

static const mqr_value_t *get(const mqr_value_t *obj, const char *key)
{
    const mqr_value_t *v = mqr_value_object_get(obj, key, strlen(key));
    cr_assert_not_null(v, "no member %s", key);
    return v;
}

static void expect_str(const mqr_value_t *obj, const char *key, const char *want)
{
    const mqr_value_t *v = get(obj, key);
    cr_assert_eq(v->type, MQR_VAL_STRING, "%s is %s", key, mqr_value_type_name(v->type));
    cr_assert_eq(v->len, strlen(want), "%s", key);
    cr_assert(memcmp(v->u.s, want, v->len) == 0, "%s = %.*s, want %s", key, (int)v->len, v->u.s,
              want);
}

static void expect_int(const mqr_value_t *obj, const char *key, int64_t want)
{
    const mqr_value_t *v = get(obj, key);
    cr_assert_eq(v->type, MQR_VAL_INT, "%s is %s", key, mqr_value_type_name(v->type));
    cr_assert_eq(v->u.i, want, "%s = %lld", key, (long long)v->u.i);
}

static void expect_bool(const mqr_value_t *obj, const char *key, int want)
{
    const mqr_value_t *v = get(obj, key);
    cr_assert_eq(v->type, MQR_VAL_BOOL, "%s", key);
    cr_assert_eq(v->u.b, want, "%s", key);
}

static void expect_undefined(const mqr_value_t *obj, const char *key)
{
    cr_assert_eq(get(obj, key)->type, MQR_VAL_UNDEFINED, "%s should be undefined", key);
}

/* The members are the schema's fields, in order. */
static void expect_schema_order(const mqr_value_t *ev)
{
    const mqr_event_schema_t *s = mqr_event_at(MQR_EVENT_CLIENT_CONNACK);
    cr_assert_eq(ev->type, MQR_VAL_OBJECT);
    cr_assert_eq(ev->len, s->field_count);
    for (uint32_t i = 0; i < ev->len; i++) {
        const mqr_member_t *m = &ev->u.members[i];
        cr_assert_eq(m->key_len, strlen(s->fields[i].name));
        cr_assert(memcmp(m->key, s->fields[i].name, m->key_len) == 0);
    }
    cr_assert(get(ev, "event")->flags & MQR_VALF_ATOM);
    cr_assert(get(ev, "reason_code")->flags & MQR_VALF_ATOM);
}

/* conn_props of a client without properties: {"User-Property": {}} and nothing else. */
static void expect_empty_props(const mqr_value_t *ev)
{
    const mqr_value_t *p = get(ev, "conn_props");
    cr_assert_eq(p->type, MQR_VAL_OBJECT);
    cr_assert_eq(p->len, 1u);
    const mqr_value_t *up = get(p, "User-Property");
    cr_assert_eq(up->type, MQR_VAL_OBJECT);
    cr_assert_eq(up->len, 0u);
}

Test(event, connack_v311_success_with_username)
{
    bytes_t b = connect_v311("conn", "u_emqx", 1, 60);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "event", "client.connack");
    expect_str(&r.ev, "reason_code", "connection_accepted");
    expect_str(&r.ev, "clientid", "conn");
    expect_str(&r.ev, "username", "u_emqx");
    expect_str(&r.ev, "peername", "192.168.0.10:56431");
    expect_str(&r.ev, "sockname", "0.0.0.0:1883");
    expect_str(&r.ev, "proto_name", "MQTT");
    expect_int(&r.ev, "proto_ver", 4);
    expect_int(&r.ev, "keepalive", 60);
    expect_bool(&r.ev, "clean_start", 1);
    expect_int(&r.ev, "expiry_interval", 0);
    expect_int(&r.ev, "connected_at", 1736512728666);
    expect_empty_props(&r.ev);
    expect_int(&r.ev, "timestamp", 1736512728667);
    expect_str(&r.ev, "node", "mqttrule@127.0.0.1");
    cr_assert(get(&r.ev, "node")->flags & MQR_VALF_ATOM);
    /* strings from the packet are borrowed, not copied */
    cr_assert(get(&r.ev, "clientid")->u.s >= (const char *)b.b &&
              get(&r.ev, "clientid")->u.s < (const char *)b.b + b.n);
    mqr_arena_destroy(r.arena);

    in.names = MQR_NAMES_EMQX;
    r = build(&in);
    expect_str(&r.ev, "reason_code", "success");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_v311_refused_without_username)
{
    bytes_t b = connect_v311("dev-1", NULL, 0, 30);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_NOT_AUTHORIZED);
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "unauthorized_client");
    expect_str(&r.ev, "clientid", "dev-1");
    expect_undefined(&r.ev, "username");
    expect_int(&r.ev, "keepalive", 30);
    expect_bool(&r.ev, "clean_start", 0);
    expect_int(&r.ev, "expiry_interval", MQR_EVENT_V3_SESSION_EXPIRY_MS);
    expect_undefined(&r.ev, "connected_at");
    expect_empty_props(&r.ev);
    mqr_arena_destroy(r.arena);

    in.v3_session_expiry_ms = 5000;
    in.names = MQR_NAMES_EMQX;
    r = build(&in);
    expect_str(&r.ev, "reason_code", "not_authorized");
    expect_int(&r.ev, "expiry_interval", 5000);
    mqr_arena_destroy(r.arena);
}

Test(event, connack_v31)
{
    bytes_t b = connect_v31("legacy", 1, 120);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_BAD_USERNAME_OR_PASSWORD);
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "malformed_username_or_password");
    expect_str(&r.ev, "clientid", "legacy");
    expect_undefined(&r.ev, "username");
    expect_str(&r.ev, "proto_name", "MQIsdp");
    expect_int(&r.ev, "proto_ver", 3);
    expect_int(&r.ev, "keepalive", 120);
    expect_bool(&r.ev, "clean_start", 1);
    expect_int(&r.ev, "expiry_interval", 0);
    expect_undefined(&r.ev, "connected_at");
    expect_empty_props(&r.ev);
    mqr_arena_destroy(r.arena);
}

/* Session-Expiry-Interval 60, Receive-Maximum 32, user properties a=1, b=2, a=3. */
static const uint8_t v5_props[] = {
    0x11, 0, 0, 0, 60,               /* Session-Expiry-Interval */
    0x21, 0, 32,                     /* Receive-Maximum */
    0x26, 0, 1, 'a', 0, 1, '1',      /* User-Property a=1 */
    0x26, 0, 1, 'b', 0, 1, '2',      /* User-Property b=2 */
    0x26, 0, 1, 'a', 0, 1, '3',      /* User-Property a=3 */
};

static void expect_pair(const mqr_value_t *arr, uint32_t i, const char *k, const char *v)
{
    cr_assert_lt(i, arr->len);
    const mqr_value_t *p = &arr->u.items[i];
    cr_assert_eq(p->type, MQR_VAL_OBJECT);
    cr_assert_eq(p->len, 2u);
    expect_str(p, "key", k);
    expect_str(p, "value", v);
}

Test(event, connack_v5_success_with_properties)
{
    bytes_t b = connect_v5("c_emqx", "u_emqx", 1, 60, v5_props, sizeof v5_props);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "success");
    expect_str(&r.ev, "clientid", "c_emqx");
    expect_str(&r.ev, "username", "u_emqx");
    expect_str(&r.ev, "proto_name", "MQTT");
    expect_int(&r.ev, "proto_ver", 5);
    expect_int(&r.ev, "keepalive", 60);
    expect_bool(&r.ev, "clean_start", 1);
    expect_int(&r.ev, "expiry_interval", 60000);
    expect_int(&r.ev, "connected_at", 1736512728666);

    const mqr_value_t *p = get(&r.ev, "conn_props");
    cr_assert_eq(p->type, MQR_VAL_OBJECT);
    cr_assert_eq(p->len, 4u);
    cr_assert(memcmp(p->u.members[0].key, "Session-Expiry-Interval", 23) == 0);
    cr_assert(memcmp(p->u.members[1].key, "Receive-Maximum", 15) == 0);
    expect_int(p, "Session-Expiry-Interval", 60);
    expect_int(p, "Receive-Maximum", 32);
    const mqr_value_t *up = get(p, "User-Property");
    cr_assert_eq(up->type, MQR_VAL_OBJECT);
    cr_assert_eq(up->len, 2u, "a repeated key is one member");
    expect_str(up, "a", "3"); /* the last pair wins */
    expect_str(up, "b", "2");
    const mqr_value_t *pairs = get(p, "User-Property-Pairs");
    cr_assert_eq(pairs->type, MQR_VAL_ARRAY);
    cr_assert_eq(pairs->len, 3u);
    expect_pair(pairs, 0, "a", "1");
    expect_pair(pairs, 1, "b", "2");
    expect_pair(pairs, 2, "a", "3");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_v5_refusal_and_profiles)
{
    static const uint8_t no_props[1];
    bytes_t b = connect_v5("c", NULL, 0, 0, no_props, 0);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_UNSUPPORTED_PROTOCOL_VERSION);
    built_t r = build(&in);
    expect_str(&r.ev, "reason_code", "unacceptable_protocol_version");
    expect_undefined(&r.ev, "username");
    expect_int(&r.ev, "keepalive", 0);
    expect_bool(&r.ev, "clean_start", 0);
    expect_int(&r.ev, "expiry_interval", 0); /* v5 without the property: 0 */
    expect_undefined(&r.ev, "connected_at");
    expect_empty_props(&r.ev);
    mqr_arena_destroy(r.arena);
    in.names = MQR_NAMES_EMQX;
    r = build(&in);
    expect_str(&r.ev, "reason_code", "unsupported_protocol_version");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_v5_expiry_bound_and_max)
{
    static const uint8_t sei_max[] = {0x11, 0xff, 0xff, 0xff, 0xff};
    bytes_t b = connect_v5("c", NULL, 0, 10, sei_max, sizeof sei_max);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    built_t r = build(&in);
    expect_int(&r.ev, "expiry_interval", 4294967295000LL);
    expect_int(get(&r.ev, "conn_props"), "Session-Expiry-Interval", 4294967295LL);
    mqr_arena_destroy(r.arena);
    in.max_session_expiry_s = 7200;
    r = build(&in);
    expect_int(&r.ev, "expiry_interval", 7200000);
    mqr_arena_destroy(r.arena);
}

Test(event, connack_v5_string_and_binary_properties)
{
    static const uint8_t props[] = {
        0x15, 0, 5, 'S', 'C', 'R', 'A', 'M',  /* Authentication-Method */
        0x16, 0, 3, 0x01, 0x00, 0xff,         /* Authentication-Data */
        0x17, 1,                              /* Request-Problem-Information */
    };
    bytes_t b = connect_v5("c", NULL, 1, 10, props, sizeof props);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_BAD_AUTHENTICATION_METHOD);
    built_t r = build(&in);
    expect_str(&r.ev, "reason_code", "bad_authentication_method");
    const mqr_value_t *p = get(&r.ev, "conn_props");
    cr_assert_eq(p->len, 4u);
    expect_str(p, "Authentication-Method", "SCRAM");
    const mqr_value_t *data = get(p, "Authentication-Data");
    cr_assert_eq(data->type, MQR_VAL_STRING);
    cr_assert_eq(data->len, 3u);
    cr_assert(memcmp(data->u.s, "\x01\x00\xff", 3) == 0);
    expect_int(p, "Request-Problem-Information", 1);
    cr_assert_null(mqr_value_object_get(p, "User-Property-Pairs", 19));
    mqr_arena_destroy(r.arena);
}

/* Many user properties with distinct and repeated keys: the index keeps it right. */
Test(event, connack_v5_many_user_properties)
{
    uint8_t props[120];
    size_t n = 0;
    for (int i = 0; i < 15; i++) {
        props[n++] = 0x26;
        props[n++] = 0;
        props[n++] = 1;
        props[n++] = (uint8_t)('a' + i % 5);
        props[n++] = 0;
        props[n++] = 2;
        props[n++] = (uint8_t)('0' + i / 10);
        props[n++] = (uint8_t)('0' + i % 10);
    }
    bytes_t b = connect_v5("c", NULL, 1, 10, props, n);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    built_t r = build(&in);
    const mqr_value_t *p = get(&r.ev, "conn_props");
    const mqr_value_t *up = get(p, "User-Property");
    cr_assert_eq(up->len, 5u);
    expect_str(up, "a", "10");
    expect_str(up, "b", "11");
    expect_str(up, "e", "14");
    cr_assert(memcmp(up->u.members[0].key, "a", 1) == 0, "first-seen order");
    cr_assert(memcmp(up->u.members[4].key, "e", 1) == 0);
    cr_assert_eq(get(p, "User-Property-Pairs")->len, 15u);
    expect_pair(get(p, "User-Property-Pairs"), 7, "c", "07");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_addresses)
{
    bytes_t b = connect_v311("c", NULL, 1, 10);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    in.peer = v6("::ffff:10.0.0.7", 40000);
    in.sock = v6("::", 1883);
    built_t r = build(&in);
    expect_str(&r.ev, "peername", "10.0.0.7:40000");
    expect_str(&r.ev, "sockname", ":::1883");
    mqr_arena_destroy(r.arena);
    in.peer.family = MQR_ADDR_NONE;
    in.sock = v6("::1", 1883);
    in.node = NULL;
    in.connected_at_ms = 0;
    r = build(&in);
    expect_undefined(&r.ev, "peername");
    expect_str(&r.ev, "sockname", "::1:1883");
    expect_undefined(&r.ev, "node");
    expect_int(&r.ev, "connected_at", 1736512728667); /* 0: the timestamp */
    mqr_arena_destroy(r.arena);
}

/* D2: a malformed CONNECT from a v3.1.1 client, closed without CONNACK. */
Test(event, connack_d2_partial_v311)
{
    mqr_packet_t pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQR_PKT_CONNECT;
    pkt.proto_ver = 4;
    pkt.connect.proto_name = (mqr_str_t){"MQTT", 4, 0};
    pkt.connect.keepalive = 60;
    pkt.connect.clean_start = 1;
    /* failed in the client id: nothing after the keepalive was kept */
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_MALFORMED_PACKET);
    in.complete = 0;
    in.connack_sent = 0;
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "malformed_packet");
    expect_str(&r.ev, "proto_name", "MQTT");
    expect_int(&r.ev, "proto_ver", 4);
    expect_undefined(&r.ev, "clientid");
    expect_undefined(&r.ev, "username");
    expect_undefined(&r.ev, "keepalive");
    expect_undefined(&r.ev, "clean_start");
    expect_undefined(&r.ev, "expiry_interval");
    expect_undefined(&r.ev, "connected_at");
    expect_empty_props(&r.ev);
    expect_str(&r.ev, "peername", "192.168.0.10:56431");
    expect_int(&r.ev, "timestamp", 1736512728667);
    mqr_arena_destroy(r.arena);

    /* the client id was read, the user name failed */
    pkt.connect.clientid = (mqr_str_t){"dev", 3, 0};
    r = build(&in);
    expect_str(&r.ev, "clientid", "dev");
    expect_int(&r.ev, "keepalive", 60);
    expect_bool(&r.ev, "clean_start", 1);
    expect_int(&r.ev, "expiry_interval", 0);
    mqr_arena_destroy(r.arena);

    in.names = MQR_NAMES_EMQX;
    r = build(&in);
    expect_str(&r.ev, "reason_code", "malformed_packet");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_d2_partial_v5_and_unreadable)
{
    mqr_packet_t pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQR_PKT_CONNECT;
    pkt.proto_ver = 5;
    pkt.connect.proto_name = (mqr_str_t){"MQTT", 4, 0};
    pkt.connect.keepalive = 60;
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_PACKET_TOO_LARGE);
    in.complete = 0;
    built_t r = build(&in); /* v5: a CONNACK is sent */
    expect_str(&r.ev, "reason_code", "packet_too_large");
    expect_int(&r.ev, "proto_ver", 5);
    expect_undefined(&r.ev, "keepalive");
    expect_undefined(&r.ev, "conn_props");
    expect_undefined(&r.ev, "expiry_interval");
    mqr_arena_destroy(r.arena);

    /* properties read (empty), client id not */
    static const uint8_t none[1];
    pkt.connect.props = (mqr_props_t){none, 0, 1};
    r = build(&in);
    expect_int(&r.ev, "keepalive", 60);
    expect_bool(&r.ev, "clean_start", 0);
    expect_int(&r.ev, "expiry_interval", 0);
    expect_empty_props(&r.ev);
    expect_undefined(&r.ev, "clientid");
    mqr_arena_destroy(r.arena);

    /* properties present but not valid: conn_props stays undefined */
    static const uint8_t bad[] = {0x11, 0, 0};
    pkt.connect.props = (mqr_props_t){bad, sizeof bad, 1};
    r = build(&in);
    expect_undefined(&r.ev, "conn_props");
    mqr_arena_destroy(r.arena);

    /* nothing readable */
    in.connect = NULL;
    in.reason_code = MQR_RC_MALFORMED_PACKET;
    in.connack_sent = 0;
    r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "malformed_packet");
    static const char *const undef[] = {"clientid", "username", "proto_name", "proto_ver",
                                        "keepalive", "clean_start", "expiry_interval",
                                        "connected_at", "conn_props"};
    for (size_t i = 0; i < sizeof undef / sizeof undef[0]; i++)
        expect_undefined(&r.ev, undef[i]);
    expect_str(&r.ev, "peername", "192.168.0.10:56431");
    expect_str(&r.ev, "node", "mqttrule@127.0.0.1");
    mqr_arena_destroy(r.arena);
}

/* A real decoder failure feeds the builder what it read (D2). */
Test(event, connack_d2_from_decoder)
{
    bytes_t b = connect_v311("dev", "user", 1, 60);
    /* corrupt the user name's UTF-8 */
    size_t at = b.n - 2 - 2 - 4; /* the user name's first byte */
    b.b[at] = 0xff;
    mqr_packet_t pkt;
    size_t used = 0;
    int st = mqr_packet_decode(b.b, b.n, NULL, &pkt, &used, NULL);
    cr_assert_eq(st, MQR_EUTF8);
    cr_assert_eq(pkt.type, MQR_PKT_CONNECT);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_MALFORMED_PACKET);
    in.complete = 0;
    in.connack_sent = 0;
    built_t r = build(&in);
    expect_schema_order(&r.ev);
    expect_str(&r.ev, "reason_code", "malformed_packet");
    expect_str(&r.ev, "proto_name", "MQTT");
    expect_int(&r.ev, "proto_ver", 4);
    expect_str(&r.ev, "clientid", "dev");
    expect_undefined(&r.ev, "username");
    expect_int(&r.ev, "keepalive", 60);
    expect_bool(&r.ev, "clean_start", 1);
    expect_int(&r.ev, "expiry_interval", 0);
    expect_empty_props(&r.ev);
    expect_undefined(&r.ev, "connected_at");
    mqr_arena_destroy(r.arena);
}

Test(event, connack_bad_arguments)
{
    bytes_t b = connect_v311("c", NULL, 1, 10);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    mqr_arena_t *arena;
    cr_assert_eq(mqr_arena_create(NULL, 0, &arena), MQR_OK);
    mqr_value_t ev;
    mqr_diag_t d;
    cr_assert_eq(mqr_event_connack_build(NULL, arena, &ev, &d), MQR_EINVAL);
    cr_assert_eq(d.code, MQR_EINVAL);
    cr_assert_eq(mqr_event_connack_build(&in, NULL, &ev, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_event_connack_build(&in, arena, NULL, NULL), MQR_EINVAL);
    in.names = 7;
    cr_assert_eq(mqr_event_connack_build(&in, arena, &ev, &d), MQR_EINVAL);
    cr_assert_eq(ev.type, MQR_VAL_UNDEFINED);
    cr_assert(strstr(d.message, "profile") != NULL, "%s", d.message);
    in.names = MQR_NAMES_DOC;
    pkt.type = MQR_PKT_PUBLISH;
    cr_assert_eq(mqr_event_connack_build(&in, arena, &ev, &d), MQR_EINVAL);
    cr_assert(strstr(d.message, "CONNECT") != NULL, "%s", d.message);
    pkt.type = MQR_PKT_CONNECT;
    /* complete CONNECT whose properties are not valid */
    static const uint8_t bad[] = {0x11, 0, 0};
    pkt.proto_ver = 5;
    pkt.connect.props = (mqr_props_t){bad, sizeof bad, 1};
    cr_assert_eq(mqr_event_connack_build(&in, arena, &ev, &d), MQR_EINVAL);
    mqr_event_connack_init(NULL);
    mqr_connack_input_t def;
    memset(&def, 0x5a, sizeof def);
    mqr_event_connack_init(&def);
    cr_assert_null(def.connect);
    cr_assert_eq(def.complete, 1);
    cr_assert_eq(def.reason_code, 0);
    cr_assert_eq(def.connack_sent, 1);
    cr_assert_eq(def.names, MQR_NAMES_DOC);
    cr_assert_eq(def.peer.family, MQR_ADDR_NONE);
    cr_assert_eq(def.v3_session_expiry_ms, 7200000);
    cr_assert_eq(def.max_session_expiry_s, 0u);
    cr_assert_null(def.node);
    mqr_arena_destroy(arena);
}

/* An allocator that counts calls and can fail the Nth allocation. */
typedef struct {
    long calls;
    long fail_at; /* 1-based allocation to fail; 0: never */
    long allocs;
} alloc_ctl_t;

static void *ctl_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    alloc_ctl_t *c = ud;
    (void)old_size;
    c->calls++;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    c->allocs++;
    if (c->fail_at && c->allocs == c->fail_at)
        return NULL;
    return realloc(ptr, new_size);
}

/* Once the arena is warm, building an event calls no allocator at all. */
Test(event, connack_no_allocation_when_warm)
{
    bytes_t b = connect_v5("c_emqx", "u_emqx", 1, 60, v5_props, sizeof v5_props);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    alloc_ctl_t ctl = {0, 0, 0};
    mqr_allocator_t a = {ctl_alloc, &ctl};
    mqr_arena_t *arena;
    cr_assert_eq(mqr_arena_create(&a, 0, &arena), MQR_OK);
    mqr_value_t ev;
    cr_assert_eq(mqr_event_connack_build(&in, arena, &ev, NULL), MQR_OK);
    mqr_arena_reset(arena);
    long before = ctl.calls;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(mqr_event_connack_build(&in, arena, &ev, NULL), MQR_OK);
        mqr_arena_reset(arena);
    }
    cr_assert_eq(ctl.calls, before, "%ld allocator calls on a warm arena", ctl.calls - before);
    mqr_arena_destroy(arena);
}

/* Fail each allocation in turn: MQR_ENOMEM, never a crash or leak. */
Test(event, connack_allocation_failures)
{
    bytes_t b = connect_v5("c_emqx", "u_emqx", 1, 60, v5_props, sizeof v5_props);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    int ok = 0;
    for (long n = 1; n < 64 && !ok; n++) {
        alloc_ctl_t ctl = {0, n, 0};
        mqr_allocator_t a = {ctl_alloc, &ctl};
        mqr_arena_t *arena = NULL;
        if (mqr_arena_create(&a, 64, &arena) != MQR_OK)
            continue;
        mqr_value_t ev;
        mqr_diag_t d;
        int st = mqr_event_connack_build(&in, arena, &ev, &d);
        if (st == MQR_OK) {
            ok = ctl.allocs < n; /* no allocation failed: done */
            expect_int(get(&ev, "conn_props"), "Receive-Maximum", 32);
        } else {
            cr_assert_eq(st, MQR_ENOMEM, "n=%ld: %s", n, mqr_status_name(st));
            cr_assert_eq(d.code, MQR_ENOMEM);
            cr_assert_eq(ev.type, MQR_VAL_UNDEFINED);
        }
        mqr_arena_destroy(arena);
    }
    cr_assert(ok, "a run without failure was reached");
}

/* The event as compact JSON (insertion order, undefined as "undefined"). */
static char *to_json(const mqr_value_t *v, uint32_t flags)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    mqr__json_write(&b, v, flags);
    mqr__sbuf_putc(&b, '\0');
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    return b.p;
}

/* docs/events.md's example, byte for byte. */
Test(event, connack_json_matches_docs)
{
    bytes_t b = connect_v5("c_emqx", "u_emqx", 1, 60, v5_props, sizeof v5_props);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_SUCCESS);
    built_t r = build(&in);
    char *json = to_json(&r.ev, 0);
    cr_assert_str_eq(
        json,
        "{\"event\":\"client.connack\",\"reason_code\":\"success\",\"clientid\":\"c_emqx\","
        "\"username\":\"u_emqx\",\"peername\":\"192.168.0.10:56431\","
        "\"sockname\":\"0.0.0.0:1883\",\"proto_name\":\"MQTT\",\"proto_ver\":5,"
        "\"keepalive\":60,\"clean_start\":true,\"expiry_interval\":60000,"
        "\"connected_at\":1736512728666,\"conn_props\":{\"Session-Expiry-Interval\":60,"
        "\"Receive-Maximum\":32,\"User-Property\":{\"a\":\"3\",\"b\":\"2\"},"
        "\"User-Property-Pairs\":[{\"key\":\"a\",\"value\":\"1\"},{\"key\":\"b\",\"value\":\"2\"},"
        "{\"key\":\"a\",\"value\":\"3\"}]},\"timestamp\":1736512728667,"
        "\"node\":\"mqttrule@127.0.0.1\"}");
    free(json);
    mqr_arena_destroy(r.arena);
}

/* A refused v3.1.1 client without user name: D4's "undefined" and null renderings. */
Test(event, connack_json_refused_v311)
{
    bytes_t b = connect_v311("dev-1", NULL, 1, 30);
    mqr_packet_t pkt = decode_ok(&b);
    mqr_connack_input_t in = base_input(&pkt, MQR_RC_NOT_AUTHORIZED);
    built_t r = build(&in);
    char *json = to_json(&r.ev, 0);
    cr_assert_str_eq(
        json,
        "{\"event\":\"client.connack\",\"reason_code\":\"unauthorized_client\","
        "\"clientid\":\"dev-1\",\"username\":\"undefined\",\"peername\":\"192.168.0.10:56431\","
        "\"sockname\":\"0.0.0.0:1883\",\"proto_name\":\"MQTT\",\"proto_ver\":4,"
        "\"keepalive\":30,\"clean_start\":true,\"expiry_interval\":0,"
        "\"connected_at\":\"undefined\",\"conn_props\":{\"User-Property\":{}},"
        "\"timestamp\":1736512728667,\"node\":\"mqttrule@127.0.0.1\"}");
    free(json);
    json = to_json(&r.ev, MQR__JSONF_UNDEFINED_AS_NULL);
    cr_assert(strstr(json, "\"username\":null") != NULL, "%s", json);
    cr_assert(strstr(json, "\"connected_at\":null") != NULL, "%s", json);
    free(json);
    mqr_arena_destroy(r.arena);
}
