/* SPDX-License-Identifier: MIT */
/*
 * rule_test.c - the columns of a rule-test context (EMQX's "SQL test", spec
 * §11.1), shared by mqttrule-sql and the Python bindings.
 *
 * A context is an object naming its trigger in `event_type`. For a schema
 * event, the columns are the event's fields in table order, each taken from
 * the context or else from the field's example (JSON text, the clock, a
 * fresh message id, the node, or nothing), then the context's extra fields
 * in context order. client_connack's reason_code is named per the naming
 * profile (decision D1); a message's payload is kept raw, or encoded as JSON
 * text when the context gives another JSON value. Bridge sources keep the
 * context as given. Whether the rule's FROM accepts the trigger is decided
 * here too, since it depends on the same reading of the context.
 *
 * Everything is allocated in the caller's arena; nothing is kept.
 */
#include <stdio.h>
#include <string.h>

#include "mqttrule/event.h"
#include "mqttrule/json.h"
#include "mqttrule/reason.h"
#include "mqttrule/rule_test.h"

#include "internal.h"

/* One build: the arena, the options (never NULL here) and the node name. */
typedef struct tb {
    mqr_arena_t *arena;
    const mqr_rule_test_options_t *o;
    const char *node;
} tb_t;

static const mqr_value_t *ctx_get(const mqr_value_t *ctx, const char *name)
{
    return mqr_value_object_get(ctx, name, strlen(name));
}

/* Copy a NUL-terminated string into the arena as a string value. */
static int put_text(tb_t *t, mqr_value_t *obj, const char *key, const char *text, int atom)
{
    mqr_value_t v;
    int rc = mqr_value_string_copy(t->arena, text, strlen(text), &v);
    if (rc != MQR_OK)
        return rc;
    if (atom)
        v.flags |= MQR_VALF_ATOM;
    return mqr_value_object_put(t->arena, obj, key, strlen(key), &v);
}

/* client.connack's reason_code (D1): a string in the context is kept; a
 * number, or none (the example: success), is named per the names profile
 * for the context's proto_ver (example 5). */
static int connack_reason(tb_t *t, const mqr_value_t *ctx, mqr_value_t *cols)
{
    const mqr_value_t *rc_v = ctx_get(ctx, "reason_code");
    if (rc_v && rc_v->type == MQR_VAL_STRING) {
        mqr_value_t v = *rc_v;
        v.flags |= MQR_VALF_ATOM;
        return mqr_value_object_put(t->arena, cols, "reason_code", 11, &v);
    }
    const mqr_value_t *pv = ctx_get(ctx, "proto_ver");
    int proto_ver = pv && pv->type == MQR_VAL_INT ? (int)pv->u.i : 5;
    int code = rc_v && rc_v->type == MQR_VAL_INT ? (int)rc_v->u.i : 0;
    const char *name = NULL;
    int rc = mqr_reason_connack_name(t->o->names, code, proto_ver, 1, &name);
    if (rc != MQR_OK)
        return rc;
    return put_text(t, cols, "reason_code", name, 1);
}

/* The example value of a field the context leaves out; *skip is set for a
 * field the example leaves undefined. */
static int example_value(tb_t *t, const mqr_event_field_t *f, mqr_value_t *out, int *skip)
{
    char id[33];
    uint64_t seq = 1;
    *skip = 0;
    switch (f->example_kind) {
    case MQR_EVEX_JSON:
        return mqr_json_parse(t->arena, f->example, strlen(f->example), 0, out, NULL);
    case MQR_EVEX_NOW_MS:
        mqr_value_set_int(out, t->o->now_ms);
        return MQR_OK;
    case MQR_EVEX_MESSAGE_ID:
        /* A fresh id per context: the clock and a counter, 32 upper-case hex. */
        if (t->o->id_seq)
            seq = ++*t->o->id_seq;
        snprintf(id, sizeof id, "%016llX%016llX", (unsigned long long)t->o->now_ms,
                 (unsigned long long)seq);
        return mqr_value_string_copy(t->arena, id, 32, out);
    case MQR_EVEX_NODE:
        return mqr_value_string_copy(t->arena, t->node, strlen(t->node), out);
    default:
        *skip = 1;
        return MQR_OK;
    }
}

/* A message's payload is the raw payload string: a context giving some other
 * JSON value has it encoded as JSON text in the arena. */
static int raw_payload(tb_t *t, const mqr_value_t *v, mqr_value_t *out)
{
    if (v->type == MQR_VAL_STRING) {
        *out = *v;
        return MQR_OK;
    }
    size_t len = 0;
    int rc = mqr_json_write(v, 0, NULL, 0, &len);
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        return rc;
    char *buf = mqr_arena_alloc(t->arena, len ? len : 1);
    if (!buf)
        return MQR_ENOMEM;
    rc = mqr_json_write(v, 0, buf, len, &len);
    if (rc == MQR_OK)
        mqr_value_set_string(out, buf, len);
    return rc;
}

/* Columns of a schema event: its fields in table order, then the context's
 * other fields (event_type excepted) in context order. */
static int build_event_columns(tb_t *t, const mqr_event_schema_t *ev, const mqr_value_t *ctx,
                               mqr_value_t *cols)
{
    int rc = mqr_value_object_new(t->arena, ev->field_count + ctx->len, cols);
    for (uint32_t i = 0; rc == MQR_OK && i < ev->field_count; i++) {
        const mqr_event_field_t *f = &ev->fields[i];
        size_t nlen = strlen(f->name);
        if (ev->id == MQR_EVENT_CLIENT_CONNACK && strcmp(f->name, "reason_code") == 0) {
            rc = connack_reason(t, ctx, cols);
            continue;
        }
        const mqr_value_t *given = mqr_value_object_get(ctx, f->name, nlen);
        mqr_value_t v;
        int skip = 0;
        if (given && strcmp(f->name, "payload") == 0)
            rc = raw_payload(t, given, &v);
        else if (given)
            v = *given;
        else
            rc = example_value(t, f, &v, &skip);
        if (rc != MQR_OK || skip)
            continue;
        if ((f->flags & MQR_EVFIELD_ATOM) && v.type == MQR_VAL_STRING)
            v.flags |= MQR_VALF_ATOM;
        rc = mqr_value_object_put(t->arena, cols, f->name, nlen, &v);
    }
    for (uint32_t i = 0; rc == MQR_OK && i < ctx->len; i++) {
        const mqr_member_t *m = &ctx->u.members[i];
        if ((m->key_len == 10 && memcmp(m->key, "event_type", 10) == 0) ||
            mqr_event_field(ev, m->key, m->key_len, NULL))
            continue;
        rc = mqr_value_object_put(t->arena, cols, m->key, m->key_len, &m->value);
    }
    return rc;
}

/* Columns of a data-bridge source ("$bridges/..."): the context as given,
 * plus timestamp and node when it lacks them. */
static int build_bridge_columns(tb_t *t, const mqr_value_t *ctx, mqr_value_t *cols)
{
    int rc = mqr_value_object_new(t->arena, ctx->len + 2, cols);
    for (uint32_t i = 0; rc == MQR_OK && i < ctx->len; i++) {
        const mqr_member_t *m = &ctx->u.members[i];
        if (!(m->key_len == 10 && memcmp(m->key, "event_type", 10) == 0))
            rc = mqr_value_object_put(t->arena, cols, m->key, m->key_len, &m->value);
    }
    if (rc == MQR_OK && !ctx_get(ctx, "timestamp")) {
        mqr_value_t ts;
        mqr_value_set_int(&ts, t->o->now_ms);
        rc = mqr_value_object_put(t->arena, cols, "timestamp", 9, &ts);
    }
    if (rc == MQR_OK && !ctx_get(ctx, "node"))
        rc = put_text(t, cols, "node", t->node, 1);
    return rc;
}

int mqr_rule_test_columns(const mqr_rule_t *rule, const mqr_value_t *ctx,
                          const mqr_rule_test_options_t *opts, mqr_arena_t *arena,
                          mqr_value_t *out_columns, int32_t *out_matched, mqr_diag_t *diag)
{
    static const mqr_rule_test_options_t defaults = {0, 0, 0, NULL, NULL};
    if (!ctx || !arena || !out_columns || !out_matched || ctx->type != MQR_VAL_OBJECT)
        return mqr__diag_set(diag, MQR_EINVAL, "a context must be a JSON object");
    tb_t t = {arena, opts ? opts : &defaults, NULL};
    t.node = t.o->node ? t.o->node : MQR_RULE_TEST_DEFAULT_NODE;
    const mqr_value_t *et = ctx_get(ctx, "event_type");
    const char *type = "message_publish";
    size_t type_len = strlen(type);
    if (et && et->type == MQR_VAL_STRING) {
        type = et->u.s;
        type_len = et->len;
    }
    int rc, matched = 0;
    if (type_len > 9 && (memcmp(type, "$bridges/", 9) == 0 || memcmp(type, "$sources/", 9) == 0)) {
        rc = build_bridge_columns(&t, ctx, out_columns);
        matched = rule && mqr_rule_matches_event(rule, type, type_len);
    } else {
        const mqr_event_schema_t *ev = mqr_event_find_test_type(type, type_len);
        if (!ev)
            return mqr__diag_set(diag, MQR_ENOTFOUND, "unknown event_type '%.*s'",
                                 (int)(type_len > 64 ? 64 : type_len), type);
        rc = build_event_columns(&t, ev, ctx, out_columns);
        if (rc == MQR_OK && ev->id == MQR_EVENT_MESSAGE_PUBLISH) {
            const mqr_value_t *topic = mqr_value_object_get(out_columns, "topic", 5);
            matched = rule && topic && topic->type == MQR_VAL_STRING &&
                      mqr_rule_matches_topic(rule, topic->u.s, topic->len);
        } else if (rc == MQR_OK) {
            matched = rule && mqr_rule_matches_event(rule, ev->name, strlen(ev->name));
        }
    }
    if (rc != MQR_OK)
        return mqr__diag_set(diag, rc, "%s", mqr_strerror(rc));
    *out_matched = matched ? 1 : 0;
    return MQR_OK;
}
