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
    EXPECT_ERR("unsupported hash algorithm 'sha3_257'", "hash", S("sha3_257"), S("abc"));
    EXPECT_ERR("unsupported hash algorithm 'shake128'", "hash", S("shake128"), S("abc"));
    EXPECT_ERR("unsupported hash algorithm ''", "hash", S(""), S("abc"));
    EXPECT_ERR("expected a string, got integer 1", "hash", S("md5"), I(1));
    EXPECT_ERR("expected a string, got undefined", "hash", UNDEF(), S("abc"));
}

/* EMQX's hash/2 goes through crypto:hash/2, which also knows MD4 (RFC 1320
 * test suite), SHA3-* (FIPS 202) and BLAKE2b-512 / BLAKE2s-256 (RFC 7693).
 * The expected digests are hashlib's; 200 bytes cross a block boundary of
 * every algorithm (rates 72..144, blocks 64 and 128). */
Test(func_hash, hash_md4_sha3_blake2)
{
    char A200[201];
    memset(A200, 'a', 200);
    A200[200] = 0;
    EXPECT_STR("31d6cfe0d16ae931b73c59d7e0c089c0",
               "hash", S("md4"), S(""));
    EXPECT_STR("a448017aaf21d8525fc10ae87aa6729d",
               "hash", S("md4"), S("abc"));
    EXPECT_STR("e33b4ddc9c38f2199c3e7b164fcc0536",
               "hash", S("md4"), S("1234567890123456789012345678901234567890123456789012345678901234567890"
                                                   "1234567890"));
    EXPECT_STR("6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7",
               "hash", S("sha3_224"), S(""));
    EXPECT_STR("e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf",
               "hash", S("sha3_224"), S("abc"));
    EXPECT_STR("455e0ccfc6010738ed93a793dffd79aff36debbd1a7eb6621bd6c722",
               "hash", S("sha3_224"), S(A200));
    EXPECT_STR("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
               "hash", S("sha3_256"), S(""));
    EXPECT_STR("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
               "hash", S("sha3_256"), S("abc"));
    EXPECT_STR("cce34485baf2bf2aca99b94833892a4f52896d3d153f7b840cc4f9fe695f1387",
               "hash", S("sha3_256"), S(A200));
    EXPECT_STR("0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47"
               "fb6bd1e058d5f004",
               "hash", S("sha3_384"), S(""));
    EXPECT_STR("ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f5"
               "39f1edf228376d25",
               "hash", S("sha3_384"), S("abc"));
    EXPECT_STR("f97756776c1874724c94a8008f7f155553b4bf00fbf8fbeac246624ad59c258a3c0977d9f2543d7c"
               "bd75b9ac8fdc0d40",
               "hash", S("sha3_384"), S(A200));
    EXPECT_STR("a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c"
               "11e3e9402c3ac558f500199d95b6d3e301758586281dcd26",
               "hash", S("sha3_512"), S(""));
    EXPECT_STR("b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c9"
               "1a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
               "hash", S("sha3_512"), S("abc"));
    EXPECT_STR("eae6c85c6904f11075de9f9d5e1064371d000510fa3d2d79d40cf9be34892fb01859d0a0234e138b"
               "cb0ad5c84f6c0dca226a414b0c9a2897cb695f5185fe36ec",
               "hash", S("sha3_512"), S(A200));
    EXPECT_STR("786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee5853"
               "13896444934eb04b903a685b1448b755d56f701afe9be2ce",
               "hash", S("blake2b"), S(""));
    EXPECT_STR("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792d"
               "c252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
               "hash", S("blake2b"), S("abc"));
    EXPECT_STR("932355851d75f09c18646a9da87c25e055bc57f113121ad1ec63d45e7a1d62ab9133f8b7d1d7de9e"
               "0afa784eb6a8a11d78683013d0a672611f17668d9577d209",
               "hash", S("blake2b"), S(A200));
    EXPECT_STR("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9",
               "hash", S("blake2s"), S(""));
    EXPECT_STR("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
               "hash", S("blake2s"), S("abc"));
    EXPECT_STR("2b033f9f5ba9cf20671da79e492f41545e673b562603945ffed09662fd92321a",
               "hash", S("blake2s"), S(A200));
    EXPECT_STR("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
               "hash", S("sha3_256"), S("abc"));
}

/* emqx_variform_bif:hash/2: binary_to_existing_atom(Name), so upper case
 * names fail; an atom (a boolean) is hashed as its name. */
Test(func_hash, hash_names_and_atoms)
{
    EXPECT_ERR("names are lower case", "hash", S("SHA3_256"), S("abc"));
    EXPECT_ERR("names are lower case", "hash", S("MD5"), S("abc"));
    EXPECT_STR("b326b5062b2f0e69046810717534cb09", "hash", S("md5"), B(1));
    EXPECT_ERR("got undefined", "hash", S("md5"), UNDEF());
    EXPECT_ERR("expected a string, got true", "md5", B(1));
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
