/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/reason.h - MQTT reason codes: every MQTT 5 reason code with the
 * packets it is valid in, its name (EMQX's spelling) and its text; the MQTT
 * 3.1/3.1.1 CONNACK return codes 0-5; the v5 -> v3 CONNACK mapping a broker
 * writes on the wire for an older client; and the two naming profiles of
 * project decision D1, which say what the `reason_code` field of a
 * client.connack event contains. docs/reasons.md has the tables and examples.
 *
 * Every function here is a pure lookup in constant tables: no allocation, no
 * state, safe to call from any number of threads at once. Returned strings
 * have static storage and are never NULL unless stated.
 */
#ifndef MQTTRULE_REASON_H
#define MQTTRULE_REASON_H

#include <stddef.h>
#include <stdint.h>

#include "mqttrule/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- packets a reason code is valid in -------------------------------------- */
/*
 * Bit (1 << packet type) for each MQTT control packet type that can carry a
 * reason code, packet types numbered as on the wire (CONNACK = 2, ...,
 * AUTH = 15). mqr_reason_packets() returns an OR of these.
 */
#define MQR_RC_IN_CONNACK (1u << 2)
#define MQR_RC_IN_PUBACK (1u << 4)
#define MQR_RC_IN_PUBREC (1u << 5)
#define MQR_RC_IN_PUBREL (1u << 6)
#define MQR_RC_IN_PUBCOMP (1u << 7)
#define MQR_RC_IN_SUBACK (1u << 9)
#define MQR_RC_IN_UNSUBACK (1u << 11)
#define MQR_RC_IN_DISCONNECT (1u << 14)
#define MQR_RC_IN_AUTH (1u << 15)

/* Shorthands for the packet sets of the MQTT 5 reason-code table (2.4). */
#define MQR__RC_ACKS (MQR_RC_IN_PUBACK | MQR_RC_IN_PUBREC)
#define MQR__RC_ERR (MQR_RC_IN_CONNACK | MQR__RC_ACKS | MQR_RC_IN_SUBACK | \
                     MQR_RC_IN_UNSUBACK | MQR_RC_IN_DISCONNECT)
#define MQR__RC_CD (MQR_RC_IN_CONNACK | MQR_RC_IN_DISCONNECT)

/* ---- the MQTT 5 reason codes ----------------------------------------------- */
/*
 * X(NAME, code, "emqx_name", "Text", packets). ORDER: ascending code; lib/reason.c
 * searches the generated table by code. The names are EMQX's
 * (emqx_reason_codes:name/1), the texts its text/1, the packet sets those of
 * the MQTT 5 specification. 0x00 is listed once, as `success`; its other
 * names (normal_disconnection in DISCONNECT, granted_qos0 in SUBACK) come
 * from mqr_reason_name_in().
 */
#define MQR_REASON_MAP(X)                                                                      \
    X(SUCCESS, 0x00, "success", "Success",                                                     \
      MQR_RC_IN_CONNACK | MQR__RC_ACKS | MQR_RC_IN_PUBREL | MQR_RC_IN_PUBCOMP |                \
          MQR_RC_IN_SUBACK | MQR_RC_IN_UNSUBACK | MQR_RC_IN_DISCONNECT | MQR_RC_IN_AUTH)       \
    X(GRANTED_QOS1, 0x01, "granted_qos1", "Granted QoS 1", MQR_RC_IN_SUBACK)                   \
    X(GRANTED_QOS2, 0x02, "granted_qos2", "Granted QoS 2", MQR_RC_IN_SUBACK)                   \
    X(DISCONNECT_WITH_WILL_MESSAGE, 0x04, "disconnect_with_will_message",                      \
      "Disconnect with Will Message", MQR_RC_IN_DISCONNECT)                                    \
    X(NO_MATCHING_SUBSCRIBERS, 0x10, "no_matching_subscribers", "No matching subscribers",     \
      MQR__RC_ACKS)                                                                            \
    X(NO_SUBSCRIPTION_EXISTED, 0x11, "no_subscription_existed", "No subscription existed",     \
      MQR_RC_IN_UNSUBACK)                                                                      \
    X(CONTINUE_AUTHENTICATION, 0x18, "continue_authentication", "Continue authentication",     \
      MQR_RC_IN_AUTH)                                                                          \
    X(RE_AUTHENTICATE, 0x19, "re_authenticate", "Re-authenticate", MQR_RC_IN_AUTH)             \
    X(UNSPECIFIED_ERROR, 0x80, "unspecified_error", "Unspecified error", MQR__RC_ERR)          \
    X(MALFORMED_PACKET, 0x81, "malformed_packet", "Malformed Packet", MQR__RC_CD)              \
    X(PROTOCOL_ERROR, 0x82, "protocol_error", "Protocol Error", MQR__RC_CD)                    \
    X(IMPLEMENTATION_SPECIFIC_ERROR, 0x83, "implementation_specific_error",                    \
      "Implementation specific error", MQR__RC_ERR)                                            \
    X(UNSUPPORTED_PROTOCOL_VERSION, 0x84, "unsupported_protocol_version",                      \
      "Unsupported Protocol Version", MQR_RC_IN_CONNACK)                                       \
    X(CLIENT_IDENTIFIER_NOT_VALID, 0x85, "client_identifier_not_valid",                        \
      "Client Identifier not valid", MQR_RC_IN_CONNACK)                                        \
    X(BAD_USERNAME_OR_PASSWORD, 0x86, "bad_username_or_password", "Bad User Name or Password", \
      MQR_RC_IN_CONNACK)                                                                       \
    X(NOT_AUTHORIZED, 0x87, "not_authorized", "Not authorized", MQR__RC_ERR)                   \
    X(SERVER_UNAVAILABLE, 0x88, "server_unavailable", "Server unavailable", MQR_RC_IN_CONNACK) \
    X(SERVER_BUSY, 0x89, "server_busy", "Server busy", MQR__RC_CD)                             \
    X(BANNED, 0x8A, "banned", "Banned", MQR_RC_IN_CONNACK)                                     \
    X(SERVER_SHUTTING_DOWN, 0x8B, "server_shutting_down", "Server shutting down",              \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(BAD_AUTHENTICATION_METHOD, 0x8C, "bad_authentication_method",                            \
      "Bad authentication method", MQR__RC_CD)                                                 \
    X(KEEPALIVE_TIMEOUT, 0x8D, "keepalive_timeout", "Keep Alive timeout",                      \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(SESSION_TAKEN_OVER, 0x8E, "session_taken_over", "Session taken over",                    \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(TOPIC_FILTER_INVALID, 0x8F, "topic_filter_invalid", "Topic Filter invalid",              \
      MQR_RC_IN_SUBACK | MQR_RC_IN_UNSUBACK | MQR_RC_IN_DISCONNECT)                            \
    X(TOPIC_NAME_INVALID, 0x90, "topic_name_invalid", "Topic Name invalid",                    \
      MQR__RC_CD | MQR__RC_ACKS)                                                               \
    X(PACKET_IDENTIFIER_INUSE, 0x91, "packet_identifier_inuse", "Packet Identifier in use",    \
      MQR__RC_ACKS | MQR_RC_IN_SUBACK | MQR_RC_IN_UNSUBACK)                                    \
    X(PACKET_IDENTIFIER_NOT_FOUND, 0x92, "packet_identifier_not_found",                        \
      "Packet Identifier not found", MQR_RC_IN_PUBREL | MQR_RC_IN_PUBCOMP)                     \
    X(RECEIVE_MAXIMUM_EXCEEDED, 0x93, "receive_maximum_exceeded", "Receive Maximum exceeded",  \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(TOPIC_ALIAS_INVALID, 0x94, "topic_alias_invalid", "Topic Alias invalid",                 \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(PACKET_TOO_LARGE, 0x95, "packet_too_large", "Packet too large", MQR__RC_CD)              \
    X(MESSAGE_RATE_TOO_HIGH, 0x96, "message_rate_too_high", "Message rate too high",           \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(QUOTA_EXCEEDED, 0x97, "quota_exceeded", "Quota exceeded",                                \
      MQR__RC_CD | MQR__RC_ACKS | MQR_RC_IN_SUBACK)                                            \
    X(ADMINISTRATIVE_ACTION, 0x98, "administrative_action", "Administrative action",           \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(PAYLOAD_FORMAT_INVALID, 0x99, "payload_format_invalid", "Payload format invalid",        \
      MQR__RC_CD | MQR__RC_ACKS)                                                               \
    X(RETAIN_NOT_SUPPORTED, 0x9A, "retain_not_supported", "Retain not supported", MQR__RC_CD)  \
    X(QOS_NOT_SUPPORTED, 0x9B, "qos_not_supported", "QoS not supported", MQR__RC_CD)           \
    X(USE_ANOTHER_SERVER, 0x9C, "use_another_server", "Use another server", MQR__RC_CD)        \
    X(SERVER_MOVED, 0x9D, "server_moved", "Server moved", MQR__RC_CD)                          \
    X(SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, 0x9E, "shared_subscriptions_not_supported",          \
      "Shared Subscriptions not supported", MQR_RC_IN_SUBACK | MQR_RC_IN_DISCONNECT)           \
    X(CONNECTION_RATE_EXCEEDED, 0x9F, "connection_rate_exceeded", "Connection rate exceeded",  \
      MQR__RC_CD)                                                                              \
    X(MAXIMUM_CONNECT_TIME, 0xA0, "maximum_connect_time", "Maximum connect time",              \
      MQR_RC_IN_DISCONNECT)                                                                    \
    X(SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED, 0xA1, "subscription_identifiers_not_supported",  \
      "Subscription Identifiers not supported", MQR_RC_IN_SUBACK | MQR_RC_IN_DISCONNECT)       \
    X(WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED, 0xA2, "wildcard_subscriptions_not_supported",      \
      "Wildcard Subscriptions not supported", MQR_RC_IN_SUBACK | MQR_RC_IN_DISCONNECT)

/* MQR_RC_SUCCESS = 0x00, MQR_RC_GRANTED_QOS1 = 0x01, ..., one per row above. */
enum {
#define MQR__RC_ENUM(name, code, emqx_name, text, packets) MQR_RC_##name = code,
    MQR_REASON_MAP(MQR__RC_ENUM)
#undef MQR__RC_ENUM
    MQR_RC_NORMAL_DISCONNECTION = 0x00, /* 0x00 in DISCONNECT */
    MQR_RC_GRANTED_QOS0 = 0x00          /* 0x00 in SUBACK */
};

/* The MQTT 3.1/3.1.1 CONNACK return codes. */
#define MQR_RC3_CONNECTION_ACCEPTED 0
#define MQR_RC3_UNACCEPTABLE_PROTOCOL_VERSION 1
#define MQR_RC3_IDENTIFIER_REJECTED 2
#define MQR_RC3_SERVER_UNAVAILABLE 3
#define MQR_RC3_BAD_USERNAME_OR_PASSWORD 4
#define MQR_RC3_NOT_AUTHORIZED 5

/* Naming profiles of decision D1 (see mqr_reason_connack_name()). */
#define MQR_NAMES_DOC 0  /* the user's source document's names (default) */
#define MQR_NAMES_EMQX 1 /* what EMQX emits: always the v5 name */

/* ---- MQTT 5 names and texts --------------------------------------------------- */

/**
 * The EMQX name of MQTT 5 reason code `code` (§3.1 of the semantics spec):
 * "success" for 0x00, "keepalive_timeout" for 0x8D, ... and "unknown_error"
 * for any value that is not a reason code (including negative values and
 * values above 255). Never NULL. Thread-safe.
 */
MQR_API const char *mqr_reason_name(int code);

/**
 * The name of `code` as carried in a packet of type `packet_type` (1..15):
 * 0x00 is "normal_disconnection" in DISCONNECT (14) and "granted_qos0" in
 * SUBACK (9); every other combination gives mqr_reason_name(code), whether
 * or not the code is valid in that packet (check with mqr_reason_valid_in()).
 * Never NULL. Thread-safe.
 */
MQR_API const char *mqr_reason_name_in(int code, int packet_type);

/**
 * The English text of `code` (EMQX's text/1): "Success", "Keep Alive
 * timeout", ...; "Unknown error" for a value that is not a reason code.
 * Never NULL. Thread-safe.
 */
MQR_API const char *mqr_reason_text(int code);

/**
 * The text of `code` in a packet of type `packet_type`: 0x00 is "Normal
 * disconnection" in DISCONNECT and "Granted QoS 0" in SUBACK; otherwise
 * mqr_reason_text(code). Never NULL. Thread-safe.
 */
MQR_API const char *mqr_reason_text_in(int code, int packet_type);

/**
 * The packets `code` is valid in per the MQTT 5 specification, as an OR of
 * MQR_RC_IN_* bits; 0 for a value that is not a reason code. Thread-safe.
 */
MQR_API uint32_t mqr_reason_packets(int code);

/**
 * 1 if MQTT 5 allows `code` in a packet of type `packet_type` (1..15), else 0
 * (also 0 for an unknown code or a packet type outside 1..15). Thread-safe.
 */
MQR_API int mqr_reason_valid_in(int code, int packet_type);

/**
 * The MQTT 5 reason code that a reason-code name stands for, in any spelling
 * an event can carry under either naming profile:
 *   - every EMQX v5 name ("success", "keepalive_timeout", ...);
 *   - the packet-specific names of 0x00: "normal_disconnection", "granted_qos0";
 *   - the `doc` profile's "unacceptable_protocol_version" -> 0x84;
 *   - the v3 names, as the v5 code they answer: "connection_accepted" -> 0x00,
 *     "malformed_username_or_password" -> 0x86, "unauthorized_client" -> 0x87
 *     (the v3 names shared with v5, "client_identifier_not_valid" and
 *     "server_unavailable", are v5 names already).
 * `name` points to `len` bytes and needs no terminating NUL; the match is
 * exact (case-sensitive). On success *out_code is the code.
 * Returns MQR_OK; MQR_ENOTFOUND for any other name ("unknown_error"
 * included; *out_code is left unchanged); MQR_EINVAL if `name` (with len > 0)
 * or `out_code` is NULL. Thread-safe.
 */
MQR_API int mqr_reason_from_name(const char *name, size_t len, int32_t *out_code);

/* ---- MQTT 3.1 / 3.1.1 CONNACK return codes ------------------------------------ */

/**
 * The name of MQTT 3.1/3.1.1 CONNACK return code `rc` (0..5):
 * "connection_accepted", "unacceptable_protocol_version",
 * "client_identifier_not_valid", "server_unavailable",
 * "malformed_username_or_password", "unauthorized_client"; "unknown_error"
 * for any other value. Never NULL. Thread-safe.
 */
MQR_API const char *mqr_reason_v3_name(int rc);

/**
 * The text of v3 return code `rc`, as EMQX's text/2: "Connection accepted"
 * for 0, the name itself for 1..5, "unknown_error" otherwise. Never NULL.
 * Thread-safe.
 */
MQR_API const char *mqr_reason_v3_text(int rc);

/**
 * The v3 return code that v3 name `name` (`len` bytes, no NUL needed) stands
 * for. Returns MQR_OK with *out_rc set; MQR_ENOTFOUND for any other name
 * (*out_rc unchanged); MQR_EINVAL if `name` (with len > 0) or `out_rc` is
 * NULL. Thread-safe.
 */
MQR_API int mqr_reason_v3_from_name(const char *name, size_t len, int32_t *out_rc);

/* ---- v5 -> v3 CONNACK mapping --------------------------------------------------- */

/**
 * The v3 counterpart of v5 code `code` as EMQX defines it
 * (emqx_reason_codes:compat(connack, Code)), or -1 where EMQX has none:
 *   0x00 -> 0;
 *   0x80, 0x81, 0x82, 0x83, 0x84 -> 1 (unacceptable protocol version);
 *   0x85 -> 2 (identifier rejected);
 *   0x86 -> 4 (bad user name or password);
 *   0x87, 0x8A, 0x8C -> 5 (not authorized);
 *   0x88, 0x89, 0x8B, 0x90, 0x97, 0x9C, 0x9D, 0x9F -> 3 (server unavailable);
 *   anything else -> -1.
 * A code with a counterpart is one whose v3 return code says the same thing;
 * decision D1 names a v3 client's refusal by it. Thread-safe.
 */
MQR_API int mqr_reason_v3_counterpart(int code);

/**
 * The v3 return code a broker writes into the CONNACK of a v3.1/3.1.1 client
 * when it decided v5 code `code`. Always 0..5:
 *   - mqr_reason_v3_counterpart(code) where that is not -1;
 *   - 0x99 payload_format_invalid, 0x9A retain_not_supported,
 *     0x9B qos_not_supported -> 3 (server unavailable): they refuse the Will
 *     message, as 0x90 topic_name_invalid does, which EMQX maps to 3;
 *   - every other code (0x95 packet_too_large, codes MQTT 5 does not allow in
 *     CONNACK, values that are no reason code) -> 1 (unacceptable protocol
 *     version), as EMQX answers 0x80 unspecified_error and 0x81
 *     malformed_packet.
 * These fallbacks are not counterparts: under the `doc` profile the event of
 * such a refusal names the v5 code decided, not the fallback return code.
 * Thread-safe.
 */
MQR_API int mqr_reason_connack_v3(int code);

/* ---- naming profiles (decision D1) ---------------------------------------------- */

/**
 * The v5 name of `code` under `profile`: under MQR_NAMES_EMQX
 * mqr_reason_name(code); under MQR_NAMES_DOC the same except that 0x84 is
 * "unacceptable_protocol_version". NULL for an unknown profile. Thread-safe.
 */
MQR_API const char *mqr_reason_profile_name(int code, int profile);

/**
 * The `reason_code` string of a client.connack event (decision D1).
 *
 * `code` is the MQTT 5 reason code the broker decided (0x00 on success);
 * `proto_ver` the protocol level of the CONNECT (3 = v3.1, 4 = v3.1.1,
 * 5 = v5; any level other than 5 is answered in the v3 format, so it is
 * named as v3); `connack_sent` is non-zero when a CONNACK was written, zero
 * when the connection was closed without one (decision D2: a malformed
 * CONNECT from a v3 client).
 *
 * MQR_NAMES_EMQX: always mqr_reason_name(code), e.g. "success" for a v3.1.1
 * client that was accepted, "unsupported_protocol_version" for 0x84.
 *
 * MQR_NAMES_DOC:
 *   1. v5 client: mqr_reason_profile_name(code, MQR_NAMES_DOC), i.e. the v5
 *      name, 0x84 being "unacceptable_protocol_version".
 *   2. v3 client, CONNACK sent, code has a counterpart
 *      (mqr_reason_v3_counterpart() != -1): the v3 name of the return code
 *      on the wire, e.g. "connection_accepted", "unauthorized_client" for
 *      0x8A banned.
 *   3. v3 client, no CONNACK sent, or a code without a counterpart (0x95,
 *      0x99, 0x9A, 0x9B, ...): the doc-profile v5 name of the code decided,
 *      e.g. "malformed_packet", "packet_too_large", "qos_not_supported".
 *
 * On success *out_name points to a static string. Returns MQR_OK; MQR_EINVAL
 * if `profile` is neither MQR_NAMES_DOC nor MQR_NAMES_EMQX or `out_name` is
 * NULL (*out_name unchanged). Codes that are no reason code give
 * "unknown_error". Thread-safe.
 */
MQR_API int mqr_reason_connack_name(int profile, int code, int proto_ver, int connack_sent,
                                    const char **out_name);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_REASON_H */
