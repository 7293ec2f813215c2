/* SPDX-License-Identifier: MIT */
/*
 * func_math.c - the math, integer-division and bitwise SQL functions
 * (spec §7.2, §7.3, §6.5 div/mod) and random().
 *
 * EMQX computes with unbounded integers; mqttrule uses int64 and turns every
 * result that does not fit into an evaluation error (D7) instead of wrapping.
 * Float results that are NaN or infinite (sqrt(-1), log(0), power overflow)
 * are evaluation errors too, as Erlang raises badarith for them.
 */
#include <math.h>
#include <string.h>

#include "func_util.h"

/* 2^63 as a double: the first value above the int64 range. */
#define TWO_POW_63 9223372036854775808.0

/* Store the integral double d as an int, or fail when it is outside int64. */
static int ret_int_from_double(mqr__fctx_t *cx, double d, mqr_value_t *out)
{
    if (!(d >= -TWO_POW_63 && d < TWO_POW_63))
        return mqr__func_error(cx, "integer overflow: %.17g does not fit in 64 bits", d);
    mqr_value_set_int(out, (int64_t)d);
    return MQR_OK;
}

static int overflow(mqr__fctx_t *cx) { return mqr__func_error(cx, "integer overflow"); }

/* ---- §7.2 ---------------------------------------------------------------------- */

int mqr__func_sql_abs(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    int64_t i;
    int rc = mqr__func_arg_int(cx, args, 0, &i);
    if (rc)
        return rc;
    if (i == INT64_MIN)
        return overflow(cx);
    mqr_value_set_int(out, i < 0 ? -i : i);
    return MQR_OK;
}

/* ceil/floor/round share this: integers pass through, floats are rounded by
 * `fn` and returned as integers (EMQX returns integers for all three). */
static int rounding(mqr__fctx_t *cx, const mqr_value_t *args, double (*fn)(double),
                    mqr_value_t *out)
{
    if (args[0].type == MQR_VAL_INT) {
        *out = args[0];
        return MQR_OK;
    }
    double d;
    int rc = mqr__func_arg_num(cx, args, 0, &d);
    return rc ? rc : ret_int_from_double(cx, fn(d), out);
}

int mqr__func_sql_ceil(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    return rounding(cx, args, ceil, out);
}

int mqr__func_sql_floor(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return rounding(cx, args, floor, out);
}

int mqr__func_sql_round(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return rounding(cx, args, round, out); /* C round(): half away from zero */
}

/* One-argument float functions: number in, finite double out. */
static int unary(mqr__fctx_t *cx, const mqr_value_t *args, double (*fn)(double),
                 mqr_value_t *out)
{
    double d;
    int rc = mqr__func_arg_num(cx, args, 0, &d);
    return rc ? rc : mqr__func_ret_double(cx, fn(d), out);
}

#define MQR__UNARY_MATH(name)                                                              \
    int mqr__func_sql_##name(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,       \
                             mqr_value_t *out)                                              \
    {                                                                                       \
        return unary(cx, args, name, out);                                                  \
    }
MQR__UNARY_MATH(sqrt)
MQR__UNARY_MATH(exp)
MQR__UNARY_MATH(log)
MQR__UNARY_MATH(log10)
MQR__UNARY_MATH(log2)
MQR__UNARY_MATH(sin)
MQR__UNARY_MATH(cos)
MQR__UNARY_MATH(tan)
MQR__UNARY_MATH(asin)
MQR__UNARY_MATH(acos)
MQR__UNARY_MATH(atan)
MQR__UNARY_MATH(sinh)
MQR__UNARY_MATH(cosh)
MQR__UNARY_MATH(tanh)
MQR__UNARY_MATH(asinh)
MQR__UNARY_MATH(acosh)
MQR__UNARY_MATH(atanh)
#undef MQR__UNARY_MATH

/* Two numbers in, finite double out. */
static int binary(mqr__fctx_t *cx, const mqr_value_t *args, double (*fn)(double, double),
                  mqr_value_t *out)
{
    double a, b;
    int rc = mqr__func_arg_num(cx, args, 0, &a);
    if (!rc)
        rc = mqr__func_arg_num(cx, args, 1, &b);
    return rc ? rc : mqr__func_ret_double(cx, fn(a, b), out);
}

int mqr__func_sql_power(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return binary(cx, args, pow, out);
}

int mqr__func_sql_fmod(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    return binary(cx, args, fmod, out);
}

/* xorshift64* (Vigna): the per-evaluation generator behind random() and
 * uuid_v4(). A zero state (which xorshift never leaves) is replaced by a fixed
 * odd constant. */
uint64_t mqr__func_rand64(mqr__fctx_t *cx)
{
    uint64_t x = *cx->rng;
    if (x == 0)
        x = 0x9E3779B97F4A7C15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *cx->rng = x;
    return x * 0x2545F4914F6CDD1Du;
}

int mqr__func_sql_random(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    if (!cx->rng)
        return mqr__func_error(cx, "no random number state in this evaluation");
    /* The top 53 bits scaled to [0, 1). */
    mqr_value_set_double(out, (double)(mqr__func_rand64(cx) >> 11) * (1.0 / 9007199254740992.0));
    return MQR_OK;
}

/* ---- §6.5 div / mod ---------------------------------------------------------------- */

/* Read two integer operands with a non-zero divisor. */
static int int_pair(mqr__fctx_t *cx, const mqr_value_t *args, int64_t *a, int64_t *b,
                    int nonzero)
{
    int rc = mqr__func_arg_int(cx, args, 0, a);
    if (!rc)
        rc = mqr__func_arg_int(cx, args, 1, b);
    if (!rc && nonzero && *b == 0)
        return mqr__func_error(cx, "division by zero");
    return rc;
}

int mqr__func_sql_div(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    int64_t a, b;
    int rc = int_pair(cx, args, &a, &b, 1);
    if (rc)
        return rc;
    if (a == INT64_MIN && b == -1)
        return overflow(cx);
    mqr_value_set_int(out, a / b); /* C truncates toward zero, as Erlang's div */
    return MQR_OK;
}

int mqr__func_sql_mod(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    int64_t a, b;
    int rc = int_pair(cx, args, &a, &b, 1);
    if (rc)
        return rc;
    /* The remainder takes the dividend's sign, as Erlang's rem; INT64_MIN % -1
     * is 0 but undefined behaviour in C. */
    mqr_value_set_int(out, b == -1 ? 0 : a % b);
    return MQR_OK;
}

/* eq(x, y): EMQX's eq/2, Erlang's `X == Y`: numbers by value (1 = 1.0),
 * arrays element-wise and objects by key, anything else exactly; never an
 * error (undefined equals undefined). */
int mqr__func_sql_eq(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    (void)cx;
    (void)argc;
    mqr_value_set_bool(out, mqr_value_equal(&args[0], &args[1]));
    return MQR_OK;
}

/* ---- §7.3 bitwise ------------------------------------------------------------------ */

int mqr__func_sql_bitnot(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    int64_t a;
    int rc = mqr__func_arg_int(cx, args, 0, &a);
    if (!rc)
        mqr_value_set_int(out, ~a);
    return rc;
}

#define MQR__BITOP(name, op)                                                               \
    int mqr__func_sql_##name(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,       \
                             mqr_value_t *out)                                              \
    {                                                                                       \
        int64_t a, b;                                                                       \
        int rc = int_pair(cx, args, &a, &b, 0);                                             \
        if (!rc)                                                                            \
            mqr_value_set_int(out, a op b);                                                 \
        return rc;                                                                          \
    }
MQR__BITOP(bitand, &)
MQR__BITOP(bitor, |)
MQR__BITOP(bitxor, ^)
#undef MQR__BITOP

/* Arithmetic shift of a by n (positive: left, negative: right), as Erlang's
 * bsl/bsr on unbounded integers; a left shift that loses bits fails. */
static int shift(mqr__fctx_t *cx, int64_t a, int64_t n, mqr_value_t *out)
{
    if (n >= 0) {
        if (a == 0) {
            mqr_value_set_int(out, 0);
            return MQR_OK;
        }
        if (n >= 64)
            return overflow(cx);
        int64_t r = (int64_t)((uint64_t)a << n);
        int64_t back = r < 0 ? ~(~r >> n) : r >> n;
        if (back != a || (r < 0) != (a < 0))
            return overflow(cx);
        mqr_value_set_int(out, r);
        return MQR_OK;
    }
    uint64_t m = n == INT64_MIN ? 64 : (uint64_t)-n;
    if (m >= 64)
        mqr_value_set_int(out, a < 0 ? -1 : 0);
    else
        mqr_value_set_int(out, a < 0 ? ~(~a >> m) : a >> m);
    return MQR_OK;
}

int mqr__func_sql_bitsl(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    int64_t a, n;
    int rc = int_pair(cx, args, &a, &n, 0);
    return rc ? rc : shift(cx, a, n, out);
}

int mqr__func_sql_bitsr(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    int64_t a, n;
    int rc = int_pair(cx, args, &a, &n, 0);
    if (rc)
        return rc;
    if (n == INT64_MIN) /* -n does not exist; any non-zero a overflows */
        return a == 0 ? shift(cx, 0, 0, out) : overflow(cx);
    return shift(cx, a, -n, out);
}

int mqr__func_sql_bitsize(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (!rc)
        mqr_value_set_int(out, (int64_t)len * 8);
    return rc;
}

/* Erlang's iolist_size/1: a string's bytes; an array is an iolist when each
 * item is a byte (an integer 0..255), a string or an iolist. Returns -1
 * otherwise; `depth` bounds the recursion. */
static int64_t iolist_size(const mqr_value_t *v, int depth)
{
    if (v->type == MQR_VAL_STRING)
        return (int64_t)v->len;
    if (v->type != MQR_VAL_ARRAY || depth > 64)
        return -1;
    int64_t n = 0;
    for (uint32_t k = 0; k < v->len; k++) {
        const mqr_value_t *it = &v->u.items[k];
        int64_t m = it->type == MQR_VAL_INT && it->u.i >= 0 && it->u.i <= 255
                        ? 1 : iolist_size(it, depth + 1);
        if (m < 0)
            return -1;
        n += m;
    }
    return n;
}

/* bytesize(iolist): emqx_rule_funcs:bytesize/1 is erlang:iolist_size/1, so an
 * array of bytes and strings counts too. */
int mqr__func_sql_bytesize(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    (void)argc;
    int64_t n = iolist_size(&args[0], 0);
    if (n < 0)
        return mqr__func_type_error(cx, "a string or an array of bytes (0..255) and strings",
                                    &args[0]);
    mqr_value_set_int(out, n);
    return MQR_OK;
}

/* ---- subbits ------------------------------------------------------------------------ */

#define SUB_INTEGER 0
#define SUB_FLOAT 1
#define SUB_BITS 2

/* Bit number `bit` (0 = most significant bit of byte 0) of s. */
static unsigned get_bit(const unsigned char *s, uint64_t bit)
{
    return (s[bit >> 3] >> (7 - (bit & 7))) & 1u;
}

/* Read `n` bits starting at bit `at` as a big-endian unsigned number into
 * *out. Fails (returns 1) when a 1 bit would be shifted out of 64 bits. */
static int read_bits(const unsigned char *s, uint64_t at, uint64_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (v >> 63)
            return 1;
        v = (v << 1) | get_bit(s, at + k);
    }
    *out = v;
    return 0;
}

/* Decode `sz` bits at bit `at` as an integer. Little endian follows Erlang:
 * the whole bytes come first, least significant first, and a trailing
 * partial byte holds the most significant bits. */
static int sub_integer(mqr__fctx_t *cx, const unsigned char *s, uint64_t at, uint64_t sz,
                       int is_signed, int little, mqr_value_t *out)
{
    uint64_t v = 0;
    if (!little) {
        if (read_bits(s, at, sz, &v))
            return overflow(cx);
    } else {
        uint64_t whole = sz / 8, rest = sz % 8, part = 0;
        if (sz > 64)
            return overflow(cx);
        for (uint64_t k = 0; k < whole; k++) {
            read_bits(s, at + k * 8, 8, &part);
            v |= part << (8 * k);
        }
        if (rest) {
            read_bits(s, at + whole * 8, rest, &part);
            v |= part << (8 * whole);
        }
    }
    if (is_signed && sz > 0 && sz <= 64 && (v >> (sz - 1)) & 1u) {
        /* Sign-extend from sz bits. */
        if (sz < 64)
            v |= ~(uint64_t)0 << sz;
        mqr_value_set_int(out, (int64_t)v);
        return MQR_OK;
    }
    if (v > (uint64_t)INT64_MAX)
        return overflow(cx);
    mqr_value_set_int(out, (int64_t)v);
    return MQR_OK;
}

/* Decode a half (16-bit) IEEE float held in the low bits of h. */
static double half_to_double(uint32_t h)
{
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    double d = e == 0 ? ldexp((double)m, -24) : ldexp((double)(m | 0x400u), (int)e - 25);
    return (h & 0x8000u) ? -d : d;
}

/* Decode a 16-, 32- or 64-bit IEEE float into *d. Returns 1 when Erlang's
 * float segment would not match: another size, or infinity / NaN bits. */
static int read_float(const unsigned char *s, uint64_t at, uint64_t sz, int little, double *d)
{
    unsigned char bytes[8];
    uint64_t v = 0, u = 0;
    if (sz != 16 && sz != 32 && sz != 64)
        return 1;
    for (uint64_t k = 0; k < sz / 8; k++) {
        read_bits(s, at + k * 8, 8, &v);
        bytes[little ? sz / 8 - 1 - k : k] = (unsigned char)v;
    }
    for (uint64_t k = 0; k < sz / 8; k++)
        u = u << 8 | bytes[k];
    if (sz == 16) {
        if (((u >> 10) & 0x1Fu) == 0x1Fu)
            return 1;
        *d = half_to_double((uint32_t)u);
    } else if (sz == 32) {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        *d = f;
    } else {
        memcpy(d, &u, sizeof *d);
    }
    return isfinite(*d) ? 0 : 1;
}

/* Copy sz bits at bit `at` as bytes (only whole bytes are representable). */
static int sub_bits(mqr__fctx_t *cx, const unsigned char *s, uint64_t at, uint64_t sz,
                    mqr_value_t *out)
{
    if (sz % 8)
        return mqr__func_error(cx, "a 'bits' result must be whole bytes, got %llu bits",
                               (unsigned long long)sz);
    char *p = mqr_arena_alloc(cx->arena, sz / 8 ? sz / 8 : 1);
    if (!p)
        return mqr__func_oom(cx);
    for (uint64_t k = 0; k < sz / 8; k++) {
        uint64_t v = 0;
        read_bits(s, at + k * 8, 8, &v);
        p[k] = (char)v;
    }
    mqr_value_set_string(out, p, sz / 8);
    return MQR_OK;
}

/* subbits(bin, len) | subbits(bin, start, len[, type[, signedness[, endianness]]])
 * start is 1-based in bits; undefined when start is below 1 or beyond the
 * data; a length that does not fit (negative, past the end, an invalid float
 * size) takes the whole remainder instead, as EMQX's get_subbits/6. */
int mqr__func_sql_subbits(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    static const char *const types[] = {"integer", "float", "bits"};
    static const char *const signs[] = {"unsigned", "signed"};
    static const char *const ends[] = {"big", "little"};
    const char *s;
    size_t len;
    int64_t start = 1, n;
    int type = SUB_INTEGER, sign = 0, end = 0;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (!rc && argc >= 3)
        rc = mqr__func_arg_int(cx, args, 1, &start);
    if (!rc)
        rc = mqr__func_arg_int(cx, args, argc >= 3 ? 2 : 1, &n);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 3, types, 3, SUB_INTEGER, &type);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 4, signs, 2, 0, &sign);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 5, ends, 2, 0, &end);
    if (rc)
        return rc;
    /* EMQX (emqx_rule_funcs:get_subbits/6) matches <<_:Start-1, Rem/bits>>
     * with Rem non-empty, else undefined: a start below 1 is a negative
     * size, which never matches. Then <<V:Len/Type, _/bits>>, and when that
     * does not match (Len negative or past the end, a float of another size
     * than 16/32/64 or not finite), <<V:Sz/Type>> with Sz the whole rest. */
    uint64_t total = (uint64_t)len * 8;
    if (start < 1 || (uint64_t)start - 1 >= total) {
        mqr_value_set_undefined(out);
        return MQR_OK;
    }
    uint64_t at = (uint64_t)start - 1, rest = total - at;
    const unsigned char *u = (const unsigned char *)s;
    int len_fits = n >= 0 && (uint64_t)n <= rest;
    if (type == SUB_FLOAT) {
        double d;
        if ((len_fits && !read_float(u, at, (uint64_t)n, end, &d)) ||
            !read_float(u, at, rest, end, &d))
            return mqr__func_ret_double(cx, d, out);
        return mqr__func_error(cx, "no float of %lld bits (nor of the %llu bits left) at bit %lld: "
                               "a float is 16, 32 or 64 bits and finite",
                               (long long)n, (unsigned long long)rest, (long long)start);
    }
    uint64_t sz = len_fits ? (uint64_t)n : rest;
    if (type == SUB_INTEGER)
        return sub_integer(cx, u, at, sz, sign, end, out);
    return sub_bits(cx, u, at, sz, out);
}
