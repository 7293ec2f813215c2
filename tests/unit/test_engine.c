/* SPDX-License-Identifier: MIT */
/*
 * Tests of the rule engine (lib/engine.c, lib/engine_actions.c): FROM
 * matching under both event-topic names and as filters, message topic
 * filters, firing once per rule, the rule lifecycle, the republish and
 * callback actions with each option, loop protection, metric invariants,
 * no heap allocation on a warm emit, and allocation-failure injection.
 * The HTTP action is tested against real servers in
 * tests/integration/test_engine_http.py, and here through the host-loop
 * calls against the shared test server (tests/support/http_server.h).
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "internal.h"
#include "mqttrule.h"
#include "test_packet_helpers.h"

/* ---- a counting allocator that can fail the Nth allocation ----------------------------------- */
typedef struct counting {
    long allocs;     /* allocations and growing reallocs so far */
    long fail_at;    /* 1-based; 0: never */
    long failed;
    long live_bytes;
} counting_t;

static void *counting_fn(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    counting_t *c = ud;
    if (new_size == 0) {
        if (ptr)
            c->live_bytes -= (long)old_size;
        free(ptr);
        return NULL;
    }
    c->allocs++;
    if (c->fail_at && c->allocs == c->fail_at) {
        c->failed++;
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p)
        c->live_bytes += (long)new_size - (long)(ptr ? old_size : 0);
    return p;
}

static int64_t fixed_clock(void *ud)
{
    (void)ud;
    return 1700000000123;
}

static mqr_engine_t *engine_new(uint32_t flags, int32_t names)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.flags = flags;
    o.names = names;
    o.node = "node1@host";
    o.clock = fixed_clock;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    return e;
}

static void add_rule(mqr_engine_t *e, const char *id, const char *sql)
{
    mqr_engine_rule_def_t d = {.id = id, .sql = sql, .enabled = 1};
    mqr_diag_t diag;
    int rc = mqr_engine_rule_add(e, &d, &diag);
    cr_assert_eq(rc, MQR_OK, "%s: %s: %s", id, mqr_status_name(rc), diag.message);
}

static mqr_rule_metrics_t metrics(const mqr_engine_t *e, const char *id)
{
    mqr_rule_metrics_t m;
    cr_assert_eq(mqr_engine_rule_metrics(e, id, &m), MQR_OK);
    /* The invariants of spec §10.1 hold after every call. */
    cr_assert_eq(m.matched, m.passed + m.failed, "%s: matched = passed + failed", id);
    cr_assert_eq(m.failed, m.failed_exception + m.failed_no_result, "%s: failed split", id);
    cr_assert_geq(m.actions_failed, m.actions_failed_out_of_service + m.actions_failed_unknown);
    return m;
}

/* A client.connack event built by hand: {event, clientid, username, reason_code}. */
typedef struct evbuf {
    mqr_member_t mem[4];
    mqr_value_t obj;
} evbuf_t;

static void connack_columns(evbuf_t *b, const char *clientid, const char *reason)
{
    const char *keys[] = {"event", "clientid", "username", "reason_code"};
    const char *vals[] = {"client.connack", clientid, NULL, reason};
    for (int i = 0; i < 4; i++) {
        b->mem[i].key = keys[i];
        b->mem[i].key_len = (uint32_t)strlen(keys[i]);
        b->mem[i].reserved_ = 0;
        if (vals[i])
            mqr_value_set_string(&b->mem[i].value, vals[i], strlen(vals[i]));
        else
            mqr_value_set_undefined(&b->mem[i].value);
    }
    b->obj.type = MQR_VAL_OBJECT;
    b->obj.flags = 0;
    b->obj.reserved_ = 0;
    b->obj.len = 4;
    b->obj.u.members = b->mem;
}

static uint32_t emit_connack(mqr_engine_t *e, const char *name, const char *clientid)
{
    evbuf_t b;
    connack_columns(&b, clientid, "success");
    uint32_t fired = 99;
    cr_assert_eq(mqr_engine_emit_event(e, name, name ? strlen(name) : 0, &b.obj, &fired, NULL),
                 MQR_OK);
    return fired;
}

static uint32_t emit_msg(mqr_engine_t *e, const char *topic, const char *payload)
{
    mqr_engine_message_t m = {0};
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.payload = payload;
    m.payload_len = strlen(payload);
    m.clientid = "pub1";
    m.clientid_len = 4;
    m.qos = 1;
    uint32_t fired = 99;
    cr_assert_eq(mqr_engine_emit_message(e, &m, &fired, NULL), MQR_OK);
    return fired;
}

/* ---- a recording callback -------------------------------------------------------------------- */
typedef struct rec {
    int calls;
    char rule[64];
    char json[1024];
    uint32_t type;
    int answer;
} rec_t;

static int record_cb(void *ud, const char *rule_id, const char *json, size_t len,
                     const mqr_value_t *out)
{
    rec_t *r = ud;
    r->calls++;
    snprintf(r->rule, sizeof r->rule, "%s", rule_id);
    cr_assert_eq(json[len], '\0');
    snprintf(r->json, sizeof r->json, "%.*s", (int)len, json);
    r->type = out->type;
    return r->answer;
}

/* An engine with one rule `id` whose callback action records into *rec. */
static mqr_engine_t *engine_recording(uint32_t flags, const char *id, const char *sql,
                                      rec_t *rec)
{
    mqr_engine_t *e = engine_new(flags, MQR_NAMES_DOC);
    add_rule(e, id, sql);
    memset(rec, 0, sizeof *rec);
    rec->answer = MQR_OK;
    cr_assert_eq(mqr_engine_action_add_callback(e, id, record_cb, rec, NULL, NULL), MQR_OK);
    return e;
}

/* ---- matching -------------------------------------------------------------------------------- */

Test(engine, event_topics_match_under_both_names_and_as_filters)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "legacy", "SELECT clientid FROM \"$events/client_connack\"");
    add_rule(e, "new", "SELECT clientid FROM \"$events/client/connack\"");
    add_rule(e, "all", "SELECT clientid FROM \"$events/#\"");
    add_rule(e, "clients", "SELECT clientid FROM \"$events/client/+\"");
    add_rule(e, "other", "SELECT clientid FROM \"$events/client_connected\"");
    add_rule(e, "msg", "SELECT clientid FROM \"#\"");
    cr_assert_eq(emit_connack(e, "client.connack", "c1"), 4u);
    cr_assert_eq(emit_connack(e, "$events/client_connack", "c1"), 4u);
    cr_assert_eq(emit_connack(e, "$events/client/connack", "c1"), 4u);
    cr_assert_eq(emit_connack(e, NULL, "c1"), 4u, "the name comes from the event column");
    cr_assert_eq(metrics(e, "legacy").matched, 4u);
    cr_assert_eq(metrics(e, "new").matched, 4u);
    cr_assert_eq(metrics(e, "all").matched, 4u);
    cr_assert_eq(metrics(e, "clients").matched, 4u);
    cr_assert_eq(metrics(e, "other").matched, 0u);
    cr_assert_eq(metrics(e, "msg").matched, 0u, "'#' does not match $events topics");
    evbuf_t b;
    connack_columns(&b, "c", "success");
    cr_assert_eq(mqr_engine_emit_event(e, "client.nothing", 14, &b.obj, NULL, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_emit_event(e, "message.publish", 15, &b.obj, NULL, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_emit_event(e, "client.connack", 14, NULL, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_emit_event(NULL, "client.connack", 14, &b.obj, NULL, NULL),
                 MQR_EINVAL);
    mqr_engine_destroy(e);
}

Test(engine, emit_event_id_matches_emit_event_by_name)
{
    rec_t by_name, by_id;
    mqr_engine_t *e = engine_recording(0, "r", "SELECT * FROM \"$events/client_connack\"",
                                       &by_name);
    add_rule(e, "other", "SELECT clientid FROM \"$events/client_connected\"");
    evbuf_t b;
    connack_columns(&b, "c1", "success");
    uint32_t fired = 99;
    cr_assert_eq(mqr_engine_emit_event(e, "client.connack", 14, &b.obj, &fired, NULL), MQR_OK);
    cr_assert_eq(fired, 1u);
    by_id = by_name;
    by_name.calls = 0;
    fired = 99;
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_CONNACK, &b.obj, &fired, NULL),
                 MQR_OK);
    cr_assert_eq(fired, 1u);
    cr_assert_eq(by_name.calls, 1);
    cr_assert_str_eq(by_name.json, by_id.json, "same columns, same output");
    cr_assert_eq(metrics(e, "r").matched, 2u);
    fired = 99;
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_DISCONNECTED, &b.obj, &fired, NULL),
                 MQR_OK, "an event no rule listens to");
    cr_assert_eq(fired, 0u);
    cr_assert_eq(metrics(e, "r").matched, 2u);
    cr_assert_eq(metrics(e, "other").matched, 0u);
    fired = 99;
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_CONNECTED, &b.obj, &fired, NULL),
                 MQR_OK);
    cr_assert_eq(fired, 1u, "the id decides the event, not the 'event' column");
    cr_assert_eq(metrics(e, "other").matched, 1u);
    mqr_engine_destroy(e);
}

Test(engine, emit_event_id_bad_arguments)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "all", "SELECT * FROM \"$events/#\"");
    evbuf_t b;
    connack_columns(&b, "c", "success");
    mqr_value_t notobj;
    mqr_value_set_int(&notobj, 1);
    mqr_diag_t d;
    uint32_t fired = 99;
    mqr_diag_clear(&d);
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_COUNT, &b.obj, &fired, &d), MQR_ENOTFOUND);
    cr_assert_eq(fired, 0u);
    cr_assert_str_eq(d.message, "emit: unknown event id 17");
    cr_assert_eq(mqr_engine_emit_event_id(e, UINT32_MAX, &b.obj, NULL, NULL), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_MESSAGE_PUBLISH, &b.obj, NULL, NULL),
                 MQR_ENOTFOUND, "messages go through mqr_engine_emit_message");
    fired = 99;
    cr_assert_eq(mqr_engine_emit_event_id(NULL, MQR_EVENT_CLIENT_CONNACK, &b.obj, &fired, NULL),
                 MQR_EINVAL);
    cr_assert_eq(fired, 0u);
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_CONNACK, NULL, NULL, NULL),
                 MQR_EINVAL);
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_CONNACK, &notobj, NULL, NULL),
                 MQR_EINVAL);
    cr_assert_eq(metrics(e, "all").matched, 0u, "no refused emit ran a rule");
    cr_assert_eq(mqr_engine_emit_event_id(e, MQR_EVENT_COUNT - 1, &b.obj, &fired, NULL), MQR_OK,
                 "the last id is valid");
    cr_assert_eq(fired, 1u);
    mqr_engine_destroy(e);
}

Test(engine, message_filters_and_wildcards)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "hash", "SELECT topic FROM \"t/#\"");
    add_rule(e, "plus", "SELECT topic FROM \"t/+/x\"");
    add_rule(e, "exact", "SELECT topic FROM \"t/1/x\"");
    add_rule(e, "root", "SELECT topic FROM \"#\"");
    add_rule(e, "sys", "SELECT topic FROM \"$SYS/#\"");
    cr_assert_eq(emit_msg(e, "t", "{}"), 2u);     /* hash (parent level), root */
    cr_assert_eq(emit_msg(e, "t/1/x", "{}"), 4u); /* hash, plus, exact, root */
    cr_assert_eq(emit_msg(e, "t/2/y", "{}"), 2u);
    cr_assert_eq(emit_msg(e, "$SYS/a", "{}"), 1u);
    cr_assert_eq(emit_msg(e, "u", "{}"), 1u);
    cr_assert_eq(metrics(e, "hash").matched, 3u);
    cr_assert_eq(metrics(e, "plus").matched, 1u);
    cr_assert_eq(metrics(e, "exact").matched, 1u);
    cr_assert_eq(metrics(e, "root").matched, 4u);
    cr_assert_eq(metrics(e, "sys").matched, 1u);
    mqr_engine_message_t m = {.topic = "t/+", .topic_len = 3};
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_EINVAL);
    mqr_engine_destroy(e);
}

Test(engine, several_matching_sources_fire_once)
{
    rec_t rec;
    mqr_engine_t *e = engine_recording(0, "r",
                                       "SELECT * FROM \"t/#\", \"t/+\", \"t/a\", "
                                       "\"$events/client_connack\", \"$events/client/connack\", "
                                       "\"$events/#\"",
                                       &rec);
    cr_assert_eq(emit_msg(e, "t/a", "x"), 1u);
    cr_assert_eq(emit_connack(e, "client.connack", "c"), 1u);
    mqr_rule_metrics_t m = metrics(e, "r");
    cr_assert_eq(m.matched, 2u);
    cr_assert_eq(m.passed, 2u);
    cr_assert_eq(m.actions_total, 2u);
    cr_assert_eq(rec.calls, 2);
    mqr_engine_destroy(e);
}

Test(engine, rules_fire_in_creation_order)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    rec_t rec[3] = {{.answer = MQR_OK}, {.answer = MQR_OK}, {.answer = MQR_OK}};
    const char *ids[] = {"z", "a", "m"};
    for (int i = 0; i < 3; i++) {
        add_rule(e, ids[i], "SELECT 1 AS one FROM \"t/#\"");
        cr_assert_eq(mqr_engine_action_add_callback(e, ids[i], record_cb, &rec[0], NULL, NULL),
                     MQR_OK);
    }
    emit_msg(e, "t/1", "");
    cr_assert_eq(rec[0].calls, 3);
    cr_assert_str_eq(rec[0].rule, "m", "the last rule added runs last");
    mqr_engine_destroy(e);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* "$bridges/..." and "$sources/..." would never fire in an engine (nothing
 * feeds them): refused at compile time with the source's position, while
 * mqr_rule_compile (the offline rule test) still accepts them. */
Test(engine, bridge_and_source_froms_refused)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    const char *sqls[] = {"SELECT * FROM \"$bridges/mqtt:b\"",
                          "SELECT * FROM \"t/#\", \"$sources/kafka:k\""};
    unsigned cols[] = {15, 22};
    for (int i = 0; i < 2; i++) {
        mqr_diag_t diag;
        mqr_engine_rule_def_t d = {.id = "b", .sql = sqls[i], .enabled = 1};
        cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_ECOMPILE);
        cr_assert_eq(diag.line, 1u);
        cr_assert_eq(diag.column, cols[i], "%s: column %u", sqls[i], diag.column);
        cr_assert(strstr(diag.message, "never fire") != NULL, "%s", diag.message);
    }
    cr_assert_eq(mqr_engine_rule_count(e), 0u);
    mqr_engine_destroy(e);
    mqr_rule_t *r = NULL;
    cr_assert_eq(mqr_rule_compile(sqls[0], strlen(sqls[0]), NULL, &r, NULL), MQR_OK);
    mqr_rule_free(r);
}

Test(engine, rule_lifecycle)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    mqr_engine_rule_def_t d = {.id = "r1", .sql = "SELECT topic FROM \"a/#\"", .enabled = 1,
                               .description = "first"};
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_rule_add(e, &d, NULL), MQR_EEXIST);
    cr_assert_eq(mqr_engine_rule_count(e), 1u);
    uint32_t en = 9;
    cr_assert_str_eq(mqr_engine_rule_info(e, "r1", &en), "first");
    cr_assert_eq(en, 1u);
    cr_assert_null(mqr_engine_rule_info(e, "nope", &en));

    mqr_diag_t diag;
    mqr_engine_rule_def_t bad = {.id = "r2", .sql = "SELEC topic FROM \"a\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_add(e, &bad, &diag), MQR_ESYNTAX);
    cr_assert_gt(diag.line, 0u);
    cr_assert_eq(mqr_engine_rule_count(e), 1u);
    mqr_engine_rule_def_t noid = {.id = "", .sql = "SELECT 1 FROM \"a\""};
    cr_assert_eq(mqr_engine_rule_add(e, &noid, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_rule_add(NULL, &d, NULL), MQR_EINVAL);

    cr_assert_eq(emit_msg(e, "a/1", ""), 1u);
    cr_assert_eq(emit_msg(e, "b/1", ""), 0u);
    /* Update moves the rule to another FROM, keeps its metrics. */
    mqr_engine_rule_def_t up = {.id = "r1", .sql = "SELECT topic FROM \"b/#\"", .enabled = 1,
                                .description = "second"};
    cr_assert_eq(mqr_engine_rule_update(e, &up, NULL), MQR_OK);
    cr_assert_str_eq(mqr_engine_rule_info(e, "r1", NULL), "second");
    cr_assert_eq(emit_msg(e, "a/1", ""), 0u);
    cr_assert_eq(emit_msg(e, "b/1", ""), 1u);
    cr_assert_eq(metrics(e, "r1").matched, 2u);
    /* A failed update leaves the rule in force. */
    mqr_engine_rule_def_t upbad = {.id = "r1", .sql = "SELECT FROM", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_update(e, &upbad, NULL), MQR_ESYNTAX);
    cr_assert_eq(emit_msg(e, "b/2", ""), 1u);
    mqr_engine_rule_def_t upnone = {.id = "zz", .sql = "SELECT 1 FROM \"a\"", .enabled = 1};
    cr_assert_eq(mqr_engine_rule_update(e, &upnone, NULL), MQR_ENOTFOUND);

    cr_assert_eq(mqr_engine_rule_enable(e, "r1", 0), MQR_OK);
    cr_assert_eq(emit_msg(e, "b/1", ""), 0u, "a disabled rule is not matched");
    cr_assert_eq(mqr_engine_rule_enable(e, "r1", 1), MQR_OK);
    cr_assert_eq(emit_msg(e, "b/1", ""), 1u);
    cr_assert_eq(mqr_engine_rule_enable(e, "zz", 1), MQR_ENOTFOUND);

    cr_assert_eq(mqr_engine_rule_metrics_reset(e, "r1"), MQR_OK);
    cr_assert_eq(metrics(e, "r1").matched, 0u);
    cr_assert_eq(mqr_engine_rule_remove(e, "r1"), MQR_OK);
    cr_assert_eq(mqr_engine_rule_remove(e, "r1"), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_rule_count(e), 0u);
    cr_assert_eq(emit_msg(e, "b/1", ""), 0u);
    mqr_rule_metrics_t m;
    cr_assert_eq(mqr_engine_rule_metrics(e, "r1", &m), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
    mqr_engine_destroy(NULL);
}

Test(engine, many_rules_add_and_remove)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    char id[32], sql[96];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "r%d", i);
        snprintf(sql, sizeof sql, "SELECT topic FROM \"dev/%d/+\", \"$events/client_connack\"", i);
        add_rule(e, id, sql);
    }
    cr_assert_eq(emit_msg(e, "dev/1234/t", ""), 1u);
    cr_assert_eq(emit_connack(e, "client.connack", "c"), 2000u);
    for (int i = 0; i < 2000; i += 2) {
        snprintf(id, sizeof id, "r%d", i);
        cr_assert_eq(mqr_engine_rule_remove(e, id), MQR_OK);
    }
    cr_assert_eq(emit_msg(e, "dev/1234/t", ""), 0u);
    cr_assert_eq(emit_msg(e, "dev/1235/t", ""), 1u);
    cr_assert_eq(emit_connack(e, "client.connack", "c"), 1000u);
    mqr_engine_destroy(e);
}

/* ---- metrics --------------------------------------------------------------------------------- */

Test(engine, metrics_no_result_exception_and_passed)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "nores", "SELECT 1 FROM \"t\" WHERE false");
    add_rule(e, "exc", "SELECT payload.x FROM \"t\"");
    add_rule(e, "ok", "SELECT topic FROM \"t\" WHERE qos = 1");
    emit_msg(e, "t", "not json");
    emit_msg(e, "t", "{\"x\":1}");
    mqr_rule_metrics_t m = metrics(e, "nores");
    cr_assert_eq(m.matched, 2u);
    cr_assert_eq(m.failed_no_result, 2u);
    m = metrics(e, "exc");
    cr_assert_eq(m.matched, 2u);
    cr_assert_eq(m.failed_exception, 1u, "an invalid JSON payload with payload.x");
    cr_assert_eq(m.passed, 1u);
    m = metrics(e, "ok");
    cr_assert_eq(m.passed, 2u);
    char buf[2048];
    size_t len = 0;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "nores", NULL, 0, &len), MQR_EBUFFER);
    size_t need = len;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "nores", buf, need, &len), MQR_EBUFFER);
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "nores", buf, need + 1, &len), MQR_OK);
    cr_assert_eq(len, need);
    cr_assert_str_eq(buf, "{\"id\":\"nores\",\"metrics\":{\"matched\":2,\"passed\":0,\"failed\":2,"
                          "\"failed.exception\":0,\"failed.no_result\":2,\"actions.total\":0,"
                          "\"actions.success\":0,\"actions.failed\":0,"
                          "\"actions.failed.out_of_service\":0,\"actions.failed.unknown\":0,"
                          "\"actions.discarded\":0,\"matched.rate\":0.0,"
                          "\"matched.rate.max\":0.0,\"matched.rate.last5m\":0.0},"
                          "\"actions\":[]}");
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "none", buf, sizeof buf, &len), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "nores", NULL, 5, &len), MQR_EINVAL);
    mqr_engine_destroy(e);
}

/* ---- callback action, columns, D4 ------------------------------------------------------------ */

Test(engine, callback_gets_output_json_and_value_with_engine_columns)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "r1", "SELECT clientid, reason_code, timestamp, node, metadata.rule_id AS rid, "
                      "username FROM \"$events/client_connack\"");
    rec_t rec = {.answer = MQR_OK};
    uint32_t aid = 0;
    cr_assert_eq(mqr_engine_action_add_callback(e, "r1", record_cb, &rec, &aid, NULL), MQR_OK);
    cr_assert_gt(aid, 0u);
    emit_connack(e, "client.connack", "dev-1");
    cr_assert_eq(rec.calls, 1);
    cr_assert_str_eq(rec.rule, "r1");
    cr_assert_eq(rec.type, MQR_VAL_OBJECT);
    cr_assert_str_eq(rec.json, "{\"clientid\":\"dev-1\",\"reason_code\":\"success\","
                               "\"timestamp\":1700000000123,\"node\":\"node1@host\","
                               "\"rid\":\"r1\",\"username\":\"undefined\"}");
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.kind, MQR_ACTION_CALLBACK);
    cr_assert_eq(am.matched, 1u);
    cr_assert_eq(am.success, 1u);
    rec.answer = MQR_EIO;
    emit_connack(e, "client.connack", "dev-1");
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.failed, 1u);
    mqr_rule_metrics_t m = metrics(e, "r1");
    cr_assert_eq(m.actions_total, 2u);
    cr_assert_eq(m.actions_success, 1u);
    cr_assert_eq(m.actions_failed, 1u);
    cr_assert_eq(m.actions_failed_unknown, 1u);
    cr_assert_eq(mqr_engine_action_remove(e, aid), MQR_OK);
    cr_assert_eq(mqr_engine_action_remove(e, aid), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_add_callback(e, "none", record_cb, &rec, NULL, NULL),
                 MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_add_callback(e, "r1", NULL, &rec, NULL, NULL), MQR_EINVAL);
    mqr_engine_destroy(e);
}

Test(engine, undefined_renders_as_null_on_request)
{
    rec_t rec;
    mqr_engine_t *e = engine_recording(MQR_ENGINE_UNDEFINED_AS_NULL, "r1",
                                       "SELECT username FROM \"$events/client_connack\"", &rec);
    emit_connack(e, "client.connack", "x");
    cr_assert_str_eq(rec.json, "{\"username\":null}");
    mqr_engine_destroy(e);
}

Test(engine, metadata_is_per_rule_and_in_select_star)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "a", "SELECT metadata FROM \"t\"");
    add_rule(e, "b", "SELECT metadata FROM \"t\"");
    rec_t ra = {.answer = MQR_OK}, rb = {.answer = MQR_OK};
    cr_assert_eq(mqr_engine_action_add_callback(e, "a", record_cb, &ra, NULL, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_add_callback(e, "b", record_cb, &rb, NULL, NULL), MQR_OK);
    emit_msg(e, "t", "p");
    cr_assert_str_eq(ra.json, "{\"metadata\":{\"rule_id\":\"a\"}}");
    cr_assert_str_eq(rb.json, "{\"metadata\":{\"rule_id\":\"b\"}}");
    mqr_engine_destroy(e);
}

Test(engine, select_star_shows_the_engine_columns)
{
    rec_t rec;
    mqr_engine_t *e =
        engine_recording(0, "s", "SELECT * FROM \"$events/client/connack\"", &rec);
    emit_connack(e, "client.connack", "c5");
    cr_assert_str_eq(rec.json, "{\"event\":\"client.connack\",\"clientid\":\"c5\","
                               "\"username\":\"undefined\",\"reason_code\":\"success\","
                               "\"timestamp\":1700000000123,\"node\":\"node1@host\","
                               "\"metadata\":{\"rule_id\":\"s\"}}");
    mqr_engine_destroy(e);
}

Test(engine, foreach_runs_actions_per_element)
{
    rec_t rec;
    mqr_engine_t *e = engine_recording(0, "fe", "FOREACH payload.arr FROM \"t\"", &rec);
    emit_msg(e, "t", "{\"arr\":[{\"a\":1},{\"a\":2},{\"a\":3}]}");
    mqr_rule_metrics_t m = metrics(e, "fe");
    cr_assert_eq(m.passed, 1u);
    cr_assert_eq(m.actions_total, 3u);
    cr_assert_eq(rec.calls, 3);
    emit_msg(e, "t", "{\"arr\":[]}");
    m = metrics(e, "fe");
    cr_assert_eq(m.failed_no_result, 1u);
    mqr_engine_destroy(e);
}

Test(engine, connack_builder_follows_the_names_profile)
{
    golden_t g;
    golden_load(MQR_TEST_DATA_DIR "/packets/v5_connect_full.hex", &g);
    mqr_packet_t pkt;
    size_t used = 0;
    cr_assert_eq(mqr_packet_decode(g.bytes, g.len, &g.opts, &pkt, &used, NULL), MQR_OK);
    const int32_t profiles[] = {MQR_NAMES_DOC, MQR_NAMES_EMQX};
    const char *want[] = {"unacceptable_protocol_version", "unsupported_protocol_version"};
    for (int i = 0; i < 2; i++) {
        mqr_engine_t *e = engine_new(0, profiles[i]);
        add_rule(e, "r", "SELECT clientid, reason_code, timestamp, node "
                         "FROM \"$events/client_connack\"");
        rec_t rec = {.answer = MQR_OK};
        cr_assert_eq(mqr_engine_action_add_callback(e, "r", record_cb, &rec, NULL, NULL),
                     MQR_OK);
        mqr_connack_input_t in;
        mqr_event_connack_init(&in);
        in.connect = &pkt;
        in.reason_code = 0x84;
        in.names = profiles[1 - i]; /* the engine's profile wins */
        uint32_t fired = 0;
        cr_assert_eq(mqr_engine_emit_connack(e, &in, &fired, NULL), MQR_OK);
        cr_assert_eq(fired, 1u);
        char exp[256];
        snprintf(exp, sizeof exp,
                 "{\"clientid\":\"clientid-5\",\"reason_code\":\"%s\","
                 "\"timestamp\":1700000000123,\"node\":\"node1@host\"}",
                 want[i]);
        cr_assert_str_eq(rec.json, exp);
        mqr_engine_destroy(e);
    }
}

/* ---- republish ------------------------------------------------------------------------------- */

typedef struct pubs {
    mqr_engine_t *e;
    int calls;
    int reinject;            /* feed the message back as the broker would */
    int reinject_status;     /* the first failing status of a re-emit */
    char topic[128];
    char payload[512];
    int32_t qos, retain, direct;
    uint32_t nup;
    char up[256];
    int64_t pfi, mei;
    char ctype[64], rtopic[64], corr[64];
    int answer;
} pubs_t;

static int publish_cb(void *ud, const mqr_publish_msg_t *m)
{
    pubs_t *p = ud;
    p->calls++;
    snprintf(p->topic, sizeof p->topic, "%.*s", (int)m->topic_len, m->topic);
    snprintf(p->payload, sizeof p->payload, "%.*s", (int)m->payload_len, m->payload);
    p->qos = m->qos;
    p->retain = m->retain;
    p->direct = m->direct_dispatch;
    p->nup = m->user_property_count;
    p->up[0] = '\0';
    for (uint32_t i = 0; i < m->user_property_count; i++) {
        size_t n = strlen(p->up);
        snprintf(p->up + n, sizeof p->up - n, "%.*s=%.*s;", (int)m->user_properties[i].key_len,
                 m->user_properties[i].key, (int)m->user_properties[i].value_len,
                 m->user_properties[i].value);
    }
    p->pfi = m->payload_format_indicator;
    p->mei = m->message_expiry_interval;
    snprintf(p->ctype, sizeof p->ctype, "%s", m->content_type ? m->content_type : "(none)");
    snprintf(p->rtopic, sizeof p->rtopic, "%s", m->response_topic ? m->response_topic : "(none)");
    snprintf(p->corr, sizeof p->corr, "%s", m->correlation_data ? m->correlation_data : "(none)");
    if (p->reinject) {
        mqr_engine_message_t msg = {0};
        msg.topic = m->topic;
        msg.topic_len = m->topic_len;
        msg.payload = m->payload;
        msg.payload_len = m->payload_len;
        msg.qos = m->qos;
        msg.retain = m->retain;
        msg.direct_dispatch = m->direct_dispatch;
        msg.republish_by = m->rule_id;
        msg.republish_by_len = strlen(m->rule_id);
        int rc = mqr_engine_emit_message(p->e, &msg, NULL, NULL);
        if (rc != MQR_OK)
            p->reinject_status = rc;
    }
    return p->answer;
}

static mqr_engine_t *engine_pub(pubs_t *p)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.clock = fixed_clock;
    o.node = "n@h";
    o.publish = publish_cb;
    o.publish_ud = p;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    p->e = e;
    return e;
}

Test(engine, republish_defaults_are_json_qos0_not_retained)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT clientid, reason_code FROM \"$events/client_connack\"");
    mqr_republish_config_t c = {.topic = "out/${clientid}"};
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, &aid, NULL), MQR_OK);
    emit_connack(e, "client.connack", "c9");
    cr_assert_eq(p.calls, 1);
    cr_assert_str_eq(p.topic, "out/c9");
    cr_assert_str_eq(p.payload, "{\"clientid\":\"c9\",\"reason_code\":\"success\"}");
    cr_assert_eq(p.qos, 0);
    cr_assert_eq(p.retain, 0);
    cr_assert_eq(p.direct, 0);
    cr_assert_eq(p.nup, 0u);
    cr_assert_eq(p.pfi, -1);
    cr_assert_eq(p.mei, -1);
    cr_assert_str_eq(p.ctype, "(none)");
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.kind, MQR_ACTION_REPUBLISH);
    cr_assert_eq(am.success, 1u);
    p.answer = MQR_EIO;
    emit_connack(e, "client.connack", "c9");
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.failed, 1u, "a publisher refusal counts as failed");
    mqr_engine_destroy(e);
}

Test(engine, republish_every_option)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT payload.q AS q, payload.ret AS ret, payload.props AS props, "
                     "payload.ct AS ct, topic FROM \"in/#\"");
    mqr_republish_config_t c = {
        .topic = "out/${topic}",
        .payload = "q=${q} t=${topic}",
        .qos = "${q}",
        .retain = "${ret}",
        .user_properties = "${props}",
        .payload_format_indicator = "1",
        .message_expiry_interval = "${q}0",
        .content_type = "${ct}",
        .response_topic = "resp/${topic}",
        .correlation_data = "corr",
        .direct_dispatch = "false",
    };
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    emit_msg(e, "in/a",
             "{\"q\":2,\"ret\":true,\"props\":{\"k1\":\"v1\",\"k2\":7},\"ct\":\"text/plain\"}");
    cr_assert_eq(p.calls, 1);
    cr_assert_str_eq(p.topic, "out/in/a");
    cr_assert_str_eq(p.payload, "q=2 t=in/a");
    cr_assert_eq(p.qos, 2);
    cr_assert_eq(p.retain, 1);
    cr_assert_eq(p.nup, 2u);
    cr_assert_str_eq(p.up, "k1=v1;k2=7;");
    cr_assert_eq(p.pfi, 1);
    cr_assert_eq(p.mei, 20);
    cr_assert_str_eq(p.ctype, "text/plain");
    cr_assert_str_eq(p.rtopic, "resp/in/a");
    cr_assert_str_eq(p.corr, "corr");
    /* Missing qos and retain values give 0 and false; a bad qos fails. */
    emit_msg(e, "in/b", "{}");
    cr_assert_eq(p.calls, 2);
    cr_assert_eq(p.qos, 0);
    cr_assert_eq(p.retain, 0);
    cr_assert_eq(p.mei, -1, "'undefined0' is not an integer: left out");
    emit_msg(e, "in/c", "{\"q\":7}");
    cr_assert_eq(p.calls, 2, "qos 7 is refused");
    mqr_rule_metrics_t m = metrics(e, "r");
    cr_assert_eq(m.actions_total, 3u);
    cr_assert_eq(m.actions_success, 2u);
    cr_assert_eq(m.actions_failed, 1u);
    mqr_engine_destroy(e);
}

Test(engine, republish_expiry_beyond_32_bits_is_left_out)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT payload.x AS x FROM \"in/#\"");
    mqr_republish_config_t c = {.topic = "out", .message_expiry_interval = "${x}"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    emit_msg(e, "in/a", "{\"x\":4294967295}");
    cr_assert_eq(p.calls, 1);
    cr_assert_eq(p.mei, INT64_C(4294967295), "UINT32_MAX is carried");
    emit_msg(e, "in/a", "{\"x\":4294967296}");
    cr_assert_eq(p.calls, 2);
    cr_assert_eq(p.mei, -1, "UINT32_MAX + 1 is left out");
    emit_msg(e, "in/a", "{\"x\":0}");
    cr_assert_eq(p.mei, 0);
    mqr_engine_destroy(e);
}

Test(engine, republish_config_errors)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT * FROM \"in/#\"");
    mqr_republish_config_t c = {.topic = NULL};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.topic = "t";
    c.qos = "3";
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.qos = "q${qos}";
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.qos = NULL;
    c.retain = "yes";
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.retain = NULL;
    c.user_properties = "a=${b}";
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.user_properties = NULL;
    cr_assert_eq(mqr_engine_action_add_republish(e, "nope", &c, NULL, NULL), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    /* A topic that renders to a filter is refused at run time. */
    mqr_republish_config_t w = {.topic = "x/${payload}"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &w, NULL, NULL), MQR_OK);
    emit_msg(e, "in/1", "#");
    mqr_rule_metrics_t m = metrics(e, "r");
    cr_assert_eq(m.actions_success, 1u);
    cr_assert_eq(m.actions_failed, 1u);
    mqr_engine_destroy(e);
}

Test(engine, republish_loop_protection_counts_the_match_once_more)
{
    pubs_t p = {.answer = MQR_OK, .reinject = 1};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT * FROM \"loop/#\"");
    add_rule(e, "watch", "SELECT * FROM \"loop/#\"");
    mqr_republish_config_t c = {.topic = "loop/again", .payload = "${payload}"};
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, &aid, NULL), MQR_OK);
    emit_msg(e, "loop/1", "x");
    cr_assert_eq(p.calls, 1, "exactly one extra copy");
    cr_assert_eq(metrics(e, "r").matched, 2u, "the republished message matches again");
    cr_assert_eq(metrics(e, "watch").matched, 2u, "other rules see it normally");
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.matched, 2u);
    cr_assert_eq(am.refused_recursive, 1u);
    cr_assert_eq(p.reinject_status, MQR_OK);
    mqr_engine_destroy(e);
}

Test(engine, mutual_republish_stops_at_the_rule_that_started_it)
{
    /* a -> y/1 -> b -> x/1: a's own output caused x/1 (two levels down), so
     * a's republish action refuses it (loop protection at any depth, #14) */
    pubs_t p = {.answer = MQR_OK, .reinject = 1};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "a", "SELECT * FROM \"x/#\"");
    add_rule(e, "b", "SELECT * FROM \"y/#\"");
    mqr_republish_config_t ca = {.topic = "y/1"}, cb = {.topic = "x/1"};
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_republish(e, "a", &ca, &aid, NULL), MQR_OK);
    cr_assert_eq(mqr_engine_action_add_republish(e, "b", &cb, NULL, NULL), MQR_OK);
    emit_msg(e, "x/0", "");
    cr_assert_eq(p.reinject_status, MQR_OK);
    cr_assert_eq(p.calls, 2);
    cr_assert_eq(metrics(e, "a").matched, 2u);
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.refused_recursive, 1u);
    mqr_engine_destroy(e);
}

Test(engine, republish_direct_dispatch_bypasses_rules)
{
    pubs_t p = {.answer = MQR_OK, .reinject = 1};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT * FROM \"loop/#\"");
    add_rule(e, "watch", "SELECT * FROM \"loop/#\"");
    mqr_republish_config_t c = {.topic = "loop/again", .direct_dispatch = "true"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    emit_msg(e, "loop/1", "x");
    cr_assert_eq(p.calls, 1);
    cr_assert_eq(p.direct, 1);
    cr_assert_eq(metrics(e, "r").matched, 1u);
    cr_assert_eq(metrics(e, "watch").matched, 1u);
    mqr_engine_destroy(e);
}

Test(engine, republish_copies_the_original_user_properties)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT topic FROM \"in/#\"");
    mqr_republish_config_t c = {.topic = "out", .user_properties = "${pub_props.'User-Property'}"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    mqr_member_t up[1] = {{.key = "who", .key_len = 3}};
    mqr_value_set_string(&up[0].value, "me", 2);
    mqr_member_t pm[1] = {{.key = "User-Property", .key_len = 13}};
    pm[0].value.type = MQR_VAL_OBJECT;
    pm[0].value.len = 1;
    pm[0].value.u.members = up;
    mqr_value_t props = {.type = MQR_VAL_OBJECT, .len = 1};
    props.u.members = pm;
    mqr_engine_message_t m = {.topic = "in/x", .topic_len = 4, .pub_props = &props};
    cr_assert_eq(mqr_engine_emit_message(e, &m, NULL, NULL), MQR_OK);
    cr_assert_eq(p.calls, 1);
    cr_assert_str_eq(p.up, "who=me;");
    mqr_engine_destroy(e);
}

Test(engine, republish_fixed_user_properties_follow_the_template_ones)
{
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_t *e = engine_pub(&p);
    add_rule(e, "r", "SELECT payload.props AS props FROM \"in/#\"");
    char key[] = "origin", val[] = "mqttrule";
    mqr_user_property_t fixed[2] = {{key, 6, val, 8}, {"empty", 5, "", 0}};
    mqr_republish_config_t c = {.topic = "out", .user_properties = "${props}",
                                .fixed_user_property_count = 2, .fixed_user_properties = fixed};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    memset(key, 'x', sizeof key - 1); /* copied: the caller's text may change */
    emit_msg(e, "in/a", "{\"props\":{\"k\":\"v\"}}");
    cr_assert_eq(p.calls, 1);
    cr_assert_eq(p.nup, 3u);
    cr_assert_str_eq(p.up, "k=v;origin=mqttrule;empty=;");
    emit_msg(e, "in/b", "{}");
    cr_assert_eq(p.nup, 2u, "without template properties only the fixed ones");
    cr_assert_str_eq(p.up, "origin=mqttrule;empty=;");
    mqr_republish_config_t bad = {.topic = "out", .fixed_user_property_count = 1};
    mqr_diag_t d;
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &bad, NULL, &d), MQR_EINVAL);
    mqr_engine_destroy(e);
}

Test(engine, republish_without_publisher_fails)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "r", "SELECT * FROM \"in\"");
    mqr_republish_config_t c = {.topic = "out"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &c, NULL, NULL), MQR_OK);
    emit_msg(e, "in", "");
    cr_assert_eq(metrics(e, "r").actions_failed, 1u);
    mqr_engine_destroy(e);
}

/* ---- nesting and state ----------------------------------------------------------------------- */

typedef struct nest {
    mqr_engine_t *e;
    int depth;
    int status_change;
    int status_emit;
} nest_t;

static int nest_cb(void *ud, const char *rule_id, const char *json, size_t len,
                   const mqr_value_t *out)
{
    nest_t *n = ud;
    n->depth++;
    n->status_change = mqr_engine_rule_remove(n->e, rule_id);
    mqr_engine_message_t m = {.topic = "n", .topic_len = 1};
    int rc = mqr_engine_emit_message(n->e, &m, NULL, NULL);
    if (rc != MQR_OK)
        n->status_emit = rc;
    return MQR_OK;
}

Test(engine, nested_emits_are_bounded_and_rules_are_frozen)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "r", "SELECT * FROM \"n\"");
    nest_t n = {.e = e};
    cr_assert_eq(mqr_engine_action_add_callback(e, "r", nest_cb, &n, NULL, NULL), MQR_OK);
    emit_msg(e, "n", "");
    cr_assert_eq(n.depth, (int)MQR_ENGINE_MAX_DEPTH);
    cr_assert_eq(n.status_change, MQR_ESTATE);
    cr_assert_eq(n.status_emit, MQR_ELIMIT, "the innermost emit is refused");
    cr_assert_eq(metrics(e, "r").matched, MQR_ENGINE_MAX_DEPTH);
    mqr_engine_destroy(e);
}

/* ---- memory ---------------------------------------------------------------------------------- */

Test(engine, warm_emit_makes_no_allocation)
{
    counting_t c = {0};
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.alloc.fn = counting_fn;
    o.alloc.ud = &c;
    o.publish = publish_cb;
    o.publish_ud = &p;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    char id[16], sql[64];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "r%d", i);
        snprintf(sql, sizeof sql, "SELECT clientid, topic FROM \"t/%d\"", i);
        add_rule(e, id, sql);
    }
    rec_t rec = {.answer = MQR_OK};
    cr_assert_eq(mqr_engine_action_add_callback(e, "r7", record_cb, &rec, NULL, NULL), MQR_OK);
    mqr_republish_config_t rp = {.topic = "out/${topic}", .qos = "${qos}",
                                 .content_type = "x/${clientid}"};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r7", &rp, NULL, NULL), MQR_OK);
    for (int i = 0; i < 3; i++) {
        emit_msg(e, "t/7", "{}");
        emit_msg(e, "nothing", "{}");
        emit_connack(e, "client.connack", "c");
    }
    long before = c.allocs;
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(emit_msg(e, "t/7", "{\"a\":1}"), 1u);
        cr_assert_eq(emit_msg(e, "nothing", "{}"), 0u);
    }
    cr_assert_eq(c.allocs, before, "%ld allocations in 2000 warm emits", c.allocs - before);
    cr_assert_eq(rec.calls, 1003);
    cr_assert_eq(p.calls, 1003);
    cr_assert_str_eq(p.topic, "out/t/7");
    mqr_engine_destroy(e);
    cr_assert_eq(c.live_bytes, 0);
}

Test(engine, warm_republish_render_through_json_strings_makes_no_allocation)
{
    /* The templates cross a JSON string (${p.x}: p is JSON text) and render
     * more than 256 bytes: both once cost a heap allocation per render. */
    counting_t c = {0};
    pubs_t p = {.answer = MQR_OK};
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.alloc.fn = counting_fn;
    o.alloc.ud = &c;
    o.publish = publish_cb;
    o.publish_ud = &p;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    add_rule(e, "r", "SELECT payload AS p FROM \"t/#\"");
    char big[400];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char payload_tpl[480];
    snprintf(payload_tpl, sizeof payload_tpl, "%s ${p.x}", big);
    mqr_republish_config_t rp = {.topic = "out/${p.x}", .payload = payload_tpl};
    cr_assert_eq(mqr_engine_action_add_republish(e, "r", &rp, NULL, NULL), MQR_OK);
    for (int i = 0; i < 3; i++)
        emit_msg(e, "t/1", "{\"x\":\"v\"}");
    long before = c.allocs;
    for (int i = 0; i < 200; i++)
        cr_assert_eq(emit_msg(e, "t/1", "{\"x\":\"v\"}"), 1u);
    cr_assert_eq(c.allocs, before, "%ld allocations in 200 warm emits", c.allocs - before);
    cr_assert_eq(p.calls, 203);
    cr_assert_str_eq(p.topic, "out/v");
    cr_assert_eq(strlen(p.payload), sizeof big + 1);
    mqr_engine_destroy(e);
    cr_assert_eq(c.live_bytes, 0);
}

/* The whole scenario under one allocator; every step may fail with ENOMEM. */
static int scenario(counting_t *c)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.alloc.fn = counting_fn;
    o.alloc.ud = c;
    o.node = "n@h";
    mqr_engine_t *e = NULL;
    int rc = mqr_engine_create(&o, &e);
    if (rc != MQR_OK) {
        cr_assert_eq(rc, MQR_ENOMEM);
        cr_assert_null(e);
        return rc;
    }
    int complete = 1;
    const char *sqls[] = {"SELECT clientid, reason_code FROM \"$events/client_connack\"",
                          "SELECT * FROM \"t/#\", \"$events/#\" WHERE qos >= 0",
                          "SELECT payload.x AS x FROM \"t/+/y\""};
    const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        mqr_engine_rule_def_t d = {.id = ids[i], .sql = sqls[i], .enabled = 1};
        rc = mqr_engine_rule_add(e, &d, NULL);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM, "%s", mqr_status_name(rc));
            complete = 0;
        }
    }
    rec_t rec = {.answer = MQR_OK};
    rc = mqr_engine_action_add_callback(e, "a", record_cb, &rec, NULL, NULL);
    if (rc != MQR_OK && rc != MQR_ENOTFOUND) {
        cr_assert_eq(rc, MQR_ENOMEM);
        complete = 0;
    }
    mqr_republish_config_t rp = {.topic = "o/${clientid}", .user_properties = "${u}"};
    rc = mqr_engine_action_add_republish(e, "b", &rp, NULL, NULL);
    if (rc != MQR_OK && rc != MQR_ENOTFOUND) {
        cr_assert_eq(rc, MQR_ENOMEM);
        complete = 0;
    }
    mqr_http_action_config_t hc;
    memset(&hc, 0, sizeof hc);
    mqr_http_config_init(&hc.http);
    hc.http.url = "http://127.0.0.1:1/x";
    hc.http.ttl_ms = 600000;
    mqr_http_header_t hh = {.name = "X-C", .name_len = 3, .value = "${clientid}", .value_len = 11};
    hc.http.headers = &hh;
    hc.http.header_count = 1;
    hc.headers = &hh;
    hc.header_count = 1;
    hc.path = "p/${clientid}";
    rc = mqr_engine_action_add_http(e, "a", &hc, NULL, NULL);
    if (rc != MQR_OK && rc != MQR_ENOTFOUND) {
        cr_assert_eq(rc, MQR_ENOMEM, "%s", mqr_status_name(rc));
        complete = 0;
    }
    mqr_engine_rule_def_t up = {.id = "c", .sql = "SELECT topic FROM \"u/#\"", .enabled = 1};
    rc = mqr_engine_rule_update(e, &up, NULL);
    if (rc != MQR_OK && rc != MQR_ENOTFOUND) {
        cr_assert_eq(rc, MQR_ENOMEM);
        complete = 0;
    }
    for (int i = 0; i < 2; i++) {
        evbuf_t b;
        connack_columns(&b, "c1", "success");
        rc = mqr_engine_emit_event(e, "client.connack", 14, &b.obj, NULL, NULL);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM);
            complete = 0;
        }
        mqr_engine_message_t m = {.topic = "t/x/y", .topic_len = 5, .payload = "{\"x\":1}",
                                  .payload_len = 7};
        rc = mqr_engine_emit_message(e, &m, NULL, NULL);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM);
            complete = 0;
        }
    }
    /* Every rule present keeps its invariants whatever failed. */
    for (int i = 0; i < 3; i++) {
        mqr_rule_metrics_t m;
        if (mqr_engine_rule_metrics(e, ids[i], &m) == MQR_OK) {
            cr_assert_eq(m.matched, m.passed + m.failed);
            if (m.failed_exception)
                complete = 0; /* an evaluation ran out of memory */
        }
    }
    if (complete && !c->failed) {
        cr_assert_eq(rec.calls, 2);
        cr_assert_eq(mqr_engine_pending(e), 2u, "n=%ld", c->fail_at);
    }
    mqr_engine_rule_remove(e, "b");
    mqr_engine_destroy(e);
    return complete && !c->failed ? MQR_OK : MQR_ENOMEM;
}

Test(engine, allocation_failure_at_every_step)
{
    long n;
    for (n = 1; n < 100000; n++) {
        counting_t c = {.fail_at = n};
        int rc = scenario(&c);
        cr_assert_eq(c.live_bytes, 0, "leak with allocation %ld failing", n);
        if (rc == MQR_OK && c.failed == 0)
            break;
    }
    cr_assert_lt(n, 100000);
    cr_assert_gt(n, 50, "the scenario allocates (%ld allocations)", n);
}

/* ---- HTTP action without a server (the server cases are in the pytest suite) ----------------- */

static mqr_http_action_config_t http_cfg(const char *url)
{
    mqr_http_action_config_t c;
    memset(&c, 0, sizeof c);
    mqr_http_config_init(&c.http);
    c.http.url = url;
    c.http.ttl_ms = 600000;
    c.http.backoff_initial_ms = 60000;
    return c;
}

Test(engine, http_action_config_errors)
{
    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "r", "SELECT * FROM \"t\"");
    mqr_http_action_config_t c = http_cfg("http://127.0.0.1:1/x");
    mqr_http_header_t h = {.name = "X-A", .name_len = 3, .value = "a\r\nb", .value_len = 4};
    c.headers = &h;
    c.header_count = 1;
    mqr_diag_t diag;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, &diag), MQR_EINVAL);
    cr_assert(strstr(diag.message, "CR, LF or NUL") != NULL, "%s", diag.message);
    h.value = "a\0b";
    h.value_len = 3;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, NULL), MQR_EINVAL);
    h.name = "X\nB";
    h.value = "ok";
    h.value_len = 2;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.header_count = 0;
    c.method = 9;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.method = 0;
    c.http.url = "ftp://127.0.0.1/";
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.http.url = NULL;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, NULL, NULL), MQR_EINVAL);
    c.http.url = "http://127.0.0.1:1/";
    cr_assert_eq(mqr_engine_action_add_http(e, "none", &c, NULL, NULL), MQR_ENOTFOUND);
    mqr_http_test_result_t tr;
    cr_assert_eq(mqr_engine_action_test(e, 12345, 100, &tr), MQR_ENOTFOUND);
    cr_assert_eq(mqr_engine_action_test(e, 1, 100, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_engine_fds(e, NULL, 0), 0u);
    cr_assert_eq(mqr_engine_timeout(e, 0), -1);
    cr_assert_eq(mqr_engine_pending(e), 0u);
    cr_assert_eq(mqr_engine_poll(e, 0), MQR_OK);
    cr_assert_eq(mqr_engine_fd_ready(e, 0, MQR_HTTP_READ, 0), MQR_ENOTFOUND);
    mqr_engine_destroy(e);
}

static int64_t mono_at(void *ud) { return *(int64_t *)ud; }

/* An engine whose monotonic clock reads *mono, with rule r on "t/#". */
static mqr_engine_t *engine_mono(int64_t *mono)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.mono_clock = mono_at;
    o.mono_clock_ud = mono;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    add_rule(e, "r", "SELECT topic FROM \"t/#\"");
    return e;
}

Test(engine, http_messages_pending_at_removal_end_as_dropped)
{
    int64_t mono = 1000;
    mqr_engine_t *e = engine_mono(&mono);
    mqr_http_action_config_t c = http_cfg("http://127.0.0.1:1/x");
    c.path = "${topic}";
    c.http.max_queue_count = 3;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &aid, NULL), MQR_OK);
    for (int i = 0; i < 5; i++)
        emit_msg(e, "t/1", "{}");
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.kind, MQR_ACTION_HTTP);
    cr_assert_eq(am.matched, 5u);
    cr_assert_eq(am.dropped_queue_full, 2u);
    cr_assert_eq(am.queuing + am.inflight, 3u);
    cr_assert_eq(am.matched, am.success + am.failed + am.dropped + am.queuing + am.inflight);
    cr_assert_eq(mqr_engine_pending(e), 3u);
    cr_assert_geq(mqr_engine_timeout(e, (uint64_t)mono), 0);
    mqr_rule_metrics_t m = metrics(e, "r");
    cr_assert_eq(m.actions_total, 5u);
    cr_assert_eq(m.actions_failed_out_of_service, 2u);
    char json[2048];
    size_t len;
    cr_assert_eq(mqr_engine_rule_metrics_json(e, "r", json, sizeof json, &len), MQR_OK);
    cr_assert(strstr(json, "\"type\":\"http\"") && strstr(json, "\"dropped.queue_full\":2"),
              "%s", json);
    cr_assert_eq(mqr_engine_action_remove(e, aid), MQR_OK);
    m = metrics(e, "r");
    cr_assert_eq(m.actions_failed, 5u, "the pending messages end as dropped (other)");
    cr_assert_eq(m.actions_failed_out_of_service, 5u);
    cr_assert_eq(m.actions_total, m.actions_success + m.actions_failed);
    cr_assert_eq(mqr_engine_pending(e), 0u);
    mqr_engine_destroy(e);
}

Test(engine, http_ttl_expiry_with_an_injected_clock)
{
    int64_t mono = 5000;
    mqr_engine_t *e = engine_mono(&mono);
    mqr_http_action_config_t c = http_cfg("http://127.0.0.1:1/x");
    c.http.ttl_ms = 1000;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &aid, NULL), MQR_OK);
    emit_msg(e, "t/1", "{}");
    cr_assert_eq(mqr_engine_pending(e), 1u);
    mono += 2000;
    cr_assert_eq(mqr_engine_process(e, (uint64_t)mono), MQR_OK);
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.dropped_expired, 1u);
    cr_assert_eq(mqr_engine_pending(e), 0u);
    cr_assert_eq(metrics(e, "r").actions_failed_out_of_service, 1u);
    mqr_engine_destroy(e);
}

Test(engine, http_through_the_host_loop_calls)
{
    /* One connection at a time, three empty 200s, then the server closes. */
    http_server_t srv = {.steps = 3};
    cr_assert_eq(http_server_start(&srv), 0);

    mqr_engine_t *e = engine_new(0, MQR_NAMES_DOC);
    add_rule(e, "r", "SELECT clientid, reason_code FROM \"$events/client_connack\"");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/in", srv.port);
    mqr_http_action_config_t c = http_cfg(url);
    c.http.pool_size = 1;
    c.path = "${clientid}";
    mqr_http_header_t h = {.name = "X-R", .name_len = 3, .value = "${reason_code}",
                           .value_len = 14};
    c.headers = &h;
    c.header_count = 1;
    uint32_t aid;
    cr_assert_eq(mqr_engine_action_add_http(e, "r", &c, &aid, NULL), MQR_OK);
    for (int i = 0; i < 3; i++)
        emit_connack(e, "client.connack", "dev7");
    cr_assert_eq(mqr_engine_pending(e), 3u);
    /* The host's loop: watch the descriptors, sleep until the timeout. */
    uint64_t start = mqr_http_now_ms();
    while (mqr_engine_pending(e) > 0 && mqr_http_now_ms() - start < 10000) {
        mqr_http_fd_t fds[8];
        size_t n = mqr_engine_fds(e, fds, 8);
        cr_assert_leq(n, 1u, "one connection at most");
        struct pollfd p[8];
        for (size_t i = 0; i < n; i++) {
            p[i].fd = fds[i].fd;
            p[i].events = (short)(((fds[i].events & MQR_HTTP_READ) ? POLLIN : 0) |
                                  ((fds[i].events & MQR_HTTP_WRITE) ? POLLOUT : 0));
        }
        int64_t t = mqr_engine_timeout(e, mqr_http_now_ms());
        int ready = poll(p, (nfds_t)n, t < 0 || t > 100 ? 100 : (int)t);
        for (size_t i = 0; ready > 0 && i < n; i++)
            if (p[i].revents)
                cr_assert_eq(mqr_engine_fd_ready(e, p[i].fd, MQR_HTTP_READ | MQR_HTTP_WRITE,
                                                 mqr_http_now_ms()),
                             MQR_OK);
        cr_assert_eq(mqr_engine_process(e, mqr_http_now_ms()), MQR_OK);
    }
    http_server_stop(&srv);
    mqr_action_metrics_t am;
    cr_assert_eq(mqr_engine_action_metrics(e, aid, &am), MQR_OK);
    cr_assert_eq(am.success, 3u);
    cr_assert_eq(srv.rec.requests, 3);
    const char *last = srv.rec.last;
    cr_assert(strncmp(last, "POST /in/dev7 HTTP/1.1\r\n", 24) == 0, "%s", last);
    cr_assert(strstr(last, "X-R: success\r\n") != NULL, "%s", last);
    cr_assert(strstr(last, "\r\n\r\n{\"clientid\":\"dev7\",\"reason_code\":\"success\"}") != NULL,
              "%s", last);
    mqr_rule_metrics_t m = metrics(e, "r");
    cr_assert_eq(m.actions_success, 3u);
    mqr_engine_destroy(e);
}

/* ---- options passed to every rule ------------------------------------------------------------ */

/* The output JSON (into out) of one message on "t/1" through an engine made
 * from *o with one rule `sql`. */
static void output_with(const mqr_engine_options_t *o, const char *sql, char *out, size_t cap)
{
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(o, &e), MQR_OK);
    add_rule(e, "r1", sql);
    rec_t rec;
    memset(&rec, 0, sizeof rec);
    cr_assert_eq(mqr_engine_action_add_callback(e, "r1", record_cb, &rec, NULL, NULL), MQR_OK);
    cr_assert_eq(emit_msg(e, "t/1", "{}"), 1u);
    cr_assert_eq(rec.calls, 1);
    snprintf(out, cap, "%s", rec.json);
    mqr_engine_destroy(e);
}

Test(engine, options_init_defaults_of_the_appended_fields)
{
    mqr_engine_options_t o;
    memset(&o, 0x5a, sizeof o);
    mqr_engine_options_init(&o);
    cr_assert_eq(o.local_offset_s, MQR_ENGINE_LOCAL_OFFSET_PROCESS);
    cr_assert_eq(o.rng_seed, 0u);
    cr_assert_eq(o.max_sql_len, 0u);
    cr_assert_eq(o.max_depth, 0u);
    cr_assert_eq(o.max_steps, 0u);
    cr_assert_eq(o.max_output, 0u);
}

Test(engine, local_offset_reaches_the_rules)
{
    static const char sql[] = "SELECT unix_ts_to_rfc3339(0) AS t FROM \"t/#\"";
    char out[1024];
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.local_offset_s = 3600;
    output_with(&o, sql, out, sizeof out);
    cr_assert_str_eq(out, "{\"t\":\"1970-01-01T01:00:00+01:00\"}");
    o.local_offset_s = 0;
    output_with(&o, sql, out, sizeof out);
    cr_assert_str_eq(out, "{\"t\":\"1970-01-01T00:00:00+00:00\"}");
    o.local_offset_s = 86400;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_EINVAL);
    cr_assert_null(e);
    o.local_offset_s = -86400;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_EINVAL);
}

Test(engine, local_offset_default_is_the_process_time_zone)
{
    cr_assert_eq(setenv("TZ", "XYZ-2", 1), 0); /* POSIX TZ: two hours east of UTC */
    tzset();
    int32_t off = 0;
    cr_assert_eq(mqr_rule_local_offset(0, &off), MQR_OK);
    cr_assert_eq(off, 7200);
    cr_assert_eq(mqr_rule_local_offset(0, NULL), MQR_EINVAL);
    char out[1024];
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    output_with(&o, "SELECT unix_ts_to_rfc3339(0) AS t FROM \"t/#\"", out, sizeof out);
    cr_assert_str_eq(out, "{\"t\":\"1970-01-01T02:00:00+02:00\"}");
}

Test(engine, rng_seed_fixed_repeats_and_zero_differs)
{
    static const char sql[] = "SELECT uuid_v4() AS u FROM \"t/#\"";
    char a[1024], b[1024];
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.rng_seed = 42;
    output_with(&o, sql, a, sizeof a);
    output_with(&o, sql, b, sizeof b);
    cr_assert_str_eq(a, b);
    o.rng_seed = 0;
    output_with(&o, sql, a, sizeof a);
    output_with(&o, sql, b, sizeof b);
    cr_assert_str_neq(a, b);
}

Test(engine, rule_limits_reach_the_rules)
{
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.max_sql_len = 16;
    mqr_engine_t *e = NULL;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    mqr_engine_rule_def_t d = {.id = "r1", .sql = "SELECT * FROM \"t/#\"", .enabled = 1};
    mqr_diag_t diag;
    cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_ELIMIT);
    mqr_engine_destroy(e);
    mqr_engine_options_init(&o);
    o.max_depth = 2;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    d.sql = "SELECT ((((1)))) AS x FROM \"t/#\"";
    cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_ELIMIT);
    mqr_engine_destroy(e);
    mqr_engine_options_init(&o);
    o.max_steps = 2;
    cr_assert_eq(mqr_engine_create(&o, &e), MQR_OK);
    d.sql = "SELECT 1 + 2 + 3 + 4 + 5 + 6 AS x, payload AS y FROM \"t/#\"";
    cr_assert_eq(mqr_engine_rule_add(e, &d, &diag), MQR_OK);
    rec_t rec;
    memset(&rec, 0, sizeof rec);
    cr_assert_eq(mqr_engine_action_add_callback(e, "r1", record_cb, &rec, NULL, NULL), MQR_OK);
    emit_msg(e, "t/1", "{}");
    cr_assert_eq(rec.calls, 0);
    cr_assert_eq(metrics(e, "r1").failed_exception, 1u);
    mqr_engine_destroy(e);
}
