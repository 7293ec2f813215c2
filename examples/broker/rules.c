/* SPDX-License-Identifier: MIT */
/*
 * rules.c - the broker's rule engine handle: created with the configured
 * names profile, loaded with the configuration's rules and their actions
 * (replaced whole on SIGHUP), tested with --test-connectors, and driven by
 * the broker's loop: the engine's socket-state and timer callbacks go to
 * brk_loop_engine_sock / _timer, readiness and expiry come back through
 * brk_events_fd_ready / _process. A republish action calls back into the broker,
 * which routes the message like a client's PUBLISH. The events themselves
 * are built in events.c.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_state.h"

/* Append one property to the buffer (grown as needed). 0 or -1. */
static int prop_put(uint8_t **buf, size_t *cap, size_t *len, const mqr_prop_t *pr)
{
    while (mqr_packet_prop_add(*buf, *cap, len, pr) == MQR_EBUFFER) {
        if (*cap > (1u << 28))
            return -1;
        *cap *= 2;
        *buf = brk_xrealloc(*buf, *cap);
    }
    return 0;
}

/* The MQTT 5 properties of a republished message (user properties,
 * Payload-Format-Indicator, Message-Expiry-Interval, Content-Type,
 * Response-Topic, Correlation-Data) into *buf. Returns the length. */
static size_t republish_props(const mqr_publish_msg_t *msg, uint8_t **buf, size_t *cap)
{
    size_t len = 0;
    mqr_prop_t pr;
    for (uint32_t i = 0; i < msg->user_property_count; i++) {
        const mqr_user_property_t *u = &msg->user_properties[i];
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_USER_PROPERTY;
        pr.type = MQR_PROPTYPE_PAIR;
        pr.str = (mqr_str_t){u->key, (uint32_t)u->key_len, 0};
        pr.str2 = (mqr_str_t){u->value, (uint32_t)u->value_len, 0};
        (void)prop_put(buf, cap, &len, &pr);
    }
    if (msg->payload_format_indicator >= 0) {
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_PAYLOAD_FORMAT_INDICATOR;
        pr.type = MQR_PROPTYPE_BYTE;
        pr.value = (uint32_t)msg->payload_format_indicator;
        (void)prop_put(buf, cap, &len, &pr);
    }
    if (msg->message_expiry_interval >= 0) {
        memset(&pr, 0, sizeof pr);
        pr.id = MQR_PROP_MESSAGE_EXPIRY_INTERVAL;
        pr.type = MQR_PROPTYPE_U32;
        pr.value = (uint32_t)msg->message_expiry_interval;
        (void)prop_put(buf, cap, &len, &pr);
    }
    const struct {
        uint8_t id, type;
        const char *s;
        size_t n;
    } strs[] = {
        {MQR_PROP_CONTENT_TYPE, MQR_PROPTYPE_STRING, msg->content_type, msg->content_type_len},
        {MQR_PROP_RESPONSE_TOPIC, MQR_PROPTYPE_STRING, msg->response_topic,
         msg->response_topic_len},
        {MQR_PROP_CORRELATION_DATA, MQR_PROPTYPE_BINARY, msg->correlation_data,
         msg->correlation_data_len},
    };
    for (size_t i = 0; i < 3; i++) {
        if (strs[i].s == NULL)
            continue;
        memset(&pr, 0, sizeof pr);
        pr.id = strs[i].id;
        pr.type = strs[i].type;
        if (pr.type == MQR_PROPTYPE_BINARY)
            pr.bin = (mqr_bin_t){(const uint8_t *)strs[i].s, (uint32_t)strs[i].n, 0};
        else
            pr.str = (mqr_str_t){strs[i].s, (uint32_t)strs[i].n, 0};
        (void)prop_put(buf, cap, &len, &pr);
    }
    return len;
}

/* The engine's republish publisher: route the message inside the broker,
 * with its MQTT 5 properties and cause chain, within the cascade budget
 * (brk_mqtt_republish). A refusal is remembered for the failure log. */
static int republish(void *ud, const mqr_publish_msg_t *msg)
{
    broker_t *b = ud;
    size_t cap = 256;
    uint8_t *buf = brk_xrealloc(NULL, cap);
    size_t len = republish_props(msg, &buf, &cap);
    mqr_props_t props = {buf, (uint32_t)len, len > 0};
    int rc = brk_mqtt_republish(b, msg, len > 0 ? &props : NULL);
    free(buf);
    if (rc != MQR_OK && b->ev != NULL)
        snprintf(b->ev->publish_error, sizeof b->ev->publish_error, "topic '%.*s': %s",
                 (int)(msg->topic_len > 200 ? 200 : msg->topic_len), msg->topic,
                 rc == MQR_ETOPIC ? "not a valid topic name" : mqr_strerror(rc));
    return rc;
}

static void engine_sock(void *ud, int fd, uint32_t events)
{
    brk_loop_engine_sock(ud, fd, events);
}

static void engine_timer(void *ud, int64_t ms)
{
    brk_loop_engine_timer(ud, ms);
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
    o.sock_fn = engine_sock;
    o.sock_ud = b;
    o.timer_fn = engine_timer;
    o.timer_ud = b;
    if (mqr_engine_create(&o, &ev->engine) != MQR_OK) {
        free(ev);
        *err = "cannot create the rule engine";
        return -1;
    }
    b->ev = ev;
    return 0;
}

/* ---- actions in the engine ------------------------------------------------------------------ */

/* An action in the running engine, with what its failure log needs. */
typedef struct brk_action_rt {
    char *rule_id;
    char *type;
    brk_action_out_t out;
    /* failure tracking (brk_events_watch) */
    mqr_action_metrics_t seen;    /* the metrics at the previous look */
    int failing;
    int64_t failing_since, next_summary; /* monotonic ms */
    uint64_t fail_total, fail_window;    /* failures since it started failing / this interval */
    uint64_t summary_failed, summary_dropped, summary_expired, summary_full; /* this interval */
    uint64_t summary_retried, summary_timeouts;
    uint64_t err_count;                  /* the engine's error count at the last look */
    char last_err[MQR_DIAG_MESSAGE_MAX]; /* the engine's last error text, "" if none */
    int err_new;                         /* last_err changed at this look */
} brk_action_rt_t;

static void action_rt_free(brk_action_rt_t *r)
{
    if (r->out.free_state != NULL)
        r->out.free_state(r->out.state);
    free(r->rule_id);
    free(r->type);
}

/* Messages an action still holds (queued or in flight). */
static uint64_t action_pending(const brk_events_t *ev, const brk_action_rt_t *r)
{
    mqr_action_metrics_t m;
    if (mqr_engine_action_metrics(ev->engine, r->out.id, &m) != MQR_OK)
        return 0;
    return m.queuing + m.inflight;
}

/* Remove rule `id` with its actions from ev's engine and its action list;
 * log what its actions still held (those messages are dropped). */
static void remove_rule(broker_t *b, brk_events_t *ev, const char *id)
{
    for (size_t i = 0; i < ev->nacts; i++) {
        brk_action_rt_t *r = &ev->acts[i];
        uint64_t p = strcmp(r->rule_id, id) ? 0 : action_pending(ev, r);
        if (p > 0)
            brk_log(b, BRK_LOG_WARNING, "rule '%s': action %s (%s): %llu message(s) dropped "
                    "with the old rule", id, r->type, r->out.target, (unsigned long long)p);
    }
    (void)mqr_engine_rule_remove(ev->engine, id);
    size_t k = 0;
    for (size_t i = 0; i < ev->nacts; i++) {
        if (!strcmp(ev->acts[i].rule_id, id))
            action_rt_free(&ev->acts[i]);
        else
            ev->acts[k++] = ev->acts[i];
    }
    ev->nacts = k;
}

/*
 * Build action a (a rule's action, or one of its fallbacks, whose log
 * lines say "fallback TYPE") through its type's factory into `engine` for
 * rule r. With
 * `keep` (the running engine) it is recorded in ev->acts (so removing the
 * rule frees it) and, for a rule's action k with persistence on, given its
 * durable queue; a scratch engine's state is freed at once. 0 with *id, or
 * -1 with "file:line: ..." in err (the caller removes the rule).
 */
static int make_action(broker_t *b, brk_events_t *ev, mqr_engine_t *engine,
                       const brk_config_t *cfg, const brk_rule_cfg_t *r,
                       const brk_action_cfg_t *a, int keep, size_t k, uint32_t *id, char *err,
                       size_t errcap)
{
    const brk_action_type_t *t = brk_action_type_find(a->type);
    brk_action_ctx_t ctx = {b, engine, r->id, cfg, !keep, a, err, errcap};
    brk_action_out_t out;
    memset(&out, 0, sizeof out);
    if (t == NULL) {
        if (a->line > 0)
            snprintf(err, errcap, "%s:%u: unknown action type '%s'", a->file, a->line, a->type);
        else /* a REST request's action: file is "actions[0]..." */
            snprintf(err, errcap, "%s: unknown action type '%s'", a->file, a->type);
        return -1;
    }
    if (t->make(&ctx, a, &out) != 0)
        return -1;
    *id = out.id;
    if (!keep) {
        if (out.free_state != NULL)
            out.free_state(out.state);
        return 0;
    }
    ev->acts = brk_xrealloc(ev->acts, (ev->nacts + 1) * sizeof *ev->acts);
    brk_action_rt_t *rt = &ev->acts[ev->nacts++];
    memset(rt, 0, sizeof *rt);
    rt->rule_id = brk_strdup(r->id);
    if (a->is_fallback) {
        char type[128];
        snprintf(type, sizeof type, "fallback %s", a->type);
        rt->type = brk_strdup(type);
    } else {
        rt->type = brk_strdup(a->type);
    }
    rt->out = out;
    /* fallbacks get no durable queue of their own (docs/broker.md) */
    if (!a->is_fallback && ev->persist != NULL &&
        brk_persist_action(ev->persist, r->id, k, out.id, a->type, err, errcap) != 0)
        return -1;
    return 0;
}

/*
 * Action a of rule r and its fallbacks: each fallback is an action of the
 * same rule made fallback-only (the rule's run skips it) and named with
 * mqr_engine_action_set_fallback, so it runs only when a fails for good.
 * 0, or -1 with err.
 */
static int make_with_fallbacks(broker_t *b, brk_events_t *ev, mqr_engine_t *engine,
                               const brk_config_t *cfg, const brk_rule_cfg_t *r,
                               const brk_action_cfg_t *a, int keep, size_t k, char *err,
                               size_t errcap)
{
    uint32_t id, fids[MQR_ENGINE_MAX_FALLBACKS];
    if (make_action(b, ev, engine, cfg, r, a, keep, k, &id, err, errcap) != 0)
        return -1;
    if (a->nfallbacks == 0)
        return 0;
    if (a->nfallbacks > MQR_ENGINE_MAX_FALLBACKS) {
        snprintf(err, errcap, "%s:%u: action %s: more than %d fallbacks", a->file, a->line,
                 a->type, MQR_ENGINE_MAX_FALLBACKS);
        return -1;
    }
    for (size_t i = 0; i < a->nfallbacks; i++) {
        const brk_action_cfg_t *f = &a->fallbacks[i];
        if (make_action(b, ev, engine, cfg, r, f, keep, k, &fids[i], err, errcap) != 0)
            return -1;
        int st = mqr_engine_action_set_fallback_only(engine, fids[i], 1);
        if (st != MQR_OK) {
            snprintf(err, errcap, "%s:%u: fallback %s: %s", f->file, f->line, f->type,
                     mqr_strerror(st));
            return -1;
        }
    }
    int st = mqr_engine_action_set_fallback(engine, id, fids, a->nfallbacks);
    if (st != MQR_OK) {
        snprintf(err, errcap, "%s:%u: action %s: fallbacks: %s", a->file, a->line, a->type,
                 mqr_strerror(st));
        return -1;
    }
    return 0;
}

/*
 * One rule with its actions into `engine`. Each action goes through its
 * type's factory (actions.c). With `keep` (the running engine) every action
 * made is recorded in ev->acts; a scratch engine's are freed at once. 0, or
 * -1 with "file:line: ..." in err; the rule is then removed again.
 */
static int add_rule(broker_t *b, brk_events_t *ev, mqr_engine_t *engine,
                    const brk_config_t *cfg, const brk_rule_cfg_t *r, int keep, char *err,
                    size_t errcap)
{
    mqr_engine_rule_def_t def;
    mqr_diag_t d;
    memset(&def, 0, sizeof def);
    def.id = r->id;
    def.sql = r->sql;
    def.enabled = 1;
    mqr_diag_clear(&d);
    int rc = mqr_engine_rule_add(engine, &def, &d);
    if (rc != MQR_OK) {
        /* the diagnostic's message already starts with "line L, column C:" */
        if (d.line > 0 && !strncmp(d.message, "line ", 5))
            snprintf(err, errcap, "%s: rule '%s': SQL %s", r->where, r->id, d.message);
        else if (d.line > 0)
            snprintf(err, errcap, "%s: rule '%s': SQL line %u, column %u: %s", r->where, r->id,
                     d.line, d.column, d.message);
        else
            snprintf(err, errcap, "%s: rule '%s': %s", r->where, r->id,
                     d.message[0] ? d.message : mqr_strerror(rc));
        return -1;
    }
    for (size_t k = 0; k < r->nactions; k++) {
        if (make_with_fallbacks(b, ev, engine, cfg, r, &r->actions[k], keep, k, err, errcap) !=
            0) {
            if (keep)
                remove_rule(b, ev, r->id);
            else
                (void)mqr_engine_rule_remove(engine, r->id);
            return -1;
        }
    }
    return 0;
}

/* The rule of `cfg` with id `id`, or NULL. */
static const brk_rule_cfg_t *find_rule(const brk_config_t *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->nrules; i++)
        if (!strcmp(cfg->rules[i].id, id))
            return &cfg->rules[i];
    return NULL;
}

/* Whether two action configurations are the same (type, options, fallbacks). */
static int same_action(const brk_action_cfg_t *a, const brk_action_cfg_t *c)
{
    if (strcmp(a->type, c->type) != 0 || a->nopts != c->nopts || a->nfallbacks != c->nfallbacks)
        return 0;
    for (size_t i = 0; i < a->nopts; i++)
        if (strcmp(a->opts[i].key, c->opts[i].key) || strcmp(a->opts[i].value, c->opts[i].value))
            return 0;
    for (size_t i = 0; i < a->nfallbacks; i++)
        if (!same_action(&a->fallbacks[i], &c->fallbacks[i]))
            return 0;
    return 1;
}

/* Whether two rule configurations are the same (SQL and every action option). */
static int same_rule(const brk_rule_cfg_t *x, const brk_rule_cfg_t *y)
{
    if (strcmp(x->sql, y->sql) != 0 || x->nactions != y->nactions)
        return 0;
    for (size_t k = 0; k < x->nactions; k++)
        if (!same_action(&x->actions[k], &y->actions[k]))
            return 0;
    return 1;
}

/* Check cfg's rules and actions in a scratch engine, as they would load.
 * 0, or -1 with err. */
static int check_rules(broker_t *b, const brk_config_t *cfg, char *err, size_t errcap)
{
    mqr_engine_options_t o;
    mqr_engine_t *scratch = NULL;
    mqr_engine_options_init(&o);
    o.names = cfg->names;
    if (mqr_engine_create(&o, &scratch) != MQR_OK) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < cfg->nrules && rc == 0; i++)
        rc = add_rule(b, NULL, scratch, cfg, &cfg->rules[i], 0, err, errcap);
    mqr_engine_destroy(scratch);
    return rc;
}

/*
 * Make the engine's rules those of cfg. Everything is first checked in a
 * scratch engine, so a rule set with an error leaves the running rules in
 * force; err then says where (file:line) and why. On a reload (cfg is not
 * b->cfg, whose rules are the running ones) a rule whose SQL and actions are
 * unchanged stays as it is, with its queue and metrics; the others are
 * removed, replaced or added, and each change is logged. 0 or -1.
 */
int brk_events_load_rules(broker_t *b, const brk_config_t *cfg, char *err, size_t errcap)
{
    brk_events_t *ev = b->ev;
    int reload = cfg != &b->cfg;
    if (check_rules(b, cfg, err, errcap) != 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < ev->nloaded; i++) {
        const brk_rule_cfg_t *now = find_rule(cfg, ev->loaded[i]);
        const brk_rule_cfg_t *was = reload ? find_rule(&b->cfg, ev->loaded[i]) : NULL;
        if (now != NULL && was != NULL && same_rule(now, was)) {
            kept++;
            continue;
        }
        if (reload)
            brk_log(b, BRK_LOG_NOTICE, "rule '%s' %s", ev->loaded[i], now ? "changed" : "removed");
        remove_rule(b, ev, ev->loaded[i]);
        free(ev->loaded[i]);
        ev->loaded[i] = NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < ev->nloaded; i++)
        if (ev->loaded[i] != NULL)
            ev->loaded[n++] = ev->loaded[i];
    ev->nloaded = n;
    int rc = 0;
    for (size_t i = 0; i < cfg->nrules; i++) {
        const brk_rule_cfg_t *r = &cfg->rules[i];
        size_t k = 0;
        while (k < ev->nloaded && strcmp(ev->loaded[k], r->id) != 0)
            k++;
        if (k < ev->nloaded)
            continue; /* unchanged */
        if (add_rule(b, ev, ev->engine, cfg, r, 1, err, errcap) != 0) {
            rc = -1; /* checked above: only a host that stopped resolving gets here */
            brk_log(b, BRK_LOG_ERROR, "%s", err);
            continue;
        }
        ev->loaded = brk_xrealloc(ev->loaded, (ev->nloaded + 1) * sizeof *ev->loaded);
        ev->loaded[ev->nloaded++] = brk_strdup(r->id);
        if (reload && find_rule(&b->cfg, r->id) == NULL)
            brk_log(b, BRK_LOG_NOTICE, "rule '%s' added (%s)", r->id, r->where);
        brk_log(b, BRK_LOG_INFO, "rule '%s': %s", r->id, r->sql);
    }
    if (reload && kept > 0)
        brk_log(b, BRK_LOG_INFO, "%zu rule(s) unchanged", kept);
    return rc;
}

/* One rule with its actions (the admin API's): live 0 compiles it in a
 * scratch engine and discards it (a dry run), live 1 adds it to the
 * broker's engine. 0, or -1 with the reason in err. */
int brk_events_add_rule(broker_t *b, const brk_rule_cfg_t *r, int live, char *err, size_t errcap)
{
    if (live)
        return add_rule(b, b->ev, b->ev->engine, &b->cfg, r, 1, err, errcap);
    brk_config_t one = b->cfg;
    one.rules = (brk_rule_cfg_t *)r;
    one.nrules = 1;
    return check_rules(b, &one, err, errcap);
}

/* Remove rule id (the admin API's) with its actions' records. */
void brk_events_remove_rule(broker_t *b, const char *id)
{
    remove_rule(b, b->ev, id);
}

/* Test every HTTP action's connector (decision D12), print a report. Returns
 * the number of failures. */
int brk_events_test_connectors(broker_t *b)
{
    brk_events_t *ev = b->ev;
    int failed = 0, tested = 0;
    for (size_t i = 0; i < ev->nacts; i++) {
        const brk_action_rt_t *r = &ev->acts[i];
        if (r->out.kind != MQR_ACTION_HTTP && r->out.kind != MQR_ACTION_CUSTOM)
            continue;
        mqr_http_test_result_t res;
        memset(&res, 0, sizeof res);
        int rc = mqr_engine_action_test(ev->engine, r->out.id, 5000, &res);
        if (rc == MQR_OK && r->out.kind == MQR_ACTION_CUSTOM)
            printf("ok      rule %s: %s: %s\n", r->rule_id, r->out.target, res.message);
        else if (rc == MQR_OK)
            printf("ok      rule %s: %s: HTTP %d in %u ms\n", r->rule_id, r->out.target,
                   res.http_status, res.elapsed_ms);
        else
            printf("FAILED  rule %s: %s: %s\n", r->rule_id, r->out.target,
                   res.message[0] ? res.message : mqr_strerror(rc));
        failed += rc != MQR_OK;
        tested++;
    }
    if (tested == 0)
        printf("no HTTP or sink actions configured\n");
    return failed;
}

void brk_events_destroy(broker_t *b)
{
    if (b->ev == NULL)
        return;
    mqr_engine_destroy(b->ev->engine);
    for (size_t i = 0; i < b->ev->nacts; i++)
        action_rt_free(&b->ev->acts[i]);
    free(b->ev->acts);
    for (size_t i = 0; i < b->ev->nloaded; i++)
        free(b->ev->loaded[i]);
    free(b->ev->loaded);
    free(b->ev);
    b->ev = NULL;
}

/* ---- the host loop for the engine's actions --------------------------------------------- */

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
    for (size_t i = 0; b->ev != NULL && i < b->ev->nacts; i++) {
        mqr_action_metrics_t m;
        if (b->ev->acts[i].out.kind != MQR_ACTION_HTTP ||
            mqr_engine_action_metrics(b->ev->engine, b->ev->acts[i].out.id, &m) != MQR_OK)
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

/* ---- failures in the log ------------------------------------------------------------------ */

/* Fetch the action's last error text into r->last_err when the engine
 * keeps one (mqr_engine_action_last_error; the engine.h that declares it
 * also defines MQR_ACTION_CUSTOM) and it is new since the last look. */
static void fetch_last_error(const brk_events_t *ev, brk_action_rt_t *r)
{
#ifdef MQR_ACTION_CUSTOM
    mqr_engine_error_t e;
    if (mqr_engine_action_last_error(ev->engine, r->out.id, &e) == MQR_OK &&
        e.count != r->err_count && e.message[0] != 0) {
        r->err_count = e.count;
        snprintf(r->last_err, sizeof r->last_err, "%s", e.message);
        r->err_new = 1;
        return;
    }
#else
    (void)ev;
#endif
    r->err_new = 0;
}

/* Why an action failed since the last look: the engine's last error when
 * there is a new one (connection refused, TLS error, the HTTP status with
 * the first bytes of the body), else what its metrics say (d: the
 * increments). */
static const char *why_failed(const brk_action_rt_t *r, const mqr_action_metrics_t *d,
                              const brk_events_t *ev)
{
    if (r->err_new)
        return r->last_err;
    if (r->out.kind == MQR_ACTION_REPUBLISH)
        return ev->publish_error[0] ? ev->publish_error
                                    : "rendering failed or the rendered topic is not a valid "
                                      "topic name";
    if (d->dropped_queue_full)
        return "queue full (max_buffer_messages / max_buffer_bytes)";
    if (d->dropped_expired)
        return "expired (request_ttl passed before it was delivered)";
    if (d->timeouts)
        return "timeout (connect_timeout / request_timeout)";
    if (d->failed)
        return "request failed (an HTTP status that is not retried, or max_retries used up)";
    if (d->retried)
        return "connection refused, TLS error or HTTP 429/503 (retrying)";
    return "failed";
}

/* m - s, field by field (the counters only grow, except after a reset). */
static void metrics_delta(const mqr_action_metrics_t *m, const mqr_action_metrics_t *s,
                          mqr_action_metrics_t *d)
{
#define D(f) d->f = m->f >= s->f ? m->f - s->f : m->f
    D(success);
    D(failed);
    D(dropped);
    D(dropped_queue_full);
    D(dropped_expired);
    D(dropped_other);
    D(retried);
    D(timeouts);
#undef D
}

/*
 * Look at every action's metrics (once a second, from the loop's tick): an
 * action that starts failing is logged once with its rule, target and why;
 * while it keeps failing, one summary line per action_log_interval with the
 * counts (an interval without a failed attempt has no line); when it
 * delivers again without failing, recovery is logged once.
 * Failing means failed, dropped, timed-out or retried attempts; a retried
 * attempt alone counts only while nothing succeeds.
 */
void brk_events_watch(broker_t *b, int64_t now)
{
    brk_events_t *ev = b->ev;
    for (size_t i = 0; ev != NULL && i < ev->nacts; i++) {
        brk_action_rt_t *r = &ev->acts[i];
        mqr_action_metrics_t m, d;
        if (mqr_engine_action_metrics(ev->engine, r->out.id, &m) != MQR_OK)
            continue;
        metrics_delta(&m, &r->seen, &d);
        fetch_last_error(ev, r);
        uint64_t bad = d.failed + d.dropped + d.timeouts;
        int failing_now = bad > 0 || (d.retried > 0 && d.success == 0);
        if (!r->failing && failing_now) {
            r->failing = 1;
            r->failing_since = now;
            r->next_summary = now + b->cfg.action_log_interval_ms;
            r->fail_total = r->fail_window = 0;
            brk_log(b, BRK_LOG_WARNING, "rule '%s': action %s (%s) is failing: %s", r->rule_id,
                    r->type, r->out.target, why_failed(r, &d, ev));
        } else if (r->failing && d.success > 0 && bad == 0) {
            r->failing = 0;
            brk_log(b, BRK_LOG_NOTICE,
                    "rule '%s': action %s (%s) recovered after %lld s (%llu failed or dropped "
                    "meanwhile)",
                    r->rule_id, r->type, r->out.target, (long long)(now - r->failing_since) / 1000,
                    (unsigned long long)(r->fail_total + bad));
        }
        if (r->failing) {
            r->fail_total += bad;
            r->fail_window += bad + d.retried;
            r->summary_failed += d.failed;
            r->summary_dropped += d.dropped;
            r->summary_expired += d.dropped_expired;
            r->summary_full += d.dropped_queue_full;
            r->summary_retried += d.retried;
            r->summary_timeouts += d.timeouts;
            if (now >= r->next_summary && r->fail_window == 0) {
                r->next_summary = now + b->cfg.action_log_interval_ms; /* quiet: no line */
            } else if (now >= r->next_summary) {
                brk_log(b, BRK_LOG_WARNING,
                        "rule '%s': action %s (%s) still failing for %lld s: in the last %u s "
                        "%llu failed, %llu dropped (%llu queue full, %llu expired), %llu retried, "
                        "%llu timeouts; %llu queued, %llu in flight%s%s",
                        r->rule_id, r->type, r->out.target,
                        (long long)(now - r->failing_since) / 1000,
                        b->cfg.action_log_interval_ms / 1000,
                        (unsigned long long)r->summary_failed,
                        (unsigned long long)r->summary_dropped,
                        (unsigned long long)r->summary_full,
                        (unsigned long long)r->summary_expired,
                        (unsigned long long)r->summary_retried,
                        (unsigned long long)r->summary_timeouts, (unsigned long long)m.queuing,
                        (unsigned long long)m.inflight, r->last_err[0] ? "; last error: " : "",
                        r->last_err);
                r->summary_failed = r->summary_dropped = r->summary_expired = 0;
                r->summary_full = r->summary_retried = r->summary_timeouts = 0;
                r->fail_window = 0;
                r->next_summary = now + b->cfg.action_log_interval_ms;
            }
        }
        r->seen = m;
    }
    if (ev != NULL)
        ev->publish_error[0] = 0;
}

/* After the shutdown flush: log, per action, the messages it still held
 * (lost: not delivered within shutdown_flush_ms). */
void brk_events_flush_report(broker_t *b, uint32_t waited_ms)
{
    brk_events_t *ev = b->ev;
    for (size_t i = 0; ev != NULL && i < ev->nacts; i++) {
        uint64_t p = action_pending(ev, &ev->acts[i]);
        if (p > 0)
            brk_log(b, BRK_LOG_WARNING,
                    "shutdown: rule '%s': action %s (%s): %llu message(s) lost, not delivered "
                    "within shutdown_flush_ms (%u ms)",
                    ev->acts[i].rule_id, ev->acts[i].type, ev->acts[i].out.target,
                    (unsigned long long)p, waited_ms);
    }
}
