/* SPDX-License-Identifier: MIT */
/*
 * admin_http.c - the admin listener's HTTP/1.1 request parser and its pure
 * helpers (admin_http.h).
 *
 * The parser is stateless, like picohttpparser: the caller hands it every
 * byte received so far and gets back the length of the request head, or
 * "incomplete" (read more and call again from the start), or an error.
 * Bytes are checked as they are scanned, so garbage is refused at its first
 * bad byte rather than when a line end finally arrives; the caller bounds
 * how much it buffers. The outputs point into the caller's buffer; nothing
 * allocates, so the fuzz target (tests/fuzz/fuzz_admin_http.c) drives it
 * with inputs that end at the edge of their allocation.
 */
#include <string.h>

#include "admin_http.h"

/* RFC 9110 tchar: the bytes of a method or a header name. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte of a header value: visible ASCII, blanks and obs-text. */
static int is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A line end at *pos: CRLF or LF. 1 (advanced), 0 incomplete, -1 error. */
static int line_end(const char *buf, size_t len, size_t *pos)
{
    if (*pos >= len)
        return 0;
    if (buf[*pos] == '\n') {
        (*pos)++;
        return 1;
    }
    if (buf[*pos] != '\r')
        return -1;
    if (*pos + 1 >= len)
        return 0;
    if (buf[*pos + 1] != '\n')
        return -1;
    *pos += 2;
    return 1;
}

/* request-line = method SP request-target SP HTTP-version CRLF
 * Returns 1 with *pos after the line, or BRK_HTTP_INCOMPLETE / _ERROR. */
static int request_line(const char *buf, size_t len, size_t *pos, brk_http_req_t *req)
{
    size_t p = *pos, start = p;
    while (p < len && is_tchar((unsigned char)buf[p]))
        p++;
    if (p == len)
        return BRK_HTTP_INCOMPLETE;
    if (p == start || buf[p] != ' ')
        return BRK_HTTP_ERROR;
    req->method = buf + start;
    req->method_len = p - start;
    start = ++p;
    while (p < len && (unsigned char)buf[p] > 0x20 && (unsigned char)buf[p] < 0x7f)
        p++;
    if (p == len)
        return BRK_HTTP_INCOMPLETE;
    if (p == start || buf[p] != ' ')
        return BRK_HTTP_ERROR;
    req->target = buf + start;
    req->target_len = p - start;
    p++;
    static const char lit[] = "HTTP/1.";
    for (size_t i = 0; i < sizeof lit - 1; i++, p++) {
        if (p == len)
            return BRK_HTTP_INCOMPLETE;
        if (buf[p] != lit[i])
            return BRK_HTTP_ERROR;
    }
    if (p == len)
        return BRK_HTTP_INCOMPLETE;
    if (buf[p] < '0' || buf[p] > '9')
        return BRK_HTTP_ERROR;
    req->minor_version = buf[p] == '0' ? 0 : 1;
    p++;
    int e = line_end(buf, len, &p);
    if (e <= 0)
        return e == 0 ? BRK_HTTP_INCOMPLETE : BRK_HTTP_ERROR;
    *pos = p;
    return 1;
}

/* header-field = field-name ":" OWS field-value OWS CRLF
 * Returns 1 with the header in *h and *pos after the line, or
 * BRK_HTTP_INCOMPLETE / _ERROR. */
static int header_line(const char *buf, size_t len, size_t *pos, brk_http_header_t *h)
{
    size_t p = *pos, start = p;
    while (p < len && is_tchar((unsigned char)buf[p]))
        p++;
    if (p == len)
        return BRK_HTTP_INCOMPLETE;
    if (p == start || buf[p] != ':')
        return BRK_HTTP_ERROR;
    h->name = buf + start;
    h->name_len = p - start;
    p++;
    while (p < len && (buf[p] == ' ' || buf[p] == '\t'))
        p++;
    start = p;
    while (p < len && is_vchar((unsigned char)buf[p]))
        p++;
    if (p == len)
        return BRK_HTTP_INCOMPLETE;
    size_t end = p;
    while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t'))
        end--;
    h->value = buf + start;
    h->value_len = end - start;
    int e = line_end(buf, len, &p);
    if (e <= 0)
        return e == 0 ? BRK_HTTP_INCOMPLETE : BRK_HTTP_ERROR;
    *pos = p;
    return 1;
}

/*
 * request-head = *( CRLF ) request-line *( header-field ) CRLF
 * (RFC 9112: a server ignores empty lines before the request line.)
 */
int brk_http_parse_request(const char *buf, size_t len, brk_http_req_t *req,
                           brk_http_header_t *headers, size_t max_headers)
{
    size_t pos = 0;
    memset(req, 0, sizeof *req);
    req->headers = headers;
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
        int e = line_end(buf, len, &pos);
        if (e <= 0)
            return e == 0 ? BRK_HTTP_INCOMPLETE : BRK_HTTP_ERROR;
    }
    int r = request_line(buf, len, &pos, req);
    if (r != 1)
        return r;
    for (;;) {
        if (pos == len)
            return BRK_HTTP_INCOMPLETE;
        if (buf[pos] == '\r' || buf[pos] == '\n') {
            int e = line_end(buf, len, &pos);
            if (e <= 0)
                return e == 0 ? BRK_HTTP_INCOMPLETE : BRK_HTTP_ERROR;
            return pos > (size_t)0x7fffffff ? BRK_HTTP_ERROR : (int)pos;
        }
        if (buf[pos] == ' ' || buf[pos] == '\t')
            return BRK_HTTP_ERROR; /* obsolete line folding */
        brk_http_header_t h;
        r = header_line(buf, len, &pos, &h);
        if (r != 1)
            return r;
        if (req->nheaders == max_headers)
            return BRK_HTTP_TOO_MANY;
        headers[req->nheaders++] = h;
    }
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 1 if a[0..n) equals the NUL-terminated b, ignoring ASCII case. */
static int ieq(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i]; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return i == n && b[i] == 0;
}

const char *brk_http_header(const brk_http_req_t *req, const char *name, size_t *out_len)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (ieq(req->headers[i].name, req->headers[i].name_len, name)) {
            *out_len = req->headers[i].value_len;
            return req->headers[i].value;
        }
    }
    *out_len = 0;
    return NULL;
}

int brk_http_has_token(const char *value, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end > start && ieq(value + start, end - start, token))
            return 1;
    }
    return 0;
}

int brk_http_content_length(const char *value, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 15)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    *out = v;
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode base64 src[0..len) (padding optional) into out[0..cap). Returns the
 * decoded length or -1. */
static int b64_decode(const char *src, size_t len, char *out, size_t cap)
{
    while (len > 0 && src[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)src[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    return (int)n;
}

int brk_http_basic_auth(const char *value, size_t len, char *buf, size_t cap, const char **user,
                        const char **pass)
{
    if (len < 6 || !ieq(value, 5, "basic") || (value[5] != ' ' && value[5] != '\t') || cap == 0)
        return -1;
    size_t i = 6;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    int n = b64_decode(value + i, len - i, buf, cap - 1);
    if (n < 0)
        return -1;
    buf[n] = 0;
    if (memchr(buf, 0, (size_t)n) != NULL)
        return -1;
    char *colon = memchr(buf, ':', (size_t)n);
    if (colon == NULL)
        return -1;
    *colon = 0;
    *user = buf;
    *pass = colon + 1;
    return 0;
}

void brk_http_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                           const char **query, size_t *query_len)
{
    const char *q = memchr(target, '?', len);
    *path = target;
    *path_len = q ? (size_t)(q - target) : len;
    *query = q ? q + 1 : NULL;
    *query_len = q ? len - *path_len - 1 : 0;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int brk_http_unescape(const char *src, size_t len, int plus_is_space, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_value((unsigned char)src[i + 1]), lo = hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == 0 || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (cap == 0)
        return -1;
    out[n] = 0;
    return (int)n;
}

const char *brk_http_query_param(const char *query, size_t len, const char *name, size_t *out_len)
{
    size_t nl = strlen(name), i = 0;
    while (query != NULL && i < len) {
        size_t start = i;
        while (i < len && query[i] != '&')
            i++;
        const char *eq = memchr(query + start, '=', i - start);
        size_t klen = eq ? (size_t)(eq - (query + start)) : i - start;
        if (klen == nl && memcmp(query + start, name, nl) == 0) {
            *out_len = eq ? i - start - klen - 1 : 0;
            return eq ? eq + 1 : query + i;
        }
        i++;
    }
    *out_len = 0;
    return NULL;
}

int brk_http_path_segments(const char *path, size_t len, const char **seg, size_t *seg_len,
                           int max)
{
    size_t i = 0;
    int n = 0;
    if (i < len && path[i] == '/')
        i++;
    while (i < len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (i == len && start == i)
            break; /* a trailing '/' adds no segment */
        if (n == max)
            return -1;
        seg[n] = path + start;
        seg_len[n] = i - start;
        n++;
        if (i < len)
            i++;
    }
    return n;
}

const char *brk_http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}
