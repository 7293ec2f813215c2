/* SPDX-License-Identifier: MIT */
/*
 * session.c - sessions: a hash table keyed by client id; sessions outlive
 * connections when their expiry allows.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- sessions ------------------------------------------------------------------- */

static size_t hash_id(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The session of client id `id`, or NULL. */
brk_session_t *mq_sess_find(broker_t *b, const char *id, size_t len)
{
    if (b->stab_size == 0)
        return NULL;
    brk_session_t *s = b->stab[hash_id(id, len) % b->stab_size];
    for (; s != NULL; s = s->hnext)
        if (s->clientid_len == len && memcmp(s->clientid, id, len) == 0)
            return s;
    return NULL;
}

/* Double the session hash table (rehashing every chain). 0 or -1. */
static int stab_grow(broker_t *b)
{
    size_t n = b->stab_size ? b->stab_size * 2 : 1024;
    brk_session_t **t = calloc(n, sizeof *t);
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < b->stab_size; i++) {
        brk_session_t *s = b->stab[i];
        while (s != NULL) {
            brk_session_t *nx = s->hnext;
            size_t h = hash_id(s->clientid, s->clientid_len) % n;
            s->hnext = t[h];
            t[h] = s;
            s = nx;
        }
    }
    free(b->stab);
    b->stab = t;
    b->stab_size = n;
    return 0;
}

/* A new empty session for `id` in the table, or NULL when out of memory. */
brk_session_t *mq_sess_create(broker_t *b, const char *id, size_t len)
{
    if (b->nsessions + 1 > b->stab_size && stab_grow(b) != 0)
        return NULL;
    brk_session_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->clientid = malloc(len + 1);
    if (s->clientid == NULL) {
        free(s);
        return NULL;
    }
    memcpy(s->clientid, id, len);
    s->clientid[len] = 0;
    s->clientid_len = (uint16_t)len;
    s->next_pid = 1;
    size_t h = hash_id(id, len) % b->stab_size;
    s->hnext = b->stab[h];
    b->stab[h] = s;
    b->nsessions++;
    return s;
}

/* Drop everything a session holds but keep it in the table. */
void mq_sess_clear(broker_t *b, brk_session_t *s)
{
    for (uint32_t i = 0; i < s->nsubs; i++) {
        brk_sub_t *sub = &s->subs[i];
        (void)mqr_topic_index_remove(b->subs, sub->filter + sub->share_len,
                                     sub->len - sub->share_len, s);
        free(sub->filter);
    }
    for (uint32_t i = 0; i < s->ninfl; i++)
        brk_msg_unref(s->infl[i].msg);
    for (uint32_t i = 0; i < s->nqueue; i++)
        brk_msg_unref(s->queue[i].msg);
    s->queue_bytes = 0;
    free(s->subs);
    free(s->infl);
    free(s->queue);
    free(s->rx2);
    s->subs = NULL;
    s->infl = NULL;
    s->queue = NULL;
    s->rx2 = NULL;
    s->nsubs = s->capsubs = s->ninfl = s->capinfl = s->nqueue = s->capqueue = 0;
    s->nrx2 = s->caprx2 = 0;
}


/* Remove a session. A will still delayed is published now: the session's
 * end ends the delay (MQTT 5 3.1.3.2.2). */
void mq_sess_destroy(broker_t *b, brk_session_t *s)
{
    if (s->will != NULL) {
        brk_msg_t *w = s->will;
        s->will = NULL;
        mq_publish_msg(b, NULL, w, NULL, 0);
        brk_msg_unref(w);
    }
    brk_jr_sess_end(b, s);
    brk_session_t **pp = &b->stab[hash_id(s->clientid, s->clientid_len) % b->stab_size];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    b->nsessions--;
    mq_sess_clear(b, s);
    free(s->username);
    free(s->clientid);
    free(s);
}

/* Grow a session array so it holds one more element. 0 or -1. */
int mq_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}
