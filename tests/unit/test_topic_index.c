/* SPDX-License-Identifier: MIT */
/*
 * test_topic_index.c - the public topic index (mqttrule/topic.h): insert,
 * remove, match with MQTT's wildcard rules, '$' topics, duplicates, invalid
 * filters, nesting from a visitor, allocation failure and counts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

typedef struct seen {
    const char *items[32];
    int n;
    mqr_topic_index_t *x;
    int nested_rc;
} seen_t;

static void visit(void *ud, void *item)
{
    seen_t *s = ud;
    s->items[s->n++] = item;
    if (s->x)
        s->nested_rc = mqr_topic_index_match(s->x, "a", 1, visit, ud);
}

static int has(const seen_t *s, const char *item)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += strcmp(s->items[i], item) == 0;
    return k;
}

static seen_t match(mqr_topic_index_t *x, const char *topic)
{
    seen_t s = {0};
    cr_assert_eq(mqr_topic_index_match(x, topic, strlen(topic), visit, &s), MQR_OK);
    return s;
}

static void ins(mqr_topic_index_t *x, const char *f)
{
    cr_assert_eq(mqr_topic_index_insert(x, f, strlen(f), (void *)f), MQR_OK, "%s", f);
}

Test(topic_index, wildcards_follow_mqtt)
{
    mqr_topic_index_t *x = NULL;
    cr_assert_eq(mqr_topic_index_create(NULL, &x), MQR_OK);
    const char *filters[] = {"a/b/c", "a/+/c", "a/#", "#", "+/b/+", "a/b", "$SYS/#", "+/+"};
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
        ins(x, filters[i]);
    cr_assert_eq(mqr_topic_index_count(x), 8u);
    seen_t s = match(x, "a/b/c");
    cr_assert_eq(s.n, 5, "a/b/c a/+/c a/# # +/b/+ (got %d)", s.n);
    cr_assert(has(&s, "a/b/c") && has(&s, "a/+/c") && has(&s, "a/#") && has(&s, "#") &&
              has(&s, "+/b/+"));
    s = match(x, "a");
    cr_assert_eq(s.n, 2, "'a/#' matches its parent level, and '#'");
    cr_assert(has(&s, "a/#") && has(&s, "#"));
    s = match(x, "$SYS/broker/load");
    cr_assert_eq(s.n, 1, "no leading wildcard matches a '$' topic");
    cr_assert(has(&s, "$SYS/#"));
    s = match(x, "x/y");
    cr_assert_eq(s.n, 2);
    cr_assert(has(&s, "#") && has(&s, "+/+"));
    mqr_topic_index_destroy(x);
}

Test(topic_index, duplicates_remove_and_prune)
{
    mqr_topic_index_t *x = NULL;
    cr_assert_eq(mqr_topic_index_create(NULL, &x), MQR_OK);
    const char *f = "s/+/t";
    ins(x, f);
    ins(x, f);
    cr_assert_eq(match(x, "s/1/t").n, 2, "held twice, visited twice");
    cr_assert_eq(mqr_topic_index_remove(x, f, strlen(f), (void *)f), MQR_OK);
    cr_assert_eq(match(x, "s/1/t").n, 1);
    cr_assert_eq(mqr_topic_index_remove(x, f, strlen(f), (void *)f), MQR_OK);
    cr_assert_eq(match(x, "s/1/t").n, 0);
    cr_assert_eq(mqr_topic_index_remove(x, f, strlen(f), (void *)f), MQR_ENOTFOUND);
    cr_assert_eq(mqr_topic_index_remove(x, "zz", 2, (void *)f), MQR_ENOTFOUND);
    cr_assert_eq(mqr_topic_index_count(x), 0u);
    /* many siblings */
    char names[2000][8];
    for (int i = 0; i < 2000; i++) {
        snprintf(names[i], sizeof names[i], "n/%d", i);
        cr_assert_eq(mqr_topic_index_insert(x, names[i], strlen(names[i]), names[i]), MQR_OK);
    }
    seen_t s = match(x, "n/1234");
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.items[0], "n/1234");
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(mqr_topic_index_remove(x, names[i], strlen(names[i]), names[i]), MQR_OK);
    cr_assert_eq(mqr_topic_index_count(x), 0u);
    mqr_topic_index_destroy(x);
}

Test(topic_index, bad_arguments_and_filters)
{
    mqr_topic_index_t *x = NULL;
    cr_assert_eq(mqr_topic_index_create(NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_create(NULL, &x), MQR_OK);
    cr_assert_eq(mqr_topic_index_insert(x, "a/#/b", 5, x), MQR_EFILTER);
    cr_assert_eq(mqr_topic_index_insert(x, "a+", 2, x), MQR_EFILTER);
    cr_assert_eq(mqr_topic_index_insert(x, "", 0, x), MQR_EFILTER);
    cr_assert_eq(mqr_topic_index_insert(NULL, "a", 1, x), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_insert(x, NULL, 1, x), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_remove(NULL, "a", 1, x), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_match(x, "a", 1, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_match(NULL, "a", 1, visit, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_topic_index_count(NULL), 0u);
    cr_assert_eq(mqr_topic_index_count(x), 0u, "nothing was inserted by the failures");
    /* a visitor matching again is refused, the outer match goes on */
    ins(x, "a");
    seen_t s = {.x = x};
    cr_assert_eq(mqr_topic_index_match(x, "a", 1, visit, &s), MQR_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.nested_rc, MQR_ESTATE);
    mqr_topic_index_destroy(x);
    mqr_topic_index_destroy(NULL);
}

/* An allocator failing the Nth allocation. */
typedef struct failing {
    long n, fail_at;
} failing_t;

static void *failing_fn(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    failing_t *f = ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    if (++f->n == f->fail_at)
        return NULL;
    return realloc(ptr, new_size);
}

Test(topic_index, allocation_failure_leaves_it_usable)
{
    for (long fail = 1; fail < 200; fail++) {
        failing_t f = {.fail_at = fail};
        mqr_allocator_t a = {.fn = failing_fn, .ud = &f};
        mqr_topic_index_t *x = NULL;
        if (mqr_topic_index_create(&a, &x) != MQR_OK)
            continue;
        const char *fl[] = {"a/b", "a/+", "c/#", "d/e/f/g"};
        int held = 0;
        for (int i = 0; i < 4; i++) {
            int rc = mqr_topic_index_insert(x, fl[i], strlen(fl[i]), (void *)fl[i]);
            cr_assert(rc == MQR_OK || rc == MQR_ENOMEM);
            held += rc == MQR_OK;
        }
        cr_assert_eq(mqr_topic_index_count(x), (size_t)held);
        seen_t s = {0};
        int rc = mqr_topic_index_match(x, "a/b", 3, visit, &s);
        cr_assert(rc == MQR_OK || rc == MQR_ENOMEM);
        mqr_topic_index_destroy(x);
        if (f.n < fail)
            break; /* a run without failure: done */
    }
}
