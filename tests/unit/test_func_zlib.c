/* SPDX-License-Identifier: MIT */
/* Tests of the zlib functions (spec §7.9; lib/func_zlib.c), built with zlib
 * only. The expected bytes are zlib's at the default level with a 32 KiB
 * window and memLevel 8 - what Erlang's zlib:zip, zlib:compress and
 * zlib:gzip (and so EMQX) produce. */
#include "func_test_util.h"
#include "mqr_config.h"

#if MQR_HAVE_ZLIB

TestSuite(func_zlib, .init = ft_setup, .fini = ft_teardown);

#define HELLO "hello hello hello"

Test(func_zlib, compress_bytes_match_erlang_zlib)
{
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "zip", S(HELLO)), MQR_OK);
    ft_assert_str(&r, "\xcb\x48\xcd\xc9\xc9\x57\xc8\x40\x90\x00", 10, "zip");
    cr_assert_eq(CALL(&r, "zip_compress", S(HELLO)), MQR_OK);
    ft_assert_str(&r, "\x78\x9c\xcb\x48\xcd\xc9\xc9\x57\xc8\x40\x90\x00\x3a\x2e\x06\x7d", 16,
                  "zip_compress");
    cr_assert_eq(CALL(&r, "gzip", S(HELLO)), MQR_OK);
    ft_assert_str(&r,
                  "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x57\xc8\x40"
                  "\x90\x00\x80\x88\xf9\xe5\x11\x00\x00\x00",
                  28, "gzip");
}

Test(func_zlib, uncompress_round_trips)
{
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "unzip", SN("\xcb\x48\xcd\xc9\xc9\x57\xc8\x40\x90\x00", 10)), MQR_OK);
    ft_assert_str(&r, HELLO, sizeof HELLO - 1, "unzip");
    cr_assert_eq(CALL(&r, "zip_uncompress",
                      SN("\x78\x9c\xcb\x48\xcd\xc9\xc9\x57\xc8\x40\x90\x00\x3a\x2e\x06\x7d", 16)),
                 MQR_OK);
    ft_assert_str(&r, HELLO, sizeof HELLO - 1, "zip_uncompress");
    cr_assert_eq(CALL(&r, "gunzip",
                      SN("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x57\xc8"
                         "\x40\x90\x00\x80\x88\xf9\xe5\x11\x00\x00\x00",
                         28)),
                 MQR_OK);
    ft_assert_str(&r, HELLO, sizeof HELLO - 1, "gunzip");
    EXPECT_STR("", "unzip", SN("\x03\x00", 2));
}

/* Output that grows past the first buffer (4 x the input) several times:
 * 64 KiB of one byte compresses to about a hundred bytes. */
Test(func_zlib, large_ratio_grows_the_buffer)
{
    static char big[65536];
    memset(big, 'z', sizeof big);
    mqr_value_t c, r;
    cr_assert_eq(CALL(&c, "gzip", SN(big, sizeof big)), MQR_OK);
    cr_assert_lt(c.len, 400u);
    mqr_value_t arg = c;
    cr_assert_eq(CALL(&r, "gunzip", arg), MQR_OK);
    ft_assert_str(&r, big, sizeof big, "gunzip");
}

Test(func_zlib, bad_input_is_an_evaluation_error)
{
    EXPECT_ERR("invalid compressed data", "gunzip", S("not gzip at all"));
    EXPECT_ERR("invalid compressed data", "zip_uncompress", S("\x78\x9c\xff\xff"));
    EXPECT_ERR("truncated compressed data", "zip_uncompress",
               SN("\x78\x9c\xcb\x48\xcd\xc9", 6));
    EXPECT_ERR("expected a string, got integer 1", "zip", I(1));
    EXPECT_ERR("expected a string, got undefined", "unzip", UNDEF());
}

#endif
