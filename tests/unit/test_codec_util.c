/* SPDX-License-Identifier: MIT */
/* Tests of lib/codec_util.c: base64, hex, UTF-8 and case mapping. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec_util.h"

static size_t enc64(const char *in, unsigned flags, char *out, size_t cap)
{
    size_t n = 0;
    int rc = mqr__b64_encode((const uint8_t *)in, strlen(in), flags, out, cap, &n);
    cr_assert_eq(rc, MQR_OK, "encode %s: %d", in, rc);
    return n;
}

Test(codec_util, b64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                         "Zm9vYmFy"};
    static const char *const bare[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32];
    uint8_t bin[32];
    for (size_t i = 0; i < 7; i++) {
        size_t n = enc64(plain[i], 0, out, sizeof out);
        cr_assert_str_eq(out, padded[i]);
        cr_assert_eq(n, strlen(padded[i]));
        cr_assert_eq(mqr__b64_encoded_len(strlen(plain[i]), 0), n);
        enc64(plain[i], MQR_B64_NO_PADDING, out, sizeof out);
        cr_assert_str_eq(out, bare[i]);
        size_t m = 99;
        cr_assert_eq(mqr__b64_decode(padded[i], strlen(padded[i]), 0, bin, sizeof bin, &m, NULL),
                     MQR_OK);
        cr_assert_eq(m, strlen(plain[i]));
        cr_assert_eq(memcmp(bin, plain[i], m), 0);
        cr_assert_eq(mqr__b64_decode(bare[i], strlen(bare[i]), MQR_B64_NO_PADDING, bin,
                                     sizeof bin, &m, NULL),
                     MQR_OK);
        cr_assert_eq(memcmp(bin, plain[i], m), 0);
        /* no_padding decoding also accepts padded input */
        cr_assert_eq(mqr__b64_decode(padded[i], strlen(padded[i]), MQR_B64_NO_PADDING, bin,
                                     sizeof bin, &m, NULL),
                     MQR_OK);
        cr_assert_eq(m, strlen(plain[i]));
    }
}

Test(codec_util, b64_urlsafe_alphabet)
{
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char out[8];
    size_t n, e = 0;
    cr_assert_eq(mqr__b64_encode(in, 3, 0, out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, "+/+/");
    cr_assert_eq(mqr__b64_encode(in, 3, MQR_B64_URLSAFE, out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, "-_-_");
    uint8_t bin[4];
    cr_assert_eq(mqr__b64_decode("-_-_", 4, MQR_B64_URLSAFE, bin, sizeof bin, &n, &e), MQR_OK);
    cr_assert_eq(memcmp(bin, in, 3), 0);
    cr_assert_eq(mqr__b64_decode("-_-_", 4, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 0);
    cr_assert_eq(mqr__b64_decode("ab+/", 4, MQR_B64_URLSAFE, bin, sizeof bin, &n, &e),
                 MQR_EINVAL);
    cr_assert_eq(e, 2);
}

Test(codec_util, b64_decode_rejects_with_offset)
{
    uint8_t bin[16];
    size_t n, e = 99;
    cr_assert_eq(mqr__b64_decode("Zm9v!mFy", 8, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 4);
    cr_assert_eq(mqr__b64_decode("Zg", 2, 0, bin, sizeof bin, &n, &e), MQR_EINVAL); /* padding */
    cr_assert_eq(e, 2);
    cr_assert_eq(mqr__b64_decode("Zg=", 3, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 3);
    cr_assert_eq(mqr__b64_decode("Zg===", 5, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 4);
    cr_assert_eq(mqr__b64_decode("Zm9v=", 5, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 4);
    cr_assert_eq(mqr__b64_decode("Zg==Zg==", 8, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 4);
    cr_assert_eq(mqr__b64_decode("Zm9vY", 5, MQR_B64_NO_PADDING, bin, sizeof bin, &n, &e),
                 MQR_EINVAL);
    cr_assert_eq(e, 5);
    cr_assert_eq(mqr__b64_decode("Zm9v\nYmFy", 9, 0, bin, sizeof bin, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 4);
    cr_assert_eq(mqr__b64_decode("Zm9v\nYmFy", 9, MQR_B64_SKIP_SPACE, bin, sizeof bin, &n, &e),
                 MQR_OK);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(bin, "foobar", 6), 0);
}

Test(codec_util, b64_buffer_exact_and_one_short)
{
    char out[9];
    size_t n = 0;
    cr_assert_eq(mqr__b64_encode((const uint8_t *)"foobar", 6, 0, NULL, 0, &n), MQR_EBUFFER);
    cr_assert_eq(n, 8);
    cr_assert_eq(mqr__b64_encode((const uint8_t *)"foobar", 6, 0, out, 8, &n), MQR_EBUFFER);
    cr_assert_eq(mqr__b64_encode((const uint8_t *)"foobar", 6, 0, out, 9, &n), MQR_OK);
    uint8_t bin[6];
    cr_assert_eq(mqr__b64_decode("Zm9vYmFy", 8, 0, bin, 5, &n, NULL), MQR_EBUFFER);
    cr_assert_eq(n, 6);
    cr_assert_eq(mqr__b64_decode("Zm9vYmFy", 8, 0, bin, 6, &n, NULL), MQR_OK);
}

Test(codec_util, b64_roundtrip_all_lengths)
{
    uint8_t src[64], back[64];
    char text[100];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    for (unsigned flags = 0; flags < 4; flags++) {
        for (size_t len = 0; len <= sizeof src; len++) {
            size_t n, m;
            cr_assert_eq(mqr__b64_encode(src, len, flags, text, sizeof text, &n), MQR_OK);
            cr_assert_eq(mqr__b64_decode(text, n, flags, back, sizeof back, &m, NULL), MQR_OK);
            cr_assert_eq(m, len);
            cr_assert_eq(memcmp(src, back, len), 0);
        }
    }
}

Test(codec_util, hex_encode_cases)
{
    const uint8_t in[] = {0x00, 0xab, 0x7f, 0xff};
    char out[9];
    size_t n;
    cr_assert_eq(mqr__hex_encode(in, 4, 1, out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, "00AB7FFF");
    cr_assert_eq(n, 8);
    cr_assert_eq(mqr__hex_encode(in, 4, 0, out, sizeof out, &n), MQR_OK);
    cr_assert_str_eq(out, "00ab7fff");
    cr_assert_eq(mqr__hex_encode(in, 4, 0, out, 8, &n), MQR_EBUFFER);
    cr_assert_eq(mqr__hex_encode(in, 0, 0, out, 1, &n), MQR_OK);
    cr_assert_str_eq(out, "");
}

Test(codec_util, hex_decode_odd_length_gets_leading_zero)
{
    uint8_t out[8];
    size_t n, e = 99;
    cr_assert_eq(mqr__hex_decode("6364f", 5, out, sizeof out, &n, &e), MQR_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0], 0x06);
    cr_assert_eq(out[1], 0x36);
    cr_assert_eq(out[2], 0x4f);
    cr_assert_eq(mqr__hex_decode("aBcD", 4, out, sizeof out, &n, &e), MQR_OK);
    cr_assert_eq(out[0], 0xab);
    cr_assert_eq(out[1], 0xcd);
    cr_assert_eq(mqr__hex_decode("12g4", 4, out, sizeof out, &n, &e), MQR_EINVAL);
    cr_assert_eq(e, 2);
    cr_assert_eq(mqr__hex_decode("1234", 4, out, 1, &n, &e), MQR_EBUFFER);
    cr_assert_eq(n, 2);
    cr_assert_eq(mqr__hex_decode("", 0, out, 0, &n, &e), MQR_OK);
    cr_assert_eq(n, 0);
}

Test(codec_util, utf8_validate_rejects)
{
    static const struct {
        const char *s;
        size_t len, off;
    } bad[] = {
        {"a\xC0\xAF", 3, 1},          /* overlong '/' */
        {"\xE0\x80\xAF", 3, 0},       /* overlong 3-byte */
        {"\xF0\x80\x80\xAF", 4, 0},   /* overlong 4-byte */
        {"ab\xED\xA0\x80", 5, 2},     /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4, 0},   /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0},   /* invalid lead */
        {"x\x80", 2, 1},              /* stray continuation */
        {"\xE4\xBD", 2, 0},           /* truncated */
        {"\xE4\x41\xA0", 3, 0},       /* bad continuation */
        {"a\0b", 3, 1},               /* U+0000 denied by default */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t e = 99;
        cr_assert_eq(mqr__utf8_validate((const uint8_t *)bad[i].s, bad[i].len, 0, &e), MQR_EUTF8,
                     "case %zu", i);
        cr_assert_eq(e, bad[i].off, "case %zu: offset %zu", i, e);
    }
    cr_assert_eq(mqr__utf8_validate((const uint8_t *)"a\0b", 3, MQR_UTF8_ALLOW_NUL, NULL), MQR_OK);
    const char *good = "h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80 \xED\x9F\xBF \xEE\x80\x80 \xF4\x8F\xBF\xBF";
    cr_assert_eq(mqr__utf8_validate((const uint8_t *)good, strlen(good), 0, NULL), MQR_OK);
    cr_assert_eq(mqr__utf8_validate(NULL, 0, 0, NULL), MQR_OK);
}

Test(codec_util, utf8_decode_encode_count)
{
    static const uint32_t cps[] = {0, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF,
                                   0x10000, 0x10FFFF};
    static const size_t lens[] = {1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        uint8_t buf[4];
        uint32_t back = 0xFFFFFFFF;
        size_t n = mqr__utf8_encode(cps[i], buf);
        cr_assert_eq(n, lens[i]);
        cr_assert_eq(mqr__utf8_decode(buf, n, &back), n);
        cr_assert_eq(back, cps[i]);
        cr_assert_eq(mqr__utf8_decode(buf, n - 1, &back), 0);
    }
    uint8_t buf[4];
    cr_assert_eq(mqr__utf8_encode(0xD800, buf), 0);
    cr_assert_eq(mqr__utf8_encode(0x110000, buf), 0);
    size_t count = 0, e = 0;
    cr_assert_eq(mqr__utf8_count((const uint8_t *)"\xE4\xBD\xA0\xE5\xA5\xBD", 6, &count, &e),
                 MQR_OK);
    cr_assert_eq(count, 2);
    cr_assert_eq(mqr__utf8_count((const uint8_t *)"ab\xFF", 3, &count, &e), MQR_EUTF8);
    cr_assert_eq(e, 2);
}

Test(codec_util, case_mapping_table)
{
    cr_assert_eq(mqr__unicode_upper('a'), 'A');
    cr_assert_eq(mqr__unicode_upper('A'), 'A');
    cr_assert_eq(mqr__unicode_upper('1'), '1');
    cr_assert_eq(mqr__unicode_upper(0xE9), 0xC9);   /* é */
    cr_assert_eq(mqr__unicode_upper(0xFF), 0x178);  /* ÿ -> Ÿ */
    cr_assert_eq(mqr__unicode_upper(0xDF), 0xDF);   /* ß has no simple upper */
    cr_assert_eq(mqr__unicode_upper(0xB5), 0x39C);  /* µ -> Greek Mu */
    cr_assert_eq(mqr__unicode_upper(0x101), 0x100); /* ā */
    cr_assert_eq(mqr__unicode_upper(0x131), 'I');   /* dotless i */
    cr_assert_eq(mqr__unicode_upper(0x3B1), 0x391); /* α */
    cr_assert_eq(mqr__unicode_upper(0x3C2), 0x3A3); /* final sigma */
    cr_assert_eq(mqr__unicode_upper(0x430), 0x410); /* а */
    cr_assert_eq(mqr__unicode_upper(0x450), 0x400); /* ѐ */
    cr_assert_eq(mqr__unicode_upper(0x1F80), 0x1F88);
    cr_assert_eq(mqr__unicode_lower(0x130), 'i');
    cr_assert_eq(mqr__unicode_lower(0x3A3), 0x3C3);
    cr_assert_eq(mqr__unicode_lower(0x42F), 0x44F); /* Я */
    cr_assert_eq(mqr__unicode_lower(0x212A), 'k');  /* Kelvin sign */
    cr_assert_eq(mqr__unicode_lower(0xFF21), 0xFF41);
    cr_assert_eq(mqr__unicode_lower(0x4E2D), 0x4E2D);
    cr_assert_eq(mqr__unicode_lower(0x1F600), 0x1F600);
}

Test(codec_util, case_map_strings)
{
    uint8_t out[64];
    size_t n = 0, e = 0;
    const char *s = "Stra\xC3\x9F" "e \xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 \xCE\xA3\xCE\xBF\xCF\x86\xCE\xAF\xCE\xB1";
    cr_assert_eq(mqr__utf8_case_map((const uint8_t *)s, strlen(s), 1, out, sizeof out, &n, &e),
                 MQR_OK);
    const char *up = "STRA\xC3\x9F" "E \xD0\x9C\xD0\x9E\xD0\xA1\xD0\x9A\xD0\x92\xD0\x90 \xCE\xA3\xCE\x9F\xCE\xA6\xCE\x8A\xCE\x91";
    cr_assert_eq(n, strlen(up));
    cr_assert_eq(memcmp(out, up, n), 0);
    /* U+0250 (2 bytes) upper-cases to U+2C6F (3 bytes): the size grows */
    cr_assert_eq(mqr__utf8_case_map((const uint8_t *)"\xC9\x90", 2, 1, out, 2, &n, &e),
                 MQR_EBUFFER);
    cr_assert_eq(n, 3);
    cr_assert_eq(mqr__utf8_case_map((const uint8_t *)"\xC9\x90", 2, 1, out, 3, &n, &e), MQR_OK);
    cr_assert_eq(memcmp(out, "\xE2\xB1\xAF", 3), 0);
    cr_assert_eq(mqr__utf8_case_map((const uint8_t *)"AB\xC3", 3, 0, out, sizeof out, &n, &e),
                 MQR_EUTF8);
    cr_assert_eq(e, 2);
}

Test(codec_util, unicode_whitespace)
{
    /* Pattern_White_Space, Erlang's unicode_util:whitespace() (string:trim/1) */
    static const uint32_t yes[] = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0x200E, 0x200F,
                                   0x2028, 0x2029};
    static const uint32_t no[] = {0x0, 0x8, 0xE, 0x1F, 'a', 0x200B, 0x180E, 0xFEFF, 0xA0,
                                  0x1680, 0x2000, 0x200A, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        cr_assert(mqr__unicode_is_space(yes[i]), "U+%04X", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_assert_not(mqr__unicode_is_space(no[i]), "U+%04X", no[i]);
}

Test(codec_util, hex_value_of_every_byte)
{
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9' ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        cr_assert_eq(mqr__hex_value((unsigned char)c), want, "byte %d", c);
    }
}
