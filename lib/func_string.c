/* SPDX-License-Identifier: MIT */
/*
 * func_string.c - the string SQL functions of spec §7.6 (except sprintf and
 * the regex functions, in func_format.c and func_regex.c) and str_utf16_le.
 *
 * EMQX counts graphemes. mqttrule counts "units": one code point, except
 * that CR LF is one unit as in Unicode's grapheme rules; a combining mark
 * therefore counts on its own ("e" + U+0301 is 2). A byte that is not part of
 * well-formed UTF-8 is one unit, so no string function fails on binary data
 * except lower/upper, which need to decode every character.
 *
 * Results are built in the evaluation arena; when a result is a substring of
 * an argument it borrows the argument's bytes instead of copying.
 */
#include <string.h>

#include "codec_util.h"
#include "func_util.h"

/* ---- units ---------------------------------------------------------------------- */

/* Bytes in the unit at the start of s[0..len) (len > 0). */
static size_t unit_len(const char *s, size_t len)
{
    uint32_t cp;
    if (MQR__LIKELY((unsigned char)s[0] < 0x80 && s[0] != '\r'))
        return 1;
    if (s[0] == '\r' && len > 1 && s[1] == '\n')
        return 2;
    size_t n = mqr__utf8_decode((const uint8_t *)s, len, &cp);
    return n ? n : 1;
}

/* The code point of the unit at s (U+FFFD for a stray byte; CR for CR LF). */
static uint32_t unit_cp(const char *s, size_t len)
{
    uint32_t cp;
    return mqr__utf8_decode((const uint8_t *)s, len, &cp) ? cp : 0xFFFDu;
}

static size_t count_units(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += unit_len(s + i, len - i))
        n++;
    return n;
}

/* Byte offset after `n` units (len when the string is shorter). */
static size_t skip_units(const char *s, size_t len, uint64_t n)
{
    size_t i = 0;
    for (; i < len && n > 0; n--)
        i += unit_len(s + i, len - i);
    return i;
}

/* Byte offset where the last unit of s[0..end) starts (end > 0). */
static size_t prev_unit(const char *s, size_t end)
{
    if (end >= 2 && s[end - 2] == '\r' && s[end - 1] == '\n')
        return end - 2;
    size_t i = end - 1;
    /* Step back over at most three continuation bytes to a lead byte that
     * decodes exactly up to end; otherwise the last byte is a unit alone. */
    for (size_t k = 1; k <= 4 && k <= end; k++) {
        uint32_t cp;
        size_t at = end - k;
        if (((unsigned char)s[at] & 0xC0) == 0x80)
            continue;
        if (mqr__utf8_decode((const uint8_t *)s + at, k, &cp) == k)
            i = at;
        break;
    }
    return i;
}

/* 1 if code point cp occurs in the UTF-8 set chars[0..clen). */
static int in_set(uint32_t cp, const char *chars, size_t clen)
{
    for (size_t i = 0; i < clen;) {
        size_t n = unit_len(chars + i, clen - i);
        if (unit_cp(chars + i, clen - i) == cp)
            return 1;
        i += n;
    }
    return 0;
}

/* ---- case ------------------------------------------------------------------------ */

static int case_map(mqr__fctx_t *cx, const mqr_value_t *args, int upper, mqr_value_t *out)
{
    const char *s;
    size_t len, need, err;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    size_t ascii = 0;
    while (ascii < len && (unsigned char)s[ascii] < 0x80)
        ascii++;
    if (ascii == len) { /* the common case: plain ASCII, mapped in one pass */
        char *p = mqr_arena_alloc(cx->arena, len ? len : 1);
        if (!p)
            return mqr__func_oom(cx);
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (upper && c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            else if (!upper && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            p[i] = c;
        }
        mqr_value_set_string(out, p, len);
        return MQR_OK;
    }
    rc = mqr__utf8_case_map((const uint8_t *)s, len, upper, NULL, 0, &need, &err);
    if (rc == MQR_EUTF8)
        return mqr__func_error(cx, "invalid UTF-8 at byte %zu", err);
    char *p = mqr_arena_alloc(cx->arena, need ? need : 1);
    if (!p)
        return mqr__func_oom(cx);
    mqr__utf8_case_map((const uint8_t *)s, len, upper, (uint8_t *)p, need, &need, &err);
    mqr_value_set_string(out, p, need);
    return MQR_OK;
}

int mqr__func_sql_lower(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return case_map(cx, args, 0, out);
}

int mqr__func_sql_upper(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return case_map(cx, args, 1, out);
}

/* ---- trimming ----------------------------------------------------------------------- */

/* Strip units whose code point is whitespace (chars == NULL) or in chars,
 * from the start and/or the end. */
static int trim(mqr__fctx_t *cx, const mqr_value_t *args, int lead, int trail,
                const char *chars, size_t clen, mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    size_t b = 0, e = len;
    while (lead && b < e) {
        uint32_t cp = unit_cp(s + b, e - b);
        if (!(chars ? in_set(cp, chars, clen) : mqr__unicode_is_space(cp)))
            break;
        b += unit_len(s + b, e - b);
    }
    while (trail && e > b) {
        size_t p = prev_unit(s, e);
        if (p < b)
            break;
        uint32_t cp = unit_cp(s + p, e - p);
        if (!(chars ? in_set(cp, chars, clen) : mqr__unicode_is_space(cp)))
            break;
        e = p;
    }
    mqr_value_set_string(out, s + b, e - b);
    return MQR_OK;
}

/* trim/ltrim/rtrim(s[, chars]): strip whitespace, or with `chars` any code
 * point that occurs in chars, from both ends / the start / the end. */
static int trim_fn(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, int lead,
                   int trail, mqr_value_t *out)
{
    const char *chars = NULL;
    size_t clen = 0;
    int rc = argc == 2 ? mqr__func_arg_str(cx, args, 1, &chars, &clen) : MQR_OK;
    return rc ? rc : trim(cx, args, lead, trail, chars, clen, out);
}

int mqr__func_sql_trim(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    return trim_fn(cx, args, argc, 1, 1, out);
}

int mqr__func_sql_ltrim(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return trim_fn(cx, args, argc, 1, 0, out);
}

int mqr__func_sql_rtrim(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    return trim_fn(cx, args, argc, 0, 1, out);
}

/* ---- length, reverse, substr, pad ------------------------------------------------------ */

int mqr__func_sql_strlen(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        mqr_value_set_int(out, (int64_t)count_units(s, len));
    return rc;
}

int mqr__func_sql_reverse(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    char *p = mqr_arena_alloc(cx->arena, len ? len : 1);
    if (!p)
        return mqr__func_oom(cx);
    for (size_t i = 0; i < len;) {
        size_t n = unit_len(s + i, len - i);
        memcpy(p + len - i - n, s + i, n);
        i += n;
    }
    mqr_value_set_string(out, p, len);
    return MQR_OK;
}

/* substr(s, start[, len]): units from the 0-based start; past the end is "". */
int mqr__func_sql_substr(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    const char *s;
    size_t len;
    int64_t start, n = INT64_MAX;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_int(cx, args, 1, &start);
    if (!rc && argc == 3)
        rc = mqr__func_arg_int(cx, args, 2, &n);
    if (rc)
        return rc;
    if (start < 0 || n < 0)
        return mqr__func_error(cx, "start and length must be >= 0, got %lld and %lld",
                               (long long)start, argc == 3 ? (long long)n : 0LL);
    size_t b = skip_units(s, len, (uint64_t)start);
    size_t e = b + skip_units(s + b, len - b, (uint64_t)n);
    mqr_value_set_string(out, s + b, e - b);
    return MQR_OK;
}

/* pad(s, len[, 'trailing'|'leading'|'both'[, char]]): pad with `char`
 * (default space) up to len units; 'both' puts the odd one at the end.
 * As Erlang's string:pad/4 (emqx_variform_bif:pad/4), `char` is repeated
 * whole once per missing unit, so 'ab' pads two units per missing one and ''
 * pads nothing. len is limited so that a small rule cannot ask for
 * gigabytes. */
#define MQR__FUNC_MAX_PAD (1 << 20)
int mqr__func_sql_pad(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                      mqr_value_t *out)
{
    static const char *const dirs[] = {"trailing", "leading", "both"};
    const char *s, *ch = " ";
    size_t len, chlen = 1;
    int64_t want;
    int dir = 0;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_int(cx, args, 1, &want);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 2, dirs, 3, 0, &dir);
    if (!rc && argc == 4)
        rc = mqr__func_arg_str(cx, args, 3, &ch, &chlen);
    if (rc)
        return rc;
    size_t have = count_units(s, len);
    if (want <= 0 || (uint64_t)want <= have) {
        mqr_value_set_string(out, s, len);
        return MQR_OK;
    }
    if (want > MQR__FUNC_MAX_PAD)
        return mqr__func_error(cx, "padded length %lld is above the limit of %d",
                               (long long)want, MQR__FUNC_MAX_PAD);
    size_t extra = (size_t)want - have;
    if (chlen > 0 && extra > (size_t)MQR__FUNC_MAX_PAD * 4 / chlen)
        return mqr__func_error(cx, "padding of %zu times %zu bytes is above the limit of %d bytes",
                               extra, chlen, MQR__FUNC_MAX_PAD * 4);
    size_t left = dir == 1 ? extra : (dir == 2 ? extra / 2 : 0), right = extra - left;
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (size_t i = 0; i < left; i++)
        mqr__sbuf_append(&b, ch, chlen);
    mqr__sbuf_append(&b, s, len);
    for (size_t i = 0; i < right; i++)
        mqr__sbuf_append(&b, ch, chlen);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* ---- searching ------------------------------------------------------------------------- */

/* First (or last, when `last`) occurrence of pat in s, or NULL. */
static const char *search(const char *s, size_t len, const char *pat, size_t plen, int last)
{
    if (plen > len)
        return NULL;
    const char *hit = NULL;
    for (size_t i = 0; i + plen <= len; i++) {
        if (memcmp(s + i, pat, plen) == 0) {
            hit = s + i;
            if (!last)
                break;
        }
    }
    return hit;
}

/* split(s, sep[, option]): every piece between separators; empty pieces are
 * dropped unless the option ends in "notrim"; 'leading' / 'trailing' split
 * only at the first / last separator. */
int mqr__func_sql_split(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    static const char *const opts[] = {"notrim", "leading", "trailing", "leading_notrim",
                                       "trailing_notrim"};
    const char *s, *sep;
    size_t len, slen;
    int opt = 0;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &sep, &slen);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 2, opts, 5, -1, &opt);
    if (rc)
        return rc;
    opt += 1; /* 0 = no option, else 1 + index into opts */
    int keep_empty = opt == 1 || opt == 4 || opt == 5;
    int once = opt >= 2 ? (opt == 2 || opt == 4 ? 1 : 2) : 0; /* 1 leading, 2 trailing */
    if (mqr_value_array_new(cx->arena, 4, out) != MQR_OK)
        return mqr__func_oom(cx);
    size_t pos = 0;
    while (slen > 0) {
        const char *hit = search(s + pos, len - pos, sep, slen, once == 2);
        if (!hit)
            break;
        size_t at = (size_t)(hit - s);
        if (keep_empty || at > pos) {
            mqr_value_t piece;
            mqr_value_set_string(&piece, s + pos, at - pos);
            if ((rc = mqr__func_push(cx, out, &piece)))
                return rc;
        }
        pos = at + slen;
        if (once)
            break;
    }
    if (keep_empty || pos < len) {
        mqr_value_t piece;
        mqr_value_set_string(&piece, s + pos, len - pos);
        rc = mqr__func_push(cx, out, &piece);
    }
    return rc;
}

/* tokens(s, chars[, 'nocrlf']): pieces separated by runs of any code point
 * of chars (and CR, LF with 'nocrlf'); never empty pieces. */
int mqr__func_sql_tokens(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    static const char *const opts[] = {"nocrlf"};
    const char *s, *chars;
    size_t len, clen;
    int opt = 0;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &chars, &clen);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 2, opts, 1, -1, &opt);
    if (rc)
        return rc;
    if (mqr_value_array_new(cx->arena, 4, out) != MQR_OK)
        return mqr__func_oom(cx);
    size_t start = 0;
    for (size_t i = 0; i <= len && !rc;) {
        size_t n = i < len ? unit_len(s + i, len - i) : 0;
        int is_sep = 0;
        if (i < len) {
            uint32_t cp = unit_cp(s + i, len - i);
            is_sep = in_set(cp, chars, clen) ||
                     (opt == 0 && (cp == '\r' || cp == '\n'));
            /* A CR LF unit is one separator when either half is one. */
            if (!is_sep && n == 2 && s[i] == '\r')
                is_sep = in_set('\n', chars, clen);
        }
        if (i == len || is_sep) {
            if (i > start) {
                mqr_value_t piece;
                mqr_value_set_string(&piece, s + start, i - start);
                rc = mqr__func_push(cx, out, &piece);
            }
            start = i + n;
        }
        if (i == len)
            break;
        i += n;
    }
    return rc;
}

/* replace(s, pat, rep[, 'all'|'leading'|'trailing']): literal replacement of
 * every, the first or the last occurrence. */
int mqr__func_sql_replace(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                          mqr_value_t *out)
{
    static const char *const wheres[] = {"all", "leading", "trailing"};
    const char *s, *pat, *rep;
    size_t len, plen, rlen;
    int where = 0;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &pat, &plen);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 2, &rep, &rlen);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 3, wheres, 3, 0, &where);
    if (rc)
        return rc;
    if (plen == 0) {
        mqr_value_set_string(out, s, len);
        return MQR_OK;
    }
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    size_t pos = 0;
    for (;;) {
        const char *hit = search(s + pos, len - pos, pat, plen, where == 2);
        if (!hit)
            break;
        size_t at = (size_t)(hit - s);
        mqr__sbuf_append(&b, s + pos, at - pos);
        mqr__sbuf_append(&b, rep, rlen);
        pos = at + plen;
        if (where != 0)
            break;
    }
    mqr__sbuf_append(&b, s + pos, len - pos);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* find(s, pat[, 'leading'|'trailing']): the suffix of s from the first (or
 * last) occurrence of pat, "" when absent. */
int mqr__func_sql_find(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    static const char *const dirs[] = {"leading", "trailing"};
    const char *s, *pat;
    size_t len, plen;
    int dir = 0;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &pat, &plen);
    if (!rc)
        rc = mqr__func_arg_word(cx, args, argc, 2, dirs, 2, 0, &dir);
    if (rc)
        return rc;
    const char *hit = plen ? search(s, len, pat, plen, dir == 1) : s;
    if (hit)
        mqr_value_set_string(out, hit, len - (size_t)(hit - s));
    else
        mqr_value_set_string(out, "", 0);
    return MQR_OK;
}

/* rm_prefix(s, prefix): s without the prefix, or s when it does not start
 * with it. */
int mqr__func_sql_rm_prefix(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                            mqr_value_t *out)
{
    const char *s, *p;
    size_t len, plen;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (!rc)
        rc = mqr__func_arg_str(cx, args, 1, &p, &plen);
    if (rc)
        return rc;
    if (plen <= len && memcmp(s, p, plen) == 0)
        mqr_value_set_string(out, s + plen, len - plen);
    else
        mqr_value_set_string(out, s, len);
    return MQR_OK;
}

/* ascii(s): the code of the first byte; "" is an error. */
int mqr__func_sql_ascii(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                        mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    if (len == 0)
        return mqr__func_error(cx, "the string is empty");
    mqr_value_set_int(out, (unsigned char)s[0]);
    return MQR_OK;
}

/* ---- joining ------------------------------------------------------------------------- */

/* concat(a, b, ...) or concat([a, b, ...]): the str() texts concatenated. */
int mqr__func_sql_concat(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    const mqr_value_t *items;
    uint32_t n;
    int rc = mqr__func_list_args(cx, args, argc, &items, &n);
    if (rc)
        return rc;
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (uint32_t i = 0; i < n; i++)
        mqr__value_to_text(&b, &items[i]);
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* join_to_string([sep,] arr): the str() texts of the items joined by sep
 * (default ", "). */
int mqr__func_sql_join_to_string(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                 mqr_value_t *out)
{
    const char *sep = ", ";
    size_t slen = 2;
    const mqr_value_t *arr;
    int rc = argc == 2 ? mqr__func_arg_str(cx, args, 0, &sep, &slen) : MQR_OK;
    if (!rc)
        rc = mqr__func_arg_array(cx, args, argc - 1, &arr);
    if (rc)
        return rc;
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (uint32_t i = 0; i < arr->len; i++) {
        if (i)
            mqr__sbuf_append(&b, sep, slen);
        mqr__value_to_text(&b, &arr->u.items[i]);
    }
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* Append s as a single-quoted SQL string, escaping backslash and quote
 * with a backslash (MySQL style, as EMQX's SQL quoting). */
static void sql_quote(mqr__sbuf_t *b, const char *s, size_t len)
{
    mqr__sbuf_putc(b, '\'');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\'' || s[i] == '\\') {
            mqr__sbuf_append(b, s + run, i - run);
            mqr__sbuf_putc(b, '\\');
            run = i;
        }
    }
    mqr__sbuf_append(b, s + run, len - run);
    mqr__sbuf_putc(b, '\'');
}

/* join_to_sql_values_string(arr): items as SQL literals joined by ", ":
 * numbers bare; strings, and like EMQX's atoms true, false, null and
 * undefined by name, quoted; arrays and objects as quoted JSON. */
int mqr__func_sql_join_to_sql_values_string(mqr__fctx_t *cx, const mqr_value_t *args,
                                            uint32_t argc, mqr_value_t *out)
{
    const mqr_value_t *arr;
    int rc = mqr__func_arg_array(cx, args, 0, &arr);
    if (rc)
        return rc;
    mqr__sbuf_t b, tmp;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (uint32_t i = 0; i < arr->len; i++) {
        const mqr_value_t *v = &arr->u.items[i];
        if (i)
            mqr__sbuf_append(&b, ", ", 2);
        switch (v->type) {
        case MQR_VAL_UNDEFINED: sql_quote(&b, "undefined", 9); break;
        case MQR_VAL_NULL: sql_quote(&b, "null", 4); break;
        case MQR_VAL_BOOL: sql_quote(&b, v->u.b ? "true" : "false", v->u.b ? 4 : 5); break;
        case MQR_VAL_STRING: sql_quote(&b, v->u.s, v->len); break;
        case MQR_VAL_ARRAY:
        case MQR_VAL_OBJECT:
            mqr__sbuf_init_arena(&tmp, cx->arena);
            mqr__json_write(&tmp, v, 0); /* EMQX JSON: keeps the function pure */
            if ((rc = mqr__sbuf_status(&tmp)))
                return mqr__func_ret_sbuf(cx, &tmp, out);
            sql_quote(&b, tmp.p, tmp.len);
            break;
        default: mqr__value_to_text(&b, v); break;
        }
    }
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* map_to_redis_hset_args(obj or JSON object string): [field, value, ...]
 * for the string, number and boolean members, as text (floats with up to 6
 * decimals); members of other types are left out, as EMQX drops them. */
int mqr__func_sql_map_to_redis_hset_args(mqr__fctx_t *cx, const mqr_value_t *args,
                                         uint32_t argc, mqr_value_t *out)
{
    mqr_value_t obj;
    int rc = mqr__func_arg_object(cx, args, 0, &obj);
    if (rc)
        return rc;
    if (mqr_value_array_new(cx->arena, (size_t)obj.len * 2, out) != MQR_OK)
        return mqr__func_oom(cx);
    for (uint32_t i = 0; i < obj.len && !rc; i++) {
        const mqr_member_t *m = &obj.u.members[i];
        const mqr_value_t *v = &m->value;
        mqr_value_t key, val;
        mqr__sbuf_t b;
        if (v->type != MQR_VAL_STRING && v->type != MQR_VAL_INT &&
            v->type != MQR_VAL_DOUBLE && v->type != MQR_VAL_BOOL)
            continue;
        mqr__sbuf_init_arena(&b, cx->arena);
        if (v->type == MQR_VAL_DOUBLE)
            mqr__sbuf_put_fixed(&b, v->u.d, 6, 1);
        else
            mqr__value_to_text(&b, v);
        mqr_value_set_string(&key, m->key, m->key_len);
        if (!(rc = mqr__func_ret_sbuf(cx, &b, &val)) && !(rc = mqr__func_push(cx, out, &key)))
            rc = mqr__func_push(cx, out, &val);
    }
    return rc;
}

/* ---- escapes and encodings -------------------------------------------------------------- */

/* unescape(s): C escapes \n \t \r \b \f \v \' \" \\ \? \a and \x followed
 * by hex digits (a code point, written as UTF-8); any other escape is an
 * error. A backslash that ends the string is kept, as in EMQX
 * (emqx_variform_bif:unescape_string/2 has no clause for it but the plain
 * character one). */
int mqr__func_sql_unescape(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                           mqr_value_t *out)
{
    static const char from[] = "ntrbfv'\"\\?a", to[] = "\n\t\r\b\f\v'\"\\?\a";
    const char *s;
    size_t len;
    int rc = mqr__func_arg_text(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    if (!memchr(s, '\\', len)) {
        mqr_value_set_string(out, s, len);
        return MQR_OK;
    }
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            mqr__sbuf_putc(&b, s[i]);
            continue;
        }
        if (++i == len) {
            mqr__sbuf_putc(&b, '\\');
            break;
        }
        const char *e = memchr(from, s[i], sizeof from - 1);
        if (e) {
            mqr__sbuf_putc(&b, to[e - from]);
            continue;
        }
        if (s[i] != 'x')
            return mqr__func_error(cx, "unknown escape '\\%c' at byte %zu", s[i], i - 1);
        uint32_t cp = 0;
        size_t digits = 0;
        while (i + 1 < len && mqr__hex_value((unsigned char)s[i + 1]) >= 0 && cp <= MQR_UNICODE_MAX) {
            cp = cp * 16 + (uint32_t)mqr__hex_value((unsigned char)s[++i]);
            digits++;
        }
        uint8_t enc[4];
        size_t n = digits ? mqr__utf8_encode(cp, enc) : 0;
        if (n == 0)
            return mqr__func_error(cx, "invalid \\x escape");
        mqr__sbuf_append(&b, enc, n);
    }
    return mqr__func_ret_sbuf(cx, &b, out);
}

/* str_utf16_le(x): the str() text of x encoded as UTF-16 little endian. */
int mqr__func_sql_str_utf16_le(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                               mqr_value_t *out)
{
    mqr_value_t text;
    int rc = mqr__func_sql_str(cx, args, 1, &text);
    if (rc)
        return rc;
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, cx->arena);
    for (size_t i = 0; i < text.len;) {
        uint32_t cp;
        size_t n = mqr__utf8_decode((const uint8_t *)text.u.s + i, text.len - i, &cp);
        if (n == 0)
            return mqr__func_error(cx, "invalid UTF-8 at byte %zu", i);
        uint8_t u[4];
        size_t k = 2;
        if (cp >= 0x10000) {
            uint32_t hi = 0xD800 + ((cp - 0x10000) >> 10), lo = 0xDC00 + (cp & 0x3FF);
            u[0] = (uint8_t)hi;
            u[1] = (uint8_t)(hi >> 8);
            u[2] = (uint8_t)lo;
            u[3] = (uint8_t)(lo >> 8);
            k = 4;
        } else {
            u[0] = (uint8_t)cp;
            u[1] = (uint8_t)(cp >> 8);
        }
        mqr__sbuf_append(&b, u, k);
        i += n;
    }
    return mqr__func_ret_sbuf(cx, &b, out);
}
