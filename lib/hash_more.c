/* SPDX-License-Identifier: MIT */
/*
 * hash_more.c - the digests EMQX's hash(alg, s) accepts beyond MD5 and the
 * SHA-1/SHA-2 family of hash.c: MD4 (RFC 1320), SHA3-224/256/384/512
 * (FIPS 202, Keccak-f[1600]) and BLAKE2b-512 / BLAKE2s-256 (RFC 7693, no
 * key), as Erlang's crypto:hash/2 computes them.
 *
 * One-shot only: the rule functions hash a whole string at once, and nothing
 * else in the library uses these algorithms (HMAC and PBKDF2 stay on hash.c's
 * streaming contexts). Pure libc, state on the stack: reentrant.
 */
#include <string.h>

#include "hash.h"

static uint32_t rol32(uint32_t x, unsigned n) { return x << n | x >> (32 - n); }
static uint32_t ror32(uint32_t x, unsigned n) { return x >> n | x << (32 - n); }
static uint64_t rol64(uint64_t x, unsigned n) { return n ? x << n | x >> (64 - n) : x; }
static uint64_t ror64(uint64_t x, unsigned n) { return x >> n | x << (64 - n); }

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static void store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- MD4 (RFC 1320) ------------------------------------------------------------------ */

static void md4_block(uint32_t h[4], const uint8_t *blk)
{
    uint32_t x[16], a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 16; i++)
        x[i] = load_le32(blk + 4 * i);
    static const unsigned s1[4] = {3, 7, 11, 19}, s2[4] = {3, 5, 9, 13}, s3[4] = {3, 9, 11, 15};
    static const uint8_t o3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    for (int i = 0; i < 16; i++) { /* round 1: F = (b & c) | (~b & d) */
        uint32_t t = rol32(a + ((b & c) | (~b & d)) + x[i], s1[i & 3]);
        a = d, d = c, c = b, b = t;
    }
    for (int i = 0; i < 16; i++) { /* round 2: G = majority, words in column order */
        int k = (i & 3) * 4 + (i >> 2);
        uint32_t t = rol32(a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999u, s2[i & 3]);
        a = d, d = c, c = b, b = t;
    }
    for (int i = 0; i < 16; i++) { /* round 3: H = parity, words in bit-reversed order */
        uint32_t t = rol32(a + (b ^ c ^ d) + x[o3[i]] + 0x6ED9EBA1u, s3[i & 3]);
        a = d, d = c, c = b, b = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

static void md4(const uint8_t *data, size_t len, uint8_t out[16])
{
    uint32_t h[4] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u};
    uint8_t blk[64];
    size_t off = 0;
    for (; len - off >= 64; off += 64)
        md4_block(h, data + off);
    size_t rest = len - off;
    memset(blk, 0, sizeof blk);
    memcpy(blk, data + off, rest);
    blk[rest] = 0x80;
    if (rest >= 56) {
        md4_block(h, blk);
        memset(blk, 0, sizeof blk);
    }
    store_le64(blk + 56, (uint64_t)len * 8);
    md4_block(h, blk);
    for (int i = 0; i < 4; i++)
        store_le32(out + 4 * i, h[i]);
}

/* ---- SHA-3 (FIPS 202) ------------------------------------------------------------------ */

static void keccak_f1600(uint64_t s[25])
{
    static const uint64_t rc[24] = {
        0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808Aull,
        0x8000000080008000ull, 0x000000000000808Bull, 0x0000000080000001ull,
        0x8000000080008081ull, 0x8000000000008009ull, 0x000000000000008Aull,
        0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000Aull,
        0x000000008000808Bull, 0x800000000000008Bull, 0x8000000000008089ull,
        0x8000000000008003ull, 0x8000000000008002ull, 0x8000000000000080ull,
        0x000000000000800Aull, 0x800000008000000Aull, 0x8000000080008081ull,
        0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull};
    static const unsigned rot[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                                     25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14};
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], b[25];
        for (int x = 0; x < 5; x++) /* theta */
            c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ rol64(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                s[y + x] ^= d;
        }
        for (int x = 0; x < 5; x++) /* rho and pi: B[y][2x+3y] = rot(A[x][y]) */
            for (int y = 0; y < 5; y++)
                b[((2 * x + 3 * y) % 5) * 5 + y] = rol64(s[y * 5 + x], rot[y * 5 + x]);
        for (int y = 0; y < 25; y += 5) /* chi */
            for (int x = 0; x < 5; x++)
                s[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
        s[0] ^= rc[round]; /* iota */
    }
}

/* SHA3 with a digest of `size` bytes (rate 200 - 2 * size). */
static void sha3(const uint8_t *data, size_t len, size_t size, uint8_t *out)
{
    uint64_t s[25];
    uint8_t blk[144];
    size_t rate = 200 - 2 * size, off = 0;
    memset(s, 0, sizeof s);
    for (; len - off >= rate; off += rate) {
        for (size_t i = 0; i < rate / 8; i++)
            s[i] ^= load_le64(data + off + 8 * i);
        keccak_f1600(s);
    }
    memset(blk, 0, sizeof blk);
    memcpy(blk, data + off, len - off);
    blk[len - off] ^= 0x06; /* SHA-3 domain bits and the first padding bit */
    blk[rate - 1] ^= 0x80;
    for (size_t i = 0; i < rate / 8; i++)
        s[i] ^= load_le64(blk + 8 * i);
    keccak_f1600(s);
    for (size_t i = 0; i < size; i++)
        out[i] = (uint8_t)(s[i / 8] >> (8 * (i % 8)));
}

/* ---- BLAKE2 (RFC 7693) ----------------------------------------------------------------- */

static const uint8_t blake2_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static const uint64_t blake2b_iv[8] = {
    0x6A09E667F3BCC908ull, 0xBB67AE8584CAA73Bull, 0x3C6EF372FE94F82Bull, 0xA54FF53A5F1D36F1ull,
    0x510E527FADE682D1ull, 0x9B05688C2B3E6C1Full, 0x1F83D9ABFB41BD6Bull, 0x5BE0CD19137E2179ull};

static const uint32_t blake2s_iv[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                       0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

#define B2B_G(a, b, c, d, x, y)                                                             \
    do {                                                                                    \
        v[a] += v[b] + (x), v[d] = ror64(v[d] ^ v[a], 32);                                  \
        v[c] += v[d], v[b] = ror64(v[b] ^ v[c], 24);                                        \
        v[a] += v[b] + (y), v[d] = ror64(v[d] ^ v[a], 16);                                  \
        v[c] += v[d], v[b] = ror64(v[b] ^ v[c], 63);                                        \
    } while (0)

static void blake2b_block(uint64_t h[8], const uint8_t *blk, uint64_t t, int last)
{
    uint64_t v[16], m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load_le64(blk + 8 * i);
    for (int i = 0; i < 8; i++)
        v[i] = h[i], v[i + 8] = blake2b_iv[i];
    v[12] ^= t; /* messages below 2^64 bytes: the counter's high word stays 0 */
    if (last)
        v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = blake2_sigma[r];
        B2B_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2B_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2B_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2B_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2B_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2B_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2B_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2B_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

#define B2S_G(a, b, c, d, x, y)                                                             \
    do {                                                                                    \
        v[a] += v[b] + (x), v[d] = ror32(v[d] ^ v[a], 16);                                  \
        v[c] += v[d], v[b] = ror32(v[b] ^ v[c], 12);                                        \
        v[a] += v[b] + (y), v[d] = ror32(v[d] ^ v[a], 8);                                   \
        v[c] += v[d], v[b] = ror32(v[b] ^ v[c], 7);                                         \
    } while (0)

static void blake2s_block(uint32_t h[8], const uint8_t *blk, uint64_t t, int last)
{
    uint32_t v[16], m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load_le32(blk + 4 * i);
    for (int i = 0; i < 8; i++)
        v[i] = h[i], v[i + 8] = blake2s_iv[i];
    v[12] ^= (uint32_t)t;
    v[13] ^= (uint32_t)(t >> 32);
    if (last)
        v[14] = ~v[14];
    for (int r = 0; r < 10; r++) {
        const uint8_t *s = blake2_sigma[r];
        B2S_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2S_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2S_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2S_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2S_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2S_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2S_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2S_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* BLAKE2b-512 or (wide 0) BLAKE2s-256 of data, unkeyed: every full block but
 * the last goes through the compression with the byte count so far; the last
 * (possibly empty, zero-padded) block is flagged final. */
static void blake2(const uint8_t *data, size_t len, int wide, uint8_t *out)
{
    size_t bs = wide ? 128 : 64, off = 0;
    uint8_t blk[128];
    uint64_t hb[8];
    uint32_t hs[8];
    for (int i = 0; i < 8; i++)
        hb[i] = blake2b_iv[i], hs[i] = blake2s_iv[i];
    hb[0] ^= 0x01010000u ^ 64u; /* parameter block: depth 1, fanout 1, digest 64 */
    hs[0] ^= 0x01010000u ^ 32u;
    for (; len - off > bs; off += bs) {
        if (wide)
            blake2b_block(hb, data + off, off + bs, 0);
        else
            blake2s_block(hs, data + off, off + bs, 0);
    }
    memset(blk, 0, sizeof blk);
    memcpy(blk, data + off, len - off);
    if (wide) {
        blake2b_block(hb, blk, len, 1);
        for (int i = 0; i < 8; i++)
            store_le64(out + 8 * i, hb[i]);
    } else {
        blake2s_block(hs, blk, len, 1);
        for (int i = 0; i < 8; i++)
            store_le32(out + 4 * i, hs[i]);
    }
}

/* ---- by name ------------------------------------------------------------------------- */

int mqr__hash_more(const char *name, size_t len, const void *data, size_t dlen, uint8_t *out,
                   size_t *out_len)
{
    static const struct {
        const char *name;
        uint8_t kind, size;
    } algs[] = {{"md4", 0, 16},      {"sha3_224", 1, 28}, {"sha3_256", 1, 32},
                {"sha3_384", 1, 48}, {"sha3_512", 1, 64}, {"blake2b", 2, 64},
                {"blake2s", 3, 32}};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        size_t n = strlen(algs[i].name);
        if (n != len)
            continue;
        size_t j = 0;
        while (j < n && ((name[j] >= 'A' && name[j] <= 'Z') ? name[j] | 0x20 : name[j]) ==
                            algs[i].name[j])
            j++;
        if (j != n)
            continue;
        const uint8_t *d = dlen ? data : (const uint8_t *)"";
        switch (algs[i].kind) {
        case 0: md4(d, dlen, out); break;
        case 1: sha3(d, dlen, algs[i].size, out); break;
        default: blake2(d, dlen, algs[i].kind == 2, out); break;
        }
        *out_len = algs[i].size;
        return MQR_OK;
    }
    return MQR_ENOTSUP;
}
