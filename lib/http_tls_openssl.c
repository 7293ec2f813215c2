/* SPDX-License-Identifier: MIT */
/*
 * http_tls_openssl.c - TLS for the HTTP client through OpenSSL 3 (built only
 * when OpenSSL is found; every OpenSSL call of the library is in this file).
 *
 * A context holds one SSL_CTX per client (CA file or the system's paths,
 * peer verification unless the configuration says insecure) and one BIO
 * method whose write uses send(..., MSG_NOSIGNAL), so a peer that goes away
 * cannot raise SIGPIPE in the host. A session is one SSL object on a
 * non-blocking socket; its calls translate OpenSSL's WANT_READ/WANT_WRITE
 * into MQR_NEED_MORE plus the readiness to wait for. OpenSSL allocates
 * through its own allocator: its hook is process-wide, so the client's
 * allocator cannot be applied here.
 */
#include "mqr_config.h"

#if MQR_HAVE_OPENSSL

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http_int.h"

struct mqr__http_tls_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *bio_method;
};

struct mqr__http_tls {
    SSL *ssl;
};

/* ---- a socket BIO that never raises SIGPIPE --------------------------------- */

/* The BIO type is a fixed number from the application range rather than
 * BIO_get_new_index(), which takes from a process-wide counter of about 128
 * values and would run out after that many clients. The type only serves
 * BIO_find_type lookups; the descriptor flag lets SSL_get_fd find the fd. */
#define MQR_BIO_TYPE ((BIO_TYPE_START + 77) | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR)

static int bio_sock_write(BIO *b, const char *buf, int len)
{
    int fd = BIO_get_fd(b, NULL);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static int bio_sock_read(BIO *b, char *buf, int len)
{
    int fd = BIO_get_fd(b, NULL);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)n;
}

static int bio_sock_puts(BIO *b, const char *s) { return bio_sock_write(b, s, (int)strlen(s)); }

/* ctrl: the fd get/set of the standard socket BIO, flush as a no-op. */
static long bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_C_SET_FD:
        BIO_set_data(b, (void *)(intptr_t)*(int *)ptr);
        BIO_set_init(b, 1);
        return 1;
    case BIO_C_GET_FD:
        if (!BIO_get_init(b))
            return -1;
        if (ptr)
            *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
        return (long)(intptr_t)BIO_get_data(b);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

/* ---- messages --------------------------------------------------------------- */

/* Fill diag with `what` and the first OpenSSL error (or the verify result). */
static int tls_error(mqr_diag_t *d, SSL *ssl, const char *what)
{
    char detail[160] = "";
    unsigned long e = ERR_get_error();
    if (ssl && SSL_get_verify_result(ssl) != X509_V_OK) {
        snprintf(detail, sizeof detail, "certificate verify failed: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    } else if (e) {
        ERR_error_string_n(e, detail, sizeof detail);
    } else if (errno) {
        mqr__strerror_r(errno, detail, sizeof detail);
    } else {
        snprintf(detail, sizeof detail, "connection closed by peer");
    }
    ERR_clear_error();
    return mqr__diag_set(d, MQR_ETLS, "TLS %s: %s", what, detail);
}

/* ---- context ---------------------------------------------------------------- */

int mqr__http_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                          int insecure, mqr__http_tls_ctx_t **out, mqr_diag_t *diag)
{
    ERR_clear_error();
    mqr__http_tls_ctx_t *c = OPENSSL_zalloc(sizeof *c);
    if (!c)
        return mqr__diag_set(diag, MQR_ENOMEM, "TLS: out of memory");
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    c->bio_method = BIO_meth_new(MQR_BIO_TYPE, "mqttrule socket");
    if (!c->ssl_ctx || !c->bio_method) {
        mqr__http_tls_ctx_free(c);
        return mqr__diag_set(diag, MQR_ENOMEM, "TLS: cannot create a context");
    }
    BIO_meth_set_write(c->bio_method, bio_sock_write);
    BIO_meth_set_read(c->bio_method, bio_sock_read);
    BIO_meth_set_puts(c->bio_method, bio_sock_puts);
    BIO_meth_set_ctrl(c->bio_method, bio_sock_ctrl);
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ok = ca_file ? SSL_CTX_load_verify_locations(c->ssl_ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(c->ssl_ctx);
    if (ok != 1) {
        int rc = tls_error(diag, NULL, ca_file ? "cannot load the CA file" : "cannot load system CAs");
        mqr__http_tls_ctx_free(c);
        return rc;
    }
    if (cert_file != NULL) {
        const char *kf = key_file ? key_file : cert_file;
        const char *what = NULL;
        if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, cert_file) != 1)
            what = "cannot load the client certificate file";
        else if (SSL_CTX_use_PrivateKey_file(c->ssl_ctx, kf, SSL_FILETYPE_PEM) != 1)
            what = "cannot load the client key file";
        else if (SSL_CTX_check_private_key(c->ssl_ctx) != 1)
            what = "the client key does not match the certificate";
        if (what != NULL) {
            int rc = tls_error(diag, NULL, what);
            mqr__http_tls_ctx_free(c);
            return rc;
        }
    }
    SSL_CTX_set_verify(c->ssl_ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    *out = c;
    return MQR_OK;
}

void mqr__http_tls_ctx_free(mqr__http_tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->bio_method);
    OPENSSL_free(ctx);
}

/* ---- session ---------------------------------------------------------------- */

int mqr__http_tls_new(mqr__http_tls_ctx_t *ctx, int fd, const char *host, mqr__http_tls_t **out,
                      mqr_diag_t *diag)
{
    ERR_clear_error();
    mqr__http_tls_t *t = OPENSSL_zalloc(sizeof *t);
    BIO *bio = BIO_new(ctx->bio_method);
    if (!t || !bio || !(t->ssl = SSL_new(ctx->ssl_ctx))) {
        BIO_free(bio);
        mqr__http_tls_free(t);
        return mqr__diag_set(diag, MQR_ENOMEM, "TLS: out of memory");
    }
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(t->ssl, bio, bio);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
                   : (SSL_set_tlsext_host_name(t->ssl, host) == 1 && SSL_set1_host(t->ssl, host) == 1);
    if (!ok) {
        int rc = tls_error(diag, NULL, "cannot set the expected host name");
        mqr__http_tls_free(t);
        return rc;
    }
    SSL_set_connect_state(t->ssl);
    *out = t;
    return MQR_OK;
}

void mqr__http_tls_free(mqr__http_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    OPENSSL_free(t);
}

/* Map the result of an SSL call: NEED_MORE with *want, 0 for a clean close,
 * or an error. `n` is the call's return value. */
static long tls_result(mqr__http_tls_t *t, int n, uint32_t *want, const char *what, mqr_diag_t *d)
{
    int e = SSL_get_error(t->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = MQR_HTTP_READ;
        return MQR_NEED_MORE;
    case SSL_ERROR_WANT_WRITE:
        *want = MQR_HTTP_WRITE;
        return MQR_NEED_MORE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            int err = errno;
            ERR_clear_error();
            if (n == 0 || err == 0)
                return 0;
            char text[96];
            return mqr__diag_set(d, MQR_EIO, "TLS %s: %s", what,
                                 mqr__strerror_r(err, text, sizeof text));
        }
        return tls_error(d, t->ssl, what);
    default:
        return tls_error(d, t->ssl, what);
    }
}

int mqr__http_tls_handshake(mqr__http_tls_t *t, uint32_t *want, mqr_diag_t *diag)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_do_handshake(t->ssl);
    if (n == 1)
        return MQR_OK;
    long rc = tls_result(t, n, want, "handshake", diag);
    if (rc == 0 || rc == MQR_EIO)
        return tls_error(diag, t->ssl, "handshake");
    return (int)rc;
}

long mqr__http_tls_read(mqr__http_tls_t *t, void *buf, size_t len, uint32_t *want,
                        mqr_diag_t *diag)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    return tls_result(t, n, want, "read", diag);
}

long mqr__http_tls_write(mqr__http_tls_t *t, const void *buf, size_t len, uint32_t *want,
                         mqr_diag_t *diag)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    long rc = tls_result(t, n, want, "write", diag);
    return rc == 0 ? mqr__diag_set(diag, MQR_EIO, "TLS write: connection closed by peer") : rc;
}

#endif /* MQR_HAVE_OPENSSL */
