/* SPDX-License-Identifier: MIT */
/*
 * sbuf.c - turning values into text: the string builder (mqr__sbuf_t),
 * the JSON byte classes, number formatting and locale-independent reading,
 * the compact JSON writer (spec §1.2) and the text rendering of str() and
 * templates (§7.5, §8).
 *
 * The builder has four backends (heap, arena, fixed caller buffer that
 * spills to the heap, bounded caller buffer that only counts what does not
 * fit). Appends that fit are an inline memcpy (mqr__sbuf_put); everything
 * else (growth, limits, errors) goes through one slow path here.
 *
 * The JSON writer copies runs of bytes that need no escaping with one
 * memcpy, found with a 256-entry class table; integers are formatted by hand.
 * Doubles use a fast exact path for short decimals and fall back to
 * snprintf("%.*e") with 15, 16 then 17 digits, keeping the first that reads
 * back exactly; the C library is used only in the locale it is called in
 * (snprintf's output is read back by strtod in the same locale) and the
 * digits are then laid out by hand, so the output never depends on
 * LC_NUMERIC.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_util.h"
#include "value_int.h"

/* ---- string builder ---------------------------------------------------------------- */

enum { SB_HEAP, SB_ARENA, SB_FIXED, SB_BOUNDED };

static void sbuf_init(mqr__sbuf_t *b, uint32_t mode)
{
    memset(b, 0, sizeof *b);
    b->mode = mode;
}

void mqr__sbuf_init_heap(mqr__sbuf_t *b, const mqr_allocator_t *alloc)
{
    sbuf_init(b, SB_HEAP);
    b->alloc = alloc;
}

void mqr__sbuf_init_arena(mqr__sbuf_t *b, mqr_arena_t *arena)
{
    sbuf_init(b, SB_ARENA);
    b->arena = arena;
}

void mqr__sbuf_init_fixed(mqr__sbuf_t *b, char *buf, size_t cap)
{
    sbuf_init(b, SB_FIXED);
    b->p = b->fixed = buf;
    b->cap = buf ? cap : 0;
}

void mqr__sbuf_init_bounded(mqr__sbuf_t *b, char *buf, size_t cap)
{
    sbuf_init(b, SB_BOUNDED);
    b->p = b->fixed = buf;
    b->cap = buf ? cap : 0;
}

void mqr__sbuf_fail(mqr__sbuf_t *b, int status)
{
    if (b->status == MQR_OK)
        b->status = status;
    b->cap = b->len; /* every later append takes the slow path */
}

void mqr__sbuf_set_max(mqr__sbuf_t *b, size_t max)
{
    b->max = max;
    if (max && b->len > max)
        mqr__sbuf_fail(b, MQR_ELIMIT);
    else if (max && b->cap > max)
        b->cap = max;
}

int mqr__sbuf_status(const mqr__sbuf_t *b) { return b->status; }

size_t mqr__sbuf_needed(const mqr__sbuf_t *b) { return b->len + b->over; }

/* Make room for n more bytes, or record why not. A bounded builder that runs
 * out adds `count` to the bytes it dropped. 0 on success, -1 otherwise. */
static int sbuf_reserve(mqr__sbuf_t *b, size_t n, size_t count)
{
    if (b->status != MQR_OK) {
        if (b->status == MQR_EBUFFER)
            b->over += count;
        return -1;
    }
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX - b->len) {
        mqr__sbuf_fail(b, MQR_ENOMEM);
        return -1;
    }
    size_t need = b->len + n;
    if (b->max && need > b->max) {
        mqr__sbuf_fail(b, MQR_ELIMIT);
        return -1;
    }
    if (b->mode == SB_BOUNDED) {
        b->over += count;
        mqr__sbuf_fail(b, MQR_EBUFFER);
        return -1;
    }
    size_t ncap = b->cap < 32 ? 64 : (b->cap <= SIZE_MAX / 2 ? b->cap * 2 : need);
    if (ncap < need)
        ncap = need;
    if (b->max && ncap > b->max)
        ncap = b->max;
    char *p;
    if (b->mode == SB_ARENA) {
        p = mqr__arena_realloc(b->arena, b->p, b->cap, ncap);
    } else if (b->mode == SB_FIXED && b->p == b->fixed) {
        p = mqr__alloc(b->alloc, ncap);
        if (p && b->len)
            memcpy(p, b->fixed, b->len);
    } else {
        p = mqr__realloc(b->alloc, b->p, b->mem, ncap);
    }
    if (!p) {
        mqr__sbuf_fail(b, MQR_ENOMEM);
        return -1;
    }
    if (b->mode != SB_ARENA)
        b->mem = ncap;
    b->p = p;
    b->cap = ncap;
    return 0;
}

void mqr__sbuf_append(mqr__sbuf_t *b, const void *s, size_t n)
{
    if (n == 0 || sbuf_reserve(b, n, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void mqr__sbuf_putc(mqr__sbuf_t *b, char c) { mqr__sbuf_put1(b, c); }

void mqr__sbuf_printf(mqr__sbuf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        mqr__sbuf_fail(b, MQR_EINVAL);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        mqr__sbuf_append(b, tmp, (size_t)n);
        return;
    }
    if (sbuf_reserve(b, (size_t)n + 1, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mqr__sbuf_free(mqr__sbuf_t *b)
{
    if ((b->mode == SB_HEAP || b->mode == SB_FIXED) && b->p && b->p != b->fixed)
        mqr__free(b->alloc, b->p, b->mem);
    const mqr_allocator_t *alloc = b->alloc;
    mqr_arena_t *arena = b->arena;
    uint32_t mode = b->mode == SB_FIXED ? (uint32_t)SB_HEAP : b->mode;
    sbuf_init(b, mode);
    b->alloc = alloc;
    b->arena = arena;
}

/* ---- JSON string bytes ----------------------------------------------------------------- */

/* Byte classes for JSON strings: 0 copied as is, 1 escaped (control
 * characters, '"', '\\'), 2 the start of a multi-byte sequence to check. */
const uint8_t mqr__json_char_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define IS_CONT(c) (((c) & 0xC0u) == 0x80u)

/* ---- numbers ------------------------------------------------------------------------ */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define TWO53 9007199254740992.0

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

static const uint64_t pow10_u64[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
    10000000000u, 100000000000u, 1000000000000u, 10000000000000u, 100000000000000u,
    1000000000000000u, 10000000000000000u, 100000000000000000u, 1000000000000000000u,
    10000000000000000000u};

/* Decimal digits of u into out (no terminator); returns the count. The
 * length comes from comparisons (no division chain), then two digits per
 * division are written backwards in place. */
static size_t u64_digits(uint64_t u, char *out)
{
    size_t n = 1;
    while (n < 20 && u >= pow10_u64[n])
        n++;
    char *o = out + n;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        *--o = digit_pairs[2 * r + 1];
        *--o = digit_pairs[2 * r];
    }
    if (u >= 10) {
        *--o = digit_pairs[2 * u + 1];
        *--o = digit_pairs[2 * u];
    } else {
        *--o = (char)('0' + u);
    }
    return n;
}

size_t mqr__fmt_int(int64_t i, char buf[MQR__NUMBUF])
{
    size_t n = 0;
    uint64_t u = (uint64_t)i;
    if (i < 0) {
        buf[n++] = '-';
        u = 0 - u;
    }
    n += u64_digits(u, buf + n);
    buf[n] = '\0';
    return n;
}

/* Drop trailing zeros of a digit string (keeping one digit). */
static size_t trim_zeros(const char *digits, size_t n)
{
    while (n > 1 && digits[n - 1] == '0')
        n--;
    return n;
}

/* Exact short forms, tried before any libc call. For d < 2^53: the
 * smallest k for which round(d * 10^k) / 10^k gives back d. For larger d:
 * the largest k for which round(d / 10^k) * 10^k does. Both operands of
 * that last operation are exact doubles (m < 2^53, 10^k <= 10^22), so it is
 * correctly rounded and equals what strtod returns for the decimal text:
 * the result round-trips by construction, and m is the shortest such
 * integer because round() finds it whenever one exists. 0 when neither
 * applies (17-digit values, extreme magnitudes). */
static size_t fast_digits(double d, char digits[24], int *x)
{
    const int kmax = (int)MQR__ARRAY_LEN(pow10_exact) - 1;
    if (d < TWO53) {
        for (int k = 0; k <= kmax; k++) {
            double p = d * pow10_exact[k];
            if (p >= TWO53)
                return 0;
            double m = nearbyint(p);
            if (m != 0 && m / pow10_exact[k] == d) {
                size_t n = u64_digits((uint64_t)m, digits);
                *x = (int)n - 1 - k;
                return trim_zeros(digits, n);
            }
        }
        return 0;
    }
    if (d >= TWO53 * pow10_exact[kmax])
        return 0;
    for (int k = kmax; k >= 1; k--) {
        double p = d / pow10_exact[k];
        if (p < 1)
            continue;
        if (p >= TWO53)
            return 0;
        double m = nearbyint(p);
        if (m * pow10_exact[k] == d) {
            size_t n = u64_digits((uint64_t)m, digits);
            *x = (int)n - 1 + k;
            return trim_zeros(digits, n);
        }
    }
    return 0;
}

/* Digits and exponent of snprintf("%.*e", prec, d): "D<radix>DDDDe[+-]XX".
 * The radix character is whatever the locale says, so digits are picked by
 * class, not by position. Returns prec + 1 (zeros not trimmed). */
static size_t libc_digits(double d, int prec, char digits[24], int *x)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.*e", prec, d);
    size_t n = 0;
    const char *p = tmp;
    for (; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    *x = *p ? atoi(p + 1) : 0;
    return n;
}

/* 1 if the decimal digits[0..n) x 10^(x - n + 1) reads back as d. */
static int reads_back(const char *digits, size_t n, int x, double d)
{
    char text[48];
    memcpy(text, digits, n);
    size_t len = n;
    int e = x - (int)n + 1;
    text[len++] = 'e';
    if (e < 0)
        text[len++] = '-';
    len += u64_digits((uint64_t)(e < 0 ? -e : e), text + len);
    double back;
    return mqr__strtod(text, len, &back) == MQR_OK && back == d;
}

/* The shortest digits (no trailing zeros) and scientific exponent x of a
 * finite d > 0: the fast exact forms, else the 17 digits of %.16e rounded
 * to 15 and then 16 digits, keeping the first that reads back. Rounding
 * the 17-digit text again is exact except when its dropped digits are
 * exactly a half (a tie the first rounding may have made); then libc
 * formats that precision directly. Subnormals have fewer bits and may need
 * fewer than 15 digits ("5e-324"), so they search from one digit up. */
static size_t shortest_digits(double d, char digits[24], int *x)
{
    size_t n = fast_digits(d, digits, x);
    if (n)
        return n;
    if (d < DBL_MIN) {
        for (int prec = 0; prec < 16; prec++) {
            n = libc_digits(d, prec, digits, x);
            if (reads_back(digits, n, *x, d))
                return trim_zeros(digits, n);
        }
        return trim_zeros(digits, libc_digits(d, 16, digits, x));
    }
    char d17[24];
    int x17;
    libc_digits(d, 16, d17, &x17);
    for (size_t nd = 15; nd <= 16; nd++) {
        int cx = x17;
        int tie = d17[nd] == '5' && (nd == 16 || d17[16] == '0');
        if (tie) {
            libc_digits(d, (int)nd - 1, digits, &cx);
        } else {
            memcpy(digits, d17, nd);
            if (d17[nd] >= '5') { /* round up, carrying */
                size_t k = nd;
                while (k > 0 && digits[k - 1] == '9')
                    digits[--k] = '0';
                if (k == 0) {
                    digits[0] = '1';
                    cx++;
                } else {
                    digits[k - 1]++;
                }
            }
        }
        if (reads_back(digits, nd, cx, d)) {
            *x = cx;
            return trim_zeros(digits, nd);
        }
    }
    memcpy(digits, d17, 17);
    *x = x17;
    return trim_zeros(digits, 17);
}

size_t mqr__fmt_double_json(double d, char buf[MQR__NUMBUF])
{
    if (!isfinite(d)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    char *o = buf;
    if (signbit(d)) {
        *o++ = '-';
        d = -d;
    }
    if (d == 0) {
        memcpy(o, "0.0", 4);
        return (size_t)(o - buf) + 3;
    }
    char dg[24];
    int x;
    size_t nd = shortest_digits(d, dg, &x);
    if (x >= -6 && x < 21) {
        if (x < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = -1; i > x; i--)
                *o++ = '0';
            memcpy(o, dg, nd);
            o += nd;
        } else if (nd <= (size_t)x + 1) {
            memcpy(o, dg, nd);
            o += nd;
            for (size_t i = nd; i < (size_t)x + 1; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, dg, (size_t)x + 1);
            o += x + 1;
            *o++ = '.';
            memcpy(o, dg + x + 1, nd - (size_t)x - 1);
            o += nd - (size_t)x - 1;
        }
    } else {
        *o++ = dg[0];
        *o++ = '.';
        if (nd > 1) {
            memcpy(o, dg + 1, nd - 1);
            o += nd - 1;
        } else {
            *o++ = '0';
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        o += u64_digits((uint64_t)(x < 0 ? -x : x), o);
    }
    *o = '\0';
    return (size_t)(o - buf);
}

/* Rewrite printf("%.*f") output s[0..n) in place so that the locale's
 * radix (any non-digit bytes after the integer digits, possibly several,
 * as U+066B) becomes '.'. Returns the new length. */
static size_t fix_radix(char *s, size_t n)
{
    size_t k = s[0] == '-';
    while (k < n && s[k] >= '0' && s[k] <= '9')
        k++;
    if (k == n)
        return n;
    size_t j = k;
    while (j < n && (s[j] < '0' || s[j] > '9'))
        j++;
    s[k] = '.';
    memmove(s + k + 1, s + j, n - j);
    return k + 1 + n - j;
}

/* Trailing fraction zeros of "I.FFF" dropped, keeping one digit. */
static size_t trim_fraction(const char *s, size_t n)
{
    while (n > 2 && s[n - 1] == '0' && s[n - 2] != '.')
        n--;
    return n;
}

/* "nan", "inf" or "-inf" for a non-finite d; its length, 0 when finite. */
static size_t non_finite(double d, char *out)
{
    const char *t = isnan(d) ? "nan" : d < 0 ? "-inf" : "inf";
    if (isfinite(d))
        return 0;
    size_t n = strlen(t);
    memcpy(out, t, n + 1);
    return n;
}

size_t mqr__fmt_double_str(double d, char buf[MQR__NUMBUF])
{
    size_t n = non_finite(d, buf);
    if (n)
        return n;
    if (fabs(d) >= 1e15)
        return mqr__fmt_double_json(d, buf);
    char tmp[64];
    n = fix_radix(tmp, (size_t)snprintf(tmp, sizeof tmp, "%.10f", d));
    n = trim_fraction(tmp, n);
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

void mqr__sbuf_put_fixed(mqr__sbuf_t *b, double d, int decimals, int compact)
{
    /* the longest text: "-" 309 digits, a radix of up to 4 bytes, 340 digits */
    char tmp[672];
    size_t n = non_finite(d, tmp);
    if (!n) {
        if (decimals < 0)
            decimals = 0;
        if (decimals > 340)
            decimals = 340;
        int len = snprintf(tmp, sizeof tmp, "%.*f", decimals, d);
        n = fix_radix(tmp, len < 0 ? 0 : (size_t)len < sizeof tmp ? (size_t)len : sizeof tmp - 1);
        if (compact && decimals > 0)
            n = trim_fraction(tmp, n);
    }
    mqr__sbuf_put(b, tmp, n);
}

#define STRTOD_MAX_DIGITS 780 /* enough to round any double correctly */

int mqr__strtod(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    /* Significant digits (leading zeros dropped) and the power of ten they
     * are scaled by; digits past STRTOD_MAX_DIGITS only leave a sticky 1. */
    char dg[STRTOD_MAX_DIGITS + 32];
    size_t nd = 0, mantissa_digits = 0;
    int sticky = 0;
    int64_t e = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        mantissa_digits++;
        if (nd == 0 && s[i] == '0')
            continue;
        if (nd < STRTOD_MAX_DIGITS)
            dg[nd++] = s[i];
        else {
            e++;
            sticky |= s[i] != '0';
        }
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            mantissa_digits++;
            if (nd == 0 && s[i] == '0') {
                e--;
                continue;
            }
            if (nd < STRTOD_MAX_DIGITS) {
                dg[nd++] = s[i];
                e--;
            } else {
                sticky |= s[i] != '0';
            }
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        int64_t ev = 0;
        size_t exp_start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (ev < 100000)
                ev = ev * 10 + (s[i] - '0');
        if (i == exp_start)
            return MQR_EINVAL;
        e += eneg ? -ev : ev;
    }
    if (i != len || mantissa_digits == 0)
        return MQR_EINVAL;
    while (nd > 0 && !sticky && dg[nd - 1] == '0') {
        nd--;
        e++;
    }
    double d;
    if (nd == 0) {
        d = 0.0;
    } else if (nd <= 15 && e >= -22 && e <= 22) {
        uint64_t m = 0;
        for (size_t k = 0; k < nd; k++)
            m = m * 10 + (uint64_t)(dg[k] - '0');
        d = e < 0 ? (double)m / pow10_exact[-e] : (double)m * pow10_exact[e];
    } else if (e + (int64_t)nd > 400) {
        return MQR_EOVERFLOW;
    } else if (e + (int64_t)nd < -400) {
        d = 0.0;
    } else {
        /* "DDDDe-X": an integer mantissa needs no radix character, so the
         * C library reads it the same way in every locale. */
        if (sticky) {
            dg[nd++] = '1';
            e--;
        }
        snprintf(dg + nd, sizeof dg - nd, "e%lld", (long long)e);
        d = strtod(dg, NULL);
    }
    if (isinf(d))
        return MQR_EOVERFLOW;
    *out = neg ? -d : d;
    return MQR_OK;
}

/* ---- JSON writer ---------------------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

/* The escape of an ASCII byte of class 1. */
static void write_escape(mqr__sbuf_t *b, unsigned c)
{
    char e[6] = {'\\', 0, '0', '0', 0, 0};
    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
        e[1] = 'u';
        e[4] = hex_digits[c >> 4];
        e[5] = hex_digits[c & 15];
        mqr__sbuf_put(b, e, 6);
        return;
    }
    mqr__sbuf_put(b, e, 2);
}

/* A JSON string of the bytes s[0..n): runs of plain bytes and well-formed
 * UTF-8 are copied in one piece; a byte that starts no well-formed sequence
 * becomes U+FFFD together with the continuation bytes that follow it. */
static void write_string(mqr__sbuf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    /* Fast path, the common case of a plain ASCII string with room for it:
     * scan and copy in one pass; committed only if no byte needs work. */
    if (n + 2 <= b->cap - b->len && n + 2 > n) {
        char *o = b->p + b->len;
        o[0] = '"';
        for (; n - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!mqr__json_word_plain(w))
                break;
            memcpy(o + 1 + i, &w, 8);
        }
        while (i < n && mqr__json_char_class[s[i]] == 0) {
            o[i + 1] = (char)s[i];
            i++;
        }
        if (i == n) {
            o[n + 1] = '"';
            b->len += n + 2;
            return;
        }
        b->len++; /* keep the quote and the plain prefix as the first run */
    } else {
        mqr__sbuf_put1(b, '"');
    }
    while (i < n) {
        unsigned cls = mqr__json_char_class[s[i]];
        if (MQR__LIKELY(cls == 0)) {
            i++;
            continue;
        }
        if (cls == 2) {
            uint32_t cp;
            size_t k = mqr__utf8_decode(s + i, n - i, &cp);
            if (k) {
                i += k;
                continue;
            }
        }
        mqr__sbuf_put(b, s + run, i - run);
        if (cls == 1) {
            write_escape(b, s[i]);
            i++;
        } else {
            mqr__sbuf_put(b, "\xEF\xBF\xBD", 3);
            for (i++; i < n && IS_CONT(s[i]); i++)
                ;
        }
        run = i;
    }
    mqr__sbuf_put(b, s + run, i - run);
    mqr__sbuf_put1(b, '"');
}

static void put_bool(mqr__sbuf_t *b, int32_t x)
{
    if (x)
        mqr__sbuf_put(b, "true", 4);
    else
        mqr__sbuf_put(b, "false", 5);
}

/* Scalars (and unknown types, as null); 0 when v is an array or object. */
static inline int write_scalar(mqr__sbuf_t *b, const mqr_value_t *v, uint32_t flags)
{
    switch (v->type) {
    case MQR_VAL_UNDEFINED:
        if (flags & MQR__JSONF_UNDEFINED_AS_NULL)
            mqr__sbuf_put(b, "null", 4);
        else
            mqr__sbuf_put(b, "\"undefined\"", 11);
        return 1;
    case MQR_VAL_BOOL: put_bool(b, v->u.b); return 1;
    case MQR_VAL_INT:
        if (MQR__LIKELY(b->cap - b->len >= MQR__NUMBUF)) { /* format in place */
            b->len += mqr__fmt_int(v->u.i, b->p + b->len);
        } else {
            char num[MQR__NUMBUF];
            mqr__sbuf_put(b, num, mqr__fmt_int(v->u.i, num));
        }
        return 1;
    case MQR_VAL_DOUBLE: {
        char num[MQR__NUMBUF];
        mqr__sbuf_put(b, num, mqr__fmt_double_json(v->u.d, num));
        return 1;
    }
    case MQR_VAL_STRING: write_string(b, v->u.s, v->len); return 1;
    case MQR_VAL_ARRAY:
    case MQR_VAL_OBJECT: return 0;
    default: mqr__sbuf_put(b, "null", 4); return 1;
    }
}

/* Arrays and objects; scalar elements are written inline, containers
 * recurse (depth counts the containers open around v). */
static void write_value(mqr__sbuf_t *b, const mqr_value_t *v, uint32_t flags, uint32_t depth)
{
    if (write_scalar(b, v, flags))
        return;
    if (depth >= MQR__VALUE_MAX_DEPTH) {
        /* overrides a bounded buffer's MQR_EBUFFER: a bigger buffer would
         * not help, and the caller must not be told to retry with one */
        mqr__sbuf_fail(b, MQR_ELIMIT);
        b->status = MQR_ELIMIT;
        return;
    }
    if (v->type == MQR_VAL_ARRAY) {
        mqr__sbuf_put1(b, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                mqr__sbuf_put1(b, ',');
            if (!write_scalar(b, &v->u.items[i], flags))
                write_value(b, &v->u.items[i], flags, depth + 1);
        }
        mqr__sbuf_put1(b, ']');
    } else {
        mqr__sbuf_put1(b, '{');
        for (uint32_t i = 0; i < v->len; i++) {
            const mqr_member_t *m = &v->u.members[i];
            if (i)
                mqr__sbuf_put1(b, ',');
            write_string(b, m->key, m->key_len);
            mqr__sbuf_put1(b, ':');
            if (!write_scalar(b, &m->value, flags))
                write_value(b, &m->value, flags, depth + 1);
        }
        mqr__sbuf_put1(b, '}');
    }
}

void mqr__json_write(mqr__sbuf_t *b, const mqr_value_t *v, uint32_t flags)
{
    write_value(b, v, flags, 0);
}

/* ---- text rendering ------------------------------------------------------------------- */

/* §7.5's quirk: an array of character codes renders as the text they spell.
 * "Printable" here is the ASCII subset of Erlang's io_lib:printable_list:
 * 32..126 and \b \t \n \v \f \r \e (8..13, 27). The empty array counts (it
 * renders as ""), as in EMQX. EMQX also takes Latin-1 160..255 and emits
 * them as single bytes, which is not UTF-8; such arrays render as JSON. */
static int printable_codes(const mqr_value_t *v)
{
    for (uint32_t i = 0; i < v->len; i++) {
        const mqr_value_t *e = &v->u.items[i];
        if (e->type != MQR_VAL_INT)
            return 0;
        int64_t c = e->u.i;
        if (!((c >= 32 && c <= 126) || (c >= 8 && c <= 13) || c == 27))
            return 0;
    }
    return 1;
}

void mqr__value_to_text(mqr__sbuf_t *b, const mqr_value_t *v)
{
    char num[MQR__NUMBUF];
    switch (v->type) {
    case MQR_VAL_STRING: mqr__sbuf_put(b, v->u.s, v->len); return;
    case MQR_VAL_INT: mqr__sbuf_put(b, num, mqr__fmt_int(v->u.i, num)); return;
    case MQR_VAL_DOUBLE: mqr__sbuf_put(b, num, mqr__fmt_double_str(v->u.d, num)); return;
    case MQR_VAL_BOOL: put_bool(b, v->u.b); return;
    case MQR_VAL_NULL: mqr__sbuf_put(b, "null", 4); return;
    case MQR_VAL_UNDEFINED: mqr__sbuf_put(b, "undefined", 9); return;
    case MQR_VAL_ARRAY:
        if (printable_codes(v)) {
            for (uint32_t i = 0; i < v->len; i++)
                mqr__sbuf_put1(b, (char)v->u.items[i].u.i);
            return;
        }
        break;
    default: break;
    }
    write_value(b, v, 0, 0);
}
