/* SPDX-License-Identifier: MIT */
/*
 * json.c - a recursive-descent JSON reader (RFC 8259) building a malloc'd
 * tree, and the string writer, for mqttrule-packet. The reader rejects
 * trailing garbage, lone surrogates in \u escapes and nesting deeper than
 * JSON_MAX_DEPTH; numbers without fraction or exponent that fit int64 are
 * JSON_INT, others JSON_DOUBLE.
 */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct parser {
    const char *p, *start, *end;
    char *err;
    size_t err_size;
    int failed;
} parser_t;

static void fail(parser_t *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    int n = snprintf(ps->err, ps->err_size, "column %zu: ", (size_t)(ps->p - ps->start) + 1);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < ps->err_size)
        vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static json_t *new_value(parser_t *ps, int type)
{
    json_t *v = calloc(1, sizeof *v);
    if (!v)
        fail(ps, "out of memory");
    else
        v->type = type;
    return v;
}

/* Append one code point as UTF-8. */
static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(parser_t *ps, uint32_t *out)
{
    if (ps->end - ps->p < 4) {
        fail(ps, "short \\u escape");
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else {
            fail(ps, "bad \\u escape");
            return 0;
        }
    }
    *out = v;
    return 1;
}

/* string = '"' chars '"'; *ps->p is the opening quote. Output is never
 * longer than the input, so one buffer of the input's size suffices. */
static char *parse_string(parser_t *ps, size_t *out_len)
{
    ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"')
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    char *buf = malloc((size_t)(q - ps->p) + 1);
    if (!buf) {
        fail(ps, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*ps->p++;
        if (c == '"') {
            buf[n] = '\0';
            *out_len = n;
            return buf;
        }
        if (c < 0x20) {
            fail(ps, "control character in string");
            break;
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            continue;
        }
        if (ps->p >= ps->end) {
            fail(ps, "unterminated escape");
            break;
        }
        char e = *ps->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            buf[n++] = map[simple - "\"\\/bfnrt"];
            continue;
        }
        if (e != 'u') {
            fail(ps, "bad escape '\\%c'", e);
            break;
        }
        uint32_t cp;
        if (!hex4(ps, &cp))
            break;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                fail(ps, "lone surrogate");
                break;
            }
            ps->p += 2;
            if (!hex4(ps, &lo))
                break;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                fail(ps, "lone surrogate");
                break;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(ps, "lone surrogate");
            break;
        }
        n += put_utf8(buf + n, cp);
    }
    free(buf);
    return NULL;
}

static json_t *parse_value(parser_t *ps, int depth);

/* Append to a growing array of pointers. */
static int grow(parser_t *ps, json_t *v, size_t *cap)
{
    if (v->count < *cap)
        return 1;
    size_t nc = *cap ? *cap * 2 : 4;
    json_t **items = realloc(v->items, nc * sizeof *items);
    if (items)
        v->items = items;
    if (v->type == JSON_OBJECT && items) {
        char **keys = realloc(v->keys, nc * sizeof *keys);
        if (keys)
            v->keys = keys;
        size_t *kl = keys ? realloc(v->key_lens, nc * sizeof *kl) : NULL;
        if (kl)
            v->key_lens = kl;
        if (!keys || !kl)
            items = NULL;
    }
    if (!items) {
        fail(ps, "out of memory");
        return 0;
    }
    *cap = nc;
    return 1;
}

/* array = '[' [value (',' value)*] ']'; object = '{' [string ':' value (',' ...)*] '}' */
static json_t *parse_container(parser_t *ps, int depth, int type)
{
    char close = type == JSON_ARRAY ? ']' : '}';
    json_t *v = new_value(ps, type);
    if (!v)
        return NULL;
    ps->p++;
    size_t cap = 0;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        if (!grow(ps, v, &cap))
            break;
        if (type == JSON_OBJECT) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a member name");
                break;
            }
            size_t kl = 0;
            char *k = parse_string(ps, &kl);
            if (!k)
                break;
            v->keys[v->count] = k;
            v->key_lens[v->count] = kl;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(k);
                fail(ps, "expected ':'");
                break;
            }
            ps->p++;
        }
        json_t *item = parse_value(ps, depth + 1);
        if (!item) {
            if (type == JSON_OBJECT)
                free(v->keys[v->count]);
            break;
        }
        v->items[v->count++] = item;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        fail(ps, "expected ',' or '%c'", close);
        break;
    }
    json_free(v);
    return NULL;
}

static json_t *parse_number(parser_t *ps)
{
    const char *s = ps->p;
    int is_int = 1;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
        fail(ps, "bad number");
        return NULL;
    }
    while (ps->p < ps->end && strchr("0123456789+-.eE", *ps->p) && *ps->p) {
        if (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')
            is_int = 0;
        ps->p++;
    }
    char tmp[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof tmp) {
        fail(ps, "number too long");
        return NULL;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    json_t *v = new_value(ps, is_int ? JSON_INT : JSON_DOUBLE);
    if (!v)
        return NULL;
    char *endp;
    errno = 0;
    if (is_int)
        v->i = strtoll(tmp, &endp, 10);
    else
        v->d = strtod(tmp, &endp);
    if (*endp || errno) {
        fail(ps, "bad number '%s'", tmp);
        free(v);
        return NULL;
    }
    return v;
}

static json_t *parse_value(parser_t *ps, int depth)
{
    skip_ws(ps);
    if (depth > JSON_MAX_DEPTH) {
        fail(ps, "nesting too deep");
        return NULL;
    }
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    static const struct { const char *word; int type; int val; } words[] = {
        {"null", JSON_NULL, 0}, {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t wl = strlen(words[i].word);
        if ((size_t)(ps->end - ps->p) >= wl && memcmp(ps->p, words[i].word, wl) == 0) {
            ps->p += wl;
            json_t *v = new_value(ps, words[i].type);
            if (v)
                v->i = words[i].val;
            return v;
        }
    }
    switch (*ps->p) {
    case '"': {
        json_t *v = new_value(ps, JSON_STRING);
        if (v && !(v->s = parse_string(ps, &v->len))) {
            free(v);
            return NULL;
        }
        return v;
    }
    case '[': return parse_container(ps, depth, JSON_ARRAY);
    case '{': return parse_container(ps, depth, JSON_OBJECT);
    default: return parse_number(ps);
    }
}

json_t *json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    parser_t ps = {text, text, text + len, err, err_size, 0};
    json_t *v = parse_value(&ps, 0);
    if (v) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            fail(&ps, "unexpected text after the value");
            json_free(v);
            v = NULL;
        }
    }
    return v;
}

void json_free(json_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->s);
    free(v);
}

const json_t *json_get(const json_t *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->count; i++)
        if (obj->key_lens[i] == kl && memcmp(obj->keys[i], key, kl) == 0)
            return obj->items[i];
    return NULL;
}

void json_write_string(FILE *out, const char *s, size_t len)
{
    putc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20 || c == 0x7F)
                fprintf(out, "\\u%04x", c);
            else
                putc(c, out);
        }
    }
    putc('"', out);
}
