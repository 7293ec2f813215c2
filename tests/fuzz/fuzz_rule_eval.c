/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rule_eval.c - libFuzzer target: a fixed set of rules evaluated over
 * arbitrary contexts. The input is read as JSON; when it is an object it is
 * the columns, and its `payload` (if any) is also tried as raw text of the
 * input itself. Every status is legal except a crash, a leak or a sanitizer
 * report; successful outputs must be valid JSON that reads back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rules[] = {
    "SELECT * FROM \"t/#\"",
    "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\" "
    "WHERE reason_code != 'success'",
    "SELECT payload.x.y AS y, payload.a * 2 + payload.b AS v, upper(clientid) AS c FROM \"t/#\"",
    "SELECT payload.x AS p, payload.x.y[1] AS p.first, a[-1] AS l[-0], a[1..2] AS r, "
    "CASE WHEN qos = 1 THEN 'one' WHEN qos > 1 THEN 'more' END AS q FROM \"t/#\" "
    "WHERE topic =~ 't/#' OR qos IN (0, 1, 2) OR NOT (a = b)",
    "FOREACH payload.list AS e DO e.v AS v, e.v + 1 AS w, clientid INCASE e.v > 0 FROM \"t/#\"",
    "FOREACH payload DO item FROM \"t/#\"",
    "SELECT a + b AS s, a - b AS d, a * b AS m, a / b AS q, a div b AS i, a mod b AS r, "
    "a = b AS eq, a < b AS lt, -a AS n, str(a) AS t FROM \"t/#\"",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mqr_rule_t *compiled[sizeof rules / sizeof rules[0]];
    static int ready;
    if (!ready) {
        mqr_rule_options_t o;
        mqr_rule_options_init(&o);
        o.max_steps = 100000;
        o.max_output = 1 << 20;
        for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
            if (mqr_rule_compile(rules[i], strlen(rules[i]), &o, &compiled[i], NULL) != MQR_OK)
                abort();
        ready = 1;
    }
    mqr_arena_t *a = NULL;
    mqr_rule_scratch_t *s = NULL;
    if (mqr_arena_create(NULL, 0, &a) != MQR_OK || mqr_rule_scratch_create(NULL, &s) != MQR_OK)
        abort();
    mqr_value_t cols, raw;
    if (mqr_json_parse(a, (const char *)data, size, 0, &cols, NULL) == MQR_OK &&
        cols.type == MQR_VAL_OBJECT) {
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                /* the whole input as a raw payload string */
                mqr_value_set_string(&raw, (const char *)data, size);
                if (mqr_value_object_put(a, &cols, "payload", 7, &raw) != MQR_OK)
                    break;
            }
            for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
                const char *js;
                size_t len;
                mqr_diag_t d;
                int rc = mqr_rule_eval_json(compiled[i], s, &cols, &js, &len, &d);
                if (rc == MQR_OK) {
                    mqr_value_t back;
                    if (mqr_json_parse(a, js, len, 0, &back, NULL) != MQR_OK)
                        abort();
                } else if (rc != MQR_NO_MATCH && d.message[0] == '\0') {
                    abort();
                }
            }
        }
    }
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
    return 0;
}
