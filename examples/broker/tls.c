/* SPDX-License-Identifier: MIT */
/*
 * tls.c - TLS listeners through OpenSSL (built only when OpenSSL is found:
 * BRK_HAVE_TLS). One SSL_CTX per TLS listener, made at start-up from the
 * listener's certfile, keyfile, cafile/capath, crlfile, tls_version and
 * ciphers; one SSL per connection, driven by the broker's loop without
 * blocking. SIGHUP builds each TLS listener's context anew from the files
 * (a renewed certificate, a new CRL) and swaps it in for new connections
 * only when all of it loaded; open connections keep the old one
 * (brk_tls_listener_reload).
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
#include <openssl/pem.h>
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

/* Free `ctx` and put "what[ FILE]: OpenSSL's reason" in err; NULL. */
static SSL_CTX *ctx_fail(SSL_CTX *ctx, char *err, size_t errcap, const char *what,
                         const char *file)
{
    unsigned long e = ERR_get_error();
    snprintf(err, errcap, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
             ssl_reason(e, "unknown error"));
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* The certificate in `st` whose subject issued `crl` and whose key signed
 * it, or NULL. cafile's certificates are in the store already; capath's are
 * read on demand, so the issuer's name is looked up first (by_dir adds the
 * directory's certificates with that name to the store). */
static X509 *crl_issuer(X509_STORE *st, X509_CRL *crl)
{
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    if (sc != NULL && X509_STORE_CTX_init(sc, st, NULL, NULL) == 1) {
        X509_OBJECT *o =
            X509_STORE_CTX_get_obj_by_subject(sc, X509_LU_X509, X509_CRL_get_issuer(crl));
        X509_OBJECT_free(o);
    }
    X509_STORE_CTX_free(sc);
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x != NULL && X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1)
            return x;
    }
    ERR_clear_error();
    return NULL;
}

/*
 * Add the PEM CRLs of `file` to the verification store of `ctx` and turn on
 * the CRL check of client certificates (X509_V_FLAG_CRL_CHECK: the leaf
 * certificate's issuer must have a CRL here, and the certificate must not
 * be on it). Each CRL must be signed by a CA of cafile or capath (a
 * stranger's CRL would refuse every client). A CRL past its nextUpdate is
 * loaded, with a warning: OpenSSL then refuses every client certificate of
 * that CA ("CRL has expired") until a new CRL is loaded (SIGHUP). Returns 0,
 * or -1 with "crlfile FILE: reason" in err.
 */
static int load_crls(broker_t *b, SSL_CTX *ctx, const brk_listener_cfg_t *l, char *err,
                     size_t errcap)
{
    ERR_clear_error();
    BIO *in = BIO_new_file(l->crlfile, "r");
    if (in == NULL) {
        snprintf(err, errcap, "crlfile %s: %s", l->crlfile,
                 ssl_reason(ERR_get_error(), "cannot open"));
        return -1;
    }
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    int n = 0, rc = 0;
    X509_CRL *crl;
    while (rc == 0 && (crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
        char issuer[256];
        X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof issuer);
        if (crl_issuer(st, crl) == NULL) {
            snprintf(err, errcap, "crlfile %s: the CRL of %s is not signed by a CA of %s %s",
                     l->crlfile, issuer, l->cafile ? "cafile" : "capath",
                     l->cafile ? l->cafile : l->capath);
            rc = -1;
        } else if (X509_STORE_add_crl(st, crl) != 1) {
            snprintf(err, errcap, "crlfile %s: %s", l->crlfile,
                     ssl_reason(ERR_get_error(), "cannot add the CRL"));
            rc = -1;
        } else {
            const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
            if (next != NULL && X509_cmp_current_time(next) < 0)
                brk_log(b, BRK_LOG_WARNING, "listener %u: crlfile %s: the CRL of %s has expired (nextUpdate "
                        "passed): OpenSSL refuses every client certificate of that CA until a "
                        "new CRL is loaded", (unsigned)l->port, l->crlfile, issuer);
            n++;
        }
        X509_CRL_free(crl);
    }
    unsigned long e = ERR_peek_last_error();
    BIO_free(in);
    if (rc == 0 && (n == 0 || (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE))) {
        snprintf(err, errcap, "crlfile %s: %s%s", l->crlfile, ssl_reason(e, "bad CRL"),
                 n == 0 ? " (no PEM 'X509 CRL' in it)" : "");
        rc = -1;
    }
    ERR_clear_error();
    if (rc == 0)
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    return rc;
}

/*
 * A new SSL_CTX from the options of listener `l`: certificate chain and key
 * (checked to match), the lowest TLS version (1.2 unless tls_version says
 * 1.3), cipher lists, client verification (require_certificate: a
 * certificate signed by cafile/capath is required; crlfile: and not
 * revoked), the session cache and tickets. Every file is read now. Returns
 * the context, or NULL with "what FILE: OpenSSL's reason" in err.
 */
static SSL_CTX *ctx_make(broker_t *b, const brk_listener_cfg_t *l, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ctx_fail(ctx, err, errcap, "cannot create the TLS context", NULL);
    int ver = l->tls_min == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(ctx, ver))
        return ctx_fail(ctx, err, errcap, "tls_version", NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, l->certfile) != 1)
        return ctx_fail(ctx, err, errcap, "certfile", l->certfile);
    if (SSL_CTX_use_PrivateKey_file(ctx, l->keyfile, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(ctx, err, errcap, "keyfile", l->keyfile);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(ctx, err, errcap, "keyfile does not match certfile", l->keyfile);
    if (l->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, l->ciphers) != 1)
        return ctx_fail(ctx, err, errcap, "ciphers", l->ciphers);
    if (l->ciphers13 != NULL && SSL_CTX_set_ciphersuites(ctx, l->ciphers13) != 1)
        return ctx_fail(ctx, err, errcap, "ciphers_tls1.3", l->ciphers13);
    if (l->cafile != NULL || l->capath != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, l->cafile, l->capath) != 1)
            return ctx_fail(ctx, err, errcap, "cafile/capath", l->cafile ? l->cafile : l->capath);
        if (l->cafile != NULL) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->cafile);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (l->crlfile != NULL && load_crls(b, ctx, l, err, errcap) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
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
    return ctx;
}

/* Make the SSL_CTX of TLS listener `li` at start-up. Returns 0, or -1 after
 * logging "file:line: listener PORT: what FILE: reason". */
int brk_tls_listener_init(broker_t *b, size_t li)
{
    const brk_listener_cfg_t *l = &b->cfg.listeners[li];
    char err[600];
    b->tls_ctx[li] = ctx_make(b, l, err, sizeof err);
    if (b->tls_ctx[li] != NULL)
        return 0;
    brk_log(b, 0, "%s: listener %u: %s", l->where ? l->where : "-p", (unsigned)l->port, err);
    return -1;
}

/*
 * SIGHUP: read the certificate, key, CAs, CRLs and TLS options of `nl` (the
 * reloaded options of TLS listener `li`, same port and protocol) into a new
 * SSL_CTX, and only when all of it loads swap it in for new connections.
 * The connections already open keep the SSL objects of the old context,
 * which holds a reference count: SSL_CTX_free here drops the listener's
 * reference, and the old context goes with the last of its connections.
 * Sessions and tickets of the old context are not resumed by the new one
 * (a client makes a full handshake once). Returns 0 (logged with the new
 * certificate's subject and expiry), or -1 logged as "SIGHUP: listener PORT:
 * what FILE: reason; the running certificate stays".
 */
int brk_tls_listener_reload(broker_t *b, size_t li, const brk_listener_cfg_t *nl)
{
    char err[600];
    SSL_CTX *ctx = ctx_make(b, nl, err, sizeof err);
    if (ctx == NULL) {
        brk_log(b, BRK_LOG_ERROR, "SIGHUP: listener %u: %s; the running certificate stays",
                (unsigned)nl->port, err);
        return -1;
    }
    SSL_CTX_free(b->tls_ctx[li]);
    b->tls_ctx[li] = ctx;
    X509 *x = SSL_CTX_get0_certificate(ctx);
    char subject[256] = "?", expiry[64] = "?";
    if (x != NULL) {
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
        BIO *m = BIO_new(BIO_s_mem());
        if (m != NULL && ASN1_TIME_print(m, X509_get0_notAfter(x)) == 1) {
            int n = BIO_read(m, expiry, (int)sizeof expiry - 1);
            expiry[n > 0 ? n : 0] = 0;
        }
        BIO_free(m);
    }
    ERR_clear_error();
    brk_log(b, BRK_LOG_NOTICE, "SIGHUP: listener %u: certificate reloaded from %s (%s, valid "
            "until %s)%s%s", (unsigned)nl->port, nl->certfile, subject, expiry,
            nl->crlfile ? ", CRLs from " : "", nl->crlfile ? nl->crlfile : "");
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
