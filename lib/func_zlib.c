/* SPDX-License-Identifier: MIT */
/*
 * func_zlib.c - the compression functions of spec §7.9, built only when the
 * build has zlib (MQR_WITH_ZLIB; decision D9 calls them "not supported"
 * otherwise): zip/unzip (raw deflate), gzip/gunzip (gzip framing),
 * zip_compress/zip_uncompress (zlib framing), each as Erlang's zlib module
 * computes it for EMQX (zlib:zip, zlib:gzip, zlib:compress: default level,
 * 32 KiB window, memLevel 8), so the bytes are the same.
 *
 * zlib's own state and every output buffer come from the evaluation's arena
 * (zfree is a no-op: the arena is reset after the evaluation), so the rule's
 * memory bound holds for a decompression bomb too: when the arena refuses,
 * the call is an out-of-memory evaluation error.
 */
#include <string.h>
#include <zlib.h>

#include "func_util.h"

/* zlib framing by window bits: raw deflate, zlib, gzip. */
#define WB_RAW (-MAX_WBITS)
#define WB_ZLIB MAX_WBITS
#define WB_GZIP (16 + MAX_WBITS)

static voidpf arena_zalloc(voidpf ud, uInt items, uInt size)
{
    if (size != 0 && items > (uInt)-1 / size)
        return Z_NULL;
    void *p = mqr_arena_alloc(ud, (size_t)items * size);
    return p ? p : Z_NULL;
}

static void arena_zfree(voidpf ud, voidpf p)
{
    (void)ud;
    (void)p;
}

static void stream_init(mqr__fctx_t *cx, z_stream *z, const char *s, size_t len)
{
    memset(z, 0, sizeof *z);
    z->zalloc = arena_zalloc;
    z->zfree = arena_zfree;
    z->opaque = cx->arena;
    z->next_in = (Bytef *)(uintptr_t)s;
    z->avail_in = (uInt)len;
}

/* Deflate args[0] with framing `wbits`: one pass into deflateBound bytes. */
static int compress_arg(mqr__fctx_t *cx, const mqr_value_t *args, int wbits, mqr_value_t *out)
{
    const char *s;
    size_t len;
    z_stream z;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    if (len > UINT32_MAX / 2)
        return mqr__func_error(cx, "input too long to compress");
    stream_init(cx, &z, s, len);
    int zr = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    if (zr == Z_MEM_ERROR)
        return mqr__func_oom(cx);
    if (zr != Z_OK)
        return mqr__func_error(cx, "zlib: %s", z.msg ? z.msg : "cannot start deflate");
    uLong cap = deflateBound(&z, (uLong)len);
    Bytef *buf = mqr_arena_alloc(cx->arena, cap ? cap : 1);
    if (!buf)
        return mqr__func_oom(cx);
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    zr = deflate(&z, Z_FINISH);
    if (zr != Z_STREAM_END)
        return zr == Z_MEM_ERROR || zr == Z_BUF_ERROR ? mqr__func_oom(cx)
                                                      : mqr__func_error(cx, "zlib: deflate failed");
    mqr_value_set_string(out, (const char *)buf, (size_t)z.total_out);
    return MQR_OK;
}

/* Inflate args[0] with framing `wbits`, doubling the output buffer (in the
 * arena) as it fills. Data past the end of the stream is ignored, as
 * Erlang's zlib:unzip/gunzip/uncompress do with a single stream. */
static int uncompress_arg(mqr__fctx_t *cx, const mqr_value_t *args, int wbits,
                          mqr_value_t *out)
{
    const char *s;
    size_t len;
    z_stream z;
    int rc = mqr__func_arg_str(cx, args, 0, &s, &len);
    if (rc)
        return rc;
    if (len > UINT32_MAX / 2)
        return mqr__func_error(cx, "input too long to uncompress");
    stream_init(cx, &z, s, len);
    int zr = inflateInit2(&z, wbits);
    if (zr == Z_MEM_ERROR)
        return mqr__func_oom(cx);
    if (zr != Z_OK)
        return mqr__func_error(cx, "zlib: %s", z.msg ? z.msg : "cannot start inflate");
    size_t cap = len < 64 ? 256 : 4 * len, used = 0;
    Bytef *buf = mqr_arena_alloc(cx->arena, cap);
    if (!buf)
        return mqr__func_oom(cx);
    for (;;) {
        z.next_out = buf + used;
        z.avail_out = (uInt)(cap - used);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_MEM_ERROR)
            return mqr__func_oom(cx);
        if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR)
            return mqr__func_error(cx, "invalid compressed data: %s",
                                   z.msg ? z.msg : "bad stream");
        if (z.avail_in == 0 && z.avail_out != 0)
            return mqr__func_error(cx, "truncated compressed data");
        if (z.avail_out == 0) { /* full: a buffer twice the size */
            if (cap > UINT32_MAX / 2)
                return mqr__func_error(cx, "uncompressed data too long");
            Bytef *nb = mqr_arena_alloc(cx->arena, 2 * cap);
            if (!nb)
                return mqr__func_oom(cx);
            memcpy(nb, buf, used);
            buf = nb;
            cap *= 2;
        }
    }
    mqr_value_set_string(out, (const char *)buf, used);
    return MQR_OK;
}

/* The six SQL functions: one of the two bodies with a framing each. */
#define ZLIB_FUNC(name, body, wbits)                                                        \
    int mqr__func_sql_##name(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,       \
                             mqr_value_t *out)                                              \
    {                                                                                       \
        (void)argc;                                                                         \
        return body(cx, args, wbits, out);                                                  \
    }

ZLIB_FUNC(zip, compress_arg, WB_RAW)
ZLIB_FUNC(unzip, uncompress_arg, WB_RAW)
ZLIB_FUNC(gzip, compress_arg, WB_GZIP)
ZLIB_FUNC(gunzip, uncompress_arg, WB_GZIP)
ZLIB_FUNC(zip_compress, compress_arg, WB_ZLIB)
ZLIB_FUNC(zip_uncompress, uncompress_arg, WB_ZLIB)
