/* SPDX-License-Identifier: MIT */
/*
 * fuzz_func.c - libFuzzer target for the built-in SQL functions: every
 * function on arbitrary arguments must return MQR_OK, MQR_EEVAL or
 * MQR_ENOMEM, never crash, and an OK result must be a well-formed value
 * (finite doubles, renderable as JSON).
 *
 * Input: byte 0 picks the function (modulo the table size), byte 1 the
 * argument count (within the function's bounds), byte 2 the "in WHERE"
 * flag; the rest is JSON text whose array items are the arguments (missing
 * ones are undefined). Input that is not a JSON array is one string
 * argument, repeated.
 */
#include <math.h>
#include <string.h>

#include "func.h"
#include "mqttrule/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const mqr_value_t *fz_lookup(void *ud, const char *name, size_t len)
{
    return mqr_value_object_get(ud, name, len);
}

static const mqr_value_t *fz_payload(void *ud) { return mqr_value_object_get(ud, "payload", 7); }

/* Check that v is well formed: finite doubles, known types, sane lengths. */
static void check(const mqr_value_t *v, int depth)
{
    if (v->type > MQR_VAL_OBJECT || depth > 2000)
        __builtin_trap();
    if (v->type == MQR_VAL_DOUBLE && !isfinite(v->u.d))
        __builtin_trap();
    if (v->type == MQR_VAL_ARRAY)
        for (uint32_t i = 0; i < v->len; i++)
            check(&v->u.items[i], depth + 1);
    if (v->type == MQR_VAL_OBJECT)
        for (uint32_t i = 0; i < v->len; i++)
            check(&v->u.members[i].value, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const mqr__func_t *f = mqr__func_at(data[0] % mqr__func_count());
    uint32_t span = f->max_args == MQR__FUNC_VARIADIC ? 4u : (uint32_t)(f->max_args - f->min_args) + 1;
    uint32_t argc = f->min_args + data[1] % span;
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return 0;
    mqr_value_t parsed, args[8], out, cols;
    const char *text = (const char *)data + 3;
    size_t len = size - 3;
    int is_array = mqr_json_parse(arena, text, len, 0, &parsed, NULL) == MQR_OK &&
                   parsed.type == MQR_VAL_ARRAY;
    for (uint32_t i = 0; i < argc && i < 8; i++) {
        if (!is_array)
            mqr_value_set_string(&args[i], text, len);
        else if (i < parsed.len)
            args[i] = parsed.u.items[i];
        else
            mqr_value_set_undefined(&args[i]);
    }
    /* Columns for the context helpers: the first object argument, if any. */
    mqr_value_object_new(arena, 0, &cols);
    for (uint32_t i = 0; i < argc && i < 8; i++)
        if (args[i].type == MQR_VAL_OBJECT) {
            cols = args[i];
            break;
        }
    uint64_t rng = 42;
    mqr_diag_t diag;
    mqr__fctx_t cx = {0};
    cx.arena = arena;
    cx.now_ms = 1653561612345;
    cx.local_offset_s = 3600;
    cx.in_where = data[2] & 1;
    cx.rng = &rng;
    cx.lookup = fz_lookup;
    cx.payload_json = fz_payload;
    cx.ud = &cols;
    cx.diag = &diag;
    cx.fname = f->name;
    int rc = f->fn(&cx, args, argc > 8 ? 8 : argc, &out);
    if (rc != MQR_OK && rc != MQR_EEVAL && rc != MQR_ENOMEM)
        __builtin_trap();
    if (rc == MQR_OK) {
        check(&out, 0);
        mqr__sbuf_t b;
        mqr__sbuf_init_arena(&b, arena);
        mqr__json_write(&b, &out, 0);
        mqr__value_to_text(&b, &out);
    }
    mqr_arena_destroy(arena);
    return 0;
}
