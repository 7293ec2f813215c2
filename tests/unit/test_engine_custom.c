/* SPDX-License-Identifier: MIT */
/*
 * test_engine_custom.c - custom actions (mqttrule/action.h), the host loop
 * callbacks (sock_fn, timer_fn) and the last errors of rules and actions.
 *
 * A fake asynchronous sink records what the engine submits and answers
 * later, when the test says so; the engine's monotonic clock is a variable
 * the test moves, so retries, TTL, batching and attempt timeouts are checked
 * without sleeping. The idle keep-alive test uses the shared test HTTP server
 * and measures the CPU the process spends in mqr_engine_poll.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http_server.h"
#include "mqttrule.h"

/* ---- the fake sink ----------------------------------------------------------------------------- */

#define MAXREC 64

typedef struct sink {
    mqr_engine_t *e;
    uint32_t action_id;
    int answer;              /* what submit returns */
    int submits;             /* submit calls */
    uint32_t batch[MAXREC];  /* count per submit call */
    uint64_t tickets[MAXREC];
    uint32_t attempts[MAXREC];
    char data[MAXREC][128];
    int nitems;              /* items received over all submits */
    int cancels;
    uint64_t cancelled[MAXREC];
    int destroyed;
    int wakeups;
    int render_fail;
    int done_inside;         /* answer success from inside submit */
} sink_t;

/* "<clientid>:<x>" from the columns and the output. */
static int sink_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                       const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    sink_t *s = ud;
    cr_assert_eq(item->attempt, 0u);
    cr_assert_null(item->data);
    if (s->render_fail) {
        snprintf(diag->message, sizeof diag->message, "column 'x' is not an integer");
        return MQR_ETYPE;
    }
    const mqr_value_t *cid = mqr_value_object_get(item->columns, "clientid", 8);
    const mqr_value_t *x = mqr_value_object_get(item->output, "x", 1);
    char *buf = mqr_arena_alloc(arena, 64);
    cr_assert_not_null(buf);
    int n = snprintf(buf, 64, "%.*s:%lld", cid ? (int)cid->len : 1, cid ? cid->u.s : "-",
                     x ? (long long)x->u.i : -1LL);
    *out_data = buf;
    *out_len = (size_t)n;
    return MQR_OK;
}

static int sink_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                       mqr_diag_t *diag)
{
    sink_t *s = ud;
    (void)now_ms;
    cr_assert_lt(s->submits, MAXREC);
    s->batch[s->submits++] = count;
    if (s->answer != MQR_OK) {
        if (s->answer != MQR_EAGAIN)
            snprintf(diag->message, sizeof diag->message, "connection refused");
        return s->answer;
    }
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_lt(s->nitems, MAXREC);
        cr_assert_null(items[i].output);
        cr_assert_eq(((const char *)items[i].data)[items[i].data_len], '\0');
        cr_assert_str_eq(items[i].rule_id, "r");
        s->tickets[s->nitems] = items[i].ticket;
        s->attempts[s->nitems] = items[i].attempt;
        snprintf(s->data[s->nitems], sizeof s->data[0], "%.*s", (int)items[i].data_len,
                 (const char *)items[i].data);
        s->nitems++;
        if (s->done_inside)
            cr_assert_eq(mqr_engine_action_done(s->e, s->action_id, items[i].ticket,
                                                MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                         MQR_OK);
    }
    return MQR_OK;
}

static void sink_cancel(void *ud, uint64_t ticket)
{
    sink_t *s = ud;
    s->cancelled[s->cancels++] = ticket;
}

static void sink_wakeup(void *ud, uint64_t now_ms)
{
    (void)now_ms;
    ((sink_t *)ud)->wakeups++;
}

static void sink_destroy(void *ud) { ((sink_t *)ud)->destroyed++; }

static int sink_test(void *ud, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    (void)ud;
    (void)timeout_ms;
    snprintf(out->message, sizeof out->message, "db reachable");
    out->step = MQR_HTTP_STEP_DONE;
    return MQR_OK;
}

static const mqr_action_ops_t sink_ops = {
    .render = sink_render, .submit = sink_submit, .cancel = sink_cancel,
    .wakeup = sink_wakeup, .test = sink_test, .destroy = sink_destroy,
};

/* ---- the engine with a settable clock and recording host callbacks ------------------------------ */

typedef struct host {
    uint64_t now;            /* the monotonic clock */
    int timer_calls;
    int64_t timer;           /* the last timeout told */
    int sock_calls;
    int sock_fd;
    uint32_t sock_events;    /* the last interest told */
    int errors;
    char last_error[MQR_DIAG_MESSAGE_MAX];
} host_t;

static int64_t mono(void *ud) { return (int64_t)((host_t *)ud)->now; }

static void on_timer(void *ud, int64_t ms)
{
    host_t *h = ud;
    h->timer_calls++;
    h->timer = ms;
}

static void on_sock(void *ud, int fd, uint32_t events)
{
    host_t *h = ud;
    h->sock_calls++;
    h->sock_fd = fd;
    h->sock_events = events;
}

static void on_error(void *ud, const char *rule_id, const mqr_engine_error_t *err)
{
    host_t *h = ud;
    cr_assert_str_eq(rule_id, "r");
    h->errors++;
    snprintf(h->last_error, sizeof h->last_error, "%s", err->message);
}

static mqr_engine_t *engine_new(host_t *h)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.mono_clock = mono;
    o.mono_clock_ud = h;
    o.timer_fn = on_timer;
    o.timer_ud = h;
    o.sock_fn = on_sock;
    o.sock_ud = h;
    o.error_fn = on_error;
    o.error_ud = h;
    h->now = 1000000;
    h->timer = -2;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    mqr_engine_rule_def_t d = {.id = "r", .sql = "SELECT payload.x as x FROM \"t/#\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK);
    return e;
}

static uint32_t add_sink(mqr_engine_t *e, sink_t *s, const mqr_custom_action_config_t *base)
{
    mqr_custom_action_config_t c;
    if (base)
        c = *base;
    else
        mqr_custom_action_config_init(&c);
    c.type = "fakedb";
    c.ops = &sink_ops;
    c.ud = s;
    s->e = e;
    mqr_diag_t d;
    int rc = mqr_engine_action_add_custom(e, "r", &c, &s->action_id, &d);
    cr_assert_eq(rc, MQR_OK, "%s", d.message);
    return s->action_id;
}

static void emit(mqr_engine_t *e, const char *clientid, const char *payload)
{
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.payload = payload;
    m.payload_len = strlen(payload);
    m.clientid = clientid;
    m.clientid_len = strlen(clientid);
    uint32_t fired = 0;
    cr_assert_eq(mqr_engine_emit_message(e, &m, &fired, NULL), MQR_OK);
    cr_assert_eq(fired, 1u);
}

static mqr_action_metrics_t am(const mqr_engine_t *e, uint32_t id)
{
    mqr_action_metrics_t m;
    cr_assert_eq(mqr_engine_action_metrics(e, id, &m), MQR_OK);
    cr_assert_eq(m.matched, m.success + m.failed + m.dropped + m.queuing + m.inflight,
                 "matched %llu = success %llu + failed %llu + dropped %llu + queuing %llu + "
                 "inflight %llu",
                 (unsigned long long)m.matched, (unsigned long long)m.success,
                 (unsigned long long)m.failed, (unsigned long long)m.dropped,
                 (unsigned long long)m.queuing, (unsigned long long)m.inflight);
    cr_assert_eq(m.dropped, m.dropped_expired + m.dropped_queue_full + m.dropped_other);
    return m;
}

/* ---- custom actions ------------------------------------------------------------------------------- */

Test(engine_custom, success_in_order_within_max_inflight)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.max_inflight = 2;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c1", "{\"x\":1}");
    emit(e, "c2", "{\"x\":2}");
    emit(e, "c3", "{\"x\":3}");
    cr_assert_eq(s.nitems, 2, "max_inflight 2 holds the third back");
    cr_assert_str_eq(s.data[0], "c1:1");
    cr_assert_str_eq(s.data[1], "c2:2");
    cr_assert_eq(s.attempts[0], 1u);
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.matched, 3u);
    cr_assert_eq(m.inflight, 2u);
    cr_assert_eq(m.queuing, 1u);
    cr_assert_eq(mqr_engine_pending(e), 3u);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[0], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_OK);
    cr_assert_eq(s.nitems, 3, "a done frees room: the third is submitted");
    cr_assert_str_eq(s.data[2], "c3:3");
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[2], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_OK);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[1], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_OK);
    m = am(e, id);
    cr_assert_eq(m.success, 3u);
    cr_assert_eq(m.inflight + m.queuing, 0u);
    mqr_rule_metrics_t rm;
    cr_assert_eq(mqr_engine_rule_metrics(e, "r", &rm), MQR_OK);
    cr_assert_eq(rm.actions_total, 3u);
    cr_assert_eq(rm.actions_success, 3u);
    /* a second answer for the same ticket is a late reply */
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[0], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(am(e, id).late_reply, 1u);
    cr_assert_eq(mqr_engine_action_done(e, id + 100, 1, MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_done(e, id, 1, 7, MQR_OK, NULL), MQR_EINVAL);
    mqr_engine_destroy(e);
    cr_assert_eq(s.destroyed, 1);
}

Test(engine_custom, done_from_inside_submit)
{
    host_t h = {0};
    sink_t s = {.done_inside = 1};
    mqr_engine_t *e = engine_new(&h);
    uint32_t id = add_sink(e, &s, NULL);
    for (int i = 0; i < 5; i++)
        emit(e, "c", "{\"x\":7}");
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.success, 5u);
    cr_assert_eq(s.submits, 5);
    mqr_engine_destroy(e);
}

Test(engine_custom, failure_is_retried_with_backoff_then_succeeds)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.backoff_initial_ms = 100;
    c.backoff_max_ms = 150;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}");
    cr_assert_eq(s.nitems, 1);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[0], MQR_ACTION_DONE_RETRY, MQR_ECONNECT,
                                        "server closed the connection"),
                 MQR_OK);
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, id, &err), MQR_OK);
    cr_assert_eq(err.status, MQR_ECONNECT);
    cr_assert_eq(err.action_id, id);
    cr_assert(strstr(err.message, "attempt 1 failed") && strstr(err.message, "server closed"),
              "%s", err.message);
    cr_assert_eq(h.errors, 1);
    cr_assert_eq(am(e, id).queuing, 1u);
    cr_assert_eq(h.timer, 100, "the host's timer is the backoff (got %lld)", (long long)h.timer);
    h.now += 99;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.nitems, 1, "not before the backoff");
    h.now += 1;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.nitems, 2);
    cr_assert_eq(s.tickets[1], s.tickets[0], "the ticket stays over retries");
    cr_assert_eq(s.attempts[1], 2u);
    cr_assert_eq(am(e, id).retried, 1u);
    /* a submit error is a failed attempt too; the pause doubles up to 150 */
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[1], MQR_ACTION_DONE_RETRY, MQR_EIO, "x"),
                 MQR_OK);
    h.now += 150;
    s.answer = MQR_ECONNECT;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.submits, 3);
    cr_assert(strstr(h.last_error, "connection refused"), "%s", h.last_error);
    s.answer = MQR_OK;
    h.now += 150;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.nitems, 3);
    cr_assert_eq(s.attempts[2], 4u);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[2], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_OK);
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.success, 1u);
    cr_assert_eq(m.retried, 3u);
    cr_assert_eq(m.failed, 0u);
    mqr_engine_destroy(e);
}

Test(engine_custom, permanent_failure_and_max_attempts)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.max_attempts = 1;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}");
    emit(e, "c", "{\"x\":2}");
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[0], MQR_ACTION_DONE_FAILED, MQR_EINVAL,
                                        "duplicate key"),
                 MQR_OK);
    cr_assert_eq(s.nitems, 2);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[1], MQR_ACTION_DONE_RETRY, MQR_EIO, "gone"),
                 MQR_OK);
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.failed, 2u, "failed for good, and retries used up");
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, id, &err), MQR_OK);
    cr_assert(strstr(err.message, "failed after 1 attempt(s): gone"), "%s", err.message);
    cr_assert_eq(err.count, 2u);
    mqr_rule_metrics_t rm;
    cr_assert_eq(mqr_engine_rule_metrics(e, "r", &rm), MQR_OK);
    cr_assert_eq(rm.actions_failed, 2u);
    cr_assert_eq(rm.actions_failed_unknown, 2u);
    mqr_engine_destroy(e);
}

Test(engine_custom, ttl_expires_queued_and_inflight_messages)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.ttl_ms = 500;
    c.request_timeout_ms = 10000;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}"); /* in flight */
    emit(e, "c", "{\"x\":2}"); /* queued behind it */
    cr_assert_eq(h.timer, 500, "the TTL is the next deadline (got %lld)", (long long)h.timer);
    h.now += 500;
    mqr_engine_process(e, h.now);
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.dropped_expired, 2u);
    cr_assert_eq(s.cancels, 1, "the in-flight one is cancelled");
    cr_assert_eq(s.cancelled[0], s.tickets[0]);
    cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[0], MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(am(e, id).late_reply, 1u);
    mqr_rule_metrics_t rm;
    cr_assert_eq(mqr_engine_rule_metrics(e, "r", &rm), MQR_OK);
    cr_assert_eq(rm.actions_failed_out_of_service, 2u);
    cr_assert_eq(h.timer, -1, "nothing pending: no timer");
    mqr_engine_destroy(e);
}

Test(engine_custom, attempt_timeout_cancels_and_retries)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.request_timeout_ms = 200;
    c.backoff_initial_ms = 10;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}");
    h.now += 200;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.cancels, 1);
    cr_assert_eq(am(e, id).timeouts, 1u);
    h.now += 10;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.nitems, 2);
    cr_assert_eq(s.attempts[1], 2u);
    mqr_engine_destroy(e);
}

Test(engine_custom, queue_full_drops_and_says_so)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.max_queue_count = 2;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}");
    emit(e, "c", "{\"x\":2}");
    emit(e, "c", "{\"x\":3}");
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.dropped_queue_full, 1u);
    cr_assert_eq(m.inflight, 1u);
    cr_assert_eq(m.queuing, 1u);
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, id, &err), MQR_OK);
    cr_assert_eq(err.status, MQR_ELIMIT);
    cr_assert(strstr(err.message, "queue full"), "%s", err.message);
    /* bytes bound too: "c:1" is 3 bytes, so 5 bytes hold one message */
    sink_t s2 = {0};
    c.max_queue_count = 0;
    c.max_queue_bytes = 5;
    uint32_t id2 = add_sink(e, &s2, &c);
    emit(e, "c", "{\"x\":4}");
    cr_assert_eq(am(e, id2).dropped_queue_full, 0u);
    emit(e, "c", "{\"x\":5}");
    cr_assert_eq(am(e, id2).dropped_queue_full, 1u, "the second message exceeds 5 bytes");
    mqr_engine_destroy(e);
    cr_assert_eq(s.destroyed, 1);
    cr_assert_eq(s2.destroyed, 1);
}

Test(engine_custom, busy_sink_gets_messages_after_ready)
{
    host_t h = {0};
    sink_t s = {.answer = MQR_EAGAIN};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.backoff_initial_ms = 1000;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "c", "{\"x\":1}");
    cr_assert_eq(s.submits, 1);
    cr_assert_eq(am(e, id).queuing, 1u, "busy: kept queued");
    emit(e, "c", "{\"x\":2}");
    cr_assert_eq(s.submits, 1, "no submit while busy");
    s.answer = MQR_OK;
    cr_assert_eq(mqr_engine_action_ready(e, id), MQR_OK);
    cr_assert_eq(h.timer, 0, "ready asks for a timer of 0");
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.nitems, 1);
    cr_assert_eq(s.attempts[0], 1u, "a busy answer is not an attempt");
    cr_assert_eq(am(e, id).retried, 0u);
    cr_assert_eq(mqr_engine_action_ready(e, 999), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
}

Test(engine_custom, batch_fills_or_waits_batch_time)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.batch_size = 3;
    c.batch_time_ms = 50;
    c.max_inflight = 10;
    uint32_t id = add_sink(e, &s, &c);
    emit(e, "a", "{\"x\":1}");
    emit(e, "b", "{\"x\":2}");
    cr_assert_eq(s.submits, 0, "waiting for the batch to fill");
    cr_assert_eq(h.timer, 50);
    h.now += 50;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.submits, 1);
    cr_assert_eq(s.batch[0], 2u, "batch_time passed: what there is");
    emit(e, "c", "{\"x\":3}");
    emit(e, "d", "{\"x\":4}");
    emit(e, "e", "{\"x\":5}");
    cr_assert_eq(s.submits, 2, "a full batch goes at once");
    cr_assert_eq(s.batch[1], 3u);
    cr_assert_str_eq(s.data[4], "e:5");
    for (int i = 0; i < s.nitems; i++)
        cr_assert_eq(mqr_engine_action_done(e, id, s.tickets[i], MQR_ACTION_DONE_SUCCESS, MQR_OK,
                                            NULL),
                     MQR_OK);
    cr_assert_eq(am(e, id).success, 5u);
    mqr_engine_destroy(e);
}

Test(engine_custom, render_error_fails_with_last_error_and_default_is_json)
{
    host_t h = {0};
    sink_t s = {.render_fail = 1};
    mqr_engine_t *e = engine_new(&h);
    uint32_t id = add_sink(e, &s, NULL);
    emit(e, "c", "{\"x\":1}");
    mqr_action_metrics_t m = am(e, id);
    cr_assert_eq(m.failed, 1u);
    cr_assert_eq(s.submits, 0);
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_action_last_error(e, id, &err), MQR_OK);
    cr_assert_eq(err.status, MQR_ETYPE);
    cr_assert(strstr(err.message, "fakedb: render: column 'x' is not an integer"), "%s",
              err.message);
    /* without render, the output as JSON */
    mqr_action_ops_t ops = sink_ops;
    ops.render = NULL;
    sink_t s2 = {0};
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.type = "json";
    c.ops = &ops;
    c.ud = &s2;
    s2.e = e;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &c, &s2.action_id, NULL), MQR_OK);
    s.render_fail = 0;
    emit(e, "c", "{\"x\":9}");
    cr_assert_str_eq(s2.data[0], "{\"x\":9}");
    char buf[4096];
    size_t len;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "r", buf, sizeof buf, &len), MQR_OK);
    cr_assert(strstr(buf, "\"type\":\"fakedb\""), "%s", buf);
    cr_assert(strstr(buf, "\"type\":\"json\""), "%s", buf);
    cr_assert(strstr(buf, "\"last_error\":{\"status\":\"MQR_ETYPE\",\"message\":\"fakedb: render"),
              "%s", buf);
    cr_assert(strstr(buf, "\"late_reply\":0"), "%s", buf);
    mqr_engine_destroy(e);
}

Test(engine_custom, config_errors_call_nothing)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_custom_action_config_t c;
    mqr_custom_action_config_init(&c);
    c.ops = &sink_ops;
    c.ud = &s;
    mqr_diag_t d;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &c, NULL, &d), MQR_EINVAL, "no type");
    c.type = "x";
    c.batch_size = MQR_ACTION_MAX_BATCH + 1;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &c, NULL, &d), MQR_EINVAL);
    cr_assert(strstr(d.message, "batch_size"), "%s", d.message);
    c.batch_size = 0;
    cr_assert_eq(mqr_engine_action_add_custom(e, "nope", &c, NULL, &d), MQR_ENOTFOUND);
    mqr_action_ops_t ops = {0};
    c.ops = &ops;
    cr_assert_eq(mqr_engine_action_add_custom(e, "r", &c, NULL, &d), MQR_EINVAL, "no submit");
    cr_assert_eq(mqr_engine_action_add_custom(NULL, "r", &c, NULL, &d), MQR_EINVAL);
    mqr_engine_destroy(e);
    cr_assert_eq(s.destroyed, 0, "a failed add never calls destroy");
}

Test(engine_custom, remove_cancels_drops_and_destroys)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    uint32_t id = add_sink(e, &s, NULL);
    emit(e, "c", "{\"x\":1}");
    emit(e, "c", "{\"x\":2}");
    mqr_http_test_result_t tr;
    cr_assert_eq(mqr_engine_action_test(e, id, 100, &tr), MQR_OK);
    cr_assert_str_eq(tr.message, "db reachable");
    mqr_rule_metrics_t rm;
    cr_assert_eq(mqr_engine_action_remove(e, id), MQR_OK);
    cr_assert_eq(s.cancels, 1);
    cr_assert_eq(s.destroyed, 1);
    cr_assert_eq(mqr_engine_rule_metrics(e, "r", &rm), MQR_OK);
    cr_assert_eq(rm.actions_failed_out_of_service, 2u, "both ended as dropped (other)");
    cr_assert_eq(mqr_engine_pending(e), 0u);
    mqr_engine_destroy(e);
    cr_assert_eq(s.destroyed, 1);
}

Test(engine_custom, wakeup_timer)
{
    host_t h = {0};
    sink_t s = {0};
    mqr_engine_t *e = engine_new(&h);
    uint32_t id = add_sink(e, &s, NULL);
    cr_assert_eq(mqr_engine_action_wakeup(e, id, 300), MQR_OK);
    cr_assert_eq(h.timer, 300);
    cr_assert_eq(mqr_engine_timeout(e, h.now), 300);
    h.now += 299;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.wakeups, 0);
    h.now += 1;
    mqr_engine_process(e, h.now);
    cr_assert_eq(s.wakeups, 1);
    cr_assert_eq(h.timer, -1);
    cr_assert_eq(mqr_engine_action_wakeup(e, id, 5), MQR_OK);
    cr_assert_eq(mqr_engine_action_wakeup(e, id, -1), MQR_OK);
    cr_assert_eq(mqr_engine_timeout(e, h.now), -1, "cancelled");
    cr_assert_eq(mqr_engine_action_wakeup(e, 12345, 1), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
}

/* ---- watched descriptors ---------------------------------------------------------------------------- */

typedef struct fdrec {
    int calls;
    int fd;
    uint32_t events;
} fdrec_t;

static void fd_ready(void *ud, int fd, uint32_t events, uint64_t now_ms)
{
    fdrec_t *r = ud;
    (void)now_ms;
    r->calls++;
    r->fd = fd;
    r->events = events;
    char b[16];
    cr_assert_gt(read(fd, b, sizeof b), 0);
}

Test(engine_custom, watched_fd_rides_the_host_loop_and_poll)
{
    host_t h = {0};
    mqr_engine_t *e = engine_new(&h);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fdrec_t r = {0};
    cr_assert_eq(mqr_engine_watch_fd(e, p[0], MQR_ENGINE_READ, fd_ready, &r), MQR_OK);
    cr_assert_eq(h.sock_calls, 1);
    cr_assert_eq(h.sock_fd, p[0]);
    cr_assert_eq(h.sock_events, MQR_ENGINE_READ);
    cr_assert_eq(mqr_engine_watch_fd(e, p[0], MQR_ENGINE_READ, fd_ready, &r), MQR_OK);
    cr_assert_eq(h.sock_calls, 1, "no change of interest, nothing told");
    mqr_http_fd_t fds[4];
    cr_assert_eq(mqr_engine_fds(e, fds, 4), 1u, "the snapshot lists it too");
    cr_assert_eq(fds[0].fd, p[0]);
    cr_assert_eq(fds[0].events, MQR_ENGINE_READ);
    /* the host reports readiness */
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_assert_eq(mqr_engine_fd_ready(e, p[0], MQR_ENGINE_READ, h.now), MQR_OK);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.events, MQR_ENGINE_READ);
    /* mqr_engine_poll drives it as well */
    cr_assert_eq(write(p[1], "y", 1), 1);
    cr_assert_eq(mqr_engine_poll(e, 5000), MQR_OK);
    cr_assert_eq(r.calls, 2);
    cr_assert_eq(mqr_engine_unwatch_fd(e, p[0]), MQR_OK);
    cr_assert_eq(h.sock_calls, 2);
    cr_assert_eq(h.sock_events, 0u, "events 0: stop watching");
    cr_assert_eq(mqr_engine_unwatch_fd(e, p[0]), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_fd_ready(e, p[0], MQR_ENGINE_READ, h.now), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_watch_fd(e, -1, MQR_ENGINE_READ, fd_ready, &r), MQR_EINVAL);
    cr_assert_eq(mqr_engine_watch_fd(e, p[0], 4, fd_ready, &r), MQR_EINVAL);
    cr_assert_eq(mqr_engine_watch_fd(e, p[0], MQR_ENGINE_READ, NULL, &r), MQR_EINVAL);
    /* a high descriptor number grows the table */
    int high = dup2(p[0], 900);
    cr_assert_eq(high, 900);
    cr_assert_eq(mqr_engine_watch_fd(e, high, MQR_ENGINE_WRITE, fd_ready, &r), MQR_OK);
    cr_assert_eq(mqr_engine_fds(e, fds, 4), 1u);
    cr_assert_eq(fds[0].fd, 900);
    cr_assert_eq(mqr_engine_unwatch_fd(e, high), MQR_OK);
    close(high);
    close(p[0]);
    close(p[1]);
    mqr_engine_destroy(e);
}

/* ---- last errors of rules -------------------------------------------------------------------------- */

Test(engine_custom, rule_evaluation_error_is_remembered)
{
    host_t h = {0};
    mqr_engine_t *e = engine_new(&h);
    mqr_engine_error_t err;
    cr_assert_eq(mqr_engine_rule_last_error(e, "r", &err), MQR_OK);
    cr_assert_eq(err.status, MQR_OK);
    cr_assert_eq(err.count, 0u);
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    m.payload = "not json";
    m.payload_len = 8;
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_rule_last_error(e, "r", &err), MQR_OK);
    cr_assert_eq(err.status, MQR_EEVAL);
    cr_assert_eq(err.count, 1u);
    cr_assert_eq(err.action_id, 0u);
    cr_assert_gt(err.time_ms, 0);
    cr_assert(strstr(err.message, "rule 'r': "), "%s", err.message);
    cr_assert_gt(strlen(err.message), strlen("rule 'r': "));
    cr_assert_eq(h.errors, 1, "the error callback heard it");
    char buf[2048];
    size_t len;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "r", buf, sizeof buf, &len), MQR_OK);
    cr_assert(strstr(buf, "},\"last_error\":{\"status\":\"MQR_EEVAL\""), "%s", buf);
    cr_assert_eq(mqr_engine_rule_last_error(e, "none", &err), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_rule_last_error(e, "r", NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_action_last_error(e, 77, &err), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
}

/* ---- HTTP through the host callbacks; an idle keep-alive connection costs no CPU -------------------- */

typedef struct fdset {
    int fds[16];
    uint32_t ev[16];
    int n;
    int removed;
} fdset_t;

static void set_sock(void *ud, int fd, uint32_t events)
{
    fdset_t *s = ud;
    for (int i = 0; i < s->n; i++) {
        if (s->fds[i] != fd)
            continue;
        if (events == 0) {
            s->fds[i] = s->fds[--s->n];
            s->ev[i] = s->ev[s->n];
            s->removed++;
        } else {
            s->ev[i] = events;
        }
        return;
    }
    if (events) {
        s->fds[s->n] = fd;
        s->ev[s->n++] = events;
    }
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

Test(engine_custom, http_idle_keepalive_waits_for_reading_only_and_does_not_spin, .timeout = 60)
{
    http_server_t srv = {.steps = HTTP_SERVER_FOREVER, .process = 1};
    cr_assert_eq(http_server_start(&srv), 0);
    fdset_t set = {0};
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.sock_fn = set_sock;
    o.sock_ud = &set;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    mqr_engine_rule_def_t d = {.id = "r", .sql = "SELECT * FROM \"t/#\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", srv.port);
    mqr_http_action_config_t hc;
    memset(&hc, 0, sizeof hc);
    mqr_http_config_init(&hc.http);
    hc.http.url = url;
    uint32_t id;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &hc, &id, NULL), MQR_OK);
    mqr_engine_message_t m;
    memset(&m, 0, sizeof m);
    m.topic = "t/1";
    m.topic_len = 3;
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
    cr_assert_eq(set.n, 0, "a submit only queues");
    cr_assert_eq(mqr_engine_process(e, mqr_http_now_ms()), MQR_OK);
    cr_assert_eq(set.n, 1, "the new connection was told to the host");
    /* drive it with the host's own poll() over the told set */
    for (int round = 0; round < 500 && mqr_engine_pending(e) > 0; round++) {
        struct pollfd p[16];
        for (int i = 0; i < set.n; i++) {
            p[i].fd = set.fds[i];
            p[i].events = (short)(((set.ev[i] & MQR_ENGINE_READ) ? POLLIN : 0) |
                                  ((set.ev[i] & MQR_ENGINE_WRITE) ? POLLOUT : 0));
            p[i].revents = 0;
        }
        int n = set.n;
        int r = poll(p, (nfds_t)n, 100);
        for (int i = 0; r > 0 && i < n; i++)
            if (p[i].revents)
                mqr_engine_fd_ready(e, p[i].fd,
                                    ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) ? MQR_ENGINE_READ : 0) |
                                        ((p[i].revents & (POLLOUT | POLLHUP | POLLERR)) ? MQR_ENGINE_WRITE : 0),
                                    mqr_http_now_ms());
        mqr_engine_process(e, mqr_http_now_ms());
    }
    mqr_action_metrics_t am_;
    cr_assert_eq(mqr_engine_action_metrics(e, id, &am_), MQR_OK);
    cr_assert_eq(am_.success, 1u);
    cr_assert_eq(set.n, 1, "the keep-alive connection stays");
    cr_assert_eq(set.ev[0], MQR_ENGINE_READ, "idle: read only (got %u)", set.ev[0]);
    /* two seconds of mqr_engine_poll over the idle connection */
    double c0 = cpu_seconds();
    uint64_t end = mqr_http_now_ms() + 2000;
    long rounds = 0;
    while (mqr_http_now_ms() < end) {
        cr_assert_eq(mqr_engine_poll(e, 100), MQR_OK);
        rounds++;
    }
    double used = cpu_seconds() - c0;
    cr_assert_lt(used, 0.2, "idle keep-alive: %.3f s of CPU in 2 s (%ld poll rounds)", used,
                 rounds);
    mqr_engine_destroy(e);
    cr_assert_eq(set.n, 0, "destroy tells the host to stop watching");
    cr_assert_geq(set.removed, 1);
    http_server_stop(&srv);
}
