/* SPDX-License-Identifier: MIT */
/*
 * route.c - routing and retained messages: the subscription trie (the
 * library's, shared with the engine), one delivery per session at the
 * highest matching QoS with every Subscription-Identifier, shared
 * subscriptions round-robin, the retained store's caps (the store itself
 * is retain.c), and the messages rules republish, with their cascade budget.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- routing and retained messages -------------------------------------------------------- */

int mq_is_events_topic(const char *t, size_t len)
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
void mq_deliver_ids(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                        const uint32_t *ids, size_t n)
{
    if (n == 0) {
        mq_deliver(b, s, m, qos, retain);
        return;
    }
    brk_msg_t *copy = brk5_msg_with_subids(m, ids, n);
    if (copy == NULL) {
        brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, qos, "internal_error", NULL);
        return;
    }
    mq_deliver(b, s, copy, qos, retain);
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
            brk_ev_msg(b, MQR_EVENT_DELIVERY_DROPPED, m, s, m->qos, "no_local", NULL);
        return 0;
    }
    if (!brk_acl_allows(b, s->username, m->topic, m->topic_len, BRK_ACC_READ))
        return 0;
    mq_deliver_ids(b, s, m, best < m->qos ? best : m->qos, retain, ids, nids);
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
            mq_deliver_ids(b, pick, m, ps->qos < m->qos ? ps->qos : m->qos,
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
    int rc = mqr_topic_index_match(b->subs, m->topic, m->topic_len, route_visit, &r);
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

/* Count a retained message refused by max_retained_messages or
 * max_retained_bytes, and log it: the first refusal, then at every power of
 * two, so a flood of them leaves a few lines with the running count. */
void brk_retain_refused(broker_t *b, const char *topic, size_t len, const char *who)
{
    uint64_t n = ++b->stats.refused_retained;
    if ((n & (n - 1)) != 0)
        return;
    brk_log(b, 0,
            "retained message on '%.*s' from %s refused: the store holds %zu message(s), "
            "%zu byte(s) (max_retained_messages %u, max_retained_bytes %u; %llu refused so far)",
            (int)(len > 200 ? 200 : len), topic, who, b->retained.count, b->retained.bytes,
            b->cfg.max_retained_messages, b->cfg.max_retained_bytes, (unsigned long long)n);
}

/* Set, replace or (empty payload) clear the retained message of m's topic;
 * a message the caps refuse is still routed, without being kept. */
static void retain_store(broker_t *b, brk_msg_t *m)
{
    int rc = brk_retain_set(b, m);
    if (rc > 0)
        brk_retain_refused(b, m->topic, m->topic_len,
                           m->from_cid_len ? m->from_clientid : "the broker");
    else if (rc < 0)
        brk_log(b, 0, "retained message on '%s': out of memory, not kept", m->topic);
}

/* Hand a message to the engine, store it if retained, route it. */
size_t mq_publish_msg(broker_t *b, brk_conn_t *from, brk_msg_t *m, const char *rule_id,
                          int direct)
{
    brk_ev_publish(b, from, m, rule_id, direct);
    if (m->retain && b->cfg.retain_available)
        retain_store(b, m);
    size_t n = route(b, m);
    if (n == 0)
        brk_ev_msg(b, MQR_EVENT_MESSAGE_DROPPED, m, NULL, m->qos, "no_subscribers", NULL);
    return n;
}

/* Publish a message made inside the broker; `props` (NULL: none) are its
 * MQTT 5 properties as a PUBLISH carries them, cause[0..cause_len) the
 * engine's cause chain of a republished message, kept with it. */
static int publish_local(broker_t *b, const char *topic, size_t topic_len, const void *payload,
                         size_t payload_len, int qos, int retain, const mqr_props_t *props,
                         const char *rule_id, int direct_dispatch, const char *cause,
                         size_t cause_len)
{
    if (mqr_topic_validate_name(topic, topic_len, NULL) != MQR_OK)
        return MQR_ETOPIC;
    brk_msg_t *m = mq_msg_new(b, topic, topic_len, payload, payload_len, qos, retain, props, "", 0,
                           NULL);
    if (m == NULL)
        return MQR_ENOMEM;
    if (cause_len > 0 && (m->cause = malloc(cause_len)) != NULL) {
        memcpy(m->cause, cause, cause_len);
        m->cause_len = (uint32_t)cause_len;
    }
    mq_publish_msg(b, NULL, m, rule_id, direct_dispatch);
    brk_msg_unref(m);
    return MQR_OK;
}

int brk_mqtt_publish_local(broker_t *b, const char *topic, size_t topic_len, const void *payload,
                           size_t payload_len, int qos, int retain, const mqr_props_t *props,
                           const char *rule_id, int direct_dispatch)
{
    return publish_local(b, topic, topic_len, payload, payload_len, qos, retain, props, rule_id,
                         direct_dispatch, NULL, 0);
}

/* ---- cascades --------------------------------------------------------------------------- */

int brk_mqtt_cascade_begin(broker_t *b)
{
    if (b->cascade_busy)
        return 0;
    b->cascade_busy = 1;
    b->cascade_left = b->cfg.max_cascade_messages;
    b->cascade_noted = 0;
    return 1;
}

void brk_mqtt_cascade_end(broker_t *b, int began)
{
    if (began)
        b->cascade_busy = 0;
}

/*
 * A republish action's message. Rules whose output causes more events
 * (message.delivered of every subscriber, say) can fan out wide even when
 * no rule consumes its own output (the engine's cause chain stops that):
 * every message derived from one client packet or timer round takes one
 * unit of max_cascade_messages, and past it the republish fails (the
 * action counts it as failed), counted in refused.cascade and logged once
 * per packet. A pending SIGTERM or SIGINT ends a cascade as well, so the
 * loop gets to act on it.
 */
int brk_mqtt_republish(broker_t *b, const mqr_publish_msg_t *msg, const mqr_props_t *props)
{
    int stopping = b->stop_req != NULL && *b->stop_req;
    if (b->cascade_left == 0 || stopping) {
        b->stats.refused_cascade++;
        if (!b->cascade_noted) {
            b->cascade_noted = 1;
            brk_log(b, 0, "rule '%s': republish to '%.*s' refused: %s (%llu refused so far)",
                    msg->rule_id, (int)(msg->topic_len > 200 ? 200 : msg->topic_len),
                    msg->topic,
                    stopping ? "shutting down"
                             : "the packet's cascade budget (max_cascade_messages) is spent",
                    (unsigned long long)b->stats.refused_cascade);
        }
        return MQR_ELIMIT;
    }
    b->cascade_left--;
    return publish_local(b, msg->topic, msg->topic_len, msg->payload, msg->payload_len, msg->qos,
                         msg->retain, props, msg->rule_id, msg->direct_dispatch, msg->cause,
                         msg->cause_len);
}

/* Publish a $SYS message (sys.c): retained and routed like any other, but
 * without message.publish or message.dropped events, as EMQX does for its
 * system messages: they are no input for rules, and no subscriber is no
 * drop. */
int brk_mqtt_publish_sys(broker_t *b, const char *topic, const char *payload)
{
    size_t tl = strlen(topic);
    if (mqr_topic_validate_name(topic, tl, NULL) != MQR_OK)
        return MQR_ETOPIC;
    brk_msg_t *m = mq_msg_new(b, topic, tl, payload, strlen(payload), 0, 1, NULL, "", 0, NULL);
    if (m == NULL)
        return MQR_ENOMEM;
    if (b->cfg.retain_available && brk_retain_set(b, m) < 0)
        brk_log(b, 0, "$SYS: out of memory retaining '%s'", topic);
    (void)route(b, m);
    brk_msg_unref(m);
    return MQR_OK;
}
