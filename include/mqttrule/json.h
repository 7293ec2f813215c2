/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/json.h - reading JSON text into values and writing values as
 * JSON text.
 *
 * The reader is strict RFC 8259: no comments, no trailing commas, no leading
 * zeros, no NaN or Infinity, strings must be valid UTF-8 without raw control
 * characters, and \u escapes must pair surrogates. It builds mqr_value_t
 * trees in an arena and, where it can, points into the caller's text instead
 * of copying it. The writer produces the compact JSON that rule outputs use
 * (spec §1.2): members in insertion order, '/' not escaped, non-ASCII as
 * UTF-8, invalid UTF-8 repaired with U+FFFD, undefined as "undefined" or
 * null. See docs/json.md.
 */
#ifndef MQTTRULE_JSON_H
#define MQTTRULE_JSON_H

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */
/** Writer flag: render undefined as JSON null instead of the string
 *  "undefined" (decision D4). */
#define MQR_JSON_UNDEFINED_AS_NULL 0x01u
/** Nesting depth the reader allows when called with max_depth 0. */
#define MQR_JSON_DEFAULT_DEPTH 128u
/** Largest max_depth the reader accepts, and the deepest value the writer
 *  renders. */
#define MQR_JSON_MAX_DEPTH 1000u

/* ---- reading ------------------------------------------------------------------ */

/**
 * Parse the JSON text text[0..len) (one value, optionally surrounded by
 * whitespace) into *out, allocating from `arena`.
 *
 * Numbers without fraction or exponent that fit int64 become MQR_VAL_INT
 * ("-0" is the int 0); all others become MQR_VAL_DOUBLE, correctly rounded;
 * a number beyond the double range is an error. Objects keep their members
 * in text order; when a key repeats, the last value wins and stays at the
 * position of the key's first occurrence. Arrays and objects are allocated
 * with exactly their length (mqr_value_array_push and mqr_value_object_put
 * work on them, copying the first time).
 *
 * Ownership: strings and keys without escapes point into `text` (they are
 * borrowed, not copied); strings with escapes are decoded into the arena.
 * The result is therefore valid while the arena is not reset or destroyed
 * AND `text` is unchanged and alive. Copy the text into the arena first
 * (mqr_arena_alloc and memcpy) if it does not live as long.
 *
 * max_depth limits nesting of arrays and objects: 0 means
 * MQR_JSON_DEFAULT_DEPTH; "[[1]]" has depth 2, a scalar depth 0.
 *
 * Returns MQR_OK; MQR_EINVAL (arena or out NULL, text NULL with len > 0,
 * max_depth > MQR_JSON_MAX_DEPTH); MQR_EJSON (not valid JSON: diag gets the
 * byte offset and a message such as "JSON: expected ',' or '}' at byte 17");
 * MQR_ELIMIT (nesting deeper than max_depth, or a string or container
 * longer than UINT32_MAX; diag as for MQR_EJSON); MQR_ENOMEM. On error *out
 * is unchanged and the arena may hold partial results until its next reset.
 * diag may be NULL. Thread-safe for different arenas.
 */
MQR_API int mqr_json_parse(mqr_arena_t *arena, const char *text, size_t len,
                           uint32_t max_depth, mqr_value_t *out, mqr_diag_t *diag);

/* ---- writing ------------------------------------------------------------------ */

/**
 * Write v as compact JSON into buf[0..cap), without a terminating NUL, and
 * set *out_len to the length of the complete JSON text. Never writes past
 * cap and never allocates. flags: MQR_JSON_UNDEFINED_AS_NULL or 0.
 *
 * Strings are UTF-8 with invalid sequences replaced by U+FFFD (each byte
 * that starts no valid sequence, with the continuation bytes after it,
 * becomes one U+FFFD); control characters are escaped, '/' is not. Atoms
 * render as strings. Doubles use the shortest text that reads back exactly
 * and keep a fraction ("1.0"); NaN and infinities, which rule evaluation
 * never produces, render as null.
 *
 * Returns MQR_OK; MQR_EBUFFER when cap is too small (*out_len is then the
 * size needed; buf holds a prefix of unspecified length); MQR_ELIMIT when v
 * nests deeper than MQR_JSON_MAX_DEPTH; MQR_EINVAL (v or out_len NULL, or
 * buf NULL with cap > 0). buf may be NULL with cap 0 to ask for the size.
 * Reads v only; thread-safe.
 */
MQR_API int mqr_json_write(const mqr_value_t *v, uint32_t flags, char *buf, size_t cap,
                           size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_JSON_H */
