/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/rule_test.h - the rule-test context of EMQX's "SQL test" (spec
 * §11.1, docs/sql-tester.md): turn a context object such as
 *   {"event_type": "client_connack", "clientid": "c1", "reason_code": 134}
 * into the columns a rule sees, and say whether the rule's FROM accepts it.
 * mqttrule-sql and the Python bindings (mqttrule.Rule.evaluate) share it.
 *
 * `event_type` (default "message_publish", also when it is not a string)
 * picks the event schema; the
 * context's fields fill it in the schema's order (decision D3); fields it
 * leaves out get the example values of the event table (mqttrule/event.h),
 * with `timestamp` and generated times from opts->now_ms, `node` from
 * opts->node and a fresh message `id`; fields the schema does not know are
 * kept after its own. A message's `payload` that is not a string is encoded
 * as JSON text. client_connack's `reason_code`: a string is kept, a number
 * (an MQTT 5 code) or none (success) is named per opts->names for the
 * context's `proto_ver` (example 5), assuming a CONNACK was sent (D1).
 * A "$bridges/..." or "$sources/..." event_type keeps the context as given,
 * adding `timestamp` and `node` when missing.
 */
#ifndef MQTTRULE_RULE_TEST_H
#define MQTTRULE_RULE_TEST_H

#include "common.h"
#include "rule.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The `node` column when mqr_rule_test_options_t.node is NULL (EMQX's
 * examples use it). */
#define MQR_RULE_TEST_DEFAULT_NODE "emqx@127.0.0.1"

/* Options of the context builder; zero-initialise, then set what you need. */
typedef struct mqr_rule_test_options {
    int32_t names;        /* MQR_NAMES_DOC (0, default) or MQR_NAMES_EMQX */
    uint32_t reserved_;
    int64_t now_ms;       /* the clock for `timestamp` and example times */
    const char *node;     /* NUL-terminated; NULL: MQR_RULE_TEST_DEFAULT_NODE */
    uint64_t *id_seq;     /* counter for generated message ids, incremented per
                             id (ids are now_ms and the counter in hex);
                             NULL: every id uses 1 */
} mqr_rule_test_options_t;

/**
 * Build the columns of rule-test context `ctx` (an object) in `arena` and
 * set *out_matched to 1 when `rule`'s FROM accepts the context's trigger (a
 * message by its `topic` against FROM's topic filters, an event by its
 * event topics, D5; a bridge source by its name), else 0. rule may be NULL
 * (then *out_matched is 0).
 *
 * *out_columns borrows strings from ctx: it is valid while ctx is and the
 * arena is not reset or destroyed. opts may be NULL (defaults: doc names,
 * time 0, the default node, no counter).
 *
 * Returns MQR_OK; MQR_EINVAL (ctx, arena, out_columns or out_matched NULL,
 * or ctx not an object); MQR_ENOTFOUND
 * (an unknown event_type: diag->message is "unknown event_type 'x'");
 * MQR_ENOMEM; MQR_EJSON only if an event table example is not valid JSON.
 * diag may be NULL. Thread-safe for different arenas and counters.
 */
MQR_API int mqr_rule_test_columns(const mqr_rule_t *rule, const mqr_value_t *ctx,
                                  const mqr_rule_test_options_t *opts, mqr_arena_t *arena,
                                  mqr_value_t *out_columns, int32_t *out_matched,
                                  mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_RULE_TEST_H */
