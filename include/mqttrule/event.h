/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/event.h - the events rules select from: their schemas as data,
 * lookup by topic and by name, `$events/...` filter matching, the example
 * values the offline SQL tester fills in, and the formatting of socket
 * addresses as events carry them. docs/events.md lists every event.
 *
 * Every event has a name ("client.connack"), up to two event topics (the
 * legacy "$events/client_connack" and the namespaced "$events/client/connack",
 * decision D5) and an ordered list of fields: the order `SELECT *` produces
 * (decision D3). `message.publish` has no event topic: message rules name
 * plain topic filters. The `metadata` column is not part of a schema: the
 * engine appends it when it evaluates a rule (spec §1.1).
 *
 * mqr_event_connack_build() turns a decoded CONNECT, the reason code the
 * broker decided and the connection's addresses into the client.connack
 * event: an mqr_value_t object whose members follow the schema. It allocates
 * only from the arena the caller passes, so once the arena is warm building an
 * event costs no heap allocation.
 *
 * mqr_event_build() does the same for the other events from a host's facts:
 * a connection (mqr_event_conn_t), a message (mqr_event_msg_t) and the
 * packet the event is about. Hosts that run an engine call
 * mqr_engine_emit_input() instead, which builds into the engine's arena.
 *
 * The schema tables are const data with static storage: the schema functions
 * are pure lookups, allocate nothing and are safe from any number of threads.
 */
#ifndef MQTTRULE_EVENT_H
#define MQTTRULE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "mqttrule/common.h"
#include "mqttrule/packet.h"
#include "mqttrule/reason.h"
#include "mqttrule/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ------------------------------------------------------------------ */

/* Event ids: the index of the event in the table (mqr_event_at()). ORDER: the
 * table in lib/event.c. */
#define MQR_EVENT_MESSAGE_PUBLISH 0
#define MQR_EVENT_CLIENT_CONNECTED 1
#define MQR_EVENT_CLIENT_DISCONNECTED 2
#define MQR_EVENT_CLIENT_CONNACK 3
#define MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE 4
#define MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE 5
#define MQR_EVENT_CLIENT_PING 6
#define MQR_EVENT_SESSION_SUBSCRIBED 7
#define MQR_EVENT_SESSION_UNSUBSCRIBED 8
#define MQR_EVENT_MESSAGE_DELIVERED 9
#define MQR_EVENT_MESSAGE_ACKED 10
#define MQR_EVENT_MESSAGE_DROPPED 11
#define MQR_EVENT_DELIVERY_DROPPED 12
#define MQR_EVENT_SCHEMA_VALIDATION_FAILED 13
#define MQR_EVENT_MESSAGE_TRANSFORMATION_FAILED 14
#define MQR_EVENT_ALARM_ACTIVATED 15
#define MQR_EVENT_ALARM_DEACTIVATED 16
#define MQR_EVENT_COUNT 17

/* The most fields any event has (a bound for caller-side arrays). */
#define MQR_EVENT_MAX_FIELDS 20

/* mqr_event_field_t.flags */
#define MQR_EVFIELD_UNDEFINED 0x01u /* the value may be undefined (e.g. username) */
#define MQR_EVFIELD_ATOM 0x02u      /* a string EMQX holds as an atom (MQR_VALF_ATOM) */

/*
 * mqr_event_field_t.example_kind: how the SQL tester (spec §11.1) fills a
 * field the test context leaves out.
 */
#define MQR_EVEX_JSON 0      /* the JSON text in `example` */
#define MQR_EVEX_NOW_MS 1    /* the current time in milliseconds */
#define MQR_EVEX_MESSAGE_ID 2 /* a fresh message id (32 upper-case hex digits) */
#define MQR_EVEX_NODE 3      /* the engine's node name */
#define MQR_EVEX_NONE 4      /* left out (undefined) */

/* mqr_sockaddr_t.family */
#define MQR_ADDR_NONE 0 /* unknown address: formats as undefined */
#define MQR_ADDR_IPV4 4
#define MQR_ADDR_IPV6 6

/* The session expiry EMQX gives a v3 client with clean session 0 (its zone
 * default mqtt.session_expiry_interval, 2 hours), in milliseconds. */
#define MQR_EVENT_V3_SESSION_EXPIRY_MS 7200000

/* Enough for "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:65535" and a NUL. */
#define MQR_ADDR_TEXT_MAX 48

/* ---- types -------------------------------------------------------------------------- */

/* One field of an event. `type` is the MQR_VAL_* type of a present value. */
typedef struct mqr_event_field {
    const char *name;
    uint32_t type;         /* MQR_VAL_* */
    uint32_t flags;        /* MQR_EVFIELD_* */
    uint32_t example_kind; /* MQR_EVEX_* */
    uint32_t name_len;     /* strlen(name) */
    const char *example; /* JSON text when example_kind is MQR_EVEX_JSON, else NULL */
} mqr_event_field_t;

/* One event. Strings are NUL-terminated, static storage. */
typedef struct mqr_event_schema {
    uint32_t id;          /* MQR_EVENT_* */
    uint32_t field_count; /* entries in `fields` */
    const char *name;     /* the `event` column: "client.connack" */
    const char *legacy_topic; /* "$events/client_connack"; NULL when none */
    const char *topic;        /* "$events/client/connack"; NULL for message.publish */
    const char *test_type;    /* the SQL tester's event_type: "client_connack" */
    const mqr_event_field_t *fields; /* in `SELECT *` order */
} mqr_event_schema_t;

/*
 * A socket address in plain fixed-width fields (no struct sockaddr at the
 * ABI). `addr` holds 4 bytes (IPv4) or 16 bytes (IPv6) in network order;
 * `port` is in host order.
 */
typedef struct mqr_sockaddr {
    uint8_t family; /* MQR_ADDR_* */
    uint8_t reserved_;
    uint16_t port;
    uint8_t addr[16];
} mqr_sockaddr_t;

/*
 * What mqr_event_connack_build() needs besides the arena. Initialise it with
 * mqr_event_connack_init(), then set the fields that apply.
 */
typedef struct mqr_connack_input {
    /* The CONNECT as mqr_packet_decode() returned it (type MQR_PKT_CONNECT),
     * or NULL when not even its variable header could be read. Borrowed: the
     * event's strings point into the bytes it points into. */
    const mqr_packet_t *connect;
    /* 1: the CONNECT decoded completely. 0: decoding failed (decision D2) and
     * `connect` holds the fields read before the failure, zeros after it. */
    int32_t complete;
    int32_t reason_code;  /* the MQTT 5 reason code decided; 0x00 = success */
    int32_t connack_sent; /* 0: the connection closes without a CONNACK (D2) */
    int32_t names;        /* MQR_NAMES_DOC (default) or MQR_NAMES_EMQX (D1) */
    mqr_sockaddr_t peer;  /* the client's address: peername */
    mqr_sockaddr_t sock;  /* the listener's address: sockname */
    int64_t timestamp_ms;    /* the `timestamp` column */
    int64_t connected_at_ms; /* success only; 0 = timestamp_ms */
    /* Session expiry of a v3 client with clean session 0, in ms; default
     * MQR_EVENT_V3_SESSION_EXPIRY_MS. */
    int64_t v3_session_expiry_ms;
    /* Upper bound for a v5 Session-Expiry-Interval, in seconds (EMQX's
     * mqtt.max_session_expiry_interval); 0 = none (default). */
    uint32_t max_session_expiry_s;
    uint32_t node_len;
    const char *node; /* the `node` column, node_len bytes, borrowed; NULL = undefined */
} mqr_connack_input_t;

/*
 * Facts about one client connection, as several events carry them: the
 * client of client.connected / disconnected / ping / check_authn_complete /
 * check_authz_complete and session.subscribed / unsubscribed, the receiver of
 * message.delivered / acked and delivery.dropped. Initialise it with
 * mqr_event_conn_init(), then set what the host knows. Strings are
 * length-counted and borrowed for the build; a NULL string is an undefined
 * column. Fixed-width fields only (ctypes reads it as it is).
 */
typedef struct mqr_event_conn {
    const char *clientid;      /* the final client id (assigned ids included) */
    uint32_t clientid_len;
    uint32_t username_len;
    const char *username;      /* NULL: no user name (undefined) */
    const char *mountpoint;    /* NULL: none (undefined) */
    uint32_t mountpoint_len;
    uint32_t listener_len;
    /* The listener that accepted the connection ("tcp:default", "ssl:default",
     * "ws:default", ...) and its transport ("tcp", "ssl", "ws", "wss"). No
     * EMQX event column shows them; they travel with the facts so that a
     * listener kind the host adds is named in one place (docs/events.md). */
    const char *listener;
    const char *protocol;
    uint32_t protocol_len;
    int32_t proto_ver;         /* 3, 4 or 5 (MQR_PROTO_*); 0: unknown (undefined) */
    mqr_sockaddr_t peer;       /* peername, peerhost */
    mqr_sockaddr_t sock;       /* sockname: the listener's local address */
    int32_t keepalive;         /* seconds, as granted; -1: undefined */
    int32_t clean_start;       /* 0 or 1; -1: undefined */
    int32_t is_bridge;         /* 0 or 1 */
    int32_t is_superuser;      /* 0 or 1 (client.check_authn_complete) */
    /* The messages the host lets the client have in flight: its MQTT 5
     * Receive-Maximum, or for a v3 client the host's own in-flight limit. */
    uint32_t receive_maximum;
    uint32_t reserved_;
    /* Session expiry in seconds as the host keeps it (a v3 client with clean
     * session 0: the host's v3 session expiry); 0xFFFFFFFF: never. */
    int64_t expiry_interval_s;
    int64_t connected_at_ms;   /* 0: undefined */
    /* The CONNECT's properties (MQTT 5), borrowed: conn_props of
     * client.connected and client.ping. present 0: {"User-Property": {}}. */
    mqr_props_t conn_props;
} mqr_event_conn_t;

/*
 * A message as the message events carry it (spec §5 columns). Initialise it
 * with mqr_event_msg_init(). Strings are borrowed for the build.
 */
typedef struct mqr_event_msg {
    const char *id;            /* 32 hex digits; NULL: undefined */
    uint32_t id_len;
    uint32_t topic_len;
    const char *topic;
    const char *payload;       /* NULL: "" */
    uint32_t payload_len;
    int32_t qos;
    int32_t retain;            /* flags.retain */
    int32_t dup;               /* flags.dup */
    const char *from_clientid; /* the publisher (clientid of message.dropped) */
    const char *from_username; /* NULL: undefined */
    uint32_t from_clientid_len;
    uint32_t from_username_len;
    /* The publisher's address: peerhost / peername of message.dropped,
     * schema.validation_failed and message.transformation_failed. */
    mqr_sockaddr_t from_peer;
    int64_t publish_received_at_ms;
    /* The PUBLISH properties as received, borrowed: pub_props. present 0:
     * {"User-Property": {}}. */
    mqr_props_t props;
} mqr_event_msg_t;

/*
 * Everything mqr_event_build() and mqr_engine_emit_input() turn into an
 * event other than client.connack (which has mqr_connack_input_t). One
 * struct serves every event; each event reads the members docs/events.md
 * lists for it and ignores the rest. Initialise with mqr_event_input_init().
 */
typedef struct mqr_event_input {
    const mqr_event_conn_t *conn; /* the client (the receiver for message events) */
    const mqr_event_msg_t *msg;   /* message events */
    /* The packet the event is about, borrowed: DISCONNECT (disconn_props),
     * SUBSCRIBE (sub_props), UNSUBSCRIBE (unsub_props), PUBACK, PUBREC or
     * PUBCOMP (puback_props), CONNECT (clientid and username of
     * client.check_authn_complete when conn has none). NULL: {"User-Property": {}}. */
    const mqr_packet_t *packet;
    const char *topic;         /* authz topic, subscription filter */
    uint32_t topic_len;
    int32_t qos;               /* session.subscribed / unsubscribed */
    /* reason (client.disconnected, message.dropped, delivery.dropped), the
     * authn reason_code, or the validation / transformation / alarm name. */
    const char *reason;
    uint32_t reason_len;
    int32_t reason_code;       /* client.check_authn_complete when reason is NULL */
    int32_t action;            /* authz: 1 publish, 0 subscribe */
    int32_t allow;             /* authz result: 1 allow, 0 deny */
    const char *authz_source;  /* NUL-terminated; NULL: "default" */
    const char *message;       /* alarm message; NUL-terminated */
    const mqr_value_t *details; /* alarm details object; NULL: {} */
    int64_t timestamp_ms;      /* 0: the engine's clock (or 0 in mqr_event_build) */
    int64_t at_ms;             /* disconnected_at, activated_at; 0: timestamp */
    int64_t deactivated_at_ms; /* 0: timestamp */
    const char *node;          /* mqr_event_build only: the node column; NULL: undefined */
    uint32_t node_len;
    uint32_t reserved_;
} mqr_event_input_t;

/* ---- schemas ---------------------------------------------------------------------------- */

/** The number of events in the table (MQR_EVENT_COUNT). Thread-safe. */
MQR_API uint32_t mqr_event_count(void);

/** The event with id `id` (0 <= id < mqr_event_count()), or NULL. Static
 *  storage. Iterate over all events with this. Thread-safe. */
MQR_API const mqr_event_schema_t *mqr_event_at(uint32_t id);

/**
 * The event named `name` ("client.connack"; `len` bytes, no NUL needed), or
 * NULL when there is none or `name` is NULL. Thread-safe.
 */
MQR_API const mqr_event_schema_t *mqr_event_find(const char *name, size_t len);

/**
 * The event whose legacy or new topic is exactly `topic` ("$events/client_connack"
 * or "$events/client/connack"), or NULL for any other topic (plain message
 * topics included, and "$events/message_publish", which EMQX does not accept in
 * FROM) or a NULL `topic`. Thread-safe.
 */
MQR_API const mqr_event_schema_t *mqr_event_find_topic(const char *topic, size_t len);

/**
 * The event whose SQL-tester event_type is `type` ("client_connack",
 * "message_publish", ...), or NULL. Thread-safe.
 */
MQR_API const mqr_event_schema_t *mqr_event_find_test_type(const char *type, size_t len);

/**
 * 1 if MQTT topic filter `filter` (`len` bytes) matches the legacy or the new
 * topic of `event`, else 0: "$events/#" matches every event topic,
 * "$events/client/+" the new client.* topics, "$events/client_connack" and
 * "$events/client/connack" client.connack. '+' matches one level and '#' the
 * rest, as in MQTT. An event without topics (message.publish), a NULL
 * argument or an invalid filter give 0. Thread-safe.
 */
MQR_API int mqr_event_filter_matches(const char *filter, size_t len,
                                     const mqr_event_schema_t *event);

/**
 * The field `name` of `event` with its position in *out_index (may be NULL),
 * or NULL when the event has no such field or an argument is NULL.
 * Thread-safe.
 */
MQR_API const mqr_event_field_t *mqr_event_field(const mqr_event_schema_t *event,
                                                 const char *name, size_t len,
                                                 uint32_t *out_index);

/* ---- addresses ------------------------------------------------------------------------- */

/**
 * Format `addr` as events do (spec §1.3) into buf[0..cap), NUL-terminated:
 * with `with_port` non-zero "ip:port" (peername, sockname), else the IP only
 * (peerhost). IPv4 is dotted decimal; IPv6 is the RFC 5952 compressed form
 * without brackets ("::1:52918"); an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is printed as dotted IPv4.
 * Returns MQR_OK with *out_len the length written (may be NULL);
 * MQR_ENOTFOUND for family MQR_ADDR_NONE (the field is undefined; buf gets "");
 * MQR_EBUFFER when cap is too small (MQR_ADDR_TEXT_MAX always suffices; buf
 * gets "" if cap > 0); MQR_EINVAL for a NULL addr, a NULL buf, or an unknown
 * family. Thread-safe.
 */
MQR_API int mqr_sockaddr_format(const mqr_sockaddr_t *addr, int with_port, char *buf,
                                size_t cap, size_t *out_len);

/**
 * Fill *out from a `struct sockaddr_in` or `struct sockaddr_in6` (`sa`,
 * `sa_len` bytes, as accept() or getsockname() return it). Returns MQR_OK;
 * MQR_ENOTSUP for another address family (*out becomes MQR_ADDR_NONE);
 * MQR_EINVAL for NULL arguments or an `sa_len` too short for its family.
 * Thread-safe.
 */
MQR_API int mqr_sockaddr_from_sys(const void *sa, size_t sa_len, mqr_sockaddr_t *out);

/* ---- building client.connack --------------------------------------------------------- */

/**
 * Reset *in to the defaults: no CONNECT, complete 1, reason 0x00, CONNACK
 * sent, MQR_NAMES_DOC, unknown addresses, times 0, v3 session expiry
 * MQR_EVENT_V3_SESSION_EXPIRY_MS, no expiry bound, no node. NULL is ignored.
 * Thread-safe.
 */
MQR_API void mqr_event_connack_init(mqr_connack_input_t *in);

/**
 * Build the client.connack event (spec §2.3) into *out_event: an object with
 * the members of the client.connack schema in its order.
 *
 *   event           "client.connack" (atom)
 *   reason_code     mqr_reason_connack_name(names, reason_code, proto_ver,
 *                   connack_sent) (atom)
 *   clientid        as sent in CONNECT
 *   username        as sent; undefined without the user name flag
 *   peername, sockname
 *                   mqr_sockaddr_format() with port; undefined when unknown
 *   proto_name, proto_ver, keepalive, clean_start
 *                   from the CONNECT
 *   expiry_interval milliseconds (decision D10): v5 Session-Expiry-Interval
 *                   (0 when absent, bounded by max_session_expiry_s) x 1000;
 *                   v3 with clean session 0: v3_session_expiry_ms; v3 with
 *                   clean session 1: 0
 *   connected_at    connected_at_ms on success (reason 0x00), else undefined
 *   conn_props      the CONNECT properties by name (spec §1.4), wire order;
 *                   "User-Property" always (an object, the last of repeated
 *                   keys wins), "User-Property-Pairs" only when there is a
 *                   user property ([{"key": k, "value": v}, ...] in wire
 *                   order); a v3 CONNECT gives {"User-Property": {}}
 *   timestamp       timestamp_ms
 *   node            node (atom), or undefined
 *
 * When `complete` is 0 (decision D2) a field is set only if the decoder got
 * to it, and undefined otherwise: proto_name when read, proto_ver when
 * non-zero, clientid and username when their pointers are set, keepalive and
 * clean_start when a later field was read (the properties of a v5 CONNECT,
 * the client id of a v3 one), conn_props of a v5 CONNECT when its properties
 * were read (of a v3 CONNECT when proto_ver is known), expiry_interval when
 * what it depends on is known. With `connect` NULL only event, reason_code,
 * peername, sockname, timestamp and node are set.
 *
 * Memory: the members array, the address texts and conn_props are allocated
 * from `arena` and live until it is reset or destroyed; clientid, username,
 * proto_name and property strings borrow the CONNECT's input bytes; the
 * other strings are static or borrowed from `in->node`. Nothing else is
 * allocated.
 *
 * Returns MQR_OK; MQR_EINVAL when in, arena or out_event is NULL, `connect`
 * is not a CONNECT, `names` is not a profile, or the properties are not
 * valid; MQR_ENOMEM when the arena cannot grow. On failure *out_event is
 * undefined and diag (may be NULL) says why. Safe from several threads with
 * different arenas.
 */
MQR_API int mqr_event_connack_build(const mqr_connack_input_t *in, mqr_arena_t *arena,
                                    mqr_value_t *out_event, mqr_diag_t *diag);

/* ---- building the other events --------------------------------------------------------- */

/** Reset *c: everything undefined or unknown (proto_ver 0, keepalive and
 *  clean_start -1), no properties. NULL is ignored. Thread-safe. */
MQR_API void mqr_event_conn_init(mqr_event_conn_t *c);

/** Reset *m: no id, topic or payload, QoS 0, no flags, unknown publisher,
 *  no properties. NULL is ignored. Thread-safe. */
MQR_API void mqr_event_msg_init(mqr_event_msg_t *m);

/** Reset *in: no facts, no packet, times 0. NULL is ignored.
 *  Thread-safe. */
MQR_API void mqr_event_input_init(mqr_event_input_t *in);

/**
 * Build event `event_id` (any MQR_EVENT_* but MQR_EVENT_CLIENT_CONNACK, which
 * has mqr_event_connack_build, and MQR_EVENT_MESSAGE_PUBLISH, which
 * mqr_engine_emit_message builds) from the facts in *in into *out_event: an
 * object with every field of the event's schema in schema order (decision
 * D3), `timestamp` and `node` included. Which member of *in fills which
 * column is the table in docs/events.md; a column whose fact is missing is
 * undefined, a property map whose packet is missing is {"User-Property": {}}
 * (spec §1.4: user properties in wire order in "User-Property-Pairs").
 *
 * Memory: the members array, address texts and property maps come from
 * `arena` and live until it is reset or destroyed; strings borrow *in's
 * pointers and the packets' bytes. Nothing else is allocated.
 *
 * Returns MQR_OK; MQR_EINVAL for a NULL in, arena or out_event, a packet of
 * the wrong type for the event, property bytes that are not valid, or an
 * event that needs facts it lacks (a message event without msg);
 * MQR_ENOTFOUND for an event id this function does not build; MQR_ENOMEM
 * when the arena cannot grow. On failure *out_event is undefined and diag
 * (may be NULL) says why. Safe from several threads with different arenas.
 */
MQR_API int mqr_event_build(uint32_t event_id, const mqr_event_input_t *in, mqr_arena_t *arena,
                            mqr_value_t *out_event, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_EVENT_H */
