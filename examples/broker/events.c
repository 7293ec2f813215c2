/* SPDX-License-Identifier: MIT */
/*
 * events.c - the seam between the broker and the rule engine's events. The
 * broker calls brk_ev_* at each point where EMQX runs a hook (CONNACK,
 * connected, disconnected, ping, authentication and authorization results,
 * subscriptions, deliveries, acknowledgements, drops) and brk_ev_publish for
 * every PUBLISH; this file hands the facts it has to the library, which
 * builds the event in the engine's own arena (mqr_engine_emit_connack,
 * mqr_engine_emit_input, mqr_engine_emit_message). The broker keeps no
 * arena, template or schema of its own: it fills mqr_event_conn_t from a
 * connection, mqr_event_msg_t from a routed message, and passes the packet
 * the event is about, whose properties become the event's property map.
 */
#include <stdio.h>
#include <string.h>

#include "engine_state.h"

/* The in-flight limit the broker applies to a client: its Receive-Maximum
 * (MQTT 5) bounded by max_inflight (send.c's limit). */
static uint32_t inflight_limit(const broker_t *b, const brk_conn_t *c)
{
    uint32_t lim = b->cfg.max_inflight;
    return c->receive_max < lim ? c->receive_max : lim;
}

/* Room for a listener id: "wss:" and a name of at most 5 digits. */
#define LISTENER_ID_MAX 16

/* EMQX's listener id ("TYPE:NAME", emqx_listeners) of the listener that
 * accepted c into lid: TYPE is its transport, NAME "default" for the
 * first listener of that transport in the configuration, else its port
 * (the broker's listeners have no names of their own). */
static void listener_id(const broker_t *b, const brk_conn_t *c, char lid[LISTENER_ID_MAX])
{
    const brk_listener_cfg_t *ls = b->cfg.listeners;
    size_t i = c->listener;
    if (i >= b->cfg.nlisteners) { /* no listener block: the -p / default one */
        snprintf(lid, LISTENER_ID_MAX, "%s:default", c->transport);
        return;
    }
    int first = 1;
    for (size_t k = 0; k < i && first; k++)
        first = ls[k].websockets != ls[i].websockets ||
                (ls[k].certfile != NULL) != (ls[i].certfile != NULL);
    if (first)
        snprintf(lid, LISTENER_ID_MAX, "%s:default", c->transport);
    else
        snprintf(lid, LISTENER_ID_MAX, "%s:%u", c->transport, (unsigned)ls[i].port);
}

/* The facts of connection `c` (NULL: none known) into *f, borrowing lid
 * for the listener id; conn_props are the CONNECT's properties the
 * connection kept. The transport and listener id fill no EMQX column
 * (docs/events.md) but are the connection's own, not a constant. */
static void conn_facts(const broker_t *b, const brk_conn_t *c, mqr_event_conn_t *f,
                       char lid[LISTENER_ID_MAX])
{
    mqr_event_conn_init(f);
    if (c == NULL)
        return;
    if (c->sess != NULL) {
        f->clientid = c->sess->clientid;
        f->clientid_len = c->sess->clientid_len;
        f->expiry_interval_s = c->sess->expiry_s;
    }
    f->username = c->username;
    f->username_len = c->username ? (uint32_t)strlen(c->username) : 0;
    f->protocol = c->transport;
    f->protocol_len = (uint32_t)strlen(c->transport);
    listener_id(b, c, lid);
    f->listener = lid;
    f->listener_len = (uint32_t)strlen(lid);
    f->proto_ver = c->proto_ver;
    f->peer = c->peer;
    f->sock = c->sock;
    f->keepalive = c->keepalive;
    f->clean_start = c->clean_start;
    f->receive_maximum = c->proto_ver == MQR_PROTO_V5 ? c->receive_max : inflight_limit(b, c);
    f->connected_at_ms = c->connected_at;
    f->conn_props.ptr = c->conn_props;
    f->conn_props.len = c->conn_props_len;
    f->conn_props.present = c->conn_props != NULL;
}

/* Emit event `id` from `in`; a failure is logged, never fatal. */
static void emit(broker_t *b, uint32_t id, const mqr_event_input_t *in)
{
    mqr_diag_t d;
    d.message[0] = '\0'; /* only the message is read, on an error */
    int rc = mqr_engine_emit_input(b->ev->engine, id, in, NULL, &d);
    if (rc != MQR_OK)
        brk_log(b, 1, "event %s: %s", mqr_event_at(id)->name,
                d.message[0] ? d.message : mqr_strerror(rc));
}

/* ---- the events -------------------------------------------------------------------- */

/* client.connack for a CONNACK sent (or a malformed CONNECT, D2). */
void brk_ev_connack(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect, int complete,
                    int reason, int connack_sent)
{
    mqr_connack_input_t in;
    mqr_diag_t d;
    brk_sys_connack(b, c, connect, reason, connack_sent); /* $SYS and the admin page */
    mqr_event_connack_init(&in);
    in.connect = connect;
    in.complete = complete;
    in.reason_code = reason;
    in.connack_sent = connack_sent;
    in.peer = c->peer;
    in.sock = c->sock;
    in.connected_at_ms = c->connected_at;
    /* the expiry a v3 session gets (connect.c; 0xFFFFFFFF s: never), in ms as
     * client.connected shows it in seconds */
    in.v3_session_expiry_ms =
        (int64_t)(b->cfg.v3_session_expiry_s ? b->cfg.v3_session_expiry_s : 0xFFFFFFFFu) * 1000;
    d.message[0] = '\0'; /* only the message is read, on an error */
    int rc = mqr_engine_emit_connack(b->ev->engine, &in, NULL, &d);
    if (rc != MQR_OK)
        brk_log(b, 0, "client.connack event: %s", d.message[0] ? d.message : mqr_strerror(rc));
}

/* client.connected, client.disconnected (`reason`, pkt: the client's
 * DISCONNECT or NULL) or client.ping. */
void brk_ev_client(broker_t *b, brk_conn_t *c, int event, const char *reason,
                   const mqr_packet_t *pkt)
{
    mqr_event_conn_t f;
    char lid[LISTENER_ID_MAX];
    mqr_event_input_t in;
    if (!mqr_engine_event_listened(b->ev->engine, (uint32_t)event))
        return;
    conn_facts(b, c, &f, lid);
    mqr_event_input_init(&in);
    in.conn = &f;
    if (event == MQR_EVENT_CLIENT_DISCONNECTED) {
        in.packet = pkt;
        in.reason = reason;
        in.reason_len = reason ? (uint32_t)strlen(reason) : 0;
        in.at_ms = brk_wall_ms();
    }
    emit(b, (uint32_t)event, &in);
}

/* client.check_authn_complete with the authentication result. */
void brk_ev_authn(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect, int reason)
{
    mqr_event_conn_t f;
    char lid[LISTENER_ID_MAX];
    mqr_event_input_t in;
    if (!mqr_engine_event_listened(b->ev->engine, MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE))
        return;
    conn_facts(b, c, &f, lid);
    f.clientid = NULL; /* not yet: the CONNECT names the client */
    f.username = NULL;
    mqr_event_input_init(&in);
    in.conn = &f;
    in.packet = connect;
    in.reason_code = reason;
    emit(b, MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE, &in);
}

/* client.check_authz_complete for a PUBLISH (publish 1) or a subscription. */
void brk_ev_authz(broker_t *b, brk_conn_t *c, const char *topic, size_t len, int publish,
                  int allow)
{
    mqr_event_conn_t f;
    char lid[LISTENER_ID_MAX];
    mqr_event_input_t in;
    if (!mqr_engine_event_listened(b->ev->engine, MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE))
        return;
    conn_facts(b, c, &f, lid);
    mqr_event_input_init(&in);
    in.conn = &f;
    in.topic = topic;
    in.topic_len = (uint32_t)len;
    in.action = publish;
    in.allow = allow;
    in.authz_source = b->cfg.nacls ? "file" : "default";
    emit(b, MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE, &in);
}

/* session.subscribed / session.unsubscribed; pk is the SUBSCRIBE or
 * UNSUBSCRIBE (sub_props / unsub_props). */
void brk_ev_sub(broker_t *b, brk_conn_t *c, int event, const mqr_packet_t *pk, const char *filter,
                size_t len, int qos)
{
    mqr_event_conn_t f;
    char lid[LISTENER_ID_MAX];
    mqr_event_input_t in;
    if (!mqr_engine_event_listened(b->ev->engine, (uint32_t)event))
        return;
    conn_facts(b, c, &f, lid);
    mqr_event_input_init(&in);
    in.conn = &f;
    in.packet = pk;
    in.topic = filter;
    in.topic_len = (uint32_t)len;
    in.qos = qos;
    emit(b, (uint32_t)event, &in);
}

/* The facts of a routed message. */
static void msg_facts(const brk_msg_t *m, int qos, mqr_event_msg_t *f)
{
    mqr_event_msg_init(f);
    f->id = m->id;
    f->id_len = 32;
    f->topic = m->topic;
    f->topic_len = m->topic_len;
    f->payload = (const char *)m->payload;
    f->payload_len = m->payload_len;
    f->qos = qos;
    f->retain = m->retain;
    f->from_clientid = m->from_clientid;
    f->from_clientid_len = m->from_cid_len;
    f->from_username = m->from_username;
    f->from_username_len = m->from_user_len;
    f->from_peer = m->from_peer;
    f->publish_received_at_ms = m->received_at;
    f->props.ptr = m->props;
    f->props.len = m->props_len;
    f->props.present = 1;
}

/* message.delivered / message.acked / message.dropped / delivery.dropped.
 * `to` is the receiving session (NULL for message.dropped); `ack` the
 * receiver's PUBACK or PUBCOMP of message.acked (puback_props), else NULL. */
void brk_ev_msg(broker_t *b, int event, const brk_msg_t *m, brk_session_t *to, int qos,
                const char *reason, const mqr_packet_t *ack)
{
    mqr_event_conn_t f;
    char lid[LISTENER_ID_MAX];
    mqr_event_msg_t mf;
    mqr_event_input_t in;
    brk_stats_msg(b, event, reason);
    if (!mqr_engine_event_listened(b->ev->engine, (uint32_t)event))
        return;
    msg_facts(m, qos, &mf);
    mqr_event_input_init(&in);
    in.msg = &mf;
    in.packet = ack;
    in.reason = reason;
    in.reason_len = reason ? (uint32_t)strlen(reason) : 0;
    if (to != NULL) {
        conn_facts(b, to->conn, &f, lid);
        f.clientid = to->clientid; /* offline receivers too */
        f.clientid_len = to->clientid_len;
        f.username = to->username;
        f.username_len = to->username ? (uint32_t)strlen(to->username) : 0;
        in.conn = &f;
    }
    /* a republished message's events carry its cause chain (loop protection) */
    (void)mqr_engine_cause_set(b->ev->engine, m->cause, m->cause_len);
    emit(b, (uint32_t)event, &in);
}

/* Hand a PUBLISH (from client `c`, or from inside the broker: c NULL) to the
 * engine's message rules. */
void brk_ev_publish(broker_t *b, brk_conn_t *c, const brk_msg_t *m, const char *rule_id,
                    int direct_dispatch)
{
    mqr_engine_message_t em;
    char host[MQR_ADDR_TEXT_MAX];
    mqr_diag_t d;
    uint32_t heard = 0;
    /* no rule's FROM matches the topic: skip building the message columns */
    if (!direct_dispatch &&
        mqr_engine_topic_listened(b->ev->engine, m->topic, m->topic_len, &heard) == MQR_OK &&
        !heard)
        return;
    memset(&em, 0, sizeof em);
    em.topic = m->topic;
    em.topic_len = m->topic_len;
    em.payload = (const char *)m->payload;
    em.payload_len = m->payload_len;
    em.qos = m->qos;
    em.retain = m->retain;
    em.direct_dispatch = direct_dispatch;
    em.id = m->id;
    em.id_len = 32;
    em.clientid = m->from_clientid;
    em.clientid_len = m->from_cid_len;
    em.username = m->from_username;
    em.username_len = m->from_user_len;
    if (c != NULL && mqr_sockaddr_format(&c->peer, 0, host, sizeof host, NULL) == MQR_OK) {
        em.peerhost = host;
        em.peerhost_len = strlen(host);
        em.peername = c->peername;
        em.peername_len = strlen(c->peername);
    }
    em.republish_by = rule_id;
    em.republish_by_len = rule_id ? strlen(rule_id) : 0;
    em.cause = m->cause;
    em.cause_len = m->cause_len;
    em.publish_received_at = m->received_at;
    em.props.ptr = m->props;
    em.props.len = m->props_len;
    em.props.present = 1;
    d.message[0] = '\0'; /* only the message is read, on an error */
    int rc = mqr_engine_emit_message(b->ev->engine, &em, NULL, &d);
    if (rc != MQR_OK)
        brk_log(b, 1, "message rules on '%s': %s", m->topic,
                d.message[0] ? d.message : mqr_strerror(rc));
}
