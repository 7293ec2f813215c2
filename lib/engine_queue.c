/* SPDX-License-Identifier: MIT */
/*
 * engine_queue.c - durable queues for the engine's actions
 * (mqr_engine_action_persist in mqttrule/queue.h).
 *
 * An action with persistence renders its output as before; instead of
 * handing the result to its target directly, it serialises it into one
 * record of the action's mqr_queue_t (the record's identifier is fixed
 * then), and a pump hands records to the target in sequence order:
 *   HTTP      up to `window` records at once are submitted to the action's
 *             HTTP client, with the identifier in a header (Idempotency-Key
 *             by default). A 2xx or a non-retryable status acknowledges the
 *             record (success or failed); a message the client drops
 *             (expired, queue full) goes back to pending and is sent again;
 *             one ended by the client's destruction stays in the queue (on
 *             disk) for the next start.
 *   republish the host's publisher gets the message with the identifier as
 *             a user property. MQR_OK acknowledges it; MQR_ELIMIT or
 *             MQR_ECONNECT ("the target cannot take it now": an offline or
 *             slow session, the host decides) keep it pending and the pump
 *             pauses with a backoff (100 ms doubling to 5 s); any other
 *             status acknowledges it as failed.
 * The pump runs after each append, after each completion and from
 * mqr_engine_process, which also flushes the queues (the sync policy's
 * batch). Records replayed from disk count as matched when the queue opens,
 * so matched = success + failed + dropped + queuing + inflight still holds.
 * Records the overflow policy drops count as dropped (queue full).
 *
 * Record layouts (little-endian; a string is a u32 length, 0xffffffff for
 * NULL, then its bytes):
 *   HTTP       u8 2, u8 version 1, u8 method, u8 0, u32 header count,
 *              path, (name, value) per header, body.
 *   republish  u8 1, u8 version 1, u8 qos, u8 flags (1 retain, 2 direct
 *              dispatch), u32 user property count, topic, payload,
 *              (key, value) per property, i64 payload format indicator,
 *              i64 message expiry interval, content type, response topic,
 *              correlation data.
 */
#include <string.h>

#include "engine_int.h"
#include "mqttrule/queue.h"

#define REC_REPUBLISH 1
#define REC_HTTP 2
#define REC_VERSION 1
#define NO_STR 0xffffffffu
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PUMP_BATCH 1024 /* republish records per pump call, so a process round stays short */

struct mqr__persist {
    mqr__persist_t *next; /* the engine's persisted actions */
    mqr__action_t *action;
    mqr_queue_t *q;
    char *id_name;
    size_t id_name_len;
    uint32_t window;
    int pumping;          /* a pump is running: nested calls only append */
    int64_t retry_at;     /* republish: no publish before this (monotonic ms) */
    int64_t backoff_ms;
    uint64_t last_dropped; /* the queue's dropped_oldest already accounted */
    /* decoding scratch */
    mqr_http_header_t *hdrs;
    size_t cap_hdrs;
    mqr_user_property_t *ups;
    size_t cap_ups;
    uint8_t *copy;
    size_t cap_copy;
};

/* ---- records ------------------------------------------------------------------------------- */

static void put_u32(mqr__sbuf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    mqr__sbuf_put(b, x, 4);
}

static void put_i64(mqr__sbuf_t *b, int64_t v)
{
    put_u32(b, (uint32_t)(uint64_t)v);
    put_u32(b, (uint32_t)((uint64_t)v >> 32));
}

static void put_str(mqr__sbuf_t *b, const char *s, size_t len)
{
    if (!s) {
        put_u32(b, NO_STR);
        return;
    }
    put_u32(b, (uint32_t)len);
    mqr__sbuf_put(b, s, len);
}

/* A bounds-checked reader over one record. */
typedef struct rd {
    const uint8_t *p;
    size_t left;
    int bad;
} rd_t;

static uint32_t get_u32(rd_t *r)
{
    if (r->left < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return v;
}

static int64_t get_i64(rd_t *r)
{
    uint64_t lo = get_u32(r);
    uint64_t hi = get_u32(r);
    return (int64_t)(lo | hi << 32);
}

static const char *get_str(rd_t *r, size_t *len)
{
    uint32_t n = get_u32(r);
    *len = 0;
    if (r->bad || n == NO_STR)
        return NULL;
    if (n > r->left) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    r->left -= n;
    *len = n;
    return s;
}

/* The 4-byte head of a record into head[] and the count that follows it
 * (headers or user properties, each at least 8 bytes): rd->bad when the
 * record is too short for them. */
static uint32_t get_head(rd_t *rd, uint8_t head[4])
{
    memset(head, 0, 4);
    if (rd->left < 4) {
        rd->bad = 1;
        return 0;
    }
    memcpy(head, rd->p, 4);
    rd->p += 4;
    rd->left -= 4;
    uint32_t n = get_u32(rd);
    if (n > rd->left / 8)
        rd->bad = 1;
    return rd->bad ? 0 : n;
}

/* Room for n entries of `size` bytes in *arr (capacity *cap). */
static int reserve(const mqr_allocator_t *a, void **arr, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return MQR_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < n)
        ncap *= 2;
    void *x = mqr__realloc(a, *arr, *cap * size, ncap * size);
    if (!x)
        return MQR_ENOMEM;
    *arr = x;
    *cap = ncap;
    return MQR_OK;
}

/* ---- appending ------------------------------------------------------------------------------ */

/* Account the records the overflow policy dropped since the last look. */
static void account_drops(mqr__persist_t *p)
{
    mqr_queue_stats_t s;
    mqr_queue_stats(p->q, &s);
    for (; p->last_dropped < s.dropped_oldest; p->last_dropped++)
        mqr__engine_account(p->action, MQR__END_DROPPED, MQR_HTTP_REASON_QUEUE_FULL);
}

/* Append the serialised record in b. Returns MQR__END_PENDING (the pump or
 * the overflow policy ends it) or MQR__END_FAILED (it could not be built). */
static int append(mqr_engine_t *e, mqr__persist_t *p, mqr__sbuf_t *b)
{
    if (mqr__sbuf_status(b) != MQR_OK)
        return MQR__END_FAILED;
    int rc = mqr_queue_append(p->q, b->p, b->len, NULL);
    account_drops(p);
    if (rc == MQR_ELIMIT) {
        mqr__engine_account(p->action, MQR__END_DROPPED, MQR_HTTP_REASON_QUEUE_FULL);
        return MQR__END_PENDING;
    }
    if (rc != MQR_OK)
        return MQR__END_FAILED;
    mqr__engine_queue_pump(e, p);
    return MQR__END_PENDING;
}

int mqr__engine_queue_publish(mqr_engine_t *e, mqr_arena_t *arena, mqr__action_t *a,
                              const mqr_publish_msg_t *m)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, arena);
    uint8_t head[4] = {REC_REPUBLISH, REC_VERSION, (uint8_t)m->qos,
                       (uint8_t)((m->retain ? 1 : 0) | (m->direct_dispatch ? 2 : 0))};
    mqr__sbuf_put(&b, head, 4);
    put_u32(&b, m->user_property_count);
    put_str(&b, m->topic, m->topic_len);
    put_str(&b, m->payload ? m->payload : "", m->payload_len);
    for (uint32_t i = 0; i < m->user_property_count; i++) {
        put_str(&b, m->user_properties[i].key, m->user_properties[i].key_len);
        put_str(&b, m->user_properties[i].value, m->user_properties[i].value_len);
    }
    put_i64(&b, m->payload_format_indicator);
    put_i64(&b, m->message_expiry_interval);
    put_str(&b, m->content_type, m->content_type_len);
    put_str(&b, m->response_topic, m->response_topic_len);
    put_str(&b, m->correlation_data, m->correlation_data_len);
    return append(e, a->persist, &b);
}

int mqr__engine_queue_http(mqr_engine_t *e, mqr_arena_t *arena, mqr__action_t *a,
                           const mqr_http_request_t *req)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, arena);
    uint8_t head[4] = {REC_HTTP, REC_VERSION, (uint8_t)req->method, 0};
    mqr__sbuf_put(&b, head, 4);
    put_u32(&b, req->header_count);
    put_str(&b, req->path, req->path ? (req->path_len ? req->path_len : strlen(req->path)) : 0);
    for (uint32_t i = 0; i < req->header_count; i++) {
        put_str(&b, req->headers[i].name, req->headers[i].name_len);
        put_str(&b, req->headers[i].value, req->headers[i].value_len);
    }
    put_str(&b, req->body, req->body_len);
    return append(e, a->persist, &b);
}

/* ---- the pump ------------------------------------------------------------------------------- */

/* Acknowledge record `seq` and account its end, unless the overflow policy
 * already dropped (and accounted) it. */
static void finish(mqr__persist_t *p, uint64_t seq, int end)
{
    if (mqr_queue_ack(p->q, seq) == MQR_OK)
        mqr__engine_account(p->action, end, 0);
}

/* Submit one HTTP record. MQR_OK (submitted or ended), MQR_ENOMEM (retry
 * later). */
static int pump_http(mqr_engine_t *e, mqr__persist_t *p, const mqr_queue_record_t *r)
{
    rd_t rd = {r->data, r->len, 0};
    uint8_t head[4];
    uint32_t n = get_head(&rd, head);
    if (head[0] != REC_HTTP || head[1] != REC_VERSION || rd.bad) {
        finish(p, r->seq, MQR__END_FAILED);
        return MQR_OK;
    }
    if (reserve(&e->alloc, (void **)&p->hdrs, &p->cap_hdrs, (size_t)n + 1, sizeof *p->hdrs))
        return MQR_ENOMEM;
    mqr_http_request_t req;
    memset(&req, 0, sizeof req);
    req.method = head[2];
    req.path = get_str(&rd, &req.path_len);
    for (uint32_t i = 0; i < n; i++) {
        p->hdrs[i].name = get_str(&rd, &p->hdrs[i].name_len);
        p->hdrs[i].value = get_str(&rd, &p->hdrs[i].value_len);
    }
    size_t body_len;
    const char *body = get_str(&rd, &body_len);
    if (rd.bad) {
        finish(p, r->seq, MQR__END_FAILED);
        return MQR_OK;
    }
    if (p->id_name_len) {
        p->hdrs[n] = (mqr_http_header_t){p->id_name, p->id_name_len, r->id, strlen(r->id)};
        n++;
    }
    req.headers = p->hdrs;
    req.header_count = n;
    req.body = body;
    req.body_len = body_len;
    req.ud = (void *)(uintptr_t)r->seq;
    if (req.path && !req.path_len)
        req.path = NULL;
    int rc = mqr_http_submit(p->action->client, &req, mqr__engine_mono(e), NULL, NULL);
    if (rc == MQR_ENOMEM) {
        mqr_queue_retry(p->q, r->seq);
        return MQR_ENOMEM;
    }
    if (rc != MQR_OK)
        finish(p, r->seq, MQR__END_FAILED); /* refused: the callback does not run */
    return MQR_OK;
}

/* Publish one republish record through the host. MQR_OK to go on,
 * MQR_ELIMIT when the host asks to wait (the record is pending again). */
static int pump_publish(mqr_engine_t *e, mqr__persist_t *p, const mqr_queue_record_t *r)
{
    /* A private copy: the publisher may emit, and a nested append may drop
     * this record from the queue while the message still points into it. */
    if (reserve(&e->alloc, (void **)&p->copy, &p->cap_copy, r->len ? r->len : 1, 1))
        return MQR_ELIMIT;
    if (r->len)
        memcpy(p->copy, r->data, r->len);
    rd_t rd = {p->copy, r->len, 0};
    uint8_t head[4];
    uint32_t n = get_head(&rd, head);
    if (head[0] != REC_REPUBLISH || head[1] != REC_VERSION || rd.bad || head[2] > 2) {
        finish(p, r->seq, MQR__END_FAILED);
        return MQR_OK;
    }
    if (reserve(&e->alloc, (void **)&p->ups, &p->cap_ups, (size_t)n + 1, sizeof *p->ups)) {
        mqr_queue_retry(p->q, r->seq);
        return MQR_ELIMIT;
    }
    mqr_publish_msg_t m;
    memset(&m, 0, sizeof m);
    m.rule_id = p->action->rule->id;
    m.action_id = p->action->id;
    m.qos = head[2];
    m.retain = head[3] & 1;
    m.direct_dispatch = (head[3] >> 1) & 1;
    m.topic = get_str(&rd, &m.topic_len);
    m.payload = get_str(&rd, &m.payload_len);
    for (uint32_t i = 0; i < n; i++) {
        p->ups[i].key = get_str(&rd, &p->ups[i].key_len);
        p->ups[i].value = get_str(&rd, &p->ups[i].value_len);
    }
    m.payload_format_indicator = get_i64(&rd);
    m.message_expiry_interval = get_i64(&rd);
    m.content_type = get_str(&rd, &m.content_type_len);
    m.response_topic = get_str(&rd, &m.response_topic_len);
    m.correlation_data = get_str(&rd, &m.correlation_data_len);
    if (rd.bad || !m.topic) {
        finish(p, r->seq, MQR__END_FAILED);
        return MQR_OK;
    }
    if (p->id_name_len) {
        p->ups[n] = (mqr_user_property_t){p->id_name, p->id_name_len, r->id, strlen(r->id)};
        n++;
    }
    m.user_properties = p->ups;
    m.user_property_count = n;
    int rc = e->opts.publish ? e->opts.publish(e->opts.publish_ud, &m) : MQR_EINVAL;
    if (rc == MQR_ELIMIT || rc == MQR_ECONNECT) {
        mqr_queue_retry(p->q, r->seq);
        return MQR_ELIMIT;
    }
    finish(p, r->seq, rc == MQR_OK ? MQR__END_SUCCESS : MQR__END_FAILED);
    return MQR_OK;
}

void mqr__engine_queue_pump(mqr_engine_t *e, mqr__persist_t *p)
{
    if (p->pumping)
        return;
    p->pumping = 1;
    mqr__action_t *a = p->action;
    mqr_queue_record_t r;
    if (a->kind == MQR_ACTION_HTTP) {
        /* At most `window` submits per call: a record the client ends at
         * once (and that goes back to pending) is not taken again here. */
        for (uint32_t i = 0; i < p->window && mqr_http_pending(a->client) < p->window &&
                             mqr_queue_next(p->q, &r) == MQR_OK;
             i++)
            if (pump_http(e, p, &r) != MQR_OK)
                break;
        mqr__engine_http_sync(e, a); /* the submits may have opened connections */
    } else if (a->kind == MQR_ACTION_REPUBLISH && (int64_t)mqr__engine_mono(e) >= p->retry_at) {
        for (int i = 0; i < PUMP_BATCH && mqr_queue_next(p->q, &r) == MQR_OK; i++) {
            if (pump_publish(e, p, &r) != MQR_OK) {
                p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
                if (p->backoff_ms > BACKOFF_MAX_MS)
                    p->backoff_ms = BACKOFF_MAX_MS;
                p->retry_at = (int64_t)mqr__engine_mono(e) + p->backoff_ms;
                break;
            }
            p->backoff_ms = 0;
        }
    }
    p->pumping = 0;
    e->loop_dirty = 1;
}

/* ---- custom actions (mqttrule/action.h) ------------------------------------------------------ */

/* A custom action keeps its own in-memory queue, retries and batching
 * (engine_custom.c); the durable queue only mirrors it: each item is
 * appended when it is queued and acknowledged when it ends, and at
 * mqr_engine_action_persist the records left by an earlier process become
 * items again. The sink sees the identifier in mqr_action_item_t.id. */
void mqr__engine_queue_custom_append(mqr__action_t *a, const void *data, size_t len,
                                     uint64_t *out_seq, char *out_id)
{
    mqr__persist_t *p = a->persist;
    *out_seq = 0;
    out_id[0] = '\0';
    if (mqr_queue_append(p->q, data, len, out_seq) != MQR_OK)
        return;
    (void)mqr_queue_record_id(p->q, *out_seq, out_id, MQR_QUEUE_ID_MAX);
}

void mqr__engine_queue_custom_end(mqr__action_t *a, uint64_t seq, int keep)
{
    if (a->persist && !keep)
        (void)mqr_queue_ack(a->persist->q, seq);
}

/* Hand the records an earlier process left to the custom action's queue. */
static int replay_custom(mqr_engine_t *e, mqr__persist_t *p)
{
    mqr_queue_record_t r;
    while (mqr_queue_next(p->q, &r) == MQR_OK)
        if (mqr__engine_custom_replay(e, p->action, r.data, r.len, r.seq, r.id) != MQR_OK)
            return MQR_ENOMEM;
    return MQR_OK;
}

/* ---- hooks from engine_actions.c -------------------------------------------------------------- */

void mqr__engine_queue_http_done(mqr__action_t *a, const mqr_http_result_t *r)
{
    mqr__persist_t *p = a->persist;
    uint64_t seq = (uint64_t)(uintptr_t)r->request_ud;
    if (r->outcome == MQR_HTTP_SUCCESS) {
        finish(p, seq, MQR__END_SUCCESS);
    } else if (r->outcome == MQR_HTTP_FAILED) {
        finish(p, seq, MQR__END_FAILED);
    } else if (r->reason == MQR_HTTP_REASON_OTHER) {
        return; /* the client is going away: the record stays for the next start */
    } else {
        mqr_queue_retry(p->q, seq); /* expired or refused by the client: send again */
    }
    mqr__engine_queue_pump(a->engine, p);
}

void mqr__engine_queue_metrics(const mqr__action_t *a, mqr_action_metrics_t *out)
{
    if (a->kind != MQR_ACTION_CUSTOM) /* a custom action counts its own queue */
        out->queuing += mqr_queue_pending(a->persist->q);
}

int64_t mqr__engine_queue_timeout(const mqr_engine_t *e, int64_t best)
{
    int64_t now = (int64_t)mqr__engine_mono(e);
    for (const mqr__persist_t *p = e->persist_first; p; p = p->next) {
        int64_t t = mqr_queue_timeout(p->q);
        if (mqr_queue_pending(p->q) && p->action->kind != MQR_ACTION_CUSTOM) {
            int64_t due = 0;
            if (p->action->kind == MQR_ACTION_HTTP)
                due = mqr_http_pending(p->action->client) < p->window ? 0 : -1;
            else
                due = p->retry_at > now ? p->retry_at - now : 0;
            if (due >= 0 && (t < 0 || due < t))
                t = due;
        }
        if (t >= 0 && (best < 0 || t < best))
            best = t;
    }
    return best;
}

void mqr__engine_queue_process(mqr_engine_t *e)
{
    for (mqr__persist_t *p = e->persist_first; p; p = p->next) {
        mqr__engine_queue_pump(e, p);
        (void)mqr_queue_flush(p->q);
    }
}

void mqr__engine_queue_free(mqr_engine_t *e, mqr__action_t *a)
{
    mqr__persist_t *p = a->persist;
    if (!p)
        return;
    for (mqr__persist_t **pp = &e->persist_first; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    mqr_queue_close(p->q);
    mqr__free(&e->alloc, p->hdrs, p->cap_hdrs * sizeof *p->hdrs);
    mqr__free(&e->alloc, p->ups, p->cap_ups * sizeof *p->ups);
    mqr__free(&e->alloc, p->copy, p->cap_copy);
    if (p->id_name)
        mqr__free(&e->alloc, p->id_name, p->id_name_len + 1);
    mqr__free(&e->alloc, p, sizeof *p);
    a->persist = NULL;
}

/* ---- the API ---------------------------------------------------------------------------------- */

void mqr_action_persist_config_init(mqr_action_persist_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    mqr_queue_options_init(&cfg->queue);
}

/* The engine's monotonic clock for the queue (mqr_queue_clock_fn). */
static int64_t engine_clock(void *ud)
{
    return (int64_t)mqr__engine_mono(ud);
}

int mqr_engine_action_persist(mqr_engine_t *e, uint32_t action_id,
                              const mqr_action_persist_config_t *cfg, mqr_diag_t *diag)
{
    if (!e || !cfg)
        return mqr__diag_set(diag, MQR_EINVAL, "persist: NULL argument");
    if (e->depth)
        return mqr__diag_set(diag, MQR_ESTATE, "persist: actions cannot change during an emit");
    mqr__action_t *a = mqr__engine_action_find(e, action_id);
    if (!a)
        return mqr__diag_set(diag, MQR_ENOTFOUND, "persist: no action %u", action_id);
    if (a->kind != MQR_ACTION_HTTP && a->kind != MQR_ACTION_REPUBLISH &&
        a->kind != MQR_ACTION_CUSTOM)
        return mqr__diag_set(diag, MQR_ENOTSUP,
                             "persist: action %u is a callback action", action_id);
    if (a->persist)
        return mqr__diag_set(diag, MQR_EEXIST, "persist: action %u already has a queue",
                             action_id);
    mqr__persist_t *p = mqr__calloc(&e->alloc, 1, sizeof *p);
    if (!p)
        return mqr__diag_set(diag, MQR_ENOMEM, "persist: out of memory");
    const char *name = cfg->id_name ? cfg->id_name : MQR_PERSIST_DEFAULT_ID_NAME;
    p->id_name_len = strlen(name);
    p->id_name = mqr__strndup(&e->alloc, name, p->id_name_len);
    if (!p->id_name) {
        mqr__free(&e->alloc, p, sizeof *p);
        return mqr__diag_set(diag, MQR_ENOMEM, "persist: out of memory");
    }
    if (a->kind == MQR_ACTION_HTTP && p->id_name_len &&
        mqr_http_header_check(name, p->id_name_len, "x", 1, diag) != MQR_OK) {
        mqr__free(&e->alloc, p->id_name, p->id_name_len + 1);
        mqr__free(&e->alloc, p, sizeof *p);
        return MQR_EINVAL;
    }
    p->action = a;
    p->window = cfg->window ? cfg->window
                            : (a->test_cfg.pool_size ? a->test_cfg.pool_size
                                                     : MQR_HTTP_DEFAULT_POOL_SIZE);
    mqr_queue_options_t qo = cfg->queue;
    qo.alloc = e->alloc;
    qo.clock = engine_clock;
    qo.clock_ud = e;
    int rc = mqr_queue_open(&qo, &p->q, diag);
    if (rc != MQR_OK) {
        mqr__free(&e->alloc, p->id_name, p->id_name_len + 1);
        mqr__free(&e->alloc, p, sizeof *p);
        return rc;
    }
    if (a->kind == MQR_ACTION_CUSTOM && replay_custom(e, p) != MQR_OK) {
        mqr_queue_close(p->q);
        mqr__free(&e->alloc, p->id_name, p->id_name_len + 1);
        mqr__free(&e->alloc, p, sizeof *p);
        return mqr__diag_set(diag, MQR_ENOMEM, "persist: out of memory");
    }
    /* Replayed records were matched by an earlier process: count them here. */
    size_t replayed = mqr_queue_count(p->q);
    a->m.matched += replayed;
    a->rule->m.actions_total += replayed;
    a->persist = p;
    p->next = e->persist_first;
    e->persist_first = p;
    return MQR_OK;
}

int mqr_engine_action_queue_stats(const mqr_engine_t *e, uint32_t action_id,
                                  mqr_queue_stats_t *out)
{
    if (!e || !out)
        return MQR_EINVAL;
    const mqr__action_t *a = mqr__engine_action_find(e, action_id);
    if (!a || !a->persist)
        return MQR_ENOTFOUND;
    return mqr_queue_stats(a->persist->q, out);
}

const char *mqr_engine_action_queue_error(const mqr_engine_t *e, uint32_t action_id)
{
    const mqr__action_t *a = e ? mqr__engine_action_find(e, action_id) : NULL;
    return a && a->persist ? mqr_queue_last_error(a->persist->q) : "";
}
