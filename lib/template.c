/* SPDX-License-Identifier: MIT */
/*
 * template.c - `${...}` action templates (spec §8): compile once into a
 * compact form, render many times.
 *
 * How it works. Compiling scans the text the way EMQX's placeholder regular
 * expression does: at each "${" it reads the longest run of [A-Za-z0-9._];
 * when a '}' follows, that is a placeholder, otherwise the '$' is literal
 * text and scanning resumes at the next byte. The scan runs twice: once to
 * count segments, keys and bytes, then, after a single allocation sized by
 * the first pass, to fill them in. The compiled form is one block:
 *
 *   mqr_template_t | seg_t segs[nseg] | tkey_t keys[nkey] | char pool[]
 *
 * A segment is a literal run (adjacent literal text, including the '$' of
 * ${$}, is merged into one run in the pool), the whole output (${.}), or a
 * path whose keys are slices of the pool. Nothing in it changes after
 * compile, so renders need no lock.
 *
 * Rendering appends each segment to an mqr__sbuf_t: literal runs are copied,
 * ${.} goes through the JSON writer, a path is looked up and its value goes
 * through mqr__value_to_text(). A path that meets a string JSON-decodes it
 * into a scratch arena; a one-entry cache keeps the last decoded string so
 * ${payload.a}${payload.b} decodes the payload once per render.
 */
#include <string.h>

#include "mqttrule/json.h"
#include "template_int.h"

#define SEG_TEXT 0u
#define SEG_WHOLE 1u
#define SEG_PATH 2u

typedef struct seg {
    uint32_t kind; /* SEG_* */
    uint32_t off;  /* TEXT: pool offset; PATH: index of the first key */
    uint32_t len;  /* TEXT: bytes; PATH: number of keys */
} seg_t;

typedef struct tkey {
    uint32_t off; /* pool offset */
    uint32_t len;
} tkey_t;

struct mqr_template {
    mqr_allocator_t alloc;
    size_t size; /* bytes of the whole block */
    uint32_t nseg;
    uint32_t nkey;
    uint32_t placeholders;
    uint32_t pool_len;
    seg_t *segs;
    tkey_t *keys;
    char *pool;
};

/* ---- scanning ------------------------------------------------------------------ */

/* The two passes share the scanner; `fill` is 0 while counting. */
typedef struct build {
    int fill;
    uint32_t nseg, nkey, pool_len, placeholders;
    int last_text; /* the last segment is a literal run that can grow */
    mqr_template_t *t;
} build_t;

static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_';
}

static void pool_put(build_t *bd, const char *s, size_t n)
{
    if (bd->fill)
        memcpy(bd->t->pool + bd->pool_len, s, n);
    bd->pool_len += (uint32_t)n;
}

/* Literal text: extends the previous literal run or starts one. Literal bytes
 * and keys interleave in the pool, so a run only grows while nothing else has
 * been written after it (last_text). */
static void emit_text(build_t *bd, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (!bd->last_text) {
        if (bd->fill)
            bd->t->segs[bd->nseg] = (seg_t){SEG_TEXT, bd->pool_len, 0};
        bd->nseg++;
        bd->last_text = 1;
    }
    if (bd->fill)
        bd->t->segs[bd->nseg - 1].len += (uint32_t)n;
    pool_put(bd, s, n);
}

/* A placeholder with name[0..n) (only name characters). One leading dot is
 * dropped; an empty rest means the whole output; otherwise the rest splits at
 * every '.' into keys (empty keys stay and simply never match). */
static void emit_placeholder(build_t *bd, const char *name, size_t n)
{
    if (n > 0 && name[0] == '.') {
        name++;
        n--;
    }
    bd->placeholders++;
    bd->last_text = 0;
    if (n == 0) {
        if (bd->fill)
            bd->t->segs[bd->nseg] = (seg_t){SEG_WHOLE, 0, 0};
        bd->nseg++;
        return;
    }
    uint32_t first = bd->nkey, count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && name[i] != '.')
            continue;
        if (bd->fill)
            bd->t->keys[bd->nkey] = (tkey_t){bd->pool_len, (uint32_t)(i - start)};
        pool_put(bd, name + start, i - start);
        bd->nkey++;
        count++;
        start = i + 1;
    }
    if (bd->fill)
        bd->t->segs[bd->nseg] = (seg_t){SEG_PATH, first, count};
    bd->nseg++;
}

/* One pass over the text, with the regular-expression semantics described at
 * the top of the file. */
static void scan(build_t *bd, const char *text, size_t len)
{
    size_t lit = 0, i = 0;
    while (i < len) {
        const char *d = memchr(text + i, '$', len - i);
        if (!d)
            break;
        i = (size_t)(d - text);
        if (i + 1 < len && text[i + 1] == '{') {
            if (i + 3 < len && text[i + 2] == '$' && text[i + 3] == '}') {
                emit_text(bd, text + lit, i - lit + 1); /* up to and with the '$' */
                i += 4;
                lit = i;
                continue;
            }
            size_t j = i + 2;
            while (j < len && is_name_char((unsigned char)text[j]))
                j++;
            if (j < len && text[j] == '}') {
                emit_text(bd, text + lit, i - lit);
                emit_placeholder(bd, text + i + 2, j - i - 2);
                i = j + 1;
                lit = i;
                continue;
            }
        }
        i++;
    }
    emit_text(bd, text + lit, len - lit);
}

/* ---- compiling ------------------------------------------------------------------ */

int mqr_template_compile(const char *text, size_t len, const mqr_allocator_t *alloc,
                         mqr_template_t **out_tpl, mqr_diag_t *diag)
{
    if (out_tpl)
        *out_tpl = NULL;
    if (!out_tpl || (!text && len > 0))
        return mqr__diag_set(diag, MQR_EINVAL, "template: NULL argument");
    if (len > MQR_TEMPLATE_MAX_LEN)
        return mqr__diag_set(diag, MQR_ELIMIT, "template: %zu bytes exceed the limit of %u",
                             len, (unsigned)MQR_TEMPLATE_MAX_LEN);

    build_t bd = {0};
    scan(&bd, text ? text : "", len);

    size_t size = sizeof(mqr_template_t) + (size_t)bd.nseg * sizeof(seg_t) +
                  (size_t)bd.nkey * sizeof(tkey_t) + bd.pool_len;
    mqr_template_t *t = mqr__alloc(alloc, size);
    if (!t)
        return mqr__diag_set(diag, MQR_ENOMEM, "template: out of memory (%zu bytes)", size);
    memset(t, 0, sizeof *t);
    if (alloc)
        t->alloc = *alloc;
    t->size = size;
    t->segs = (seg_t *)(t + 1);
    t->keys = (tkey_t *)(t->segs + bd.nseg);
    t->pool = (char *)(t->keys + bd.nkey);

    build_t fill = {.fill = 1, .t = t};
    scan(&fill, text ? text : "", len);
    t->nseg = fill.nseg;
    t->nkey = fill.nkey;
    t->pool_len = fill.pool_len;
    t->placeholders = fill.placeholders;
    *out_tpl = t;
    return MQR_OK;
}

void mqr_template_free(mqr_template_t *tpl)
{
    if (!tpl)
        return;
    mqr_allocator_t a = tpl->alloc;
    mqr__free(&a, tpl, tpl->size);
}

uint32_t mqr_template_placeholder_count(const mqr_template_t *tpl)
{
    return tpl ? tpl->placeholders : 0;
}

int mqr_template_is_single_placeholder(const mqr_template_t *tpl)
{
    return tpl && tpl->nseg == 1 && tpl->segs[0].kind != SEG_TEXT;
}

/* ---- lookup ------------------------------------------------------------------- */

/* Per-render state: the scratch arena (created on first need when the caller
 * gave none) and the one-entry decode cache. */
typedef struct render {
    const mqr_template_t *t;
    mqr_arena_t *arena;
    int own_arena;
    int status;             /* MQR_OK or MQR_ENOMEM from decoding */
    const char *cached_s;   /* the last string decoded ... */
    uint32_t cached_len;
    int cached_ok;          /* ... whether it was JSON ... */
    mqr_value_t cached;     /* ... and what it decoded to */
} render_t;

/* The JSON value of string *s, or NULL when it is not JSON (or memory ran
 * out, which is recorded in r->status). */
static const mqr_value_t *decode_string(render_t *r, const mqr_value_t *s)
{
    if (r->cached_s == s->u.s && r->cached_len == s->len && r->cached_s)
        return r->cached_ok ? &r->cached : NULL;
    if (!r->arena) {
        int rc = mqr_arena_create(&r->t->alloc, 0, &r->arena);
        if (rc != MQR_OK) {
            r->status = rc;
            return NULL;
        }
        r->own_arena = 1;
    }
    int rc = mqr_json_parse(r->arena, s->u.s, s->len, 0, &r->cached, NULL);
    if (rc == MQR_ENOMEM) {
        r->status = rc;
        return NULL;
    }
    r->cached_s = s->u.s;
    r->cached_len = s->len;
    r->cached_ok = rc == MQR_OK;
    return r->cached_ok ? &r->cached : NULL;
}

/* The value at path segment sg below root, or NULL when missing (§8: objects
 * are descended, a string is JSON-decoded once and descended, anything else
 * is missing). */
static const mqr_value_t *lookup_path(render_t *r, const seg_t *sg, const mqr_value_t *root)
{
    const mqr_value_t *cur = root;
    for (uint32_t i = 0; i < sg->len; i++) {
        if (!cur)
            return NULL;
        if (cur->type == MQR_VAL_STRING) {
            cur = decode_string(r, cur);
            if (!cur)
                return NULL;
        }
        if (cur->type != MQR_VAL_OBJECT)
            return NULL;
        const tkey_t *k = &r->t->keys[sg->off + i];
        cur = mqr_value_object_get(cur, r->t->pool + k->off, k->len);
    }
    return cur;
}

static void render_end(render_t *r)
{
    if (r->own_arena)
        mqr_arena_destroy(r->arena);
}

/* ---- rendering ------------------------------------------------------------------ */

int mqr__template_render_sbuf(const mqr_template_t *tpl, const mqr_value_t *output,
                              uint32_t flags, mqr_arena_t *arena, mqr__sbuf_t *b)
{
    static const mqr_value_t undef = {.type = MQR_VAL_UNDEFINED};
    const mqr_value_t *root = output ? output : &undef;
    uint32_t jflags = (flags & MQR_TEMPLATE_UNDEFINED_AS_NULL) ? MQR__JSONF_UNDEFINED_AS_NULL : 0;
    render_t r = {.t = tpl, .arena = arena};

    for (uint32_t i = 0; i < tpl->nseg && r.status == MQR_OK; i++) {
        const seg_t *sg = &tpl->segs[i];
        switch (sg->kind) {
        case SEG_TEXT:
            mqr__sbuf_put(b, tpl->pool + sg->off, sg->len);
            break;
        case SEG_WHOLE:
            mqr__json_write(b, root, jflags);
            break;
        default: {
            const mqr_value_t *v = lookup_path(&r, sg, root);
            mqr__value_to_text(b, v ? v : &undef);
            break;
        }
        }
    }
    render_end(&r);
    return r.status != MQR_OK ? r.status : mqr__sbuf_status(b);
}

int mqr_template_render(const mqr_template_t *tpl, const mqr_value_t *output, uint32_t flags,
                        char *buf, size_t cap, size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (!tpl || !out_len || (!buf && cap > 0))
        return MQR_EINVAL;
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, cap);
    int rc = mqr__template_render_sbuf(tpl, output, flags, NULL, &b);
    size_t need = mqr__sbuf_needed(&b);
    if (rc != MQR_OK && rc != MQR_EBUFFER)
        return rc;
    *out_len = need;
    if (need < cap)
        buf[need] = '\0';
    return need > cap ? MQR_EBUFFER : MQR_OK;
}

int mqr_template_lookup(const mqr_template_t *tpl, const mqr_value_t *output,
                        mqr_arena_t *arena, mqr_value_t *out_value)
{
    if (!tpl || !arena || !out_value || !mqr_template_is_single_placeholder(tpl))
        return MQR_EINVAL;
    mqr_value_set_undefined(out_value);
    if (!output)
        return MQR_OK;
    if (tpl->segs[0].kind == SEG_WHOLE) {
        *out_value = *output;
        return MQR_OK;
    }
    render_t r = {.t = tpl, .arena = arena};
    const mqr_value_t *v = lookup_path(&r, &tpl->segs[0], output);
    if (r.status != MQR_OK)
        return r.status;
    if (v)
        *out_value = *v; /* copied: v may point at r.cached in this frame */
    return MQR_OK;
}
