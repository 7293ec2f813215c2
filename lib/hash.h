/* SPDX-License-Identifier: MIT */
/*
 * hash.h - internal message digests for the rule functions (md5, sha, sha256,
 * hash(alg, s)) and the broker's password file: MD5, SHA-1, SHA-224, SHA-256,
 * SHA-384 and SHA-512 (streaming and one-shot), HMAC over any of them,
 * PBKDF2-HMAC, constant-time comparison, and verification of mosquitto
 * password-file hashes ("$6$" and "$7$").
 *
 * Pure libc code with no state beyond the caller's context structs: every
 * function is safe to call from several threads on different contexts.
 * Contexts live wherever the caller puts them (stack is fine) and need no
 * cleanup; a context may be reused after final() by calling init() again.
 * PBKDF2 and the password functions overwrite their own stack copies of key
 * material before returning; wiping the caller's contexts is the caller's.
 */
#ifndef MQR_HASH_H
#define MQR_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "mqttrule/auth.h"
#include "mqttrule/common.h"

/* Algorithms: MQR_HASH_* of mqttrule/auth.h. ORDER: alg_table in hash.c follows them. */

#define MQR_HASH_MAX_BLOCK 128 /* largest block (SHA-384/512) in bytes */

/* ---- per-algorithm state ------------------------------------------------------ */

typedef struct mqr__md5_ctx {
    uint32_t h[4];
    uint64_t len; /* bytes hashed */
    uint8_t buf[64];
} mqr__md5_ctx_t;

typedef struct mqr__sha1_ctx {
    uint32_t h[5];
    uint64_t len;
    uint8_t buf[64];
} mqr__sha1_ctx_t;

typedef struct mqr__sha256_ctx { /* also SHA-224 */
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
} mqr__sha256_ctx_t;

typedef struct mqr__sha512_ctx { /* also SHA-384; messages below 2^64 bytes */
    uint64_t h[8];
    uint64_t len;
    uint8_t buf[128];
} mqr__sha512_ctx_t;

void mqr__md5_init(mqr__md5_ctx_t *c);
void mqr__md5_update(mqr__md5_ctx_t *c, const void *data, size_t len);
void mqr__md5_final(mqr__md5_ctx_t *c, uint8_t out[16]);

void mqr__sha1_init(mqr__sha1_ctx_t *c);
void mqr__sha1_update(mqr__sha1_ctx_t *c, const void *data, size_t len);
void mqr__sha1_final(mqr__sha1_ctx_t *c, uint8_t out[20]);

void mqr__sha224_init(mqr__sha256_ctx_t *c);
void mqr__sha256_init(mqr__sha256_ctx_t *c);
void mqr__sha256_update(mqr__sha256_ctx_t *c, const void *data, size_t len);
void mqr__sha224_final(mqr__sha256_ctx_t *c, uint8_t out[28]);
void mqr__sha256_final(mqr__sha256_ctx_t *c, uint8_t out[32]);

void mqr__sha384_init(mqr__sha512_ctx_t *c);
void mqr__sha512_init(mqr__sha512_ctx_t *c);
void mqr__sha512_update(mqr__sha512_ctx_t *c, const void *data, size_t len);
void mqr__sha384_final(mqr__sha512_ctx_t *c, uint8_t out[48]);
void mqr__sha512_final(mqr__sha512_ctx_t *c, uint8_t out[64]);

/* ---- any algorithm ------------------------------------------------------------------ */

typedef struct mqr__hash_ctx {
    int alg; /* MQR_HASH_* */
    union {
        mqr__md5_ctx_t md5;
        mqr__sha1_ctx_t sha1;
        mqr__sha256_ctx_t sha256;
        mqr__sha512_ctx_t sha512;
    } u;
} mqr__hash_ctx_t;

/* Block size in bytes of `alg` (64 or 128), or 0 for an unknown algorithm. */
size_t mqr__hash_block_size(int alg);

/* The algorithm named `name` (EMQX's hash/2 names: "md5", "sha" or "sha1",
 * "sha224", "sha256", "sha384", "sha512"; ASCII case-insensitive). MQR_OK,
 * MQR_ENOTSUP for names EMQX knows that this build lacks ("md4", "sha3_256",
 * "blake2b", ...: any other alphanumeric name), MQR_EINVAL for len 0. */
int mqr__hash_by_name(const char *name, size_t len, int *out_alg);

/* Start a digest. MQR_OK or MQR_EINVAL for an unknown `alg`. */
int mqr__hash_init(mqr__hash_ctx_t *c, int alg);
void mqr__hash_update(mqr__hash_ctx_t *c, const void *data, size_t len);
/* Write mqr__hash_size(c->alg) bytes to `out`. */
void mqr__hash_final(mqr__hash_ctx_t *c, uint8_t *out);
/* One shot: digest of data[0..len) into `out` (mqr__hash_size(alg) bytes).
 * MQR_OK or MQR_EINVAL for an unknown `alg`. */
int mqr__hash(int alg, const void *data, size_t len, uint8_t *out);

/* ---- HMAC (RFC 2104) ------------------------------------------------------------------ */

typedef struct mqr__hmac_ctx {
    mqr__hash_ctx_t inner;
    mqr__hash_ctx_t outer;
} mqr__hmac_ctx_t;

/* Start an HMAC with `key` (any length; longer than a block is hashed first).
 * MQR_OK or MQR_EINVAL for an unknown `alg`. */
int mqr__hmac_init(mqr__hmac_ctx_t *c, int alg, const void *key, size_t key_len);
void mqr__hmac_update(mqr__hmac_ctx_t *c, const void *data, size_t len);
/* Write mqr__hash_size(alg) bytes to `out`. */
void mqr__hmac_final(mqr__hmac_ctx_t *c, uint8_t *out);

/* ---- PBKDF2 (RFC 8018 §5.2) -------------------------------------------------------------- */

/* Derive `out_len` bytes from password and salt with `iterations` rounds of
 * HMAC-`alg`. MQR_OK; MQR_EINVAL for an unknown `alg`, iterations 0, or
 * out_len 0. */
int mqr__pbkdf2_hmac(int alg, const void *password, size_t password_len, const void *salt,
                     size_t salt_len, uint32_t iterations, uint8_t *out, size_t out_len);

/* ---- comparison and password files ------------------------------------------------------ */
/* Public: mqr_ct_equal, mqr_passwd_verify, mqr_passwd_format7 and mqr_hmac
 * (mqttrule/auth.h) are defined in hash.c. */

/* ---- the other digests of EMQX's hash(alg, s) (hash_more.c) --------------------------- */

/* Largest digest mqr__hash_more writes (SHA3-512, BLAKE2b). */
#define MQR_HASH_MORE_MAX_SIZE 64

/* One-shot digest of data[0..dlen) with the algorithm named `name` (ASCII
 * case-insensitive): "md4", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
 * "blake2b" (BLAKE2b-512), "blake2s" (BLAKE2s-256), as Erlang's crypto:hash/2.
 * Writes the digest to `out` (MQR_HASH_MORE_MAX_SIZE bytes of room) and its
 * size to *out_len. MQR_OK, or MQR_ENOTSUP for any other name. */
int mqr__hash_more(const char *name, size_t len, const void *data, size_t dlen, uint8_t *out,
                   size_t *out_len);

#endif /* MQR_HASH_H */
