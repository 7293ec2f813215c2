/* SPDX-License-Identifier: MIT */
/*
 * listener.c - listeners and the transport of each connection: the
 * `listener PORT [ADDR]` directive with the per-listener options that follow
 * it (mosquitto's names), their start-up checks, and what a connection
 * accepted on a listener reads and writes through. On SIGHUP the sockets
 * stay; TLS certificates and listener options are reloaded in place
 * (brk_listeners_reload).
 *
 * A connection's bytes pass through two optional layers: the byte transport
 * (brk_io_t: plain TCP here, TLS in tls.c) and the WebSocket framing (ws.c).
 * loop.c reads through c->io and hands what it read to brk_xport_deliver,
 * which unwraps WebSocket frames or goes straight to the MQTT decoder;
 * brk_conn_send wraps each MQTT packet in a binary frame when the connection
 * is a WebSocket. The TLS code is built only with OpenSSL (BRK_HAVE_TLS); a
 * TLS listener in a build without it is a start-up error naming the line.
 *
 * Failures at the transport layer (a TLS handshake, a WebSocket upgrade, an
 * HTTP request on an MQTT port) never reach the MQTT events: they are
 * counted here per reason and shown in the stats line, and logged with the
 * peer where they happen.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

/* ---- plain TCP ------------------------------------------------------------------------ */

static long plain_read(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t cap)
{
    (void)b;
    ssize_t n = read(c->w.fd, buf, cap);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? BRK_IO_AGAIN
                                                                        : BRK_IO_ERROR;
    return (long)n;
}

static long plain_write(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len)
{
    (void)b;
    ssize_t n = write(c->w.fd, buf, len);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? BRK_IO_AGAIN
                                                                        : BRK_IO_ERROR;
    return (long)n;
}

const brk_io_t brk_io_plain = {"tcp", plain_read, plain_write, NULL, NULL};

/* ---- configuration ---------------------------------------------------------------------- */

static int parse_flag(const char *s, uint8_t *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = brk_strdup(v);
}

static void free_strs(brk_str_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static void push_str(brk_str_list_t *l, const char *s, size_t len)
{
    l->items = brk_xrealloc(l->items, (l->count + 1) * sizeof *l->items);
    char *c = brk_xrealloc(NULL, len + 1);
    memcpy(c, s, len);
    c[len] = 0;
    l->items[l->count++] = c;
}

/*
 * Add the comma-separated origins of `v` to `l`. An origin is what a
 * browser sends in Origin: "scheme://host[:port]" with no path (not even a
 * trailing '/'; such an entry would never match, so it is refused), or
 * "null". Returns 0, or -1 after printing "file:line: ..." to stderr.
 */
static int add_origins(brk_str_list_t *l, const char *v, const char *path, unsigned lineno)
{
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *sep = NULL;
        for (size_t i = 0; sep == NULL && i + 3 <= n; i++)
            if (!memcmp(p + i, "://", 3))
                sep = p + i;
        int ok = n > 0 && ((n == 4 && !memcmp(p, "null", 4)) ||
                           (sep != NULL && sep > p && (size_t)(sep - p) + 3 < n &&
                            memchr(sep + 3, '/', n - (size_t)(sep - p) - 3) == NULL));
        if (!ok) {
            fprintf(stderr, "mqttrule-broker: %s:%u: ws_check_origins: '%.*s' is not an origin "
                            "(scheme://host[:port] without a path, as browsers send it, e.g. "
                            "https://app.example.com; or null), in '%s'\n",
                    path, lineno, (int)n, p, v);
            return -1;
        }
        push_str(l, p, n);
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

#define LBAD(...)                                                                        \
    do {                                                                                 \
        fprintf(stderr, "mqttrule-broker: %s:%u: ", path, lineno);                       \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        return -1;                                                                       \
    } while (0)

/*
 * One configuration line if it is `listener PORT [ADDR]` or an option of the
 * latest listener:
 *   protocol mqtt|websockets, certfile F, keyfile F, cafile F, capath D,
 *   require_certificate B, use_identity_as_username B, tls_version V,
 *   ciphers LIST, ciphers_tls1.3 LIST, crlfile F, mqtt_path /PATH,
 *   ws_check_origins ORIGIN[,ORIGIN...] (repeatable), ws_allow_origin_absence B
 * Returns 0 (taken), 1 (not a listener directive) or -1 (message printed).
 */
int brk_listener_directive(brk_config_t *cfg, char **w, int n, const char *path,
                           unsigned lineno)
{
    static const char *const opts[] = {"protocol", "certfile", "keyfile", "cafile", "capath",
                                       "require_certificate", "use_identity_as_username",
                                       "tls_version", "ciphers", "ciphers_tls1.3", "mqtt_path",
                                       "crlfile", "ws_check_origins", "ws_allow_origin_absence"};
    const char *k = w[0];
    if (!strcmp(k, "listener")) {
        char *end = NULL;
        unsigned long port = n >= 2 ? strtoul(w[1], &end, 10) : 0;
        if (n < 2 || n > 3 || end == w[1] || *end != 0 || port > 65535)
            LBAD("listener needs PORT [ADDRESS]");
        if (cfg->nlisteners == BRK_MAX_LISTENERS)
            LBAD("at most %d listeners", BRK_MAX_LISTENERS);
        brk_listener_cfg_t *l = &cfg->listeners[cfg->nlisteners++];
        memset(l, 0, sizeof *l);
        l->port = (uint16_t)port;
        l->addr = brk_strdup(n > 2 ? w[2] : "127.0.0.1");
        char where[600];
        snprintf(where, sizeof where, "%s:%u", path, lineno);
        l->where = brk_strdup(where);
        return 0;
    }
    size_t i = 0;
    while (i < sizeof opts / sizeof opts[0] && strcmp(k, opts[i]) != 0)
        i++;
    if (i == sizeof opts / sizeof opts[0])
        return 1;
    if (cfg->nlisteners == 0)
        LBAD("%s must follow a 'listener PORT [ADDRESS]' line", k);
    if (n != 2)
        LBAD("%s needs one value", k);
    brk_listener_cfg_t *l = &cfg->listeners[cfg->nlisteners - 1];
    const char *v = w[1];
    if (!strcmp(k, "protocol")) {
        if (!strcmp(v, "mqtt"))
            l->websockets = 0;
        else if (!strcmp(v, "websockets"))
            l->websockets = 1;
        else
            LBAD("protocol needs mqtt or websockets, not '%s'", v);
    } else if (!strcmp(k, "require_certificate")) {
        if (parse_flag(v, &l->require_cert) != 0)
            LBAD("require_certificate needs true or false, not '%s'", v);
    } else if (!strcmp(k, "use_identity_as_username")) {
        if (parse_flag(v, &l->identity_as_user) != 0)
            LBAD("use_identity_as_username needs true or false, not '%s'", v);
    } else if (!strcmp(k, "tls_version")) {
        if (!strcmp(v, "tlsv1.2"))
            l->tls_min = 12;
        else if (!strcmp(v, "tlsv1.3"))
            l->tls_min = 13;
        else
            LBAD("tls_version needs tlsv1.2 or tlsv1.3 (the lowest version accepted), not '%s'",
                 v);
    } else if (!strcmp(k, "ws_allow_origin_absence")) {
        uint8_t f;
        if (parse_flag(v, &f) != 0)
            LBAD("ws_allow_origin_absence needs true or false, not '%s'", v);
        l->ws_no_origin = f ? 1 : 2;
    } else if (!strcmp(k, "ws_check_origins")) {
        if (add_origins(&l->ws_origins, v, path, lineno) != 0)
            return -1;
    } else if (!strcmp(k, "mqtt_path")) {
        if (v[0] != '/')
            LBAD("mqtt_path must start with '/', not '%s'", v);
        set_str(&l->mqtt_path, v);
    } else {
        char **slot = !strcmp(k, "certfile")  ? &l->certfile
                      : !strcmp(k, "keyfile") ? &l->keyfile
                      : !strcmp(k, "cafile")  ? &l->cafile
                      : !strcmp(k, "capath")  ? &l->capath
                      : !strcmp(k, "ciphers") ? &l->ciphers
                      : !strcmp(k, "crlfile") ? &l->crlfile
                                              : &l->ciphers13;
        set_str(slot, v);
    }
    return 0;
}

static int is_tls(const brk_listener_cfg_t *l)
{
    return l->certfile != NULL;
}

/*
 * The start-up checks of every listener: a TLS listener has certfile and
 * keyfile, the TLS options appear only on a TLS listener, mqtt_path only on
 * a WebSocket one, require_certificate comes with cafile or capath,
 * use_identity_as_username with require_certificate, and TLS needs a build
 * with OpenSSL. Returns 0 or -1 after printing "file:line: ..." to stderr.
 */
int brk_listeners_check(const brk_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const brk_listener_cfg_t *l = &cfg->listeners[i];
        const char *where = l->where ? l->where : "-p";
        const char *bad = NULL;
        if (l->keyfile != NULL && l->certfile == NULL)
            bad = "keyfile without certfile";
        else if (l->certfile != NULL && l->keyfile == NULL)
            bad = "certfile without keyfile";
        else if (!is_tls(l) && (l->cafile || l->capath || l->require_cert ||
                                l->identity_as_user || l->tls_min || l->ciphers || l->ciphers13 ||
                                l->crlfile))
            bad = "TLS options (cafile, capath, crlfile, require_certificate, "
                  "use_identity_as_username, tls_version, ciphers) need certfile and keyfile on "
                  "the same listener";
        else if (l->mqtt_path != NULL && !l->websockets)
            bad = "mqtt_path needs 'protocol websockets'";
        else if ((l->ws_origins.count > 0 || l->ws_no_origin) && !l->websockets)
            bad = "ws_check_origins and ws_allow_origin_absence need 'protocol websockets'";
        else if (l->ws_no_origin && l->ws_origins.count == 0)
            bad = "ws_allow_origin_absence needs ws_check_origins (without a list of origins, "
                  "the Origin header is not checked)";
        else if (l->crlfile && !l->require_cert)
            bad = "crlfile needs require_certificate true (the CRL is checked against client "
                  "certificates, verified with cafile or capath)";
        else if (l->require_cert && l->cafile == NULL && l->capath == NULL)
            bad = "require_certificate true needs cafile or capath to verify clients with";
        else if (l->identity_as_user && !l->require_cert)
            bad = "use_identity_as_username true needs require_certificate true";
#ifndef BRK_HAVE_TLS
        else if (is_tls(l))
            bad = "this listener uses TLS (certfile), but mqttrule-broker was built without "
                  "OpenSSL; rebuild with OpenSSL's development files installed";
#endif
        if (bad != NULL) {
            fprintf(stderr, "mqttrule-broker: %s: listener %u: %s\n", where, (unsigned)l->port,
                    bad);
            return -1;
        }
    }
    return 0;
}

void brk_listener_cfg_free(brk_listener_cfg_t *l)
{
    free(l->addr);
    free(l->certfile);
    free(l->keyfile);
    free(l->cafile);
    free(l->capath);
    free(l->ciphers);
    free(l->ciphers13);
    free(l->crlfile);
    free(l->mqtt_path);
    free_strs(&l->ws_origins);
    free(l->where);
    memset(l, 0, sizeof *l);
}

/* A deep copy of l (a reload keeps the running listeners). */
brk_listener_cfg_t brk_listener_cfg_copy(const brk_listener_cfg_t *l)
{
    brk_listener_cfg_t c = *l;
    char **fields[] = {&c.addr,      &c.certfile,  &c.keyfile, &c.cafile,
                       &c.capath,    &c.ciphers,   &c.ciphers13, &c.crlfile,
                       &c.mqtt_path, &c.where};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] != NULL)
            *fields[i] = brk_strdup(*fields[i]);
    c.ws_origins.items = NULL;
    c.ws_origins.count = 0;
    for (size_t i = 0; i < l->ws_origins.count; i++)
        push_str(&c.ws_origins, l->ws_origins.items[i], strlen(l->ws_origins.items[i]));
    return c;
}

static int str_differs(const char *x, const char *y)
{
    return (x == NULL) != (y == NULL) || (x != NULL && strcmp(x, y) != 0);
}

/* 1 if the WebSocket options of x and y differ. */
static int ws_opts_differ(const brk_listener_cfg_t *x, const brk_listener_cfg_t *y)
{
    if (str_differs(x->mqtt_path, y->mqtt_path) || x->ws_no_origin != y->ws_no_origin ||
        x->ws_origins.count != y->ws_origins.count)
        return 1;
    for (size_t i = 0; i < x->ws_origins.count; i++)
        if (strcmp(x->ws_origins.items[i], y->ws_origins.items[i]) != 0)
            return 1;
    return 0;
}

/*
 * SIGHUP, before the reloaded configuration `nc` replaces b->cfg: the
 * listeners' sockets stay as they are, so nc->listeners becomes, index by
 * index, the running listeners with new options where that is possible. A
 * listener whose port, address, protocol and TLS-ness are unchanged takes
 * its new options: a TLS one only when its new certificate, key, CAs and CRLs
 * all load (tls.c brk_tls_listener_reload; otherwise it keeps every running
 * option and certificate, logged), and a SIGHUP always reads those files
 * again, so a renewed certificate at the same path is picked up. Any other
 * difference (a listener added, removed, moved or of another kind) needs a
 * restart: it is logged and the running listener stays. Returns the number
 * of listeners whose options changed.
 */
size_t brk_listeners_reload(broker_t *b, brk_config_t *nc)
{
    const brk_config_t *oc = &b->cfg;
    brk_listener_cfg_t now[BRK_MAX_LISTENERS];
    int restart = nc->nlisteners != oc->nlisteners;
    size_t changed = 0;
    for (size_t i = 0; i < oc->nlisteners; i++) {
        const brk_listener_cfg_t *o = &oc->listeners[i];
        brk_listener_cfg_t *nl = i < nc->nlisteners ? &nc->listeners[i] : NULL;
        if (nl == NULL || nl->port != o->port || strcmp(nl->addr, o->addr) != 0 ||
            nl->websockets != o->websockets || is_tls(nl) != is_tls(o)) {
            restart = 1;
            now[i] = brk_listener_cfg_copy(o);
            continue;
        }
#ifdef BRK_HAVE_TLS
        if (is_tls(o) && brk_tls_listener_reload(b, i, nl) != 0) {
            now[i] = brk_listener_cfg_copy(o);
            continue;
        }
#endif
        if (ws_opts_differ(o, nl) && ++changed)
            brk_log(b, BRK_LOG_NOTICE, "SIGHUP: listener %u: WebSocket options changed "
                    "(mqtt_path, ws_check_origins, ws_allow_origin_absence)", (unsigned)o->port);
        now[i] = *nl;
        memset(nl, 0, sizeof *nl); /* moved to now[i] */
    }
    if (restart)
        brk_log(b, BRK_LOG_WARNING, "SIGHUP: listeners added, removed or changed in port, "
                                    "address or protocol; that needs a restart, the running "
                                    "listeners stay");
    for (size_t i = 0; i < nc->nlisteners; i++)
        brk_listener_cfg_free(&nc->listeners[i]);
    memcpy(nc->listeners, now, oc->nlisteners * sizeof now[0]);
    nc->nlisteners = oc->nlisteners;
    return changed;
}

/* ---- the transport of a connection ---------------------------------------------------- */

/* Set up the TLS contexts of the TLS listeners (certificates are read here,
 * so a bad file stops start-up). 0 or -1 (logged). */
int brk_listeners_init(broker_t *b)
{
    for (size_t i = 0; i < b->cfg.nlisteners; i++) {
        if (!is_tls(&b->cfg.listeners[i]))
            continue;
#ifdef BRK_HAVE_TLS
        if (brk_tls_listener_init(b, i) != 0)
            return -1;
#else
        brk_log(b, 0, "listener %u: TLS needs a build with OpenSSL",
                (unsigned)b->cfg.listeners[i].port);
        return -1;
#endif
    }
    return 0;
}

void brk_listeners_free(broker_t *b)
{
#ifdef BRK_HAVE_TLS
    for (size_t i = 0; i < BRK_MAX_LISTENERS; i++)
        brk_tls_listener_free(b, i);
#else
    (void)b;
#endif
}

/* Once a second, from the loop's timer. */
void brk_listeners_tick(broker_t *b)
{
#ifdef BRK_HAVE_TLS
    brk_tls_tick(b);
#else
    (void)b;
#endif
}

/*
 * Give connection `c`, just accepted on listener `li`, its transport: TLS
 * (the handshake runs inside the loop as bytes arrive) and WebSocket
 * framing (the upgrade request comes first). Returns 0, or -1 when out of
 * memory (the caller closes the connection).
 */
int brk_listener_attach(broker_t *b, brk_conn_t *c, size_t li)
{
    const brk_listener_cfg_t *l = &b->cfg.listeners[li];
    c->listener = (uint8_t)li;
    c->transport = l->websockets ? (is_tls(l) ? "wss" : "ws") : (is_tls(l) ? "ssl" : "tcp");
#ifdef BRK_HAVE_TLS
    if (is_tls(l) && brk_tls_conn_start(b, c, li) != 0)
        return -1;
#endif
    if (l->websockets && brk_ws_conn_start(b, c) != 0)
        return -1;
    return 0;
}

/* Hand `len` bytes read from `c`'s transport to the next layer: the
 * WebSocket framing, or the MQTT decoder. `buf` is writable (frames are
 * unmasked in place). An HTTP request arriving first on an MQTT listener is
 * answered with 400 and logged as such. */
void brk_xport_deliver(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t len)
{
    if (c->ws != NULL) {
        brk_ws_input(b, c, buf, len);
        return;
    }
    if (c->state == BRK_CS_NEW && c->in_len == 0 && brk_ws_looks_http(buf, len)) {
        brk_ws_refuse_plain_http(b, c, buf, len);
        return;
    }
    if (c->state == BRK_CS_NEW && c->in_len == 0 && c->tls == NULL && len >= 2 &&
        buf[0] == 0x16 && buf[1] == 0x03) { /* a TLS record: never a valid MQTT packet */
        brk_xport_count(b, "refused", "tls on plain listener");
        brk_log(b, 0, "closing %s: a TLS handshake arrived on plain MQTT listener %u (the "
                      "client expects TLS: give the listener a certfile and keyfile)",
                c->peername, (unsigned)b->cfg.listeners[c->listener].port);
        brk_conn_close(b, c, NULL);
        return;
    }
    brk_conn_feed(b, c, buf, len);
}

/*
 * Count one transport-layer failure under "PREFIX.REASON" (blanks and
 * punctuation in the reason become '_'). Sixteen distinct keys are kept;
 * further ones count under "PREFIX.other".
 */
void brk_xport_count(broker_t *b, const char *prefix, const char *reason)
{
    char key[64];
    int n = snprintf(key, sizeof key, "%s.%s", prefix, reason);
    if (n < 0)
        return;
    for (char *p = key + strlen(prefix) + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    brk_stats_t *st = &b->stats;
    uint32_t cap = (uint32_t)(sizeof st->xport_fail / sizeof st->xport_fail[0]);
    for (uint32_t i = 0; i < st->nxport_fail; i++) {
        if (!strcmp(st->xport_fail[i].key, key)) {
            st->xport_fail[i].n++;
            return;
        }
    }
    if (st->nxport_fail == cap) {
        snprintf(key, sizeof key, "%s.other", prefix);
        for (uint32_t i = 0; i < cap; i++) {
            if (!strcmp(st->xport_fail[i].key, key)) {
                st->xport_fail[i].n++;
                return;
            }
        }
        st->nxport_fail--; /* the last slot becomes PREFIX.other */
    }
    snprintf(st->xport_fail[st->nxport_fail].key, sizeof st->xport_fail[0].key, "%s", key);
    st->xport_fail[st->nxport_fail++].n = 1;
}

/* The transport counters for the stats line: " tls.handshakes=N ... KEY=N".
 * Returns the length written (truncated to fit `cap`). */
size_t brk_xport_stats_text(const broker_t *b, char *out, size_t cap)
{
    const brk_stats_t *st = &b->stats;
    size_t len = 0;
    int n = snprintf(out, cap, " tls.handshakes=%llu tls.resumed=%llu ws.upgrades=%llu",
                     (unsigned long long)st->tls_handshakes,
                     (unsigned long long)st->tls_resumed, (unsigned long long)st->ws_upgrades);
    if (n < 0 || (size_t)n >= cap)
        return cap ? strlen(out) : 0;
    len = (size_t)n;
    for (uint32_t i = 0; i < st->nxport_fail; i++) {
        n = snprintf(out + len, cap - len, " %s=%llu", st->xport_fail[i].key,
                     (unsigned long long)st->xport_fail[i].n);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
    return len;
}

/*
 * The transport's part in a CONNECT on `c`: on a listener with
 * use_identity_as_username, the client certificate's CN replaces the user
 * name (and the password is dropped: the certificate authenticated the
 * client), so the ACL, the log and every event see the CN. A certificate
 * without a CN closes the connection (logged). Returns 0 to go on, -1 when
 * `c` was closed.
 */
int brk_xport_connect(broker_t *b, brk_conn_t *c, mqr_packet_t *p)
{
    if (!b->cfg.listeners[c->listener].identity_as_user)
        return 0;
    if (c->tls_identity == NULL) {
        brk_xport_count(b, "tls.failed", "certificate without CN");
        brk_log(b, 0, "closing %s: use_identity_as_username is set, but the client "
                      "certificate has no CN", c->peername);
        brk_conn_close(b, c, NULL);
        return -1;
    }
    p->connect.username.ptr = c->tls_identity;
    p->connect.username.len = (uint32_t)strlen(c->tls_identity);
    p->connect.password.ptr = NULL;
    p->connect.password.len = 0;
    return 0;
}
