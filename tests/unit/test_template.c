/* SPDX-License-Identifier: MIT */
/*
 * test_template.c - `${...}` templates (spec §8): placeholder syntax, path
 * lookup with JSON-decoding of strings, value rendering, the caller-buffer
 * size protocol, the sbuf hot path, allocation failures and concurrent
 * renders of one template.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "mqttrule/json.h"
#include "mqttrule/template.h"
#include "template_int.h"

/* ---- helpers ------------------------------------------------------------------ */

static mqr_arena_t *arena_new(void)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    return a;
}

static mqr_value_t parse(mqr_arena_t *a, const char *json)
{
    mqr_value_t v;
    cr_assert_eq(mqr_json_parse(a, json, strlen(json), 0, &v, NULL), MQR_OK, "bad JSON: %s", json);
    return v;
}

static mqr_template_t *compile(const char *text)
{
    mqr_template_t *t = NULL;
    cr_assert_eq(mqr_template_compile(text, strlen(text), NULL, &t, NULL), MQR_OK);
    cr_assert_not_null(t);
    return t;
}

/* Render `text` with the output given as JSON and compare with `want`. */
static void check_flags(const char *text, const char *output_json, uint32_t flags, const char *want)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, output_json);
    mqr_template_t *t = compile(text);
    char buf[512];
    size_t len = 0;
    cr_assert_eq(mqr_template_render(t, &out, flags, buf, sizeof buf, &len), MQR_OK);
    cr_assert_eq(len, strlen(want), "template %s: got '%.*s', want '%s'", text, (int)len, buf, want);
    cr_assert_eq(memcmp(buf, want, len), 0, "template %s: got '%.*s', want '%s'", text, (int)len,
                 buf, want);
    cr_assert_eq(buf[len], '\0');
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

static void check(const char *text, const char *output_json, const char *want)
{
    check_flags(text, output_json, 0, want);
}

/* An allocator that fails every allocation after `left` successes and
 * counts the calls that allocate. */
typedef struct failing {
    int left;
    int allocs;
} failing_t;

static void *failing_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    failing_t *f = ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    f->allocs++;
    if (f->left == 0)
        return NULL;
    if (f->left > 0)
        f->left--;
    return realloc(ptr, new_size);
}

/* ---- arguments ------------------------------------------------------------------ */

Test(template, compile_rejects_null_arguments)
{
    mqr_template_t *t = (mqr_template_t *)&t;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    cr_assert_eq(mqr_template_compile("x", 1, NULL, NULL, &d), MQR_EINVAL);
    cr_assert_eq(d.code, MQR_EINVAL);
    cr_assert_eq(mqr_template_compile(NULL, 3, NULL, &t, NULL), MQR_EINVAL);
    cr_assert_null(t);
}

Test(template, compile_limit_exact_and_plus_one)
{
    mqr_template_t *t = NULL;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    /* The length is checked before the text is read. */
    cr_assert_eq(mqr_template_compile("x", (size_t)MQR_TEMPLATE_MAX_LEN + 1, NULL, &t, &d),
                 MQR_ELIMIT);
    cr_assert_null(t);
    cr_assert_eq(d.code, MQR_ELIMIT);
    char *big = malloc(MQR_TEMPLATE_MAX_LEN);
    cr_assert_not_null(big);
    memset(big, 'a', MQR_TEMPLATE_MAX_LEN);
    cr_assert_eq(mqr_template_compile(big, MQR_TEMPLATE_MAX_LEN, NULL, &t, NULL), MQR_OK);
    cr_assert_eq(mqr_template_placeholder_count(t), 0);
    mqr_template_free(t);
    free(big);
}

Test(template, null_and_empty)
{
    mqr_template_t *t = NULL;
    cr_assert_eq(mqr_template_compile(NULL, 0, NULL, &t, NULL), MQR_OK);
    size_t len = 99;
    cr_assert_eq(mqr_template_render(t, NULL, 0, NULL, 0, &len), MQR_OK);
    cr_assert_eq(len, 0);
    mqr_template_free(t);
    mqr_template_free(NULL);
    cr_assert_eq(mqr_template_placeholder_count(NULL), 0);
    cr_assert_eq(mqr_template_is_single_placeholder(NULL), 0);
}

Test(template, render_rejects_null_arguments)
{
    mqr_template_t *t = compile("a");
    size_t len;
    char buf[4];
    cr_assert_eq(mqr_template_render(NULL, NULL, 0, buf, sizeof buf, &len), MQR_EINVAL);
    cr_assert_eq(mqr_template_render(t, NULL, 0, buf, sizeof buf, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_template_render(t, NULL, 0, NULL, 4, &len), MQR_EINVAL);
    mqr_template_free(t);
}

/* ---- syntax ----------------------------------------------------------------------- */

Test(template, plain_text_and_names)
{
    check("plain", "{}", "plain");
    check("${a}", "{\"a\":\"x\"}", "x");
    check("t/${a}/up", "{\"a\":\"x\"}", "t/x/up");
    check("${a}${b}${a}", "{\"a\":\"x\",\"b\":\"y\"}", "xyx");
    check("${A_1.b_2}", "{\"A_1\":{\"b_2\":7}}", "7");
}

Test(template, whole_output)
{
    check("${.}", "{\"a\":1,\"b\":[true,null]}", "{\"a\":1,\"b\":[true,null]}");
    check("${}", "{\"a\":1}", "{\"a\":1}");
    check("<${.}>", "{}", "<{}>");
}

Test(template, leading_dot_ignored)
{
    check("${.a}", "{\"a\":1}", "1");
    check("${.a.b}", "{\"a\":{\"b\":2}}", "2");
}

Test(template, invalid_names_stay_literal)
{
    check("${pub_props.'User-Property'}", "{\"pub_props\":{}}", "${pub_props.'User-Property'}");
    check("${a-b}", "{\"a\":1}", "${a-b}");
    check("${a[1]}", "{\"a\":[1]}", "${a[1]}");
    check("${a b}", "{\"a\":1}", "${a b}");
    /* A failed "${" does not hide a later placeholder. */
    check("${x ${a}", "{\"a\":1}", "${x 1");
}

Test(template, dollar_forms)
{
    check("${$}", "{}", "$");
    check("cost ${$}5 ${$}${$}", "{}", "cost $5 $$");
    check("$a $ $$ ${", "{}", "$a $ $$ ${");
    check("${a", "{\"a\":1}", "${a");
    check("end$", "{}", "end$");
    check("${$}{a}", "{\"a\":1}", "${a}");
}

Test(template, counts)
{
    mqr_template_t *t = compile("a ${x} ${$} ${.} ${y.z} ${bad-name}");
    cr_assert_eq(mqr_template_placeholder_count(t), 3);
    cr_assert_eq(mqr_template_is_single_placeholder(t), 0);
    mqr_template_free(t);
    t = compile("${qos}");
    cr_assert_eq(mqr_template_is_single_placeholder(t), 1);
    mqr_template_free(t);
    t = compile("${qos} ");
    cr_assert_eq(mqr_template_is_single_placeholder(t), 0);
    mqr_template_free(t);
    t = compile("${$}");
    cr_assert_eq(mqr_template_placeholder_count(t), 0);
    cr_assert_eq(mqr_template_is_single_placeholder(t), 0);
    mqr_template_free(t);
}

/* ---- lookup ------------------------------------------------------------------------- */

Test(template, missing_renders_undefined)
{
    check("${nope}", "{\"a\":1}", "undefined");
    check("${a.b}", "{\"a\":1}", "undefined");
    check("${a.b.c}", "{\"a\":{\"b\":[1]}}", "undefined");
    check("${a..b}", "{\"a\":{\"b\":1}}", "undefined");
}

Test(template, null_output_is_undefined)
{
    mqr_template_t *t = compile("${a}|${.}");
    char buf[64];
    size_t len;
    cr_assert_eq(mqr_template_render(t, NULL, 0, buf, sizeof buf, &len), MQR_OK);
    cr_assert_str_eq(buf, "undefined|\"undefined\"");
    mqr_template_free(t);
}

Test(template, string_json_decoded_on_path)
{
    check("${payload.x}", "{\"payload\":\"{\\\"x\\\":1}\"}", "1");
    check("${payload.x.y}", "{\"payload\":\"{\\\"x\\\":{\\\"y\\\":[1,2]}}\"}", "[1,2]");
    check("${payload.x}", "{\"payload\":\"plain\"}", "undefined");
    check("${payload.x}", "{\"payload\":\"[1]\"}", "undefined");
    /* Two placeholders over the same string (the cache), then another. */
    check("${p.a}-${p.b}-${q.a}", "{\"p\":\"{\\\"a\\\":1,\\\"b\\\":2}\",\"q\":\"{\\\"a\\\":3}\"}",
          "1-2-3");
}

Test(template, string_decoded_only_once)
{
    /* payload is a JSON string whose content is a JSON text of an object:
     * decoding once gives a string, which is not decoded again. */
    check("${payload.a}", "{\"payload\":\"\\\"{\\\\\\\"a\\\\\\\":1}\\\"\"}", "undefined");
    /* A string inside a decoded object is decoded again on the next step. */
    check("${p.q.r}", "{\"p\":\"{\\\"q\\\":\\\"{\\\\\\\"r\\\\\\\":5}\\\"}\"}", "5");
}

Test(template, whole_string_not_decoded)
{
    check("${payload}", "{\"payload\":\"{\\\"x\\\":1}\"}", "{\"x\":1}");
}

/* ---- rendering of values ------------------------------------------------------------ */

Test(template, scalar_rendering)
{
    check("${s}", "{\"s\":\"a\\\"b\"}", "a\"b");
    check("${i}", "{\"i\":-42}", "-42");
    check("${f}", "{\"f\":1.0}", "1.0");
    check("${f}", "{\"f\":3.14159265359}", "3.1415926536");
    check("${f}", "{\"f\":0.25}", "0.25");
    check("${t}/${u}", "{\"t\":true,\"u\":false}", "true/false");
    check("${n}", "{\"n\":null}", "null");
}

Test(template, container_rendering)
{
    check("${o}", "{\"o\":{\"k\":\"v\",\"n\":[1,2]}}", "{\"k\":\"v\",\"n\":[1,2]}");
    check("${a}", "{\"a\":[\"x\",1.5]}", "[\"x\",1.5]");
    /* §7.5 quirk: an array of printable code points renders as text. */
    check("${l}", "{\"l\":[104,105]}", "hi");
}

Test(template, undefined_member_in_whole_output)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out, u;
    cr_assert_eq(mqr_value_object_new(a, 1, &out), MQR_OK);
    mqr_value_set_undefined(&u);
    cr_assert_eq(mqr_value_object_put(a, &out, "u", 1, &u), MQR_OK);
    mqr_template_t *t = compile("${.}|${u}");
    char buf[64];
    size_t len;
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, sizeof buf, &len), MQR_OK);
    cr_assert_str_eq(buf, "{\"u\":\"undefined\"}|undefined");
    cr_assert_eq(mqr_template_render(t, &out, MQR_TEMPLATE_UNDEFINED_AS_NULL, buf, sizeof buf, &len),
                 MQR_OK);
    cr_assert_str_eq(buf, "{\"u\":null}|undefined");
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

Test(template, string_with_nul_byte)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out, s;
    cr_assert_eq(mqr_value_object_new(a, 1, &out), MQR_OK);
    mqr_value_set_string(&s, "a\0b", 3);
    cr_assert_eq(mqr_value_object_put(a, &out, "s", 1, &s), MQR_OK);
    mqr_template_t *t = compile("<${s}>");
    char buf[16];
    size_t len;
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, sizeof buf, &len), MQR_OK);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(buf, "<a\0b>", 5), 0);
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

/* ---- the caller-buffer protocol -------------------------------------------------------- */

Test(template, size_query_and_buffer_one_byte_short)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, "{\"id\":\"abc\",\"n\":12}");
    mqr_template_t *t = compile("dev/${id}/${n}");
    const char *want = "dev/abc/12";
    size_t need = 0, len = 0;
    cr_assert_eq(mqr_template_render(t, &out, 0, NULL, 0, &need), MQR_EBUFFER);
    cr_assert_eq(need, strlen(want));

    char buf[32];
    memset(buf, '#', sizeof buf);
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, need - 1, &len), MQR_EBUFFER);
    cr_assert_eq(len, need);
    cr_assert_eq(buf[need - 1], '#', "wrote past cap");

    memset(buf, '#', sizeof buf);
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, need, &len), MQR_OK);
    cr_assert_eq(len, need);
    cr_assert_eq(memcmp(buf, want, need), 0);
    cr_assert_eq(buf[need], '#', "no room for a NUL, none written");

    cr_assert_eq(mqr_template_render(t, &out, 0, buf, need + 1, &len), MQR_OK);
    cr_assert_eq(buf[need], '\0');
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

Test(template, whole_output_one_byte_short)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, "{\"a\":[1,2,3],\"b\":\"x\"}");
    mqr_template_t *t = compile("${.}");
    size_t need = 0, len = 0;
    cr_assert_eq(mqr_template_render(t, &out, 0, NULL, 0, &need), MQR_EBUFFER);
    char *buf = malloc(need);
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, need - 1, &len), MQR_EBUFFER);
    cr_assert_eq(len, need);
    cr_assert_eq(mqr_template_render(t, &out, 0, buf, need, &len), MQR_OK);
    cr_assert_eq(memcmp(buf, "{\"a\":[1,2,3],\"b\":\"x\"}", need), 0);
    free(buf);
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

/* ---- lookup of a single placeholder ---------------------------------------------------- */

Test(template, lookup_single_placeholder)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, "{\"qos\":1,\"payload\":\"{\\\"r\\\":true}\"}");
    mqr_value_t v;
    mqr_template_t *t = compile("${qos}");
    cr_assert_eq(mqr_template_lookup(t, &out, a, &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_INT);
    cr_assert_eq(v.u.i, 1);
    mqr_template_free(t);

    t = compile("${payload.r}");
    cr_assert_eq(mqr_template_lookup(t, &out, a, &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_BOOL);
    cr_assert_eq(v.u.b, 1);
    mqr_template_free(t);

    t = compile("${retain}");
    cr_assert_eq(mqr_template_lookup(t, &out, a, &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_UNDEFINED);
    mqr_template_free(t);

    t = compile("${.}");
    cr_assert_eq(mqr_template_lookup(t, &out, a, &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_OBJECT);
    cr_assert_eq(v.len, 2);
    mqr_template_free(t);

    t = compile("q${qos}");
    cr_assert_eq(mqr_template_lookup(t, &out, a, &v), MQR_EINVAL);
    cr_assert_eq(mqr_template_lookup(NULL, &out, a, &v), MQR_EINVAL);
    mqr_template_free(t);
    t = compile("${qos}");
    cr_assert_eq(mqr_template_lookup(t, &out, NULL, &v), MQR_EINVAL);
    cr_assert_eq(mqr_template_lookup(t, &out, a, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_template_lookup(t, NULL, a, &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_UNDEFINED);
    mqr_template_free(t);
    mqr_arena_destroy(a);
}

/* ---- memory -------------------------------------------------------------------------- */

Test(template, compile_allocation_failure)
{
    failing_t f = {.left = 0};
    mqr_allocator_t al = {failing_alloc, &f};
    mqr_template_t *t = (mqr_template_t *)&t;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    cr_assert_eq(mqr_template_compile("a${b}c", 6, &al, &t, &d), MQR_ENOMEM);
    cr_assert_null(t);
    cr_assert_eq(d.code, MQR_ENOMEM);
    f.left = 1;
    cr_assert_eq(mqr_template_compile("a${b}c", 6, &al, &t, NULL), MQR_OK);
    cr_assert_eq(f.allocs, 2, "compile makes exactly one allocation");
    mqr_template_free(t);
}

Test(template, render_scratch_allocation_failure)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, "{\"p\":\"{\\\"x\\\":[1,2]}\",\"q\":3}");
    /* Fail the Nth allocation for every N until a clean run. */
    for (int n = 0;; n++) {
        failing_t f = {.left = n};
        mqr_allocator_t al = {failing_alloc, &f};
        mqr_template_t *t = NULL;
        int rc = mqr_template_compile("${q}:${p.x}", 11, &al, &t, NULL);
        if (rc == MQR_ENOMEM)
            continue;
        cr_assert_eq(rc, MQR_OK);
        char buf[32];
        size_t len = 0;
        rc = mqr_template_render(t, &out, 0, buf, sizeof buf, &len);
        mqr_template_free(t);
        if (rc == MQR_OK) {
            cr_assert_str_eq(buf, "3:[1,2]");
            break;
        }
        cr_assert_eq(rc, MQR_ENOMEM);
        cr_assert_lt(n, 50);
    }
    mqr_arena_destroy(a);
}

Test(template, sbuf_path_warm_arena_no_allocation)
{
    failing_t f = {.left = -1};
    mqr_allocator_t al = {failing_alloc, &f};
    mqr_arena_t *data = arena_new();
    mqr_value_t out = parse(data, "{\"p\":\"{\\\"x\\\":{\\\"y\\\":7}}\",\"id\":\"d1\"}");
    mqr_template_t *t = compile("${id}/${p.x.y}/${p.x}");
    mqr_arena_t *scratch = NULL;
    cr_assert_eq(mqr_arena_create(&al, 0, &scratch), MQR_OK);
    char buf[64];
    mqr__sbuf_t b;
    for (int round = 0; round < 3; round++) {
        int before = f.allocs;
        mqr_arena_reset(scratch);
        mqr__sbuf_init_bounded(&b, buf, sizeof buf);
        cr_assert_eq(mqr__template_render_sbuf(t, &out, 0, scratch, &b), MQR_OK);
        cr_assert_eq(mqr__sbuf_needed(&b), strlen("d1/7/{\"y\":7}"));
        cr_assert_eq(memcmp(buf, "d1/7/{\"y\":7}", b.len), 0);
        if (round > 0)
            cr_assert_eq(f.allocs, before, "a warm arena renders without allocating");
    }
    mqr_arena_destroy(scratch);
    mqr_template_free(t);
    mqr_arena_destroy(data);
}

Test(template, sbuf_bounded_reports_ebuffer)
{
    mqr_template_t *t = compile("abcdef");
    char buf[3];
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, sizeof buf);
    cr_assert_eq(mqr__template_render_sbuf(t, NULL, 0, NULL, &b), MQR_EBUFFER);
    cr_assert_eq(mqr__sbuf_needed(&b), 6);
    mqr_template_free(t);
}

/* ---- threads ----------------------------------------------------------------------------- */

typedef struct job {
    const mqr_template_t *t;
    const mqr_value_t *out;
    int ok;
} job_t;

static void *render_many(void *arg)
{
    job_t *j = arg;
    j->ok = 1;
    for (int i = 0; i < 2000; i++) {
        char buf[64];
        size_t len;
        if (mqr_template_render(j->t, j->out, 0, buf, sizeof buf, &len) != MQR_OK ||
            strcmp(buf, "c1:5:{\"n\":5}") != 0)
            j->ok = 0;
    }
    return NULL;
}

Test(template, concurrent_renders_of_one_template)
{
    mqr_arena_t *a = arena_new();
    mqr_value_t out = parse(a, "{\"id\":\"c1\",\"p\":\"{\\\"n\\\":5}\"}");
    mqr_template_t *t = compile("${id}:${p.n}:${p}");
    pthread_t th[4];
    job_t jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job_t){t, &out, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert(jobs[i].ok, "thread %d rendered a wrong text", i);
    }
    mqr_template_free(t);
    mqr_arena_destroy(a);
}
