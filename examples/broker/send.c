/* SPDX-License-Identifier: MIT */
/*
 * send.c - sending: acknowledgements, PUBLISH to a session, packet ids, the
 * in-flight window and the queue for offline or busy clients.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- sending ------------------------------------------------------------------------ */

/* Send a packet without payload: PUBACK/PUBREC/PUBREL/PUBCOMP with `pid`,
 * PINGRESP, or DISCONNECT; `rc` is the reason code (0: the short form). An
 * MQTT 5 acknowledgement carries the ack_user_property User-Properties, an
 * MQTT 5 DISCONNECT a Reason-String saying why (brk5_disconnect_why). */
void mq_send_simple(broker_t *b, brk_conn_t *c, int type, uint16_t pid, int rc)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = (uint8_t)type;
    p.proto_ver = c->proto_ver;
    if (type == MQR_PKT_DISCONNECT) {
        p.disconnect.reason_code = (uint8_t)rc;
        p.disconnect.has_reason_code = rc != 0;
    } else if (type != MQR_PKT_PINGRESP) {
        p.ack.packet_id = pid;
        p.ack.reason_code = (uint8_t)rc;
        p.ack.has_reason_code = rc != 0;
    }
    if (c->proto_ver == MQR_PROTO_V5 && type == MQR_PKT_DISCONNECT)
        (void)brk5_send_props(b, c, &p, &p.disconnect.props, NULL, 0, brk5_disconnect_why(rc), 0);
    else if (c->proto_ver == MQR_PROTO_V5 && type != MQR_PKT_PINGRESP)
        (void)brk5_send_props(b, c, &p, &p.ack.props, NULL, 0, NULL, 1);
    else
        (void)brk_conn_send_packet(b, c, &p);
}

/* Send a v5 DISCONNECT with `rc` (no-op below 5) and close with `reason`. */
void mq_disconnect(broker_t *b, brk_conn_t *c, int rc, const char *reason)
{
    if (c->proto_ver == MQR_PROTO_V5 && mqr_reason_valid_in(rc, MQR_PKT_DISCONNECT))
        mq_send_simple(b, c, MQR_PKT_DISCONNECT, 0, rc);
    brk_conn_close(b, c, reason);
}

/* Send `m` to the session's connection; message.delivered on success,
 * delivery.dropped when it has expired (not for a resend) or cannot be
 * encoded (e.g. above the client's Maximum-Packet-Size, counted in
 * b->stats.dropped_too_large). MQTT 5 deliveries carry the remaining
 * Message-Expiry-Interval and a Topic-Alias when the client allows one.
 * Returns the encoder's status, or MQR_ENOTFOUND for an expired message. */
int mq_send_publish(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                        uint16_t pid, int dup)
{
    brk_conn_t *c = s->conn;
    uint8_t pstack[256];
    uint8_t *pbuf = pstack;
    size_t plen = 0, pcap = (size_t)m->props_len + 3;
    uint16_t alias = 0, new_alias = 0;
    if (c->proto_ver == MQR_PROTO_V5) {
        alias = brk5_alias_out_find(c, m->topic, m->topic_len);
        if (alias == 0)
            alias = new_alias = brk5_alias_out_free_slot(c);
    }
    if (pcap > sizeof pstack && (pbuf = malloc(pcap)) == NULL)
        return MQR_ENOMEM;
    int er = brk5_out_props(m, brk_now_wall(b), alias, pbuf, pcap, &plen);
    if (er == 1 && dup) /* a message already in flight is resent, with its full interval */
        er = brk5_out_props(m, m->received_at, alias, pbuf, pcap, &plen);
    if (er != 0) {
        if (pbuf != pstack)
            free(pbuf);
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos,
                   er == 1 ? "expired" : "internal_error", NULL);
        return MQR_ENOTFOUND;
    }
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.proto_ver = c->proto_ver;
    p.publish.qos = (uint8_t)qos;
    p.publish.retain = (uint8_t)retain;
    p.publish.dup = (uint8_t)dup;
    p.publish.packet_id = pid;
    p.publish.topic.ptr = m->topic;
    p.publish.topic.len = alias != 0 && new_alias == 0 ? 0 : m->topic_len;
    p.publish.payload.ptr = m->payload;
    p.publish.payload.len = m->payload_len;
    p.publish.props.ptr = pbuf;
    p.publish.props.len = (uint32_t)plen;
    p.publish.props.present = 1;
    int rc = brk_conn_send_packet(b, c, &p);
    if (pbuf != pstack)
        free(pbuf);
    if (rc == MQR_OK) {
        if (new_alias != 0)
            brk5_alias_out_commit(c, new_alias, m->topic, m->topic_len);
        brk_ev_msg(b, MQR_EVENT_MESSAGE_DELIVERED, m, s, qos, NULL, NULL);
    } else {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos,
                   rc == MQR_ETOOLARGE ? "too_large" : "internal_error", NULL);
    }
    return rc;
}

/* The next packet id not in flight on `s` (1..65535, wrapping). */
static uint16_t next_pid(brk_session_t *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        int used = 0;
        for (uint32_t i = 0; i < s->ninfl && !used; i++)
            used = s->infl[i].pid == pid;
        if (!used)
            return pid;
    }
}

/* How many QoS 1/2 messages may be in flight: max_inflight, or less when the
 * client's Receive-Maximum says so. */
static uint32_t inflight_limit(broker_t *b, brk_session_t *s)
{
    uint32_t lim = b->cfg.max_inflight;
    if (s->conn != NULL && s->conn->receive_max < lim)
        lim = s->conn->receive_max;
    return lim;
}

/* Append message m (the caller gives it a reference) in flight on s with
 * `pid`, PUBLISH not yet acknowledged. The entry, or NULL when out of memory
 * (nothing changed). Also how journal.c restores one. */
brk_inflight_t *mq_inflight_add(brk_session_t *s, brk_msg_t *m, uint16_t pid, int qos,
                                int retain)
{
    if (mq_grow((void **)&s->infl, &s->capinfl, s->ninfl, sizeof *s->infl) != 0)
        return NULL;
    brk_inflight_t *f = &s->infl[s->ninfl++];
    f->pid = pid;
    f->qos = (uint8_t)qos;
    f->state = 0;
    f->retain = (uint8_t)retain;
    f->msg = m;
    return f;
}

/* Put a QoS 1/2 message in flight on an online session and send it;
 * from_queue: it was the head of the session's queue (for the journal).
 * Returns 1 when it is in flight, 0 when it could not be (dropped and
 * reported: out of memory, expired, cannot be encoded). */
static int start_inflight(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                          int from_queue)
{
    uint16_t pid = next_pid(s); /* before the new slot counts: its pid is not set yet */
    brk_inflight_t *f = mq_inflight_add(s, m, pid, qos, retain);
    if (f == NULL) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "internal_error", NULL);
        if (from_queue)
            brk_jr_queue_drop(b, s);
        return 0;
    }
    m->refs++;
    brk_jr_inflight(b, s, f, from_queue); /* before sending: rules may deliver more to s */
    if (mq_send_publish(b, s, m, qos, retain, pid, 0) != MQR_OK) { /* never acknowledged */
        brk_jr_inflight_done(b, s, pid);
        for (uint32_t i = s->ninfl; i-- > 0;) {
            if (s->infl[i].pid == pid) {
                memmove(&s->infl[i], &s->infl[i + 1], (s->ninfl - i - 1) * sizeof *s->infl);
                s->ninfl--;
                break;
            }
        }
        brk_msg_unref(m);
        return 0;
    }
    return 1;
}

/* Deliver `m` to session `s` at `qos`: send it, put it in flight, or queue it
 * for later (offline or too many in flight). */
void mq_deliver(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain)
{
    int online = s->conn != NULL && s->conn->state == BRK_CS_CONNECTED;
    if (online && qos == 0) {
        if (s->conn->out_len > BRK_MAX_OUT_QOS0) /* a consumer that does not keep up */
            brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, 0, "queue_full", NULL);
        else
            (void)mq_send_publish(b, s, m, 0, retain, 0, 0);
        return;
    }
    if (!online && qos == 0) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, 0, "qos0_msg", NULL);
        return;
    }
    if (online && s->ninfl < inflight_limit(b, s) && s->nqueue == 0) {
        (void)start_inflight(b, s, m, qos, retain, 0);
        return;
    }
    uint64_t mbytes = (uint64_t)m->topic_len + m->payload_len + m->props_len;
    if (s->nqueue >= b->cfg.max_queued ||
        (b->cfg.max_queued_bytes != 0 && s->queue_bytes + mbytes > b->cfg.max_queued_bytes) ||
        mq_grow((void **)&s->queue, &s->capqueue, s->nqueue, sizeof *s->queue) != 0) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "queue_full", NULL);
        return;
    }
    s->queue[s->nqueue].msg = m;
    s->queue[s->nqueue].qos = (uint8_t)qos;
    s->queue[s->nqueue].retain = (uint8_t)retain;
    s->nqueue++;
    s->queue_bytes += mbytes;
    m->refs++;
    brk_jr_queued(b, s, &s->queue[s->nqueue - 1]);
}

/* Whether the session's user may read m now (the ACL at delivery time, not
 * when it was queued); a message it may not is dropped as not_authorized. */
int mq_may_read(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos)
{
    if (brk_acl_allows(b, s->username, m->topic, m->topic_len, BRK_ACC_READ))
        return 1;
    brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "not_authorized", NULL);
    return 0;
}

/* Move queued messages in flight while the client's window allows, each
 * checked against the ACL first. */
void mq_drain(broker_t *b, brk_session_t *s)
{
    uint32_t taken = 0;
    while (s->conn != NULL && s->conn->state == BRK_CS_CONNECTED && taken < s->nqueue &&
           s->ninfl < inflight_limit(b, s)) {
        brk_queued_t q = s->queue[taken++];
        s->queue_bytes -= (uint64_t)q.msg->topic_len + q.msg->payload_len + q.msg->props_len;
        if (mq_may_read(b, s, q.msg, q.qos))
            (void)start_inflight(b, s, q.msg, q.qos, q.retain, 1);
        else
            brk_jr_queue_drop(b, s);
        brk_msg_unref(q.msg);
    }
    if (taken > 0) {
        memmove(s->queue, s->queue + taken, (s->nqueue - taken) * sizeof *s->queue);
        s->nqueue -= taken;
    }
}
