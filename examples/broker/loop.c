/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the broker's event loop: listening sockets, accepted connections,
 * reads, buffered writes, the engine's descriptors and timer, and one-second
 * timers.
 *
 * The loop uses epoll; building with -DBRK_USE_POLL selects a poll() backend
 * that rebuilds its descriptor array every round (fine for tests and small
 * deployments). The rule engine tells the loop which descriptors to watch
 * and when it next needs mqr_engine_process through its socket-state and
 * timer callbacks (brk_loop_engine_sock / _timer, c-ares style): the loop
 * keeps no snapshot to compare and has no limit on their number. Every watched descriptor carries a brk_watch_t saying what it
 * is. Reads go into one shared buffer; complete packets are decoded straight
 * from it and only the bytes of a partial packet are copied into the
 * connection, so an idle connection owns no buffer. Writes are collected per
 * connection during a round and written at its end, one write per connection
 * however many packets it got (a subscriber receiving a burst, the CONNACK
 * events of a connection storm); what the socket does not take is kept and
 * flushed when writable. A closed connection is moved to a dead list and
 * freed at the end of the round, so the code handling a packet may close the
 * connection it works on.
 *
 * A connection's socket is read and written only through its transport
 * (c->io: plain TCP or TLS, listener.c and tls.c), and what is read goes to
 * brk_xport_deliver (WebSocket frames or MQTT); brk_conn_send wraps each
 * packet in a WebSocket frame when the connection is one (ws.c).
 */
#ifdef __linux__
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef BRK_USE_POLL
#include <poll.h>
#else
#include <sys/epoll.h>
#endif

#include "broker.h"

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

#ifndef BRK_USE_POLL
static void watch_ctl(broker_t *b, int op, brk_watch_t *w, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = w;
    (void)epoll_ctl(b->epfd, op, w->fd, &ev);
}
#endif

/*
 * Linux TCP_DEFER_ACCEPT (tcp_defer_accept, default yes): the kernel hands
 * a connection to accept() only once its first bytes (the CONNECT) have
 * arrived, or when the connect timeout has passed. Accepting and reading the
 * CONNECT then take one wake-up of the broker instead of two, and the client
 * that woke it pays for one scheduler wake-up less. A socket closed before
 * sending anything never reaches the broker. Elsewhere nothing is done.
 * Returns 0 or -1.
 */
static int defer_accept(broker_t *b, int fd)
{
    /* The kernel holds a silent socket until its SYN-ACK retransmission
     * after the deferral (1 s, then 3 s, 7 s, 15 s...), so the deferral is
     * kept at one second and counted in the connect timeout (deferred_ms):
     * a socket that sends nothing is closed connect_timeout_ms after its
     * handshake, as docs/broker.md says, not a deferral later. */
#if defined(__linux__) && defined(TCP_DEFER_ACCEPT)
    if (!b->cfg.tcp_defer_accept)
        return 0;
    int secs = BRK_DEFER_ACCEPT_S;
    return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
#else
    (void)b;
    (void)fd;
    return 0;
#endif
}

static void engine_ctl(broker_t *b, brk_ewatch_t *w, int add);

/* Open one listening socket on addr:port. Returns the fd or -1 (logged). */
static int open_listener(broker_t *b, const char *addr, uint16_t port)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0) {
        brk_log(b, 0, "listener %s:%u: %s", addr, (unsigned)port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        defer_accept(b, fd) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
        set_nonblock(fd) != 0) {
        brk_log(b, 0, "listener %s:%u: %s", addr, (unsigned)port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* open_listener for the other listeners of the broker (admin.c). */
int brk_loop_listen(broker_t *b, const char *addr, uint16_t port)
{
    return open_listener(b, addr, port);
}

/* Watch descriptor `w` for reading, and writing when want_write (2: for
 * writing only); op 0: add, 1: change, 2: remove. The poll backend asks
 * brk_admin_watches each round instead. */
void brk_loop_watch(broker_t *b, brk_watch_t *w, int op, int want_write)
{
#ifndef BRK_USE_POLL
    if (op == 2)
        (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    else
        watch_ctl(b, op == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, w,
                  want_write == 2 ? EPOLLOUT : EPOLLIN | (want_write ? EPOLLOUT : 0u));
#else
    (void)b, (void)w, (void)op, (void)want_write;
#endif
}

/* 1 and the address in *out when listening socket `fd` is bound to one
 * address (not 0.0.0.0 or ::), which every connection it accepts then has
 * as its own; 0 otherwise. */
static int bound_address(int fd, mqr_sockaddr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        if (((const struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
            return 0;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
            return 0;
    } else {
        return 0;
    }
    return mqr_sockaddr_from_sys(&ss, sl, out) == MQR_OK;
}

/* Create the epoll instance and the listeners. 0 or -1 (logged). */
int brk_loop_init(broker_t *b)
{
#ifndef BRK_USE_POLL
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        brk_log(b, 0, "epoll_create1: %s", strerror(errno));
        return -1;
    }
#else
    b->epfd = -1;
#endif
    b->rbuf = malloc(BRK_RBUF_SIZE);
    if (b->rbuf == NULL || brk_listeners_init(b) != 0)
        return -1;
    b->loop_up = 1; /* descriptors the engine named before now join the set */
    for (size_t fd = 0; fd < b->engine_w_cap; fd++)
        if (b->engine_w[fd] != NULL && b->engine_w[fd]->w.kind == BRK_W_ENGINE)
            engine_ctl(b, b->engine_w[fd], 1);
    for (size_t i = 0; i < b->cfg.nlisteners; i++) {
        int fd = open_listener(b, b->cfg.listeners[i].addr, b->cfg.listeners[i].port);
        if (fd < 0)
            return -1;
        b->listeners[i].kind = BRK_W_LISTENER;
        b->listeners[i].fd = fd;
        b->listener_sock_known[i] = bound_address(fd, &b->listener_sock[i]);
        b->nlisteners++;
#ifndef BRK_USE_POLL
        watch_ctl(b, EPOLL_CTL_ADD, &b->listeners[i], EPOLLIN);
#endif
        const brk_listener_cfg_t *l = &b->cfg.listeners[i];
        brk_log(b, 1, "listening on %s:%u (%s%s)", l->addr, (unsigned)l->port,
                l->websockets ? "websockets" : "mqtt", l->certfile ? " over TLS" : "");
    }
    return 0;
}

static void accept_resume(broker_t *b);

static void conn_free(brk_conn_t *c)
{
    free(c->in);
    free(c->out);
    free(c->username);
    free(c->tls_identity);
    brk_ws_conn_free(c);
    if (c->will != NULL)
        brk_msg_unref(c->will);
    brk5_conn_free(c);
    free(c);
}

/* Close the socket of `c` now and free the struct at the end of the round.
 * `reason` is the client.disconnected reason of a connected client. Safe to
 * call twice. */
void brk_conn_close(broker_t *b, brk_conn_t *c, const char *reason)
{
    if (c->state == BRK_CS_CLOSED)
        return;
    if (c->close_reason == NULL)
        c->close_reason = reason;
    if (c->ws != NULL && !c->broken)
        brk_ws_closing(b, c); /* the close frame, after what is queued */
    if (c->out_len > 0 && !c->broken) /* one last best-effort attempt: a refusal's CONNACK */
        (void)c->io->write(b, c, c->out, c->out_len);
    if (c->io->close != NULL)
        c->io->close(b, c);
    brk_mqtt_conn_lost(b, c);
    close(c->w.fd); /* also leaves the epoll set: the descriptor is never duplicated */
    accept_resume(b); /* a descriptor is free again */
    c->state = BRK_CS_CLOSED;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = b->dead;
    c->prev = NULL;
    b->dead = c;
    b->nconns--;
}

/* Mark `c` for closing at the end of the round. Sending happens deep inside
 * routing loops that must not see a connection (and its session) vanish. */
static void mark_broken(broker_t *b, brk_conn_t *c)
{
    (void)b;
    c->broken = 1;
}

static void flush_out(broker_t *b, brk_conn_t *c);

/* Queue the packet of `len` bytes for `c`, in a binary frame when `c` is a
 * WebSocket (brk_conn_send_raw says when it is written). */
void brk_conn_send(broker_t *b, brk_conn_t *c, const uint8_t *data, size_t len)
{
    if (c->ws != NULL && len > 0) {
        uint8_t h[10];
        brk_conn_send_raw(b, c, h, brk_ws_frame_header(h, 2, len));
    }
    brk_conn_send_raw(b, c, data, len);
}

/* Queue `len` bytes for `c` as they are (no framing). They are written at
 * the end of the round (brk_loop_flush), together with whatever else `c`
 * gets until then, or when the socket is writable again if it is full;
 * BRK_ROUND_OUT_MAX collected bytes are written at once. Out of memory marks
 * the connection broken; it is closed at the end of the round. */
void brk_conn_send_raw(broker_t *b, brk_conn_t *c, const uint8_t *data, size_t len)
{
    if (c->state == BRK_CS_CLOSED || c->broken || len == 0)
        return;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *nb = realloc(c->out, cap);
        if (nb == NULL) {
            mark_broken(b, c);
            return;
        }
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (c->want_write) /* the socket is full: EPOLLOUT flushes */
        return;
    if (c->out_len >= BRK_ROUND_OUT_MAX) { /* a big burst: write now, bound the buffer */
        flush_out(b, c);
        return;
    }
    if (!c->flush_queued) {
        c->flush_queued = 1;
        c->flush_next = b->flushq;
        b->flushq = c;
    }
}

/* Encode `p` into the scratch buffer and send it. Returns MQR_OK, or the
 * encoder's status (logged; nothing sent). */
int brk_conn_send_packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p)
{
    size_t need = 0;
    mqr_diag_t d;
    int rc = mqr_packet_size(p, &need, &d);
    if (rc != MQR_OK) {
        brk_log(b, 0, "encoding %s failed: %s", mqr_packet_type_name(p->type), d.message);
        return rc;
    }
    if (c->max_out_packet != 0 && need > c->max_out_packet)
        return MQR_ETOOLARGE;
    if (need > b->ebuf_cap) {
        uint8_t *nb = realloc(b->ebuf, need);
        if (nb == NULL)
            return MQR_ENOMEM;
        b->ebuf = nb;
        b->ebuf_cap = need;
    }
    rc = mqr_packet_encode(p, b->ebuf, b->ebuf_cap, &need, &d);
    if (rc != MQR_OK) {
        brk_log(b, 0, "encoding %s failed: %s", mqr_packet_type_name(p->type), d.message);
        return rc;
    }
    brk_conn_send(b, c, b->ebuf, need);
    return MQR_OK;
}

/* Watch `c` for writability (on) or only for input. */
void brk_conn_want_write(broker_t *b, brk_conn_t *c, int on)
{
    if ((c->want_write != 0) == (on != 0))
        return;
    c->want_write = (uint8_t)(on != 0);
#ifndef BRK_USE_POLL
    watch_ctl(b, EPOLL_CTL_MOD, &c->w, on ? EPOLLIN | EPOLLOUT : EPOLLIN);
#else
    (void)b;
#endif
}

/* Write what `c` has queued through its transport. A write error marks it
 * broken; a socket that takes only part is watched for EPOLLOUT until the
 * rest is written. */
static void flush_out(broker_t *b, brk_conn_t *c)
{
    if (c->state == BRK_CS_CLOSED || c->broken)
        return;
    if (c->out_len == 0) {
        if (!c->io_wants_write)
            brk_conn_want_write(b, c, 0);
        return;
    }
    brk_journal_write(b); /* the changes a client is told of are in the journal first */
    long n = c->io->write(b, c, c->out, c->out_len);
    if (n < 0) {
        if (n != BRK_IO_AGAIN)
            mark_broken(b, c);
        n = 0;
    }
    if ((size_t)n == c->out_len) {
        c->out_len = 0;
        free(c->out); /* idle connections keep no buffer */
        c->out = NULL;
        c->out_cap = 0;
        if (!c->io_wants_write)
            brk_conn_want_write(b, c, 0);
        return;
    }
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
    if (!c->broken)
        brk_conn_want_write(b, c, 1);
}

/* End of a round: write every connection's queued bytes, close the
 * connections whose writes failed (their wills may queue more bytes for
 * others: repeat until nothing is queued), then free the closed ones, and
 * write the journal's records of the round, synced by persistence_sync. */
void brk_loop_flush(broker_t *b)
{
    for (;;) {
        while (b->flushq != NULL) {
            brk_conn_t *c = b->flushq;
            b->flushq = c->flush_next;
            c->flush_next = NULL;
            c->flush_queued = 0;
            flush_out(b, c);
        }
        int closed = 0;
        brk_conn_t *nx;
        for (brk_conn_t *c = b->conns; c != NULL; c = nx) {
            nx = c->next;
            if (c->broken) {
                c->out_len = 0;
                brk_conn_close(b, c, "tcp_closed");
                closed = 1;
                nx = b->conns; /* closing may publish wills and break others: rescan */
            }
        }
        if (!closed && b->flushq == NULL)
            break;
    }
    while (b->dead != NULL) {
        brk_conn_t *c = b->dead;
        b->dead = c->next;
        conn_free(c);
    }
    brk_journal_round_end(b);
}

/* Create the connection of socket `fd` (non-blocking, accepted or a
 * socketpair end), link it into b->conns in state BRK_CS_NEW and watch it.
 * `ss` is the peer address (NULL: unknown). Returns NULL when out of memory;
 * the caller then still owns `fd`. */
/* How long an accepted socket may already have waited in the kernel
 * (TCP_DEFER_ACCEPT): counted in its connect timeout. */
static int64_t deferred_ms(const broker_t *b)
{
#if defined(__linux__) && defined(TCP_DEFER_ACCEPT)
    int64_t ms = b->cfg.tcp_defer_accept ? BRK_DEFER_ACCEPT_S * 1000 : 0;
    return ms < b->cfg.connect_timeout_ms / 2 ? ms : b->cfg.connect_timeout_ms / 2;
#else
    (void)b;
    return 0;
#endif
}

brk_conn_t *brk_conn_new(broker_t *b, int fd, const struct sockaddr_storage *ss, socklen_t sl,
                         const mqr_sockaddr_t *own)
{
    brk_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->w.kind = BRK_W_CONN;
    c->w.fd = fd;
    c->io = &brk_io_plain;
    c->transport = "tcp";
    c->state = BRK_CS_NEW;
    c->last_rx = brk_now_mono(b) - (ss != NULL ? deferred_ms(b) : 0);
    c->problem_info = 1;
    c->receive_max = 65535;
    strcpy(c->peername, "unknown");
    if (ss != NULL) {
        (void)mqr_sockaddr_from_sys(ss, sl, &c->peer);
        if (own != NULL) {
            c->sock = *own;
        } else {
            struct sockaddr_storage os;
            socklen_t ol = sizeof os;
            if (getsockname(fd, (struct sockaddr *)&os, &ol) == 0)
                (void)mqr_sockaddr_from_sys(&os, ol, &c->sock);
        }
        if (mqr_sockaddr_format(&c->peer, 1, c->peername, sizeof c->peername, NULL) != MQR_OK)
            strcpy(c->peername, "unknown");
    }
    mqr_packet_opts_t o;
    memset(&o, 0, sizeof o);
    o.direction = MQR_PKT_DIR_TO_SERVER;
    o.max_packet_size = b->cfg.max_packet_size;
    mqr_packet_stream_init(&c->stream, &o);
    c->next = b->conns;
    if (b->conns != NULL)
        b->conns->prev = c;
    b->conns = c;
    b->nconns++;
    b->stats.conns_accepted++;
#ifndef BRK_USE_POLL
    watch_ctl(b, EPOLL_CTL_ADD, &c->w, EPOLLIN);
#endif
    return c;
}

static void read_conn(broker_t *b, brk_conn_t *c);

/* ---- accepting under descriptor exhaustion ----------------------------------------------- */

/*
 * Out of descriptors (EMFILE, ENFILE) or of kernel memory for a socket
 * (ENOBUFS, ENOMEM), accept() fails again at once, and a level-triggered
 * listener with connections waiting in its backlog would wake the loop
 * every round: a spin at full CPU that accepts nothing. So the listeners
 * are taken out of the descriptor set (the waiting connections stay in the
 * kernel's backlog) until a connection closes (brk_conn_close) or a second
 * has passed (brk_loop_run), then watched again. Each pause is counted
 * (accept.paused); the first of an episode is logged, and its end (an
 * accept() that finds the backlog empty) with the number of pauses.
 */
static void accept_pause(broker_t *b, int err)
{
    if (b->accept_off)
        return;
    b->accept_off = 1;
    b->accept_retry_ms = brk_mono_ms() + 1000;
    b->stats.accept_paused++;
    if (b->accept_episode++ == 0)
        brk_log(b, 0,
                "accept: %s with %zu connection(s) open; not accepting until one closes "
                "(paused %llu time(s) since start-up)",
                strerror(err), b->nconns, (unsigned long long)b->stats.accept_paused);
#ifndef BRK_USE_POLL
    for (size_t i = 0; i < b->nlisteners; i++)
        (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->listeners[i].fd, NULL);
#endif
}

/* Watch the listeners again after accept_pause. */
static void accept_resume(broker_t *b)
{
    if (!b->accept_off)
        return;
    b->accept_off = 0;
#ifndef BRK_USE_POLL
    for (size_t i = 0; i < b->nlisteners; i++)
        watch_ctl(b, EPOLL_CTL_ADD, &b->listeners[i], EPOLLIN);
#endif
}

/* accept() failed with `err`: pause on exhaustion; an empty backlog ends an
 * episode of pauses. */
static void accept_failed(broker_t *b, int err)
{
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        accept_pause(b, err);
    } else if ((err == EAGAIN || err == EWOULDBLOCK) && b->accept_episode != 0) {
        brk_log(b, 0, "accept: accepting again after %u pause(s) for want of descriptors",
                b->accept_episode);
        b->accept_episode = 0;
    }
}

/* Accept what waits on listener lw, at most BRK_ACCEPT_PER_ROUND sockets (a
 * level-triggered listener with more is ready again next round, after the
 * other descriptors had their turn). */
static void accept_all(broker_t *b, brk_watch_t *lw)
{
    for (int n = 0; n < BRK_ACCEPT_PER_ROUND; n++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
#if defined(__linux__) && defined(SOCK_NONBLOCK)
        int fd = accept4(lw->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            accept_failed(b, errno);
            return;
        }
#else
        int fd = accept(lw->fd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            accept_failed(b, errno);
            return;
        }
        if (set_nonblock(fd) != 0) {
            close(fd);
            continue;
        }
#endif
#ifndef __linux__ /* Linux: accepted sockets inherit the listener's TCP_NODELAY */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
        size_t li = (size_t)(lw - b->listeners);
        brk_conn_t *c =
            brk_conn_new(b, fd, &ss, sl, b->listener_sock_known[li] ? &b->listener_sock[li] : NULL);
        if (c == NULL)
            close(fd);
        else if (brk_listener_attach(b, c, li) != 0) /* TLS, WebSocket */
            brk_conn_close(b, c, NULL);
        else
            read_conn(b, c); /* the CONNECT is usually there already (defer_accept) */
    }
}

/* Decode and handle every complete packet in buf[0..len). Returns the number
 * of bytes consumed; stops early when the connection closes, or when SIGTERM
 * or SIGINT asks the loop to stop (the rest is kept as a partial packet
 * would be, and the loop exits after this round). */
static size_t handle_bytes(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && c->state != BRK_CS_CLOSED && !(b->stop_req != NULL && *b->stop_req)) {
        mqr_packet_t p;
        size_t sz = 0;
        mqr_diag_t d; /* filled by the decoder on error */
        int rc = mqr_packet_stream_next(&c->stream, buf + pos, len - pos, &p, &sz, &d);
        if (rc == MQR_NEED_MORE)
            break;
        if (rc != MQR_OK) {
            brk_mqtt_decode_error(b, c, rc, &d, buf + pos, len - pos);
            return len;
        }
        c->last_rx = brk_now_mono(b);
        if (p.type == MQR_PKT_CONNECT && brk_xport_connect(b, c, &p) != 0)
            return len; /* closed: a certificate identity was required */
        brk_mqtt_packet(b, c, &p);
        pos += sz;
    }
    return pos;
}

/* Read what `c`'s transport has and hand it on (brk_xport_deliver); again
 * while the transport holds decrypted bytes the socket no longer signals. */
static void read_conn(broker_t *b, brk_conn_t *c)
{
    long n;
    do {
        n = c->io->read(b, c, b->rbuf, BRK_RBUF_SIZE);
        if (n > 0)
            brk_xport_deliver(b, c, b->rbuf, (size_t)n);
    } while (n > 0 && c->state != BRK_CS_CLOSED && c->io->pending != NULL &&
             c->io->pending(c) > 0);
    if (n > 0 || n == BRK_IO_AGAIN || c->state == BRK_CS_CLOSED)
        return;
    if (c->state == BRK_CS_NEW && c->in_len >= 2 && (c->in[0] >> 4) == MQR_PKT_CONNECT) {
        /* closed inside a CONNECT: a malformed CONNECT (decision D2) */
        mqr_diag_t d;
        mqr_diag_clear(&d);
        d.reason_code = MQR_RC_MALFORMED_PACKET;
        snprintf(d.message, sizeof d.message,
                 "CONNECT: connection closed after %zu of its bytes", c->in_len);
        brk_mqtt_decode_error(b, c, MQR_EMALFORMED, &d, c->in, c->in_len);
        return;
    }
    brk_conn_close(b, c, "tcp_closed");
}

/* Handle `len` bytes received on `c`: decode and handle every complete
 * packet, keeping a trailing partial packet in c->in until more bytes come.
 * `buf` is borrowed for the call. Drives the protocol without a socket read
 * (tests/fuzz/fuzz_broker_conn.c). */
void brk_conn_feed(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len)
{
    if (c->in_len > 0) { /* a partial packet is pending: append and parse there */
        if (c->in_len + len > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap : 256;
            while (cap < c->in_len + len)
                cap *= 2;
            uint8_t *nb = realloc(c->in, cap);
            if (nb == NULL) {
                brk_conn_close(b, c, "internal_error");
                return;
            }
            c->in = nb;
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, buf, len);
        c->in_len += len;
        size_t used = handle_bytes(b, c, c->in, c->in_len);
        if (c->state == BRK_CS_CLOSED)
            return;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (c->in_len == 0) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
        return;
    }
    size_t used = handle_bytes(b, c, buf, len);
    if (c->state == BRK_CS_CLOSED || used == len)
        return;
    size_t rest = len - used;
    size_t cap = rest < 256 ? 256 : rest;
    c->in = malloc(cap);
    if (c->in == NULL) {
        brk_conn_close(b, c, "internal_error");
        return;
    }
    memcpy(c->in, buf + used, rest);
    c->in_len = rest;
    c->in_cap = cap;
}

/* Give engine descriptor w its interest in the epoll set: added when new,
 * modified otherwise. A failure is logged: the engine's timeouts still end
 * the message it carries. */
static void engine_ctl(broker_t *b, brk_ewatch_t *w, int add)
{
#ifndef BRK_USE_POLL
    uint32_t ev = 0;
    if (w->events & MQR_ENGINE_READ)
        ev |= EPOLLIN;
    if (w->events & MQR_ENGINE_WRITE)
        ev |= EPOLLOUT;
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.ptr = &w->w;
    int op = add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(b->epfd, op, w->w.fd, &e) != 0 &&
        epoll_ctl(b->epfd, add ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->w.fd, &e) != 0)
        brk_log(b, 0, "rule engine descriptor %d: epoll_ctl: %s", w->w.fd, strerror(errno));
#else
    (void)b;
    (void)w;
    (void)add;
#endif
}

/* The engine's socket-state callback: watch fd for `events`, or stop (0).
 * The engine tells a stop before it closes the descriptor. */
void brk_loop_engine_sock(broker_t *b, int fd, uint32_t events)
{
    if (fd < 0)
        return;
    if ((size_t)fd >= b->engine_w_cap) {
        if (events == 0)
            return;
        size_t cap = b->engine_w_cap ? b->engine_w_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        brk_ewatch_t **t = realloc(b->engine_w, cap * sizeof *t);
        if (t == NULL) {
            brk_log(b, 0, "rule engine descriptor %d: out of memory, not watched", fd);
            return;
        }
        memset(t + b->engine_w_cap, 0, (cap - b->engine_w_cap) * sizeof *t);
        b->engine_w = t;
        b->engine_w_cap = cap;
    }
    brk_ewatch_t *w = b->engine_w[fd];
    if (events == 0) {
        if (w != NULL && w->w.kind == BRK_W_ENGINE) {
#ifndef BRK_USE_POLL
            if (b->loop_up)
                (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL);
#endif
            w->w.kind = BRK_W_ENGINE_OFF;
            w->events = 0;
            b->nengine_w--;
        }
        return;
    }
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL) {
            brk_log(b, 0, "rule engine descriptor %d: out of memory, not watched", fd);
            return;
        }
        w->w.fd = fd;
        w->w.kind = BRK_W_ENGINE_OFF;
        b->engine_w[fd] = w;
    }
    int add = w->w.kind != BRK_W_ENGINE;
    b->nengine_w += (size_t)add;
    w->w.kind = BRK_W_ENGINE;
    w->events = events;
    if (b->loop_up)
        engine_ctl(b, w, add);
}

/* The engine's timer callback: mqr_engine_process is due in `ms` (-1: never). */
void brk_loop_engine_timer(broker_t *b, int64_t ms)
{
    b->engine_due_ms = ms < 0 ? -1 : brk_mono_ms() + ms;
}

/* Run the engine's timers when they are due. */
static void engine_timers(broker_t *b)
{
    if (b->engine_due_ms >= 0 && brk_mono_ms() >= b->engine_due_ms) {
        b->engine_due_ms = -1; /* one-shot: processing tells the next one */
        brk_events_process(b);
    }
}

/* The wait a round may take: until `limit` (ms from now) or the engine's timer. */
static int64_t engine_wait(const broker_t *b, int64_t limit)
{
    if (b->engine_due_ms >= 0) {
        int64_t t = b->engine_due_ms - brk_mono_ms();
        if (t < limit)
            limit = t;
    }
    return limit < 0 ? 0 : limit;
}

static void dispatch(broker_t *b, brk_watch_t *w, int rd, int wr, int err);

/* A round starts: read the clocks its packets are stamped with (brk_now_*). */
static void round_clock(broker_t *b)
{
    b->round_mono_ms = brk_mono_ms();
    b->round_wall_ms = brk_wall_ms();
}

/* Handle readiness of one watched descriptor. */
static void dispatch(broker_t *b, brk_watch_t *w, int rd, int wr, int err)
{
    if (w->kind == BRK_W_LISTENER) {
        accept_all(b, w);
    } else if (w->kind == BRK_W_ENGINE_OFF) {
        /* dropped by the engine earlier in this round */
    } else if (w->kind == BRK_W_ADMIN || w->kind == BRK_W_ADMIN_CONN) {
        brk_admin_ready(b, w, rd, wr, err);
    } else if (w->kind == BRK_W_ENGINE) {
        uint32_t ev = (rd ? MQR_ENGINE_READ : 0) | (wr ? MQR_ENGINE_WRITE : 0);
        if (err)
            ev = MQR_ENGINE_READ | MQR_ENGINE_WRITE;
        brk_events_fd_ready(b, w->fd, ev);
    } else {
        brk_conn_t *c = (brk_conn_t *)w;
        if (c->state == BRK_CS_CLOSED)
            return;
        int resume = wr && c->io_wants_write; /* a TLS handshake waited to write */
        if (wr)
            flush_out(b, c);
        if ((rd || err || resume) && c->state != BRK_CS_CLOSED)
            read_conn(b, c);
    }
}

#ifdef BRK_USE_POLL
static int wait_round(broker_t *b, int timeout)
{
    size_t nadmin = brk_admin_watches(b, NULL, NULL, 0);
    size_t n = b->nlisteners + b->nengine_w + b->nconns + nadmin;
    size_t nengine = 0;
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    brk_watch_t **ws = calloc(n ? n : 1, sizeof *ws);
    size_t k = 0;
    if (pfd == NULL || ws == NULL) {
        free(pfd);
        free(ws);
        return -1;
    }
    for (size_t i = 0; i < b->nlisteners && !b->accept_off; i++, k++) {
        pfd[k].fd = b->listeners[i].fd;
        pfd[k].events = POLLIN;
        ws[k] = &b->listeners[i];
    }
    /* each engine descriptor with its own interest: an idle keep-alive
     * connection waits for reading only (asking POLLOUT too spun the loop) */
    for (size_t fd = 0; fd < b->engine_w_cap && nengine < b->nengine_w; fd++) {
        brk_ewatch_t *w = b->engine_w[fd];
        if (w == NULL || w->w.kind != BRK_W_ENGINE)
            continue;
        nengine++;
        pfd[k].fd = (int)fd;
        pfd[k].events = (short)(((w->events & MQR_ENGINE_READ) ? POLLIN : 0) |
                                ((w->events & MQR_ENGINE_WRITE) ? POLLOUT : 0));
        ws[k++] = &w->w;
    }
    for (brk_conn_t *c = b->conns; c != NULL; c = c->next, k++) {
        pfd[k].fd = c->w.fd;
        pfd[k].events = (short)(POLLIN | (c->want_write ? POLLOUT : 0));
        ws[k] = &c->w;
    }
    int *aww = calloc(nadmin ? nadmin : 1, sizeof *aww);
    if (aww != NULL) {
        (void)brk_admin_watches(b, ws + k, aww, nadmin);
        for (size_t i = 0; i < nadmin; i++, k++) {
            pfd[k].fd = ws[k]->fd;
            pfd[k].events = (short)(aww[i] == 2 ? POLLOUT : POLLIN | (aww[i] ? POLLOUT : 0));
        }
        free(aww);
    }
    int r = poll(pfd, k, timeout);
    round_clock(b);
    for (size_t i = 0; r > 0 && i < k; i++) {
        short re = pfd[i].revents;
        if (re != 0)
            dispatch(b, ws[i], (re & POLLIN) != 0, (re & POLLOUT) != 0,
                     (re & (POLLERR | POLLHUP)) != 0);
    }
    free(pfd);
    free(ws);
    return r < 0 && errno != EINTR ? -1 : 0;
}
#else
/* A signal handler set one of the loop's flags (stop, reload, stats). */
static int signal_seen(const broker_t *b)
{
    return (b->stop_req != NULL && *b->stop_req) || (b->reload_req != NULL && *b->reload_req) ||
           (b->stats_req != NULL && *b->stats_req);
}

/*
 * Wait up to `timeout` ms for one round of events and dispatch them. With
 * busy_poll_us set, a round that had events is followed by polling without
 * sleeping for that long: a client writing to a broker that is already awake
 * does not pay for waking it (a scheduler wake-up, on a VM an inter-processor
 * interrupt), which under load is what the clients' side of the loopback
 * spends most on. It costs up to busy_poll_us of CPU after each burst.
 */
static int wait_round(broker_t *b, int timeout)
{
    struct epoll_event evs[256];
    int r = 0;
    if (b->spin_until_us != 0 && timeout > 0) {
        /* a signal's handler only sets a flag, and a zero-timeout epoll_wait
         * is not interrupted: look at the flags, and spend no more than the
         * timeout the loop asked for */
        int64_t start = brk_mono_us(), until = b->spin_until_us;
        if (until > start + (int64_t)timeout * 1000)
            until = start + (int64_t)timeout * 1000;
        while ((r = epoll_wait(b->epfd, evs, 256, 0)) == 0 && !signal_seen(b) &&
               brk_mono_us() < until) {
        }
        b->spin_until_us = 0;
        if (r == 0) {
            if (signal_seen(b))
                return 0;
            timeout -= (int)((brk_mono_us() - start) / 1000);
            if (timeout < 0)
                timeout = 0;
        }
    }
    if (r == 0)
        r = epoll_wait(b->epfd, evs, 256, timeout);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    round_clock(b);
    if (r > 0 && b->cfg.busy_poll_us != 0)
        b->spin_until_us = brk_mono_us() + b->cfg.busy_poll_us;
    for (int i = 0; i < r; i++) {
        brk_watch_t *w = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        dispatch(b, w, (e & EPOLLIN) != 0, (e & EPOLLOUT) != 0,
                 (e & (EPOLLERR | EPOLLHUP)) != 0);
    }
    return 0;
}
#endif

/* Run until *stop is set. *reload set means: the caller's SIGHUP handler asks
 * for a reload (reload.c), done here between rounds. Returns 0, or -1 when waiting
 * failed. */
int brk_loop_run(broker_t *b, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    b->stop_req = stop;
    b->reload_req = reload;
    int64_t next_tick = brk_mono_ms() + 1000;
    while (!*stop) {
        if (b->stats_req != NULL && *b->stats_req) {
            *b->stats_req = 0;
            brk_stats_log(b);
        }
        if (*reload) {
            *reload = 0;
            brk_admin_rules_before_reload(b);
            brk_reload(b);
            brk_admin_rules_after_reload(b);
        }
        int64_t now = brk_mono_ms();
        int64_t timeout = engine_wait(b, next_tick - now);
        if (wait_round(b, (int)timeout) != 0) {
            brk_log(b, 0, "event loop wait failed: %s", strerror(errno));
            return -1;
        }
        engine_timers(b);
        now = brk_mono_ms();
        if (now >= next_tick) {
            brk_mqtt_tick(b, now);
            brk_events_watch(b, now);
            brk_listeners_tick(b);
            brk_persist_tick(b, now);
            brk_admin_tick(b, now);
            next_tick = now + 1000;
        }
        if (b->accept_off && now >= b->accept_retry_ms)
            accept_resume(b); /* descriptors freed elsewhere (the engine's) */
        brk_loop_flush(b);
    }
    return 0;
}

/* Run the engine's HTTP work until nothing is pending or deadline_ms passed. */
void brk_flush_engine(broker_t *b, uint32_t deadline_ms)
{
    int64_t end = brk_mono_ms() + deadline_ms;
    size_t pending = brk_events_pending(b);
    if (pending > 0)
        brk_log(b, 1, "flushing %zu HTTP message(s)", pending);
    while (brk_events_pending(b) > 0 && brk_mono_ms() < end) {
        int64_t left = end - brk_mono_ms();
        if (wait_round(b, (int)engine_wait(b, left < 100 ? left : 100)) != 0)
            break;
        engine_timers(b);
        brk_loop_flush(b);
    }
    brk_events_flush_report(b, deadline_ms);
}

/* Close every connection and listener, give the HTTP actions
 * shutdown_flush_ms to deliver what is queued (the loop's descriptor set is
 * still needed for that), then free the loop's memory. */
void brk_loop_free(broker_t *b)
{
    while (b->conns != NULL)
        brk_conn_close(b, b->conns, "server_shutting_down");
    brk_loop_flush(b);
    for (size_t i = 0; i < b->nlisteners; i++) {
#ifndef BRK_USE_POLL
        (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->listeners[i].fd, NULL);
#endif
        close(b->listeners[i].fd);
    }
    b->nlisteners = 0;
    brk_listeners_free(b);
    if (b->rbuf != NULL)
        brk_flush_engine(b, b->cfg.shutdown_flush_ms);
#ifndef BRK_USE_POLL
    if (b->epfd >= 0)
        close(b->epfd);
#endif
    b->loop_up = 0;
    for (size_t i = 0; i < b->engine_w_cap; i++)
        free(b->engine_w[i]);
    free(b->engine_w);
    b->engine_w = NULL;
    b->engine_w_cap = 0;
    b->nengine_w = 0;
    free(b->rbuf);
    free(b->ebuf);
}
