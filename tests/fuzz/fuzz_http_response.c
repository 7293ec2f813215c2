/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_response.c - libFuzzer target for the HTTP response parser
 * (lib/http_parse.c): the head parser on every input, then the body decoder
 * fed in pieces whose sizes come from the first input byte, the way the
 * client feeds it after each read. It checks the parser's promises: a head
 * length within the input, NEED_MORE on every proper prefix of a complete
 * head, and body consumption never past the bytes given. The input is also
 * run through the URL and header validators.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define MAX_HEAD 4096

/* Every proper prefix of a complete head needs more bytes (never an error). */
static void check_prefixes(const char *buf, size_t head_len)
{
    mqr__http_head_t h;
    for (size_t i = 0; i < head_len; i += 1 + head_len / 64)
        if (mqr__http_parse_head(buf, i, MAX_HEAD, &h, NULL) != MQR_NEED_MORE)
            abort();
}

static void feed_body(const char *p, size_t n, size_t step, const mqr__http_head_t *h)
{
    mqr__http_body_t b;
    mqr_diag_t d;
    mqr__http_body_init(&b, h);
    size_t at = 0;
    while (at <= n) {
        size_t piece = n - at < step ? n - at : step;
        size_t used = 0;
        int rc = mqr__http_body_feed(&b, p + at, piece, &used, &d);
        if (used > piece)
            abort();
        if (rc != MQR_NEED_MORE || piece == 0)
            break;
        if (used != piece)
            abort();
        at += piece;
    }
    mqr__http_body_eof(&b, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 17;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    mqr__http_head_t h;
    mqr_diag_t d;
    size_t at = 0;
    for (int interim = 0; interim < 4; interim++) {
        int rc = mqr__http_parse_head(buf + at, len - at, MAX_HEAD, &h, &d);
        if (rc != MQR_OK)
            break;
        if (h.head_len == 0 || h.head_len > len - at || h.head_len > MAX_HEAD)
            abort();
        check_prefixes(buf + at, h.head_len);
        at += h.head_len;
        if (h.status >= 200) {
            feed_body(buf + at, len - at, step, &h);
            break;
        }
    }
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, buf, len);
        s[len] = 0;
        mqr_http_url_check(s, &d);
        const char *colon = memchr(buf, ':', len);
        if (colon)
            mqr_http_header_check(buf, (size_t)(colon - buf), colon + 1, len - (size_t)(colon - buf) - 1, &d);
        free(s);
    }
    return 0;
}
