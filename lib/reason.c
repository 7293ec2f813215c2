/* SPDX-License-Identifier: MIT */
/*
 * reason.c - MQTT reason-code tables and the naming rules of decision D1.
 *
 * The MQTT 5 codes come from the MQR_REASON_MAP X-macro in mqttrule/reason.h,
 * expanded here into a 256-entry array indexed by the code, so a code lookup
 * is one array access; slots that are no reason code have a NULL name and
 * read as "unknown_error". Name -> code lookups scan that array, the
 * packet-specific names of 0x00 and a short alias list (the `doc` spelling of
 * 0x84 and the v3-only names). The v3 tables are six-entry arrays. Everything is const
 * data: no state, no allocation.
 */
#include <string.h>

#include "internal.h"
#include "mqttrule/reason.h"

#define UNKNOWN_NAME "unknown_error"
#define UNKNOWN_TEXT "Unknown error"
#define PACKET_DISCONNECT 14
#define PACKET_SUBACK 9
#define DOC_0X84_NAME "unacceptable_protocol_version"

typedef struct rc_row {
    const char *name;
    const char *text;
    uint32_t packets;
} rc_row_t;

static const rc_row_t rc_rows[256] = {
#define ROW(id, code, emqx_name, txt, pkts) [code] = {emqx_name, txt, pkts},
    MQR_REASON_MAP(ROW)
#undef ROW
};

/* A name other than a code's table name that maps back to a v5 code. */
typedef struct rc_alias {
    const char *name;
    int32_t code;
} rc_alias_t;

static const rc_alias_t rc_aliases[] = {
    {DOC_0X84_NAME, MQR_RC_UNSUPPORTED_PROTOCOL_VERSION},
    {"connection_accepted", MQR_RC_SUCCESS},
    {"malformed_username_or_password", MQR_RC_BAD_USERNAME_OR_PASSWORD},
    {"unauthorized_client", MQR_RC_NOT_AUTHORIZED},
};

/* The packet-specific names of 0x00. */
typedef struct zero_name {
    int packet_type;
    const char *name;
    const char *text;
} zero_name_t;

static const zero_name_t zero_names[] = {
    {PACKET_DISCONNECT, "normal_disconnection", "Normal disconnection"},
    {PACKET_SUBACK, "granted_qos0", "Granted QoS 0"},
};

/* ORDER: v3 return code 0..5. */
static const char *const v3_names[] = {
    "connection_accepted",        "unacceptable_protocol_version", "client_identifier_not_valid",
    "server_unavailable",         "malformed_username_or_password", "unauthorized_client",
};

/* The row of `code`, or NULL when `code` is no MQTT 5 reason code. */
static const rc_row_t *row_of(int code)
{
    if (code < 0 || code > 255 || !rc_rows[code].name)
        return NULL;
    return &rc_rows[code];
}

/* The name of 0x00 in `packet_type` when it differs from "success", else NULL. */
static const zero_name_t *zero_name_of(int code, int packet_type)
{
    if (code != 0)
        return NULL;
    for (size_t i = 0; i < MQR__ARRAY_LEN(zero_names); i++)
        if (zero_names[i].packet_type == packet_type)
            return &zero_names[i];
    return NULL;
}

/* 1 when the `len` bytes at `s` equal the NUL-terminated string `z`. */
static int name_eq(const char *s, size_t len, const char *z)
{
    return strlen(z) == len && memcmp(s, z, len) == 0;
}

const char *mqr_reason_name(int code)
{
    const rc_row_t *r = row_of(code);
    return r ? r->name : UNKNOWN_NAME;
}

const char *mqr_reason_name_in(int code, int packet_type)
{
    const zero_name_t *z = zero_name_of(code, packet_type);
    return z ? z->name : mqr_reason_name(code);
}

const char *mqr_reason_text(int code)
{
    const rc_row_t *r = row_of(code);
    return r ? r->text : UNKNOWN_TEXT;
}

const char *mqr_reason_text_in(int code, int packet_type)
{
    const zero_name_t *z = zero_name_of(code, packet_type);
    return z ? z->text : mqr_reason_text(code);
}

uint32_t mqr_reason_packets(int code)
{
    const rc_row_t *r = row_of(code);
    return r ? r->packets : 0;
}

int mqr_reason_valid_in(int code, int packet_type)
{
    if (packet_type < 1 || packet_type > 15)
        return 0;
    return (mqr_reason_packets(code) & (1u << packet_type)) != 0;
}

int mqr_reason_from_name(const char *name, size_t len, int32_t *out_code)
{
    if (!out_code || (!name && len > 0))
        return MQR_EINVAL;
    if (!name)
        return MQR_ENOTFOUND;
    for (int code = 0; code < 256; code++) {
        if (rc_rows[code].name && name_eq(name, len, rc_rows[code].name)) {
            *out_code = code;
            return MQR_OK;
        }
    }
    for (size_t i = 0; i < MQR__ARRAY_LEN(zero_names); i++) {
        if (name_eq(name, len, zero_names[i].name)) {
            *out_code = 0;
            return MQR_OK;
        }
    }
    for (size_t i = 0; i < MQR__ARRAY_LEN(rc_aliases); i++) {
        if (name_eq(name, len, rc_aliases[i].name)) {
            *out_code = rc_aliases[i].code;
            return MQR_OK;
        }
    }
    return MQR_ENOTFOUND;
}

const char *mqr_reason_v3_name(int rc)
{
    if (rc < 0 || rc >= (int)MQR__ARRAY_LEN(v3_names))
        return UNKNOWN_NAME;
    return v3_names[rc];
}

/* EMQX's text/2 for v3 repeats the name except for code 0. */
const char *mqr_reason_v3_text(int rc)
{
    if (rc == MQR_RC3_CONNECTION_ACCEPTED)
        return "Connection accepted";
    return mqr_reason_v3_name(rc);
}

int mqr_reason_v3_from_name(const char *name, size_t len, int32_t *out_rc)
{
    if (!out_rc || (!name && len > 0))
        return MQR_EINVAL;
    if (!name)
        return MQR_ENOTFOUND;
    for (size_t i = 0; i < MQR__ARRAY_LEN(v3_names); i++) {
        if (name_eq(name, len, v3_names[i])) {
            *out_rc = (int32_t)i;
            return MQR_OK;
        }
    }
    return MQR_ENOTFOUND;
}

/* EMQX's compat(connack, Code), with 0x00 -> 0 added (its success path). */
int mqr_reason_v3_counterpart(int code)
{
    switch (code) {
    case MQR_RC_SUCCESS:
        return MQR_RC3_CONNECTION_ACCEPTED;
    case MQR_RC_UNSPECIFIED_ERROR:
    case MQR_RC_MALFORMED_PACKET:
    case MQR_RC_PROTOCOL_ERROR:
    case MQR_RC_IMPLEMENTATION_SPECIFIC_ERROR:
    case MQR_RC_UNSUPPORTED_PROTOCOL_VERSION:
        return MQR_RC3_UNACCEPTABLE_PROTOCOL_VERSION;
    case MQR_RC_CLIENT_IDENTIFIER_NOT_VALID:
        return MQR_RC3_IDENTIFIER_REJECTED;
    case MQR_RC_BAD_USERNAME_OR_PASSWORD:
        return MQR_RC3_BAD_USERNAME_OR_PASSWORD;
    case MQR_RC_NOT_AUTHORIZED:
    case MQR_RC_BANNED:
    case MQR_RC_BAD_AUTHENTICATION_METHOD:
        return MQR_RC3_NOT_AUTHORIZED;
    case MQR_RC_SERVER_UNAVAILABLE:
    case MQR_RC_SERVER_BUSY:
    case MQR_RC_SERVER_SHUTTING_DOWN:
    case MQR_RC_TOPIC_NAME_INVALID:
    case MQR_RC_QUOTA_EXCEEDED:
    case MQR_RC_USE_ANOTHER_SERVER:
    case MQR_RC_SERVER_MOVED:
    case MQR_RC_CONNECTION_RATE_EXCEEDED:
        return MQR_RC3_SERVER_UNAVAILABLE;
    default:
        return -1;
    }
}

/*
 * The wire mapping: counterparts first, then the documented fallbacks. The
 * Will-message refusals join 0x90 (will topic invalid) at 3; everything else
 * is answered like 0x80/0x81 with 1.
 */
int mqr_reason_connack_v3(int code)
{
    int rc = mqr_reason_v3_counterpart(code);
    if (rc >= 0)
        return rc;
    switch (code) {
    case MQR_RC_PAYLOAD_FORMAT_INVALID:
    case MQR_RC_RETAIN_NOT_SUPPORTED:
    case MQR_RC_QOS_NOT_SUPPORTED:
        return MQR_RC3_SERVER_UNAVAILABLE;
    default:
        return MQR_RC3_UNACCEPTABLE_PROTOCOL_VERSION;
    }
}

const char *mqr_reason_profile_name(int code, int profile)
{
    if (profile == MQR_NAMES_EMQX)
        return mqr_reason_name(code);
    if (profile != MQR_NAMES_DOC)
        return NULL;
    if (code == MQR_RC_UNSUPPORTED_PROTOCOL_VERSION)
        return DOC_0X84_NAME;
    return mqr_reason_name(code);
}

/*
 * Decision D1. The `doc` profile names a v3 client's refusal by the return
 * code on the wire only when that code is the decided code's counterpart: a
 * fallback return code (mqr_reason_connack_v3) would hide the real reason,
 * so then, as when no CONNACK was sent, the decided v5 code names itself.
 */
int mqr_reason_connack_name(int profile, int code, int proto_ver, int connack_sent,
                            const char **out_name)
{
    const char *name = mqr_reason_profile_name(code, profile);
    if (!name || !out_name)
        return MQR_EINVAL;
    if (profile == MQR_NAMES_DOC && proto_ver != 5 && connack_sent) {
        int rc = mqr_reason_v3_counterpart(code);
        if (rc >= 0)
            name = v3_names[rc];
    }
    *out_name = name;
    return MQR_OK;
}
