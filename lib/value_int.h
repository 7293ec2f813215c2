/* SPDX-License-Identifier: MIT */
/*
 * value_int.h - internal helpers over mqr_value_t shared by the value, json,
 * rule, function, template and event code. Not API.
 *
 * String building: mqr__sbuf_t appends bytes into the heap (through an
 * allocator), an arena, a caller buffer that spills to the heap, or a
 * bounded caller buffer that never allocates. Errors are sticky: after a
 * failed append every later append is a no-op and mqr__sbuf_status() reports
 * MQR_ENOMEM (MQR_ELIMIT when a maximum length was set, MQR_EBUFFER for a
 * full bounded buffer, which keeps counting what it drops), so callers check
 * once at the end.
 */
#ifndef MQR_VALUE_INT_H
#define MQR_VALUE_INT_H

#include <stdarg.h>
#include <string.h>

#include "internal.h"
#include "mqttrule/value.h"

/* ---- arena extras ------------------------------------------------------------ */
/* Resize an arena allocation. When p is the arena's most recent allocation and
 * the block has room, it grows in place; otherwise a new region is allocated
 * and old_size bytes are copied. NULL on failure (p stays valid). p NULL is a
 * plain allocation. */
void *mqr__arena_realloc(mqr_arena_t *arena, void *p, size_t old_size, size_t new_size);
/* Copy len bytes into the arena (no terminator added, no alignment);
 * NULL when out of memory or arena is NULL. */
char *mqr__arena_memdup(mqr_arena_t *arena, const void *p, size_t len);

/* ---- string builder ------------------------------------------------------------ */
/* The bytes are b->p[0..len), not NUL-terminated (append a '\0' if needed).
 * Invariants: len <= cap, and cap <= max when max is set, so the inline
 * fast path below never needs to look at max or status: after an error cap
 * equals len and every append takes the slow path. */
typedef struct mqr__sbuf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;                    /* 0: no limit; beyond it -> MQR_ELIMIT (use set_max) */
    const mqr_allocator_t *alloc;  /* heap backend when arena == NULL */
    mqr_arena_t *arena;            /* arena backend */
    int status;                    /* MQR_OK, or the first error (sticky) */
    uint32_t mode;                 /* backend, set by the init functions */
    char *fixed;                   /* fixed/bounded: the caller's buffer (never freed) */
    size_t over;                   /* bounded: bytes that did not fit */
    size_t mem;                    /* heap bytes owned at p (heap and fixed backends) */
} mqr__sbuf_t;

void mqr__sbuf_init_heap(mqr__sbuf_t *b, const mqr_allocator_t *alloc);
void mqr__sbuf_init_arena(mqr__sbuf_t *b, mqr_arena_t *arena);
/* Use a caller buffer first; grows into the heap only if needed, through
 * b->alloc (NULL after init: libc; assign it after init to use another
 * allocator). mqr__sbuf_free releases the heap copy if there is one. */
void mqr__sbuf_init_fixed(mqr__sbuf_t *b, char *buf, size_t cap);
/* Write into buf[0..cap) and never allocate: bytes beyond cap are counted,
 * not stored, and the status becomes MQR_EBUFFER; mqr__sbuf_needed() then
 * gives the length the whole output needs. buf may be NULL when cap is 0. */
void mqr__sbuf_init_bounded(mqr__sbuf_t *b, char *buf, size_t cap);
/* Limit the total length (0: none); call right after init. */
void mqr__sbuf_set_max(mqr__sbuf_t *b, size_t max);
void mqr__sbuf_append(mqr__sbuf_t *b, const void *s, size_t n);
void mqr__sbuf_putc(mqr__sbuf_t *b, char c);
void mqr__sbuf_printf(mqr__sbuf_t *b, const char *fmt, ...) MQR__PRINTF(2, 3);
int mqr__sbuf_status(const mqr__sbuf_t *b);
/* Total length appended so far, including what a bounded buffer dropped. */
size_t mqr__sbuf_needed(const mqr__sbuf_t *b);
/* Heap backend: free the buffer. Fixed backend: free the heap copy if it
 * grew. Arena/bounded backends: no-op. The builder is empty afterwards. */
void mqr__sbuf_free(mqr__sbuf_t *b);
/* Record an error (sticky; the first one wins). */
void mqr__sbuf_fail(mqr__sbuf_t *b, int status);

/* Append without a call when there is room: for the hot renderers. */
static inline void mqr__sbuf_put(mqr__sbuf_t *b, const void *s, size_t n)
{
    /* n - 1 < room is n <= room for n >= 1, and sends n == 0 to the slow
     * path, so p (NULL in an empty heap builder) is never offset here. */
    if (MQR__LIKELY(n - 1 < b->cap - b->len)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    } else {
        mqr__sbuf_append(b, s, n);
    }
}

static inline void mqr__sbuf_put1(mqr__sbuf_t *b, char c)
{
    if (MQR__LIKELY(b->len < b->cap))
        b->p[b->len++] = c;
    else
        mqr__sbuf_append(b, &c, 1);
}

/* ---- JSON string bytes --------------------------------------------------------- */
/* Byte classes inside JSON strings: 0 plain ASCII, 1 must be escaped (control
 * characters, '"', '\\'), 2 starts a multi-byte UTF-8 sequence. */
extern const uint8_t mqr__json_char_class[256];
/* 1 if none of the 8 bytes in w needs attention in a JSON string: no
 * byte < 0x20, '"', '\\' or >= 0x80. The classic SWAR tests "some byte is
 * zero" ((x - 0x01..) & ~x & 0x80..) and "some byte < n" are exact as a
 * whole-word yes/no, which is all that is asked here. Byte order does not
 * matter. */
static inline int mqr__json_word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"');
    uint64_t bs = w ^ (ones * '\\');
    uint64_t bad = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w;
    return (bad & highs) == 0;
}
/* UTF-8 validation, decoding and encoding of code points: see codec_util.h. */

/* ---- number formatting ---------------------------------------------------------- */
#define MQR__NUMBUF 40
/* JSON rendering of a double (§1.2): the shortest text that reads back to the
 * same double; integral values keep ".0" ("1.0", "2.0"); positional notation
 * for 1e-6 <= |d| < 1e21, exponent form outside ("1.0e+21", "1.5e-7").
 * NaN/inf cannot occur in rule values (they are evaluation errors); should
 * one arrive it renders as "null", so the output stays valid JSON. Never
 * depends on the C locale. Returns the length written into buf. */
size_t mqr__fmt_double_json(double d, char buf[MQR__NUMBUF]);
/* str() rendering (§7.5): up to 10 decimals, trailing zeros trimmed, at least
 * one decimal ("2.0", "0.3", "3.1415926536"). Magnitudes of 1e15 and more
 * render as mqr__fmt_double_json does (fixed 10 decimals would not fit);
 * NaN and infinities as "nan", "inf", "-inf". */
size_t mqr__fmt_double_str(double d, char buf[MQR__NUMBUF]);
size_t mqr__fmt_int(int64_t i, char buf[MQR__NUMBUF]);
/* printf("%.*f", decimals, d) appended to b with '.' as the decimal point
 * whatever the locale (decimals clamped to 0..340; as printf, correctly
 * rounded). compact drops trailing fraction zeros but keeps one digit
 * (Erlang's float_to_binary [{decimals, N}, compact]: "20.20" -> "20.2",
 * "2.00" -> "2.0"). NaN and infinities append "nan", "inf", "-inf". */
void mqr__sbuf_put_fixed(mqr__sbuf_t *b, double d, int decimals, int compact);
/* Decimal text to the nearest double, independent of the C locale. The
 * whole of s[0..len) must be number syntax: [sign] digits [. digits]
 * [e [sign] digits], with at least one mantissa digit. MQR_OK; MQR_EINVAL
 * when it is not (a stray byte such as a ',' radix, no digits, an empty
 * exponent), *out untouched; MQR_EOVERFLOW when the magnitude is beyond
 * DBL_MAX. */
int mqr__strtod(const char *s, size_t len, double *out);

/* ---- rendering ------------------------------------------------------------------ */
#define MQR__JSONF_UNDEFINED_AS_NULL 0x01u /* D4: undefined -> null, not "undefined" */
/* Deepest nesting the writer renders (deeper: MQR_ELIMIT on the sbuf); the
 * JSON reader accepts at most this depth too, so all it reads can be written. */
#define MQR__VALUE_MAX_DEPTH 1000u

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
 * numerically (int against double exactly, without rounding the int),
 * strings bytewise, atoms by name, arrays element-wise then by length,
 * objects by size, then sorted keys, then values in key order. Returns <0, 0,
 * >0. Undefined sorts as an atom named "undefined"; NaN above all numbers.
 * Allocation-free; O(n^2) key comparisons for objects. */
int mqr__value_compare(const mqr_value_t *a, const mqr_value_t *b);
/* Exact match (IN, CASE x WHEN, contains): same type and equal; 1 != 1.0,
 * true != 'true'. The atom flag is not part of the type: an atom string
 * exactly equals a string of the same text. Objects ignore member order. */
int mqr__value_exact_equal(const mqr_value_t *a, const mqr_value_t *b);

/* ---- parsing numbers from strings (§6.7 rule 3, int(), float()) ---------------- */
/* Integer syntax: optional sign, digits, nothing else. MQR_OK, MQR_EINVAL (not
 * integer syntax), MQR_EOVERFLOW. */
int mqr__parse_int(const char *s, size_t len, int64_t *out);
/* Float syntax: optional sign, digits '.' digits, optional exponent
 * ("1.5", "+2.0e-3"; not "1e5", "1.", ".5", " 1.5"). MQR_OK, MQR_EINVAL,
 * MQR_EOVERFLOW (beyond the double range; underflow gives 0). */
int mqr__parse_double(const char *s, size_t len, double *out);

#endif /* MQR_VALUE_INT_H */
