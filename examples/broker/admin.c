/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the admin HTTP listener (`admin_listener PORT [ADDR]`, off by
 * default): its connections, request framing, HTTP Basic authentication
 * and routing, served inside the broker's loop.
 *
 * The listener and its connections are non-blocking descriptors in the same
 * epoll set (or poll array) as the MQTT sockets, tagged BRK_W_ADMIN and
 * BRK_W_ADMIN_CONN; loop.c hands their readiness to brk_admin_ready. A
 * connection collects bytes until admin_http.c finds a whole request head
 * and the body that Content-Length announces, answers it at once (every
 * handler is a bounded piece of work over the broker's state) and writes
 * the response; what the socket does not take is written when it becomes
 * writable. Limits: BRK_ADMIN_MAX_CONNS connections (more are closed on
 * accept), a head of BRK_ADMIN_MAX_HEAD bytes (431), a body of
 * BRK_ADMIN_MAX_BODY bytes (413), BRK_ADMIN_IDLE_MS without a request on a
 * kept-alive connection. An idle connection owns no input buffer.
 *
 * Without admin_password_file the listener may bind a loopback address
 * only; with one, every request needs HTTP Basic credentials of a user in
 * that mosquitto_passwd-format file, checked by auth.c like MQTT's.
 */
#ifdef __linux__
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"

struct brk_admin_conn {
    brk_watch_t w;          /* first member: the loop's readiness points here */
    brk_admin_conn_t *next;
    char *in;               /* received, not yet answered; NULL while none */
    size_t in_len, in_cap;
    char *out;              /* response bytes not yet written */
    size_t out_len, out_off;
    int64_t last_ms;        /* monotonic: accepted or last request */
    uint8_t want_write;     /* 1: watched for writing too; 2: for writing only */
    uint8_t close_after;    /* close once out is written */
    uint8_t closed;
};

/* ---- brk_buf_t ---------------------------------------------------------------------- */

void brk_buf_add(brk_buf_t *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

void brk_buf_puts(brk_buf_t *o, const char *s)
{
    brk_buf_add(o, s, strlen(s));
}

void brk_buf_printf(brk_buf_t *o, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        brk_buf_add(o, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        o->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    brk_buf_add(o, big, (size_t)n);
    free(big);
}

void brk_buf_json_str(brk_buf_t *o, const char *s, size_t n)
{
    brk_buf_add(o, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != '<')
            continue;
        brk_buf_add(o, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            brk_buf_add(o, e, 2);
        } else {
            brk_buf_printf(o, "\\u%04x", c); /* '<' too: safe inside a page */
        }
    }
    brk_buf_add(o, s + run, n - run);
    brk_buf_add(o, "\"", 1);
}

void brk_buf_json_time(brk_buf_t *o, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[40];
    if (gmtime_r(&t, &tm) == NULL || strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        brk_buf_puts(o, "null");
        return;
    }
    brk_buf_printf(o, "\"%s.%03dZ\"", s, (int)(ms % 1000));
}

void brk_buf_free(brk_buf_t *o)
{
    free(o->p);
    memset(o, 0, sizeof *o);
}

/* ---- replies --------------------------------------------------------------------- */

void brk_admin_reply(brk_admin_req_t *r, int status, const char *content_type)
{
    r->status = status;
    r->content_type = content_type;
}

void brk_admin_error(brk_admin_req_t *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->out.len = 0;
    r->out.failed = 0;
    brk_buf_puts(&r->out, "{\"code\":");
    brk_buf_json_str(&r->out, code, strlen(code));
    brk_buf_puts(&r->out, ",\"message\":");
    brk_buf_json_str(&r->out, msg, strlen(msg));
    brk_buf_puts(&r->out, "}");
    brk_admin_reply(r, status, "application/json");
}

int brk_admin_seg_is(const brk_admin_req_t *r, int i, const char *s)
{
    return i < r->nseg && strlen(s) == r->seg_len[i] && memcmp(r->seg[i], s, r->seg_len[i]) == 0;
}

int brk_admin_method_is(const brk_admin_req_t *r, const char *m)
{
    return strlen(m) == r->http->method_len && memcmp(r->http->method, m, r->http->method_len) == 0;
}

/* ---- start-up and shutdown ----------------------------------------------------------- */

int brk_admin_create(broker_t *b)
{
    brk_admin_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->started_wall = brk_wall_ms();
    a->started_mono = brk_mono_ms();
    a->lw.kind = BRK_W_ADMIN;
    a->lw.fd = -1;
    b->admin = a;
    return 0;
}

/* 1 if listening socket `fd` is bound to a loopback address. */
static int bound_to_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

/*
 * Open the admin listener when admin_listener is configured. Without
 * admin_password_file, an address that is not loopback is a start-up error:
 * the API can add rules and kick clients, so it is never open to the
 * network without credentials. Returns 0 or -1 (printed to stderr and
 * logged).
 */
int brk_admin_listen(broker_t *b)
{
    brk_admin_t *a = b->admin;
    const brk_config_t *cfg = &b->cfg;
    if (a == NULL || cfg->admin_port == 0)
        return 0;
    int fd = brk_loop_listen(b, cfg->admin_addr, (uint16_t)cfg->admin_port);
    if (fd < 0) {
        fprintf(stderr, "mqttrule-broker: admin_listener %s:%u: cannot listen\n",
                cfg->admin_addr, cfg->admin_port);
        return -1;
    }
    if (cfg->admin_password_file == NULL && !bound_to_loopback(fd)) {
        close(fd);
        fprintf(stderr,
                "mqttrule-broker: admin_listener %s:%u: without admin_password_file the admin "
                "listener may only bind a loopback address (127.0.0.1 or ::1)\n",
                cfg->admin_addr, cfg->admin_port);
        return -1;
    }
    a->lw.fd = fd;
    brk_loop_watch(b, &a->lw, 0, 0);
    brk_log(b, 0, "admin listener on %s:%u (%s)", cfg->admin_addr, cfg->admin_port,
            cfg->admin_password_file ? "HTTP Basic authentication" : "loopback, no authentication");
    return 0;
}

static void conn_close(broker_t *b, brk_admin_conn_t *c)
{
    if (c->closed)
        return;
    brk_loop_watch(b, &c->w, 2, 0);
    close(c->w.fd);
    c->closed = 1;
}

/* Free the closed connections (end of every readiness call and the tick). */
static void reap(broker_t *b)
{
    brk_admin_t *a = b->admin;
    brk_admin_conn_t **pp = &a->conns;
    while (*pp != NULL) {
        brk_admin_conn_t *c = *pp;
        if (!c->closed) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        free(c->in);
        free(c->out);
        free(c);
        a->nconns--;
    }
}

void brk_admin_destroy(broker_t *b)
{
    brk_admin_t *a = b->admin;
    if (a == NULL)
        return;
    for (brk_admin_conn_t *c = a->conns; c != NULL; c = c->next)
        conn_close(b, c);
    reap(b);
    if (a->lw.fd >= 0) {
        brk_loop_watch(b, &a->lw, 2, 0);
        close(a->lw.fd);
    }
    brk_pwfile_free(&a->pw);
    brk_admin_rules_free(a);
    free(a);
    b->admin = NULL;
}

/* ---- connections ------------------------------------------------------------------- */

static void accept_all(broker_t *b)
{
    brk_admin_t *a = b->admin;
    for (;;) {
        int fd = accept4(a->lw.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        brk_admin_conn_t *c = a->nconns < BRK_ADMIN_MAX_CONNS ? calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            a->refused_conns++;
            close(fd);
            continue;
        }
        c->w.kind = BRK_W_ADMIN_CONN;
        c->w.fd = fd;
        c->last_ms = brk_now_mono(b);
        c->next = a->conns;
        a->conns = c;
        a->nconns++;
        brk_loop_watch(b, &c->w, 0, 0);
    }
}

/* Unsent response bytes: above BRK_ADMIN_MAX_OUT (a client that sends
 * requests without reading the answers) or once the connection is closing,
 * nothing more is read until they are written. */
static int backlogged(const brk_admin_conn_t *c)
{
    return c->close_after || c->out_len - c->out_off > BRK_ADMIN_MAX_OUT;
}

/* Write what is pending; watch for writability while some remains (and
 * only for that while backlogged, so a level-triggered readiness for input
 * that is not read cannot spin the loop). */
static void flush(broker_t *b, brk_admin_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_close(b, c);
                return;
            }
            break;
        }
        c->out_off += (size_t)n;
    }
    int pending = c->out_off < c->out_len;
    int mode = pending ? (backlogged(c) ? 2 : 1) : 0;
    if (!pending) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        if (c->close_after) {
            conn_close(b, c);
            return;
        }
    }
    if (mode != c->want_write) {
        c->want_write = (uint8_t)mode;
        brk_loop_watch(b, &c->w, 1, mode);
    }
}

/* Queue a whole response: status line, headers, body. */
static void respond(brk_admin_conn_t *c, const brk_admin_req_t *r, int head_only)
{
    brk_buf_t o = {c->out, c->out_len, c->out_len, 0};
    brk_buf_printf(&o, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                   r->status, brk_http_status_text(r->status),
                   r->content_type ? r->content_type : "application/json", r->out.len);
    if (r->status == 401)
        brk_buf_puts(&o, "WWW-Authenticate: Basic realm=\"mqttrule-broker\"\r\n");
    if (r->status == 405)
        brk_buf_puts(&o, "Allow: GET, POST, PUT, DELETE\r\n");
    if (c->close_after)
        brk_buf_puts(&o, "Connection: close\r\n");
    brk_buf_puts(&o, "\r\n");
    if (!head_only && r->out.len > 0)
        brk_buf_add(&o, r->out.p, r->out.len);
    if (o.failed) {
        free(o.p);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        c->close_after = 1;
        return;
    }
    c->out = o.p;
    c->out_len = o.len;
}

/* A response without a request to route (framing errors): always closes. */
static void respond_error(brk_admin_conn_t *c, int status, const char *code, const char *msg)
{
    brk_admin_req_t r;
    memset(&r, 0, sizeof r);
    c->close_after = 1;
    brk_admin_error(&r, status, code, "%s", msg);
    respond(c, &r, 0);
    brk_buf_free(&r.out);
}

/*
 * HTTP Basic authentication against admin_password_file. 1 when the request
 * may proceed (also when no file is configured: loopback only), else 0 with
 * a 401 written into r.
 */
static int authorized(brk_admin_req_t *r)
{
    broker_t *b = r->b;
    const char *path = b->cfg.admin_password_file;
    if (path == NULL)
        return 1;
    size_t vl;
    const char *v = brk_http_header(r->http, "authorization", &vl);
    char cred[512];
    const char *user, *pass, *why = "no credentials";
    if (v != NULL && brk_http_basic_auth(v, vl, cred, sizeof cred, &user, &pass) == 0) {
        int rc = brk_pwfile_check(b, &b->admin->pw, path, user, strlen(user), pass,
                                  strlen(pass), &why);
        memset(cred, 0, sizeof cred);
        if (rc == 0)
            return 1;
    } else if (v != NULL) {
        why = "the Authorization header is not valid Basic credentials";
    }
    brk_admin_error(r, 401, "BAD_USERNAME_OR_PWD", "authentication required: %s", why);
    return 0;
}

/* Route one request to its handler. */
static void route(brk_admin_req_t *r)
{
    int get = brk_admin_method_is(r, "GET") || brk_admin_method_is(r, "HEAD");
    if (!authorized(r))
        return;
    if (r->nseg == 0 || (r->nseg == 1 && brk_admin_seg_is(r, 0, "index.html"))) {
        if (!get) {
            brk_admin_error(r, 405, "METHOD_NOT_ALLOWED", "the page is read with GET");
            return;
        }
        brk_buf_add(&r->out, brk_admin_page, brk_admin_page_len);
        brk_admin_reply(r, 200, "text/html; charset=utf-8");
        return;
    }
    if (r->nseg >= 2 && brk_admin_seg_is(r, 0, "api") && brk_admin_seg_is(r, 1, "v5")) {
        brk_api_handle(r);
        return;
    }
    brk_admin_error(r, 404, "NOT_FOUND", "no such path: %.*s", (int)r->path_len, r->path);
}

/*
 * Answer every complete request in c->in. Returns 0, or -1 when the
 * connection is to be closed after what was queued (framing error).
 */
static int serve(broker_t *b, brk_admin_conn_t *c)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < c->in_len && !c->close_after) {
        brk_http_header_t hdrs[BRK_ADMIN_MAX_HEADERS];
        brk_http_req_t http;
        int n = brk_http_parse_request(c->in + pos, c->in_len - pos, &http, hdrs,
                                       BRK_ADMIN_MAX_HEADERS);
        if (n == BRK_HTTP_INCOMPLETE) {
            if (c->in_len - pos > BRK_ADMIN_MAX_HEAD) {
                respond_error(c, 431, "BAD_REQUEST", "the request head is too large");
                rc = -1;
            }
            break;
        }
        if (n < 0 || (size_t)n > BRK_ADMIN_MAX_HEAD) {
            b->admin->bad_requests++;
            respond_error(c, n == BRK_HTTP_TOO_MANY || n > 0 ? 431 : 400, "BAD_REQUEST",
                          n == BRK_HTTP_TOO_MANY || n > 0 ? "too many or too long header lines"
                                                          : "not an HTTP/1.1 request");
            rc = -1;
            break;
        }
        size_t vl;
        uint64_t clen = 0;
        const char *v = brk_http_header(&http, "transfer-encoding", &vl);
        if (v != NULL) {
            respond_error(c, 411, "BAD_REQUEST", "send the body with Content-Length");
            rc = -1;
            break;
        }
        v = brk_http_header(&http, "content-length", &vl);
        if (v != NULL && brk_http_content_length(v, vl, &clen) != 0) {
            respond_error(c, 400, "BAD_REQUEST", "bad Content-Length");
            rc = -1;
            break;
        }
        if (clen > BRK_ADMIN_MAX_BODY) {
            respond_error(c, 413, "BAD_REQUEST", "the request body is larger than 65536 bytes");
            rc = -1;
            break;
        }
        if (c->in_len - pos < (size_t)n + clen)
            break; /* the body is still coming */
        v = brk_http_header(&http, "connection", &vl);
        if (http.minor_version == 0 ? !(v && brk_http_has_token(v, vl, "keep-alive"))
                                    : (v && brk_http_has_token(v, vl, "close")))
            c->close_after = 1;
        brk_admin_req_t r;
        memset(&r, 0, sizeof r);
        r.b = b;
        r.http = &http;
        r.body = c->in + pos + n;
        r.body_len = (size_t)clen;
        brk_http_split_target(http.target, http.target_len, &r.path, &r.path_len, &r.query,
                              &r.query_len);
        r.nseg = brk_http_path_segments(r.path, r.path_len, r.seg, r.seg_len, 8);
        b->admin->requests++;
        if (r.nseg < 0 || r.path_len == 0 || r.path[0] != '/')
            brk_admin_error(&r, 404, "NOT_FOUND", "no such path");
        else
            route(&r);
        if (r.out.failed)
            brk_admin_error(&r, 500, "INTERNAL_ERROR", "out of memory");
        respond(c, &r, brk_admin_method_is(&r, "HEAD"));
        brk_buf_free(&r.out);
        pos += (size_t)n + (size_t)clen;
        c->last_ms = brk_now_mono(b);
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return rc;
}

/* Read what the socket has and answer what is complete. */
static void read_conn(broker_t *b, brk_admin_conn_t *c)
{
    const size_t limit = BRK_ADMIN_MAX_HEAD + BRK_ADMIN_MAX_BODY + 1;
    for (;;) {
        if (c->in_cap - c->in_len < 4096 && c->in_cap < limit) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            if (cap > limit)
                cap = limit;
            char *p = realloc(c->in, cap);
            if (p == NULL) {
                conn_close(b, c);
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
        if (c->in_len == c->in_cap) { /* a request larger than any allowed */
            respond_error(c, 413, "BAD_REQUEST", "the request is too large");
            break;
        }
        ssize_t n = recv(c->w.fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_close(b, c);
            return;
        }
        if (n == 0) { /* the client is done sending: answer what came, then close */
            c->close_after = 1;
            c->in_len = 0;
            break;
        }
        if (n < 0)
            break;
        c->in_len += (size_t)n;
        if (serve(b, c) != 0 || backlogged(c))
            break;
    }
    if (c->in_len == 0) { /* idle: keep no buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    flush(b, c);
}

void brk_admin_ready(broker_t *b, brk_watch_t *w, int rd, int wr, int err)
{
    if (b->admin == NULL)
        return;
    if (w->kind == BRK_W_ADMIN) {
        accept_all(b);
        return;
    }
    brk_admin_conn_t *c = (brk_admin_conn_t *)w;
    if (c->closed)
        return;
    if (wr)
        flush(b, c);
    if ((rd || err) && !c->closed && !c->close_after)
        read_conn(b, c);
    else if (err && !c->closed)
        conn_close(b, c);
    reap(b);
}

void brk_admin_tick(broker_t *b, int64_t now_mono)
{
    brk_admin_t *a = b->admin;
    if (a == NULL)
        return;
    brk_sys_tick(b, now_mono);
    for (brk_admin_conn_t *c = a->conns; c != NULL; c = c->next)
        if (now_mono - c->last_ms > BRK_ADMIN_IDLE_MS)
            conn_close(b, c);
    reap(b);
}

size_t brk_admin_watches(broker_t *b, brk_watch_t **out, int *want_write, size_t cap)
{
    brk_admin_t *a = b->admin;
    size_t n = 0;
    if (a == NULL || a->lw.fd < 0)
        return 0;
    if (n < cap) {
        out[n] = &a->lw;
        want_write[n] = 0;
    }
    n++;
    for (brk_admin_conn_t *c = a->conns; c != NULL; c = c->next, n++) {
        if (n < cap) {
            out[n] = &c->w;
            want_write[n] = c->want_write;
        }
    }
    return n;
}
