/* SPDX-License-Identifier: MIT */
/*
 * engine_custom.c - custom actions (mqttrule/action.h): the queue, retries,
 * TTL, attempt timeouts and batching the engine keeps for a sink written
 * outside the library, with the same accounting as the HTTP action.
 *
 * How it works. When a rule fires, the sink's render (or the JSON writer)
 * turns the output into bytes in the emit's arena; they are copied into one
 * heap block with the message's bookkeeping (an item) and appended to the
 * action's queue, which is ordered by expiry time so that TTL expiry is a
 * look at its head. pump() moves up to batch_size items from the head to the
 * in-flight list and hands them to ops->submit in one call, while fewer than
 * max_inflight are in flight and no backoff pause or "busy" answer holds it
 * back; it waits batch_time_ms for a batch to fill. The sink ends each item
 * with mqr_engine_action_done (found by its ticket, searching the in-flight
 * list from its oldest end, where in-order completions are). A failed
 * attempt puts the item back in the queue and pauses submitting for the
 * backoff (doubling from backoff_initial_ms to backoff_max_ms, reset by a
 * success), unless its attempts or its TTL are used up. The timers (attempt
 * timeouts, TTL, backoff end, batch wait, the sink's wakeup) run from
 * mqr_engine_process; mqr__engine_custom_due gives the earliest of them to
 * the host loop.
 *
 * Accounting: matched and actions.total are counted by the caller
 * (mqr__engine_action_run); each item then ends exactly once through
 * mqr__engine_account as success, failed or dropped (queue full, expired,
 * other). Items still held are the live queuing and inflight metrics.
 */
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

typedef struct item {
    struct item *prev, *next;
    uint64_t ticket;
    uint64_t queued_at;       /* when it (re)entered the queue (monotonic) */
    uint64_t expire_at;       /* the end of its TTL */
    uint64_t attempt_end;     /* in flight: when the attempt times out */
    int64_t fired_at;         /* wall clock */
    uint32_t attempts;
    uint32_t reserved_;
    uint64_t seq;             /* its record in the durable queue (engine_queue.c); 0: none */
    char id[MQR_QUEUE_ID_MAX]; /* that record's identifier */
    size_t len;
    size_t out_len;           /* the output as JSON after data (fallback actions), 0: none */
    char data[];              /* len bytes and a NUL, then out_len bytes and a NUL */
} item_t;

typedef struct list {
    item_t *head, *tail;
    uint64_t n;
} list_t;

struct mqr__custom {
    mqr_action_ops_t ops;
    void *ud;
    char *type;
    size_t type_len;
    uint32_t max_count, max_inflight, ttl_ms, request_timeout_ms;
    uint32_t backoff_initial_ms, backoff_max_ms, max_attempts, batch_size, batch_time_ms;
    uint64_t max_bytes;
    list_t queue;             /* ordered by expire_at */
    list_t flight;            /* in submit order */
    uint64_t held_bytes;
    uint64_t resume_at;       /* no submit before this time (backoff, busy) */
    uint32_t backoff_ms;      /* the next pause */
    uint32_t busy;            /* the sink answered MQR_EAGAIN */
    uint32_t pumping;         /* inside ops->submit */
    uint32_t kick;            /* mqr_engine_action_ready: submit at the next process */
    uint64_t wakeup_at;       /* UINT64_MAX: none */
    mqr_action_item_t *views; /* batch_size */
};

/* ---- lists ------------------------------------------------------------------------------------ */

static void list_unlink(list_t *l, item_t *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        l->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        l->tail = it->prev;
    it->prev = it->next = NULL;
    l->n--;
}

static void list_append(list_t *l, item_t *it)
{
    it->next = NULL;
    it->prev = l->tail;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
}

/* Insert into the queue by expire_at: new items go at the tail (their TTL is
 * the longest), retried ones are older and found from the head. */
static void queue_insert(list_t *q, item_t *it)
{
    if (!q->tail || q->tail->expire_at <= it->expire_at) {
        list_append(q, it);
        return;
    }
    item_t *at = q->head;
    while (at->expire_at <= it->expire_at)
        at = at->next;
    it->next = at;
    it->prev = at->prev;
    if (at->prev)
        at->prev->next = it;
    else
        q->head = it;
    at->prev = it;
    q->n++;
}

/* ---- endings ---------------------------------------------------------------------------------- */

static void item_free(mqr_engine_t *e, mqr__custom_t *cu, item_t *it)
{
    cu->held_bytes -= it->len;
    mqr__free(&e->alloc, it, sizeof *it + it->len + 1 + (it->out_len ? it->out_len + 1 : 0));
}

/* End an item that is in neither list. */
static void end_item(mqr_engine_t *e, mqr__action_t *a, item_t *it, int end, int32_t reason)
{
    if (it->seq) /* released from the durable queue, unless the action is going away */
        mqr__engine_queue_custom_end(a, it->seq,
                                     end == MQR__END_DROPPED && reason == MQR_HTTP_REASON_OTHER);
    mqr__engine_account(a, end, reason);
    if (it->attempts > 1) {
        a->m.retried_success += end == MQR__END_SUCCESS;
        a->m.retried_failed += end == MQR__END_FAILED;
    }
    if (end != MQR__END_SUCCESS && it->out_len)
        mqr__engine_fallback(e, NULL, a, NULL, it->data + it->len + 1, it->out_len);
    item_free(e, a->cu, it);
}

/* An attempt of in-flight item `it` failed: queue it again after the
 * backoff, or end it when not retryable, out of attempts or past its TTL. */
static void attempt_failed(mqr_engine_t *e, mqr__action_t *a, item_t *it, uint64_t now,
                           int retryable, int32_t status, const char *msg)
{
    mqr__custom_t *cu = a->cu;
    list_unlink(&cu->flight, it);
    if (!retryable) {
        mqr__engine_error(e, NULL, a, status, NULL, "%s: %s", cu->type, msg);
        end_item(e, a, it, MQR__END_FAILED, 0);
    } else if (cu->max_attempts && it->attempts >= cu->max_attempts) {
        mqr__engine_error(e, NULL, a, status, NULL, "%s: failed after %u attempt(s): %s",
                          cu->type, it->attempts, msg);
        end_item(e, a, it, MQR__END_FAILED, 0);
    } else if (now >= it->expire_at) {
        mqr__engine_error(e, NULL, a, status, NULL, "%s: dropped (expired) after %u attempt(s): %s",
                          cu->type, it->attempts, msg);
        end_item(e, a, it, MQR__END_DROPPED, MQR_HTTP_REASON_EXPIRED);
    } else {
        mqr__engine_error(e, NULL, a, status, NULL, "%s: attempt %u failed, retrying: %s",
                          cu->type, it->attempts, msg);
        it->queued_at = now;
        queue_insert(&cu->queue, it);
        cu->resume_at = now + cu->backoff_ms;
        cu->backoff_ms = cu->backoff_ms * 2 > cu->backoff_max_ms ? cu->backoff_max_ms
                                                                 : cu->backoff_ms * 2;
    }
}

/* The in-flight item with `ticket`, or NULL. */
static item_t *flight_find(const mqr__custom_t *cu, uint64_t ticket)
{
    for (item_t *it = cu->flight.head; it; it = it->next)
        if (it->ticket == ticket)
            return it;
    return NULL;
}

/* ---- submitting -------------------------------------------------------------------------------- */

/* Submit queued items while the sink has room (see the file comment). */
static void pump(mqr_engine_t *e, mqr__action_t *a, uint64_t now)
{
    mqr__custom_t *cu = a->cu;
    if (cu->pumping)
        return;
    cu->pumping = 1;
    while (cu->queue.head && !cu->busy && cu->flight.n < cu->max_inflight &&
           now >= cu->resume_at) {
        if (cu->queue.n < cu->batch_size && cu->batch_time_ms &&
            now < cu->queue.head->queued_at + cu->batch_time_ms)
            break; /* let the batch fill */
        uint64_t room = cu->max_inflight - cu->flight.n;
        uint32_t n = cu->batch_size;
        if (n > room)
            n = (uint32_t)room;
        if (n > cu->queue.n)
            n = (uint32_t)cu->queue.n;
        for (uint32_t i = 0; i < n; i++) {
            item_t *it = cu->queue.head;
            list_unlink(&cu->queue, it);
            it->attempts++;
            it->attempt_end = now + cu->request_timeout_ms;
            list_append(&cu->flight, it);
            mqr_action_item_t *v = &cu->views[i];
            memset(v, 0, sizeof *v);
            v->ticket = it->ticket;
            v->action_id = a->id;
            v->attempt = it->attempts;
            v->rule_id = a->rule->id;
            v->rule_id_len = a->rule->id_len;
            v->data = it->data;
            v->data_len = it->len;
            v->fired_at_ms = it->fired_at;
            v->expire_at_ms = it->expire_at;
            v->id = it->seq ? it->id : NULL;
            v->id_len = it->seq ? strlen(it->id) : 0;
        }
        mqr_diag_t d;
        mqr_diag_clear(&d);
        int rc = cu->ops.submit(cu->ud, cu->views, n, now, &d);
        if (rc != MQR_EAGAIN) /* a busy answer is not an attempt */
            for (uint32_t i = 0; i < n; i++)
                a->m.retried += cu->views[i].attempt > 1;
        if (rc == MQR_OK)
            continue;
        /* items the sink ended from inside submit are gone: find by ticket */
        for (uint32_t i = n; i-- > 0;) {
            item_t *it = flight_find(cu, cu->views[i].ticket);
            if (!it)
                continue;
            if (rc == MQR_EAGAIN) {
                list_unlink(&cu->flight, it);
                it->attempts--;
                queue_insert(&cu->queue, it);
            } else {
                attempt_failed(e, a, it, now, 1, rc,
                               d.message[0] ? d.message : mqr_strerror(rc));
            }
        }
        if (rc == MQR_EAGAIN) {
            cu->busy = 1;
            cu->resume_at = now + cu->backoff_initial_ms;
            break;
        }
    }
    cu->pumping = 0;
    e->loop_dirty = 1;
}

/* ---- the engine's calls -------------------------------------------------------------------------- */

int mqr__engine_custom_init(mqr_engine_t *e, mqr__action_t *a, const mqr_custom_action_config_t *cfg)
{
    mqr__custom_t *cu = mqr__calloc(&e->alloc, 1, sizeof *cu);
    if (!cu)
        return MQR_ENOMEM;
    cu->ops = *cfg->ops;
    cu->ud = cfg->ud;
    cu->type_len = strlen(cfg->type);
    cu->type = mqr__strndup(&e->alloc, cfg->type, cu->type_len);
    cu->max_count = cfg->max_queue_count ? cfg->max_queue_count : MQR_ACTION_DEFAULT_QUEUE_COUNT;
    cu->max_bytes = cfg->max_queue_bytes ? cfg->max_queue_bytes : MQR_ACTION_DEFAULT_QUEUE_BYTES;
    cu->max_inflight = cfg->max_inflight ? cfg->max_inflight : MQR_ACTION_DEFAULT_MAX_INFLIGHT;
    cu->ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : MQR_ACTION_DEFAULT_TTL_MS;
    cu->request_timeout_ms =
        cfg->request_timeout_ms ? cfg->request_timeout_ms : MQR_ACTION_DEFAULT_REQUEST_TIMEOUT_MS;
    cu->backoff_initial_ms =
        cfg->backoff_initial_ms ? cfg->backoff_initial_ms : MQR_ACTION_DEFAULT_BACKOFF_INITIAL_MS;
    cu->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : MQR_ACTION_DEFAULT_BACKOFF_MAX_MS;
    if (cu->backoff_max_ms < cu->backoff_initial_ms)
        cu->backoff_max_ms = cu->backoff_initial_ms;
    cu->backoff_ms = cu->backoff_initial_ms;
    cu->max_attempts = cfg->max_attempts;
    cu->batch_size = cfg->batch_size ? cfg->batch_size : 1;
    cu->batch_time_ms = cfg->batch_time_ms;
    cu->wakeup_at = UINT64_MAX;
    cu->views = mqr__calloc(&e->alloc, cu->batch_size, sizeof *cu->views);
    if (!cu->type || !cu->views) {
        if (cu->type)
            mqr__free(&e->alloc, cu->type, cu->type_len + 1);
        mqr__free(&e->alloc, cu->views, cu->batch_size * sizeof *cu->views);
        mqr__free(&e->alloc, cu, sizeof *cu);
        return MQR_ENOMEM;
    }
    a->cu = cu;
    return MQR_OK;
}

int mqr__engine_custom_run(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                            const mqr_value_t *output)
{
    mqr__custom_t *cu = a->cu;
    uint64_t now = mqr__engine_mono(e);
    mqr_action_item_t v;
    memset(&v, 0, sizeof v);
    v.ticket = ++e->next_ticket;
    v.action_id = a->id;
    v.rule_id = a->rule->id;
    v.rule_id_len = a->rule->id_len;
    v.output = output;
    v.columns = cx->columns;
    v.fired_at_ms = mqr__engine_now(e);
    v.expire_at_ms = now + cu->ttl_ms;
    const void *data = NULL;
    size_t len = 0;
    int rc;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    if (cu->ops.render) {
        rc = cu->ops.render(cu->ud, &v, cx->arena, &data, &len, &d);
    } else {
        const char *json = NULL;
        rc = mqr__engine_json(e, cx->arena, output, &json, &len);
        data = json;
    }
    if (rc == MQR_OK && !data && len)
        rc = MQR_EINVAL;
    if (rc != MQR_OK) {
        mqr__engine_error(e, NULL, a, rc, NULL, "%s: render: %s", cu->type,
                          d.message[0] ? d.message : mqr_strerror(rc));
        mqr__engine_account(a, MQR__END_FAILED, 0);
        return MQR__END_FAILED;
    }
    if (cu->queue.n + cu->flight.n >= cu->max_count || cu->held_bytes + len > cu->max_bytes) {
        mqr__engine_error(e, NULL, a, MQR_ELIMIT, NULL,
                          "%s: dropped (queue full: %llu messages, %llu bytes held)", cu->type,
                          (unsigned long long)(cu->queue.n + cu->flight.n),
                          (unsigned long long)cu->held_bytes);
        mqr__engine_account(a, MQR__END_DROPPED, MQR_HTTP_REASON_QUEUE_FULL);
        return MQR__END_DROPPED;
    }
    /* with fallback actions, the output as JSON is kept too (engine_fallback.c) */
    const char *out_json = NULL;
    size_t out_len = 0;
    if (a->nfallback && !e->in_fallback &&
        mqr__engine_json(e, cx->arena, output, &out_json, &out_len) != MQR_OK) {
        mqr__engine_error(e, NULL, a, MQR_ENOMEM, NULL, "%s: dropped (out of memory)", cu->type);
        mqr__engine_account(a, MQR__END_DROPPED, MQR_HTTP_REASON_OTHER);
        return MQR__END_DROPPED;
    }
    size_t extra = out_json ? out_len + 1 : 0;
    item_t *it = mqr__alloc(&e->alloc, sizeof *it + len + 1 + extra);
    if (!it) {
        mqr__engine_error(e, NULL, a, MQR_ENOMEM, NULL, "%s: dropped (out of memory)", cu->type);
        mqr__engine_account(a, MQR__END_DROPPED, MQR_HTTP_REASON_OTHER);
        return MQR__END_DROPPED;
    }
    memset(it, 0, sizeof *it);
    it->ticket = v.ticket;
    it->queued_at = now;
    it->expire_at = v.expire_at_ms;
    it->fired_at = v.fired_at_ms;
    it->len = len;
    if (len)
        memcpy(it->data, data, len);
    it->data[len] = '\0';
    if (out_json) {
        it->out_len = out_len;
        memcpy(it->data + len + 1, out_json, out_len);
        it->data[len + 1 + out_len] = '\0';
    }
    cu->held_bytes += len;
    if (a->persist) /* written to disk first; in memory only if the queue refuses */
        mqr__engine_queue_custom_append(a, it->data, len, &it->seq, it->id);
    queue_insert(&cu->queue, it);
    pump(e, a, now);
    return MQR__END_PENDING;
}

int mqr__engine_custom_replay(mqr_engine_t *e, mqr__action_t *a, const void *data, size_t len,
                              uint64_t seq, const char *id)
{
    mqr__custom_t *cu = a->cu;
    uint64_t now = mqr__engine_mono(e);
    item_t *it = mqr__alloc(&e->alloc, sizeof *it + len + 1);
    if (!it)
        return MQR_ENOMEM;
    memset(it, 0, sizeof *it);
    it->ticket = ++e->next_ticket;
    it->queued_at = now;
    it->expire_at = now + cu->ttl_ms;
    it->fired_at = mqr__engine_now(e);
    it->seq = seq;
    snprintf(it->id, sizeof it->id, "%s", id);
    it->len = len;
    if (len)
        memcpy(it->data, data, len);
    it->data[len] = '\0';
    cu->held_bytes += len;
    queue_insert(&cu->queue, it);
    e->loop_dirty = 1;
    return MQR_OK;
}

void mqr__engine_custom_process(mqr_engine_t *e, mqr__action_t *a, uint64_t now)
{
    mqr__custom_t *cu = a->cu;
    for (item_t *it = cu->flight.head, *next; it; it = next) {
        next = it->next;
        if (now >= it->expire_at) {
            if (cu->ops.cancel)
                cu->ops.cancel(cu->ud, it->ticket);
            list_unlink(&cu->flight, it);
            mqr__engine_error(e, NULL, a, MQR_ETIMEOUT, NULL,
                              "%s: dropped (expired) in flight, attempt %u", cu->type,
                              it->attempts);
            end_item(e, a, it, MQR__END_DROPPED, MQR_HTTP_REASON_EXPIRED);
        } else if (now >= it->attempt_end) {
            if (cu->ops.cancel)
                cu->ops.cancel(cu->ud, it->ticket);
            a->m.timeouts++;
            char msg[64];
            snprintf(msg, sizeof msg, "no answer within %u ms", cu->request_timeout_ms);
            attempt_failed(e, a, it, now, 1, MQR_ETIMEOUT, msg);
        }
    }
    while (cu->queue.head && cu->queue.head->expire_at <= now) {
        item_t *it = cu->queue.head;
        list_unlink(&cu->queue, it);
        mqr__engine_error(e, NULL, a, MQR_ETIMEOUT, NULL,
                          "%s: dropped (expired) in the queue after %u attempt(s)", cu->type,
                          it->attempts);
        end_item(e, a, it, MQR__END_DROPPED, MQR_HTTP_REASON_EXPIRED);
    }
    if (cu->kick || (cu->busy && now >= cu->resume_at)) {
        if (cu->kick && cu->busy)
            cu->resume_at = now; /* the sink's ready ends the pause of its busy answer */
        cu->kick = 0;
        cu->busy = 0;
    }
    if (cu->wakeup_at <= now) {
        cu->wakeup_at = UINT64_MAX;
        if (cu->ops.wakeup)
            cu->ops.wakeup(cu->ud, now);
    }
    pump(e, a, now);
}

uint64_t mqr__engine_custom_due(const mqr__action_t *a, uint64_t now)
{
    const mqr__custom_t *cu = a->cu;
    uint64_t best = cu->wakeup_at;
    if (cu->kick)
        return now;
    for (const item_t *it = cu->flight.head; it; it = it->next) {
        uint64_t t = it->attempt_end < it->expire_at ? it->attempt_end : it->expire_at;
        if (t < best)
            best = t;
    }
    const item_t *h = cu->queue.head;
    if (h) {
        if (h->expire_at < best)
            best = h->expire_at;
        if (cu->busy) {
            if (cu->resume_at < best)
                best = cu->resume_at;
        } else if (cu->flight.n < cu->max_inflight) {
            uint64_t t = cu->resume_at > now ? cu->resume_at : now;
            if (cu->queue.n < cu->batch_size && cu->batch_time_ms &&
                h->queued_at + cu->batch_time_ms > t)
                t = h->queued_at + cu->batch_time_ms;
            if (t < best)
                best = t;
        }
    }
    return best;
}

size_t mqr__engine_custom_pending(const mqr__action_t *a)
{
    return (size_t)(a->cu->queue.n + a->cu->flight.n);
}

void mqr__engine_custom_metrics(const mqr__action_t *a, mqr_action_metrics_t *out)
{
    out->queuing = a->cu->queue.n;
    out->inflight = a->cu->flight.n;
}

const char *mqr__engine_custom_type(const mqr__action_t *a) { return a->cu->type; }

int mqr__engine_custom_test(mqr__action_t *a, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    mqr__custom_t *cu = a->cu;
    memset(out, 0, sizeof *out);
    if (!cu->ops.test) {
        out->status = MQR_ENOTSUP;
        snprintf(out->message, sizeof out->message, "%s: the sink has no connector test",
                 cu->type);
        return out->status;
    }
    out->status = cu->ops.test(cu->ud, timeout_ms, out);
    return out->status;
}

void mqr__engine_custom_free(mqr_engine_t *e, mqr__action_t *a)
{
    mqr__custom_t *cu = a->cu;
    cu->pumping = 1; /* a done from cancel must not submit again */
    while (cu->flight.head) {
        item_t *it = cu->flight.head;
        list_unlink(&cu->flight, it);
        if (cu->ops.cancel)
            cu->ops.cancel(cu->ud, it->ticket);
        end_item(e, a, it, MQR__END_DROPPED, MQR_HTTP_REASON_OTHER);
    }
    while (cu->queue.head) {
        item_t *it = cu->queue.head;
        list_unlink(&cu->queue, it);
        end_item(e, a, it, MQR__END_DROPPED, MQR_HTTP_REASON_OTHER);
    }
    if (cu->ops.destroy)
        cu->ops.destroy(cu->ud);
    if (a->cu_prev)
        a->cu_prev->cu_next = a->cu_next;
    else if (e->custom_first == a)
        e->custom_first = a->cu_next;
    if (a->cu_next)
        a->cu_next->cu_prev = a->cu_prev;
    mqr__free(&e->alloc, cu->type, cu->type_len + 1);
    mqr__free(&e->alloc, cu->views, cu->batch_size * sizeof *cu->views);
    mqr__free(&e->alloc, cu, sizeof *cu);
    a->cu = NULL;
}

/* ---- the sink's calls ------------------------------------------------------------------------------ */

/* The custom action with id `id`, or NULL. */
static mqr__action_t *custom_find(const mqr_engine_t *e, uint32_t id)
{
    for (mqr__action_t *a = e->custom_first; a; a = a->cu_next)
        if (a->id == id)
            return a;
    return NULL;
}

void mqr_custom_action_config_init(mqr_custom_action_config_t *cfg)
{
    if (cfg)
        memset(cfg, 0, sizeof *cfg);
}

int mqr_engine_action_done(mqr_engine_t *e, uint32_t action_id, uint64_t ticket, int32_t outcome,
                           int32_t status, const char *error_text)
{
    if (!e || outcome < MQR_ACTION_DONE_SUCCESS || outcome > MQR_ACTION_DONE_FAILED)
        return MQR_EINVAL;
    mqr__action_t *a = custom_find(e, action_id);
    if (!a)
        return MQR_ENOTFOUND;
    mqr__custom_t *cu = a->cu;
    item_t *it = flight_find(cu, ticket);
    if (!it) {
        a->m.late_reply++;
        return MQR_ENOTFOUND;
    }
    uint64_t now = mqr__engine_mono(e);
    if (outcome == MQR_ACTION_DONE_SUCCESS) {
        list_unlink(&cu->flight, it);
        cu->backoff_ms = cu->backoff_initial_ms;
        end_item(e, a, it, MQR__END_SUCCESS, 0);
    } else {
        if (status == MQR_OK)
            status = MQR_EIO;
        attempt_failed(e, a, it, now, outcome == MQR_ACTION_DONE_RETRY, status,
                       error_text && error_text[0] ? error_text : mqr_strerror(status));
    }
    if (!cu->pumping) {
        pump(e, a, now);
        if (!e->depth)
            mqr__engine_timer_sync(e, 0);
    }
    e->loop_dirty = 1;
    return MQR_OK;
}

int mqr_engine_action_ready(mqr_engine_t *e, uint32_t action_id)
{
    if (!e)
        return MQR_EINVAL;
    mqr__action_t *a = custom_find(e, action_id);
    if (!a)
        return MQR_ENOTFOUND;
    a->cu->kick = 1;
    e->loop_dirty = 1;
    if (!a->cu->pumping && !e->depth)
        mqr__engine_timer_sync(e, 0);
    return MQR_OK;
}

int mqr_engine_action_wakeup(mqr_engine_t *e, uint32_t action_id, int64_t delay_ms)
{
    if (!e)
        return MQR_EINVAL;
    mqr__action_t *a = custom_find(e, action_id);
    if (!a)
        return MQR_ENOTFOUND;
    a->cu->wakeup_at = delay_ms < 0 ? UINT64_MAX : mqr__engine_mono(e) + (uint64_t)delay_ms;
    e->loop_dirty = 1;
    if (!a->cu->pumping && !e->depth)
        mqr__engine_timer_sync(e, 0);
    return MQR_OK;
}
