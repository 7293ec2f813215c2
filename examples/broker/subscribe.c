/* SPDX-License-Identifier: MIT */
/*
 * subscribe.c - SUBSCRIBE and UNSUBSCRIBE, retained messages sent on subscribe.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------- */

/* Send the retained messages matching `sub` that the session's user may
 * read (a filter the ACL allows can match topics it denies); the store's
 * trie collects them first, as delivering runs rules, which may change the
 * store. Expired ones are removed from the store instead. */
static void send_retained(broker_t *b, brk_session_t *s, const brk_sub_t *sub)
{
    int64_t now = brk_wall_ms();
    brk_msg_t **v = NULL;
    size_t n = brk_retain_match(b, sub->filter, sub->len, &v);
    for (size_t i = 0; i < n; i++) {
        brk_msg_t *m = v[i];
        if (m->has_expiry && now - m->received_at >= (int64_t)m->expiry_s * 1000)
            brk_retain_remove(b, m);
        else if (brk_acl_allows(b, s->username, m->topic, m->topic_len, BRK_ACC_READ))
            mq_deliver_ids(b, s, m, m->qos < sub->qos ? m->qos : sub->qos, 1, &sub->sub_id,
                           sub->sub_id != 0);
        brk_msg_unref(m);
    }
    free(v);
}

/* Add or replace the subscription to filter[0..len) of `s` (share_len: the
 * length of its "$share/GROUP/" prefix, 0 when not shared; sub_id: its
 * Subscription-Identifier or 0), and journal it (persistence). Returns 1 if
 * it is new, 0 if replaced, -1 when out of memory, -2 when a new one would
 * exceed max_subscriptions. Also how persist.c and journal.c restore one. */
int mq_sub_put(broker_t *b, brk_session_t *s, const char *filter, size_t len, int qos,
               int no_local, int rap, size_t share_len, uint32_t sub_id)
{
    brk_sub_t *sub = NULL;
    int added = 0;
    for (uint32_t i = 0; i < s->nsubs && sub == NULL; i++)
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, filter, len) == 0)
            sub = &s->subs[i];
    if (sub == NULL) {
        if (b->cfg.max_subscriptions != 0 && s->nsubs >= b->cfg.max_subscriptions)
            return -2;
        if (mq_grow((void **)&s->subs, &s->capsubs, s->nsubs, sizeof *s->subs) != 0)
            return -1;
        sub = &s->subs[s->nsubs];
        sub->filter = malloc(len + 1);
        if (sub->filter == NULL)
            return -1;
        memcpy(sub->filter, filter, len);
        sub->filter[len] = 0;
        if (mqr_topic_index_insert(b->subs, sub->filter + share_len, len - share_len, s) !=
            MQR_OK) {
            free(sub->filter);
            return -1;
        }
        sub->share_len = (uint16_t)share_len;
        sub->len = (uint16_t)len;
        sub->reserved_ = 0;
        s->nsubs++;
        added = 1;
    }
    sub->qos = (uint8_t)qos;
    sub->no_local = (uint8_t)(no_local != 0);
    sub->rap = (uint8_t)(rap != 0);
    sub->sub_id = sub_id;
    brk_jr_sub(b, s, sub);
    return added;
}

/* Remove the subscription to f[0..len) of `s` and journal it. 1 when there
 * was one, 0 when not. */
int mq_sub_remove(broker_t *b, brk_session_t *s, const char *f, size_t len)
{
    for (uint32_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].len == len && memcmp(s->subs[i].filter, f, len) == 0) {
            size_t sl = s->subs[i].share_len;
            (void)mqr_topic_index_remove(b->subs, s->subs[i].filter + sl, s->subs[i].len - sl, s);
            free(s->subs[i].filter);
            s->subs[i] = s->subs[--s->nsubs];
            brk_jr_unsub(b, s, f, len);
            return 1;
        }
    }
    return 0;
}

/* SUBSCRIBE: a code per filter ($events and ACL refusals, malformed shared
 * subscriptions, QoS capped at max_qos), the SUBACK, then the events and
 * retained messages of the granted filters (none for shared ones, MQTT 5
 * 4.8.2). A Subscription-Identifier applies to every filter of the packet. */
void mq_handle_subscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint8_t codes_stack[64];
    uint8_t *codes = pk->subscribe.count <= 64 ? codes_stack : malloc(pk->subscribe.count);
    if (codes == NULL) {
        mq_disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    int v5 = c->proto_ver == MQR_PROTO_V5;
    mqr_packet_iter_t it;
    mqr_subscription_t e;
    uint32_t n = 0, sub_id = 0;
    if (v5)
        (void)mqr_packet_prop_get_int(&pk->subscribe.props, MQR_PROP_SUBSCRIPTION_IDENTIFIER,
                                      &sub_id);
    /* First pass: decide every code and store the subscriptions. A granted
     * code whose retained messages are due gets the marker bit 0x40, which no
     * SUBACK code has; the second pass after the SUBACK emits the
     * session.subscribed events and sends them. */
    char why[320];
    why[0] = 0;
    mqr_packet_iter_subscriptions(&it, pk);
    while (mqr_packet_subscription_next(&it, &e)) {
        int code;
        int fl = e.filter.len > 200 ? 200 : (int)e.filter.len;
        int qos = e.qos < b->cfg.max_qos ? e.qos : (int)b->cfg.max_qos;
        size_t share = 0;
        int shared = brk5_share_split(e.filter.ptr, e.filter.len, &share);
        if (shared < 0 || (shared > 0 && e.no_local)) {
            code = v5 ? MQR_RC_TOPIC_FILTER_INVALID : 0x80;
            brk_log(b, 1, "client '%s': shared subscription '%.*s' refused", s->clientid,
                    (int)e.filter.len, e.filter.ptr);
            if (!why[0])
                snprintf(why, sizeof why, "shared subscription '%.*s' refused: malformed or No-Local",
                         fl, e.filter.ptr);
        } else if (b->cfg.max_topic_levels != 0 &&
                   brk_topic_levels(e.filter.ptr, e.filter.len) > b->cfg.max_topic_levels) {
            code = v5 ? MQR_RC_TOPIC_FILTER_INVALID : 0x80;
            b->stats.refused_topic_levels++;
            brk_log(b, 0, "client '%s': filter has more than max_topic_levels (%u) levels",
                    s->clientid, b->cfg.max_topic_levels);
            if (!why[0])
                snprintf(why, sizeof why, "subscription to '%.*s' refused: more than %u levels",
                         fl, e.filter.ptr, b->cfg.max_topic_levels);
        } else if (mq_is_events_topic(e.filter.ptr + share, e.filter.len - share) ||
                   !brk_acl_allows(b, c->username, e.filter.ptr + share, e.filter.len - share,
                                   BRK_ACC_READ)) {
            code = v5 ? b->cfg.sub_refused_v5 : 0x80;
            if (!why[0])
                snprintf(why, sizeof why, "subscription to '%.*s' refused: %s", fl, e.filter.ptr,
                         mq_is_events_topic(e.filter.ptr + share, e.filter.len - share)
                             ? "$events topics are not subscribable"
                             : "not authorized by ACL");
            brk_ev_authz(b, c, e.filter.ptr, e.filter.len, 0, 0);
            brk_log(b, 1, "client '%s': subscription to '%.*s' not authorized", s->clientid,
                    (int)e.filter.len, e.filter.ptr);
        } else {
            brk_ev_authz(b, c, e.filter.ptr, e.filter.len, 0, 1);
            int added = mq_sub_put(b, s, e.filter.ptr, e.filter.len, qos, e.no_local,
                                   e.retain_as_published, share, sub_id);
            code = added == -2 ? (v5 ? MQR_RC_QUOTA_EXCEEDED : 0x80) : added < 0 ? 0x80 : qos;
            if (added == -2) {
                b->stats.refused_subscriptions++;
                brk_log(b, 0, "client '%s': subscription to '%.*s' refused: max_subscriptions (%u)",
                        s->clientid, (int)e.filter.len, e.filter.ptr, b->cfg.max_subscriptions);
                if (!why[0])
                    snprintf(why, sizeof why, "subscription to '%.*s' refused: max_subscriptions (%u)",
                             fl, e.filter.ptr, b->cfg.max_subscriptions);
            }
            if (added >= 0)
                brk_log(b, 1, "client '%s' subscribed to '%.*s' (QoS %d)", s->clientid,
                        (int)e.filter.len, e.filter.ptr, qos);
            if (added >= 0 && shared == 0 &&
                (e.retain_handling == 0 || (e.retain_handling == 1 && added == 1)))
                code |= 0x100;
        }
        codes[n++] = (uint8_t)(code & 0xFF);
        if (code & 0x100)
            codes[n - 1] |= 0x40; /* marker: 0x40 is no valid SUBACK code */
    }
    /* SUBACK first, then the retained messages (MQTT 3.3.1-10 order) */
    uint8_t clean_stack[64];
    uint8_t *clean = n <= 64 ? clean_stack : malloc(n ? n : 1);
    if (clean == NULL) {
        if (codes != codes_stack)
            free(codes);
        mq_disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        clean[i] = (uint8_t)(codes[i] & ~0x40);
    mqr_packet_t ack;
    memset(&ack, 0, sizeof ack);
    ack.type = MQR_PKT_SUBACK;
    ack.proto_ver = c->proto_ver;
    ack.suback.packet_id = pk->subscribe.packet_id;
    ack.suback.codes.ptr = clean;
    ack.suback.codes.len = n;
    ack.suback.props.present = 1;
    if (v5)
        (void)brk5_send_props(b, c, &ack, &ack.suback.props, NULL, 0,
                              why[0] && c->problem_info ? why : NULL, 1);
    else
        (void)brk_conn_send_packet(b, c, &ack);
    /* session.subscribed after the SUBACK, so a rule republishing it to a
     * topic the new subscription matches does not overtake the SUBACK */
    uint32_t k = 0;
    mqr_packet_iter_subscriptions(&it, pk);
    while (c->state == BRK_CS_CONNECTED && k < n && mqr_packet_subscription_next(&it, &e)) {
        uint8_t code = codes[k++];
        if ((code & ~0x40) >= 0x80)
            continue;
        brk_ev_sub(b, c, MQR_EVENT_SESSION_SUBSCRIBED, pk, e.filter.ptr, e.filter.len, code & 3);
        if (!(code & 0x40))
            continue;
        for (uint32_t i = 0; i < s->nsubs; i++)
            if (s->subs[i].len == e.filter.len &&
                memcmp(s->subs[i].filter, e.filter.ptr, e.filter.len) == 0)
                send_retained(b, s, &s->subs[i]);
    }
    if (clean != clean_stack)
        free(clean);
    if (codes != codes_stack)
        free(codes);
}

/* UNSUBSCRIBE: remove each filter; UNSUBACK with a code per filter (5). */
void mq_handle_unsubscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint8_t stack[64];
    uint32_t cnt = pk->unsubscribe.count;
    uint8_t *codes = cnt <= 64 ? stack : malloc(cnt);
    if (codes == NULL) {
        mq_disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    mqr_packet_iter_t it;
    mqr_str_t f;
    uint32_t n = 0;
    char why[320];
    why[0] = 0;
    mqr_packet_iter_filters(&it, pk);
    while (mqr_packet_filter_next(&it, &f) && n < cnt) {
        int found = mq_sub_remove(b, s, f.ptr, f.len);
        if (found)
            brk_ev_sub(b, c, MQR_EVENT_SESSION_UNSUBSCRIBED, pk, f.ptr, f.len, 0);
        codes[n++] = found ? 0x00 : MQR_RC_NO_SUBSCRIPTION_EXISTED;
        if (!found && !why[0])
            snprintf(why, sizeof why, "no subscription existed for '%.*s'",
                     f.len > 200 ? 200 : (int)f.len, f.ptr);
    }
    mqr_packet_t ack;
    memset(&ack, 0, sizeof ack);
    ack.type = MQR_PKT_UNSUBACK;
    ack.proto_ver = c->proto_ver;
    ack.unsuback.packet_id = pk->unsubscribe.packet_id;
    ack.unsuback.props.present = 1;
    if (c->proto_ver == MQR_PROTO_V5) {
        ack.unsuback.codes.ptr = codes;
        ack.unsuback.codes.len = n;
        (void)brk5_send_props(b, c, &ack, &ack.unsuback.props, NULL, 0,
                              why[0] && c->problem_info ? why : NULL, 1);
    } else {
        (void)brk_conn_send_packet(b, c, &ack);
    }
    if (codes != stack)
        free(codes);
}
