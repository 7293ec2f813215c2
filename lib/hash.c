/* SPDX-License-Identifier: MIT */
/*
 * hash.c - MD5 (RFC 1321), SHA-1/224/256/384/512 (FIPS 180-4), HMAC
 * (RFC 2104), PBKDF2 (RFC 8018) and mosquitto password-file verification.
 *
 * How it works: each algorithm has a compression function over one block;
 * the shared helpers md_update() and md_pad() do the block buffering and the
 * Merkle-Damgard padding for all of them (MD5 stores its bit length
 * little-endian, the SHA family big-endian, SHA-384/512 in 128 bits). The
 * generic mqr__hash_* layer dispatches on the algorithm through alg_table.
 * Round constants are the published ones (sines for MD5, fractional parts of
 * cube and square roots of primes for SHA-2). Nothing allocates; the code is
 * portable C without endianness assumptions.
 */
#include <stdio.h>
#include <string.h>

#include "codec_util.h"
#include "hash.h"
#include "internal.h"

/* ---- shared Merkle-Damgard plumbing ------------------------------------------ */

typedef void (*compress_fn)(void *state, const uint8_t *block);

/* Feed `len` bytes into a hash whose partial block lives in buf[0..block)
 * and whose byte count is *total; full blocks go to `f`. */
static void md_update(void *state, compress_fn f, uint8_t *buf, size_t block, uint64_t *total,
                      const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t used = (size_t)(*total % block);
    *total += len;
    if (used) {
        size_t take = block - used < len ? block - used : len;
        memcpy(buf + used, p, take);
        p += take, len -= take, used += take;
        if (used < block)
            return;
        f(state, buf);
    }
    for (; len >= block; p += block, len -= block)
        f(state, p);
    if (len)
        memcpy(buf, p, len);
}

/* Append 0x80, zeros and the message length in bits (`len_field` bytes wide,
 * little-endian for MD5 if `little`), compressing the last block(s). */
static void md_pad(void *state, compress_fn f, uint8_t *buf, size_t block, uint64_t total,
                   size_t len_field, int little)
{
    size_t used = (size_t)(total % block);
    buf[used++] = 0x80;
    if (used > block - len_field) {
        memset(buf + used, 0, block - used);
        f(state, buf);
        used = 0;
    }
    memset(buf + used, 0, block - used);
    uint64_t bits = total * 8;
    for (size_t i = 0; i < 8; i++) {
        if (little)
            buf[block - len_field + i] = (uint8_t)(bits >> (8 * i));
        else
            buf[block - 1 - i] = (uint8_t)(bits >> (8 * i));
    }
    f(state, buf);
}

static uint32_t rol32(uint32_t x, unsigned n) { return x << n | x >> (32 - n); }
static uint32_t ror32(uint32_t x, unsigned n) { return x >> n | x << (32 - n); }
static uint64_t ror64(uint64_t x, unsigned n) { return x >> n | x << (64 - n); }

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

/* ---- constants ------------------------------------------------------------------ */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
    0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
    0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
    0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
    0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
static const uint64_t sha512_k[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull,
    0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull,
    0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull,
    0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull,
    0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull,
    0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull,
    0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull,
    0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull,
    0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull,
    0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull,
    0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull,
    0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull,
    0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull,
    0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull,
    0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull,
    0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull,
    0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull,
    0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull,
    0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull,
    0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull,
    0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};
static const uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};
static const uint32_t sha224_iv[8] = {
    0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939,
    0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4,
};
static const uint64_t sha512_iv[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull,
    0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
    0x510e527fade682d1ull, 0x9b05688c2b3e6c1full,
    0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull,
};
static const uint64_t sha384_iv[8] = {
    0xcbbb9d5dc1059ed8ull, 0x629a292a367cd507ull,
    0x9159015a3070dd17ull, 0x152fecd8f70e5939ull,
    0x67332667ffc00b31ull, 0x8eb44a8768581511ull,
    0xdb0c2e0d64f98fa7ull, 0x47b5481dbefa4fa4ull,
};

static const uint8_t md5_r[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* ---- MD5 -------------------------------------------------------------------------- */

/* One 64-byte block into the MD5 state h[4] (RFC 1321 §3.4). */
static void md5_compress(void *state, const uint8_t *blk)
{
    uint32_t *h = state, m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
               (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16)
            f = (b & c) | (~b & d), g = i;
        else if (i < 32)
            f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
        else if (i < 48)
            f = b ^ c ^ d, g = (3 * i + 5) % 16;
        else
            f = c ^ (b | ~d), g = (7 * i) % 16;
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rol32(a + f + md5_k[i] + m[g], md5_r[i]);
        a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

void mqr__md5_init(mqr__md5_ctx_t *c)
{
    static const uint32_t iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
}

void mqr__md5_update(mqr__md5_ctx_t *c, const void *data, size_t len)
{
    md_update(c->h, md5_compress, c->buf, 64, &c->len, data, len);
}

void mqr__md5_final(mqr__md5_ctx_t *c, uint8_t out[16])
{
    md_pad(c->h, md5_compress, c->buf, 64, c->len, 8, 1);
    for (int i = 0; i < 16; i++)
        out[i] = (uint8_t)(c->h[i / 4] >> (8 * (i % 4)));
}

/* ---- SHA-1 ------------------------------------------------------------------------- */

/* One 64-byte block into the SHA-1 state h[5] (FIPS 180-4 §6.1.2). */
static void sha1_compress(void *state, const uint8_t *blk)
{
    uint32_t *h = state, w[80];
    for (int i = 0; i < 16; i++)
        w[i] = load_be32(blk + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5a827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ed9eba1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = b ^ c ^ d, k = 0xca62c1d6;
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void mqr__sha1_init(mqr__sha1_ctx_t *c)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
}

void mqr__sha1_update(mqr__sha1_ctx_t *c, const void *data, size_t len)
{
    md_update(c->h, sha1_compress, c->buf, 64, &c->len, data, len);
}

void mqr__sha1_final(mqr__sha1_ctx_t *c, uint8_t out[20])
{
    md_pad(c->h, sha1_compress, c->buf, 64, c->len, 8, 0);
    for (int i = 0; i < 5; i++)
        store_be32(out + 4 * i, c->h[i]);
}

/* ---- SHA-224 / SHA-256 -------------------------------------------------------------------- */

/* One 64-byte block into the SHA-224/256 state h[8] (FIPS 180-4 §6.2.2). */
static void sha256_compress(void *state, const uint8_t *blk)
{
    uint32_t *h = state, w[64];
    for (int i = 0; i < 16; i++)
        w[i] = load_be32(blk + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1;
        d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void mqr__sha224_init(mqr__sha256_ctx_t *c)
{
    memcpy(c->h, sha224_iv, sizeof sha224_iv);
    c->len = 0;
}

void mqr__sha256_init(mqr__sha256_ctx_t *c)
{
    memcpy(c->h, sha256_iv, sizeof sha256_iv);
    c->len = 0;
}

void mqr__sha256_update(mqr__sha256_ctx_t *c, const void *data, size_t len)
{
    md_update(c->h, sha256_compress, c->buf, 64, &c->len, data, len);
}

/* Pad and write the first `words` state words big-endian (7 for SHA-224). */
static void sha256_finish(mqr__sha256_ctx_t *c, uint8_t *out, int words)
{
    md_pad(c->h, sha256_compress, c->buf, 64, c->len, 8, 0);
    for (int i = 0; i < words; i++)
        store_be32(out + 4 * i, c->h[i]);
}

void mqr__sha224_final(mqr__sha256_ctx_t *c, uint8_t out[28]) { sha256_finish(c, out, 7); }
void mqr__sha256_final(mqr__sha256_ctx_t *c, uint8_t out[32]) { sha256_finish(c, out, 8); }

/* ---- SHA-384 / SHA-512 ---------------------------------------------------------------------- */

/* One 128-byte block into the SHA-384/512 state h[8] (FIPS 180-4 §6.4.2). */
static void sha512_compress(void *state, const uint8_t *blk)
{
    uint64_t *h = state, w[80];
    for (int i = 0; i < 16; i++)
        w[i] = load_be64(blk + 8 * i);
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 80; i++) {
        uint64_t t1 = hh + (ror64(e, 14) ^ ror64(e, 18) ^ ror64(e, 41)) + ((e & f) ^ (~e & g)) +
                      sha512_k[i] + w[i];
        uint64_t t2 = (ror64(a, 28) ^ ror64(a, 34) ^ ror64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1;
        d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void mqr__sha384_init(mqr__sha512_ctx_t *c)
{
    memcpy(c->h, sha384_iv, sizeof sha384_iv);
    c->len = 0;
}

void mqr__sha512_init(mqr__sha512_ctx_t *c)
{
    memcpy(c->h, sha512_iv, sizeof sha512_iv);
    c->len = 0;
}

void mqr__sha512_update(mqr__sha512_ctx_t *c, const void *data, size_t len)
{
    md_update(c->h, sha512_compress, c->buf, 128, &c->len, data, len);
}

/* Pad and write the first `words` state words big-endian (6 for SHA-384). */
static void sha512_finish(mqr__sha512_ctx_t *c, uint8_t *out, int words)
{
    md_pad(c->h, sha512_compress, c->buf, 128, c->len, 16, 0);
    for (int i = 0; i < words; i++)
        store_be64(out + 8 * i, c->h[i]);
}

void mqr__sha384_final(mqr__sha512_ctx_t *c, uint8_t out[48]) { sha512_finish(c, out, 6); }
void mqr__sha512_final(mqr__sha512_ctx_t *c, uint8_t out[64]) { sha512_finish(c, out, 8); }

/* ---- generic layer ------------------------------------------------------------------------------- */

/* ORDER: indexed by MQR_HASH_*. */
static const struct {
    const char *name;
    uint8_t size, block;
} alg_table[MQR_HASH_COUNT] = {
    {"md5", 16, 64},     {"sha1", 20, 64},    {"sha224", 28, 64},
    {"sha256", 32, 64},  {"sha384", 48, 128}, {"sha512", 64, 128},
};

static int alg_ok(int alg) { return alg >= 0 && alg < MQR_HASH_COUNT; }

size_t mqr_hash_size(int alg) { return alg_ok(alg) ? alg_table[alg].size : 0; }

size_t mqr__hash_block_size(int alg) { return alg_ok(alg) ? alg_table[alg].block : 0; }

int mqr__hash_by_name(const char *name, size_t len, int *out_alg)
{
    char low[16];
    if (len == 0)
        return MQR_EINVAL;
    if (len >= sizeof low)
        return MQR_ENOTSUP;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    low[len] = '\0';
    if (strcmp(low, "sha") == 0) {
        *out_alg = MQR_HASH_SHA1;
        return MQR_OK;
    }
    for (int a = 0; a < MQR_HASH_COUNT; a++) {
        if (strcmp(low, alg_table[a].name) == 0) {
            *out_alg = a;
            return MQR_OK;
        }
    }
    return MQR_ENOTSUP;
}

int mqr__hash_init(mqr__hash_ctx_t *c, int alg)
{
    c->alg = alg;
    switch (alg) {
    case MQR_HASH_MD5: mqr__md5_init(&c->u.md5); break;
    case MQR_HASH_SHA1: mqr__sha1_init(&c->u.sha1); break;
    case MQR_HASH_SHA224: mqr__sha224_init(&c->u.sha256); break;
    case MQR_HASH_SHA256: mqr__sha256_init(&c->u.sha256); break;
    case MQR_HASH_SHA384: mqr__sha384_init(&c->u.sha512); break;
    case MQR_HASH_SHA512: mqr__sha512_init(&c->u.sha512); break;
    default: return MQR_EINVAL;
    }
    return MQR_OK;
}

void mqr__hash_update(mqr__hash_ctx_t *c, const void *data, size_t len)
{
    switch (c->alg) {
    case MQR_HASH_MD5: mqr__md5_update(&c->u.md5, data, len); break;
    case MQR_HASH_SHA1: mqr__sha1_update(&c->u.sha1, data, len); break;
    case MQR_HASH_SHA224:
    case MQR_HASH_SHA256: mqr__sha256_update(&c->u.sha256, data, len); break;
    default: mqr__sha512_update(&c->u.sha512, data, len); break;
    }
}

void mqr__hash_final(mqr__hash_ctx_t *c, uint8_t *out)
{
    switch (c->alg) {
    case MQR_HASH_MD5: mqr__md5_final(&c->u.md5, out); break;
    case MQR_HASH_SHA1: mqr__sha1_final(&c->u.sha1, out); break;
    case MQR_HASH_SHA224: mqr__sha224_final(&c->u.sha256, out); break;
    case MQR_HASH_SHA256: mqr__sha256_final(&c->u.sha256, out); break;
    case MQR_HASH_SHA384: mqr__sha384_final(&c->u.sha512, out); break;
    default: mqr__sha512_final(&c->u.sha512, out); break;
    }
}

int mqr__hash(int alg, const void *data, size_t len, uint8_t *out)
{
    mqr__hash_ctx_t c;
    if (mqr__hash_init(&c, alg) != MQR_OK)
        return MQR_EINVAL;
    mqr__hash_update(&c, data, len);
    mqr__hash_final(&c, out);
    return MQR_OK;
}

/* Overwrite key material on the stack before returning; the volatile
 * stores cannot be optimised away as a dead memset could. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

/* ---- HMAC ----------------------------------------------------------------------------------------- */

int mqr__hmac_init(mqr__hmac_ctx_t *c, int alg, const void *key, size_t key_len)
{
    if (!alg_ok(alg))
        return MQR_EINVAL;
    size_t block = alg_table[alg].block;
    uint8_t k[MQR_HASH_MAX_BLOCK] = {0}, pad[MQR_HASH_MAX_BLOCK];
    if (key_len > block)
        mqr__hash(alg, key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x36;
    mqr__hash_init(&c->inner, alg);
    mqr__hash_update(&c->inner, pad, block);
    for (size_t i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x5c;
    mqr__hash_init(&c->outer, alg);
    mqr__hash_update(&c->outer, pad, block);
    wipe(k, sizeof k);
    wipe(pad, sizeof pad);
    return MQR_OK;
}

void mqr__hmac_update(mqr__hmac_ctx_t *c, const void *data, size_t len)
{
    mqr__hash_update(&c->inner, data, len);
}

void mqr__hmac_final(mqr__hmac_ctx_t *c, uint8_t *out)
{
    uint8_t ih[MQR_HASH_MAX_SIZE];
    mqr__hash_final(&c->inner, ih);
    mqr__hash_update(&c->outer, ih, mqr_hash_size(c->inner.alg));
    mqr__hash_final(&c->outer, out);
}

int mqr_hmac(int alg, const void *key, size_t key_len, const void *data, size_t len,
             uint8_t *out)
{
    mqr__hmac_ctx_t c;
    if (!out || (!key && key_len) || (!data && len) ||
        mqr__hmac_init(&c, alg, key, key_len) != MQR_OK)
        return MQR_EINVAL;
    mqr__hmac_update(&c, data, len);
    mqr__hmac_final(&c, out);
    return MQR_OK;
}

/* ---- PBKDF2 ----------------------------------------------------------------------------------------- */

/* The keyed HMAC state is computed once and copied for every iteration, so an
 * iteration costs two compressions instead of four. */
int mqr__pbkdf2_hmac(int alg, const void *password, size_t password_len, const void *salt,
                     size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len)
{
    mqr__hmac_ctx_t keyed, c;
    if (iterations == 0 || out_len == 0 ||
        mqr__hmac_init(&keyed, alg, password, password_len) != MQR_OK)
        return MQR_EINVAL;
    size_t hlen = alg_table[alg].size;
    uint8_t u[MQR_HASH_MAX_SIZE], t[MQR_HASH_MAX_SIZE];
    for (uint32_t block = 1; out_len > 0; block++) {
        uint8_t be[4];
        store_be32(be, block);
        c = keyed;
        mqr__hmac_update(&c, salt, salt_len);
        mqr__hmac_update(&c, be, 4);
        mqr__hmac_final(&c, u);
        memcpy(t, u, hlen);
        for (uint32_t i = 1; i < iterations; i++) {
            c = keyed;
            mqr__hmac_update(&c, u, hlen);
            mqr__hmac_final(&c, u);
            for (size_t j = 0; j < hlen; j++)
                t[j] ^= u[j];
        }
        size_t take = out_len < hlen ? out_len : hlen;
        memcpy(out, t, take);
        out += take, out_len -= take;
    }
    wipe(&keyed, sizeof keyed);
    wipe(&c, sizeof c);
    wipe(u, sizeof u);
    wipe(t, sizeof t);
    return MQR_OK;
}

/* ---- comparison and password files -------------------------------------------------------------------- */

int mqr_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= (uint8_t)(x[i] ^ y[i]);
    return acc == 0;
}

#define PASSWD_SALT_MAX 1024 /* decoded salt bytes */

/* Decode the base64 field s[0..len) into out (cap bytes). MQR_EINVAL for bad
 * base64, MQR_ELIMIT when it does not fit. */
static int passwd_b64(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = mqr__b64_decode(s, len, 0, out, cap, out_len, NULL);
    return rc == MQR_EBUFFER ? MQR_ELIMIT : rc;
}

int mqr_passwd_verify(const char *hash_part, size_t hash_len, const char *password,
                      size_t password_len)
{
    if ((!hash_part && hash_len) || (!password && password_len))
        return MQR_EINVAL;
    const char *p = hash_part, *end = hash_part + hash_len;
    uint32_t iterations = 0;
    int pbkdf2;
    if (hash_len < 3 || p[0] != '$' || (p[1] != '6' && p[1] != '7') || p[2] != '$')
        return MQR_ENOTSUP;
    pbkdf2 = p[1] == '7';
    p += 3;
    if (pbkdf2) {
        uint64_t n = 0;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9' && p - digits < 12)
            n = n * 10 + (uint64_t)(*p++ - '0');
        if (p == digits || p == end || *p != '$' || n == 0)
            return MQR_EINVAL;
        if (n > MQR_PASSWD_MAX_ITERATIONS)
            return MQR_ELIMIT;
        iterations = (uint32_t)n;
        p++;
    }
    const char *dollar = memchr(p, '$', (size_t)(end - p));
    if (!dollar || memchr(dollar + 1, '$', (size_t)(end - dollar - 1)))
        return MQR_EINVAL;
    uint8_t salt[PASSWD_SALT_MAX], want[MQR_HASH_MAX_SIZE + 3], got[MQR_HASH_MAX_SIZE];
    size_t salt_len, want_len;
    int rc = passwd_b64(p, (size_t)(dollar - p), salt, sizeof salt, &salt_len);
    if (rc != MQR_OK)
        return rc;
    rc = passwd_b64(dollar + 1, (size_t)(end - dollar - 1), want, sizeof want, &want_len);
    if (rc != MQR_OK || want_len != 64)
        return MQR_EINVAL;
    if (pbkdf2) {
        mqr__pbkdf2_hmac(MQR_HASH_SHA512, password, password_len, salt, salt_len, iterations,
                         got, 64);
    } else {
        mqr__sha512_ctx_t c;
        mqr__sha512_init(&c);
        mqr__sha512_update(&c, password, password_len);
        mqr__sha512_update(&c, salt, salt_len);
        mqr__sha512_final(&c, got);
        wipe(&c, sizeof c);
    }
    int same = mqr_ct_equal(got, want, 64);
    wipe(got, sizeof got);
    return same ? MQR_OK : MQR_NO_MATCH;
}

int mqr_passwd_format7(const char *password, size_t password_len, const uint8_t *salt,
                       size_t salt_len, uint32_t iterations, char *out, size_t cap,
                       size_t *out_len)
{
    char head[16];
    uint8_t hash[64];
    if (iterations == 0 || salt_len == 0 || !salt || !out_len || (!out && cap) ||
        (!password && password_len))
        return MQR_EINVAL;
    if (salt_len > PASSWD_SALT_MAX || iterations > MQR_PASSWD_MAX_ITERATIONS)
        return MQR_ELIMIT;
    int hn = snprintf(head, sizeof head, "$7$%u$", (unsigned)iterations);
    size_t sn = mqr__b64_encoded_len(salt_len, 0), kn = mqr__b64_encoded_len(64, 0);
    *out_len = (size_t)hn + sn + 1 + kn;
    if (cap < *out_len + 1)
        return MQR_EBUFFER;
    mqr__pbkdf2_hmac(MQR_HASH_SHA512, password, password_len, salt, salt_len, iterations, hash,
                     sizeof hash);
    memcpy(out, head, (size_t)hn);
    char *o = out + hn;
    size_t n;
    mqr__b64_encode(salt, salt_len, 0, o, sn + 1, &n);
    o[sn] = '$';
    mqr__b64_encode(hash, sizeof hash, 0, o + sn + 1, kn + 1, &n);
    wipe(hash, sizeof hash);
    return MQR_OK;
}
