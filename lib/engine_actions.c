/* SPDX-License-Identifier: MIT */
/*
 * engine_actions.c - the engine's actions (spec §9) and the host loop of its
 * HTTP actions.
 *
 * Republish renders its templates against the rule's output and hands the
 * message to the host's publish callback; it refuses a message that its own
 * rule republished (the trigger's republish_by, §9.1 loop protection). HTTP
 * renders path, headers and body into the emit level's arena and queues the
 * request on its own mqr_http_client_t; the client's completion callback
 * closes the books (success, failed, or dropped with a reason), so every
 * message is accounted for exactly once. Callback hands the output to a C
 * function as JSON and as a value.
 *
 * Accounting: each invocation counts `matched` on the action and
 * `actions.total` on its rule, then exactly one ending: success, failed
 * (rendering errors, refused by the publisher or callback, HTTP non-retryable
 * statuses), or dropped (HTTP queue full, expired, client stopped; on the
 * rule: actions.failed and actions.failed.out_of_service). HTTP messages not
 * ended yet are the client's queuing and inflight counts.
 *
 * The host loop calls aggregate over the engine's list of HTTP actions.
 */
#include <string.h>

#include "engine_int.h"
#include "http_int.h"
#include "template_int.h"

/* How an invocation ended (or that it is still pending in an HTTP client or a
 * custom action's queue). */
#define END_SUCCESS MQR__END_SUCCESS
#define END_FAILED MQR__END_FAILED
#define END_DROPPED MQR__END_DROPPED
#define END_PENDING MQR__END_PENDING

/* ---- accounting ------------------------------------------------------------------------------ */

#define account mqr__engine_account

void mqr__engine_account(mqr__action_t *a, int end, int32_t reason)
{
    mqr_rule_metrics_t *rm = &a->rule->m;
    switch (end) {
    case END_SUCCESS:
        a->m.success++;
        rm->actions_success++;
        break;
    case END_FAILED:
        a->m.failed++;
        rm->actions_failed++;
        rm->actions_failed_unknown++;
        break;
    case END_DROPPED:
        a->m.dropped++;
        if (reason == MQR_HTTP_REASON_QUEUE_FULL)
            a->m.dropped_queue_full++;
        else if (reason == MQR_HTTP_REASON_EXPIRED)
            a->m.dropped_expired++;
        else
            a->m.dropped_other++;
        rm->actions_failed++;
        rm->actions_failed_out_of_service++;
        break;
    default:
        break;
    }
}

/* The output an HTTP message was rendered from, kept as JSON while it is
 * pending when the action has fallback actions (the request's ud). */
typedef struct http_held {
    size_t len;
    char json[];
} http_held_t;

static void held_free(mqr_engine_t *e, http_held_t *h)
{
    if (h)
        mqr__free(&e->alloc, h, sizeof *h + h->len + 1);
}

/* The HTTP client's completion callback: one per accepted message. */
static void http_done(void *ud, const mqr_http_result_t *r)
{
    mqr__action_t *a = ud;
    if (a->persist) {
        mqr__engine_queue_http_done(a, r);
        return;
    }
    http_held_t *held = r->request_ud;
    if (r->outcome == MQR_HTTP_SUCCESS) {
        account(a, END_SUCCESS, 0);
        held_free(a->engine, held);
        return;
    }
    static const char *const why[] = {"", "queue full", "expired", "stopped"};
    int32_t st = r->status != MQR_OK ? r->status : MQR_EHTTP;
    if (r->outcome == MQR_HTTP_FAILED) {
        account(a, END_FAILED, 0);
        mqr__engine_error(a->engine, NULL, a, st, NULL, "http: failed after %u attempt(s): %s%s%d",
                          r->attempts, r->error[0] ? r->error : "", r->error[0] ? "; status " : "status ",
                          r->http_status);
    } else {
        account(a, END_DROPPED, r->reason);
        mqr__engine_error(a->engine, NULL, a, st, NULL, "http: dropped (%s)%s%s",
                          why[r->reason >= 0 && r->reason <= 3 ? r->reason : 0],
                          r->error[0] ? ": " : "", r->error);
    }
    if (held) {
        mqr__engine_fallback(a->engine, NULL, a, NULL, held->json, held->len);
        held_free(a->engine, held);
    }
}

void mqr__engine_action_metrics(const mqr__action_t *a, mqr_action_metrics_t *out)
{
    *out = a->m;
    if (a->kind == MQR_ACTION_HTTP && a->client) {
        mqr_http_metrics_t hm;
        mqr_http_metrics(a->client, &hm);
        out->queuing = hm.queuing;
        out->inflight = hm.inflight;
        out->retried = hm.retried;
        out->timeouts = hm.timeouts;
        out->late_reply = hm.late_reply;
        out->queuing_bytes = hm.queuing_bytes;
        out->retried_success = hm.retried_success;
        out->retried_failed = hm.retried_failed;
    } else if (a->kind == MQR_ACTION_CUSTOM) {
        mqr__engine_custom_metrics(a, out);
    }
    if (a->persist)
        mqr__engine_queue_metrics(a, out);
}

/* Record a's failure and return END_FAILED. */
#define FAIL(e, a, st, ...) (mqr__engine_error((e), NULL, (a), (st), NULL, __VA_ARGS__), END_FAILED)

/* ---- rendering helpers ----------------------------------------------------------------------- */

static uint32_t tpl_flags(const mqr_engine_t *e)
{
    return (e->opts.flags & MQR_ENGINE_UNDEFINED_AS_NULL) ? MQR_TEMPLATE_UNDEFINED_AS_NULL : 0;
}

/* Render t against out into the arena: *s (NUL-terminated) and *len. One
 * pass into an arena buffer, with the arena also holding any JSON string a
 * path decodes, so a warm arena renders without a heap allocation. */
static int render(const mqr_engine_t *e, mqr_arena_t *arena, const mqr_template_t *t,
                  const mqr_value_t *out, const char **s, size_t *len)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, arena);
    int rc = mqr__template_render_sbuf(t, out, tpl_flags(e), arena, &b);
    if (rc != MQR_OK)
        return rc;
    mqr__sbuf_putc(&b, '\0');
    if ((rc = mqr__sbuf_status(&b)) != MQR_OK)
        return rc;
    *s = b.p;
    *len = b.len - 1;
    return MQR_OK;
}

/* The text rendering of a value (§8) in the arena. */
static int to_text(mqr_arena_t *arena, const mqr_value_t *v, const char **s, size_t *len)
{
    if (v->type == MQR_VAL_STRING) {
        *s = v->u.s;
        *len = v->len;
        return MQR_OK;
    }
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, arena);
    mqr__value_to_text(&b, v);
    int rc = mqr__sbuf_status(&b);
    *s = b.p ? b.p : "";
    *len = b.len;
    return rc;
}

static int text_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* A boolean from a looked-up value: true, or the text "true". */
static int value_true(const mqr_value_t *v)
{
    if (v->type == MQR_VAL_BOOL)
        return v->u.b != 0;
    return v->type == MQR_VAL_STRING && text_is(v->u.s, v->len, "true");
}

/* ---- republish ------------------------------------------------------------------------------- */

/* The user properties: an object of values rendered as text, or an array of
 * {"key": k, "value": v}. Anything else gives none. */
static int user_props(mqr_arena_t *arena, const mqr_value_t *v, mqr_user_property_t **out,
                      uint32_t *count)
{
    *out = NULL;
    *count = 0;
    if (v->type != MQR_VAL_OBJECT && v->type != MQR_VAL_ARRAY)
        return MQR_OK;
    if (v->len == 0)
        return MQR_OK;
    mqr_user_property_t *p = mqr_arena_alloc(arena, v->len * sizeof *p);
    if (!p)
        return MQR_ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->len; i++) {
        const mqr_value_t *val;
        const char *key;
        size_t key_len;
        if (v->type == MQR_VAL_OBJECT) {
            key = v->u.members[i].key;
            key_len = v->u.members[i].key_len;
            val = &v->u.members[i].value;
        } else {
            const mqr_value_t *k = mqr_value_object_get(&v->u.items[i], "key", 3);
            val = mqr_value_object_get(&v->u.items[i], "value", 5);
            if (!k || !val || k->type != MQR_VAL_STRING)
                continue;
            key = k->u.s;
            key_len = k->len;
        }
        p[n].key = key;
        p[n].key_len = key_len;
        int rc = to_text(arena, val, &p[n].value, &p[n].value_len);
        if (rc != MQR_OK)
            return rc;
        n++;
    }
    *out = p;
    *count = n;
    return MQR_OK;
}

/* An integer property rendered from t, or -1 when it is not an integer. */
static int int_prop(const mqr_engine_t *e, mqr_arena_t *arena, const mqr_template_t *t,
                    const mqr_value_t *out, int64_t *v)
{
    *v = -1;
    if (!t)
        return MQR_OK;
    const char *s;
    size_t len;
    int rc = render(e, arena, t, out, &s, &len);
    if (rc != MQR_OK)
        return rc;
    int64_t i;
    if (mqr__parse_int(s, len, &i) == MQR_OK && i >= 0)
        *v = i;
    return MQR_OK;
}

static int str_prop(const mqr_engine_t *e, mqr_arena_t *arena, const mqr_template_t *t,
                    const mqr_value_t *out, const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    return t ? render(e, arena, t, out, s, len) : MQR_OK;
}

/* A 0/1 flag: the constant, or the looked-up value (missing: 0). */
static int flag_value(mqr_arena_t *arena, int32_t konst, const mqr_template_t *t,
                      const mqr_value_t *out, int32_t *flag)
{
    if (konst >= 0) {
        *flag = konst;
        return MQR_OK;
    }
    mqr_value_t v;
    int rc = mqr_template_lookup(t, out, arena, &v);
    *flag = rc == MQR_OK && value_true(&v);
    return rc;
}

/* QoS: the constant, or the looked-up value: 0..2 as a number or text,
 * missing 0, anything else an error. */
static int qos_value(mqr_arena_t *arena, const mqr__action_t *a, const mqr_value_t *out,
                     int32_t *qos)
{
    if (a->qos_const >= 0) {
        *qos = a->qos_const;
        return MQR_OK;
    }
    mqr_value_t v;
    int rc = mqr_template_lookup(a->qos, out, arena, &v);
    if (rc != MQR_OK)
        return rc;
    int64_t i = 0;
    if (v.type == MQR_VAL_UNDEFINED)
        i = 0;
    else if (v.type == MQR_VAL_INT)
        i = v.u.i;
    else if (v.type != MQR_VAL_STRING || mqr__parse_int(v.u.s, v.len, &i) != MQR_OK)
        return MQR_EINVAL;
    if (i < 0 || i > 2)
        return MQR_EINVAL;
    *qos = (int32_t)i;
    return MQR_OK;
}

/* Render the republished message from `out` and hand it to the host's
 * publisher. A trigger that this action's rule republished itself is refused
 * (§9.1); rendering errors, an invalid topic, a bad QoS or a refusing
 * publisher end as failed. Returns END_*. */
static int republish_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                         const mqr_value_t *out)
{
    const mqr__erule_t *r = a->rule;
    if ((cx->republish_by && cx->republish_by_len == r->id_len &&
         memcmp(cx->republish_by, r->id, r->id_len) == 0) ||
        mqr__engine_caused_by(e, cx, r)) {
        /* §9.1: EMQX logs recursive_republish_detected and answers ok. */
        a->m.refused_recursive++;
        return END_SUCCESS;
    }
    if (!e->opts.publish)
        return FAIL(e, a, MQR_ESTATE, "republish: the engine has no publisher");
    mqr_arena_t *ar = cx->arena;
    mqr_publish_msg_t m;
    memset(&m, 0, sizeof m);
    m.rule_id = r->id;
    m.action_id = a->id;
    int rc = mqr__engine_cause_chain(e, cx, ar, &m.cause, &m.cause_len);
    rc = rc ? rc : render(e, ar, a->topic, out, &m.topic, &m.topic_len);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "republish: topic: %s", mqr_strerror(rc));
    if (mqr_topic_validate_name(m.topic, m.topic_len, NULL) != MQR_OK)
        return FAIL(e, a, MQR_ETOPIC, "republish: invalid topic name '%.*s'",
                    (int)(m.topic_len > 64 ? 64 : m.topic_len), m.topic);
    rc = a->payload ? render(e, ar, a->payload, out, &m.payload, &m.payload_len)
                    : mqr__engine_json(e, ar, out, &m.payload, &m.payload_len);
    rc = rc ? rc : qos_value(ar, a, out, &m.qos);
    rc = rc ? rc : flag_value(ar, a->retain_const, a->retain, out, &m.retain);
    rc = rc ? rc : flag_value(ar, a->direct_const, a->direct, out, &m.direct_dispatch);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "republish: payload, qos, retain or direct_dispatch: %s",
                    mqr_strerror(rc));
    mqr_user_property_t *up = NULL;
    if (a->copy_user_props) {
        const mqr_value_t *pp = mqr_value_object_get(cx->columns, "pub_props", 9);
        const mqr_value_t *u = pp ? mqr_value_object_get(pp, "User-Property", 13) : NULL;
        if (u)
            rc = user_props(ar, u, &up, &m.user_property_count);
    } else if (a->user_props) {
        mqr_value_t u;
        rc = mqr_template_lookup(a->user_props, out, ar, &u);
        rc = rc ? rc : user_props(ar, &u, &up, &m.user_property_count);
    }
    if (rc == MQR_OK && a->nfixed_up > 0) {
        mqr_user_property_t *all =
            mqr_arena_alloc(ar, (m.user_property_count + a->nfixed_up) * sizeof *all);
        if (!all)
            return END_FAILED;
        if (m.user_property_count)
            memcpy(all, up, m.user_property_count * sizeof *all);
        memcpy(all + m.user_property_count, a->fixed_up, a->nfixed_up * sizeof *all);
        up = all;
        m.user_property_count += a->nfixed_up;
    }
    m.user_properties = up;
    rc = rc ? rc : int_prop(e, ar, a->pfi, out, &m.payload_format_indicator);
    rc = rc ? rc : int_prop(e, ar, a->mei, out, &m.message_expiry_interval);
    rc = rc ? rc : str_prop(e, ar, a->ctype, out, &m.content_type, &m.content_type_len);
    rc = rc ? rc : str_prop(e, ar, a->resp_topic, out, &m.response_topic, &m.response_topic_len);
    rc = rc ? rc : str_prop(e, ar, a->corr_data, out, &m.correlation_data,
                            &m.correlation_data_len);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "republish: properties: %s", mqr_strerror(rc));
    /* Values the MQTT property cannot carry are left out, as a non-integer is:
     * the indicator is one byte of 0 or 1, the expiry a four-byte integer. */
    if (m.payload_format_indicator > 1)
        m.payload_format_indicator = -1;
    if (m.message_expiry_interval > (int64_t)UINT32_MAX)
        m.message_expiry_interval = -1;
    if (a->persist)
        return mqr__engine_queue_publish(e, ar, a, &m);
    rc = e->opts.publish(e->opts.publish_ud, &m);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "republish: the publisher refused '%.*s': %s",
                    (int)(m.topic_len > 64 ? 64 : m.topic_len), m.topic, mqr_strerror(rc));
    return END_SUCCESS;
}

/* ---- http ------------------------------------------------------------------------------------ */

/* Keep the output as JSON for the fallback actions in req->ud (the body
 * when it is the output itself). MQR_OK or MQR_ENOMEM. */
static int http_hold(mqr_engine_t *e, mqr__emit_ctx_t *cx, const mqr__action_t *a,
                     const mqr_value_t *out, mqr_http_request_t *req)
{
    const char *json = req->body;
    size_t len = req->body_len;
    if (a->body || !json) {
        int rc = mqr__engine_json(e, cx->arena, out, &json, &len);
        if (rc != MQR_OK)
            return rc;
    }
    http_held_t *h = mqr__alloc(&e->alloc, sizeof *h + len + 1);
    if (!h)
        return MQR_ENOMEM;
    h->len = len;
    memcpy(h->json, json, len);
    h->json[len] = '\0';
    req->ud = h;
    return MQR_OK;
}

/* Render path, headers and body into the arena and queue the request. A
 * rendered header with CR, LF or NUL is left out and counted. Returns
 * END_PENDING once the client accepted the message (http_done ends it, maybe
 * already: a full queue drops it before mqr_http_submit returns), END_FAILED
 * for a rendering error or a refused request. */
static int http_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                    const mqr_value_t *out)
{
    mqr_arena_t *ar = cx->arena;
    mqr_http_request_t req;
    memset(&req, 0, sizeof req);
    req.method = a->method;
    int rc = MQR_OK;
    if (a->path)
        rc = render(e, ar, a->path, out, &req.path, &req.path_len);
    mqr_http_header_t *h = NULL;
    if (rc == MQR_OK && a->nhdrs) {
        h = mqr_arena_alloc(ar, a->nhdrs * sizeof *h);
        if (!h)
            rc = MQR_ENOMEM;
        for (uint32_t i = 0; rc == MQR_OK && i < a->nhdrs; i++) {
            mqr_http_header_t *x = &h[req.header_count];
            rc = render(e, ar, a->hdrs[i].name, out, &x->name, &x->name_len);
            rc = rc ? rc : render(e, ar, a->hdrs[i].value, out, &x->value, &x->value_len);
            if (rc != MQR_OK)
                break;
            if (mqr_http_header_check(x->name, x->name_len, x->value, x->value_len, NULL) !=
                MQR_OK)
                a->m.headers_refused++;
            else
                req.header_count++;
        }
    }
    req.headers = h;
    int32_t method = a->method ? a->method : a->test_cfg.method;
    if (rc == MQR_OK && method != MQR_HTTP_GET && method != MQR_HTTP_DELETE) {
        const char *body;
        rc = a->body ? render(e, ar, a->body, out, &body, &req.body_len)
                     : mqr__engine_json(e, ar, out, &body, &req.body_len);
        req.body = body;
    }
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "http: rendering path, headers or body: %s", mqr_strerror(rc));
    if (a->persist)
        return mqr__engine_queue_http(e, ar, a, &req);
    if (a->nfallback && !e->in_fallback && (rc = http_hold(e, cx, a, out, &req)) != MQR_OK)
        return FAIL(e, a, rc, "http: keeping the output for the fallback: %s", mqr_strerror(rc));
    mqr_diag_t d;
    rc = mqr_http_submit(a->client, &req, mqr__engine_mono(e), NULL, &d);
    mqr__engine_http_sync(e, a); /* the submit may have opened a connection */
    if (rc == MQR_OK)
        return END_PENDING; /* http_done ends it, possibly already */
    held_free(e, req.ud); /* refused: no callback will run */
    if (rc == MQR_ENOMEM) {
        account(a, END_DROPPED, MQR_HTTP_REASON_OTHER);
        mqr__engine_error(e, NULL, a, rc, NULL, "http: %s", d.message);
        mqr__engine_fallback(e, cx, a, out, NULL, 0);
        return END_PENDING;
    }
    return FAIL(e, a, rc, "http: %s", d.message);
}

/* ---- callback -------------------------------------------------------------------------------- */

/* Hand the output, as JSON and as a value, to the user's function. */
static int callback_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                        const mqr_value_t *out)
{
    const char *json;
    size_t len;
    int rc = mqr__engine_json(e, cx->arena, out, &json, &len);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "callback: output as JSON: %s", mqr_strerror(rc));
    rc = a->fn(a->ud, a->rule->id, json, len, out);
    if (rc != MQR_OK)
        return FAIL(e, a, rc, "callback: returned %s", mqr_status_name(rc));
    return END_SUCCESS;
}

void mqr__engine_action_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                            const mqr_value_t *output)
{
    a->rule->m.actions_total++;
    if (a->disabled) {
        a->m.discarded++;
        a->rule->m.actions_discarded++;
        return;
    }
    a->m.matched++;
    int end = END_FAILED;
    switch (a->kind) {
    case MQR_ACTION_REPUBLISH: end = republish_run(e, cx, a, output); break;
    case MQR_ACTION_HTTP: end = http_run(e, cx, a, output); break;
    case MQR_ACTION_CALLBACK: end = callback_run(e, cx, a, output); break;
    case MQR_ACTION_CUSTOM: end = mqr__engine_custom_run(e, cx, a, output); break;
    default: break;
    }
    if (end == END_PENDING)
        return; /* to end through the client or the queue */
    if (a->kind != MQR_ACTION_CUSTOM) /* the queue counted its own ending */
        account(a, end, 0);
    if (end != END_SUCCESS && a->nfallback)
        mqr__engine_fallback(e, cx, a, output, NULL, 0);
}

/* ---- adding and removing actions ------------------------------------------------------------- */

static void tpl_free(mqr_template_t **t)
{
    mqr_template_free(*t);
    *t = NULL;
}

void mqr__engine_action_free(mqr_engine_t *e, mqr__action_t *a)
{
    mqr__engine_fallback_free(e, a); /* messages ended by the removal run no fallback */
    if (a->cu)
        mqr__engine_custom_free(e, a);
    if (a->client) {
        mqr_http_destroy(a->client); /* ends pending messages through http_done */
        if (a->http_prev)
            a->http_prev->http_next = a->http_next;
        else
            e->http_first = a->http_next;
        if (a->http_next)
            a->http_next->http_prev = a->http_prev;
    }
    mqr__engine_queue_free(e, a);
    mqr_template_t **tpls[] = {&a->topic, &a->payload,  &a->qos,       &a->retain,
                               &a->user_props, &a->pfi, &a->mei,       &a->ctype,
                               &a->resp_topic, &a->corr_data, &a->direct, &a->path,
                               &a->body};
    for (size_t i = 0; i < MQR__ARRAY_LEN(tpls); i++)
        tpl_free(tpls[i]);
    for (uint32_t i = 0; i < a->nhdrs; i++) {
        tpl_free(&a->hdrs[i].name);
        tpl_free(&a->hdrs[i].value);
    }
    mqr__free(&e->alloc, a->hdrs, a->nhdrs * sizeof *a->hdrs);
    for (uint32_t i = 0; a->test_hdrs && i < a->test_cfg.header_count; i++) {
        mqr__free(&e->alloc, (void *)a->test_hdrs[i].name, a->test_hdrs[i].name_len + 1);
        mqr__free(&e->alloc, (void *)a->test_hdrs[i].value, a->test_hdrs[i].value_len + 1);
    }
    mqr__free(&e->alloc, a->test_hdrs, a->test_cfg.header_count * sizeof *a->test_hdrs);
    if (a->test_url)
        mqr__free(&e->alloc, a->test_url, strlen(a->test_url) + 1);
    if (a->test_ca)
        mqr__free(&e->alloc, a->test_ca, strlen(a->test_ca) + 1);
    if (a->fixed_up)
        mqr__free(&e->alloc, a->fixed_up, a->fixed_up_size);
    if (a->test_cert)
        mqr__free(&e->alloc, a->test_cert, strlen(a->test_cert) + 1);
    if (a->test_key)
        mqr__free(&e->alloc, a->test_key, strlen(a->test_key) + 1);
    mqr__free(&e->alloc, a, sizeof *a);
}

/* A new action of `kind` for rule rule_id, not yet attached. */
static int action_new(mqr_engine_t *e, const char *rule_id, int32_t kind, mqr__action_t **out,
                      mqr_diag_t *diag)
{
    if (!e || !rule_id)
        return mqr__diag_set(diag, MQR_EINVAL, "action: NULL argument");
    if (e->depth)
        return mqr__diag_set(diag, MQR_ESTATE, "action: actions cannot change during an emit");
    mqr__erule_t *r = mqr__engine_rule_find(e, rule_id, strlen(rule_id));
    if (!r)
        return mqr__diag_set(diag, MQR_ENOTFOUND, "action: rule '%s' does not exist", rule_id);
    mqr__action_t *a = mqr__calloc(&e->alloc, 1, sizeof *a);
    if (!a)
        return mqr__diag_set(diag, MQR_ENOMEM, "action: out of memory");
    a->rule = r;
    a->engine = e;
    a->kind = kind;
    a->m.kind = kind;
    a->qos_const = a->retain_const = a->direct_const = 0;
    *out = a;
    return MQR_OK;
}

/* Append a to its rule's actions and give it an id. */
static void action_attach(mqr_engine_t *e, mqr__action_t *a, uint32_t *out_id)
{
    a->id = e->next_action_id++;
    mqr__action_t **pp = &a->rule->actions;
    while (*pp)
        pp = &(*pp)->next;
    *pp = a;
    if (out_id)
        *out_id = a->id;
}

/* Compile `text` (NULL: leave *t NULL) with the engine's allocator. */
static int tpl_compile(const mqr_engine_t *e, const char *text, size_t len, mqr_template_t **t,
                       const char *field, mqr_diag_t *diag)
{
    *t = NULL;
    if (!text)
        return MQR_OK;
    int rc = mqr_template_compile(text, len, &e->alloc, t, NULL);
    if (rc != MQR_OK)
        return mqr__diag_set(diag, rc, "action: %s: %s", field, mqr_strerror(rc));
    return MQR_OK;
}

static int tpl_compile_z(const mqr_engine_t *e, const char *text, mqr_template_t **t,
                         const char *field, mqr_diag_t *diag)
{
    return tpl_compile(e, text, text ? strlen(text) : 0, t, field, diag);
}

/* A qos/retain/direct_dispatch field: a literal (`*konst` set) or one
 * placeholder (`*konst` -1, *t compiled). */
static int const_or_placeholder(const mqr_engine_t *e, const char *text, int is_qos,
                                int32_t *konst, mqr_template_t **t, const char *field,
                                mqr_diag_t *diag)
{
    *konst = 0;
    if (!text)
        return MQR_OK;
    size_t len = strlen(text);
    if (is_qos && len == 1 && text[0] >= '0' && text[0] <= '2') {
        *konst = text[0] - '0';
        return MQR_OK;
    }
    if (!is_qos && (text_is(text, len, "true") || text_is(text, len, "false"))) {
        *konst = text[0] == 't';
        return MQR_OK;
    }
    int rc = tpl_compile(e, text, len, t, field, diag);
    if (rc != MQR_OK)
        return rc;
    if (!mqr_template_is_single_placeholder(*t))
        return mqr__diag_set(diag, MQR_EINVAL, "republish: %s must be %s or one ${...} placeholder",
                             field, is_qos ? "0, 1, 2" : "true, false");
    *konst = -1;
    return MQR_OK;
}

/* Copy the fixed user properties into one block: the array, then the text. */
static int copy_fixed_up(mqr_engine_t *e, mqr__action_t *a, const mqr_republish_config_t *cfg,
                         mqr_diag_t *diag)
{
    uint32_t n = cfg->fixed_user_property_count;
    if (n == 0)
        return MQR_OK;
    if (!cfg->fixed_user_properties)
        return mqr__diag_set(diag, MQR_EINVAL, "republish: fixed_user_properties is NULL");
    size_t size = n * sizeof(mqr_user_property_t);
    for (uint32_t i = 0; i < n; i++) {
        const mqr_user_property_t *p = &cfg->fixed_user_properties[i];
        if ((!p->key && p->key_len) || (!p->value && p->value_len))
            return mqr__diag_set(diag, MQR_EINVAL, "republish: fixed user property %u is NULL", i);
        size += p->key_len + p->value_len;
    }
    char *blk = mqr__alloc(&e->alloc, size);
    if (!blk)
        return mqr__diag_set(diag, MQR_ENOMEM, "republish: out of memory");
    mqr_user_property_t *arr = (mqr_user_property_t *)(void *)blk;
    char *txt = blk + n * sizeof *arr;
    for (uint32_t i = 0; i < n; i++) {
        const mqr_user_property_t *p = &cfg->fixed_user_properties[i];
        if (p->key_len)
            memcpy(txt, p->key, p->key_len);
        arr[i].key = txt;
        arr[i].key_len = p->key_len;
        txt += p->key_len;
        if (p->value_len)
            memcpy(txt, p->value, p->value_len);
        arr[i].value = txt;
        arr[i].value_len = p->value_len;
        txt += p->value_len;
    }
    a->fixed_up = arr;
    a->nfixed_up = n;
    a->fixed_up_size = size;
    return MQR_OK;
}

int mqr_engine_action_add_republish(mqr_engine_t *e, const char *rule_id,
                                    const mqr_republish_config_t *cfg, uint32_t *out_action_id,
                                    mqr_diag_t *diag)
{
    if (!cfg || !cfg->topic || !cfg->topic[0])
        return mqr__diag_set(diag, MQR_EINVAL, "republish: topic is required");
    mqr__action_t *a = NULL;
    int rc = action_new(e, rule_id, MQR_ACTION_REPUBLISH, &a, diag);
    if (rc != MQR_OK)
        return rc;
    const char *payload = cfg->payload && cfg->payload[0] ? cfg->payload : NULL;
    const char *up = cfg->user_properties;
    if (up && (strcmp(up, "${pub_props.'User-Property'}") == 0 ||
               strcmp(up, "${.pub_props.'User-Property'}") == 0)) {
        a->copy_user_props = 1;
        up = NULL;
    }
    rc = tpl_compile_z(e, cfg->topic, &a->topic, "topic", diag);
    rc = rc ? rc : tpl_compile_z(e, payload, &a->payload, "payload", diag);
    rc = rc ? rc : const_or_placeholder(e, cfg->qos, 1, &a->qos_const, &a->qos, "qos", diag);
    rc = rc ? rc
            : const_or_placeholder(e, cfg->retain, 0, &a->retain_const, &a->retain, "retain",
                                   diag);
    rc = rc ? rc
            : const_or_placeholder(e, cfg->direct_dispatch, 0, &a->direct_const, &a->direct,
                                   "direct_dispatch", diag);
    rc = rc ? rc : tpl_compile_z(e, up, &a->user_props, "user_properties", diag);
    if (rc == MQR_OK && a->user_props && !mqr_template_is_single_placeholder(a->user_props))
        rc = mqr__diag_set(diag, MQR_EINVAL,
                           "republish: user_properties must be one ${...} placeholder");
    rc = rc ? rc
            : tpl_compile_z(e, cfg->payload_format_indicator, &a->pfi,
                            "payload_format_indicator", diag);
    rc = rc ? rc
            : tpl_compile_z(e, cfg->message_expiry_interval, &a->mei, "message_expiry_interval",
                            diag);
    rc = rc ? rc : tpl_compile_z(e, cfg->content_type, &a->ctype, "content_type", diag);
    rc = rc ? rc : tpl_compile_z(e, cfg->response_topic, &a->resp_topic, "response_topic", diag);
    rc = rc ? rc
            : tpl_compile_z(e, cfg->correlation_data, &a->corr_data, "correlation_data", diag);
    rc = rc ? rc : copy_fixed_up(e, a, cfg, diag);
    if (rc != MQR_OK) {
        mqr__engine_action_free(e, a);
        return rc;
    }
    action_attach(e, a, out_action_id);
    return MQR_OK;
}

static int has_crlf_nul(const char *s, size_t len)
{
    return memchr(s, '\r', len) || memchr(s, '\n', len) || memchr(s, '\0', len);
}

/* Copy the connector's URL, CA file and headers for the connector test. */
static int copy_connector(mqr_engine_t *e, mqr__action_t *a, const mqr_http_config_t *c)
{
    a->test_cfg = *c;
    a->test_cfg.header_count = 0;
    a->test_cfg.headers = NULL;
    a->test_url = mqr__strndup(&e->alloc, c->url, strlen(c->url));
    if (!a->test_url)
        return MQR_ENOMEM;
    a->test_cfg.url = a->test_url;
    if (c->ca_file) {
        a->test_ca = mqr__strndup(&e->alloc, c->ca_file, strlen(c->ca_file));
        if (!a->test_ca)
            return MQR_ENOMEM;
    }
    a->test_cfg.ca_file = a->test_ca;
    if (c->cert_file) {
        a->test_cert = mqr__strndup(&e->alloc, c->cert_file, strlen(c->cert_file));
        if (!a->test_cert)
            return MQR_ENOMEM;
    }
    a->test_cfg.cert_file = a->test_cert;
    if (c->key_file) {
        a->test_key = mqr__strndup(&e->alloc, c->key_file, strlen(c->key_file));
        if (!a->test_key)
            return MQR_ENOMEM;
    }
    a->test_cfg.key_file = a->test_key;
    if (c->header_count) {
        if (!c->headers)
            return MQR_EINVAL;
        a->test_hdrs = mqr__calloc(&e->alloc, c->header_count, sizeof *a->test_hdrs);
        if (!a->test_hdrs)
            return MQR_ENOMEM;
        for (uint32_t i = 0; i < c->header_count; i++) {
            const mqr_http_header_t *h = &c->headers[i];
            if ((!h->name && h->name_len) || (!h->value && h->value_len))
                return MQR_EINVAL;
            char *n = mqr__strndup(&e->alloc, h->name ? h->name : "", h->name_len);
            char *v = mqr__strndup(&e->alloc, h->value ? h->value : "", h->value_len);
            if (n) {
                a->test_hdrs[i].name = n;
                a->test_hdrs[i].name_len = h->name_len;
            }
            if (v) {
                a->test_hdrs[i].value = v;
                a->test_hdrs[i].value_len = h->value_len;
            }
            a->test_cfg.header_count = i + 1;
            if (!n || !v)
                return MQR_ENOMEM;
        }
        a->test_cfg.headers = a->test_hdrs;
    }
    return MQR_OK;
}

/* Compile the header templates, refusing CR, LF and NUL in their text. */
static int header_templates(mqr_engine_t *e, mqr__action_t *a, const mqr_http_action_config_t *cfg,
                            mqr_diag_t *diag)
{
    if (!cfg->header_count)
        return MQR_OK;
    if (!cfg->headers)
        return mqr__diag_set(diag, MQR_EINVAL, "http action: headers NULL with a count");
    a->hdrs = mqr__calloc(&e->alloc, cfg->header_count, sizeof *a->hdrs);
    if (!a->hdrs)
        return mqr__diag_set(diag, MQR_ENOMEM, "http action: out of memory");
    a->nhdrs = cfg->header_count;
    for (uint32_t i = 0; i < cfg->header_count; i++) {
        const mqr_http_header_t *h = &cfg->headers[i];
        if (!h->name || !h->name_len || (!h->value && h->value_len))
            return mqr__diag_set(diag, MQR_EINVAL, "http action: header %u has no name", i);
        if (has_crlf_nul(h->name, h->name_len) ||
            (h->value && has_crlf_nul(h->value, h->value_len)))
            return mqr__diag_set(diag, MQR_EINVAL,
                                 "http action: header %u contains CR, LF or NUL", i);
        int rc = tpl_compile(e, h->name, h->name_len, &a->hdrs[i].name, "header name", diag);
        rc = rc ? rc
                : tpl_compile(e, h->value ? h->value : "", h->value_len, &a->hdrs[i].value,
                              "header value", diag);
        if (rc != MQR_OK)
            return rc;
    }
    return MQR_OK;
}

/* The connector headers EMQX sends when none are configured (spec §9.2). */
#define HDR(n, v) {n, sizeof n - 1, v, sizeof v - 1}
static const mqr_http_header_t default_headers[] = {
    HDR("accept", "application/json"),
    HDR("cache-control", "no-cache"),
    HDR("connection", "keep-alive"),
    HDR("content-type", "application/json"),
    HDR("keep-alive", "timeout=5"),
};
#undef HDR

int mqr_engine_action_add_http(mqr_engine_t *e, const char *rule_id,
                               const mqr_http_action_config_t *cfg, uint32_t *out_action_id,
                               mqr_diag_t *diag)
{
    if (!cfg || !cfg->http.url)
        return mqr__diag_set(diag, MQR_EINVAL, "http action: url is required");
    if (cfg->method < 0 || cfg->method > MQR_HTTP_DELETE)
        return mqr__diag_set(diag, MQR_EINVAL, "http action: unknown method %d", cfg->method);
    mqr__action_t *a = NULL;
    int rc = action_new(e, rule_id, MQR_ACTION_HTTP, &a, diag);
    if (rc != MQR_OK)
        return rc;
    a->method = cfg->method;
    rc = tpl_compile_z(e, cfg->path, &a->path, "path", diag);
    rc = rc ? rc : tpl_compile_z(e, cfg->body, &a->body, "body", diag);
    rc = rc ? rc : header_templates(e, a, cfg, diag);
    mqr_http_config_t conn = cfg->http;
    if (conn.header_count == 0) {
        conn.headers = default_headers;
        conn.header_count = (uint32_t)MQR__ARRAY_LEN(default_headers);
    }
    if (rc == MQR_OK) {
        rc = copy_connector(e, a, &conn);
        if (rc != MQR_OK)
            mqr__diag_set(diag, rc, "http action: %s", mqr_strerror(rc));
    }
    if (rc == MQR_OK) {
        mqr_http_config_t hc = conn;
        hc.allocator = e->alloc;
        hc.on_done = http_done;
        hc.ud = a;
        rc = mqr_http_create(&hc, &a->client, diag);
        if (rc == MQR_OK)
            mqr__http_set_close_hook(a->client, mqr__engine_http_closed, a);
    }
    if (rc != MQR_OK) {
        mqr__engine_action_free(e, a);
        return rc;
    }
    a->http_next = e->http_first;
    if (e->http_first)
        e->http_first->http_prev = a;
    e->http_first = a;
    action_attach(e, a, out_action_id);
    return MQR_OK;
}

int mqr_engine_action_add_callback(mqr_engine_t *e, const char *rule_id, mqr_engine_callback_fn fn,
                                   void *ud, uint32_t *out_action_id, mqr_diag_t *diag)
{
    if (!fn)
        return mqr__diag_set(diag, MQR_EINVAL, "callback action: fn is required");
    mqr__action_t *a = NULL;
    int rc = action_new(e, rule_id, MQR_ACTION_CALLBACK, &a, diag);
    if (rc != MQR_OK)
        return rc;
    a->fn = fn;
    a->ud = ud;
    action_attach(e, a, out_action_id);
    return MQR_OK;
}

int mqr_engine_action_add_custom(mqr_engine_t *e, const char *rule_id,
                                 const mqr_custom_action_config_t *cfg, uint32_t *out_action_id,
                                 mqr_diag_t *diag)
{
    if (!cfg || !cfg->ops || !cfg->ops->submit || !cfg->type || !cfg->type[0])
        return mqr__diag_set(diag, MQR_EINVAL, "custom action: type, ops and ops->submit are required");
    if (cfg->batch_size > MQR_ACTION_MAX_BATCH)
        return mqr__diag_set(diag, MQR_EINVAL, "custom action: batch_size %u exceeds %u",
                             cfg->batch_size, MQR_ACTION_MAX_BATCH);
    mqr__action_t *a = NULL;
    int rc = action_new(e, rule_id, MQR_ACTION_CUSTOM, &a, diag);
    if (rc != MQR_OK)
        return rc;
    rc = mqr__engine_custom_init(e, a, cfg);
    if (rc != MQR_OK) {
        mqr__engine_action_free(e, a);
        return mqr__diag_set(diag, rc, "custom action: out of memory");
    }
    a->cu_next = e->custom_first;
    if (e->custom_first)
        e->custom_first->cu_prev = a;
    e->custom_first = a;
    action_attach(e, a, out_action_id);
    return MQR_OK;
}

int mqr_engine_action_remove(mqr_engine_t *e, uint32_t action_id)
{
    if (!e)
        return MQR_EINVAL;
    if (e->depth)
        return MQR_ESTATE;
    for (mqr__erule_t *r = e->first; r; r = r->next) {
        for (mqr__action_t **pp = &r->actions; *pp; pp = &(*pp)->next) {
            if ((*pp)->id == action_id) {
                mqr__action_t *a = *pp;
                *pp = a->next;
                mqr__engine_action_free(e, a);
                return MQR_OK;
            }
        }
    }
    return MQR_ENOTFOUND;
}

int mqr_engine_action_test(mqr_engine_t *e, uint32_t action_id, uint32_t timeout_ms,
                           mqr_http_test_result_t *out)
{
    if (!e || !out)
        return MQR_EINVAL;
    mqr__action_t *a = mqr__engine_action_find(e, action_id);
    if (a && a->kind == MQR_ACTION_HTTP)
        return mqr_http_test(&a->test_cfg, timeout_ms, out);
    if (a && a->kind == MQR_ACTION_CUSTOM)
        return mqr__engine_custom_test(a, timeout_ms, out);
    return MQR_ENOTFOUND;
}
