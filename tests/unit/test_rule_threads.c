/* SPDX-License-Identifier: MIT */
/*
 * test_rule_threads.c - one compiled rule evaluated from four threads at
 * once, each with its own scratch and its own columns; every result is
 * checked. The rule's regex calls have constant patterns, so the threads
 * share the programs compiled with the rule.
 *
 * Criterion cannot run under ThreadSanitizer (Criterion issue #274: its
 * inheritable arena fails to map), so the check is a plain function:
 * Criterion calls it here, and tests/tsan.sh compiles this file with
 * -DMQR_RULE_THREADS_MAIN into a standalone TSan program.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mqttrule.h"

#define THREADS 4
#define ROUNDS 2000

typedef struct job {
    const mqr_rule_t *rule;
    int id;
    int failures;
} job_t;

/* One thread: ROUNDS evaluations over its own columns; odd rounds fail WHERE. */
static void *worker(void *arg)
{
    job_t *j = arg;
    mqr_rule_scratch_t *s = NULL;
    mqr_arena_t *a = NULL;
    if (mqr_rule_scratch_create(NULL, &s) != MQR_OK || mqr_arena_create(NULL, 0, &a) != MQR_OK) {
        j->failures++;
        return NULL;
    }
    char payload[64], want[160], cid[16];
    snprintf(cid, sizeof cid, "c%d", j->id);
    for (int i = 0; i < ROUNDS; i++) {
        mqr_arena_reset(a);
        mqr_value_t cols, v;
        mqr_value_object_new(a, 4, &cols);
        mqr_value_set_string(&v, cid, strlen(cid));
        mqr_value_object_put(a, &cols, "clientid", 8, &v);
        snprintf(payload, sizeof payload, "{\"x\":{\"y\":%d},\"l\":[%d,%d]}", i, j->id, i);
        mqr_value_set_string(&v, payload, strlen(payload));
        mqr_value_object_put(a, &cols, "payload", 7, &v);
        const char *js;
        size_t len;
        int rc = mqr_rule_eval_json(j->rule, s, &cols, &js, &len, NULL);
        if (i % 2 == 1) {
            if (rc != MQR_NO_MATCH)
                j->failures++;
            continue;
        }
        snprintf(want, sizeof want,
                 "{\"c\":\"C%d\",\"y\":%d,\"sum\":%d,\"m\":\"r-threads\",\"re\":true,"
                 "\"rr\":\"<%d>\",\"rx\":[\"%d\"]}",
                 j->id, i, j->id + i, j->id, j->id);
        if (rc != MQR_OK || len != strlen(want) || memcmp(js, want, len) != 0)
            j->failures++;
    }
    mqr_arena_destroy(a);
    mqr_rule_scratch_free(s);
    return NULL;
}

/* Compile the rule, run THREADS workers at once; the number of wrong
 * results (0 when all is well), or -1 when setting up failed. */
static int run_threads(void)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.rule_id = "r-threads";
    const char *sql = "SELECT upper(clientid) AS c, payload.x.y AS y, "
                      "payload.l[1] + payload.l[2] AS sum, metadata.rule_id AS m, "
                      "regex_match(clientid, '^c[0-9]+$') AS re, "
                      "regex_replace(clientid, '^c([0-9]+)$', '<\\1>') AS rr, "
                      "regex_extract(clientid, '([0-9]+)') AS rx "
                      "FROM \"t/#\" WHERE payload.x.y mod 2 = 0";
    mqr_rule_t *r = NULL;
    if (mqr_rule_compile(sql, strlen(sql), &o, &r, NULL) != MQR_OK)
        return -1;
    pthread_t t[THREADS];
    job_t jobs[THREADS];
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job_t){r, i, 0};
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0)
            return -1;
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += jobs[i].failures;
    }
    mqr_rule_free(r);
    return failures;
}

#ifdef MQR_RULE_THREADS_MAIN
int main(void)
{
    int f = run_threads();
    printf("test_rule_threads: %s (%d wrong results)\n", f == 0 ? "ok" : "FAILED", f);
    return f == 0 ? 0 : 1;
}
#else
#include <criterion/criterion.h>

Test(rule_threads, one_rule_four_threads)
{
    cr_assert_eq(run_threads(), 0);
}
#endif
