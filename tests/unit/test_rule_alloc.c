/* SPDX-License-Identifier: MIT */
/*
 * test_rule_alloc.c - memory behaviour of the rule module: compile and
 * evaluate with the Nth allocation failing, for every N until a clean run
 * (right status, no leak, no crash, the scratch still usable), and no heap
 * allocation per evaluation once a scratch is warm.
 */
#include <stdio.h>

#include "rule_test_util.h"

/* A counting allocator that fails allocation number `fail_at` (1-based; 0
 * never) and tracks the bytes outstanding. */
typedef struct counting {
    long calls;     /* allocations and resizes */
    long fail_at;
    long long live; /* bytes allocated and not freed */
} counting_t;

static void *counting_fn(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    counting_t *c = ud;
    if (new_size == 0) {
        if (ptr)
            c->live -= (long long)old_size;
        free(ptr);
        return NULL;
    }
    c->calls++;
    if (c->fail_at && c->calls == c->fail_at)
        return NULL;
    void *p = realloc(ptr, new_size);
    if (p)
        c->live += (long long)new_size - (long long)(ptr ? old_size : 0);
    return p;
}

static const char *const sqls[] = {
    "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\" "
    "WHERE reason_code != 'success'",
    "SELECT payload.x.y AS v, payload.a[1] + 2 * 3 AS w, upper(clientid) AS u, [1..5] AS r, "
    "CASE WHEN qos = 1 THEN 'one' ELSE 'other' END AS c FROM \"t/#\", \"a/b\" "
    "WHERE topic =~ 't/#' AND qos IN (0, 1)",
    "FOREACH payload.list AS x DO x.v AS v, x AS whole.item, 1 AS n[0] INCASE x.v > 0 "
    "FROM \"t/#\"",
    "SELECT * , 1 AS a.b[-0] FROM \"$events/#\"",
    /* constant patterns (programs compiled with the rule) and one from a column */
    "SELECT regex_match(payload, '[a-h]{8}') AS m, regex_replace(payload, '([0-9]+)', '<\\1>') "
    "AS r, regex_extract(payload, '(abc)(d)') AS e, regex_match(clientid, topic) AS t "
    "FROM \"t/#\"",
};

Test(rule_alloc, compile_fails_cleanly_at_every_allocation)
{
    for (size_t q = 0; q < (sizeof sqls / sizeof sqls[0]); q++) {
        int done = 0;
        for (long n = 1; !done && n < 100000; n++) {
            counting_t c = {0, n, 0};
            mqr_rule_options_t o;
            mqr_rule_options_init(&o);
            o.alloc.fn = counting_fn;
            o.alloc.ud = &c;
            mqr_rule_t *r = NULL;
            mqr_diag_t d;
            int rc = mqr_rule_compile(sqls[q], strlen(sqls[q]), &o, &r, &d);
            if (rc == MQR_OK) {
                cr_assert_gt(c.calls, 0);
                mqr_rule_free(r);
                done = 1;
            } else {
                cr_assert_eq(rc, MQR_ENOMEM, "sql %zu, failing allocation %ld: %s (%s)", q, n,
                             mqr_status_name(rc), d.message);
                cr_assert_null(r);
            }
            cr_assert_eq(c.live, 0, "sql %zu, failing allocation %ld leaked %lld bytes", q, n,
                         c.live);
        }
        cr_assert(done);
    }
}

/* Evaluate sqls[q] over a payload big enough to make the arena grow, with
 * the Nth allocation (counted from the evaluation's start) failing. */
Test(rule_alloc, eval_fails_cleanly_at_every_allocation)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    /* a payload with 400 list items */
    size_t cap = 64 + 400 * 32;
    char *payload = malloc(cap);
    strcpy(payload, "{'x':{'y':1},'a':[1],'list':[");
    for (int i = 0; i < 400; i++)
        sprintf(payload + strlen(payload), "%s{'v':%d,'s':'abcdefgh'}", i ? "," : "", i + 1);
    strcat(payload, "]}");
    char *pj = rt_dq(payload);
    mqr_value_t cols, pv;
    rt_json(a, "{'clientid':'c','username':'u','reason_code':'bad','timestamp':1,'qos':1,"
               "'topic':'t/1'}",
            &cols);
    mqr_value_set_string(&pv, pj, strlen(pj));
    cr_assert_eq(mqr_value_object_put(a, &cols, "payload", 7, &pv), MQR_OK);
    long failures = 0;
    for (size_t q = 0; q < (sizeof sqls / sizeof sqls[0]); q++) {
        mqr_rule_t *r = NULL;
        cr_assert_eq(mqr_rule_compile(sqls[q], strlen(sqls[q]), NULL, &r, NULL), MQR_OK);
        int done = 0;
        for (long n = 1; !done && n < 100000; n++) {
            counting_t c = {0, 0, 0};
            mqr_allocator_t al = {counting_fn, &c};
            mqr_rule_scratch_t *s = NULL;
            cr_assert_eq(mqr_rule_scratch_create(&al, &s), MQR_OK);
            c.fail_at = c.calls + n;
            mqr_value_t out;
            mqr_diag_t d;
            int rc = mqr_rule_eval(r, s, &cols, &out, &d);
            if (rc == MQR_ENOMEM) {
                failures++;
                /* the scratch stays usable */
                c.fail_at = 0;
                rc = mqr_rule_eval(r, s, &cols, &out, &d);
                cr_assert(rc == MQR_OK || rc == MQR_NO_MATCH, "sql %zu: %s", q, d.message);
            } else {
                cr_assert(rc == MQR_OK || rc == MQR_NO_MATCH, "sql %zu, allocation %ld: %s (%s)",
                          q, n, mqr_status_name(rc), d.message);
                done = 1;
            }
            mqr_rule_scratch_free(s);
            cr_assert_eq(c.live, 0, "sql %zu, failing allocation %ld leaked %lld bytes", q, n,
                         c.live);
        }
        cr_assert(done);
        mqr_rule_free(r);
    }
    /* the big payload makes the arena grow: failures were injected */
    cr_assert_gt(failures, 0);
    free(pj);
    free(payload);
    mqr_arena_destroy(a);
}

Test(rule_alloc, scratch_create_fails_cleanly)
{
    for (long n = 1; n < 10; n++) {
        counting_t c = {0, n, 0};
        mqr_allocator_t al = {counting_fn, &c};
        mqr_rule_scratch_t *s = NULL;
        int rc = mqr_rule_scratch_create(&al, &s);
        if (rc == MQR_OK) {
            mqr_rule_scratch_free(s);
            cr_assert_eq(c.live, 0);
            return;
        }
        cr_assert_eq(rc, MQR_ENOMEM);
        cr_assert_null(s);
        cr_assert_eq(c.live, 0);
    }
    cr_assert_fail("scratch creation never succeeded");
}

Test(rule_alloc, warm_scratch_makes_no_heap_allocation)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t cols;
    rt_json(a, "{'clientid':'c','username':'u','reason_code':'bad','timestamp':1,'qos':1,"
               "'topic':'t/1','payload':'{\\'x\\':{\\'y\\':2},\\'a\\':[5],"
               "\\'list\\':[{\\'v\\':1},{\\'v\\':2}]}'}",
            &cols);
    for (size_t q = 0; q < (sizeof sqls / sizeof sqls[0]); q++) {
        mqr_rule_t *r = NULL;
        cr_assert_eq(mqr_rule_compile(sqls[q], strlen(sqls[q]), NULL, &r, NULL), MQR_OK);
        counting_t c = {0, 0, 0};
        mqr_allocator_t al = {counting_fn, &c};
        mqr_rule_scratch_t *s = NULL;
        cr_assert_eq(mqr_rule_scratch_create(&al, &s), MQR_OK);
        const char *js;
        size_t len;
        int rc = mqr_rule_eval_json(r, s, &cols, &js, &len, NULL);
        cr_assert(rc == MQR_OK || rc == MQR_NO_MATCH);
        long warm = c.calls;
        for (int i = 0; i < 1000; i++) {
            rc = mqr_rule_eval_json(r, s, &cols, &js, &len, NULL);
            cr_assert(rc == MQR_OK || rc == MQR_NO_MATCH);
        }
        cr_assert_eq(c.calls, warm, "sql %zu: %ld allocations in 1000 warm evaluations", q,
                     c.calls - warm);
        mqr_rule_scratch_free(s);
        mqr_rule_free(r);
        cr_assert_eq(c.live, 0);
    }
    mqr_arena_destroy(a);
}
