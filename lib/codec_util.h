/* SPDX-License-Identifier: MIT */
/*
 * codec_util.h - internal text codecs for the rule functions and the broker:
 * base64 (standard and URL-safe, with or without padding), hex, UTF-8
 * validation, decoding, encoding and counting, locale-free simple Unicode case
 * mapping and the Unicode White_Space test.
 *
 * Every function is pure: it reads the caller's input, writes the caller's
 * buffer and keeps no state, so all are safe to call from several threads.
 *
 * Output convention for the encoders and mappers (size query, then fill):
 * the function always stores in *out_len the number of bytes the full result
 * takes (text results: not counting a terminating NUL). When `cap` is too
 * small it returns MQR_EBUFFER and the contents of `out` are unspecified;
 * `out` may be NULL when `cap` is 0, which makes the call a size query. Text
 * encoders (base64, hex) also write a terminating NUL, so they need
 * *out_len + 1 bytes of `cap`.
 */
#ifndef MQR_CODEC_UTIL_H
#define MQR_CODEC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mqttrule/common.h"

/* ---- base64 ------------------------------------------------------------- */

/* Flags for the base64 functions; combine with |. */
#define MQR_B64_URLSAFE 0x1u    /* alphabet '-' '_' (RFC 4648 §5) instead of '+' '/' */
#define MQR_B64_NO_PADDING 0x2u /* encode: no '='; decode: padding optional */
#define MQR_B64_SKIP_SPACE 0x4u /* decode: ignore ASCII whitespace (space, \t \n \v \f \r);
                                   EMQX's base64_decode (Erlang base64:decode) does */

/* Length of the base64 text for `len` input bytes (no NUL). */
size_t mqr__b64_encoded_len(size_t len, unsigned flags);

/* Encode `len` bytes of `in` (NULL allowed when len is 0). Returns MQR_OK or
 * MQR_EBUFFER (cap < *out_len + 1); see the output convention above. */
int mqr__b64_encode(const uint8_t *in, size_t len, unsigned flags, char *out, size_t cap,
                    size_t *out_len);

/* Decode base64 text. Strict: a character outside the chosen alphabet, a
 * misplaced or excess '=', a length that leaves 1 dangling character and a
 * missing padding (unless MQR_B64_NO_PADDING) are rejected with MQR_EINVAL, and *out_err (if not NULL) gets
 * the byte offset of the offending character (or `len` for a truncated
 * input). Unused low bits of the last character are ignored, as Erlang's
 * base64 does. `out` needs at most len / 4 * 3 + 2 bytes; MQR_EBUFFER as
 * above. */
int mqr__b64_decode(const char *in, size_t len, unsigned flags, uint8_t *out, size_t cap,
                    size_t *out_len, size_t *out_err);

/* ---- hex ------------------------------------------------------------------ */

/* Encode bytes as hex, upper-case digits if `upper` is non-zero (EMQX's
 * bin2hexstr is upper-case, its hash functions lower-case). MQR_OK or
 * MQR_EBUFFER; *out_len = 2 * len. */
int mqr__hex_encode(const uint8_t *in, size_t len, int upper, char *out, size_t cap,
                    size_t *out_len);

/* The value 0..15 of hex digit c (either case), or -1 when c is not one. */
static inline int mqr__hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex digits of either case. An odd count gets a leading '0', as
 * EMQX's hexstr2bin does ("6364f" -> 06 36 4F). A non-hex character gives
 * MQR_EINVAL with its offset in *out_err. *out_len = (len + 1) / 2. */
int mqr__hex_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    size_t *out_err);

/* ---- UTF-8 ----------------------------------------------------------------- */

#define MQR_UTF8_ALLOW_NUL 0x1u /* validate: accept U+0000 (MQTT forbids it) */
#define MQR_UNICODE_MAX 0x10FFFFu

/* Check that `s` is well-formed UTF-8: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence, and no
 * U+0000 unless MQR_UTF8_ALLOW_NUL. MQR_OK, or MQR_EUTF8 with the offset of the
 * first byte of the bad sequence in *out_err (may be NULL). */
int mqr__utf8_validate(const uint8_t *s, size_t len, unsigned flags, size_t *out_err);

/* Decode the code point at the start of `s`. Returns the number of bytes it
 * takes (1..4) and stores it in *out_cp; returns 0 (and *out_cp untouched)
 * when len is 0 or the sequence is ill-formed as defined above. U+0000 is
 * decoded (length 1). */
size_t mqr__utf8_decode(const uint8_t *s, size_t len, uint32_t *out_cp);

/* Encode `cp` into out[0..3]. Returns 1..4, or 0 for a surrogate or a value
 * above U+10FFFF. */
size_t mqr__utf8_encode(uint32_t cp, uint8_t out[4]);

/* Count the code points of well-formed UTF-8 (U+0000 allowed). MQR_OK or
 * MQR_EUTF8 with the offset in *out_err (may be NULL). */
int mqr__utf8_count(const uint8_t *s, size_t len, size_t *out_count, size_t *out_err);

/* ---- Unicode properties ------------------------------------------------------ */

/* Simple (one-to-one) Unicode case mapping from a built-in table; no locale.
 * Covered: Basic Latin, Latin-1, Latin Extended-A/B, IPA, Greek and Coptic,
 * Cyrillic and its Supplement, Latin Extended Additional, Greek Extended,
 * the Ohm/Kelvin/Angstrom signs, Latin Extended-C and full-width Latin.
 * Code points without a mapping are returned unchanged. */
uint32_t mqr__unicode_upper(uint32_t cp);
uint32_t mqr__unicode_lower(uint32_t cp);

/* Non-zero if `cp` has the Unicode Pattern_White_Space property (UAX #31):
 * the set Erlang's string:trim/1 strips by default, so trim() strips what
 * EMQX strips (no NO-BREAK SPACE, no U+2000..U+200A, no U+3000). */
int mqr__unicode_is_space(uint32_t cp);

/* Map each code point of UTF-8 `s` to upper case (`upper` non-zero) or lower
 * case. The result can be longer or shorter than the input (U+0250 -> U+2C6F
 * grows, U+0131 -> 'I' shrinks). MQR_OK, MQR_EBUFFER (see the output
 * convention; no NUL is written), or MQR_EUTF8 with the offset in *out_err. */
int mqr__utf8_case_map(const uint8_t *s, size_t len, int upper, uint8_t *out, size_t cap,
                       size_t *out_len, size_t *out_err);

#endif /* MQR_CODEC_UTIL_H */
