/* SPDX-License-Identifier: MIT */
/*
 * test_admin_http.c - the admin listener's HTTP/1.1 request parser and
 * helpers (examples/broker/admin_http.c, compiled in: they are pure).
 * Every proper prefix of a valid head is "incomplete"; the header limit is
 * checked exactly and plus one; inputs end at the edge of an allocation of
 * their own size so ASan sees any read past them.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/broker/admin_http.c"

/* Parse `s` from an allocation of exactly its length. */
static int parse_exact(const char *s, size_t len, brk_http_req_t *req, brk_http_header_t *h,
                       size_t max)
{
    static char *buf;
    free(buf);
    buf = malloc(len ? len : 1);
    memcpy(buf, s, len);
    return brk_http_parse_request(buf, len, req, h, max);
}

static const char GET[] = "GET /api/v5/rules?page=2 HTTP/1.1\r\nHost: x\r\n"
                          "Authorization:   Basic b3BzOm9wc3B3  \r\n\r\nbody";

Test(admin_http, parses_a_head)
{
    brk_http_header_t h[4];
    brk_http_req_t req;
    int n = brk_http_parse_request(GET, sizeof GET - 1, &req, h, 4);
    cr_assert_eq(n, (int)(sizeof GET - 1 - 4));
    cr_assert_eq(req.method_len, 3);
    cr_assert(memcmp(req.target, "/api/v5/rules?page=2", req.target_len) == 0);
    cr_assert_eq(req.minor_version, 1);
    cr_assert_eq(req.nheaders, 2);
    size_t vl;
    const char *v = brk_http_header(&req, "AUTHORIZATION", &vl);
    cr_assert(v != NULL && vl == 18 && memcmp(v, "Basic b3BzOm9wc3B3", 18) == 0);
    char cred[64];
    const char *u, *p;
    cr_assert_eq(brk_http_basic_auth(v, vl, cred, sizeof cred, &u, &p), 0);
    cr_assert_str_eq(u, "ops");
    cr_assert_str_eq(p, "opspw");
    cr_assert_eq(brk_http_basic_auth(v, vl, cred, 10, &u, &p), 0); /* "ops:opspw" + NUL */
    cr_assert_eq(brk_http_basic_auth(v, vl, cred, 9, &u, &p), -1);
}

Test(admin_http, every_proper_prefix_is_incomplete)
{
    brk_http_header_t h[4];
    brk_http_req_t req;
    size_t head = sizeof GET - 1 - 4;
    for (size_t i = 0; i < head; i++)
        cr_assert_eq(parse_exact(GET, i, &req, h, 4), BRK_HTTP_INCOMPLETE, "prefix %zu", i);
    cr_assert_eq(parse_exact(GET, head, &req, h, 4), (int)head);
}

Test(admin_http, bad_heads_are_errors)
{
    static const char *const bad[] = {
        "GET  / HTTP/1.1\r\n\r\n",         "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",          "GET / HTTP/1.x\r\n\r\n",
        "GET / HTTP/1.1\rX\r\n\r\n",       "GET / HTTP/1.1\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n: v\r\n\r\n",   "GET / HTTP/1.1\r\nNa me: v\r\n\r\n",
        "GET / HTTP/1.1\r\nN: a\x01\r\n\r\n", "\x16\x03\x01",
    };
    brk_http_header_t h[4];
    brk_http_req_t req;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse_exact(bad[i], strlen(bad[i]), &req, h, 4), BRK_HTTP_ERROR, "%zu", i);
}

Test(admin_http, header_limit_exact_and_plus_one)
{
    const char *two = "GET / HTTP/1.0\nA: 1\nB: 2\n\n";
    brk_http_header_t h[2];
    brk_http_req_t req;
    cr_assert_eq(parse_exact(two, strlen(two), &req, h, 2), (int)strlen(two));
    cr_assert_eq(req.minor_version, 0);
    cr_assert_eq(parse_exact(two, strlen(two), &req, h, 1), BRK_HTTP_TOO_MANY);
}

Test(admin_http, helpers)
{
    uint64_t v;
    cr_assert_eq(brk_http_content_length("123", 3, &v), 0);
    cr_assert_eq(v, 123);
    cr_assert_eq(brk_http_content_length("", 0, &v), -1);
    cr_assert_eq(brk_http_content_length("1 2", 3, &v), -1);
    cr_assert_eq(brk_http_content_length("1234567890123456", 16, &v), -1);
    cr_assert(brk_http_has_token("keep-alive, Close", 17, "close"));
    cr_assert(!brk_http_has_token("closed", 6, "close"));
    char out[8];
    cr_assert_eq(brk_http_unescape("a%2Fb+c", 7, 0, out, sizeof out), 5);
    cr_assert_str_eq(out, "a/b+c");
    cr_assert_eq(brk_http_unescape("a+c", 3, 1, out, sizeof out), 3);
    cr_assert_str_eq(out, "a c");
    cr_assert_eq(brk_http_unescape("%2", 2, 0, out, sizeof out), -1);
    cr_assert_eq(brk_http_unescape("%00", 3, 0, out, sizeof out), -1);
    cr_assert_eq(brk_http_unescape("%zz", 3, 0, out, sizeof out), -1);
    cr_assert_eq(brk_http_unescape("1234567", 7, 0, out, sizeof out), 7);
    cr_assert_eq(brk_http_unescape("12345678", 8, 0, out, sizeof out), -1);
    const char *seg[3];
    size_t sl[3];
    cr_assert_eq(brk_http_path_segments("/api/v5/rules/", 14, seg, sl, 3), 3);
    cr_assert(sl[2] == 5 && memcmp(seg[2], "rules", 5) == 0);
    cr_assert_eq(brk_http_path_segments("/a/b/c/d", 8, seg, sl, 3), -1);
    cr_assert_eq(brk_http_path_segments("/", 1, seg, sl, 3), 0);
    size_t n;
    const char *q = brk_http_query_param("page=2&limit=10&x", 17, "limit", &n);
    cr_assert(q != NULL && n == 2 && memcmp(q, "10", 2) == 0);
    q = brk_http_query_param("page=2&limit=10&x", 17, "x", &n);
    cr_assert(q != NULL && n == 0);
    cr_assert_null(brk_http_query_param("page=2", 6, "pag", &n));
    cr_assert_null(brk_http_query_param(NULL, 0, "page", &n));
    const char *u, *p;
    char cred[32];
    cr_assert_eq(brk_http_basic_auth("Bearer x", 8, cred, sizeof cred, &u, &p), -1);
    cr_assert_eq(brk_http_basic_auth("Basic bm9jb2xvbg==", 18, cred, sizeof cred, &u, &p), -1);
    cr_assert_eq(brk_http_basic_auth("Basic !!", 8, cred, sizeof cred, &u, &p), -1);
    cr_assert_str_eq(brk_http_status_text(413), "Content Too Large");
}
