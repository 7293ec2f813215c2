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
#include <string.h>
#include <sys/socket.h>

#include "mqttrule.h"

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
