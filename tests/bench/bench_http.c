/* SPDX-License-Identifier: MIT */
/*
 * bench_http.c - requests per second through the HTTP client over keep-alive
 * connections to a local server.
 *
 *   bench_http [requests] [connections] [body bytes]   (100000 8 64)
 *
 * It forks a minimal HTTP/1.1 server (one poll() loop, a fixed 200 answer
 * with no body for each complete request) on a free 127.0.0.1 port, submits
 * every request at once, drives the client with mqr_http_poll until all have
 * completed and prints one JSON line with the rate. Client and server share
 * the machine, so the figure is a floor for the client alone.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mqttrule.h"

#define SERVER_CONNS 64
#define SERVER_BUF 65536

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

typedef struct sconn {
    char buf[SERVER_BUF];
    size_t len;
} sconn_t;

/* Answer every complete request in c (head plus Content-Length body). 0 when
 * the connection should be closed. */
static int serve_buffered(int fd, sconn_t *c)
{
    char out[sizeof reply * 64];
    size_t olen = 0, at = 0;
    for (;;) {
        c->buf[c->len] = 0;
        char *end = strstr(c->buf + at, "\r\n\r\n");
        if (!end)
            break;
        char *cl = strstr(c->buf + at, "Content-Length: ");
        size_t body = cl && cl < end ? (size_t)atol(cl + 16) : 0;
        size_t total = (size_t)(end + 4 - (c->buf + at)) + body;
        if (at + total > c->len)
            break;
        at += total;
        if (olen + sizeof reply - 1 > sizeof out) {
            if (write(fd, out, olen) != (ssize_t)olen)
                return 0;
            olen = 0;
        }
        memcpy(out + olen, reply, sizeof reply - 1);
        olen += sizeof reply - 1;
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return olen == 0 || write(fd, out, olen) == (ssize_t)olen;
}

static void server_loop(int lfd)
{
    static sconn_t conns[SERVER_CONNS + 1];
    struct pollfd p[SERVER_CONNS + 1];
    int n = 0;
    p[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (;;) {
        if (poll(p, (nfds_t)n + 1, -1) < 0)
            continue;
        if ((p[0].revents & POLLIN) && n < SERVER_CONNS) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                p[++n] = (struct pollfd){.fd = fd, .events = POLLIN};
                conns[n].len = 0;
            }
        }
        for (int i = 1; i <= n; i++) {
            if (!p[i].revents)
                continue;
            ssize_t r = read(p[i].fd, conns[i].buf + conns[i].len, SERVER_BUF - 1 - conns[i].len);
            if (r > 0)
                conns[i].len += (size_t)r;
            if (r <= 0 || !serve_buffered(p[i].fd, &conns[i])) {
                close(p[i].fd);
                p[i] = p[n];
                conns[i] = conns[n];
                n--;
                i--;
            }
        }
    }
}

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

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 128) != 0) {
        perror("bench_http: listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    pid_t pid = fork();
    if (pid == 0) {
        server_loop(lfd);
        _exit(0);
    }
    close(lfd);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/bench", ntohs(a.sin_port));
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
        kill(pid, SIGTERM);
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
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    free(body);
    double secs = (double)(t2 - t0) / 1000.0;
    printf("{\"bench\":\"http\",\"requests\":%ld,\"connections\":%u,\"body_bytes\":%zu,"
           "\"success\":%ld,\"failed\":%ld,\"dropped\":%ld,\"submit_ms\":%llu,\"total_ms\":%llu,"
           "\"requests_per_s\":%.0f}\n",
           total, conns, body_len, counts[0], counts[1], counts[2], (unsigned long long)(t1 - t0),
           (unsigned long long)(t2 - t0), secs > 0 ? (double)total / secs : 0.0);
    return counts[0] == total ? 0 : 1;
}
