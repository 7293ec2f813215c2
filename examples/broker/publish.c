/* SPDX-License-Identifier: MIT */
/*
 * publish.c - PUBLISH and its acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP).
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- PUBLISH and acknowledgements ---------------------------------------------------- */

static int rx2_has(brk_session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->nrx2; i++)
        if (s->rx2[i] == pid)
            return 1;
    return 0;
}

/* PUBLISH from a client: resolve a Topic-Alias, refuse what the broker
 * does not offer (QoS above max_qos, retain when off, more QoS 2 messages
 * awaiting PUBREL than its Receive-Maximum), check the ACL, refuse a v5
 * QoS 1/2 retained message the retained store's caps cannot take (0x97;
 * other clients' are routed without being kept), route it, then
 * acknowledge (PUBACK, or PUBREC keeping the id until PUBREL). */
void mq_handle_publish(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    const mqr_pkt_publish_t *p = &pk->publish;
    brk_session_t *s = c->sess;
    int ack = p->qos == 1 ? MQR_PKT_PUBACK : MQR_PKT_PUBREC;
    const char *topic = p->topic.ptr;
    size_t tlen = p->topic.len;
    uint32_t alias;
    if (mqr_packet_prop_get_int(&p->props, MQR_PROP_TOPIC_ALIAS, &alias) == MQR_OK) {
        int arc = brk5_alias_in(b, c, alias, &topic, &tlen);
        if (arc != 0) {
            mq_disconnect(b, c, arc, "protocol_error");
            return;
        }
    }
    if (p->qos > b->cfg.max_qos) {
        mq_disconnect(b, c, MQR_RC_QOS_NOT_SUPPORTED, "protocol_error");
        return;
    }
    if (p->retain && !b->cfg.retain_available) {
        mq_disconnect(b, c, MQR_RC_RETAIN_NOT_SUPPORTED, "protocol_error");
        return;
    }
    if (b->cfg.max_topic_levels != 0 &&
        brk_topic_levels(topic, tlen) > b->cfg.max_topic_levels) {
        b->stats.refused_topic_levels++;
        brk_log(b, 0, "client '%s': PUBLISH topic has more than max_topic_levels (%u) levels",
                s->clientid, b->cfg.max_topic_levels);
        mq_disconnect(b, c, MQR_RC_TOPIC_NAME_INVALID, "protocol_error");
        return;
    }
    if (p->qos == 2 && rx2_has(s, p->packet_id)) { /* a resent QoS 2 message */
        mq_send_simple(b, c, MQR_PKT_PUBREC, p->packet_id, 0);
        return;
    }
    if (p->qos == 2 && c->proto_ver == MQR_PROTO_V5 && s->nrx2 >= b->cfg.receive_max) {
        brk_log(b, 0, "client '%s': more than %u QoS 2 messages awaiting PUBREL", s->clientid,
                (unsigned)b->cfg.receive_max);
        mq_disconnect(b, c, MQR_RC_RECEIVE_MAXIMUM_EXCEEDED, "receive_maximum_exceeded");
        return;
    }
    int allow = !mq_is_events_topic(topic, tlen) && !(tlen >= 4 && memcmp(topic, "$SYS", 4) == 0) &&
                brk_acl_allows(b, c->username, topic, tlen, BRK_ACC_WRITE);
    brk_ev_authz(b, c, topic, tlen, 1, allow);
    if (!allow) {
        brk_log(b, 1, "client '%s': PUBLISH to '%.*s' not authorized", s->clientid, (int)tlen,
                topic);
        if (p->qos > 0)
            brk5_send_ack(b, c, ack, p->packet_id,
                          c->proto_ver == MQR_PROTO_V5 ? MQR_RC_NOT_AUTHORIZED : 0,
                          "the ACL does not allow publishing to this topic");
        return;
    }
    if (p->retain && p->payload.len > 0 && p->qos > 0 && c->proto_ver == MQR_PROTO_V5 &&
        !brk_retain_fits(b, topic, tlen, tlen + p->payload.len + p->props.len)) {
        /* a v5 client can be told: quota exceeded, and nothing is published */
        brk_retain_refused(b, topic, tlen, s->clientid);
        brk5_send_ack(b, c, ack, p->packet_id, MQR_RC_QUOTA_EXCEEDED,
                      "retained message store full (max_retained_messages or "
                      "max_retained_bytes)");
        return;
    }
    brk_msg_t *m = mq_msg_new(b, topic, tlen, p->payload.ptr, p->payload.len, p->qos,
                           p->retain, c->proto_ver == MQR_PROTO_V5 ? &p->props : NULL,
                           s->clientid, s->clientid_len, c->username);
    if (m == NULL) {
        mq_disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    m->from_peer = c->peer;
    b->stats.msgs_received++;
    size_t n = mq_publish_msg(b, c, m, NULL, 0);
    brk_msg_unref(m);
    if (c->state == BRK_CS_CLOSED || p->qos == 0)
        return;
    if (p->qos == 2) {
        if (mq_grow((void **)&s->rx2, &s->caprx2, s->nrx2, sizeof *s->rx2) == 0) {
            s->rx2[s->nrx2++] = p->packet_id;
            brk_jr_rx2(b, s, p->packet_id, 1);
        }
    }
    int rc = n == 0 && c->proto_ver == MQR_PROTO_V5 ? MQR_RC_NO_MATCHING_SUBSCRIBERS : 0;
    brk5_send_ack(b, c, ack, p->packet_id, rc, "no subscriber matched the topic");
}

static int find_inflight(brk_session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->ninfl; i++)
        if (s->infl[i].pid == pid)
            return (int)i;
    return -1;
}

/* End in-flight entry i; `ack` (NULL: not acknowledged) is the PUBACK or
 * PUBCOMP that completed it, for message.acked. */
static void inflight_done(broker_t *b, brk_session_t *s, int i, const mqr_packet_t *ack)
{
    brk_inflight_t f = s->infl[i];
    memmove(&s->infl[i], &s->infl[i + 1], (s->ninfl - (uint32_t)i - 1) * sizeof *s->infl);
    s->ninfl--;
    brk_jr_inflight_done(b, s, f.pid);
    if (ack != NULL)
        brk_ev_msg(b, MQR_EVENT_MESSAGE_ACKED, f.msg, s, f.qos, NULL, ack);
    brk_msg_unref(f.msg);
    mq_drain(b, s);
}

/* PUBACK, PUBREC, PUBREL and PUBCOMP: advance the QoS 1/2 handshakes in
 * both directions. */
void mq_handle_ack(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint16_t pid = pk->ack.packet_id;
    int i = find_inflight(s, pid);
    switch (pk->type) {
    case MQR_PKT_PUBACK:
        if (i >= 0 && s->infl[i].qos == 1)
            inflight_done(b, s, i, pk);
        break;
    case MQR_PKT_PUBREC:
        if (i >= 0 && s->infl[i].qos == 2 && s->infl[i].state == 0) {
            if (pk->ack.reason_code >= 0x80) {
                inflight_done(b, s, i, NULL);
                break;
            }
            s->infl[i].state = 1;
            brk_jr_pubrel_sent(b, s, pid);
            mq_send_simple(b, c, MQR_PKT_PUBREL, pid, 0);
        } else if (i < 0) {
            mq_send_simple(b, c, MQR_PKT_PUBREL, pid,
                        c->proto_ver == MQR_PROTO_V5 ? MQR_RC_PACKET_IDENTIFIER_NOT_FOUND : 0);
        }
        break;
    case MQR_PKT_PUBCOMP:
        if (i >= 0 && s->infl[i].state == 1)
            inflight_done(b, s, i, pk);
        break;
    case MQR_PKT_PUBREL: {
        int found = 0;
        for (uint32_t k = 0; k < s->nrx2; k++) {
            if (s->rx2[k] == pid) {
                s->rx2[k] = s->rx2[--s->nrx2];
                found = 1;
                brk_jr_rx2(b, s, pid, 0);
                break;
            }
        }
        mq_send_simple(b, c, MQR_PKT_PUBCOMP, pid,
                    !found && c->proto_ver == MQR_PROTO_V5 ? MQR_RC_PACKET_IDENTIFIER_NOT_FOUND
                                                           : 0);
        break;
    }
    default:
        break;
    }
}
