/* SPDX-License-Identifier: MIT */
/*
 * mqtt5.c - the MQTT 5 features of mqttrule-broker that mqtt.c calls into:
 * topic aliases in both directions, the per-delivery PUBLISH properties
 * (remaining Message-Expiry-Interval, outgoing Topic-Alias), messages carrying
 * Subscription-Identifiers, the round-robin positions of shared
 * subscriptions, the MQTT 5 CONNACK properties, and the optional properties
 * of acknowledgements and DISCONNECT: a Reason-String and the ack_user_property
 * User-Properties, dropped when the client's Maximum-Packet-Size is too small.
 *
 * Alias tables belong to a connection (aliases do not outlive it, MQTT 5
 * 3.3.2.3.4): alias_in maps the client's aliases (1..topic_alias_max) to
 * topics, alias_out the broker's (1..the client's Topic-Alias-Maximum). The
 * broker assigns outgoing aliases in order of first use and, once they are all
 * taken, sends further topics in full.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static char *dup_n(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

/* ---- topic aliases ------------------------------------------------------------------ */

/*
 * Resolve the Topic-Alias of an incoming PUBLISH. A topic with the alias sets
 * the mapping; an empty topic takes the mapped one (*topic, *len replaced).
 * Returns 0, MQR_RC_TOPIC_ALIAS_INVALID for 0 or an alias above the maximum,
 * MQR_RC_PROTOCOL_ERROR for an empty topic with an unmapped alias, or
 * MQR_RC_UNSPECIFIED_ERROR when out of memory.
 */
int brk5_alias_in(const broker_t *b, brk_conn_t *c, uint32_t alias, const char **topic,
                  size_t *len)
{
    uint32_t max = b->cfg.topic_alias_max;
    if (alias == 0 || alias > max)
        return MQR_RC_TOPIC_ALIAS_INVALID;
    if (c->alias_in == NULL) {
        c->alias_in = calloc(max, sizeof *c->alias_in);
        if (c->alias_in == NULL)
            return MQR_RC_UNSPECIFIED_ERROR;
        c->alias_in_cap = max;
    }
    char **slot = &c->alias_in[alias - 1];
    if (*len == 0) {
        if (*slot == NULL)
            return MQR_RC_PROTOCOL_ERROR;
        *topic = *slot;
        *len = strlen(*slot);
        return 0;
    }
    char *t = dup_n(*topic, *len);
    if (t == NULL)
        return MQR_RC_UNSPECIFIED_ERROR;
    free(*slot);
    *slot = t;
    return 0;
}

/* The outgoing alias already assigned to `topic`, or 0. */
uint16_t brk5_alias_out_find(const brk_conn_t *c, const char *topic, size_t len)
{
    for (uint16_t i = 0; i < c->nalias_out; i++)
        if (strlen(c->alias_out[i]) == len && memcmp(c->alias_out[i], topic, len) == 0)
            return (uint16_t)(i + 1);
    return 0;
}

/* The next unassigned outgoing alias, or 0 when the client allows no more. */
uint16_t brk5_alias_out_free_slot(const brk_conn_t *c)
{
    return c->nalias_out < c->alias_max_out ? (uint16_t)(c->nalias_out + 1) : 0;
}

/* Record that `alias` (from brk5_alias_out_free_slot) now stands for `topic`:
 * called once a PUBLISH carrying both was sent. Out of memory leaves the alias
 * unassigned, which only costs the full topic next time. */
void brk5_alias_out_commit(brk_conn_t *c, uint16_t alias, const char *topic, size_t len)
{
    if (alias != (uint16_t)(c->nalias_out + 1))
        return;
    if (c->alias_out == NULL) {
        c->alias_out = calloc(c->alias_max_out, sizeof *c->alias_out);
        if (c->alias_out == NULL)
            return;
    }
    c->alias_out[c->nalias_out] = dup_n(topic, len);
    if (c->alias_out[c->nalias_out] != NULL)
        c->nalias_out++;
}

/* Free the MQTT 5 state of a connection (alias tables, a pending CONNECT). */
void brk5_conn_free(brk_conn_t *c)
{
    for (uint32_t i = 0; i < c->alias_in_cap; i++)
        free(c->alias_in[i]);
    for (uint16_t i = 0; i < c->nalias_out; i++)
        free(c->alias_out[i]);
    free(c->alias_in);
    free(c->alias_out);
    free(c->pending_connect);
    free(c->conn_props);
    c->alias_in = c->alias_out = NULL;
    c->pending_connect = NULL;
    c->conn_props = NULL;
    c->nalias_out = 0;
    c->alias_in_cap = 0;
}

/* ---- per-delivery properties ---------------------------------------------------------- */

/*
 * The properties of one outgoing PUBLISH of `m` at wall time `now`: m's
 * properties in order with the Message-Expiry-Interval lowered by the time
 * the message has waited (MQTT 5 3.3.2.3.3), then Topic-Alias when `alias` is
 * not 0. `out` needs m->props_len + 3 bytes. Returns 0, 1 when the message
 * has expired (nothing to send), or -1 when `out` is too small.
 */
int brk5_out_props(const brk_msg_t *m, int64_t now, uint16_t alias, uint8_t *out, size_t cap,
                   size_t *len)
{
    uint32_t left = 0;
    if (m->has_expiry) {
        int64_t waited = now > m->received_at ? (now - m->received_at) / 1000 : 0;
        if (waited >= (int64_t)m->expiry_s)
            return 1;
        left = m->expiry_s - (uint32_t)waited;
    }
    mqr_props_t props = {m->props, m->props_len, 1};
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    *len = 0;
    mqr_packet_iter_props(&it, &props);
    while (mqr_packet_prop_next(&it, &pr)) {
        if (pr.id == MQR_PROP_MESSAGE_EXPIRY_INTERVAL)
            pr.value = left;
        if (mqr_packet_prop_add(out, cap, len, &pr) != MQR_OK)
            return -1;
    }
    if (alias != 0) {
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_TOPIC_ALIAS;
        pr.type = MQR_PROPTYPE_U16;
        pr.value = alias;
        if (mqr_packet_prop_add(out, cap, len, &pr) != MQR_OK)
            return -1;
    }
    return 0;
}

/*
 * A copy of `m` (same id, times and properties) whose properties end with
 * one Subscription-Identifier per ids[0..n), for one subscriber. One
 * reference; NULL when out of memory.
 */
brk_msg_t *brk5_msg_with_subids(const brk_msg_t *m, const uint32_t *ids, size_t n)
{
    size_t extra = n * 5;
    size_t ulen = m->from_username ? m->from_user_len : 0;
    size_t sz = sizeof *m + m->topic_len + 1u + m->payload_len + m->props_len + extra +
                m->from_cid_len + 1u + ulen + 1u;
    brk_msg_t *c = malloc(sz);
    if (c == NULL)
        return NULL;
    *c = *m;
    c->refs = 1;
    c->cause = NULL; /* the cause chain is its own allocation: copied below */
    c->cause_len = 0;
    if (m->cause_len > 0 && (c->cause = malloc(m->cause_len)) != NULL) {
        memcpy(c->cause, m->cause, m->cause_len);
        c->cause_len = m->cause_len;
    }
    char *p = (char *)(c + 1);
    c->topic = p;
    memcpy(p, m->topic, m->topic_len + 1u);
    p += m->topic_len + 1u;
    c->payload = (uint8_t *)p;
    if (m->payload_len)
        memcpy(p, m->payload, m->payload_len);
    p += m->payload_len;
    c->props = (uint8_t *)p;
    if (m->props_len)
        memcpy(p, m->props, m->props_len);
    size_t plen = m->props_len;
    for (size_t i = 0; i < n; i++) {
        mqr_prop_t pr;
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_SUBSCRIPTION_IDENTIFIER;
        pr.type = MQR_PROPTYPE_VARINT;
        pr.value = ids[i];
        (void)mqr_packet_prop_add(c->props, m->props_len + extra, &plen, &pr);
    }
    c->props_len = (uint32_t)plen;
    p += m->props_len + extra;
    c->from_clientid = p;
    memcpy(p, m->from_clientid, m->from_cid_len + 1u);
    p += m->from_cid_len + 1u;
    if (m->from_username != NULL) {
        c->from_username = p;
        memcpy(p, m->from_username, ulen + 1u);
    }
    return c;
}

/* ---- shared subscriptions -------------------------------------------------------------- */

/*
 * Whether f[0..len) is a shared subscription "$share/GROUP/FILTER": 0 when it
 * is not shared, 1 when it is well formed (*prefix = length of
 * "$share/GROUP/"), -1 when malformed (empty or wildcard group, no filter).
 */
int brk5_share_split(const char *f, size_t len, size_t *prefix)
{
    if (len < 7 || memcmp(f, "$share/", 7) != 0)
        return 0;
    size_t i = 7;
    while (i < len && f[i] != '/') {
        if (f[i] == '+' || f[i] == '#')
            return -1;
        i++;
    }
    if (i == 7 || i + 1 >= len)
        return -1;
    *prefix = i + 1;
    return 1;
}

/* The round-robin counter of shared subscription `key`, post-incremented; a
 * new key starts at 0 (also when out of memory, which only loses fairness). */
uint32_t brk5_share_next(broker_t *b, const char *key, size_t len)
{
    for (size_t i = 0; i < b->nshares; i++)
        if (strlen(b->shares[i].key) == len && memcmp(b->shares[i].key, key, len) == 0)
            return b->shares[i].next++;
    if (b->nshares == b->capshares) {
        size_t nc = b->capshares ? b->capshares * 2 : 8;
        brk_share_t *ns = realloc(b->shares, nc * sizeof *ns);
        if (ns == NULL)
            return 0;
        b->shares = ns;
        b->capshares = nc;
    }
    char *k = dup_n(key, len);
    if (k == NULL)
        return 0;
    b->shares[b->nshares].key = k;
    b->shares[b->nshares].next = 1;
    b->nshares++;
    return 0;
}

void brk5_share_free(broker_t *b)
{
    for (size_t i = 0; i < b->nshares; i++)
        free(b->shares[i].key);
    free(b->shares);
    b->shares = NULL;
    b->nshares = b->capshares = 0;
}

/* ---- CONNACK and acknowledgements ------------------------------------------------------- */

/* Add a property to a small property buffer (errors only drop it). */
void brk_prop_int(uint8_t *buf, size_t cap, size_t *len, uint8_t id, uint8_t type, uint32_t v)
{
    mqr_prop_t pr;
    memset(&pr, 0, sizeof pr);
    pr.id = id;
    pr.type = type;
    pr.value = v;
    (void)mqr_packet_prop_add(buf, cap, len, &pr);
}

void brk_prop_str(uint8_t *buf, size_t cap, size_t *len, uint8_t id, const char *s)
{
    mqr_prop_t pr;
    memset(&pr, 0, sizeof pr);
    pr.id = id;
    pr.type = MQR_PROPTYPE_STRING;
    pr.str.ptr = s;
    pr.str.len = (uint32_t)strlen(s);
    (void)mqr_packet_prop_add(buf, cap, len, &pr);
}

/* The MQTT 5 properties of a successful CONNACK that depend on this file's
 * features: Receive-Maximum, Topic-Alias-Maximum, Server-Keep-Alive,
 * Response-Information and the Authentication-Method agreed. */
void brk5_connack_props(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t cap, size_t *len)
{
    if (b->cfg.receive_max < 65535)
        brk_prop_int(buf, cap, len, MQR_PROP_RECEIVE_MAXIMUM, MQR_PROPTYPE_U16, b->cfg.receive_max);
    if (b->cfg.topic_alias_max > 0)
        brk_prop_int(buf, cap, len, MQR_PROP_TOPIC_ALIAS_MAXIMUM, MQR_PROPTYPE_U16,
                b->cfg.topic_alias_max);
    if (c->ka_server)
        brk_prop_int(buf, cap, len, MQR_PROP_SERVER_KEEP_ALIVE, MQR_PROPTYPE_U16, c->keepalive);
    if (c->want_resp_info && b->cfg.response_info != NULL)
        brk_prop_str(buf, cap, len, MQR_PROP_RESPONSE_INFORMATION, b->cfg.response_info);
    if (c->authn != NULL)
        brk_prop_str(buf, cap, len, MQR_PROP_AUTHENTICATION_METHOD, c->authn->method);
}

/*
 * Send the MQTT 5 packet `p` whose property field is `slot`, with the
 * properties base[0..base_len), then `why` as the Reason-String (when not
 * NULL), then the ack_user_property pairs as User-Properties (when `user`).
 * Both are optional (MQTT 5 3.4.2.2.2, 3.4.2.2.3): a packet that would exceed
 * the client's Maximum-Packet-Size is sent without the Reason-String, then
 * without the User-Properties as well. Returns brk_conn_send_packet's status
 * for the last attempt, or MQR_ENOMEM.
 */
int brk5_send_props(broker_t *b, brk_conn_t *c, mqr_packet_t *p, mqr_props_t *slot,
                    const uint8_t *base, size_t base_len, const char *why, int user)
{
    const brk_str_list_t *up = &b->cfg.ack_user_props;
    if (!b->cfg.reason_strings)
        why = NULL;
    size_t cap = base_len + 8 + (why != NULL ? strlen(why) : 0);
    if (user)
        for (size_t i = 0; i < up->count; i++)
            cap += strlen(up->items[i]) + 3;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return MQR_ENOMEM;
    int rc = MQR_ETOOLARGE;
    for (int level = 0; level < 3 && rc == MQR_ETOOLARGE; level++) {
        const char *w = level == 0 ? why : NULL;
        int u = level < 2 && user && up->count > 0;
        if (level > 0 && why == NULL && (level == 1 || !user || up->count == 0))
            continue; /* the same packet as the previous attempt */
        size_t len = base_len;
        if (base_len)
            memcpy(buf, base, base_len);
        if (w != NULL)
            brk_prop_str(buf, cap, &len, MQR_PROP_REASON_STRING, w);
        for (size_t i = 0; u && i + 1 < up->count; i += 2) {
            mqr_prop_t pr;
            memset(&pr, 0, sizeof pr);
            pr.id = MQR_PROP_USER_PROPERTY;
            pr.type = MQR_PROPTYPE_PAIR;
            pr.str.ptr = up->items[i];
            pr.str.len = (uint32_t)strlen(up->items[i]);
            pr.str2.ptr = up->items[i + 1];
            pr.str2.len = (uint32_t)strlen(up->items[i + 1]);
            (void)mqr_packet_prop_add(buf, cap, &len, &pr);
        }
        slot->ptr = buf;
        slot->len = (uint32_t)len;
        /* acknowledgements and DISCONNECT may omit an empty property list */
        slot->present = (uint8_t)(len > 0 || (p->type != MQR_PKT_DISCONNECT &&
                                              (p->type < MQR_PKT_PUBACK || p->type > MQR_PKT_PUBCOMP)));
        /* properties need the reason code byte before them */
        if (len > 0 && p->type == MQR_PKT_DISCONNECT)
            p->disconnect.has_reason_code = 1;
        else if (len > 0 && p->type >= MQR_PKT_PUBACK && p->type <= MQR_PKT_PUBCOMP)
            p->ack.has_reason_code = 1;
        rc = brk_conn_send_packet(b, c, p);
    }
    free(buf);
    slot->ptr = NULL;
    slot->len = 0;
    return rc;
}

/* The Reason-String of a server-sent DISCONNECT with reason `rc`, or NULL. */
const char *brk5_disconnect_why(int rc)
{
    switch (rc) {
    case MQR_RC_KEEPALIVE_TIMEOUT:
        return "keep-alive timeout: no packet within 1.5 times the Keep-Alive";
    case MQR_RC_SESSION_TAKEN_OVER:
        return "session taken over by a new connection with the same Client Identifier";
    case MQR_RC_RECEIVE_MAXIMUM_EXCEEDED:
        return "receive maximum exceeded: too many unacknowledged QoS 2 PUBLISH packets";
    case MQR_RC_QOS_NOT_SUPPORTED:
        return "QoS not supported: above the Maximum-QoS of the CONNACK";
    case MQR_RC_RETAIN_NOT_SUPPORTED:
        return "retain not supported by this server";
    case MQR_RC_TOPIC_NAME_INVALID:
        return "topic name invalid";
    case MQR_RC_PROTOCOL_ERROR:
        return "protocol error";
    case MQR_RC_MALFORMED_PACKET:
        return "malformed packet";
    case MQR_RC_PACKET_TOO_LARGE:
        return "packet larger than the server's Maximum-Packet-Size";
    case MQR_RC_TOPIC_ALIAS_INVALID:
        return "topic alias invalid";
    case MQR_RC_UNSPECIFIED_ERROR:
        return "internal server error";
    case MQR_RC_SERVER_SHUTTING_DOWN:
        return "server shutting down";
    case MQR_RC_ADMINISTRATIVE_ACTION:
        return "disconnected by administrative action";
    default:
        return NULL;
    }
}

/*
 * Send PUBACK/PUBREC/PUBREL/PUBCOMP `type` for `pid` with reason `rc`; an
 * MQTT 5 client that did not switch Request-Problem-Information off also
 * gets `why` as the Reason-String (MQTT 5 3.1.2.11.7) when `rc` is an error
 * (0x80 and above), and every MQTT 5 client the ack_user_property
 * User-Properties. Success-class codes such as 0x10 (no matching
 * subscribers) go without one, as EMQX and mosquitto send them: strict
 * client codecs (Eclipse Paho's MQTT 5 test client) refuse a PUBACK longer
 * than 4 bytes.
 */
void brk5_send_ack(broker_t *b, brk_conn_t *c, int type, uint16_t pid, int rc, const char *why)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = (uint8_t)type;
    p.proto_ver = c->proto_ver;
    p.ack.packet_id = pid;
    p.ack.reason_code = (uint8_t)rc;
    p.ack.has_reason_code = rc != 0;
    if (c->proto_ver != MQR_PROTO_V5) {
        (void)brk_conn_send_packet(b, c, &p);
        return;
    }
    int want = c->problem_info && why != NULL && rc >= 0x80;
    (void)brk5_send_props(b, c, &p, &p.ack.props, NULL, 0, want ? why : NULL, 1);
}
