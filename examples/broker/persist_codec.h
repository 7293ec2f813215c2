/* SPDX-License-Identifier: MIT */
/*
 * persist_codec.h - the byte encoding persist.c (the snapshot broker.db) and
 * journal.c (the journal broker.journal) share: little-endian integers, a
 * string as a u32 length (0xffffffff: none) and its bytes, a message as
 * w_msg writes it. Writers append to a growing buffer; readers take from a
 * bounded one and set `bad` instead of reading past its end, so a reader
 * never needs to check each step: it checks `bad` once at the end.
 */
#ifndef MQR_BROKER_PERSIST_CODEC_H
#define MQR_BROKER_PERSIST_CODEC_H

#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

#define NO_STR 0xffffffffu

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf_t;

static inline void w_put(wbuf_t *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        b->p = brk_xrealloc(b->p, nc);
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void w_u8(wbuf_t *b, uint8_t v)
{
    w_put(b, &v, 1);
}

static inline void w_u16(wbuf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_put(b, x, 2);
}

static inline void w_u32(wbuf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_put(b, x, 4);
}

static inline void w_i64(wbuf_t *b, int64_t v)
{
    w_u32(b, (uint32_t)(uint64_t)v);
    w_u32(b, (uint32_t)((uint64_t)v >> 32));
}

static inline void w_str(wbuf_t *b, const void *s, size_t len)
{
    if (!s) {
        w_u32(b, NO_STR);
        return;
    }
    w_u32(b, (uint32_t)len);
    w_put(b, s, len);
}

static inline void w_msg(wbuf_t *b, const brk_msg_t *m)
{
    w_u8(b, m->qos);
    w_u8(b, m->retain);
    w_u8(b, m->has_expiry);
    w_u8(b, 0);
    w_u32(b, m->expiry_s);
    w_i64(b, m->received_at);
    w_str(b, m->topic, m->topic_len);
    w_str(b, m->payload, m->payload_len);
    w_str(b, m->props, m->props_len);
    w_str(b, m->from_clientid, m->from_cid_len);
    w_str(b, m->from_username, m->from_user_len);
    w_put(b, m->id, 32);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t left;
    int bad;
} rbuf_t;

static inline const uint8_t *r_take(rbuf_t *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static inline uint8_t r_u8(rbuf_t *r)
{
    const uint8_t *p = r_take(r, 1);
    return p ? p[0] : 0;
}

static inline uint16_t r_u16(rbuf_t *r)
{
    const uint8_t *p = r_take(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static inline uint32_t r_u32(rbuf_t *r)
{
    const uint8_t *p = r_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                   (uint32_t)p[3] << 24
             : 0;
}

static inline int64_t r_i64(rbuf_t *r)
{
    uint64_t lo = r_u32(r), hi = r_u32(r);
    return (int64_t)(lo | hi << 32);
}

static inline const char *r_str(rbuf_t *r, size_t *len)
{
    uint32_t n = r_u32(r);
    *len = 0;
    if (r->bad || n == NO_STR)
        return NULL;
    const uint8_t *p = r_take(r, n);
    *len = p ? n : 0;
    return (const char *)p;
}

/* A message as w_msg wrote it, with one reference; NULL when bad. */
static inline brk_msg_t *r_msg(broker_t *b, rbuf_t *r)
{
    uint8_t qos = r_u8(r), retain = r_u8(r), has_expiry = r_u8(r);
    (void)r_u8(r);
    uint32_t expiry = r_u32(r);
    int64_t received_at = r_i64(r);
    size_t tl, pl, xl, cl, ul;
    const char *topic = r_str(r, &tl);
    const char *payload = r_str(r, &pl);
    const char *props = r_str(r, &xl);
    const char *cid = r_str(r, &cl);
    const char *user = r_str(r, &ul);
    const uint8_t *id = r_take(r, 32);
    if (r->bad || !topic || qos > 2 || tl > 65535 || cl > 65535 || ul > 65535) {
        r->bad = 1;
        return NULL;
    }
    char ubuf[65536];
    if (user) {
        memcpy(ubuf, user, ul);
        ubuf[ul] = 0;
    }
    mqr_props_t pr = {(const uint8_t *)props, (uint32_t)xl, 1};
    brk_msg_t *m = mq_msg_new(b, topic, tl, payload, pl, qos, retain, xl ? &pr : NULL,
                              cid ? cid : "", cl, user ? ubuf : NULL);
    if (!m) {
        r->bad = 1;
        return NULL;
    }
    m->received_at = received_at;
    m->has_expiry = has_expiry;
    m->expiry_s = expiry;
    memcpy(m->id, id, 32);
    m->id[32] = 0;
    return m;
}


/* A subscription: filter, u8 qos, no_local, rap, 0, u16 share_len, u32 sub_id. */
static inline void w_sub(wbuf_t *b, const brk_sub_t *u)
{
    w_str(b, u->filter, u->len);
    w_u8(b, u->qos);
    w_u8(b, u->no_local);
    w_u8(b, u->rap);
    w_u8(b, 0);
    w_u16(b, u->share_len);
    w_u32(b, u->sub_id);
}

/* A subscription as w_sub wrote it into *u (u->filter points into the
 * input, not terminated; u->len is its length). 0, or -1 (r->bad set)
 * when it is cut short or its filter is not valid. */
static inline int r_sub(rbuf_t *r, brk_sub_t *u)
{
    size_t fl;
    memset(u, 0, sizeof *u);
    u->filter = (char *)r_str(r, &fl);
    u->qos = r_u8(r);
    u->no_local = r_u8(r);
    u->rap = r_u8(r);
    (void)r_u8(r);
    u->share_len = r_u16(r);
    u->sub_id = r_u32(r);
    u->len = (uint16_t)fl;
    if (r->bad || u->filter == NULL || fl > 65535 || u->share_len > fl || u->qos > 2 ||
        mqr_topic_validate_filter(u->filter + u->share_len, fl - u->share_len, NULL) != MQR_OK)
        r->bad = 1;
    return r->bad ? -1 : 0;
}

#endif
