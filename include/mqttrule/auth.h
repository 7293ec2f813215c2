/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/auth.h - what a broker needs to check its clients' secrets with
 * the library's own libc-only digests: mosquitto password-file hashes
 * ("$6$" SHA-512 and "$7$" PBKDF2-HMAC-SHA512), HMAC over the SHA-2 family
 * (and MD5, SHA-1 for old peers), and constant-time comparison.
 *
 * They are public because the library already carries these digests for the
 * rule functions (md5(), sha256(), hash()); a host copying them would
 * duplicate code that is tested here (docs/security.md says more). None of
 * them keeps state: every function is safe to call from several threads at
 * once. Secrets copied to the stack are wiped before returning; wiping the
 * caller's buffers is the caller's.
 */
#ifndef MQTTRULE_AUTH_H
#define MQTTRULE_AUTH_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* Digest algorithms (mqr_hmac, mqr_hash_size). ORDER: the library's table. */
#define MQR_HASH_MD5 0
#define MQR_HASH_SHA1 1
#define MQR_HASH_SHA224 2
#define MQR_HASH_SHA256 3
#define MQR_HASH_SHA384 4
#define MQR_HASH_SHA512 5
#define MQR_HASH_COUNT 6

#define MQR_HASH_MAX_SIZE 64   /* largest digest (SHA-512) in bytes */

/* Largest iteration count mqr_passwd_verify accepts for "$7$" lines; a line
 * asking for more is refused (MQR_ELIMIT) so that a hostile password file
 * cannot stall the host. mosquitto_passwd writes 101. */
#define MQR_PASSWD_MAX_ITERATIONS 1000000u

/* ---- functions ---------------------------------------------------------------- */

/** Digest size in bytes of `alg` (MQR_HASH_*), or 0 for an unknown one.
 *  Thread-safe. */
MQR_API size_t mqr_hash_size(int alg);

/**
 * HMAC (RFC 2104) of data[0..len) with key[0..key_len) under `alg`
 * (MQR_HASH_SHA256 and MQR_HASH_SHA512 for new protocols): writes
 * mqr_hash_size(alg) bytes to `out`. NULL key or data is allowed with length
 * 0. Returns MQR_OK, or MQR_EINVAL (unknown alg, NULL out, NULL key or data
 * with a non-zero length). Thread-safe.
 */
MQR_API int mqr_hmac(int alg, const void *key, size_t key_len, const void *data, size_t len,
                     uint8_t *out);

/** 1 if a[0..len) equals b[0..len), else 0, in time that depends only on len
 *  (for comparing MACs and tokens). len 0 gives 1. Thread-safe. */
MQR_API int mqr_ct_equal(const void *a, const void *b, size_t len);

/**
 * Check `password` against the hash part of a mosquitto password-file line
 * (everything after "username:", without the line end):
 *   $6$<base64 salt>$<base64 hash>               hash = SHA-512(password || salt)
 *   $7$<iterations>$<base64 salt>$<base64 hash>  hash = PBKDF2-HMAC-SHA512
 *                                                (password, salt, iterations, 64)
 * Salts and hashes are standard base64 with padding; the hash must decode to
 * 64 bytes. The final comparison is constant-time.
 * Returns MQR_OK when the password matches, MQR_NO_MATCH when it does not,
 * MQR_EINVAL for a malformed hash part (or NULL with a non-zero length),
 * MQR_ENOTSUP for another scheme ("$argon2id$..." of mosquitto 2.1, plain
 * text), MQR_ELIMIT for an iteration count above MQR_PASSWD_MAX_ITERATIONS or
 * a salt above 1024 bytes. Thread-safe.
 */
MQR_API int mqr_passwd_verify(const char *hash_part, size_t hash_len, const char *password,
                              size_t password_len);

/**
 * Write the "$7$<iterations>$<salt>$<hash>" hash part for `password` with the
 * caller's random `salt` (mosquitto uses 12 bytes) into out[0..cap),
 * NUL-terminated; *out_len gets the text length. Returns MQR_OK, MQR_EBUFFER
 * (cap below *out_len + 1), MQR_EINVAL (iterations 0, salt_len 0, NULL
 * argument), MQR_ELIMIT (as for mqr_passwd_verify). Thread-safe.
 */
MQR_API int mqr_passwd_format7(const char *password, size_t password_len, const uint8_t *salt,
                               size_t salt_len, uint32_t iterations, char *out, size_t cap,
                               size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_AUTH_H */
