/* SPDX-License-Identifier: MIT */
/*
 * http_sink: the HTTP server of tests/bench/side_by_side.py's second load.
 *
 * Listens on 127.0.0.1:PORT (argv[1]), answers every HTTP/1.1 request with
 * "200 OK", an empty body and keep-alive, and counts the requests. `GET /count`
 * is answered with "COUNT LAST" in the body: the requests counted so far (that
 * one excluded) and the CLOCK_MONOTONIC time of the last one in seconds, the
 * clock Python's time.monotonic() reads. One thread, epoll, level-triggered;
 * a connection's unparsed bytes stay in its fixed buffer, so a request header
 * plus body must fit in 64 KiB. Not part of the build: the script compiles it
 * with the system's cc, and stops it with SIGTERM.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 65536
#define MAX_FD 4096

typedef struct client {
    char buf[BUF_CAP];
    size_t len;
} client_t;

static client_t *g_clients[MAX_FD];
static unsigned long long g_count;
static double g_last;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Answer every complete request in c's buffer; returns -1 when fd must close. */
static int serve(int fd, client_t *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
    char out[8192];
    size_t olen = 0, off = 0;
    for (;;) {
        char *start = c->buf + off;
        size_t avail = c->len - off;
        char *end = memmem(start, avail, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head = (size_t)(end - start) + 4;
        size_t body = 0;
        for (char *p = start; p < end; p++) {
            if ((p == start || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
                body = strtoul(p + 15, NULL, 10);
                break;
            }
        }
        if (head + body > avail)
            break;
        if (olen + 128 > sizeof out) {
            if (write(fd, out, olen) != (ssize_t)olen)
                return -1;
            olen = 0;
        }
        if (strncmp(start, "GET /count", 10) == 0) {
            char b[64];
            int n = snprintf(b, sizeof b, "%llu %.6f", g_count, g_last);
            olen += (size_t)snprintf(out + olen, sizeof out - olen,
                                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, b);
        } else {
            g_count++;
            g_last = mono();
            memcpy(out + olen, ok, sizeof ok - 1);
            olen += sizeof ok - 1;
        }
        off += head + body;
    }
    if (olen > 0 && write(fd, out, olen) != (ssize_t)olen)
        return -1;
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return c->len == BUF_CAP ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: http_sink PORT\n");
        return 64;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
        perror("http_sink: listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int cfd = accept(ls, NULL, NULL);
                if (cfd < 0)
                    continue;
                if (cfd >= MAX_FD || !(g_clients[cfd] = calloc(1, sizeof(client_t)))) {
                    close(cfd);
                    continue;
                }
                ev.events = EPOLLIN;
                ev.data.fd = cfd;
                epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                continue;
            }
            client_t *c = g_clients[fd];
            ssize_t r = read(fd, c->buf + c->len, BUF_CAP - c->len);
            if (r > 0) {
                c->len += (size_t)r;
                if (serve(fd, c) == 0)
                    continue;
            } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            close(fd);
            free(c);
            g_clients[fd] = NULL;
        }
    }
}
