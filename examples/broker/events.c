/* SPDX-License-Identifier: MIT */
/*
 * events.c - the seam between the broker and the rule engine's events. The
 * broker calls brk_ev_* at each point where EMQX runs a hook (CONNACK,
 * connected, disconnected, authentication and authorization results,
 * subscriptions, deliveries, acknowledgements, drops) and brk_ev_publish for
 * every PUBLISH; this file turns them into engine calls.
 *
 * client.connack goes through mqr_engine_emit_connack (the library's builder,
 * decision D2 for partial CONNECTs). The other events are built here as
 * objects of their fields (spec §4) in an arena that is reset before each
 * event, so a warm broker emits without heap allocation: each starts as a
 * copy of its event id's template (the schema's fields in order, made once),
 * the broker's values are written straight into their schema positions, and
 * the object goes to the engine by event id.
 */
#include <stdlib.h>
#include <string.h>

#include "events_int.h"

/* ---- building columns ------------------------------------------------------------- */

/*
 * The columns the broker fills in by name. One X-macro makes both the COL_*
 * ids and their names, so the two stay in step; each event's template maps
 * an id to the column's position in that event's object.
 */
#define BRK_COLS(X)                                                                        \
    X(action) X(authz_source) X(clean_start) X(clientid) X(connected_at) X(disconnected_at) \
    X(expiry_interval) X(flags) X(from_clientid) X(from_username) X(id) X(is_anonymous)    \
    X(is_bridge) X(is_superuser) X(keepalive) X(payload) X(peerhost) X(peername)            \
    X(proto_name) X(proto_ver) X(publish_received_at) X(qos) X(reason) X(reason_code)       \
    X(receive_maximum) X(result) X(sockname) X(topic) X(username)

enum {
#define BRK_COL_ID(n) COL_##n,
    BRK_COLS(BRK_COL_ID)
#undef BRK_COL_ID
    COL_COUNT
};

static const struct {
    const char *name;
    uint32_t len;
} col_names[COL_COUNT] = {
#define BRK_COL_NAME(n) {#n, sizeof #n - 1},
    BRK_COLS(BRK_COL_NAME)
#undef BRK_COL_NAME
};

/*
 * The per-event-id decisions of cols_begin, made once from the static schema
 * (mqr_event_at) and kept in brk_events_t: the members every event of that
 * id starts with (schema order, decision D3, without `timestamp` and `node`,
 * which the engine adds; `event` set, the rest undefined), the members that
 * start as a new object ({} or, for a property map, {"User-Property": {}}),
 * and where each COL_* column sits (-1: not in the schema, so put_* appends
 * it by name as before).
 */
struct brk_ev_tmpl {
    mqr_member_t *members;
    uint32_t n;        /* members */
    uint32_t nobjs;    /* entries in objs */
    uint32_t *objs;    /* members that start as an object: index << 1 | 1 for a property map */
    int16_t slot[COL_COUNT];
};

/* Build the template of event schema `sc`. NULL when out of memory. */
static brk_ev_tmpl_t *tmpl_create(const mqr_event_schema_t *sc)
{
    brk_ev_tmpl_t *t = calloc(1, sizeof *t);
    size_t cap = sc->field_count ? sc->field_count : 1;
    if (t == NULL)
        return NULL;
    t->members = calloc(cap, sizeof *t->members);
    t->objs = calloc(cap, sizeof *t->objs);
    if (t->members == NULL || t->objs == NULL) {
        brk_ev_tmpl_destroy(t);
        return NULL;
    }
    for (size_t k = 0; k < COL_COUNT; k++)
        t->slot[k] = -1;
    for (uint32_t i = 0; i < sc->field_count; i++) {
        const mqr_event_field_t *f = &sc->fields[i];
        if (!strcmp(f->name, "timestamp") || !strcmp(f->name, "node"))
            continue;
        mqr_member_t *m = &t->members[t->n];
        m->key = f->name;
        m->key_len = f->name_len;
        mqr_value_set_undefined(&m->value);
        if (!strcmp(f->name, "event")) {
            mqr_value_set_string(&m->value, sc->name, strlen(sc->name));
            m->value.flags = MQR_VALF_ATOM;
        } else if (f->type == MQR_VAL_OBJECT) {
            int props = f->name_len > 6 && !strcmp(f->name + f->name_len - 6, "_props");
            t->objs[t->nobjs++] = t->n << 1 | (uint32_t)props;
        }
        for (size_t k = 0; k < COL_COUNT; k++)
            if (col_names[k].len == f->name_len && !memcmp(col_names[k].name, f->name, f->name_len))
                t->slot[k] = (int16_t)t->n;
        t->n++;
    }
    return t;
}

void brk_ev_tmpl_destroy(brk_ev_tmpl_t *t)
{
    if (t == NULL)
        return;
    free(t->members);
    free(t->objs);
    free(t);
}

typedef struct cols {
    mqr_arena_t *a;
    mqr_value_t obj;
    const mqr_event_schema_t *schema;
    const brk_ev_tmpl_t *t;
} cols_t;

/* Set column `col` to *v: in place at its schema position, else by name
 * (appended the first time). */
static void put(cols_t *c, int col, const mqr_value_t *v)
{
    int slot = c->t->slot[col];
    if (slot >= 0)
        c->obj.u.members[slot].value = *v;
    else
        (void)mqr_value_object_put(c->a, &c->obj, col_names[col].name, col_names[col].len, v);
}

static void put_str(cols_t *c, int col, const char *s, size_t len)
{
    mqr_value_t v;
    if (s == NULL)
        mqr_value_set_undefined(&v);
    else
        mqr_value_set_string(&v, s, len);
    put(c, col, &v);
}

static void put_cstr(cols_t *c, int col, const char *s)
{
    put_str(c, col, s, s ? strlen(s) : 0);
}

static void put_atom(cols_t *c, int col, const char *s)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, strlen(s));
    v.flags = MQR_VALF_ATOM;
    put(c, col, &v);
}

static void put_int(cols_t *c, int col, int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    put(c, col, &v);
}

static void put_bool(cols_t *c, int col, int b)
{
    mqr_value_t v;
    mqr_value_set_bool(&v, b);
    put(c, col, &v);
}

/* A new empty object in *v, or with props set a property map
 * {"User-Property": {}}. MQR_OK or MQR_ENOMEM. */
static int new_object(mqr_arena_t *a, int props, mqr_value_t *v)
{
    if (mqr_value_object_new(a, 1, v) != MQR_OK)
        return MQR_ENOMEM;
    if (props) {
        mqr_value_t up;
        if (mqr_value_object_new(a, 0, &up) != MQR_OK ||
            mqr_value_object_append(a, v, "User-Property", 13, &up) != MQR_OK)
            return MQR_ENOMEM;
    }
    return MQR_OK;
}

/*
 * Start the columns of event `id`: every field of its schema in schema order
 * (decision D3: SELECT * keeps it), `event` set, property maps as
 * {"User-Property": {}}, client_attrs as {}, the rest undefined until the
 * put_* calls fill them in place. timestamp and node are left to the engine.
 * The members are copied from the event's template (built on the event's
 * first use) into an object built by hand in the arena (value.h: reserved_
 * 0, so a put past its end copies it). MQR_ENOTFOUND, with nothing built,
 * when no enabled rule listens for the event: the caller then skips it, so
 * an unheard event costs one rule-list scan.
 */
static int cols_begin(broker_t *b, cols_t *c, uint32_t id)
{
    brk_events_t *ev = b->ev;
    if (!mqr_engine_event_listened(ev->engine, id))
        return MQR_ENOTFOUND;
    const mqr_event_schema_t *sc = mqr_event_at(id);
    if (sc == NULL)
        return MQR_ENOMEM;
    if (ev->tmpl[id] == NULL && (ev->tmpl[id] = tmpl_create(sc)) == NULL)
        return MQR_ENOMEM;
    const brk_ev_tmpl_t *t = ev->tmpl[id];
    /* an emit nested in a republish action must not free the outer event's
     * columns: the arena is reset only outside every emit */
    if (ev->depth == 0)
        mqr_arena_reset(ev->arena);
    c->a = ev->arena;
    c->schema = sc;
    c->t = t;
    mqr_member_t *mem = mqr_arena_alloc(c->a, t->n * sizeof *mem);
    if (mem == NULL)
        return MQR_ENOMEM;
    memcpy(mem, t->members, t->n * sizeof *mem);
    memset(&c->obj, 0, sizeof c->obj);
    c->obj.type = MQR_VAL_OBJECT;
    c->obj.len = t->n;
    c->obj.u.members = mem;
    for (uint32_t i = 0; i < t->nobjs; i++)
        if (new_object(c->a, (int)(t->objs[i] & 1), &mem[t->objs[i] >> 1].value) != MQR_OK)
            return MQR_ENOMEM;
    return MQR_OK;
}

/* peername and peerhost of a connection (NULL connection: undefined) */
static void put_peer(cols_t *c, const brk_conn_t *conn, int host)
{
    char buf[MQR_ADDR_TEXT_MAX];
    mqr_value_t v;
    if (conn == NULL || mqr_sockaddr_format(&conn->peer, 0, buf, sizeof buf, NULL) != MQR_OK) {
        mqr_value_set_undefined(&v);
        if (host)
            put(c, COL_peerhost, &v);
        put(c, COL_peername, &v);
        return;
    }
    if (host && mqr_value_string_copy(c->a, buf, strlen(buf), &v) == MQR_OK)
        put(c, COL_peerhost, &v);
    put_cstr(c, COL_peername, conn->peername);
}

/* Run the rules of the event whose columns `c` holds. */
static void emit(broker_t *b, cols_t *c)
{
    mqr_diag_t d;
    d.message[0] = '\0'; /* only the message is read, on an error */
    b->ev->depth++;
    int rc = mqr_engine_emit_event_id(b->ev->engine, c->schema->id, &c->obj, NULL, &d);
    b->ev->depth--;
    if (rc != MQR_OK)
        brk_log(b, 1, "event %s: %s", c->schema->name, d.message[0] ? d.message : mqr_strerror(rc));
}

static const char *conn_clientid(const brk_conn_t *c)
{
    return c != NULL && c->sess != NULL ? c->sess->clientid : NULL;
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
    if (b->cfg.v3_session_expiry_s != 0)
        in.v3_session_expiry_ms = (int64_t)b->cfg.v3_session_expiry_s * 1000;
    d.message[0] = '\0'; /* only the message is read, on an error */
    b->ev->depth++;
    int rc = mqr_engine_emit_connack(b->ev->engine, &in, NULL, &d);
    b->ev->depth--;
    if (rc != MQR_OK)
        brk_log(b, 0, "client.connack event: %s", d.message[0] ? d.message : mqr_strerror(rc));
}

/* client.connected or client.disconnected (with `reason`). */
void brk_ev_client(broker_t *b, brk_conn_t *c, int event, const char *reason)
{
    cols_t k;
    if (cols_begin(b, &k, (uint32_t)event) != MQR_OK)
        return;
    if (reason != NULL)
        put_atom(&k, COL_reason, reason);
    put_cstr(&k, COL_clientid, conn_clientid(c));
    put_cstr(&k, COL_username, c->username);
    put_peer(&k, c, 0);
    char sock[MQR_ADDR_TEXT_MAX];
    if (mqr_sockaddr_format(&c->sock, 1, sock, sizeof sock, NULL) == MQR_OK)
        put_cstr(&k, COL_sockname, sock);
    put_cstr(&k, COL_proto_name, c->proto_ver == MQR_PROTO_V31 ? "MQIsdp" : "MQTT");
    put_int(&k, COL_proto_ver, c->proto_ver);
    if (event == MQR_EVENT_CLIENT_CONNECTED) {
        put_int(&k, COL_keepalive, c->keepalive);
        put_bool(&k, COL_clean_start, c->clean_start);
        put_int(&k, COL_receive_maximum, c->receive_max);
        put_int(&k, COL_expiry_interval, c->sess ? (int64_t)c->sess->expiry_s : 0);
        put_bool(&k, COL_is_bridge, 0);
        put_int(&k, COL_connected_at, c->connected_at);
    } else {
        put_int(&k, COL_disconnected_at, brk_wall_ms());
        put_int(&k, COL_connected_at, c->connected_at);
    }
    emit(b, &k);
}

/* client.check_authn_complete with the authentication result. */
void brk_ev_authn(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, int reason)
{
    cols_t k;
    if (cols_begin(b, &k, MQR_EVENT_CLIENT_CHECK_AUTHN_COMPLETE) != MQR_OK)
        return;
    put_str(&k, COL_clientid, p->clientid.ptr, p->clientid.len);
    put_str(&k, COL_username, p->username.ptr, p->username.len);
    put_peer(&k, c, 0);
    put_atom(&k, COL_reason_code, mqr_reason_name(reason));
    put_bool(&k, COL_is_anonymous, p->username.ptr == NULL);
    put_bool(&k, COL_is_superuser, 0);
    emit(b, &k);
}

/* client.check_authz_complete for a PUBLISH (publish 1) or a subscription. */
void brk_ev_authz(broker_t *b, brk_conn_t *c, const char *topic, size_t len, int publish,
                  int allow)
{
    cols_t k;
    if (cols_begin(b, &k, MQR_EVENT_CLIENT_CHECK_AUTHZ_COMPLETE) != MQR_OK)
        return;
    put_cstr(&k, COL_clientid, conn_clientid(c));
    put_cstr(&k, COL_username, c->username);
    put_peer(&k, c, 1);
    put_str(&k, COL_topic, topic, len);
    put_atom(&k, COL_action, publish ? "publish" : "subscribe");
    put_atom(&k, COL_authz_source, b->cfg.nacls ? "file" : "default");
    put_atom(&k, COL_result, allow ? "allow" : "deny");
    emit(b, &k);
}

/* session.subscribed / session.unsubscribed. */
void brk_ev_sub(broker_t *b, brk_conn_t *c, int event, const char *filter, size_t len, int qos)
{
    cols_t k;
    if (cols_begin(b, &k, (uint32_t)event) != MQR_OK)
        return;
    put_cstr(&k, COL_clientid, conn_clientid(c));
    put_cstr(&k, COL_username, c->username);
    put_peer(&k, c, 1);
    put_str(&k, COL_topic, filter, len);
    put_int(&k, COL_qos, qos);
    emit(b, &k);
}

/* message.delivered / message.acked / message.dropped / delivery.dropped.
 * `to` is the receiving session (NULL for message.dropped). */
void brk_ev_msg(broker_t *b, int event, const brk_msg_t *m, brk_session_t *to, int qos,
                const char *reason)
{
    cols_t k;
    brk_stats_msg(b, event, reason);
    if (cols_begin(b, &k, (uint32_t)event) != MQR_OK)
        return;
    put_str(&k, COL_id, m->id, 32);
    if (reason != NULL)
        put_atom(&k, COL_reason, reason);
    if (event == MQR_EVENT_MESSAGE_DROPPED) {
        put_str(&k, COL_clientid, m->from_clientid, m->from_cid_len);
        put_str(&k, COL_username, m->from_username, m->from_user_len);
        put_peer(&k, NULL, 1);
    } else {
        put_str(&k, COL_from_clientid, m->from_clientid, m->from_cid_len);
        put_str(&k, COL_from_username, m->from_username, m->from_user_len);
        put_cstr(&k, COL_clientid, to ? to->clientid : NULL);
        put_cstr(&k, COL_username, to ? to->username : NULL);
        put_peer(&k, to ? to->conn : NULL, 1);
    }
    put_str(&k, COL_payload, (const char *)m->payload, m->payload_len);
    put_str(&k, COL_topic, m->topic, m->topic_len);
    put_int(&k, COL_qos, qos);
    mqr_value_t flags;
    if (mqr_value_object_new(k.a, 2, &flags) == MQR_OK) {
        mqr_value_t t;
        mqr_value_set_bool(&t, m->retain);
        (void)mqr_value_object_append(k.a, &flags, "retain", 6, &t);
        mqr_value_set_bool(&t, 0);
        (void)mqr_value_object_append(k.a, &flags, "dup", 3, &t);
        put(&k, COL_flags, &flags);
    }
    put_int(&k, COL_publish_received_at, m->received_at);
    emit(b, &k);
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
    em.publish_received_at = m->received_at;
    d.message[0] = '\0'; /* only the message is read, on an error */
    b->ev->depth++;
    int rc = mqr_engine_emit_message(b->ev->engine, &em, NULL, &d);
    b->ev->depth--;
    if (rc != MQR_OK)
        brk_log(b, 1, "message rules on '%s': %s", m->topic,
                d.message[0] ? d.message : mqr_strerror(rc));
}
