/* SPDX-License-Identifier: MIT */
/*
 * func_util.c - helpers shared by the built-in SQL functions: argument
 * readers that produce EMQX-style "bad argument" messages naming the
 * function and the offending value, and result builders over the evaluation
 * arena (see func_util.h for the contracts).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "func_util.h"
#include "mqttrule/json.h"

void mqr__func_describe(const mqr_value_t *v, char *buf, size_t cap)
{
    switch (v->type) {
    case MQR_VAL_UNDEFINED: snprintf(buf, cap, "undefined"); break;
    case MQR_VAL_NULL: snprintf(buf, cap, "null"); break;
    case MQR_VAL_BOOL: snprintf(buf, cap, "%s", v->u.b ? "true" : "false"); break;
    case MQR_VAL_INT: snprintf(buf, cap, "integer %lld", (long long)v->u.i); break;
    case MQR_VAL_DOUBLE: snprintf(buf, cap, "float %.17g", v->u.d); break;
    case MQR_VAL_STRING: {
        int n = v->len > 24 ? 24 : (int)v->len;
        snprintf(buf, cap, "string \"%.*s%s\"", n, v->u.s, v->len > 24 ? "..." : "");
        break;
    }
    case MQR_VAL_ARRAY: snprintf(buf, cap, "array"); break;
    default: snprintf(buf, cap, "object"); break;
    }
}

int mqr__func_error(mqr__fctx_t *cx, const char *fmt, ...)
{
    if (cx && cx->diag) {
        char msg[MQR_DIAG_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        mqr__diag_set(cx->diag, MQR_EEVAL, "function '%s': %s", cx->fname ? cx->fname : "?",
                      msg);
    }
    return MQR_EEVAL;
}

int mqr__func_type_error(mqr__fctx_t *cx, const char *what, const mqr_value_t *v)
{
    char desc[64];
    mqr__func_describe(v, desc, sizeof desc);
    return mqr__func_error(cx, "expected %s, got %s", what, desc);
}

int mqr__func_oom(mqr__fctx_t *cx)
{
    return mqr__diag_set(cx->diag, MQR_ENOMEM, "function '%s': out of memory",
                         cx->fname ? cx->fname : "?");
}

int mqr__func_arg_str(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, const char **s,
                      size_t *len)
{
    if (args[i].type != MQR_VAL_STRING)
        return mqr__func_type_error(cx, "a string", &args[i]);
    *s = args[i].u.s;
    *len = args[i].len;
    return MQR_OK;
}

int mqr__func_arg_text(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, const char **s,
                       size_t *len)
{
    if (args[i].type == MQR_VAL_BOOL) {
        *s = args[i].u.b ? "true" : "false";
        *len = args[i].u.b ? 4 : 5;
        return MQR_OK;
    }
    return mqr__func_arg_str(cx, args, i, s, len);
}

int mqr__func_arg_int(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, int64_t *out)
{
    if (args[i].type != MQR_VAL_INT)
        return mqr__func_type_error(cx, "an integer", &args[i]);
    *out = args[i].u.i;
    return MQR_OK;
}

int mqr__func_arg_num(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, double *out)
{
    if (args[i].type == MQR_VAL_INT)
        *out = (double)args[i].u.i;
    else if (args[i].type == MQR_VAL_DOUBLE)
        *out = args[i].u.d;
    else
        return mqr__func_type_error(cx, "a number", &args[i]);
    return MQR_OK;
}

int mqr__func_arg_array(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i,
                        const mqr_value_t **out)
{
    if (args[i].type != MQR_VAL_ARRAY)
        return mqr__func_type_error(cx, "an array", &args[i]);
    *out = &args[i];
    return MQR_OK;
}

int mqr__func_arg_object(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i,
                         mqr_value_t *out)
{
    if (args[i].type == MQR_VAL_OBJECT) {
        *out = args[i];
        return MQR_OK;
    }
    if (args[i].type == MQR_VAL_STRING) {
        int rc = mqr__func_json_decode(cx, args[i].u.s, args[i].len, out, NULL);
        if (rc == MQR_ENOMEM)
            return rc;
        if (rc == MQR_OK && out->type == MQR_VAL_OBJECT)
            return MQR_OK;
    }
    return mqr__func_type_error(cx, "an object or a JSON object string", &args[i]);
}

int mqr__func_list_args(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        const mqr_value_t **items, uint32_t *n)
{
    *items = args;
    *n = argc;
    if (argc != 1)
        return MQR_OK;
    if (args[0].type != MQR_VAL_ARRAY)
        return mqr__func_type_error(cx, "an array", &args[0]);
    *items = args[0].u.items;
    *n = args[0].len;
    return MQR_OK;
}

int mqr__func_arg_word(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, uint32_t i,
                       const char *const *words, int n, int dflt, int *out)
{
    if (i >= argc) {
        *out = dflt;
        return MQR_OK;
    }
    for (int k = 0; k < n; k++)
        if (mqr__func_str_is(&args[i], words[k])) {
            *out = k;
            return MQR_OK;
        }
    char desc[64], list[160];
    size_t used = 0;
    for (int k = 0; k < n && used < sizeof list; k++) {
        const char *sep = k == 0 ? "" : (k == n - 1 ? " or " : ", ");
        int w = snprintf(list + used, sizeof list - used, "%s'%s'", sep, words[k]);
        used += w > 0 ? (size_t)w : 0;
    }
    mqr__func_describe(&args[i], desc, sizeof desc);
    return mqr__func_error(cx, "unknown option %s (expected %s)", desc, list);
}

int mqr__func_str_is(const mqr_value_t *v, const char *word)
{
    size_t n = strlen(word);
    return v->type == MQR_VAL_STRING && v->len == n && memcmp(v->u.s, word, n) == 0;
}

int mqr__func_ret_copy(mqr__fctx_t *cx, const char *s, size_t len, mqr_value_t *out)
{
    int rc = mqr_value_string_copy(cx->arena, s, len, out);
    if (rc == MQR_ENOMEM)
        return mqr__func_oom(cx);
    if (rc != MQR_OK)
        return mqr__func_error(cx, "string result too long");
    return MQR_OK;
}

int mqr__func_ret_sbuf(mqr__fctx_t *cx, mqr__sbuf_t *b, mqr_value_t *out)
{
    int rc = mqr__sbuf_status(b);
    if (rc == MQR_ENOMEM)
        return mqr__func_oom(cx);
    if (rc != MQR_OK || b->len > UINT32_MAX)
        return mqr__func_error(cx, "string result too long");
    mqr_value_set_string(out, b->len ? b->p : "", b->len);
    return MQR_OK;
}

int mqr__func_ret_double(mqr__fctx_t *cx, double d, mqr_value_t *out)
{
    if (!isfinite(d))
        return mqr__func_error(cx, "result is not a finite number");
    mqr_value_set_double(out, d);
    return MQR_OK;
}

int mqr__func_push(mqr__fctx_t *cx, mqr_value_t *arr, const mqr_value_t *item)
{
    return mqr_value_array_push(cx->arena, arr, item) == MQR_OK ? MQR_OK : mqr__func_oom(cx);
}

int mqr__func_put(mqr__fctx_t *cx, mqr_value_t *obj, const char *key, size_t key_len,
                  const mqr_value_t *val)
{
    return mqr_value_object_put(cx->arena, obj, key, key_len, val) == MQR_OK
               ? MQR_OK
               : mqr__func_oom(cx);
}

int mqr__func_json_decode(mqr__fctx_t *cx, const char *s, size_t len, mqr_value_t *out,
                          mqr_diag_t *why)
{
    int rc = mqr_json_parse(cx->arena, s, len, 0, out, why);
    if (rc == MQR_ENOMEM)
        return mqr__func_oom(cx);
    return rc == MQR_OK ? MQR_OK : MQR_EJSON;
}

/* The mqr_alloc_fn contract over an arena: allocate and resize from the
 * arena, never free (the arena is reset when the evaluation ends). */
static void *arena_alloc_fn(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    if (new_size == 0)
        return NULL;
    return mqr__arena_realloc((mqr_arena_t *)ud, ptr, old_size, new_size);
}

void mqr__func_arena_allocator(mqr__fctx_t *cx, mqr_allocator_t *out)
{
    out->fn = arena_alloc_fn;
    out->ud = cx->arena;
}
