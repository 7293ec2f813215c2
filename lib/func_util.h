/* SPDX-License-Identifier: MIT */
/*
 * func_util.h - what the lib/func_*.c files share: the prototypes of every
 * SQL function implementation (generated from func_list.h), argument readers
 * that report EMQX-style "bad argument" errors, and result builders that put
 * strings, arrays and objects into the evaluation arena. Not API.
 *
 * Error convention: every helper that can fail records the message through
 * mqr__func_error (MQR_EEVAL) or mqr__func_oom (MQR_ENOMEM) and returns that
 * status, so a function body is a chain of `if ((rc = ...)) return rc;`.
 */
#ifndef MQR_FUNC_UTIL_H
#define MQR_FUNC_UTIL_H

#include "func.h"
#include "func_list.h"

/* ---- implementations (one per func_list.h line) ----------------------------- */
#define MQR__FUNC_PROTO(sql, c, mn, mx, fl)                                                \
    int mqr__func_sql_##c(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,          \
                          mqr_value_t *out);
MQR__FUNC_LIST(MQR__FUNC_PROTO)
#undef MQR__FUNC_PROTO

/* ---- errors ------------------------------------------------------------------ */
/* "function 'f': expected <what>, got <description of v>" -> MQR_EEVAL. */
int mqr__func_type_error(mqr__fctx_t *cx, const char *what, const mqr_value_t *v);
/* "function 'f': out of memory" -> MQR_ENOMEM. */
int mqr__func_oom(mqr__fctx_t *cx);
/* A short description of a value for messages: "undefined", "true",
 * "integer 42", "float 1.5", "string \"abc\"" (cut at 24 bytes), "array",
 * "object". Writes at most cap bytes including the NUL. */
void mqr__func_describe(const mqr_value_t *v, char *buf, size_t cap);

/* ---- argument readers ---------------------------------------------------------- */
/* args[i] must be a string (atoms included): its bytes in *s, *len. */
int mqr__func_arg_str(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, const char **s,
                      size_t *len);
/* The subject of a string function: a string, or a boolean read as its
 * name "true" / "false" (EMQX converts atoms, and booleans are atoms). */
int mqr__func_arg_text(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, const char **s,
                       size_t *len);
/* args[i] must be an integer (a float, even 2.0, is rejected, as Erlang's
 * is_integer guard does). */
int mqr__func_arg_int(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, int64_t *out);
/* args[i] must be an integer or a float; converted to double. */
int mqr__func_arg_num(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, double *out);
/* args[i] must be an array. */
int mqr__func_arg_array(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i,
                        const mqr_value_t **out);
/* args[i] must be an object, or a string holding a JSON object (decoded into
 * the arena), as EMQX's map functions accept both. */
int mqr__func_arg_object(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i,
                         mqr_value_t *out);
/* The items of a function that takes either several arguments or one array
 * (coalesce, concat): args[0..argc) when argc > 1, else the array's items
 * (args[0] must then be an array). */
int mqr__func_list_args(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        const mqr_value_t **items, uint32_t *n);
/* args[i] as one of the option words[0..n): its index in *out, or dflt when
 * i >= argc (the option was left out). Anything else is an error listing
 * the words: "unknown option string \"x\" (expected 'a', 'b' or 'c')". */
int mqr__func_arg_word(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, uint32_t i,
                       const char *const *words, int n, int dflt, int *out);
/* 1 if the string value v equals the NUL-terminated word (bytewise). */
int mqr__func_str_is(const mqr_value_t *v, const char *word);

/* ---- results --------------------------------------------------------------------- */
/* Copy len bytes into the arena and make *out that string. */
int mqr__func_ret_copy(mqr__fctx_t *cx, const char *s, size_t len, mqr_value_t *out);
/* Finish a string built with an arena sbuf: *out borrows its bytes. */
int mqr__func_ret_sbuf(mqr__fctx_t *cx, mqr__sbuf_t *b, mqr_value_t *out);
/* Make *out a double, or fail with "result is not a finite number" (NaN and
 * infinities are evaluation errors, never values). */
int mqr__func_ret_double(mqr__fctx_t *cx, double d, mqr_value_t *out);
/* Push *item onto the array *arr (arena), reporting out of memory. */
int mqr__func_push(mqr__fctx_t *cx, mqr_value_t *arr, const mqr_value_t *item);
/* Put key (borrowed) = *val into the object *obj (arena), reporting out of memory. */
int mqr__func_put(mqr__fctx_t *cx, mqr_value_t *obj, const char *key, size_t key_len,
                  const mqr_value_t *val);

/* ---- shared algorithms --------------------------------------------------------- */
/* JSON-decode s into the arena. MQR_OK, or MQR_EJSON when s is not JSON or
 * is beyond the reader's limits (no message recorded in cx: callers decide
 * whether that is an error or undefined; `why`, when not NULL, gets the
 * parser's own diagnostic, e.g. a syntax error or the nesting limit), or
 * MQR_ENOMEM (recorded). */
int mqr__func_json_decode(mqr__fctx_t *cx, const char *s, size_t len, mqr_value_t *out,
                          mqr_diag_t *why);
/* Next number of the evaluation's xorshift64* generator (cx->rng, not NULL). */
uint64_t mqr__func_rand64(mqr__fctx_t *cx);
/* An mqr_allocator_t whose memory comes from cx->arena (frees are no-ops),
 * for helpers such as the regex compiler that take an allocator. */
void mqr__func_arena_allocator(mqr__fctx_t *cx, mqr_allocator_t *out);

#endif /* MQR_FUNC_UTIL_H */
