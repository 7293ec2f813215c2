/* SPDX-License-Identifier: MIT */
/*
 * Tests of lib/hash.c. Digest and HMAC vectors are the FIPS 180 examples,
 * RFC 1321's suite and RFC 4231's HMAC cases (the MD5 and SHA-1 columns of
 * those cases computed with Python's hashlib/hmac); PBKDF2 values come from
 * Python's hashlib.pbkdf2_hmac (RFC 6070 inputs); the password lines were
 * written by Debian's mosquitto_passwd (tests/data/hash/mosquitto_passwd.txt).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "codec_util.h"
#include "hash.h"

static const struct hash_vec { int alg; const char *msg; const char *hex; } hash_vecs[] = {
    {0, "",
     "d41d8cd98f00b204e9800998ecf8427e"},
    {1, "",
     "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {2, "",
     "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"},
    {3, "",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {4, "",
     "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"},
    {5, "",
     "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
    {0, "abc",
     "900150983cd24fb0d6963f7d28e17f72"},
    {1, "abc",
     "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {2, "abc",
     "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
    {3, "abc",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {4, "abc",
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
    {5, "abc",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
    {0, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "8215ef0796a20bcaaae116d3876c664a"},
    {1, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    {2, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525"},
    {3, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {4, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b"},
    {5, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"},
    {0, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "03dd8807a93175fb062dfb55dc7d359c"},
    {1, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "a49b2446a02c645bf419f995b67091253a04a259"},
    {2, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "c97ca9a559850ce97a04a96def6d99a9e0e0e2ab14e6b8df265fc0b3"},
    {3, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {4, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039"},
    {5, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
    {0, "message digest",
     "f96b697d7cb7938d525a2f31aaf161d0"},
    {1, "message digest",
     "c12252ceda8be8994d5fa0290a47231c1d16aae3"},
    {2, "message digest",
     "2cb21c83ae2f004de7e81c3c7019cbcb65b71ab656b22d6d0c39b8eb"},
    {3, "message digest",
     "f7846f55cf23e14eebeab5b4e1550cad5b509e3348fbc4efa3a1413d393cb650"},
    {4, "message digest",
     "473ed35167ec1f5d8e550368a3db39be54639f828868e9454c239fc8b52e3c61dbd0d8b4de1390c256dcbb5d5fd99cd5"},
    {5, "message digest",
     "107dbf389d9e9f71a3a95f6c055b9251bc5268c2be16d6c13492ea45b0199f3309e16455ab1e96118e8a905d5597b72038ddb372a89826046de66687bb420e7c"},
    {0, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "57edf4a22be3c955ac49da2e2107b67a"},
    {1, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "50abf5706a150990a08b2c5ea40fa0e585554732"},
    {2, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "b50aecbe4e9bb0b57bc5f3ae760a8e01db24f203fb3cdcd13148046e"},
    {3, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "f371bc4a311f2b009eef952dd83ca80e2b60026c8e935592d0f9c308453c813e"},
    {4, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "b12932b0627d1c060942f5447764155655bd4da0c9afa6dd9b9ef53129af1b8fb0195996d2de9ca0df9d821ffee67026"},
    {5, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "72ec1ef1124a45b047e8b7c75a932195135bb61de24ec0d1914042246e0aec3a2354e093d76f3048b456764346900cb130d2a4fd5dd16abb5e30bcb850dee843"},
};
static const char *const million_a[] = {
    "7707d6ae4e027c70eea2a935c2296f21",
    "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
    "20794655980c91d8bbb4c1ea97618a4bf03f42581948b2ee4ee7ad67",
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985",
    "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
};
static const struct hmac_vec { const char *key; size_t key_len; const char *msg; size_t msg_len; const char *hex[6]; } hmac_vecs[] = {
    {"\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 20,
     "Hi There", 8,
     {
      "5ccec34ea9656392457fa1ac27f08fbc",
      "b617318655057264e28bc0b6fb378c8ef146be00",
      "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
     }},
    {"Jefe", 4,
     "what do ya want for nothing?", 28,
     {
      "750c783e6ab0b503eaa86e310a5db738",
      "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
      "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
     }},
    {"\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa", 20,
     "\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd\xdd", 50,
     {
      "2ab8b9a9f7d3894d15ad8383b97044b2",
      "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
      "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
      "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
      "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
     }},
    {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19", 25,
     "\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd", 50,
     {
      "697eaf0aca3a3aea3a75164746ffaa79",
      "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
      "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
      "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
      "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
     }},
    {"\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa", 131,
     "Test Using Larger Than Block-Size Key - Hash Key First", 54,
     {
      "bfecaf4efff90a3a668f3922fec3762d",
      "90d0dace1c1bdc957339307803160335bde6df2b",
      "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
      "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
      "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
     }},
    {"\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa", 131,
     "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", 152,
     {
      "09b8ae7b15adbbb243aca3491b51512b",
      "217e44bb08b6e06a2d6c30f3cb9f537f97c63356",
      "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
      "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
      "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
     }},
};

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    char hex[2 * MQR_HASH_MAX_SIZE + 1];
    size_t n;
    cr_assert_eq(mqr__hex_encode(got, len, 0, hex, sizeof hex, &n), MQR_OK);
    cr_assert_str_eq(hex, want);
}

Test(hash, one_shot_vectors)
{
    uint8_t out[MQR_HASH_MAX_SIZE];
    for (size_t i = 0; i < sizeof hash_vecs / sizeof hash_vecs[0]; i++) {
        const struct hash_vec *v = &hash_vecs[i];
        cr_assert_eq(mqr__hash(v->alg, v->msg, strlen(v->msg), out), MQR_OK);
        cr_assert_eq(mqr_hash_size(v->alg) * 2, strlen(v->hex));
        assert_hex(out, mqr_hash_size(v->alg), v->hex);
    }
}

Test(hash, streaming_million_a)
{
    static uint8_t chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int alg = 0; alg < MQR_HASH_COUNT; alg++) {
        mqr__hash_ctx_t c;
        uint8_t out[MQR_HASH_MAX_SIZE];
        cr_assert_eq(mqr__hash_init(&c, alg), MQR_OK);
        /* uneven pieces cross block boundaries at every offset */
        size_t left = 1000000, piece = 1;
        while (left) {
            size_t n = piece < left ? piece : left;
            n = n > sizeof chunk ? sizeof chunk : n;
            mqr__hash_update(&c, chunk, n);
            left -= n;
            piece = piece % 997 + 13;
        }
        mqr__hash_final(&c, out);
        assert_hex(out, mqr_hash_size(alg), million_a[alg]);
    }
}

Test(hash, streaming_equals_one_shot_at_every_length)
{
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (int alg = 0; alg < MQR_HASH_COUNT; alg++) {
        for (size_t len = 0; len <= sizeof data; len++) {
            uint8_t a[MQR_HASH_MAX_SIZE], b[MQR_HASH_MAX_SIZE];
            mqr__hash(alg, data, len, a);
            mqr__hash_ctx_t c;
            mqr__hash_init(&c, alg);
            for (size_t i = 0; i < len; i++)
                mqr__hash_update(&c, data + i, 1);
            mqr__hash_final(&c, b);
            cr_assert_eq(memcmp(a, b, mqr_hash_size(alg)), 0, "alg %d len %zu", alg, len);
        }
    }
}

Test(hash, names_and_sizes)
{
    static const struct {
        const char *name;
        int rc, alg;
    } cases[] = {
        {"md5", MQR_OK, MQR_HASH_MD5},       {"sha", MQR_OK, MQR_HASH_SHA1},
        {"SHA1", MQR_OK, MQR_HASH_SHA1},     {"sha224", MQR_OK, MQR_HASH_SHA224},
        {"sha256", MQR_OK, MQR_HASH_SHA256}, {"sha384", MQR_OK, MQR_HASH_SHA384},
        {"Sha512", MQR_OK, MQR_HASH_SHA512}, {"md4", MQR_ENOTSUP, -1},
        {"sha3_256", MQR_ENOTSUP, -1},       {"blake2b", MQR_ENOTSUP, -1},
        {"sha512_and_much_longer", MQR_ENOTSUP, -1}, {"", MQR_EINVAL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int alg = -1;
        cr_assert_eq(mqr__hash_by_name(cases[i].name, strlen(cases[i].name), &alg), cases[i].rc,
                     "%s", cases[i].name);
        cr_assert_eq(alg, cases[i].alg, "%s", cases[i].name);
    }
    cr_assert_eq(mqr_hash_size(MQR_HASH_SHA224), 28);
    cr_assert_eq(mqr_hash_size(MQR_HASH_COUNT), 0);
    cr_assert_eq(mqr_hash_size(-1), 0);
    cr_assert_eq(mqr__hash_block_size(MQR_HASH_SHA384), 128);
    uint8_t out[MQR_HASH_MAX_SIZE];
    cr_assert_eq(mqr__hash(MQR_HASH_COUNT, "x", 1, out), MQR_EINVAL);
    cr_assert_eq(mqr_hmac(-1, "k", 1, "x", 1, out), MQR_EINVAL);
}

Test(hash, hmac_rfc4231)
{
    for (size_t i = 0; i < sizeof hmac_vecs / sizeof hmac_vecs[0]; i++) {
        const struct hmac_vec *v = &hmac_vecs[i];
        for (int alg = 0; alg < MQR_HASH_COUNT; alg++) {
            uint8_t out[MQR_HASH_MAX_SIZE];
            cr_assert_eq(mqr_hmac(alg, v->key, v->key_len, v->msg, v->msg_len, out), MQR_OK);
            assert_hex(out, mqr_hash_size(alg), v->hex[alg]);
            /* streaming in two pieces gives the same */
            mqr__hmac_ctx_t c;
            uint8_t out2[MQR_HASH_MAX_SIZE];
            cr_assert_eq(mqr__hmac_init(&c, alg, v->key, v->key_len), MQR_OK);
            mqr__hmac_update(&c, v->msg, v->msg_len / 2);
            mqr__hmac_update(&c, v->msg + v->msg_len / 2, v->msg_len - v->msg_len / 2);
            mqr__hmac_final(&c, out2);
            cr_assert_eq(memcmp(out, out2, mqr_hash_size(alg)), 0);
        }
    }
}

Test(hash, pbkdf2_vectors)
{
    static const struct {
        int alg;
        const char *pw;
        size_t pw_len;
        const char *salt;
        size_t salt_len;
        uint32_t iter;
        const char *hex;
    } cases[] = {
        {MQR_HASH_SHA512, "password", 8, "salt", 4, 1,
         "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"},
        {MQR_HASH_SHA512, "password", 8, "salt", 4, 2,
         "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53cf76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"},
        {MQR_HASH_SHA512, "password", 8, "salt", 4, 4096,
         "d197b1b33db0143e018b12f3d1d1479e6cdebdcc97c5c0f87f6902e072f457b5143f30602641b3d55cd335988cb36b84376060ecd532e039b742a239434af2d5"},
        {MQR_HASH_SHA512, "passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36,
         4096,
         "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71115b59f9e60cd9532fa33e0f75aefe30225c583a186cd82bd4daea9724a3d3b8"},
        {MQR_HASH_SHA512, "pass\0word", 9, "sa\0lt", 5, 4096, "9d9e9c4cd21fe4be24d5b8244c759665"},
        {MQR_HASH_SHA1, "password", 8, "salt", 4, 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
        /* 100 bytes: four blocks, the last one cut */
        {MQR_HASH_SHA256, "password", 8, "salt", 4, 1,
         "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b4dbf3a2f3dad3377264bb7b8e8330d4efc7451418617dabef683735361cdc18c22cd7fe60fa40e91c65849e1f60c0d8b62a7b2dbd0d3dfd75fb8498a5c2131ab02b66de5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[100];
        char hex[201];
        size_t n, len = strlen(cases[i].hex) / 2;
        cr_assert_eq(mqr__pbkdf2_hmac(cases[i].alg, cases[i].pw, cases[i].pw_len, cases[i].salt,
                                      cases[i].salt_len, cases[i].iter, out, len),
                     MQR_OK);
        mqr__hex_encode(out, len, 0, hex, sizeof hex, &n);
        cr_assert_str_eq(hex, cases[i].hex, "case %zu", i);
    }
    uint8_t out[8];
    cr_assert_eq(mqr__pbkdf2_hmac(MQR_HASH_SHA512, "p", 1, "s", 1, 0, out, 8), MQR_EINVAL);
    cr_assert_eq(mqr__pbkdf2_hmac(MQR_HASH_SHA512, "p", 1, "s", 1, 1, out, 0), MQR_EINVAL);
    cr_assert_eq(mqr__pbkdf2_hmac(42, "p", 1, "s", 1, 1, out, 8), MQR_EINVAL);
}

Test(hash, ct_equal)
{
    cr_assert_eq(mqr_ct_equal("abcd", "abcd", 4), 1);
    cr_assert_eq(mqr_ct_equal("abcd", "abce", 4), 0);
    cr_assert_eq(mqr_ct_equal("xbcd", "abcd", 4), 0);
    cr_assert_eq(mqr_ct_equal("a", "b", 0), 1);
}

/* Read line `user` of the committed mosquitto_passwd file; returns the hash
 * part (after "user:") in buf. */
static const char *passwd_line(const char *user, char *buf, size_t cap)
{
    FILE *f = fopen(MQR_TEST_DATA_DIR "/hash/mosquitto_passwd.txt", "r");
    cr_assert_not_null(f);
    size_t ul = strlen(user);
    const char *found = NULL;
    while (fgets(buf, (int)cap, f)) {
        if (strncmp(buf, user, ul) == 0 && buf[ul] == ':') {
            buf[strcspn(buf, "\r\n")] = '\0';
            found = buf + ul + 1;
            break;
        }
    }
    fclose(f);
    cr_assert_not_null(found, "user %s", user);
    return found;
}

Test(hash, passwd_mosquitto_pbkdf2_line)
{
    char buf[512];
    const char *h = passwd_line("user", buf, sizeof buf);
    cr_assert_eq(strncmp(h, "$7$101$", 7), 0);
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), "pass", 4), MQR_OK);
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), "pasS", 4), MQR_NO_MATCH);
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), "pass ", 5), MQR_NO_MATCH);
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), "", 0), MQR_NO_MATCH);
}

Test(hash, passwd_mosquitto_sha512_line)
{
    char buf[512];
    const char *h = passwd_line("user6", buf, sizeof buf);
    cr_assert_eq(strncmp(h, "$6$", 3), 0);
    const char *pw = "p@ss w\xC3\xB6rd";
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), pw, strlen(pw)), MQR_OK);
    cr_assert_eq(mqr_passwd_verify(h, strlen(h), "p@ss word", 9), MQR_NO_MATCH);
}

Test(hash, passwd_format7_roundtrip)
{
    const uint8_t salt[12] = {0x71, 0xe2, 0x98, 0x56, 0xc2, 0xa3, 0x1c, 0xe9, 0xc1, 0xcf, 0xb1, 0x3d};
    char line[256], hbuf[512];
    size_t n = 0;
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, sizeof salt, 101, NULL, 0, &n), MQR_EBUFFER);
    cr_assert_eq(n, 7 + 16 + 1 + 88);
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, sizeof salt, 101, line, n, &n), MQR_EBUFFER);
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, sizeof salt, 101, line, n + 1, &n), MQR_OK);
    /* the salt is the one mosquitto_passwd chose, so the line is identical */
    cr_assert_str_eq(line, passwd_line("user", hbuf, sizeof hbuf));
    cr_assert_eq(mqr_passwd_verify(line, n, "pass", 4), MQR_OK);
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, 0, 101, line, sizeof line, &n), MQR_EINVAL);
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, 12, 0, line, sizeof line, &n), MQR_EINVAL);
    cr_assert_eq(mqr_passwd_format7("pass", 4, salt, 12, MQR_PASSWD_MAX_ITERATIONS + 1, line,
                                     sizeof line, &n),
                 MQR_ELIMIT);
}

Test(hash, passwd_malformed)
{
    static const struct {
        const char *h;
        int rc;
    } cases[] = {
        {"", MQR_ENOTSUP},
        {"plaintext", MQR_ENOTSUP},
        {"$5$abc$def", MQR_ENOTSUP},
        {"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", MQR_ENOTSUP},
        {"$6$", MQR_EINVAL},
        {"$6$c2FsdA==", MQR_EINVAL},
        {"$6$c2FsdA==$", MQR_EINVAL},                  /* empty hash */
        {"$6$c2F!dA==$aGFzaA==", MQR_EINVAL},          /* bad base64 salt */
        {"$6$c2FsdA==$aGFzaA==", MQR_EINVAL},          /* hash not 64 bytes */
        {"$6$a$b$c", MQR_EINVAL},
        {"$7$$c2FsdA==$aGFzaA==", MQR_EINVAL},         /* no iterations */
        {"$7$0$c2FsdA==$aGFzaA==", MQR_EINVAL},        /* zero iterations */
        {"$7$1x$c2FsdA==$aGFzaA==", MQR_EINVAL},
        {"$7$1000001$c2FsdA==$aGFzaA==", MQR_ELIMIT},
        {"$7$99999999999999$c2FsdA==$aGFzaA==", MQR_EINVAL}, /* too many digits */
        {"$7$101", MQR_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(mqr_passwd_verify(cases[i].h, strlen(cases[i].h), "pass", 4), cases[i].rc,
                     "%s", cases[i].h);
}
