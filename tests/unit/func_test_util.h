/* SPDX-License-Identifier: MIT */
/*
 * func_test_util.h - shared fixture for the tests of the built-in SQL
 * functions: an arena, a hand-made mqr__fctx_t with a fixed clock, offset and
 * RNG seed, value constructors (S, I, D, B, UNDEF, NUL, J for JSON text) and
 * call/assert helpers that go through mqr__func_find like the compiler does.
 *
 * Each test executable includes this header once; Criterion runs each test in
 * its own process, so the fixture is a plain static.
 */
#ifndef MQR_FUNC_TEST_UTIL_H
#define MQR_FUNC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "func.h"
#include "mqttrule/json.h"

/* 2022-05-26T10:40:12.345Z */
#define FT_NOW_MS INT64_C(1653561612345)

typedef struct ft_env {
    mqr_arena_t *arena;
    mqr_diag_t diag;
    uint64_t rng;
    mqr__fctx_t cx;
    const mqr_value_t *columns; /* object the lookup callback reads */
    const mqr_value_t *payload; /* what payload_json returns */
} ft_env_t;

static ft_env_t ft;

static inline const mqr_value_t *ft_lookup(void *ud, const char *name, size_t len)
{
    ft_env_t *e = ud;
    return e->columns ? mqr_value_object_get(e->columns, name, len) : NULL;
}

static inline const mqr_value_t *ft_payload(void *ud) { return ((ft_env_t *)ud)->payload; }

static inline void ft_setup(void)
{
    memset(&ft, 0, sizeof ft);
    cr_assert_eq(mqr_arena_create(NULL, 0, &ft.arena), MQR_OK);
    mqr_diag_clear(&ft.diag);
    ft.rng = 0x123456789ABCDEFull;
    ft.cx.arena = ft.arena;
    ft.cx.now_ms = FT_NOW_MS;
    ft.cx.local_offset_s = 8 * 3600;
    ft.cx.rng = &ft.rng;
    ft.cx.lookup = ft_lookup;
    ft.cx.payload_json = ft_payload;
    ft.cx.ud = &ft;
    ft.cx.diag = &ft.diag;
}

static inline void ft_teardown(void) { mqr_arena_destroy(ft.arena); }

/* ---- values ------------------------------------------------------------------------- */
static inline mqr_value_t S(const char *s)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, strlen(s));
    return v;
}
static inline mqr_value_t SN(const char *s, size_t n)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, n);
    return v;
}
static inline mqr_value_t I(int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    return v;
}
static inline mqr_value_t D(double d)
{
    mqr_value_t v;
    mqr_value_set_double(&v, d);
    return v;
}
static inline mqr_value_t B(int b)
{
    mqr_value_t v;
    mqr_value_set_bool(&v, b);
    return v;
}
static inline mqr_value_t UNDEF(void)
{
    mqr_value_t v;
    mqr_value_set_undefined(&v);
    return v;
}
static inline mqr_value_t NUL(void)
{
    mqr_value_t v;
    mqr_value_set_null(&v);
    return v;
}
/* A value parsed from JSON text (arrays and objects in tests). */
static inline mqr_value_t J(const char *json)
{
    mqr_value_t v;
    cr_assert_eq(mqr_json_parse(ft.arena, json, strlen(json), 0, &v, NULL), MQR_OK,
                 "bad test JSON %s", json);
    return v;
}
/* The compact JSON text of v (undefined as "undefined"), NUL-terminated. */
static inline const char *ft_json(const mqr_value_t *v)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, ft.arena);
    mqr__json_write(&b, v, 0);
    mqr__sbuf_putc(&b, '\0');
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    return b.p;
}

/* ---- calls ------------------------------------------------------------------------- */
/* Call SQL function `name` as the evaluator would: look it up, check the
 * argument count against the entry, set cx.fname, clear the diagnostic. */
static inline int ft_calln(const char *name, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    const mqr__func_t *f = mqr__func_find(name, strlen(name));
    cr_assert_not_null(f, "no function %s", name);
    cr_assert(argc >= f->min_args &&
                  (f->max_args == MQR__FUNC_VARIADIC || argc <= f->max_args),
              "%s called with %u arguments", name, argc);
    ft.cx.fname = f->name;
    mqr_diag_clear(&ft.diag);
    mqr_value_set_undefined(out);
    return f->fn(&ft.cx, args, argc, out);
}

/* The argument array of a call; a leading dummy element lets the list be
 * empty (a trailing comma is valid in an initializer). */
#define FT_ARGS(...) (((const mqr_value_t[]){{0}, __VA_ARGS__}) + 1)
#define FT_NARGS(...)                                                                       \
    ((uint32_t)(sizeof((mqr_value_t[]){{0}, __VA_ARGS__}) / sizeof(mqr_value_t) - 1))
/* rc of name(args...) with the result in *out. */
#define CALL(out, name, ...) ft_calln(name, FT_ARGS(__VA_ARGS__), FT_NARGS(__VA_ARGS__), out)
#define CALL0(out, name) ft_calln(name, NULL, 0, out)

/* Assert name(args...) succeeds with the string `want`. */
#define EXPECT_STR(want, name, ...)                                                         \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_OK, "%s: %s", name, ft.diag.message);                          \
        ft_assert_str(&r_, want, strlen(want), name);                                        \
    } while (0)
/* Assert name(args...) succeeds with a result whose JSON is `want`. */
#define EXPECT_JSON(want, name, ...)                                                        \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_OK, "%s: %s", name, ft.diag.message);                          \
        cr_assert_str_eq(ft_json(&r_), want, "%s", name);                                    \
    } while (0)
#define EXPECT_INT(want, name, ...)                                                         \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_OK, "%s: %s", name, ft.diag.message);                          \
        cr_assert_eq(r_.type, MQR_VAL_INT, "%s: type %u", name, r_.type);                    \
        cr_assert_eq(r_.u.i, (int64_t)(want), "%s: %lld", name, (long long)r_.u.i);          \
    } while (0)
#define EXPECT_DOUBLE(want, name, ...)                                                      \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_OK, "%s: %s", name, ft.diag.message);                          \
        cr_assert_eq(r_.type, MQR_VAL_DOUBLE, "%s: type %u", name, r_.type);                 \
        cr_assert_float_eq(r_.u.d, (double)(want), 1e-12, "%s: %.17g", name, r_.u.d);        \
    } while (0)
#define EXPECT_BOOL(want, name, ...)                                                        \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_OK, "%s: %s", name, ft.diag.message);                          \
        cr_assert_eq(r_.type, MQR_VAL_BOOL, "%s: type %u", name, r_.type);                   \
        cr_assert_eq(r_.u.b, (want), "%s", name);                                            \
    } while (0)
/* Assert name(args...) is an evaluation error whose message names the
 * function and contains `part`. */
#define EXPECT_ERR(part, name, ...)                                                         \
    do {                                                                                     \
        mqr_value_t r_;                                                                      \
        int rc_ = CALL(&r_, name, __VA_ARGS__);                                              \
        cr_assert_eq(rc_, MQR_EEVAL, "%s: rc %d", name, rc_);                                \
        ft_assert_msg(name, part);                                                           \
    } while (0)

static inline void ft_assert_str(const mqr_value_t *v, const char *want, size_t n,
                                 const char *name)
{
    cr_assert_eq(v->type, MQR_VAL_STRING, "%s: type %u", name, v->type);
    cr_assert(v->len == n && memcmp(v->u.s, want, n) == 0, "%s: got \"%.*s\", want \"%s\"",
              name, (int)v->len, v->u.s, want);
}

static inline void ft_assert_msg(const char *name, const char *part)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "function '%s': ", name);
    cr_assert_eq(ft.diag.code, MQR_EEVAL);
    cr_assert(strncmp(ft.diag.message, prefix, strlen(prefix)) == 0, "message: %s",
              ft.diag.message);
    cr_assert(strstr(ft.diag.message, part) != NULL, "message \"%s\" lacks \"%s\"",
              ft.diag.message, part);
}

#endif /* MQR_FUNC_TEST_UTIL_H */
