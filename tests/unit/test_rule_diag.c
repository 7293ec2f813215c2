/* SPDX-License-Identifier: MIT */
/*
 * test_rule_diag.c - mqr_rule_eval treats its diag as an out-parameter: it
 * resets it without reading what the caller left there. Found by valgrind
 * (tests/valgrind.sh) in test_rule_alloc, which passes an uninitialised
 * mqr_diag_t: the evaluator read diag->code to decide whether to clear it.
 */
#include <string.h>

#include "rule_test_util.h"

Test(rule_diag, eval_resets_a_stale_diag_on_success)
{
    mqr_arena_t *a = NULL;
    mqr_rule_t *r = NULL;
    mqr_rule_scratch_t *s = NULL;
    mqr_value_t cols, out;
    mqr_diag_t d;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    rt_json(a, "{'topic':'t/1'}", &cols);
    cr_assert_eq(rt_compile("SELECT 1 AS v FROM \"t/#\"", &r, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    /* what an uninitialised struct may hold: a zero code over stale fields */
    memset(&d, 0x5A, sizeof d);
    d.code = MQR_OK;
    strcpy(d.message, "stale");
    cr_assert_eq(mqr_rule_eval(r, s, &cols, &out, &d), MQR_OK);
    cr_assert_eq(d.code, MQR_OK);
    cr_assert_eq(d.reason_code, -1);
    cr_assert_eq(d.line, 0u);
    cr_assert_str_empty(d.message);
    cr_assert_str_empty(d.field);
    mqr_rule_scratch_free(s);
    mqr_rule_free(r);
    mqr_arena_destroy(a);
}
