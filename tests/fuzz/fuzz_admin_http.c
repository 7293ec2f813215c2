/* SPDX-License-Identifier: MIT */
/*
 * fuzz_admin_http.c - libFuzzer target for the admin listener's HTTP/1.1
 * request parser and its helpers (examples/broker/admin_http.c, compiled in
 * here: the parser is pure and needs nothing else of the broker).
 *
 * The input is copied into an allocation of exactly its size, so ASan
 * reports any read past its end. Checked on every input: a parsed head
 * lies inside the input with every pointer in it; parsing just the head
 * again gives the same length; the head minus its last byte, and the empty
 * input, are "incomplete"; the helpers (header lookup, Content-Length,
 * Basic credentials, target split, path segments, percent-decoding, query
 * parameters) run on what was parsed and keep their outputs in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/broker/admin_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                             \
    do {                                                                                     \
        if (!(x))                                                                            \
            __builtin_trap();                                                                \
    } while (0)

static int inside(const char *base, size_t size, const char *p, size_t n)
{
    return p >= base && n <= size && (size_t)(p - base) <= size - n;
}

static void helpers(const brk_http_req_t *req, const char *buf, size_t size)
{
    char out[512];
    const char *u, *pw, *path, *query, *seg[8];
    size_t pl, ql, sl[8], vl;
    for (size_t i = 0; i < req->nheaders; i++) {
        const brk_http_header_t *h = &req->headers[i];
        CHECK(inside(buf, size, h->name, h->name_len) && h->name_len > 0);
        CHECK(inside(buf, size, h->value, h->value_len));
        uint64_t cl;
        (void)brk_http_content_length(h->value, h->value_len, &cl);
        (void)brk_http_has_token(h->value, h->value_len, "close");
        if (brk_http_basic_auth(h->value, h->value_len, out, sizeof out, &u, &pw) == 0) {
            CHECK(u == out && pw > u && pw < out + sizeof out);
            CHECK(strlen(u) + 1 + strlen(pw) < sizeof out);
        }
    }
    (void)brk_http_header(req, "content-length", &vl);
    brk_http_split_target(req->target, req->target_len, &path, &pl, &query, &ql);
    CHECK(inside(buf, size, path, pl));
    if (query != NULL)
        CHECK(inside(buf, size, query, ql) && pl + 1 + ql == req->target_len);
    int n = brk_http_path_segments(path, pl, seg, sl, 8);
    CHECK(n >= -1 && n <= 8);
    for (int i = 0; i < n; i++) {
        CHECK(inside(buf, size, seg[i], sl[i]));
        int d = brk_http_unescape(seg[i], sl[i], 0, out, sizeof out);
        CHECK(d < (int)sizeof out && (d < 0 || (size_t)d == strlen(out)));
    }
    const char *v = brk_http_query_param(query, ql, "page", &vl);
    if (v != NULL)
        CHECK(inside(buf, size, v, vl));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brk_http_header_t hdrs[16];
    brk_http_req_t req;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    CHECK(brk_http_parse_request(buf, 0, &req, hdrs, 16) == BRK_HTTP_INCOMPLETE);
    int r = brk_http_parse_request(buf, size, &req, hdrs, 16);
    CHECK(r == BRK_HTTP_INCOMPLETE || r == BRK_HTTP_ERROR || r == BRK_HTTP_TOO_MANY ||
          (r > 0 && (size_t)r <= size));
    if (r > 0) {
        CHECK(req.nheaders <= 16);
        CHECK(inside(buf, size, req.method, req.method_len) && req.method_len > 0);
        CHECK(inside(buf, size, req.target, req.target_len) && req.target_len > 0);
        CHECK(req.minor_version == 0 || req.minor_version == 1);
        helpers(&req, buf, size);
        /* the head alone parses to the same length; one byte less is a prefix */
        char *head = malloc((size_t)r);
        CHECK(head != NULL);
        memcpy(head, buf, (size_t)r);
        brk_http_req_t again;
        CHECK(brk_http_parse_request(head, (size_t)r, &again, hdrs, 16) == r);
        CHECK(brk_http_parse_request(head, (size_t)r - 1, &again, hdrs, 16) ==
              BRK_HTTP_INCOMPLETE);
        free(head);
    }
    free(buf);
    return 0;
}
