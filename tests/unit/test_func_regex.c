/* SPDX-License-Identifier: MIT */
/* Tests of regex_match, regex_replace and regex_extract (spec §7.6). */
#include "func_test_util.h"

TestSuite(func_regex, .init = ft_setup, .fini = ft_teardown);

Test(func_regex, regex_match)
{
    EXPECT_BOOL(1, "regex_match", S("abc123"), S("[0-9]+"));
    EXPECT_BOOL(0, "regex_match", S("abc"), S("^b"));
    EXPECT_BOOL(1, "regex_match", S("你好"), S("^.好$"));
    EXPECT_ERR("bad regular expression", "regex_match", S("a"), S("("));
    EXPECT_ERR("got undefined", "regex_match", UNDEF(), S("a"));
    EXPECT_ERR("got integer 1", "regex_match", S("a"), I(1));
}

Test(func_regex, regex_replace)
{
    EXPECT_STR("a-b-c", "regex_replace", S("a1b22c"), S("[0-9]+"), S("-"));
    EXPECT_STR("<1><22>", "regex_replace", S("1 22"), S("([0-9]+) ?"), S("<\\1>"));
    EXPECT_STR("[ab]", "regex_replace", S("ab"), S("ab"), S("[&]"));
    EXPECT_ERR("bad regular expression", "regex_replace", S("a"), S("[a"), S("b"));
    EXPECT_ERR("got undefined", "regex_replace", S("a"), S("a"), UNDEF());
}

Test(func_regex, regex_extract)
{
    EXPECT_JSON("[\"12\",\"34\"]", "regex_extract", S("x12-34"), S("(\\d+)-(\\d+)"));
    EXPECT_JSON("[]", "regex_extract", S("abc"), S("(\\d+)"));
    EXPECT_JSON("[]", "regex_extract", S("abc"), S("b"));
    EXPECT_JSON("[\"a\",\"\"]", "regex_extract", S("a"), S("(a)|(b)"));
    EXPECT_ERR("bad regular expression", "regex_extract", S("a"), S("(?<=a)b"));
    EXPECT_ERR("got null", "regex_extract", NUL(), S("a"));
}
