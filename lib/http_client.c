/* SPDX-License-Identifier: MIT */
/*
 * http_client.c - the non-blocking HTTP/1.1 client: a bounded message queue,
 * a pool of keep-alive connections, retries with backoff, and the host-loop
 * interface (descriptors, timeout, readiness, process).
 *
 * How it works. mqr_http_submit serialises the whole request (request line,
 * headers, body) into one buffer and queues it; it never touches a socket.
 * The queue is a list ordered by expiry time, so the oldest message is at the
 * head and TTL expiry is a check of the head. mqr_http_process (also run after
 * every readiness report) expires messages, then hands queued messages to idle
 * connections, opens new ones up to the pool size, and then pipelines onto
 * busy ones. A connection goes through the states
 *
 *   FREE -> CONNECTING -> [TLS] -> BUSY -> IDLE -> BUSY -> ... -> FREE
 *
 * and any error closes it. BUSY carries the requests in k->pipe in order:
 * the first nsent are written and await their responses, which HTTP/1.1
 * returns in request order, so each response answers pipe[0]; the rest are
 * being written. A connection takes more than one request (up to
 * enable_pipelining, EMQX's name) only once the server has answered on it
 * with an HTTP/1.1 keep-alive response, and only when no connection is idle
 * or free. When a connection ends with requests unanswered (the server
 * closed it, an error, a response with Connection: close), those behind the
 * one that failed are queued again: counted as an attempt when they were
 * written (so `retried` counts them when they go again), not when they were
 * not. An IDLE connection is closed after max_inactive_ms (EMQX's
 * max_inactive), through the close hook, so the engine's host stops watching
 * its descriptor. A response is parsed by http_parse.c: the head in a
 * bounded per-connection buffer, the body consumed and discarded.
 *
 * Retry policy (spec §9.2): 2xx is success; 429, 503 and transport errors
 * (refused, reset, closed, timeout, TLS) put the message back in the queue
 * and pause all dispatching for the client's backoff, which starts at
 * backoff_initial_ms, doubles per consecutive failure up to backoff_max_ms
 * and resets on a success; other statuses fail at once. A message whose TTL
 * passes while queued is dropped as expired; one whose TTL passes in flight
 * is reported expired at that moment and its response, if one still comes,
 * counts as a late reply. A keep-alive connection that the server closed
 * before sending a single byte of the response is retried at once without
 * counting an attempt, as browsers and libcurl do.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"

#define MAX_ADDRS 8

/* Connection states. */
enum { C_FREE, C_CONNECTING, C_TLS, C_BUSY, C_IDLE };

typedef struct req {
    struct req *prev, *next;  /* queue links */
    uint64_t id;
    void *ud;
    char *wire;               /* the serialised request */
    size_t wire_len;
    uint64_t submitted_at;
    uint64_t expire_at;
    uint32_t attempts;
    int32_t http_status;
    int32_t status;
    int32_t step;
    int finished;             /* the callback has run (expired in flight) */
    char err[MQR_DIAG_MESSAGE_MAX];
} req_t;

typedef struct conn {
    int fd;
    int state;                /* C_* */
    uint32_t want;            /* readiness waited for: MQR_HTTP_READ / _WRITE */
    uint32_t responses;       /* responses completed on this connection */
    req_t **pipe;             /* c->pipelining slots: the requests on the connection in
                                 order; pipe[0] is the one the next response answers */
    uint32_t npipe;           /* requests on the connection */
    uint32_t nsent;           /* of them written completely (pipe[0..nsent)) */
    size_t sent;              /* bytes of pipe[nsent]->wire written */
    size_t received;          /* bytes received of the response to pipe[0] */
    uint64_t deadline;        /* connect timeout, or the request timeout of pipe[0] */
    uint64_t idle_since;      /* C_IDLE: since when */
    int may_pipeline;         /* the server answered HTTP/1.1 with keep-alive */
    char *rbuf;               /* max_response_head bytes */
    size_t rlen;
    int in_body;
    mqr__http_head_t head;
    mqr__http_body_t body;
    char body_start[48];      /* the first body bytes of the response, for an error text */
    size_t body_start_len;
#if MQR_HAVE_OPENSSL
    mqr__http_tls_t *tls;
#endif
} conn_t;

struct mqr_http_client {
    mqr_allocator_t alloc;
    mqr_http_done_fn on_done;
    void *ud;
    int32_t method;
    uint32_t max_queue_count;
    uint64_t max_queue_bytes;
    uint32_t request_timeout_ms, connect_timeout_ms, ttl_ms;
    uint32_t backoff_initial_ms, backoff_max_ms, max_attempts, max_response_head;
    uint32_t pipelining;      /* requests in flight on one connection, >= 1 */
    uint32_t max_inactive_ms; /* an idle connection is closed after this */
    char *url;                /* copy; `u` points into it */
    size_t url_size;
    mqr__http_url_t u;
    char *host;               /* NUL-terminated host, for TLS and messages */
    size_t host_size;
    char *authority;          /* Host header value */
    size_t authority_size;
    mqr_http_header_t *headers; /* client headers, one allocation with their text */
    size_t headers_size;
    uint32_t header_count;
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addr_lens[MAX_ADDRS];
    int naddrs;
    int next_addr;
    conn_t *conns;
    uint32_t pool_size;
    struct pollfd *pfds;
    req_t *head, *tail;       /* queue, ordered by expire_at */
    uint64_t held_count, held_bytes;
    uint64_t next_id;
    uint64_t resume_at;       /* no dispatching before this time */
    uint32_t backoff_ms;      /* the next pause */
    mqr_http_metrics_t m;
    mqr__http_close_fn close_fn; /* the engine's close hook, or NULL */
    void *close_ud;
#if MQR_HAVE_OPENSSL
    mqr__http_tls_ctx_t *tls_ctx;
#endif
};

static const char *const method_names[] = {"", "POST", "PUT", "GET", "DELETE"};

void mqr__http_set_close_hook(mqr_http_client_t *c, mqr__http_close_fn fn, void *ud)
{
    c->close_fn = fn;
    c->close_ud = ud;
}

uint64_t mqr_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mqr_http_config_init(mqr_http_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->method = MQR_HTTP_POST;
    cfg->max_queue_count = MQR_HTTP_DEFAULT_QUEUE_COUNT;
    cfg->max_queue_bytes = MQR_HTTP_DEFAULT_QUEUE_BYTES;
    cfg->request_timeout_ms = MQR_HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->connect_timeout_ms = MQR_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->ttl_ms = MQR_HTTP_DEFAULT_TTL_MS;
    cfg->backoff_initial_ms = MQR_HTTP_DEFAULT_BACKOFF_INITIAL_MS;
    cfg->backoff_max_ms = MQR_HTTP_DEFAULT_BACKOFF_MAX_MS;
    cfg->pool_size = MQR_HTTP_DEFAULT_POOL_SIZE;
    cfg->max_response_head = MQR_HTTP_DEFAULT_MAX_RESPONSE_HEAD;
    cfg->enable_pipelining = MQR_HTTP_DEFAULT_PIPELINING;
    cfg->max_inactive_ms = MQR_HTTP_DEFAULT_MAX_INACTIVE_MS;
}

/* ---- queue ------------------------------------------------------------------- */

/* Insert r keeping the queue ordered by expire_at; equal times keep arrival
 * order. Searching from the tail makes the usual append O(1). */
static void queue_insert(mqr_http_client_t *c, req_t *r)
{
    req_t *after = c->tail;
    while (after && after->expire_at > r->expire_at)
        after = after->prev;
    r->prev = after;
    r->next = after ? after->next : c->head;
    if (r->next)
        r->next->prev = r;
    else
        c->tail = r;
    if (after)
        after->next = r;
    else
        c->head = r;
}

static req_t *queue_pop(mqr_http_client_t *c)
{
    req_t *r = c->head;
    if (r) {
        c->head = r->next;
        if (c->head)
            c->head->prev = NULL;
        else
            c->tail = NULL;
        r->next = r->prev = NULL;
    }
    return r;
}

static void req_free(mqr_http_client_t *c, req_t *r)
{
    mqr__free(&c->alloc, r->wire, r->wire_len);
    mqr__free(&c->alloc, r, sizeof *r);
}

/* Where a message is when it ends, for the gauges. */
enum { AT_NOWHERE, AT_QUEUE, AT_FLIGHT };

/* End a message: update the counters, run the callback once, and free it
 * unless a connection still carries it (then it is only marked finished). */
static void finish(mqr_http_client_t *c, req_t *r, int where, int outcome, int reason,
                   uint64_t now, int keep)
{
    if (where == AT_QUEUE) {
        c->m.queuing--;
        c->m.queuing_bytes -= r->wire_len;
    } else if (where == AT_FLIGHT) {
        c->m.inflight--;
    }
    if (where != AT_NOWHERE) {
        c->held_count--;
        c->held_bytes -= r->wire_len;
    }
    if (outcome == MQR_HTTP_SUCCESS) {
        c->m.success++;
        c->m.retried_success += r->attempts > 1;
    } else if (outcome == MQR_HTTP_FAILED) {
        c->m.failed++;
        c->m.retried_failed += r->attempts > 1;
    } else {
        c->m.dropped++;
        c->m.dropped_queue_full += reason == MQR_HTTP_REASON_QUEUE_FULL;
        c->m.dropped_expired += reason == MQR_HTTP_REASON_EXPIRED;
        c->m.dropped_other += reason == MQR_HTTP_REASON_OTHER;
    }
    mqr_http_result_t res = {
        .id = r->id,
        .request_ud = r->ud,
        .outcome = outcome,
        .reason = reason,
        .http_status = r->http_status,
        .status = outcome == MQR_HTTP_SUCCESS ? MQR_OK : r->status,
        .step = r->step,
        .attempts = r->attempts,
        .elapsed_ms = now > r->submitted_at ? now - r->submitted_at : 0,
        .error = outcome == MQR_HTTP_SUCCESS ? "" : r->err,
    };
    r->finished = 1;
    c->on_done(c->ud, &res);
    if (!keep)
        req_free(c, r);
}

/* Record the error of the attempt that just ended. */
static void req_error(req_t *r, int status, int step, const char *fmt, const char *detail)
{
    r->status = status;
    r->step = step;
    snprintf(r->err, sizeof r->err, fmt, detail);
}

/* ---- connections ------------------------------------------------------------ */

/* Close k. Its requests stay in k->pipe[0..npipe) for the caller, which
 * reads npipe before the call (it is 0 afterwards). */
static void conn_close(mqr_http_client_t *c, conn_t *k)
{
#if MQR_HAVE_OPENSSL
    mqr__http_tls_free(k->tls);
    k->tls = NULL;
#endif
    if (k->fd >= 0 && c->close_fn)
        c->close_fn(c->close_ud, k->fd);
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    k->state = C_FREE;
    k->want = 0;
    k->npipe = 0;
    k->nsent = 0;
    k->rlen = 0;
    k->in_body = 0;
    k->responses = 0;
    k->may_pipeline = 0;
}

/* An attempt that may be repeated ended (transport error, 429, 503): end the
 * message if its attempts or TTL are used up, else queue it again. `count`
 * 0 takes back the attempt (a stale keep-alive connection, or a request
 * never written); `backoff` 1 pauses dispatching for the backoff. */
static void retry_or_end(mqr_http_client_t *c, req_t *r, uint64_t now, int count, int backoff)
{
    if (r->finished) {
        req_free(c, r);
        return;
    }
    if (!count)
        r->attempts--;
    if (c->max_attempts && r->attempts >= c->max_attempts) {
        finish(c, r, AT_FLIGHT, MQR_HTTP_FAILED, MQR_HTTP_REASON_NONE, now, 0);
        return;
    }
    if (now >= r->expire_at) {
        finish(c, r, AT_FLIGHT, MQR_HTTP_DROPPED, MQR_HTTP_REASON_EXPIRED, now, 0);
        return;
    }
    c->m.inflight--;
    c->m.queuing++;
    c->m.queuing_bytes += r->wire_len;
    queue_insert(c, r);
    if (backoff) {
        c->resume_at = now + c->backoff_ms;
        c->backoff_ms = c->backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms : c->backoff_ms * 2;
    }
}

/* Requeue the requests k->pipe[from..n) of a connection that ended before
 * answering them (k is closed already; n is its npipe before the close).
 * A request that was written counts the attempt (it is counted in `retried`
 * when sent again); one never written does not. No backoff: the attempt
 * that failed, if any, applied it. */
static void requeue_rest(mqr_http_client_t *c, conn_t *k, uint32_t from, uint32_t n,
                         uint32_t nsent, const req_t *cause, uint64_t now)
{
    for (uint32_t i = from; i < n; i++) {
        req_t *r = k->pipe[i];
        if (r->status == MQR_OK && cause)
            req_error(r, cause->status ? cause->status : MQR_EIO, r->step,
                      "pipelined behind a failed request: %.200s", cause->err);
        retry_or_end(c, r, now, i < nsent, 0);
    }
}

/* The attempt on connection k failed at the transport level: close k, retry
 * or end the message it was answering (pipe[0], whose status, step and err
 * are set) and requeue the requests pipelined behind it. */
static void conn_fail(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    req_t *r = k->pipe[0];
    int stale = k->responses > 0 && k->received == 0 && k->state == C_BUSY &&
                r->status != MQR_ETIMEOUT;
    if (r->status == MQR_ETIMEOUT)
        c->m.timeouts++;
    uint32_t n = k->npipe, nsent = k->nsent;
    conn_close(c, k);
    requeue_rest(c, k, 1, n, nsent, r, now);
    retry_or_end(c, r, now, !stale, !stale);
}

/* Fail with the text of errno-style code `e`. */
static void conn_fail_errno(mqr_http_client_t *c, conn_t *k, int status, int step,
                            const char *what, int e, uint64_t now)
{
    char msg[160], text[96];
    snprintf(msg, sizeof msg, "%s %s:%u: %s", what, c->host, (unsigned)c->u.port,
             mqr__strerror_r(e, text, sizeof text));
    req_error(k->pipe[0], status, step, "%s", msg);
    conn_fail(c, k, now);
}

/* Fail with a library diagnostic. */
static void conn_fail_diag(mqr_http_client_t *c, conn_t *k, int status, int step,
                           const mqr_diag_t *d, uint64_t now)
{
    req_error(k->pipe[0], status, step, "%s", d->message);
    conn_fail(c, k, now);
}

/* The interest of a busy connection: writing while requests are unwritten,
 * reading once one is written. */
static uint32_t busy_want(const conn_t *k)
{
    return (k->nsent < k->npipe ? MQR_HTTP_WRITE : 0) | (k->nsent > 0 ? MQR_HTTP_READ : 0);
}

/* Start the requests on a connected (and handshaken) k: pipe[0] first. */
static void conn_start_send(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    k->state = C_BUSY;
    k->want = MQR_HTTP_WRITE;
    k->sent = 0;
    k->received = 0;
    k->deadline = now + c->request_timeout_ms;
    for (uint32_t i = k->nsent; i < k->npipe; i++)
        k->pipe[i]->step = MQR_HTTP_STEP_REQUEST;
}

static void drive(mqr_http_client_t *c, conn_t *k, uint32_t events, uint64_t now);

/* Open a connection for r on free slot k: a non-blocking connect to the next
 * resolved address. A failure is handled like any transport error. */
static void conn_open(mqr_http_client_t *c, conn_t *k, req_t *r, uint64_t now)
{
    if (!k->pipe && !(k->pipe = mqr__alloc(&c->alloc, c->pipelining * sizeof *k->pipe))) {
        req_error(r, MQR_ENOMEM, MQR_HTTP_STEP_CONNECT, "%s", "out of memory for a connection");
        retry_or_end(c, r, now, 1, 1);
        return;
    }
    k->pipe[0] = r;
    k->npipe = 1;
    k->nsent = 0;
    k->responses = 0;
    r->step = MQR_HTTP_STEP_CONNECT;
    if (!k->rbuf && !(k->rbuf = mqr__alloc(&c->alloc, c->max_response_head))) {
        req_error(r, MQR_ENOMEM, MQR_HTTP_STEP_CONNECT, "%s", "out of memory for a connection");
        k->state = C_CONNECTING;
        conn_fail(c, k, now);
        return;
    }
    int ai = c->next_addr;
    const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[ai];
    k->fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (k->fd < 0) {
        k->state = C_CONNECTING;
        conn_fail_errno(c, k, MQR_ECONNECT, MQR_HTTP_STEP_CONNECT, "socket for", errno, now);
        return;
    }
    fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
    fcntl(k->fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->state = C_CONNECTING;
    k->want = MQR_HTTP_WRITE;
    k->deadline = now + c->connect_timeout_ms;
    if (connect(k->fd, sa, c->addr_lens[ai]) != 0 && errno != EINPROGRESS) {
        c->next_addr = (ai + 1) % c->naddrs;
        conn_fail_errno(c, k, MQR_ECONNECT, MQR_HTTP_STEP_CONNECT, "connect to", errno, now);
        return;
    }
    drive(c, k, MQR_HTTP_WRITE, now);
}

/* CONNECTING: the socket became writable; check the outcome of connect. */
static void on_connect(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err == 0) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(k->fd, (struct sockaddr *)&peer, &pl) != 0)
            return; /* not connected yet: a spurious wake-up */
    }
    if (err) {
        c->next_addr = (c->next_addr + 1) % c->naddrs;
        conn_fail_errno(c, k, MQR_ECONNECT, MQR_HTTP_STEP_CONNECT, "connect to", err, now);
        return;
    }
#if MQR_HAVE_OPENSSL
    if (c->u.tls) {
        mqr_diag_t d;
        int rc = mqr__http_tls_new(c->tls_ctx, k->fd, c->host, &k->tls, &d);
        if (rc != MQR_OK) {
            conn_fail_diag(c, k, rc, MQR_HTTP_STEP_TLS, &d, now);
            return;
        }
        k->state = C_TLS;
        k->pipe[0]->step = MQR_HTTP_STEP_TLS;
        drive(c, k, MQR_HTTP_READ | MQR_HTTP_WRITE, now);
        return;
    }
#endif
    conn_start_send(c, k, now);
    drive(c, k, MQR_HTTP_WRITE, now);
}

#if MQR_HAVE_OPENSSL
static void on_tls(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    mqr_diag_t d;
    int rc = mqr__http_tls_handshake(k->tls, &k->want, &d);
    if (rc == MQR_NEED_MORE)
        return;
    if (rc != MQR_OK) {
        conn_fail_diag(c, k, MQR_ETLS, MQR_HTTP_STEP_TLS, &d, now);
        return;
    }
    conn_start_send(c, k, now);
    drive(c, k, MQR_HTTP_WRITE, now);
}
#endif

/* Read from k like recv: bytes (> 0), 0 at a clean close, MQR_NEED_MORE, or an
 * error with d filled. */
static long conn_read(mqr_http_client_t *c, conn_t *k, char *buf, size_t len, mqr_diag_t *d)
{
#if MQR_HAVE_OPENSSL
    if (k->tls)
        return mqr__http_tls_read(k->tls, buf, len, &k->want, d);
#endif
    ssize_t n = recv(k->fd, buf, len, 0);
    if (n >= 0)
        return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        k->want = MQR_HTTP_READ;
        return MQR_NEED_MORE;
    }
    char text[96];
    return mqr__diag_set(d, MQR_EIO, "read from %s:%u: %s", c->host, (unsigned)c->u.port,
                         mqr__strerror_r(errno, text, sizeof text));
}

/* Write like send, never raising SIGPIPE. */
static long conn_write(mqr_http_client_t *c, conn_t *k, const char *buf, size_t len, mqr_diag_t *d)
{
#if MQR_HAVE_OPENSSL
    if (k->tls)
        return mqr__http_tls_write(k->tls, buf, len, &k->want, d);
#endif
    ssize_t n = send(k->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        k->want = MQR_HTTP_WRITE;
        return MQR_NEED_MORE;
    }
    char text[96];
    return mqr__diag_set(d, MQR_EIO, "write to %s:%u: %s", c->host, (unsigned)c->u.port,
                         mqr__strerror_r(errno, text, sizeof text));
}

/* BUSY: write the unwritten requests in order. Returns 0, or -1 when the
 * connection failed (and is closed). */
static int busy_send(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    mqr_diag_t d;
    while (k->nsent < k->npipe) {
        req_t *r = k->pipe[k->nsent];
        while (k->sent < r->wire_len) {
            long n = conn_write(c, k, r->wire + k->sent, r->wire_len - k->sent, &d);
            if (n == MQR_NEED_MORE)
                return 0;
            if (n < 0) {
                conn_fail_diag(c, k, (int)n, MQR_HTTP_STEP_REQUEST, &d, now);
                return -1;
            }
            k->sent += (size_t)n;
        }
        r->step = MQR_HTTP_STEP_RESPONSE;
        k->nsent++;
        k->sent = 0;
    }
    return 0;
}

/* A whole response arrived on k for pipe[0] (its head in k->head): take
 * pipe[0] off, keep k for what is pipelined behind it or for the next
 * request (reusable: nothing but this response was read past its end, or
 * what was read belongs to the next pipelined response), or close it and
 * requeue what it still carried; then decide the message's fate. */
static void on_response(mqr_http_client_t *c, conn_t *k, int reusable, uint64_t now)
{
    req_t *r = k->pipe[0];
    int status = k->head.status;
    memmove(k->pipe, k->pipe + 1, (k->npipe - 1) * sizeof *k->pipe);
    k->npipe--;
    k->nsent--;
    k->responses++;
    k->received = 0;
    k->in_body = 0;
    if (reusable && k->head.keep_alive) {
        k->may_pipeline = k->head.minor_version >= 1;
        if (k->npipe == 0) {
            k->state = C_IDLE;
            k->want = MQR_HTTP_READ;
            k->rlen = 0;
            k->idle_since = now;
        } else {
            k->deadline = now + c->request_timeout_ms;
            k->want = busy_want(k);
        }
    } else {
        uint32_t n = k->npipe, nsent = k->nsent;
        conn_close(c, k);
        requeue_rest(c, k, 0, n, nsent, NULL, now); /* the server ended the connection */
    }
    r->http_status = status;
    r->step = MQR_HTTP_STEP_DONE;
    if (r->finished) {
        c->m.late_reply++;
        req_free(c, r);
        return;
    }
    if (status >= 200 && status < 300) {
        c->backoff_ms = c->backoff_initial_ms;
        finish(c, r, AT_FLIGHT, MQR_HTTP_SUCCESS, MQR_HTTP_REASON_NONE, now, 0);
        return;
    }
    r->status = MQR_EHTTP;
    /* the status and the first bytes of the body (what the server said),
     * control characters shown as '.' */
    char said[sizeof k->body_start + 1];
    size_t n = k->body_start_len;
    for (size_t i = 0; i < n; i++)
        said[i] = (unsigned char)k->body_start[i] < 0x20 || k->body_start[i] == 0x7F
                      ? '.'
                      : k->body_start[i];
    said[n] = 0;
    if (n > 0)
        snprintf(r->err, sizeof r->err, "HTTP status %d: %s%s", status, said,
                 n == sizeof k->body_start ? "..." : "");
    else
        snprintf(r->err, sizeof r->err, "HTTP status %d", status);
    if (status == 429 || status == 503)
        retry_or_end(c, r, now, 1, 1);
    else
        finish(c, r, AT_FLIGHT, MQR_HTTP_FAILED, MQR_HTTP_REASON_NONE, now, 0);
}

/* Feed k->rbuf[0..rlen) to the response parser, answering pipe[0], pipe[1],
 * ... as their responses complete. Returns 1 when the connection is no
 * longer busy (its last response handled, or closed), 0 when more input is
 * needed, -1 for a bad response (pipe[0]'s error is set; the caller ends
 * the attempt). */
static int parse_input(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    mqr_diag_t d;
    for (;;) {
        if (!k->in_body) {
            int rc = mqr__http_parse_head(k->rbuf, k->rlen, c->max_response_head, &k->head, &d);
            if (rc == MQR_NEED_MORE)
                return 0;
            if (rc != MQR_OK) {
                req_error(k->pipe[0], MQR_EHTTP, MQR_HTTP_STEP_RESPONSE, "%s", d.message);
                return -1;
            }
            if (k->head.status == 101) {
                req_error(k->pipe[0], MQR_EHTTP, MQR_HTTP_STEP_RESPONSE, "%s",
                          "HTTP response: unexpected 101 Switching Protocols");
                return -1;
            }
            memmove(k->rbuf, k->rbuf + k->head.head_len, k->rlen - k->head.head_len);
            k->rlen -= k->head.head_len;
            if (k->head.status < 200)
                continue; /* an interim 1xx response: the real one follows */
            mqr__http_body_init(&k->body, &k->head);
            k->in_body = 1;
            k->body_start_len = 0;
        }
        size_t used = 0;
        int rc = mqr__http_body_feed(&k->body, k->rbuf, k->rlen, &used, &d);
        /* the first bytes of the body, whichever reads they come in (an
         * error status's text for the log) */
        size_t got = rc == MQR_NEED_MORE ? k->rlen : used;
        size_t room = sizeof k->body_start - k->body_start_len;
        if (got > room)
            got = room;
        memcpy(k->body_start + k->body_start_len, k->rbuf, got);
        k->body_start_len += got;
        if (rc == MQR_NEED_MORE) {
            k->rlen = 0;
            return 0;
        }
        if (rc != MQR_OK) {
            req_error(k->pipe[0], MQR_EHTTP, MQR_HTTP_STEP_RESPONSE, "%s", d.message);
            return -1;
        }
        /* bytes past this response start the next pipelined one, if any */
        size_t rest = k->rlen - used;
        int next = k->npipe > 1 && k->nsent > 1;
        memmove(k->rbuf, k->rbuf + used, rest);
        k->rlen = rest;
        on_response(c, k, rest == 0 || next, now);
        if (k->state != C_BUSY)
            return 1;
        if (k->rlen == 0)
            return 0;
    }
}

/* End the attempt on k with an unrecoverable response error; what was
 * pipelined behind it is requeued. */
static void conn_bad_response(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    req_t *r = k->pipe[0];
    uint32_t n = k->npipe, nsent = k->nsent;
    conn_close(c, k);
    requeue_rest(c, k, 1, n, nsent, r, now);
    if (r->finished)
        req_free(c, r);
    else
        finish(c, r, AT_FLIGHT, MQR_HTTP_FAILED, MQR_HTTP_REASON_NONE, now, 0);
}

/* BUSY, readable: read responses until the socket has no more. */
static void busy_recv(mqr_http_client_t *c, conn_t *k, uint64_t now)
{
    mqr_diag_t d;
    for (;;) {
        long n = conn_read(c, k, k->rbuf + k->rlen, c->max_response_head - k->rlen, &d);
        if (n == MQR_NEED_MORE)
            return;
        if (n < 0) {
            conn_fail_diag(c, k, (int)n, MQR_HTTP_STEP_RESPONSE, &d, now);
            return;
        }
        if (n == 0) {
            if (k->in_body && mqr__http_body_eof(&k->body, &d) == MQR_OK) {
                on_response(c, k, 0, now);
                return;
            }
            if (!k->in_body)
                snprintf(d.message, sizeof d.message, "%s:%u closed the connection before the response",
                         c->host, (unsigned)c->u.port);
            conn_fail_diag(c, k, MQR_EIO, MQR_HTTP_STEP_RESPONSE, &d, now);
            return;
        }
        k->received += (size_t)n;
        k->rlen += (size_t)n;
        int rc = parse_input(c, k, now);
        if (rc < 0) {
            conn_bad_response(c, k, now);
            return;
        }
        if (rc > 0)
            return;
    }
}

/* BUSY: write what is unwritten, read when readable (or when nothing is
 * left to write, to find a response that already arrived), then wait for
 * what is still to do. */
static void on_busy(mqr_http_client_t *c, conn_t *k, uint32_t events, uint64_t now)
{
    if (busy_send(c, k, now) < 0)
        return;
    if (k->nsent > 0 && (events & MQR_HTTP_READ))
        busy_recv(c, k, now);
    if (k->state == C_BUSY)
        k->want = busy_want(k) | (k->want & MQR_HTTP_READ);
}

/* IDLE: anything readable is the server closing (or misbehaving): close. */
static void on_idle(mqr_http_client_t *c, conn_t *k)
{
    char buf[64];
    mqr_diag_t d;
    long n = conn_read(c, k, buf, sizeof buf, &d);
    if (n != MQR_NEED_MORE)
        conn_close(c, k);
}

/* Advance connection k after readiness `events` (or right after a state
 * change, to try the next step without waiting). */
static void drive(mqr_http_client_t *c, conn_t *k, uint32_t events, uint64_t now)
{
    switch (k->state) {
    case C_CONNECTING: on_connect(c, k, now); break;
#if MQR_HAVE_OPENSSL
    case C_TLS: on_tls(c, k, now); break;
#endif
    case C_BUSY: on_busy(c, k, events, now); break;
    case C_IDLE: on_idle(c, k); break;
    default: break;
    }
}

/* ---- timers and dispatching ---------------------------------------------- */

/* Take the queue's head for sending: it moves from queued to in flight. */
static req_t *take(mqr_http_client_t *c)
{
    req_t *r = queue_pop(c);
    c->m.queuing--;
    c->m.queuing_bytes -= r->wire_len;
    c->m.inflight++;
    if (++r->attempts > 1)
        c->m.retried++;
    return r;
}

/* The busy connection with the fewest requests that may carry one more, or
 * NULL. */
static conn_t *pipeline_pick(mqr_http_client_t *c)
{
    conn_t *best = NULL;
    for (uint32_t i = 0; i < c->pool_size; i++) {
        conn_t *k = &c->conns[i];
        if (k->state == C_BUSY && k->may_pipeline && k->npipe < c->pipelining &&
            (!best || k->npipe < best->npipe))
            best = k;
    }
    return best;
}

/* Hand queued messages to idle connections, open new connections up to the
 * pool size, then pipeline onto busy connections that allow it, unless the
 * client is pausing after a failure. */
static void dispatch(mqr_http_client_t *c, uint64_t now)
{
    for (uint32_t i = 0; i < c->pool_size && c->head && now >= c->resume_at; i++) {
        conn_t *k = &c->conns[i];
        if (k->state != C_IDLE)
            continue;
        k->pipe[0] = take(c);
        k->npipe = 1;
        k->nsent = 0;
        conn_start_send(c, k, now);
        drive(c, k, MQR_HTTP_WRITE, now);
    }
    for (uint32_t i = 0; i < c->pool_size && c->head && now >= c->resume_at; i++) {
        conn_t *k = &c->conns[i];
        if (k->state == C_FREE)
            conn_open(c, k, take(c), now);
    }
    conn_t *k;
    while (c->pipelining > 1 && c->head && now >= c->resume_at && (k = pipeline_pick(c))) {
        req_t *r = take(c);
        r->step = MQR_HTTP_STEP_REQUEST;
        k->pipe[k->npipe++] = r;
        drive(c, k, MQR_HTTP_WRITE, now);
    }
}

static const char *step_name(int step)
{
    static const char *const names[] = {"none", "resolve", "connect", "tls", "request", "response", "done"};
    return step >= 0 && step <= MQR_HTTP_STEP_DONE ? names[step] : "none";
}

/* Timeouts of connections (idle ones after max_inactive), TTL expiry in
 * flight and in the queue, then dispatching. */
static void run(mqr_http_client_t *c, uint64_t now)
{
    for (uint32_t i = 0; i < c->pool_size; i++) {
        conn_t *k = &c->conns[i];
        if (k->state == C_FREE)
            continue;
        if (k->state == C_IDLE) {
            if (now >= k->idle_since + c->max_inactive_ms)
                conn_close(c, k); /* tells the engine's host the descriptor went away */
            continue;
        }
        for (uint32_t j = 0; j < k->npipe; j++) {
            req_t *r = k->pipe[j];
            if (!r->finished && now >= r->expire_at) {
                if (r->status == MQR_OK)
                    req_error(r, MQR_ETIMEOUT, r->step, "expired in flight at step %s",
                              step_name(r->step));
                finish(c, r, AT_FLIGHT, MQR_HTTP_DROPPED, MQR_HTTP_REASON_EXPIRED, now, 1);
            }
        }
        if (now >= k->deadline) {
            req_t *r = k->pipe[0];
            int connecting = k->state == C_CONNECTING || k->state == C_TLS;
            char msg[96];
            snprintf(msg, sizeof msg, "%s timed out after %u ms", step_name(r->step),
                     (unsigned)(connecting ? c->connect_timeout_ms : c->request_timeout_ms));
            req_error(r, MQR_ETIMEOUT, r->step, "%s", msg);
            conn_fail(c, k, now);
        }
    }
    while (c->head && c->head->expire_at <= now) {
        req_t *r = queue_pop(c);
        if (r->status == MQR_OK)
            req_error(r, MQR_ETIMEOUT, r->step, "%s", "expired in the queue");
        finish(c, r, AT_QUEUE, MQR_HTTP_DROPPED, MQR_HTTP_REASON_EXPIRED, now, 0);
    }
    dispatch(c, now);
}

static conn_t *find_conn(mqr_http_client_t *c, int fd)
{
    for (uint32_t i = 0; i < c->pool_size; i++)
        if (c->conns[i].fd == fd && c->conns[i].state != C_FREE)
            return &c->conns[i];
    return NULL;
}

size_t mqr_http_fds(const mqr_http_client_t *c, mqr_http_fd_t *out, size_t cap)
{
    size_t n = 0;
    if (!c)
        return 0;
    for (uint32_t i = 0; i < c->pool_size; i++) {
        const conn_t *k = &c->conns[i];
        if (k->state == C_FREE)
            continue;
        if (out && n < cap) {
            out[n].fd = k->fd;
            out[n].events = k->want ? k->want : MQR_HTTP_READ;
        }
        n++;
    }
    return n;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

int64_t mqr_http_timeout(const mqr_http_client_t *c, uint64_t now)
{
    if (!c)
        return -1;
    uint64_t next = UINT64_MAX;
    int can_start = 0;
    for (uint32_t i = 0; i < c->pool_size; i++) {
        const conn_t *k = &c->conns[i];
        if (k->state == C_FREE || k->state == C_IDLE) {
            can_start = 1;
            if (k->state == C_IDLE)
                next = min_u64(next, k->idle_since + c->max_inactive_ms);
            continue;
        }
        next = min_u64(next, k->deadline);
        for (uint32_t j = 0; j < k->npipe; j++)
            if (!k->pipe[j]->finished)
                next = min_u64(next, k->pipe[j]->expire_at);
        if (k->state == C_BUSY && k->may_pipeline && k->npipe < c->pipelining)
            can_start = 1;
    }
    if (c->head) {
        next = min_u64(next, c->head->expire_at);
        if (can_start)
            next = min_u64(next, c->resume_at > now ? c->resume_at : now);
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int64_t)(next - now);
}

int mqr_http_fd_ready(mqr_http_client_t *c, int fd, uint32_t events, uint64_t now)
{
    if (!c)
        return MQR_EINVAL;
    conn_t *k = find_conn(c, fd);
    if (k)
        drive(c, k, events, now);
    run(c, now);
    return k ? MQR_OK : MQR_ENOTFOUND;
}

int mqr_http_process(mqr_http_client_t *c, uint64_t now)
{
    if (!c)
        return MQR_EINVAL;
    run(c, now);
    return MQR_OK;
}

int mqr_http_poll(mqr_http_client_t *c, int timeout_ms)
{
    if (!c)
        return MQR_EINVAL;
    uint64_t now = mqr_http_now_ms();
    nfds_t n = 0;
    for (uint32_t i = 0; i < c->pool_size; i++) {
        const conn_t *k = &c->conns[i];
        if (k->state == C_FREE)
            continue;
        c->pfds[n].fd = k->fd;
        c->pfds[n].events = (short)(((k->want & MQR_HTTP_WRITE) ? POLLOUT : 0) |
                                    ((k->want & MQR_HTTP_WRITE) ? 0 : POLLIN));
        c->pfds[n].revents = 0;
        n++;
    }
    int64_t t = mqr_http_timeout(c, now);
    if (t < 0 && n == 0)
        return MQR_OK;
    int64_t wait = t;
    if (timeout_ms >= 0 && (t < 0 || t > timeout_ms))
        wait = timeout_ms;
    if (wait > 1000000)
        wait = 1000000;
    int rc = poll(c->pfds, n, (int)wait);
    if (rc < 0 && errno != EINTR)
        return MQR_EIO;
    now = mqr_http_now_ms();
    for (nfds_t i = 0; rc > 0 && i < n; i++) {
        short re = c->pfds[i].revents;
        if (!re)
            continue;
        uint32_t ev = ((re & POLLIN) ? MQR_HTTP_READ : 0) | ((re & POLLOUT) ? MQR_HTTP_WRITE : 0);
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ev = MQR_HTTP_READ | MQR_HTTP_WRITE;
        conn_t *k = find_conn(c, c->pfds[i].fd);
        if (k)
            drive(c, k, ev, now);
    }
    run(c, now);
    return MQR_OK;
}

size_t mqr_http_pending(const mqr_http_client_t *c) { return c ? (size_t)c->held_count : 0; }

int mqr_http_metrics(const mqr_http_client_t *c, mqr_http_metrics_t *out)
{
    if (!c || !out)
        return MQR_EINVAL;
    *out = c->m;
    return MQR_OK;
}

/* ---- requests --------------------------------------------------------------- */

/* Copy n bytes to buf + at when buf is not NULL; return at + n. Lets one
 * function both measure and write a request. */
static size_t put(char *buf, size_t at, const char *s, size_t n)
{
    if (buf && n)
        memcpy(buf + at, s, n);
    return at + n;
}

static size_t put_str(char *buf, size_t at, const char *s) { return put(buf, at, s, strlen(s)); }

static size_t put_header(char *buf, size_t at, const mqr_http_header_t *h)
{
    at = put(buf, at, h->name, h->name_len);
    at = put(buf, at, ": ", 2);
    at = put(buf, at, h->value, h->value_len);
    return put(buf, at, "\r\n", 2);
}

/* 1 when `name` is among hs[0..n). */
static int has_header(const mqr_http_header_t *hs, uint32_t n, const char *name, size_t len)
{
    for (uint32_t i = 0; i < n; i++)
        if (hs[i].name_len == len && mqr__http_ieq(hs[i].name, name, len))
            return 1;
    return 0;
}

/*
 * Serialise a request into buf (or only measure it when buf is NULL):
 *   METHOD SP base-path ["/" path] SP "HTTP/1.1" CRLF
 *   Host, client headers not replaced by the request's, request headers,
 *   Content-Length (POST and PUT), CRLF, body.
 * Returns the length.
 */
static size_t build_wire(const mqr_http_client_t *c, const mqr_http_request_t *rq, int method,
                         const char *path, size_t plen, char *buf)
{
    const char *base = c->u.path;
    size_t blen = c->u.path_len;
    size_t at = put_str(buf, 0, method_names[method]);
    at = put(buf, at, " ", 1);
    if (plen) {
        while (blen && base[blen - 1] == '/')
            blen--;
        while (plen && path[0] == '/') {
            path++;
            plen--;
        }
        at = put(buf, at, base, blen);
        at = put(buf, at, "/", 1);
        at = put(buf, at, path, plen);
    } else if (blen) {
        at = put(buf, at, base, blen);
    } else {
        at = put(buf, at, "/", 1);
    }
    at = put_str(buf, at, " HTTP/1.1\r\n");
    if (!has_header(c->headers, c->header_count, "host", 4) &&
        !has_header(rq->headers, rq->header_count, "host", 4)) {
        at = put_str(buf, at, "Host: ");
        at = put_str(buf, at, c->authority);
        at = put(buf, at, "\r\n", 2);
    }
    for (uint32_t i = 0; i < c->header_count; i++)
        if (!has_header(rq->headers, rq->header_count, c->headers[i].name, c->headers[i].name_len))
            at = put_header(buf, at, &c->headers[i]);
    for (uint32_t i = 0; i < rq->header_count; i++)
        at = put_header(buf, at, &rq->headers[i]);
    int with_body = method == MQR_HTTP_POST || method == MQR_HTTP_PUT;
    if (with_body) {
        char cl[48];
        int n = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", rq->body_len);
        at = put(buf, at, cl, (size_t)n);
    }
    at = put(buf, at, "\r\n", 2);
    if (with_body)
        at = put(buf, at, rq->body, rq->body_len);
    return at;
}

/* Validate a request; set the method and path to use. */
static int check_request(const mqr_http_client_t *c, const mqr_http_request_t *rq, int *method,
                         const char **path, size_t *plen, mqr_diag_t *diag)
{
    *method = rq->method ? rq->method : c->method;
    if (*method < MQR_HTTP_POST || *method > MQR_HTTP_DELETE)
        return mqr__diag_set(diag, MQR_EINVAL, "request: method %d out of range", (int)rq->method);
    if (!rq->body && rq->body_len)
        return mqr__diag_set(diag, MQR_EINVAL, "request: NULL body with length %zu", rq->body_len);
    if (!rq->headers && rq->header_count)
        return mqr__diag_set(diag, MQR_EINVAL, "request: NULL headers with count %u",
                             (unsigned)rq->header_count);
    for (uint32_t i = 0; i < rq->header_count; i++) {
        const mqr_http_header_t *h = &rq->headers[i];
        int rc = mqr_http_header_check(h->name, h->name_len, h->value, h->value_len, diag);
        if (rc != MQR_OK)
            return rc;
    }
    *path = rq->path;
    *plen = rq->path ? (rq->path_len ? rq->path_len : strlen(rq->path)) : 0;
    return *plen ? mqr__http_path_check("request path", *path, *plen, diag) : MQR_OK;
}

int mqr_http_submit(mqr_http_client_t *c, const mqr_http_request_t *rq, uint64_t now,
                    uint64_t *out_id, mqr_diag_t *diag)
{
    mqr_diag_clear(diag);
    if (!c || !rq)
        return mqr__diag_set(diag, MQR_EINVAL, "submit: NULL client or request");
    c->m.matched++;
    int method = 0;
    const char *path = NULL;
    size_t plen = 0;
    int rc = check_request(c, rq, &method, &path, &plen, diag);
    if (rc != MQR_OK) {
        c->m.failed++;
        return rc;
    }
    size_t size = build_wire(c, rq, method, path, plen, NULL);
    uint64_t id = ++c->next_id;
    if (out_id)
        *out_id = id;
    if (c->held_count + 1 > c->max_queue_count || c->held_bytes + size > c->max_queue_bytes) {
        req_t tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.id = id;
        tmp.ud = rq->ud;
        tmp.submitted_at = now;
        tmp.status = MQR_ELIMIT;
        snprintf(tmp.err, sizeof tmp.err, "queue full (%llu messages, %llu bytes held)",
                 (unsigned long long)c->held_count, (unsigned long long)c->held_bytes);
        finish(c, &tmp, AT_NOWHERE, MQR_HTTP_DROPPED, MQR_HTTP_REASON_QUEUE_FULL, now, 1);
        return MQR_OK;
    }
    req_t *r = mqr__calloc(&c->alloc, 1, sizeof *r);
    char *wire = r ? mqr__alloc(&c->alloc, size) : NULL;
    if (!wire) {
        mqr__free(&c->alloc, r, sizeof *r);
        c->m.dropped++;
        c->m.dropped_other++;
        return mqr__diag_set(diag, MQR_ENOMEM, "submit: out of memory for %zu bytes", size);
    }
    build_wire(c, rq, method, path, plen, wire);
    r->id = id;
    r->ud = rq->ud;
    r->wire = wire;
    r->wire_len = size;
    r->submitted_at = now;
    r->expire_at = now + c->ttl_ms;
    queue_insert(c, r);
    c->held_count++;
    c->held_bytes += size;
    c->m.queuing++;
    c->m.queuing_bytes += size;
    return MQR_OK;
}

/* ---- create and destroy ------------------------------------------------------ */

/* Free everything the client owns; no message may be pending. */
static void client_free(mqr_http_client_t *c)
{
    const mqr_allocator_t a = c->alloc;
    for (uint32_t i = 0; c->conns && i < c->pool_size; i++) {
        conn_close(c, &c->conns[i]);
        mqr__free(&a, c->conns[i].rbuf, c->max_response_head);
        mqr__free(&a, c->conns[i].pipe, c->pipelining * sizeof *c->conns[i].pipe);
    }
#if MQR_HAVE_OPENSSL
    mqr__http_tls_ctx_free(c->tls_ctx);
#endif
    mqr__free(&a, c->conns, sizeof *c->conns * c->pool_size);
    mqr__free(&a, c->pfds, sizeof *c->pfds * c->pool_size);
    mqr__free(&a, c->url, c->url_size);
    mqr__free(&a, c->host, c->host_size);
    mqr__free(&a, c->authority, c->authority_size);
    mqr__free(&a, c->headers, c->headers_size);
    mqr__free(&a, c, sizeof *c);
}

void mqr_http_destroy(mqr_http_client_t *c)
{
    if (!c)
        return;
    uint64_t now = mqr_http_now_ms();
    for (uint32_t i = 0; i < c->pool_size; i++) {
        conn_t *k = &c->conns[i];
        uint32_t n = k->npipe;
        conn_close(c, k); /* leaves k->pipe[0..n) in place */
        for (uint32_t j = 0; j < n; j++) {
            req_t *r = k->pipe[j];
            if (r->finished) {
                req_free(c, r);
                continue;
            }
            if (r->status == MQR_OK)
                req_error(r, MQR_ESTATE, r->step, "%s", "the client was destroyed");
            finish(c, r, AT_FLIGHT, MQR_HTTP_DROPPED, MQR_HTTP_REASON_OTHER, now, 0);
        }
    }
    req_t *r;
    while ((r = queue_pop(c))) {
        if (r->status == MQR_OK)
            req_error(r, MQR_ESTATE, r->step, "%s", "the client was destroyed");
        finish(c, r, AT_QUEUE, MQR_HTTP_DROPPED, MQR_HTTP_REASON_OTHER, now, 0);
    }
    client_free(c);
}

/* Copy the client headers into one allocation: the array, then the text. */
static int copy_headers(mqr_http_client_t *c, const mqr_http_config_t *cfg, mqr_diag_t *diag)
{
    size_t size = sizeof(mqr_http_header_t) * cfg->header_count;
    for (uint32_t i = 0; i < cfg->header_count; i++)
        size += cfg->headers[i].name_len + cfg->headers[i].value_len;
    if (!cfg->header_count)
        return MQR_OK;
    c->headers = mqr__alloc(&c->alloc, size);
    if (!c->headers)
        return mqr__diag_set(diag, MQR_ENOMEM, "http client: out of memory");
    c->headers_size = size;
    c->header_count = cfg->header_count;
    char *text = (char *)(c->headers + cfg->header_count);
    for (uint32_t i = 0; i < cfg->header_count; i++) {
        const mqr_http_header_t *h = &cfg->headers[i];
        c->headers[i] = (mqr_http_header_t){text, h->name_len, text + h->name_len, h->value_len};
        put(text, 0, h->name, h->name_len);
        put(text, h->name_len, h->value, h->value_len);
        text += h->name_len + h->value_len;
    }
    return MQR_OK;
}

/* Resolve the URL's host into c->addrs (blocking). */
static int resolve(mqr_http_client_t *c, mqr_diag_t *diag)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->u.port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc != 0)
        return mqr__diag_set(diag, MQR_ERESOLVE, "resolve '%s': %s", c->host, gai_strerror(rc));
    for (struct addrinfo *ai = res; ai && c->naddrs < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof c->addrs[0])
            continue;
        memcpy(&c->addrs[c->naddrs], ai->ai_addr, ai->ai_addrlen);
        c->addr_lens[c->naddrs++] = (socklen_t)ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (!c->naddrs)
        return mqr__diag_set(diag, MQR_ERESOLVE, "resolve '%s': no usable address", c->host);
    return MQR_OK;
}

/* Check the configuration without allocating. */
static int check_config(const mqr_http_config_t *cfg, mqr_diag_t *diag)
{
    if (!cfg->on_done)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: on_done is required");
    if (cfg->method < 0 || cfg->method > MQR_HTTP_DELETE)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: method %d out of range", (int)cfg->method);
    if (cfg->pool_size > MQR_HTTP_MAX_POOL_SIZE)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: pool size %u above %u",
                             (unsigned)cfg->pool_size, MQR_HTTP_MAX_POOL_SIZE);
    if (cfg->enable_pipelining > MQR_HTTP_MAX_PIPELINING)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: enable_pipelining %u above %u",
                             (unsigned)cfg->enable_pipelining, MQR_HTTP_MAX_PIPELINING);
    if (cfg->max_response_head && cfg->max_response_head < 64)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: max_response_head below 64");
    if (!cfg->headers && cfg->header_count)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: NULL headers with count %u",
                             (unsigned)cfg->header_count);
    for (uint32_t i = 0; i < cfg->header_count; i++) {
        const mqr_http_header_t *h = &cfg->headers[i];
        int rc = mqr_http_header_check(h->name, h->name_len, h->value, h->value_len, diag);
        if (rc != MQR_OK)
            return rc;
    }
    mqr__http_url_t u;
    return mqr__http_url_parse(cfg->url, &u, diag);
}

#define OR_DEFAULT(v, d) ((v) ? (v) : (d))

/* Copy the URL, the host and the Host header value. */
static int copy_url(mqr_http_client_t *c, const char *url, mqr_diag_t *diag)
{
    c->url_size = strlen(url) + 1;
    if (!(c->url = mqr__strndup(&c->alloc, url, c->url_size - 1)))
        return mqr__diag_set(diag, MQR_ENOMEM, "http client: out of memory");
    mqr__http_url_parse(c->url, &c->u, NULL);
    c->host_size = c->u.host_len + 1;
    c->authority_size = c->u.host_len + 16;
    c->host = mqr__strndup(&c->alloc, c->u.host, c->u.host_len);
    c->authority = mqr__alloc(&c->alloc, c->authority_size);
    if (!c->host || !c->authority)
        return mqr__diag_set(diag, MQR_ENOMEM, "http client: out of memory");
    const char *lb = c->u.host_is_ipv6 ? "[" : "", *rb = c->u.host_is_ipv6 ? "]" : "";
    if (c->u.port_explicit)
        snprintf(c->authority, c->authority_size, "%s%s%s:%u", lb, c->host, rb, (unsigned)c->u.port);
    else
        snprintf(c->authority, c->authority_size, "%s%s%s", lb, c->host, rb);
    return MQR_OK;
}

int mqr_http_create(const mqr_http_config_t *cfg, mqr_http_client_t **out, mqr_diag_t *diag)
{
    mqr_diag_clear(diag);
    if (!cfg || !out)
        return mqr__diag_set(diag, MQR_EINVAL, "http client: NULL configuration or output");
    *out = NULL;
    int rc = check_config(cfg, diag);
    if (rc != MQR_OK)
        return rc;
    mqr_http_client_t *c = mqr__calloc(&cfg->allocator, 1, sizeof *c);
    if (!c)
        return mqr__diag_set(diag, MQR_ENOMEM, "http client: out of memory");
    c->alloc = cfg->allocator;
    c->on_done = cfg->on_done;
    c->ud = cfg->ud;
    c->method = OR_DEFAULT(cfg->method, MQR_HTTP_POST);
    c->max_queue_count = OR_DEFAULT(cfg->max_queue_count, MQR_HTTP_DEFAULT_QUEUE_COUNT);
    c->max_queue_bytes = OR_DEFAULT(cfg->max_queue_bytes, MQR_HTTP_DEFAULT_QUEUE_BYTES);
    c->request_timeout_ms = OR_DEFAULT(cfg->request_timeout_ms, MQR_HTTP_DEFAULT_REQUEST_TIMEOUT_MS);
    c->connect_timeout_ms = OR_DEFAULT(cfg->connect_timeout_ms, MQR_HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
    c->ttl_ms = OR_DEFAULT(cfg->ttl_ms, MQR_HTTP_DEFAULT_TTL_MS);
    c->backoff_initial_ms = OR_DEFAULT(cfg->backoff_initial_ms, MQR_HTTP_DEFAULT_BACKOFF_INITIAL_MS);
    c->backoff_max_ms = OR_DEFAULT(cfg->backoff_max_ms, MQR_HTTP_DEFAULT_BACKOFF_MAX_MS);
    if (c->backoff_max_ms < c->backoff_initial_ms)
        c->backoff_max_ms = c->backoff_initial_ms;
    c->backoff_ms = c->backoff_initial_ms;
    c->max_attempts = cfg->max_attempts;
    c->max_response_head = OR_DEFAULT(cfg->max_response_head, MQR_HTTP_DEFAULT_MAX_RESPONSE_HEAD);
    c->pool_size = OR_DEFAULT(cfg->pool_size, MQR_HTTP_DEFAULT_POOL_SIZE);
    c->pipelining = OR_DEFAULT(cfg->enable_pipelining, MQR_HTTP_DEFAULT_PIPELINING);
    c->max_inactive_ms = OR_DEFAULT(cfg->max_inactive_ms, MQR_HTTP_DEFAULT_MAX_INACTIVE_MS);
    c->conns = mqr__calloc(&c->alloc, c->pool_size, sizeof *c->conns);
    c->pfds = mqr__calloc(&c->alloc, c->pool_size, sizeof *c->pfds);
    if (!c->conns || !c->pfds) {
        rc = mqr__diag_set(diag, MQR_ENOMEM, "http client: out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < c->pool_size; i++)
        c->conns[i].fd = -1;
    if ((rc = copy_url(c, cfg->url, diag)) != MQR_OK || (rc = copy_headers(c, cfg, diag)) != MQR_OK ||
        (rc = resolve(c, diag)) != MQR_OK)
        goto fail;
#if MQR_HAVE_OPENSSL
    if (c->u.tls && (rc = mqr__http_tls_ctx_new(cfg->ca_file, cfg->cert_file, cfg->key_file,
                                                 cfg->tls_insecure != 0, &c->tls_ctx, diag)) != MQR_OK)
        goto fail;
#endif
    *out = c;
    return MQR_OK;
fail:
    client_free(c);
    return rc;
}
