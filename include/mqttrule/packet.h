/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/packet.h - the MQTT codec: every control packet of MQTT 3.1
 * ("MQIsdp", level 3), 3.1.1 (level 4) and 5.0 (level 5), in both directions;
 * MQTT 5 properties; topic name and filter validation and matching.
 *
 * The codec never allocates. mqr_packet_decode() is stateless: give it the
 * bytes received so far and it returns one packet, MQR_NEED_MORE with the
 * number of bytes still missing, or an error with an mqr_diag_t naming the
 * packet, the field, the byte offset and the MQTT 5 reason code a broker
 * should answer with. Decoded strings and binaries point into the caller's
 * buffer, so they are valid as long as that buffer is. Variable-length parts
 * (properties, SUBSCRIBE entries, UNSUBSCRIBE filters) are validated when the
 * packet is decoded and walked afterwards with iterators over the same bytes.
 * mqr_packet_stream_t wraps the decoder for one direction of a connection: it
 * learns the protocol level from the stream's CONNECT and counts offsets.
 *
 * Encoding is a size query (mqr_packet_size()) followed by mqr_packet_encode()
 * into a caller buffer. Both validate the packet as the decoder would, so
 * whatever encodes also decodes, and decode -> encode gives the same bytes.
 *
 * Every function here is reentrant: it touches only its arguments, so calls on
 * different packets, streams and buffers may run in parallel on any threads.
 */
#ifndef MQTTRULE_PACKET_H
#define MQTTRULE_PACKET_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ------------------------------------------------------------ */

/* Control packet types (the high nibble of the first byte). */
#define MQR_PKT_CONNECT 1
#define MQR_PKT_CONNACK 2
#define MQR_PKT_PUBLISH 3
#define MQR_PKT_PUBACK 4
#define MQR_PKT_PUBREC 5
#define MQR_PKT_PUBREL 6
#define MQR_PKT_PUBCOMP 7
#define MQR_PKT_SUBSCRIBE 8
#define MQR_PKT_SUBACK 9
#define MQR_PKT_UNSUBSCRIBE 10
#define MQR_PKT_UNSUBACK 11
#define MQR_PKT_PINGREQ 12
#define MQR_PKT_PINGRESP 13
#define MQR_PKT_DISCONNECT 14
#define MQR_PKT_AUTH 15 /* MQTT 5 only */

/* Protocol levels (the CONNECT "protocol level" byte). */
#define MQR_PROTO_V31 3  /* MQTT 3.1, protocol name "MQIsdp" */
#define MQR_PROTO_V311 4 /* MQTT 3.1.1, protocol name "MQTT" */
#define MQR_PROTO_V5 5   /* MQTT 5.0, protocol name "MQTT" */

/* The largest packet the protocol can express: 1 + 4 + 268435455. */
#define MQR_PKT_MAX_SIZE 268435460u

/* mqr_packet_opts_t.direction: which side sent the bytes. */
#define MQR_PKT_DIR_ANY 0       /* accept every packet type */
#define MQR_PKT_DIR_TO_SERVER 1 /* client -> server: CONNACK, SUBACK, ... are protocol errors */
#define MQR_PKT_DIR_TO_CLIENT 2 /* server -> client: CONNECT, SUBSCRIBE, ... are protocol errors */

/* mqr_packet_opts_t.utf8: how strictly UTF-8 strings are checked. */
#define MQR_PKT_UTF8_STRICT 0    /* also reject control characters U+0001-U+001F, U+007F-U+009F
                                    and non-characters, as mosquitto does (the spec's SHOULD NOTs) */
#define MQR_PKT_UTF8_WELLFORMED 1 /* only the spec's MUSTs: well-formed, no surrogates, no U+0000 */

/* MQTT 5 property identifiers. */
#define MQR_PROP_PAYLOAD_FORMAT_INDICATOR 0x01
#define MQR_PROP_MESSAGE_EXPIRY_INTERVAL 0x02
#define MQR_PROP_CONTENT_TYPE 0x03
#define MQR_PROP_RESPONSE_TOPIC 0x08
#define MQR_PROP_CORRELATION_DATA 0x09
#define MQR_PROP_SUBSCRIPTION_IDENTIFIER 0x0B
#define MQR_PROP_SESSION_EXPIRY_INTERVAL 0x11
#define MQR_PROP_ASSIGNED_CLIENT_IDENTIFIER 0x12
#define MQR_PROP_SERVER_KEEP_ALIVE 0x13
#define MQR_PROP_AUTHENTICATION_METHOD 0x15
#define MQR_PROP_AUTHENTICATION_DATA 0x16
#define MQR_PROP_REQUEST_PROBLEM_INFORMATION 0x17
#define MQR_PROP_WILL_DELAY_INTERVAL 0x18
#define MQR_PROP_REQUEST_RESPONSE_INFORMATION 0x19
#define MQR_PROP_RESPONSE_INFORMATION 0x1A
#define MQR_PROP_SERVER_REFERENCE 0x1C
#define MQR_PROP_REASON_STRING 0x1F
#define MQR_PROP_RECEIVE_MAXIMUM 0x21
#define MQR_PROP_TOPIC_ALIAS_MAXIMUM 0x22
#define MQR_PROP_TOPIC_ALIAS 0x23
#define MQR_PROP_MAXIMUM_QOS 0x24
#define MQR_PROP_RETAIN_AVAILABLE 0x25
#define MQR_PROP_USER_PROPERTY 0x26
#define MQR_PROP_MAXIMUM_PACKET_SIZE 0x27
#define MQR_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE 0x28
#define MQR_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE 0x29
#define MQR_PROP_SHARED_SUBSCRIPTION_AVAILABLE 0x2A

/* Property value types (mqr_prop_t.type, mqr_packet_prop_type()). */
#define MQR_PROPTYPE_BYTE 1   /* one byte: value */
#define MQR_PROPTYPE_U16 2    /* two-byte integer: value */
#define MQR_PROPTYPE_U32 3    /* four-byte integer: value */
#define MQR_PROPTYPE_VARINT 4 /* variable byte integer: value */
#define MQR_PROPTYPE_STRING 5 /* UTF-8 string: str */
#define MQR_PROPTYPE_BINARY 6 /* binary data: bin */
#define MQR_PROPTYPE_PAIR 7   /* UTF-8 string pair: str (name), str2 (value) */

/* ---- types ------------------------------------------------------------------ */

/*
 * A UTF-8 string that is not NUL-terminated. In a decoded packet `ptr` points
 * into the input buffer. `ptr == NULL` means "absent" (no user name, no will),
 * which differs from a present empty string (ptr != NULL, len 0).
 */
typedef struct mqr_str {
    const char *ptr;
    uint32_t len;
    uint32_t reserved_;
} mqr_str_t;

/* Binary data, same conventions as mqr_str_t. */
typedef struct mqr_bin {
    const uint8_t *ptr;
    uint32_t len;
    uint32_t reserved_;
} mqr_bin_t;

/*
 * The MQTT 5 properties of a packet (or of a CONNECT's will): the bytes after
 * the property length, validated by the decoder. `present` is 1 when the
 * property length was on the wire: always for a v5 CONNECT, CONNACK, PUBLISH,
 * SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK; optional for PUBACK, PUBREC,
 * PUBREL, PUBCOMP, DISCONNECT and AUTH, whose short forms omit it. The encoder
 * writes the property length when `present` is 1 or `len` > 0 (and always
 * where the packet requires it); it ignores properties below MQTT 5.
 */
typedef struct mqr_props {
    const uint8_t *ptr;
    uint32_t len;
    uint32_t present;
} mqr_props_t;

/* One property, as returned by mqr_packet_prop_next() and written by
 * mqr_packet_prop_add(). Which member holds the value depends on `type`. */
typedef struct mqr_prop {
    uint8_t id;   /* MQR_PROP_* */
    uint8_t type; /* MQR_PROPTYPE_* */
    uint16_t reserved_;
    uint32_t value; /* BYTE, U16, U32, VARINT */
    mqr_str_t str;  /* STRING; PAIR name */
    mqr_str_t str2; /* PAIR value */
    mqr_bin_t bin;  /* BINARY */
} mqr_prop_t;

/* One SUBSCRIBE entry. Below MQTT 5 only `qos` is meaningful. */
typedef struct mqr_subscription {
    mqr_str_t filter;
    uint8_t qos;
    uint8_t no_local;
    uint8_t retain_as_published;
    uint8_t retain_handling; /* 0, 1 or 2 */
    uint32_t reserved_;
} mqr_subscription_t;

/* CONNECT. Presence of will, user name and password: see mqr_str_t. */
typedef struct mqr_pkt_connect {
    mqr_str_t proto_name; /* "MQTT", or "MQIsdp" at level 3; encode: NULL = by level */
    uint8_t clean_start;  /* "clean session" below MQTT 5 */
    uint8_t will_flag;    /* 1: will_topic/will_payload/will_props are set */
    uint8_t will_qos;
    uint8_t will_retain;
    uint16_t keepalive;
    uint16_t reserved_;
    mqr_str_t clientid;
    mqr_props_t props;      /* v5 */
    mqr_props_t will_props; /* v5, with a will */
    mqr_str_t will_topic;
    mqr_bin_t will_payload;
    mqr_str_t username; /* ptr NULL: no user name flag */
    mqr_bin_t password; /* ptr NULL: no password flag */
} mqr_pkt_connect_t;

/* CONNACK. `reason_code` is the v3 return code (0-5) below MQTT 5. */
typedef struct mqr_pkt_connack {
    uint8_t session_present;
    uint8_t reason_code;
    uint16_t reserved_;
    mqr_props_t props;
} mqr_pkt_connack_t;

/* PUBLISH. `packet_id` is 0 at QoS 0 (and absent on the wire). */
typedef struct mqr_pkt_publish {
    uint8_t dup;
    uint8_t qos;
    uint8_t retain;
    uint8_t reserved_;
    uint16_t packet_id;
    uint16_t reserved2_;
    mqr_str_t topic;
    mqr_props_t props;
    mqr_bin_t payload;
} mqr_pkt_publish_t;

/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP. MQTT 5 short forms: has_reason_code 0 means
 * the reason code (0x00) was omitted; props.present 0 means the property
 * length was omitted. Below MQTT 5 only packet_id is on the wire.
 */
typedef struct mqr_pkt_ack {
    uint16_t packet_id;
    uint8_t reason_code;
    uint8_t has_reason_code;
    mqr_props_t props;
} mqr_pkt_ack_t;

/*
 * SUBSCRIBE. Decoding sets `entries` (the validated entry bytes) and `count`;
 * walk them with mqr_packet_iter_subscriptions(). To encode, either set
 * `list`/`count` (an array owned by the caller) or leave `list` NULL and set
 * `entries` to wire-format entry bytes (as decoded).
 */
typedef struct mqr_pkt_subscribe {
    uint16_t packet_id;
    uint16_t reserved_;
    uint32_t count;
    mqr_props_t props;
    mqr_bin_t entries;
    const mqr_subscription_t *list;
} mqr_pkt_subscribe_t;

/* SUBACK and UNSUBACK: one reason code per filter (UNSUBACK below MQTT 5
 * carries none: codes.len 0). */
typedef struct mqr_pkt_suback {
    uint16_t packet_id;
    uint16_t reserved_;
    uint32_t reserved2_;
    mqr_props_t props;
    mqr_bin_t codes;
} mqr_pkt_suback_t;

/* UNSUBSCRIBE: as SUBSCRIBE, with `list` an array of filters. */
typedef struct mqr_pkt_unsubscribe {
    uint16_t packet_id;
    uint16_t reserved_;
    uint32_t count;
    mqr_props_t props;
    mqr_bin_t entries;
    const mqr_str_t *list;
} mqr_pkt_unsubscribe_t;

/* DISCONNECT and AUTH (MQTT 5 fields; a v3 DISCONNECT is empty). Short forms
 * as for mqr_pkt_ack_t: remaining length 0 omits the reason code (0x00). */
typedef struct mqr_pkt_disconnect {
    uint8_t reason_code;
    uint8_t has_reason_code;
    uint16_t reserved_;
    uint32_t reserved2_;
    mqr_props_t props;
} mqr_pkt_disconnect_t;

/*
 * A decoded packet, or a packet to encode. `type` selects the union member;
 * `proto_ver` is the protocol level the packet is read or written at (for a
 * CONNECT, its protocol level byte). `flags` is the low nibble of the first
 * byte as decoded; the encoder computes it (from dup/qos/retain for PUBLISH).
 * `remaining_length` is set by the decoder and ignored by the encoder.
 */
typedef struct mqr_packet {
    uint8_t type; /* MQR_PKT_* */
    uint8_t flags;
    uint8_t proto_ver; /* MQR_PROTO_* */
    uint8_t reserved_;
    uint32_t remaining_length;
    union {
        mqr_pkt_connect_t connect;
        mqr_pkt_connack_t connack;
        mqr_pkt_publish_t publish;
        mqr_pkt_ack_t ack; /* PUBACK, PUBREC, PUBREL, PUBCOMP */
        mqr_pkt_subscribe_t subscribe;
        mqr_pkt_suback_t suback;   /* SUBACK */
        mqr_pkt_suback_t unsuback; /* UNSUBACK (same layout) */
        mqr_pkt_unsubscribe_t unsubscribe;
        mqr_pkt_disconnect_t disconnect; /* DISCONNECT */
        mqr_pkt_disconnect_t auth;       /* AUTH (same layout) */
    };
} mqr_packet_t;

/* Decoder options. All-zero (or a NULL pointer) means: level 4 until a
 * CONNECT says otherwise, any direction, no size limit below the protocol's,
 * strict UTF-8. */
typedef struct mqr_packet_opts {
    uint32_t max_packet_size; /* whole packet incl. fixed header; 0 = MQR_PKT_MAX_SIZE */
    uint8_t proto_ver;        /* level of non-CONNECT packets; 0 = 4 */
    uint8_t direction;        /* MQR_PKT_DIR_* */
    uint16_t utf8;            /* MQR_PKT_UTF8_*; 0 = strict */
} mqr_packet_opts_t;

/*
 * One direction of a connection. Caller-allocated; initialise it with
 * mqr_packet_stream_init(). `opts.proto_ver` follows the stream's CONNECT.
 * `offset` is the stream offset of the next packet, `need` the number of
 * further bytes the last MQR_NEED_MORE asked for, `packets` how many packets
 * have been decoded.
 */
typedef struct mqr_packet_stream {
    mqr_packet_opts_t opts;
    uint32_t need;
    uint32_t packets;
    uint64_t offset;
} mqr_packet_stream_t;

/* An iterator over properties, SUBSCRIBE entries or UNSUBSCRIBE filters of a
 * decoded (hence validated) packet. Plain data: copy it freely. */
typedef struct mqr_packet_iter {
    const uint8_t *pos;
    const uint8_t *end;
    uint32_t proto_ver;
    uint32_t reserved_;
} mqr_packet_iter_t;

/* ---- decoding --------------------------------------------------------------- */

/*
 * Decode one packet from the start of buf[0..len).
 *
 * Returns:
 *   MQR_OK         *out_packet is filled; *out_size = bytes the packet occupies.
 *   MQR_NEED_MORE  buf holds a proper prefix of a packet; *out_size = how many
 *                  more bytes are needed at least (exact once the fixed header
 *                  is complete, 1 while it is not).
 *   MQR_EMALFORMED bad variable-length integer, length mismatch, reserved bits,
 *                  QoS 3, trailing bytes, truncated field (reason 0x81).
 *   MQR_EPROTOCOL  a protocol violation: packet id 0, no SUBSCRIBE entries,
 *                  invalid reason code, wrong direction, ... (reason 0x82).
 *   MQR_ETOOLARGE  the fixed header announces more than max_packet_size (0x95);
 *                  reported as soon as the fixed header is complete.
 *   MQR_EUTF8      an ill-formed UTF-8 string, a surrogate or U+0000; with
 *                  MQR_PKT_UTF8_STRICT also a control character or a
 *                  non-character (0x81).
 *   MQR_ETOPIC     an invalid topic name, e.g. a wildcard (0x90).
 *   MQR_EFILTER    an invalid topic filter (0x8F).
 *   MQR_EPROPERTY  an unknown, misplaced, duplicated or out-of-range MQTT 5
 *                  property (0x81 or 0x82, and 0x94 for Topic Alias 0).
 *   MQR_EPROTOVER  CONNECT with an unknown protocol name or level (0x84).
 *   MQR_EINVAL     buf, out_packet or out_size is NULL (buf may be NULL when
 *                  len is 0), or opts holds an unknown level, direction or
 *                  UTF-8 policy.
 * On every error, diag (may be NULL) gets code, packet_type, field, offset
 * (from buf[0]), reason_code and a message such as
 * "CONNECT: will topic contains '+' at byte 17"; *out_packet then holds the
 * fields read before the failure and zeros after it. After MQR_EPROTOVER it
 * also holds the level asked for in proto_ver and, where the bytes allow,
 * clean_start, keepalive and the client id laid out as below MQTT 5 (not for
 * level 5 under another protocol name), so that the client.connack event can
 * report them (decision D2).
 *
 * opts may be NULL (defaults). Never allocates; strings and binaries in
 * *out_packet point into buf. Thread-safe (no shared state).
 */
MQR_API int mqr_packet_decode(const uint8_t *buf, size_t len, const mqr_packet_opts_t *opts,
                              mqr_packet_t *out_packet, size_t *out_size, mqr_diag_t *diag);

/* Initialise *stream with a copy of *opts (NULL: defaults). NULL stream is
 * ignored. */
MQR_API void mqr_packet_stream_init(mqr_packet_stream_t *stream, const mqr_packet_opts_t *opts);

/*
 * Decode the next packet of a stream from buf[0..len), the bytes the caller
 * holds that follow the last packet returned. Same statuses and outputs as
 * mqr_packet_decode(); in addition MQR_OK advances stream->offset and
 * stream->packets, MQR_NEED_MORE sets stream->need = *out_size, a CONNECT sets
 * stream->opts.proto_ver to its level, and diag offsets are stream offsets.
 * After an error the stream is unusable (the connection must be closed).
 * MQR_EINVAL for a NULL stream, out_packet or out_size.
 */
MQR_API int mqr_packet_stream_next(mqr_packet_stream_t *stream, const uint8_t *buf, size_t len,
                                   mqr_packet_t *out_packet, size_t *out_size, mqr_diag_t *diag);

/* ---- encoding ----------------------------------------------------------------- */

/*
 * The number of bytes mqr_packet_encode() writes for *packet, validating it as
 * mqr_packet_encode() does. Returns MQR_OK, MQR_EINVAL (NULL packet or
 * out_size), or the decoder's statuses for an invalid packet (diag says which
 * field; offsets are 0). Thread-safe.
 */
MQR_API int mqr_packet_size(const mqr_packet_t *packet, size_t *out_size, mqr_diag_t *diag);

/*
 * Encode *packet at level packet->proto_ver (0 = 4) into buf[0..cap).
 * Validates every field as the decoder with default options would (strict
 * UTF-8, topic names and filters,
 * properties allowed in this packet, flags, packet identifiers, reason codes).
 * Returns MQR_OK with *out_len = bytes written; MQR_EBUFFER if cap is too
 * small (*out_len = bytes needed; nothing is written past cap); MQR_EINVAL for
 * a NULL packet or out_len, or a NULL buf with cap > 0; or a validation status
 * as listed for mqr_packet_decode(). Never allocates. Thread-safe.
 */
MQR_API int mqr_packet_encode(const mqr_packet_t *packet, uint8_t *buf, size_t cap,
                              size_t *out_len, mqr_diag_t *diag);

/* ---- properties and iterators --------------------------------------------------- */

/* Start iterating over *props (NULL: an empty iteration). */
MQR_API void mqr_packet_iter_props(mqr_packet_iter_t *it, const mqr_props_t *props);

/* Store the next property in *out and return 1, or return 0 at the end (or for
 * NULL arguments or bytes that are not valid properties). Order is wire order,
 * so user properties come in the order they were sent. */
MQR_API int mqr_packet_prop_next(mqr_packet_iter_t *it, mqr_prop_t *out);

/* Start iterating over the entries of a SUBSCRIBE (any other packet or NULL:
 * an empty iteration). With `list` set, use mqr_pkt_subscribe_t.list instead. */
MQR_API void mqr_packet_iter_subscriptions(mqr_packet_iter_t *it, const mqr_packet_t *packet);

/* Next SUBSCRIBE entry: 1 and *out filled, or 0 at the end / NULL arguments. */
MQR_API int mqr_packet_subscription_next(mqr_packet_iter_t *it, mqr_subscription_t *out);

/* Start iterating over the filters of an UNSUBSCRIBE (others: empty). */
MQR_API void mqr_packet_iter_filters(mqr_packet_iter_t *it, const mqr_packet_t *packet);

/* Next UNSUBSCRIBE filter: 1 and *out filled, or 0 at the end / NULL. */
MQR_API int mqr_packet_filter_next(mqr_packet_iter_t *it, mqr_str_t *out);

/*
 * Find the first property `id` in *props. For integer types the value goes to
 * *out_value. Returns MQR_OK, MQR_ENOTFOUND (absent), MQR_EINVAL (NULL
 * arguments, unknown id, or an id of another type).
 */
MQR_API int mqr_packet_prop_get_int(const mqr_props_t *props, uint8_t id, uint32_t *out_value);
/* As mqr_packet_prop_get_int() for STRING properties (first of a PAIR: the
 * name of the first user property). */
MQR_API int mqr_packet_prop_get_str(const mqr_props_t *props, uint8_t id, mqr_str_t *out_value);
/* As mqr_packet_prop_get_int() for BINARY properties. */
MQR_API int mqr_packet_prop_get_bin(const mqr_props_t *props, uint8_t id, mqr_bin_t *out_value);

/*
 * Append *prop in wire format to buf[*io_len..cap), advancing *io_len; build
 * an mqr_props_t { buf, *io_len, 1 } from the result. Validates the value
 * (type matches id, UTF-8, ranges). Returns MQR_OK, MQR_EBUFFER (nothing
 * written), MQR_EINVAL (NULL arguments, unknown id, wrong type),
 * MQR_EUTF8 or MQR_EPROPERTY (value out of range). Thread-safe.
 */
MQR_API int mqr_packet_prop_add(uint8_t *buf, size_t cap, size_t *io_len, const mqr_prop_t *prop);

/* The spec's name of a property with dashes ("Session-Expiry-Interval"), or
 * NULL for an unknown id. Static storage. */
MQR_API const char *mqr_packet_prop_name(uint8_t id);
/* The id of a property name as mqr_packet_prop_name() spells it, or -1. */
MQR_API int mqr_packet_prop_id(const char *name, size_t len);
/* MQR_PROPTYPE_* of a property id, or 0 for an unknown id. */
MQR_API int mqr_packet_prop_type(uint8_t id);

/* "CONNECT", "PUBLISH", ... for 1..15, "RESERVED" otherwise. Static storage. */
MQR_API const char *mqr_packet_type_name(int type);

/* ---- strings and topics ----------------------------------------------------------- */

/*
 * Check that s[0..len) is an MQTT UTF-8 string as the decoder's strict policy
 * wants it: valid UTF-8 without overlong forms, surrogates, code points above
 * U+10FFFF or U+0000, without control characters (U+0001-U+001F,
 * U+007F-U+009F) and non-characters (U+FDD0-U+FDEF, U+nFFFE, U+nFFFF), and at
 * most 65535 bytes. The topic functions below apply the same rules. Returns
 * MQR_OK, MQR_EUTF8 (diag offset = first bad byte), or MQR_EINVAL for NULL s
 * with len > 0.
 */
MQR_API int mqr_packet_utf8_check(const char *s, size_t len, mqr_diag_t *diag);

/* Check a topic name: a valid UTF-8 string of 1..65535 bytes without '+' or
 * '#'. Returns MQR_OK, MQR_ETOPIC, MQR_EUTF8, or MQR_EINVAL (NULL s). */
MQR_API int mqr_topic_validate_name(const char *s, size_t len, mqr_diag_t *diag);

/*
 * Check a topic filter: a valid UTF-8 string of 1..65535 bytes where '+'
 * occupies a whole level and '#' a whole last level; "$share/NAME/FILTER" needs
 * a NAME without '/', '+', '#' and a valid FILTER. Returns MQR_OK,
 * MQR_EFILTER, MQR_EUTF8, or MQR_EINVAL (NULL s).
 */
MQR_API int mqr_topic_validate_filter(const char *s, size_t len, mqr_diag_t *diag);

/*
 * 1 if topic name `topic` matches filter `filter`, else 0. '+' matches one
 * level, '#' the rest (including the parent level: "a/#" matches "a");
 * a topic starting with '$' is not matched by a filter starting with '+' or
 * '#'. Both are assumed valid (see the validate functions); a "$share/NAME/"
 * prefix is not stripped. NULL arguments give 0. Thread-safe.
 */
MQR_API int mqr_topic_match(const char *filter, size_t filter_len, const char *topic,
                            size_t topic_len);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_PACKET_H */
