/* SPDX-License-Identifier: MIT */
/*
 * func_conv.c - type checks (spec §7.4), conversions (§7.5: str, int,
 * float, float2str, bool, map) and json_encode / json_decode (§7.9).
 *
 * Text rendering is delegated to mqr__value_to_text and JSON to the json
 * module so that str(), templates and the output encoder agree byte for byte.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "func_util.h"

/* ---- §7.4 type checks ---------------------------------------------------------- */

/* Every is_* function returns a boolean of a predicate on its one argument. */
#define MQR__IS(name, expr)                                                                \
    int mqr__func_sql_##name(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,       \
                             mqr_value_t *out)                                              \
    {                                                                                       \
        uint8_t t = args[0].type;                                                           \
        (void)t;                                                                            \
        mqr_value_set_bool(out, (expr));                                                    \
        return MQR_OK;                                                                      \
    }
MQR__IS(is_null, t == MQR_VAL_UNDEFINED)
MQR__IS(is_not_null, t != MQR_VAL_UNDEFINED)
MQR__IS(is_null_var, t == MQR_VAL_UNDEFINED || t == MQR_VAL_NULL)
MQR__IS(is_not_null_var, t != MQR_VAL_UNDEFINED && t != MQR_VAL_NULL)
/* Erlang's is_binary: atom-valued columns (reason codes, event names) are
 * not strings here, exactly as in EMQX. */
MQR__IS(is_str, t == MQR_VAL_STRING && !(args[0].flags & MQR_VALF_ATOM))
MQR__IS(is_bool, t == MQR_VAL_BOOL)
MQR__IS(is_int, t == MQR_VAL_INT)
MQR__IS(is_float, t == MQR_VAL_DOUBLE)
MQR__IS(is_num, t == MQR_VAL_INT || t == MQR_VAL_DOUBLE)
MQR__IS(is_map, t == MQR_VAL_OBJECT)
MQR__IS(is_array, t == MQR_VAL_ARRAY)
#undef MQR__IS

/* is_empty: [], "", {} and a string holding the JSON object {} are empty;
 * every other value is not. */
int mqr__func_sql_is_empty(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    const mqr_value_t *v = &args[0];
    int empty = 0;
    if (v->type == MQR_VAL_ARRAY || v->type == MQR_VAL_OBJECT)
        empty = v->len == 0;
    else if (v->type == MQR_VAL_STRING && v->len == 0)
        empty = 1;
    else if (v->type == MQR_VAL_STRING) {
        mqr_value_t d;
        int rc = mqr__func_json_decode(cx, v->u.s, v->len, &d, NULL);
        if (rc == MQR_ENOMEM)
            return rc;
        empty = rc == MQR_OK && d.type == MQR_VAL_OBJECT && d.len == 0;
    }
    mqr_value_set_bool(out, empty);
    return MQR_OK;
}

/* ---- §7.5 conversions ----------------------------------------------------------- */

/* str(x) and str_utf8(x): the text rendering of §7.5 (strings are already
 * UTF-8 bytes, so both are the same). */
int mqr__func_sql_str(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    if (args[0].type == MQR_VAL_STRING) {
        mqr_value_set_string(out, args[0].u.s, args[0].len);
        return MQR_OK;
    }
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    mqr__value_to_text(&b, &args[0]);
    return mqr__func_ret_sbuf(cx, &b, out);
}

int mqr__func_sql_str_utf8(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    return mqr__func_sql_str(cx, args, argc, out);
}

/* 2^63 as a double: the first value above the int64 range. */
#define TWO_POW_63 9223372036854775808.0

static int floor_to_int(mqr__fctx_t *cx, double d, mqr_value_t *out)
{
    d = floor(d);
    if (!(d >= -TWO_POW_63 && d < TWO_POW_63))
        return mqr__func_error(cx, "integer overflow: %.17g does not fit in 64 bits", d);
    mqr_value_set_int(out, (int64_t)d);
    return MQR_OK;
}

/* Parse a string as EMQX's number conversions do: integer syntax first (an
 * optional '+' or '-'), else float syntax. MQR_OK with *is_int telling which,
 * MQR_EOVERFLOW for an integer outside int64 (*is_int 1) or a float beyond
 * the double range (*is_int 0), MQR_EINVAL otherwise. */
static int parse_number(const char *s, size_t len, int *is_int, int64_t *i, double *d)
{
    const char *p = s;
    size_t n = len;
    if (n > 1 && p[0] == '+' && p[1] != '-' && p[1] != '+') {
        p++;
        n--;
    }
    int rc = mqr__parse_int(p, n, i);
    if (rc == MQR_OK || rc == MQR_EOVERFLOW) {
        *is_int = 1;
        return rc;
    }
    *is_int = 0;
    rc = mqr__parse_double(p, n, d);
    if (rc == MQR_EOVERFLOW)
        return rc;
    return rc == MQR_OK && isfinite(*d) ? MQR_OK : MQR_EINVAL;
}

/* int(x): integers as they are, floats floored, booleans 1/0, numeric
 * strings parsed (a float string is floored: "1.0" -> 1, "3.1415e2" -> 314). */
int mqr__func_sql_int(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    const mqr_value_t *v = &args[0];
    switch (v->type) {
    case MQR_VAL_INT: *out = *v; return MQR_OK;
    case MQR_VAL_DOUBLE: return floor_to_int(cx, v->u.d, out);
    case MQR_VAL_BOOL: mqr_value_set_int(out, v->u.b ? 1 : 0); return MQR_OK;
    case MQR_VAL_STRING: {
        int is_int, rc;
        int64_t i;
        double d;
        rc = parse_number(v->u.s, v->len, &is_int, &i, &d);
        if (rc == MQR_EOVERFLOW)
            return mqr__func_error(cx, "integer overflow: \"%.*s\" does not fit in 64 bits",
                                   (int)(v->len > 40 ? 40 : v->len), v->u.s);
        if (rc != MQR_OK)
            break;
        if (is_int) {
            mqr_value_set_int(out, i);
            return MQR_OK;
        }
        return floor_to_int(cx, d, out);
    }
    default: break;
    }
    return mqr__func_type_error(cx, "a number, a boolean or a numeric string", v);
}

/* The float conversion of v: numbers and numeric strings. */
static int to_double(mqr__fctx_t *cx, const mqr_value_t *v, double *out)
{
    if (v->type == MQR_VAL_INT) {
        *out = (double)v->u.i;
        return MQR_OK;
    }
    if (v->type == MQR_VAL_DOUBLE) {
        *out = v->u.d;
        return MQR_OK;
    }
    if (v->type == MQR_VAL_STRING) {
        int is_int;
        int64_t i;
        int rc = parse_number(v->u.s, v->len, &is_int, &i, out);
        if (rc == MQR_OK && is_int)
            *out = (double)i;
        if (rc == MQR_OK)
            return MQR_OK;
        if (rc == MQR_EOVERFLOW && !is_int)
            return mqr__func_error(cx, "float overflow: \"%.*s\" is beyond the double range",
                                   (int)(v->len > 40 ? 40 : v->len), v->u.s);
    }
    return mqr__func_type_error(cx, "a number or a numeric string", v);
}

/* float(x) and float(x, decimals): the latter rounds to `decimals` places
 * (1..253) the way Erlang does it, by printing the decimal text with that
 * many places (correctly rounded) and reading it back. */
int mqr__func_sql_float(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    double d;
    int64_t dec;
    int rc = to_double(cx, &args[0], &d);
    if (rc || argc == 1)
        return rc ? rc : mqr__func_ret_double(cx, d, out);
    if ((rc = mqr__func_arg_int(cx, args, 1, &dec)))
        return rc;
    if (dec < 1 || dec > 253)
        return mqr__func_error(cx, "decimals must be 1..253, got %lld", (long long)dec);
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    mqr__sbuf_put_fixed(&b, d, (int)dec, 0);
    if ((rc = mqr__sbuf_status(&b)))
        return mqr__func_ret_sbuf(cx, &b, out);
    if (mqr__strtod(b.p, b.len, &d) != MQR_OK)
        return mqr__func_error(cx, "result is not a finite number");
    return mqr__func_ret_double(cx, d, out);
}

/* float2str(f, decimals): fixed notation with `decimals` places (correctly
 * rounded, as printf), then trailing zeros trimmed keeping one decimal
 * (Erlang's float_to_binary with [{decimals, N}, compact]). */
int mqr__func_sql_float2str(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                            mqr_value_t *out)
{
    int64_t dec;
    int rc;
    if (args[0].type != MQR_VAL_DOUBLE)
        return mqr__func_type_error(cx, "a float", &args[0]);
    if ((rc = mqr__func_arg_int(cx, args, 1, &dec)))
        return rc;
    if (dec < 0 || dec > 253)
        return mqr__func_error(cx, "decimals must be 0..253, got %lld", (long long)dec);
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    mqr__sbuf_put_fixed(&b, args[0].u.d, (int)dec, 1);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* bool(x): true, "true", 1, 1.0 -> true; false, "false", 0, 0.0 -> false. */
int mqr__func_sql_bool(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    const mqr_value_t *v = &args[0];
    int r = -1;
    if (v->type == MQR_VAL_BOOL)
        r = v->u.b != 0;
    else if (v->type == MQR_VAL_INT && (v->u.i == 0 || v->u.i == 1))
        r = (int)v->u.i;
    else if (v->type == MQR_VAL_DOUBLE && (v->u.d == 0.0 || v->u.d == 1.0))
        r = v->u.d == 1.0;
    else if (mqr__func_str_is(v, "true"))
        r = 1;
    else if (mqr__func_str_is(v, "false"))
        r = 0;
    if (r < 0)
        return mqr__func_type_error(cx, "true, false, 1, 0, \"true\" or \"false\"", v);
    mqr_value_set_bool(out, r);
    return MQR_OK;
}

/* map(x): an object as it is, a JSON object string decoded, or an array of
 * [key, value] pairs (string keys) turned into an object. */
int mqr__func_sql_map(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    const mqr_value_t *v = &args[0];
    if (v->type != MQR_VAL_ARRAY)
        return mqr__func_arg_object(cx, args, 0, out);
    if (mqr_value_object_new(cx->arena, v->len, out) != MQR_OK)
        return mqr__func_oom(cx);
    for (uint32_t i = 0; i < v->len; i++) {
        const mqr_value_t *pair = &v->u.items[i];
        if (pair->type != MQR_VAL_ARRAY || pair->len != 2 ||
            pair->u.items[0].type != MQR_VAL_STRING)
            return mqr__func_type_error(cx, "a [key, value] pair with a string key", pair);
        const mqr_value_t *k = &pair->u.items[0];
        int rc = mqr__func_put(cx, out, k->u.s, k->len, &pair->u.items[1]);
        if (rc)
            return rc;
    }
    return MQR_OK;
}

/* ---- §7.9 JSON -------------------------------------------------------------------- */

/* json_encode(x): compact JSON as the output encoder writes it (§1.2), with
 * the engine's undefined rendering (D4) from cx->json_flags. */
int mqr__func_sql_json_encode(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    mqr__json_write(&b, &args[0], cx->json_flags);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* json_decode(s): JSON text to a value; invalid JSON is an evaluation error. */
int mqr__func_sql_json_decode(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    mqr_diag_t why;
    mqr_diag_clear(&why);
    rc = mqr__func_json_decode(cx, s, len, out, &why);
    if (rc == MQR_EJSON) {
        char desc[64];
        mqr__func_describe(&args[0], desc, sizeof desc);
        if (why.code == MQR_ELIMIT)
            return mqr__func_error(cx, "JSON in %s is beyond the reader's limits: %s", desc,
                                   why.message);
        return mqr__func_error(cx, "invalid JSON in %s: %s", desc, why.message);
    }
    return rc;
}
