/* SPDX-License-Identifier: MIT */
/*
 * events.c - the seam between the broker and the rule engine. The broker
 * calls brk_ev_* at each point where EMQX runs a hook (CONNACK, connected,
 * disconnected, authentication and authorization results, subscriptions,
 * deliveries, acknowledgements, drops) and brk_ev_publish for every PUBLISH;
 * this file turns them into engine calls.
 *
 * client.connack goes through mqr_engine_emit_connack (the library's builder,
 * decision D2 for partial CONNECTs). The other events are built here as
 * objects of their fields (spec §4) in an arena that is reset before each
 * event, so a warm broker emits without heap allocation: each starts as a
 * copy of its event id's template (the schema's fields in order, made once),
 * the broker's values are written straight into their schema positions, and
 * the object goes to the engine by event id. A republish action
 * calls back into the broker, which routes the message like a client's
 * PUBLISH and feeds it to the engine again with republish_by set (the engine
 * refuses a rule's own republished message, spec §9.1).
 *
 * The engine's HTTP actions are driven by the broker's loop through
 * brk_events_fds / brk_events_timeout / brk_events_fd_ready /
 * brk_events_process.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "mqttrule/engine.h"

typedef struct brk_ev_tmpl brk_ev_tmpl_t;
static void tmpl_destroy(brk_ev_tmpl_t *t);

struct brk_events {
    mqr_engine_t *engine;
    mqr_arena_t *arena;
    uint32_t *http_ids; /* ids of the HTTP actions, for --test-connectors */
    size_t nhttp;
    char **loaded;      /* ids of the rules now in the engine */
    size_t nloaded;
    uint32_t depth;     /* engine emits in progress (actions publish, which emits again) */
    uint32_t http_max_queue;  /* the configuration's HTTP action limits, for add_rule */
    uint32_t http_timeout_ms;
    brk_ev_tmpl_t *tmpl[MQR_EVENT_COUNT]; /* per event id, built on first use (cols_begin) */
};

/* The engine's republish publisher: route the message inside the broker. */
static int republish(void *ud, const mqr_publish_msg_t *msg)
{
    broker_t *b = ud;
    return brk_mqtt_publish_local(b, msg->topic, msg->topic_len, msg->payload, msg->payload_len,
                                  msg->qos, msg->retain, msg->rule_id, msg->direct_dispatch);
}

/* Create the engine with the configured names profile. 0, or -1 with *err. */
int brk_events_create(broker_t *b, const char **err)
{
    brk_events_t *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        *err = "out of memory";
        return -1;
    }
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.names = b->cfg.names;
    o.publish = republish;
    o.publish_ud = b;
    if (mqr_engine_create(&o, &ev->engine) != MQR_OK ||
        mqr_arena_create(NULL, 8192, &ev->arena) != MQR_OK) {
        mqr_engine_destroy(ev->engine);
        free(ev);
        *err = "cannot create the rule engine";
        return -1;
    }
    b->ev = ev;
    return 0;
}

/* Remove every rule loaded before (with its actions) from the engine. */
static void remove_rules(brk_events_t *ev)
{
    for (size_t i = 0; i < ev->nloaded; i++) {
        (void)mqr_engine_rule_remove(ev->engine, ev->loaded[i]);
        free(ev->loaded[i]);
    }
    free(ev->loaded);
    ev->loaded = NULL;
    ev->nloaded = 0;
}

/* One rule with its actions into ev's engine. 0, or -1 with the reason in
 * err. */
static int add_rule(brk_events_t *ev, const brk_rule_cfg_t *r, char *err, size_t errcap)
{
    mqr_engine_rule_def_t def;
    mqr_diag_t d;
    memset(&def, 0, sizeof def);
    def.id = r->id;
    def.sql = r->sql;
    def.enabled = 1;
    mqr_diag_clear(&d);
    int rc = mqr_engine_rule_add(ev->engine, &def, &d);
    if (rc != MQR_OK) {
        if (d.line > 0)
            snprintf(err, errcap, "%s: rule '%s': SQL line %u, column %u: %s", r->where, r->id,
                     d.line, d.column, d.message);
        else
            snprintf(err, errcap, "%s: rule '%s': %s", r->where, r->id,
                     d.message[0] ? d.message : mqr_strerror(rc));
        return -1;
    }
    for (size_t k = 0; k < r->nactions; k++) {
        const brk_action_cfg_t *a = &r->actions[k];
        uint32_t id = 0;
        mqr_diag_clear(&d);
        if (a->kind == MQR_ACTION_REPUBLISH) {
            mqr_republish_config_t rc5;
            memset(&rc5, 0, sizeof rc5);
            rc5.topic = a->arg;
            rc = mqr_engine_action_add_republish(ev->engine, r->id, &rc5, &id, &d);
        } else {
            mqr_http_action_config_t hc;
            memset(&hc, 0, sizeof hc);
            mqr_http_config_init(&hc.http);
            hc.http.url = a->arg;
            hc.http.header_count = 1;
            static const mqr_http_header_t json_ct = {"content-type", 12, "application/json",
                                                      16};
            hc.http.headers = &json_ct;
            hc.http.max_queue_count = ev->http_max_queue;
            hc.http.request_timeout_ms = ev->http_timeout_ms;
            hc.http.connect_timeout_ms = ev->http_timeout_ms;
            rc = mqr_engine_action_add_http(ev->engine, r->id, &hc, &id, &d);
            if (rc == MQR_OK) {
                uint32_t *ni = realloc(ev->http_ids, (ev->nhttp + 1) * sizeof *ni);
                if (ni != NULL) {
                    ev->http_ids = ni;
                    ev->http_ids[ev->nhttp++] = id;
                }
            }
        }
        if (rc != MQR_OK) {
            snprintf(err, errcap, "%s: rule '%s': %s action '%s': %s", r->where, r->id,
                     a->kind == MQR_ACTION_REPUBLISH ? "republish" : "http", a->arg,
                     d.message[0] ? d.message : mqr_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* Add every rule of cfg to ev's engine; on an error remove those added. */
static int add_rules(brk_events_t *ev, const brk_config_t *cfg, char *err, size_t errcap)
{
    ev->http_max_queue = cfg->http_max_queue;
    ev->http_timeout_ms = cfg->http_timeout_ms;
    for (size_t i = 0; i < cfg->nrules; i++) {
        if (add_rule(ev, &cfg->rules[i], err, errcap) != 0) {
            for (size_t k = 0; k <= i; k++)
                (void)mqr_engine_rule_remove(ev->engine, cfg->rules[k].id);
            ev->nhttp = 0;
            return -1;
        }
    }
    return 0;
}

/*
 * Replace the engine's rules with cfg's. The new rules are first compiled,
 * with their actions, in a scratch engine, so a rule set with an error leaves
 * the running rules in force; err then says which rule (file:line) and why.
 * 0 or -1.
 */
int brk_events_load_rules(broker_t *b, const brk_config_t *cfg, char *err, size_t errcap)
{
    brk_events_t *ev = b->ev;
    brk_events_t scratch;
    mqr_engine_options_t o;
    memset(&scratch, 0, sizeof scratch);
    mqr_engine_options_init(&o);
    o.names = b->cfg.names;
    if (mqr_engine_create(&o, &scratch.engine) != MQR_OK) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int rc = add_rules(&scratch, cfg, err, errcap);
    mqr_engine_destroy(scratch.engine);
    free(scratch.http_ids);
    if (rc != 0)
        return -1;
    remove_rules(ev);
    ev->nhttp = 0;
    if (add_rules(ev, cfg, err, errcap) != 0)
        return -1;
    for (size_t i = 0; i < cfg->nrules; i++) {
        ev->loaded = brk_xrealloc(ev->loaded, (ev->nloaded + 1) * sizeof *ev->loaded);
        ev->loaded[ev->nloaded++] = brk_strdup(cfg->rules[i].id);
        brk_log(b, 1, "rule '%s': %s", cfg->rules[i].id, cfg->rules[i].sql);
    }
    return 0;
}

/* Test every HTTP action's connector (decision D12), print a report. Returns
 * the number of failures. */
int brk_events_test_connectors(broker_t *b)
{
    brk_events_t *ev = b->ev;
    int failed = 0;
    if (ev->nhttp == 0)
        printf("no HTTP actions configured\n");
    for (size_t i = 0; i < b->cfg.nrules; i++) {
        const brk_rule_cfg_t *r = &b->cfg.rules[i];
        size_t h = 0;
        for (size_t k = 0; k < i; k++)
            for (size_t a = 0; a < b->cfg.rules[k].nactions; a++)
                h += b->cfg.rules[k].actions[a].kind == MQR_ACTION_HTTP;
        for (size_t a = 0; a < r->nactions; a++) {
            if (r->actions[a].kind != MQR_ACTION_HTTP || h >= ev->nhttp)
                continue;
            mqr_http_test_result_t res;
            memset(&res, 0, sizeof res);
            int rc = mqr_engine_action_test(ev->engine, ev->http_ids[h++], 5000, &res);
            if (rc == MQR_OK)
                printf("ok      rule %s: %s: HTTP %d in %u ms\n", r->id, r->actions[a].arg,
                       res.http_status, res.elapsed_ms);
            else
                printf("FAILED  rule %s: %s: %s\n", r->id, r->actions[a].arg,
                       res.message[0] ? res.message : mqr_strerror(rc));
            failed += rc != MQR_OK;
        }
    }
    return failed;
}

void brk_events_destroy(broker_t *b)
{
    if (b->ev == NULL)
        return;
    remove_rules(b->ev);
    mqr_engine_destroy(b->ev->engine);
    mqr_arena_destroy(b->ev->arena);
    for (size_t i = 0; i < MQR_EVENT_COUNT; i++)
        tmpl_destroy(b->ev->tmpl[i]);
    free(b->ev->http_ids);
    free(b->ev);
    b->ev = NULL;
}

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
        tmpl_destroy(t);
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

static void tmpl_destroy(brk_ev_tmpl_t *t)
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

/* ---- the host loop for HTTP actions --------------------------------------------------- */

int brk_events_fds(broker_t *b, mqr_http_fd_t *out, size_t cap)
{
    size_t n = mqr_engine_fds(b->ev->engine, out, cap);
    return (int)(n > cap ? cap : n);
}

int64_t brk_events_timeout(broker_t *b)
{
    return mqr_engine_timeout(b->ev->engine, mqr_http_now_ms());
}

void brk_events_fd_ready(broker_t *b, int fd, uint32_t events)
{
    (void)mqr_engine_fd_ready(b->ev->engine, fd, events, mqr_http_now_ms());
}

void brk_events_process(broker_t *b)
{
    (void)mqr_engine_process(b->ev->engine, mqr_http_now_ms());
}

size_t brk_events_pending(broker_t *b)
{
    return mqr_engine_pending(b->ev->engine);
}

/* Sum the metrics of every HTTP action into *out (zeroed first), for the
 * stats line. */
void brk_events_http_totals(broker_t *b, mqr_action_metrics_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; b->ev != NULL && i < b->ev->nhttp; i++) {
        mqr_action_metrics_t m;
        if (mqr_engine_action_metrics(b->ev->engine, b->ev->http_ids[i], &m) != MQR_OK)
            continue;
        out->matched += m.matched;
        out->success += m.success;
        out->failed += m.failed;
        out->dropped_queue_full += m.dropped_queue_full;
        out->dropped_expired += m.dropped_expired;
        out->dropped_other += m.dropped_other;
        out->queuing += m.queuing;
        out->inflight += m.inflight;
        out->timeouts += m.timeouts;
    }
}
