/* SPDX-License-Identifier: MIT */
/*
 * admin_http.h - the admin listener's HTTP/1.1 request parser and the small
 * pure helpers around it (header lookup, Content-Length, Basic credentials,
 * path segments, query parameters, percent-decoding). Nothing here
 * allocates or keeps state: every output points into the caller's buffer or
 * is written into a caller buffer, in the manner of picohttpparser.
 */
#ifndef MQR_BROKER_ADMIN_HTTP_H
#define MQR_BROKER_ADMIN_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* brk_http_parse_request results besides a positive byte count */
#define BRK_HTTP_INCOMPLETE (-2) /* a proper prefix of a request head: read more */
#define BRK_HTTP_ERROR (-1)      /* not an HTTP/1.x request head */
#define BRK_HTTP_TOO_MANY (-3)   /* more header lines than the caller's array holds */

typedef struct brk_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* without leading and trailing blanks */
    size_t value_len;
} brk_http_header_t;

typedef struct brk_http_req {
    const char *method;
    size_t method_len;
    const char *target; /* the request target as sent: path and query */
    size_t target_len;
    int minor_version;  /* HTTP/1.0: 0, HTTP/1.1: 1 */
    brk_http_header_t *headers; /* the caller's array */
    size_t nheaders;
} brk_http_req_t;

/*
 * Parse the request head (request line and header lines up to the empty
 * line) at buf[0..len). headers[0..max_headers) receives the header lines;
 * req and the headers point into buf.
 *
 * Returns the length of the head (> 0: the body starts there);
 * BRK_HTTP_INCOMPLETE when buf is a proper prefix of a valid head;
 * BRK_HTTP_ERROR for anything that cannot start a valid HTTP/1.0 or 1.1
 * request (bad method or version, control bytes, a header line without a
 * name or ':', obsolete line folding); BRK_HTTP_TOO_MANY for more than
 * max_headers header lines. Line ends may be CRLF or bare LF.
 */
int brk_http_parse_request(const char *buf, size_t len, brk_http_req_t *req,
                           brk_http_header_t *headers, size_t max_headers);

/* The value of header `name` (case-insensitive), or NULL; its length in
 * *out_len. The first of several. */
const char *brk_http_header(const brk_http_req_t *req, const char *name, size_t *out_len);

/* 1 if the comma-separated header value contains `token`
 * (case-insensitive), e.g. "close" in "Connection: keep-alive, close". */
int brk_http_has_token(const char *value, size_t len, const char *token);

/* Parse a Content-Length value: 0 and the number in *out, or -1 when it is
 * not a plain decimal number below 2^53. */
int brk_http_content_length(const char *value, size_t len, uint64_t *out);

/*
 * Decode an "Authorization: Basic BASE64" value into user and password.
 * The decoded "user:password" goes into buf[0..cap) (NUL-terminated) and
 * *user / *pass point into it, both NUL-terminated. Returns 0, or -1 when
 * the scheme is not Basic, the base64 is invalid, there is no ':' or it
 * does not fit.
 */
int brk_http_basic_auth(const char *value, size_t len, char *buf, size_t cap, const char **user,
                        const char **pass);

/* The path of a request target (before '?') and its query (after; NULL when
 * none), with their lengths. */
void brk_http_split_target(const char *target, size_t len, const char **path, size_t *path_len,
                           const char **query, size_t *query_len);

/*
 * Percent-decode src[0..len) into out[0..cap) (NUL-terminated); '+' is kept
 * as is (paths) unless plus_is_space. Returns the decoded length, or -1 for
 * a bad escape, a decoded NUL byte, or when it does not fit.
 */
int brk_http_unescape(const char *src, size_t len, int plus_is_space, char *out, size_t cap);

/* The raw value of query parameter `name` in query[0..len) (not decoded),
 * or NULL; its length in *out_len. */
const char *brk_http_query_param(const char *query, size_t len, const char *name, size_t *out_len);

/*
 * Split a path into its '/'-separated segments: seg[i] / seg_len[i] for
 * i < the returned count (at most max). A leading '/' is skipped; an empty
 * path gives 0. Returns -1 when there are more than max segments.
 */
int brk_http_path_segments(const char *path, size_t len, const char **seg, size_t *seg_len,
                           int max);

/* The reason phrase of an HTTP status ("OK", "Not Found", ...). */
const char *brk_http_status_text(int status);

#endif
