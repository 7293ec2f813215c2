/* SPDX-License-Identifier: MIT */
/*
 * admin_api.c - the REST handlers under /api/v5/, with EMQX's paths and
 * JSON shapes (docs/broker.md, "Admin HTTP API"):
 *
 *   GET/POST         /api/v5/rules                 list (paged), create
 *   GET/PUT/DELETE   /api/v5/rules/{id}            read, change, delete
 *   GET              /api/v5/rules/{id}/metrics
 *   PUT              /api/v5/rules/{id}/metrics/reset
 *   POST             /api/v5/rule_test             EMQX's SQL test
 *   GET              /api/v5/clients               list (paged)
 *   GET/DELETE       /api/v5/clients/{clientid}    read, kick
 *   GET              /api/v5/prometheus/stats      (admin_metrics.c)
 *   GET              /api/v5/diagnostics           the live page's data (admin_metrics.c)
 *
 * Errors are EMQX's {"code": ..., "message": ...} with the status EMQX
 * uses: 400 BAD_REQUEST (bad JSON, bad fields, SQL that does not compile,
 * with the compiler's line and column), 404 NOT_FOUND, 405
 * METHOD_NOT_ALLOWED, 412 NOT_MATCH (rule test). Request bodies are parsed
 * into a per-request arena with the library's JSON reader. The rule test is
 * mqttrule-sql's: the context becomes columns through mqr_rule_test_columns
 * (mqttrule/rule_test.h), and the rule is evaluated the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "engine_state.h"
#include "mqtt_shared.h"

#define RULE_TEST_ID "sql_tester"

/* ---- helpers -------------------------------------------------------------------- */

/* Path segment i, percent-decoded, into buf. 0 or -1 (400 written). */
static int seg_text(brk_admin_req_t *r, int i, char *buf, size_t cap)
{
    if (brk_http_unescape(r->seg[i], r->seg_len[i], 0, buf, cap) < 0) {
        brk_admin_error(r, 400, "BAD_REQUEST", "bad percent-encoding in the path");
        return -1;
    }
    return 0;
}

/* A positive integer query parameter, or `def`. */
static long query_num(const brk_admin_req_t *r, const char *name, long def, long max)
{
    size_t n;
    const char *v = brk_http_query_param(r->query, r->query_len, name, &n);
    if (v == NULL || n == 0 || n > 9)
        return def;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return def;
        x = x * 10 + (v[i] - '0');
    }
    return x < 1 ? def : x > max ? max : x;
}

/* Parse the request body as a JSON object into arena. 0, or -1 (400). */
static int body_object(brk_admin_req_t *r, mqr_arena_t *arena, mqr_value_t *out)
{
    mqr_diag_t d;
    mqr_diag_clear(&d);
    if (r->body_len == 0) {
        brk_admin_error(r, 400, "BAD_REQUEST", "the request needs a JSON object body");
        return -1;
    }
    int rc = mqr_json_parse(arena, r->body, r->body_len, 64, out, &d);
    if (rc != MQR_OK) {
        brk_admin_error(r, 400, "BAD_REQUEST", "bad JSON at byte %zu: %s", (size_t)d.offset,
                        d.message[0] ? d.message : mqr_strerror(rc));
        return -1;
    }
    if (out->type != MQR_VAL_OBJECT) {
        brk_admin_error(r, 400, "BAD_REQUEST", "the body must be a JSON object");
        return -1;
    }
    return 0;
}

/* A member that must be a string when present: 1 found (NUL-terminated
 * copy in the arena in *out), 0 absent, -1 wrong type (400 written). */
static int get_str(brk_admin_req_t *r, mqr_arena_t *arena, const mqr_value_t *obj,
                   const char *key, const char **out)
{
    const mqr_value_t *v = mqr_value_object_get(obj, key, strlen(key));
    if (v == NULL)
        return 0;
    if (v->type != MQR_VAL_STRING || memchr(v->u.s, 0, v->len) != NULL) {
        brk_admin_error(r, 400, "BAD_REQUEST", "'%s' must be a string", key);
        return -1;
    }
    char *s = mqr_arena_alloc(arena, v->len + 1);
    if (s == NULL) {
        brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
        return -1;
    }
    memcpy(s, v->u.s, v->len);
    s[v->len] = 0;
    *out = s;
    return 1;
}

/* "enable": 1 found (*out), 0 absent, -1 wrong type (400 written). */
static int get_bool(brk_admin_req_t *r, const mqr_value_t *obj, const char *key, uint32_t *out)
{
    const mqr_value_t *v = mqr_value_object_get(obj, key, strlen(key));
    if (v == NULL)
        return 0;
    if (v->type != MQR_VAL_BOOL) {
        brk_admin_error(r, 400, "BAD_REQUEST", "'%s' must be true or false", key);
        return -1;
    }
    *out = (uint32_t)v->u.b;
    return 1;
}

static void metrics_object(brk_buf_t *o, const mqr_rule_metrics_t *m)
{
    brk_buf_printf(o,
                   "{\"matched\":%llu,\"passed\":%llu,\"failed\":%llu,\"failed.exception\":%llu,"
                   "\"failed.no_result\":%llu,\"actions.total\":%llu,\"actions.success\":%llu,"
                   "\"actions.failed\":%llu,\"actions.failed.out_of_service\":%llu,"
                   "\"actions.failed.unknown\":%llu}",
                   (unsigned long long)m->matched, (unsigned long long)m->passed,
                   (unsigned long long)m->failed, (unsigned long long)m->failed_exception,
                   (unsigned long long)m->failed_no_result, (unsigned long long)m->actions_total,
                   (unsigned long long)m->actions_success, (unsigned long long)m->actions_failed,
                   (unsigned long long)m->actions_failed_out_of_service,
                   (unsigned long long)m->actions_failed_unknown);
}

/* ---- rules ---------------------------------------------------------------------- */

typedef struct rule_writer {
    broker_t *b;
    brk_buf_t *o;
    const char *only;  /* write only this id; NULL: all, paged */
    long skip, limit, count, written;
    int with_metrics;
} rule_writer_t;

/* One rule in EMQX's shape: id, name, sql, actions, enable, description,
 * created_at (and metrics on request). */
static void write_rule(void *ud, const char *id, const char *sql, const char *description,
                       const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t created)
{
    rule_writer_t *w = ud;
    if (w->only != NULL && strcmp(w->only, id) != 0)
        return;
    w->count++;
    if (w->count <= w->skip || w->written >= w->limit)
        return;
    brk_buf_t *o = w->o;
    uint32_t en = 0;
    (void)mqr_engine_rule_info(w->b->ev->engine, id, &en);
    brk_buf_puts(o, w->written++ ? ",{\"id\":" : "{\"id\":");
    brk_buf_json_str(o, id, strlen(id));
    brk_buf_puts(o, ",\"name\":");
    brk_buf_json_str(o, id, strlen(id));
    brk_buf_puts(o, ",\"sql\":");
    brk_buf_json_str(o, sql, strlen(sql));
    brk_buf_puts(o, ",\"actions\":");
    if (actions_json != NULL)
        brk_buf_puts(o, actions_json);
    else
        brk_admin_rule_actions_json(o, file_rule);
    brk_buf_printf(o, ",\"enable\":%s,\"description\":", en ? "true" : "false");
    brk_buf_json_str(o, description ? description : "", description ? strlen(description) : 0);
    brk_buf_printf(o, ",\"source\":\"%s\",\"created_at\":", file_rule ? "file" : "api");
    brk_buf_json_time(o, created);
    if (w->with_metrics) {
        mqr_rule_metrics_t m;
        if (mqr_engine_rule_metrics(w->b->ev->engine, id, &m) == MQR_OK) {
            brk_buf_puts(o, ",\"metrics\":");
            metrics_object(o, &m);
        }
    }
    brk_buf_puts(o, "}");
}

static void rules_list(brk_admin_req_t *r)
{
    long page = query_num(r, "page", 1, 1000000), limit = query_num(r, "limit", 100, 10000);
    rule_writer_t w = {r->b, &r->out, NULL, (page - 1) * limit, limit, 0, 0, 0};
    brk_buf_puts(&r->out, "{\"data\":[");
    brk_admin_rules_each(r->b, write_rule, &w);
    brk_buf_printf(&r->out, "],\"meta\":{\"page\":%ld,\"limit\":%ld,\"count\":%ld,"
                            "\"hasnext\":%s}}",
                   page, limit, w.count, w.count > page * limit ? "true" : "false");
    brk_admin_reply(r, 200, "application/json");
}

/* Write rule `id` alone, status `status`. */
static void rule_reply(brk_admin_req_t *r, const char *id, int status)
{
    rule_writer_t w = {r->b, &r->out, id, 0, 1, 0, 0, 0};
    r->out.len = 0;
    brk_admin_rules_each(r->b, write_rule, &w);
    if (w.written == 0)
        brk_admin_error(r, 404, "NOT_FOUND", "rule '%s' not found", id);
    else
        brk_admin_reply(r, status, "application/json");
}

/* The current definition of a rule, for a PUT that changes part of it. */
typedef struct rule_def {
    const char *id;
    const char *sql, *description;
    int found;
} rule_def_t;

static void find_def(void *ud, const char *id, const char *sql, const char *description,
                     const char *actions_json, const brk_rule_cfg_t *file_rule, int64_t created)
{
    rule_def_t *d = ud;
    (void)actions_json, (void)file_rule, (void)created;
    if (strcmp(d->id, id) != 0)
        return;
    d->sql = sql;
    d->description = description;
    d->found = 1;
}

/* POST /rules (id NULL) and PUT /rules/{id}. */
static void rule_write(brk_admin_req_t *r, const char *id)
{
    mqr_arena_t *arena = NULL;
    mqr_value_t body;
    char err[1024] = "", idbuf[256];
    const char *sql = NULL, *desc = NULL, *bid = NULL;
    uint32_t enable = 1;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK) {
        brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (body_object(r, arena, &body) != 0 || get_str(r, arena, &body, "sql", &sql) < 0 ||
        get_str(r, arena, &body, "description", &desc) < 0 ||
        get_str(r, arena, &body, "id", &bid) < 0 || get_bool(r, &body, "enable", &enable) < 0)
        goto out;
    const mqr_value_t *actions = mqr_value_object_get(&body, "actions", 7);
    int create = id == NULL;
    if (create) {
        if (sql == NULL) {
            brk_admin_error(r, 400, "BAD_REQUEST", "'sql' is required");
            goto out;
        }
        if (bid == NULL || bid[0] == 0) { /* EMQX makes one up */
            snprintf(idbuf, sizeof idbuf, "rule_%llx",
                     (unsigned long long)(brk_wall_ms() * 1000 + r->b->admin->requests % 1000));
            bid = idbuf;
        }
        if (strlen(bid) > 200 || strpbrk(bid, "/ ") != NULL) {
            brk_admin_error(r, 400, "BAD_REQUEST", "a rule id has at most 200 bytes, no '/' or ' '");
            goto out;
        }
        id = bid;
    } else {
        rule_def_t cur = {id, NULL, NULL, 0};
        brk_admin_rules_each(r->b, find_def, &cur);
        if (!cur.found) {
            brk_admin_error(r, 404, "NOT_FOUND", "rule '%s' not found", id);
            goto out;
        }
        if (get_bool(r, &body, "enable", &enable) == 0)
            (void)mqr_engine_rule_info(r->b->ev->engine, id, &enable);
        if (sql == NULL)
            sql = cur.sql;
        if (desc == NULL)
            desc = cur.description;
        /* copies: the record they point into may be replaced */
        char *s = mqr_arena_alloc(arena, strlen(sql) + 1);
        char *d = mqr_arena_alloc(arena, strlen(desc ? desc : "") + 1);
        if (s == NULL || d == NULL) {
            brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
            goto out;
        }
        sql = strcpy(s, sql);
        desc = strcpy(d, desc ? desc : "");
    }
    int st = brk_admin_rule_put(r->b, id, sql, desc ? desc : "", actions, enable, create, err,
                                sizeof err);
    if (st != 0) {
        brk_admin_error(r, st, st == 404 ? "NOT_FOUND" : "BAD_REQUEST", "%s", err);
        goto out;
    }
    brk_log(r->b, 0, "REST API: rule '%s' %s", id, create ? "created" : "updated");
    rule_reply(r, id, create ? 201 : 200);
out:
    mqr_arena_destroy(arena);
}

/* GET /rules/{id}/metrics in EMQX's shape. */
static void rule_metrics(brk_admin_req_t *r, const char *id)
{
    mqr_rule_metrics_t m;
    if (!brk_admin_rule_exists(r->b, id) ||
        mqr_engine_rule_metrics(r->b->ev->engine, id, &m) != MQR_OK) {
        brk_admin_error(r, 404, "NOT_FOUND", "rule '%s' not found", id);
        return;
    }
    brk_buf_puts(&r->out, "{\"id\":");
    brk_buf_json_str(&r->out, id, strlen(id));
    brk_buf_puts(&r->out, ",\"metrics\":");
    metrics_object(&r->out, &m);
    brk_buf_puts(&r->out, ",\"node_metrics\":[{\"node\":\"mqttrule-broker\",\"metrics\":");
    metrics_object(&r->out, &m);
    brk_buf_puts(&r->out, "}]}");
    brk_admin_reply(r, 200, "application/json");
}

static void rules_route(brk_admin_req_t *r)
{
    char id[256];
    if (r->nseg == 3) {
        if (brk_admin_method_is(r, "GET"))
            rules_list(r);
        else if (brk_admin_method_is(r, "POST"))
            rule_write(r, NULL);
        else
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET or POST on /api/v5/rules");
        return;
    }
    if (seg_text(r, 3, id, sizeof id) != 0)
        return;
    if (r->nseg == 4) {
        if (brk_admin_method_is(r, "GET")) {
            rule_reply(r, id, 200);
        } else if (brk_admin_method_is(r, "PUT")) {
            rule_write(r, id);
        } else if (brk_admin_method_is(r, "DELETE")) {
            if (brk_admin_rule_delete(r->b, id) != 0) {
                brk_admin_error(r, 404, "NOT_FOUND", "rule '%s' not found", id);
                return;
            }
            brk_log(r->b, 0, "REST API: rule '%s' deleted", id);
            brk_admin_reply(r, 204, NULL);
        } else {
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET, PUT or DELETE on a rule");
        }
        return;
    }
    if (r->nseg == 5 && brk_admin_seg_is(r, 4, "metrics")) {
        if (brk_admin_method_is(r, "GET"))
            rule_metrics(r, id);
        else
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET on a rule's metrics");
        return;
    }
    if (r->nseg == 6 && brk_admin_seg_is(r, 4, "metrics") && brk_admin_seg_is(r, 5, "reset")) {
        if (!brk_admin_method_is(r, "PUT")) {
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use PUT to reset a rule's metrics");
        } else if (!brk_admin_rule_exists(r->b, id) ||
                   mqr_engine_rule_metrics_reset(r->b->ev->engine, id) != MQR_OK) {
            brk_admin_error(r, 404, "NOT_FOUND", "rule '%s' not found", id);
        } else {
            brk_admin_reply(r, 204, NULL);
        }
        return;
    }
    brk_admin_error(r, 404, "NOT_FOUND", "no such path under /api/v5/rules");
}

/* ---- rule test -------------------------------------------------------------------- */

/* The output of an evaluation as JSON into the response. */
static void reply_value(brk_admin_req_t *r, const mqr_value_t *v)
{
    size_t n = 0;
    if (mqr_json_write(v, 0, NULL, 0, &n) != MQR_EBUFFER && n != 0) {
        brk_admin_error(r, 500, "INTERNAL_ERROR", "the output cannot be written as JSON");
        return;
    }
    char *t = malloc(n + 1);
    if (t == NULL || mqr_json_write(v, 0, t, n + 1, &n) != MQR_OK) {
        free(t);
        brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    brk_buf_add(&r->out, t, n);
    free(t);
    brk_admin_reply(r, 200, "application/json");
}

/*
 * POST /rule_test {"sql": ..., "context": {...}}: what mqttrule-sql prints
 * for that SQL and context. 200 with the output; 412 NOT_MATCH when FROM
 * does not accept the context or WHERE is false; 400 for SQL that does not
 * compile (line and column), an unknown event_type or an evaluation error.
 */
static void rule_test(brk_admin_req_t *r)
{
    mqr_arena_t *arena = NULL;
    mqr_rule_t *rule = NULL;
    mqr_rule_scratch_t *scratch = NULL;
    mqr_value_t body, cols, out, empty;
    mqr_diag_t d;
    const char *sql = NULL;
    if (!brk_admin_method_is(r, "POST")) {
        brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use POST on /api/v5/rule_test");
        return;
    }
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK ||
        mqr_rule_scratch_create(NULL, &scratch) != MQR_OK) {
        brk_admin_error(r, 500, "INTERNAL_ERROR", "out of memory");
        goto out;
    }
    if (body_object(r, arena, &body) != 0 || get_str(r, arena, &body, "sql", &sql) < 0)
        goto out;
    if (sql == NULL) {
        brk_admin_error(r, 400, "BAD_REQUEST", "'sql' is required");
        goto out;
    }
    const mqr_value_t *ctx = mqr_value_object_get(&body, "context", 7);
    if (ctx == NULL) {
        (void)mqr_value_object_new(arena, 0, &empty);
        ctx = &empty;
    } else if (ctx->type != MQR_VAL_OBJECT) {
        brk_admin_error(r, 400, "BAD_REQUEST", "'context' must be an object");
        goto out;
    }
    mqr_rule_options_t ro;
    mqr_rule_options_init(&ro);
    ro.rule_id = RULE_TEST_ID;
    mqr_diag_clear(&d);
    int rc = mqr_rule_compile(sql, strlen(sql), &ro, &rule, &d);
    if (rc != MQR_OK) {
        brk_admin_error(r, 400, "BAD_REQUEST", "%s", d.message[0] ? d.message : mqr_strerror(rc));
        goto out;
    }
    uint64_t seq = r->b->admin->requests;
    mqr_rule_test_options_t topts = {r->b->cfg.names, 0, brk_wall_ms(), NULL, &seq};
    int32_t matched = 0;
    rc = mqr_rule_test_columns(rule, ctx, &topts, arena, &cols, &matched, &d);
    if (rc != MQR_OK) {
        brk_admin_error(r, 400, "BAD_REQUEST", "%s",
                        rc == MQR_ENOTFOUND ? d.message : mqr_strerror(rc));
        goto out;
    }
    if (!matched) {
        brk_admin_error(r, 412, "NOT_MATCH", "SQL Not Match");
        goto out;
    }
    rc = mqr_rule_eval(rule, scratch, &cols, &out, &d);
    if (rc == MQR_OK || (rc == MQR_NO_MATCH && out.type == MQR_VAL_ARRAY))
        reply_value(r, &out);
    else if (rc == MQR_NO_MATCH)
        brk_admin_error(r, 412, "NOT_MATCH", "SQL Not Match");
    else
        brk_admin_error(r, 400, "BAD_REQUEST", "%s: %s", mqr_status_name(rc),
                        d.message[0] ? d.message : mqr_strerror(rc));
out:
    mqr_rule_free(rule);
    mqr_rule_scratch_free(scratch);
    mqr_arena_destroy(arena);
}

/* ---- clients -------------------------------------------------------------------- */

/* One session in EMQX's client shape. */
static void write_client(brk_buf_t *o, const brk_session_t *s)
{
    const brk_conn_t *c = s->conn;
    brk_buf_puts(o, "{\"clientid\":");
    brk_buf_json_str(o, s->clientid, s->clientid_len);
    brk_buf_puts(o, ",\"username\":");
    if (s->username != NULL)
        brk_buf_json_str(o, s->username, strlen(s->username));
    else
        brk_buf_puts(o, "null");
    brk_buf_printf(o, ",\"connected\":%s", c ? "true" : "false");
    if (c != NULL) {
        char host[MQR_ADDR_TEXT_MAX];
        if (mqr_sockaddr_format(&c->peer, 0, host, sizeof host, NULL) != MQR_OK)
            strcpy(host, "unknown");
        brk_buf_puts(o, ",\"ip_address\":");
        brk_buf_json_str(o, host, strlen(host));
        brk_buf_printf(o, ",\"port\":%u,\"proto_name\":\"%s\",\"proto_ver\":%u,\"keepalive\":%u,"
                          "\"clean_start\":%s,\"connected_at\":",
                       (unsigned)c->peer.port, c->proto_ver == 3 ? "MQIsdp" : "MQTT",
                       (unsigned)c->proto_ver, (unsigned)c->keepalive,
                       c->clean_start ? "true" : "false");
        brk_buf_json_time(o, c->connected_at);
    }
    brk_buf_printf(o, ",\"expiry_interval\":%lld,\"subscriptions_cnt\":%u,\"mqueue_len\":%u,"
                      "\"inflight_cnt\":%u,\"node\":\"mqttrule-broker\"}",
                   s->expiry_s == 0xFFFFFFFFu ? -1LL : (long long)s->expiry_s,
                   (unsigned)s->nsubs, (unsigned)s->nqueue, (unsigned)s->ninfl);
}

static void clients_list(brk_admin_req_t *r)
{
    broker_t *b = r->b;
    long page = query_num(r, "page", 1, 1000000), limit = query_num(r, "limit", 100, 10000);
    long skip = (page - 1) * limit, n = 0, written = 0;
    brk_buf_puts(&r->out, "{\"data\":[");
    for (size_t i = 0; i < b->stab_size; i++) {
        for (const brk_session_t *s = b->stab[i]; s != NULL; s = s->hnext) {
            if (n++ < skip || written >= limit)
                continue;
            if (written++)
                brk_buf_puts(&r->out, ",");
            write_client(&r->out, s);
        }
    }
    brk_buf_printf(&r->out, "],\"meta\":{\"page\":%ld,\"limit\":%ld,\"count\":%ld,"
                            "\"hasnext\":%s}}",
                   page, limit, n, n > page * limit ? "true" : "false");
    brk_admin_reply(r, 200, "application/json");
}

static void clients_route(brk_admin_req_t *r)
{
    char id[1024];
    if (r->nseg == 3) {
        if (brk_admin_method_is(r, "GET"))
            clients_list(r);
        else
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET on /api/v5/clients");
        return;
    }
    if (r->nseg != 4) {
        brk_admin_error(r, 404, "NOT_FOUND", "no such path under /api/v5/clients");
        return;
    }
    if (seg_text(r, 3, id, sizeof id) != 0)
        return;
    brk_session_t *s = mq_sess_find(r->b, id, strlen(id));
    if (brk_admin_method_is(r, "GET")) {
        if (s == NULL) {
            brk_admin_error(r, 404, "CLIENTID_NOT_FOUND", "client '%s' not found", id);
            return;
        }
        write_client(&r->out, s);
        brk_admin_reply(r, 200, "application/json");
    } else if (brk_admin_method_is(r, "DELETE")) {
        if (s == NULL || s->conn == NULL) {
            brk_admin_error(r, 404, "CLIENTID_NOT_FOUND", "client '%s' is not connected", id);
            return;
        }
        brk_log(r->b, 0, "REST API: client '%s' kicked", id);
        if (s->conn->proto_ver == MQR_PROTO_V5)
            mq_disconnect(r->b, s->conn, MQR_RC_ADMINISTRATIVE_ACTION, "kicked");
        else
            brk_conn_close(r->b, s->conn, "kicked");
        brk_admin_reply(r, 204, NULL);
    } else {
        brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET or DELETE on a client");
    }
}

/* ---- routing ------------------------------------------------------------------------ */

void brk_api_handle(brk_admin_req_t *r)
{
    if (r->nseg >= 3 && brk_admin_seg_is(r, 2, "rules")) {
        rules_route(r);
    } else if (r->nseg == 3 && brk_admin_seg_is(r, 2, "rule_test")) {
        rule_test(r);
    } else if (r->nseg >= 3 && brk_admin_seg_is(r, 2, "clients")) {
        clients_route(r);
    } else if (r->nseg == 4 && brk_admin_seg_is(r, 2, "prometheus") &&
               brk_admin_seg_is(r, 3, "stats")) {
        if (brk_admin_method_is(r, "GET") || brk_admin_method_is(r, "HEAD"))
            brk_admin_prometheus(r);
        else
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET on the Prometheus endpoint");
    } else if (r->nseg == 3 && brk_admin_seg_is(r, 2, "diagnostics")) {
        if (brk_admin_method_is(r, "GET") || brk_admin_method_is(r, "HEAD"))
            brk_admin_diag_json(r);
        else
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "use GET on /api/v5/diagnostics");
    } else {
        brk_admin_error(r, 404, "NOT_FOUND", "no such path: %.*s", (int)r->path_len, r->path);
    }
}
