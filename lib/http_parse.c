/* SPDX-License-Identifier: MIT */
/*
 * http_parse.c - the text side of the HTTP client: URL parsing, header and
 * request-target validation, and the response parser.
 *
 * The response parser is in two parts. mqr__http_parse_head is stateless in
 * the picohttpparser manner: given the bytes received so far it answers
 * "complete, the head is N bytes", "need more" or "malformed at byte N", so
 * the caller keeps one bounded buffer and calls again after each read. The
 * body decoder is a small resumable state machine that consumes and discards
 * body bytes (Content-Length, chunked, or until close), because the client
 * only needs to know where a response ends. Both are strict: CRLF line ends,
 * token header names, no obsolete line folding, bounded sizes.
 */
#include <string.h>

#include "codec_util.h"
#include "http_int.h"

/* ---- character classes ---------------------------------------------------- */

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

int mqr__http_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* 1 when [p, p+n) equals the lower-case NUL-terminated word, ignoring case. */
static int word_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && mqr__http_ieq(p, word, n);
}

/* ---- URL -------------------------------------------------------------------- */

static int url_error(mqr_diag_t *d, size_t at, const char *fmt, const char *arg, size_t arg_len)
{
    if (arg)
        mqr__diag_set(d, MQR_EINVAL, fmt, (int)(arg_len > 64 ? 64 : arg_len), arg, at);
    else
        mqr__diag_set(d, MQR_EINVAL, fmt, at);
    if (d)
        d->offset = at;
    return MQR_EINVAL;
}

int mqr__http_path_check(const char *what, const char *p, size_t len, mqr_diag_t *diag)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f) {
            mqr__diag_set(diag, MQR_EINVAL, "%s: byte 0x%02x not allowed at byte %zu", what, c, i);
            if (diag)
                diag->offset = i;
            return MQR_EINVAL;
        }
    }
    return MQR_OK;
}

/*
 * url = scheme "://" host [ ":" port ] [ path-abempty ] [ "?" query ]
 * scheme = "http" / "https" (any case); host = reg-name / "[" IPv6 "]".
 * User information and fragments are refused: neither has a meaning here.
 */
int mqr__http_url_parse(const char *url, mqr__http_url_t *out, mqr_diag_t *diag)
{
    if (!url || !out)
        return mqr__diag_set(diag, MQR_EINVAL, "http URL: missing");
    memset(out, 0, sizeof *out);
    const char *sep = strstr(url, "://");
    if (!sep)
        return url_error(diag, 0, "http URL: no scheme (expected http:// or https://) at byte %zu",
                         NULL, 0);
    size_t slen = (size_t)(sep - url);
    if (word_is(url, slen, "http")) {
        out->port = 80;
    } else if (word_is(url, slen, "https")) {
        out->tls = 1;
        out->port = 443;
    } else {
        return url_error(diag, 0, "http URL: unsupported scheme '%.*s' at byte %zu", url, slen);
    }
    size_t i = slen + 3;
    size_t host_start = i;
    size_t auth_len = strcspn(url + i, "/?#");
    const char *at = memchr(url + i, '@', auth_len);
    if (at)
        return url_error(diag, (size_t)(at - url),
                         "http URL: user information is not supported at byte %zu", NULL, 0);
    if (url[i] == '[') {
        size_t j = i + 1;
        while (url[j] && url[j] != ']') {
            unsigned char c = (unsigned char)url[j];
            if (mqr__hex_value(c) < 0 && c != ':' && c != '.')
                return url_error(diag, j, "http URL: bad character in IPv6 address at byte %zu",
                                 NULL, 0);
            j++;
        }
        if (url[j] != ']')
            return url_error(diag, j, "http URL: unterminated IPv6 address at byte %zu", NULL, 0);
        out->host = url + i + 1;
        out->host_len = j - i - 1;
        out->host_is_ipv6 = 1;
        i = j + 1;
    } else {
        while (url[i] && url[i] != ':' && url[i] != '/' && url[i] != '?' && url[i] != '#') {
            unsigned char c = (unsigned char)url[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '.' || c == '_' || c == '~'))
                return url_error(diag, i, "http URL: bad character in host at byte %zu", NULL, 0);
            i++;
        }
        out->host = url + host_start;
        out->host_len = i - host_start;
    }
    if (out->host_len == 0)
        return url_error(diag, host_start, "http URL: empty host at byte %zu", NULL, 0);
    if (url[i] == ':') {
        size_t port_start = ++i;
        unsigned long port = 0;
        while (url[i] >= '0' && url[i] <= '9') {
            if (port <= 65535)
                port = port * 10 + (unsigned long)(url[i] - '0');
            i++;
        }
        if (i == port_start)
            return url_error(diag, port_start, "http URL: missing port at byte %zu", NULL, 0);
        if (port == 0 || port > 65535)
            return url_error(diag, port_start, "http URL: port out of range at byte %zu", NULL, 0);
        out->port = (uint16_t)port;
        out->port_explicit = 1;
    }
    if (url[i] != '\0' && url[i] != '/' && url[i] != '?')
        return url_error(diag, i, "http URL: unexpected character at byte %zu", NULL, 0);
    out->path = url + i;
    out->path_len = strlen(url + i);
    const char *hash = memchr(out->path, '#', out->path_len);
    if (hash)
        return url_error(diag, (size_t)(hash - url), "http URL: fragment not allowed at byte %zu",
                         NULL, 0);
    mqr_diag_t pd;
    if (mqr__http_path_check("http URL", out->path, out->path_len, &pd) != MQR_OK)
        return url_error(diag, i + pd.offset, "http URL: bad character in path at byte %zu",
                         NULL, 0);
#if !MQR_HAVE_OPENSSL
    if (out->tls)
        return mqr__diag_set(diag, MQR_ENOTSUP, "http URL: https needs a build with OpenSSL");
#endif
    return MQR_OK;
}

int mqr_http_url_check(const char *url, mqr_diag_t *diag)
{
    mqr__http_url_t u;
    mqr_diag_clear(diag);
    return mqr__http_url_parse(url, &u, diag);
}

/* ---- headers ------------------------------------------------------------------ */

int mqr_http_header_check(const char *name, size_t name_len, const char *value,
                          size_t value_len, mqr_diag_t *diag)
{
    mqr_diag_clear(diag);
    if ((!name && name_len) || (!value && value_len))
        return mqr__diag_set(diag, MQR_EINVAL, "header: NULL name or value with a length");
    if (name_len == 0)
        return mqr__diag_set(diag, MQR_EINVAL, "header: empty name");
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_tchar(c)) {
            const char *what = c == '\r' ? "CR" : c == '\n' ? "LF" : c == 0 ? "NUL" : NULL;
            if (what)
                mqr__diag_set(diag, MQR_EINVAL, "header name contains %s at byte %zu", what, i);
            else
                mqr__diag_set(diag, MQR_EINVAL, "header name: byte 0x%02x not allowed at byte %zu",
                              c, i);
            if (diag)
                diag->offset = i;
            return MQR_EINVAL;
        }
    }
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\r' || c == '\n' || c == 0) {
            mqr__diag_set(diag, MQR_EINVAL, "header '%.*s': value contains %s at byte %zu",
                          (int)(name_len > 48 ? 48 : name_len), name,
                          c == '\r' ? "CR" : c == '\n' ? "LF" : "NUL", i);
            if (diag)
                diag->offset = i;
            return MQR_EINVAL;
        }
    }
    if (word_is(name, name_len, "content-length") || word_is(name, name_len, "transfer-encoding"))
        return mqr__diag_set(diag, MQR_EINVAL, "header '%.*s' is written by the client",
                             (int)name_len, name);
    return MQR_OK;
}

/* ---- response head -------------------------------------------------------------- */

static int head_error(mqr_diag_t *d, size_t at, const char *what)
{
    mqr__diag_set(d, MQR_EHTTP, "HTTP response: %s at byte %zu", what, at);
    if (d)
        d->offset = at;
    return MQR_EHTTP;
}

/* Trim optional whitespace (SP, HTAB) from both ends of [*p, *p + *n). */
static void trim_ows(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* What the headers that shape the body said. */
typedef struct head_facts {
    int has_length, chunked, conn_close, conn_keep_alive;
    uint64_t length;
} head_facts_t;

/* Connection = #connection-option: note "close" and "keep-alive". */
static void scan_connection(const char *v, size_t n, head_facts_t *f)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *tok = v + i;
        size_t tl = j - i;
        trim_ows(&tok, &tl);
        if (word_is(tok, tl, "close"))
            f->conn_close = 1;
        else if (word_is(tok, tl, "keep-alive"))
            f->conn_keep_alive = 1;
        i = j + 1;
    }
}

/* Interpret one header line's name and value (value already trimmed). */
static int note_header(const char *name, size_t nl, const char *v, size_t vl, size_t at,
                       head_facts_t *f, mqr_diag_t *d)
{
    if (word_is(name, nl, "content-length")) {
        if (vl == 0 || vl > 18)
            return head_error(d, at, "bad Content-Length");
        uint64_t n = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return head_error(d, at, "bad Content-Length");
            n = n * 10 + (uint64_t)(v[i] - '0');
        }
        if (f->has_length && f->length != n)
            return head_error(d, at, "conflicting Content-Length headers");
        f->has_length = 1;
        f->length = n;
    } else if (word_is(name, nl, "transfer-encoding")) {
        if (!word_is(v, vl, "chunked"))
            return head_error(d, at, "unsupported Transfer-Encoding");
        f->chunked = 1;
    } else if (word_is(name, nl, "connection")) {
        scan_connection(v, vl, f);
    }
    return MQR_OK;
}

/* status-line = "HTTP/1." DIGIT SP 3DIGIT [ SP reason-phrase ] CRLF */
static int parse_status_line(const char *buf, size_t eol, mqr__http_head_t *out, mqr_diag_t *d)
{
    if (eol < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9')
        return head_error(d, 0, "bad status line");
    if (buf[8] != ' ')
        return head_error(d, 8, "expected a space after the version");
    for (int k = 9; k < 12; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return head_error(d, (size_t)k, "bad status code");
    if (eol > 12 && buf[12] != ' ')
        return head_error(d, 12, "expected a space after the status code");
    for (size_t k = 13; k < eol; k++) {
        unsigned char c = (unsigned char)buf[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return head_error(d, k, "control character in reason phrase");
    }
    out->minor_version = buf[7] - '0';
    out->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (out->status < 100)
        return head_error(d, 9, "status code below 100");
    return MQR_OK;
}

/* Find the CRLF ending the line that starts at `from`; return the offset of
 * its CR, or len if none is complete. A bare LF is an error (-1). */
static long find_eol(const char *buf, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        if (buf[i] == '\n')
            return -1 - (long)i;
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return (long)len;
            if (buf[i + 1] != '\n')
                return -1 - (long)i;
            return (long)i;
        }
    }
    return (long)len;
}

/*
 * response-head = status-line *( header-field CRLF ) CRLF
 * header-field  = token ":" OWS field-value OWS
 */
int mqr__http_parse_head(const char *buf, size_t len, size_t max_head, mqr__http_head_t *out,
                         mqr_diag_t *diag)
{
    static const char prefix[] = "HTTP/1.";
    size_t plen = len < 7 ? len : 7;
    if (memcmp(buf, prefix, plen) != 0)
        return head_error(diag, 0, "not an HTTP/1.x response");
    size_t scan = len < max_head ? len : max_head;
    memset(out, 0, sizeof *out);
    head_facts_t f = {0};
    size_t pos = 0;
    int line = 0;
    for (;;) {
        long e = find_eol(buf, pos, scan);
        if (e < 0)
            return head_error(diag, (size_t)(-1 - e), "line not ended by CRLF");
        size_t eol = (size_t)e;
        if (eol >= scan)
            return scan >= max_head ? mqr__diag_set(diag, MQR_ELIMIT,
                                                    "HTTP response: head exceeds %zu bytes", max_head)
                                    : MQR_NEED_MORE;
        if (line == 0) {
            int rc = parse_status_line(buf, eol, out, diag);
            if (rc != MQR_OK)
                return rc;
        } else if (eol == pos) {
            out->head_len = eol + 2;
            break;
        } else {
            if (line > MQR__HTTP_MAX_HEADERS)
                return head_error(diag, pos, "too many headers");
            size_t k = pos;
            while (k < eol && is_tchar((unsigned char)buf[k]))
                k++;
            if (k == pos || k >= eol || buf[k] != ':')
                return head_error(diag, k, "bad header name");
            const char *v = buf + k + 1;
            size_t vl = eol - k - 1;
            for (size_t q = 0; q < vl; q++) {
                unsigned char c = (unsigned char)v[q];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return head_error(diag, k + 1 + q, "control character in header value");
            }
            trim_ows(&v, &vl);
            int rc = note_header(buf + pos, k - pos, v, vl, pos, &f, diag);
            if (rc != MQR_OK)
                return rc;
        }
        pos = eol + 2;
        line++;
    }
    out->keep_alive = out->minor_version >= 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
    if (out->status < 200 || out->status == 204 || out->status == 304) {
        out->body_mode = MQR__HTTP_BODY_NONE;
    } else if (f.chunked) {
        out->body_mode = MQR__HTTP_BODY_CHUNKED;
    } else if (f.has_length) {
        out->body_mode = f.length ? MQR__HTTP_BODY_LENGTH : MQR__HTTP_BODY_NONE;
        out->content_length = f.length;
    } else {
        out->body_mode = MQR__HTTP_BODY_CLOSE;
        out->keep_alive = 0;
    }
    return MQR_OK;
}

/* ---- response body ----------------------------------------------------------------- */

/* Chunked decoder states (mqr__http_body_t.state). */
enum {
    CH_SIZE,         /* first hex digit of a chunk size */
    CH_SIZE_MORE,    /* more hex digits, ';' or CR */
    CH_EXT,          /* chunk extension up to CR */
    CH_SIZE_LF,      /* LF after the size line */
    CH_DATA,         /* chunk data */
    CH_DATA_CR,      /* CR after the data */
    CH_DATA_LF,      /* LF after the data */
    CH_TRAILER,      /* start of a trailer line, or the final CRLF */
    CH_TRAILER_LINE, /* inside a trailer line */
    CH_TRAILER_LF,   /* LF ending a trailer line */
    CH_END_LF,       /* LF of the final CRLF */
    CH_DONE
};

#define MAX_CHUNK_DIGITS 15u
#define MAX_CHUNK_EXT 4096u
#define MAX_TRAILERS 16384u

void mqr__http_body_init(mqr__http_body_t *b, const mqr__http_head_t *head)
{
    memset(b, 0, sizeof *b);
    b->mode = head->body_mode;
    b->remaining = head->content_length;
    b->state = CH_SIZE;
}

static int chunk_error(mqr_diag_t *d, const char *what)
{
    return mqr__diag_set(d, MQR_EHTTP, "HTTP response: chunked body: %s", what);
}

/* One step of the chunked grammar for byte c (everything but chunk data):
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF */
static int chunk_byte(mqr__http_body_t *b, unsigned char c, mqr_diag_t *d)
{
    int h;
    switch (b->state) {
    case CH_SIZE:
        if ((h = mqr__hex_value(c)) < 0)
            return chunk_error(d, "expected a hex chunk size");
        b->remaining = (uint64_t)h;
        b->line_len = 1;
        b->state = CH_SIZE_MORE;
        return MQR_OK;
    case CH_SIZE_MORE:
        if ((h = mqr__hex_value(c)) >= 0) {
            if (++b->line_len > MAX_CHUNK_DIGITS)
                return chunk_error(d, "chunk size too large");
            b->remaining = b->remaining * 16 + (uint64_t)h;
        } else if (c == ';' || c == ' ' || c == '\t') {
            b->line_len = 0;
            b->state = CH_EXT;
        } else if (c == '\r') {
            b->state = CH_SIZE_LF;
        } else {
            return chunk_error(d, "bad character in chunk size");
        }
        return MQR_OK;
    case CH_EXT:
        if (c == '\r')
            b->state = CH_SIZE_LF;
        else if (c == '\n' || ++b->line_len > MAX_CHUNK_EXT)
            return chunk_error(d, "bad chunk extension");
        return MQR_OK;
    case CH_SIZE_LF:
        if (c != '\n')
            return chunk_error(d, "expected LF after chunk size");
        b->state = b->remaining ? CH_DATA : CH_TRAILER;
        return MQR_OK;
    case CH_DATA_CR:
        if (c != '\r')
            return chunk_error(d, "expected CR after chunk data");
        b->state = CH_DATA_LF;
        return MQR_OK;
    case CH_DATA_LF:
        if (c != '\n')
            return chunk_error(d, "expected LF after chunk data");
        b->state = CH_SIZE;
        return MQR_OK;
    case CH_TRAILER:
        b->state = c == '\r' ? CH_END_LF : CH_TRAILER_LINE;
        if (c == '\n')
            return chunk_error(d, "bare LF in trailer");
        return ++b->trailer_bytes > MAX_TRAILERS ? chunk_error(d, "trailers too large") : MQR_OK;
    case CH_TRAILER_LINE:
        if (c == '\r')
            b->state = CH_TRAILER_LF;
        else if (c == '\n')
            return chunk_error(d, "bare LF in trailer");
        return ++b->trailer_bytes > MAX_TRAILERS ? chunk_error(d, "trailers too large") : MQR_OK;
    case CH_TRAILER_LF:
        if (c != '\n')
            return chunk_error(d, "expected LF after trailer");
        b->state = CH_TRAILER;
        return MQR_OK;
    case CH_END_LF:
        if (c != '\n')
            return chunk_error(d, "expected LF at the end");
        b->state = CH_DONE;
        return MQR_OK;
    default:
        return chunk_error(d, "internal state");
    }
}

int mqr__http_body_feed(mqr__http_body_t *b, const char *buf, size_t len, size_t *out_used,
                        mqr_diag_t *diag)
{
    *out_used = 0;
    switch (b->mode) {
    case MQR__HTTP_BODY_NONE:
        return MQR_OK;
    case MQR__HTTP_BODY_CLOSE:
        *out_used = len;
        return MQR_NEED_MORE;
    case MQR__HTTP_BODY_LENGTH: {
        size_t take = b->remaining < len ? (size_t)b->remaining : len;
        b->remaining -= take;
        *out_used = take;
        return b->remaining ? MQR_NEED_MORE : MQR_OK;
    }
    default:
        break;
    }
    size_t i = 0;
    while (i < len && b->state != CH_DONE) {
        if (b->state == CH_DATA) {
            size_t take = b->remaining < len - i ? (size_t)b->remaining : len - i;
            b->remaining -= take;
            i += take;
            if (!b->remaining)
                b->state = CH_DATA_CR;
            continue;
        }
        int rc = chunk_byte(b, (unsigned char)buf[i], diag);
        if (rc != MQR_OK) {
            if (diag)
                diag->offset = i;
            return rc;
        }
        i++;
    }
    *out_used = i;
    return b->state == CH_DONE ? MQR_OK : MQR_NEED_MORE;
}

int mqr__http_body_eof(const mqr__http_body_t *b, mqr_diag_t *diag)
{
    if (b->mode == MQR__HTTP_BODY_CLOSE || b->mode == MQR__HTTP_BODY_NONE)
        return MQR_OK;
    if (b->mode == MQR__HTTP_BODY_LENGTH && b->remaining == 0)
        return MQR_OK;
    if (b->mode == MQR__HTTP_BODY_CHUNKED && b->state == CH_DONE)
        return MQR_OK;
    return mqr__diag_set(diag, MQR_EHTTP, "HTTP response: connection closed before the end of the body");
}
