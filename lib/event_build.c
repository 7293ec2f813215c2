/* SPDX-License-Identifier: MIT */
/*
 * event_build.c - builds every event but client.connack (event_connack.c)
 * and message.publish (the engine's message columns) from the facts a host
 * hands over: a connection (mqr_event_conn_t), a message (mqr_event_msg_t),
 * the packet the event is about and a few loose facts (mqr_event_input_t).
 *
 * How it works: each event id has a template (event_int.h) made once from
 * the static schema: the members in schema order with `event` set and the
 * rest undefined, and the position of every column a builder knows. A build
 * copies the template's members into one arena array and writes each value
 * straight into its position (put()); a column the event's schema lacks is
 * skipped by the same lookup, so one filler per family of events (client,
 * session, message, alarm) serves all its members. Strings borrow the
 * host's pointers and the packets' bytes; the arena holds the members, the
 * address texts, and the property maps (mqr__event_props). Once the arena
 * is warm a build makes no heap allocation.
 */
#include <string.h>

#include "event_int.h"
#include "internal.h"

static const struct {
    const char *name;
    uint32_t len;
} col_names[MQR__EVCOL_COUNT] = {
#define COL_NAME(n) {#n, sizeof #n - 1},
    MQR__EVCOLS(COL_NAME)
#undef COL_NAME
};

#define C(n) MQR__EVCOL_##n

void mqr__event_tmpl_init(mqr__ev_tmpl_t *t, uint32_t id)
{
    const mqr_event_schema_t *sc = mqr_event_at(id);
    memset(t, 0, sizeof *t);
    memset(t->slot, -1, sizeof t->slot);
    t->id = id;
    if (!sc)
        return;
    t->n = sc->field_count;
    for (uint32_t i = 0; i < sc->field_count; i++) {
        const mqr_event_field_t *f = &sc->fields[i];
        mqr_member_t *m = &t->members[i];
        m->key = f->name;
        m->key_len = f->name_len;
        mqr_value_set_undefined(&m->value);
        if (f->name_len == 5 && memcmp(f->name, "event", 5) == 0) {
            mqr_value_set_string(&m->value, sc->name, strlen(sc->name));
            m->value.flags = MQR_VALF_ATOM;
        }
        for (int k = 0; k < MQR__EVCOL_COUNT; k++)
            if (col_names[k].len == f->name_len && !memcmp(col_names[k].name, f->name, f->name_len))
                t->slot[k] = (int8_t)i;
    }
}

void mqr_event_conn_init(mqr_event_conn_t *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->keepalive = -1;
    c->clean_start = -1;
}

void mqr_event_msg_init(mqr_event_msg_t *m)
{
    if (m)
        memset(m, 0, sizeof *m);
}

void mqr_event_input_init(mqr_event_input_t *in)
{
    if (in)
        memset(in, 0, sizeof *in);
}

/* ---- putting values in place ------------------------------------------------------------ */

/* One build: the members being filled and where their memory comes from. */
typedef struct bld {
    const mqr__ev_tmpl_t *t;
    mqr_member_t *m;
    mqr_arena_t *a;
    const char *what; /* the event's name, for errors */
    mqr_diag_t *diag;
} bld_t;

/* The value of column `col`, or NULL when the event has no such column. */
static mqr_value_t *at(const bld_t *b, int col)
{
    int s = b->t->slot[col];
    return s >= 0 ? &b->m[s].value : NULL;
}

static void put_str(const bld_t *b, int col, const char *s, size_t len)
{
    mqr_value_t *v = at(b, col);
    if (v && s)
        mqr_value_set_string(v, s, len);
}

static void put_atom(const bld_t *b, int col, const char *s, size_t len)
{
    mqr_value_t *v = at(b, col);
    if (v && s) {
        mqr_value_set_string(v, s, len);
        v->flags = MQR_VALF_ATOM;
    }
}

static void put_int(const bld_t *b, int col, int64_t i)
{
    mqr_value_t *v = at(b, col);
    if (v)
        mqr_value_set_int(v, i);
}

/* A boolean column; a negative `x` (unknown) leaves it undefined. */
static void put_bool(const bld_t *b, int col, int64_t x)
{
    mqr_value_t *v = at(b, col);
    if (v && x >= 0)
        mqr_value_set_bool(v, x != 0);
}

/* An empty object ({}: no members, nothing allocated). */
static void put_empty(const bld_t *b, int col)
{
    mqr_value_t *v = at(b, col);
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = MQR_VAL_OBJECT;
    }
}

/* The text of `addr` (with the port, or the host only) in the arena; an
 * unknown address leaves the column undefined. MQR_OK or MQR_ENOMEM. */
static int put_addr(const bld_t *b, int col, const mqr_sockaddr_t *addr, int with_port)
{
    char text[MQR_ADDR_TEXT_MAX];
    size_t n;
    mqr_value_t *v = at(b, col);
    if (!v || mqr_sockaddr_format(addr, with_port, text, sizeof text, &n) != MQR_OK)
        return MQR_OK;
    char *copy = mqr_arena_alloc(b->a, n);
    if (!copy)
        return MQR_ENOMEM;
    memcpy(copy, text, n);
    mqr_value_set_string(v, copy, n);
    return MQR_OK;
}

/* peername and peerhost from one address: formatted once, "ip:port", and
 * peerhost is its prefix up to the last ':' (the same arena bytes). */
static int put_peer(const bld_t *b, const mqr_sockaddr_t *addr)
{
    mqr_value_t *name = at(b, C(peername)), *host = at(b, C(peerhost));
    if (!host)
        return put_addr(b, C(peername), addr, 1);
    int st = put_addr(b, C(peerhost), addr, 1);
    if (st != MQR_OK || host->type != MQR_VAL_STRING)
        return st;
    if (name)
        *name = *host;
    while (host->len > 0 && host->u.s[host->len - 1] != ':')
        host->len--;
    if (host->len > 0)
        host->len--;
    return MQR_OK;
}

/* A property map from `props` (NULL: {"User-Property": {}}). */
static int put_props(const bld_t *b, int col, const mqr_props_t *props)
{
    mqr_value_t *v = at(b, col);
    return v ? mqr__event_props(b->a, props, b->what, v, b->diag) : MQR_OK;
}

/* ---- the families ----------------------------------------------------------------------- */

/* The columns every client event takes from the connection. */
static int fill_conn(const bld_t *b, const mqr_event_conn_t *c)
{
    put_str(b, C(clientid), c->clientid, c->clientid_len);
    put_str(b, C(username), c->username, c->username_len);
    put_str(b, C(mountpoint), c->mountpoint, c->mountpoint_len);
    if (c->proto_ver > 0) {
        if (c->proto_ver == MQR_PROTO_V31)
            put_str(b, C(proto_name), "MQIsdp", 6);
        else
            put_str(b, C(proto_name), "MQTT", 4);
        put_int(b, C(proto_ver), c->proto_ver);
    }
    if (c->keepalive >= 0)
        put_int(b, C(keepalive), c->keepalive);
    put_bool(b, C(clean_start), c->clean_start);
    put_int(b, C(receive_maximum), c->receive_maximum);
    put_bool(b, C(is_bridge), c->is_bridge);
    put_bool(b, C(is_superuser), c->is_superuser);
    if (c->connected_at_ms)
        put_int(b, C(connected_at), c->connected_at_ms);
    /* D10: seconds in client.connected, milliseconds in client.ping */
    if (b->t->id == MQR_EVENT_CLIENT_PING)
        put_int(b, C(expiry_interval), c->expiry_interval_s * 1000);
    else
        put_int(b, C(expiry_interval), c->expiry_interval_s);
    int st = put_peer(b, &c->peer);
    if (st == MQR_OK)
        st = put_addr(b, C(sockname), &c->sock, 1);
    if (st == MQR_OK)
        st = put_props(b, C(conn_props), &c->conn_props);
    return st;
}

/* The packet of the event, checked to be of type `type` (a second type
 * `type2` when not 0). NULL when there is none. */
static int packet_of(const bld_t *b, const mqr_packet_t *p, int type, int type2,
                     const mqr_props_t **out)
{
    *out = NULL;
    if (!p)
        return MQR_OK;
    if (p->type != type && (type2 == 0 || p->type != type2))
        return mqr__diag_set(b->diag, MQR_EINVAL, "%s: packet type %u does not belong here",
                             b->what, (unsigned)p->type);
    switch (p->type) {
    case MQR_PKT_DISCONNECT:
        *out = &p->disconnect.props;
        break;
    case MQR_PKT_SUBSCRIBE:
        *out = &p->subscribe.props;
        break;
    case MQR_PKT_UNSUBSCRIBE:
        *out = &p->unsubscribe.props;
        break;
    case MQR_PKT_CONNECT:
        *out = &p->connect.props;
        break;
    default:
        *out = &p->ack.props;
        break;
    }
    return MQR_OK;
}

/* The columns of a message (spec §5) shared by the message events. */
static int fill_msg(const bld_t *b, const mqr_event_msg_t *m)
{
    put_str(b, C(id), m->id, m->id_len);
    put_str(b, C(payload), m->payload ? m->payload : "", m->payload_len);
    put_str(b, C(topic), m->topic, m->topic_len);
    put_int(b, C(qos), m->qos);
    put_int(b, C(publish_received_at), m->publish_received_at_ms);
    mqr_value_t *fl = at(b, C(flags));
    if (fl) {
        mqr_member_t *f = mqr_arena_alloc(b->a, 2 * sizeof *f);
        if (!f)
            return MQR_ENOMEM;
        memset(f, 0, 2 * sizeof *f);
        f[0].key = "dup";
        f[0].key_len = 3;
        mqr_value_set_bool(&f[0].value, m->dup != 0);
        f[1].key = "retain";
        f[1].key_len = 6;
        mqr_value_set_bool(&f[1].value, m->retain != 0);
        memset(fl, 0, sizeof *fl);
        fl->type = MQR_VAL_OBJECT;
        fl->len = 2;
        fl->u.members = f;
    }
    return put_props(b, C(pub_props), &m->props);
}

/* message.delivered / acked / dropped, delivery.dropped, schema and
 * transformation failures. */
static int fill_message_event(const bld_t *b, const mqr_event_input_t *in)
{
    const mqr_event_msg_t *m = in->msg;
    if (!m)
        return mqr__diag_set(b->diag, MQR_EINVAL, "%s: no message", b->what);
    int st = fill_msg(b, m);
    if (st != MQR_OK)
        return st;
    uint32_t id = b->t->id;
    if (id == MQR_EVENT_MESSAGE_DELIVERED || id == MQR_EVENT_MESSAGE_ACKED ||
        id == MQR_EVENT_DELIVERY_DROPPED) {
        /* sender in from_*, receiver (the connection) in clientid, username, peer */
        put_str(b, C(from_clientid), m->from_clientid, m->from_clientid_len);
        put_str(b, C(from_username), m->from_username, m->from_username_len);
        if (in->conn) {
            put_str(b, C(clientid), in->conn->clientid, in->conn->clientid_len);
            put_str(b, C(username), in->conn->username, in->conn->username_len);
            st = put_peer(b, &in->conn->peer);
        }
    } else {
        /* the publisher is the client of the event */
        put_str(b, C(clientid), m->from_clientid, m->from_clientid_len);
        put_str(b, C(username), m->from_username, m->from_username_len);
        st = put_peer(b, &m->from_peer);
    }
    if (id == MQR_EVENT_SCHEMA_VALIDATION_FAILED)
        put_str(b, C(validation), in->reason, in->reason_len);
    else if (id == MQR_EVENT_MESSAGE_TRANSFORMATION_FAILED)
        put_str(b, C(transformation), in->reason, in->reason_len);
    else
        put_atom(b, C(reason), in->reason, in->reason_len);
    if (st == MQR_OK && id == MQR_EVENT_MESSAGE_ACKED) {
        const mqr_props_t *props;
        /* the receiver's PUBACK (QoS 1); for QoS 2 the PUBREC (EMQX) or the
         * PUBCOMP, whichever the host counts as the acknowledgement */
        int t = in->packet ? in->packet->type : MQR_PKT_PUBACK;
        st = packet_of(b, in->packet, t == MQR_PKT_PUBCOMP ? MQR_PKT_PUBCOMP : MQR_PKT_PUBACK,
                       MQR_PKT_PUBREC, &props);
        if (st == MQR_OK)
            st = put_props(b, C(puback_props), props);
    }
    return st;
}

/* client.* and session.* events. */
static int fill_client_event(const bld_t *b, const mqr_event_input_t *in)
{
    uint32_t id = b->t->id;
    const mqr_event_conn_t *c = in->conn;
    mqr_event_conn_t none;
    if (!c) {
        mqr_event_conn_init(&none);
        c = &none;
    }
    int st = fill_conn(b, c);
    if (st != MQR_OK)
        return st;
    const mqr_props_t *props = NULL;
    switch (id) {
    case MQR_EVENT_CLIENT_DISCONNECTED:
        put_atom(b, C(reason), in->reason, in->reason_len);
        put_int(b, C(disconnected_at), in->at_ms ? in->at_ms : in->timestamp_ms);
        st = packet_of(b, in->packet, MQR_PKT_DISCONNECT, 0, &props);
        if (st == MQR_OK)
            st = put_props(b, C(disconn_props), props);
        break;
    case MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE: {
        /* a CONNECT names the client when the connection does not yet */
        const mqr_packet_t *p = in->packet;
        if (p && p->type != MQR_PKT_CONNECT)
            return mqr__diag_set(b->diag, MQR_EINVAL, "%s: packet type %u is not CONNECT",
                                 b->what, (unsigned)p->type);
        if (p && !c->clientid)
            put_str(b, C(clientid), p->connect.clientid.ptr ? p->connect.clientid.ptr : "",
                    p->connect.clientid.len);
        if (p && !c->username)
            put_str(b, C(username), p->connect.username.ptr, p->connect.username.len);
        int anonymous = c->username ? 0 : !(p && p->connect.username.ptr);
        put_bool(b, C(is_anonymous), anonymous);
        if (in->reason)
            put_atom(b, C(reason_code), in->reason, in->reason_len);
        else {
            const char *r = mqr_reason_name(in->reason_code);
            put_atom(b, C(reason_code), r, strlen(r));
        }
        break;
    }
    case MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE: {
        const char *src = in->authz_source ? in->authz_source : "default";
        put_str(b, C(topic), in->topic, in->topic_len);
        put_atom(b, C(action), in->action ? "publish" : "subscribe", in->action ? 7 : 9);
        put_atom(b, C(authz_source), src, strlen(src));
        put_atom(b, C(result), in->allow ? "allow" : "deny", in->allow ? 5 : 4);
        break;
    }
    case MQR_EVENT_SESSION_SUBSCRIBED:
    case MQR_EVENT_SESSION_UNSUBSCRIBED:
        put_str(b, C(topic), in->topic, in->topic_len);
        put_int(b, C(qos), in->qos);
        st = packet_of(b, in->packet,
                       id == MQR_EVENT_SESSION_SUBSCRIBED ? MQR_PKT_SUBSCRIBE : MQR_PKT_UNSUBSCRIBE,
                       0, &props);
        if (st == MQR_OK)
            st = put_props(b, id == MQR_EVENT_SESSION_SUBSCRIBED ? C(sub_props) : C(unsub_props),
                           props);
        break;
    default:
        break;
    }
    return st;
}

/* alarm.activated / alarm.deactivated. */
static void fill_alarm(const bld_t *b, const mqr_event_input_t *in)
{
    put_str(b, C(name), in->reason, in->reason_len);
    put_str(b, C(message), in->message, in->message ? strlen(in->message) : 0);
    mqr_value_t *d = at(b, C(details));
    if (d && in->details && in->details->type == MQR_VAL_OBJECT)
        *d = *in->details;
    else
        put_empty(b, C(details));
    put_int(b, C(activated_at), in->at_ms ? in->at_ms : in->timestamp_ms);
    put_int(b, C(deactivated_at), in->deactivated_at_ms ? in->deactivated_at_ms : in->timestamp_ms);
}

int mqr__event_build(const mqr__ev_tmpl_t *t, const mqr_event_input_t *in, mqr_arena_t *arena,
                     uint32_t spare, int64_t now, const char *node, size_t node_len,
                     mqr_value_t *out, mqr_diag_t *diag)
{
    const mqr_event_schema_t *sc = mqr_event_at(t->id);
    bld_t b = {t, NULL, arena, sc->name, diag};
    mqr_member_t *m = mqr_arena_alloc(arena, ((size_t)t->n + spare) * sizeof *m);
    if (!m)
        return mqr__diag_set(diag, MQR_ENOMEM, "%s: arena exhausted", sc->name);
    memcpy(m, t->members, t->n * sizeof *m);
    b.m = m;
    mqr_event_input_t loc = *in;
    if (!loc.timestamp_ms)
        loc.timestamp_ms = now;
    put_empty(&b, C(client_attrs));
    int st;
    switch (t->id) {
    case MQR_EVENT_ALARM_ACTIVATED:
    case MQR_EVENT_ALARM_DEACTIVATED:
        fill_alarm(&b, &loc);
        st = MQR_OK;
        break;
    case MQR_EVENT_MESSAGE_DELIVERED:
    case MQR_EVENT_MESSAGE_ACKED:
    case MQR_EVENT_MESSAGE_DROPPED:
    case MQR_EVENT_DELIVERY_DROPPED:
    case MQR_EVENT_SCHEMA_VALIDATION_FAILED:
    case MQR_EVENT_MESSAGE_TRANSFORMATION_FAILED:
        st = fill_message_event(&b, &loc);
        break;
    default:
        st = fill_client_event(&b, &loc);
        break;
    }
    if (st == MQR_ENOMEM)
        return mqr__diag_set(diag, MQR_ENOMEM, "%s: arena exhausted", sc->name);
    if (st != MQR_OK)
        return st;
    put_int(&b, C(timestamp), loc.timestamp_ms);
    put_atom(&b, C(node), node, node_len);
    memset(out, 0, sizeof *out);
    out->type = MQR_VAL_OBJECT;
    out->len = t->n;
    out->reserved_ = 0; /* built by hand: a put past the end copies it (value.h) */
    out->u.members = m;
    return MQR_OK;
}

int mqr_event_build(uint32_t event_id, const mqr_event_input_t *in, mqr_arena_t *arena,
                    mqr_value_t *out_event, mqr_diag_t *diag)
{
    if (!in || !arena || !out_event)
        return mqr__diag_set(diag, MQR_EINVAL, "event: NULL argument");
    mqr_value_set_undefined(out_event);
    if (event_id >= MQR_EVENT_COUNT || event_id == MQR_EVENT_CLIENT_CONNACK ||
        event_id == MQR_EVENT_MESSAGE_PUBLISH)
        return mqr__diag_set(diag, MQR_ENOTFOUND,
                             "event: id %u is not built from mqr_event_input_t", event_id);
    mqr__ev_tmpl_t t;
    mqr__event_tmpl_init(&t, event_id);
    mqr_value_t ev;
    int st = mqr__event_build(&t, in, arena, 0, 0, in->node, in->node_len, &ev, diag);
    if (st == MQR_OK)
        *out_event = ev;
    return st;
}
