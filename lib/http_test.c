/* SPDX-License-Identifier: MIT */
/*
 * http_test.c - the connector test (decision D12, the "Test" button): one
 * blocking, bounded check that a URL is reachable.
 *
 * It reuses the client rather than a second code path: a private client with
 * one connection, one attempt and the test's timeout, one GET of the URL's
 * path, and mqr_http_poll rounds until the message ends. Creating the client
 * is the resolve step (and loads the CA file); the message's result says
 * which later step (connect, tls, request, response) ended the attempt.
 */
#include <stdio.h>
#include <string.h>

#include "http_int.h"

typedef struct test_state {
    int done;
    mqr_http_test_result_t *out;
} test_state_t;

static const char *const step_names[] = {"none", "resolve", "connect", "tls", "request", "response",
                                         "done"};

/* Completion callback of the private client: record the answer. */
static void on_test_done(void *ud, const mqr_http_result_t *r)
{
    test_state_t *st = ud;
    mqr_http_test_result_t *out = st->out;
    if (st->done)
        return; /* the poll loop already gave up and wrote the answer */
    st->done = 1;
    out->http_status = r->http_status;
    if (r->http_status > 0) {
        out->status = MQR_OK;
        out->step = MQR_HTTP_STEP_DONE;
        snprintf(out->message, sizeof out->message, "reachable: HTTP status %d", (int)r->http_status);
        return;
    }
    out->status = r->status ? r->status : MQR_EIO;
    out->step = r->step >= MQR_HTTP_STEP_CONNECT && r->step <= MQR_HTTP_STEP_RESPONSE
                    ? r->step : MQR_HTTP_STEP_CONNECT;
    snprintf(out->message, sizeof out->message, "%s failed: %s", step_names[out->step], r->error);
}

int mqr_http_test(const mqr_http_config_t *cfg, uint32_t timeout_ms, mqr_http_test_result_t *out)
{
    if (!out)
        return MQR_EINVAL;
    memset(out, 0, sizeof *out);
    if (!cfg) {
        out->status = MQR_EINVAL;
        snprintf(out->message, sizeof out->message, "no configuration");
        return MQR_EINVAL;
    }
    uint64_t t0 = mqr_http_now_ms();
    if (!timeout_ms)
        timeout_ms = MQR_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
    if (timeout_ms > UINT32_MAX / 3u)
        timeout_ms = UINT32_MAX / 3u;
    test_state_t st = {0, out};
    mqr_http_config_t c = *cfg;
    c.method = MQR_HTTP_GET;
    c.pool_size = 1;
    c.max_attempts = 1;
    c.connect_timeout_ms = timeout_ms;
    c.request_timeout_ms = timeout_ms;
    c.ttl_ms = timeout_ms * 3u;
    c.max_queue_count = 1;
    c.max_queue_bytes = 0;
    c.on_done = on_test_done;
    c.ud = &st;
    mqr_http_client_t *client = NULL;
    mqr_diag_t d;
    int rc = mqr_http_create(&c, &client, &d);
    if (rc != MQR_OK) {
        out->status = rc;
        out->step = rc == MQR_ERESOLVE ? MQR_HTTP_STEP_RESOLVE
                    : rc == MQR_ETLS   ? MQR_HTTP_STEP_TLS
                                       : MQR_HTTP_STEP_NONE;
        snprintf(out->message, sizeof out->message, "%s failed: %.200s", step_names[out->step], d.message);
        out->elapsed_ms = (uint32_t)(mqr_http_now_ms() - t0);
        return rc;
    }
    mqr_http_request_t rq;
    memset(&rq, 0, sizeof rq);
    rc = mqr_http_submit(client, &rq, mqr_http_now_ms(), NULL, &d);
    if (rc != MQR_OK) {
        out->status = rc;
        snprintf(out->message, sizeof out->message, "request failed: %.200s", d.message);
    }
    while (rc == MQR_OK && !st.done) {
        if (mqr_http_poll(client, 100) != MQR_OK) {
            rc = MQR_EIO;
            st.done = 1;
            out->status = rc;
            out->step = MQR_HTTP_STEP_CONNECT;
            snprintf(out->message, sizeof out->message, "poll failed");
        }
    }
    mqr_http_destroy(client);
    out->elapsed_ms = (uint32_t)(mqr_http_now_ms() - t0);
    return out->status;
}
