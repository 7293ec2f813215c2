/* SPDX-License-Identifier: MIT */
/*
 * authn.c - MQTT 5 enhanced authentication (AUTH exchanges) behind an
 * authenticator hook.
 *
 * A CONNECT carrying an Authentication-Method names a brk_authn_t; a method
 * the broker does not know is refused with bad_authentication_method (in
 * mqtt.c's precheck). For a known method the broker keeps the CONNECT
 * (re-encoded, since the decoded packet points into the read buffer), sends
 * AUTH continue_authentication with the method's challenge, and on the
 * client's AUTH continue_authentication asks the method to verify the answer;
 * success resumes the CONNECT where it stopped, failure refuses it with
 * not_authorized. After the CONNACK the client may re-authenticate with the
 * same method (AUTH re_authenticate, a new challenge, its answer, AUTH
 * success), which a wrong answer ends with DISCONNECT not_authorized.
 *
 * The one built-in method is a demonstration of the hook, not a security
 * mechanism of its own: "mqttrule-hmac", enabled by `auth_hmac_secret` in the
 * configuration file. The challenge is 16 random bytes; the answer is
 * HMAC-SHA256(secret, challenge), 32 bytes, compared in constant time.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"

static int hmac_challenge(broker_t *b, brk_conn_t *c, uint8_t *out, size_t cap, size_t *len)
{
    (void)b;
    if (cap < sizeof c->nonce)
        return -1;
    size_t got = 0;
    while (got < sizeof c->nonce) {
        ssize_t n = getrandom(c->nonce + got, sizeof c->nonce - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    memcpy(out, c->nonce, sizeof c->nonce);
    *len = sizeof c->nonce;
    return 0;
}

static int hmac_verify(broker_t *b, brk_conn_t *c, const uint8_t *data, size_t len)
{
    const char *key = b->cfg.auth_hmac_secret;
    uint8_t want[32];
    if (len != sizeof want ||
        mqr_hmac(MQR_HASH_SHA256, key, strlen(key), c->nonce, sizeof c->nonce, want) != MQR_OK)
        return 0;
    return mqr_ct_equal(want, data, sizeof want);
}

static const brk_authn_t HMAC_METHOD = {"mqttrule-hmac", hmac_challenge, hmac_verify};

/* The enhanced authentication method named method[0..len) that this broker
 * offers, or NULL. */
const brk_authn_t *brk_authn_find(broker_t *b, const char *method, size_t len)
{
    if (b->cfg.auth_hmac_secret != NULL && len == strlen(HMAC_METHOD.method) &&
        memcmp(method, HMAC_METHOD.method, len) == 0)
        return &HMAC_METHOD;
    return NULL;
}

/* Send AUTH with reason `rc`, the connection's method and optional data. */
static void send_auth(broker_t *b, brk_conn_t *c, int rc, const uint8_t *data, size_t len)
{
    uint8_t props[128];
    size_t plen = 0;
    brk_prop_str(props, sizeof props, &plen, MQR_PROP_AUTHENTICATION_METHOD, c->authn->method);
    if (data != NULL) {
        mqr_prop_t pr;
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_AUTHENTICATION_DATA;
        pr.type = MQR_PROPTYPE_BINARY;
        pr.bin.ptr = data;
        pr.bin.len = (uint32_t)len;
        (void)mqr_packet_prop_add(props, sizeof props, &plen, &pr);
    }
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_AUTH;
    p.proto_ver = MQR_PROTO_V5;
    p.auth.reason_code = (uint8_t)rc;
    p.auth.has_reason_code = 1;
    p.auth.props.ptr = props;
    p.auth.props.len = (uint32_t)plen;
    p.auth.props.present = 1;
    (void)brk_conn_send_packet(b, c, &p);
}

/*
 * Start the exchange for `connect`, whose method c->authn names: keep the
 * CONNECT and send the challenge. Returns 0, or -1 (out of memory, no
 * randomness) after which the caller refuses the CONNECT.
 */
int brk_authn_begin(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect)
{
    size_t need = 0, len = 0;
    if (mqr_packet_size(connect, &need, NULL) != MQR_OK)
        return -1;
    free(c->pending_connect);
    c->pending_connect = malloc(need);
    if (c->pending_connect == NULL ||
        mqr_packet_encode(connect, c->pending_connect, need, &c->pending_len, NULL) != MQR_OK)
        return -1;
    uint8_t data[64];
    if (c->authn->challenge(b, c, data, sizeof data, &len) != 0)
        return -1;
    send_auth(b, c, MQR_RC_CONTINUE_AUTHENTICATION, data, len);
    return 0;
}

/* 1 when the AUTH properties name the connection's method. */
static int same_method(const brk_conn_t *c, const mqr_props_t *props)
{
    mqr_str_t method;
    return c->authn != NULL &&
           mqr_packet_prop_get_str(props, MQR_PROP_AUTHENTICATION_METHOD, &method) == MQR_OK &&
           method.len == strlen(c->authn->method) &&
           memcmp(method.ptr, c->authn->method, method.len) == 0;
}

/* 1 when the Authentication-Data of the AUTH properties answers the
 * connection's challenge. */
static int answered(broker_t *b, brk_conn_t *c, const mqr_props_t *props)
{
    mqr_bin_t data;
    return mqr_packet_prop_get_bin(props, MQR_PROP_AUTHENTICATION_DATA, &data) == MQR_OK &&
           c->authn->verify(b, c, data.ptr, data.len);
}

/*
 * The client's AUTH during the exchange. Returns 1 when it authenticated
 * (c->auth_ok set; the caller resumes the CONNECT kept in
 * c->pending_connect), 0 with *why set for a wrong answer, -1 with *why set
 * for an AUTH that does not continue this exchange (protocol error).
 */
int brk_authn_step(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth, const char **why)
{
    if (c->pending_connect == NULL || auth->auth.reason_code != MQR_RC_CONTINUE_AUTHENTICATION ||
        !same_method(c, &auth->auth.props)) {
        *why = "AUTH does not continue the authentication the CONNECT started";
        return -1;
    }
    if (!answered(b, c, &auth->auth.props)) {
        *why = "enhanced authentication failed";
        return 0;
    }
    c->auth_ok = 1;
    return 1;
}

/*
 * AUTH after the CONNACK (re-authentication, MQTT 5 4.12.1): re_authenticate
 * with the connection's method gets a new challenge, continue_authentication
 * answers it and gets AUTH success. Returns 0, or the reason code the
 * connection ends with: protocol_error (no enhanced authentication, another
 * method, an AUTH out of turn), not_authorized (a wrong answer), or
 * unspecified_error (no challenge could be made).
 */
int brk_authn_reauth(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth)
{
    int rc = auth->auth.reason_code;
    if (!same_method(c, &auth->auth.props))
        return MQR_RC_PROTOCOL_ERROR;
    if (rc == MQR_RC_RE_AUTHENTICATE && !c->reauth) {
        uint8_t data[64];
        size_t len = 0;
        if (c->authn->challenge(b, c, data, sizeof data, &len) != 0)
            return MQR_RC_UNSPECIFIED_ERROR;
        c->reauth = 1;
        send_auth(b, c, MQR_RC_CONTINUE_AUTHENTICATION, data, len);
        return 0;
    }
    if (rc != MQR_RC_CONTINUE_AUTHENTICATION || !c->reauth)
        return MQR_RC_PROTOCOL_ERROR;
    if (!answered(b, c, &auth->auth.props))
        return MQR_RC_NOT_AUTHORIZED;
    c->reauth = 0;
    send_auth(b, c, MQR_RC_SUCCESS, NULL, 0);
    return 0;
}
