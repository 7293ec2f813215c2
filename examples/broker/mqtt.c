/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - the MQTT side of mqttrule-broker: what happens to each decoded
 * packet.
 *
 * CONNECT runs through a fixed chain of checks (protocol level, redirect,
 * connection rate, connection count, authentication method, refused
 * features, client id, bans, password, will, session); the first that fails
 * decides the MQTT 5 reason code. The refusal is answered with a CONNACK (the
 * v3 return code for 3.1/3.1.1 clients, a Reason-String for 5 clients that
 * allow problem information), logged with who was refused and why, and
 * reported as a client.connack event. Decoder errors on the first packet are
 * CONNECT refusals too (decision D2).
 *
 * Sessions live in a hash table keyed by client id and outlive connections
 * when their expiry allows: subscriptions, QoS 1/2 messages in flight (resent
 * with DUP on reconnect), a queue of messages for an offline or busy client
 * and the QoS 2 packet ids awaiting PUBREL. Routing looks the topic up in a
 * trie of every subscription filter (the library's, shared with the engine)
 * and delivers each message once per session, at the highest matching QoS,
 * with every matching Subscription-Identifier, and once per matching shared
 * subscription group to one member chosen round-robin. Retained messages are
 * kept in a topic trie (retain.c). The MQTT 5 helpers (topic aliases,
 * per-delivery properties, shared-subscription positions) are in mqtt5.c,
 * enhanced authentication in authn.c. The handlers live in files named for
 * what they handle: msg.c, session.c, send.c, route.c, connect.c,
 * publish.c, subscribe.c; this file dispatches packets and runs the tick.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- dispatch -------------------------------------------------------------------------- */

/* DISCONNECT: drop the will on a normal disconnection (0x00, the only code
 * of 3.1.1) only: [MQTT-3.1.2-8] publishes it after any other reason (0x04
 * asks for it, 0x80 and above report an error). Then take a new session
 * expiry (not from 0 to non-zero: protocol error) and close. */
static void handle_disconnect(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    int rc = pk->disconnect.reason_code;
    if (rc == MQR_RC_NORMAL_DISCONNECTION && c->will != NULL) {
        brk_msg_unref(c->will);
        c->will = NULL;
    }
    uint32_t exp;
    if (c->proto_ver == MQR_PROTO_V5 && c->sess != NULL &&
        mqr_packet_prop_get_int(&pk->disconnect.props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &exp) ==
            MQR_OK) {
        if (c->sess->expiry_s == 0 && exp != 0) {
            mq_disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
            return;
        }
        uint32_t old = c->sess->expiry_s;
        c->sess->expiry_s = exp;
        brk_jr_sess_expiry(b, c->sess, old);
    }
    c->disconnect = pk; /* disconn_props of client.disconnected, during the close */
    brk_conn_close(b, c, "normal");
    c->disconnect = NULL;
}

/* Handle one decoded packet of connection `c`: CONNECT first, then the
 * packets of a connected client. */
static void packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p)
{
    if (c->state == BRK_CS_NEW) {
        if (p->type == MQR_PKT_CONNECT && c->pending_connect == NULL) {
            mq_handle_connect(b, c, p);
        } else if (p->type == MQR_PKT_AUTH && c->pending_connect != NULL) {
            mq_auth_continue(b, c, p);
        } else {
            brk_log(b, 0, "closing %s: %s before CONNECT", c->peername,
                    mqr_packet_type_name(p->type));
            brk_conn_close(b, c, NULL);
        }
        return;
    }
    switch (p->type) {
    case MQR_PKT_CONNECT:
        brk_log(b, 0, "client '%s' from %s: second CONNECT, protocol error",
                c->sess ? c->sess->clientid : "", c->peername);
        mq_disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
        break;
    case MQR_PKT_PUBLISH:
        mq_handle_publish(b, c, p);
        break;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC:
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP:
        mq_handle_ack(b, c, p);
        break;
    case MQR_PKT_SUBSCRIBE:
        mq_handle_subscribe(b, c, p);
        break;
    case MQR_PKT_UNSUBSCRIBE:
        mq_handle_unsubscribe(b, c, p);
        break;
    case MQR_PKT_PINGREQ:
        mq_send_simple(b, c, MQR_PKT_PINGRESP, 0, 0);
        brk_ev_client(b, c, MQR_EVENT_CLIENT_PING, NULL, NULL);
        break;
    case MQR_PKT_DISCONNECT:
        handle_disconnect(b, c, p);
        break;
    case MQR_PKT_AUTH: { /* re-authentication */
        int rc = brk_authn_reauth(b, c, p);
        if (rc != 0)
            mq_disconnect(b, c, rc, rc == MQR_RC_NOT_AUTHORIZED ? "not_authorized" : "protocol_error");
        break;
    }
    default:
        mq_disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
        break;
    }
}

/* One packet is the root of a rule cascade: it has its own budget. */
void brk_mqtt_packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p)
{
    int root = brk_mqtt_cascade_begin(b);
    packet(b, c, p);
    brk_mqtt_cascade_end(b, root);
}

/*
 * The first bytes of a CONNECT too large to decode: read its protocol name
 * and level by hand so the refusal can be answered in the client's format and
 * the event carries what could be read (decision D2).
 */
static void peek_connect(const uint8_t *buf, size_t len, mqr_packet_t *p)
{
    size_t i = 1;
    while (i < len && i < 5 && (buf[i] & 0x80))
        i++;
    i++;
    if (i + 2 > len)
        return;
    size_t nl = ((size_t)buf[i] << 8) | buf[i + 1];
    if (i + 2 + nl + 1 > len)
        return;
    p->connect.proto_name.ptr = (const char *)buf + i + 2;
    p->connect.proto_name.len = (uint32_t)nl;
    p->proto_ver = buf[i + 2 + nl];
}

/* A packet failed to decode: refuse the CONNECT (decision D2) or end the
 * connection with the reason the decoder gave. */
void brk_mqtt_decode_error(broker_t *b, brk_conn_t *c, int status, const mqr_diag_t *diag,
                           const uint8_t *buf, size_t len)
{
    int rc = diag->reason_code > 0 ? diag->reason_code : MQR_RC_MALFORMED_PACKET;
    if (c->state != BRK_CS_NEW) {
        brk_log(b, 0, "client '%s' from %s: %s", c->sess ? c->sess->clientid : "", c->peername,
                diag->message);
        mq_disconnect(b, c, mqr_reason_valid_in(rc, MQR_PKT_DISCONNECT) ? rc
                                                                     : MQR_RC_MALFORMED_PACKET,
                   mqr_reason_name(rc));
        return;
    }
    if (len == 0 || (buf[0] >> 4) != MQR_PKT_CONNECT) {
        brk_log(b, 0, "closing %s: first packet is not a CONNECT (%s)", c->peername,
                diag->message);
        brk_conn_close(b, c, NULL);
        return;
    }
    mqr_packet_t p;
    size_t sz = 0;
    mqr_packet_opts_t o = c->stream.opts;
    memset(&p, 0, sizeof p);
    if (status == MQR_ETOOLARGE) {
        p.type = MQR_PKT_CONNECT;
        peek_connect(buf, len, &p);
    } else {
        o.proto_ver = 0;
        (void)mqr_packet_decode(buf, len, &o, &p, &sz, NULL);
        p.type = MQR_PKT_CONNECT;
    }
    c->proto_ver = p.proto_ver;
    int sent = 0;
    if (status == MQR_EPROTOVER) {
        rc = MQR_RC_UNSUPPORTED_PROTOCOL_VERSION;
        c->proto_ver = p.proto_ver == MQR_PROTO_V5 ? MQR_PROTO_V5 : MQR_PROTO_V311;
        sent = 1;
    } else if (c->proto_ver == MQR_PROTO_V5) {
        if (!mqr_reason_valid_in(rc, MQR_PKT_CONNACK))
            rc = MQR_RC_MALFORMED_PACKET;
        sent = 1;
    } else if (rc == MQR_RC_TOPIC_NAME_INVALID) {
        sent = 1;
    }
    if (sent)
        mq_send_connack(b, c, rc, 0, diag->message, NULL);
    mq_log_refusal(b, c, &p.connect, rc, diag->message);
    brk_ev_connack(b, c, &p, 0, rc, sent);
    brk_conn_close(b, c, NULL);
}

/* The connection is closing: will, client.disconnected, session expiry. */
void brk_mqtt_conn_lost(broker_t *b, brk_conn_t *c)
{
    if (c->state != BRK_CS_CONNECTED)
        return;
    int root = brk_mqtt_cascade_begin(b); /* not when a takeover closes it */
    b->nconnected--;
    const char *reason = c->close_reason ? c->close_reason : "tcp_closed";
    brk_log(b, 1, "client '%s' from %s disconnected: %s", c->sess ? c->sess->clientid : "?",
            c->peername, reason);
    c->state = BRK_CS_NEW; /* no more sends to this socket */
    brk_msg_t *will = c->will;
    c->will = NULL;
    brk_ev_client(b, c, MQR_EVENT_CLIENT_DISCONNECTED, reason, c->disconnect);
    brk_session_t *s = c->sess;
    c->sess = NULL;
    if (s != NULL && s->conn == c) {
        s->conn = NULL;
        if (will != NULL && c->will_delay_s > 0 && s->expiry_s > 0) {
            /* delayed: published when the delay or the session ends first */
            uint32_t d = c->will_delay_s < s->expiry_s ? c->will_delay_s : s->expiry_s;
            if (s->will != NULL)
                brk_msg_unref(s->will);
            s->will = will;
            s->will_at = brk_mono_ms() + (int64_t)d * 1000;
            will = NULL;
            brk_jr_will(b, s);
        }
        if (s->expiry_s == 0)
            mq_sess_destroy(b, s);
        else if (s->expiry_s != NEVER_EXPIRE)
            s->expire_at = brk_mono_ms() + (int64_t)s->expiry_s * 1000;
    }
    if (will != NULL) {
        mq_publish_msg(b, NULL, will, NULL, 0);
        brk_msg_unref(will);
    }
    brk_mqtt_cascade_end(b, root);
}

/* Once a second: CONNECT timeouts, keep alive (1.5 x), session expiry. */
void brk_mqtt_tick(broker_t *b, int64_t now)
{
    brk_conn_t *nx;
    int root = brk_mqtt_cascade_begin(b);
    for (brk_conn_t *c = b->conns; c != NULL; c = nx) {
        nx = c->next;
        if (c->state == BRK_CS_NEW && now - c->last_rx > (int64_t)b->cfg.connect_timeout_ms) {
            b->stats.connect_timeouts++;
            brk_log(b, 1, "closing %s: no CONNECT within %u ms", c->peername,
                    b->cfg.connect_timeout_ms);
            brk_conn_close(b, c, NULL);
        } else if (c->state == BRK_CS_CONNECTED && c->keepalive > 0 &&
                   now - c->last_rx > (int64_t)c->keepalive * 1500) {
            brk_log(b, 0, "client '%s' from %s: keep alive timeout",
                    c->sess ? c->sess->clientid : "", c->peername);
            mq_disconnect(b, c, MQR_RC_KEEPALIVE_TIMEOUT, "keepalive_timeout");
        }
    }
    for (size_t i = 0; i < b->stab_size; i++) {
        brk_session_t *snx;
        for (brk_session_t *s = b->stab[i]; s != NULL; s = snx) {
            snx = s->hnext;
            if (s->will != NULL && s->conn == NULL && now >= s->will_at) {
                brk_msg_t *w = s->will;
                s->will = NULL;
                brk_jr_will(b, s);
                mq_publish_msg(b, NULL, w, NULL, 0);
                brk_msg_unref(w);
            }
            if (s->conn == NULL && s->expire_at != 0 && now >= s->expire_at)
                mq_sess_destroy(b, s);
        }
    }
    brk_mqtt_cascade_end(b, root);
}

/* Free every session and retained message. */
void brk_mqtt_free(broker_t *b)
{
    for (size_t i = 0; i < b->stab_size; i++) {
        for (brk_session_t *s = b->stab[i]; s != NULL; s = s->hnext) {
            brk_msg_unref(s->will); /* shutting down: nobody is left to receive it */
            s->will = NULL;
        }
        while (b->stab[i] != NULL)
            mq_sess_destroy(b, b->stab[i]);
    }
    free(b->stab);
    b->stab = NULL;
    b->stab_size = 0;
    mqr_topic_index_destroy(b->subs);
    b->subs = NULL;
    brk_retain_free(b);
    brk5_share_free(b);
}
