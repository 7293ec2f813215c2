/* SPDX-License-Identifier: MIT */
/*
 * codec_util.c - base64, hex, UTF-8 and simple Unicode case mapping for the
 * rule functions (base64_encode, bin2hexstr, upper, trim ...) and the broker.
 *
 * How it works: base64 and hex decoders make one validating pass that counts
 * the output size and finds the first bad character, then a second pass that
 * writes, so a failed call never leaves partial output the caller could take
 * for a result. UTF-8 follows RFC 3629 (the table of well-formed byte
 * sequences in Unicode §3.9). Case mapping looks code points up in two sorted
 * tables of (code point, mapping) pairs generated from the Unicode Character
 * Database's simple mappings, so the result never depends on the process
 * locale (towupper does). Nothing here allocates or keeps state.
 */
#include <string.h>

#include "codec_util.h"
#include "internal.h"

/* ---- base64 ------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of `c` in the alphabet chosen by `flags`, or -1. */
static int b64_value(unsigned char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (flags & MQR_B64_URLSAFE) {
        if (c == '-')
            return 62;
        if (c == '_')
            return 63;
    } else {
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
    }
    return -1;
}

static int is_ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

size_t mqr__b64_encoded_len(size_t len, unsigned flags)
{
    size_t full = len / 3 * 4;
    size_t rest = len % 3;
    if (rest == 0)
        return full;
    if (flags & MQR_B64_NO_PADDING)
        return full + rest + 1;
    return full + 4;
}

int mqr__b64_encode(const uint8_t *in, size_t len, unsigned flags, char *out, size_t cap,
                    size_t *out_len)
{
    const char *alpha = (flags & MQR_B64_URLSAFE) ? b64_url : b64_std;
    size_t need = mqr__b64_encoded_len(len, flags);
    *out_len = need;
    if (cap < need + 1)
        return MQR_EBUFFER;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
    }
    while (o < need)
        out[o++] = '=';
    out[o] = '\0';
    return MQR_OK;
}

/* The validating pass of mqr__b64_decode: counts data characters and padding,
 * checks their placement, and reports the first offending offset. */
static int b64_check(const char *in, size_t len, unsigned flags, size_t *out_data,
                     size_t *out_err)
{
    size_t ndata = 0, npad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((flags & MQR_B64_SKIP_SPACE) && is_ascii_space(c))
            continue;
        if (c == '=') {
            /* At most two '=', and only where a group of 4 is short. */
            if (ndata % 4 < 2 || ndata % 4 + npad + 1 > 4) {
                *out_err = i;
                return MQR_EINVAL;
            }
            npad++;
            continue;
        }
        if (npad > 0 || b64_value(c, flags) < 0) {
            *out_err = i;
            return MQR_EINVAL;
        }
        ndata++;
    }
    if (ndata % 4 == 1) {
        *out_err = len;
        return MQR_EINVAL;
    }
    if (npad > 0 && (ndata + npad) % 4 != 0) {
        *out_err = len; /* too few '=' */
        return MQR_EINVAL;
    }
    if (npad == 0 && ndata % 4 != 0 && !(flags & MQR_B64_NO_PADDING)) {
        *out_err = len;
        return MQR_EINVAL;
    }
    *out_data = ndata;
    return MQR_OK;
}

int mqr__b64_decode(const char *in, size_t len, unsigned flags, uint8_t *out, size_t cap,
                    size_t *out_len, size_t *out_err)
{
    size_t err_dummy, ndata = 0;
    if (!out_err)
        out_err = &err_dummy;
    *out_len = 0;
    int rc = b64_check(in, len, flags, &ndata, out_err);
    if (rc != MQR_OK)
        return rc;
    size_t need = ndata / 4 * 3 + (ndata % 4 ? ndata % 4 - 1 : 0);
    *out_len = need;
    if (cap < need)
        return MQR_EBUFFER;
    uint32_t acc = 0;
    size_t o = 0, k = 0;
    for (size_t i = 0; i < len && k < ndata; i++) {
        int v = b64_value((unsigned char)in[i], flags);
        if (v < 0)
            continue; /* whitespace allowed by b64_check */
        acc = acc << 6 | (uint32_t)v;
        if (++k % 4 == 0) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (k % 4 == 2) {
        out[o++] = (uint8_t)(acc >> 4);
    } else if (k % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    return MQR_OK;
}

/* ---- hex ------------------------------------------------------------------ */

int mqr__hex_encode(const uint8_t *in, size_t len, int upper, char *out, size_t cap,
                    size_t *out_len)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (len > SIZE_MAX / 2 - 1) {
        *out_len = SIZE_MAX;
        return MQR_EBUFFER;
    }
    *out_len = len * 2;
    if (cap < len * 2 + 1)
        return MQR_EBUFFER;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[len * 2] = '\0';
    return MQR_OK;
}

int mqr__hex_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    size_t *out_err)
{
    *out_len = 0;
    for (size_t i = 0; i < len; i++) {
        if (mqr__hex_value((unsigned char)in[i]) < 0) {
            if (out_err)
                *out_err = i;
            return MQR_EINVAL;
        }
    }
    size_t need = len / 2 + len % 2;
    *out_len = need;
    if (cap < need)
        return MQR_EBUFFER;
    size_t i = 0, o = 0;
    if (len % 2)
        out[o++] = (uint8_t)mqr__hex_value((unsigned char)in[i++]);
    for (; i < len; i += 2)
        out[o++] = (uint8_t)(mqr__hex_value((unsigned char)in[i]) << 4 |
                             mqr__hex_value((unsigned char)in[i + 1]));
    return MQR_OK;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

size_t mqr__utf8_decode(const uint8_t *s, size_t len, uint32_t *out_cp)
{
    if (len == 0)
        return 0;
    uint32_t b0 = s[0], cp, min;
    size_t n;
    if (b0 < 0x80) {
        *out_cp = b0;
        return 1;
    } else if (b0 < 0xC2) {
        return 0; /* stray continuation byte or overlong 2-byte lead */
    } else if (b0 < 0xE0) {
        n = 2, cp = b0 & 0x1F, min = 0x80;
    } else if (b0 < 0xF0) {
        n = 3, cp = b0 & 0x0F, min = 0x800;
    } else if (b0 < 0xF5) {
        n = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > MQR_UNICODE_MAX || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *out_cp = cp;
    return n;
}

size_t mqr__utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > MQR_UNICODE_MAX)
        return 0;
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Shared walk of validate and count: the number of code points, or the offset
 * of the first bad sequence. */
static int utf8_walk(const uint8_t *s, size_t len, unsigned flags, size_t *out_count,
                     size_t *out_err)
{
    size_t i = 0, count = 0;
    while (i < len) {
        uint32_t cp;
        size_t n;
        if (s[i] < 0x80) { /* ASCII fast path */
            cp = s[i];
            n = 1;
        } else {
            n = mqr__utf8_decode(s + i, len - i, &cp);
        }
        if (n == 0 || (cp == 0 && !(flags & MQR_UTF8_ALLOW_NUL))) {
            if (out_err)
                *out_err = i;
            return MQR_EUTF8;
        }
        i += n;
        count++;
    }
    if (out_count)
        *out_count = count;
    return MQR_OK;
}

int mqr__utf8_validate(const uint8_t *s, size_t len, unsigned flags, size_t *out_err)
{
    return utf8_walk(s, len, flags, NULL, out_err);
}

int mqr__utf8_count(const uint8_t *s, size_t len, size_t *out_count, size_t *out_err)
{
    return utf8_walk(s, len, MQR_UTF8_ALLOW_NUL, out_count, out_err);
}

/* ---- Unicode case mapping ------------------------------------------------------ */

/* Generated from the Unicode 14 character database: for each covered code
 * point whose simple uppercase (case_upper) or lowercase (case_lower) mapping
 * differs from itself, the pair (code point, mapping), sorted by code point.
 * Where Python's full mapping is several code points, the single-code-point
 * titlecase mapping is used when it exists (U+1F80 -> U+1F88), as UnicodeData
 * does; U+0130 lowercases to U+0069. */
#include "codec_util_case.inc"

/* Binary search of a (code point, mapping) table. */
static uint32_t case_lookup(const uint16_t (*table)[2], size_t n, uint32_t cp)
{
    if (cp > 0xFFFF)
        return cp;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid][0] == cp)
            return table[mid][1];
        if (table[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return cp;
}

uint32_t mqr__unicode_upper(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    return case_lookup(case_upper, MQR__ARRAY_LEN(case_upper), cp);
}

uint32_t mqr__unicode_lower(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return case_lookup(case_lower, MQR__ARRAY_LEN(case_lower), cp);
}

int mqr__unicode_is_space(uint32_t cp)
{
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x85: case 0x200E: case 0x200F: case 0x2028: case 0x2029:
        return 1;
    default:
        return 0;
    }
}

int mqr__utf8_case_map(const uint8_t *s, size_t len, int upper, uint8_t *out, size_t cap,
                       size_t *out_len, size_t *out_err)
{
    size_t i = 0, o = 0;
    int rc = MQR_OK;
    while (i < len) {
        uint32_t cp;
        size_t n = mqr__utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            if (out_err)
                *out_err = i;
            *out_len = 0;
            return MQR_EUTF8;
        }
        uint8_t enc[4];
        size_t m = mqr__utf8_encode(upper ? mqr__unicode_upper(cp) : mqr__unicode_lower(cp), enc);
        if (o + m <= cap)
            memcpy(out + o, enc, m);
        else
            rc = MQR_EBUFFER;
        o += m;
        i += n;
    }
    *out_len = o;
    return rc;
}
