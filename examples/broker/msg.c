/* SPDX-License-Identifier: MIT */
/*
 * msg.c - the broker's messages: one allocation holding topic, payload, forwarded
 * MQTT 5 properties and the publisher, reference-counted across sessions.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- messages ----------------------------------------------------------------- */

void brk_msg_unref(brk_msg_t *m)
{
    if (m != NULL && --m->refs == 0) {
        free(m->cause);
        free(m);
    }
}

/* Copy the properties of an incoming PUBLISH or a will that travel to
 * subscribers (those a PUBLISH may carry except Topic-Alias and
 * Subscription-Identifier) into out, which has props->len bytes. Returns the
 * length written. */
static size_t forward_props(const mqr_props_t *props, uint8_t *out)
{
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    size_t len = 0;
    mqr_packet_iter_props(&it, props);
    while (mqr_packet_prop_next(&it, &pr)) {
        switch (pr.id) {
        case MQR_PROP_PAYLOAD_FORMAT_INDICATOR:
        case MQR_PROP_MESSAGE_EXPIRY_INTERVAL:
        case MQR_PROP_CONTENT_TYPE:
        case MQR_PROP_RESPONSE_TOPIC:
        case MQR_PROP_CORRELATION_DATA:
        case MQR_PROP_USER_PROPERTY:
            if (mqr_packet_prop_add(out, props->len, &len, &pr) != MQR_OK)
                return len;
            break;
        default:
            break;
        }
    }
    return len;
}

/* Write v as 16 upper-case hex digits at out (no terminator): the message id
 * is built per PUBLISH, so it avoids the printf machinery. */
static void hex16(char *out, uint64_t v)
{
    static const char digits[] = "0123456789ABCDEF";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[v & 0xF];
        v >>= 4;
    }
}

/* A new message with one reference; NULL when out of memory. */
brk_msg_t *mq_msg_new(broker_t *b, const char *topic, size_t tlen, const void *payload,
                          size_t plen, int qos, int retain, const mqr_props_t *props,
                          const char *cid, size_t cid_len, const char *user)
{
    size_t ulen = user ? strlen(user) : 0;
    size_t plim = props ? props->len : 0;
    size_t sz = sizeof(brk_msg_t) + tlen + 1 + plen + plim + cid_len + 1 + ulen + 1;
    brk_msg_t *m = malloc(sz);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    char *p = (char *)(m + 1);
    m->refs = 1;
    m->qos = (uint8_t)qos;
    m->retain = (uint8_t)(retain != 0);
    m->topic = p;
    memcpy(p, topic, tlen);
    p[tlen] = 0;
    m->topic_len = (uint16_t)tlen;
    p += tlen + 1;
    m->payload = (uint8_t *)p;
    if (plen)
        memcpy(p, payload, plen);
    m->payload_len = (uint32_t)plen;
    p += plen;
    m->props = (uint8_t *)p;
    m->props_len = plim ? (uint32_t)forward_props(props, m->props) : 0;
    m->has_expiry = props != NULL &&
                    mqr_packet_prop_get_int(props, MQR_PROP_MESSAGE_EXPIRY_INTERVAL,
                                            &m->expiry_s) == MQR_OK;
    p += plim;
    m->from_clientid = p;
    if (cid_len)
        memcpy(p, cid, cid_len);
    p[cid_len] = 0;
    m->from_cid_len = (uint16_t)cid_len;
    p += cid_len + 1;
    if (user != NULL) {
        m->from_username = p;
        memcpy(p, user, ulen + 1);
        m->from_user_len = (uint16_t)ulen;
    }
    m->received_at = brk_now_wall(b);
    hex16(m->id, (uint64_t)m->received_at);
    hex16(m->id + 16, ++b->msg_seq);
    m->id[32] = 0;
    return m;
}
