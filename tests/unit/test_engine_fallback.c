/* SPDX-License-Identifier: MIT */
/*
 * Tests of the engine's rate metrics (lib/engine_rate.c: matched.rate,
 * .max and .last5m sampled as EMQX's emqx_metrics_worker does, with an
 * injected wall clock), disabled actions (actions.discarded), the action
 * metrics the JSON carries (queuing_bytes, retried.*, late_reply), and
 * fallback actions (lib/engine_fallback.c): run on failure and on drops,
 * with the action's output, for HTTP messages ending in the host loop and
 * custom actions' messages failing later, never a fallback of a fallback,
 * and fallback-only actions that their rule's run skips; and an HTTP
 * connection closed after max_inactive reaching the host as "events 0".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h"
#include "mqttrule.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static int64_t clock_at(void *ud) { return *(int64_t *)ud; }

/* An engine whose wall and monotonic clocks read *now. */
static mqr_engine_t *engine_at(int64_t *now, mqr_engine_publish_fn pub, void *pub_ud)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.clock = clock_at;
    o.clock_ud = now;
    o.mono_clock = clock_at;
    o.mono_clock_ud = now;
    o.publish = pub;
    o.publish_ud = pub_ud;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    return e;
}

static void add_rule(mqr_engine_t *e, const char *id, const char *sql)
{
    mqr_engine_rule_def_t d = {.id = id, .sql = sql, .enabled = 1};
    mqr_diag_t diag;
    cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_OK, "%s", diag.message);
}

static void emit_n(mqr_engine_t *e, const char *topic, const char *payload, int n)
{
    for (int i = 0; i < n; i++) {
        mqr_engine_message_t m;
        memset(&m, 0, sizeof m);
        m.topic = topic;
        m.topic_len = strlen(topic);
        m.payload = payload;
        m.payload_len = strlen(payload);
        cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
    }
}

static mqr_rule_metrics_t rmetrics(const mqr_engine_t *e, const char *id)
{
    mqr_rule_metrics_t m;
    cr_assert_eq(mqr_engine_rule_metrics(e, id, &m), MQR_OK);
    return m;
}

static mqr_action_metrics_t ametrics(const mqr_engine_t *e, uint32_t id)
{
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_engine_action_metrics(e, id, &m), MQR_OK);
    return m;
}

static void rule_json(const mqr_engine_t *e, const char *id, char *buf, size_t cap)
{
    size_t len;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, id, buf, cap, &len), MQR_OK);
}

/* ---- rates ----------------------------------------------------------------------------------- */

#define IV MQR_ENGINE_RATE_INTERVAL_MS

Test(engine_rate, current_max_and_last5m_follow_emqx)
{
    int64_t now = 1000000;
    mqr_engine_t *e = engine_at(&now, NULL, NULL);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    emit_n(e, "t", "{}", 1); /* the first call starts the interval */
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 0.0, 1e-9);
    emit_n(e, "t", "{}", 24); /* 25 in the first interval */
    now += IV;
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 2.5, 1e-9, "25 in 10 s: %f", m.matched_rate);
    cr_assert_float_eq(m.matched_rate_max, 2.5, 1e-9);
    cr_assert_float_eq(m.matched_rate_last5m, 2.5, 1e-9);
    /* the host's process call takes the sample; 5 more in the next interval */
    cr_assert_eq(mqr_engine_process(e, (uint64_t)now), MQR_OK);
    emit_n(e, "t", "{}", 5);
    now += IV;
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 0.5, 1e-9);
    cr_assert_float_eq(m.matched_rate_max, 2.5, 1e-9);
    cr_assert_float_eq(m.matched_rate_last5m, 1.5, 1e-9, "(2.5 + 0.5) / 2: %f",
                       m.matched_rate_last5m);
    /* 40 quiet intervals with no call: the window slides to zero, max stays */
    now += 40 * IV;
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 0.0, 1e-9);
    cr_assert_float_eq(m.matched_rate_max, 2.5, 1e-9);
    cr_assert_float_eq(m.matched_rate_last5m, 0.0, 1e-9);
    cr_assert_eq(m.matched, 30u);
    char json[4096];
    rule_json(e, "r", json, sizeof json);
    cr_assert(strstr(json, "\"matched.rate\":0.0,\"matched.rate.max\":2.5,"
                           "\"matched.rate.last5m\":0.0") != NULL, "%s", json);
    mqr_engine_destroy(e);
}

Test(engine_rate, last5m_averages_the_last_30_samples)
{
    int64_t now = 50;
    mqr_engine_t *e = engine_at(&now, NULL, NULL);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    cr_assert_eq(mqr_engine_process(e, 0), MQR_OK); /* starts the interval */
    /* 31 intervals: the first with 30 matches, then 30 with 3 each */
    emit_n(e, "t", "{}", 30);
    now += IV;
    cr_assert_eq(mqr_engine_process(e, 0), MQR_OK);
    for (int i = 0; i < 30; i++) {
        emit_n(e, "t", "{}", 3);
        now += IV;
        cr_assert_eq(mqr_engine_process(e, 0), MQR_OK);
    }
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 0.3, 1e-9);
    cr_assert_float_eq(m.matched_rate_max, 3.0, 1e-9);
    cr_assert_float_eq(m.matched_rate_last5m, 0.3, 1e-9, "the 30 s of 3.0 left the window: %f",
                       m.matched_rate_last5m);
    /* one interval of 33: (29 * 0.3 + 3.3) / 30 = 0.4 */
    emit_n(e, "t", "{}", 33);
    now += IV;
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate_last5m, 0.4, 1e-9, "%f", m.matched_rate_last5m);
    /* reset forgets the samples */
    cr_assert_eq(mqr_engine_rule_metrics_reset(e, "r"), MQR_OK);
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate_max, 0.0, 1e-9);
    cr_assert_float_eq(m.matched_rate_last5m, 0.0, 1e-9);
    mqr_engine_destroy(e);
}

Test(engine_rate, a_clock_stepping_back_restarts_the_interval)
{
    int64_t now = 10 * IV;
    mqr_engine_t *e = engine_at(&now, NULL, NULL);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    emit_n(e, "t", "{}", 10);
    now = 2 * IV; /* back by 8 intervals */
    emit_n(e, "t", "{}", 10);
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 0.0, 1e-9, "no sample taken");
    now += IV;
    m = rmetrics(e, "r");
    cr_assert_float_eq(m.matched_rate, 2.0, 1e-9, "both batches in the restarted interval");
    mqr_engine_destroy(e);
}

/* ---- discarded and the action metrics in the JSON -------------------------------------------- */

static int cb_ok(void *ud, const char *rule_id, const char *json, size_t len,
                 const mqr_value_t *out)
{
    (void)rule_id, (void)json, (void)len, (void)out;
    (*(int *)ud)++;
    return MQR_OK;
}

Test(engine_rate, a_disabled_action_is_discarded_and_counted)
{
    int64_t now = 1;
    mqr_engine_t *e = engine_at(&now, NULL, NULL);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    int calls = 0;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_callback(e, "r", cb_ok, &calls, &aid, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_enable(e, aid, 0), MQR_OK);
    emit_n(e, "t", "{}", 3);
    cr_assert_eq(calls, 0);
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_eq(m.actions_total, 3u);
    cr_assert_eq(m.actions_discarded, 3u);
    cr_assert_eq(m.actions_total, m.actions_success + m.actions_failed + m.actions_discarded);
    mqr_action_metrics_t am = ametrics(e, aid);
    cr_assert_eq(am.matched, 0u);
    cr_assert_eq(am.discarded, 3u);
    cr_assert_eq(mqr_engine_action_enable(e, aid, 1), MQR_OK);
    emit_n(e, "t", "{}", 1);
    cr_assert_eq(calls, 1);
    char json[4096];
    rule_json(e, "r", json, sizeof json);
    cr_assert(strstr(json, "\"actions.discarded\":3") != NULL, "%s", json);
    cr_assert(strstr(json, "\"discarded\":3") != NULL, "%s", json);
    cr_assert_eq(mqr_engine_action_enable(e, 999, 1), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_enable(NULL, aid, 1), MQR_EINVAL);
    mqr_engine_destroy(e);
}

static mqr_http_action_config_t http_cfg(const char *url)
{
    mqr_http_action_config_t c;
    memset(&c, 0, sizeof c);
    mqr_http_config_init(&c.http);
    c.http.url = url;
    return c;
}

Test(engine_rate, http_queuing_bytes_and_retried_in_the_json)
{
    int64_t now = 1000;
    mqr_engine_t *e = engine_at(&now, NULL, NULL);
    add_rule(e, "r", "SELECT payload FROM \"t\"");
    mqr_http_action_config_t c = http_cfg("http://127.0.0.1:1/x");
    c.http.ttl_ms = 600000;
    c.http.backoff_initial_ms = 60000;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &aid, NULL), MQR_OK);
    emit_n(e, "t", "abc", 2);
    mqr_action_metrics_t am = ametrics(e, aid);
    cr_assert_gt(am.queuing_bytes, 2u * 20u, "two requests held: %llu",
                 (unsigned long long)am.queuing_bytes);
    char json[4096], want[64];
    rule_json(e, "r", json, sizeof json);
    snprintf(want, sizeof want, "\"queuing_bytes\":%llu", (unsigned long long)am.queuing_bytes);
    cr_assert(strstr(json, want) != NULL, "%s", json);
    cr_assert(strstr(json, "\"retried.success\":0,\"retried.failed\":0") != NULL, "%s", json);
    cr_assert(strstr(json, "\"late_reply\":0") != NULL, "%s", json);
    mqr_engine_destroy(e);
}

/* ---- fallback actions -------------------------------------------------------------------------- */

typedef struct pubs {
    int n;
    int refuse;          /* publishes refused, counting down */
    char topic[8][64];
    char payload[8][256];
} pubs_t;

static int pub_fn(void *ud, const mqr_publish_msg_t *m)
{
    pubs_t *p = ud;
    if (p->refuse > 0) {
        p->refuse--;
        return MQR_EIO;
    }
    if (p->n < 8) {
        snprintf(p->topic[p->n], sizeof p->topic[0], "%.*s", (int)m->topic_len, m->topic);
        snprintf(p->payload[p->n], sizeof p->payload[0], "%.*s", (int)m->payload_len,
                 m->payload);
    }
    p->n++;
    return MQR_OK;
}

static uint32_t add_republish(mqr_engine_t *e, const char *rule, const char *topic)
{
    mqr_republish_config_t rc;
    memset(&rc, 0, sizeof rc);
    rc.topic = topic;
    uint32_t id;
    cr_assert_eq(mqr_engine_action_add_republish(e, rule, &rc, &id, NULL), MQR_OK);
    return id;
}

static int cb_fail(void *ud, const char *rule_id, const char *json, size_t len,
                   const mqr_value_t *out)
{
    (void)rule_id, (void)json, (void)len, (void)out;
    (*(int *)ud)++;
    return MQR_EIO;
}

Test(engine_fallback, a_failed_callback_runs_its_fallbacks_with_the_output)
{
    int64_t now = 1;
    pubs_t p = {0};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT payload.v AS v FROM \"t\"");
    int fails = 0;
    uint32_t cb;
    cr_assert_eq(mqr_engine_action_add_callback(e, "r", cb_fail, &fails, &cb, NULL), MQR_OK);
    uint32_t dl = add_republish(e, "r", "dead/${v}");
    /* dl is also an action of the rule: it runs once as an action, once as fallback */
    cr_assert_eq(mqr_engine_action_set_fallback(e, cb, &dl, 1), MQR_OK);
    emit_n(e, "t", "{\"v\":7}", 1);
    cr_assert_eq(fails, 1);
    cr_assert_eq(p.n, 2, "the fallback of cb, then dl as the rule's action");
    cr_assert_str_eq(p.topic[0], "dead/7");
    cr_assert_str_eq(p.payload[0], "{\"v\":7}", "the fallback gets the rule's output");
    mqr_action_metrics_t am = ametrics(e, cb);
    cr_assert_eq(am.failed, 1u);
    cr_assert_eq(am.fallback_triggered, 1u);
    am = ametrics(e, dl);
    cr_assert_eq(am.matched, 2u);
    cr_assert_eq(am.success, 2u);
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_eq(m.actions_total, 3u);
    cr_assert_eq(m.actions_total, m.actions_success + m.actions_failed);
    char json[4096];
    rule_json(e, "r", json, sizeof json);
    cr_assert(strstr(json, "\"fallback_triggered\":1") != NULL, "%s", json);
    mqr_engine_destroy(e);
}

Test(engine_fallback, no_fallback_of_a_fallback)
{
    int64_t now = 1;
    pubs_t p = {.refuse = 100};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    add_rule(e, "spare", "SELECT * FROM \"never\"");
    uint32_t a = add_republish(e, "r", "a");
    uint32_t b = add_republish(e, "spare", "b");
    uint32_t c = add_republish(e, "spare", "c");
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, &b, 1), MQR_OK);
    cr_assert_eq(mqr_engine_action_set_fallback(e, b, &a, 1), MQR_OK); /* a cycle */
    cr_assert_eq(mqr_engine_action_set_fallback(e, b, (uint32_t[]){a, c}, 2), MQR_OK);
    emit_n(e, "t", "{}", 1);
    /* a fails, b runs as its fallback and fails, and nothing more runs */
    cr_assert_eq(ametrics(e, a).matched, 1u);
    cr_assert_eq(ametrics(e, a).fallback_triggered, 1u);
    cr_assert_eq(ametrics(e, b).matched, 1u);
    cr_assert_eq(ametrics(e, b).failed, 1u);
    cr_assert_eq(ametrics(e, b).fallback_triggered, 0u);
    cr_assert_eq(ametrics(e, c).matched, 0u);
    cr_assert_eq(p.refuse, 98);
    /* the fallback's counts go to its own rule */
    mqr_rule_metrics_t s = rmetrics(e, "spare");
    cr_assert_eq(s.matched, 0u);
    cr_assert_eq(s.actions_total, 1u);
    cr_assert_eq(s.actions_failed, 1u);
    mqr_engine_destroy(e);
}

Test(engine_fallback, a_fallback_only_action_runs_only_when_its_action_fails)
{
    int64_t now = 1;
    pubs_t p = {0};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "bad", "SELECT payload.v AS v FROM \"t\"");
    add_rule(e, "good", "SELECT payload.v AS v FROM \"t\"");
    int fails = 0, oks = 0;
    uint32_t cb_bad, cb_good;
    cr_assert_eq(mqr_engine_action_add_callback(e, "bad", cb_fail, &fails, &cb_bad, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_add_callback(e, "good", cb_ok, &oks, &cb_good, NULL), MQR_OK);
    uint32_t dl_bad = add_republish(e, "bad", "dead/bad/${v}");
    uint32_t dl_good = add_republish(e, "good", "dead/good/${v}");
    cr_assert_eq(mqr_engine_action_set_fallback_only(e, dl_bad, 1), MQR_OK);
    cr_assert_eq(mqr_engine_action_set_fallback_only(e, dl_good, 1), MQR_OK);
    cr_assert_eq(mqr_engine_action_set_fallback(e, cb_bad, &dl_bad, 1), MQR_OK);
    cr_assert_eq(mqr_engine_action_set_fallback(e, cb_good, &dl_good, 1), MQR_OK);
    emit_n(e, "t", "{\"v\":7}", 1);
    cr_assert_eq(fails, 1);
    cr_assert_eq(oks, 1);
    cr_assert_eq(p.n, 1, "only the failing action's fallback, and only once: %d", p.n);
    cr_assert_str_eq(p.topic[0], "dead/bad/7");
    cr_assert_eq(ametrics(e, dl_bad).matched, 1u);
    cr_assert_eq(ametrics(e, dl_good).matched, 0u);
    /* the good rule counts its one action; the bad one its action and the fallback */
    cr_assert_eq(rmetrics(e, "good").actions_total, 1u);
    cr_assert_eq(rmetrics(e, "bad").actions_total, 2u);
    /* back to a normal action: the rule runs it again */
    cr_assert_eq(mqr_engine_action_set_fallback_only(e, dl_good, 0), MQR_OK);
    emit_n(e, "t", "{\"v\":8}", 1);
    cr_assert_eq(p.n, 3);
    cr_assert_eq(mqr_engine_action_set_fallback_only(NULL, dl_good, 1), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_set_fallback_only(e, 777, 1), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
}

Test(engine_fallback, set_fallback_errors_and_a_removed_fallback)
{
    int64_t now = 1;
    pubs_t p = {.refuse = 100};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    uint32_t a = add_republish(e, "r", "a");
    uint32_t b = add_republish(e, "r", "b");
    uint32_t ids[MQR_ENGINE_MAX_FALLBACKS + 1];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        ids[i] = b;
    cr_assert_eq(mqr_engine_action_set_fallback(NULL, a, &b, 1), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, NULL, 1), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, &a, 1), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, ids, sizeof ids / sizeof ids[0]), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, ids, MQR_ENGINE_MAX_FALLBACKS), MQR_OK);
    uint32_t none = 777;
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, &none, 1), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_set_fallback(e, 777, &b, 1), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, &b, 1), MQR_OK);
    cr_assert_eq(mqr_engine_action_remove(e, b), MQR_OK);
    emit_n(e, "t", "{}", 1);
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, a, &err), MQR_OK);
    cr_assert_eq(err.status, MQR_ENOTFOUND);
    cr_assert(strstr(err.message, "no longer exists") != NULL, "%s", err.message);
    cr_assert_eq(mqr_engine_action_set_fallback(e, a, NULL, 0), MQR_OK);
    mqr_engine_destroy(e);
}

/* Run the engine's loop until nothing is pending or about 10 s passed. */
static void drive(mqr_engine_t *e, int64_t *now)
{
    uint64_t start = mqr_http_now_ms();
    while (mqr_engine_pending(e) > 0 && mqr_http_now_ms() - start < 10000) {
        *now = (int64_t)mqr_http_now_ms();
        cr_assert_eq(mqr_engine_poll(e, 50), MQR_OK);
    }
}

Test(engine_fallback, an_http_message_dropped_in_the_host_loop_runs_the_fallback)
{
    /* A refused connection (port 1), retried until the TTL: dropped, expired. */
    int64_t now = (int64_t)mqr_http_now_ms();
    pubs_t p = {0};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT payload, topic FROM \"t/#\"");
    mqr_http_action_config_t c = http_cfg("http://127.0.0.1:1/x");
    c.http.ttl_ms = 300;
    c.http.backoff_initial_ms = 20;
    c.body = "${payload}";
    uint32_t h;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &h, NULL), MQR_OK);
    add_rule(e, "dlq", "SELECT * FROM \"never\"");
    uint32_t dl = add_republish(e, "dlq", "dead/${topic}");
    cr_assert_eq(mqr_engine_action_set_fallback(e, h, &dl, 1), MQR_OK);
    emit_n(e, "t/1", "hello", 1);
    cr_assert_eq(p.n, 0, "pending, not yet failed");
    drive(e, &now);
    mqr_action_metrics_t am = ametrics(e, h);
    cr_assert_eq(am.dropped_expired, 1u);
    cr_assert_eq(am.fallback_triggered, 1u);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.topic[0], "dead/t/1");
    cr_assert_str_eq(p.payload[0], "{\"payload\":\"hello\",\"topic\":\"t/1\"}",
                     "the output, not the rendered body: %s", p.payload[0]);
    mqr_engine_destroy(e);
}

Test(engine_fallback, an_http_queue_full_drop_and_a_500_run_the_fallback)
{
    http_server_t srv = {.steps = 1,
                         .responses = {"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"}};
    cr_assert_eq(http_server_start(&srv), 0);
    int64_t now = (int64_t)mqr_http_now_ms();
    pubs_t p = {0};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT payload FROM \"t\"");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", srv.port);
    mqr_http_action_config_t c = http_cfg(url);
    c.http.max_queue_count = 1;
    c.http.pool_size = 1;
    uint32_t h;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &h, NULL), MQR_OK);
    uint32_t dl = add_republish(e, "r", "dead");
    cr_assert_eq(mqr_engine_action_set_fallback(e, h, &dl, 1), MQR_OK);
    emit_n(e, "t", "one", 1);
    cr_assert_eq(p.n, 1, "dl ran as the rule's action");
    emit_n(e, "t", "two", 1); /* queue full: dropped inside the submit */
    cr_assert_eq(p.n, 3, "dl as the fallback of the drop, then as the action (got %d)", p.n);
    cr_assert_str_eq(p.payload[1], "{\"payload\":\"two\"}");
    drive(e, &now); /* "one" gets the 500: failed */
    http_server_stop(&srv);
    mqr_action_metrics_t am = ametrics(e, h);
    cr_assert_eq(am.failed, 1u);
    cr_assert_eq(am.dropped_queue_full, 1u);
    cr_assert_eq(am.fallback_triggered, 2u);
    cr_assert_eq(p.n, 4);
    cr_assert_str_eq(p.payload[3], "{\"payload\":\"one\"}");
    mqr_rule_metrics_t m = rmetrics(e, "r");
    cr_assert_eq(m.actions_total, m.actions_success + m.actions_failed);
    mqr_engine_destroy(e);
}

/* ---- the HTTP client's idle close reaches the host -------------------------------------------- */

typedef struct host {
    int fd;               /* the last descriptor told */
    uint32_t events;      /* and its interest */
    int zeros;            /* "events 0" calls */
    int64_t timer;        /* the last timeout told */
} host_t;

static void on_sock(void *ud, int fd, uint32_t events)
{
    host_t *h = ud;
    h->fd = fd;
    h->events = events;
    h->zeros += events == 0;
}

static void on_timer(void *ud, int64_t ms) { ((host_t *)ud)->timer = ms; }

Test(engine_loop, an_idle_http_connection_closes_after_max_inactive_and_the_host_hears_it)
{
    http_server_t srv = {.steps = HTTP_SERVER_FOREVER};
    cr_assert_eq(http_server_start(&srv), 0);
    int64_t now = (int64_t)mqr_http_now_ms();
    host_t h = {.fd = -1, .timer = -2};
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.mono_clock = clock_at;
    o.mono_clock_ud = &now;
    o.sock_fn = on_sock;
    o.sock_ud = &h;
    o.timer_fn = on_timer;
    o.timer_ud = &h;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    add_rule(e, "r", "SELECT payload FROM \"t\"");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", srv.port);
    mqr_http_action_config_t c = http_cfg(url);
    c.http.pool_size = 1;
    c.http.max_inactive_ms = 300;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &aid, NULL), MQR_OK);
    emit_n(e, "t", "x", 1);
    drive(e, &now);
    cr_assert_eq(ametrics(e, aid).success, 1u);
    int fd = h.fd;
    cr_assert_geq(fd, 0);
    cr_assert_eq(h.events, MQR_ENGINE_READ, "the idle connection is watched for reading");
    cr_assert_eq(mqr_engine_fds(e, NULL, 0), 1u);
    cr_assert(h.timer >= 0 && h.timer <= 300, "the host's timer covers the idle close: %lld",
              (long long)h.timer);
    now += 301;
    cr_assert_eq(mqr_engine_process(e, (uint64_t)now), MQR_OK);
    cr_assert_eq(h.fd, fd);
    cr_assert_eq(h.events, 0u, "events 0: the descriptor went away");
    cr_assert_eq(h.zeros, 1);
    cr_assert_eq(mqr_engine_fds(e, NULL, 0), 0u);
    cr_assert_eq(h.timer, -1, "nothing left to wait for");
    mqr_engine_destroy(e);
    http_server_stop(&srv);
}

/* ---- a custom action's message failing later runs the fallback -------------------------------- */

typedef struct sink {
    uint64_t tickets[8];
    int n;
} sink_t;

static int sink_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                       const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    (void)ud, (void)item, (void)arena, (void)diag;
    *out_data = "ROW";
    *out_len = 3;
    return MQR_OK;
}

static int sink_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                       mqr_diag_t *diag)
{
    (void)now_ms, (void)diag;
    sink_t *s = ud;
    for (uint32_t i = 0; i < count && s->n < 8; i++)
        s->tickets[s->n++] = items[i].ticket;
    return MQR_OK;
}

Test(engine_fallback, a_custom_action_failing_later_runs_the_fallback_with_the_output)
{
    int64_t now = 1000;
    pubs_t p = {0};
    mqr_engine_t *e = engine_at(&now, pub_fn, &p);
    add_rule(e, "r", "SELECT payload FROM \"t\"");
    sink_t sk = {0};
    mqr_action_ops_t ops = {.render = sink_render, .submit = sink_submit};
    mqr_custom_action_config_t cc;
    mqr_custom_action_config_init(&cc);
    cc.type = "rows";
    cc.ops = &ops;
    cc.ud = &sk;
    cc.max_inflight = 4;
    uint32_t cu;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &cc, &cu, NULL), MQR_OK);
    add_rule(e, "dlq", "SELECT * FROM \"never\"");
    uint32_t dl = add_republish(e, "dlq", "dead");
    cr_assert_eq(mqr_engine_action_set_fallback(e, cu, &dl, 1), MQR_OK);
    emit_n(e, "t", "a", 1);
    emit_n(e, "t", "b", 1);
    cr_assert_eq(mqr_engine_process(e, (uint64_t)now), MQR_OK);
    cr_assert_eq(sk.n, 2, "both submitted");
    cr_assert_eq(mqr_engine_action_done(e, cu, sk.tickets[0], MQR_ACTION_DONE_SUCCESS, MQR_OK,
                                        NULL),
                 MQR_OK);
    cr_assert_eq(mqr_engine_action_done(e, cu, sk.tickets[1], MQR_ACTION_DONE_FAILED, MQR_EIO,
                                        "refused"),
                 MQR_OK);
    cr_assert_eq(p.n, 1, "only the failed one ran the fallback");
    cr_assert_str_eq(p.payload[0], "{\"payload\":\"b\"}", "the output, not the sink's rendering");
    mqr_action_metrics_t am = ametrics(e, cu);
    cr_assert_eq(am.success, 1u);
    cr_assert_eq(am.failed, 1u);
    cr_assert_eq(am.fallback_triggered, 1u);
    mqr_engine_destroy(e);
}
