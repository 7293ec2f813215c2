/* SPDX-License-Identifier: MIT */
/*
 * json.c - the public JSON API: a strict RFC 8259 reader that builds values
 * in an arena, and mqr_json_write, the writer of sbuf.c aimed at a caller
 * buffer.
 *
 * The reader is iterative, so nesting costs heap-free memory, not C stack:
 * a frame stack records the open arrays and objects, and a scratch stack of
 * members collects their elements until the closing bracket, when they are
 * copied into one exactly-sized arena allocation and popped. Both stacks
 * start in local arrays and move to the arena only for large or deep
 * documents, so a small payload costs one allocation per container and per
 * escaped string. Strings without escapes point into the input.
 *
 * Grammar (RFC 8259):
 *   text   = ws value ws
 *   value  = object / array / string / number / "true" / "false" / "null"
 *   object = "{" ws [ member *( ws "," ws member ) ] ws "}"
 *   member = string ws ":" ws value
 *   array  = "[" ws [ value *( ws "," ws value ) ] ws "]"
 *   number = [ "-" ] ( "0" / digit1-9 *digit ) [ "." 1*digit ] [ ( "e" / "E" ) [ "+" / "-" ] 1*digit ]
 *   ws     = *( " " / "\t" / "\n" / "\r" )
 */
#include <stdlib.h>
#include <string.h>

#include "codec_util.h"
#include "mqttrule/json.h"
#include "value_int.h"

_Static_assert(MQR_JSON_UNDEFINED_AS_NULL == MQR__JSONF_UNDEFINED_AS_NULL,
               "public and internal writer flags agree");
_Static_assert(MQR_JSON_MAX_DEPTH == MQR__VALUE_MAX_DEPTH,
               "the writer renders everything the reader accepts");

#define LOCAL_MEMBERS 64
#define LOCAL_FRAMES 32
#define SMALL_OBJECT 16 /* up to this many members, duplicates by pairwise compare */

typedef struct {
    uint32_t start;  /* index of the first element in the member stack */
    uint32_t is_obj; /* 1 object, 0 array */
} frame_t;

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    mqr_arena_t *arena;
    mqr_diag_t *diag;
    uint32_t max_depth;
    mqr_member_t *mem; /* scratch: elements of the open containers */
    size_t nmem, capmem;
    frame_t *fr; /* open containers, innermost last */
    size_t nfr, capfr;
} parser_t;

/* Record a syntax error at byte `at`: "JSON: <what> at byte N". */
static int fail_at(parser_t *p, int code, size_t at, const char *what)
{
    mqr__diag_set(p->diag, code, "JSON: %s at byte %zu", what, at);
    if (p->diag)
        p->diag->offset = at;
    return code;
}

static int fail_oom(parser_t *p)
{
    return mqr__diag_set(p->diag, MQR_ENOMEM, "JSON: out of memory");
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        p->pos++;
    }
}

/* Grow a scratch stack (local array first, arena afterwards) to hold one
 * more element of `elem` bytes. */
static int grow_stack(parser_t *p, void **data, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return MQR_OK;
    void *q = mqr_arena_alloc(p->arena, *cap * 2 * elem);
    if (!q)
        return fail_oom(p);
    memcpy(q, *data, n * elem);
    *data = q;
    *cap *= 2;
    return MQR_OK;
}

/* Four hex digits at s[i..i+4) as a code unit, or -1. */
static long hex4(const char *s, size_t i, size_t len)
{
    uint8_t b[2];
    size_t n, err;
    if (len - i < 4 || mqr__hex_decode(s + i, 4, b, sizeof b, &n, &err) != MQR_OK)
        return -1;
    return (long)b[0] << 8 | b[1];
}

/* The escape at s[i] (a backslash): checks it and sets *out_n to its
 * length, 2 ("\\n"), 6 ("\\u00e9") or 12 (a surrogate pair).
 * escape = "\\" ( ["] / "\\" / "/" / "b" / "f" / "n" / "r" / "t" / "u" 4hexdig ) */
static int check_escape(parser_t *p, size_t i, size_t *out_n)
{
    const char *s = p->s;
    size_t len = p->len;
    if (i + 1 >= len)
        return fail_at(p, MQR_EJSON, len, "unterminated string");
    if (s[i + 1] != 'u') {
        if (!memchr("\"\\/bfnrt", s[i + 1], 8))
            return fail_at(p, MQR_EJSON, i, "invalid escape in string");
        *out_n = 2;
        return MQR_OK;
    }
    long u = hex4(s, i + 2, len);
    if (u < 0)
        return fail_at(p, MQR_EJSON, i, "invalid \\u escape in string");
    if (u >= 0xDC00 && u <= 0xDFFF)
        return fail_at(p, MQR_EJSON, i, "unpaired surrogate in string");
    if (u < 0xD800 || u > 0xDBFF) {
        *out_n = 6;
        return MQR_OK;
    }
    long lo = (len - i >= 12 && s[i + 6] == '\\' && s[i + 7] == 'u') ? hex4(s, i + 8, len) : -1;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail_at(p, MQR_EJSON, i, "unpaired surrogate in string");
    *out_n = 12;
    return MQR_OK;
}

/* Decode the string body s[start..end), already checked by parse_string,
 * into the arena: runs between backslashes are copied whole. */
static int decode_string(parser_t *p, size_t start, size_t end, const char **out, size_t *out_len)
{
    const char *s = p->s;
    char *buf = mqr_arena_alloc(p->arena, end - start); /* decoding never grows */
    if (!buf)
        return fail_oom(p);
    size_t o = 0, i = start;
    while (i < end) {
        const char *bs = memchr(s + i, '\\', end - i);
        size_t run = bs ? (size_t)(bs - (s + i)) : end - i;
        memcpy(buf + o, s + i, run);
        o += run;
        i += run;
        if (i == end)
            break;
        char e = s[i + 1];
        if (e != 'u') {
            buf[o++] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r'
                     : e == 't' ? '\t' : e; /* '"', '\\' and '/' stand for themselves */
            i += 2;
            continue;
        }
        uint32_t u = (uint32_t)hex4(s, i + 2, end);
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            u = 0x10000 + ((u - 0xD800) << 10) + ((uint32_t)hex4(s, i + 2, end) - 0xDC00);
            i += 6;
        }
        o += mqr__utf8_encode(u, (uint8_t *)buf + o);
    }
    *out = mqr__arena_realloc(p->arena, buf, end - start, o); /* give back the tail */
    *out_len = o;
    return MQR_OK;
}

/* string = quotation-mark *char quotation-mark, at p->pos. Checks the
 * whole body first (so errors come in text order), then borrows it from
 * the input, or decodes it into the arena when it has escapes. */
static int parse_string(parser_t *p, const char **out, uint32_t *out_len)
{
    const unsigned char *s = (const unsigned char *)p->s;
    size_t start = p->pos + 1, i = start, len = p->len;
    int escaped = 0;
    for (;;) {
        for (; len - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!mqr__json_word_plain(w))
                break;
        }
        while (i < len && mqr__json_char_class[s[i]] == 0)
            i++;
        if (i >= len)
            return fail_at(p, MQR_EJSON, len, "unterminated string");
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            size_t k;
            int rc = check_escape(p, i, &k);
            if (rc != MQR_OK)
                return rc;
            escaped = 1;
            i += k;
        } else if (c < 0x20) {
            return fail_at(p, MQR_EJSON, i, "control character in string");
        } else {
            uint32_t cp;
            size_t k = mqr__utf8_decode(s + i, len - i, &cp);
            if (!k)
                return fail_at(p, MQR_EJSON, i, "invalid UTF-8 in string");
            i += k;
        }
    }
    if (i - start > UINT32_MAX)
        return fail_at(p, MQR_ELIMIT, start - 1, "string longer than 4 GiB");
    size_t n = i - start;
    const char *str = p->s + start;
    if (escaped) {
        int rc = decode_string(p, start, i, &str, &n);
        if (rc != MQR_OK)
            return rc;
    }
    *out = n ? str : "";
    *out_len = (uint32_t)n;
    p->pos = i + 1;
    return MQR_OK;
}

/* number, at p->pos (a '-' or a digit). */
static int parse_number(parser_t *p, mqr_value_t *v)
{
    const char *s = p->s;
    size_t start = p->pos, i = start, len = p->len;
    int neg = 0;
    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= len || s[i] < '0' || s[i] > '9')
        return fail_at(p, MQR_EJSON, i, "expected a digit in number");
    uint64_t acc = 0;
    int fits = 1;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (s[i] == '0') {
        i++;
        if (i < len && s[i] >= '0' && s[i] <= '9')
            return fail_at(p, MQR_EJSON, start, "leading zero in number");
    } else {
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (acc > (limit - d) / 10)
                fits = 0;
            else
                acc = acc * 10 + d;
        }
    }
    int is_int = 1;
    if (i < len && s[i] == '.') {
        is_int = 0;
        size_t d0 = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d0)
            return fail_at(p, MQR_EJSON, i, "expected a digit after '.' in number");
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d0 = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d0)
            return fail_at(p, MQR_EJSON, i, "expected a digit in exponent");
    }
    p->pos = i;
    if (is_int && fits) {
        mqr_value_set_int(v, neg ? (int64_t)(0 - acc) : (int64_t)acc);
        return MQR_OK;
    }
    double d;
    if (mqr__strtod(s + start, i - start, &d) != MQR_OK)
        return fail_at(p, MQR_EJSON, start, "number out of range");
    mqr_value_set_double(v, d);
    return MQR_OK;
}

static int parse_literal(parser_t *p, mqr_value_t *v)
{
    const char *s = p->s + p->pos;
    size_t room = p->len - p->pos;
    if (room >= 4 && memcmp(s, "true", 4) == 0) {
        mqr_value_set_bool(v, 1);
        p->pos += 4;
    } else if (room >= 5 && memcmp(s, "false", 5) == 0) {
        mqr_value_set_bool(v, 0);
        p->pos += 5;
    } else if (room >= 4 && memcmp(s, "null", 4) == 0) {
        mqr_value_set_null(v);
        p->pos += 4;
    } else {
        return fail_at(p, MQR_EJSON, p->pos, "invalid literal");
    }
    return MQR_OK;
}

/* Key order for qsort: bytes, then position (the member's address), so
 * equal keys stay in text order. */
static int cmp_member_ptr(const void *a, const void *b)
{
    const mqr_member_t *x = *(const mqr_member_t *const *)a;
    const mqr_member_t *y = *(const mqr_member_t *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Fold repeated keys of m[0..n): the first occurrence takes the value of
 * the last, later occurrences are dropped (key_len UINT32_MAX marks them).
 * Returns the number of members left after compaction, or (size_t)-1 when
 * out of memory. Small objects compare pairwise; larger ones sort member
 * pointers, which keeps the worst case at O(n log n). */
static size_t fold_duplicates(parser_t *p, mqr_member_t *m, size_t n)
{
    int any = 0;
    if (n <= SMALL_OBJECT) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (m[j].key_len == m[i].key_len && m[j].key_len != UINT32_MAX &&
                    (m[i].key_len == 0 || (m[j].key[0] == m[i].key[0] &&
                                           memcmp(m[j].key, m[i].key, m[i].key_len) == 0))) {
                    m[j].value = m[i].value;
                    m[i].key_len = UINT32_MAX;
                    any = 1;
                    break;
                }
    } else {
        mqr_member_t **order = mqr_arena_alloc(p->arena, n * sizeof *order);
        if (!order)
            return (size_t)-1;
        for (size_t i = 0; i < n; i++)
            order[i] = &m[i];
        qsort(order, n, sizeof *order, cmp_member_ptr);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && order[j]->key_len == order[i]->key_len &&
                   memcmp(order[j]->key, order[i]->key, order[i]->key_len) == 0)
                j++;
            if (j - i > 1) {
                order[i]->value = order[j - 1]->value;
                for (size_t k = i + 1; k < j; k++)
                    order[k]->key_len = UINT32_MAX;
                any = 1;
            }
            i = j;
        }
    }
    if (!any)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].key_len != UINT32_MAX)
            m[k++] = m[i];
    return k;
}

/* Where the value being parsed goes: the open container's last scratch
 * slot, or *top outside any container. Values are built in place there;
 * building them in a local and copying would load 16 bytes right after
 * narrower stores, which stalls store forwarding on every value. */
static mqr_value_t *value_slot(parser_t *p, mqr_value_t *top)
{
    return p->nfr ? &p->mem[p->nmem - 1].value : top;
}

/* Close the innermost container: copy its elements out of the scratch
 * stack into one arena allocation and store the array or object in the
 * enclosing slot (value_slot after the pop). */
static int close_container(parser_t *p, mqr_value_t *top)
{
    frame_t f = p->fr[--p->nfr];
    mqr_member_t *m = p->mem + f.start;
    size_t n = p->nmem - f.start;
    p->nmem = f.start;
    if (n > UINT32_MAX)
        return fail_at(p, MQR_ELIMIT, p->pos, "container longer than UINT32_MAX");
    if (f.is_obj) {
        n = fold_duplicates(p, m, n);
        if (n == (size_t)-1)
            return fail_oom(p);
        mqr_member_t *dst = n ? mqr_arena_alloc(p->arena, n * sizeof *dst) : NULL;
        if (n && !dst)
            return fail_oom(p);
        if (n)
            memcpy(dst, m, n * sizeof *dst);
        mqr_value_t *v = value_slot(p, top);
        *v = (mqr_value_t){.type = MQR_VAL_OBJECT, .len = (uint32_t)n, .u.members = dst};
    } else {
        mqr_value_t *dst = n ? mqr_arena_alloc(p->arena, n * sizeof *dst) : NULL;
        if (n && !dst)
            return fail_oom(p);
        for (size_t i = 0; i < n; i++)
            dst[i] = m[i].value;
        mqr_value_t *v = value_slot(p, top);
        *v = (mqr_value_t){.type = MQR_VAL_ARRAY, .len = (uint32_t)n, .u.items = dst};
    }
    return MQR_OK;
}

/* Open an array or object at p->pos: push a frame, enforcing max_depth. */
static int open_container(parser_t *p, uint32_t is_obj)
{
    if (p->nfr >= p->max_depth) {
        mqr__diag_set(p->diag, MQR_ELIMIT, "JSON: nesting deeper than %u at byte %zu",
                      p->max_depth, p->pos);
        if (p->diag)
            p->diag->offset = p->pos;
        return MQR_ELIMIT;
    }
    void *data = p->fr;
    int rc = grow_stack(p, &data, &p->capfr, p->nfr, sizeof(frame_t));
    if (rc != MQR_OK)
        return rc;
    p->fr = data;
    p->fr[p->nfr].start = (uint32_t)p->nmem;
    p->fr[p->nfr].is_obj = is_obj;
    p->nfr++;
    p->pos++;
    return MQR_OK;
}

/* Push a scratch slot for the next element; for objects parse its key
 * and the ':' (member = string ws ":" ws value). */
static int begin_element(parser_t *p, uint32_t is_obj)
{
    void *data = p->mem;
    int rc = grow_stack(p, &data, &p->capmem, p->nmem, sizeof(mqr_member_t));
    if (rc != MQR_OK)
        return rc;
    p->mem = data;
    mqr_member_t *m = &p->mem[p->nmem];
    memset(m, 0, sizeof *m);
    if (is_obj) {
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail_at(p, MQR_EJSON, p->pos, "expected a string key");
        rc = parse_string(p, &m->key, &m->key_len);
        if (rc != MQR_OK)
            return rc;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail_at(p, MQR_EJSON, p->pos, "expected ':'");
        p->pos++;
    }
    p->nmem++;
    return MQR_OK;
}

/* The main loop: parse one value into its slot, or open a container and
 * go round again for its first element; once a value is complete, look
 * for ',' or the closing bracket of the open container. */
static int parse_text(parser_t *p, mqr_value_t *out)
{
    mqr_value_t top;
    int rc;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len)
            return fail_at(p, MQR_EJSON, p->pos, "unexpected end of input");
        char c = p->s[p->pos];
        if (c == '{' || c == '[') {
            uint32_t is_obj = c == '{';
            if ((rc = open_container(p, is_obj)) != MQR_OK)
                return rc;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
                p->pos++;
                if ((rc = close_container(p, &top)) != MQR_OK)
                    return rc;
            } else {
                if ((rc = begin_element(p, is_obj)) != MQR_OK)
                    return rc;
                continue;
            }
        } else {
            mqr_value_t *v = value_slot(p, &top);
            if (c == '"') {
                if ((rc = parse_string(p, &v->u.s, &v->len)) != MQR_OK)
                    return rc;
                v->type = MQR_VAL_STRING;
                v->flags = 0;
                v->reserved_ = 0;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                if ((rc = parse_number(p, v)) != MQR_OK)
                    return rc;
            } else if (c == 't' || c == 'f' || c == 'n') {
                if ((rc = parse_literal(p, v)) != MQR_OK)
                    return rc;
            } else {
                return fail_at(p, MQR_EJSON, p->pos, "expected a value");
            }
        }
        /* a value is complete: continue or close the open containers */
        for (;;) {
            if (p->nfr == 0) {
                skip_ws(p);
                if (p->pos != p->len)
                    return fail_at(p, MQR_EJSON, p->pos, "unexpected character after the value");
                *out = top;
                return MQR_OK;
            }
            uint32_t is_obj = p->fr[p->nfr - 1].is_obj;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if ((rc = begin_element(p, is_obj)) != MQR_OK)
                    return rc;
                break;
            }
            if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
                p->pos++;
                if ((rc = close_container(p, &top)) != MQR_OK)
                    return rc;
                continue;
            }
            return fail_at(p, MQR_EJSON, p->pos,
                           is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

int mqr_json_parse(mqr_arena_t *arena, const char *text, size_t len, uint32_t max_depth,
                   mqr_value_t *out, mqr_diag_t *diag)
{
    if (!arena || !out || (!text && len))
        return mqr__diag_set(diag, MQR_EINVAL, "JSON: arena, out and text are required");
    if (max_depth > MQR_JSON_MAX_DEPTH)
        return mqr__diag_set(diag, MQR_EINVAL, "JSON: max_depth %u is above %u", max_depth,
                             MQR_JSON_MAX_DEPTH);
    mqr_member_t local_mem[LOCAL_MEMBERS];
    frame_t local_fr[LOCAL_FRAMES];
    parser_t p = {
        .s = text ? text : "",
        .len = len,
        .arena = arena,
        .diag = diag,
        .max_depth = max_depth ? max_depth : MQR_JSON_DEFAULT_DEPTH,
        .mem = local_mem,
        .capmem = LOCAL_MEMBERS,
        .fr = local_fr,
        .capfr = LOCAL_FRAMES,
    };
    int rc = parse_text(&p, out);
    if (rc == MQR_OK)
        mqr_diag_clear(diag);
    return rc;
}

int mqr_json_write(const mqr_value_t *v, uint32_t flags, char *buf, size_t cap, size_t *out_len)
{
    if (!v || !out_len || (!buf && cap))
        return MQR_EINVAL;
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, cap);
    mqr__json_write(&b, v, flags & MQR__JSONF_UNDEFINED_AS_NULL);
    *out_len = mqr__sbuf_needed(&b);
    return mqr__sbuf_status(&b);
}
