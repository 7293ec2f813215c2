/* SPDX-License-Identifier: MIT */
/*
 * engine_loop.c - the engine's side of the host loop, c-ares / libcurl-multi
 * style: the descriptors it waits on, the next timeout, and the calls by
 * which the host reports readiness and expiry.
 *
 * How it works. One table indexed by descriptor number holds every
 * descriptor the engine waits on: the connections of the HTTP actions'
 * clients and the descriptors custom actions' sinks watch
 * (mqr_engine_watch_fd). After any call into an HTTP client the action's
 * descriptors are read back (mqr_http_fds, at most its pool size) and each
 * entry whose interest changed is told to the host's sock_fn; a client
 * closing a connection calls mqr__engine_http_closed first (its close hook),
 * so the host hears "events 0" while the number is still the engine's.
 * Whenever an action ran, the next deadline (the minimum over HTTP and
 * custom actions) is computed once at the end of the engine call and told to
 * timer_fn when it moved. The host therefore keeps no snapshot to diff.
 *
 * mqr_engine_fds, mqr_engine_timeout and mqr_engine_poll read the same
 * table, so hosts written for the snapshot interface keep working;
 * mqr_engine_poll asks poll() for exactly the interest of each descriptor
 * (an idle keep-alive connection waits for reading only, never writing).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "engine_int.h"
#include "http_int.h"

/* ---- the descriptor table ---------------------------------------------------------------- */

static int watch_reserve(mqr_engine_t *e, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= e->cap_watch)
        return MQR_OK;
    size_t cap = e->cap_watch ? e->cap_watch : 16;
    while (cap < need)
        cap *= 2;
    mqr__watch_t *w = mqr__realloc(&e->alloc, e->watch, e->cap_watch * sizeof *w, cap * sizeof *w);
    if (!w)
        return MQR_ENOMEM;
    memset(w + e->cap_watch, 0, (cap - e->cap_watch) * sizeof *w);
    e->watch = w;
    e->cap_watch = cap;
    return MQR_OK;
}

/* Tell the host fd's interest when it differs from what it last heard. */
static void tell(mqr_engine_t *e, int fd, mqr__watch_t *w)
{
    uint32_t want = w->used ? w->events : 0;
    if (want == w->told)
        return;
    w->told = want;
    if (e->opts.sock_fn)
        e->opts.sock_fn(e->opts.sock_ud, fd, want);
}

static void watch_forget(mqr_engine_t *e, int fd)
{
    if (fd < 0 || (size_t)fd >= e->cap_watch || !e->watch[fd].used)
        return;
    mqr__watch_t *w = &e->watch[fd];
    w->used = 0;
    tell(e, fd, w);
    memset(w, 0, sizeof *w);
    e->nwatch--;
}

void mqr__engine_http_closed(void *ud, int fd)
{
    mqr__action_t *a = ud;
    mqr_engine_t *e = a->engine;
    if (fd >= 0 && (size_t)fd < e->cap_watch && e->watch[fd].http == a)
        watch_forget(e, fd);
}

/* Record descriptor fd (an HTTP action's, or a sink's with fn and ud) and
 * tell the host if its interest changed. MQR_OK or MQR_ENOMEM. */
static int watch_set(mqr_engine_t *e, int fd, uint32_t events, mqr__action_t *http,
                     mqr_engine_fd_fn fn, void *ud)
{
    if (watch_reserve(e, fd) != MQR_OK)
        return MQR_ENOMEM;
    mqr__watch_t *w = &e->watch[fd];
    e->nwatch += !w->used;
    w->used = 1;
    w->http = http;
    w->fn = fn;
    w->ud = ud;
    w->events = events;
    tell(e, fd, w);
    return MQR_OK;
}

void mqr__engine_http_sync(mqr_engine_t *e, mqr__action_t *a)
{
    mqr_http_fd_t stack[64], *fds = stack;
    size_t n = mqr_http_fds(a->client, stack, MQR__ARRAY_LEN(stack));
    if (n > MQR__ARRAY_LEN(stack)) { /* a large pool */
        fds = mqr__alloc(&e->alloc, n * sizeof *fds);
        if (fds)
            n = mqr_http_fds(a->client, fds, n);
        else
            fds = stack, n = MQR__ARRAY_LEN(stack);
    }
    /* a descriptor the table cannot grow for is left out: the client's
     * timeouts still end its message */
    for (size_t i = 0; i < n; i++)
        (void)watch_set(e, fds[i].fd, fds[i].events, a, NULL, NULL);
    if (fds != stack)
        mqr__free(&e->alloc, fds, n * sizeof *fds);
    e->loop_dirty = 1;
}

int mqr_engine_watch_fd(mqr_engine_t *e, int fd, uint32_t events, mqr_engine_fd_fn fn, void *ud)
{
    if (!e || !fn || fd < 0 || (events & ~(MQR_ENGINE_READ | MQR_ENGINE_WRITE)))
        return MQR_EINVAL;
    if ((size_t)fd < e->cap_watch && e->watch[fd].used && e->watch[fd].http)
        return MQR_EEXIST;
    return watch_set(e, fd, events, NULL, fn, ud);
}

int mqr_engine_unwatch_fd(mqr_engine_t *e, int fd)
{
    if (!e)
        return MQR_EINVAL;
    if (fd < 0 || (size_t)fd >= e->cap_watch || !e->watch[fd].used || e->watch[fd].http)
        return MQR_ENOTFOUND;
    watch_forget(e, fd);
    return MQR_OK;
}

/* ---- the next timeout ---------------------------------------------------------------------- */

/* The absolute monotonic time the next timer is due, UINT64_MAX: none. */
static uint64_t next_due(const mqr_engine_t *e, uint64_t now)
{
    uint64_t best = UINT64_MAX;
    for (const mqr__action_t *a = e->http_first; a; a = a->http_next) {
        int64_t t = mqr_http_timeout(a->client, now);
        if (t >= 0 && now + (uint64_t)t < best)
            best = now + (uint64_t)t;
    }
    for (const mqr__action_t *a = e->custom_first; a; a = a->cu_next) {
        uint64_t t = mqr__engine_custom_due(a, now);
        if (t < best)
            best = t;
    }
    int64_t q = mqr__engine_queue_timeout(e, -1); /* durable queues (engine_queue.c) */
    if (q >= 0 && now + (uint64_t)q < best)
        best = now + (uint64_t)q;
    return best;
}

void mqr__engine_timer_sync(mqr_engine_t *e, int force)
{
    if (!e->opts.timer_fn || (!e->loop_dirty && !force))
        return;
    e->loop_dirty = 0;
    uint64_t now = mqr__engine_mono(e);
    uint64_t due = next_due(e, now);
    if (e->timer_known && due == e->timer_told && !force)
        return;
    e->timer_known = 1;
    e->timer_told = due;
    int64_t ms = due == UINT64_MAX ? -1 : due <= now ? 0 : (int64_t)(due - now);
    e->opts.timer_fn(e->opts.timer_ud, ms);
}

/* ---- the host's calls ------------------------------------------------------------------------ */

size_t mqr_engine_fds(const mqr_engine_t *e, mqr_http_fd_t *out, size_t cap)
{
    if (!e)
        return 0;
    size_t total = 0, seen = 0;
    for (size_t fd = 0; fd < e->cap_watch && seen < e->nwatch; fd++) {
        const mqr__watch_t *w = &e->watch[fd];
        if (!w->used)
            continue;
        seen++;
        if (!w->events)
            continue;
        if (out && total < cap) {
            out[total].fd = (int32_t)fd;
            out[total].events = w->events;
        }
        total++;
    }
    return total;
}

int64_t mqr_engine_timeout(const mqr_engine_t *e, uint64_t now_ms)
{
    if (!e)
        return -1;
    uint64_t due = next_due(e, now_ms);
    return due == UINT64_MAX ? -1 : due <= now_ms ? 0 : (int64_t)(due - now_ms);
}

int mqr_engine_fd_ready(mqr_engine_t *e, int fd, uint32_t events, uint64_t now_ms)
{
    if (!e)
        return MQR_EINVAL;
    if (fd < 0 || (size_t)fd >= e->cap_watch || !e->watch[fd].used)
        return MQR_ENOTFOUND;
    mqr__watch_t *w = &e->watch[fd];
    if (w->http) {
        mqr__action_t *a = w->http;
        mqr_http_fd_ready(a->client, fd, events, now_ms);
        mqr__engine_http_sync(e, a);
    } else {
        w->fn(w->ud, fd, events, now_ms);
    }
    mqr__engine_rate_step(e, mqr__engine_now(e));
    e->loop_dirty = 1;
    mqr__engine_timer_sync(e, 0);
    return MQR_OK;
}

int mqr_engine_process(mqr_engine_t *e, uint64_t now_ms)
{
    if (!e)
        return MQR_EINVAL;
    for (mqr__action_t *a = e->http_first; a; a = a->http_next) {
        mqr_http_process(a->client, now_ms);
        mqr__engine_http_sync(e, a);
    }
    for (mqr__action_t *a = e->custom_first, *next; a; a = next) {
        next = a->cu_next;
        mqr__engine_custom_process(e, a, now_ms);
    }
    mqr__engine_queue_process(e);
    mqr__engine_rate_step(e, mqr__engine_now(e));
    /* the host's timer was one-shot: tell it the next one even if unchanged */
    mqr__engine_timer_sync(e, 1);
    return MQR_OK;
}

size_t mqr_engine_pending(const mqr_engine_t *e)
{
    size_t n = 0;
    for (const mqr__action_t *a = e ? e->http_first : NULL; a; a = a->http_next)
        n += mqr_http_pending(a->client);
    for (const mqr__action_t *a = e ? e->custom_first : NULL; a; a = a->cu_next)
        n += mqr__engine_custom_pending(a);
    return n;
}

void mqr__engine_poll_free(mqr_engine_t *e)
{
    mqr__free(&e->alloc, e->pollfds, e->cap_pollfds * sizeof *e->pollfds);
    mqr__free(&e->alloc, e->sys_pollfds, e->cap_pollfds * sizeof(struct pollfd));
    e->pollfds = NULL;
    e->sys_pollfds = NULL;
    e->cap_pollfds = 0;
    mqr__free(&e->alloc, e->watch, e->cap_watch * sizeof *e->watch);
    e->watch = NULL;
    e->cap_watch = 0;
    e->nwatch = 0;
}

/* Make room for n descriptors in mqr_engine_poll's buffers. */
static int poll_reserve(mqr_engine_t *e, size_t n)
{
    if (n <= e->cap_pollfds)
        return MQR_OK;
    mqr_http_fd_t *f = mqr__alloc(&e->alloc, n * sizeof *f);
    struct pollfd *p = mqr__alloc(&e->alloc, n * sizeof *p);
    if (!f || !p) {
        mqr__free(&e->alloc, f, n * sizeof *f);
        mqr__free(&e->alloc, p, n * sizeof *p);
        return MQR_ENOMEM;
    }
    mqr__free(&e->alloc, e->pollfds, e->cap_pollfds * sizeof *e->pollfds);
    mqr__free(&e->alloc, e->sys_pollfds, e->cap_pollfds * sizeof(struct pollfd));
    e->pollfds = f;
    e->sys_pollfds = p;
    e->cap_pollfds = n;
    return MQR_OK;
}

int mqr_engine_poll(mqr_engine_t *e, int timeout_ms)
{
    if (!e)
        return MQR_EINVAL;
    size_t n = mqr_engine_fds(e, NULL, 0);
    if (poll_reserve(e, n) != MQR_OK)
        return MQR_ENOMEM;
    n = mqr_engine_fds(e, e->pollfds, e->cap_pollfds);
    int64_t due = mqr_engine_timeout(e, mqr__engine_mono(e));
    if (due >= 0 && (timeout_ms < 0 || due < timeout_ms))
        timeout_ms = (int)(due > 0x7fffffff ? 0x7fffffff : due);
    struct pollfd *p = e->sys_pollfds;
    for (size_t i = 0; i < n; i++) {
        p[i].fd = e->pollfds[i].fd;
        p[i].events = (short)(((e->pollfds[i].events & MQR_ENGINE_READ) ? POLLIN : 0) |
                              ((e->pollfds[i].events & MQR_ENGINE_WRITE) ? POLLOUT : 0));
        p[i].revents = 0;
    }
    if (n == 0 && timeout_ms < 0)
        return MQR_OK; /* nothing to wait for */
    int rc = poll(p, (nfds_t)n, timeout_ms);
    if (rc < 0 && errno != EINTR)
        return MQR_EIO;
    uint64_t now = mqr__engine_mono(e);
    for (size_t i = 0; rc > 0 && i < n; i++) {
        if (!p[i].revents)
            continue;
        uint32_t ev = 0;
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
            ev |= MQR_ENGINE_READ;
        if (p[i].revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))
            ev |= MQR_ENGINE_WRITE;
        /* a callback may have closed and forgotten a later descriptor */
        (void)mqr_engine_fd_ready(e, p[i].fd, ev, now);
    }
    return mqr_engine_process(e, now);
}
