/* SPDX-License-Identifier: MIT */
/*
 * test_rule_test.c - the rule-test context builder (mqttrule/rule_test.h):
 * example values, connack reason names per profile, payload encoding, extra
 * columns, FROM matching, bridge sources and the error statuses.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <mqttrule.h>

#include "value_test_alloc.h"

static mqr_arena_t *arena;
static mqr_rule_t *rule;

static void setup(void)
{
    const char *sql = "SELECT * FROM \"t/#\", \"$events/client_connack\", \"$bridges/mqtt:b\"";
    cr_assert_eq(mqr_arena_create(NULL, 0, &arena), MQR_OK);
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), NULL, &rule, NULL), MQR_OK);
}

static void teardown(void)
{
    mqr_rule_free(rule);
    mqr_arena_destroy(arena);
}

TestSuite(rule_test, .init = setup, .fini = teardown);

/* Build the columns of context `json` and return them as JSON text. */
static const char *columns(const char *json, const mqr_rule_test_options_t *o, int32_t *matched)
{
    mqr_value_t ctx, cols;
    cr_assert_eq(mqr_json_parse(arena, json, strlen(json), 0, &ctx, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_test_columns(rule, &ctx, o, arena, &cols, matched, NULL), MQR_OK);
    static char buf[4096];
    size_t n = 0;
    cr_assert_eq(mqr_json_write(&cols, 0, buf, sizeof buf - 1, &n), MQR_OK);
    buf[n] = '\0';
    return buf;
}

/* The JSON of one column, or "" when absent. */
static const char *column(const char *json, const char *key, const mqr_rule_test_options_t *o)
{
    mqr_value_t ctx, cols;
    int32_t matched = -1;
    cr_assert_eq(mqr_json_parse(arena, json, strlen(json), 0, &ctx, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_test_columns(rule, &ctx, o, arena, &cols, &matched, NULL), MQR_OK);
    const mqr_value_t *v = mqr_value_object_get(&cols, key, strlen(key));
    static char buf[512];
    size_t n = 0;
    if (!v)
        return "";
    cr_assert_eq(mqr_json_write(v, 0, buf, sizeof buf - 1, &n), MQR_OK);
    buf[n] = '\0';
    return buf;
}

Test(rule_test, connack_reason_names_follow_profile_and_proto_ver)
{
    mqr_rule_test_options_t doc = {MQR_NAMES_DOC, 0, 5, NULL, NULL};
    mqr_rule_test_options_t emqx = {MQR_NAMES_EMQX, 0, 5, NULL, NULL};
    const char *v4 = "{\"event_type\":\"client_connack\",\"proto_ver\":4,\"reason_code\":134}";
    cr_assert_str_eq(column(v4, "reason_code", &doc), "\"malformed_username_or_password\"");
    cr_assert_str_eq(column(v4, "reason_code", &emqx), "\"bad_username_or_password\"");
    cr_assert_str_eq(column("{\"event_type\":\"client_connack\"}", "reason_code", &doc),
                     "\"success\"");
    cr_assert_str_eq(column("{\"event_type\":\"client_connack\",\"reason_code\":\"x\"}",
                            "reason_code", &doc), "\"x\"");
}

Test(rule_test, examples_fill_missing_fields_in_table_order)
{
    mqr_rule_test_options_t o = {MQR_NAMES_DOC, 0, 1700000000000, "n@h", NULL};
    int32_t matched = -1;
    const char *cols = columns("{\"event_type\":\"client_connack\",\"extra\":1,\"clientid\":\"c\"}",
                               &o, &matched);
    cr_assert_eq(matched, 1);
    cr_assert(strncmp(cols, "{\"event\":\"client.connack\",\"reason_code\":\"success\","
                            "\"clientid\":\"c\",\"username\":\"u_emqx\"", 72) == 0, "%s", cols);
    cr_assert(strstr(cols, "\"timestamp\":1700000000000") != NULL, "%s", cols);
    cr_assert(strstr(cols, "\"node\":\"n@h\"") != NULL, "%s", cols);
    /* Extra fields come after the schema's own. */
    size_t n = strlen(cols);
    cr_assert_str_eq(cols + n - 10, "\"extra\":1}");
}

Test(rule_test, message_ids_use_the_counter_and_payload_becomes_text)
{
    uint64_t seq = 0;
    mqr_rule_test_options_t o = {MQR_NAMES_DOC, 0, 0x10, NULL, &seq};
    cr_assert_str_eq(column("{\"topic\":\"t/1\"}", "id", &o),
                     "\"00000000000000100000000000000001\"");
    cr_assert_str_eq(column("{\"topic\":\"t/1\"}", "id", &o),
                     "\"00000000000000100000000000000002\"");
    cr_assert_eq(seq, 2);
    cr_assert_str_eq(column("{\"topic\":\"t\",\"payload\":{\"a\":[1]}}", "payload", &o),
                     "\"{\\\"a\\\":[1]}\"");
    cr_assert_str_eq(column("{\"topic\":\"t\",\"payload\":\"raw\"}", "payload", &o), "\"raw\"");
}

Test(rule_test, from_matching)
{
    int32_t matched = -1;
    columns("{\"topic\":\"t/a\"}", NULL, &matched);
    cr_assert_eq(matched, 1);
    columns("{\"topic\":\"u/a\"}", NULL, &matched);
    cr_assert_eq(matched, 0);
    columns("{\"event_type\":\"client_connected\"}", NULL, &matched);
    cr_assert_eq(matched, 0);
    cr_assert_str_eq(columns("{\"event_type\":\"$bridges/mqtt:b\",\"x\":1}", NULL, &matched),
                     "{\"x\":1,\"timestamp\":0,\"node\":\"emqx@127.0.0.1\"}");
    cr_assert_eq(matched, 1);
}

Test(rule_test, errors)
{
    mqr_value_t ctx, cols;
    int32_t matched = 0;
    mqr_diag_t d;
    const char *bad = "{\"event_type\":\"nope\"}";
    cr_assert_eq(mqr_json_parse(arena, bad, strlen(bad), 0, &ctx, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_test_columns(rule, &ctx, NULL, arena, &cols, &matched, &d),
                 MQR_ENOTFOUND);
    cr_assert_str_eq(d.message, "unknown event_type 'nope'");
    mqr_value_set_int(&ctx, 1);
    cr_assert_eq(mqr_rule_test_columns(rule, &ctx, NULL, arena, &cols, &matched, &d), MQR_EINVAL);
    cr_assert_eq(mqr_rule_test_columns(rule, NULL, NULL, arena, &cols, &matched, NULL),
                 MQR_EINVAL);
    cr_assert_eq(mqr_rule_test_columns(rule, &ctx, NULL, NULL, &cols, &matched, NULL),
                 MQR_EINVAL);
}

Test(rule_test, allocation_failure_at_every_step)
{
    const char *json = "{\"event_type\":\"client_connack\",\"extra\":[1,2],\"proto_ver\":4}";
    /* Fail the Nth allocation for N = 1, 2, ... until a run makes fewer than N
     * calls: every failure gives MQR_ENOMEM and leaves nothing allocated. */
    int enomem = 0;
    for (size_t n = 1;; n++) {
        counting_t c = {0, 0, n};
        mqr_allocator_t a = {counting_alloc, &c};
        mqr_arena_t *small = NULL;
        mqr_value_t ctx, cols;
        int32_t matched = -1;
        int rc = mqr_arena_create(&a, 64, &small);
        if (rc == MQR_OK)
            rc = mqr_json_parse(small, json, strlen(json), 0, &ctx, NULL);
        if (rc == MQR_OK) {
            rc = mqr_rule_test_columns(rule, &ctx, NULL, small, &cols, &matched, NULL);
            enomem += rc == MQR_ENOMEM;
        }
        cr_assert(rc == MQR_OK || rc == MQR_ENOMEM, "n=%zu rc=%d", n, rc);
        mqr_arena_destroy(small);
        cr_assert_eq(c.live, 0, "n=%zu leaked %zu bytes", n, c.live);
        if (c.calls < n) {
            cr_assert_eq(rc, MQR_OK);
            cr_assert_eq(matched, 1);
            break;
        }
    }
    cr_assert_gt(enomem, 1);
}
