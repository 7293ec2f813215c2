/* SPDX-License-Identifier: MIT */
/* Tests of the string functions (spec §7.6), sprintf and the regex functions. */
#include "func_test_util.h"

TestSuite(func_string, .init = ft_setup, .fini = ft_teardown);

Test(func_string, upper_lower)
{
    EXPECT_STR("HELLO", "upper", S("hello"));
    EXPECT_STR("hello", "lower", S("HeLLo"));
    EXPECT_STR("ÄÖÜ ΑΒΓ", "upper", S("äöü αβγ"));
    EXPECT_STR("привет", "lower", S("ПРИВЕТ"));
    EXPECT_STR("", "upper", S(""));
    EXPECT_STR("TRUE", "upper", B(1)); /* booleans are atoms in EMQX */
    EXPECT_INT(5, "strlen", B(0));
    EXPECT_BOOL(1, "regex_match", B(1), S("^tr"));
    EXPECT_ERR("expected a string, got undefined", "upper", UNDEF());
    EXPECT_ERR("expected a string, got integer 1", "lower", I(1));
    EXPECT_ERR("invalid UTF-8 at byte 1", "upper", SN("a\xFF", 2));
}

Test(func_string, trims)
{
    EXPECT_STR("a b", "trim", S(" \t\r\na b\r\n "));
    EXPECT_STR("a b\n", "ltrim", S("  a b\n"));
    EXPECT_STR("  a b", "rtrim", S("  a b\r\n"));
    /* emqx_variform_bif:trim/1 is string:trim/1: Pattern_White_Space only, so
     * U+3000 and U+00A0 stay and U+2028, U+200E, U+0085 go */
    EXPECT_STR("\xE3\x80\x80x\xC2\xA0", "trim", S("\xE3\x80\x80x\xC2\xA0"));
    EXPECT_STR("x", "trim", S("\xE2\x80\xA8\xE2\x80\x8Ex\xC2\x85"));
    EXPECT_STR("abc", "rtrim", S("abc,;,"), S(",;"));
    EXPECT_STR("abc", "rtrim", S("abc你你"), S("你"));
    EXPECT_STR("", "trim", S("   "));
    EXPECT_STR("a", "trim", S("xyaxy"), S("yx"));
    EXPECT_STR("ax", "ltrim", S("xxax"), S("x"));
    EXPECT_ERR("got undefined", "trim", UNDEF());
    EXPECT_ERR("got null", "ltrim", NUL());
    EXPECT_ERR("got integer 1", "rtrim", S("a"), I(1));
}

Test(func_string, strlen_reverse)
{
    EXPECT_INT(2, "strlen", S("你好"));
    EXPECT_INT(5, "strlen", S("hello"));
    EXPECT_INT(3, "strlen", S("a\r\nb")); /* CR LF is one */
    EXPECT_INT(2, "strlen", S("e\xCC\x81")); /* combining mark counts on its own */
    EXPECT_INT(2, "strlen", SN("\xFF\xFE", 2)); /* stray bytes count one each */
    EXPECT_STR("好你", "reverse", S("你好"));
    EXPECT_STR("b\r\na", "reverse", S("a\r\nb"));
    EXPECT_STR("", "reverse", S(""));
    EXPECT_ERR("got undefined", "strlen", UNDEF());
    EXPECT_ERR("got array", "reverse", J("[1]"));
}

Test(func_string, substr)
{
    EXPECT_STR("hello", "substr", S("hello"), I(0));
    EXPECT_STR("bc", "substr", S("abcd"), I(1), I(2));
    EXPECT_STR("cd", "substr", S("abcd"), I(2));
    EXPECT_STR("", "substr", S("abcd"), I(10));
    EXPECT_STR("d", "substr", S("abcd"), I(3), I(10));
    EXPECT_STR("好", "substr", S("你好"), I(1), I(1));
    EXPECT_ERR("must be >= 0", "substr", S("abc"), I(-1));
    EXPECT_ERR("expected an integer, got string \"1\"", "substr", S("abc"), S("1"));
    EXPECT_ERR("expected a string, got undefined", "substr", UNDEF(), I(0));
}

Test(func_string, split)
{
    EXPECT_JSON("[\"a\",\"b\",\"c\"]", "split", S("/a//b/c/"), S("/"));
    EXPECT_JSON("[\"\",\"a\",\"\",\"b\",\"c\",\"\"]", "split", S("/a//b/c/"), S("/"),
                S("notrim"));
    EXPECT_JSON("[\"a\",\"b/c\"]", "split", S("a/b/c"), S("/"), S("leading"));
    EXPECT_JSON("[\"a/b\",\"c\"]", "split", S("a/b/c"), S("/"), S("trailing"));
    EXPECT_JSON("[\"a/b/\"]", "split", S("a/b//"), S("/"), S("trailing"));
    EXPECT_JSON("[\"a/b/\",\"\"]", "split", S("a/b//"), S("/"), S("trailing_notrim"));
    EXPECT_JSON("[\"\",\"a/b\"]", "split", S("/a/b"), S("/"), S("leading_notrim"));
    EXPECT_JSON("[\"a\",\"b\"]", "split", S("a::b"), S("::"));
    EXPECT_JSON("[\"abc\"]", "split", S("abc"), S(""));
    EXPECT_JSON("[]", "split", S(""), S("/"));
    EXPECT_ERR("unknown option string \"all\" (expected 'notrim', 'leading', 'trailing', "
               "'leading_notrim' or 'trailing_notrim')",
               "split", S("a"), S("/"), S("all"));
    EXPECT_ERR("got undefined", "split", UNDEF(), S("/"));
    EXPECT_ERR("got integer 1", "split", S("a"), I(1));
}

Test(func_string, tokens)
{
    EXPECT_JSON("[\"a\",\"b\",\"c\"]", "tokens", S("a, b,,c"), S(", "));
    EXPECT_JSON("[\"a b\",\"c\"]", "tokens", S("a b\r\nc\n"), S(","), S("nocrlf"));
    EXPECT_JSON("[\"a b\\r\\nc\"]", "tokens", S("a b\r\nc"), S(","));
    EXPECT_JSON("[\"x\",\"y\"]", "tokens", S("x你y"), S("你"));
    EXPECT_JSON("[]", "tokens", S(",,"), S(","));
    EXPECT_ERR("unknown option", "tokens", S("a"), S(","), S("crlf"));
    EXPECT_ERR("got undefined", "tokens", S("a"), UNDEF());
}

Test(func_string, concat)
{
    EXPECT_STR("ab", "concat", S("a"), S("b"));
    EXPECT_STR("a1", "concat", S("a"), I(1));
    EXPECT_STR("xundefined", "concat", S("x"), UNDEF());
    EXPECT_STR("a2.0b", "concat", J("[\"a\",2.0,\"b\"]"));
    EXPECT_STR("abc", "concat", S("a"), S("b"), S("c"));
    EXPECT_STR("hi!", "concat", J("[104,105]"), S("!"));
    EXPECT_ERR("expected an array, got string \"a\"", "concat", S("a"));
}

Test(func_string, sprintf)
{
    EXPECT_STR("a-1-x", "sprintf", S("~s-~p-~s"), S("a"), I(1), S("x"));
    EXPECT_STR("<<\"q\\\"\">>", "sprintf", S("~p"), S("q\""));
    EXPECT_STR("[1,<<\"a\">>]", "sprintf", S("~w"), J("[1,\"a\"]"));
    EXPECT_STR("#{<<\"k\">> => 1}", "sprintf", S("~p"), J("{\"k\":1}"));
    EXPECT_STR("#{<<\"k\">>=>1}", "sprintf", S("~w"), J("{\"k\":1}"));
    EXPECT_STR("你好\n~", "sprintf", S("~ts~n~~"), S("你好"));
    EXPECT_STR("42 1.500000 A", "sprintf", S("~B ~f ~c"), I(42), D(1.5), I(65));
    EXPECT_STR("undefined", "sprintf", S("~p"), UNDEF());
    EXPECT_STR("plain", "sprintf", S("plain"));
    EXPECT_ERR("no argument left for directive '~s'", "sprintf", S("~s ~s"), S("a"));
    EXPECT_ERR("2 arguments but the format uses 1", "sprintf", S("~s"), S("a"), S("b"));
    EXPECT_ERR("unsupported directive '~x'", "sprintf", S("~x"), I(1));
    EXPECT_ERR("format ends with '~'", "sprintf", S("a~"));
    EXPECT_ERR("an integer for '~B'", "sprintf", S("~B"), D(1.5));
    EXPECT_ERR("expected a string, got undefined", "sprintf", UNDEF());
}

/* emqx_rule_funcs:sprintf_s/2: io_lib:format(Format, Args) with Args a list,
 * the function sprintf/N forwards to. */
Test(func_string, sprintf_s)
{
    EXPECT_STR("a-1-x", "sprintf_s", S("~s-~p-~s"), J("[\"a\",1,\"x\"]"));
    EXPECT_STR("plain", "sprintf_s", S("plain"), J("[]"));
    EXPECT_ERR("no argument left for directive '~s'", "sprintf_s", S("~s ~s"), J("[\"a\"]"));
    EXPECT_ERR("2 arguments but the format uses 1", "sprintf_s", S("~s"), J("[\"a\",\"b\"]"));
    EXPECT_ERR("expected an array of arguments, got string \"a\"", "sprintf_s", S("~s"),
               S("a"));
    EXPECT_ERR("expected a string, got undefined", "sprintf_s", UNDEF(), J("[]"));
}

Test(func_string, pad)
{
    EXPECT_STR("ab   ", "pad", S("ab"), I(5));
    EXPECT_STR("   ab", "pad", S("ab"), I(5), S("leading"));
    EXPECT_STR(" ab  ", "pad", S("ab"), I(5), S("both"));
    EXPECT_STR("ab***", "pad", S("ab"), I(5), S("trailing"), S("*"));
    EXPECT_STR("好好你", "pad", S("你"), I(3), S("leading"), S("好"));
}

Test(func_string, pad_edges)
{
    EXPECT_STR("abcdef", "pad", S("abcdef"), I(3));
    EXPECT_STR("你__", "pad", S("你"), I(3), S("trailing"), S("_"));
    EXPECT_ERR("above the limit of 1048576", "pad", S("a"), I(1048577));
    mqr_value_t big;
    cr_assert_eq(CALL(&big, "pad", S("a"), I(1048576)), MQR_OK);
    cr_assert_eq(big.len, 1048576);
    /* string:pad/4 repeats the pad string whole (emqx_variform_bif:pad/4) */
    EXPECT_STR("ababx", "pad", S("x"), I(3), S("leading"), S("ab"));
    EXPECT_STR("xab", "pad", S("x"), I(2), S("trailing"), S("ab"));
    EXPECT_STR("x", "pad", S("x"), I(3), S("both"), S(""));
    EXPECT_ERR("above the limit", "pad", S("a"), I(1048576), S("trailing"), S("abcdefgh"));
    EXPECT_ERR("unknown option string \"middle\"", "pad", S("a"), I(3), S("middle"));
    EXPECT_ERR("expected an integer", "pad", S("a"), S("3"));
    EXPECT_ERR("got undefined", "pad", UNDEF(), I(3));
}

Test(func_string, replace)
{
    EXPECT_STR("a-b-c", "replace", S("a/b/c"), S("/"), S("-"));
    EXPECT_STR("a-b/c", "replace", S("a/b/c"), S("/"), S("-"), S("leading"));
    EXPECT_STR("a/b-c", "replace", S("a/b/c"), S("/"), S("-"), S("trailing"));
    EXPECT_STR("a-b-c", "replace", S("a/b/c"), S("/"), S("-"), S("all"));
    EXPECT_STR("abc", "replace", S("abc"), S(""), S("-"));
    EXPECT_STR("xx", "replace", S("aaaa"), S("aa"), S("x"));
    EXPECT_ERR("unknown option", "replace", S("a"), S("a"), S("b"), S("first"));
    EXPECT_ERR("got integer 1", "replace", S("a"), S("a"), I(1));
}

Test(func_string, find_and_prefix)
{
    EXPECT_STR("/b/c", "find", S("a/b/c"), S("/"));
    EXPECT_STR("/c", "find", S("a/b/c"), S("/"), S("trailing"));
    EXPECT_STR("/b/c", "find", S("a/b/c"), S("/"), S("leading"));
    EXPECT_STR("", "find", S("abc"), S("x"));
    EXPECT_ERR("unknown option", "find", S("abc"), S("x"), S("both"));
    EXPECT_ERR("got undefined", "find", UNDEF(), S("x"));
    EXPECT_STR("c", "rm_prefix", S("abc"), S("ab"));
    EXPECT_STR("abc", "rm_prefix", S("abc"), S("x"));
    EXPECT_STR("abc", "rm_prefix", S("abc"), S("abcd"));
    EXPECT_ERR("got integer 1", "rm_prefix", S("abc"), I(1));
}

Test(func_string, ascii)
{
    EXPECT_INT(97, "ascii", S("abc"));
    EXPECT_INT(0xE4, "ascii", S("你"));
    EXPECT_ERR("the string is empty", "ascii", S(""));
    EXPECT_ERR("got integer 97", "ascii", I(97));
}

Test(func_string, join_to_string)
{
    EXPECT_STR("a, 1, 2.0", "join_to_string", J("[\"a\",1,2.0]"));
    EXPECT_STR("a|b", "join_to_string", S("|"), J("[\"a\",\"b\"]"));
    EXPECT_STR("", "join_to_string", J("[]"));
    EXPECT_STR("{\"key\":1}", "join_to_string", J("[{\"key\":1}]"));
    EXPECT_ERR("expected an array, got string \"a\"", "join_to_string", S("a"));
    EXPECT_ERR("expected a string, got integer 1", "join_to_string", I(1), J("[]"));
}

Test(func_string, join_to_sql_values_string)
{
    mqr_value_t items = J("[\"a\",1,2.5,true,null,null,\"it's\",{\"k\":[1]},\"c:\\\\d\"]");
    items.u.items[5] = UNDEF();
    EXPECT_STR("'a', 1, 2.5, 'true', 'null', 'undefined', 'it\\'s', '{\"k\":[1]}', 'c:\\\\d'",
               "join_to_sql_values_string", items);
    EXPECT_STR("", "join_to_sql_values_string", J("[]"));
    EXPECT_ERR("expected an array", "join_to_sql_values_string", S("a"));
}

Test(func_string, map_to_redis_hset_args)
{
    EXPECT_JSON("[\"a\",\"1\",\"b\",\"1.5\",\"c\",\"x\",\"e\",\"true\"]",
                "map_to_redis_hset_args",
                J("{\"a\":1,\"b\":1.5,\"c\":\"x\",\"d\":[1],\"e\":true,\"f\":null}"));
    EXPECT_JSON("[\"a\",\"0.333333\"]", "map_to_redis_hset_args", S("{\"a\":0.3333333}"));
    EXPECT_ERR("expected an object", "map_to_redis_hset_args", I(1));
}

Test(func_string, unescape)
{
    EXPECT_STR("a\nb\t\"'\\?", "unescape", S("a\\nb\\t\\\"\\'\\\\\\?"));
    EXPECT_STR("A你", "unescape", S("\\x41\\x4f60"));
    EXPECT_STR("plain", "unescape", S("plain"));
    EXPECT_ERR("unknown escape '\\q'", "unescape", S("a\\q"));
    /* emqx_variform_bif:unescape_string/2 keeps a backslash that ends the string */
    EXPECT_STR("a\\", "unescape", S("a\\"));
    EXPECT_ERR("invalid \\x escape", "unescape", S("a\\x"));
    EXPECT_ERR("invalid \\x escape", "unescape", S("\\xZZ"));
    EXPECT_ERR("got undefined", "unescape", UNDEF());
}

Test(func_string, str_utf16_le)
{
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "str_utf16_le", S("a你😀")), MQR_OK);
    ft_assert_str(&r, "a\0\x60\x4f\x3d\xd8\x00\xde", 8, "str_utf16_le");
    cr_assert_eq(CALL(&r, "str_utf16_le", I(12)), MQR_OK);
    ft_assert_str(&r, "1\0" "2\0", 4, "str_utf16_le");
    EXPECT_ERR("invalid UTF-8", "str_utf16_le", SN("\xFF", 1));
}
