/* SPDX-License-Identifier: MIT */
/*
 * sink_ctx.c - a sink's side of its custom action (mqttrule/action.h): the
 * sink's queue settings mapped onto mqr_custom_action_config_t, attaching
 * it to a rule, the engine's calls for this one action, and the sink's log.
 *
 * The engine keeps the bounded queue, batches, retries with backoff, TTL,
 * attempt timeouts and the metrics; it calls the sink's render and submit
 * and drives the descriptors the sink watches. A failure the sink reports
 * with mqr__sink_done becomes the action's last error in the engine and a
 * line in the host's log; the same line again within a second is counted
 * instead (a refused statement fails every row of a storm), and the count
 * goes with the next line logged.
 */
#include "sink_core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void mqr__sink_action_config(mqr_custom_action_config_t *out, const char *type,
                             const mqr_sink_queue_config_t *q)
{
    mqr_custom_action_config_init(out);
    out->type = type;
    out->batch_size = MQR_SINK_DEFAULT_BATCH;
    if (q != NULL) {
        out->max_queue_count = q->max_queue_count;
        out->max_queue_bytes = q->max_queue_bytes;
        if (q->batch_size != 0)
            out->batch_size = q->batch_size;
        out->ttl_ms = q->ttl_ms;
        out->backoff_initial_ms = q->backoff_min_ms;
        out->backoff_max_ms = q->backoff_max_ms;
        out->batch_time_ms = q->batch_time_ms;
    }
    /* A whole batch is one attempt in flight. */
    out->max_inflight = out->batch_size;
}

/* Attach the sink (cfg->ud) to rule `rule_id`: on success the engine owns
 * it until it calls ops->destroy. Statuses of mqr_engine_action_add_custom. */
int mqr__sink_attach(sink_ctx_t *c, mqr_engine_t *engine, const char *rule_id,
                     const mqr_custom_action_config_t *cfg, uint32_t *out_action_id,
                     mqr_diag_t *diag)
{
    uint32_t id = 0;
    int rc = mqr_engine_action_add_custom(engine, rule_id, cfg, &id, diag);
    if (rc != MQR_OK)
        return rc;
    c->engine = engine;
    c->action_id = id;
    /* The prefix of identifiers without a durable queue: random, so that the
       tickets of another run (or another sink) never repeat an identifier. */
    uint64_t r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(&r, sizeof r, 1, f) != 1)
        r = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 32 ^ (uintptr_t)c;
    if (f != NULL)
        fclose(f);
    snprintf(c->id_prefix, sizeof c->id_prefix, "%016llx", (unsigned long long)r);
    if (out_action_id != NULL)
        *out_action_id = id;
    return MQR_OK;
}

/* Decode item `it`'s parameters (mqr__sink_decode) into out, and bind each
 * ${SINK_ID_NAME} field to the record's stable identifier: the durable
 * queue's it->id, else "<c->id_prefix>-m<ticket>" (the ticket is the same
 * over retries), written into idbuf, which must outlive the use of out.
 * MQR_OK or MQR_EINVAL (undecodable bytes). */
int mqr__sink_decode_item(const sink_ctx_t *c, const sink_fields_t *f,
                          const mqr_action_item_t *it, sink_param_t *out, char idbuf[SINK_ID_MAX])
{
    int rc = mqr__sink_decode(it->data, it->data_len, out, f->n);
    if (rc != MQR_OK)
        return rc;
    size_t len = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        if (!f->is_id[i])
            continue;
        if (len == 0 && it->id != NULL && it->id_len > 0 && it->id_len < SINK_ID_MAX) {
            memcpy(idbuf, it->id, it->id_len);
            idbuf[it->id_len] = '\0';
            len = it->id_len;
        } else if (len == 0) {
            len = (size_t)snprintf(idbuf, SINK_ID_MAX, "%s-m%llu", c->id_prefix,
                                   (unsigned long long)it->ticket);
        }
        memset(&out[i], 0, sizeof out[i]);
        out[i].type = SINK_P_TEXT;
        out[i].s = idbuf;
        out[i].len = (uint32_t)len;
    }
    return MQR_OK;
}

void mqr__sink_log(sink_ctx_t *c, int32_t level, const char *fmt, ...)
{
    if (c->log == NULL)
        return;
    char msg[MQR_DIAG_MESSAGE_MAX + 64];
    int n = snprintf(msg, sizeof msg, "%s action %u: ", c->where[0] ? c->where : "sink",
                     c->action_id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    c->log(c->log_ud, level, msg);
}

/* An error for the log, at most once a second for the same text. */
void mqr__sink_error(sink_ctx_t *c, const char *fmt, ...)
{
    char msg[MQR_DIAG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint64_t now = mqr_http_now_ms();
    if (c->log_time_ms != 0 && now < c->log_time_ms + 1000u && strcmp(c->logged, msg) == 0) {
        c->suppressed++;
        return;
    }
    if (c->suppressed > 0)
        mqr__sink_log(c, MQR_SINK_LOG_ERROR, "%s (and %llu more like it)", msg,
                      (unsigned long long)c->suppressed);
    else
        mqr__sink_log(c, MQR_SINK_LOG_ERROR, "%s", msg);
    memcpy(c->logged, msg, sizeof msg);
    c->log_time_ms = now;
    c->suppressed = 0;
}

/* End one submitted message (mqr_engine_action_done); a failure is also
 * logged. */
void mqr__sink_done(sink_ctx_t *c, uint64_t ticket, int32_t outcome, int32_t status,
                    const char *error_text)
{
    if (outcome != MQR_ACTION_DONE_SUCCESS)
        mqr__sink_error(c, "%s", error_text ? error_text : mqr_strerror(status));
    (void)mqr_engine_action_done(c->engine, c->action_id, ticket, outcome, status, error_text);
}

void mqr__sink_ready(sink_ctx_t *c)
{
    (void)mqr_engine_action_ready(c->engine, c->action_id);
}

void mqr__sink_wakeup(sink_ctx_t *c, int64_t delay_ms)
{
    (void)mqr_engine_action_wakeup(c->engine, c->action_id, delay_ms);
}

int mqr__sink_watch_fd(sink_ctx_t *c, int fd, uint32_t events, mqr_engine_fd_fn fn, void *ud)
{
    return mqr_engine_watch_fd(c->engine, fd, events, fn, ud);
}

void mqr__sink_unwatch_fd(sink_ctx_t *c, int fd)
{
    (void)mqr_engine_unwatch_fd(c->engine, fd);
}
