/* SPDX-License-Identifier: MIT */
/*
 * func_misc.c - the message/context helpers (spec §7.1: topic(), clientid(),
 * payload(path), flag(name), contains_topic..., coalesce...) and the
 * miscellaneous functions of §7.11 (uuid_v4, getenv).
 *
 * Context helpers read the event's columns through cx->lookup and the
 * JSON-decoded payload through cx->payload_json; in WHERE (cx->in_where) they
 * return undefined, as EMQX's helpers do there. uuid_v4 draws from the
 * evaluation's xorshift64* state cx->rng.
 */
#include <stdlib.h>
#include <string.h>

#include "func_util.h"
#include "mqttrule/packet.h"

/* ---- §7.1 column helpers ------------------------------------------------------- */

/* The column `name`, or undefined (in WHERE, without a lookup, or absent). */
static int column(mqr__fctx_t *cx, const char *name, mqr_value_t *out)
{
    const mqr_value_t *v = NULL;
    if (!cx->in_where && cx->lookup)
        v = cx->lookup(cx->ud, name, strlen(name));
    if (v)
        *out = *v;
    else
        mqr_value_set_undefined(out);
    return MQR_OK;
}

#define MQR__COLUMN(fn, col)                                                               \
    int mqr__func_sql_##fn(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,         \
                           mqr_value_t *out)                                                \
    {                                                                                       \
        return column(cx, col, out);                                                        \
    }
MQR__COLUMN(msgid, "id")
MQR__COLUMN(qos, "qos")
MQR__COLUMN(clientid, "clientid")
MQR__COLUMN(username, "username")
MQR__COLUMN(peerhost, "peerhost")
MQR__COLUMN(clientip, "peerhost")
#undef MQR__COLUMN

/* flags(): the flags column; {} when the event has none (EMQX's default),
 * undefined in WHERE. */
int mqr__func_sql_flags(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    column(cx, "flags", out);
    if (out->type == MQR_VAL_UNDEFINED && !cx->in_where &&
        mqr_value_object_new(cx->arena, 0, out) != MQR_OK)
        return mqr__func_oom(cx);
    return MQR_OK;
}

/* topic() is the topic column; topic(n) its n-th level (1-based), an error
 * when the topic has fewer levels. */
int mqr__func_sql_topic(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    int64_t n;
    int rc = argc ? mqr__func_arg_int(cx, args, 0, &n) : MQR_OK;
    if (rc || (rc = column(cx, "topic", out)) || argc == 0 || out->type != MQR_VAL_STRING)
        return rc;
    const char *s = out->u.s, *end = s + out->len;
    for (int64_t level = 1;; level++) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *stop = slash ? slash : end;
        if (level == n) {
            mqr_value_set_string(out, s, (size_t)(stop - s));
            return MQR_OK;
        }
        if (!slash)
            break;
        s = slash + 1;
    }
    return mqr__func_error(cx, "topic has no level %lld", (long long)n);
}

/* flag(name): the member `name` of the flags column. */
int mqr__func_sql_flag(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    const char *name;
    size_t len;
    mqr_value_t flags;
    int rc = mqr__func_arg_str(cx, args, 0, &name, &len);
    if (rc || (rc = column(cx, "flags", &flags)))
        return rc;
    const mqr_value_t *m = mqr_value_object_get(&flags, name, len);
    if (m)
        *out = *m;
    else
        mqr_value_set_undefined(out);
    return MQR_OK;
}

/* payload() is the raw payload column; payload(path) walks the dotted path
 * in the JSON-decoded payload (undefined when the payload is not JSON). */
int mqr__func_sql_payload(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    if (argc == 0)
        return column(cx, "payload", out);
    if (args[0].type != MQR_VAL_STRING)
        return mqr__func_type_error(cx, "a string", &args[0]);
    const mqr_value_t *json = cx->in_where || !cx->payload_json ? NULL : cx->payload_json(cx->ud);
    if (!json) {
        mqr_value_set_undefined(out);
        return MQR_OK;
    }
    mqr_value_t a[2] = {args[0], *json};
    return mqr__func_sql_map_get(cx, a, 2, out);
}

/* ---- subscription lists ------------------------------------------------------------ */

/* The topic and qos of a subscription list item: an object {topic, qos}, a
 * [topic, qos] pair or a bare topic string. Returns 0 when it has no topic. */
static int sub_item(const mqr_value_t *it, const mqr_value_t **topic, const mqr_value_t **qos)
{
    *qos = NULL;
    if (it->type == MQR_VAL_OBJECT) {
        *topic = mqr_value_object_get(it, "topic", 5);
        *qos = mqr_value_object_get(it, "qos", 3);
    } else if (it->type == MQR_VAL_ARRAY && it->len == 2) {
        *topic = &it->u.items[0];
        *qos = &it->u.items[1];
    } else {
        *topic = it;
    }
    return *topic && (*topic)->type == MQR_VAL_STRING;
}

/* contains_topic / contains_topic_match: true when an item's topic equals
 * (or, matching, is a filter matching) the topic, and with a qos argument
 * the item's qos equals it. */
static int contains_topic(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, int match,
                          mqr_value_t *out)
{
    const mqr_value_t *list;
    const char *t;
    size_t tlen;
    int rc = mqr__func_arg_array(cx, args, 0, &list);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &t, &tlen);
    if (rc)
        return rc;
    int found = 0;
    for (uint32_t i = 0; i < list->len && !found; i++) {
        const mqr_value_t *topic, *qos;
        if (!sub_item(&list->u.items[i], &topic, &qos))
            continue;
        if (match)
            found = mqr_topic_match(topic->u.s, topic->len, t, tlen);
        else
            found = topic->len == tlen && memcmp(topic->u.s, t, tlen) == 0;
        if (found && argc == 3)
            found = qos && mqr__value_exact_equal(qos, &args[2]);
    }
    mqr_value_set_bool(out, found);
    return MQR_OK;
}

int mqr__func_sql_contains_topic(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                 mqr_value_t *out)
{
    return contains_topic(cx, args, argc, 0, out);
}

int mqr__func_sql_contains_topic_match(mqr__fctx_t *cx, const mqr_value_t *args,
                                       uint32_t argc, mqr_value_t *out)
{
    return contains_topic(cx, args, argc, 1, out);
}

/* ---- null / coalesce ------------------------------------------------------------- */

int mqr__func_sql_null(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    mqr_value_set_undefined(out);
    return MQR_OK;
}

/* coalesce(a, b, ...) or coalesce([a, b, ...]): the first value that is
 * not undefined (and, for coalesce_ne, not ""); undefined if none. */
static int coalesce(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, int ne,
                    mqr_value_t *out)
{
    const mqr_value_t *items;
    uint32_t n;
    int rc = mqr__func_list_args(cx, args, argc, &items, &n);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        const mqr_value_t *v = &items[i];
        if (v->type == MQR_VAL_UNDEFINED || (ne && v->type == MQR_VAL_STRING && v->len == 0))
            continue;
        *out = *v;
        return MQR_OK;
    }
    mqr_value_set_undefined(out);
    return MQR_OK;
}

int mqr__func_sql_coalesce(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    return coalesce(cx, args, argc, 0, out);
}

int mqr__func_sql_coalesce_ne(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                              mqr_value_t *out)
{
    return coalesce(cx, args, argc, 1, out);
}

/* ---- §7.11 ------------------------------------------------------------------------ */

/* A random (version 4, RFC 4122 variant) UUID in lower-case hex, with or
 * without the hyphens. */
static int uuid(mqr__fctx_t *cx, int hyphens, mqr_value_t *out)
{
    static const char hex[] = "0123456789abcdef";
    if (!cx->rng)
        return mqr__func_error(cx, "no random number state in this evaluation");
    uint8_t b[16];
    uint64_t r0 = mqr__func_rand64(cx), r1 = mqr__func_rand64(cx);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(r0 >> (8 * i));
        b[8 + i] = (uint8_t)(r1 >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    char text[36];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (hyphens && (i == 4 || i == 6 || i == 8 || i == 10))
            text[n++] = '-';
        text[n++] = hex[b[i] >> 4];
        text[n++] = hex[b[i] & 15];
    }
    return mqr__func_ret_copy(cx, text, n, out);
}

int mqr__func_sql_uuid_v4(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    return uuid(cx, 1, out);
}

int mqr__func_sql_uuid_v4_no_hyphen(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                    mqr_value_t *out)
{
    return uuid(cx, 0, out);
}

/* getenv(name): the process environment variable EMQXVAR_<name> read at
 * call time, "" when unset. getenv() reads global state without changing it;
 * it is safe as long as the host does not call setenv() concurrently. */
int mqr__func_sql_getenv(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    static const char prefix[] = "EMQXVAR_";
    const char *name;
    size_t len;
    char var[256];
    int rc = mqr__func_arg_str(cx, args, 0, &name, &len);
    if (rc)
        return rc;
    const char *val = NULL;
    if (len + sizeof prefix <= sizeof var && !memchr(name, '\0', len) && !memchr(name, '=', len)) {
        memcpy(var, prefix, sizeof prefix - 1);
        memcpy(var + sizeof prefix - 1, name, len);
        var[sizeof prefix - 1 + len] = '\0';
        val = getenv(var);
    }
    return mqr__func_ret_copy(cx, val ? val : "", val ? strlen(val) : 0, out);
}
