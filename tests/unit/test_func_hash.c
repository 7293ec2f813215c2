/* SPDX-License-Identifier: MIT */
/* Tests of the digests, hex and base64 functions (spec §7.5, §7.9). */
#include "func_test_util.h"

TestSuite(func_hash, .init = ft_setup, .fini = ft_teardown);

Test(func_hash, digests_lower_hex)
{
    EXPECT_STR("900150983cd24fb0d6963f7d28e17f72", "md5", S("abc"));
    EXPECT_STR("d41d8cd98f00b204e9800998ecf8427e", "md5", S(""));
    EXPECT_STR("a9993e364706816aba3e25717850c26c9cd0d89d", "sha", S("abc"));
    EXPECT_STR("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256",
               S("abc"));
    EXPECT_ERR("expected a string, got undefined", "md5", UNDEF());
    EXPECT_ERR("expected a string, got integer 1", "sha", I(1));
    EXPECT_ERR("expected a string, got null", "sha256", NUL());
}

Test(func_hash, hash_by_name)
{
    EXPECT_STR("900150983cd24fb0d6963f7d28e17f72", "hash", S("md5"), S("abc"));
    EXPECT_STR("a9993e364706816aba3e25717850c26c9cd0d89d", "hash", S("sha"), S("abc"));
    EXPECT_STR("a9993e364706816aba3e25717850c26c9cd0d89d", "hash", S("sha1"), S("abc"));
    EXPECT_STR("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7", "hash", S("sha224"),
               S("abc"));
    EXPECT_STR("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358"
               "baeca134c825a7",
               "hash", S("sha384"), S("abc"));
    EXPECT_STR("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
               "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
               "hash", S("sha512"), S("abc"));
    EXPECT_ERR("unsupported hash algorithm 'md4'", "hash", S("md4"), S("abc"));
    EXPECT_ERR("unsupported hash algorithm 'sha3_256'", "hash", S("sha3_256"), S("abc"));
    EXPECT_ERR("unsupported hash algorithm ''", "hash", S(""), S("abc"));
    EXPECT_ERR("expected a string, got integer 1", "hash", S("md5"), I(1));
    EXPECT_ERR("expected a string, got undefined", "hash", UNDEF(), S("abc"));
}

Test(func_hash, bin2hexstr_upper)
{
    EXPECT_STR("0A1BFF", "bin2hexstr", SN("\x0a\x1b\xff", 3));
    EXPECT_STR("", "bin2hexstr", S(""));
    EXPECT_STR("0x0A", "bin2hexstr", S("\n"), S("0x"));
    EXPECT_STR("0x0A1B", "sqlserver_bin2hexstr", SN("\x0a\x1b", 2));
    EXPECT_ERR("expected a string, got integer 10", "bin2hexstr", I(10));
    EXPECT_ERR("expected a string, got undefined", "sqlserver_bin2hexstr", UNDEF());
}

Test(func_hash, hexstr2bin)
{
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "hexstr2bin", S("6364f")), MQR_OK);
    ft_assert_str(&r, "\x06\x36\x4f", 3, "hexstr2bin");
    cr_assert_eq(CALL(&r, "hexstr2bin", S("0A1bfF")), MQR_OK);
    ft_assert_str(&r, "\x0a\x1b\xff", 3, "hexstr2bin");
    cr_assert_eq(CALL(&r, "hexstr2bin", S("0xAB"), S("0x")), MQR_OK);
    ft_assert_str(&r, "\xab", 1, "hexstr2bin");
    EXPECT_STR("", "hexstr2bin", S(""));
    EXPECT_ERR("does not start with the prefix \"0x\"", "hexstr2bin", S("AB"), S("0x"));
    EXPECT_ERR("invalid hex digit at byte 2", "hexstr2bin", S("ABG"));
    EXPECT_ERR("invalid hex digit at byte 3", "hexstr2bin", S("0xAG"), S("0x"));
    EXPECT_ERR("expected a string, got integer 1", "hexstr2bin", I(1));
}

Test(func_hash, base64)
{
    EXPECT_STR("aGVsbG8=", "base64_encode", S("hello"));
    EXPECT_STR("aGVsbG8", "base64_encode", S("hello"), S("no_padding"));
    EXPECT_STR("-_8", "base64_encode", SN("\xfb\xff", 2), S("urlsafe"), S("no_padding"));
    EXPECT_STR("-_8=", "base64_encode", SN("\xfb\xff", 2), S("urlsafe"), S("whatever"));
    EXPECT_STR("+/8=", "base64_encode", SN("\xfb\xff", 2));
    EXPECT_STR("hello", "base64_decode", S("aGVsbG8="));
    EXPECT_STR("hello", "base64_decode", S("aGVsbG8"), S("no_padding"));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "base64_decode", S("-_8"), S("no_padding"), S("urlsafe")), MQR_OK);
    ft_assert_str(&r, "\xfb\xff", 2, "base64_decode");
    EXPECT_ERR("invalid base64", "base64_decode", S("aGVsbG8"));
    EXPECT_ERR("invalid base64 at byte 1", "base64_decode", S("a*==")); 
    EXPECT_ERR("expected a string, got integer 1", "base64_encode", I(1));
    EXPECT_ERR("expected a string, got undefined", "base64_decode", UNDEF());
}
