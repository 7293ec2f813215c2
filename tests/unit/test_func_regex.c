/* SPDX-License-Identifier: MIT */
/* Tests of regex_match, regex_replace and regex_extract (spec §7.6). */
#include "func_test_util.h"
#include "regex.h"

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

/* With cx.regex set (a constant pattern the compiler prepared), the call
 * runs that program: the pattern argument is not read and no program is
 * compiled into the arena, which grows by the VM scratch only. */
Test(func_regex, prepared_program_is_run_not_compiled)
{
    const char *pat = "^([a-z]+)([0-9]{2,4})$";
    mqr__regex_t *re = NULL;
    cr_assert_eq(mqr__regex_compile(pat, strlen(pat), NULL, &re, NULL), MQR_OK);
    mqr_value_t out;
    /* the per-call path, for comparison: a program plus the scratch */
    size_t u0 = mqr_arena_used(ft.arena);
    cr_assert_eq(CALL(&out, "regex_match", S("abc123"), S(pat)), MQR_OK);
    size_t per_call_compiling = mqr_arena_used(ft.arena) - u0;
    ft.cx.regex = re;
    size_t scratch = mqr__regex_scratch_size(re, 0);
    for (int i = 0; i < 100; i++) {
        size_t u = mqr_arena_used(ft.arena);
        /* the pattern argument is ignored: the prepared program decides */
        cr_assert_eq(CALL(&out, "regex_match", S("abc123"), S("nomatch")), MQR_OK);
        cr_assert_eq(out.type, MQR_VAL_BOOL);
        cr_assert_eq(out.u.b, 1);
        size_t grew = mqr_arena_used(ft.arena) - u;
        cr_assert(grew <= scratch + 16, "grew %zu, scratch %zu", grew, scratch);
    }
    cr_assert(per_call_compiling > scratch + 16, "compiling per call used %zu", per_call_compiling);
    EXPECT_STR("<123>", "regex_replace", S("abc123"), S("x"), S("<\\2>"));
    EXPECT_JSON("[\"abc\",\"123\"]", "regex_extract", S("abc123"), S("x"));
    EXPECT_BOOL(0, "regex_match", S("abc1"), S("x"));
    EXPECT_ERR("got integer 1", "regex_match", I(1), S("x"));
    ft.cx.regex = NULL;
    mqr__regex_free(re);
}
