/* SPDX-License-Identifier: MIT */
/*
 * http_server.c - the small HTTP/1.1 server of the unit tests and benchmarks
 * (API and lifecycle in http_server.h).
 *
 * One poll() loop over a wake-up pipe, the listening socket and up to
 * max_conns connections. Each connection has a fixed 64 KiB buffer; after a
 * read, every complete request at its start (head up to "\r\n\r\n", plus a
 * body of Content-Length bytes) is recorded and answered by the next step of
 * the script, the answers of one read going out in one send. The loop ends
 * when the script is done or when the wake-up pipe's write end is closed.
 *
 * The same loop runs in a thread (unit tests: the test reads the record
 * after the join) or in a forked child (benchmarks: the measured process
 * keeps a single thread, so glibc's single-thread fast paths in malloc and
 * stdio stay on, as they were when each benchmark forked its own server).
 * The child writes its record into a shared anonymous mapping that stop
 * copies back. A child whose parent dies sees the pipe close and exits.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONN_BUF 65536
#define OUT_BUF 4096

typedef struct http_server_conn {
    int fd;
    size_t len;
    char buf[CONN_BUF];
} conn_t;

/* The loop's state: the configuration is read from the http_server_t, the
 * record is written to rec (the caller's, or the shared mapping). */
typedef struct loop {
    const http_server_t *s;
    http_server_record_t *rec;
    conn_t *conns;
    int n, max;
    int step;     /* the next step of the script */
    int accepted; /* connections accepted so far */
    size_t olen;
    char out[OUT_BUF];
} loop_t;

static int script_done(const loop_t *L)
{
    return L->s->steps >= 0 && L->step >= L->s->steps;
}

/* The response of the current step (only when it is not a close). */
static const char *step_response(const loop_t *L)
{
    const char *r = L->s->steps < 0 ? L->s->responses[0]
                    : L->step < HTTP_SERVER_MAX_STEPS ? L->s->responses[L->step]
                                                      : NULL;
    return r ? r : HTTP_SERVER_EMPTY_200;
}

static int step_is_close(const loop_t *L)
{
    return !script_done(L) && L->s->steps >= 0 && L->step < HTTP_SERVER_MAX_STEPS &&
           L->s->responses[L->step] && L->s->responses[L->step][0] == '\0';
}

/* Sleep ms milliseconds unless the wake-up pipe closes first. 0: woken. */
static int pause_ms(const loop_t *L, long ms)
{
    struct pollfd p = {.fd = L->s->wake_[0], .events = POLLIN};
    return poll(&p, 1, (int)ms) == 0;
}

/* Send all of data; 0 when the connection failed. */
static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        data += w;
        len -= (size_t)w;
    }
    return 1;
}

/* Send what is queued for fd and empty the queue; 0 when the send failed. */
static int flush(loop_t *L, int fd)
{
    int ok = L->olen == 0 || send_all(fd, L->out, L->olen);
    L->olen = 0;
    return ok;
}

/* Queue data for fd, sending what is queued first when it does not fit. */
static int emit(loop_t *L, int fd, const char *data, size_t len)
{
    if (L->olen + len > sizeof L->out && !flush(L, fd))
        return 0;
    if (len > sizeof L->out)
        return send_all(fd, data, len);
    memcpy(L->out + L->olen, data, len);
    L->olen += len;
    return 1;
}

/* Count one request and append it to the record (whole, or not at all when
 * it does not fit); it becomes the `last` request. */
static void record(loop_t *L, const char *req, size_t len)
{
    http_server_record_t *r = L->rec;
    r->requests++;
    if (r->got_len + len < sizeof r->got) {
        memcpy(r->got + r->got_len, req, len);
        r->got_len += len;
        r->got[r->got_len] = '\0';
    }
    snprintf(r->last, sizeof r->last, "%.*s", (int)len, req);
}

/* Length of the complete request at the start of buf, or 0 when more bytes
 * are needed. buf[len] is '\0'. */
static size_t request_len(const char *buf, size_t len)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    const char *cl = strstr(buf, "Content-Length: ");
    size_t total = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 16) : 0);
    return total <= len ? total : 0;
}

/* Record and answer every complete request in c's buffer, then keep the
 * rest. 0 when c is to be closed: a close step, a failed send, the script
 * done, or the server woken during a delay. */
static int answer(loop_t *L, conn_t *c)
{
    size_t at = 0, req;
    int keep = 1;
    c->buf[c->len] = '\0';
    while (keep && !script_done(L) && (req = request_len(c->buf + at, c->len - at)) > 0) {
        record(L, c->buf + at, req);
        at += req;
        if (L->s->delay_ms > 0 && (!flush(L, c->fd) || !pause_ms(L, L->s->delay_ms))) {
            keep = 0;
            break;
        }
        const char *resp = step_response(L);
        keep = emit(L, c->fd, resp, strlen(resp));
        if (L->s->steps >= 0)
            L->step++;
        if (step_is_close(L)) {
            L->step++;
            keep = 0;
        }
    }
    if (!flush(L, c->fd))
        keep = 0;
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return keep;
}

/* Close connection i and move the last connection into its slot. */
static void close_conn(loop_t *L, int i)
{
    close(L->conns[i].fd);
    L->n--;
    if (i != L->n) {
        L->conns[i].fd = L->conns[L->n].fd;
        L->conns[i].len = L->conns[L->n].len;
        memcpy(L->conns[i].buf, L->conns[L->n].buf, L->conns[L->n].len);
    }
}

/* Accept one connection; a close step due now closes it at once (and is
 * done), as a scripted close applies to the connection that comes next. */
static void accept_conn(loop_t *L, int lfd)
{
    int fd = accept(lfd, NULL, NULL), one = 1;
    if (fd < 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    L->accepted++;
    L->rec->connections++;
    if (step_is_close(L)) {
        L->step++;
        close(fd);
        return;
    }
    L->conns[L->n].fd = fd;
    L->conns[L->n].len = 0;
    L->n++;
}

/* Serve until the script is done (and at least one connection came) or the
 * wake-up pipe closes; then close every connection. Connections are visited
 * from the last, so the one moved into a closed slot was already visited. */
static void run(loop_t *L)
{
    struct pollfd p[2 + HTTP_SERVER_MAX_CONNS];
    while (!(script_done(L) && L->accepted > 0)) {
        p[0] = (struct pollfd){.fd = L->s->wake_[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = L->s->lfd_, .events = L->n < L->max ? POLLIN : 0};
        for (int i = 0; i < L->n; i++)
            p[2 + i] = (struct pollfd){.fd = L->conns[i].fd, .events = POLLIN};
        int nconns = L->n;
        if (poll(p, (nfds_t)(2 + nconns), -1) < 0)
            continue;
        if (p[0].revents)
            break;
        for (int i = nconns - 1; i >= 0; i--) {
            if (!p[2 + i].revents)
                continue;
            conn_t *c = &L->conns[i];
            ssize_t r = read(c->fd, c->buf + c->len, CONN_BUF - 1 - c->len);
            if (r > 0)
                c->len += (size_t)r;
            if (r <= 0 || !answer(L, c))
                close_conn(L, i);
        }
        if (p[1].revents & POLLIN)
            accept_conn(L, L->s->lfd_);
    }
    while (L->n > 0)
        close_conn(L, L->n - 1);
}

/* Run the loop for s, recording into rec, then close done_[1] so that a
 * waiting http_server_stop sees the end. */
static void serve(http_server_t *s, http_server_record_t *rec)
{
    loop_t L = {.s = s, .rec = rec, .conns = s->conns_, .max = s->max_conns};
    run(&L);
    close(s->done_[1]);
}

static void *serve_thread(void *arg)
{
    http_server_t *s = arg;
    serve(s, &s->rec);
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Undo whatever of start is done (every field that is set). */
static void release(http_server_t *s)
{
    close_fd(&s->lfd_);
    for (int i = 0; i < 2; i++) {
        close_fd(&s->wake_[i]);
        close_fd(&s->done_[i]);
    }
    if (s->shared_) {
        s->rec = *s->shared_;
        munmap(s->shared_, sizeof *s->shared_);
        s->shared_ = NULL;
    }
    free(s->conns_);
    s->conns_ = NULL;
}

/* Listen on 127.0.0.1 at a port the kernel picks and set s->port. -1 with
 * errno set on failure (s->lfd_ is left for release to close). */
static int listen_loopback(http_server_t *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    s->lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd_ < 0 || bind(s->lfd_, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd_, 128) != 0 || getsockname(s->lfd_, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return 0;
}

int http_server_start(http_server_t *s)
{
    memset(&s->rec, 0, sizeof s->rec);
    s->lfd_ = s->wake_[0] = s->wake_[1] = s->done_[0] = s->done_[1] = -1;
    s->shared_ = NULL;
    s->conns_ = NULL;
    if (s->max_conns <= 0)
        s->max_conns = 1;
    if (s->max_conns > HTTP_SERVER_MAX_CONNS) {
        errno = EINVAL;
        return -1;
    }
    s->conns_ = malloc((size_t)s->max_conns * sizeof *s->conns_);
    if (!s->conns_ || pipe(s->wake_) != 0 || pipe(s->done_) != 0 || listen_loopback(s) != 0)
        goto fail;
    if (!s->process) {
        int rc = pthread_create(&s->th_, NULL, serve_thread, s);
        if (rc == 0)
            return 0;
        errno = rc;
        goto fail;
    }
    s->shared_ = mmap(NULL, sizeof *s->shared_, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->shared_ == MAP_FAILED) {
        s->shared_ = NULL;
        goto fail;
    }
    memset(s->shared_, 0, sizeof *s->shared_);
    s->pid_ = fork();
    if (s->pid_ < 0)
        goto fail;
    if (s->pid_ == 0) {
        close(s->wake_[1]);
        close(s->done_[0]);
        serve(s, s->shared_);
        _exit(0);
    }
    /* The child owns the socket and its ends of the pipes now. */
    close_fd(&s->lfd_);
    close_fd(&s->wake_[0]);
    close_fd(&s->done_[1]);
    return 0;
fail: {
    int e = errno;
    release(s);
    errno = e;
    return -1;
}
}

void http_server_stop(http_server_t *s)
{
    if (s->steps >= 0) {
        struct pollfd p = {.fd = s->done_[0], .events = POLLIN};
        while (poll(&p, 1, HTTP_SERVER_GRACE_MS) < 0 && errno == EINTR)
            continue;
    }
    close_fd(&s->wake_[1]);
    if (s->process) {
        while (waitpid(s->pid_, NULL, 0) < 0 && errno == EINTR)
            continue;
    } else {
        pthread_join(s->th_, NULL);
        s->done_[1] = -1; /* closed by the thread */
    }
    release(s);
}
