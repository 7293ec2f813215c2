/* SPDX-License-Identifier: MIT */
/*
 * bench_http.c - requests per second through the HTTP client over keep-alive
 * connections to a local server.
 *
 *   bench_http [requests] [connections] [body bytes]   (100000 8 64)
 *
 * It forks the test HTTP/1.1 server (tests/support/http_server.h: one poll()
 * loop, a 200 with no body for each complete request, the answers to one read
 * in one write) on a free 127.0.0.1 port, submits
 * every request at once, drives the client with mqr_http_poll until all have
 * completed and prints one JSON line with the rate. Client and server share
 * the machine, so the figure is a floor for the client alone. The server is a
 * separate process so that this one stays single-threaded, as a host's would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "mqttrule.h"

static void on_done(void *ud, const mqr_http_result_t *r)
{
    long *counts = ud;
    counts[r->outcome]++;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 100000;
    unsigned conns = argc > 2 ? (unsigned)atoi(argv[2]) : 8;
    size_t body_len = argc > 3 ? (size_t)atol(argv[3]) : 64;

    http_server_t srv = {.steps = HTTP_SERVER_FOREVER, .max_conns = HTTP_SERVER_MAX_CONNS,
                         .process = 1};
    if (http_server_start(&srv) != 0) {
        perror("bench_http: server");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/bench", srv.port);
    long counts[3] = {0, 0, 0};
    mqr_http_config_t cfg;
    mqr_http_config_init(&cfg);
    cfg.url = url;
    cfg.pool_size = conns;
    cfg.max_queue_count = (uint32_t)total;
    cfg.max_queue_bytes = (uint64_t)total * (body_len + 256);
    cfg.on_done = on_done;
    cfg.ud = counts;
    mqr_http_client_t *c;
    mqr_diag_t d;
    if (mqr_http_create(&cfg, &c, &d) != MQR_OK) {
        fprintf(stderr, "bench_http: %s\n", d.message);
        http_server_stop(&srv);
        return 1;
    }
    char *body = malloc(body_len + 1);
    memset(body, 'x', body_len);
    mqr_http_request_t rq = {.body = body, .body_len = body_len};
    uint64_t t0 = mqr_http_now_ms();
    for (long i = 0; i < total; i++)
        mqr_http_submit(c, &rq, t0, NULL, NULL);
    uint64_t t1 = mqr_http_now_ms();
    while (mqr_http_pending(c) > 0)
        mqr_http_poll(c, 1000);
    uint64_t t2 = mqr_http_now_ms();
    mqr_http_destroy(c);
    http_server_stop(&srv);
    free(body);
    double secs = (double)(t2 - t0) / 1000.0;
    printf("{\"bench\":\"http\",\"requests\":%ld,\"connections\":%u,\"body_bytes\":%zu,"
           "\"success\":%ld,\"failed\":%ld,\"dropped\":%ld,\"submit_ms\":%llu,\"total_ms\":%llu,"
           "\"requests_per_s\":%.0f}\n",
           total, conns, body_len, counts[0], counts[1], counts[2], (unsigned long long)(t1 - t0),
           (unsigned long long)(t2 - t0), secs > 0 ? (double)total / secs : 0.0);
    return counts[0] == total ? 0 : 1;
}
