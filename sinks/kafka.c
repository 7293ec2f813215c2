/* SPDX-License-Identifier: MIT */
/*
 * kafka.c - the Kafka sink (mqttrule/sink_kafka.h), libmqttrule_kafka.
 *
 * A custom action (mqttrule/action.h) over one
 * librdkafka producer. render evaluates the topic, key, value and header
 * templates into typed parameters (sink_template.c); submit produces each
 * message of a batch with rd_kafka_producev (copying the bytes, the
 * message's ticket as its opaque), so librdkafka's own queue and batching
 * (linger.ms, batch.num.messages) take over from there and many messages
 * are in flight at once.
 *
 * Delivery reports are queued by librdkafka's threads on the producer's
 * main queue. The queue's event descriptor is enabled on a pipe
 * (rd_kafka_queue_io_event_enable): a byte is written when the queue
 * becomes non-empty, the host's loop sees the pipe readable and calls
 * mqr_kafka_sink_fd_ready, which drains the pipe and serves the queue with
 * rd_kafka_poll(rk, 0) on the host's thread; the delivery-report callback
 * ends each message through mqr_engine_action_done. librdkafka's log lines and
 * errors come through the same queue (log.queue), so every callback of the
 * sink runs on the host's thread.
 */
#include <mqttrule/sink_kafka.h>

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_core.h"

/* Fields: topic, key, value, then the header values. */
#define F_TOPIC 0
#define F_KEY 1
#define F_VALUE 2
#define F_HEADERS 3

typedef struct mqr_kafka_sink mqr_kafka_sink_t;

/* A sink: the engine owns it (ops->destroy frees it). */
struct mqr_kafka_sink {
    sink_ctx_t ctx;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    int pipe_rd, pipe_wr;
    sink_fields_t fields;
    sink_param_t *params;
    uint32_t has_key;
    uint32_t nheaders;
    char **header_names;
    char *topic_const;        /* the topic when it has no placeholder, else NULL */
    char *topicbuf;           /* a NUL-terminated rendered topic */
    size_t topiccap;
    char where[96];           /* "kafka HOSTS" for messages */
    int closing;
};

void mqr_kafka_sink_config_init(mqr_kafka_sink_config_t *cfg)
{
    if (cfg != NULL)
        memset(cfg, 0, sizeof *cfg);
}

/* ---- librdkafka's callbacks (served on the host's thread by rd_kafka_poll) ---------- */

/* Whether a delivery error is about the message or its topic (failed for
 * good) rather than the cluster's state (retried). */
static int permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        return 1;
    default:
        return 0;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    mqr_kafka_sink_t *s = opaque;
    uint64_t ticket = (uint64_t)(uintptr_t)m->_private;
    if (s->closing)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        mqr__sink_done(&s->ctx, ticket, MQR_ACTION_DONE_SUCCESS, MQR_OK, NULL);
        return;
    }
    char msg[MQR_DIAG_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%.80s: topic '%.60s': %s", s->where,
             m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err));
    mqr__sink_done(&s->ctx, ticket,
                        permanent(m->err) ? MQR_ACTION_DONE_FAILED : MQR_ACTION_DONE_RETRY,
                        MQR_EIO, msg);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    mqr_kafka_sink_t *s = opaque;
    if (!s->closing)
        mqr__sink_error(&s->ctx, "%.80s: %s: %s", s->where,
                             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    mqr_kafka_sink_t *s = rd_kafka_opaque(rk);
    if (s == NULL || s->ctx.engine == NULL || s->closing)
        return;
    mqr__sink_log(&s->ctx, level <= 3 ? MQR_SINK_LOG_ERROR
                                : level <= 4 ? MQR_SINK_LOG_WARN
                                             : MQR_SINK_LOG_INFO,
                       "librdkafka %s: %s", fac, buf);
}

/* Serve the main queue: delivery reports, errors, log lines. */
static void serve(mqr_kafka_sink_t *s)
{
    char drain[64];
    while (read(s->pipe_rd, drain, sizeof drain) > 0)
        ;
    while (rd_kafka_poll(s->rk, 0) > 0)
        ;
}

static void on_fd(void *ud, int fd, uint32_t events, uint64_t now_ms)
{
    (void)fd;
    (void)events;
    (void)now_ms;
    serve(ud);
}

/* ---- the action's operations --------------------------------------------------------- */

static int op_render(void *ud, const mqr_action_item_t *item, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag)
{
    mqr_kafka_sink_t *s = ud;
    return mqr__sink_render(&s->fields, item->output, arena, out_data, out_len, diag);
}

/* The rendered topic, NUL-terminated, or NULL when it is empty or holds a
 * NUL byte. */
static const char *topic_of(mqr_kafka_sink_t *s)
{
    char num[32];
    const char *t;
    size_t len;
    mqr__sink_param_text(&s->params[F_TOPIC], num, &t, &len);
    if (t == NULL || len == 0 || memchr(t, '\0', len) != NULL)
        return NULL;
    if (len + 1 > s->topiccap) {
        char *b = realloc(s->topicbuf, len + 1);
        if (b == NULL)
            return NULL;
        s->topicbuf = b;
        s->topiccap = len + 1;
    }
    memcpy(s->topicbuf, t, len);
    s->topicbuf[len] = '\0';
    return s->topicbuf;
}

/* Produce one message. RD_KAFKA_RESP_ERR_NO_ERROR or librdkafka's error. */
static rd_kafka_resp_err_t produce(mqr_kafka_sink_t *s, const mqr_action_item_t *it,
                                   const char **out_why)
{
    *out_why = NULL;
    char idbuf[SINK_ID_MAX];
    if (mqr__sink_decode_item(&s->ctx, &s->fields, it, s->params, idbuf) != MQR_OK) {
        *out_why = "undecodable message";
        return RD_KAFKA_RESP_ERR__BAD_MSG;
    }
    const char *topic = topic_of(s);
    if (topic == NULL) {
        *out_why = "the topic rendered empty or with a NUL byte";
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    char kbuf[32], vbuf[32], hbuf[32];
    const char *key = NULL, *value;
    size_t key_len = 0, value_len;
    if (s->has_key)
        mqr__sink_param_text(&s->params[F_KEY], kbuf, &key, &key_len);
    mqr__sink_param_text(&s->params[F_VALUE], vbuf, &value, &value_len);
    rd_kafka_headers_t *hdrs = NULL;
    if (s->nheaders > 0) {
        hdrs = rd_kafka_headers_new(s->nheaders);
        for (uint32_t i = 0; i < s->nheaders; i++) {
            const char *h;
            size_t hlen;
            mqr__sink_param_text(&s->params[F_HEADERS + i], hbuf, &h, &hlen);
            rd_kafka_header_add(hdrs, s->header_names[i], -1, h, h ? (ssize_t)hlen : 0);
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        s->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value ? (void *)value : NULL, value_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)it->ticket),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL)
        rd_kafka_headers_destroy(hdrs);
    return err;
}

/* Hand a batch to the producer. Every message is accepted; one librdkafka
 * refuses at once ends at once (failed, or retried when its queue is
 * full). */
static int op_submit(void *ud, const mqr_action_item_t *items, uint32_t count, uint64_t now_ms,
                     mqr_diag_t *diag)
{
    (void)now_ms;
    (void)diag;
    mqr_kafka_sink_t *s = ud;
    char msg[MQR_DIAG_MESSAGE_MAX];
    for (uint32_t i = 0; i < count; i++) {
        const char *why;
        rd_kafka_resp_err_t err = produce(s, &items[i], &why);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        snprintf(msg, sizeof msg, "%.80s: produce: %s", s->where,
                 why ? why : rd_kafka_err2str(err));
        mqr__sink_done(&s->ctx, items[i].ticket,
                            err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? MQR_ACTION_DONE_RETRY
                                                                 : MQR_ACTION_DONE_FAILED,
                            err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? MQR_ELIMIT : MQR_EINVAL, msg);
    }
    /* Reports that arrived meanwhile (the pipe says so too). */
    (void)rd_kafka_poll(s->rk, 0);
    return MQR_OK;
}

static int op_test(void *ud, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    mqr_kafka_sink_t *s = ud;
    int tmo = (int)(timeout_ms ? timeout_ms : 5000u);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = s->topic_const ? rd_kafka_topic_new(s->rk, s->topic_const, NULL)
                                           : NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(s->rk, 0, rkt, &md, tmo);
    int rc = MQR_OK;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = MQR_ECONNECT;
        snprintf(out->message, sizeof out->message, "no broker answered: %s",
                 rd_kafka_err2str(err));
    } else if (rkt != NULL && (md->topic_cnt < 1 || md->topics[0].err != 0)) {
        rc = MQR_ENOTFOUND;
        snprintf(out->message, sizeof out->message, "topic '%.60s': %s", s->topic_const,
                 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    } else {
        snprintf(out->message, sizeof out->message, "%d brokers answered", md->broker_cnt);
    }
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
    out->status = rc;
    return rc;
}

static void op_destroy(void *ud)
{
    mqr_kafka_sink_t *s = ud;
    s->closing = 1;
    if (s->pipe_rd >= 0 && s->ctx.engine != NULL)
        mqr__sink_unwatch_fd(&s->ctx, s->pipe_rd);
    if (s->rk != NULL) {
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (s->mainq != NULL) {
            rd_kafka_queue_io_event_enable(s->mainq, -1, NULL, 0);
            rd_kafka_queue_destroy(s->mainq);
        }
        rd_kafka_destroy(s->rk);
    }
    if (s->pipe_rd >= 0)
        close(s->pipe_rd);
    if (s->pipe_wr >= 0)
        close(s->pipe_wr);
    mqr__sink_fields_free(&s->fields);
    for (uint32_t i = 0; i < s->nheaders; i++)
        free(s->header_names[i]);
    free(s->header_names);
    free(s->params);
    free(s->topic_const);
    free(s->topicbuf);
    free(s);
}

static const mqr_action_ops_t KAFKA_OPS = {op_render, op_submit, NULL, NULL, op_test,
                                           op_destroy};

/* ---- creating ------------------------------------------------------------------------------ */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, mqr_diag_t *diag)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        mqr__sink_diag(diag, MQR_EINVAL, "property", "kafka: property %.60s: %.160s", name, err);
        return MQR_EINVAL;
    }
    return MQR_OK;
}

/* librdkafka's configuration: the sink's defaults, then the user's
 * properties. *out_timeout_ms receives message.timeout.ms. */
static int make_conf(mqr_kafka_sink_t *s, const mqr_kafka_sink_config_t *cfg,
                     rd_kafka_conf_t **out, uint32_t *out_timeout_ms, mqr_diag_t *diag)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const defaults[][2] = {
        {"log.queue", "true"},
        {"enable.idempotence", "true"},
        {"message.timeout.ms", "30000"},
        {"linger.ms", "5"},
    };
    int rc = conf_set(conf, "bootstrap.servers", cfg->bootstrap_hosts, diag);
    for (size_t i = 0; rc == MQR_OK && i < sizeof defaults / sizeof defaults[0]; i++)
        rc = conf_set(conf, defaults[i][0], defaults[i][1], diag);
    for (uint32_t i = 0; rc == MQR_OK && i < cfg->property_count; i++) {
        const mqr_kafka_property_t *p = &cfg->properties[i];
        if (p->name == NULL || p->value == NULL) {
            mqr__sink_diag(diag, MQR_EINVAL, "property", "kafka: property %u: NULL", i + 1);
            rc = MQR_EINVAL;
        } else {
            rc = conf_set(conf, p->name, p->value, diag);
        }
    }
    if (rc != MQR_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    char v[32];
    size_t vlen = sizeof v;
    *out_timeout_ms = 30000;
    if (rd_kafka_conf_get(conf, "message.timeout.ms", v, &vlen) == RD_KAFKA_CONF_OK)
        *out_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    *out = conf;
    return MQR_OK;
}

/* Compile the templates: topic, key, value, header values. */
static int make_fields(mqr_kafka_sink_t *s, const mqr_kafka_sink_config_t *cfg, mqr_diag_t *diag)
{
    uint32_t n = F_HEADERS + cfg->header_count;
    const char **texts = calloc(n, sizeof *texts);
    s->header_names = calloc(cfg->header_count + 1, sizeof *s->header_names);
    if (texts == NULL || s->header_names == NULL) {
        free(texts);
        return MQR_ENOMEM;
    }
    texts[F_TOPIC] = cfg->topic;
    texts[F_KEY] = cfg->key ? cfg->key : "";
    texts[F_VALUE] = cfg->value ? cfg->value : "${.}";
    int rc = MQR_OK;
    for (uint32_t i = 0; i < cfg->header_count && rc == MQR_OK; i++) {
        const mqr_kafka_header_t *h = &cfg->headers[i];
        if (h->name == NULL || h->name[0] == '\0' || h->value == NULL) {
            mqr__sink_diag(diag, MQR_EINVAL, "header", "kafka: header %u needs a name and a value",
                           i + 1);
            rc = MQR_EINVAL;
            break;
        }
        texts[F_HEADERS + i] = h->value;
        s->header_names[i] = strdup(h->name);
        s->nheaders = i + 1;
        if (s->header_names[i] == NULL)
            rc = MQR_ENOMEM;
    }
    if (rc == MQR_OK)
        rc = mqr__sink_fields_compile(texts, n, &s->fields, diag);
    free(texts);
    if (rc == MQR_OK) {
        s->params = calloc(n, sizeof *s->params);
        s->has_key = cfg->key != NULL;
        if (strstr(cfg->topic, "${") == NULL)
            s->topic_const = strdup(cfg->topic);
        if (s->params == NULL)
            rc = MQR_ENOMEM;
    }
    return rc;
}

/* The producer with its main queue's events on a pipe. */
static int make_producer(mqr_kafka_sink_t *s, rd_kafka_conf_t *conf, mqr_diag_t *diag)
{
    char err[256];
    int p[2];
    if (pipe(p) != 0) {
        rd_kafka_conf_destroy(conf);
        mqr__sink_diag(diag, MQR_EIO, "", "kafka: pipe: out of descriptors");
        return MQR_EIO;
    }
    s->pipe_rd = p[0];
    s->pipe_wr = p[1];
    for (int i = 0; i < 2; i++) {
        (void)fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        (void)fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (s->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        mqr__sink_diag(diag, MQR_EIO, "", "kafka: cannot create the producer: %.200s", err);
        return MQR_EIO;
    }
    (void)rd_kafka_set_log_queue(s->rk, NULL);
    s->mainq = rd_kafka_queue_get_main(s->rk);
    rd_kafka_queue_io_event_enable(s->mainq, s->pipe_wr, "1", 1);
    return MQR_OK;
}

int mqr_kafka_sink_add(mqr_engine_t *engine, const char *rule_id,
                       const mqr_kafka_sink_config_t *cfg, uint32_t *out_action_id,
                       mqr_diag_t *diag)
{
    if (engine == NULL || rule_id == NULL || cfg == NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, "", "kafka: NULL argument");
        return MQR_EINVAL;
    }
    const char *missing = cfg->bootstrap_hosts == NULL || !cfg->bootstrap_hosts[0]
                              ? "bootstrap_hosts"
                          : cfg->topic == NULL || !cfg->topic[0] ? "topic"
                                                                 : NULL;
    if (missing != NULL) {
        mqr__sink_diag(diag, MQR_EINVAL, missing, "kafka: '%s' is required", missing);
        return MQR_EINVAL;
    }
    mqr_kafka_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQR_ENOMEM;
    s->pipe_rd = s->pipe_wr = -1;
    snprintf(s->where, sizeof s->where, "kafka %.80s", cfg->bootstrap_hosts);
    mqr_custom_action_config_t ac;
    mqr__sink_action_config(&ac, "kafka", &cfg->queue);
    ac.ops = &KAFKA_OPS;
    ac.ud = s;
    if (cfg->queue.batch_size == 0)
        ac.batch_size = 1000;
    /* librdkafka holds what is in flight: let it hold the whole queue. */
    ac.max_inflight = ac.max_queue_count ? ac.max_queue_count : MQR_ACTION_DEFAULT_QUEUE_COUNT;
    rd_kafka_conf_t *conf = NULL;
    uint32_t msg_timeout = 0;
    int rc = make_fields(s, cfg, diag);
    if (rc == MQR_OK)
        rc = make_conf(s, cfg, &conf, &msg_timeout, diag);
    if (rc == MQR_OK)
        rc = make_producer(s, conf, diag);
    /* librdkafka ends every message within message.timeout.ms: the attempt
     * limit only catches a report that never comes. */
    ac.request_timeout_ms = msg_timeout + 10000u;
    if (ac.ttl_ms != 0 && ac.ttl_ms != UINT32_MAX && ac.ttl_ms < ac.request_timeout_ms)
        ac.request_timeout_ms = ac.ttl_ms;
    s->ctx.log = cfg->log;
    s->ctx.log_ud = cfg->log_ud;
    snprintf(s->ctx.where, sizeof s->ctx.where, "kafka");
    if (rc == MQR_OK)
        rc = mqr__sink_attach(&s->ctx, engine, rule_id, &ac, out_action_id, diag);
    if (rc != MQR_OK) {
        op_destroy(s);
        return rc;
    }
    /* The engine owns the sink now: a failure to watch is reported, and the
     * reports are still served by every submit. */
    if (mqr__sink_watch_fd(&s->ctx, s->pipe_rd, MQR_ENGINE_READ, on_fd, s) != MQR_OK)
        mqr__sink_error(&s->ctx, "cannot watch the delivery-report pipe");
    return MQR_OK;
}
