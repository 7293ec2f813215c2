/* SPDX-License-Identifier: MIT */
/* Tests of the type checks (§7.4), conversions (§7.5) and json_encode/decode (§7.9). */
#include <locale.h>

#include "func_test_util.h"

TestSuite(func_conv, .init = ft_setup, .fini = ft_teardown);

Test(func_conv, is_null_family)
{
    EXPECT_BOOL(1, "is_null", UNDEF());
    EXPECT_BOOL(0, "is_null", NUL()); /* JSON null is a value */
    EXPECT_BOOL(0, "is_null", I(0));
    EXPECT_BOOL(0, "is_not_null", UNDEF());
    EXPECT_BOOL(1, "is_not_null", NUL());
    EXPECT_BOOL(1, "is_null_var", UNDEF());
    EXPECT_BOOL(1, "is_null_var", NUL());
    EXPECT_BOOL(0, "is_null_var", S(""));
    EXPECT_BOOL(0, "is_not_null_var", NUL());
    EXPECT_BOOL(1, "is_not_null_var", S(""));
}

Test(func_conv, is_type)
{
    mqr_value_t atom = S("success");
    atom.flags = MQR_VALF_ATOM;
    EXPECT_BOOL(1, "is_str", S("a"));
    EXPECT_BOOL(0, "is_str", atom); /* Erlang is_binary */
    EXPECT_BOOL(0, "is_str", I(1));
    EXPECT_BOOL(1, "is_bool", B(0));
    EXPECT_BOOL(0, "is_bool", S("true"));
    EXPECT_BOOL(1, "is_int", I(1));
    EXPECT_BOOL(0, "is_int", D(1.0));
    EXPECT_BOOL(1, "is_float", D(1.0));
    EXPECT_BOOL(0, "is_float", I(1));
    EXPECT_BOOL(1, "is_num", I(1));
    EXPECT_BOOL(1, "is_num", D(1.5));
    EXPECT_BOOL(0, "is_num", S("1"));
    EXPECT_BOOL(1, "is_map", J("{}"));
    EXPECT_BOOL(0, "is_map", S("{}"));
    EXPECT_BOOL(1, "is_array", J("[1]"));
    EXPECT_BOOL(0, "is_array", UNDEF());
}

Test(func_conv, is_empty)
{
    EXPECT_BOOL(1, "is_empty", J("[]"));
    EXPECT_BOOL(1, "is_empty", J("{}"));
    EXPECT_BOOL(1, "is_empty", S(""));
    EXPECT_BOOL(1, "is_empty", S("{}"));
    EXPECT_BOOL(1, "is_empty", S(" { } "));
    EXPECT_BOOL(0, "is_empty", S("[]"));
    EXPECT_BOOL(0, "is_empty", J("[0]"));
    EXPECT_BOOL(0, "is_empty", S("x"));
    EXPECT_BOOL(0, "is_empty", UNDEF());
    EXPECT_BOOL(0, "is_empty", I(0));
}

Test(func_conv, str)
{
    EXPECT_STR("2.0", "str", D(2.0));
    EXPECT_STR("0.3", "str", D(0.30000000004));
    EXPECT_STR("0.300000004", "str", D(0.300000004)); /* 10 decimals kept */
    EXPECT_STR("3.1415926536", "str", D(3.14159265359));
    EXPECT_STR("-42", "str", I(-42));
    EXPECT_STR("undefined", "str", UNDEF());
    EXPECT_STR("null", "str", NUL());
    EXPECT_STR("true", "str", B(1));
    EXPECT_STR("abc", "str", S("abc"));
    EXPECT_STR("{\"a\":[1,2]}", "str", J("{\"a\":[1,2]}"));
    EXPECT_STR("hi", "str", J("[104,105]"));
    EXPECT_STR("2.0", "str_utf8", D(2.0));
    EXPECT_STR("你好", "str_utf8", S("你好"));
}

Test(func_conv, int)
{
    EXPECT_INT(-4, "int", D(-3.14));
    EXPECT_INT(3, "int", D(3.99));
    EXPECT_INT(7, "int", I(7));
    EXPECT_INT(1, "int", S("1.0"));
    EXPECT_INT(200, "int", S("+200"));
    EXPECT_INT(-200, "int", S("-200"));
    EXPECT_INT(314, "int", S("3.1415e2"));
    EXPECT_INT(1, "int", B(1));
    EXPECT_INT(0, "int", B(0));
    EXPECT_ERR("integer overflow", "int", S("9223372036854775808"));
    EXPECT_ERR("integer overflow", "int", D(1e19));
    EXPECT_ERR("got string \"abc\"", "int", S("abc"));
    EXPECT_ERR("got string \"+-1\"", "int", S("+-1"));
    EXPECT_ERR("got string \" 1\"", "int", S(" 1"));
    EXPECT_ERR("got undefined", "int", UNDEF());
    EXPECT_ERR("got array", "int", J("[1]"));
}

Test(func_conv, float)
{
    EXPECT_DOUBLE(3.0, "float", I(3));
    EXPECT_DOUBLE(1.5, "float", D(1.5));
    EXPECT_DOUBLE(2.5, "float", S("2.5"));
    EXPECT_DOUBLE(12.0, "float", S("12"));
    EXPECT_DOUBLE(3.142, "float", S("3.1415926"), I(3));
    EXPECT_DOUBLE(2.68, "float", D(2.6789), I(2));
    EXPECT_DOUBLE(-0.1, "float", S("-0.06"), I(1));
    EXPECT_DOUBLE(7.0, "float", I(7), I(3));
    EXPECT_ERR("decimals must be 1..253", "float", D(1.0), I(0));
    EXPECT_ERR("decimals must be 1..253", "float", D(1.0), I(254));
    EXPECT_ERR("expected an integer, got float 1", "float", D(1.0), D(1.0));
    EXPECT_ERR("got string \"x\"", "float", S("x"));
    EXPECT_ERR("got true", "float", B(1));
}

Test(func_conv, float2str)
{
    EXPECT_STR("20.199999999999999", "float2str", D(20.2), I(15));
    EXPECT_STR("1.0", "float2str", D(1.0), I(3));
    EXPECT_STR("1.25", "float2str", D(1.25), I(5));
    EXPECT_STR("2", "float2str", D(1.5), I(0));
    EXPECT_STR("0.33", "float2str", D(1.0 / 3), I(2));
    EXPECT_ERR("expected a float, got integer 20", "float2str", I(20), I(2));
    EXPECT_ERR("decimals must be 0..253", "float2str", D(1.0), I(254));
    EXPECT_ERR("expected an integer", "float2str", D(1.0), UNDEF());
}

Test(func_conv, bool)
{
    EXPECT_BOOL(1, "bool", B(1));
    EXPECT_BOOL(1, "bool", S("true"));
    EXPECT_BOOL(1, "bool", I(1));
    EXPECT_BOOL(1, "bool", D(1.0));
    EXPECT_BOOL(0, "bool", B(0));
    EXPECT_BOOL(0, "bool", S("false"));
    EXPECT_BOOL(0, "bool", I(0));
    EXPECT_BOOL(0, "bool", D(0.0));
    EXPECT_ERR("got integer 2", "bool", I(2));
    EXPECT_ERR("got string \"TRUE\"", "bool", S("TRUE"));
    EXPECT_ERR("got undefined", "bool", UNDEF());
}

Test(func_conv, map)
{
    EXPECT_JSON("{\"a\":1}", "map", J("{\"a\":1}"));
    EXPECT_JSON("{\"a\":1,\"b\":[2]}", "map", S("{\"a\":1,\"b\":[2]}"));
    EXPECT_JSON("{\"k\":\"v\",\"n\":2}", "map", J("[[\"k\",\"v\"],[\"n\",2]]"));
    EXPECT_JSON("{\"k\":2}", "map", J("[[\"k\",1],[\"k\",2]]"));
    EXPECT_ERR("got string \"[1]\"", "map", S("[1]"));
    EXPECT_ERR("a [key, value] pair", "map", J("[[1,2]]"));
    EXPECT_ERR("got integer 1", "map", I(1));
    EXPECT_ERR("got undefined", "map", UNDEF());
}

Test(func_conv, json_encode)
{
    EXPECT_STR("{\"a\":[1,2.0,\"x\",null,true]}", "json_encode",
               J("{\"a\":[1,2.0,\"x\",null,true]}"));
    EXPECT_STR("\"undefined\"", "json_encode", UNDEF());
    EXPECT_STR("[104,105]", "json_encode", J("[104,105]"));
    EXPECT_STR("\"a/b\"", "json_encode", S("a/b"));
    ft.cx.json_flags = MQR__JSONF_UNDEFINED_AS_NULL;
    EXPECT_STR("null", "json_encode", UNDEF());
}

Test(func_conv, json_decode)
{
    EXPECT_JSON("{\"a\":{\"b\":[1,null]}}", "json_decode", S("{\"a\":{\"b\":[1,null]}}"));
    EXPECT_INT(12, "json_decode", S("12"));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "json_decode", S("null")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_NULL);
    EXPECT_ERR("invalid JSON", "json_decode", S("{a:1}"));
    EXPECT_ERR("invalid JSON", "json_decode", S(""));
    EXPECT_ERR("expected a string, got integer 1", "json_decode", I(1));
}

/* The type checks, str(), str_utf8() and json_encode() are total: any value
 * is a valid argument (their "wrong type" case is that there is none). */
Test(func_conv, total_functions_accept_every_type)
{
    const char *names[] = {"is_null", "is_not_null", "is_null_var", "is_not_null_var", "is_str",
                           "is_bool", "is_int",      "is_float",    "is_num",          "is_map",
                           "is_array", "is_empty",   "str",         "str_utf8",        "json_encode"};
    mqr_value_t any[] = {UNDEF(), NUL(), B(0), I(-7), D(0.5), S("x"), J("[1,[2]]"),
                         J("{\"a\":{}}")};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (size_t k = 0; k < sizeof any / sizeof any[0]; k++) {
            mqr_value_t r;
            cr_assert_eq(ft_calln(names[i], &any[k], 1, &r), MQR_OK, "%s #%zu: %s", names[i], k,
                         ft.diag.message);
            cr_assert(r.type == (names[i][0] == 'i' ? MQR_VAL_BOOL : MQR_VAL_STRING), "%s",
                      names[i]);
        }
}

/* The float outputs that go through fixed notation, with their exact text. */
static void expect_fixed_outputs(void)
{
    EXPECT_DOUBLE(1.23, "float", D(1.2345), I(2));
    EXPECT_DOUBLE(1234.6, "float", S("1234.5678"), I(1));
    EXPECT_STR("1.23", "float2str", D(1.2345), I(2));
    EXPECT_STR("-20.25", "float2str", D(-20.25), I(6));
    EXPECT_STR("1.500000|2.5", "sprintf", S("~f|~s"), D(1.5), D(2.5));
    EXPECT_STR("3.000000", "sprintf", S("~f"), I(3));
    EXPECT_JSON("[\"k\",\"1.25\"]", "map_to_redis_hset_args", J("{\"k\":1.25}"));
}

Test(func_conv, fixed_notation_exact_text) { expect_fixed_outputs(); }

Test(func_conv, fixed_notation_ignores_the_locale)
{
    /* Runs where a comma-decimal locale exists; to run it everywhere:
     *   localedef -i de_DE -f UTF-8 /tmp/loc/de_DE.UTF-8
     *   LOCPATH=/tmp/loc build/tests/unit/test_func_conv */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8"};
    int ran = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!setlocale(LC_NUMERIC, names[i]))
            continue;
        ran++;
        expect_fixed_outputs();
    }
    setlocale(LC_NUMERIC, "C");
    if (!ran)
        cr_skip_test("no comma-decimal locale installed");
}

Test(func_conv, float_overflow_is_named)
{
    EXPECT_ERR("float overflow: \"1.0e400\" is beyond the double range", "float", S("1.0e400"));
    EXPECT_ERR("float overflow", "float", S("-2.5e999"), I(2));
    EXPECT_ERR("got string \"1e\"", "float", S("1e"));
}

Test(func_conv, json_decode_keeps_the_reason)
{
    EXPECT_ERR("invalid JSON in string \"{a:1}\": ", "json_decode", S("{a:1}"));
    char deep[2 * MQR_JSON_MAX_DEPTH + 8];
    size_t n = MQR_JSON_MAX_DEPTH + 2;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    EXPECT_ERR("beyond the reader's limits", "json_decode", S(deep));
}
