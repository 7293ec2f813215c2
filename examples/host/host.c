/* SPDX-License-Identifier: MIT */
/*
 * host.c - a complete host of the library: one epoll loop, one TCP listener
 * whose clients' CONNECT packets are decoded with the codec and answered with
 * a CONNACK, and the source document's rule POSTing every client.connack
 * event to an HTTP service. The engine's socket-state and timer callbacks
 * keep its HTTP descriptors in the same epoll set (docs/engine.md).
 *
 * Usage: mqttrule-host PORT URL [COUNT]. With COUNT it exits after COUNT
 * events have been delivered (0) or failed (1), printing the rule's metrics.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mqttrule.h>

#define MAXFD 4096
typedef struct client { size_t n; uint8_t buf[2048]; } client_t;
static client_t *clients[MAXFD]; /* by descriptor: an MQTT client, else the engine's */
static int ep;                    /* the epoll set */
static int64_t due = -1;          /* when mqr_engine_process is due (monotonic ms) */

/* The engine's socket-state callback: watch fd for `events`, 0: stop. */
static void on_sock(void *ud, int fd, uint32_t events)
{
    (void)ud;
    struct epoll_event e = {.events = ((events & MQR_ENGINE_READ) ? EPOLLIN : 0u) |
                                      ((events & MQR_ENGINE_WRITE) ? EPOLLOUT : 0u), .data.fd = fd};
    if (events == 0)
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    else if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) != 0)
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

/* The engine's timer callback: call mqr_engine_process in ms (-1: never). */
static void on_timer(void *ud, int64_t ms)
{
    (void)ud;
    due = ms < 0 ? -1 : (int64_t)mqr_http_now_ms() + ms;
}

/* Read from a client; once its CONNECT is complete (or broken), emit
 * client.connack, answer, and close: this host keeps no sessions. */
static void client_read(mqr_engine_t *eng, int fd)
{
    client_t *c = clients[fd];
    ssize_t r = read(fd, c->buf + c->n, sizeof c->buf - c->n);
    c->n += r > 0 ? (size_t)r : 0;
    mqr_packet_t pkt;
    size_t size;
    int rc = mqr_packet_decode(c->buf, c->n, NULL, &pkt, &size, NULL);
    if (r > 0 && rc == MQR_NEED_MORE && c->n < sizeof c->buf)
        return;
    int ok = rc == MQR_OK && pkt.type == MQR_PKT_CONNECT;
    mqr_connack_input_t in;
    mqr_event_connack_init(&in);
    in.connect = rc == MQR_OK ? &pkt : NULL;
    in.complete = ok;
    in.reason_code = ok ? 0x00 : 0x81; /* malformed packet */
    struct sockaddr_storage ps, ls;
    socklen_t pl = sizeof ps, ll = sizeof ls;
    if (getpeername(fd, (struct sockaddr *)&ps, &pl) == 0)
        mqr_sockaddr_from_sys(&ps, pl, &in.peer);
    if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
        mqr_sockaddr_from_sys(&ls, ll, &in.sock);
    if (c->n > 0) /* a connection that sent nothing is no CONNECT */
        mqr_engine_emit_connack(eng, &in, NULL, NULL);
    mqr_packet_t ack = {.type = MQR_PKT_CONNACK, .proto_ver = ok ? pkt.proto_ver : 4};
    uint8_t out[16];
    if (ok && mqr_packet_encode(&ack, out, sizeof out, &size, NULL) == MQR_OK)
        (void)!write(fd, out, size);
    close(fd); /* leaves the epoll set with it */
    free(c);
    clients[fd] = NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fprintf(stderr, "usage: %s PORT URL [COUNT]\n", argv[0]), 2;
    uint64_t count = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    mqr_engine_options_t o;
    mqr_engine_options_init(&o);
    o.sock_fn = on_sock;
    o.timer_fn = on_timer;
    mqr_engine_t *eng = NULL;
    mqr_diag_t d;
    mqr_engine_rule_def_t rule = {.id = "connack_to_http", .enabled = 1,
        .sql = "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\""};
    mqr_http_action_config_t http;
    memset(&http, 0, sizeof http);
    mqr_http_config_init(&http.http);
    http.http.url = argv[2];
    uint32_t action = 0;
    ep = epoll_create1(0);
    if (mqr_engine_create(&o, &eng) != MQR_OK || mqr_engine_rule_add(eng, &rule, &d) != MQR_OK ||
        mqr_engine_action_add_http(eng, rule.id, &http, &action, &d) != MQR_OK)
        return fprintf(stderr, "mqttrule-host: %s\n", eng ? d.message : "out of memory"), 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct epoll_event le = {.events = EPOLLIN, .data.fd = lfd};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 128) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le) != 0)
        return perror("mqttrule-host: listen"), 1;
    mqr_action_metrics_t m = {0};
    while (!count || m.success + m.failed + m.dropped < count) {
        struct epoll_event evs[64];
        int64_t wait = due < 0 ? 1000 : due - (int64_t)mqr_http_now_ms();
        int n = epoll_wait(ep, evs, 64, wait < 0 ? 0 : (int)wait);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t ev = evs[i].events, err = ev & (EPOLLERR | EPOLLHUP);
            if (fd == lfd) {
                int cfd = accept(lfd, NULL, NULL);
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                if (cfd >= 0 && cfd < MAXFD && (clients[cfd] = calloc(1, sizeof(client_t))) &&
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ce) == 0)
                    continue;
                if (cfd >= 0)
                    close(cfd);
            } else if (fd < MAXFD && clients[fd]) {
                client_read(eng, fd);
            } else {
                mqr_engine_fd_ready(eng, fd,
                                    ((ev & EPOLLIN) || err ? MQR_ENGINE_READ : 0u) |
                                        ((ev & EPOLLOUT) || err ? MQR_ENGINE_WRITE : 0u),
                                    mqr_http_now_ms());
            }
        }
        if (due >= 0 && (int64_t)mqr_http_now_ms() >= due) {
            due = -1; /* one-shot: processing tells the next timeout */
            mqr_engine_process(eng, mqr_http_now_ms());
        }
        mqr_engine_action_metrics(eng, action, &m);
    }
    char json[2048];
    size_t len;
    if (mqr_engine_rule_metrics_json(eng, rule.id, json, sizeof json, &len) == MQR_OK)
        printf("%s\n", json);
    mqr_engine_destroy(eng);
    return m.success == count ? 0 : 1;
}
