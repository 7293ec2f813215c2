/* SPDX-License-Identifier: MIT */
/*
 * test_reason.c - the reason-code tables against literal copies of the
 * semantics spec (§3.1-§3.4) and the MQTT 5 reason-code table, the v5 -> v3
 * mapping row by row, and both naming profiles of decision D1.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "mqttrule.h"

/* Packet types as on the wire. */
enum { CONNACK = 2, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7, SUBACK = 9,
       UNSUBACK = 11, DISCONNECT = 14, AUTH = 15 };
#define B(t) (1u << (t))

typedef struct {
    int code;
    const char *name;
    const char *text;
    uint32_t packets;
} expect_t;

/* Written out from the spec, independently of MQR_REASON_MAP. */
#define ERRSET (B(CONNACK) | B(PUBACK) | B(PUBREC) | B(SUBACK) | B(UNSUBACK) | B(DISCONNECT))
static const expect_t v5[] = {
    {0x00, "success", "Success",
     B(CONNACK) | B(PUBACK) | B(PUBREC) | B(PUBREL) | B(PUBCOMP) | B(SUBACK) | B(UNSUBACK) |
         B(DISCONNECT) | B(AUTH)},
    {0x01, "granted_qos1", "Granted QoS 1", B(SUBACK)},
    {0x02, "granted_qos2", "Granted QoS 2", B(SUBACK)},
    {0x04, "disconnect_with_will_message", "Disconnect with Will Message", B(DISCONNECT)},
    {0x10, "no_matching_subscribers", "No matching subscribers", B(PUBACK) | B(PUBREC)},
    {0x11, "no_subscription_existed", "No subscription existed", B(UNSUBACK)},
    {0x18, "continue_authentication", "Continue authentication", B(AUTH)},
    {0x19, "re_authenticate", "Re-authenticate", B(AUTH)},
    {0x80, "unspecified_error", "Unspecified error", ERRSET},
    {0x81, "malformed_packet", "Malformed Packet", B(CONNACK) | B(DISCONNECT)},
    {0x82, "protocol_error", "Protocol Error", B(CONNACK) | B(DISCONNECT)},
    {0x83, "implementation_specific_error", "Implementation specific error", ERRSET},
    {0x84, "unsupported_protocol_version", "Unsupported Protocol Version", B(CONNACK)},
    {0x85, "client_identifier_not_valid", "Client Identifier not valid", B(CONNACK)},
    {0x86, "bad_username_or_password", "Bad User Name or Password", B(CONNACK)},
    {0x87, "not_authorized", "Not authorized", ERRSET},
    {0x88, "server_unavailable", "Server unavailable", B(CONNACK)},
    {0x89, "server_busy", "Server busy", B(CONNACK) | B(DISCONNECT)},
    {0x8A, "banned", "Banned", B(CONNACK)},
    {0x8B, "server_shutting_down", "Server shutting down", B(DISCONNECT)},
    {0x8C, "bad_authentication_method", "Bad authentication method", B(CONNACK) | B(DISCONNECT)},
    {0x8D, "keepalive_timeout", "Keep Alive timeout", B(DISCONNECT)},
    {0x8E, "session_taken_over", "Session taken over", B(DISCONNECT)},
    {0x8F, "topic_filter_invalid", "Topic Filter invalid", B(SUBACK) | B(UNSUBACK) | B(DISCONNECT)},
    {0x90, "topic_name_invalid", "Topic Name invalid",
     B(CONNACK) | B(PUBACK) | B(PUBREC) | B(DISCONNECT)},
    {0x91, "packet_identifier_inuse", "Packet Identifier in use",
     B(PUBACK) | B(PUBREC) | B(SUBACK) | B(UNSUBACK)},
    {0x92, "packet_identifier_not_found", "Packet Identifier not found", B(PUBREL) | B(PUBCOMP)},
    {0x93, "receive_maximum_exceeded", "Receive Maximum exceeded", B(DISCONNECT)},
    {0x94, "topic_alias_invalid", "Topic Alias invalid", B(DISCONNECT)},
    {0x95, "packet_too_large", "Packet too large", B(CONNACK) | B(DISCONNECT)},
    {0x96, "message_rate_too_high", "Message rate too high", B(DISCONNECT)},
    {0x97, "quota_exceeded", "Quota exceeded",
     B(CONNACK) | B(PUBACK) | B(PUBREC) | B(SUBACK) | B(DISCONNECT)},
    {0x98, "administrative_action", "Administrative action", B(DISCONNECT)},
    {0x99, "payload_format_invalid", "Payload format invalid",
     B(CONNACK) | B(PUBACK) | B(PUBREC) | B(DISCONNECT)},
    {0x9A, "retain_not_supported", "Retain not supported", B(CONNACK) | B(DISCONNECT)},
    {0x9B, "qos_not_supported", "QoS not supported", B(CONNACK) | B(DISCONNECT)},
    {0x9C, "use_another_server", "Use another server", B(CONNACK) | B(DISCONNECT)},
    {0x9D, "server_moved", "Server moved", B(CONNACK) | B(DISCONNECT)},
    {0x9E, "shared_subscriptions_not_supported", "Shared Subscriptions not supported",
     B(SUBACK) | B(DISCONNECT)},
    {0x9F, "connection_rate_exceeded", "Connection rate exceeded", B(CONNACK) | B(DISCONNECT)},
    {0xA0, "maximum_connect_time", "Maximum connect time", B(DISCONNECT)},
    {0xA1, "subscription_identifiers_not_supported", "Subscription Identifiers not supported",
     B(SUBACK) | B(DISCONNECT)},
    {0xA2, "wildcard_subscriptions_not_supported", "Wildcard Subscriptions not supported",
     B(SUBACK) | B(DISCONNECT)},
};

static const expect_t *find_expect(int code)
{
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++)
        if (v5[i].code == code)
            return &v5[i];
    return NULL;
}

static int32_t code_of(const char *name)
{
    int32_t code = -7;
    int st = mqr_reason_from_name(name, strlen(name), &code);
    cr_assert_eq(st, MQR_OK, "from_name(%s) = %d", name, st);
    return code;
}

static const char *connack_name(int profile, int code, int proto_ver, int sent)
{
    const char *name = NULL;
    cr_assert_eq(mqr_reason_connack_name(profile, code, proto_ver, sent, &name), MQR_OK);
    cr_assert_not_null(name);
    return name;
}

Test(reason, every_v5_code_name_text_packets)
{
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++) {
        const expect_t *e = &v5[i];
        cr_assert_str_eq(mqr_reason_name(e->code), e->name, "code 0x%02X", e->code);
        cr_assert_str_eq(mqr_reason_text(e->code), e->text, "code 0x%02X", e->code);
        cr_assert_eq(mqr_reason_packets(e->code), e->packets, "code 0x%02X", e->code);
        for (int t = 0; t <= 16; t++)
            cr_assert_eq(mqr_reason_valid_in(e->code, t),
                         t >= 1 && t <= 15 && (e->packets & B(t)) != 0, "0x%02X in %d", e->code,
                         t);
    }
}

Test(reason, enum_constants_match_codes)
{
    cr_assert_eq(MQR_RC_SUCCESS, 0x00);
    cr_assert_eq(MQR_RC_RE_AUTHENTICATE, 0x19);
    cr_assert_eq(MQR_RC_UNSUPPORTED_PROTOCOL_VERSION, 0x84);
    cr_assert_eq(MQR_RC_KEEPALIVE_TIMEOUT, 0x8D);
    cr_assert_eq(MQR_RC_PACKET_IDENTIFIER_INUSE, 0x91);
    cr_assert_eq(MQR_RC_PACKET_TOO_LARGE, 0x95);
    cr_assert_eq(MQR_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED, 0xA2);
    cr_assert_eq(MQR_RC_NORMAL_DISCONNECTION, 0x00);
    cr_assert_eq(MQR_RC_GRANTED_QOS0, 0x00);
}

Test(reason, unknown_codes)
{
    static const int unknown[] = {-1, 0x03, 0x05, 0x0F, 0x12, 0x17, 0x1A, 0x7F, 0xA3, 0xFF, 256,
                                  100000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int c = unknown[i];
        cr_assert_str_eq(mqr_reason_name(c), "unknown_error", "%d", c);
        cr_assert_str_eq(mqr_reason_text(c), "Unknown error", "%d", c);
        cr_assert_str_eq(mqr_reason_name_in(c, DISCONNECT), "unknown_error");
        cr_assert_eq(mqr_reason_packets(c), 0u);
        cr_assert_eq(mqr_reason_valid_in(c, CONNACK), 0);
        cr_assert_eq(mqr_reason_v3_counterpart(c), -1);
        cr_assert_eq(mqr_reason_connack_v3(c), 1);
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, c, 4, 1), "unknown_error");
        cr_assert_str_eq(connack_name(MQR_NAMES_EMQX, c, 5, 1), "unknown_error");
    }
    /* Every slot 0..255 is either in the expected table or unknown. */
    for (int c = 0; c < 256; c++) {
        const expect_t *e = find_expect(c);
        cr_assert_str_eq(mqr_reason_name(c), e ? e->name : "unknown_error", "0x%02X", c);
    }
}

Test(reason, packet_aware_names_of_zero)
{
    cr_assert_str_eq(mqr_reason_name_in(0, DISCONNECT), "normal_disconnection");
    cr_assert_str_eq(mqr_reason_text_in(0, DISCONNECT), "Normal disconnection");
    cr_assert_str_eq(mqr_reason_name_in(0, SUBACK), "granted_qos0");
    cr_assert_str_eq(mqr_reason_text_in(0, SUBACK), "Granted QoS 0");
    static const int others[] = {0, CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH, 99};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        cr_assert_str_eq(mqr_reason_name_in(0, others[i]), "success");
        cr_assert_str_eq(mqr_reason_text_in(0, others[i]), "Success");
    }
    cr_assert_str_eq(mqr_reason_name_in(0x01, SUBACK), "granted_qos1");
    cr_assert_str_eq(mqr_reason_name_in(0x8D, DISCONNECT), "keepalive_timeout");
    cr_assert_str_eq(mqr_reason_text_in(0x87, SUBACK), "Not authorized");
    /* A code outside its packets keeps its name. */
    cr_assert_str_eq(mqr_reason_name_in(0x84, DISCONNECT), "unsupported_protocol_version");
}

Test(reason, v3_names_and_texts)
{
    static const char *const names[] = {
        "connection_accepted", "unacceptable_protocol_version", "client_identifier_not_valid",
        "server_unavailable",  "malformed_username_or_password", "unauthorized_client"};
    for (int rc = 0; rc < 6; rc++) {
        cr_assert_str_eq(mqr_reason_v3_name(rc), names[rc]);
        cr_assert_str_eq(mqr_reason_v3_text(rc), rc == 0 ? "Connection accepted" : names[rc]);
        int32_t out = -7;
        cr_assert_eq(mqr_reason_v3_from_name(names[rc], strlen(names[rc]), &out), MQR_OK);
        cr_assert_eq(out, rc);
    }
    cr_assert_str_eq(mqr_reason_v3_name(6), "unknown_error");
    cr_assert_str_eq(mqr_reason_v3_name(-1), "unknown_error");
    cr_assert_str_eq(mqr_reason_v3_text(6), "unknown_error");
    cr_assert_str_eq(mqr_reason_v3_text(-1), "unknown_error");
    cr_assert_eq(MQR_RC3_CONNECTION_ACCEPTED, 0);
    cr_assert_eq(MQR_RC3_NOT_AUTHORIZED, 5);
}

Test(reason, v3_from_name_errors)
{
    int32_t out = -7;
    cr_assert_eq(mqr_reason_v3_from_name("success", 7, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_v3_from_name("unknown_error", 13, &out), MQR_ENOTFOUND);
    /* Prefix and extension of a name are different names. */
    cr_assert_eq(mqr_reason_v3_from_name("server_unavailable", 17, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_v3_from_name("server_unavailablex", 19, &out), MQR_ENOTFOUND);
    cr_assert_eq(out, -7);
    cr_assert_eq(mqr_reason_v3_from_name(NULL, 3, &out), MQR_EINVAL);
    cr_assert_eq(mqr_reason_v3_from_name(NULL, 0, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_v3_from_name("", 0, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_v3_from_name("server_unavailable", 18, NULL), MQR_EINVAL);
    /* Length-delimited: the bytes after len do not count. */
    cr_assert_eq(mqr_reason_v3_from_name("server_unavailable!!", 18, &out), MQR_OK);
    cr_assert_eq(out, 3);
}

Test(reason, name_to_code_round_trip)
{
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++)
        cr_assert_eq(code_of(v5[i].name), v5[i].code, "%s", v5[i].name);
    for (int c = 0; c < 256; c++)
        if (find_expect(c))
            cr_assert_eq(code_of(mqr_reason_name(c)), c);
    cr_assert_eq(code_of("normal_disconnection"), 0x00);
    cr_assert_eq(code_of("granted_qos0"), 0x00);
    cr_assert_eq(code_of("unacceptable_protocol_version"), 0x84);
    cr_assert_eq(code_of("connection_accepted"), 0x00);
    cr_assert_eq(code_of("malformed_username_or_password"), 0x86);
    cr_assert_eq(code_of("unauthorized_client"), 0x87);
    cr_assert_eq(code_of("client_identifier_not_valid"), 0x85);
    cr_assert_eq(code_of("server_unavailable"), 0x88);
    /* Every name an event can carry under either profile maps back. */
    for (int c = 0; c < 256; c++) {
        if (!find_expect(c) || !mqr_reason_valid_in(c, CONNACK))
            continue;
        for (int profile = 0; profile <= 1; profile++)
            for (int ver = 3; ver <= 5; ver++)
                for (int sent = 0; sent <= 1; sent++) {
                    const char *n = connack_name(profile, c, ver, sent);
                    int32_t back = code_of(n);
                    int same = back == c ||
                               (mqr_reason_v3_counterpart(back) == mqr_reason_v3_counterpart(c));
                    cr_assert(same, "%s from 0x%02X", n, c);
                }
    }
}

Test(reason, name_to_code_errors)
{
    int32_t out = -7;
    cr_assert_eq(mqr_reason_from_name("unknown_error", 13, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name("Success", 7, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name("succes", 6, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name("server_unavaliable", 18, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name("packet_identifier_in_use", 24, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name("", 0, &out), MQR_ENOTFOUND);
    cr_assert_eq(mqr_reason_from_name(NULL, 0, &out), MQR_ENOTFOUND);
    cr_assert_eq(out, -7);
    cr_assert_eq(mqr_reason_from_name(NULL, 4, &out), MQR_EINVAL);
    cr_assert_eq(mqr_reason_from_name("banned", 6, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_reason_from_name("bannedXYZ", 6, &out), MQR_OK);
    cr_assert_eq(out, 0x8A);
}

/* §3.3, one row per code, plus the documented fallbacks. */
Test(reason, v5_to_v3_mapping_rows)
{
    static const struct {
        int code, counterpart, wire;
    } rows[] = {
        {0x00, 0, 0},  {0x80, 1, 1},  {0x81, 1, 1},  {0x82, 1, 1},  {0x83, 1, 1},
        {0x84, 1, 1},  {0x85, 2, 2},  {0x86, 4, 4},  {0x87, 5, 5},  {0x8A, 5, 5},
        {0x8C, 5, 5},  {0x88, 3, 3},  {0x89, 3, 3},  {0x8B, 3, 3},  {0x90, 3, 3},
        {0x97, 3, 3},  {0x9C, 3, 3},  {0x9D, 3, 3},  {0x9F, 3, 3},
        /* no EMQX counterpart: fallbacks */
        {0x95, -1, 1}, {0x99, -1, 3}, {0x9A, -1, 3}, {0x9B, -1, 3}, {0x8D, -1, 1},
        {0x8E, -1, 1}, {0x8F, -1, 1}, {0x91, -1, 1}, {0x92, -1, 1}, {0x93, -1, 1},
        {0x94, -1, 1}, {0x96, -1, 1}, {0x98, -1, 1}, {0x9E, -1, 1}, {0xA0, -1, 1},
        {0xA1, -1, 1}, {0xA2, -1, 1}, {0x01, -1, 1}, {0x02, -1, 1}, {0x04, -1, 1},
        {0x10, -1, 1}, {0x11, -1, 1}, {0x18, -1, 1}, {0x19, -1, 1},
    };
    size_t n = sizeof rows / sizeof rows[0];
    cr_assert_eq(n, sizeof v5 / sizeof v5[0], "every code has a row");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(mqr_reason_v3_counterpart(rows[i].code), rows[i].counterpart, "0x%02X",
                     rows[i].code);
        cr_assert_eq(mqr_reason_connack_v3(rows[i].code), rows[i].wire, "0x%02X", rows[i].code);
    }
    for (int c = -5; c < 300; c++) {
        int w = mqr_reason_connack_v3(c);
        cr_assert(w >= 0 && w <= 5);
    }
}

Test(reason, profile_names)
{
    cr_assert_str_eq(mqr_reason_profile_name(0x84, MQR_NAMES_DOC), "unacceptable_protocol_version");
    cr_assert_str_eq(mqr_reason_profile_name(0x84, MQR_NAMES_EMQX), "unsupported_protocol_version");
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++) {
        cr_assert_str_eq(mqr_reason_profile_name(v5[i].code, MQR_NAMES_EMQX), v5[i].name);
        if (v5[i].code != 0x84)
            cr_assert_str_eq(mqr_reason_profile_name(v5[i].code, MQR_NAMES_DOC), v5[i].name);
    }
    cr_assert_null(mqr_reason_profile_name(0, 2));
    cr_assert_null(mqr_reason_profile_name(0, -1));
    cr_assert_eq(MQR_NAMES_DOC, 0);
    cr_assert_eq(MQR_NAMES_EMQX, 1);
}

Test(reason, doc_profile_v5_client)
{
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x00, 5, 1), "success");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x84, 5, 1), "unacceptable_protocol_version");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x86, 5, 1), "bad_username_or_password");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x87, 5, 1), "not_authorized");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x95, 5, 1), "packet_too_large");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x81, 5, 0), "malformed_packet");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x84, 5, 0), "unacceptable_protocol_version");
}

Test(reason, doc_profile_v3_client_with_connack)
{
    for (int ver = 3; ver <= 4; ver++) {
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x00, ver, 1), "connection_accepted");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x84, ver, 1), "unacceptable_protocol_version");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x82, ver, 1), "unacceptable_protocol_version");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x80, ver, 1), "unacceptable_protocol_version");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x85, ver, 1), "client_identifier_not_valid");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x86, ver, 1), "malformed_username_or_password");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x87, ver, 1), "unauthorized_client");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x8A, ver, 1), "unauthorized_client");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x8C, ver, 1), "unauthorized_client");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x88, ver, 1), "server_unavailable");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x89, ver, 1), "server_unavailable");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x9C, ver, 1), "server_unavailable");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x90, ver, 1), "server_unavailable");
        /* no counterpart: the decided v5 code names itself */
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x95, ver, 1), "packet_too_large");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x99, ver, 1), "payload_format_invalid");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x9A, ver, 1), "retain_not_supported");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x9B, ver, 1), "qos_not_supported");
    }
    /* An unknown protocol level is answered and named in the v3 format. */
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x84, 6, 1), "unacceptable_protocol_version");
    cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x00, 0, 1), "connection_accepted");
}

/* Decision D2: a malformed CONNECT from a v3 client gets no CONNACK. */
Test(reason, doc_profile_v3_client_without_connack)
{
    for (int ver = 3; ver <= 4; ver++) {
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x81, ver, 0), "malformed_packet");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x82, ver, 0), "protocol_error");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x95, ver, 0), "packet_too_large");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x84, ver, 0), "unacceptable_protocol_version");
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x86, ver, 0), "bad_username_or_password");
        /* any non-zero means sent */
        cr_assert_str_eq(connack_name(MQR_NAMES_DOC, 0x81, ver, 7), "unacceptable_protocol_version");
    }
}

Test(reason, emqx_profile_is_always_v5_name)
{
    for (size_t i = 0; i < sizeof v5 / sizeof v5[0]; i++)
        for (int ver = 3; ver <= 5; ver++)
            for (int sent = 0; sent <= 1; sent++)
                cr_assert_str_eq(connack_name(MQR_NAMES_EMQX, v5[i].code, ver, sent), v5[i].name);
    cr_assert_str_eq(connack_name(MQR_NAMES_EMQX, 0x00, 4, 1), "success");
    cr_assert_str_eq(connack_name(MQR_NAMES_EMQX, 0x84, 4, 1), "unsupported_protocol_version");
    cr_assert_str_eq(connack_name(MQR_NAMES_EMQX, 0x84, 5, 1), "unsupported_protocol_version");
}

Test(reason, connack_name_bad_args)
{
    const char *name = "untouched";
    cr_assert_eq(mqr_reason_connack_name(2, 0, 5, 1, &name), MQR_EINVAL);
    cr_assert_eq(mqr_reason_connack_name(-1, 0, 5, 1, &name), MQR_EINVAL);
    cr_assert_str_eq(name, "untouched");
    cr_assert_eq(mqr_reason_connack_name(MQR_NAMES_DOC, 0, 5, 1, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_reason_connack_name(MQR_NAMES_EMQX, 0, 5, 1, NULL), MQR_EINVAL);
}
