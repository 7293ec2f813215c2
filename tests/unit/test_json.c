/* SPDX-License-Identifier: MIT */
/*
 * test_json.c - the public JSON reader and writer (lib/json.c): accepted
 * and rejected documents in the style of JSONTestSuite's y_/n_ cases with
 * exact statuses and byte offsets, numbers, duplicate keys, borrowing,
 * depth limits, round trips, the writer's buffer contract and allocation
 * failure.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "value_int.h"
#include "value_test_alloc.h"

static mqr_arena_t *arena;

static void setup(void) { cr_assert_eq(mqr_arena_create(NULL, 0, &arena), MQR_OK); }
static void teardown(void) { mqr_arena_destroy(arena); }

TestSuite(json, .init = setup, .fini = teardown);

static int parse(const char *text, size_t len, uint32_t depth, mqr_value_t *out, mqr_diag_t *d)
{
    return mqr_json_parse(arena, text, len, depth, out, d);
}

static int parse_s(const char *text, mqr_value_t *out)
{
    return parse(text, strlen(text), 0, out, NULL);
}

/* Compact JSON of v in a static buffer (test helper). */
static const char *write_s(const mqr_value_t *v, uint32_t flags)
{
    static char buf[65536];
    size_t n;
    cr_assert_eq(mqr_json_write(v, flags, buf, sizeof buf - 1, &n), MQR_OK);
    buf[n] = '\0';
    return buf;
}

/* ---- accepted documents ---------------------------------------------------- */

Test(json, accepts_and_round_trips)
{
    const char *docs[] = {
        "[]", "{}", "0", "-1", "1.5", "-0.25", "true", "false", "null", "\"\"", "\"a/b\"",
        "[1,\"a\",{\"b\":[]}]", "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\\ny\",\"d\":1.5,\"e\":{}}",
        "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"", "[[[[[]]]]]", "{\"\":\"\"}",
        "9223372036854775807", "-9223372036854775808", "1.0e+21", "5.0e-324", "[0.1,100.0]",
        "\"\\u0000\\u001f\\\"\\\\\"",
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(docs); i++) {
        mqr_value_t v;
        mqr_diag_t d;
        cr_assert_eq(parse(docs[i], strlen(docs[i]), 0, &v, &d), MQR_OK, "%s: %s", docs[i],
                     d.message);
        cr_assert_eq(d.code, MQR_OK);
        cr_assert_str_eq(write_s(&v, 0), docs[i]);
    }
}

Test(json, whitespace_and_scalars)
{
    mqr_value_t v;
    cr_assert_eq(parse_s(" \t\r\n[ 1 , { \"a\" : true } ] \n", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_ARRAY);
    cr_assert_eq(v.len, 2);
    cr_assert_eq(v.u.items[1].u.members[0].value.type, MQR_VAL_BOOL);
    cr_assert_eq(parse_s("-0", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_INT);
    cr_assert_eq(v.u.i, 0);
    cr_assert_eq(parse_s("1E2", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_DOUBLE);
    cr_assert_eq(v.u.d, 100.0);
    cr_assert_eq(parse_s("-1.5e-3", &v), MQR_OK);
    cr_assert_eq(v.u.d, -1.5e-3);
    cr_assert_eq(parse_s("1e-400", &v), MQR_OK);
    cr_assert_eq(v.u.d, 0.0);
    cr_assert_eq(parse_s("0.1", &v), MQR_OK);
    cr_assert_eq(v.u.d, 0.1);
}

Test(json, integers_that_do_not_fit_become_doubles)
{
    mqr_value_t v;
    cr_assert_eq(parse_s("9223372036854775807", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_INT);
    cr_assert_eq(v.u.i, INT64_MAX);
    cr_assert_eq(parse_s("-9223372036854775808", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_INT);
    cr_assert_eq(v.u.i, INT64_MIN);
    cr_assert_eq(parse_s("9223372036854775808", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_DOUBLE);
    cr_assert_eq(v.u.d, 9223372036854775808.0);
    cr_assert_eq(parse_s("-9223372036854775809", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_DOUBLE);
    cr_assert_eq(parse_s("123456789012345678901234567890", &v), MQR_OK);
    cr_assert_eq(v.u.d, 1.2345678901234568e29);
    cr_assert_eq(parse_s("1.0", &v), MQR_OK);
    cr_assert_eq(v.type, MQR_VAL_DOUBLE);
}

Test(json, escapes_decode)
{
    mqr_value_t v;
    cr_assert_eq(parse_s("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", &v), MQR_OK);
    cr_assert_eq(v.len, 8);
    cr_assert_eq(memcmp(v.u.s, "\"\\/\b\f\n\r\t", 8), 0);
    cr_assert_eq(parse_s("\"\\u00e9\\u20AC\\ud83d\\ude00\"", &v), MQR_OK);
    cr_assert_eq(v.len, 2 + 3 + 4);
    cr_assert_eq(memcmp(v.u.s, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9), 0);
    cr_assert_eq(parse_s("\"a\\u0000b\"", &v), MQR_OK);
    cr_assert_eq(v.len, 3);
    cr_assert_eq(v.u.s[1], '\0');
    cr_assert_eq(parse_s("{\"k\\n\":1}", &v), MQR_OK);
    cr_assert_eq(v.u.members[0].key_len, 2);
    cr_assert_eq(memcmp(v.u.members[0].key, "k\n", 2), 0);
}

Test(json, plain_strings_borrow_the_text)
{
    const char *text = "{\"key\":\"plain\",\"esc\":\"a\\nb\"}";
    mqr_value_t v;
    cr_assert_eq(parse_s(text, &v), MQR_OK);
    const mqr_member_t *m = v.u.members;
    cr_assert_eq(m[0].key, text + 2);
    cr_assert_eq(m[0].value.u.s, text + 8);
    cr_assert(m[1].value.u.s < text || m[1].value.u.s >= text + strlen(text));
    cr_assert_eq(memcmp(m[1].value.u.s, "a\nb", 3), 0);
}

Test(json, duplicate_keys_last_wins_at_first_position)
{
    mqr_value_t v;
    cr_assert_eq(parse_s("{\"a\":1,\"b\":2,\"a\":3,\"c\":4,\"b\":5}", &v), MQR_OK);
    cr_assert_str_eq(write_s(&v, 0), "{\"a\":3,\"b\":5,\"c\":4}");
    /* a large object takes the sorting path */
    char text[4096];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "\"k%d\":%d,", i, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "\"k5\":\"x\",\"k0\":\"y\",\"k5\":\"z\"}");
    cr_assert_eq(parse(text, n, 0, &v, NULL), MQR_OK);
    cr_assert_eq(v.len, 40);
    cr_assert_eq(v.u.members[0].key_len, 2);
    cr_assert_eq(memcmp(v.u.members[0].value.u.s, "y", 1), 0);
    cr_assert_eq(memcmp(v.u.members[5].key, "k5", 2), 0);
    cr_assert_eq(memcmp(v.u.members[5].value.u.s, "z", 1), 0);
    cr_assert_eq(v.u.members[39].value.u.i, 39);
}

Test(json, large_and_deep_documents_spill_the_scratch_stacks)
{
    char *text = malloc(200000);
    size_t n = 0;
    text[n++] = '[';
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(text + n, "%s{\"i\":%d,\"s\":\"v%d\"}", i ? "," : "", i, i);
    text[n++] = ']';
    mqr_value_t v;
    cr_assert_eq(parse(text, n, 0, &v, NULL), MQR_OK);
    cr_assert_eq(v.len, 5000);
    cr_assert_eq(v.u.items[4999].u.members[0].value.u.i, 4999);
    n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(text + n, "[%d,", i);
    text[n++] = '0';
    for (int i = 0; i < 300; i++)
        text[n++] = ']';
    cr_assert_eq(parse(text, n, 300, &v, NULL), MQR_OK);
    mqr_value_t *w = &v;
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(w->len, 2);
        cr_assert_eq(w->u.items[0].u.i, i);
        w = &w->u.items[1];
    }
    free(text);
}

/* ---- rejected documents ------------------------------------------------------- */

typedef struct {
    const char *text;
    size_t len; /* 0: strlen */
    int status;
    uint64_t offset;
    const char *message;
} reject_t;

Test(json, rejects_with_exact_offsets)
{
    static const reject_t cases[] = {
        {"", 0, MQR_EJSON, 0, "JSON: unexpected end of input at byte 0"},
        {"   ", 0, MQR_EJSON, 3, "JSON: unexpected end of input at byte 3"},
        {"[1,]", 0, MQR_EJSON, 3, "JSON: expected a value at byte 3"},
        {"[1 2]", 0, MQR_EJSON, 3, "JSON: expected ',' or ']' at byte 3"},
        {"[1,2", 0, MQR_EJSON, 4, "JSON: expected ',' or ']' at byte 4"},
        {"{\"a\":1,}", 0, MQR_EJSON, 7, "JSON: expected a string key at byte 7"},
        {"{\"a\" 1}", 0, MQR_EJSON, 5, "JSON: expected ':' at byte 5"},
        {"{\"a\":1 \"b\":2}", 0, MQR_EJSON, 7, "JSON: expected ',' or '}' at byte 7"},
        {"{\"id\":\"abc\",\"n\":1 ,]", 0, MQR_EJSON, 19, "JSON: expected a string key at byte 19"},
        {"{a:1}", 0, MQR_EJSON, 1, "JSON: expected a string key at byte 1"},
        {"{\"a\":}", 0, MQR_EJSON, 5, "JSON: expected a value at byte 5"},
        {"{\"a\":", 0, MQR_EJSON, 5, "JSON: unexpected end of input at byte 5"},
        {"[", 0, MQR_EJSON, 1, "JSON: unexpected end of input at byte 1"},
        {"[1]]", 0, MQR_EJSON, 3, "JSON: unexpected character after the value at byte 3"},
        {"[1] x", 0, MQR_EJSON, 4, "JSON: unexpected character after the value at byte 4"},
        {"{\"a\":1}}", 0, MQR_EJSON, 7, "JSON: unexpected character after the value at byte 7"},
        {"01", 0, MQR_EJSON, 0, "JSON: leading zero in number at byte 0"},
        {"[-01]", 0, MQR_EJSON, 1, "JSON: leading zero in number at byte 1"},
        {"1.", 0, MQR_EJSON, 2, "JSON: expected a digit after '.' in number at byte 2"},
        {"1.e3", 0, MQR_EJSON, 2, "JSON: expected a digit after '.' in number at byte 2"},
        {".5", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"1e", 0, MQR_EJSON, 2, "JSON: expected a digit in exponent at byte 2"},
        {"1e+", 0, MQR_EJSON, 3, "JSON: expected a digit in exponent at byte 3"},
        {"+1", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"-", 0, MQR_EJSON, 1, "JSON: expected a digit in number at byte 1"},
        {"[-]", 0, MQR_EJSON, 2, "JSON: expected a digit in number at byte 2"},
        {"0x10", 0, MQR_EJSON, 1, "JSON: unexpected character after the value at byte 1"},
        {"NaN", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"-Infinity", 0, MQR_EJSON, 1, "JSON: expected a digit in number at byte 1"},
        {"[Infinity]", 0, MQR_EJSON, 1, "JSON: expected a value at byte 1"},
        {"1e400", 0, MQR_EJSON, 0, "JSON: number out of range at byte 0"},
        {"[-1e999]", 0, MQR_EJSON, 1, "JSON: number out of range at byte 1"},
        {"tru", 0, MQR_EJSON, 0, "JSON: invalid literal at byte 0"},
        {"[nul]", 0, MQR_EJSON, 1, "JSON: invalid literal at byte 1"},
        {"True", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"truex", 0, MQR_EJSON, 4, "JSON: unexpected character after the value at byte 4"},
        {"'a'", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"\"abc", 0, MQR_EJSON, 4, "JSON: unterminated string at byte 4"},
        {"\"abc\\", 0, MQR_EJSON, 5, "JSON: unterminated string at byte 5"},
        {"\"a\x01z\"", 0, MQR_EJSON, 2, "JSON: control character in string at byte 2"},
        {"\"\t\"", 0, MQR_EJSON, 1, "JSON: control character in string at byte 1"},
        {"\"a\\u0041\x1f\"", 0, MQR_EJSON, 8, "JSON: control character in string at byte 8"},
        {"\"\x80\"", 0, MQR_EJSON, 1, "JSON: invalid UTF-8 in string at byte 1"},
        {"\"ab\xC0\x80\"", 0, MQR_EJSON, 3, "JSON: invalid UTF-8 in string at byte 3"},
        {"\"\xED\xA0\x80\"", 0, MQR_EJSON, 1, "JSON: invalid UTF-8 in string at byte 1"},
        {"\"\xF4\x90\x80\x80\"", 0, MQR_EJSON, 1, "JSON: invalid UTF-8 in string at byte 1"},
        {"\"\xE2\x82\"", 0, MQR_EJSON, 1, "JSON: invalid UTF-8 in string at byte 1"},
        {"\"\\n\xFF\"", 0, MQR_EJSON, 3, "JSON: invalid UTF-8 in string at byte 3"},
        {"\"\\x\"", 0, MQR_EJSON, 1, "JSON: invalid escape in string at byte 1"},
        {"\"ok\\'\"", 0, MQR_EJSON, 3, "JSON: invalid escape in string at byte 3"},
        {"\"\\u12\"", 0, MQR_EJSON, 1, "JSON: invalid \\u escape in string at byte 1"},
        {"\"\\u12G4\"", 0, MQR_EJSON, 1, "JSON: invalid \\u escape in string at byte 1"},
        {"\"\\ud800\"", 0, MQR_EJSON, 1, "JSON: unpaired surrogate in string at byte 1"},
        {"\"x\\udc00\"", 0, MQR_EJSON, 2, "JSON: unpaired surrogate in string at byte 2"},
        {"\"\\ud800\\u0041\"", 0, MQR_EJSON, 1, "JSON: unpaired surrogate in string at byte 1"},
        {"\"\\ud800\\ud800\"", 0, MQR_EJSON, 1, "JSON: unpaired surrogate in string at byte 1"},
        /* the first error in text order wins */
        {"\"\\uZZZZ\x01\"", 0, MQR_EJSON, 1, "JSON: invalid \\u escape in string at byte 1"},
        {"\"\\ud800x\x01\"", 0, MQR_EJSON, 1, "JSON: unpaired surrogate in string at byte 1"},
        {"\"\\u00e9\xFF\"", 0, MQR_EJSON, 7, "JSON: invalid UTF-8 in string at byte 7"},
        {"\"a\x01\\q\"", 0, MQR_EJSON, 2, "JSON: control character in string at byte 2"},
        {"\"\\u12", 0, MQR_EJSON, 1, "JSON: invalid \\u escape in string at byte 1"},
        {"// c\n1", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"[1]/*c*/", 0, MQR_EJSON, 3, "JSON: unexpected character after the value at byte 3"},
        {"\xEF\xBB\xBF" "1", 0, MQR_EJSON, 0, "JSON: expected a value at byte 0"},
        {"[1,\0]", 5, MQR_EJSON, 3, "JSON: expected a value at byte 3"},
        {"1\0", 2, MQR_EJSON, 1, "JSON: unexpected character after the value at byte 1"},
        {"\"a\0\"", 4, MQR_EJSON, 2, "JSON: control character in string at byte 2"},
        {"[\"a\",\f1]", 0, MQR_EJSON, 5, "JSON: expected a value at byte 5"},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(cases); i++) {
        const reject_t *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        mqr_value_t v;
        mqr_value_set_int(&v, 77);
        mqr_diag_t d;
        cr_assert_eq(parse(c->text, len, 0, &v, &d), c->status, "case %zu (%s): %s", i, c->text,
                     d.message);
        cr_assert_eq(d.code, c->status);
        cr_assert_eq(d.offset, c->offset, "case %zu (%s): offset %llu", i, c->text,
                     (unsigned long long)d.offset);
        cr_assert_str_eq(d.message, c->message, "case %zu", i);
        cr_assert_eq(v.type, MQR_VAL_INT, "out changed on error");
        cr_assert_eq(parse(c->text, len, 0, &v, NULL), c->status); /* diag may be NULL */
    }
}

Test(json, invalid_arguments)
{
    mqr_value_t v;
    mqr_diag_t d;
    cr_assert_eq(mqr_json_parse(NULL, "1", 1, 0, &v, &d), MQR_EINVAL);
    cr_assert_eq(d.code, MQR_EINVAL);
    cr_assert_eq(mqr_json_parse(arena, "1", 1, 0, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_json_parse(arena, NULL, 1, 0, &v, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_json_parse(arena, NULL, 0, 0, &v, &d), MQR_EJSON);
    cr_assert_eq(d.offset, 0);
    cr_assert_eq(mqr_json_parse(arena, "1", 1, MQR_JSON_MAX_DEPTH + 1, &v, &d), MQR_EINVAL);
    cr_assert_eq(mqr_json_parse(arena, "1", 1, MQR_JSON_MAX_DEPTH, &v, &d), MQR_OK);
    cr_assert_eq(v.u.i, 1);
}

/* "[[...[0]...]]" nested `depth` times, in a malloc'd buffer. */
static char *nested(uint32_t depth, size_t *len)
{
    char *s = malloc(2 * depth + 2);
    size_t n = 0;
    for (uint32_t i = 0; i < depth; i++)
        s[n++] = '[';
    s[n++] = '0';
    for (uint32_t i = 0; i < depth; i++)
        s[n++] = ']';
    *len = n;
    return s;
}

Test(json, depth_limit_exactly_and_plus_one)
{
    uint32_t limits[] = {1, 2, 32, 33, MQR_JSON_DEFAULT_DEPTH, MQR_JSON_MAX_DEPTH};
    for (size_t k = 0; k < MQR__ARRAY_LEN(limits); k++) {
        uint32_t lim = limits[k];
        uint32_t arg = lim == MQR_JSON_DEFAULT_DEPTH ? 0 : lim;
        size_t n;
        char *s = nested(lim, &n);
        mqr_value_t v;
        mqr_diag_t d;
        cr_assert_eq(parse(s, n, arg, &v, &d), MQR_OK, "depth %u", lim);
        /* everything the reader accepts, the writer renders */
        char *out = malloc(n);
        size_t w;
        cr_assert_eq(mqr_json_write(&v, 0, out, n, &w), MQR_OK);
        cr_assert_eq(w, n);
        cr_assert_eq(memcmp(out, s, n), 0);
        free(out);
        free(s);
        s = nested(lim + 1, &n);
        cr_assert_eq(parse(s, n, arg, &v, &d), MQR_ELIMIT, "depth %u + 1", lim);
        cr_assert_eq(d.offset, lim);
        char msg[80];
        snprintf(msg, sizeof msg, "JSON: nesting deeper than %u at byte %u", lim, lim);
        cr_assert_str_eq(d.message, msg);
        free(s);
    }
    mqr_value_t v;
    cr_assert_eq(parse("{\"a\":[1]}", 9, 1, &v, NULL), MQR_ELIMIT);
    cr_assert_eq(parse("{\"a\":1}", 7, 1, &v, NULL), MQR_OK);
}

/* ---- writer ------------------------------------------------------------------------ */

Test(json, write_buffer_contract)
{
    mqr_value_t v;
    const char *text = "{\"a\":[1,2.5,\"x\"],\"b\":null}";
    size_t tl = strlen(text);
    cr_assert_eq(parse_s(text, &v), MQR_OK);
    char buf[64];
    size_t n = 12345;
    cr_assert_eq(mqr_json_write(&v, 0, NULL, 0, &n), MQR_EBUFFER);
    cr_assert_eq(n, tl);
    memset(buf, '#', sizeof buf);
    cr_assert_eq(mqr_json_write(&v, 0, buf, tl - 1, &n), MQR_EBUFFER);
    cr_assert_eq(n, tl);
    for (size_t i = tl - 1; i < sizeof buf; i++)
        cr_assert_eq(buf[i], '#', "wrote past cap at %zu", i);
    cr_assert_eq(mqr_json_write(&v, 0, buf, tl, &n), MQR_OK);
    cr_assert_eq(n, tl);
    cr_assert_eq(memcmp(buf, text, tl), 0);
    cr_assert_eq(buf[tl], '#');
    for (size_t cap = 0; cap < tl; cap++) {
        cr_assert_eq(mqr_json_write(&v, 0, buf, cap, &n), MQR_EBUFFER, "cap %zu", cap);
        cr_assert_eq(n, tl);
    }
    cr_assert_eq(mqr_json_write(NULL, 0, buf, 10, &n), MQR_EINVAL);
    cr_assert_eq(mqr_json_write(&v, 0, buf, 10, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_json_write(&v, 0, NULL, 10, &n), MQR_EINVAL);
}

Test(json, write_undefined_flag_and_depth_limit)
{
    mqr_value_t obj, u;
    mqr_value_set_undefined(&u);
    cr_assert_eq(mqr_value_object_new(arena, 1, &obj), MQR_OK);
    cr_assert_eq(mqr_value_object_put(arena, &obj, "username", 8, &u), MQR_OK);
    cr_assert_str_eq(write_s(&obj, 0), "{\"username\":\"undefined\"}");
    cr_assert_str_eq(write_s(&obj, MQR_JSON_UNDEFINED_AS_NULL), "{\"username\":null}");
    /* too deep: ELIMIT even when the buffer is also too small */
    static mqr_value_t store[MQR_JSON_MAX_DEPTH + 1];
    mqr_value_t v;
    mqr_value_set_int(&v, 0);
    for (uint32_t i = 0; i <= MQR_JSON_MAX_DEPTH; i++) {
        store[i] = v;
        v = (mqr_value_t){.type = MQR_VAL_ARRAY, .len = 1, .u.items = &store[i]};
    }
    char buf[16];
    size_t n;
    cr_assert_eq(mqr_json_write(&v, 0, buf, sizeof buf, &n), MQR_ELIMIT);
}

Test(json, repaired_utf8_reads_back)
{
    mqr_value_t s, back;
    mqr_value_set_string(&s, "ok\xFF\xC3(\xE2\x82", 7);
    const char *out = write_s(&s, 0);
    cr_assert_str_eq(out, "\"ok\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\"");
    cr_assert_eq(parse_s(out, &back), MQR_OK);
    cr_assert_eq(back.len, 2 + 3 + 3 + 1 + 3);
}

/* ---- allocation failure ------------------------------------------------------------- */

Test(json, allocation_failure_injection)
{
    /* big enough to need several blocks, the scratch spill and the sort path */
    char text[8192];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{\"list\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"e\\u00e9%d\"", i ? "," : "", i);
    n += (size_t)snprintf(text + n, sizeof text - n, "]");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, ",\"k%d\":[[%d]]", i % 25, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "}");
    int clean = 0;
    for (size_t fail = 1; !clean; fail++) {
        counting_t c = {0, 0, fail};
        mqr_allocator_t al = {counting_alloc, &c};
        mqr_arena_t *a;
        int rc = mqr_arena_create(&al, 256, &a);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM);
            continue;
        }
        mqr_value_t v;
        mqr_diag_t d;
        rc = mqr_json_parse(a, text, n, 0, &v, &d);
        if (rc == MQR_OK) {
            clean = c.calls < fail;
            cr_assert_eq(v.len, 26);
        } else {
            cr_assert_eq(rc, MQR_ENOMEM, "fail at %zu: %d %s", fail, rc, d.message);
            cr_assert_eq(d.code, MQR_ENOMEM);
            c.fail_at = 0;
            mqr_arena_reset(a);
            cr_assert_eq(mqr_json_parse(a, text, n, 0, &v, NULL), MQR_OK);
        }
        mqr_arena_destroy(a);
        cr_assert_eq(c.live, 0, "leak when failing call %zu", fail);
        cr_assert_lt(fail, 5000);
    }
}

Test(json, warm_arena_parses_without_allocating)
{
    counting_t c = {0};
    mqr_allocator_t al = {counting_alloc, &c};
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(&al, 0, &a), MQR_OK);
    const char *text = "{\"clientid\":\"c1\",\"reason_code\":\"success\",\"n\":[1,2,3],\"t\":\"a\\tb\"}";
    for (int round = 0; round < 5; round++) {
        size_t before = c.calls;
        mqr_value_t v;
        cr_assert_eq(mqr_json_parse(a, text, strlen(text), 0, &v, NULL), MQR_OK);
        if (round > 1)
            cr_assert_eq(c.calls, before);
        mqr_arena_reset(a);
    }
    mqr_arena_destroy(a);
}
