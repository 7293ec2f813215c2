/* SPDX-License-Identifier: MIT */
/* Tests of the math, div/mod, bitwise and subbits functions (spec §7.2, §7.3, §6.5). */
#include <math.h>

#include "func_test_util.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_E
#define M_E 2.7182818284590452354
#endif

TestSuite(func_math, .init = ft_setup, .fini = ft_teardown);

Test(func_math, abs_integers_only)
{
    EXPECT_INT(5, "abs", I(-5));
    EXPECT_INT(5, "abs", I(5));
    EXPECT_INT(INT64_MAX, "abs", I(-INT64_MAX));
    EXPECT_ERR("expected an integer, got float -1.2", "abs", D(-1.2));
    EXPECT_ERR("integer overflow", "abs", I(INT64_MIN));
    EXPECT_ERR("got undefined", "abs", UNDEF());
}

Test(func_math, ceil_floor_round_return_integers)
{
    EXPECT_INT(2, "ceil", D(1.2));
    EXPECT_INT(-1, "ceil", D(-1.2));
    EXPECT_INT(7, "ceil", I(7));
    EXPECT_INT(1, "floor", D(1.8));
    EXPECT_INT(-2, "floor", D(-1.2));
    EXPECT_INT(5, "round", D(4.5));
    EXPECT_INT(-5, "round", D(-4.5));
    EXPECT_INT(4, "round", D(4.49));
    EXPECT_INT(3, "round", I(3));
    EXPECT_ERR("integer overflow", "floor", D(1e19));
    EXPECT_ERR("integer overflow", "ceil", D(-1e300));
    EXPECT_ERR("expected a number, got string \"1.5\"", "round", S("1.5"));
    EXPECT_ERR("got undefined", "ceil", UNDEF());
    EXPECT_ERR("got null", "floor", NUL());
}

Test(func_math, float_functions)
{
    EXPECT_DOUBLE(3.0, "sqrt", I(9));
    EXPECT_DOUBLE(M_E, "exp", I(1));
    EXPECT_DOUBLE(1.0, "log", D(M_E));
    EXPECT_DOUBLE(3.0, "log10", I(1000));
    EXPECT_DOUBLE(10.0, "log2", I(1024));
    EXPECT_DOUBLE(8.0, "power", I(2), I(3));
    EXPECT_DOUBLE(0.5, "power", I(2), I(-1));
    EXPECT_DOUBLE(1.5, "fmod", D(7.5), I(2));
    EXPECT_DOUBLE(0.0, "sin", I(0));
    EXPECT_DOUBLE(1.0, "cos", I(0));
    EXPECT_DOUBLE(1.0, "tan", D(M_PI / 4));
    EXPECT_DOUBLE(M_PI / 2, "asin", I(1));
    EXPECT_DOUBLE(0.0, "acos", I(1));
    EXPECT_DOUBLE(M_PI / 4, "atan", I(1));
    EXPECT_DOUBLE(0.0, "sinh", I(0));
    EXPECT_DOUBLE(1.0, "cosh", I(0));
    EXPECT_DOUBLE(0.0, "tanh", I(0));
    EXPECT_DOUBLE(asinh(1.0), "asinh", I(1));
    EXPECT_DOUBLE(0.0, "acosh", I(1));
    EXPECT_DOUBLE(atanh(0.5), "atanh", D(0.5));
}

Test(func_math, non_finite_results_are_errors)
{
    EXPECT_ERR("not a finite number", "sqrt", I(-1));
    EXPECT_ERR("not a finite number", "log", I(0));
    EXPECT_ERR("not a finite number", "log10", I(-1));
    EXPECT_ERR("not a finite number", "log2", I(0));
    EXPECT_ERR("not a finite number", "power", D(10), I(400));
    EXPECT_ERR("not a finite number", "fmod", I(1), I(0));
    EXPECT_ERR("not a finite number", "asin", I(2));
    EXPECT_ERR("not a finite number", "acos", I(2));
    EXPECT_ERR("not a finite number", "acosh", I(0));
    EXPECT_ERR("not a finite number", "atanh", I(1));
    EXPECT_ERR("not a finite number", "exp", I(1000));
    EXPECT_ERR("not a finite number", "cosh", I(1000));
    EXPECT_ERR("not a finite number", "sinh", I(1000));
}

Test(func_math, float_functions_wrong_type)
{
    const char *names[] = {"sqrt", "exp", "log", "log10", "log2", "sin", "cos", "tan", "asin",
                           "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        EXPECT_ERR("expected a number, got string \"x\"", names[i], S("x"));
    EXPECT_ERR("expected a number, got undefined", "power", UNDEF(), I(1));
    EXPECT_ERR("expected a number, got true", "fmod", I(1), B(1));
}

Test(func_math, random_in_unit_interval)
{
    mqr_value_t a, b;
    cr_assert_eq(CALL0(&a, "random"), MQR_OK);
    cr_assert_eq(CALL0(&b, "random"), MQR_OK);
    cr_assert_eq(a.type, MQR_VAL_DOUBLE);
    cr_assert(a.u.d >= 0.0 && a.u.d < 1.0);
    cr_assert(b.u.d >= 0.0 && b.u.d < 1.0);
    cr_assert_neq(a.u.d, b.u.d);
    ft.rng = 0; /* a zero state still produces numbers */
    cr_assert_eq(CALL0(&a, "random"), MQR_OK);
    cr_assert_neq(ft.rng, 0);
    ft.cx.rng = NULL;
    EXPECT_ERR("no random number state", "random");
}

/* emqx_rule_funcs:eq/2 is Erlang's `X == Y`: numbers compare by value, lists
 * and maps element by element, nothing raises. */
Test(func_math, eq)
{
    EXPECT_BOOL(1, "eq", I(1), D(1.0));
    EXPECT_BOOL(1, "eq", S("a"), S("a"));
    EXPECT_BOOL(0, "eq", S("1"), I(1));
    EXPECT_BOOL(1, "eq", J("[1,{\"k\":2}]"), J("[1.0,{\"k\":2.0}]"));
    EXPECT_BOOL(0, "eq", J("[1,2]"), J("[2,1]"));
    EXPECT_BOOL(1, "eq", J("{\"a\":1,\"b\":2}"), J("{\"b\":2,\"a\":1}"));
    EXPECT_BOOL(1, "eq", UNDEF(), UNDEF());
    EXPECT_BOOL(0, "eq", UNDEF(), NUL());
    EXPECT_BOOL(0, "eq", B(1), I(1));
}

Test(func_math, div_mod)
{
    EXPECT_INT(3, "div", I(7), I(2));
    EXPECT_INT(-3, "div", I(-7), I(2));
    EXPECT_INT(1, "mod", I(7), I(2));
    EXPECT_INT(-1, "mod", I(-7), I(2));
    EXPECT_INT(0, "mod", I(INT64_MIN), I(-1));
    EXPECT_ERR("division by zero", "div", I(1), I(0));
    EXPECT_ERR("division by zero", "mod", I(1), I(0));
    EXPECT_ERR("integer overflow", "div", I(INT64_MIN), I(-1));
    EXPECT_ERR("expected an integer, got float 7.5", "div", D(7.5), I(2));
    EXPECT_ERR("expected an integer, got string \"2\"", "mod", I(7), S("2"));
}

Test(func_math, bitwise)
{
    EXPECT_INT(-11, "bitnot", I(10));
    EXPECT_INT(8, "bitand", I(12), I(10));
    EXPECT_INT(14, "bitor", I(12), I(10));
    EXPECT_INT(6, "bitxor", I(12), I(10));
    EXPECT_INT(40, "bitsl", I(10), I(2));
    EXPECT_INT(2, "bitsr", I(10), I(2));
    EXPECT_INT(-3, "bitsr", I(-10), I(2)); /* arithmetic */
    EXPECT_INT(-1, "bitsr", I(-10), I(100));
    EXPECT_INT(0, "bitsr", I(10), I(64));
    EXPECT_INT(5, "bitsl", I(10), I(-1));
    EXPECT_INT(INT64_C(1) << 62, "bitsl", I(1), I(62));
    EXPECT_INT(INT64_MIN, "bitsl", I(-1), I(63));
    EXPECT_INT(0, "bitsl", I(0), I(1000));
    EXPECT_ERR("integer overflow", "bitsl", I(1), I(63));
    EXPECT_ERR("integer overflow", "bitsl", I(3), I(62));
    EXPECT_ERR("integer overflow", "bitsr", I(1), I(INT64_MIN));
    EXPECT_ERR("expected an integer, got undefined", "bitnot", UNDEF());
    EXPECT_ERR("expected an integer, got float 1", "bitand", D(1.0), I(1));
    EXPECT_ERR("expected an integer", "bitor", I(1), S("1"));
    EXPECT_ERR("expected an integer", "bitxor", NUL(), I(1));
    EXPECT_ERR("expected an integer", "bitsl", I(1), D(1.0));
    EXPECT_ERR("expected an integer", "bitsr", S("1"), I(1));
}

Test(func_math, bitsize_bytesize)
{
    EXPECT_INT(24, "bitsize", S("abc"));
    EXPECT_INT(3, "bytesize", S("abc"));
    EXPECT_INT(6, "bytesize", S("你好"));
    EXPECT_INT(0, "bytesize", S(""));
    EXPECT_ERR("expected a string, got integer 1", "bitsize", I(1));
    EXPECT_ERR("got undefined", "bytesize", UNDEF());
    /* emqx_rule_funcs:bytesize/1 is erlang:iolist_size/1 */
    EXPECT_INT(4, "bytesize", J("[1,\"ab\",[255]]"));
    EXPECT_INT(0, "bytesize", J("[]"));
    EXPECT_ERR("array of bytes", "bytesize", J("[256]"));
    EXPECT_ERR("array of bytes", "bytesize", J("[1.0]"));
}

Test(func_math, subbits_integers)
{
    mqr_value_t bin = SN("\x12\x34\xF0", 3);
    EXPECT_INT(0x12, "subbits", bin, I(8));
    EXPECT_INT(0x1234, "subbits", bin, I(16));
    EXPECT_INT(0x3, "subbits", bin, I(9), I(4));
    EXPECT_INT(0x34, "subbits", bin, I(9), I(8));
    EXPECT_INT(0xF0, "subbits", bin, I(17), I(100)); /* shorter remainder */
    EXPECT_INT(0x3412, "subbits", bin, I(1), I(16), S("integer"), S("unsigned"), S("little"));
    EXPECT_INT(-16, "subbits", bin, I(17), I(8), S("integer"), S("signed"));
    EXPECT_INT(0xF0, "subbits", bin, I(17), I(8), S("integer"), S("unsigned"), S("big"));
    EXPECT_INT(0, "subbits", bin, I(1), I(0));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "subbits", bin, I(25), I(8)), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    mqr_value_t big = SN("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 8);
    EXPECT_INT(-1, "subbits", big, I(1), I(64), S("integer"), S("signed"));
    EXPECT_ERR("integer overflow", "subbits", big, I(64));
}

Test(func_math, subbits_float_and_bits)
{
    mqr_value_t f32 = SN("\x3F\xC0\x00\x00", 4);   /* 1.5f big endian */
    mqr_value_t f32le = SN("\x00\x00\xC0\x3F", 4); /* 1.5f little endian */
    EXPECT_DOUBLE(1.5, "subbits", f32, I(1), I(32), S("float"));
    EXPECT_DOUBLE(1.5, "subbits", f32le, I(1), I(32), S("float"), S("unsigned"), S("little"));
    /* emqx_rule_funcs:get_subbits/6: <<V:16/float>> is a half float; a
     * float size that does not match falls back to the whole rest */
    EXPECT_DOUBLE(1.5, "subbits", SN("\x3E\x00", 2), I(1), I(16), S("float"));
    EXPECT_DOUBLE(1.5, "subbits", f32, I(1), I(24), S("float"));
    EXPECT_ERR("16, 32 or 64 bits", "subbits", SN("\x3E\x00\x00", 3), I(1), I(24), S("float"));
    EXPECT_ERR("finite", "subbits", SN("\x7F\x80\x00\x00", 4), I(1), I(32), S("float"));
    EXPECT_STR("\x34", "subbits", SN("\x12\x34", 2), I(9), I(8), S("bits"));
    EXPECT_ERR("whole bytes", "subbits", SN("\x12\x34", 2), I(9), I(4), S("bits"));
}

Test(func_math, subbits_bad_arguments)
{
    EXPECT_ERR("expected a string, got integer 5", "subbits", I(5), I(8));
    EXPECT_ERR("expected an integer", "subbits", S("a"), S("8"));
    /* get_subbits/6: <<_:Start-1, ...>> with a negative size never matches
     * (undefined); a negative length does not match either, so the whole
     * rest is taken */
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "subbits", S("a"), I(0), I(8)), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_INT(0x61, "subbits", S("a"), I(1), I(-1));
    EXPECT_STR("bc", "subbits", S("abc"), I(9), I(-5), S("bits"));
    EXPECT_ERR("unknown option string \"int\" (expected 'integer', 'float' or 'bits')", "subbits", S("a"), I(1), I(8),
               S("int"));
    EXPECT_ERR("(expected 'unsigned' or 'signed')", "subbits", S("a"), I(1), I(8), S("integer"),
               S("x"));
    EXPECT_ERR("(expected 'big' or 'little')", "subbits", S("a"), I(1), I(8), S("integer"),
               S("signed"), S("middle"));
}
