/* SPDX-License-Identifier: MIT */
/*
 * mqttrule-bench: an MQTT load generator for any broker.
 *
 * One thread drives every connection from one epoll loop; packets are encoded
 * and decoded with the library's codec (mqr_packet_encode(),
 * mqr_packet_stream_next()), which never allocates. Three modes:
 *
 *   conn    connection storm: N connections, P at a time, each CONNECT ->
 *           CONNACK -> DISCONNECT -> wait for the broker to close. With
 *           --event-topic one extra client subscribes to that topic first and
 *           the run also waits for one message per accepted connection (the
 *           broker's CONNACK events republished by a rule).
 *   pubsub  P publishers -> S subscribers, QoS 0, 1 or 2: every subscriber
 *           subscribes to TOPIC/#, publisher i publishes n messages to
 *           TOPIC/i. P=1, S=100 is fan-out, P=100, S=1 fan-in. The payload's
 *           first 16 bytes carry the send time, the publisher and a sequence
 *           number, so end-to-end latency is measured in this process.
 *   idle    open N connections (P at a time), report, then hold them open until
 *           SIGINT/SIGTERM or the time limit: for measuring a broker's memory.
 *
 * Flow control is closed-loop so that no broker has to queue without bound:
 * a publisher keeps at most --inflight unacknowledged QoS 1/2 messages (and no
 * more than the broker's Receive Maximum), and the publishers together stay at
 * most --window messages ahead of the average subscriber. Latencies are kept as
 * samples (at most 1 M, evenly strided) and sorted once for p50/p99/max.
 *
 * With --tls (built when OpenSSL is found) every connection does a full TLS
 * handshake (no session resumption: each is a new device) before its
 * CONNECT, verifying the broker's certificate against --cafile; reads and
 * writes then go through SSL_read/SSL_write on the same non-blocking sockets.
 *
 * Results go to stdout as one text line, or as one JSON object with --json.
 * Exit status: 0 when every connection succeeded and (QoS 1 and 2) no message
 * was lost, 1 otherwise, 64 for a bad command line.
 */
#include <mqttrule/packet.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef MQR_BENCH_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#define EXIT_USAGE 64
#define MAX_SAMPLES (1u << 20)
#define OUT_HIGH_WATER (64u * 1024u) /* a publisher stops encoding above this */
#define STALL_NS (3ull * 1000000000ull) /* no progress for this long ends a run */
#define STAMP_LEN 16                 /* send time, publisher, sequence */

enum { MODE_CONN, MODE_PUBSUB, MODE_IDLE };
enum { ROLE_STORM, ROLE_IDLE, ROLE_SUB, ROLE_EVENTS, ROLE_PUB };
enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_CONNACK, ST_SUBACK, ST_READY, ST_CLOSING };

/* A byte buffer: data[off..len) is pending. */
typedef struct buf {
    uint8_t *data;
    size_t off, len, cap;
} buf_t;

typedef struct conn {
    int fd;
    int role;
    int state;
    int epollout; /* EPOLLOUT is registered */
    uint32_t index;
    uint32_t recv_max; /* publisher: the broker's Receive Maximum */
    uint32_t inflight; /* publisher: unacknowledged QoS 1/2 messages */
    uint64_t sent;     /* publisher: messages encoded */
    uint64_t t_start;  /* connect() time, ns */
    mqr_packet_stream_t stream;
    buf_t in, out;
    void *ssl; /* SSL * with --tls */
} conn_t;

/* Latency samples in ns. */
typedef struct lat {
    uint64_t *v;
    size_t n, cap;
    uint64_t stride, seen;
} lat_t;

typedef struct opts {
    int mode;
    const char *host;
    int port;
    int proto;
    uint32_t connections, parallel, pubs, subs, qos, size, window, inflight, keepalive;
    uint64_t messages;
    double duration;
    const char *topic;
    const char *event_topic;
    const char *username;
    int json;
    int tls;              /* --tls */
    int no_clean;         /* --no-clean: sessions that outlive their connection */
    const char *cafile;   /* --cafile: verify the broker */
    const char *certfile; /* --cert/--key: a client certificate */
    const char *keyfile;
} opts_t;

typedef struct bench {
    opts_t o;
    char topic[256];  /* publisher i publishes to topic/i */
    char filter[260]; /* topic/#, what subscribers subscribe to */
    struct sockaddr_in addr;
    long pid; /* in client identifiers */
    int ep;
    conn_t *conns;
    size_t nconns;
    uint8_t *payload;
    /* counters */
    uint64_t started, ok, failed, closed;
    uint64_t events, ready_subs, ready_pubs;
    uint64_t sent, acked, received, dups, expected;
    uint64_t t_begin, t_end, t_last_event, t_progress, t_deadline;
    int running; /* pubsub: publishing has started */
    char err[320];
    lat_t lat;
    void *ssl_ctx; /* SSL_CTX * with --tls */
    uint64_t handshakes;
} bench_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- buffers and latency samples ------------------------------------------------ */

/* Make room for `need` more bytes after data[len]; compacts first. Returns 0, or
 * -1 when memory runs out. */
static int buf_reserve(buf_t *b, size_t need)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len >= need)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= need)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static void buf_free(buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Prepare for about `expected` samples: keep every stride-th so that at most
 * MAX_SAMPLES are stored. */
static int lat_init(lat_t *l, uint64_t expected)
{
    l->stride = expected / MAX_SAMPLES + 1;
    l->cap = (size_t)(expected / l->stride + 1);
    l->v = malloc(l->cap * sizeof *l->v);
    return l->v ? 0 : -1;
}

static void lat_add(lat_t *l, uint64_t ns)
{
    if (l->seen++ % l->stride == 0 && l->n < l->cap)
        l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (0 < p <= 1) in microseconds of sorted samples; 0 without. */
static double lat_quantile(const lat_t *l, double p)
{
    if (l->n == 0)
        return 0.0;
    size_t i = (size_t)(p * (double)l->n + 0.999999);
    if (i > 0)
        i--;
    if (i >= l->n)
        i = l->n - 1;
    return (double)l->v[i] / 1000.0;
}

/* ---- connections -------------------------------------------------------------------- */

static int ep_set(bench_t *b, conn_t *c, int op, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = c;
    return epoll_ctl(b->ep, op, c->fd, &ev);
}

/* Start a non-blocking connect for *c. Returns 0, or -1 with b->err set. */
static int conn_open(bench_t *b, conn_t *c, int role, uint32_t index)
{
#ifdef SOCK_NONBLOCK
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
#endif
    if (c->fd < 0) {
        snprintf(b->err, sizeof b->err, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
#ifndef SOCK_NONBLOCK
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
#endif
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->role = role;
    c->index = index;
    c->state = ST_CONNECTING;
    c->epollout = 1;
    c->inflight = 0;
    c->sent = 0;
    c->recv_max = 65535;
    c->in.off = c->in.len = 0;
    c->out.off = c->out.len = 0;
    mqr_packet_opts_t po = {0, (uint8_t)b->o.proto, MQR_PKT_DIR_TO_CLIENT, MQR_PKT_UTF8_WELLFORMED};
    mqr_packet_stream_init(&c->stream, &po);
    c->t_start = now_ns();
    b->started++;
    if (connect(c->fd, (const struct sockaddr *)&b->addr, sizeof b->addr) < 0 &&
        errno != EINPROGRESS) {
        snprintf(b->err, sizeof b->err, "connect: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        c->state = ST_FREE;
        return -1;
    }
    if (ep_set(b, c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT) < 0) {
        snprintf(b->err, sizeof b->err, "epoll_ctl: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        c->state = ST_FREE;
        return -1;
    }
    return 0;
}

/* ---- the byte transport: the socket, or TLS over it ---------------------------------- */

/* read(2) or SSL_read: bytes, 0 at the end, -1 with errno (EAGAIN: wait). */
static ssize_t io_read(conn_t *c, void *buf, size_t n)
{
#ifdef MQR_BENCH_TLS
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, buf, (int)(n > 1u << 30 ? 1u << 30 : n));
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            errno = EAGAIN;
            return -1;
        }
        if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
            return 0;
        errno = EIO;
        return -1;
    }
#endif
    return read(c->fd, buf, n);
}

/* write(2) or SSL_write, same results. */
static ssize_t io_write(conn_t *c, const void *buf, size_t n)
{
#ifdef MQR_BENCH_TLS
    if (c->ssl != NULL) {
        int r = SSL_write(c->ssl, buf, (int)(n > 1u << 30 ? 1u << 30 : n));
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
        return -1;
    }
#endif
    return write(c->fd, buf, n);
}

static void conn_close(conn_t *c)
{
#ifdef MQR_BENCH_TLS
    SSL_free(c->ssl);
    c->ssl = NULL;
#endif
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = ST_FREE;
}

/* Encode *p at the bench's protocol level onto c's output buffer. Returns 0,
 * or -1 (encoding refused the packet or memory ran out). */
static int conn_put(bench_t *b, conn_t *c, mqr_packet_t *p)
{
    size_t n = 0;
    p->proto_ver = (uint8_t)b->o.proto;
    int rc = mqr_packet_encode(p, c->out.data ? c->out.data + c->out.len : NULL,
                               c->out.cap - c->out.len, &n, NULL);
    if (rc == MQR_EBUFFER) {
        if (buf_reserve(&c->out, n) < 0)
            return -1;
        rc = mqr_packet_encode(p, c->out.data + c->out.len, c->out.cap - c->out.len, &n, NULL);
    }
    if (rc != MQR_OK) {
        snprintf(b->err, sizeof b->err, "encode %s: %s", mqr_packet_type_name(p->type),
                 mqr_status_name(rc));
        return -1;
    }
    c->out.len += n;
    return 0;
}

/* Write what c has pending; register EPOLLOUT while some stays. Returns 0, or
 * -1 when the connection failed. */
static int conn_flush(bench_t *b, conn_t *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = io_write(c, c->out.data + c->out.off, c->out.len - c->out.off);
        if (n > 0) {
            c->out.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->epollout && ep_set(b, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT) == 0)
                c->epollout = 1;
            return 0;
        }
        return -1;
    }
    c->out.off = c->out.len = 0;
    if (c->epollout && c->state != ST_CONNECTING &&
        ep_set(b, c, EPOLL_CTL_MOD, EPOLLIN) == 0)
        c->epollout = 0;
    return 0;
}

static int send_connect(bench_t *b, conn_t *c)
{
    char id[64];
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    snprintf(id, sizeof id, "bench-%ld-%d-%u-%llu", b->pid, c->role, c->index,
             (unsigned long long)b->started);
    p.type = MQR_PKT_CONNECT;
    p.connect.clean_start = (uint8_t)!b->o.no_clean;
    /* --no-clean: MQTT 5 needs a Session-Expiry-Interval (3600 s) to keep it */
    static const uint8_t expiry[] = {MQR_PROP_SESSION_EXPIRY_INTERVAL, 0, 0, 0x0E, 0x10};
    if (b->o.no_clean && b->o.proto == MQR_PROTO_V5) {
        p.connect.props.ptr = expiry;
        p.connect.props.len = sizeof expiry;
        p.connect.props.present = 1;
    }
    p.connect.keepalive = (uint16_t)b->o.keepalive;
    p.connect.clientid.ptr = id;
    p.connect.clientid.len = (uint32_t)strlen(id);
    if (b->o.username) {
        p.connect.username.ptr = b->o.username;
        p.connect.username.len = (uint32_t)strlen(b->o.username);
    }
    return conn_put(b, c, &p);
}

static int send_simple(bench_t *b, conn_t *c, int type, uint16_t packet_id)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = (uint8_t)type;
    if (type == MQR_PKT_PUBREL)
        p.flags = 2;
    p.ack.packet_id = packet_id;
    return conn_put(b, c, &p);
}

static int send_subscribe(bench_t *b, conn_t *c, const char *filter, uint32_t qos)
{
    mqr_subscription_t s;
    mqr_packet_t p;
    memset(&s, 0, sizeof s);
    memset(&p, 0, sizeof p);
    s.filter.ptr = filter;
    s.filter.len = (uint32_t)strlen(filter);
    s.qos = (uint8_t)qos;
    p.type = MQR_PKT_SUBSCRIBE;
    p.flags = 2;
    p.subscribe.packet_id = 1;
    p.subscribe.count = 1;
    p.subscribe.list = &s;
    return conn_put(b, c, &p);
}

/* ---- publishing --------------------------------------------------------------------- */

/* Messages the publishers are ahead of the average subscriber. */
static uint64_t lag(const bench_t *b)
{
    uint64_t delivered = b->received / b->o.subs;
    return b->sent > delivered ? b->sent - delivered : 0;
}

/* Encode as many PUBLISHes as the limits allow, then write them. */
static int pub_pump(bench_t *b, conn_t *c)
{
    char topic[300];
    snprintf(topic, sizeof topic, "%s/%u", b->topic, c->index);
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.publish.qos = (uint8_t)b->o.qos;
    p.publish.topic.ptr = topic;
    p.publish.topic.len = (uint32_t)strlen(topic);
    p.publish.payload.ptr = b->payload;
    p.publish.payload.len = b->o.size;
    uint32_t limit = b->o.inflight < c->recv_max ? b->o.inflight : c->recv_max;
    while (c->sent < b->o.messages && lag(b) < b->o.window &&
           (b->o.qos == 0 || c->inflight < limit) && c->out.len - c->out.off < OUT_HIGH_WATER) {
        if (b->o.size >= STAMP_LEN) {
            uint64_t t = now_ns();
            uint32_t idx = c->index, seq = (uint32_t)c->sent;
            memcpy(b->payload, &t, 8);
            memcpy(b->payload + 8, &idx, 4);
            memcpy(b->payload + 12, &seq, 4);
        }
        if (b->o.qos > 0)
            p.publish.packet_id = (uint16_t)(c->sent % 65535 + 1);
        if (conn_put(b, c, &p) < 0)
            return -1;
        c->sent++;
        b->sent++;
        if (b->o.qos > 0)
            c->inflight++;
    }
    return conn_flush(b, c);
}

/* ---- packet handling ---------------------------------------------------------------- */

/* Count c as failed and close it; `why` (NULL: b->err is already set) becomes
 * the run's error message unless an earlier one is kept. */
static void conn_failed(bench_t *b, conn_t *c, const char *why)
{
    if (why && !b->err[0])
        snprintf(b->err, sizeof b->err, "%s", why);
    b->failed++;
    conn_close(c);
}

/* A CONNACK arrived on c. Returns 0, or -1 when c was closed. */
static int on_connack(bench_t *b, conn_t *c, const mqr_packet_t *p)
{
    uint64_t t = now_ns();
    if (p->connack.reason_code != 0) {
        snprintf(b->err, sizeof b->err, "CONNACK reason code 0x%02x", p->connack.reason_code);
        conn_failed(b, c, NULL);
        return -1;
    }
    uint32_t rm = 0;
    if (b->o.proto == MQR_PROTO_V5 &&
        mqr_packet_prop_get_int(&p->connack.props, MQR_PROP_RECEIVE_MAXIMUM, &rm) == MQR_OK)
        c->recv_max = rm;
    switch (c->role) {
    case ROLE_STORM:
        b->ok++;
        lat_add(&b->lat, t - c->t_start);
        c->state = ST_CLOSING;
        return send_simple(b, c, MQR_PKT_DISCONNECT, 0);
    case ROLE_IDLE:
        b->ok++;
        lat_add(&b->lat, t - c->t_start);
        c->state = ST_READY;
        return 0;
    case ROLE_SUB:
        c->state = ST_SUBACK;
        return send_subscribe(b, c, b->filter, b->o.qos);
    case ROLE_EVENTS:
        c->state = ST_SUBACK;
        return send_subscribe(b, c, b->o.event_topic, 0);
    default:
        c->state = ST_READY;
        b->ready_pubs++;
        return 0;
    }
}

/* A PUBLISH arrived on subscriber c. */
static int on_publish(bench_t *b, conn_t *c, const mqr_packet_t *p)
{
    uint64_t t = now_ns();
    b->t_progress = t;
    if (c->role == ROLE_EVENTS) {
        b->events++;
        b->t_last_event = t;
    } else {
        if (p->publish.dup)
            b->dups++;
        b->received++;
        b->t_end = t;
        if (p->publish.payload.len >= STAMP_LEN) {
            uint64_t sent;
            memcpy(&sent, p->publish.payload.ptr, 8);
            lat_add(&b->lat, t - sent);
        }
    }
    if (p->publish.qos == 1)
        return send_simple(b, c, MQR_PKT_PUBACK, p->publish.packet_id);
    if (p->publish.qos == 2)
        return send_simple(b, c, MQR_PKT_PUBREC, p->publish.packet_id);
    return 0;
}

/* One decoded packet for c. Returns 0, or -1 when c failed (and was closed). */
static int on_packet(bench_t *b, conn_t *c, const mqr_packet_t *p)
{
    int rc = 0;
    switch (p->type) {
    case MQR_PKT_CONNACK:
        if (c->state != ST_CONNACK)
            break;
        return on_connack(b, c, p);
    case MQR_PKT_SUBACK:
        if (p->suback.codes.len < 1 || p->suback.codes.ptr[0] >= 0x80) {
            conn_failed(b, c, "subscription refused");
            return -1;
        }
        c->state = ST_READY;
        if (c->role == ROLE_SUB)
            b->ready_subs++;
        return 0;
    case MQR_PKT_PUBLISH:
        return on_publish(b, c, p);
    case MQR_PKT_PUBREL:
        return send_simple(b, c, MQR_PKT_PUBCOMP, p->ack.packet_id);
    case MQR_PKT_PUBREC:
        rc = send_simple(b, c, MQR_PKT_PUBREL, p->ack.packet_id);
        break;
    case MQR_PKT_PUBACK:
    case MQR_PKT_PUBCOMP:
        if (c->inflight > 0)
            c->inflight--;
        b->acked++;
        b->t_progress = now_ns();
        break;
    case MQR_PKT_DISCONNECT:
        conn_failed(b, c, "the broker sent DISCONNECT");
        return -1;
    default:
        break;
    }
    return rc;
}

/* The connect of c completed (writable; `ev` the epoll events): check it and
 * send CONNECT. Writable without EPOLLERR or EPOLLHUP means connected; only
 * then is SO_ERROR asked for the reason. */
static int on_connected(bench_t *b, conn_t *c, uint32_t ev)
{
    if (ev & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        snprintf(b->err, sizeof b->err, "connect: %s",
                 err != 0 ? strerror(err) : "the connection was closed");
        conn_failed(b, c, NULL);
        return -1;
    }
#ifdef MQR_BENCH_TLS
    if (b->o.tls) {
        SSL *s = SSL_new(b->ssl_ctx);
        if (s == NULL || SSL_set_fd(s, c->fd) != 1) {
            SSL_free(s);
            conn_failed(b, c, "SSL_new failed");
            return -1;
        }
        SSL_set_connect_state(s);
        SSL_set_tlsext_host_name(s, "localhost");
        SSL_set1_host(s, "localhost");
        c->ssl = s;
        c->state = ST_HANDSHAKE;
        return 0;
    }
#endif
    c->state = ST_CONNACK;
    if (send_connect(b, c) < 0) {
        conn_failed(b, c, NULL);
        return -1;
    }
    return 0;
}

#ifdef MQR_BENCH_TLS
/* Drive c's TLS handshake; when it is done send the CONNECT. Returns 0, or -1
 * when c failed. */
static int on_handshake(bench_t *b, conn_t *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            uint32_t want = e == SSL_ERROR_WANT_WRITE ? EPOLLIN | EPOLLOUT : EPOLLIN;
            if (ep_set(b, c, EPOLL_CTL_MOD, want) == 0)
                c->epollout = e == SSL_ERROR_WANT_WRITE;
            return 0;
        }
        unsigned long err = ERR_get_error();
        snprintf(b->err, sizeof b->err, "TLS handshake: %s",
                 err ? ERR_reason_error_string(err) : "the connection was closed");
        ERR_clear_error();
        conn_failed(b, c, NULL);
        return -1;
    }
    b->handshakes++;
    c->state = ST_CONNACK;
    if (send_connect(b, c) < 0) {
        conn_failed(b, c, NULL);
        return -1;
    }
    return 0;
}

/* The client context of --tls: verify the broker with --cafile (else the
 * system's CAs), present --cert/--key when given, no session resumption. */
static int tls_setup(bench_t *b)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return -1;
    b->ssl_ctx = ctx;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ok = b->o.cafile ? SSL_CTX_load_verify_locations(ctx, b->o.cafile, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
    if (ok == 1 && b->o.certfile)
        ok = SSL_CTX_use_certificate_chain_file(ctx, b->o.certfile) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, b->o.keyfile, SSL_FILETYPE_PEM) == 1;
    if (ok != 1) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "mqttrule-bench: TLS set-up: %s\n",
                e ? ERR_reason_error_string(e) : "failed");
        return -1;
    }
    return 0;
}
#endif

/* The broker closed c. In ST_CLOSING that ends a storm connection normally. */
static void on_eof(bench_t *b, conn_t *c)
{
    if (c->state == ST_CLOSING) {
        b->closed++;
        conn_close(c);
        return;
    }
    conn_failed(b, c, "the broker closed the connection");
}

/* Read everything c has and handle each whole packet. Returns 0, or -1 when c
 * is closed. */
static int conn_read(bench_t *b, conn_t *c)
{
    size_t chunk = (c->role == ROLE_SUB || c->role == ROLE_PUB) ? 65536 : 512;
    for (;;) {
        if (buf_reserve(&c->in, chunk) < 0) {
            conn_failed(b, c, "out of memory");
            return -1;
        }
        size_t room = c->in.cap - c->in.len;
        ssize_t n = io_read(c, c->in.data + c->in.len, room);
        if (n == 0) {
            on_eof(b, c);
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (c->state == ST_CLOSING) {
                on_eof(b, c);
                return -1;
            }
            conn_failed(b, c, strerror(errno));
            return -1;
        }
        c->in.len += (size_t)n;
        while (c->in.off < c->in.len) {
            mqr_packet_t p;
            size_t used = 0;
            mqr_diag_t d;
            int rc = mqr_packet_stream_next(&c->stream, c->in.data + c->in.off,
                                            c->in.len - c->in.off, &p, &used, &d);
            if (rc == MQR_NEED_MORE)
                break;
            if (rc != MQR_OK) {
                snprintf(b->err, sizeof b->err, "decode: %s", d.message);
                conn_failed(b, c, NULL);
                return -1;
            }
            c->in.off += used;
            if (on_packet(b, c, &p) < 0) {
                if (c->fd >= 0)
                    conn_failed(b, c, "out of memory");
                return -1;
            }
        }
        if ((size_t)n < room && c->ssl == NULL)
            break; /* TLS: read until SSL_read says it wants more */
    }
    if (c->role == ROLE_PUB && b->running)
        return 0; /* the main loop pumps and flushes publishers */
    if (conn_flush(b, c) < 0) {
        if (c->state == ST_CLOSING)
            on_eof(b, c);
        else
            conn_failed(b, c, "write failed");
        return -1;
    }
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------- */

/* Handle epoll events for c. */
static void conn_event(bench_t *b, conn_t *c, uint32_t ev)
{
    if (c->state == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (on_connected(b, c, ev) < 0)
            return;
        if (c->state == ST_CONNACK && conn_flush(b, c) < 0) {
            conn_failed(b, c, "write failed");
            return;
        }
        if (c->state != ST_HANDSHAKE)
            return;
    }
#ifdef MQR_BENCH_TLS
    if (c->state == ST_HANDSHAKE) {
        if (on_handshake(b, c) < 0 || c->state == ST_HANDSHAKE)
            return;
        if (conn_flush(b, c) < 0)
            conn_failed(b, c, "write failed");
        return;
    }
#endif
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (conn_read(b, c) < 0)
            return;
    }
    if ((ev & EPOLLOUT) && c->fd >= 0 && conn_flush(b, c) < 0)
        conn_failed(b, c, "write failed");
}

/* Wait for events up to `ms` and dispatch them. */
static void poll_once(bench_t *b, int ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(b->ep, evs, 256, ms);
    for (int i = 0; i < n; i++)
        conn_event(b, (conn_t *)evs[i].data.ptr, evs[i].events);
}

static int timed_out(const bench_t *b)
{
    return g_stop || now_ns() >= b->t_deadline;
}

/* Open connections with `role` in conns[first..first+count) until `*ready`
 * reaches `count` (or failures make that impossible). */
static int open_and_wait(bench_t *b, size_t first, uint32_t count, int role, uint64_t *ready)
{
    for (uint32_t i = 0; i < count; i++) {
        if (conn_open(b, &b->conns[first + i], role, i) < 0)
            return -1;
    }
    while (*ready < count && b->failed == 0 && !timed_out(b))
        poll_once(b, 50);
    if (*ready < count) {
        if (!b->err[0])
            snprintf(b->err, sizeof b->err, "timed out connecting");
        return -1;
    }
    return 0;
}

/* The connection storm (and idle mode's opening): keep `parallel` connections
 * going until `connections` have been started. */
static int run_storm(bench_t *b, int role)
{
    uint64_t target = b->o.connections;
    size_t slots = b->o.parallel;
    b->t_begin = now_ns();
    uint64_t next = 0;
    for (;;) {
        uint64_t done = b->ok + b->failed;
        if (role == ROLE_STORM)
            done = b->closed + b->failed;
        if (done >= target || timed_out(b))
            break;
        if (role == ROLE_STORM) {
            for (size_t i = 0; i < slots && next < target; i++) {
                conn_t *c = &b->conns[i];
                if (c->state == ST_FREE && conn_open(b, c, role, (uint32_t)next++) < 0)
                    b->failed++;
            }
        } else {
            uint64_t active = next - b->ok - b->failed;
            while (next < target && active < slots) {
                if (conn_open(b, &b->conns[next], role, (uint32_t)next) < 0)
                    b->failed++;
                next++;
                active++;
            }
        }
        poll_once(b, 20);
    }
    b->t_end = now_ns();
    if (role == ROLE_STORM && b->o.event_topic) {
        b->t_progress = now_ns();
        while (b->events < b->ok && !timed_out(b) && now_ns() - b->t_progress < STALL_NS)
            poll_once(b, 20);
        if (b->t_last_event > b->t_end)
            b->t_end = b->t_last_event;
    }
    return 0;
}

/* Publishing: pump publishers until everything is delivered, nothing moves
 * for STALL_NS, or the time limit. */
static void run_pubsub(bench_t *b)
{
    size_t first_pub = b->o.subs;
    b->running = 1;
    b->t_begin = b->t_progress = now_ns();
    b->t_end = b->t_begin;
    for (;;) {
        int all_sent = 1;
        for (uint32_t i = 0; i < b->o.pubs; i++) {
            conn_t *c = &b->conns[first_pub + i];
            if (c->fd < 0)
                continue;
            if (pub_pump(b, c) < 0)
                conn_failed(b, c, "write failed");
            if (c->sent < b->o.messages || c->inflight > 0)
                all_sent = 0;
        }
        if (all_sent && b->received >= b->expected)
            break;
        if (timed_out(b) || b->failed > 0 || now_ns() - b->t_progress > STALL_NS)
            break;
        poll_once(b, 10);
    }
}

/* ---- reporting ------------------------------------------------------------------------- */

static const char *mode_name(int mode)
{
    return mode == MODE_CONN ? "conn" : mode == MODE_PUBSUB ? "pubsub" : "idle";
}

/* Print the results; returns the exit status. */
static int report(bench_t *b)
{
    qsort(b->lat.v, b->lat.n, sizeof *b->lat.v, cmp_u64);
    double secs = (double)(b->t_end - b->t_begin) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double p50 = lat_quantile(&b->lat, 0.50), p99 = lat_quantile(&b->lat, 0.99);
    double pmax = lat_quantile(&b->lat, 1.0);
    const opts_t *o = &b->o;
    int status = b->failed == 0 ? 0 : 1;
    uint64_t lost = 0;
    if (o->mode == MODE_PUBSUB) {
        lost = b->expected > b->received ? b->expected - b->received : 0;
        if (o->qos > 0 && (lost > 0 || b->acked < b->sent))
            status = 1;
        if (b->sent < (uint64_t)o->pubs * o->messages)
            status = 1;
    } else if (b->ok < o->connections) {
        status = 1;
    }
    if (o->mode == MODE_CONN && o->event_topic && b->events < b->ok)
        status = 1;
    if (o->json) {
        printf("{\"mode\":\"%s\",\"host\":\"%s\",\"port\":%d,\"protocol\":%d", mode_name(o->mode),
               o->host, o->port, o->proto);
        if (o->mode == MODE_PUBSUB) {
            printf(",\"qos\":%u,\"payload\":%u,\"publishers\":%u,\"subscribers\":%u,"
                   "\"messages_per_publisher\":%llu,\"sent\":%llu,\"acked\":%llu,"
                   "\"expected\":%llu,\"received\":%llu,\"lost\":%llu,\"duplicates\":%llu,"
                   "\"elapsed_s\":%.6f,\"sent_per_s\":%.1f,\"received_per_s\":%.1f,"
                   "\"mbytes_per_s\":%.3f",
                   o->qos, o->size, o->pubs, o->subs, (unsigned long long)o->messages,
                   (unsigned long long)b->sent, (unsigned long long)b->acked,
                   (unsigned long long)b->expected, (unsigned long long)b->received,
                   (unsigned long long)lost, (unsigned long long)b->dups, secs,
                   (double)b->sent / secs, (double)b->received / secs,
                   (double)b->received * o->size / secs / 1e6);
        } else {
            printf(",\"connections\":%u,\"parallel\":%u,\"connected\":%llu,\"failed\":%llu,"
                   "\"elapsed_s\":%.6f,\"connections_per_s\":%.1f",
                   o->connections, o->parallel, (unsigned long long)b->ok,
                   (unsigned long long)b->failed, secs, (double)b->ok / secs);
            if (o->event_topic)
                printf(",\"event_topic\":\"%s\",\"events_received\":%llu", o->event_topic,
                       (unsigned long long)b->events);
        }
        printf(",\"latency_us\":{\"samples\":%zu,\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}",
               b->lat.n, p50, p99, pmax);
        if (o->tls)
            printf(",\"tls\":true,\"tls_handshakes\":%llu", (unsigned long long)b->handshakes);
        printf(",\"ok\":%s", status == 0 ? "true" : "false");
        if (b->err[0]) {
            printf(",\"error\":\"");
            for (const char *s = b->err; *s; s++) {
                if (*s == '"' || *s == '\\')
                    putchar('\\');
                putchar((unsigned char)*s < 0x20 ? ' ' : *s);
            }
            printf("\"");
        }
        printf("}\n");
    } else if (o->mode == MODE_PUBSUB) {
        printf("pubsub: MQTT level %d, QoS %u, %u B, %u -> %u: sent %llu, received %llu of %llu "
               "(lost %llu) in %.3f s: %.0f msg/s received, %.0f msg/s sent; latency p50 %.1f "
               "us, p99 %.1f us, max %.1f us\n",
               o->proto, o->qos, o->size, o->pubs, o->subs, (unsigned long long)b->sent,
               (unsigned long long)b->received, (unsigned long long)b->expected,
               (unsigned long long)lost, secs, (double)b->received / secs,
               (double)b->sent / secs, p50, p99, pmax);
    } else {
        printf("%s: MQTT level %d, %llu of %u connected (%u in parallel), %llu failed, in %.3f "
               "s: %.0f connections/s; CONNACK latency p50 %.1f us, p99 %.1f us, max %.1f us",
               mode_name(o->mode), o->proto, (unsigned long long)b->ok, o->connections,
               o->parallel, (unsigned long long)b->failed, secs, (double)b->ok / secs, p50, p99,
               pmax);
        if (o->event_topic)
            printf("; %llu events on %s", (unsigned long long)b->events, o->event_topic);
        printf("\n");
    }
    if (b->err[0] && !o->json)
        fprintf(stderr, "mqttrule-bench: %s\n", b->err);
    fflush(stdout);
    return status;
}

/* ---- command line ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: mqttrule-bench MODE [options]\n"
          "\n"
          "An MQTT load generator (one thread, epoll) that works against any broker.\n"
          "\n"
          "Modes:\n"
          "  conn     connection storm: CONNECT, CONNACK, DISCONNECT, wait for the close\n"
          "  pubsub   P publishers -> S subscribers (fan-out: --pubs 1 --subs 100)\n"
          "  idle     open N connections, report, hold them until SIGINT/SIGTERM or -d\n"
          "\n"
          "Options:\n"
          "  -h, --host ADDR        broker IPv4 address (default 127.0.0.1)\n"
          "  -p, --port PORT        broker port (default 1883)\n"
          "  -V, --protocol V       MQTT level: 3 (3.1), 4 (3.1.1, default) or 5\n"
          "  -c, --connections N    conn/idle: connections in all (default 1000)\n"
          "  -P, --parallel N       conn/idle: connections in progress at once (default 50)\n"
          "  -e, --event-topic T    conn: subscribe to T first and wait for one message per\n"
          "                         connection (a broker rule republishing CONNACK events)\n"
          "      --pubs N           pubsub: publishers (default 1)\n"
          "      --subs N           pubsub: subscribers (default 1)\n"
          "  -n, --messages N       pubsub: messages per publisher (default 10000)\n"
          "  -q, --qos Q            pubsub: QoS 0, 1 or 2 (default 0)\n"
          "  -s, --size BYTES       pubsub: payload size (default 64; >= 16 for latency)\n"
          "  -t, --topic PREFIX     pubsub: topic prefix (default bench/PID)\n"
          "  -w, --window N         pubsub: most messages ahead of the subscribers (1000)\n"
          "  -i, --inflight N       pubsub: unacknowledged QoS 1/2 per publisher (16)\n"
          "  -u, --username NAME    user name in every CONNECT\n"
          "  -k, --keepalive S      keep alive in every CONNECT (default 0: none)\n"
          "      --no-clean         sessions that outlive the connection: clean start 0\n"
          "                         (MQTT 5: with Session-Expiry-Interval 3600)\n"
          "  -d, --duration S       time limit of the run in seconds (default 60)\n"
          "  -j, --json             one JSON object instead of a text line\n"
          "      --tls              TLS to the broker (a full handshake per connection)\n"
          "      --cafile FILE      --tls: CA certificates that verify the broker\n"
          "      --cert FILE        --tls: client certificate (with --key)\n"
          "      --key FILE         --tls: its private key\n"
          "      --help             this text\n"
          "      --version          the version\n"
          "\n"
          "Exit status: 0 success, 1 failed connections or lost QoS 1/2 messages,\n"
          "64 bad command line.\n",
          f);
}

/* Print "mqttrule-bench: MESSAGE" and a hint to stderr, exit 64. */
__attribute__((format(printf, 1, 2), noreturn)) static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mqttrule-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mqttrule-bench --help'.\n");
    exit(EXIT_USAGE);
}

/* Parse a decimal number in [lo, hi] or exit 64 naming the option. */
static uint64_t num_arg(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || end == s || *end || s[0] == '-' || v < lo || v > hi)
        bad_usage("%s: expected a number from %llu to %llu, got '%s'", opt,
                  (unsigned long long)lo, (unsigned long long)hi, s);
    return v;
}

static void parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longs[] = {
        {"host", required_argument, NULL, 'h'},     {"port", required_argument, NULL, 'p'},
        {"protocol", required_argument, NULL, 'V'}, {"connections", required_argument, NULL, 'c'},
        {"parallel", required_argument, NULL, 'P'}, {"event-topic", required_argument, NULL, 'e'},
        {"pubs", required_argument, NULL, 1},       {"subs", required_argument, NULL, 2},
        {"messages", required_argument, NULL, 'n'}, {"qos", required_argument, NULL, 'q'},
        {"size", required_argument, NULL, 's'},     {"topic", required_argument, NULL, 't'},
        {"window", required_argument, NULL, 'w'},   {"inflight", required_argument, NULL, 'i'},
        {"username", required_argument, NULL, 'u'}, {"keepalive", required_argument, NULL, 'k'},
        {"duration", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 3},             {"tls", no_argument, NULL, 4},
        {"cafile", required_argument, NULL, 5},     {"cert", required_argument, NULL, 6},
        {"key", required_argument, NULL, 7},        {"version", no_argument, NULL, 8},
        {"no-clean", no_argument, NULL, 9},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 1883;
    o->proto = MQR_PROTO_V311;
    o->connections = 1000;
    o->parallel = 50;
    o->pubs = o->subs = 1;
    o->messages = 10000;
    o->size = 64;
    o->window = 1000;
    o->inflight = 16;
    o->duration = 60;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h:p:V:c:P:e:n:q:s:t:w:i:u:k:d:j", longs, NULL)) !=
           -1) {
        switch (ch) {
        case 'h': o->host = optarg; break;
        case 'p': o->port = (int)num_arg("--port", optarg, 1, 65535); break;
        case 'V': o->proto = (int)num_arg("--protocol", optarg, 3, 5); break;
        case 'c': o->connections = (uint32_t)num_arg("--connections", optarg, 1, 1000000); break;
        case 'P': o->parallel = (uint32_t)num_arg("--parallel", optarg, 1, 100000); break;
        case 'e': o->event_topic = optarg; break;
        case 1: o->pubs = (uint32_t)num_arg("--pubs", optarg, 1, 10000); break;
        case 2: o->subs = (uint32_t)num_arg("--subs", optarg, 1, 10000); break;
        case 'n': o->messages = num_arg("--messages", optarg, 1, 1000000000); break;
        case 'q': o->qos = (uint32_t)num_arg("--qos", optarg, 0, 2); break;
        case 's': o->size = (uint32_t)num_arg("--size", optarg, 0, 16u << 20); break;
        case 't': o->topic = optarg; break;
        case 'w': o->window = (uint32_t)num_arg("--window", optarg, 1, 10000000); break;
        case 'i': o->inflight = (uint32_t)num_arg("--inflight", optarg, 1, 65535); break;
        case 'u': o->username = optarg; break;
        case 'k': o->keepalive = (uint32_t)num_arg("--keepalive", optarg, 0, 65535); break;
        case 'd': o->duration = (double)num_arg("--duration", optarg, 1, 86400); break;
        case 'j': o->json = 1; break;
        case 4: o->tls = 1; break;
        case 5: o->cafile = optarg; break;
        case 6: o->certfile = optarg; break;
        case 7: o->keyfile = optarg; break;
        case 9: o->no_clean = 1; break;
        case 3: usage(stdout); exit(0);
        case 8: printf("mqttrule-bench (libmqttrule %s)\n", mqr_version()); exit(0);
        case ':': bad_usage("option '%s' needs an argument", argv[optind - 1]); break;
        default: bad_usage("unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (optind != argc - 1)
        bad_usage("%s", optind >= argc ? "missing MODE (conn, pubsub or idle)"
                                       : "exactly one MODE expected");
    const char *m = argv[optind];
    if (strcmp(m, "conn") == 0)
        o->mode = MODE_CONN;
    else if (strcmp(m, "pubsub") == 0)
        o->mode = MODE_PUBSUB;
    else if (strcmp(m, "idle") == 0)
        o->mode = MODE_IDLE;
    else
        bad_usage("unknown MODE '%s' (conn, pubsub or idle)", m);
    if (o->event_topic && mqr_topic_validate_filter(o->event_topic, strlen(o->event_topic), NULL))
        bad_usage("--event-topic: '%s' is not a valid topic filter", o->event_topic);
    if (o->topic && mqr_topic_validate_name(o->topic, strlen(o->topic), NULL))
        bad_usage("--topic: '%s' is not a valid topic name", o->topic);
}

/* ---- main ------------------------------------------------------------------------------- */

/* Raise the descriptor limit to what the run needs (up to the hard limit). */
static int raise_nofile(uint64_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need) ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < need)
        return -1;
    return 0;
}

static int setup(bench_t *b)
{
    const opts_t *o = &b->o;
    memset(&b->addr, 0, sizeof b->addr);
    b->addr.sin_family = AF_INET;
    b->addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &b->addr.sin_addr) != 1)
        bad_usage("--host: '%s' is not an IPv4 address", o->host);
    b->pid = (long)getpid();
    if (o->topic)
        snprintf(b->topic, sizeof b->topic, "%s", o->topic);
    else
        snprintf(b->topic, sizeof b->topic, "bench/%ld", b->pid);
    size_t n = 1; /* the event subscriber */
    uint64_t samples = o->connections;
    if (o->mode == MODE_CONN)
        n += o->parallel;
    else if (o->mode == MODE_IDLE)
        n += o->connections;
    else {
        n += (size_t)o->pubs + o->subs;
        samples = (uint64_t)o->pubs * o->messages * o->subs;
    }
    snprintf(b->filter, sizeof b->filter, "%s/#", b->topic);
    if (raise_nofile(n + 64) < 0) {
        fprintf(stderr, "mqttrule-bench: need %zu descriptors; raise 'ulimit -n'\n", n + 64);
        return -1;
    }
    b->nconns = n;
    b->conns = calloc(n, sizeof *b->conns);
    b->payload = malloc(o->size ? o->size : 1);
    if (!b->conns || !b->payload || lat_init(&b->lat, samples) < 0)
        return -1;
    memset(b->payload, 'x', o->size);
    for (size_t i = 0; i < n; i++)
        b->conns[i].fd = -1;
    b->ep = epoll_create1(0);
    if (b->ep < 0)
        return -1;
    if (o->tls) {
#ifdef MQR_BENCH_TLS
        if (tls_setup(b) < 0)
            return -1;
#else
        bad_usage("--tls needs a build with OpenSSL");
#endif
    }
    b->t_deadline = now_ns() + (uint64_t)(o->duration * 1e9);
    return 0;
}

static void teardown(bench_t *b)
{
    for (size_t i = 0; i < b->nconns; i++) {
        conn_t *c = &b->conns[i];
        if (c->fd >= 0 && c->state == ST_READY) {
            send_simple(b, c, MQR_PKT_DISCONNECT, 0);
            conn_flush(b, c);
        }
        conn_close(c);
        buf_free(&c->in);
        buf_free(&c->out);
    }
    free(b->conns);
    free(b->payload);
    free(b->lat.v);
    if (b->ep >= 0)
        close(b->ep);
#ifdef MQR_BENCH_TLS
    SSL_CTX_free(b->ssl_ctx);
#endif
}

int main(int argc, char **argv)
{
    bench_t b;
    memset(&b, 0, sizeof b);
    b.ep = -1;
    parse_args(argc, argv, &b.o);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (setup(&b) < 0) {
        fprintf(stderr, "mqttrule-bench: setup failed: %s\n", strerror(errno));
        teardown(&b);
        return 1;
    }
    size_t last = b.nconns - 1; /* the event subscriber's slot */
    int status;
    if (b.o.mode == MODE_PUBSUB) {
        b.expected = (uint64_t)b.o.pubs * b.o.messages * b.o.subs;
        if (open_and_wait(&b, 0, b.o.subs, ROLE_SUB, &b.ready_subs) == 0 &&
            open_and_wait(&b, b.o.subs, b.o.pubs, ROLE_PUB, &b.ready_pubs) == 0)
            run_pubsub(&b);
        status = report(&b);
    } else {
        uint64_t ready_events = 0;
        if (b.o.mode == MODE_CONN && b.o.event_topic) {
            conn_t *ec = &b.conns[last];
            if (conn_open(&b, ec, ROLE_EVENTS, 0) == 0) {
                while (ec->state != ST_READY && ec->fd >= 0 && !timed_out(&b))
                    poll_once(&b, 50);
                ready_events = ec->state == ST_READY;
            }
            b.started = 0;
        } else {
            ready_events = 1;
        }
        if (!ready_events) {
            if (!b.err[0])
                snprintf(b.err, sizeof b.err, "event subscriber did not connect");
            b.failed++;
        } else {
            /* conns[0..last) are the storm slots or the idle connections */
            b.nconns = last;
            run_storm(&b, b.o.mode == MODE_CONN ? ROLE_STORM : ROLE_IDLE);
            b.nconns = last + 1;
        }
        status = report(&b);
        if (b.o.mode == MODE_IDLE) {
            while (!timed_out(&b))
                poll_once(&b, 100);
        }
    }
    teardown(&b);
    return status;
}
