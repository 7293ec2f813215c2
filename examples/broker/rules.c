/* SPDX-License-Identifier: MIT */
/*
 * rules.c - the broker's rule engine handle: created with the configured
 * names profile, loaded with the configuration's rules and their actions
 * (replaced whole on SIGHUP), tested with --test-connectors, and driven by
 * the broker's loop for the HTTP actions (brk_events_fds / _timeout /
 * _fd_ready / _process). A republish action calls back into the broker,
 * which routes the message like a client's PUBLISH. The events themselves
 * are built in events.c.
 */
#include <stdlib.h>
#include <string.h>

#include "events_int.h"

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

/* Compile cfg's rules with their actions in a scratch engine, discarded
 * after: 0, or -1 with the first error in err. */
static int dry_run(broker_t *b, const brk_config_t *cfg, char *err, size_t errcap)
{
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
    return rc;
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
    if (dry_run(b, cfg, err, errcap) != 0)
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

/* One rule with its actions (the admin API's): live 0 compiles it in a
 * scratch engine and discards it (a dry run), live 1 adds it to the
 * broker's engine. 0, or -1 with the reason in err. */
int brk_events_add_rule(broker_t *b, const brk_rule_cfg_t *r, int live, char *err, size_t errcap)
{
    if (live)
        return add_rule(b->ev, r, err, errcap);
    brk_config_t one = b->cfg;
    one.rules = (brk_rule_cfg_t *)r;
    one.nrules = 1;
    return dry_run(b, &one, err, errcap);
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
        brk_ev_tmpl_destroy(b->ev->tmpl[i]);
    free(b->ev->http_ids);
    free(b->ev);
    b->ev = NULL;
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
