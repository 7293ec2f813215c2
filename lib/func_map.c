/* SPDX-License-Identifier: MIT */
/*
 * func_map.c - the object (map) and array SQL functions (spec §7.7, §7.8).
 *
 * Values are shared references, so the writing functions (map_put, mput)
 * never modify their input: they copy the objects along the written path
 * into the arena and share everything else.
 *
 * map_get / map_put take a dotted path ('a.b' is key a, then key b) and are
 * lenient like EMQX's nested_get/nested_put: a string met on the way is
 * JSON-decoded, a miss yields the default, a non-object on the way is
 * replaced when writing. mget / mput and map_keys & co. use their key
 * literally and take what map() takes: an object, a string holding a JSON
 * object or a list of [key, value] pairs.
 */
#include <string.h>

#include "func_util.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* A shallow copy of object *src (or an empty object when src is NULL) with
 * room for one more member. */
static int copy_object(mqr__fctx_t *cx, const mqr_value_t *src, mqr_value_t *out)
{
    uint32_t n = src ? src->len : 0;
    if (mqr_value_object_new(cx->arena, (size_t)n + 1, out) != MQR_OK)
        return mqr__func_oom(cx);
    if (n) {
        memcpy(out->u.members, src->u.members, (size_t)n * sizeof *src->u.members);
        out->len = n;
    }
    return MQR_OK;
}

/* The object a map function should read or write through: the value itself,
 * or a JSON object decoded from a string. Returns 1 when *out is an object. */
static int as_object(mqr__fctx_t *cx, const mqr_value_t *v, mqr_value_t *out, int *rc)
{
    *rc = MQR_OK;
    if (v->type == MQR_VAL_OBJECT) {
        *out = *v;
        return 1;
    }
    if (v->type == MQR_VAL_STRING) {
        *rc = mqr__func_json_decode(cx, v->u.s, v->len, out, NULL);
        if (*rc == MQR_EJSON)
            *rc = MQR_OK;
        else if (*rc == MQR_OK)
            return out->type == MQR_VAL_OBJECT;
    }
    return 0;
}

/* Length of the first dotted segment of path[0..len). */
static size_t segment(const char *path, size_t len)
{
    const char *dot = memchr(path, '.', len);
    return dot ? (size_t)(dot - path) : len;
}

/* ---- §7.7 maps --------------------------------------------------------------------- */

int mqr__func_sql_map_new(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    return mqr_value_object_new(cx->arena, 0, out) == MQR_OK ? MQR_OK : mqr__func_oom(cx);
}

/* map_get(path, obj[, default]): walk the dotted path; a miss anywhere gives
 * the default (undefined without one). */
int mqr__func_sql_map_get(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    const char *path;
    size_t len;
    int rc = mqr__func_arg_str(cx, args, 0, &path, &len);
    if (rc)
        return rc;
    mqr_value_t cur = args[1];
    for (;;) {
        mqr_value_t obj;
        size_t seg = segment(path, len);
        const mqr_value_t *m = NULL;
        if (as_object(cx, &cur, &obj, &rc))
            m = mqr_value_object_get(&obj, path, seg);
        if (rc)
            return rc;
        if (!m)
            break;
        if (seg == len) {
            *out = *m;
            return MQR_OK;
        }
        cur = *m;
        path += seg + 1;
        len -= seg + 1;
    }
    if (argc == 3)
        *out = args[2];
    else
        mqr_value_set_undefined(out);
    return MQR_OK;
}

/* Put val at the dotted path into a copy of `base` (any value: a non-object
 * starts a new object), copying only the objects along the path. */
static int put_path(mqr__fctx_t *cx, const mqr_value_t *base, const char *path, size_t len,
                    const mqr_value_t *val, mqr_value_t *out)
{
    mqr_value_t obj;
    int rc;
    int is_obj = as_object(cx, base, &obj, &rc);
    if (rc)
        return rc;
    if ((rc = copy_object(cx, is_obj ? &obj : NULL, out)))
        return rc;
    size_t seg = segment(path, len);
    if (seg == len)
        return mqr__func_put(cx, out, path, len, val);
    const mqr_value_t *child = mqr_value_object_get(out, path, seg);
    mqr_value_t none, sub;
    mqr_value_set_undefined(&none);
    if ((rc = put_path(cx, child ? child : &none, path + seg + 1, len - seg - 1, val, &sub)))
        return rc;
    return mqr__func_put(cx, out, path, seg, &sub);
}

/* map_put(path, value, obj): obj with value written at the dotted path;
 * missing levels are created, non-object levels replaced. */
int mqr__func_sql_map_put(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    const char *path;
    size_t len;
    int rc = mqr__func_arg_str(cx, args, 0, &path, &len);
    return rc ? rc : put_path(cx, &args[2], path, len, &args[1], out);
}

/* mget(key, obj[, default]): the member with this literal key. */
int mqr__func_sql_mget(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    const char *key;
    size_t len;
    mqr_value_t obj;
    int rc = mqr__func_arg_str(cx, args, 0, &key, &len);
    if (!rc)
        rc = mqr__func_sql_map(cx, &args[1], 1, &obj);
    if (rc)
        return rc;
    const mqr_value_t *m = mqr_value_object_get(&obj, key, len);
    if (m)
        *out = *m;
    else if (argc == 3)
        *out = args[2];
    else
        mqr_value_set_undefined(out);
    return MQR_OK;
}

/* mput(key, value, obj): a copy of obj with the literal key set. */
int mqr__func_sql_mput(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    const char *key;
    size_t len;
    mqr_value_t obj;
    int rc = mqr__func_arg_str(cx, args, 0, &key, &len);
    if (!rc)
        rc = mqr__func_sql_map(cx, &args[2], 1, &obj);
    if (!rc)
        rc = copy_object(cx, &obj, out);
    return rc ? rc : mqr__func_put(cx, out, key, len, &args[1]);
}

#define KEYS 0
#define VALUES 1
#define ENTRIES 2

/* map_keys / map_values / map_to_entries: one array item per member. */
static int members(mqr__fctx_t *cx, const mqr_value_t *args, int what, mqr_value_t *out)
{
    mqr_value_t obj;
    int rc = mqr__func_sql_map(cx, args, 1, &obj);
    if (rc)
        return rc;
    if (mqr_value_array_new(cx->arena, obj.len, out) != MQR_OK)
        return mqr__func_oom(cx);
    for (uint32_t i = 0; i < obj.len && !rc; i++) {
        const mqr_member_t *m = &obj.u.members[i];
        mqr_value_t item, k;
        mqr_value_set_string(&k, m->key, m->key_len);
        if (what == KEYS)
            item = k;
        else if (what == VALUES)
            item = m->value;
        else if (mqr_value_object_new(cx->arena, 2, &item) != MQR_OK)
            return mqr__func_oom(cx);
        else if ((rc = mqr__func_put(cx, &item, "key", 3, &k)) ||
                 (rc = mqr__func_put(cx, &item, "value", 5, &m->value)))
            return rc;
        rc = mqr__func_push(cx, out, &item);
    }
    return rc;
}

int mqr__func_sql_map_keys(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    return members(cx, args, KEYS, out);
}

int mqr__func_sql_map_values(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                             mqr_value_t *out)
{
    return members(cx, args, VALUES, out);
}

int mqr__func_sql_map_to_entries(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                 mqr_value_t *out)
{
    return members(cx, args, ENTRIES, out);
}

/* map_size(x): members of an object, a JSON object string, or a list of
 * [key, value] pairs (after merging duplicate keys, as map() does). */
int mqr__func_sql_map_size(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    mqr_value_t obj;
    int rc = mqr__func_sql_map(cx, args, 1, &obj);
    if (!rc)
        mqr_value_set_int(out, obj.len);
    return rc;
}

/* ---- §7.8 arrays ------------------------------------------------------------------- */

/* nth(n, arr): the n-th item, 1-based; out of range is an error. */
int mqr__func_sql_nth(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                      mqr_value_t *out)
{
    int64_t n;
    const mqr_value_t *arr;
    int rc = mqr__func_arg_int(cx, args, 0, &n);
    if (!rc)
        rc = mqr__func_arg_array(cx, args, 1, &arr);
    if (rc)
        return rc;
    if (n < 1 || (uint64_t)n > arr->len)
        return mqr__func_error(cx, "index %lld out of range 1..%u", (long long)n, arr->len);
    *out = arr->u.items[n - 1];
    return MQR_OK;
}

int mqr__func_sql_length(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    const mqr_value_t *arr;
    int rc = mqr__func_arg_array(cx, args, 0, &arr);
    if (!rc)
        mqr_value_set_int(out, arr->len);
    return rc;
}

/* sublist(len, arr) | sublist(start, len, arr): up to len items from the
 * 1-based start; a start past the end gives []. */
int mqr__func_sql_sublist(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    int64_t start = 1, n;
    const mqr_value_t *arr;
    int rc = argc == 3 ? mqr__func_arg_int(cx, args, 0, &start) : MQR_OK;
    if (!rc)
        rc = mqr__func_arg_int(cx, args, argc - 2, &n);
    if (!rc)
        rc = mqr__func_arg_array(cx, args, argc - 1, &arr);
    if (rc)
        return rc;
    if (start < 1 || n < 0)
        return mqr__func_error(cx, "start must be >= 1 and length >= 0, got %lld and %lld",
                               (long long)start, (long long)n);
    uint64_t from = (uint64_t)start - 1, cnt = 0;
    if (from < arr->len)
        cnt = arr->len - from < (uint64_t)n ? arr->len - from : (uint64_t)n;
    if (mqr_value_array_new(cx->arena, (size_t)cnt, out) != MQR_OK)
        return mqr__func_oom(cx);
    for (uint64_t i = 0; i < cnt && !rc; i++)
        rc = mqr__func_push(cx, out, &arr->u.items[from + i]);
    return rc;
}

/* first(arr) / last(arr): an empty array is an error. */
static int end_item(mqr__fctx_t *cx, const mqr_value_t *args, int last, mqr_value_t *out)
{
    const mqr_value_t *arr;
    int rc = mqr__func_arg_array(cx, args, 0, &arr);
    if (rc)
        return rc;
    if (arr->len == 0)
        return mqr__func_error(cx, "the array is empty");
    *out = arr->u.items[last ? arr->len - 1 : 0];
    return MQR_OK;
}

int mqr__func_sql_first(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return end_item(cx, args, 0, out);
}

int mqr__func_sql_last(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    return end_item(cx, args, 1, out);
}

/* contains(x, arr): true when an item is exactly equal (same type) to x. */
int mqr__func_sql_contains(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    const mqr_value_t *arr;
    int rc = mqr__func_arg_array(cx, args, 1, &arr);
    if (rc)
        return rc;
    int found = 0;
    for (uint32_t i = 0; i < arr->len && !found; i++)
        found = mqr__value_exact_equal(&args[0], &arr->u.items[i]);
    mqr_value_set_bool(out, found);
    return MQR_OK;
}
