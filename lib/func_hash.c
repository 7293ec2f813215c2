/* SPDX-License-Identifier: MIT */
/*
 * func_hash.c - digests and binary-to-text encodings (spec §7.9 md5, sha,
 * sha256, hash, base64_encode/decode; §7.5 bin2hexstr, hexstr2bin,
 * sqlserver_bin2hexstr) over lib/hash.h and lib/codec_util.h.
 *
 * Digests are lower-case hex (EMQX), bin2hexstr upper-case hex. Outputs are
 * sized exactly and written straight into the arena.
 */
#include <string.h>

#include "codec_util.h"
#include "func_util.h"
#include "hash.h"

/* ---- digests ------------------------------------------------------------------------ */

/* Lower-case hex of md[0..size) as the result. */
static int hex_result(mqr__fctx_t *cx, const uint8_t *md, size_t size, mqr_value_t *out)
{
    size_t n;
    char *p = mqr_arena_alloc(cx->arena, 2 * size + 1);
    if (!p)
        return mqr__func_oom(cx);
    mqr__hex_encode(md, size, 0, p, 2 * size + 1, &n);
    mqr_value_set_string(out, p, n);
    return MQR_OK;
}

/* Lower-case hex digest of args[i] (a string) with `alg`. */
static int digest(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t i, int alg,
                  mqr_value_t *out)
{
    const char *s;
    size_t len;
    uint8_t md[MQR_HASH_MAX_SIZE];
    int rc = mqr__func_arg_str(cx, args, i, &s, &len);
    if (rc)
        return rc;
    mqr__hash(alg, s, len, md);
    return hex_result(cx, md, mqr_hash_size(alg), out);
}

int mqr__func_sql_md5(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    return digest(cx, args, 0, MQR_HASH_MD5, out);
}

int mqr__func_sql_sha(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc, mqr_value_t *out)
{
    return digest(cx, args, 0, MQR_HASH_SHA1, out);
}

int mqr__func_sql_sha256(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                         mqr_value_t *out)
{
    return digest(cx, args, 0, MQR_HASH_SHA256, out);
}

/* hash(alg, s), EMQX's emqx_rule_funcs:hash/2 over crypto:hash/2: md4, md5,
 * sha/sha1, sha224, sha256, sha384, sha512, sha3_224 ... sha3_512, blake2b,
 * blake2s; lower-case hex. As emqx_variform_bif:hash/2: the name is an
 * existing atom, so only lower case ('SHA256' is an error), and a boolean
 * (an atom) is hashed as its name. Any other name is an evaluation error. */
int mqr__func_sql_hash(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                       mqr_value_t *out)
{
    const char *name, *s;
    size_t len, slen, size;
    int alg;
    uint8_t md[MQR_HASH_MORE_MAX_SIZE];
    (void)argc;
    int rc = mqr__func_arg_str(cx, args, 0, &name, &len);
    if (!rc)
        rc = mqr__func_arg_text(cx, args, 1, &s, &slen);
    if (rc)
        return rc;
    int upper = 0;
    for (size_t i = 0; i < len; i++)
        upper |= name[i] >= 'A' && name[i] <= 'Z';
    if (!upper && mqr__hash_by_name(name, len, &alg) == MQR_OK) {
        mqr__hash(alg, s, slen, md);
        return hex_result(cx, md, mqr_hash_size(alg), out);
    }
    if (upper || mqr__hash_more(name, len, s, slen, md, &size) != MQR_OK)
        return mqr__func_error(cx, "unsupported hash algorithm '%.*s'%s",
                               (int)(len > 32 ? 32 : len), name,
                               upper ? " (algorithm names are lower case)" : "");
    return hex_result(cx, md, size, out);
}

/* ---- hex -------------------------------------------------------------------------- */

/* prefix + upper-case hex of s. */
static int to_hex(mqr__fctx_t *cx, const char *prefix, size_t plen, const char *s, size_t len,
                  mqr_value_t *out)
{
    if (len > (UINT32_MAX - plen) / 2)
        return mqr__func_error(cx, "string result too long");
    size_t n, total = plen + 2 * len;
    char *p = mqr_arena_alloc(cx->arena, total + 1);
    if (!p)
        return mqr__func_oom(cx);
    memcpy(p, prefix, plen);
    mqr__hex_encode((const uint8_t *)s, len, 1, p + plen, 2 * len + 1, &n);
    mqr_value_set_string(out, p, total);
    return MQR_OK;
}

/* bin2hexstr(bin[, prefix]): upper-case hex, after the optional prefix. */
int mqr__func_sql_bin2hexstr(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                             mqr_value_t *out)
{
    const char *s, *prefix = "";
    size_t len, plen = 0;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (!rc && argc == 2)
        rc = mqr__func_arg_str(cx, args, 1, &prefix, &plen);
    return rc ? rc : to_hex(cx, prefix, plen, s, len, out);
}

/* sqlserver_bin2hexstr(bin): "0x" followed by upper-case hex. */
int mqr__func_sql_sqlserver_bin2hexstr(mqr__fctx_t *cx, const mqr_value_t *args,
                                       uint32_t argc, mqr_value_t *out)
{
    const char *s;
    size_t len;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    return rc ? rc : to_hex(cx, "0x", 2, s, len, out);
}

/* hexstr2bin(str[, prefix]): decode hex digits of either case (an odd count
 * gets a leading 0); with a prefix, str must start with it and the rest is
 * decoded. */
int mqr__func_sql_hexstr2bin(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                             mqr_value_t *out)
{
    const char *s, *prefix;
    size_t len, plen, n, err;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (!rc && argc == 2 && !(rc = mqr__func_arg_str(cx, args, 1, &prefix, &plen))) {
        if (plen > len || memcmp(s, prefix, plen) != 0)
            return mqr__func_error(cx, "the string does not start with the prefix \"%.*s\"",
                                   (int)(plen > 32 ? 32 : plen), prefix);
        s += plen;
        len -= plen;
    }
    if (rc)
        return rc;
    size_t cap = (len + 1) / 2;
    uint8_t *p = mqr_arena_alloc(cx->arena, cap ? cap : 1);
    if (!p)
        return mqr__func_oom(cx);
    if (mqr__hex_decode(s, len, p, cap, &n, &err) != MQR_OK)
        return mqr__func_error(cx, "invalid hex digit at byte %zu",
                               err + (argc == 2 ? plen : 0));
    mqr_value_set_string(out, (const char *)p, n);
    return MQR_OK;
}

/* ---- base64 ------------------------------------------------------------------------- */

/* Options args[1..argc): 'urlsafe' and 'no_padding'; others are ignored. */
static unsigned b64_flags(const mqr_value_t *args, uint32_t argc)
{
    unsigned flags = 0;
    for (uint32_t i = 1; i < argc; i++) {
        if (mqr__func_str_is(&args[i], "urlsafe"))
            flags |= MQR_B64_URLSAFE;
        else if (mqr__func_str_is(&args[i], "no_padding"))
            flags |= MQR_B64_NO_PADDING;
    }
    return flags;
}

int mqr__func_sql_base64_encode(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                mqr_value_t *out)
{
    const char *s;
    size_t len, n;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    unsigned flags = b64_flags(args, argc);
    size_t need = mqr__b64_encoded_len(len, flags);
    if (need > UINT32_MAX)
        return mqr__func_error(cx, "string result too long");
    char *p = mqr_arena_alloc(cx->arena, need + 1);
    if (!p)
        return mqr__func_oom(cx);
    mqr__b64_encode((const uint8_t *)s, len, flags, p, need + 1, &n);
    mqr_value_set_string(out, p, n);
    return MQR_OK;
}

int mqr__func_sql_base64_decode(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                                mqr_value_t *out)
{
    const char *s;
    size_t len, n, err;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    size_t cap = len / 4 * 3 + 2;
    uint8_t *p = mqr_arena_alloc(cx->arena, cap);
    if (!p)
        return mqr__func_oom(cx);
    if (mqr__b64_decode(s, len, b64_flags(args, argc), p, cap, &n, &err) != MQR_OK)
        return mqr__func_error(cx, "invalid base64 at byte %zu", err);
    mqr_value_set_string(out, (const char *)p, n);
    return MQR_OK;
}
