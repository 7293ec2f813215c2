/* SPDX-License-Identifier: MIT */
/*
 * value_int.h - internal helpers over mqr_value_t shared by the value, json,
 * rule, function, template and event code. Not API.
 *
 * String building: mqr__sbuf_t appends bytes into either the heap (through an
 * allocator) or an arena. Errors are sticky: after a failed append every later
 * append is a no-op and mqr__sbuf_status() reports MQR_ENOMEM (or MQR_ELIMIT
 * when a maximum length was set), so callers check once at the end.
 */
#ifndef MQR_VALUE_INT_H
#define MQR_VALUE_INT_H

#include <stdarg.h>

#include "internal.h"
#include "mqttrule/value.h"

/* ---- arena extras ------------------------------------------------------------ */
/* Resize an arena allocation. When p is the arena's most recent allocation and
 * the block has room, it grows in place; otherwise a new region is allocated
 * and old_size bytes are copied. NULL on failure (p stays valid). p NULL is a
 * plain allocation. */
void *mqr__arena_realloc(mqr_arena_t *arena, void *p, size_t old_size, size_t new_size);
/* Copy a NUL-free byte range into the arena (no terminator added). */
char *mqr__arena_memdup(mqr_arena_t *arena, const void *p, size_t len);

/* ---- string builder ------------------------------------------------------------ */
typedef struct mqr__sbuf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;                    /* 0: no limit; beyond it -> MQR_ELIMIT */
    const mqr_allocator_t *alloc;  /* heap backend when arena == NULL */
    mqr_arena_t *arena;            /* arena backend */
    int status;                    /* MQR_OK, or the first error (sticky) */
} mqr__sbuf_t;

void mqr__sbuf_init_heap(mqr__sbuf_t *b, const mqr_allocator_t *alloc);
void mqr__sbuf_init_arena(mqr__sbuf_t *b, mqr_arena_t *arena);
/* Use a caller buffer first; grows into the heap (alloc) only if needed. */
void mqr__sbuf_init_fixed(mqr__sbuf_t *b, char *buf, size_t cap);
void mqr__sbuf_append(mqr__sbuf_t *b, const void *s, size_t n);
void mqr__sbuf_putc(mqr__sbuf_t *b, char c);
void mqr__sbuf_printf(mqr__sbuf_t *b, const char *fmt, ...) MQR__PRINTF(2, 3);
int mqr__sbuf_status(const mqr__sbuf_t *b);
/* Heap backend: free the buffer. Arena/fixed backends: no-op. */
void mqr__sbuf_free(mqr__sbuf_t *b);

/* ---- number formatting ---------------------------------------------------------- */
#define MQR__NUMBUF 40
/* JSON rendering of a double (§1.2): the shortest text that reads back to the
 * same double; integral values keep ".0" ("1.0", "2.0"); exponent form like
 * "1.0e+21" for large magnitudes. NaN/inf cannot occur in rule values (they
 * are evaluation errors). Returns the length written into buf. */
size_t mqr__fmt_double_json(double d, char buf[MQR__NUMBUF]);
/* str() rendering (§7.5): up to 10 decimals, trailing zeros trimmed, at least
 * one decimal ("2.0", "0.3", "3.1415926536"). */
size_t mqr__fmt_double_str(double d, char buf[MQR__NUMBUF]);
size_t mqr__fmt_int(int64_t i, char buf[MQR__NUMBUF]);

/* ---- rendering ------------------------------------------------------------------ */
#define MQR__JSONF_UNDEFINED_AS_NULL 0x01u /* D4: undefined -> null, not "undefined" */

/* Compact JSON of v per §1.2 (UTF-8 repaired per §1.2, '/' not escaped). */
void mqr__json_write(mqr__sbuf_t *b, const mqr_value_t *v, uint32_t flags);
/* Text rendering used by str(), concat, '+' and ${...} templates (§7.5, §8):
 * string as-is, int decimal, double per mqr__fmt_double_str, bool/null by
 * name, undefined as "undefined", arrays and objects as compact JSON (with the
 * printable-code-points-array-as-text quirk of §7.5). */
void mqr__value_to_text(mqr__sbuf_t *b, const mqr_value_t *v);

/* ---- comparison ---------------------------------------------------------------- */
/* Erlang term order used by <, >, ... once §6.7's coercions are done:
 * number < atom(bool, null, atom strings) < object < array < string; numbers
 * numerically, strings bytewise. Returns <0, 0, >0. Undefined sorts as an
 * atom named "undefined". */
int mqr__value_compare(const mqr_value_t *a, const mqr_value_t *b);
/* Exact match (IN, CASE x WHEN, contains): same type and equal; 1 != 1.0. */
int mqr__value_exact_equal(const mqr_value_t *a, const mqr_value_t *b);

/* ---- parsing numbers from strings (§6.7 rule 3, int(), float()) ---------------- */
/* Integer syntax: optional sign, digits, nothing else. MQR_OK, MQR_EINVAL (not
 * integer syntax), MQR_EOVERFLOW. */
int mqr__parse_int(const char *s, size_t len, int64_t *out);
/* Float syntax: optional sign, digits '.' digits, optional exponent. */
int mqr__parse_double(const char *s, size_t len, double *out);

#endif /* MQR_VALUE_INT_H */
