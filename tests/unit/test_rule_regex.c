/* SPDX-License-Identifier: MIT */
/*
 * test_rule_regex.c - regex_match, regex_replace and regex_extract inside
 * compiled rules: a constant pattern is compiled once with the rule (its
 * call site then only reads the program), a pattern from a column is
 * compiled per call as before, both give the same results, a bad constant
 * pattern is still a compile error with line:column (D8), and evaluating
 * allocates nothing through the rule's allocator.
 *
 * White-box where it has to be: rule_int.h gives the compiled rule's
 * program list, so a test can check that the evaluator runs that program
 * (by swapping it) rather than compiling the pattern again.
 *
 * Test JSON uses ' for " (see rule_test_util.h).
 */
#include <stdio.h>

#include "regex.h"
#include "rule_int.h"
#include "rule_test_util.h"

/* ---- a counting allocator (the rule's and the scratch's) ---------------------------- */
typedef struct counter {
    long allocs; /* allocations and reallocations */
    long live;   /* bytes currently allocated */
} counter_t;

static void *counting(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    counter_t *c = ud;
    if (new_size == 0) {
        c->live -= (long)old_size;
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p) {
        c->allocs++;
        c->live += (long)new_size - (long)old_size;
    }
    return p;
}

static mqr_rule_t *compile_with(const char *sql, counter_t *c)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.rule_id = "r1";
    if (c) {
        o.alloc.fn = counting;
        o.alloc.ud = c;
    }
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    int rc = mqr_rule_compile(sql, strlen(sql), &o, &r, &d);
    cr_assert_eq(rc, MQR_OK, "%s: %s", sql, d.message);
    return r;
}

/* One scratch and one arena for the columns, shared by every evaluation
 * of a test (as an engine reuses a warm scratch across rules). */
static mqr_rule_scratch_t *g_scratch;
static mqr_arena_t *g_cols;

static void setup(void)
{
    cr_assert_eq(mqr_rule_scratch_create(NULL, &g_scratch), MQR_OK);
    cr_assert_eq(mqr_arena_create(NULL, 0, &g_cols), MQR_OK);
}

static void teardown(void)
{
    mqr_arena_destroy(g_cols);
    mqr_rule_scratch_free(g_scratch);
}

TestSuite(rule_regex, .init = setup, .fini = teardown);

/* r over cols (test JSON): the output JSON, malloc'd. */
static char *eval_json(const mqr_rule_t *r, const char *cols)
{
    mqr_value_t c;
    rt_json(g_cols, cols, &c);
    const char *js;
    size_t len;
    mqr_diag_t d;
    cr_assert_eq(mqr_rule_eval_json(r, g_scratch, &c, &js, &len, &d), MQR_OK, "%s", d.message);
    return strndup(js, len);
}

Test(rule_regex, constant_patterns_are_compiled_with_the_rule)
{
    const char *sql = "SELECT regex_match(a, '^x') AS m, regex_replace(a, p, 'y') AS r, "
                      "regex_extract(a, '(b)(c)') AS e, upper(a) AS u FROM \"t\"";
    counter_t c = {0, 0};
    mqr_rule_t *r = compile_with(sql, &c);
    /* two programs, in call order; the column pattern p has none */
    cr_assert_eq(r->nregexes, 2u);
    cr_assert_eq(mqr__regex_groups(r->regexes[0]), 0u);
    cr_assert_eq(mqr__regex_groups(r->regexes[1]), 2u);
    mqr_rule_free(r);
    cr_assert_eq(c.live, 0, "the programs are freed with the rule");
}

Test(rule_regex, constant_and_column_patterns_agree)
{
    static const struct {
        const char *call; /* with P for the pattern */
        const char *pattern;
    } k[] = {
        {"regex_match(s, P)", "^[a-z]+[0-9]{2,4}$"},
        {"regex_match(s, P)", "\\d"},
        {"regex_replace(s, P, '<&>')", "[0-9]+"},
        {"regex_replace(s, P, '\\2-\\1')", "([a-z]+)([0-9]+)"},
        {"regex_replace(s, P, '-')", "x*"},
        {"regex_extract(s, P)", "([a-z]+)([0-9]*)(q)?"},
        {"regex_extract(s, P)", "^(\\d+)$"},
    };
    static const char *const subjects[] = {"abc123", "abc12345", "x", "", "你好42", "a1b22c"};
    for (size_t i = 0; i < MQR__ARRAY_LEN(k); i++) {
        char call_const[256], call_col[256], sql1[400], sql2[400];
        const char *at = strchr(k[i].call, 'P');
        snprintf(call_const, sizeof call_const, "%.*s'%s'%s", (int)(at - k[i].call), k[i].call,
                 k[i].pattern, at + 1);
        snprintf(call_col, sizeof call_col, "%.*sp%s", (int)(at - k[i].call), k[i].call, at + 1);
        snprintf(sql1, sizeof sql1, "SELECT %s AS v FROM \"t\"", call_const);
        snprintf(sql2, sizeof sql2, "SELECT %s AS v FROM \"t\"", call_col);
        mqr_rule_t *r1 = compile_with(sql1, NULL), *r2 = compile_with(sql2, NULL);
        cr_assert_eq(r1->nregexes, 1u, "%s", sql1);
        cr_assert_eq(r2->nregexes, 0u, "%s", sql2);
        for (size_t j = 0; j < MQR__ARRAY_LEN(subjects); j++) {
            /* the pattern as a JSON string: each backslash escaped */
            char pat[128], cols[300];
            size_t n = 0;
            for (const char *q = k[i].pattern; *q && n + 2 < sizeof pat; q++) {
                if (*q == '\\')
                    pat[n++] = '\\';
                pat[n++] = *q;
            }
            pat[n] = '\0';
            snprintf(cols, sizeof cols, "{'s':'%s','p':'%s'}", subjects[j], pat);
            char *o1 = eval_json(r1, cols), *o2 = eval_json(r2, cols);
            cr_expect_str_eq(o1, o2, "%s vs %s on %s", sql1, sql2, subjects[j]);
            free(o1);
            free(o2);
        }
        mqr_rule_free(r1);
        mqr_rule_free(r2);
    }
}

Test(rule_regex, known_results)
{
    const char *c = "{'s':'abc123','p':'[0-9]+'}";
    RT_EXPECT("SELECT regex_match(s, '^[a-z]+[0-9]{2,4}$') AS m FROM \"t\"", c, "{'m':true}");
    RT_EXPECT("SELECT regex_match(s, '^[0-9]') AS m FROM \"t\"", c, "{'m':false}");
    RT_EXPECT("SELECT regex_replace(s, '[0-9]', '#') AS r FROM \"t\"", c, "{'r':'abc###'}");
    RT_EXPECT("SELECT regex_extract(s, '([a-z]+)([0-9]+)') AS e FROM \"t\"", c,
              "{'e':['abc','123']}");
    /* non-constant patterns keep working, including a bad one at run time */
    RT_EXPECT("SELECT regex_replace(s, p, '#') AS r FROM \"t\"", c, "{'r':'abc#'}");
    RT_FAIL("SELECT regex_match(s, p) AS m FROM \"t\"", "{'s':'a','p':'('}", MQR_EEVAL,
            "function 'regex_match': bad regular expression at byte 0");
    /* a constant pattern with a non-string subject still fails per call */
    RT_FAIL("SELECT regex_match(n, 'a') AS m FROM \"t\"", "{'n':1}", MQR_EEVAL,
            "function 'regex_match'");
    /* in WHERE and nested in another call */
    RT_EXPECT("SELECT 1 AS v FROM \"t\" WHERE regex_match(regex_replace(s, '[a-z]', ''), "
              "'^[0-9]{3}$')",
              c, "{'v':1}");
}

Test(rule_regex, bad_constant_pattern_is_a_compile_error)
{
    const char *sql = "SELECT 1 AS x,\n  regex_match(s, 'a(b') AS m FROM \"t\"";
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), NULL, &r, &d), MQR_ECOMPILE);
    cr_assert_null(r);
    cr_assert_eq(d.line, 2u);
    cr_assert_eq(d.column, 3u);
    cr_assert(strstr(d.message, "bad regular expression") != NULL, "%s", d.message);
}

Test(rule_regex, evaluation_runs_the_rules_program)
{
    /* swap the compiled program for one of another pattern: the result
     * follows the program, so the call did not compile its pattern again */
    mqr_rule_t *r = compile_with("SELECT regex_match(s, '^a') AS m FROM \"t\"", NULL);
    cr_assert_eq(r->nregexes, 1u);
    char *o = eval_json(r, "{'s':'abc'}");
    cr_assert_str_eq(o, "{\"m\":true}");
    free(o);
    mqr__regex_t *other = NULL;
    cr_assert_eq(mqr__regex_compile("^b", 2, NULL, &other, NULL), MQR_OK);
    mqr__regex_free(r->regexes[0]);
    r->regexes[0] = other;
    o = eval_json(r, "{'s':'abc'}");
    cr_assert_str_eq(o, "{\"m\":false}");
    free(o);
    mqr_rule_free(r);
}

Test(rule_regex, evaluation_allocates_nothing)
{
    /* N evaluations with a warm scratch: no allocation through the rule's
     * allocator (so no program is made or scratch taken from it) nor the
     * scratch's */
    counter_t rc = {0, 0}, sc = {0, 0};
    mqr_rule_t *r = compile_with(
        "SELECT regex_match(s, '^[a-z]+[0-9]{2,4}$') AS m, regex_replace(s, '[0-9]', '#') AS r, "
        "regex_extract(s, '([a-z]+)') AS e FROM \"t\"",
        &rc);
    cr_assert_eq(r->nregexes, 3u);
    mqr_allocator_t al = {counting, &sc};
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(&al, &s), MQR_OK);
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t cols;
    rt_json(a, "{'s':'abc123'}", &cols);
    const char *js;
    size_t len;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mqr_rule_eval_json(r, s, &cols, &js, &len, NULL), MQR_OK);
    long rule_allocs = rc.allocs, scratch_allocs = sc.allocs;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(mqr_rule_eval_json(r, s, &cols, &js, &len, NULL), MQR_OK);
    cr_assert_eq(rc.allocs, rule_allocs);
    cr_assert_eq(sc.allocs, scratch_allocs);
    const char *want = "{\"m\":true,\"r\":\"abc###\",\"e\":[\"abc\"]}";
    cr_assert_eq(len, strlen(want));
    cr_assert(memcmp(js, want, len) == 0);
    mqr_arena_destroy(a);
    mqr_rule_scratch_free(s);
    mqr_rule_free(r);
    cr_assert_eq(rc.live, 0);
}
