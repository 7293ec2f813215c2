/* SPDX-License-Identifier: MIT */
/*
 * event.c - the event schema table (spec §2, §4, §5), lookups over it, the
 * matching of `$events/...` topic filters against event topics (decision D5),
 * and the formatting of socket addresses as events carry them (§1.3).
 *
 * The table is const data: one array of fields per event, in the order
 * `SELECT *` gives them (decision D3), each with the example value the SQL
 * tester uses for it (§11.1 "columns_with_exam"), and one array of events
 * indexed by MQR_EVENT_*. Lookups scan the 17 events; filter matching is the
 * codec's MQTT topic matching against both topics of an event. Nothing here
 * allocates or keeps state.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "mqttrule/event.h"

/*
 * Field rows: {name, type, flags, example kind, name length, example JSON}. Every event
 * but message.publish starts with `event` and ends with `timestamp`, `node`
 * (§2.3, §4); message.publish keeps the order of the §5 table. Example values
 * follow EMQX's columns_with_exam, with two corrections: User-Property-Pairs
 * holds {key, value} objects (EMQX's example splits each pair in two), and
 * the disconnect example spells "Server-Reference" with a dash. Rows shared
 * by several events are the F_* macros below.
 */
#define ROW(name, type, flags, kind, example) \
    {name, type, flags, kind, (uint32_t)(sizeof name - 1), example}
#define STR(name, flags, text) ROW(name, MQR_VAL_STRING, flags, MQR_EVEX_JSON, "\"" text "\"")
#define NUM(name, json) ROW(name, MQR_VAL_INT, 0, MQR_EVEX_JSON, json)
#define BOOL(name, json) ROW(name, MQR_VAL_BOOL, 0, MQR_EVEX_JSON, json)
#define OBJ(name, json) ROW(name, MQR_VAL_OBJECT, 0, MQR_EVEX_JSON, json)
#define NOW(name, flags) ROW(name, MQR_VAL_INT, flags, MQR_EVEX_NOW_MS, NULL)
#define UNDEF MQR_EVFIELD_UNDEFINED
#define ATOM MQR_EVFIELD_ATOM

#define EX_USER_PROPS                       \
    "\"User-Property\":{\"foo\":\"bar\"}," \
    "\"User-Property-Pairs\":[{\"key\":\"foo\",\"value\":\"bar\"}]"

#define F_EVENT(name) STR("event", ATOM, name)
#define F_TIMESTAMP NOW("timestamp", 0)
#define F_NODE ROW("node", MQR_VAL_STRING, ATOM, MQR_EVEX_NODE, NULL)
#define F_ID ROW("id", MQR_VAL_STRING, 0, MQR_EVEX_MESSAGE_ID, NULL)
#define F_CLIENTID STR("clientid", 0, "c_emqx")
#define F_USERNAME STR("username", UNDEF, "u_emqx")
#define F_PEERNAME STR("peername", UNDEF, "192.168.0.10:56431")
#define F_SOCKNAME STR("sockname", UNDEF, "0.0.0.0:1883")
#define F_PEERHOST STR("peerhost", UNDEF, "192.168.0.10")
#define F_PROTO_NAME STR("proto_name", 0, "MQTT")
#define F_PROTO_VER NUM("proto_ver", "5")
#define F_KEEPALIVE NUM("keepalive", "60")
#define F_CLEAN_START BOOL("clean_start", "true")
#define F_EXPIRY_INTERVAL NUM("expiry_interval", "3600")
#define F_CONNECTED_AT NOW("connected_at", 0)
#define F_CONN_PROPS \
    OBJ("conn_props", "{\"Session-Expiry-Interval\":7200,\"Receive-Maximum\":32," EX_USER_PROPS "}")
#define F_CLIENT_ATTRS OBJ("client_attrs", "{\"test\":\"example\"}")
#define F_TOPIC STR("topic", 0, "t/a")
#define F_QOS NUM("qos", "1")
#define F_PAYLOAD STR("payload", 0, "{\\\"msg\\\": \\\"hello\\\"}")
#define F_FLAGS OBJ("flags", "{}")
#define F_PUB_PROPS                                                                 \
    OBJ("pub_props", "{\"Payload-Format-Indicator\":0,\"Message-Expiry-Interval\":30," \
                     EX_USER_PROPS "}")
#define F_PUBLISH_RECEIVED_AT NOW("publish_received_at", 0)
/* The tail every message event shares, from `payload` on. */
#define F_MESSAGE_TAIL \
    F_PAYLOAD, F_PEERHOST, F_PEERNAME, F_TOPIC, F_QOS, F_FLAGS, F_PUB_PROPS, F_PUBLISH_RECEIVED_AT
/* message.delivered / acked / delivery.dropped: sender and receiver. */
#define F_FROM_TO                                                                          \
    STR("from_clientid", 0, "c_emqx_1"), STR("from_username", UNDEF, "u_emqx_1"),          \
        STR("clientid", 0, "c_emqx_2"), STR("username", UNDEF, "u_emqx_2")
#define F_ALARM                                                                            \
    STR("name", 0, "alarm_name"), OBJ("details", "{\"some_key_name\":\"some_value\"}"),    \
        STR("message", 0, "boom"), NOW("activated_at", 0)

static const mqr_event_field_t fields_message_publish[] = {
    F_ID, F_CLIENTID, F_USERNAME, F_PAYLOAD, F_PEERHOST, F_PEERNAME, F_TOPIC, F_QOS, F_FLAGS,
    F_PUB_PROPS, F_PUBLISH_RECEIVED_AT, F_CLIENT_ATTRS, F_EVENT("message.publish"), F_TIMESTAMP,
    F_NODE,
};

static const mqr_event_field_t fields_client_connected[] = {
    F_EVENT("client.connected"), F_CLIENTID, F_USERNAME,
    ROW("mountpoint", MQR_VAL_STRING, UNDEF, MQR_EVEX_NONE, NULL),
    F_PEERNAME, F_SOCKNAME, F_PROTO_NAME, F_PROTO_VER, F_KEEPALIVE, F_CLEAN_START,
    NUM("receive_maximum", "32"), F_EXPIRY_INTERVAL, BOOL("is_bridge", "false"), F_CONN_PROPS,
    F_CONNECTED_AT, F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_client_disconnected[] = {
    F_EVENT("client.disconnected"), STR("reason", ATOM, "normal"), F_CLIENTID, F_USERNAME,
    F_PEERNAME, F_SOCKNAME, F_PROTO_NAME, F_PROTO_VER,
    OBJ("disconn_props", "{\"Session-Expiry-Interval\":7200,"
                         "\"Reason-String\":\"Redirect to another server\","
                         "\"Server-Reference\":\"192.168.22.129\"," EX_USER_PROPS "}"),
    NOW("disconnected_at", 0), F_CONNECTED_AT, F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_client_connack[] = {
    F_EVENT("client.connack"), STR("reason_code", ATOM, "success"), F_CLIENTID, F_USERNAME,
    F_PEERNAME, F_SOCKNAME, F_PROTO_NAME, F_PROTO_VER, F_KEEPALIVE, F_CLEAN_START,
    F_EXPIRY_INTERVAL, NOW("connected_at", UNDEF), F_CONN_PROPS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_client_check_authz_complete[] = {
    F_EVENT("client.check_authz_complete"), F_CLIENTID, F_USERNAME, F_PEERNAME, F_PEERHOST,
    F_TOPIC, STR("action", ATOM, "publish"), STR("authz_source", ATOM, "cache"),
    STR("result", ATOM, "allow"), F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_client_check_authn_complete[] = {
    F_EVENT("client.check_authn_complete"), F_CLIENTID, F_USERNAME, F_PEERNAME,
    STR("reason_code", ATOM, "success"), BOOL("is_anonymous", "false"),
    BOOL("is_superuser", "true"), F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_client_ping[] = {
    F_EVENT("client.ping"), F_CLIENTID, F_CLEAN_START, F_USERNAME, F_PEERNAME, F_SOCKNAME,
    F_PROTO_NAME, F_PROTO_VER, F_KEEPALIVE, F_EXPIRY_INTERVAL, F_CONN_PROPS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_session_subscribed[] = {
    F_EVENT("session.subscribed"), F_CLIENTID, F_USERNAME, F_PEERHOST, F_PEERNAME, F_TOPIC,
    F_QOS, OBJ("sub_props", "{" EX_USER_PROPS "}"), F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_session_unsubscribed[] = {
    F_EVENT("session.unsubscribed"), F_CLIENTID, F_USERNAME, F_PEERHOST, F_PEERNAME, F_TOPIC,
    F_QOS, OBJ("unsub_props", "{" EX_USER_PROPS "}"), F_CLIENT_ATTRS, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_message_delivered[] = {
    F_EVENT("message.delivered"), F_ID, F_FROM_TO, F_MESSAGE_TAIL, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_message_acked[] = {
    F_EVENT("message.acked"), F_ID, F_FROM_TO, F_MESSAGE_TAIL,
    OBJ("puback_props", "{\"Reason-String\":\"OK\"," EX_USER_PROPS "}"), F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_message_dropped[] = {
    F_EVENT("message.dropped"), F_ID, STR("reason", ATOM, "no_subscribers"), F_CLIENTID,
    F_USERNAME, F_MESSAGE_TAIL, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_delivery_dropped[] = {
    F_EVENT("delivery.dropped"), F_ID, STR("reason", ATOM, "queue_full"), F_FROM_TO,
    F_MESSAGE_TAIL, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_schema_validation_failed[] = {
    F_EVENT("schema.validation_failed"), F_ID, STR("validation", 0, "my_validation"),
    F_CLIENTID, F_USERNAME, F_MESSAGE_TAIL, F_TIMESTAMP, F_NODE,
};

/* The only message event without peerhost. */
static const mqr_event_field_t fields_message_transformation_failed[] = {
    F_EVENT("message.transformation_failed"), F_ID, STR("transformation", 0, "my_transformation"),
    F_CLIENTID, F_USERNAME, F_PAYLOAD, F_PEERNAME, F_TOPIC, F_QOS, F_FLAGS, F_PUB_PROPS,
    F_PUBLISH_RECEIVED_AT, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_alarm_activated[] = {
    F_EVENT("alarm.activated"), F_ALARM, F_TIMESTAMP, F_NODE,
};

static const mqr_event_field_t fields_alarm_deactivated[] = {
    F_EVENT("alarm.deactivated"), F_ALARM, NOW("deactivated_at", 0), F_TIMESTAMP, F_NODE,
};

/*
 * One event row. `ident` names the field array (fields_<ident>) and is the
 * SQL tester's event_type; the legacy topic, where there is one, is
 * "$events/<ident>" (LEGACY), else NULL (NO_LEGACY).
 */
#define EVENT(id, ident, name, legacy, topic)                                             \
    {id, (uint32_t)MQR__ARRAY_LEN(fields_##ident), name, legacy(#ident), topic, #ident, \
     fields_##ident}
#define LEGACY(ident) "$events/" ident
#define NO_LEGACY(ident) NULL

/* ORDER: MQR_EVENT_* in mqttrule/event.h. */
static const mqr_event_schema_t events[MQR_EVENT_COUNT] = {
    EVENT(MQR_EVENT_MESSAGE_PUBLISH, message_publish, "message.publish", NO_LEGACY, NULL),
    EVENT(MQR_EVENT_CLIENT_CONNECTED, client_connected,
          "client.connected", LEGACY, "$events/client/connected"),
    EVENT(MQR_EVENT_CLIENT_DISCONNECTED, client_disconnected,
          "client.disconnected", LEGACY, "$events/client/disconnected"),
    EVENT(MQR_EVENT_CLIENT_CONNACK, client_connack,
          "client.connack", LEGACY, "$events/client/connack"),
    EVENT(MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE, client_check_authz_complete,
          "client.check_authz_complete", LEGACY, "$events/auth/check_authz_complete"),
    EVENT(MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE, client_check_authn_complete,
          "client.check_authn_complete", LEGACY, "$events/auth/check_authn_complete"),
    EVENT(MQR_EVENT_CLIENT_PING, client_ping, "client.ping", NO_LEGACY, "$events/client/ping"),
    EVENT(MQR_EVENT_SESSION_SUBSCRIBED, session_subscribed,
          "session.subscribed", LEGACY, "$events/session/subscribed"),
    EVENT(MQR_EVENT_SESSION_UNSUBSCRIBED, session_unsubscribed,
          "session.unsubscribed", LEGACY, "$events/session/unsubscribed"),
    EVENT(MQR_EVENT_MESSAGE_DELIVERED, message_delivered,
          "message.delivered", LEGACY, "$events/message/delivered"),
    EVENT(MQR_EVENT_MESSAGE_ACKED, message_acked, "message.acked", LEGACY, "$events/message/acked"),
    EVENT(MQR_EVENT_MESSAGE_DROPPED, message_dropped,
          "message.dropped", LEGACY, "$events/message/dropped"),
    EVENT(MQR_EVENT_DELIVERY_DROPPED, delivery_dropped,
          "delivery.dropped", LEGACY, "$events/message/delivery_dropped"),
    EVENT(MQR_EVENT_SCHEMA_VALIDATION_FAILED, schema_validation_failed,
          "schema.validation_failed", LEGACY, "$events/schema_validation/failed"),
    EVENT(MQR_EVENT_MESSAGE_TRANSFORMATION_FAILED, message_transformation_failed,
          "message.transformation_failed", LEGACY, "$events/message_transformation/failed"),
    EVENT(MQR_EVENT_ALARM_ACTIVATED, alarm_activated,
          "alarm.activated", NO_LEGACY, "$events/sys/alarm_activated"),
    EVENT(MQR_EVENT_ALARM_DEACTIVATED, alarm_deactivated,
          "alarm.deactivated", NO_LEGACY, "$events/sys/alarm_deactivated"),
};

/* 1 when the `len` bytes at `s` equal the NUL-terminated string `z`. */
static int bytes_eq(const char *s, size_t len, const char *z)
{
    return z && strlen(z) == len && memcmp(s, z, len) == 0;
}

uint32_t mqr_event_count(void) { return MQR_EVENT_COUNT; }

const mqr_event_schema_t *mqr_event_at(uint32_t id)
{
    return id < MQR_EVENT_COUNT ? &events[id] : NULL;
}

/*
 * The event whose string member at byte offset `key` (or, when `key2` is not
 * 0, at `key2`) equals s[0..len); NULL when none does or `s` is NULL. The
 * offsets select name, topic, legacy_topic or test_type, so the three
 * lookups share one scan.
 */
static const mqr_event_schema_t *find_by(size_t key, size_t key2, const char *s, size_t len)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < MQR_EVENT_COUNT; i++) {
        const char *const *k = (const char *const *)((const char *)&events[i] + key);
        const char *const *k2 = (const char *const *)((const char *)&events[i] + key2);
        if (bytes_eq(s, len, *k) || (key2 && bytes_eq(s, len, *k2)))
            return &events[i];
    }
    return NULL;
}

const mqr_event_schema_t *mqr_event_find(const char *name, size_t len)
{
    return find_by(offsetof(mqr_event_schema_t, name), 0, name, len);
}

const mqr_event_schema_t *mqr_event_find_topic(const char *topic, size_t len)
{
    return find_by(offsetof(mqr_event_schema_t, topic),
                   offsetof(mqr_event_schema_t, legacy_topic), topic, len);
}

const mqr_event_schema_t *mqr_event_find_test_type(const char *type, size_t len)
{
    return find_by(offsetof(mqr_event_schema_t, test_type), 0, type, len);
}

const mqr_event_field_t *mqr_event_field(const mqr_event_schema_t *event, const char *name,
                                         size_t len, uint32_t *out_index)
{
    if (!event || !name)
        return NULL;
    for (uint32_t i = 0; i < event->field_count; i++) {
        if (bytes_eq(name, len, event->fields[i].name)) {
            if (out_index)
                *out_index = i;
            return &event->fields[i];
        }
    }
    return NULL;
}

/* 1 when the valid filter f[0..flen) matches `topic` (NULL: no topic). */
static int topic_matches(const char *f, size_t flen, const char *topic)
{
    return topic && mqr_topic_match(f, flen, topic, strlen(topic));
}

/* MQTT matching through the codec: a filter must be valid, and a filter whose
 * first level is a wildcard matches no `$` topic (MQTT 4.7.2). */
int mqr_event_filter_matches(const char *filter, size_t len, const mqr_event_schema_t *event)
{
    if (!filter || !event || mqr_topic_validate_filter(filter, len, NULL) != MQR_OK)
        return 0;
    return topic_matches(filter, len, event->topic) ||
           topic_matches(filter, len, event->legacy_topic);
}

/*
 * Address text is written by hand rather than with snprintf: events are built
 * per connection, and printf's machinery was most of the cost of building
 * client.connack. Each writer appends at `out` and returns the new end; the
 * caller's buffer has MQR_ADDR_TEXT_MAX bytes, enough for any address.
 */
static char *put_dec(char *out, unsigned v)
{
    char tmp[5];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *out++ = tmp[--n];
    return out;
}

static char *put_hex(char *out, unsigned v)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && ((v >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *out++ = digits[(v >> shift) & 0xf];
    return out;
}

/* Dotted decimal of the 4 bytes at `a`. */
static char *put_v4(char *out, const uint8_t *a)
{
    for (int i = 0; i < 4; i++) {
        if (i)
            *out++ = '.';
        out = put_dec(out, a[i]);
    }
    return out;
}

/*
 * RFC 5952 text of the 16 bytes at `a`: lower-case hex groups without leading
 * zeros, the longest run of two or more zero groups (the first of equal runs)
 * written as "::".
 */
static char *put_v6(char *out, const uint8_t *a)
{
    unsigned g[8];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *out++ = ':';
            *out++ = ':';
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len)
            *out++ = ':';
        out = put_hex(out, g[i]);
    }
    return out;
}

/* Bytes 0..11 of an IPv4-mapped IPv6 address: ::ffff:0:0/96. */
static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int mqr_sockaddr_format(const mqr_sockaddr_t *addr, int with_port, char *buf, size_t cap,
                        size_t *out_len)
{
    char text[MQR_ADDR_TEXT_MAX];
    char *end;
    if (!addr || !buf)
        return MQR_EINVAL;
    if (cap > 0)
        buf[0] = '\0';
    if (addr->family == MQR_ADDR_NONE)
        return MQR_ENOTFOUND;
    if (addr->family == MQR_ADDR_IPV4)
        end = put_v4(text, addr->addr);
    else if (addr->family != MQR_ADDR_IPV6)
        return MQR_EINVAL;
    else if (memcmp(addr->addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0)
        end = put_v4(text, addr->addr + 12);
    else
        end = put_v6(text, addr->addr);
    if (with_port) {
        *end++ = ':';
        end = put_dec(end, addr->port);
    }
    size_t n = (size_t)(end - text);
    if (n >= cap)
        return MQR_EBUFFER;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (out_len)
        *out_len = n;
    return MQR_OK;
}

int mqr_sockaddr_from_sys(const void *sa, size_t sa_len, mqr_sockaddr_t *out)
{
    sa_family_t family;
    size_t family_at = offsetof(struct sockaddr, sa_family);
    if (!sa || !out || sa_len < family_at + sizeof family)
        return MQR_EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(&family, (const char *)sa + family_at, sizeof family);
    if (family == AF_INET) {
        struct sockaddr_in in4;
        if (sa_len < sizeof in4)
            return MQR_EINVAL;
        memcpy(&in4, sa, sizeof in4);
        out->family = MQR_ADDR_IPV4;
        out->port = ntohs(in4.sin_port);
        memcpy(out->addr, &in4.sin_addr, 4);
        return MQR_OK;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 in6;
        if (sa_len < sizeof in6)
            return MQR_EINVAL;
        memcpy(&in6, sa, sizeof in6);
        out->family = MQR_ADDR_IPV6;
        out->port = ntohs(in6.sin6_port);
        memcpy(out->addr, &in6.sin6_addr, 16);
        return MQR_OK;
    }
    return MQR_ENOTSUP;
}
