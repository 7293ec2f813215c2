/* SPDX-License-Identifier: MIT */
/*
 * Tests of the engine's topic-filter index (lib/topic_trie.c): wildcard and
 * '$' rules, duplicates, removal and pruning, and a randomised comparison
 * with mqr_topic_match() as the oracle.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "mqttrule/packet.h"

#define MAXV 64

typedef struct seen {
    void *items[MAXV];
    int n;
} seen_t;

static void record(void *ud, void *item)
{
    seen_t *s = ud;
    if (s->n < MAXV)
        s->items[s->n++] = item;
}

static int count_of(const seen_t *s, void *item)
{
    int c = 0;
    for (int i = 0; i < s->n; i++)
        c += s->items[i] == item;
    return c;
}

static seen_t match(mqr__trie_t *t, mqr__trie_walk_t *w, const char *topic)
{
    seen_t s = {.n = 0};
    cr_assert_eq(mqr__trie_match(t, w, NULL, topic, strlen(topic), record, &s), MQR_OK);
    return s;
}

static void ins(mqr__trie_t *t, const char *f, void *item)
{
    cr_assert_eq(mqr__trie_insert(t, f, strlen(f), item), MQR_OK, "%s", f);
}

Test(engine_trie, wildcards_and_parent_level)
{
    mqr__trie_t t;
    mqr__trie_walk_t w = {0};
    cr_assert_eq(mqr__trie_init(&t, NULL), MQR_OK);
    int a, b, c, d, x;
    ins(&t, "t/#", &a);
    ins(&t, "t/+/x", &b);
    ins(&t, "#", &c);
    ins(&t, "+", &d);
    ins(&t, "t/1/x", &x);
    seen_t s = match(&t, &w, "t");
    cr_assert_eq(count_of(&s, &a), 1); /* t/# matches t */
    cr_assert_eq(count_of(&s, &c), 1);
    cr_assert_eq(count_of(&s, &d), 1);
    cr_assert_eq(s.n, 3);
    s = match(&t, &w, "t/1/x");
    cr_assert_eq(count_of(&s, &a), 1);
    cr_assert_eq(count_of(&s, &b), 1);
    cr_assert_eq(count_of(&s, &x), 1);
    cr_assert_eq(count_of(&s, &c), 1);
    cr_assert_eq(count_of(&s, &d), 0);
    s = match(&t, &w, "u/1");
    cr_assert_eq(s.n, 1);
    cr_assert_eq(count_of(&s, &c), 1);
    mqr__trie_walk_free(&w, NULL);
    mqr__trie_free(&t);
}

Test(engine_trie, dollar_topics_escape_leading_wildcards)
{
    mqr__trie_t t;
    mqr__trie_walk_t w = {0};
    cr_assert_eq(mqr__trie_init(&t, NULL), MQR_OK);
    int a, b, c, d;
    ins(&t, "#", &a);
    ins(&t, "+/x", &b);
    ins(&t, "$SYS/#", &c);
    ins(&t, "$SYS/+", &d);
    seen_t s = match(&t, &w, "$SYS/x");
    cr_assert_eq(s.n, 2);
    cr_assert_eq(count_of(&s, &c), 1);
    cr_assert_eq(count_of(&s, &d), 1);
    s = match(&t, &w, "$SYS");
    cr_assert_eq(s.n, 1);
    cr_assert_eq(count_of(&s, &c), 1);
    s = match(&t, &w, "a/x");
    cr_assert_eq(s.n, 2);
    mqr__trie_walk_free(&w, NULL);
    mqr__trie_free(&t);
}

Test(engine_trie, empty_levels_and_duplicates)
{
    mqr__trie_t t;
    mqr__trie_walk_t w = {0};
    cr_assert_eq(mqr__trie_init(&t, NULL), MQR_OK);
    int a, b;
    ins(&t, "/", &a);
    ins(&t, "+/+", &b);
    ins(&t, "+/+", &b);
    seen_t s = match(&t, &w, "/");
    cr_assert_eq(count_of(&s, &a), 1);
    cr_assert_eq(count_of(&s, &b), 2);
    cr_assert_eq(mqr__trie_remove(&t, "+/+", 3, &b), MQR_OK);
    s = match(&t, &w, "/");
    cr_assert_eq(count_of(&s, &b), 1);
    cr_assert_eq(mqr__trie_remove(&t, "+/+", 3, &b), MQR_OK);
    cr_assert_eq(mqr__trie_remove(&t, "+/+", 3, &b), MQR_ENOTFOUND);
    cr_assert_eq(mqr__trie_remove(&t, "q/r", 3, &b), MQR_ENOTFOUND);
    cr_assert_eq(mqr__trie_remove(&t, "/", 1, &a), MQR_OK);
    cr_assert_eq(t.live, 1u, "every node but the root is pruned");
    cr_assert_eq(t.table_used, 0u);
    s = match(&t, &w, "/");
    cr_assert_eq(s.n, 0);
    mqr__trie_walk_free(&w, NULL);
    mqr__trie_free(&t);
}

/* A small deterministic generator (xorshift). */
static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void gen(uint32_t *seed, char *buf, int filter)
{
    static const char *const lv[] = {"a", "b", "", "$s", "c"};
    int n = 1 + (int)(rnd(seed) % 4);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(buf, "/");
        uint32_t r = rnd(seed) % 8;
        if (filter && r == 6)
            strcat(buf, "+");
        else if (filter && r == 7 && i == n - 1)
            strcat(buf, "#");
        else {
            const char *l = lv[r % 5];
            if (l[0] == '$' && i)
                l = "d";
            strcat(buf, l);
        }
    }
}

/* Counts visits per filter index: items are &filters[i]. */
typedef struct tally {
    int *got;
    char (*base)[64];
} tally_t;

static void tally(void *ud, void *item)
{
    tally_t *c = ud;
    c->got[(char (*)[64])item - c->base]++;
}

Test(engine_trie, agrees_with_topic_match_and_prunes)
{
    enum { NF = 300, NT = 400 };
    static char filters[NF][64];
    uint32_t seed = 12345;
    mqr__trie_t t;
    mqr__trie_walk_t w = {0};
    cr_assert_eq(mqr__trie_init(&t, NULL), MQR_OK);
    for (int i = 0; i < NF; i++) {
        gen(&seed, filters[i], 1);
        ins(&t, filters[i], &filters[i]);
    }
    int matched_some = 0;
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < NT; k++) {
            char topic[64];
            gen(&seed, topic, 0);
            int got[NF];
            memset(got, 0, sizeof got);
            tally_t c = {got, filters};
            cr_assert_eq(mqr__trie_match(&t, &w, NULL, topic, strlen(topic), tally, &c), MQR_OK);
            for (int i = 0; i < NF; i++) {
                int live = round == 0 || i % 2 == 1;
                int want = live && mqr_topic_match(filters[i], strlen(filters[i]), topic,
                                                   strlen(topic));
                cr_assert_eq(got[i], want, "filter '%s' topic '%s': %d visits, want %d",
                             filters[i], topic, got[i], want);
                matched_some += want;
            }
        }
        /* The second round runs with every other filter removed. */
        for (int i = 0; round == 0 && i < NF; i += 2)
            cr_assert_eq(mqr__trie_remove(&t, filters[i], strlen(filters[i]), &filters[i]),
                         MQR_OK);
    }
    cr_assert_gt(matched_some, NT, "the generator produces matching pairs");
    for (int i = 1; i < NF; i += 2)
        cr_assert_eq(mqr__trie_remove(&t, filters[i], strlen(filters[i]), &filters[i]), MQR_OK);
    cr_assert_eq(t.live, 1u);
    cr_assert_eq(t.table_used, 0u);
    mqr__trie_walk_free(&w, NULL);
    mqr__trie_free(&t);
}
