/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rule_compile.c - libFuzzer target: compile arbitrary bytes as rule
 * SQL. A statement that compiles is also evaluated once over a fixed
 * message, with small step and output limits so hostile rules stay quick.
 * Checks: no crash, no leak, no sanitizer report; a failed compile leaves
 * *out_rule NULL and a message in the diagnostics.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char cols_json[] =
        "{\"clientid\":\"c1\",\"username\":\"u\",\"topic\":\"t/a\",\"qos\":1,"
        "\"payload\":\"{\\\"x\\\":{\\\"y\\\":[1,2,3]},\\\"s\\\":\\\"str\\\"}\","
        "\"flags\":{\"retain\":false},\"reason_code\":\"success\",\"timestamp\":1}";
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.rule_id = "fuzz";
    o.max_steps = 20000;
    o.max_output = 65536;
    mqr_rule_t *r = (mqr_rule_t *)&o;
    mqr_diag_t d;
    int rc = mqr_rule_compile((const char *)data, size, &o, &r, &d);
    if (rc != MQR_OK) {
        if (r != NULL || d.code != rc || d.message[0] == '\0')
            abort();
        return 0;
    }
    mqr_arena_t *a = NULL;
    mqr_rule_scratch_t *s = NULL;
    mqr_value_t cols;
    if (mqr_arena_create(NULL, 0, &a) == MQR_OK && mqr_rule_scratch_create(NULL, &s) == MQR_OK &&
        mqr_json_parse(a, cols_json, strlen(cols_json), 0, &cols, NULL) == MQR_OK) {
        const char *js;
        size_t len;
        mqr_rule_eval_json(r, s, &cols, &js, &len, &d);
    }
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
    mqr_rule_free(r);
    return 0;
}
