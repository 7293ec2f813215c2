/* SPDX-License-Identifier: MIT */
/*
 * tls.c - TLS listeners through OpenSSL (built only when OpenSSL is found:
 * BRK_HAVE_TLS). One SSL_CTX per TLS listener, made at start-up from the
 * listener's certfile, keyfile, cafile/capath, tls_version and ciphers; one
 * SSL per connection, driven by the broker's loop without blocking.
 *
 * A connection's transport (brk_io_t, see broker.h) is tls_io: its read
 * first finishes the handshake (SSL_do_handshake on a non-blocking socket:
 * each call goes as far as the bytes that arrived allow), then decrypts as
 * much as fits the loop's read buffer. The handshake is bounded by
 * connect_timeout_ms like the CONNECT that follows it (the loop's timer
 * closes a connection without a CONNECT in time). A failed handshake is
 * logged with the peer and OpenSSL's reason and counted per reason
 * (tls.failed.REASON in the stats line); it never reaches the MQTT events.
 *
 * Sessions resume through the server-side session cache and TLS tickets.
 * SSL_MODE_RELEASE_BUFFERS gives an idle connection's record buffers back,
 * so an idle TLS connection costs its SSL object and little more. With
 * use_identity_as_username the client certificate's CN becomes the user
 * name of the CONNECT (listener.c brk_xport_connect). A handshake allocates
 * and frees far more than the connection keeps; after a second with
 * handshakes the freed heap pages go back to the system (glibc's
 * malloc_trim), so a storm of TLS connections does not leave the broker's
 * resident memory at its peak.
 */
#include <limits.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "broker.h"

/* OpenSSL's reason for the latest error, or `dflt`. */
static const char *ssl_reason(unsigned long e, const char *dflt)
{
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : dflt;
}

/* Log a start-up failure of listener `l` with OpenSSL's reason. */
static int ctx_fail(broker_t *b, const brk_listener_cfg_t *l, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    brk_log(b, 0, "%s: listener %u: %s%s%s: %s", l->where ? l->where : "-p", (unsigned)l->port,
            what, file ? " " : "", file ? file : "", ssl_reason(e, "unknown error"));
    ERR_clear_error();
    return -1;
}

/*
 * Make the SSL_CTX of TLS listener `li`: certificate chain and key (checked
 * to match), the lowest TLS version (1.2 unless tls_version says 1.3),
 * cipher lists, client verification (require_certificate: a certificate
 * signed by cafile/capath is required), the session cache and tickets.
 * Returns 0, or -1 after logging "file:line: listener PORT: what: reason".
 */
int brk_tls_listener_init(broker_t *b, size_t li)
{
    const brk_listener_cfg_t *l = &b->cfg.listeners[li];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ctx_fail(b, l, "cannot create the TLS context", NULL);
    b->tls_ctx[li] = ctx;
    int ver = l->tls_min == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(ctx, ver))
        return ctx_fail(b, l, "tls_version", NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, l->certfile) != 1)
        return ctx_fail(b, l, "certfile", l->certfile);
    if (SSL_CTX_use_PrivateKey_file(ctx, l->keyfile, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(b, l, "keyfile", l->keyfile);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(b, l, "keyfile does not match certfile", l->keyfile);
    if (l->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, l->ciphers) != 1)
        return ctx_fail(b, l, "ciphers", l->ciphers);
    if (l->ciphers13 != NULL && SSL_CTX_set_ciphersuites(ctx, l->ciphers13) != 1)
        return ctx_fail(b, l, "ciphers_tls1.3", l->ciphers13);
    if (l->cafile != NULL || l->capath != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, l->cafile, l->capath) != 1)
            return ctx_fail(b, l, "cafile/capath", l->cafile ? l->cafile : l->capath);
        if (l->cafile != NULL) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->cafile);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (l->require_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    char sid[32];
    int sl = snprintf(sid, sizeof sid, "mqttrule:%u", (unsigned)l->port);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned)sl);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* TLS 1.3: one ticket per handshake (OpenSSL sends two by default); a
     * device resumes with the latest one */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

void brk_tls_listener_free(broker_t *b, size_t li)
{
    SSL_CTX_free(b->tls_ctx[li]);
    b->tls_ctx[li] = NULL;
}

/* The client certificate's subject CN (UTF-8, malloc'd), or NULL. */
static char *peer_cn(SSL *s)
{
    X509 *cert = SSL_get1_peer_certificate(s);
    char *out = NULL;
    if (cert == NULL)
        return NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i >= 0) {
        ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
        unsigned char *u = NULL;
        int n = ASN1_STRING_to_UTF8(&u, d);
        if (n > 0 && memchr(u, 0, (size_t)n) == NULL) {
            out = brk_xrealloc(NULL, (size_t)n + 1);
            memcpy(out, u, (size_t)n);
            out[n] = 0;
        }
        OPENSSL_free(u);
    }
    X509_free(cert);
    return out;
}

/* The handshake of `c` completed: count it, take the identity. */
static void handshake_done(broker_t *b, brk_conn_t *c)
{
    SSL *s = c->tls;
    const brk_listener_cfg_t *l = &b->cfg.listeners[c->listener];
    int resumed = SSL_session_reused(s);
    b->stats.tls_handshakes++;
    if (resumed)
        b->stats.tls_resumed++;
    if (l->identity_as_user)
        c->tls_identity = peer_cn(s);
    brk_log(b, 1, "TLS handshake with %s on listener %u: %s %s%s%s%s", c->peername,
            (unsigned)l->port, SSL_get_version(s), SSL_get_cipher_name(s),
            resumed ? " (resumed)" : "", c->tls_identity ? ", identity " : "",
            c->tls_identity ? c->tls_identity : "");
}

/* A handshake step of `c` returned `r`: go on later (BRK_IO_AGAIN), or
 * log, count and fail (BRK_IO_ERROR; 0 when the peer just closed). */
static long handshake_error(broker_t *b, brk_conn_t *c, int r)
{
    SSL *s = c->tls;
    int e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_READ)
        return BRK_IO_AGAIN;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->io_wants_write = 1;
        brk_conn_want_write(b, c, 1);
        return BRK_IO_AGAIN;
    }
    unsigned long err = ERR_get_error();
    const char *reason, *detail = NULL;
    long vr = SSL_get_verify_result(s);
    if (e == SSL_ERROR_SSL) {
        reason = ssl_reason(err, "protocol error");
        int why = ERR_GET_REASON(err);
        if (vr != X509_V_OK) { /* the client's certificate: say why it failed */
            detail = X509_verify_cert_error_string(vr);
            reason = detail;
        } else if (why == SSL_R_WRONG_VERSION_NUMBER || why == SSL_R_HTTP_REQUEST ||
                   why == SSL_R_HTTPS_PROXY_REQUEST) {
            detail = "the client does not speak TLS (plain MQTT or HTTP to a TLS listener?)";
        }
    } else {
        reason = "peer closed during handshake";
    }
    brk_xport_count(b, "tls.failed", reason);
    brk_log(b, 0, "TLS handshake from %s on listener %u failed: %s%s%s", c->peername,
            (unsigned)b->cfg.listeners[c->listener].port, ssl_reason(err, reason),
            detail ? ": " : "", detail ? detail : "");
    ERR_clear_error();
    return e == SSL_ERROR_SSL ? BRK_IO_ERROR : 0;
}

/* Read: finish the handshake, then decrypt into buf until it is full or
 * the socket has no more. */
static long tls_read(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t cap)
{
    SSL *s = c->tls;
    if (c->io_wants_write) {
        c->io_wants_write = 0;
        if (c->out_len == 0)
            brk_conn_want_write(b, c, 0);
    }
    ERR_clear_error();
    if (!SSL_is_init_finished(s)) {
        int r = SSL_do_handshake(s);
        if (r != 1)
            return handshake_error(b, c, r);
        handshake_done(b, c);
    }
    size_t got = 0;
    while (got < cap) {
        size_t want = cap - got > INT_MAX ? INT_MAX : cap - got;
        int r = SSL_read(s, buf + got, (int)want);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int e = SSL_get_error(s, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->io_wants_write = 1;
            brk_conn_want_write(b, c, 1);
            break;
        }
        if (got > 0)
            return (long)got; /* the error shows again on the next call */
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
            return 0; /* close_notify, or the peer just closed */
        brk_log(b, 1, "TLS error on the connection from %s: %s", c->peername,
                ssl_reason(ERR_get_error(), "I/O error"));
        ERR_clear_error();
        return BRK_IO_ERROR;
    }
    return got > 0 ? (long)got : BRK_IO_AGAIN;
}

static long tls_write(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len)
{
    (void)b;
    SSL *s = c->tls;
    if (!SSL_is_init_finished(s))
        return BRK_IO_AGAIN;
    ERR_clear_error();
    int r = SSL_write(s, buf, (int)(len > INT_MAX ? INT_MAX : len));
    if (r > 0)
        return r;
    int e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
        return BRK_IO_AGAIN;
    ERR_clear_error();
    return BRK_IO_ERROR;
}

/* Before the socket closes: close_notify after a finished handshake (best
 * effort, never waits); a handshake still unfinished once connect_timeout_ms
 * has passed is counted as tls.failed.handshake_timeout. */
static void tls_close(broker_t *b, brk_conn_t *c)
{
    SSL *s = c->tls;
    if (s == NULL)
        return;
    if (SSL_is_init_finished(s)) {
        (void)SSL_shutdown(s);
    } else if (brk_now_mono(b) - c->last_rx >= (int64_t)b->cfg.connect_timeout_ms) {
        brk_xport_count(b, "tls.failed", "handshake timeout");
        brk_log(b, 0, "TLS handshake from %s on listener %u failed: not finished within %u ms",
                c->peername, (unsigned)b->cfg.listeners[c->listener].port,
                b->cfg.connect_timeout_ms);
    }
    ERR_clear_error();
    SSL_free(s);
    c->tls = NULL;
}

static size_t tls_pending(const brk_conn_t *c)
{
    return c->tls != NULL ? (size_t)SSL_pending(c->tls) : 0;
}

/* Once a second (the loop's tick): after handshakes, give the heap pages
 * they freed back to the system. */
void brk_tls_tick(broker_t *b)
{
    if (b->tls_trim_mark == b->stats.tls_handshakes + b->stats.nxport_fail)
        return;
    b->tls_trim_mark = b->stats.tls_handshakes + b->stats.nxport_fail;
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
}

static const brk_io_t tls_io = {"ssl", tls_read, tls_write, tls_close, tls_pending};

/* Start TLS on `c`, accepted on TLS listener `li`: the handshake runs as its
 * bytes arrive. 0, or -1 when out of memory. */
int brk_tls_conn_start(broker_t *b, brk_conn_t *c, size_t li)
{
    SSL *s = SSL_new(b->tls_ctx[li]);
    if (s == NULL || SSL_set_fd(s, c->w.fd) != 1) {
        SSL_free(s);
        ERR_clear_error();
        return -1;
    }
    SSL_set_accept_state(s);
    c->tls = s;
    c->io = &tls_io;
    return 0;
}
