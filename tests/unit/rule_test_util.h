/* SPDX-License-Identifier: MIT */
/*
 * rule_test_util.h - helpers shared by the rule tests: compile a statement,
 * evaluate it over columns given as JSON text, and get the output as JSON.
 * Header-only (static functions), included by tests/unit/test_rule_*.c.
 */
#ifndef MQR_RULE_TEST_UTIL_H
#define MQR_RULE_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "mqttrule/json.h"

/* Test JSON may use ' for " (readability); returns a malloc'd copy with "
 * (so \\' in C source becomes \" inside a JSON string). */
static inline char *rt_dq(const char *s)
{
    char *c = strdup(s);
    for (char *p = c; *p; p++)
        if (*p == '\'')
            *p = '"';
    return c;
}

/* Parse JSON text (' for ") into *out inside arena (asserting success). */
static inline void rt_json(mqr_arena_t *arena, const char *json, mqr_value_t *out)
{
    char *j = rt_dq(json);
    char *keep = mqr_arena_alloc(arena, strlen(j) + 1);
    strcpy(keep, j);
    free(j);
    int rc = mqr_json_parse(arena, keep, strlen(keep), 0, out, NULL);
    cr_assert_eq(rc, MQR_OK, "bad test JSON: %s", keep);
}

/* Compile sql; returns the status and the diag. */
static inline int rt_compile(const char *sql, mqr_rule_t **out, mqr_diag_t *diag)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.rule_id = "r1";
    return mqr_rule_compile(sql, strlen(sql), &o, out, diag);
}

/* Compile `sql`, evaluate over `cols` (JSON object text) and return the
 * output JSON (malloc'd, caller frees) or NULL; *rc gets the status of the
 * failing step, *diag its details. */
static inline char *rt_run(const char *sql, const char *cols, int *rc, mqr_diag_t *diag)
{
    mqr_diag_t local;
    if (!diag)
        diag = &local;
    mqr_rule_t *r = NULL;
    *rc = rt_compile(sql, &r, diag);
    if (*rc != MQR_OK)
        return NULL;
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t c;
    rt_json(a, cols, &c);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    const char *js = NULL;
    size_t len = 0;
    *rc = mqr_rule_eval_json(r, s, &c, &js, &len, diag);
    char *res = NULL;
    if (*rc == MQR_OK) {
        res = malloc(len + 1);
        memcpy(res, js, len);
        res[len] = '\0';
    }
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
    mqr_rule_free(r);
    return res;
}

/* Assert that sql over cols gives exactly `want` (JSON). */
#define RT_EXPECT(sql, cols, want)                                                      \
    do {                                                                                \
        int rt_rc_;                                                                     \
        mqr_diag_t rt_d_;                                                               \
        char *rt_out_ = rt_run(sql, cols, &rt_rc_, &rt_d_);                             \
        cr_assert_eq(rt_rc_, MQR_OK, "%s -> %s: %s", sql, mqr_status_name(rt_rc_),      \
                     rt_d_.message);                                                    \
        char *rt_want_ = rt_dq(want);                                                   \
        cr_expect_str_eq(rt_out_, rt_want_, "%s", sql);                                 \
        free(rt_want_);                                                                 \
        free(rt_out_);                                                                  \
    } while (0)

/* Assert that sql over cols fails with `status` and a message containing `msg`. */
#define RT_FAIL(sql, cols, status, msg)                                                 \
    do {                                                                                \
        int rt_rc_;                                                                     \
        mqr_diag_t rt_d_;                                                               \
        char *rt_out_ = rt_run(sql, cols, &rt_rc_, &rt_d_);                             \
        cr_expect_eq(rt_rc_, status, "%s -> %s (%s), output %s", sql,                   \
                     mqr_status_name(rt_rc_), rt_d_.message, rt_out_ ? rt_out_ : "-");  \
        if (rt_rc_ != MQR_OK && rt_rc_ != MQR_NO_MATCH)                                 \
            cr_expect(strstr(rt_d_.message, msg) != NULL, "%s: message '%s' lacks '%s'", \
                      sql, rt_d_.message, msg);                                         \
        free(rt_out_);                                                                  \
    } while (0)

/* A value of an expression: SELECT <expr> AS v FROM "t" over cols -> {"v":...}. */
#define RT_VALUE(expr, cols, want) RT_EXPECT("SELECT " expr " AS v FROM \"t/#\"", cols, "{'v':" want "}")
#define RT_VALUE_FAIL(expr, cols, msg) \
    RT_FAIL("SELECT " expr " AS v FROM \"t/#\"", cols, MQR_EEVAL, msg)

/* A condition (AND, OR, NOT, IN belong to WHERE): true passes WHERE, false
 * is no match, an exception fails with `msg`. */
#define RT_TRUE(cond, cols) RT_EXPECT("SELECT 1 AS v FROM \"t/#\" WHERE " cond, cols, "{'v':1}")
#define RT_FALSE(cond, cols) RT_FAIL("SELECT 1 AS v FROM \"t/#\" WHERE " cond, cols, MQR_NO_MATCH, "")
#define RT_COND_FAIL(cond, cols, msg) \
    RT_FAIL("SELECT 1 AS v FROM \"t/#\" WHERE " cond, cols, MQR_EEVAL, msg)

#endif /* MQR_RULE_TEST_UTIL_H */
