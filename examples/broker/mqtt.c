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
 * kept in a flat array by topic. The MQTT 5 helpers (topic aliases,
 * per-delivery properties, shared-subscription positions) are in mqtt5.c,
 * enhanced authentication in authn.c.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define NEVER_EXPIRE 0xFFFFFFFFu

/* ---- messages ----------------------------------------------------------------- */

void brk_msg_unref(brk_msg_t *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
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
static brk_msg_t *msg_new(broker_t *b, const char *topic, size_t tlen, const void *payload,
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

/* ---- sessions ------------------------------------------------------------------- */

static size_t hash_id(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The session of client id `id`, or NULL. */
static brk_session_t *sess_find(broker_t *b, const char *id, size_t len)
{
    if (b->stab_size == 0)
        return NULL;
    brk_session_t *s = b->stab[hash_id(id, len) % b->stab_size];
    for (; s != NULL; s = s->hnext)
        if (s->clientid_len == len && memcmp(s->clientid, id, len) == 0)
            return s;
    return NULL;
}

/* Double the session hash table (rehashing every chain). 0 or -1. */
static int stab_grow(broker_t *b)
{
    size_t n = b->stab_size ? b->stab_size * 2 : 1024;
    brk_session_t **t = calloc(n, sizeof *t);
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < b->stab_size; i++) {
        brk_session_t *s = b->stab[i];
        while (s != NULL) {
            brk_session_t *nx = s->hnext;
            size_t h = hash_id(s->clientid, s->clientid_len) % n;
            s->hnext = t[h];
            t[h] = s;
            s = nx;
        }
    }
    free(b->stab);
    b->stab = t;
    b->stab_size = n;
    return 0;
}

/* A new empty session for `id` in the table, or NULL when out of memory. */
static brk_session_t *sess_create(broker_t *b, const char *id, size_t len)
{
    if (b->nsessions + 1 > b->stab_size && stab_grow(b) != 0)
        return NULL;
    brk_session_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->clientid = malloc(len + 1);
    if (s->clientid == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->clientid, id, len);
    s->clientid[len] = 0;
    s->clientid_len = (uint16_t)len;
    s->next_pid = 1;
    size_t h = hash_id(id, len) % b->stab_size;
    s->hnext = b->stab[h];
    b->stab[h] = s;
    b->nsessions++;
    return s;
}

/* Drop everything a session holds but keep it in the table. */
static void sess_clear(broker_t *b, brk_session_t *s)
{
    for (uint32_t i = 0; i < s->nsubs; i++) {
        brk_sub_t *sub = &s->subs[i];
        (void)mqr__trie_remove(&b->subs, sub->filter + sub->share_len,
                               sub->len - sub->share_len, s);
        free(sub->filter);
    }
    for (uint32_t i = 0; i < s->ninfl; i++)
        brk_msg_unref(s->infl[i].msg);
    for (uint32_t i = 0; i < s->nqueue; i++)
        brk_msg_unref(s->queue[i].msg);
    s->queue_bytes = 0;
    free(s->subs);
    free(s->infl);
    free(s->queue);
    free(s->rx2);
    s->subs = NULL;
    s->infl = NULL;
    s->queue = NULL;
    s->rx2 = NULL;
    s->nsubs = s->capsubs = s->ninfl = s->capinfl = s->nqueue = s->capqueue = 0;
    s->nrx2 = s->caprx2 = 0;
}

static size_t publish_msg(broker_t *b, brk_conn_t *from, brk_msg_t *m, const char *rule_id,
                          int direct);

/* Remove a session. A will still delayed is published now: the session's
 * end ends the delay (MQTT 5 3.1.3.2.2). */
static void sess_destroy(broker_t *b, brk_session_t *s)
{
    if (s->will != NULL) {
        brk_msg_t *w = s->will;
        s->will = NULL;
        publish_msg(b, NULL, w, NULL, 0);
        brk_msg_unref(w);
    }
    brk_session_t **pp = &b->stab[hash_id(s->clientid, s->clientid_len) % b->stab_size];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    b->nsessions--;
    sess_clear(b, s);
    free(s->username);
    free(s->clientid);
    free(s);
}

/* Grow a session array so it holds one more element. 0 or -1. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Send a packet without payload: PUBACK/PUBREC/PUBREL/PUBCOMP with `pid`,
 * PINGRESP, or DISCONNECT; `rc` is the reason code (0: the short form). An
 * MQTT 5 acknowledgement carries the ack_user_property User-Properties, an
 * MQTT 5 DISCONNECT a Reason-String saying why (brk5_disconnect_why). */
static void send_simple(broker_t *b, brk_conn_t *c, int type, uint16_t pid, int rc)
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
static void disconnect(broker_t *b, brk_conn_t *c, int rc, const char *reason)
{
    if (c->proto_ver == MQR_PROTO_V5 && mqr_reason_valid_in(rc, MQR_PKT_DISCONNECT))
        send_simple(b, c, MQR_PKT_DISCONNECT, 0, rc);
    brk_conn_close(b, c, reason);
}

/* Send `m` to the session's connection; message.delivered on success,
 * delivery.dropped when it has expired (not for a resend) or cannot be
 * encoded (e.g. above the client's Maximum-Packet-Size, counted in
 * b->stats.dropped_too_large). MQTT 5 deliveries carry the remaining
 * Message-Expiry-Interval and a Topic-Alias when the client allows one.
 * Returns the encoder's status, or MQR_ENOTFOUND for an expired message. */
static int send_publish(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
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
                   er == 1 ? "expired" : "internal_error");
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
        brk_ev_msg(b, MQR_EVENT_MESSAGE_DELIVERED, m, s, qos, NULL);
    } else {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos,
                   rc == MQR_ETOOLARGE ? "too_large" : "internal_error");
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

/* Put a QoS 1/2 message in flight on an online session and send it. */
static void start_inflight(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain)
{
    if (grow((void **)&s->infl, &s->capinfl, s->ninfl, sizeof *s->infl) != 0) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "internal_error");
        return;
    }
    uint16_t pid = next_pid(s); /* before the new slot counts: its pid is not set yet */
    brk_inflight_t *f = &s->infl[s->ninfl++];
    f->pid = pid;
    f->qos = (uint8_t)qos;
    f->state = 0;
    f->retain = (uint8_t)retain;
    f->msg = m;
    m->refs++;
    if (send_publish(b, s, m, qos, retain, f->pid, 0) != MQR_OK) { /* never acknowledged */
        s->ninfl--;
        brk_msg_unref(m);
    }
}

/* Deliver `m` to session `s` at `qos`: send it, put it in flight, or queue it
 * for later (offline or too many in flight). */
static void deliver(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain)
{
    int online = s->conn != NULL && s->conn->state == BRK_CS_CONNECTED;
    if (online && qos == 0) {
        if (s->conn->out_len > BRK_MAX_OUT_QOS0) /* a consumer that does not keep up */
            brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, 0, "queue_full");
        else
            (void)send_publish(b, s, m, 0, retain, 0, 0);
        return;
    }
    if (!online && qos == 0) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, 0, "qos0_msg");
        return;
    }
    if (online && s->ninfl < inflight_limit(b, s) && s->nqueue == 0) {
        start_inflight(b, s, m, qos, retain);
        return;
    }
    uint64_t mbytes = (uint64_t)m->topic_len + m->payload_len + m->props_len;
    if (s->nqueue >= b->cfg.max_queued ||
        (b->cfg.max_queued_bytes != 0 && s->queue_bytes + mbytes > b->cfg.max_queued_bytes) ||
        grow((void **)&s->queue, &s->capqueue, s->nqueue, sizeof *s->queue) != 0) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "queue_full");
        return;
    }
    s->queue[s->nqueue].msg = m;
    s->queue[s->nqueue].qos = (uint8_t)qos;
    s->queue[s->nqueue].retain = (uint8_t)retain;
    s->nqueue++;
    s->queue_bytes += mbytes;
    m->refs++;
}

/* Move queued messages in flight while the client's window allows. */
static void drain(broker_t *b, brk_session_t *s)
{
    uint32_t taken = 0;
    while (s->conn != NULL && s->conn->state == BRK_CS_CONNECTED && taken < s->nqueue &&
           s->ninfl < inflight_limit(b, s)) {
        brk_queued_t q = s->queue[taken++];
        s->queue_bytes -= (uint64_t)q.msg->topic_len + q.msg->payload_len + q.msg->props_len;
        start_inflight(b, s, q.msg, q.qos, q.retain);
        brk_msg_unref(q.msg);
    }
    if (taken > 0) {
        memmove(s->queue, s->queue + taken, (s->nqueue - taken) * sizeof *s->queue);
        s->nqueue -= taken;
    }
}

/* ---- routing and retained messages -------------------------------------------------------- */

static int is_events_topic(const char *t, size_t len)
{
    return len >= 7 && memcmp(t, "$events", 7) == 0 && (len == 7 || t[7] == '/');
}

/* Routing state while the trie is walked: the distinct sessions found. */
typedef struct route_ctx {
    broker_t *b;
    brk_session_t **found;
    size_t n, cap;
    brk_session_t *stack[64];
    int oom;
} route_ctx_t;

static void route_visit(void *ud, void *item)
{
    route_ctx_t *r = ud;
    brk_session_t *s = item;
    if (s->route_mark == r->b->route_gen)
        return;
    s->route_mark = r->b->route_gen;
    if (r->n == r->cap) {
        size_t nc = r->cap * 2;
        brk_session_t **nf = malloc(nc * sizeof *nf);
        if (nf == NULL) {
            r->oom = 1;
            return;
        }
        memcpy(nf, r->found, r->n * sizeof *nf);
        if (r->found != r->stack)
            free(r->found);
        r->found = nf;
        r->cap = nc;
    }
    r->found[r->n++] = s;
}

/* Deliver `m` to `s` at `qos`, with the Subscription-Identifiers ids[0..n)
 * (a per-subscriber copy of the message when there are any; only MQTT 5
 * clients set them, and the encoder drops them for older ones). */
static void deliver_ids(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                        const uint32_t *ids, size_t n)
{
    if (n == 0) {
        deliver(b, s, m, qos, retain);
        return;
    }
    brk_msg_t *copy = brk5_msg_with_subids(m, ids, n);
    if (copy == NULL) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "internal_error");
        return;
    }
    deliver(b, s, copy, qos, retain);
    brk_msg_unref(copy);
}

/* Whether subscription `sub` matches the topic of `m` (shared ones by the
 * filter after "$share/GROUP/"). */
static int sub_matches(const brk_sub_t *sub, const brk_msg_t *m)
{
    return mqr_topic_match(sub->filter + sub->share_len, sub->len - sub->share_len, m->topic,
                           m->topic_len);
}

/* Deliver `m` to one session: once, at the highest QoS of its matching
 * non-shared subscriptions, with every matching Subscription-Identifier.
 * Returns 1 if it was delivered (or queued). */
static int route_to(broker_t *b, brk_session_t *s, brk_msg_t *m)
{
    int best = -1, retain = 0, no_local_hit = 0;
    uint32_t ids[32];
    size_t nids = 0;
    for (uint32_t k = 0; k < s->nsubs; k++) {
        brk_sub_t *sub = &s->subs[k];
        if (sub->share_len != 0 || !sub_matches(sub, m))
            continue;
        if (sub->no_local && s->clientid_len == m->from_cid_len &&
            memcmp(s->clientid, m->from_clientid, m->from_cid_len) == 0) {
            no_local_hit = 1;
            continue;
        }
        if ((int)sub->qos > best)
            best = sub->qos;
        if (sub->rap)
            retain = m->retain;
        if (sub->sub_id != 0 && nids < sizeof ids / sizeof ids[0])
            ids[nids++] = sub->sub_id;
    }
    if (best < 0) {
        if (no_local_hit)
            brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, m->qos, "no_local");
        return 0;
    }
    if (!brk_acl_allows(b, s->username, m->topic, m->topic_len, BRK_ACC_READ))
        return 0;
    deliver_ids(b, s, m, best < m->qos ? best : m->qos, retain, ids, nids);
    return 1;
}

/* The subscription of `s` whose full filter is key[0..len), or NULL. */
static brk_sub_t *sub_find(brk_session_t *s, const char *key, size_t len)
{
    for (uint32_t k = 0; k < s->nsubs; k++)
        if (s->subs[k].len == len && memcmp(s->subs[k].filter, key, len) == 0)
            return &s->subs[k];
    return NULL;
}

/*
 * Deliver `m` once per shared subscription "$share/GROUP/FILTER" that
 * matches it, to one member of the group chosen round-robin (the next online
 * member from the group's position; an offline one only when none is
 * online). found[0..n) are the sessions the trie gave. Returns how many
 * groups it went to.
 */
static size_t route_shared(broker_t *b, brk_msg_t *m, brk_session_t **found, size_t n)
{
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        brk_session_t *s = found[i];
        for (uint32_t k = 0; k < s->nsubs; k++) {
            brk_sub_t *sub = &s->subs[k];
            if (sub->share_len == 0 || !sub_matches(sub, m))
                continue;
            int seen = 0; /* an earlier session holds it: that group is done */
            for (size_t j = 0; j < i && !seen; j++)
                seen = sub_find(found[j], sub->filter, sub->len) != NULL;
            if (seen)
                continue;
            size_t members = 0;
            for (size_t j = i; j < n; j++)
                members += sub_find(found[j], sub->filter, sub->len) != NULL;
            size_t start = brk5_share_next(b, sub->filter, sub->len) % members;
            brk_session_t *pick = NULL, *fallback = NULL;
            for (size_t j = i, idx = 0; j < n && pick == NULL; j++) {
                if (sub_find(found[j], sub->filter, sub->len) == NULL)
                    continue;
                if (idx == start)
                    fallback = found[j];
                if (idx >= start && found[j]->conn != NULL)
                    pick = found[j];
                idx++;
            }
            for (size_t j = i; j < n && pick == NULL; j++) /* wrap around */
                if (sub_find(found[j], sub->filter, sub->len) != NULL && found[j]->conn != NULL)
                    pick = found[j];
            if (pick == NULL)
                pick = fallback;
            brk_sub_t *ps = sub_find(pick, sub->filter, sub->len);
            if (!brk_acl_allows(b, pick->username, m->topic, m->topic_len, BRK_ACC_READ))
                continue;
            uint32_t id = ps->sub_id;
            deliver_ids(b, pick, m, ps->qos < m->qos ? ps->qos : m->qos,
                        ps->rap ? m->retain : 0, &id, id != 0);
            groups++;
        }
    }
    return groups;
}

/*
 * Deliver `m` to every session with a matching subscription. The trie of
 * subscription filters gives the candidate sessions (each collected once);
 * delivery happens after the walk, because delivering runs rules that may
 * publish again (a nested route) or change subscriptions. Returns how many
 * sessions the message went to.
 */
static size_t route(broker_t *b, brk_msg_t *m)
{
    route_ctx_t r;
    memset(&r, 0, sizeof r);
    r.b = b;
    r.found = r.stack;
    r.cap = sizeof r.stack / sizeof r.stack[0];
    b->route_gen++;
    int rc = mqr__trie_match(&b->subs, &b->walk, NULL, m->topic, m->topic_len, route_visit, &r);
    if (rc != MQR_OK || r.oom)
        brk_log(b, 0, "routing '%s': out of memory, some subscribers missed it", m->topic);
    size_t n = 0;
    for (size_t i = 0; i < r.n; i++)
        n += (size_t)route_to(b, r.found[i], m);
    n += route_shared(b, m, r.found, r.n);
    if (r.found != r.stack)
        free(r.found);
    return n;
}

/* Set, replace or (empty payload) clear the retained message of m's topic. */
static void retain_store(broker_t *b, brk_msg_t *m)
{
    brk_retained_t *r = &b->retained;
    for (size_t i = 0; i < r->count; i++) {
        if (r->items[i]->topic_len == m->topic_len &&
            memcmp(r->items[i]->topic, m->topic, m->topic_len) == 0) {
            brk_msg_unref(r->items[i]);
            if (m->payload_len == 0) {
                r->items[i] = r->items[--r->count];
            } else {
                r->items[i] = m;
                m->refs++;
            }
            return;
        }
    }
    if (m->payload_len == 0)
        return;
    if (r->count == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        brk_msg_t **ni = realloc(r->items, nc * sizeof *ni);
        if (ni == NULL)
            return;
        r->items = ni;
        r->cap = nc;
    }
    r->items[r->count++] = m;
    m->refs++;
}

/* Hand a message to the engine, store it if retained, route it. */
static size_t publish_msg(broker_t *b, brk_conn_t *from, brk_msg_t *m, const char *rule_id,
                          int direct)
{
    brk_ev_publish(b, from, m, rule_id, direct);
    if (m->retain && b->cfg.retain_available)
        retain_store(b, m);
    size_t n = route(b, m);
    if (n == 0)
        brk_ev_msg(b, MQR_EVENT_MESSAGE_DROPPED, m, NULL, m->qos, "no_subscribers");
    return n;
}

/* Publish a message made inside the broker (a republish action). */
int brk_mqtt_publish_local(broker_t *b, const char *topic, size_t topic_len, const void *payload,
                           size_t payload_len, int qos, int retain, const char *rule_id,
                           int direct_dispatch)
{
    if (mqr_topic_validate_name(topic, topic_len, NULL) != MQR_OK)
        return MQR_ETOPIC;
    brk_msg_t *m = msg_new(b, topic, topic_len, payload, payload_len, qos, retain, NULL, "", 0,
                           NULL);
    if (m == NULL)
        return MQR_ENOMEM;
    publish_msg(b, NULL, m, rule_id, direct_dispatch);
    brk_msg_unref(m);
    return MQR_OK;
}

/* ---- CONNECT ---------------------------------------------------------------------------- */

/* Send a CONNACK for MQTT 5 reason `rc`, in the v3 format below level 5. */
static void send_connack(broker_t *b, brk_conn_t *c, int rc, int session_present,
                         const char *why, const char *assigned)
{
    uint8_t props[512];
    size_t plen = 0;
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNACK;
    p.proto_ver = c->proto_ver == MQR_PROTO_V5 ? MQR_PROTO_V5 : MQR_PROTO_V311;
    p.connack.session_present = (uint8_t)(rc == 0 && session_present);
    if (c->proto_ver != MQR_PROTO_V5) {
        p.connack.reason_code = (uint8_t)mqr_reason_connack_v3(rc);
    } else {
        p.connack.reason_code = (uint8_t)rc;
        if (rc == 0) {
            if (!b->cfg.retain_available)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_RETAIN_AVAILABLE,
                         MQR_PROPTYPE_BYTE, 0);
            if (b->cfg.max_qos < 2)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_MAXIMUM_QOS, MQR_PROPTYPE_BYTE,
                         b->cfg.max_qos);
            if (b->cfg.max_packet_size != 0)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_MAXIMUM_PACKET_SIZE,
                         MQR_PROPTYPE_U32, b->cfg.max_packet_size);
            brk5_connack_props(b, c, props, sizeof props, &plen);
            if (assigned != NULL)
                brk_prop_str(props, sizeof props, &plen, MQR_PROP_ASSIGNED_CLIENT_IDENTIFIER,
                         assigned);
        }
        if ((rc == MQR_RC_USE_ANOTHER_SERVER || rc == MQR_RC_SERVER_MOVED) &&
            b->cfg.redirect_server != NULL)
            brk_prop_str(props, sizeof props, &plen, MQR_PROP_SERVER_REFERENCE,
                     b->cfg.redirect_server);
        (void)brk5_send_props(b, c, &p, &p.connack.props, props, plen,
                              rc != 0 && c->problem_info ? why : NULL, 1);
        return;
    }
    (void)brk_conn_send_packet(b, c, &p);
}

static void log_refusal(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, int rc,
                        const char *why)
{
    char user[300] = "(none)";
    if (p != NULL && p->username.ptr != NULL)
        snprintf(user, sizeof user, "'%.*s'", (int)(p->username.len > 256 ? 256 : p->username.len),
                 p->username.ptr);
    int cl = p && p->clientid.ptr ? (int)p->clientid.len : 0;
    brk_log(b, 0, "refused client '%.*s' username %s from %s (MQTT level %u): %s (0x%02X): %s",
            cl, cl ? p->clientid.ptr : "", user, c->peername, (unsigned)c->proto_ver,
            mqr_reason_name(rc), (unsigned)rc, why);
}

/* Refuse a decoded CONNECT with reason `rc`: CONNACK, log, event, close. */
static void refuse(broker_t *b, brk_conn_t *c, const mqr_packet_t *p, int rc, const char *why)
{
    send_connack(b, c, rc, 0, why, NULL);
    log_refusal(b, c, &p->connect, rc, why);
    brk_ev_connack(b, c, p, 1, rc, 1);
    brk_conn_close(b, c, NULL);
}

/* The connection rate limit: a token bucket refilled at connection_rate per
 * second, holding at most one second's worth. 1 when a token was taken. */
static int rate_ok(broker_t *b)
{
    if (b->cfg.connection_rate == 0)
        return 1;
    int64_t now = brk_mono_ms();
    double rate = b->cfg.connection_rate;
    b->rate_tokens += (double)(now - b->rate_last) * rate / 1000.0;
    if (b->rate_tokens > rate)
        b->rate_tokens = rate;
    b->rate_last = now;
    if (b->rate_tokens < 1.0)
        return 0;
    b->rate_tokens -= 1.0;
    return 1;
}

/* The checks before authentication. Returns 0 or the reason code, *why set. */
static int precheck(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, const char **why)
{
    const brk_config_t *cfg = &b->cfg;
    if (!(cfg->protocols & (1u << c->proto_ver))) {
        *why = "this protocol level is switched off";
        return MQR_RC_UNSUPPORTED_PROTOCOL_VERSION;
    }
    if (cfg->redirect_reason != 0) {
        *why = "the broker redirects every client";
        return cfg->redirect_reason;
    }
    if (!c->auth_ok && !rate_ok(b)) { /* a CONNECT resumed after AUTH paid already */
        *why = "connection rate limit reached";
        return MQR_RC_CONNECTION_RATE_EXCEEDED;
    }
    if (cfg->max_connections != 0 && b->nconnected >= cfg->max_connections) {
        b->stats.refused_max_connections++;
        *why = "maximum number of connections reached";
        return cfg->max_connections_reason;
    }
    mqr_str_t am;
    if (c->proto_ver == MQR_PROTO_V5 && !c->auth_ok &&
        mqr_packet_prop_get_str(&p->props, MQR_PROP_AUTHENTICATION_METHOD, &am) == MQR_OK &&
        (c->authn = brk_authn_find(b, am.ptr, am.len)) == NULL) {
        *why = "unknown authentication method";
        return MQR_RC_BAD_AUTHENTICATION_METHOD;
    }
    if (cfg->refuse_will && p->will_flag) {
        *why = "will messages are switched off";
        return MQR_RC_IMPLEMENTATION_SPECIFIC_ERROR;
    }
    if (p->clientid.len == 0 && (!p->clean_start || c->proto_ver == MQR_PROTO_V31)) {
        *why = p->clean_start ? "MQTT 3.1 needs a client id"
                              : "an empty client id needs clean start";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    if (p->clientid.len > cfg->max_clientid_len) {
        *why = "client id too long";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    char host[MQR_ADDR_TEXT_MAX];
    if (mqr_sockaddr_format(&c->peer, 0, host, sizeof host, NULL) != MQR_OK)
        host[0] = 0;
    if (brk_banned(b, p, host, why))
        return MQR_RC_BANNED;
    return 0;
}

/* The will checks. Returns 0 or the reason code, *why set. */
static int will_check(broker_t *b, const mqr_pkt_connect_t *p, const char *user, const char **why)
{
    if (!p->will_flag)
        return 0;
    if (p->will_qos > b->cfg.max_qos) {
        *why = "will QoS above the broker's maximum QoS";
        return MQR_RC_QOS_NOT_SUPPORTED;
    }
    if (p->will_retain && !b->cfg.retain_available) {
        *why = "retained messages are switched off";
        return MQR_RC_RETAIN_NOT_SUPPORTED;
    }
    if (p->will_topic.len > 0 && p->will_topic.ptr[0] == '$') {
        *why = "will topics may not start with '$'";
        return MQR_RC_TOPIC_NAME_INVALID;
    }
    if (!brk_acl_allows(b, user, p->will_topic.ptr, p->will_topic.len, BRK_ACC_WRITE)) {
        *why = "the ACL does not allow publishing to the will topic";
        return MQR_RC_NOT_AUTHORIZED;
    }
    return 0;
}

/* Take over or create the session of a CONNECT. Returns the session (and
 * *present) or NULL with *why set. */
static brk_session_t *open_session(broker_t *b, brk_conn_t *c, const char *id, size_t len,
                                   int clean, int *present, const char **why)
{
    brk_session_t *s = sess_find(b, id, len);
    if (s != NULL && s->conn != NULL) {
        brk_conn_t *old = s->conn;
        brk_log(b, 1, "client '%s' taken over by %s", s->clientid, c->peername);
        /* detached first, so closing the old connection leaves the session */
        s->conn = NULL;
        old->close_reason = clean ? "discarded" : "takenover";
        disconnect(b, old, MQR_RC_SESSION_TAKEN_OVER, old->close_reason);
    }
    if (s != NULL && clean) {
        sess_clear(b, s);
        s->next_pid = 1;
    }
    *present = s != NULL && !clean;
    if (s == NULL) {
        if (b->cfg.max_sessions != 0 && b->nsessions >= b->cfg.max_sessions) {
            *why = "session table full (max_sessions)";
            return NULL;
        }
        s = sess_create(b, id, len);
        if (s == NULL) {
            *why = "out of memory creating the session";
            return NULL;
        }
    }
    return s;
}

/* Resend what was in flight (DUP set) and start the queue after a resume. */
static void resume(broker_t *b, brk_session_t *s)
{
    for (uint32_t i = 0; i < s->ninfl; i++) {
        brk_inflight_t *f = &s->infl[i];
        if (f->state == 0)
            (void)send_publish(b, s, f->msg, f->qos, f->retain, f->pid, 1);
        else
            send_simple(b, s->conn, MQR_PKT_PUBREL, f->pid, 0);
    }
    drain(b, s);
}

/* CONNECT: the checks in order (precheck, authentication, will), then the
 * session, client.connected, the CONNACK, client.connack, and the resent
 * and queued messages of a resumed session. */
static void handle_connect(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    const mqr_pkt_connect_t *p = &pk->connect;
    const char *why = NULL;
    c->proto_ver = pk->proto_ver;
    if (c->proto_ver == MQR_PROTO_V5) {
        uint32_t v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_REQUEST_PROBLEM_INFORMATION, &v) ==
            MQR_OK)
            c->problem_info = (uint8_t)v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_RECEIVE_MAXIMUM, &v) == MQR_OK)
            c->receive_max = (uint16_t)v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_MAXIMUM_PACKET_SIZE, &v) == MQR_OK)
            c->max_out_packet = v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_TOPIC_ALIAS_MAXIMUM, &v) == MQR_OK)
            c->alias_max_out = (uint16_t)(v < 64 ? v : 64);
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_REQUEST_RESPONSE_INFORMATION, &v) ==
            MQR_OK)
            c->want_resp_info = (uint8_t)v;
    }
    int rc = precheck(b, c, p, &why);
    if (rc != 0) {
        refuse(b, c, pk, rc, why);
        return;
    }
    if (c->authn != NULL && !c->auth_ok) { /* AUTH exchange first, then resumed */
        if (brk_authn_begin(b, c, pk) != 0)
            refuse(b, c, pk, MQR_RC_UNSPECIFIED_ERROR, "cannot start the authentication");
        return;
    }
    rc = brk_auth_check(b, p, &why);
    brk_ev_authn(b, c, p, rc);
    if (rc != 0) {
        refuse(b, c, pk, rc, why);
        return;
    }
    char *user = p->username.ptr ? malloc(p->username.len + 1) : NULL;
    if (user != NULL) {
        memcpy(user, p->username.ptr, p->username.len);
        user[p->username.len] = 0;
    }
    rc = will_check(b, p, user, &why);
    if (rc != 0) {
        free(user);
        refuse(b, c, pk, rc, why);
        return;
    }
    char assigned[40];
    const char *id = p->clientid.ptr;
    size_t idlen = p->clientid.len;
    if (idlen == 0) {
        snprintf(assigned, sizeof assigned, "auto-%016llX",
                 (unsigned long long)(brk_wall_ms() * 1000 + (int64_t)(++b->msg_seq % 1000)));
        id = assigned;
        idlen = strlen(assigned);
    }
    if (p->will_flag) {
        c->will = msg_new(b, p->will_topic.ptr, p->will_topic.len, p->will_payload.ptr,
                          p->will_payload.len, p->will_qos, p->will_retain, &p->will_props, id,
                          idlen, user);
        if (c->will == NULL) {
            free(user);
            refuse(b, c, pk, MQR_RC_UNSPECIFIED_ERROR, "out of memory storing the will");
            return;
        }
        if (c->proto_ver == MQR_PROTO_V5)
            (void)mqr_packet_prop_get_int(&p->will_props, MQR_PROP_WILL_DELAY_INTERVAL,
                                          &c->will_delay_s);
    }
    int present = 0;
    brk_session_t *s = open_session(b, c, id, idlen, p->clean_start, &present, &why);
    if (s == NULL) {
        free(user);
        refuse(b, c, pk, MQR_RC_UNSPECIFIED_ERROR, why);
        return;
    }
    uint32_t expiry = 0;
    if (c->proto_ver == MQR_PROTO_V5)
        (void)mqr_packet_prop_get_int(&p->props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &expiry);
    else if (!p->clean_start)
        expiry = b->cfg.v3_session_expiry_s ? b->cfg.v3_session_expiry_s : NEVER_EXPIRE;
    s->expiry_s = expiry;
    s->expire_at = 0;
    s->conn = c;
    if (s->will != NULL) { /* back before the will delay ended: no will */
        brk_msg_unref(s->will);
        s->will = NULL;
    }
    free(s->username);
    s->username = user;
    c->username = user ? brk_strdup(user) : NULL;
    c->sess = s;
    c->keepalive = p->keepalive;
    if (c->proto_ver == MQR_PROTO_V5 && b->cfg.max_keepalive != 0 &&
        (p->keepalive == 0 || p->keepalive > b->cfg.max_keepalive)) {
        c->keepalive = (uint16_t)b->cfg.max_keepalive; /* told by Server-Keep-Alive */
        c->ka_server = 1;
    }
    c->clean_start = p->clean_start;
    c->state = BRK_CS_CONNECTED;
    c->connected_at = brk_now_wall(b);
    b->nconnected++;
    brk_log(b, 1, "client '%s' connected from %s (MQTT level %u, session %s)", s->clientid,
            c->peername, (unsigned)c->proto_ver, present ? "resumed" : "new");
    brk_ev_client(b, c, MQR_EVENT_CLIENT_CONNECTED, NULL);
    send_connack(b, c, 0, present, NULL, p->clientid.len == 0 ? id : NULL);
    brk_ev_connack(b, c, pk, 1, 0, 1);
    if (c->state == BRK_CS_CONNECTED && present)
        resume(b, s);
}

/* AUTH from a client whose CONNECT started enhanced authentication: on
 * success the kept CONNECT goes on through handle_connect(); otherwise it is
 * refused (not_authorized, or protocol_error for an AUTH out of turn). */
static void auth_continue(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth)
{
    const char *why = "";
    int ok = brk_authn_step(b, c, auth, &why);
    uint8_t *buf = c->pending_connect;
    c->pending_connect = NULL;
    mqr_packet_t pk;
    size_t used = 0;
    mqr_packet_opts_t o = c->stream.opts;
    o.proto_ver = 0;
    if (mqr_packet_decode(buf, c->pending_len, &o, &pk, &used, NULL) != MQR_OK) {
        free(buf);
        brk_conn_close(b, c, NULL);
        return;
    }
    if (ok == 1)
        handle_connect(b, c, &pk);
    else
        refuse(b, c, &pk, ok == 0 ? MQR_RC_NOT_AUTHORIZED : MQR_RC_PROTOCOL_ERROR, why);
    free(buf);
}

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
 * awaiting PUBREL than its Receive-Maximum), check the ACL, route it, then
 * acknowledge (PUBACK, or PUBREC keeping the id until PUBREL). */
static void handle_publish(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
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
            disconnect(b, c, arc, "protocol_error");
            return;
        }
    }
    if (p->qos > b->cfg.max_qos) {
        disconnect(b, c, MQR_RC_QOS_NOT_SUPPORTED, "protocol_error");
        return;
    }
    if (p->retain && !b->cfg.retain_available) {
        disconnect(b, c, MQR_RC_RETAIN_NOT_SUPPORTED, "protocol_error");
        return;
    }
    if (b->cfg.max_topic_levels != 0 &&
        brk_topic_levels(topic, tlen) > b->cfg.max_topic_levels) {
        b->stats.refused_topic_levels++;
        brk_log(b, 0, "client '%s': PUBLISH topic has more than max_topic_levels (%u) levels",
                s->clientid, b->cfg.max_topic_levels);
        disconnect(b, c, MQR_RC_TOPIC_NAME_INVALID, "protocol_error");
        return;
    }
    if (p->qos == 2 && rx2_has(s, p->packet_id)) { /* a resent QoS 2 message */
        send_simple(b, c, MQR_PKT_PUBREC, p->packet_id, 0);
        return;
    }
    if (p->qos == 2 && c->proto_ver == MQR_PROTO_V5 && s->nrx2 >= b->cfg.receive_max) {
        brk_log(b, 0, "client '%s': more than %u QoS 2 messages awaiting PUBREL", s->clientid,
                (unsigned)b->cfg.receive_max);
        disconnect(b, c, MQR_RC_RECEIVE_MAXIMUM_EXCEEDED, "receive_maximum_exceeded");
        return;
    }
    int allow = !is_events_topic(topic, tlen) && !(tlen >= 4 && memcmp(topic, "$SYS", 4) == 0) &&
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
    brk_msg_t *m = msg_new(b, topic, tlen, p->payload.ptr, p->payload.len, p->qos,
                           p->retain, c->proto_ver == MQR_PROTO_V5 ? &p->props : NULL,
                           s->clientid, s->clientid_len, c->username);
    if (m == NULL) {
        disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    b->stats.msgs_received++;
    size_t n = publish_msg(b, c, m, NULL, 0);
    brk_msg_unref(m);
    if (c->state == BRK_CS_CLOSED || p->qos == 0)
        return;
    if (p->qos == 2) {
        if (grow((void **)&s->rx2, &s->caprx2, s->nrx2, sizeof *s->rx2) == 0)
            s->rx2[s->nrx2++] = p->packet_id;
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

static void inflight_done(broker_t *b, brk_session_t *s, int i, int acked)
{
    brk_inflight_t f = s->infl[i];
    memmove(&s->infl[i], &s->infl[i + 1], (s->ninfl - (uint32_t)i - 1) * sizeof *s->infl);
    s->ninfl--;
    if (acked)
        brk_ev_msg(b, MQR_EVENT_MESSAGE_ACKED, f.msg, s, f.qos, NULL);
    brk_msg_unref(f.msg);
    drain(b, s);
}

/* PUBACK, PUBREC, PUBREL and PUBCOMP: advance the QoS 1/2 handshakes in
 * both directions. */
static void handle_ack(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint16_t pid = pk->ack.packet_id;
    int i = find_inflight(s, pid);
    switch (pk->type) {
    case MQR_PKT_PUBACK:
        if (i >= 0 && s->infl[i].qos == 1)
            inflight_done(b, s, i, 1);
        break;
    case MQR_PKT_PUBREC:
        if (i >= 0 && s->infl[i].qos == 2 && s->infl[i].state == 0) {
            if (pk->ack.reason_code >= 0x80) {
                inflight_done(b, s, i, 0);
                break;
            }
            s->infl[i].state = 1;
            send_simple(b, c, MQR_PKT_PUBREL, pid, 0);
        } else if (i < 0) {
            send_simple(b, c, MQR_PKT_PUBREL, pid,
                        c->proto_ver == MQR_PROTO_V5 ? MQR_RC_PACKET_IDENTIFIER_NOT_FOUND : 0);
        }
        break;
    case MQR_PKT_PUBCOMP:
        if (i >= 0 && s->infl[i].state == 1)
            inflight_done(b, s, i, 1);
        break;
    case MQR_PKT_PUBREL: {
        int found = 0;
        for (uint32_t k = 0; k < s->nrx2; k++) {
            if (s->rx2[k] == pid) {
                s->rx2[k] = s->rx2[--s->nrx2];
                found = 1;
                break;
            }
        }
        send_simple(b, c, MQR_PKT_PUBCOMP, pid,
                    !found && c->proto_ver == MQR_PROTO_V5 ? MQR_RC_PACKET_IDENTIFIER_NOT_FOUND
                                                           : 0);
        break;
    }
    default:
        break;
    }
}

/* ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------- */

/* Send the retained messages matching `sub`; expired ones are removed
 * from the store instead. */
static void send_retained(broker_t *b, brk_session_t *s, const brk_sub_t *sub)
{
    int64_t now = brk_wall_ms();
    size_t i = 0;
    while (i < b->retained.count) {
        brk_msg_t *m = b->retained.items[i];
        if (m->has_expiry && now - m->received_at >= (int64_t)m->expiry_s * 1000) {
            b->retained.items[i] = b->retained.items[--b->retained.count];
            brk_msg_unref(m);
            continue;
        }
        if (mqr_topic_match(sub->filter, sub->len, m->topic, m->topic_len))
            deliver_ids(b, s, m, m->qos < sub->qos ? m->qos : sub->qos, 1, &sub->sub_id,
                        sub->sub_id != 0);
        i++;
    }
}

/* Add or replace a subscription (share_len: length of its "$share/GROUP/"
 * prefix, 0 when not shared; sub_id: its Subscription-Identifier or 0).
 * Returns 1 if it is new, 0 if replaced, -1 when out of memory, -2 when a
 * new one would exceed max_subscriptions. */
static int sub_put(broker_t *b, brk_session_t *s, const mqr_subscription_t *e, int qos,
                   size_t share_len, uint32_t sub_id)
{
    for (uint32_t i = 0; i < s->nsubs; i++) {
        brk_sub_t *sub = &s->subs[i];
        if (sub->len == e->filter.len && memcmp(sub->filter, e->filter.ptr, sub->len) == 0) {
            sub->qos = (uint8_t)qos;
            sub->no_local = e->no_local;
            sub->rap = e->retain_as_published;
            sub->sub_id = sub_id;
            return 0;
        }
    }
    if (b->cfg.max_subscriptions != 0 && s->nsubs >= b->cfg.max_subscriptions)
        return -2;
    if (grow((void **)&s->subs, &s->capsubs, s->nsubs, sizeof *s->subs) != 0)
        return -1;
    brk_sub_t *sub = &s->subs[s->nsubs];
    sub->filter = malloc(e->filter.len + 1);
    if (sub->filter == NULL)
        return -1;
    memcpy(sub->filter, e->filter.ptr, e->filter.len);
    sub->filter[e->filter.len] = 0;
    if (mqr__trie_insert(&b->subs, sub->filter + share_len, e->filter.len - share_len, s) !=
        MQR_OK) {
        free(sub->filter);
        return -1;
    }
    sub->share_len = (uint16_t)share_len;
    sub->sub_id = sub_id;
    sub->len = (uint16_t)e->filter.len;
    sub->qos = (uint8_t)qos;
    sub->no_local = e->no_local;
    sub->rap = e->retain_as_published;
    s->nsubs++;
    return 1;
}

/* SUBSCRIBE: a code per filter ($events and ACL refusals, malformed shared
 * subscriptions, QoS capped at max_qos), the SUBACK, then the events and
 * retained messages of the granted filters (none for shared ones, MQTT 5
 * 4.8.2). A Subscription-Identifier applies to every filter of the packet. */
static void handle_subscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint8_t codes_stack[64];
    uint8_t *codes = pk->subscribe.count <= 64 ? codes_stack : malloc(pk->subscribe.count);
    if (codes == NULL) {
        disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
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
        } else if (is_events_topic(e.filter.ptr + share, e.filter.len - share) ||
                   !brk_acl_allows(b, c->username, e.filter.ptr + share, e.filter.len - share,
                                   BRK_ACC_READ)) {
            code = v5 ? b->cfg.sub_refused_v5 : 0x80;
            if (!why[0])
                snprintf(why, sizeof why, "subscription to '%.*s' refused: %s", fl, e.filter.ptr,
                         is_events_topic(e.filter.ptr + share, e.filter.len - share)
                             ? "$events topics are not subscribable"
                             : "not authorized by ACL");
            brk_ev_authz(b, c, e.filter.ptr, e.filter.len, 0, 0);
            brk_log(b, 1, "client '%s': subscription to '%.*s' not authorized", s->clientid,
                    (int)e.filter.len, e.filter.ptr);
        } else {
            brk_ev_authz(b, c, e.filter.ptr, e.filter.len, 0, 1);
            int added = sub_put(b, s, &e, qos, share, sub_id);
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
        disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
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
        brk_ev_sub(b, c, MQR_EVENT_SESSION_SUBSCRIBED, e.filter.ptr, e.filter.len, code & 3);
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
static void handle_unsubscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    brk_session_t *s = c->sess;
    uint8_t stack[64];
    uint32_t cnt = pk->unsubscribe.count;
    uint8_t *codes = cnt <= 64 ? stack : malloc(cnt);
    if (codes == NULL) {
        disconnect(b, c, MQR_RC_UNSPECIFIED_ERROR, "internal_error");
        return;
    }
    mqr_packet_iter_t it;
    mqr_str_t f;
    uint32_t n = 0;
    char why[320];
    why[0] = 0;
    mqr_packet_iter_filters(&it, pk);
    while (mqr_packet_filter_next(&it, &f) && n < cnt) {
        int found = 0;
        for (uint32_t i = 0; i < s->nsubs; i++) {
            if (s->subs[i].len == f.len && memcmp(s->subs[i].filter, f.ptr, f.len) == 0) {
                size_t sl = s->subs[i].share_len;
                (void)mqr__trie_remove(&b->subs, s->subs[i].filter + sl, s->subs[i].len - sl, s);
                free(s->subs[i].filter);
                s->subs[i] = s->subs[--s->nsubs];
                found = 1;
                break;
            }
        }
        if (found)
            brk_ev_sub(b, c, MQR_EVENT_SESSION_UNSUBSCRIBED, f.ptr, f.len, 0);
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

/* ---- dispatch -------------------------------------------------------------------------- */

/* DISCONNECT: drop the will unless 0x04 asks for it, take a new session
 * expiry (not from 0 to non-zero: protocol error), close. */
static void handle_disconnect(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    int rc = pk->disconnect.reason_code;
    if (rc != MQR_RC_DISCONNECT_WITH_WILL_MESSAGE && c->will != NULL) {
        brk_msg_unref(c->will);
        c->will = NULL;
    }
    uint32_t exp;
    if (c->proto_ver == MQR_PROTO_V5 && c->sess != NULL &&
        mqr_packet_prop_get_int(&pk->disconnect.props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &exp) ==
            MQR_OK) {
        if (c->sess->expiry_s == 0 && exp != 0) {
            disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
            return;
        }
        c->sess->expiry_s = exp;
    }
    brk_conn_close(b, c, "normal");
}

/* Handle one decoded packet of connection `c`: CONNECT first, then the
 * packets of a connected client. */
void brk_mqtt_packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p)
{
    if (c->state == BRK_CS_NEW) {
        if (p->type == MQR_PKT_CONNECT && c->pending_connect == NULL) {
            handle_connect(b, c, p);
        } else if (p->type == MQR_PKT_AUTH && c->pending_connect != NULL) {
            auth_continue(b, c, p);
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
        disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
        break;
    case MQR_PKT_PUBLISH:
        handle_publish(b, c, p);
        break;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBREC:
    case MQR_PKT_PUBREL:
    case MQR_PKT_PUBCOMP:
        handle_ack(b, c, p);
        break;
    case MQR_PKT_SUBSCRIBE:
        handle_subscribe(b, c, p);
        break;
    case MQR_PKT_UNSUBSCRIBE:
        handle_unsubscribe(b, c, p);
        break;
    case MQR_PKT_PINGREQ:
        send_simple(b, c, MQR_PKT_PINGRESP, 0, 0);
        break;
    case MQR_PKT_DISCONNECT:
        handle_disconnect(b, c, p);
        break;
    case MQR_PKT_AUTH: { /* re-authentication */
        int rc = brk_authn_reauth(b, c, p);
        if (rc != 0)
            disconnect(b, c, rc, rc == MQR_RC_NOT_AUTHORIZED ? "not_authorized" : "protocol_error");
        break;
    }
    default:
        disconnect(b, c, MQR_RC_PROTOCOL_ERROR, "protocol_error");
        break;
    }
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
        disconnect(b, c, mqr_reason_valid_in(rc, MQR_PKT_DISCONNECT) ? rc
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
        send_connack(b, c, rc, 0, diag->message, NULL);
    log_refusal(b, c, &p.connect, rc, diag->message);
    brk_ev_connack(b, c, &p, 0, rc, sent);
    brk_conn_close(b, c, NULL);
}

/* The connection is closing: will, client.disconnected, session expiry. */
void brk_mqtt_conn_lost(broker_t *b, brk_conn_t *c)
{
    if (c->state != BRK_CS_CONNECTED)
        return;
    b->nconnected--;
    const char *reason = c->close_reason ? c->close_reason : "tcp_closed";
    brk_log(b, 1, "client '%s' from %s disconnected: %s", c->sess ? c->sess->clientid : "?",
            c->peername, reason);
    c->state = BRK_CS_NEW; /* no more sends to this socket */
    brk_msg_t *will = c->will;
    c->will = NULL;
    brk_ev_client(b, c, MQR_EVENT_CLIENT_DISCONNECTED, reason);
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
        }
        if (s->expiry_s == 0)
            sess_destroy(b, s);
        else if (s->expiry_s != NEVER_EXPIRE)
            s->expire_at = brk_mono_ms() + (int64_t)s->expiry_s * 1000;
    }
    if (will != NULL) {
        publish_msg(b, NULL, will, NULL, 0);
        brk_msg_unref(will);
    }
}

/* Once a second: CONNECT timeouts, keep alive (1.5 x), session expiry. */
void brk_mqtt_tick(broker_t *b, int64_t now)
{
    brk_conn_t *nx;
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
            disconnect(b, c, MQR_RC_KEEPALIVE_TIMEOUT, "keepalive_timeout");
        }
    }
    for (size_t i = 0; i < b->stab_size; i++) {
        brk_session_t *snx;
        for (brk_session_t *s = b->stab[i]; s != NULL; s = snx) {
            snx = s->hnext;
            if (s->will != NULL && s->conn == NULL && now >= s->will_at) {
                brk_msg_t *w = s->will;
                s->will = NULL;
                publish_msg(b, NULL, w, NULL, 0);
                brk_msg_unref(w);
            }
            if (s->conn == NULL && s->expire_at != 0 && now >= s->expire_at)
                sess_destroy(b, s);
        }
    }
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
            sess_destroy(b, b->stab[i]);
    }
    free(b->stab);
    b->stab = NULL;
    b->stab_size = 0;
    mqr__trie_walk_free(&b->walk, NULL);
    mqr__trie_free(&b->subs);
    for (size_t i = 0; i < b->retained.count; i++)
        brk_msg_unref(b->retained.items[i]);
    free(b->retained.items);
    brk5_share_free(b);
}
