/* SPDX-License-Identifier: MIT */
/*
 * sink_host.c - the custom-action contract of mqttrule/action.h, run by a
 * sink library for its own action: the bounded queue, batches handed to
 * ops->submit, completions by ticket, retries with exponential backoff,
 * the TTL and attempt timeout, metrics and the last error, the sink's
 * watched descriptors and its wakeup timer.
 *
 * The sink attaches to its rule as a callback action: every output goes
 * through ops->render into bytes that are copied into one heap block per
 * message and appended to the queue. mqr__sink_host_process (the host's
 * processing step) runs the wakeup, ends attempts that took too long,
 * drops expired messages and submits batches while fewer than max_inflight
 * messages are in flight and no backoff is running. A message leaves the
 * queue counted exactly once: success, failed, or dropped (queue full,
 * expired, other), so matched = success + failed + dropped + queuing +
 * inflight at every return.
 *
 * This is the stand-in for the engine's own implementation of
 * mqr_engine_action_add_custom (branch hostapi): the sinks call
 * mqr__sink_host_done / _ready / _wakeup / _watch_fd / _unwatch_fd exactly
 * where they will call mqr_engine_action_done / _ready / _wakeup /
 * mqr_engine_watch_fd / _unwatch_fd.
 */
#include "sink_core.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct host_msg {
    struct host_msg *next;
    uint64_t ticket;
    uint64_t enq_ms;       /* monotonic */
    uint64_t expire_ms;    /* the end of its TTL (monotonic) */
    uint64_t deadline_ms;  /* in flight: the end of this attempt */
    int64_t fired_at_ms;   /* wall clock */
    uint32_t attempt;
    size_t len;
    unsigned char data[];  /* len bytes, then a NUL */
} host_msg_t;

typedef struct host_fd {
    int fd;
    uint32_t events;
    mqr_engine_fd_fn fn;
    void *ud;
} host_fd_t;

/* A list of messages, oldest first. */
typedef struct msg_list {
    host_msg_t *head, *tail;
    size_t count;
} msg_list_t;

struct sink_host {
    mqr_engine_t *engine;
    uint32_t action_id;
    char *rule_id;
    char type[32];
    mqr_custom_action_config_t cfg; /* defaults resolved */
    mqr_action_ops_t ops;
    void *ud;
    mqr_arena_t *arena;             /* render scratch */
    msg_list_t queue;
    msg_list_t flight;              /* submitted, in submit order */
    uint64_t bytes;                 /* queued and in flight */
    uint64_t next_ticket;
    uint32_t backoff_ms;            /* current pause; 0 when healthy */
    uint64_t retry_at;              /* no submit before this */
    int busy;                       /* the sink said MQR_EAGAIN */
    int in_submit;
    uint64_t wakeup_at;             /* 0: none */
    host_fd_t *fds;
    size_t nfds;
    mqr_action_item_t *items;       /* batch_size */
    mqr_action_metrics_t m;
    int32_t err_status;
    uint64_t err_count;
    uint64_t err_time_ms;
    char err[MQR_DIAG_MESSAGE_MAX];
    char logged[MQR_DIAG_MESSAGE_MAX]; /* the last error logged, */
    uint64_t log_time_ms;              /* when, */
    uint64_t suppressed;               /* and how many like it since */
    mqr_sink_log_fn log;
    void *log_ud;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- errors and log ---------------------------------------------------------------- */

static void vlog(sink_host_t *h, int32_t level, const char *fmt, va_list ap)
{
    if (h->log == NULL)
        return;
    char msg[MQR_DIAG_MESSAGE_MAX + 96];
    int n = snprintf(msg, sizeof msg, "%s action %u (rule %s): ", h->type, h->action_id,
                     h->rule_id ? h->rule_id : "?");
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    h->log(h->log_ud, level, msg);
}

void mqr__sink_host_log(sink_host_t *h, int32_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(h, level, fmt, ap);
    va_end(ap);
}

/* Record an error: it becomes the action's last error (status, message,
 * wall-clock time), is counted and is logged. */
void mqr__sink_host_error(sink_host_t *h, int32_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err, sizeof h->err, fmt, ap);
    va_end(ap);
    h->err_status = status;
    h->err_time_ms = wall_ms();
    h->err_count++;
    /* The same message again within a second is counted, not logged: a
     * refused statement fails every row of a storm. */
    if (h->log_time_ms + 1000u > h->err_time_ms && strcmp(h->logged, h->err) == 0) {
        h->suppressed++;
        return;
    }
    if (h->suppressed > 0)
        mqr__sink_host_log(h, MQR_SINK_LOG_ERROR, "%s (and %llu more like it)", h->err,
                           (unsigned long long)h->suppressed);
    else
        mqr__sink_host_log(h, MQR_SINK_LOG_ERROR, "%s", h->err);
    memcpy(h->logged, h->err, sizeof h->logged);
    h->log_time_ms = h->err_time_ms;
    h->suppressed = 0;
}

/* ---- lists ---------------------------------------------------------------------------- */

static void list_push(msg_list_t *l, host_msg_t *m)
{
    m->next = NULL;
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->count++;
}

static host_msg_t *list_pop(msg_list_t *l)
{
    host_msg_t *m = l->head;
    if (m == NULL)
        return NULL;
    l->head = m->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->count--;
    m->next = NULL;
    return m;
}

/* Unlink the message with `ticket`; NULL when it is not in the list. */
static host_msg_t *list_take(msg_list_t *l, uint64_t ticket)
{
    host_msg_t *prev = NULL;
    for (host_msg_t *m = l->head; m != NULL; prev = m, m = m->next) {
        if (m->ticket != ticket)
            continue;
        if (prev != NULL)
            prev->next = m->next;
        else
            l->head = m->next;
        if (l->tail == m)
            l->tail = prev;
        l->count--;
        m->next = NULL;
        return m;
    }
    return NULL;
}

/* Put a message back into the queue in ticket order among the retried
 * messages at its head, so a batch that comes back keeps its order. */
static void queue_return(sink_host_t *h, host_msg_t *m)
{
    msg_list_t *l = &h->queue;
    host_msg_t *prev = NULL, *cur = l->head;
    while (cur != NULL && cur->ticket < m->ticket) {
        prev = cur;
        cur = cur->next;
    }
    m->next = cur;
    if (prev != NULL)
        prev->next = m;
    else
        l->head = m;
    if (cur == NULL)
        l->tail = m;
    l->count++;
}

static void sync_gauges(sink_host_t *h)
{
    h->m.queuing = h->queue.count;
    h->m.inflight = h->flight.count;
}

/* A message leaves the action: count its end, free it. kind: 's' success,
 * 'f' failed, 'e' expired, 'q' queue full, 'o' other. */
static void finish(sink_host_t *h, host_msg_t *m, char kind)
{
    switch (kind) {
    case 's':
        h->m.success++;
        break;
    case 'f':
        h->m.failed++;
        break;
    default:
        h->m.dropped++;
        if (kind == 'e')
            h->m.dropped_expired++;
        else if (kind == 'q')
            h->m.dropped_queue_full++;
        else
            h->m.dropped_other++;
        break;
    }
    h->bytes -= m->len;
    free(m);
}

static void backoff(sink_host_t *h, uint64_t now_ms)
{
    if (h->backoff_ms == 0)
        h->backoff_ms = h->cfg.backoff_initial_ms;
    else if (h->backoff_ms < h->cfg.backoff_max_ms / 2)
        h->backoff_ms *= 2;
    else
        h->backoff_ms = h->cfg.backoff_max_ms;
    h->retry_at = now_ms + h->backoff_ms;
}

/* An attempt of in-flight message m (already unlinked) failed in a way that
 * may pass: queue it again unless its TTL or attempts are used up. */
static void retry_or_end(sink_host_t *h, host_msg_t *m, uint64_t now_ms)
{
    if (now_ms >= m->expire_ms) {
        finish(h, m, 'e');
    } else if (h->cfg.max_attempts != 0 && m->attempt >= h->cfg.max_attempts) {
        finish(h, m, 'f');
    } else {
        h->m.retried++;
        queue_return(h, m);
    }
}

/* ---- the engine side: one output in ------------------------------------------------- */

static int on_output(void *ud, const char *rule_id, const char *json, size_t json_len,
                     const mqr_value_t *output)
{
    sink_host_t *h = ud;
    h->m.matched++;
    const void *data = json;
    size_t len = json_len;
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    if (h->ops.render != NULL) {
        mqr_action_item_t it;
        memset(&it, 0, sizeof it);
        it.action_id = h->action_id;
        it.rule_id = rule_id;
        it.rule_id_len = strlen(rule_id);
        it.output = output;
        it.fired_at_ms = (int64_t)wall_ms();
        mqr_arena_reset(h->arena);
        int rc = h->ops.render(h->ud, &it, h->arena, &data, &len, &diag);
        if (rc != MQR_OK) {
            h->m.failed++;
            mqr__sink_host_error(h, rc, "render: %s",
                                 diag.message[0] ? diag.message : mqr_strerror(rc));
            return rc;
        }
    }
    if (h->queue.count + h->flight.count >= h->cfg.max_queue_count ||
        h->bytes + len > h->cfg.max_queue_bytes) {
        h->m.dropped++;
        h->m.dropped_queue_full++;
        if (h->m.dropped_queue_full == 1 || (h->m.dropped_queue_full & 1023u) == 0)
            mqr__sink_host_error(h, MQR_ELIMIT,
                                 "queue full (%zu messages, %llu bytes): %llu dropped so far",
                                 h->queue.count + h->flight.count,
                                 (unsigned long long)h->bytes,
                                 (unsigned long long)h->m.dropped_queue_full);
        return MQR_ELIMIT;
    }
    host_msg_t *m = malloc(sizeof *m + len + 1);
    if (m == NULL) {
        h->m.dropped++;
        h->m.dropped_other++;
        mqr__sink_host_error(h, MQR_ENOMEM, "out of memory: message dropped");
        return MQR_ENOMEM;
    }
    uint64_t now = mqr_http_now_ms();
    m->ticket = ++h->next_ticket;
    m->enq_ms = now;
    m->expire_ms = h->cfg.ttl_ms == UINT32_MAX ? UINT64_MAX : now + h->cfg.ttl_ms;
    m->deadline_ms = 0;
    m->fired_at_ms = (int64_t)wall_ms();
    m->attempt = 0;
    m->len = len;
    if (len > 0)
        memcpy(m->data, data, len);
    m->data[len] = 0;
    list_push(&h->queue, m);
    h->bytes += len;
    sync_gauges(h);
    return MQR_OK;
}

/* ---- the sink side ------------------------------------------------------------------- */

int mqr__sink_host_done(sink_host_t *h, uint64_t ticket, int32_t outcome, int32_t status,
                        const char *error_text)
{
    if (h == NULL || outcome < MQR_ACTION_DONE_SUCCESS || outcome > MQR_ACTION_DONE_FAILED)
        return MQR_EINVAL;
    host_msg_t *m = list_take(&h->flight, ticket);
    if (m == NULL) {
        h->m.late_reply++;
        return MQR_ENOTFOUND;
    }
    uint64_t now = mqr_http_now_ms();
    if (outcome == MQR_ACTION_DONE_SUCCESS) {
        h->backoff_ms = 0;
        h->retry_at = 0;
        finish(h, m, 's');
    } else {
        mqr__sink_host_error(h, status, "%s", error_text ? error_text : mqr_strerror(status));
        if (outcome == MQR_ACTION_DONE_FAILED) {
            finish(h, m, 'f');
        } else {
            retry_or_end(h, m, now);
            backoff(h, now);
        }
    }
    sync_gauges(h);
    return MQR_OK;
}

int mqr__sink_host_ready(sink_host_t *h)
{
    if (h == NULL)
        return MQR_EINVAL;
    h->busy = 0;
    return MQR_OK;
}

int mqr__sink_host_wakeup(sink_host_t *h, int64_t delay_ms)
{
    if (h == NULL)
        return MQR_EINVAL;
    if (delay_ms < 0) {
        h->wakeup_at = 0;
    } else {
        uint64_t at = mqr_http_now_ms() + (uint64_t)delay_ms;
        h->wakeup_at = at != 0 ? at : 1;
    }
    return MQR_OK;
}

int mqr__sink_host_watch_fd(sink_host_t *h, int fd, uint32_t events, mqr_engine_fd_fn fn,
                            void *ud)
{
    if (h == NULL || fn == NULL || fd < 0 || (events & ~(MQR_ENGINE_READ | MQR_ENGINE_WRITE)))
        return MQR_EINVAL;
    for (size_t i = 0; i < h->nfds; i++) {
        if (h->fds[i].fd == fd) {
            h->fds[i].events = events;
            h->fds[i].fn = fn;
            h->fds[i].ud = ud;
            return MQR_OK;
        }
    }
    host_fd_t *n = realloc(h->fds, (h->nfds + 1) * sizeof *n);
    if (n == NULL)
        return MQR_ENOMEM;
    h->fds = n;
    h->fds[h->nfds++] = (host_fd_t){fd, events, fn, ud};
    return MQR_OK;
}

int mqr__sink_host_unwatch_fd(sink_host_t *h, int fd)
{
    if (h == NULL)
        return MQR_EINVAL;
    for (size_t i = 0; i < h->nfds; i++) {
        if (h->fds[i].fd == fd) {
            h->fds[i] = h->fds[--h->nfds];
            return MQR_OK;
        }
    }
    return MQR_ENOTFOUND;
}

/* ---- the host side: processing -------------------------------------------------------- */

/* End attempts past their deadline: cancel, then retry. */
static void end_late_attempts(sink_host_t *h, uint64_t now_ms)
{
    host_msg_t *m = h->flight.head;
    while (m != NULL) {
        host_msg_t *next = m->next;
        if (m->deadline_ms <= now_ms) {
            (void)list_take(&h->flight, m->ticket);
            h->m.timeouts++;
            if (h->ops.cancel != NULL)
                h->ops.cancel(h->ud, m->ticket);
            mqr__sink_host_error(h, MQR_ETIMEOUT, "attempt timed out after %u ms",
                                 h->cfg.request_timeout_ms);
            retry_or_end(h, m, now_ms);
            backoff(h, now_ms);
        }
        m = next;
    }
}

static void drop_expired(sink_host_t *h, uint64_t now_ms)
{
    uint64_t n = 0;
    while (h->queue.head != NULL && h->queue.head->expire_ms <= now_ms) {
        finish(h, list_pop(&h->queue), 'e');
        n++;
    }
    if (n > 0)
        mqr__sink_host_error(h, MQR_ETIMEOUT,
                             "%llu messages expired (ttl %u ms) before they were written",
                             (unsigned long long)n, h->cfg.ttl_ms);
}

/* Whether a batch may be submitted now; *out_wait the ms to wait if not
 * (UINT64_MAX: until something else happens). */
static int can_submit(const sink_host_t *h, uint64_t now_ms, uint64_t *out_wait)
{
    *out_wait = UINT64_MAX;
    if (h->queue.head == NULL || h->busy || h->in_submit ||
        h->flight.count >= h->cfg.max_inflight)
        return 0;
    if (h->retry_at > now_ms) {
        *out_wait = h->retry_at - now_ms;
        return 0;
    }
    if (h->cfg.batch_time_ms > 0 && h->queue.count < h->cfg.batch_size) {
        uint64_t ready = h->queue.head->enq_ms + h->cfg.batch_time_ms;
        if (ready > now_ms) {
            *out_wait = ready - now_ms;
            return 0;
        }
    }
    return 1;
}

/* Submit one batch. 1 when another may follow at once. */
static int submit_batch(sink_host_t *h, uint64_t now_ms)
{
    uint32_t room = h->cfg.max_inflight - (uint32_t)h->flight.count;
    uint32_t k = h->cfg.batch_size < room ? h->cfg.batch_size : room;
    if (k > h->queue.count)
        k = (uint32_t)h->queue.count;
    for (uint32_t i = 0; i < k; i++) {
        host_msg_t *m = list_pop(&h->queue);
        m->attempt++;
        m->deadline_ms = now_ms + h->cfg.request_timeout_ms;
        list_push(&h->flight, m);
        mqr_action_item_t *it = &h->items[i];
        memset(it, 0, sizeof *it);
        it->ticket = m->ticket;
        it->action_id = h->action_id;
        it->attempt = m->attempt;
        it->rule_id = h->rule_id;
        it->rule_id_len = strlen(h->rule_id);
        it->data = m->data;
        it->data_len = m->len;
        it->fired_at_ms = m->fired_at_ms;
        it->expire_at_ms = m->expire_ms;
    }
    sync_gauges(h);
    mqr_diag_t diag;
    mqr_diag_clear(&diag);
    h->in_submit = 1;
    int rc = h->ops.submit(h->ud, h->items, k, now_ms, &diag);
    h->in_submit = 0;
    if (rc == MQR_OK)
        return 1;
    /* None accepted: those of this batch still in flight come back. */
    for (uint32_t i = 0; i < k; i++) {
        host_msg_t *m = list_take(&h->flight, h->items[i].ticket);
        if (m == NULL)
            continue;
        if (rc == MQR_EAGAIN) {
            m->attempt--;
            queue_return(h, m);
        } else {
            retry_or_end(h, m, now_ms);
        }
    }
    if (rc == MQR_EAGAIN) {
        h->busy = 1;
    } else {
        mqr__sink_host_error(h, rc, "%s", diag.message[0] ? diag.message : mqr_strerror(rc));
        backoff(h, now_ms);
    }
    sync_gauges(h);
    return 0;
}

int mqr__sink_host_process(sink_host_t *h, uint64_t now_ms)
{
    if (h == NULL)
        return MQR_EINVAL;
    if (h->wakeup_at != 0 && h->wakeup_at <= now_ms) {
        h->wakeup_at = 0;
        if (h->ops.wakeup != NULL)
            h->ops.wakeup(h->ud, now_ms);
    }
    end_late_attempts(h, now_ms);
    drop_expired(h, now_ms);
    uint64_t wait;
    for (int i = 0; i < 64 && can_submit(h, now_ms, &wait); i++)
        if (!submit_batch(h, now_ms))
            break;
    sync_gauges(h);
    return MQR_OK;
}

int64_t mqr__sink_host_timeout(const sink_host_t *h, uint64_t now_ms)
{
    if (h == NULL)
        return -1;
    uint64_t best = UINT64_MAX;
    if (h->wakeup_at != 0)
        best = h->wakeup_at > now_ms ? h->wakeup_at - now_ms : 0;
    for (const host_msg_t *m = h->flight.head; m != NULL; m = m->next) {
        uint64_t w = m->deadline_ms > now_ms ? m->deadline_ms - now_ms : 0;
        if (w < best)
            best = w;
    }
    uint64_t wait;
    if (can_submit(h, now_ms, &wait))
        return 0;
    if (wait < best)
        best = wait;
    if (h->queue.head != NULL) {
        uint64_t e = h->queue.head->expire_ms;
        uint64_t w = e > now_ms ? e - now_ms : 0;
        if (w < best)
            best = w;
    }
    return best == UINT64_MAX ? -1 : (int64_t)(best > INT32_MAX ? INT32_MAX : best);
}

size_t mqr__sink_host_fds(const sink_host_t *h, mqr_sink_fd_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; h != NULL && i < h->nfds; i++) {
        if (h->fds[i].events == 0)
            continue;
        if (n < cap) {
            out[n].fd = h->fds[i].fd;
            out[n].events = h->fds[i].events;
        }
        n++;
    }
    return n;
}

int mqr__sink_host_fd_ready(sink_host_t *h, int fd, uint32_t events, uint64_t now_ms)
{
    if (h == NULL)
        return MQR_EINVAL;
    for (size_t i = 0; i < h->nfds; i++) {
        if (h->fds[i].fd == fd) {
            host_fd_t f = h->fds[i];
            f.fn(f.ud, fd, events, now_ms);
            return mqr__sink_host_process(h, now_ms);
        }
    }
    return MQR_ENOTFOUND;
}

size_t mqr__sink_host_pending(const sink_host_t *h)
{
    return h == NULL ? 0 : h->queue.count + h->flight.count;
}

/* Process and wait on the watched descriptors until nothing is pending or
 * timeout_ms passed. MQR_OK (nothing pending) or MQR_ETIMEOUT. */
int mqr__sink_host_flush(sink_host_t *h, uint32_t timeout_ms)
{
    if (h == NULL)
        return MQR_EINVAL;
    uint64_t deadline = mqr_http_now_ms() + timeout_ms;
    for (;;) {
        uint64_t now = mqr_http_now_ms();
        mqr__sink_host_process(h, now);
        if (mqr__sink_host_pending(h) == 0)
            return MQR_OK;
        if (now >= deadline)
            return MQR_ETIMEOUT;
        int64_t t = mqr__sink_host_timeout(h, now);
        uint64_t left = deadline - now;
        int wait = (int)(t < 0 || (uint64_t)t > left ? left : (uint64_t)t);
        if (wait > 100)
            wait = 100;
        struct pollfd pf[16];
        mqr_sink_fd_t fds[16];
        size_t n = mqr__sink_host_fds(h, fds, 16);
        if (n > 16)
            n = 16;
        for (size_t i = 0; i < n; i++) {
            pf[i].fd = fds[i].fd;
            pf[i].events = (short)(((fds[i].events & MQR_SINK_READ) ? POLLIN : 0) |
                                   ((fds[i].events & MQR_SINK_WRITE) ? POLLOUT : 0));
            pf[i].revents = 0;
        }
        int r = poll(pf, (nfds_t)n, wait);
        for (size_t i = 0; r > 0 && i < n; i++) {
            uint32_t ev = 0;
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
                ev |= MQR_SINK_READ;
            if (pf[i].revents & (POLLOUT | POLLHUP | POLLERR))
                ev |= MQR_SINK_WRITE;
            if (ev)
                (void)mqr__sink_host_fd_ready(h, pf[i].fd, ev, mqr_http_now_ms());
        }
    }
}

void mqr__sink_host_metrics(const sink_host_t *h, mqr_action_metrics_t *out)
{
    *out = h->m;
}

const char *mqr__sink_host_last_error(const sink_host_t *h, uint64_t *out_time_ms)
{
    if (out_time_ms != NULL)
        *out_time_ms = h ? h->err_time_ms : 0;
    return h == NULL ? "" : h->err;
}

uint32_t mqr__sink_host_action_id(const sink_host_t *h)
{
    return h == NULL ? 0 : h->action_id;
}

int mqr__sink_host_test(sink_host_t *h, uint32_t timeout_ms, mqr_diag_t *diag)
{
    if (h == NULL)
        return MQR_EINVAL;
    if (h->ops.test == NULL)
        return MQR_ENOTSUP;
    mqr_http_test_result_t r;
    memset(&r, 0, sizeof r);
    int rc = h->ops.test(h->ud, timeout_ms, &r);
    if (rc != MQR_OK)
        mqr__sink_diag(diag, rc, "", "%s", r.message[0] ? r.message : mqr_strerror(rc));
    return rc;
}

/* ---- life cycle ---------------------------------------------------------------------- */

void mqr__sink_action_config(mqr_custom_action_config_t *out, const char *type,
                             const mqr_sink_queue_config_t *q)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    if (q == NULL)
        return;
    out->max_queue_count = q->max_queue_count;
    out->max_queue_bytes = q->max_queue_bytes;
    out->batch_size = q->batch_size ? q->batch_size : MQR_SINK_DEFAULT_BATCH;
    out->max_inflight = out->batch_size;
    out->ttl_ms = q->ttl_ms;
    out->backoff_initial_ms = q->backoff_min_ms;
    out->backoff_max_ms = q->backoff_max_ms;
}

static void resolve_defaults(mqr_custom_action_config_t *c)
{
    if (c->max_queue_count == 0)
        c->max_queue_count = MQR_ACTION_DEFAULT_QUEUE_COUNT;
    if (c->max_queue_bytes == 0)
        c->max_queue_bytes = MQR_ACTION_DEFAULT_QUEUE_BYTES;
    if (c->max_inflight == 0)
        c->max_inflight = MQR_ACTION_DEFAULT_MAX_INFLIGHT;
    if (c->ttl_ms == 0)
        c->ttl_ms = MQR_ACTION_DEFAULT_TTL_MS;
    if (c->request_timeout_ms == 0)
        c->request_timeout_ms = MQR_ACTION_DEFAULT_REQUEST_TIMEOUT_MS;
    if (c->backoff_initial_ms == 0)
        c->backoff_initial_ms = MQR_ACTION_DEFAULT_BACKOFF_INITIAL_MS;
    if (c->backoff_max_ms == 0)
        c->backoff_max_ms = MQR_ACTION_DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_initial_ms)
        c->backoff_max_ms = c->backoff_initial_ms;
    if (c->batch_size == 0)
        c->batch_size = 1;
}

/*
 * Attach a custom action (cfg as for mqr_engine_action_add_custom) to rule
 * `rule_id`. On success the host owns cfg->ud until it calls ops->destroy
 * from mqr__sink_host_destroy; on failure nothing is called. Statuses of
 * mqr_engine_action_add_custom.
 */
int mqr__sink_host_add(mqr_engine_t *engine, const char *rule_id,
                       const mqr_custom_action_config_t *cfg, mqr_sink_log_fn log, void *log_ud,
                       sink_host_t **out_host, mqr_diag_t *diag)
{
    *out_host = NULL;
    if (engine == NULL || rule_id == NULL || cfg == NULL || cfg->ops == NULL ||
        cfg->ops->submit == NULL || cfg->type == NULL || cfg->type[0] == '\0' ||
        cfg->batch_size > MQR_ACTION_MAX_BATCH) {
        mqr__sink_diag(diag, MQR_EINVAL, "", "custom action: invalid configuration");
        return MQR_EINVAL;
    }
    sink_host_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return MQR_ENOMEM;
    h->cfg = *cfg;
    resolve_defaults(&h->cfg);
    h->ops = *cfg->ops;
    h->ud = cfg->ud;
    snprintf(h->type, sizeof h->type, "%s", cfg->type);
    h->cfg.type = h->type;
    h->cfg.ops = &h->ops;
    h->log = log;
    h->log_ud = log_ud;
    h->m.kind = MQR_ACTION_CUSTOM;
    h->rule_id = strdup(rule_id);
    h->items = calloc(h->cfg.batch_size, sizeof *h->items);
    int rc = MQR_ENOMEM;
    if (h->rule_id != NULL && h->items != NULL &&
        mqr_arena_create(NULL, 4096, &h->arena) == MQR_OK)
        rc = mqr_engine_action_add_callback(engine, rule_id, on_output, h, &h->action_id, diag);
    if (rc != MQR_OK) {
        mqr_arena_destroy(h->arena);
        free(h->items);
        free(h->rule_id);
        free(h);
        return rc;
    }
    h->engine = engine;
    *out_host = h;
    return MQR_OK;
}

/* Detach the action, cancel what is in flight and drop what is queued (both
 * counted dropped, other), call ops->destroy, free the host. NULL ignored. */
void mqr__sink_host_destroy(sink_host_t *h)
{
    if (h == NULL)
        return;
    if (h->engine != NULL)
        (void)mqr_engine_action_remove(h->engine, h->action_id);
    uint64_t lost = h->queue.count + h->flight.count;
    host_msg_t *m;
    while ((m = list_pop(&h->flight)) != NULL) {
        if (h->ops.cancel != NULL)
            h->ops.cancel(h->ud, m->ticket);
        finish(h, m, 'o');
    }
    while ((m = list_pop(&h->queue)) != NULL)
        finish(h, m, 'o');
    sync_gauges(h);
    if (lost > 0)
        mqr__sink_host_error(h, MQR_ESTATE, "removed with %llu messages unwritten (dropped)",
                             (unsigned long long)lost);
    if (h->ops.destroy != NULL)
        h->ops.destroy(h->ud);
    mqr_arena_destroy(h->arena);
    free(h->fds);
    free(h->items);
    free(h->rule_id);
    free(h);
}
